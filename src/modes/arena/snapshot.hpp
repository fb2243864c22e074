// Arena snapshots: what one client may see of the simulation at a tick (a `view`, quantized and
// limited to what is near it), the JSON encoding of a full view or of a delta against an earlier
// view, and the per-client history that decides what to send (README: "Snapshots and deltas").
// Pure code, no I/O; a client_snapshots belongs to one client of one game, on the room's strand.
#pragma once

#include <array>
#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "modes/arena/sim.hpp"
#include "util/error.hpp"

namespace maratang::arena {

// An entity's quantized fields; what each means depends on its kind (names in snapshot.cpp):
//   player: x, y (sub-units), aim (256 to the turn), health, alive (0/1), slot
//   bullet: x, y (where fired), vx, vy (per tick), born (tick), owner slot — never change
//   pickup: x, y, active (0/1)
using ent_fields = std::array<std::int32_t, 6>;
enum ent_kind : std::size_t { k_player = 0, k_bullet = 1, k_pickup = 2, k_kinds = 3 };

struct entity {
  std::int64_t id = 0;
  ent_fields f{};
  friend bool operator==(const entity&, const entity&) = default;
};
// A kind's entities in a view, sorted by id, each id once. A flat list rather than a map: a view
// is built, copied into a client's history and compared every tick for every client, and a
// vector reused from tick to tick does that without allocating.
using ent_list = std::vector<entity>;
// The entity `id` of a sorted list, or null.
const entity* find_entity(const ent_list& l, std::int64_t id);

struct view {
  tick_t tick = 0;
  std::uint32_t seq = 0;  // the receiver's last applied input sequence
  std::array<ent_list, k_kinds> ents;
  // Same contents (the tick aside).
  bool same_as(const view& o) const { return seq == o.seq && ents == o.ents; }
  friend bool operator==(const view&, const view&) = default;
};

// Interest management: a viewer sees the players within `radius` of `center` (the nearest
// `max_players` of them, itself always among them), the bullets within `radius`, every pickup.
struct interest {
  vec center;
  std::int64_t radius = 800 * kSub;
  std::size_t max_players = 16;
};

// The view of `viewer` (0 or a spectator: nobody's own) at the sim's current tick. The second form
// fills `out` in place, reusing its lists' memory.
view make_view(const sim& s, player_id viewer, const interest& in);
void make_view(const sim& s, player_id viewer, const interest& in, view& out);

// JSON: a full view (`base` 0) or the changes from `base` to `v` (see README for the format).
boost::json::object encode_full(const view& v);
boost::json::object encode_delta(const view& base, const view& v);
// Binary (README, "Binary encoding"): the same full view or delta in LEB128 varints, first byte
// kStateTag.
inline constexpr unsigned char kStateTag = 0xA1;
std::string encode_binary(const view* base, const view& v);
// The same, appended to `out`.
void encode_binary(const view* base, const view& v, std::string& out);
// The binary form back as the JSON form (for clients, tests and bots); the error says what is
// malformed.
result<boost::json::object> decode_binary(std::string_view bytes);
// Client messages in binary: arena.input (kInputTag, varint seq, buttons byte, varint aim,
// varint view_tick + 1 and varint ack, 0 meaning absent) and arena.ack (kAckTag, varint tick).
inline constexpr unsigned char kInputTag = 0x01;
inline constexpr unsigned char kAckTag = 0x02;
struct input_message {
  std::uint32_t seq = 0;
  std::uint8_t buttons = 0;  // button bits (sim.hpp)
  std::uint16_t aim = 0;
  std::optional<std::uint32_t> view_tick;
  std::optional<std::uint32_t> ack;
};
std::string encode_input(const input_message& m);
std::string encode_ack(tick_t t);
// The request a client's binary message encodes, as its type and JSON data (checked afterwards
// against the message table like the JSON form). errc::unknown_type: not an Arena message.
result<std::pair<std::string_view, boost::json::object>> decode_client_binary(
    std::string_view bytes);
// The same, typed, for the server's fast path (mode_factory::binary_input_type): the message
// when the bytes are a whole arena.input or arena.ack whose fields are all within the message
// table's ranges, exactly when decode_client_binary and the table's checks would accept them;
// nothing otherwise (those take the JSON path and get its errors). An input's aim is always
// present in binary.
struct client_message {
  bool is_ack = false;  // arena.ack: only `ack` is set
  input_message input;
};
std::optional<client_message> read_client_binary(std::string_view bytes);

// What a client does with a state message: `base` is its own copy of the view the message names
// as base (null for a full one). The error says what does not fit.
result<view> apply_state(const view* base, const boost::json::object& msg);

// One client's snapshot history: the last 32 views sent and the last it acknowledged.
class client_snapshots {
 public:
  static constexpr std::size_t kHistory = 32;

  // One state message, in the encoding the client chose.
  struct message {
    bool full = false;
    boost::json::object json;  // when !binary
    std::string bytes;         // when binary
  };
  // The state message for `v` (a delta against the acknowledged view when it is still kept, else
  // full), or nothing when `v` holds the same as the last view sent and that was sent less than
  // `keepalive_ms` ago.
  std::optional<message> next(const view& v, std::int64_t now_ms, std::int64_t keepalive_ms,
                              bool binary = false);
  // The client has `t`. Returns the round trip (ms since that view was sent), or nothing when `t`
  // was never sent, is no longer kept, or is not newer than the last acknowledgement.
  std::optional<std::int64_t> ack(tick_t t, std::int64_t now_ms);
  // Forget everything (a reconnect): the next message is full.
  void reset();

  tick_t acked() const { return acked_; }
  std::size_t full_sent() const { return full_sent_; }
  std::size_t deltas_sent() const { return deltas_sent_; }

 private:
  struct sent {
    view v;
    std::int64_t at_ms = 0;
  };
  // The last kHistory views sent, a ring: the newest at (first_ + count_ - 1) % kHistory. Its
  // slots are reused, so a view is copied into memory that the slot already holds.
  const sent* newest() const { return count_ ? &sent_[(first_ + count_ - 1) % kHistory] : nullptr; }
  std::array<sent, kHistory> sent_;
  std::size_t first_ = 0;
  std::size_t count_ = 0;
  tick_t acked_ = 0;
  std::size_t full_sent_ = 0;
  std::size_t deltas_sent_ = 0;
};

}  // namespace maratang::arena
