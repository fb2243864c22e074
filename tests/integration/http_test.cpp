// REST surface: operations endpoints, request validation, and the error envelope.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <thread>

#include "harness.hpp"

namespace maratang::it {
namespace {

class http_test : public ::testing::Test {
 protected:
  server_process srv_;
  int port() const { return srv_.port(); }
};

TEST_F(http_test, health_is_exactly_healthy) {
  auto r = http_call(port(), "GET", "/health");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"status":"healthy"})");
  EXPECT_EQ(r.header("content-type").rfind("application/json", 0), 0u) << r.header("content-type");
}

TEST_F(http_test, ready_answers_ready) {
  auto r = http_call(port(), "GET", "/ready");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.json(), json::parse(R"({"status":"ready"})")) << r.body;
}

TEST_F(http_test, metrics_are_prometheus_text) {
  auto r = http_call(port(), "GET", "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type").rfind("text/plain", 0), 0u) << r.header("content-type");
  EXPECT_NE(r.body.find("\nmaratang_ws_connections "), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("# TYPE maratang_ws_connections gauge"), std::string::npos) << r.body;
}

TEST_F(http_test, metrics_count_open_websockets) {
  auto p = make_player(port(), "Metric");
  ws_client ws(port(), p.token);
  ws.hello();
  auto r = http_call(port(), "GET", "/metrics");
  EXPECT_NE(r.body.find("\nmaratang_ws_connections 1\n"), std::string::npos) << r.body;
}

TEST_F(http_test, time_echoes_client_send) {
  auto before = now_ms();
  auto r = http_call(port(), "GET", "/v1/time?client_send=12345");
  auto after = now_ms();
  ASSERT_EQ(r.status, 200) << r.body;
  auto v = r.json();
  EXPECT_EQ(num(at(v, "client_send")), 12345);
  auto recv = num(at(v, "server_recv"));
  auto send = num(at(v, "server_send"));
  EXPECT_LE(recv, send);
  // Same machine, same clock: the server's time lies within our request window.
  EXPECT_GE(recv, before - 1000);
  EXPECT_LE(send, after + 1000);
}

TEST_F(http_test, modes_lists_the_test_mode) {
  auto r = http_call(port(), "GET", "/v1/modes");
  ASSERT_EQ(r.status, 200) << r.body;
  bool found = false;
  auto v = r.json();
  for (const auto& m : at(v, "modes").as_array()) {
    if (str(at(m, "name")) == "test.counter") {
      found = true;
      EXPECT_EQ(num(at(m, "min_players")), 2);
      EXPECT_GE(num(at(m, "max_players")), 4);
    }
  }
  EXPECT_TRUE(found) << r.body;
}

TEST_F(http_test, unknown_path_is_404_not_found) {
  for (const char* path : {"/nope", "/v1/nope", "/v1/auth/nope", "/v1/accounts/12/nope"}) {
    auto r = http_call(port(), "GET", path);
    if (std::string_view(path).rfind("/v1/auth/", 0) == 0) {
      r = http_call(port(), "POST", path, "{}");
    }
    EXPECT_EQ(r.status, 404) << path << ": " << r.body;
    EXPECT_EQ(r.error_code(), "not_found") << path << ": " << r.body;
  }
}

TEST_F(http_test, wrong_method_is_405) {
  auto r = http_call(port(), "POST", "/health", "{}");
  EXPECT_EQ(r.status, 405) << r.body;
  EXPECT_EQ(r.error_code(), "method_not_allowed");
  r = http_call(port(), "GET", "/v1/auth/device");
  EXPECT_EQ(r.status, 405) << r.body;
  EXPECT_EQ(r.error_code(), "method_not_allowed");
}

TEST_F(http_test, wrong_content_type_is_415) {
  auto r = http_call(port(), "POST", "/v1/auth/device", R"({"device_id":"device-abcdefgh"})",
                     {{"Content-Type", "text/plain"}});
  EXPECT_EQ(r.status, 415) << r.body;
  EXPECT_FALSE(r.error_code().empty()) << r.body;
  r = http_call(port(), "POST", "/v1/auth/device", "device_id=device-abcdefgh",
                {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(r.status, 415) << r.body;
}

TEST_F(http_test, malformed_json_body_is_400_bad_json) {
  for (const char* body :
       {R"({"device_id": )", R"({"device_id":"abcdefgh",})", "{'a':1}", "\xff\xfe{}"}) {
    auto r = http_call(port(), "POST", "/v1/auth/device", body);
    EXPECT_EQ(r.status, 400) << body << ": " << r.body;
    EXPECT_EQ(r.error_code(), "bad_json") << body << ": " << r.body;
  }
}

TEST_F(http_test, body_that_is_not_an_object_is_400_bad_message) {
  auto r = http_call(port(), "POST", "/v1/auth/device", "[1,2]");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.error_code(), "bad_message") << r.body;
}

TEST_F(http_test, deeply_nested_body_is_too_deep) {
  std::string body = R"({"device_id":"device-abcdefgh","x":)" + std::string(5000, '[') +
                     std::string(5000, ']') + "}";
  auto r = http_call(port(), "POST", "/v1/auth/device", body);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.error_code(), "too_deep") << r.body;
  EXPECT_EQ(http_call(port(), "GET", "/health").status, 200);
}

TEST_F(http_test, missing_field_is_400_missing_field) {
  auto r = http_call(port(), "POST", "/v1/auth/device", "{}");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.error_code(), "missing_field") << r.body;
  r = http_call(port(), "POST", "/v1/auth/register", R"({"email":"x@example.com"})");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.error_code(), "missing_field") << r.body;
}

TEST_F(http_test, mistyped_or_out_of_range_field_is_400_bad_field) {
  auto r = http_call(port(), "POST", "/v1/auth/device", R"({"device_id":12345678})");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.error_code(), "bad_field") << r.body;
  r = http_call(port(), "POST", "/v1/auth/device", R"({"device_id":"short"})");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.error_code(), "bad_field") << r.body;
}

TEST_F(http_test, body_over_http_body_max_is_413) {
  std::string big = R"({"device_id":"device-abcdefgh","pad":")" + std::string(2 << 20, 'x') + "\"}";
  auto r = http_call(port(), "POST", "/v1/auth/device", big);
  EXPECT_EQ(r.status, 413) << r.error;
  EXPECT_EQ(r.error_code(), "too_large") << r.body;
  EXPECT_EQ(http_call(port(), "GET", "/health").status, 200);
}

TEST_F(http_test, error_bodies_have_code_and_message) {
  auto r = http_call(port(), "GET", "/v1/account");
  EXPECT_EQ(r.status, 401);
  auto v = r.json();
  ASSERT_TRUE(v.is_object()) << r.body;
  EXPECT_EQ(str(at(v, "error.code")), "unauthorized");
  EXPECT_TRUE(at(v, "error.message").is_string());
}

TEST_F(http_test, unknown_game_is_404) {
  auto p = make_player(port(), "Seeker");
  auto r = http_call(port(), "GET", "/v1/games/doesnotexist", {}, bearer(p.token));
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(r.error_code(), "not_found") << r.body;
}

TEST_F(http_test, account_games_validates_limit) {
  auto p = make_player(port(), "Lister");
  auto r = http_call(port(), "GET", "/v1/accounts/1/games?limit=0", {}, bearer(p.token));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.error_code(), "bad_field");
  r = http_call(port(), "GET", "/v1/accounts/1/games", {}, bearer(p.token));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(at(r.json(), "games").as_array().empty()) << r.body;
}

TEST_F(http_test, json_content_type_with_charset_is_accepted) {
  auto r = http_call(port(), "POST", "/v1/auth/device", R"({"device_id":"device-charset-1"})",
                     {{"Content-Type", "application/json; charset=utf-8"}});
  EXPECT_EQ(r.status, 201) << r.body;
}

// RFC 7231 3.1.1.1: media type names are case-insensitive.
TEST_F(http_test, json_content_type_is_case_insensitive) {
  auto r = http_call(port(), "POST", "/v1/auth/device", R"({"device_id":"device-case-type"})",
                     {{"Content-Type", "Application/JSON"}});
  EXPECT_EQ(r.status, 201) << r.body;
}

TEST_F(http_test, oversize_headers_are_431) {
  auto r = http_call(port(), "GET", "/health", {}, {{"X-Padding", std::string(20000, 'p')}});
  EXPECT_EQ(r.status, 431) << r.error << " " << r.body;
  EXPECT_EQ(r.error_code(), "too_large") << r.body;
  EXPECT_EQ(http_call(port(), "GET", "/health").status, 200);
}

TEST_F(http_test, garbage_request_is_400) {
  namespace asio = boost::asio;
  asio::io_context ioc;
  asio::ip::tcp::socket sock(ioc);
  sock.connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port())});
  asio::write(sock, asio::buffer(std::string("\x01\x02 NOT HTTP AT ALL\r\n\r\n")));
  std::string all;
  boost::system::error_code ec;
  char buf[4096];
  while (!ec) {
    auto n = sock.read_some(asio::buffer(buf), ec);
    all.append(buf, n);
  }
  EXPECT_EQ(all.rfind("HTTP/1.1 400", 0), 0u) << all;
  EXPECT_NE(all.find("bad_message"), std::string::npos) << all;
  EXPECT_EQ(http_call(port(), "GET", "/health").status, 200);
}

TEST_F(http_test, websocket_upgrade_elsewhere_is_404) {
  auto p = login_device(port(), "device-upgrade-path");
  auto r = http_call(port(), "GET", "/chat?token=" + url_encode(p.token), {},
                     {{"Connection", "Upgrade"},
                      {"Upgrade", "websocket"},
                      {"Sec-WebSocket-Version", "13"},
                      {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}});
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(r.error_code(), "not_found");
}

TEST_F(http_test, keep_alive_serves_several_requests_on_one_connection) {
  // Two pipelined requests on one socket, answered in order.
  namespace asio = boost::asio;
  asio::io_context ioc;
  asio::ip::tcp::socket sock(ioc);
  sock.connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port())});
  std::string req =
      "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /v1/nicknames/Someone HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  asio::write(sock, asio::buffer(req));
  std::string all;
  boost::system::error_code ec;
  char buf[4096];
  while (!ec) {
    auto n = sock.read_some(asio::buffer(buf), ec);
    all.append(buf, n);
  }
  auto first = all.find("HTTP/1.1 200");
  auto second = all.find("HTTP/1.1 200", first + 1);
  EXPECT_NE(first, std::string::npos) << all;
  EXPECT_NE(second, std::string::npos) << all;
  EXPECT_LT(all.find("healthy"), all.find("available")) << all;
}

TEST(http_limits_test, max_connections_refuses_the_excess_and_recovers) {
  server_process srv({"limits.max_connections=2"});
  auto a = make_player(srv.port(), "ConnA");
  auto b = make_player(srv.port(), "ConnB");
  auto wa = std::make_unique<ws_client>(srv.port(), a.token);
  wa->hello();
  ws_client wb(srv.port(), b.token);
  wb.hello();
  // Both slots are taken: a third connection is closed at once.
  auto r = http_call(srv.port(), "GET", "/health", {}, {}, 2s);
  EXPECT_EQ(r.status, 0) << "a third connection was served: " << r.body;
  // Free a slot; the server notices the close, and then serves again.
  wa->close();
  bool served = false;
  for (int i = 0; i < 100 && !served; ++i) {
    served = http_call(srv.port(), "GET", "/health", {}, {}, 1s).status == 200;
    if (!served) std::this_thread::sleep_for(20ms);  // polling for the slot, bounded
  }
  EXPECT_TRUE(served) << "a freed connection slot was never reused";
  EXPECT_TRUE(wb.ping_ok());
}

}  // namespace
}  // namespace maratang::it
