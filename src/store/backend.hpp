// The storage contract: what Maratang keeps on disk, as one synchronous interface that every
// backend (memory, sqlite, later postgres) implements and one contract test suite checks.
// Callers never use a backend directly: they go through store::worker, which owns it and calls it
// from its own thread only. A backend is therefore not thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace maratang::store {

// Thrown by a backend when the database itself fails (I/O error, corrupt file, lost connection).
// Never thrown for expected outcomes such as "not found" or "taken": those are `status` values.
class store_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class status { ok, not_found, conflict };

struct account {
  std::int64_t id = 0;        // assigned by create_account, > 0
  std::string device_id;      // empty when the account has none
  std::string email;          // normalised (lower-case); empty when none
  std::string password_hash;  // argon2id string; empty when none
  std::string nickname;       // display form; empty until chosen
  std::string nickname_key;   // comparison key; unique among accounts; empty until chosen
  std::int64_t created_ms = 0;
  bool is_admin = false;  // granted by the operator (maratang admin grant EMAIL)
};

// One line of the admin audit log: who did what to what, and when. Append-only.
struct audit_entry {
  std::int64_t id = 0;  // assigned by append_audit, > 0 and increasing
  std::int64_t ts_ms = 0;
  std::int64_t actor = 0;   // the admin's account id; 0 for the operator's command line
  std::string action;       // e.g. "admin.grant", "trace.restore", "trace.delete"
  std::string target;       // what it acted on, e.g. "account:12", "trace:7"
  std::string detail_json;  // a JSON object with whatever else the action records
};

// One login session. Tokens name the session; logout revokes it.
struct session_record {
  std::string id;  // opaque, unique
  std::int64_t account_id = 0;
  std::string refresh_hash;  // hash of the current refresh token
  std::int64_t created_ms = 0;
  std::int64_t expires_ms = 0;  // when the refresh token stops working
  bool revoked = false;
};

// A finished (or abandoned) game.
struct game_record {
  std::string id;  // unique
  std::string mode;
  std::string room_id;
  std::int64_t started_ms = 0;
  std::int64_t ended_ms = 0;
  std::vector<std::int64_t> players;  // account ids, in seat order
  std::string record_json;            // the mode's own record: roles, votes, winners...
  // The game was played in a private room (invite code). Who may read a record is decided by
  // api::may_read_game; games stored before schema version 6 read back as private.
  bool is_private = false;
};

// The casebook of a finished game: the story of the game, written from its action log (by the LLM
// or by templates) as Markdown. A game has at most one; a rewrite replaces it.
struct casebook_record {
  std::string game_id;
  std::string title;
  std::string language;  // "en", "ko"
  std::string author;    // "llm" or "template"
  std::string markdown;
  std::int64_t created_ms = 0;
};

// One line of the append-only action/chat log of a room or game.
struct log_entry {
  std::string stream;    // the game id (or room id) the entry belongs to
  std::int64_t seq = 0;  // strictly increasing within a stream, assigned by the caller
  std::int64_t ts_ms = 0;
  std::string kind;        // e.g. "chat", "action", "event"
  std::int64_t actor = 0;  // account id, 0 for the system
  std::string payload_json;
};

// An event for the outbox (published to Kafka by a later component).
struct event_record {
  std::int64_t id = 0;  // assigned on append, increasing
  std::string topic;
  std::string key;
  std::string payload_json;
  std::int64_t ts_ms = 0;
};

// Traces (src/traces/): what a player left in an area for others to find, as in seed 003's
// GameDB. One id sequence serves every kind, so an id names one trace.
enum class trace_kind { object = 0, message = 1, phantom = 2 };

struct trace_record {
  std::int64_t id = 0;  // assigned by insert_trace, > 0 and increasing
  std::string area;
  trace_kind kind = trace_kind::object;
  std::int64_t account_id = 0;  // 0: anonymous (the GameDB-compatible endpoint)
  std::string u_uuid;           // the client's own user id (seed 003), stored as given
  std::string payload_json;     // the kind's fields as a JSON object, e.g. {"o_type":1,...}
  bool has_pos = false;         // x, y, z hold a position (for near queries)
  double x = 0, y = 0, z = 0;
  std::int64_t created_ms = 0;
  std::int64_t rating = 0;  // sum of appraisals (+1 / -1 each)
  std::int64_t votes = 0;   // number of appraisals
  std::int64_t reports = 0;
  bool hidden = false;  // reported too often: never listed
};

// One account's report of a trace. `source` groups reports that may not count twice (the
// reporter's address, as the service keys it); `weighty` is false for reports that are kept but
// cannot help hide a trace (accounts too new to be trusted).
struct trace_report {
  std::int64_t trace_id = 0;
  std::int64_t account_id = 0;
  std::string source;
  bool weighty = true;
};

// Which traces list_traces returns: one kind of one area, newest (highest id) first, never
// hidden ones.
struct trace_query {
  std::string area;
  trace_kind kind = trace_kind::object;
  int limit = 0;                   // at most this many (nothing when <= 0)
  std::int64_t before_id = 0;      // when > 0: only ids below it (paging)
  std::int64_t created_after = 0;  // only traces with created_ms >= this
  bool near = false;               // when set: only traces with a position within radius
  double x = 0, y = 0, z = 0, radius = 0;
};

// Which traces reported_traces returns (the moderation queue): every kind and area, hidden ones
// included, newest (highest id) first.
struct moderation_query {
  bool hidden_only = false;    // only hidden traces; else every trace with at least one report
  int limit = 0;               // at most this many (nothing when <= 0)
  std::int64_t before_id = 0;  // when > 0: only ids below it (paging)
};

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

  // Game records. insert_game: conflict when the id exists.
  virtual status insert_game(const game_record& g) = 0;
  virtual std::optional<game_record> find_game(const std::string& id) = 0;
  // The account's games, newest (ended_ms) first, at most `limit`, ended strictly before
  // `before_ms` when it is > 0; private-room games only when `include_private`.
  virtual std::vector<game_record> games_of(std::int64_t account_id, int limit,
                                            std::int64_t before_ms, bool include_private) = 0;

  // Casebooks. put_casebook inserts or replaces the game's casebook.
  virtual void put_casebook(const casebook_record& c) = 0;
  virtual std::optional<casebook_record> find_casebook(const std::string& game_id) = 0;

  // The action/chat log. append_log: conflict when (stream, seq) exists (nothing is written).
  virtual status append_log(const log_entry& e) = 0;
  // Entries of a stream with seq > after_seq, in seq order, at most `limit`.
  virtual std::vector<log_entry> read_log(const std::string& stream, std::int64_t after_seq,
                                          int limit) = 0;

  // The event outbox. append_event assigns e.id.
  virtual void append_event(event_record& e) = 0;
  // Events with id > after_id, in id order, at most `limit`.
  virtual std::vector<event_record> read_events(std::int64_t after_id, int limit) = 0;

  // Traces. insert_trace assigns t.id (rating, votes, reports and hidden start at zero/false).
  virtual void insert_trace(trace_record& t) = 0;
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
