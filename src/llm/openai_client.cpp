#include "llm/openai_client.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/scheme.hpp>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <unordered_map>

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "llm/sse.hpp"
#include "util/clock.hpp"
#include "util/utf8.hpp"

namespace maratang::llm {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string_view to_string(failure f) noexcept {
  switch (f) {
    case failure::timeout:
      return "timeout";
    case failure::http_status:
      return "http_status";
    case failure::broken_stream:
      return "broken_stream";
    case failure::connect:
      return "connect";
    case failure::tls:
      return "tls";
    case failure::bad_response:
      return "bad_response";
    case failure::breaker_open:
      return "breaker_open";
    case failure::queue_full:
      return "queue_full";
    case failure::cancelled:
      return "cancelled";
  }
  return "unknown";
}

std::string_view to_string(client::breaker_state s) noexcept {
  switch (s) {
    case client::breaker_state::closed:
      return "closed";
    case client::breaker_state::open:
      return "open";
    case client::breaker_state::half_open:
      return "half_open";
  }
  return "unknown";
}

void throw_exception_from_error(const call_error& e, const boost::source_location&) {
  throw std::runtime_error(fmt::format("llm call failed: {}: {}", to_string(e.kind), e.detail));
}

namespace {

// Where the client sends its requests, derived once from the base URL.
struct target_url {
  bool tls = false;         // https
  std::string host;         // for the resolver (IPv6 without brackets)
  std::string port;         // "80" (http) or "443" (https) unless given
  std::string host_header;  // host[:port] as written
  std::string target;       // path of chat/completions
};

result<target_url> parse_base(std::string_view base) {
  auto u = boost::urls::parse_absolute_uri(base);
  if (!u) {
    return error{errc::bad_field, fmt::format("LLM base URL \"{}\" is not an absolute URL", base)};
  }
  if (u->scheme_id() != boost::urls::scheme::http && u->scheme_id() != boost::urls::scheme::https) {
    return error{errc::bad_field,
                 fmt::format("LLM base URL \"{}\": only http:// and https:// are supported", base)};
  }
  if (u->has_query() || u->has_fragment() || u->has_userinfo()) {
    return error{errc::bad_field, fmt::format("LLM base URL \"{}\" may not have a query, "
                                              "fragment or user info",
                                              base)};
  }
  target_url t;
  t.tls = u->scheme_id() == boost::urls::scheme::https;
  t.host = u->host_address();
  if (t.host.empty()) {
    return error{errc::bad_field, fmt::format("LLM base URL \"{}\" has no host", base)};
  }
  t.port = u->has_port() ? std::string(u->port()) : t.tls ? "443" : "80";
  if (u->has_port() && (t.port.empty() || u->port_number() == 0)) {
    return error{errc::bad_field, fmt::format("LLM base URL \"{}\" has a bad port", base)};
  }
  t.host_header = std::string(u->encoded_host());
  if (u->has_port()) t.host_header += ":" + t.port;
  std::string path(u->encoded_path());
  while (!path.empty() && path.back() == '/')
    path.pop_back();
  if (!path.ends_with("/v1")) path += "/v1";
  t.target = path + "/chat/completions";
  return t;
}

std::string request_json(const chat_request& r) {
  json::array msgs;
  for (const auto& m : r.messages)
    msgs.push_back(json::object{{"role", m.role}, {"content", m.content}});
  json::object o;
  o["model"] = r.model;
  o["messages"] = std::move(msgs);
  o["max_tokens"] = r.max_tokens;
  o["temperature"] = r.temperature;
  o["stream"] = r.stream;
  return json::serialize(o);
}

call_error make_error(failure kind, std::string detail, int status = 0) {
  call_error e;
  e.kind = kind;
  e.detail = std::move(detail);
  e.http_status = status;
  return e;
}

bool retryable_status(int s) {
  return s == 408 || s == 429 || s >= 500;
}

constexpr std::uint64_t body_limit = 64ull << 20;

}  // namespace

struct call_handle::op_ref {
  std::function<void()> cancel;
};

void call_handle::cancel() {
  if (ref_ && ref_->cancel) ref_->cancel();
}

result<void> check_base_url(std::string_view base_url) {
  auto r = parse_base(base_url);
  if (!r) return r.error();
  return {};
}

namespace {

// The TLS settings of an https endpoint: TLS 1.2 or later, the peer always verified against the
// CA file or the system's authorities. Throws boost::system::system_error if the file is unusable.
std::shared_ptr<asio::ssl::context> make_tls_context(const std::string& ca_file) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                   asio::ssl::context::no_tlsv1_1);
  ctx->set_verify_mode(asio::ssl::verify_peer);
  if (ca_file.empty()) {
    ctx->set_default_verify_paths();
  } else {
    ctx->load_verify_file(ca_file);
  }
  return ctx;
}

}  // namespace

result<void> check_ca_file(const std::string& ca_file) {
  if (ca_file.empty()) return {};
  try {
    make_tls_context(ca_file);
  } catch (const boost::system::system_error& e) {
    return error{errc::bad_field,
                 fmt::format("CA file \"{}\" cannot be loaded: {}", ca_file, e.code().message())};
  }
  return {};
}

namespace {

// One connection to the endpoint: TCP, and TLS over it for https. Shared, never moved, so that the
// TLS stream's reference to its TCP stream stays valid in and out of the pool.
struct connection {
  explicit connection(asio::strand<asio::io_context::executor_type> ex) : tcp(std::move(ex)) {}
  beast::tcp_stream tcp;
  std::optional<asio::ssl::stream<beast::tcp_stream&>> tls;
  steady::time_point idle_since{};
};

// How long an idle connection is kept for the next call: below the 5 s keep-alive of uvicorn
// (vLLM's server), so that the server rarely closes one just as it is reused.
constexpr auto pool_idle_max = std::chrono::seconds(4);

}  // namespace

struct client::core : std::enable_shared_from_this<client::core> {
  struct op;

  core(asio::io_context& io, endpoint e, client_options o, const clock& c)
      : strand(asio::make_strand(io)),
        ep(std::move(e)),
        opt(o),
        clk(c),
        url(parse_base(ep.base_url)),
        rng(std::random_device{}()) {
    if (url && url->tls) {
      try {
        tls_ctx = make_tls_context(opt.ca_file);
      } catch (const boost::system::system_error& failed) {
        url = error{errc::bad_field, fmt::format("CA file \"{}\" cannot be loaded: {}", opt.ca_file,
                                                 failed.code().message())};
      }
    }
    opt.max_concurrency = std::max(1, opt.max_concurrency);
    opt.max_queue = std::max(0, opt.max_queue);
    opt.max_retries = std::max(0, opt.max_retries);
  }

  enum class admission { allow, probe, reject };

  // Under mu. Moves open -> half_open once the open time has passed.
  void refresh_breaker() {
    if (br == breaker_state::open &&
        clk.steady_now() - opened_at >= milliseconds(opt.breaker_open_ms)) {
      br = breaker_state::half_open;
      probe_out = false;
    }
  }

  // Under mu.
  admission admit() {
    if (opt.breaker_failures <= 0) return admission::allow;
    refresh_breaker();
    switch (br) {
      case breaker_state::closed:
        return admission::allow;
      case breaker_state::open:
        return admission::reject;
      case breaker_state::half_open:
        if (probe_out) return admission::reject;
        probe_out = true;
        return admission::probe;
    }
    return admission::reject;
  }

  enum class outcome { success, counted_failure, neutral };

  // Under mu.
  void record(bool probe, outcome o) {
    if (opt.breaker_failures <= 0) return;
    switch (o) {
      case outcome::success:
        consecutive_failures = 0;
        if (probe) {
          br = breaker_state::closed;
          probe_out = false;
        }
        break;
      case outcome::counted_failure:
        if (probe) {
          br = breaker_state::open;
          opened_at = clk.steady_now();
          probe_out = false;
        } else if (br == breaker_state::closed && ++consecutive_failures >= opt.breaker_failures) {
          br = breaker_state::open;
          opened_at = clk.steady_now();
          consecutive_failures = 0;
        }
        break;
      case outcome::neutral:
        if (probe) probe_out = false;
        break;
    }
  }

  // Under mu. Random backoff before attempt n+1 (n >= 1 attempts made).
  milliseconds backoff(int n) {
    double d = opt.backoff_base_ms;
    for (int i = 1; i < n && d < opt.backoff_max_ms; ++i)
      d *= 2;
    auto top = static_cast<std::int64_t>(std::min<double>(d, opt.backoff_max_ms));
    if (top <= 0) return milliseconds(0);
    return milliseconds(std::uniform_int_distribution<std::int64_t>(top / 2, top)(rng));
  }

  // Runs a user callback unless the client is gone.
  template <class F>
  void invoke(F&& f) {
    std::lock_guard g(gate);
    if (closed) return;
    f();
  }

  void abort_all();

  asio::strand<asio::io_context::executor_type> strand;
  endpoint ep;
  client_options opt;
  const clock& clk;
  result<target_url> url;
  std::shared_ptr<asio::ssl::context> tls_ctx;  // https only
  // Connections kept alive between calls, newest last (strand only; at most max_concurrency).
  std::vector<std::shared_ptr<connection>> idle;

  // Strand only. An idle connection young enough to reuse, or null.
  std::shared_ptr<connection> take_idle() {
    while (!idle.empty()) {
      auto conn = std::move(idle.back());
      idle.pop_back();
      if (steady::now() - conn->idle_since < pool_idle_max && conn->tcp.socket().is_open())
        return conn;
    }
    return nullptr;
  }
  void give_back(std::shared_ptr<connection> conn) {
    conn->idle_since = steady::now();
    idle.push_back(std::move(conn));
    if (static_cast<int>(idle.size()) > opt.max_concurrency) idle.erase(idle.begin());
  }

  // State shared with the accessors; the strand is the only writer except for stats.calls.
  mutable std::mutex mu;
  stats st;
  breaker_state br = breaker_state::closed;
  int consecutive_failures = 0;
  steady::time_point opened_at{};
  bool probe_out = false;
  std::deque<std::shared_ptr<op>> queue;
  std::unordered_map<std::uint64_t, std::weak_ptr<op>> live;
  std::uint64_t next_id = 0;
  std::mt19937_64 rng;

  // Held while a user callback runs; closed once the client is destroyed.
  std::recursive_mutex gate;
  bool closed = false;
};

// One call. Every member function runs on the core's strand.
struct client::core::op : std::enable_shared_from_this<op> {
  op(std::shared_ptr<core> owner, std::uint64_t op_id, chat_request r, token_fn t, done_fn d)
      : c(std::move(owner)),
        id(op_id),
        req(std::move(r)),
        on_token(std::move(t)),
        on_done(std::move(d)),
        total_timer(c->strand),
        backoff_timer(c->strand),
        resolver(c->strand),
        conn(nullptr) {}

  // Admission: the breaker, then a slot or the queue.
  void admit() {
    start_time = steady::now();
    total_deadline = start_time + milliseconds(req.total_timeout_ms > 0 ? req.total_timeout_ms
                                                                        : c->opt.total_timeout_ms);
    {
      std::lock_guard g(c->gate);
      if (c->closed) return finish(make_error(failure::cancelled, "client destroyed"));
    }
    if (!c->url) {
      return finish(make_error(failure::connect, c->url.error().message));
    }
    std::optional<call_error> rejected;
    bool run_now = false;
    {
      std::lock_guard g(c->mu);
      auto a = c->admit();
      if (a == admission::reject) {
        rejected = make_error(failure::breaker_open, "circuit breaker is open");
      } else {
        probe = a == admission::probe;
        if (c->st.in_flight < c->opt.max_concurrency) {
          ++c->st.in_flight;
          running = true;
          run_now = true;
        } else if (static_cast<int>(c->queue.size()) < c->opt.max_queue) {
          c->queue.push_back(shared_from_this());
          ++c->st.queued;
          queued = true;
        } else {
          if (probe) {
            c->probe_out = false;
            probe = false;
          }
          rejected = make_error(failure::queue_full, fmt::format("{} calls in flight and {} queued",
                                                                 c->st.in_flight, c->queue.size()));
        }
      }
      if (!rejected) c->live.emplace(id, weak_from_this());
    }
    if (rejected) return finish(std::move(*rejected));
    if (req.first_token_wait_ms > 0)
      first_token_by = start_time + milliseconds(req.first_token_wait_ms);
    arm_deadline();
    if (run_now) start_attempt();
  }

  // Before the first token, the nearer of the two call deadlines; then the total one.
  steady::time_point call_deadline() const {
    return token_delivered ? total_deadline : std::min(total_deadline, first_token_by);
  }
  bool first_token_late() const {
    return !token_delivered && first_token_by < total_deadline && steady::now() >= first_token_by;
  }

  void arm_deadline() {
    total_timer.expires_at(call_deadline());
    total_timer.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->finished) return;
      if (self->first_token_late()) {
        return self->abort(
            make_error(failure::timeout, fmt::format("no first token within {} ms (all attempts)",
                                                     self->req.first_token_wait_ms)));
      }
      if (steady::now() >= self->total_deadline) {
        return self->abort(make_error(failure::timeout, "total timeout expired"));
      }
      self->arm_deadline();  // a token came: only the total deadline is left
    });
  }

  // Ends the call from outside its I/O (cancel, total timeout, client destroyed).
  void abort(call_error e) {
    if (finished) return;
    if (queued) {
      {
        std::lock_guard g(c->mu);
        auto it = std::find(c->queue.begin(), c->queue.end(), shared_from_this());
        if (it != c->queue.end()) {
          c->queue.erase(it);
          --c->st.queued;
        }
        queued = false;
      }
      return finish(std::move(e));
    }
    abort_err = std::move(e);
    resolver.cancel();
    backoff_timer.cancel();
    if (conn) conn->tcp.cancel();
  }

  // counted: false when a kept-alive connection turned out closed before anything was read, and
  // the same attempt goes again on a new connection.
  void start_attempt(bool counted = true) {
    if (counted) ++attempts;
    if (counted && attempts > 1) {
      std::lock_guard g(c->mu);
      ++c->st.retries;
    }
    drop_connection();
    parser.emplace();
    parser->body_limit(body_limit);
    buf.clear();
    got_header = false;
    reused = false;
    if (counted) {
      if (auto idle = c->take_idle()) {
        conn = std::move(idle);
        reused = true;
        return send_request();
      }
    }
    conn = std::make_shared<connection>(c->strand);
    {
      std::lock_guard g(c->mu);
      ++c->st.connections;
    }
    const auto& u = *c->url;
    resolver.async_resolve(
        u.host, u.port,
        [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type results) {
          self->on_resolve(ec, std::move(results));
        });
  }

  // Arms the stream's deadline, never beyond the call's total deadline.
  void expire_at(steady::time_point tp) { conn->tcp.expires_at(std::min(tp, call_deadline())); }

  void drop_connection() {
    if (!conn) return;
    beast::error_code ignored;
    conn->tcp.socket().close(ignored);
    conn.reset();
  }

  void on_resolve(beast::error_code ec, tcp::resolver::results_type results) {
    if (abort_err) return finish(*abort_err);
    if (ec) return attempt_failed(failure::connect, "resolve: " + ec.message());
    expire_at(steady::now() + milliseconds(c->opt.connect_timeout_ms));
    conn->tcp.async_connect(results,
                            [self = shared_from_this()](beast::error_code e, const tcp::endpoint&) {
                              self->on_connect(e);
                            });
  }

  void on_connect(beast::error_code ec) {
    if (abort_err) return finish(*abort_err);
    if (ec == beast::error::timeout) return attempt_failed(failure::timeout, "connect timed out");
    if (ec) return attempt_failed(failure::connect, "connect: " + ec.message());
    beast::error_code ignored;
    conn->tcp.socket().set_option(tcp::no_delay(true), ignored);
    if (c->url->tls) return start_handshake();
    send_request();
  }

  // https: the handshake, with SNI and the certificate checked against the URL's host name (or
  // IP address) by OpenSSL itself, within the connect timeout.
  void start_handshake() {
    const auto& u = *c->url;
    auto& tls = conn->tls;
    tls.emplace(conn->tcp, *c->tls_ctx);
    SSL* ssl = tls->native_handle();
    beast::error_code ec;
    (void)asio::ip::make_address(u.host, ec);
    const bool named = !!ec;  // not an IP address
    if (named) {
      // SNI is for names, never addresses. (SSL_set_tlsext_host_name, without its C cast.)
      SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(u.host.c_str()));
      SSL_set1_host(ssl, u.host.c_str());
    } else {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), u.host.c_str());
    }
    tls->async_handshake(
        asio::ssl::stream_base::client,
        [self = shared_from_this()](beast::error_code e) { self->on_handshake(e); });
  }

  void on_handshake(beast::error_code ec) {
    if (abort_err) return finish(*abort_err);
    if (ec == beast::error::timeout)
      return attempt_failed(failure::timeout, "TLS handshake timed out");
    if (ec) {
      const auto& u = *c->url;
      const long v = SSL_get_verify_result(conn->tls->native_handle());
      if (v != X509_V_OK) {
        return attempt_failed(
            failure::tls, fmt::format("TLS: the certificate of {}:{} is not accepted: {}", u.host,
                                      u.port, X509_verify_cert_error_string(v)));
      }
      return attempt_failed(failure::tls, fmt::format("TLS handshake with {}:{} failed: {}", u.host,
                                                      u.port, ec.message()));
    }
    send_request();
  }

  // Runs f on the stream the request goes over: the TLS stream for https, else the TCP stream.
  template <class F>
  void with_stream(F&& f) {
    if (conn->tls) {
      f(*conn->tls);
    } else {
      f(conn->tcp);
    }
  }

  void send_request() {
    const auto& u = *c->url;
    hreq = {};
    hreq.method(http::verb::post);
    hreq.target(u.target);
    hreq.version(11);
    hreq.set(http::field::host, u.host_header);
    hreq.set(http::field::user_agent, "maratang-llm");
    hreq.set(http::field::content_type, "application/json");
    hreq.set(http::field::accept, req.stream ? "text/event-stream" : "application/json");
    hreq.set(http::field::connection, "keep-alive");
    if (!c->ep.api_key.empty()) hreq.set(http::field::authorization, "Bearer " + c->ep.api_key);
    hreq.body() = request_json(req);
    hreq.prepare_payload();
    first_deadline = steady::now() + milliseconds(c->opt.first_token_timeout_ms);
    expire_at(first_deadline);
    with_stream([this](auto& s) {
      http::async_write(s, hreq, [self = shared_from_this()](beast::error_code e, std::size_t) {
        self->on_write(e);
      });
    });
  }

  void io_failed(beast::error_code ec, std::string_view what) {
    if (reused && !got_header && ec != beast::error::timeout) {
      // The kept-alive connection was closed by the server meanwhile: the same attempt again,
      // on a new connection (nothing of a reply was read, so nothing was lost).
      return start_attempt(false);
    }
    if (ec == beast::error::timeout) {
      if (first_token_late()) {
        return attempt_failed(failure::timeout,
                              fmt::format("{}: no first token within {} ms (all attempts)", what,
                                          req.first_token_wait_ms));
      }
      if (steady::now() >= total_deadline)
        return attempt_failed(failure::timeout, fmt::format("{}: total timeout expired", what));
      return attempt_failed(
          failure::timeout,
          fmt::format("{}: no {} in time", what, token_delivered ? "data" : "first token"));
    }
    if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
        ec == asio::error::eof) {
      return attempt_failed(failure::broken_stream, fmt::format("{}: connection closed", what));
    }
    attempt_failed(failure::broken_stream, fmt::format("{}: {}", what, ec.message()));
  }

  void on_write(beast::error_code ec) {
    if (abort_err) return finish(*abort_err);
    if (ec) return io_failed(ec, "sending the request");
    with_stream([this](auto& s) {
      http::async_read_header(
          s, buf, *parser,
          [self = shared_from_this()](beast::error_code e, std::size_t) { self->on_header(e); });
    });
  }

  void on_header(beast::error_code ec) {
    if (abort_err) return finish(*abort_err);
    if (ec) return io_failed(ec, "reading the reply header");
    got_header = true;
    const auto& h = parser->get();
    if (h.result_int() != 200) {
      with_stream([this](auto& s) {
        http::async_read(
            s, buf, *parser, [self = shared_from_this()](beast::error_code, std::size_t) {
              if (self->abort_err) return self->finish(*self->abort_err);
              auto status = static_cast<int>(self->parser->get().result_int());
              self->attempt_failed(
                  failure::http_status,
                  fmt::format("HTTP {}: {}", status, error_message(self->parser->get().body())),
                  status);
            });
      });
      return;
    }
    std::string_view ct = h[http::field::content_type];
    sse = req.stream && !ct.starts_with("application/json");
    if (sse) return read_more();
    with_stream([this](auto& s) {
      http::async_read(s, buf, *parser,
                       [self = shared_from_this()](beast::error_code e, std::size_t) {
                         self->on_whole_body(e);
                       });
    });
  }

  void read_more() {
    expire_at(token_delivered ? steady::now() + milliseconds(c->opt.idle_timeout_ms)
                              : first_deadline);
    with_stream([this](auto& s) {
      http::async_read_some(
          s, buf, *parser,
          [self = shared_from_this()](beast::error_code e, std::size_t) { self->on_read(e); });
    });
  }

  // Consumes the complete lines of the body read so far.
  sse_state consume_events() {
    return consume_sse(parser->get().body(), finish_reason, bad_detail,
                       [this](std::string_view delta) { deliver(delta); });
  }

  void deliver(std::string_view delta) {
    text += delta;
    token_delivered = true;
    if (on_token) c->invoke([&] { on_token(delta); });
  }

  void on_read(beast::error_code ec) {
    if (abort_err) return finish(*abort_err);
    auto state = consume_events();
    if (abort_err) return finish(*abort_err);
    if (state == sse_state::done) return succeed();
    if (state == sse_state::bad) return attempt_failed(failure::bad_response, bad_detail);
    if (ec) return io_failed(ec, "reading the stream");
    if (parser->is_done()) {
      return attempt_failed(failure::broken_stream, "the stream ended without [DONE]");
    }
    read_more();
  }

  void on_whole_body(beast::error_code ec) {
    if (abort_err) return finish(*abort_err);
    if (ec) return io_failed(ec, "reading the reply");
    json::error_code jec;
    auto v = json::parse(parser->get().body(), jec);
    auto choice = jec ? nullptr : first_choice(v);
    const json::value* content = nullptr;
    if (choice) {
      if (auto m = choice->if_contains("message"); m && m->is_object())
        content = m->get_object().if_contains("content");
    }
    if (!content || !content->is_string()) {
      return attempt_failed(failure::bad_response,
                            "reply has no choices[0].message.content: " +
                                std::string(util::utf8_prefix_chars(parser->get().body(), 200)));
    }
    if (auto f = choice->if_contains("finish_reason"); f && f->is_string())
      finish_reason = f->get_string();
    std::string_view whole = content->get_string();
    if (req.stream && !whole.empty()) {
      deliver(whole);  // the server ignored "stream": one delta keeps the contract
    } else {
      text = whole;
    }
    succeed();
  }

  void attempt_failed(failure kind, std::string detail, int status = 0) {
    drop_connection();
    bool retryable = kind == failure::connect || kind == failure::timeout ||
                     kind == failure::broken_stream ||
                     (kind == failure::http_status && retryable_status(status));
    if (retryable && !token_delivered && attempts <= c->opt.max_retries) {
      milliseconds delay;
      {
        std::lock_guard g(c->mu);
        delay = c->backoff(attempts);
      }
      if (steady::now() + delay < call_deadline()) {
        backoff_timer.expires_after(delay);
        backoff_timer.async_wait([self = shared_from_this()](beast::error_code) {
          if (self->finished) return;
          if (self->abort_err) return self->finish(*self->abort_err);
          self->start_attempt();
        });
        return;
      }
    }
    finish(make_error(kind, std::move(detail), status));
  }

  void succeed() {
    keep_connection = parser && parser->get().keep_alive();
    completion done;
    done.text = std::move(text);
    done.finish_reason = std::move(finish_reason);
    done.attempts = attempts;
    finish(std::move(done));
  }

  void finish(call_result res) {
    if (finished) return;
    finished = true;
    total_timer.cancel();
    backoff_timer.cancel();
    if (res.has_value() && keep_connection && conn && !abort_err) {
      park();
    } else {
      drop_connection();
    }
    if (res.has_error()) {
      auto e = res.error();
      e.attempts = attempts;
      e.partial_text = text;
      res = std::move(e);
    }
    std::shared_ptr<op> next;
    {
      std::lock_guard g(c->mu);
      c->live.erase(id);
      if (running) {
        running = false;
        --c->st.in_flight;
        if (!c->queue.empty()) {
          next = std::move(c->queue.front());
          c->queue.pop_front();
          --c->st.queued;
          ++c->st.in_flight;
          next->running = true;
          next->queued = false;
        }
      }
      if (res.has_value()) {
        ++c->st.ok;
        c->record(probe, outcome::success);
      } else {
        const auto& e = res.error();
        ++c->st.failed;
        if (e.kind == failure::timeout) ++c->st.timeouts;
        if (e.kind == failure::breaker_open) ++c->st.breaker_rejections;
        // A client error (4xx other than 408/429) says nothing about the server's health.
        bool counts = attempts > 0 && e.kind != failure::cancelled &&
                      !(e.kind == failure::http_status && !retryable_status(e.http_status));
        c->record(probe, counts ? outcome::counted_failure : outcome::neutral);
      }
    }
    if (next) {
      asio::post(c->strand, [next] {
        if (next->abort_err) return next->finish(*next->abort_err);
        if (next->finished) return;
        if (steady::now() >= next->call_deadline()) {
          return next->finish(make_error(failure::timeout, "total timeout expired in the queue"));
        }
        next->start_attempt();
      });
    }
    if (on_done) c->invoke([&] { on_done(std::move(res)); });
    on_done = nullptr;
    on_token = nullptr;
  }

  // After a successful call on a kept-alive connection: reads what is left of the reply (the
  // stream's last chunk after [DONE]) within the idle timeout, then gives the connection to the
  // pool; anything unexpected (an error, bytes past the reply) drops it.
  void park() {
    auto owned = std::move(conn);
    if (parser->is_done()) return settle(std::move(owned));
    owned->tcp.expires_after(milliseconds(c->opt.idle_timeout_ms));
    drain(std::move(owned));
  }

  void drain(std::shared_ptr<connection> owned) {
    auto step = [self = shared_from_this(), owned](beast::error_code ec, std::size_t) {
      if (ec) return close(*owned);
      if (!self->parser->is_done()) return self->drain(owned);
      self->settle(owned);
    };
    if (owned->tls) {
      http::async_read_some(*owned->tls, buf, *parser, std::move(step));
    } else {
      http::async_read_some(owned->tcp, buf, *parser, std::move(step));
    }
  }

  void settle(std::shared_ptr<connection> owned) {
    if (buf.size() != 0) return close(*owned);
    owned->tcp.expires_never();
    c->give_back(std::move(owned));
  }

  static void close(connection& cn) {
    beast::error_code ignored;
    cn.tcp.socket().close(ignored);
  }

  std::shared_ptr<core> c;
  std::uint64_t id;
  chat_request req;
  token_fn on_token;
  done_fn on_done;
  asio::steady_timer total_timer;
  asio::steady_timer backoff_timer;
  tcp::resolver resolver;
  std::shared_ptr<connection> conn;  // this attempt's connection (null between attempts)
  bool reused = false;               // conn came from the pool
  bool got_header = false;           // a reply header was read on conn
  bool keep_connection = false;      // the reply allows reusing conn
  beast::flat_buffer buf;
  http::request<http::string_body> hreq;
  std::optional<http::response_parser<http::string_body>> parser;

  steady::time_point start_time{};
  steady::time_point total_deadline{};
  steady::time_point first_deadline{};
  steady::time_point first_token_by = steady::time_point::max();  // first_token_wait_ms
  int attempts = 0;
  bool probe = false;    // the half-open breaker's probe
  bool running = false;  // holds a concurrency slot
  bool queued = false;
  bool sse = true;
  bool token_delivered = false;
  bool finished = false;
  std::optional<call_error> abort_err;
  std::string text;
  std::string finish_reason;
  std::string bad_detail;
};

void client::core::abort_all() {
  for (auto& cn : idle) {
    beast::error_code ignored;
    cn->tcp.socket().close(ignored);
  }
  idle.clear();
  std::vector<std::shared_ptr<op>> ops;
  {
    std::lock_guard g(mu);
    for (auto& [id, w] : live)
      if (auto o = w.lock()) ops.push_back(std::move(o));
  }
  for (auto& o : ops)
    o->abort(make_error(failure::cancelled, "client destroyed"));
}

client::client(asio::io_context& ioc, endpoint ep, client_options o)
    : client(ioc, std::move(ep), o, real_clock()) {}

client::client(asio::io_context& ioc, endpoint ep, client_options o, const clock& clk)
    : core_(std::make_shared<core>(ioc, std::move(ep), o, clk)) {}

client::~client() {
  {
    std::lock_guard g(core_->gate);
    core_->closed = true;
  }
  asio::post(core_->strand, [c = core_] { c->abort_all(); });
}

call_handle client::complete(chat_request r, token_fn on_token, done_fn on_done) {
  std::uint64_t id;
  {
    std::lock_guard g(core_->mu);
    ++core_->st.calls;
    id = core_->next_id++;
  }
  auto o =
      std::make_shared<core::op>(core_, id, std::move(r), std::move(on_token), std::move(on_done));
  asio::post(core_->strand, [o] { o->admit(); });
  call_handle h;
  h.ref_ = std::make_shared<call_handle::op_ref>();
  h.ref_->cancel = [w = std::weak_ptr<core::op>(o), strand = core_->strand] {
    if (auto op = w.lock())
      asio::post(strand, [op] { op->abort(make_error(failure::cancelled, "cancelled")); });
  };
  return h;
}

client::breaker_state client::breaker() const {
  std::lock_guard g(core_->mu);
  core_->refresh_breaker();
  return core_->br;
}

client::stats client::get_stats() const {
  std::lock_guard g(core_->mu);
  return core_->st;
}

}  // namespace maratang::llm
