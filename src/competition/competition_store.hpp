// The port through which the API (and, later, the matchmaker) reads ratings and leaderboards.
// Ratings and board entries are written only by lobby::game_store::insert_game, from the game
// record's competition input (store/records.hpp), in the record's own transaction. Implemented by
// store::batched_store over the memory, SQLite and PostgreSQL backends (one contract suite);
// with several nodes, redis::redis_boards serves the board reads from Redis sorted sets (README
// "Competition").
// Completions: see store/reply.hpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/records.hpp"
#include "store/reply.hpp"

namespace maratang::competition {

class competition_store {
 public:
  virtual ~competition_store() = default;
  // The account's ratings, one per rating key it was rated under, by key: the full model
  // (mu, sigma, volatility, games, last game) and the display rating. Uncertainty is as of the
  // last rated game: growth for idle periods since then is applied at the next game (a reader
  // may apply it itself with competition::glicko2::idle / weng_lin::idle).
  virtual void ratings_of(std::int64_t account_id,
                          store::reply<std::vector<store::rating_record>> done) = 0;
  // What each game changed in the account's rating under `key`, newest first, ended strictly
  // before `before_ms` when > 0, at most `limit` (nothing when limit <= 0).
  virtual void rating_history(std::int64_t account_id, std::string key, std::int64_t before_ms,
                              int limit, store::reply<std::vector<store::rating_change>> done) = 0;
  // The entries of one board's season ranked offset+1 .. offset+limit, and how many it has.
  virtual void leaderboard_top(std::string board, std::int64_t season, std::int64_t offset,
                               int limit, store::reply<store::leaderboard_page> done) = 0;
  // The account's entry and rank (nullopt when it has none on that board in that season).
  virtual void leaderboard_rank(std::string board, std::int64_t season, std::int64_t account_id,
                                store::reply<std::optional<store::leaderboard_entry>> done) = 0;
  // The entries ranked up to `radius` above and below the account's (no entries when it has
  // none), and how many the board has.
  virtual void leaderboard_around(std::string board, std::int64_t season, std::int64_t account_id,
                                  int radius, store::reply<store::leaderboard_page> done) = 0;
  // The seasons the board has entries in, newest first: the current one and the archived ones.
  virtual void leaderboard_seasons(std::string board,
                                   store::reply<std::vector<std::int64_t>> done) = 0;
};

}  // namespace maratang::competition
