// Envelope codec: turns frames into validated requests and replies/events into frames.
// Pure functions, any thread. Wire format (see docs/PROTOCOL.md):
//   request  {"type": T, "id"?: int|string, "data"?: {...}}
//   reply    {"type": T, "id"?: .., "ok": true, "data": {...}}
//   error    {"type": T, "id"?: .., "ok": false, "error": {"code": C, "message": M}}
//   event    {"type": T, "data": {...}}
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "proto/messages.hpp"
#include "util/error.hpp"

namespace maratang::proto {

struct parse_limits {
  unsigned max_depth = 32;  // JSON nesting depth at most
};

struct inbound {
  std::string type;
  boost::json::value id;     // null when the client sent none
  boost::json::object data;  // empty when the client sent none
};

// Parses one frame into an envelope. On failure, `id_out` holds the request id if it could be
// read (so the error reply can echo it) and `type_out` the type.
result<inbound> parse_envelope(std::string_view text, const parse_limits& limits,
                               boost::json::value& id_out, std::string& type_out);

// Checks `data` against a field list: required fields present, types and bounds right. Unknown
// fields are ignored (forward compatibility). The error names the field.
result<> validate_fields(const boost::json::object& data, std::span<const field_spec> fields);

// Frames. The shared_ptr form lets one buffer go to many connections.
using frame = std::shared_ptr<const std::string>;
frame encode_reply(std::string_view type, const boost::json::value& id,
                   const boost::json::object& data);
frame encode_error(std::string_view type, const boost::json::value& id, const error& err);
frame encode_event(std::string_view type, const boost::json::object& data);

// The number of Unicode code points in valid UTF-8 text.
std::size_t utf8_length(std::string_view s) noexcept;

// Whether an HTTP Content-Type names JSON; media types are case-insensitive (RFC 7231
// 3.1.1.1), and parameters such as charset may follow.
bool is_json_media_type(std::string_view content_type);

}  // namespace maratang::proto
