// The fixtures of the JavaScript SDK's tests (web/test/arena_test.mjs), made here by the real
// mode, simulation and snapshot code, so that the SDK is checked against the server and not
// against a copy of its numbers:
//   web/test/fixtures/arena_moves.json  the arena.started a game sends at three tick rates, and
//       scripted inputs through sim::step on its map (some ticks without an input, into every side
//       of a wall and into the map's edges) with the position after each;
//   web/test/fixtures/arena_states.json the state messages one client was sent (JSON and binary),
//       30% of them lost, acknowledgements late and a blackout, with the full view at each.
// The test fails when a fixture differs from what the code makes now; run it with
// MARATANG_UPDATE_FIXTURES=1 to write them again, and commit them with the change.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <tuple>

#include "lobby/fake_room.hpp"
#include "modes/arena/arena_mode.hpp"
#include "modes/arena/sim.hpp"
#include "modes/arena/snapshot.hpp"

namespace maratang::arena {
namespace {

namespace json = boost::json;
const std::filesystem::path kFixtures =
    std::filesystem::path(MARATANG_SOURCE_DIR) / "web" / "test" / "fixtures";

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Compares `made` with the committed fixture `name`, or writes it first when asked to.
void check_fixture(const std::string& name, const std::string& made) {
  const auto path = kFixtures / name;
  if (std::getenv("MARATANG_UPDATE_FIXTURES")) {
    std::filesystem::create_directories(kFixtures);
    std::ofstream(path, std::ios::binary) << made;
  }
  EXPECT_TRUE(read(path) == made) << path
                                  << " differs from what the code makes now: run this test with "
                                  << "MARATANG_UPDATE_FIXTURES=1 and commit the file";
}

// {"about": ..., key: [one item a line]}: readable diffs.
std::string document(std::string_view about, std::string_view key, const json::array& items) {
  std::string out =
      fmt::format("{{\"about\":{},\n\"{}\":[", json::serialize(json::value(about)), key);
  for (std::size_t i = 0; i < items.size(); ++i)
    out += (i ? ",\n" : "\n") + json::serialize(items[i]);
  out += "\n]}\n";
  return out;
}

// The arena.started a real game at `hz` sends (the mode in a fake room): what a page reads its
// map and rules from.
json::object started_at(int hz) {
  auto f = modes::make_arena_mode_factory();
  lobby::testing::fake_room room({{1, "a", true, false}, {2, "b", true, false}}, 1);
  auto m = f->create(f->validate_settings({{"hz", hz}}).value());
  m->on_start(room);
  for (const auto& r : room.inbox.at(1)) {
    if (r.type == "arena.started") return r.data;
  }
  ADD_FAILURE() << "no arena.started";
  return {};
}

TEST(ArenaClientFixtures, MovesOfAScriptedInputStream) {
  struct run {
    int hz;
    vec start;
    std::uint64_t seed;
  };
  // Starts by a wall (the script walks into each of its sides), at a spawn point by an edge, and
  // in the open.
  const run runs[] = {{30, {300 * kSub, 200 * kSub}, 1},
                      {60, {80 * kSub, 600 * kSub}, 2},
                      {10, {1000 * kSub, 640 * kSub}, 3}};
  // The first run starts with a script against the wall at x 380–420, y 280–520: onto its top,
  // over it, into its right side, down past it, into its bottom, then into its left side.
  const std::pair<int, std::uint8_t> script[] = {{12, btn_right}, {20, btn_down}, {20, btn_right},
                                                 {10, btn_down},  {20, btn_left}, {70, btn_down},
                                                 {5, btn_left},   {10, btn_up},   {15, btn_left},
                                                 {5, btn_up},     {20, btn_right}};
  json::array cases;
  int edge_stops = 0, idle = 0;
  // Wall stops by axis and direction: x+, x−, y+, y−.
  int wall_stops[4] = {};
  for (const run& rn : runs) {
    sim_config cfg = default_map();
    cfg.hz = rn.hz;
    cfg.time_limit_ms = 0;
    sim s(cfg, rn.seed);
    s.add_player(7, "mover", 0, rn.start);
    std::mt19937 r(static_cast<std::uint32_t>(rn.seed));
    json::array ins, positions;
    std::uint32_t seq = 0;
    std::size_t scripted = 0;
    while (ins.size() < 600) {
      // Held for a while, as a player holds keys: long enough to reach walls and edges.
      int hold = 1 + static_cast<int>(r() % 40);
      bool none = r() % 100 < 15;
      auto buttons = static_cast<std::uint8_t>(r() % 32);
      if (rn.seed == 1 && scripted < std::size(script)) {
        std::tie(hold, buttons) = script[scripted++];
        none = false;
      }
      for (int i = 0; i < hold && ins.size() < 600; ++i) {
        const vec before = s.find(7)->pos;
        std::vector<std::pair<player_id, input>> step_in;
        if (!none) step_in.push_back({7, input{++seq, buttons, 0, 0}});
        s.step(step_in);
        const vec after = s.find(7)->pos;
        ins.push_back(none ? -1 : buttons);
        positions.push_back(json::array{after.x, after.y});
        if (none) {
          ++idle;
          ASSERT_EQ(after, before) << "no input, no movement";
          continue;
        }
        const int dx = ((buttons & btn_right) ? 1 : 0) - ((buttons & btn_left) ? 1 : 0);
        const int dy = ((buttons & btn_down) ? 1 : 0) - ((buttons & btn_up) ? 1 : 0);
        const std::int32_t st = dx && dy ? s.rules().diag_step : s.rules().step;
        // What stopped it: the map's edge, or a wall (an axis short of the clamped step).
        const std::int32_t rad = cfg.player_radius;
        const std::int32_t free_x = before.x + dx * st, free_y = before.y + dy * st;
        const std::int32_t in_x = std::clamp(free_x, rad, cfg.width - rad);
        const std::int32_t in_y = std::clamp(free_y, rad, cfg.height - rad);
        if (in_x != free_x || in_y != free_y) ++edge_stops;
        if (dx != 0 && after.x != in_x) ++wall_stops[dx > 0 ? 0 : 1];
        if (dy != 0 && after.y != in_y) ++wall_stops[dy > 0 ? 2 : 3];
      }
    }
    json::object started = started_at(rn.hz);
    // The same rules as this simulation's (the movement below is checked against them).
    EXPECT_EQ(started.at("rules").at("step").as_int64(), s.rules().step);
    cases.push_back(json::object{{"started", std::move(started)},
                                 {"start", json::array{rn.start.x, rn.start.y}},
                                 {"inputs", std::move(ins)},
                                 {"positions", std::move(positions)}});
  }
  // The stream is worth checking against: it meets walls, the edges, and ticks without input.
  for (int k = 0; k < 4; ++k)
    EXPECT_GT(wall_stops[k], 0) << "walls met from every side; side " << k;
  EXPECT_GT(edge_stops, 10);
  EXPECT_GT(idle, 50);
  check_fixture("arena_moves.json",
                document("Made by src/modes/arena/client_fixtures_test.cpp from sim::step: inputs "
                         "are button bits (-1: no input that tick), positions the player's after "
                         "each tick, in sub-units.",
                         "cases", cases));
}

std::string hex(std::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes)
    out += fmt::format("{:02x}", c);
  return out;
}

TEST(ArenaClientFixtures, StatesOneClientWasSentUnderLoss) {
  sim_config cfg = default_map();
  cfg.time_limit_ms = 0;
  cfg.score_limit = 0;
  sim s(cfg, 5);
  for (player_id p = 1; p <= 5; ++p)
    s.add_player(p, "p", 0);
  std::mt19937 r(17);
  // The same acknowledgements reach both: their messages are the same states in two encodings.
  client_snapshots as_json, as_binary;
  std::deque<std::pair<int, tick_t>> acks_in_flight;  // arrival tick, acknowledged tick
  json::array delivered;
  int lost = 0, full = 0;
  std::int64_t now = 0;
  for (int t = 1; t <= 300; ++t) {
    std::vector<std::pair<player_id, input>> ins;
    for (const auto& [id, p] : s.players()) {
      if (p.alive && r() % 4 != 0) {
        ins.push_back({id,
                       {static_cast<std::uint32_t>(t), static_cast<std::uint8_t>(r() % 32),
                        static_cast<std::uint16_t>(r() % 65536), 0}});
      }
    }
    s.step(ins);
    now += 33;
    // Ticks 150 to 190: nothing gets through either way (longer than the server's 32 states).
    const bool blackout = t >= 150 && t < 190;
    while (!acks_in_flight.empty() && acks_in_flight.front().first <= t) {
      if (!blackout) {
        (void)as_json.ack(acks_in_flight.front().second, now);
        (void)as_binary.ack(acks_in_flight.front().second, now);
      }
      acks_in_flight.pop_front();
    }
    interest in;
    in.center = s.find(1)->pos;
    in.radius = 450 * kSub;
    in.max_players = 4;
    const view v = make_view(s, 1, in);
    auto j = as_json.next(v, now, 1000, false);
    auto b = as_binary.next(v, now, 1000, true);
    ASSERT_EQ(j.has_value(), b.has_value());
    if (!j) continue;
    if (blackout || r() % 10 < 3) {
      ++lost;
      continue;
    }
    full += j->full ? 1 : 0;
    delivered.push_back(
        json::object{{"json", j->json}, {"binary", hex(b->bytes)}, {"full", encode_full(v)}});
    // The client acknowledges what it got, sometimes late, sometimes not at all.
    if (r() % 3 != 0) acks_in_flight.push_back({t + static_cast<int>(r() % 6), v.tick});
  }
  EXPECT_GT(lost, 80);
  EXPECT_GE(full, 2) << "the join and the blackout";
  EXPECT_GT(delivered.size(), 150u);
  check_fixture("arena_states.json",
                document("Made by src/modes/arena/client_fixtures_test.cpp: the arena.state "
                         "messages one client received (json and the same state in binary, as "
                         "hex), in order, with the full view of that tick (what applying it must "
                         "give). Lost ones are left out.",
                         "messages", delivered));
}

}  // namespace
}  // namespace maratang::arena
