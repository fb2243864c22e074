// Trace requests and listings as JSON: validates a GameDB `POST /add-object` body (seed 003) and
// renders stored traces in the seed's shapes. Pure functions, any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/records.hpp"

namespace maratang::traces {

// Limits a request body must respect (from the traces.* settings).
struct body_limits {
  unsigned json_depth_max = 32;
  int uuid_max = 64;              // u_uuid, characters
  int text_max = 128;             // o_pos, o_rot and a phantom point's strings, characters
  int message_part_max = 256;     // part1..part3, characters
  int phantom_points_max = 2000;  // phantom.data entries
  int phantom_point_values_max = 8;
};

// One bad field: `field` is a dotted path ("obj.o_type", "phantom.data[3]", or "body" when the
// body as a whole is unusable); `code` is a public error code name (missing_field, bad_field,
// too_large, bad_json, too_deep, bad_message).
struct field_error {
  std::string field;
  std::string code;
  std::string message;
};

// A valid add request: each present part as the JSON object text that gets stored (the kind's
// fields without u_uuid), plus u_uuid and position.
struct trace_part {
  std::string u_uuid;
  std::string payload_json;
  bool has_pos = false;
  double x = 0, y = 0, z = 0;
};
struct add_request {
  std::optional<trace_part> obj;
  std::optional<trace_part> message;
  trace_part phantom;
};

struct parsed_add {
  add_request request;
  std::vector<field_error> errors;  // empty: `request` is valid
};

// Validates an add-object body. Every bad field is reported (up to a bound), not just the first.
parsed_add parse_add(std::string_view content_type, std::string_view body, const body_limits& lim);

// "x,y,z" with three finite numbers (spaces allowed around them) -> true and the coordinates.
bool parse_position(std::string_view text, double& x, double& y, double& z);

// The error body for a refused add: {"error":{code,message,fields:[...]},"detail":[...]} where
// detail has FastAPI's shape ({loc, msg, type}) for clients written against GameDB.
std::string errors_json(const std::vector<field_error>& errors);

// How listings show a trace: `compat` is exactly seed 003's fields (id, u_uuid and the kind's
// own); `extended` adds created_at and, for messages, rating and votes.
enum class listing_format { compat, extended };

// One trace as a JSON object text.
std::string trace_json(const store::trace_record& t, listing_format f);
// {"objects":[...],"messages":[...],"phantoms":[...]}
std::string listing_json(const std::vector<store::trace_record>& objects,
                         const std::vector<store::trace_record>& messages,
                         const std::vector<store::trace_record>& phantoms, listing_format f);

// The wire names of the kinds: "objects", "messages", "phantoms" (plural, as in the listing).
std::string_view kind_plural(store::trace_kind k) noexcept;
std::optional<store::trace_kind> kind_from_plural(std::string_view s) noexcept;

// Area names: 1 to 64 of [A-Za-z0-9_.-].
bool valid_area(std::string_view area) noexcept;

}  // namespace maratang::traces
