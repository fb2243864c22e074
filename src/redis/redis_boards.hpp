// Leaderboards in Redis sorted sets, for several nodes sharing one database: a decorator of
// competition::competition_store whose board reads (top, rank, around) are answered by Redis,
// kept by every node, while ratings, rating history and the list of seasons stay with the
// database (`db`, the node's own store). Chosen by the composition root when redis.url is set.
//
// Why: each node's store answers board reads from an index loaded once from the database and then
// fed by that node's own games only (store/competition_book.hpp), so a board read through node B
// misses what node A's games wrote since B loaded it. Here every node writes the entries its
// commits changed (store::board_changes) to Redis right after the commit, and every node reads
// the same sets.
//
// Encoding (docs/ARCHITECTURE.md, "Leaderboards in Redis"), per board and season:
//   Z  sorted set: score = sort_key (lower first, as the book), member = the 16 hex digits of
//      reached_ms, the 16 of account_id (each as uint64 with the sign bit flipped, so that byte
//      order is numeric order), then the value (%.17g). Redis orders equal scores by member bytes,
//      so (score, member) orders as the book's (sort_key, reached_ms, account_id); the value
//      after the unique (reached_ms, account) prefix never decides anything.
//   H  hash: account id -> its member (a rank or around-me lookup by account).
//   OK marker: the set is complete (rebuilt from the database since Redis last lost it).
//   RB lock: one node rebuilding (SET NX PX).
// Writes are one Lua script per board per commit (atomic): an entry replaces the account's
// stored one unless that one was reached later (a compare on reached_ms, the game's end time), so
// a rebuild merging the database's rows cannot undo a newer entry another node wrote meanwhile,
// and late writes cannot undo newer ones.
//
// Failures: a read that finds no marker takes the lock, merges every row of the board from the
// database (chunks of rebuild_chunk entries) and sets the marker if it still holds the lock (a
// FLUSHALL meanwhile drops it: no marker then), then reads again. While Redis does not answer,
// the lock is elsewhere or the rebuild fails, reads are answered by `db` (the node's own index,
// as without Redis). A write that fails marks the board: the node deletes its marker before its
// next Redis command, so the board is rebuilt from the database. The marker expires after
// complete_ttl_ms, which bounds what a node that died between its commit and its write can hide.
//
// Thread-safety: every method may be called from any thread; completions run on the Redis
// client's strand, or on `db`'s thread for the reads it answers.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "competition/competition_store.hpp"
#include "store/competition_book.hpp"

namespace maratang::redis {

class client;

struct boards_options {
  std::string prefix = "lb";                 // keys: <prefix>:{<board>|<season>}:z, :h, :ok, :rb
  std::size_t rebuild_chunk = 2000;          // entries per rebuild script
  int rebuild_lock_ms = 120'000;             // how long one node may rebuild a board alone
  std::int64_t complete_ttl_ms = 3'600'000;  // the marker's life (0: no expiry)
};

// Every row of a board's season as the database holds it now (store::batched_store::board_rows).
using board_loader = std::function<void(std::string board, std::int64_t season,
                                        store::reply<std::vector<store::board_row>> done)>;

struct boards_stats {
  std::atomic<std::uint64_t> redis_reads{0};     // reads answered by Redis
  std::atomic<std::uint64_t> fallback_reads{0};  // reads answered by the database instead
  std::atomic<std::uint64_t> rebuilds{0};        // boards rebuilt from the database
  std::atomic<std::uint64_t> writes{0};          // entries written
  std::atomic<std::uint64_t> failed_writes{0};   // entries whose write failed (board marked)
};

class redis_boards final : public competition::competition_store {
 public:
  // `db` and `load` must outlive this object and every completion it hands out.
  redis_boards(std::shared_ptr<client> c, competition::competition_store& db, board_loader load,
               boards_options o = {});
  ~redis_boards() override;
  redis_boards(const redis_boards&) = delete;
  redis_boards& operator=(const redis_boards&) = delete;

  // Writes what a commit changed (store::board_listener): the rows, and drops the marker of the
  // stale boards. Call after the commit, from any thread; does not wait.
  void apply(store::board_changes c);
  // As apply, and `done` is told when Redis has answered every write (false: some failed).
  void apply(store::board_changes c, std::function<void(bool)> done);

  // competition::competition_store
  void ratings_of(std::int64_t account_id,
                  store::reply<std::vector<store::rating_record>> done) override;
  void rating_history(std::int64_t account_id, std::string key, std::int64_t before_ms, int limit,
                      store::reply<std::vector<store::rating_change>> done) override;
  void leaderboard_top(std::string board, std::int64_t season, std::int64_t offset, int limit,
                       store::reply<store::leaderboard_page> done) override;
  void leaderboard_rank(std::string board, std::int64_t season, std::int64_t account_id,
                        store::reply<std::optional<store::leaderboard_entry>> done) override;
  void leaderboard_around(std::string board, std::int64_t season, std::int64_t account_id,
                          int radius, store::reply<store::leaderboard_page> done) override;
  void leaderboard_seasons(std::string board,
                           store::reply<std::vector<std::int64_t>> done) override;

  const boards_stats& stats() const noexcept;

  // The encoding, for tests and the benchmark's fill: the member of an entry, and the arguments
  // of the write script for `rows` (all of one board and season): EVAL <script> 2 <z> <h> ...
  static std::string member_of(const store::board_row& r);
  static std::vector<std::string> write_command(const boards_options& o,
                                                const std::vector<store::board_row>& rows,
                                                std::size_t first, std::size_t count);
  // Sets the marker of a board's season (the benchmark's fill, which writes every row itself).
  static std::vector<std::string> complete_command(const boards_options& o,
                                                   const std::string& board, std::int64_t season);

  struct state;

 private:
  std::shared_ptr<state> st_;  // shared with the commands in flight
};

}  // namespace maratang::redis
