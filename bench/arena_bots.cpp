// arena_bots: starts the real server (one network thread) and plays Arena over real WebSockets on
// loopback: `rooms` rooms of `players` bots, each bot sending 30 inputs a second (walking, aiming,
// shooting) and acknowledging the states it receives. Prints figures; asserts nothing.
//   connections   bots connected and playing
//   tick          the server's Arena tick duration: p50 and p99 from /metrics's histogram (the
//                 upper bound of the bucket they fall in) and the exact maximum
//   bytes/s       what each client received per second (WebSocket payloads), mean over the bots
//   input-to-ack  from sending an input to the first state that names it as the last applied
//                 (p50, p99; inputs dropped while dead are not counted)
//   server CPU    the server process's CPU seconds per second of play, and those of its busiest
//                 thread (the network thread, which runs the rooms too) with the players a core
//                 would hold at that rate (players / that fraction of a core)
// Usage: arena_bots --server build/release/maratang [--rooms 10] [--players 8] [--duration 10]
//                   [--binary]
// GCC 12 reports Asio's coroutine frames, allocated by their own operator new, as freed by a
// mismatched delete once writer() is inlined: a false positive.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "modes/arena/snapshot.hpp"
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
namespace arena = maratang::arena;

struct samples {
  std::vector<double> ms;
  double pct(double p) {
    if (ms.empty()) return 0;
    std::sort(ms.begin(), ms.end());
    return ms[std::min(ms.size() - 1,
                       static_cast<std::size_t>(p * static_cast<double>(ms.size())))];
  }
};

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

// The server's /metrics text.
std::string metrics(int port) {
  return http_call(port, http::verb::get, "/metrics", "", "");
}

double metric_value(const std::string& text, std::string_view series) {
  // At the start of a line (the HELP line names the series too).
  const std::string key = "\n" + std::string(series) + " ";
  auto pos = text.find(key);
  if (pos == std::string::npos) return 0;
  return std::stod(text.substr(pos + key.size()));
}

// The upper bound of the bucket holding quantile q of a Prometheus histogram.
std::string histogram_quantile(const std::string& text, std::string_view name, double q) {
  std::vector<std::pair<std::string, double>> buckets;
  std::string prefix = std::string(name) + "_bucket{le=\"";
  for (std::size_t pos = 0; (pos = text.find(prefix, pos)) != std::string::npos;) {
    auto le_end = text.find('"', pos + prefix.size());
    std::string le = text.substr(pos + prefix.size(), le_end - pos - prefix.size());
    double count = std::stod(text.substr(text.find(' ', le_end) + 1));
    buckets.push_back({le, count});
    pos = le_end;
  }
  if (buckets.empty() || buckets.back().second == 0) return "-";
  double want = q * buckets.back().second;
  for (const auto& [le, count] : buckets) {
    if (count >= want)
      return le == "+Inf" ? ">33 ms" : fmt::format("<= {} ms", std::stod(le) * 1e3);
  }
  return "-";
}

struct bot {
  explicit bot(asio::io_context& ioc) : ws(ioc) {}
  websocket::stream<beast::tcp_stream> ws;
  beast::flat_buffer buf;
  std::string token;
  std::int64_t next_id = 1;
  bool binary = false;
  std::uint64_t bytes = 0;
  std::uint64_t states = 0;
  std::uint32_t seq = 0;
  std::map<std::uint32_t, clock_type::time_point> in_flight;  // inputs not yet acknowledged
  std::int64_t latest_tick = 0;
  std::vector<double> input_to_ack_ms;
  bool closing = false;  // the writer began the closing handshake

  awaitable<void> connect(int port) {
    auto& sock = beast::get_lowest_layer(ws);
    co_await sock.async_connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)),
        use_awaitable);
    sock.expires_never();
    co_await ws.async_handshake("127.0.0.1", "/ws?token=" + token, use_awaitable);
    json::object hello = kv("version", 1);
    if (binary) hello["encoding"] = "binary";
    co_await request("hello", std::move(hello));
  }

  awaitable<void> send(std::string_view type, json::object data) {
    std::string text =
        json::serialize(json::object{{"type", type}, {"id", next_id++}, {"data", std::move(data)}});
    ws.text(true);
    co_await ws.async_write(asio::buffer(text), use_awaitable);
  }

  // Sends a request and reads until its reply, or until an event of `event` when given.
  awaitable<json::object> request(std::string_view type, json::object data,
                                  std::string_view event = {}) {
    co_await send(type, std::move(data));
    co_return co_await wait_for(event.empty() ? type : event, event.empty());
  }
  awaitable<json::object> wait_for(std::string_view type, bool reply) {
    for (;;) {
      buf.clear();
      co_await ws.async_read(buf, use_awaitable);
      if (ws.got_binary()) continue;
      auto v = json::parse(beast::buffers_to_string(buf.data()));
      auto& o = v.as_object();
      if (o.at("type").as_string() != type || o.contains("ok") != reply) continue;
      if (reply && !o.at("ok").as_bool()) throw std::runtime_error(json::serialize(o));
      co_return o.contains("data") ? o.at("data").as_object() : json::object{};
    }
  }

  // Reads states until the connection closes.
  awaitable<void> reader() {
    for (;;) {
      buf.clear();
      beast::error_code ec;
      co_await ws.async_read(buf, asio::redirect_error(use_awaitable, ec));
      // Once the writer's close is under way, Beast's close reads (and drains) frames too, and
      // got_binary() may name the opcode of a frame it drained, not of this message: stop here.
      if (ec || closing) co_return;
      bytes += buf.size();
      std::string text = beast::buffers_to_string(buf.data());
      std::int64_t tick = 0, applied = 0;
      if (ws.got_binary()) {
        auto d = arena::decode_binary(text);
        if (!d) continue;
        tick = d->at("tick").as_int64();
        applied = d->at("seq").as_int64();
      } else {
        auto v = json::parse(text);
        const auto& o = v.as_object();
        if (o.at("type").as_string() != "arena.state") continue;
        tick = o.at("data").at("tick").as_int64();
        applied = o.at("data").at("seq").as_int64();
      }
      ++states;
      latest_tick = std::max(latest_tick, tick);
      auto now = clock_type::now();
      // The input this state names as applied; older ones were applied by earlier states or
      // dropped (while dead), and are not counted.
      if (auto it = in_flight.find(static_cast<std::uint32_t>(applied)); it != in_flight.end()) {
        input_to_ack_ms.push_back(
            std::chrono::duration<double, std::milli>(now - it->second).count());
      }
      in_flight.erase(in_flight.begin(),
                      in_flight.upper_bound(static_cast<std::uint32_t>(applied)));
    }
  }

  // Sends 30 inputs a second until `end`, then closes.
  awaitable<void> writer(clock_type::time_point end, std::uint64_t seed) {
    std::mt19937_64 r(seed);
    asio::steady_timer t(co_await asio::this_coro::executor);
    auto next = clock_type::now();
    std::uint8_t walk = 0;
    while (clock_type::now() < end) {
      if (seq % 15 == 0) walk = static_cast<std::uint8_t>(r() % 16);
      arena::input_message in;
      in.seq = ++seq;
      in.buttons = static_cast<std::uint8_t>(walk | arena::btn_fire);
      in.aim = static_cast<std::uint16_t>(r());
      if (latest_tick > 0) {
        in.ack = static_cast<std::uint32_t>(latest_tick);
        in.view_tick = static_cast<std::uint32_t>(std::max<std::int64_t>(0, latest_tick - 2));
      }
      in_flight[in.seq] = clock_type::now();
      if (binary) {
        ws.binary(true);
        std::string b = arena::encode_input(in);
        co_await ws.async_write(asio::buffer(b), use_awaitable);
      } else {
        json::object d{{"seq", in.seq}, {"fire", true}, {"aim", in.aim}};
        if (walk & arena::btn_up) d["up"] = true;
        if (walk & arena::btn_down) d["down"] = true;
        if (walk & arena::btn_left) d["left"] = true;
        if (walk & arena::btn_right) d["right"] = true;
        if (in.ack) d["ack"] = *in.ack;
        if (in.view_tick) d["view_tick"] = *in.view_tick;
        ws.text(true);
        json::object msg = kv("type", "arena.input");
        msg["data"] = std::move(d);
        std::string text = json::serialize(msg);
        co_await ws.async_write(asio::buffer(text), use_awaitable);
      }
      next += std::chrono::microseconds(33333);
      t.expires_at(next);
      co_await t.async_wait(use_awaitable);
    }
    beast::error_code ec;
    closing = true;
    co_await ws.async_close(websocket::close_code::normal, asio::redirect_error(use_awaitable, ec));
  }
};

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

awaitable<void> set_up_room(std::vector<bot*> room, int duration_s) {
  // (GCC 12 miscompiles braced lists of string literals inside coroutines: built key by key.)
  json::object create = kv("mode", "arena");
  create["name"] = "bench";
  create["capacity"] = static_cast<std::int64_t>(room.size());
  create["settings"] = kv("time_limit_s", duration_s + 30);
  auto snap = co_await room[0]->request("room.create", std::move(create));
  json::value room_id = snap.at("room").at("id");
  for (std::size_t i = 1; i < room.size(); ++i) {
    co_await room[i]->request("room.join", kv("room_id", room_id));
    co_await room[i]->request("room.ready", kv("ready", true));
  }
  co_await room[0]->request("room.start", {});
  for (bot* b : room)
    co_await b->wait_for("arena.started", false);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"Arena bots over real WebSockets"};
  std::string binary = "build/release/maratang";
  int rooms = 10, players = 8, duration = 10;
  bool binary_frames = false;
  cli.add_option("--server", binary, "Path of the maratang binary");
  cli.add_option("--rooms", rooms, "Arena rooms");
  cli.add_option("--players", players, "Bots per room (2-64)");
  cli.add_option("--duration", duration, "Seconds of play measured");
  cli.add_flag("--binary", binary_frames, "Bots choose binary frames at hello");
  CLI11_PARSE(cli, argc, argv);
  std::setvbuf(stdout, nullptr, _IONBF, 0);

  maratang::bench::server_process srv;
  try {
    const int bots = rooms * players;
    srv.start(binary, "arena_bots",
              {"server.threads=1", "auth.password_hash=minimal", "log.level=warn",
               "auth.signups_per_hour=0", "limits.send_queue_max=100000",
               "limits.send_queue_max_bytes=67108864",
               fmt::format("limits.max_connections={}", 2 * bots + 100),
               fmt::format("rooms.max_rooms={}", rooms + 10)});
    fmt::print("server pid {} on port {}, one network thread; {} rooms x {} bots, {} frames\n",
               srv.pid, srv.port, rooms, players, binary_frames ? "binary" : "JSON");
    asio::io_context ioc;
    std::vector<std::unique_ptr<bot>> bs;
    for (int i = 0; i < bots; ++i) {
      auto r = json::parse(http_call(
          srv.port, http::verb::post, "/v1/auth/device",
          json::serialize(kv("device_id", fmt::format("arena-bot-{:06}", i).c_str())), ""));
      auto b = std::make_unique<bot>(ioc);
      b->token = std::string(r.at("token").as_string());
      b->binary = binary_frames;
      http_call(srv.port, http::verb::put, "/v1/account/nickname",
                json::serialize(kv("nickname", fmt::format("bot{}", i).c_str())), b->token);
      bs.push_back(std::move(b));
    }
    run_all(ioc, [&](auto spawn) {
      for (auto& b : bs)
        spawn(b->connect(srv.port));
    });
    run_all(ioc, [&](auto spawn) {
      for (int r = 0; r < rooms; ++r) {
        std::vector<bot*> room;
        for (int p = 0; p < players; ++p)
          room.push_back(bs[static_cast<std::size_t>(r * players + p)].get());
        spawn(set_up_room(std::move(room), duration));
      }
    });
    fmt::print("connections: {} bots connected, in {} started games\n", bots, rooms);

    const std::string before = metrics(srv.port);
    const double cpu0 = srv.cpu_seconds();
    const auto threads0 = srv.thread_cpu_seconds();
    auto t0 = clock_type::now();
    auto end = t0 + std::chrono::seconds(duration);
    run_all(ioc, [&](auto spawn) {
      std::uint64_t seed = 1;
      for (auto& b : bs) {
        spawn(b->reader());
        spawn(b->writer(end, seed++));
      }
    });
    const double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
    const double cpu = srv.cpu_seconds() - cpu0;
    // The busiest thread is the network thread (rooms tick on it too); the others are storage,
    // logging and the like.
    double busiest = 0;
    for (const auto& [tid, s1] : srv.thread_cpu_seconds()) {
      auto it = threads0.find(tid);
      busiest = std::max(busiest, s1 - (it == threads0.end() ? 0.0 : it->second));
    }
    const std::string after = metrics(srv.port);

    std::uint64_t bytes = 0, states = 0;
    samples lat;
    for (const auto& b : bs) {
      bytes += b->bytes;
      states += b->states;
      lat.ms.insert(lat.ms.end(), b->input_to_ack_ms.begin(), b->input_to_ack_ms.end());
    }
    const double ticks = metric_value(after, "maratang_arena_tick_seconds_count") -
                         metric_value(before, "maratang_arena_tick_seconds_count");
    fmt::print("tick: {:.0f} ticks ({:.1f}/s per room); p50 {}, p99 {}, max {:.3f} ms\n", ticks,
               ticks / secs / rooms, histogram_quantile(after, "maratang_arena_tick_seconds", 0.5),
               histogram_quantile(after, "maratang_arena_tick_seconds", 0.99),
               metric_value(after, "maratang_arena_tick_max_seconds") * 1e3);
    fmt::print("bytes: {:.0f} B/s received per client ({:.1f} states/s per client)\n",
               static_cast<double>(bytes) / bots / secs, static_cast<double>(states) / bots / secs);
    fmt::print("input-to-ack: p50 {:.1f} ms, p99 {:.1f} ms ({} inputs)\n", lat.pct(0.5),
               lat.pct(0.99), lat.ms.size());
    fmt::print("server CPU: {:.2f} s per second of play ({:.0f}% of one core)\n", cpu / secs,
               100 * cpu / secs);
    fmt::print("network thread CPU: {:.0f}% of one core; players per core at that rate: {:.0f}\n",
               100 * busiest / secs, busiest > 0 ? bots / (busiest / secs) : 0.0);
    fmt::print("inputs dropped: queue_full {:.0f}, too_many {:.0f}, dead {:.0f}\n",
               metric_value(after, "maratang_arena_inputs_dropped_total{reason=\"queue_full\"}"),
               metric_value(after, "maratang_arena_inputs_dropped_total{reason=\"too_many\"}"),
               metric_value(after, "maratang_arena_inputs_dropped_total{reason=\"dead\"}"));
  } catch (const std::exception& e) {
    std::cerr << "arena_bots: " << e.what() << "\n";
    srv.stop();
    return 1;
  }
  srv.stop();
  return 0;
}
