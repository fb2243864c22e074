// The leaderboard index of store::competition_book follows the database through transactions:
// a board read inside a transaction sees its writes, and after a rollback (whole, or to the
// worker's savepoint) the rolled-back entries are gone from the index too. Driven on the
// backends directly (memory and SQLite), as the storage worker drives them.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "store/memory/memory_backend.hpp"
#include "store/sqlite/sqlite_backend.hpp"
#include "store/test_temp_dir.hpp"

namespace maratang::store {
namespace {

game_record kills_game(const std::string& id, std::int64_t ended_ms,
                       std::vector<std::pair<std::int64_t, double>> kills) {
  game_record g;
  g.id = id;
  g.mode = "arena";
  g.room_id = "r";
  g.started_ms = ended_ms - 10;
  g.ended_ms = ended_ms;
  g.record_json = "{}";
  g.competition.season = 5;
  for (auto [acc, n] : kills) {
    g.players.push_back(acc);
    g.competition.scores.push_back({"arena.kills", acc, n, score_merge::add, false});
  }
  return g;
}

std::vector<std::int64_t> order(backend& b) {
  std::vector<std::int64_t> out;
  for (const auto& e : b.leaderboard_top("arena.kills", 5, 0, 100).entries)
    out.push_back(e.account_id);
  return out;
}

void rollbacks_drop_what_they_undid(backend& b) {
  b.begin();
  ASSERT_EQ(b.insert_game(kills_game("g1", 100, {{1, 3}, {2, 1}})), status::ok);
  b.commit();
  EXPECT_EQ(order(b), (std::vector<std::int64_t>{1, 2}));  // loaded now

  // A whole transaction rolled back: its entry and its change leave the index.
  b.begin();
  ASSERT_EQ(b.insert_game(kills_game("g2", 200, {{2, 5}, {3, 1}})), status::ok);
  EXPECT_EQ(order(b), (std::vector<std::int64_t>{2, 1, 3}));
  b.rollback();
  EXPECT_EQ(order(b), (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(b.leaderboard_rank("arena.kills", 5, 2)->value, 1);
  EXPECT_FALSE(b.leaderboard_rank("arena.kills", 5, 3));

  // One operation rolled back to its savepoint inside a batch; the batch's other one stays.
  b.begin();
  b.savepoint();
  ASSERT_EQ(b.insert_game(kills_game("g3", 300, {{3, 9}})), status::ok);
  b.release();
  b.savepoint();
  ASSERT_EQ(b.insert_game(kills_game("g4", 400, {{2, 9}})), status::ok);
  EXPECT_EQ(order(b), (std::vector<std::int64_t>{2, 3, 1}));  // 2 has 1 + 9
  b.rollback_to();
  b.release();
  b.commit();
  EXPECT_EQ(order(b), (std::vector<std::int64_t>{3, 1, 2}));
  // The record of a game stored twice changes nothing the second time.
  b.begin();
  EXPECT_EQ(b.insert_game(kills_game("g3", 300, {{3, 9}})), status::conflict);
  b.commit();
  EXPECT_EQ(b.leaderboard_rank("arena.kills", 5, 3)->value, 9);
}

TEST(competition_book, memory_rollbacks_drop_what_they_undid) {
  memory_backend b;
  b.migrate();
  rollbacks_drop_what_they_undid(b);
}

TEST(competition_book, sqlite_rollbacks_drop_what_they_undid) {
  testing::temp_dir dir;
  auto b = sqlite_backend::open((dir.path() / "db").string());
  b->migrate();
  rollbacks_drop_what_they_undid(*b);
}

// What a commit changed reaches the listener after the commit (a cache outside the backend, as
// the Redis boards): the rows written, in order; rows dropped by a rollback to a savepoint are
// not sent, and their board is reported stale at the next commit instead; a whole rollback sends
// nothing until a commit.
TEST(competition_book, commits_tell_the_listener_what_they_changed) {
  memory_backend b;
  b.migrate();
  std::vector<board_changes> told;
  b.watch_boards([&](board_changes c) { told.push_back(std::move(c)); });

  b.begin();
  ASSERT_EQ(b.insert_game(kills_game("g1", 100, {{1, 3}, {2, 1}})), status::ok);
  EXPECT_TRUE(told.empty());  // not before the commit
  b.commit();
  ASSERT_EQ(told.size(), 1u);
  ASSERT_EQ(told[0].rows.size(), 2u);
  EXPECT_EQ(told[0].rows[0].account_id, 1);
  EXPECT_EQ(told[0].rows[0].value, 3);
  EXPECT_EQ(told[0].rows[0].reached_ms, 100);
  EXPECT_EQ(told[0].rows[1].account_id, 2);
  EXPECT_TRUE(told[0].stale.empty());

  b.begin();
  ASSERT_EQ(b.insert_game(kills_game("g2", 200, {{2, 5}})), status::ok);
  b.rollback();
  EXPECT_EQ(told.size(), 1u);

  b.begin();
  b.savepoint();
  ASSERT_EQ(b.insert_game(kills_game("g3", 300, {{3, 9}})), status::ok);
  b.release();
  b.savepoint();
  ASSERT_EQ(b.insert_game(kills_game("g4", 400, {{2, 9}})), status::ok);
  b.rollback_to();
  b.release();
  b.commit();
  ASSERT_EQ(told.size(), 2u);
  // g3's row went with g4's to the rollback's list: the board is stale, not half-sent.
  EXPECT_TRUE(told[1].rows.empty());
  ASSERT_EQ(told[1].stale.size(), 1u);
  EXPECT_EQ(told[1].stale[0], std::make_pair(std::string("arena.kills"), std::int64_t{5}));

  // The rows as the database holds them, for a rebuild.
  auto rows = b.board_rows("arena.kills", 5);
  EXPECT_EQ(rows.size(), 3u);  // 1, 2 (g1) and 3 (g3)
}

}  // namespace
}  // namespace maratang::store
