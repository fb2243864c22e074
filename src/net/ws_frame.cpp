#include "net/ws_frame.hpp"

#include <cstring>

namespace maratang::net::ws {

parse_result parse_client_header(const unsigned char* p, std::size_t n, frame_header& h) noexcept {
  if (n < 2) return parse_result::need_more;
  const unsigned b0 = p[0];
  const unsigned b1 = p[1];
  if ((b0 & 0x70) != 0) return parse_result::protocol_error;  // RSV1-3 without an extension
  const unsigned op = b0 & 0x0F;
  if (!(op <= 0x2 || (op >= 0x8 && op <= 0xA))) return parse_result::protocol_error;
  if ((b1 & 0x80) == 0) return parse_result::protocol_error;  // client frames must be masked
  h.fin = (b0 & 0x80) != 0;
  h.op = static_cast<opcode>(op);
  std::uint64_t len = b1 & 0x7F;
  std::size_t at = 2;
  if (len == 126) {
    if (n < 4) return parse_result::need_more;
    len = (std::uint64_t{p[2]} << 8) | p[3];
    if (len < 126) return parse_result::protocol_error;
    at = 4;
  } else if (len == 127) {
    if (n < 10) return parse_result::need_more;
    len = 0;
    for (std::size_t i = 2; i < 10; ++i)
      len = (len << 8) | p[i];
    if (len <= 0xFFFF || (len >> 63) != 0) return parse_result::protocol_error;
    at = 10;
  }
  if (is_control(h.op) && (!h.fin || len > 125)) return parse_result::protocol_error;
  if (n < at + 4) return parse_result::need_more;
  std::memcpy(&h.mask, p + at, 4);
  h.length = len;
  h.header_bytes = at + 4;
  return parse_result::ok;
}

void unmask(char* data, std::size_t n, std::uint32_t mask, std::uint64_t offset) noexcept {
  // Rotate the key so that key byte 0 lines up with data[0].
  unsigned char key[4];
  std::memcpy(key, &mask, 4);
  unsigned char k[8];
  for (std::size_t i = 0; i < 8; ++i)
    k[i] = key[(offset + i) % 4];
  std::uint64_t k8;
  std::memcpy(&k8, k, 8);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t v;
    std::memcpy(&v, data + i, 8);
    v ^= k8;
    std::memcpy(data + i, &v, 8);
  }
  for (; i < n; ++i)
    data[i] = static_cast<char>(static_cast<unsigned char>(data[i]) ^ k[i % 8]);
}

std::size_t encode_header(unsigned char* out, opcode op, std::uint64_t length) noexcept {
  out[0] = static_cast<unsigned char>(0x80 | static_cast<unsigned>(op));
  if (length < 126) {
    out[1] = static_cast<unsigned char>(length);
    return 2;
  }
  if (length <= 0xFFFF) {
    out[1] = 126;
    out[2] = static_cast<unsigned char>(length >> 8);
    out[3] = static_cast<unsigned char>(length);
    return 4;
  }
  out[1] = 127;
  for (std::size_t i = 0; i < 8; ++i)
    out[2 + i] = static_cast<unsigned char>(length >> (56 - 8 * i));
  return 10;
}

bool valid_close_code(unsigned code) noexcept {
  if (code >= 3000 && code <= 4999) return true;
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1013);
}

}  // namespace maratang::net::ws
