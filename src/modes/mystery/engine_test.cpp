// The Mystery engine against the C++ test scenario (test_scenario.hpp): commands, turns, puzzles,
// NPC knowledge, endings, refusals that change nothing, and determinism.
#include "modes/mystery/engine.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>

#include "modes/mystery/loader.hpp"
#include "modes/mystery/parser.hpp"
#include "modes/mystery/test_scenario.hpp"

namespace maratang::mystery {
namespace {

namespace json = boost::json;
using testing::make_test_scenario;

action act_of(verb v, std::string object = {}, std::string target = {}, std::string text = {}) {
  return action{v, std::move(object), std::move(target), std::move(text)};
}

// Every string an event carries, for leak checks.
std::string all_text(const outcome& o) {
  std::string s;
  for (const auto& e : o.events) {
    s += e.kind + "|" + e.a + "|" + e.b + "|" + e.text + "|";
    for (const auto& x : e.list)
      s += x + "|";
    for (const auto& x : e.revealed)
      s += x + "|";
    for (const auto& x : e.unlocked)
      s += x + "|";
  }
  return s;
}

const event* find_event(const outcome& o, std::string_view kind) {
  for (const auto& e : o.events)
    if (e.kind == kind) return &e;
  return nullptr;
}
bool has_event(const outcome& o, std::string_view kind) {
  return find_event(o, kind) != nullptr;
}

struct game {
  std::shared_ptr<scenario> s;
  engine e;
  std::string log;  // every event text, to check secrets never leak

  explicit game(std::vector<player_id> seats, std::shared_ptr<scenario> sc = make_test_scenario())
      : s(sc), e(sc, std::move(seats)) {}

  outcome ok(player_id p, const action& a) {
    auto r = e.act(p, a);
    EXPECT_TRUE(r) << to_string(a.v) << " " << a.object << ": "
                   << (r ? "" : std::string(to_string(r.error().code)) + " " + r.error().message);
    if (!r) return {};
    log += all_text(*r);
    return *r;
  }
  // Refused with `code`, and the state is exactly as before.
  void refused(player_id p, const action& a, errc code) {
    auto before = json::serialize(e.state_json());
    auto r = e.act(p, a);
    ASSERT_FALSE(r) << to_string(a.v) << " " << a.object << " was accepted";
    EXPECT_EQ(r.error().code, code) << to_string(a.v) << " " << a.object << ": "
                                    << to_string(r.error().code) << " " << r.error().message;
    EXPECT_FALSE(r.error().message.empty());
    EXPECT_EQ(json::serialize(e.state_json()), before) << to_string(a.v) << " " << a.object;
  }
  // Solo helper: gets the brass key, opens the study and walks in.
  void into_study(player_id p) {
    ok(p, act_of(verb::inspect, "door"));
    ok(p, act_of(verb::take, "key"));
    ok(p, act_of(verb::use, "key", "door"));
    ok(p, act_of(verb::go, "north"));
  }
};

TEST(MysteryEngine, LookTakeInspectRevealUseUnlockAndMove) {
  game g({1});
  auto look = g.ok(1, act_of(verb::look));
  EXPECT_FALSE(look.turn_used);
  ASSERT_EQ(look.events.size(), 1u);
  EXPECT_EQ(look.events[0].kind, "look");
  EXPECT_EQ(look.events[0].a, "hall");
  EXPECT_EQ(look.events[0].to, std::vector<player_id>{1});

  // The key is hidden: taking it is refused as if it were not there.
  g.refused(1, act_of(verb::take, "key"), errc::not_here);
  // The door is locked: told as prose, no turn used, nothing changed.
  auto before = json::serialize(g.e.state_json());
  auto locked = g.ok(1, act_of(verb::go, "north"));
  EXPECT_FALSE(locked.turn_used);
  ASSERT_EQ(locked.events.size(), 1u);
  EXPECT_EQ(locked.events[0].kind, "locked");
  EXPECT_EQ(locked.events[0].text, "The study door is locked.");
  EXPECT_EQ(json::serialize(g.e.state_json()), before);
  EXPECT_EQ(g.e.round(), 1);

  auto insp = g.ok(1, act_of(verb::inspect, "Study Door"));
  EXPECT_TRUE(insp.turn_used);
  ASSERT_TRUE(has_event(insp, "revealed"));
  EXPECT_EQ(find_event(insp, "revealed")->a, "key");
  EXPECT_EQ(g.e.round(), 2);  // solo: every turn-using command is a round
  // on_inspect applies the first time only.
  EXPECT_FALSE(has_event(g.ok(1, act_of(verb::inspect, "door")), "revealed"));

  auto took = g.ok(1, act_of(verb::take, "열쇠를"));  // alias with a Korean particle
  ASSERT_TRUE(has_event(took, "took"));
  EXPECT_EQ(find_event(took, "took")->a, "key");
  EXPECT_EQ(g.e.inventory_of(1), std::vector<std::string>{"key"});

  auto used = g.ok(1, act_of(verb::use, "brass key", "door"));
  ASSERT_TRUE(has_event(used, "used"));
  EXPECT_EQ(find_event(used, "used")->text, "The key turns.");
  ASSERT_TRUE(has_event(used, "unlocked"));
  EXPECT_TRUE(has_event(used, "say"));  // the effect's text
  EXPECT_TRUE(g.e.inventory_of(1).empty()) << "the key is consumed";

  auto went = g.ok(1, act_of(verb::go, "n"));
  ASSERT_TRUE(has_event(went, "moved"));
  EXPECT_EQ(find_event(went, "moved")->b, "study");
  EXPECT_EQ(g.e.location_of(1), "study");
  EXPECT_EQ(find_event(went, "look")->text, "Books and a wall safe.");
  g.ok(1, act_of(verb::go, "hall"));  // by the place's name
  EXPECT_EQ(g.e.location_of(1), "hall");
  g.ok(1, act_of(verb::go, "계단으로"));  // by an alias, with a particle
  EXPECT_EQ(g.e.location_of(1), "cellar");
}

TEST(MysteryEngine, RefusalsChangeNothing) {
  game g({1, 2, 3});
  g.ok(1, act_of(verb::take, "lamp"));
  // Player 2's turn now.
  g.refused(1, act_of(verb::take, "bandage"), errc::not_your_turn);
  g.refused(3, act_of(verb::pass), errc::not_your_turn);
  g.refused(99, act_of(verb::look), errc::unknown_player);
  g.refused(2, act_of(verb::take, std::string(501, 'x')), errc::too_large);
  g.refused(2, act_of(verb::talk, "keeper", "", std::string(501, 'x')), errc::too_large);
  g.refused(2, act_of(verb::take, "unicorn"), errc::not_here);
  g.refused(2, act_of(verb::take, "oil"), errc::not_here);     // in the cellar
  g.refused(2, act_of(verb::take, "lamp"), errc::not_here);    // player 1 holds it
  g.refused(2, act_of(verb::take, "door"), errc::bad_target);  // a fixture
  g.refused(2, act_of(verb::take), errc::bad_field);
  g.refused(2, act_of(verb::drop, "lamp"), errc::not_held);
  g.refused(2, act_of(verb::combine, "lamp", "oil"), errc::not_held);
  g.refused(2, act_of(verb::use, "ghost"), errc::not_here);
  g.refused(2, act_of(verb::use, "oil can", "door"), errc::not_held);  // portable, elsewhere
  g.refused(2, act_of(verb::use, "lamp"), errc::not_held);             // player 1 holds it
  g.refused(2, act_of(verb::use, "bandage", "ghost"), errc::not_here);
  g.refused(2, act_of(verb::use, "tea"), errc::bad_target);  // no use on self
  g.refused(2, act_of(verb::go, "west"), errc::not_here);
  g.refused(2, act_of(verb::talk, "nobody"), errc::not_here);
  g.refused(2, act_of(verb::code, "safe", "", "4172"), errc::not_here);  // the safe is in the study
  g.refused(2, act_of(verb::accuse, "", "", "keeper"), errc::out_of_order);  // safe not solved
  g.refused(2, act_of(verb::accuse), errc::bad_field);
  g.refused(2, act_of(verb::use, "red lever"), errc::not_here);
  g.ok(2, act_of(verb::go, "east"));
  // Player 1 holds the lamp and plays again; player 3 talks to the keeper in the hall.
  g.refused(1, act_of(verb::talk, "keeper", "", "hello"), errc::not_your_turn);
  g.ok(3, act_of(verb::pass));
  g.ok(1, act_of(verb::pass));
  // Player 2 is in the cellar; the keeper is in the hall.
  g.refused(2, act_of(verb::talk, "keeper", "", "hello"), errc::not_here);
}

TEST(MysteryEngine, GroupTurnsFreeCommandsDeadSkippedAndHazards) {
  game g({1, 2, 3});
  EXPECT_EQ(g.e.current_turn(), 1);
  // Free commands out of turn.
  EXPECT_FALSE(g.ok(3, act_of(verb::look)).turn_used);
  EXPECT_FALSE(g.ok(2, act_of(verb::inventory)).turn_used);
  EXPECT_FALSE(g.ok(2, act_of(verb::journal)).turn_used);
  EXPECT_FALSE(g.ok(3, act_of(verb::help)).turn_used);
  EXPECT_EQ(g.e.current_turn(), 1);

  auto o = g.ok(1, act_of(verb::go, "east"));  // into the cellar, without a lantern
  EXPECT_TRUE(o.turn_used);
  ASSERT_TRUE(has_event(o, "turn"));
  EXPECT_EQ(find_event(o, "turn")->actor, 2);
  // Player 1 arriving: player 2 and 3 in the hall hear them leave.
  auto* left = find_event(o, "left");
  ASSERT_NE(left, nullptr);
  EXPECT_EQ(left->to, (std::vector<player_id>{2, 3}));
  g.ok(2, act_of(verb::take, "lamp"));
  EXPECT_EQ(g.e.round(), 1);
  auto end = g.ok(3, act_of(verb::pass));
  EXPECT_EQ(g.e.round(), 2);
  ASSERT_TRUE(has_event(end, "hazard"));
  EXPECT_EQ(find_event(end, "hazard")->actor, 1);
  EXPECT_EQ(find_event(end, "hazard")->text, "Cold water rises.");
  ASSERT_TRUE(has_event(end, "round"));
  EXPECT_EQ(find_event(end, "round")->n, 2);
  EXPECT_EQ(g.e.current_turn(), 1);
  EXPECT_EQ(g.e.health_of(1), 9);
  // Round 2: player 2 joins them in the water, with the lantern: spared (unless).
  g.ok(1, act_of(verb::pass));
  g.ok(2, act_of(verb::go, "east"));
  end = g.ok(3, act_of(verb::pass));
  int hazards = 0;
  for (const auto& e : end.events)
    hazards += e.kind == "hazard";
  EXPECT_EQ(hazards, 1);
  EXPECT_EQ(g.e.health_of(1), 8);
  EXPECT_EQ(g.e.health_of(2), 10);
  EXPECT_EQ(g.e.location_of(2), "cellar");

  // Player 1 stays in the cellar's water until it kills them.
  for (int round = 2; g.e.alive(1); ++round) {
    ASSERT_LT(round, 20);
    g.ok(1, act_of(verb::pass));
    g.ok(2, act_of(verb::pass));
    g.ok(3, act_of(verb::pass));
  }
  EXPECT_FALSE(g.e.alive(1));
  EXPECT_EQ(g.e.health_of(1), 0);
  EXPECT_EQ(g.e.current_turn(), 2) << "the dead are skipped";
  g.refused(1, act_of(verb::pass), errc::not_alive);
  EXPECT_FALSE(g.ok(1, act_of(verb::look)).turn_used);  // the dead may still look
  int r = g.e.round();
  g.ok(2, act_of(verb::pass));
  g.ok(3, act_of(verb::pass));
  EXPECT_EQ(g.e.round(), r + 1) << "a round is every living player";
  EXPECT_EQ(g.e.current_turn(), 2);

  // Timeouts and leaving.
  auto t = g.e.pass_turn();
  ASSERT_TRUE(has_event(t, "passed"));
  EXPECT_EQ(find_event(t, "passed")->n, 1);
  EXPECT_EQ(g.e.current_turn(), 3);
  auto gone = g.e.remove_player(3);
  EXPECT_TRUE(has_event(gone, "left_game"));
  EXPECT_EQ(g.e.current_turn(), 2);
  g.refused(3, act_of(verb::pass), errc::not_alive);
}

TEST(MysteryEngine, CodePuzzleShapeWrongRightAndExhausted) {
  game g({1});
  g.into_study(1);
  g.refused(1, act_of(verb::code, "safe", "", "12"), errc::bad_field);
  {
    auto r = g.e.act(1, act_of(verb::code, "safe", "", "abcd"));
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("four digits"), std::string::npos) << r.error().message;
  }
  auto wrong = g.ok(1, act_of(verb::code, "금고에", "", "1111"));
  ASSERT_TRUE(has_event(wrong, "code_wrong"));
  EXPECT_EQ(find_event(wrong, "code_wrong")->n, 2);
  EXPECT_EQ(find_event(wrong, "code_wrong")->text, "The dial spins back.");
  EXPECT_TRUE(has_event(wrong, "damaged"));
  EXPECT_EQ(g.e.health_of(1), 9);
  auto right = g.ok(1, act_of(verb::code, "", "", "４１７２"));  // full-width digits, sole puzzle
  ASSERT_TRUE(has_event(right, "code_right"));
  EXPECT_TRUE(has_event(right, "solved"));
  ASSERT_TRUE(has_event(right, "received"));
  EXPECT_EQ(find_event(right, "received")->a, "ledger");
  g.refused(1, act_of(verb::code, "safe", "", "4172"), errc::out_of_order);

  game h({1});
  h.into_study(1);
  h.ok(1, act_of(verb::code, "safe", "", "0000"));
  h.ok(1, act_of(verb::code, "safe", "", "0001"));
  auto last = h.ok(1, act_of(verb::code, "wall safe", "", "0002"));
  EXPECT_TRUE(has_event(last, "code_exhausted"));
  ASSERT_TRUE(h.e.ended());
  EXPECT_EQ(h.e.ending(), "caught");  // on_exhausted: end
  EXPECT_EQ(find_event(last, "ending")->b, "bad");
  h.refused(1, act_of(verb::code, "safe", "", "4172"), errc::game_over);
  h.refused(1, act_of(verb::pass), errc::game_over);
  EXPECT_FALSE(h.ok(1, act_of(verb::journal)).turn_used);
}

TEST(MysteryEngine, SequencePuzzleResetsAndSolves) {
  game g({1});
  g.ok(1, act_of(verb::take, "lamp"));  // spared by the cellar's water
  g.ok(1, act_of(verb::go, "east"));
  auto wrong = g.ok(1, act_of(verb::use, "blue"));
  ASSERT_TRUE(has_event(wrong, "sequence_reset"));
  EXPECT_EQ(find_event(wrong, "sequence_reset")->n, -1);
  auto s1 = g.ok(1, act_of(verb::use, "red lever"));
  ASSERT_TRUE(has_event(s1, "sequence_step"));
  EXPECT_EQ(find_event(s1, "sequence_step")->n, 1);
  auto s2 = g.ok(1, act_of(verb::use, "blue lever"));
  ASSERT_TRUE(has_event(s2, "solved"));
  EXPECT_EQ(find_event(s2, "solved")->text, "The pumps start.");
  EXPECT_TRUE(has_event(s2, "removed"));  // the poison leaves the game
  // move_item put the medical kit here.
  auto took = g.ok(1, act_of(verb::take, "kit"));
  EXPECT_EQ(find_event(took, "took")->a, "medkit");
  auto st = g.e.state_json();
  EXPECT_EQ(st.at("items").at("poison").at("where").as_string(), "gone");
  EXPECT_TRUE(st.at("puzzles").at("levers").at("solved").as_bool());
}

TEST(MysteryEngine, CombineHealAndConditionalUses) {
  game g({1});
  // A use whose condition fails is told as prose, uses no turn and changes nothing.
  auto before = json::serialize(g.e.state_json());
  auto nope = g.ok(1, act_of(verb::use, "bandage"));
  EXPECT_FALSE(nope.turn_used);
  ASSERT_TRUE(has_event(nope, "use_failed"));
  EXPECT_EQ(find_event(nope, "use_failed")->text, "You are not hurt.");
  EXPECT_EQ(json::serialize(g.e.state_json()), before);

  g.ok(1, act_of(verb::take, "lamp"));
  g.refused(1, act_of(verb::combine, "lamp", "lamp"), errc::bad_target);
  g.ok(1, act_of(verb::take, "bandage"));
  g.refused(1, act_of(verb::combine, "lamp", "bandage"), errc::bad_target);
  g.ok(1, act_of(verb::go, "east"));
  g.ok(1, act_of(verb::take, "oil can"));
  auto c = g.ok(1, act_of(verb::combine, "oil", "lantern"));  // either order
  ASSERT_TRUE(has_event(c, "combined"));
  EXPECT_EQ(find_event(c, "combined")->text, "You fill and light the lantern.");
  EXPECT_EQ(find_event(c, "received")->a, "lit_lantern");
  EXPECT_EQ(g.e.inventory_of(1), (std::vector<std::string>{"bandage", "lit_lantern"}));
  g.ok(1, act_of(verb::pass));
  EXPECT_EQ(g.e.health_of(1), 10) << "the lit lantern spares them too (any/has)";

  // The bell (not: flag) hurts everyone once; then it is cracked until the cord clears the flag.
  g.ok(1, act_of(verb::go, "west"));
  auto bell = g.ok(1, act_of(verb::use, "bell"));
  ASSERT_TRUE(has_event(bell, "damaged"));
  EXPECT_EQ(find_event(bell, "say")->text, "The bell shrieks.");
  EXPECT_EQ(g.e.health_of(1), 9);
  EXPECT_EQ(find_event(g.ok(1, act_of(verb::use, "bell")), "use_failed")->text,
            "The bell is cracked now.");
  auto cord = g.ok(1, act_of(verb::use, "cord"));
  EXPECT_EQ(find_event(cord, "say")->text, "The bell rests.");
  EXPECT_TRUE(has_event(g.ok(1, act_of(verb::use, "bell")), "damaged"));
  EXPECT_EQ(g.e.health_of(1), 8);
  // Heal (health_below holds now), capped at the maximum.
  auto healed = g.ok(1, act_of(verb::use, "bandage"));
  EXPECT_EQ(find_event(healed, "healed")->n, 2);
  EXPECT_EQ(g.e.health_of(1), 10);
  // Drop and take back.
  auto dropped = g.ok(1, act_of(verb::drop, "lit lantern"));
  EXPECT_EQ(find_event(dropped, "dropped")->a, "lit_lantern");
  // Visible in the hall: bell, cord, door, lit lantern, tea (the key is still hidden).
  EXPECT_EQ(g.e.view(1).at("items").as_array().size(), 5u);
}

TEST(MysteryEngine, NpcKnowledgeLockedUntilItsConditionHolds) {
  game g({1});
  auto first =
      g.ok(1, act_of(verb::talk, "keeper", "", "Tell me about the storm and the safe code"));
  auto* t = find_event(first, "npc_talk");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->n, 1);  // first time
  EXPECT_EQ(t->revealed, std::vector<std::string>{"storm"});
  EXPECT_EQ(t->unlocked, std::vector<std::string>{"storm"});
  EXPECT_EQ(g.e.unlocked_knowledge(1, "keeper").size(), 1u);
  EXPECT_EQ(g.e.journal().size(), 0u);

  // Trusted, but the cellar not yet visited: still locked (all).
  g.ok(1, act_of(verb::use, "tea", "marrow"));
  auto second = g.ok(1, act_of(verb::talk, "관리인에게", "", "금고 코드 알려줘"));
  t = find_event(second, "npc_talk");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->n, 0);
  EXPECT_TRUE(t->revealed.empty());
  EXPECT_EQ(t->unlocked, std::vector<std::string>{"storm"});

  g.ok(1, act_of(verb::go, "east"));
  g.ok(1, act_of(verb::go, "west"));
  auto third = g.ok(1, act_of(verb::talk, "", "", "what about the SAFE?"));  // the only NPC here
  t = find_event(third, "npc_talk");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->revealed, std::vector<std::string>{"code"});
  EXPECT_EQ(t->unlocked, (std::vector<std::string>{"storm", "code"}));
  ASSERT_TRUE(has_event(third, "clue"));  // on_reveal
  EXPECT_EQ(g.e.journal(), std::vector<std::string>{"safe_code"});
  auto again = g.ok(1, act_of(verb::talk, "keeper", "", "safe"));
  EXPECT_FALSE(has_event(again, "clue")) << "on_reveal applies once";
  // Word starts only for ASCII keywords: "unsafe" does not ask about the safe.
  EXPECT_TRUE(find_event(g.ok(1, act_of(verb::talk, "keeper", "", "unsafe")), "npc_talk")
                  ->revealed.empty());
  EXPECT_EQ(g.log.find("SECRET"), std::string::npos);
  EXPECT_EQ(json::serialize(g.e.state_json()).find("SECRET"), std::string::npos);
  EXPECT_EQ(json::serialize(g.e.view(1)).find("SECRET"), std::string::npos);
}

TEST(MysteryEngine, EndingByFlagAccusationAndItemAt) {
  game g({1});
  g.into_study(1);
  g.ok(1, act_of(verb::take, "rope"));
  EXPECT_TRUE(has_event(g.ok(1, act_of(verb::use, "rope")), "use_failed"));  // safe not solved
  g.ok(1, act_of(verb::code, "safe", "", "4172"));
  auto wrong = g.ok(1, act_of(verb::accuse, "", "", "the butler"));
  EXPECT_TRUE(has_event(wrong, "accused_wrong"));
  EXPECT_EQ(g.e.health_of(1), 7);
  EXPECT_FALSE(g.e.ended());
  auto esc = g.ok(1, act_of(verb::use, "rope"));
  ASSERT_TRUE(g.e.ended());
  EXPECT_EQ(g.e.ending(), "escape");
  EXPECT_EQ(find_event(esc, "ending")->text, "Ending escape.");
  EXPECT_EQ(find_event(esc, "ending")->audience, audience_kind::everyone);
  EXPECT_TRUE(g.e.view(1).at("ended").as_bool());

  game a({1});
  a.into_study(1);
  a.ok(1, act_of(verb::code, "safe", "", "4172"));
  a.ok(1, act_of(verb::accuse, "", "", "Old  Marrow"));
  EXPECT_EQ(a.e.ending(), "truth");  // on_correct: end

  // item_at: the ledger put down in the hall ends the game ("archived"), first in id order.
  game b({1});
  b.into_study(1);
  b.ok(1, act_of(verb::code, "safe", "", "4172"));
  b.ok(1, act_of(verb::go, "south"));
  EXPECT_FALSE(b.e.ended());
  b.ok(1, act_of(verb::drop, "ledger"));
  EXPECT_EQ(b.e.ending(), "archived");
}

TEST(MysteryEngine, EndingByTurnLimitTurnAtLeastAndAllDead) {
  {
    auto s = make_test_scenario();
    s->turn_limit = 3;
    game g({1, 2}, s);
    for (int i = 0; i < 2; ++i) {
      g.ok(1, act_of(verb::pass));
      g.ok(2, act_of(verb::pass));
    }
    EXPECT_FALSE(g.e.ended());
    g.ok(1, act_of(verb::pass));
    auto last = g.ok(2, act_of(verb::pass));
    ASSERT_TRUE(g.e.ended());
    EXPECT_EQ(g.e.ending(), "dawn");
    EXPECT_FALSE(has_event(last, "turn"));
    EXPECT_EQ(g.e.current_turn(), 0);
  }
  {
    game g({1});  // the "late" ending: round 15 with the bell rung
    g.ok(1, act_of(verb::use, "bell"));
    while (!g.e.ended()) {
      ASSERT_LT(g.e.round(), 16);
      g.ok(1, act_of(verb::pass));
    }
    EXPECT_EQ(g.e.ending(), "late");
    EXPECT_EQ(g.e.round(), 15);
  }
  {
    game g({1, 2});
    g.ok(1, act_of(verb::go, "east"));
    g.ok(2, act_of(verb::go, "east"));
    g.ok(1, act_of(verb::take, "oil"));
    g.ok(2, act_of(verb::pass));
    EXPECT_EQ(g.e.health_of(1), 8);
    while (!g.e.ended()) {
      ASSERT_LT(g.e.round(), 12);
      g.ok(g.e.current_turn(), act_of(verb::pass));
    }
    EXPECT_EQ(g.e.ending(), "drowned");
    EXPECT_FALSE(g.e.alive(1));
    EXPECT_FALSE(g.e.alive(2));
    // What the dead carried lies where they fell.
    EXPECT_EQ(g.e.state_json().at("items").at("oil").at("where").as_string(), "floor");
  }
  {
    game g({1});  // poison: one death in solo ends the game at once
    g.into_study(1);
    g.ok(1, act_of(verb::take, "vial"));
    auto o = g.ok(1, act_of(verb::use, "poison"));
    EXPECT_TRUE(has_event(o, "died"));
    EXPECT_EQ(g.e.ending(), "drowned");
  }
}

TEST(MysteryEngine, TeleportAndView) {
  game g({1, 2});
  g.ok(1, act_of(verb::inspect, "door"));
  g.ok(2, act_of(verb::take, "key"));
  g.ok(1, act_of(verb::pass));
  g.ok(2, act_of(verb::use, "key", "door"));
  g.ok(1, act_of(verb::go, "north"));
  auto v2 = g.e.view(2);
  EXPECT_EQ(v2.at("location").at("id").as_string(), "hall");
  EXPECT_FALSE(v2.at("exits").as_array()[0].at("locked").as_bool());
  auto m = g.ok(2, act_of(verb::go, "north"));
  EXPECT_EQ(find_event(m, "arrived")->to, std::vector<player_id>{1});
  g.ok(1, act_of(verb::use, "mirror"));
  EXPECT_EQ(g.e.location_of(1), "cellar");
  auto v1 = g.e.view(1);
  EXPECT_EQ(v1.at("location").at("id").as_string(), "cellar");
  EXPECT_EQ(v1.at("players").as_array().size(), 2u);
  EXPECT_EQ(v1.at("journal").as_array().size(), 0u);
  EXPECT_EQ(v1.at("turn").as_int64(), 2);
  // Inspecting the lantern writes a clue into the shared journal, seen by everyone.
  g.ok(2, act_of(verb::go, "south"));
  g.ok(1, act_of(verb::pass));
  auto c = g.ok(2, act_of(verb::inspect, "lantern"));
  ASSERT_TRUE(has_event(c, "clue"));
  EXPECT_EQ(find_event(c, "clue")->b, "Scratched numbers");
  EXPECT_EQ(g.e.view(1).at("journal").as_array().size(), 1u);
}

TEST(MysteryEngine, DeterministicForTheSameInputs) {
  auto run = [] {
    game g({1, 2, 3});
    std::string trace;
    const action script[] = {
        act_of(verb::inspect, "door"),    act_of(verb::take, "key"),
        act_of(verb::go, "east"),         act_of(verb::take, "lamp"),
        act_of(verb::use, "key", "door"), act_of(verb::use, "red"),
        act_of(verb::go, "north"),        act_of(verb::talk, "keeper", "", "storm?"),
        act_of(verb::use, "blue"),        act_of(verb::code, "safe", "", "1234"),
        act_of(verb::use, "bell"),        act_of(verb::pass)};
    for (const auto& a : script) {
      auto r = g.e.act(g.e.current_turn(), a);
      trace += r ? all_text(*r) : std::string(to_string(r.error().code));
      trace += "\n";
    }
    return trace + json::serialize(g.e.state_json());
  };
  auto one = run();
  EXPECT_EQ(one, run());
  EXPECT_NE(one.find("sequence_step"), std::string::npos);
  EXPECT_NE(one.find("code_wrong"), std::string::npos);
}

// The shipped scenarios' walkthroughs (scenarios/README.md): every line parses, every command is
// accepted, and the game ends with the ending the last line expects, exactly there.
TEST(MysteryEngine, ShippedWalkthroughsReachTheirEndings) {
  namespace fs = std::filesystem;
  const fs::path root = fs::path(MARATANG_SOURCE_DIR) / "scenarios";
  int played = 0;
  for (const auto& folder : fs::directory_iterator(root)) {
    if (!folder.is_directory() || !fs::exists(folder.path() / "walkthroughs")) continue;
    auto loaded = load_scenario(folder.path());
    ASSERT_TRUE(loaded.scn) << folder.path() << ": "
                            << (loaded.errors.empty() ? "" : to_string(loaded.errors[0]));
    for (const auto& file : fs::directory_iterator(folder.path() / "walkthroughs")) {
      const std::string name = file.path().filename().string();
      engine g(loaded.scn, {1});
      std::ifstream in(file.path());
      std::string line, expected;
      int number = 0;
      while (std::getline(in, line)) {
        ++number;
        const std::string where = name + ":" + std::to_string(number) + ": " + line;
        auto hash = line.find('#');
        std::string comment = hash == std::string::npos ? "" : line.substr(hash);
        std::string command = line.substr(0, hash);
        if (auto at = comment.find("expect: ending "); at != std::string::npos) {
          expected = comment.substr(at + 15);
          while (!expected.empty() && (expected.back() == ' ' || expected.back() == '\r'))
            expected.pop_back();
        }
        if (command.find_first_not_of(" \t\r") == std::string::npos) continue;
        ASSERT_FALSE(g.ended()) << where << ": the game already ended with " << g.ending();
        auto a = parse_command(command, *loaded.scn);
        ASSERT_TRUE(a.has_value()) << where << ": does not parse";
        auto r = g.act(1, *a);
        ASSERT_TRUE(r) << where << ": " << to_string(r.error().code) << " " << r.error().message;
        for (const auto& e : r->events)
          ASSERT_NE(e.kind, "locked") << where << ": " << e.text;
      }
      ASSERT_FALSE(expected.empty()) << name << ": no '# expect: ending' line";
      EXPECT_TRUE(g.ended()) << folder.path().filename() << "/" << name;
      EXPECT_EQ(g.ending(), expected) << folder.path().filename() << "/" << name;
      ++played;
    }
  }
  EXPECT_GE(played, 7);
}

}  // namespace
}  // namespace maratang::mystery
