// The Mafia mode over real sockets: a scripted game from start to the stored record, the vote's
// deadline, reconnecting mid-night, leaving mid-game, the dead chat, bad input, and a leak run of
// seeded bot games in which no client may ever receive what its player is not entitled to see.
//
// Roles are dealt by the room's seeded random source; the tests learn them from each player's own
// mafia.role and script the game around them, so they do not depend on the shuffle.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <algorithm>
#include <atomic>
#include <cctype>
#include <csignal>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "harness.hpp"
#include "store/sqlite/sqlite_backend.hpp"

namespace maratang::it {
namespace {

// --- Frames --------------------------------------------------------------------------------------

std::string type_of(const json::object& f) {
  auto* t = f.if_contains("type");
  return t && t->is_string() ? std::string(t->get_string()) : std::string();
}

bool is_event(const json::object& f, std::string_view type) {
  return type_of(f) == type && !f.contains("id");
}

// Chat lines carry unique tokens so that any copy of them can be found in any frame.
std::atomic<int> token_counter{0};
std::string fresh_token() {
  return fmt::format("tok_{}", 1000 + token_counter.fetch_add(1));
}

std::vector<std::string> tokens_in(std::string_view s) {
  std::vector<std::string> out;
  for (auto pos = s.find("tok_"); pos != std::string_view::npos; pos = s.find("tok_", pos + 1)) {
    auto end = pos + 4;
    while (end < s.size() && std::isdigit(static_cast<unsigned char>(s[end])))
      ++end;
    if (end > pos + 4) out.emplace_back(s.substr(pos, end - pos));
  }
  return out;
}

void walk(const json::value& v, const std::function<void(const json::object&)>& on_object,
          const std::function<void(std::string_view)>& on_string) {
  if (v.is_object()) {
    on_object(v.get_object());
    for (const auto& kv : v.get_object())
      walk(kv.value(), on_object, on_string);
  } else if (v.is_array()) {
    for (const auto& e : v.get_array())
      walk(e, on_object, on_string);
  } else if (v.is_string()) {
    on_string(v.get_string());
  }
}

bool history_mentions(const ws_client& ws, std::string_view text) {
  for (const auto& f : ws.history()) {
    if (json::serialize(f).find(text) != std::string::npos) return true;
  }
  return false;
}

// --- The leak checker ----------------------------------------------------------------------------

// The channel of every chat token, as labelled in the chat lines that carried it.
std::map<std::string, std::string> chat_channels(
    const std::vector<const std::vector<json::object>*>& all, std::vector<std::string>& problems) {
  std::map<std::string, std::string> out;
  for (const auto* frames : all) {
    for (const auto& f : *frames) {
      walk(
          f,
          [&](const json::object& o) {
            auto* ch = o.if_contains("channel");
            auto* text = o.if_contains("text");
            if (!ch || !text || !ch->is_string() || !text->is_string()) return;
            for (const auto& tok : tokens_in(text->get_string())) {
              auto [it, fresh] = out.emplace(tok, std::string(ch->get_string()));
              if (!fresh && it->second != ch->get_string())
                problems.push_back(fmt::format("chat token {} labelled both {} and {}", tok,
                                               it->second, std::string(ch->get_string())));
            }
          },
          [](std::string_view) {});
    }
  }
  return out;
}

struct receiver {
  std::int64_t id = 0;
  bool spectator = false;
  std::string name;
  const std::vector<json::object>* frames = nullptr;
};

// Walks one client's frames in the order received and reports everything it was not entitled to:
// another player's role (unless the receiver is dead, or is mafia and the other is mafia), a kill
// pick (unless mafia), a heal pick (unless doctor), an investigation (unless police), every role, a
// mafia-channel line (unless mafia) or a dead-channel line (unless a spectator) while alive.
// room.game_ended reveals every role by design and is not checked.
std::vector<std::string> find_leaks(const receiver& r,
                                    const std::map<std::int64_t, std::string>& roles,
                                    const std::map<std::string, std::string>& channels) {
  std::vector<std::string> out;
  std::string my_role;
  bool dead = false;
  auto role_of = [&](std::int64_t p) {
    auto it = roles.find(p);
    return it == roles.end() ? std::string() : it->second;
  };
  for (const auto& f : *r.frames) {
    const auto type = type_of(f);
    // What the frame tells about the receiver itself comes first.
    if (is_event(f, "mafia.role") && has(f, "data.player") && num(at(f, "data.player")) == r.id)
      my_role = str(at(f, "data.role"));
    if (is_event(f, "mafia.death") && num(at(f, "data.player")) == r.id) dead = true;
    walk(
        f,
        [&](const json::object& o) {
          auto* me = o.if_contains("me");
          if (!me || !me->is_object()) return;
          const auto& m = me->get_object();
          if (!m.contains("player") || num(m.at("player")) != r.id) return;
          if (auto* a = m.if_contains("alive"); a && a->is_bool() && !a->get_bool()) dead = true;
          if (auto* ro = m.if_contains("role"); ro && ro->is_string() && my_role.empty())
            my_role = std::string(ro->get_string());
        },
        [](std::string_view) {});
    if (type == "room.game_ended") {
      dead = false;
      my_role.clear();
      continue;
    }
    if (dead) continue;  // the dead see everything
    const bool mafia = my_role == "mafia";
    auto flag = [&](std::string_view what) {
      out.push_back(fmt::format("{} [{}{}, alive] received {}: {}", r.name,
                                r.spectator ? "spectator" : "role ",
                                r.spectator ? "" : (my_role.empty() ? "?" : my_role), what,
                                json::serialize(f).substr(0, 400)));
    };
    if (type == "mafia.kill_pick" && !mafia) flag("a kill pick");
    if (type == "mafia.heal_pick" && my_role != "doctor") flag("a heal pick");
    if (type == "mafia.investigation" && my_role != "police") flag("an investigation");
    if (type == "mafia.roles") flag("every role");
    walk(
        f,
        [&](const json::object& o) {
          auto* p = o.if_contains("player");
          if (p && o.contains("role") && (p->is_int64() || p->is_uint64())) {
            auto who = num(*p);
            if (who != r.id && !(mafia && role_of(who) == "mafia"))
              flag(fmt::format("the role of player {}", who));
          }
          if (o.contains("mafia_picks") && !mafia) flag("mafia_picks");
          if (o.contains("patient") && my_role != "doctor") flag("the doctor's patient");
          if (o.contains("investigations") && my_role != "police") flag("investigations");
          if (auto* rs = o.if_contains("roles"); rs && rs->is_array()) flag("a roles list");
          if (o.contains("team") && !mafia) flag("the mafia team");
          auto* ch = o.if_contains("channel");
          if (ch && ch->is_string() && o.contains("text")) {
            if (ch->get_string() == "mafia" && !mafia) flag("a mafia-channel line");
            if (ch->get_string() == "dead" && !r.spectator) flag("a dead-channel line");
          }
        },
        [&](std::string_view s) {
          for (const auto& tok : tokens_in(s)) {
            auto it = channels.find(tok);
            if (it == channels.end()) continue;
            if (it->second == "mafia" && !mafia) flag(fmt::format("mafia chat token {}", tok));
            if (it->second == "dead" && !r.spectator) flag(fmt::format("dead chat token {}", tok));
          }
        });
  }
  return out;
}

std::string first_leaks(const std::vector<std::string>& leaks, std::size_t n = 5) {
  std::string out;
  for (std::size_t i = 0; i < leaks.size() && i < n; ++i)
    out += fmt::format("\n  {}", leaks[i]);
  return out;
}

// --- A table of players --------------------------------------------------------------------------

struct table {
  std::vector<seat> seats;
  std::string room_id;
  std::string game_id;
  std::map<std::int64_t, std::string> roles;  // from each player's own mafia.role
  std::map<std::int64_t, json::object> role_event;

  seat& of(std::int64_t id) {
    for (auto& s : seats) {
      if (s.acc.id == id) return s;
    }
    throw std::runtime_error(fmt::format("no seat {}", id));
  }
  std::vector<seat*> with_role(std::string_view r) {
    std::vector<seat*> out;
    for (auto& s : seats) {
      if (roles.count(s.acc.id) && roles[s.acc.id] == r) out.push_back(&s);
    }
    return out;
  }
  seat& one(std::string_view r, std::size_t nth = 0) {
    auto v = with_role(r);
    if (nth >= v.size()) throw std::runtime_error(fmt::format("no {} number {}", r, nth));
    return *v[nth];
  }
  std::vector<seat*> everyone() {
    std::vector<seat*> out;
    for (auto& s : seats)
      out.push_back(&s);
    return out;
  }
  std::vector<seat*> but(std::initializer_list<const seat*> skip) {
    std::vector<seat*> out;
    for (auto& s : seats) {
      if (std::find(skip.begin(), skip.end(), &s) == skip.end()) out.push_back(&s);
    }
    return out;
  }
  // Every seat's frames checked against the roles dealt; `extra` are more receivers.
  std::vector<std::string> leaks(std::vector<receiver> extra = {}) {
    std::vector<receiver> rs = std::move(extra);
    for (auto& s : seats)
      rs.push_back({s.acc.id, false, s.acc.nickname, &s.ws->history()});
    std::vector<const std::vector<json::object>*> all;
    for (const auto& r : rs)
      all.push_back(r.frames);
    std::vector<std::string> out;
    auto channels = chat_channels(all, out);
    for (const auto& r : rs) {
      auto l = find_leaks(r, roles, channels);
      out.insert(out.end(), l.begin(), l.end());
    }
    return out;
  }
};

json::object create_mafia_room(seat& leader, const json::object& settings,
                               bool spectators = false) {
  json::object p{{"mode", "mafia"}, {"name", "Mafia"}, {"settings", settings}};
  if (spectators) p["allow_spectators"] = true;
  return snapshot_of_reply(leader.ws->call("room.create", p));
}

// Collects room.game_started, mafia.started and each player's own mafia.role.
void collect_roles(table& t) {
  for (auto& s : t.seats) {
    auto gs = s.ws->expect("room.game_started");
    EXPECT_EQ(str(at(gs, "data.mode")), "mafia");
    if (t.game_id.empty()) t.game_id = str(at(gs, "data.game_id"));
    auto started = s.ws->expect("mafia.started");
    EXPECT_EQ(at(started, "data.players").as_array().size(), t.seats.size());
    auto role = s.ws->expect("mafia.role");
    EXPECT_EQ(num(at(role, "data.player")), s.acc.id) << json::serialize(role);
    t.roles[s.acc.id] = str(at(role, "data.role"));
    t.role_event[s.acc.id] = at(role, "data").as_object();
  }
}

// Creates a room as seats[0], seats and readies everyone else, starts, and collects the roles.
void start_game(table& t, const json::object& settings, bool spectators = false) {
  auto snap = create_mafia_room(t.seats[0], settings, spectators);
  t.room_id = str(at(snap, "id"));
  for (std::size_t i = 1; i < t.seats.size(); ++i) {
    t.seats[i].ws->call("room.join", {{"room_id", t.room_id}});
    t.seats[i].ws->call("room.ready", {{"ready", true}});
  }
  t.game_id = str(at(t.seats[0].ws->call("room.start"), "game_id"));
  collect_roles(t);
}

// The next mafia.phase of `phase` (and of day `day`, when not 0) this seat receives.
json::object wait_phase(seat& s, std::string_view phase, std::int64_t day = 0, ms timeout = kWait) {
  auto f = s.ws->recv_until(
      [&](const json::object& fr) {
        return is_event(fr, "mafia.phase") && str(at(fr, "data.phase")) == phase &&
               (day == 0 || num(at(fr, "data.day")) == day);
      },
      timeout);
  if (!f)
    throw std::runtime_error(
        fmt::format("{} saw no mafia.phase {} (day {})", s.acc.nickname, phase, day));
  return at(*f, "data").as_object();
}

// The next event of `type` whose data.player is `player`.
json::object wait_about(seat& s, std::string_view type, std::int64_t player, ms timeout = kWait) {
  auto f = s.ws->recv_until(
      [&](const json::object& fr) {
        return is_event(fr, type) && has(fr, "data.player") && num(at(fr, "data.player")) == player;
      },
      timeout);
  if (!f)
    throw std::runtime_error(fmt::format("{} saw no {} about {}", s.acc.nickname, type, player));
  return at(*f, "data").as_object();
}

// The mafia.chat line holding `text` this seat receives.
json::object wait_chat(seat& s, std::string_view text, ms timeout = kWait) {
  auto f = s.ws->recv_until(
      [&](const json::object& fr) {
        return is_event(fr, "mafia.chat") && str(at(fr, "data.text")) == text;
      },
      timeout);
  if (!f) throw std::runtime_error(fmt::format("{} never got chat {}", s.acc.nickname, text));
  return at(*f, "data").as_object();
}

// Sends a request that must fail with `code`, then checks the connection still answers.
void expect_refused(seat& s, std::string_view type, const json::object& data,
                    std::string_view code) {
  auto f = s.ws->request(type, data);
  EXPECT_EQ(error_code(f), code) << s.acc.nickname << " sent " << type << " "
                                 << json::serialize(data) << ", got " << json::serialize(f);
  EXPECT_TRUE(s.ws->ping_ok()) << s.acc.nickname << "'s connection stopped answering";
}

// Day `day`'s vote names `victim` (who votes for `victim_vote`) and the verdict executes them.
// `alive` are the living; every seat in `watchers` must hear the death.
void execute(std::vector<seat*> alive, std::vector<seat*> watchers, seat& victim, seat& victim_vote,
             std::int64_t day) {
  for (auto* s : alive)
    wait_phase(*s, "vote", day);
  for (auto* s : alive)
    s->ws->call("mafia.vote", {{"target", s == &victim ? victim_vote.acc.id : victim.acc.id}});
  for (auto* s : alive)
    EXPECT_EQ(num(at(wait_phase(*s, "defense", day), "accused")), victim.acc.id);
  for (auto* s : alive)
    wait_phase(*s, "verdict", day);
  for (auto* s : alive) {
    if (s != &victim) s->ws->call("mafia.verdict", {{"yes", true}});
  }
  for (auto* s : watchers)
    EXPECT_EQ(str(at(wait_about(*s, "mafia.death", victim.acc.id), "cause")), "executed");
}

std::vector<std::int64_t> ids_of(const json::value& arr) {
  std::vector<std::int64_t> out;
  for (const auto& v : arr.as_array())
    out.push_back(num(v));
  std::sort(out.begin(), out.end());
  return out;
}

// --- 1. A scripted game --------------------------------------------------------------------------

// Five players (mafia, doctor, police, two citizens): the start rules; private roles; an early end
// by full vote; the final defense; the verdict; an execution; a night kill with every private pick
// going only where it belongs; the mafia executed on day 2 for a town win; the room waiting again;
// the stored record.
TEST(MafiaTest, scripted_game_from_start_to_stored_record) {
  server_process srv;
  table t;
  t.seats = seat_players(srv.port(), {"Ahn", "Baek", "Choi", "Dong", "Eom"});
  auto& leader = t.seats[0];
  json::object settings{{"day_ms", 200},      {"vote_ms", 5000},  {"defense_ms", 1500},
                        {"verdict_ms", 5000}, {"night_ms", 5000}, {"night_early_end", true},
                        {"seed", 7}};

  // Start: leader only, everyone else ready.
  auto snap = create_mafia_room(leader, settings);
  t.room_id = str(at(snap, "id"));
  EXPECT_EQ(str(at(snap, "mode")), "mafia");
  for (std::size_t i = 1; i < t.seats.size(); ++i)
    t.seats[i].ws->call("room.join", {{"room_id", t.room_id}});
  expect_refused(leader, "room.start", {}, "not_ready");
  for (std::size_t i = 1; i < 4; ++i)
    t.seats[i].ws->call("room.ready", {{"ready", true}});
  expect_refused(t.seats[1], "room.start", {}, "not_leader");
  expect_refused(leader, "room.start", {}, "not_ready");  // Eom is not ready yet
  t.seats[4].ws->call("room.ready", {{"ready", true}});
  t.game_id = str(at(leader.ws->call("room.start"), "game_id"));
  collect_roles(t);
  // Everyone heard that the leader could start (consumed here, so that the announcement after the
  // game is the next one).
  for (auto* s : t.everyone()) {
    auto cs = s->ws->recv_until([](const json::object& f) {
      return is_event(f, "room.can_start") && at(f, "data.can_start") == json::value(true);
    });
    EXPECT_TRUE(cs) << s->acc.nickname << " was never told the game could start";
  }

  ASSERT_EQ(t.with_role("mafia").size(), 1u);
  ASSERT_EQ(t.with_role("doctor").size(), 1u);
  ASSERT_EQ(t.with_role("police").size(), 1u);
  ASSERT_EQ(t.with_role("citizen").size(), 2u);
  auto& m = t.one("mafia");
  auto& d = t.one("doctor");
  auto& p = t.one("police");
  auto& c1 = t.one("citizen", 0);
  auto& c2 = t.one("citizen", 1);
  // The mafia see their team; nobody else gets one.
  for (auto& s : t.seats) {
    const auto& ev = t.role_event[s.acc.id];
    if (&s == &m) {
      ASSERT_TRUE(ev.contains("team")) << json::serialize(ev);
      ASSERT_EQ(at(ev, "team").as_array().size(), 1u);
      EXPECT_EQ(num(at(ev, "team.0.player")), m.acc.id);
      EXPECT_EQ(str(at(ev, "team.0.role")), "mafia");
    } else {
      EXPECT_FALSE(ev.contains("team")) << s.acc.nickname << ": " << json::serialize(ev);
    }
  }

  // Day 1: the day channel reaches everyone.
  for (auto* s : t.everyone()) {
    auto ph = wait_phase(*s, "day", 1);
    EXPECT_GT(num(at(ph, "ends_at")), 0);
  }
  auto hello_tok = fresh_token();
  c1.ws->call("room.chat", {{"text", hello_tok}});
  for (auto* s : t.everyone()) {
    auto line = wait_chat(*s, hello_tok);
    EXPECT_EQ(str(at(line, "channel")), "day");
    EXPECT_EQ(num(at(line, "from")), c1.acc.id);
  }
  // Every player received exactly one mafia.role, their own.
  for (auto& s : t.seats)
    EXPECT_EQ(s.ws->count_received("mafia.role"), 1u) << s.acc.nickname;

  // The citizen vote ends as soon as everyone has voted: four for Citizen 1, who names Citizen 2.
  std::int64_t vote_ends = 0;
  for (auto* s : t.everyone())
    vote_ends = num(at(wait_phase(*s, "vote", 1), "ends_at"));
  for (auto* s : t.everyone())
    s->ws->call("mafia.vote", {{"target", s == &c1 ? c2.acc.id : c1.acc.id}});
  for (auto* s : t.everyone()) {
    auto res = s->ws->expect("mafia.vote_result");
    EXPECT_EQ(num(at(res, "data.accused")), c1.acc.id);
    EXPECT_EQ(at(res, "data.tie"), json::value(false));
    auto def = wait_phase(*s, "defense", 1);
    EXPECT_LT(now_ms(), vote_ends) << "the vote did not end early";
    EXPECT_EQ(num(at(def, "accused")), c1.acc.id);
  }
  {
    // The last tally everyone saw: Citizen 1 named by four, Citizen 2 by one.
    const json::object* last = nullptr;
    for (const auto& f : d.ws->history()) {
      if (is_event(f, "mafia.vote_tally")) last = &f;
    }
    ASSERT_NE(last, nullptr);
    auto tally = at(*last, "data.tally").as_array();
    ASSERT_EQ(tally.size(), 2u) << json::serialize(*last);
    for (const auto& e : tally) {
      if (num(at(e, "target")) == c1.acc.id) {
        EXPECT_EQ(ids_of(at(e, "voters")).size(), 4u) << json::serialize(*last);
      } else {
        EXPECT_EQ(num(at(e, "target")), c2.acc.id);
        EXPECT_EQ(ids_of(at(e, "voters")), std::vector<std::int64_t>{c1.acc.id});
      }
    }
  }

  // Final defense: only the accused speaks.
  auto defense_tok = fresh_token();
  c1.ws->call("room.chat", {{"text", defense_tok}});
  for (auto* s : t.everyone())
    EXPECT_EQ(num(at(wait_chat(*s, defense_tok), "from")), c1.acc.id);
  auto hushed_tok = fresh_token();
  expect_refused(m, "room.chat", {{"text", hushed_tok}}, "channel_closed");
  expect_refused(d, "room.chat", {{"text", hushed_tok}}, "channel_closed");

  // Verdict: the accused may not vote; the others execute them (3 yes, 1 no), early.
  std::int64_t verdict_ends = 0;
  for (auto* s : t.everyone()) {
    auto v = wait_phase(*s, "verdict", 1);
    EXPECT_EQ(num(at(v, "accused")), c1.acc.id);
    verdict_ends = num(at(v, "ends_at"));
  }
  expect_refused(c1, "mafia.verdict", {{"yes", false}}, "not_eligible");
  m.ws->call("mafia.verdict", {{"yes", true}});
  d.ws->call("mafia.verdict", {{"yes", true}});
  p.ws->call("mafia.verdict", {{"yes", true}});
  c2.ws->call("mafia.verdict", {{"yes", false}});
  for (auto* s : t.everyone()) {
    auto r = s->ws->expect("mafia.verdict_result");
    EXPECT_EQ(num(at(r, "data.player")), c1.acc.id);
    EXPECT_EQ(at(r, "data.executed"), json::value(true));
    EXPECT_EQ(num(at(r, "data.yes")), 3);
    EXPECT_EQ(num(at(r, "data.no")), 1);
    EXPECT_LT(now_ms(), verdict_ends) << "the verdict did not end early";
    EXPECT_EQ(str(at(wait_about(*s, "mafia.death", c1.acc.id), "cause")), "executed");
  }
  auto ghost_roles = c1.ws->expect("mafia.roles");
  EXPECT_EQ(at(ghost_roles, "data.roles").as_array().size(), 5u) << "the dead see every role";

  // Night: the mafia pick Citizen 2, the doctor heals themselves, the police find the mafia. The
  // night ends once all three have acted (night_early_end).
  for (auto* s : t.everyone())
    wait_phase(*s, "night", 1);
  EXPECT_EQ(num(at(m.ws->call("mafia.kill", {{"target", c2.acc.id}}), "target")), c2.acc.id);
  auto kp = wait_about(m, "mafia.kill_pick", m.acc.id);
  EXPECT_EQ(num(at(kp, "target")), c2.acc.id);
  d.ws->call("mafia.heal", {{"target", d.acc.id}});
  EXPECT_EQ(num(at(wait_about(d, "mafia.heal_pick", d.acc.id), "target")), d.acc.id);
  auto inv = p.ws->call("mafia.investigate", {{"target", m.acc.id}});
  EXPECT_EQ(at(inv, "is_mafia"), json::value(true));
  auto found = p.ws->expect("mafia.investigation");
  EXPECT_EQ(num(at(found, "data.by")), p.acc.id);
  EXPECT_EQ(num(at(found, "data.player")), m.acc.id);
  for (auto* s : t.everyone()) {
    auto nr = s->ws->expect("mafia.night_result");
    EXPECT_EQ(num(at(nr, "data.killed")), c2.acc.id);
    EXPECT_EQ(str(at(wait_about(*s, "mafia.death", c2.acc.id), "cause")), "killed");
    wait_phase(*s, "day", 2);
  }
  // Private picks went to their role and to the dead only.
  for (auto& s : t.seats) {
    bool ghost = &s == &c1;
    EXPECT_EQ(s.ws->count_received("mafia.kill_pick"), (&s == &m || ghost) ? 1u : 0u)
        << s.acc.nickname;
    EXPECT_EQ(s.ws->count_received("mafia.heal_pick"), (&s == &d || ghost) ? 1u : 0u)
        << s.acc.nickname;
    EXPECT_EQ(s.ws->count_received("mafia.investigation"), (&s == &p || ghost) ? 1u : 0u)
        << s.acc.nickname;
  }

  // Day 2: the town names the mafia and executes them; the town wins.
  std::vector<seat*> living{&m, &d, &p};
  execute(living, t.everyone(), m, d, 2);
  for (auto* s : t.everyone()) {
    auto end = s->ws->expect("room.game_ended");
    EXPECT_EQ(str(at(end, "data.game_id")), t.game_id);
    EXPECT_EQ(str(at(end, "data.result.winner")), "town");
    const auto& players = at(end, "data.result.players").as_array();
    ASSERT_EQ(players.size(), 5u) << json::serialize(end);
    for (const auto& pl : players) {
      auto who = num(at(pl, "player"));
      EXPECT_EQ(str(at(pl, "role")), t.roles[who]) << "the result reveals every role";
      EXPECT_EQ(at(pl, "won"), json::value(t.roles[who] != "mafia"));
    }
  }
  // Back to waiting with every ready flag down.
  for (auto* s : t.everyone()) {
    auto cs = s->ws->expect("room.can_start");
    EXPECT_EQ(at(cs, "data.can_start"), json::value(false)) << json::serialize(cs);
  }
  expect_refused(leader, "room.start", {}, "not_ready");
  expect_refused(d, "mafia.vote", {{"target", p.acc.id}}, "no_game");

  // No client got anything it should not have, and the hushed line went nowhere.
  auto leaks = t.leaks();
  EXPECT_TRUE(leaks.empty()) << leaks.size() << " leaks:" << first_leaks(leaks);
  for (auto& s : t.seats)
    EXPECT_FALSE(history_mentions(*s.ws, hushed_tok)) << s.acc.nickname;

  // The stored record: players, roles, every vote and death in order, the winners.
  auto g = http_call(srv.port(), "GET", "/v1/games/" + t.game_id, {}, bearer(t.seats[0].acc.token));
  ASSERT_EQ(g.status, 200) << g.body;
  auto gv = g.json();
  EXPECT_EQ(str(at(gv, "mode")), "mafia");
  EXPECT_EQ(str(at(gv, "room_id")), t.room_id);
  std::vector<std::int64_t> want_players;
  for (auto& s : t.seats)
    want_players.push_back(s.acc.id);
  std::sort(want_players.begin(), want_players.end());
  EXPECT_EQ(ids_of(at(gv, "players")), want_players);
  EXPECT_EQ(str(at(gv, "record.winner")), "town") << g.body;
  for (const auto& pl : at(gv, "record.players").as_array()) {
    auto who = num(at(pl, "player"));
    EXPECT_EQ(str(at(pl, "role")), t.roles[who]);
    EXPECT_EQ(at(pl, "won"), json::value(t.roles[who] != "mafia"));
  }
  std::vector<std::string> kinds;
  for (const auto& e : at(gv, "record.history").as_array())
    kinds.push_back(str(at(e, "kind")));
  std::vector<std::string> want_kinds = {"start",         "vote",  "verdict", "death",
                                         "investigation", "night", "death",   "vote",
                                         "verdict",       "death", "end"};
  ASSERT_EQ(kinds, want_kinds) << g.body;
  const auto& h = at(gv, "record.history").as_array();
  for (const auto& e : at(h[0], "roles").as_array())
    EXPECT_EQ(str(at(e, "role")), t.roles[num(at(e, "player"))]);
  auto key = [](const seat& s) { return std::to_string(s.acc.id); };
  EXPECT_EQ(num(at(h[1], "accused")), c1.acc.id);
  EXPECT_EQ(num(at(h[1], "votes." + key(m))), c1.acc.id);
  EXPECT_EQ(num(at(h[1], "votes." + key(c1))), c2.acc.id);
  EXPECT_EQ(num(at(h[2], "player")), c1.acc.id);
  EXPECT_EQ(at(h[2], "executed"), json::value(true));
  EXPECT_EQ(ids_of(at(h[2], "no")), std::vector<std::int64_t>{c2.acc.id});
  EXPECT_EQ(num(at(h[3], "player")), c1.acc.id);
  EXPECT_EQ(str(at(h[3], "cause")), "executed");
  EXPECT_EQ(str(at(h[3], "role")), "citizen");
  EXPECT_EQ(num(at(h[4], "player")), m.acc.id);
  EXPECT_EQ(at(h[4], "is_mafia"), json::value(true));
  EXPECT_EQ(num(at(h[5], "mafia_picks." + key(m))), c2.acc.id);
  EXPECT_EQ(num(at(h[5], "patient")), d.acc.id);
  EXPECT_EQ(num(at(h[5], "killed")), c2.acc.id);
  EXPECT_EQ(num(at(h[6], "player")), c2.acc.id);
  EXPECT_EQ(str(at(h[6], "cause")), "killed");
  EXPECT_EQ(num(at(h[7], "accused")), m.acc.id);
  EXPECT_EQ(num(at(h[8], "player")), m.acc.id);
  EXPECT_EQ(num(at(h[9], "player")), m.acc.id);
  EXPECT_EQ(str(at(h[9], "role")), "mafia");
  EXPECT_EQ(str(at(h[10], "winner")), "town");

  auto hist = http_call(srv.port(), "GET", fmt::format("/v1/accounts/{}/games", c2.acc.id), {},
                        bearer(c2.acc.token));
  ASSERT_EQ(hist.status, 200) << hist.body;
  EXPECT_EQ(str(at(hist.json(), "games.0.id")), t.game_id) << hist.body;

  // A fresh snapshot (a second socket takes over) shows the room waiting, nobody ready, no game.
  ws_client again(srv.port(), c2.acc.token);
  auto hello = again.hello();
  ASSERT_TRUE(at(hello, "room").is_object()) << json::serialize(hello);
  auto room = at(hello, "room").as_object();
  EXPECT_EQ(str(at(room, "state")), "waiting");
  EXPECT_FALSE(room.contains("game")) << json::serialize(room);
  for (const auto& mem : at(room, "members").as_array())
    EXPECT_EQ(at(mem, "ready"), json::value(false)) << json::serialize(mem);
}

// --- 2. The vote's deadline ----------------------------------------------------------------------

// Nobody votes: the vote ends at its deadline (not before, and not much after), counts as
// abstention, and with the default rules the day starts again, as its round 2. Then a tied vote
// (two each other, two explicit abstentions) ends early and executes nobody; it is the day's
// second undecided vote, so by the default max_tied_votes (2) night falls.
// --- Crash recovery (issue 16: rooms outlive their process)
// ---------------------------------------

// rooms.snapshot_interval_ms: plays in quick succession are saved together, at most one snapshot
// an interval, and the last of them is in the snapshot written when the interval ends.
TEST(MafiaTest, snapshots_come_at_most_once_an_interval_and_keep_the_last_play) {
  temp_dir data;
  const auto dir = data.path() / "data";
  server_process srv({"rooms.snapshot_interval_ms=1500"}, dir);
  auto snapshots = [&] { return metric_value(srv.port(), "maratang_room_snapshots_total"); };
  table t;
  t.seats = seat_players(srv.port(), {"Na", "Ma", "La", "Ka", "Ja"});
  start_game(t, {{"day_ms", 100}, {"vote_ms", 30000}, {"seed", 5}});
  for (auto* s : t.everyone())
    wait_phase(*s, "vote", 1);
  wait_snapshot(dir / "maratang.db",
                [](const json::object& d) { return str(at(d, "game.state.phase")) == "vote"; });
  const auto before = snapshots();
  auto& target = t.one("citizen");
  int votes = 0;
  for (auto* s : t.but({&target})) {
    s->ws->call("mafia.vote", {{"target", target.acc.id}});
    if (++votes == 3) break;
  }
  EXPECT_LE(snapshots() - before, 1) << "three plays within the interval wrote more than once";
  auto doc = wait_snapshot(dir / "maratang.db", [](const json::object& d) {
    return at(d, "game.state.votes").as_array().size() == 3;
  });
  EXPECT_EQ(str(at(doc, "game.state.phase")), "vote");
  EXPECT_LE(snapshots() - before, 2) << "one at most now, and the one the interval's end wrote";
}

// kill -9 mid-vote; the server starts again on the same data directory and restores the room; the
// players reconnect with their tokens to the same phase, deadline, votes and roles (the chat line
// said after the last checkpoint is what is lost), and play the game to its stored end.
TEST(MafiaTest, a_game_survives_kill_9_and_plays_on_after_the_restart) {
  temp_dir data;
  const auto dir = data.path() / "data";
  const std::vector<std::string> sets{"rooms.reconnect_grace_ms=20000", "log.level=info"};
  table t;
  std::int64_t vote_ends = 0;
  json::array votes_before;
  {
    server_process srv(sets, dir);
    t.seats = seat_players(srv.port(), {"Gang", "Ha", "Im", "Jo", "Ku"});
    start_game(t, {{"day_ms", 100},
                   {"vote_ms", 20000},
                   {"defense_ms", 100},
                   {"verdict_ms", 20000},
                   {"night_ms", 20000},
                   {"night_early_end", true},
                   {"seed", 5}});
    for (auto* s : t.everyone())
      vote_ends = num(at(wait_phase(*s, "vote", 1), "ends_at"));
    auto& c1 = t.one("citizen");
    auto& c2 = t.one("citizen", 1);
    auto& m = t.one("mafia");
    // Two votes before the crash (each a checkpoint), and a chat line after them (none).
    m.ws->call("mafia.vote", {{"target", c1.acc.id}});
    c2.ws->call("mafia.vote", {{"target", c1.acc.id}});
    auto doc = wait_snapshot(dir / "maratang.db", [](const json::object& d) {
      return at(d, "game.state.votes").as_array().size() == 2;
    });
    votes_before = at(doc, "game.state.votes").as_array();
    EXPECT_EQ(str(at(doc, "game.state.phase")), "vote");
    EXPECT_EQ(num(at(doc, "game.state.ends_at")), vote_ends);
    c2.ws->call("room.chat", {{"text", "said after the last checkpoint"}});
    wait_chat(m, "said after the last checkpoint");

    ASSERT_EQ(::kill(srv.pid(), SIGKILL), 0);
    EXPECT_EQ(srv.stop().signal, SIGKILL);
    for (auto& s : t.seats)
      s.ws->drop();
  }

  const auto restart = std::chrono::steady_clock::now();
  server_process srv(sets, dir);
  // Everyone reconnects with the token they had: back in their seat, in the same vote.
  for (auto& s : t.seats) {
    s.ws = std::make_unique<ws_client>(srv.port(), s.acc.token);
    auto hello = s.ws->hello();
    ASSERT_TRUE(has(hello, "room.game")) << json::serialize(hello);
    EXPECT_EQ(str(at(hello, "room.id")), t.room_id);
    EXPECT_EQ(str(at(hello, "room.game_id")), t.game_id);
    EXPECT_EQ(str(at(hello, "room.state")), "playing");
    const auto& game = at(hello, "room.game").as_object();
    EXPECT_EQ(str(at(game, "phase")), "vote");
    EXPECT_EQ(num(at(game, "ends_at")), vote_ends) << "the same absolute deadline";
    EXPECT_EQ(str(at(game, "me.role")), t.roles[s.acc.id]) << "the same role";
    std::size_t voted = 0;
    for (const auto& e : at(game, "tally.tally").as_array())
      voted += at(e, "voters").as_array().size();
    EXPECT_EQ(voted, 2u) << "the votes of before the crash";
    for (const auto& line : at(game, "chat").as_array())
      EXPECT_NE(str(at(line, "text")), "said after the last checkpoint") << "lost, as documented";
  }
  const auto back_ms =
      std::chrono::duration_cast<ms>(std::chrono::steady_clock::now() - restart).count();
  std::cout << "[ restore  ] from the restart to 5 players back in their seats: " << back_ms
            << " ms\n";
  const std::string log = srv.log_text();
  const auto said = log.find("restored 1 of 1 room(s)");
  ASSERT_NE(said, std::string::npos) << log;
  std::cout << "[ restore  ] the server: " << log.substr(said, log.find('\n', said) - said) << "\n";

  // The game plays on to its end: the town executes the first citizen (the votes of before the
  // crash stand), the mafia kill, and on day 2 the town executes the mafia.
  auto& c1 = t.one("citizen");
  auto& c2 = t.one("citizen", 1);
  auto& m = t.one("mafia");
  auto& d = t.one("doctor");
  auto& p = t.one("police");
  for (auto* s : t.but({&m, &c2}))
    s->ws->call("mafia.vote", {{"target", s == &c1 ? c2.acc.id : c1.acc.id}});
  for (auto* s : t.everyone())
    EXPECT_EQ(num(at(wait_phase(*s, "defense", 1), "accused")), c1.acc.id);
  for (auto* s : t.everyone())
    wait_phase(*s, "verdict", 1);
  for (auto* s : t.but({&c1}))
    s->ws->call("mafia.verdict", {{"yes", true}});
  for (auto* s : t.everyone())
    EXPECT_EQ(str(at(wait_about(*s, "mafia.death", c1.acc.id), "cause")), "executed");
  for (auto* s : t.but({&c1}))
    wait_phase(*s, "night", 1);
  m.ws->call("mafia.kill", {{"target", c2.acc.id}});
  d.ws->call("mafia.heal", {{"target", d.acc.id}});
  p.ws->call("mafia.investigate", {{"target", m.acc.id}});
  for (auto* s : t.but({&c1, &c2}))
    wait_phase(*s, "vote", 2, 10s);
  for (auto* s : t.but({&c1, &c2}))
    s->ws->call("mafia.vote", {{"target", s == &m ? d.acc.id : m.acc.id}});
  for (auto* s : t.but({&c1, &c2}))
    wait_phase(*s, "verdict", 2);
  for (auto* s : t.but({&c1, &c2, &m}))
    s->ws->call("mafia.verdict", {{"yes", true}});
  for (auto& s : t.seats) {
    auto ended = s.ws->expect("room.game_ended");
    EXPECT_EQ(str(at(ended, "data.result.winner")), "town");
  }
  // The stored record holds the whole game, the votes of before the crash included.
  auto g = http_call(srv.port(), "GET", "/v1/games/" + t.game_id, {}, bearer(t.seats[0].acc.token));
  ASSERT_EQ(g.status, 200) << g.body;
  auto gv = g.json();
  const auto& h = at(gv, "record.history").as_array();
  EXPECT_EQ(str(at(h[1], "kind")), "vote");
  EXPECT_EQ(num(at(h[1], "votes." + std::to_string(m.acc.id))), c1.acc.id);
  EXPECT_EQ(num(at(h[1], "votes." + std::to_string(c2.acc.id))), c1.acc.id);
  EXPECT_EQ(str(at(h.back(), "kind")), "end");
  // The finished game's snapshot is gone: a later start restores nothing.
  {
    auto db = store::sqlite_backend::open((dir / "maratang.db").string());
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (!db->room_snapshots("node-1").empty() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(20ms);  // polling interval
    EXPECT_TRUE(db->room_snapshots("node-1").empty());
  }
}

TEST(MafiaTest, vote_ends_at_its_deadline_and_no_votes_restart_the_day) {
  server_process srv;
  table t;
  t.seats = seat_players(srv.port(), {"Gu", "Ha", "Im", "Jang"});
  start_game(t, {{"day_ms", 100}, {"vote_ms", 400}, {"seed", 3}});
  for (auto* s : t.everyone())
    wait_phase(*s, "day", 1);
  std::int64_t ends_at = 0;
  for (auto* s : t.everyone())
    ends_at = num(at(wait_phase(*s, "vote", 1), "ends_at"));
  auto& first = t.seats[0];
  auto res = first.ws->expect("mafia.vote_result", 3s);
  auto got_at = now_ms();
  EXPECT_GE(got_at, ends_at) << "the vote ended before its deadline";
  EXPECT_LE(got_at, ends_at + 1500) << "the vote ended long after its deadline";
  EXPECT_TRUE(at(res, "data.accused").is_null()) << json::serialize(res);
  for (auto* s : t.everyone()) {
    if (s != &first) {
      EXPECT_TRUE(at(s->ws->expect("mafia.vote_result"), "data.accused").is_null());
    }
    auto day = wait_phase(*s, "day", 1);
    EXPECT_EQ(num(at(day, "round")), 2) << json::serialize(day);
    EXPECT_GE(now_ms(), ends_at);
    EXPECT_GT(num(at(day, "ends_at")), ends_at);
  }
  for (auto& s : t.seats) {
    EXPECT_EQ(s.ws->count_received("mafia.vote_tally"), 0u) << "nobody voted";
    EXPECT_EQ(s.ws->count_received("mafia.death"), 0u);
  }

  // A tie: everyone votes (two of them abstaining), so it ends early, and night falls.
  for (auto* s : t.everyone())
    ends_at = num(at(wait_phase(*s, "vote", 1), "ends_at"));
  auto& a = t.seats[0];
  auto& b = t.seats[1];
  a.ws->call("mafia.vote", {{"target", b.acc.id}});
  b.ws->call("mafia.vote", {{"target", a.acc.id}});
  EXPECT_TRUE(at(t.seats[2].ws->call("mafia.vote", json::object{}), "target").is_null());
  t.seats[3].ws->call("mafia.vote", json::object{});
  for (auto* s : t.everyone()) {
    auto r = s->ws->expect("mafia.vote_result");
    EXPECT_TRUE(at(r, "data.accused").is_null()) << json::serialize(r);
    EXPECT_EQ(at(r, "data.tie"), json::value(true)) << json::serialize(r);
    wait_phase(*s, "night", 1);
    EXPECT_LT(now_ms(), ends_at) << "a full vote ends early";
  }
  const json::object* last = nullptr;
  for (const auto& f : t.seats[3].ws->history()) {
    if (is_event(f, "mafia.vote_tally")) last = &f;
  }
  ASSERT_NE(last, nullptr);
  EXPECT_EQ(ids_of(at(*last, "data.abstained")),
            (std::vector<std::int64_t>{std::min(t.seats[2].acc.id, t.seats[3].acc.id),
                                       std::max(t.seats[2].acc.id, t.seats[3].acc.id)}))
      << json::serialize(*last);
  auto leaks = t.leaks();
  EXPECT_TRUE(leaks.empty()) << leaks.size() << " leaks:" << first_leaks(leaks);
}

// --- 3. Reconnecting mid-night -------------------------------------------------------------------

// Six players (two mafia). In the night, after making their picks, a mafioso, the doctor, the
// police and a citizen each drop and reconnect within the grace: the hello snapshot holds the
// phase, its deadline, their own role and exactly what their role may see.
TEST(MafiaTest, reconnect_mid_night_restores_phase_role_and_private_picks) {
  server_process srv({"rooms.reconnect_grace_ms=10000"});
  table t;
  t.seats = seat_players(srv.port(), {"Kang", "Lee", "Moon", "Nam", "Oh", "Park"});
  start_game(t, {{"day_ms", 100},
                 {"vote_ms", 150},
                 {"verdict_ms", 150},
                 {"defense_ms", 100},
                 {"night_ms", 8000},
                 {"tie", "night"},
                 {"seed", 11}});
  ASSERT_EQ(t.with_role("mafia").size(), 2u);
  ASSERT_EQ(t.with_role("police").size(), 1u);
  std::vector<std::int64_t> mafia_ids;
  for (auto* s : t.with_role("mafia"))
    mafia_ids.push_back(s->acc.id);
  std::sort(mafia_ids.begin(), mafia_ids.end());
  for (auto& s : t.seats) {
    const auto& ev = t.role_event[s.acc.id];
    if (t.roles[s.acc.id] == "mafia") {
      std::vector<std::int64_t> team;
      for (const auto& e : at(ev, "team").as_array()) {
        team.push_back(num(at(e, "player")));
        EXPECT_EQ(str(at(e, "role")), "mafia");
      }
      std::sort(team.begin(), team.end());
      EXPECT_EQ(team, mafia_ids) << "each mafioso sees the whole family";
    } else {
      EXPECT_FALSE(ev.contains("team")) << json::serialize(ev);
    }
  }
  auto& m = t.one("mafia");
  auto& m2 = t.one("mafia", 1);
  auto& d = t.one("doctor");
  auto& p = t.one("police");
  auto& c1 = t.one("citizen");
  auto& c2 = t.one("citizen", 1);

  // Nobody votes; the tie rule sends the town to night.
  std::int64_t night_ends = 0;
  for (auto* s : t.everyone())
    night_ends = num(at(wait_phase(*s, "night", 1), "ends_at"));
  m.ws->call("mafia.kill", {{"target", c1.acc.id}});
  wait_about(m2, "mafia.kill_pick", m.acc.id);
  d.ws->call("mafia.heal", {{"target", c2.acc.id}});
  p.ws->call("mafia.investigate", {{"target", c1.acc.id}});

  std::map<std::int64_t, std::vector<json::object>> old_frames;  // histories of dropped sockets
  auto reconnect = [&](seat& s) -> json::object {
    s.ws->drop();
    for (auto* o : t.but({&s})) {
      auto ev = wait_about(*o, "room.member_connection", s.acc.id);
      EXPECT_EQ(at(ev, "connected"), json::value(false));
    }
    auto& keep = old_frames[s.acc.id];
    keep.insert(keep.end(), s.ws->history().begin(), s.ws->history().end());
    s.ws = std::make_unique<ws_client>(srv.port(), s.acc.token);
    auto hello = s.ws->hello();
    EXPECT_TRUE(has(hello, "room.game")) << json::serialize(hello);
    auto game = at(hello, "room.game").as_object();
    EXPECT_EQ(str(at(game, "phase")), "night");
    EXPECT_EQ(num(at(game, "day")), 1);
    EXPECT_EQ(num(at(game, "ends_at")), night_ends);
    EXPECT_EQ(num(at(game, "me.player")), s.acc.id);
    EXPECT_EQ(str(at(game, "me.role")), t.roles[s.acc.id]);
    EXPECT_EQ(at(game, "me.alive"), json::value(true));
    EXPECT_FALSE(game.contains("roles")) << json::serialize(game);
    return game;
  };

  // The mafioso: role, team and the family's picks.
  auto mg = reconnect(m);
  ASSERT_TRUE(mg.contains("mafia_picks")) << json::serialize(mg);
  {
    const auto& picks = at(mg, "mafia_picks").as_array();
    ASSERT_EQ(picks.size(), 1u) << json::serialize(mg);
    EXPECT_EQ(num(at(picks[0], "player")), m.acc.id);
    EXPECT_EQ(num(at(picks[0], "target")), c1.acc.id);
    EXPECT_EQ(at(mg, "me.team").as_array().size(), 2u);
    EXPECT_FALSE(mg.contains("patient")) << json::serialize(mg);
    EXPECT_FALSE(mg.contains("investigations")) << json::serialize(mg);
  }
  // The choice can still be changed from the new socket, and the family hears it.
  m.ws->call("mafia.kill", {{"target", c2.acc.id}});
  EXPECT_EQ(num(at(wait_about(m, "mafia.kill_pick", m.acc.id), "target")), c2.acc.id);
  EXPECT_EQ(num(at(wait_about(m2, "mafia.kill_pick", m.acc.id), "target")), c2.acc.id);

  // The doctor: the patient, nothing of the mafia.
  auto dg = reconnect(d);
  EXPECT_EQ(num(at(dg, "patient")), c2.acc.id) << json::serialize(dg);
  EXPECT_FALSE(dg.contains("mafia_picks")) << json::serialize(dg);
  EXPECT_FALSE(dg.contains("investigations")) << json::serialize(dg);
  EXPECT_FALSE(at(dg, "me").as_object().contains("team")) << json::serialize(dg);

  // The police: their own finding, nothing else.
  auto pg = reconnect(p);
  ASSERT_TRUE(pg.contains("investigations")) << json::serialize(pg);
  ASSERT_EQ(at(pg, "investigations").as_array().size(), 1u) << json::serialize(pg);
  EXPECT_EQ(num(at(pg, "investigations.0.player")), c1.acc.id);
  EXPECT_EQ(at(pg, "investigations.0.is_mafia"), json::value(false));
  EXPECT_FALSE(pg.contains("mafia_picks")) << json::serialize(pg);
  EXPECT_FALSE(pg.contains("patient")) << json::serialize(pg);

  // A citizen: nothing private at all.
  auto cg = reconnect(c1);
  for (const char* k : {"mafia_picks", "roles", "patient", "investigations"})
    EXPECT_FALSE(cg.contains(k)) << k << " in " << json::serialize(cg);
  EXPECT_FALSE(at(cg, "me").as_object().contains("team")) << json::serialize(cg);

  // Everyone is still in the night, and the doctor can still act.
  d.ws->call("mafia.heal", {{"target", c1.acc.id}});
  EXPECT_EQ(num(at(wait_about(d, "mafia.heal_pick", d.acc.id), "target")), c1.acc.id);

  std::vector<receiver> dropped;
  for (auto& [id, frames] : old_frames)
    dropped.push_back(
        {id, false, fmt::format("{} (first socket)", t.of(id).acc.nickname), &frames});
  auto leaks = t.leaks(dropped);
  EXPECT_TRUE(leaks.empty()) << leaks.size() << " leaks:" << first_leaks(leaks);
}

// --- 4. Leaving mid-game -------------------------------------------------------------------------

// A citizen leaves: everyone hears mafia.death (cause left) and the game goes on. Then the mafia
// leaves, which decides the game for the town. In a second room, two town players leave and the
// mafia win.
TEST(MafiaTest, leaving_mid_game_is_a_death_that_can_end_the_game) {
  server_process srv;
  json::object settings{{"day_ms", 20000}, {"seed", 5}};
  {
    table t;
    t.seats = seat_players(srv.port(), {"Qa", "Ra", "Sa", "Ta", "Ua"});
    start_game(t, settings);
    for (auto* s : t.everyone())
      wait_phase(*s, "day", 1);
    auto& m = t.one("mafia");
    auto& c = t.one("citizen");
    c.ws->call("room.leave");
    for (auto* s : t.but({&c})) {
      EXPECT_EQ(str(at(wait_about(*s, "room.member_left", c.acc.id), "reason")), "left");
      EXPECT_EQ(str(at(wait_about(*s, "mafia.death", c.acc.id), "cause")), "left");
    }
    // The game goes on: the day channel still works, and nobody heard of an end.
    auto tok = fresh_token();
    m.ws->call("room.chat", {{"text", tok}});
    for (auto* s : t.but({&c})) {
      wait_chat(*s, tok);
      EXPECT_EQ(s->ws->count_received("room.game_ended"), 0u);
    }
    m.ws->call("room.leave");
    for (auto* s : t.but({&c, &m})) {
      EXPECT_EQ(str(at(wait_about(*s, "mafia.death", m.acc.id), "cause")), "left");
      auto end = s->ws->expect("room.game_ended");
      EXPECT_EQ(str(at(end, "data.result.winner")), "town") << json::serialize(end);
    }
    auto g =
        http_call(srv.port(), "GET", "/v1/games/" + t.game_id, {}, bearer(t.seats[0].acc.token));
    ASSERT_EQ(g.status, 200) << g.body;
    EXPECT_EQ(str(at(g.json(), "record.winner")), "town");
  }
  {
    table t;
    t.seats = seat_players(srv.port(), {"Va", "Wa", "Xa", "Ya"});
    start_game(t, settings);
    ASSERT_EQ(t.with_role("mafia").size(), 1u);
    auto& m = t.one("mafia");
    auto town = t.but({&m});
    for (auto* s : t.everyone())
      wait_phase(*s, "day", 1);
    town[0]->ws->call("room.leave");
    for (auto* s : t.but({town[0]}))
      EXPECT_EQ(str(at(wait_about(*s, "mafia.death", town[0]->acc.id), "cause")), "left");
    town[1]->ws->call("room.leave");
    for (auto* s : t.but({town[0], town[1]})) {
      EXPECT_EQ(str(at(wait_about(*s, "mafia.death", town[1]->acc.id), "cause")), "left");
      auto end = s->ws->expect("room.game_ended");
      EXPECT_EQ(str(at(end, "data.result.winner")), "mafia") << json::serialize(end);
    }
    auto leaks = t.leaks();
    EXPECT_TRUE(leaks.empty()) << leaks.size() << " leaks:" << first_leaks(leaks);
  }
}

// --- 5. The dead chat ----------------------------------------------------------------------------

// After an execution, the dead player's lines go to the dead and a spectator only; the living
// never receive them. The mafia channel at night reaches the mafia and the dead, not the
// spectator; the living's day chat reaches the dead and the spectator.
TEST(MafiaTest, dead_chat_reaches_only_the_dead_and_spectators) {
  server_process srv;
  table t;
  t.seats = seat_players(srv.port(), {"Yoo", "Zin", "Ae", "Bo", "Cy"});
  auto watchers = seat_players(srv.port(), {"Watcher"});
  auto& spec = watchers[0];
  start_game(t,
             {{"day_ms", 1200},
              {"vote_ms", 5000},
              {"defense_ms", 100},
              {"verdict_ms", 5000},
              {"night_ms", 5000},
              {"night_early_end", true},
              {"seed", 9}},
             true);
  auto joined =
      snapshot_of_reply(spec.ws->call("room.join", {{"room_id", t.room_id}, {"spectate", true}}));
  ASSERT_TRUE(joined.contains("game")) << json::serialize(joined);
  EXPECT_FALSE(at(joined, "game").as_object().contains("me")) << json::serialize(joined);
  auto& m = t.one("mafia");
  auto& d = t.one("doctor");
  auto& p = t.one("police");
  auto& c1 = t.one("citizen");
  auto& c2 = t.one("citizen", 1);
  auto observers = t.everyone();
  observers.push_back(&spec);

  execute(t.everyone(), observers, c1, c2, 1);
  for (auto* s : observers)
    wait_phase(*s, "night", 1);

  // Night: the dead talk among the dead (and the spectator); the mafia among the mafia and dead.
  auto dead_tok = fresh_token();
  c1.ws->call("room.chat", {{"text", dead_tok}});
  EXPECT_EQ(str(at(wait_chat(c1, dead_tok), "channel")), "dead");
  EXPECT_EQ(str(at(wait_chat(spec, dead_tok), "channel")), "dead");
  auto mafia_tok = fresh_token();
  m.ws->call("room.chat", {{"text", mafia_tok}});
  EXPECT_EQ(str(at(wait_chat(m, mafia_tok), "channel")), "mafia");
  EXPECT_EQ(str(at(wait_chat(c1, mafia_tok), "channel")), "mafia") << "the dead overhear";
  expect_refused(c2, "room.chat", {{"text", fresh_token()}}, "channel_closed");
  auto spec_tok = fresh_token();
  spec.ws->call("room.chat", {{"text", spec_tok}});
  EXPECT_EQ(str(at(wait_chat(c1, spec_tok), "channel")), "dead");

  // The night passes with nobody dead (the doctor saves the mafia's pick).
  m.ws->call("mafia.kill", {{"target", c2.acc.id}});
  d.ws->call("mafia.heal", {{"target", c2.acc.id}});
  p.ws->call("mafia.investigate", {{"target", d.acc.id}});
  for (auto* s : observers) {
    EXPECT_TRUE(at(s->ws->expect("mafia.night_result"), "data.killed").is_null());
    wait_phase(*s, "day", 2);
  }

  // Day 2: the living's day chat reaches everyone, the dead included; the dead's does not.
  auto day_tok = fresh_token();
  c2.ws->call("room.chat", {{"text", day_tok}});
  for (auto* s : observers)
    EXPECT_EQ(str(at(wait_chat(*s, day_tok), "channel")), "day");
  auto dead_tok2 = fresh_token();
  c1.ws->call("room.chat", {{"text", dead_tok2}});
  wait_chat(c1, dead_tok2);
  wait_chat(spec, dead_tok2);
  // A barrier: a later day line every living player receives after anything sent before it.
  auto barrier = fresh_token();
  d.ws->call("room.chat", {{"text", barrier}});
  for (auto* s : observers)
    wait_chat(*s, barrier);
  for (auto* s : {&m, &d, &p, &c2}) {
    EXPECT_FALSE(history_mentions(*s->ws, dead_tok)) << s->acc.nickname;
    EXPECT_FALSE(history_mentions(*s->ws, dead_tok2)) << s->acc.nickname;
    EXPECT_FALSE(history_mentions(*s->ws, spec_tok)) << s->acc.nickname;
    if (s != &m) {
      EXPECT_FALSE(history_mentions(*s->ws, mafia_tok)) << s->acc.nickname;
    }
  }
  EXPECT_FALSE(history_mentions(*spec.ws, mafia_tok)) << "the mafia channel is not for spectators";
  auto leaks = t.leaks({{spec.acc.id, true, "Watcher", &spec.ws->history()}});
  EXPECT_TRUE(leaks.empty()) << leaks.size() << " leaks:" << first_leaks(leaks);
}

// --- 6. Bad input --------------------------------------------------------------------------------

// Each illegal action over the wire is answered by its stable code, changes nothing, keeps the
// connection open, and the next legal action still works.
TEST(MafiaTest, bad_input_gets_stable_codes_and_the_game_goes_on) {
  server_process srv;
  table t;
  t.seats = seat_players(srv.port(), {"Da", "Eu", "Fi", "Go", "Hu"});
  start_game(t, {{"day_ms", 1000},
                 {"vote_ms", 5000},
                 {"defense_ms", 100},
                 {"verdict_ms", 5000},
                 {"night_ms", 5000},
                 {"night_early_end", true},
                 {"seed", 13}});
  auto& m = t.one("mafia");
  auto& d = t.one("doctor");
  auto& p = t.one("police");
  auto& c1 = t.one("citizen");
  auto& c2 = t.one("citizen", 1);
  for (auto* s : t.everyone())
    wait_phase(*s, "day", 1);

  // Day 1.
  expect_refused(c2, "mafia.vote", {{"target", c1.acc.id}}, "wrong_phase");
  expect_refused(c2, "mafia.kill", {{"target", c1.acc.id}}, "wrong_role");
  expect_refused(d, "mafia.investigate", {{"target", m.acc.id}}, "wrong_role");
  expect_refused(m, "mafia.kill", {{"target", c1.acc.id}}, "wrong_phase");
  expect_refused(c2, "mafia.signal", {{"to", 999999999}, {"kind", "offer"}}, "unknown_player");
  expect_refused(c2, "mafia.signal", {{"to", c1.acc.id}, {"kind", "smoke"}}, "bad_field");
  expect_refused(c2, "mafia.signal", {{"to", c1.acc.id}}, "missing_field");
  expect_refused(c2, "mafia.kill", json::object{}, "missing_field");
  expect_refused(c2, "mafia.vote", {{"target", "Fi"}}, "bad_field");
  expect_refused(c2, "mafia.verdict", {{"yes", 1}}, "bad_field");
  expect_refused(d, "mafia.heal", {{"target", -3}}, "bad_field");
  // The next legal action works: a signal relayed to its target.
  c2.ws->call("mafia.signal", {{"to", c1.acc.id}, {"kind", "offer"}, {"data", {{"sdp", "v=0"}}}});
  auto sig = c1.ws->expect("mafia.signal");
  EXPECT_EQ(num(at(sig, "data.from")), c2.acc.id);
  EXPECT_EQ(str(at(sig, "data.kind")), "offer");
  EXPECT_EQ(str(at(sig, "data.data.sdp")), "v=0");

  // The vote: bad targets, then the legal vote; Citizen 1 is executed.
  for (auto* s : t.everyone())
    wait_phase(*s, "vote", 1);
  expect_refused(c2, "mafia.vote", {{"target", 999999999}}, "bad_target");
  expect_refused(c2, "mafia.vote", {{"target", c2.acc.id}}, "bad_target");
  expect_refused(c2, "mafia.verdict", {{"yes", true}}, "wrong_phase");
  for (auto* s : t.everyone())
    s->ws->call("mafia.vote", {{"target", s == &c1 ? c2.acc.id : c1.acc.id}});
  for (auto* s : t.everyone())
    wait_phase(*s, "verdict", 1);
  expect_refused(c1, "mafia.verdict", {{"yes", false}}, "not_eligible");
  expect_refused(c1, "mafia.vote", {{"target", m.acc.id}}, "wrong_phase");
  for (auto* s : t.but({&c1}))
    s->ws->call("mafia.verdict", {{"yes", true}});
  for (auto* s : t.everyone()) {
    EXPECT_EQ(str(at(wait_about(*s, "mafia.death", c1.acc.id), "cause")), "executed");
    wait_phase(*s, "night", 1);
  }

  // Night: the dead may not act; wrong roles; bad targets; then the legal picks end the night.
  expect_refused(c1, "mafia.vote", {{"target", m.acc.id}}, "not_alive");
  expect_refused(c1, "mafia.kill", {{"target", m.acc.id}}, "not_alive");
  expect_refused(d, "mafia.kill", {{"target", c2.acc.id}}, "wrong_role");
  expect_refused(m, "mafia.heal", {{"target", m.acc.id}}, "wrong_role");
  expect_refused(c2, "mafia.investigate", {{"target", m.acc.id}}, "wrong_role");
  expect_refused(m, "mafia.kill", {{"target", c1.acc.id}}, "bad_target");
  expect_refused(m, "mafia.kill", {{"target", 999999999}}, "bad_target");
  expect_refused(p, "mafia.investigate", {{"target", 999999999}}, "bad_target");
  expect_refused(c2, "mafia.signal", {{"to", c1.acc.id + 999999}, {"kind", "ice"}},
                 "unknown_player");
  m.ws->call("mafia.kill", {{"target", c2.acc.id}});
  d.ws->call("mafia.heal", {{"target", c2.acc.id}});
  EXPECT_EQ(at(p.ws->call("mafia.investigate", {{"target", m.acc.id}}), "is_mafia"),
            json::value(true));
  for (auto* s : t.everyone()) {
    EXPECT_TRUE(at(s->ws->expect("mafia.night_result"), "data.killed").is_null());
    wait_phase(*s, "vote", 2);
  }

  // Day 2's vote: the dead may not vote, nobody may vote for the dead; the living still can.
  expect_refused(c1, "mafia.vote", {{"target", m.acc.id}}, "not_alive");
  expect_refused(c2, "mafia.vote", {{"target", c1.acc.id}}, "bad_target");
  c2.ws->call("mafia.vote", {{"target", m.acc.id}});
  auto tally_about_m = m.ws->recv_until([&](const json::object& f) {
    return is_event(f, "mafia.vote_tally") && !at(f, "data.tally").as_array().empty() &&
           num(at(f, "data.tally.0.target")) == m.acc.id;
  });
  ASSERT_TRUE(tally_about_m) << "no tally of day 2's vote";
  const auto& tally = *tally_about_m;
  EXPECT_EQ(num(at(tally, "data.tally.0.target")), m.acc.id) << json::serialize(tally);
  EXPECT_EQ(ids_of(at(tally, "data.tally.0.voters")), std::vector<std::int64_t>{c2.acc.id});
  for (auto& s : t.seats)
    EXPECT_FALSE(s.ws->closed()) << s.acc.nickname;
  auto leaks = t.leaks();
  EXPECT_TRUE(leaks.empty()) << leaks.size() << " leaks:" << first_leaks(leaks);
}

// --- The seed ------------------------------------------------------------------------------------

// The same seed deals the same roles (the replay feature), so a member who is handed the seed and
// the seat order can recompute every role. The seed must therefore not reach the other members:
// their room snapshots (join replies, reconnect hellos) must not carry settings.seed.
TEST(MafiaTest, seeded_deal_is_not_handed_to_the_other_members) {
  server_process srv;
  std::vector<std::vector<std::string>> deals;
  json::object joined_snapshot;
  for (int round = 0; round < 2; ++round) {
    table t;
    t.seats = seat_players(srv.port(), {fmt::format("Se{}a", round), fmt::format("Se{}b", round),
                                        fmt::format("Se{}c", round), fmt::format("Se{}d", round)});
    auto snap = create_mafia_room(t.seats[0], {{"seed", 4242}, {"day_ms", 20000}});
    t.room_id = str(at(snap, "id"));
    for (std::size_t i = 1; i < t.seats.size(); ++i) {
      auto js = snapshot_of_reply(t.seats[i].ws->call("room.join", {{"room_id", t.room_id}}));
      if (round == 0 && i == 1) joined_snapshot = js;
      t.seats[i].ws->call("room.ready", {{"ready", true}});
    }
    t.seats[0].ws->call("room.start");
    collect_roles(t);
    std::vector<std::string> deal;
    for (auto& s : t.seats)
      deal.push_back(t.roles[s.acc.id]);
    deals.push_back(deal);
  }
  ASSERT_EQ(deals[0], deals[1]) << "the same seed deals the same roles by seat";
  EXPECT_FALSE(at(joined_snapshot, "settings").as_object().contains("seed"))
      << "a joining player's snapshot carries the room's seed, from which (with the seat order in "
         "the same snapshot) every role of the coming game can be recomputed: "
      << json::serialize(at(joined_snapshot, "settings"));
}

// --- The checker itself --------------------------------------------------------------------------

// The leak checker flags what it must (so that a clean leak run means something) and lets through
// what each receiver is entitled to.
TEST(MafiaTest, leak_checker_flags_what_it_must) {
  auto ev = [](std::string_view type, json::object data) {
    return json::object{{"type", type}, {"data", std::move(data)}};
  };
  const std::map<std::int64_t, std::string> roles = {
      {1, "mafia"}, {2, "mafia"}, {3, "doctor"}, {4, "police"}, {5, "citizen"}};
  const std::map<std::string, std::string> channels = {{"tok_1", "mafia"}, {"tok_2", "dead"}};
  auto count = [&](std::int64_t me, bool spectator, std::vector<json::object> frames) {
    receiver r{me, spectator, "r", &frames};
    return find_leaks(r, roles, channels).size();
  };
  auto role = [&](std::int64_t p) {
    return ev("mafia.role", {{"player", p}, {"role", roles.at(p)}});
  };
  auto death = [&](std::int64_t p) {
    return ev("mafia.death", {{"player", p}, {"cause", "killed"}});
  };
  json::array team{json::object{{"player", 1}, {"role", "mafia"}},
                   json::object{{"player", 2}, {"role", "mafia"}}};
  auto team_role = ev("mafia.role", {{"player", 1}, {"role", "mafia"}, {"team", team}});
  auto kill_pick = ev("mafia.kill_pick", {{"player", 1}, {"target", 5}});
  auto mafia_line = ev("mafia.chat", {{"channel", "mafia"}, {"from", 1}, {"text", "hi tok_1"}});
  auto dead_line = ev("mafia.chat", {{"channel", "day"}, {"from", 5}, {"text", "odd tok_2"}});
  auto other_role = ev("x", {{"who", json::object{{"player", 3}, {"role", "doctor"}}}});
  json::object game{{"mafia_picks", json::array{}}};
  json::object snapshot{{"type", "hello"},
                        {"id", 1},
                        {"ok", true},
                        {"data", json::object{{"room", json::object{{"game", game}}}}}};
  json::array revealed{json::object{{"player", 1}, {"role", "mafia"}}};
  auto ended = ev("room.game_ended", {{"players", revealed}});
  EXPECT_EQ(count(1, false, {team_role, kill_pick, mafia_line}), 0u);
  EXPECT_EQ(count(5, false, {role(5), kill_pick}), 1u);
  EXPECT_EQ(count(5, false, {role(5), death(5), kill_pick, other_role, mafia_line}), 0u);
  EXPECT_EQ(count(3, false, {role(3), team_role}), 4u);  // its own, two team entries, the team
  EXPECT_EQ(count(4, false, {role(4), other_role}), 1u);
  EXPECT_EQ(count(5, false, {role(5), mafia_line}), 2u);  // the line, and its token
  EXPECT_EQ(count(5, false, {role(5), dead_line}), 1u);   // the token, whatever the label
  EXPECT_EQ(count(9, true, {dead_line, other_role}), 1u);
  EXPECT_EQ(count(5, false, {role(5), snapshot}), 1u);
  EXPECT_EQ(count(1, false, {role(1), snapshot}), 0u);
  EXPECT_EQ(count(5, false, {role(5), ended}), 0u);
}

// --- 7. The leak run -----------------------------------------------------------------------------

// One bot: a player or a spectator, with what it has learned from its own frames.
struct bot {
  seat s;
  bool spectator = false;
  bool gone = false;                  // left the room
  std::vector<json::object> earlier;  // frames of sockets it dropped
  std::string role;
  std::set<std::int64_t> team;
  std::string phase;
  std::int64_t accused = 0;
  std::vector<std::int64_t> players;
  std::set<std::int64_t> dead;
  bool voted = false;
  bool acted = false;
  std::int64_t next_act = 0;
  bool ended = false;
};

struct leak_game_result {
  std::vector<std::string> problems;
  bool ended = false;
  std::size_t frames = 0;
  std::size_t private_chat = 0;  // mafia and dead channel lines received
  std::map<std::string, int> errors;
  int reconnects = 0;
  int leaves = 0;
  std::int64_t ms = 0;  // how long the game ran
};

void absorb(bot& b, const json::object& f) {
  auto type = type_of(f);
  if (f.contains("id")) return;
  const auto& d =
      f.contains("data") && f.at("data").is_object() ? f.at("data").as_object() : json::object();
  if (type == "mafia.started") {
    b.players.clear();
    for (const auto& p : at(d, "players").as_array())
      b.players.push_back(num(at(p, "player")));
  } else if (type == "mafia.role" && num(at(d, "player")) == b.s.acc.id) {
    b.role = str(at(d, "role"));
    if (auto* team = d.if_contains("team")) {
      for (const auto& e : team->as_array())
        b.team.insert(num(at(e, "player")));
    }
  } else if (type == "mafia.phase") {
    b.phase = str(at(d, "phase"));
    b.accused = d.contains("accused") ? num(d.at("accused")) : 0;
    b.voted = false;
    b.acted = false;
  } else if (type == "mafia.death") {
    b.dead.insert(num(at(d, "player")));
  } else if (type == "room.game_ended") {
    b.ended = true;
  }
}

leak_game_result play_leak_game(int port, int game, int players, std::uint64_t seed) {
  leak_game_result res;
  std::mt19937_64 rng(seed);
  auto chance = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };
  auto pick = [&](const std::vector<std::int64_t>& v) -> std::int64_t {
    if (v.empty()) return 0;
    return v[std::uniform_int_distribution<std::size_t>(0, v.size() - 1)(rng)];
  };
  std::vector<std::string> names;
  for (int i = 0; i < players; ++i)
    names.push_back(fmt::format("L{}p{}", game, i));
  bool with_spectator = game % 2 == 0;
  if (with_spectator) names.push_back(fmt::format("L{}spec", game));
  auto seated = seat_players(port, names);
  std::vector<bot> bots(seated.size());
  for (std::size_t i = 0; i < seated.size(); ++i) {
    bots[i].s = std::move(seated[i]);
    bots[i].spectator = with_spectator && i + 1 == seated.size();
  }
  json::object settings{{"day_ms", 120},
                        {"vote_ms", 300},
                        {"defense_ms", 80},
                        {"verdict_ms", 300},
                        {"night_ms", 250},
                        {"night_early_end", game % 3 != 0},
                        {"tie", game % 4 == 1 ? "night" : "day"},
                        {"seed", static_cast<std::int64_t>(seed)}};
  auto snap = create_mafia_room(bots[0].s, settings, true);
  auto room_id = str(at(snap, "id"));
  for (std::size_t i = 1; i < bots.size(); ++i) {
    if (bots[i].spectator) continue;
    bots[i].s.ws->call("room.join", {{"room_id", room_id}});
    bots[i].s.ws->call("room.ready", {{"ready", true}});
  }
  bots[0].s.ws->call("room.start");
  if (with_spectator)
    bots.back().s.ws->call("room.join", {{"room_id", room_id}, {"spectate", true}});

  // Tokens sent by a bot that knew it was dead, or by the spectator: they must be dead-channel.
  std::set<std::string> ghost_tokens;
  const int leaver =
      chance(0.4) ? static_cast<int>(rng() % static_cast<std::uint64_t>(players)) : -1;
  const int dropper = static_cast<int>(rng() % static_cast<std::uint64_t>(players));
  bool dropped = false;
  const std::int64_t unknown = 900000000 + game;

  const auto began = std::chrono::steady_clock::now();
  auto deadline = began + 25s;
  bool ended = false;
  while (!ended && std::chrono::steady_clock::now() < deadline) {
    for (std::size_t i = 0; i < bots.size(); ++i) {
      auto& b = bots[i];
      if (b.gone) continue;
      // Frames already pending need no read; then one fresh one. A bot writes only right after a
      // recv that returned a fresh frame, when ws_client has no read outstanding: in
      // harness.cpp's read_one, a read that completes while a write runs the client's I/O is
      // not noticed, and the next read appends the following message to the same buffer (two
      // envelopes glued together, both lost). After acting, the bot catches up on the rest.
      while (!b.s.ws->pending().empty())
        absorb(b, *b.s.ws->recv(1ms));
      auto fresh = b.s.ws->recv(1ms);
      const bool may_write = fresh.has_value();
      if (fresh) absorb(b, *fresh);
      if (b.ended) ended = true;
      auto act = [&]() {
        auto now = now_ms();
        if (now < b.next_act) return;
        b.next_act = now + 15 + static_cast<std::int64_t>(rng() % 40);
        auto& ws = *b.s.ws;
        const auto me = b.s.acc.id;
        bool dead = b.dead.count(me) > 0;
        std::vector<std::int64_t> alive_others, alive_town, everyone_else;
        for (auto id : b.players) {
          if (id == me) continue;
          everyone_else.push_back(id);
          if (b.dead.count(id)) continue;
          alive_others.push_back(id);
          if (!b.team.count(id)) alive_town.push_back(id);
        }
        std::vector<std::int64_t> dead_ids(b.dead.begin(), b.dead.end());
        auto chat = [&] {
          auto tok = fresh_token();
          if (dead || b.spectator) ghost_tokens.insert(tok);
          ws.send_request("room.chat",
                          {{"text", fmt::format("{} says {}", b.s.acc.nickname, tok)}});
        };
        if (b.spectator) {
          if (chance(0.2)) chat();
          return;
        }
        // Once per game: one player drops and reconnects; maybe another leaves for good.
        if (!dead) {
          if (static_cast<int>(i) == dropper && !dropped && chance(0.3)) {
            dropped = true;
            ++res.reconnects;
            ws.drop();
            b.earlier.insert(b.earlier.end(), ws.history().begin(), ws.history().end());
            b.s.ws = std::make_unique<ws_client>(port, b.s.acc.token);
            b.s.ws->hello();
            return;
          }
          if (static_cast<int>(i) == leaver && chance(0.08)) {
            ws.send_request("room.leave");
            b.gone = true;
            ++res.leaves;
            return;
          }
        }
        // Now and then, something illegal.
        if (chance(0.15)) {
          switch (rng() % 8) {
            case 0:
              ws.send_request("mafia.vote", {{"target", unknown}});
              break;
            case 1:
              ws.send_request("mafia.vote", {{"target", "nobody"}});
              break;
            case 2:
              ws.send_request("mafia.kill", json::object{});
              break;
            case 3:
              ws.send_request("mafia.signal", {{"to", unknown}, {"kind", "offer"}});
              break;
            case 4:
              if (!dead_ids.empty()) ws.send_request("mafia.vote", {{"target", pick(dead_ids)}});
              break;
            case 5:
              ws.send_request(b.role == "police" ? "mafia.kill" : "mafia.investigate",
                              {{"target", pick(alive_others) ? pick(alive_others) : unknown}});
              break;
            case 6:
              ws.send_request("mafia.verdict", {{"yes", chance(0.5)}});
              break;
            default:
              ws.send_request(b.role == "doctor" ? "mafia.kill" : "mafia.heal",
                              {{"target", pick(everyone_else) ? pick(everyone_else) : unknown}});
              break;
          }
          return;
        }
        if (dead) {
          if (chance(0.3)) chat();
          return;
        }
        if (chance(0.08) && !everyone_else.empty()) {
          ws.send_request("mafia.signal",
                          {{"to", pick(everyone_else)}, {"kind", "ice"}, {"data", {{"c", 1}}}});
          return;
        }
        if (b.phase == "day" || b.phase == "defense") {
          if (chance(0.3)) chat();
        } else if (b.phase == "vote") {
          if (!b.voted || chance(0.05)) {
            b.voted = true;
            // Most vote for the same suspect (the lowest living id but their own), so that the
            // games move on.
            std::int64_t target = alive_others.empty() ? 0 : alive_others.front();
            if (chance(0.15)) target = pick(alive_others);
            if (chance(0.1) || target == 0) {
              ws.send_request("mafia.vote", json::object{});
            } else {
              ws.send_request("mafia.vote", {{"target", target}});
            }
          } else if (chance(0.2)) {
            chat();
          }
        } else if (b.phase == "verdict") {
          if (!b.voted) {
            b.voted = true;
            ws.send_request("mafia.verdict", {{"yes", chance(0.85)}});
          }
        } else if (b.phase == "night") {
          if (b.role == "mafia") {
            if ((!b.acted || chance(0.05)) && !alive_town.empty()) {
              b.acted = true;
              ws.send_request("mafia.kill",
                              {{"target", chance(0.8) ? alive_town.front() : pick(alive_town)}});
            } else if (chance(0.3)) {
              chat();
            }
          } else if (b.role == "doctor") {
            if (!b.acted || chance(0.05)) {
              b.acted = true;
              std::vector<std::int64_t> all_alive = alive_others;
              all_alive.push_back(me);
              ws.send_request("mafia.heal", {{"target", pick(all_alive)}});
            }
          } else if (b.role == "police") {
            if (!b.acted && !alive_others.empty()) {
              b.acted = true;
              ws.send_request("mafia.investigate", {{"target", pick(alive_others)}});
            }
          } else if (chance(0.1)) {
            chat();  // the town sleeps: channel_closed
          }
        }
      };
      if (!ended && !b.s.ws->closed() && may_write) act();
      // Catch up on what else has arrived (the next write waits for a fresh frame again).
      for (int n = 0; n < 50 && !b.gone && !b.s.ws->closed(); ++n) {
        auto more = b.s.ws->recv(1ms);
        if (!more) break;
        absorb(b, *more);
      }
      if (b.ended) ended = true;
    }
  }
  res.ended = ended;
  // Let the last frames arrive.
  for (auto& b : bots) {
    if (!b.gone) {
      while (b.s.ws->recv(5ms)) {
      }
    }
  }

  std::vector<std::vector<json::object>> all_frames(bots.size());
  std::vector<const std::vector<json::object>*> ptrs;
  for (std::size_t i = 0; i < bots.size(); ++i) {
    all_frames[i] = bots[i].earlier;
    all_frames[i].insert(all_frames[i].end(), bots[i].s.ws->history().begin(),
                         bots[i].s.ws->history().end());
    ptrs.push_back(&all_frames[i]);
    res.frames += all_frames[i].size();
  }
  // The truth: every player's role as they were told it themselves, and as the end revealed it.
  std::map<std::int64_t, std::string> roles;
  for (std::size_t i = 0; i < bots.size(); ++i) {
    for (const auto& f : all_frames[i]) {
      if (is_event(f, "mafia.role") && num(at(f, "data.player")) == bots[i].s.acc.id)
        roles[bots[i].s.acc.id] = str(at(f, "data.role"));
      if (is_event(f, "room.game_ended") && has(f, "data.result.players")) {
        for (const auto& pl : at(f, "data.result.players").as_array())
          roles[num(at(pl, "player"))] = str(at(pl, "role"));
      }
    }
  }
  for (const auto& b : bots) {
    if (!b.spectator && !roles.count(b.s.acc.id))
      res.problems.push_back(
          fmt::format("game {}: {} never learned its role", game, b.s.acc.nickname));
  }
  res.ms = std::chrono::duration_cast<ms>(std::chrono::steady_clock::now() - began).count();
  auto channels = chat_channels(ptrs, res.problems);
  for (const auto& tok : ghost_tokens) {
    auto it = channels.find(tok);
    if (it != channels.end() && it->second != "dead")
      res.problems.push_back(fmt::format("game {}: {} from the dead or a spectator went to {}",
                                         game, tok, it->second));
  }
  static const std::set<std::string> expected_errors = {
      "wrong_phase",  "not_alive",      "bad_target",    "wrong_role", "channel_closed",
      "not_eligible", "unknown_player", "missing_field", "bad_field",  "forbidden",
      "out_of_order", "no_game",        "not_in_room"};
  for (std::size_t i = 0; i < bots.size(); ++i) {
    receiver r{bots[i].s.acc.id, bots[i].spectator, bots[i].s.acc.nickname, &all_frames[i]};
    auto l = find_leaks(r, roles, channels);
    for (auto& x : l)
      res.problems.push_back(fmt::format("game {} (seed {}): {}", game, seed, x));
    for (const auto& f : all_frames[i]) {
      if (is_event(f, "mafia.chat")) {
        auto ch = str(at(f, "data.channel"));
        res.private_chat += ch != "day";
      }
      if (!f.contains("id") || !f.contains("ok") || f.at("ok") == json::value(true)) continue;
      auto code = error_code(f);
      ++res.errors[code];
      if (!expected_errors.count(code))
        res.problems.push_back(
            fmt::format("game {}: unexpected error {}", game, json::serialize(f)));
    }
    if (!bots[i].gone && bots[i].s.ws->closed())
      res.problems.push_back(fmt::format("game {}: {}'s connection was closed: {}", game,
                                         bots[i].s.acc.nickname, bots[i].s.ws->read_error()));
  }
  return res;
}

// At least ten seeded games (5 to 8 players, short phases) of bots making random legal and
// illegal actions, random chats with unique tokens, a reconnect and sometimes a leave; every
// frame each client receives is recorded and checked by find_leaks.
TEST(MafiaTest, leak_run_of_seeded_bot_games) {
  server_process srv({"limits.ws_rate=2000", "limits.ws_burst=2000"});
  constexpr int games = 12;
  constexpr int at_once = 12;
  std::vector<leak_game_result> results(games);
  for (int wave = 0; wave < games; wave += at_once) {
    std::vector<std::thread> threads;
    for (int g = wave; g < wave + at_once && g < games; ++g) {
      threads.push_back(spawn([&, g] {
        results[static_cast<std::size_t>(g)] =
            play_leak_game(srv.port(), g, 5 + g % 4, 1000 + 7919 * static_cast<std::uint64_t>(g));
      }));
    }
    for (auto& th : threads)
      th.join();
  }
  int ended = 0, reconnects = 0, leaves = 0;
  std::int64_t longest = 0;
  std::size_t frames = 0, private_chat = 0;
  std::map<std::string, int> errors;
  std::vector<std::string> problems;
  for (const auto& r : results) {
    ended += r.ended;
    reconnects += r.reconnects;
    leaves += r.leaves;
    longest = std::max(longest, r.ms);
    frames += r.frames;
    private_chat += r.private_chat;
    for (const auto& [code, n] : r.errors)
      errors[code] += n;
    problems.insert(problems.end(), r.problems.begin(), r.problems.end());
  }
  std::string error_summary;
  for (const auto& [code, n] : errors)
    error_summary += fmt::format(" {}={}", code, n);
  std::cout << fmt::format(
      "[ leak run ] {} games, {} ended (longest {} ms), {} reconnects, {} leaves, {} frames,"
      " {} private chat lines; errors:{}\n",
      games, ended, longest, reconnects, leaves, frames, private_chat, error_summary);
  EXPECT_TRUE(problems.empty()) << problems.size() << " problems:" << first_leaks(problems, 10);
  EXPECT_EQ(ended, games) << "every game should end within its time bound";
  EXPECT_GT(private_chat, 0u) << "the run never exercised the mafia or dead channels";
  EXPECT_GT(reconnects, 0) << "the run never reconnected anyone";
  for (const char* code : {"wrong_phase", "not_alive", "bad_target", "wrong_role", "missing_field",
                           "bad_field", "unknown_player"})
    EXPECT_GT(errors[code], 0) << "the run never provoked " << code;
}

}  // namespace
}  // namespace maratang::it

namespace maratang::it {
namespace {

// Without rooms.allow_seeds a creator cannot fix the deal.
TEST(MafiaTest, seeds_are_refused_unless_the_server_allows_them) {
  server_process srv({"rooms.allow_seeds=false"});
  auto seats = seat_players(srv.port(), {"Nos1"});
  auto reply = seats[0].ws->request(
      "room.create", {{"mode", "mafia"}, {"name", "seeded"}, {"settings", {{"seed", 7}}}});
  EXPECT_EQ(error_code(reply), "bad_field");
  EXPECT_NE(json::serialize(reply).find("rooms.allow_seeds"), std::string::npos);
  // Without a seed the same request works.
  auto ok = seats[0].ws->request("room.create", {{"mode", "mafia"}, {"name", "fair"}});
  EXPECT_EQ(error_code(ok), "");
}

}  // namespace
}  // namespace maratang::it
