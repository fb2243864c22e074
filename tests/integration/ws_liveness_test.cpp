// Keep-alive: the server pings a silent connection at half limits.ws_idle_timeout_ms and closes
// it when the ping goes unanswered; a client that answers pings (any client that keeps reading)
// stays connected however long it says nothing.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <chrono>
#include <thread>

#include "harness.hpp"

namespace maratang::it {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;

// A WebSocket client on a raw socket that never answers pings: it says hello, then only reads.
class mute_client {
 public:
  mute_client(int port, const std::string& token) : sock_(ioc_) {
    sock_.connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
    std::string req =
        "GET /ws?token=" + token +
        " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    asio::write(sock_, asio::buffer(req));
    std::string head;
    while (head.find("\r\n\r\n") == std::string::npos) {
      char c;
      asio::read(sock_, asio::buffer(&c, 1));
      head.push_back(c);
    }
    if (head.rfind("HTTP/1.1 101", 0) != 0) throw std::runtime_error("no 101: " + head);
    std::string hello = R"({"type":"hello","id":1,"data":{"version":1}})";
    std::string frame{static_cast<char>(0x81), static_cast<char>(0x80 | hello.size())};
    frame.append(4, '\0');  // a zero masking key leaves the payload as it is
    frame += hello;
    asio::write(sock_, asio::buffer(frame));
    timeval tv{0, 100 * 1000};
    setsockopt(sock_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }

  // Reads until the server closes the socket or `deadline`; records the opcodes of the frames
  // it gets. Returns true on EOF (or reset).
  bool read_until_closed(steady::time_point deadline) {
    while (steady::now() < deadline) {
      char buf[4096];
      ssize_t n = ::recv(sock_.native_handle(), buf, sizeof buf, 0);
      if (n == 0) return true;
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
        return true;
      }
      in_.append(buf, static_cast<std::size_t>(n));
      parse();
    }
    return false;
  }

  const std::vector<int>& opcodes() const { return opcodes_; }
  steady::time_point first_ping() const { return first_ping_; }

 private:
  void parse() {
    for (;;) {
      if (in_.size() < 2) return;
      std::size_t len = static_cast<unsigned char>(in_[1]) & 0x7F, head = 2;
      if (len == 126) {
        if (in_.size() < 4) return;
        len = (static_cast<std::size_t>(static_cast<unsigned char>(in_[2])) << 8) |
              static_cast<unsigned char>(in_[3]);
        head = 4;
      } else if (len == 127) {
        return;  // nothing this test provokes is that large
      }
      if (in_.size() < head + len) return;
      int op = in_[0] & 0x0F;
      if (op == 0x9 && opcodes_.end() == std::find(opcodes_.begin(), opcodes_.end(), 0x9))
        first_ping_ = steady::now();
      opcodes_.push_back(op);
      in_.erase(0, head + len);
    }
  }

  asio::io_context ioc_;
  tcp::socket sock_;
  std::string in_;
  std::vector<int> opcodes_;
  steady::time_point first_ping_{};
};

TEST(ws_liveness_test, a_peer_that_never_answers_pings_is_pinged_then_closed) {
  server_process srv({"limits.ws_idle_timeout_ms=1000", "limits.handshake_timeout_ms=200"});
  auto p = make_player(srv.port(), "Mute");
  auto opened = steady::now();
  mute_client mute(srv.port(), p.token);
  ASSERT_TRUE(mute.read_until_closed(opened + 5s)) << "still open 5 s after going silent";
  auto closed_after = steady::now() - opened;
  const auto& ops = mute.opcodes();
  ASSERT_NE(std::find(ops.begin(), ops.end(), 0x9), ops.end()) << "no ping before the close";
  EXPECT_GE(mute.first_ping() - opened, 400ms) << "pinged before half the idle timeout";
  // The handshake timeout (200 ms) passes first, then ticks every 500 ms: a ping at the first
  // silent tick, the socket cut at the next one.
  EXPECT_GE(closed_after, 900ms);
  EXPECT_LE(closed_after, 3s);
  // The server goes on.
  ws_client other(srv.port(), make_player(srv.port(), "Other").token);
  other.hello();
  EXPECT_TRUE(other.ping_ok());
}

TEST(ws_liveness_test, a_client_that_answers_pings_stays_connected_while_silent) {
  server_process srv({"limits.ws_idle_timeout_ms=1000", "limits.handshake_timeout_ms=200"});
  auto p = make_player(srv.port(), "Quiet");
  ws_client quiet(srv.port(), p.token);
  quiet.hello();
  // Reading for 3 idle timeouts without sending anything: Beast answers the server's pings.
  EXPECT_FALSE(quiet.recv(3s)) << "the server sent something other than pings";
  EXPECT_FALSE(quiet.closed()) << "closed while answering pings; close code " << quiet.close_code();
  EXPECT_TRUE(quiet.ping_ok());
}

}  // namespace
}  // namespace maratang::it
