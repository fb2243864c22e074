// arena_floor: the least a 30 Hz server can cost on this machine, whatever its game. A server
// process that does nothing but what every realtime server must: once a tick it sends each client
// one state of `--state-bytes`, and it receives each client's input of `--input-bytes` (a child
// process plays the clients over loopback TCP: one input back for every state it reads). No game,
// no WebSocket framing, no allocation per message. Prints the server process's CPU per player per
// tick (per state sent) and the players a core would hold at that rate, for two ways of making the
// system calls:
//   syscall  epoll and one send() per client per tick, one recv() per input (what Asio's reactor
//            does, and what Maratang's network thread does today)
//   uring    io_uring: a tick's sends queued and submitted with one io_uring_enter, each client's
//            next receive kept queued, completions reaped in batches
// Asserts nothing. Usage: arena_floor [--clients 400] [--seconds 5] [--hz 30] [--mode both]
//                                     [--state-bytes 56] [--input-bytes 10]
// On loopback a send also runs the receiver's TCP stack in the sender's context (softirq), so the
// server pays for the clients' receiving and the clients for the server's: symmetric, and part of
// why a figure here is above what the same server would cost with its clients on other machines.

#include <fmt/format.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

struct options {
  int clients = 400;
  int seconds = 5;
  int hz = 30;
  int state_bytes = 56;
  int input_bytes = 10;
};

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(fmt::format("{}: {}", what, std::strerror(errno)));
}

void no_delay(int fd) {
  int one = 1;
  check(::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0, "TCP_NODELAY");
}

double process_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) / 1e6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

// An epoll instance watching `fds` for reading, each event carrying its index in `fds`.
int epoll_over(const std::vector<int>& fds) {
  int ep = ::epoll_create1(0);
  check(ep >= 0, "epoll_create1");
  for (std::size_t i = 0; i < fds.size(); ++i) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    check(::epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) == 0, "epoll_ctl");
  }
  return ep;
}

// The clients, in a child process: read what arrives, answer each whole state with one input.
[[noreturn]] void play_clients(const std::vector<int>& fds, const options& o) {
  const int ep = epoll_over(fds);
  std::vector<std::size_t> pending(fds.size(), 0);
  std::vector<char> buf(1 << 16);
  const std::string input(static_cast<std::size_t>(o.input_bytes) * 64, 'i');
  std::vector<epoll_event> evs(512);
  for (;;) {
    int n = ::epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 1000);
    for (int k = 0; k < n; ++k) {
      const std::size_t i = evs[k].data.u64;
      ssize_t got = ::recv(fds[i], buf.data(), buf.size(), 0);
      if (got <= 0) ::_exit(0);  // the server closed: done
      pending[i] += static_cast<std::size_t>(got);
      std::size_t states = pending[i] / static_cast<std::size_t>(o.state_bytes);
      pending[i] %= static_cast<std::size_t>(o.state_bytes);
      states = std::min<std::size_t>(states, 64);
      if (states > 0)
        ::send(fds[i], input.data(), states * static_cast<std::size_t>(o.input_bytes), 0);
    }
  }
}

struct counts {
  std::uint64_t sent = 0;      // states
  std::uint64_t received = 0;  // input bytes
};

// epoll and a send()/recv() per message: the reactor's way.
counts serve_syscalls(const std::vector<int>& fds, const options& o, clock_type::time_point end) {
  const int ep = epoll_over(fds);
  const std::string state(static_cast<std::size_t>(o.state_bytes), 's');
  std::vector<char> buf(4096);
  std::vector<epoll_event> evs(512);
  counts c;
  const auto step = std::chrono::nanoseconds(1'000'000'000 / o.hz);
  auto next = clock_type::now();
  while (next < end) {
    for (int fd : fds) {
      if (::send(fd, state.data(), state.size(), MSG_DONTWAIT) > 0) ++c.sent;
    }
    next += step;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(next - clock_type::now());
      int n = ::epoll_wait(ep, evs.data(), static_cast<int>(evs.size()),
                           static_cast<int>(std::max<long>(left.count(), 0)));
      for (int k = 0; k < n; ++k) {
        ssize_t got = ::recv(fds[evs[k].data.u64], buf.data(), buf.size(), MSG_DONTWAIT);
        if (got > 0) c.received += static_cast<std::uint64_t>(got);
      }
      if (n <= 0 && clock_type::now() >= next) break;
    }
  }
  ::close(ep);
  return c;
}

// io_uring: the tick's sends in one submission, one receive kept queued per client.
counts serve_uring(const std::vector<int>& fds, const options& o, clock_type::time_point end) {
  io_uring ring{};
  const unsigned entries = 2 * static_cast<unsigned>(fds.size()) + 64;
  io_uring_params p{};
  p.flags = IORING_SETUP_CQSIZE;
  p.cq_entries = 4 * entries;
  check(::io_uring_queue_init_params(entries, &ring, &p) == 0, "io_uring_queue_init");
  const std::string state(static_cast<std::size_t>(o.state_bytes), 's');
  constexpr std::size_t kBuf = 512;
  std::vector<char> bufs(fds.size() * kBuf);
  constexpr std::uint64_t kSendTag = std::uint64_t{1} << 63;
  // A free submission slot, submitting what is queued when there is none.
  auto next_sqe = [&] {
    io_uring_sqe* sqe = ::io_uring_get_sqe(&ring);
    if (!sqe) {
      ::io_uring_submit(&ring);
      sqe = ::io_uring_get_sqe(&ring);
    }
    return sqe;
  };
  auto arm_recv = [&](std::size_t i) {
    io_uring_sqe* sqe = next_sqe();
    ::io_uring_prep_recv(sqe, fds[i], bufs.data() + i * kBuf, kBuf, 0);
    ::io_uring_sqe_set_data64(sqe, i);
  };
  for (std::size_t i = 0; i < fds.size(); ++i)
    arm_recv(i);
  counts c;
  const auto step = std::chrono::nanoseconds(1'000'000'000 / o.hz);
  auto next = clock_type::now();
  auto reap = [&] {
    io_uring_cqe* cqe = nullptr;
    unsigned head = 0;
    unsigned n = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      ++n;
      const std::uint64_t tag = ::io_uring_cqe_get_data64(cqe);
      if (tag & kSendTag) {
        if (cqe->res > 0) ++c.sent;
      } else {
        if (cqe->res > 0) c.received += static_cast<std::uint64_t>(cqe->res);
        if (cqe->res > 0 || cqe->res == -EAGAIN) arm_recv(tag);
      }
    }
    ::io_uring_cq_advance(&ring, n);
  };
  while (next < end) {
    for (std::size_t i = 0; i < fds.size(); ++i) {
      io_uring_sqe* sqe = next_sqe();
      ::io_uring_prep_send(sqe, fds[i], state.data(), state.size(), 0);
      ::io_uring_sqe_set_data64(sqe, kSendTag | i);
    }
    next += step;
    for (;;) {
      auto left = next - clock_type::now();
      if (left <= std::chrono::nanoseconds(0)) {
        ::io_uring_submit(&ring);
        reap();
        break;
      }
      __kernel_timespec ts{};
      ts.tv_sec = std::chrono::duration_cast<std::chrono::seconds>(left).count();
      ts.tv_nsec = (left - std::chrono::seconds(ts.tv_sec)).count();
      io_uring_cqe* cqe = nullptr;
      ::io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, nullptr);
      reap();
    }
  }
  ::io_uring_queue_exit(&ring);
  return c;
}

void run(const std::string& mode, const options& o) {
  int lst = ::socket(AF_INET, SOCK_STREAM, 0);
  check(lst >= 0, "socket");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  check(::bind(lst, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0, "bind");
  check(::listen(lst, 4096) == 0, "listen");
  socklen_t len = sizeof a;
  ::getsockname(lst, reinterpret_cast<sockaddr*>(&a), &len);
  std::vector<int> client_fds;
  std::vector<int> server_fds;
  for (int i = 0; i < o.clients; ++i) {
    int c = ::socket(AF_INET, SOCK_STREAM, 0);
    check(c >= 0, "socket");
    check(::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0, "connect");
    int s = ::accept(lst, nullptr, nullptr);
    check(s >= 0, "accept");
    no_delay(c);
    no_delay(s);
    client_fds.push_back(c);
    server_fds.push_back(s);
  }
  ::close(lst);
  pid_t child = ::fork();
  check(child >= 0, "fork");
  if (child == 0) {
    for (int s : server_fds)
      ::close(s);
    play_clients(client_fds, o);
  }
  for (int c : client_fds)
    ::close(c);
  // One second to settle, then the measured window.
  auto warm_end = clock_type::now() + std::chrono::seconds(1);
  auto end = warm_end + std::chrono::seconds(o.seconds);
  auto serve = [&](clock_type::time_point until) {
    return mode == "uring" ? serve_uring(server_fds, o, until)
                           : serve_syscalls(server_fds, o, until);
  };
  serve(warm_end);
  const double cpu0 = process_cpu_seconds();
  const auto t0 = clock_type::now();
  counts c = serve(end);
  const double wall = std::chrono::duration<double>(clock_type::now() - t0).count();
  const double cpu = process_cpu_seconds() - cpu0;
  for (int s : server_fds)
    ::close(s);
  ::waitpid(child, nullptr, 0);
  // Per state sent (a player's tick): a server that cannot keep up sends fewer than it should,
  // and the states it did send are what its CPU bought.
  const double target = double(o.clients) * o.hz;
  const double per_state = cpu / std::max<double>(double(c.sent), 1);
  fmt::print(
      "{:8} {} clients at {} Hz: {:.0f} of {:.0f} states/s sent{}, {:.0f} inputs/s received; "
      "server CPU {:.1f}% of a core, {:.2f} us per state; players per core at that rate: {:.0f}\n",
      mode, o.clients, o.hz, double(c.sent) / wall, target,
      double(c.sent) / wall < 0.97 * target ? " (fell behind)" : "",
      double(c.received) / o.input_bytes / wall, cpu / wall * 100, per_state * 1e6,
      1.0 / per_state / o.hz);
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  std::string mode = "both";
  CLI::App app{
      "The least a 30 Hz server can cost here: one send per client per tick, one receive per "
      "input"};
  app.add_option("--clients", o.clients, "Clients")->check(CLI::Range(1, 20000));
  app.add_option("--seconds", o.seconds, "Seconds measured")->check(CLI::Range(1, 60));
  app.add_option("--hz", o.hz, "Ticks a second")->check(CLI::Range(1, 128));
  app.add_option("--state-bytes", o.state_bytes, "Bytes of a state")->check(CLI::Range(1, 4096));
  app.add_option("--input-bytes", o.input_bytes, "Bytes of an input")->check(CLI::Range(1, 512));
  app.add_option("--mode", mode, "syscall, uring or both")
      ->check(CLI::IsMember({"syscall", "uring", "both"}));
  CLI11_PARSE(app, argc, argv);
  try {
    if (mode != "uring") run("syscall", o);
    if (mode != "syscall") run("uring", o);
  } catch (const std::exception& e) {
    fmt::print(stderr, "arena_floor: {}\n", e.what());
    return 1;
  }
  return 0;
}
