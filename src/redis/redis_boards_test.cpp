// Leaderboards in Redis sorted sets (redis_boards.hpp) against a real redis-server and the
// storage stack (a memory backend behind the worker and the batched store, whose
// competition_book is the reference): the same totals, pages, ranks, around-me windows and ties
// as the book for randomized games (through the rebuild of a board from the database and through
// the writes after each commit), the rebuild after FLUSHALL, and reads answered by the database
// while Redis is down, then from Redis again once it is back.
#include "redis/redis_boards.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <future>
#include <random>
#include <set>
#include <thread>

#include "redis/client.hpp"
#include "redis/test_server.hpp"
#include "store/batched_store.hpp"
#include "store/memory/memory_backend.hpp"
#include "store/worker.hpp"

namespace maratang::redis {
namespace {

using namespace std::chrono_literals;
using store::leaderboard_entry;
using store::leaderboard_page;

constexpr std::int64_t kSeason = 7;

class RedisBoards : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new testing::test_server(MARATANG_SOURCE_DIR); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  RedisBoards() : work_(io_.get_executor()), thread_([this] { io_.run(); }) {
    auto b = std::make_unique<store::memory_backend>();
    b->migrate();
    worker_ = std::make_unique<store::worker>(std::move(b));
    db_ = std::make_unique<store::batched_store>(*worker_);
    options o;
    EXPECT_TRUE(parse_url(server_->url(), o));
    o.command_timeout_ms = 1000;
    o.reconnect_first_ms = 20;
    o.reconnect_max_ms = 100;
    c_ = client::start(io_, o);
    EXPECT_TRUE(eventually([&] { return c_->connected(); }, 5s));
    call({"FLUSHALL"});
    boards_opts_.rebuild_chunk = 7;  // several chunks even for small boards
    boards_ = std::make_shared<redis_boards>(
        c_, *db_,
        [this](std::string board, std::int64_t season,
               store::reply<std::vector<store::board_row>> done) {
          db_->board_rows(std::move(board), season, std::move(done));
        },
        boards_opts_);
    db_->watch_boards([this, b = boards_](store::board_changes ch) {
      ++in_flight_;
      b->apply(std::move(ch), [this](bool) { --in_flight_; });
    });
    worker_->flush();
  }
  ~RedisBoards() override {
    worker_->flush();
    db_.reset();
    worker_.reset();
    c_->stop();
    work_.reset();
    io_.stop();
    thread_.join();
  }

  static bool eventually(const std::function<bool()>& ok, std::chrono::milliseconds within) {
    const auto end = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < end) {
      if (ok()) return true;
      std::this_thread::sleep_for(10ms);
    }
    return ok();
  }

  result<reply> call(std::vector<std::string> args) {
    std::promise<result<reply>> p;
    auto f = p.get_future();
    c_->command(std::move(args), [&p](result<reply> r) { p.set_value(std::move(r)); });
    EXPECT_EQ(f.wait_for(10s), std::future_status::ready);
    return f.get();
  }

  // Stores a game and waits until its board writes have reached Redis (or failed).
  void store(store::game_record g) {
    db_->insert_game(std::move(g));
    worker_->flush();
    EXPECT_TRUE(eventually([&] { return in_flight_.load() == 0; }, 10s));
  }

  template <class T, class F>
  static T wait(F start) {
    std::promise<result<T>> p;
    auto f = p.get_future();
    start([&p](result<T> r) { p.set_value(std::move(r)); });
    EXPECT_EQ(f.wait_for(10s), std::future_status::ready);
    auto r = f.get();
    EXPECT_TRUE(r) << r.error().message;
    return r ? std::move(*r) : T{};
  }

  leaderboard_page top(competition::competition_store& s, const std::string& board,
                       std::int64_t offset, int limit) {
    return wait<leaderboard_page>(
        [&](auto done) { s.leaderboard_top(board, kSeason, offset, limit, std::move(done)); });
  }
  std::optional<leaderboard_entry> rank(competition::competition_store& s, const std::string& board,
                                        std::int64_t account) {
    return wait<std::optional<leaderboard_entry>>(
        [&](auto done) { s.leaderboard_rank(board, kSeason, account, std::move(done)); });
  }
  leaderboard_page around(competition::competition_store& s, const std::string& board,
                          std::int64_t account, int radius) {
    return wait<leaderboard_page>(
        [&](auto done) { s.leaderboard_around(board, kSeason, account, radius, std::move(done)); });
  }

  // Every read of `board` answered alike by Redis and by the book.
  void same_as_the_book(const std::string& board, std::mt19937& rng, int accounts) {
    SCOPED_TRACE(board);
    const auto all = top(*db_, board, 0, 100'000);
    const auto got = top(*boards_, board, 0, 100'000);
    ASSERT_EQ(got.total, all.total);
    ASSERT_EQ(got.entries, all.entries);
    for (int i = 0; i < 30; ++i) {
      const std::int64_t off = std::uniform_int_distribution<std::int64_t>(-2, all.total + 2)(rng);
      const int lim = std::uniform_int_distribution<int>(-1, 12)(rng);
      const auto want = top(*db_, board, off, lim);
      const auto page = top(*boards_, board, off, lim);
      EXPECT_EQ(page.total, want.total) << off << " " << lim;
      EXPECT_EQ(page.entries, want.entries) << off << " " << lim;
    }
    for (std::int64_t a = 0; a <= accounts + 1; ++a) {
      EXPECT_EQ(rank(*boards_, board, a), rank(*db_, board, a)) << a;
      const int radius = std::uniform_int_distribution<int>(-1, 4)(rng);
      const auto want = around(*db_, board, a, radius);
      const auto got_around = around(*boards_, board, a, radius);
      EXPECT_EQ(got_around.total, want.total) << a;
      EXPECT_EQ(got_around.entries, want.entries) << a << " radius " << radius;
    }
  }

  static testing::test_server* server_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
  std::unique_ptr<store::worker> worker_;
  std::unique_ptr<store::batched_store> db_;
  std::shared_ptr<client> c_;
  boards_options boards_opts_;
  std::shared_ptr<redis_boards> boards_;
  std::atomic<int> in_flight_{0};
  int games_ = 0;
};

testing::test_server* RedisBoards::server_ = nullptr;

// A game ending at `ended_ms` with one score per (board, account, value).
struct score {
  std::string board;
  std::int64_t account;
  double value;
  store::score_merge merge;
  bool ascending;
};

store::game_record game(int n, std::int64_t ended_ms, const std::vector<score>& scores) {
  store::game_record g;
  g.id = "g" + std::to_string(n);
  g.mode = "arena";
  g.room_id = "r";
  g.started_ms = ended_ms - 10;
  g.ended_ms = ended_ms;
  g.record_json = "{}";
  g.competition.season = kSeason;
  for (const score& s : scores) {
    g.players.push_back(s.account);
    g.competition.scores.push_back({s.board, s.account, s.value, s.merge, s.ascending});
  }
  return g;
}

// Random games on three boards (added, best-lower and set scores), few distinct values and games
// ending in the same millisecond, so that ties of value and of time are frequent. An account's
// games end one after another, as a player's do (the write's compare on reached_ms relies on it).
void play(std::mt19937& rng, int games, int accounts, int& next_game, std::int64_t& now,
          const std::function<void(store::game_record)>& store) {
  for (int i = 0; i < games; ++i) {
    now += std::uniform_int_distribution<int>(0, 1)(rng);
    std::vector<score> scores;
    const int players = std::uniform_int_distribution<int>(1, 4)(rng);
    std::set<std::int64_t> seated;
    for (int p = 0; p < players; ++p) {
      const std::int64_t a = std::uniform_int_distribution<std::int64_t>(1, accounts)(rng);
      if (!seated.insert(a).second) continue;
      const double v = std::uniform_int_distribution<int>(-3, 5)(rng);
      scores.push_back({"kills", a, v, store::score_merge::add, false});
      scores.push_back({"escape", a, v * 1.5, store::score_merge::best, true});
      scores.push_back({"level", a, v, store::score_merge::set, false});
    }
    store(game(next_game++, now, scores));
  }
}

TEST_F(RedisBoards, same_ranks_pages_and_ties_as_the_book_for_random_entries) {
  std::mt19937 rng(20261204);
  int next = 0;
  std::int64_t now = 1'000'000;
  const int accounts = 40;
  const auto put = [&](store::game_record g) { store(std::move(g)); };
  // Entries written before the board exists in Redis: the first read rebuilds it.
  play(rng, 120, accounts, next, now, put);
  for (const char* b : {"kills", "escape", "level"})
    same_as_the_book(b, rng, accounts);
  EXPECT_EQ(boards_->stats().rebuilds.load(), 3u);
  // Then entries written to the complete sets after each commit.
  play(rng, 120, accounts, next, now, put);
  for (const char* b : {"kills", "escape", "level"})
    same_as_the_book(b, rng, accounts);
  EXPECT_EQ(boards_->stats().rebuilds.load(), 3u);
  EXPECT_EQ(boards_->stats().fallback_reads.load(), 0u);
  EXPECT_GT(boards_->stats().writes.load(), 0u);
  EXPECT_EQ(boards_->stats().failed_writes.load(), 0u);
  // A board nobody wrote: empty, from Redis too.
  EXPECT_EQ(top(*boards_, "nothing", 0, 10).total, 0);
  EXPECT_FALSE(rank(*boards_, "nothing", 1));
}

TEST_F(RedisBoards, ties_by_value_then_earliest_then_account_and_negative_values) {
  using store::score_merge;
  store(game(1, 500, {{"b", 9, 3, score_merge::set, false}, {"b", 4, 3, score_merge::set, false}}));
  store(game(2, 400, {{"b", 7, 3, score_merge::set, false}}));
  store(
      game(3, 600, {{"b", 2, -1, score_merge::set, false}, {"b", 1, 8, score_merge::set, false}}));
  const auto page = top(*boards_, "b", 0, 10);
  std::vector<std::int64_t> order;
  for (const auto& e : page.entries)
    order.push_back(e.account_id);
  // 8 first; the three 3s: reached at 400, then the two at 500 by account; -1 last.
  EXPECT_EQ(order, (std::vector<std::int64_t>{1, 7, 4, 9, 2}));
  EXPECT_EQ(page.entries, top(*db_, "b", 0, 10).entries);
  EXPECT_EQ(page.entries[4].value, -1);
  EXPECT_EQ(page.entries[1].reached_ms, 400);
  // An older write arriving late does not undo the newer entry.
  store::board_row stale{"b", kSeason, 1, 99, -99, 100};
  std::promise<bool> p;
  boards_->apply({{stale}, {}}, [&p](bool ok) { p.set_value(ok); });
  EXPECT_TRUE(p.get_future().get());
  EXPECT_EQ(rank(*boards_, "b", 1)->value, 8);
}

TEST_F(RedisBoards, rebuilt_from_the_database_after_flushall) {
  std::mt19937 rng(7);
  int next = 0;
  std::int64_t now = 5'000;
  play(rng, 60, 25, next, now, [&](store::game_record g) { store(std::move(g)); });
  same_as_the_book("kills", rng, 25);
  ASSERT_EQ(boards_->stats().rebuilds.load(), 1u);
  ASSERT_TRUE(call({"FLUSHALL"}));
  // Redis lost everything; the next read rebuilds the board and answers from it.
  same_as_the_book("kills", rng, 25);
  EXPECT_EQ(boards_->stats().rebuilds.load(), 2u);
  EXPECT_EQ(boards_->stats().fallback_reads.load(), 0u);
  auto card = call({"ZCARD", "lb:{kills|7}:z"});
  ASSERT_TRUE(card);
  EXPECT_EQ(card->integer, top(*db_, "kills", 0, 1).total);
  EXPECT_EQ(call({"EXISTS", "lb:{kills|7}:ok"})->integer, 1);
}

TEST_F(RedisBoards, answered_by_the_database_while_redis_is_down) {
  std::mt19937 rng(11);
  int next = 0;
  std::int64_t now = 9'000;
  const auto put = [&](store::game_record g) { store(std::move(g)); };
  play(rng, 40, 20, next, now, put);
  same_as_the_book("level", rng, 20);
  server_->kill();
  ASSERT_TRUE(eventually([&] { return !c_->connected(); }, 5s));
  // Games stored meanwhile: their writes fail; reads come from the database, never an error.
  play(rng, 20, 20, next, now, put);
  EXPECT_GT(boards_->stats().failed_writes.load(), 0u);
  const auto before = boards_->stats().fallback_reads.load();
  same_as_the_book("level", rng, 20);
  EXPECT_GT(boards_->stats().fallback_reads.load(), before);
  // Back (empty: no persistence): rebuilt from the database, then answered by Redis.
  server_->up();
  ASSERT_TRUE(eventually([&] { return c_->connected(); }, 10s));
  const auto rebuilt = boards_->stats().rebuilds.load();
  const auto fallbacks = boards_->stats().fallback_reads.load();
  same_as_the_book("level", rng, 20);
  EXPECT_EQ(boards_->stats().rebuilds.load(), rebuilt + 1);
  EXPECT_EQ(boards_->stats().fallback_reads.load(), fallbacks);
}

}  // namespace
}  // namespace maratang::redis
