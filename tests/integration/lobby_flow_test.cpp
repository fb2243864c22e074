// The lobby over real WebSockets: hello, clock sync, rooms (public, private, password), ready and
// start, a whole test.counter game with private events, its stored record, and the room rules
// (full, already in a room, game in progress, spectators, kick, leadership).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <set>
#include <thread>

#include "harness.hpp"
#include "store/sqlite/sqlite_backend.hpp"

namespace maratang::it {
namespace {

class lobby_flow_test : public ::testing::Test {
 protected:
  int port() const { return srv_.port(); }

  // Creates a room as `s` and returns its snapshot.
  json::object create_room(seat& s, json::object params) {
    if (!params.contains("mode")) params["mode"] = "test.counter";
    if (!params.contains("name")) params["name"] = "Table";
    return snapshot_of_reply(s.ws->call("room.create", params));
  }
  json::object join_room(seat& s, json::object params) {
    return snapshot_of_reply(s.ws->call("room.join", params));
  }

  // Waits until every seat in `who` has received an event of `type` whose data.player is `player`.
  static void expect_player_event(std::vector<seat*> who, std::string_view type,
                                  std::int64_t player,
                                  const std::function<void(const json::object&)>& check = {}) {
    for (seat* s : who) {
      auto f = s->ws->recv_until(
          [&](const json::object& fr) {
            return str(at(fr, "type")) == type && !fr.contains("id") && has(fr, "data.player") &&
                   num(at(fr, "data.player")) == player;
          },
          kWait);
      ASSERT_TRUE(f) << s->acc.nickname << " did not receive " << type << " for " << player;
      if (check) check(at(*f, "data").as_object());
    }
  }

  server_process srv_;
};

std::vector<seat*> all(std::vector<seat>& seats) {
  std::vector<seat*> out;
  for (auto& s : seats)
    out.push_back(&s);
  return out;
}

TEST_F(lobby_flow_test, hello_reply_carries_time_account_and_limits) {
  auto p = make_player(port(), "Hana");
  ws_client ws(port(), p.token);
  auto before = now_ms();
  auto data = ws.hello();
  auto after = now_ms();
  EXPECT_EQ(num(at(data, "version")), 1);
  auto t = num(at(data, "server_time"));
  EXPECT_GE(t, before - 1000);
  EXPECT_LE(t, after + 1000);
  EXPECT_EQ(num(at(data, "account.id")), p.id);
  EXPECT_EQ(str(at(data, "account.nickname")), "Hana");
  EXPECT_TRUE(at(data, "room").is_null()) << json::serialize(data);
  EXPECT_GT(num(at(data, "limits.max_message_bytes")), 0);
  EXPECT_GT(num(at(data, "limits.messages_per_second")), 0);
}

// hello's reply carries the account as it is when hello is answered, not as it was when the socket
// opened: a nickname set between connecting and hello is the one reported (and used in rooms).
TEST_F(lobby_flow_test, hello_reports_a_nickname_set_after_connecting) {
  auto p = make_player(port(), "Before");
  ws_client ws(port(), p.token);
  // Let the server finish opening the socket (a request before hello is answered with an error).
  EXPECT_EQ(error_code(ws.request("time.sync", {{"client_send", 1}})), "hello_required");
  set_nickname(port(), p, "After");
  auto h = ws.hello();
  EXPECT_EQ(str(at(h, "account.nickname")), "After") << json::serialize(h);
  auto snap = snapshot_of_reply(ws.call("room.create", {{"mode", "test.counter"}, {"name", "N"}}));
  EXPECT_EQ(str(at(member_of(snap, p.id), "nickname")), "After");
}

// A rename acknowledged (200) before hello must be the name rooms show, even when it raced the
// socket's opening: the account read at open must not overwrite the newer name afterwards. The
// interleaving is timing-dependent, so this runs it many times with varied offsets; once the race
// is fixed it can never fail.
TEST_F(lobby_flow_test, rename_racing_a_new_connection_is_not_undone) {
  // Background writes keep the storage worker busy, so that the socket's account read and the
  // rename tend to share a storage batch (where the race shows).
  std::atomic<bool> done{false};
  std::thread busy = spawn([&] {
    for (int n = 0; !done; ++n)
      http_call(port(), "POST", "/v1/auth/device",
                json::serialize(json::object{{"device_id", "device-busy-" + std::to_string(n)}}));
  });
  int stale = 0;
  std::string seen;
  for (int i = 0; i < 40; ++i) {
    auto p = make_player(port(), "Old" + std::to_string(i));
    std::string renamed = "New" + std::to_string(i);
    std::thread rename = spawn([&] {
      std::this_thread::sleep_for(std::chrono::microseconds(200 * (i % 10)));  // vary the overlap
      set_nickname(port(), p, renamed);
    });
    ws_client ws(port(), p.token);
    rename.join();
    ws.hello();
    auto snap =
        snapshot_of_reply(ws.call("room.create", {{"mode", "test.counter"}, {"name", "Race"}}));
    auto shown = str(at(member_of(snap, p.id), "nickname"));
    if (shown != renamed) {
      ++stale;
      seen += " " + shown + " (wanted " + renamed + ")";
    }
  }
  done = true;
  busy.join();
  EXPECT_EQ(stale, 0) << "rooms showed the pre-rename nickname:" << seen;
}

TEST_F(lobby_flow_test, time_sync_reply_is_consistent) {
  auto p = make_player(port(), "Clock");
  ws_client ws(port(), p.token);
  ws.hello();
  for (int i = 0; i < 3; ++i) {
    auto client_send = now_ms();
    auto f = ws.request("time.sync", {{"client_send", client_send}});
    auto client_recv = now_ms();
    ASSERT_EQ(error_code(f), "") << json::serialize(f);
    EXPECT_EQ(str(at(f, "type")), "time.sync");
    EXPECT_EQ(num(at(f, "data.client_send")), client_send);
    auto server_recv = num(at(f, "data.server_recv"));
    auto server_send = num(at(f, "data.server_send"));
    EXPECT_LE(server_recv, server_send);
    // Same host, same clock: the server's stamps fall inside our round trip (ms resolution).
    EXPECT_GE(server_recv, client_send - 1);
    EXPECT_LE(server_send, client_recv + 1);
    auto offset = ((server_recv - client_send) + (server_send - client_recv)) / 2;
    EXPECT_LE(std::abs(offset), 50) << "clock offset on one host";
  }
}

TEST_F(lobby_flow_test, full_game_with_four_players) {
  auto seats = seat_players(port(), {"Leader", "Bora", "Chul", "Dami"});
  auto& leader = seats[0];
  auto everyone = all(seats);

  // 1. The leader creates a room and sees it in its snapshot.
  auto snap = create_room(leader, {{"name", "Table 1"}, {"capacity", 4}});
  std::string room_id = str(at(snap, "id"));
  EXPECT_FALSE(room_id.empty());
  EXPECT_EQ(str(at(snap, "name")), "Table 1");
  EXPECT_EQ(str(at(snap, "mode")), "test.counter");
  EXPECT_EQ(str(at(snap, "state")), "waiting");
  EXPECT_EQ(num(at(snap, "capacity")), 4);
  EXPECT_EQ(at(snap, "private"), json::value(false));
  EXPECT_EQ(at(snap, "has_password"), json::value(false));
  EXPECT_EQ(num(at(snap, "leader")), leader.acc.id);
  EXPECT_EQ(member_ids(snap), std::vector<std::int64_t>{leader.acc.id});
  EXPECT_EQ(at(snap, "can_start"), json::value(false));
  EXPECT_FALSE(snap.contains("invite_code")) << "a public room has no invite code";

  // 2. Others see it in room.list (WebSocket and REST).
  auto list = seats[1].ws->call("room.list", {{"mode", "test.counter"}});
  bool listed = false;
  for (const auto& r : at(list, "rooms").as_array()) {
    if (str(at(r, "id")) != room_id) continue;
    listed = true;
    EXPECT_EQ(str(at(r, "name")), "Table 1");
    EXPECT_EQ(str(at(r, "mode")), "test.counter");
    EXPECT_EQ(str(at(r, "state")), "waiting");
    EXPECT_EQ(num(at(r, "players")), 1);
    EXPECT_EQ(num(at(r, "capacity")), 4);
    EXPECT_EQ(at(r, "has_password"), json::value(false));
    EXPECT_EQ(at(r, "allow_spectators"), json::value(false));
  }
  EXPECT_TRUE(listed) << json::serialize(list);
  auto rest = http_call(port(), "GET", "/v1/rooms");
  EXPECT_NE(rest.body.find(room_id), std::string::npos) << rest.body;

  // 3. Three players join by id; everyone already inside hears about each.
  for (std::size_t i = 1; i < seats.size(); ++i) {
    auto js = join_room(seats[i], {{"room_id", room_id}});
    EXPECT_EQ(str(at(js, "id")), room_id);
    EXPECT_EQ(member_ids(js).size(), i + 1);
    EXPECT_EQ(num(at(js, "leader")), leader.acc.id);
    for (std::size_t j = 0; j < i; ++j) {
      auto ev = seats[j].ws->expect("room.member_joined");
      EXPECT_EQ(num(at(ev, "data.member.id")), seats[i].acc.id);
      EXPECT_EQ(str(at(ev, "data.member.nickname")), seats[i].acc.nickname);
      EXPECT_EQ(at(ev, "data.member.ready"), json::value(false));
      EXPECT_EQ(at(ev, "data.member.leader"), json::value(false));
      EXPECT_EQ(at(ev, "data.member.connected"), json::value(true));
      EXPECT_EQ(at(ev, "data.member.spectator"), json::value(false));
    }
  }
  EXPECT_EQ(seats[3].ws->count_received("room.member_joined"), 0u)
      << "a joiner is not told about its own join";

  // 4. Starting: only the leader, and only when everyone else is ready.
  auto f = seats[1].ws->request("room.start");
  EXPECT_EQ(error_code(f), "not_leader") << json::serialize(f);
  f = leader.ws->request("room.start");
  EXPECT_EQ(error_code(f), "not_ready") << json::serialize(f);

  for (std::size_t i = 1; i < seats.size(); ++i) {
    seats[i].ws->call("room.ready", {{"ready", true}});
    expect_player_event(everyone, "room.member_ready", seats[i].acc.id,
                        [](const json::object& d) { EXPECT_EQ(d.at("ready"), json::value(true)); });
    if (i + 1 < seats.size()) {
      f = leader.ws->request("room.start");
      EXPECT_EQ(error_code(f), "not_ready") << "after " << i << " ready: " << json::serialize(f);
    }
  }
  for (auto* s : everyone) {
    auto ev = s->ws->expect("room.can_start");
    EXPECT_EQ(at(ev, "data.can_start"), json::value(true)) << s->acc.nickname;
  }
  // One unready flips it back, with the reason.
  seats[2].ws->call("room.ready", {{"ready", false}});
  expect_player_event(everyone, "room.member_ready", seats[2].acc.id,
                      [](const json::object& d) { EXPECT_EQ(d.at("ready"), json::value(false)); });
  for (auto* s : everyone) {
    auto ev = s->ws->expect("room.can_start");
    EXPECT_EQ(at(ev, "data.can_start"), json::value(false)) << s->acc.nickname;
    EXPECT_EQ(str(at(ev, "data.reason")), "not_ready") << s->acc.nickname;
  }
  f = leader.ws->request("room.start");
  EXPECT_EQ(error_code(f), "not_ready") << json::serialize(f);
  seats[2].ws->call("room.ready", {{"ready", true}});
  for (auto* s : everyone) {
    auto ev = s->ws->expect("room.can_start");
    EXPECT_EQ(at(ev, "data.can_start"), json::value(true)) << s->acc.nickname;
  }

  // 5. Start: everyone hears game_started with the same id.
  auto started = leader.ws->call("room.start");
  std::string game_id = str(at(started, "game_id"));
  EXPECT_FALSE(game_id.empty());
  for (auto* s : everyone) {
    auto ev = s->ws->expect("room.game_started");
    EXPECT_EQ(str(at(ev, "data.game_id")), game_id) << s->acc.nickname;
    EXPECT_EQ(str(at(ev, "data.mode")), "test.counter") << s->acc.nickname;
  }
  f = seats[1].ws->request("room.ready", {{"ready", false}});
  EXPECT_EQ(error_code(f), "game_in_progress") << json::serialize(f);

  // 6. Game messages: the total goes to all, the subtotal only to the adder.
  auto add = seats[1].ws->call("test.counter.add", {{"n", 5}});
  EXPECT_EQ(num(at(add, "total")), 5);
  EXPECT_EQ(num(at(add, "mine")), 5);
  for (auto* s : everyone) {
    auto ev = s->ws->expect("test.counter.total");
    EXPECT_EQ(num(at(ev, "data.total")), 5) << s->acc.nickname;
  }
  auto priv = seats[1].ws->expect("test.counter.private");
  EXPECT_EQ(num(at(priv, "data.mine")), 5);
  add = seats[2].ws->call("test.counter.add", {{"n", 7}});
  EXPECT_EQ(num(at(add, "total")), 12);
  EXPECT_EQ(num(at(add, "mine")), 7);
  for (auto* s : everyone) {
    auto ev = s->ws->expect("test.counter.total");
    EXPECT_EQ(num(at(ev, "data.total")), 12) << s->acc.nickname;
  }
  priv = seats[2].ws->expect("test.counter.private");
  EXPECT_EQ(num(at(priv, "data.mine")), 7);
  f = seats[1].ws->request("test.counter.add", {{"n", 0}});
  EXPECT_EQ(error_code(f), "bad_field") << "n is 1..100: " << json::serialize(f);
  f = seats[1].ws->request("test.counter.add", {{"n", 101}});
  EXPECT_EQ(error_code(f), "bad_field") << "n is 1..100: " << json::serialize(f);

  // 7. Chat reaches everyone. The room sends it after the adds, so once a player has it, any
  // private event meant for someone else would already have arrived: a barrier, not a sleep.
  leader.ws->call("room.chat", {{"text", "안녕하세요 everyone"}});
  for (auto* s : everyone) {
    auto ev = s->ws->expect("room.chat");
    EXPECT_EQ(num(at(ev, "data.from")), leader.acc.id);
    EXPECT_EQ(str(at(ev, "data.nickname")), "Leader");
    EXPECT_EQ(str(at(ev, "data.text")), "안녕하세요 everyone");
    EXPECT_GT(num(at(ev, "data.ts")), 0);
  }
  EXPECT_EQ(leader.ws->count_received("test.counter.private"), 0u);
  EXPECT_EQ(seats[1].ws->count_received("test.counter.private"), 1u);
  EXPECT_EQ(seats[2].ws->count_received("test.counter.private"), 1u);
  EXPECT_EQ(seats[3].ws->count_received("test.counter.private"), 0u);

  // 8. Finish: everyone hears game_ended with the id and the public result.
  seats[3].ws->call("test.counter.finish");
  for (auto* s : everyone) {
    auto ev = s->ws->expect("room.game_ended");
    EXPECT_EQ(str(at(ev, "data.game_id")), game_id) << s->acc.nickname;
    EXPECT_EQ(num(at(ev, "data.result.total")), 12) << s->acc.nickname;
    EXPECT_EQ(str(at(ev, "data.result.reason")), "finished") << s->acc.nickname;
  }
  // Ready flags are reset: the leader may not start, and can_start is announced false.
  for (auto* s : everyone) {
    auto ev = s->ws->expect("room.can_start");
    EXPECT_EQ(at(ev, "data.can_start"), json::value(false)) << s->acc.nickname;
  }
  f = leader.ws->request("room.start");
  EXPECT_EQ(error_code(f), "not_ready") << json::serialize(f);
  f = seats[1].ws->request("test.counter.add", {{"n", 1}});
  EXPECT_EQ(error_code(f), "no_game") << json::serialize(f);

  // 9. The stored record.
  auto g = http_call(port(), "GET", "/v1/games/" + game_id, {}, bearer(seats[1].acc.token));
  ASSERT_EQ(g.status, 200) << g.body;
  auto gv = g.json();
  EXPECT_EQ(str(at(gv, "id")), game_id);
  EXPECT_EQ(str(at(gv, "mode")), "test.counter");
  EXPECT_EQ(str(at(gv, "room_id")), room_id);
  EXPECT_LE(num(at(gv, "started_at")), num(at(gv, "ended_at")));
  std::set<std::int64_t> players;
  for (const auto& p : at(gv, "players").as_array())
    players.insert(num(p));
  std::set<std::int64_t> expected;
  for (auto* s : everyone)
    expected.insert(s->acc.id);
  EXPECT_EQ(players, expected) << g.body;
  EXPECT_EQ(num(at(gv, "record.total")), 12) << g.body;
  EXPECT_EQ(str(at(gv, "record.reason")), "finished") << g.body;
  EXPECT_EQ(num(at(gv, "record.players." + std::to_string(seats[1].acc.id))), 5) << g.body;
  EXPECT_EQ(num(at(gv, "record.players." + std::to_string(seats[2].acc.id))), 7) << g.body;

  auto hist = http_call(port(), "GET", "/v1/accounts/" + std::to_string(seats[2].acc.id) + "/games",
                        {}, bearer(seats[2].acc.token));
  ASSERT_EQ(hist.status, 200) << hist.body;
  auto hv = hist.json();
  ASSERT_FALSE(at(hv, "games").as_array().empty()) << hist.body;
  EXPECT_EQ(str(at(hv, "games.0.id")), game_id) << hist.body;

  // 10. A fresh snapshot (a second socket for Dami takes over and says hello) shows the room
  // waiting again with every ready flag down.
  ws_client again(port(), seats[3].acc.token);
  auto h = again.hello();
  ASSERT_TRUE(at(h, "room").is_object()) << json::serialize(h);
  auto after = at(h, "room").as_object();
  EXPECT_EQ(str(at(after, "id")), room_id);
  EXPECT_EQ(str(at(after, "state")), "waiting");
  EXPECT_FALSE(has(after, "game")) << json::serialize(after);
  EXPECT_EQ(member_ids(after).size(), 4u);
  for (const auto& m : at(after, "members").as_array())
    EXPECT_EQ(at(m, "ready"), json::value(false)) << json::serialize(m);
  EXPECT_EQ(at(after, "can_start"), json::value(false));

  // 11. The room list shows it waiting with four players.
  list = seats[1].ws->call("room.list");
  listed = false;
  for (const auto& r : at(list, "rooms").as_array()) {
    if (str(at(r, "id")) != room_id) continue;
    listed = true;
    EXPECT_EQ(num(at(r, "players")), 4);
    EXPECT_EQ(str(at(r, "state")), "waiting");
  }
  EXPECT_TRUE(listed);

  // 12. Every frame had the documented envelope: replies carry ok (and data or error); events
  // carry data and neither id nor ok.
  for (auto* s : everyone) {
    for (const auto& fr : s->ws->history()) {
      ASSERT_TRUE(fr.contains("type") && fr.at("type").is_string()) << json::serialize(fr);
      if (fr.contains("id")) {
        ASSERT_TRUE(fr.contains("ok") && fr.at("ok").is_bool()) << json::serialize(fr);
        EXPECT_TRUE(fr.at("ok").get_bool() ? fr.contains("data") : fr.contains("error"))
            << json::serialize(fr);
      } else {
        EXPECT_FALSE(fr.contains("ok")) << "an event with ok: " << json::serialize(fr);
        EXPECT_TRUE(fr.contains("data") && fr.at("data").is_object()) << json::serialize(fr);
      }
    }
  }
}

// docs/PROTOCOL.md: room.create and room.join reply `{room}`, the room snapshot under "room" (as
// in hello's reply, where `room` is a field).
TEST_F(lobby_flow_test, room_replies_are_shaped_as_documented) {
  auto seats = seat_players(port(), {"Shape", "Form"});
  auto created = seats[0].ws->call("room.create", {{"mode", "test.counter"}, {"name", "Shaped"}});
  ASSERT_TRUE(has(created, "room")) << "room.create reply data: " << json::serialize(created);
  EXPECT_TRUE(has(created, "room.id")) << json::serialize(created);
  auto joined = seats[1].ws->call("room.join", {{"room_id", at(created, "room.id")}});
  ASSERT_TRUE(has(joined, "room")) << "room.join reply data: " << json::serialize(joined);
  EXPECT_EQ(member_ids(at(joined, "room").as_object()).size(), 2u);
}

TEST_F(lobby_flow_test, a_second_game_can_follow_the_first) {
  auto seats = seat_players(port(), {"First", "Second"});
  auto snap = create_room(seats[0], {});
  join_room(seats[1], {{"room_id", at(snap, "id")}});
  for (int round = 0; round < 2; ++round) {
    seats[1].ws->call("room.ready", {{"ready", true}});
    auto id = str(at(seats[0].ws->call("room.start"), "game_id"));
    seats[1].ws->expect("room.game_started");
    seats[0].ws->call("test.counter.add", {{"n", 3}});
    seats[1].ws->call("test.counter.finish");
    auto ended = seats[0].ws->expect("room.game_ended");
    EXPECT_EQ(str(at(ended, "data.game_id")), id);
    EXPECT_EQ(num(at(ended, "data.result.total")), 3) << "each game starts from zero";
  }
  auto hist = http_call(port(), "GET", "/v1/accounts/" + std::to_string(seats[0].acc.id) + "/games",
                        {}, bearer(seats[0].acc.token));
  auto hv = hist.json();
  EXPECT_EQ(at(hv, "games").as_array().size(), 2u) << hist.body;
}

TEST_F(lobby_flow_test, create_needs_a_nickname_and_a_known_mode) {
  auto p = login_device(port(), "device-no-nickname-1");
  ws_client ws(port(), p.token);
  auto h = ws.hello();
  EXPECT_EQ(str(at(h, "account.nickname")), "");
  auto f = ws.request("room.create", {{"mode", "test.counter"}, {"name", "Nameless"}});
  EXPECT_EQ(error_code(f), "nickname_required") << json::serialize(f);

  auto seats = seat_players(port(), {"Moder"});
  f = seats[0].ws->request("room.create", {{"mode", "no.such.mode"}, {"name", "X"}});
  EXPECT_EQ(error_code(f), "unknown_mode") << json::serialize(f);
  f = seats[0].ws->request("room.create",
                           {{"mode", "test.counter"}, {"name", "X"}, {"settings", {{"bogus", 1}}}});
  EXPECT_EQ(error_code(f), "bad_field") << json::serialize(f);
  f = seats[0].ws->request("room.create",
                           {{"mode", "test.counter"}, {"name", "X"}, {"capacity", 1}});
  EXPECT_EQ(error_code(f), "bad_field")
      << "capacity below the mode's minimum: " << json::serialize(f);
  EXPECT_TRUE(seats[0].ws->ping_ok());
}

TEST_F(lobby_flow_test, nickname_set_after_connecting_is_used_in_the_room) {
  auto p = login_device(port(), "device-late-nickname");
  ws_client ws(port(), p.token);
  ws.hello();
  set_nickname(port(), p, "Latecomer");
  auto snap = snapshot_of_reply(ws.call("room.create", {{"mode", "test.counter"}, {"name", "L"}}));
  EXPECT_EQ(str(at(member_of(snap, p.id), "nickname")), "Latecomer");
}

TEST_F(lobby_flow_test, private_room_is_joined_by_invite_code_only) {
  auto seats = seat_players(port(), {"Owner", "Friend", "Stranger"});
  auto snap = create_room(seats[0], {{"private", true}, {"name", "Secret"}});
  std::string room_id = str(at(snap, "id"));
  EXPECT_EQ(at(snap, "private"), json::value(true));
  ASSERT_TRUE(has(snap, "invite_code")) << json::serialize(snap);
  std::string code = str(at(snap, "invite_code"));
  // Codes are read aloud and typed: eight characters without look-alikes (src/lobby/lobby.cpp).
  EXPECT_EQ(code.size(), 8u) << code;
  EXPECT_EQ(code.find_first_not_of("ABCDEFGHJKMNPQRSTUVWXYZ23456789"), std::string::npos) << code;

  // Not listed, over WebSocket or REST.
  auto list = seats[2].ws->call("room.list");
  EXPECT_EQ(json::serialize(list).find(room_id), std::string::npos) << json::serialize(list);
  auto rest = http_call(port(), "GET", "/v1/rooms");
  EXPECT_EQ(rest.body.find(room_id), std::string::npos) << rest.body;

  // By id: refused as if there were no such room.
  auto f = seats[2].ws->request("room.join", {{"room_id", room_id}});
  EXPECT_EQ(error_code(f), "unknown_room") << json::serialize(f);
  f = seats[2].ws->request("room.join", {{"invite_code", "NOPE2345"}});
  EXPECT_EQ(error_code(f), "unknown_room") << json::serialize(f);

  // By invite code: in.
  auto js = join_room(seats[1], {{"invite_code", code}});
  EXPECT_EQ(str(at(js, "id")), room_id);
  EXPECT_EQ(member_ids(js), (std::vector<std::int64_t>{seats[0].acc.id, seats[1].acc.id}));
  EXPECT_EQ(str(at(js, "invite_code")), code) << "members may share the code";
  auto ev = seats[0].ws->expect("room.member_joined");
  EXPECT_EQ(num(at(ev, "data.member.id")), seats[1].acc.id);

  // Exactly one of room_id and invite_code.
  f = seats[2].ws->request("room.join", {{"room_id", room_id}, {"invite_code", code}});
  EXPECT_EQ(error_code(f), "missing_field") << json::serialize(f);
  f = seats[2].ws->request("room.join", json::object{});
  EXPECT_EQ(error_code(f), "missing_field") << json::serialize(f);
}

TEST_F(lobby_flow_test, password_room_checks_the_password) {
  auto seats = seat_players(port(), {"Keeper", "Guest"});
  auto snap = create_room(seats[0], {{"password", "sesame"}});
  std::string room_id = str(at(snap, "id"));
  EXPECT_EQ(at(snap, "has_password"), json::value(true));
  EXPECT_FALSE(json::serialize(snap).find("sesame") != std::string::npos)
      << "the password is never echoed";

  auto list = seats[1].ws->call("room.list");
  bool listed = false;
  for (const auto& r : at(list, "rooms").as_array()) {
    if (str(at(r, "id")) == room_id) {
      listed = true;
      EXPECT_EQ(at(r, "has_password"), json::value(true));
    }
  }
  EXPECT_TRUE(listed);

  auto f = seats[1].ws->request("room.join", {{"room_id", room_id}});
  EXPECT_EQ(error_code(f), "wrong_password") << json::serialize(f);
  f = seats[1].ws->request("room.join", {{"room_id", room_id}, {"password", "Sesame"}});
  EXPECT_EQ(error_code(f), "wrong_password") << json::serialize(f);
  // A refused join keeps no seat: the right password works afterwards.
  auto js = join_room(seats[1], {{"room_id", room_id}, {"password", "sesame"}});
  EXPECT_EQ(member_ids(js).size(), 2u);
}

// room.invite: any member invites a player online by id or nickname; the invitation carries the
// invite code, which lets the invitee into a private password room; nothing else changes until
// they join. Refusals are clear and change nothing; a member's invitations are rate limited.
TEST_F(lobby_flow_test, a_member_invites_a_player_who_joins_with_the_invitation) {
  auto seats = seat_players(port(), {"Host", "Member", "Friend", "Stranger"});
  auto snap = create_room(seats[0], {{"private", true}, {"password", "sesame"}});
  const std::string room_id = str(at(snap, "id"));
  join_room(seats[1], {{"invite_code", at(snap, "invite_code")}});

  // By nickname, from a member who is not the leader.
  auto r = seats[1].ws->call("room.invite", {{"nickname", "Friend"}});
  EXPECT_EQ(num(at(r, "player")), seats[2].acc.id);
  auto inv = seats[2].ws->expect("room.invitation");
  EXPECT_EQ(str(at(inv, "data.room_id")), room_id);
  EXPECT_EQ(str(at(inv, "data.mode")), "test.counter");
  EXPECT_EQ(num(at(inv, "data.from.id")), seats[1].acc.id);
  EXPECT_EQ(str(at(inv, "data.from.nickname")), "Member");
  EXPECT_EQ(seats[3].ws->count_received("room.invitation"), 0u) << "only the invitee hears it";
  // The invitation's code opens the private password room.
  auto joined = join_room(seats[2], {{"invite_code", at(inv, "data.invite_code")}});
  EXPECT_EQ(member_ids(joined).size(), 3u);

  // Refusals: not in a room, oneself, a member, nobody online, both or neither field.
  EXPECT_EQ(error_code(seats[3].ws->request("room.invite", {{"player", seats[0].acc.id}})),
            "not_in_room");
  EXPECT_EQ(error_code(seats[0].ws->request("room.invite", {{"player", seats[0].acc.id}})),
            "bad_field");
  EXPECT_EQ(error_code(seats[0].ws->request("room.invite", {{"player", seats[2].acc.id}})),
            "already_in_room");
  EXPECT_EQ(error_code(seats[0].ws->request("room.invite", {{"nickname", "Nobody"}})),
            "unknown_player");
  EXPECT_EQ(error_code(seats[0].ws->request("room.invite", {{"player", 999999}})),
            "unknown_player");
  EXPECT_EQ(error_code(seats[0].ws->request("room.invite", {})), "missing_field");
  EXPECT_EQ(error_code(seats[0].ws->request(
                "room.invite", {{"player", seats[3].acc.id}, {"nickname", "Stranger"}})),
            "missing_field");

  // Ten a minute per member: the eleventh is refused with when to retry, and nothing is sent.
  for (int i = 0; i < 10; ++i)
    seats[0].ws->call("room.invite", {{"player", seats[3].acc.id}});
  auto flood = seats[0].ws->request("room.invite", {{"player", seats[3].acc.id}});
  EXPECT_EQ(error_code(flood), "rate_limited") << json::serialize(flood);
  EXPECT_GE(num(at(flood, "error.retry_after_s")), 1) << json::serialize(flood);
  EXPECT_LE(num(at(flood, "error.retry_after_s")), 60) << json::serialize(flood);
  for (int i = 0; i < 10; ++i)
    seats[3].ws->expect("room.invitation");
  EXPECT_FALSE(seats[3].ws->recv_until("room.invitation", ms(300)))
      << "the refused one is not sent";
  // Another member has their own budget; the room goes on.
  seats[1].ws->call("room.invite", {{"player", seats[3].acc.id}});
  EXPECT_TRUE(seats[0].ws->ping_ok());
}

// The invitations-per-minute budget is a setting (rooms.invites_per_minute; bench/cross_node
// raises it).
TEST(lobby_flow_settings, the_invitation_budget_is_a_setting) {
  server_process srv({"rooms.invites_per_minute=2"});
  auto seats = seat_players(srv.port(), {"Host", "Guest"});
  snapshot_of_reply(seats[0].ws->call("room.create", {{"mode", "test.counter"}, {"name", "T"}}));
  for (int i = 0; i < 2; ++i)
    seats[0].ws->call("room.invite", {{"player", seats[1].acc.id}});
  auto third = seats[0].ws->request("room.invite", {{"player", seats[1].acc.id}});
  EXPECT_EQ(error_code(third), "rate_limited") << json::serialize(third);
}

TEST_F(lobby_flow_test, full_room_refuses_with_room_full) {
  auto seats = seat_players(port(), {"Alpha", "Bravo", "Charlie"});
  auto snap = create_room(seats[0], {{"capacity", 2}});
  std::string room_id = str(at(snap, "id"));
  join_room(seats[1], {{"room_id", room_id}});
  auto f = seats[2].ws->request("room.join", {{"room_id", room_id}});
  EXPECT_EQ(error_code(f), "room_full") << json::serialize(f);
  // The refused player holds no seat anywhere: they can create their own room.
  create_room(seats[2], {});
  f = seats[2].ws->request("room.join", {{"room_id", "doesnotexist"}});
  EXPECT_EQ(error_code(f), "already_in_room") << json::serialize(f);
}

TEST_F(lobby_flow_test, racing_for_the_last_seats_never_overfills_a_room) {
  auto seats =
      seat_players(port(), {"Owner", "Race1", "Race2", "Race3", "Race4", "Race5", "Race6"});
  auto snap = create_room(seats[0], {{"capacity", 3}});
  std::string room_id = str(at(snap, "id"));
  std::vector<std::string> codes(seats.size());
  std::atomic<int> go{0};
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < seats.size(); ++i) {
    threads.push_back(spawn([&, i] {
      ++go;
      while (go < static_cast<int>(seats.size()) - 1)
        std::this_thread::yield();
      codes[i] = error_code(seats[i].ws->request("room.join", {{"room_id", room_id}}));
    }));
  }
  for (auto& t : threads)
    t.join();
  int joined = 0, full = 0;
  for (std::size_t i = 1; i < seats.size(); ++i) {
    joined += codes[i].empty();
    full += codes[i] == "room_full";
  }
  EXPECT_EQ(joined, 2);
  EXPECT_EQ(full, 4);
  auto list = seats[0].ws->call("room.list");
  EXPECT_EQ(num(at(list, "rooms.0.players")), 3) << json::serialize(list);
}

TEST_F(lobby_flow_test, spectators_do_not_take_seats) {
  auto seats = seat_players(port(), {"Seat1", "Seat2", "Viewer"});
  auto snap = create_room(seats[0], {{"capacity", 2}, {"allow_spectators", true}});
  join_room(seats[1], {{"room_id", at(snap, "id")}});
  auto f = seats[2].ws->request("room.join", {{"room_id", at(snap, "id")}});
  EXPECT_EQ(error_code(f), "room_full") << json::serialize(f);
  auto spec = join_room(seats[2], {{"room_id", at(snap, "id")}, {"spectate", true}});
  EXPECT_EQ(member_ids(spec).size(), 3u);
  // Spectators do not count towards the minimum or the ready check.
  seats[1].ws->call("room.ready", {{"ready", true}});
  auto started = seats[0].ws->call("room.start");
  EXPECT_FALSE(str(at(started, "game_id")).empty());
  EXPECT_TRUE(seats[2].ws->recv_until("room.game_started"));
}

TEST_F(lobby_flow_test, one_room_at_a_time) {
  auto seats = seat_players(port(), {"Uno", "Dos"});
  auto a = create_room(seats[0], {{"name", "A"}});
  auto b = create_room(seats[1], {{"name", "B"}});
  auto f = seats[0].ws->request("room.create", {{"mode", "test.counter"}, {"name", "C"}});
  EXPECT_EQ(error_code(f), "already_in_room") << json::serialize(f);
  f = seats[0].ws->request("room.join", {{"room_id", at(b, "id")}});
  EXPECT_EQ(error_code(f), "already_in_room") << json::serialize(f);
  f = seats[0].ws->request("room.join", {{"room_id", at(a, "id")}});
  EXPECT_EQ(error_code(f), "already_in_room") << json::serialize(f);
  // After leaving, joining works.
  seats[0].ws->call("room.leave");
  auto js = join_room(seats[0], {{"room_id", at(b, "id")}});
  EXPECT_EQ(member_ids(js), (std::vector<std::int64_t>{seats[1].acc.id, seats[0].acc.id}));
  // Room A emptied and is gone.
  auto list = seats[0].ws->call("room.list");
  EXPECT_EQ(json::serialize(list).find(str(at(a, "id"))), std::string::npos)
      << json::serialize(list);
}

TEST_F(lobby_flow_test, join_during_a_game_is_refused_but_spectating_works) {
  auto seats = seat_players(port(), {"Pia", "Quinn", "Rosa", "Sven"});
  auto snap = create_room(seats[0], {{"allow_spectators", true}, {"capacity", 3}});
  std::string room_id = str(at(snap, "id"));
  join_room(seats[1], {{"room_id", room_id}});
  seats[1].ws->call("room.ready", {{"ready", true}});
  seats[0].ws->call("room.start");
  seats[1].ws->expect("room.game_started");

  auto f = seats[2].ws->request("room.join", {{"room_id", room_id}});
  EXPECT_EQ(error_code(f), "game_in_progress") << json::serialize(f);

  auto spec = join_room(seats[2], {{"room_id", room_id}, {"spectate", true}});
  EXPECT_EQ(str(at(spec, "state")), "playing");
  EXPECT_TRUE(has(spec, "game")) << "a spectator sees the public game view: "
                                 << json::serialize(spec);
  EXPECT_FALSE(has(spec, "game.mine")) << "a spectator has no private subtotal";
  EXPECT_EQ(at(member_of(spec, seats[2].acc.id), "spectator"), json::value(true));
  for (int i : {0, 1}) {
    auto ev = seats[i].ws->recv_until([&](const json::object& fr) {
      return str(at(fr, "type")) == "room.member_joined" &&
             num(at(fr, "data.member.id")) == seats[2].acc.id;
    });
    ASSERT_TRUE(ev) << seats[i].acc.nickname;
    EXPECT_EQ(at(*ev, "data.member.spectator"), json::value(true));
  }

  // The spectator watches the public events but may not play.
  seats[1].ws->call("test.counter.add", {{"n", 4}});
  auto ev = seats[2].ws->expect("test.counter.total");
  EXPECT_EQ(num(at(ev, "data.total")), 4);
  f = seats[2].ws->request("test.counter.add", {{"n", 1}});
  EXPECT_EQ(error_code(f), "forbidden") << json::serialize(f);
  f = seats[2].ws->request("room.ready", {{"ready", true}});
  EXPECT_FALSE(error_code(f).empty()) << json::serialize(f);

  // The room list still counts players only.
  auto list = seats[3].ws->call("room.list");
  for (const auto& r : at(list, "rooms").as_array()) {
    if (str(at(r, "id")) == room_id) {
      EXPECT_EQ(num(at(r, "players")), 2);
      EXPECT_EQ(str(at(r, "state")), "playing");
      EXPECT_EQ(at(r, "allow_spectators"), json::value(true)) << "so a client can offer to watch";
    }
  }
}

TEST_F(lobby_flow_test, spectating_needs_allow_spectators) {
  auto seats = seat_players(port(), {"Tara", "Uma", "Vic"});
  auto snap = create_room(seats[0], {});
  std::string room_id = str(at(snap, "id"));
  EXPECT_EQ(at(snap, "allow_spectators"), json::value(false));
  join_room(seats[1], {{"room_id", room_id}});
  seats[1].ws->call("room.ready", {{"ready", true}});
  seats[0].ws->call("room.start");
  auto f = seats[2].ws->request("room.join", {{"room_id", room_id}, {"spectate", true}});
  EXPECT_EQ(error_code(f), "forbidden") << json::serialize(f);
  f = seats[2].ws->request("room.join", {{"room_id", room_id}});
  EXPECT_EQ(error_code(f), "game_in_progress") << json::serialize(f);
}

TEST_F(lobby_flow_test, leader_kicks_a_member) {
  auto seats = seat_players(port(), {"Kim", "Lee", "Park"});
  auto snap = create_room(seats[0], {});
  std::string room_id = str(at(snap, "id"));
  join_room(seats[1], {{"room_id", room_id}});
  join_room(seats[2], {{"room_id", room_id}});

  auto f = seats[1].ws->request("room.kick", {{"player", seats[2].acc.id}});
  EXPECT_EQ(error_code(f), "not_leader") << json::serialize(f);
  f = seats[0].ws->request("room.kick", {{"player", 999999}});
  EXPECT_EQ(error_code(f), "unknown_player") << json::serialize(f);

  seats[0].ws->call("room.kick", {{"player", seats[2].acc.id}});
  auto removed = seats[2].ws->expect("room.removed");
  EXPECT_EQ(str(at(removed, "data.reason")), "kicked");
  for (int i : {0, 1}) {
    auto ev = seats[i].ws->expect("room.member_left");
    EXPECT_EQ(num(at(ev, "data.player")), seats[2].acc.id);
    EXPECT_EQ(str(at(ev, "data.reason")), "kicked");
  }
  // The kicked player is out: room actions say so, and they may join elsewhere or come back.
  f = seats[2].ws->request("room.chat", {{"text", "hey"}});
  EXPECT_EQ(error_code(f), "not_in_room") << json::serialize(f);
  auto back = join_room(seats[2], {{"room_id", room_id}});
  EXPECT_EQ(member_ids(back).size(), 3u);
}

TEST_F(lobby_flow_test, leader_leaving_passes_leadership) {
  auto seats = seat_players(port(), {"Mina", "Nari", "Oona"});
  auto snap = create_room(seats[0], {});
  std::string room_id = str(at(snap, "id"));
  join_room(seats[1], {{"room_id", room_id}});
  join_room(seats[2], {{"room_id", room_id}});
  seats[1].ws->call("room.ready", {{"ready", true}});

  seats[0].ws->call("room.leave");
  for (int i : {1, 2}) {
    auto left = seats[i].ws->expect("room.member_left");
    EXPECT_EQ(num(at(left, "data.player")), seats[0].acc.id);
    EXPECT_EQ(str(at(left, "data.reason")), "left");
    auto lc = seats[i].ws->expect("room.leader_changed");
    EXPECT_EQ(num(at(lc, "data.player")), seats[1].acc.id) << "the longest-seated player leads";
  }
  EXPECT_EQ(seats[0].ws->count_received("room.removed"), 0u) << "leaving is not being removed";
  // The new leader leads: kicking works, and the old leader's room actions fail.
  auto f = seats[0].ws->request("room.start");
  EXPECT_EQ(error_code(f), "not_in_room") << json::serialize(f);
  f = seats[2].ws->request("room.start");
  EXPECT_EQ(error_code(f), "not_leader") << json::serialize(f);
  seats[2].ws->call("room.ready", {{"ready", true}});
  auto started = seats[1].ws->call("room.start");
  EXPECT_FALSE(str(at(started, "game_id")).empty());
}

TEST_F(lobby_flow_test, can_start_turns_false_when_too_few_players_remain) {
  auto seats = seat_players(port(), {"Pair1", "Pair2"});
  auto snap = create_room(seats[0], {});
  join_room(seats[1], {{"room_id", at(snap, "id")}});
  seats[1].ws->call("room.ready", {{"ready", true}});
  auto ev = seats[0].ws->expect("room.can_start");
  EXPECT_EQ(at(ev, "data.can_start"), json::value(true));
  seats[1].ws->call("room.leave");
  ev = seats[0].ws->expect("room.can_start");
  EXPECT_EQ(at(ev, "data.can_start"), json::value(false));
  EXPECT_EQ(str(at(ev, "data.reason")), "too_few_players");
  auto f = seats[0].ws->request("room.start");
  EXPECT_EQ(error_code(f), "too_few_players") << json::serialize(f);
}

// A member who becomes leader has their ready flag cleared (the snapshot shows ready: false). The
// others must hear about it: room.member_ready is "someone's ready flag changed", and without it
// their view keeps showing the new leader as ready.
TEST_F(lobby_flow_test, a_new_leaders_cleared_ready_flag_is_announced) {
  auto seats = seat_players(port(), {"Old", "Heir", "Third"});
  auto snap = create_room(seats[0], {});
  join_room(seats[1], {{"room_id", at(snap, "id")}});
  join_room(seats[2], {{"room_id", at(snap, "id")}});
  seats[1].ws->call("room.ready", {{"ready", true}});
  seats[0].ws->call("room.transfer", {{"player", seats[1].acc.id}});
  seats[2].ws->expect("room.leader_changed");
  // The server's view, through a fresh snapshot (a second socket for Third).
  ws_client again(port(), seats[2].acc.token);
  auto room = at(again.hello(), "room").as_object();
  EXPECT_EQ(num(at(room, "leader")), seats[1].acc.id);
  bool heir_ready = at(member_of(room, seats[1].acc.id), "ready").as_bool();
  // What the others were told: anything the transfer announced precedes this chat line, which the
  // room sends later on its strand.
  again.call("room.chat", {{"text", "barrier"}});
  seats[0].ws->expect("room.chat");
  bool announced = false;
  for (const auto& f : seats[0].ws->history()) {
    announced |= str(at(f, "type")) == "room.member_ready" &&
                 num(at(f, "data.player")) == seats[1].acc.id &&
                 at(f, "data.ready") == json::value(false);
  }
  EXPECT_TRUE(heir_ready || announced) << "the new leader's ready flag was cleared (snapshot: "
                                          "ready false) without a room.member_ready event";
}

TEST_F(lobby_flow_test, leader_transfers_leadership) {
  auto seats = seat_players(port(), {"Xena", "Yuri"});
  auto snap = create_room(seats[0], {});
  join_room(seats[1], {{"room_id", at(snap, "id")}});
  seats[0].ws->call("room.transfer", {{"player", seats[1].acc.id}});
  for (auto& s : seats) {
    auto lc = s.ws->expect("room.leader_changed");
    EXPECT_EQ(num(at(lc, "data.player")), seats[1].acc.id);
  }
  auto f = seats[0].ws->request("room.transfer", {{"player", seats[0].acc.id}});
  EXPECT_EQ(error_code(f), "not_leader") << json::serialize(f);
}

TEST_F(lobby_flow_test, game_ends_on_its_timer) {
  auto seats = seat_players(port(), {"Timer", "Clocky"});
  auto snap = create_room(seats[0], {{"settings", {{"end_after_ms", 300}}}});
  EXPECT_EQ(num(at(snap, "settings.end_after_ms")), 300);
  join_room(seats[1], {{"room_id", at(snap, "id")}});
  seats[1].ws->call("room.ready", {{"ready", true}});
  auto before = now_ms();
  auto game_id = str(at(seats[0].ws->call("room.start"), "game_id"));
  auto started = seats[1].ws->expect("test.counter.started");
  auto deadline = num(at(started, "data.deadline"));
  EXPECT_GE(deadline, before + 300);
  EXPECT_LE(deadline, now_ms() + 300);
  seats[0].ws->call("test.counter.add", {{"n", 6}});
  for (auto& s : seats) {
    auto ended = s.ws->expect("room.game_ended");
    EXPECT_EQ(str(at(ended, "data.game_id")), game_id);
    EXPECT_EQ(str(at(ended, "data.result.reason")), "time");
    EXPECT_EQ(num(at(ended, "data.result.total")), 6);
    EXPECT_GE(now_ms(), deadline - 5) << "ended before its deadline";
  }
  auto g = http_call(port(), "GET", "/v1/games/" + game_id, {}, bearer(seats[1].acc.token));
  ASSERT_EQ(g.status, 200) << g.body;
  EXPECT_EQ(str(at(g.json(), "record.reason")), "time");
}

// Work finished on another thread (as an LLM reply is) comes back into the game through the
// room's async gate while the game runs, and is dropped once it has ended; the room-wide announcer
// reaches the room either way.
TEST_F(lobby_flow_test, async_work_returns_to_the_running_game_only) {
  auto seats = seat_players(port(), {"Async", "Await"});
  auto snap = create_room(seats[0], {});
  join_room(seats[1], {{"room_id", at(snap, "id")}});
  seats[1].ws->call("room.ready", {{"ready", true}});
  seats[0].ws->call("room.start");
  seats[1].ws->expect("test.counter.started");

  seats[0].ws->call("test.counter.later", {{"n", 4}, {"delay_ms", 0}});
  auto total = seats[1].ws->expect("test.counter.total");
  EXPECT_EQ(num(at(total, "data.total")), 4);
  EXPECT_EQ(num(at(seats[1].ws->expect("test.counter.announced"), "data.n")), 4);

  // Ask for more later, then end the game before it arrives.
  seats[0].ws->call("test.counter.later", {{"n", 7}, {"delay_ms", 300}});
  seats[0].ws->call("test.counter.finish");
  auto ended = seats[1].ws->expect("room.game_ended");
  EXPECT_EQ(num(at(ended, "data.result.total")), 4);
  EXPECT_EQ(num(at(seats[1].ws->expect("test.counter.announced"), "data.n")), 7);
  // The late addition never reached the ended game: no total event came before the announcement.
  for (const auto& f : seats[1].ws->history()) {
    if (str(at(f, "type")) == "test.counter.total") {
      EXPECT_EQ(num(at(f, "data.total")), 4) << "late work changed an ended game";
    }
  }
}

// GET /v1/accounts/{id}/games lists "newest first" and pages with `before`. Games here end quickly
// one after another (several may end in the same millisecond, as busy rooms do): the list must
// still be in the order they were played, and paging with limit=1 must visit every game once.
TEST_F(lobby_flow_test, game_history_is_newest_first_and_pages_without_gaps) {
  auto seats = seat_players(port(), {"Hist", "Tory"});
  auto snap = create_room(seats[0], {});
  join_room(seats[1], {{"room_id", at(snap, "id")}});
  std::vector<std::string> ids;  // in the order played
  for (int round = 0; round < 5; ++round) {
    seats[1].ws->call("room.ready", {{"ready", true}});
    ids.push_back(str(at(seats[0].ws->call("room.start"), "game_id")));
    seats[0].ws->call("test.counter.finish");
  }
  auto base = "/v1/accounts/" + std::to_string(seats[1].acc.id) + "/games";
  auto describe = [](const json::value& v) {
    std::string out;
    for (const auto& g : at(v, "games").as_array())
      out += " " + str(at(g, "id")) + "@" + std::to_string(num(at(g, "ended_at")));
    return out;
  };
  auto all_games = http_call(port(), "GET", base, {}, bearer(seats[1].acc.token));
  ASSERT_EQ(all_games.status, 200) << all_games.body;
  auto av = all_games.json();
  ASSERT_EQ(at(av, "games").as_array().size(), ids.size()) << all_games.body;
  std::vector<std::string> listed;
  for (const auto& g : at(av, "games").as_array())
    listed.push_back(str(at(g, "id")));
  std::vector<std::string> newest_first(ids.rbegin(), ids.rend());
  EXPECT_EQ(listed, newest_first) << "listed (id@ended_at):" << describe(av);

  // Page through with limit=1, each page before the previous page's game.
  std::vector<std::string> paged;
  std::string query = "?limit=1";
  for (int page = 0; page < 10; ++page) {
    auto r = http_call(port(), "GET", base + query, {}, bearer(seats[1].acc.token));
    ASSERT_EQ(r.status, 200) << r.body;
    auto v = r.json();
    if (at(v, "games").as_array().empty()) break;
    paged.push_back(str(at(v, "games.0.id")));
    query = "?limit=1&before=" + std::to_string(num(at(v, "games.0.ended_at")));
  }
  EXPECT_EQ(paged.size(), ids.size()) << "paging skipped games that ended in the same millisecond "
                                         "as a page boundary; all games:"
                                      << describe(av);

  // Someone who never played has no games.
  auto none = http_call(port(), "GET", "/v1/accounts/999999/games", {}, bearer(seats[0].acc.token));
  auto nv = none.json();
  EXPECT_TRUE(at(nv, "games").as_array().empty());
}

TEST_F(lobby_flow_test, leaving_during_a_game_and_the_last_player_out_ends_it) {
  auto seats = seat_players(port(), {"Stay", "Go"});
  auto snap = create_room(seats[0], {});
  join_room(seats[1], {{"room_id", at(snap, "id")}});
  seats[1].ws->call("room.ready", {{"ready", true}});
  auto game_id = str(at(seats[0].ws->call("room.start"), "game_id"));
  seats[1].ws->call("test.counter.add", {{"n", 2}});
  // Kicking is not allowed mid-game; leaving is.
  auto f = seats[0].ws->request("room.kick", {{"player", seats[1].acc.id}});
  EXPECT_EQ(error_code(f), "game_in_progress") << json::serialize(f);
  seats[1].ws->call("room.leave");
  auto left = seats[0].ws->expect("room.member_left");
  EXPECT_EQ(num(at(left, "data.player")), seats[1].acc.id);
  EXPECT_EQ(str(at(left, "data.reason")), "left");
  // The game goes on for one; when the last player leaves, it ends and is recorded.
  seats[0].ws->call("test.counter.add", {{"n", 1}});
  seats[0].ws->call("room.leave");
  auto g = http_call(port(), "GET", "/v1/games/" + game_id, {}, bearer(seats[1].acc.token));
  ASSERT_EQ(g.status, 200) << "a game ended by everyone leaving is still recorded: " << g.body;
  auto gv = g.json();
  EXPECT_EQ(at(gv, "players").as_array().size(), 2u) << "players who left still played";
  // The empty room is gone.
  auto list = seats[1].ws->call("room.list");
  EXPECT_EQ(json::serialize(list).find(str(at(snap, "id"))), std::string::npos);
}

TEST_F(lobby_flow_test, a_player_who_left_gets_no_more_room_events) {
  auto seats = seat_players(port(), {"Out", "In1", "In2"});
  auto snap = create_room(seats[1], {});
  join_room(seats[0], {{"room_id", at(snap, "id")}});
  join_room(seats[2], {{"room_id", at(snap, "id")}});
  seats[0].ws->call("room.leave");
  seats[1].ws->call("room.chat", {{"text", "after you left"}});
  seats[2].ws->call("room.ready", {{"ready", true}});
  // Rejoining is ordered after those on the room's strand: anything meant for the leaver would
  // have arrived before this reply.
  join_room(seats[0], {{"room_id", at(snap, "id")}});
  EXPECT_EQ(seats[0].ws->count_received("room.chat"), 0u);
  EXPECT_EQ(seats[0].ws->count_received("room.member_ready"), 0u);
}

TEST_F(lobby_flow_test, room_list_filters_by_mode) {
  auto seats = seat_players(port(), {"Lister"});
  auto snap = create_room(seats[0], {});
  auto list = seats[0].ws->call("room.list", {{"mode", "other.mode"}});
  EXPECT_TRUE(at(list, "rooms").as_array().empty()) << json::serialize(list);
  list = seats[0].ws->call("room.list", {{"mode", "test.counter"}});
  EXPECT_EQ(at(list, "rooms").as_array().size(), 1u);
  auto rest = http_call(port(), "GET", "/v1/rooms?mode=other.mode");
  EXPECT_TRUE(at(rest.json(), "rooms").as_array().empty()) << rest.body;
  rest = http_call(port(), "GET", "/v1/rooms?mode=test.counter");
  EXPECT_NE(rest.body.find(str(at(snap, "id"))), std::string::npos) << rest.body;
}

TEST_F(lobby_flow_test, invite_code_lets_a_friend_skip_the_password) {
  auto seats = seat_players(port(), {"Host", "Pal"});
  auto snap = create_room(seats[0], {{"private", true}, {"password", "hunter22"}});
  auto js = join_room(seats[1], {{"invite_code", at(snap, "invite_code")}});
  EXPECT_EQ(member_ids(js).size(), 2u) << "the password is required to join by id only";
}

TEST_F(lobby_flow_test, transfer_to_a_spectator_or_stranger_is_refused) {
  auto seats = seat_players(port(), {"Boss", "Player", "Watcher", "Nobody"});
  auto snap = create_room(seats[0], {{"allow_spectators", true}});
  join_room(seats[1], {{"room_id", at(snap, "id")}});
  join_room(seats[2], {{"room_id", at(snap, "id")}, {"spectate", true}});
  auto f = seats[0].ws->request("room.transfer", {{"player", seats[2].acc.id}});
  EXPECT_EQ(error_code(f), "unknown_player") << json::serialize(f);
  f = seats[0].ws->request("room.transfer", {{"player", seats[3].acc.id}});
  EXPECT_EQ(error_code(f), "unknown_player") << json::serialize(f);
}

// A chat line is answered with two frames back to back: the reply, then the room.chat event. Both
// must leave at once. Writing them as separate small segments without TCP_NODELAY lets Nagle's
// algorithm hold the second until the client's delayed ACK (about 40 ms on Linux) — far too slow
// for a realtime game. The bound is generous (20 ms a round trip on loopback, against ~1 ms
// expected and ~40 ms when stalled).
TEST(lobby_latency_test, an_event_right_after_a_reply_is_not_delayed) {
  server_process srv({"limits.ws_rate=1000", "limits.ws_burst=1000"});
  auto seats = seat_players(srv.port(), {"Fast", "Quick"});
  auto snap = snapshot_of_reply(
      seats[0].ws->call("room.create", {{"mode", "test.counter"}, {"name", "Speed"}}));
  seats[1].ws->call("room.join", {{"room_id", at(snap, "id")}});
  const int rounds = 30;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < rounds; ++i) {
    seats[0].ws->call("room.chat", {{"text", "ping " + std::to_string(i)}});
    seats[0].ws->expect("room.chat");
  }
  auto took = std::chrono::duration_cast<ms>(std::chrono::steady_clock::now() - start);
  EXPECT_LT(took.count(), rounds * 20)
      << rounds << " chat round trips (reply + event) took " << took.count() << " ms";
}

TEST(lobby_limits_test, max_rooms_is_enforced) {
  server_process srv({"rooms.max_rooms=1"});
  auto seats = seat_players(srv.port(), {"Room1", "Room2"});
  seats[0].ws->call("room.create", {{"mode", "test.counter"}, {"name", "Only"}});
  auto f = seats[1].ws->request("room.create", {{"mode", "test.counter"}, {"name", "Extra"}});
  EXPECT_EQ(error_code(f), "unavailable") << json::serialize(f);
  // Once the room is gone, another may be made.
  seats[0].ws->call("room.leave");
  seats[1].ws->call("room.create", {{"mode", "test.counter"}, {"name", "Now"}});
}

TEST_F(lobby_flow_test, a_mode_that_throws_ends_only_its_game_and_stores_it_as_aborted) {
  auto seats = seat_players(port(), {"Crash", "Bang", "Calm1", "Calm2"});
  auto bad = create_room(seats[0], {});
  join_room(seats[1], {{"room_id", at(bad, "id")}});
  auto good = create_room(seats[2], {});
  join_room(seats[3], {{"room_id", at(good, "id")}});
  std::string game_id;
  for (int leader : {0, 2}) {
    seats[leader + 1].ws->call("room.ready", {{"ready", true}});
    auto started = seats[leader].ws->call("room.start");
    if (leader == 0) game_id = str(at(started, "game_id"));
  }
  seats[1].ws->call("test.counter.add", {{"n", 3}});
  // The request that broke the mode is answered `internal` (the one honest use of that code).
  auto crashed = seats[0].ws->request("test.counter.crash");
  EXPECT_EQ(error_code(crashed), "internal") << json::serialize(crashed);
  // Both players are told the game ended, and why; nobody is removed from the room.
  for (int i : {0, 1}) {
    auto ended = seats[i].ws->expect("room.game_ended");
    EXPECT_EQ(str(at(ended, "data.game_id")), game_id);
    EXPECT_EQ(str(at(ended, "data.result.aborted")), "error");
    EXPECT_FALSE(str(at(ended, "data.result.message")).empty());
    EXPECT_EQ(seats[i].ws->count_received("room.removed"), 0u);
  }
  // The room goes on: it waits again with both members, and chat works.
  seats[1].ws->call("room.chat", {{"text", "still here"}});
  seats[0].ws->expect("room.chat");
  seats[1].ws->call("room.ready", {{"ready", true}});
  seats[0].ws->call("room.start");
  seats[0].ws->expect("room.game_started");
  // The aborted game is stored with its players.
  std::optional<json::value> record;
  for (int i = 0; i < 100 && !record; ++i) {
    auto g = http_call(port(), "GET", "/v1/games/" + game_id, {}, bearer(seats[0].acc.token));
    if (g.status == 200) {
      record = g.json();
    } else {
      std::this_thread::sleep_for(20ms);
    }
  }
  ASSERT_TRUE(record) << "the aborted game was not stored";
  EXPECT_EQ(str(at(*record, "record.aborted")), "error");
  EXPECT_EQ(at(*record, "players").as_array().size(), 2u);
  // The other room plays on.
  auto add = seats[3].ws->call("test.counter.add", {{"n", 2}});
  EXPECT_EQ(num(at(add, "total")), 2);
  EXPECT_EQ(http_call(port(), "GET", "/health").status, 200);
  auto m = http_call(port(), "GET", "/metrics");
  EXPECT_NE(m.body.find("\nmaratang_mode_crashes_total 1\n"), std::string::npos) << m.body;
}

// A room's password is never stored: its snapshot keeps a salted hash (Argon2id), and the room
// restored from it after kill -9 asks for the same password (a wrong one is refused; the right
// one passes on to the next check: the game is in progress, so its bearer spectates).
TEST(lobby_restart_test, a_rooms_password_is_stored_as_a_salted_hash_and_holds_after_a_restart) {
  temp_dir data;
  const auto dir = data.path() / "data";
  const std::vector<std::string> sets{"rooms.reconnect_grace_ms=20000"};
  std::string room_id;
  std::vector<seat> seats;
  {
    server_process srv(sets, dir);
    seats = seat_players(srv.port(), {"Lock", "Key", "Guess"});
    const json::object locked{{"mode", "test.counter"},
                              {"name", "Locked"},
                              {"password", "open sesame"},
                              {"allow_spectators", true}};
    room_id = str(at(snapshot_of_reply(seats[0].ws->call("room.create", locked)), "id"));
    EXPECT_EQ(error_code(seats[1].ws->request("room.join",
                                              {{"room_id", room_id}, {"password", "open sesam"}})),
              "wrong_password");
    seats[1].ws->call("room.join", {{"room_id", room_id}, {"password", "open sesame"}});
    seats[1].ws->call("room.ready", {{"ready", true}});
    seats[0].ws->call("room.start");
    seats[0].ws->call("test.counter.add", {{"n", 1}});
    auto doc = wait_snapshot(dir / "maratang.db", [&](const json::object& d) {
      return str(at(d, "room.id")) == room_id;
    });
    const std::string text = json::serialize(doc);
    EXPECT_EQ(text.find("open sesame"), std::string::npos) << text;
    EXPECT_FALSE(has(doc, "room.password")) << text;
    EXPECT_TRUE(str(at(doc, "room.password_hash")).starts_with("$argon2id$")) << text;
    ASSERT_EQ(::kill(srv.pid(), SIGKILL), 0);
    EXPECT_EQ(srv.stop().signal, SIGKILL);
    for (auto& s : seats)
      s.ws->drop();
  }
  // The room, restored, asks `who` for the same password.
  const auto password_holds = [&](server_process& srv, seat& who) {
    ws_client ws(srv.port(), who.acc.token);
    ws.hello();
    auto join = [&](const std::string& password, bool spectate) {
      return ws.request("room.join",
                        {{"room_id", room_id}, {"password", password}, {"spectate", spectate}});
    };
    EXPECT_EQ(error_code(join("open sesame!", false)), "wrong_password");
    EXPECT_EQ(error_code(join("open sesame", false)), "game_in_progress");
    auto in = join("open sesame", true);
    ASSERT_EQ(error_code(in), "") << json::serialize(in);
    EXPECT_EQ(str(at(in, "data.room.id")), room_id);
  };
  {
    server_process srv(sets, dir);
    password_holds(srv, seats[2]);
    ASSERT_EQ(::kill(srv.pid(), SIGKILL), 0);
    EXPECT_EQ(srv.stop().signal, SIGKILL);
  }
  // A snapshot written before hashes were kept (the password itself) is restored too, and the
  // password hashed.
  {
    auto db = store::sqlite_backend::open((dir / "maratang.db").string());
    auto snaps = db->room_snapshots("node-1");
    ASSERT_EQ(snaps.size(), 1u);
    auto doc = json::parse(snaps[0].data_json).as_object();
    auto& room = doc.at("room").as_object();
    room.erase("password_hash");
    room["password"] = "open sesame";
    snaps[0].data_json = json::serialize(doc);
    db->put_room_snapshot(snaps[0]);
  }
  server_process srv(sets, dir);
  auto late = seat_players(srv.port(), {"Late"});
  late[0].ws->drop();
  password_holds(srv, late[0]);
}

}  // namespace
}  // namespace maratang::it
