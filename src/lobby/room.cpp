#include "lobby/room.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/json/serialize.hpp>
#include <set>
#include <stdexcept>
#include <thread>

#include "core/crypto.hpp"
#include "lobby/game_stats.hpp"
#include "obs/metrics.hpp"
#include "proto/fields.hpp"

namespace maratang::lobby {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

json::object ok_empty() {
  return {};
}

// How far a restored game's action-log numbering jumps past its snapshot's (see room::restore).
constexpr std::int64_t kRestoreLogGap = 1'000'000;

std::uint64_t random_seed() {
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

}  // namespace

room::room(lobby& owner, asio::io_context& ioc, std::string id, std::string invite,
           create_params params, const mode_factory& factory, game_store& games, action_log& log,
           const clock& clk, obs::metrics& m, lobby_options opts)
    : lobby_(owner),
      strand_(asio::make_strand(ioc)),
      id_(std::move(id)),
      invite_(std::move(invite)),
      // lobby::create hashes before it takes its lock; a legacy snapshot's password is hashed
      // here.
      params_([](create_params p) {
        hash_room_password(p);
        return p;
      }(std::move(params))),
      factory_(factory),
      games_(games),
      log_(log),
      clock_(clk),
      metrics_(m),
      opts_(opts),
      rng_(params_.seed ? params_.seed : random_seed()),
      sched_(opts_.timers ? opts_.timers : asio_scheduler()) {}

void hash_room_password(create_params& p) {
  if (p.password.empty()) return;
  if (p.password_hash.empty()) {
    core::crypto_init();
    p.password_hash = core::hash_password(p.password, core::pwhash_params::minimal());
  }
  p.password.clear();
}

room::~room() = default;

template <class F>
void room::on_strand(F&& f) {
  asio::post(strand_, [self = shared_from_this(), f = std::forward<F>(f)]() mutable { f(); });
}

// --- Lookup and views ----------------------------------------------------------------------------

room::member* room::find(player_id p) {
  for (auto& m : members_) {
    if (m.id == p) return &m;
  }
  return nullptr;
}

const room::member* room::find(player_id p) const {
  for (const auto& m : members_) {
    if (m.id == p) return &m;
  }
  return nullptr;
}

std::size_t room::player_count() const {
  std::size_t n = 0;
  for (const auto& m : members_)
    n += !m.spectator;
  return n;
}

json::object room::member_json(const member& m) const {
  json::object o{{"id", m.id},
                 {"nickname", m.nickname},
                 {"ready", m.ready},
                 {"leader", m.id == leader_},
                 {"connected", m.conn != nullptr},
                 {"spectator", m.spectator}};
  if (!m.conn && m.seat_kept_until) o["seat_kept_until"] = m.seat_kept_until;
  return o;
}

json::object room::snapshot(player_id viewer) const {
  json::array members;
  for (const auto& m : members_)
    members.push_back(member_json(m));
  json::array chat;
  for (const auto& c : chat_)
    chat.push_back(c);
  json::object o{{"id", id_},
                 {"name", params_.name},
                 {"mode", params_.mode},
                 {"state", state_ == state::playing ? "playing" : "waiting"},
                 {"capacity", params_.capacity},
                 {"private", params_.is_private},
                 {"has_password", !params_.password_hash.empty()},
                 {"allow_spectators", params_.allow_spectators},
                 {"leader", leader_},
                 {"members", std::move(members)},
                 {"can_start", can_start().has_value()},
                 {"settings", params_.settings ? *params_.settings : json::object{}},
                 {"chat", std::move(chat)},
                 {"server_time", clock_.now_ms()}};
  // The invite code is for members to share; it is part of every member's snapshot.
  if (params_.is_private) o["invite_code"] = invite_;
  if (mode_) {
    o["game"] = mode_->view(viewer);
    o["game_id"] = game_id_;
  }
  return o;
}

std::vector<member_info> room::members() const {
  std::vector<member_info> out;
  out.reserve(members_.size());
  for (const auto& m : members_) {
    if (!m.spectator) out.push_back({m.id, m.nickname, m.conn != nullptr, false});
  }
  for (const auto& m : members_) {
    if (m.spectator) out.push_back({m.id, m.nickname, m.conn != nullptr, true});
  }
  return out;
}

// --- Sending
// ---------------------------------------------------------------------------------------

void room::send_frame(const member& m, const proto::frame& f) {
  if (m.conn) m.conn->send(f);
}

void room::broadcast(const proto::frame& f, player_id except) {
  for (const auto& m : members_) {
    if (m.id != except) send_frame(m, f);
  }
}

void room::send_all(std::string_view type, const json::object& data) {
  broadcast(proto::encode_event(type, data));
}

void room::send_to(player_id p, std::string_view type, const json::object& data) {
  if (const member* m = find(p)) send_frame(*m, proto::encode_event(type, data));
}

bool room::binary(player_id p) const {
  const member* m = find(p);
  return m && m->conn && m->conn->context().binary;
}

void room::send_binary(player_id p, std::string bytes) {
  const member* m = find(p);
  if (m && m->conn) m->conn->send_binary(std::make_shared<const std::string>(std::move(bytes)));
}

void room::send_group(std::string_view group, std::string_view type, const json::object& data) {
  auto it = groups_.find(std::string(group));
  if (it == groups_.end()) return;
  auto f = proto::encode_event(type, data);
  for (player_id p : it->second) {
    if (const member* m = find(p)) send_frame(*m, f);
  }
}

void room::set_group(std::string_view group, player_id p, bool in) {
  auto& g = groups_[std::string(group)];
  if (in) {
    g.insert(p);
  } else {
    g.erase(p);
  }
}

void room::send_spectators(std::string_view type, const json::object& data) {
  auto f = proto::encode_event(type, data);
  for (const auto& m : members_) {
    if (m.spectator) send_frame(m, f);
  }
}

// --- Lobby requests -----------------------------------------------------------------------------

result<> room::can_start() const {
  if (state_ != state::waiting) return error{errc::game_in_progress};
  auto n = static_cast<int>(player_count());
  if (n < factory_.min_players()) {
    return error{errc::too_few_players, fmt::format("{} needs at least {} players.",
                                                    factory_.name(), factory_.min_players())};
  }
  static const json::object no_settings;
  if (auto ok = factory_.check_start(params_.settings ? *params_.settings : no_settings, n); !ok)
    return ok.error();
  for (const auto& m : members_) {
    if (!m.spectator && m.id != leader_ && !m.ready) return error{errc::not_ready};
  }
  return {};
}

void room::announce_can_start() {
  auto r = can_start();
  bool now = r.has_value();
  if (now == last_can_start_ || state_ != state::waiting) return;
  last_can_start_ = now;
  json::object data{{"can_start", now}};
  if (!now) data["reason"] = to_string(r.error().code);
  send_all("room.can_start", data);
}

void room::publish_summary() {
  room_summary s;
  s.id = id_;
  s.name = params_.name;
  s.mode = params_.mode;
  s.state = state_ == state::playing ? "playing" : "waiting";
  s.players = static_cast<int>(player_count());
  s.capacity = params_.capacity;
  s.has_password = !params_.password_hash.empty();
  s.allow_spectators = params_.allow_spectators;
  s.is_private = params_.is_private;
  lobby_.update_summary(s);
}

void room::join(player_id p, std::string nickname, join_params jp,
                std::shared_ptr<net::connection> c, reply_fn reply, std::vector<companion> party) {
  on_strand([this, p, nickname = std::move(nickname), jp = std::move(jp), c = std::move(c),
             reply = std::move(reply), party = std::move(party)]() mutable {
    auto refuse = [&](error e) {
      lobby_.release_seat(p, id_);
      for (const auto& m : party)
        lobby_.release_seat(m.id, id_);
      reply(std::move(e));
    };
    if (state_ == state::closed) return refuse(errc::unknown_room);
    if (find(p)) return refuse(errc::already_in_room);
    // The creator joins an empty room; everyone else must pass the room's checks.
    bool creator = members_.empty() && leader_ == 0;
    if (!creator) {
      bool by_invite = !jp.invite_code.empty() && jp.invite_code == invite_;
      if (!params_.password_hash.empty() && !by_invite) {
        if (auto wait = password_blocked(p)) {
          return refuse(error{errc::rate_limited,
                              fmt::format("Too many wrong passwords for this room; try again in "
                                          "{} s.",
                                          (wait + 999) / 1000)});
        }
        if (!core::verify_password(params_.password_hash, jp.password)) {
          count_wrong_password(p);
          return refuse(errc::wrong_password);
        }
      }
    }
    bool spectator = jp.spectate;
    if (!spectator && state_ == state::playing) {
      return refuse(error{errc::game_in_progress,
                          params_.allow_spectators
                              ? "A game is in progress; join as a spectator (spectate: true)."
                              : "A game is in progress."});
    }
    if (spectator) {
      if (!params_.allow_spectators)
        return refuse(error{errc::forbidden, "This room does not allow spectators."});
      std::size_t specs = members_.size() - player_count();
      if (specs >= static_cast<std::size_t>(opts_.max_spectators)) return refuse(errc::room_full);
    } else if (player_count() + 1 + party.size() > static_cast<std::size_t>(params_.capacity)) {
      if (party.empty()) return refuse(errc::room_full);
      return refuse(error{
          errc::room_full,
          fmt::format("The room has {} free seats; your party needs {}.",
                      params_.capacity - static_cast<int>(player_count()), party.size() + 1)});
    }

    member m;
    m.id = p;
    m.nickname = std::move(nickname);
    m.spectator = spectator;
    m.conn = std::move(c);
    if (creator) leader_ = p;
    if (party.empty()) {
      broadcast(
          proto::encode_event("room.member_joined", {{"member", member_json(seat(std::move(m)))}}),
          p);
    } else {
      seat(std::move(m));
      // The party sits down at once, after the joiner: the members who were here hear each of
      // them join; the party hears nothing but its snapshots (the reply, party.room).
      std::vector<player_id> newcomers{p};
      for (auto& cm : party) {
        member pm;
        pm.id = cm.id;
        pm.nickname = std::move(cm.nickname);
        pm.conn = std::move(cm.conn);
        seat(std::move(pm));  // without a connection when it went offline meanwhile
        newcomers.push_back(cm.id);
      }
      for (player_id n : newcomers) {
        auto f = proto::encode_event("room.member_joined", {{"member", member_json(*find(n))}});
        for (const auto& x : members_)
          if (std::find(newcomers.begin(), newcomers.end(), x.id) == newcomers.end())
            send_frame(x, f);
      }
    }
    // The lobby's list shows the new member (and a new room) before the join is acknowledged, so
    // a room.list sent after the reply arrived sees it.
    publish_summary();
    reply(json::object{{"room", snapshot(p)}});
    for (const auto& cm : party)
      send_to(cm.id, "party.room", {{"room", snapshot(cm.id)}, {"by", p}});
    if (spectator && mode_) call_mode([&](mode& md) { md.on_reconnect(*this, p); });
    if (spectator) write_snapshot();  // a spectator of a running game keeps their seat too
    announce_can_start();
  });
}

room::member& room::seat(member m) {
  // Players sit before spectators.
  auto pos = members_.end();
  if (!m.spectator) {
    pos =
        std::find_if(members_.begin(), members_.end(), [](const member& x) { return x.spectator; });
  }
  auto it = members_.insert(pos, std::move(m));
  // A seat reserved for a player joining through another node (lobby::reserve) is held until
  // they connect here, as a reconnect grace.
  if (!it->conn) hold_seat(*it, opts_.reservation_ms);
  return *it;
}

// Wrong room passwords: each account may guess opts_.password_attempts times per window of
// opts_.password_window_ms, then waits for the window to end. The table is bounded: expired entries
// go first, and past its cap the oldest window is forgotten.
epoch_ms room::password_blocked(player_id p) {
  auto it = wrong_passwords_.find(p);
  if (it == wrong_passwords_.end()) return 0;
  const epoch_ms ends = it->second.since + opts_.password_window_ms;
  const epoch_ms now = clock_.now_ms();
  if (now >= ends) {
    wrong_passwords_.erase(it);
    return 0;
  }
  return it->second.count >= opts_.password_attempts ? ends - now : 0;
}

void room::count_wrong_password(player_id p) {
  const epoch_ms now = clock_.now_ms();
  if (wrong_passwords_.size() >= kWrongPasswordsMax && !wrong_passwords_.count(p)) {
    std::erase_if(wrong_passwords_, [&](const auto& kv) {
      return now >= kv.second.since + opts_.password_window_ms;
    });
    if (wrong_passwords_.size() >= kWrongPasswordsMax) {
      auto oldest = std::min_element(
          wrong_passwords_.begin(), wrong_passwords_.end(),
          [](const auto& a, const auto& b) { return a.second.since < b.second.since; });
      wrong_passwords_.erase(oldest);
    }
  }
  auto& g = wrong_passwords_[p];
  if (g.count == 0) g.since = now;
  ++g.count;
}

void room::leave(player_id p, reply_fn reply) {
  on_strand([this, p, reply = std::move(reply)] {
    if (!find(p)) return reply(error{errc::not_in_room});
    // Acknowledged once applied: a game the leave ended is already queued to the store, whose
    // worker runs in order, so a read of it sent after this reply finds it.
    remove(p, "left");
    reply(ok_empty());
  });
}

// room.removed's data: the reason code, the room, and the operator's words when there are any.
static json::object removed_json(std::string_view reason, const std::string& room_id,
                                 std::string_view message) {
  json::object o{{"reason", reason}, {"room_id", room_id}};
  if (!message.empty()) o["message"] = message;
  return o;
}

void room::remove(player_id p, std::string_view reason, std::string_view message) {
  auto it =
      std::find_if(members_.begin(), members_.end(), [&](const member& m) { return m.id == p; });
  if (it == members_.end()) return;
  bool spectator = it->spectator;
  if (reason != "left") {
    auto f = proto::encode_event("room.removed", removed_json(reason, id_, message));
    if (it->conn) {
      it->conn->send(f);
    } else {
      // No connection here: perhaps one on another node (a seat reserved through it, not yet
      // taken). Best effort: a notice nobody hears is lost, the seat is gone either way.
      lobby_.deliver_anywhere(p, std::move(f), [](result<bool>) {});
    }
  }
  members_.erase(it);
  invites_sent_.erase(p);
  lobby_.release_seat(p, id_);
  for (auto& [name, g] : groups_)
    g.erase(p);
  send_all("room.member_left", {{"player", p}, {"reason", reason}});
  if (!spectator && mode_) left_game_.emplace(p, clock_.now_ms());
  if (!spectator && mode_) call_mode([&](mode& md) { md.on_leave(*this, p); });
  if (state_ == state::closed) return;
  write_snapshot();  // the members changed (nothing when no game runs)
  if (player_count() == 0) return close_room("empty");
  if (p == leader_) pick_leader();
  publish_summary();
  announce_can_start();
}

void room::pick_leader() {
  // The longest-seated connected player, else the longest-seated one.
  const member* next = nullptr;
  for (const auto& m : members_) {
    if (m.spectator) continue;
    if (m.conn) {
      next = &m;
      break;
    }
    if (!next) next = &m;
  }
  leader_ = next ? next->id : 0;
  if (next) {
    send_all("room.leader_changed", {{"player", leader_}});
    clear_leader_ready();
  }
}

// The leader does not ready up; a member who becomes leader loses the flag, and everyone is told.
void room::clear_leader_ready() {
  member* m = find(leader_);
  if (!m || !m->ready) return;
  m->ready = false;
  send_all("room.member_ready", {{"player", leader_}, {"ready", false}});
}

void room::ready(player_id p, bool value, reply_fn reply) {
  on_strand([this, p, value, reply = std::move(reply)] {
    member* m = find(p);
    if (!m) return reply(error{errc::not_in_room});
    if (m->spectator) return reply(error{errc::forbidden, "Spectators do not ready up."});
    if (state_ != state::waiting) return reply(error{errc::game_in_progress});
    reply(ok_empty());
    if (m->ready == value) return;
    m->ready = value;
    send_all("room.member_ready", {{"player", p}, {"ready", value}});
    announce_can_start();
  });
}

void room::kick(player_id p, player_id target, reply_fn reply) {
  on_strand([this, p, target, reply = std::move(reply)] {
    if (!find(p)) return reply(error{errc::not_in_room});
    if (p != leader_) return reply(error{errc::not_leader});
    if (target == p)
      return reply(error{errc::bad_field, "The leader cannot kick themselves; leave instead."});
    if (!find(target))
      return reply(error{errc::unknown_player, "That player is not in this room."});
    if (state_ != state::waiting)
      return reply(error{errc::game_in_progress, "Players cannot be kicked during a game."});
    reply(ok_empty());
    remove(target, "kicked");
  });
}

void room::invite(player_id p, player_id target, reply_fn reply) {
  on_strand([this, p, target, reply = std::move(reply)] {
    const member* me = find(p);
    if (!me) return reply(error{errc::not_in_room});
    if (target == p) return reply(error{errc::bad_field, "You are in this room already."});
    if (find(target)) {
      return reply(error{errc::already_in_room, "That player is in this room already."});
    }
    const epoch_ms now = clock_.now_ms();
    auto& sent = invites_sent_[p];
    if (now >= sent.since + 60'000) sent = guesses{now, 0};
    if (sent.count >= opts_.invites_per_minute) {
      error e{errc::rate_limited, "Too many invitations; wait a minute."};
      e.retry_after_s = static_cast<int>((sent.since + 60'000 - now + 999) / 1000);
      return reply(std::move(e));
    }
    auto f =
        proto::encode_event("room.invitation", {{"room_id", id_},
                                                {"name", params_.name},
                                                {"mode", params_.mode},
                                                {"invite_code", invite_},
                                                {"from", {{"id", p}, {"nickname", me->nickname}}}});
    // Counted now (a second invitation sent before this one is delivered counts too); given
    // back when it reached nobody.
    ++sent.count;
    const epoch_ms since = sent.since;
    // Whether the answer comes inline (on this strand, before deliver_anywhere returns: the
    // target is connected here, or there are no other nodes) or later from another node.
    auto returned = std::make_shared<std::atomic<bool>>(false);
    const auto here = std::this_thread::get_id();
    // The target may be connected to another node (lobby_listener::deliver_elsewhere).
    lobby_.deliver_anywhere(
        target, std::move(f),
        [self = shared_from_this(), p, target, since, returned, here,
         reply = std::move(reply)](result<bool> r) {
          if (r && *r) return reply(json::object{{"player", target}});
          auto give_back = [self, p, since] {
            auto it = self->invites_sent_.find(p);
            if (it != self->invites_sent_.end() && it->second.since == since && it->second.count)
              --it->second.count;
          };
          if (!returned->load() && std::this_thread::get_id() == here) {
            give_back();
          } else {
            self->on_strand(std::move(give_back));
          }
          if (!r) return reply(r.error());
          reply(error{errc::unknown_player, "That player is not online."});
        });
    returned->store(true);
  });
}

void room::transfer(player_id p, player_id target, reply_fn reply) {
  on_strand([this, p, target, reply = std::move(reply)] {
    if (!find(p)) return reply(error{errc::not_in_room});
    if (p != leader_) return reply(error{errc::not_leader});
    member* t = find(target);
    if (!t || t->spectator)
      return reply(error{errc::unknown_player, "That player is not seated in this room."});
    reply(ok_empty());
    if (target == p) return;
    leader_ = target;
    send_all("room.leader_changed", {{"player", leader_}});
    clear_leader_ready();
    announce_can_start();
  });
}

void room::start(player_id p, reply_fn reply) {
  on_strand([this, p, reply = std::move(reply)] {
    if (!find(p)) return reply(error{errc::not_in_room});
    if (p != leader_) return reply(error{errc::not_leader});
    if (auto ok = can_start(); !ok) return reply(ok.error());

    game_id_ = core::random_token(12);
    game_started_ms_ = clock_.now_ms();
    game_players_.clear();
    left_game_.clear();
    for (const auto& m : members_) {
      if (!m.spectator) game_players_.push_back(m.id);
    }
    log_seq_ = 0;
    groups_.clear();
    end_pending_ = false;
    try {
      mode_ = factory_.create(params_.settings ? *params_.settings : json::object{});
    } catch (const std::exception& e) {
      spdlog::error("room {}: mode {} failed to create a game: {}", id_, factory_.name(), e.what());
      return reply(error{errc::internal});
    }
    state_ = state::playing;
    last_can_start_ = false;
    reply(json::object{{"game_id", game_id_}});
    send_all("room.game_started", {{"mode", params_.mode}, {"game_id", game_id_}});
    publish_summary();
    call_mode([&](mode& md) { md.on_start(*this); });
  });
}

void room::chat(player_id p, std::string text, reply_fn reply) {
  on_strand([this, p, text = std::move(text), reply = std::move(reply)]() mutable {
    member* m = find(p);
    if (!m) return reply(error{errc::not_in_room});
    if (mode_) {
      result<bool> routed = false;
      // A mode that threw has ended its game; the line goes nowhere (it may have been private).
      if (!call_mode([&](mode& md) { routed = md.on_chat(*this, p, text); }))
        return reply(error{errc::internal});
      if (!routed) return reply(routed.error());
      if (*routed) return reply(ok_empty());
    }
    json::object line{
        {"from", p}, {"nickname", m->nickname}, {"text", text}, {"ts", clock_.now_ms()}};
    reply(ok_empty());
    send_all("room.chat", line);
    // In-game chat belongs to the game's action log; lobby chat is kept only for snapshots.
    if (mode_) {
      log("chat", p, {{"text", text}});
    } else {
      chat_.push_back(std::move(line));
      while (chat_.size() > static_cast<std::size_t>(opts_.chat_history))
        chat_.pop_front();
    }
  });
}

void room::game_message(player_id p, std::string type, json::object data, reply_fn reply) {
  on_strand([this, p, type = std::move(type), data = std::move(data),
             reply = std::move(reply)]() mutable {
    if (!find(p)) return reply(error{errc::not_in_room});
    const proto::message_spec* spec = nullptr;
    for (const auto& m : factory_.messages()) {
      if (m.type == type && m.dir == proto::direction::request) spec = &m;
    }
    if (!spec) {
      return reply(error{
          errc::unknown_type,
          fmt::format("\"{}\" is not a message of this room's mode ({}).", type, params_.mode)});
    }
    auto checked = proto::fields::check(std::move(data), spec->fields);
    if (!checked) return reply(checked.error());
    if (!mode_) return reply(error{errc::no_game});
    result<json::object> r = error{errc::internal};
    if (!call_mode([&](mode& md) { r = md.on_message(*this, p, type, *checked); }))
      return reply(error{errc::internal});
    reply(std::move(r));
  });
}

bool room::binary_input(player_id p, const mode_factory& f, std::string_view type,
                        std::string_view bytes, std::shared_ptr<net::connection> c) {
  // Copied whole into the handler (no allocation of its own): Arena's inputs are 20 bytes at most.
  struct small_bytes {
    std::array<char, 32> b;
    std::uint8_t n;
  } in{};
  if (&f != &factory_ || bytes.size() > in.b.size()) return false;
  std::copy(bytes.begin(), bytes.end(), in.b.begin());
  in.n = static_cast<std::uint8_t>(bytes.size());
  on_strand([this, p, type, in, c = std::move(c)] {
    auto refuse = [&](const error& e) {
      metrics_.count_error(e.code);
      c->send(proto::encode_error(type, nullptr, e));
    };
    if (!find(p)) return refuse(errc::not_in_room);
    if (!mode_) return refuse(errc::no_game);
    // A mode that throws is ended (call_mode); the sender hears `internal`, as game_message says.
    if (!call_mode(
            [&](mode& md) { md.on_binary_input(*this, p, std::string_view(in.b.data(), in.n)); }))
      refuse(errc::internal);
  });
  return true;
}

// --- Presence -----------------------------------------------------------------------------------

void room::reconnect(player_id p, std::shared_ptr<net::connection> c,
                     std::function<void(json::value)> done) {
  on_strand([this, p, c = std::move(c), done = std::move(done)]() mutable {
    member* m = find(p);
    if (!m || state_ == state::closed) {
      lobby_.release_seat(p, id_);
      return done(nullptr);
    }
    bool was_connected = m->conn != nullptr;
    m->conn = std::move(c);
    m->seat_kept_until = 0;
    m->grace.reset();
    done(snapshot(p));
    if (!was_connected) {
      broadcast(proto::encode_event("room.member_connection", {{"player", p}, {"connected", true}}),
                p);
    }
    if (mode_) call_mode([&](mode& md) { md.on_reconnect(*this, p); });
  });
}

void room::disconnected(player_id p, std::uint64_t conn_id) {
  on_strand([this, p, conn_id] {
    member* m = find(p);
    if (!m || !m->conn || m->conn->id() != conn_id) return;  // a newer connection took over
    m->conn.reset();
    if (opts_.reconnect_grace_ms <= 0) return remove(p, "disconnected");
    hold_seat(*m, opts_.reconnect_grace_ms);
    send_all("room.member_connection",
             {{"player", p}, {"connected", false}, {"seat_kept_until", m->seat_kept_until}});
    if (mode_) call_mode([&](mode& md) { md.on_disconnect(*this, p); });
  });
}

void room::hold_seat(member& m, int grace_ms) {
  // A restored room holds seats even when the grace is 0: its members had no chance to reconnect.
  const int grace = grace_ms > 0 ? grace_ms : 30'000;
  m.seat_kept_until = clock_.now_ms() + grace;
  m.grace = sched().at(strand_, clock_.steady_now() + std::chrono::milliseconds(grace),
                       [self = shared_from_this(), p = m.id] {
                         member* mm = self->find(p);
                         if (mm && !mm->conn) self->remove(p, "timeout");
                       });
}

// --- Timers and ticks ---------------------------------------------------------------------------

timer_id room::set_timer(epoch_ms at, std::uint64_t tag) {
  timer_id id = next_timer_++;
  // Deadlines are absolute server time; the timer runs on the monotonic clock.
  auto delay = std::chrono::milliseconds(std::max<epoch_ms>(0, at - clock_.now_ms()));
  auto due = clock_.steady_now() + delay;
  auto t = sched().at(strand_, due, [self = shared_from_this(), id, tag, due] {
    if (self->timers_.erase(id) == 0) return;
    self->metrics_.timer_lateness_seconds.observe(
        std::chrono::duration<double>(self->clock_.steady_now() - due).count());
    self->call_mode([&](mode& md) { md.on_timer(*self, tag); });
  });
  timers_.emplace(id, std::move(t));
  return id;
}

void room::cancel_timer(timer_id id) {
  timers_.erase(id);  // cancels it
}

void room::set_tick(int hz) {
  tick_hz_ = std::max(0, hz);
  ++tick_serial_;  // a tick already posted for the old rate does not run
  tick_timer_.reset();
  if (tick_hz_ == 0) return;
  next_tick_ = clock_.steady_now();
  schedule_tick();
}

void room::schedule_tick() {
  if (tick_hz_ == 0) return;
  // Fixed-rate: the next tick is due one period after the previous due time, not after now.
  next_tick_ += std::chrono::nanoseconds(1'000'000'000 / tick_hz_);
  tick_timer_ = sched().at(strand_, next_tick_, [self = shared_from_this(), n = tick_serial_] {
    if (self->tick_serial_ != n) return;
    self->call_mode([&](mode& md) { md.on_tick(*self); });
    if (self->tick_serial_ == n) self->schedule_tick();
  });
}

// --- Game lifecycle ---------------------------------------------------------------------------

std::function<void(room_api::async_fn)> room::async_gate() {
  return [weak = weak_from_this(), game = game_id_](async_fn fn) {
    auto self = weak.lock();
    if (!self) return;
    asio::post(self->strand_, [self, game, fn = std::move(fn)] {
      // The game that asked may have ended (or another begun) meanwhile.
      if (!self->mode_ || self->game_id_ != game) return;
      self->call_mode([&](mode&) { fn(*self); });
    });
  };
}

room_api::announce_fn room::announcer() {
  return [weak = weak_from_this()](std::string type, json::object data) {
    auto self = weak.lock();
    if (!self) return;
    asio::post(self->strand_, [self, type = std::move(type), data = std::move(data)] {
      if (self->state_ != state::closed) self->send_all(type, data);
    });
  };
}

void room::log(std::string_view kind, player_id actor, const json::object& payload) {
  store::log_entry e;
  e.stream = game_id_.empty() ? id_ : game_id_;
  e.seq = ++log_seq_;
  e.ts_ms = clock_.now_ms();
  e.kind = kind;
  e.actor = actor;
  e.payload_json = json::serialize(payload);
  log_.append_log(std::move(e));
}

void room::end_game(const json::object& result, const json::object& record) {
  end_pending_ = true;
  end_result_ = result;
  end_record_ = record;
}

void room::checkpoint() {
  checkpoint_pending_ = true;
}

template <class F>
bool room::call_mode(F&& f) {
  if (!mode_) return true;
  try {
    f(*mode_);
  } catch (const std::exception& e) {
    crash(e.what());
    return false;
  } catch (...) {
    crash("unknown exception");
    return false;
  }
  if (end_pending_) {
    finish_game(false);
  } else if (checkpoint_pending_) {
    write_snapshot();
  }
  return true;
}

void room::finish_game(bool aborted) {
  end_pending_ = false;
  checkpoint_pending_ = false;
  snapshot_timer_.reset();
  last_snapshot_ms_ = 0;
  // The game is over: it must never be restored (the delete is retried until it commits).
  if (snapshotted_ && lobby_.snapshot_store())
    lobby_.snapshot_store()->delete_snapshot(id_, opts_.node_id, snapshot_seq_);
  snapshotted_ = false;
  timers_.clear();  // cancels them
  set_tick(0);
  store::game_record g;
  g.id = game_id_;
  g.mode = params_.mode;
  g.room_id = id_;
  g.started_ms = game_started_ms_;
  g.ended_ms = lobby_.next_game_end(clock_.now_ms());
  g.players = game_players_;
  g.record_json = json::serialize(end_record_);
  g.is_private = params_.is_private;
  g.outcomes = game_outcomes(game_end{g.started_ms, g.ended_ms, game_players_, left_game_, aborted},
                             end_record_, aborted ? nullptr : &factory_);
  // Ratings and leaderboards: finished public or matchmade games only (an aborted game rates no
  // one; a private room's game is among friends, who could trade wins).
  if (!aborted && (!params_.is_private || params_.ranked)) {
    try {
      factory_.compete(end_record_, g.outcomes, g.competition);
      g.competition.season = opts_.season_of ? opts_.season_of(g.ended_ms) : 0;
      g.competition.idle_period_ms = opts_.rating_period_ms;
    } catch (const std::exception& e) {
      spdlog::error("room {}: mode {} compete() threw: {}", id_, params_.mode, e.what());
      g.competition = {};
    }
  }
  // The record must outlive a full or failing disk: the store keeps trying until it commits.
  games_.insert_game(std::move(g));
  log("game_ended", 0, end_result_);

  // Destroy the game after the mode's call has returned (we are past it here); an aborted one
  // first lets go of what it holds elsewhere.
  if (aborted) {
    try {
      mode_->on_abandon();
    } catch (const std::exception& e) {
      spdlog::error("room {}: mode {} on_abandon() threw: {}", id_, params_.mode, e.what());
    }
  }
  mode_.reset();
  groups_.clear();
  state_ = state::waiting;
  for (auto& m : members_)
    m.ready = false;
  send_all("room.game_ended", {{"game_id", game_id_}, {"result", end_result_}});
  game_id_.clear();
  // Spectators who came for the game stay; players who left during it are already gone.
  publish_summary();
  last_can_start_ = !can_start().has_value();  // force an announcement of the current value
  announce_can_start();
}

void room::abandon_game(std::string_view why, std::string_view message) {
  if (!mode_) return;
  end_result_ = {{"aborted", why}};
  if (!message.empty()) end_result_["message"] = message;
  end_record_ = {{"aborted", why}};
  finish_game(true);
}

// The mode broke an invariant (a bug): its game cannot go on, but nothing else is lost. The game
// is stored as aborted (its plays are in its action log), everyone is told in room.game_ended,
// and the room waits again with every member in it.
void room::crash(std::string_view what) {
  metrics_.mode_crashes.fetch_add(1);
  spdlog::error("room {}: mode {} threw: {}; the game {} is stored as aborted", id_, params_.mode,
                what, game_id_);
  end_pending_ = false;
  abandon_game("error", "The game stopped on a server error; it was stored as aborted.");
}

void room::close_room(std::string_view reason, std::string_view message) {
  if (state_ == state::closed) return;
  if (mode_) abandon_game(reason, message);
  // A waiting room restored from a snapshot (hand_over) must not come back at the next start.
  if (snapshotted_ && lobby_.snapshot_store())
    lobby_.snapshot_store()->delete_snapshot(id_, opts_.node_id, snapshot_seq_);
  snapshotted_ = false;
  state_ = state::closed;
  timers_.clear();  // cancels them
  set_tick(0);
  auto f = proto::encode_event("room.removed", removed_json(reason, id_, message));
  for (auto& m : members_) {
    m.grace.reset();
    send_frame(m, f);
    lobby_.release_seat(m.id, id_);
  }
  members_.clear();
  lobby_.remove_room(id_);
}

// --- Snapshots (lobby/room_snapshot.hpp) --------------------------------------------------------

std::string room::snapshot_text() const {
  json::array members, players, left;
  for (const auto& m : members_) {
    members.push_back(
        json::object{{"id", m.id}, {"nickname", m.nickname}, {"spectator", m.spectator}});
  }
  for (player_id p : game_players_)
    players.push_back(p);
  for (const auto& [p, at] : left_game_)
    left.push_back(json::array{p, at});
  json::object groups;
  for (const auto& [name, g] : groups_) {
    json::array ids;
    for (player_id p : std::set<player_id>(g.begin(), g.end()))
      ids.push_back(p);
    groups[name] = std::move(ids);
  }
  json::object doc{{"v", 1},
                   {"room",
                    {{"id", id_},
                     {"invite", invite_},
                     {"name", params_.name},
                     {"mode", params_.mode},
                     {"capacity", params_.capacity},
                     {"private", params_.is_private},
                     {"ranked", params_.ranked},
                     {"password_hash", params_.password_hash},
                     {"allow_spectators", params_.allow_spectators},
                     {"settings", params_.settings ? *params_.settings : json::object{}},
                     {"seed", params_.seed}}},
                   {"leader", leader_},
                   {"members", std::move(members)},
                   {"game",
                    {{"id", game_id_},
                     {"started_ms", game_started_ms_},
                     {"players", std::move(players)},
                     {"left", std::move(left)},
                     {"log_seq", log_seq_},
                     {"groups", std::move(groups)},
                     {"rng", {{"seed", rng_.seed()}, {"draws", rng_.draws()}}}}}};
  // A waiting room (handed over by a draining node): no game.
  if (!mode_) {
    doc["game"] = nullptr;
    return json::serialize(doc);
  }
  // The mode's state goes in as text, the last member of "game" (the last member of the
  // document): building it into the document would copy the whole game once more.
  std::string text = json::serialize(doc);
  text.resize(text.size() - 2);  // "}}": the ends of "game" and of the document
  text += ",\"state\":";
  text += json::serialize(mode_->serialize());
  text += "}}";
  return text;
}

void room::write_snapshot() {
  checkpoint_pending_ = false;
  room_snapshot_store* store = lobby_.snapshot_store();
  if (!store || !mode_ || state_ != state::playing) return;
  // At most one a snapshot_interval_ms: a checkpoint sooner waits for the interval's end and then
  // writes the state as it is by then (one write for every play in between).
  const epoch_ms now = clock_.now_ms();
  if (snapshot_timer_) return;
  if (last_snapshot_ms_ && opts_.snapshot_interval_ms > 0 &&
      now < last_snapshot_ms_ + opts_.snapshot_interval_ms) {
    snapshot_timer_ = sched().at(
        strand_,
        clock_.steady_now() +
            std::chrono::milliseconds(last_snapshot_ms_ + opts_.snapshot_interval_ms - now),
        [self = shared_from_this()] {
          self->snapshot_timer_.reset();
          self->write_snapshot();
        });
    return;
  }
  last_snapshot_ms_ = now;
  put_snapshot_now();
}

void room::put_snapshot_now() {
  room_snapshot_store* store = lobby_.snapshot_store();
  if (!store) return;
  // Built here, on the strand, from the state as it is now; storage only gets the text.
  std::string text;
  try {
    text = snapshot_text();
  } catch (const std::exception& e) {
    // A mode that cannot serialize loses only its crash recovery, not its game.
    spdlog::error("room {}: mode {} failed to serialize its game: {}", id_, params_.mode, e.what());
    return;
  }
  store->put_snapshot({id_, opts_.node_id, ++snapshot_seq_, clock_.now_ms(), std::move(text)});
  snapshotted_ = true;
  metrics_.room_snapshots.fetch_add(1, std::memory_order_relaxed);
}

void room::restore(json::object doc, std::int64_t seq, std::function<void(bool)> done) {
  on_strand([this, doc = std::move(doc), seq, done = std::move(done)]() mutable {
    snapshot_seq_ = seq;
    snapshotted_ = true;
    result<std::unique_ptr<mode>> made = error{errc::internal};
    try {
      leader_ = doc.at("leader").as_int64();
      for (const auto& v : doc.at("members").as_array()) {
        const auto& o = v.as_object();
        member m;
        m.id = o.at("id").as_int64();
        m.nickname = o.at("nickname").as_string();
        m.spectator = o.at("spectator").as_bool();
        members_.push_back(std::move(m));
      }
      if (doc.at("game").is_null()) {
        // A waiting room (hand_over): its members hold their seats; no game.
        for (auto& m : members_)
          hold_seat(m, opts_.reconnect_grace_ms);
        publish_summary();
        announce_can_start();
        return done(true);
      }
      const auto& g = doc.at("game").as_object();
      game_id_ = g.at("id").as_string();
      game_started_ms_ = g.at("started_ms").as_int64();
      for (const auto& p : g.at("players").as_array())
        game_players_.push_back(p.as_int64());
      for (const auto& l : g.at("left").as_array())
        left_game_.emplace(l.as_array().at(0).as_int64(), l.as_array().at(1).as_int64());
      // The lost process may have logged lines after its last snapshot, under the numbers that
      // follow: they stay in the log (they were said), and this game's lines go on after a gap,
      // so that none of its own is taken for a duplicate and dropped.
      log_seq_ = g.at("log_seq").as_int64() + kRestoreLogGap;
      for (const auto& [name, ids] : g.at("groups").as_object()) {
        auto& set = groups_[std::string(name)];
        for (const auto& p : ids.as_array())
          set.insert(p.as_int64());
      }
      const auto& r = g.at("rng").as_object();
      rng_.restore(r.at("seed").to_number<std::uint64_t>(),
                   r.at("draws").to_number<std::uint64_t>());
      made = factory_.restore(params_.settings ? *params_.settings : json::object{},
                              g.at("state").as_object());
    } catch (const std::exception& e) {
      made = error{errc::bad_field, e.what()};
    }
    for (auto& m : members_)
      hold_seat(m, opts_.reconnect_grace_ms);
    state_ = state::playing;
    publish_summary();
    if (!made) {
      spdlog::error("room {}: its {} game {} could not be restored ({}); stored as aborted", id_,
                    params_.mode, game_id_, made.error().message);
      end_result_ = {{"aborted", "restore_failed"}};
      end_record_ = end_result_;
      finish_game(true);
      return done(false);
    }
    mode_ = std::move(*made);
    log("restored", 0, {{"snapshot", seq}});
    spdlog::debug("room {}: {} game {} restored from snapshot {}", id_, params_.mode, game_id_,
                  seq);
    if (!call_mode([&](mode& md) { md.on_restore(*this); })) return done(false);
    done(true);
  });
}

void room::shutdown(std::function<void()> done) {
  on_strand([this, done = std::move(done)] {
    if (state_ != state::closed) {
      if (mode_) abandon_game("shutdown");
      close_room("shutdown");
    }
    done();
  });
}

void room::snapshotted(std::function<void(bool)> done) {
  on_strand([this, done = std::move(done)] { done(state_ != state::closed && snapshotted_); });
}

void room::hand_over(bool write, std::function<void(bool)> done) {
  on_strand([this, write, done = std::move(done)] {
    if (state_ == state::closed) return done(false);
    // A stale copy goes only while its game runs from a snapshot (one ended since, or started
    // after the claim, is this node's own).
    if (!write && !(snapshotted_ && mode_)) return done(false);
    if (write) put_snapshot_now();
    state_ = state::closed;
    timers_.clear();  // cancels them
    set_tick(0);
    snapshot_timer_.reset();
    std::vector<player_id> ids;
    for (auto& m : members_) {
      m.grace.reset();
      if (!write && m.conn) {
        m.conn->close("room_moved",
                      "Your room runs on another node now; reconnecting takes you there.");
      }
      ids.push_back(m.id);
    }
    members_.clear();
    lobby_.handed_over(id_, ids);
    done(true);
  });
}

// --- Operators -----------------------------------------------------------------------------------

void room::inspect(std::function<void(json::value)> done) {
  on_strand([this, done = std::move(done)] {
    if (state_ == state::closed) return done(nullptr);
    json::object o = snapshot(0);
    o["invite_code"] = invite_;
    if (mode_) o["game_started_at"] = game_started_ms_;
    done(std::move(o));
  });
}

void room::admin_close(std::string message, std::function<void(bool)> done) {
  on_strand([this, message = std::move(message), done = std::move(done)] {
    if (state_ == state::closed) return done(false);
    close_room("closed_by_admin", message);
    done(true);
  });
}

void room::admin_remove(player_id p, std::string message, std::function<void(bool)> done) {
  on_strand([this, p, message = std::move(message), done = std::move(done)] {
    if (state_ == state::closed || !find(p)) return done(false);
    remove(p, "kicked_by_admin", message);
    done(true);
  });
}

}  // namespace maratang::lobby
