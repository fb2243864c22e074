#include "proto/codec.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>
#include <string>

namespace maratang::proto {
namespace {

namespace json = boost::json;

struct parsed {
  result<inbound> r;
  json::value id;
  std::string type;
};

parsed parse(std::string_view text, unsigned depth = 32) {
  parsed p{error{errc::internal}, nullptr, {}};
  p.r = parse_envelope(text, {depth}, p.id, p.type);
  return p;
}

errc code_of(const parsed& p) {
  EXPECT_TRUE(p.r.has_error()) << "expected an error";
  return p.r.has_error() ? p.r.error().code : errc::internal;
}

TEST(codec, parses_a_full_envelope) {
  auto p = parse(R"({"type":"room.join","id":7,"data":{"room_id":"abc"}})");
  ASSERT_TRUE(p.r.has_value());
  EXPECT_EQ(p.r->type, "room.join");
  EXPECT_EQ(p.r->id, json::value(7));
  EXPECT_EQ(p.r->data.at("room_id"), "abc");
}

TEST(codec, data_and_id_are_optional) {
  auto p = parse(R"({"type":"room.leave"})");
  ASSERT_TRUE(p.r.has_value());
  EXPECT_TRUE(p.r->id.is_null());
  EXPECT_TRUE(p.r->data.empty());
}

TEST(codec, malformed_json_is_bad_json) {
  EXPECT_EQ(code_of(parse("{\"type\":")), errc::bad_json);
  EXPECT_EQ(code_of(parse("")), errc::bad_json);
  EXPECT_EQ(code_of(parse("\xff\xfe")), errc::bad_json);
  // Invalid UTF-8 inside a string.
  EXPECT_EQ(code_of(parse("{\"type\":\"a\xc3\x28\"}")), errc::bad_json);
}

TEST(codec, non_envelopes_are_bad_message) {
  EXPECT_EQ(code_of(parse("[1,2]")), errc::bad_message);
  EXPECT_EQ(code_of(parse("{\"id\":1}")), errc::bad_message);
  EXPECT_EQ(code_of(parse("{\"type\":5}")), errc::bad_message);
  EXPECT_EQ(code_of(parse("{\"type\":\"\"}")), errc::bad_message);
  EXPECT_EQ(code_of(parse("{\"type\":\"x\",\"data\":[]}")), errc::bad_message);
  EXPECT_EQ(code_of(parse("{\"type\":\"x\",\"id\":{}}")), errc::bad_message);
  EXPECT_EQ(code_of(parse("{\"type\":\"x\",\"id\":\"" + std::string(65, 'a') + "\"}")),
            errc::bad_message);
}

TEST(codec, id_is_recovered_for_the_error_reply) {
  auto p = parse(R"({"type":"x","id":"abc","data":5})");
  EXPECT_EQ(code_of(p), errc::bad_message);
  EXPECT_EQ(p.id, json::value("abc"));
  EXPECT_EQ(p.type, "x");
}

TEST(codec, deep_nesting_is_refused) {
  std::string deep =
      "{\"type\":\"x\",\"data\":{\"a\":" + std::string(5000, '[') + std::string(5000, ']') + "}}";
  EXPECT_EQ(code_of(parse(deep)), errc::too_deep);
  // Within the limit it parses.
  std::string ok = "{\"type\":\"x\",\"data\":{\"a\":[[[]]]}}";
  EXPECT_TRUE(parse(ok, 8).r.has_value());
}

constexpr field_spec fields[] = {
    {"name", field_type::string, true, 1, 4, ""},
    {"n", field_type::integer, false, 1, 10, ""},
    {"flag", field_type::boolean, false, 0, 0, ""},
};

TEST(codec, validation_names_the_field) {
  auto check = [](std::string_view text) {
    return validate_fields(json::parse(text).as_object(), fields);
  };
  EXPECT_TRUE(check(R"({"name":"abcd","n":10,"flag":true,"extra":1})").has_value());
  auto missing = check(R"({"n":1})");
  ASSERT_TRUE(missing.has_error());
  EXPECT_EQ(missing.error().code, errc::missing_field);
  EXPECT_NE(missing.error().message.find("name"), std::string::npos);
  auto mistyped = check(R"({"name":5})");
  ASSERT_TRUE(mistyped.has_error());
  EXPECT_EQ(mistyped.error().code, errc::bad_field);
  EXPECT_EQ(check(R"({"name":"abcde"})").error().code, errc::bad_field);  // too long
  EXPECT_EQ(check(R"({"name":"a","n":11})").error().code, errc::bad_field);
  EXPECT_EQ(check(R"({"name":"a","n":1.5})").error().code, errc::bad_field);
  EXPECT_EQ(check(R"({"name":"a","n":18446744073709551615})").error().code, errc::bad_field);
  EXPECT_EQ(check(R"({"name":"a","flag":"yes"})").error().code, errc::bad_field);
  // Lengths are counted in characters, not bytes: four Hangul syllables fit in 4.
  EXPECT_TRUE(check(R"({"name":"마라탕면"})").has_value());
}

TEST(codec, huge_numbers_do_not_crash) {
  auto p = parse(R"({"type":"x","data":{"n":123456789012345678901234567890}})");
  if (p.r.has_value()) {
    EXPECT_EQ(validate_fields(p.r->data, fields).error().code, errc::missing_field);
    json::object d = p.r->data;
    d["name"] = "a";
    EXPECT_EQ(validate_fields(d, fields).error().code, errc::bad_field);
  } else {
    EXPECT_EQ(p.r.error().code, errc::bad_json);
  }
  // 1e400 overflows a double: either the parser refuses it or the integer field does.
  auto inf = parse(R"({"type":"x","data":{"name":"a","n":1e400}})");
  if (inf.r.has_value()) {
    EXPECT_EQ(validate_fields(inf.r->data, fields).error().code, errc::bad_field);
  } else {
    EXPECT_EQ(inf.r.error().code, errc::bad_json);
  }
}

TEST(codec, frames_round_trip) {
  auto reply = json::parse(*encode_reply("room.join", json::value(3), {{"a", 1}}));
  EXPECT_EQ(reply.at("type"), "room.join");
  EXPECT_EQ(reply.at("id"), 3);
  EXPECT_EQ(reply.at("ok"), true);
  EXPECT_EQ(reply.at("data").at("a"), 1);
  auto err = json::parse(*encode_error("", json::value("q"), error{errc::room_full}));
  EXPECT_EQ(err.at("type"), "error");
  EXPECT_EQ(err.at("ok"), false);
  EXPECT_EQ(err.at("error").at("code"), "room_full");
  EXPECT_FALSE(err.at("error").at("message").as_string().empty());
  EXPECT_FALSE(err.at("error").as_object().contains("retry_after_s")) << "only when known";
  error limited{errc::rate_limited, "Slow down."};
  limited.retry_after_s = 7;
  auto later = json::parse(*encode_error("room.invite", json::value(4), limited));
  EXPECT_EQ(later.at("error").at("retry_after_s"), 7);
  auto ev = json::parse(*encode_event("room.chat", {{"text", "안녕"}}));
  EXPECT_FALSE(ev.as_object().contains("id"));
  EXPECT_EQ(ev.at("data").at("text"), "안녕");
}

TEST(codec, every_core_request_is_documented_and_unique) {
  std::set<std::pair<std::string_view, direction>> seen;
  for (const auto& m : core_messages()) {
    EXPECT_TRUE(seen.insert({m.type, m.dir}).second) << "duplicate " << m.type;
    EXPECT_FALSE(m.summary.empty()) << m.type;
    if (m.dir == direction::request) {
      EXPECT_FALSE(m.reply.empty()) << m.type;
    }
    for (const auto& f : m.fields)
      EXPECT_FALSE(f.doc.empty()) << m.type << "." << f.name;
  }
}

}  // namespace
}  // namespace maratang::proto
