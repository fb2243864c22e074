#include <sys/socket.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/beast/websocket/detail/hybi13.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "net/session.hpp"
#include "util/utf8.hpp"

namespace maratang::net {

namespace {

// Close codes (RFC 6455 7.4.1).
constexpr std::uint16_t kGoingAway = 1001;
constexpr std::uint16_t kProtocolError = 1002;
constexpr std::uint16_t kInvalidPayload = 1007;
constexpr std::uint16_t kPolicy = 1008;
constexpr std::uint16_t kTooBig = 1009;

constexpr std::size_t kReadChunk = 4096;
constexpr std::uint64_t kHardMessageMax = 64 << 20;
constexpr std::size_t kMaxBatch = 64;              // envelopes per batched message
constexpr std::size_t kMaxBatchBytes = 256 << 10;  // bytes per batched message
constexpr std::size_t kMaxIov = 512;               // buffers per sendmsg (IOV_MAX is 1024)
constexpr std::size_t kMaxWriteBytes = 1 << 20;    // bytes per sendmsg
constexpr int kMaxFlushRounds = 16;                // sendmsg calls per flush before yielding
// A queue this many times over limits.send_queue_max (or send_queue_max_bytes) is dropped at once,
// draining or not; under that, only a queue over the limit that stopped draining is.
constexpr std::size_t kHardQueueFactor = 4;

std::int64_t steady_ns(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

frame closed_event(std::string_view reason, std::string_view message) {
  boost::json::object data{{"reason", reason}, {"message", message}};
  boost::json::object o{{"type", "session.closed"}, {"data", std::move(data)}};
  return std::make_shared<const std::string>(boost::json::serialize(o));
}

std::string close_payload(std::uint16_t code, std::string_view reason) {
  std::string p;
  p.push_back(static_cast<char>(code >> 8));
  p.push_back(static_cast<char>(code & 0xFF));
  // A control frame carries at most 125 bytes, and a close reason must be whole UTF-8.
  p.append(util::utf8_prefix_bytes(reason, 123));
  return p;
}

// RFC 6455 4.2.1: the key is the base64 of 16 bytes: 22 characters of the alphabet and "==".
bool valid_key(std::string_view key) {
  if (key.size() != 24 || key.substr(22) != "==") return false;
  for (char c : key.substr(0, 22)) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/') return false;
  }
  return true;
}

ws_session::strand_type strand_of(tcp::socket& s) {
  if (auto* strand = s.get_executor().target<ws_session::strand_type>()) return *strand;
  throw std::logic_error("a WebSocket's socket must run on a strand of the io_context");
}

}  // namespace

ws_session::ws_session(tcp::socket socket, std::shared_ptr<shared_state> st, ws_identity ident,
                       std::chrono::steady_clock::time_point accepted)
    : sock_(std::move(socket)),
      strand_(strand_of(sock_)),
      st_(std::move(st)),
      id_(st_->next_id.fetch_add(1)),
      accepted_(accepted),
      timer_(strand_),
      tokens_(st_->opts.ws_burst),
      refill_at_(std::chrono::steady_clock::now()),
      input_tokens_(st_->opts.ws_input_burst),
      input_refill_at_(refill_at_) {
  ctx_.account_id = ident.account_id;
  ctx_.session_id = std::move(ident.session_id);
}

ws_session::~ws_session() {
  st_->open_connections.fetch_sub(1);
}

// --- Opening handshake --------------------------------------------------------------------------

void ws_session::run(const http::request<http::string_body>& req) {
  // http_session checked the method, the version and the Upgrade and Connection headers
  // (websocket::is_upgrade); the rest of RFC 6455 4.2.1 is checked here.
  auto key = req[http::field::sec_websocket_key];
  bool opened = false;
  if (req[http::field::sec_websocket_version] != "13") {
    handshake_ =
        "HTTP/1.1 426 Upgrade Required\r\nServer: maratang\r\nSec-WebSocket-Version: 13\r\n"
        "Content-Length: 0\r\nConnection: close\r\n\r\n";
  } else if (!valid_key(key) || req[http::field::host].empty()) {
    handshake_ =
        "HTTP/1.1 400 Bad Request\r\nServer: maratang\r\nContent-Length: 0\r\n"
        "Connection: close\r\n\r\n";
  } else {
    websocket::detail::sec_ws_accept_type accept;
    websocket::detail::make_sec_ws_accept(accept, key);
    handshake_ = fmt::format(
        "HTTP/1.1 101 Switching Protocols\r\nServer: maratang\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        std::string_view(accept.data(), accept.size()));
    opened = true;
  }
  beast::error_code ignored;
  sock_.non_blocking(true, ignored);  // the writer calls sendmsg itself
  // The first tick: the handshake timeout (for the 101 and the hello that must follow it), or
  // the first keep-alive check if that comes sooner.
  arm_timer(std::chrono::milliseconds(
      std::min(st_->opts.handshake_timeout_ms, std::max(1, st_->opts.ws_idle_timeout_ms / 2))));
  asio::async_write(sock_, asio::buffer(handshake_),
                    [self = shared_from_this(), opened](beast::error_code ec, std::size_t) {
                      self->on_handshake_written(ec, opened);
                    });
}

void ws_session::on_handshake_written(beast::error_code ec, bool opened) {
  std::string().swap(handshake_);
  if (ec || !opened || finished_) return finish();
  open_ = true;
  st_->m.connections_open.fetch_add(1);
  st_->m.connections_total.fetch_add(1);
  st_->m.handshake_seconds.observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - accepted_).count());
  st_->h.on_ws_open(shared_from_this());
  in_.resize(kReadChunk);
  do_read();
}

// --- Reading ------------------------------------------------------------------------------------

void ws_session::do_read() {
  // Room for at least the frame being received (want_), and for a good read besides.
  std::size_t need = std::max(want_, used_ + kReadChunk / 2);
  if (in_.size() < need) in_.resize(std::max(need, in_.size() * 2));
  read_pending_ = true;
  sock_.async_read_some(
      asio::buffer(in_.data() + used_, in_.size() - used_),
      [self = shared_from_this()](beast::error_code ec, std::size_t n) { self->on_read(ec, n); });
}

void ws_session::on_read(beast::error_code ec, std::size_t n) {
  read_pending_ = false;
  if (ec || finished_) return finish();
  rx_ = true;
  used_ += n;
  std::size_t done = tearing_down_ ? used_ : process(in_.data(), used_);
  if (finished_) return;
  if (pong_) flush();  // one pong for all the pings this read brought
  if (done > 0) {
    std::memmove(in_.data(), in_.data() + done, used_ - done);
    used_ -= done;
  }
  // Keep idle connections small: drop a buffer a large message grew.
  if (used_ == 0 && in_.size() > kReadChunk) {
    in_.resize(kReadChunk);
    in_.shrink_to_fit();
  }
  if ((reading_ || tearing_down_) && !read_pending_) do_read();
}

// Parses and handles every whole frame in data[0, n); returns the bytes consumed. An incomplete
// frame stays for the next read (want_ says how much it needs), except the payload of an oversize
// message, which is skipped as it streams in and never buffered.
std::size_t ws_session::process(char* data, std::size_t n) {
  std::size_t pos = 0;
  want_ = 0;
  while (pos < n && reading_) {
    if (discard_left_ > 0) {
      auto skip = static_cast<std::size_t>(std::min<std::uint64_t>(discard_left_, n - pos));
      pos += skip;
      discard_left_ -= skip;
      if (discard_left_ > 0) break;
      if (discard_fin_) end_discarded();
      continue;
    }
    ws::frame_header h;
    auto parsed = ws::parse_client_header(reinterpret_cast<unsigned char*>(data + pos), n - pos, h);
    if (parsed == ws::parse_result::need_more) break;
    if (parsed == ws::parse_result::protocol_error) {
      fail(kProtocolError, "protocol error");
      break;
    }
    const bool control = ws::is_control(h.op);
    const bool first = h.op != ws::opcode::continuation;
    if (!control) {
      if (first == (msg_op_ != ws::opcode::continuation)) {
        fail(kProtocolError, first ? "a new message inside a fragmented one"
                                   : "a continuation frame outside a message");
        break;
      }
      const std::uint64_t before = first ? 0 : msg_size_;
      if ((!first && discarding_) || before + h.length > st_->opts.ws_message_max) {
        if (before + h.length > kHardMessageMax) {
          fail(kTooBig, "message too big");
          break;
        }
        // Over the limit: skip the rest of the message as it arrives, then answer too_large.
        if (first) msg_op_ = h.op;
        discarding_ = true;
        std::string().swap(msg_);
        msg_size_ = before + h.length;
        pos += h.header_bytes;
        discard_left_ = h.length;
        discard_fin_ = h.fin;
        if (discard_left_ == 0 && discard_fin_) end_discarded();
        continue;
      }
    }
    const std::size_t whole = h.header_bytes + static_cast<std::size_t>(h.length);
    if (n - pos < whole) {
      want_ = whole;
      break;
    }
    if (!control && first) {
      msg_op_ = h.op;
      msg_size_ = 0;
      discarding_ = false;
      utf8_.reset();
    }
    char* payload = data + pos + h.header_bytes;
    const auto len = static_cast<std::size_t>(h.length);
    ws::unmask(payload, len, h.mask, 0);
    pos += whole;
    if (control) {
      on_control_frame(h.op, payload, len);
    } else if (!on_data_frame(h.fin, payload, len)) {
      break;
    }
  }
  return pos;
}

bool ws_session::on_data_frame(bool fin, char* payload, std::size_t len) {
  const bool text = msg_op_ == ws::opcode::text;
  if (text && !utf8_.write(reinterpret_cast<const std::uint8_t*>(payload), len)) {
    fail(kInvalidPayload, "invalid UTF-8");
    return false;
  }
  msg_size_ += len;
  if (!fin) {
    msg_.append(payload, len);
    return true;
  }
  if (text && !utf8_.finish()) {
    fail(kInvalidPayload, "invalid UTF-8");
    return false;
  }
  msg_op_ = ws::opcode::continuation;
  if (msg_.empty()) {
    dispatch_message(std::string_view(payload, len), !text);  // one frame: read in place
  } else {
    msg_.append(payload, len);
    dispatch_message(msg_, !text);
    msg_.clear();
    if (msg_.capacity() > kReadChunk) std::string().swap(msg_);
  }
  return reading_;
}

void ws_session::end_discarded() {
  discarding_ = false;
  msg_op_ = ws::opcode::continuation;
  msg_size_ = 0;
  st_->m.messages_in.fetch_add(1, std::memory_order_relaxed);
  if (!muted_) st_->h.on_ws_refused(shared_from_this(), errc::too_large, {});
}

void ws_session::on_control_frame(ws::opcode op, char* payload, std::size_t len) {
  if (op == ws::opcode::ping) {
    // A ping costs a message's token and one over the budget is not answered; the answer replaces
    // any pong not yet being written (RFC 6455 5.5.3: the latest ping may be the only one
    // answered), so a client that pings and never reads holds one pong, not one per ping.
    if (!close_sent_ && !muted_ && take_control_token()) queue_pong(std::string_view(payload, len));
    return;
  }
  if (op == ws::opcode::pong) {
    ping_sent_ = false;
    if (!muted_) take_control_token();
    return;
  }
  // Close.
  if (close_sent_) return finish();  // the peer answered our close: the handshake is over
  std::uint16_t code = 0;
  if (len == 1) return fail(kProtocolError, "close frame of one byte");
  if (len >= 2) {
    code = static_cast<std::uint16_t>((static_cast<unsigned char>(payload[0]) << 8) |
                                      static_cast<unsigned char>(payload[1]));
    if (!ws::valid_close_code(code)) return fail(kProtocolError, "invalid close code");
    if (!websocket::detail::check_utf8(payload + 2, len - 2)) {
      return fail(kInvalidPayload, "invalid UTF-8");
    }
  }
  // The peer closes: echo its code.
  end_with_close(code ? close_payload(code, {}) : std::string());
}

bool ws_session::take_token() {
  auto now = std::chrono::steady_clock::now();
  double elapsed = std::chrono::duration<double>(now - refill_at_).count();
  refill_at_ = now;
  tokens_ = std::min<double>(st_->opts.ws_burst, tokens_ + elapsed * st_->opts.ws_rate);
  tokens_ -= 1.0;
  return tokens_ >= 0.0;
}

bool ws_session::take_input_token() {
  auto now = std::chrono::steady_clock::now();
  double elapsed = std::chrono::duration<double>(now - input_refill_at_).count();
  input_refill_at_ = now;
  input_tokens_ =
      std::min<double>(st_->opts.ws_input_burst, input_tokens_ + elapsed * st_->opts.ws_input_rate);
  input_tokens_ -= 1.0;
  return input_tokens_ >= 0.0;
}

// A control frame from the client (ping or pong) costs a token like a message. Returns whether it
// was within the budget; a client far over it is closed as rate_limited, as for messages.
bool ws_session::take_control_token() {
  if (take_token()) return true;
  if (tokens_ < -2.0 * st_->opts.ws_burst) {
    muted_ = true;
    close("rate_limited", "Too many messages; the connection was closed.");
  }
  return false;
}

void ws_session::dispatch_message(std::string_view text, bool binary) {
  if (muted_ || close_sent_) return;
  auto start = std::chrono::steady_clock::now();
  st_->m.messages_in.fetch_add(1, std::memory_order_relaxed);
  auto self = shared_from_this();
  // Realtime inputs draw on their own bucket; a client far over either is cut off.
  const bool realtime = st_->h.realtime(text, binary);
  const bool within = realtime ? take_input_token() : take_token();
  const bool flooding = realtime ? input_tokens_ < -2.0 * st_->opts.ws_input_burst
                                 : tokens_ < -2.0 * st_->opts.ws_burst;
  if (within) {
    st_->h.on_ws_message(self, text, realtime, binary);
  } else if (flooding) {
    // A client far over its budget is cut off rather than answered forever.
    muted_ = true;
    close("rate_limited", "Too many messages; the connection was closed.");
    return;
  } else {
    st_->h.on_ws_refused(self, errc::rate_limited, text);
  }
  st_->m.frame_seconds.observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

// Fails the connection (RFC 6455 7.1.7): a close frame with the code, then the socket closes.
void ws_session::fail(std::uint16_t code, std::string_view reason) {
  if (finished_) return;
  muted_ = true;
  end_with_close(close_payload(code, reason));
}

// Stops reading, drops what is queued but not being written, sends this close frame (unless one
// went already) after what is, then tears down; the timer bounds it all.
void ws_session::end_with_close(std::string payload) {
  reading_ = false;
  {
    std::lock_guard lock(mu_);
    closing_ = true;
    pending_.clear();
    close_after_.reset();
  }
  if (!close_sent_) queue_control(ws::opcode::close, std::move(payload));
  finish_after_write_ = true;
  arm_timer(std::chrono::milliseconds(st_->opts.handshake_timeout_ms));
  flush();
}

// --- Writing ------------------------------------------------------------------------------------

// Whether the queue has not drained for limits.slow_consumer_ms: no byte written since then, and
// it was not empty then.
bool ws_session::stalled(std::chrono::steady_clock::time_point now) const {
  return steady_ns(now) - progress_ns_.load(std::memory_order_relaxed) >
         std::int64_t{st_->opts.slow_consumer_ms} * 1'000'000;
}

void ws_session::enqueue(frame f, bool binary) {
  bool schedule = false;
  bool overflow = false;
  {
    std::lock_guard lock(mu_);
    if (closing_) return;
    const auto& o = st_->opts;
    const std::size_t msgs = queued_msgs_ + 1;
    const std::size_t bytes = queued_bytes_ + f->size();
    if (msgs > kHardQueueFactor * o.send_queue_max ||
        bytes > kHardQueueFactor * o.send_queue_max_bytes) {
      overflow = true;  // far past the bound: dropped whether it drains or not
    } else if ((msgs > o.send_queue_max || bytes > o.send_queue_max_bytes) &&
               stalled(std::chrono::steady_clock::now())) {
      overflow = true;  // past the bound and not draining
    } else {
      // A burst past the bound is fine while the client reads. The stall clock starts when the
      // queue stops being empty; every write moves it on.
      if (queued_msgs_ == 0)
        progress_ns_.store(steady_ns(std::chrono::steady_clock::now()), std::memory_order_relaxed);
      queued_msgs_ += 1;
      queued_bytes_ += f->size();
      pending_.push_back({std::move(f), binary});
      if (!flush_scheduled_) schedule = flush_scheduled_ = true;
    }
  }
  if (overflow) {
    // The queue stays as it is (bounded); the client gets what is queued, then session.closed,
    // then close code 1008, or is cut off when it does not read them in time.
    drop_slow_consumer();
    return;
  }
  if (schedule) asio::post(strand_, [self = shared_from_this()] { self->flush(); });
}

void ws_session::drop_slow_consumer() {
  {
    std::lock_guard lock(mu_);
    if (closing_) return;
  }
  st_->m.slow_consumer_drops.fetch_add(1);
  close("slow_consumer", "The connection did not keep up with its messages.");
}

void ws_session::close(std::string_view reason, std::string_view message) {
  {
    std::lock_guard lock(mu_);
    if (closing_) return;
    // One frame past the queue's limit at most: the queue stays bounded.
    auto f = closed_event(reason, message);
    queued_msgs_ += 1;
    queued_bytes_ += f->size();
    pending_.push_back({std::move(f), false});
    closing_ = true;
    close_after_.emplace(reason == "replaced" || reason == "shutdown" ? kGoingAway : kPolicy,
                         std::string(reason));
    flush_scheduled_ = true;
  }
  asio::post(strand_, [self = shared_from_this()] {
    // A peer that stops reading would hold the last frames, and the close, for ever: the timer
    // cuts the socket after the handshake timeout.
    self->arm_timer(std::chrono::milliseconds(self->st_->opts.handshake_timeout_ms));
    self->flush();
  });
}

// Queues a pong for the latest ping, replacing the payload of the pong no write has started yet.
void ws_session::queue_pong(std::string_view payload) {
  if (pong_) {
    pong_->payload = std::make_shared<const std::string>(payload);
    pong_->head_len = static_cast<unsigned char>(
        ws::encode_header(pong_->head, ws::opcode::pong, pong_->payload->size()));
    return;
  }
  queue_control(ws::opcode::pong, std::string(payload));
  pong_ = &out_.back();  // deque: stays valid while other frames are pushed and popped
}

void ws_session::queue_control(ws::opcode op, std::string payload) {
  out_frame f{std::make_shared<const std::string>(std::move(payload)), {}, 0, false};
  f.head_len = static_cast<unsigned char>(ws::encode_header(f.head, op, f.payload->size()));
  out_.push_back(std::move(f));
  if (op == ws::opcode::close) close_sent_ = true;
}

void ws_session::flush() {
  for (int round = 0; round < kMaxFlushRounds; ++round) {
    if (writing_ || finished_) return;
    std::optional<std::pair<std::uint16_t, std::string>> close_now;
    {
      std::lock_guard lock(mu_);
      // A write waits one turn of the event loop, so that frames other handlers are about to
      // queue go out in the same sendmsg (and, for a batching client, the same message). When
      // the server is idle the queue is empty and the turn costs microseconds; under load it
      // turns many small writes into one (rooms of 8: 9 -> 21 envelopes per write, and 1.4x the
      // deliveries per CPU-second; bench/ws_load). A binary frame last in the queue goes at once:
      // it is a game's state (Arena's), the last thing a tick sends its client, so the tick's
      // other frames are already queued before it and the turn would only cost a post.
      if (!yielded_ && !pending_.empty() && !pending_.back().binary && !close_after_ &&
          pending_.size() + out_.size() < kMaxBatch) {
        yielded_ = true;
        flush_scheduled_ = true;
        asio::post(strand_, [self = shared_from_this()] { self->flush(); });
        return;
      }
      taking_.swap(pending_);
      flush_scheduled_ = false;
      if (taking_.empty() && out_.empty() && close_after_) {
        close_now = std::move(close_after_);
        close_after_.reset();
      }
    }
    yielded_ = false;
    if (close_sent_) {
      taking_.clear();  // nothing may follow a close frame
    } else if (!ctx_.batch) {
      for (auto& q : taking_) {
        out_frame o{std::move(q.f), {}, 0, true};
        o.head_len = static_cast<unsigned char>(ws::encode_header(
            o.head, q.binary ? ws::opcode::binary : ws::opcode::text, o.payload->size()));
        out_.push_back(std::move(o));
      }
    } else {
      // A client that asked for batching gets queued envelopes joined by newlines into one
      // message: the first carries the frame header for the whole run, the others a newline.
      std::size_t first = 0, count = 0, bytes = 0;
      auto seal = [&] {
        auto& head = out_[first];
        head.head_len =
            static_cast<unsigned char>(ws::encode_header(head.head, ws::opcode::text, bytes));
      };
      for (auto& q : taking_) {
        auto& f = q.f;
        if (q.binary) {
          // A binary message is never joined to text: it ends the run and goes alone.
          if (count > 0) seal();
          count = 0;
          out_frame o{std::move(f), {}, 0, true};
          o.head_len = static_cast<unsigned char>(
              ws::encode_header(o.head, ws::opcode::binary, o.payload->size()));
          out_.push_back(std::move(o));
          continue;
        }
        if (count > 0 && (count == kMaxBatch || bytes + 1 + f->size() > kMaxBatchBytes)) {
          seal();
          count = 0;
        }
        if (count == 0) {
          first = out_.size();
          bytes = 0;
          out_.push_back(out_frame{std::move(f), {}, 0, true});
        } else {
          out_.push_back(out_frame{std::move(f), {'\n'}, 1, true});
          bytes += 1;
        }
        bytes += out_.back().payload->size();
        ++count;
      }
      if (count > 0) seal();
    }
    taking_.clear();
    if (close_now)
      queue_control(ws::opcode::close, close_payload(close_now->first, close_now->second));
    if (out_.empty()) {
      if (finish_after_write_) teardown();
      return;
    }
    if (!write_out()) return;  // the socket is full: on_write continues
  }
  // Still more to write after many rounds: let other connections have the thread.
  {
    std::lock_guard lock(mu_);
    flush_scheduled_ = true;
  }
  asio::post(strand_, [self = shared_from_this()] { self->flush(); });
}

// Writes as much of out_ as one sendmsg takes. Returns true when all of it went; otherwise an
// asynchronous write of the rest of the first frame is in flight (writing_).
bool ws_session::write_out() {
  iov_.clear();
  std::size_t bytes = 0;
  for (auto it = out_.begin(); it != out_.end(); ++it) {
    if (iov_.size() + 2 > kMaxIov || bytes >= kMaxWriteBytes) break;
    std::size_t skip = it == out_.begin() ? sent_ : 0;
    if (skip < it->head_len) {
      iov_.push_back({it->head + skip, it->head_len - skip});
      bytes += it->head_len - skip;
      skip = 0;
    } else {
      skip -= it->head_len;
    }
    if (skip < it->payload->size()) {
      // sendmsg does not write through iov_base; the cast only satisfies its type.
      iov_.push_back({const_cast<char*>(it->payload->data()) + skip, it->payload->size() - skip});
      bytes += it->payload->size() - skip;
    }
  }
  msghdr msg{};
  msg.msg_iov = iov_.data();
  msg.msg_iovlen = iov_.size();
  ssize_t n;
  do {
    n = ::sendmsg(sock_.native_handle(), &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
    finish();
    return false;
  }
  if (n > 0) consume(static_cast<std::size_t>(n));
  if (static_cast<std::size_t>(std::max<ssize_t>(n, 0)) == bytes) return true;
  // The socket is full: wait for it with an asynchronous write of the rest of the first frame
  // (asio tries once more, then waits for the socket); the next flush writes everything else.
  auto& f = out_.front();
  asio::const_buffer rest = sent_ < f.head_len
                                ? asio::const_buffer(f.head + sent_, f.head_len - sent_)
                                : asio::const_buffer(f.payload->data() + (sent_ - f.head_len),
                                                     f.payload->size() - (sent_ - f.head_len));
  writing_ = true;
  if (&f == pong_) pong_ = nullptr;  // the write in flight points into it
  sock_.async_write_some(rest, [self = shared_from_this()](beast::error_code ec, std::size_t w) {
    self->on_write(ec, w);
  });
  return false;
}

void ws_session::on_write(beast::error_code ec, std::size_t n) {
  writing_ = false;
  if (finished_) {
    out_.clear();
    pong_ = nullptr;
    return;
  }
  if (ec) return finish();
  consume(n);
  flush();
}

// Drops the n bytes just written from the front of out_.
void ws_session::consume(std::size_t n) {
  st_->m.writes_out.fetch_add(1, std::memory_order_relaxed);
  st_->m.bytes_out.fetch_add(n, std::memory_order_relaxed);
  progress_ns_.store(steady_ns(std::chrono::steady_clock::now()), std::memory_order_relaxed);
  std::size_t msgs = 0;
  std::size_t bytes = 0;
  while (n > 0) {
    auto& f = out_.front();
    if (&f == pong_) pong_ = nullptr;  // written, or partly: no longer replaceable
    std::size_t left = f.head_len + f.payload->size() - sent_;
    if (n < left) {
      sent_ += n;
      break;
    }
    n -= left;
    sent_ = 0;
    if (f.counted) {
      ++msgs;
      bytes += f.payload->size();
    }
    out_.pop_front();
  }
  if (msgs == 0) return;
  st_->m.messages_out.fetch_add(msgs, std::memory_order_relaxed);
  std::lock_guard lock(mu_);
  queued_msgs_ -= msgs;
  queued_bytes_ -= bytes;
}

// --- Liveness and the end -----------------------------------------------------------------------

void ws_session::arm_timer(std::chrono::milliseconds after) {
  timer_.expires_after(after);
  timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec) self->on_timer();
  });
}

// One timer per connection: keep-alive ticks every half idle timeout (a ping at a tick with
// nothing received since the last, the socket cut at the next silent one), the hello deadline
// until hello, and the closing handshake's deadline once closing.
void ws_session::on_timer() {
  if (finished_) return;
  bool closing;
  bool stuck;
  {
    std::lock_guard lock(mu_);
    closing = closing_;
    stuck = (queued_msgs_ > st_->opts.send_queue_max ||
             queued_bytes_ > st_->opts.send_queue_max_bytes) &&
            stalled(std::chrono::steady_clock::now());
  }
  if (!open_ || closing || close_sent_) {
    // The handshake, or the close, took too long: the peer is not reading.
    return finish();
  }
  // A queue past its bound that stopped draining, with nothing more sent to it since.
  if (stuck) return drop_slow_consumer();
  auto next = std::chrono::milliseconds(std::max(1, st_->opts.ws_idle_timeout_ms / 2));
  if (!ctx_.hello_done) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(
        accepted_ + std::chrono::milliseconds(st_->opts.handshake_timeout_ms) -
        std::chrono::steady_clock::now());
    if (left.count() <= 0) return close("hello_timeout", "No hello within the handshake timeout.");
    next = std::min(next, left);
  }
  if (rx_) {
    rx_ = false;
    ping_sent_ = false;
  } else if (!ping_sent_) {
    ping_sent_ = true;
    queue_control(ws::opcode::ping, {});
    flush();
  } else {
    // Silent for a whole tick after the ping.
    return finish();
  }
  arm_timer(next);
}

// After our close frame: shut down our side and read (and drop) until the peer closes too, so
// that its close reply reaches an open socket (RFC 6455 7.1.1); the timer bounds the wait.
void ws_session::teardown() {
  if (tearing_down_ || finished_) return;
  tearing_down_ = true;
  beast::error_code ignored;
  sock_.shutdown(tcp::socket::shutdown_send, ignored);
  if (!read_pending_) do_read();
}

void ws_session::finish() {
  if (finished_) return;
  finished_ = true;
  reading_ = false;
  {
    std::lock_guard lock(mu_);
    closing_ = true;
    pending_.clear();
  }
  if (!writing_) out_.clear();  // a write in flight still points into its frame
  pong_ = nullptr;
  timer_.cancel();
  beast::error_code ignored;
  sock_.shutdown(tcp::socket::shutdown_both, ignored);
  sock_.close(ignored);
  if (open_) {
    st_->m.connections_open.fetch_sub(1);
    st_->h.on_ws_close(shared_from_this());
  }
}

}  // namespace maratang::net
