// The in-memory backend: std::map tables, for tests and `storage.backend=memory`. Nothing
// survives the process. Behaves exactly like the sqlite backend under the contract suite,
// including transaction and savepoint semantics. Not thread-safe (see store::backend).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "store/backend.hpp"
#include "store/competition_book.hpp"

namespace maratang::store {

class memory_backend : public backend, private competition_rows {
 public:
  memory_backend() : book_(*this) {}

  std::string name() const override { return "memory"; }

  int schema_version() override { return version_; }
  int latest_schema_version() const override { return 1; }
  void migrate() override { version_ = latest_schema_version(); }

  // Transactions copy the whole state: simple, and fast enough for tests. As in SQLite, a
  // savepoint outside a transaction starts one, and releasing that outermost savepoint commits;
  // rollback() outside a transaction does nothing.
  void begin() override;
  void commit() override;
  void rollback() override;
  void savepoint() override;
  void release() override;
  void rollback_to() override;
  bool ping() override { return true; }

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

  // Everything a transaction can roll back, ids counters included (as SQLite's sqlite_sequence).
  struct state {
    std::map<std::int64_t, account> accounts;
    // Unique indexes; empty values are not indexed (SQLite stores them as NULL).
    std::map<std::string, std::int64_t> by_device;
    std::map<std::string, std::int64_t> by_email;
    std::map<std::string, std::int64_t> by_nickname_key;
    std::int64_t last_account_id = 0;
    std::map<std::string, session_record> sessions;
    std::map<std::string, game_record> games;
    std::map<std::pair<std::int64_t, std::string>, mode_stats> stats;  // (account, mode)
    std::map<std::string, casebook_record> casebooks;
    std::map<std::string, room_snapshot_record> room_snapshots;
    std::map<std::pair<std::string, std::int64_t>, log_entry> log;
    std::map<std::int64_t, event_record> events;
    std::int64_t last_event_id = 0;
    std::map<std::int64_t, trace_record> traces;
    std::map<std::pair<std::int64_t, std::int64_t>, int> trace_votes;  // (trace, account) -> value
    std::map<std::pair<std::int64_t, std::int64_t>, trace_report>
        trace_reports;  // (trace, account)
    std::int64_t last_trace_id = 0;
    std::map<std::int64_t, audit_entry> audit;
    std::map<std::int64_t, ban_record> bans;
    std::map<std::pair<std::int64_t, std::string>, rating_record> ratings;  // (account, key)
    // (account, key, ended_ms, game id)
    std::map<std::tuple<std::int64_t, std::string, std::int64_t, std::string>, rating_change>
        rating_changes;
    std::map<std::tuple<std::string, std::int64_t, std::int64_t>, board_row>
        board;  // (board, season, account)
  };

  std::optional<account> find_by_key(const std::map<std::string, std::int64_t>& index,
                                     const std::string& key) const;

  state state_;
  std::optional<state> tx_start_;   // set while a transaction is open: the state at its start
  bool tx_from_savepoint_ = false;  // the open transaction was started by savepoint()
  std::vector<state> savepoints_;   // the state at each open savepoint, innermost last
  int version_ = 0;
  competition_book book_;
};

}  // namespace maratang::store
