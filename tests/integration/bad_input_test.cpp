// Hostile and careless clients on a live WebSocket. Each bad frame must be answered with an error
// frame carrying the right code, and the same connection must keep working afterwards (proven by a
// time.sync round trip) — except where RFC 6455 or resource limits say to close.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <thread>

#include "harness.hpp"

namespace maratang::it {
namespace {

class bad_input_test : public ::testing::Test {
 protected:
  // Starts a server with `sets` and connects one player that has said hello.
  void start(std::vector<std::string> sets = {}) {
    srv_ = std::make_unique<server_process>(std::move(sets));
    p_ = make_player(srv_->port(), "Tester");
    ws_ = std::make_unique<ws_client>(srv_->port(), p_.token);
    hello_ = ws_->hello();
  }
  int port() const { return srv_->port(); }

  // Sends `text`; the next frame must be an error with `code`, and the connection must still
  // answer a time.sync afterwards.
  void expect_error(std::string_view text, std::string_view code, bool binary = false) {
    SCOPED_TRACE(std::string(text.substr(0, 120)));
    ASSERT_TRUE(binary ? ws_->send_raw_binary(text) : ws_->send_raw_text(text));
    auto f = ws_->recv();
    ASSERT_TRUE(f) << "no answer" << (ws_->closed() ? " (closed: " + ws_->read_error() + ")" : "");
    EXPECT_EQ(at(*f, "ok"), json::value(false)) << json::serialize(*f);
    EXPECT_EQ(error_code(*f), code) << json::serialize(*f);
    EXPECT_TRUE(at(*f, "error.message").is_string()) << json::serialize(*f);
    EXPECT_TRUE(ws_->ping_ok()) << "the connection stopped working after the bad frame";
  }

  std::unique_ptr<server_process> srv_;
  player p_;
  std::unique_ptr<ws_client> ws_;
  json::object hello_;
};

TEST_F(bad_input_test, malformed_json_is_bad_json) {
  start();
  for (const char* text : {"{\"type\":\"time.sync\",", "not json", "", "{\"type\":\"x\"}}",
                           "{'type':'time.sync'}", "{\"type\":\"time.sync\",}"}) {
    expect_error(text, "bad_json");
  }
  // Unreadable frames are answered with type "error" and no id.
  ws_->send_raw_text("{\"id\": 5, ");
  auto f = ws_->recv();
  ASSERT_TRUE(f);
  EXPECT_EQ(str(at(*f, "type")), "error");
  EXPECT_FALSE(f->contains("id")) << json::serialize(*f);
  // Errors are counted by code.
  auto m = http_call(port(), "GET", "/metrics");
  EXPECT_NE(m.body.find("maratang_errors_total{code=\"bad_json\"} 7\n"), std::string::npos)
      << m.body;
}

TEST_F(bad_input_test, frames_that_are_not_envelopes_are_bad_message) {
  start();
  for (const char* text :
       {"[1,2,3]", "\"hello\"", "42", "null", "{}", "{\"type\":5}", "{\"type\":\"\"}",
        "{\"type\":\"time.sync\",\"data\":[1]}", "{\"type\":\"time.sync\",\"data\":\"x\"}",
        "{\"type\":\"time.sync\",\"id\":{\"a\":1},\"data\":{\"client_send\":1}}",
        "{\"type\":\"time.sync\",\"id\":\"\",\"data\":{\"client_send\":1}}",
        "{\"type\":\"time.sync\",\"id\":1.5,\"data\":{\"client_send\":1}}"}) {
    expect_error(text, "bad_message");
  }
  std::string long_id = "{\"type\":\"time.sync\",\"id\":\"" + std::string(65, 'i') +
                        "\",\"data\":{\"client_send\":1}}";
  expect_error(long_id, "bad_message");
}

TEST_F(bad_input_test, unknown_type_is_unknown_type_with_the_id_echoed) {
  start();
  ws_->send_raw_text(R"({"type":"no.such.thing","id":"req-7","data":{}})");
  auto f = ws_->recv();
  ASSERT_TRUE(f);
  EXPECT_EQ(str(at(*f, "type")), "no.such.thing");
  EXPECT_EQ(at(*f, "id"), json::value("req-7"));
  EXPECT_EQ(error_code(*f), "unknown_type");
  EXPECT_TRUE(ws_->ping_ok());
  ws_->send_raw_text(R"({"type":"room.explode","id":12345678901})");
  f = ws_->recv();
  ASSERT_TRUE(f);
  EXPECT_EQ(at(*f, "id"), json::value(12345678901));
  EXPECT_EQ(error_code(*f), "unknown_type");
  // Server-to-client event types are not requests either.
  expect_error(R"({"type":"room.member_joined","data":{"member":{}}})", "unknown_type");
  expect_error(R"({"type":"test.counter.total","data":{"total":1}})", "unknown_type");
}

TEST_F(bad_input_test, id_and_data_are_optional) {
  start();
  // No id: the reply has none either.
  ASSERT_TRUE(ws_->send_raw_text(R"({"type":"time.sync","data":{"client_send":5}})"));
  auto f = ws_->recv();
  ASSERT_TRUE(f);
  EXPECT_EQ(error_code(*f), "") << json::serialize(*f);
  EXPECT_FALSE(f->contains("id")) << json::serialize(*f);
  EXPECT_EQ(num(at(*f, "data.client_send")), 5);
  // No data, or null data, for a message without required fields.
  for (const char* text :
       {R"({"type":"room.list","id":"a"})", R"({"type":"room.list","id":"b","data":null})"}) {
    ASSERT_TRUE(ws_->send_raw_text(text));
    f = ws_->recv();
    ASSERT_TRUE(f);
    EXPECT_EQ(error_code(*f), "") << text << ": " << json::serialize(*f);
    EXPECT_TRUE(has(*f, "data.rooms")) << json::serialize(*f);
  }
  // Ids of every allowed kind come back as sent.
  for (const char* id : {"0", "-7", "18446744073709551615", "\"x\"", "\"한글-id\""}) {
    ASSERT_TRUE(ws_->send_raw_text(std::string(R"({"type":"room.list","id":)") + id + "}"));
    f = ws_->recv();
    ASSERT_TRUE(f);
    EXPECT_EQ(at(*f, "id"), json::parse(id)) << json::serialize(*f);
  }
}

TEST_F(bad_input_test, missing_field_is_missing_field) {
  start();
  expect_error(R"({"type":"time.sync","id":1,"data":{}})", "missing_field");
  expect_error(R"({"type":"time.sync","id":2})", "missing_field");
  expect_error(R"({"type":"time.sync","id":3,"data":{"client_send":null}})", "missing_field");
  expect_error(R"({"type":"room.create","data":{"mode":"test.counter"}})", "missing_field");
  expect_error(R"({"type":"room.chat","data":{}})", "missing_field");
  expect_error(R"({"type":"room.ready","data":{}})", "missing_field");
}

TEST_F(bad_input_test, mistyped_or_out_of_range_field_is_bad_field) {
  start();
  expect_error(R"({"type":"time.sync","id":1,"data":{"client_send":"now"}})", "bad_field");
  expect_error(R"({"type":"time.sync","id":1,"data":{"client_send":true}})", "bad_field");
  expect_error(R"({"type":"time.sync","id":1,"data":{"client_send":1.5}})", "bad_field");
  expect_error(R"({"type":"time.sync","id":1,"data":{"client_send":-1}})", "bad_field");
  expect_error(R"({"type":"room.ready","data":{"ready":"yes"}})", "bad_field");
  expect_error(R"({"type":"room.kick","data":{"player":0}})", "bad_field");
  expect_error(R"({"type":"room.create","data":{"mode":"test.counter","name":""}})", "bad_field");
  std::string long_name(41, 'n');
  expect_error(
      R"({"type":"room.create","data":{"mode":"test.counter","name":")" + long_name + "\"}}",
      "bad_field");
  expect_error(R"({"type":"room.chat","data":{"text":")" + std::string(501, 'c') + "\"}}",
               "bad_field");
  // Field lengths count characters, not bytes: 500 Hangul syllables (1500 bytes) are allowed.
  std::string korean;
  for (int i = 0; i < 500; ++i)
    korean += "가";
  ws_->send_raw_text(R"({"type":"room.chat","id":9,"data":{"text":")" + korean + "\"}}");
  auto f = ws_->recv();
  ASSERT_TRUE(f);
  EXPECT_EQ(error_code(*f), "not_in_room") << "length accepted, then refused as not in a room";
  expect_error(R"({"type":"hello","data":{"version":"1"}})", "bad_field");
  expect_error(R"({"type":"hello","data":{"version":1,"client":")" + std::string(65, 'v') + "\"}}",
               "bad_field");
}

TEST_F(bad_input_test, huge_numbers_are_refused) {
  start();
  for (const char* n : {"1e400", "-1e400", "123456789012345678901234567890", "18446744073709551615",
                        "9223372036854775808", "1e18"}) {
    std::string text =
        std::string(R"({"type":"time.sync","id":"big","data":{"client_send":)") + n + "}}";
    SCOPED_TRACE(n);
    ASSERT_TRUE(ws_->send_raw_text(text));
    auto f = ws_->recv();
    ASSERT_TRUE(f);
    auto code = error_code(*f);
    EXPECT_TRUE(code == "bad_json" || code == "bad_field") << json::serialize(*f);
    EXPECT_TRUE(ws_->ping_ok());
  }
  // The largest int64 is a valid integer.
  ws_->send_raw_text(
      R"({"type":"time.sync","id":"max","data":{"client_send":9223372036854775807}})");
  auto f = ws_->recv();
  ASSERT_TRUE(f);
  EXPECT_EQ(error_code(*f), "") << json::serialize(*f);
  EXPECT_EQ(at(*f, "data.client_send"), json::value(INT64_MAX));
}

TEST_F(bad_input_test, deep_nesting_is_too_deep) {
  start();
  std::string deep = R"({"type":"time.sync","id":"deep","data":{"client_send":1,"x":)" +
                     std::string(5000, '[') + std::string(5000, ']') + "}}";
  ASSERT_TRUE(ws_->send_raw_text(deep));
  auto f = ws_->recv();
  ASSERT_TRUE(f);
  EXPECT_EQ(error_code(*f), "too_deep") << json::serialize(*f);
  EXPECT_TRUE(ws_->ping_ok());
  expect_error(std::string(5000, '['), "too_deep");
  expect_error(std::string(5000, '{'), "bad_json");  // an object needs a key: never deep
  // Ignored fields may nest a little.
  ws_->send_raw_text(R"({"type":"time.sync","id":"ok","data":{"client_send":1,"x":[[[[1]]]]}})");
  f = ws_->recv();
  ASSERT_TRUE(f);
  EXPECT_EQ(error_code(*f), "") << json::serialize(*f);
}

TEST_F(bad_input_test, oversize_message_is_too_large) {
  start({"limits.ws_message_max=1024"});
  EXPECT_EQ(num(at(hello_, "limits.max_message_bytes")), 1024);
  auto padded = [](std::size_t total) {
    std::string head = R"({"type":"time.sync","id":"pad","data":{"client_send":1,"pad":")";
    std::string tail = "\"}}";
    return head + std::string(total - head.size() - tail.size(), 'p') + tail;
  };
  // Exactly at the limit: fine.
  ASSERT_TRUE(ws_->send_raw_text(padded(1024)));
  auto f = ws_->recv();
  ASSERT_TRUE(f);
  EXPECT_EQ(error_code(*f), "") << "1024 bytes is within a 1024-byte limit: "
                                << json::serialize(*f);
  // One byte over, a few KiB over, and far over (the server discards it as it streams in).
  for (std::size_t size : {std::size_t{1025}, std::size_t{5000}, std::size_t{3} << 20}) {
    SCOPED_TRACE(size);
    ASSERT_TRUE(ws_->send_raw_text(padded(size)));
    f = ws_->recv();
    ASSERT_TRUE(f);
    EXPECT_EQ(error_code(*f), "too_large") << json::serialize(*f);
    EXPECT_TRUE(ws_->ping_ok());
  }
  // Binary frames count the same.
  ASSERT_TRUE(ws_->send_raw_binary(padded(2000)));
  f = ws_->recv();
  ASSERT_TRUE(f);
  EXPECT_EQ(error_code(*f), "too_large") << json::serialize(*f);
  EXPECT_TRUE(ws_->ping_ok());
  EXPECT_EQ(http_call(port(), "GET", "/health").status, 200);
}

TEST_F(bad_input_test, binary_frames_carry_json_and_invalid_utf8_there_is_bad_json) {
  start();
  // A binary frame holding a valid request is served like a text frame.
  ASSERT_TRUE(ws_->send_raw_binary(R"({"type":"time.sync","id":"bin","data":{"client_send":7}})"));
  auto f = ws_->recv();
  ASSERT_TRUE(f);
  EXPECT_EQ(error_code(*f), "") << json::serialize(*f);
  EXPECT_EQ(num(at(*f, "data.client_send")), 7);
  // Invalid UTF-8 inside a JSON string, in a binary frame: bad_json, and the socket stays.
  expect_error("{\"type\":\"room.chat\",\"data\":{\"text\":\"\xff\xfe\"}}", "bad_json", true);
  expect_error("{\"type\":\"room.chat\",\"data\":{\"text\":\"\xc0\xaf\"}}", "bad_json", true);
  expect_error("{\"type\":\"room.chat\",\"data\":{\"text\":\"\xed\xa0\x80\"}}", "bad_json", true);
  // Binary that does not start with `{` is a mode's binary encoding (Arena's inputs): bytes that
  // are none of them are bad_message.
  expect_error(std::string("\x00\x01\x02", 3), "bad_message", true);
}

TEST_F(bad_input_test, invalid_utf8_in_a_text_frame_closes_with_1007) {
  start();
  ASSERT_TRUE(ws_->send_raw_text("{\"type\":\"room.chat\",\"data\":{\"text\":\"\xff\xfe\"}}"));
  ASSERT_TRUE(ws_->wait_closed()) << "RFC 6455 8.1: the endpoint must fail the connection";
  EXPECT_EQ(ws_->close_code(), 1007)
      << "close reason: " << ws_->close_reason() << ", read error: " << ws_->read_error();
  // Only that connection: the server is fine.
  EXPECT_EQ(http_call(port(), "GET", "/health").status, 200);
  ws_client again(port(), p_.token);
  again.hello();
  EXPECT_TRUE(again.ping_ok());
}

TEST_F(bad_input_test, hello_comes_first_and_once) {
  start();
  ws_client c(port(), login_device(port(), "device-order-1").token);
  for (const char* type : {"time.sync", "room.list", "room.start", "test.counter.add"}) {
    auto f = c.request(type, {{"client_send", 1}, {"n", 1}});
    EXPECT_EQ(error_code(f), "hello_required") << type << ": " << json::serialize(f);
  }
  auto f = c.request("hello", {{"version", 2}});
  EXPECT_EQ(error_code(f), "unsupported_version") << json::serialize(f);
  f = c.request("hello", {{"version", 1}});
  EXPECT_EQ(error_code(f), "") << "hello after a refused version: " << json::serialize(f);
  f = c.request("hello", {{"version", 1}});
  EXPECT_EQ(error_code(f), "out_of_order") << "second hello: " << json::serialize(f);
  EXPECT_TRUE(c.ping_ok());
}

// limits.handshake_timeout_ms is documented as "WebSocket opening/closing handshake and hello
// timeout": a socket that never says hello must not hold its connection slot forever. (The client
// keeps a read pending, so it answers keep-alive pings like any live client.)
TEST_F(bad_input_test, a_socket_that_never_says_hello_is_closed) {
  start({"limits.handshake_timeout_ms=300"});
  ws_client silent(port(), login_device(port(), "device-never-hello").token);
  EXPECT_TRUE(silent.wait_closed(3s))
      << "still open 3 s after connecting without hello (hello timeout 300 ms)";
  EXPECT_TRUE(ws_->ping_ok());
}

TEST_F(bad_input_test, room_actions_outside_a_room_are_not_in_room) {
  start();
  for (auto [type, data] : std::vector<std::pair<const char*, json::object>>{
           {"room.start", {}},
           {"room.leave", {}},
           {"room.ready", {{"ready", true}}},
           {"room.chat", {{"text", "anyone?"}}},
           {"room.kick", {{"player", 1}}},
           {"room.transfer", {{"player", 1}}},
           {"test.counter.add", {{"n", 1}}},
           {"test.counter.finish", {}},
       }) {
    auto f = ws_->request(type, data);
    EXPECT_EQ(error_code(f), "not_in_room") << type << ": " << json::serialize(f);
    EXPECT_EQ(at(f, "type"), json::value(type));
    EXPECT_TRUE(ws_->ping_ok());
  }
  auto f = ws_->request("room.join", {{"room_id", "nosuchroom"}});
  EXPECT_EQ(error_code(f), "unknown_room") << json::serialize(f);
}

TEST_F(bad_input_test, acting_in_a_room_you_are_not_in) {
  start();
  // Two players play in one room; an outsider tries to act in it.
  auto a = make_player(port(), "InsideA");
  auto b = make_player(port(), "InsideB");
  ws_client wa(port(), a.token), wb(port(), b.token);
  wa.hello();
  wb.hello();
  auto snap = snapshot_of_reply(wa.call("room.create", {{"mode", "test.counter"}, {"name", "In"}}));
  wb.call("room.join", {{"room_id", at(snap, "id")}});
  wb.call("room.ready", {{"ready", true}});
  wa.call("room.start");
  auto f = ws_->request("test.counter.add", {{"n", 1}, {"room_id", at(snap, "id")}});
  EXPECT_EQ(error_code(f), "not_in_room") << json::serialize(f);
  f = ws_->request("room.kick", {{"player", b.id}});
  EXPECT_EQ(error_code(f), "not_in_room") << json::serialize(f);
  f = ws_->request("room.chat", {{"text", "let me in"}});
  EXPECT_EQ(error_code(f), "not_in_room") << json::serialize(f);
  EXPECT_TRUE(ws_->ping_ok());
  // Nothing reached the room.
  wb.call("room.chat", {{"text", "barrier"}});
  wa.expect("room.chat");
  EXPECT_EQ(wa.count_received("room.chat"), 1u);
  auto add = wa.call("test.counter.add", {{"n", 1}});
  EXPECT_EQ(num(at(add, "total")), 1);
}

TEST_F(bad_input_test, game_message_with_bad_fields_in_a_room) {
  start();
  auto b = make_player(port(), "Partner");
  ws_client wb(port(), b.token);
  wb.hello();
  auto snap =
      snapshot_of_reply(ws_->call("room.create", {{"mode", "test.counter"}, {"name", "Fields"}}));
  wb.call("room.join", {{"room_id", at(snap, "id")}});
  // Before the game: the message is known but there is no game.
  auto f = ws_->request("test.counter.add", {{"n", 1}});
  EXPECT_EQ(error_code(f), "no_game") << json::serialize(f);
  wb.call("room.ready", {{"ready", true}});
  ws_->call("room.start");
  f = ws_->request("test.counter.add", json::object{});
  EXPECT_EQ(error_code(f), "missing_field") << json::serialize(f);
  f = ws_->request("test.counter.add", {{"n", "five"}});
  EXPECT_EQ(error_code(f), "bad_field") << json::serialize(f);
  f = ws_->request("test.counter.add", {{"n", 1.5}});
  EXPECT_EQ(error_code(f), "bad_field") << json::serialize(f);
  ASSERT_TRUE(ws_->send_raw_text(
      R"({"type":"test.counter.add","id":"huge","data":{"n":123456789012345678901234567890}})"));
  auto h = ws_->recv_until([](const json::object& fr) {
    return fr.contains("id") && fr.at("id") == json::value("huge");
  });
  ASSERT_TRUE(h);
  EXPECT_TRUE(error_code(*h) == "bad_field" || error_code(*h) == "bad_json") << json::serialize(*h);
  EXPECT_EQ(num(at(ws_->call("test.counter.add", {{"n", 2}}), "total")), 2)
      << "no bad add changed the total";
}

TEST_F(bad_input_test, rate_limit_refuses_the_excess_then_closes_a_flood) {
  start({"limits.ws_rate=5", "limits.ws_burst=5", "server.shutdown_grace_ms=1000"});
  EXPECT_EQ(num(at(hello_, "limits.messages_per_second")), 5);
  // The bucket holds 5; hello took one. Send 8 at once.
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 8; ++i)
    ids.push_back(ws_->send_request("time.sync", {{"client_send", i}}));
  int ok = 0, limited = 0;
  for (auto id : ids) {
    auto f = ws_->recv_until([id](const json::object& fr) {
      return fr.contains("id") && fr.at("id") == json::value(id);
    });
    ASSERT_TRUE(f) << "every request is answered, even a refused one (id " << id << ")";
    auto code = error_code(*f);
    if (code.empty()) {
      ++ok;
    } else {
      EXPECT_EQ(code, "rate_limited") << json::serialize(*f);
      EXPECT_EQ(str(at(*f, "type")), "time.sync") << "the refused frame's type is echoed";
      ++limited;
    }
  }
  EXPECT_GE(ok, 4);
  EXPECT_LE(ok, 6);
  EXPECT_GE(limited, 2);
  EXPECT_FALSE(ws_->closed());

  // The bucket refills at 5/s; a refused request costs a token too. Probing every 500 ms gains
  // 1.5 tokens a probe, so the connection gets through again within a few probes.
  bool recovered = false;
  for (int i = 0; i < 10 && !recovered; ++i) {
    std::this_thread::sleep_for(500ms);  // pacing at the configured rate, not a wait for luck
    recovered = ws_->ping_ok();
  }
  EXPECT_TRUE(recovered) << "the connection never recovered from rate limiting";

  // A flood far beyond the budget is cut off.
  for (int i = 0; i < 100 && !ws_->closed(); ++i)
    ws_->send_request("time.sync", {{"client_send", i}});
  auto closed = ws_->recv_until("session.closed");
  ASSERT_TRUE(closed) << "a flooding client is closed with session.closed";
  EXPECT_EQ(str(at(*closed, "data.reason")), "rate_limited");
  EXPECT_TRUE(ws_->wait_closed());

  // Other clients are unaffected.
  auto other = make_player(port(), "Calm");
  ws_client calm(port(), other.token);
  calm.hello();
  EXPECT_TRUE(calm.ping_ok());
}

// The server's side of a connection it closed for flooding must be torn down like any other:
// its room sees the player disconnect, the connection gauge goes back down, and shutdown does not
// wait for it.
TEST_F(bad_input_test, a_client_closed_for_flooding_is_really_disconnected) {
  start({"limits.ws_rate=5", "limits.ws_burst=5", "server.shutdown_grace_ms=2000"});
  auto other = make_player(port(), "Witness");
  ws_client witness(port(), other.token);
  witness.hello();
  auto snap =
      snapshot_of_reply(ws_->call("room.create", {{"mode", "test.counter"}, {"name", "F"}}));
  witness.call("room.join", {{"room_id", at(snap, "id")}});

  for (int i = 0; i < 100 && !ws_->closed(); ++i)
    ws_->send_request("time.sync", {{"client_send", i}});
  auto closed = ws_->recv_until("session.closed");
  ASSERT_TRUE(closed);
  EXPECT_EQ(str(at(*closed, "data.reason")), "rate_limited");
  ASSERT_TRUE(ws_->wait_closed());

  auto gone = witness.recv_until(
      [&](const json::object& f) {
        return str(at(f, "type")) == "room.member_connection" &&
               num(at(f, "data.player")) == p_.id && at(f, "data.connected") == json::value(false);
      },
      3s);
  EXPECT_TRUE(gone) << "the room never learned that the flooder's connection is gone";

  bool gauge_down = false;
  std::string body;
  for (int i = 0; i < 100 && !gauge_down; ++i) {
    body = http_call(port(), "GET", "/metrics").body;
    gauge_down = body.find("\nmaratang_ws_connections 1\n") != std::string::npos;
    if (!gauge_down) std::this_thread::sleep_for(20ms);  // polling, bounded (2 s)
  }
  EXPECT_TRUE(gauge_down) << "maratang_ws_connections never went back to 1:\n" << body;

  witness.close();
  auto e = srv_->stop(10s);
  EXPECT_EQ(e.code, 0);
  EXPECT_LT(e.took.count(), 2000) << "shutdown waited " << e.took.count()
                                  << " ms for connections that were already closed";
}

// A client that stops reading is dropped when its queue passes the hard bound (4 x
// limits.send_queue_max messages) or stops draining for limits.slow_consumer_ms; clients that read
// are not, however slowly the machine runs them. Deterministic: the talker never gets more than a
// window of lines ahead of the slowest reader, so a reader's queue stays under send_queue_max
// whatever the scheduling, while the stalled client's grows until it passes the hard bound.
TEST_F(bad_input_test, client_that_stops_reading_is_dropped_and_others_carry_on) {
  start({"limits.send_queue_max=256", "limits.ws_rate=100000", "limits.ws_burst=100000",
         "limits.handshake_timeout_ms=1000"});
  // The stalled player has a tiny receive buffer, so the server's queue for it fills quickly.
  auto stalled = make_player(port(), "Stalled");
  auto members = seat_players(port(), {"Talker", "Read1", "Read2"});
  auto snap = snapshot_of_reply(
      members[0].ws->call("room.create", {{"mode", "test.counter"}, {"name", "Busy"}}));
  for (int i : {1, 2})
    members[i].ws->call("room.join", {{"room_id", at(snap, "id")}});
  ws_client slow(port(), stalled.token, {token_via::query, 4096});
  slow.hello();
  slow.call("room.join", {{"room_id", at(snap, "id")}});
  for (auto& m : members)
    m.ws->pending().clear();
  // From here on `slow` reads nothing.

  auto dropped = [&](const json::object& f) {
    return str(at(f, "type")) == "room.member_connection" && !f.contains("id") &&
           num(at(f, "data.player")) == stalled.id && at(f, "data.connected") == json::value(false);
  };
  auto is_chat = [](const json::object& f) {
    return str(at(f, "type")) == "room.chat" && !f.contains("id");
  };
  constexpr int kWindow = 64;  // lines the talker may be ahead of a reader (< send_queue_max)
  std::atomic<bool> stop{false};
  std::atomic<int> sent{0};
  std::array<std::atomic<int>, 3> heard{};  // lines each member has read
  std::array<std::atomic<bool>, 3> saw{};   // each member saw the stalled client drop
  std::string text;
  for (int i = 0; i < 500; ++i)
    text += "말";  // the longest chat line: 500 characters, 1500 bytes
  std::vector<std::thread> threads;
  for (std::size_t i : {1u, 2u}) {
    threads.push_back(spawn([&, i] {
      auto& ws = *members[i].ws;
      auto deadline = std::chrono::steady_clock::now() + 60s;
      while (!stop && std::chrono::steady_clock::now() < deadline && !ws.closed()) {
        auto f = ws.recv(100ms);
        if (!f) continue;
        if (is_chat(*f)) heard[i] += 1;
        if (dropped(*f)) saw[i] = true;
        ws.pending().clear();
      }
    }));
  }
  {
    auto& ws = *members[0].ws;
    auto deadline = std::chrono::steady_clock::now() + 60s;
    while (!(saw[0] && saw[1] && saw[2]) && std::chrono::steady_clock::now() < deadline &&
           !ws.closed()) {
      std::int64_t last = 0;
      for (int k = 0; k < 16; ++k)
        last = ws.send_request("room.chat", {{"text", text}});
      sent += 16;
      auto reply = ws.recv_until([&](const json::object& f) {
        if (dropped(f)) saw[0] = true;
        return f.contains("id") && f.at("id") == json::value(last);
      });
      ws.pending().clear();
      if (!reply) break;
      // Wait (bounded) until both readers are within the window.
      while (std::chrono::steady_clock::now() < deadline &&
             std::min(heard[1].load(), heard[2].load()) < sent - kWindow)
        std::this_thread::sleep_for(1ms);  // polling the readers' counters
    }
  }
  stop = true;
  for (auto& t : threads)
    t.join();
  ASSERT_TRUE(saw[0]) << "after " << sent << " chat lines, the stalled client was never dropped";
  for (std::size_t i = 0; i < members.size(); ++i) {
    EXPECT_TRUE(saw[i]) << members[i].acc.nickname << " never saw the stalled client drop";
    EXPECT_FALSE(members[i].ws->closed()) << members[i].acc.nickname << " was dropped too";
  }

  // The others keep playing and hearing each other.
  for (auto& m : members)
    m.ws->pending().clear();
  members[1].ws->call("room.chat", {{"text", "still here"}});
  for (auto& m : members) {
    auto f = m.ws->recv_until([](const json::object& fr) {
      return str(at(fr, "type")) == "room.chat" && str(at(fr, "data.text")) == "still here";
    });
    EXPECT_TRUE(f) << m.acc.nickname;
  }
  EXPECT_EQ(http_call(port(), "GET", "/health").status, 200);
  auto m = http_call(port(), "GET", "/metrics");
  EXPECT_NE(m.body.find("\nmaratang_slow_consumer_drops_total 1\n"), std::string::npos) << m.body;

  // The stalled client, reading again, finds its connection ended.
  EXPECT_TRUE(slow.wait_closed(20s)) << "the slow consumer's socket was never closed";
}

// A burst larger than the queue's bound to a client that reads slowly but steadily is not a reason
// to drop it: it is draining (issue 11, item 4b: a reading chatter was dropped in CI). The bound
// here is send_queue_max_bytes (2 MiB; 4 x that drops at once): the burst, about 6.4 MB, is more
// than the bound plus what the sockets' buffers can hold (at most 4 MiB), and less than 4 x the
// bound, so at least 2.4 MB of it waits in the server's queue while the client reads.
TEST_F(bad_input_test, a_client_reading_slowly_through_a_burst_is_not_dropped) {
  start({"limits.send_queue_max=1000000", "limits.send_queue_max_bytes=2097152",
         "limits.ws_rate=100000", "limits.ws_burst=100000"});
  auto members = seat_players(port(), {"Talker"});
  auto snap = snapshot_of_reply(
      members[0].ws->call("room.create", {{"mode", "test.counter"}, {"name", "Burst"}}));
  auto reader = make_player(port(), "Slowpoke");
  ws_client slow(port(), reader.token, {token_via::query, 4096});
  slow.hello();
  slow.call("room.join", {{"room_id", at(snap, "id")}});
  slow.pending().clear();

  constexpr int kLines = 4000;  // about 1.6 KB each
  std::string text;
  for (int i = 0; i < 500; ++i)
    text += "말";
  std::atomic<int> heard{0};
  auto sipper = spawn([&] {
    // Reads steadily, pausing 1 ms every other frame: far slower than the burst arrives.
    auto deadline = std::chrono::steady_clock::now() + 60s;
    while (heard < kLines && std::chrono::steady_clock::now() < deadline && !slow.closed()) {
      auto f = slow.recv(1s);
      if (!f) continue;
      if (str(at(*f, "type")) == "room.chat") heard += 1;
      slow.pending().clear();
      if (heard % 2 == 0) std::this_thread::sleep_for(1ms);  // the slow reader's pace
    }
  });
  auto& ws = *members[0].ws;
  for (int sent = 0; sent < kLines; sent += 20) {
    std::int64_t last = 0;
    for (int k = 0; k < 20; ++k)
      last = ws.send_request("room.chat", {{"text", text}});
    ASSERT_TRUE(ws.recv_until([&](const json::object& f) {
      return f.contains("id") && f.at("id") == json::value(last);
    }));
    ws.pending().clear();
  }
  sipper.join();
  EXPECT_EQ(heard, kLines);
  EXPECT_FALSE(slow.closed()) << "close " << slow.close_code() << " " << slow.close_reason();
  EXPECT_TRUE(slow.ping_ok());
  auto m = http_call(port(), "GET", "/metrics");
  EXPECT_NE(m.body.find("\nmaratang_slow_consumer_drops_total 0\n"), std::string::npos) << m.body;
}

// The documented close for a slow consumer is 1008 "slow_consumer". Here the stalled client starts
// reading again as soon as the server has dropped it (seen in /metrics), before the server's
// timeout cuts the socket, so the close frame can reach it.
TEST_F(bad_input_test, a_slow_consumer_is_closed_with_1008_slow_consumer) {
  start({"limits.send_queue_max=256", "limits.ws_rate=100000", "limits.ws_burst=100000",
         "limits.handshake_timeout_ms=10000"});
  auto stalled = make_player(port(), "Stalled");
  auto chatters = seat_players(port(), {"Talk1", "Talk2"});
  auto snap = snapshot_of_reply(
      chatters[0].ws->call("room.create", {{"mode", "test.counter"}, {"name", "Busy"}}));
  chatters[1].ws->call("room.join", {{"room_id", at(snap, "id")}});
  ws_client slow(port(), stalled.token, {token_via::query, 4096});
  slow.hello();
  slow.call("room.join", {{"room_id", at(snap, "id")}});

  auto drops = [&] { return metric_value(port(), "maratang_slow_consumer_drops_total"); };
  ASSERT_EQ(drops(), 0);
  std::atomic<bool> stop{false};
  std::string text;
  for (int i = 0; i < 500; ++i)
    text += "말";
  std::vector<std::thread> threads;
  for (auto& c : chatters) {
    threads.push_back(spawn([&, ws = c.ws.get()] {
      while (!stop && !ws->closed()) {
        std::int64_t last = 0;
        for (int k = 0; k < 16; ++k)
          last = ws->send_request("room.chat", {{"text", text}});
        if (!ws->recv_until([last](const json::object& f) {
              return f.contains("id") && f.at("id") == json::value(last);
            }))
          break;
        ws->pending().clear();
      }
    }));
  }
  auto until = std::chrono::steady_clock::now() + 20s;
  while (drops() < 1 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(20ms);  // polling the counter, bounded
  stop = true;
  for (auto& t : threads)
    t.join();
  ASSERT_GE(drops(), 1) << "the stalled client was never dropped";

  ASSERT_TRUE(slow.wait_closed(10s));
  EXPECT_EQ(slow.close_code(), 1008) << "read error: " << slow.read_error();
  EXPECT_EQ(slow.close_reason(), "slow_consumer");
  // docs/PROTOCOL.md, session.closed: "Sent just before the server closes this connection
  // (replaced by a newer one, logged out, slow consumer, shutdown)".
  auto closed = slow.recv_until("session.closed", 0ms);
  ASSERT_TRUE(closed) << "no session.closed before the slow_consumer close";
  EXPECT_EQ(str(at(*closed, "data.reason")), "slow_consumer");
  for (auto& c : chatters) {
    auto f = c.ws->recv_until([&](const json::object& fr) {
      return str(at(fr, "type")) == "room.member_connection" &&
             num(at(fr, "data.player")) == stalled.id &&
             at(fr, "data.connected") == json::value(false);
    });
    EXPECT_TRUE(f) << c.acc.nickname;
  }
}

}  // namespace
}  // namespace maratang::it
