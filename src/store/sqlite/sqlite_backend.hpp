// The SQLite backend: one connection to one database file, in WAL mode, with versioned
// migrations and cached prepared statements. Not thread-safe (see store::backend): the worker
// thread owns it; it may be created on another thread and handed over.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/backend.hpp"
#include "store/competition_book.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace maratang::store {

struct sqlite_options {
  bool full_sync = true;       // synchronous=FULL; NORMAL when false (may lose the last commits)
  int busy_timeout_ms = 5000;  // how long a statement waits for another connection's lock
  // The database file's size at most, in bytes (0: no limit). A write that would grow it further
  // fails as a full disk does (SQLITE_FULL); see set_max_size.
  std::int64_t max_size_bytes = 0;
  // The action log's bulk writes wait in a table of their own, in arrival order, until this many
  // have come (or something reads the log); then they move into the keyed table at once, sorted.
  // More is fewer pages written per line with many games going, and a longer merge now and then.
  std::int64_t log_merge_rows = 50'000;
};

class sqlite_backend : public backend, private competition_rows {
 public:
  // Opens (creating it if missing) the database at `path` and configures the connection. Does
  // not migrate. Throws store_error, naming the path, when the file cannot be opened or is not
  // a database.
  static std::unique_ptr<sqlite_backend> open(const std::string& path, sqlite_options opts = {});
  ~sqlite_backend() override;
  sqlite_backend(const sqlite_backend&) = delete;
  sqlite_backend& operator=(const sqlite_backend&) = delete;

  std::string name() const override { return "sqlite"; }

  int schema_version() override;
  int latest_schema_version() const override;
  // Throws store_error when the database is at a newer version than this build knows.
  void migrate() override;
  // Applies the missing migrations up to `version` only (for tests and tools); the same rules.
  void migrate_to(int version);

  void begin() override;
  void commit() override;
  // Does nothing when no transaction is open (SQLite may already have rolled it back itself).
  void rollback() override;
  void savepoint() override;
  void release() override;
  void rollback_to() override;
  bool ping() override;
  // Caps the database file at `bytes` (rounded up to whole pages; 0: no cap beyond SQLite's own).
  // Lowering it below the current size stops growth; raising it lets writes that failed succeed.
  // Deleting may need a few pages of its own: trimming runs with a small reserve beyond the cap,
  // so that a full database can still be cleaned up.
  void set_max_size(std::int64_t bytes);
  // The database's size now, in bytes (pages in use and free).
  std::int64_t size_bytes();

  status create_account(account& a) override;
  std::optional<account> find_account(std::int64_t id) override;
  std::optional<account> find_account_by_device(const std::string& device_id) override;
  std::optional<account> find_account_by_email(const std::string& email) override;
  std::optional<account> find_account_by_nickname_key(const std::string& key) override;
  status set_nickname(std::int64_t account_id, const std::string& nickname,
                      const std::string& key) override;
  status set_admin(std::int64_t account_id, bool is_admin) override;
  status set_ban(std::int64_t account_id, std::int64_t until_ms,
                 const std::string& reason) override;
  std::vector<ban_record> bans(std::int64_t now_ms) override;
  void append_audit(audit_entry& e) override;
  std::vector<audit_entry> read_audit(std::int64_t before_id, int limit) override;

  status create_session(const session_record& s) override;
  std::optional<session_record> find_session(const std::string& id) override;
  status rotate_refresh(const std::string& id, const std::string& old_hash,
                        const std::string& new_hash, std::int64_t new_expires_ms) override;
  status revoke_session(const std::string& id) override;
  std::vector<std::string> revoked_sessions(std::int64_t now_ms) override;

  status insert_game(const game_record& g) override;
  std::optional<game_record> find_game(const std::string& id) override;
  void put_casebook(const casebook_record& c) override;
  std::optional<casebook_record> find_casebook(const std::string& game_id) override;
  void put_room_snapshot(const room_snapshot_record& s) override;
  void delete_room_snapshot(const std::string& room_id, const std::string& node,
                            std::int64_t upto_seq) override;
  std::vector<room_snapshot_record> room_snapshots(const std::string& node) override;
  std::vector<room_snapshot_record> claim_room_snapshots(const std::string& from,
                                                         const std::string& to) override;
  std::vector<game_record> games_of(std::int64_t account_id, int limit, std::int64_t before_ms,
                                    bool include_private) override;
  std::vector<mode_stats> stats_of(std::int64_t account_id) override;

  std::vector<rating_record> ratings_of(std::int64_t account_id) override;
  std::vector<rating_change> rating_history(std::int64_t account_id, const std::string& key,
                                            std::int64_t before_ms, int limit) override;
  leaderboard_page leaderboard_top(const std::string& board, std::int64_t season,
                                   std::int64_t offset, int limit) override;
  std::optional<leaderboard_entry> leaderboard_rank(const std::string& board, std::int64_t season,
                                                    std::int64_t account_id) override;
  leaderboard_page leaderboard_around(const std::string& board, std::int64_t season,
                                      std::int64_t account_id, int radius) override;
  std::vector<std::int64_t> leaderboard_seasons(const std::string& board) override;
  std::vector<board_row> board_rows(const std::string& board, std::int64_t season) override {
    return book_.rows_of(board, season);
  }
  void watch_boards(board_listener fn) override { book_.on_commit(std::move(fn)); }

  status append_log(const log_entry& e) override;
  std::int64_t append_logs(const std::vector<log_entry>& es) override;
  std::vector<log_entry> read_log(const std::string& stream, std::int64_t after_seq,
                                  int limit) override;

  void append_event(event_record& e) override;
  void append_events(const std::vector<event_record>& es) override;
  std::vector<event_record> read_events(std::int64_t after_id, int limit) override;

  void insert_trace(trace_record& t) override;
  std::vector<trace_record> list_traces(const trace_query& q) override;
  std::optional<trace_record> find_trace(std::int64_t id) override;
  status appraise_trace(std::int64_t id, std::int64_t account_id, int value) override;
  status report_trace(const trace_report& r, std::int64_t hide_after) override;
  std::int64_t trim_traces(std::int64_t created_before_ms, std::int64_t keep_per_kind) override;
  std::vector<trace_record> reported_traces(const moderation_query& q) override;
  std::vector<trace_report> reports_of(std::int64_t trace_id) override;
  status restore_trace(std::int64_t id) override;
  status delete_trace(std::int64_t id) override;

 private:
  // competition_rows
  std::optional<rating_record> load_rating(std::int64_t account_id,
                                           const std::string& key) override;
  void save_rating(const rating_record& r) override;
  void save_rating_change(const rating_change& c) override;
  std::optional<board_row> load_entry(const std::string& board, std::int64_t season,
                                      std::int64_t account_id) override;
  void save_entry(const board_row& e) override;
  void load_board(const std::string& board, std::int64_t season,
                  const std::function<void(const board_row&)>& each) override;
  // Sets SQLite's max_page_count (it never goes below the current size).
  void set_max_pages(std::int64_t pages);
  void restore_cap();
  explicit sqlite_backend(sqlite3* db) : db_(db), book_(*this) {}

  // The cached statement for `sql`, prepared on first use. Throws store_error naming `op`.
  sqlite3_stmt* prepare(std::string_view sql, const char* op);
  // Runs one statement that returns no rows (transaction control, DDL). Throws store_error.
  void exec(const char* sql, const char* op);
  // The action log's recent lines (see append_logs in the .cpp).
  bool recent_log_empty();
  void merge_recent_log();
  std::optional<account> find_account_where(const char* sql, const std::string& key,
                                            const char* op);

  sqlite3* db_;
  std::int64_t max_pages_ = 0;  // the size cap in pages (0: none)
  bool cap_raised_ = false;     // trimming's reserve is in use until the transaction ends
  std::int64_t log_merge_rows_ = sqlite_options{}.log_merge_rows;
  std::int64_t recent_log_rows_ = 0;  // lines in action_log_recent, about (see append_logs)
  std::map<std::string, sqlite3_stmt*, std::less<>> stmts_;  // SQL text -> prepared statement
  competition_book book_;
};

}  // namespace maratang::store
