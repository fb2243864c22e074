// Two nodes behind a real nginx (deploy/nginx/maratang.conf.in, started by scripts/nginx_temp.sh)
// on one PostgreSQL and one Redis: REST and the WebSocket through one port, requests spread over
// both nodes, each node reachable by its own route (/node/N/), and a trace written through nginx
// listed through it at once whichever node answers.
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>

#include "harness.hpp"
#include "nginx_server.hpp"
#include "redis/test_server.hpp"
#include "store/postgres/pg_test_cluster.hpp"

namespace maratang::it {
namespace {

using store::testing::pg_test_cluster;

constexpr std::string_view kRequests = "maratang_http_requests_total";

TEST(nginx_test, two_nodes_serve_rest_and_websockets_through_one_port) {
  pg_test_cluster pg(MARATANG_SOURCE_DIR);
  redis::testing::test_server redis(MARATANG_SOURCE_DIR);
  temp_dir data;
  const std::vector<std::string> sets = {
      "storage.database_url=" + pg.url(), "redis.url=" + redis.url(),
      "auth.secret=bWFyYXRhbmctY2x1c3Rlci10ZXN0LWtleS0zMmJ5dGU", "traces.anon_writes_per_minute=0"};
  server_process a(with_node(sets, "a"), data.path() / "a");
  server_process b(with_node(sets, "b"), data.path() / "b");
  nginx_server nginx({a.port(), b.port()});
  const int port = nginx.port();

  // REST through nginx, spread over both nodes.
  const double a0 = metric_value(a.port(), kRequests), b0 = metric_value(b.port(), kRequests);
  for (int i = 0; i < 20; ++i)
    ASSERT_EQ(http_call(port, "GET", "/health").status, 200);
  EXPECT_GT(metric_value(a.port(), kRequests) - a0, 2) << "node A got almost none of 20 requests";
  EXPECT_GT(metric_value(b.port(), kRequests) - b0, 2) << "node B got almost none of 20 requests";

  // Each node by its own route: the admin overview names the node's port.
  auto admin = make_admin(a, {"storage.database_url=" + pg.url()});
  for (auto [n, node] : {std::pair{1, &a}, std::pair{2, &b}}) {
    auto r = http_call(port, "GET", "/node/" + std::to_string(n) + "/v1/admin/overview", {},
                       bearer(admin.token));
    ASSERT_EQ(r.status, 200) << r.body;
    const auto name = str(at(r.json(), "address"));
    EXPECT_EQ(name.substr(name.rfind(':') + 1), std::to_string(node->port())) << name;
  }

  // The WebSocket upgrade through nginx: hello, a room, pings.
  player p = make_player(port, "Proxied");
  ws_client ws(port, p.token);
  auto hello = ws.hello();
  EXPECT_EQ(num(at(hello, "account.id")), p.id);
  auto snap =
      snapshot_of_reply(ws.call("room.create", {{"mode", "test.counter"}, {"name", "Behind"}}));
  EXPECT_EQ(str(at(snap, "name")), "Behind");
  EXPECT_TRUE(ws.ping_ok());

  // A trace written through nginx is listed through it at once, whichever node answers.
  const std::string trace = R"({
    "message": {"u_uuid": "u", "part1": "try", "part2": "jumping", "part3": "here"},
    "phantom": {"u_uuid": "u", "data": [["1,2,3", "0,0,0"]]}})";
  for (int i = 1; i <= 4; ++i) {
    ASSERT_EQ(http_call(port, "POST", "/add-object", trace).status, 200);
    for (int k = 0; k < 4; ++k) {
      auto r = http_call(port, "GET", "/get-objects");
      ASSERT_EQ(r.status, 200);
      EXPECT_EQ(at(r.json(), "messages").as_array().size(), static_cast<std::size_t>(i))
          << "after write " << i << ", read " << k;
    }
  }
}

// Any player reaches any room (issue 16): a Mafia room lives on node A; players connected to node
// B see it in room.list, join it through B, are sent to A's route (`moved`) and play the game with
// the players of A to its end. A hello on B for a seat on A says `moved` too; a private room is
// joined through B by its invite code only; a reservation nobody takes frees the seat.
TEST(nginx_test, players_on_two_nodes_play_one_mafia_game_to_its_end) {
  pg_test_cluster pg(MARATANG_SOURCE_DIR);
  redis::testing::test_server redis(MARATANG_SOURCE_DIR);
  temp_dir data;
  const std::vector<std::string> sets = {
      "storage.database_url=" + pg.url(), "redis.url=" + redis.url(),
      "auth.secret=bWFyYXRhbmctY2x1c3Rlci10ZXN0LWtleS0zMmJ5dGU", "rooms.reservation_ms=3000"};
  auto with_route = [&](const char* id, const char* route) {
    auto v = with_node(sets, id);
    v.push_back(std::string("node.route=") + route);
    return v;
  };
  server_process a(with_route("a", "/node/1"), data.path() / "a");
  server_process b(with_route("b", "/node/2"), data.path() / "b");
  nginx_server nginx({a.port(), b.port()});
  const int port = nginx.port();

  player lead = make_player(a.port(), "Hostona");
  ws_client on_a(a.port(), lead.token);
  on_a.hello();
  const json::object settings{{"day_ms", 100},     {"vote_ms", 100},  {"defense_ms", 100},
                              {"verdict_ms", 100}, {"night_ms", 100}, {"tie", "night"},
                              {"max_days", 1}};
  auto room = snapshot_of_reply(
      on_a.call("room.create",
                {{"mode", "mafia"}, {"name", "Across"}, {"capacity", 4}, {"settings", settings}}));
  const std::string room_id = str(at(room, "id"));

  // B lists A's room (the directory), with A's own summary.
  bool listed = false;
  for (int i = 0; i < 250 && !listed; ++i) {
    const auto rooms = http_call(b.port(), "GET", "/v1/rooms?mode=mafia").json();
    for (const auto& e : at(rooms, "rooms").as_array())
      listed = listed || str(at(e, "id")) == room_id;
    if (!listed) std::this_thread::sleep_for(ms(20));
  }
  ASSERT_TRUE(listed) << "B never listed the room of A";

  // Three players on B join it: each is sent to A's route and resumes the seat there.
  std::vector<player> others;
  std::vector<std::unique_ptr<ws_client>> socks;
  for (const char* name : {"Guestb1", "Guestb2", "Guestb3"}) {
    others.push_back(make_player(b.port(), name));
    ws_client on_b(b.port(), others.back().token);
    on_b.hello();
    auto joined = on_b.call("room.join", {{"room_id", room_id}});
    ASSERT_TRUE(has(joined, "moved")) << json::serialize(joined);
    EXPECT_EQ(str(at(joined, "moved.node")), "a");
    EXPECT_EQ(str(at(joined, "moved.ws")), "/node/1/ws");
    EXPECT_EQ(str(at(joined, "moved.room_id")), room_id);
    // The seat waits on A; the leader sees the member, not yet connected.
    auto seen = on_a.recv_until([&](const json::object& f) {
      return str(at(f, "type")) == "room.member_joined" &&
             num(at(f, "data.member.id")) == others.back().id;
    });
    ASSERT_TRUE(seen);
    EXPECT_FALSE(at(*seen, "data.member.connected").as_bool());
    // A hello on B (a reconnection through the balancer landing there) is sent to A as well.
    ws_client again(b.port(), others.back().token);
    auto hello_b = again.hello();
    EXPECT_TRUE(at(hello_b, "room").is_null());
    ASSERT_TRUE(has(hello_b, "moved")) << json::serialize(hello_b);
    EXPECT_EQ(str(at(hello_b, "moved.ws")), "/node/1/ws");
    connect_options through;
    through.path = "/node/1/ws";
    socks.push_back(std::make_unique<ws_client>(port, others.back().token, through));
    auto hello = socks.back()->hello();
    ASSERT_FALSE(at(hello, "room").is_null()) << json::serialize(hello);
    EXPECT_EQ(str(at(hello, "room.id")), room_id);
  }
  for (auto& s : socks)
    s->call("room.ready", {{"ready", true}});
  on_a.call("room.start");
  std::string game_id;
  auto ended = on_a.expect("room.game_ended", ms(20000));
  for (auto& s : socks) {
    auto e = s->expect("room.game_ended", ms(20000));
    EXPECT_EQ(str(at(e, "data.game_id")), str(at(ended, "data.game_id")));
  }
  game_id = str(at(ended, "data.game_id"));
  // The record, read through B, names all four players.
  auto g = http_call(b.port(), "GET", "/v1/games/" + game_id, {}, bearer(others[0].token));
  for (int i = 0; i < 100 && g.status != 200; ++i) {
    std::this_thread::sleep_for(ms(20));
    g = http_call(b.port(), "GET", "/v1/games/" + game_id, {}, bearer(others[0].token));
  }
  ASSERT_EQ(g.status, 200) << g.body;
  EXPECT_EQ(at(g.json(), "players").as_array().size(), 4u) << g.body;

  // A private room of A: through B by id it is unknown; by its invite code it is joined. The
  // reservation is never taken, and frees the seat.
  player host = make_player(a.port(), "Privhost");
  ws_client on_a2(a.port(), host.token);
  on_a2.hello();
  auto priv = snapshot_of_reply(
      on_a2.call("room.create", {{"mode", "test.counter"}, {"name", "Hidden"}, {"private", true}}));
  const std::string invite = str(at(priv, "invite_code"));
  player late = make_player(b.port(), "Neverarrives");
  ws_client late_b(b.port(), late.token);
  late_b.hello();
  json::object by_invite;
  for (int i = 0; i < 250; ++i) {
    auto r = late_b.request("room.join", {{"invite_code", invite}});
    if (r.at("ok").as_bool()) {
      by_invite = r.at("data").as_object();
      break;
    }
    ASSERT_EQ(str(at(r, "error.code")), "unknown_room") << json::serialize(r);
    std::this_thread::sleep_for(ms(20));  // until B's directory has the new room
  }
  ASSERT_TRUE(has(by_invite, "moved")) << "B never found the private room by its invite code";
  // Its id alone does not open it, through B as on A.
  player nosy = make_player(b.port(), "Nosyone");
  ws_client nosy_b(b.port(), nosy.token);
  nosy_b.hello();
  auto by_id = nosy_b.request("room.join", {{"room_id", str(at(priv, "id"))}});
  EXPECT_EQ(str(at(by_id, "error.code")), "unknown_room") << json::serialize(by_id);
  // One seat per account: the reserved seat on A stops a join of another room of A through B.
  auto second = late_b.request("room.join", {{"room_id", room_id}});
  EXPECT_EQ(str(at(second, "error.code")), "already_in_room") << json::serialize(second);
  auto left = on_a2.recv_until(
      [&](const json::object& f) {
        return str(at(f, "type")) == "room.member_left" && num(at(f, "data.player")) == late.id;
      },
      ms(10000));
  ASSERT_TRUE(left) << "the unused reservation kept its seat";
  EXPECT_EQ(str(at(*left, "data.reason")), "timeout");
}

// A player reconnecting through nginx as the SDK does: hello on /ws, and wherever the hello says
// `moved`, there (or, while the room's node is being recovered, /ws again after retry_after_ms).
// Returns the socket whose hello gave a room, and that hello; throws when none does in time.
std::pair<std::unique_ptr<ws_client>, json::object> reach_seat(int nginx_port,
                                                               const std::string& token,
                                                               ms within) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  std::string path = "/ws";
  std::string last;
  while (std::chrono::steady_clock::now() < deadline) {
    try {
      connect_options o;
      o.path = path;
      auto ws = std::make_unique<ws_client>(nginx_port, token, o);
      auto hello = ws->hello();
      last = json::serialize(hello);
      if (!at(hello, "room").is_null()) return {std::move(ws), std::move(hello)};
      if (has(hello, "moved")) {
        path = str(at(hello, "moved.ws"));
        if (has(hello, "moved.retry_after_ms"))
          std::this_thread::sleep_for(ms(num(at(hello, "moved.retry_after_ms"))));
        continue;
      }
    } catch (const std::exception& e) {
      last = e.what();  // the dead node's route: 502 from nginx
      path = "/ws";
    }
    std::this_thread::sleep_for(ms(100));  // the SDK's first backoff step, shortened
  }
  throw std::runtime_error("no hello gave the seat back; last: " + last);
}

// Settings of a two-node cluster whose nodes notice a dead one fast.
std::vector<std::string> fast_cluster(const pg_test_cluster& pg,
                                      const redis::testing::test_server& redis, const char* id,
                                      const char* route) {
  auto v = with_node(
      {"storage.database_url=" + pg.url(), "redis.url=" + redis.url(),
       "auth.secret=bWFyYXRhbmctY2x1c3Rlci10ZXN0LWtleS0zMmJ5dGU", "cluster.heartbeat_ms=200",
       "cluster.node_ttl_ms=600", "rooms.reconnect_grace_ms=30000", "log.level=info"},
      id);
  v.push_back(std::string("node.route=") + route);
  return v;
}

// Four players of a Mafia game on node A, connected through nginx at A's route, the game started
// with a long first day and a quick end after it (nobody votes: night, then a draw).
struct mafia_on_a {
  std::string room_id, game_id;
  std::int64_t day_ends = 0;
  std::vector<player> players;
  std::vector<std::unique_ptr<ws_client>> socks;
};

mafia_on_a start_mafia_on_a(int a_port, int nginx_port, const std::string& prefix) {
  mafia_on_a g;
  connect_options at_a;
  at_a.path = "/node/1/ws";
  for (int i = 1; i <= 4; ++i) {
    g.players.push_back(make_player(a_port, prefix + std::to_string(i)));
    g.socks.push_back(std::make_unique<ws_client>(nginx_port, g.players.back().token, at_a));
    g.socks.back()->hello();
  }
  const json::object settings{{"day_ms", 15000},   {"vote_ms", 100},  {"defense_ms", 100},
                              {"verdict_ms", 100}, {"night_ms", 100}, {"tie", "night"},
                              {"max_days", 1}};
  auto room = snapshot_of_reply(g.socks[0]->call(
      "room.create",
      {{"mode", "mafia"}, {"name", "Survivor"}, {"capacity", 4}, {"settings", settings}}));
  g.room_id = str(at(room, "id"));
  for (int i = 1; i < 4; ++i) {
    g.socks[i]->call("room.join", {{"room_id", g.room_id}});
    g.socks[i]->call("room.ready", {{"ready", true}});
  }
  g.socks[0]->call("room.start");
  for (auto& s : g.socks) {
    auto phase = s->recv_until([](const json::object& f) {
      return str(at(f, "type")) == "mafia.phase" && str(at(f, "data.phase")) == "day";
    });
    if (!phase) throw std::runtime_error("no day phase");
    g.day_ends = num(at(*phase, "data.ends_at"));
  }
  auto started = g.socks[0]->recv_until("room.game_started");
  if (!started) throw std::runtime_error("no room.game_started");
  g.game_id = str(at(*started, "data.game_id"));
  return g;
}

// kill -9 of the node that owns a game: the other node claims its snapshot and restores it; the
// players, reconnecting through nginx, are sent to it and find the game in the same phase with
// the same deadline, which it then plays to its end.
TEST(nginx_test, a_game_of_a_killed_node_goes_on_on_the_other_node) {
  pg_test_cluster pg(MARATANG_SOURCE_DIR);
  redis::testing::test_server redis(MARATANG_SOURCE_DIR);
  temp_dir data;
  auto a =
      std::make_unique<server_process>(fast_cluster(pg, redis, "a", "/node/1"), data.path() / "a");
  server_process b(fast_cluster(pg, redis, "b", "/node/2"), data.path() / "b");
  nginx_server nginx({a->port(), b.port()});
  auto g = start_mafia_on_a(a->port(), nginx.port(), "Crashy");
  // The game's snapshot is stored before the crash (it is written at the start).
  std::this_thread::sleep_for(ms(500));

  ASSERT_EQ(::kill(a->pid(), SIGKILL), 0);
  const auto killed = std::chrono::steady_clock::now();
  EXPECT_EQ(a->stop().signal, SIGKILL);
  for (auto& s : g.socks)
    s->drop();

  std::vector<std::unique_ptr<ws_client>> back;
  for (const auto& p : g.players) {
    auto [ws, hello] = reach_seat(nginx.port(), p.token, ms(20000));
    EXPECT_EQ(str(at(hello, "room.id")), g.room_id);
    EXPECT_EQ(str(at(hello, "room.game_id")), g.game_id);
    EXPECT_EQ(str(at(hello, "room.state")), "playing");
    EXPECT_EQ(str(at(hello, "room.game.phase")), "day");
    EXPECT_EQ(num(at(hello, "room.game.ends_at")), g.day_ends) << "the same absolute deadline";
    back.push_back(std::move(ws));
  }
  const auto took =
      std::chrono::duration_cast<ms>(std::chrono::steady_clock::now() - killed).count();
  std::cout << "[ takeover ] from kill -9 to 4 players back in the game on the other node: " << took
            << " ms\n";
  const std::string log = b.log_text();
  const auto said = log.find("restored 1 of 1 room(s) of node a");
  ASSERT_NE(said, std::string::npos) << log;
  std::cout << "[ takeover ] node b: " << log.substr(said, log.find('\n', said) - said) << "\n";

  // It plays on to its end on B, and B stores its record.
  for (auto& s : back) {
    auto ended = s->expect("room.game_ended", ms(30000));
    EXPECT_EQ(str(at(ended, "data.game_id")), g.game_id);
  }
  auto rec = http_call(b.port(), "GET", "/v1/games/" + g.game_id, {}, bearer(g.players[0].token));
  for (int i = 0; i < 100 && rec.status != 200; ++i) {
    std::this_thread::sleep_for(ms(20));
    rec = http_call(b.port(), "GET", "/v1/games/" + g.game_id, {}, bearer(g.players[0].token));
  }
  ASSERT_EQ(rec.status, 200) << rec.body;
  EXPECT_EQ(at(rec.json(), "players").as_array().size(), 4u);
  // The dead node is gone from the directory: B lists no room of it.
  auto metrics = http_call(b.port(), "GET", "/metrics").body;
  EXPECT_NE(metrics.find("maratang_cluster_nodes 1\n"), std::string::npos) << metrics;
}

// SIGTERM (a deploy): the node hands its rooms to the other node before it exits: a running game
// goes on in the same phase with the same deadline, a waiting room keeps its members, and the
// players are told to reconnect, which takes them there.
TEST(nginx_test, a_draining_node_hands_its_rooms_to_the_other_node) {
  pg_test_cluster pg(MARATANG_SOURCE_DIR);
  redis::testing::test_server redis(MARATANG_SOURCE_DIR);
  temp_dir data;
  server_process a(fast_cluster(pg, redis, "a", "/node/1"), data.path() / "a");
  server_process b(fast_cluster(pg, redis, "b", "/node/2"), data.path() / "b");
  nginx_server nginx({a.port(), b.port()});
  auto g = start_mafia_on_a(a.port(), nginx.port(), "Drained");
  // A waiting room on A with two members.
  connect_options at_a;
  at_a.path = "/node/1/ws";
  player w1 = make_player(a.port(), "Waiter1"), w2 = make_player(a.port(), "Waiter2");
  ws_client ws1(nginx.port(), w1.token, at_a), ws2(nginx.port(), w2.token, at_a);
  ws1.hello();
  ws2.hello();
  auto waiting =
      snapshot_of_reply(ws1.call("room.create", {{"mode", "test.counter"}, {"name", "Lobby"}}));
  ws2.call("room.join", {{"room_id", str(at(waiting, "id"))}});
  // B knows A (its heartbeat) before A drains.
  std::this_thread::sleep_for(ms(600));

  auto out = a.stop(ms(15000));
  EXPECT_TRUE(out.exited) << "signal " << out.signal;
  EXPECT_EQ(out.code, 0);
  const std::string alog = a.log_text();
  const auto drained = alog.find("drained 2 room(s)");
  ASSERT_NE(drained, std::string::npos) << alog;
  EXPECT_NE(alog.find("another node runs them", drained), std::string::npos) << alog;
  std::cout << "[ drain    ] node a: " << alog.substr(drained, alog.find('\n', drained) - drained)
            << "\n";
  // Each player was told to reconnect soon.
  auto told = g.socks[0]->recv_until("server.shutdown");
  ASSERT_TRUE(told);
  EXPECT_EQ(num(at(*told, "data.reconnect_after_ms")), 250);

  for (const auto& p : g.players) {
    auto [ws, hello] = reach_seat(nginx.port(), p.token, ms(10000));
    EXPECT_EQ(str(at(hello, "room.id")), g.room_id);
    EXPECT_EQ(str(at(hello, "room.game_id")), g.game_id);
    EXPECT_EQ(str(at(hello, "room.game.phase")), "day");
    EXPECT_EQ(num(at(hello, "room.game.ends_at")), g.day_ends) << "the same absolute deadline";
  }
  for (const auto* p : {&w1, &w2}) {
    auto [ws, hello] = reach_seat(nginx.port(), p->token, ms(10000));
    EXPECT_EQ(str(at(hello, "room.id")), str(at(waiting, "id")));
    EXPECT_EQ(str(at(hello, "room.state")), "waiting");
    EXPECT_EQ(at(hello, "room.members").as_array().size(), 2u);
  }
  EXPECT_NE(b.log_text().find("restored 2 of 2 room(s) of node a"), std::string::npos)
      << b.log_text();
}

// With server.trusted_proxies naming nginx, per-address limits count the clients behind it
// (X-Forwarded-For), not nginx: a burst of one trace write per address lets two clients write once
// each, and refuses the second write of either.
TEST(nginx_test, per_address_limits_count_the_clients_behind_nginx) {
  pg_test_cluster pg(MARATANG_SOURCE_DIR);
  redis::testing::test_server redis(MARATANG_SOURCE_DIR);
  temp_dir data;
  const std::vector<std::string> sets = {"storage.database_url=" + pg.url(),
                                         "redis.url=" + redis.url(),
                                         "auth.secret=bWFyYXRhbmctY2x1c3Rlci10ZXN0LWtleS0zMmJ5dGU",
                                         "traces.anon_writes_per_minute=1",
                                         "traces.anon_write_burst=1",
                                         "server.trusted_proxies=127.0.0.1"};
  server_process a(with_node(sets, "a"), data.path() / "a");
  server_process b(with_node(sets, "b"), data.path() / "b");
  nginx_server nginx({a.port(), b.port()});
  const std::string trace = R"({
    "message": {"u_uuid": "u", "part1": "try", "part2": "jumping", "part3": "here"},
    "phantom": {"u_uuid": "u", "data": [["1,2,3", "0,0,0"]]}})";
  auto write = [&](const char* from) {
    return http_call_from(from, nginx.port(), "POST", "/add-object", trace).status;
  };
  EXPECT_EQ(write("127.0.0.2"), 200);
  EXPECT_EQ(write("127.0.0.3"), 200) << "another client behind the same nginx";
  EXPECT_EQ(write("127.0.0.2"), 429);
  EXPECT_EQ(write("127.0.0.3"), 429);
}

// scripts/cluster.sh: PostgreSQL, Redis, three nodes and nginx from one command, a URL that
// answers, and --stop leaving nothing behind.
TEST(nginx_test, the_cluster_script_starts_a_cluster_and_stops_it) {
  temp_dir parent;
  std::filesystem::permissions(
      parent.path(), std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                         std::filesystem::perms::group_exec | std::filesystem::perms::others_read |
                         std::filesystem::perms::others_exec);
  const auto dir = parent.path() / "cluster";
  const auto script = std::filesystem::path(MARATANG_SOURCE_DIR) / "scripts" / "cluster.sh";
  const std::string start = "'" + script.string() + "' --nodes 3 --dir '" + dir.string() + "'";
  FILE* p = ::popen((start + " 2>/dev/null").c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string url;
  char buf[256];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p))
    url.append(buf, n);
  ASSERT_EQ(::pclose(p), 0) << start;
  while (!url.empty() && url.back() == '\n')
    url.pop_back();
  ASSERT_EQ(url.rfind("http://127.0.0.1:", 0), 0u) << url;
  const int port = std::stoi(url.substr(url.rfind(':') + 1));
  EXPECT_EQ(http_call(port, "GET", "/ready").status, 200);
  player p1 = make_player(port, "Clustered");
  ws_client ws(port, p1.token);
  ws.hello();
  EXPECT_TRUE(ws.ping_ok());
  for (int n = 1; n <= 3; ++n)
    EXPECT_TRUE(std::filesystem::exists(dir / ("node-" + std::to_string(n) + ".pid"))) << n;
  ws.close();

  const std::string stop =
      "'" + script.string() + "' --stop --dir '" + dir.string() + "' 2>/dev/null";
  ASSERT_EQ(std::system(stop.c_str()), 0) << stop;
  EXPECT_FALSE(std::filesystem::exists(dir));
  EXPECT_EQ(http_call(port, "GET", "/health").status, 0) << "nginx is gone";
}

}  // namespace
}  // namespace maratang::it
