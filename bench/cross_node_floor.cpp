// cross_node_floor: the least that crossing nodes through Redis pub/sub can add on this machine,
// whatever the server. bench/cross_node measures what Maratang adds when a message goes from a
// player on node A to a player on node B (A -> Redis -> B) rather than to one on A; this measures
// the same two paths with servers that do nothing but pass bytes along:
//   same   this process -> Q -> this process          (Q echoes a 32-byte message back at once)
//   cross  this process -> Q -> Redis -> S -> this process
//          (Q PUBLISHes the message on a channel, S is subscribed and writes it back at once)
// Q and S are child processes, every hop a loopback TCP connection, Redis the real server given by
// --redis-url (bench/cross_node.sh passes its throw-away one). No JSON, no WebSocket, no
// allocation per message. Messages are paced (--rate a second, one in flight at a time),
// alternating the two kinds; prints p50/p90/p99/max of each and the difference cross minus same,
// which is what the process hops alone add: waking Redis and S, on this machine, when both
// cores are mostly idle. Asserts nothing; bounded in count and time (a hop that does not answer in
// 5 s ends the run); loopback only.
// Usage: cross_node_floor --redis-url redis://127.0.0.1:PORT [--count 2000] [--rate 500]

#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;
constexpr std::size_t kMessage = 32;

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(fmt::format("{}: {}", what, std::strerror(errno)));
}

int connect_to(const std::string& host, int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  check(fd >= 0, "socket");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  check(::inet_pton(AF_INET, host.c_str(), &a.sin_addr) == 1, "address");
  check(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0, "connect");
  int one = 1;
  check(::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0, "TCP_NODELAY");
  return fd;
}

void write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const auto w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    check(w > 0, "write");
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}
void write_all(int fd, const std::string& s) {
  write_all(fd, s.data(), s.size());
}

// Reads exactly n bytes, waiting at most 5 s for each part of them.
void read_exact(int fd, char* p, std::size_t n) {
  while (n > 0) {
    pollfd pf{fd, POLLIN, 0};
    const int r = ::poll(&pf, 1, 5000);
    if (r < 0 && errno == EINTR) continue;
    check(r >= 0, "poll");
    if (r == 0) throw std::runtime_error("a hop did not answer in 5 s");
    const auto got = ::read(fd, p, n);
    if (got < 0 && errno == EINTR) continue;
    check(got > 0, "read");
    p += got;
    n -= static_cast<std::size_t>(got);
  }
}

std::string bulk(std::string_view s) {
  return fmt::format("${}\r\n{}\r\n", s.size(), s);
}

// Q: reads messages from the parent; 's' goes straight back, 'c' is PUBLISHed on `channel`.
// Redis's replies (the number of subscribers) are read and dropped.
[[noreturn]] void run_q(int parent_port, const std::string& host, int redis_port,
                        const std::string& channel) {
  const int up = connect_to("127.0.0.1", parent_port);
  const int redis = connect_to(host, redis_port);
  write_all(up, "Q", 1);
  std::string in;
  char buf[4096];
  for (;;) {
    pollfd fds[2] = {{up, POLLIN, 0}, {redis, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) continue;
    if (fds[1].revents != 0) {
      if (::read(redis, buf, sizeof buf) <= 0) ::_exit(0);
    }
    if (fds[0].revents == 0) continue;
    const auto got = ::read(up, buf, sizeof buf);
    if (got <= 0) ::_exit(0);
    in.append(buf, static_cast<std::size_t>(got));
    std::size_t at = 0;
    for (; in.size() - at >= kMessage; at += kMessage) {
      const std::string_view m(in.data() + at, kMessage);
      if (m[0] == 's') {
        write_all(up, m.data(), m.size());
      } else {
        write_all(redis, "*3\r\n" + bulk("PUBLISH") + bulk(channel) + bulk(m));
      }
    }
    in.erase(0, at);
  }
}

// S: subscribed to `channel`; writes each message's payload to the parent. It connects to the
// parent only once Redis has confirmed the subscription.
[[noreturn]] void run_s(int parent_port, const std::string& host, int redis_port,
                        const std::string& channel) {
  const int redis = connect_to(host, redis_port);
  write_all(redis, "*2\r\n" + bulk("SUBSCRIBE") + bulk(channel));
  const std::string confirm = "*3\r\n" + bulk("subscribe") + bulk(channel) + ":1\r\n";
  std::string got(confirm.size(), '\0');
  read_exact(redis, got.data(), got.size());
  if (got != confirm) ::_exit(3);
  const int up = connect_to("127.0.0.1", parent_port);
  write_all(up, "S", 1);
  const std::string head =
      "*3\r\n" + bulk("message") + bulk(channel) + fmt::format("${}\r\n", kMessage);
  const std::size_t frame = head.size() + kMessage + 2;
  std::string in;
  char buf[4096];
  for (;;) {
    const auto n = ::read(redis, buf, sizeof buf);
    if (n <= 0) ::_exit(0);
    in.append(buf, static_cast<std::size_t>(n));
    std::size_t at = 0;
    for (; in.size() - at >= frame; at += frame) {
      if (in.compare(at, head.size(), head) != 0) ::_exit(4);
      write_all(up, in.data() + at + head.size(), kMessage);
    }
    in.erase(0, at);
  }
}

struct samples {
  std::vector<double> ms;
  double pct(double p) {
    std::sort(ms.begin(), ms.end());
    return ms[std::min(ms.size() - 1,
                       static_cast<std::size_t>(p * static_cast<double>(ms.size())))];
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"The least crossing nodes through Redis pub/sub adds: bare relays, same vs across"};
  std::string redis_url;
  int count = 2000;
  double rate = 500;
  cli.add_option("--redis-url", redis_url, "redis://HOST:PORT (no password)")->required();
  cli.add_option("--count", count, "Timed messages of each kind")->check(CLI::Range(10, 1000000));
  cli.add_option("--rate", rate, "Messages a second, both kinds together")
      ->check(CLI::Range(1.0, 100000.0));
  CLI11_PARSE(cli, argc, argv);
  std::setvbuf(stdout, nullptr, _IONBF, 0);

  std::string rest = redis_url;
  if (rest.rfind("redis://", 0) == 0) rest = rest.substr(8);
  if (auto slash = rest.find('/'); slash != std::string::npos) rest.resize(slash);
  const auto colon = rest.rfind(':');
  if (rest.find('@') != std::string::npos || colon == std::string::npos) {
    fmt::print(stderr, "--redis-url: give redis://HOST:PORT (no password)\n");
    return 2;
  }
  const std::string host = rest.substr(0, colon);
  const int redis_port = std::stoi(rest.substr(colon + 1));
  const std::string channel = fmt::format("maratang-floor:{}", ::getpid());

  pid_t kids[2] = {-1, -1};
  int status = 0;
  try {
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    check(listener >= 0, "socket");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    check(::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0, "bind");
    check(::listen(listener, 4) == 0, "listen");
    socklen_t len = sizeof a;
    check(::getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len) == 0, "getsockname");
    const int port = ntohs(a.sin_port);

    for (int k = 0; k < 2; ++k) {
      kids[k] = ::fork();
      check(kids[k] >= 0, "fork");
      if (kids[k] == 0) {
        ::close(listener);
        try {
          if (k == 0) run_q(port, host, redis_port, channel);
          run_s(port, host, redis_port, channel);
        } catch (const std::exception& e) {
          fmt::print(stderr, "cross_node_floor ({}): {}\n", k == 0 ? "Q" : "S", e.what());
          ::_exit(1);
        }
      }
    }
    int q = -1, s = -1;
    for (int i = 0; i < 2; ++i) {
      pollfd pf{listener, POLLIN, 0};
      if (::poll(&pf, 1, 10000) != 1) throw std::runtime_error("Q or S did not start in 10 s");
      const int fd = ::accept(listener, nullptr, nullptr);
      check(fd >= 0, "accept");
      int one = 1;
      check(::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0, "TCP_NODELAY");
      char who = 0;
      read_exact(fd, &who, 1);
      (who == 'Q' ? q : s) = fd;
    }
    if (q < 0 || s < 0) throw std::runtime_error("Q and S did not both connect");

    samples same, cross;
    const auto gap =
        std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(1.0 / rate));
    auto next = clock_type::now();
    const int warm = std::min(count / 10, 200);
    for (int i = 0; i < 2 * (count + warm); ++i) {
      const bool is_cross = i % 2 == 1;
      std::string m = fmt::format("{}{:031}", is_cross ? 'c' : 's', i);
      const auto t0 = clock_type::now();
      write_all(q, m);
      char back[kMessage];
      read_exact(is_cross ? s : q, back, kMessage);
      const auto t1 = clock_type::now();
      if (std::string_view(back, kMessage) != m)
        throw std::runtime_error("a message came back changed");
      if (i >= 2 * warm) {
        (is_cross ? cross : same)
            .ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      }
      next += gap;
      std::this_thread::sleep_until(next);
    }
    auto line = [](const char* what, samples& x) {
      fmt::print("  {}  p50 {:.3f} ms, p90 {:.3f} ms, p99 {:.3f} ms, max {:.3f} ms ({} messages)\n",
                 what, x.pct(0.5), x.pct(0.9), x.pct(0.99), x.pct(1.0), x.ms.size());
    };
    fmt::print("floor: bare relays, {} messages of each kind at {:.0f}/s, one in flight\n", count,
               rate);
    line("same  (-> Q -> back)             ", same);
    line("cross (-> Q -> Redis -> S -> back)", cross);
    fmt::print("  added by crossing, with nothing but the hops: p50 {:+.3f} ms, p99 {:+.3f} ms\n",
               cross.pct(0.5) - same.pct(0.5), cross.pct(0.99) - same.pct(0.99));
  } catch (const std::exception& e) {
    fmt::print(stderr, "cross_node_floor: {}\n", e.what());
    status = 1;
  }
  for (const pid_t k : kids) {
    if (k > 0) {
      ::kill(k, SIGTERM);
      ::waitpid(k, nullptr, 0);
    }
  }
  return status;
}
