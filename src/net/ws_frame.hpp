// RFC 6455 framing for the server side: parsing the frames a client sends (always masked) and
// encoding the headers of the frames the server sends (never masked). Pure functions; no I/O.
// Beast's websocket::stream is not used on the server: its write path costs a composed operation,
// a buffer-sequence copy and a system call per message, where the session's own writer gathers
// every queued frame into one sendmsg (see docs/ARCHITECTURE.md).
#pragma once

#include <cstddef>
#include <cstdint>

namespace maratang::net::ws {

enum class opcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

inline bool is_control(opcode op) noexcept {
  return (static_cast<std::uint8_t>(op) & 0x8) != 0;
}

struct frame_header {
  bool fin = false;
  opcode op = opcode::continuation;
  std::uint64_t length = 0;      // payload bytes
  std::uint32_t mask = 0;        // the masking key as it appears on the wire (little-endian load)
  std::size_t header_bytes = 0;  // 6, 8 or 14 for a masked client frame
};

enum class parse_result {
  ok,
  need_more,       // the header is not complete yet
  protocol_error,  // fail the connection with close code 1002
};

// Parses a client frame's header from `p[0, n)`. Checks what RFC 6455 5.2 requires of a header
// alone: no RSV bits (no extension is negotiated), a known opcode, the mask bit set, control frames
// unfragmented and at most 125 bytes, lengths in their shortest encoding and below 2^63.
parse_result parse_client_header(const unsigned char* p, std::size_t n, frame_header& h) noexcept;

// XORs `data[0, n)` with the masking key, where `offset` is the payload position of data[0].
void unmask(char* data, std::size_t n, std::uint32_t mask, std::uint64_t offset) noexcept;

// Writes the header of an unmasked server frame with FIN set into `out` (at least 10 bytes);
// returns its length (2, 4 or 10).
std::size_t encode_header(unsigned char* out, opcode op, std::uint64_t length) noexcept;

// Whether a close frame may carry this status code (RFC 6455 7.4; 1012 and 1013 as registered
// since, the same set as Beast).
bool valid_close_code(unsigned code) noexcept;

}  // namespace maratang::net::ws
