#include "store/sqlite/sqlite_backend.hpp"

#include <sqlite3.h>
#include <algorithm>

#include <chrono>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <utility>

namespace maratang::store {

namespace {

// The schema, one migration per entry, applied in order. Never edit a shipped entry: append one.
// Version N is the state after entry N-1.
constexpr const char* migrations[] = {
    // 1: accounts and login sessions. Unique columns hold NULL, not '', when empty, so that
    // any number of accounts may lack a device, an email or a nickname.
    R"sql(
CREATE TABLE accounts (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  device_id     TEXT UNIQUE,
  email         TEXT UNIQUE,
  password_hash TEXT NOT NULL DEFAULT '',
  nickname      TEXT NOT NULL DEFAULT '',
  nickname_key  TEXT UNIQUE,
  created_ms    INTEGER NOT NULL
);
CREATE TABLE sessions (
  id           TEXT PRIMARY KEY,
  account_id   INTEGER NOT NULL,
  refresh_hash TEXT NOT NULL,
  created_ms   INTEGER NOT NULL,
  expires_ms   INTEGER NOT NULL,
  revoked      INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX sessions_account ON sessions(account_id);
CREATE INDEX sessions_revoked ON sessions(expires_ms) WHERE revoked = 1;
)sql",
    // 2: game records and the action/chat log. game_players copies ended_ms so that games_of
    // walks one index in order.
    R"sql(
CREATE TABLE games (
  id          TEXT PRIMARY KEY,
  mode        TEXT NOT NULL,
  room_id     TEXT NOT NULL,
  started_ms  INTEGER NOT NULL,
  ended_ms    INTEGER NOT NULL,
  record_json TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE game_players (
  game_id    TEXT NOT NULL REFERENCES games(id) ON DELETE CASCADE,
  seat       INTEGER NOT NULL,
  account_id INTEGER NOT NULL,
  ended_ms   INTEGER NOT NULL,
  PRIMARY KEY (game_id, seat)
) WITHOUT ROWID;
CREATE INDEX game_players_account ON game_players(account_id, ended_ms DESC, game_id DESC);
CREATE TABLE action_log (
  stream       TEXT NOT NULL,
  seq          INTEGER NOT NULL,
  ts_ms        INTEGER NOT NULL,
  kind         TEXT NOT NULL,
  actor        INTEGER NOT NULL,
  payload_json TEXT NOT NULL,
  PRIMARY KEY (stream, seq)
) WITHOUT ROWID;
)sql",
    // 3: the event outbox.
    R"sql(
CREATE TABLE events (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  topic        TEXT NOT NULL,
  event_key    TEXT NOT NULL,
  payload_json TEXT NOT NULL,
  ts_ms        INTEGER NOT NULL
);
)sql",
    // 4: traces (objects, messages, phantoms) with their appraisals and reports. The partial
    // index serves the "latest of a kind in an area" reads, which never list hidden traces.
    R"sql(
CREATE TABLE traces (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  area         TEXT NOT NULL,
  kind         INTEGER NOT NULL,
  account_id   INTEGER NOT NULL,
  u_uuid       TEXT NOT NULL,
  payload_json TEXT NOT NULL,
  x            REAL,
  y            REAL,
  z            REAL,
  created_ms   INTEGER NOT NULL,
  rating       INTEGER NOT NULL DEFAULT 0,
  votes        INTEGER NOT NULL DEFAULT 0,
  reports      INTEGER NOT NULL DEFAULT 0,
  hidden       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX traces_latest ON traces(area, kind, id DESC) WHERE hidden = 0;
CREATE INDEX traces_created ON traces(created_ms);
CREATE TABLE trace_votes (
  trace_id   INTEGER NOT NULL REFERENCES traces(id) ON DELETE CASCADE,
  account_id INTEGER NOT NULL,
  value      INTEGER NOT NULL,
  PRIMARY KEY (trace_id, account_id)
) WITHOUT ROWID;
CREATE TABLE trace_reports (
  trace_id   INTEGER NOT NULL REFERENCES traces(id) ON DELETE CASCADE,
  account_id INTEGER NOT NULL,
  PRIMARY KEY (trace_id, account_id)
) WITHOUT ROWID;
)sql",
    // 5: casebooks of finished games (Mystery).
    R"sql(
CREATE TABLE casebooks (
  game_id    TEXT PRIMARY KEY,
  title      TEXT NOT NULL,
  language   TEXT NOT NULL,
  author     TEXT NOT NULL,
  markdown   TEXT NOT NULL,
  created_ms INTEGER NOT NULL
) WITHOUT ROWID;
)sql",
    // 6: whether a game's room was private. Games stored before this version are taken as private
    // (their room's privacy was not recorded): only their players may read them. game_players
    // copies it so that games_of can leave private games out while walking its index.
    R"sql(
ALTER TABLE games ADD COLUMN is_private INTEGER NOT NULL DEFAULT 1;
ALTER TABLE game_players ADD COLUMN is_private INTEGER NOT NULL DEFAULT 1;
)sql",
    // 7: a report's source (the reporter's address key) and whether it may help hide a trace.
    R"sql(
ALTER TABLE trace_reports ADD COLUMN source TEXT NOT NULL DEFAULT '';
ALTER TABLE trace_reports ADD COLUMN weighty INTEGER NOT NULL DEFAULT 1;
)sql",
    // 8: admin accounts, the admin audit log, and an index for the moderation queue.
    R"sql(
ALTER TABLE accounts ADD COLUMN is_admin INTEGER NOT NULL DEFAULT 0;
CREATE TABLE admin_audit (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  ts_ms       INTEGER NOT NULL,
  actor       INTEGER NOT NULL,
  action      TEXT NOT NULL,
  target      TEXT NOT NULL,
  detail_json TEXT NOT NULL
);
CREATE INDEX traces_reported ON traces(id DESC) WHERE reports > 0;
)sql",
    // 9: players' statistics per mode, and the mode's own tallies (e.g. Mafia wins by role),
    // added to by insert_game in the record's transaction. Games stored before this version are
    // not counted (their outcomes were never computed).
    R"sql(
CREATE TABLE player_stats (
  account_id     INTEGER NOT NULL,
  mode           TEXT NOT NULL,
  played         INTEGER NOT NULL,
  won            INTEGER NOT NULL,
  lost           INTEGER NOT NULL,
  drawn          INTEGER NOT NULL,
  abandoned      INTEGER NOT NULL,
  time_played_ms INTEGER NOT NULL,
  PRIMARY KEY (account_id, mode)
) WITHOUT ROWID;
CREATE TABLE player_stat_tallies (
  account_id INTEGER NOT NULL,
  mode       TEXT NOT NULL,
  tally      TEXT NOT NULL,
  name       TEXT NOT NULL,
  n          INTEGER NOT NULL,
  PRIMARY KEY (account_id, mode, tally, name)
) WITHOUT ROWID;
)sql",
    // 10: the action log's recent lines, in the order they came (see append_logs). Keyed by
    // rowid alone, so a write appends to the table's last pages whatever games it holds.
    R"sql(
CREATE TABLE action_log_recent (
  stream       TEXT NOT NULL,
  seq          INTEGER NOT NULL,
  ts_ms        INTEGER NOT NULL,
  kind         TEXT NOT NULL,
  actor        INTEGER NOT NULL,
  payload_json TEXT NOT NULL
);
)sql",
    // 11: accounts banned by an admin, until when and why.
    R"sql(
CREATE TABLE account_bans (
  account_id INTEGER PRIMARY KEY,
  until_ms   INTEGER NOT NULL,
  reason     TEXT NOT NULL
);
)sql",
    // 12: the latest snapshot of each running game (crash recovery, lobby/room_snapshot.hpp).
    R"sql(
CREATE TABLE room_snapshots (
  room_id    TEXT PRIMARY KEY,
  node       TEXT NOT NULL,
  seq        INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  data_json  TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX room_snapshots_node ON room_snapshots(node, room_id);
)sql",
    // 13: competition: players' ratings per rating key, their history per game, and the
    // leaderboards' entries per board and season (README "Competition").
    R"sql(
CREATE TABLE ratings (
  account_id INTEGER NOT NULL,
  key        TEXT NOT NULL,
  model      INTEGER NOT NULL,
  mu         REAL NOT NULL,
  sigma      REAL NOT NULL,
  volatility REAL NOT NULL,
  games      INTEGER NOT NULL,
  last_ms    INTEGER NOT NULL,
  display    REAL NOT NULL,
  PRIMARY KEY (account_id, key)
) WITHOUT ROWID;
CREATE TABLE rating_history (
  account_id     INTEGER NOT NULL,
  key            TEXT NOT NULL,
  ended_ms       INTEGER NOT NULL,
  game_id        TEXT NOT NULL,
  mu_before      REAL NOT NULL,
  sigma_before   REAL NOT NULL,
  display_before REAL NOT NULL,
  mu_after       REAL NOT NULL,
  sigma_after    REAL NOT NULL,
  display_after  REAL NOT NULL,
  PRIMARY KEY (account_id, key, ended_ms, game_id)
) WITHOUT ROWID;
CREATE TABLE leaderboard (
  board      TEXT NOT NULL,
  season     INTEGER NOT NULL,
  account_id INTEGER NOT NULL,
  value      REAL NOT NULL,
  sort_key   REAL NOT NULL,
  reached_ms INTEGER NOT NULL,
  PRIMARY KEY (board, season, account_id)
) WITHOUT ROWID;
)sql",
};

constexpr int migration_count = static_cast<int>(std::size(migrations));

[[noreturn]] void fail(sqlite3* db, const std::string& op, int rc) {
  throw store_error("sqlite " + op + ": " + sqlite3_errmsg(db) + " (code " + std::to_string(rc) +
                    ")");
}

// One use of a cached statement: binds, steps, reads columns, and resets the statement (and
// clears its bindings) when it goes out of scope. Text is bound without copying, so every bound
// string must outlive the query; binding a temporary does not compile.
class query {
 public:
  query(sqlite3* db, sqlite3_stmt* s, const char* op) : db_(db), s_(s), op_(op) {}
  ~query() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  query(const query&) = delete;
  query& operator=(const query&) = delete;

  void bind_i64(int i, std::int64_t v) { check(sqlite3_bind_int64(s_, i, v)); }
  void bind_text(int i, const std::string& v) {
    check(sqlite3_bind_text64(s_, i, v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8));
  }
  void bind_text(int i, std::string&&) = delete;
  // For the unique columns: '' is stored as NULL.
  void bind_text_or_null(int i, const std::string& v) {
    if (v.empty()) {
      check(sqlite3_bind_null(s_, i));
    } else {
      bind_text(i, v);
    }
  }
  void bind_text_or_null(int i, std::string&&) = delete;

  // Steps a reading statement: true when a row is ready, false when done.
  bool next() {
    const int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail(db_, op_, rc);
  }
  // Runs a writing statement: a constraint violation is a conflict, any other error throws.
  status run() {
    const int rc = sqlite3_step(s_);
    if (rc == SQLITE_DONE || rc == SQLITE_ROW) return status::ok;
    if ((rc & 0xff) == SQLITE_CONSTRAINT) return status::conflict;
    fail(db_, op_, rc);
  }

  void bind_f64(int i, double v) { check(sqlite3_bind_double(s_, i, v)); }
  void bind_null(int i) { check(sqlite3_bind_null(s_, i)); }
  std::int64_t i64(int c) const { return sqlite3_column_int64(s_, c); }
  double f64(int c) const { return sqlite3_column_double(s_, c); }
  bool is_null(int c) const { return sqlite3_column_type(s_, c) == SQLITE_NULL; }
  // NULL reads as "".
  std::string text(int c) const {
    const unsigned char* p = sqlite3_column_text(s_, c);
    if (p == nullptr) return {};
    return std::string(reinterpret_cast<const char*>(p),
                       static_cast<std::size_t>(sqlite3_column_bytes(s_, c)));
  }

 private:
  void check(int rc) const {
    if (rc != SQLITE_OK) fail(db_, op_, rc);
  }

  sqlite3* db_;
  sqlite3_stmt* s_;
  const char* op_;
};

account read_account(const query& q) {
  account a;
  a.id = q.i64(0);
  a.device_id = q.text(1);
  a.email = q.text(2);
  a.password_hash = q.text(3);
  a.nickname = q.text(4);
  a.nickname_key = q.text(5);
  a.created_ms = q.i64(6);
  a.is_admin = q.i64(7) != 0;
  return a;
}

session_record read_session(const query& q) {
  session_record s;
  s.id = q.text(0);
  s.account_id = q.i64(1);
  s.refresh_hash = q.text(2);
  s.created_ms = q.i64(3);
  s.expires_ms = q.i64(4);
  s.revoked = q.i64(5) != 0;
  return s;
}

std::int64_t now_epoch_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// --- Connection -------------------------------------------------------------------------------

std::unique_ptr<sqlite_backend> sqlite_backend::open(const std::string& path, sqlite_options opts) {
  const std::string op = "open '" + path + "'";
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    const std::string msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    throw store_error("sqlite " + op + ": " + msg + " (code " + std::to_string(rc) + ")");
  }
  // From here the backend owns the handle and closes it if configuration throws.
  std::unique_ptr<sqlite_backend> b(new sqlite_backend(db));
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, opts.busy_timeout_ms);

  // The first statement reads the file header: a non-database file fails here.
  std::string mode;
  {
    query q(db, b->prepare("PRAGMA journal_mode=WAL", op.c_str()), op.c_str());
    if (q.next()) mode = q.text(0);
  }
  // In-memory databases (no file name) cannot use WAL; a file that will not is an error.
  const char* file = sqlite3_db_filename(db, "main");
  if (mode != "wal" && file != nullptr && *file != '\0') {
    throw store_error("sqlite " + op + ": cannot enable WAL (journal_mode is '" + mode + "')");
  }

  b->exec(opts.full_sync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL", op.c_str());
  b->exec("PRAGMA foreign_keys=ON", op.c_str());
  if (opts.max_size_bytes > 0) b->set_max_size(opts.max_size_bytes);
  // Lines left in action_log_recent by an earlier run are not counted: they move at the next
  // merge, and every read merges first.
  b->log_merge_rows_ = std::max<std::int64_t>(1, opts.log_merge_rows);
  return b;
}

std::int64_t sqlite_backend::size_bytes() {
  query count(db_, prepare("PRAGMA page_count", "page_count"), "page_count");
  const std::int64_t pages = count.next() ? count.i64(0) : 0;
  query size(db_, prepare("PRAGMA page_size", "page_size"), "page_size");
  return pages * (size.next() ? size.i64(0) : 4096);
}

void sqlite_backend::set_max_size(std::int64_t bytes) {
  std::int64_t page_size = 4096;
  {
    query q(db_, prepare("PRAGMA page_size", "page_size"), "page_size");
    if (q.next()) page_size = q.i64(0);
  }
  // SQLite's own ceiling is 4294967294 pages; 0 asks for it.
  const std::int64_t pages =
      bytes > 0 ? std::min<std::int64_t>((bytes + page_size - 1) / page_size, 4294967294)
                : 4294967294;
  max_pages_ = bytes > 0 ? pages : 0;
  set_max_pages(pages);
}

void sqlite_backend::set_max_pages(std::int64_t pages) {
  const std::string sql = "PRAGMA max_page_count = " + std::to_string(pages);
  char* err = nullptr;
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  std::string msg = err ? err : "";
  sqlite3_free(err);
  if (rc != SQLITE_OK) throw store_error("sqlite max_page_count: " + msg);
}

sqlite_backend::~sqlite_backend() {
  for (auto& [sql, stmt] : stmts_)
    sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

sqlite3_stmt* sqlite_backend::prepare(std::string_view sql, const char* op) {
  if (auto it = stmts_.find(sql); it != stmts_.end()) return it->second;
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) fail(db_, op, rc);
  stmts_.emplace(std::string(sql), stmt);
  return stmt;
}

void sqlite_backend::exec(const char* sql, const char* op) {
  query q(db_, prepare(sql, op), op);
  q.next();  // a PRAGMA may answer with a row: not needed
}

bool sqlite_backend::ping() {
  try {
    query q(db_, prepare("SELECT 1", "ping"), "ping");
    return q.next() && q.i64(0) == 1;
  } catch (const store_error&) {
    return false;
  }
}

// --- Schema -----------------------------------------------------------------------------------

int sqlite_backend::latest_schema_version() const {
  return migration_count;
}

int sqlite_backend::schema_version() {
  {
    query t(db_,
            prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = "
                    "'schema_migrations'",
                    "schema_version"),
            "schema_version");
    if (!t.next()) return 0;
  }
  query q(db_, prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", "schema_version"),
          "schema_version");
  if (!q.next()) return 0;
  return static_cast<int>(q.i64(0));
}

void sqlite_backend::migrate() {
  migrate_to(migration_count);
}

void sqlite_backend::migrate_to(int version) {
  if (version < 0 || version > migration_count) {
    throw std::invalid_argument("sqlite migrate: no schema version " + std::to_string(version));
  }
  // One migration per transaction. The version is read under the write lock, so two processes
  // migrating the same file at once apply each migration once.
  for (;;) {
    exec("BEGIN IMMEDIATE", "migrate");
    try {
      exec(
          "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
          "applied_ms INTEGER NOT NULL)",
          "migrate");
      const int current = schema_version();
      if (current > migration_count) {
        throw store_error("sqlite migrate: the database is at schema version " +
                          std::to_string(current) + ", newer than this build's " +
                          std::to_string(migration_count));
      }
      if (current >= version) {
        exec("COMMIT", "migrate");
        return;
      }
      const int next = current + 1;
      const std::string op = "migrate to version " + std::to_string(next);
      const int rc = sqlite3_exec(db_, migrations[current], nullptr, nullptr, nullptr);
      if (rc != SQLITE_OK) fail(db_, op, rc);
      {
        query q(db_,
                prepare("INSERT INTO schema_migrations (version, applied_ms) VALUES (?1, ?2)",
                        "migrate"),
                "migrate");
        q.bind_i64(1, next);
        q.bind_i64(2, now_epoch_ms());
        if (q.run() != status::ok) fail(db_, op, SQLITE_CONSTRAINT);
      }
      exec("COMMIT", "migrate");
    } catch (...) {
      try {
        rollback();
      } catch (const store_error&) {
        // Report the first error, not this one.
      }
      throw;
    }
  }
}

// --- Transactions -----------------------------------------------------------------------------

void sqlite_backend::begin() {
  exec("BEGIN IMMEDIATE", "begin");
}
void sqlite_backend::commit() {
  exec("COMMIT", "commit");
  book_.committed();
  restore_cap();
}

void sqlite_backend::rollback() {
  book_.rolled_back();
  // Some errors (I/O, full disk, busy) make SQLite roll back by itself; then there is nothing left.
  if (sqlite3_get_autocommit(db_) == 0) exec("ROLLBACK", "rollback");
  restore_cap();
}

// After a transaction that used the trimming reserve: back to the cap (SQLite keeps it at the
// file's size if that is larger, until freed pages are reused).
void sqlite_backend::restore_cap() {
  if (!cap_raised_) return;
  cap_raised_ = false;
  set_max_pages(max_pages_);
}

void sqlite_backend::savepoint() {
  exec("SAVEPOINT op", "savepoint");
}
void sqlite_backend::release() {
  exec("RELEASE op", "release");
}
void sqlite_backend::rollback_to() {
  book_.rolled_back();
  exec("ROLLBACK TO op", "rollback_to");
}

// --- Accounts ---------------------------------------------------------------------------------

status sqlite_backend::create_account(account& a) {
  const char* op = "create_account";
  query q(db_,
          prepare("INSERT INTO accounts (device_id, email, password_hash, nickname, nickname_key, "
                  "created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                  op),
          op);
  q.bind_text_or_null(1, a.device_id);
  q.bind_text_or_null(2, a.email);
  q.bind_text(3, a.password_hash);
  q.bind_text(4, a.nickname);
  q.bind_text_or_null(5, a.nickname_key);
  q.bind_i64(6, a.created_ms);
  const status st = q.run();
  if (st == status::ok) a.id = sqlite3_last_insert_rowid(db_);
  return st;
}

std::optional<account> sqlite_backend::find_account(std::int64_t id) {
  const char* op = "find_account";
  query q(db_,
          prepare("SELECT id, device_id, email, password_hash, nickname, nickname_key, created_ms, "
                  "is_admin "
                  "FROM accounts WHERE id = ?1",
                  op),
          op);
  q.bind_i64(1, id);
  if (!q.next()) return std::nullopt;
  return read_account(q);
}

std::optional<account> sqlite_backend::find_account_where(const char* sql, const std::string& key,
                                                          const char* op) {
  // '' means "none" and is stored as NULL, which no key equals.
  if (key.empty()) return std::nullopt;
  query q(db_, prepare(sql, op), op);
  q.bind_text(1, key);
  if (!q.next()) return std::nullopt;
  return read_account(q);
}

std::optional<account> sqlite_backend::find_account_by_device(const std::string& device_id) {
  return find_account_where(
      "SELECT id, device_id, email, password_hash, nickname, nickname_key, created_ms, is_admin "
      "FROM accounts WHERE device_id = ?1",
      device_id, "find_account_by_device");
}

std::optional<account> sqlite_backend::find_account_by_email(const std::string& email) {
  return find_account_where(
      "SELECT id, device_id, email, password_hash, nickname, nickname_key, created_ms, is_admin "
      "FROM accounts WHERE email = ?1",
      email, "find_account_by_email");
}

std::optional<account> sqlite_backend::find_account_by_nickname_key(const std::string& key) {
  return find_account_where(
      "SELECT id, device_id, email, password_hash, nickname, nickname_key, created_ms, is_admin "
      "FROM accounts WHERE nickname_key = ?1",
      key, "find_account_by_nickname_key");
}

status sqlite_backend::set_nickname(std::int64_t account_id, const std::string& nickname,
                                    const std::string& key) {
  const char* op = "set_nickname";
  query q(db_, prepare("UPDATE accounts SET nickname = ?2, nickname_key = ?3 WHERE id = ?1", op),
          op);
  q.bind_i64(1, account_id);
  q.bind_text(2, nickname);
  q.bind_text_or_null(3, key);
  // An update that matches no row cannot conflict, so conflict implies the account exists.
  const status st = q.run();
  if (st != status::ok) return st;
  return sqlite3_changes(db_) > 0 ? status::ok : status::not_found;
}

status sqlite_backend::set_admin(std::int64_t account_id, bool is_admin) {
  const char* op = "set_admin";
  query q(db_, prepare("UPDATE accounts SET is_admin = ?2 WHERE id = ?1", op), op);
  q.bind_i64(1, account_id);
  q.bind_i64(2, is_admin ? 1 : 0);
  if (q.run() != status::ok) fail(db_, op, SQLITE_CONSTRAINT);
  return sqlite3_changes(db_) > 0 ? status::ok : status::not_found;
}

status sqlite_backend::set_ban(std::int64_t account_id, std::int64_t until_ms,
                               const std::string& reason) {
  const char* op = "set_ban";
  if (!find_account(account_id)) return status::not_found;
  if (until_ms == 0) {
    query q(db_, prepare("DELETE FROM account_bans WHERE account_id = ?1", op), op);
    q.bind_i64(1, account_id);
    if (q.run() != status::ok) fail(db_, op, SQLITE_CONSTRAINT);
    return status::ok;
  }
  query q(db_,
          prepare("INSERT INTO account_bans (account_id, until_ms, reason) VALUES (?1, ?2, ?3) "
                  "ON CONFLICT (account_id) DO UPDATE SET until_ms = excluded.until_ms, "
                  "reason = excluded.reason",
                  op),
          op);
  q.bind_i64(1, account_id);
  q.bind_i64(2, until_ms);
  q.bind_text(3, reason);
  if (q.run() != status::ok) fail(db_, op, SQLITE_CONSTRAINT);
  return status::ok;
}

std::vector<ban_record> sqlite_backend::bans(std::int64_t now_ms) {
  const char* op = "bans";
  query q(db_,
          prepare("SELECT account_id, until_ms, reason FROM account_bans WHERE until_ms > ?1 "
                  "ORDER BY account_id",
                  op),
          op);
  q.bind_i64(1, now_ms);
  std::vector<ban_record> out;
  while (q.next())
    out.push_back(ban_record{q.i64(0), q.i64(1), q.text(2)});
  return out;
}

void sqlite_backend::append_audit(audit_entry& e) {
  const char* op = "append_audit";
  query q(db_,
          prepare("INSERT INTO admin_audit (ts_ms, actor, action, target, detail_json) "
                  "VALUES (?1, ?2, ?3, ?4, ?5)",
                  op),
          op);
  q.bind_i64(1, e.ts_ms);
  q.bind_i64(2, e.actor);
  q.bind_text(3, e.action);
  q.bind_text(4, e.target);
  q.bind_text(5, e.detail_json);
  if (q.run() != status::ok) fail(db_, op, SQLITE_CONSTRAINT);
  e.id = sqlite3_last_insert_rowid(db_);
}

std::vector<audit_entry> sqlite_backend::read_audit(std::int64_t before_id, int limit) {
  const char* op = "read_audit";
  std::vector<audit_entry> out;
  if (limit <= 0) return out;
  query q(db_,
          prepare("SELECT id, ts_ms, actor, action, target, detail_json FROM admin_audit "
                  "WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
                  op),
          op);
  q.bind_i64(1, before_id > 0 ? before_id : std::numeric_limits<std::int64_t>::max());
  q.bind_i64(2, limit);
  while (q.next()) {
    audit_entry e;
    e.id = q.i64(0);
    e.ts_ms = q.i64(1);
    e.actor = q.i64(2);
    e.action = q.text(3);
    e.target = q.text(4);
    e.detail_json = q.text(5);
    out.push_back(std::move(e));
  }
  return out;
}

// --- Sessions ---------------------------------------------------------------------------------

status sqlite_backend::create_session(const session_record& s) {
  const char* op = "create_session";
  query q(db_,
          prepare("INSERT INTO sessions (id, account_id, refresh_hash, created_ms, expires_ms, "
                  "revoked) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                  op),
          op);
  q.bind_text(1, s.id);
  q.bind_i64(2, s.account_id);
  q.bind_text(3, s.refresh_hash);
  q.bind_i64(4, s.created_ms);
  q.bind_i64(5, s.expires_ms);
  q.bind_i64(6, s.revoked ? 1 : 0);
  return q.run();
}

std::optional<session_record> sqlite_backend::find_session(const std::string& id) {
  const char* op = "find_session";
  query q(db_,
          prepare("SELECT id, account_id, refresh_hash, created_ms, expires_ms, revoked "
                  "FROM sessions WHERE id = ?1",
                  op),
          op);
  q.bind_text(1, id);
  if (!q.next()) return std::nullopt;
  return read_session(q);
}

status sqlite_backend::rotate_refresh(const std::string& id, const std::string& old_hash,
                                      const std::string& new_hash, std::int64_t new_expires_ms) {
  const char* op = "rotate_refresh";
  {
    // Compare-and-swap in one statement.
    query q(db_,
            prepare("UPDATE sessions SET refresh_hash = ?3, expires_ms = ?4 "
                    "WHERE id = ?1 AND refresh_hash = ?2 AND revoked = 0",
                    op),
            op);
    q.bind_text(1, id);
    q.bind_text(2, old_hash);
    q.bind_text(3, new_hash);
    q.bind_i64(4, new_expires_ms);
    const status st = q.run();
    if (st != status::ok) return st;
    if (sqlite3_changes(db_) > 0) return status::ok;
  }
  // Nothing changed: tell a stale or revoked session from a missing one.
  query e(db_, prepare("SELECT 1 FROM sessions WHERE id = ?1", op), op);
  e.bind_text(1, id);
  return e.next() ? status::conflict : status::not_found;
}

status sqlite_backend::revoke_session(const std::string& id) {
  const char* op = "revoke_session";
  query q(db_, prepare("UPDATE sessions SET revoked = 1 WHERE id = ?1", op), op);
  q.bind_text(1, id);
  const status st = q.run();
  if (st != status::ok) return st;
  return sqlite3_changes(db_) > 0 ? status::ok : status::not_found;
}

std::vector<std::string> sqlite_backend::revoked_sessions(std::int64_t now_ms) {
  const char* op = "revoked_sessions";
  query q(db_,
          prepare("SELECT id FROM sessions WHERE revoked = 1 AND expires_ms > ?1 ORDER BY id", op),
          op);
  q.bind_i64(1, now_ms);
  std::vector<std::string> ids;
  while (q.next())
    ids.push_back(q.text(0));
  return ids;
}

// --- Games ------------------------------------------------------------------------------------

status sqlite_backend::insert_game(const game_record& g) {
  const char* op = "insert_game";
  // The game row and its player rows go in together, inside or outside a transaction.
  exec("SAVEPOINT insert_game", op);
  try {
    {
      query q(db_,
              prepare("INSERT INTO games (id, mode, room_id, started_ms, ended_ms, record_json, "
                      "is_private) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                      op),
              op);
      q.bind_text(1, g.id);
      q.bind_text(2, g.mode);
      q.bind_text(3, g.room_id);
      q.bind_i64(4, g.started_ms);
      q.bind_i64(5, g.ended_ms);
      q.bind_text(6, g.record_json);
      q.bind_i64(7, g.is_private ? 1 : 0);
      if (q.run() == status::conflict) {
        exec("RELEASE insert_game", op);
        return status::conflict;
      }
    }
    for (std::size_t seat = 0; seat < g.players.size(); ++seat) {
      query q(db_,
              prepare("INSERT INTO game_players (game_id, seat, account_id, ended_ms, is_private) "
                      "VALUES (?1, ?2, ?3, ?4, ?5)",
                      op),
              op);
      q.bind_text(1, g.id);
      q.bind_i64(2, static_cast<std::int64_t>(seat));
      q.bind_i64(3, g.players[seat]);
      q.bind_i64(4, g.ended_ms);
      q.bind_i64(5, g.is_private ? 1 : 0);
      if (q.run() != status::ok) fail(db_, op, SQLITE_CONSTRAINT);
    }
    for (const player_outcome& o : g.outcomes) {
      {
        query q(
            db_,
            prepare("INSERT INTO player_stats (account_id, mode, played, won, lost, drawn, "
                    "abandoned, time_played_ms) VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6, ?7) "
                    "ON CONFLICT (account_id, mode) DO UPDATE SET played = played + 1, "
                    "won = won + excluded.won, lost = lost + excluded.lost, "
                    "drawn = drawn + excluded.drawn, abandoned = abandoned + excluded.abandoned, "
                    "time_played_ms = time_played_ms + excluded.time_played_ms",
                    op),
            op);
        q.bind_i64(1, o.account_id);
        q.bind_text(2, g.mode);
        q.bind_i64(3, o.result == game_result::won ? 1 : 0);
        q.bind_i64(4, o.result == game_result::lost ? 1 : 0);
        q.bind_i64(5, o.result == game_result::drawn ? 1 : 0);
        q.bind_i64(6, o.result == game_result::abandoned ? 1 : 0);
        q.bind_i64(7, o.time_played_ms);
        if (q.run() != status::ok) fail(db_, op, SQLITE_CONSTRAINT);
      }
      for (const auto& [tally, key] : o.tallies) {
        query q(db_,
                prepare("INSERT INTO player_stat_tallies (account_id, mode, tally, name, n) "
                        "VALUES (?1, ?2, ?3, ?4, 1) "
                        "ON CONFLICT (account_id, mode, tally, name) DO UPDATE SET n = n + 1",
                        op),
                op);
        q.bind_i64(1, o.account_id);
        q.bind_text(2, g.mode);
        q.bind_text(3, tally);
        q.bind_text(4, key);
        if (q.run() != status::ok) fail(db_, op, SQLITE_CONSTRAINT);
      }
    }
    book_.apply(g);
    exec("RELEASE insert_game", op);
    return status::ok;
  } catch (...) {
    book_.rolled_back();
    try {
      exec("ROLLBACK TO insert_game", op);
      exec("RELEASE insert_game", op);
    } catch (const store_error&) {
      // Report the first error; the caller's rollback cleans up.
    }
    throw;
  }
}

// --- Competition ------------------------------------------------------------------------------

namespace {

rating_record read_rating(const query& q) {
  rating_record r;
  r.account_id = q.i64(0);
  r.key = q.text(1);
  r.model = static_cast<rating_model>(q.i64(2));
  r.mu = q.f64(3);
  r.sigma = q.f64(4);
  r.volatility = q.f64(5);
  r.games = q.i64(6);
  r.last_ms = q.i64(7);
  r.display = q.f64(8);
  return r;
}

}  // namespace

std::optional<rating_record> sqlite_backend::load_rating(std::int64_t account_id,
                                                         const std::string& key) {
  const char* op = "load_rating";
  query q(db_,
          prepare("SELECT account_id, key, model, mu, sigma, volatility, games, last_ms, display "
                  "FROM ratings WHERE account_id = ?1 AND key = ?2",
                  op),
          op);
  q.bind_i64(1, account_id);
  q.bind_text(2, key);
  if (!q.next()) return std::nullopt;
  return read_rating(q);
}

void sqlite_backend::save_rating(const rating_record& r) {
  const char* op = "save_rating";
  query q(db_,
          prepare("INSERT OR REPLACE INTO ratings (account_id, key, model, mu, sigma, volatility, "
                  "games, last_ms, display) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                  op),
          op);
  q.bind_i64(1, r.account_id);
  q.bind_text(2, r.key);
  q.bind_i64(3, static_cast<std::int64_t>(r.model));
  q.bind_f64(4, r.mu);
  q.bind_f64(5, r.sigma);
  q.bind_f64(6, r.volatility);
  q.bind_i64(7, r.games);
  q.bind_i64(8, r.last_ms);
  q.bind_f64(9, r.display);
  if (q.run() != status::ok) fail(db_, op, SQLITE_CONSTRAINT);
}

void sqlite_backend::save_rating_change(const rating_change& c) {
  const char* op = "save_rating_change";
  query q(db_,
          prepare("INSERT OR REPLACE INTO rating_history (account_id, key, ended_ms, game_id, "
                  "mu_before, sigma_before, display_before, mu_after, sigma_after, display_after) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                  op),
          op);
  q.bind_i64(1, c.account_id);
  q.bind_text(2, c.key);
  q.bind_i64(3, c.ended_ms);
  q.bind_text(4, c.game_id);
  q.bind_f64(5, c.mu_before);
  q.bind_f64(6, c.sigma_before);
  q.bind_f64(7, c.display_before);
  q.bind_f64(8, c.mu_after);
  q.bind_f64(9, c.sigma_after);
  q.bind_f64(10, c.display_after);
  if (q.run() != status::ok) fail(db_, op, SQLITE_CONSTRAINT);
}

std::optional<board_row> sqlite_backend::load_entry(const std::string& board, std::int64_t season,
                                                    std::int64_t account_id) {
  const char* op = "load_entry";
  query q(db_,
          prepare("SELECT value, sort_key, reached_ms FROM leaderboard "
                  "WHERE board = ?1 AND season = ?2 AND account_id = ?3",
                  op),
          op);
  q.bind_text(1, board);
  q.bind_i64(2, season);
  q.bind_i64(3, account_id);
  if (!q.next()) return std::nullopt;
  return board_row{board, season, account_id, q.f64(0), q.f64(1), q.i64(2)};
}

void sqlite_backend::save_entry(const board_row& e) {
  const char* op = "save_entry";
  query q(db_,
          prepare("INSERT OR REPLACE INTO leaderboard (board, season, account_id, value, sort_key, "
                  "reached_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                  op),
          op);
  q.bind_text(1, e.board);
  q.bind_i64(2, e.season);
  q.bind_i64(3, e.account_id);
  q.bind_f64(4, e.value);
  q.bind_f64(5, e.sort_key);
  q.bind_i64(6, e.reached_ms);
  if (q.run() != status::ok) fail(db_, op, SQLITE_CONSTRAINT);
}

void sqlite_backend::load_board(const std::string& board, std::int64_t season,
                                const std::function<void(const board_row&)>& each) {
  const char* op = "load_board";
  query q(db_,
          prepare("SELECT account_id, value, sort_key, reached_ms FROM leaderboard "
                  "WHERE board = ?1 AND season = ?2",
                  op),
          op);
  q.bind_text(1, board);
  q.bind_i64(2, season);
  while (q.next())
    each(board_row{board, season, q.i64(0), q.f64(1), q.f64(2), q.i64(3)});
}

std::vector<rating_record> sqlite_backend::ratings_of(std::int64_t account_id) {
  const char* op = "ratings_of";
  query q(db_,
          prepare("SELECT account_id, key, model, mu, sigma, volatility, games, last_ms, display "
                  "FROM ratings WHERE account_id = ?1 ORDER BY key",
                  op),
          op);
  q.bind_i64(1, account_id);
  std::vector<rating_record> out;
  while (q.next())
    out.push_back(read_rating(q));
  return out;
}

std::vector<rating_change> sqlite_backend::rating_history(std::int64_t account_id,
                                                          const std::string& key,
                                                          std::int64_t before_ms, int limit) {
  const char* op = "rating_history";
  std::vector<rating_change> out;
  if (limit <= 0) return out;
  query q(db_,
          prepare("SELECT ended_ms, game_id, mu_before, sigma_before, display_before, mu_after, "
                  "sigma_after, display_after FROM rating_history "
                  "WHERE account_id = ?1 AND key = ?2 AND ended_ms < ?3 "
                  "ORDER BY ended_ms DESC, game_id DESC LIMIT ?4",
                  op),
          op);
  q.bind_i64(1, account_id);
  q.bind_text(2, key);
  q.bind_i64(3, before_ms > 0 ? before_ms : std::numeric_limits<std::int64_t>::max());
  q.bind_i64(4, limit);
  while (q.next()) {
    rating_change c;
    c.account_id = account_id;
    c.key = key;
    c.ended_ms = q.i64(0);
    c.game_id = q.text(1);
    c.mu_before = q.f64(2);
    c.sigma_before = q.f64(3);
    c.display_before = q.f64(4);
    c.mu_after = q.f64(5);
    c.sigma_after = q.f64(6);
    c.display_after = q.f64(7);
    out.push_back(std::move(c));
  }
  return out;
}

leaderboard_page sqlite_backend::leaderboard_top(const std::string& board, std::int64_t season,
                                                 std::int64_t offset, int limit) {
  return book_.top(board, season, offset, limit);
}

std::optional<leaderboard_entry> sqlite_backend::leaderboard_rank(const std::string& board,
                                                                  std::int64_t season,
                                                                  std::int64_t account_id) {
  return book_.rank(board, season, account_id);
}

leaderboard_page sqlite_backend::leaderboard_around(const std::string& board, std::int64_t season,
                                                    std::int64_t account_id, int radius) {
  return book_.around(board, season, account_id, radius);
}

std::vector<std::int64_t> sqlite_backend::leaderboard_seasons(const std::string& board) {
  const char* op = "leaderboard_seasons";
  // Skips from season to season along the primary key instead of reading every entry.
  query q(db_,
          prepare("WITH RECURSIVE s(season) AS ("
                  "SELECT (SELECT max(season) FROM leaderboard WHERE board = ?1) "
                  "UNION ALL SELECT (SELECT max(season) FROM leaderboard "
                  "WHERE board = ?1 AND season < s.season) FROM s WHERE s.season IS NOT NULL) "
                  "SELECT season FROM s WHERE season IS NOT NULL",
                  op),
          op);
  q.bind_text(1, board);
  std::vector<std::int64_t> out;
  while (q.next())
    out.push_back(q.i64(0));
  return out;
}

std::optional<game_record> sqlite_backend::find_game(const std::string& id) {
  const char* op = "find_game";
  game_record g;
  {
    query q(db_,
            prepare("SELECT id, mode, room_id, started_ms, ended_ms, record_json, is_private "
                    "FROM games WHERE id = ?1",
                    op),
            op);
    q.bind_text(1, id);
    if (!q.next()) return std::nullopt;
    g.id = q.text(0);
    g.mode = q.text(1);
    g.room_id = q.text(2);
    g.started_ms = q.i64(3);
    g.ended_ms = q.i64(4);
    g.record_json = q.text(5);
    g.is_private = q.i64(6) != 0;
  }
  query p(db_, prepare("SELECT account_id FROM game_players WHERE game_id = ?1 ORDER BY seat", op),
          op);
  p.bind_text(1, id);
  while (p.next())
    g.players.push_back(p.i64(0));
  return g;
}

void sqlite_backend::put_casebook(const casebook_record& c) {
  const char* op = "put_casebook";
  query q(db_,
          prepare("INSERT OR REPLACE INTO casebooks (game_id, title, language, author, markdown, "
                  "created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                  op),
          op);
  q.bind_text(1, c.game_id);
  q.bind_text(2, c.title);
  q.bind_text(3, c.language);
  q.bind_text(4, c.author);
  q.bind_text(5, c.markdown);
  q.bind_i64(6, c.created_ms);
  if (q.run() != status::ok) fail(db_, op, SQLITE_CONSTRAINT);
}

void sqlite_backend::put_room_snapshot(const room_snapshot_record& s) {
  const char* op = "put_room_snapshot";
  query q(db_,
          prepare("INSERT INTO room_snapshots (room_id, node, seq, updated_ms, data_json) "
                  "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (room_id) DO UPDATE SET node = "
                  "excluded.node, seq = excluded.seq, updated_ms = excluded.updated_ms, "
                  "data_json = excluded.data_json WHERE excluded.seq > room_snapshots.seq AND "
                  "excluded.node = room_snapshots.node",
                  op),
          op);
  q.bind_text(1, s.room_id);
  q.bind_text(2, s.node);
  q.bind_i64(3, s.seq);
  q.bind_i64(4, s.updated_ms);
  q.bind_text(5, s.data_json);
  if (q.run() != status::ok) fail(db_, op, SQLITE_CONSTRAINT);
}

void sqlite_backend::delete_room_snapshot(const std::string& room_id, const std::string& node,
                                          std::int64_t upto_seq) {
  const char* op = "delete_room_snapshot";
  query q(db_,
          prepare("DELETE FROM room_snapshots WHERE room_id = ?1 AND seq <= ?2 AND node = ?3", op),
          op);
  q.bind_text(1, room_id);
  q.bind_i64(2, upto_seq);
  q.bind_text(3, node);
  if (q.run() != status::ok) fail(db_, op, SQLITE_CONSTRAINT);
}

std::vector<room_snapshot_record> sqlite_backend::claim_room_snapshots(const std::string& from,
                                                                       const std::string& to) {
  const char* op = "claim_room_snapshots";
  query q(db_,
          prepare("UPDATE room_snapshots SET node = ?2 WHERE node = ?1 "
                  "RETURNING room_id, node, seq, updated_ms, data_json",
                  op),
          op);
  q.bind_text(1, from);
  q.bind_text(2, to);
  std::vector<room_snapshot_record> out;
  while (q.next())
    out.push_back({q.text(0), q.text(1), q.i64(2), q.i64(3), q.text(4)});
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.room_id < b.room_id; });
  return out;
}

std::vector<room_snapshot_record> sqlite_backend::room_snapshots(const std::string& node) {
  const char* op = "room_snapshots";
  query q(db_,
          prepare("SELECT room_id, node, seq, updated_ms, data_json FROM room_snapshots "
                  "WHERE node = ?1 ORDER BY room_id",
                  op),
          op);
  q.bind_text(1, node);
  std::vector<room_snapshot_record> out;
  while (q.next())
    out.push_back({q.text(0), q.text(1), q.i64(2), q.i64(3), q.text(4)});
  return out;
}

std::optional<casebook_record> sqlite_backend::find_casebook(const std::string& game_id) {
  const char* op = "find_casebook";
  query q(db_,
          prepare("SELECT game_id, title, language, author, markdown, created_ms FROM casebooks "
                  "WHERE game_id = ?1",
                  op),
          op);
  q.bind_text(1, game_id);
  if (!q.next()) return std::nullopt;
  casebook_record c;
  c.game_id = q.text(0);
  c.title = q.text(1);
  c.language = q.text(2);
  c.author = q.text(3);
  c.markdown = q.text(4);
  c.created_ms = q.i64(5);
  return c;
}

std::vector<game_record> sqlite_backend::games_of(std::int64_t account_id, int limit,
                                                  std::int64_t before_ms, bool include_private) {
  const char* op = "games_of";
  if (limit <= 0) return {};
  // First the ids, in the index's order; then each game. "ended_ms < before_ms" is written as
  // "<= before_ms - 1" so one form serves both cases and keeps the index range.
  std::vector<std::string> ids;
  {
    query q(db_,
            prepare("SELECT DISTINCT game_id, ended_ms FROM game_players "
                    "WHERE account_id = ?1 AND ended_ms <= ?2 AND (?4 OR is_private = 0) "
                    "ORDER BY ended_ms DESC, game_id DESC LIMIT ?3",
                    op),
            op);
    q.bind_i64(1, account_id);
    q.bind_i64(2, before_ms > 0 ? before_ms - 1 : std::numeric_limits<std::int64_t>::max());
    q.bind_i64(3, limit);
    q.bind_i64(4, include_private ? 1 : 0);
    while (q.next())
      ids.push_back(q.text(0));
  }
  std::vector<game_record> out;
  out.reserve(ids.size());
  for (const std::string& id : ids) {
    if (auto g = find_game(id)) out.push_back(std::move(*g));
  }
  return out;
}

std::vector<mode_stats> sqlite_backend::stats_of(std::int64_t account_id) {
  const char* op = "stats_of";
  std::vector<mode_stats> out;
  {
    query q(db_,
            prepare("SELECT mode, played, won, lost, drawn, abandoned, time_played_ms "
                    "FROM player_stats WHERE account_id = ?1 ORDER BY mode",
                    op),
            op);
    q.bind_i64(1, account_id);
    while (q.next()) {
      mode_stats s;
      s.mode = q.text(0);
      s.played = q.i64(1);
      s.won = q.i64(2);
      s.lost = q.i64(3);
      s.drawn = q.i64(4);
      s.abandoned = q.i64(5);
      s.time_played_ms = q.i64(6);
      out.push_back(std::move(s));
    }
  }
  query q(db_,
          prepare("SELECT mode, tally, name, n FROM player_stat_tallies WHERE account_id = ?1", op),
          op);
  q.bind_i64(1, account_id);
  while (q.next()) {
    const std::string mode = q.text(0);
    auto it =
        std::find_if(out.begin(), out.end(), [&](const mode_stats& s) { return s.mode == mode; });
    if (it != out.end()) it->tallies[q.text(1)][q.text(2)] = q.i64(3);
  }
  return out;
}

// --- Action log -------------------------------------------------------------------------------

// The keyed table, action_log (stream, seq), is what reads use. Written line by line, with many
// games going on it costs a page per line: each game's last lines sit on a page of their own, and
// every commit writes each page it touched to the WAL, then again at the checkpoint. So the bulk
// path, append_logs, appends to action_log_recent instead (rowid order: a write fills the table's
// last pages), and merge_recent_log moves those lines into action_log in key order, many per game
// at once, when enough have come or before anything reads or checks the keyed table. A duplicate
// (stream, seq) is dropped there: the first line stored is kept.

bool sqlite_backend::recent_log_empty() {
  query q(db_, prepare("SELECT 1 FROM action_log_recent LIMIT 1", "recent_log"), "recent_log");
  return !q.next();
}

void sqlite_backend::merge_recent_log() {
  const char* op = "merge_recent_log";
  {
    query q(db_,
            prepare("INSERT OR IGNORE INTO action_log (stream, seq, ts_ms, kind, actor, "
                    "payload_json) SELECT stream, seq, ts_ms, kind, actor, payload_json "
                    "FROM action_log_recent ORDER BY stream, seq, rowid",
                    op),
            op);
    if (q.run() != status::ok) fail(db_, op, SQLITE_CONSTRAINT);
  }
  {
    // Without a WHERE clause SQLite drops the table's pages at once instead of row by row.
    query q(db_, prepare("DELETE FROM action_log_recent", op), op);
    if (q.run() != status::ok) fail(db_, op, SQLITE_CONSTRAINT);
  }
  recent_log_rows_ = 0;
}

status sqlite_backend::append_log(const log_entry& e) {
  const char* op = "append_log";
  // The conflict check needs every line in the keyed table.
  if (!recent_log_empty()) merge_recent_log();
  query q(db_,
          prepare("INSERT INTO action_log (stream, seq, ts_ms, kind, actor, payload_json) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                  op),
          op);
  q.bind_text(1, e.stream);
  q.bind_i64(2, e.seq);
  q.bind_i64(3, e.ts_ms);
  q.bind_text(4, e.kind);
  q.bind_i64(5, e.actor);
  q.bind_text(6, e.payload_json);
  return q.run();
}

std::int64_t sqlite_backend::append_logs(const std::vector<log_entry>& es) {
  const char* op = "append_logs";
  // Rows go kChunk at a time through one multi-row statement, the rest one by one.
  constexpr std::size_t kChunk = 64;
  static const std::string chunk_sql = [] {
    std::string sql =
        "INSERT INTO action_log_recent (stream, seq, ts_ms, kind, actor, payload_json) VALUES ";
    for (std::size_t i = 0; i < kChunk; ++i) {
      if (i) sql += ", ";
      const auto b = 6 * i;
      sql += "(?" + std::to_string(b + 1) + ", ?" + std::to_string(b + 2) + ", ?" +
             std::to_string(b + 3) + ", ?" + std::to_string(b + 4) + ", ?" + std::to_string(b + 5) +
             ", ?" + std::to_string(b + 6) + ")";
    }
    return sql;
  }();
  std::size_t i = 0;
  auto bind = [](query& q, int base, const log_entry& e) {
    q.bind_text(base + 1, e.stream);
    q.bind_i64(base + 2, e.seq);
    q.bind_i64(base + 3, e.ts_ms);
    q.bind_text(base + 4, e.kind);
    q.bind_i64(base + 5, e.actor);
    q.bind_text(base + 6, e.payload_json);
  };
  for (; i + kChunk <= es.size(); i += kChunk) {
    query q(db_, prepare(chunk_sql, op), op);
    for (std::size_t k = 0; k < kChunk; ++k)
      bind(q, static_cast<int>(6 * k), es[i + k]);
    if (q.run() != status::ok) fail(db_, op, SQLITE_CONSTRAINT);
  }
  for (; i < es.size(); ++i) {
    query q(db_,
            prepare("INSERT INTO action_log_recent (stream, seq, ts_ms, kind, actor, "
                    "payload_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    op),
            op);
    bind(q, 0, es[i]);
    if (q.run() != status::ok) fail(db_, op, SQLITE_CONSTRAINT);
  }
  // A count only: a rolled-back transaction leaves it too high, which merges early, no more.
  recent_log_rows_ += static_cast<std::int64_t>(es.size());
  if (recent_log_rows_ >= log_merge_rows_) merge_recent_log();
  return static_cast<std::int64_t>(es.size());
}

std::vector<log_entry> sqlite_backend::read_log(const std::string& stream, std::int64_t after_seq,
                                                int limit) {
  const char* op = "read_log";
  if (limit <= 0) return {};
  if (!recent_log_empty()) merge_recent_log();
  query q(db_,
          prepare("SELECT stream, seq, ts_ms, kind, actor, payload_json FROM action_log "
                  "WHERE stream = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                  op),
          op);
  q.bind_text(1, stream);
  q.bind_i64(2, after_seq);
  q.bind_i64(3, limit);
  std::vector<log_entry> out;
  while (q.next()) {
    log_entry e;
    e.stream = q.text(0);
    e.seq = q.i64(1);
    e.ts_ms = q.i64(2);
    e.kind = q.text(3);
    e.actor = q.i64(4);
    e.payload_json = q.text(5);
    out.push_back(std::move(e));
  }
  return out;
}

// --- Event outbox -----------------------------------------------------------------------------

void sqlite_backend::append_event(event_record& e) {
  const char* op = "append_event";
  query q(db_,
          prepare("INSERT INTO events (topic, event_key, payload_json, ts_ms) "
                  "VALUES (?1, ?2, ?3, ?4)",
                  op),
          op);
  q.bind_text(1, e.topic);
  q.bind_text(2, e.key);
  q.bind_text(3, e.payload_json);
  q.bind_i64(4, e.ts_ms);
  // No constraint can fail here but NOT NULL, which bound strings always satisfy.
  if (q.run() != status::ok) fail(db_, op, SQLITE_CONSTRAINT);
  e.id = sqlite3_last_insert_rowid(db_);
}

void sqlite_backend::append_events(const std::vector<event_record>& es) {
  // One prepared statement run per row, inside the worker's transaction: SQLite has no round trip
  // to save, and an event's payload (a whole envelope) is larger than the statement's own cost.
  for (const auto& e : es) {
    event_record row = e;
    append_event(row);
  }
}

std::vector<event_record> sqlite_backend::read_events(std::int64_t after_id, int limit) {
  const char* op = "read_events";
  if (limit <= 0) return {};
  query q(db_,
          prepare("SELECT id, topic, event_key, payload_json, ts_ms FROM events "
                  "WHERE id > ?1 ORDER BY id LIMIT ?2",
                  op),
          op);
  q.bind_i64(1, after_id);
  q.bind_i64(2, limit);
  std::vector<event_record> out;
  while (q.next()) {
    event_record e;
    e.id = q.i64(0);
    e.topic = q.text(1);
    e.key = q.text(2);
    e.payload_json = q.text(3);
    e.ts_ms = q.i64(4);
    out.push_back(std::move(e));
  }
  return out;
}

// --- Traces -----------------------------------------------------------------------------------

namespace {

// Reads the columns "id, area, kind, account_id, u_uuid, payload_json, x, y, z, created_ms,
// rating, votes, reports, hidden", in that order.
trace_record read_trace(const query& q) {
  trace_record t;
  t.id = q.i64(0);
  t.area = q.text(1);
  t.kind = static_cast<trace_kind>(q.i64(2));
  t.account_id = q.i64(3);
  t.u_uuid = q.text(4);
  t.payload_json = q.text(5);
  t.has_pos = !q.is_null(6);
  if (t.has_pos) {
    t.x = q.f64(6);
    t.y = q.f64(7);
    t.z = q.f64(8);
  }
  t.created_ms = q.i64(9);
  t.rating = q.i64(10);
  t.votes = q.i64(11);
  t.reports = q.i64(12);
  t.hidden = q.i64(13) != 0;
  return t;
}

}  // namespace

void sqlite_backend::insert_trace(trace_record& t) {
  const char* op = "insert_trace";
  query q(db_,
          prepare("INSERT INTO traces (area, kind, account_id, u_uuid, payload_json, x, y, z, "
                  "created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                  op),
          op);
  q.bind_text(1, t.area);
  q.bind_i64(2, static_cast<std::int64_t>(t.kind));
  q.bind_i64(3, t.account_id);
  q.bind_text(4, t.u_uuid);
  q.bind_text(5, t.payload_json);
  if (t.has_pos) {
    q.bind_f64(6, t.x);
    q.bind_f64(7, t.y);
    q.bind_f64(8, t.z);
  } else {
    q.bind_null(6);
    q.bind_null(7);
    q.bind_null(8);
  }
  q.bind_i64(9, t.created_ms);
  if (q.run() != status::ok) fail(db_, op, SQLITE_CONSTRAINT);
  t.id = sqlite3_last_insert_rowid(db_);
  t.rating = t.votes = t.reports = 0;
  t.hidden = false;
}

std::vector<trace_record> sqlite_backend::list_traces(const trace_query& tq) {
  const char* op = "list_traces";
  std::vector<trace_record> out;
  if (tq.limit <= 0) return out;
  // One statement for both forms: the near filter is switched off by ?6 = 0. The box test lets
  // SQLite skip most rows before the exact distance.
  query q(db_,
          prepare("SELECT id, area, kind, account_id, u_uuid, payload_json, x, y, z, created_ms, "
                  "rating, votes, reports, hidden FROM traces WHERE area = ?1 AND kind = ?2 AND "
                  "hidden = 0 AND id < ?3 "
                  "AND created_ms >= ?4 AND (?6 = 0 OR (x IS NOT NULL "
                  "AND x BETWEEN ?7 - ?10 AND ?7 + ?10 AND y BETWEEN ?8 - ?10 AND ?8 + ?10 "
                  "AND z BETWEEN ?9 - ?10 AND ?9 + ?10 "
                  "AND (x - ?7) * (x - ?7) + (y - ?8) * (y - ?8) + (z - ?9) * (z - ?9) "
                  "<= ?10 * ?10)) ORDER BY id DESC LIMIT ?5",
                  op),
          op);
  q.bind_text(1, tq.area);
  q.bind_i64(2, static_cast<std::int64_t>(tq.kind));
  q.bind_i64(3, tq.before_id > 0 ? tq.before_id : std::numeric_limits<std::int64_t>::max());
  q.bind_i64(4, tq.created_after);
  q.bind_i64(5, tq.limit);
  q.bind_i64(6, tq.near ? 1 : 0);
  q.bind_f64(7, tq.x);
  q.bind_f64(8, tq.y);
  q.bind_f64(9, tq.z);
  q.bind_f64(10, tq.radius);
  while (q.next())
    out.push_back(read_trace(q));
  return out;
}

std::optional<trace_record> sqlite_backend::find_trace(std::int64_t id) {
  const char* op = "find_trace";
  query q(db_,
          prepare("SELECT id, area, kind, account_id, u_uuid, payload_json, x, y, z, created_ms, "
                  "rating, votes, reports, hidden FROM traces WHERE id = ?1",
                  op),
          op);
  q.bind_i64(1, id);
  if (!q.next()) return std::nullopt;
  return read_trace(q);
}

status sqlite_backend::appraise_trace(std::int64_t id, std::int64_t account_id, int value) {
  const char* op = "appraise_trace";
  {
    query e(db_, prepare("SELECT 1 FROM traces WHERE id = ?1", op), op);
    e.bind_i64(1, id);
    if (!e.next()) return status::not_found;
  }
  {
    query q(db_,
            prepare("INSERT INTO trace_votes (trace_id, account_id, value) VALUES (?1, ?2, ?3) "
                    "ON CONFLICT (trace_id, account_id) DO UPDATE SET value = excluded.value",
                    op),
            op);
    q.bind_i64(1, id);
    q.bind_i64(2, account_id);
    q.bind_i64(3, value);
    if (q.run() != status::ok) fail(db_, op, SQLITE_CONSTRAINT);
  }
  query u(db_,
          prepare("UPDATE traces SET rating = (SELECT COALESCE(SUM(value), 0) FROM trace_votes "
                  "WHERE trace_id = ?1), votes = (SELECT COUNT(*) FROM trace_votes WHERE "
                  "trace_id = ?1) WHERE id = ?1",
                  op),
          op);
  u.bind_i64(1, id);
  if (u.run() != status::ok) fail(db_, op, SQLITE_CONSTRAINT);
  return status::ok;
}

status sqlite_backend::report_trace(const trace_report& r, std::int64_t hide_after) {
  const char* op = "report_trace";
  {
    query e(db_, prepare("SELECT 1 FROM traces WHERE id = ?1", op), op);
    e.bind_i64(1, r.trace_id);
    if (!e.next()) return status::not_found;
  }
  {
    query q(db_,
            prepare("INSERT INTO trace_reports (trace_id, account_id, source, weighty) "
                    "VALUES (?1, ?2, ?3, ?4)",
                    op),
            op);
    q.bind_i64(1, r.trace_id);
    q.bind_i64(2, r.account_id);
    q.bind_text(3, r.source);
    q.bind_i64(4, r.weighty ? 1 : 0);
    if (q.run() == status::conflict) return status::conflict;
  }
  query u(db_,
          prepare("UPDATE traces SET reports = reports + 1, hidden = ((SELECT COUNT(DISTINCT "
                  "source) FROM trace_reports WHERE trace_id = ?1 AND weighty = 1) >= ?2) "
                  "WHERE id = ?1",
                  op),
          op);
  u.bind_i64(1, r.trace_id);
  u.bind_i64(2, hide_after);
  if (u.run() != status::ok) fail(db_, op, SQLITE_CONSTRAINT);
  return status::ok;
}

std::int64_t sqlite_backend::trim_traces(std::int64_t created_before_ms,
                                         std::int64_t keep_per_kind) {
  // A full database must still be able to delete: trimming may use a small reserve of pages
  // beyond the cap until its transaction ends (freed pages are then reused, so the file stays
  // within cap + reserve).
  constexpr std::int64_t kTrimReserve = 64;
  if (max_pages_ > 0 && !cap_raised_) {
    set_max_pages(max_pages_ + kTrimReserve);
    cap_raised_ = true;
  }

  const char* op = "trim_traces";
  std::int64_t removed = 0;
  if (created_before_ms > 0) {
    query q(db_, prepare("DELETE FROM traces WHERE created_ms < ?1", op), op);
    q.bind_i64(1, created_before_ms);
    if (q.run() != status::ok) fail(db_, op, SQLITE_CONSTRAINT);
    removed += sqlite3_changes(db_);
  }
  if (keep_per_kind > 0) {
    query q(db_,
            prepare("DELETE FROM traces WHERE id IN (SELECT id FROM (SELECT id, ROW_NUMBER() "
                    "OVER (PARTITION BY area, kind ORDER BY id DESC) AS rn FROM traces) "
                    "WHERE rn > ?1)",
                    op),
            op);
    q.bind_i64(1, keep_per_kind);
    if (q.run() != status::ok) fail(db_, op, SQLITE_CONSTRAINT);
    removed += sqlite3_changes(db_);
  }
  return removed;
}

std::vector<trace_record> sqlite_backend::reported_traces(const moderation_query& mq) {
  const char* op = "reported_traces";
  std::vector<trace_record> out;
  if (mq.limit <= 0) return out;
  query q(db_,
          prepare("SELECT id, area, kind, account_id, u_uuid, payload_json, x, y, z, created_ms, "
                  "rating, votes, reports, hidden FROM traces WHERE reports > 0 AND id < ?1 "
                  "AND (?2 = 0 OR hidden = 1) ORDER BY id DESC LIMIT ?3",
                  op),
          op);
  q.bind_i64(1, mq.before_id > 0 ? mq.before_id : std::numeric_limits<std::int64_t>::max());
  q.bind_i64(2, mq.hidden_only ? 1 : 0);
  q.bind_i64(3, mq.limit);
  while (q.next())
    out.push_back(read_trace(q));
  return out;
}

std::vector<trace_report> sqlite_backend::reports_of(std::int64_t trace_id) {
  const char* op = "reports_of";
  query q(db_,
          prepare("SELECT account_id, source, weighty FROM trace_reports WHERE trace_id = ?1 "
                  "ORDER BY account_id",
                  op),
          op);
  q.bind_i64(1, trace_id);
  std::vector<trace_report> out;
  while (q.next())
    out.push_back(trace_report{trace_id, q.i64(0), q.text(1), q.i64(2) != 0});
  return out;
}

status sqlite_backend::restore_trace(std::int64_t id) {
  const char* op = "restore_trace";
  {
    query u(db_, prepare("UPDATE traces SET hidden = 0, reports = 0 WHERE id = ?1", op), op);
    u.bind_i64(1, id);
    if (u.run() != status::ok) fail(db_, op, SQLITE_CONSTRAINT);
    if (sqlite3_changes(db_) == 0) return status::not_found;
  }
  query d(db_, prepare("DELETE FROM trace_reports WHERE trace_id = ?1", op), op);
  d.bind_i64(1, id);
  if (d.run() != status::ok) fail(db_, op, SQLITE_CONSTRAINT);
  return status::ok;
}

status sqlite_backend::delete_trace(std::int64_t id) {
  const char* op = "delete_trace";
  query q(db_, prepare("DELETE FROM traces WHERE id = ?1", op), op);
  q.bind_i64(1, id);
  if (q.run() != status::ok) fail(db_, op, SQLITE_CONSTRAINT);
  return sqlite3_changes(db_) > 0 ? status::ok : status::not_found;
}

}  // namespace maratang::store
