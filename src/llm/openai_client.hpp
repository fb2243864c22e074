// An asynchronous client for an OpenAI-compatible chat-completions server (vLLM): streamed or
// whole replies over HTTP/1.1 or HTTPS (certificates verified), with per-phase timeouts, jittered
// retries before the first token, a concurrency limit with a bounded queue, and a circuit breaker.
// See src/llm/README.md.
//
// Thread-safety: every public method may be called from any thread. All I/O and every callback
// of one client run on one strand of the io_context: callbacks never run inline inside
// complete(), never concurrently with each other, and the caller posts onward to its own strand.
// Callbacks must not throw, and must not block on a lock held by a thread that is destroying the
// client (~client waits for a running callback to return).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/result.hpp>

#include "util/error.hpp"

namespace boost::asio {
class io_context;
}

namespace maratang {
class clock;
}

namespace maratang::llm {

struct chat_message {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

struct chat_request {
  std::string model;
  std::vector<chat_message> messages;
  int max_tokens = 300;
  double temperature = 0.7;
  bool stream = true;
  int total_timeout_ms = 0;  // this call's total timeout; 0: client_options::total_timeout_ms
  // The whole wait for the first token, from complete(), across the queue, every attempt and
  // backoff (someone is watching for the words); 0: none beyond the per-attempt timeout.
  int first_token_wait_ms = 0;
};

// base_url: "http://host:port" or "https://host:port", or with a path prefix
// ("http://host:8000/v1", "https://h/proxy");
// the client posts to {base}/v1/chat/completions, without doubling a trailing "/v1".
// api_key: sent as "Authorization: Bearer KEY" when not empty.
struct endpoint {
  std::string base_url;
  std::string api_key;
};

struct client_options {
  int connect_timeout_ms = 2000;      // resolve + TCP connect, per attempt
  int first_token_timeout_ms = 8000;  // request sent -> first content delta (whole reply if
                                      // not streamed), per attempt
  int idle_timeout_ms = 5000;         // between reads once a token has arrived
  int total_timeout_ms = 30000;       // the whole call, from complete() (queue, retries, all)
  int max_retries = 2;                // extra attempts, only before any token was delivered
  int backoff_base_ms = 200;          // retry n waits a random time in [d/2, d],
  int backoff_max_ms = 2000;          //   d = min(max, base * 2^(n-1))
  int max_concurrency = 8;            // calls on the wire at once (at least 1)
  int max_queue = 64;                 // calls waiting beyond that; more fail with queue_full
  int breaker_failures = 5;           // consecutive failed calls open the breaker
  int breaker_open_ms = 10000;        // then half-open: one probe; success closes it
  // https: the PEM file of the certificate authorities to trust; empty: the system's. The
  // server's certificate is always verified, and must name the URL's host (or IP address).
  std::string ca_file;
};

enum class failure {
  timeout,        // a phase or the total timeout expired
  http_status,    // the server answered with a status other than 200
  broken_stream,  // the connection failed or ended before the reply was complete
  connect,        // cannot resolve or connect (or the base URL is unusable)
  tls,            // the TLS handshake failed: certificate not trusted, wrong host name, ...
  bad_response,   // the reply is not the OpenAI format (or reports an error in the stream)
  breaker_open,   // rejected without trying: the breaker is open (or half-open with a probe out)
  queue_full,     // rejected without trying: too many calls in flight and queued
  cancelled,      // call_handle::cancel()
};
// A stable lower-case name, e.g. "broken_stream".
std::string_view to_string(failure f) noexcept;

struct completion {
  std::string text;           // the whole reply: the concatenation of every delta
  std::string finish_reason;  // "stop", "length", ... (empty if the server gave none)
  int attempts = 0;           // 1 + retries
};

struct call_error {
  failure kind = failure::bad_response;
  std::string detail;        // readable, for logs
  int http_status = 0;       // with failure::http_status
  std::string partial_text;  // the deltas delivered before the failure
  int attempts = 0;          // attempts made (0 if rejected without trying)
};
// Lets result<completion, call_error>::value() throw (tests and tools only).
[[noreturn]] void throw_exception_from_error(const call_error& e,
                                             const boost::source_location& loc);

using call_result = boost::system::result<completion, call_error>;
using token_fn = std::function<void(std::string_view delta)>;
using done_fn = std::function<void(call_result)>;

// Checks a base URL the way the client will use it (scheme http or https, a host, an optional
// port and path). Config validation calls this at start-up; errc::bad_field with a readable
// message.
result<void> check_base_url(std::string_view base_url);
// Checks that a CA file (client_options::ca_file) can be loaded; empty is fine (the system's).
result<void> check_ca_file(const std::string& ca_file);

class client;

// Cancels one call. Dropping the handle does not cancel. Thread-safe; a no-op once done.
class call_handle {
 public:
  call_handle() = default;
  void cancel();

 private:
  friend class client;
  struct op_ref;
  std::shared_ptr<op_ref> ref_;
};

class client {
 public:
  enum class breaker_state { closed, open, half_open };
  struct stats {
    std::uint64_t calls = 0;               // complete() calls
    std::uint64_t ok = 0;                  // completed with a reply
    std::uint64_t failed = 0;              // completed with an error (rejections included)
    std::uint64_t retries = 0;             // extra attempts
    std::uint64_t timeouts = 0;            // calls that failed with failure::timeout
    std::uint64_t breaker_rejections = 0;  // calls failed fast with breaker_open
    std::uint64_t connections = 0;         // connections opened (the others were kept alive)
    int in_flight = 0;                     // calls past the queue (on the wire or backing off)
    int queued = 0;                        // calls waiting for a slot
  };

  // The breaker reads time from clk (steady_now); it must outlive the client.
  client(boost::asio::io_context& ioc, endpoint ep, client_options o);
  client(boost::asio::io_context& ioc, endpoint ep, client_options o, const clock& clk);
  // Aborts every call in flight. After the destructor returns no callback of this client runs
  // or will run (calls in flight get no on_done). Destroying the client from inside one of its
  // own callbacks is allowed. The io_context must outlive the client's pending handlers (run or
  // destroy it after the client as usual).
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  // Starts a call and returns at once. If r.stream, on_token (may be empty) receives each
  // non-empty content delta as it arrives; then on_done is called exactly once (unless the call
  // is cut short by ~client).
  call_handle complete(chat_request r, token_fn on_token, done_fn on_done);

  breaker_state breaker() const;
  stats get_stats() const;

 private:
  struct core;
  std::shared_ptr<core> core_;
};

std::string_view to_string(client::breaker_state s) noexcept;

}  // namespace maratang::llm
