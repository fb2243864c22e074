// What the network layer calls into: the application's HTTP and WebSocket entry points.
#pragma once

#include <memory>
#include <string_view>

#include "net/connection.hpp"
#include "net/http_types.hpp"
#include "util/error.hpp"

namespace maratang::net {

struct ws_identity {
  std::int64_t account_id = 0;
  std::string session_id;
};

class handler {
 public:
  virtual ~handler() = default;
  // Any HTTP request that is not a WebSocket upgrade. Called on the HTTP connection's strand.
  virtual void on_http(http_request req, http_responder respond) = 0;
  // Decides whether a WebSocket upgrade may proceed. Must be quick (no I/O).
  virtual result<ws_identity> on_ws_upgrade(const http_request& req) = 0;
  // The WebSocket is open. Called on the connection's strand.
  virtual void on_ws_open(const std::shared_ptr<connection>& c) = 0;
  // Whether a message is a realtime input, charged to the input budget (net_options::
  // ws_input_rate) instead of the general one. Must be quick: it sees the raw message before any
  // parsing. Any thread.
  virtual bool realtime(std::string_view msg, bool binary) const {
    (void)msg;
    (void)binary;
    return false;
  }
  // One complete message, text or `binary`. `realtime`: it was charged to the input budget (see
  // realtime()), so the handler must refuse it unless it is one. Called on the connection's
  // strand, one at a time, in order.
  virtual void on_ws_message(const std::shared_ptr<connection>& c, std::string_view msg,
                             bool realtime, bool binary) = 0;
  // A message the transport refused before the handler saw it: errc::rate_limited (the client
  // exceeded its message rate; `text` is the message) or errc::too_large (the message was over
  // limits.ws_message_max and was discarded while it streamed in; `text` is empty). The connection
  // goes on. Called on the connection's strand instead of on_ws_message.
  virtual void on_ws_refused(const std::shared_ptr<connection>& c, errc why,
                             std::string_view text) = 0;
  // The connection is gone (whatever the cause). Called exactly once, after on_ws_open.
  virtual void on_ws_close(const std::shared_ptr<connection>& c) = 0;
};

}  // namespace maratang::net
