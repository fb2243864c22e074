// The PostgreSQL backend: one libpq connection, owned (like every backend) by the storage worker's
// thread, which batches operations into transactions (group commit) — so no network thread ever
// waits on the database. Versioned migrations as SQLite's (the same version numbers), prepared
// statements cached per connection, and reconnection by itself: a lost connection fails the
// operations that were using it (the worker answers them `unavailable`, or keeps and retries the
// writes that must not be lost), and the next operation reconnects, at most once per backoff
// step (doubling up to reconnect_max_ms), so that a database that is down costs a request at most
// one connect attempt, bounded by connect_timeout_s. Not thread-safe (see store::backend).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/backend.hpp"
#include "store/competition_book.hpp"

struct pg_conn;
struct pg_result;

namespace maratang::store {

struct pg_options {
  int connect_timeout_s = 3;         // a connection attempt gives up after this long
  int statement_timeout_ms = 10000;  // a statement is cancelled by the server after this long
  int reconnect_first_ms = 100;      // after a failed connect, the next try waits this long,
  int reconnect_max_ms = 5000;       // doubling, at most this long
  // The schema (namespace) the tables live in; created when missing. Empty: "public". Tests use
  // one per test case.
  std::string schema;
};

class pg_backend : public backend, private competition_rows {
 public:
  // Connects to `url` (postgresql://user:password@host:port/db?...). Does not migrate. Throws
  // store_error (with the URL's password masked) when the server cannot be reached.
  static std::unique_ptr<pg_backend> open(const std::string& url, pg_options opts = {});
  ~pg_backend() override;
  pg_backend(const pg_backend&) = delete;
  pg_backend& operator=(const pg_backend&) = delete;

  std::string name() const override { return "postgres"; }
  bool savepoints_cost_round_trips() const override { return true; }

  int schema_version() override;
  int latest_schema_version() const override;
  // Throws store_error when the database is at a newer version than this build knows. Two
  // servers migrating at once apply each migration once (an advisory lock).
  void migrate() override;

  void begin() override;
  void commit() override;
  void rollback() override;
  void savepoint() override;
  void release() override;
  void rollback_to() override;
  bool ping() override;

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
  void insert_traces(std::vector<trace_record>& ts) override;
  std::vector<trace_record> list_traces(const trace_query& q) override;
  std::optional<trace_record> find_trace(std::int64_t id) override;
  status appraise_trace(std::int64_t id, std::int64_t account_id, int value) override;
  status report_trace(const trace_report& r, std::int64_t hide_after) override;
  std::int64_t trim_traces(std::int64_t created_before_ms, std::int64_t keep_per_kind) override;
  std::vector<trace_record> reported_traces(const moderation_query& q) override;
  std::vector<trace_report> reports_of(std::int64_t trace_id) override;
  status restore_trace(std::int64_t id) override;
  status delete_trace(std::int64_t id) override;

  // A statement's parameter in text form; nullopt is SQL NULL.
  using param = std::optional<std::string>;
  class rows;

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
  // The record, its players and statistics in one statement (see insert_game).
  status insert_game_row(const game_record& g);
  // Runs `sql` (a COPY ... FROM STDIN) with `data` in COPY's text format and returns its result,
  // which the caller frees (an error result included); throws store_error when the COPY did not
  // start or the connection failed under it (the connection is dropped).
  pg_result* copy_in(const char* op, const char* sql, const std::string& data);
  // append_logs for a batch some of whose rows exist already: INSERT ... ON CONFLICT DO NOTHING.
  std::int64_t append_logs_skipping(const std::vector<log_entry>& es);
  pg_backend(std::string url, pg_options opts);

  // Makes sure a connection is up (reconnecting, within the backoff) or throws store_error.
  void ensure_connected();
  void connect_now();
  void drop_connection();
  // Runs one statement (prepared once per connection) and returns its rows; throws store_error
  // naming `op` on any error.
  rows run(const char* op, const char* sql, const std::vector<param>& params = {});
  // Runs `sql` once for each parameter list, all in one pipeline (one round trip; one implicit
  // transaction when none is open): the rows of each, in order. Throws store_error naming `op`
  // when any run fails (none of them then counts: the transaction is aborted).
  std::vector<rows> run_pipelined(const char* op, const char* sql,
                                  const std::vector<std::vector<param>>& each);
  // The name of `sql` prepared on this connection (prepared now when it is not yet).
  const std::string& prepared(const char* op, const char* sql, std::size_t params);
  // Returns `r` when it succeeded; else frees it and throws store_error naming `op` (dropping the
  // connection first when it is lost).
  pg_result* checked(pg_result* r, const char* op);
  // Runs a statement without parameters and without preparing it (transaction control, DDL).
  void exec(const char* op, const std::string& sql);
  std::optional<account> find_account_where(const char* op, const char* sql,
                                            const std::string& key);

  std::string url_;
  pg_options opts_;
  pg_conn* conn_ = nullptr;
  std::map<std::string, std::string, std::less<>> prepared_;  // SQL text -> statement name
  bool in_tx_ = false;
  bool tx_from_savepoint_ = false;
  int savepoints_ = 0;
  std::chrono::steady_clock::time_point next_connect_{};
  int backoff_ms_ = 0;
  competition_book book_{*this};
};

}  // namespace maratang::store
