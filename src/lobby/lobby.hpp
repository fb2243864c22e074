// The lobby: who is online, which rooms exist, and which room each account sits in (one at a
// time). Thread-safe: a mutex guards its maps and is never held while calling into a room or a
// connection. Rooms themselves are actors on their own strands (see room.hpp).
#pragma once

#include <atomic>
#include <boost/json/fwd.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "lobby/game_store.hpp"
#include "lobby/mode.hpp"
#include "lobby/room_snapshot.hpp"
#include "net/connection.hpp"
#include "proto/codec.hpp"
#include "util/clock.hpp"
#include "util/error.hpp"

namespace boost::asio {
class io_context;
}
namespace maratang::obs {
class metrics;
}

namespace maratang::lobby {

class room;

class scheduler;

struct lobby_options {
  int reconnect_grace_ms = 30000;
  int max_rooms = 100000;
  int max_spectators = 50;
  int chat_history = 50;  // lobby chat lines kept for snapshots
  // Wrong room-password guesses an account may make per window, per room.
  int password_attempts = 5;
  int password_window_ms = 60'000;
  // Invitations (room.invite) a member may send per minute, per room.
  int invites_per_minute = 10;
  // This node's name: the owner written in each room snapshot (lobby/room_snapshot.hpp), and the
  // snapshots this node restores at start-up.
  std::string node_id = "node-1";
  // A room writes at most one snapshot per this many ms: a checkpoint sooner is written when the
  // interval ends, with the state as it is then (0: every checkpoint at once).
  int snapshot_interval_ms = 1000;
  // Where rooms arm their timers, ticks and seat graces (lobby/scheduler.hpp); null: Asio's steady
  // timers. A test steps rooms with a manual_scheduler over the lobby's manual_clock.
  std::shared_ptr<scheduler> timers;
  // Several nodes: a seat reserved here for a player who joined through another node (reserve())
  // is held this long for them to arrive; unused, it is freed as a reconnect grace ends.
  int reservation_ms = 15000;
  // Competition (README "Competition"): the season a game ending at a moment belongs to
  // (competition.season_schedule; null: one season, 0), and the rating period after which an
  // idle player's uncertainty grows (competition.rating_period_ms; 0: never).
  std::function<std::int64_t(std::int64_t)> season_of;
  std::int64_t rating_period_ms = 86'400'000;
};

struct room_summary {
  std::string id;
  std::string name;
  std::string mode;
  std::string state;  // "waiting" | "playing"
  int players = 0;
  int capacity = 0;
  bool has_password = false;
  bool is_private = false;
  bool allow_spectators = false;
};

// A summary as room.list shows it: {id, name, mode, state, players, capacity, has_password,
// allow_spectators}.
boost::json::object summary_json(const room_summary& s);

struct create_params {
  std::string mode;
  std::string name;
  int capacity = 0;
  bool is_private = false;
  // The matchmaker's rooms: unlisted (is_private) yet rated, since their players did not choose
  // each other. A room a player makes private is played among friends, who could trade wins: its
  // games are not rated.
  bool ranked = false;
  // The password as typed (room.create; a snapshot written before hashes were kept). The room
  // keeps only `password_hash` (Argon2id, libsodium's minimum limits: a salted hash, cheap
  // enough to check on the room's strand), never the password: snapshots and handovers carry
  // the hash. Empty both: no password.
  std::string password;
  std::string password_hash;
  bool allow_spectators = false;
  std::shared_ptr<const boost::json::object> settings;  // validated by the mode
  std::uint64_t seed = 0;                               // 0: random
};

struct join_params {
  std::string room_id;
  std::string invite_code;
  std::string password;
  bool spectate = false;
  // The joiner's party (room.join party:true): these accounts take seats with the joiner, all or
  // none. Each must be connected to this node and seated nowhere; each is told party.room. For
  // reserve() (a party of another node): seated nowhere here, their seats held without a
  // connection, named by `party_nicknames` (the other node's, in the same order); that node
  // tells them.
  std::vector<player_id> party;
  std::vector<std::string> party_nicknames;
};

// A party member seated with the player who brought them, as the lobby resolved it.
struct companion {
  player_id id = 0;
  std::string nickname;
  std::shared_ptr<net::connection> conn;
};

// Several nodes (app/cluster.cpp): what the other nodes must learn of this one's rooms and seats.
// Called on whichever thread made the change (a room strand, a network thread), never under the
// lobby's lock, in the order the changes happened for any one room or account.
struct lobby_listener {
  // A room's summary appeared or changed; `invite` is its invite code.
  std::function<void(const room_summary& s, const std::string& invite)> room_changed;
  std::function<void(const std::string& room_id)> room_removed;
  // An account took (`seated`) or gave up a seat in a room of this node.
  std::function<void(player_id p, const std::string& room_id, bool seated)> seat_changed;
  // An account's connection was attached here (`online`), or its connection here went.
  std::function<void(player_id p, bool online)> connection_changed;
  // Sends `f` to p's connection on another node (deliver_anywhere): done(true) when it was
  // delivered, done(false) when p is connected to no live node, or unavailable when the nodes
  // cannot be reached. `done` may run on any thread.
  std::function<void(player_id p, proto::frame f, std::function<void(result<bool>)> done)>
      deliver_elsewhere;
};

// Completes a request with reply data or an error. Called on a room strand or the caller's thread.
using reply_fn = std::function<void(result<boost::json::object>)>;

class lobby {
 public:
  lobby(boost::asio::io_context& ioc, const mode_registry& modes, game_store& games,
        action_log& log, const clock& clk, obs::metrics& m, lobby_options opts);
  ~lobby();

  // Presence. attach: `c` becomes the account's connection; returns the one it replaces (which
  // the caller closes), or null — or `c` itself when a newer connection (a later upgrade, by id)
  // is attached already. detach: `c` is gone; its room keeps the seat for the grace
  // period. resume: after hello, hands `c` to the account's room (if any), which answers with the
  // player's snapshot; `done` receives it, or null when the account has no seat.
  std::shared_ptr<net::connection> attach(player_id p, std::shared_ptr<net::connection> c);
  void detach(player_id p, const std::shared_ptr<net::connection>& c);
  void resume(player_id p, std::shared_ptr<net::connection> c,
              std::function<void(boost::json::value)> done);
  // Nicknames as rooms show them (cached from storage at login and on change).
  // set_nickname: a committed change (REST). remember_nickname: a value read from storage, kept
  // only if no change is known, so a read that raced a rename cannot undo it.
  void set_nickname(player_id p, std::string nickname);
  void remember_nickname(player_id p, std::string nickname);
  std::string nickname_of(player_id p) const;

  // Rooms.
  // `party`: accounts seated with the creator, as join_params::party.
  void create(player_id p, create_params params, std::shared_ptr<net::connection> c, reply_fn reply,
              std::vector<player_id> party = {});
  void join(player_id p, join_params params, std::shared_ptr<net::connection> c, reply_fn reply);
  // Several nodes: a join sent through another node (app/cluster.cpp). Seats the player in a room
  // of this node as join() does, without a connection: the seat is held for
  // lobby_options::reservation_ms, and the player takes it by connecting here (hello resumes it).
  // `nickname` is the one the other node knows.
  void reserve(player_id p, std::string nickname, join_params params, reply_fn reply);
  // Several nodes: whether `party` could follow its leader into a room of another node (each
  // connected here, seated nowhere, named): their ids and nicknames, or the error naming the
  // first who could not. Takes nothing.
  result<std::vector<companion>> companions_here(const std::vector<player_id>& party) const;
  // Set once, before serving.
  void set_listener(lobby_listener l) { listener_ = std::move(l); }
  // Every room of this node: its summary and invite code (to publish them all again).
  std::vector<std::pair<room_summary, std::string>> rooms_with_invites() const;
  // Every seat of this node: account and room.
  std::vector<std::pair<player_id, std::string>> seats() const;
  // The room the account sits in, or null.
  std::shared_ptr<room> room_of(player_id p) const;
  std::vector<room_summary> list(std::string_view mode) const;
  // The same list as the JSON array room.list and GET /v1/rooms answer with.
  boost::json::array list_json(std::string_view mode) const;
  const mode_registry& modes() const noexcept { return modes_; }

  // Called by rooms (any thread).
  void release_seat(player_id p, const std::string& room_id);
  void update_summary(const room_summary& s);
  void remove_room(const std::string& room_id);

  // The end time for a game ending at `now`: strictly later than every earlier one on this node,
  // so game histories sort and page by end time without ties (GET /v1/accounts/{id}/games).
  epoch_ms next_game_end(epoch_ms now);

  // Rooms outlive their process (lobby/room_snapshot.hpp). Where rooms write their snapshots
  // (null: nowhere); set once, before the first room is created or restored.
  void set_snapshot_store(room_snapshot_store* s) noexcept { snapshots_ = s; }
  room_snapshot_store* snapshot_store() const noexcept { return snapshots_; }
  // Start-up, before serving: makes again the rooms of these snapshots, each with its members
  // holding their seats for the reconnect grace and its game running again. `done(restored,
  // failed)` runs (on a room strand) once every room has either restored its game or given it up
  // (a snapshot that cannot be read is deleted; a game its mode cannot restore is stored as
  // aborted).
  void restore(std::vector<store::room_snapshot_record> snaps,
               std::function<void(int restored, int failed)> done);

  // Several nodes. hand_over_all: every room leaves this node (room::hand_over(write)); with
  // `write` (a drain) the lobby takes no rooms or joins any more. done(rooms handed over) runs
  // once every room is gone. handed_over (called by the room): forgets the room and its seats here
  // without telling the seat directory, whose entries the node restoring the room rewrites.
  void hand_over_all(bool write, std::function<void(int)> done);
  // The same for the rooms of `ids` only (not `write`: see room::hand_over).
  void hand_over_rooms(const std::vector<std::string>& ids, bool write,
                       std::function<void(int)> done);
  // The ids of the rooms whose running game has a snapshot, asked of each room on its strand.
  void snapshotted_rooms(std::function<void(std::vector<std::string>)> done);
  void handed_over(const std::string& room_id, const std::vector<player_id>& members);

  // Closes every connection of a session (after logout).
  void close_session(const std::string& session_id);

  // Operators (api/admin_api.cpp). find_room: by id (private rooms too), or null. rooms: every
  // room's summary, private ones included, by id. online_players: connected accounts with ids
  // above `after`, by id, at most `limit`. disconnect: closes p's connection with session.closed
  // `reason` and `message`; false when p is not connected here.
  struct online_player {
    player_id id = 0;
    std::string nickname;
    std::string room_id;  // empty when the account holds no seat
  };
  std::shared_ptr<room> find_room(const std::string& id) const;
  std::vector<room_summary> rooms() const;
  std::vector<online_player> online_players(player_id after, std::size_t limit) const;
  bool disconnect(player_id p, std::string_view reason, std::string_view message);

  // Invitations (room::invite). deliver: sends `f` to p's connection; false when p is not
  // connected here. online_by_nickname: the connected account showing exactly this nickname, or
  // 0 (nicknames are unique, so at most one).
  bool deliver(player_id p, const proto::frame& f);
  // deliver, and when p is not connected here, with several nodes, to p's connection on another
  // node (lobby_listener::deliver_elsewhere): done as that documents. `done` runs on this thread
  // when p is connected here or there are no other nodes, else on any thread.
  void deliver_anywhere(player_id p, proto::frame f, std::function<void(result<bool>)> done);
  player_id online_by_nickname(std::string_view nickname) const;

  // Several nodes: the account connected on another node at `at` (server time). Its connection
  // here, attached before that (or at that very time when `tie_closes`), is closed as replaced:
  // the newest socket wins across nodes as it does on one. True when one was closed.
  bool replaced_elsewhere(player_id p, epoch_ms at, bool tie_closes);
  // When p's current connection was attached (0: not connected here).
  epoch_ms attached_at(player_id p) const;
  // Shutdown: tells every client, closes every connection, abandons running games (their records
  // are stored as aborted). `done` runs once every room has finished.
  // `reconnect_after_ms`: what server.shutdown tells clients to wait before reconnecting.
  void shutdown(std::function<void()> done, int reconnect_after_ms = 5000);
  std::size_t online() const;
  std::size_t room_count() const;
  // Appends "maratang_rooms{mode,state} N" series.
  void render_metrics(std::string& out) const;

 private:
  std::string new_room_id();
  void join_as(player_id p, std::string nickname, join_params params,
               std::shared_ptr<net::connection> c, reply_fn reply);
  // Seats `party` in room `room_id` (under mu_): each connected here (unless `held`: seats held
  // without a connection, for a reservation) and seated nowhere, else nothing changes and the
  // error names the first who is not.
  result<std::vector<companion>> take_companions(const std::vector<player_id>& party,
                                                 const std::string& room_id, bool held = false);
  // Under mu_: whether each of `party` could be seated (connected here unless `held`, seated
  // nowhere, named); their entries, or the error naming the first who could not.
  result<std::vector<companion>> check_companions(const std::vector<player_id>& party,
                                                  bool held) const;
  void seat_changed(player_id p, const std::string& room_id, bool seated) const {
    if (listener_.seat_changed) listener_.seat_changed(p, room_id, seated);
  }
  std::string new_invite_code();

  boost::asio::io_context& ioc_;
  const mode_registry& modes_;
  game_store& games_;
  action_log& log_;
  const clock& clock_;
  obs::metrics& metrics_;
  lobby_options opts_;

  mutable std::mutex mu_;
  std::unordered_map<player_id, std::shared_ptr<net::connection>> online_;  // GUARDED_BY(mu_)
  std::unordered_map<player_id, epoch_ms> attached_at_;                     // GUARDED_BY(mu_)
  std::unordered_map<player_id, std::string> nicknames_;                    // GUARDED_BY(mu_)
  std::unordered_map<std::string, std::shared_ptr<room>> rooms_;            // GUARDED_BY(mu_)
  std::unordered_map<std::string, room_summary> summaries_;                 // GUARDED_BY(mu_)
  std::unordered_map<std::string, std::string> invites_;                    // GUARDED_BY(mu_)
  std::unordered_map<player_id, std::string> seat_of_;                      // GUARDED_BY(mu_)
  bool shutting_down_ = false;                                              // GUARDED_BY(mu_)
  room_snapshot_store* snapshots_ = nullptr;
  lobby_listener listener_;
  std::atomic<epoch_ms> last_game_end_{0};  // the latest end time handed out
};

}  // namespace maratang::lobby
