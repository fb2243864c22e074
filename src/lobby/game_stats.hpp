// Players' statistics: what a finished game adds to each of its players, per mode. The rules
// (stated for clients in docs/PROTOCOL.md, GET /v1/accounts/{id}/stats):
// - every player seated when the game started played it once, whatever happened:
//   played = won + lost + drawn + abandoned;
// - abandoned: the player left the game for good before it ended (room.leave, or their reconnect
//   grace ran out), or the room aborted the game (a server error in the mode, shutdown, the last
//   player gone);
// - every other player stayed to the end and won, lost or drew as the mode decides from its record
//   (mode_factory::score: Mafia, the player's side won; Mystery, the ending's kind); a mode that
//   names no winner leaves them drawn;
// - time_played_ms: from the game's start to its end, or to the moment the player left;
// - the mode's tallies (Mafia wins by role, Mystery endings reached) count only players who stayed.
// room::finish_game computes the outcomes and hands them to the store with the record
// (store::game_record::outcomes), which adds them in the record's own transaction, so a record
// stored twice counts once. Games stored before schema version 9 are not counted.
#pragma once

#include <boost/json/fwd.hpp>
#include <map>
#include <vector>

#include "lobby/mode.hpp"
#include "store/records.hpp"

namespace maratang::lobby {

// What the room knows of how a game ended, besides the mode's record.
struct game_end {
  epoch_ms started_ms = 0;
  epoch_ms ended_ms = 0;
  std::vector<player_id> players;      // seated at the start, in seat order
  std::map<player_id, epoch_ms> left;  // who left for good during the game, and when
  bool aborted = false;                // the room abandoned the game (its record is the room's)
};

// One outcome per player (the first seat of an id that appears twice), in seat order. `mode`
// scores the players who stayed unless the game was aborted; null scores no one (all drawn). What
// score() throws is logged and scores no one. Never throws (but std::bad_alloc).
std::vector<store::player_outcome> game_outcomes(const game_end& end,
                                                 const boost::json::object& record,
                                                 const mode_factory* mode);

}  // namespace maratang::lobby
