// A Mystery scenario as loaded from its folder of YAML files (see docs/SCENARIOS.md, the author's
// guide). Plain data, immutable once loaded and shared by every game that plays it. Every element
// remembers where it was written, so errors can name the file and line.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace maratang::mystery {

struct name_index;  // parser.hpp

struct source_pos {
  std::string file;  // path of the YAML file, as given to the loader
  int line = 0;      // 1-based; 0 when unknown
};

// A condition over the world and the acting player. `always` holds; composite kinds use `kids`.
struct condition {
  enum class kind {
    always,         // no condition
    flag,           // flag `arg` is set
    not_,           // kids[0] does not hold
    all,            // every kid holds
    any,            // at least one kid holds
    has,            // the acting player holds item `arg`
    team_has,       // some player holds item `arg`
    at,             // the acting player is in location `arg`
    visited,        // some player has been in location `arg`
    solved,         // puzzle `arg` is solved
    turn_at_least,  // the round counter is >= n
    health_below,   // the acting player's health is < n
    item_at,        // item `arg` lies (visible) in location `arg2`
  };
  kind k = kind::always;
  std::string arg, arg2;
  int n = 0;
  std::vector<condition> kids;
  source_pos pos;
};

// One effect of a use, a puzzle, a knowledge reveal... Applied in order by the engine.
struct effect {
  enum class kind {
    set,         // set flag `arg`
    clear,       // clear flag `arg`
    unlock,      // unlock exit `arg2` of location `arg` (an exit's lock no longer applies)
    reveal,      // hidden item `arg` becomes visible where it lies
    give,        // the acting player receives item `arg` (from wherever it is)
    remove,      // item `arg` leaves the game
    move_item,   // item `arg` is placed in location `arg2`
    damage,      // the acting player loses n health
    heal,        // the acting player gains n health (up to the maximum)
    damage_all,  // every living player loses n health
    clue,        // every player learns clue `arg` (added to the shared journal)
    teleport,    // the acting player moves to location `arg`
    say,         // narration `text` (told to everyone in the actor's location)
    end,         // the game ends with ending `arg`
  };
  kind k = kind::say;
  std::string arg, arg2;
  int n = 0;
  std::string text;
  source_pos pos;
};

struct exit_def {
  std::string direction;  // the key under exits, e.g. "north", "up", "북"
  std::vector<std::string> aliases;
  std::string to;       // location id
  condition open_when;  // `locked_unless`; `always` when the exit is never locked
  std::string locked_text;
  source_pos pos;
};

// Damage taken at the end of each round by every living player in the location.
struct hazard_def {
  int damage = 0;
  condition unless;  // no damage for a player for whom this holds
  std::string text;
  source_pos pos;
};

struct location_def {
  std::string id;
  std::string name;
  std::string description;
  std::vector<exit_def> exits;
  std::optional<hazard_def> hazard;
  source_pos pos;
};

// An item used on a target (another item, a fixed item in the room, an NPC, or nothing: "self").
struct use_def {
  std::string on;  // item id, npc id, or "self"
  condition when;
  std::string fail_text;  // said when `when` does not hold
  bool consume = false;   // the used item leaves the game
  std::vector<effect> effects;
  std::string text;
  source_pos pos;
};

struct combine_def {
  std::string with;   // the other item
  std::string makes;  // the new item (both inputs leave the game; the actor receives it)
  std::string text;
  source_pos pos;
};

struct item_def {
  std::string id;
  std::string name;
  std::vector<std::string> aliases;
  std::string description;
  std::string at;       // location id; "" = not in the world until an effect gives/moves it
  bool hidden = false;  // invisible until revealed
  bool portable = true;
  std::vector<effect> on_inspect;  // applied the first time anyone inspects it
  std::vector<use_def> uses;
  std::vector<combine_def> combines;
  source_pos pos;
};

struct clue_def {
  std::string id;
  std::string title;
  std::string text;
  source_pos pos;
};

struct puzzle_def {
  enum class kind { code, sequence };
  std::string id;
  std::string name;
  kind k = kind::code;
  std::string at;      // location where it can be attempted ("" = anywhere)
  std::string target;  // the item (usually fixed) the code is entered on or the steps act on
  // code
  std::string code;          // normalised: the answer as the player must type it
  std::string code_pattern;  // ECMAScript regex a guess must match, e.g. "^[0-9]{4}$"
  std::string code_hint;     // how to describe the shape, e.g. "four digits"
  // sequence: items to use (on `target` or "self") in this order
  std::vector<std::string> steps;
  int attempts = 0;  // 0 = unlimited; else after this many wrong tries `on_exhausted` applies
  condition when;    // the puzzle is attemptable only when this holds
  std::vector<effect> on_solve;
  std::vector<effect> on_fail;
  std::vector<effect> on_exhausted;
  std::string solve_text, fail_text;
  source_pos pos;
};

struct knowledge_def {
  std::string id;
  std::vector<std::string> about;  // keywords (any language) that ask for it
  std::string text;                // the fact, in the NPC's voice or plain
  condition when;                  // may be revealed only when this holds
  std::vector<effect> on_reveal;   // applied the first time it is revealed
  source_pos pos;
};

struct npc_def {
  std::string id;
  std::string name;
  std::vector<std::string> aliases;
  std::string at;  // location id
  std::string persona;
  std::string style;
  std::string lora;  // LoRA adapter (model name on the LoRA endpoint); "" = base model
  std::string greeting;
  std::string default_reply;  // offline answer when nothing matches
  std::vector<knowledge_def> knowledge;
  std::vector<std::string> secrets;  // never revealed, never sent to an LLM
  source_pos pos;
};

struct ending_def {
  std::string id;
  std::string title;
  std::string kind;  // "good", "bad" or "neutral"
  condition when;    // checked after every action; `always` = only reachable through `end:`
  bool on_all_dead = false;
  bool on_turn_limit = false;
  std::string text;
  source_pos pos;
};

struct accusation_def {
  std::vector<std::string> answers;  // accepted answers (ids, names, aliases), compared folded
  condition when;
  std::vector<effect> on_correct;
  std::vector<effect> on_wrong;
  std::string prompt;  // what the accusation is about, e.g. "Who sank the Marigold?"
  source_pos pos;
};

struct scenario {
  std::string id;  // the folder name unless set
  std::string title;
  std::string language;  // "en", "ko"
  std::string summary;
  int min_players = 1;
  int max_players = 1;
  int turn_limit = 0;  // rounds; 0 = none
  int minutes = 0;     // expected play time, for listings
  int health = 10;     // starting and maximum health
  std::string start;   // location id
  std::string intro;
  std::map<std::string, location_def> locations;
  std::map<std::string, item_def> items;
  std::map<std::string, clue_def> clues;
  std::map<std::string, puzzle_def> puzzles;
  std::map<std::string, npc_def> npcs;
  std::map<std::string, ending_def> endings;
  std::optional<accusation_def> accusation;
  // Every name players may type, folded, for the parser (built by the loader; null in
  // scenarios built by hand, which the parser then indexes on each call).
  std::shared_ptr<const name_index> names;
  std::string folder;
  source_pos pos;
};

}  // namespace maratang::mystery
