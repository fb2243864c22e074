// What only the sqlite backend has: a file that outlives the connection, migrations over existing
// data, WAL, and errors from the file itself. The shared behaviour is in backend_contract_test.
#include "store/sqlite/sqlite_backend.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fstream>
#include <string>

#include "store/test_temp_dir.hpp"

namespace maratang::store {
namespace {

// A plain read-only connection, to look at the file behind the backend's back.
class raw_db {
 public:
  explicit raw_db(const std::string& path, int flags = SQLITE_OPEN_READONLY) {
    if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << "open " << path << ": " << sqlite3_errmsg(db_);
    }
  }
  ~raw_db() { sqlite3_close(db_); }
  raw_db(const raw_db&) = delete;
  raw_db& operator=(const raw_db&) = delete;

  // The first column of the first row of `sql`, as text ("" when no row).
  std::string scalar(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db_);
      return {};
    }
    std::string out;
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0) != nullptr) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    }
    sqlite3_finalize(s);
    return out;
  }
  void exec(const std::string& sql) {
    EXPECT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
        << sql << ": " << sqlite3_errmsg(db_);
  }

 private:
  sqlite3* db_ = nullptr;
};

TEST(sqlite_backend, data_survives_close_and_reopen) {
  testing::temp_dir dir;
  const std::string path = dir.file("store.db");
  std::int64_t account_id = 0;
  std::int64_t event_id = 0;
  {
    auto db = sqlite_backend::open(path);
    db->migrate();
    account a;
    a.device_id = "dev-1";
    a.email = "one@example.com";
    a.created_ms = 42;
    ASSERT_EQ(db->create_account(a), status::ok);
    account_id = a.id;
    ASSERT_EQ(db->set_nickname(account_id, "One", "one"), status::ok);
    session_record s;
    s.id = "sess";
    s.account_id = account_id;
    s.refresh_hash = "h";
    s.expires_ms = 9000;
    ASSERT_EQ(db->create_session(s), status::ok);
    ASSERT_EQ(db->revoke_session("sess"), status::ok);
    game_record g;
    g.id = "g1";
    g.mode = "arena";
    g.ended_ms = 500;
    g.players = {account_id, 77};
    ASSERT_EQ(db->insert_game(g), status::ok);
    log_entry e;
    e.stream = "g1";
    e.seq = 1;
    e.payload_json = "{}";
    ASSERT_EQ(db->append_log(e), status::ok);
    event_record ev;
    ev.topic = "games";
    db->append_event(ev);
    event_id = ev.id;
  }

  auto db = sqlite_backend::open(path);
  EXPECT_EQ(db->schema_version(), db->latest_schema_version());
  db->migrate();  // nothing to do
  const auto a = db->find_account_by_nickname_key("one");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->id, account_id);
  EXPECT_EQ(a->email, "one@example.com");
  EXPECT_EQ(a->created_ms, 42);
  EXPECT_EQ(db->revoked_sessions(0), (std::vector<std::string>{"sess"}));
  const auto games = db->games_of(77, 10, 0, true);
  ASSERT_EQ(games.size(), 1u);
  EXPECT_EQ(games[0].players, (std::vector<std::int64_t>{account_id, 77}));
  EXPECT_EQ(db->read_log("g1", 0, 10).size(), 1u);
  // Ids keep increasing across connections (AUTOINCREMENT).
  event_record ev;
  db->append_event(ev);
  EXPECT_GT(ev.id, event_id);
  account b;
  b.device_id = "dev-2";
  ASSERT_EQ(db->create_account(b), status::ok);
  EXPECT_GT(b.id, account_id);
}

log_entry line(const std::string& stream, std::int64_t seq, const std::string& say = "x") {
  log_entry e;
  e.stream = stream;
  e.seq = seq;
  e.ts_ms = 1000 + seq;
  e.kind = "chat";
  e.actor = 7;
  e.payload_json = "{\"say\":\"" + say + "\"}";
  return e;
}

// Bulk lines wait in action_log_recent, in arrival order, and move into the keyed table sorted
// once log_merge_rows have come, or before a read or a single append; they survive a restart
// there; a duplicate is dropped at the merge, the first stored kept.
TEST(sqlite_backend, bulk_log_lines_wait_in_arrival_order_and_merge_sorted) {
  testing::temp_dir dir;
  const std::string path = dir.file("store.db");
  sqlite_options o;
  o.log_merge_rows = 10;
  {
    auto db = sqlite_backend::open(path, o);
    db->migrate();
    EXPECT_EQ(db->append_logs({line("b", 2), line("a", 1), line("b", 1)}), 3);
    raw_db raw(path);
    EXPECT_EQ(raw.scalar("SELECT count(*) FROM action_log_recent"), "3");
    EXPECT_EQ(raw.scalar("SELECT count(*) FROM action_log"), "0");
    // Seven more reach the threshold: all ten move, sorted, and the recent table is empty.
    std::vector<log_entry> more;
    for (std::int64_t seq = 3; seq <= 9; ++seq)
      more.push_back(line("b", seq));
    EXPECT_EQ(db->append_logs(more), 7);
    EXPECT_EQ(raw.scalar("SELECT count(*) FROM action_log_recent"), "0");
    EXPECT_EQ(raw.scalar("SELECT count(*) FROM action_log"), "10");
    // A duplicate of a merged line and one of a waiting line: both dropped, the first kept.
    EXPECT_EQ(db->append_logs({line("c", 1, "first"), line("b", 2, "again")}), 2);
    EXPECT_EQ(db->append_logs({line("c", 1, "second")}), 1);
    EXPECT_EQ(raw.scalar("SELECT count(*) FROM action_log_recent"), "3");
  }
  // Lines still waiting at close are read after a restart.
  auto db = sqlite_backend::open(path, o);
  {
    raw_db raw(path);
    EXPECT_EQ(raw.scalar("SELECT count(*) FROM action_log_recent"), "3");
  }
  const auto c = db->read_log("c", 0, 10);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].payload_json, line("c", 1, "first").payload_json);
  const auto b = db->read_log("b", 0, 100);
  ASSERT_EQ(b.size(), 9u);
  for (std::size_t i = 0; i < b.size(); ++i)
    EXPECT_EQ(b[i].seq, static_cast<std::int64_t>(i + 1));
  EXPECT_EQ(b[1].payload_json, line("b", 2).payload_json);
  raw_db raw(path);
  EXPECT_EQ(raw.scalar("SELECT count(*) FROM action_log_recent"), "0");
  // A single append checks against every line, waiting ones included.
  EXPECT_EQ(db->append_logs({line("d", 1)}), 1);
  EXPECT_EQ(db->append_log(line("d", 1)), status::conflict);
  EXPECT_EQ(db->append_log(line("d", 2)), status::ok);
  // A merge inside a transaction that is rolled back leaves the lines waiting, still readable.
  EXPECT_EQ(db->append_logs({line("e", 1)}), 1);
  db->begin();
  EXPECT_EQ(db->read_log("e", 0, 10).size(), 1u);
  db->rollback();
  EXPECT_EQ(raw.scalar("SELECT count(*) FROM action_log_recent"), "1");
  EXPECT_EQ(db->read_log("e", 0, 10).size(), 1u);
}

TEST(sqlite_backend, migrates_an_empty_database_step_by_step) {
  testing::temp_dir dir;
  auto db = sqlite_backend::open(dir.file("store.db"));
  EXPECT_EQ(db->schema_version(), 0);
  ASSERT_GE(db->latest_schema_version(), 2);

  db->migrate_to(1);
  EXPECT_EQ(db->schema_version(), 1);
  account a;
  a.device_id = "dev-old";
  ASSERT_EQ(db->create_account(a), status::ok);
  // A table of a later migration does not exist yet.
  EXPECT_THROW(db->read_events(0, 10), store_error);

  db->migrate();
  EXPECT_EQ(db->schema_version(), db->latest_schema_version());
  EXPECT_EQ(db->find_account_by_device("dev-old")->id, a.id);
  event_record ev;
  db->append_event(ev);
  EXPECT_EQ(db->read_events(0, 10).size(), 1u);

  // One row per applied migration, each with its time.
  raw_db raw(dir.file("store.db"));
  EXPECT_EQ(raw.scalar("SELECT COUNT(*) FROM schema_migrations"),
            std::to_string(db->latest_schema_version()));
  EXPECT_EQ(raw.scalar("SELECT COUNT(*) FROM schema_migrations WHERE applied_ms > 0"),
            std::to_string(db->latest_schema_version()));
}

// Schema 6 records whether a game's room was private. A game stored before it is read back as
// private (its room's privacy is unknown): only its players may read it.
TEST(sqlite_backend, games_stored_before_version_6_read_back_as_private) {
  testing::temp_dir dir;
  auto db = sqlite_backend::open(dir.file("store.db"));
  db->migrate_to(5);
  {
    raw_db raw(dir.file("store.db"), SQLITE_OPEN_READWRITE);
    raw.exec(
        "INSERT INTO games (id, mode, room_id, started_ms, ended_ms, record_json) "
        "VALUES ('g-old', 'mafia', 'r', 1, 2, '{}')");
    raw.exec(
        "INSERT INTO game_players (game_id, seat, account_id, ended_ms) VALUES ('g-old', 0, 7, 2)");
  }
  db->migrate();
  EXPECT_GE(db->schema_version(), 6);
  ASSERT_TRUE(db->find_game("g-old").has_value());
  EXPECT_TRUE(db->find_game("g-old")->is_private);
  EXPECT_EQ(db->games_of(7, 10, 0, true).size(), 1u);
  EXPECT_TRUE(db->games_of(7, 10, 0, false).empty());
}

// Schema 9 adds players' statistics; games stored before it are not counted (their outcomes were
// never computed), and games stored after it are.
TEST(sqlite_backend, games_stored_before_version_9_are_not_counted_in_statistics) {
  testing::temp_dir dir;
  auto db = sqlite_backend::open(dir.file("store.db"));
  db->migrate_to(8);
  game_record old;
  old.id = "g-old";
  old.mode = "mafia";
  old.players = {7};
  ASSERT_EQ(db->insert_game(old), status::ok);  // no outcomes: version 8 has nowhere to put them
  db->migrate();
  EXPECT_GE(db->schema_version(), 9);
  EXPECT_TRUE(db->stats_of(7).empty());
  EXPECT_TRUE(db->find_game("g-old").has_value());
  game_record g = old;
  g.id = "g-new";
  g.outcomes = {player_outcome{7, game_result::won, 5, {}}};
  ASSERT_EQ(db->insert_game(g), status::ok);
  ASSERT_EQ(db->stats_of(7).size(), 1u);
  EXPECT_EQ(db->stats_of(7)[0].played, 1);
}

TEST(sqlite_backend, migrate_refuses_a_newer_database) {
  testing::temp_dir dir;
  const std::string path = dir.file("store.db");
  {
    auto db = sqlite_backend::open(path);
    db->migrate();
  }
  {
    raw_db raw(path, SQLITE_OPEN_READWRITE);
    raw.exec("INSERT INTO schema_migrations (version, applied_ms) VALUES (999, 1)");
  }
  auto db = sqlite_backend::open(path);
  EXPECT_EQ(db->schema_version(), 999);
  try {
    db->migrate();
    FAIL() << "migrate() accepted a newer schema";
  } catch (const store_error& e) {
    EXPECT_NE(std::string(e.what()).find("newer"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(db->ping());
  db->begin();  // no transaction was left open
  db->rollback();
}

TEST(sqlite_backend, a_file_that_is_not_a_database_is_a_store_error) {
  testing::temp_dir dir;
  const std::string path = dir.file("junk.db");
  {
    std::ofstream junk(path, std::ios::binary);
    for (int i = 0; i < 200; ++i)
      junk << "this is not an SQLite database, just text. ";
  }
  try {
    auto db = sqlite_backend::open(path);
    db->migrate();
    FAIL() << "opened a non-database file";
  } catch (const store_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("not a database"), std::string::npos) << what;
    EXPECT_NE(what.find(path), std::string::npos) << what;
  }
}

TEST(sqlite_backend, a_path_that_cannot_be_opened_is_a_store_error) {
  testing::temp_dir dir;
  const std::string path = dir.file("no/such/dir/store.db");
  try {
    sqlite_backend::open(path);
    FAIL() << "opened " << path;
  } catch (const store_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("unable to open"), std::string::npos) << what;
    EXPECT_NE(what.find(path), std::string::npos) << what;
  }
}

TEST(sqlite_backend, uses_wal_mode) {
  testing::temp_dir dir;
  const std::string path = dir.file("store.db");
  auto db = sqlite_backend::open(path, {.full_sync = false, .busy_timeout_ms = 100});
  db->migrate();
  raw_db raw(path);
  EXPECT_EQ(raw.scalar("PRAGMA journal_mode"), "wal");
}

TEST(sqlite_backend, a_reader_sees_only_committed_writes) {
  testing::temp_dir dir;
  const std::string path = dir.file("store.db");
  auto writer = sqlite_backend::open(path);
  writer->migrate();
  auto reader = sqlite_backend::open(path);

  writer->begin();
  account a;
  a.device_id = "dev-1";
  ASSERT_EQ(writer->create_account(a), status::ok);
  EXPECT_FALSE(reader->find_account_by_device("dev-1").has_value());
  writer->commit();
  EXPECT_TRUE(reader->find_account_by_device("dev-1").has_value());
}

TEST(sqlite_backend, a_second_writer_times_out_with_a_store_error) {
  testing::temp_dir dir;
  const std::string path = dir.file("store.db");
  auto first = sqlite_backend::open(path);
  first->migrate();
  auto second = sqlite_backend::open(path, {.full_sync = true, .busy_timeout_ms = 10});
  first->begin();
  EXPECT_THROW(second->begin(), store_error);
  first->commit();
  second->begin();
  second->commit();
}

TEST(sqlite_backend, ping_answers) {
  testing::temp_dir dir;
  auto db = sqlite_backend::open(dir.file("store.db"));
  EXPECT_TRUE(db->ping());
  EXPECT_EQ(db->name(), "sqlite");
}

}  // namespace
}  // namespace maratang::store
