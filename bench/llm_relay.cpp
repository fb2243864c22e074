// What the server adds between a token arriving from the LLM endpoint and the same token
// reaching a player: a fake OpenAI server in this process streams numbered tokens, a real
// `maratang serve` child relays them to a WebSocket client in this process as mystery.line
// deltas; each token's latency is (client received) - (fake server wrote), both on the monotonic
// clock, over loopback. Prints p50/p90/p99/max.
//
//   build/release/bench/llm_relay --server build/release/maratang [--calls 200] [--tokens 20]
//                                 [--token-delay-ms 2] [--scenarios scenarios]
#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "llm/fake_openai_server.hpp"
#include "server_process.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;

namespace {

json::value http_json(int port, http::verb verb, const std::string& target, const std::string& body,
                      const std::string& token) {
  asio::io_context ioc;
  beast::tcp_stream s(ioc);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::content_type, "application/json");
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  req.body() = body;
  req.prepare_payload();
  http::write(s, req);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(s, buf, res);
  if (res.result_int() >= 300) {
    throw std::runtime_error(fmt::format("{} -> {}: {}", target, res.result_int(), res.body()));
  }
  return json::parse(res.body());
}

struct ws_client {
  asio::io_context ioc;
  websocket::stream<beast::tcp_stream> ws{ioc};
  beast::flat_buffer buf;
  std::int64_t next_id = 1;

  void connect(int port, const std::string& token) {
    beast::get_lowest_layer(ws).connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
    beast::get_lowest_layer(ws).socket().set_option(tcp::no_delay(true));
    ws.handshake("127.0.0.1", "/ws?token=" + token);
  }
  std::int64_t send(std::string_view type, json::object data) {
    auto id = next_id++;
    auto text =
        json::serialize(json::object{{"type", type}, {"id", id}, {"data", std::move(data)}});
    ws.write(asio::buffer(text));
    return id;
  }
  json::object read() {
    buf.clear();
    ws.read(buf);
    return json::parse(beast::buffers_to_string(buf.data())).as_object();
  }
  // Sends and reads until the reply (other frames go to `other`).
  json::object call(std::string_view type, json::object data,
                    const std::function<void(json::object&)>& other = {}) {
    auto id = send(type, std::move(data));
    for (;;) {
      auto f = read();
      if (f.contains("id") && f.at("id").is_int64() && f.at("id").as_int64() == id) {
        if (!f.at("ok").as_bool()) throw std::runtime_error(json::serialize(f));
        return f.contains("data") ? f.at("data").as_object() : json::object{};
      }
      if (other) other(f);
    }
  }
};

double pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  return v[i];
}

}  // namespace

int main(int argc, char** argv) {
  std::string binary = "build/release/maratang", scenarios = "scenarios";
  int calls = 200, tokens = 20, token_delay = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--server") binary = argv[i + 1];
    if (a == "--calls") calls = std::stoi(argv[i + 1]);
    if (a == "--tokens") tokens = std::stoi(argv[i + 1]);
    if (a == "--token-delay-ms") token_delay = std::stoi(argv[i + 1]);
    if (a == "--scenarios") scenarios = argv[i + 1];
  }

  maratang::llm::fake_openai_server fake;
  fake.set_behaviour([tokens, token_delay](std::size_t index, const maratang::llm::fake_request&) {
    std::vector<std::string> t;
    for (int i = 0; i < tokens; ++i)
      t.push_back(fmt::format("<{}:{}>", index, i));
    return maratang::llm::fake_script::reply(std::move(t), std::chrono::milliseconds(1),
                                             std::chrono::milliseconds(token_delay));
  });

  maratang::bench::server_process srv;
  srv.start(binary, "llm_relay",
            {"llm.base_url=" + fake.base_url(), "mystery.scenarios_dir=" + scenarios,
             "limits.ws_rate=100000", "limits.ws_burst=100000", "log.level=warn"});
  int rc = 0;
  try {
    auto acc = http_json(srv.port, http::verb::post, "/v1/auth/device",
                         R"({"device_id":"llm-relay-bench"})", "");
    std::string token(acc.at("token").as_string());
    http_json(srv.port, http::verb::put, "/v1/account/nickname", R"({"nickname":"bench"})", token);
    ws_client c;
    c.connect(srv.port, token);
    c.call("hello", {{"version", 1}});

    // Token id -> when the client got it.
    std::map<std::pair<std::size_t, std::size_t>, steady::time_point> got;
    std::size_t lines_done = 0;
    auto on_frame = [&](json::object& f) {
      auto now = steady::now();
      if (f.at("type").as_string() != "mystery.line") return;
      auto& d = f.at("data").as_object();
      if (auto* delta = d.if_contains("delta")) {
        std::string_view s = delta->as_string();
        // "<request:token>"
        auto colon = s.find(':');
        if (s.size() > 3 && colon != std::string_view::npos) {
          std::size_t r = std::stoul(std::string(s.substr(1, colon - 1)));
          std::size_t t = std::stoul(std::string(s.substr(colon + 1, s.size() - colon - 2)));
          got[{r, t}] = now;
        }
      }
      if (d.at("done").as_bool()) ++lines_done;
    };

    c.call("room.create",
           {{"mode", "mystery"}, {"name", "bench"}, {"settings", {{"scenario", "gull_rock"}}}},
           on_frame);
    c.call("room.start", {}, on_frame);
    auto wait_lines = [&](std::size_t n) {
      while (lines_done < n) {
        auto f = c.read();
        on_frame(f);
      }
    };
    wait_lines(1);  // the opening look
    auto t0 = steady::now();
    for (int i = 0; i < calls; ++i) {
      auto before = lines_done;
      c.call("mystery.act", {{"text", "look"}}, on_frame);
      wait_lines(before + 1);
    }
    double secs = std::chrono::duration<double>(steady::now() - t0).count();

    std::vector<double> lat_us;
    std::size_t missing = 0;
    for (const auto& w : fake.token_writes()) {
      auto it = got.find({w.request, w.token});
      if (it == got.end()) {
        ++missing;
        continue;
      }
      lat_us.push_back(std::chrono::duration<double, std::micro>(it->second - w.at).count());
    }
    auto n = lat_us.size();
    double p50 = pct(lat_us, 0.5), p90 = pct(lat_us, 0.9), p99 = pct(lat_us, 0.99);
    double mx = lat_us.empty() ? 0 : lat_us.back();
    fmt::print("llm_relay: {} streamed lines, {} tokens relayed ({} missing) in {:.1f} s\n",
               calls + 1, n, missing, secs);
    fmt::print("token latency, fake endpoint write -> WebSocket client read (loopback):\n");
    fmt::print("  p50 {:.0f} us   p90 {:.0f} us   p99 {:.0f} us   max {:.0f} us\n", p50, p90, p99,
               mx);
    fmt::print("server CPU: {:.2f} s\n", srv.cpu_seconds());
    if (missing) rc = 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "llm_relay: {}\n", e.what());
    rc = 1;
  }
  srv.stop();
  fake.stop();
  return rc;
}
