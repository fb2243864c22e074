// The ports rooms write to: finished games' records (with what they add to the players'
// statistics) and the action/chat log. Owned here, by the lobby (room.cpp writes; the gateway and
// the Mystery casebook read). Implemented by
// store::batched_store (over the memory, SQLite or PostgreSQL backend); one contract suite checks
// every implementation. Completions: see store/reply.hpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/records.hpp"
#include "store/reply.hpp"

namespace maratang::lobby {

class game_store {
 public:
  virtual ~game_store() = default;
  // Stores a finished game's record. Nobody waits for it, and it must not be lost: the store
  // keeps it and tries again (with backoff) until it commits; one still failing when the store
  // stops is given up, logged and counted (as is one refused because the store's queue is full).
  // A second record with the same id is dropped. The record's outcomes (g.outcomes, see
  // lobby/game_stats.hpp) are added to its players' statistics in the same transaction as the
  // record: a record stored twice (a retry of one that did commit) counts once.
  virtual void insert_game(store::game_record g) = 0;
  virtual void find_game(std::string id, store::reply<std::optional<store::game_record>> done) = 0;
  // The account's games, newest (ended_ms) first, at most `limit`, ended strictly before
  // `before_ms` when it is > 0; private-room games only when `include_private`. Nothing when
  // limit <= 0. (Paging by ended_ms alone skips games that ended in the same millisecond as the
  // last one of the previous page.)
  virtual void games_of(std::int64_t account_id, int limit, std::int64_t before_ms,
                        bool include_private,
                        store::reply<std::vector<store::game_record>> done) = 0;
  // The account's statistics: one entry per mode it has played, by mode name (nothing for an
  // account that never played, or that does not exist). Private-room games count too. What the
  // numbers mean is decided by lobby/game_stats.hpp.
  virtual void stats_of(std::int64_t account_id,
                        store::reply<std::vector<store::mode_stats>> done) = 0;
};

class action_log {
 public:
  virtual ~action_log() = default;
  // Appends one entry. Kept and tried again until it commits, as insert_game; an entry whose
  // (stream, seq) exists already is dropped (so a retry never doubles a line).
  virtual void append_log(store::log_entry e) = 0;
  // A stream's entries with seq > after_seq, in seq order, at most `limit`.
  virtual void read_log(std::string stream, std::int64_t after_seq, int limit,
                        store::reply<std::vector<store::log_entry>> done) = 0;
};

}  // namespace maratang::lobby
