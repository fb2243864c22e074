#include "proto/codec.hpp"

#include "proto/fields.hpp"

#include <fmt/format.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cctype>

namespace maratang::proto {

namespace json = boost::json;

namespace {

frame make_frame(const json::object& o) {
  return std::make_shared<const std::string>(json::serialize(o));
}

bool valid_id(const json::value& id) {
  if (id.is_int64() || id.is_uint64()) return true;
  return id.is_string() && !id.get_string().empty() && id.get_string().size() <= 64;
}

}  // namespace

std::size_t utf8_length(std::string_view s) noexcept {
  std::size_t n = 0;
  for (unsigned char c : s)
    n += (c & 0xC0) != 0x80;
  return n;
}

result<inbound> parse_envelope(std::string_view text, const parse_limits& limits,
                               json::value& id_out, std::string& type_out) {
  json::parse_options opts;
  opts.max_depth = limits.max_depth;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec, {}, opts);
  if (ec) {
    if (ec == json::error::too_deep) {
      return error{errc::too_deep,
                   fmt::format("JSON nested deeper than {} levels.", limits.max_depth)};
    }
    return error{errc::bad_json, fmt::format("Not valid JSON: {}.", ec.message())};
  }
  auto* obj = v.if_object();
  if (!obj) return error{errc::bad_message, "The message must be a JSON object."};
  if (auto* id = obj->if_contains("id")) {
    if (!valid_id(*id)) {
      return error{errc::bad_message, "\"id\" must be an integer or a string of 1 to 64 bytes."};
    }
    id_out = *id;
  }
  auto* type = obj->if_contains("type");
  if (!type || !type->is_string() || type->get_string().empty()) {
    return error{errc::bad_message, "\"type\" must be a non-empty string."};
  }
  if (type->get_string().size() > 64) return error{errc::bad_message, "\"type\" is too long."};
  type_out = type->get_string();
  inbound in;
  in.type = type_out;
  in.id = id_out;
  if (auto* data = obj->if_contains("data")) {
    if (data->is_object()) {
      in.data = std::move(data->get_object());
    } else if (!data->is_null()) {
      return error{errc::bad_message, "\"data\" must be an object."};
    }
  }
  return in;
}

result<> validate_fields(const json::object& data, std::span<const field_spec> specs) {
  auto checked = fields::check(data, specs);
  if (!checked) return checked.error();
  return {};
}

frame encode_reply(std::string_view type, const json::value& id, const json::object& data) {
  json::object o;
  o.reserve(4);
  o.emplace("type", type);
  if (!id.is_null()) o.emplace("id", id);
  o.emplace("ok", true);
  o.emplace("data", data);
  return make_frame(o);
}

frame encode_error(std::string_view type, const json::value& id, const error& err) {
  json::object o;
  o.reserve(4);
  o.emplace("type", type.empty() ? std::string_view("error") : type);
  if (!id.is_null()) o.emplace("id", id);
  o.emplace("ok", false);
  json::object e{{"code", to_string(err.code)}, {"message", err.message}};
  if (err.retry_after_s > 0) e.emplace("retry_after_s", err.retry_after_s);
  o.emplace("error", std::move(e));
  return make_frame(o);
}

frame encode_event(std::string_view type, const json::object& data) {
  json::object o;
  o.reserve(2);
  o.emplace("type", type);
  o.emplace("data", data);
  return make_frame(o);
}

bool is_json_media_type(std::string_view content_type) {
  constexpr std::string_view json_type = "application/json";
  if (content_type.size() < json_type.size()) return false;
  for (std::size_t i = 0; i < json_type.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(content_type[i])) != json_type[i]) return false;
  }
  return content_type.size() == json_type.size() || content_type[json_type.size()] == ';' ||
         content_type[json_type.size()] == ' ';
}

}  // namespace maratang::proto
