#include "llm/fake_openai_server.hpp"

#include <fmt/format.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <cctype>
#include <condition_variable>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

namespace maratang::llm {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using std::chrono::milliseconds;

fake_script fake_script::reply(std::vector<std::string> tokens, milliseconds first_delay,
                               milliseconds token_delay) {
  fake_script s;
  s.tokens = std::move(tokens);
  s.first_delay = first_delay;
  s.token_delay = token_delay;
  return s;
}

fake_script fake_script::error(int status, std::string message) {
  fake_script s;
  s.what = kind::http_error;
  s.status = status;
  s.error_message = std::move(message);
  return s;
}

fake_script fake_script::broken(std::vector<std::string> tokens, std::size_t break_after,
                                milliseconds token_delay) {
  fake_script s;
  s.what = kind::broken_stream;
  s.tokens = std::move(tokens);
  s.break_after = break_after;
  s.token_delay = token_delay;
  return s;
}

fake_script fake_script::hang() {
  fake_script s;
  s.what = kind::hang;
  return s;
}

fake_script fake_script::raw(std::string content_type, std::string body) {
  fake_script s;
  s.what = kind::raw;
  s.raw_content_type = std::move(content_type);
  s.raw_body = std::move(body);
  return s;
}

std::string fake_request::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        }))
      return v;
  }
  return {};
}

namespace {

std::string chunk(std::string_view data) {
  return fmt::format("{:x}\r\n{}\r\n", data.size(), data);
}

std::string sse_chunk(std::string_view model, const json::object& delta,
                      const json::value& finish_reason) {
  json::object choice{{"index", 0}, {"delta", delta}, {"finish_reason", finish_reason}};
  json::object o{{"id", "chatcmpl-fake"},
                 {"object", "chat.completion.chunk"},
                 {"created", 0},
                 {"model", model},
                 {"choices", json::array{choice}}};
  return chunk("data: " + json::serialize(o) + "\n\n");
}

}  // namespace

struct fake_openai_server::impl {
  explicit impl(const fake_tls* tls) : acceptor(ioc) {
    if (tls) {
      tls_ctx.emplace(asio::ssl::context::tls_server);
      tls_ctx->use_certificate_chain_file(tls->cert_file);
      tls_ctx->use_private_key_file(tls->key_file, asio::ssl::context::pem);
    }
    tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    acceptor.open(ep.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(ep);
    acceptor.listen();
    bound_port = acceptor.local_endpoint().port();
    accept_thread = std::thread([this] { accept_loop(); });
  }

  void accept_loop() {
    for (;;) {
      beast::error_code ec;
      tcp::socket s(ioc);
      acceptor.accept(s, ec);
      std::lock_guard g(mu);
      if (stopping) return;
      if (ec) continue;
      ++accepted;
      s.set_option(tcp::no_delay(true), ec);  // token write times are what the client sees
      fds.insert(s.native_handle());
      conn_threads.emplace_back([this, sock = std::move(s)]() mutable { serve(std::move(sock)); });
    }
  }

  // Waits d unless stop() comes first; false if stopping.
  bool sleep(milliseconds d) {
    std::unique_lock g(mu);
    if (d.count() <= 0) return !stopping;
    return !cv.wait_for(g, d, [this] { return stopping; });
  }

  template <class Stream>
  bool write(Stream& s, std::string_view data) {
    beast::error_code ec;
    asio::write(s, asio::buffer(data.data(), data.size()), ec);
    return !ec;
  }

  void serve(tcp::socket sock) {
    beast::error_code ec;
    if (tls_ctx) {
      asio::ssl::stream<tcp::socket&> s(sock, *tls_ctx);
      s.handshake(asio::ssl::stream_base::server, ec);
      if (ec) {
        std::lock_guard g(mu);
        ++tls_failed;
      } else {
        serve_on(s);
      }
    } else {
      serve_on(sock);
    }
    std::lock_guard g(mu);
    fds.erase(sock.native_handle());
    sock.close(ec);
  }

  // Answers requests on one connection until it closes or an answer ends it.
  template <class Stream>
  void serve_on(Stream& s) {
    beast::flat_buffer buf;
    for (;;) {
      http::request<http::string_body> req;
      beast::error_code ec;
      http::read(s, buf, req, ec);
      if (ec) return;
      if (!answer(s, req) || !req.keep_alive()) return;
    }
  }

  // Whether the connection may serve another request: the client asked to keep it alive (said
  // in the answer's Connection header) and the answer was complete.
  template <class Stream>
  bool answer(Stream& sock, const http::request<http::string_body>& req) {
    const char* connection = req.keep_alive() ? "keep-alive" : "close";
    bool reusable = false;
    fake_request fr;
    fr.method = std::string(req.method_string());
    fr.target = std::string(req.target());
    for (const auto& f : req)
      fr.headers.emplace_back(f.name_string(), f.value());
    fr.body = req.body();
    json::error_code jec;
    fr.json = json::parse(fr.body, jec);
    if (jec) fr.json = nullptr;
    fr.received = std::chrono::steady_clock::now();

    behaviour_fn beh;
    {
      std::lock_guard g(mu);
      fr.index = reqs.size();
      reqs.push_back(fr);
      max_active_n = std::max(max_active_n, ++active_n);
      beh = behaviour;
    }
    // The request stops counting as active just before its last bytes go out, so that a client
    // which saw the end may start its next call without the fake counting both at once.
    bool counted = true;
    auto release = [&] {
      if (!counted) return;
      counted = false;
      std::lock_guard g(mu);
      --active_n;
    };
    fake_script sc = beh ? beh(fr.index, fr) : fake_script::reply({"Hello", ", ", "world"});

    std::string model = "fake-model";
    bool want_stream = false;
    if (fr.json.is_object()) {
      const auto& o = fr.json.get_object();
      if (auto m = o.if_contains("model"); m && m->is_string()) model = m->get_string();
      if (auto s = o.if_contains("stream"); s && s->is_bool()) want_stream = s->get_bool();
    }
    bool stream = sc.stream.value_or(want_stream);

    switch (sc.what) {
      case fake_script::kind::hang:
        sleep(milliseconds(24 * 3600 * 1000));
        break;
      case fake_script::kind::raw: {
        if (!sleep(sc.first_delay)) break;
        auto head = fmt::format(
            "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\n"
            "Connection: {}\r\n\r\n",
            sc.raw_content_type, sc.raw_body.size(), connection);
        release();
        reusable = write(sock, head + sc.raw_body);
        break;
      }
      case fake_script::kind::http_error: {
        if (!sleep(sc.first_delay)) break;
        json::object err{{"error", json::object{{"message", sc.error_message},
                                                {"type", "server_error"},
                                                {"code", sc.status}}}};
        auto body = json::serialize(err);
        auto head = fmt::format(
            "HTTP/1.1 {} Error\r\nContent-Type: application/json\r\nContent-Length: {}\r\n"
            "Connection: {}\r\n\r\n",
            sc.status, body.size(), connection);
        release();
        reusable = write(sock, head + body);
        break;
      }
      case fake_script::kind::reply:
      case fake_script::kind::broken_stream:
        if (!stream && sc.what == fake_script::kind::reply) {
          if (!sleep(sc.first_delay)) break;
          std::string text;
          for (const auto& t : sc.tokens)
            text += t;
          json::object o{
              {"id", "chatcmpl-fake"},
              {"object", "chat.completion"},
              {"created", 0},
              {"model", model},
              {"choices", json::array{json::object{
                              {"index", 0},
                              {"message", json::object{{"role", "assistant"}, {"content", text}}},
                              {"finish_reason", sc.finish_reason}}}}};
          auto body = json::serialize(o);
          auto head = fmt::format(
              "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n"
              "Connection: {}\r\n\r\n",
              body.size(), connection);
          release();
          reusable = write(sock, head + body);
          break;
        }
        reusable = stream_reply(sock, sc, fr.index, model, connection, release);
        break;
    }
    release();
    return reusable;
  }

  // True when the whole reply went out (the connection may serve another request).
  template <class Stream, class Release>
  bool stream_reply(Stream& sock, const fake_script& sc, std::size_t index, std::string_view model,
                    const char* connection, Release& release) {
    std::string head = fmt::format(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        "Transfer-Encoding: chunked\r\nConnection: {}\r\n\r\n",
        sc.what == fake_script::kind::broken_stream ? "close" : connection);
    head += sse_chunk(model, json::object{{"role", "assistant"}, {"content", ""}}, nullptr);
    if (!write(sock, head)) return false;
    if (!sleep(sc.first_delay)) return false;
    bool broken = sc.what == fake_script::kind::broken_stream;
    std::size_t n = broken ? std::min(sc.break_after, sc.tokens.size()) : sc.tokens.size();
    for (std::size_t i = 0; i < n; ++i) {
      if (i > 0 && !sleep(sc.token_delay)) return false;
      auto event = sse_chunk(model, json::object{{"content", sc.tokens[i]}}, nullptr);
      if (sc.split_events) {
        auto half = event.size() / 2;
        if (!write(sock, std::string_view(event).substr(0, half))) return false;
        if (!sleep(milliseconds(5))) return false;
        event.erase(0, half);
      }
      if (!write(sock, event)) return false;
      std::lock_guard g(mu);
      writes.push_back({index, i, std::chrono::steady_clock::now()});
    }
    if (broken) {
      release();
      beast::error_code ec;
      sock.lowest_layer().shutdown(tcp::socket::shutdown_both, ec);
      return false;
    }
    std::string tail = sse_chunk(model, json::object{}, json::value(sc.finish_reason));
    tail += chunk("data: [DONE]\n\n");
    tail += "0\r\n\r\n";
    release();
    return write(sock, tail);
  }

  void stop() {
    {
      std::lock_guard g(mu);
      if (stopping) return;
      stopping = true;
      // Wakes the blocked accept() and every blocked read or write.
      ::shutdown(acceptor.native_handle(), SHUT_RDWR);
      for (int fd : fds)
        ::shutdown(fd, SHUT_RDWR);
    }
    cv.notify_all();
    if (accept_thread.joinable()) accept_thread.join();
    std::vector<std::thread> threads;
    {
      std::lock_guard g(mu);
      threads.swap(conn_threads);
    }
    for (auto& t : threads)
      t.join();
    beast::error_code ec;
    acceptor.close(ec);
  }

  asio::io_context ioc;
  std::optional<asio::ssl::context> tls_ctx;
  tcp::acceptor acceptor;
  int bound_port = 0;
  std::thread accept_thread;

  mutable std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  behaviour_fn behaviour;
  std::vector<fake_request> reqs;
  std::vector<fake_token_write> writes;
  std::vector<std::thread> conn_threads;
  std::set<int> fds;
  std::size_t accepted = 0;
  std::size_t tls_failed = 0;
  int active_n = 0;
  int max_active_n = 0;
};

fake_openai_server::fake_openai_server() : impl_(std::make_unique<impl>(nullptr)) {}

fake_openai_server::fake_openai_server(const fake_tls& tls) : impl_(std::make_unique<impl>(&tls)) {}

fake_openai_server::~fake_openai_server() {
  stop();
}

int fake_openai_server::port() const {
  return impl_->bound_port;
}

std::string fake_openai_server::base_url(std::string_view host) const {
  return fmt::format("{}://{}:{}", impl_->tls_ctx ? "https" : "http", host, impl_->bound_port);
}

void fake_openai_server::set_behaviour(behaviour_fn f) {
  std::lock_guard g(impl_->mu);
  impl_->behaviour = std::move(f);
}

void fake_openai_server::stop() {
  impl_->stop();
}

std::vector<fake_request> fake_openai_server::requests() const {
  std::lock_guard g(impl_->mu);
  return impl_->reqs;
}

std::size_t fake_openai_server::request_count() const {
  std::lock_guard g(impl_->mu);
  return impl_->reqs.size();
}

std::vector<fake_token_write> fake_openai_server::token_writes() const {
  std::lock_guard g(impl_->mu);
  return impl_->writes;
}

std::size_t fake_openai_server::connections() const {
  std::lock_guard g(impl_->mu);
  return impl_->accepted;
}

std::size_t fake_openai_server::tls_failures() const {
  std::lock_guard g(impl_->mu);
  return impl_->tls_failed;
}

int fake_openai_server::active() const {
  std::lock_guard g(impl_->mu);
  return impl_->active_n;
}

int fake_openai_server::max_active() const {
  std::lock_guard g(impl_->mu);
  return impl_->max_active_n;
}

}  // namespace maratang::llm
