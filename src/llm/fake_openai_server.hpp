// A scriptable fake of an OpenAI-compatible chat-completions server, for tests and benchmarks
// only (production code must not use it). A real HTTP/1.1 server on 127.0.0.1, port 0, plain or
// TLS (a certificate and key the test provides), one thread per connection; a connection serves
// requests one after another while the client keeps it alive and the answer allows it (a
// broken stream or a hang closes it). Each request is
// answered by the script the behaviour function returns; every request and the time each
// streamed token was written are recorded. All public methods are thread-safe.
#pragma once

#include <boost/json/value.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace maratang::llm {

// What the fake does with one request.
struct fake_script {
  enum class kind {
    reply,          // 200: tokens streamed as SSE (or one JSON reply when not streamed)
    http_error,     // status with an OpenAI-style error body
    broken_stream,  // 200, the role chunk and the first break_after tokens, then the socket closes
    hang,           // reads the request and never answers (until stop())
    raw,            // 200 with raw_body as is (Content-Type raw_content_type), for bad replies
  };
  kind what = kind::reply;
  std::vector<std::string> tokens;
  std::chrono::milliseconds first_delay{0};  // after the headers, before the first token (or
                                             // before the whole reply when not streamed)
  std::chrono::milliseconds token_delay{0};  // between tokens
  std::optional<bool> stream;                // default: as the request's "stream" says
  std::string finish_reason = "stop";
  int status = 500;
  std::string error_message = "internal server error";
  std::size_t break_after = 0;
  std::string raw_body;
  std::string raw_content_type = "application/json";
  bool split_events = false;  // write each token's SSE event in two pieces, split mid-line

  static fake_script reply(std::vector<std::string> tokens,
                           std::chrono::milliseconds first_delay = {},
                           std::chrono::milliseconds token_delay = {});
  static fake_script error(int status, std::string message = "internal server error");
  static fake_script broken(std::vector<std::string> tokens, std::size_t break_after,
                            std::chrono::milliseconds token_delay = {});
  static fake_script hang();
  static fake_script raw(std::string content_type, std::string body);
};

struct fake_request {
  std::size_t index = 0;  // 0, 1, ... in arrival order
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  boost::json::value json;  // the parsed body (null if it is not JSON)
  std::chrono::steady_clock::time_point received{};

  // The first header of that name (case-insensitive), or "".
  std::string header(std::string_view name) const;
};

struct fake_token_write {
  std::size_t request = 0;                     // fake_request::index
  std::size_t token = 0;                       // index in the script's tokens
  std::chrono::steady_clock::time_point at{};  // just after the write returned
};

// TLS for the fake: PEM files of its certificate (chain) and private key.
struct fake_tls {
  std::string cert_file;
  std::string key_file;
};

class fake_openai_server {
 public:
  using behaviour_fn = std::function<fake_script(std::size_t index, const fake_request&)>;

  // Binds 127.0.0.1:0 and starts accepting. Default behaviour: reply {"Hello", ", ", "world"}.
  fake_openai_server();
  // The same over TLS (throws if the files cannot be loaded).
  explicit fake_openai_server(const fake_tls& tls);
  ~fake_openai_server();  // stop()
  fake_openai_server(const fake_openai_server&) = delete;
  fake_openai_server& operator=(const fake_openai_server&) = delete;

  int port() const;
  // "http://127.0.0.1:PORT" ("https://" with TLS); `host` replaces 127.0.0.1 (e.g. "localhost").
  std::string base_url(std::string_view host = "127.0.0.1") const;
  // Replaces the behaviour for the requests that arrive from now on.
  void set_behaviour(behaviour_fn f);
  // Closes every connection (hanging ones too) and joins the threads. Idempotent.
  void stop();

  std::vector<fake_request> requests() const;
  std::size_t request_count() const;
  std::vector<fake_token_write> token_writes() const;
  std::size_t connections() const;   // accepted so far
  std::size_t tls_failures() const;  // TLS handshakes that failed (the client refused us)
  int active() const;                // requests being answered now
  int max_active() const;            // the most answered at once so far

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace maratang::llm
