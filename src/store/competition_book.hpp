// The competition state every backend shares: applies a stored game's competition input to the
// players' ratings and to the leaderboards (through the backend's own rows, in the record's
// transaction), and answers leaderboard queries from an in-memory order-statistics index per
// (board, season), loaded from the rows on first use and kept in step with every write.
// The index is a cache of committed-or-open rows: any rollback drops the boards the transaction
// touched, which reload on their next use. Owned by one backend: not thread-safe (the worker
// thread only). With several nodes, Redis sorted sets answer the board reads instead
// (redis/redis_boards.hpp), fed by on_commit.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "store/records.hpp"

namespace maratang::store {

// One leaderboard row as stored: sort_key orders the board (lower first: the value, negated for
// a board where higher is better), then reached_ms (earlier first), then account_id.
struct board_row {
  std::string board;
  std::int64_t season = 0;
  std::int64_t account_id = 0;
  double value = 0;
  double sort_key = 0;
  std::int64_t reached_ms = 0;
};

// What one commit changed on the boards, for a cache kept outside the backend (with several
// nodes, the Redis sorted sets: store/redis_boards.hpp). `rows`: every entry written by the
// transaction, in order. `stale`: boards whose writes of this transaction (or of one rolled back
// since the last commit) were dropped by a rollback to a savepoint or of a failed write: the
// book cannot tell which of them the database kept, so such a board must be re-read whole.
struct board_changes {
  std::vector<board_row> rows;
  std::vector<std::pair<std::string, std::int64_t>> stale;  // (board, season)
};
// Called on the backend's thread right after a commit that changed something (never inside a
// transaction); must not block.
using board_listener = std::function<void(board_changes)>;

// The rows a backend keeps for competition, read and written in its open transaction.
class competition_rows {
 public:
  virtual ~competition_rows() = default;
  virtual std::optional<rating_record> load_rating(std::int64_t account_id,
                                                   const std::string& key) = 0;
  virtual void save_rating(const rating_record& r) = 0;
  virtual void save_rating_change(const rating_change& c) = 0;
  virtual std::optional<board_row> load_entry(const std::string& board, std::int64_t season,
                                              std::int64_t account_id) = 0;
  virtual void save_entry(const board_row& e) = 0;
  // Calls `each` with every row of one board's season, in any order.
  virtual void load_board(const std::string& board, std::int64_t season,
                          const std::function<void(const board_row&)>& each) = 0;
};

class competition_book {
 public:
  // Glicko-2 and Weng-Lin constants: see competition/glicko2.hpp, competition/weng_lin.hpp.
  explicit competition_book(competition_rows& rows);
  ~competition_book();
  competition_book(const competition_book&) = delete;
  competition_book& operator=(const competition_book&) = delete;

  // Applies g.competition: the rated teams' new ratings (with the idle growth of each player's
  // uncertainty first), one rating_change per player, the "rating.<key>" board entry of the
  // game's season, and the score updates. Call it once, right after the record was stored, in
  // the same transaction. Throws store_error as the rows do.
  void apply(const game_record& g);

  leaderboard_page top(const std::string& board, std::int64_t season, std::int64_t offset,
                       int limit);
  std::optional<leaderboard_entry> rank(const std::string& board, std::int64_t season,
                                        std::int64_t account_id);
  leaderboard_page around(const std::string& board, std::int64_t season, std::int64_t account_id,
                          int radius);

  // Every row of one board's season as stored now (not the index: with several nodes the index
  // may miss what other nodes wrote since it was loaded).
  std::vector<board_row> rows_of(const std::string& board, std::int64_t season);

  // Tells `fn` what each commit changed from now on (board_changes); empty: nobody.
  void on_commit(board_listener fn);

  // Transaction events from the backend: commit keeps the index; a rollback (whole, to a
  // savepoint, or of a failed write) drops every board the transaction touched.
  void committed();
  void rolled_back();
  // How many boards are loaded (tests).
  std::size_t loaded_boards() const;

 private:
  struct index;
  struct state;
  competition_rows& rows_;
  std::unique_ptr<state> st_;
};

}  // namespace maratang::store
