#include "util/error.hpp"

#include <stdexcept>

namespace maratang {

namespace {

struct code_info {
  std::string_view name;
  std::string_view message;
  int status;
};

constexpr code_info info_of(errc code) noexcept {
  switch (code) {
    case errc::bad_json:
      return {"bad_json", "The message is not valid JSON text in UTF-8.", 400};
    case errc::bad_message:
      return {"bad_message", "The message is not an envelope: an object with a string \"type\".",
              400};
    case errc::unknown_type:
      return {"unknown_type", "There is no message of that type.", 400};
    case errc::missing_field:
      return {"missing_field", "A required field is missing.", 400};
    case errc::bad_field:
      return {"bad_field", "A field has the wrong type or value.", 400};
    case errc::too_large:
      return {"too_large", "The message is larger than allowed.", 413};
    case errc::too_deep:
      return {"too_deep", "The JSON is nested deeper than allowed.", 400};
    case errc::rate_limited:
      return {"rate_limited", "Too many messages; slow down.", 429};
    case errc::hello_required:
      return {"hello_required", "Send hello before anything else.", 400};
    case errc::unsupported_version:
      return {"unsupported_version", "This protocol version is not supported.", 400};
    case errc::unauthorized:
      return {"unauthorized", "Authentication is required.", 401};
    case errc::token_invalid:
      return {"token_invalid", "The token is not valid.", 401};
    case errc::token_expired:
      return {"token_expired", "The token has expired.", 401};
    case errc::token_revoked:
      return {"token_revoked", "The session was logged out.", 401};
    case errc::bad_credentials:
      return {"bad_credentials", "Wrong email or password.", 401};
    case errc::account_exists:
      return {"account_exists", "That account already exists.", 409};
    case errc::weak_password:
      return {"weak_password",
              "That password is too easy to guess: use at least 8 characters that are not a "
              "common password and not the email address.",
              400};
    case errc::account_banned:
      return {"account_banned", "This account is banned.", 403};
    case errc::nickname_invalid:
      return {"nickname_invalid", "That nickname is not allowed.", 400};
    case errc::nickname_taken:
      return {"nickname_taken", "That nickname is taken.", 409};
    case errc::nickname_required:
      return {"nickname_required", "Choose a nickname first.", 409};
    case errc::unknown_room:
      return {"unknown_room", "There is no such room.", 404};
    case errc::room_full:
      return {"room_full", "The room is full.", 409};
    case errc::already_in_room:
      return {"already_in_room", "You are already in a room.", 409};
    case errc::not_in_room:
      return {"not_in_room", "You are not in that room.", 409};
    case errc::game_in_progress:
      return {"game_in_progress", "A game is in progress.", 409};
    case errc::no_game:
      return {"no_game", "No game is running in this room.", 409};
    case errc::wrong_password:
      return {"wrong_password", "Wrong room password.", 403};
    case errc::not_leader:
      return {"not_leader", "Only the room leader may do that.", 403};
    case errc::not_ready:
      return {"not_ready", "Not everyone is ready.", 409};
    case errc::too_few_players:
      return {"too_few_players", "Not enough players.", 409};
    case errc::unknown_mode:
      return {"unknown_mode", "There is no such game mode.", 400};
    case errc::unknown_player:
      return {"unknown_player", "There is no such player here.", 404};
    case errc::out_of_order:
      return {"out_of_order", "That is not allowed right now.", 409};
    case errc::forbidden:
      return {"forbidden", "You may not do that.", 403};
    case errc::wrong_phase:
      return {"wrong_phase", "That action belongs to another phase of the game.", 409};
    case errc::not_alive:
      return {"not_alive", "You are out of the game and may not do that.", 403};
    case errc::bad_target:
      return {"bad_target", "That player cannot be chosen.", 400};
    case errc::wrong_role:
      return {"wrong_role", "Your role cannot do that.", 403};
    case errc::channel_closed:
      return {"channel_closed", "You cannot speak right now.", 403};
    case errc::not_eligible:
      return {"not_eligible", "You may not vote in this vote.", 403};
    case errc::not_your_turn:
      return {"not_your_turn", "It is not your turn.", 409};
    case errc::unknown_command:
      return {"unknown_command", "That is not a command I understand.", 400};
    case errc::not_here:
      return {"not_here", "That is not here.", 409};
    case errc::not_held:
      return {"not_held", "You are not holding that.", 409};
    case errc::game_over:
      return {"game_over", "The game is over.", 409};
    case errc::unknown_leaderboard:
      return {"unknown_leaderboard", "There is no such leaderboard.", 404};
    case errc::already_in_party:
      return {"already_in_party", "You are in a party already.", 409};
    case errc::not_in_party:
      return {"not_in_party", "You are not in a party.", 409};
    case errc::party_full:
      return {"party_full", "The party is full.", 409};
    case errc::unknown_party:
      return {"unknown_party", "There is no such party.", 404};
    case errc::no_invitation:
      return {"no_invitation", "You have no invitation to that party.", 404};
    case errc::already_matchmaking:
      return {"already_matchmaking", "You are matchmaking already.", 409};
    case errc::not_matchmaking:
      return {"not_matchmaking", "You are not matchmaking.", 409};
    case errc::match_formed:
      return {"match_formed", "Your match is formed: join it.", 409};
    case errc::no_match:
      return {"no_match", "You have no match waiting to be joined.", 409};
    case errc::not_found:
      return {"not_found", "Not found.", 404};
    case errc::method_not_allowed:
      return {"method_not_allowed", "Method not allowed.", 405};
    case errc::unavailable:
      return {"unavailable", "The service is unavailable; try again.", 503};
    case errc::internal:
      return {"internal", "Internal error.", 500};
  }
  return {"internal", "Internal error.", 500};
}

}  // namespace

void throw_exception_from_error(const error& e, const boost::source_location&) {
  throw std::runtime_error(std::string(to_string(e.code)) + ": " + e.message);
}

std::string_view to_string(errc code) noexcept {
  return info_of(code).name;
}
std::string_view default_message(errc code) noexcept {
  return info_of(code).message;
}
int http_status(errc code) noexcept {
  return info_of(code).status;
}

}  // namespace maratang
