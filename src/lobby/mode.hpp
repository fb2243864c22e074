// The game-mode plug-in contract. A room hosts at most one game at a time; a game is an instance
// of `mode` created by its `mode_factory` when the leader starts. Every call into a mode happens
// on its room's strand, one at a time, so a mode takes no locks; it must never block (storage and
// LLM calls are asynchronous and come back as calls on the room). A mode that throws ends its own
// room only. This header is free of Asio and Beast on purpose.
//
// Rooms outlive their process (issue 16): every mode can write its whole game as a JSON object
// (mode::serialize) and its factory can make a running game again from it (mode_factory::restore),
// which plays on exactly as the original would have: same phase, same absolute deadlines, same
// hidden state. The room snapshots a game when its mode calls room_api::checkpoint() (at its phase
// or turn changes; a ticking mode periodically) together with the room's own state (members and
// seats, groups, the seeded rng's state), and restores it after a crash (lobby/room_snapshot.hpp).
// What a restored game has lost is what happened after its last checkpoint.
#pragma once

#include <array>
#include <boost/json/fwd.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "proto/messages.hpp"
#include "store/records.hpp"
#include "util/clock.hpp"
#include "util/error.hpp"
#include "util/random.hpp"

namespace maratang::proto {
class fields;
}

namespace maratang::lobby {

using player_id = std::int64_t;  // the account id
using timer_id = std::uint64_t;

struct member_info {
  player_id id = 0;
  std::string nickname;
  bool connected = false;
  bool spectator = false;
};

// What a mode may do to its room. Valid only during a call into the mode, on the room's strand.
class room_api {
 public:
  virtual ~room_api() = default;

  virtual std::string_view room_id() const = 0;
  virtual std::string_view game_id() const = 0;
  virtual epoch_ms now_ms() const = 0;
  // The room's seeded random source: the same seed and inputs replay the same game.
  virtual rng& random() = 0;
  // Players (not spectators) in seat order, then spectators.
  virtual std::vector<member_info> members() const = 0;

  // Events. send_all reaches every player and spectator; send_group the members of a named group
  // (see set_group); send_to one player. Sending to a disconnected player drops the event: a
  // reconnecting player gets the mode's view() instead.
  virtual void send_all(std::string_view type, const boost::json::object& data) = 0;
  virtual void send_to(player_id p, std::string_view type, const boost::json::object& data) = 0;
  virtual void send_group(std::string_view group, std::string_view type,
                          const boost::json::object& data) = 0;
  virtual void set_group(std::string_view group, player_id p, bool member) = 0;
  // Spectators, as a group, for events that only they and some players may see.
  virtual void send_spectators(std::string_view type, const boost::json::object& data) = 0;
  // Binary frames: whether p's connection chose them at hello (false while disconnected), and
  // sending one (the mode's own documented encoding) to p; dropped when p is disconnected.
  virtual bool binary(player_id p) const = 0;
  virtual void send_binary(player_id p, std::string bytes) = 0;

  // Timers at an absolute server time; on_timer(tag) fires on the room's strand. Cancelling an
  // unknown or fired timer does nothing.
  virtual timer_id set_timer(epoch_ms at, std::uint64_t tag) = 0;
  virtual void cancel_timer(timer_id id) = 0;
  // A fixed-rate tick (0 stops it): on_tick is called `hz` times a second.
  virtual void set_tick(int hz) = 0;

  // The way back onto the room for asynchronous work (LLM replies, storage reads). The returned
  // function may be called from any thread, any number of times, even after the game ended; each
  // call runs `fn` later on the room's strand, as a call into the mode, but only while the game
  // that obtained it is still running (otherwise `fn` is dropped unrun).
  using async_fn = std::function<void(room_api&)>;
  virtual std::function<void(async_fn)> async_gate() = 0;
  // Sends `type` to everyone in the room from any thread, while the room exists, whether or not a
  // game is running (e.g. a casebook finished after the game ended).
  using announce_fn = std::function<void(std::string type, boost::json::object data)>;
  virtual announce_fn announcer() = 0;

  // Appends to the game's action log (asynchronously, in order).
  virtual void log(std::string_view kind, player_id actor, const boost::json::object& payload) = 0;
  // Ends the game: `record` is stored as the game record (readable over REST), `result` is
  // announced to the room in room.game_ended. The mode instance is destroyed after the current
  // call returns; the room goes back to waiting with ready flags reset.
  virtual void end_game(const boost::json::object& result, const boost::json::object& record) = 0;

  // The game's state is worth keeping now (a phase or turn began, or a ticking mode's period
  // passed): once the current call into the mode returns, the room serializes the game (with its
  // own state) and writes the snapshot asynchronously, never waiting for storage. Several calls
  // during one call into the mode write one snapshot.
  virtual void checkpoint() = 0;
};

class mode {
 public:
  virtual ~mode() = default;

  // The game begins with these players (members() says who).
  virtual void on_start(room_api& room) = 0;
  // A message of one of the mode's own types, validated against its field list; its fields are
  // read through `data` (proto/fields.hpp), never from the raw JSON. Returns the reply data, or an
  // error that changes nothing.
  virtual result<boost::json::object> on_message(room_api& room, player_id from,
                                                 std::string_view type,
                                                 const proto::fields& data) = 0;
  // A room.chat line during the game. Return true when the mode routed it itself; false lets the
  // room broadcast it to everyone. An error refuses it.
  virtual result<bool> on_chat(room_api& room, player_id from, std::string_view text);
  // A message of the mode's binary fast path (mode_factory::binary_input_type), on the room's
  // strand while the game runs: taken as on_message would take its decoded form, and, like
  // every silent message, with no reply. The bytes are the ones binary_input_type accepted.
  virtual void on_binary_input(room_api& room, player_id from, std::string_view bytes);
  virtual void on_timer(room_api& room, std::uint64_t tag) = 0;
  virtual void on_tick(room_api& room);
  // A player's connection dropped (seat kept) or came back.
  virtual void on_disconnect(room_api& room, player_id p);
  virtual void on_reconnect(room_api& room, player_id p);
  // A player left for good (left, or their reconnect grace ran out).
  virtual void on_leave(room_api& room, player_id p) = 0;
  // Everything `viewer` may currently see of the game (sent in snapshots and after reconnects).
  // viewer is a spectator's id for spectators.
  virtual boost::json::object view(player_id viewer) const = 0;

  // The whole game as a JSON object, {"v": <the mode's state version>, ...}: everything the
  // factory's restore() needs, besides the settings and the room's own state (members, groups,
  // rng), to go on exactly as this game would. Deadlines are absolute server times; timer ids
  // are not kept (on_restore sets new ones). Changes nothing.
  virtual boost::json::object serialize() const = 0;
  // The first call into a restored game (in place of on_start), on the room's strand: re-arms
  // its timers at the same absolute times (a deadline already past fires at once) and its tick.
  // It sends nothing: no member is connected yet, and each gets view() on reconnecting.
  virtual void on_restore(room_api& room) = 0;
  // The game ends without end_game: aborted (the mode threw, the server shuts down without a
  // drain, an operator closed the room). Releases what it holds outside the process (an SFU's
  // rooms). Not called for a game handed to another node, which goes on there; the mode is
  // destroyed right after either way. Must not throw (a throw is logged and ignored).
  virtual void on_abandon() {}
};

// Describes and creates a mode. Registered once at start-up; shared by all rooms (thread-safe:
// const methods only).
class mode_factory {
 public:
  virtual ~mode_factory() = default;
  virtual std::string_view name() const = 0;
  virtual int min_players() const = 0;
  virtual int max_players() const = 0;
  // The mode's client messages (types must start with "<name>.").
  virtual std::span<const proto::message_spec> messages() const = 0;
  // Checks and completes room settings (defaults filled in). The error names the bad setting.
  virtual result<boost::json::object> validate_settings(const boost::json::object& s) const = 0;
  // Whether a game with these (validated) settings can start with `players` players; the error
  // says why not. Checked with the room's other start conditions, so it is announced in
  // room.can_start and refused at room.start.
  virtual result<> check_start(const boost::json::object& settings, int players) const;
  // A new game with validated settings.
  virtual std::unique_ptr<mode> create(const boost::json::object& settings) const = 0;
  // A running game again, from the validated settings it was created with and what its
  // serialize() wrote (possibly by an earlier build: a version it cannot read, or a state that
  // no longer fits, e.g. a scenario changed since, is an error, and the room stores the game as
  // aborted). on_restore() is called next. Untrusted as storage is: must never throw.
  virtual result<std::unique_ptr<mode>> restore(const boost::json::object& settings,
                                                const boost::json::object& state) const = 0;
  // The first bytes of this mode's binary messages. A binary frame goes, by its first byte, to the
  // one mode that names it (decode_binary, binary_input_type), so that both paths ask the same
  // mode: no two modes may name the same byte, and none may name '{' (a binary frame that starts
  // so is JSON). Empty (the default): the mode has no binary messages and is never asked.
  virtual std::span<const unsigned char> binary_tags() const;
  // A binary message from a client (WebSocket binary frame) as the request it encodes: its type
  // and data, then validated and handled exactly as the JSON form. errc::unknown_type when the
  // bytes are none of this mode's (the default: a mode without a binary encoding); any other
  // error names what is malformed. Only bytes whose first byte is one of binary_tags() are
  // passed. Untrusted bytes: must never throw.
  struct decoded {
    std::string_view type;
    boost::json::object data;
  };
  virtual result<decoded> decode_binary(std::string_view bytes) const;
  // The fast path for realtime inputs (Arena's come 30 a second from every player): bytes that
  // are, whole and valid, one of this mode's silent messages are handed to the game as they are
  // (mode::on_binary_input), without a JSON object, a request or a reply. Returns that message's
  // type, or empty for any other bytes (malformed, out of the table's ranges, not this mode's,
  // and the default): those go through decode_binary and the field checks, and get that path's
  // errors. It must accept exactly what that path would accept without an error, and a mode
  // that accepts any bytes must take them in mode::on_binary_input. The type returned must have
  // static storage (a literal): the room keeps it until the handler runs. Untrusted bytes: must
  // never throw.
  virtual std::string_view binary_input_type(std::string_view bytes) const;

  // Players' statistics (lobby/game_stats.hpp). score() reads the record a game of this mode
  // passed to end_game and decides, for each player who stayed to the end (`stayed`: they come in
  // drawn, with their time), whether they won, lost or drew, and adds the mode's own tallies
  // ({tally, key}, e.g. {"wins_by_role", "doctor"}). It never sees players who left during the
  // game, nor aborted games: those are abandoned. The default leaves everyone drawn (a mode that
  // names no winner). It must accept any record its own games write; what it throws is caught and
  // counted as the default.
  virtual void score(const boost::json::object& record,
                     std::span<store::player_outcome> stayed) const;
  // The tallies score() adds to, by name: shown in every player's statistics for this mode, empty
  // or not.
  virtual std::span<const std::string_view> tallies() const;

  // Competition (README "Competition"): what a finished game of this mode feeds into ratings
  // and leaderboards. Reads the record the game passed to end_game and every player's outcome
  // (after score(); players who left have result abandoned) and fills `in`: the rating key,
  // model and ranked teams, and the score updates. The room sets the season, and calls this only
  // for games that were not aborted, in public rooms. The default feeds nothing. It must accept
  // any record its own games write; what it throws is caught and the game feeds nothing.
  virtual void compete(const boost::json::object& record,
                       std::span<const store::player_outcome> outcomes,
                       store::competition_input& in) const;
  // The leaderboards compete() writes to, by name ("rating.<key>" for each rating key, and the
  // score boards), each with whether lower is better: what GET /v1/leaderboards lists and the
  // only boards it serves. Empty by default.
  struct board {
    std::string name;
    bool ascending = false;
    std::string_view summary;
  };
  virtual std::vector<board> leaderboards() const;
};

// The modes a server runs. Filled at start-up, then read-only.
class mode_registry {
 public:
  // Throws std::logic_error (a mistake in the build, found at start-up) when the mode names a
  // binary tag twice, one another mode has, or '{'; the registry is then unchanged.
  void add(std::unique_ptr<mode_factory> f);
  const mode_factory* find(std::string_view name) const;
  // The mode whose message table has `type`, and that message's spec.
  const proto::message_spec* find_message(std::string_view type,
                                          const mode_factory** owner = nullptr) const;
  // `bytes` decoded by the mode that names their first byte (see binary_tags); unknown_type when
  // none does.
  result<mode_factory::decoded> decode_binary(std::string_view bytes) const;
  // The fast path's verdict (see binary_input_type) of the mode that names the first byte of
  // `bytes`: the type, and that mode in `owner`; empty when it does not take them or no mode
  // names that byte.
  std::string_view binary_input_type(std::string_view bytes, const mode_factory*& owner) const;
  std::span<const std::unique_ptr<mode_factory>> all() const { return factories_; }

 private:
  const mode_factory* binary_owner(std::string_view bytes) const;

  std::vector<std::unique_ptr<mode_factory>> factories_;
  std::array<const mode_factory*, 256> by_tag_{};  // binary messages' first bytes
};

}  // namespace maratang::lobby
