// hello {"batch": true}: the server may pack several envelopes, newline-separated, into one
// WebSocket message. Nothing may be lost, reordered or mangled, and clients that did not ask must
// keep getting one envelope per message (the harness fails any test where they do not).
#include <gtest/gtest.h>

#include "harness.hpp"

namespace maratang::it {
namespace {

const std::vector<std::string> kFast = {"limits.ws_rate=100000", "limits.ws_burst=100000"};

TEST(batch_test, a_batching_client_gets_every_event_in_order) {
  server_process srv(kFast);
  auto batcher_acc = make_player(srv.port(), "Batcher");
  ws_client batcher(srv.port(), batcher_acc.token);
  batcher.hello(true);
  auto adder = seat_players(srv.port(), {"Adder"});
  auto snap =
      snapshot_of_reply(batcher.call("room.create", {{"mode", "test.counter"}, {"name", "Batch"}}));
  adder[0].ws->call("room.join", {{"room_id", at(snap, "id")}});
  adder[0].ws->call("room.ready", {{"ready", true}});
  batcher.call("room.start");

  // The adder pipelines 300 adds in bursts of 30.
  const int total = 300;
  auto& ws = *adder[0].ws;
  for (int sent = 0; sent < total;) {
    std::int64_t last = 0;
    for (int i = 0; i < 30; ++i, ++sent)
      last = ws.send_request("test.counter.add", {{"n", 1}});
    ASSERT_TRUE(ws.recv_until([last](const json::object& f) {
      return f.contains("id") && f.at("id") == json::value(last);
    }));
    ws.pending().clear();
  }
  // The batcher sees every total, 1..300, in order.
  for (int expect = 1; expect <= total; ++expect) {
    auto ev = batcher.recv_until("test.counter.total");
    ASSERT_TRUE(ev) << "missing total " << expect;
    ASSERT_EQ(num(at(*ev, "data.total")), expect);
  }
  EXPECT_EQ(batcher.count_received("test.counter.private"), 0u);
  EXPECT_LT(batcher.messages_received(), batcher.history().size())
      << "under load a batching client should get several envelopes per message";
  EXPECT_EQ(ws.messages_received(), ws.history().size());
  EXPECT_TRUE(batcher.ping_ok());
}

TEST(batch_test, batched_replies_keep_their_ids_and_order) {
  server_process srv(kFast);
  auto p = make_player(srv.port(), "Ids");
  ws_client ws(srv.port(), p.token);
  ws.hello(true);
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 100; ++i)
    ids.push_back(ws.send_request("time.sync", {{"client_send", i}}));
  for (int i = 0; i < 100; ++i) {
    auto f = ws.recv();
    ASSERT_TRUE(f);
    EXPECT_EQ(num(at(*f, "id")), ids[static_cast<std::size_t>(i)]);
    EXPECT_EQ(num(at(*f, "data.client_send")), i);
  }
}

TEST(batch_test, batch_must_be_a_boolean) {
  server_process srv;
  auto p = make_player(srv.port(), "Flag");
  ws_client ws(srv.port(), p.token);
  auto f = ws.request("hello", {{"version", 1}, {"batch", "yes"}});
  EXPECT_EQ(error_code(f), "bad_field") << json::serialize(f);
  ws.hello();
  EXPECT_TRUE(ws.ping_ok());
}

TEST(batch_test, a_batching_client_is_told_when_it_is_replaced) {
  server_process srv;
  auto p = make_player(srv.port(), "Twice");
  ws_client first(srv.port(), p.token);
  first.hello(true);
  ws_client second(srv.port(), p.token);
  auto closed = first.expect("session.closed");
  EXPECT_EQ(str(at(closed, "data.reason")), "replaced");
  EXPECT_TRUE(first.wait_closed());
  second.hello(true);
  EXPECT_TRUE(second.ping_ok());
}

}  // namespace
}  // namespace maratang::it
