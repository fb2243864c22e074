// The admin console's endpoints over real sockets, against a real server process: the live view
// of the node (overview, rooms, one room with its game's public view, players online, metrics,
// configuration), and what an admin does to it — closing a room, kicking and banning an
// account — with what the players concerned see, what survives a restart, and the audit log
// that records each action. Ordinary accounts are refused every one of these.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include "harness.hpp"

namespace maratang::it {
namespace {

class admin_console_test : public ::testing::Test {
 protected:
  admin_console_test() { start(); }

  void start() {
    srv_ = std::make_unique<server_process>(
        std::vector<std::string>{"auth.secret=YWRtaW4tY29uc29sZS10ZXN0LXNlY3JldC0zMmJ5dGU"},
        data_.path() / "data");
  }
  int port() const { return srv_->port(); }

  player make_admin() { return it::make_admin(*srv_); }

  http_result get(const player& who, const std::string& path) {
    return http_call(port(), "GET", path, {}, bearer(who.token));
  }
  http_result post(const player& who, const std::string& path, const json::object& body = {}) {
    return http_call(port(), "POST", path, json::serialize(body), bearer(who.token));
  }

  // The newest audit entries, newest first.
  json::array audit(const player& admin) {
    auto r = get(admin, "/v1/admin/audit");
    EXPECT_EQ(r.status, 200) << r.body;
    return at(r.json(), "entries").as_array();
  }

  temp_dir data_;
  std::unique_ptr<server_process> srv_;
};

TEST_F(admin_console_test, ordinary_accounts_are_refused_every_admin_endpoint) {
  auto admin = make_admin();
  auto seats = seat_players(port(), {"Plain"});
  const auto& plain = seats[0].acc;
  const std::string any_room = "/v1/admin/rooms/r1";
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/v1/admin/overview"},
           {"GET", "/v1/admin/rooms"},
           {"GET", any_room},
           {"POST", any_room + "/close"},
           {"GET", "/v1/admin/players"},
           {"POST", fmt::format("/v1/admin/accounts/{}/kick", admin.id)},
           {"POST", fmt::format("/v1/admin/accounts/{}/ban", admin.id)},
           {"POST", fmt::format("/v1/admin/accounts/{}/unban", admin.id)},
           {"GET", "/v1/admin/games/g1"},
           {"GET", "/v1/admin/config"},
           {"GET", "/v1/admin/metrics"}}) {
    auto anon = http_call(port(), method, path);
    EXPECT_EQ(anon.status, 401) << method << " " << path << " " << anon.body;
    auto r = http_call(port(), method, path, method == "POST" ? "{}" : "", bearer(plain.token));
    EXPECT_EQ(r.status, 403) << method << " " << path << " " << r.body;
    EXPECT_EQ(r.error_code(), "forbidden") << path;
  }
  // Nothing happened: the admin is not banned, and no action was audited.
  EXPECT_EQ(get(admin, "/v1/account").status, 200);
  for (const auto& e : audit(admin))
    EXPECT_EQ(str(at(e, "action")), "admin.grant") << json::serialize(e);
}

TEST_F(admin_console_test, an_admin_sees_the_node_and_closes_a_running_game_with_a_reason) {
  auto admin = make_admin();
  auto seats = seat_players(port(), {"Ann", "Ben", "Cat"});
  auto snap = snapshot_of_reply(seats[0].ws->call(
      "room.create", {{"mode", "test.counter"}, {"name", "Secret"}, {"private", true}}));
  const std::string room_id = str(at(snap, "id"));
  const std::string invite = str(at(snap, "invite_code"));
  for (int i = 1; i < 3; ++i) {
    seats[i].ws->call("room.join", {{"invite_code", invite}});
    seats[i].ws->call("room.ready", {{"ready", true}});
  }
  seats[0].ws->call("room.start");
  for (auto& s : seats)
    s.ws->expect("room.game_started");
  seats[1].ws->call("test.counter.add", {{"n", 7}});

  // The overview counts them; the private room is listed to the admin (not in room.list).
  auto ov = get(admin, "/v1/admin/overview");
  ASSERT_EQ(ov.status, 200) << ov.body;
  EXPECT_EQ(num(at(ov.json(), "online")), 3);
  EXPECT_EQ(num(at(ov.json(), "rooms.total")), 1);
  const auto overview = ov.json();
  const auto& by_mode = at(overview, "rooms.by_mode").as_object();
  EXPECT_EQ(num(at(by_mode.at("test.counter"), "playing")), 1) << ov.body;
  EXPECT_EQ(num(at(by_mode.at("mafia"), "waiting")), 0) << ov.body;
  EXPECT_EQ(str(at(ov.json(), "storage")), "sqlite");
  EXPECT_TRUE(at(ov.json(), "nodes").is_null()) << "one node: no list of nodes";
  EXPECT_FALSE(at(ov.json(), "draining").as_bool());
  EXPECT_TRUE(
      seats[0].ws->call("room.list", {{"mode", "test.counter"}}).at("rooms").as_array().empty());
  auto rooms = get(admin, "/v1/admin/rooms");
  ASSERT_EQ(rooms.status, 200) << rooms.body;
  ASSERT_EQ(at(rooms.json(), "rooms").as_array().size(), 1u) << rooms.body;
  EXPECT_EQ(str(at(rooms.json(), "rooms").as_array()[0].at("id")), room_id);
  EXPECT_TRUE(at(rooms.json(), "rooms").as_array()[0].at("private").as_bool());

  // One room: its members and the game's public view (the shared total, no player's own view).
  auto one = get(admin, "/v1/admin/rooms/" + room_id);
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(member_ids(at(one.json(), "room").as_object()).size(), 3u);
  EXPECT_EQ(str(at(one.json(), "room.state")), "playing");
  EXPECT_EQ(str(at(one.json(), "room.invite_code")), invite);
  EXPECT_EQ(num(at(one.json(), "room.game.total")), 7) << one.body;
  const std::string game_id = str(at(one.json(), "room.game_id"));
  EXPECT_EQ(get(admin, "/v1/admin/rooms/nope").error_code(), "unknown_room");

  // Players online, a page at a time, each with its room.
  auto page1 = get(admin, "/v1/admin/players?limit=2");
  ASSERT_EQ(page1.status, 200) << page1.body;
  auto first = at(page1.json(), "players").as_array();
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(str(at(first[0], "room_id")), room_id);
  auto page2 = get(admin, fmt::format("/v1/admin/players?limit=2&after={}",
                                      num(at(page1.json(), "next_after"))));
  ASSERT_EQ(at(page2.json(), "players").as_array().size(), 1u) << page2.body;
  EXPECT_TRUE(at(page2.json(), "next_after").is_null());
  EXPECT_GT(num(at(at(page2.json(), "players").as_array()[0], "id")), num(at(first[1], "id")));
  EXPECT_EQ(get(admin, "/v1/admin/players?limit=0").error_code(), "bad_field");

  // The close: every member is told why; the game is stored as aborted; the room is gone.
  const std::string why = "Closed for a cheating investigation.";
  auto closed = post(admin, "/v1/admin/rooms/" + room_id + "/close", {{"message", why}});
  ASSERT_EQ(closed.status, 200) << closed.body;
  EXPECT_EQ(str(at(closed.json(), "closed")), room_id);
  for (auto& s : seats) {
    auto ended = s.ws->expect("room.game_ended");
    EXPECT_EQ(str(at(ended, "data.result.aborted")), "closed_by_admin") << json::serialize(ended);
    EXPECT_EQ(str(at(ended, "data.result.message")), why);
    auto removed = s.ws->expect("room.removed");
    EXPECT_EQ(str(at(removed, "data.reason")), "closed_by_admin");
    EXPECT_EQ(str(at(removed, "data.message")), why);
    EXPECT_TRUE(s.ws->ping_ok()) << "the connection goes on";
  }
  EXPECT_EQ(get(admin, "/v1/admin/rooms/" + room_id).status, 404);
  EXPECT_EQ(post(admin, "/v1/admin/rooms/" + room_id + "/close").error_code(), "unknown_room");
  auto rec = get(admin, "/v1/admin/games/" + game_id);
  ASSERT_EQ(rec.status, 200) << rec.body;
  EXPECT_EQ(str(at(rec.json(), "record.aborted")), "closed_by_admin") << rec.body;
  EXPECT_EQ(get(admin, "/v1/admin/games/no-such-game").status, 404);
  // A member may be seated again at once.
  EXPECT_EQ(str(at(snapshot_of_reply(seats[0].ws->call(
                       "room.create", {{"mode", "test.counter"}, {"name", "Again"}})),
                   "mode")),
            "test.counter");

  auto entries = audit(admin);
  ASSERT_FALSE(entries.empty());
  EXPECT_EQ(str(at(entries[0], "action")), "room.close");
  EXPECT_EQ(num(at(entries[0], "actor")), admin.id);
  EXPECT_EQ(str(at(entries[0], "target")), "room:" + room_id);
  EXPECT_EQ(str(at(entries[0], "detail.message")), why);
  EXPECT_EQ(str(at(entries[0], "detail.game_id")), game_id);
  EXPECT_EQ(at(entries[0], "detail.members").as_array().size(), 3u);
}

TEST_F(admin_console_test, a_kick_frees_the_seat_and_closes_the_socket_but_lets_the_player_back) {
  auto admin = make_admin();
  auto seats = seat_players(port(), {"Dan", "Eve"});
  auto snap = snapshot_of_reply(
      seats[0].ws->call("room.create", {{"mode", "test.counter"}, {"name", "Open"}}));
  const std::string room_id = str(at(snap, "id"));
  seats[1].ws->call("room.join", {{"room_id", room_id}});
  const auto eve = seats[1].acc;

  auto r = post(admin, fmt::format("/v1/admin/accounts/{}/kick", eve.id),
                {{"message", "Spamming the chat."}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(str(at(r.json(), "room_id")), room_id);
  EXPECT_TRUE(at(r.json(), "connected").as_bool());
  auto removed = seats[1].ws->expect("room.removed");
  EXPECT_EQ(str(at(removed, "data.reason")), "kicked_by_admin");
  EXPECT_EQ(str(at(removed, "data.message")), "Spamming the chat.");
  auto bye = seats[1].ws->expect("session.closed");
  EXPECT_EQ(str(at(bye, "data.reason")), "disconnected_by_admin");
  EXPECT_TRUE(seats[1].ws->wait_closed());
  // The others see a member leave and play on.
  auto left = seats[0].ws->expect("room.member_left");
  EXPECT_EQ(num(at(left, "data.player")), eve.id);
  EXPECT_TRUE(seats[0].ws->ping_ok());

  // The kicked player may come back: the same token still works, without the seat.
  ws_client again(port(), eve.token);
  auto hello = again.hello();
  EXPECT_TRUE(at(hello, "room").is_null()) << json::serialize(hello);
  // Someone not connected: kicked from nothing, still audited; an unknown account is 404.
  auto offline = post(admin, fmt::format("/v1/admin/accounts/{}/kick", admin.id));
  ASSERT_EQ(offline.status, 200) << offline.body;
  EXPECT_FALSE(at(offline.json(), "connected").as_bool());
  EXPECT_TRUE(at(offline.json(), "room_id").is_null());
  EXPECT_EQ(post(admin, "/v1/admin/accounts/999999/kick").status, 404);
  EXPECT_EQ(post(admin, "/v1/admin/accounts/x/kick").error_code(), "bad_field");
  EXPECT_EQ(post(admin, fmt::format("/v1/admin/accounts/{}/kick", eve.id),
                 {{"message", std::string(501, 'x')}})
                .error_code(),
            "bad_field");

  auto entries = audit(admin);
  ASSERT_GE(entries.size(), 2u);
  EXPECT_EQ(str(at(entries[0], "action")), "account.kick");
  EXPECT_EQ(str(at(entries[0], "target")), fmt::format("account:{}", admin.id));
  EXPECT_EQ(str(at(entries[1], "action")), "account.kick");
  EXPECT_EQ(str(at(entries[1], "target")), fmt::format("account:{}", eve.id));
  EXPECT_EQ(str(at(entries[1], "detail.room_id")), room_id);
}

TEST_F(admin_console_test, a_ban_ends_every_session_outlives_a_restart_and_is_lifted_by_unban) {
  auto admin = make_admin();
  auto fay = login_device(port(), "device-Fay");
  set_nickname(port(), fay, "Fay");
  auto ws = std::make_unique<ws_client>(port(), fay.token);
  ws->hello();
  ws->call("room.create", {{"mode", "test.counter"}, {"name", "Fay's"}});

  EXPECT_EQ(post(admin, fmt::format("/v1/admin/accounts/{}/ban", admin.id)).error_code(),
            "forbidden");
  EXPECT_EQ(
      post(admin, fmt::format("/v1/admin/accounts/{}/ban", fay.id), {{"until", 1000}}).error_code(),
      "bad_field");
  EXPECT_EQ(post(admin, "/v1/admin/accounts/999999/ban").status, 404);

  auto r = post(admin, fmt::format("/v1/admin/accounts/{}/ban", fay.id),
                {{"message", "Cheating in ranked games."}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(at(r.json(), "until").is_null());
  auto removed = ws->expect("room.removed");
  EXPECT_EQ(str(at(removed, "data.reason")), "kicked_by_admin");
  auto bye = ws->expect("session.closed");
  EXPECT_EQ(str(at(bye, "data.reason")), "banned");
  EXPECT_NE(str(at(bye, "data.message")).find("Cheating in ranked games."), std::string::npos);
  EXPECT_TRUE(ws->wait_closed());

  auto refused_everywhere = [&](std::string_view when) {
    auto token = get(fay, "/v1/account");
    EXPECT_EQ(token.status, 403) << when << token.body;
    EXPECT_EQ(token.error_code(), "account_banned") << when;
    EXPECT_NE(token.body.find("Cheating in ranked games."), std::string::npos) << token.body;
    EXPECT_EQ(ws_upgrade_probe(port(), fay.token).status, 403) << when;
    auto login = http_call(port(), "POST", "/v1/auth/device",
                           json::serialize(json::object{{"device_id", "device-Fay"}}));
    EXPECT_EQ(login.error_code(), "account_banned") << when << login.body;
    auto refresh = http_call(port(), "POST", "/v1/auth/refresh",
                             json::serialize(json::object{{"refresh_token", fay.refresh_token}}));
    EXPECT_EQ(refresh.error_code(), "account_banned") << when << refresh.body;
  };
  refused_everywhere("after the ban: ");

  // The ban is stored: a restarted server still refuses the account.
  srv_->stop();
  start();
  admin.token = str(at(http_call(port(), "POST", "/v1/auth/login",
                                 json::serialize(json::object{{"email", "ops@example.com"},
                                                              {"password", kAdminPassword}}))
                           .json(),
                       "token"));
  refused_everywhere("after a restart: ");

  ASSERT_EQ(post(admin, fmt::format("/v1/admin/accounts/{}/unban", fay.id)).status, 200);
  EXPECT_EQ(get(fay, "/v1/account").status, 200);
  auto login = http_call(port(), "POST", "/v1/auth/device",
                         json::serialize(json::object{{"device_id", "device-Fay"}}));
  EXPECT_EQ(login.status, 200) << login.body;

  auto entries = audit(admin);
  ASSERT_GE(entries.size(), 2u);
  EXPECT_EQ(str(at(entries[0], "action")), "account.unban");
  EXPECT_EQ(str(at(entries[1], "action")), "account.ban");
  EXPECT_EQ(num(at(entries[1], "actor")), admin.id);
  EXPECT_EQ(str(at(entries[1], "target")), fmt::format("account:{}", fay.id));
  EXPECT_EQ(str(at(entries[1], "detail.message")), "Cheating in ranked games.");
}

TEST_F(admin_console_test, a_ban_with_an_end_ends_by_itself) {
  auto admin = make_admin();
  auto fay = login_device(port(), "device-timed");
  const auto until = now_ms() + 1500;
  auto r = post(admin, fmt::format("/v1/admin/accounts/{}/ban", fay.id), {{"until", until}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(num(at(r.json(), "until")), until);
  auto refused = get(fay, "/v1/account");
  EXPECT_EQ(refused.error_code(), "account_banned");
  EXPECT_NE(refused.body.find(" UTC"), std::string::npos) << "says until when: " << refused.body;
  std::this_thread::sleep_until(
      std::chrono::system_clock::time_point(std::chrono::milliseconds(until + 200)));
  EXPECT_EQ(get(fay, "/v1/account").status, 200);
}

TEST_F(admin_console_test, config_is_redacted_and_metrics_are_sampled) {
  auto admin = make_admin();
  auto cfg = get(admin, "/v1/admin/config");
  ASSERT_EQ(cfg.status, 200) << cfg.body;
  const auto body = cfg.json();
  const auto& settings = at(body, "settings").as_object();
  EXPECT_EQ(str(at(settings.at("auth.secret"), "value")), "<redacted>") << cfg.body;
  EXPECT_EQ(str(at(settings.at("auth.secret"), "source")), "flag");
  EXPECT_EQ(cfg.body.find("YWRtaW4tY29uc29sZS10ZXN0LXNlY3JldC0zMmJ5dGU"), std::string::npos);
  EXPECT_EQ(str(at(settings.at("storage.backend"), "value")), "sqlite");

  auto m = get(admin, "/v1/admin/metrics?minutes=5");
  ASSERT_EQ(m.status, 200) << m.body;
  EXPECT_EQ(num(at(m.json(), "interval_s")), 10);
  for (const char* name : {"ws_connections", "rooms", "messages_in_per_s", "http_requests_per_s",
                           "errors_per_s", "bytes_out_per_s", "storage_queue", "rss_bytes"}) {
    const auto pts = at(m.json(), std::string("series.") + name).as_array();
    ASSERT_FALSE(pts.empty()) << name << ": sampled when the server started";
    EXPECT_EQ(pts[0].as_array().size(), 2u);
  }
  const auto metrics = m.json();
  const auto& rss = at(metrics, "series.rss_bytes").as_array();
  EXPECT_GT(rss.back().as_array()[1].to_number<double>(), 1e6) << "a live process's memory";
  EXPECT_EQ(get(admin, "/v1/admin/metrics?minutes=61").error_code(), "bad_field");
}

}  // namespace
}  // namespace maratang::it
