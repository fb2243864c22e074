#include "lobby/game_stats.hpp"

#include <spdlog/spdlog.h>
#include <algorithm>
#include <boost/json/object.hpp>
#include <exception>
#include <set>

namespace maratang::lobby {

std::vector<store::player_outcome> game_outcomes(const game_end& end,
                                                 const boost::json::object& record,
                                                 const mode_factory* mode) {
  std::vector<store::player_outcome> out;  // in seat order
  std::vector<store::player_outcome> stayed;
  std::vector<std::size_t> stayed_at;  // where each of `stayed` goes in `out`
  std::set<player_id> seen;
  for (player_id p : end.players) {
    if (!seen.insert(p).second) continue;
    store::player_outcome o;
    o.account_id = p;
    const auto left = end.left.find(p);
    const bool has_left = left != end.left.end();
    const epoch_ms until = has_left ? std::min(left->second, end.ended_ms) : end.ended_ms;
    o.time_played_ms = std::max<epoch_ms>(0, until - end.started_ms);
    o.result = end.aborted || has_left ? store::game_result::abandoned : store::game_result::drawn;
    if (o.result != store::game_result::abandoned) {
      stayed.push_back(o);
      stayed_at.push_back(out.size());
    }
    out.push_back(std::move(o));
  }
  if (!mode || stayed.empty()) return out;
  try {
    mode->score(record, stayed);
  } catch (const std::exception& e) {
    spdlog::error(
        "mode {}: scoring a game for the statistics threw: {}; its players count as drawn",
        mode->name(), e.what());
    return out;
  }
  for (std::size_t i = 0; i < stayed.size(); ++i) {
    store::player_outcome& o = out[stayed_at[i]];
    // A score decides the result and the tallies; who and how long stay the room's.
    o.result = stayed[i].result;
    o.tallies = std::move(stayed[i].tallies);
  }
  return out;
}

}  // namespace maratang::lobby
