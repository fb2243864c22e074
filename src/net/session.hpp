// Internal to src/net: the HTTP and WebSocket session classes and their shared state. Includes
// Beast; never include it outside src/net.
#pragma once

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <deque>
#include <mutex>
#include <optional>
#include <vector>

#include "app/metrics.hpp"
#include "net/connection.hpp"
#include "net/handler.hpp"
#include "net/listener.hpp"

namespace maratang::net {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// What every session needs from the listener.
struct shared_state {
  shared_state(handler& hh, app::metrics& mm, net_options o) : h(hh), m(mm), opts(o) {}
  handler& h;
  app::metrics& m;
  net_options opts;
  std::atomic<std::int64_t> open_connections{0};
  std::atomic<std::uint64_t> next_id{1};
};

// Serves HTTP requests on one TCP connection until it closes or upgrades to a WebSocket.
class http_session : public std::enable_shared_from_this<http_session> {
 public:
  http_session(tcp::socket socket, std::shared_ptr<shared_state> st);
  ~http_session();
  void run();

 private:
  void do_read();
  void on_read(beast::error_code ec, std::size_t n);
  void upgrade(http::request<http::string_body> req);
  void respond(http_response resp);
  void on_write(bool keep_alive, beast::error_code ec, std::size_t n);
  void write_error(http::status status, std::string body, bool keep_alive);

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::shared_ptr<shared_state> st_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<http::response<http::string_body>> res_;
  // A response whose body is a shared buffer (a cache entry), written without copying it.
  std::string shared_head_;
  std::shared_ptr<const std::string> shared_body_;
  std::string remote_;  // the peer's address
  std::chrono::steady_clock::time_point started_;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool upgraded_ = false;
};

// One WebSocket connection: a read loop that hands whole messages to the handler, and a bounded
// outgoing queue drained by one write at a time.
class ws_session final : public connection, public std::enable_shared_from_this<ws_session> {
 public:
  ws_session(tcp::socket socket, std::shared_ptr<shared_state> st, ws_identity id,
             std::chrono::steady_clock::time_point accepted);
  ~ws_session() override;
  void run(http::request<http::string_body> req);

  std::uint64_t id() const noexcept override { return id_; }
  void send(frame f) override;
  void close(std::string_view reason, std::string_view message) override;
  conn_context& context() noexcept override { return ctx_; }
  void run_on_strand(std::function<void()> fn) override {
    asio::dispatch(ws_.get_executor(), std::move(fn));
  }

 private:
  void on_accept(beast::error_code ec);
  void do_read();
  void on_read(beast::error_code ec, std::size_t n);
  bool take_token();
  void schedule_flush();
  void flush();
  void on_write(beast::error_code ec, std::size_t n);
  void start_close(websocket::close_code code, std::string reason);
  void arm_kill_timer();
  void finish();

  websocket::stream<tcp::socket> ws_;
  beast::flat_buffer buffer_;
  std::shared_ptr<shared_state> st_;
  std::uint64_t id_;
  conn_context ctx_;
  std::chrono::steady_clock::time_point accepted_;

  // Outgoing queue. Producers (any thread) append to pending_ under mu_; the strand moves them to
  // out_ and writes them one at a time.
  std::mutex mu_;
  std::vector<frame> pending_;    // GUARDED_BY(mu_)
  std::size_t queued_msgs_ = 0;   // GUARDED_BY(mu_): pending_ + out_ not yet written
  std::size_t queued_bytes_ = 0;  // GUARDED_BY(mu_)
  bool flush_scheduled_ = false;  // GUARDED_BY(mu_)
  bool closing_ = false;          // GUARDED_BY(mu_): no more frames accepted
  std::optional<std::pair<websocket::close_code, std::string>> close_after_;  // GUARDED_BY(mu_)
  std::deque<frame> out_;                                                     // strand only
  std::size_t in_flight_ = 0;              // strand only: frames of out_ being written
  std::vector<asio::const_buffer> batch_;  // strand only: a batched write's buffers
  bool yielded_ = false;                   // strand only: this flush already waited one turn
  bool writing_ = false;                   // strand only
  bool close_started_ = false;             // strand only
  bool open_ = false;                      // strand only: on_ws_open was called
  bool finished_ = false;                  // strand only
  std::optional<asio::steady_timer> kill_timer_;

  bool discarding_ = false;  // strand only: skipping an oversize message
  // Token bucket for the message rate (strand only).
  double tokens_;
  std::chrono::steady_clock::time_point refill_at_;
};

}  // namespace maratang::net
