#include "net/listener.hpp"

#include <sys/resource.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <algorithm>
#include <boost/asio/io_context.hpp>

#include "net/session.hpp"
#include "util/log_limit.hpp"

namespace maratang::net {

namespace {

// Descriptors kept for the server's own files besides connections: the database and its journal,
// LLM calls (llm.max_concurrency per endpoint), logs, the event loop's own.
constexpr std::int64_t kReservedFds = 64;

// Waits after an accept that failed for want of resources, doubling up to the last.
constexpr auto kAcceptBackoffFirst = std::chrono::milliseconds(50);
constexpr auto kAcceptBackoffMax = std::chrono::milliseconds(1000);

bool out_of_resources(const beast::error_code& ec) {
  namespace errc = boost::system::errc;
  return ec == errc::too_many_files_open || ec == errc::too_many_files_open_in_system ||
         ec == errc::no_buffer_space || ec == errc::not_enough_memory;
}

}  // namespace

std::int64_t fit_connections_to_fd_limit(std::int64_t max_connections) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return max_connections;
  const rlim_t before = rl.rlim_cur;
  if (rl.rlim_cur < rl.rlim_max) {
    // An infinite hard limit is not a valid soft one for descriptors: fs.nr_open's default then.
    rlimit raised{rl.rlim_max == RLIM_INFINITY ? rlim_t{1} << 20 : rl.rlim_max, rl.rlim_max};
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  const auto nofile = static_cast<std::int64_t>(std::min<rlim_t>(rl.rlim_cur, INT64_MAX));
  const std::int64_t fit = std::max<std::int64_t>(1, nofile - kReservedFds);
  if (fit < max_connections) {
    spdlog::warn(
        "file descriptor limit {} (the hard limit; the soft one was {}): connections capped at "
        "{}, below limits.max_connections {} ({} descriptors kept for the server's own files)",
        nofile, before, fit, max_connections, kReservedFds);
    return fit;
  }
  spdlog::info("file descriptor limit {} (was {}): room for limits.max_connections {}", nofile,
               before, max_connections);
  return max_connections;
}

struct listener::impl : std::enable_shared_from_this<listener::impl> {
  impl(asio::io_context& ioc, std::shared_ptr<shared_state> st)
      : ioc_(ioc),
        acceptor_(asio::make_strand(ioc)),
        backoff_timer_(acceptor_.get_executor()),
        st_(std::move(st)) {}

  void do_accept() {
    acceptor_.async_accept(asio::make_strand(ioc_),
                           beast::bind_front_handler(&impl::on_accept, shared_from_this()));
  }

  void on_accept(beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    std::uint64_t suppressed = 0;
    if (ec) {
      if (out_of_resources(ec)) {
        // Out of descriptors or memory: the connection waits in the backlog. Accepting again at
        // once would fail again at once (a busy loop); wait, longer each time, until one succeeds.
        backoff_ =
            backoff_.count() == 0 ? kAcceptBackoffFirst : std::min(backoff_ * 2, kAcceptBackoffMax);
        if (log_limit_.allow("accept", suppressed)) {
          spdlog::warn("accept: {}; accepting again in {} ms{}", ec.message(), backoff_.count(),
                       util::suppressed_note(suppressed));
        }
        backoff_timer_.expires_after(backoff_);
        backoff_timer_.async_wait([self = shared_from_this()](beast::error_code tec) {
          if (!tec && self->acceptor_.is_open()) self->do_accept();
        });
        return;
      }
      // A connection that failed before it was accepted, and the like: keep accepting.
      if (log_limit_.allow("accept", suppressed))
        spdlog::warn("accept: {}{}", ec.message(), util::suppressed_note(suppressed));
    } else if (st_->open_connections.load() >= st_->opts.max_connections) {
      backoff_ = {};
      beast::error_code ignored;
      socket.close(ignored);
      if (log_limit_.allow("full", suppressed)) {
        spdlog::warn("connection refused: {} connections open, the limit{}",
                     st_->opts.max_connections, util::suppressed_note(suppressed));
      }
    } else {
      backoff_ = {};
      // Small frames go out at once: Nagle's algorithm would hold an event sent right after a
      // reply until the client's delayed ACK (about 40 ms).
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      std::make_shared<http_session>(std::move(socket), st_)->run();
    }
    do_accept();
  }

  asio::io_context& ioc_;
  tcp::acceptor acceptor_;  // on its own strand, with the timer and stop()
  asio::steady_timer backoff_timer_;
  std::chrono::milliseconds backoff_{0};  // the last wait after a failed accept; 0 after success
  util::log_limiter log_limit_{5, std::chrono::seconds(10)};
  std::shared_ptr<shared_state> st_;
};

listener::listener(asio::io_context& ioc, handler& h, obs::metrics& m, net_options opts) {
  auto st = std::make_shared<shared_state>(h, m, opts);
  impl_ = std::make_shared<impl>(ioc, std::move(st));
}

listener::~listener() {
  stop();
}

result<int> listener::open(const std::string& host, int port) {
  beast::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec)
    return error{errc::bad_field, fmt::format("server.host \"{}\" is not an IP address", host)};
  tcp::endpoint ep(addr, static_cast<unsigned short>(port));
  auto& a = impl_->acceptor_;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return error{errc::unavailable,
                 fmt::format("cannot listen on {}:{}: {}", host, port, ec.message())};
  }
  return static_cast<int>(a.local_endpoint().port());
}

void listener::start() {
  asio::dispatch(impl_->acceptor_.get_executor(), [self = impl_] { self->do_accept(); });
}

void listener::stop() {
  asio::post(impl_->acceptor_.get_executor(), [self = impl_] {
    beast::error_code ec;
    self->acceptor_.close(ec);
    self->backoff_timer_.cancel();
  });
}

}  // namespace maratang::net
