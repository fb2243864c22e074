// A request's `data` after validation against its field list (proto/messages.hpp): the only way
// handlers read a request, so that what was validated is what is read. A field that is absent or
// null reads as absent; an optional field is read with the opt_ forms, a required one with the
// plain forms. Reading a field the list does not declare, with another type, or a declared
// optional field with a plain form, is a bug in the handler: it throws std::logic_error (a mode
// that throws has its game stored as aborted; see lobby/room.cpp). Immutable; any thread.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "proto/messages.hpp"
#include "util/error.hpp"

namespace maratang::proto {

class fields {
 public:
  // Checks `data` against `specs`: required fields present and not null, every declared field of
  // its type and within its bounds. Undeclared fields are kept (forward compatibility) but cannot
  // be read. The error names the first bad field.
  static result<fields> check(boost::json::object data, std::span<const field_spec> specs);

  std::int64_t integer(std::string_view name) const;
  std::optional<std::int64_t> opt_integer(std::string_view name) const;
  std::string_view string(std::string_view name) const;
  std::optional<std::string_view> opt_string(std::string_view name) const;
  bool boolean(std::string_view name) const;
  std::optional<bool> opt_boolean(std::string_view name) const;
  // Objects and arrays: null when absent.
  const boost::json::object* object(std::string_view name) const;
  const boost::json::array* array(std::string_view name) const;

  // Everything the client sent (nulls dropped): for relaying, never for reading a field.
  const boost::json::object& all() const noexcept { return data_; }

 private:
  fields(boost::json::object data, std::span<const field_spec> specs)
      : data_(std::move(data)), specs_(specs) {}
  // The value of a declared field of type `t`, or null when absent; throws when `name` is not
  // declared with that type, or is optional and `required` is asked.
  const boost::json::value* find(std::string_view name, field_type t, bool required) const;

  boost::json::object data_;
  std::span<const field_spec> specs_;
};

}  // namespace maratang::proto
