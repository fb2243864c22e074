// Presence: a dropped player keeps their seat for rooms.reconnect_grace_ms and gets the room (with
// their private game view) back on hello; after the grace the seat is given up. One socket per
// account: a second connection takes over the first.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "harness.hpp"

namespace maratang::it {
namespace {

// A room with a running test.counter game: seats[0] leads; everyone else joined and readied.
json::object start_game(std::vector<seat>& seats) {
  auto created = seats[0].ws->call("room.create", {{"mode", "test.counter"}, {"name", "R"}});
  auto snap = snapshot_of_reply(created);
  for (std::size_t i = 1; i < seats.size(); ++i) {
    seats[i].ws->call("room.join", {{"room_id", at(snap, "id")}});
    seats[i].ws->call("room.ready", {{"ready", true}});
  }
  seats[0].ws->call("room.start");
  for (auto& s : seats)
    s.ws->expect("room.game_started");
  return snap;
}

std::function<bool(const json::object&)> event_about(std::string type, std::int64_t player) {
  return [type, player](const json::object& f) {
    return str(at(f, "type")) == type && !f.contains("id") && has(f, "data.player") &&
           num(at(f, "data.player")) == player;
  };
}

TEST(reconnect_test, reconnect_within_grace_restores_the_seat_and_private_view) {
  const int grace = 5000;
  server_process srv({"rooms.reconnect_grace_ms=" + std::to_string(grace)});
  auto seats = seat_players(srv.port(), {"Ari", "Bae", "Cho"});
  auto snap = start_game(seats);
  auto& bae = seats[1];
  bae.ws->call("test.counter.add", {{"n", 5}});

  // Bae's connection drops without a close handshake.
  auto dropped_at = now_ms();
  bae.ws->drop();
  for (int i : {0, 2}) {
    auto ev = seats[i].ws->recv_until(event_about("room.member_connection", bae.acc.id));
    ASSERT_TRUE(ev) << seats[i].acc.nickname << " was not told that Bae dropped";
    EXPECT_EQ(at(*ev, "data.connected"), json::value(false));
    ASSERT_TRUE(has(*ev, "data.seat_kept_until")) << json::serialize(*ev);
    auto until = num(at(*ev, "data.seat_kept_until"));
    EXPECT_GE(until, dropped_at + grace - 50);
    EXPECT_LE(until, now_ms() + grace + 50);
  }
  // The game goes on without Bae.
  seats[0].ws->call("test.counter.add", {{"n", 2}});

  // Bae comes back: the hello reply holds the room, the game and Bae's own subtotal.
  bae.ws = std::make_unique<ws_client>(srv.port(), bae.acc.token);
  auto hello = bae.ws->hello();
  ASSERT_TRUE(at(hello, "room").is_object()) << json::serialize(hello);
  auto room = at(hello, "room").as_object();
  EXPECT_EQ(str(at(room, "id")), str(at(snap, "id")));
  EXPECT_EQ(str(at(room, "state")), "playing");
  ASSERT_TRUE(has(room, "game")) << json::serialize(room);
  EXPECT_EQ(num(at(room, "game.total")), 7);
  ASSERT_TRUE(has(room, "game.mine"))
      << "the private view is the reconnecting player's: " << json::serialize(room);
  EXPECT_EQ(num(at(room, "game.mine")), 5);
  auto me = member_of(room, bae.acc.id);
  EXPECT_EQ(at(me, "connected"), json::value(true));
  EXPECT_FALSE(me.contains("seat_kept_until")) << json::serialize(me);

  for (int i : {0, 2}) {
    auto ev = seats[i].ws->recv_until([&](const json::object& f) {
      return event_about("room.member_connection", bae.acc.id)(f) &&
             at(f, "data.connected") == json::value(true);
    });
    ASSERT_TRUE(ev) << seats[i].acc.nickname << " was not told that Bae is back";
  }
  // Bae plays on, and hears the others again.
  auto add = bae.ws->call("test.counter.add", {{"n", 1}});
  EXPECT_EQ(num(at(add, "total")), 8);
  EXPECT_EQ(num(at(add, "mine")), 6);
  seats[2].ws->call("room.chat", {{"text", "welcome back"}});
  auto chat = bae.ws->expect("room.chat");
  EXPECT_EQ(str(at(chat, "data.text")), "welcome back");
  // The others never saw Bae leave.
  for (int i : {0, 2})
    EXPECT_EQ(seats[i].ws->count_received("room.member_left"), 0u);
}

// The hello reply is sent from the room's strand so that it precedes every room event the new
// connection receives, even while the room is busy.
TEST(reconnect_test, hello_reply_comes_before_room_events_on_a_busy_room) {
  server_process srv({"limits.ws_rate=100000", "limits.ws_burst=100000"});
  auto seats = seat_players(srv.port(), {"Busy1", "Busy2", "Back"});
  auto snap = start_game(seats);
  auto& back = seats[2];
  back.ws->drop();
  seats[0].ws->recv_until(event_about("room.member_connection", back.acc.id));
  // The others flood the room while Back reconnects.
  std::atomic<bool> done{false};
  std::atomic<int> rounds{0};
  // Each flooder sends batches and reads up to its batch's last reply, so that it is never
  // dropped as a slow consumer itself.
  std::vector<std::thread> flood;
  for (int k : {0, 1}) {
    flood.push_back(spawn([&, k] {
      auto& ws = *seats[k].ws;
      for (int round = 0; !done && round < 500; ++round) {
        std::int64_t last = 0;
        for (int i = 0; i < 10; ++i)
          last = ws.send_request("test.counter.add", {{"n", 1}});
        if (!ws.recv_until([last](const json::object& f) {
              return f.contains("id") && f.at("id") == json::value(last);
            }))
          break;
        ws.pending().clear();
        ++rounds;
      }
    }));
  }
  auto busy_by = std::chrono::steady_clock::now() + 5s;
  while (rounds < 6 && std::chrono::steady_clock::now() < busy_by)
    std::this_thread::sleep_for(1ms);  // until the flood is under way (bounded)
  back.ws = std::make_unique<ws_client>(srv.port(), back.acc.token);
  back.ws->send_request("hello", {{"version", 1}});
  auto first = back.ws->recv();
  done = true;
  for (auto& t : flood)
    t.join();
  ASSERT_TRUE(first);
  EXPECT_EQ(str(at(*first, "type")), "hello") << "first frame: " << json::serialize(*first);
  EXPECT_TRUE(first->contains("id"));
  // And the events that follow continue from the snapshot's total.
  ASSERT_EQ(str(at(*first, "type")), "hello");
  auto total = num(at(*first, "data.room.game.total"));
  seats[0].ws->send_request("test.counter.add", {{"n", 1}});
  auto next = back.ws->expect("test.counter.total");
  EXPECT_GT(num(at(next, "data.total")), total);
}

TEST(reconnect_test, seat_is_given_up_after_the_grace) {
  server_process srv({"rooms.reconnect_grace_ms=300"});
  auto seats = seat_players(srv.port(), {"Dan", "Eun", "Fay"});
  auto snap = start_game(seats);
  auto& eun = seats[1];
  eun.ws->call("test.counter.add", {{"n", 3}});

  eun.ws->drop();
  for (int i : {0, 2}) {
    auto ev = seats[i].ws->recv_until(event_about("room.member_connection", eun.acc.id));
    ASSERT_TRUE(ev);
    EXPECT_EQ(at(*ev, "data.connected"), json::value(false));
    auto left = seats[i].ws->recv_until(event_about("room.member_left", eun.acc.id));
    ASSERT_TRUE(left) << seats[i].acc.nickname << " never heard that Eun's seat timed out";
    EXPECT_EQ(str(at(*left, "data.reason")), "timeout");
  }

  // Back too late: no room, and free to go elsewhere.
  eun.ws = std::make_unique<ws_client>(srv.port(), eun.acc.token);
  auto hello = eun.ws->hello();
  EXPECT_TRUE(at(hello, "room").is_null()) << json::serialize(hello);
  auto f = eun.ws->request("test.counter.add", {{"n", 1}});
  EXPECT_EQ(error_code(f), "not_in_room") << json::serialize(f);
  eun.ws->call("room.create", {{"mode", "test.counter"}, {"name", "Elsewhere"}});

  // The game continues for the two left.
  auto add = seats[2].ws->call("test.counter.add", {{"n", 4}});
  EXPECT_EQ(num(at(add, "total")), 7);
}

TEST(reconnect_test, leader_timing_out_passes_leadership) {
  server_process srv({"rooms.reconnect_grace_ms=300"});
  auto seats = seat_players(srv.port(), {"Gil", "Han", "Ivy"});
  auto snap = snapshot_of_reply(
      seats[0].ws->call("room.create", {{"mode", "test.counter"}, {"name", "W"}}));
  seats[1].ws->call("room.join", {{"room_id", at(snap, "id")}});
  seats[2].ws->call("room.join", {{"room_id", at(snap, "id")}});
  seats[0].ws->drop();
  for (int i : {1, 2}) {
    auto left = seats[i].ws->recv_until(event_about("room.member_left", seats[0].acc.id));
    ASSERT_TRUE(left);
    EXPECT_EQ(str(at(*left, "data.reason")), "timeout");
    auto lc = seats[i].ws->expect("room.leader_changed");
    EXPECT_EQ(num(at(lc, "data.player")), seats[1].acc.id);
  }
}

// The connected player leaves while the only other one is away: the room waits for them (their
// seat is kept), and they come back to it as its leader.
TEST(reconnect_test, a_room_waits_for_its_last_disconnected_player) {
  server_process srv({"rooms.reconnect_grace_ms=5000"});
  auto seats = seat_players(srv.port(), {"Stays", "Away"});
  auto snap = snapshot_of_reply(
      seats[0].ws->call("room.create", {{"mode", "test.counter"}, {"name", "Wait"}}));
  seats[1].ws->call("room.join", {{"room_id", at(snap, "id")}});
  seats[1].ws->drop();
  ASSERT_TRUE(seats[0].ws->recv_until(event_about("room.member_connection", seats[1].acc.id)));
  seats[0].ws->call("room.leave");
  seats[1].ws = std::make_unique<ws_client>(srv.port(), seats[1].acc.token);
  auto hello = seats[1].ws->hello();
  ASSERT_TRUE(at(hello, "room").is_object()) << json::serialize(hello);
  auto room = at(hello, "room").as_object();
  EXPECT_EQ(str(at(room, "id")), str(at(snap, "id")));
  EXPECT_EQ(member_ids(room), std::vector<std::int64_t>{seats[1].acc.id});
  EXPECT_EQ(num(at(room, "leader")), seats[1].acc.id);
}

TEST(reconnect_test, without_grace_a_drop_leaves_the_room_at_once) {
  server_process srv({"rooms.reconnect_grace_ms=0"});
  auto seats = seat_players(srv.port(), {"Jo", "Ku"});
  auto snap = snapshot_of_reply(
      seats[0].ws->call("room.create", {{"mode", "test.counter"}, {"name", "Z"}}));
  seats[1].ws->call("room.join", {{"room_id", at(snap, "id")}});
  seats[1].ws->drop();
  auto left = seats[0].ws->recv_until(event_about("room.member_left", seats[1].acc.id));
  ASSERT_TRUE(left);
  EXPECT_EQ(str(at(*left, "data.reason")), "disconnected");
}

TEST(reconnect_test, second_socket_takes_over_the_first) {
  server_process srv;
  auto seats = seat_players(srv.port(), {"Lia", "Moe"});
  auto snap = start_game(seats);
  auto& moe = seats[1];
  moe.ws->call("test.counter.add", {{"n", 9}});

  ws_client second(srv.port(), moe.acc.token, {token_via::header});
  auto closed = moe.ws->expect("session.closed");
  EXPECT_EQ(str(at(closed, "data.reason")), "replaced");
  EXPECT_TRUE(moe.ws->wait_closed()) << "the replaced socket is closed by the server";
  EXPECT_NE(moe.ws->close_code(), 0) << "with a close frame, not a bare TCP reset";

  auto hello = second.hello();
  ASSERT_TRUE(at(hello, "room").is_object()) << json::serialize(hello);
  EXPECT_EQ(num(at(hello, "room.game.mine")), 9);
  EXPECT_TRUE(second.ping_ok());
  auto add = second.call("test.counter.add", {{"n", 1}});
  EXPECT_EQ(num(at(add, "mine")), 10);
  seats[0].ws->call("room.chat", {{"text", "still there?"}});
  EXPECT_TRUE(second.recv_until("room.chat")) << "room events follow the new socket";
  EXPECT_EQ(seats[0].ws->count_received("room.member_left"), 0u) << "a takeover is not a leave";

  auto m = http_call(srv.port(), "GET", "/metrics");
  EXPECT_NE(m.body.find("\nmaratang_sessions_replaced_total 1\n"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("\nmaratang_ws_connections 2\n"), std::string::npos) << m.body;
}

TEST(reconnect_test, takeover_before_hello_still_works) {
  server_process srv;
  auto p = make_player(srv.port(), "Early");
  ws_client first(srv.port(), p.token);  // never says hello
  ws_client second(srv.port(), p.token);
  auto closed = first.expect("session.closed");
  EXPECT_EQ(str(at(closed, "data.reason")), "replaced");
  second.hello();
  EXPECT_TRUE(second.ping_ok());
}

}  // namespace
}  // namespace maratang::it
