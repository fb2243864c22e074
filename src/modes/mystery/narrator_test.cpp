// The offline narrator: templates in English and Korean, the scenario's prose, Korean particles,
// offline NPC replies, and every event of a played game rendered to some text.
#include "modes/mystery/narrator.hpp"

#include <gtest/gtest.h>

#include "modes/mystery/test_scenario.hpp"

namespace maratang::mystery {
namespace {

using testing::make_test_scenario;

const names_fn nick = [](player_id p) {
  return p == 1 ? std::string("Mina") : "P" + std::to_string(p);
};

event ev(std::string kind, player_id actor, std::string a = {}, std::string b = {}, int n = 0,
         std::string text = {}) {
  event e;
  e.kind = std::move(kind);
  e.actor = actor;
  e.a = std::move(a);
  e.b = std::move(b);
  e.n = n;
  e.text = std::move(text);
  return e;
}

TEST(MysteryNarrator, KoreanParticles) {
  EXPECT_EQ(josa("열쇠", "을", "를"), "를");
  EXPECT_EQ(josa("문", "을", "를"), "을");
  EXPECT_EQ(josa("미나", "이", "가"), "가");
  EXPECT_EQ(josa("준", "이", "가"), "이");
  EXPECT_EQ(josa("방", "으로", "로"), "으로");
  EXPECT_EQ(josa("길", "으로", "로"), "로");  // ㄹ takes 로
  EXPECT_EQ(josa("lamp", "을", "를"), "을(를)");
  EXPECT_EQ(josa("3", "을", "를"), "을");
  EXPECT_EQ(josa("", "이", "가"), "이(가)");
}

TEST(MysteryNarrator, EnglishTemplatesAndProse) {
  auto s = make_test_scenario();
  EXPECT_EQ(narrate(*s, ev("took", 1, "lantern"), 1, nick), "You take the storm lantern.");
  EXPECT_EQ(narrate(*s, ev("took", 1, "lantern"), 2, nick), "Mina takes the storm lantern.");
  EXPECT_EQ(narrate(*s, ev("used", 1, "key", "door", 0, "The key turns."), 1, nick),
            "The key turns.");
  EXPECT_EQ(narrate(*s, ev("used", 1, "key", "door"), 1, nick),
            "You use the brass key on the study door.");
  EXPECT_EQ(narrate(*s, ev("code_wrong", 1, "safe", "1111", 2, "The dial spins back."), 1, nick),
            "The dial spins back. (2 tries left)");
  EXPECT_EQ(narrate(*s, ev("code_wrong", 1, "safe", "1111", -1), 1, nick), "Wrong code.");
  EXPECT_EQ(narrate(*s, ev("damaged", 2, "effect", "", 3), 1, nick), "P2 loses 3 health.");
  EXPECT_EQ(narrate(*s, ev("turn", 1), 1, nick), "Your turn.");
  EXPECT_EQ(narrate(*s, ev("turn", 1), 3, nick), "It is Mina's turn.");
  EXPECT_EQ(narrate(*s, ev("ending", 1, "escape", "good", 0, "Out!"), 2, nick), "— escape —\nOut!");
  auto inv = ev("inventory", 1);
  inv.list = {"key", "lantern"};
  EXPECT_EQ(narrate(*s, inv, 1, nick), "You carry: brass key, storm lantern.");
  EXPECT_EQ(narrate(*s, ev("help", 1), 1, nick), help_text("en"));
  // One text for every recipient: second person only for the actor's private events.
  auto took = ev("took", 1, "lantern");
  took.audience = audience_kind::place;
  EXPECT_EQ(narrate(*s, took, nick), "Mina takes the storm lantern.");
  auto hurt = ev("damaged", 1, "hazard", "", 2);
  hurt.audience = audience_kind::one;
  EXPECT_EQ(narrate(*s, hurt, nick), "You lose 2 health.");
}

// Issue 14, items 8 and 9: told to anyone but the actor (the casebook's story is told to nobody
// in particular, viewer 0) no line says "you"; Korean names a way in Korean, never by its id.
TEST(MysteryNarrator, ThirdPersonForOthersAndKoreanWays) {
  auto s = make_test_scenario();
  EXPECT_EQ(narrate(*s, ev("moved", 1, "hall", "study"), 1, nick), "You go to the Study.");
  EXPECT_EQ(narrate(*s, ev("moved", 1, "hall", "study"), 0, nick), "Mina goes to the Study.");
  for (const char* k : {"moved", "inspected", "revealed", "teleported", "inventory", "took",
                        "dropped", "damaged", "healed", "died", "passed"}) {
    auto e = ev(k, 1, k == std::string("moved") ? "hall" : "lantern", "study", 1);
    if (k == std::string("teleported")) e.a = "study";
    auto text = narrate(*s, e, 0, nick);
    EXPECT_EQ(text.find("You"), std::string::npos) << k << ": " << text;
    EXPECT_EQ(text.find("you"), std::string::npos) << k << ": " << text;
  }
  s->language = "ko";
  auto left = narrate(*s, ev("left", 1, "hall", "north"), 2, nick);
  EXPECT_EQ(left.find("north"), std::string::npos) << left;
  EXPECT_NE(left.find("북쪽으로"), std::string::npos) << left;
  auto moved = narrate(*s, ev("moved", 1, "hall", "study"), 0, nick);
  EXPECT_EQ(moved.rfind("Mina", 0), 0u) << moved;  // with its subject
}

TEST(MysteryNarrator, KoreanTemplates) {
  auto s = make_test_scenario("ko");
  s->items.at("key").name = "열쇠";
  s->items.at("door").name = "문";
  s->locations.at("study").name = "서재";
  auto ko_nick = [](player_id p) { return p == 1 ? std::string("미나") : std::string("준"); };
  EXPECT_EQ(narrate(*s, ev("took", 1, "key"), 1, ko_nick), "당신은 열쇠를 집었다.");
  EXPECT_EQ(narrate(*s, ev("took", 1, "key"), 2, ko_nick), "미나가 열쇠를 집었다.");
  EXPECT_EQ(narrate(*s, ev("took", 2, "door"), 1, ko_nick), "준이 문을 집었다.");
  EXPECT_EQ(narrate(*s, ev("used", 2, "key", "door"), 1, ko_nick), "준이 열쇠를 문에 사용했다.");
  EXPECT_EQ(narrate(*s, ev("moved", 1, "hall", "study"), 1, ko_nick), "서재로 이동했다.");
  EXPECT_EQ(narrate(*s, ev("code_wrong", 1, "safe", "1", 1), 1, ko_nick),
            "코드가 틀렸다. (남은 시도 1회)");
  EXPECT_EQ(narrate(*s, ev("round", 0, "", "", 3), 1, ko_nick), "3라운드가 시작된다.");
  EXPECT_EQ(narrate(*s, ev("help", 1), 1, ko_nick), help_text("ko"));
}

TEST(MysteryNarrator, OfflineNpcReplies) {
  auto s = make_test_scenario();
  const auto& keeper = s->npcs.at("keeper");
  EXPECT_EQ(offline_npc_reply(keeper, {}, true), "Shut the door.");
  EXPECT_EQ(offline_npc_reply(keeper, {}, false), "Marrow grunts.");
  const knowledge_def* storm[] = {&keeper.knowledge[0]};
  EXPECT_EQ(offline_npc_reply(keeper, storm, true), "Shut the door. The storm peaks at midnight.");
  EXPECT_EQ(offline_npc_reply(keeper, storm, false), "The storm peaks at midnight.");

  // From a real npc_talk event: only what the engine revealed, never a secret.
  engine g(s, {1});
  auto r = g.act(1, action{verb::talk, "keeper", "", "the storm, and the safe code"});
  ASSERT_TRUE(r);
  const event* talk = nullptr;
  for (const auto& e : r->events)
    if (e.kind == "npc_talk") talk = &e;
  ASSERT_NE(talk, nullptr);
  auto reply = offline_npc_reply(*s, *talk);
  EXPECT_EQ(reply, "Shut the door. The storm peaks at midnight.");
  EXPECT_EQ(reply.find("birthday"), std::string::npos) << "locked knowledge";
  EXPECT_EQ(reply.find("SECRET"), std::string::npos);
}

TEST(MysteryNarrator, EveryEventOfAGameIsToldDeterministically) {
  auto play = [](const std::string& language) {
    auto s = make_test_scenario(language);
    engine g(s, {1, 2});
    std::vector<event> events;
    const action script[] = {
        {verb::look, "", "", ""},
        {verb::inspect, "lamp", "", ""},
        {verb::inspect, "door", "", ""},
        {verb::take, "key", "", ""},
        {verb::talk, "keeper", "", "storm"},
        {verb::inventory, "", "", ""},
        {verb::use, "key", "door", ""},
        {verb::journal, "", "", ""},
        {verb::go, "north", "", ""},
        {verb::go, "north", "", ""},
        {verb::code, "safe", "", "1111"},
        {verb::code, "safe", "", "4172"},
        {verb::help, "", "", ""},
        {verb::pass, "", "", ""},
        {verb::accuse, "", "", "the butler"},
        {verb::go, "south", "", ""},
    };
    int refused = 0;
    for (const auto& a : script) {
      auto r = g.act(g.current_turn(), a);
      if (r) events.insert(events.end(), r->events.begin(), r->events.end());
      refused += !r;
    }
    EXPECT_EQ(refused, 0);
    std::string told;
    for (const auto& e : events)
      for (player_id viewer : {1, 2}) {
        auto text = narrate(*s, e, viewer, nick);
        EXPECT_FALSE(text.empty()) << e.kind;
        told += text + "\n";
      }
    return std::make_pair(told, events.size());
  };
  for (const char* language : {"en", "ko"}) {
    auto [told, count] = play(language);
    EXPECT_GT(count, 20u);
    EXPECT_EQ(told, play(language).first) << language;
    EXPECT_EQ(told.find("SECRET"), std::string::npos);
    EXPECT_NE(told.find("Scratched numbers"), std::string::npos);  // the clue
    EXPECT_NE(told.find("The safe clicks open."), std::string::npos);
  }
}

}  // namespace
}  // namespace maratang::mystery
