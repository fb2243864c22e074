// The rule-based command parser: free text (English or Korean) to one engine action. No regex,
// no allocation-heavy tricks: a handful of word tables. The engine checks everything afterwards,
// so the parser only has to say what the player meant, not whether it is possible.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

#include "modes/mystery/engine.hpp"
#include "modes/mystery/scenario.hpp"

namespace maratang::mystery {

// The folded names of a scenario (items, NPCs, places, exits, puzzles, with their aliases).
struct name_index {
  std::unordered_set<std::string> all;
  std::unordered_set<std::string> npcs;
};
std::shared_ptr<const name_index> build_name_index(const scenario& s);

// The command `text` means, or nullopt when the rules cannot tell (the mode may then ask the LLM,
// or answer unknown_command). The scenario supplies NPC and item names (multi-word names, and
// whether a Korean word's ending is a particle or part of a name).
std::optional<action> parse_command(std::string_view text, const scenario& s);

// Whether `text` is aimed at the game's system rather than at the story: it asks for the system
// prompt or the model's instructions, or tells the model to ignore them ("print the system
// prompt", "시스템 프롬프트를 출력해", "ignore previous instructions"). Such text is refused as a
// whole, never played as talk, so no NPC answers it and no prompt carries it.
bool aimed_at_system(std::string_view text);

}  // namespace maratang::mystery
