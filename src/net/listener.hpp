// Accepts TCP connections on one port and serves HTTP/1.1 and WebSocket on them. Created and
// started on the main thread; all its work then runs on the io_context's threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.hpp"

namespace boost::asio {
class io_context;
}

namespace maratang::obs {
class metrics;
}

namespace maratang::net {

class handler;

struct net_options {
  std::size_t http_body_max = 1 << 20;
  std::size_t ws_message_max = 64 << 10;
  int ws_rate = 30;
  int ws_burst = 60;
  // Realtime inputs (handler::realtime says which messages) have a budget of their own, so that
  // a 30 Hz input stream neither starves nor is starved by the general message limit.
  int ws_input_rate = 90;
  int ws_input_burst = 45;
  std::size_t send_queue_max = 1024;
  std::size_t send_queue_max_bytes = 4 << 20;
  int slow_consumer_ms = 10000;
  int handshake_timeout_ms = 10000;
  int ws_idle_timeout_ms = 60000;
  int http_idle_timeout_ms = 30000;
  std::int64_t max_connections = 100000;
  // Peers whose X-Forwarded-For names the client (http_request::remote): see client_address.
  std::vector<std::string> trusted_proxies;
};

// The client's address for a request from `peer` with X-Forwarded-For `forwarded_for`: `peer`
// unless it is a trusted proxy; then the rightmost address of the header that is not a trusted
// proxy itself (each proxy appends the address it was reached from), or the leftmost when all
// are trusted. A header that is empty or malformed leaves `peer`.
std::string client_address(const std::string& peer, std::string_view forwarded_for,
                           const std::vector<std::string>& trusted);

// Raises this process's soft RLIMIT_NOFILE to its hard limit and returns the number of connections
// that fit in it: `max_connections`, or fewer when the limit leaves no room for them and for the
// server's own files (storage, LLM calls, logs). Logs the decision once.
std::int64_t fit_connections_to_fd_limit(std::int64_t max_connections);

class listener {
 public:
  listener(boost::asio::io_context& ioc, handler& h, obs::metrics& m, net_options opts);
  ~listener();
  // Binds and listens; returns the bound port (useful with port 0).
  result<int> open(const std::string& host, int port);
  // Starts accepting. Call once after open().
  void start();
  // Stops accepting new connections (existing ones go on). Thread-safe.
  void stop();

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace maratang::net
