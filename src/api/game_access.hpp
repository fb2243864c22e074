// Who may read what of a finished game: its record (GET /v1/games/{id}), its casebook
// (GET /v1/games/{id}/casebook[.md|.html]) and an account's game list
// (GET /v1/accounts/{id}/games). Every such endpoint asks here, and nowhere else decides.
//
// The rules (docs/PROTOCOL.md states them per endpoint):
// - every reader is an authenticated account (a valid session token);
// - a public room's game: any authenticated account may read its record and casebook;
// - a private room's game (invite code): only the accounts that played in it;
// - an account's game list: the account itself sees all its games, others only its public ones.
// A game the caller may not read is answered 404 not_found, exactly as a game that does not exist,
// so game ids do not tell whether a private game exists.
//
// Not decided here: an account's statistics (GET /v1/accounts/{id}/stats) count every game,
// private-room ones too, and any authenticated account may read them, because they are sums that
// name no game and no other player (lobby/game_stats.hpp; docs/PROTOCOL.md).
//
// Admins are not decided here: they read any game at GET /v1/admin/games/{id} (admin_api.cpp),
// which checks the admin flag in storage first.
#pragma once

#include <cstdint>

#include "core/crypto.hpp"
#include "store/records.hpp"

namespace maratang::api {

// True when `who` may read the record and the casebook of game `g`.
bool may_read_game(const core::token_claims& who, const store::game_record& g);

// True when `who` may see the private-room games in `account_id`'s game list (the public ones are
// listed to every authenticated account).
bool may_list_private_games(const core::token_claims& who, std::int64_t account_id);

}  // namespace maratang::api
