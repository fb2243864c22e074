#include "modes/mystery/loader.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "store/test_temp_dir.hpp"

namespace maratang::mystery {
namespace {

namespace fs = std::filesystem;

// A complete scenario touching every section and most fields; valid.
const std::string scenario_yaml = R"(scenario:
  title: The Last Keeper
  language: en
  summary: One line.
  players: {min: 1, max: 4}
  turn_limit: 40
  minutes: 20
  health: 10
  start: boathouse
  intro: |
    Storm.
)";

const std::string locations_yaml = R"(locations:
  boathouse:
    name: Boathouse
    description: A damp shed.
    exits:
      north: {to: office}
      up:
        to: lamp_room
        aliases: [stairs, 위]
        locked_unless: {flag: gate_open}
        locked_text: The gate is shut.
    hazard:
      damage: 1
      unless: {has: lantern}
      text: The cold bites.
  office:
    name: Office
    description: Papers everywhere.
    exits:
      south: {to: boathouse}
  lamp_room:
    name: Lamp room
    description: The great lens.
    exits:
      down: {to: boathouse}
)";

const std::string rest_yaml = R"(items:
  lantern:
    name: storm lantern
    aliases: [lantern, 랜턴]
    description: An old lantern.
    at: boathouse
    on_inspect:
      - clue: lantern_note
    uses:
      - on: gate
        when: {flag: safe_opened}
        fail_text: Nothing happens.
        consume: false
        text: The light shows a keyhole.
        effects:
          - set: gate_open
          - {damage: 1, text: Ouch.}
    combine:
      - with: oil_can
        makes: lit_lantern
        text: You light it.
  oil_can:
    name: oil can
    at: office
    uses:
      - on: self
        effects:
          - say: Glug.
          - heal: 1
          - clear: gate_open
          - unlock: {location: office, exit: south}
          - move_item: {item: oil_can, to: office}
          - give: lit_lantern
          - remove: oil_can
          - damage_all: 1
          - teleport: boathouse
  lit_lantern:
    name: lit lantern
  gate:
    name: iron gate
    at: boathouse
    portable: false
  safe:
    name: wall safe
    at: office
    portable: false
  ledger:
    name: ledger
    at: office
    hidden: true
clues:
  lantern_note:
    title: Scratched numbers
    text: Someone scratched "41-72" into the base.
puzzles:
  safe:
    name: wall safe
    kind: code
    at: office
    target: safe
    code: "4172"
    pattern: "^[0-9]{4}$"
    hint: four digits
    attempts: 3
    solve_text: Click.
    fail_text: No.
    on_solve: [{reveal: ledger}, {set: safe_opened}]
    on_fail: [{damage: 1, text: A needle.}]
    on_exhausted: [{end: lost}]
npcs:
  keeper:
    name: Old Marrow
    aliases: [keeper]
    at: lamp_room
    persona: A keeper.
    style: Short.
    lora: keeper-v1
    greeting: Shut the door.
    default_reply: Grunt.
    knowledge:
      - id: storm
        about: [storm, 폭풍]
        text: The storm peaks at midnight.
        when: {solved: safe}
        on_reveal: [{set: told_storm}]
    secrets: [He sank the Marigold.]
endings:
  dawn:
    title: Dawn
    kind: good
    when:
      - {flag: told_storm}
      - {not: {visited: office}}
      - any: [{turn_at_least: 2}, {item_at: {item: gate, location: boathouse}}]
    text: You survive.
  lost:
    title: Lost
    kind: bad
    on_turn_limit: true
    on_all_dead: true
    text: Lost.
  truth:
    title: Truth
    kind: neutral
    text: You knew.
accusation:
  prompt: Who?
  answers: [keeper, marrow]
  when: {solved: safe}
  on_correct: [{end: truth}]
  on_wrong: [{damage: 3, text: He laughs.}]
)";

// 1-based line of the first occurrence of `needle` in `text` (0 when absent).
int line_of(const std::string& text, const std::string& needle) {
  auto at = text.find(needle);
  if (at == std::string::npos) return 0;
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(at), '\n'));
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  auto at = text.find(from);
  if (at == std::string::npos) throw std::runtime_error("test bug: no '" + from + "' to replace");
  return text.replace(at, from.size(), to);
}

void write(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary) << text;
}

std::string dump(const load_result& r) {
  std::string out;
  for (const auto& d : r.errors)
    out += to_string(d) + "\n";
  return out;
}

// A scenario folder in a temp dir, written from the three texts (each may be edited by a test).
class MysteryLoader : public ::testing::Test {
 protected:
  store::testing::temp_dir tmp_;
  fs::path folder_ = tmp_.path() / "keeper";
  std::string scenario_ = scenario_yaml, locations_ = locations_yaml, rest_ = rest_yaml;

  load_result load() {
    write(folder_ / "00_scenario.yaml", scenario_);
    write(folder_ / "locations.yaml", locations_);
    write(folder_ / "rest.yaml", rest_);
    return load_scenario(folder_);
  }

  // The error in `file` at `line` whose message contains `what`, or a test failure.
  static ::testing::AssertionResult has_error(const load_result& r, const std::string& file,
                                              int line, const std::string& what) {
    for (const auto& d : r.errors)
      if (d.pos.file.ends_with("/" + file) && d.pos.line == line &&
          d.message.find(what) != std::string::npos)
        return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << "no error at " << file << ":" << line << " with \"" << what << "\"; got:\n"
           << dump(r);
  }
};

TEST_F(MysteryLoader, ValidScenarioLoadsEveryField) {
  auto r = load();
  ASSERT_TRUE(r.errors.empty()) << dump(r);
  ASSERT_TRUE(r.scn);
  const scenario& s = *r.scn;
  EXPECT_EQ(s.id, "keeper");  // the folder name
  EXPECT_EQ(s.title, "The Last Keeper");
  EXPECT_EQ(s.language, "en");
  EXPECT_EQ(s.summary, "One line.");
  EXPECT_EQ(s.min_players, 1);
  EXPECT_EQ(s.max_players, 4);
  EXPECT_EQ(s.turn_limit, 40);
  EXPECT_EQ(s.minutes, 20);
  EXPECT_EQ(s.health, 10);
  EXPECT_EQ(s.start, "boathouse");
  EXPECT_EQ(s.intro, "Storm.\n");
  EXPECT_EQ(s.folder, folder_.string());

  ASSERT_EQ(s.locations.size(), 3u);
  const auto& bh = s.locations.at("boathouse");
  EXPECT_EQ(bh.name, "Boathouse");
  EXPECT_EQ(bh.pos.file, (folder_ / "locations.yaml").string());
  EXPECT_EQ(bh.pos.line, 2);
  ASSERT_EQ(bh.exits.size(), 2u);
  EXPECT_EQ(bh.exits[0].direction, "north");
  EXPECT_EQ(bh.exits[0].to, "office");
  EXPECT_EQ(bh.exits[0].open_when.k, condition::kind::always);
  const auto& up = bh.exits[1];
  EXPECT_EQ(up.to, "lamp_room");
  EXPECT_EQ(up.aliases, (std::vector<std::string>{"stairs", "위"}));
  EXPECT_EQ(up.open_when.k, condition::kind::flag);
  EXPECT_EQ(up.open_when.arg, "gate_open");
  EXPECT_EQ(up.open_when.pos.line, line_of(locations_yaml, "locked_unless"));
  EXPECT_EQ(up.locked_text, "The gate is shut.");
  ASSERT_TRUE(bh.hazard);
  EXPECT_EQ(bh.hazard->damage, 1);
  EXPECT_EQ(bh.hazard->unless.k, condition::kind::has);
  EXPECT_EQ(bh.hazard->unless.arg, "lantern");
  EXPECT_EQ(bh.hazard->text, "The cold bites.");

  const auto& lantern = s.items.at("lantern");
  EXPECT_EQ(lantern.name, "storm lantern");
  EXPECT_EQ(lantern.at, "boathouse");
  EXPECT_TRUE(lantern.portable);
  EXPECT_FALSE(lantern.hidden);
  ASSERT_EQ(lantern.on_inspect.size(), 1u);
  EXPECT_EQ(lantern.on_inspect[0].k, effect::kind::clue);
  ASSERT_EQ(lantern.uses.size(), 1u);
  const auto& use = lantern.uses[0];
  EXPECT_EQ(use.on, "gate");
  EXPECT_EQ(use.when.arg, "safe_opened");
  EXPECT_EQ(use.fail_text, "Nothing happens.");
  EXPECT_FALSE(use.consume);
  EXPECT_EQ(use.text, "The light shows a keyhole.");
  ASSERT_EQ(use.effects.size(), 2u);
  EXPECT_EQ(use.effects[1].k, effect::kind::damage);
  EXPECT_EQ(use.effects[1].n, 1);
  EXPECT_EQ(use.effects[1].text, "Ouch.");
  ASSERT_EQ(lantern.combines.size(), 1u);
  EXPECT_EQ(lantern.combines[0].with, "oil_can");
  EXPECT_EQ(lantern.combines[0].makes, "lit_lantern");
  EXPECT_FALSE(s.items.at("gate").portable);
  EXPECT_TRUE(s.items.at("ledger").hidden);

  const auto& oil = s.items.at("oil_can").uses.at(0).effects;
  ASSERT_EQ(oil.size(), 9u);
  EXPECT_EQ(oil[0].k, effect::kind::say);
  EXPECT_EQ(oil[0].text, "Glug.");
  EXPECT_EQ(oil[1].k, effect::kind::heal);
  EXPECT_EQ(oil[2].k, effect::kind::clear);
  EXPECT_EQ(oil[3].k, effect::kind::unlock);
  EXPECT_EQ(oil[3].arg, "office");
  EXPECT_EQ(oil[3].arg2, "south");
  EXPECT_EQ(oil[4].k, effect::kind::move_item);
  EXPECT_EQ(oil[4].arg2, "office");
  EXPECT_EQ(oil[5].k, effect::kind::give);
  EXPECT_EQ(oil[6].k, effect::kind::remove);
  EXPECT_EQ(oil[7].k, effect::kind::damage_all);
  EXPECT_EQ(oil[8].k, effect::kind::teleport);

  EXPECT_EQ(s.clues.at("lantern_note").title, "Scratched numbers");

  const auto& safe = s.puzzles.at("safe");
  EXPECT_EQ(safe.k, puzzle_def::kind::code);
  EXPECT_EQ(safe.code, "4172");
  EXPECT_EQ(safe.code_pattern, "^[0-9]{4}$");
  EXPECT_EQ(safe.code_hint, "four digits");
  EXPECT_EQ(safe.attempts, 3);
  EXPECT_EQ(safe.target, "safe");
  EXPECT_EQ(safe.on_solve.size(), 2u);
  EXPECT_EQ(safe.on_exhausted.at(0).k, effect::kind::end);

  const auto& keeper = s.npcs.at("keeper");
  EXPECT_EQ(keeper.lora, "keeper-v1");
  EXPECT_EQ(keeper.greeting, "Shut the door.");
  ASSERT_EQ(keeper.knowledge.size(), 1u);
  EXPECT_EQ(keeper.knowledge[0].about, (std::vector<std::string>{"storm", "폭풍"}));
  EXPECT_EQ(keeper.knowledge[0].when.k, condition::kind::solved);
  EXPECT_EQ(keeper.secrets, (std::vector<std::string>{"He sank the Marigold."}));

  const auto& dawn = s.endings.at("dawn");
  EXPECT_EQ(dawn.kind, "good");
  ASSERT_EQ(dawn.when.k, condition::kind::all);
  ASSERT_EQ(dawn.when.kids.size(), 3u);
  EXPECT_EQ(dawn.when.kids[1].k, condition::kind::not_);
  EXPECT_EQ(dawn.when.kids[1].kids.at(0).k, condition::kind::visited);
  const auto& any = dawn.when.kids[2];
  ASSERT_EQ(any.k, condition::kind::any);
  EXPECT_EQ(any.kids.at(0).k, condition::kind::turn_at_least);
  EXPECT_EQ(any.kids.at(0).n, 2);
  EXPECT_EQ(any.kids.at(1).k, condition::kind::item_at);
  EXPECT_EQ(any.kids.at(1).arg, "gate");
  EXPECT_EQ(any.kids.at(1).arg2, "boathouse");
  EXPECT_TRUE(s.endings.at("lost").on_turn_limit);
  EXPECT_TRUE(s.endings.at("lost").on_all_dead);

  ASSERT_TRUE(s.accusation);
  EXPECT_EQ(s.accusation->answers, (std::vector<std::string>{"keeper", "marrow"}));
  EXPECT_EQ(s.accusation->on_correct.at(0).arg, "truth");
}

TEST_F(MysteryLoader, KoreanTextRoundTripsAsUtf8) {
  scenario_ = replaced(scenario_, "title: The Last Keeper", "title: 마지막 등대지기");
  scenario_ = replaced(scenario_, "language: en", "language: ko");
  rest_ =
      replaced(rest_, "text: The storm peaks at midnight.", "text: \"폭풍은 자정에 절정이야.\"");
  auto r = load();
  ASSERT_TRUE(r.errors.empty()) << dump(r);
  EXPECT_EQ(r.scn->title, "마지막 등대지기");
  EXPECT_EQ(r.scn->language, "ko");
  EXPECT_EQ(r.scn->npcs.at("keeper").knowledge.at(0).text, "폭풍은 자정에 절정이야.");
  EXPECT_EQ(r.scn->items.at("lantern").aliases.at(1), "랜턴");
}

TEST_F(MysteryLoader, UnknownExitTargetNamesFileAndLine) {
  locations_ = replaced(locations_, "north: {to: office}", "north: {to: ofice}");
  auto r = load();
  EXPECT_FALSE(r.scn);
  EXPECT_TRUE(has_error(r, "locations.yaml", line_of(locations_, "north:"),
                        "exit 'north' of location 'boathouse' leads to unknown location 'ofice'"));
}

TEST_F(MysteryLoader, UnknownFieldAndSectionAreErrors) {
  rest_ = replaced(rest_, "portable: false", "portabel: false");
  scenario_ += "itemz:\n  x: {name: y}\n";
  auto r = load();
  EXPECT_FALSE(r.scn);
  EXPECT_TRUE(has_error(r, "rest.yaml", line_of(rest_, "portabel"),
                        "unknown field 'portabel' in item 'gate'"));
  EXPECT_TRUE(
      has_error(r, "00_scenario.yaml", line_of(scenario_, "itemz"), "unknown section 'itemz'"));
}

TEST_F(MysteryLoader, IdDefinedTwiceAcrossFiles) {
  write(folder_ / "zz_more.yaml",
        "clues:\n  other: {title: a, text: b}\n  lantern_note:\n    "
        "title: again\n    text: again\n");
  auto r = load();
  EXPECT_FALSE(r.scn);
  EXPECT_TRUE(has_error(r, "zz_more.yaml", 3, "clue 'lantern_note' is defined twice"));
  EXPECT_TRUE(has_error(r, "zz_more.yaml", 3,
                        "rest.yaml:" + std::to_string(line_of(rest_, "  lantern_note:"))));
}

TEST_F(MysteryLoader, YamlSyntaxErrorHasFileAndLine) {
  write(folder_ / "broken.yaml", "clues:\n  a:\n    title: x\n    text: [unclosed\n");
  auto r = load();
  EXPECT_FALSE(r.scn);
  ASSERT_FALSE(r.errors.empty());
  bool found = false;
  for (const auto& d : r.errors)
    if (d.pos.file.ends_with("broken.yaml") && d.pos.line >= 4 &&
        d.message.find("YAML syntax error") != std::string::npos)
      found = true;
  EXPECT_TRUE(found) << dump(r);
}

TEST_F(MysteryLoader, FlagTestedButNeverSet) {
  rest_ = replaced(rest_, "when: {flag: safe_opened}", "when: {flag: safe_opend}");
  auto r = load();
  EXPECT_FALSE(r.scn);
  EXPECT_TRUE(has_error(r, "rest.yaml", line_of(rest_, "safe_opend"),
                        "flag 'safe_opend' is tested but never set"));
}

TEST_F(MysteryLoader, BadConditionsAndEffectsAreErrors) {
  rest_ = replaced(rest_, "when: {flag: safe_opened}", "when: {flg: safe_opened}");
  rest_ = replaced(rest_, "- heal: 1", "- {heal: 1, set: x}");
  rest_ = replaced(rest_, "- clear: gate_open", "- clearr: gate_open");
  rest_ = replaced(rest_, "exit: south}", "exit: west}");
  rest_ = replaced(rest_, "- on: self", "- on: nowhere");
  auto r = load();
  EXPECT_FALSE(r.scn);
  EXPECT_TRUE(has_error(r, "rest.yaml", line_of(rest_, "flg"), "unknown condition 'flg'"));
  EXPECT_TRUE(has_error(r, "rest.yaml", line_of(rest_, "heal: 1"), "one action"));
  EXPECT_TRUE(has_error(r, "rest.yaml", line_of(rest_, "clearr"), "unknown effect 'clearr'"));
  EXPECT_TRUE(has_error(r, "rest.yaml", line_of(rest_, "exit: west"),
                        "unlocks exit 'west' of location 'office', which has no such exit"));
  EXPECT_TRUE(has_error(r, "rest.yaml", line_of(rest_, "on: nowhere"),
                        "item 'oil_can' is used on 'nowhere', which is no item, npc or 'self'"));
}

TEST_F(MysteryLoader, RangesAndRequiredFieldsAreAllReported) {
  scenario_ = replaced(scenario_, "  title: The Last Keeper\n", "");
  scenario_ = replaced(scenario_, "language: en", "language: fr");
  scenario_ = replaced(scenario_, "{min: 1, max: 4}", "{min: 3, max: 2}");
  scenario_ = replaced(scenario_, "turn_limit: 40", "turn_limit: -1");
  scenario_ = replaced(scenario_, "health: 10", "health: 0");
  rest_ = replaced(rest_, "    name: oil can\n", "");
  rest_ = replaced(rest_, "  lit_lantern:", "  Lit_Lantern:");
  auto r = load();
  EXPECT_FALSE(r.scn);
  EXPECT_TRUE(has_error(r, "00_scenario.yaml", 1, "needs 'title'"));
  EXPECT_TRUE(has_error(r, "00_scenario.yaml", line_of(scenario_, "language"),
                        "language must be en or ko, not 'fr'"));
  EXPECT_TRUE(
      has_error(r, "00_scenario.yaml", line_of(scenario_, "players"), "min (3) is above max (2)"));
  EXPECT_TRUE(has_error(r, "00_scenario.yaml", line_of(scenario_, "turn_limit"),
                        "turn_limit must be 0 or more"));
  EXPECT_TRUE(
      has_error(r, "00_scenario.yaml", line_of(scenario_, "health"), "health must be at least 1"));
  EXPECT_TRUE(has_error(r, "rest.yaml", line_of(rest_, "oil_can:"), "item 'oil_can' needs 'name'"));
  EXPECT_TRUE(has_error(r, "rest.yaml", line_of(rest_, "Lit_Lantern"), "bad id"));
  // lit_lantern is now unknown, so the combine that makes it and the give are errors too.
  EXPECT_TRUE(has_error(r, "rest.yaml", line_of(rest_, "- with: oil_can"),
                        "combining item 'lantern': 'makes' names unknown item 'lit_lantern'"));
  EXPECT_GE(r.errors.size(), 8u);
}

TEST_F(MysteryLoader, PuzzleShapesAreChecked) {
  rest_ = replaced(rest_, R"(pattern: "^[0-9]{4}$")", R"(pattern: "^[0-9]{3}$")");
  rest_ += R"(  levers:
    name: levers
    kind: sequence
    steps: [gate]
  dial:
    name: dial
    kind: code
    target: safe
    code: "12"
    pattern: "^[0-9"
  mystery:
    name: odd
    kind: riddle
)";
  // The puzzles section is the last one but one in rest_yaml: move them there by appending a
  // second puzzles file instead.
  auto at = rest_.find("  levers:");
  std::string extra = "puzzles:\n" + rest_.substr(at);
  rest_ = rest_.substr(0, at);
  write(folder_ / "zz_puzzles.yaml", extra);
  auto r = load();
  EXPECT_FALSE(r.scn);
  EXPECT_TRUE(has_error(r, "rest.yaml", line_of(rest_, "code: \"4172\""),
                        "the code '4172' does not match its own pattern '^[0-9]{3}$'"));
  EXPECT_TRUE(has_error(r, "zz_puzzles.yaml", line_of(extra, "levers:"), "at least 2 'steps'"));
  EXPECT_TRUE(has_error(r, "zz_puzzles.yaml", line_of(extra, "pattern:"),
                        "is not a valid regular expression"));
  EXPECT_TRUE(has_error(r, "zz_puzzles.yaml", line_of(extra, "kind: riddle"),
                        "kind must be code or sequence, not 'riddle'"));
}

TEST_F(MysteryLoader, UnsolvableCodeCascadesAndEveryErrorIsReported) {
  rest_ =
      replaced(rest_, "Someone scratched \"41-72\" into the base.", "Someone scratched a gull.");
  auto r = load();
  EXPECT_FALSE(r.scn);
  EXPECT_TRUE(has_error(r, "rest.yaml", line_of(rest_, "  safe:\n    name: wall safe\n    kind"),
                        "puzzle 'safe' can never be solved: its code '4172' appears in no clue"));
  // Without the safe, the gate never opens: the lamp room, the keeper's knowledge, the dawn
  // ending and the accusation are all out of reach.
  EXPECT_TRUE(has_error(r, "locations.yaml", line_of(locations_, "lamp_room:"),
                        "location 'lamp_room' can never be reached from the start"));
  EXPECT_TRUE(has_error(r, "rest.yaml", line_of(rest_, "  dawn:"),
                        "ending 'dawn' can never be reached: its condition needs flag "
                        "'told_storm', which is never set in a reachable way"));
  EXPECT_TRUE(has_error(r, "rest.yaml", line_of(rest_, "accusation:"),
                        "the accusation can never be made: its condition needs puzzle 'safe'"));
  EXPECT_TRUE(has_error(r, "rest.yaml", line_of(rest_, "  truth:"), "ending 'truth'"));
}

TEST_F(MysteryLoader, CodeFoundOnlyThroughRevealableKnowledgeCounts) {
  // The code moves from the clue into the keeper's knowledge, which needs the safe solved: a
  // circle, so the code can never be learnt.
  rest_ = replaced(rest_, "Someone scratched \"41-72\" into the base.", "A gull.");
  rest_ = replaced(rest_, "The storm peaks at midnight.", "The safe opens with 4172.");
  auto r = load();
  EXPECT_TRUE(has_error(r, "rest.yaml", line_of(rest_, "  safe:\n    name: wall safe\n    kind"),
                        "puzzle 'safe' can never be solved"));
  // Once the knowledge needs nothing, and the keeper stands where the players start, it works.
  rest_ = replaced(rest_, "        when: {solved: safe}\n", "");
  rest_ = replaced(rest_, "at: lamp_room", "at: office");
  auto ok = load();
  EXPECT_TRUE(ok.errors.empty()) << dump(ok);
}

TEST_F(MysteryLoader, UnreachableEndingUseAndLocation) {
  rest_ = replaced(rest_, "  ledger:", R"(  ghost:
    name: ghost
    at: office
    hidden: true
    uses:
      - on: self
        effects: [{set: ghost_flag}]
  candle:
    name: candle
    at: office
    uses:
      - on: ghost
        text: Boo.
  ledger:)");
  rest_ = replaced(rest_, "      - {flag: told_storm}", "      - {flag: ghost_flag}");
  locations_ += "  attic:\n    name: Attic\n";
  auto r = load();
  EXPECT_FALSE(r.scn);
  EXPECT_TRUE(has_error(r, "rest.yaml", line_of(rest_, "  dawn:"),
                        "ending 'dawn' can never be reached: its condition needs flag "
                        "'ghost_flag', which is never set in a reachable way"));
  EXPECT_TRUE(has_error(r, "rest.yaml", line_of(rest_, "- on: ghost"),
                        "item 'candle' is used on 'ghost', which the players can never reach"));
  EXPECT_TRUE(has_error(r, "locations.yaml", line_of(locations_, "attic:"),
                        "location 'attic' can never be reached: no exit or teleport leads to it"));
}

TEST_F(MysteryLoader, TurnLimitEndingWithoutTurnLimitIsUnreachable) {
  scenario_ = replaced(scenario_, "turn_limit: 40", "turn_limit: 0");
  rest_ = replaced(rest_, "    on_exhausted: [{end: lost}]\n", "");
  rest_ = replaced(rest_, "    on_all_dead: true\n", "");
  auto r = load();
  EXPECT_TRUE(has_error(r, "rest.yaml", line_of(rest_, "  lost:"),
                        "it is for the turn limit, but the scenario has none"));
}

TEST_F(MysteryLoader, ErrorsAreCapped) {
  std::string many = "clues:\n";
  for (int i = 0; i < 150; ++i)
    many += "  c" + std::to_string(i) + ": {title: t, txt: x}\n";
  write(folder_ / "many.yaml", many);
  auto r = load();
  ASSERT_EQ(r.errors.size(), max_diagnostics + 1);
  EXPECT_NE(r.errors.back().message.find("too many errors"), std::string::npos);
}

TEST_F(MysteryLoader, DiagnosticPrintsFileColonLine) {
  EXPECT_EQ(to_string(diagnostic{{"a/b.yaml", 14}, "broken"}), "a/b.yaml:14: broken");
  EXPECT_EQ(to_string(diagnostic{{"a", 0}, "empty"}), "a: empty");
}

TEST_F(MysteryLoader, BrokenScenarioDoesNotStopTheOthers) {
  write(tmp_.path() / "lib" / "a_good" / "all.yaml", scenario_yaml + locations_yaml + rest_yaml);
  write(tmp_.path() / "lib" / "b_bad" / "all.yaml",
        scenario_yaml + locations_yaml + replaced(rest_yaml, "at: office", "at: nowhere"));
  write(tmp_.path() / "lib" / "c_good" / "all.yaml",
        replaced(scenario_yaml, "title:", "id: keeper2\n  title:") + locations_yaml + rest_yaml);
  write(tmp_.path() / "lib" / "d_same_id" / "all.yaml",
        replaced(scenario_yaml, "title:", "id: a_good\n  title:") + locations_yaml + rest_yaml);
  fs::create_directories(tmp_.path() / "lib" / "e_not_a_scenario");
  auto rs = load_scenarios(tmp_.path() / "lib");
  ASSERT_EQ(rs.size(), 4u);
  EXPECT_TRUE(rs[0].scn) << dump(rs[0]);
  EXPECT_EQ(rs[0].scn->id, "a_good");
  EXPECT_FALSE(rs[1].scn);
  EXPECT_TRUE(has_error(rs[1], "all.yaml",
                        line_of(scenario_yaml + locations_yaml + rest_yaml, "at: office"),
                        "item 'oil_can': 'at' names unknown location 'nowhere'"));
  ASSERT_TRUE(rs[2].scn) << dump(rs[2]);
  EXPECT_EQ(rs[2].scn->id, "keeper2");
  EXPECT_FALSE(rs[3].scn);
  ASSERT_EQ(rs[3].errors.size(), 1u);
  EXPECT_NE(rs[3].errors[0].message.find("scenario id 'a_good' is already used"),
            std::string::npos);
}

TEST_F(MysteryLoader, FolderWithoutYamlIsAnError) {
  fs::create_directories(folder_);
  auto r = load_scenario(folder_);
  EXPECT_FALSE(r.scn);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("no *.yaml files"), std::string::npos);
  EXPECT_FALSE(is_scenario_folder(folder_));
}

}  // namespace
}  // namespace maratang::mystery
