// cluster_crash: how long a crashed node's games take to play again on another node (issue 16).
// Each run starts a throw-away PostgreSQL and Redis (scripts/pg_temp.sh, scripts/redis_temp.sh)
// and two nodes, A and B, with the cluster settings under test (the server's defaults unless
// --set says otherwise); plays `rooms` Mafia games of 4 players on A (a long first day, so that
// nothing but the crash changes them); then `kill -9` A and measures, from the kill:
//   seen dead     B's log says A stopped its heartbeat (the key expired, seen at B's heartbeat)
//   restored      B's log says it restored A's rooms (claim, fence wait, restore)
//   first / last  the first and the last room whose players are back in their game through B
//                 (a hello on B that gives the room in the same phase), polled as the JS SDK
//                 does: after `moved`, again after its retry_after_ms (100 ms without one)
//   all players   every player of every room back
// and checks that every game came back in its phase with its deadline (a run that loses one
// says so and exits non-zero). Prints one line per run, then the median of each column.
// Usage: cluster_crash [--rooms 20] [--runs 3] [--set key=value ...]
// Needs the release build (cmake --build --preset release) and postgresql-15 and redis-server
// (scripts/setup.sh --test). Bounded: every wait has a deadline; loopback only.
#include <signal.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "redis/test_server.hpp"
#include "store/postgres/pg_test_cluster.hpp"

namespace {

using namespace maratang::it;
using maratang::store::testing::pg_test_cluster;
using redis_server = maratang::redis::testing::test_server;
using wall = std::chrono::system_clock;

// How long B runs before the kill: more than the longest node_ttl_ms measured (3 s) + 5 s.
constexpr int kSettleMs = 8500;

struct game {
  std::string room_id;
  std::int64_t day_ends = 0;
  std::vector<player> players;
  std::vector<std::unique_ptr<ws_client>> socks;
};

game start_game(int port, int index) {
  game g;
  for (int i = 0; i < 4; ++i) {
    g.players.push_back(make_player(port, fmt::format("Crash{}x{}", index, i)));
    g.socks.push_back(std::make_unique<ws_client>(port, g.players.back().token));
    g.socks.back()->hello();
  }
  const json::object settings{{"day_ms", 120000},
                              {"vote_ms", 1000},
                              {"defense_ms", 1000},
                              {"verdict_ms", 1000},
                              {"night_ms", 1000}};
  auto room =
      snapshot_of_reply(g.socks[0]->call("room.create", {{"mode", "mafia"},
                                                         {"name", fmt::format("Crash {}", index)},
                                                         {"capacity", 4},
                                                         {"settings", settings}}));
  g.room_id = str(at(room, "id"));
  for (int i = 1; i < 4; ++i) {
    g.socks[i]->call("room.join", {{"room_id", g.room_id}});
    g.socks[i]->call("room.ready", {{"ready", true}});
  }
  g.socks[0]->call("room.start");
  auto phase = g.socks[0]->recv_until([](const json::object& f) {
    return str(at(f, "type")) == "mafia.phase" && str(at(f, "data.phase")) == "day";
  });
  if (!phase) throw std::runtime_error("no day phase");
  g.day_ends = num(at(*phase, "data.ends_at"));
  return g;
}

// The wall-clock time of the first line of `log` holding `needle` (the server's log lines start
// with a local ISO time to the millisecond), or nothing.
std::optional<wall::time_point> logged_at(const std::string& log, const std::string& needle) {
  const auto at_pos = log.find(needle);
  if (at_pos == std::string::npos) return std::nullopt;
  const auto line = log.rfind('\n', at_pos);
  const std::string stamp = log.substr(line == std::string::npos ? 0 : line + 1, 23);
  std::tm tm{};
  int msec = 0;
  std::istringstream in(stamp);
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  if (in.fail() || in.get() != '.' || !(in >> msec)) return std::nullopt;
  tm.tm_isdst = -1;
  const std::time_t t = std::mktime(&tm);
  if (t == -1) return std::nullopt;
  return wall::from_time_t(t) + std::chrono::milliseconds(msec);
}

struct run_result {
  double seen_dead = -1, restored = -1, first = -1, last = -1, all = -1;
  int lost = 0;
};

double since(wall::time_point from, wall::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

run_result run_once(int run, int rooms, const std::vector<std::string>& extra) {
  pg_test_cluster pg(MARATANG_SOURCE_DIR);
  redis_server redis(MARATANG_SOURCE_DIR);
  temp_dir data;
  auto sets = [&](const std::string& id) {
    std::vector<std::string> v = {"storage.database_url=" + pg.url(), "redis.url=" + redis.url(),
                                  "auth.secret=bWFyYXRhbmctY2x1c3Rlci10ZXN0LWtleS0zMmJ5dGU",
                                  "node.id=" + id, "log.level=info"};
    v.insert(v.end(), extra.begin(), extra.end());
    return v;
  };
  auto a = std::make_unique<server_process>(sets("a"), data.path() / "a");
  server_process b(sets("b"), data.path() / "b");
  const auto b_started = std::chrono::steady_clock::now();

  std::vector<game> games;
  for (int i = 0; i < rooms; ++i)
    games.push_back(start_game(a->port(), i));
  // Every game's first snapshot is committed (written at the start), B has seen A's heartbeat,
  // and B's connection to Redis is older than node_ttl_ms + 5 s: a node that connected more
  // recently does not take others over yet (after Redis itself restarted, every node needs a
  // moment to write its key again). Nodes that have run for a while are what this measures.
  std::this_thread::sleep_for(ms(1500));
  std::this_thread::sleep_until(b_started + ms(kSettleMs));

  const auto killed = wall::now();
  if (::kill(a->pid(), SIGKILL) != 0) throw std::runtime_error("kill -9 failed");
  a->stop();
  for (auto& g : games)
    for (auto& s : g.socks)
      s->drop();

  // Poll each room's first player through B until its hello gives the game back.
  run_result r;
  std::vector<bool> back(games.size(), false);
  std::vector<wall::time_point> next_try(games.size(), killed);
  std::vector<std::unique_ptr<ws_client>> kept;
  std::size_t left = games.size();
  const auto deadline = killed + std::chrono::seconds(60);
  while (left > 0 && wall::now() < deadline) {
    for (std::size_t i = 0; i < games.size(); ++i) {
      if (back[i] || wall::now() < next_try[i]) continue;
      auto& g = games[i];
      int retry_ms = 100;
      try {
        auto ws = std::make_unique<ws_client>(b.port(), g.players[0].token);
        auto hello = ws->hello();
        if (!at(hello, "room").is_null()) {
          if (str(at(hello, "room.id")) != g.room_id ||
              str(at(hello, "room.game.phase")) != "day" ||
              num(at(hello, "room.game.ends_at")) != g.day_ends) {
            ++r.lost;
            std::cerr << "room " << g.room_id << " came back changed: " << json::serialize(hello)
                      << "\n";
          }
          back[i] = true;
          --left;
          const double t = since(killed, wall::now());
          if (r.first < 0) r.first = t;
          r.last = t;
          kept.push_back(std::move(ws));
          continue;
        }
        if (has(hello, "moved.retry_after_ms")) retry_ms = num(at(hello, "moved.retry_after_ms"));
      } catch (const std::exception&) {
        // B refused or closed: try again later.
      }
      next_try[i] = wall::now() + ms(retry_ms);
    }
    std::this_thread::sleep_for(ms(5));
  }
  r.lost += static_cast<int>(left);
  // Then the other players, each once (their room is back).
  for (std::size_t i = 0; i < games.size(); ++i) {
    if (!back[i]) continue;
    for (std::size_t p = 1; p < games[i].players.size(); ++p) {
      auto ws = std::make_unique<ws_client>(b.port(), games[i].players[p].token);
      auto hello = ws->hello();
      if (at(hello, "room").is_null() || str(at(hello, "room.id")) != games[i].room_id) {
        ++r.lost;
        std::cerr << "a player of room " << games[i].room_id << " found no seat\n";
      }
      kept.push_back(std::move(ws));
    }
  }
  r.all = since(killed, wall::now());

  const std::string log = b.log_text();
  if (auto t = logged_at(log, "node a stopped its heartbeat")) r.seen_dead = since(killed, *t);
  if (auto t = logged_at(log, fmt::format("restored {} of {} room(s) of node a", rooms, rooms)))
    r.restored = since(killed, *t);
  fmt::print(
      "run {}: {} rooms  seen dead {:6.0f} ms  restored {:6.0f} ms  first room back {:6.0f} ms  "
      "last {:6.0f} ms  all {} players back {:6.0f} ms  lost {}\n",
      run, rooms, r.seen_dead, r.restored, r.first, r.last, rooms * 4, r.all, r.lost);
  std::fflush(stdout);
  kept.clear();
  return r;
}

double median(std::vector<double> v) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"Time from kill -9 of a node to its games playing again on another node"};
  int rooms = 20, runs = 3;
  std::vector<std::string> extra;
  cli.add_option("--rooms", rooms, "Mafia games of 4 players on the node that is killed")
      ->check(CLI::Range(1, 500));
  cli.add_option("--runs", runs, "Runs, each with its own PostgreSQL, Redis and nodes")
      ->check(CLI::Range(1, 20));
  cli.add_option("--set", extra, "A setting for both nodes, e.g. cluster.heartbeat_ms=1000");
  CLI11_PARSE(cli, argc, argv);
  fmt::print(
      "cluster_crash: {} run(s), {} Mafia room(s) of 4 on node a, kill -9, back on node b{}\n",
      runs, rooms, extra.empty() ? " (cluster settings: the defaults)" : "");
  for (const auto& s : extra)
    fmt::print("  --set {}\n", s);
  std::vector<double> dead, restored, first, last, all;
  int lost = 0;
  try {
    for (int i = 1; i <= runs; ++i) {
      auto r = run_once(i, rooms, extra);
      dead.push_back(r.seen_dead);
      restored.push_back(r.restored);
      first.push_back(r.first);
      last.push_back(r.last);
      all.push_back(r.all);
      lost += r.lost;
    }
  } catch (const std::exception& e) {
    std::cerr << "cluster_crash: " << e.what() << "\n";
    return 1;
  }
  fmt::print(
      "median: seen dead {:.0f} ms, restored {:.0f} ms, first room back {:.0f} ms, last {:.0f} "
      "ms, every player back {:.0f} ms; games lost or changed: {}\n",
      median(dead), median(restored), median(first), median(last), median(all), lost);
  return lost == 0 ? 0 : 1;
}
