#include "proto/fields.hpp"

#include <fmt/format.h>
#include <stdexcept>

#include "proto/codec.hpp"

namespace maratang::proto {

namespace json = boost::json;

namespace {

bool matches(const json::value& v, field_type t) {
  switch (t) {
    case field_type::string:
      return v.is_string();
    case field_type::integer:
      return v.is_int64() || (v.is_uint64() && v.get_uint64() <= INT64_MAX);
    case field_type::boolean:
      return v.is_bool();
    case field_type::object:
      return v.is_object();
    case field_type::array:
      return v.is_array();
    case field_type::any:
      return true;
  }
  return false;
}

[[noreturn]] void misread(std::string_view name, std::string_view why) {
  throw std::logic_error(fmt::format("request field \"{}\": {}", name, why));
}

}  // namespace

result<fields> fields::check(json::object data, std::span<const field_spec> specs) {
  for (const auto& f : specs) {
    auto it = data.find(f.name);
    if (it == data.end() || it->value().is_null()) {
      if (f.required) {
        return error{errc::missing_field, fmt::format("Field \"{}\" is required.", f.name)};
      }
      // An optional null is absent: a handler never sees it.
      if (it != data.end()) data.erase(it);
      continue;
    }
    json::value& v = it->value();
    if (!matches(v, f.type)) {
      return error{errc::bad_field,
                   fmt::format("Field \"{}\" must be {} {}.", f.name,
                               f.type == field_type::integer ? "an" : "a", to_string(f.type))};
    }
    if (f.type == field_type::string && (f.min != 0 || f.max != 0)) {
      auto len = static_cast<std::int64_t>(utf8_length(v.get_string()));
      if (len < f.min || len > f.max) {
        return error{errc::bad_field, fmt::format("Field \"{}\" must be {} to {} characters long.",
                                                  f.name, f.min, f.max)};
      }
    }
    if (f.type == field_type::integer) {
      // One representation for every integer in range: handlers read int64.
      if (v.is_uint64()) v = static_cast<std::int64_t>(v.get_uint64());
      if ((f.min != 0 || f.max != 0) && (v.get_int64() < f.min || v.get_int64() > f.max)) {
        return error{errc::bad_field,
                     fmt::format("Field \"{}\" must be between {} and {}.", f.name, f.min, f.max)};
      }
    }
  }
  return fields(std::move(data), specs);
}

const json::value* fields::find(std::string_view name, field_type t, bool required) const {
  for (const auto& f : specs_) {
    if (f.name != name) continue;
    if (f.type != t)
      misread(name, fmt::format("declared {}, read as {}", to_string(f.type), to_string(t)));
    if (required && !f.required) misread(name, "optional, read as required");
    const json::value* v = data_.if_contains(name);
    if (required && !v) misread(name, "required but absent: the data was not checked");
    return v;
  }
  misread(name, "not declared in the message's field list");
}

std::optional<std::int64_t> fields::opt_integer(std::string_view name) const {
  if (const auto* v = find(name, field_type::integer, false)) return v->get_int64();
  return std::nullopt;
}

std::int64_t fields::integer(std::string_view name) const {
  return find(name, field_type::integer, true)->get_int64();
}

std::optional<std::string_view> fields::opt_string(std::string_view name) const {
  if (const auto* v = find(name, field_type::string, false))
    return std::string_view(v->get_string());
  return std::nullopt;
}

std::string_view fields::string(std::string_view name) const {
  return find(name, field_type::string, true)->get_string();
}

std::optional<bool> fields::opt_boolean(std::string_view name) const {
  if (const auto* v = find(name, field_type::boolean, false)) return v->get_bool();
  return std::nullopt;
}

bool fields::boolean(std::string_view name) const {
  return find(name, field_type::boolean, true)->get_bool();
}

const json::object* fields::object(std::string_view name) const {
  const auto* v = find(name, field_type::object, false);
  return v ? &v->get_object() : nullptr;
}

const json::array* fields::array(std::string_view name) const {
  const auto* v = find(name, field_type::array, false);
  return v ? &v->get_array() : nullptr;
}

}  // namespace maratang::proto
