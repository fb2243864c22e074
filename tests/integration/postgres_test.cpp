// The server on a real PostgreSQL 15 (started for each test by scripts/pg_temp.sh): DATABASE_URL
// selects it, data survives a server restart, the database going down gives clear 503s within a
// bounded time while the server and its players go on, games that end meanwhile keep their
// records, the server reconnects by itself, and a schema newer than the server is refused.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include "harness.hpp"
#include "store/postgres/pg_test_cluster.hpp"

namespace maratang::it {
namespace {

using store::testing::pg_test_cluster;

constexpr std::string_view kTrace = R"({
  "obj": {"u_uuid": "pg", "o_type": 7, "o_pos": "1,2,3", "o_rot": "0,0,0"},
  "phantom": {"u_uuid": "pg", "data": [["1,2,3", "0,0,0"]]}
})";

std::vector<std::string> on(const pg_test_cluster& pg, std::vector<std::string> more = {}) {
  more.push_back("storage.database_url=" + pg.url());
  more.push_back("storage.connect_timeout_s=2");
  more.push_back("testing.test_modes=true");
  more.push_back("traces.anon_writes_per_minute=0");
  return more;
}

// Runs one SQL statement against the cluster; returns false (with the error) when it fails.
bool sql(const pg_test_cluster& pg, const std::string& text, std::string* error = nullptr) {
  PGconn* c = PQconnectdb(pg.url().c_str());
  bool ok = PQstatus(c) == CONNECTION_OK;
  if (ok) {
    PGresult* r = PQexec(c, text.c_str());
    ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok && error) *error = PQresultErrorMessage(r);
    PQclear(r);
  } else if (error) {
    *error = PQerrorMessage(c);
  }
  PQfinish(c);
  return ok;
}

TEST(postgres_test, the_server_keeps_its_data_in_postgres_across_restarts) {
  pg_test_cluster pg(MARATANG_SOURCE_DIR);
  temp_dir data;
  player p;
  std::int64_t obj = 0;
  {
    server_process srv(on(pg), data.path() / "data");
    auto ready = http_call(srv.port(), "GET", "/ready");
    EXPECT_EQ(ready.status, 200) << ready.body;
    p = make_player(srv.port(), "Pgsql");
    auto r = http_call(srv.port(), "POST", "/add-object", std::string(kTrace));
    ASSERT_EQ(r.status, 200) << r.body;
    obj = num(at(r.json(), "ids.obj"));
  }
  // The rows are in PostgreSQL, not in a SQLite file beside it.
  EXPECT_FALSE(std::filesystem::exists(data.path() / "data" / "maratang.db"));
  std::string err;
  EXPECT_TRUE(sql(pg, "SELECT 1 FROM accounts WHERE nickname = 'Pgsql'", &err)) << err;

  server_process again(on(pg), data.path() / "data");
  auto me = http_call(again.port(), "GET", "/v1/account", {}, bearer(p.token));
  ASSERT_EQ(me.status, 200) << me.body;
  EXPECT_EQ(str(at(me.json(), "nickname")), "Pgsql");
  auto listing = http_call(again.port(), "GET", "/get-objects");
  ASSERT_EQ(at(listing.json(), "objects").as_array().size(), 1u) << listing.body;
  EXPECT_EQ(num(at(listing.json(), "objects.0.id")), obj);
}

TEST(postgres_test, database_down_gives_clear_errors_loses_nothing_and_recovers) {
  pg_test_cluster pg(MARATANG_SOURCE_DIR);
  server_process srv(on(pg));
  std::vector<player> before;
  for (int i = 0; i < 3; ++i)
    before.push_back(make_player(srv.port(), fmt::format("Before{}", i)));
  auto seats = seat_players(srv.port(), {"Ender", "Mate"});
  auto snap = snapshot_of_reply(
      seats[0].ws->call("room.create", {{"mode", "test.counter"}, {"name", "Outage"}}));
  seats[1].ws->call("room.join", {{"room_id", at(snap, "id")}});

  pg.kill();
  auto deadline = std::chrono::steady_clock::now();
  // Polls `done` until it holds or `within` has passed.
  auto deadline_wait = [](std::chrono::milliseconds within, const std::function<bool()>& done) {
    const auto end = std::chrono::steady_clock::now() + within;
    while (!done() && std::chrono::steady_clock::now() < end)
      std::this_thread::sleep_for(100ms);
  };

  // Requests that need the database get 503 unavailable, each within a bounded time.
  for (std::string_view target : {"/ready", "/get-objects"}) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = http_call(srv.port(), "GET", target);
    const auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_EQ(r.status, 503) << target << ": " << r.body;
    EXPECT_LT(took, 8s) << target;
  }
  auto write = http_call(srv.port(), "POST", "/add-object", std::string(kTrace));
  EXPECT_EQ(write.status, 503) << write.body;
  EXPECT_EQ(write.error_code(), "unavailable");
  auto login =
      http_call(srv.port(), "POST", "/v1/auth/device", R"({"device_id":"device-during-outage"})");
  EXPECT_EQ(login.status, 503) << login.body;

  // A game ends meanwhile: its record must wait, not be lost.
  seats[1].ws->call("room.ready", {{"ready", true}});
  const auto game = str(at(seats[0].ws->call("room.start"), "game_id"));
  seats[0].ws->call("test.counter.add", {{"n", 41}});
  seats[0].ws->call("test.counter.finish");
  seats[0].ws->expect("room.game_ended");
  // The server, its rooms and its connections go on.
  EXPECT_EQ(http_call(srv.port(), "GET", "/health").status, 200);
  EXPECT_TRUE(seats[1].ws->ping_ok());
  // The record (and the game's log lines) are being retried, not dropped.
  auto retries = [&] { return metric_value(srv.port(), "maratang_storage_retries_total"); };
  deadline_wait(10s, [&] { return retries() > 0; });
  ASSERT_GT(retries(), 0) << "the game's record was not kept for a retry";

  pg.up();

  // The server reconnects by itself: writes work again, and the record arrives.
  bool recovered = false;
  deadline = std::chrono::steady_clock::now() + 30s;
  while (!recovered && std::chrono::steady_clock::now() < deadline) {
    recovered = http_call(srv.port(), "POST", "/add-object", std::string(kTrace)).status == 200;
    if (!recovered) std::this_thread::sleep_for(200ms);
  }
  ASSERT_TRUE(recovered) << "writes never worked again";
  std::optional<json::value> record;
  deadline = std::chrono::steady_clock::now() + 30s;
  while (!record && std::chrono::steady_clock::now() < deadline) {
    auto g = http_call(srv.port(), "GET", "/v1/games/" + game, {}, bearer(seats[0].acc.token));
    if (g.status == 200) {
      record = g.json();
    } else {
      std::this_thread::sleep_for(200ms);
    }
  }
  ASSERT_TRUE(record) << "the game's record was lost";
  EXPECT_EQ(num(at(*record, "record.total")), 41);
  for (const auto& p : before) {
    auto a = http_call(srv.port(), "GET", "/v1/account", {}, bearer(p.token));
    ASSERT_EQ(a.status, 200) << a.body;
    EXPECT_EQ(str(at(a.json(), "nickname")), p.nickname);
  }
  auto m = http_call(srv.port(), "GET", "/metrics");
  EXPECT_NE(m.body.find("\nmaratang_storage_lost_total 0\n"), std::string::npos);
}

TEST(postgres_test, a_schema_newer_than_the_server_is_refused_at_start) {
  pg_test_cluster pg(MARATANG_SOURCE_DIR);
  { server_process first(on(pg)); }
  std::string err;
  ASSERT_TRUE(sql(pg, "INSERT INTO schema_migrations (version, applied_ms) VALUES (999, 0)", &err))
      << err;
  try {
    server_process srv(on(pg));
    FAIL() << "the server started against schema version 999";
  } catch (const std::exception& e) {
    const std::string log = e.what();
    EXPECT_NE(log.find("999"), std::string::npos) << log;
    EXPECT_NE(log.find("newer"), std::string::npos) << log;
  }
}

}  // namespace
}  // namespace maratang::it
