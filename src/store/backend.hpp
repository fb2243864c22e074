// The storage contract: what Maratang keeps on disk, as one synchronous interface that every
// backend (memory, sqlite, later postgres) implements and one contract test suite checks.
// Callers never use a backend directly: they go through store::worker, which owns it and calls it
// from its own thread only. A backend is therefore not thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/competition_book.hpp"
#include "store/records.hpp"

namespace maratang::store {

class backend {
 public:
  virtual ~backend() = default;

  // The backend's name, e.g. "sqlite".
  virtual std::string name() const = 0;

  // Schema. migrate() brings the schema to the newest version, applying each missing migration in
  // order, each in its own transaction; running it again is a no-op.
  virtual int schema_version() = 0;
  virtual int latest_schema_version() const = 0;
  virtual void migrate() = 0;

  // Transactions. The worker wraps each batch in begin()/commit(); on a store_error it calls
  // rollback(). savepoint()/release()/rollback_to() isolate one operation inside a batch.
  virtual void begin() = 0;
  virtual void commit() = 0;
  virtual void rollback() = 0;
  virtual void savepoint() = 0;
  virtual void release() = 0;
  virtual void rollback_to() = 0;
  // True when a savepoint costs a round trip to a server (PostgreSQL). The worker then runs a
  // batch without them first, and only if an operation fails runs it again with one per
  // operation, so that a batch of successes costs no savepoint at all.
  virtual bool savepoints_cost_round_trips() const { return false; }
  // True when the backend answers (for GET /ready).
  virtual bool ping() = 0;

  // Accounts. create_account assigns a.id; conflict when the device id or email is taken.
  virtual status create_account(account& a) = 0;
  virtual std::optional<account> find_account(std::int64_t id) = 0;
  virtual std::optional<account> find_account_by_device(const std::string& device_id) = 0;
  virtual std::optional<account> find_account_by_email(const std::string& email) = 0;
  virtual std::optional<account> find_account_by_nickname_key(const std::string& key) = 0;
  // Sets both nickname fields; conflict when another account holds the key, not_found when no
  // such account. Setting the key an account already holds is ok.
  virtual status set_nickname(std::int64_t account_id, const std::string& nickname,
                              const std::string& key) = 0;
  // Grants or takes back the admin flag: ok (also when it already had that value), not_found.
  virtual status set_admin(std::int64_t account_id, bool is_admin) = 0;

  // Bans. set_ban: the account is banned until `until_ms`, for `reason` (replacing an earlier
  // ban); until_ms 0 lifts it. ok (also when there was nothing to lift), or not_found when no
  // such account. bans: the bans that end after now_ms, by account id (loaded at start).
  virtual status set_ban(std::int64_t account_id, std::int64_t until_ms,
                         const std::string& reason) = 0;
  virtual std::vector<ban_record> bans(std::int64_t now_ms) = 0;

  // The admin audit log. append_audit assigns e.id. read_audit: newest first, at most `limit`,
  // ids below `before_id` when it is > 0.
  virtual void append_audit(audit_entry& e) = 0;
  virtual std::vector<audit_entry> read_audit(std::int64_t before_id, int limit) = 0;

  // Sessions. create_session: conflict when the id exists.
  virtual status create_session(const session_record& s) = 0;
  virtual std::optional<session_record> find_session(const std::string& id) = 0;
  // Replaces the refresh hash iff the stored one equals old_hash and the session is not revoked:
  // ok; conflict when the hash differs or the session is revoked; not_found when no such session.
  virtual status rotate_refresh(const std::string& id, const std::string& old_hash,
                                const std::string& new_hash, std::int64_t new_expires_ms) = 0;
  // Marks a session revoked (idempotent): ok, or not_found.
  virtual status revoke_session(const std::string& id) = 0;
  // Ids of revoked sessions whose expiry is after now_ms: the revocation list loaded at start.
  virtual std::vector<std::string> revoked_sessions(std::int64_t now_ms) = 0;

  // Game records. insert_game: conflict when the id exists (nothing is written); otherwise the
  // record, its players and its outcomes (added to the players' statistics in g.mode) are written
  // together, all or nothing.
  virtual status insert_game(const game_record& g) = 0;
  virtual std::optional<game_record> find_game(const std::string& id) = 0;
  // The account's games, newest (ended_ms) first, at most `limit`, ended strictly before
  // `before_ms` when it is > 0; private-room games only when `include_private`.
  virtual std::vector<game_record> games_of(std::int64_t account_id, int limit,
                                            std::int64_t before_ms, bool include_private) = 0;
  // The account's statistics: one entry per mode it has an outcome in, ordered by mode name;
  // private-room games count too. Tallies hold only keys counted at least once.
  virtual std::vector<mode_stats> stats_of(std::int64_t account_id) = 0;

  // Competition (README "Competition"; applied to ratings and boards by insert_game, see
  // game_record::competition). ratings_of: the account's ratings, by key. rating_history: its
  // changes under `key`, newest first, ended strictly before `before_ms` when it is > 0, at most
  // `limit`. leaderboard_top: the board's entries of a season ranked offset+1.., at most `limit`.
  // leaderboard_rank: the account's entry (nullopt when it has none). leaderboard_around: the
  // entries ranked up to `radius` above and below the account's (nothing when it has none).
  // leaderboard_seasons: the seasons the board has entries in, newest first.
  virtual std::vector<rating_record> ratings_of(std::int64_t account_id) = 0;
  virtual std::vector<rating_change> rating_history(std::int64_t account_id, const std::string& key,
                                                    std::int64_t before_ms, int limit) = 0;
  virtual leaderboard_page leaderboard_top(const std::string& board, std::int64_t season,
                                           std::int64_t offset, int limit) = 0;
  virtual std::optional<leaderboard_entry> leaderboard_rank(const std::string& board,
                                                            std::int64_t season,
                                                            std::int64_t account_id) = 0;
  virtual leaderboard_page leaderboard_around(const std::string& board, std::int64_t season,
                                              std::int64_t account_id, int radius) = 0;
  virtual std::vector<std::int64_t> leaderboard_seasons(const std::string& board) = 0;
  // Every entry of one board's season as the database holds it now (a cache's rebuild: see
  // store/redis_boards.hpp), in any order.
  virtual std::vector<board_row> board_rows(const std::string& board, std::int64_t season) = 0;
  // Tells `fn` what each later commit changed on the boards (competition_book::on_commit).
  virtual void watch_boards(board_listener fn) = 0;

  // Casebooks. put_casebook inserts or replaces the game's casebook.
  virtual void put_casebook(const casebook_record& c) = 0;
  virtual std::optional<casebook_record> find_casebook(const std::string& game_id) = 0;

  // Room snapshots (crash recovery). put_room_snapshot inserts the room's snapshot, or replaces
  // the stored one when s.seq is greater and s.node owns it (an older or equal seq, or another
  // node's write, changes nothing: a node whose rooms were claimed cannot write them back).
  // delete_room_snapshot removes it when `node` owns it and its seq is at most upto_seq (a newer
  // one, of a later game, stays). room_snapshots: those owned by `node`, by room id.
  // claim_room_snapshots: every snapshot owned by `from` becomes `to`'s, in one statement; returns
  // them (as now owned), by room id.
  virtual void put_room_snapshot(const room_snapshot_record& s) = 0;
  virtual void delete_room_snapshot(const std::string& room_id, const std::string& node,
                                    std::int64_t upto_seq) = 0;
  virtual std::vector<room_snapshot_record> room_snapshots(const std::string& node) = 0;
  virtual std::vector<room_snapshot_record> claim_room_snapshots(const std::string& from,
                                                                 const std::string& to) = 0;

  // The action/chat log. append_log: conflict when (stream, seq) exists (nothing is written).
  virtual status append_log(const log_entry& e) = 0;
  // Appends many entries at once (the write-behind path), skipping any whose (stream, seq) exists
  // already (the first stored is kept; no reader ever sees a key twice). Returns how many were
  // new, or, for a backend that drops duplicates only later (SQLite, see its append_logs), how
  // many it took. Faster than append_log per entry: one statement per many rows where the
  // database allows it.
  virtual std::int64_t append_logs(const std::vector<log_entry>& es) = 0;
  // Entries of a stream with seq > after_seq, in seq order, at most `limit`.
  virtual std::vector<log_entry> read_log(const std::string& stream, std::int64_t after_seq,
                                          int limit) = 0;

  // The event outbox. append_event assigns e.id.
  virtual void append_event(event_record& e) = 0;
  // Appends many events at once, in order (the outbox's write-behind); the store assigns their
  // ids and does not report them. One COPY on PostgreSQL.
  virtual void append_events(const std::vector<event_record>& es) = 0;
  // Events with id > after_id, in id order, at most `limit`.
  virtual std::vector<event_record> read_events(std::int64_t after_id, int limit) = 0;

  // Traces. insert_trace assigns t.id (rating, votes, reports and hidden start at zero/false).
  virtual void insert_trace(trace_record& t) = 0;
  // insert_trace of each, in order (ids increasing in that order). PostgreSQL sends them in
  // pipelines of at most 256 statements (one round trip each); a failure throws store_error, and
  // none of a failed pipeline's traces is stored (in a transaction, roll it back: the earlier
  // pipelines' are in it).
  virtual void insert_traces(std::vector<trace_record>& ts) {
    for (auto& t : ts)
      insert_trace(t);
  }
  virtual std::vector<trace_record> list_traces(const trace_query& q) = 0;
  // Any trace by id, hidden ones included.
  virtual std::optional<trace_record> find_trace(std::int64_t id) = 0;
  // Sets the account's appraisal (+1 or -1) of a trace, replacing an earlier one; updates its
  // rating and votes. not_found when no such trace.
  virtual status appraise_trace(std::int64_t id, std::int64_t account_id, int value) = 0;
  // Records one report per account: conflict when this account already reported it (nothing
  // changes), not_found when no such trace. Every report counts in `reports`; the trace becomes
  // hidden once reports that carry weight come from at least hide_after different sources.
  virtual status report_trace(const trace_report& r, std::int64_t hide_after) = 0;
  // Deletes traces created before created_before_ms (when > 0) and, per (area, kind), all but
  // the newest keep_per_kind (when > 0), with their appraisals and reports. Returns how many.
  virtual std::int64_t trim_traces(std::int64_t created_before_ms, std::int64_t keep_per_kind) = 0;

  // Moderation. reported_traces: the queue (see moderation_query). reports_of: a trace's reports,
  // by reporter account id. restore_trace: unhides the trace and forgets its reports (reports = 0),
  // so that only new reports can hide it again; not_found when no such trace. delete_trace: removes
  // it with its appraisals and reports; not_found when no such trace.
  virtual std::vector<trace_record> reported_traces(const moderation_query& q) = 0;
  virtual std::vector<trace_report> reports_of(std::int64_t trace_id) = 0;
  virtual status restore_trace(std::int64_t id) = 0;
  virtual status delete_trace(std::int64_t id) = 0;
};

}  // namespace maratang::store
