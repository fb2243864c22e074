// The Mystery rules engine: the one authority over a game's world (docs/SCENARIOS.md, "Turns" and
// "Playing"). Pure and deterministic: no I/O, no clock, no randomness. Every command either fails
// with a stable error and changes nothing, or succeeds and returns the facts that happened, in
// order, as events for the narrator (offline or LLM).
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "modes/mystery/scenario.hpp"
#include "util/error.hpp"

namespace maratang::mystery {

using player_id = std::int64_t;

// Longest player text (object, target, words) accepted, in bytes.
inline constexpr std::size_t max_text_bytes = 500;

// Names as players type them, folded for comparison: ASCII lower-cased, full-width ASCII made
// half-width, and spaces, '_' and '-' dropped ("Storm Lantern" == "storm_lantern"). Other text
// (Korean) is kept as is.
std::string fold(std::string_view s);
// The same, but spaces are kept (single spaces): for matching keywords inside a sentence.
std::string fold_words(std::string_view s);

enum class verb {
  look,
  go,
  inspect,
  take,
  drop,
  use,
  combine,
  code,
  talk,
  accuse,
  inventory,
  journal,
  help,
  pass,
  hint,  // a nudge from the scenario's data (free, like help)
  quit   // the player leaves the game for good (as if they had left the room)
};
std::string_view to_string(verb v) noexcept;
// The verb whose to_string is `name`, if any.
std::optional<verb> verb_named(std::string_view name) noexcept;

// One command. object: the item / exit / NPC / code target as typed (resolved by the engine by
// id, name or alias, folded); target: Y of "use X on Y" / "combine X with Y"; text: the code
// guess, the words said to an NPC, the accusation.
struct action {
  verb v = verb::look;
  std::string object;
  std::string target;
  std::string text;
};

// One fact for the narrator. Kinds and their fields:
//   look (a=location, text=description)         moved (a=from, b=to)
//   left / arrived (a=location, b=direction)    locked (a=location, b=direction, text)
//   inspected (a=item or npc, text)             took / dropped (a=item)
//   used (a=item, b=target or "self", text)     use_failed (a=item, b=target, text)
//   combined (a, b=inputs, text)                received (a=item)
//   code_right / code_wrong (a=puzzle, b=guess, n=tries left or -1, text)
//   code_exhausted / solved (a=puzzle, text)    sequence_step (a=puzzle, b=item, n=step)
//   sequence_reset (a=puzzle, b=item, n=tries left or -1, text)
//   revealed (a=item)   removed (a=item)   unlocked (a=location, b=direction)
//   teleported (a=location)   clue (a=clue, b=title, text)   say (text)
//   damaged / healed (n=amount, a=cause: "effect" or "hazard", actor=who)   died (actor=who)
//   hazard (a=location, n=damage, text)   npc_talk (a=npc, text=the player's words, n=1 first
//   time, revealed, unlocked)   accused_right / accused_wrong (text=answer)
//   ending (a=ending, b=kind, text)   round (n=the round that begins)   turn (actor=whose turn)
//   inventory / journal (list=item / clue ids)   help   hint (text)   passed (n=1 when timed out)
//   left_game (actor=who)
// Who may see an event (docs: the mode's README, "Who sees what"). Every event says it: everyone in
// the game (players and spectators); the players at a place (`where`) at the time, listed in `to`;
// one player (`to` = {actor}); or nobody (a place event with nobody there to see it, such as
// arriving in an empty room: it is logged, and sent to no one).
enum class audience_kind { everyone, place, one, nobody };
std::string_view to_string(audience_kind a) noexcept;

struct event {
  std::string kind;
  player_id actor = 0;
  std::string a, b;
  int n = 0;
  std::string text;                                // scenario prose for it, when it has one
  audience_kind audience = audience_kind::nobody;  // who may see it
  std::string where;                  // the location the event happens in ("" for everyone)
  std::vector<player_id> to;          // the recipients for place and one (empty otherwise)
  std::vector<std::string> list;      // inventory / journal ids
  std::vector<std::string> revealed;  // npc_talk: knowledge ids revealed by these words
  std::vector<std::string> unlocked;  // npc_talk: knowledge ids the NPC may speak about now
};

struct outcome {
  std::vector<event> events;
  bool turn_used = false;
};

class engine {
 public:
  // `seats`: the players in seat order (one seat: solo). Everyone starts at the scenario's start.
  engine(std::shared_ptr<const scenario> s, std::vector<player_id> seats);

  // Plays one command for p. An error means nothing changed.
  result<outcome> act(player_id p, const action& a);
  // The current player's turn timed out: it passes.
  outcome pass_turn();
  // p left the game for good: skipped from now on (the turn passes if it was theirs).
  outcome remove_player(player_id p);

  // Solo: the only player. Group: whose turn it is (0 once the game is over or nobody can act).
  player_id current_turn() const;
  int round() const { return round_; }
  bool ended() const { return ended_; }
  const std::string& ending() const { return ending_; }  // "" while running (or no such ending)
  const scenario& scn() const { return *scn_; }
  bool solo() const { return players_.size() == 1; }

  // What `viewer` may see (see engine.cpp for the shape).
  boost::json::object view(player_id viewer) const;
  // The whole state, for the game record, for tests and for snapshots (mode::serialize).
  boost::json::object state_json() const;
  // Replaces the state with a state_json() of a game of the same scenario and seats (a restored
  // game). Throws std::exception on malformed input or ids the scenario does not have.
  void load_state(const boost::json::object& s);

  // The knowledge of `npc` whose `when` holds for p (never secrets), in scenario order.
  std::vector<const knowledge_def*> unlocked_knowledge(player_id p, std::string_view npc) const;

  // Read access for the mode.
  std::string location_of(player_id p) const;
  int health_of(player_id p) const;
  bool alive(player_id p) const;
  std::vector<std::string> inventory_of(player_id p) const;
  // A nudge for p from the scenario's data, in its language: someone who has something
  // unlocked and not yet told (by name and one of its words), else a puzzle that can be tried
  // and is unsolved, else to look around. Never a secret, a locked fact or an answer.
  std::string hint_for(player_id p) const;
  const std::vector<std::string>& journal() const { return journal_; }

 private:
  struct player_state {
    player_id id = 0;
    std::string loc;
    int health = 0;
    bool alive = true;
    bool present = true;
  };
  enum class place { nowhere, floor, held, gone };
  struct item_state {
    place where = place::nowhere;
    std::string loc;       // place::floor
    player_id holder = 0;  // place::held
    bool hidden = false;
    bool inspected = false;
    std::uint64_t order = 0;  // when it came into its holder's hands (inventory order)
  };
  static item_state gone_state() {
    item_state s;
    s.where = place::gone;
    return s;
  }
  struct puzzle_state {
    bool solved = false;
    bool exhausted = false;
    int failures = 0;
    std::size_t progress = 0;  // sequence: steps done
  };
  struct ctx;  // one command's processing (actor, events, ended)

  player_state* find(player_id p);
  const player_state* find(player_id p) const;
  bool holds(const condition& c, const player_state* actor) const;
  bool exit_open(const std::string& loc, const exit_def& e) const;
  bool visible_here(const std::string& item, const std::string& loc) const;
  bool held_by(const std::string& item, player_id p) const;
  std::vector<player_id> players_in(const std::string& loc, player_id except = 0) const;

  // Name resolution ("" = no match).
  std::string item_named(std::string_view typed, const player_state& p, bool held, bool here) const;
  bool names_portable_item(std::string_view typed) const;  // some portable item has this name
  std::string npc_here(std::string_view typed, const player_state& p) const;
  const exit_def* exit_named(std::string_view typed, const std::string& loc) const;

  // Event helpers.
  void emit(ctx& c, event e, const std::string& audience, const std::string& where,
            player_id except = 0);

  void apply(ctx& c, const std::vector<effect>& effects);
  void apply_one(ctx& c, const effect& e);
  void hurt(ctx& c, player_state& p, int n, const char* cause);
  void end_game(ctx& c, const std::string& ending);
  void check_endings(ctx& c);
  void finish(ctx& c, bool turn_used);
  void advance_turn(ctx& c);
  void end_round(ctx& c);
  void give_to(const std::string& item, player_id p);
  void drop_all(player_state& p);

  result<void> do_look(ctx& c);
  result<void> do_go(ctx& c, const action& a);
  result<void> do_inspect(ctx& c, const action& a);
  result<void> do_take(ctx& c, const action& a);
  result<void> do_drop(ctx& c, const action& a);
  result<void> do_use(ctx& c, const action& a);
  result<void> do_combine(ctx& c, const action& a);
  result<void> do_code(ctx& c, const action& a);
  result<void> do_talk(ctx& c, const action& a);
  result<void> do_accuse(ctx& c, const action& a);
  void puzzle_failed(ctx& c, const puzzle_def& pz, puzzle_state& st, const std::string& kind,
                     const std::string& b);
  void puzzle_solved(ctx& c, const puzzle_def& pz, puzzle_state& st, const std::string& kind,
                     const std::string& b);

  std::shared_ptr<const scenario> scn_;
  std::vector<player_state> players_;  // seat order
  std::size_t current_ = 0;            // index into players_
  int round_ = 1;
  bool ended_ = false;
  std::string ending_;
  std::map<std::string, item_state> items_;
  std::map<std::string, puzzle_state> puzzles_;
  std::set<std::string> flags_;
  std::set<std::string> visited_;
  std::set<std::pair<std::string, std::string>> unlocked_exits_;      // (location, direction)
  std::set<std::pair<std::string, std::string>> revealed_knowledge_;  // (npc, knowledge)
  std::set<std::pair<player_id, std::string>> talked_;                // (player, npc)
  std::vector<std::string> journal_;                                  // clue ids, in order
  std::uint64_t next_order_ = 1;
  std::map<std::string, std::regex> patterns_;  // code puzzles' shapes, compiled once
  // Folded names (id, name, aliases) -> id, for resolving what players type.
  std::vector<std::pair<std::string, std::string>> item_keys_, npc_keys_;
};

}  // namespace maratang::mystery
