// The protocol in one place: every WebSocket message and REST endpoint, its fields and its
// documentation. The dispatcher validates incoming frames against this table and
// docs/PROTOCOL.md is generated from it (a test keeps the two equal).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace maratang::proto {

// The protocol version the hello exchange negotiates.
inline constexpr int protocol_version = 1;

enum class field_type { string, integer, boolean, object, array, any };

// One field of a message's `data` object. For strings min/max bound the length in code points;
// for integers they bound the value.
struct field_spec {
  std::string_view name;
  field_type type;
  bool required;
  std::int64_t min;
  std::int64_t max;
  std::string_view doc;
  // For objects: their fields (documentation and the OpenAPI schema; not checked by
  // validate_fields).
  std::span<const field_spec> fields = {};
};

enum class direction {
  request,  // client -> server; the server replies with the same type and id
  event,    // server -> client, pushed
};

struct message_spec {
  std::string_view type;
  direction dir;
  std::string_view summary;
  std::span<const field_spec> fields;  // request fields, or the event's data fields
  std::string_view reply;              // for requests: what the reply's data holds
  bool needs_room = false;             // the sender must be in a room
  // No reply when it succeeds (realtime inputs: the next state says what was applied); an error
  // is still answered.
  bool silent = false;
};

struct endpoint_spec {
  std::string_view method;
  std::string_view path;
  bool needs_auth;
  std::string_view summary;
  std::span<const field_spec> body;  // JSON body fields (POST/PUT)
  std::string_view response;
};

// Core messages and endpoints (game modes add their own message tables).
std::span<const message_spec> core_messages();
std::span<const endpoint_spec> core_endpoints();
const message_spec* find_core_message(std::string_view type);

std::string_view to_string(field_type t) noexcept;

}  // namespace maratang::proto
