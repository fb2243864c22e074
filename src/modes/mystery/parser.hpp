// The rule-based command parser: free text (English or Korean) to one engine action. No regex,
// no allocation-heavy tricks: a handful of word tables. The engine checks everything afterwards,
// so the parser only has to say what the player meant, not whether it is possible.
#pragma once

#include <optional>
#include <string_view>

#include "modes/mystery/engine.hpp"
#include "modes/mystery/scenario.hpp"

namespace maratang::mystery {

// The command `text` means, or nullopt when the rules cannot tell (the mode may then ask the LLM,
// or answer unknown_command). The scenario supplies NPC and item names (multi-word names, and
// whether a Korean word's ending is a particle or part of a name).
std::optional<action> parse_command(std::string_view text, const scenario& s);

}  // namespace maratang::mystery
