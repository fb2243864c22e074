// RFC 6455 conformance of the server's WebSocket endpoint, checked through a raw TCP socket with a
// client written here byte by byte: the opening handshake, fragmentation, control frames between
// fragments, payload length encodings in both directions, protocol errors (close 1002), UTF-8
// validation across fragment boundaries (1007) and the closing handshake. This is the safety net
// for the server's own framing (src/net/ws_frame.*, src/net/ws_session.cpp); it was written
// against Boost.Beast's websocket::stream, which the server used before. Every read has a
// deadline; nothing here can hang.
//
// Every frame the server sends is also checked against RFC 6455 5.1/5.2/5.5 as it is decoded: not
// masked, no RSV bits (no extension is ever negotiated here), control frames unfragmented and at
// most 125 bytes, minimal length encoding, nothing after a close frame.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <stdexcept>
#include <thread>

#include "harness.hpp"

namespace maratang::it {
namespace {

using steady = std::chrono::steady_clock;

// How long a read waits for something the server should send promptly.
constexpr ms kRead = 3s;

// Frame opcodes (RFC 6455 5.2).
namespace op {
constexpr std::uint8_t cont = 0x0;
constexpr std::uint8_t text = 0x1;
constexpr std::uint8_t binary = 0x2;
constexpr std::uint8_t close = 0x8;
constexpr std::uint8_t ping = 0x9;
constexpr std::uint8_t pong = 0xA;
}  // namespace op

bool is_control(std::uint8_t opcode) {
  return (opcode & 0x8) != 0;
}

// --- SHA-1 and base64, for Sec-WebSocket-Accept --------------------------------------------------

// SHA-1 (FIPS 180-4) of `input`, as 20 raw bytes. Checked against the RFC 6455 example below.
std::string sha1(std::string_view input) {
  std::array<std::uint32_t, 5> h = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  std::string m(input);
  const std::uint64_t bits = static_cast<std::uint64_t>(input.size()) * 8;
  m.push_back(static_cast<char>(0x80));
  while (m.size() % 64 != 56)
    m.push_back('\0');
  for (int i = 7; i >= 0; --i)
    m.push_back(static_cast<char>((bits >> (8 * i)) & 0xFF));
  auto rol = [](std::uint32_t x, int n) { return (x << n) | (x >> (32 - n)); };
  for (std::size_t block = 0; block < m.size(); block += 64) {
    std::array<std::uint32_t, 80> w{};
    for (std::size_t i = 0; i < 16; ++i) {
      for (std::size_t k = 0; k < 4; ++k)
        w[i] = (w[i] << 8) | static_cast<std::uint8_t>(m[block + 4 * i + k]);
    }
    for (std::size_t i = 16; i < 80; ++i)
      w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (std::size_t i = 0; i < 80; ++i) {
      std::uint32_t f = 0;
      std::uint32_t k = 0;
      if (i < 20) {
        f = (b & c) | (~b & d);
        k = 0x5A827999;
      } else if (i < 40) {
        f = b ^ c ^ d;
        k = 0x6ED9EBA1;
      } else if (i < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8F1BBCDC;
      } else {
        f = b ^ c ^ d;
        k = 0xCA62C1D6;
      }
      const std::uint32_t t = rol(a, 5) + f + e + k + w[i];
      e = d;
      d = c;
      c = rol(b, 30);
      b = a;
      a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
  }
  std::string out;
  for (std::size_t i = 0; i < 20; ++i)
    out.push_back(static_cast<char>((h[i / 4] >> (24 - 8 * (i % 4))) & 0xFF));
  return out;
}

std::string base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  auto at_byte = [&](std::size_t i) -> std::uint32_t {
    return i < bytes.size() ? static_cast<std::uint8_t>(bytes[i]) : 0u;
  };
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::uint32_t v = (at_byte(i) << 16) | (at_byte(i + 1) << 8) | at_byte(i + 2);
    const std::size_t left = bytes.size() - i;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(left > 1 ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back(left > 2 ? kAlphabet[v & 63] : '=');
  }
  return out;
}

// RFC 6455 4.2.2: base64(SHA-1(key + GUID)).
std::string expected_accept(std::string_view key) {
  return base64(sha1(std::string(key) + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"));
}

std::mt19937& rng() {
  static thread_local std::mt19937 gen{std::random_device{}()};
  return gen;
}

// A fresh Sec-WebSocket-Key: 16 random bytes, base64.
std::string random_key() {
  std::string bytes;
  for (int i = 0; i < 16; ++i)
    bytes.push_back(static_cast<char>(rng()() & 0xFF));
  return base64(bytes);
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return s;
}

// True when the comma-separated header value `list` holds `token` (case-insensitive).
bool has_token(const std::string& list, std::string_view token) {
  std::string l = lower(list);
  std::string t = lower(std::string(token));
  std::size_t start = 0;
  while (start <= l.size()) {
    std::size_t comma = l.find(',', start);
    std::string item =
        l.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (item == t) return true;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return false;
}

// --- Frames --------------------------------------------------------------------------------------

struct frame_opts {
  bool fin = true;
  bool mask = true;
  std::uint8_t rsv = 0;  // RSV1..RSV3 as 0b100, 0b010, 0b001
};
constexpr frame_opts kFinal{true, true, 0};
constexpr frame_opts kMore{false, true, 0};      // FIN=0: more fragments follow
constexpr frame_opts kUnmasked{true, false, 0};  // forbidden from a client (RFC 6455 5.1)

// One client frame: masked with a random non-zero key unless `o.mask` is false; the payload length
// in its minimal encoding (7 bits, 16 bits after 126, 64 bits after 127).
std::string encode_frame(std::uint8_t opcode, std::string_view payload, frame_opts o = kFinal) {
  std::string out;
  out.push_back(static_cast<char>((o.fin ? 0x80 : 0) | ((o.rsv & 0x7) << 4) | (opcode & 0x0F)));
  const std::uint64_t n = payload.size();
  const std::uint64_t mask_bit = o.mask ? 0x80 : 0;
  if (n < 126) {
    out.push_back(static_cast<char>(mask_bit | n));
  } else if (n <= 0xFFFF) {
    out.push_back(static_cast<char>(mask_bit | 126));
    for (int i = 1; i >= 0; --i)
      out.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
  } else {
    out.push_back(static_cast<char>(mask_bit | 127));
    for (int i = 7; i >= 0; --i)
      out.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
  }
  if (!o.mask) return out + std::string(payload);
  std::array<std::uint8_t, 4> key{};
  while (key == std::array<std::uint8_t, 4>{}) {
    for (auto& k : key)
      k = static_cast<std::uint8_t>(rng()() & 0xFF);
  }
  for (auto k : key)
    out.push_back(static_cast<char>(k));
  for (std::size_t i = 0; i < payload.size(); ++i)
    out.push_back(static_cast<char>(static_cast<std::uint8_t>(payload[i]) ^ key[i % 4]));
  return out;
}

// A close frame's payload: the 2-byte code, then the reason.
std::string close_payload(int code, std::string_view reason = {}) {
  std::string p;
  p.push_back(static_cast<char>((code >> 8) & 0xFF));
  p.push_back(static_cast<char>(code & 0xFF));
  return p + std::string(reason);
}

struct frame {
  bool fin = true;
  std::uint8_t rsv = 0;
  std::uint8_t opcode = 0;
  bool masked = false;
  std::size_t length_bytes = 0;  // the extended payload length field: 0, 2 or 8 bytes
  std::string payload;
};

// A whole data message (its fragments joined).
struct message {
  std::uint8_t opcode = 0;
  std::string payload;
  std::size_t frames = 0;
  std::size_t length_bytes = 0;  // of its first frame
};

// The server's close frame. code 1005 ("no status") stands for an empty payload.
struct close_info {
  int code = 0;
  std::string reason;
};

struct http_head {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string raw;
  std::string header(const std::string& name) const {
    auto it = headers.find(lower(name));
    return it == headers.end() ? std::string() : it->second;
  }
};

std::string upgrade_request(int port, const std::string& target, const header_list& fields) {
  std::string r = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\n";
  for (const auto& [k, v] : fields)
    r += k + ": " + v + "\r\n";
  return r + "\r\n";
}

header_list standard_fields(const std::string& key) {
  return {{"Upgrade", "websocket"},
          {"Connection", "Upgrade"},
          {"Sec-WebSocket-Key", key},
          {"Sec-WebSocket-Version", "13"}};
}

// A WebSocket client over a plain blocking TCP socket; every read polls with a deadline.
class raw_ws {
 public:
  // `receive_buffer` > 0: SO_RCVBUF before connecting.
  explicit raw_ws(int port, int receive_buffer = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    if (receive_buffer > 0)
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // Writes are bounded too: a send() the server never drains fails instead of blocking.
    timeval send_timeout{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      std::string err = std::strerror(errno);
      ::close(fd_);
      throw std::runtime_error("connect: " + err);
    }
  }
  ~raw_ws() {
    if (fd_ >= 0) ::close(fd_);
  }
  raw_ws(const raw_ws&) = delete;
  raw_ws& operator=(const raw_ws&) = delete;

  bool send_bytes(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  bool send_frame(std::uint8_t opcode, std::string_view payload, frame_opts o = kFinal) {
    return send_bytes(encode_frame(opcode, payload, o));
  }
  bool send_text(std::string_view text) { return send_frame(op::text, text); }

  // The HTTP response head (and its Content-Length body) to an upgrade request.
  std::optional<http_head> read_head(ms timeout = kRead) {
    auto deadline = steady::now() + timeout;
    std::size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (fill(deadline) != io::data) return std::nullopt;
    }
    http_head h;
    h.raw = buf_.substr(0, end + 4);
    buf_.erase(0, end + 4);
    std::size_t line_end = h.raw.find("\r\n");
    std::string status_line = h.raw.substr(0, line_end);
    if (status_line.size() >= 12 && status_line.rfind("HTTP/1.1 ", 0) == 0)
      h.status = std::atoi(status_line.c_str() + 9);
    std::size_t pos = line_end + 2;
    while (pos < end) {
      std::size_t next = h.raw.find("\r\n", pos);
      std::string line = h.raw.substr(pos, next - pos);
      pos = next + 2;
      auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = lower(line.substr(0, colon));
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      value.erase(value.find_last_not_of(" \t") + 1);
      auto& slot = h.headers[name];
      slot = slot.empty() ? value : slot + ", " + value;
    }
    if (auto cl = h.headers.find("content-length"); cl != h.headers.end()) {
      auto n = static_cast<std::size_t>(std::atoll(cl->second.c_str()));
      while (buf_.size() < n && fill(deadline) == io::data) {
      }
      h.body = buf_.substr(0, n);
      buf_.erase(0, std::min(n, buf_.size()));
    }
    return h;
  }

  // The next frame exactly as the server sent it (pings and pongs included); nullopt when the
  // connection closed or nothing complete arrived in time.
  std::optional<frame> next_frame(ms timeout = kRead) {
    return next_frame_until(steady::now() + timeout);
  }

  // The next data message. Pings are answered with a pong carrying their payload, pongs are kept
  // in pongs(); a close frame ends the wait (nullopt; see close()).
  std::optional<message> next_message(ms timeout = kRead) {
    auto deadline = steady::now() + timeout;
    message m;
    bool started = false;
    for (;;) {
      auto f = next_frame_until(deadline);
      if (!f) return std::nullopt;
      if (f->opcode == op::ping) {
        send_frame(op::pong, f->payload);
        continue;
      }
      if (f->opcode == op::pong) {
        pongs_.push_back(f->payload);
        continue;
      }
      if (f->opcode == op::close) return std::nullopt;
      if (f->opcode == op::cont) {
        if (!started) ADD_FAILURE() << "server sent a continuation frame with no message started";
        m.payload += f->payload;
      } else {
        if (started) ADD_FAILURE() << "server began a new message inside a fragmented one";
        started = true;
        m.opcode = f->opcode;
        m.payload = std::move(f->payload);
        m.length_bytes = f->length_bytes;
      }
      ++m.frames;
      if (f->fin) return m;
    }
  }

  // The next message parsed as a JSON object (the server sends one envelope per message).
  std::optional<json::object> recv_json(ms timeout = kRead) {
    auto m = next_message(timeout);
    if (!m) return std::nullopt;
    last_ = *m;
    EXPECT_EQ(int{m->opcode}, int{op::text}) << "the server's messages are text frames";
    boost::system::error_code ec;
    auto v = json::parse(m->payload, ec);
    if (ec || !v.is_object()) {
      ADD_FAILURE() << "not a JSON object: " << m->payload.substr(0, 200);
      return std::nullopt;
    }
    return std::move(v.as_object());
  }

  // Reads (skipping data messages) until the server's close frame; nullopt when the connection
  // ended without one or nothing came in time.
  std::optional<close_info> read_until_close(ms timeout = kRead) {
    auto deadline = steady::now() + timeout;
    while (!close_) {
      auto left = std::chrono::duration_cast<ms>(deadline - steady::now());
      if (left <= ms(0) || eof_) break;
      auto m = next_message(left);
      if (m) skipped_.push_back(std::move(*m));
    }
    return close_;
  }

  // True when the server closes the TCP connection (EOF, or a reset) within `timeout`.
  bool wait_eof(ms timeout = kRead) {
    auto deadline = steady::now() + timeout;
    for (;;) {
      if (!buf_.empty()) {
        // Whatever follows the close frame: RFC 6455 5.5.1, nothing may.
        stray_after_close_ += buf_.size();
        buf_.clear();
      }
      auto r = fill(deadline);
      if (r == io::closed) return true;
      if (r == io::timeout) return false;
    }
  }

  const std::optional<close_info>& close() const noexcept { return close_; }
  bool eof() const noexcept { return eof_; }
  const std::string& error() const noexcept { return error_; }
  const std::vector<std::string>& pongs() const noexcept { return pongs_; }
  const message& last() const noexcept { return last_; }
  std::size_t stray_after_close() const noexcept { return stray_after_close_; }
  // Data messages read_until_close() skipped.
  const std::vector<message>& skipped() const noexcept { return skipped_; }
  // What the connection ended as, for failure messages.
  std::string state() const {
    if (close_) return "close " + std::to_string(close_->code) + " \"" + close_->reason + "\"";
    if (eof_)
      return "TCP closed without a close frame" + (error_.empty() ? "" : " (" + error_ + ")");
    return "still open";
  }

 private:
  enum class io { data, closed, timeout };

  io fill(steady::time_point deadline) {
    if (eof_) return io::closed;
    for (;;) {
      auto left = std::chrono::duration_cast<ms>(deadline - steady::now()).count();
      if (left < 0) left = 0;
      pollfd p{fd_, POLLIN, 0};
      int r = ::poll(&p, 1, static_cast<int>(left));
      if (r < 0 && errno == EINTR) continue;
      if (r == 0) return io::timeout;
      std::array<char, 65536> chunk;
      ssize_t n = r < 0 ? -1 : ::recv(fd_, chunk.data(), chunk.size(), 0);
      if (n > 0) {
        buf_.append(chunk.data(), static_cast<std::size_t>(n));
        return io::data;
      }
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n < 0) error_ = std::strerror(errno);
      eof_ = true;
      return io::closed;
    }
  }

  bool try_parse(frame& f) {
    auto byte = [this](std::size_t i) { return static_cast<std::uint8_t>(buf_[i]); };
    if (buf_.size() < 2) return false;
    std::size_t pos = 2;
    std::uint64_t len = byte(1) & 0x7F;
    std::size_t ext = len == 126 ? 2 : len == 127 ? 8 : 0;
    if (buf_.size() < pos + ext) return false;
    if (ext > 0) {
      len = 0;
      for (std::size_t i = 0; i < ext; ++i)
        len = (len << 8) | byte(pos + i);
      pos += ext;
    }
    const bool masked = (byte(1) & 0x80) != 0;
    std::array<std::uint8_t, 4> key{};
    if (masked) {
      if (buf_.size() < pos + 4) return false;
      for (std::size_t i = 0; i < 4; ++i)
        key[i] = byte(pos + i);
      pos += 4;
    }
    if (buf_.size() - pos < len) return false;
    f.fin = (byte(0) & 0x80) != 0;
    f.rsv = static_cast<std::uint8_t>((byte(0) >> 4) & 0x7);
    f.opcode = static_cast<std::uint8_t>(byte(0) & 0x0F);
    f.masked = masked;
    f.length_bytes = ext;
    f.payload = buf_.substr(pos, static_cast<std::size_t>(len));
    if (masked) {
      for (std::size_t i = 0; i < f.payload.size(); ++i)
        f.payload[i] = static_cast<char>(static_cast<std::uint8_t>(f.payload[i]) ^ key[i % 4]);
    }
    buf_.erase(0, pos + static_cast<std::size_t>(len));
    return true;
  }

  std::optional<frame> next_frame_until(steady::time_point deadline) {
    frame f;
    while (!try_parse(f)) {
      if (fill(deadline) != io::data) return std::nullopt;
    }
    check_server_frame(f);
    if (f.opcode == op::close) {
      close_info c;
      if (f.payload.empty()) {
        c.code = 1005;
      } else if (f.payload.size() == 1) {
        ADD_FAILURE() << "a close frame with a 1-byte payload (RFC 6455 5.5.1)";
      } else {
        c.code = (static_cast<std::uint8_t>(f.payload[0]) << 8) |
                 static_cast<std::uint8_t>(f.payload[1]);
        c.reason = f.payload.substr(2);
      }
      close_ = c;
    }
    return f;
  }

  // RFC 6455 rules for what a server may send.
  void check_server_frame(const frame& f) {
    EXPECT_FALSE(close_) << "a frame (opcode " << int{f.opcode} << ") after the close frame";
    EXPECT_FALSE(f.masked) << "RFC 6455 5.1: a server must not mask its frames";
    EXPECT_EQ(int{f.rsv}, 0) << "RSV bits set with no extension negotiated";
    const bool known = f.opcode <= op::binary || (f.opcode >= op::close && f.opcode <= op::pong);
    EXPECT_TRUE(known) << "reserved opcode " << int{f.opcode};
    if (is_control(f.opcode)) {
      EXPECT_TRUE(f.fin) << "a fragmented control frame";
      EXPECT_LE(f.payload.size(), 125u) << "a control frame over 125 bytes";
    }
    if (f.length_bytes == 2) {
      EXPECT_GE(f.payload.size(), 126u) << "length not minimally encoded";
    }
    if (f.length_bytes == 8) {
      EXPECT_GE(f.payload.size(), 65536u) << "length not minimally encoded";
    }
  }

  int fd_ = -1;
  std::string buf_;
  bool eof_ = false;
  std::string error_;
  std::optional<close_info> close_;
  std::vector<std::string> pongs_;
  std::vector<message> skipped_;
  message last_;
  std::size_t stray_after_close_ = 0;
};

std::string time_sync(const json::value& id, std::int64_t client_send) {
  return json::serialize(json::object{
      {"type", "time.sync"}, {"id", id}, {"data", json::object{{"client_send", client_send}}}});
}

// A time.sync request padded (with an ignored "pad" field) to exactly `total` bytes.
std::string padded_time_sync(std::size_t total, std::int64_t client_send) {
  std::string head = R"({"type":"time.sync","id":)" + std::to_string(client_send) +
                     R"(,"data":{"client_send":)" + std::to_string(client_send) + R"(,"pad":")";
  std::string tail = "\"}}";
  return head + std::string(total - head.size() - tail.size(), 'p') + tail;
}

::testing::AssertionResult is_time_sync_reply(const std::optional<json::object>& f,
                                              const json::value& id, std::int64_t client_send) {
  if (!f) return ::testing::AssertionFailure() << "no reply";
  const auto& o = *f;
  const auto* type = o.if_contains("type");
  const auto* got_id = o.if_contains("id");
  const auto* ok = o.if_contains("ok");
  const auto* data = o.if_contains("data");
  const json::value* cs =
      data && data->is_object() ? data->as_object().if_contains("client_send") : nullptr;
  if (!type || *type != json::value("time.sync") || !got_id || *got_id != id || !ok ||
      *ok != json::value(true) || !cs || *cs != json::value(client_send)) {
    return ::testing::AssertionFailure()
           << "expected the time.sync reply with id " << json::serialize(id) << " and client_send "
           << client_send << ", got " << json::serialize(o);
  }
  return ::testing::AssertionSuccess();
}

// The connection answers a time.sync (it still works).
::testing::AssertionResult answers(raw_ws& c, std::int64_t client_send = 4242) {
  if (!c.send_text(time_sync(client_send, client_send)))
    return ::testing::AssertionFailure() << "write failed";
  auto r = c.recv_json();
  if (!r) return ::testing::AssertionFailure() << "no reply; connection: " << c.state();
  return is_time_sync_reply(r, json::value(client_send), client_send);
}

class ws_protocol_test : public ::testing::Test {
 protected:
  void start(std::vector<std::string> sets = {}) {
    srv_ = std::make_unique<server_process>(std::move(sets));
    p_ = make_player(port(), "Framer");
  }
  int port() const { return srv_->port(); }
  std::string target(const player& p) const { return "/ws?token=" + url_encode(p.token); }
  std::string target() const { return target(p_); }

  // A raw client that completed the opening handshake and, when `hello`, the hello exchange.
  // Throws (failing the test) when either does not succeed.
  std::unique_ptr<raw_ws> open(bool hello = true, int receive_buffer = 0) {
    return open_as(p_, hello, receive_buffer);
  }
  std::unique_ptr<raw_ws> open_as(const player& p, bool hello = true, int receive_buffer = 0) {
    auto c = std::make_unique<raw_ws>(port(), receive_buffer);
    const std::string key = random_key();
    if (!c->send_bytes(upgrade_request(port(), target(p), standard_fields(key))))
      throw std::runtime_error("could not send the upgrade request");
    auto head = c->read_head();
    if (!head) throw std::runtime_error("no answer to the upgrade request");
    if (head->status != 101)
      throw std::runtime_error("upgrade refused:\n" + head->raw + head->body);
    if (head->header("sec-websocket-accept") != expected_accept(key))
      throw std::runtime_error("wrong Sec-WebSocket-Accept:\n" + head->raw);
    if (hello) say_hello(*c);
    return c;
  }
  static void say_hello(raw_ws& c) {
    c.send_text(R"({"type":"hello","id":1,"data":{"version":1}})");
    auto r = c.recv_json();
    if (!r) throw std::runtime_error("no hello reply; connection: " + c.state());
    const auto* ok = r->if_contains("ok");
    if (str(at(*r, "type")) != "hello" || at(*r, "id") != json::value(1) || !ok ||
        *ok != json::value(true) || !r->contains("data")) {
      throw std::runtime_error("bad hello reply: " + json::serialize(*r));
    }
  }

  // RFC 6455 7.1.7: the server fails the connection: a close frame with `code`, then it closes
  // the TCP connection without waiting for anything more from the client.
  void expect_failed(raw_ws& c, std::initializer_list<int> codes) {
    auto cl = c.read_until_close();
    ASSERT_TRUE(cl) << "no close frame; connection: " << c.state();
    EXPECT_NE(std::find(codes.begin(), codes.end(), cl->code), codes.end())
        << "close code " << cl->code << " (reason \"" << cl->reason << "\")";
    EXPECT_TRUE(c.wait_eof()) << "the server kept the TCP connection open after failing it";
    EXPECT_EQ(c.stray_after_close(), 0u) << "bytes after the close frame";
    EXPECT_EQ(c.skipped().size(), 0u)
        << "a message was answered before the close: " << c.skipped().front().payload;
  }
  void expect_failed(raw_ws& c, int code) { expect_failed(c, {code}); }

  // Only that connection failed: the server is fine and a new client gets in.
  void expect_server_fine() {
    EXPECT_EQ(http_call(port(), "GET", "/health").status, 200);
    auto c = open();
    EXPECT_TRUE(answers(*c));
    ws_client fresh(port(), p_.token);
    fresh.hello();
    EXPECT_TRUE(fresh.ping_ok());
  }

  // Sends `bad` on a fresh connection that said hello; expects a 1002 failure.
  void expect_protocol_error(std::string_view bad) {
    auto c = open();
    ASSERT_TRUE(c->send_bytes(bad));
    expect_failed(*c, 1002);
  }

  std::unique_ptr<server_process> srv_;
  player p_;
};

const std::vector<std::string> kFast = {"limits.ws_rate=100000", "limits.ws_burst=100000"};

// --- 1. Opening handshake ------------------------------------------------------------------------

TEST(ws_protocol_helpers, sha1_and_base64_give_the_rfc_example_accept) {
  EXPECT_EQ(base64(sha1("abc")), "qZk+NkcGgWq6PiVxeFDCbJzQ2J0=");
  EXPECT_EQ(base64(sha1("")), "2jmj7l5rSw0yVb/vlWAYkK/YBwk=");
  EXPECT_EQ(expected_accept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  EXPECT_EQ(base64("f"), "Zg==");
  EXPECT_EQ(base64("fo"), "Zm8=");
  EXPECT_EQ(base64("foo"), "Zm9v");
}

TEST_F(ws_protocol_test, handshake_answers_101_with_the_accept_key) {
  start();
  // The RFC 6455 1.3 example key, whose accept value is printed in the RFC.
  {
    raw_ws c(port());
    ASSERT_TRUE(c.send_bytes(
        upgrade_request(port(), target(), standard_fields("dGhlIHNhbXBsZSBub25jZQ=="))));
    auto head = c.read_head();
    ASSERT_TRUE(head) << "no answer; connection: " << c.state();
    EXPECT_EQ(head->status, 101) << head->raw << head->body;
    EXPECT_TRUE(head->raw.rfind("HTTP/1.1 101 ", 0) == 0) << head->raw;
    EXPECT_TRUE(has_token(head->header("upgrade"), "websocket")) << head->raw;
    EXPECT_TRUE(has_token(head->header("connection"), "upgrade")) << head->raw;
    EXPECT_EQ(head->header("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") << head->raw;
    // Nothing was offered, so nothing may be accepted (RFC 6455 4.2.2).
    EXPECT_EQ(head->header("sec-websocket-extensions"), "") << head->raw;
    EXPECT_EQ(head->header("sec-websocket-protocol"), "") << head->raw;
    say_hello(c);
    EXPECT_TRUE(answers(c));
  }
  // A random key, and the header spellings browsers use: names in any case, "keep-alive, Upgrade"
  // (Firefox), "WebSocket" (tokens are case-insensitive, RFC 6455 4.2.1).
  {
    raw_ws c(port());
    const std::string key = random_key();
    ASSERT_TRUE(c.send_bytes(upgrade_request(port(), target(),
                                             {{"upgrade", "WebSocket"},
                                              {"connection", "keep-alive, Upgrade"},
                                              {"sec-websocket-key", key},
                                              {"SEC-WEBSOCKET-VERSION", "13"},
                                              {"Origin", "http://localhost"}})));
    auto head = c.read_head();
    ASSERT_TRUE(head) << "no answer; connection: " << c.state();
    EXPECT_EQ(head->status, 101) << head->raw << head->body;
    EXPECT_EQ(head->header("sec-websocket-accept"), expected_accept(key)) << head->raw;
    say_hello(c);
    EXPECT_TRUE(answers(c));
  }
}

// RFC 6455 4.2.2 / 4.4: an unsupported version is refused with an HTTP error (the RFC's example is
// 426 Upgrade Required) and a Sec-WebSocket-Version header naming the versions understood.
TEST_F(ws_protocol_test, handshake_with_version_8_is_refused_with_426_naming_13) {
  start();
  raw_ws c(port());
  auto fields = standard_fields(random_key());
  fields.back().second = "8";
  ASSERT_TRUE(c.send_bytes(upgrade_request(port(), target(), fields)));
  auto head = c.read_head();
  ASSERT_TRUE(head) << "no answer; connection: " << c.state();
  EXPECT_NE(head->status, 101) << head->raw;
  EXPECT_EQ(head->status, 426) << head->raw << head->body;
  EXPECT_TRUE(has_token(head->header("sec-websocket-version"), "13")) << head->raw;
  EXPECT_EQ(head->header("sec-websocket-accept"), "") << head->raw;
}

// RFC 6455 4.2.1: a handshake without Sec-WebSocket-Key is not a WebSocket handshake; the server
// answers with an HTTP error such as 400 Bad Request.
TEST_F(ws_protocol_test, handshake_without_a_key_is_refused_with_400) {
  start();
  raw_ws c(port());
  ASSERT_TRUE(c.send_bytes(upgrade_request(
      port(), target(),
      {{"Upgrade", "websocket"}, {"Connection", "Upgrade"}, {"Sec-WebSocket-Version", "13"}})));
  auto head = c.read_head();
  ASSERT_TRUE(head) << "no answer; connection: " << c.state();
  EXPECT_EQ(head->status, 400) << head->raw << head->body;
  EXPECT_EQ(head->header("sec-websocket-accept"), "") << head->raw;
}

// RFC 6455 4.2.1 item 5 requires a key that "when decoded, is 16 bytes in length", and a server
// that finds the handshake does not match "MUST stop processing the client's handshake and return
// an HTTP response with an appropriate error code (such as 400 Bad Request)". (Beast 1.81, which
// the server used before it framed WebSocket itself, only checked that the key was at most 24
// characters.)
TEST_F(ws_protocol_test, handshake_with_a_key_that_is_not_16_bytes_is_refused) {
  start();
  for (std::string key : {std::string("abc"), base64(std::string(15, 'k')),
                          base64(std::string(17, 'k')), std::string("not base64 at all!!!!!==")}) {
    SCOPED_TRACE(key);
    raw_ws c(port());
    ASSERT_TRUE(c.send_bytes(upgrade_request(port(), target(), standard_fields(key))));
    auto head = c.read_head();
    ASSERT_TRUE(head) << "no answer; connection: " << c.state();
    EXPECT_GE(head->status, 400) << head->raw;
    EXPECT_LT(head->status, 500) << head->raw;
  }
}

// --- 2-3. Fragmentation --------------------------------------------------------------------------

TEST_F(ws_protocol_test, a_message_in_three_fragments_is_one_message) {
  start();
  auto c = open();
  const std::string msg = time_sync(7, 123456);
  const std::size_t a = msg.size() / 3, b = 2 * msg.size() / 3;
  ASSERT_TRUE(c->send_frame(op::text, std::string_view(msg).substr(0, a), kMore));
  ASSERT_TRUE(c->send_frame(op::cont, std::string_view(msg).substr(a, b - a), kMore));
  ASSERT_TRUE(c->send_frame(op::cont, std::string_view(msg).substr(b), kFinal));
  EXPECT_TRUE(is_time_sync_reply(c->recv_json(), json::value(7), 123456));
  // Answered once: the next reply is for the next request.
  EXPECT_TRUE(answers(*c, 99));
  // Empty fragments are fragments too (RFC 6455 5.4 allows zero-length ones).
  const std::string msg2 = time_sync(8, 8);
  ASSERT_TRUE(c->send_frame(op::text, "", kMore));
  ASSERT_TRUE(c->send_frame(op::cont, msg2, kMore));
  ASSERT_TRUE(c->send_frame(op::cont, "", kFinal));
  EXPECT_TRUE(is_time_sync_reply(c->recv_json(), json::value(8), 8));
}

// RFC 6455 5.4/5.5: control frames may be injected between the fragments of a message, and a ping
// is answered with a pong carrying the same payload.
TEST_F(ws_protocol_test, a_ping_between_fragments_is_answered_and_the_message_completes) {
  start();
  auto c = open();
  const std::string msg = time_sync(11, 1111);
  const std::size_t half = msg.size() / 2;
  ASSERT_TRUE(c->send_frame(op::text, std::string_view(msg).substr(0, half), kMore));
  ASSERT_TRUE(c->send_frame(op::ping, "between-fragments"));
  // The message is unfinished, so the pong is the only thing the server can send now.
  auto f = c->next_frame();
  ASSERT_TRUE(f) << "no pong while a message was unfinished; connection: " << c->state();
  EXPECT_EQ(int{f->opcode}, int{op::pong});
  EXPECT_EQ(f->payload, "between-fragments");
  ASSERT_TRUE(c->send_frame(op::cont, std::string_view(msg).substr(half), kFinal));
  EXPECT_TRUE(is_time_sync_reply(c->recv_json(), json::value(11), 1111));
  // A pong (unsolicited) between fragments is ignored just as well.
  ASSERT_TRUE(c->send_frame(op::text, std::string_view(msg).substr(0, half), kMore));
  ASSERT_TRUE(c->send_frame(op::pong, "ignored"));
  ASSERT_TRUE(c->send_frame(op::cont, std::string_view(msg).substr(half), kFinal));
  EXPECT_TRUE(is_time_sync_reply(c->recv_json(), json::value(11), 1111));
}

// --- 4. Ping and pong ----------------------------------------------------------------------------

TEST_F(ws_protocol_test, ping_is_answered_with_a_pong_carrying_the_same_payload) {
  start();
  auto c = open();
  std::string payload;
  for (int i = 0; i < 125; ++i)
    payload.push_back(static_cast<char>(i * 7 + 1));  // arbitrary bytes, not UTF-8
  for (const std::string& p : {payload, std::string(), std::string("x")}) {
    SCOPED_TRACE(p.size());
    ASSERT_TRUE(c->send_frame(op::ping, p));
    auto f = c->next_frame();
    ASSERT_TRUE(f) << "no pong; connection: " << c->state();
    EXPECT_EQ(int{f->opcode}, int{op::pong});
    EXPECT_EQ(f->payload, p);
  }
  EXPECT_TRUE(answers(*c));
}

// RFC 6455 5.5.3: a pong may be sent unsolicited (a unidirectional heartbeat); no answer expected.
TEST_F(ws_protocol_test, an_unsolicited_pong_is_ignored) {
  start();
  auto c = open();
  ASSERT_TRUE(c->send_frame(op::pong, "heartbeat"));
  ASSERT_TRUE(c->send_frame(op::pong, ""));
  // The next thing the server sends is the time.sync reply: nothing answered the pongs.
  ASSERT_TRUE(c->send_text(time_sync(3, 33)));
  auto f = c->next_frame();
  ASSERT_TRUE(f) << "connection: " << c->state();
  EXPECT_EQ(int{f->opcode}, int{op::text}) << "payload: " << f->payload;
  EXPECT_TRUE(f->fin);
  boost::system::error_code ec;
  auto v = json::parse(f->payload, ec);
  ASSERT_FALSE(ec) << f->payload;
  ASSERT_TRUE(v.is_object()) << f->payload;
  EXPECT_TRUE(is_time_sync_reply(v.as_object(), json::value(3), 33));
  EXPECT_TRUE(answers(*c));
}

// A ping flood (issue 11): one client sends pings as fast as it can and never reads. Pings count
// against the message rate (a ping over it is not answered; a client far over it is closed as
// rate_limited), and the server keeps at most one unsent pong, answering only the latest ping
// (RFC 6455 5.5.3), so the flood costs the server a bounded amount of memory.

// `count` pings in one buffer, each with the largest payload (125 bytes) and its own mask: the
// pongs outgrow the sockets' buffers quickly, so what the server keeps for them shows in its RSS.
std::string ping_burst(int count) {
  const std::string payload(125, 'p');
  std::string out;
  for (int i = 0; i < count; ++i)
    out += encode_frame(op::ping, payload);
  return out;
}

// Sends `chunks` bursts of 1,000 pings from `flood` (stopping when a write fails) and returns the
// highest server RSS seen during the flood and for half a second after it.
std::int64_t flood_pings(server_process& srv, raw_ws& flood, int chunks, int& sent) {
  const std::string chunk = ping_burst(1000);
  std::int64_t peak = srv.rss_bytes();
  for (int i = 0; i < chunks; ++i) {
    if (!flood.send_bytes(chunk)) break;
    sent += 1000;
    peak = std::max(peak, srv.rss_bytes());
  }
  for (int i = 0; i < 10; ++i) {
    std::this_thread::sleep_for(50ms);  // sampling the server's memory after the flood
    peak = std::max(peak, srv.rss_bytes());
  }
  return peak;
}

TEST_F(ws_protocol_test, a_ping_flood_that_never_reads_is_cut_off_and_costs_little_memory) {
  start();
  auto other = open_as(make_player(port(), "Other"));
  const std::int64_t before = srv_->rss_bytes();
  auto flood = open(true, 4096);
  int sent = 0;
  const auto peak = flood_pings(*srv_, *flood, 200, sent);
  const double growth_mib = static_cast<double>(peak - before) / (1 << 20);
  std::printf("[ ping flood ] %d pings sent without reading; server RSS grew by %.1f MiB\n", sent,
              growth_mib);
  EXPECT_LT(growth_mib, 20.0) << "after " << sent << " pings";
  // Another client is still answered promptly.
  const auto t0 = steady::now();
  EXPECT_TRUE(answers(*other));
  EXPECT_LT(steady::now() - t0, 1s);
  // The flooder, reading at last, finds itself closed for its rate (with session.closed first).
  auto cl = flood->read_until_close(10s);
  ASSERT_TRUE(cl) << "the flooder was not closed; connection: " << flood->state() << ", "
                  << flood->pongs().size() << " pongs";
  EXPECT_EQ(cl->code, 1008);
  EXPECT_EQ(cl->reason, "rate_limited");
  ASSERT_FALSE(flood->skipped().empty());
  EXPECT_NE(flood->skipped().back().payload.find("\"rate_limited\""), std::string::npos)
      << flood->skipped().back().payload;
  EXPECT_LE(flood->pongs().size(), 70u) << "pings past the burst were answered";
}

TEST_F(ws_protocol_test, a_ping_flood_within_the_rate_is_answered_by_the_latest_pong_only) {
  start(kFast);
  auto other = open_as(make_player(port(), "Other"));
  const std::int64_t before = srv_->rss_bytes();
  auto flood = open(true, 4096);
  int sent = 0;
  const auto peak = flood_pings(*srv_, *flood, 200, sent);
  const double growth_mib = static_cast<double>(peak - before) / (1 << 20);
  std::printf(
      "[ ping flood ] %d pings sent within the rate without reading; server RSS grew by "
      "%.1f MiB\n",
      sent, growth_mib);
#if !defined(__SANITIZE_ADDRESS__)
  // (Under ASan freed memory waits in its quarantine, so RSS is no measure there.)
  EXPECT_LT(growth_mib, 20.0) << "after " << sent << " pings";
#endif
  EXPECT_EQ(sent, 200000);
  const auto t0 = steady::now();
  EXPECT_TRUE(answers(*other));
  EXPECT_LT(steady::now() - t0, 1s);
  // After a pause (the bucket refills), one more ping: the last pong carries its payload.
  std::this_thread::sleep_for(1500ms);  // lets the token bucket refill (100,000 a second)
  ASSERT_TRUE(flood->send_frame(op::ping, "the last one"));
  std::size_t pongs = 0;
  std::optional<frame> f;
  while ((f = flood->next_frame(10s))) {
    ASSERT_EQ(int{f->opcode}, int{op::pong}) << f->payload;
    ++pongs;
    if (f->payload == "the last one") break;
  }
  ASSERT_TRUE(f) << "no pong for the last ping after " << pongs << " pongs; " << flood->state();
  std::printf("[ ping flood ] %zu pongs received for %d pings\n", pongs, sent + 1);
  EXPECT_TRUE(answers(*flood));
}

// --- 5-6. TCP segmentation -----------------------------------------------------------------------

TEST_F(ws_protocol_test, many_frames_in_one_write_are_all_answered_in_order) {
  start(kFast);
  auto c = open();
  // 50 frames of 60 to ~1900 bytes (7- and 16-bit lengths), about 50 KB in one send(): frame
  // boundaries fall anywhere in the server's reads.
  std::string burst;
  for (int i = 0; i < 50; ++i) {
    burst += i % 2 == 0
                 ? encode_frame(op::text, time_sync(1000 + i, 1000 + i))
                 : encode_frame(op::text,
                                padded_time_sync(100 + 37 * static_cast<std::size_t>(i), 1000 + i));
  }
  ASSERT_TRUE(c->send_bytes(burst));
  for (int i = 0; i < 50; ++i) {
    auto r = c->recv_json();
    ASSERT_TRUE(is_time_sync_reply(r, json::value(1000 + i), 1000 + i)) << "reply " << i;
  }
  EXPECT_TRUE(answers(*c));
}

TEST_F(ws_protocol_test, a_frame_written_byte_by_byte_is_answered) {
  start();
  auto c = open();
  // A 16-bit length frame, so the extended length and the mask key arrive a byte at a time too.
  const std::string bytes = encode_frame(op::text, padded_time_sync(200, 77));
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    ASSERT_TRUE(c->send_bytes(std::string_view(bytes).substr(i, 1)));
    // TCP_NODELAY is set: each byte leaves as its own segment. A short pause now and then keeps
    // the server's reads from catching several at once.
    if (i < 16 || i % 16 == 0) std::this_thread::sleep_for(1ms);
  }
  EXPECT_TRUE(is_time_sync_reply(c->recv_json(), json::value(77), 77));
  EXPECT_TRUE(answers(*c));
}

// --- 7. Payload length encodings -----------------------------------------------------------------

TEST_F(ws_protocol_test, client_payload_lengths_in_7_16_and_64_bits_are_read) {
  start({"limits.ws_message_max=1048576", "limits.ws_rate=100000", "limits.ws_burst=100000"});
  auto c = open();
  // Each side of each boundary: 125 (largest 7-bit), 126 and 200 (16-bit), 65535 (largest 16-bit),
  // 65536 and 70000 (64-bit).
  for (std::size_t size : {std::size_t{125}, std::size_t{126}, std::size_t{200}, std::size_t{65535},
                           std::size_t{65536}, std::size_t{70000}}) {
    SCOPED_TRACE(size);
    const auto n = static_cast<std::int64_t>(size);
    const std::string bytes = encode_frame(op::text, padded_time_sync(size, n));
    const int len7 = static_cast<std::uint8_t>(bytes[1]) & 0x7F;
    EXPECT_EQ(len7, size < 126       ? static_cast<int>(size)
                    : size <= 0xFFFF ? 126
                                     : 127)
        << "the test's own encoder";
    ASSERT_TRUE(c->send_bytes(bytes));
    EXPECT_TRUE(is_time_sync_reply(c->recv_json(), json::value(n), n));
  }
  // One message whose fragments use all three encodings: 100 bytes, 300 bytes, then 69,600.
  const std::string big = padded_time_sync(70000, 5);
  ASSERT_TRUE(c->send_frame(op::text, std::string_view(big).substr(0, 100), kMore));
  ASSERT_TRUE(c->send_frame(op::cont, std::string_view(big).substr(100, 300), kMore));
  ASSERT_TRUE(c->send_frame(op::cont, std::string_view(big).substr(400), kFinal));
  EXPECT_TRUE(is_time_sync_reply(c->recv_json(), json::value(5), 5));
}

TEST_F(ws_protocol_test, server_frames_with_16_and_64_bit_lengths_are_sent_correctly) {
  start({"limits.ws_message_max=1048576"});
  auto c = open();
  // Over 65535 bytes: the error for an unknown room setting quotes the setting's name, so a
  // 70,000-byte name makes a 70 KB reply.
  const std::string key(70000, 'k');
  json::object settings;
  settings[key] = 1;
  ASSERT_TRUE(c->send_text(json::serialize(json::object{
      {"type", "room.create"},
      {"id", "big"},
      {"data",
       json::object{{"mode", "test.counter"}, {"name", "Lengths"}, {"settings", settings}}}})));
  auto r = c->recv_json();
  ASSERT_TRUE(r) << c->state();
  EXPECT_EQ(error_code(*r), "bad_field") << json::serialize(*r).substr(0, 300);
  EXPECT_EQ(at(*r, "id"), json::value("big"));
  EXPECT_NE(str(at(*r, "error.message")).find(key), std::string::npos);
  EXPECT_EQ(c->last().length_bytes, 8u) << "a 64-bit payload length";
  EXPECT_GT(c->last().payload.size(), 65535u);

  // Between 126 and 65535 bytes: a 500-syllable chat line (1500 bytes of UTF-8), which comes
  // back as a room.chat event in a room of one.
  ASSERT_TRUE(c->send_text(
      R"({"type":"room.create","id":"room","data":{"mode":"test.counter","name":"Lengths"}})"));
  std::string text;
  for (int i = 0; i < 500; ++i)
    text += "\xEA\xB0\x80";  // 가
  ASSERT_TRUE(c->send_text(json::serialize(json::object{
      {"type", "room.chat"}, {"id", "chat"}, {"data", json::object{{"text", text}}}})));
  bool created = false, replied = false, event = false;
  for (int i = 0; i < 20 && !(created && replied && event); ++i) {
    auto f = c->recv_json();
    ASSERT_TRUE(f) << "connection: " << c->state();
    if (f->contains("id") && f->at("id") == json::value("room")) {
      EXPECT_EQ(error_code(*f), "") << json::serialize(*f);
      created = true;
    } else if (f->contains("id") && f->at("id") == json::value("chat")) {
      EXPECT_EQ(error_code(*f), "") << json::serialize(*f);
      replied = true;
    } else if (str(at(*f, "type")) == "room.chat") {
      EXPECT_EQ(str(at(*f, "data.text")), text);
      EXPECT_EQ(c->last().length_bytes, 2u) << "a 16-bit payload length";
      EXPECT_GT(c->last().payload.size(), 1500u);
      event = true;
    }
  }
  EXPECT_TRUE(created && replied && event)
      << "created " << created << ", replied " << replied << ", event " << event;
  EXPECT_TRUE(answers(*c));
}

// --- 8. Protocol errors fail the connection with 1002 (RFC 6455 5.1, 5.2, 5.4, 5.5, 7.4.1) -------

TEST_F(ws_protocol_test, an_unmasked_client_frame_fails_with_1002) {
  start();
  expect_protocol_error(encode_frame(op::text, time_sync(1, 1), kUnmasked));
  expect_protocol_error(encode_frame(op::ping, "unmasked", kUnmasked));
  expect_server_fine();
}

TEST_F(ws_protocol_test, reserved_bits_without_an_extension_fail_with_1002) {
  start();
  for (int rsv : {4, 2, 1}) {
    SCOPED_TRACE(rsv);
    expect_protocol_error(encode_frame(op::text, time_sync(1, 1),
                                       frame_opts{true, true, static_cast<std::uint8_t>(rsv)}));
  }
  // On a continuation frame and on a control frame as well.
  {
    auto c = open();
    ASSERT_TRUE(c->send_frame(op::text, R"({"type":)", kMore));
    ASSERT_TRUE(c->send_frame(op::cont, R"("time.sync"})", frame_opts{true, true, 4}));
    expect_failed(*c, 1002);
  }
  expect_protocol_error(encode_frame(op::ping, "x", frame_opts{true, true, 4}));
  expect_server_fine();
}

TEST_F(ws_protocol_test, reserved_opcodes_fail_with_1002) {
  start();
  for (int code : {0x3, 0x7, 0xB, 0xF}) {
    SCOPED_TRACE(code);
    expect_protocol_error(encode_frame(static_cast<std::uint8_t>(code), "x"));
  }
  expect_server_fine();
}

TEST_F(ws_protocol_test, a_fragmented_ping_fails_with_1002) {
  start();
  expect_protocol_error(encode_frame(op::ping, "part", kMore));
  expect_server_fine();
}

TEST_F(ws_protocol_test, a_ping_over_125_bytes_fails_with_1002) {
  start();
  expect_protocol_error(encode_frame(op::ping, std::string(126, 'p')));
  expect_server_fine();
}

TEST_F(ws_protocol_test, a_continuation_with_no_message_started_fails_with_1002) {
  start();
  expect_protocol_error(encode_frame(op::cont, time_sync(1, 1)));
  // Also right after a complete message (which is answered first).
  {
    auto c = open();
    ASSERT_TRUE(c->send_text(time_sync(2, 2)));
    EXPECT_TRUE(is_time_sync_reply(c->recv_json(), json::value(2), 2));
    ASSERT_TRUE(c->send_frame(op::cont, "more"));
    expect_failed(*c, 1002);
  }
  expect_server_fine();
}

TEST_F(ws_protocol_test, a_new_message_inside_a_fragmented_one_fails_with_1002) {
  start();
  for (std::uint8_t second : {op::text, op::binary}) {
    SCOPED_TRACE(int{second});
    auto c = open();
    ASSERT_TRUE(c->send_frame(op::text, R"({"type":"time.sync",)", kMore));
    ASSERT_TRUE(c->send_frame(second, time_sync(1, 1)));
    expect_failed(*c, 1002);
  }
  expect_server_fine();
}

// --- 9. UTF-8 across fragments (RFC 6455 5.6, 8.1) -----------------------------------------------

TEST_F(ws_protocol_test, invalid_utf8_spanning_a_fragment_boundary_fails_with_1007) {
  start();
  const std::string head = R"({"type":"time.sync","id":1,"data":{"client_send":1,"x":")";
  // E2 82 could begin "€" (E2 82 AC); the next fragment's 0x28 makes it invalid.
  {
    auto c = open();
    ASSERT_TRUE(c->send_frame(op::text, head + "\xE2\x82", kMore));
    ASSERT_TRUE(c->send_frame(op::cont, std::string("\x28") + "\"}}", kFinal));
    expect_failed(*c, 1007);
  }
  expect_server_fine();
}

// A message that ends inside a character: each fragment on its own could be the start of valid
// text; only the end of the message shows that it is not.
TEST_F(ws_protocol_test, a_text_message_ending_inside_a_utf8_character_fails_with_1007) {
  start();
  const std::string head = R"({"type":"time.sync","id":1,"data":{"client_send":1,"x":")";
  {
    SCOPED_TRACE("unfragmented");
    auto c = open();
    ASSERT_TRUE(c->send_frame(op::text, head + "\xE2\x82"));
    expect_failed(*c, 1007);
  }
  {
    SCOPED_TRACE("the last fragment ends inside the character");
    auto c = open();
    ASSERT_TRUE(c->send_frame(op::text, head, kMore));
    ASSERT_TRUE(c->send_frame(op::cont, "\xE2\x82", kFinal));
    expect_failed(*c, 1007);
  }
  expect_server_fine();
}

// RFC 6455 8.1: "When an endpoint is to interpret a byte stream as UTF-8 but finds that the byte
// stream is not, in fact, a valid UTF-8 stream, that endpoint MUST _Fail the WebSocket
// Connection_". A text message ending inside a character, its final frame EMPTY, fails with 1007
// and delivers nothing. (Beast 1.81, which the server used before it framed WebSocket itself,
// checked the end of a message only while copying payload bytes of its final frame, so it passed
// this message on and failed the NEXT, valid one.)
TEST_F(ws_protocol_test, utf8_cut_short_by_an_empty_final_fragment_fails_with_1007) {
  start();
  const std::string head = R"({"type":"time.sync","id":1,"data":{"client_send":1,"x":")";
  auto c = open();
  ASSERT_TRUE(c->send_frame(op::text, head + "\xE2\x82", kMore));
  ASSERT_TRUE(c->send_frame(op::cont, "", kFinal));
  expect_failed(*c, 1007);
  expect_server_fine();
}

TEST_F(ws_protocol_test, a_utf8_character_split_across_fragments_is_accepted) {
  start();
  auto c = open();
  const std::string han = "\xED\x95\x9C";  // 한 (U+D55C)
  const std::string msg = R"({"type":"time.sync","id":")" + han + R"(","data":{"client_send":5}})";
  const std::size_t at_han = msg.find(han);
  // ED | 95 9C
  ASSERT_TRUE(c->send_frame(op::text, msg.substr(0, at_han + 1), kMore));
  ASSERT_TRUE(c->send_frame(op::cont, msg.substr(at_han + 1), kFinal));
  EXPECT_TRUE(is_time_sync_reply(c->recv_json(), json::value(han), 5));
  // ED | 95 | 9C
  ASSERT_TRUE(c->send_frame(op::text, msg.substr(0, at_han + 1), kMore));
  ASSERT_TRUE(c->send_frame(op::cont, msg.substr(at_han + 1, 1), kMore));
  ASSERT_TRUE(c->send_frame(op::cont, msg.substr(at_han + 2), kFinal));
  EXPECT_TRUE(is_time_sync_reply(c->recv_json(), json::value(han), 5));
  // A 4-byte character (U+1F600) over four fragments, one byte each.
  const std::string grin = "\xF0\x9F\x98\x80";
  const std::string msg4 =
      R"({"type":"time.sync","id":")" + grin + R"(","data":{"client_send":6}})";
  const std::size_t at_grin = msg4.find(grin);
  ASSERT_TRUE(c->send_frame(op::text, msg4.substr(0, at_grin + 1), kMore));
  ASSERT_TRUE(c->send_frame(op::cont, msg4.substr(at_grin + 1, 1), kMore));
  ASSERT_TRUE(c->send_frame(op::cont, msg4.substr(at_grin + 2, 1), kMore));
  ASSERT_TRUE(c->send_frame(op::cont, msg4.substr(at_grin + 3), kFinal));
  EXPECT_TRUE(is_time_sync_reply(c->recv_json(), json::value(grin), 6));
}

// --- 10-11. Closing handshake (RFC 6455 5.5.1, 7.1.5, 7.4) ---------------------------------------

TEST_F(ws_protocol_test, a_client_close_is_echoed_and_the_tcp_connection_ends) {
  start();
  {
    auto c = open();
    ASSERT_TRUE(c->send_frame(op::close, close_payload(1000, "bye")));
    auto cl = c->read_until_close();
    ASSERT_TRUE(cl) << "no close frame in answer; connection: " << c->state();
    // 5.5.1: the answering close "typically echos the status code it received".
    EXPECT_EQ(cl->code, 1000) << "reason: " << cl->reason;
    // 7.1.1: after both close frames the server closes the TCP connection first.
    EXPECT_TRUE(c->wait_eof()) << "the server kept the TCP connection open";
    EXPECT_EQ(c->stray_after_close(), 0u) << "bytes after the close frame";
  }
  // Valid codes from the other ranges are answered the same way.
  for (int code : {1001, 3000, 4999}) {
    SCOPED_TRACE(code);
    auto c = open();
    ASSERT_TRUE(c->send_frame(op::close, close_payload(code, "later")));
    auto cl = c->read_until_close();
    ASSERT_TRUE(cl) << "no close frame in answer; connection: " << c->state();
    EXPECT_TRUE(cl->code == code || cl->code == 1000) << cl->code;
    EXPECT_TRUE(c->wait_eof());
  }
  // An empty close (no status code) is valid and answered with an empty close or 1000.
  {
    auto c = open();
    ASSERT_TRUE(c->send_frame(op::close, ""));
    auto cl = c->read_until_close();
    ASSERT_TRUE(cl) << "no close frame in answer; connection: " << c->state();
    EXPECT_TRUE(cl->code == 1005 || cl->code == 1000) << cl->code;
    EXPECT_TRUE(c->wait_eof());
  }
  expect_server_fine();
}

// An invalid close frame fails the connection: a 1002 close then TCP closed, or (also allowed by
// 7.1.7, which says an endpoint SHOULD send a close frame) TCP closed at once.
TEST_F(ws_protocol_test, invalid_close_frames_fail_the_connection) {
  start();
  auto expect_failure = [&](const std::string& payload, std::initializer_list<int> codes) {
    auto c = open();
    ASSERT_TRUE(c->send_frame(op::close, payload));
    auto cl = c->read_until_close();
    if (cl) {
      EXPECT_NE(std::find(codes.begin(), codes.end(), cl->code), codes.end())
          << "close code " << cl->code << " (reason \"" << cl->reason << "\")";
    } else {
      EXPECT_TRUE(c->eof()) << "neither a close frame nor a closed connection: " << c->state();
    }
    EXPECT_TRUE(c->wait_eof()) << "the server kept the TCP connection open";
  };
  {
    SCOPED_TRACE("1-byte payload");
    expect_failure(std::string(1, '\x03'), {1002});
  }
  // Codes no endpoint may send (7.4.1, 7.4.2): unused, reserved, and the three that only
  // report a state locally.
  for (int code : {0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999}) {
    SCOPED_TRACE(code);
    expect_failure(close_payload(code), {1002});
  }
  // A reason that is not UTF-8 (5.5.1: the reason is UTF-8): 1002 or 1007 both name it.
  {
    SCOPED_TRACE("reason not UTF-8");
    expect_failure(close_payload(1000, "\xFF\xFE"), {1002, 1007});
  }
  expect_server_fine();
}

// --- 12. Binary messages -------------------------------------------------------------------------

TEST_F(ws_protocol_test, a_binary_message_is_served_like_text) {
  start();
  auto c = open();
  ASSERT_TRUE(c->send_frame(op::binary, time_sync("bin", 7)));
  EXPECT_TRUE(is_time_sync_reply(c->recv_json(), json::value("bin"), 7));
  EXPECT_EQ(int{c->last().opcode}, int{op::text}) << "replies are text frames";
  // Fragmented: binary, then continuations.
  const std::string msg = time_sync("bin2", 8);
  ASSERT_TRUE(c->send_frame(op::binary, std::string_view(msg).substr(0, 10), kMore));
  ASSERT_TRUE(c->send_frame(op::cont, std::string_view(msg).substr(10, 10), kMore));
  ASSERT_TRUE(c->send_frame(op::cont, std::string_view(msg).substr(20), kFinal));
  EXPECT_TRUE(is_time_sync_reply(c->recv_json(), json::value("bin2"), 8));
  // Binary payloads are not checked as UTF-8 by the framing: invalid bytes are a bad_json reply
  // and the connection stays (docs/PROTOCOL.md).
  ASSERT_TRUE(c->send_frame(op::binary, "{\"type\":\"time.sync\",\"x\":\"\xFF\xFE\"}"));
  auto r = c->recv_json();
  ASSERT_TRUE(r) << c->state();
  EXPECT_EQ(error_code(*r), "bad_json") << json::serialize(*r);
  EXPECT_TRUE(answers(*c));
}

// --- Keep-alive ----------------------------------------------------------------------------------

// limits.ws_idle_timeout_ms: "A silent WebSocket is pinged at half this and closed at this."
TEST_F(ws_protocol_test, a_silent_connection_is_pinged_and_dropped_unless_it_answers) {
  start({"limits.ws_idle_timeout_ms=1000"});
  auto c = open();
  auto f = c->next_frame(3s);
  ASSERT_TRUE(f) << "no keep-alive ping; connection: " << c->state();
  EXPECT_EQ(int{f->opcode}, int{op::ping});
  ASSERT_TRUE(c->send_frame(op::pong, f->payload));
  // Answering the pings (next_message does) keeps the connection open past the idle timeout.
  auto until = steady::now() + 1500ms;
  while (steady::now() < until && !c->eof())
    c->next_message(100ms);
  EXPECT_FALSE(c->eof()) << c->state();
  EXPECT_TRUE(answers(*c));
  // A client that reads but never answers is dropped.
  auto silent = open_as(make_player(port(), "Silent"));
  EXPECT_TRUE(silent->wait_eof(4s)) << "a client that never answers pings is still connected";
}

// The timing of the keep-alive ticks: a peer that never answers is pinged at a silent tick (not
// before half the idle timeout) and cut at the next.
TEST_F(ws_protocol_test, a_peer_that_never_answers_pings_is_pinged_then_closed) {
  start({"limits.ws_idle_timeout_ms=1000", "limits.handshake_timeout_ms=200"});
  auto opened = steady::now();
  auto mute = open();
  std::vector<int> ops;
  steady::time_point first_ping{};
  while (!mute->eof() && steady::now() < opened + 5s) {
    auto f = mute->next_frame(100ms);
    if (!f) continue;
    if (f->opcode == op::ping && std::find(ops.begin(), ops.end(), op::ping) == ops.end())
      first_ping = steady::now();
    ops.push_back(f->opcode);
  }
  ASSERT_TRUE(mute->eof()) << "still open 5 s after going silent";
  auto closed_after = steady::now() - opened;
  ASSERT_NE(std::find(ops.begin(), ops.end(), op::ping), ops.end()) << "no ping before the close";
  EXPECT_GE(first_ping - opened, 400ms) << "pinged before half the idle timeout";
  // The handshake timeout (200 ms) passes first, then ticks every 500 ms: a ping at the first
  // silent tick, the socket cut at the next one.
  EXPECT_GE(closed_after, 900ms);
  EXPECT_LE(closed_after, 3s);
  // The server goes on.
  ws_client other(port(), make_player(port(), "Other").token);
  other.hello();
  EXPECT_TRUE(other.ping_ok());
}

TEST_F(ws_protocol_test, a_client_that_answers_pings_stays_connected_while_silent) {
  start({"limits.ws_idle_timeout_ms=1000", "limits.handshake_timeout_ms=200"});
  ws_client quiet(port(), make_player(port(), "Quiet").token);
  quiet.hello();
  // Reading for 3 idle timeouts without sending anything: Beast answers the server's pings.
  EXPECT_FALSE(quiet.recv(3s)) << "the server sent something other than pings";
  EXPECT_FALSE(quiet.closed()) << "closed while answering pings; close code " << quiet.close_code();
  EXPECT_TRUE(quiet.ping_ok());
}

}  // namespace
}  // namespace maratang::it
