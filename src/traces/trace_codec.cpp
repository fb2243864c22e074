#include "traces/trace_codec.hpp"

#include <fmt/format.h>
#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <cmath>

#include "proto/codec.hpp"

namespace maratang::traces {

namespace json = boost::json;

namespace {

// Beyond this many, further bad fields are not listed (a huge bad phantom stays cheap).
constexpr std::size_t kMaxErrors = 20;

class checker {
 public:
  explicit checker(std::vector<field_error>& out) : out_(out) {}

  void add(std::string field, std::string_view code, std::string message) {
    if (out_.size() < kMaxErrors)
      out_.push_back({std::move(field), std::string(code), std::move(message)});
  }

  // A required string of min..max characters; returns it or nullptr.
  const json::string* string_field(const json::object& o, std::string_view parent,
                                   std::string_view name, int min, int max) {
    const auto path = fmt::format("{}.{}", parent, name);
    const json::value* v = o.if_contains(name);
    if (!v || v->is_null()) {
      add(path, "missing_field", fmt::format("Field \"{}\" is required.", path));
      return nullptr;
    }
    if (!v->is_string()) {
      add(path, "bad_field", fmt::format("Field \"{}\" must be a string.", path));
      return nullptr;
    }
    const auto len = static_cast<int>(proto::utf8_length(v->get_string()));
    if (len < min || len > max) {
      add(path, len > max ? "too_large" : "bad_field",
          fmt::format("Field \"{}\" must be {} to {} characters long.", path, min, max));
      return nullptr;
    }
    return &v->get_string();
  }

  // A required integer that fits in 32 bits (GameDB stores o_type as an SQL integer).
  std::optional<std::int64_t> int32_field(const json::object& o, std::string_view parent,
                                          std::string_view name) {
    const auto path = fmt::format("{}.{}", parent, name);
    const json::value* v = o.if_contains(name);
    if (!v || v->is_null()) {
      add(path, "missing_field", fmt::format("Field \"{}\" is required.", path));
      return std::nullopt;
    }
    if (!v->is_int64() && !v->is_uint64()) {
      add(path, "bad_field", fmt::format("Field \"{}\" must be an integer.", path));
      return std::nullopt;
    }
    if (v->is_uint64() || v->get_int64() < INT32_MIN || v->get_int64() > INT32_MAX) {
      add(path, "bad_field",
          fmt::format("Field \"{}\" must be between {} and {}.", path, INT32_MIN, INT32_MAX));
      return std::nullopt;
    }
    return v->get_int64();
  }

 private:
  std::vector<field_error>& out_;
};

// The part object at `name`, or nullptr when absent/null; a non-object is an error.
const json::object* part_object(const json::object& body, std::string_view name, checker& c,
                                bool& bad) {
  const json::value* v = body.if_contains(name);
  if (!v || v->is_null()) return nullptr;
  if (!v->is_object()) {
    c.add(std::string(name), "bad_field", fmt::format("Field \"{}\" must be an object.", name));
    bad = true;
    return nullptr;
  }
  return &v->get_object();
}

std::optional<trace_part> check_obj(const json::object& o, const body_limits& lim, checker& c) {
  const auto* uuid = c.string_field(o, "obj", "u_uuid", 1, lim.uuid_max);
  const auto type = c.int32_field(o, "obj", "o_type");
  const auto* pos = c.string_field(o, "obj", "o_pos", 0, lim.text_max);
  const auto* rot = c.string_field(o, "obj", "o_rot", 0, lim.text_max);
  if (!uuid || !type || !pos || !rot) return std::nullopt;
  trace_part p;
  p.u_uuid = std::string(*uuid);
  p.payload_json =
      json::serialize(json::object{{"o_type", *type}, {"o_pos", *pos}, {"o_rot", *rot}});
  p.has_pos = parse_position(*pos, p.x, p.y, p.z);
  return p;
}

std::optional<trace_part> check_message(const json::object& o, const body_limits& lim, checker& c) {
  const auto* uuid = c.string_field(o, "message", "u_uuid", 1, lim.uuid_max);
  const auto* p1 = c.string_field(o, "message", "part1", 0, lim.message_part_max);
  const auto* p2 = c.string_field(o, "message", "part2", 0, lim.message_part_max);
  const auto* p3 = c.string_field(o, "message", "part3", 0, lim.message_part_max);
  // Extension: where the message lies ("x,y,z"), for near queries. Optional.
  const json::value* pos = o.if_contains("pos");
  trace_part p;
  if (pos && !pos->is_null()) {
    if (!pos->is_string() || !parse_position(pos->get_string(), p.x, p.y, p.z)) {
      c.add("message.pos", "bad_field", "Field \"message.pos\" must be \"x,y,z\" (three numbers).");
      return std::nullopt;
    }
    p.has_pos = true;
  }
  if (!uuid || !p1 || !p2 || !p3) return std::nullopt;
  p.u_uuid = std::string(*uuid);
  p.payload_json = json::serialize(json::object{{"part1", *p1}, {"part2", *p2}, {"part3", *p3}});
  return p;
}

std::optional<trace_part> check_phantom(const json::object& o, const body_limits& lim, checker& c) {
  const auto* uuid = c.string_field(o, "phantom", "u_uuid", 1, lim.uuid_max);
  const json::value* data = o.if_contains("data");
  bool data_ok = true;
  if (!data || data->is_null()) {
    c.add("phantom.data", "missing_field", "Field \"phantom.data\" is required.");
    data_ok = false;
  } else if (!data->is_array()) {
    c.add("phantom.data", "bad_field", "Field \"phantom.data\" must be an array of arrays.");
    data_ok = false;
  } else if (static_cast<int>(data->get_array().size()) > lim.phantom_points_max) {
    c.add("phantom.data", "too_large",
          fmt::format("Field \"phantom.data\" has {} entries; at most {} are allowed.",
                      data->get_array().size(), lim.phantom_points_max));
    data_ok = false;
  } else {
    const auto& arr = data->get_array();
    for (std::size_t i = 0; i < arr.size(); ++i) {
      const auto path = fmt::format("phantom.data[{}]", i);
      if (!arr[i].is_array()) {
        c.add(path, "bad_field", fmt::format("Field \"{}\" must be an array.", path));
        data_ok = false;
        continue;
      }
      const auto& point = arr[i].get_array();
      if (static_cast<int>(point.size()) > lim.phantom_point_values_max) {
        c.add(path, "too_large",
              fmt::format("Field \"{}\" has more than {} values.", path,
                          lim.phantom_point_values_max));
        data_ok = false;
        continue;
      }
      for (std::size_t j = 0; j < point.size(); ++j) {
        const auto& v = point[j];
        const bool ok =
            v.is_number() ||
            (v.is_string() && static_cast<int>(proto::utf8_length(v.get_string())) <= lim.text_max);
        if (!ok) {
          c.add(fmt::format("{}[{}]", path, j), "bad_field",
                fmt::format("Field \"{}[{}]\" must be a number or a string of at most {} "
                            "characters.",
                            path, j, lim.text_max));
          data_ok = false;
        }
      }
    }
  }
  if (!uuid || !data_ok) return std::nullopt;
  trace_part p;
  p.u_uuid = std::string(*uuid);
  p.payload_json = json::serialize(json::object{{"data", *data}});
  // Where the phantom starts: its first point's first value, when that is "x,y,z".
  const auto& arr = data->get_array();
  if (!arr.empty() && !arr[0].get_array().empty() && arr[0].get_array()[0].is_string()) {
    p.has_pos = parse_position(arr[0].get_array()[0].get_string(), p.x, p.y, p.z);
  }
  return p;
}

void append_escaped(std::string& out, std::string_view s) {
  out += json::serialize(json::string_view(s.data(), s.size()));
}

}  // namespace

bool parse_position(std::string_view text, double& x, double& y, double& z) {
  double v[3];
  std::size_t start = 0;
  for (int i = 0; i < 3; ++i) {
    const auto comma = text.find(',', start);
    if ((i < 2) != (comma != std::string_view::npos)) return false;
    std::string_view part = text.substr(start, i < 2 ? comma - start : std::string_view::npos);
    while (!part.empty() && part.front() == ' ')
      part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ')
      part.remove_suffix(1);
    if (!part.empty() && part.front() == '+') part.remove_prefix(1);
    auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), v[i]);
    if (part.empty() || ec != std::errc() || p != part.data() + part.size() || !std::isfinite(v[i]))
      return false;
    start = comma + 1;
  }
  x = v[0];
  y = v[1];
  z = v[2];
  return true;
}

parsed_add parse_add(std::string_view content_type, std::string_view body, const body_limits& lim) {
  parsed_add out;
  checker c(out.errors);
  if (!proto::is_json_media_type(content_type)) {
    c.add("body", "bad_message", "The body must be JSON (Content-Type: application/json).");
    return out;
  }
  json::parse_options po;
  po.max_depth = lim.json_depth_max;
  boost::system::error_code ec;
  // The parsed tree lives only for this call: a bump allocator (first 16 KiB on the stack) spares
  // a malloc and a free per value of a long phantom. Everything kept is serialized out of it.
  unsigned char arena[16384];
  json::monotonic_resource mr(arena, sizeof arena);
  json::value v = json::parse(body, ec, &mr, po);
  if (ec == json::error::too_deep) {
    c.add("body", "too_deep",
          fmt::format("JSON nested deeper than {} levels.", lim.json_depth_max));
    return out;
  }
  if (ec) {
    c.add("body", "bad_json", fmt::format("Not valid JSON in UTF-8: {}.", ec.message()));
    return out;
  }
  if (!v.is_object()) {
    c.add("body", "bad_message", "The body must be a JSON object.");
    return out;
  }
  const auto& b = v.get_object();
  bool bad_obj = false, bad_msg = false, bad_ph = false;
  const auto* obj = part_object(b, "obj", c, bad_obj);
  const auto* msg = part_object(b, "message", c, bad_msg);
  const auto* ph = part_object(b, "phantom", c, bad_ph);
  if (!obj && !msg && !bad_obj && !bad_msg) {
    c.add("obj", "missing_field", "At least one of \"obj\" or \"message\" is required.");
    c.add("message", "missing_field", "At least one of \"obj\" or \"message\" is required.");
  }
  if (!ph && !bad_ph) c.add("phantom", "missing_field", "Field \"phantom\" is required.");
  if (obj) out.request.obj = check_obj(*obj, lim, c);
  if (msg) out.request.message = check_message(*msg, lim, c);
  if (ph) {
    if (auto p = check_phantom(*ph, lim, c)) out.request.phantom = std::move(*p);
  }
  // A message without a position of its own lies where the object placed with it lies.
  if (out.request.message && !out.request.message->has_pos && out.request.obj &&
      out.request.obj->has_pos) {
    out.request.message->has_pos = true;
    out.request.message->x = out.request.obj->x;
    out.request.message->y = out.request.obj->y;
    out.request.message->z = out.request.obj->z;
  }
  return out;
}

std::string errors_json(const std::vector<field_error>& errors) {
  json::array fields, detail;
  for (const auto& e : errors) {
    fields.push_back({{"field", e.field}, {"code", e.code}, {"message", e.message}});
    json::array loc{"body"};
    if (e.field != "body") {
      // "phantom.data[3][1]" -> "phantom", "data", 3, 1
      std::string_view rest = e.field;
      while (!rest.empty()) {
        const auto cut = rest.find_first_of(".[");
        std::string_view name = rest.substr(0, cut);
        if (!name.empty()) {
          if (name.back() == ']') {
            std::int64_t i = 0;
            std::from_chars(name.data(), name.data() + name.size() - 1, i);
            loc.push_back(i);
          } else {
            loc.push_back(json::string(name));
          }
        }
        if (cut == std::string_view::npos) break;
        rest = rest.substr(cut + 1);
      }
    }
    detail.push_back({{"loc", std::move(loc)}, {"msg", e.message}, {"type", e.code}});
  }
  std::string message =
      errors.size() == 1 ? errors[0].message
                         : fmt::format("{} fields are invalid; see error.fields.", errors.size());
  return json::serialize(json::object{
      {"error", {{"code", "bad_field"}, {"message", message}, {"fields", std::move(fields)}}},
      {"detail", std::move(detail)}});
}

std::string trace_json(const store::trace_record& t, listing_format f) {
  std::string out;
  out.reserve(t.payload_json.size() + t.u_uuid.size() + 96);
  out += "{\"id\":";
  out += std::to_string(t.id);
  out += ",\"u_uuid\":";
  append_escaped(out, t.u_uuid);
  if (t.payload_json.size() > 2) {
    out += ',';
    out.append(t.payload_json, 1, t.payload_json.size() - 2);
  }
  if (f == listing_format::extended) {
    out += fmt::format(",\"created_at\":{}", t.created_ms);
    if (t.kind == store::trace_kind::message) {
      out += fmt::format(",\"rating\":{},\"votes\":{}", t.rating, t.votes);
    }
    if (t.has_pos) {
      out += ",\"pos\":";
      out += json::serialize(json::array{t.x, t.y, t.z});
    }
  }
  out += '}';
  return out;
}

std::string listing_json(const std::vector<store::trace_record>& objects,
                         const std::vector<store::trace_record>& messages,
                         const std::vector<store::trace_record>& phantoms, listing_format f) {
  std::string out = "{";
  auto list = [&](std::string_view name, const std::vector<store::trace_record>& ts) {
    out += '"';
    out += name;
    out += "\":[";
    for (std::size_t i = 0; i < ts.size(); ++i) {
      if (i) out += ',';
      out += trace_json(ts[i], f);
    }
    out += ']';
  };
  list("objects", objects);
  out += ',';
  list("messages", messages);
  out += ',';
  list("phantoms", phantoms);
  out += '}';
  return out;
}

std::string_view kind_plural(store::trace_kind k) noexcept {
  switch (k) {
    case store::trace_kind::object:
      return "objects";
    case store::trace_kind::message:
      return "messages";
    case store::trace_kind::phantom:
      return "phantoms";
  }
  return "objects";
}

std::optional<store::trace_kind> kind_from_plural(std::string_view s) noexcept {
  if (s == "objects") return store::trace_kind::object;
  if (s == "messages") return store::trace_kind::message;
  if (s == "phantoms") return store::trace_kind::phantom;
  return std::nullopt;
}

bool valid_area(std::string_view area) noexcept {
  if (area.empty() || area.size() > 64) return false;
  for (unsigned char c : area) {
    if (!std::isalnum(c) && c != '_' && c != '-' && c != '.') return false;
  }
  return true;
}

}  // namespace maratang::traces
