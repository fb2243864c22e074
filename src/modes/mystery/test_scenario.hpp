// A small scenario built in C++ for the Mystery tests: every effect and condition kind appears.
// Test-only (included by *_test.cpp).
#pragma once

#include <memory>

#include "modes/mystery/scenario.hpp"

namespace maratang::mystery::testing {

inline condition cond(condition::kind k, std::string arg = {}, std::string arg2 = {}, int n = 0) {
  condition c;
  c.k = k;
  c.arg = std::move(arg);
  c.arg2 = std::move(arg2);
  c.n = n;
  return c;
}
inline condition combo(condition::kind k, std::vector<condition> kids) {
  condition c;
  c.k = k;
  c.kids = std::move(kids);
  return c;
}
inline effect eff(effect::kind k, std::string arg = {}, std::string arg2 = {}, int n = 0,
                  std::string text = {}) {
  effect e;
  e.k = k;
  e.arg = std::move(arg);
  e.arg2 = std::move(arg2);
  e.n = n;
  e.text = std::move(text);
  return e;
}

// hall (start) --north (locked until door_open)--> study ; hall --east--> cellar (hazard 1 unless
// the player has the lantern or the lit lantern). The keeper waits in the hall.
inline std::shared_ptr<scenario> make_test_scenario(std::string language = "en") {
  using ck = condition::kind;
  using ek = effect::kind;
  auto s = std::make_shared<scenario>();
  s->id = "manor";
  s->title = "The Test Manor";
  s->language = language;
  s->min_players = 1;
  s->max_players = 4;
  s->turn_limit = 20;
  s->health = 10;
  s->start = "hall";
  s->intro = "Rain on the windows.";

  auto loc = [&](std::string id, std::string name, std::string desc) -> location_def& {
    auto& l = s->locations[id];
    l.id = id;
    l.name = std::move(name);
    l.description = std::move(desc);
    return l;
  };
  auto exit_to = [](location_def& l, std::string dir, std::string to) -> exit_def& {
    exit_def e;
    e.direction = std::move(dir);
    e.to = std::move(to);
    l.exits.push_back(std::move(e));
    return l.exits.back();
  };
  auto& hall = loc("hall", "Great Hall", "A cold hall. A door leads north, stairs lead east.");
  auto& north = exit_to(hall, "north", "study");
  north.aliases = {"study door"};
  north.open_when = cond(ck::flag, "door_open");
  north.locked_text = "The study door is locked.";
  exit_to(hall, "east", "cellar").aliases = {"stairs", "계단"};
  auto& study = loc("study", "Study", "Books and a wall safe.");
  exit_to(study, "south", "hall");
  auto& cellar = loc("cellar", "Cellar", "Water on the floor. Two levers.");
  exit_to(cellar, "west", "hall");
  hazard_def hz;
  hz.damage = 1;
  hz.unless = combo(ck::any, {cond(ck::has, "lantern"), cond(ck::has, "lit_lantern")});
  hz.text = "Cold water rises.";
  cellar.hazard = hz;

  auto item = [&](std::string id, std::string name, std::string at,
                  std::vector<std::string> aliases = {}) -> item_def& {
    auto& i = s->items[id];
    i.id = id;
    i.name = std::move(name);
    i.at = std::move(at);
    i.aliases = std::move(aliases);
    i.description = "It is the " + i.name + ".";
    return i;
  };
  auto use_on = [](item_def& i, std::string on, std::vector<effect> effects,
                   std::string text = {}) -> use_def& {
    use_def u;
    u.on = std::move(on);
    u.effects = std::move(effects);
    u.text = std::move(text);
    i.uses.push_back(std::move(u));
    return i.uses.back();
  };

  auto& lantern = item("lantern", "storm lantern", "hall", {"lamp", "랜턴"});
  lantern.on_inspect = {eff(ek::clue, "lantern_note")};
  combine_def cb;
  cb.with = "oil";
  cb.makes = "lit_lantern";
  cb.text = "You fill and light the lantern.";
  lantern.combines.push_back(cb);
  item("oil", "oil can", "cellar", {"can", "기름"});
  item("lit_lantern", "lit lantern", "");
  auto& key = item("key", "brass key", "hall", {"열쇠"});
  key.hidden = true;
  auto& key_use =
      use_on(key, "door",
             {eff(ek::set, "door_open"), eff(ek::unlock, "hall", "north", 0, "The lock gives.")},
             "The key turns.");
  key_use.consume = true;
  auto& door = item("door", "study door", "hall", {"문"});
  door.portable = false;
  door.on_inspect = {eff(ek::reveal, "key")};
  auto& safe = item("safe", "wall safe", "study", {"금고"});
  safe.portable = false;
  item("ledger", "ledger", "");
  auto& red = item("red_lever", "red lever", "cellar", {"red"});
  red.portable = false;
  auto& blue = item("blue_lever", "blue lever", "cellar", {"blue"});
  blue.portable = false;
  auto& medkit = item("medkit", "medical kit", "", {"kit"});
  use_on(medkit, "self", {eff(ek::heal, "", "", 3)}, "You patch yourself up.").consume = true;
  auto& bandage = item("bandage", "bandage", "hall");
  auto& bu = use_on(bandage, "self", {eff(ek::heal, "", "", 2)});
  bu.when = cond(ck::health_below, "", "", 10);
  bu.fail_text = "You are not hurt.";
  auto& poison = item("poison", "poison vial", "study", {"vial"});
  use_on(poison, "self", {eff(ek::damage, "", "", 20)}, "You drink it. Foolish.");
  auto& bell = item("bell", "brass bell", "hall");
  bell.portable = false;
  auto& bell_use =
      use_on(bell, "self",
             {eff(ek::set, "bell_rung"), eff(ek::damage_all, "", "", 1, "The bell shrieks.")});
  bell_use.when = combo(ck::not_, {cond(ck::flag, "bell_rung")});
  bell_use.fail_text = "The bell is cracked now.";
  auto& cord = item("cord", "bell cord", "hall");
  cord.portable = false;
  use_on(cord, "self", {eff(ek::clear, "bell_rung"), eff(ek::say, "", "", 0, "The bell rests.")});
  auto& mirror = item("mirror", "mirror", "study");
  mirror.portable = false;
  use_on(mirror, "self", {eff(ek::teleport, "cellar")}, "The mirror swallows you.");
  auto& tea = item("tea", "cup of tea", "hall", {"tea"});
  auto& tu = use_on(tea, "keeper", {eff(ek::set, "trusted")}, "The keeper sips the tea.");
  tu.consume = true;
  tu.when = combo(ck::any, {cond(ck::at, "hall"), cond(ck::team_has, "ledger")});
  auto& rope = item("rope", "rope", "study");
  use_on(rope, "self", {eff(ek::set, "escaped")}, "You climb out of the window.").when =
      cond(ck::solved, "safe");

  auto& lc = s->clues["lantern_note"];
  lc.id = "lantern_note";
  lc.title = "Scratched numbers";
  lc.text = "Someone scratched 4172 into the lantern.";
  auto& sc = s->clues["safe_code"];
  sc.id = "safe_code";
  sc.title = "The keeper's hint";
  sc.text = "The safe opens to 4172.";

  auto& ps = s->puzzles["safe"];
  ps.id = "safe";
  ps.name = "wall safe";
  ps.k = puzzle_def::kind::code;
  ps.at = "study";
  ps.target = "safe";
  ps.code = "4172";
  ps.code_pattern = "^[0-9]{4}$";
  ps.code_hint = "four digits";
  ps.attempts = 3;
  ps.solve_text = "The safe clicks open.";
  ps.fail_text = "The dial spins back.";
  ps.on_solve = {eff(ek::give, "ledger")};
  ps.on_fail = {eff(ek::damage, "", "", 1, "A needle pricks your finger.")};
  ps.on_exhausted = {eff(ek::end, "caught")};
  auto& pl = s->puzzles["levers"];
  pl.id = "levers";
  pl.name = "the levers";
  pl.k = puzzle_def::kind::sequence;
  pl.at = "cellar";
  pl.target = "self";
  pl.steps = {"red_lever", "blue_lever"};
  pl.when = cond(ck::visited, "cellar");
  pl.solve_text = "The pumps start.";
  pl.on_solve = {eff(ek::move_item, "medkit", "cellar"), eff(ek::remove, "poison")};

  auto& k = s->npcs["keeper"];
  k.id = "keeper";
  k.name = "Old Marrow";
  k.aliases = {"keeper", "marrow", "관리인"};
  k.at = "hall";
  k.persona = "A tired keeper.";
  k.greeting = "Shut the door.";
  k.default_reply = "Marrow grunts.";
  knowledge_def storm;
  storm.id = "storm";
  storm.about = {"storm", "폭풍"};
  storm.text = "The storm peaks at midnight.";
  knowledge_def code;
  code.id = "code";
  code.about = {"safe", "code", "금고"};
  code.text = "My wife's birthday opens the safe.";
  code.when = combo(ck::all, {cond(ck::flag, "trusted"), cond(ck::visited, "cellar")});
  code.on_reveal = {eff(ek::clue, "safe_code")};
  k.knowledge = {storm, code};
  k.secrets = {"SECRET-He sank the Marigold."};

  auto ending = [&](std::string id, std::string kind, condition when = {}) -> ending_def& {
    auto& e = s->endings[id];
    e.id = id;
    e.title = id;
    e.kind = std::move(kind);
    e.when = std::move(when);
    e.text = "Ending " + e.id + ".";
    return e;
  };
  ending("archived", "neutral", cond(ck::item_at, "ledger", "hall"));
  ending("caught", "bad");
  ending("dawn", "neutral").on_turn_limit = true;
  ending("drowned", "bad").on_all_dead = true;
  ending("escape", "good", cond(ck::flag, "escaped"));
  ending("late", "bad",
         combo(ck::all, {cond(ck::turn_at_least, "", "", 15), cond(ck::flag, "bell_rung")}));
  ending("truth", "good");

  accusation_def acc;
  acc.prompt = "Who sank the Marigold?";
  acc.answers = {"keeper", "old marrow"};
  acc.when = cond(ck::solved, "safe");
  acc.on_correct = {eff(ek::end, "truth")};
  acc.on_wrong = {eff(ek::damage, "", "", 3, "Marrow laughs.")};
  s->accusation = acc;
  return s;
}

}  // namespace maratang::mystery::testing
