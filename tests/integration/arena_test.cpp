// Arena over real WebSockets: a 30 Hz input stream passes under a general message limit far below
// it (inputs have their own budget), inputs get no reply and the states carry the applied sequence
// and turn into deltas once acknowledged, and a client flooding inputs is cut off while the game
// goes on for the others.
#include <gtest/gtest.h>

#include <thread>

#include "harness.hpp"
#include "modes/arena/snapshot.hpp"

namespace maratang::it {
namespace {

class arena_test : public ::testing::Test {
 protected:
  // The general limit (5 a second) would refuse a 30 Hz stream; the input budget is the default.
  server_process srv_{{"limits.ws_rate=5", "limits.ws_burst=10"}};
  int port() const { return srv_.port(); }

  // Two players in a started Arena game.
  std::vector<seat> start_game() {
    auto seats = seat_players(port(), {"Ari", "Bo"});
    auto snap =
        snapshot_of_reply(seats[0].ws->call("room.create", {{"mode", "arena"}, {"name", "Pit"}}));
    seats[1].ws->call("room.join", {{"room_id", at(snap, "id")}});
    seats[1].ws->call("room.ready", {{"ready", true}});
    seats[0].ws->call("room.start");
    for (auto& s : seats) {
      auto started = s.ws->expect("arena.started");
      EXPECT_EQ(num(at(started, "data.hz")), 30);
    }
    return seats;
  }
};

bool is_error(const json::object& f) {
  return f.contains("error");
}

TEST_F(arena_test, an_input_stream_is_applied_without_replies_and_states_become_deltas) {
  auto seats = start_game();
  ws_client& ari = *seats[0].ws;
  std::int64_t acked = 0;
  std::int64_t deltas = 0;
  // Two seconds of inputs at 30 a second, each acknowledging the newest state received.
  for (int seq = 1; seq <= 60; ++seq) {
    json::object data{{"seq", seq}, {"right", seq % 20 < 10}, {"left", seq % 20 >= 10}};
    while (auto st = ari.recv_until("arena.state", 0ms)) {
      acked = num(at(*st, "data.tick"));
      if (num(at(*st, "data.base")) != 0) ++deltas;
    }
    if (acked) data["ack"] = acked;
    ASSERT_TRUE(ari.send_json(json::object{{"type", "arena.input"}, {"data", data}}));
    std::this_thread::sleep_for(33ms);  // a client's 30 Hz input clock
  }
  // The last input is applied and its sequence comes back in a state.
  auto last = ari.recv_until(
      [](const json::object& f) {
        return str(at(f, "type")) == "arena.state" && num(at(f, "data.seq")) == 60;
      },
      kWait);
  ASSERT_TRUE(last) << "the 60th input was never acknowledged";
  EXPECT_GT(deltas, 10) << "acknowledged states turn into deltas";
  for (const auto& f : ari.history())
    EXPECT_FALSE(is_error(f)) << json::serialize(f);
  EXPECT_FALSE(ari.closed());
  // The other player got states of its own (at least the full one on joining).
  EXPECT_TRUE(seats[1].ws->recv_until("arena.state", kWait));
}

TEST_F(arena_test, a_client_flooding_inputs_is_cut_off_and_the_game_goes_on) {
  auto seats = start_game();
  ws_client& bo = *seats[1].ws;
  for (int seq = 1; seq <= 400 && !bo.closed(); ++seq)
    bo.send_json(json::object{{"type", "arena.input"}, {"data", {{"seq", seq}, {"up", true}}}});
  auto closed = bo.recv_until("session.closed", kWait);
  ASSERT_TRUE(closed) << "a flooding client is closed";
  EXPECT_EQ(str(at(*closed, "data.reason")), "rate_limited");
  // Over the budget but before the cut, inputs are refused with a readable reason.
  bool refused = false;
  for (const auto& f : bo.history()) {
    if (is_error(f) && error_code(f) == "rate_limited") refused = true;
  }
  EXPECT_TRUE(refused);
  // Ari goes on playing: a new input is applied.
  ws_client& ari = *seats[0].ws;
  ASSERT_TRUE(
      ari.send_json(json::object{{"type", "arena.input"}, {"data", {{"seq", 1}, {"down", true}}}}));
  auto st = ari.recv_until(
      [](const json::object& f) {
        return str(at(f, "type")) == "arena.state" && num(at(f, "data.seq")) == 1;
      },
      kWait);
  EXPECT_TRUE(st);
  // The counters are on /metrics.
  auto m = http_call(port(), "GET", "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("maratang_arena_inputs_total "), std::string::npos);
  EXPECT_NE(m.body.find("maratang_arena_inputs_dropped_total{reason=\"too_many\"}"),
            std::string::npos);
  EXPECT_NE(m.body.find("maratang_arena_tick_seconds_count "), std::string::npos);
}

// A message charged to the input budget must be an input once parsed: a second "type" key does
// not buy a chat line the input budget.
TEST_F(arena_test, a_disguised_message_is_refused) {
  auto seats = start_game();
  ws_client& ari = *seats[0].ws;
  ASSERT_TRUE(ari.send_raw_text(
      R"({"type":"arena.input","type":"room.chat","id":5,"data":{"text":"hi","seq":1}})"));
  // Parsed, it is either the chat line (refused: not an input) or an input (silent).
  auto f = ari.recv_until(
      [](const json::object& fr) { return fr.contains("id") && num(at(fr, "id")) == 5; }, 1s);
  if (f) {
    EXPECT_TRUE(is_error(*f)) << json::serialize(*f);
  }
  EXPECT_EQ(seats[1].ws->recv_until("room.chat", 300ms), std::nullopt) << "no chat line went out";
}

// A client that chose binary at hello sends binary inputs and gets binary states, which it
// applies as deltas against its own copies; a JSON client in the same room still gets JSON.
TEST_F(arena_test, a_binary_client_plays_in_binary_frames) {
  auto p = make_player(port(), "Bin");
  ws_client bin(port(), p.token);
  auto hello = bin.call("hello", {{"version", 1}, {"encoding", "binary"}});
  EXPECT_GT(num(at(hello, "limits.inputs_per_second")), 0);
  // Outside a room, then in one whose game has not started, a binary input is refused as its
  // JSON form is, and the connection goes on.
  auto refused_as = [&](const char* code) {
    arena::input_message in;
    in.seq = 1;
    ASSERT_TRUE(bin.send_raw_binary(arena::encode_input(in)));
    auto err = bin.recv_until([](const json::object& f) { return f.contains("error"); }, kWait);
    ASSERT_TRUE(err) << code;
    EXPECT_EQ(error_code(*err), code) << json::serialize(*err);
    EXPECT_EQ(str(at(*err, "type")), "arena.input");
    EXPECT_TRUE(bin.ping_ok());
  };
  refused_as("not_in_room");
  auto others = seat_players(port(), {"Jay"});
  auto snap = snapshot_of_reply(bin.call("room.create", {{"mode", "arena"}, {"name", "Bits"}}));
  refused_as("no_game");
  others[0].ws->call("room.join", {{"room_id", at(snap, "id")}});
  others[0].ws->call("room.ready", {{"ready", true}});
  bin.call("room.start");
  bin.expect("arena.started");

  std::map<arena::tick_t, arena::view> have;
  std::uint32_t last_seq = 0;
  std::int64_t binary_states = 0;
  auto take_states = [&](ms wait) {
    while (auto f = bin.recv_until("(binary)", wait)) {
      auto d = arena::decode_binary(str(at(*f, "bytes")));
      ASSERT_TRUE(d) << d.error().message;
      auto base = static_cast<arena::tick_t>(num(at(*d, "base")));
      const arena::view* b = nullptr;
      if (base != 0) {
        ASSERT_TRUE(have.count(base)) << "a delta against a state the client never had";
        b = &have[base];
      }
      auto v = arena::apply_state(b, *d);
      ASSERT_TRUE(v) << v.error().message;
      have[v->tick] = *v;
      last_seq = v->seq;
      ++binary_states;
      wait = 0ms;
    }
  };
  for (std::uint32_t seq = 1; seq <= 30; ++seq) {
    take_states(0ms);
    if (HasFatalFailure()) return;
    arena::input_message in;
    in.seq = seq;
    in.buttons = seq % 10 < 5 ? arena::btn_down : arena::btn_up;
    in.aim = 16384;
    if (!have.empty()) in.ack = have.rbegin()->first;
    ASSERT_TRUE(bin.send_raw_binary(arena::encode_input(in)));
    std::this_thread::sleep_for(33ms);  // a client's 30 Hz input clock
  }
  for (int i = 0; i < 50 && last_seq != 30; ++i) {
    take_states(100ms);
    if (HasFatalFailure()) return;
  }
  EXPECT_EQ(last_seq, 30u) << "every binary input was applied";
  EXPECT_GT(binary_states, 5);
  // Malformed binary: a readable JSON error, and the connection goes on.
  ASSERT_TRUE(bin.send_raw_binary(std::string("\x01\x05", 2)));
  auto err = bin.recv_until([](const json::object& f) { return f.contains("error"); }, kWait);
  ASSERT_TRUE(err);
  EXPECT_EQ(error_code(*err), "bad_message");
  EXPECT_TRUE(bin.ping_ok());
  // The 30 inputs reached the game by the fast path (as bytes); the two refused ones (outside a
  // room, before the game) never reached it, and the malformed one went the general path.
  EXPECT_EQ(metric_value(port(), "maratang_arena_fast_path_total"), 30.0);
  // The JSON client got JSON states.
  EXPECT_TRUE(others[0].ws->recv_until("arena.state", kWait));
}

// A valid Arena input from a player whose room plays another mode is not taken by the fast path:
// the general path refuses it as no message of that room's mode, and the connection goes on.
TEST_F(arena_test, a_binary_input_in_a_room_of_another_mode_is_unknown_type) {
  auto p = make_player(port(), "Elsewhere");
  ws_client c(port(), p.token);
  c.call("hello", {{"version", 1}, {"encoding", "binary"}});
  snapshot_of_reply(c.call("room.create", {{"mode", "mafia"}, {"name", "Not an arena"}}));
  arena::input_message in;
  in.seq = 1;
  ASSERT_TRUE(c.send_raw_binary(arena::encode_input(in)));
  auto err = c.recv_until([](const json::object& f) { return f.contains("error"); }, kWait);
  ASSERT_TRUE(err);
  EXPECT_EQ(error_code(*err), "unknown_type") << json::serialize(*err);
  EXPECT_EQ(str(at(*err, "type")), "arena.input");
  EXPECT_TRUE(c.ping_ok());
}

}  // namespace
}  // namespace maratang::it
