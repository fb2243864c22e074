#include "lobby/lobby.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <atomic>
#include <boost/json.hpp>
#include <map>
#include <mutex>
#include <stdexcept>

#include "core/crypto.hpp"
#include "lobby/room.hpp"
#include "obs/metrics.hpp"

namespace maratang::lobby {

namespace json = boost::json;

lobby::lobby(boost::asio::io_context& ioc, const mode_registry& modes, game_store& games,
             action_log& log, const clock& clk, obs::metrics& m, lobby_options opts)
    : ioc_(ioc), modes_(modes), games_(games), log_(log), clock_(clk), metrics_(m), opts_(opts) {}

lobby::~lobby() = default;

std::shared_ptr<net::connection> lobby::attach(player_id p, std::shared_ptr<net::connection> c) {
  std::shared_ptr<net::connection> old;
  {
    std::lock_guard lock(mu_);
    auto& slot = online_[p];
    // The newest connection is the one whose upgrade the server took last (ids increase in that
    // order), not the one whose handshake happened to finish last: a socket that opens late
    // loses.
    if (slot && slot->id() > c->id()) return c;
    old = std::move(slot);
    slot = std::move(c);
    attached_at_[p] = clock_.now_ms();
  }
  if (listener_.connection_changed) listener_.connection_changed(p, true);
  return old;
}

void lobby::detach(player_id p, const std::shared_ptr<net::connection>& c) {
  std::shared_ptr<room> r;
  bool gone = false;
  {
    std::lock_guard lock(mu_);
    auto it = online_.find(p);
    if (it != online_.end() && it->second == c) {
      online_.erase(it);
      attached_at_.erase(p);
      gone = true;
    }
    if (auto s = seat_of_.find(p); s != seat_of_.end()) {
      if (auto rit = rooms_.find(s->second); rit != rooms_.end()) r = rit->second;
    }
  }
  if (gone && listener_.connection_changed) listener_.connection_changed(p, false);
  if (r) r->disconnected(p, c->id());
}

void lobby::resume(player_id p, std::shared_ptr<net::connection> c,
                   std::function<void(json::value)> done) {
  auto r = room_of(p);
  if (!r) return done(nullptr);
  r->reconnect(p, std::move(c), std::move(done));
}

void lobby::set_nickname(player_id p, std::string nickname) {
  std::lock_guard lock(mu_);
  nicknames_[p] = std::move(nickname);
}

epoch_ms lobby::next_game_end(epoch_ms now) {
  epoch_ms last = last_game_end_.load();
  epoch_ms next = 0;
  do {
    next = std::max(now, last + 1);
  } while (!last_game_end_.compare_exchange_weak(last, next));
  return next;
}

void lobby::remember_nickname(player_id p, std::string nickname) {
  std::lock_guard lock(mu_);
  nicknames_.try_emplace(p, std::move(nickname));
}

std::string lobby::nickname_of(player_id p) const {
  std::lock_guard lock(mu_);
  auto it = nicknames_.find(p);
  return it == nicknames_.end() ? std::string() : it->second;
}

std::string lobby::new_room_id() {
  return core::random_token(9);
}

std::string lobby::new_invite_code() {
  // Eight characters from an alphabet without look-alikes (no 0/O, 1/I/L), easy to read aloud.
  static constexpr std::string_view alphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";
  // random_token's base64 text has 11 characters for 8 bytes; eight of them make the code.
  std::string raw = core::random_token(8);
  std::string code;
  for (std::size_t i = 0; i < 8; ++i) {
    code += alphabet[static_cast<unsigned char>(raw[i]) % alphabet.size()];
  }
  return code;
}

void lobby::create(player_id p, create_params params, std::shared_ptr<net::connection> c,
                   reply_fn reply, std::vector<player_id> party) {
  const mode_factory* f = modes_.find(params.mode);
  if (!f)
    return reply(
        error{errc::unknown_mode, fmt::format("There is no game mode \"{}\".", params.mode)});
  if (params.capacity == 0) params.capacity = f->max_players();
  if (params.capacity < f->min_players() || params.capacity > f->max_players()) {
    return reply(
        error{errc::bad_field, fmt::format("capacity must be between {} and {} for {}.",
                                           f->min_players(), f->max_players(), f->name())});
  }
  if (party.size() + 1 > static_cast<std::size_t>(params.capacity)) {
    return reply(error{errc::room_full, fmt::format("A room of {} cannot seat your party of {}.",
                                                    params.capacity, party.size() + 1)});
  }
  std::string nickname = nickname_of(p);
  if (nickname.empty()) return reply(error{errc::nickname_required});
  hash_room_password(params);  // before the lock
  std::shared_ptr<room> r;
  std::vector<companion> companions;
  {
    std::lock_guard lock(mu_);
    if (shutting_down_) return reply(error{errc::unavailable});
    if (seat_of_.count(p)) return reply(error{errc::already_in_room});
    if (rooms_.size() >= static_cast<std::size_t>(opts_.max_rooms)) {
      return reply(error{errc::unavailable, "This server has as many rooms as it can hold."});
    }
    std::string id;
    do {
      id = new_room_id();
    } while (rooms_.count(id));
    std::string invite;
    do {
      invite = new_invite_code();
    } while (invites_.count(invite));
    r = std::make_shared<room>(*this, ioc_, id, invite, std::move(params), *f, games_, log_, clock_,
                               metrics_, opts_);
    auto taken = take_companions(party, id);
    if (!taken) return reply(taken.error());
    companions = std::move(*taken);
    rooms_.emplace(id, r);
    invites_.emplace(invite, id);
    seat_of_[p] = id;
  }
  seat_changed(p, r->id(), true);
  for (const auto& m : companions)
    seat_changed(m.id, r->id(), true);
  r->join(p, std::move(nickname), {}, std::move(c), std::move(reply), std::move(companions));
}

result<std::vector<companion>> lobby::check_companions(const std::vector<player_id>& party,
                                                       bool held) const {
  std::vector<companion> out;
  for (player_id m : party) {
    auto nick = nicknames_.find(m);
    const std::string name = nick == nicknames_.end() ? std::to_string(m) : nick->second;
    if (seat_of_.count(m))
      return error{errc::already_in_room, fmt::format("{} sits in a room already.", name)};
    std::shared_ptr<net::connection> conn;
    if (!held) {
      auto on = online_.find(m);
      if (on == online_.end()) {
        // Several nodes: a member may be connected to another one, whose players are not here.
        return error{errc::out_of_order,
                     listener_.deliver_elsewhere
                         ? fmt::format("{} is offline or connected to another node.", name)
                         : fmt::format("{} is offline.", name)};
      }
      conn = on->second;
    }
    if (nick == nicknames_.end() || nick->second.empty())
      return error{errc::nickname_required, fmt::format("{} has no nickname yet.", name)};
    out.push_back({m, nick->second, std::move(conn)});
  }
  return out;
}

result<std::vector<companion>> lobby::take_companions(const std::vector<player_id>& party,
                                                      const std::string& room_id, bool held) {
  auto out = check_companions(party, held);
  if (!out) return out;
  for (const auto& m : *out)
    seat_of_[m.id] = room_id;
  return out;
}

result<std::vector<companion>> lobby::companions_here(const std::vector<player_id>& party) const {
  std::lock_guard lock(mu_);
  return check_companions(party, false);
}

void lobby::restore(std::vector<store::room_snapshot_record> snaps,
                    std::function<void(int, int)> done) {
  struct tally {
    std::mutex mu;
    int left = 0, restored = 0, failed = 0;
    std::function<void(int, int)> done;
  };
  auto t = std::make_shared<tally>();
  t->done = std::move(done);
  t->left = static_cast<int>(snaps.size()) + 1;  // one for this call, ended below
  auto finish_one = [t](bool ok) {
    std::function<void(int, int)> fire;
    int restored = 0, failed = 0;
    {
      std::lock_guard lk(t->mu);
      (ok ? t->restored : t->failed) += 1;
      if (--t->left > 0) return;
      fire = std::move(t->done);
      restored = t->restored;
      failed = t->failed;
    }
    if (fire) fire(restored, failed - 1);  // the call's own share counted as a failure
  };
  for (auto& s : snaps) {
    std::shared_ptr<room> r;
    json::object doc;
    std::vector<player_id> seated;
    try {
      doc = json::parse(s.data_json).as_object();
      const auto& ro = doc.at("room").as_object();
      create_params cp;
      cp.mode = ro.at("mode").as_string();
      cp.name = ro.at("name").as_string();
      cp.capacity = ro.at("capacity").to_number<int>();
      cp.is_private = ro.at("private").as_bool();
      // Snapshots written before "ranked" existed: not ranked.
      if (const auto* ranked = ro.if_contains("ranked")) cp.ranked = ranked->as_bool();
      // Snapshots written before hashes were kept carry the password; the room hashes it.
      if (const auto* hash = ro.if_contains("password_hash"))
        cp.password_hash = hash->as_string();
      else
        cp.password = ro.at("password").as_string();
      cp.allow_spectators = ro.at("allow_spectators").as_bool();
      cp.settings = std::make_shared<const json::object>(ro.at("settings").as_object());
      cp.seed = ro.at("seed").to_number<std::uint64_t>();
      const mode_factory* f = modes_.find(cp.mode);
      if (!f) throw std::invalid_argument("no mode " + cp.mode + " on this server");
      std::string invite(ro.at("invite").as_string());
      std::lock_guard lock(mu_);
      if (rooms_.count(s.room_id) || invites_.count(invite))
        throw std::invalid_argument("the room exists already");
      r = std::make_shared<room>(*this, ioc_, s.room_id, invite, std::move(cp), *f, games_, log_,
                                 clock_, metrics_, opts_);
      rooms_.emplace(s.room_id, r);
      invites_.emplace(invite, s.room_id);
      for (const auto& m : doc.at("members").as_array()) {
        // An account sits in one room; a second snapshot naming it (which a node never writes)
        // does not take it away from the first.
        if (seat_of_.try_emplace(m.at("id").as_int64(), s.room_id).second)
          seated.push_back(m.at("id").as_int64());
      }
    } catch (const std::exception& e) {
      spdlog::error("room {}: its snapshot cannot be read ({}); deleted", s.room_id, e.what());
      if (snapshots_) snapshots_->delete_snapshot(s.room_id, s.node, s.seq);
      finish_one(false);
      continue;
    }
    for (player_id p : seated)
      seat_changed(p, s.room_id, true);
    r->restore(std::move(doc), s.seq, [this, finish_one](bool ok) {
      if (ok) metrics_.rooms_restored.fetch_add(1, std::memory_order_relaxed);
      finish_one(ok);
    });
  }
  finish_one(false);
}

void lobby::join(player_id p, join_params params, std::shared_ptr<net::connection> c,
                 reply_fn reply) {
  join_as(p, nickname_of(p), std::move(params), std::move(c), std::move(reply));
}

void lobby::reserve(player_id p, std::string nickname, join_params params, reply_fn reply) {
  remember_nickname(p, nickname);
  if (params.party_nicknames.size() != params.party.size())
    return reply(error{errc::bad_field, "a party's nicknames do not fit its members"});
  for (std::size_t i = 0; i < params.party.size(); ++i)
    remember_nickname(params.party[i], params.party_nicknames[i]);
  join_as(p, std::move(nickname), std::move(params), nullptr, std::move(reply));
}

void lobby::join_as(player_id p, std::string nickname, join_params params,
                    std::shared_ptr<net::connection> c, reply_fn reply) {
  if (nickname.empty()) return reply(error{errc::nickname_required});
  std::shared_ptr<room> r;
  std::vector<companion> companions;
  {
    std::lock_guard lock(mu_);
    if (shutting_down_) return reply(error{errc::unavailable});
    if (seat_of_.count(p)) return reply(error{errc::already_in_room});
    std::string id = params.room_id;
    if (id.empty()) {
      auto it = invites_.find(params.invite_code);
      if (it == invites_.end())
        return reply(error{errc::unknown_room, "No room has that invite code."});
      id = it->second;
    }
    auto it = rooms_.find(id);
    if (it == rooms_.end()) return reply(error{errc::unknown_room});
    r = it->second;
    // A private room is joined by its invite code only.
    auto sit = summaries_.find(id);
    if (sit != summaries_.end() && sit->second.is_private && params.invite_code.empty()) {
      return reply(error{errc::unknown_room});
    }
    // A reservation (no connection): its party's seats are held too.
    auto taken = take_companions(params.party, id, c == nullptr);
    if (!taken) return reply(taken.error());
    companions = std::move(*taken);
    seat_of_[p] = id;  // reserved; the room releases it if it refuses
  }
  seat_changed(p, r->id(), true);
  for (const auto& m : companions)
    seat_changed(m.id, r->id(), true);
  r->join(p, std::move(nickname), std::move(params), std::move(c), std::move(reply),
          std::move(companions));
}

std::shared_ptr<room> lobby::room_of(player_id p) const {
  std::lock_guard lock(mu_);
  auto s = seat_of_.find(p);
  if (s == seat_of_.end()) return nullptr;
  auto it = rooms_.find(s->second);
  return it == rooms_.end() ? nullptr : it->second;
}

std::vector<room_summary> lobby::list(std::string_view mode) const {
  std::vector<room_summary> out;
  std::lock_guard lock(mu_);
  for (const auto& [id, s] : summaries_) {
    if (s.is_private || (!mode.empty() && s.mode != mode)) continue;
    out.push_back(s);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

json::object summary_json(const room_summary& s) {
  return {{"id", s.id},
          {"name", s.name},
          {"mode", s.mode},
          {"state", s.state},
          {"players", s.players},
          {"capacity", s.capacity},
          {"has_password", s.has_password},
          {"allow_spectators", s.allow_spectators}};
}

json::array lobby::list_json(std::string_view mode) const {
  json::array rooms;
  for (const auto& s : list(mode))
    rooms.push_back(summary_json(s));
  return rooms;
}

void lobby::release_seat(player_id p, const std::string& room_id) {
  {
    std::lock_guard lock(mu_);
    auto it = seat_of_.find(p);
    if (it == seat_of_.end() || it->second != room_id) return;
    seat_of_.erase(it);
  }
  seat_changed(p, room_id, false);
}

void lobby::update_summary(const room_summary& s) {
  std::string invite;
  {
    std::lock_guard lock(mu_);
    auto it = rooms_.find(s.id);
    if (it == rooms_.end()) return;
    summaries_[s.id] = s;
    invite = it->second->invite_code();
  }
  if (listener_.room_changed) listener_.room_changed(s, invite);
}

void lobby::remove_room(const std::string& room_id) {
  {
    std::lock_guard lock(mu_);
    auto it = rooms_.find(room_id);
    if (it == rooms_.end()) return;
    invites_.erase(it->second->invite_code());
    summaries_.erase(room_id);
    rooms_.erase(it);
  }
  if (listener_.room_removed) listener_.room_removed(room_id);
}

std::vector<std::pair<room_summary, std::string>> lobby::rooms_with_invites() const {
  std::vector<std::pair<room_summary, std::string>> out;
  std::lock_guard lock(mu_);
  out.reserve(summaries_.size());
  for (const auto& [id, s] : summaries_) {
    if (auto it = rooms_.find(id); it != rooms_.end())
      out.emplace_back(s, it->second->invite_code());
  }
  return out;
}

std::vector<std::pair<player_id, std::string>> lobby::seats() const {
  std::lock_guard lock(mu_);
  return {seat_of_.begin(), seat_of_.end()};
}

void lobby::hand_over_all(bool write, std::function<void(int)> done) {
  std::vector<std::string> ids;
  {
    std::lock_guard lock(mu_);
    if (write) shutting_down_ = true;
    for (const auto& [id, r] : rooms_)
      ids.push_back(id);
  }
  hand_over_rooms(ids, write, std::move(done));
}

void lobby::snapshotted_rooms(std::function<void(std::vector<std::string>)> done) {
  std::vector<std::shared_ptr<room>> rooms;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, r] : rooms_)
      rooms.push_back(r);
  }
  if (rooms.empty()) return done({});
  struct tally {
    std::mutex mu;
    std::size_t left = 0;
    std::vector<std::string> ids;
    std::function<void(std::vector<std::string>)> done;
  };
  auto t = std::make_shared<tally>();
  t->left = rooms.size();
  t->done = std::move(done);
  for (auto& r : rooms) {
    r->snapshotted([t, id = r->id()](bool yes) {
      std::vector<std::string> all;
      {
        std::lock_guard lk(t->mu);
        if (yes) t->ids.push_back(id);
        if (--t->left > 0) return;
        all = std::move(t->ids);
      }
      t->done(std::move(all));
    });
  }
}

void lobby::hand_over_rooms(const std::vector<std::string>& ids, bool write,
                            std::function<void(int)> done) {
  std::vector<std::shared_ptr<room>> rooms;
  {
    std::lock_guard lock(mu_);
    for (const auto& id : ids)
      if (auto it = rooms_.find(id); it != rooms_.end()) rooms.push_back(it->second);
  }
  if (rooms.empty()) return done(0);
  struct tally {
    std::atomic<std::size_t> left;
    std::atomic<int> moved{0};
    std::function<void(int)> done;
  };
  auto t = std::make_shared<tally>();
  t->left = rooms.size();
  t->done = std::move(done);
  for (auto& r : rooms) {
    r->hand_over(write, [t](bool was_open) {
      if (was_open) t->moved.fetch_add(1);
      if (t->left.fetch_sub(1) == 1) t->done(t->moved.load());
    });
  }
}

void lobby::handed_over(const std::string& room_id, const std::vector<player_id>& members) {
  {
    std::lock_guard lock(mu_);
    for (player_id p : members) {
      auto it = seat_of_.find(p);
      if (it != seat_of_.end() && it->second == room_id) seat_of_.erase(it);
    }
    auto it = rooms_.find(room_id);
    if (it == rooms_.end()) return;
    invites_.erase(it->second->invite_code());
    summaries_.erase(room_id);
    rooms_.erase(it);
  }
  if (listener_.room_removed) listener_.room_removed(room_id);
}

void lobby::close_session(const std::string& session_id) {
  std::vector<std::shared_ptr<net::connection>> conns;
  {
    std::lock_guard lock(mu_);
    for (const auto& [p, c] : online_)
      conns.push_back(c);
  }
  // session_id is fixed at open, so reading it from another thread is safe.
  for (auto& c : conns) {
    if (c->context().session_id == session_id)
      c->close("logged_out", "The session was logged out.");
  }
}

std::shared_ptr<room> lobby::find_room(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = rooms_.find(id);
  return it == rooms_.end() ? nullptr : it->second;
}

std::vector<room_summary> lobby::rooms() const {
  std::vector<room_summary> out;
  {
    std::lock_guard lock(mu_);
    out.reserve(summaries_.size());
    for (const auto& [id, s] : summaries_)
      out.push_back(s);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

std::vector<lobby::online_player> lobby::online_players(player_id after, std::size_t limit) const {
  std::vector<online_player> out;
  std::lock_guard lock(mu_);
  // A page by id: the map is unordered, so pick the smallest ids above `after` in one pass.
  std::vector<player_id> ids;
  for (const auto& [p, c] : online_)
    if (p > after) ids.push_back(p);
  const auto n = std::min(limit, ids.size());
  std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n), ids.end());
  ids.resize(n);
  for (player_id p : ids) {
    online_player o{p, {}, {}};
    if (auto it = nicknames_.find(p); it != nicknames_.end()) o.nickname = it->second;
    if (auto it = seat_of_.find(p); it != seat_of_.end()) o.room_id = it->second;
    out.push_back(std::move(o));
  }
  return out;
}

bool lobby::deliver(player_id p, const proto::frame& f) {
  std::shared_ptr<net::connection> c;
  {
    std::lock_guard lock(mu_);
    auto it = online_.find(p);
    if (it == online_.end()) return false;
    c = it->second;
  }
  c->send(f);
  return true;
}

void lobby::deliver_anywhere(player_id p, proto::frame f, std::function<void(result<bool>)> done) {
  if (deliver(p, f)) return done(true);
  if (!listener_.deliver_elsewhere) return done(false);
  listener_.deliver_elsewhere(p, std::move(f), std::move(done));
}

player_id lobby::online_by_nickname(std::string_view nickname) const {
  std::lock_guard lock(mu_);
  for (const auto& [p, c] : online_) {
    auto it = nicknames_.find(p);
    if (it != nicknames_.end() && it->second == nickname) return p;
  }
  return 0;
}

bool lobby::replaced_elsewhere(player_id p, epoch_ms at, bool tie_closes) {
  std::shared_ptr<net::connection> c;
  {
    std::lock_guard lock(mu_);
    auto it = online_.find(p);
    if (it == online_.end()) return false;
    const epoch_ms mine = attached_at_[p];
    if (mine > at || (mine == at && !tie_closes)) return false;
    c = it->second;
  }
  metrics_.sessions_replaced.fetch_add(1);
  c->close("replaced", "This account connected from somewhere else.");
  return true;
}

epoch_ms lobby::attached_at(player_id p) const {
  std::lock_guard lock(mu_);
  auto it = attached_at_.find(p);
  return it == attached_at_.end() ? 0 : it->second;
}

bool lobby::disconnect(player_id p, std::string_view reason, std::string_view message) {
  std::shared_ptr<net::connection> c;
  {
    std::lock_guard lock(mu_);
    auto it = online_.find(p);
    if (it == online_.end()) return false;
    c = it->second;
  }
  c->close(reason, message);
  return true;
}

void lobby::shutdown(std::function<void()> done, int reconnect_after_ms) {
  std::vector<std::shared_ptr<net::connection>> conns;
  std::vector<std::shared_ptr<room>> rooms;
  {
    std::lock_guard lock(mu_);
    shutting_down_ = true;
    for (const auto& [p, c] : online_)
      conns.push_back(c);
    for (const auto& [id, r] : rooms_)
      rooms.push_back(r);
  }
  auto ev = std::make_shared<const std::string>(json::serialize(json::object{
      {"type", "server.shutdown"}, {"data", {{"reconnect_after_ms", reconnect_after_ms}}}}));
  for (auto& c : conns) {
    c->send(ev);
    c->close("shutdown", "The server is shutting down.");
  }
  if (rooms.empty()) return done();
  auto left = std::make_shared<std::atomic<std::size_t>>(rooms.size());
  auto shared_done = std::make_shared<std::function<void()>>(std::move(done));
  for (auto& r : rooms) {
    r->shutdown([left, shared_done] {
      if (left->fetch_sub(1) == 1) (*shared_done)();
    });
  }
}

std::size_t lobby::online() const {
  std::lock_guard lock(mu_);
  return online_.size();
}

std::size_t lobby::room_count() const {
  std::lock_guard lock(mu_);
  return rooms_.size();
}

void lobby::render_metrics(std::string& out) const {
  std::map<std::pair<std::string, std::string>, int> counts;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, s] : summaries_)
      counts[{s.mode, s.state}]++;
  }
  out += "# HELP maratang_rooms Rooms by mode and state.\n# TYPE maratang_rooms gauge\n";
  for (const auto& [k, n] : counts) {
    out += fmt::format("maratang_rooms{{mode=\"{}\",state=\"{}\"}} {}\n", k.first, k.second, n);
  }
  out += fmt::format(
      "# HELP maratang_players_online Accounts with a live connection.\n"
      "# TYPE maratang_players_online gauge\nmaratang_players_online {}\n",
      online());
}

}  // namespace maratang::lobby
