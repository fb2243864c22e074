// A room_api for unit tests of game modes: no strand, no sockets, a manual clock and timers that
// fire when the test says so. It records every event each member receives, in one global order,
// with the same delivery rules as the real room: send_all reaches every connected member, sends
// to a disconnected member are dropped, spectators are members too. Test-only; header-only.
#pragma once

#include <boost/json.hpp>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "lobby/mode.hpp"
#include "proto/codec.hpp"
#include "proto/fields.hpp"

namespace maratang::lobby::testing {

struct received {
  std::uint64_t seq = 0;  // global order of sends
  std::string type;
  boost::json::object data;
};

class fake_room final : public room_api {
 public:
  fake_room(std::vector<member_info> members, std::uint64_t seed, epoch_ms start = 1'000'000)
      : members_(std::move(members)), rng_(seed), now_(start) {}

  // --- room_api ---
  std::string_view room_id() const override { return "room-1"; }
  std::string_view game_id() const override { return "game-1"; }
  epoch_ms now_ms() const override { return now_; }
  rng& random() override { return rng_; }
  std::vector<member_info> members() const override {
    std::vector<member_info> out;
    for (const auto& m : members_) {
      if (!m.spectator) out.push_back(m);
    }
    for (const auto& m : members_) {
      if (m.spectator) out.push_back(m);
    }
    return out;
  }
  void send_all(std::string_view type, const boost::json::object& data) override {
    ++seq_;
    public_.push_back({seq_, std::string(type), data});
    for (const auto& m : members_)
      deliver(m, type, data);
  }
  void send_to(player_id p, std::string_view type, const boost::json::object& data) override {
    ++seq_;
    if (const member_info* m = find(p)) deliver(*m, type, data);
  }
  void send_group(std::string_view group, std::string_view type,
                  const boost::json::object& data) override {
    ++seq_;
    for (player_id p : groups_[std::string(group)]) {
      if (const member_info* m = find(p)) deliver(*m, type, data);
    }
  }
  void set_group(std::string_view group, player_id p, bool member) override {
    auto& g = groups_[std::string(group)];
    std::erase(g, p);
    if (member) g.push_back(p);
  }
  void send_spectators(std::string_view type, const boost::json::object& data) override {
    ++seq_;
    for (const auto& m : members_) {
      if (m.spectator) deliver(m, type, data);
    }
  }
  bool binary(player_id p) const override { return binary_.count(p) > 0; }
  void send_binary(player_id p, std::string bytes) override {
    ++seq_;
    if (const member_info* m = find(p); m && m->connected) binary_inbox[p].push_back(bytes);
  }
  // Members whose connection chose binary frames.
  void set_binary(player_id p) { binary_.insert(p); }
  std::map<player_id, std::vector<std::string>> binary_inbox;

  timer_id set_timer(epoch_ms at, std::uint64_t tag) override {
    timers_[++next_timer_] = {at, tag};
    return next_timer_;
  }
  void cancel_timer(timer_id id) override { timers_.erase(id); }
  void set_tick(int hz) override { tick_hz_ = hz; }
  // Async work is queued (from any thread) and run when the test calls run_async().
  std::function<void(async_fn)> async_gate() override {
    return [this](async_fn fn) {
      std::lock_guard lk(async_mu_);
      async_.push_back({std::move(fn), true});
      async_cv_.notify_all();
    };
  }
  announce_fn announcer() override {
    return [this](std::string type, boost::json::object data) {
      std::lock_guard lk(async_mu_);
      async_.push_back({[type = std::move(type), data = std::move(data)](room_api& r) {
                          r.send_all(type, data);
                        },
                        false});
      async_cv_.notify_all();
    };
  }
  void log(std::string_view kind, player_id actor, const boost::json::object& payload) override {
    log_.push_back({++seq_, std::string(kind), {{"actor", actor}, {"payload", payload}}});
  }
  void end_game(const boost::json::object& result, const boost::json::object& record) override {
    ended_ = true;
    result_ = result;
    record_ = record;
    // The real room announces the result to everyone in room.game_ended.
    send_all("room.game_ended", {{"game_id", "game-1"}, {"result", result}});
  }

  void checkpoint() override { ++checkpoints_; }

  // --- test controls ---

  // Makes this (new) room the world a restored game wakes up in, as the real room does from its
  // snapshot: `o`'s members (connected or not), clock, random source and groups; no timers (the
  // restored mode re-arms its own) and nothing received yet.
  void take_world_of(const fake_room& o) {
    members_ = o.members_;
    binary_ = o.binary_;
    rng_.restore(o.rng_.seed(), o.rng_.draws());
    now_ = o.now_;
    groups_ = o.groups_;
  }
  int checkpoints() const { return checkpoints_; }
  int tick_hz() const { return tick_hz_; }

  // Fires the earliest pending timer (moving the clock to its time). False when none is pending
  // or the game has ended.
  bool fire_next_timer(mode& m) {
    if (timers_.empty() || ended_) return false;
    auto it = timers_.begin();
    for (auto i = timers_.begin(); i != timers_.end(); ++i) {
      if (i->second.at < it->second.at) it = i;
    }
    auto [at, tag] = it->second;
    timers_.erase(it);
    if (at > now_) now_ = at;
    m.on_timer(*this, tag);
    return true;
  }
  // The time of the earliest pending timer (0: none).
  epoch_ms next_timer_at() const {
    epoch_ms best = 0;
    for (const auto& [id, t] : timers_) {
      if (!best || t.at < best) best = t.at;
    }
    return best;
  }
  void advance(epoch_ms ms) { now_ += ms; }

  // Runs the queued async work, in order (work queued meanwhile included). Work for an ended game
  // is dropped, as the real room does. Returns how many ran.
  int run_async() {
    int n = 0;
    for (;;) {
      async_item it;
      {
        std::lock_guard lk(async_mu_);
        if (async_.empty()) return n;
        it = std::move(async_.front());
        async_.pop_front();
      }
      if (ended_ && it.game_scoped) continue;
      it.fn(*this);
      ++n;
    }
  }
  // Waits (up to `ms`) until async work is queued; true when some is.
  bool wait_async(int ms) {
    std::unique_lock lk(async_mu_);
    return async_cv_.wait_for(lk, std::chrono::milliseconds(ms), [&] { return !async_.empty(); });
  }

  // A client message as the real room delivers it: validated against the mode's field list
  // first, then handed to the mode.
  result<boost::json::object> act(const mode_factory& f, mode& m, player_id from,
                                  std::string_view type, const boost::json::object& data) {
    for (const auto& spec : f.messages()) {
      if (spec.type != type || spec.dir != proto::direction::request) continue;
      auto checked = proto::fields::check(data, spec.fields);
      if (!checked) return checked.error();
      return m.on_message(*this, from, type, *checked);
    }
    return error{errc::unknown_type};
  }
  // A room.chat line as the real room handles it during a game.
  result<> chat(mode& m, player_id from, std::string_view text) {
    auto routed = m.on_chat(*this, from, text);
    if (!routed) return routed.error();
    if (!*routed) send_all("room.chat", {{"from", from}, {"text", text}});
    return {};
  }

  void set_connected(mode& m, player_id p, bool connected) {
    for (auto& mi : members_) {
      if (mi.id == p) mi.connected = connected;
    }
    if (connected) {
      m.on_reconnect(*this, p);
    } else {
      m.on_disconnect(*this, p);
    }
  }
  // The member leaves the room for good.
  void leave(mode& m, player_id p) {
    std::erase_if(members_, [&](const member_info& mi) { return mi.id == p; });
    m.on_leave(*this, p);
  }
  void add_spectator(player_id p, std::string nickname) {
    members_.push_back({p, std::move(nickname), true, true});
  }

  // What each member received, in order.
  std::map<player_id, std::vector<received>> inbox;
  const std::vector<received>& public_events() const { return public_; }
  const std::vector<received>& action_log() const { return log_; }
  bool ended() const { return ended_; }
  const boost::json::object& result_data() const { return result_; }
  const boost::json::object& record() const { return record_; }
  std::uint64_t seq() const { return seq_; }
  std::size_t pending_timers() const { return timers_.size(); }

 private:
  struct timer {
    epoch_ms at;
    std::uint64_t tag;
  };
  const member_info* find(player_id p) const {
    for (const auto& m : members_) {
      if (m.id == p) return &m;
    }
    return nullptr;
  }
  void deliver(const member_info& m, std::string_view type, const boost::json::object& data) {
    if (m.connected) inbox[m.id].push_back({seq_, std::string(type), data});
  }

  std::vector<member_info> members_;
  std::set<player_id> binary_;
  std::mutex async_mu_;
  std::condition_variable async_cv_;
  struct async_item {
    async_fn fn;
    bool game_scoped = true;  // dropped once the game ended
  };
  std::deque<async_item> async_;  // GUARDED_BY(async_mu_)
  rng rng_;
  epoch_ms now_;
  std::uint64_t seq_ = 0;
  std::map<timer_id, timer> timers_;
  timer_id next_timer_ = 0;
  int tick_hz_ = 0;
  int checkpoints_ = 0;
  std::map<std::string, std::vector<player_id>> groups_;
  std::vector<received> public_;
  std::vector<received> log_;
  bool ended_ = false;
  boost::json::object result_;
  boost::json::object record_;
};

}  // namespace maratang::lobby::testing
