#include "lobby/mode.hpp"

#include <boost/json/object.hpp>

namespace maratang::lobby {

result<bool> mode::on_chat(room_api&, player_id, std::string_view) {
  return false;
}
void mode::on_tick(room_api&) {}
void mode::on_binary_input(room_api&, player_id, std::string_view) {}
result<> mode_factory::check_start(const boost::json::object&, int) const {
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
  factories_.push_back(std::move(f));
}

const mode_factory* mode_registry::find(std::string_view name) const {
  for (const auto& f : factories_) {
    if (f->name() == name) return f.get();
  }
  return nullptr;
}

result<mode_factory::decoded> mode_registry::decode_binary(std::string_view bytes) const {
  for (const auto& f : factories_) {
    auto d = f->decode_binary(bytes);
    if (d || d.error().code != errc::unknown_type) return d;
  }
  return error{errc::unknown_type, "No mode has a binary message of this kind."};
}

std::string_view mode_registry::binary_input_type(std::string_view bytes,
                                                  const mode_factory*& owner) const {
  for (const auto& f : factories_) {
    if (auto type = f->binary_input_type(bytes); !type.empty()) {
      owner = f.get();
      return type;
    }
  }
  return {};
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
