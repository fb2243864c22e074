#include "modes/arena/arena_mode.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cmath>
#include <deque>
#include <map>
#include <numbers>
#include <random>
#include <set>

#include "lobby/fake_room.hpp"
#include "modes/arena/sim.hpp"
#include "modes/arena/snapshot.hpp"
#include "proto/fields.hpp"

namespace maratang::modes {
namespace {

namespace json = boost::json;
using lobby::player_id;
using lobby::testing::fake_room;

// One Arena game in a fake room, stepped tick by tick by the test.
struct game {
  std::shared_ptr<arena_counters> counters = std::make_shared<arena_counters>();
  std::unique_ptr<lobby::mode_factory> f = make_arena_mode_factory({nullptr, nullptr, counters});
  std::unique_ptr<fake_room> room;
  std::unique_ptr<lobby::mode> m;
  const arena::sim* sim = nullptr;
  int hz = 30;

  explicit game(int players, json::object settings = {}, std::uint64_t seed = 1) {
    std::vector<lobby::member_info> members;
    for (int i = 1; i <= players; ++i)
      members.push_back({i, "p" + std::to_string(i), true, false});
    room = std::make_unique<fake_room>(std::move(members), seed);
    auto s = f->validate_settings(settings).value();
    hz = static_cast<int>(s.at("hz").as_int64());
    m = f->create(s);
    m->on_start(*room);
    sim = arena_sim_of(*m);
  }
  result<json::object> input(player_id p, json::object d) {
    return room->act(*f, *m, p, "arena.input", d);
  }
  void tick(int n = 1) {
    for (int i = 0; i < n && !room->ended(); ++i) {
      room->advance(1000 / hz);
      m->on_tick(*room);
    }
  }
  // The arena.state messages `p` received, in order.
  std::vector<json::object> states(player_id p) const {
    std::vector<json::object> out;
    auto it = room->inbox.find(p);
    if (it == room->inbox.end()) return out;
    for (const auto& r : it->second) {
      if (r.type == "arena.state") out.push_back(r.data);
    }
    return out;
  }
  const arena::player& player(player_id p) const { return *sim->find(p); }
};

TEST(ArenaMode, InputsAreQueuedAppliedOneATickAndAnsweredByTheState) {
  game g(2);
  const auto& spec = g.f->messages()[0];
  ASSERT_EQ(spec.type, "arena.input");
  EXPECT_TRUE(spec.silent) << "inputs get no reply of their own";
  arena::vec p0 = g.player(1).pos;
  const int step = g.sim->rules().step;
  for (int seq = 1; seq <= 3; ++seq)
    ASSERT_TRUE(g.input(1, {{"seq", seq}, {"right", true}}));
  EXPECT_EQ(g.player(1).pos, p0) << "nothing moves between ticks";
  g.tick();
  EXPECT_EQ(g.player(1).pos.x, std::min(p0.x + step, g.sim->config().width - 256));
  EXPECT_EQ(g.states(1).back().at("seq").as_int64(), 1);
  g.tick(2);
  EXPECT_EQ(g.states(1).back().at("seq").as_int64(), 3);
  arena::vec p3 = g.player(1).pos;
  g.tick();
  EXPECT_EQ(g.player(1).pos, p3) << "no input, no movement";
  EXPECT_EQ(g.states(2).back().at("seq").as_int64(), 0) << "each client gets its own seq";
  EXPECT_EQ(g.counters->inputs.load(), 3u);
}

TEST(ArenaMode, BadInputsAreDroppedAndCountedByReason) {
  game g(2, {{"input_queue", 2}});
  auto& c = *g.counters;
  ASSERT_TRUE(g.input(1, {{"seq", 5}}));
  ASSERT_TRUE(g.input(1, {{"seq", 5}}));
  EXPECT_EQ(c.dropped_of(input_drop::duplicate), 1u);
  ASSERT_TRUE(g.input(1, {{"seq", 4}}));
  EXPECT_EQ(c.dropped_of(input_drop::out_of_order), 1u);
  ASSERT_TRUE(g.input(1, {{"seq", 6}}));
  ASSERT_TRUE(g.input(1, {{"seq", 7}}));
  EXPECT_EQ(c.dropped_of(input_drop::queue_full), 1u);
  g.tick();
  // Four arrivals a tick at most (the default).
  game h(2);
  for (int seq = 1; seq <= 6; ++seq)
    ASSERT_TRUE(h.input(1, {{"seq", seq}}));
  EXPECT_EQ(h.counters->dropped_of(input_drop::too_many), 2u);
  h.tick();
  ASSERT_TRUE(h.input(1, {{"seq", 7}})) << "the budget is per tick";
  EXPECT_EQ(h.counters->dropped_of(input_drop::too_many), 2u);
  // Made while viewing a tick older than the window (30 ticks).
  h.tick(40);
  ASSERT_TRUE(h.input(2, {{"seq", 1}, {"view_tick", 5}}));
  EXPECT_EQ(h.counters->dropped_of(input_drop::stale), 1u);
  ASSERT_TRUE(h.input(2, {{"seq", 2}, {"view_tick", h.sim->tick()}}));
  EXPECT_EQ(h.counters->dropped_of(input_drop::stale), 1u);
  // A spectator's input.
  h.room->add_spectator(50, "watcher");
  ASSERT_TRUE(h.input(50, {{"seq", 1}, {"up", true}}));
  EXPECT_EQ(h.counters->dropped_of(input_drop::spectator), 1u);
  // Fields out of range are refused by the message table, with a stable code and a message.
  auto bad = h.input(1, {{"seq", 0}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, errc::bad_field);
  bad = h.input(1, {{"seq", 8}, {"aim", 70000}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, errc::bad_field);
  bad = h.input(1, {{"seq", 8}, {"up", "yes"}});
  ASSERT_FALSE(bad);
}

std::uint16_t aim_at(arena::vec from, arena::vec to) {
  double a = std::atan2(to.y - from.y, to.x - from.x);
  if (a < 0) a += 2 * std::numbers::pi;
  return static_cast<std::uint16_t>(a / (2 * std::numbers::pi) * 65536);
}

// Two players chase and shoot each other until one dies; returns the victim.
player_id fight(game& g, std::uint32_t& seq, int max_ticks = 3000) {
  for (int t = 0; t < max_ticks; ++t) {
    for (player_id p : {1, 2}) {
      const auto& me = g.player(p);
      const auto& other = g.player(3 - p);
      if (!me.alive) return p;
      json::object in{{"seq", ++seq},
                      {"fire", true},
                      {"aim", aim_at(me.pos, other.pos)},
                      {"right", other.pos.x > me.pos.x + 300},
                      {"left", other.pos.x < me.pos.x - 300},
                      {"down", other.pos.y > me.pos.y + 300},
                      {"up", other.pos.y < me.pos.y - 300}};
      (void)g.input(p, in);
    }
    g.tick();
  }
  return 0;
}

TEST(ArenaMode, TheDeadCannotAct) {
  game g(2, {{"score_limit", 0}});
  std::uint32_t seq = 0;
  player_id victim = fight(g, seq);
  ASSERT_NE(victim, 0) << "somebody died";
  ASSERT_FALSE(g.player(victim).alive);
  auto before = g.counters->dropped_of(input_drop::dead);
  ASSERT_TRUE(g.input(victim, {{"seq", ++seq}, {"up", true}, {"fire", true}}));
  EXPECT_EQ(g.counters->dropped_of(input_drop::dead), before + 1);
  arena::vec at = g.player(victim).pos;
  g.tick();
  EXPECT_EQ(g.player(victim).pos, at);
  bool told = false;
  for (const auto& r : g.room->public_events())
    told = told || r.type == "arena.kill";
  EXPECT_TRUE(told) << "everyone is told of a death";
}

// Anti-cheat property: thousands of hostile input streams (repeated, reordered and jumping
// sequence numbers, floods, absurd view ticks, fields naming positions, speeds, health and other
// players) never move a player more than one step a tick, never fire faster than the cooldown,
// never change health except by hits, pickups and respawns, and never move a player who sent
// nothing.
TEST(ArenaMode, HostileInputStreamsNeverBreakTheRules) {
  constexpr int kStreams = 1000;
  std::mt19937_64 r(2026);
  std::size_t sent = 0;
  for (int stream = 0; stream < kStreams; ++stream) {
    game g(3, {{"score_limit", 0}}, static_cast<std::uint64_t>(stream) + 1);
    const auto& rules = g.sim->rules();
    std::map<player_id, std::uint32_t> seq{{1, 0}, {2, 0}};
    std::map<player_id, std::set<std::uint32_t>> sent_seqs;
    std::map<player_id, arena::tick_t> last_fire_tick;
    std::map<player_id, int> shots;
    const arena::vec idle_start = g.player(3).pos;
    for (int t = 0; t < 40; ++t) {
      for (player_id p : {1, 2}) {
        int n = static_cast<int>(r() % 7);
        for (int i = 0; i < n; ++i) {
          switch (r() % 6) {
            case 0:
              break;  // the same seq again
            case 1:
              seq[p] = seq[p] > 3 ? seq[p] - static_cast<std::uint32_t>(r() % 3) : seq[p];
              break;
            case 2:
              seq[p] += static_cast<std::uint32_t>(r() % 1000);
              break;
            default:
              ++seq[p];
          }
          if (seq[p] == 0) seq[p] = 1;
          json::object in{{"seq", seq[p]},
                          {"up", r() % 2 == 0},
                          {"down", r() % 2 == 0},
                          {"left", r() % 2 == 0},
                          {"right", r() % 2 == 0},
                          {"fire", r() % 3 != 0},
                          {"aim", static_cast<std::int64_t>(r() % 65536)},
                          {"x", static_cast<std::int64_t>(r() % 100000)},
                          {"speed", 1e9},
                          {"health", 1000},
                          {"fire_rate", 1000},
                          {"player", 3},
                          {"id", 3}};
          if (r() % 2) in["view_tick"] = static_cast<std::int64_t>(r() % 100);
          sent_seqs[p].insert(seq[p]);
          ++sent;
          ASSERT_TRUE(g.input(p, in));
        }
      }
      std::map<player_id, arena::player> before;
      for (const auto& [id, pl] : g.sim->players())
        before[id] = pl;
      g.tick();
      for (const auto& [id, pl] : g.sim->players()) {
        const arena::player& b = before.at(id);
        bool respawned = !b.alive && pl.alive;
        if (!respawned && b.alive && pl.alive) {
          std::int32_t dx = std::abs(pl.pos.x - b.pos.x), dy = std::abs(pl.pos.y - b.pos.y);
          ASSERT_LE(std::max(dx, dy), rules.step) << "stream " << stream;
          if (dx != 0 && dy != 0) {
            ASSERT_LE(std::max(dx, dy), rules.diag_step);
          }
        }
        ASSERT_LE(pl.health, g.sim->config().max_health);
        if (pl.shots != b.shots) {
          ASSERT_EQ(pl.shots, b.shots + 1) << "one shot a tick at most";
          if (last_fire_tick.count(id)) {
            ASSERT_GE(g.sim->tick() - last_fire_tick[id], rules.fire_cooldown);
          }
          last_fire_tick[id] = g.sim->tick();
        }
        if (pl.last_seq != 0) {
          ASSERT_TRUE(sent_seqs[id].count(pl.last_seq)) << "its own seq";
        }
      }
      const arena::player& idle = g.player(3);
      ASSERT_EQ(idle.last_seq, 0u) << "nobody acts for another player";
      if (idle.deaths == 0) {
        ASSERT_EQ(idle.pos, idle_start);
      }
    }
  }
  RecordProperty("inputs", static_cast<int>(sent));
}

// A client that applies the states it receives (with random losses and random, late
// acknowledgements) always holds exactly the server's full view of that tick.
TEST(ArenaSnapshots, DeltasUnderLossAndRandomAcksEqualTheFullView) {
  arena::sim s(arena::default_map(), 9);
  for (player_id p = 1; p <= 8; ++p)
    s.add_player(p, "p", 0);
  std::mt19937_64 r(11);
  struct client {
    arena::client_snapshots snaps;
    std::map<arena::tick_t, arena::view> have;                 // the client's copies
    std::deque<std::pair<int, arena::tick_t>> acks_in_flight;  // arrival tick, acked tick
    arena::view last_sent;
  };
  std::map<player_id, client> clients;
  std::size_t applied = 0, lost = 0, silent = 0;
  std::int64_t now = 0;
  for (int t = 1; t <= 900; ++t) {
    std::vector<std::pair<player_id, arena::input>> ins;
    for (const auto& [id, p] : s.players()) {
      if (p.alive)
        ins.push_back({id,
                       {static_cast<std::uint32_t>(t), static_cast<std::uint8_t>(r() % 32),
                        static_cast<std::uint16_t>(r() % 65536), 0}});
    }
    s.step(ins);
    now += 33;
    // Ticks 300 to 340: no acknowledgement gets through (a gap longer than the history).
    const bool blackout = t >= 300 && t < 340;
    for (player_id viewer : {1, 2, 3}) {
      client& c = clients[viewer];
      while (!c.acks_in_flight.empty() && c.acks_in_flight.front().first <= t) {
        if (!blackout) (void)c.snaps.ack(c.acks_in_flight.front().second, now);
        c.acks_in_flight.pop_front();
      }
      arena::interest in;
      in.center = s.find(viewer)->pos;
      in.radius = 500 * arena::kSub;
      in.max_players = 5;
      arena::view full = arena::make_view(s, viewer, in);
      auto msg = c.snaps.next(full, now, 1000, viewer == 2);
      if (!msg) {
        ++silent;
        ASSERT_TRUE(c.last_sent.same_as(full)) << "nothing sent only when nothing changed";
        continue;
      }
      c.last_sent = full;
      if (r() % 10 < 3) {
        ++lost;
        continue;
      }
      // Over the wire and back: JSON for viewer 1 and 3, binary for viewer 2.
      json::object wire;
      if (viewer == 2) {
        auto d = arena::decode_binary(msg->bytes);
        ASSERT_TRUE(d) << d.error().message;
        wire = std::move(*d);
      } else {
        wire = json::parse(json::serialize(msg->json)).as_object();
      }
      const arena::view* base = nullptr;
      auto b = static_cast<arena::tick_t>(wire.at("base").as_int64());
      if (b != 0) {
        auto it = c.have.find(b);
        ASSERT_NE(it, c.have.end()) << "the server used a base the client acknowledged";
        base = &it->second;
      }
      auto v = arena::apply_state(base, wire);
      ASSERT_TRUE(v) << v.error().message;
      ASSERT_EQ(*v, full) << "tick " << t << " viewer " << viewer;
      ++applied;
      c.have[v->tick] = *v;
      while (c.have.size() > 64)
        c.have.erase(c.have.begin());
      if (r() % 2) c.acks_in_flight.push_back({t + static_cast<int>(r() % 6), v->tick});
    }
  }
  EXPECT_GT(applied, 1500u);
  EXPECT_GT(lost, 500u);
  for (const auto& [id, c] : clients) {
    EXPECT_GT(c.snaps.deltas_sent(), c.snaps.full_sent() * 5) << "mostly deltas";
    EXPECT_GE(c.snaps.full_sent(), 2u) << "full on join and after the gap";
  }
  (void)silent;
}

TEST(ArenaSnapshots, NothingIsSentWhenNothingChangesButAKeepAlive) {
  game g(2, {{"view_radius", 5000}});
  g.tick();
  ASSERT_EQ(g.states(1).size(), 1u);
  EXPECT_EQ(g.states(1)[0].at("base").as_int64(), 0) << "full on join";
  g.tick(28);  // 29 × 33 ms: under the 1 s keep-alive
  EXPECT_EQ(g.states(1).size(), 1u) << "no state while nothing changes";
  g.tick(3);  // the state of tick 1 was sent 1 s ago
  EXPECT_EQ(g.states(1).size(), 2u) << "the keep-alive";
  ASSERT_TRUE(g.input(1, {{"seq", 1}, {"down", true}}));
  g.tick();
  EXPECT_EQ(g.states(1).size(), 3u);
  EXPECT_EQ(g.states(2).size(), 3u) << "the other sees the move too";
}

TEST(ArenaSnapshots, AcknowledgedStatesTurnIntoDeltas) {
  game g(2);
  g.tick();
  auto first = g.states(1).back();
  ASSERT_TRUE(g.room->act(*g.f, *g.m, 1, "arena.ack", {{"tick", first.at("tick")}}));
  ASSERT_TRUE(g.input(1, {{"seq", 1}, {"right", true}}));
  g.tick();
  auto second = g.states(1).back();
  EXPECT_EQ(second.at("base"), first.at("tick"));
  ASSERT_TRUE(second.contains("players"));
  auto players = second.at("players").as_array();
  ASSERT_EQ(players.size(), 1u) << "only the one who moved";
  EXPECT_EQ(players[0].at("id").as_int64(), 1);
  EXPECT_TRUE(players[0].as_object().contains("x"));
  EXPECT_FALSE(players[0].as_object().contains("y")) << "only what changed";
  EXPECT_FALSE(second.contains("bullets"));
  // The other client acknowledged nothing: its states stay full.
  EXPECT_EQ(g.states(2).back().at("base").as_int64(), 0);
}

// A room of 64: each client's view holds at most max_visible players, so what it is sent does not
// grow with the room.
TEST(ArenaSnapshots, InterestBoundsWhatAClientSees) {
  game g(64, {{"max_visible", 8}});
  g.tick();
  for (player_id p = 1; p <= 64; ++p) {
    auto st = g.states(p).back();
    EXPECT_LE(st.at("players").as_array().size(), 8u);
    bool me = false;
    for (const auto& e : st.at("players").as_array())
      me = me || e.at("id").as_int64() == p;
    EXPECT_TRUE(me) << "a client always sees itself";
  }
}

// The rewind a shot uses: what the client says it saw, bounded by its measured round trip plus
// three snapshot intervals (and by the 1 s history).
TEST(ArenaMode, LagCompensationIsBoundedByTheMeasuredRoundTrip) {
  game g(2, {{"score_limit", 0}, {"view_radius", 5000}});
  g.tick(30);
  std::uint32_t seq2 = 0;
  // Player 2 walks, so that a state goes out every tick; client 1 acknowledges each 200 ms after
  // it was sent (100 ms each way).
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(g.input(2, {{"seq", ++seq2}, {"down", i % 2 == 0}, {"up", i % 2 == 1}}));
    g.tick();
    auto t = g.states(1).back().at("tick");
    g.room->advance(200);
    ASSERT_TRUE(g.room->act(*g.f, *g.m, 1, "arena.ack", {{"tick", t}}));
    g.room->advance(-200);
  }
  // Client 2 acknowledges at once.
  ASSERT_TRUE(g.room->act(*g.f, *g.m, 2, "arena.ack", {{"tick", g.states(2).back().at("tick")}}));
  // Client 1 shows others 2 snapshots late and its input left 100 ms ago: it saw 6 ticks back.
  // Client 2 claims it saw 25 ticks back. Each aims away from the other, so both bullets fly.
  const auto tick = static_cast<std::int64_t>(g.sim->tick());
  ASSERT_TRUE(g.input(1, {{"seq", 1},
                          {"fire", true},
                          {"aim", aim_at(g.player(2).pos, g.player(1).pos)},
                          {"view_tick", tick - 5}}));
  ASSERT_TRUE(g.input(2, {{"seq", ++seq2},
                          {"fire", true},
                          {"aim", aim_at(g.player(1).pos, g.player(2).pos)},
                          {"view_tick", tick - 25}}));
  g.tick();
  std::map<player_id, arena::tick_t> rewind;
  for (const auto& [id, b] : g.sim->bullets())
    rewind[b.owner] = b.rewind;
  ASSERT_EQ(rewind.size(), 2u);
  EXPECT_EQ(rewind[1], 6u) << "as claimed: within 200 ms + 100 ms";
  EXPECT_EQ(rewind[2], 3u) << "clamped to 0 ms + 100 ms";
}

TEST(ArenaMode, EndsWithResultsAndReplaysFromTheActionLog) {
  game g(3, {{"time_limit_s", 20}, {"score_limit", 0}}, 77);
  std::mt19937_64 r(5);
  std::uint32_t seq = 0;
  while (!g.room->ended()) {
    for (player_id p = 1; p <= 3; ++p) {
      const auto& me = g.player(p);
      const auto& other = g.player(p % 3 + 1);
      if (!me.alive) continue;
      (void)g.input(p, {{"seq", ++seq},
                        {"fire", true},
                        {"aim", aim_at(me.pos, other.pos)},
                        {"right", other.pos.x > me.pos.x + 200 || r() % 4 == 0},
                        {"left", other.pos.x < me.pos.x - 200 || r() % 4 == 0},
                        {"down", other.pos.y > me.pos.y + 200 || r() % 4 == 0},
                        {"up", other.pos.y < me.pos.y - 200 || r() % 4 == 0},
                        {"view_tick", static_cast<std::int64_t>(g.sim->tick()) - 2}});
    }
    g.tick();
  }
  const json::object& rec = g.room->record();
  EXPECT_EQ(rec.at("reason").as_string(), "time");
  EXPECT_EQ(rec.at("ticks").as_int64(), 600);
  const auto& standings = rec.at("standings").as_array();
  ASSERT_EQ(standings.size(), 3u);
  EXPECT_EQ(standings[0].at("placement").as_int64(), 1);
  int total_kills = 0;
  for (const auto& s : standings)
    total_kills += static_cast<int>(s.at("kills").as_int64());
  EXPECT_GT(total_kills, 0);

  // Statistics from the record.
  std::vector<store::player_outcome> out(3);
  for (int i = 0; i < 3; ++i)
    out[static_cast<std::size_t>(i)].account_id = i + 1;
  g.f->score(rec, out);
  int won = 0;
  for (const auto& o : out)
    won += o.result == store::game_result::won;
  EXPECT_LE(won, 1);

  // Rebuild the game from its action log alone.
  std::uint64_t seed = 0;
  arena::sim_config cfg = arena::default_map();
  std::vector<player_id> order;
  std::map<arena::tick_t, std::vector<std::pair<player_id, arena::input>>> by_tick;
  for (const auto& e : g.room->action_log()) {
    const auto& pl = e.data.at("payload").as_object();
    if (e.type == "start") {
      seed = pl.at("seed").to_number<std::uint64_t>();
      cfg.hz = static_cast<int>(pl.at("hz").as_int64());
      cfg.time_limit_ms = static_cast<int>(pl.at("time_limit_s").as_int64()) * 1000;
      cfg.score_limit = static_cast<int>(pl.at("score_limit").as_int64());
      for (const auto& id : pl.at("players").as_array())
        order.push_back(id.as_int64());
    } else if (e.type == "inputs") {
      for (const auto& x : pl.at("inputs").as_array()) {
        const auto& a = x.as_array();
        by_tick[a[0].to_number<arena::tick_t>()].push_back(
            {a[1].as_int64(),
             {a[2].to_number<std::uint32_t>(), a[3].to_number<std::uint8_t>(),
              a[4].to_number<std::uint16_t>(), a[5].to_number<arena::tick_t>()}});
      }
    }
  }
  arena::sim replay(cfg, seed);
  for (player_id p : order)
    replay.add_player(p, "", 0);
  while (!replay.over())
    replay.step(by_tick[replay.tick() + 1]);
  EXPECT_EQ(replay.digest(), g.sim->digest());
  auto rs = replay.standings();
  for (std::size_t i = 0; i < rs.size(); ++i) {
    EXPECT_EQ(rs[i].id, standings[i].at("player").as_int64());
    EXPECT_EQ(rs[i].kills, standings[i].at("kills").as_int64());
    EXPECT_EQ(rs[i].deaths, standings[i].at("deaths").as_int64());
  }
}

TEST(ArenaBinary, InputsRoundTripAndHostileBytesNeverThrow) {
  auto f = make_arena_mode_factory();
  arena::input_message in{77, arena::btn_up | arena::btn_fire, 40000, 12, 11};
  auto d = f->decode_binary(arena::encode_input(in));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->type, "arena.input");
  EXPECT_EQ(json::serialize(d->data),
            R"({"seq":77,"up":true,"fire":true,"aim":40000,"view_tick":12,"ack":11})");
  auto a = f->decode_binary(arena::encode_ack(9));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->type, "arena.ack");
  EXPECT_EQ(a->data.at("tick").as_int64(), 9);
  EXPECT_EQ(f->decode_binary("\x07").error().code, errc::unknown_type);
  EXPECT_EQ(f->decode_binary(std::string("\x01\x05", 2)).error().code, errc::bad_message);
  EXPECT_EQ(f->decode_binary(std::string("\x01\x05\x40\x00\x00\x00", 6)).error().code,
            errc::bad_field)
      << "unknown button bits";
  EXPECT_EQ(f->decode_binary(arena::encode_ack(9) + "x").error().code, errc::bad_message);
  // Random bytes: an error or a message that the table then checks; never a throw.
  std::mt19937_64 r(3);
  for (int i = 0; i < 100000; ++i) {
    std::string b(r() % 24, '\0');
    for (auto& c : b)
      c = static_cast<char>(r());
    if (!b.empty() && r() % 2) b[0] = static_cast<char>(1 + r() % 2);
    EXPECT_NO_THROW((void)f->decode_binary(b));
  }
}

// The fast path (binary_input_type, on_binary_input) must take exactly the bytes the general
// path (decode_binary, then the message table's checks) accepts, as the same message.
TEST(ArenaBinary, TheFastPathTakesExactlyWhatTheGeneralPathAccepts) {
  auto f = make_arena_mode_factory();
  auto spec_of = [&](std::string_view type) -> const proto::message_spec* {
    for (const auto& m : f->messages()) {
      if (m.type == type) return &m;
    }
    return nullptr;
  };
  auto varint = [](std::string& out, std::uint64_t x) {
    do {
      auto b = static_cast<unsigned char>(x & 0x7f);
      x >>= 7;
      out.push_back(static_cast<char>(x ? b | 0x80 : b));
    } while (x);
  };
  std::mt19937_64 r(11);
  // Field values around every edge of the table's ranges, and far past them.
  const std::uint64_t edges[] = {0,
                                 1,
                                 2,
                                 65535,
                                 65536,
                                 4294967295,
                                 4294967296,
                                 std::uint64_t{1} << 62,
                                 (std::uint64_t{1} << 63) + 3,
                                 ~std::uint64_t{0}};
  auto value = [&]() { return r() % 3 ? r() % 70000 : edges[r() % std::size(edges)]; };
  int taken = 0, refused = 0;
  for (int i = 0; i < 200000; ++i) {
    std::string b;
    switch (r() % 4) {
      case 0:  // random bytes, often with an Arena tag
        b.resize(r() % 24);
        for (auto& c : b)
          c = static_cast<char>(r());
        if (!b.empty() && r() % 2) b[0] = static_cast<char>(1 + r() % 2);
        break;
      case 1:  // an ack
        b.push_back(static_cast<char>(arena::kAckTag));
        varint(b, value());
        break;
      default:  // an input, its buttons sometimes with unknown bits
        b.push_back(static_cast<char>(arena::kInputTag));
        varint(b, value());
        b.push_back(static_cast<char>(r() % 8 ? r() % 32 : r() % 256));
        varint(b, value());
        varint(b, r() % 2 ? 0 : value());
        varint(b, r() % 2 ? 0 : value());
    }
    if (r() % 10 == 0 && !b.empty()) b.pop_back();  // truncated
    if (r() % 10 == 0) b.push_back('x');            // trailing byte
    auto d = f->decode_binary(b);
    bool accepted = false;
    if (d) {
      const proto::message_spec* spec = spec_of(d->type);
      ASSERT_NE(spec, nullptr);
      accepted = proto::fields::check(d->data, spec->fields).has_value();
    }
    const std::string_view fast = f->binary_input_type(b);
    ASSERT_EQ(!fast.empty(), accepted) << "bytes of size " << b.size() << " case " << i;
    if (!accepted) {
      ++refused;
      continue;
    }
    ++taken;
    EXPECT_EQ(fast, d->type);
    auto m = arena::read_client_binary(b);
    ASSERT_TRUE(m);
    const json::object& o = d->data;
    if (m->is_ack) {
      EXPECT_EQ(std::int64_t{*m->input.ack}, o.at("tick").as_int64());
      continue;
    }
    EXPECT_EQ(std::int64_t{m->input.seq}, o.at("seq").as_int64());
    EXPECT_EQ(std::int64_t{m->input.aim}, o.at("aim").as_int64());
    EXPECT_EQ(m->input.view_tick.has_value(), o.contains("view_tick"));
    if (m->input.view_tick) {
      EXPECT_EQ(std::int64_t{*m->input.view_tick}, o.at("view_tick").as_int64());
    }
    EXPECT_EQ(m->input.ack.has_value(), o.contains("ack"));
    if (m->input.ack) {
      EXPECT_EQ(std::int64_t{*m->input.ack}, o.at("ack").as_int64());
    }
    static constexpr std::pair<const char*, std::uint8_t> buttons[] = {{"up", arena::btn_up},
                                                                       {"down", arena::btn_down},
                                                                       {"left", arena::btn_left},
                                                                       {"right", arena::btn_right},
                                                                       {"fire", arena::btn_fire}};
    for (const auto& [name, bit] : buttons)
      EXPECT_EQ((m->input.buttons & bit) != 0, o.contains(name)) << name;
  }
  EXPECT_GT(taken, 20000);
  EXPECT_GT(refused, 20000);
}

// The same inputs, one game fed their JSON form and one their bytes, play the same game and drop
// the same inputs for the same reasons.
TEST(ArenaMode, ABinaryInputIsTakenAsItsJsonForm) {
  game as_json(3, {}, 7);
  game as_bytes(3, {}, 7);
  std::mt19937_64 r(5);
  std::map<player_id, std::uint32_t> seq;
  for (int t = 0; t < 300; ++t) {
    for (player_id p = 1; p <= 3; ++p) {
      for (int k = 0; k < 2; ++k) {
        // Mostly the next input; sometimes a repeat, one from the past or a burst.
        std::uint32_t s = seq[p] + 1;
        if (r() % 10 == 0) s = seq[p];
        if (r() % 20 == 0 && s > 2) s -= 2;
        seq[p] = std::max(seq[p], s);
        arena::input_message in;
        in.seq = s;
        in.buttons = static_cast<std::uint8_t>(r() % 32);
        in.aim = static_cast<std::uint16_t>(r());
        if (r() % 2) in.view_tick = static_cast<std::uint32_t>(t > 3 ? t - r() % 4 : t);
        if (t > 0 && r() % 2) in.ack = static_cast<std::uint32_t>(t);
        json::object d{{"seq", in.seq}, {"aim", in.aim}};
        static constexpr std::pair<const char*, std::uint8_t> names[] = {
            {"up", arena::btn_up},
            {"down", arena::btn_down},
            {"left", arena::btn_left},
            {"right", arena::btn_right},
            {"fire", arena::btn_fire}};
        for (const auto& [name, bit] : names) {
          if (in.buttons & bit) d[name] = true;
        }
        if (in.view_tick) d["view_tick"] = *in.view_tick;
        if (in.ack) d["ack"] = *in.ack;
        ASSERT_TRUE(as_json.input(p, d));
        const std::string bytes = arena::encode_input(in);
        ASSERT_EQ(as_bytes.f->binary_input_type(bytes), "arena.input");
        as_bytes.m->on_binary_input(*as_bytes.room, p, bytes);
      }
      // Some clients acknowledge in arena.ack of their own: the round trip it measures bounds
      // the lag compensation of later shots, and the base of later deltas.
      if (t > 2 && r() % 3 == 0) {
        const auto tick = static_cast<std::uint32_t>(t - r() % 2);
        ASSERT_TRUE(as_json.room->act(*as_json.f, *as_json.m, p, "arena.ack", {{"tick", tick}}));
        const std::string bytes = arena::encode_ack(tick);
        ASSERT_EQ(as_bytes.f->binary_input_type(bytes), "arena.ack");
        as_bytes.m->on_binary_input(*as_bytes.room, p, bytes);
      }
      const epoch_ms later = static_cast<epoch_ms>(r() % 3);  // acks measure a round trip
      as_json.room->advance(later);
      as_bytes.room->advance(later);
    }
    as_json.tick();
    as_bytes.tick();
  }
  EXPECT_EQ(as_bytes.sim->digest(), as_json.sim->digest());
  EXPECT_EQ(as_bytes.counters->inputs.load(), as_json.counters->inputs.load());
  EXPECT_GT(as_json.counters->inputs.load(), 500u);
  for (std::size_t i = 0; i < as_json.counters->dropped.size(); ++i)
    EXPECT_EQ(as_bytes.counters->dropped[i].load(), as_json.counters->dropped[i].load()) << i;
  EXPECT_GT(as_json.counters->dropped_of(input_drop::duplicate), 0u);
  for (player_id p = 1; p <= 3; ++p) {
    auto js = as_json.states(p);
    auto bs = as_bytes.states(p);
    ASSERT_EQ(bs.size(), js.size()) << p;
    for (std::size_t i = 0; i < js.size(); ++i)
      ASSERT_EQ(json::serialize(bs[i]), json::serialize(js[i])) << "player " << p << " state " << i;
  }
  std::size_t deltas = 0;
  for (const auto& st : as_json.states(1))
    deltas += st.at("base").as_int64() != 0;
  EXPECT_GT(deltas, 10u) << "the acks made states deltas";
}

TEST(ArenaBinary, BinaryClientsGetBinaryStatesEqualToTheJsonOnes) {
  game g(2, {{"view_radius", 5000}});
  g.room->set_binary(2);
  std::uint32_t seq = 0;
  for (int t = 0; t < 60; ++t) {
    ASSERT_TRUE(g.input(1, {{"seq", ++seq}, {"right", t % 20 < 10}, {"left", t % 20 >= 10}}));
    g.tick();
  }
  EXPECT_TRUE(g.states(2).empty()) << "no JSON state for a binary client";
  const auto& bins = g.room->binary_inbox[2];
  ASSERT_FALSE(bins.empty());
  std::size_t json_bytes = 0, bin_bytes = 0;
  arena::view v2;
  for (const auto& b : bins) {
    bin_bytes += b.size();
    auto d = arena::decode_binary(b);
    ASSERT_TRUE(d) << d.error().message;
    ASSERT_EQ(d->at("base").as_int64(), 0) << "never acknowledged: every state is full";
    auto v = arena::apply_state(nullptr, *d);
    ASSERT_TRUE(v);
    v2 = *v;
  }
  for (const auto& j : g.states(1))
    json_bytes += json::serialize(j).size();
  EXPECT_EQ(v2.ents[arena::k_player].size(), 2u);
  EXPECT_LT(bin_bytes * 3, json_bytes) << "binary is far smaller";
}

TEST(ArenaMode, SettingsAreCheckedByName) {
  auto f = make_arena_mode_factory();
  EXPECT_TRUE(f->validate_settings({}));
  auto bad = f->validate_settings({{"hz", 1000}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, errc::bad_field);
  EXPECT_NE(bad.error().message.find("hz"), std::string::npos);
  EXPECT_FALSE(f->validate_settings({{"speed", 5}})) << "no setting makes a player faster";
  EXPECT_FALSE(f->validate_settings({{"hz", "30"}}));
}

}  // namespace
}  // namespace maratang::modes
