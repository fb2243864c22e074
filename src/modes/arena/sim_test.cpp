#include "modes/arena/sim.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>

namespace maratang::arena {
namespace {

// A bare field: no walls, no pickups, no limits, one spawn point at (100, 100).
sim_config plain() {
  sim_config c;
  c.spawns = {{100 * kSub, 100 * kSub}};
  c.time_limit_ms = 0;
  c.score_limit = 0;
  return c;
}

using inputs = std::vector<std::pair<player_id, input>>;

input in(std::uint32_t seq, std::uint8_t buttons, std::uint16_t aim = 0, tick_t rewind = 0) {
  return input{seq, buttons, aim, rewind};
}

TEST(ArenaSim, RulesInTicks) {
  sim s(plain(), 1);
  EXPECT_EQ(s.rules().step, 106);  // 200 × 16 / 30
  EXPECT_EQ(s.rules().diag_step, 74);
  EXPECT_EQ(s.rules().bullet_step, 384);
  EXPECT_EQ(s.rules().fire_cooldown, 6u);
  EXPECT_EQ(s.rules().respawn, 60u);
  EXPECT_EQ(s.rules().history, 30u);
}

TEST(ArenaSim, MovesExactlyBoundsAndWalls) {
  sim_config c = plain();
  c.walls = {{16000, 0, 17000, 19200}};
  sim s(c, 1);
  s.add_player(1, "a", 0xff0000, vec{12800, 9600});
  s.add_player(2, "b", 0x00ff00, vec{320, 320});
  s.add_player(3, "c", 0x0000ff, vec{15644, 9600});
  std::uint32_t seq = 0;
  for (int i = 0; i < 10; ++i) {
    ++seq;
    inputs x{{1, in(seq, btn_right)}, {2, in(seq, btn_left)}, {3, in(seq, btn_right)}};
    s.step(x);
    if (i == 0) {
      EXPECT_EQ(s.find(2)->pos, (vec{256, 320})) << "clamped to the radius";
      EXPECT_EQ(s.find(3)->pos, (vec{15744, 9600})) << "flush against the wall";
      EXPECT_EQ(s.find(3)->vel, (vec{100, 0}));
    }
  }
  EXPECT_EQ(s.find(1)->pos, (vec{13860, 9600}));
  EXPECT_EQ(s.find(3)->pos, (vec{15744, 9600}));
  EXPECT_EQ(s.find(3)->vel, (vec{0, 0})) << "pushing into a wall moves nothing";
  for (int i = 0; i < 5; ++i) {
    ++seq;
    inputs x{{1, in(seq, btn_up | btn_left)}, {3, in(seq, btn_right | btn_down)}};
    s.step(x);
  }
  EXPECT_EQ(s.find(1)->pos, (vec{13490, 9230}));
  EXPECT_EQ(s.find(1)->vel, (vec{-74, -74}));
  EXPECT_EQ(s.find(3)->pos, (vec{15744, 9600 + 5 * 74})) << "slides along the wall";
  EXPECT_EQ(s.find(1)->last_seq, 15u);
  s.step({});
  EXPECT_EQ(s.find(1)->pos, (vec{13490, 9230})) << "no input, no movement";
  EXPECT_EQ(s.find(1)->vel, (vec{0, 0}));
  EXPECT_EQ(s.find(1)->last_seq, 15u);
  EXPECT_EQ(s.tick(), 16u);
}

// Tick by tick: P2 walks 30 steps right; P1 holds fire from tick 31 to 55 along +x. Each bullet
// covers 384 a tick from x=1600 and comes within the radius (256) of x=4780 in its 8th tick.
TEST(ArenaSim, ScriptedDuelHitsKillsAndRespawns) {
  sim s(plain(), 7);
  s.add_player(1, "shooter", 0xff0000);
  s.add_player(2, "target", 0x00ff00);
  ASSERT_EQ(s.find(1)->pos, (vec{1600, 1600}));
  ASSERT_EQ(s.find(2)->pos, (vec{1600, 1600}));
  std::vector<std::pair<tick_t, int>> hits;  // tick, health after
  tick_t killed_at = 0, respawned_at = 0;
  std::vector<tick_t> fired;
  for (std::uint32_t t = 1; t <= 130; ++t) {
    inputs x;
    if (t <= 30) x.push_back({2, in(t, btn_right)});
    if (t >= 31 && t <= 55) x.push_back({1, in(t, btn_fire, 0)});
    for (const sim_event& e : s.step(x)) {
      if (e.what == sim_event::kind::fire) fired.push_back(s.tick());
      if (e.what == sim_event::kind::hit) {
        EXPECT_EQ(e.actor, 1);
        EXPECT_EQ(e.target, 2);
        hits.push_back({s.tick(), e.amount});
      }
      if (e.what == sim_event::kind::kill) killed_at = s.tick();
      if (e.what == sim_event::kind::respawn) {
        EXPECT_EQ(e.actor, 2);
        respawned_at = s.tick();
      }
    }
    if (t == 30) {
      ASSERT_EQ(s.find(2)->pos, (vec{4780, 1600}));
    }
    if (t == 31) {
      ASSERT_EQ(s.bullets().at(1).pos, (vec{1984, 1600}));
    }
    if (t == 62) {
      EXPECT_FALSE(s.find(2)->alive);
    }
  }
  EXPECT_EQ(fired, (std::vector<tick_t>{31, 37, 43, 49, 55})) << "one shot per cooldown";
  EXPECT_EQ(hits,
            (std::vector<std::pair<tick_t, int>>{{38, 80}, {44, 60}, {50, 40}, {56, 20}, {62, 0}}));
  EXPECT_EQ(killed_at, 62u);
  EXPECT_EQ(respawned_at, 122u);
  const player& p2 = *s.find(2);
  EXPECT_TRUE(p2.alive);
  EXPECT_EQ(p2.health, 100);
  EXPECT_EQ(p2.pos, (vec{1600, 1600}));
  EXPECT_EQ(s.find(1)->kills, 1);
  EXPECT_EQ(s.find(1)->shots, 5);
  EXPECT_EQ(s.find(1)->hits, 5);
  EXPECT_EQ(p2.deaths, 1);
  EXPECT_TRUE(s.bullets().empty());
}

// A target crosses the line of fire; the shooter sees it 5 ticks late (100 ms latency and about
// 67 ms of interpolation at 30 Hz). The shot leads the target as the shooter saw it: it hits with
// the rewind and misses against the present positions.
TEST(ArenaSim, LagCompensationHitsWhereTheShooterSawTheTarget) {
  auto run = [](tick_t rewind) {
    sim s(plain(), 1);
    s.add_player(1, "shooter", 0, vec{2368, 9600});
    s.add_player(2, "target", 0, vec{6400, 9600 - 25 * 106});
    int hits = 0;
    for (std::uint32_t t = 1; t <= 60; ++t) {
      inputs x{{2, in(t, btn_down)}};
      if (t == 20) x.push_back({1, in(1, btn_fire, 0, rewind)});
      for (const sim_event& e : s.step(x)) {
        if (e.what != sim_event::kind::hit) continue;
        ++hits;
        EXPECT_EQ(s.tick(), 29u);
        EXPECT_EQ(e.rewind, rewind);
      }
    }
    return hits;
  };
  EXPECT_EQ(run(5), 1);
  EXPECT_EQ(run(0), 0);
}

TEST(ArenaSim, RewindIsBoundedByTheHistory) {
  sim s(plain(), 1);
  s.add_player(1, "a", 0);
  for (const sim_event& e : s.step(inputs{{1, in(1, btn_fire, 0, 100000)}})) {
    EXPECT_EQ(e.rewind, 29u);  // 1 s at 30 Hz: 30 frames, this one and 29 before
  }
  EXPECT_EQ(s.bullets().at(1).rewind, 29u);
}

TEST(ArenaSim, PickupHealsTheWoundedOnceThenComesBack) {
  sim_config c = plain();
  c.pickups = {{4780, 3200}};
  sim s(c, 1);
  s.add_player(1, "shooter", 0, vec{1600, 1600});
  s.add_player(2, "target", 0, vec{4780, 1600});
  s.add_player(3, "full", 0, vec{4780, 3200});  // standing on it at full health
  tick_t healed_at = 0;
  int healed = 0;
  for (std::uint32_t t = 1; t <= 320; ++t) {
    inputs x;
    if (t == 1) x.push_back({1, in(1, btn_fire, 0)});
    if (t >= 9 && t <= 30) x.push_back({2, in(t, btn_down)});
    for (const sim_event& e : s.step(x)) {
      if (e.what == sim_event::kind::heal) {
        EXPECT_EQ(e.actor, 2);
        healed_at = s.tick();
        healed = e.amount;
      }
    }
    if (t == 8) {
      ASSERT_EQ(s.find(2)->health, 80);
    }
    if (t == 18) {
      EXPECT_TRUE(s.pickups()[0].active);
    }
    if (t == 19) {
      EXPECT_FALSE(s.pickups()[0].active);
    }
    if (t == 318) {
      EXPECT_FALSE(s.pickups()[0].active);
    }
  }
  EXPECT_EQ(healed_at, 19u);
  EXPECT_EQ(healed, 20) << "up to the maximum only";
  EXPECT_EQ(s.find(2)->health, 100);
  EXPECT_EQ(s.find(3)->health, 100);
  EXPECT_TRUE(s.pickups()[0].active) << "back after 10 s";
}

TEST(ArenaSim, EndsByScoreWithPlacements) {
  sim_config c = plain();
  c.score_limit = 1;
  sim s(c, 1);
  s.add_player(1, "a", 0, vec{1600, 1600});
  s.add_player(2, "b", 0, vec{4780, 1600});
  s.add_player(3, "c", 0, vec{1600, 9000});
  s.add_player(4, "d", 0, vec{1600, 12000});
  for (std::uint32_t t = 1; t <= 100 && !s.over(); ++t)
    s.step(inputs{{1, in(t, btn_fire, 0)}});
  ASSERT_TRUE(s.over());
  EXPECT_EQ(s.over_reason(), "score");
  EXPECT_EQ(s.tick(), 32u);  // shots at 1, 7, 13, 19, 25; each hits 7 ticks later
  tick_t t = s.tick();
  EXPECT_TRUE(s.step({}).empty());
  EXPECT_EQ(s.tick(), t) << "a finished match does not tick";
  auto st = s.standings();
  ASSERT_EQ(st.size(), 4u);
  EXPECT_EQ(st[0].id, 1);
  EXPECT_EQ(st[0].placement, 1);
  EXPECT_EQ(st[1].placement, 2);
  EXPECT_EQ(st[2].placement, 2) << "c and d tie";
  EXPECT_EQ(st[3].id, 2);
  EXPECT_EQ(st[3].placement, 4);
  EXPECT_EQ(st[3].deaths, 1);
}

TEST(ArenaSim, EndsByTime) {
  sim_config c = plain();
  c.time_limit_ms = 1000;
  sim s(c, 1);
  s.add_player(1, "a", 0);
  for (int i = 0; i < 29; ++i)
    s.step({});
  EXPECT_FALSE(s.over());
  s.step({});
  EXPECT_TRUE(s.over());
  EXPECT_EQ(s.over_reason(), "time");
}

// Bots that chase and shoot the nearest other player, with random noise from their own seed.
inputs bot_inputs(const sim& s, std::mt19937& noise, std::uint32_t seq) {
  inputs out;
  for (const auto& [id, p] : s.players()) {
    if (!p.alive) continue;
    const player* near = nullptr;
    std::int64_t best = 0;
    for (const auto& [oid, o] : s.players()) {
      if (oid == id || !o.alive) continue;
      std::int64_t dx = o.pos.x - p.pos.x, dy = o.pos.y - p.pos.y;
      if (!near || dx * dx + dy * dy < best) near = &o, best = dx * dx + dy * dy;
    }
    input x{seq, static_cast<std::uint8_t>(noise() & kButtonsMask), 0,
            static_cast<tick_t>(noise() % 8)};
    if (near) {
      double a = std::atan2(near->pos.y - p.pos.y, near->pos.x - p.pos.x);
      if (a < 0) a += 2 * std::numbers::pi;
      x.aim = static_cast<std::uint16_t>(a / (2 * std::numbers::pi) * 65536);
      x.buttons |= btn_fire;
    }
    out.push_back({id, x});
  }
  return out;
}

TEST(ArenaSim, ReplayingRecordedInputsReproducesTheGame) {
  std::vector<inputs> recorded;
  std::vector<std::uint64_t> digests;
  int kills = 0, heals = 0;
  {
    sim s(default_map(), 42);
    for (player_id p = 1; p <= 6; ++p)
      s.add_player(p, "p" + std::to_string(p), static_cast<std::uint32_t>(p));
    std::mt19937 noise(7);
    for (std::uint32_t t = 1; t <= 1800 && !s.over(); ++t) {
      recorded.push_back(bot_inputs(s, noise, t));
      for (const sim_event& e : s.step(recorded.back())) {
        kills += e.what == sim_event::kind::kill;
        heals += e.what == sim_event::kind::heal;
      }
      digests.push_back(s.digest());
    }
  }
  EXPECT_GT(kills, 0) << "the recorded game had fights";
  sim r(default_map(), 42);
  for (player_id p = 1; p <= 6; ++p)
    r.add_player(p, "p" + std::to_string(p), static_cast<std::uint32_t>(p));
  for (std::size_t i = 0; i < recorded.size(); ++i) {
    r.step(recorded[i]);
    ASSERT_EQ(r.digest(), digests[i]) << "tick " << i + 1;
  }
  sim other(default_map(), 43);
  for (player_id p = 1; p <= 6; ++p)
    other.add_player(p, "p" + std::to_string(p), static_cast<std::uint32_t>(p));
  other.step(recorded[0]);
  EXPECT_NE(other.digest(), digests[0]) << "another seed spawns elsewhere";
  (void)heals;
}

}  // namespace
}  // namespace maratang::arena
