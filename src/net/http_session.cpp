#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <algorithm>
#include <array>
#include <boost/asio/ip/address.hpp>
#include <boost/url/parse.hpp>
#include <iterator>

#include "net/session.hpp"

namespace maratang::net {

namespace {

constexpr std::string_view kServerName = "maratang";

http_request convert(const http::request<http::string_body>& req, const std::string& remote,
                     const std::vector<std::string>& trusted) {
  http_request r;
  r.method = std::string(req.method_string());
  std::string_view target = req.target();
  auto q = target.find('?');
  std::string_view raw_path = target.substr(0, q);
  if (q != std::string_view::npos) r.query = std::string(target.substr(q + 1));
  if (auto p = boost::urls::parse_origin_form(raw_path)) {
    r.path = std::string(p->path());  // decoded
  } else {
    r.path = std::string(raw_path);
  }
  r.authorization = std::string(req[http::field::authorization]);
  r.content_type = std::string(req[http::field::content_type]);
  r.accept_encoding = std::string(req[http::field::accept_encoding]);
  r.if_none_match = std::string(req[http::field::if_none_match]);
  r.body = req.body();
  r.remote = trusted.empty() ? remote : client_address(remote, req["X-Forwarded-For"], trusted);
  return r;
}

std::string error_body(std::string_view code, std::string_view message) {
  return fmt::format(R"({{"error":{{"code":"{}","message":"{}"}}}})", code, message);
}

}  // namespace

http_session::http_session(tcp::socket socket, std::shared_ptr<shared_state> st)
    : stream_(std::move(socket)), st_(std::move(st)) {
  // Once per connection, not per request (it is a system call).
  beast::error_code ec;
  auto ep = stream_.socket().remote_endpoint(ec);
  if (!ec) remote_ = ep.address().to_string();
  st_->open_connections.fetch_add(1);
  st_->m.http_connections_open.fetch_add(1);
}

http_session::~http_session() {
  st_->m.http_connections_open.fetch_sub(1);
  // A session that upgraded handed its socket, and its place in the count, to the WebSocket.
  if (!upgraded_) st_->open_connections.fetch_sub(1);
}

void http_session::run() {
  asio::dispatch(stream_.get_executor(),
                 beast::bind_front_handler(&http_session::do_read, shared_from_this()));
}

void http_session::do_read() {
  parser_.emplace();
  parser_->body_limit(st_->opts.http_body_max);
  parser_->header_limit(16 * 1024);
  stream_.expires_after(std::chrono::milliseconds(st_->opts.http_idle_timeout_ms));
  http::async_read(stream_, buffer_, *parser_,
                   beast::bind_front_handler(&http_session::on_read, shared_from_this()));
}

void http_session::on_read(beast::error_code ec, std::size_t) {
  if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
      ec == asio::error::operation_aborted) {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    return;
  }
  if (ec == http::error::body_limit) {
    return write_error(http::status::payload_too_large,
                       error_body("too_large", "The request body is larger than allowed."), false);
  }
  if (ec == http::error::header_limit) {
    return write_error(http::status::request_header_fields_too_large,
                       error_body("too_large", "The request headers are larger than allowed."),
                       false);
  }
  if (ec) {
    if (ec.category() == beast::error_code(http::error::bad_target).category()) {
      return write_error(http::status::bad_request,
                         error_body("bad_message", "Malformed HTTP request."), false);
    }
    return;  // connection reset and the like
  }
  started_ = std::chrono::steady_clock::now();
  auto req = parser_->release();
  version_ = req.version();
  keep_alive_ = req.keep_alive();
  head_ = req.method() == http::verb::head;
  if (websocket::is_upgrade(req)) return upgrade(std::move(req));

  st_->m.http_requests.fetch_add(1, std::memory_order_relaxed);
  auto self = shared_from_this();
  st_->h.on_http(convert(req, remote_, st_->opts.trusted_proxies), [self](http_response resp) {
    asio::dispatch(self->stream_.get_executor(),
                   [self, resp = std::move(resp)]() mutable { self->respond(std::move(resp)); });
  });
}

void http_session::upgrade(http::request<http::string_body> req) {
  auto r = convert(req, remote_, st_->opts.trusted_proxies);
  if (r.path != "/ws") {
    return write_error(http::status::not_found,
                       error_body("not_found", "WebSocket endpoint is /ws."), false);
  }
  auto id = st_->h.on_ws_upgrade(r);
  if (!id) {
    st_->m.count_error(id.error().code);
    return write_error(static_cast<http::status>(http_status(id.error().code)),
                       error_body(to_string(id.error().code), id.error().message), false);
  }
  stream_.expires_never();
  upgraded_ = true;
  std::make_shared<ws_session>(stream_.release_socket(), st_, std::move(*id), started_)
      ->run(std::move(req));
}

void http_session::respond(http_response resp) {
  if (resp.shared_body) {
    // Shared bytes (e.g. a cached listing) go out as they are, referenced rather than copied,
    // behind a head formatted here: the hot path of cached GETs skips Beast's serializer.
    const auto status = static_cast<http::status>(resp.status);
    shared_head_.clear();
    fmt::format_to(std::back_inserter(shared_head_),
                   "HTTP/{}.{} {} {}\r\nServer: {}\r\nContent-Type: {}\r\n", version_ / 10,
                   version_ % 10, resp.status, http::obsolete_reason(status), kServerName,
                   resp.content_type);
    for (auto& [k, v] : resp.headers) {
      // Never let a value end the head early (Beast's serializer would not either).
      if (k.find_first_of("\r\n") != std::string::npos ||
          v.find_first_of("\r\n") != std::string::npos) {
        continue;
      }
      fmt::format_to(std::back_inserter(shared_head_), "{}: {}\r\n", k, v);
    }
    // HTTP/1.1 keeps the connection by default, HTTP/1.0 closes it by default.
    if (!keep_alive_ && version_ >= 11) shared_head_ += "Connection: close\r\n";
    if (keep_alive_ && version_ < 11) shared_head_ += "Connection: keep-alive\r\n";
    fmt::format_to(std::back_inserter(shared_head_), "Content-Length: {}\r\n\r\n",
                   resp.shared_body->size());
    shared_body_ = std::move(resp.shared_body);
    // HEAD: the same head, Content-Length included, and no body (RFC 9110, 9.3.2).
    const std::array<asio::const_buffer, 2> bufs = {
        asio::buffer(shared_head_), head_ ? asio::const_buffer() : asio::buffer(*shared_body_)};
    asio::async_write(
        stream_, bufs,
        beast::bind_front_handler(&http_session::on_write, shared_from_this(), keep_alive_));
    return;
  }
  auto res = std::make_shared<http::response<http::string_body>>(
      static_cast<http::status>(resp.status), version_);
  res->set(http::field::server, kServerName);
  res->set(http::field::content_type, resp.content_type);
  for (auto& [k, v] : resp.headers)
    res->set(k, v);
  res->body() = std::move(resp.body);
  res->keep_alive(keep_alive_);
  res->prepare_payload();
  if (head_) {
    // HEAD: the GET's Content-Length, no body.
    const auto length = res->body().size();
    res->body().clear();
    res->content_length(length);
  }
  res_ = res;
  http::async_write(
      stream_, *res,
      beast::bind_front_handler(&http_session::on_write, shared_from_this(), keep_alive_));
}

void http_session::write_error(http::status status, std::string body, bool keep_alive) {
  keep_alive_ = keep_alive;
  http_response resp;
  resp.status = static_cast<int>(status);
  resp.body = std::move(body);
  respond(std::move(resp));
}

void http_session::on_write(bool keep_alive, beast::error_code ec, std::size_t) {
  if (started_.time_since_epoch().count() != 0) {
    st_->m.request_seconds.observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());
  }
  res_.reset();
  shared_body_.reset();
  if (ec) return;
  if (!keep_alive) {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    return;
  }
  do_read();
}

std::string client_address(const std::string& peer, std::string_view forwarded_for,
                           const std::vector<std::string>& trusted) {
  auto is_trusted = [&](std::string_view a) {
    return std::find(trusted.begin(), trusted.end(), a) != trusted.end();
  };
  if (!is_trusted(peer) || forwarded_for.empty()) return peer;
  // From the right: the nearest hop first.
  std::vector<std::string_view> hops;
  while (!forwarded_for.empty()) {
    const auto comma = forwarded_for.find(',');
    std::string_view hop = forwarded_for.substr(0, comma);
    while (!hop.empty() && (hop.front() == ' ' || hop.front() == '\t'))
      hop.remove_prefix(1);
    while (!hop.empty() && (hop.back() == ' ' || hop.back() == '\t'))
      hop.remove_suffix(1);
    boost::system::error_code ec;
    boost::asio::ip::make_address(hop, ec);
    if (ec) return peer;  // not a list of addresses: believe none of it
    hops.push_back(hop);
    if (comma == std::string_view::npos) break;
    forwarded_for.remove_prefix(comma + 1);
  }
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    if (!is_trusted(*it)) return std::string(*it);
  }
  return hops.empty() ? peer : std::string(hops.front());
}

}  // namespace maratang::net
