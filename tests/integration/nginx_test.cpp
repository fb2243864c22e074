// Two nodes behind a real nginx (deploy/nginx/maratang.conf.in, started by scripts/nginx_temp.sh)
// on one PostgreSQL and one Redis: REST and the WebSocket through one port, requests spread over
// both nodes, each node reachable by its own route (/node/N/), and a trace written through nginx
// listed through it at once whichever node answers.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>

#include "harness.hpp"
#include "redis/test_server.hpp"
#include "store/postgres/pg_test_cluster.hpp"

namespace maratang::it {
namespace {

using store::testing::pg_test_cluster;

// nginx in front of `nodes`, stopped with its directory when the object dies.
class nginx_server {
 public:
  explicit nginx_server(const std::vector<int>& nodes)
      : script_(std::filesystem::path(MARATANG_SOURCE_DIR) / "scripts" / "nginx_temp.sh"),
        dir_(std::filesystem::temp_directory_path() /
             ("maratang_nginx_" + std::to_string(::getpid()))) {
    std::string args = "start '" + dir_.string() + "'";
    for (int p : nodes)
      args += " 127.0.0.1:" + std::to_string(p);
    const std::string url = run(args);
    const auto colon = url.rfind(':');
    if (url.rfind("http://127.0.0.1:", 0) != 0 || colon == std::string::npos) {
      throw std::runtime_error("nginx_temp.sh start printed: " + url);
    }
    port_ = std::stoi(url.substr(colon + 1));
  }
  ~nginx_server() {
    try {
      run("stop '" + dir_.string() + "'");
    } catch (...) {
    }
  }
  int port() const { return port_; }

 private:
  std::string run(const std::string& args) const {
    const std::string cmd = "'" + script_.string() + "' " + args;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) throw std::runtime_error("popen " + cmd);
    std::string out;
    char buf[256];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p))
      out.append(buf, n);
    if (::pclose(p) != 0) throw std::runtime_error(cmd + " failed: " + out);
    while (!out.empty() && out.back() == '\n')
      out.pop_back();
    return out;
  }
  std::filesystem::path script_;
  std::filesystem::path dir_;
  int port_ = 0;
};

double http_requests(int port) {
  const auto body = http_call(port, "GET", "/metrics").body;
  const std::string name = "maratang_http_requests_total ";
  const auto pos = body.find("\n" + name);
  return pos == std::string::npos ? -1 : std::stod(body.substr(pos + 1 + name.size()));
}

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
  const double a0 = http_requests(a.port()), b0 = http_requests(b.port());
  for (int i = 0; i < 20; ++i)
    ASSERT_EQ(http_call(port, "GET", "/health").status, 200);
  EXPECT_GT(http_requests(a.port()) - a0, 2) << "node A got almost none of 20 requests";
  EXPECT_GT(http_requests(b.port()) - b0, 2) << "node B got almost none of 20 requests";

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
