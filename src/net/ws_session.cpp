#include <spdlog/spdlog.h>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "net/session.hpp"

namespace maratang::net {

namespace {

// Close codes in the private range, one per reason the server ends a connection.
constexpr websocket::close_code kPolicy = websocket::close_code::policy_error;
constexpr std::size_t kReadChunk = 4096;
constexpr std::size_t kHardMessageMax = 64 << 20;
constexpr std::size_t kMaxBatch = 64;              // envelopes per batched message
constexpr std::size_t kMaxBatchBytes = 256 << 10;  // bytes per batched message
constexpr char kNewline = '\n';

frame closed_event(std::string_view reason, std::string_view message) {
  boost::json::object data{{"reason", reason}, {"message", message}};
  boost::json::object o{{"type", "session.closed"}, {"data", std::move(data)}};
  return std::make_shared<const std::string>(boost::json::serialize(o));
}

}  // namespace

ws_session::ws_session(tcp::socket socket, std::shared_ptr<shared_state> st, ws_identity ident,
                       std::chrono::steady_clock::time_point accepted)
    : ws_(std::move(socket)),
      st_(std::move(st)),
      id_(st_->next_id.fetch_add(1)),
      accepted_(accepted),
      tokens_(st_->opts.ws_burst),
      refill_at_(std::chrono::steady_clock::now()) {
  ctx_.account_id = ident.account_id;
  ctx_.session_id = std::move(ident.session_id);
}

ws_session::~ws_session() {
  st_->open_connections.fetch_sub(1);
}

void ws_session::run(http::request<http::string_body> req) {
  websocket::stream_base::timeout t;
  t.handshake_timeout = std::chrono::milliseconds(st_->opts.handshake_timeout_ms);
  t.idle_timeout = std::chrono::milliseconds(st_->opts.ws_idle_timeout_ms);
  t.keep_alive_pings = true;
  ws_.set_option(t);
  ws_.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(http::field::server, "maratang"); }));
  // Messages over limits.ws_message_max are answered with too_large (see on_read); only a message
  // over this hard cap fails the connection (close code 1009).
  ws_.read_message_max(kHardMessageMax);
  ws_.auto_fragment(false);
  ws_.write_buffer_bytes(512);
  ws_.async_accept(req, beast::bind_front_handler(&ws_session::on_accept, shared_from_this()));
}

void ws_session::on_accept(beast::error_code ec) {
  if (ec) return;  // handshake failed or timed out: nothing was opened
  open_ = true;
  st_->m.connections_open.fetch_add(1);
  st_->m.connections_total.fetch_add(1);
  st_->m.handshake_seconds.observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - accepted_).count());
  st_->h.on_ws_open(shared_from_this());
  // A client must finish the hello exchange within the handshake timeout, or it is closed: an
  // open socket that never says hello would otherwise be kept alive by pings for ever.
  kill_timer_.emplace(ws_.get_executor());
  kill_timer_->expires_after(std::chrono::milliseconds(st_->opts.handshake_timeout_ms));
  kill_timer_->async_wait([self = shared_from_this()](beast::error_code wait_ec) {
    if (wait_ec || self->ctx_.hello_done || self->close_started_ || self->finished_) return;
    self->close("hello_timeout", "No hello within the handshake timeout.");
  });
  do_read();
}

void ws_session::do_read() {
  ws_.async_read_some(buffer_, kReadChunk,
                      beast::bind_front_handler(&ws_session::on_read, shared_from_this()));
}

bool ws_session::take_token() {
  auto now = std::chrono::steady_clock::now();
  double elapsed = std::chrono::duration<double>(now - refill_at_).count();
  refill_at_ = now;
  tokens_ = std::min<double>(st_->opts.ws_burst, tokens_ + elapsed * st_->opts.ws_rate);
  tokens_ -= 1.0;
  return tokens_ >= 0.0;
}

void ws_session::on_read(beast::error_code ec, std::size_t) {
  if (ec) return finish();
  // An oversize message is discarded as it streams in, so it never occupies more than one chunk.
  if (discarding_ || buffer_.size() > st_->opts.ws_message_max) {
    discarding_ = true;
    buffer_.clear();
  }
  if (!ws_.is_message_done()) return do_read();

  auto start = std::chrono::steady_clock::now();
  st_->m.messages_in.fetch_add(1, std::memory_order_relaxed);
  auto self = shared_from_this();
  if (discarding_) {
    discarding_ = false;
    st_->h.on_ws_refused(self, errc::too_large, {});
  } else {
    auto data = buffer_.cdata();
    std::string_view text(static_cast<const char*>(data.data()), data.size());
    if (take_token()) {
      st_->h.on_ws_message(self, text);
    } else if (tokens_ < -2.0 * st_->opts.ws_burst) {
      // A client far over its budget is cut off rather than answered forever.
      buffer_.clear();
      close("rate_limited", "Too many messages; the connection was closed.");
      return;
    } else {
      st_->h.on_ws_refused(self, errc::rate_limited, text);
    }
  }
  buffer_.clear();
  // Keep idle connections small: drop a buffer a large message grew.
  if (buffer_.capacity() > kReadChunk) buffer_.shrink_to_fit();
  st_->m.frame_seconds.observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  do_read();
}

void ws_session::send(frame f) {
  bool schedule = false;
  bool overflow = false;
  {
    std::lock_guard lock(mu_);
    if (closing_) return;
    if (queued_msgs_ + 1 > st_->opts.send_queue_max ||
        queued_bytes_ + f->size() > st_->opts.send_queue_max_bytes) {
      overflow = true;
    } else {
      queued_msgs_ += 1;
      queued_bytes_ += f->size();
      pending_.push_back(std::move(f));
      if (!flush_scheduled_) schedule = flush_scheduled_ = true;
    }
  }
  if (overflow) {
    // The queue stays as it is (bounded); the client gets what is queued, then session.closed,
    // then close code 1008, or is cut off when it does not read them in time.
    st_->m.slow_consumer_drops.fetch_add(1);
    close("slow_consumer", "The connection did not keep up with its messages.");
    return;
  }
  if (schedule) {
    asio::post(ws_.get_executor(), [self = shared_from_this()] { self->flush(); });
  }
}

void ws_session::close(std::string_view reason, std::string_view message) {
  {
    std::lock_guard lock(mu_);
    if (closing_) return;
    // One frame past the queue's limit at most: the queue stays bounded.
    auto f = closed_event(reason, message);
    queued_msgs_ += 1;
    queued_bytes_ += f->size();
    pending_.push_back(std::move(f));
    closing_ = true;
    close_after_.emplace(
        reason == "replaced" || reason == "shutdown" ? websocket::close_code::going_away : kPolicy,
        std::string(reason));
    flush_scheduled_ = true;
  }
  asio::post(ws_.get_executor(), [self = shared_from_this()] {
    self->arm_kill_timer();
    self->flush();
  });
}

void ws_session::arm_kill_timer() {
  // A peer that stops reading would hold the last frames, and the close, for ever: cut the
  // socket after the handshake timeout. The pending read then fails and finish() runs.
  kill_timer_.emplace(ws_.get_executor());
  kill_timer_->expires_after(std::chrono::milliseconds(st_->opts.handshake_timeout_ms));
  kill_timer_->async_wait([self = shared_from_this()](beast::error_code ec) {
    if (ec) return;
    beast::error_code ignored;
    beast::get_lowest_layer(self->ws_).close(ignored);
    self->finish();
  });
}

void ws_session::flush() {
  if (writing_ || close_started_ || finished_) return;
  std::optional<std::pair<websocket::close_code, std::string>> close_now;
  bool yield = false;
  {
    std::lock_guard lock(mu_);
    for (auto& f : pending_)
      out_.push_back(std::move(f));
    pending_.clear();
    if (out_.empty() && close_after_) close_now = std::move(close_after_);
    // A batching client's write waits one turn of the event loop, so that frames other handlers
    // are about to queue go out in the same message. When the server is idle the queue is empty
    // and the turn costs nothing; under load it turns many small writes into one.
    yield = ctx_.batch && !yielded_ && !close_now && !out_.empty() && out_.size() < kMaxBatch;
    flush_scheduled_ = yield;
  }
  if (yield) {
    yielded_ = true;
    asio::post(ws_.get_executor(), [self = shared_from_this()] { self->flush(); });
    return;
  }
  yielded_ = false;
  if (close_now) return start_close(close_now->first, std::move(close_now->second));
  if (out_.empty()) return;
  writing_ = true;
  ws_.text(true);
  if (!ctx_.batch || out_.size() == 1) {
    in_flight_ = 1;
    ws_.async_write(asio::buffer(*out_.front()),
                    beast::bind_front_handler(&ws_session::on_write, shared_from_this()));
    return;
  }
  // A client that asked for batching gets every queued envelope in one message, separated by
  // newlines: one frame and one system call for what would otherwise be many.
  batch_.clear();
  std::size_t bytes = 0;
  in_flight_ = 0;
  for (const auto& f : out_) {
    if (in_flight_ == kMaxBatch || (in_flight_ > 0 && bytes + f->size() > kMaxBatchBytes)) break;
    if (in_flight_ > 0) batch_.emplace_back(&kNewline, 1);
    batch_.emplace_back(f->data(), f->size());
    bytes += f->size();
    ++in_flight_;
  }
  ws_.async_write(batch_, beast::bind_front_handler(&ws_session::on_write, shared_from_this()));
}

void ws_session::on_write(beast::error_code ec, std::size_t n) {
  writing_ = false;
  if (ec) return finish();
  st_->m.messages_out.fetch_add(in_flight_, std::memory_order_relaxed);
  st_->m.writes_out.fetch_add(1, std::memory_order_relaxed);
  st_->m.bytes_out.fetch_add(n, std::memory_order_relaxed);
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < in_flight_; ++i) {
    bytes += out_.front()->size();
    out_.pop_front();
  }
  {
    std::lock_guard lock(mu_);
    queued_msgs_ -= in_flight_;
    queued_bytes_ -= bytes;
  }
  in_flight_ = 0;
  flush();
}

void ws_session::start_close(websocket::close_code code, std::string reason) {
  if (close_started_ || finished_) return;
  close_started_ = true;
  {
    std::lock_guard lock(mu_);
    closing_ = true;
  }
  arm_kill_timer();
  if (reason.size() > 120) reason.resize(120);
  ws_.async_close(websocket::close_reason(code, reason),
                  [self = shared_from_this()](beast::error_code) {
                    // The close handshake is over (or failed): the connection is gone. A read
                    // still pending fails next; finish() runs once either way.
                    self->finish();
                  });
}

void ws_session::finish() {
  if (finished_) return;
  finished_ = true;
  {
    std::lock_guard lock(mu_);
    closing_ = true;
    pending_.clear();
  }
  if (!writing_) out_.clear();  // a write in flight still points into its frame
  if (kill_timer_) kill_timer_->cancel();
  beast::error_code ignored;
  beast::get_lowest_layer(ws_).close(ignored);
  if (open_) {
    st_->m.connections_open.fetch_sub(1);
    st_->h.on_ws_close(shared_from_this());
  }
}

}  // namespace maratang::net
