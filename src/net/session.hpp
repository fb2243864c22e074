// Internal to src/net: the HTTP and WebSocket session classes and their shared state. Includes
// Beast; never include it outside src/net.
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/detail/utf8_checker.hpp>
#include <chrono>
#include <deque>
#include <mutex>
#include <optional>
#include <vector>

#include "net/connection.hpp"
#include "net/handler.hpp"
#include "net/listener.hpp"
#include "net/ws_frame.hpp"
#include "obs/metrics.hpp"

namespace maratang::net {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// What every session needs from the listener.
struct shared_state {
  shared_state(handler& hh, obs::metrics& mm, net_options o) : h(hh), m(mm), opts(o) {}
  handler& h;
  obs::metrics& m;
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
  bool head_ = false;  // the request is a HEAD: the response goes without its body
  bool upgraded_ = false;
};

// One WebSocket connection, framed by the session itself (net/ws_frame.hpp) on the raw socket:
// a read loop that hands whole messages to the handler, and a bounded outgoing queue that the
// strand drains by gathering every queued frame into one sendmsg.
class ws_session final : public connection, public std::enable_shared_from_this<ws_session> {
 public:
  using strand_type = asio::strand<asio::io_context::executor_type>;
  ws_session(tcp::socket socket, std::shared_ptr<shared_state> st, ws_identity id,
             std::chrono::steady_clock::time_point accepted);
  ~ws_session() override;
  // Answers the upgrade request (101, or 400/426 for a bad handshake) and starts reading.
  void run(const http::request<http::string_body>& req);

  std::uint64_t id() const noexcept override { return id_; }
  void send(frame f) override { enqueue(std::move(f), false); }
  void send_binary(frame f) override { enqueue(std::move(f), true); }
  void close(std::string_view reason, std::string_view message) override;
  conn_context& context() noexcept override { return ctx_; }
  void run_on_strand(std::function<void()> fn) override { asio::dispatch(strand_, std::move(fn)); }

 private:
  // A frame on its way out: the header (or the newline that joins a batched envelope to the one
  // before it) and the payload it is written with.
  struct out_frame {
    frame payload;
    unsigned char head[10];
    unsigned char head_len;
    bool counted;  // an envelope from the queue (counted in queued_*), not a control frame
  };

  void enqueue(frame f, bool binary);
  void on_handshake_written(beast::error_code ec, bool opened);
  void do_read();
  void on_read(beast::error_code ec, std::size_t n);
  std::size_t process(char* data, std::size_t n);
  bool on_data_frame(bool fin, char* payload, std::size_t len);
  void end_discarded();
  void on_control_frame(ws::opcode op, char* payload, std::size_t len);
  void dispatch_message(std::string_view msg, bool binary);
  void fail(std::uint16_t code, std::string_view reason);
  void end_with_close(std::string payload);
  bool take_token();
  bool take_input_token();
  bool take_control_token();
  void queue_pong(std::string_view payload);
  bool stalled(std::chrono::steady_clock::time_point now) const;
  void drop_slow_consumer();
  void queue_control(ws::opcode op, std::string payload);
  void flush();
  bool write_out();
  void on_write(beast::error_code ec, std::size_t n);
  void consume(std::size_t n);
  void arm_timer(std::chrono::milliseconds after);
  void on_timer();
  void teardown();
  void finish();

  tcp::socket sock_;
  strand_type strand_;
  std::shared_ptr<shared_state> st_;
  std::uint64_t id_;
  conn_context ctx_;
  std::chrono::steady_clock::time_point accepted_;

  // Outgoing queue. Producers (any thread) append to pending_ under mu_; the strand moves them to
  // out_ with their headers and writes them.
  std::mutex mu_;
  struct queued {
    frame f;
    bool binary;  // a binary message (else text)
  };
  std::vector<queued> pending_;   // GUARDED_BY(mu_)
  std::size_t queued_msgs_ = 0;   // GUARDED_BY(mu_): pending_ + out_ not yet written
  std::size_t queued_bytes_ = 0;  // GUARDED_BY(mu_)
  bool flush_scheduled_ = false;  // GUARDED_BY(mu_)
  bool closing_ = false;          // GUARDED_BY(mu_): no more frames accepted
  // When the socket last took bytes, or the queue last went from empty to not (steady clock,
  // nanoseconds): a queue over its bound with no progress for limits.slow_consumer_ms is dropped.
  std::atomic<std::int64_t> progress_ns_{0};
  std::optional<std::pair<std::uint16_t, std::string>> close_after_;  // GUARDED_BY(mu_)

  // Strand only from here on.
  std::deque<out_frame> out_;
  out_frame* pong_ = nullptr;        // the pong in out_ that no write has started (at most one)
  std::size_t sent_ = 0;             // bytes of out_.front() already written
  std::vector<queued> taking_;       // pending_ as the strand takes it (swapped, not reallocated)
  std::vector<iovec> iov_;           // the gathered write's buffers
  std::string handshake_;            // the 101 response while it is written
  bool yielded_ = false;             // this flush already waited one turn
  bool writing_ = false;             // an asynchronous write is in flight
  bool close_sent_ = false;          // a close frame is queued: nothing may follow it
  bool finish_after_write_ = false;  // the connection is failing: tear down once written
  bool tearing_down_ = false;        // our side is shut down; reading until the peer's end
  bool read_pending_ = false;
  bool reading_ = true;  // frames are still read
  bool muted_ = false;   // messages are no longer dispatched (flooding, or failing)
  bool open_ = false;    // on_ws_open was called
  bool finished_ = false;
  bool rx_ = false;           // bytes arrived since the last liveness tick
  bool ping_sent_ = false;    // a keep-alive ping is unanswered
  asio::steady_timer timer_;  // hello, idle and closing timeouts

  // Reading: bytes received and not yet parsed sit at in_[0, used_). A vector, not a string: a
  // string of 4,096 bytes allocates 4,097, which jemalloc rounds up to 5,120 on every connection.
  std::vector<char> in_;
  std::size_t used_ = 0;
  std::size_t want_ = 0;  // bytes the frame at in_[0] needs in all (header and payload)
  std::string msg_;       // a fragmented message being assembled
  ws::opcode msg_op_ = ws::opcode::continuation;  // continuation: no message in progress
  std::uint64_t msg_size_ = 0;                    // payload bytes of the message so far
  std::uint64_t discard_left_ = 0;                // payload bytes still to skip
  bool discarding_ = false;                       // skipping an oversize message
  bool discard_fin_ = false;                      // the skipped frame ends its message
  beast::websocket::detail::utf8_checker utf8_;   // the text message in progress
  // Token bucket for the message rate.
  double tokens_;
  std::chrono::steady_clock::time_point refill_at_;
  double input_tokens_;  // the realtime input budget
  std::chrono::steady_clock::time_point input_refill_at_;
};

}  // namespace maratang::net
