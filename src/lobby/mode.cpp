#include "lobby/mode.hpp"

#include <fmt/format.h>

#include <boost/json/object.hpp>
#include <stdexcept>

namespace maratang::lobby {

result<bool> mode::on_chat(room_api&, player_id, std::string_view) {
  return false;
}
void mode::on_tick(room_api&) {}
void mode::on_binary_input(room_api&, player_id, std::string_view) {}
result<> mode_factory::check_start(const boost::json::object&, int) const {
  return {};
}
std::span<const unsigned char> mode_factory::binary_tags() const {
  return {};
}
result<mode_factory::decoded> mode_factory::decode_binary(std::string_view) const {
  return error{errc::unknown_type};
}
std::string_view mode_factory::binary_input_type(std::string_view) const {
  return {};
}
void mode_factory::score(const boost::json::object&, std::span<store::player_outcome>) const {}
std::span<const std::string_view> mode_factory::tallies() const {
  return {};
}
void mode_factory::compete(const boost::json::object&, std::span<const store::player_outcome>,
                           store::competition_input&) const {}
std::vector<mode_factory::board> mode_factory::leaderboards() const {
  return {};
}
void mode::on_disconnect(room_api&, player_id) {}
void mode::on_reconnect(room_api&, player_id) {}

void mode_registry::add(std::unique_ptr<mode_factory> f) {
  const auto tags = f->binary_tags();
  std::array<bool, 256> named{};
  for (const unsigned char t : tags) {
    if (t == '{') {
      throw std::logic_error(fmt::format(
          "mode {}: a binary message cannot start with '{{' (such frames are JSON)", f->name()));
    }
    if (const mode_factory* other = by_tag_[t]; other || named[t]) {
      throw std::logic_error(fmt::format("binary tag {:#04x} of mode {} is named already by {}", t,
                                         f->name(), other ? other->name() : f->name()));
    }
    named[t] = true;
  }
  factories_.push_back(std::move(f));
  for (const unsigned char t : tags)
    by_tag_[t] = factories_.back().get();
}

const mode_factory* mode_registry::binary_owner(std::string_view bytes) const {
  return bytes.empty() ? nullptr : by_tag_[static_cast<unsigned char>(bytes[0])];
}

const mode_factory* mode_registry::find(std::string_view name) const {
  for (const auto& f : factories_) {
    if (f->name() == name) return f.get();
  }
  return nullptr;
}

result<mode_factory::decoded> mode_registry::decode_binary(std::string_view bytes) const {
  if (const mode_factory* f = binary_owner(bytes)) return f->decode_binary(bytes);
  return error{errc::unknown_type, "No mode has a binary message of this kind."};
}

std::string_view mode_registry::binary_input_type(std::string_view bytes,
                                                  const mode_factory*& owner) const {
  const mode_factory* f = binary_owner(bytes);
  if (!f) return {};
  auto type = f->binary_input_type(bytes);
  if (!type.empty()) owner = f;
  return type;
}

const proto::message_spec* mode_registry::find_message(std::string_view type,
                                                       const mode_factory** owner) const {
  for (const auto& f : factories_) {
    for (const auto& m : f->messages()) {
      if (m.type == type && m.dir == proto::direction::request) {
        if (owner) *owner = f.get();
        return &m;
      }
    }
  }
  return nullptr;
}

}  // namespace maratang::lobby
