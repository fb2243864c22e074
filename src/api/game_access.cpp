#include "api/game_access.hpp"

#include <algorithm>

namespace maratang::api {

bool may_read_game(const core::token_claims& who, const store::game_record& g) {
  if (!g.is_private) return who.account_id > 0;
  return std::find(g.players.begin(), g.players.end(), who.account_id) != g.players.end();
}

bool may_list_private_games(const core::token_claims& who, std::int64_t account_id) {
  return who.account_id > 0 && who.account_id == account_id;
}

}  // namespace maratang::api
