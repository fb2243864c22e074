// An asynchronous Redis client on Asio: commands pipelined on one TCP connection (RESP2, encoded
// and parsed by hiredis's formatter and reader), replies matched in order, a timeout per command,
// reconnection with backoff, and publish/subscribe on a client of its own. The several-nodes
// issue builds presence, the room directory, revocation, shared rate limits and cross-node
// delivery on it (docs/ARCHITECTURE.md, "Redis").
//
// Why not hiredis's own async context: Debian's hiredis 0.14 has adapters for libevent, libev
// and glib, none for Asio; a connection of our own on the io_context's strand, with hiredis only
// for the protocol, keeps every callback on Asio and every timeout ours.
//
// Thread-safety: every public method may be called from any thread. I/O and every callback run
// on the client's strand, never inline inside command(); callbacks must not block or throw.
// Nothing is queued while the connection is down: a command then fails at once with
// `unavailable` (a caller that must not lose a write keeps it elsewhere, as Maratang's ports do:
// Redis never holds the only copy of anything acknowledged).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.hpp"

namespace boost::asio {
class io_context;
}

namespace maratang::redis {

// One RESP2 reply. An error reply (-ERR ...) is a reply of kind `error`, not a failed command:
// the command reached Redis and Redis refused it.
struct reply {
  enum class kind { nil, status, error, integer, string, array };
  kind type = kind::nil;
  std::int64_t integer = 0;
  std::string str;  // status, error and string replies
  std::vector<reply> elements;

  bool is_error() const noexcept { return type == kind::error; }
  bool is_nil() const noexcept { return type == kind::nil; }
};

struct options {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string password;  // AUTH on each connection when not empty
  int db = 0;            // SELECT on each connection when not 0
  int connect_timeout_ms = 2000;
  // A command not answered in this time breaks the connection: every command in flight fails
  // with `unavailable`, and the client reconnects.
  int command_timeout_ms = 2000;
  int reconnect_first_ms = 100;  // then doubling, at most reconnect_max_ms apart
  int reconnect_max_ms = 5000;
  std::size_t max_in_flight = 100'000;  // commands sent and not answered; more fail at once
};

// Reads redis://[[user]:password@]host[:port][/db] into `o` (host, port, password, db).
// bad_field with a readable message for anything else.
result<void> parse_url(std::string_view url, options& o);

struct client_stats {
  std::uint64_t commands = 0;     // replies received (error replies included)
  std::uint64_t failed = 0;       // commands failed without a reply (down, timeout, overflow)
  std::uint64_t connects = 0;     // connections established
  std::uint64_t disconnects = 0;  // connections lost or broken
  std::uint64_t messages = 0;     // pub/sub messages delivered
};

class client {
 public:
  using callback = std::function<void(result<reply>)>;
  // A pub/sub message: the channel and the payload.
  using message_fn = std::function<void(std::string_view channel, std::string_view payload)>;
  // Told when the connection comes up (true) or goes down (false), on the strand. A subscriber is
  // up once Redis has answered its subscriptions: what is published after that is heard.
  using state_fn = std::function<void(bool up)>;

  // Connects in the background (and keeps reconnecting): the client is usable at once, and
  // commands fail with `unavailable` until the first connection is up.
  static std::shared_ptr<client> start(boost::asio::io_context& io, options o);
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  // Sends one command (its arguments binary-safe); `done` gets the reply or `unavailable`.
  void command(std::vector<std::string> args, callback done);

  // Publish/subscribe. A client that subscribes is a subscriber only (Redis allows nothing but
  // pub/sub commands on such a connection); publish through another client. Subscriptions are
  // made again on every reconnection. `on_message` runs on the strand.
  void on_message(message_fn fn);
  void subscribe(std::string channel);
  void unsubscribe(std::string channel);

  void on_state(state_fn fn);
  bool connected() const noexcept;
  client_stats stats() const;

  // Closes the connection, fails what is in flight with `unavailable` and stops reconnecting.
  // Idempotent; later commands fail at once.
  void stop();
  // stop(), done now on the calling thread, for when no thread runs the io_context any more (the
  // server's last step): what is in flight fails and its callbacks, which may own this client
  // through the objects they capture, are let go; on_state and on_message are not called again.
  void abandon();

  struct impl;

 private:
  explicit client(std::shared_ptr<impl> p);
  std::shared_ptr<impl> impl_;  // shared with the I/O in flight, which may outlive the client
};

}  // namespace maratang::redis
