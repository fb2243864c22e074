// The Mafia mode against a fake room: scripted games through every branch of seed 002, bad input,
// channels, media policy, and a leak audit over 1,000 seeded random games.
#include "modes/mafia/mafia_mode.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <functional>
#include <set>

#include "lobby/fake_room.hpp"
#include "lobby/game_stats.hpp"

namespace maratang::modes {
namespace {

namespace json = boost::json;
using lobby::player_id;
using lobby::testing::fake_room;
using lobby::testing::received;

constexpr player_id first_id = 101;

struct game {
  std::unique_ptr<lobby::mode_factory> factory = make_mafia_mode_factory(4, 12);
  std::unique_ptr<fake_room> room;
  std::unique_ptr<lobby::mode> mode;
  std::map<player_id, std::string> role;  // as each player was told
  json::object settings;

  void start(int players, const json::object& s = {}, std::uint64_t seed = 1) {
    settings = factory->validate_settings(s).value();
    std::vector<lobby::member_info> members;
    for (int i = 0; i < players; ++i)
      members.push_back({first_id + i, "p" + std::to_string(i), true, false});
    room = std::make_unique<fake_room>(std::move(members), seed);
    ASSERT_TRUE(factory->check_start(settings, players));
    mode = factory->create(settings);
    mode->on_start(*room);
    for (const auto& [p, frames] : room->inbox) {
      for (const auto& f : frames) {
        if (f.type == "mafia.role") role[p] = std::string(f.data.at("role").as_string());
      }
    }
  }

  std::vector<player_id> with(std::string_view r) const {
    std::vector<player_id> out;
    for (const auto& [p, rr] : role) {
      if (rr == r) out.push_back(p);
    }
    return out;
  }
  std::vector<player_id> town() const {
    std::vector<player_id> out;
    for (const auto& [p, rr] : role) {
      if (rr != "mafia") out.push_back(p);
    }
    return out;
  }
  player_id one(std::string_view r) const { return with(r).at(0); }

  result<json::object> act(player_id p, std::string_view type, const json::object& data = {}) {
    return room->act(*factory, *mode, p, type, data);
  }
  result<json::object> vote(player_id p, player_id target) {
    return act(p, "mafia.vote", {{"target", target}});
  }

  const received* last_public(std::string_view type) const {
    const auto& ev = room->public_events();
    for (auto it = ev.rbegin(); it != ev.rend(); ++it) {
      if (it->type == type) return &*it;
    }
    return nullptr;
  }
  std::string phase() const {
    const auto* p = last_public("mafia.phase");
    return p ? std::string(p->data.at("phase").as_string()) : "";
  }
  // Fires timers until the phase is `target` (bounded).
  void run_to(std::string_view target) {
    for (int i = 0; i < 20 && phase() != target && !room->ended(); ++i)
      room->fire_next_timer(*mode);
    ASSERT_EQ(phase(), target);
  }
  std::vector<received> frames(player_id p, std::string_view type) const {
    std::vector<received> out;
    auto it = room->inbox.find(p);
    if (it == room->inbox.end()) return out;
    for (const auto& f : it->second) {
      if (f.type == type) out.push_back(f);
    }
    return out;
  }
  bool alive(player_id p) const {
    auto view = mode->view(p);
    for (const auto& v : view.at("players").as_array()) {
      if (v.at("player").as_int64() == p) return v.at("alive").as_bool();
    }
    return false;
  }
  // Every living player votes for `target` (the target abstains).
  void everyone_votes(player_id target) {
    for (const auto& [p, r] : role) {
      if (!alive(p)) continue;
      if (p == target) {
        ASSERT_TRUE(act(p, "mafia.vote"));
      } else {
        ASSERT_TRUE(vote(p, target)) << p;
      }
    }
  }
  void everyone_judges(bool yes) {
    auto accused = mode->view(first_id).at("accused").as_int64();
    for (const auto& [p, r] : role) {
      if (alive(p) && p != accused) {
        ASSERT_TRUE(act(p, "mafia.verdict", {{"yes", yes}}));
      }
    }
  }
};

json::object fast() {
  return {{"day_ms", 1000},
          {"vote_ms", 1000},
          {"defense_ms", 1000},
          {"verdict_ms", 1000},
          {"night_ms", 1000}};
}

// --- Settings -----------------------------------------------------------------------------------

TEST(MafiaSettings, DefaultsAreFilledIn) {
  auto f = make_mafia_mode_factory();
  auto s = f->validate_settings({}).value();
  EXPECT_EQ(s.at("day_ms").as_int64(), 60000);
  EXPECT_EQ(s.at("tie").as_string(), "day");
  EXPECT_FALSE(s.at("night_early_end").as_bool());
  EXPECT_TRUE(s.at("police").as_bool());
  EXPECT_EQ(s.at("mafia_kill").as_string(), "plurality");
  EXPECT_EQ(s.at("max_tied_votes").as_int64(), 2);
  EXPECT_EQ(s.at("max_days").as_int64(), 30);
  EXPECT_EQ(f->min_players(), 4);
  EXPECT_EQ(f->max_players(), 12);
}

TEST(MafiaSettings, BadSettingsNameTheSetting) {
  auto f = make_mafia_mode_factory();
  struct bad {
    json::object s;
    std::string_view names;
  };
  const std::vector<bad> cases = {
      {{{"day_ms", 10}}, "settings.day_ms"},
      {{{"night_ms", "long"}}, "settings.night_ms"},
      {{{"tie", "coin"}}, "settings.tie"},
      {{{"police", 1}}, "settings.police"},
      {{{"roles", {{"mafia", 0}, {"doctor", 1}, {"police", 0}}}}, "settings.roles.mafia"},
      {{{"roles", {{"mafia", 1}, {"doctor", 1}}}}, "settings.roles.police"},
      {{{"roles", {{"mafia", 1}, {"doctor", 1}, {"police", 0}, {"witch", 1}}}}, "settings.roles"},
      {{{"werewolves", true}}, "werewolves"},
      {{{"mafia_kill", "majority"}}, "settings.mafia_kill"},
      {{{"mafia_kill", true}}, "settings.mafia_kill"},
      {{{"max_tied_votes", 0}}, "settings.max_tied_votes"},
      {{{"max_tied_votes", 11}}, "settings.max_tied_votes"},
      {{{"max_tied_votes", "2"}}, "settings.max_tied_votes"},
      {{{"max_days", 0}}, "settings.max_days"},
      {{{"max_days", 101}}, "settings.max_days"},
  };
  for (const auto& c : cases) {
    auto r = f->validate_settings(c.s);
    ASSERT_FALSE(r) << json::serialize(c.s);
    EXPECT_NE(r.error().message.find(c.names), std::string::npos) << r.error().message;
  }
}

TEST(MafiaSettings, StartNeedsRoomForTheRoles) {
  auto f = make_mafia_mode_factory();
  auto s = f->validate_settings({{"roles", {{"mafia", 2}, {"doctor", 1}, {"police", 1}}}}).value();
  EXPECT_EQ(f->check_start(s, 4).error().code, errc::too_few_players);
  EXPECT_TRUE(f->check_start(s, 5));  // 2 mafia against 3
  auto many =
      f->validate_settings({{"roles", {{"mafia", 1}, {"doctor", 3}, {"police", 2}}}}).value();
  EXPECT_EQ(f->check_start(many, 5).error().code, errc::too_few_players);
  auto d = f->validate_settings({}).value();
  for (int n = 4; n <= 12; ++n) {
    EXPECT_TRUE(f->check_start(d, n)) << n;
    EXPECT_TRUE(f->check_start({}, n)) << n;  // no settings at all: the defaults
  }
}

// --- The deal -----------------------------------------------------------------------------------

TEST(MafiaDeal, EachPlayerLearnsOnlyTheirOwnRoleAndTheMafiaTheirTeam) {
  for (int n = 4; n <= 12; ++n) {
    game g;
    g.start(n, {}, 40 + n);
    ASSERT_EQ(g.role.size(), static_cast<std::size_t>(n));
    int want_mafia = n <= 5 ? 1 : n <= 8 ? 2 : 3;
    EXPECT_EQ(g.with("mafia").size(), static_cast<std::size_t>(want_mafia)) << n;
    EXPECT_EQ(g.with("doctor").size(), 1u);
    EXPECT_EQ(g.with("police").size(), n >= 5 ? 1u : 0u);
    for (const auto& [p, r] : g.role) {
      auto roles = g.frames(p, "mafia.role");
      ASSERT_EQ(roles.size(), 1u);
      EXPECT_EQ(roles[0].data.at("player").as_int64(), p);
      if (r == "mafia") {
        std::set<player_id> team;
        for (const auto& t : roles[0].data.at("team").as_array())
          team.insert(t.at("player").as_int64());
        auto mafia = g.with("mafia");
        EXPECT_EQ(team, std::set<player_id>(mafia.begin(), mafia.end()));
      } else {
        EXPECT_FALSE(roles[0].data.contains("team"));
      }
    }
    // The public start event has counts, never who holds what.
    const auto* started = g.last_public("mafia.started");
    ASSERT_TRUE(started);
    EXPECT_EQ(started->data.at("counts").at("mafia").as_int64(), want_mafia);
    EXPECT_EQ(json::serialize(started->data).find("\"role\""), std::string::npos);
  }
}

TEST(MafiaDeal, TheSameSeedDealsTheSameRoles) {
  game a, b, c;
  a.start(8, {}, 7);
  b.start(8, {}, 7);
  EXPECT_EQ(a.role, b.role);
  bool differs = false;
  for (std::uint64_t seed = 8; seed < 20 && !differs; ++seed) {
    game d;
    d.start(8, {}, seed);
    differs = d.role != a.role;
  }
  EXPECT_TRUE(differs);
}

TEST(MafiaDeal, RoleCountsCanBeOverridden) {
  game g;
  g.start(6, {{"roles", {{"mafia", 1}, {"doctor", 0}, {"police", 2}}}});
  EXPECT_EQ(g.with("mafia").size(), 1u);
  EXPECT_EQ(g.with("doctor").size(), 0u);
  EXPECT_EQ(g.with("police").size(), 2u);
  EXPECT_EQ(g.with("citizen").size(), 3u);
}

// --- Phases -------------------------------------------------------------------------------------

TEST(MafiaPhases, EachPhaseCarriesItsAbsoluteEndTime) {
  game g;
  g.start(5, fast());
  auto t0 = g.room->now_ms();
  const auto* day = g.last_public("mafia.phase");
  EXPECT_EQ(day->data.at("phase").as_string(), "day");
  EXPECT_EQ(day->data.at("day").as_int64(), 1);
  EXPECT_EQ(day->data.at("ends_at").as_int64(), t0 + 1000);
  EXPECT_EQ(g.room->next_timer_at(), t0 + 1000);
  g.room->fire_next_timer(*g.mode);
  EXPECT_EQ(g.phase(), "vote");
  EXPECT_EQ(g.last_public("mafia.phase")->data.at("ends_at").as_int64(), t0 + 2000);
  // Only the current phase's timer is pending.
  EXPECT_EQ(g.room->pending_timers(), 1u);
}

TEST(MafiaPhases, ExecutionYesKillsTheAccusedAndTheTownWins) {
  game g;
  g.start(4, fast());
  auto mafia = g.one("mafia");
  g.run_to("vote");
  auto deadline = g.room->next_timer_at();
  g.everyone_votes(mafia);
  // Everyone voted: the vote ended early, before its deadline (seed 002 "투표 완료").
  EXPECT_EQ(g.phase(), "defense");
  EXPECT_LT(g.room->now_ms(), deadline);
  EXPECT_EQ(g.last_public("mafia.vote_result")->data.at("accused").as_int64(), mafia);
  EXPECT_EQ(g.last_public("mafia.phase")->data.at("accused").as_int64(), mafia);
  g.run_to("verdict");
  g.everyone_judges(true);
  ASSERT_TRUE(g.room->ended());
  const auto* v = g.last_public("mafia.verdict_result");
  EXPECT_TRUE(v->data.at("executed").as_bool());
  EXPECT_EQ(v->data.at("yes").as_int64(), 3);
  const auto* d = g.last_public("mafia.death");
  EXPECT_EQ(d->data.at("player").as_int64(), mafia);
  EXPECT_EQ(d->data.at("cause").as_string(), "executed");
  EXPECT_FALSE(d->data.contains("role"));  // roles are revealed at the end, not on death
  EXPECT_EQ(g.room->result_data().at("winner").as_string(), "town");
  // The end reveals every role to everyone.
  for (const auto& p : g.room->result_data().at("players").as_array()) {
    auto id = p.at("player").as_int64();
    EXPECT_EQ(p.at("role").as_string(), g.role[id]);
    EXPECT_EQ(p.at("won").as_bool(), g.role[id] != "mafia");
  }
  for (const auto& [p, r] : g.role)
    EXPECT_EQ(g.frames(p, "room.game_ended").size(), 1u);
}

TEST(MafiaPhases, ExecutionNoSparesTheAccusedAndNightFalls) {
  game g;
  g.start(5, fast());
  auto target = g.town().at(0);
  g.run_to("vote");
  g.everyone_votes(target);
  g.run_to("verdict");
  // Two yes, two no: no majority, no execution.
  int i = 0;
  for (const auto& [p, r] : g.role) {
    if (p == target) continue;
    ASSERT_TRUE(g.act(p, "mafia.verdict", {{"yes", i++ % 2 == 0}}));
  }
  EXPECT_FALSE(g.last_public("mafia.verdict_result")->data.at("executed").as_bool());
  EXPECT_EQ(g.phase(), "night");
  EXPECT_TRUE(g.alive(target));
  EXPECT_EQ(g.last_public("mafia.death"), nullptr);
}

TEST(MafiaPhases, VerdictCountsAreLiveAndCanChange) {
  game g;
  g.start(6, fast());
  auto target = g.town().at(0);
  g.run_to("vote");
  g.everyone_votes(target);
  g.run_to("verdict");
  auto voter = g.town().at(1);
  ASSERT_TRUE(g.act(voter, "mafia.verdict", {{"yes", true}}));
  EXPECT_EQ(g.last_public("mafia.verdict_tally")->data.at("yes").as_int64(), 1);
  ASSERT_TRUE(g.act(voter, "mafia.verdict", {{"yes", false}}));
  EXPECT_EQ(g.last_public("mafia.verdict_tally")->data.at("yes").as_int64(), 0);
  EXPECT_EQ(g.last_public("mafia.verdict_tally")->data.at("no").as_int64(), 1);
}

// In a 4-player game's vote, two votes each for two town players: a tie.
void tie_the_vote(game& u) {
  u.run_to("vote");
  auto uw = u.town();
  auto um = u.one("mafia");
  ASSERT_TRUE(u.vote(um, uw[0]));
  ASSERT_TRUE(u.vote(uw[1], uw[0]));
  ASSERT_TRUE(u.vote(uw[0], uw[1]));
  ASSERT_TRUE(u.vote(uw[2], uw[1]));
}

TEST(MafiaPhases, TiedVoteStartsTheDayAgainByDefault) {
  game u;
  u.start(4, fast());
  tie_the_vote(u);
  const auto* r = u.last_public("mafia.vote_result");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->data.at("accused").is_null());
  EXPECT_TRUE(r->data.at("tie").as_bool());
  EXPECT_EQ(u.phase(), "day");
  EXPECT_EQ(u.last_public("mafia.phase")->data.at("day").as_int64(), 1);
}

TEST(MafiaPhases, TiedVoteGoesToNightWithTheTieRule) {
  game u;
  auto s = fast();
  s["tie"] = "night";
  u.start(4, s);
  tie_the_vote(u);
  EXPECT_EQ(u.phase(), "night");
}

// Issue 11 item 16: a town that keeps tying does not replay the same day forever. The default
// (max_tied_votes 2) gives one more round after a tie, as seed 002 says, and then night falls.
TEST(MafiaPhases, TheSecondTiedVoteOfADayGoesToNight) {
  game u;
  u.start(4, fast());
  EXPECT_EQ(u.last_public("mafia.phase")->data.at("round").as_int64(), 1);
  tie_the_vote(u);
  ASSERT_EQ(u.phase(), "day");
  EXPECT_EQ(u.last_public("mafia.phase")->data.at("day").as_int64(), 1);
  EXPECT_EQ(u.last_public("mafia.phase")->data.at("round").as_int64(), 2);
  EXPECT_EQ(u.mode->view(first_id).at("round").as_int64(), 2);
  tie_the_vote(u);
  EXPECT_TRUE(u.last_public("mafia.vote_result")->data.at("tie").as_bool());
  ASSERT_EQ(u.phase(), "night");
  EXPECT_EQ(u.last_public("mafia.phase")->data.at("day").as_int64(), 1);
  // The next day starts at round 1 again.
  u.room->fire_next_timer(*u.mode);
  ASSERT_EQ(u.phase(), "day");
  EXPECT_EQ(u.last_public("mafia.phase")->data.at("day").as_int64(), 2);
  EXPECT_EQ(u.last_public("mafia.phase")->data.at("round").as_int64(), 1);
}

TEST(MafiaPhases, MaxTiedVotesSetsHowManyTiesADayAllows) {
  game u;
  auto s = fast();
  s["max_tied_votes"] = 3;
  u.start(4, s);
  tie_the_vote(u);
  ASSERT_EQ(u.phase(), "day");
  tie_the_vote(u);
  ASSERT_EQ(u.phase(), "day");
  EXPECT_EQ(u.last_public("mafia.phase")->data.at("round").as_int64(), 3);
  tie_the_vote(u);
  EXPECT_EQ(u.phase(), "night");

  game one;
  auto s1 = fast();
  s1["max_tied_votes"] = 1;
  one.start(4, s1);
  tie_the_vote(one);
  EXPECT_EQ(one.phase(), "night");
}

TEST(MafiaPhases, EmptyVotesCountAsTiesSoAnIdleTownReachesNight) {
  game g;
  g.start(5, fast());
  g.run_to("vote");
  g.room->fire_next_timer(*g.mode);  // nobody voted
  ASSERT_EQ(g.phase(), "day");
  g.run_to("vote");
  g.room->fire_next_timer(*g.mode);  // nobody voted again
  EXPECT_EQ(g.phase(), "night");
}

// With nobody ever dying (nobody votes, the mafia choose nobody), the game still ends: a draw at
// the dawn after night `max_days`.
TEST(MafiaEnd, AGameWhereNobodyDiesEndsInADrawAfterMaxDays) {
  game g;
  auto s = fast();
  s["max_days"] = 3;
  g.start(5, s);
  for (int i = 0; i < 100 && !g.room->ended(); ++i)
    g.room->fire_next_timer(*g.mode);
  ASSERT_TRUE(g.room->ended());
  EXPECT_EQ(g.room->result_data().at("winner").as_string(), "draw");
  EXPECT_EQ(g.room->result_data().at("days").as_int64(), 3);
  for (const auto& p : g.room->result_data().at("players").as_array())
    EXPECT_FALSE(p.at("won").as_bool());
  const auto& h = g.room->record().at("history").as_array();
  EXPECT_EQ(h.back().at("kind").as_string(), "end");
  EXPECT_EQ(h.back().at("winner").as_string(), "draw");
  EXPECT_EQ(h.back().at("reason").as_string(), "max_days");
  int nights = 0;
  for (const auto& e : h)
    nights += e.at("kind").as_string() == "night";
  EXPECT_EQ(nights, 3);
}

TEST(MafiaPhases, TheLiveTallyShowsWhoVotedForWhom) {
  game g;
  g.start(5, fast());
  g.run_to("vote");
  auto w = g.town();
  ASSERT_TRUE(g.vote(w[0], w[1]));
  ASSERT_TRUE(g.act(w[2], "mafia.vote"));  // abstains
  const auto* t = g.last_public("mafia.vote_tally");
  ASSERT_TRUE(t);
  const auto& tally = t->data.at("tally").as_array();
  ASSERT_EQ(tally.size(), 1u);
  EXPECT_EQ(tally[0].at("target").as_int64(), w[1]);
  EXPECT_EQ(tally[0].at("voters").as_array().at(0).as_int64(), w[0]);
  EXPECT_EQ(t->data.at("abstained").as_array().at(0).as_int64(), w[2]);
  // Changing the vote moves the voter.
  ASSERT_TRUE(g.vote(w[0], w[2]));
  EXPECT_EQ(g.last_public("mafia.vote_tally")->data.at("tally").at(0).at("target").as_int64(),
            w[2]);
}

TEST(MafiaPhases, AVoteEndsAtItsDeadlineAndMissingVotesAbstain) {
  game g;
  g.start(5, fast());
  g.run_to("vote");
  auto w = g.town();
  auto deadline = g.room->next_timer_at();
  ASSERT_TRUE(g.vote(w[0], w[1]));  // one vote of five
  EXPECT_EQ(g.phase(), "vote");
  g.room->fire_next_timer(*g.mode);
  EXPECT_EQ(g.room->now_ms(), deadline);
  // One vote against four abstentions still names the accused: abstentions are not votes.
  EXPECT_EQ(g.phase(), "defense");
  EXPECT_EQ(g.last_public("mafia.vote_result")->data.at("accused").as_int64(), w[1]);
  auto rec = g.mode->view(w[0]);
  EXPECT_EQ(rec.at("accused").as_int64(), w[1]);
}

TEST(MafiaPhases, NoVotesAtAllStartsTheDayAgain) {
  game g;
  g.start(5, fast());
  g.run_to("vote");
  g.room->fire_next_timer(*g.mode);
  EXPECT_EQ(g.phase(), "day");
  EXPECT_FALSE(g.last_public("mafia.vote_result")->data.at("tie").as_bool());
}

// Runs a 6-player game (2 mafia) to its first night.
void to_first_night(game& g, json::object s = fast(), int players = 6) {
  s["tie"] = "night";
  g.start(players, s, 3);
  g.run_to("vote");
  g.room->fire_next_timer(*g.mode);  // nobody voted: straight to night
  ASSERT_EQ(g.phase(), "night");
}

TEST(MafiaNight, TheMafiaKillAtDawn) {
  game g;
  to_first_night(g);
  auto victim = g.one("citizen");
  for (auto m : g.with("mafia"))
    ASSERT_TRUE(g.act(m, "mafia.kill", {{"target", victim}}));
  EXPECT_EQ(g.phase(), "night");  // by default night waits for its deadline
  g.room->fire_next_timer(*g.mode);
  EXPECT_EQ(g.last_public("mafia.night_result")->data.at("killed").as_int64(), victim);
  EXPECT_EQ(g.last_public("mafia.death")->data.at("cause").as_string(), "killed");
  EXPECT_FALSE(g.alive(victim));
  EXPECT_EQ(g.phase(), "day");
  EXPECT_EQ(g.last_public("mafia.phase")->data.at("day").as_int64(), 2);
  // The dead learn every role at once.
  auto roles = g.frames(victim, "mafia.roles");
  ASSERT_EQ(roles.size(), 1u);
  EXPECT_EQ(roles[0].data.at("roles").as_array().size(), 6u);
}

TEST(MafiaNight, TheDoctorSavesTheVictim) {
  game g;
  to_first_night(g);
  auto victim = g.one("police");
  for (auto m : g.with("mafia"))
    ASSERT_TRUE(g.act(m, "mafia.kill", {{"target", victim}}));
  ASSERT_TRUE(g.act(g.one("doctor"), "mafia.heal", {{"target", victim}}));
  g.room->fire_next_timer(*g.mode);
  EXPECT_TRUE(g.last_public("mafia.night_result")->data.at("killed").is_null());
  EXPECT_TRUE(g.alive(victim));
  EXPECT_EQ(g.last_public("mafia.death"), nullptr);
}

TEST(MafiaNight, TwoMafiaTiedOneToOneKillNobody) {
  game g;
  to_first_night(g);
  auto mafia = g.with("mafia");
  ASSERT_EQ(mafia.size(), 2u);
  ASSERT_TRUE(g.act(mafia[0], "mafia.kill", {{"target", g.one("citizen")}}));
  ASSERT_TRUE(g.act(mafia[1], "mafia.kill", {{"target", g.one("doctor")}}));
  g.room->fire_next_timer(*g.mode);
  EXPECT_TRUE(g.last_public("mafia.night_result")->data.at("killed").is_null());
  for (const auto& [p, r] : g.role)
    EXPECT_TRUE(g.alive(p));
}

// Issue 11 item 15 (seed 002 "마피아 동률 시"): the mafia's pick is the player most of them chose.
TEST(MafiaNight, TheMostChosenPickDiesWhenThreeMafiaSplitTwoToOne) {
  game g;
  to_first_night(g, fast(), 9);
  auto mafia = g.with("mafia");
  ASSERT_EQ(mafia.size(), 3u);
  auto c = g.with("citizen");
  ASSERT_TRUE(g.act(mafia[0], "mafia.kill", {{"target", c[0]}}));
  ASSERT_TRUE(g.act(mafia[1], "mafia.kill", {{"target", c[1]}}));
  ASSERT_TRUE(g.act(mafia[2], "mafia.kill", {{"target", c[0]}}));
  g.room->fire_next_timer(*g.mode);
  EXPECT_EQ(g.last_public("mafia.night_result")->data.at("killed").as_int64(), c[0]);
  EXPECT_FALSE(g.alive(c[0]));
  EXPECT_TRUE(g.alive(c[1]));
}

TEST(MafiaNight, AThreeWaySplitKillsNobody) {
  game g;
  to_first_night(g, fast(), 9);
  auto mafia = g.with("mafia");
  auto c = g.with("citizen");
  for (std::size_t i = 0; i < 3; ++i)
    ASSERT_TRUE(g.act(mafia[i], "mafia.kill", {{"target", c[i]}}));
  g.room->fire_next_timer(*g.mode);
  EXPECT_TRUE(g.last_public("mafia.night_result")->data.at("killed").is_null());
  EXPECT_EQ(g.last_public("mafia.death"), nullptr);
}

TEST(MafiaNight, TheDoctorSavesTheMostChosenPick) {
  game g;
  to_first_night(g, fast(), 9);
  auto mafia = g.with("mafia");
  auto c = g.with("citizen");
  ASSERT_TRUE(g.act(mafia[0], "mafia.kill", {{"target", c[0]}}));
  ASSERT_TRUE(g.act(mafia[1], "mafia.kill", {{"target", c[0]}}));
  ASSERT_TRUE(g.act(mafia[2], "mafia.kill", {{"target", c[1]}}));
  ASSERT_TRUE(g.act(g.one("doctor"), "mafia.heal", {{"target", c[0]}}));
  g.room->fire_next_timer(*g.mode);
  EXPECT_TRUE(g.last_public("mafia.night_result")->data.at("killed").is_null());
  EXPECT_TRUE(g.alive(c[0]));
  EXPECT_TRUE(g.alive(c[1]));  // the minority's pick does not die in the saved one's place
}

TEST(MafiaNight, AMafiosoWhoChoseNobodyDoesNotBlockTheOthers) {
  game g;
  to_first_night(g, fast(), 9);
  auto mafia = g.with("mafia");
  auto c = g.with("citizen");
  ASSERT_TRUE(g.act(mafia[0], "mafia.kill", {{"target", c[0]}}));
  g.room->fire_next_timer(*g.mode);
  EXPECT_EQ(g.last_public("mafia.night_result")->data.at("killed").as_int64(), c[0]);
}

// The old rule, kept as a room setting: every mafioso who chose must agree.
TEST(MafiaNight, TheUnanimousRuleKillsOnlyWhenEveryChoiceAgrees) {
  auto s = fast();
  s["mafia_kill"] = "unanimous";
  game g;
  to_first_night(g, s, 9);
  EXPECT_EQ(g.last_public("mafia.started")->data.at("rules").at("mafia_kill").as_string(),
            "unanimous");
  auto mafia = g.with("mafia");
  auto c = g.with("citizen");
  ASSERT_TRUE(g.act(mafia[0], "mafia.kill", {{"target", c[0]}}));
  ASSERT_TRUE(g.act(mafia[1], "mafia.kill", {{"target", c[0]}}));
  ASSERT_TRUE(g.act(mafia[2], "mafia.kill", {{"target", c[1]}}));
  g.room->fire_next_timer(*g.mode);
  EXPECT_TRUE(g.last_public("mafia.night_result")->data.at("killed").is_null());
  for (const auto& [p, r] : g.role)
    EXPECT_TRUE(g.alive(p));
  // The next night, all three agree: the pick dies.
  g.run_to("vote");
  g.room->fire_next_timer(*g.mode);
  ASSERT_EQ(g.phase(), "night");
  for (auto m : mafia)
    ASSERT_TRUE(g.act(m, "mafia.kill", {{"target", c[1]}}));
  g.room->fire_next_timer(*g.mode);
  EXPECT_EQ(g.last_public("mafia.night_result")->data.at("killed").as_int64(), c[1]);
}

TEST(MafiaNight, MafiaChoicesCanChangeUntilDawnAndOnlyTheMafiaSeeThem) {
  game g;
  to_first_night(g);
  auto mafia = g.with("mafia");
  auto c = g.with("citizen");
  ASSERT_TRUE(g.act(mafia[0], "mafia.kill", {{"target", c[0]}}));
  ASSERT_TRUE(g.act(mafia[1], "mafia.kill", {{"target", c[1]}}));
  ASSERT_TRUE(g.act(mafia[1], "mafia.kill", {{"target", c[0]}}));
  for (const auto& [p, r] : g.role) {
    auto picks = g.frames(p, "mafia.kill_pick");
    EXPECT_EQ(picks.size(), r == "mafia" ? 3u : 0u) << r;
  }
  g.room->fire_next_timer(*g.mode);
  EXPECT_EQ(g.last_public("mafia.night_result")->data.at("killed").as_int64(), c[0]);
}

TEST(MafiaNight, ThePoliceLearnTheTruthPrivatelyOnceANight) {
  game g;
  to_first_night(g);
  auto police = g.one("police");
  auto mafia = g.one("mafia");
  auto r = g.act(police, "mafia.investigate", {{"target", mafia}});
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->at("is_mafia").as_bool());
  EXPECT_EQ(g.act(police, "mafia.investigate", {{"target", g.one("doctor")}}).error().code,
            errc::out_of_order);
  for (const auto& [p, role] : g.role)
    EXPECT_EQ(g.frames(p, "mafia.investigation").size(), p == police ? 1u : 0u);
  g.room->fire_next_timer(*g.mode);
  g.run_to("vote");
  g.room->fire_next_timer(*g.mode);
  ASSERT_EQ(g.phase(), "night");
  auto r2 = g.act(police, "mafia.investigate", {{"target", g.one("doctor")}});
  ASSERT_TRUE(r2);
  EXPECT_FALSE(r2->at("is_mafia").as_bool());
  EXPECT_EQ(g.mode->view(police).at("investigations").as_array().size(), 2u);
  EXPECT_FALSE(g.mode->view(g.one("doctor")).contains("investigations"));
}

TEST(MafiaNight, NightEndsEarlyWhenEveryRoleActedWithTheRule) {
  game g;
  auto s = fast();
  s["night_early_end"] = true;
  to_first_night(g, s);
  auto deadline = g.room->next_timer_at();
  auto victim = g.one("citizen");
  for (auto m : g.with("mafia"))
    ASSERT_TRUE(g.act(m, "mafia.kill", {{"target", victim}}));
  ASSERT_TRUE(g.act(g.one("doctor"), "mafia.heal", {{"target", g.one("doctor")}}));
  EXPECT_EQ(g.phase(), "night");  // the police have not acted yet
  ASSERT_TRUE(g.act(g.one("police"), "mafia.investigate", {{"target", victim}}));
  EXPECT_EQ(g.phase(), "day");
  EXPECT_LT(g.room->now_ms(), deadline);
  EXPECT_FALSE(g.alive(victim));
}

TEST(MafiaEnd, TheMafiaWinWhenTheyAreAsManyAsTheRest) {
  game g;
  auto s = fast();
  s["tie"] = "night";
  g.start(4, s, 5);
  auto mafia = g.one("mafia");
  auto town = g.town();
  g.run_to("vote");
  g.everyone_votes(town[0]);  // the town executes one of its own
  g.run_to("verdict");
  g.everyone_judges(true);
  ASSERT_FALSE(g.room->ended());  // 1 mafia against 2
  ASSERT_EQ(g.phase(), "night");
  ASSERT_TRUE(g.act(mafia, "mafia.kill", {{"target", town[1]}}));
  g.room->fire_next_timer(*g.mode);
  ASSERT_TRUE(g.room->ended());
  EXPECT_EQ(g.room->result_data().at("winner").as_string(), "mafia");
  // The record keeps every vote and death in order, and the winners.
  const auto& rec = g.room->record();
  std::vector<std::string> kinds;
  for (const auto& h : rec.at("history").as_array())
    kinds.emplace_back(h.at("kind").as_string());
  std::vector<std::string> want = {"start", "vote", "verdict", "death", "night", "death", "end"};
  EXPECT_EQ(kinds, want);
  EXPECT_EQ(rec.at("winner").as_string(), "mafia");
  EXPECT_EQ(rec.at("history").at(3).at("player").as_int64(), town[0]);
  EXPECT_EQ(rec.at("history").at(5).at("player").as_int64(), town[1]);
  EXPECT_EQ(rec.at("history").at(1).at("votes").as_object().size(), 4u);
  const auto& night = rec.at("history").at(4);
  EXPECT_EQ(night.at("victim").as_int64(), town[1]);
  EXPECT_FALSE(night.at("tie").as_bool());
  EXPECT_FALSE(night.at("saved").as_bool());
  EXPECT_EQ(night.at("killed").as_int64(), town[1]);
}

TEST(MafiaEnd, RevealOnDeathShowsTheRoleToEveryone) {
  game g;
  auto s = fast();
  s["reveal_on_death"] = true;
  g.start(5, s);
  auto target = g.one("doctor");
  g.run_to("vote");
  g.everyone_votes(target);
  g.run_to("verdict");
  g.everyone_judges(true);
  EXPECT_EQ(g.last_public("mafia.death")->data.at("role").as_string(), "doctor");
}

// --- Presence -----------------------------------------------------------------------------------

TEST(MafiaPresence, AReconnectingPlayerSeesThePhaseTheirRoleAndTheirPrivateState) {
  game g;
  to_first_night(g);
  auto mafia = g.with("mafia");
  auto doctor = g.one("doctor");
  auto citizen = g.one("citizen");
  g.room->set_connected(*g.mode, mafia[0], false);
  ASSERT_TRUE(g.act(mafia[1], "mafia.kill", {{"target", citizen}}));
  ASSERT_TRUE(g.act(doctor, "mafia.heal", {{"target", doctor}}));
  g.room->set_connected(*g.mode, mafia[0], true);
  auto v = g.mode->view(mafia[0]);
  EXPECT_EQ(v.at("phase").as_string(), "night");
  EXPECT_EQ(v.at("ends_at").as_int64(), g.room->next_timer_at());
  EXPECT_EQ(v.at("me").at("role").as_string(), "mafia");
  EXPECT_EQ(v.at("me").at("team").as_array().size(), 2u);
  ASSERT_EQ(v.at("mafia_picks").as_array().size(), 1u);
  EXPECT_EQ(v.at("mafia_picks").at(0).at("target").as_int64(), citizen);
  EXPECT_FALSE(v.contains("patient"));
  auto dv = g.mode->view(doctor);
  EXPECT_EQ(dv.at("patient").as_int64(), doctor);
  EXPECT_FALSE(dv.contains("mafia_picks"));
  EXPECT_FALSE(dv.at("me").as_object().contains("team"));
  // The media policy in the view matches the phase: at night a mafioso hears the other.
  EXPECT_EQ(v.at("media").at("hear").as_array().size(), 1u);
  EXPECT_EQ(dv.at("media").at("hear").as_array().size(), 0u);
}

TEST(MafiaPresence, AnAccusedWhoLeavesDiesAndNightFalls) {
  game g;
  g.start(6, fast());
  auto target = g.one("citizen");
  g.run_to("vote");
  g.everyone_votes(target);
  ASSERT_EQ(g.phase(), "defense");
  g.room->leave(*g.mode, target);
  const auto* d = g.last_public("mafia.death");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->data.at("player").as_int64(), target);
  EXPECT_EQ(d->data.at("cause").as_string(), "left");
  EXPECT_EQ(g.phase(), "night");
}

TEST(MafiaPresence, LeavingCanDecideTheGame) {
  game g;
  g.start(4, fast());
  g.room->leave(*g.mode, g.one("mafia"));
  ASSERT_TRUE(g.room->ended());
  EXPECT_EQ(g.room->result_data().at("winner").as_string(), "town");
}

TEST(MafiaPresence, VotesForALeaverAreDroppedAndTheVoteCanStillEndEarly) {
  game g;
  g.start(6, fast());
  g.run_to("vote");
  auto c = g.town();
  auto m = g.with("mafia");
  ASSERT_TRUE(g.vote(c[0], c[1]));
  g.room->leave(*g.mode, c[1]);
  EXPECT_TRUE(g.last_public("mafia.vote_tally")->data.at("tally").as_array().empty());
  // Everyone left alive votes; the last vote ends the phase.
  for (auto p : {c[0], c[2], c[3], m[0]})
    ASSERT_TRUE(g.vote(p, m[1]));
  EXPECT_EQ(g.phase(), "vote");
  ASSERT_TRUE(g.vote(m[1], c[0]));
  EXPECT_EQ(g.phase(), "defense");
}

// --- Statistics ---------------------------------------------------------------------------------

using store::game_result;
using tally_list = std::vector<std::pair<std::string, std::string>>;

// What the factory's score makes of the record the game wrote, every player having stayed.
std::map<player_id, store::player_outcome> scores(const game& g) {
  std::vector<store::player_outcome> stayed;
  for (const auto& [p, r] : g.role) {
    store::player_outcome o;
    o.account_id = p;
    stayed.push_back(o);
  }
  g.factory->score(g.room->record(), stayed);
  std::map<player_id, store::player_outcome> out;
  for (auto& o : stayed)
    out[o.account_id] = o;
  return out;
}

TEST(MafiaStats, WhenTheTownWinsEveryTownRoleWinsDeadOrAliveAndTheMafiaLose) {
  game g;
  g.start(5, fast());  // 1 mafia, a doctor, the police, 2 citizens
  ASSERT_EQ(g.with("doctor").size(), 1u);
  ASSERT_EQ(g.with("police").size(), 1u);
  ASSERT_EQ(g.with("citizen").size(), 2u);
  const auto mafia = g.one("mafia");
  const auto victim = g.with("citizen")[0];
  // Day 1: the town executes one of its own; night: the mafia kill nobody.
  g.run_to("vote");
  g.everyone_votes(victim);
  g.run_to("verdict");
  g.everyone_judges(true);
  ASSERT_FALSE(g.alive(victim));
  g.run_to("night");
  g.run_to("day");
  // Day 2: the mafioso is executed.
  g.run_to("vote");
  g.everyone_votes(mafia);
  g.run_to("verdict");
  g.everyone_judges(true);
  ASSERT_TRUE(g.room->ended());
  ASSERT_EQ(g.room->record().at("winner").as_string(), "town");
  auto s = scores(g);
  ASSERT_EQ(s.size(), 5u);
  for (const auto& [p, r] : g.role) {
    SCOPED_TRACE(r);
    if (r == "mafia") {
      EXPECT_EQ(s[p].result, game_result::lost);
      EXPECT_TRUE(s[p].tallies.empty());
    } else {
      EXPECT_EQ(s[p].result, game_result::won);
      EXPECT_EQ(s[p].tallies, (tally_list{{"wins_by_role", r}}));
    }
  }
  EXPECT_EQ(s[victim].result, game_result::won);  // dead, but their side won
}

TEST(MafiaStats, WhenTheMafiaWinTheyWinAsMafiaAndEveryTownRoleLoses) {
  game g;
  auto st = fast();
  st["tie"] = "night";
  g.start(4, st, 5);  // 1 mafia, a doctor, 2 citizens
  auto mafia = g.one("mafia");
  auto town = g.town();
  g.run_to("vote");
  g.everyone_votes(town[0]);
  g.run_to("verdict");
  g.everyone_judges(true);
  ASSERT_TRUE(g.act(mafia, "mafia.kill", {{"target", town[1]}}));
  g.room->fire_next_timer(*g.mode);
  ASSERT_TRUE(g.room->ended());
  ASSERT_EQ(g.room->record().at("winner").as_string(), "mafia");
  auto s = scores(g);
  EXPECT_EQ(s[mafia].result, game_result::won);
  EXPECT_EQ(s[mafia].tallies, (tally_list{{"wins_by_role", "mafia"}}));
  std::set<std::string> losing_roles;
  for (auto p : town) {
    EXPECT_EQ(s[p].result, game_result::lost) << g.role[p];
    EXPECT_TRUE(s[p].tallies.empty());
    losing_roles.insert(g.role[p]);
  }
  EXPECT_EQ(losing_roles, (std::set<std::string>{"citizen", "doctor"}));
}

TEST(MafiaStats, ADrawIsDrawnForEveryoneWithoutTallies) {
  game g;
  auto st = fast();
  st["max_days"] = 2;
  g.start(5, st);
  for (int i = 0; i < 100 && !g.room->ended(); ++i)
    g.room->fire_next_timer(*g.mode);
  ASSERT_TRUE(g.room->ended());
  ASSERT_EQ(g.room->record().at("winner").as_string(), "draw");
  for (const auto& [p, o] : scores(g)) {
    EXPECT_EQ(o.result, game_result::drawn) << g.role[p];
    EXPECT_TRUE(o.tallies.empty());
  }
}

// Through the room's part (game_stats.hpp): the mafioso who left lost the game for their side
// and abandoned it; the town won.
TEST(MafiaStats, APlayerWhoLeftAbandonedEvenWhenTheLeavingDecidedTheGame) {
  game g;
  g.start(4, fast());
  const auto mafia = g.one("mafia");
  g.room->advance(5'000);
  g.room->leave(*g.mode, mafia);
  ASSERT_TRUE(g.room->ended());
  lobby::game_end end;
  end.started_ms = 1'000'000;
  end.ended_ms = g.room->now_ms();
  for (const auto& [p, r] : g.role)
    end.players.push_back(p);
  end.left[mafia] = g.room->now_ms();
  auto out = lobby::game_outcomes(end, g.room->record(), g.factory.get());
  ASSERT_EQ(out.size(), 4u);
  for (const auto& o : out) {
    if (o.account_id == mafia) {
      EXPECT_EQ(o.result, game_result::abandoned);
      EXPECT_TRUE(o.tallies.empty());
    } else {
      EXPECT_EQ(o.result, game_result::won);
      EXPECT_EQ(o.tallies, (tally_list{{"wins_by_role", g.role[o.account_id]}}));
    }
    EXPECT_EQ(o.time_played_ms, 5'000);
  }
  EXPECT_EQ(std::vector<std::string_view>(g.factory->tallies().begin(), g.factory->tallies().end()),
            (std::vector<std::string_view>{"wins_by_role"}));
}

TEST(MafiaStats, ARecordWithoutAWinnerOrWithStrangePlayersScoresNoOne) {
  auto f = make_mafia_mode_factory();
  std::vector<store::player_outcome> stayed(2);
  stayed[0].account_id = 1;
  stayed[1].account_id = 2;
  for (const char* rec :
       {R"({})", R"({"winner":5,"players":[]})", R"({"winner":"town","players":{}})",
        R"({"winner":"town","players":[1,{"player":"1","role":"citizen","won":true},)"
        R"({"player":2,"role":"citizen","won":"yes"}]})"}) {
    f->score(json::parse(rec).as_object(), stayed);
    EXPECT_EQ(stayed[0].result, game_result::drawn) << rec;
    EXPECT_EQ(stayed[1].result, game_result::drawn) << rec;
    EXPECT_TRUE(stayed[0].tallies.empty()) << rec;
  }
}

// --- Bad input ----------------------------------------------------------------------------------

TEST(MafiaBadInput, EveryIllegalActionHasItsOwnErrorAndChangesNothing) {
  game g;
  g.start(8, fast(), 3);
  auto mafia = g.with("mafia");
  auto doctor = g.one("doctor");
  auto police = g.one("police");
  auto c = g.with("citizen");
  g.run_to("vote");
  g.everyone_votes(c[0]);
  g.run_to("verdict");
  g.everyone_judges(true);  // c[0] executed
  ASSERT_FALSE(g.alive(c[0]));
  ASSERT_EQ(g.phase(), "night");
  auto dead = c[0];

  auto snapshot = [&] {
    std::string s;
    for (const auto& [p, r] : g.role)
      s += json::serialize(g.mode->view(p));
    return s + std::to_string(g.room->seq());
  };
  struct bad {
    player_id who;
    std::string type;
    json::object data;
    errc want;
  };
  const player_id spectator = 900;
  g.room->add_spectator(spectator, "watcher");
  std::vector<bad> cases = {
      {dead, "mafia.vote", {{"target", mafia[0]}}, errc::not_alive},
      {c[1], "mafia.vote", {{"target", mafia[0]}}, errc::wrong_phase},
      {c[1], "mafia.verdict", {{"yes", true}}, errc::wrong_phase},
      {c[1], "mafia.kill", {{"target", c[1]}}, errc::wrong_role},
      {doctor, "mafia.investigate", {{"target", c[1]}}, errc::wrong_role},
      {police, "mafia.heal", {{"target", c[1]}}, errc::wrong_role},
      {mafia[0], "mafia.kill", {{"target", dead}}, errc::bad_target},
      {mafia[0], "mafia.kill", {{"target", 555}}, errc::bad_target},
      {mafia[0], "mafia.kill", {{"target", mafia[1]}}, errc::bad_target},
      {police, "mafia.investigate", {{"target", police}}, errc::bad_target},
      {dead, "mafia.heal", {{"target", c[1]}}, errc::not_alive},
      {spectator, "mafia.vote", {{"target", c[1]}}, errc::forbidden},
      {mafia[0], "mafia.kill", {}, errc::missing_field},
      {mafia[0], "mafia.kill", {{"target", "c1"}}, errc::bad_field},
      {c[1], "mafia.signal", {{"to", 555}, {"kind", "offer"}}, errc::unknown_player},
      {c[1], "mafia.signal", {{"to", c[2]}, {"kind", "smoke"}}, errc::bad_field},
      {c[1], "mafia.signal", {{"to", c[2]}, {"kind", "offer"}}, errc::forbidden},
      {c[1], "mafia.dance", {}, errc::unknown_type},
  };
  for (const auto& b : cases) {
    auto before = snapshot();
    auto r = g.act(b.who, b.type, b.data);
    ASSERT_FALSE(r) << b.type << " " << json::serialize(b.data);
    EXPECT_EQ(r.error().code, b.want)
        << b.type << " " << json::serialize(b.data) << ": " << r.error().message;
    EXPECT_FALSE(r.error().message.empty());
    EXPECT_EQ(snapshot(), before) << b.type;
  }
  // Chat: a living citizen at night may not speak.
  auto before = snapshot();
  EXPECT_EQ(g.room->chat(*g.mode, c[1], "psst").error().code, errc::channel_closed);
  EXPECT_EQ(snapshot(), before);

  // The next night: the accused may not vote on their own verdict; others may not speak in the
  // final defense.
  g.room->fire_next_timer(*g.mode);
  g.run_to("vote");
  auto accused = c[1];
  g.everyone_votes(accused);
  ASSERT_EQ(g.phase(), "defense");
  EXPECT_EQ(g.room->chat(*g.mode, c[2], "objection").error().code, errc::channel_closed);
  EXPECT_TRUE(g.room->chat(*g.mode, accused, "I am innocent"));
  g.run_to("verdict");
  EXPECT_EQ(g.act(accused, "mafia.verdict", {{"yes", false}}).error().code, errc::not_eligible);
  EXPECT_EQ(g.act(accused, "mafia.vote", {{"target", c[2]}}).error().code, errc::wrong_phase);
}

// --- Channels and media -------------------------------------------------------------------------

TEST(MafiaChannels, EachChannelReachesOnlyItsReaders) {
  game g;
  to_first_night(g);
  const player_id spectator = 900;
  g.room->add_spectator(spectator, "watcher");
  auto mafia = g.with("mafia");
  auto c = g.with("citizen");
  auto seen_by = [&](std::string_view text) {
    std::set<player_id> who;
    for (const auto& [p, frames] : g.room->inbox) {
      for (const auto& f : frames) {
        if (f.type == "mafia.chat" && f.data.at("text").as_string() == text) who.insert(p);
      }
    }
    return who;
  };
  ASSERT_TRUE(g.room->chat(*g.mode, mafia[0], "night plan"));
  EXPECT_EQ(seen_by("night plan"), (std::set<player_id>{mafia[0], mafia[1]}));
  for (auto m : mafia)
    ASSERT_TRUE(g.act(m, "mafia.kill", {{"target", c[0]}}));
  g.room->fire_next_timer(*g.mode);
  ASSERT_FALSE(g.alive(c[0]));
  // Day: the living speak to everyone, the dead hear it.
  ASSERT_TRUE(g.room->chat(*g.mode, c[1], "who did it"));
  EXPECT_EQ(seen_by("who did it").size(), 7u);
  // The dead speak to the dead and spectators only.
  ASSERT_TRUE(g.room->chat(*g.mode, c[0], "it was them"));
  EXPECT_EQ(seen_by("it was them"), (std::set<player_id>{c[0], spectator}));
  ASSERT_TRUE(g.room->chat(*g.mode, spectator, "hello ghost"));
  EXPECT_EQ(seen_by("hello ghost"), (std::set<player_id>{c[0], spectator}));
  // The dead overhear the mafia from now on.
  g.run_to("vote");
  g.room->fire_next_timer(*g.mode);
  ASSERT_EQ(g.phase(), "night");
  ASSERT_TRUE(g.room->chat(*g.mode, mafia[1], "again"));
  EXPECT_EQ(seen_by("again"), (std::set<player_id>{mafia[0], mafia[1], c[0]}));
  // Histories in views follow the same rules.
  auto lines = [&](player_id viewer) {
    std::set<std::string> out;
    auto view = g.mode->view(viewer);
    for (const auto& l : view.at("chat").as_array())
      out.insert(std::string(l.at("text").as_string()));
    return out;
  };
  EXPECT_EQ(lines(c[1]), (std::set<std::string>{"who did it"}));
  EXPECT_EQ(lines(mafia[0]), (std::set<std::string>{"night plan", "who did it", "again"}));
  EXPECT_EQ(lines(spectator), (std::set<std::string>{"who did it", "it was them", "hello ghost"}));
  EXPECT_EQ(lines(c[0]).size(), 5u);
}

TEST(MafiaMedia, ThePolicyFollowsPhaseAndDeathAndGatesSignaling) {
  game g;
  to_first_night(g);
  auto mafia = g.with("mafia");
  auto c = g.with("citizen");
  auto last_media = [&](player_id p) { return g.frames(p, "mafia.media").back().data; };
  // Night: the mafia hear each other; a citizen hears and reaches nobody.
  EXPECT_EQ(last_media(mafia[0]).at("hear").as_array(), json::array{mafia[1]});
  EXPECT_TRUE(last_media(c[0]).at("hear").as_array().empty());
  EXPECT_TRUE(last_media(c[0]).at("publish_to").as_array().empty());
  EXPECT_TRUE(g.act(mafia[0], "mafia.signal",
                    {{"to", mafia[1]}, {"kind", "offer"}, {"data", {{"sdp", "x"}}}}));
  auto sig = g.frames(mafia[1], "mafia.signal");
  ASSERT_EQ(sig.size(), 1u);
  EXPECT_EQ(sig[0].data.at("from").as_int64(), mafia[0]);
  EXPECT_EQ(sig[0].data.at("data").at("sdp").as_string(), "x");
  EXPECT_EQ(g.act(mafia[0], "mafia.signal", {{"to", c[0]}, {"kind", "offer"}}).error().code,
            errc::forbidden);
  // Day: everyone alive hears everyone.
  for (auto m : mafia)
    ASSERT_TRUE(g.act(m, "mafia.kill", {{"target", c[0]}}));
  g.room->fire_next_timer(*g.mode);
  EXPECT_EQ(last_media(c[1]).at("hear").as_array().size(), 4u);  // the four other living
  EXPECT_TRUE(g.act(c[1], "mafia.signal", {{"to", mafia[0]}, {"kind", "offer"}}));
  // The dead publish only to the dead, and hear everyone.
  EXPECT_TRUE(last_media(c[0]).at("publish_to").as_array().empty());
  EXPECT_EQ(last_media(c[0]).at("hear").as_array().size(), 5u);
}

// --- The leak audit -----------------------------------------------------------------------------

// Plays seeded games with random legal and illegal actions, chats, disconnects, reconnects, and
// leaves; then checks every frame every member received (events, replies, errors, snapshots)
// against what their role entitled them to at that moment.
class leak_audit {
 public:
  explicit leak_audit(std::uint64_t seed) : pick_(seed * 7919 + 1) {}

  void play(std::uint64_t seed) {
    int n = 4 + static_cast<int>(seed % 9);
    json::object s = fast();
    s["tie"] = pick_.uniform(0, 1) ? "night" : "day";
    s["night_early_end"] = pick_.uniform(0, 1) == 1;
    s["reveal_on_death"] = reveal_ = pick_.uniform(0, 3) == 0;
    s["police"] = pick_.uniform(0, 4) != 0;
    g_.start(n, s, seed);
    for (const auto& [p, r] : g_.role)
      ids_.push_back(p);
    if (pick_.uniform(0, 1)) {
      g_.room->add_spectator(spectator, "watcher");
      spectators_.insert(spectator);
    }
    // Ground truth: the deal as the server logged it (never sent to a client).
    for (const auto& e : g_.room->action_log()) {
      if (e.type != "roles") continue;
      for (const auto& r : e.data.at("payload").at("roles").as_array())
        truth_[r.at("player").as_int64()] = std::string(r.at("role").as_string());
    }
    for (int step = 0; step < 4000 && !g_.room->ended(); ++step)
      random_step();
    for (int i = 0; i < 200 && !g_.room->ended(); ++i)
      legal_step();
  }

  bool ended() const { return g_.room->ended(); }
  // For the audit's own test: a player holding role `r`, and a frame planted in their inbox.
  player_id someone(std::string_view r) const {
    for (const auto& [p, rr] : truth_) {
      if (rr == r) return p;
    }
    return 0;
  }
  void inject(player_id to, received f) { extra_[to].push_back(std::move(f)); }

  // Returns the first violation found, or "".
  std::string audit() {
    collect_public_state();
    for (const auto& [viewer, frames] : g_.room->inbox) {
      for (const auto& f : frames) {
        if (auto v = check(viewer, f); !v.empty()) return v;
      }
    }
    for (const auto& [viewer, frames] : extra_) {
      for (const auto& f : frames) {
        if (auto v = check(viewer, f); !v.empty()) return v;
      }
    }
    return "";
  }

  std::size_t frames_checked() const {
    std::size_t n = 0;
    for (const auto& [v, f] : g_.room->inbox)
      n += f.size();
    for (const auto& [v, f] : extra_)
      n += f.size();
    return n;
  }

 private:
  static constexpr player_id spectator = 999;

  player_id member() {
    auto r = pick_.uniform(0, static_cast<std::int64_t>(ids_.size()));
    if (r < static_cast<std::int64_t>(ids_.size())) return ids_[r];
    return spectators_.empty() ? ids_[0] : spectator;
  }
  player_id any_id() {
    auto r = pick_.uniform(0, static_cast<std::int64_t>(ids_.size()) + 1);
    if (r < static_cast<std::int64_t>(ids_.size())) return ids_[r];
    return r == static_cast<std::int64_t>(ids_.size()) ? spectator : 4242;
  }
  // Deaths as the public events announced them.
  bool alive(player_id p) {
    const auto& ev = g_.room->public_events();
    for (; seen_ < ev.size(); ++seen_) {
      if (ev[seen_].type == "mafia.death") dead_.insert(ev[seen_].data.at("player").as_int64());
    }
    return !dead_.count(p);
  }
  player_id living() {
    std::vector<player_id> l;
    for (auto p : ids_) {
      if (alive(p)) l.push_back(p);
    }
    return l.empty() ? ids_[0] : l[pick_.uniform(0, static_cast<std::int64_t>(l.size()) - 1)];
  }

  void reply(player_id who, std::string_view type, player_id target,
             const result<json::object>& r) {
    if (r) {
      extra_[who].push_back({g_.room->seq(), "reply:" + std::string(type), *r});
    } else {
      extra_[who].push_back({g_.room->seq(),
                             "error:" + std::string(type),
                             {{"code", to_string(r.error().code)},
                              {"message", r.error().message},
                              {"target", target}}});
    }
  }

  void do_action(player_id who, int kind, player_id target) {
    static constexpr std::string_view types[] = {"mafia.vote", "mafia.verdict",     "mafia.kill",
                                                 "mafia.heal", "mafia.investigate", "mafia.signal"};
    std::string_view type = types[kind];
    json::object data;
    if (type == "mafia.verdict") {
      data["yes"] = pick_.uniform(0, 1) == 1;
    } else if (type == "mafia.signal") {
      data = {{"to", target}, {"kind", "offer"}, {"data", {{"sdp", "s"}}}};
    } else if (!(type == "mafia.vote" && pick_.uniform(0, 5) == 0)) {
      data["target"] = target;
    }
    reply(who, type, target, g_.act(who, type, data));
  }

  void legal_step() {
    auto ph = g_.phase();
    if (ph == "vote" || ph == "verdict") {
      for (auto p : ids_) {
        if (!alive(p) || g_.room->ended()) continue;
        do_action(p, ph == "vote" ? 0 : 1, living());
      }
    } else if (ph == "night") {
      for (auto p : ids_) {
        if (!alive(p) || g_.room->ended()) continue;
        const auto& r = truth_[p];
        if (r == "mafia") do_action(p, 2, living());
        if (r == "doctor") do_action(p, 3, living());
        if (r == "police") do_action(p, 4, living());
      }
    }
    if (!g_.room->ended()) g_.room->fire_next_timer(*g_.mode);
  }

  void random_step() {
    auto r = pick_.uniform(0, 99);
    if (r < 30) {
      // A legal-looking action by a living player.
      do_action(living(), static_cast<int>(pick_.uniform(0, 4)), living());
    } else if (r < 50) {
      do_action(member(), static_cast<int>(pick_.uniform(0, 5)), any_id());
    } else if (r < 62) {
      auto who = member();
      auto text = "tok-" + std::to_string(++chat_seq_);
      auto ok = g_.room->chat(*g_.mode, who, text);
      if (ok) {
        // The channel of an accepted line is what the sender was entitled to write into; note
        // it by the line's own channel field, checked below against readers.
      } else {
        extra_[who].push_back(
            {g_.room->seq(),
             "error:chat",
             {{"code", to_string(ok.error().code)}, {"message", ok.error().message}}});
      }
    } else if (r < 68) {
      auto p = ids_[pick_.uniform(0, static_cast<std::int64_t>(ids_.size()) - 1)];
      bool now = !connected_.count(p) || connected_[p];
      g_.room->set_connected(*g_.mode, p, !now);
      connected_[p] = !now;
      if (!now) snapshot(p);  // a reconnect sends the player a snapshot
    } else if (r < 70) {
      snapshot(member());
    } else if (r < 71) {
      auto p = ids_[pick_.uniform(0, static_cast<std::int64_t>(ids_.size()) - 1)];
      if (alive(p)) g_.room->leave(*g_.mode, p);
    } else {
      g_.room->fire_next_timer(*g_.mode);
    }
  }

  void snapshot(player_id p) {
    extra_[p].push_back({g_.room->seq(), "snapshot", g_.mode->view(p)});
  }

  void collect_public_state() {
    for (const auto& e : g_.room->public_events()) {
      if (e.type == "mafia.death") died_at_[e.data.at("player").as_int64()] = e.seq;
      if (e.type == "room.game_ended") ended_at_ = e.seq;
      if (e.type == "mafia.phase") phases_.emplace_back(e.seq, e.data.at("phase").as_string());
    }
  }

  bool dead_at(player_id p, std::uint64_t seq) const {
    auto it = died_at_.find(p);
    return it != died_at_.end() && it->second < seq;
  }
  std::string phase_at(std::uint64_t seq) const {
    std::string ph;
    for (const auto& [s, p] : phases_) {
      if (s <= seq) ph = p;
    }
    return ph;
  }
  std::string role_of(player_id p) const {
    auto it = truth_.find(p);
    return it == truth_.end() ? "" : it->second;
  }

  std::string check(player_id v, const received& f) {
    auto fail = [&](std::string_view why) {
      return fmt::format("{} (a {}) received {} at {}: {} — {}", v, role_of(v), f.type, f.seq, why,
                         json::serialize(f.data));
    };
    bool ghost = dead_at(v, f.seq);
    bool spectator_v = spectators_.count(v) > 0;
    auto role = role_of(v);
    bool over = ended_at_ && f.seq >= ended_at_;
    if (f.type == "mafia.kill_pick" && role != "mafia" && !ghost) return fail("a mafia choice");
    if (f.type == "mafia.heal_pick" && role != "doctor" && !ghost) return fail("a doctor choice");
    if (f.type == "mafia.investigation" && role != "police" && !ghost)
      return fail("a police result");
    if (f.type == "mafia.roles" && !ghost) return fail("the roles while alive");
    if (f.type == "mafia.signal" && !ghost && !spectator_v && role != "mafia" &&
        phase_at(f.seq) == "night")
      return fail("night signaling to the town");
    if (f.type == "mafia.media" && !ghost && !spectator_v && role != "mafia" &&
        f.data.at("phase").as_string() == "night" &&
        (!f.data.at("hear").as_array().empty() || !f.data.at("publish_to").as_array().empty()))
      return fail("a night media path for the town");
    if (f.type.starts_with("error:")) {
      // An error to someone outside the mafia may only turn on public facts: a target refused
      // as bad_target must be unknown, dead, or the actor themselves.
      if (f.data.at("code").as_string() == "bad_target" && role != "mafia" && !ghost) {
        auto t = f.data.at("target").as_int64();
        if (truth_.count(t) && !dead_at(t, f.seq + 1) && t != v)
          return fail("a refusal that turns on a hidden role");
      }
    }
    if (f.type == "snapshot") {
      const auto& d = f.data;
      if (d.contains("mafia_picks") && role != "mafia" && !ghost) return fail("mafia picks");
      if (d.contains("patient") && role != "doctor" && !ghost) return fail("the patient");
      if (d.contains("investigations") && role != "police" && !ghost) return fail("investigations");
      if (d.contains("roles") && !ghost) return fail("all roles");
    }
    return walk(v, f, f.data, ghost, spectator_v, over, fail);
  }

  template <class Fail>
  std::string walk(player_id v, const received& f, const json::value& x, bool ghost,
                   bool spectator_v, bool over, Fail& fail) {
    if (x.is_array()) {
      for (const auto& e : x.as_array()) {
        if (auto r = walk(v, f, e, ghost, spectator_v, over, fail); !r.empty()) return r;
      }
      return "";
    }
    if (!x.is_object()) return "";
    const auto& o = x.as_object();
    const auto* pl = o.if_contains("player");
    if (pl && pl->is_int64()) {
      auto y = pl->as_int64();
      if (const auto* r = o.if_contains("role"); r && r->is_string()) {
        if (r->as_string() != role_of(y)) return fail("a wrong role");
        bool ok = y == v || ghost || over || (role_of(v) == "mafia" && role_of(y) == "mafia") ||
                  (reveal_ && dead_at(y, f.seq + 1));
        if (!ok) return fail("someone else's role");
      }
      if (const auto* m = o.if_contains("is_mafia"); m && m->is_bool()) {
        if (m->as_bool() != (role_of(y) == "mafia")) return fail("a wrong investigation");
        if (role_of(v) != "police" && !ghost) return fail("an investigation");
      }
    }
    if (const auto* ch = o.if_contains("channel"); ch && ch->is_string() && o.contains("text")) {
      if (ch->as_string() == "mafia" && role_of(v) != "mafia" && !ghost)
        return fail("the mafia channel");
      if (ch->as_string() == "dead" && !ghost && !spectator_v) return fail("the dead channel");
    }
    for (const auto& [k, e] : o) {
      if (auto r = walk(v, f, e, ghost, spectator_v, over, fail); !r.empty()) return r;
    }
    return "";
  }

  rng pick_;
  game g_;
  std::size_t seen_ = 0;
  std::set<player_id> dead_;
  bool reveal_ = false;
  std::vector<player_id> ids_;
  std::set<player_id> spectators_;
  std::map<player_id, bool> connected_;
  std::map<player_id, std::string> truth_;
  std::map<player_id, std::vector<received>> extra_;  // replies, errors, snapshots
  std::map<player_id, std::uint64_t> died_at_;
  std::vector<std::pair<std::uint64_t, std::string>> phases_;
  std::uint64_t ended_at_ = 0;
  int chat_seq_ = 0;
};

TEST(MafiaLeak, AThousandRandomGamesNeverShowAnyoneWhatTheyMayNotSee) {
  int ended = 0;
  std::size_t frames = 0;
  for (std::uint64_t seed = 1; seed <= 1000; ++seed) {
    leak_audit a(seed);
    a.play(seed);
    ended += a.ended();
    auto v = a.audit();
    ASSERT_EQ(v, "") << "seed " << seed;
    frames += a.frames_checked();
  }
  // The games really were played to the end, not stopped early.
  std::printf("%d of 1000 games ended; %zu frames audited\n", ended, frames);
  EXPECT_GE(ended, 990);
  EXPECT_GT(frames, 100'000u);
}

// The audit itself catches leaks: frames a mode must never send fail it.
TEST(MafiaLeak, TheAuditCatchesPlantedLeaks) {
  struct plant {
    std::string_view to;  // the receiver's role
    received frame;
  };
  auto someone = [](leak_audit& a, std::string_view r) { return a.someone(r); };
  for (int k = 0; k < 6; ++k) {
    leak_audit a(77);
    a.play(7);  // 11 players: mafia, doctor, police, citizens
    auto m = someone(a, "mafia");
    auto c = someone(a, "citizen");
    auto d = someone(a, "doctor");
    std::uint64_t at = 1;  // right after the start: everyone alive
    std::vector<received> plants = {
        {at, "mafia.kill_pick", {{"player", m}, {"target", d}}},
        {at, "mafia.heal_pick", {{"player", d}, {"target", c}}},
        {at, "mafia.role", {{"player", m}, {"role", "mafia"}}},
        {at, "mafia.chat", {{"channel", "mafia"}, {"from", m}, {"text", "x"}}},
        {at, "mafia.chat", {{"channel", "dead"}, {"from", m}, {"text", "x"}}},
        {at, "snapshot", {{"mafia_picks", json::array{}}}},
    };
    a.inject(c, plants[k]);
    EXPECT_NE(a.audit(), "") << plants[k].type;
  }
}
}  // namespace
}  // namespace maratang::modes
