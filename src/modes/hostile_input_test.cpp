// Hostile input to every game mode: every request type of every mode, in every phase, from every
// kind of sender (each role, the dead, a spectator, a stranger), with each field missing, null,
// of every wrong JSON type, empty, huge, negative and out of range. The mode must answer each with
// a reply or a public error: never throw (which would end the game for everyone) and never answer
// `internal`. The messages go through the same check the real room applies (fake_room::act).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
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
using lobby::player_id;
using lobby::testing::fake_room;

constexpr player_id first_id = 101;
constexpr player_id stranger = 999'999;

// Values of every JSON type and the edges of each, for any field.
std::vector<json::value> hostile_values(const std::vector<player_id>& ids) {
  std::vector<json::value> v;
  v.emplace_back(nullptr);
  v.emplace_back("");
  v.emplace_back(" ");
  v.emplace_back(std::string(100'000, 'x'));
  v.emplace_back("\xED\x95\x9C\xEA\xB8\x80");  // "한글"
  for (std::int64_t n : {std::int64_t{0}, std::int64_t{-1}, std::int64_t{1}, INT64_MIN, INT64_MAX})
    v.emplace_back(n);
  v.emplace_back(UINT64_MAX);
  v.emplace_back(std::uint64_t{INT64_MAX});
  for (double d : {1.5, -0.0, 1e300})
    v.emplace_back(d);
  v.emplace_back(true);
  v.emplace_back(false);
  v.emplace_back(json::object{});
  v.emplace_back(json::object{{"a", 1}});
  v.emplace_back(json::array{});
  v.emplace_back(json::array{1, "two", nullptr});
  for (player_id p : ids)
    v.emplace_back(p);
  v.emplace_back(std::to_string(ids.front()));
  v.emplace_back(-ids.front());
  return v;
}

// A plausible value of the field's type, so that the other fields are checked too.
json::value plausible(const proto::field_spec& f, player_id someone) {
  switch (f.type) {
    case proto::field_type::string:
      return f.name == "kind" ? "offer" : f.name == "verb" ? "look" : "look";
    case proto::field_type::integer:
      return f.name == "n" ? json::value(1) : json::value(someone);
    case proto::field_type::boolean:
      return true;
    case proto::field_type::object:
      return json::object{};
    case proto::field_type::array:
      return json::array{};
    case proto::field_type::any:
      return nullptr;
  }
  return nullptr;
}

// Every data object to send for one request type.
std::vector<json::object> mutations(const proto::message_spec& spec,
                                    const std::vector<player_id>& ids) {
  std::vector<json::object> out;
  out.emplace_back();  // nothing at all
  const auto values = hostile_values(ids);
  for (player_id someone : ids) {
    json::object base;
    for (const auto& f : spec.fields)
      base[f.name] = plausible(f, someone);
    out.push_back(base);
    if (someone != ids.front()) continue;  // the rest once, around the first id
    for (const auto& f : spec.fields) {
      auto without = base;
      without.erase(f.name);
      out.push_back(std::move(without));
      for (const auto& v : values) {
        auto o = base;
        o[f.name] = v;
        out.push_back(std::move(o));
      }
    }
    // An unknown field beside valid ones is ignored.
    auto extra = base;
    extra["surprise"] = json::array{json::object{{"x", nullptr}}};
    out.push_back(std::move(extra));
  }
  return out;
}

struct fuzz_stats {
  std::size_t sent = 0;
  std::size_t refused = 0;
  std::set<std::string> phases;  // phases (or states) in which messages were sent
};

// Sends every mutation of every request of `f` from every sender, once.
void barrage(const lobby::mode_factory& f, lobby::mode& m, fake_room& room,
             const std::vector<player_id>& senders, const std::vector<player_id>& ids,
             const std::string& phase, fuzz_stats& st, std::set<std::string_view> skip = {}) {
  for (const auto& spec : f.messages()) {
    if (spec.dir != proto::direction::request || skip.count(spec.type)) continue;
    for (const auto& data : mutations(spec, ids)) {
      for (player_id from : senders) {
        if (room.ended()) return;
        st.phases.insert(phase);
        ++st.sent;
        result<json::object> r = json::object{};
        try {
          r = room.act(f, m, from, spec.type, data);
        } catch (const std::exception& e) {
          FAIL() << spec.type << " from " << from << " in " << phase << " with "
                 << json::serialize(data) << " threw: " << e.what();
        }
        if (!r) {
          ++st.refused;
          ASSERT_NE(r.error().code, errc::internal)
              << spec.type << " from " << from << " in " << phase << " with "
              << json::serialize(data) << ": " << r.error().message;
          ASSERT_FALSE(r.error().message.empty()) << spec.type;
        }
      }
    }
  }
}

std::vector<lobby::member_info> seated(int players, std::vector<player_id>& ids) {
  std::vector<lobby::member_info> members;
  for (int i = 0; i < players; ++i) {
    members.push_back({first_id + i, "p" + std::to_string(i), true, false});
    ids.push_back(first_id + i);
  }
  return members;
}

// Moves a Mafia game on from the phase `attacked` (unless the barrage already did): in the vote
// the town names one player (ending the vote at once), in the verdict it executes them; other
// phases run out their timer.
void steer(const lobby::mode_factory& f, lobby::mode& m, fake_room& room,
           std::string_view attacked) {
  const auto view = m.view(first_id);
  const std::string_view phase = view.at("phase").as_string();
  if (phase != attacked) return;
  if (phase != "vote" && phase != "verdict") {
    room.fire_next_timer(m);
    return;
  }
  std::vector<player_id> alive;
  for (const auto& v : view.at("players").as_array()) {
    if (v.at("alive").as_bool()) alive.push_back(v.at("player").as_int64());
  }
  if (alive.size() < 2) return;
  for (player_id p : alive) {
    if (phase == "vote") {
      (void)room.act(f, m, p, "mafia.vote", {{"target", p == alive[0] ? alive[1] : alive[0]}});
    } else if (phase == "verdict") {
      (void)room.act(f, m, p, "mafia.verdict", {{"yes", true}});
    }
  }
}

TEST(hostile_input_test, mafia_never_throws_nor_answers_internal_in_any_phase) {
  auto factory = make_mafia_mode_factory(4, 12);
  fuzz_stats st;
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    std::vector<player_id> ids;
    auto members = seated(8, ids);
    auto room = std::make_unique<fake_room>(std::move(members), seed);
    room->add_spectator(ids.back() + 1, "watcher");
    auto senders = ids;
    senders.push_back(ids.back() + 1);
    senders.push_back(stranger);
    auto settings =
        factory->validate_settings({{"roles", {{"mafia", 2}, {"doctor", 1}, {"police", 1}}}})
            .value();
    auto mode = factory->create(settings);
    mode->on_start(*room);
    for (int step = 0; step < 40 && !room->ended(); ++step) {
      const auto view = mode->view(first_id);
      std::string phase(view.at("phase").as_string());
      // In the vote, one living player holds out, so that the barrage's abstentions cannot end
      // the vote before the town names someone (which is how the later phases come).
      auto attackers = senders;
      if (phase == "vote") {
        for (const auto& v : view.at("players").as_array()) {
          if (v.at("alive").as_bool()) std::erase(attackers, v.at("player").as_int64());
          if (attackers.size() < senders.size()) break;
        }
      }
      barrage(*factory, *mode, *room, attackers, ids, phase, st);
      if (HasFatalFailure()) return;
      // Chat in every channel state, and a view for everyone, must hold up too.
      for (player_id p : senders) {
        EXPECT_NO_THROW((void)mode->on_chat(*room, p, std::string(500, 'c')));
        EXPECT_NO_THROW((void)mode->view(p));
      }
      // Then on to the next phase, so that every phase comes.
      steer(*factory, *mode, *room, phase);
    }
  }
  // Every phase of the game was attacked.
  for (std::string phase : {"day", "vote", "defense", "verdict", "night"})
    EXPECT_TRUE(st.phases.count(phase)) << "no message was sent in phase " << phase;
  EXPECT_GT(st.refused, 0u);
  RecordProperty("sent", static_cast<int>(st.sent));
}

TEST(hostile_input_test, mystery_never_throws_nor_answers_internal) {
  auto svc = std::make_shared<mystery::mystery_services>();
  for (auto& r :
       mystery::load_scenarios(std::filesystem::path(MARATANG_SOURCE_DIR) / "scenarios")) {
    ASSERT_TRUE(r.scn) << r.folder;
    svc->scenarios[r.scn->id] = r.scn;
  }
  svc->turn_ms = 60'000;
  auto factory = mystery::make_mystery_mode_factory(svc);
  fuzz_stats st;
  for (const auto& [id, scn] : svc->scenarios) {
    std::vector<player_id> ids;
    auto room = std::make_unique<fake_room>(seated(2, ids), 7);
    room->add_spectator(ids.back() + 1, "watcher");
    auto senders = ids;
    senders.push_back(ids.back() + 1);
    senders.push_back(stranger);
    auto mode = factory->create(factory->validate_settings({{"scenario", id}}).value());
    mode->on_start(*room);
    for (int turn = 0; turn < 3 && !room->ended(); ++turn) {
      barrage(*factory, *mode, *room, senders, ids, "playing", st);
      if (HasFatalFailure()) return;
      room->fire_next_timer(*mode);  // the turn passes
    }
  }
  EXPECT_TRUE(st.phases.count("playing"));
  EXPECT_GT(st.refused, 0u);
}

TEST(hostile_input_test, counter_fixture_never_answers_internal) {
  auto factory = make_counter_mode_factory();
  std::vector<player_id> ids;
  fake_room room(seated(2, ids), 3);
  auto mode = factory->create(factory->validate_settings({}).value());
  mode->on_start(room);
  fuzz_stats st;
  auto senders = ids;
  senders.push_back(stranger);
  // test.counter.crash throws by design (it tests the room's crash path); the finish message
  // ends the game, so it is sent last.
  barrage(*factory, *mode, room, senders, ids, "playing", st,
          {"test.counter.crash", "test.counter.later", "test.counter.finish"});
  EXPECT_GT(st.sent, 0u);
}

// Arena: the barrage between ticks, from players, a spectator, a stranger and (later) the dead.
// Nothing throws or answers internal, and the game keeps ticking for everyone.
TEST(hostile_input_test, arena_never_throws_nor_answers_internal) {
  auto counters = std::make_shared<arena_counters>();
  auto factory = make_arena_mode_factory({nullptr, nullptr, counters});
  std::vector<player_id> ids;
  fake_room room(seated(4, ids), 5);
  room.add_spectator(ids.back() + 1, "watcher");
  auto senders = ids;
  senders.push_back(ids.back() + 1);
  senders.push_back(stranger);
  auto mode = factory->create(factory->validate_settings({}).value());
  mode->on_start(room);
  const arena::sim* s = arena_sim_of(*mode);
  ASSERT_NE(s, nullptr);
  fuzz_stats st;
  for (int round = 0; round < 3; ++round) {
    barrage(*factory, *mode, room, senders, ids, "playing", st);
    if (HasFatalFailure()) return;
    for (int i = 0; i < 10; ++i)
      EXPECT_NO_THROW(mode->on_tick(room));
    for (player_id p : senders)
      EXPECT_NO_THROW((void)mode->view(p));
  }
  EXPECT_FALSE(room.ended());
  EXPECT_EQ(s->tick(), 30u);
  EXPECT_GT(st.refused, 0u);
  EXPECT_GT(counters->dropped_of(input_drop::spectator), 0u);
  EXPECT_GT(counters->dropped_of(input_drop::duplicate), 0u);
  EXPECT_GT(counters->inputs.load(), 0u);
}

}  // namespace
}  // namespace maratang::modes
