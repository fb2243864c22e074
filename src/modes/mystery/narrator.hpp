// The offline narrator: engine events as plain text in the scenario's language (en or ko), from
// built-in templates and the scenario's own prose. Deterministic; used when no LLM is configured
// (or while it fails), and as the fallback text of every event.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "modes/mystery/engine.hpp"
#include "modes/mystery/scenario.hpp"

namespace maratang::mystery {

// A player's display name (nickname).
using names_fn = std::function<std::string(player_id)>;

// The event as `viewer` reads it ("You take the lantern." for the actor, "Mina takes the
// lantern." for the others). Empty for an event with nothing to tell.
std::string narrate(const scenario& s, const event& e, player_id viewer, const names_fn& nick);
// One text for all of the event's recipients: addressed to the actor ("You ...") when only the
// actor sees it (audience one), else told of them by name.
std::string narrate(const scenario& s, const event& e, const names_fn& nick);

// An NPC's answer without an LLM: its greeting the first time, then the texts of the knowledge
// the player's words revealed, else its default reply.
std::string offline_npc_reply(const npc_def& npc, std::span<const knowledge_def* const> revealed,
                              bool first_time);
// The same for an `npc_talk` event (its `revealed` ids looked up in the scenario).
std::string offline_npc_reply(const scenario& s, const event& npc_talk);

// The list of commands, in "en" or "ko" (anything else: English).
std::string help_text(std::string_view language);

// Korean particle for `word`: `with` after a final consonant, `without` otherwise ("을"/"를");
// "with(without)" when it cannot tell (a non-Hangul ending). 으로/로 also treat ㄹ as no consonant.
std::string josa(std::string_view word, std::string_view with, std::string_view without);

}  // namespace maratang::mystery
