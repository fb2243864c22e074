// leaderboard: rank, top-100 and around-me on one leaderboard of `--entries` players (1,000,000
// by default) on the embedded store (SQLite, as the server's default), the goal being p99 <= 1 ms.
//
// The board is filled through the store's own write path: game records whose competition input
// carries the scores (store::game_record::competition), `--per-game` players a game, inserted
// straight into the backend in transactions of 10 games. Scores are drawn from 0..99,999 so that
// many players tie (the tie rule ranks them by when they reached it, then by account id). Then,
// through the store's port (store::batched_store: a worker operation each, as the API calls it):
// the first read (which loads the board into memory), and `--queries` of each kind with random
// accounts, timed one by one, reported as p50/p99/max. Then the same in-process, on the backend
// directly (no worker hop): the cost of the index itself. Bounded; stops by itself.
//
// With --redis-url (several nodes: redis/redis_boards.hpp), the same board is read through Redis
// sorted sets instead, after the same fill: the first read finds no complete set and rebuilds it
// from the database (timed), then `--queries` of each kind go through the real client. Start a
// throw-away server with scripts/redis_temp.sh (loopback only), and stop it afterwards.
//
// Usage: leaderboard [--entries 1000000] [--queries 20000] [--per-game 1000] [--radius 5]
//                    [--redis-url redis://127.0.0.1:PORT]
#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <thread>

#include "redis/client.hpp"
#include "redis/redis_boards.hpp"
#include "store/batched_store.hpp"
#include "store/sqlite/sqlite_backend.hpp"
#include "store/worker.hpp"

namespace {

using namespace maratang;
using steady = std::chrono::steady_clock;

constexpr const char* kBoard = "arena.kills";
constexpr std::int64_t kSeason = 1'796'083'200'000;

struct figures {
  std::vector<double> us;
  void print(const char* what) {
    std::sort(us.begin(), us.end());
    const auto pct = [&](double p) {
      return us[std::min(us.size() - 1,
                         static_cast<std::size_t>(p * static_cast<double>(us.size())))];
    };
    fmt::print("  {:<28} n={:<7} p50 {:>8.1f} us   p99 {:>8.1f} us   max {:>9.1f} us\n", what,
               us.size(), pct(0.50), pct(0.99), us.back());
  }
};

// The process's resident memory, bytes (0 when unreadable).
std::int64_t rss_bytes() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  return 0;
}

template <class T>
T wait(const std::function<void(store::reply<T>)>& start) {
  std::promise<result<T>> p;
  auto f = p.get_future();
  start([&p](result<T> r) { p.set_value(std::move(r)); });
  auto r = f.get();
  if (!r) throw std::runtime_error("store: " + r.error().message);
  return std::move(*r);
}

// The board read through Redis (redis_boards over the port), as the server does with redis.url.
int through_redis(std::unique_ptr<store::sqlite_backend> backend, const std::string& url,
                  std::int64_t entries, int queries, int radius, std::mt19937_64& rng) {
  redis::options ro;
  if (auto ok = redis::parse_url(url, ro); !ok) {
    std::cerr << "leaderboard: " << ok.error().message << "\n";
    return 2;
  }
  ro.command_timeout_ms = 10'000;
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  std::thread io_thread([&io] { io.run(); });
  struct stop_io {
    boost::asio::io_context& io;
    decltype(guard)& g;
    std::thread& t;
    ~stop_io() {
      g.reset();
      io.stop();
      t.join();
    }
  } stopper{io, guard, io_thread};
  auto c = redis::client::start(io, ro);
  for (int i = 0; i < 500 && !c->connected(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (!c->connected()) {
    std::cerr << "leaderboard: no connection to " << url << "\n";
    return 2;
  }
  // Redis's used_memory, bytes (0 when unreadable).
  const auto redis_memory = [&c] {
    std::promise<std::int64_t> p;
    c->command({"INFO", "memory"}, [&p](result<redis::reply> r) {
      std::int64_t v = 0;
      if (r && r->type == redis::reply::kind::string) {
        const auto at = r->str.find("used_memory:");
        if (at != std::string::npos) v = std::atoll(r->str.c_str() + at + 12);
      }
      p.set_value(v);
    });
    return p.get_future().get();
  };
  {
    // A clean board: the fill's rows only.
    std::promise<void> p;
    c->command({"FLUSHDB"}, [&p](result<redis::reply>) { p.set_value(); });
    p.get_future().get();
  }
  const std::int64_t mem0 = redis_memory();
  store::worker worker(std::move(backend), {});
  store::batched_store ports(worker);
  redis::redis_boards boards(c, ports,
                             [&ports](std::string board, std::int64_t season,
                                      store::reply<std::vector<store::board_row>> done) {
                               ports.board_rows(std::move(board), season, std::move(done));
                             });
  competition::competition_store& port = boards;

  const auto load0 = steady::now();
  const auto first = wait<store::leaderboard_page>(
      [&](auto done) { port.leaderboard_top(kBoard, kSeason, 0, 100, std::move(done)); });
  const double rebuild_ms =
      std::chrono::duration<double, std::milli>(steady::now() - load0).count();
  const std::int64_t mem = redis_memory() - mem0;
  fmt::print(
      "  first read (rebuilds the sorted set from the database): {:.0f} ms, total {}, Redis "
      "+{:.0f} "
      "MiB ({:.0f} bytes an entry)\n",
      rebuild_ms, first.total, static_cast<double>(mem) / (1 << 20),
      static_cast<double>(mem) / static_cast<double>(entries));
  if (first.total != entries || first.entries.size() != 100 ||
      boards.stats().rebuilds.load() != 1) {
    std::cerr << "leaderboard: Redis holds " << first.total << " entries\n";
    return 1;
  }
  std::uniform_int_distribution<std::int64_t> who(1, entries);
  const auto time_one = [](figures& f, auto&& fn) {
    const auto t0 = steady::now();
    fn();
    f.us.push_back(std::chrono::duration<double, std::micro>(steady::now() - t0).count());
  };
  std::int64_t check = 0;
  fmt::print("through Redis (redis_boards -> client -> Lua script on a sorted set):\n");
  figures rank, top, around;
  for (int i = 0; i < queries; ++i) {
    const auto acc = who(rng);
    time_one(rank, [&] {
      auto r = wait<std::optional<store::leaderboard_entry>>(
          [&](auto done) { port.leaderboard_rank(kBoard, kSeason, acc, std::move(done)); });
      check += r ? r->rank : 0;
    });
    time_one(top, [&] {
      auto r = wait<store::leaderboard_page>(
          [&](auto done) { port.leaderboard_top(kBoard, kSeason, 0, 100, std::move(done)); });
      check += static_cast<std::int64_t>(r.entries.size());
    });
    time_one(around, [&] {
      auto r = wait<store::leaderboard_page>([&](auto done) {
        port.leaderboard_around(kBoard, kSeason, acc, radius, std::move(done));
      });
      check += static_cast<std::int64_t>(r.entries.size());
    });
  }
  rank.print("rank (my rank)");
  top.print("top-100");
  around.print(fmt::format("around-me (+-{})", radius).c_str());
  // Every answer must have come from Redis, not from the database's index.
  if (boards.stats().fallback_reads.load() != 0) {
    std::cerr << "leaderboard: " << boards.stats().fallback_reads.load()
              << " reads fell back to the database\n";
    return 1;
  }
  c->stop();
  return check == 0 ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"Leaderboard rank, top-100 and around-me on the embedded store"};
  std::int64_t entries = 1'000'000;
  int queries = 20000;
  int per_game = 1000;
  int radius = 5;
  cli.add_option("--entries", entries, "Players on the board")->check(CLI::Range(1000, 10'000'000));
  cli.add_option("--queries", queries, "Queries of each kind")->check(CLI::Range(100, 1'000'000));
  cli.add_option("--per-game", per_game, "Players per stored game record")
      ->check(CLI::Range(1, 100'000));
  cli.add_option("--radius", radius, "around-me: entries above and below")
      ->check(CLI::Range(0, 50));
  std::string redis_url;
  cli.add_option("--redis-url", redis_url,
                 "Read the board through Redis sorted sets (redis://host:port[/db])");
  CLI11_PARSE(cli, argc, argv);

  auto dir = std::filesystem::temp_directory_path() / fmt::format("maratang_lboard_{}", getpid());
  std::filesystem::create_directories(dir);
  struct cleanup {
    std::filesystem::path d;
    ~cleanup() { std::filesystem::remove_all(d); }
  } cleanup_dir{dir};

  store::sqlite_options so;
  so.full_sync = false;
  auto backend = store::sqlite_backend::open((dir / "maratang.db").string(), so);
  backend->migrate();

  // Fill.
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<int> score(0, 99'999);
  const auto fill0 = steady::now();
  std::int64_t next = 1;
  int game = 0;
  while (next <= entries) {
    backend->begin();
    for (int g = 0; g < 10 && next <= entries; ++g) {
      store::game_record rec;
      rec.id = fmt::format("fill-{}", ++game);
      rec.mode = "arena";
      rec.room_id = "bench";
      rec.started_ms = kSeason + game;
      rec.ended_ms = kSeason + game + 1;
      rec.record_json = "{}";
      rec.competition.season = kSeason;
      for (int i = 0; i < per_game && next <= entries; ++i, ++next)
        rec.competition.scores.push_back(
            {kBoard, next, static_cast<double>(score(rng)), store::score_merge::add, false});
      backend->insert_game(rec);
    }
    backend->commit();
  }
  const double fill_s = std::chrono::duration<double>(steady::now() - fill0).count();
  fmt::print("leaderboard: {} entries on one board, SQLite, filled in {:.1f} s ({} games)\n",
             entries, fill_s, game);

  std::uniform_int_distribution<std::int64_t> who(1, entries);
  const auto time_one = [](figures& f, auto&& fn) {
    const auto t0 = steady::now();
    fn();
    f.us.push_back(std::chrono::duration<double, std::micro>(steady::now() - t0).count());
  };

  if (!redis_url.empty())
    return through_redis(std::move(backend), redis_url, entries, queries, radius, rng);

  // In-process first, on the backend alone (before the worker owns it): the index's own cost.
  // The first read loads the board from the database into the in-memory index.
  const auto rss0 = rss_bytes();
  const auto load0 = steady::now();
  const auto first = backend->leaderboard_top(kBoard, kSeason, 0, 100);
  fmt::print(
      "  first read (loads the board into memory): {:.0f} ms, total {}, +{:.0f} MiB resident "
      "({:.0f} bytes an entry)\n",
      std::chrono::duration<double, std::milli>(steady::now() - load0).count(), first.total,
      static_cast<double>(rss_bytes() - rss0) / (1 << 20),
      static_cast<double>(rss_bytes() - rss0) / static_cast<double>(entries));
  if (first.total != entries || first.entries.size() != 100) {
    std::cerr << "leaderboard: the board holds " << first.total << " entries\n";
    return 1;
  }
  std::int64_t check = 0;
  fmt::print("in-process (backend -> in-memory order-statistics index):\n");
  {
    figures rank, top, around;
    for (int i = 0; i < queries; ++i) {
      const auto acc = who(rng);
      time_one(rank, [&] { check += backend->leaderboard_rank(kBoard, kSeason, acc)->rank; });
      time_one(top, [&] {
        check += static_cast<std::int64_t>(
            backend->leaderboard_top(kBoard, kSeason, 0, 100).entries.size());
      });
      time_one(around, [&] {
        check += static_cast<std::int64_t>(
            backend->leaderboard_around(kBoard, kSeason, acc, radius).entries.size());
      });
    }
    rank.print("rank (my rank)");
    top.print("top-100");
    around.print(fmt::format("around-me (+-{})", radius).c_str());
  }

  // Through the port, as the API calls it: one storage-worker operation (a transaction) each.
  store::worker worker(std::move(backend), {});
  store::batched_store ports(worker);
  competition::competition_store& port = ports;
  fmt::print("through the port (batched_store -> storage worker -> backend):\n");
  {
    figures rank, top, around;
    for (int i = 0; i < queries; ++i) {
      const auto acc = who(rng);
      time_one(rank, [&] {
        auto r = wait<std::optional<store::leaderboard_entry>>(
            [&](auto done) { port.leaderboard_rank(kBoard, kSeason, acc, std::move(done)); });
        check += r ? r->rank : 0;
      });
      time_one(top, [&] {
        auto r = wait<store::leaderboard_page>(
            [&](auto done) { port.leaderboard_top(kBoard, kSeason, 0, 100, std::move(done)); });
        check += static_cast<std::int64_t>(r.entries.size());
      });
      time_one(around, [&] {
        auto r = wait<store::leaderboard_page>([&](auto done) {
          port.leaderboard_around(kBoard, kSeason, acc, radius, std::move(done));
        });
        check += static_cast<std::int64_t>(r.entries.size());
      });
    }
    rank.print("rank (my rank)");
    top.print("top-100");
    around.print(fmt::format("around-me (+-{})", radius).c_str());
  }
  if (check == 0) return 1;
  return 0;
}
