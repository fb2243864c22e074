// Fuzzes what a client's WebSocket text frame and REST JSON body go through
// (src/proto/codec.hpp): parse_envelope with the server's depth limit, then validate_fields
// against the message's field list from the real tables (proto::core_messages() and every mode's
// table via its factory), the REST bodies' field lists (proto::core_endpoints()), and the modes'
// room-settings validation. Accepted data is checked against the field list independently, and
// (where proto/fields.hpp exists) read back through proto::fields as handlers read it.
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "check.hpp"
#include "lobby/mode.hpp"
#include "modes/arena/arena_mode.hpp"
#include "modes/mafia/mafia_mode.hpp"
#include "modes/mystery/mystery_mode.hpp"
#include "modes/testing/counter_mode.hpp"
#include "proto/codec.hpp"
#include "proto/messages.hpp"
#if __has_include("proto/fields.hpp")
#include "proto/fields.hpp"
#define MARATANG_HAS_PROTO_FIELDS 1
#endif

namespace json = boost::json;
namespace proto = maratang::proto;

namespace {

using maratang::fuzz::check;

struct tables {
  std::vector<std::unique_ptr<maratang::lobby::mode_factory>> modes;
  tables() {
    modes.push_back(maratang::modes::make_mafia_mode_factory());
    modes.push_back(maratang::mystery::make_mystery_mode_factory(
        std::make_shared<const maratang::mystery::mystery_services>()));
    modes.push_back(maratang::modes::make_counter_mode_factory());
    modes.push_back(maratang::modes::make_arena_mode_factory());
  }
};

const tables& all() {
  static const tables t;
  return t;
}

// What validate_fields promises when it accepts `data`.
void accepted(const json::object& data, std::span<const proto::field_spec> fields) {
  for (const auto& f : fields) {
    const json::value* v = data.if_contains(f.name);
    if (!v || v->is_null()) {
      check(!f.required);
      continue;
    }
    switch (f.type) {
      case proto::field_type::string:
        check(v->is_string());
        if (f.min != 0 || f.max != 0) {
          auto n = static_cast<std::int64_t>(proto::utf8_length(v->get_string()));
          check(n >= f.min && n <= f.max);
        }
        break;
      case proto::field_type::integer: {
        check(v->is_int64() || v->is_uint64());
        if (f.min != 0 || f.max != 0) {
          if (v->is_uint64()) {
            check(f.max >= 0 && v->get_uint64() <= static_cast<std::uint64_t>(f.max));
          } else {
            check(v->get_int64() >= f.min && v->get_int64() <= f.max);
          }
        }
        break;
      }
      case proto::field_type::boolean:
        check(v->is_bool());
        break;
      case proto::field_type::object:
        check(v->is_object());
        break;
      case proto::field_type::array:
        check(v->is_array());
        break;
      case proto::field_type::any:
        break;
    }
  }
}

#ifdef MARATANG_HAS_PROTO_FIELDS
// Every declared field read back the way a handler reads it: never throws once checked.
void read_back(const json::object& data, std::span<const proto::field_spec> specs) {
  auto f = proto::fields::check(data, specs);
  if (!f) return;
  for (const auto& s : specs) {
    switch (s.type) {
      case proto::field_type::string:
        if (s.required) {
          (void)f->string(s.name);
        } else {
          (void)f->opt_string(s.name);
        }
        break;
      case proto::field_type::integer: {
        auto v = s.required ? std::optional(f->integer(s.name)) : f->opt_integer(s.name);
        if (v && (s.min != 0 || s.max != 0)) check(*v >= s.min && *v <= s.max);
        break;
      }
      case proto::field_type::boolean:
        if (s.required) {
          (void)f->boolean(s.name);
        } else {
          (void)f->opt_boolean(s.name);
        }
        break;
      case proto::field_type::object:
        check(f->object(s.name) != nullptr || !s.required);
        break;
      case proto::field_type::array:
        check(f->array(s.name) != nullptr || !s.required);
        break;
      case proto::field_type::any:
        break;
    }
  }
}
#endif

void validate(const json::object& data, std::span<const proto::field_spec> fields) {
  if (auto r = proto::validate_fields(data, fields)) accepted(data, fields);
#ifdef MARATANG_HAS_PROTO_FIELDS
  read_back(data, fields);
#endif
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  const auto& t = all();
  std::string_view text(reinterpret_cast<const char*>(bytes), size);
  json::value id;
  std::string type;
  auto in = proto::parse_envelope(text, {32}, id, type);
  if (!in) {
    // The error reply is always encodable, with whatever id/type could be read.
    check(!proto::encode_error(type, id, in.error())->empty());
    return 0;
  }
  check(!in->type.empty() && in->type.size() <= 64 && in->type == type);
  check(in->id.is_null() || in->id.is_int64() || in->id.is_uint64() ||
        (in->id.is_string() && !in->id.get_string().empty()));
  check(!proto::encode_reply(in->type, in->id, in->data)->empty());

  // The message's own table, as the dispatcher looks it up.
  if (auto* spec = proto::find_core_message(in->type)) validate(in->data, spec->fields);
  for (const auto& m : t.modes) {
    for (const auto& spec : m->messages()) {
      if (spec.type == in->type) validate(in->data, spec.fields);
    }
  }
  // Every table against the same data (the type is one byte of coverage; the fields are not).
  for (const auto& spec : proto::core_messages())
    validate(in->data, spec.fields);
  for (const auto& ep : proto::core_endpoints())
    validate(in->data, ep.body);
  for (const auto& m : t.modes) {
    for (const auto& spec : m->messages())
      validate(in->data, spec.fields);
    (void)m->validate_settings(in->data);
  }
  return 0;
}
