// Public error codes: the stable vocabulary every client sees. Internal detail never reaches a
// client; the core returns one of these and the API layer maps it to a frame or an HTTP status.
#pragma once

#include <boost/system/result.hpp>
#include <string>
#include <string_view>

namespace maratang {

// Every code a client may receive. Add new codes at the end of their group; the wire name (see
// to_string) is the contract, the numeric value is not.
enum class errc {
  // Protocol
  bad_json,        // the frame or body is not valid JSON (or not valid UTF-8)
  bad_message,     // valid JSON but not an envelope: not an object, no type, bad id
  unknown_type,    // no such message type
  missing_field,   // a required field is absent
  bad_field,       // a field has the wrong type, range or shape
  too_large,       // frame, body or field above its limit
  too_deep,        // JSON nested deeper than allowed
  rate_limited,    // too many messages in too little time
  hello_required,  // a message came before the hello exchange
  unsupported_version,
  // Authentication
  unauthorized,   // no credentials, or they do not verify
  token_invalid,  // forged or malformed token
  token_expired,
  token_revoked,
  bad_credentials,  // wrong email or password
  account_exists,   // email or device already registered
  weak_password,    // too short, too common, or made of the email address
  account_banned,   // an admin banned the account (the message says why and until when)
  // Accounts
  nickname_invalid,
  nickname_taken,
  nickname_required,  // the action needs a nickname first
  // Lobby and rooms
  unknown_room,
  room_full,
  already_in_room,
  not_in_room,
  game_in_progress,
  no_game,  // the room has no game running
  wrong_password,
  not_leader,
  not_ready,  // not everyone but the leader is ready
  too_few_players,
  unknown_mode,
  unknown_player,
  out_of_order,  // the action is not allowed in the current state
  forbidden,     // the caller may not do this
  // Game rules (shared by the modes)
  wrong_phase,      // the action belongs to another phase of the game
  not_alive,        // the player is dead (or out of the game) and may not act
  bad_target,       // the chosen player is unknown, dead, or not a legal choice
  wrong_role,       // the action belongs to another role
  channel_closed,   // the player may not speak in any channel right now
  not_eligible,     // the player may not take part in this vote
  not_your_turn,    // another player's turn (turn-based modes)
  unknown_command,  // the text is not a command the mode understands
  not_here,         // the item, exit or character is not where the player is
  not_held,         // the player does not hold that item
  game_over,        // the game has ended
  // Competition
  unknown_leaderboard,  // no leaderboard of that name (GET /v1/leaderboards lists them)
  // Parties and matchmaking
  already_in_party,     // the sender (or the player invited) is in a party already
  not_in_party,         // the sender is in no party
  party_full,           // the party has its most members
  unknown_party,        // no such party, or no party has that code
  no_invitation,        // no invitation to that party (or it expired)
  already_matchmaking,  // the sender or a member has a live ticket or a formed match
  not_matchmaking,      // no live ticket
  match_formed,         // the ticket became a match: match.join it
  no_match,             // no match seat waits for the sender (or it is not held any more)
  // Server
  not_found,  // REST: no such resource
  method_not_allowed,
  unavailable,  // shutting down, or a dependency is down
  internal,     // a bug: logged with detail, reported without
};

// The stable wire name of a code, e.g. "room_full".
std::string_view to_string(errc code) noexcept;
// A default human-readable sentence for a code.
std::string_view default_message(errc code) noexcept;
// The HTTP status a REST endpoint answers with for a code.
int http_status(errc code) noexcept;

// A public error: a code and a message fit to show a player.
struct error {
  errc code;
  std::string message;
  // For rate_limited: seconds until a retry may succeed (0: unknown). REST sends it as
  // Retry-After.
  int retry_after_s = 0;

  error() : error(errc::internal) {}
  error(errc c) : code(c), message(default_message(c)) {}  // NOLINT: implicit by design
  error(errc c, std::string msg) : code(c), message(std::move(msg)) {}
};

// Lets result<T>::value() report an error: throws std::runtime_error with the code and message.
// Only for tests and start-up code; frame-handling paths check the result instead.
[[noreturn]] void throw_exception_from_error(const error& e, const boost::source_location& loc);

// The return type of every operation that can fail on a client's behalf.
template <class T = void>
using result = boost::system::result<T, error>;

}  // namespace maratang
