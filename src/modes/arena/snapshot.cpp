#include "modes/arena/snapshot.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <string>
#include <vector>

namespace maratang::arena {

namespace json = boost::json;

namespace {

constexpr std::string_view kind_names[k_kinds] = {"players", "bullets", "pickups"};
constexpr std::size_t field_count[k_kinds] = {6, 6, 3};
constexpr std::string_view field_names[k_kinds][6] = {
    {"x", "y", "aim", "hp", "alive", "slot"},
    {"x", "y", "vx", "vy", "born", "owner"},
    {"x", "y", "active", "", "", ""},
};

std::int64_t dist2(vec a, vec b) {
  std::int64_t dx = a.x - b.x, dy = a.y - b.y;
  return dx * dx + dy * dy;
}

json::object entity_json(std::size_t k, std::int64_t id, const ent_fields& f,
                         const ent_fields* old) {
  json::object o;
  o["id"] = id;
  for (std::size_t i = 0; i < field_count[k]; ++i) {
    if (!old || (*old)[i] != f[i]) o[field_names[k][i]] = f[i];
  }
  return o;
}

void put_varint(std::string& out, std::uint64_t x) {
  while (x >= 0x80) {
    out.push_back(static_cast<char>((x & 0x7f) | 0x80));
    x >>= 7;
  }
  out.push_back(static_cast<char>(x));
}
void put_signed(std::string& out, std::int64_t x) {
  put_varint(out, (static_cast<std::uint64_t>(x) << 1) ^ static_cast<std::uint64_t>(x >> 63));
}

// Reads varints from untrusted bytes; any overrun or overlong number sets `bad`.
struct reader {
  std::string_view in;
  std::size_t pos = 0;
  bool bad = false;
  std::uint64_t varint() {
    std::uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos >= in.size()) break;
      auto b = static_cast<unsigned char>(in[pos++]);
      x |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return x;
    }
    bad = true;
    return 0;
  }
  std::int64_t signed_varint() {
    std::uint64_t z = varint();
    return static_cast<std::int64_t>((z >> 1) ^ (~(z & 1) + 1));
  }
  unsigned char byte() {
    if (pos >= in.size()) {
      bad = true;
      return 0;
    }
    return static_cast<unsigned char>(in[pos++]);
  }
};

}  // namespace

const entity* find_entity(const ent_list& l, std::int64_t id) {
  auto it = std::lower_bound(l.begin(), l.end(), id,
                             [](const entity& e, std::int64_t x) { return e.id < x; });
  return it != l.end() && it->id == id ? &*it : nullptr;
}

std::string encode_binary(const view* base, const view& v) {
  std::string out;
  encode_binary(base, v, out);
  return out;
}

void encode_binary(const view* base, const view& v, std::string& out) {
  static const ent_list none;
  std::size_t room = 16;
  for (std::size_t k = 0; k < k_kinds; ++k) {
    room += 8 + v.ents[k].size() * (2 + 3 * field_count[k]);
    if (base) room += 3 * base->ents[k].size();
  }
  out.reserve(out.size() + room);
  out.push_back(static_cast<char>(kStateTag));
  put_varint(out, v.tick);
  put_varint(out, base ? base->tick : 0);
  put_varint(out, v.seq);
  for (std::size_t k = 0; k < k_kinds; ++k) {
    // Both lists are sorted by id: one merge finds each entity's old self, another the gone ids.
    const ent_list& old = base ? base->ents[k] : none;
    const ent_list& now = v.ents[k];
    const std::size_t nf = field_count[k];
    auto mask_of = [&](const entity& e, const entity* o) {
      unsigned mask = 0;
      for (std::size_t i = 0; i < nf; ++i) {
        if (!o || o->f[i] != e.f[i]) mask |= 1u << i;
      }
      return mask;
    };
    // The count goes first: one pass counts, the next writes.
    for (int pass = 0; pass < 2; ++pass) {
      std::uint64_t n = 0;
      std::size_t j = 0;
      for (const entity& e : now) {
        while (j < old.size() && old[j].id < e.id)
          ++j;
        const entity* o = j < old.size() && old[j].id == e.id ? &old[j++] : nullptr;
        const unsigned mask = mask_of(e, o);
        if (mask == 0) continue;
        ++n;
        if (pass == 0) continue;
        put_signed(out, e.id);
        out.push_back(static_cast<char>(mask));
        for (std::size_t i = 0; i < nf; ++i) {
          if (mask & (1u << i)) put_signed(out, e.f[i]);
        }
      }
      if (pass == 0) put_varint(out, n);
    }
    for (int pass = 0; pass < 2; ++pass) {
      std::uint64_t gone = 0;
      std::size_t i = 0;
      for (const entity& o : old) {
        while (i < now.size() && now[i].id < o.id)
          ++i;
        if (i < now.size() && now[i].id == o.id) continue;
        ++gone;
        if (pass == 1) put_signed(out, o.id);
      }
      if (pass == 0) put_varint(out, gone);
    }
  }
}

result<json::object> decode_binary(std::string_view bytes) {
  reader r{bytes};
  if (r.byte() != kStateTag) return error{errc::bad_message, "not an arena state"};
  json::object o;
  o["tick"] = static_cast<std::int64_t>(r.varint());
  o["base"] = static_cast<std::int64_t>(r.varint());
  o["seq"] = static_cast<std::int64_t>(r.varint());
  json::object gone;
  for (std::size_t k = 0; k < k_kinds && !r.bad; ++k) {
    std::uint64_t n = r.varint();
    if (n > bytes.size()) return error{errc::bad_message, "entity count past the end"};
    json::array list;
    for (std::uint64_t j = 0; j < n && !r.bad; ++j) {
      json::object e;
      e["id"] = r.signed_varint();
      unsigned mask = r.byte();
      if (mask >> field_count[k]) return error{errc::bad_message, "unknown field bits"};
      for (std::size_t i = 0; i < field_count[k]; ++i) {
        if (mask & (1u << i)) e[field_names[k][i]] = r.signed_varint();
      }
      list.push_back(std::move(e));
    }
    std::uint64_t g = r.varint();
    if (g > bytes.size()) return error{errc::bad_message, "gone count past the end"};
    json::array ids;
    for (std::uint64_t j = 0; j < g && !r.bad; ++j)
      ids.push_back(r.signed_varint());
    if (!list.empty() || o.at("base").as_int64() == 0) o[kind_names[k]] = std::move(list);
    if (!ids.empty()) gone[kind_names[k]] = std::move(ids);
  }
  if (r.bad) return error{errc::bad_message, "truncated"};
  if (r.pos != bytes.size()) return error{errc::bad_message, "bytes after the end"};
  if (!gone.empty()) o["gone"] = std::move(gone);
  return o;
}

std::string encode_input(const input_message& m) {
  std::string out;
  out.push_back(static_cast<char>(kInputTag));
  put_varint(out, m.seq);
  out.push_back(static_cast<char>(m.buttons));
  put_varint(out, m.aim);
  put_varint(out, m.view_tick ? std::uint64_t{*m.view_tick} + 1 : 0);
  put_varint(out, m.ack ? *m.ack : 0);
  return out;
}

std::string encode_ack(tick_t t) {
  std::string out;
  out.push_back(static_cast<char>(kAckTag));
  put_varint(out, t);
  return out;
}

result<std::pair<std::string_view, json::object>> decode_client_binary(std::string_view bytes) {
  reader r{bytes};
  const unsigned char tag = r.byte();
  // Room for every field of an input at once: one allocation, not one per growth.
  json::object d(tag == kInputTag ? 9 : 1);
  std::string_view type;
  // Numbers are range-checked by the message table afterwards; here only their shape.
  auto number = [&](std::uint64_t x) { return static_cast<std::int64_t>(x & 0x7fffffffffffffff); };
  if (tag == kInputTag) {
    type = "arena.input";
    d["seq"] = number(r.varint());
    const unsigned char b = r.byte();
    if (b & ~kButtonsMask) return error{errc::bad_field, "Unknown button bits in an input."};
    static constexpr std::pair<std::string_view, std::uint8_t> names[] = {{"up", btn_up},
                                                                          {"down", btn_down},
                                                                          {"left", btn_left},
                                                                          {"right", btn_right},
                                                                          {"fire", btn_fire}};
    for (const auto& [name, bit] : names) {
      if (b & bit) d[name] = true;
    }
    d["aim"] = number(r.varint());
    if (std::uint64_t vt = r.varint(); vt != 0) d["view_tick"] = number(vt - 1);
    if (std::uint64_t ack = r.varint(); ack != 0) d["ack"] = number(ack);
  } else if (tag == kAckTag) {
    type = "arena.ack";
    d["tick"] = number(r.varint());
  } else {
    return error{errc::unknown_type};
  }
  if (r.bad) return error{errc::bad_message, "A binary message ended too early."};
  if (r.pos != bytes.size()) return error{errc::bad_message, "Bytes after a binary message."};
  return std::pair{type, std::move(d)};
}

std::optional<client_message> read_client_binary(std::string_view bytes) {
  constexpr std::uint64_t kU32 = 4294967295;
  // As decode_client_binary reads a number (its low 63 bits), then as the table checks it.
  auto in_range = [](std::uint64_t x, std::uint64_t lo, std::uint64_t hi) {
    x &= 0x7fffffffffffffff;
    return x >= lo && x <= hi;
  };
  reader r{bytes};
  const unsigned char tag = r.byte();
  client_message m;
  if (tag == kInputTag) {
    const std::uint64_t seq = r.varint();
    const unsigned char b = r.byte();
    const std::uint64_t aim = r.varint();
    const std::uint64_t vt = r.varint();
    const std::uint64_t ack = r.varint();
    if (!in_range(seq, 1, kU32) || (b & ~kButtonsMask) || !in_range(aim, 0, 65535)) return {};
    if (vt != 0 && !in_range(vt - 1, 0, kU32)) return {};
    if (ack != 0 && !in_range(ack, 1, kU32)) return {};
    m.input.seq = static_cast<std::uint32_t>(seq);
    m.input.buttons = b;
    m.input.aim = static_cast<std::uint16_t>(aim);
    if (vt != 0) m.input.view_tick = static_cast<std::uint32_t>(vt - 1);
    if (ack != 0) m.input.ack = static_cast<std::uint32_t>(ack);
  } else if (tag == kAckTag) {
    const std::uint64_t t = r.varint();
    if (!in_range(t, 1, kU32)) return {};
    m.is_ack = true;
    m.input.ack = static_cast<std::uint32_t>(t);
  } else {
    return {};
  }
  if (r.bad || r.pos != bytes.size()) return {};
  return m;
}

view make_view(const sim& s, player_id viewer, const interest& in) {
  view v;
  make_view(s, viewer, in, v);
  return v;
}

void make_view(const sim& s, player_id viewer, const interest& in, view& v) {
  v.tick = s.tick();
  v.seq = 0;
  for (ent_list& l : v.ents)
    l.clear();
  const std::int64_t r2 = in.radius * in.radius;
  if (const player* me = s.find(viewer)) v.seq = me->last_seq;
  // Players: the viewer, then the nearest others within the radius (by distance, then id). The
  // scratch list is the thread's own: views are made on a room's strand, one at a time.
  static thread_local std::vector<std::pair<std::int64_t, const player*>> near;
  near.clear();
  for (const auto& [id, p] : s.players()) {
    std::int64_t d = dist2(p.pos, in.center);
    if (id == viewer) {
      near.push_back({-1, &p});
    } else if (d <= r2) {
      near.push_back({d, &p});
    }
  }
  std::sort(near.begin(), near.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : a.second->id < b.second->id;
  });
  if (near.size() > in.max_players) near.resize(in.max_players);
  ent_list& players = v.ents[k_player];
  for (const auto& [d, p] : near) {
    players.push_back(
        {p->id, {p->pos.x, p->pos.y, p->aim >> 8, p->health, p->alive ? 1 : 0, p->slot}});
  }
  auto by_id = [](const entity& a, const entity& b) { return a.id < b.id; };
  std::sort(players.begin(), players.end(), by_id);
  // Bullets and pickups come in id order already.
  for (const auto& [id, b] : s.bullets()) {
    if (dist2(b.pos, in.center) > r2) continue;
    const player* owner = s.find(b.owner);
    v.ents[k_bullet].push_back({id,
                                {b.origin.x, b.origin.y, b.vel.x, b.vel.y,
                                 static_cast<std::int32_t>(b.born), owner ? owner->slot : -1}});
  }
  ent_list& pickups = v.ents[k_pickup];
  for (const pickup& k : s.pickups())
    pickups.push_back({k.id, {k.pos.x, k.pos.y, k.active ? 1 : 0, 0, 0, 0}});
  if (!std::is_sorted(pickups.begin(), pickups.end(), by_id))
    std::sort(pickups.begin(), pickups.end(), by_id);
}

json::object encode_full(const view& v) {
  json::object o;
  o["tick"] = std::int64_t{v.tick};
  o["base"] = 0;
  o["seq"] = std::int64_t{v.seq};
  for (std::size_t k = 0; k < k_kinds; ++k) {
    json::array a;
    for (const auto& [id, f] : v.ents[k])
      a.push_back(entity_json(k, id, f, nullptr));
    o[kind_names[k]] = std::move(a);
  }
  return o;
}

json::object encode_delta(const view& base, const view& v) {
  json::object o;
  o["tick"] = std::int64_t{v.tick};
  o["base"] = std::int64_t{base.tick};
  o["seq"] = std::int64_t{v.seq};
  json::object gone;
  for (std::size_t k = 0; k < k_kinds; ++k) {
    json::array changed, removed;
    for (const auto& [id, f] : v.ents[k]) {
      const entity* old = find_entity(base.ents[k], id);
      if (!old) {
        changed.push_back(entity_json(k, id, f, nullptr));
      } else if (old->f != f) {
        changed.push_back(entity_json(k, id, f, &old->f));
      }
    }
    for (const auto& [id, f] : base.ents[k]) {
      if (!find_entity(v.ents[k], id)) removed.push_back(id);
    }
    if (!changed.empty()) o[kind_names[k]] = std::move(changed);
    if (!removed.empty()) gone[kind_names[k]] = std::move(removed);
  }
  if (!gone.empty()) o["gone"] = std::move(gone);
  return o;
}

result<view> apply_state(const view* base, const json::object& msg) {
  auto int_of = [&](const json::object& o, std::string_view key) -> std::optional<std::int64_t> {
    const json::value* x = o.if_contains(key);
    if (!x || !x->is_int64()) return std::nullopt;
    return x->get_int64();
  };
  auto tick = int_of(msg, "tick");
  auto base_tick = int_of(msg, "base");
  auto seq = int_of(msg, "seq");
  if (!tick || !base_tick || !seq) return error{errc::bad_message, "tick, base and seq needed"};
  view v;
  if (*base_tick != 0) {
    if (!base || base->tick != *base_tick) return error{errc::bad_message, "not my base"};
    v = *base;
  }
  v.tick = static_cast<tick_t>(*tick);
  v.seq = static_cast<std::uint32_t>(*seq);
  for (std::size_t k = 0; k < k_kinds; ++k) {
    if (const json::value* g = msg.if_contains("gone"); g && g->is_object()) {
      if (const json::value* ids = g->get_object().if_contains(kind_names[k]);
          ids && ids->is_array()) {
        for (const json::value& id : ids->get_array()) {
          const entity* e = id.is_int64() ? find_entity(v.ents[k], id.get_int64()) : nullptr;
          if (!e) return error{errc::bad_message, "gone: unknown id"};
          v.ents[k].erase(v.ents[k].begin() + (e - v.ents[k].data()));
        }
      }
    }
    const json::value* list = msg.if_contains(kind_names[k]);
    if (!list) continue;
    if (!list->is_array()) return error{errc::bad_message, "entities: not an array"};
    for (const json::value& e : list->get_array()) {
      if (!e.is_object()) return error{errc::bad_message, "entity: not an object"};
      auto id = int_of(e.get_object(), "id");
      if (!id) return error{errc::bad_message, "entity without id"};
      ent_list& l = v.ents[k];
      auto it = std::lower_bound(l.begin(), l.end(), *id,
                                 [](const entity& a, std::int64_t x) { return a.id < x; });
      const bool fresh = it == l.end() || it->id != *id;
      if (fresh) it = l.insert(it, entity{*id, ent_fields{}});
      for (std::size_t i = 0; i < field_count[k]; ++i) {
        auto x = int_of(e.get_object(), field_names[k][i]);
        if (x) {
          it->f[i] = static_cast<std::int32_t>(*x);
        } else if (fresh) {
          return error{errc::bad_message, "a new entity needs every field"};
        }
      }
    }
  }
  return v;
}

std::optional<client_snapshots::message> client_snapshots::next(const view& v, std::int64_t now_ms,
                                                                std::int64_t keepalive_ms,
                                                                bool binary) {
  const sent* last = newest();
  if (last && last->v.same_as(v) && now_ms - last->at_ms < keepalive_ms) return std::nullopt;
  const view* base = nullptr;
  if (acked_ != 0) {
    for (std::size_t i = 0; i < count_; ++i) {
      const sent& s = sent_[(first_ + i) % kHistory];
      if (s.v.tick == acked_) base = &s.v;
    }
  }
  // Full on join, after a gap, or when nothing still kept was acknowledged.
  message msg;
  msg.full = base == nullptr;
  if (binary) {
    encode_binary(base, v, msg.bytes);
  } else {
    msg.json = base ? encode_delta(*base, v) : encode_full(v);
  }
  ++(base ? deltas_sent_ : full_sent_);
  // Into the ring, over the oldest when it is full (after the encoding, which may use it).
  sent* slot;
  if (count_ < kHistory) {
    slot = &sent_[(first_ + count_++) % kHistory];
  } else {
    slot = &sent_[first_];
    first_ = (first_ + 1) % kHistory;
  }
  slot->v = v;
  slot->at_ms = now_ms;
  return msg;
}

std::optional<std::int64_t> client_snapshots::ack(tick_t t, std::int64_t now_ms) {
  if (t <= acked_) return std::nullopt;
  for (std::size_t i = 0; i < count_; ++i) {
    const sent& s = sent_[(first_ + i) % kHistory];
    if (s.v.tick == t) {
      acked_ = t;
      return now_ms - s.at_ms;
    }
  }
  return std::nullopt;
}

void client_snapshots::reset() {
  first_ = 0;
  count_ = 0;
  acked_ = 0;
}

}  // namespace maratang::arena
