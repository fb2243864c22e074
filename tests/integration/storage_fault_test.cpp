// The disk fills: the SQLite database is capped (storage.max_size_mb), written until it is full,
// then space comes back as the traces trimmer deletes old traces. Writes in between get a clear
// 503 `unavailable`, nothing acknowledged before is lost, the server and its other clients go on,
// games that end meanwhile keep their records (retried until it commits), and writes work again.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "harness.hpp"

namespace maratang::it {
namespace {

std::string phantom_body(int i) {
  json::array points;
  for (int p = 0; p < 60; ++p)
    points.push_back(json::array{fmt::format("{}.5,{}.25,{}", i, p, p), std::string(100, 'r')});
  json::object body{{"obj",
                     {{"u_uuid", fmt::format("filler-{}", i)},
                      {"o_type", 1},
                      {"o_pos", "1,2,3"},
                      {"o_rot", "0,0,0"}}},
                    {"phantom", {{"u_uuid", fmt::format("filler-{}", i)}, {"data", points}}}};
  return json::serialize(body);
}

TEST(storage_fault_test, a_full_disk_refuses_writes_clearly_loses_nothing_and_recovers) {
  server_process srv({"storage.max_size_mb=1", "storage.full_sync=false", "traces.max_per_kind=3",
                      "traces.trim_interval_ms=8000", "traces.anon_writes_per_minute=1000000",
                      "traces.anon_write_burst=1000000", "limits.ws_rate=100000",
                      "limits.ws_burst=100000", "testing.test_modes=true"});
  // Acknowledged before the disk fills: accounts and their nicknames.
  std::vector<player> before;
  for (int i = 0; i < 10; ++i)
    before.push_back(make_player(srv.port(), fmt::format("Before{}", i)));
  auto seats = seat_players(srv.port(), {"Ender", "Mate"});
  auto snap = snapshot_of_reply(
      seats[0].ws->call("room.create", {{"mode", "test.counter"}, {"name", "Full disk"}}));
  seats[1].ws->call("room.join", {{"room_id", at(snap, "id")}});

  // Fill the database until a write is refused.
  http_result refused;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  for (int i = 0; std::chrono::steady_clock::now() < deadline; ++i) {
    auto r = http_call(srv.port(), "POST", "/add-object", phantom_body(i));
    if (r.status != 200) {
      refused = r;
      break;
    }
  }
  ASSERT_EQ(refused.status, 503) << refused.body;
  EXPECT_EQ(refused.error_code(), "unavailable") << refused.body;
  EXPECT_FALSE(str(at(refused.json(), "error.message")).empty());
  // Then small writes fill what room is left in the last pages.
  for (int i = 0; i < 2000; ++i) {
    json::object tiny{
        {"obj", {{"u_uuid", "t"}, {"o_type", 1}, {"o_pos", "1,2,3"}, {"o_rot", "0,0,0"}}},
        {"phantom", {{"u_uuid", "t"}, {"data", json::array{}}}}};
    if (http_call(srv.port(), "POST", "/add-object", json::serialize(tiny)).status != 200) break;
  }

  // Games end while the disk is full: their records cannot be written yet, and must not be lost.
  // (SQLite is full page by page: a table may still have room in its last page, so games are
  // played until a record has had to wait.)
  auto retries = [&] { return metric_value(srv.port(), "maratang_storage_retries_total"); };
  std::vector<std::string> games;
  for (int i = 0; i < 300 && retries() == 0; ++i) {
    seats[1].ws->call("room.ready", {{"ready", true}});
    games.push_back(str(at(seats[0].ws->call("room.start"), "game_id")));
    seats[0].ws->call("test.counter.add", {{"n", i + 1}});
    seats[0].ws->call("test.counter.finish");
    seats[0].ws->expect("room.game_ended");
  }
  ASSERT_GT(retries(), 0) << "no game record ever had to wait for room";

  // The server and its clients go on meanwhile.
  EXPECT_EQ(http_call(srv.port(), "GET", "/health").status, 200);
  EXPECT_TRUE(seats[1].ws->ping_ok());

  // The trimmer frees space: writes succeed again, and the game's record is stored.
  bool recovered = false;
  deadline = std::chrono::steady_clock::now() + 20s;
  for (int i = 0; std::chrono::steady_clock::now() < deadline && !recovered; ++i) {
    recovered =
        http_call(srv.port(), "POST", "/add-object", phantom_body(10'000 + i)).status == 200;
    if (!recovered) std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(recovered) << "writes never worked again";
  // Every game that ended meanwhile is stored, with its own result.
  for (std::size_t i = 0; i < games.size(); ++i) {
    std::optional<json::value> record;
    deadline = std::chrono::steady_clock::now() + 20s;
    while (!record && std::chrono::steady_clock::now() < deadline) {
      auto g =
          http_call(srv.port(), "GET", "/v1/games/" + games[i], {}, bearer(seats[0].acc.token));
      if (g.status == 200) {
        record = g.json();
      } else {
        std::this_thread::sleep_for(100ms);
      }
    }
    ASSERT_TRUE(record) << "the record of game " << i << " was lost";
    EXPECT_EQ(num(at(*record, "record.total")), static_cast<std::int64_t>(i + 1));
  }

  // Everything acknowledged before is there.
  for (const auto& p : before) {
    auto a = http_call(srv.port(), "GET", "/v1/account", {}, bearer(p.token));
    ASSERT_EQ(a.status, 200) << a.body;
    EXPECT_EQ(str(at(a.json(), "nickname")), p.nickname);
  }
  auto m = http_call(srv.port(), "GET", "/metrics");
  EXPECT_NE(m.body.find("\nmaratang_storage_lost_total 0\n"), std::string::npos);
}

}  // namespace
}  // namespace maratang::it
