// Fuzzes the WebSocket framing a client controls (src/net/ws_frame.hpp): the header parser, the
// unmasking and the close-code check, then a whole byte stream parsed frame by frame the way
// ws_session::process does (fragmentation rules, reassembly, UTF-8 of text messages and close
// reasons), with the input split into reads at fuzzer-chosen points.
#include <boost/beast/websocket/detail/utf8_checker.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "check.hpp"
#include "net/ws_frame.hpp"

namespace ws = maratang::net::ws;

namespace {

using maratang::fuzz::check;

// The header alone: lengths consistent with the wire bytes, encode/parse round trip.
void header_invariants(const unsigned char* p, std::size_t n) {
  ws::frame_header h;
  auto r = ws::parse_client_header(p, n, h);
  if (r != ws::parse_result::ok) return;
  check(h.header_bytes == 6 || h.header_bytes == 8 || h.header_bytes == 14);
  check(h.header_bytes <= n);
  check((p[1] & 0x80) != 0 && (p[0] & 0x70) == 0);
  if (h.header_bytes == 6) check(h.length < 126);
  if (h.header_bytes == 8) check(h.length >= 126 && h.length <= 0xFFFF);
  if (h.header_bytes == 14) check(h.length > 0xFFFF && (h.length >> 63) == 0);
  if (ws::is_control(h.op)) check(h.fin && h.length <= 125);
  std::uint32_t mask;
  std::memcpy(&mask, p + h.header_bytes - 4, 4);
  check(mask == h.mask);
  // The server's own header for the same length has the same length encoding, unmasked.
  unsigned char out[10];
  std::size_t k = ws::encode_header(out, h.op, h.length);
  check(k + 4 == h.header_bytes);
  check((out[1] & 0x7F) == (p[1] & 0x7F));
  check(std::memcmp(out + 2, p + 2, k - 2) == 0);
  // A prefix of a good header is never an error.
  for (std::size_t m = 0; m < h.header_bytes; ++m) {
    ws::frame_header h2;
    check(ws::parse_client_header(p, m, h2) == ws::parse_result::need_more);
  }
}

// Unmasking at any offset equals the byte-wise definition, and is its own inverse.
void unmask_invariants(const unsigned char* p, std::size_t n) {
  if (n < 5) return;
  std::uint32_t mask;
  std::memcpy(&mask, p, 4);
  const std::uint64_t offset = p[4];
  std::string data(reinterpret_cast<const char*>(p + 5), n - 5);
  std::string orig = data;
  ws::unmask(data.data(), data.size(), mask, offset);
  unsigned char key[4];
  std::memcpy(key, &mask, 4);
  for (std::size_t i = 0; i < data.size(); ++i)
    check(static_cast<unsigned char>(data[i]) ==
          (static_cast<unsigned char>(orig[i]) ^ key[(offset + i) % 4]));
  ws::unmask(data.data(), data.size(), mask, offset);
  check(data == orig);
}

// A model of ws_session::process: the same loop over the same functions, with the session's
// reactions (fail, dispatch) recorded instead of sent.
struct stream_model {
  static constexpr std::uint64_t message_max = 64 << 10;
  static constexpr std::uint64_t hard_max = 64 << 20;
  ws::opcode msg_op = ws::opcode::continuation;
  std::uint64_t msg_size = 0;
  std::uint64_t discard_left = 0;
  bool discarding = false, discard_fin = false;
  bool reading = true;
  std::string msg;
  boost::beast::websocket::detail::utf8_checker utf8;
  std::size_t messages = 0;

  void fail() { reading = false; }

  void end_discarded() {
    discarding = false;
    msg_op = ws::opcode::continuation;
    msg_size = 0;
    ++messages;
  }

  bool on_data(bool fin, char* payload, std::size_t len) {
    const bool text = msg_op == ws::opcode::text;
    if (text && !utf8.write(reinterpret_cast<const std::uint8_t*>(payload), len)) {
      fail();
      return false;
    }
    msg_size += len;
    if (!fin) {
      msg.append(payload, len);
      return true;
    }
    if (text && !utf8.finish()) {
      fail();
      return false;
    }
    msg_op = ws::opcode::continuation;
    msg.append(payload, len);
    check(msg.size() == msg_size);
    ++messages;
    msg.clear();
    return true;
  }

  void on_control(ws::opcode op, const char* payload, std::size_t len) {
    check(len <= 125);
    if (op != ws::opcode::close) return;
    if (len == 1) return fail();
    if (len >= 2) {
      unsigned code =
          (static_cast<unsigned char>(payload[0]) << 8) | static_cast<unsigned char>(payload[1]);
      if (!ws::valid_close_code(code)) return fail();
      check(code >= 1000 && code <= 4999 && code != 1004 && code != 1005 && code != 1006);
      if (!boost::beast::websocket::detail::check_utf8(payload + 2, len - 2)) return fail();
    }
    reading = false;  // the peer closed
  }

  std::size_t process(char* data, std::size_t n, std::size_t& want) {
    std::size_t pos = 0;
    want = 0;
    while (pos < n && reading) {
      if (discard_left > 0) {
        auto skip = static_cast<std::size_t>(std::min<std::uint64_t>(discard_left, n - pos));
        pos += skip;
        discard_left -= skip;
        if (discard_left > 0) break;
        if (discard_fin) end_discarded();
        continue;
      }
      ws::frame_header h;
      auto parsed =
          ws::parse_client_header(reinterpret_cast<unsigned char*>(data + pos), n - pos, h);
      if (parsed == ws::parse_result::need_more) break;
      if (parsed == ws::parse_result::protocol_error) {
        fail();
        break;
      }
      check(h.header_bytes <= n - pos);
      const bool control = ws::is_control(h.op);
      const bool first = h.op != ws::opcode::continuation;
      if (!control) {
        if (first == (msg_op != ws::opcode::continuation)) {
          fail();
          break;
        }
        const std::uint64_t before = first ? 0 : msg_size;
        if ((!first && discarding) || before + h.length > message_max) {
          if (before + h.length > hard_max) {
            fail();
            break;
          }
          if (first) msg_op = h.op;
          discarding = true;
          std::string().swap(msg);
          msg_size = before + h.length;
          pos += h.header_bytes;
          discard_left = h.length;
          discard_fin = h.fin;
          if (discard_left == 0 && discard_fin) end_discarded();
          continue;
        }
      }
      const std::size_t whole = h.header_bytes + static_cast<std::size_t>(h.length);
      if (n - pos < whole) {
        want = whole;
        break;
      }
      if (!control && first) {
        msg_op = h.op;
        msg_size = 0;
        discarding = false;
        utf8.reset();
      }
      char* payload = data + pos + h.header_bytes;
      const auto len = static_cast<std::size_t>(h.length);
      ws::unmask(payload, len, h.mask, 0);
      pos += whole;
      if (control) {
        on_control(h.op, payload, len);
      } else if (!on_data(h.fin, payload, len)) {
        break;
      }
    }
    check(pos <= n);
    return pos;
  }
};

// Feeds the stream in reads of doubling sizes, the first from the last input byte, keeping the
// unconsumed tail as the session's buffer does.
void stream_invariants(const std::uint8_t* p, std::size_t n) {
  if (n < 1) return;
  std::size_t chunk = 1 + p[n - 1] % 64;  // the first read's size
  stream_model m;
  std::vector<char> buf;
  std::size_t at = 0;
  while (at < n && m.reading) {
    std::size_t take = std::min(chunk, n - at);
    buf.insert(buf.end(), p + at, p + at + take);
    at += take;
    std::size_t want = 0;
    std::size_t done = m.process(buf.data(), buf.size(), want);
    check(done <= buf.size());
    if (want) check(want > buf.size() - done);
    buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(done));
    chunk = chunk * 2 > 4096 ? 1 : chunk * 2;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  header_invariants(data, size);
  unmask_invariants(data, size);
  stream_invariants(data, size);
  for (std::size_t i = 0; i + 1 < size && i < 8; i += 2) {
    unsigned code = (unsigned{data[i]} << 8) | data[i + 1];
    if (ws::valid_close_code(code)) check(code >= 1000 && code <= 4999);
  }
  return 0;
}
