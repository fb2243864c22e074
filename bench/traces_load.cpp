// traces_load: a load generator for the GameDB-compatible traces endpoints. Starts the real
// server itself (one network thread, SQLite with full sync, write limits off), fills the
// default area so that GET /get-objects returns full listings (200 objects, 200 messages, 20
// phantoms), then drives it over HTTP/1.1 keep-alive connections on loopback from one client
// thread. Phases:
//   get   GET /get-objects with Accept-Encoding: gzip (the cached, gzip'd listing)
//   post  POST /add-object with an object, a message and a phantom (each 200 means committed)
// Prints requests per second and p50/p99 latency per phase, and the server's CPU seconds.
// Usage: traces_load --server build/release/maratang [--connections 64] [--duration 5]
//                    [--max-requests 2000000] [--phantom-points 50] [--database-url URL]
// With --database-url the server stores in that PostgreSQL database (storage.database_url)
// instead of its SQLite file; bench/storage_side_by_side.sh runs both.
// Bounded in count and time; stops by itself; loopback only.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include "server_process.hpp"

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

// --- The server process ---------------------------------------------------------------------

// --- The load generator -----------------------------------------------------------------------

// One phase: `make_request(i)` gives the i-th request's bytes. Every connection sends one
// request, reads the whole response (Content-Length framed), and sends the next, until the
// deadline or max_requests.
struct phase_result {
  std::uint64_t ok = 0, bad = 0, bytes = 0;
  double seconds = 0;
  std::vector<double> latency_ms;
  double pct(double p) {
    if (latency_ms.empty()) return 0;
    std::sort(latency_ms.begin(), latency_ms.end());
    return latency_ms[std::min(
        latency_ms.size() - 1,
        static_cast<std::size_t>(p * static_cast<double>(latency_ms.size())))];
  }
};

class load {
 public:
  load(asio::io_context& ioc, int port, int connections, std::uint64_t max_requests,
       clock_type::duration duration, std::function<std::string(std::uint64_t)> make_request)
      : ioc_(ioc),
        ep_(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)),
        max_(max_requests),
        make_(std::move(make_request)) {
    deadline_ = clock_type::now() + duration;
    for (int i = 0; i < connections; ++i)
      conns_.push_back(std::make_unique<conn>(ioc_));
  }

  phase_result run() {
    const auto start = clock_type::now();
    for (auto& c : conns_) {
      c->sock.async_connect(ep_, [this, c = c.get()](boost::system::error_code ec) {
        if (ec) {
          ++result_.bad;
          return;
        }
        c->sock.set_option(tcp::no_delay(true));
        send(*c);
      });
    }
    ioc_.run();
    ioc_.restart();
    result_.seconds = std::chrono::duration<double>(clock_type::now() - start).count();
    return std::move(result_);
  }

 private:
  struct conn {
    explicit conn(asio::io_context& ioc) : sock(ioc) {}
    tcp::socket sock;
    std::string out;
    std::string in;
    std::size_t filled = 0;
    clock_type::time_point sent;
  };

  void send(conn& c) {
    if (issued_ >= max_ || clock_type::now() >= deadline_) {
      boost::system::error_code ignored;
      c.sock.close(ignored);
      return;
    }
    c.out = make_(issued_++);
    c.filled = 0;
    c.sent = clock_type::now();
    asio::async_write(c.sock, asio::buffer(c.out),
                      [this, &c](boost::system::error_code ec, std::size_t) {
                        if (ec) {
                          ++result_.bad;
                          return;
                        }
                        read(c);
                      });
  }

  void read(conn& c) {
    if (c.in.size() < c.filled + 65536) c.in.resize(c.filled + 65536);
    c.sock.async_read_some(asio::buffer(c.in.data() + c.filled, c.in.size() - c.filled),
                           [this, &c](boost::system::error_code ec, std::size_t n) {
                             if (ec) {
                               ++result_.bad;
                               return;
                             }
                             c.filled += n;
                             on_data(c);
                           });
  }

  // Parses as much as is there: the status line, Content-Length and the body.
  void on_data(conn& c) {
    std::string_view data(c.in.data(), c.filled);
    const auto head_end = data.find("\r\n\r\n");
    if (head_end == std::string_view::npos) return read(c);
    std::size_t length = 0;
    std::string_view head = data.substr(0, head_end);
    for (std::size_t pos = head.find("\r\n"); pos != std::string_view::npos;
         pos = head.find("\r\n", pos + 2)) {
      std::string_view line = head.substr(pos + 2, head.find("\r\n", pos + 2) - pos - 2);
      if (line.size() > 15 && (line[0] == 'C' || line[0] == 'c') &&
          (line.substr(0, 15) == "Content-Length:" || line.substr(0, 15) == "content-length:")) {
        length = std::stoul(std::string(line.substr(15)));
      }
    }
    const std::size_t total = head_end + 4 + length;
    if (c.filled < total) return read(c);
    const bool ok = data.size() > 12 && data.substr(9, 3) == "200";
    (ok ? result_.ok : result_.bad) += 1;
    result_.bytes += total;
    result_.latency_ms.push_back(
        std::chrono::duration<double, std::milli>(clock_type::now() - c.sent).count());
    // Keep-alive with one request in flight: nothing follows the response.
    c.filled = 0;
    send(c);
  }

  asio::io_context& ioc_;
  tcp::endpoint ep_;
  std::uint64_t max_;
  std::function<std::string(std::uint64_t)> make_;
  clock_type::time_point deadline_;
  std::uint64_t issued_ = 0;
  std::vector<std::unique_ptr<conn>> conns_;
  phase_result result_;
};

std::string add_object_body(std::uint64_t i, int phantom_points) {
  std::string data;
  for (int p = 0; p < phantom_points; ++p) {
    data +=
        fmt::format(R"({}["{}.5,{}.25,3.0","0.0,{}.0,0.0"])", p ? "," : "", i % 1000, p, p % 360);
  }
  return fmt::format(
      R"({{"obj":{{"u_uuid":"bench-{0}","o_type":{1},"o_pos":"{0}.5,20.0,30.2","o_rot":"0.0,90.0,0.0"}},)"
      R"("message":{{"u_uuid":"bench-{0}","part1":"Try jumping","part2":"but hole","part3":"ahead"}},)"
      R"("phantom":{{"u_uuid":"bench-{0}","data":[{2}]}}}})",
      i, i % 50, data);
}

std::string post_request(std::uint64_t i, int phantom_points) {
  std::string body = add_object_body(i, phantom_points);
  return fmt::format(
      "POST /add-object HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "Content-Length: {}\r\n\r\n{}",
      body.size(), body);
}

void report(const char* name, phase_result r, double server_cpu) {
  fmt::print(
      "{:<28} {:>9} ok {:>5} failed  {:>10.0f} req/s  p50 {:>7.3f} ms  p99 {:>7.3f} ms  "
      "{:>8.1f} KiB/response  server CPU {:.2f} s ({:.0f} req per CPU-second)\n",
      name, r.ok, r.bad, static_cast<double>(r.ok) / r.seconds, r.pct(0.50), r.pct(0.99),
      r.ok ? static_cast<double>(r.bytes) / static_cast<double>(r.ok) / 1024 : 0.0, server_cpu,
      server_cpu > 0 ? static_cast<double>(r.ok) / server_cpu : 0.0);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"Load generator for the traces endpoints"};
  std::string binary = "build/release/maratang";
  int connections = 64;
  double duration = 5;
  std::uint64_t max_requests = 2'000'000;
  int phantom_points = 50;
  std::string data_base = std::filesystem::temp_directory_path().string();
  cli.add_option("--server", binary, "The maratang binary");
  cli.add_option("--connections", connections, "Keep-alive connections")
      ->check(CLI::Range(1, 5000));
  cli.add_option("--duration", duration, "Seconds per phase at most")
      ->check(CLI::Range(0.1, 120.0));
  cli.add_option("--max-requests", max_requests, "Requests per phase at most");
  cli.add_option("--phantom-points", phantom_points, "Entries per phantom")
      ->check(CLI::Range(1, 2000));
  cli.add_option("--data-base", data_base, "Where the server's data directory is made");
  std::string database_url;
  cli.add_option("--database-url", database_url, "PostgreSQL instead of SQLite (postgresql://...)");
  CLI11_PARSE(cli, argc, argv);

  maratang::bench::server_process srv;
  std::vector<std::string> sets = {"server.threads=1", "log.level=warn",
                                   "traces.anon_writes_per_minute=0",
                                   "limits.max_connections=10000"};
  if (!database_url.empty()) sets.push_back("storage.database_url=" + database_url);
  try {
    srv.start(binary, "maratang_traces_bench", sets, data_base);
  } catch (const std::exception& e) {
    std::cerr << "traces_load: " << e.what() << "\n";
    return 1;
  }
  fmt::print("server pid {} on port {} (one network thread, {}, data in {})\n", srv.pid, srv.port,
             database_url.empty() ? "SQLite full sync" : "PostgreSQL", srv.dir.string());
  asio::io_context ioc;
  const auto span =
      std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(duration));

  // Fill: enough traces for full listings (200 objects, 200 messages, 20 phantoms).
  auto fill = load(ioc, srv.port, 8, 220, std::chrono::seconds(60), [&](std::uint64_t i) {
                return post_request(i, phantom_points);
              }).run();
  if (fill.ok != 220) {
    std::cerr << "traces_load: filling failed (" << fill.ok << " of 220 stored)\n";
    srv.stop();
    return 1;
  }

  const std::string get_gzip =
      "GET /get-objects HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Encoding: gzip\r\n\r\n";
  const std::string get_plain = "GET /get-objects HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

  double cpu0 = srv.cpu_seconds();
  auto g = load(ioc, srv.port, connections, max_requests, span, [&](std::uint64_t) {
             return get_gzip;
           }).run();
  double cpu1 = srv.cpu_seconds();
  report("GET /get-objects (gzip)", std::move(g), cpu1 - cpu0);

  auto gp = load(ioc, srv.port, connections, max_requests, span, [&](std::uint64_t) {
              return get_plain;
            }).run();
  double cpu2 = srv.cpu_seconds();
  report("GET /get-objects (identity)", std::move(gp), cpu2 - cpu1);

  auto p = load(ioc, srv.port, connections, max_requests, span, [&](std::uint64_t i) {
             return post_request(1000 + i, phantom_points);
           }).run();
  double cpu3 = srv.cpu_seconds();
  report("POST /add-object (durable)", std::move(p), cpu3 - cpu2);

  srv.stop();
  return 0;
}
