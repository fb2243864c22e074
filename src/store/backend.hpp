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
  // `before_ms` when it is > 0.
  virtual std::vector<game_record> games_of(std::int64_t account_id, int limit,
                                            std::int64_t before_ms) = 0;

  // The action/chat log. append_log: conflict when (stream, seq) exists (nothing is written).
  virtual status append_log(const log_entry& e) = 0;
  // Entries of a stream with seq > after_seq, in seq order, at most `limit`.
  virtual std::vector<log_entry> read_log(const std::string& stream, std::int64_t after_seq,
                                          int limit) = 0;

  // The event outbox. append_event assigns e.id.
  virtual void append_event(event_record& e) = 0;
  // Events with id > after_id, in id order, at most `limit`.
  virtual std::vector<event_record> read_events(std::int64_t after_id, int limit) = 0;
};

}  // namespace maratang::store
