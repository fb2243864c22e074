// The contract of lobby::game_store and lobby::action_log (lobby/game_store.hpp), checked through
// the ports, as rooms write and the gateway and the Mystery casebook read, against every
// implementation (store/port_contract.hpp). Writes are fire-and-forget: each test flushes the
// store set before it reads them back.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lobby/game_store.hpp"
#include "store/port_contract.hpp"
#include "store/records.hpp"

namespace maratang::store {
namespace {

using lobby::action_log;
using lobby::game_store;
using testing::call;
using testing::implementation_name;
using testing::implementations;

game_record game(const std::string& id, std::int64_t ended_ms, std::vector<std::int64_t> players,
                 bool is_private = false) {
  game_record g;
  g.id = id;
  g.mode = "mafia";
  g.room_id = "room-" + id;
  g.started_ms = ended_ms - 100;
  g.ended_ms = ended_ms;
  g.players = std::move(players);
  g.record_json = R"({"winner":"town","id":")" + id + "\"}";
  g.is_private = is_private;
  return g;
}

log_entry entry(const std::string& stream, std::int64_t seq) {
  log_entry e;
  e.stream = stream;
  e.seq = seq;
  e.ts_ms = 5000 + seq;
  e.kind = seq % 2 == 0 ? "chat" : "action";
  e.actor = seq % 3;
  e.payload_json = R"({"n":)" + std::to_string(seq) + "}";
  return e;
}

std::vector<std::string> ids_of(const std::vector<game_record>& games) {
  std::vector<std::string> ids;
  for (const auto& g : games)
    ids.push_back(g.id);
  return ids;
}

std::vector<std::int64_t> seqs_of(const std::vector<log_entry>& entries) {
  std::vector<std::int64_t> seqs;
  for (const auto& e : entries)
    seqs.push_back(e.seq);
  return seqs;
}

class game_store_contract : public testing::port_contract {
 protected:
  std::optional<game_record> find(const std::string& id) {
    return call(games(), &game_store::find_game, id);
  }
  std::vector<std::string> games_of(std::int64_t account, int limit, std::int64_t before,
                                    bool include_private) {
    return ids_of(call(games(), &game_store::games_of, account, limit, before, include_private));
  }
  std::vector<mode_stats> stats(std::int64_t account) {
    return call(games(), &game_store::stats_of, account);
  }
  std::vector<log_entry> read(const std::string& stream, std::int64_t after, int limit) {
    return call(log(), &action_log::read_log, stream, after, limit);
  }
};

// --- Game records -----------------------------------------------------------------------------

TEST_P(game_store_contract, an_inserted_game_reads_back_whole) {
  game_record g = game("g1", 10'000, {7, 3, 9}, true);
  g.mode = "mystery";
  g.record_json = R"({"roles":{"7":"butler"},"votes":[1,2],"text":"caf\u00e9 \"quoted\""})";
  games().insert_game(g);
  flush();
  auto found = find("g1");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->id, "g1");
  EXPECT_EQ(found->mode, "mystery");
  EXPECT_EQ(found->room_id, "room-g1");
  EXPECT_EQ(found->started_ms, 9'900);
  EXPECT_EQ(found->ended_ms, 10'000);
  EXPECT_EQ(found->players, (std::vector<std::int64_t>{7, 3, 9}));  // seat order
  EXPECT_EQ(found->record_json, g.record_json);
  EXPECT_TRUE(found->is_private);

  games().insert_game(game("g2", 11'000, {1}, false));
  flush();
  ASSERT_TRUE(find("g2").has_value());
  EXPECT_FALSE(find("g2")->is_private);
  EXPECT_FALSE(find("g3").has_value());
}

TEST_P(game_store_contract, a_second_record_with_the_same_id_is_dropped) {
  games().insert_game(game("g1", 10'000, {1, 2}));
  game_record second = game("g1", 20'000, {1, 3});
  second.record_json = R"({"winner":"mafia"})";
  games().insert_game(second);
  flush();
  auto found = find("g1");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->ended_ms, 10'000);
  EXPECT_EQ(found->players, (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(found->record_json, game("g1", 10'000, {1, 2}).record_json);
  // Still one record: listed once, and not for the second record's player.
  EXPECT_EQ(games_of(1, 10, 0, true), (std::vector<std::string>{"g1"}));
  EXPECT_TRUE(games_of(3, 10, 0, true).empty());
  // The store goes on taking records after the duplicate.
  games().insert_game(game("g2", 30'000, {1}));
  flush();
  EXPECT_EQ(games_of(1, 10, 0, true), (std::vector<std::string>{"g2", "g1"}));
}

TEST_P(game_store_contract, games_of_lists_the_accounts_games_newest_first) {
  // Inserted out of order; account 1 played in a, b, d, e; account 2 in c only.
  games().insert_game(game("b", 2'000, {1, 2}));
  games().insert_game(game("e", 5'000, {3, 1}));
  games().insert_game(game("a", 1'000, {1}));
  games().insert_game(game("c", 3'000, {2}));
  games().insert_game(game("d", 4'000, {4, 5, 1}));
  flush();
  EXPECT_EQ(games_of(1, 10, 0, false), (std::vector<std::string>{"e", "d", "b", "a"}));
  EXPECT_EQ(games_of(2, 10, 0, false), (std::vector<std::string>{"c", "b"}));
  EXPECT_TRUE(games_of(99, 10, 0, false).empty());
  // The records come whole.
  auto rows = call(games(), &game_store::games_of, std::int64_t{1}, 1, std::int64_t{0}, false);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].players, (std::vector<std::int64_t>{3, 1}));
  EXPECT_EQ(rows[0].record_json, game("e", 5'000, {3, 1}).record_json);
}

TEST_P(game_store_contract, games_of_pages_with_limit_and_strictly_before) {
  for (int i = 1; i <= 6; ++i)
    games().insert_game(game("g" + std::to_string(i), i * 1'000, {1}));
  flush();
  EXPECT_EQ(games_of(1, 2, 0, false), (std::vector<std::string>{"g6", "g5"}));
  // The next page: strictly before the last one's ended_ms.
  EXPECT_EQ(games_of(1, 2, 5'000, false), (std::vector<std::string>{"g4", "g3"}));
  EXPECT_EQ(games_of(1, 10, 3'000, false), (std::vector<std::string>{"g2", "g1"}));
  EXPECT_EQ(games_of(1, 10, 3'001, false), (std::vector<std::string>{"g3", "g2", "g1"}));
  EXPECT_TRUE(games_of(1, 10, 1'000, false).empty());
  EXPECT_TRUE(games_of(1, 0, 0, false).empty());  // at most 0
}

TEST_P(game_store_contract, games_of_leaves_private_games_out_unless_asked) {
  games().insert_game(game("public-old", 1'000, {1}, false));
  games().insert_game(game("private", 2'000, {1}, true));
  games().insert_game(game("public-new", 3'000, {1}, false));
  flush();
  EXPECT_EQ(games_of(1, 10, 0, false), (std::vector<std::string>{"public-new", "public-old"}));
  EXPECT_EQ(games_of(1, 10, 0, true),
            (std::vector<std::string>{"public-new", "private", "public-old"}));
  // The limit counts only what is listed.
  EXPECT_EQ(games_of(1, 2, 0, false), (std::vector<std::string>{"public-new", "public-old"}));
}

// --- Statistics -------------------------------------------------------------------------------

TEST_P(game_store_contract, stats_of_adds_up_the_outcomes_of_stored_records_once_each) {
  EXPECT_TRUE(stats(1).empty());
  game_record a = game("a", 1'000, {1, 2});
  a.outcomes = {{1, game_result::won, 100, {{"wins_by_role", "citizen"}}},
                {2, game_result::lost, 100, {}}};
  game_record b = game("b", 2'000, {2, 1}, true);  // private: counted all the same
  b.outcomes = {{2, game_result::abandoned, 30, {}},
                {1, game_result::won, 200, {{"wins_by_role", "citizen"}}}};
  game_record c = game("c", 3'000, {1});
  c.mode = "mystery";
  c.outcomes = {{1, game_result::drawn, 5, {{"endings", "s/calm"}}}};
  games().insert_game(a);
  games().insert_game(b);
  games().insert_game(a);  // a retry of a stored record: dropped, counted once
  games().insert_game(c);
  flush();

  const auto one = stats(1);
  ASSERT_EQ(one.size(), 2u);
  EXPECT_EQ(one[0].mode, "mafia");
  EXPECT_EQ(one[0].played, 2);
  EXPECT_EQ(one[0].won, 2);
  EXPECT_EQ(one[0].time_played_ms, 300);
  EXPECT_EQ(one[0].tallies.at("wins_by_role").at("citizen"), 2);
  EXPECT_EQ(one[1].mode, "mystery");
  EXPECT_EQ(one[1].played, 1);
  EXPECT_EQ(one[1].drawn, 1);
  EXPECT_EQ(one[1].tallies.at("endings").at("s/calm"), 1);

  const auto two = stats(2);
  ASSERT_EQ(two.size(), 1u);
  EXPECT_EQ(two[0].played, 2);
  EXPECT_EQ(two[0].lost, 1);
  EXPECT_EQ(two[0].abandoned, 1);
  EXPECT_EQ(two[0].won + two[0].drawn, 0);
  EXPECT_EQ(two[0].time_played_ms, 130);
  EXPECT_TRUE(two[0].tallies.empty());

  EXPECT_TRUE(stats(3).empty());
}

// --- The action log ---------------------------------------------------------------------------

TEST_P(game_store_contract, read_log_reads_a_streams_entries_in_seq_order) {
  for (std::int64_t seq : {1, 2, 5, 3, 4})  // appended out of order
    log().append_log(entry("game-1", seq));
  log().append_log(entry("game-2", 1));
  log().append_log(entry("game-10", 2));
  flush();
  auto all = read("game-1", 0, 100);
  EXPECT_EQ(seqs_of(all), (std::vector<std::int64_t>{1, 2, 3, 4, 5}));
  ASSERT_EQ(all.size(), 5u);
  const log_entry want = entry("game-1", 4);
  EXPECT_EQ(all[3].stream, "game-1");
  EXPECT_EQ(all[3].ts_ms, want.ts_ms);
  EXPECT_EQ(all[3].kind, want.kind);
  EXPECT_EQ(all[3].actor, want.actor);
  EXPECT_EQ(all[3].payload_json, want.payload_json);
  // Other streams are their own.
  EXPECT_EQ(seqs_of(read("game-2", 0, 100)), (std::vector<std::int64_t>{1}));
  EXPECT_EQ(seqs_of(read("game-10", 0, 100)), (std::vector<std::int64_t>{2}));
  EXPECT_TRUE(read("game-3", 0, 100).empty());
}

TEST_P(game_store_contract, read_log_pages_after_seq_with_a_limit) {
  for (std::int64_t seq = 1; seq <= 7; ++seq)
    log().append_log(entry("s", seq));
  flush();
  EXPECT_EQ(seqs_of(read("s", 0, 3)), (std::vector<std::int64_t>{1, 2, 3}));
  EXPECT_EQ(seqs_of(read("s", 3, 3)), (std::vector<std::int64_t>{4, 5, 6}));
  EXPECT_EQ(seqs_of(read("s", 6, 3)), (std::vector<std::int64_t>{7}));
  EXPECT_TRUE(read("s", 7, 3).empty());
  EXPECT_TRUE(read("s", 0, 0).empty());  // at most 0
}

TEST_P(game_store_contract, an_entry_whose_stream_and_seq_exist_is_dropped) {
  log().append_log(entry("s", 1));
  log_entry retry = entry("s", 1);
  retry.payload_json = R"({"second":true})";
  retry.kind = "event";
  log().append_log(retry);
  log().append_log(entry("s", 2));
  log().append_log(entry("t", 1));  // the same seq in another stream is another line
  flush();
  auto s = read("s", 0, 100);
  ASSERT_EQ(seqs_of(s), (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(s[0].payload_json, entry("s", 1).payload_json);  // the first one stays
  EXPECT_EQ(s[0].kind, entry("s", 1).kind);
  EXPECT_EQ(seqs_of(read("t", 0, 100)), (std::vector<std::int64_t>{1}));
}

INSTANTIATE_TEST_SUITE_P(impls, game_store_contract, ::testing::ValuesIn(implementations()),
                         implementation_name);

}  // namespace
}  // namespace maratang::store
