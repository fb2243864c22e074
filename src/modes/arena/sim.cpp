#include "modes/arena/sim.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <numbers>
#include <stdexcept>

namespace maratang::arena {

namespace {

tick_t ms_to_ticks(int ms, int hz) {
  if (ms <= 0) return 0;
  // Rounded up: a cooldown never comes out shorter than asked.
  return static_cast<tick_t>((static_cast<std::int64_t>(ms) * hz + 999) / 1000);
}

bool overlaps(const rect& r, std::int32_t x0, std::int32_t y0, std::int32_t x1, std::int32_t y1) {
  return x0 < r.x1 && r.x0 < x1 && y0 < r.y1 && r.y0 < y1;
}

std::int64_t dist2(vec a, vec b) {
  std::int64_t dx = a.x - b.x;
  std::int64_t dy = a.y - b.y;
  return dx * dx + dy * dy;
}

// Whether the segment from `a` by `d` passes within `r` of `c`; `t` (0..den) is where, as t/den.
bool segment_hits(vec a, vec d, vec c, std::int64_t r, std::int64_t& t, std::int64_t& den) {
  std::int64_t fx = c.x - a.x;
  std::int64_t fy = c.y - a.y;
  den = static_cast<std::int64_t>(d.x) * d.x + static_cast<std::int64_t>(d.y) * d.y;
  t = den == 0 ? 0 : std::clamp<std::int64_t>(fx * d.x + fy * d.y, 0, den);
  vec closest = a;
  if (den != 0) {
    closest.x = static_cast<std::int32_t>(a.x + d.x * t / den);
    closest.y = static_cast<std::int32_t>(a.y + d.y * t / den);
  }
  return dist2(closest, c) <= r * r;
}

void mix(std::uint64_t& h, std::uint64_t v) {
  // FNV-1a over the value's 8 bytes.
  for (int i = 0; i < 8; ++i) {
    h ^= (v >> (i * 8)) & 0xff;
    h *= 1099511628211ull;
  }
}

}  // namespace

sim_config default_map() {
  sim_config c;
  auto wall = [](int x0, int y0, int x1, int y1) {
    return rect{x0 * kSub, y0 * kSub, x1 * kSub, y1 * kSub};
  };
  c.walls = {
      wall(380, 280, 420, 520),   wall(1180, 280, 1220, 520), wall(380, 680, 420, 920),
      wall(1180, 680, 1220, 920), wall(700, 580, 900, 620),   wall(760, 140, 840, 180),
      wall(760, 1020, 840, 1060),
  };
  auto at = [](int x, int y) { return vec{x * kSub, y * kSub}; };
  c.spawns = {at(100, 100), at(1500, 100), at(100, 1100), at(1500, 1100),
              at(800, 80),  at(800, 1120), at(80, 600),   at(1520, 600)};
  c.pickups = {at(300, 600), at(1300, 600), at(800, 400), at(800, 800)};
  return c;
}

sim::sim(sim_config cfg, std::uint64_t seed) : cfg_(std::move(cfg)), rng_(seed) {
  if (cfg_.hz < 1 || cfg_.hz > 240) throw std::invalid_argument("arena: hz out of range");
  if (cfg_.spawns.empty()) throw std::invalid_argument("arena: a map needs a spawn point");
  rules_.step = cfg_.speed / cfg_.hz;
  rules_.diag_step = rules_.step * 181 / 256;
  rules_.bullet_step = cfg_.bullet_speed / cfg_.hz;
  rules_.bullet_life = std::max<tick_t>(1, ms_to_ticks(cfg_.bullet_life_ms, cfg_.hz));
  rules_.fire_cooldown = std::max<tick_t>(1, ms_to_ticks(cfg_.fire_cooldown_ms, cfg_.hz));
  rules_.respawn = std::max<tick_t>(1, ms_to_ticks(cfg_.respawn_ms, cfg_.hz));
  rules_.pickup_respawn = std::max<tick_t>(1, ms_to_ticks(cfg_.pickup_respawn_ms, cfg_.hz));
  rules_.time_limit = ms_to_ticks(cfg_.time_limit_ms, cfg_.hz);
  rules_.history = std::max<tick_t>(1, ms_to_ticks(cfg_.history_ms, cfg_.hz));
  std::uint32_t id = 1;
  for (vec p : cfg_.pickups)
    pickups_.push_back({id++, p, true, 0});
}

const player* sim::find(player_id id) const {
  auto it = players_.find(id);
  return it == players_.end() ? nullptr : &it->second;
}

vec sim::spawn_point() {
  ++rng_draws_;
  return cfg_.spawns[rng_() % cfg_.spawns.size()];
}

void sim::add_player(player_id id, std::string nickname, std::uint32_t color,
                     std::optional<vec> at) {
  if (players_.count(id)) return;
  player p;
  p.id = id;
  p.slot = next_slot_++;
  p.nickname = std::move(nickname);
  p.color = color;
  p.pos = at ? *at : spawn_point();
  p.health = cfg_.max_health;
  p.alive = true;
  players_.emplace(id, std::move(p));
}

void sim::remove_player(player_id id) {
  players_.erase(id);
  std::erase_if(bullets_, [&](const auto& kv) { return kv.second.owner == id; });
}

bool sim::in_wall(vec p, std::int32_t half) const {
  for (const rect& w : cfg_.walls) {
    if (overlaps(w, p.x - half, p.y - half, p.x + half, p.y + half)) return true;
  }
  return false;
}

vec sim::move(vec from, std::uint8_t buttons) const {
  int dx = ((buttons & btn_right) ? 1 : 0) - ((buttons & btn_left) ? 1 : 0);
  int dy = ((buttons & btn_down) ? 1 : 0) - ((buttons & btn_up) ? 1 : 0);
  std::int32_t s = (dx != 0 && dy != 0) ? rules_.diag_step : rules_.step;
  const std::int32_t r = cfg_.player_radius;
  vec p = from;
  // One axis at a time, so a player slides along a wall; a wall stops it flush against its side.
  if (dx != 0) {
    p.x = std::clamp(p.x + dx * s, r, cfg_.width - r);
    for (const rect& w : cfg_.walls) {
      if (overlaps(w, p.x - r, p.y - r, p.x + r, p.y + r)) p.x = dx > 0 ? w.x0 - r : w.x1 + r;
    }
  }
  if (dy != 0) {
    p.y = std::clamp(p.y + dy * s, r, cfg_.height - r);
    for (const rect& w : cfg_.walls) {
      if (overlaps(w, p.x - r, p.y - r, p.x + r, p.y + r)) p.y = dy > 0 ? w.y0 - r : w.y1 + r;
    }
  }
  return p;
}

void sim::apply(player& p, const input& in, std::vector<sim_event>& out) {
  p.last_seq = in.seq;
  vec before = p.pos;
  p.pos = move(p.pos, in.buttons);
  p.vel = {p.pos.x - before.x, p.pos.y - before.y};
  p.aim = in.aim;
  if ((in.buttons & btn_fire) && tick_ >= p.next_fire) {
    p.next_fire = tick_ + rules_.fire_cooldown;
    double a = in.aim * (2 * std::numbers::pi / 65536.0);
    bullet b;
    b.id = next_bullet_++;
    b.owner = p.id;
    b.pos = p.pos;
    b.origin = p.pos;
    b.born = tick_;
    b.vel = {static_cast<std::int32_t>(std::lround(std::cos(a) * rules_.bullet_step)),
             static_cast<std::int32_t>(std::lround(std::sin(a) * rules_.bullet_step))};
    b.expires = tick_ + rules_.bullet_life;
    b.rewind = std::min(in.rewind, rules_.history - 1);
    ++p.shots;
    out.push_back({sim_event::kind::fire, p.id, 0, 0, p.pos, b.id, b.rewind});
    bullets_.emplace(b.id, b);
  }
}

const sim::frame* sim::frame_at(tick_t t) const {
  if (history_.empty() || t < history_.front().tick || t > history_.back().tick) return nullptr;
  return &history_[t - history_.front().tick];
}

void sim::fly_bullets(std::vector<sim_event>& out) {
  const std::int64_t r = cfg_.player_radius;
  for (auto it = bullets_.begin(); it != bullets_.end();) {
    bullet& b = it->second;
    // Lag compensation: the bullet meets the targets where its shooter saw them, `rewind` ticks
    // ago (this tick's positions when 0 or when that frame is no longer kept).
    const frame* f = b.rewind > 0 && tick_ > b.rewind ? frame_at(tick_ - b.rewind) : nullptr;
    player_id hit = 0;
    std::int64_t best_t = 0, best_den = 1;
    auto consider = [&](player_id id, vec pos, bool was_alive) {
      if (id == b.owner || !was_alive) return;
      auto pit = players_.find(id);
      if (pit == players_.end() || !pit->second.alive) return;  // dead now: no second death
      std::int64_t t = 0, den = 1;
      if (!segment_hits(b.pos, b.vel, pos, r, t, den)) return;
      // The earliest along the path (t/den compared by cross-multiplying), then the lowest id.
      if (hit == 0 || t * best_den < best_t * den) {
        hit = id;
        best_t = t;
        best_den = den == 0 ? 1 : den;
      }
    };
    if (f) {
      for (const auto& e : f->players)
        consider(e.id, e.pos, e.alive);
    } else {
      for (const auto& [id, p] : players_)
        consider(id, p.pos, p.alive);
    }
    if (hit != 0) {
      player& target = players_.at(hit);
      target.health = std::max(0, target.health - cfg_.damage);
      auto shooter = players_.find(b.owner);
      if (shooter != players_.end()) ++shooter->second.hits;
      out.push_back(
          {sim_event::kind::hit, b.owner, hit, target.health, target.pos, b.id, b.rewind});
      if (target.health == 0) {
        target.alive = false;
        target.vel = {};
        target.respawn_at = tick_ + rules_.respawn;
        ++target.deaths;
        if (shooter != players_.end()) ++shooter->second.kills;
        out.push_back({sim_event::kind::kill, b.owner, hit, 0, target.pos, b.id, b.rewind});
      }
      it = bullets_.erase(it);
      continue;
    }
    b.pos.x += b.vel.x;
    b.pos.y += b.vel.y;
    bool out_of_bounds =
        b.pos.x < 0 || b.pos.y < 0 || b.pos.x >= cfg_.width || b.pos.y >= cfg_.height;
    if (out_of_bounds || tick_ >= b.expires || in_wall(b.pos, 0)) {
      it = bullets_.erase(it);
      continue;
    }
    ++it;
  }
}

void sim::take_pickups(std::vector<sim_event>& out) {
  const std::int64_t reach = cfg_.player_radius + cfg_.pickup_radius;
  for (pickup& k : pickups_) {
    if (!k.active) {
      if (tick_ >= k.respawn_at) k.active = true;
      continue;
    }
    for (auto& [id, p] : players_) {
      if (!p.alive || p.health >= cfg_.max_health || dist2(p.pos, k.pos) > reach * reach) continue;
      int healed = std::min(cfg_.pickup_heal, cfg_.max_health - p.health);
      p.health += healed;
      k.active = false;
      k.respawn_at = tick_ + rules_.pickup_respawn;
      out.push_back({sim_event::kind::heal, id, 0, healed, k.pos, k.id, 0});
      break;
    }
  }
}

const std::vector<sim_event>& sim::step(std::span<const std::pair<player_id, input>> inputs) {
  events_.clear();
  if (over()) return events_;
  ++tick_;
  // 1. The dead whose time has come are back, at full health.
  for (auto& [id, p] : players_) {
    if (p.alive || tick_ < p.respawn_at) continue;
    p.alive = true;
    p.health = cfg_.max_health;
    p.pos = spawn_point();
    p.vel = {};
    events_.push_back({sim_event::kind::respawn, id, 0, p.health, p.pos, 0, 0});
  }
  // 2. Inputs, in player order: one step each; no input, no movement.
  for (auto& [id, p] : players_)
    p.vel = {};
  std::vector<player_id> done;
  for (const auto& [id, in] : inputs) {
    auto it = players_.find(id);
    if (it == players_.end() || !it->second.alive) continue;
    if (std::find(done.begin(), done.end(), id) != done.end()) continue;
    done.push_back(id);
  }
  std::sort(done.begin(), done.end());
  for (player_id id : done) {
    for (const auto& [pid, in] : inputs) {
      if (pid != id) continue;
      apply(players_.at(id), in, events_);
      break;
    }
  }
  // 3. This tick's frame joins the lag-compensation history before bullets fly against it.
  frame f{tick_, {}};
  f.players.reserve(players_.size());
  for (const auto& [id, p] : players_)
    f.players.push_back({id, p.pos, p.alive});
  history_.push_back(std::move(f));
  while (history_.size() > rules_.history)
    history_.pop_front();
  // 4. Bullets fly and hit; 5. pickups heal.
  fly_bullets(events_);
  take_pickups(events_);
  // 6. The end.
  if (rules_.time_limit != 0 && tick_ >= rules_.time_limit) over_reason_ = "time";
  if (cfg_.score_limit > 0) {
    for (const auto& [id, p] : players_) {
      if (p.kills >= cfg_.score_limit) over_reason_ = "score";
    }
  }
  return events_;
}

std::vector<standing> sim::standings() const {
  std::vector<standing> out;
  for (const auto& [id, p] : players_)
    out.push_back({id, p.kills, p.deaths, 0});
  std::stable_sort(out.begin(), out.end(), [](const standing& a, const standing& b) {
    if (a.kills != b.kills) return a.kills > b.kills;
    return a.deaths < b.deaths;
  });
  for (std::size_t i = 0; i < out.size(); ++i) {
    bool tied = i > 0 && out[i].kills == out[i - 1].kills && out[i].deaths == out[i - 1].deaths;
    out[i].placement = tied ? out[i - 1].placement : static_cast<int>(i + 1);
  }
  return out;
}

std::uint64_t sim::digest() const {
  std::uint64_t h = 1469598103934665603ull;
  mix(h, tick_);
  for (const auto& [id, p] : players_) {
    for (std::int64_t v :
         {std::int64_t{id}, std::int64_t{p.pos.x}, std::int64_t{p.pos.y}, std::int64_t{p.vel.x},
          std::int64_t{p.vel.y}, std::int64_t{p.aim}, std::int64_t{p.health}, std::int64_t{p.alive},
          std::int64_t{p.kills}, std::int64_t{p.deaths}, std::int64_t{p.last_seq}})
      mix(h, static_cast<std::uint64_t>(v));
  }
  for (const auto& [id, b] : bullets_) {
    for (std::int64_t v : {std::int64_t{id}, std::int64_t{b.pos.x}, std::int64_t{b.pos.y},
                           std::int64_t{b.vel.x}, std::int64_t{b.vel.y}})
      mix(h, static_cast<std::uint64_t>(v));
  }
  for (const pickup& k : pickups_)
    mix(h, k.active ? k.id : 0);
  return h;
}

namespace {

namespace json = boost::json;

json::array vec_json(vec v) {
  return {v.x, v.y};
}
vec vec_of(const json::value& v) {
  const auto& a = v.as_array();
  return {static_cast<std::int32_t>(a.at(0).as_int64()),
          static_cast<std::int32_t>(a.at(1).as_int64())};
}
template <class T>
T num(const json::object& o, std::string_view k) {
  return o.at(k).to_number<T>();
}

}  // namespace

json::object sim::save() const {
  json::array players, bullets, pickups, history;
  for (const auto& [id, p] : players_) {
    players.push_back(json::object{{"id", id},
                                   {"slot", p.slot},
                                   {"nickname", p.nickname},
                                   {"color", p.color},
                                   {"pos", vec_json(p.pos)},
                                   {"vel", vec_json(p.vel)},
                                   {"aim", p.aim},
                                   {"health", p.health},
                                   {"alive", p.alive},
                                   {"respawn_at", p.respawn_at},
                                   {"next_fire", p.next_fire},
                                   {"last_seq", p.last_seq},
                                   {"kills", p.kills},
                                   {"deaths", p.deaths},
                                   {"shots", p.shots},
                                   {"hits", p.hits}});
  }
  for (const auto& [id, b] : bullets_) {
    bullets.push_back(json::object{{"id", b.id},
                                   {"owner", b.owner},
                                   {"origin", vec_json(b.origin)},
                                   {"born", b.born},
                                   {"pos", vec_json(b.pos)},
                                   {"vel", vec_json(b.vel)},
                                   {"expires", b.expires},
                                   {"rewind", b.rewind}});
  }
  for (const pickup& k : pickups_) {
    pickups.push_back(json::object{{"id", k.id},
                                   {"pos", vec_json(k.pos)},
                                   {"active", k.active},
                                   {"respawn_at", k.respawn_at}});
  }
  for (const frame& f : history_) {
    json::array ps;
    for (const frame_entry& e : f.players)
      ps.push_back(json::array{e.id, e.pos.x, e.pos.y, e.alive});
    history.push_back(json::object{{"tick", f.tick}, {"players", std::move(ps)}});
  }
  return {{"tick", tick_},
          {"next_bullet", next_bullet_},
          {"next_slot", next_slot_},
          {"rng_draws", rng_draws_},
          {"over", over_reason_},
          {"players", std::move(players)},
          {"bullets", std::move(bullets)},
          {"pickups", std::move(pickups)},
          {"history", std::move(history)}};
}

void sim::load(const json::object& s) {
  tick_ = num<tick_t>(s, "tick");
  next_bullet_ = num<std::uint32_t>(s, "next_bullet");
  next_slot_ = num<int>(s, "next_slot");
  // The random source: the one of this sim's seed (the constructor's), after as many draws.
  const auto draws = num<std::uint64_t>(s, "rng_draws");
  if (draws < rng_draws_) throw std::invalid_argument("arena: the random source went back");
  rng_.discard(draws - rng_draws_);
  rng_draws_ = draws;
  over_reason_ = s.at("over").as_string();
  players_.clear();
  for (const auto& v : s.at("players").as_array()) {
    const auto& o = v.as_object();
    player p;
    p.id = num<player_id>(o, "id");
    p.slot = num<int>(o, "slot");
    p.nickname = o.at("nickname").as_string();
    p.color = num<std::uint32_t>(o, "color");
    p.pos = vec_of(o.at("pos"));
    p.vel = vec_of(o.at("vel"));
    p.aim = num<std::uint16_t>(o, "aim");
    p.health = num<int>(o, "health");
    p.alive = o.at("alive").as_bool();
    p.respawn_at = num<tick_t>(o, "respawn_at");
    p.next_fire = num<tick_t>(o, "next_fire");
    p.last_seq = num<std::uint32_t>(o, "last_seq");
    p.kills = num<int>(o, "kills");
    p.deaths = num<int>(o, "deaths");
    p.shots = num<int>(o, "shots");
    p.hits = num<int>(o, "hits");
    players_.emplace(p.id, std::move(p));
  }
  bullets_.clear();
  for (const auto& v : s.at("bullets").as_array()) {
    const auto& o = v.as_object();
    bullet b;
    b.id = num<std::uint32_t>(o, "id");
    b.owner = num<player_id>(o, "owner");
    b.origin = vec_of(o.at("origin"));
    b.born = num<tick_t>(o, "born");
    b.pos = vec_of(o.at("pos"));
    b.vel = vec_of(o.at("vel"));
    b.expires = num<tick_t>(o, "expires");
    b.rewind = num<tick_t>(o, "rewind");
    bullets_.emplace(b.id, b);
  }
  const auto& ks = s.at("pickups").as_array();
  if (ks.size() != pickups_.size()) throw std::invalid_argument("arena: the map's pickups differ");
  for (std::size_t i = 0; i < ks.size(); ++i) {
    const auto& o = ks[i].as_object();
    pickups_[i].id = num<std::uint32_t>(o, "id");
    pickups_[i].pos = vec_of(o.at("pos"));
    pickups_[i].active = o.at("active").as_bool();
    pickups_[i].respawn_at = num<tick_t>(o, "respawn_at");
  }
  history_.clear();
  for (const auto& v : s.at("history").as_array()) {
    const auto& o = v.as_object();
    frame f;
    f.tick = num<tick_t>(o, "tick");
    for (const auto& e : o.at("players").as_array()) {
      const auto& a = e.as_array();
      f.players.push_back({a.at(0).to_number<player_id>(),
                           {static_cast<std::int32_t>(a.at(1).as_int64()),
                            static_cast<std::int32_t>(a.at(2).as_int64())},
                           a.at(3).as_bool()});
    }
    history_.push_back(std::move(f));
  }
  events_.clear();
}

}  // namespace maratang::arena
