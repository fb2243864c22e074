#include "net/ws_frame.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace maratang::net::ws {
namespace {

using bytes = std::vector<unsigned char>;

// A client frame: FIN/opcode byte, the masked length, a key, and `payload` masked with it.
bytes client_frame(unsigned b0, std::uint64_t len, const std::string& payload = {},
                   bytes key = {1, 2, 3, 4}) {
  bytes f{static_cast<unsigned char>(b0)};
  if (len < 126) {
    f.push_back(static_cast<unsigned char>(0x80 | len));
  } else if (len <= 0xFFFF) {
    f.push_back(0x80 | 126);
    f.push_back(static_cast<unsigned char>(len >> 8));
    f.push_back(static_cast<unsigned char>(len));
  } else {
    f.push_back(0x80 | 127);
    for (int i = 7; i >= 0; --i)
      f.push_back(static_cast<unsigned char>(len >> (8 * i)));
  }
  f.insert(f.end(), key.begin(), key.end());
  for (std::size_t i = 0; i < payload.size(); ++i)
    f.push_back(static_cast<unsigned char>(payload[i]) ^ key[i % 4]);
  return f;
}

parse_result parse(const bytes& f, frame_header& h) {
  return parse_client_header(f.data(), f.size(), h);
}

TEST(ws_frame, parses_the_three_length_encodings_and_unmasks) {
  for (std::uint64_t len : {std::uint64_t{0}, std::uint64_t{125}, std::uint64_t{126},
                            std::uint64_t{65535}, std::uint64_t{65536}, std::uint64_t{1} << 40}) {
    SCOPED_TRACE(len);
    frame_header h;
    auto f = client_frame(0x81, len);
    ASSERT_EQ(parse(f, h), parse_result::ok);
    EXPECT_TRUE(h.fin);
    EXPECT_EQ(h.op, opcode::text);
    EXPECT_EQ(h.length, len);
    EXPECT_EQ(h.header_bytes, len < 126 ? 6u : len <= 0xFFFF ? 8u : 14u);
  }
  std::string text = "{\"type\":\"room.chat\",\"data\":{\"text\":\"안녕하세요, 모두\"}}";
  auto f = client_frame(0x01, text.size(), text, {0xA1, 0x00, 0xFF, 0x5C});
  frame_header h;
  ASSERT_EQ(parse(f, h), parse_result::ok);
  EXPECT_FALSE(h.fin);
  std::string payload(f.begin() + static_cast<long>(h.header_bytes), f.end());
  unmask(payload.data(), payload.size(), h.mask, 0);
  EXPECT_EQ(payload, text);
  // Unmasking in pieces, at any offset, gives the same text.
  std::string pieces(f.begin() + static_cast<long>(h.header_bytes), f.end());
  for (std::size_t at = 0; at < pieces.size(); at += 7)
    unmask(pieces.data() + at, std::min<std::size_t>(7, pieces.size() - at), h.mask, at);
  EXPECT_EQ(pieces, text);
}

TEST(ws_frame, an_incomplete_header_needs_more) {
  auto f = client_frame(0x81, 70000);
  for (std::size_t n = 0; n < 14; ++n) {
    frame_header h;
    EXPECT_EQ(parse_client_header(f.data(), n, h), parse_result::need_more) << n;
  }
}

TEST(ws_frame, refuses_what_rfc_6455_forbids) {
  frame_header h;
  EXPECT_EQ(parse(client_frame(0xC1, 5), h), parse_result::protocol_error) << "RSV1";
  EXPECT_EQ(parse(client_frame(0xA1, 5), h), parse_result::protocol_error) << "RSV2";
  EXPECT_EQ(parse(client_frame(0x91, 5), h), parse_result::protocol_error) << "RSV3";
  for (unsigned op : {3u, 4u, 7u, 0xBu, 0xFu})
    EXPECT_EQ(parse(client_frame(0x80 | op, 1), h), parse_result::protocol_error) << op;
  bytes unmasked{0x81, 0x05, 'h', 'e', 'l', 'l', 'o'};
  EXPECT_EQ(parse(unmasked, h), parse_result::protocol_error) << "unmasked";
  EXPECT_EQ(parse(client_frame(0x09, 0), h), parse_result::protocol_error) << "fragmented ping";
  EXPECT_EQ(parse(client_frame(0x89, 126), h), parse_result::protocol_error) << "ping of 126";
  EXPECT_EQ(parse(client_frame(0x88, 125), h), parse_result::ok) << "close of 125";
  // Lengths not in their shortest form, and a 64-bit length with its top bit set.
  bytes long16{0x81, 0x80 | 126, 0x00, 0x05, 1, 2, 3, 4};
  EXPECT_EQ(parse(long16, h), parse_result::protocol_error);
  bytes long64{0x81, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 1, 2, 3, 4};
  EXPECT_EQ(parse(long64, h), parse_result::protocol_error);
  bytes huge{0x81, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
  EXPECT_EQ(parse(huge, h), parse_result::protocol_error);
}

TEST(ws_frame, encodes_server_headers) {
  unsigned char out[10];
  ASSERT_EQ(encode_header(out, opcode::text, 5), 2u);
  EXPECT_EQ(out[0], 0x81);
  EXPECT_EQ(out[1], 5);
  ASSERT_EQ(encode_header(out, opcode::pong, 125), 2u);
  EXPECT_EQ(out[0], 0x8A);
  EXPECT_EQ(out[1], 125);
  ASSERT_EQ(encode_header(out, opcode::text, 126), 4u);
  EXPECT_EQ(out[1], 126);
  EXPECT_EQ(out[2], 0);
  EXPECT_EQ(out[3], 126);
  ASSERT_EQ(encode_header(out, opcode::close, 65535), 4u);
  EXPECT_EQ(out[0], 0x88);
  EXPECT_EQ(out[2], 0xFF);
  EXPECT_EQ(out[3], 0xFF);
  ASSERT_EQ(encode_header(out, opcode::text, 65536), 10u);
  EXPECT_EQ(out[1], 127);
  bytes len(out + 2, out + 10);
  EXPECT_EQ(len, (bytes{0, 0, 0, 0, 0, 1, 0, 0}));
}

TEST(ws_frame, close_codes) {
  for (unsigned ok :
       {1000u, 1001u, 1002u, 1003u, 1007u, 1008u, 1009u, 1010u, 1011u, 1012u, 1013u, 3000u, 4999u})
    EXPECT_TRUE(valid_close_code(ok)) << ok;
  for (unsigned bad : {0u, 999u, 1004u, 1005u, 1006u, 1014u, 1015u, 2999u, 5000u, 65535u})
    EXPECT_FALSE(valid_close_code(bad)) << bad;
}

}  // namespace
}  // namespace maratang::net::ws
