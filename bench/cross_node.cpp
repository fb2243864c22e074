// cross_node: what a message gains when it crosses nodes (issue 16). Starts two nodes, A and B,
// on one PostgreSQL and one Redis (given by URL; bench/cross_node.sh starts throw-away ones), and
// drives them over real WebSockets on loopback from one client thread:
//   senders     N players on A, each the leader of a room of its own
//   receivers   N players on A (same node) and N on B (cross node): sender i invites its two
//   latency     room.invite from a sender on A to a player on A, and to one on B, interleaved and
//               paced (one invitation in flight per sender): from writing the invitation to the
//               receiver reading room.invitation, in this one process (one clock); p50/p99/max of
//               each, and the difference cross minus same (the goal: p99 at most 1 ms added)
//   throughput  for a few seconds (bounded), each sender keeps `window` invitations in flight to
//               its receiver on A, then on B: deliveries per second and the server CPU seconds
//               (both nodes' processes, and Redis's when its pid can be read) per delivery
// In Maratang a player who joins a room on another node moves there (`moved`), so room and game
// messages never cross nodes; what crosses is delivery to a player connected elsewhere
// (lobby::deliver_anywhere: room.invite by account id, a kicked reserved member's room.removed;
// an admin's kick), over Redis pub/sub on the target node's channel, found through
// `maratang:presence` (docs/ARCHITECTURE.md, "Cross-node delivery"). room.invite is the one a
// player sends at will, so it is the one measured.
// Usage: cross_node --server build/release/maratang --database-url URL --redis-url URL
//                   [--senders 50] [--latency-count 2000] [--latency-rate 500] [--window 8]
//                   [--duration 5] [--max-deliveries 500000] [--threads 1]
// Prints figures; asserts nothing. Loopback only; bounded in count and time (a watchdog ends a
// phase that hangs); stops both nodes (their data folders are removed; the accounts it made stay
// in the database).
// GCC 12 reports Asio's coroutine frames, allocated by their own operator new, as freed by a
// mismatched delete once inlined: a false positive.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <future>
#include <iostream>
#include <memory>
#include <random>
#include <thread>
#include <unordered_map>
#include <vector>

#include "server_process.hpp"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;
using asio::awaitable;
using asio::use_awaitable;
using maratang::bench::server_process;

constexpr std::string_view kSecret = "bWFyYXRhbmctY3Jvc3Mtbm9kZS1iZW5jaC1rZXktMzI";

double ms_between(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

struct samples {
  std::vector<double> ms;
  void add(double v) { ms.push_back(v); }
  double pct(double p) {
    if (ms.empty()) return 0;
    std::sort(ms.begin(), ms.end());
    return ms[std::min(ms.size() - 1,
                       static_cast<std::size_t>(p * static_cast<double>(ms.size())))];
  }
  double max() { return ms.empty() ? 0 : *std::max_element(ms.begin(), ms.end()); }
};

// One-field JSON objects (GCC 12 miscompiles braced lists of string literals in coroutines).
json::object kv(std::string_view k, json::value v) {
  json::object o;
  o[k] = std::move(v);
  return o;
}

std::string http_call(int port, http::verb verb, const std::string& target, std::string body,
                      const std::string& token) {
  asio::io_context ioc;
  beast::tcp_stream s(ioc);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, "127.0.0.1");
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  req.body() = std::move(body);
  req.prepare_payload();
  http::write(s, req);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(s, buf, res);
  if (res.result_int() >= 300)
    throw std::runtime_error(fmt::format("{} -> {}: {}", target, res.result_int(), res.body()));
  return res.body();
}

// --- Redis, read directly: its pid (for its CPU) and its round trip from here ------------------

struct redis_probe {
  asio::io_context ioc;
  tcp::socket sock{ioc};
  asio::streambuf in;

  // redis://[:password@]host[:port][/db]
  explicit redis_probe(std::string url) {
    if (url.rfind("redis://", 0) == 0) url = url.substr(8);
    std::string password;
    if (auto at = url.find('@'); at != std::string::npos) {
      password = url.substr(0, at);
      if (auto colon = password.find(':'); colon != std::string::npos)
        password = password.substr(colon + 1);
      url = url.substr(at + 1);
    }
    url = url.substr(0, url.find('/'));
    std::string host = url, port = "6379";
    if (auto colon = url.rfind(':'); colon != std::string::npos) {
      host = url.substr(0, colon);
      port = url.substr(colon + 1);
    }
    tcp::resolver r(ioc);
    asio::connect(sock, r.resolve(host, port));
    sock.set_option(tcp::no_delay(true));
    if (!password.empty()) command("AUTH " + password);
  }

  // An inline command; its reply (a status, an integer or a bulk string's contents).
  std::string command(const std::string& cmd) {
    asio::write(sock, asio::buffer(cmd + "\r\n"));
    asio::read_until(sock, in, "\r\n");
    std::istream is(&in);
    std::string line;
    std::getline(is, line);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) throw std::runtime_error("redis: an empty reply");
    if (line[0] == '-') throw std::runtime_error("redis: " + line);
    if (line[0] != '$') return line.substr(1);
    const auto len = std::stoul(line.substr(1));
    if (in.size() < len + 2) asio::read(sock, in, asio::transfer_exactly(len + 2 - in.size()));
    std::string body(len, '\0');
    is.read(body.data(), static_cast<std::streamsize>(len));
    is.ignore(2);
    return body;
  }

  pid_t pid() {
    const std::string info = command("INFO server");
    const auto at = info.find("process_id:");
    if (at == std::string::npos) return -1;
    return static_cast<pid_t>(std::stol(info.substr(at + 11)));
  }
};

double process_cpu(pid_t pid) {
  if (pid <= 0) return 0;
  return server_process::stat_cpu_seconds(fmt::format("/proc/{}/stat", pid));
}

// --- Clients -------------------------------------------------------------------------------------

enum kind { same = 0, cross = 1 };
constexpr const char* kKindName[] = {"same node (A -> A)", "cross node (A -> B)"};

struct sender;

struct conn {
  explicit conn(asio::io_context& ioc) : ws(ioc) {}
  websocket::stream<beast::tcp_stream> ws;
  beast::flat_buffer buf;
  std::string token;
  std::int64_t account = 0;
  std::int64_t next_id = 1;

  awaitable<void> connect(int port) {
    auto& sock = beast::get_lowest_layer(ws);
    co_await sock.async_connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)),
        use_awaitable);
    sock.expires_never();
    sock.socket().set_option(tcp::no_delay(true));
    co_await ws.async_handshake("127.0.0.1", "/ws?token=" + token, use_awaitable);
    json::object hello = co_await request("hello", kv("version", 1));
    const auto* ok = hello.if_contains("ok");
    if (!ok || !ok->is_bool() || !ok->as_bool())
      throw std::runtime_error("hello: " + json::serialize(hello));
  }

  awaitable<std::int64_t> send(std::string_view type, json::object data) {
    const std::int64_t id = next_id++;
    json::object msg = kv("type", json::string(type));
    msg["id"] = id;
    msg["data"] = std::move(data);
    std::string text = json::serialize(msg);
    ws.text(true);
    co_await ws.async_write(asio::buffer(text), use_awaitable);
    co_return id;
  }

  // The next frame as JSON.
  awaitable<json::object> read() {
    buf.clear();
    co_await ws.async_read(buf, use_awaitable);
    auto v = json::parse(beast::buffers_to_string(buf.data()));
    co_return std::move(v.as_object());
  }

  // Sends a request and reads until its reply (other frames are skipped); the whole reply.
  awaitable<json::object> request(std::string_view type, json::object data) {
    const std::int64_t id = co_await send(type, std::move(data));
    for (;;) {
      json::object o = co_await read();
      const auto* rid = o.if_contains("id");
      if (rid && rid->is_int64() && rid->as_int64() == id) co_return o;
    }
  }
};

bool reply_ok(const json::object& o) {
  const auto* ok = o.if_contains("ok");
  return ok && ok->is_bool() && ok->as_bool();
}

std::string error_code_of(const json::object& o) {
  try {
    return std::string(o.at("error").at("code").as_string());
  } catch (const std::exception&) {
    return json::serialize(o);
  }
}

struct latency_stats {
  samples delivery[2];  // send -> room.invitation read
  samples reply[2];     // send -> the invitation's reply read
  std::uint64_t errors[2] = {0, 0};
  std::uint64_t lost[2] = {0, 0};
  std::string last_error;
};

struct receiver : conn {
  using conn::conn;
  kind k = same;
  sender* from = nullptr;
  std::uint64_t got = 0;
  awaitable<void> listen(latency_stats& st);
};

struct sender : conn {
  using conn::conn;
  receiver* to[2] = {nullptr, nullptr};
  // The latency phase's invitation in flight.
  int in_flight = -1;  // its kind, or -1
  bool seen = false;
  clock_type::time_point sent_at;
  asio::steady_timer* wake = nullptr;

  awaitable<void> paced(int count_per_kind, double gap_ms, std::uint64_t seed, latency_stats& st);
  awaitable<void> blast(kind k, clock_type::time_point end, std::uint64_t max, int window,
                        samples& replies, std::uint64_t& ok, std::uint64_t& failed,
                        std::string& last_error);
};

// Reads until the connection closes; counts invitations, and times the latency phase's.
awaitable<void> receiver::listen(latency_stats& st) {
  for (;;) {
    buf.clear();
    beast::error_code ec;
    co_await ws.async_read(buf, asio::redirect_error(use_awaitable, ec));
    if (ec) co_return;
    const auto now = clock_type::now();
    const auto data = buf.cdata();
    std::string_view text(static_cast<const char*>(data.data()), data.size());
    if (text.find("\"room.invitation\"") == std::string_view::npos) continue;
    ++got;
    if (from && from->in_flight == k && !from->seen) {
      from->seen = true;
      st.delivery[k].add(ms_between(from->sent_at, now));
      if (from->wake) from->wake->cancel();
    }
  }
}

// One invitation in flight: the two kinds in turn, a random pause of about gap_ms before each.
awaitable<void> sender::paced(int count_per_kind, double gap_ms, std::uint64_t seed,
                              latency_stats& st) {
  std::mt19937_64 r(seed);
  std::uniform_real_distribution<double> jitter(0.5, 1.5);
  asio::steady_timer t(co_await asio::this_coro::executor);
  wake = &t;
  for (int j = 0; j < 2 * count_per_kind; ++j) {
    const kind k = static_cast<kind>((static_cast<std::uint64_t>(j) + seed) % 2);
    beast::error_code ec;
    t.expires_after(
        std::chrono::microseconds(static_cast<std::int64_t>(gap_ms * 1000 * jitter(r))));
    co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
    seen = false;
    in_flight = k;
    sent_at = clock_type::now();
    json::object reply = co_await request("room.invite", kv("player", to[k]->account));
    st.reply[k].add(ms_between(sent_at, clock_type::now()));
    if (!reply_ok(reply)) {
      ++st.errors[k];
      st.last_error = error_code_of(reply);
      in_flight = -1;
      continue;
    }
    if (!seen) {
      t.expires_after(std::chrono::seconds(2));
      co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
    }
    if (!seen) ++st.lost[k];
    in_flight = -1;
  }
  wake = nullptr;
}

// `window` invitations in flight to the receiver of kind k until `end` or `max` sent.
awaitable<void> sender::blast(kind k, clock_type::time_point end, std::uint64_t max, int window,
                              samples& replies, std::uint64_t& ok, std::uint64_t& failed,
                              std::string& last_error) {
  std::unordered_map<std::int64_t, clock_type::time_point> inflight;
  std::uint64_t sent = 0;
  const std::int64_t target = to[k]->account;
  auto more = [&] { return sent < max && clock_type::now() < end; };
  for (int w = 0; w < window && more(); ++w) {
    const auto at = clock_type::now();
    inflight.emplace(co_await send("room.invite", kv("player", target)), at);
    ++sent;
  }
  while (!inflight.empty()) {
    json::object o = co_await read();
    const auto* rid = o.if_contains("id");
    if (!rid || !rid->is_int64()) continue;
    auto it = inflight.find(rid->as_int64());
    if (it == inflight.end()) continue;
    replies.add(ms_between(it->second, clock_type::now()));
    inflight.erase(it);
    if (reply_ok(o)) {
      ++ok;
    } else {
      ++failed;
      last_error = error_code_of(o);
    }
    if (more()) {
      const auto at = clock_type::now();
      inflight.emplace(co_await send("room.invite", kv("player", target)), at);
      ++sent;
    }
  }
}

// Runs `make()` (an awaitable) on the client's io_context and waits for it, at most `limit`.
template <class F>
void run_phase(asio::io_context& ioc, std::string_view name, std::chrono::seconds limit, F make) {
  auto fut = asio::co_spawn(ioc, make(), asio::use_future);
  if (fut.wait_for(limit) != std::future_status::ready)
    throw std::runtime_error(fmt::format("{}: not done within {} s", name, limit.count()));
  fut.get();
}

// Runs every awaitable of `items` concurrently, and returns when all are done (the first failure
// is rethrown).
awaitable<void> all_of(std::vector<awaitable<void>> items) {
  auto ex = co_await asio::this_coro::executor;
  auto left = std::make_shared<std::size_t>(items.size());
  auto failure = std::make_shared<std::exception_ptr>();
  asio::steady_timer done(ex, clock_type::time_point::max());
  for (auto& a : items) {
    asio::co_spawn(ex, std::move(a), [left, failure, &done](std::exception_ptr e) {
      if (e && !*failure) *failure = e;
      if (--*left == 0) done.cancel();
    });
  }
  if (*left > 0) {
    beast::error_code ec;
    co_await done.async_wait(asio::redirect_error(use_awaitable, ec));
  }
  if (*failure) std::rethrow_exception(*failure);
}

// room.invite until it is not unknown_player (the presence directory learns of a socket just
// after its upgrade): the receiver is reachable.
awaitable<void> reach(sender& s, receiver& r) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  for (int tries = 0;; ++tries) {
    json::object reply = co_await s.request("room.invite", kv("player", r.account));
    if (reply_ok(reply)) co_return;
    if (tries >= 250 || error_code_of(reply) != "unknown_player")
      throw std::runtime_error("warm-up invitation: " + json::serialize(reply));
    t.expires_after(std::chrono::milliseconds(20));
    co_await t.async_wait(use_awaitable);
  }
}

struct cpu_snapshot {
  double a = 0, b = 0, redis = 0, client = 0;
  clock_type::time_point at;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"Cross-node delivery: latency and throughput of room.invite, same node vs across"};
  std::string binary = "build/release/maratang", database_url, redis_url;
  int senders = 50, latency_count = 2000, window = 8, duration = 5, threads = 1;
  double latency_rate = 500;
  std::uint64_t max_deliveries = 500000;
  cli.add_option("--server", binary, "Path of the maratang binary");
  cli.add_option("--database-url", database_url, "PostgreSQL both nodes share")->required();
  cli.add_option("--redis-url", redis_url, "Redis both nodes share")->required();
  cli.add_option("--senders", senders, "Senders on A (and as many receivers on A and on B)")
      ->check(CLI::Range(1, 2000));
  cli.add_option("--latency-count", latency_count, "Timed invitations of each kind")
      ->check(CLI::Range(10, 1000000));
  cli.add_option("--latency-rate", latency_rate, "Invitations a second, all senders together")
      ->check(CLI::Range(1.0, 100000.0));
  cli.add_option("--window", window, "Throughput: invitations in flight per sender")
      ->check(CLI::Range(1, 1000));
  cli.add_option("--duration", duration, "Throughput: seconds of each kind")
      ->check(CLI::Range(1, 60));
  cli.add_option("--max-deliveries", max_deliveries,
                 "Throughput: invitations of each kind at most");
  cli.add_option("--threads", threads, "server.threads of each node")->check(CLI::Range(1, 64));
  CLI11_PARSE(cli, argc, argv);
  std::setvbuf(stdout, nullptr, _IONBF, 0);

  // Limits raised for the bench (printed): a sender sends far more than a player may.
  const std::vector<std::string> raised = {"limits.ws_rate=100000", "limits.ws_burst=100000",
                                           "rooms.invites_per_minute=1000000",
                                           "limits.send_queue_max=100000"};
  // cluster.drain off: a node stopped at the end hands nothing over (its rooms were only
  // the bench's, and would stay stored under a node id nobody starts again).
  auto sets_for = [&](std::string_view id) {
    std::vector<std::string> s = {"storage.database_url=" + database_url,
                                  "redis.url=" + redis_url,
                                  "auth.secret=" + std::string(kSecret),
                                  fmt::format("node.id=xnode-{}-{}", id, ::getpid()),
                                  fmt::format("server.threads={}", threads),
                                  "auth.password_hash=minimal",
                                  "auth.signups_per_hour=0",
                                  "log.level=warn",
                                  "cluster.drain=false",
                                  fmt::format("limits.max_connections={}", 3 * senders + 100)};
    s.insert(s.end(), raised.begin(), raised.end());
    return s;
  };

  server_process a, b;
  asio::io_context ioc;
  auto guard = asio::make_work_guard(ioc);
  std::thread client_thread;
  std::promise<void> client_done;
  std::vector<std::unique_ptr<sender>> ss;
  std::vector<std::unique_ptr<receiver>> rs;
  int status = 0;
  try {
    a.start(binary, "cross_node_a", sets_for("a"));
    b.start(binary, "cross_node_b", sets_for("b"));
    pid_t redis_pid = -1;
    samples redis_rtt;
    try {
      redis_probe probe(redis_url);
      redis_pid = probe.pid();
      for (int i = 0; i < 2000; ++i) {
        const auto t0 = clock_type::now();
        probe.command("PING");
        redis_rtt.add(ms_between(t0, clock_type::now()));
      }
    } catch (const std::exception& e) {
      fmt::print("redis: cannot read its pid ({}): its CPU is not counted\n", e.what());
    }
    if (redis_pid > 0 && !std::filesystem::exists(fmt::format("/proc/{}/stat", redis_pid))) {
      fmt::print("redis: pid {} is not on this machine: its CPU is not counted\n", redis_pid);
      redis_pid = -1;
    }
    fmt::print("nodes: A pid {} port {}, B pid {} port {}; server.threads={} each; Redis pid {}\n",
               a.pid, a.port, b.pid, b.port, threads,
               redis_pid > 0 ? std::to_string(redis_pid) : "unknown");
    std::string raised_text;
    for (const auto& r : raised)
      raised_text += (raised_text.empty() ? "" : " ") + r;
    fmt::print("limits raised for the bench (--set on both nodes): {}\n", raised_text);
    if (!redis_rtt.ms.empty()) {
      fmt::print("Redis PING round trip from this process: p50 {:.3f} ms, p99 {:.3f} ms\n",
                 redis_rtt.pct(0.5), redis_rtt.pct(0.99));
    }

    // Accounts: senders and same-node receivers made through A, cross-node ones through B.
    const std::string tag = fmt::format("{:06x}", std::random_device{}() & 0xffffff);
    auto account = [&](conn& c, const server_process& node, char role, int i) {
      auto r = json::parse(http_call(
          node.port, http::verb::post, "/v1/auth/device",
          json::serialize(kv("device_id", fmt::format("xnode-{}-{}{}", tag, role, i).c_str())),
          ""));
      c.token = std::string(r.at("token").as_string());
      c.account = r.at("account_id").to_number<std::int64_t>();
      http_call(node.port, http::verb::put, "/v1/account/nickname",
                json::serialize(kv("nickname", fmt::format("x{}{}{}", tag, role, i).c_str())),
                c.token);
    };
    const auto t_accounts = clock_type::now();
    for (int i = 0; i < senders; ++i) {
      auto s = std::make_unique<sender>(ioc);
      account(*s, a, 's', i);
      auto same_r = std::make_unique<receiver>(ioc);
      account(*same_r, a, 'a', i);
      auto cross_r = std::make_unique<receiver>(ioc);
      account(*cross_r, b, 'b', i);
      same_r->k = same;
      cross_r->k = cross;
      same_r->from = cross_r->from = s.get();
      s->to[same] = same_r.get();
      s->to[cross] = cross_r.get();
      ss.push_back(std::move(s));
      rs.push_back(std::move(same_r));
      rs.push_back(std::move(cross_r));
    }
    fmt::print("accounts: {} senders on A, {} receivers on A, {} on B ({:.1f} s)\n", senders,
               senders, senders, ms_between(t_accounts, clock_type::now()) / 1000);

    client_thread = std::thread([&] {
      ioc.run();
      client_done.set_value();
    });
    latency_stats st;
    run_phase(ioc, "connect", std::chrono::seconds(60), [&]() -> awaitable<void> {
      std::vector<awaitable<void>> all;
      for (auto& s : ss)
        all.push_back(s->connect(a.port));
      for (auto& r : rs)
        all.push_back(r->connect(r->k == same ? a.port : b.port));
      co_await all_of(std::move(all));
    });
    for (auto& r : rs)
      asio::co_spawn(ioc, r->listen(st), asio::detached);
    run_phase(ioc, "rooms", std::chrono::seconds(60), [&]() -> awaitable<void> {
      std::vector<awaitable<void>> all;
      for (auto& s : ss) {
        all.push_back([](sender& x) -> awaitable<void> {
          json::object create = kv("mode", "mafia");
          create["name"] = "xnode";
          json::object r = co_await x.request("room.create", std::move(create));
          if (!reply_ok(r)) throw std::runtime_error("room.create: " + json::serialize(r));
          co_await reach(x, *x.to[same]);
          co_await reach(x, *x.to[cross]);
        }(*s));
      }
      co_await all_of(std::move(all));
    });
    fmt::print("rooms: {} on A, every receiver reachable (warm-up invitations)\n", senders);

    auto cpu_now = [&] {
      cpu_snapshot c;
      c.a = a.cpu_seconds();
      c.b = b.cpu_seconds();
      c.redis = process_cpu(redis_pid);
      c.client = process_cpu(::getpid());
      c.at = clock_type::now();
      return c;
    };

    // --- Latency: paced, one invitation in flight per sender, the two kinds interleaved.
    const double gap_ms = 1000.0 * senders / latency_rate;
    const int per_sender = std::max(1, (latency_count + senders - 1) / senders);
    const auto lat_limit = std::chrono::seconds(
        60 + static_cast<int>(2 * per_sender * 2 * (gap_ms * 1.5 + 50) / 1000));
    const cpu_snapshot l0 = cpu_now();
    run_phase(ioc, "latency", lat_limit, [&]() -> awaitable<void> {
      std::vector<awaitable<void>> all;
      std::uint64_t seed = 1;
      for (auto& s : ss)
        all.push_back(s->paced(per_sender, gap_ms, seed++, st));
      co_await all_of(std::move(all));
    });
    const cpu_snapshot l1 = cpu_now();
    fmt::print(
        "\nlatency: room.invite written on A -> room.invitation read, {} of each kind "
        "interleaved, {:.0f} invitations/s in all ({:.1f} s; server CPU {:.0f}% of a core)\n",
        per_sender * senders, latency_rate, ms_between(l0.at, l1.at) / 1000,
        100 * (l1.a - l0.a + l1.b - l0.b + l1.redis - l0.redis) /
            (ms_between(l0.at, l1.at) / 1000));
    for (int k : {0, 1}) {
      fmt::print(
          "  {:<20} delivery p50 {:.3f} ms, p90 {:.3f} ms, p99 {:.3f} ms, max {:.3f} ms; reply p50 "
          "{:.3f} ms, p99 {:.3f} ms ({} delivered, {} errors, {} lost)\n",
          kKindName[k], st.delivery[k].pct(0.5), st.delivery[k].pct(0.9), st.delivery[k].pct(0.99),
          st.delivery[k].max(), st.reply[k].pct(0.5), st.reply[k].pct(0.99),
          st.delivery[k].ms.size(), st.errors[k], st.lost[k]);
    }
    if (!st.last_error.empty()) fmt::print("  last error: {}\n", st.last_error);
    const double added50 = st.delivery[cross].pct(0.5) - st.delivery[same].pct(0.5);
    const double added99 = st.delivery[cross].pct(0.99) - st.delivery[same].pct(0.99);
    fmt::print("  added by crossing: p50 {:+.3f} ms, p99 {:+.3f} ms (goal: p99 at most 1 ms: {})\n",
               added50, added99, added99 <= 1.0 ? "met" : "MISSED");

    // --- Throughput: each kind alone, `window` in flight per sender.
    fmt::print(
        "\nthroughput: {} senders x {} invitations in flight, {} s of each kind (at most {})\n",
        senders, window, duration, max_deliveries);
    double per_cpu[2] = {0, 0};
    // Invitations read by the receivers so far (on the client's thread).
    auto total_got = [&] {
      return asio::post(ioc, asio::use_future([&] {
                          std::uint64_t got = 0;
                          for (auto& r : rs)
                            got += r->got;
                          return got;
                        }))
          .get();
    };
    for (kind k : {same, cross}) {
      const std::uint64_t got0 = total_got();
      samples replies;
      std::uint64_t ok = 0, failed = 0;
      std::string last_error;
      const std::uint64_t max_each =
          std::max<std::uint64_t>(1, max_deliveries / static_cast<std::uint64_t>(senders));
      const cpu_snapshot c0 = cpu_now();
      const auto end = c0.at + std::chrono::seconds(duration);
      run_phase(ioc, "throughput", std::chrono::seconds(duration + 60), [&]() -> awaitable<void> {
        std::vector<awaitable<void>> all;
        for (auto& s : ss)
          all.push_back(s->blast(k, end, max_each, window, replies, ok, failed, last_error));
        co_await all_of(std::move(all));
      });
      // Deliveries still on their way (an invitation's reply may overtake it).
      for (int i = 0; i < 100 && total_got() - got0 < ok; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      const cpu_snapshot c1 = cpu_now();
      const std::uint64_t d = total_got() - got0;
      const double secs = ms_between(c0.at, c1.at) / 1000;
      const double ca = c1.a - c0.a, cb = c1.b - c0.b, cr = c1.redis - c0.redis;
      const double server = ca + cb + cr;
      per_cpu[k] = server > 0 ? static_cast<double>(d) / server : 0;
      fmt::print(
          "  {:<20} {:.0f} deliveries/s ({} in {:.2f} s; {} refused{}); reply p50 {:.2f} ms, "
          "p99 {:.2f} ms\n",
          kKindName[k], static_cast<double>(d) / secs, d, secs, failed,
          last_error.empty() ? "" : ", last: " + last_error, replies.pct(0.5), replies.pct(0.99));
      fmt::print(
          "  {:<20} server CPU {:.2f} s (A {:.2f}, B {:.2f}, Redis {:.2f}) = {:.1f} us per "
          "delivery, {:.0f} deliveries per server CPU-second; this client {:.2f} s\n",
          "", server, ca, cb, cr, d ? 1e6 * server / static_cast<double>(d) : 0.0, per_cpu[k],
          c1.client - c0.client);
    }
    if (per_cpu[cross] > 0) {
      fmt::print("  a cross-node delivery costs the servers {:.1f}x a same-node one\n",
                 per_cpu[same] / per_cpu[cross]);
    }
  } catch (const std::exception& e) {
    std::cerr << "cross_node: " << e.what() << "\n";
    status = 1;
  }
  // Closes every socket (their coroutines end), then stops the nodes.
  asio::post(ioc, [&] {
    for (auto& s : ss)
      beast::get_lowest_layer(s->ws).close();
    for (auto& r : rs)
      beast::get_lowest_layer(r->ws).close();
  });
  guard.reset();
  if (client_thread.joinable()) {
    // Every coroutine ends once its socket is closed (timers are bounded); if one does not, stop.
    if (client_done.get_future().wait_for(std::chrono::seconds(10)) != std::future_status::ready)
      ioc.stop();
    client_thread.join();
  }
  a.stop();
  b.stop();
  std::fflush(stdout);
  // Coroutines that a failed phase left suspended must not be destroyed with the clients.
  if (status != 0) std::_Exit(status);
  return status;
}
