#include "llm/openai_client.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <unordered_map>

#include "llm/sse.hpp"
#include "util/clock.hpp"

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
  std::string host;         // for the resolver (IPv6 without brackets)
  std::string port;         // "80" unless given
  std::string host_header;  // host[:port] as written
  std::string target;       // path of chat/completions
};

result<target_url> parse_base(std::string_view base) {
  auto u = boost::urls::parse_absolute_uri(base);
  if (!u) {
    return error{errc::bad_field, fmt::format("LLM base URL \"{}\" is not an absolute URL", base)};
  }
  if (u->scheme_id() != boost::urls::scheme::http) {
    return error{errc::bad_field,
                 fmt::format("LLM base URL \"{}\": only http:// is supported", base)};
  }
  if (u->has_query() || u->has_fragment() || u->has_userinfo()) {
    return error{errc::bad_field, fmt::format("LLM base URL \"{}\" may not have a query, "
                                              "fragment or user info",
                                              base)};
  }
  target_url t;
  t.host = u->host_address();
  if (t.host.empty()) {
    return error{errc::bad_field, fmt::format("LLM base URL \"{}\" has no host", base)};
  }
  t.port = u->has_port() ? std::string(u->port()) : "80";
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

struct client::core : std::enable_shared_from_this<client::core> {
  struct op;

  core(asio::io_context& io, endpoint e, client_options o, const clock& c)
      : strand(asio::make_strand(io)),
        ep(std::move(e)),
        opt(o),
        clk(c),
        url(parse_base(ep.base_url)),
        rng(std::random_device{}()) {
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
        stream(c->strand) {}

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
    total_timer.expires_at(total_deadline);
    total_timer.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->abort(make_error(failure::timeout, "total timeout expired"));
    });
    if (run_now) start_attempt();
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
    stream.cancel();
  }

  void start_attempt() {
    ++attempts;
    if (attempts > 1) {
      std::lock_guard g(c->mu);
      ++c->st.retries;
    }
    beast::error_code ignored;
    stream.socket().close(ignored);
    parser.emplace();
    parser->body_limit(body_limit);
    buf.clear();
    const auto& u = *c->url;
    resolver.async_resolve(
        u.host, u.port,
        [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type results) {
          self->on_resolve(ec, std::move(results));
        });
  }

  // Arms the stream's deadline, never beyond the call's total deadline.
  void expire_at(steady::time_point tp) { stream.expires_at(std::min(tp, total_deadline)); }

  void on_resolve(beast::error_code ec, tcp::resolver::results_type results) {
    if (abort_err) return finish(*abort_err);
    if (ec) return attempt_failed(failure::connect, "resolve: " + ec.message());
    expire_at(steady::now() + milliseconds(c->opt.connect_timeout_ms));
    stream.async_connect(results,
                         [self = shared_from_this()](beast::error_code e, const tcp::endpoint&) {
                           self->on_connect(e);
                         });
  }

  void on_connect(beast::error_code ec) {
    if (abort_err) return finish(*abort_err);
    if (ec == beast::error::timeout) return attempt_failed(failure::timeout, "connect timed out");
    if (ec) return attempt_failed(failure::connect, "connect: " + ec.message());
    beast::error_code ignored;
    stream.socket().set_option(tcp::no_delay(true), ignored);
    const auto& u = *c->url;
    hreq = {};
    hreq.method(http::verb::post);
    hreq.target(u.target);
    hreq.version(11);
    hreq.set(http::field::host, u.host_header);
    hreq.set(http::field::user_agent, "maratang-llm");
    hreq.set(http::field::content_type, "application/json");
    hreq.set(http::field::accept, req.stream ? "text/event-stream" : "application/json");
    hreq.set(http::field::connection, "close");
    if (!c->ep.api_key.empty()) hreq.set(http::field::authorization, "Bearer " + c->ep.api_key);
    hreq.body() = request_json(req);
    hreq.prepare_payload();
    first_deadline = steady::now() + milliseconds(c->opt.first_token_timeout_ms);
    expire_at(first_deadline);
    http::async_write(stream, hreq, [self = shared_from_this()](beast::error_code e, std::size_t) {
      self->on_write(e);
    });
  }

  void io_failed(beast::error_code ec, std::string_view what) {
    if (ec == beast::error::timeout) {
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
    http::async_read_header(
        stream, buf, *parser,
        [self = shared_from_this()](beast::error_code e, std::size_t) { self->on_header(e); });
  }

  void on_header(beast::error_code ec) {
    if (abort_err) return finish(*abort_err);
    if (ec) return io_failed(ec, "reading the reply header");
    const auto& h = parser->get();
    if (h.result_int() != 200) {
      http::async_read(
          stream, buf, *parser, [self = shared_from_this()](beast::error_code, std::size_t) {
            if (self->abort_err) return self->finish(*self->abort_err);
            auto status = static_cast<int>(self->parser->get().result_int());
            self->attempt_failed(
                failure::http_status,
                fmt::format("HTTP {}: {}", status, error_message(self->parser->get().body())),
                status);
          });
      return;
    }
    std::string_view ct = h[http::field::content_type];
    sse = req.stream && !ct.starts_with("application/json");
    if (sse) return read_more();
    http::async_read(
        stream, buf, *parser,
        [self = shared_from_this()](beast::error_code e, std::size_t) { self->on_whole_body(e); });
  }

  void read_more() {
    expire_at(token_delivered ? steady::now() + milliseconds(c->opt.idle_timeout_ms)
                              : first_deadline);
    http::async_read_some(
        stream, buf, *parser,
        [self = shared_from_this()](beast::error_code e, std::size_t) { self->on_read(e); });
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
      return attempt_failed(failure::bad_response, "reply has no choices[0].message.content: " +
                                                       parser->get().body().substr(0, 200));
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
    beast::error_code ignored;
    stream.socket().close(ignored);
    bool retryable = kind == failure::connect || kind == failure::timeout ||
                     kind == failure::broken_stream ||
                     (kind == failure::http_status && retryable_status(status));
    if (retryable && !token_delivered && attempts <= c->opt.max_retries) {
      milliseconds delay;
      {
        std::lock_guard g(c->mu);
        delay = c->backoff(attempts);
      }
      if (steady::now() + delay < total_deadline) {
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
    beast::error_code ignored;
    stream.socket().close(ignored);
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
        if (steady::now() >= next->total_deadline) {
          return next->finish(make_error(failure::timeout, "total timeout expired in the queue"));
        }
        next->start_attempt();
      });
    }
    if (on_done) c->invoke([&] { on_done(std::move(res)); });
    on_done = nullptr;
    on_token = nullptr;
  }

  std::shared_ptr<core> c;
  std::uint64_t id;
  chat_request req;
  token_fn on_token;
  done_fn on_done;
  asio::steady_timer total_timer;
  asio::steady_timer backoff_timer;
  tcp::resolver resolver;
  beast::tcp_stream stream;
  beast::flat_buffer buf;
  http::request<http::string_body> hreq;
  std::optional<http::response_parser<http::string_body>> parser;

  steady::time_point start_time{};
  steady::time_point total_deadline{};
  steady::time_point first_deadline{};
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
