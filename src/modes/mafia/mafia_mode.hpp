// Mafia: the realtime social-deduction game of seed 002, as a Maratang mode. See
// src/modes/mafia/README.md for its state machine, rules, options and messages.
#pragma once

#include <memory>

#include "lobby/mode.hpp"
#include "media/sfu.hpp"

namespace maratang::modes {

// A game needs at least `min_players` (4 or more) and seats at most `max_players`. `media`: how
// voice and video connect (mesh or SFU, ICE servers); null: a browser mesh with no ICE servers.
std::unique_ptr<lobby::mode_factory> make_mafia_mode_factory(
    int min_players = 4, int max_players = 12,
    std::shared_ptr<const media::media_options> media = nullptr);

}  // namespace maratang::modes
