// What a finished game adds to its players' statistics (lobby/game_stats.hpp): the room's part
// (who abandoned, how long each played, seat order) with a scripted mode, and the test.counter
// fixture's scoring. Mafia's and Mystery's scoring are tested with their modes.
#include "lobby/game_stats.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <stdexcept>
#include <utility>

#include "modes/testing/counter_mode.hpp"

namespace maratang::lobby {
namespace {

namespace json = boost::json;
using store::game_result;
using store::player_outcome;
using tally_list = std::vector<std::pair<std::string, std::string>>;

// A mode whose score is a test's function.
class scripted_factory final : public mode_factory {
 public:
  using score_fn = std::function<void(const json::object&, std::span<player_outcome>)>;
  explicit scripted_factory(score_fn f) : f_(std::move(f)) {}
  std::string_view name() const override { return "scripted"; }
  int min_players() const override { return 1; }
  int max_players() const override { return 10; }
  std::span<const proto::message_spec> messages() const override { return {}; }
  result<json::object> validate_settings(const json::object& s) const override { return s; }
  std::unique_ptr<mode> create(const json::object&) const override { return nullptr; }
  result<std::unique_ptr<mode>> restore(const json::object&, const json::object&) const override {
    return error{errc::internal};
  }
  void score(const json::object& record, std::span<player_outcome> stayed) const override {
    ++calls;
    f_(record, stayed);
  }
  mutable int calls = 0;

 private:
  score_fn f_;
};

game_end ended(std::vector<player_id> players, std::map<player_id, epoch_ms> left = {},
               bool aborted = false) {
  return game_end{10'000, 70'000, std::move(players), std::move(left), aborted};
}

std::vector<player_id> ids_of(const std::vector<player_outcome>& out) {
  std::vector<player_id> ids;
  for (const auto& o : out)
    ids.push_back(o.account_id);
  return ids;
}

TEST(GameStats, PlayersWhoStayedAreScoredByTheModeAndPlayedTheWholeGame) {
  std::vector<player_id> seen;
  scripted_factory f([&](const json::object& record, std::span<player_outcome> stayed) {
    EXPECT_EQ(record.at("winner").as_string(), "x");
    for (auto& o : stayed) {
      seen.push_back(o.account_id);
      EXPECT_EQ(o.result, game_result::drawn);  // they come in drawn
      o.result = o.account_id == 7 ? game_result::won : game_result::lost;
      if (o.account_id == 7) o.tallies.emplace_back("wins", "x");
    }
  });
  auto out = game_outcomes(ended({3, 7, 5}), {{"winner", "x"}}, &f);
  EXPECT_EQ(ids_of(out), (std::vector<player_id>{3, 7, 5}));  // seat order
  EXPECT_EQ(seen, (std::vector<player_id>{3, 7, 5}));
  EXPECT_EQ(out[0].result, game_result::lost);
  EXPECT_EQ(out[1].result, game_result::won);
  EXPECT_EQ(out[2].result, game_result::lost);
  EXPECT_EQ(out[1].tallies, (tally_list{{"wins", "x"}}));
  EXPECT_TRUE(out[0].tallies.empty());
  for (const auto& o : out)
    EXPECT_EQ(o.time_played_ms, 60'000);
}

TEST(GameStats, APlayerWhoLeftAbandonedUntilThenAndIsNotScored) {
  std::vector<player_id> seen;
  scripted_factory f([&](const json::object&, std::span<player_outcome> stayed) {
    for (auto& o : stayed) {
      seen.push_back(o.account_id);
      o.result = game_result::won;
      o.tallies.emplace_back("wins", "x");
    }
  });
  auto out = game_outcomes(ended({3, 7, 5}, {{7, 25'000}}), {}, &f);
  EXPECT_EQ(seen, (std::vector<player_id>{3, 5}));
  ASSERT_EQ(ids_of(out), (std::vector<player_id>{3, 7, 5}));
  EXPECT_EQ(out[1].result, game_result::abandoned);
  EXPECT_EQ(out[1].time_played_ms, 15'000);  // from the start to when they left
  EXPECT_TRUE(out[1].tallies.empty());
  EXPECT_EQ(out[0].result, game_result::won);
  EXPECT_EQ(out[2].result, game_result::won);
  EXPECT_EQ(out[2].time_played_ms, 60'000);
}

TEST(GameStats, AnAbortedGameIsAbandonedByEveryoneAndNotScored) {
  scripted_factory f([](const json::object&, std::span<player_outcome> stayed) {
    for (auto& o : stayed)
      o.result = game_result::won;
  });
  auto out = game_outcomes(ended({1, 2}, {{2, 40'000}}, true), {{"aborted", "error"}}, &f);
  EXPECT_EQ(f.calls, 0);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].result, game_result::abandoned);
  EXPECT_EQ(out[0].time_played_ms, 60'000);
  EXPECT_EQ(out[1].result, game_result::abandoned);
  EXPECT_EQ(out[1].time_played_ms, 30'000);
}

TEST(GameStats, WithoutAModeOrWhenEveryoneLeftNobodyIsScored) {
  auto out = game_outcomes(ended({1, 2}), {}, nullptr);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].result, game_result::drawn);
  EXPECT_EQ(out[1].result, game_result::drawn);

  scripted_factory f([](const json::object&, std::span<player_outcome>) {});
  out = game_outcomes(ended({1, 2}, {{1, 20'000}, {2, 30'000}}), {}, &f);
  EXPECT_EQ(f.calls, 0);
  EXPECT_EQ(out[0].result, game_result::abandoned);
  EXPECT_EQ(out[1].result, game_result::abandoned);
}

TEST(GameStats, AScoreThatThrowsCountsEveryoneDrawnWithoutTallies) {
  scripted_factory f([](const json::object&, std::span<player_outcome> stayed) {
    stayed[0].result = game_result::won;
    stayed[0].tallies.emplace_back("wins", "x");
    throw std::runtime_error("bad record");
  });
  auto out = game_outcomes(ended({1, 2}), {}, &f);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].result, game_result::drawn);
  EXPECT_TRUE(out[0].tallies.empty());
  EXPECT_EQ(out[1].result, game_result::drawn);
}

TEST(GameStats, AScoreDecidesResultsAndTalliesButNotWhoOrHowLong) {
  scripted_factory f([](const json::object&, std::span<player_outcome> stayed) {
    for (auto& o : stayed) {
      o.account_id = 99;
      o.time_played_ms = 1;
      o.result = game_result::lost;
    }
  });
  auto out = game_outcomes(ended({1, 2}), {}, &f);
  EXPECT_EQ(ids_of(out), (std::vector<player_id>{1, 2}));
  EXPECT_EQ(out[0].time_played_ms, 60'000);
  EXPECT_EQ(out[0].result, game_result::lost);
}

TEST(GameStats, TimesNeverGoNegativeAndAnIdSeatedTwiceCountsOnce) {
  game_end e = ended({4, 4, 6}, {{6, 5'000}});  // "left" before the start (clock skew)
  e.ended_ms = e.started_ms - 1;
  auto out = game_outcomes(e, {}, nullptr);
  EXPECT_EQ(ids_of(out), (std::vector<player_id>{4, 6}));
  for (const auto& o : out)
    EXPECT_EQ(o.time_played_ms, 0);
}

// The test.counter fixture: the highest own count wins, a shared top draws, the rest lose.
TEST(GameStats, TheCounterFixtureScoresByOwnCount) {
  auto f = modes::make_counter_mode_factory();
  json::object record{{"total", 9}, {"reason", "finished"}, {"players", {{"1", 5}, {"2", 3}}}};
  auto out = game_outcomes(ended({1, 2}), record, f.get());
  EXPECT_EQ(out[0].result, game_result::won);
  EXPECT_EQ(out[1].result, game_result::lost);
  EXPECT_EQ(out[0].tallies, (tally_list{{"totals", "5"}}));
  EXPECT_EQ(f->tallies().size(), 1u);

  record["players"] = json::object{{"1", 4}, {"2", 4}, {"3", 1}};
  out = game_outcomes(ended({1, 2, 3}), record, f.get());
  EXPECT_EQ(out[0].result, game_result::drawn);
  EXPECT_EQ(out[1].result, game_result::drawn);
  EXPECT_EQ(out[2].result, game_result::lost);
}

}  // namespace
}  // namespace maratang::lobby
