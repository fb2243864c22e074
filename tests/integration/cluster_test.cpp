// Two nodes as one server (issue 16, first steps): two server processes on one PostgreSQL and one
// Redis (real servers, started by scripts/pg_temp.sh and scripts/redis_temp.sh), sharing a
// signing key. A logout or a ban on one node ends the session's socket on the other at once and
// its tokens there; a login on one takes over the account's socket on the other; a trace written
// through one is listed through the other at once; a write budget and the sign-up budget are
// shared, and so is the failed-login back-off; GET /ready says when a node cannot reach Redis, and
// Redis coming back is noticed by itself. Invitations and kicks reach a player connected to the
// other node; a game goes on while Redis is away; a node cut off (SIGSTOP) finds its rooms taken
// over and drops them. A game finished on one node is on the leaderboard read through the other
// at once (the boards are Redis sorted sets).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>

#include "harness.hpp"
#include "redis/test_server.hpp"
#include "store/postgres/pg_test_cluster.hpp"

namespace maratang::it {
namespace {

using store::testing::pg_test_cluster;

using redis_server = redis::testing::test_server;

std::vector<std::string> node_sets(const pg_test_cluster& pg, const redis_server& redis) {
  return {"storage.database_url=" + pg.url(), "redis.url=" + redis.url(),
          "auth.secret=bWFyYXRhbmctY2x1c3Rlci10ZXN0LWtleS0zMmJ5dGU", "storage.connect_timeout_s=2"};
}

// /ready of a node, polled until it answers `status` (or 10 s pass).
bool ready_becomes(int port, int status) {
  for (int i = 0; i < 500; ++i) {
    if (http_call(port, "GET", "/ready").status == status) return true;
    std::this_thread::sleep_for(ms(20));
  }
  return false;
}

TEST(cluster_test, a_logout_on_one_node_ends_the_session_on_the_other_at_once) {
  pg_test_cluster pg(MARATANG_SOURCE_DIR);
  redis_server redis(MARATANG_SOURCE_DIR);
  temp_dir data;
  server_process a(with_node(node_sets(pg, redis), "a"), data.path() / "a");
  server_process b(with_node(node_sets(pg, redis), "b"), data.path() / "b");
  ASSERT_TRUE(ready_becomes(a.port(), 200));
  ASSERT_TRUE(ready_becomes(b.port(), 200));

  // An account made on A signs in on B with A's token: one server.
  player p = make_player(a.port(), "Twonode");
  auto me = http_call(b.port(), "GET", "/v1/account", {}, bearer(p.token));
  ASSERT_EQ(me.status, 200) << me.body;
  EXPECT_EQ(str(at(me.json(), "nickname")), "Twonode");
  // Another session of the same account, on B, stays.
  player other = login_device(b.port(), "other-device-of-nobody");
  ws_client on_b(b.port(), p.token);
  on_b.hello();
  ws_client bystander(b.port(), other.token);
  bystander.hello();

  const auto t0 = std::chrono::steady_clock::now();
  auto out = http_call(a.port(), "POST", "/v1/auth/logout", "{}", bearer(p.token));
  ASSERT_EQ(out.status, 200) << out.body;
  ASSERT_TRUE(on_b.wait_closed(ms(2000))) << "B kept the logged-out session's socket";
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, ms(1000));
  EXPECT_EQ(on_b.close_reason().find("logged"), 0u) << on_b.close_reason();
  // Its tokens are refused on B too; the bystander goes on.
  auto again = http_call(b.port(), "GET", "/v1/account", {}, bearer(p.token));
  EXPECT_EQ(again.status, 401);
  EXPECT_EQ(again.error_code(), "token_revoked") << again.body;
  EXPECT_TRUE(bystander.ping_ok());
  auto metrics = http_call(b.port(), "GET", "/metrics").body;
  EXPECT_NE(metrics.find("maratang_redis_connected 1\n"), std::string::npos);
  EXPECT_EQ(metrics.find("maratang_redis_messages_total 0\n"), std::string::npos);
}

TEST(cluster_test, a_ban_on_one_node_closes_the_socket_on_the_other_and_is_refused_there) {
  pg_test_cluster pg(MARATANG_SOURCE_DIR);
  redis_server redis(MARATANG_SOURCE_DIR);
  temp_dir data;
  server_process a(with_node(node_sets(pg, redis), "a"), data.path() / "a");
  server_process b(with_node(node_sets(pg, redis), "b"), data.path() / "b");
  ASSERT_TRUE(ready_becomes(a.port(), 200));
  ASSERT_TRUE(ready_becomes(b.port(), 200));
  const std::string admin_token = make_admin(a, {"storage.database_url=" + pg.url()}).token;

  player p = make_player(b.port(), "Bannedonb");
  ws_client on_b(b.port(), p.token);
  on_b.hello();
  auto banned = http_call(a.port(), "POST", fmt::format("/v1/admin/accounts/{}/ban", p.id),
                          R"({"message": "Botting."})", bearer(admin_token));
  ASSERT_EQ(banned.status, 200) << banned.body;
  ASSERT_TRUE(on_b.wait_closed(ms(2000))) << "B kept the banned account's socket";
  EXPECT_EQ(on_b.close_reason().find("banned"), 0u) << on_b.close_reason();
  auto refused = http_call(b.port(), "GET", "/v1/account", {}, bearer(p.token));
  EXPECT_EQ(refused.error_code(), "account_banned") << refused.body;
  EXPECT_NE(refused.body.find("Botting."), std::string::npos) << refused.body;

  ASSERT_EQ(http_call(a.port(), "POST", fmt::format("/v1/admin/accounts/{}/unban", p.id), "{}",
                      bearer(admin_token))
                .status,
            200);
  bool back = false;
  for (int i = 0; i < 100 && !back; ++i) {
    back = http_call(b.port(), "GET", "/v1/account", {}, bearer(p.token)).status == 200;
    if (!back) std::this_thread::sleep_for(ms(20));
  }
  EXPECT_TRUE(back) << "B kept refusing after the unban on A";
}

TEST(cluster_test, a_login_on_one_node_takes_over_the_socket_on_the_other) {
  pg_test_cluster pg(MARATANG_SOURCE_DIR);
  redis_server redis(MARATANG_SOURCE_DIR);
  temp_dir data;
  server_process a(with_node(node_sets(pg, redis), "a"), data.path() / "a");
  server_process b(with_node(node_sets(pg, redis), "b"), data.path() / "b");
  ASSERT_TRUE(ready_becomes(a.port(), 200));
  ASSERT_TRUE(ready_becomes(b.port(), 200));
  player p = make_player(a.port(), "Roamer");
  player bystander = make_player(a.port(), "Stayer");
  ws_client on_a(a.port(), p.token);
  on_a.hello();
  ws_client stays(a.port(), bystander.token);
  stays.hello();
  std::this_thread::sleep_for(ms(5));  // the next socket is attached at a later millisecond

  ws_client on_b(b.port(), p.token);
  on_b.hello();
  ASSERT_TRUE(on_a.wait_closed(ms(2000))) << "A kept the account's older socket";
  EXPECT_EQ(on_a.close_reason().find("replaced"), 0u) << on_a.close_reason();
  EXPECT_TRUE(on_b.ping_ok()) << "the newest socket, on B, stays";
  EXPECT_TRUE(stays.ping_ok()) << "another account's socket on A stays";

  // And back: a new socket on A replaces the one on B.
  std::this_thread::sleep_for(ms(5));
  ws_client again(a.port(), p.token);
  again.hello();
  ASSERT_TRUE(on_b.wait_closed(ms(2000)));
  EXPECT_TRUE(again.ping_ok());
}

TEST(cluster_test, a_trace_written_through_one_node_is_listed_through_the_other_at_once) {
  pg_test_cluster pg(MARATANG_SOURCE_DIR);
  redis_server redis(MARATANG_SOURCE_DIR);
  temp_dir data;
  server_process a(with_node(node_sets(pg, redis), "a"), data.path() / "a");
  server_process b(with_node(node_sets(pg, redis), "b"), data.path() / "b");
  ASSERT_TRUE(ready_becomes(a.port(), 200));
  ASSERT_TRUE(ready_becomes(b.port(), 200));
  auto count = [](const server_process& n) {
    auto r = http_call(n.port(), "GET", "/get-objects");
    EXPECT_EQ(r.status, 200) << r.body;
    return at(r.json(), "messages").as_array().size();
  };
  // B caches the area's listing (read twice: the second is served from its cache).
  EXPECT_EQ(count(b), 0u);
  EXPECT_EQ(count(b), 0u);
  const std::string trace = R"({
    "message": {"u_uuid": "u", "part1": "praise", "part2": "the", "part3": "sun"},
    "phantom": {"u_uuid": "u", "data": [["1,2,3", "0,0,0"]]}})";
  for (int i = 1; i <= 3; ++i) {
    auto w = http_call(a.port(), "POST", "/add-object", trace);
    ASSERT_EQ(w.status, 200) << w.body;
    // Listed through B at once: its cached listing was made stale by A's notice.
    bool seen = false;
    for (int tries = 0; tries < 50 && !seen; ++tries) {
      seen = count(b) == static_cast<std::size_t>(i);
      if (!seen) std::this_thread::sleep_for(ms(10));
    }
    EXPECT_TRUE(seen) << "write " << i << " was not listed through B within 0.5 s";
  }
}

// The traces write budget is one per address across the nodes: 4 writes a burst (refilling at
// 1 a minute) spent half on A and half on B leave nothing on either; with Redis gone each node
// falls back to its own bucket, so writes go on.
TEST(cluster_test, a_write_budget_is_shared_by_the_nodes) {
  pg_test_cluster pg(MARATANG_SOURCE_DIR);
  redis_server redis(MARATANG_SOURCE_DIR);
  temp_dir data;
  auto sets = node_sets(pg, redis);
  sets.insert(sets.end(), {"traces.anon_writes_per_minute=1", "traces.anon_write_burst=4"});
  server_process a(with_node(sets, "a"), data.path() / "a");
  server_process b(with_node(sets, "b"), data.path() / "b");
  ASSERT_TRUE(ready_becomes(a.port(), 200));
  ASSERT_TRUE(ready_becomes(b.port(), 200));
  const std::string trace = R"({
    "message": {"u_uuid": "u", "part1": "try", "part2": "jumping", "part3": "here"},
    "phantom": {"u_uuid": "u", "data": [["1,2,3", "0,0,0"]]}})";
  auto write = [&](const server_process& n) {
    return http_call(n.port(), "POST", "/add-object", trace).status;
  };
  EXPECT_EQ(write(a), 200);
  EXPECT_EQ(write(b), 200);
  EXPECT_EQ(write(a), 200);
  EXPECT_EQ(write(b), 200);
  EXPECT_EQ(write(a), 429) << "A's own bucket would still hold 2";
  EXPECT_EQ(write(b), 429) << "B's own bucket would still hold 2";

  // Redis away: each node's own bucket decides (it has its burst untouched).
  redis.kill();
  ASSERT_TRUE(ready_becomes(a.port(), 503));
  EXPECT_EQ(write(a), 200);
  EXPECT_EQ(write(b), 200);
}

TEST(cluster_test, ready_says_when_redis_is_away_and_recovers_by_itself) {
  pg_test_cluster pg(MARATANG_SOURCE_DIR);
  redis_server redis(MARATANG_SOURCE_DIR);
  temp_dir data;
  server_process a(with_node(node_sets(pg, redis), "a"), data.path() / "a");
  ASSERT_TRUE(ready_becomes(a.port(), 200));
  player p = make_player(a.port(), "Redisgone");
  ws_client ws(a.port(), p.token);
  ws.hello();

  redis.kill();
  ASSERT_TRUE(ready_becomes(a.port(), 503)) << "GET /ready kept answering 200 without Redis";
  auto ready = http_call(a.port(), "GET", "/ready");
  EXPECT_EQ(ready.error_code(), "unavailable");
  EXPECT_NE(ready.body.find("Redis"), std::string::npos) << ready.body;
  // The node itself goes on: its players, and what needs only the database.
  EXPECT_TRUE(ws.ping_ok());
  EXPECT_EQ(http_call(a.port(), "GET", "/v1/account", {}, bearer(p.token)).status, 200);

  redis.up();
  EXPECT_TRUE(ready_becomes(a.port(), 200)) << "the node did not notice Redis come back";
  EXPECT_TRUE(ws.ping_ok());
}

// Node settings with a route (other nodes send players here by it) and a quick heartbeat.
std::vector<std::string> routed(const pg_test_cluster& pg, const redis_server& redis,
                                const char* id, const char* route,
                                std::vector<std::string> more = {}) {
  auto v = with_node(node_sets(pg, redis), id);
  v.push_back(std::string("node.route=") + route);
  v.insert(v.end(), {"cluster.heartbeat_ms=200", "cluster.node_ttl_ms=600", "log.level=info"});
  v.insert(v.end(), more.begin(), more.end());
  return v;
}

// PostgreSQL, Redis and two routed nodes (routed(): ids a and b, routes /node/1 and /node/2, with
// `more` settings), both ready.
struct two_nodes {
  pg_test_cluster pg{MARATANG_SOURCE_DIR};
  redis_server redis{MARATANG_SOURCE_DIR};
  temp_dir data;
  server_process a, b;
  explicit two_nodes(const std::vector<std::string>& more = {})
      : a(routed(pg, redis, "a", "/node/1", more), data.path() / "a"),
        b(routed(pg, redis, "b", "/node/2", more), data.path() / "b") {
    if (!ready_becomes(a.port(), 200) || !ready_becomes(b.port(), 200))
      throw std::runtime_error("a node never became ready");
  }
  // The node named `id` ("a" or "b"), and the other one.
  server_process& node(const std::string& id) { return id == "a" ? a : b; }
  server_process& other_than(const std::string& id) { return id == "a" ? b : a; }
};

// Until `fn` returns true, at most 5 s.
bool eventually(const std::function<bool()>& fn, ms within = ms(5000)) {
  const auto end = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < end) {
    if (fn()) return true;
    std::this_thread::sleep_for(ms(20));
  }
  return fn();
}

// room.invite of `target` sent by `from`: retried while it is unknown_player (the target's socket
// is reported to the presence directory just after its upgrade); the last answer.
json::object invite_when_present(ws_client& from, std::int64_t target) {
  json::object sent;
  eventually([&] {
    sent = from.request("room.invite", {{"player", target}});
    return error_code(sent) != "unknown_player";
  });
  return sent;
}

// Cross-node delivery (the node channel, found through the presence directory): a room
// invitation from a leader on A reaches a player connected to B, by id and by nickname; a kick by
// that leader reaches the member on B whose seat is reserved on A; an admin's kick through A closes
// a socket on B.
TEST(cluster_test, invitations_and_kicks_reach_a_player_on_the_other_node) {
  two_nodes c;
  server_process &a = c.a, &b = c.b;

  player lead = make_player(a.port(), "Inviter");
  ws_client on_a(a.port(), lead.token);
  on_a.hello();
  auto room = snapshot_of_reply(
      on_a.call("room.create", {{"mode", "test.counter"}, {"name", "Across"}, {"private", true}}));
  const std::string room_id = str(at(room, "id"));
  auto guests = seat_players(b.port(), {"Invitee"});
  const player guest = guests[0].acc;
  ws_client& on_b = *guests[0].ws;

  // The invitation: A finds B in the presence directory and B hands it to the socket.
  auto sent = invite_when_present(on_a, guest.id);
  ASSERT_TRUE(error_code(sent).empty()) << json::serialize(sent);
  EXPECT_EQ(num(at(sent, "data.player")), guest.id);
  auto inv = on_b.expect("room.invitation", ms(2000));
  EXPECT_EQ(str(at(inv, "data.room_id")), room_id);
  EXPECT_EQ(num(at(inv, "data.from.id")), lead.id);
  EXPECT_EQ(str(at(inv, "data.from.nickname")), "Inviter");
  const std::string code = str(at(inv, "data.invite_code"));
  // Nobody by that id is connected anywhere: the same error as on one node.
  player offline = make_player(b.port(), "Offline");
  auto none = on_a.request("room.invite", {{"player", offline.id}});
  EXPECT_EQ(error_code(none), "unknown_player") << json::serialize(none);
  // By nickname: nobody on A has it, so A finds the account in storage (any case of the name)
  // and reaches it on B. A name nobody has, or an account connected nowhere: unknown_player.
  auto by_name = on_a.request("room.invite", {{"nickname", "INVITEE"}});
  ASSERT_TRUE(error_code(by_name).empty()) << json::serialize(by_name);
  EXPECT_EQ(num(at(by_name, "data.player")), guest.id);
  auto inv2 = on_b.expect("room.invitation", ms(2000));
  EXPECT_EQ(str(at(inv2, "data.room_id")), room_id);
  for (const char* name : {"Nobody Here", "Offline"}) {
    auto r = on_a.request("room.invite", {{"nickname", name}});
    EXPECT_EQ(error_code(r), "unknown_player") << name << ": " << json::serialize(r);
  }

  // The guest accepts through B (a seat reserved on A, the client told to move), and before it
  // moves, the leader kicks it: B's socket hears of it.
  json::object joined;
  ASSERT_TRUE(eventually([&] {
    joined = on_b.request("room.join", {{"invite_code", code}});
    return error_code(joined).empty();
  })) << json::serialize(joined);
  ASSERT_TRUE(has(joined, "data.moved")) << json::serialize(joined);
  ASSERT_TRUE(on_a.recv_until([&](const json::object& f) {
    return str(at(f, "type")) == "room.member_joined" && num(at(f, "data.member.id")) == guest.id;
  }));
  on_a.call("room.kick", {{"player", guest.id}});
  auto removed = on_b.expect("room.removed", ms(2000));
  EXPECT_EQ(str(at(removed, "data.reason")), "kicked");
  EXPECT_EQ(str(at(removed, "data.room_id")), room_id);
  EXPECT_TRUE(on_b.ping_ok()) << "a kick from a room is not a disconnection";

  // An admin's kick through A of an account whose socket is on B.
  const std::string admin_token = make_admin(a, {"storage.database_url=" + c.pg.url()}).token;
  player far = make_player(b.port(), "Faraway");
  ws_client far_b(b.port(), far.token);
  far_b.hello();
  http_result kicked;
  ASSERT_TRUE(eventually([&] {
    kicked = http_call(a.port(), "POST", fmt::format("/v1/admin/accounts/{}/kick", far.id),
                       R"({"message": "Take a break."})", bearer(admin_token));
    return kicked.status == 200 && at(kicked.json(), "connected").as_bool();
  })) << kicked.body;
  ASSERT_TRUE(far_b.wait_closed(ms(2000))) << "B kept the kicked account's socket";
  EXPECT_EQ(far_b.close_reason().find("disconnected_by_admin"), 0u) << far_b.close_reason();
  EXPECT_TRUE(on_b.ping_ok()) << "another account's socket on B stays";
  // Once it is connected nowhere, a kick says so.
  auto again = http_call(a.port(), "POST", fmt::format("/v1/admin/accounts/{}/kick", far.id), "{}",
                         bearer(admin_token));
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_FALSE(at(again.json(), "connected").as_bool()) << again.body;
}

// An invitation to a player whose node was killed (its presence entries outlive it, nobody
// listens on its channel) answers at once: unavailable while the node is not yet known dead, then
// unknown_player; never delivered, never after the request timeout.
TEST(cluster_test, an_invitation_to_a_player_on_a_killed_node_answers_at_once) {
  two_nodes c;
  server_process &a = c.a, &b = c.b;
  player lead = make_player(a.port(), "Asker");
  ws_client on_a(a.port(), lead.token);
  on_a.hello();
  on_a.call("room.create", {{"mode", "test.counter"}, {"name", "Gone"}});
  auto guests = seat_players(b.port(), {"Onkilled"});
  auto sent = invite_when_present(on_a, guests[0].acc.id);
  ASSERT_TRUE(error_code(sent).empty()) << json::serialize(sent);

  ASSERT_EQ(::kill(b.pid(), SIGKILL), 0);
  EXPECT_EQ(b.stop().signal, SIGKILL);
  json::object r;
  ASSERT_TRUE(eventually(
      [&] {
        const auto t0 = std::chrono::steady_clock::now();
        r = on_a.request("room.invite", {{"player", guests[0].acc.id}});
        EXPECT_LT(std::chrono::steady_clock::now() - t0, ms(2500)) << "waited for the 3 s timeout";
        EXPECT_NE(error_code(r), "") << "delivered to a killed node";
        return error_code(r) == "unknown_player";
      },
      ms(15000)))
      << json::serialize(r);
}

// The sign-up budget per address (auth.signups_per_hour, auth.signup_burst) is one across the
// nodes: a burst of 2 spent once on A and once on B leaves nothing on either.
TEST(cluster_test, a_signup_budget_is_shared_by_the_nodes) {
  two_nodes c({"auth.signups_per_hour=1", "auth.signup_burst=2"});
  server_process &a = c.a, &b = c.b;
  int n = 0;
  auto signup = [&](const server_process& node) {
    return http_call(node.port(), "POST", "/v1/auth/device",
                     fmt::format(R"({{"device_id": "shared-budget-device-{}"}})", ++n))
        .status;
  };
  EXPECT_EQ(signup(a), 201);
  EXPECT_EQ(signup(b), 201);
  EXPECT_EQ(signup(a), 429) << "A's own bucket would still hold 1";
  EXPECT_EQ(signup(b), 429) << "B's own bucket would still hold 1";
  // Logging in again is not a sign-up: not limited.
  EXPECT_EQ(
      http_call(b.port(), "POST", "/v1/auth/device", R"({"device_id": "shared-budget-device-1"})")
          .status,
      200);
}

// The failed-login back-off is one count per email across the nodes: wrong passwords spread over
// A and B block the account after auth.login_free_failures in all, on both nodes (each node alone
// would still let 2 more through); a right password waits the block out on either node, and then
// clears the count everywhere.
TEST(cluster_test, a_failed_login_back_off_is_shared_by_the_nodes) {
  two_nodes c({"auth.login_free_failures=3", "auth.backoff_ms=2000", "auth.signups_per_hour=0"});
  server_process &a = c.a, &b = c.b;
  auto body = [](const std::string& password) {
    return json::serialize(json::object{{"email", "shared@example.com"}, {"password", password}});
  };
  const std::string right = "correct horse battery";
  ASSERT_EQ(http_call(a.port(), "POST", "/v1/auth/register", body(right)).status, 201);
  auto login = [&](const server_process& node, const std::string& password) {
    return http_call(node.port(), "POST", "/v1/auth/login", body(password));
  };
  EXPECT_EQ(login(a, "wrong one").status, 401);
  EXPECT_EQ(login(b, "wrong two").status, 401);
  EXPECT_EQ(login(a, "wrong three").status, 401) << "the third goes ahead, then blocks";
  for (const auto* node : {&b, &a}) {
    auto r = login(*node, "wrong four");
    EXPECT_EQ(r.status, 429) << "each node alone has seen at most 2 failures: " << r.body;
    EXPECT_EQ(r.error_code(), "rate_limited");
  }
  auto r = login(b, right);
  EXPECT_EQ(r.status, 429) << "even the right password waits the block out: " << r.body;
  const int wait_s = std::atoi(r.header("Retry-After").c_str());
  EXPECT_GE(wait_s, 1);
  EXPECT_LE(wait_s, 2);
  std::this_thread::sleep_for(std::chrono::seconds(wait_s));
  r = login(b, right);
  ASSERT_EQ(r.status, 200) << r.body;
  // The success cleared the count on both nodes: two wrong passwords go ahead again.
  EXPECT_EQ(login(a, "wrong again").status, 401);
  EXPECT_EQ(login(b, "wrong again").status, 401);
}

// Four players of a Mafia game on the node at `port` (connected to it directly), started and in
// its first day.
struct mafia_game {
  std::string room_id;
  std::vector<player> players;
  std::vector<std::unique_ptr<ws_client>> socks;
};
mafia_game start_mafia(int port, const std::string& prefix, const json::object& settings) {
  mafia_game g;
  for (int i = 1; i <= 4; ++i) {
    g.players.push_back(make_player(port, prefix + std::to_string(i)));
    g.socks.push_back(std::make_unique<ws_client>(port, g.players.back().token));
    g.socks.back()->hello();
  }
  auto room = snapshot_of_reply(g.socks[0]->call(
      "room.create",
      {{"mode", "mafia"}, {"name", prefix}, {"capacity", 4}, {"settings", settings}}));
  g.room_id = str(at(room, "id"));
  for (int i = 1; i < 4; ++i) {
    g.socks[i]->call("room.join", {{"room_id", g.room_id}});
    g.socks[i]->call("room.ready", {{"ready", true}});
  }
  g.socks[0]->call("room.start");
  for (auto& s : g.socks) {
    if (!s->recv_until([](const json::object& f) {
          return str(at(f, "type")) == "mafia.phase" && str(at(f, "data.phase")) == "day";
        })) {
      throw std::runtime_error("no day phase");
    }
  }
  return g;
}

// GET /v1/rooms of the node at `port` lists `room_id`.
bool lists_room(int port, const std::string& room_id) {
  auto r = http_call(port, "GET", "/v1/rooms");
  if (r.status != 200) return false;
  const auto body = r.json();
  for (const auto& e : at(body, "rooms").as_array())
    if (str(at(e, "id")) == room_id) return true;
  return false;
}

// Redis killed mid-game, then started again empty: both nodes say so on /ready; what needs Redis
// (a join or an invitation through the other node) answers `unavailable` with a readable message;
// the Mafia game on A goes on — its phases advance and its players vote — to its end. Once Redis
// is back each node writes its part of the directory again by itself: a room A made while Redis
// was away is listed through B, and joined through B.
TEST(cluster_test, a_game_goes_on_while_redis_is_away_and_the_directory_comes_back_with_it) {
  two_nodes c;
  server_process &a = c.a, &b = c.b;
  const json::object settings{{"day_ms", 2500},    {"vote_ms", 2000}, {"defense_ms", 100},
                              {"verdict_ms", 100}, {"night_ms", 300}, {"tie", "night"},
                              {"max_days", 1}};
  auto g = start_mafia(a.port(), "Redisless", settings);
  player host = make_player(a.port(), "Roomhost");
  ws_client host_a(a.port(), host.token);
  host_a.hello();
  player joiner = make_player(b.port(), "Joinerb");
  ws_client join_b(b.port(), joiner.token);
  join_b.hello();

  c.redis.kill();
  ASSERT_TRUE(ready_becomes(a.port(), 503));
  ASSERT_TRUE(ready_becomes(b.port(), 503));
  // A room made on A while Redis is away: A plays it; B cannot know of it yet.
  const std::string during = str(at(
      snapshot_of_reply(host_a.call("room.create", {{"mode", "test.counter"}, {"name", "During"}})),
      "id"));
  // What needs Redis says so, and changes nothing.
  auto not_told = host_a.request("room.invite", {{"player", joiner.id}});
  EXPECT_EQ(error_code(not_told), "unavailable") << json::serialize(not_told);
  EXPECT_FALSE(str(at(not_told, "error.message")).empty());
  EXPECT_EQ(join_b.count_received("room.invitation"), 0u);
  auto refused = join_b.request("room.join", {{"room_id", g.room_id}});
  EXPECT_EQ(error_code(refused), "unavailable") << json::serialize(refused);

  // The game goes on: the vote comes, every player votes (abstains), night, the end.
  for (auto& s : g.socks) {
    ASSERT_TRUE(s->recv_until(
        [](const json::object& f) {
          return str(at(f, "type")) == "mafia.phase" && str(at(f, "data.phase")) == "vote";
        },
        ms(10000)))
        << "the game stopped while Redis was away";
  }
  for (auto& s : g.socks) {
    auto voted = s->request("mafia.vote", {});
    EXPECT_TRUE(error_code(voted).empty()) << json::serialize(voted);
  }
  for (auto& s : g.socks)
    s->expect("room.game_ended", ms(15000));
  EXPECT_TRUE(host_a.ping_ok());

  c.redis.up();
  ASSERT_TRUE(ready_becomes(a.port(), 200)) << "A did not notice Redis come back";
  ASSERT_TRUE(ready_becomes(b.port(), 200)) << "B did not notice Redis come back";
  // The directory is written again: B lists A's room made meanwhile, and joins it.
  EXPECT_TRUE(eventually([&] { return lists_room(b.port(), during); }, ms(10000)))
      << "B never listed the room A made while Redis was away";
  json::object joined;
  EXPECT_TRUE(eventually([&] {
    joined = join_b.request("room.join", {{"room_id", during}});
    return error_code(joined).empty();
  })) << json::serialize(joined);
  EXPECT_EQ(str(at(joined, "data.moved.node")), "a") << json::serialize(joined);
  // And a player connected to B is reached from A again (the presence directory is back).
  auto other = seat_players(b.port(), {"Otherb"});
  auto told = invite_when_present(host_a, other[0].acc.id);
  EXPECT_TRUE(error_code(told).empty()) << json::serialize(told);
  EXPECT_TRUE(other[0].ws->recv_until("room.invitation", ms(2000)));
}

// Both nodes' subscriber connections cut (CLIENT KILL TYPE pubsub): a room notice published while
// they reconnect is lost, so a node whose subscriber is back reads the others' directories at
// once; the room is listed on the other node well before the next periodic resync (10 s).
TEST(cluster_test, a_room_announced_while_the_subscribers_reconnect_is_listed_soon_after) {
  two_nodes c;
  const std::string& url = c.redis.url();
  auto host = seat_players(c.a.port(), {"Unheardhost"});
  const std::string kill = "redis-cli -p " + url.substr(url.rfind(':') + 1) +
                           " CLIENT KILL TYPE pubsub > /dev/null 2>&1";
  ASSERT_EQ(std::system(kill.c_str()), 0);
  const std::string id =
      str(at(snapshot_of_reply(
                 host[0].ws->call("room.create", {{"mode", "test.counter"}, {"name", "Unheard"}})),
             "id"));
  EXPECT_TRUE(eventually([&] { return lists_room(c.b.port(), id); }, ms(3000)))
      << "B did not list A's room within 3 s of its subscriber coming back";
}

// A node whose heartbeat stops (SIGSTOP: alive, cut off) loses its rooms to the other node,
// which restores the game from its snapshot. When it comes back (SIGCONT) it finds itself fenced
// and drops its copy at once: its players there are told the room moved, its admin view no longer
// has the room, and from then on only the new node takes the room's actions. One room never
// runs on two nodes.
TEST(cluster_test, a_stopped_node_comes_back_to_find_its_rooms_elsewhere_and_drops_them) {
  two_nodes c({"rooms.reconnect_grace_ms=30000"});
  server_process &a = c.a, &b = c.b;
  const std::string admin = make_admin(a, {"storage.database_url=" + c.pg.url()}).token;
  const json::object settings{{"day_ms", 60000},   {"vote_ms", 100},  {"defense_ms", 100},
                              {"verdict_ms", 100}, {"night_ms", 100}, {"tie", "night"},
                              {"max_days", 1}};
  auto g = start_mafia(a.port(), "Fenced", settings);
  std::this_thread::sleep_for(ms(500));  // the game's first snapshot is stored

  ASSERT_EQ(::kill(a.pid(), SIGSTOP), 0);
  const std::string restored = "restored 1 of 1 room(s) of node a";
  const bool taken =
      eventually([&] { return b.log_text().find(restored) != std::string::npos; }, ms(20000));
  if (!taken) ::kill(a.pid(), SIGCONT);
  ASSERT_TRUE(taken) << b.log_text();
  // Three players reconnect to B: the game is there, in its day.
  std::vector<std::unique_ptr<ws_client>> on_b;
  for (int i = 0; i < 3; ++i) {
    on_b.push_back(std::make_unique<ws_client>(b.port(), g.players[i].token));
    auto hello = on_b.back()->hello();
    EXPECT_EQ(str(at(hello, "room.id")), g.room_id) << json::serialize(hello);
    EXPECT_EQ(str(at(hello, "room.game.phase")), "day");
  }

  ASSERT_EQ(::kill(a.pid(), SIGCONT), 0);
  // The fourth player, still on A's socket, is told the room runs elsewhere now.
  ASSERT_TRUE(g.socks[3]->wait_closed(ms(10000))) << "A kept running the room it lost";
  EXPECT_EQ(g.socks[3]->close_reason().find("room_moved"), 0u) << g.socks[3]->close_reason();
  EXPECT_NE(a.log_text().find("dropping them here"), std::string::npos) << a.log_text();
  // A holds no copy: its admin view has no such room; B's has it.
  EXPECT_EQ(http_call(a.port(), "GET", "/v1/admin/rooms/" + g.room_id, {}, bearer(admin)).status,
            404);
  EXPECT_EQ(http_call(b.port(), "GET", "/v1/admin/rooms/" + g.room_id, {}, bearer(admin)).status,
            200);
  // The fourth player's hello on A finds no seat there: it is sent to B, where the game takes
  // its actions.
  ws_client back_a(a.port(), g.players[3].token);
  auto hello_a = back_a.hello();
  EXPECT_TRUE(at(hello_a, "room").is_null()) << json::serialize(hello_a);
  ASSERT_TRUE(has(hello_a, "moved")) << json::serialize(hello_a);
  EXPECT_EQ(str(at(hello_a, "moved.node")), "b");
  ws_client fourth_b(b.port(), g.players[3].token);
  EXPECT_EQ(str(at(fourth_b.hello(), "room.id")), g.room_id);
  auto said = fourth_b.request("room.chat", {{"text", "still here"}});
  EXPECT_TRUE(error_code(said).empty()) << json::serialize(said);
  EXPECT_TRUE(on_b[0]->recv_until(
      [](const json::object& f) {
        return has(f, "data.text") && str(at(f, "data.text")) == "still here";
      },
      ms(2000)))
      << "B's game did not take the fourth player's line";
}

// Leaderboards with several nodes are read from Redis sorted sets that every node feeds after
// its commits: a game finished on node A is on the board read through node B at once, although
// B loaded the board (into its own index and into Redis) before that game.
TEST(cluster_test, a_game_finished_on_one_node_is_on_the_board_read_through_the_other) {
  two_nodes t;
  auto seats = seat_players(t.a.port(), {"Boarda", "Boardb"});
  const std::string board = "/v1/leaderboards/test.counter.total";
  const auto read_b = [&] {
    auto r = http_call(t.b.port(), "GET", board, {}, bearer(seats[0].acc.token));
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json().as_object();
  };
  ASSERT_EQ(num(at(read_b(), "total")), 0);  // B's board is loaded, empty, before the game

  const auto room = str(at(snapshot_of_reply(seats[0].ws->call(
                               "room.create", {{"mode", "test.counter"}, {"name", "Boards"}})),
                           "id"));
  seats[1].ws->call("room.join", {{"room_id", room}});
  seats[1].ws->call("room.ready", {{"ready", true}});
  seats[0].ws->call("room.start");
  seats[0].ws->call("test.counter.add", {{"n", 4}});
  seats[1].ws->call("test.counter.add", {{"n", 6}});
  seats[0].ws->call("test.counter.finish");
  seats[1].ws->expect("room.game_ended");
  // The record is written behind the game's end: wait until node A's database has rated it.
  ASSERT_TRUE(eventually([&] {
    auto r =
        http_call(t.a.port(), "GET", "/v1/accounts/" + std::to_string(seats[0].acc.id) + "/ratings",
                  {}, bearer(seats[0].acc.token));
    return r.body.find("test.counter") != std::string::npos;
  }));
  // Then node B's board has it (within the moment between A's commit and A's Redis write).
  json::object page;
  ASSERT_TRUE(eventually(
      [&] {
        page = read_b();
        return num(at(page, "total")) == 2;
      },
      ms(2000)))
      << json::serialize(page);
  EXPECT_EQ(num(at(page, "entries.0.account_id")), seats[1].acc.id);
  EXPECT_EQ(num(at(page, "entries.0.value")), 6);
  EXPECT_EQ(num(at(page, "entries.1.account_id")), seats[0].acc.id);
  auto me =
      http_call(t.b.port(), "GET", board + "/around?radius=0", {}, bearer(seats[0].acc.token));
  ASSERT_EQ(me.status, 200) << me.body;
  EXPECT_EQ(num(at(me.json().as_object(), "entries.0.rank")), 2);
  // The rating board too.
  auto rated = http_call(t.b.port(), "GET", "/v1/leaderboards/rating.test.counter", {},
                         bearer(seats[0].acc.token));
  ASSERT_EQ(rated.status, 200) << rated.body;
  EXPECT_EQ(num(at(rated.json().as_object(), "total")), 2);
  for (auto& s : seats)
    s.ws->close();
}

// The node running the cluster's matchmaker, as the admin overview of the node at `port` shows it
// (empty when none is named within 5 s).
std::string matchmaker_node(int port, const std::string& admin_token) {
  std::string lead;
  eventually([&] {
    lead.clear();
    auto r = http_call(port, "GET", "/v1/admin/overview", {}, bearer(admin_token));
    auto v = r.json();
    if (!v.is_object() || !v.as_object().contains("nodes")) return false;
    int leads = 0;
    for (const auto& n : v.at("nodes").as_array()) {
      if (n.at("matchmaker").as_bool()) {
        lead = n.at("id").as_string();
        ++leads;
      }
    }
    return leads == 1;
  });
  return lead;
}

// Quick play across nodes: one node runs the matchmaker of both. A ticket sent through the other
// node is held there (queued once, cancelled once); players of both nodes are matched into one
// room, made on the node most of them are connected to (the other node: two of three); they take
// their seats there with match.join, the matchmaker's own player is sent there (`moved`) and its
// hello takes the seat; the game starts for all.
TEST(cluster_test, quick_play_matches_players_connected_to_different_nodes) {
  two_nodes c({"matchmaker.interval_ms=50", "matchmaker.join_timeout_ms=8000"});
  const std::string admin = make_admin(c.a, {"storage.database_url=" + c.pg.url()}).token;
  const std::string lead = matchmaker_node(c.a.port(), admin);
  ASSERT_TRUE(lead == "a" || lead == "b") << lead;
  EXPECT_EQ(matchmaker_node(c.b.port(), admin), lead) << "the nodes disagree";
  server_process& host = c.node(lead);
  server_process& other = c.other_than(lead);
  auto far = seat_players(other.port(), {"Farq", "Farr"});
  auto near = seat_players(host.port(), {"Nearq"});
  const json::object quick{{"mode", "test.counter"}, {"min_players", 3}, {"max_players", 3}};

  far[0].ws->call("match.start", quick);
  EXPECT_EQ(error_code(far[0].ws->request("match.start", quick)), "already_matchmaking");
  EXPECT_TRUE(error_code(far[0].ws->request("match.cancel")).empty());
  EXPECT_EQ(error_code(far[0].ws->request("match.cancel")), "not_matchmaking");

  std::vector<seat*> all{&far[0], &far[1], &near[0]};
  for (auto* s : all)
    s->ws->call("match.start", quick);
  std::string room_id;
  for (auto* s : all) {
    auto found = s->ws->expect("match.found", ms(5000));
    if (room_id.empty()) room_id = str(at(found, "data.room_id"));
    EXPECT_EQ(str(at(found, "data.room_id")), room_id);
    EXPECT_EQ(at(found, "data.players").as_array().size(), 3u);
  }
  EXPECT_EQ(error_code(far[1].ws->request("match.cancel")), "match_formed");

  for (auto& s : far)
    EXPECT_EQ(str(at(snapshot_of_reply(s.ws->call("match.join")), "id")), room_id);
  auto joined = near[0].ws->call("match.join");
  ASSERT_TRUE(has(joined, "moved")) << json::serialize(joined);
  EXPECT_EQ(str(at(joined, "moved.node")), lead == "a" ? "b" : "a");
  EXPECT_EQ(str(at(joined, "moved.room_id")), room_id);
  EXPECT_EQ(http_call(other.port(), "GET", "/v1/admin/rooms/" + room_id, {}, bearer(admin)).status,
            200);
  auto moved = std::make_unique<ws_client>(other.port(), near[0].acc.token);
  auto hello = moved->hello();
  ASSERT_TRUE(has(hello, "room.id")) << json::serialize(hello);
  EXPECT_EQ(str(at(hello, "room.id")), room_id);
  for (auto& s : far)
    s.ws->expect("room.game_started", ms(5000));
  moved->expect("room.game_started", ms(5000));
}

// A match whose players are all connected to the node that does not run the matchmaker plays
// there: the room is made on their node, nobody moves. A player who does not join in time fails
// the match: that node's room closes, the absent player's ticket ends (no_show), the one who
// joined is queued again at the front and meets the next player there. Once the game starts, the
// player's node forgets the ticket it sent (mm.gone): its party may take a room by hand again.
TEST(cluster_test, a_match_of_one_nodes_players_plays_on_that_node) {
  two_nodes c({"matchmaker.interval_ms=50", "matchmaker.join_timeout_ms=1500"});
  const std::string admin = make_admin(c.a, {"storage.database_url=" + c.pg.url()}).token;
  const std::string lead = matchmaker_node(c.a.port(), admin);
  ASSERT_TRUE(lead == "a" || lead == "b") << lead;
  server_process& other = c.other_than(lead);
  auto seats = seat_players(other.port(), {"Here1", "Here2", "Here3", "Here4"});
  const json::object duel{{"mode", "test.counter"}, {"min_players", 2}, {"max_players", 2}};

  seats[0].ws->call("match.start", duel);
  seats[1].ws->call("match.start", duel);
  auto found = seats[0].ws->expect("match.found", ms(5000));
  const std::string first_room = str(at(found, "data.room_id"));
  seats[1].ws->expect("match.found", ms(5000));
  // Made on this node (the matchmaker's has no such room): the seat is taken here, no `moved`.
  const auto room_status = [&](server_process& node, const std::string& id) {
    return http_call(node.port(), "GET", "/v1/admin/rooms/" + id, {}, bearer(admin)).status;
  };
  EXPECT_EQ(room_status(other, first_room), 200);
  EXPECT_EQ(room_status(c.node(lead), first_room), 404);
  auto joined = seats[0].ws->call("match.join");
  ASSERT_FALSE(has(joined, "moved")) << json::serialize(joined);
  EXPECT_EQ(str(at(snapshot_of_reply(joined), "id")), first_room);
  // Here2 never joins: a no-show.
  auto ended = seats[1].ws->expect("match.cancelled", ms(5000));
  EXPECT_EQ(str(at(ended, "data.reason")), "no_show");
  seats[0].ws->expect("match.requeued", ms(3000));
  // The room is gone and Here1 is queued again (its wait kept).
  EXPECT_TRUE(eventually([&] { return room_status(other, first_room) == 404; }));
  EXPECT_EQ(error_code(seats[0].ws->request("room.leave")), "not_in_room");
  EXPECT_EQ(error_code(seats[0].ws->request("match.start", duel)), "already_matchmaking");

  seats[2].ws->call("match.start", duel);
  found = seats[0].ws->expect("match.found", ms(5000));
  const std::string room = str(at(found, "data.room_id"));
  EXPECT_NE(room, first_room);
  EXPECT_EQ(str(at(seats[2].ws->expect("match.found", ms(5000)), "data.room_id")), room);
  for (int i : {0, 2}) {
    auto j = seats[static_cast<std::size_t>(i)].ws->call("match.join");
    ASSERT_FALSE(has(j, "moved")) << json::serialize(j);
    EXPECT_EQ(str(at(snapshot_of_reply(j), "id")), room);
  }
  seats[0].ws->expect("room.game_started", ms(5000));
  seats[2].ws->expect("room.game_started", ms(5000));

  // After the game, Here1 leads a party into a room by hand: the ticket it had sent to the
  // matchmaker is forgotten here (it was not, before mm.gone: already_matchmaking).
  seats[0].ws->call("room.leave");
  auto party = at(seats[0].ws->call("party.create"), "party").as_object();
  seats[3].ws->call("party.join", {{"code", at(party, "code")}});
  seats[0].ws->expect("party.member_joined", ms(3000));
  const json::object table{{"mode", "test.counter"}, {"name", "After"}, {"party", true}};
  json::object made;
  EXPECT_TRUE(eventually([&] {
    made = seats[0].ws->request("room.create", table);
    return error_code(made).empty();
  })) << json::serialize(made);
  EXPECT_EQ(at(made, "data.room.members").as_array().size(), 2u) << json::serialize(made);
}

// The matchmaker's node killed: its lease expires, the other node takes it, the ticket the dead
// node held for a player of the other node ends (match.cancelled, failed), and matching goes on
// on the node left.
TEST(cluster_test, a_killed_matchmaker_ends_its_tickets_and_the_other_node_matches_on) {
  two_nodes c({"matchmaker.interval_ms=50"});
  const std::string admin = make_admin(c.a, {"storage.database_url=" + c.pg.url()}).token;
  const std::string lead = matchmaker_node(c.a.port(), admin);
  ASSERT_TRUE(lead == "a" || lead == "b") << lead;
  EXPECT_EQ(matchmaker_node(c.b.port(), admin), lead) << "the nodes disagree";
  server_process& host = c.node(lead);
  server_process& other = c.other_than(lead);
  auto left = seat_players(other.port(), {"Stay1", "Stay2"});
  left[0].ws->call("match.start", {{"mode", "test.counter"}, {"min_players", 3}});

  ASSERT_EQ(::kill(host.pid(), SIGKILL), 0);
  EXPECT_EQ(host.stop().signal, SIGKILL);
  auto ended = left[0].ws->expect("match.cancelled", ms(10000));
  EXPECT_EQ(str(at(ended, "data.reason")), "failed");

  const json::object two{{"mode", "test.counter"}, {"min_players", 2}, {"max_players", 2}};
  for (auto& s : left) {
    json::object r;
    EXPECT_TRUE(eventually([&] {
      r = s.ws->request("match.start", two);
      return error_code(r).empty();
    })) << json::serialize(r);
  }
  std::string room_id;
  for (auto& s : left) {
    auto found = s.ws->expect("match.found", ms(5000));
    if (room_id.empty()) room_id = str(at(found, "data.room_id"));
    EXPECT_EQ(str(at(found, "data.room_id")), room_id);
  }
  for (auto& s : left)
    EXPECT_EQ(str(at(snapshot_of_reply(s.ws->call("match.join")), "id")), room_id);
  for (auto& s : left)
    s.ws->expect("room.game_started", ms(5000));
}

// The node most of a match's players are connected to cannot make its room (it holds as many
// rooms as it may): the matchmaker's node makes it instead, and the players are sent there.
TEST(cluster_test, a_match_whose_node_cannot_make_its_room_is_made_on_the_matchmakers) {
  two_nodes c({"matchmaker.interval_ms=50", "rooms.max_rooms=1"});
  const std::string admin = make_admin(c.a, {"storage.database_url=" + c.pg.url()}).token;
  const std::string lead = matchmaker_node(c.a.port(), admin);
  ASSERT_TRUE(lead == "a" || lead == "b") << lead;
  server_process& host = c.node(lead);
  server_process& other = c.other_than(lead);
  auto seats = seat_players(other.port(), {"Full1", "Full2", "Full3"});
  seats[0].ws->call("room.create", {{"mode", "test.counter"}, {"name", "The only one"}});
  const json::object duel{{"mode", "test.counter"}, {"min_players", 2}, {"max_players", 2}};
  seats[1].ws->call("match.start", duel);
  seats[2].ws->call("match.start", duel);
  const std::string room_id = str(at(seats[1].ws->expect("match.found", ms(5000)), "data.room_id"));
  EXPECT_EQ(str(at(seats[2].ws->expect("match.found", ms(5000)), "data.room_id")), room_id);
  EXPECT_EQ(http_call(host.port(), "GET", "/v1/admin/rooms/" + room_id, {}, bearer(admin)).status,
            200);
  std::vector<std::unique_ptr<ws_client>> moved;
  for (std::size_t i : {1u, 2u}) {
    auto joined = seats[i].ws->call("match.join");
    ASSERT_TRUE(has(joined, "moved")) << json::serialize(joined);
    EXPECT_EQ(str(at(joined, "moved.node")), lead);
    auto ws = std::make_unique<ws_client>(host.port(), seats[i].acc.token);
    EXPECT_EQ(str(at(ws->hello(), "room.id")), room_id);
    moved.push_back(std::move(ws));
  }
  for (auto& ws : moved)
    ws->expect("room.game_started", ms(5000));
}

// Parties across nodes: a party lives on the node where it was made. Its leader's invitation by
// nickname reaches a player connected to the other node; accepting it there answers `moved` to the
// party's node, and a hello through the other node sends the member back there; from there the
// member hears the party's chat. party.join by code through the other node works alike; an
// unknown code is unknown_party there too. A member sitting in a room of the other node is shown
// there to the others (party.presence, party.get).
TEST(cluster_test, a_party_made_on_one_node_is_joined_through_the_other) {
  two_nodes c;
  auto lead = seat_players(c.a.port(), {"Partya"});
  auto guests = seat_players(c.b.port(), {"Guestb", "Coderb"});
  auto party = at(lead[0].ws->call("party.create"), "party").as_object();
  const auto party_id = num(at(party, "id"));

  json::object sent;
  eventually([&] {
    sent = lead[0].ws->request("party.invite", {{"nickname", "Guestb"}});
    return error_code(sent) != "unknown_player";
  });
  ASSERT_TRUE(error_code(sent).empty()) << json::serialize(sent);
  auto inv = guests[0].ws->expect("party.invitation", ms(3000));
  EXPECT_EQ(num(at(inv, "data.party_id")), party_id);
  auto accepted = guests[0].ws->call("party.accept", {{"party_id", party_id}});
  ASSERT_TRUE(has(accepted, "moved")) << json::serialize(accepted);
  EXPECT_EQ(str(at(accepted, "moved.node")), "a");
  EXPECT_EQ(str(at(accepted, "moved.ws")), "/node/1/ws");
  EXPECT_EQ(at(accepted, "party.members").as_array().size(), 2u);
  lead[0].ws->expect("party.member_joined", ms(3000));

  {
    ws_client through_b(c.b.port(), guests[0].acc.token);
    auto hello = through_b.hello();
    ASSERT_TRUE(has(hello, "moved")) << json::serialize(hello);
    EXPECT_EQ(str(at(hello, "moved.node")), "a");
  }
  ws_client member(c.a.port(), guests[0].acc.token);
  member.hello();
  auto got = member.call("party.get");
  EXPECT_EQ(num(at(got, "party.id")), party_id);
  lead[0].ws->call("party.chat", {{"text", "across"}});
  EXPECT_EQ(str(at(member.expect("party.chat", ms(3000)), "data.text")), "across");

  EXPECT_EQ(error_code(guests[1].ws->request("party.join", {{"code", "ZZZZZZ"}})), "unknown_party");
  auto joined = guests[1].ws->call("party.join", {{"code", at(party, "code")}});
  ASSERT_TRUE(has(joined, "moved")) << json::serialize(joined);
  EXPECT_EQ(str(at(joined, "moved.node")), "a");
  EXPECT_EQ(at(joined, "party.members").as_array().size(), 3u);
  member.expect("party.member_joined", ms(3000));

  // A member still connected to the other node sits down in a room there: the party's node hears
  // it, and the members see where they are.
  auto room = snapshot_of_reply(guests[1].ws->call(
      "room.create", {{"mode", "test.counter"}, {"name", "Elsewhere"}, {"private", true}}));
  const std::string room_id = str(at(room, "id"));
  auto seen = member.recv_until(
      [&](const json::object& fr) {
        return str(at(fr, "type")) == "party.presence" &&
               num(at(fr, "data.player")) == guests[1].acc.id && at(fr, "data.room_id").is_string();
      },
      ms(3000));
  ASSERT_TRUE(seen) << "no party.presence from the other node";
  EXPECT_EQ(str(at(*seen, "data.room_id")), room_id);
  EXPECT_TRUE(at(*seen, "data.online").as_bool());
  bool listed = false;
  const auto now = member.call("party.get");
  for (const auto& m : at(now, "party.members").as_array()) {
    if (num(at(m.as_object(), "id")) != guests[1].acc.id) continue;
    listed = true;
    EXPECT_TRUE(at(m.as_object(), "online").as_bool());
    EXPECT_EQ(str(at(m.as_object(), "room_id")), room_id);
  }
  EXPECT_TRUE(listed);

  // A party follows its leader only when every member is connected to the party's node: one
  // connected to the other node is in the way, for a room there or here. Nothing changes.
  auto f = lead[0].ws->request("room.join", {{"room_id", room_id}, {"party", true}});
  EXPECT_EQ(error_code(f), "out_of_order") << json::serialize(f);
  EXPECT_NE(str(at(f, "error.message")).find("Coderb"), std::string::npos) << json::serialize(f);
  guests[1].ws->call("room.leave");
  f = lead[0].ws->request("room.create",
                          {{"mode", "test.counter"}, {"name", "All of us"}, {"party", true}});
  EXPECT_EQ(error_code(f), "out_of_order") << json::serialize(f);
  EXPECT_NE(str(at(f, "error.message")).find("Coderb"), std::string::npos) << json::serialize(f);
  EXPECT_EQ(error_code(lead[0].ws->request("room.leave")), "not_in_room");
  EXPECT_EQ(error_code(member.request("room.leave")), "not_in_room");
}

// A party joins a room of the other node as a unit: that node holds every seat or none. Too few
// seats: room_full, nothing taken. Then the leader's reply and each member's party.room say
// `moved`; their hellos there take the seats, the room's member heard both join, and the game
// starts with all three.
TEST(cluster_test, a_party_follows_its_leader_into_a_room_of_the_other_node) {
  two_nodes c;
  auto there = seat_players(c.b.port(), {"Hostb", "Fillb"});
  auto party_seats = seat_players(c.a.port(), {"Leada", "Folla"});
  auto party = at(party_seats[0].ws->call("party.create"), "party").as_object();
  party_seats[1].ws->call("party.join", {{"code", at(party, "code")}});
  party_seats[0].ws->expect("party.member_joined", ms(3000));
  const std::string room_id =
      str(at(snapshot_of_reply(there[0].ws->call(
                 "room.create", {{"mode", "test.counter"}, {"name", "Across"}, {"capacity", 3}})),
             "id"));
  there[1].ws->call("room.join", {{"room_id", room_id}});
  EXPECT_EQ(num(at(there[0].ws->expect("room.member_joined", ms(3000)), "data.member.id")),
            there[1].acc.id);
  ASSERT_TRUE(eventually([&] { return lists_room(c.a.port(), room_id); }));

  const json::object join{{"room_id", room_id}, {"party", true}};
  auto full = party_seats[0].ws->request("room.join", join);
  EXPECT_EQ(error_code(full), "room_full") << json::serialize(full);
  for (auto& s : party_seats)
    EXPECT_EQ(error_code(s.ws->request("room.leave")), "not_in_room");

  there[1].ws->call("room.leave");
  auto joined = party_seats[0].ws->call("room.join", join);
  ASSERT_TRUE(has(joined, "moved")) << json::serialize(joined);
  EXPECT_EQ(str(at(joined, "moved.node")), "b");
  EXPECT_EQ(str(at(joined, "moved.room_id")), room_id);
  auto told = party_seats[1].ws->expect("party.room", ms(3000));
  EXPECT_TRUE(at(told, "data").as_object().at("room").is_null()) << json::serialize(told);
  EXPECT_EQ(num(at(told, "data.by")), party_seats[0].acc.id);
  EXPECT_EQ(str(at(told, "data.moved.room_id")), room_id);
  EXPECT_EQ(str(at(told, "data.moved.ws")), str(at(joined, "moved.ws")));
  for (int i = 0; i < 2; ++i) {
    auto j = there[0].ws->expect("room.member_joined", ms(3000));
    const auto who = num(at(j, "data.member.id"));
    EXPECT_TRUE(who == party_seats[0].acc.id || who == party_seats[1].acc.id) << who;
  }

  std::vector<std::unique_ptr<ws_client>> moved;
  for (auto& s : party_seats) {
    auto ws = std::make_unique<ws_client>(c.b.port(), s.acc.token);
    auto hello = ws->hello();
    ASSERT_TRUE(has(hello, "room.id")) << json::serialize(hello);
    EXPECT_EQ(str(at(hello, "room.id")), room_id);
    EXPECT_EQ(at(hello, "room.members").as_array().size(), 3u) << json::serialize(hello);
    ws->call("room.ready", {{"ready", true}});
    moved.push_back(std::move(ws));
  }
  there[0].ws->call("room.start");
  for (auto& ws : moved)
    ws->expect("room.game_started", ms(5000));
}

// A party queued through the node that does not run the matchmaker (its ticket forwarded to the
// other node) is matchmaking for room.create party:true too; cancelled, it takes the room whole.
TEST(cluster_test, a_party_queued_at_the_other_nodes_matchmaker_cannot_also_take_a_room) {
  two_nodes c;
  const std::string admin = make_admin(c.a, {"storage.database_url=" + c.pg.url()}).token;
  const std::string lead = matchmaker_node(c.a.port(), admin);
  ASSERT_TRUE(lead == "a" || lead == "b") << lead;
  server_process& other = c.other_than(lead);
  auto seats = seat_players(other.port(), {"Fwda", "Fwdb"});
  auto party = at(seats[0].ws->call("party.create"), "party").as_object();
  seats[1].ws->call("party.join", {{"code", at(party, "code")}});
  seats[0].ws->expect("party.member_joined", ms(3000));
  seats[0].ws->call("match.start", {{"mode", "mafia"}});

  const json::object table{{"mode", "test.counter"}, {"name", "Both of us"}, {"party", true}};
  auto f = seats[0].ws->request("room.create", table);
  EXPECT_EQ(error_code(f), "already_matchmaking") << json::serialize(f);
  EXPECT_EQ(error_code(seats[1].ws->request("room.leave")), "not_in_room");
  seats[0].ws->call("match.cancel");
  auto room = snapshot_of_reply(seats[0].ws->call("room.create", table));
  EXPECT_EQ(at(room, "members").as_array().size(), 2u) << json::serialize(room);
  EXPECT_EQ(str(at(seats[1].ws->expect("party.room", ms(3000)), "data.room.id")),
            str(at(room, "id")));
}

// The matchmaker's node cut off (SIGSTOP) past its lease: the other node takes the lease and
// matches from then on. When the old one wakes, it ends the ticket still queued with it
// (match.cancelled, failed), and its player's next ticket goes to the new matchmaker, where it
// meets a player of that node (match.found reaches it, sent again if the first one was lost).
TEST(cluster_test, a_matchmaker_that_lost_its_lease_ends_the_tickets_it_still_holds) {
  two_nodes c({"matchmaker.interval_ms=50"});
  const std::string admin = make_admin(c.a, {"storage.database_url=" + c.pg.url()}).token;
  const std::string lead = matchmaker_node(c.a.port(), admin);
  ASSERT_TRUE(lead == "a" || lead == "b") << lead;
  EXPECT_EQ(matchmaker_node(c.b.port(), admin), lead) << "the nodes disagree";
  server_process& host = c.node(lead);
  server_process& other = c.other_than(lead);
  const std::string other_id = lead == "a" ? "b" : "a";
  auto mine = seat_players(host.port(), {"Held1"});
  mine[0].ws->call("match.start", {{"mode", "test.counter"}, {"min_players", 3}});

  ASSERT_EQ(::kill(host.pid(), SIGSTOP), 0);
  const bool taken =
      eventually([&] { return matchmaker_node(other.port(), admin) == other_id; }, ms(10000));
  ASSERT_EQ(::kill(host.pid(), SIGCONT), 0);
  ASSERT_TRUE(taken) << "the other node never took the matchmaker's lease";
  auto ended = mine[0].ws->expect("match.cancelled", ms(10000));
  EXPECT_EQ(str(at(ended, "data.reason")), "failed");

  auto there = seat_players(other.port(), {"There1"});
  // The woken node's connections to Redis may be made anew (a command in flight timed out while
  // it was stopped): a match.found published meanwhile is lost, and sent again until it arrives.
  const json::object two{{"mode", "test.counter"}, {"min_players", 2}, {"max_players", 2}};
  json::object r;
  EXPECT_TRUE(eventually([&] {
    r = mine[0].ws->request("match.start", two);
    return error_code(r).empty();
  })) << json::serialize(r);
  there[0].ws->call("match.start", two);
  auto found_here = mine[0].ws->expect("match.found", ms(5000));
  auto found_there = there[0].ws->expect("match.found", ms(5000));
  EXPECT_EQ(str(at(found_here, "data.room_id")), str(at(found_there, "data.room_id")));
}

}  // namespace
}  // namespace maratang::it
