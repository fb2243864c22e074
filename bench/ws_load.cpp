// ws_load: a load generator that starts the real server and drives it over real WebSocket
// connections on loopback. Prints figures; asserts nothing. Phases:
//   accounts  N device logins and nicknames over REST (concurrent HTTP clients)
//   idle      N authenticated WebSockets that said hello; server RSS delta / N
//   lobby     groups of 8 play the lobby flow (create, join, ready, start, play, finish)
//   fanout    rooms of S members chat in a closed loop; deliveries per second and per server
//             CPU-second (the server runs one network thread)
// Usage: ws_load --server build/release/maratang [--connections 10000] [--duration 5]
//                [--room-sizes 8,100] [--window 4]
// Bounded in count and time; stops by itself; loopback only.
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>
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

// --- The server process ---------------------------------------------------------------------

// --- Percentiles ------------------------------------------------------------------------------

struct samples {
  std::vector<double> ms;
  void add(clock_type::duration d) {
    ms.push_back(std::chrono::duration<double, std::milli>(d).count());
  }
  double pct(double p) {
    if (ms.empty()) return 0;
    std::sort(ms.begin(), ms.end());
    return ms[std::min(ms.size() - 1,
                       static_cast<std::size_t>(p * static_cast<double>(ms.size())))];
  }
};

// One-field JSON objects. (GCC 12 miscompiles braced lists of string literals inside
// coroutines, "array used as initializer", so coroutines build their objects through this.)
json::object kv(std::string_view k, json::value v) {
  json::object o;
  o[k] = std::move(v);
  return o;
}

json::object room_create(int capacity, std::string_view name) {
  json::object o;
  o["mode"] = "test.counter";
  o["name"] = name;
  o["capacity"] = capacity;
  return o;
}

// --- REST: accounts -----------------------------------------------------------------------------

struct account {
  std::int64_t id = 0;
  std::string token;
};

awaitable<json::value> http_json(beast::tcp_stream& s, http::verb verb, std::string target,
                                 std::string body, std::string token) {
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::content_type, "application/json");
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  req.keep_alive(true);
  req.body() = std::move(body);
  req.prepare_payload();
  co_await http::async_write(s, req, use_awaitable);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  co_await http::async_read(s, buf, res, use_awaitable);
  if (res.result_int() >= 300)
    throw std::runtime_error(fmt::format("{} -> {}: {}", target, res.result_int(), res.body()));
  co_return json::parse(res.body());
}

awaitable<void> make_accounts(int port, int first, int count, int stride,
                              std::vector<account>& out) {
  beast::tcp_stream s(co_await asio::this_coro::executor);
  co_await s.async_connect(
      tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)),
      use_awaitable);
  for (int i = first; i < count; i += stride) {
    auto r = co_await http_json(
        s, http::verb::post, "/v1/auth/device",
        json::serialize(kv("device_id", fmt::format("bench-device-{:08}", i).c_str())), "");
    account a{r.at("account_id").as_int64(), std::string(r.at("token").as_string())};
    co_await http_json(s, http::verb::put, "/v1/account/nickname",
                       json::serialize(kv("nickname", fmt::format("p{}", i).c_str())), a.token);
    out[static_cast<std::size_t>(i)] = std::move(a);
  }
}

// A counter from GET /metrics.
double metric(int port, std::string_view name) {
  asio::io_context ioc;
  beast::tcp_stream s(ioc);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
  http::request<http::empty_body> req{http::verb::get, "/metrics", 11};
  req.set(http::field::host, "127.0.0.1");
  http::write(s, req);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(s, buf, res);
  std::string_view body = res.body();
  for (std::size_t pos = 0; pos < body.size();) {
    auto end = body.find('\n', pos);
    if (end == std::string_view::npos) end = body.size();
    auto line = body.substr(pos, end - pos);
    if (line.size() > name.size() && line.substr(0, name.size()) == name &&
        line[name.size()] == ' ') {
      return std::stod(std::string(line.substr(name.size() + 1)));
    }
    pos = end + 1;
  }
  return 0;
}

// --- WebSocket clients ------------------------------------------------------------------------

struct client {
  explicit client(asio::io_context& ioc) : ws(ioc) {}
  websocket::stream<beast::tcp_stream> ws;
  beast::flat_buffer buf;
  std::int64_t next_id = 1;
  bool batch = false;            // asked the server for newline-batched messages
  std::uint64_t deliveries = 0;  // room.chat events received in the fan-out phase
  int outstanding = 0;

  awaitable<void> connect(int port, const std::string& token) {
    auto& sock = beast::get_lowest_layer(ws);
    co_await sock.async_connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)),
        use_awaitable);
    sock.expires_never();
    co_await ws.async_handshake("127.0.0.1", "/ws?token=" + token, use_awaitable);
    json::object hello = kv("version", 1);
    if (batch) hello["batch"] = true;
    co_await send("hello", std::move(hello));
    co_await until_reply("hello");
  }

  awaitable<std::int64_t> send(std::string_view type, json::object data) {
    auto id = next_id++;
    std::string text =
        json::serialize(json::object{{"type", type}, {"id", id}, {"data", std::move(data)}});
    co_await ws.async_write(asio::buffer(text), use_awaitable);
    co_return id;
  }

  // Reads until the reply to the latest request of this type; throws on an error reply.
  awaitable<json::object> until_reply(std::string_view type) {
    for (;;) {
      buf.clear();
      co_await ws.async_read(buf, use_awaitable);
      std::string text = beast::buffers_to_string(buf.data());
      std::size_t start = 0;
      std::optional<json::object> found;
      while (start < text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        auto v = json::parse(std::string_view(text).substr(start, end - start));
        start = end + 1;
        auto& o = v.as_object();
        if (o.contains("ok") && o.at("type").as_string() == type) {
          if (!o.at("ok").as_bool()) throw std::runtime_error(json::serialize(o));
          found = o["data"].as_object();
        }
      }
      if (found) co_return *found;
    }
  }

  awaitable<json::object> request(std::string_view type, json::object data = {}) {
    co_await send(type, std::move(data));
    co_return co_await until_reply(type);
  }
};

// --- Phases -----------------------------------------------------------------------------------

awaitable<void> connect_range(std::vector<std::unique_ptr<client>>& cs,
                              const std::vector<account>& accs, int port, std::size_t first,
                              std::size_t stride) {
  for (std::size_t i = first; i < cs.size(); i += stride)
    co_await cs[i]->connect(port, accs[i].token);
}

awaitable<void> lobby_group(std::vector<client*> g, samples& create, samples& join, samples& start,
                            samples& end_to_end) {
  auto t0 = clock_type::now();
  auto snap =
      co_await g[0]->request("room.create", room_create(static_cast<int>(g.size()), "bench"));
  create.add(clock_type::now() - t0);
  std::string room_id(snap.at("room").at("id").as_string());
  for (std::size_t i = 1; i < g.size(); ++i) {
    auto t = clock_type::now();
    co_await g[i]->request("room.join", kv("room_id", room_id.c_str()));
    join.add(clock_type::now() - t);
  }
  for (std::size_t i = 1; i < g.size(); ++i)
    co_await g[i]->request("room.ready", kv("ready", true));
  auto ts = clock_type::now();
  co_await g[0]->request("room.start");
  start.add(clock_type::now() - ts);
  for (auto* c : g)
    co_await c->request("test.counter.add", kv("n", 1));
  co_await g[0]->request("test.counter.finish");
  for (auto* c : g)
    co_await c->request("room.leave");
  end_to_end.add(clock_type::now() - t0);
}

// --- Fan-out clients ----------------------------------------------------------------------------
// The fan-out phase measures the server, so its clients must cost less than the server does: one
// client core reads what one server core writes. They speak WebSocket themselves over a raw
// socket: each read takes every frame the socket holds, and the next chats go out in one write.

struct raw_client {
  explicit raw_client(asio::io_context& ioc) : sock(ioc) {}
  tcp::socket sock;
  std::string in;  // received bytes not yet parsed
  std::int64_t next_id = 1;
  std::uint64_t deliveries = 0;  // room.chat events received

  // Appends a client frame (masked, as RFC 6455 requires; the key is zero, which leaves the
  // payload as it is) holding `text`.
  static void frame(std::string& out, std::string_view text) {
    out.push_back(static_cast<char>(0x81));
    if (text.size() < 126) {
      out.push_back(static_cast<char>(0x80 | text.size()));
    } else {
      out.push_back(static_cast<char>(0x80 | 126));
      out.push_back(static_cast<char>(text.size() >> 8));
      out.push_back(static_cast<char>(text.size() & 0xFF));
    }
    out.append(4, '\0');
    out.append(text);
  }

  awaitable<void> connect(int port, const std::string& token, bool batch) {
    co_await sock.async_connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)),
        use_awaitable);
    sock.set_option(tcp::no_delay(true));
    std::string req = fmt::format(
        "GET /ws?token={} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n",
        token);
    co_await asio::async_write(sock, asio::buffer(req), use_awaitable);
    std::size_t end = 0;
    while ((end = in.find("\r\n\r\n")) == std::string::npos)
      co_await read_more();
    if (in.rfind("HTTP/1.1 101", 0) != 0) throw std::runtime_error("no 101: " + in.substr(0, end));
    in.erase(0, end + 4);
    json::object hello = kv("version", 1);
    if (batch) hello["batch"] = true;
    co_await request("hello", std::move(hello));
  }

  awaitable<void> read_more() {
    char buf[65536];
    std::size_t n = co_await sock.async_read_some(asio::buffer(buf), use_awaitable);
    in.append(buf, n);
  }

  // Calls fn(payload) for every whole frame in `in` (server frames are unmasked) and drops them.
  template <class F>
  void each_message(F&& fn) {
    std::size_t pos = 0;
    for (;;) {
      if (in.size() - pos < 2) break;
      auto b1 = static_cast<unsigned char>(in[pos + 1]);
      std::size_t len = b1 & 0x7F, head = 2;
      if (len == 126) {
        if (in.size() - pos < 4) break;
        len = (static_cast<std::size_t>(static_cast<unsigned char>(in[pos + 2])) << 8) |
              static_cast<unsigned char>(in[pos + 3]);
        head = 4;
      } else if (len == 127) {
        if (in.size() - pos < 10) break;
        len = 0;
        for (std::size_t i = 2; i < 10; ++i)
          len = (len << 8) | static_cast<unsigned char>(in[pos + i]);
        head = 10;
      }
      if (in.size() - pos < head + len) break;
      if ((in[pos] & 0x0F) == 0x8) throw std::runtime_error("the server closed a fan-out client");
      fn(std::string_view(in).substr(pos + head, len));
      pos += head + len;
    }
    in.erase(0, pos);
  }

  // Sends a request and waits for its reply (events before it are dropped).
  awaitable<json::object> request(std::string_view type, json::object data) {
    auto id = next_id++;
    std::string out;
    frame(out,
          json::serialize(json::object{{"type", type}, {"id", id}, {"data", std::move(data)}}));
    co_await asio::async_write(sock, asio::buffer(out), use_awaitable);
    for (;;) {
      std::optional<json::object> reply;
      each_message([&](std::string_view payload) {
        for (std::size_t start = 0; start < payload.size();) {
          auto end = payload.find('\n', start);
          if (end == std::string_view::npos) end = payload.size();
          auto v = json::parse(payload.substr(start, end - start));
          start = end + 1;
          auto& o = v.as_object();
          if (o.contains("ok") && o.at("type").as_string() == type && o.contains("id") &&
              o.at("id") == json::value(id)) {
            if (!o.at("ok").as_bool()) throw std::runtime_error(json::serialize(o));
            reply = o["data"].as_object();
          }
        }
      });
      if (reply) co_return *reply;
      co_await read_more();
    }
  }
};

// Fills room r of `sz` members: the first creates it, the others join.
awaitable<void> setup_room(const std::vector<raw_client*>& used, std::size_t r, std::size_t sz) {
  auto snap =
      co_await used[r * sz]->request("room.create", room_create(static_cast<int>(sz), "fan"));
  std::string id(snap.at("room").at("id").as_string());
  for (std::size_t i = 1; i < sz; ++i) {
    co_await used[r * sz + i]->request("room.join", kv("room_id", id.c_str()));
  }
}

awaitable<void> connect_raw(std::vector<std::unique_ptr<raw_client>>& cs,
                            const std::vector<account>& accs, std::size_t first_account, int port,
                            bool batch, std::size_t first, std::size_t stride) {
  for (std::size_t i = first; i < cs.size(); i += stride)
    co_await cs[i]->connect(port, accs[first_account + i].token, batch);
}

// Closed loop: each sender keeps `window` chats in flight; every client counts the chats it sees.
// Runs until `stop`, after which the caller closes the sockets to end the reads.
awaitable<void> fanout_reader(raw_client& c, bool sender, int window,
                              const std::atomic<bool>& stop) {
  std::string chat;
  raw_client::frame(chat, R"({"type":"room.chat","data":{"text":"hello, fan-out"}})");
  std::string out;
  try {
    if (sender) {
      for (int i = 0; i < window; ++i)
        out += chat;
      co_await asio::async_write(c.sock, asio::buffer(out), use_awaitable);
    }
    for (;;) {
      co_await c.read_more();
      // One envelope per message, or several joined by newlines when batching. Replies to our
      // chats carry "ok".
      int replies = 0;
      c.each_message([&](std::string_view text) {
        for (std::size_t pos = 0; pos < text.size();) {
          auto end = text.find('\n', pos);
          if (end == std::string_view::npos) end = text.size();
          auto line = text.substr(pos, end - pos);
          if (line.find("\"ok\"") != std::string_view::npos) {
            ++replies;
          } else if (line.rfind(R"({"type":"room.chat")", 0) == 0) {
            ++c.deliveries;
          }
          pos = end + 1;
        }
      });
      // Send the next chat for each reply, unless stopping: all in one write.
      out.clear();
      for (int i = 0; i < replies && !stop.load(); ++i)
        out += chat;
      if (!out.empty()) co_await asio::async_write(c.sock, asio::buffer(out), use_awaitable);
    }
  } catch (const boost::system::system_error&) {
    if (!stop.load()) throw;
  }
}

template <class F>
void run_all(asio::io_context& ioc, F&& spawn_all) {
  std::exception_ptr failure;
  spawn_all([&](awaitable<void> a) {
    asio::co_spawn(ioc, std::move(a), [&](std::exception_ptr e) {
      if (e && !failure) failure = e;
    });
  });
  ioc.restart();
  ioc.run();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"Maratang WebSocket load generator"};
  std::string binary = "build/release/maratang";
  int connections = 10000;
  double duration = 5;
  std::vector<int> room_sizes = {8, 100};
  int window = 4;
  bool batch = false;
  cli.add_flag("--batch", batch, "Clients ask for newline-batched messages (hello.batch)");
  cli.add_option("--server", binary, "Path of the maratang binary");
  cli.add_option("--connections", connections, "Idle connections to open");
  cli.add_option("--duration", duration, "Seconds per fan-out measurement");
  cli.add_option("--room-sizes", room_sizes, "Room sizes for fan-out")->delimiter(',');
  cli.add_option("--window", window, "Chats in flight per sender");
  CLI11_PARSE(cli, argc, argv);

  std::setvbuf(stdout, nullptr, _IONBF, 0);
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  if (static_cast<rlim_t>(connections) + 200 > rl.rlim_cur) {
    std::cerr << "open-file limit " << rl.rlim_cur << " too low for " << connections
              << " connections\n";
    return 2;
  }

  maratang::bench::server_process srv;
  try {
    srv.start(binary, "maratang_bench",
              {"server.threads=1", "testing.test_modes=true", "auth.password_hash=minimal",
               "log.level=warn", "auth.signups_per_hour=0", "limits.ws_rate=100000",
               "limits.ws_burst=100000", "limits.send_queue_max=100000",
               "limits.send_queue_max_bytes=67108864",
               fmt::format("limits.max_connections={}", 2 * connections + 1000)});
    asio::io_context ioc;
    fmt::print("server pid {} on port {}, one network thread\n", srv.pid, srv.port);

    // Accounts.
    auto t0 = clock_type::now();
    std::vector<account> accs(static_cast<std::size_t>(connections));
    const int http_clients = 16;
    run_all(ioc, [&](auto spawn) {
      for (int k = 0; k < http_clients; ++k)
        spawn(make_accounts(srv.port, k, connections, http_clients, accs));
    });
    double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
    fmt::print("accounts: {} device logins + nicknames in {:.2f} s ({:.0f} account set-ups/s)\n",
               connections, secs, connections / secs);

    // Idle connections.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    long rss_before = srv.rss_kb();
    std::vector<std::unique_ptr<client>> cs;
    for (int i = 0; i < connections; ++i) {
      cs.push_back(std::make_unique<client>(ioc));
      cs.back()->batch = batch;
    }
    t0 = clock_type::now();
    run_all(ioc, [&](auto spawn) {
      for (std::size_t k = 0; k < 64; ++k)
        spawn(connect_range(cs, accs, srv.port, k, 64));
    });
    secs = std::chrono::duration<double>(clock_type::now() - t0).count();
    std::this_thread::sleep_for(std::chrono::seconds(1));
    long rss_after = srv.rss_kb();
    fmt::print(
        "idle: {} authenticated connections (hello done) in {:.2f} s; server RSS {} -> {} KiB; "
        "{:.2f} KiB per connection (goal <= 8)\n",
        connections, secs, rss_before, rss_after,
        static_cast<double>(rss_after - rss_before) / connections);

    // Lobby flow in groups of 8.
    {
      samples create, join, start, e2e;
      std::size_t groups = std::min<std::size_t>(cs.size() / 8, 250);
      t0 = clock_type::now();
      run_all(ioc, [&](auto spawn) {
        for (std::size_t g = 0; g < groups; ++g) {
          std::vector<client*> members;
          for (std::size_t i = 0; i < 8; ++i)
            members.push_back(cs[g * 8 + i].get());
          spawn(lobby_group(members, create, join, start, e2e));
        }
      });
      secs = std::chrono::duration<double>(clock_type::now() - t0).count();
      fmt::print(
          "lobby: {} rooms x 8 players played create/join/ready/start/add/finish/leave in {:.2f} s "
          "({:.0f} rooms/s); latency ms p50/p99: create {:.2f}/{:.2f}, join {:.2f}/{:.2f}, "
          "start {:.2f}/{:.2f}, whole flow {:.1f}/{:.1f}\n",
          groups, secs, groups / secs, create.pct(0.5), create.pct(0.99), join.pct(0.5),
          join.pct(0.99), start.pct(0.5), start.pct(0.99), e2e.pct(0.5), e2e.pct(0.99));
    }

    // Fan-out: each room size uses clients no earlier phase has used.
    std::size_t offset = std::min<std::size_t>(cs.size() / 8, 250) * 8;
    for (int size : room_sizes) {
      auto sz = static_cast<std::size_t>(size);
      std::size_t rooms = std::min<std::size_t>((cs.size() - offset) / sz, size <= 8 ? 100 : 10);
      if (rooms == 0) break;
      // Raw clients take over these accounts; their idle sockets close first.
      for (std::size_t i = 0; i < rooms * sz; ++i) {
        boost::system::error_code ignored;
        beast::get_lowest_layer(cs[offset + i]->ws).socket().close(ignored);
      }
      std::vector<std::unique_ptr<raw_client>> raws;
      for (std::size_t i = 0; i < rooms * sz; ++i)
        raws.push_back(std::make_unique<raw_client>(ioc));
      std::vector<raw_client*> used;
      for (auto& r : raws)
        used.push_back(r.get());
      run_all(ioc, [&](auto spawn) {
        for (std::size_t k = 0; k < 16; ++k)
          spawn(connect_raw(raws, accs, offset, srv.port, batch, k, 16));
      });
      offset += rooms * sz;
      run_all(ioc, [&](auto spawn) {
        for (std::size_t r = 0; r < rooms; ++r) {
          spawn(setup_room(used, r, sz));
        }
      });
      std::atomic<bool> stop{false};
      int senders = size <= 8 ? size : 10;
      std::uint64_t delivered = 0;
      double envelopes0 = metric(srv.port, "maratang_messages_out_total");
      double writes0 = metric(srv.port, "maratang_ws_writes_total");
      double wall = 0, cpu = 0;
      double cpu0 = srv.cpu_seconds();
      t0 = clock_type::now();
      asio::steady_timer timer(ioc, std::chrono::milliseconds(static_cast<int>(duration * 1000)));
      timer.async_wait([&](boost::system::error_code) {
        for (auto* c : used)
          delivered += c->deliveries;
        wall = std::chrono::duration<double>(clock_type::now() - t0).count();
        cpu = srv.cpu_seconds() - cpu0;
        stop = true;
        for (auto* c : used) {
          boost::system::error_code ignored;
          c->sock.close(ignored);
        }
      });
      run_all(ioc, [&](auto spawn) {
        for (std::size_t i = 0; i < used.size(); ++i) {
          bool sender = static_cast<int>(i % sz) < senders;
          spawn(fanout_reader(*used[i], sender, window, stop));
        }
      });
      double per_write = (metric(srv.port, "maratang_messages_out_total") - envelopes0) /
                         std::max(1.0, metric(srv.port, "maratang_ws_writes_total") - writes0);
      fmt::print(
          "fanout{}: {} rooms of {} ({} senders each, {} chats in flight per sender): "
          "{:.0f} deliveries/s wall; server CPU {:.2f} s in {:.2f} s -> {:.0f} deliveries per "
          "server CPU-second (goal >= 500000); {:.1f} envelopes per WebSocket write\n",
          batch ? " (batched)" : "", rooms, size, senders, window,
          static_cast<double>(delivered) / wall, cpu, wall,
          static_cast<double>(delivered) / std::max(cpu, 1e-9), per_write);
    }
    srv.stop();
  } catch (const std::exception& e) {
    std::cerr << "ws_load failed: " << e.what() << "\n";
    srv.stop();
    return 1;
  }
  return 0;
}
