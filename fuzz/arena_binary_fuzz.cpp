// Fuzzes Arena's binary codecs (src/modes/arena/snapshot.hpp), which read untrusted bytes: a
// client's binary message (decode_client_binary, then the message table's field check, as the
// gateway and the room apply them) and a state (decode_binary, then apply_state, as a client or a
// bot does). What decodes must encode back to the same meaning.
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "check.hpp"
#include "modes/arena/arena_mode.hpp"
#include "modes/arena/snapshot.hpp"
#include "proto/fields.hpp"

namespace json = boost::json;
namespace arena = maratang::arena;
using maratang::fuzz::check;

namespace {

const maratang::lobby::mode_factory& factory() {
  static const auto f = maratang::modes::make_arena_mode_factory();
  return *f;
}

void client_message(std::string_view bytes) {
  auto d = arena::decode_client_binary(bytes);
  if (!d) return;
  check(d->first == "arena.input" || d->first == "arena.ack");
  for (const auto& spec : factory().messages()) {
    if (spec.type != d->first) continue;
    auto checked = maratang::proto::fields::check(d->second, spec.fields);
    if (!checked || d->first != "arena.input") return;
    // A valid input encodes back to the same request.
    arena::input_message m;
    m.seq = static_cast<std::uint32_t>(checked->integer("seq"));
    m.aim = static_cast<std::uint16_t>(checked->opt_integer("aim").value_or(0));
    const std::pair<const char*, std::uint8_t> buttons[] = {{"up", arena::btn_up},
                                                            {"down", arena::btn_down},
                                                            {"left", arena::btn_left},
                                                            {"right", arena::btn_right},
                                                            {"fire", arena::btn_fire}};
    for (const auto& [name, bit] : buttons) {
      if (checked->opt_boolean(name).value_or(false)) m.buttons |= bit;
    }
    if (auto vt = checked->opt_integer("view_tick")) m.view_tick = static_cast<std::uint32_t>(*vt);
    if (auto a = checked->opt_integer("ack")) m.ack = static_cast<std::uint32_t>(*a);
    auto again = arena::decode_client_binary(arena::encode_input(m));
    check(again && again->second == d->second);
  }
}

void state(std::string_view bytes) {
  auto d = arena::decode_binary(bytes);
  if (!d) return;
  auto v = arena::apply_state(nullptr, *d);
  if (!v) return;
  // A full state that applies encodes back to a state that applies to the same view.
  auto back = arena::decode_binary(arena::encode_binary(nullptr, *v));
  check(back.has_value());
  auto w = arena::apply_state(nullptr, *back);
  check(w && *w == *v);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  client_message(bytes);
  state(bytes);
  return 0;
}
