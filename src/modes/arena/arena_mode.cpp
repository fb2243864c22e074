#include "modes/arena/arena_mode.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <deque>
#include <map>
#include <stdexcept>

#include "events/event_stream.hpp"
#include "events/topics.hpp"
#include "modes/arena/sim.hpp"
#include "modes/arena/snapshot.hpp"
#include "proto/fields.hpp"

namespace maratang::modes {

namespace json = boost::json;
using lobby::player_id;
using lobby::room_api;

std::string_view input_drop_name(input_drop d) {
  switch (d) {
    case input_drop::spectator:
      return "spectator";
    case input_drop::dead:
      return "dead";
    case input_drop::duplicate:
      return "duplicate";
    case input_drop::out_of_order:
      return "out_of_order";
    case input_drop::stale:
      return "stale";
    case input_drop::too_many:
      return "too_many";
    case input_drop::queue_full:
      return "queue_full";
    case input_drop::count_:
      break;
  }
  return "unknown";
}

namespace {

constexpr std::int64_t kU32 = 4294967295;

// --- Messages -----------------------------------------------------------------------------------

constexpr proto::field_spec input_fields[] = {
    {"seq", proto::field_type::integer, true, 1, kU32,
     "This input's sequence number: each input one more than the last (gaps allowed)."},
    {"up", proto::field_type::boolean, false, 0, 0, "Move up (−y)."},
    {"down", proto::field_type::boolean, false, 0, 0, "Move down (+y)."},
    {"left", proto::field_type::boolean, false, 0, 0, "Move left (−x)."},
    {"right", proto::field_type::boolean, false, 0, 0, "Move right (+x)."},
    {"fire", proto::field_type::boolean, false, 0, 0, "Shoot (once per cooldown)."},
    {"aim", proto::field_type::integer, false, 0, 65535,
     "Aim angle, 65536 to the turn, 0 along +x, growing towards +y; absent: unchanged."},
    {"view_tick", proto::field_type::integer, false, 0, kU32,
     "The server tick the client was showing other players at (for lag compensation)."},
    {"ack", proto::field_type::integer, false, 1, kU32,
     "The newest arena.state tick the client has (as arena.ack)."},
};
constexpr proto::field_spec ack_fields[] = {
    {"tick", proto::field_type::integer, true, 1, kU32, "The newest arena.state tick received."},
};

constexpr proto::message_spec messages[] = {
    {"arena.input", proto::direction::request,
     "One input: one simulation step of the sender's player. Queued (bounded) and applied one a "
     "tick; dropped and counted when duplicated, out of order, stale, too many in one tick, or "
     "from the dead or a spectator. A client never sets a position, speed, health or fire rate.",
     input_fields, "none: the next `arena.state` carries the last applied `seq`", true, true},
    {"arena.ack", proto::direction::request,
     "Acknowledges an `arena.state`: later states are deltas against it.", ack_fields, "none", true,
     true},
    {"arena.started",
     proto::direction::event,
     "The match began: `{hz, tick, map: {width, height, walls: [[x0, y0, x1, y1]], pickups}, "
     "rules: {...}, players: [{player, nickname, color, slot}]}`; lengths in sub-units "
     "(1/16 unit).",
     {},
     {},
     false},
    {"arena.state",
     proto::direction::event,
     "To each client: `{tick, base, seq, players, bullets, pickups, gone}`: a full view "
     "(`base` 0) or the changes since the acknowledged view `base` (see the mode's README).",
     {},
     {},
     false},
    {"arena.hit",
     proto::direction::event,
     "A bullet hit: `{tick, shooter, target, health}` (the target's health after).",
     {},
     {},
     false},
    {"arena.kill",
     proto::direction::event,
     "A player died: `{tick, killer, victim, kills, deaths}` (the killer's kills, the victim's "
     "deaths).",
     {},
     {},
     false},
    {"arena.heal",
     proto::direction::event,
     "A health pickup was taken: `{tick, player, amount, pickup}`.",
     {},
     {},
     false},
};

constexpr std::uint32_t palette[] = {0xe6194b, 0x3cb44b, 0xffe119, 0x4363d8, 0xf58231, 0x911eb4,
                                     0x46f0f0, 0xf032e6, 0xbcf60c, 0xfabebe, 0x008080, 0xe6beff,
                                     0x9a6324, 0xfffac8, 0x800000, 0xaaffc3};

// --- Settings -----------------------------------------------------------------------------------

struct setting {
  std::string_view name;
  std::int64_t min, max, def;
};
constexpr setting settings_table[] = {
    {"hz", 10, 60, 30},                  // ticks a second
    {"time_limit_s", 0, 3600, 180},      // 0: none
    {"score_limit", 0, 1000, 20},        // kills; 0: none
    {"view_radius", 100, 5000, 800},     // units
    {"max_visible", 2, 64, 16},          // players in one client's view
    {"max_inputs_per_tick", 1, 16, 4},   // arrivals between two ticks
    {"input_queue", 1, 64, 8},           // queued inputs per player
    {"keepalive_ms", 100, 10000, 1000},  // a state at least this often
    {"move_sample_ms", 0, 60000, 1000},  // logs_move per player; 0: none
    {"seed", 0, INT64_MAX, 0},           // tests only (rooms.allow_seeds)
};

struct arena_settings {
  int hz = 30;
  int time_limit_s = 180;
  int score_limit = 20;
  int view_radius = 800;
  int max_visible = 16;
  int max_inputs_per_tick = 4;
  int input_queue = 8;
  int keepalive_ms = 1000;
  int move_sample_ms = 1000;
};

arena_settings settings_of(const json::object& s) {
  auto get = [&](std::string_view k) { return static_cast<int>(s.at(k).as_int64()); };
  arena_settings a;
  a.hz = get("hz");
  a.time_limit_s = get("time_limit_s");
  a.score_limit = get("score_limit");
  a.view_radius = get("view_radius");
  a.max_visible = get("max_visible");
  a.max_inputs_per_tick = get("max_inputs_per_tick");
  a.input_queue = get("input_queue");
  a.keepalive_ms = get("keepalive_ms");
  a.move_sample_ms = get("move_sample_ms");
  return a;
}

// --- The mode -----------------------------------------------------------------------------------

class arena_mode final : public lobby::mode {
 public:
  arena_mode(arena_settings s, const arena_deps& deps) : set_(s), deps_(deps) {}

  const arena::sim* state() const { return sim_ ? &*sim_ : nullptr; }

  void on_start(room_api& room) override {
    seed_ = room.random().engine()();
    sim_.emplace(config(), seed_);
    json::array ids;
    for (const auto& m : room.members()) {
      if (m.spectator) continue;
      auto slot = static_cast<std::size_t>(sim_->players().size());
      sim_->add_player(m.id, m.nickname, palette[slot % std::size(palette)]);
      seats_[m.id];
      ids.push_back(m.id);
    }
    move_sample_ticks_ = static_cast<arena::tick_t>(set_.move_sample_ms * set_.hz / 1000);
    room.log("start", 0,
             {{"seed", seed_},
              {"hz", set_.hz},
              {"time_limit_s", set_.time_limit_s},
              {"score_limit", set_.score_limit},
              {"players", ids}});
    room.send_all("arena.started", describe());
    room.set_tick(set_.hz);
    room.checkpoint();
  }

  result<json::object> on_message(room_api& room, player_id from, std::string_view type,
                                  const proto::fields& data) override {
    if (type == "arena.ack") {
      take_ack(room, from, static_cast<arena::tick_t>(data.integer("tick")));
      return json::object{};
    }
    // arena.input, as its binary form reads it.
    arena::input_message in;
    in.seq = static_cast<std::uint32_t>(data.integer("seq"));
    auto press = [&](std::string_view k, std::uint8_t b) {
      if (data.opt_boolean(k).value_or(false)) in.buttons |= b;
    };
    press("up", arena::btn_up);
    press("down", arena::btn_down);
    press("left", arena::btn_left);
    press("right", arena::btn_right);
    press("fire", arena::btn_fire);
    std::optional<std::uint16_t> aim;
    if (auto a = data.opt_integer("aim")) aim = static_cast<std::uint16_t>(*a);
    if (auto vt = data.opt_integer("view_tick")) in.view_tick = static_cast<std::uint32_t>(*vt);
    if (auto a = data.opt_integer("ack")) in.ack = static_cast<std::uint32_t>(*a);
    take_input(room, from, in, aim);
    return json::object{};
  }

  void on_binary_input(room_api& room, player_id from, std::string_view bytes) override {
    auto m = arena::read_client_binary(bytes);
    if (!m) return;  // binary_input_type accepted these bytes: not reached
    if (deps_.counters) deps_.counters->fast_path.fetch_add(1, std::memory_order_relaxed);
    if (m->is_ack) return take_ack(room, from, *m->input.ack);
    take_input(room, from, m->input, m->input.aim);
  }

  // One arena.input, from JSON or binary (`aim` absent: unchanged). Its acknowledgement rides
  // along whether or not the input is kept; a dropped input is counted, never answered.
  void take_input(room_api& room, player_id from, const arena::input_message& msg,
                  std::optional<std::uint16_t> aim) {
    if (msg.ack) take_ack(room, from, *msg.ack);
    auto it = seats_.find(from);
    if (it == seats_.end()) return dropped(input_drop::spectator);
    seat& s = it->second;
    const arena::player* p = sim_->find(from);
    if (!p || !p->alive) return dropped(input_drop::dead);
    const std::uint32_t seq = msg.seq;
    if (seq == s.last_seq) return dropped(input_drop::duplicate);
    if (seq < s.last_seq) return dropped(input_drop::out_of_order);
    // The input is applied at the next tick; it saw the world at view_tick.
    const arena::tick_t next = sim_->tick() + 1;
    arena::tick_t rewind = 0;
    if (msg.view_tick) {
      const std::int64_t vt = *msg.view_tick;
      if (vt + sim_->rules().history < next) return dropped(input_drop::stale);
      if (vt < next) rewind = next - static_cast<arena::tick_t>(vt);
    }
    if (s.arrived >= set_.max_inputs_per_tick) return dropped(input_drop::too_many);
    if (s.queue.size() >= static_cast<std::size_t>(set_.input_queue))
      return dropped(input_drop::queue_full);
    s.last_seq = seq;
    ++s.arrived;
    arena::input in;
    in.seq = seq;
    in.buttons = msg.buttons;
    if (aim) s.aim = *aim;
    in.aim = s.aim;
    // Lag compensation: what the client says it saw, within what its measured round trip and
    // three snapshot intervals of interpolation allow (README, "Lag compensation").
    in.rewind = std::min(rewind, allowed_rewind_of(from));
    s.queue.push_back(in);
    if (deps_.counters) deps_.counters->inputs.fetch_add(1, std::memory_order_relaxed);
  }

  void on_timer(room_api&, std::uint64_t) override {}

  void on_tick(room_api& room) override {
    if (!sim_ || sim_->over()) return;
    auto t0 = std::chrono::steady_clock::now();
    // 1. One queued input per player.
    auto& ins = tick_inputs_;
    ins.clear();
    for (auto& [id, s] : seats_) {
      s.arrived = 0;
      if (s.queue.empty()) continue;
      ins.push_back({id, s.queue.front()});
      s.queue.pop_front();
    }
    const auto& evs = sim_->step(ins);
    const arena::tick_t tick = sim_->tick();
    record_inputs(room, ins, tick);
    // 2. What happened.
    for (const arena::sim_event& e : evs)
      announce(room, e, tick);
    if (move_sample_ticks_ > 0 && tick % move_sample_ticks_ == 0) {
      for (const auto& [id, p] : sim_->players()) {
        if (!p.alive) continue;
        publish(events::move_event({std::string(room.game_id()), tick, room.now_ms(), id,
                                    p.pos.x / double(arena::kSub), p.pos.y / double(arena::kSub)}));
      }
    }
    if (sim_->over()) return finish(room, sim_->over_reason());
    // 3. Each client's state.
    send_states(room);
    // A snapshot once a second of play (README, "Restoring a game"), when the replay log was
    // just written.
    if (tick % static_cast<arena::tick_t>(set_.hz) == 0) room.checkpoint();
    if (deps_.counters) {
      auto took = std::chrono::steady_clock::now() - t0;
      deps_.counters->tick_seconds.observe(std::chrono::duration<double>(took).count());
      auto ns = static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(took).count());
      auto& mx = deps_.counters->tick_ns_max;
      for (auto cur = mx.load(); ns > cur && !mx.compare_exchange_weak(cur, ns);) {
      }
    }
  }

  void on_reconnect(room_api&, player_id p) override {
    // The client lost its copies: the next state is full.
    if (auto it = clients_.find(p); it != clients_.end()) it->second.snaps.reset();
  }

  void on_leave(room_api& room, player_id p) override {
    clients_.erase(p);
    if (!seats_.erase(p)) return;
    sim_->remove_player(p);
    room.log("leave", p, {{"tick", std::int64_t{sim_->tick()}}});
    room.checkpoint();
    if (seats_.empty()) finish(room, "abandoned");
  }

  json::object view(player_id viewer) const override {
    json::object o = describe();
    o["you"] = viewer;
    return o;
  }

  // State v1 (README, "Restoring a game"): the sim's whole state, the input queues, the replay
  // log not yet written, the drop counts and each client's measured round trip. Clients' snapshot
  // histories are not kept: every client reconnects to a restored game and gets a full state.
  json::object serialize() const override {
    json::array seats, clients, drops;
    for (const auto& [id, st] : seats_) {
      json::array queue;
      for (const arena::input& in : st.queue)
        queue.push_back(json::array{in.seq, in.buttons, in.aim, in.rewind});
      seats.push_back(json::object{{"player", id},
                                   {"queue", std::move(queue)},
                                   {"last_seq", st.last_seq},
                                   {"arrived", st.arrived},
                                   {"aim", st.aim}});
    }
    for (const auto& [id, c] : clients_)
      clients.push_back(json::array{id, c.srtt_ms});
    for (auto n : dropped_)
      drops.push_back(n);
    return {{"v", 1},
            {"seed", seed_},
            {"sim", sim_ ? sim_->save() : json::object{}},
            {"seats", std::move(seats)},
            {"clients", std::move(clients)},
            {"pending_inputs", pending_inputs_},
            {"dropped", std::move(drops)}};
  }

  // Reads serialize()'s output; throws on anything malformed (the factory makes it an error).
  void restore_from(const json::object& s) {
    if (s.at("v").as_int64() != 1) throw std::invalid_argument("unknown state version");
    seed_ = s.at("seed").to_number<std::uint64_t>();
    sim_.emplace(config(), seed_);
    sim_->load(s.at("sim").as_object());
    for (const auto& v : s.at("seats").as_array()) {
      const auto& o = v.as_object();
      seat& st = seats_[o.at("player").as_int64()];
      for (const auto& q : o.at("queue").as_array()) {
        const auto& a = q.as_array();
        st.queue.push_back({a.at(0).to_number<std::uint32_t>(), a.at(1).to_number<std::uint8_t>(),
                            a.at(2).to_number<std::uint16_t>(),
                            a.at(3).to_number<arena::tick_t>()});
      }
      st.last_seq = o.at("last_seq").to_number<std::uint32_t>();
      st.arrived = o.at("arrived").to_number<int>();
      st.aim = o.at("aim").to_number<std::uint16_t>();
    }
    for (const auto& v : s.at("clients").as_array())
      clients_[v.as_array().at(0).as_int64()].srtt_ms = v.as_array().at(1).as_int64();
    pending_inputs_ = s.at("pending_inputs").as_array();
    const auto& d = s.at("dropped").as_array();
    for (std::size_t i = 0; i < dropped_.size() && i < d.size(); ++i)
      dropped_[i] = d[i].to_number<std::uint64_t>();
    move_sample_ticks_ = static_cast<arena::tick_t>(set_.move_sample_ms * set_.hz / 1000);
  }

  void on_restore(room_api& room) override {
    if (sim_ && !sim_->over()) room.set_tick(set_.hz);
  }

 private:
  arena::sim_config config() const {
    arena::sim_config cfg = arena::default_map();
    cfg.hz = set_.hz;
    cfg.time_limit_ms = set_.time_limit_s * 1000;
    cfg.score_limit = set_.score_limit;
    return cfg;
  }

  struct seat {
    std::deque<arena::input> queue;
    std::uint32_t last_seq = 0;  // the newest sequence accepted
    int arrived = 0;             // inputs accepted since the last tick
    std::uint16_t aim = 0;
  };
  struct client {
    arena::client_snapshots snaps;
    std::int64_t srtt_ms = -1;  // smoothed round trip, from acknowledgements
    arena::view view;           // this tick's view, its memory kept from tick to tick
  };

  void dropped(input_drop why) {
    if (deps_.counters) deps_.counters->drop(why);
    ++dropped_[static_cast<std::size_t>(why)];
  }

  arena::tick_t allowed_rewind_of(player_id p) const {
    std::int64_t rtt = 0;
    if (auto it = clients_.find(p); it != clients_.end() && it->second.srtt_ms > 0)
      rtt = it->second.srtt_ms;
    std::int64_t ms = rtt + 3000 / set_.hz;
    auto ticks = static_cast<arena::tick_t>((ms * set_.hz + 999) / 1000);
    return std::min<arena::tick_t>(ticks, sim_->rules().history - 1);
  }

  void take_ack(room_api& room, player_id from, arena::tick_t t) {
    auto it = clients_.find(from);
    std::optional<std::int64_t> rtt;
    if (it != clients_.end()) rtt = it->second.snaps.ack(t, room.now_ms());
    if (!rtt) {
      if (deps_.counters) deps_.counters->acks_ignored.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    client& c = it->second;
    c.srtt_ms = c.srtt_ms < 0 ? *rtt : (7 * c.srtt_ms + *rtt) / 8;
  }

  json::object describe() const {
    const auto& cfg = sim_->config();
    const auto& r = sim_->rules();
    json::array walls, pickups, players;
    for (const auto& w : cfg.walls)
      walls.push_back(json::array{w.x0, w.y0, w.x1, w.y1});
    for (const auto& k : sim_->pickups())
      pickups.push_back(json::object{{"id", std::int64_t{k.id}}, {"x", k.pos.x}, {"y", k.pos.y}});
    for (const auto& [id, p] : sim_->players()) {
      players.push_back(json::object{{"player", id},
                                     {"nickname", p.nickname},
                                     {"color", fmt::format("#{:06x}", p.color)},
                                     {"slot", p.slot},
                                     {"kills", p.kills},
                                     {"deaths", p.deaths}});
    }
    return {{"hz", cfg.hz},
            {"tick", std::int64_t{sim_->tick()}},
            {"map",
             {{"width", cfg.width},
              {"height", cfg.height},
              {"walls", std::move(walls)},
              {"pickups", std::move(pickups)}}},
            {"rules",
             {{"sub_units", arena::kSub},
              {"player_radius", cfg.player_radius},
              {"step", r.step},
              {"diag_step", r.diag_step},
              {"bullet_step", r.bullet_step},
              {"bullet_life_ticks", std::int64_t{r.bullet_life}},
              {"fire_cooldown_ticks", std::int64_t{r.fire_cooldown}},
              {"respawn_ticks", std::int64_t{r.respawn}},
              {"max_health", cfg.max_health},
              {"damage", cfg.damage},
              {"time_limit_ticks", std::int64_t{r.time_limit}},
              {"score_limit", cfg.score_limit},
              {"history_ticks", std::int64_t{r.history}}}},
            {"players", std::move(players)}};
  }

  void announce(room_api& room, const arena::sim_event& e, arena::tick_t tick) {
    using k = arena::sim_event::kind;
    const std::string game(room.game_id());
    switch (e.what) {
      case k::hit:
        room.send_all("arena.hit", {{"tick", std::int64_t{tick}},
                                    {"shooter", e.actor},
                                    {"target", e.target},
                                    {"health", e.amount}});
        publish(events::attack_event(
            {game, tick, room.now_ms(), e.actor, e.target, sim_->config().damage, "bullet"}));
        break;
      case k::kill: {
        const arena::player* killer = sim_->find(e.actor);
        const arena::player* victim = sim_->find(e.target);
        json::object d{{"tick", std::int64_t{tick}},
                       {"killer", e.actor},
                       {"victim", e.target},
                       {"kills", killer ? killer->kills : 0},
                       {"deaths", victim ? victim->deaths : 0}};
        room.log("kill", e.actor, d);
        room.send_all("arena.kill", d);
        // A victim's queued inputs were made alive; they are dropped with the death.
        if (auto it = seats_.find(e.target); it != seats_.end()) {
          for (std::size_t i = 0; i < it->second.queue.size(); ++i)
            dropped(input_drop::dead);
          it->second.queue.clear();
        }
        break;
      }
      case k::heal:
        room.send_all("arena.heal", {{"tick", std::int64_t{tick}},
                                     {"player", e.actor},
                                     {"amount", e.amount},
                                     {"pickup", std::int64_t{e.object}}});
        publish(events::heal_event({game, tick, room.now_ms(), e.actor, e.actor, e.amount}));
        break;
      case k::fire:
      case k::respawn:
        break;  // seen in the state
    }
  }

  void publish(events::event ev) {
    if (!deps_.events) return;
    bool ok = deps_.events->publish(std::move(ev));
    if (!deps_.counters) return;
    (ok ? deps_.counters->events_published : deps_.counters->events_dropped)
        .fetch_add(1, std::memory_order_relaxed);
  }

  // The replay log: every applied input, one action-log line a second (README, "Replays").
  void record_inputs(room_api& room, const std::vector<std::pair<player_id, arena::input>>& ins,
                     arena::tick_t tick) {
    for (const auto& [id, in] : ins) {
      pending_inputs_.push_back(json::array{std::int64_t{tick}, id, std::int64_t{in.seq},
                                            std::int64_t{in.buttons}, std::int64_t{in.aim},
                                            std::int64_t{in.rewind}});
    }
    if (tick % static_cast<arena::tick_t>(set_.hz) == 0 || sim_->over()) flush_inputs(room, tick);
  }
  void flush_inputs(room_api& room, arena::tick_t tick) {
    if (pending_inputs_.empty()) return;
    room.log("inputs", 0,
             {{"to_tick", std::int64_t{tick}}, {"inputs", std::move(pending_inputs_)}});
    pending_inputs_ = {};
  }

  void send_states(room_api& room) {
    const std::int64_t now = room.now_ms();
    const auto& cfg = sim_->config();
    for (const auto& m : room.members()) {
      if (!m.connected) continue;
      arena::interest in;
      in.radius = std::int64_t{set_.view_radius} * arena::kSub;
      in.max_players = static_cast<std::size_t>(set_.max_visible);
      const arena::player* p = sim_->find(m.id);
      in.center = p ? p->pos : arena::vec{cfg.width / 2, cfg.height / 2};
      if (!p) in.radius = std::int64_t{cfg.width} + cfg.height;  // spectators: the whole map
      client& c = clients_[m.id];
      arena::make_view(*sim_, m.id, in, c.view);
      const bool binary = room.binary(m.id);
      auto msg = c.snaps.next(c.view, now, set_.keepalive_ms, binary);
      if (!msg) continue;
      if (deps_.counters) {
        (msg->full ? deps_.counters->states_full : deps_.counters->states_delta)
            .fetch_add(1, std::memory_order_relaxed);
      }
      if (binary) {
        room.send_binary(m.id, std::move(msg->bytes));
      } else {
        room.send_to(m.id, "arena.state", msg->json);
      }
    }
  }

  void finish(room_api& room, std::string_view why) {
    flush_inputs(room, sim_->tick());
    json::array standings;
    json::object per;
    for (const arena::standing& s : sim_->standings()) {
      const arena::player* p = sim_->find(s.id);
      standings.push_back(json::object{{"player", s.id},
                                       {"nickname", p ? p->nickname : ""},
                                       {"kills", s.kills},
                                       {"deaths", s.deaths},
                                       {"placement", s.placement}});
      per[std::to_string(s.id)] = json::object{{"kills", s.kills},
                                               {"deaths", s.deaths},
                                               {"placement", s.placement},
                                               {"shots", p ? p->shots : 0},
                                               {"hits", p ? p->hits : 0}};
    }
    json::object drops;
    for (std::size_t i = 0; i < dropped_.size(); ++i) {
      if (dropped_[i]) drops[input_drop_name(static_cast<input_drop>(i))] = dropped_[i];
    }
    room.set_tick(0);
    room.end_game({{"reason", why}, {"standings", standings}},
                  {{"reason", why},
                   {"ticks", std::int64_t{sim_->tick()}},
                   {"hz", set_.hz},
                   {"seed", seed_},
                   {"standings", standings},
                   {"players", std::move(per)},
                   {"inputs_dropped", std::move(drops)}});
  }

  arena_settings set_;
  arena_deps deps_;
  std::optional<arena::sim> sim_;
  std::uint64_t seed_ = 0;
  arena::tick_t move_sample_ticks_ = 0;
  std::map<player_id, seat> seats_;
  std::map<player_id, client> clients_;  // players and spectators
  json::array pending_inputs_;
  std::vector<std::pair<player_id, arena::input>> tick_inputs_;  // this tick's, kept for its memory
  std::array<std::uint64_t, static_cast<std::size_t>(input_drop::count_)> dropped_{};
};

// --- The factory --------------------------------------------------------------------------------

class arena_factory final : public lobby::mode_factory {
 public:
  explicit arena_factory(arena_deps deps) : deps_(std::move(deps)) {
    if (!deps_.counters) deps_.counters = std::make_shared<arena_counters>();
    if (deps_.metrics) {
      deps_.metrics->add_collector([c = deps_.counters](std::string& out) { render(*c, out); });
    }
  }

  std::string_view name() const override { return "arena"; }
  int min_players() const override { return 2; }
  int max_players() const override { return 64; }
  std::span<const proto::message_spec> messages() const override {
    return ::maratang::modes::messages;
  }

  result<json::object> validate_settings(const json::object& s) const override {
    json::object out;
    for (const setting& t : settings_table) {
      if (t.name != "seed") out[t.name] = t.def;
    }
    for (const auto& [k, v] : s) {
      const setting* t = nullptr;
      for (const setting& x : settings_table) {
        if (x.name == k) t = &x;
      }
      if (!t) return error{errc::bad_field, fmt::format("Unknown setting \"{}\".", k)};
      if (!v.is_int64() || v.get_int64() < t->min || v.get_int64() > t->max) {
        return error{errc::bad_field, fmt::format("settings.{} must be an integer from {} to {}.",
                                                  t->name, t->min, t->max)};
      }
      out[k] = v;
    }
    return out;
  }

  std::span<const unsigned char> binary_tags() const override {
    static constexpr unsigned char tags[] = {arena::kInputTag, arena::kAckTag};
    return tags;
  }

  result<decoded> decode_binary(std::string_view bytes) const override {
    auto d = arena::decode_client_binary(bytes);
    if (!d) return d.error();
    return decoded{d->first, std::move(d->second)};
  }

  std::string_view binary_input_type(std::string_view bytes) const override {
    auto m = arena::read_client_binary(bytes);
    if (!m) return {};
    return m->is_ack ? "arena.ack" : "arena.input";
  }

  std::unique_ptr<lobby::mode> create(const json::object& settings) const override {
    return std::make_unique<arena_mode>(settings_of(settings), deps_);
  }

  result<std::unique_ptr<lobby::mode>> restore(const json::object& settings,
                                               const json::object& state) const override {
    try {
      auto m = std::make_unique<arena_mode>(settings_of(settings), deps_);
      m->restore_from(state);
      return std::unique_ptr<lobby::mode>(std::move(m));
    } catch (const std::exception& e) {
      return error{errc::bad_field, fmt::format("arena state: {}", e.what())};
    }
  }

  // Statistics: the best placement wins (a shared first place draws); everyone else loses. The
  // `placements` tally counts each player's placements.
  void score(const json::object& record, std::span<store::player_outcome> stayed) const override {
    const auto* per = record.if_contains("players");
    if (!per || !per->is_object()) return;
    int firsts = 0;
    for (const auto& [k, v] : per->get_object()) {
      const auto* pl = v.is_object() ? v.get_object().if_contains("placement") : nullptr;
      if (pl && pl->is_int64() && pl->get_int64() == 1) ++firsts;
    }
    for (auto& o : stayed) {
      const auto* mine = per->get_object().if_contains(std::to_string(o.account_id));
      if (!mine || !mine->is_object()) continue;
      const auto* pl = mine->get_object().if_contains("placement");
      if (!pl || !pl->is_int64()) continue;
      o.result = pl->get_int64() != 1 ? store::game_result::lost
                 : firsts == 1        ? store::game_result::won
                                      : store::game_result::drawn;
      o.tallies.emplace_back("placements", std::to_string(pl->get_int64()));
    }
  }
  std::span<const std::string_view> tallies() const override { return stat_tallies; }

  // Competition: free-for-all by placement with Weng-Lin (rating key "arena"); a game of exactly
  // two players is a duel, rated with Glicko-2 under "arena_1v1". Shared placements tie. A player
  // who left is placed below everyone who stayed. Every player's kills add to the season's
  // "arena.kills" board.
  void compete(const json::object& record, std::span<const store::player_outcome> outcomes,
               store::competition_input& in) const override {
    const auto* per = record.if_contains("players");
    if (!per || !per->is_object()) return;
    std::map<std::int64_t, std::vector<std::int64_t>> by_place;
    std::vector<std::int64_t> left;
    std::int64_t worst = 0;
    for (const auto& o : outcomes) {
      const auto* mine = per->get_object().if_contains(std::to_string(o.account_id));
      if (!mine || !mine->is_object()) continue;
      const auto* pl = mine->get_object().if_contains("placement");
      const auto* k = mine->get_object().if_contains("kills");
      if (k && k->is_int64() && k->get_int64() > 0)
        in.scores.push_back({"arena.kills", o.account_id, static_cast<double>(k->get_int64()),
                             store::score_merge::add, false});
      if (o.result == store::game_result::abandoned || !pl || !pl->is_int64()) {
        left.push_back(o.account_id);
        continue;
      }
      by_place[pl->get_int64()].push_back(o.account_id);
      worst = std::max(worst, pl->get_int64());
    }
    for (auto& [place, ids] : by_place)
      for (std::int64_t id : ids)
        in.teams.push_back({{id}, static_cast<int>(place)});  // each alone; shared places tie
    for (std::int64_t id : left)
      in.teams.push_back({{id}, static_cast<int>(worst + 1)});
    const bool duel = outcomes.size() == 2;
    in.rating_key = duel ? "arena_1v1" : "arena";
    in.model = duel ? store::rating_model::glicko2 : store::rating_model::weng_lin;
  }
  std::vector<board> leaderboards() const override {
    return {{"rating.arena", false,
             "Arena rating, free-for-all by placement (Weng-Lin): mu - 3 sigma."},
            {"rating.arena_1v1", false, "Arena duel rating, games of two (Glicko-2): r - 2 RD."},
            {"arena.kills", false, "Arena kills in the season, summed over games."}};
  }

 private:
  static void render(const arena_counters& c, std::string& out) {
    out += fmt::format(
        "# HELP maratang_arena_inputs_total Arena inputs accepted into a queue.\n"
        "# TYPE maratang_arena_inputs_total counter\n"
        "maratang_arena_inputs_total {}\n"
        "# HELP maratang_arena_fast_path_total Arena binary inputs and acknowledgements handed "
        "to their game as bytes (the fast path), before any is dropped.\n"
        "# TYPE maratang_arena_fast_path_total counter\n"
        "maratang_arena_fast_path_total {}\n"
        "# HELP maratang_arena_inputs_dropped_total Arena inputs dropped, by reason.\n"
        "# TYPE maratang_arena_inputs_dropped_total counter\n",
        c.inputs.load(), c.fast_path.load());
    for (std::size_t i = 0; i < c.dropped.size(); ++i) {
      out += fmt::format("maratang_arena_inputs_dropped_total{{reason=\"{}\"}} {}\n",
                         input_drop_name(static_cast<input_drop>(i)), c.dropped[i].load());
    }
    out += fmt::format(
        "# HELP maratang_arena_states_total Arena state messages sent, full or delta.\n"
        "# TYPE maratang_arena_states_total counter\n"
        "maratang_arena_states_total{{kind=\"full\"}} {}\n"
        "maratang_arena_states_total{{kind=\"delta\"}} {}\n"
        "# HELP maratang_arena_acks_ignored_total Arena acknowledgements of unknown or old "
        "states.\n"
        "# TYPE maratang_arena_acks_ignored_total counter\n"
        "maratang_arena_acks_ignored_total {}\n"
        "# HELP maratang_arena_events_total Arena events handed to the event stream, or "
        "refused.\n"
        "# TYPE maratang_arena_events_total counter\n"
        "maratang_arena_events_total{{outcome=\"published\"}} {}\n"
        "maratang_arena_events_total{{outcome=\"dropped\"}} {}\n"
        "# HELP maratang_arena_tick_max_seconds The longest Arena tick since start.\n"
        "# TYPE maratang_arena_tick_max_seconds gauge\n"
        "maratang_arena_tick_max_seconds {:.6f}\n"
        "# HELP maratang_arena_tick_seconds Arena tick duration (simulation and states).\n"
        "# TYPE maratang_arena_tick_seconds histogram\n",
        c.states_full.load(), c.states_delta.load(), c.acks_ignored.load(),
        c.events_published.load(), c.events_dropped.load(),
        static_cast<double>(c.tick_ns_max.load()) / 1e9);
    c.tick_seconds.render(out, "maratang_arena_tick_seconds");
  }

  static constexpr std::string_view stat_tallies[] = {"placements"};
  arena_deps deps_;
};

}  // namespace

std::unique_ptr<lobby::mode_factory> make_arena_mode_factory(arena_deps deps) {
  return std::make_unique<arena_factory>(std::move(deps));
}

const arena::sim* arena_sim_of(const lobby::mode& m) {
  const auto* a = dynamic_cast<const arena_mode*>(&m);
  return a ? a->state() : nullptr;
}

}  // namespace maratang::modes
