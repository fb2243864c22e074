// A room: members, leader, ready flags, lobby chat, and at most one running game. An actor: every
// public method posts to the room's strand and returns at once; all state is touched only there,
// and every call into the game mode happens there. Owned by the lobby; async work holds a
// shared_ptr.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/json/object.hpp>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "lobby/lobby.hpp"
#include "lobby/mode.hpp"
#include "lobby/scheduler.hpp"
#include "proto/codec.hpp"

namespace maratang::lobby {

// Replaces a typed room password by its salted hash (create_params::password_hash), unless the
// hash is known already; the typed one is cleared. Any thread (about 0.2 ms).
void hash_room_password(create_params& p);

class room final : public room_api, public std::enable_shared_from_this<room> {
 public:
  room(lobby& owner, boost::asio::io_context& ioc, std::string id, std::string invite,
       create_params params, const mode_factory& factory, game_store& games, action_log& log,
       const clock& clk, obs::metrics& m, lobby_options opts);
  ~room() override;

  const std::string& id() const noexcept { return id_; }
  const std::string& invite_code() const noexcept { return invite_; }

  // Requests from players. Each replies exactly once through `reply`.
  // `party`: seated with p, all or none (the lobby reserved their seats); each is told
  // party.room with their snapshot.
  void join(player_id p, std::string nickname, join_params params,
            std::shared_ptr<net::connection> c, reply_fn reply, std::vector<companion> party = {});
  void leave(player_id p, reply_fn reply);
  void ready(player_id p, bool value, reply_fn reply);
  void kick(player_id p, player_id target, reply_fn reply);
  // `p` invites `target` (online on this node) with the room's invite code: room.invitation.
  void invite(player_id p, player_id target, reply_fn reply);
  void transfer(player_id p, player_id target, reply_fn reply);
  void start(player_id p, reply_fn reply);
  void chat(player_id p, std::string text, reply_fn reply);
  void game_message(player_id p, std::string type, boost::json::object data, reply_fn reply);
  // A message of a mode's binary fast path (mode_factory::binary_input_type, of type `type`)
  // from `p` over `c`: handed to the game on the room's strand (mode::on_binary_input), with no
  // reply; when `p` is no longer in the room or no game runs, `c` gets game_message's error.
  // False, doing nothing, when this room's mode is not `f` or the bytes are longer than a fast
  // input may be: the caller takes the general path, whose errors say why.
  bool binary_input(player_id p, const mode_factory& f, std::string_view type,
                    std::string_view bytes, std::shared_ptr<net::connection> c);
  // Presence: the account's new connection (after hello), or its connection `conn_id` dropped.
  void reconnect(player_id p, std::shared_ptr<net::connection> c,
                 std::function<void(boost::json::value)> done);
  void disconnected(player_id p, std::uint64_t conn_id);
  // Crash recovery (lobby::restore): makes this new, empty room the one of the snapshot `doc`
  // (written by snapshot_text(), as of its `seq`): its leader, its members, each holding their
  // seat for the reconnect grace, and its game restored and running. done(true) then; done(false)
  // when the game could not be restored (it is stored as aborted, and the room waits).
  void restore(boost::json::object doc, std::int64_t seq, std::function<void(bool)> done);
  // Server shutdown: abandons a running game (stored as aborted) and drops everyone.
  void shutdown(std::function<void()> done);
  // Several nodes: the room leaves this node for another, which restores it from its snapshot.
  // `write`: first writes its snapshot as it is now (a waiting room's too: members and settings),
  // without waiting for the snapshot interval (a draining node). Not `write` (a node whose rooms
  // another node claimed while it was cut off): the snapshot is not this node's any more; the
  // members' connections are closed with reason "room_moved", so that they reconnect and find the
  // room where it runs now. Either way no game record is written, seats stay in the seat
  // directory, and the room is gone from this node (lobby::handed_over). done(true) when the room
  // was open.
  void hand_over(bool write, std::function<void(bool)> done);
  // Whether the room's running game has a snapshot in storage (written or queued).
  void snapshotted(std::function<void(bool)> done);

  // Operators (api/admin_api.cpp). inspect: the room as its members see it, with the game's
  // public view (what nobody in particular may see: view(0)); null once the room has closed.
  // admin_close: a running game is stored as aborted and everyone is removed with reason
  // "closed_by_admin" and the admin's `message`; done(false) when the room had closed already.
  // admin_remove: `p` is removed with reason "kicked_by_admin" and `message` (from a running game
  // too, which goes on without them, as when a player leaves); done(false) when p is not in it.
  void inspect(std::function<void(boost::json::value)> done);
  void admin_close(std::string message, std::function<void(bool)> done);
  void admin_remove(player_id p, std::string message, std::function<void(bool)> done);

  // room_api (strand only; see mode.hpp)
  std::string_view room_id() const override { return id_; }
  std::string_view game_id() const override { return game_id_; }
  epoch_ms now_ms() const override { return clock_.now_ms(); }
  rng& random() override { return rng_; }
  std::vector<member_info> members() const override;
  void send_all(std::string_view type, const boost::json::object& data) override;
  void send_to(player_id p, std::string_view type, const boost::json::object& data) override;
  void send_group(std::string_view group, std::string_view type,
                  const boost::json::object& data) override;
  void set_group(std::string_view group, player_id p, bool member) override;
  void send_spectators(std::string_view type, const boost::json::object& data) override;
  bool binary(player_id p) const override;
  void send_binary(player_id p, std::string bytes) override;
  timer_id set_timer(epoch_ms at, std::uint64_t tag) override;
  void cancel_timer(timer_id id) override;
  void set_tick(int hz) override;
  std::function<void(async_fn)> async_gate() override;
  announce_fn announcer() override;
  void log(std::string_view kind, player_id actor, const boost::json::object& payload) override;
  void end_game(const boost::json::object& result, const boost::json::object& record) override;
  void checkpoint() override;

 private:
  struct member {
    player_id id = 0;
    std::string nickname;
    bool ready = false;
    bool spectator = false;
    std::shared_ptr<net::connection> conn;  // null while disconnected
    epoch_ms seat_kept_until = 0;
    std::unique_ptr<scheduled> grace;
  };
  enum class state { waiting, playing, closed };

  template <class F>
  void on_strand(F&& f);
  member* find(player_id p);
  const member* find(player_id p) const;
  std::size_t player_count() const;
  boost::json::object member_json(const member& m) const;
  // Adds a member (players before spectators); one without a connection has its seat held for
  // rooms.reservation_ms. The reference is good until members_ changes.
  member& seat(member m);
  boost::json::object snapshot(player_id viewer) const;
  void broadcast(const proto::frame& f, player_id except = 0);
  void send_frame(const member& m, const proto::frame& f);
  result<> can_start() const;
  void announce_can_start();
  // `message`: a human-readable why, sent in room.removed when not empty.
  void remove(player_id p, std::string_view reason, std::string_view message = {});
  void pick_leader();
  void clear_leader_ready();
  void publish_summary();
  // Calls into the mode, catching what it throws; handles a game that ended during the call.
  // False when the mode threw (its game is then over: see crash).
  template <class F>
  bool call_mode(F&& f);
  // Stores the game (with its players' outcomes, game_stats.hpp) and goes back to waiting.
  // `aborted`: the room abandoned it, and end_record_ is the room's {"aborted": why}.
  void finish_game(bool aborted);
  void crash(std::string_view what);
  void close_room(std::string_view reason, std::string_view message = {});
  void schedule_tick();
  void abandon_game(std::string_view why, std::string_view message = {});
  // The snapshot of the running game (lobby/room_snapshot.hpp), and writing it (asynchronously).
  std::string snapshot_text() const;
  void write_snapshot();
  // Writes the snapshot now, whatever the interval (a waiting room's too).
  void put_snapshot_now();
  // Keeps a disconnected (or not yet connected) member's seat for grace_ms (30 s when not positive)
  // for m to connect, then frees it.
  void hold_seat(member& m, int grace_ms);
  // Wrong password guesses: how long `p` must still wait (0: may guess), and counting one.
  epoch_ms password_blocked(player_id p);
  void count_wrong_password(player_id p);

  lobby& lobby_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  const std::string id_;
  const std::string invite_;
  const create_params params_;
  const mode_factory& factory_;
  game_store& games_;
  action_log& log_;
  const clock& clock_;
  obs::metrics& metrics_;
  const lobby_options opts_;
  rng rng_;

  state state_ = state::waiting;
  std::vector<member> members_;  // players in seat order, then spectators
  player_id leader_ = 0;
  bool last_can_start_ = false;
  std::deque<boost::json::object> chat_;  // recent lobby chat, for snapshots
  struct guesses {
    epoch_ms since = 0;  // the window's start
    int count = 0;
  };
  static constexpr std::size_t kWrongPasswordsMax = 4096;
  std::unordered_map<player_id, guesses> wrong_passwords_;
  // Invitations each member sent in the current minute (room.invite), at most
  // lobby_options::invites_per_minute.
  std::unordered_map<player_id, guesses> invites_sent_;

  // The running game.
  std::unique_ptr<mode> mode_;
  std::string game_id_;
  epoch_ms game_started_ms_ = 0;
  std::vector<player_id> game_players_;
  std::map<player_id, epoch_ms> left_game_;  // players who left the running game for good, when
  bool end_pending_ = false;
  bool checkpoint_pending_ = false;  // the mode asked for a snapshot during the current call
  std::int64_t snapshot_seq_ = 0;    // the last snapshot written (grows across games)
  bool snapshotted_ = false;         // the running game has a snapshot stored
  epoch_ms last_snapshot_ms_ = 0;    // when the last one was written (0: none in this game)
  // Armed while a checkpoint waits for the end of opts_.snapshot_interval_ms.
  std::unique_ptr<scheduled> snapshot_timer_;
  boost::json::object end_result_;
  boost::json::object end_record_;
  std::int64_t log_seq_ = 0;
  std::unordered_map<std::string, std::unordered_set<player_id>> groups_;
  std::unordered_map<timer_id, std::unique_ptr<scheduled>> timers_;
  timer_id next_timer_ = 1;
  int tick_hz_ = 0;
  std::unique_ptr<scheduled> tick_timer_;
  std::uint64_t tick_serial_ = 0;  // grows at each set_tick: a tick of an older rate is dropped
  std::chrono::steady_clock::time_point next_tick_;
  // Where timers, ticks and graces are armed (lobby_options::timers; Asio's by default).
  scheduler& sched() const { return *sched_; }
  std::shared_ptr<scheduler> sched_;
};

}  // namespace maratang::lobby
