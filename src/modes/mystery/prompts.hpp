// The prompts the Mystery mode sends to the LLM, in one place. The rules they keep:
// - only what the engine unlocked goes in: a knowledge piece whose condition does not hold, and
//   every `secrets` entry, never appear in any prompt, so no player wording can extract them;
// - player text enters as bounded, quoted data inside a tag, with the tag's own markers removed,
//   and the system prompt says it is data, not instructions.
#pragma once

#include <boost/json/fwd.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "modes/mystery/engine.hpp"
#include "modes/mystery/llm_port.hpp"
#include "modes/mystery/scenario.hpp"

namespace maratang::mystery {

// Longest player text put into a prompt, in bytes (cut at a character boundary).
inline constexpr std::size_t prompt_text_max = 300;

// Player text made safe to quote: bounded, valid UTF-8 kept whole, '<' and '>' replaced so it
// cannot close its tag, control characters turned into spaces.
std::string quote_player_text(std::string_view text, std::size_t max_bytes = prompt_text_max);

// An NPC answering `player` (a nickname) who said `words`. `unlocked`: what the NPC may speak
// about; `revealed`: what the engine has it reveal now (a subset of unlocked); `given`: the names
// of the items the engine handed the player in this exchange. The prompt says what the engine did
// (given or not), so the model does not hand over what the engine kept, nor deny what it gave.
llm_call npc_prompt(const scenario& s, const npc_def& npc,
                    std::span<const knowledge_def* const> unlocked,
                    std::span<const knowledge_def* const> revealed, std::string_view player,
                    std::string_view words, std::span<const std::string> given = {});
// The narrator describing a place the player looks at (a `look` event).
llm_call look_prompt(const scenario& s, const event& e);
// Asks for one command, as JSON, for free text no rule understood. `view` is the player's view
// (names of what is here).
llm_call intent_prompt(const scenario& s, const boost::json::object& view, std::string_view text);
// The command in the LLM's answer to intent_prompt, if it is one (the engine still checks it).
std::optional<action> parse_intent(std::string_view reply);

}  // namespace maratang::mystery
