// A live WebSocket connection as the rest of the server sees it. Thread-safe: any thread may call
// send() and close(); they never block.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace maratang::net {

using frame = std::shared_ptr<const std::string>;

// Per-connection state owned by the application. Only touched from the connection's own strand
// (inside handler::on_ws_message / on_ws_open), except `account_id`, which is fixed at open.
struct conn_context {
  std::int64_t account_id = 0;
  std::string session_id;
  bool hello_done = false;
  bool loaded = false;         // the account was read from storage
  bool hello_waiting = false;  // hello arrived before the account was loaded
  std::string hello_id_json;   // the waiting hello's id, serialised
  std::string nickname;
  bool batch = false;  // the client accepts several envelopes per message, newline-separated
  // The client asked at hello for binary frames where a mode has them (Arena states). Written
  // once by hello, before the connection is handed to any room; read by rooms afterwards.
  bool binary = false;
};

class connection {
 public:
  virtual ~connection() = default;
  // A process-unique id.
  virtual std::uint64_t id() const noexcept = 0;
  // Queues a frame. When the connection's queue is over its limit, the connection is closed as a
  // slow consumer instead; after close, frames are dropped.
  virtual void send(frame f) = 0;
  // Queues a binary message (same bounds as send). For clients that chose a binary encoding at
  // hello (conn_context::binary).
  virtual void send_binary(frame f) = 0;
  // Sends what is queued, then a session.closed event with this reason, then closes the socket.
  virtual void close(std::string_view reason, std::string_view message) = 0;
  virtual conn_context& context() noexcept = 0;
  // Runs `fn` on the connection's strand (inline when already there). For completions that must
  // touch context().
  virtual void run_on_strand(std::function<void()> fn) = 0;
};

}  // namespace maratang::net
