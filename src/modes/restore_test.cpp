// Rooms outlive their process (issue 16): every mode's game, serialized at every step of a
// scripted game (each phase and play of Mafia, each command and turn of Mystery, ticks of Arena,
// the test counter) and restored into a new instance in a new room, plays on exactly as the
// original. Both copies are then driven with the same further inputs and timers, and must send
// every member the same events, keep the same action log, show every member the same view, and
// end with the same result and record. The checker is itself checked: a state with one field
// emptied must be caught.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <numbers>
#include <set>

#include "lobby/fake_room.hpp"
#include "modes/arena/arena_mode.hpp"
#include "modes/arena/sim.hpp"
#include "modes/mafia/mafia_mode.hpp"
#include "modes/mystery/loader.hpp"
#include "modes/mystery/mystery_mode.hpp"
#include "modes/testing/counter_mode.hpp"

namespace maratang::modes {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;
using lobby::member_info;
using lobby::player_id;
using lobby::testing::fake_room;

using step_fn = std::function<void(fake_room&, lobby::mode&)>;
using mutate_fn = std::function<void(json::object&)>;

struct script {
  const lobby::mode_factory* f = nullptr;
  json::object settings;  // validated
  std::vector<member_info> members;
  std::uint64_t seed = 7;
  std::vector<step_fn> steps;
};

struct copy {
  std::unique_ptr<fake_room> room;
  std::unique_ptr<lobby::mode> m;
};

// What one member received from `from` on, without the room's global sequence numbers (which
// count sends, not what a member sees).
std::vector<std::pair<std::string, json::object>> received_since(const fake_room& r, player_id p,
                                                                 std::size_t from) {
  std::vector<std::pair<std::string, json::object>> out;
  auto it = r.inbox.find(p);
  if (it == r.inbox.end()) return out;
  for (std::size_t i = from; i < it->second.size(); ++i)
    out.emplace_back(it->second[i].type, it->second[i].data);
  return out;
}

std::vector<std::pair<std::string, json::object>> log_since(const fake_room& r, std::size_t from) {
  std::vector<std::pair<std::string, json::object>> out;
  for (std::size_t i = from; i < r.action_log().size(); ++i)
    out.emplace_back(r.action_log()[i].type, r.action_log()[i].data);
  return out;
}

// Where the original and its restored copy first differ after the game is snapshotted before
// step `k` ("" when they never do). `mutate` alters the serialized state before the restore.
std::string diverges(const script& s, std::size_t k, const mutate_fn& mutate = {}) {
  copy a;
  a.room = std::make_unique<fake_room>(s.members, s.seed);
  a.m = s.f->create(s.settings);
  a.m->on_start(*a.room);
  for (std::size_t i = 0; i < k && !a.room->ended(); ++i)
    s.steps[i](*a.room, *a.m);
  if (a.room->ended()) return "";  // nothing left to restore

  // Through JSON text, as storage holds it.
  json::object state = a.m->serialize();
  if (!state.contains("v")) return "the state has no version";
  state = json::parse(json::serialize(state)).as_object();
  if (mutate) mutate(state);
  auto restored = s.f->restore(s.settings, state);
  if (!restored) return "restore failed: " + restored.error().message;
  copy b;
  b.room = std::make_unique<fake_room>(std::vector<member_info>{}, 0);
  b.room->take_world_of(*a.room);
  b.m = std::move(*restored);
  b.m->on_restore(*b.room);
  if (!b.room->inbox.empty() || !b.room->public_events().empty())
    return "on_restore sent something";
  if (!mutate && json::serialize(b.m->serialize()) != json::serialize(a.m->serialize()))
    return "the restored state serializes differently";

  // Every member reconnects to a restored game; the original's members do the same, so that
  // both copies start from what a reconnect resets (e.g. Arena's snapshot histories).
  for (const auto& mi : a.room->members()) {
    if (!mi.connected) continue;
    a.m->on_reconnect(*a.room, mi.id);
    b.m->on_reconnect(*b.room, mi.id);
  }
  std::map<player_id, std::size_t> mark_a, mark_b;
  for (const auto& mi : a.room->members()) {
    mark_a[mi.id] = a.room->inbox[mi.id].size();
    mark_b[mi.id] = b.room->inbox[mi.id].size();
  }
  const std::size_t log_mark = a.room->action_log().size();
  const std::size_t log_mark_b = b.room->action_log().size();

  auto compare = [&](std::size_t at) -> std::string {
    std::string where =
        " (snapshot before step " + std::to_string(k) + ", after step " + std::to_string(at) + ")";
    for (const auto& mi : a.room->members()) {
      auto ea = received_since(*a.room, mi.id, mark_a[mi.id]);
      auto eb = received_since(*b.room, mi.id, mark_b[mi.id]);
      if (ea != eb) {
        std::size_t i = 0;
        while (i < ea.size() && i < eb.size() && ea[i] == eb[i])
          ++i;
        return "events to " + std::to_string(mi.id) + " differ at #" + std::to_string(i) + ": " +
               (i < ea.size() ? ea[i].first + json::serialize(ea[i].second) : "(none)") + " vs " +
               (i < eb.size() ? eb[i].first + json::serialize(eb[i].second) : "(none)") + where;
      }
      if (a.m->view(mi.id) != b.m->view(mi.id))
        return "views of " + std::to_string(mi.id) + " differ" + where;
    }
    if (log_since(*a.room, log_mark) != log_since(*b.room, log_mark_b))
      return "action logs differ" + where;
    if (a.room->ended() != b.room->ended()) return "one copy ended, the other not" + where;
    if (a.room->ended()) {
      if (a.room->record() != b.room->record()) return "records differ" + where;
      if (a.room->result_data() != b.room->result_data()) return "results differ" + where;
    } else if (json::serialize(a.m->serialize()) != json::serialize(b.m->serialize())) {
      return "states differ" + where;
    }
    if (a.room->next_timer_at() != b.room->next_timer_at()) return "timers differ" + where;
    if (a.room->tick_hz() != b.room->tick_hz()) return "ticks differ" + where;
    return "";
  };
  if (auto d = compare(k); !d.empty()) return d;
  for (std::size_t i = k; i < s.steps.size() && !a.room->ended(); ++i) {
    s.steps[i](*a.room, *a.m);
    s.steps[i](*b.room, *b.m);
    if (auto d = compare(i + 1); !d.empty()) return d;
  }
  if (!a.room->ended()) return "the script did not end the game";
  return "";
}

// Plays the whole script with a snapshot before each step in `points` (all steps when empty).
void expect_round_trips(const script& s, std::vector<std::size_t> points = {}) {
  if (points.empty()) {
    for (std::size_t k = 0; k <= s.steps.size(); ++k)
      points.push_back(k);
  }
  for (std::size_t k : points) {
    SCOPED_TRACE("snapshot before step " + std::to_string(k));
    EXPECT_EQ(diverges(s, k), "");
  }
}

// The game's state as of step k (for choosing where to test a mutation).
json::object state_at(const script& s, std::size_t k) {
  fake_room r(s.members, s.seed);
  auto m = s.f->create(s.settings);
  m->on_start(r);
  for (std::size_t i = 0; i < k && !r.ended(); ++i)
    s.steps[i](r, *m);
  return m->serialize();
}

std::vector<member_info> players(int n, player_id first = 1) {
  std::vector<member_info> out;
  for (int i = 0; i < n; ++i)
    out.push_back({first + i, "p" + std::to_string(i + 1), true, false});
  return out;
}

step_fn fire_timer() {
  return [](fake_room& r, lobby::mode& m) { r.fire_next_timer(m); };
}

// --- The test counter ----------------------------------------------------------------------------

TEST(Restore, counter_plays_on_after_every_step) {
  auto f = make_counter_mode_factory();
  script s{f.get(), f->validate_settings({{"end_after_ms", 5000}}).value(), players(3), 7, {}};
  for (int i = 0; i < 6; ++i) {
    s.steps.push_back([i](fake_room& r, lobby::mode& m) {
      r.advance(300);
      (void)r.act(*make_counter_mode_factory(), m, 1 + i % 3, "test.counter.add", {{"n", i + 1}});
    });
  }
  s.steps.push_back(fire_timer());
  expect_round_trips(s);
  EXPECT_NE(diverges(s, 3, [](json::object& st) { st["total"] = 0; }), "")
      << "a lost total must be caught";
}

// --- Mafia ---------------------------------------------------------------------------------------

struct mafia_seat {
  player_id id;
  std::string role;
  bool alive;
};

// The seats as one (any) member's view tells them; roles from the dead's view are not needed:
// each member's own view names its role.
std::vector<mafia_seat> mafia_seats(const fake_room& r, const lobby::mode& m) {
  std::vector<mafia_seat> out;
  for (const auto& mi : r.members()) {
    if (mi.spectator) continue;
    auto v = m.view(mi.id);
    bool alive = v.at("me").at("alive").as_bool();
    out.push_back({mi.id, std::string(v.at("me").at("role").as_string()), alive});
  }
  return out;
}

std::string mafia_phase(const lobby::mode& m) {
  return std::string(m.view(0).at("phase").as_string());
}

// Living player `nth` (in seat order) acts in the current phase as a scripted town would: the
// vote goes to the first living non-mafia other than the voter (so the town executes), verdicts
// say yes, the mafia kill the first living non-mafia, the doctor heals the last living player,
// the police investigate the first other living player.
step_fn mafia_play(std::size_t nth) {
  return [nth](fake_room& r, lobby::mode& m) {
    static const auto f = make_mafia_mode_factory();
    auto seats = mafia_seats(r, m);
    std::vector<mafia_seat> alive;
    for (const auto& s : seats) {
      if (s.alive) alive.push_back(s);
    }
    if (nth >= alive.size()) return;
    const auto& me = alive[nth];
    auto phase = mafia_phase(m);
    auto first_other = [&](bool non_mafia) -> player_id {
      for (const auto& s : alive) {
        if (s.id != me.id && (!non_mafia || s.role != "mafia")) return s.id;
      }
      return 0;
    };
    if (phase == "vote") {
      if (auto t = first_other(true)) (void)r.act(*f, m, me.id, "mafia.vote", {{"target", t}});
    } else if (phase == "verdict") {
      (void)r.act(*f, m, me.id, "mafia.verdict", {{"yes", true}});
    } else if (phase == "night") {
      if (me.role == "mafia") {
        if (auto t = first_other(true)) (void)r.act(*f, m, me.id, "mafia.kill", {{"target", t}});
      } else if (me.role == "doctor") {
        (void)r.act(*f, m, me.id, "mafia.heal", {{"target", alive.back().id}});
      } else if (me.role == "police") {
        if (auto t = first_other(false))
          (void)r.act(*f, m, me.id, "mafia.investigate", {{"target", t}});
      }
    } else {
      (void)r.chat(m, me.id, "line " + std::to_string(nth) + " in " + phase);
    }
  };
}

script mafia_script(const lobby::mode_factory& f, int n) {
  script s{&f,
           f.validate_settings({{"day_ms", 1000},
                                {"vote_ms", 1000},
                                {"defense_ms", 1000},
                                {"verdict_ms", 1000},
                                {"night_ms", 1000},
                                {"reveal_on_death", true}})
               .value(),
           players(n, 11),
           7,
           {}};
  // Rounds of: every living player acts in the current phase, then again in whatever phase that
  // led to (a full vote or verdict ends its phase early), then the phase's deadline passes. So a
  // day is talked through, a vote and its verdict are cast, a night's picks are made, and the game
  // ends within a few days.
  for (int round = 0; round < 12; ++round) {
    for (int twice = 0; twice < 2; ++twice) {
      for (int i = 0; i < n; ++i)
        s.steps.push_back(mafia_play(static_cast<std::size_t>(i)));
    }
    s.steps.push_back(fire_timer());
  }
  return s;
}

TEST(Restore, mafia_plays_on_from_every_phase_and_every_play) {
  auto f = make_mafia_mode_factory();
  auto s = mafia_script(*f, 6);
  // The script reaches every phase, and the game ends within it.
  std::set<std::string> phases;
  for (std::size_t k = 0; k <= s.steps.size(); ++k) {
    auto st = state_at(s, k);
    phases.insert(std::string(st.at("phase").as_string()));
  }
  EXPECT_EQ(phases, (std::set<std::string>{"day", "vote", "defense", "verdict", "night", "over"}));
  expect_round_trips(s);
}

TEST(Restore, mafia_checker_catches_a_lost_field) {
  auto f = make_mafia_mode_factory();
  auto s = mafia_script(*f, 6);
  // A snapshot in the middle of the first vote: some votes are in.
  std::size_t k = 0;
  while (k < s.steps.size() && state_at(s, k).at("votes").as_array().size() < 2)
    ++k;
  ASSERT_LT(k, s.steps.size());
  EXPECT_EQ(diverges(s, k), "");
  EXPECT_NE(diverges(s, k, [](json::object& st) { st["votes"] = json::array{}; }), "");
  EXPECT_NE(diverges(s, k, [](json::object& st) { st["ends_at"] = st["ends_at"].as_int64() + 1; }),
            "")
      << "a deadline moved by 1 ms must be caught";
  EXPECT_NE(diverges(s, 0,
                     [](json::object& st) {
                       auto& role = st["seats"].as_array()[0].as_object()["role"];
                       role = role.as_string() == std::string_view("mafia") ? "citizen" : "mafia";
                     }),
            "")
      << "a role dealt differently must be caught";
}

TEST(Restore, a_state_that_does_not_fit_is_an_error_not_a_throw) {
  auto f = make_mafia_mode_factory();
  auto settings = f->validate_settings({}).value();
  EXPECT_FALSE(f->restore(settings, {}));
  EXPECT_FALSE(f->restore(settings, {{"v", 99}}));
  auto s = mafia_script(*f, 5);
  auto st = state_at(s, 3);
  st["phase"] = "lunch";
  EXPECT_FALSE(f->restore(settings, st));
}

// --- Arena ---------------------------------------------------------------------------------------

// Each living player walks towards the nearest other and shoots at it; the inputs depend only on
// the game's state and the step, so both copies get the same.
step_fn arena_tick(int i) {
  return [i](fake_room& r, lobby::mode& m) {
    static const auto f = make_arena_mode_factory({});
    const arena::sim* sim = arena_sim_of(m);
    for (const auto& [id, p] : sim->players()) {
      if (!p.alive) continue;
      const arena::player* target = nullptr;
      std::int64_t best = 0;
      for (const auto& [oid, o] : sim->players()) {
        if (oid == id || !o.alive) continue;
        std::int64_t dx = o.pos.x - p.pos.x, dy = o.pos.y - p.pos.y;
        if (!target || dx * dx + dy * dy < best) {
          target = &o;
          best = dx * dx + dy * dy;
        }
      }
      json::object in{{"seq", i + 1}};
      if (target) {
        double a = std::atan2(target->pos.y - p.pos.y, target->pos.x - p.pos.x);
        if (a < 0) a += 2 * std::numbers::pi;
        in["aim"] = static_cast<std::int64_t>(a / (2 * std::numbers::pi) * 65536) % 65536;
        in["fire"] = true;
        in[target->pos.x > p.pos.x ? "right" : "left"] = (i + id) % 3 != 0;
        in[target->pos.y > p.pos.y ? "down" : "up"] = (i + id) % 2 == 0;
      }
      if (i % 5 == 0) in["ack"] = std::max<std::int64_t>(1, sim->tick());
      (void)r.act(*f, m, id, "arena.input", in);
    }
    r.advance(33);
    m.on_tick(r);
  };
}

TEST(Restore, arena_plays_on_from_ticks_across_a_match) {
  auto f = make_arena_mode_factory({});
  script s{f.get(),
           f->validate_settings({{"time_limit_s", 8}, {"score_limit", 3}}).value(),
           players(3, 21),
           7,
           {}};
  for (int i = 0; i < 8 * 30 + 5; ++i)
    s.steps.push_back(arena_tick(i));
  // Several ticks, among them ones with bullets in flight and a dead player waiting to respawn.
  std::vector<std::size_t> points{0, 1, 17, 30, 61};
  for (std::size_t k = 62; k < s.steps.size(); k += 29) {
    auto st = state_at(s, k);
    if (st.at("sim").at("bullets").as_array().empty() && k % 2) continue;
    points.push_back(k);
  }
  bool some_bullets = false, someone_dead = false;
  for (std::size_t k : points) {
    auto st = state_at(s, k);
    if (!st.contains("sim") || !st.at("sim").is_object() || st.at("sim").as_object().empty())
      continue;
    some_bullets |= !st.at("sim").at("bullets").as_array().empty();
    for (const auto& p : st.at("sim").at("players").as_array())
      someone_dead |= !p.at("alive").as_bool();
  }
  EXPECT_TRUE(some_bullets);
  EXPECT_TRUE(someone_dead);
  expect_round_trips(s, points);
  // The checker sees a lost bullet and a changed random source.
  std::size_t with_bullets = 0;
  for (std::size_t k : points) {
    if (!with_bullets && !state_at(s, k).at("sim").at("bullets").as_array().empty())
      with_bullets = k;
  }
  ASSERT_NE(with_bullets, 0u);
  EXPECT_NE(diverges(s, with_bullets,
                     [](json::object& st) { st["sim"].as_object()["bullets"] = json::array{}; }),
            "");
}

// --- Mystery ------------------------------------------------------------------------------------

std::shared_ptr<mystery::mystery_services> mystery_services() {
  auto svc = std::make_shared<mystery::mystery_services>();
  for (auto& r : mystery::load_scenarios(fs::path(MARATANG_SOURCE_DIR) / "scenarios")) {
    if (r.scn) svc->scenarios[r.scn->id] = r.scn;
  }
  svc->turn_ms = 60'000;
  return svc;
}

TEST(Restore, mystery_plays_on_from_every_command_solo_and_every_turn_in_a_group) {
  auto svc = mystery_services();
  auto f = mystery::make_mystery_mode_factory(svc);
  for (const auto& [scenario, walk] :
       {std::pair{"gull_rock", "light_holds"}, std::pair{"hanok_night", "dawn"}}) {
    auto cmds = mystery::read_walkthrough(fs::path(MARATANG_SOURCE_DIR) / "scenarios" / scenario /
                                          "walkthroughs" / (std::string(walk) + ".txt"));
    ASSERT_FALSE(cmds.empty());
    // Solo: every command.
    {
      SCOPED_TRACE(std::string(scenario) + " solo");
      script s{
          f.get(), f->validate_settings({{"scenario", scenario}}).value(), players(1, 101), 7, {}};
      for (const auto& c : cmds) {
        s.steps.push_back([c, fac = f.get()](fake_room& r, lobby::mode& m) {
          (void)r.act(*fac, m, 101, "mystery.act", {{"text", c}});
        });
      }
      expect_round_trips(s);
    }
    // Two players and a spectator, in turns: whoever's turn it is plays the next command, and now
    // and then a turn runs out.
    {
      SCOPED_TRACE(std::string(scenario) + " group");
      auto members = players(2, 101);
      members.push_back({900, "watcher", true, true});
      script s{f.get(),
               f->validate_settings({{"scenario", scenario}, {"turn_ms", 5000}}).value(),
               members,
               7,
               {}};
      for (std::size_t i = 0; i < cmds.size(); ++i) {
        if (i % 7 == 3) s.steps.push_back(fire_timer());
        s.steps.push_back([c = cmds[i], fac = f.get()](fake_room& r, lobby::mode& m) {
          auto turn = m.view(101).at("turn").as_int64();
          if (turn == 0) return;
          r.advance(1000);
          (void)r.act(*fac, m, turn, "mystery.act", {{"text", c}});
        });
      }
      // Then a few turns run out, and the players quit one after the other (if the game has not
      // ended by then), which ends it.
      for (int i = 0; i < 3; ++i)
        s.steps.push_back(fire_timer());
      for (player_id p : {101, 102}) {
        s.steps.push_back([p, fac = f.get()](fake_room& r, lobby::mode& m) {
          (void)r.act(*fac, m, p, "mystery.do", {{"verb", "quit"}});
        });
      }
      expect_round_trips(s);
    }
  }
}

}  // namespace
}  // namespace maratang::modes
