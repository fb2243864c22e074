#include "net/listener.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>

#include "net/session.hpp"

namespace maratang::net {

struct listener::impl : std::enable_shared_from_this<listener::impl> {
  impl(asio::io_context& ioc, std::shared_ptr<shared_state> st)
      : ioc_(ioc), acceptor_(ioc), st_(std::move(st)) {}

  void do_accept() {
    acceptor_.async_accept(asio::make_strand(ioc_),
                           beast::bind_front_handler(&impl::on_accept, shared_from_this()));
  }

  void on_accept(beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
      // Out of descriptors and the like: log, and keep accepting.
      spdlog::warn("accept: {}", ec.message());
    } else if (st_->open_connections.load() >= st_->opts.max_connections) {
      beast::error_code ignored;
      socket.close(ignored);
    } else {
      // Small frames go out at once: Nagle's algorithm would hold an event sent right after a
      // reply until the client's delayed ACK (about 40 ms).
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      std::make_shared<http_session>(std::move(socket), st_)->run();
    }
    do_accept();
  }

  asio::io_context& ioc_;
  tcp::acceptor acceptor_;
  std::shared_ptr<shared_state> st_;
};

listener::listener(asio::io_context& ioc, handler& h, app::metrics& m, net_options opts) {
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
  });
}

}  // namespace maratang::net
