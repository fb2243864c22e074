// Arena's simulation: a deterministic top-down 2D shooter stepped at a fixed rate, apart from the
// network. Integer arithmetic on a grid of 1/16 world unit, so a seed and the same inputs give the
// same state on every run, and a client can run the same movement step to predict itself exactly.
// Not thread-safe: one per game, called on the room's strand (or by a test).
#pragma once

#include <boost/json/fwd.hpp>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace maratang::arena {

using player_id = std::int64_t;
using tick_t = std::uint32_t;

// Positions are in sub-units: 1/16 of a world unit (a pixel on the reference page).
inline constexpr std::int32_t kSub = 16;

struct vec {
  std::int32_t x = 0;
  std::int32_t y = 0;
  friend bool operator==(const vec&, const vec&) = default;
};

// An axis-aligned wall, in sub-units, [x0, x1) × [y0, y1).
struct rect {
  std::int32_t x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};

// The rules and the map. Times are in ms and speeds per second; the sim turns them into ticks and
// per-tick steps once (see sim::rules()).
struct sim_config {
  int hz = 30;
  std::int32_t width = 1600 * kSub;
  std::int32_t height = 1200 * kSub;
  std::int32_t player_radius = 16 * kSub;
  std::int32_t speed = 200 * kSub;         // sub-units per second
  std::int32_t bullet_speed = 720 * kSub;  // sub-units per second
  int bullet_life_ms = 1200;
  int fire_cooldown_ms = 200;
  int max_health = 100;
  int damage = 20;
  int respawn_ms = 2000;
  int pickup_heal = 30;
  std::int32_t pickup_radius = 12 * kSub;
  int pickup_respawn_ms = 10000;
  int time_limit_ms = 180000;  // 0: none
  int score_limit = 20;        // kills; 0: none
  int history_ms = 1000;       // lag-compensation window
  std::vector<rect> walls;
  std::vector<vec> spawns;   // at least one
  std::vector<vec> pickups;  // health pickup places
};

// The default map: 1600×1200 with a few walls, eight spawn points and four pickups.
sim_config default_map();

// What the per-tick numbers came to (derived from sim_config in the constructor).
struct sim_rules {
  std::int32_t step = 0;       // straight movement per tick
  std::int32_t diag_step = 0;  // per axis when moving diagonally (step × 181/256)
  std::int32_t bullet_step = 0;
  tick_t bullet_life = 0;
  tick_t fire_cooldown = 0;
  tick_t respawn = 0;
  tick_t pickup_respawn = 0;
  tick_t time_limit = 0;  // 0: none
  tick_t history = 0;     // frames kept for lag compensation
};

enum button : std::uint8_t {
  btn_up = 1,
  btn_down = 2,
  btn_left = 4,
  btn_right = 8,
  btn_fire = 16,
};
inline constexpr std::uint8_t kButtonsMask = 31;

// One client input: one simulation step of its player. aim is an angle, 65536 to the turn, 0 along
// +x, growing towards +y (down on screen). rewind: how many ticks back the shooter saw the world
// (decided by the mode, clamped by the sim to its history).
struct input {
  std::uint32_t seq = 0;
  std::uint8_t buttons = 0;
  std::uint16_t aim = 0;
  tick_t rewind = 0;
  friend bool operator==(const input&, const input&) = default;
};

struct player {
  player_id id = 0;
  int slot = 0;  // the order it joined in, from 0: a small number for the wire
  std::string nickname;
  std::uint32_t color = 0;  // 0xRRGGBB
  vec pos;
  vec vel;  // the displacement of the last tick
  std::uint16_t aim = 0;
  int health = 0;
  bool alive = false;
  tick_t respawn_at = 0;  // when dead
  tick_t next_fire = 0;   // the first tick it may fire again
  std::uint32_t last_seq = 0;
  int kills = 0;
  int deaths = 0;
  int shots = 0;
  int hits = 0;
};

struct bullet {
  std::uint32_t id = 0;
  player_id owner = 0;
  vec origin;  // where it was fired, in tick `born`; after tick t it is at origin + vel × (t + 1 −
               // born)
  tick_t born = 0;
  vec pos;
  vec vel;  // per tick
  tick_t expires = 0;
  tick_t rewind = 0;
};

struct pickup {
  std::uint32_t id = 0;
  vec pos;
  bool active = true;
  tick_t respawn_at = 0;
};

// Something that happened in a tick, for events, logs and the action log.
struct sim_event {
  enum class kind : std::uint8_t { fire, hit, kill, heal, respawn };
  kind what = kind::fire;
  player_id actor = 0;       // the shooter, the healed, the respawned
  player_id target = 0;      // hit or killed
  int amount = 0;            // damage or health healed; for hit, the target's health after
  vec pos;                   // where
  std::uint32_t object = 0;  // the bullet or the pickup
  tick_t rewind = 0;         // hit: the rewind the shot used
};

struct standing {
  player_id id = 0;
  int kills = 0;
  int deaths = 0;
  int placement = 0;  // 1 = best; ties share a placement
};

class sim {
 public:
  sim(sim_config cfg, std::uint64_t seed);

  const sim_config& config() const { return cfg_; }
  const sim_rules& rules() const { return rules_; }

  // Adds a player, alive at `at` or else at a seeded spawn point. A known id is left as it is.
  void add_player(player_id id, std::string nickname, std::uint32_t color,
                  std::optional<vec> at = std::nullopt);
  // Removes a player and its bullets in flight.
  void remove_player(player_id id);

  // Computes the next tick. `inputs` holds at most one input per player (a second one for the
  // same player is ignored; inputs of unknown or dead players are ignored). A player without an
  // input stands still this tick. Returns what happened, valid until the next step.
  const std::vector<sim_event>& step(std::span<const std::pair<player_id, input>> inputs);

  // One player's movement step, exactly as step() applies it (also what a client predicts).
  vec move(vec from, std::uint8_t buttons) const;

  tick_t tick() const { return tick_; }
  const std::map<player_id, player>& players() const { return players_; }
  const std::map<std::uint32_t, bullet>& bullets() const { return bullets_; }
  const std::vector<pickup>& pickups() const { return pickups_; }
  const player* find(player_id id) const;

  // The match is over (time or score limit reached); reason "time" or "score".
  bool over() const { return !over_reason_.empty(); }
  const std::string& over_reason() const { return over_reason_; }
  // Players by kills (more first), then deaths (fewer first); equal pairs share a placement.
  std::vector<standing> standings() const;

  // A digest of the whole state (for replay tests).
  std::uint64_t digest() const;

  // The whole state (players, bullets, pickups, the lag-compensation history, the tick, how many
  // numbers the random source has drawn) as JSON, and back into a fresh sim made from the same
  // config and seed: the loaded sim steps exactly as the saved one would. The config is not in it
  // (the settings make it again). load throws std::exception on malformed input, leaving the sim
  // unusable.
  boost::json::object save() const;
  void load(const boost::json::object& s);

 private:
  struct frame_entry {
    player_id id;
    vec pos;
    bool alive;
  };
  struct frame {
    tick_t tick;
    std::vector<frame_entry> players;
  };

  vec spawn_point();
  void apply(player& p, const input& in, std::vector<sim_event>& out);
  void fly_bullets(std::vector<sim_event>& out);
  void take_pickups(std::vector<sim_event>& out);
  bool in_wall(vec p, std::int32_t half) const;
  const frame* frame_at(tick_t t) const;

  sim_config cfg_;
  sim_rules rules_;
  std::mt19937_64 rng_;
  std::uint64_t rng_draws_ = 0;  // numbers drawn from rng_ since it was seeded (see save())
  tick_t tick_ = 0;
  std::uint32_t next_bullet_ = 1;
  int next_slot_ = 0;
  std::map<player_id, player> players_;
  std::map<std::uint32_t, bullet> bullets_;
  std::vector<pickup> pickups_;
  std::deque<frame> history_;  // the last rules_.history frames, oldest first
  std::vector<sim_event> events_;
  std::string over_reason_;
};

}  // namespace maratang::arena
