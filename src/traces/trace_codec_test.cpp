#include "traces/trace_codec.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

namespace maratang::traces {
namespace {

namespace json = boost::json;

// Seed 003's request example, verbatim.
constexpr std::string_view kSeedBody = R"({
  "obj": {"u_uuid": "user-uuid", "o_type": 1, "o_pos": "10.5,20.0,30.2", "o_rot": "0.0,90.0,0.0"},
  "message": {"u_uuid": "user-uuid", "part1": "message text part 1",
              "part2": "message text part 2", "part3": "message text part 3"},
  "phantom": {"u_uuid": "user-uuid", "data": [["pos1", "rot1"], ["pos2", "rot2"]]}
})";

std::vector<std::string> fields_of(const parsed_add& p) {
  std::vector<std::string> out;
  for (const auto& e : p.errors)
    out.push_back(e.field + ":" + e.code);
  return out;
}

parsed_add parse(std::string_view body, body_limits lim = {}) {
  return parse_add("application/json", body, lim);
}

TEST(trace_codec, the_seed_example_is_valid_and_keeps_its_fields) {
  auto p = parse(kSeedBody);
  ASSERT_TRUE(p.errors.empty()) << fields_of(p)[0];
  ASSERT_TRUE(p.request.obj);
  EXPECT_EQ(p.request.obj->u_uuid, "user-uuid");
  EXPECT_EQ(json::parse(p.request.obj->payload_json),
            json::parse(R"({"o_type":1,"o_pos":"10.5,20.0,30.2","o_rot":"0.0,90.0,0.0"})"));
  EXPECT_TRUE(p.request.obj->has_pos);
  EXPECT_DOUBLE_EQ(p.request.obj->x, 10.5);
  EXPECT_DOUBLE_EQ(p.request.obj->z, 30.2);
  ASSERT_TRUE(p.request.message);
  EXPECT_EQ(json::parse(p.request.message->payload_json),
            json::parse(R"({"part1":"message text part 1","part2":"message text part 2",
                            "part3":"message text part 3"})"));
  // A message without a pos of its own lies where its object lies.
  EXPECT_TRUE(p.request.message->has_pos);
  EXPECT_DOUBLE_EQ(p.request.message->y, 20.0);
  EXPECT_EQ(json::parse(p.request.phantom.payload_json),
            json::parse(R"({"data":[["pos1","rot1"],["pos2","rot2"]]})"));
  EXPECT_FALSE(p.request.phantom.has_pos);  // "pos1" is not a position
}

TEST(trace_codec, obj_or_message_alone_is_enough_but_phantom_is_required) {
  EXPECT_TRUE(parse(R"({"obj":{"u_uuid":"u","o_type":2,"o_pos":"","o_rot":""},
                        "phantom":{"u_uuid":"u","data":[]}})")
                  .errors.empty());
  EXPECT_TRUE(parse(R"({"message":{"u_uuid":"u","part1":"a","part2":"","part3":""},
                        "phantom":{"u_uuid":"u","data":[]}})")
                  .errors.empty());
  EXPECT_EQ(fields_of(parse(R"({"phantom":{"u_uuid":"u","data":[]}})")),
            (std::vector<std::string>{"obj:missing_field", "message:missing_field"}));
  EXPECT_EQ(fields_of(parse(R"({"obj":null,"message":null,"phantom":{"u_uuid":"u","data":[]}})")),
            (std::vector<std::string>{"obj:missing_field", "message:missing_field"}));
  EXPECT_EQ(fields_of(parse(R"({"obj":{"u_uuid":"u","o_type":2,"o_pos":"","o_rot":""}})")),
            (std::vector<std::string>{"phantom:missing_field"}));
}

TEST(trace_codec, every_bad_field_is_named) {
  auto p = parse(R"({"obj":{"u_uuid":5,"o_type":"1","o_pos":"1,2,3"},
                     "message":{"u_uuid":"u","part1":[],"part2":"b","part3":"c","pos":"nowhere"},
                     "phantom":{"u_uuid":"","data":{"a":1}}})");
  EXPECT_EQ(fields_of(p),
            (std::vector<std::string>{"obj.u_uuid:bad_field", "obj.o_type:bad_field",
                                      "obj.o_rot:missing_field", "message.part1:bad_field",
                                      "message.pos:bad_field", "phantom.u_uuid:bad_field",
                                      "phantom.data:bad_field"}));
  for (const auto& e : p.errors)
    EXPECT_NE(e.message.find(e.field), std::string::npos) << e.message;
}

TEST(trace_codec, parts_that_are_not_objects_are_bad_fields) {
  EXPECT_EQ(fields_of(parse(R"({"obj":[1],"phantom":"x"})")),
            (std::vector<std::string>{"obj:bad_field", "phantom:bad_field"}));
}

TEST(trace_codec, o_type_must_fit_in_32_bits) {
  auto body = [](std::string_view t) {
    return std::string(R"({"obj":{"u_uuid":"u","o_type":)") + std::string(t) +
           R"(,"o_pos":"","o_rot":""},"phantom":{"u_uuid":"u","data":[]}})";
  };
  EXPECT_TRUE(parse(body("2147483647")).errors.empty());
  EXPECT_TRUE(parse(body("-2147483648")).errors.empty());
  EXPECT_EQ(fields_of(parse(body("2147483648"))),
            (std::vector<std::string>{"obj.o_type:bad_field"}));
  EXPECT_EQ(fields_of(parse(body("18446744073709551615"))),
            (std::vector<std::string>{"obj.o_type:bad_field"}));
  EXPECT_EQ(fields_of(parse(body("1.5"))), (std::vector<std::string>{"obj.o_type:bad_field"}));
  EXPECT_EQ(fields_of(parse(body("true"))), (std::vector<std::string>{"obj.o_type:bad_field"}));
}

TEST(trace_codec, phantom_and_message_limits) {
  body_limits lim;
  lim.phantom_points_max = 3;
  lim.message_part_max = 4;
  lim.text_max = 5;
  EXPECT_TRUE(parse(R"({"message":{"u_uuid":"u","part1":"넷넷넷넷","part2":"","part3":""},
                        "phantom":{"u_uuid":"u","data":[[1],[2],["1,2,3"]]}})",
                    lim)
                  .errors.empty());
  EXPECT_EQ(fields_of(parse(R"({"message":{"u_uuid":"u","part1":"12345","part2":"","part3":""},
                                "phantom":{"u_uuid":"u","data":[[1],[2],[3],[4]]}})",
                            lim)),
            (std::vector<std::string>{"message.part1:too_large", "phantom.data:too_large"}));
  EXPECT_EQ(
      fields_of(parse(R"({"message":{"u_uuid":"u","part1":"","part2":"","part3":""},
                                "phantom":{"u_uuid":"u","data":[["123456"],[{"a":1}],5]}})",
                      lim)),
      (std::vector<std::string>{"phantom.data[0][0]:bad_field", "phantom.data[1][0]:bad_field",
                                "phantom.data[2]:bad_field"}));
}

TEST(trace_codec, a_phantom_is_placed_at_its_first_point) {
  auto p = parse(R"({"message":{"u_uuid":"u","part1":"","part2":"","part3":""},
                     "phantom":{"u_uuid":"u","data":[["1, 2 ,3","0,0,0"],["9,9,9"]]}})");
  ASSERT_TRUE(p.errors.empty());
  EXPECT_TRUE(p.request.phantom.has_pos);
  EXPECT_DOUBLE_EQ(p.request.phantom.y, 2);
  EXPECT_FALSE(p.request.message->has_pos);
}

TEST(trace_codec, unusable_bodies_name_the_body) {
  EXPECT_EQ(fields_of(parse_add("text/plain", kSeedBody, {})),
            (std::vector<std::string>{"body:bad_message"}));
  EXPECT_TRUE(parse_add("Application/JSON; charset=utf-8", kSeedBody, {}).errors.empty());
  EXPECT_EQ(fields_of(parse("{\"obj\": ")), (std::vector<std::string>{"body:bad_json"}));
  EXPECT_EQ(fields_of(parse("{\"obj\":\"\xff\"}")), (std::vector<std::string>{"body:bad_json"}));
  EXPECT_EQ(fields_of(parse("[1]")), (std::vector<std::string>{"body:bad_message"}));
  body_limits lim;
  lim.json_depth_max = 4;
  EXPECT_EQ(fields_of(parse(R"({"a":[[[[[1]]]]]})", lim)),
            (std::vector<std::string>{"body:too_deep"}));
}

TEST(trace_codec, errors_json_has_our_envelope_and_fastapis_detail) {
  std::vector<field_error> errs = {{"obj.o_type", "bad_field", "m1"},
                                   {"phantom.data[3][1]", "bad_field", "m2"},
                                   {"body", "bad_json", "m3"}};
  auto v = json::parse(errors_json(errs));
  EXPECT_EQ(v.at("error").at("code"), "bad_field");
  EXPECT_EQ(v.at("error").at("fields").as_array().size(), 3u);
  EXPECT_EQ(v.at("error").at("fields").at(1).at("field"), "phantom.data[3][1]");
  EXPECT_EQ(v.at("detail").at(0).at("loc"), json::parse(R"(["body","obj","o_type"])"));
  EXPECT_EQ(v.at("detail").at(1).at("loc"), json::parse(R"(["body","phantom","data",3,1])"));
  EXPECT_EQ(v.at("detail").at(2).at("loc"), json::parse(R"(["body"])"));
  EXPECT_EQ(v.at("detail").at(0).at("msg"), "m1");
}

TEST(trace_codec, parse_position_wants_exactly_three_finite_numbers) {
  double x = 0, y = 0, z = 0;
  EXPECT_TRUE(parse_position("10.5,20.0,-30.2", x, y, z));
  EXPECT_DOUBLE_EQ(z, -30.2);
  EXPECT_TRUE(parse_position(" 1 , +2 , 3e2 ", x, y, z));
  EXPECT_DOUBLE_EQ(z, 300);
  for (const char* bad : {"", "1,2", "1,2,3,4", "a,b,c", "1,,3", "1,2,inf", "1,2,nan", "1;2;3"})
    EXPECT_FALSE(parse_position(bad, x, y, z)) << bad;
}

store::trace_record record(store::trace_kind kind, std::int64_t id, std::string payload) {
  store::trace_record t;
  t.id = id;
  t.kind = kind;
  t.u_uuid = "u\"1";
  t.payload_json = std::move(payload);
  t.created_ms = 42;
  t.rating = -1;
  t.votes = 3;
  return t;
}

TEST(trace_codec, listings_have_the_seeds_shape_or_the_extended_one) {
  auto o = record(store::trace_kind::object, 1, R"({"o_type":1,"o_pos":"1,2,3","o_rot":""})");
  o.has_pos = true;
  o.x = 1;
  o.y = 2;
  o.z = 3;
  auto m = record(store::trace_kind::message, 2, R"({"part1":"a","part2":"b","part3":"c"})");
  auto p = record(store::trace_kind::phantom, 3, R"({"data":[["x"]]})");
  auto compat = json::parse(listing_json({o}, {m}, {p}, listing_format::compat));
  EXPECT_EQ(compat, json::parse(R"({
    "objects":[{"id":1,"u_uuid":"u\"1","o_type":1,"o_pos":"1,2,3","o_rot":""}],
    "messages":[{"id":2,"u_uuid":"u\"1","part1":"a","part2":"b","part3":"c"}],
    "phantoms":[{"id":3,"u_uuid":"u\"1","data":[["x"]]}]})"));
  auto ext = json::parse(listing_json({o}, {m}, {}, listing_format::extended));
  EXPECT_EQ(ext.at("objects").at(0).at("created_at"), 42);
  EXPECT_EQ(ext.at("objects").at(0).at("pos"), json::parse("[1.0,2.0,3.0]"));
  EXPECT_FALSE(ext.at("objects").at(0).as_object().contains("rating"));
  EXPECT_EQ(ext.at("messages").at(0).at("rating"), -1);
  EXPECT_EQ(ext.at("messages").at(0).at("votes"), 3);
  EXPECT_TRUE(ext.at("phantoms").as_array().empty());
}

TEST(trace_codec, areas_and_kinds) {
  EXPECT_TRUE(valid_area("default"));
  EXPECT_TRUE(valid_area("Lvl-1.boss_room"));
  EXPECT_FALSE(valid_area(""));
  EXPECT_FALSE(valid_area(std::string(65, 'a')));
  EXPECT_FALSE(valid_area("a/b"));
  EXPECT_FALSE(valid_area("맵"));
  for (auto k : {store::trace_kind::object, store::trace_kind::message, store::trace_kind::phantom})
    EXPECT_EQ(kind_from_plural(kind_plural(k)), k);
  EXPECT_FALSE(kind_from_plural("object"));
}

}  // namespace
}  // namespace maratang::traces
