// Traces over real sockets: seed 003's GameDB API (field by field), bad input, caching, gzip,
// ETags, the /v1/traces extensions, API docs, and durability across kill -9.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "harness.hpp"
#include "traces/http_cache.hpp"

namespace maratang::it {
namespace {

// Seed 003's request example, verbatim.
constexpr std::string_view kSeedBody = R"({
  "obj": {"u_uuid": "user-uuid", "o_type": 1, "o_pos": "10.5,20.0,30.2", "o_rot": "0.0,90.0,0.0"},
  "message": {"u_uuid": "user-uuid", "part1": "message text part 1",
              "part2": "message text part 2", "part3": "message text part 3"},
  "phantom": {"u_uuid": "user-uuid", "data": [["pos1", "rot1"], ["pos2", "rot2"]]}
})";

// Writes are not rate limited unless a test says so.
std::vector<std::string> unlimited(std::vector<std::string> more = {}) {
  more.push_back("traces.anon_writes_per_minute=0");
  more.push_back("traces.account_writes_per_minute=0");
  return more;
}

std::string trace_body(int i, std::string_view uuid = "u") {
  return fmt::format(R"({{"obj":{{"u_uuid":"{0}","o_type":{1},"o_pos":"{1},0,0","o_rot":"0,0,0"}},)"
                     R"("message":{{"u_uuid":"{0}","part1":"m{1}","part2":"","part3":""}},)"
                     R"("phantom":{{"u_uuid":"{0}","data":[["{1},0,0","0,0,0"]]}}}})",
                     uuid, i);
}

json::value get_objects(int port) {
  auto r = http_call(port, "GET", "/get-objects");
  EXPECT_EQ(r.status, 200) << r.body;
  return r.json();
}

std::size_t count(const json::value& listing, std::string_view kind) {
  return at(listing, kind).as_array().size();
}

// Every id of one kind in an area, through the paging endpoint.
std::set<std::int64_t> all_ids(int port, std::string_view area, std::string_view kind) {
  std::set<std::int64_t> out;
  std::string before;
  for (int page = 0; page < 10000; ++page) {
    auto r = http_call(port, "GET",
                       fmt::format("/v1/traces/areas/{}/{}?limit=100{}", area, kind, before));
    if (r.status != 200) throw std::runtime_error("paging failed: " + r.body);
    auto v = r.json();
    for (const auto& t : at(v, "items").as_array())
      out.insert(num(at(t, "id")));
    if (at(v, "next_before").is_null()) break;
    before = fmt::format("&before={}", num(at(v, "next_before")));
  }
  return out;
}

class traces_test : public ::testing::Test {
 protected:
  void start(std::vector<std::string> sets = unlimited()) {
    srv_ = std::make_unique<server_process>(std::move(sets));
  }
  int port() const { return srv_->port(); }
  std::unique_ptr<server_process> srv_;
};

// --- Seed 003 compatibility --------------------------------------------------------------------

TEST_F(traces_test, seed_example_round_trips_field_by_field) {
  start();
  auto h = http_call(port(), "GET", "/health");
  EXPECT_EQ(h.body, R"({"status":"healthy"})");
  EXPECT_EQ(get_objects(port()), json::parse(R"({"objects":[],"messages":[],"phantoms":[]})"));

  auto r = http_call(port(), "POST", "/add-object", std::string(kSeedBody));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(str(at(r.json(), "status")), "success");
  const auto obj_id = num(at(r.json(), "ids.obj"));
  const auto msg_id = num(at(r.json(), "ids.message"));
  const auto ph_id = num(at(r.json(), "ids.phantom"));

  auto v = get_objects(port());
  ASSERT_EQ(v.as_object().size(), 3u) << v;
  ASSERT_EQ(count(v, "objects"), 1u);
  const auto& o = at(v, "objects.0").as_object();
  EXPECT_EQ(o.size(), 5u) << o;  // id, u_uuid, o_type, o_pos, o_rot and nothing else
  EXPECT_TRUE(o.at("id").is_int64());
  EXPECT_EQ(num(o.at("id")), obj_id);
  EXPECT_EQ(o.at("u_uuid"), json::value("user-uuid"));
  EXPECT_TRUE(o.at("o_type").is_int64());
  EXPECT_EQ(num(o.at("o_type")), 1);
  EXPECT_EQ(o.at("o_pos"), json::value("10.5,20.0,30.2"));
  EXPECT_EQ(o.at("o_rot"), json::value("0.0,90.0,0.0"));

  ASSERT_EQ(count(v, "messages"), 1u);
  const auto& m = at(v, "messages.0").as_object();
  EXPECT_EQ(m.size(), 5u) << m;
  EXPECT_EQ(num(m.at("id")), msg_id);
  EXPECT_EQ(m.at("u_uuid"), json::value("user-uuid"));
  EXPECT_EQ(m.at("part1"), json::value("message text part 1"));
  EXPECT_EQ(m.at("part2"), json::value("message text part 2"));
  EXPECT_EQ(m.at("part3"), json::value("message text part 3"));

  ASSERT_EQ(count(v, "phantoms"), 1u);
  const auto& p = at(v, "phantoms.0").as_object();
  EXPECT_EQ(p.size(), 3u) << p;
  EXPECT_EQ(num(p.at("id")), ph_id);
  EXPECT_EQ(p.at("u_uuid"), json::value("user-uuid"));
  EXPECT_EQ(p.at("data"), json::parse(R"([["pos1","rot1"],["pos2","rot2"]])"));
}

TEST_F(traces_test, obj_or_message_alone_is_accepted) {
  start();
  auto r = http_call(port(), "POST", "/add-object",
                     R"({"obj":{"u_uuid":"a","o_type":7,"o_pos":"1,2,3","o_rot":"0,0,0"},
                         "phantom":{"u_uuid":"a","data":[]}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(has(r.json().as_object(), "ids.message"));
  r = http_call(port(), "POST", "/add-object",
                R"({"message":{"u_uuid":"b","part1":"x","part2":"y","part3":"z"},
                    "phantom":{"u_uuid":"b","data":[]}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(has(r.json().as_object(), "ids.obj"));
  auto v = get_objects(port());
  EXPECT_EQ(count(v, "objects"), 1u);
  EXPECT_EQ(count(v, "messages"), 1u);
  EXPECT_EQ(count(v, "phantoms"), 2u);
}

TEST_F(traces_test, lists_the_latest_200_objects_200_messages_and_20_phantoms_newest_first) {
  start();
  std::vector<std::int64_t> obj_ids;
  for (int i = 0; i < 205; ++i) {
    auto r = http_call(port(), "POST", "/add-object", trace_body(i));
    ASSERT_EQ(r.status, 200) << r.body;
    obj_ids.push_back(num(at(r.json(), "ids.obj")));
  }
  auto v = get_objects(port());
  ASSERT_EQ(count(v, "objects"), 200u);
  EXPECT_EQ(count(v, "messages"), 200u);
  EXPECT_EQ(count(v, "phantoms"), 20u);
  for (std::size_t i = 0; i < 200; ++i)
    ASSERT_EQ(num(at(v, fmt::format("objects.{}.id", i))), obj_ids[204 - i]) << i;
  EXPECT_EQ(str(at(v, "messages.0.part1")), "m204");
  EXPECT_EQ(str(at(v, "messages.199.part1")), "m5");
}

// --- Bad input ---------------------------------------------------------------------------------

struct bad_case {
  std::string name;
  std::string content_type;
  std::string body;
  std::vector<std::string> fields;  // the fields the 422 must name, in order
};

std::vector<bad_case> bad_cases() {
  const std::string ph = R"("phantom":{"u_uuid":"u","data":[]})";
  const std::string ok_obj = R"("obj":{"u_uuid":"u","o_type":1,"o_pos":"","o_rot":""})";
  std::string huge = R"({"obj":{"u_uuid":"u","o_type":1,"o_pos":"","o_rot":""},)"
                     R"("phantom":{"u_uuid":"u","data":[)";
  for (int i = 0; i < 2001; ++i)
    huge += i ? ",[\"1,2,3\"]" : "[\"1,2,3\"]";
  huge += "]}}";
  std::string deep = R"({"obj":)";
  for (int i = 0; i < 40; ++i)
    deep += "[";
  for (int i = 0; i < 40; ++i)
    deep += "]";
  deep += "}";
  return {
      {"empty body", "application/json", "", {"body"}},
      {"not json", "application/json", "{\"obj\": ", {"body"}},
      {"not an object", "application/json", "[1,2]", {"body"}},
      {"wrong content type", "text/plain", "{" + ok_obj + "," + ph + "}", {"body"}},
      {"form content type", "application/x-www-form-urlencoded", "obj=1", {"body"}},
      {"invalid utf-8",
       "application/json",
       "{\"obj\":{\"u_uuid\":\"\xff\xfe\",\"o_type\":1,\"o_pos\":\"\",\"o_rot\":\"\"}," + ph + "}",
       {"body"}},
      {"deep nesting", "application/json", deep, {"body"}},
      {"neither obj nor message", "application/json", "{" + ph + "}", {"obj", "message"}},
      {"phantom missing", "application/json", "{" + ok_obj + "}", {"phantom"}},
      {"missing fields",
       "application/json",
       R"({"obj":{"u_uuid":"u"},"message":{"part1":"a","part2":"b","part3":"c"},)" + ph + "}",
       {"obj.o_type", "obj.o_pos", "obj.o_rot", "message.u_uuid"}},
      {"wrong types",
       "application/json",
       R"({"obj":{"u_uuid":1,"o_type":"1","o_pos":[],"o_rot":null},)"
       R"("phantom":{"u_uuid":"u","data":"x"}})",
       {"obj.u_uuid", "obj.o_type", "obj.o_pos", "obj.o_rot", "phantom.data"}},
      {"parts not objects",
       "application/json",
       R"({"obj":"x","message":5,"phantom":[]})",
       {"obj", "message", "phantom"}},
      {"o_type out of range",
       "application/json",
       R"({"obj":{"u_uuid":"u","o_type":4294967296,"o_pos":"","o_rot":""},)" + ph + "}",
       {"obj.o_type"}},
      {"huge phantom", "application/json", huge, {"phantom.data"}},
      {"phantom point not an array",
       "application/json",
       "{" + ok_obj + R"(,"phantom":{"u_uuid":"u","data":[["a"],7]}})",
       {"phantom.data[1]"}},
      {"message part too long",
       "application/json",
       R"({"message":{"u_uuid":"u","part1":")" + std::string(257, 'x') +
           R"(","part2":"","part3":""},)" + ph + "}",
       {"message.part1"}},
      {"empty u_uuid",
       "application/json",
       R"({"obj":{"u_uuid":"","o_type":1,"o_pos":"","o_rot":""},)" + ph + "}",
       {"obj.u_uuid"}},
  };
}

TEST_F(traces_test, bad_input_is_422_naming_each_field_and_stores_nothing) {
  start();
  for (const auto& c : bad_cases()) {
    SCOPED_TRACE(c.name);
    auto r = http_call(port(), "POST", "/add-object", c.body, {{"Content-Type", c.content_type}});
    ASSERT_EQ(r.status, 422) << r.body;
    EXPECT_EQ(r.error_code(), "bad_field") << r.body;
    auto v = r.json();
    EXPECT_FALSE(str(at(v, "error.message")).empty());
    std::vector<std::string> named;
    for (const auto& f : at(v, "error.fields").as_array()) {
      named.push_back(str(at(f, "field")));
      EXPECT_FALSE(str(at(f, "code")).empty());
      EXPECT_FALSE(str(at(f, "message")).empty());
    }
    EXPECT_EQ(named, c.fields) << r.body;
    // FastAPI's shape too, one entry per field.
    EXPECT_EQ(at(v, "detail").as_array().size(), c.fields.size());
    EXPECT_EQ(str(at(v, "detail.0.loc.0")), "body");
  }
  // Nothing was stored, and the server is fine.
  EXPECT_EQ(get_objects(port()), json::parse(R"({"objects":[],"messages":[],"phantoms":[]})"));
  EXPECT_EQ(http_call(port(), "GET", "/health").status, 200);
  auto ok = http_call(port(), "POST", "/add-object", std::string(kSeedBody));
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(count(get_objects(port()), "objects"), 1u);
}

TEST_F(traces_test, wrong_methods_and_a_body_over_the_transport_limit) {
  start(unlimited({"limits.http_body_max=4096"}));
  EXPECT_EQ(http_call(port(), "GET", "/add-object").status, 405);
  EXPECT_EQ(http_call(port(), "POST", "/get-objects", "{}").status, 405);
  auto r = http_call(port(), "POST", "/add-object", std::string(8192, ' '));
  EXPECT_EQ(r.status, 413) << r.body;
  EXPECT_EQ(count(get_objects(port()), "phantoms"), 0u);
}

TEST_F(traces_test, anonymous_writes_are_limited_per_address) {
  start({"traces.anon_writes_per_minute=1", "traces.anon_write_burst=3"});
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(http_call(port(), "POST", "/add-object", trace_body(i)).status, 200) << i;
  auto r = http_call(port(), "POST", "/add-object", trace_body(3));
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(r.error_code(), "rate_limited");
  EXPECT_EQ(count(get_objects(port()), "objects"), 3u);
}

// --- Caching, gzip, ETags ----------------------------------------------------------------------

TEST_F(traces_test, gzip_when_accepted_with_the_same_content) {
  start();
  for (int i = 0; i < 30; ++i)
    ASSERT_EQ(http_call(port(), "POST", "/add-object", trace_body(i)).status, 200);
  auto plain = http_call(port(), "GET", "/get-objects");
  ASSERT_EQ(plain.status, 200);
  EXPECT_EQ(plain.header("content-encoding"), "");
  EXPECT_EQ(plain.header("vary"), "Accept-Encoding");
  auto z = http_call(port(), "GET", "/get-objects", {}, {{"Accept-Encoding", "gzip, deflate"}});
  ASSERT_EQ(z.status, 200);
  EXPECT_EQ(z.header("content-encoding"), "gzip");
  EXPECT_LT(z.body.size(), plain.body.size() / 3);
  std::string unzipped;
  ASSERT_TRUE(traces::gunzip(z.body, unzipped));
  EXPECT_EQ(unzipped, plain.body);
  auto refused = http_call(port(), "GET", "/get-objects", {}, {{"Accept-Encoding", "gzip;q=0"}});
  EXPECT_EQ(refused.header("content-encoding"), "");
  EXPECT_EQ(refused.body, plain.body);
}

TEST_F(traces_test, etag_gives_304_until_a_new_trace_arrives) {
  start();
  ASSERT_EQ(http_call(port(), "POST", "/add-object", trace_body(1)).status, 200);
  auto first = http_call(port(), "GET", "/get-objects");
  const auto tag = first.header("etag");
  ASSERT_FALSE(tag.empty());
  auto again = http_call(port(), "GET", "/get-objects", {}, {{"If-None-Match", tag}});
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
  EXPECT_EQ(again.header("etag"), tag);
  // The gzip'd representation has its own tag.
  auto z = http_call(port(), "GET", "/get-objects", {}, {{"Accept-Encoding", "gzip"}});
  EXPECT_NE(z.header("etag"), tag);
  EXPECT_EQ(http_call(port(), "GET", "/get-objects", {},
                      {{"Accept-Encoding", "gzip"}, {"If-None-Match", z.header("etag")}})
                .status,
            304);
  // A new trace refreshes the cache at once (not after 30 s): new content, new tag.
  ASSERT_EQ(http_call(port(), "POST", "/add-object", trace_body(2)).status, 200);
  auto after = http_call(port(), "GET", "/get-objects", {}, {{"If-None-Match", tag}});
  EXPECT_EQ(after.status, 200);
  EXPECT_NE(after.header("etag"), tag);
  EXPECT_EQ(count(after.json(), "objects"), 2u);
}

TEST_F(traces_test, concurrent_readers_share_one_fill) {
  start();
  ASSERT_EQ(http_call(port(), "POST", "/add-object", trace_body(1)).status, 200);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    threads.push_back(spawn([&] {
      for (int i = 0; i < 20; ++i)
        ok += http_call(port(), "GET", "/get-objects").status == 200;
    }));
  }
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(ok.load(), 160);
  auto m = http_call(port(), "GET", "/metrics");
  // One fill after the write; every other read was a hit or waited for that fill.
  EXPECT_NE(m.body.find("\nmaratang_traces_cache_fills_total 1\n"), std::string::npos) << m.body;
}

// Cached listings are written with a head formatted by the server itself: check it on the wire.
std::string raw_exchange(int port, const std::string& request) {
  namespace asio = boost::asio;
  asio::io_context ioc;
  asio::ip::tcp::socket sock(ioc);
  sock.connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
  asio::write(sock, asio::buffer(request));
  // Reads until the server closes: the requests below end with a close.
  std::string out;
  boost::system::error_code ec;
  char buf[65536];
  while (!ec) {
    auto n = sock.read_some(asio::buffer(buf), ec);
    out.append(buf, n);
  }
  return out;
}

TEST_F(traces_test, cached_responses_on_the_wire_keep_alive_and_close_as_asked) {
  start();
  ASSERT_EQ(http_call(port(), "POST", "/add-object", std::string(kSeedBody)).status, 200);
  const auto body = http_call(port(), "GET", "/get-objects").body;
  // HTTP/1.0 without keep-alive: answered as 1.0, then closed.
  auto r = raw_exchange(port(), "GET /get-objects HTTP/1.0\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << r;
  EXPECT_NE(r.find(fmt::format("\r\nContent-Length: {}\r\n", body.size())), std::string::npos);
  EXPECT_EQ(r.substr(r.find("\r\n\r\n") + 4), body);
  // HTTP/1.1: two requests on one connection, both answered in order, the second closes.
  r = raw_exchange(port(),
                   "GET /get-objects HTTP/1.1\r\nHost: x\r\n\r\n"
                   "GET /get-objects HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const auto second = r.find("HTTP/1.1 200 OK\r\n", 1);
  ASSERT_NE(second, std::string::npos) << r;
  EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  const auto first = r.substr(0, second);
  EXPECT_EQ(first.find("Connection: close"), std::string::npos) << first;
  EXPECT_EQ(first.substr(first.find("\r\n\r\n") + 4), body);
  EXPECT_NE(r.find("Connection: close\r\n", second), std::string::npos);
  EXPECT_NE(r.find("ETag: \"", second), std::string::npos);
  EXPECT_EQ(r.substr(r.find("\r\n\r\n", second) + 4), body);
}

// --- /v1/traces --------------------------------------------------------------------------------

TEST_F(traces_test, areas_need_a_token_to_write_and_are_separate) {
  start();
  auto p = login_device(port(), "device-traces-1");
  auto r = http_call(port(), "POST", "/v1/traces/areas/level-2", trace_body(1));
  EXPECT_EQ(r.status, 401) << r.body;
  r = http_call(port(), "POST", "/v1/traces/areas/level-2", trace_body(1), bearer(p.token));
  ASSERT_EQ(r.status, 200) << r.body;
  const auto obj = num(at(r.json(), "ids.obj"));
  auto l = http_call(port(), "GET", "/v1/traces/areas/level-2");
  ASSERT_EQ(l.status, 200) << l.body;
  auto v = l.json();
  EXPECT_EQ(num(at(v, "objects.0.id")), obj);
  EXPECT_GT(num(at(v, "objects.0.created_at")), now_ms() - 60000);
  EXPECT_EQ(at(v, "objects.0.pos"), json::parse("[1.0,0.0,0.0]"));
  EXPECT_EQ(num(at(v, "messages.0.rating")), 0);
  // The default area (the GameDB endpoints) does not see it.
  EXPECT_EQ(count(get_objects(port()), "objects"), 0u);
  EXPECT_EQ(http_call(port(), "GET", "/v1/traces/areas/b%40d%20name").status, 400);
  EXPECT_EQ(http_call(port(), "GET", "/v1/traces/areas/a/nothing").status, 404);
}

TEST_F(traces_test, paging_and_near) {
  start();
  std::vector<std::int64_t> objs;
  for (int i = 0; i < 7; ++i) {
    auto r = http_call(port(), "POST", "/add-object", trace_body(i * 10));
    objs.push_back(num(at(r.json(), "ids.obj")));
  }
  auto page = http_call(port(), "GET", "/v1/traces/areas/default/objects?limit=3");
  ASSERT_EQ(page.status, 200) << page.body;
  auto v = page.json();
  EXPECT_EQ(num(at(v, "items.0.id")), objs[6]);
  EXPECT_EQ(num(at(v, "next_before")), objs[4]);
  auto ids = all_ids(port(), "default", "objects");
  EXPECT_EQ(ids, std::set<std::int64_t>(objs.begin(), objs.end()));
  EXPECT_EQ(http_call(port(), "GET", "/v1/traces/areas/default/objects?limit=0").status, 400);
  EXPECT_EQ(http_call(port(), "GET", "/v1/traces/areas/default/objects?before=x").status, 400);

  // Objects at x = 0, 10, ..., 60: within 12 of x = 25 lie 20 and 30.
  auto near = http_call(port(), "GET", "/v1/traces/areas/default/near?x=25&y=0&z=0&radius=12");
  ASSERT_EQ(near.status, 200) << near.body;
  auto n = near.json();
  ASSERT_EQ(count(n, "objects"), 2u) << near.body;
  EXPECT_EQ(num(at(n, "objects.0.id")), objs[3]);
  EXPECT_EQ(num(at(n, "objects.1.id")), objs[2]);
  EXPECT_EQ(count(n, "messages"), 2u);  // placed with their objects
  EXPECT_EQ(count(n, "phantoms"), 2u);  // placed at their first point
  EXPECT_EQ(http_call(port(), "GET", "/v1/traces/areas/default/near?x=1&y=2&radius=3").status, 400);
}

TEST_F(traces_test, appraise_and_report_until_hidden) {
  start(unlimited({"traces.hide_after_reports=2", "traces.report_min_account_age_s=0"}));
  auto a = login_device(port(), "device-traces-a");
  auto b = login_device(port(), "device-traces-b");
  auto r = http_call(port(), "POST", "/add-object", std::string(kSeedBody));
  const auto msg = num(at(r.json(), "ids.message"));
  const auto obj = num(at(r.json(), "ids.obj"));
  const auto appraise = fmt::format("/v1/traces/items/{}/appraise", msg);
  EXPECT_EQ(http_call(port(), "POST", appraise, R"({"value":1})").status, 401);
  auto up = http_call(port(), "POST", appraise, R"({"value":1})", bearer(a.token));
  ASSERT_EQ(up.status, 200) << up.body;
  EXPECT_EQ(num(at(up.json(), "rating")), 1);
  auto down = http_call(port(), "POST", appraise, R"({"value":-1})", bearer(b.token));
  EXPECT_EQ(num(at(down.json(), "rating")), 0);
  EXPECT_EQ(num(at(down.json(), "votes")), 2);
  EXPECT_EQ(http_call(port(), "POST", appraise, R"({"value":2})", bearer(a.token)).status, 400);
  EXPECT_EQ(http_call(port(), "POST", fmt::format("/v1/traces/items/{}/appraise", obj),
                      R"({"value":1})", bearer(a.token))
                .status,
            404);

  const auto report = fmt::format("/v1/traces/items/{}/report", obj);
  auto r1 = http_call(port(), "POST", report, {}, bearer(a.token));
  ASSERT_EQ(r1.status, 200) << r1.body;
  EXPECT_EQ(at(r1.json(), "hidden"), json::value(false));
  auto again = http_call(port(), "POST", report, {}, bearer(a.token));
  EXPECT_EQ(at(again.json(), "already_reported"), json::value(true));
  EXPECT_EQ(num(at(again.json(), "reports")), 1);
  EXPECT_EQ(count(get_objects(port()), "objects"), 1u);
  // A second account from the same address hides nothing: one address cannot hide alone.
  auto c = login_device(port(), "device-traces-c");
  auto same = http_call(port(), "POST", report, {}, bearer(c.token));
  EXPECT_EQ(num(at(same.json(), "reports")), 2);
  EXPECT_EQ(at(same.json(), "hidden"), json::value(false));
  // From another address it does.
  auto r2 = http_call_from("127.0.0.7", port(), "POST", report, {}, bearer(b.token));
  EXPECT_EQ(at(r2.json(), "hidden"), json::value(true));
  EXPECT_EQ(count(get_objects(port()), "objects"), 0u);  // hidden at once
  EXPECT_EQ(count(get_objects(port()), "messages"), 1u);
  EXPECT_EQ(http_call(port(), "POST", report, {}, bearer(b.token)).status, 404);
}

TEST_F(traces_test, fresh_accounts_cannot_hide_a_trace) {
  start(unlimited({"traces.hide_after_reports=2"}));  // accounts must be a day old to be heard
  auto r = http_call(port(), "POST", "/add-object", std::string(kSeedBody));
  const auto obj = num(at(r.json(), "ids.obj"));
  const auto report = fmt::format("/v1/traces/items/{}/report", obj);
  for (int i = 0; i < 5; ++i) {
    auto p = login_device(port(), fmt::format("device-fresh-{}", i));
    auto rep = http_call_from(fmt::format("127.0.1.{}", i + 1), port(), "POST", report, {},
                              bearer(p.token));
    ASSERT_EQ(rep.status, 200) << rep.body;
    EXPECT_EQ(num(at(rep.json(), "reports")), i + 1);
    EXPECT_EQ(at(rep.json(), "hidden"), json::value(false));
  }
  EXPECT_EQ(count(get_objects(port()), "objects"), 1u);
}

TEST_F(traces_test, account_writes_are_limited) {
  start({"traces.account_writes_per_minute=1", "traces.account_write_burst=2"});
  auto p = login_device(port(), "device-traces-limit");
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(
        http_call(port(), "POST", "/v1/traces/areas/x", trace_body(i), bearer(p.token)).status,
        200);
  }
  auto r = http_call(port(), "POST", "/v1/traces/areas/x", trace_body(2), bearer(p.token));
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.error_code(), "rate_limited");
}

// --- API docs ----------------------------------------------------------------------------------

TEST_F(traces_test, openapi_lists_every_endpoint_and_docs_serve_swagger_ui) {
  const auto assets =
      std::filesystem::path(MARATANG_SOURCE_DIR) / "web" / "node_modules" / "swagger-ui-dist";
  ASSERT_TRUE(std::filesystem::exists(assets / "swagger-ui-bundle.js"))
      << "run scripts/setup.sh: it installs swagger-ui-dist into " << assets;
  start(unlimited({"docs.assets_dir=" + assets.string()}));
  auto o = http_call(port(), "GET", "/openapi.json");
  ASSERT_EQ(o.status, 200);
  auto doc = o.json();
  for (const char* p : {"/health", "/get-objects", "/add-object", "/v1/auth/device",
                        "/v1/traces/areas/{area}", "/v1/traces/items/{id}/report", "/docs"}) {
    EXPECT_TRUE(at(doc, "paths").as_object().contains(p)) << p;
  }
  auto page = http_call(port(), "GET", "/docs");
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_EQ(page.header("content-type").rfind("text/html", 0), 0u);
  EXPECT_NE(page.body.find("/openapi.json"), std::string::npos);
  EXPECT_NE(page.body.find("swagger-ui-bundle.js"), std::string::npos);
  auto js = http_call(port(), "GET", "/docs/swagger-ui-bundle.js");
  ASSERT_EQ(js.status, 200);
  EXPECT_EQ(js.header("content-type"), "text/javascript; charset=utf-8");
  EXPECT_GT(js.body.size(), 100000u);
  EXPECT_EQ(http_call(port(), "GET", "/docs/swagger-ui.css").header("content-type"),
            "text/css; charset=utf-8");
  EXPECT_EQ(http_call(port(), "GET", "/docs/..%2Fpackage.json").status, 404);
  EXPECT_EQ(http_call(port(), "GET", "/docs/.hidden").status, 404);
  EXPECT_EQ(http_call(port(), "GET", "/docs/nope.js").status, 404);
}

// The real Swagger UI, run by headless Chromium: every path of the OpenAPI document is rendered
// as an operation.
TEST_F(traces_test, docs_render_every_operation_in_headless_chromium) {
  const auto assets =
      std::filesystem::path(MARATANG_SOURCE_DIR) / "web" / "node_modules" / "swagger-ui-dist";
  std::string browser;
  for (const char* b : {"/usr/bin/chromium", "/usr/bin/chromium-browser"}) {
    if (std::filesystem::exists(b)) browser = b;
  }
  ASSERT_FALSE(browser.empty()) << "no Chromium: run scripts/setup.sh --test";
  start(unlimited({"docs.assets_dir=" + assets.string()}));
  temp_dir out;
  const auto dom_file = out.path() / "dom.html";
  const auto cmd = fmt::format(
      "timeout 60 {} --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage "
      "--no-first-run --user-data-dir={} --virtual-time-budget=15000 --dump-dom "
      "http://127.0.0.1:{}/docs > {} 2>/dev/null",
      browser, (out.path() / "profile").string(), port(), dom_file.string());
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream in(dom_file);
  std::string dom((std::istreambuf_iterator<char>(in)), {});
  std::set<std::string> rendered;
  constexpr std::string_view marker = "class=\"opblock-summary-path\" data-path=\"";
  for (auto pos = dom.find(marker); pos != std::string::npos; pos = dom.find(marker, pos + 1)) {
    const auto start_at = pos + marker.size();
    rendered.insert(dom.substr(start_at, dom.find('"', start_at) - start_at));
  }
  std::set<std::string> documented;
  const auto doc = http_call(port(), "GET", "/openapi.json").json();
  for (const auto& p : at(doc, "paths").as_object())
    documented.insert(std::string(p.key()));
  EXPECT_GE(documented.size(), 25u);
  EXPECT_EQ(rendered, documented) << dom.substr(0, 2000);
}

TEST_F(traces_test, docs_without_assets_say_how_to_install_them) {
  start(unlimited({"docs.assets_dir=/nonexistent/swagger"}));
  auto r = http_call(port(), "GET", "/docs");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.error_code(), "unavailable");
  EXPECT_NE(r.body.find("docs.assets_dir"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("scripts/setup.sh"), std::string::npos) << r.body;
  EXPECT_EQ(http_call(port(), "GET", "/openapi.json").status, 200);
}

// --- Durability --------------------------------------------------------------------------------

TEST(traces_crash_test, every_acknowledged_trace_survives_kill_9) {
  temp_dir data;
  std::mutex mu;
  std::set<std::int64_t> acked_objs, acked_msgs, acked_phantoms;
  std::atomic<bool> stop{false};
  std::atomic<int> acks{0};
  {
    server_process srv(unlimited(), data.path() / "data");
    const int port = srv.port();
    std::vector<std::thread> writers;
    for (int w = 0; w < 6; ++w) {
      writers.push_back(spawn([&, w] {
        for (int i = 0; !stop.load(); ++i) {
          auto r = http_call(port, "POST", "/add-object",
                             trace_body(i, fmt::format("writer-{}", w)), {}, 2s);
          if (r.status != 200) continue;  // after the kill: refused or cut off
          auto v = r.json();
          std::lock_guard lk(mu);
          acked_objs.insert(num(at(v, "ids.obj")));
          acked_msgs.insert(num(at(v, "ids.message")));
          acked_phantoms.insert(num(at(v, "ids.phantom")));
          ++acks;
        }
      }));
    }
    // Kill it mid-load, right after a batch of acknowledgements.
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (acks.load() < 600 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(1ms);  // polling interval
    ASSERT_EQ(::kill(srv.pid(), SIGKILL), 0);
    auto e = srv.stop();
    EXPECT_EQ(e.signal, SIGKILL);
    // Writers keep trying briefly against the dead server, then stop.
    std::this_thread::sleep_for(100ms);
    stop = true;
    for (auto& t : writers)
      t.join();
  }
  ASSERT_GE(acked_objs.size(), 600u);
  // Restart on the same data directory: every acknowledged trace is there.
  server_process again(unlimited(), data.path() / "data");
  auto objs = all_ids(again.port(), "default", "objects");
  auto msgs = all_ids(again.port(), "default", "messages");
  auto phantoms = all_ids(again.port(), "default", "phantoms");
  std::size_t missing = 0;
  for (auto id : acked_objs)
    missing += objs.count(id) == 0;
  for (auto id : acked_msgs)
    missing += msgs.count(id) == 0;
  for (auto id : acked_phantoms)
    missing += phantoms.count(id) == 0;
  EXPECT_EQ(missing, 0u) << "of " << acked_objs.size() << " acknowledged adds";
  // An add is all or nothing: as many objects as messages and phantoms survived.
  EXPECT_EQ(objs.size(), msgs.size());
  EXPECT_EQ(objs.size(), phantoms.size());
}

}  // namespace
}  // namespace maratang::it
