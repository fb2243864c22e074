// The contract of competition::competition_store (competition/competition_store.hpp) and of
// what lobby::game_store::insert_game does with a record's competition input, checked through
// the ports against every implementation (store/port_contract.hpp): ratings updated once per
// game (a second insert of the same record changes nothing), history, idle growth, and
// leaderboards with ties, paging, around-me and seasons.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "competition/competition_store.hpp"
#include "competition/glicko2.hpp"
#include "competition/weng_lin.hpp"
#include "lobby/game_store.hpp"
#include "store/port_contract.hpp"
#include "store/records.hpp"

namespace maratang::store {
namespace {

using competition::competition_store;
using testing::call;
using testing::implementation_name;
using testing::implementations;

constexpr std::int64_t day = 86'400'000;

game_record rated(const std::string& id, std::int64_t ended_ms, std::vector<rated_team> teams,
                  rating_model model = rating_model::weng_lin, const std::string& key = "mafia",
                  std::int64_t season = 1000) {
  game_record g;
  g.id = id;
  g.mode = "mafia";
  g.room_id = "room-" + id;
  g.started_ms = ended_ms - 100;
  g.ended_ms = ended_ms;
  for (const auto& t : teams)
    for (auto p : t.players)
      g.players.push_back(p);
  g.record_json = "{}";
  g.competition.rating_key = key;
  g.competition.model = model;
  g.competition.teams = std::move(teams);
  g.competition.season = season;
  g.competition.idle_period_ms = day;
  return g;
}

game_record scored(const std::string& id, std::int64_t ended_ms, std::int64_t season,
                   std::vector<score_update> scores) {
  game_record g;
  g.id = id;
  g.mode = "arena";
  g.room_id = "room-" + id;
  g.started_ms = ended_ms - 100;
  g.ended_ms = ended_ms;
  for (const auto& s : scores)
    g.players.push_back(s.account_id);
  g.record_json = "{}";
  g.competition.season = season;
  g.competition.scores = std::move(scores);
  return g;
}

score_update kills(std::int64_t account, double n) {
  return {"arena.kills", account, n, score_merge::add, false};
}

std::vector<std::int64_t> accounts_of(const leaderboard_page& p) {
  std::vector<std::int64_t> out;
  for (const auto& e : p.entries)
    out.push_back(e.account_id);
  return out;
}

std::vector<std::int64_t> ranks_of(const leaderboard_page& p) {
  std::vector<std::int64_t> out;
  for (const auto& e : p.entries)
    out.push_back(e.rank);
  return out;
}

class competition_store_contract : public testing::port_contract {
 protected:
  std::vector<rating_record> ratings(std::int64_t account) {
    return call(competition(), &competition_store::ratings_of, account);
  }
  std::optional<rating_record> rating(std::int64_t account, const std::string& key) {
    for (auto& r : ratings(account))
      if (r.key == key) return r;
    return std::nullopt;
  }
  std::vector<rating_change> history(std::int64_t account, const std::string& key,
                                     std::int64_t before = 0, int limit = 100) {
    return call(competition(), &competition_store::rating_history, account, std::string(key),
                before, limit);
  }
  leaderboard_page top(const std::string& board, std::int64_t season, std::int64_t offset,
                       int limit) {
    return call(competition(), &competition_store::leaderboard_top, std::string(board), season,
                offset, limit);
  }
  std::optional<leaderboard_entry> rank(const std::string& board, std::int64_t season,
                                        std::int64_t account) {
    return call(competition(), &competition_store::leaderboard_rank, std::string(board), season,
                account);
  }
  leaderboard_page around(const std::string& board, std::int64_t season, std::int64_t account,
                          int radius) {
    return call(competition(), &competition_store::leaderboard_around, std::string(board), season,
                account, radius);
  }
  std::vector<std::int64_t> seasons(const std::string& board) {
    return call(competition(), &competition_store::leaderboard_seasons, std::string(board));
  }
};

TEST_P(competition_store_contract, a_team_game_rates_every_player_once) {
  // Town (1, 2) beat mafia (3).
  const auto g = rated("g1", 10 * day, {{{1, 2}, 1}, {{3}, 2}});
  games().insert_game(g);
  games().insert_game(g);  // a retry of a record that did commit: counts once
  flush();
  const competition::weng_lin::rating fresh;
  const auto want = competition::weng_lin::rate({{fresh, fresh}, {fresh}}, {});
  for (std::int64_t p : {1, 2, 3}) {
    auto r = rating(p, "mafia");
    ASSERT_TRUE(r) << p;
    EXPECT_EQ(r->model, rating_model::weng_lin);
    EXPECT_EQ(r->games, 1);
    EXPECT_EQ(r->last_ms, 10 * day);
    const auto& w = p == 3 ? want[1][0] : want[0][static_cast<std::size_t>(p - 1)];
    EXPECT_NEAR(r->mu, w.mu, 1e-9);
    EXPECT_NEAR(r->sigma, w.sigma, 1e-9);
    EXPECT_NEAR(r->display, w.mu - 3 * w.sigma, 1e-9);
    const auto h = history(p, "mafia");
    ASSERT_EQ(h.size(), 1u);
    EXPECT_EQ(h[0].game_id, "g1");
    EXPECT_NEAR(h[0].mu_before, 25, 1e-12);
    EXPECT_NEAR(h[0].mu_after, w.mu, 1e-9);
  }
  EXPECT_GT(rating(1, "mafia")->mu, 25);
  EXPECT_LT(rating(3, "mafia")->mu, 25);
  // The rating board of the season: winners first, each once.
  const auto board = top("rating.mafia", 1000, 0, 10);
  EXPECT_EQ(board.total, 3);
  ASSERT_EQ(board.entries.size(), 3u);
  EXPECT_EQ(board.entries[2].account_id, 3);
  EXPECT_TRUE(ratings(99).empty());
  EXPECT_TRUE(history(99, "mafia").empty());
}

TEST_P(competition_store_contract, glicko2_one_on_one_and_idle_growth) {
  games().insert_game(rated("d1", 10 * day, {{{1}, 1}, {{2}, 2}}, rating_model::glicko2, "duel"));
  flush();
  const competition::glicko2::rating fresh;
  const competition::glicko2::result beat[] = {{fresh, 1}};
  const auto want = competition::glicko2::update(fresh, beat);
  auto a = rating(1, "duel");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->model, rating_model::glicko2);
  EXPECT_NEAR(a->mu, want.r, 1e-9);
  EXPECT_NEAR(a->sigma, want.rd, 1e-9);
  EXPECT_NEAR(a->volatility, want.sigma, 1e-12);
  EXPECT_NEAR(a->display, want.r - 2 * want.rd, 1e-9);
  // Thirty idle days later, the deviation grew before the next game (30 rating periods).
  games().insert_game(rated("d2", 40 * day, {{{1}, 1}, {{2}, 1}}, rating_model::glicko2, "duel"));
  flush();
  const auto h = history(1, "duel");
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0].game_id, "d2");  // newest first
  EXPECT_NEAR(h[0].sigma_before, competition::glicko2::idle(want, 30).rd, 1e-9);
  EXPECT_GT(h[0].sigma_before, h[1].sigma_after);
  EXPECT_EQ(history(1, "duel", 40 * day).size(), 1u);  // before_ms pages
  EXPECT_EQ(history(1, "duel", 0, 1).size(), 1u);
  EXPECT_TRUE(history(1, "duel", 0, 0).empty());
  // Not 1v1: Glicko-2 rates nothing. One side only: nothing is rated.
  games().insert_game(
      rated("d3", 41 * day, {{{1, 5}, 1}, {{2}, 2}}, rating_model::glicko2, "duel"));
  games().insert_game(rated("d4", 41 * day, {{{7, 8}, 1}}));
  flush();
  EXPECT_EQ(rating(1, "duel")->games, 2);
  EXPECT_FALSE(rating(5, "duel"));
  EXPECT_TRUE(ratings(7).empty());
}

TEST_P(competition_store_contract, scores_add_or_keep_the_best_and_ties_rank_by_who_was_first) {
  // Kills add up; the fastest escape keeps the lowest time.
  games().insert_game(scored("a1", 1000, 7, {kills(1, 5), kills(2, 3), kills(3, 5)}));
  games().insert_game(scored("a2", 2000, 7, {kills(2, 2), kills(4, 1)}));
  games().insert_game(scored("m1", 3000, 7,
                             {{"mystery.escape.gull_rock", 1, 90'000, score_merge::best, true},
                              {"mystery.escape.gull_rock", 2, 80'000, score_merge::best, true}}));
  games().insert_game(scored("m2", 4000, 7,
                             {{"mystery.escape.gull_rock", 1, 95'000, score_merge::best, true},
                              {"mystery.escape.gull_rock", 2, 70'000, score_merge::best, true}}));
  flush();
  // 1: 5 at 1000, 3: 5 at 1000 (tie: lower account id first), 2: 5 at 2000 (reached later), 4: 1.
  const auto all = top("arena.kills", 7, 0, 10);
  EXPECT_EQ(all.total, 4);
  EXPECT_EQ(accounts_of(all), (std::vector<std::int64_t>{1, 3, 2, 4}));
  EXPECT_EQ(ranks_of(all), (std::vector<std::int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(all.entries[2].value, 5);
  EXPECT_EQ(all.entries[2].reached_ms, 2000);
  // Paging: the same order, page after page.
  EXPECT_EQ(accounts_of(top("arena.kills", 7, 1, 2)), (std::vector<std::int64_t>{3, 2}));
  EXPECT_EQ(ranks_of(top("arena.kills", 7, 1, 2)), (std::vector<std::int64_t>{2, 3}));
  EXPECT_TRUE(top("arena.kills", 7, 4, 2).entries.empty());
  EXPECT_TRUE(top("arena.kills", 7, 0, 0).entries.empty());
  EXPECT_EQ(top("arena.kills", 7, 4, 2).total, 4);
  // My rank, around me.
  EXPECT_EQ(rank("arena.kills", 7, 2), (leaderboard_entry{3, 2, 5, 2000}));
  EXPECT_FALSE(rank("arena.kills", 7, 99));
  EXPECT_EQ(accounts_of(around("arena.kills", 7, 2, 1)), (std::vector<std::int64_t>{3, 2, 4}));
  EXPECT_EQ(accounts_of(around("arena.kills", 7, 1, 2)), (std::vector<std::int64_t>{1, 3, 2}));
  EXPECT_TRUE(around("arena.kills", 7, 99, 2).entries.empty());
  EXPECT_EQ(around("arena.kills", 7, 99, 2).total, 4);
  // Ascending board, best kept: 2 (70 s) before 1 (90 s; 95 s was worse and changed nothing).
  const auto esc = top("mystery.escape.gull_rock", 7, 0, 10);
  EXPECT_EQ(accounts_of(esc), (std::vector<std::int64_t>{2, 1}));
  EXPECT_EQ(esc.entries[0].value, 70'000);
  EXPECT_EQ(esc.entries[1].value, 90'000);
  EXPECT_EQ(esc.entries[1].reached_ms, 3000);
  // A board nobody played is empty.
  EXPECT_EQ(top("arena.nothing", 7, 0, 10).total, 0);
}

TEST_P(competition_store_contract, seasons_start_afresh_and_archives_stay_readable) {
  games().insert_game(scored("s1", 1000, 100, {kills(1, 5), kills(2, 3)}));
  flush();
  EXPECT_EQ(accounts_of(top("arena.kills", 100, 0, 10)), (std::vector<std::int64_t>{1, 2}));
  // The next season: a fresh board; the last one unchanged.
  games().insert_game(scored("s2", 2000, 200, {kills(2, 1)}));
  games().insert_game(scored("s3", 3000, 300, {kills(3, 1)}));
  flush();
  EXPECT_EQ(accounts_of(top("arena.kills", 200, 0, 10)), (std::vector<std::int64_t>{2}));
  EXPECT_EQ(top("arena.kills", 200, 0, 10).entries[0].value, 1);
  EXPECT_EQ(accounts_of(top("arena.kills", 100, 0, 10)), (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(rank("arena.kills", 100, 2)->value, 3);
  EXPECT_EQ(seasons("arena.kills"), (std::vector<std::int64_t>{300, 200, 100}));
  EXPECT_TRUE(seasons("arena.none").empty());
}

TEST_P(competition_store_contract, a_loaded_board_follows_later_writes) {
  games().insert_game(scored("w1", 1000, 1, {kills(1, 1), kills(2, 2)}));
  flush();
  EXPECT_EQ(accounts_of(top("arena.kills", 1, 0, 10)), (std::vector<std::int64_t>{2, 1}));
  games().insert_game(scored("w2", 2000, 1, {kills(1, 5)}));
  flush();
  EXPECT_EQ(accounts_of(top("arena.kills", 1, 0, 10)), (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(rank("arena.kills", 1, 1)->value, 6);
  EXPECT_EQ(rank("arena.kills", 1, 2)->rank, 2);
}

INSTANTIATE_TEST_SUITE_P(impls, competition_store_contract, ::testing::ValuesIn(implementations()),
                         implementation_name);

}  // namespace
}  // namespace maratang::store
