#include "modes/mafia/mafia_mode.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <boost/json.hpp>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>

#include "proto/fields.hpp"

namespace maratang::modes {

namespace json = boost::json;
using lobby::player_id;
using lobby::room_api;

namespace {

// --- Messages -----------------------------------------------------------------------------------

constexpr proto::field_spec vote_fields[] = {
    {"target", proto::field_type::integer, false, 1, INT64_MAX,
     "The suspect (a living player's id); leave it out to abstain."},
};
constexpr proto::field_spec verdict_fields[] = {
    {"yes", proto::field_type::boolean, true, 0, 0, "true to execute the accused."},
};
constexpr proto::field_spec target_fields[] = {
    {"target", proto::field_type::integer, true, 1, INT64_MAX, "A living player's id."},
};
constexpr proto::field_spec signal_fields[] = {
    {"to", proto::field_type::integer, true, 1, INT64_MAX, "The room member to signal."},
    {"kind", proto::field_type::string, true, 1, 16, "`offer`, `answer`, `ice` or `bye`."},
    {"data", proto::field_type::object, false, 0, 0, "The SDP or ICE candidate, relayed as is."},
};

constexpr proto::message_spec messages[] = {
    {"mafia.vote", proto::direction::request,
     "Citizen vote: name a suspect, or abstain. May be changed until the phase ends.", vote_fields,
     "`{target}` (null when abstaining)", true},
    {"mafia.verdict", proto::direction::request,
     "Yes/no on executing the accused (living players but the accused).", verdict_fields, "`{yes}`",
     true},
    {"mafia.kill", proto::direction::request,
     "Night, mafia only: choose the victim. May be changed until the night ends.", target_fields,
     "`{target}`", true},
    {"mafia.heal", proto::direction::request,
     "Night, doctor only: choose the patient. May be changed until the night ends.", target_fields,
     "`{target}`", true},
    {"mafia.investigate", proto::direction::request,
     "Night, police only: learn whether one player is mafia (once a night).", target_fields,
     "`{player, is_mafia}`", true},
    {"mafia.signal", proto::direction::request,
     "Relays WebRTC signaling to another member, if the media policy lets the two connect.",
     signal_fields, "`{}`", true},
    {"mafia.started",
     proto::direction::event,
     "The game began: `{players: [{player, nickname}], counts: {mafia, doctor, police, citizen}, "
     "rules}`.",
     {},
     {},
     false},
    {"mafia.role",
     proto::direction::event,
     "To one player only: `{player, role}`; mafia also get `team: [{player, role}]`.",
     {},
     {},
     false},
    {"mafia.phase",
     proto::direction::event,
     "A phase began: `{phase, day, round, ends_at, accused}`; phase `day`, `vote`, `defense`, "
     "`verdict` or `night`; `round` is the vote round within the day (1, then one more each "
     "time a tied or empty vote starts the day again, at most the `max_tied_votes` rule); "
     "`ends_at` in server ms; `accused` in defense and verdict.",
     {},
     {},
     false},
    {"mafia.vote_tally",
     proto::direction::event,
     "Live citizen vote: `{tally: [{target, voters}], abstained: [ids]}`.",
     {},
     {},
     false},
    {"mafia.vote_result",
     proto::direction::event,
     "`{accused}` (null on a tie or no votes) and `tie`.",
     {},
     {},
     false},
    {"mafia.verdict_tally",
     proto::direction::event,
     "Live verdict counts: `{yes, no}`.",
     {},
     {},
     false},
    {"mafia.verdict_result",
     proto::direction::event,
     "`{player, executed, yes, no}`.",
     {},
     {},
     false},
    {"mafia.kill_pick",
     proto::direction::event,
     "To the mafia (and the dead): `{player, target}`, one mafioso's current choice.",
     {},
     {},
     false},
    {"mafia.heal_pick",
     proto::direction::event,
     "To the doctor (and the dead): `{player, target}`.",
     {},
     {},
     false},
    {"mafia.investigation",
     proto::direction::event,
     "To the police (and the dead): `{by, player, is_mafia}`.",
     {},
     {},
     false},
    {"mafia.night_result",
     proto::direction::event,
     "At dawn: `{killed}`; null when nobody died, whether the mafia tied (or chose nobody) or "
     "the doctor saved their pick: the town is not told which.",
     {},
     {},
     false},
    {"mafia.death",
     proto::direction::event,
     "`{player, cause}` (`executed`, `killed`, `left`); with `role` when the room reveals roles "
     "on death.",
     {},
     {},
     false},
    {"mafia.roles",
     proto::direction::event,
     "To a player who just died: every role, `{roles: [{player, role}]}`.",
     {},
     {},
     false},
    {"mafia.chat",
     proto::direction::event,
     "A chat line: `{channel, from, nickname, text, ts}`; channel `day`, `mafia` or `dead`.",
     {},
     {},
     false},
    {"mafia.media",
     proto::direction::event,
     "To each member, their own media policy: `{phase, publish_to: [ids], hear: [ids], "
     "transport, ice_servers, ice_transport_policy, sfu?}`. `transport`: `mesh` (connect to "
     "`publish_to` and `hear` "
     "through `mafia.signal`) or `sfu`; `ice_servers`: the RTCPeerConnection's iceServers (TURN "
     "credentials expire after media.turn_ttl_s) and `ice_transport_policy` (`all` or `relay`); "
     "`sfu` (with `transport: sfu`): "
     "`{url, token, publish: room, hear: [{player, room}]}`, the Janus API, this member's token "
     "for this game, the videoroom to publish in and one per member heard.",
     {},
     {},
     false},
    {"mafia.signal",
     proto::direction::event,
     "Relayed signaling: `{from, kind, data}`.",
     {},
     {},
     false},
};

// --- Rules --------------------------------------------------------------------------------------

enum class role { citizen, mafia, doctor, police };
enum class phase { day, vote, defense, verdict, night, over };

std::string_view name(role r) {
  switch (r) {
    case role::mafia:
      return "mafia";
    case role::doctor:
      return "doctor";
    case role::police:
      return "police";
    case role::citizen:
      break;
  }
  return "citizen";
}

std::string_view name(phase p) {
  switch (p) {
    case phase::day:
      return "day";
    case phase::vote:
      return "vote";
    case phase::defense:
      return "defense";
    case phase::verdict:
      return "verdict";
    case phase::night:
      return "night";
    case phase::over:
      break;
  }
  return "over";
}

struct role_counts {
  int mafia = 1;
  int doctor = 1;
  int police = 0;
};

struct rules {
  std::int64_t day_ms = 60'000;
  std::int64_t vote_ms = 30'000;
  std::int64_t defense_ms = 20'000;
  std::int64_t verdict_ms = 15'000;
  std::int64_t night_ms = 30'000;
  bool police = true;
  bool night_early_end = false;
  bool tie_to_night = false;
  bool reveal_on_death = false;
  bool doctor_self_heal = true;
  bool unanimous_kill = false;  // mafia_kill: "unanimous" (else "plurality")
  std::int64_t max_tied_votes = 2;
  std::int64_t max_days = 30;
  std::optional<role_counts> roles;
};

constexpr int max_players = 20;  // the most a role count may name
constexpr std::int64_t min_phase_ms = 50;
constexpr std::int64_t max_phase_ms = 3'600'000;
constexpr std::size_t chat_history = 60;

struct duration_setting {
  std::string_view key;
  std::int64_t rules::*field;
};
constexpr duration_setting durations[] = {
    {"day_ms", &rules::day_ms},         {"vote_ms", &rules::vote_ms},
    {"defense_ms", &rules::defense_ms}, {"verdict_ms", &rules::verdict_ms},
    {"night_ms", &rules::night_ms},
};
struct flag_setting {
  std::string_view key;
  bool rules::*field;
};
struct limit_setting {
  std::string_view key;
  std::int64_t rules::*field;
  std::int64_t min;
  std::int64_t max;
};
constexpr limit_setting limits[] = {
    {"max_tied_votes", &rules::max_tied_votes, 1, 10},
    {"max_days", &rules::max_days, 1, 100},
};
constexpr flag_setting flags[] = {
    {"police", &rules::police},
    {"night_early_end", &rules::night_early_end},
    {"reveal_on_death", &rules::reveal_on_death},
    {"doctor_self_heal", &rules::doctor_self_heal},
};

// The default deal by player count: a quarter mafia (at least one), one doctor, and one police
// from five players when the police rule is on.
role_counts default_counts(int players, bool police) {
  role_counts c;
  c.mafia = players <= 5 ? 1 : players <= 8 ? 2 : players <= 12 ? 3 : players / 4;
  c.doctor = 1;
  c.police = police && players >= 5 ? 1 : 0;
  return c;
}

// Rules from validated settings; a key that is missing keeps its default.
rules rules_from(const json::object& s) {
  rules r;
  for (const auto& d : durations) {
    if (const auto* v = s.if_contains(d.key); v && v->is_int64()) r.*d.field = v->get_int64();
  }
  for (const auto& f : flags) {
    if (const auto* v = s.if_contains(f.key); v && v->is_bool()) r.*f.field = v->get_bool();
  }
  for (const auto& c : limits) {
    if (const auto* v = s.if_contains(c.key); v && v->is_int64()) r.*c.field = v->get_int64();
  }
  if (const auto* k = s.if_contains("mafia_kill"); k && k->is_string())
    r.unanimous_kill = k->get_string() == "unanimous";
  if (const auto* t = s.if_contains("tie"); t && t->is_string())
    r.tie_to_night = t->get_string() == "night";
  if (const auto* c = s.if_contains("roles"); c && c->is_object()) {
    const auto& o = c->get_object();
    r.roles = role_counts{static_cast<int>(o.at("mafia").as_int64()),
                          static_cast<int>(o.at("doctor").as_int64()),
                          static_cast<int>(o.at("police").as_int64())};
  }
  return r;
}

role_counts counts_for(const rules& r, int players) {
  return r.roles ? *r.roles : default_counts(players, r.police);
}

json::object rules_json(const rules& r) {
  json::object o;
  for (const auto& d : durations)
    o[d.key] = r.*d.field;
  for (const auto& f : flags)
    o[f.key] = r.*f.field;
  for (const auto& c : limits)
    o[c.key] = r.*c.field;
  o["tie"] = r.tie_to_night ? "night" : "day";
  o["mafia_kill"] = r.unanimous_kill ? "unanimous" : "plurality";
  return o;
}

// --- The game -----------------------------------------------------------------------------------

struct seat {
  player_id id = 0;
  std::string nickname;
  role r = role::citizen;
  bool alive = true;
};

struct chat_line {
  std::string_view channel;  // "day", "mafia" or "dead"
  json::object line;
};

json::value id_or_null(player_id p) {
  return p ? json::value(p) : json::value(nullptr);
}

class mafia_game final : public lobby::mode {
 public:
  mafia_game(rules r, std::shared_ptr<const media::media_options> media)
      : rules_(std::move(r)), media_(std::move(media)) {}

  void on_start(room_api& room) override {
    for (const auto& m : room.members()) {
      if (!m.spectator) seats_.push_back({m.id, m.nickname, role::citizen, true});
    }
    choose_media(room);
    auto c = counts_for(rules_, static_cast<int>(seats_.size()));
    std::vector<role> deck(seats_.size(), role::citizen);
    auto it = deck.begin();
    it = std::fill_n(it, c.mafia, role::mafia);
    it = std::fill_n(it, c.doctor, role::doctor);
    std::fill_n(it, c.police, role::police);
    std::shuffle(deck.begin(), deck.end(), room.random().engine());
    for (std::size_t i = 0; i < seats_.size(); ++i)
      seats_[i].r = deck[i];

    json::array players;
    for (const auto& s : seats_)
      players.push_back(json::object{{"player", s.id}, {"nickname", s.nickname}});
    auto citizens = static_cast<int>(seats_.size()) - c.mafia - c.doctor - c.police;
    room.send_all(
        "mafia.started",
        {{"players", players},
         {"counts",
          {{"mafia", c.mafia}, {"doctor", c.doctor}, {"police", c.police}, {"citizen", citizens}}},
         {"rules", rules_json(rules_)}});
    for (const auto& s : seats_)
      room.send_to(s.id, "mafia.role", role_json(s.id));
    json::array dealt;
    for (const auto& s : seats_)
      dealt.push_back(json::object{{"player", s.id}, {"role", name(s.r)}});
    room.log("roles", 0, {{"roles", dealt}});
    record(room, {{"kind", "start"}, {"roles", dealt}});
    day_ = 1;
    enter(room, phase::day);
  }

  result<json::object> on_message(room_api& room, player_id from, std::string_view type,
                                  const proto::fields& data) override {
    if (type == "mafia.signal") return signal(room, from, data);
    seat* me = find(from);
    if (!me) return error{errc::forbidden, "Spectators watch; they do not play."};
    if (phase_ == phase::over) return error{errc::wrong_phase, "The game is over."};
    if (!me->alive) return error{errc::not_alive, "The dead do not vote or act."};
    if (type == "mafia.vote") return vote(room, *me, data);
    if (type == "mafia.verdict") return verdict(room, *me, data.boolean("yes"));
    auto target = data.integer("target");
    if (type == "mafia.kill") return kill_pick(room, *me, target);
    if (type == "mafia.heal") return heal_pick(room, *me, target);
    return investigate(room, *me, target);
  }

  result<bool> on_chat(room_api& room, player_id from, std::string_view text) override {
    const seat* me = find(from);
    std::string_view channel;
    if (!me || !me->alive) {
      channel = "dead";  // the dead, and spectators, talk among themselves
    } else if (phase_ == phase::night) {
      if (me->r != role::mafia) return error{errc::channel_closed, "Night: the town sleeps."};
      channel = "mafia";
    } else if (phase_ == phase::defense && from != accused_) {
      return error{errc::channel_closed, "Only the accused speaks during the final defense."};
    } else {
      channel = "day";
    }
    std::string nickname;
    if (me) {
      nickname = me->nickname;
    } else {
      for (const auto& m : room.members()) {
        if (m.id == from) nickname = m.nickname;
      }
    }
    json::object line{{"channel", channel},
                      {"from", from},
                      {"nickname", nickname},
                      {"text", text},
                      {"ts", room.now_ms()}};
    room.log("chat", from, {{"channel", channel}, {"text", text}});
    deliver_chat(room, channel, line);
    chat_.push_back({channel, std::move(line)});
    if (chat_.size() > chat_history) chat_.pop_front();
    return true;
  }

  void on_timer(room_api& room, std::uint64_t tag) override {
    if (tag != phase_serial_) return;
    timer_ = 0;  // fired
    end_phase(room);
  }

  void on_leave(room_api& room, player_id p) override {
    seat* s = find(p);
    if (!s || !s->alive || phase_ == phase::over) return;
    room.checkpoint();  // written after this call, with whatever it changed
    // Choices by and against the leaver are dropped; then they die, which may end the game.
    votes_.erase(p);
    std::erase_if(votes_, [&](const auto& v) { return v.second == p; });
    verdicts_.erase(p);
    kill_picks_.erase(p);
    std::erase_if(kill_picks_, [&](const auto& k) { return k.second == p; });
    if (heal_ == p) heal_ = 0;
    if (die(room, *s, "left")) return;
    if (phase_ == phase::vote) {
      send_tally(room);
    } else if (phase_ == phase::verdict) {
      send_verdict_tally(room);
    }
    if ((phase_ == phase::defense || phase_ == phase::verdict) && p == accused_) {
      record(room, {{"kind", "accused_left"}, {"player", p}});
      return enter(room, phase::night);
    }
    send_media(room);
    maybe_end_early(room);
  }

  json::object view(player_id viewer) const override {
    json::object o{
        {"phase", name(phase_)}, {"day", day_}, {"round", round_}, {"ends_at", ends_at_}};
    json::array players;
    for (const auto& s : seats_)
      players.push_back(
          json::object{{"player", s.id}, {"nickname", s.nickname}, {"alive", s.alive}});
    o["players"] = std::move(players);
    o["rules"] = rules_json(rules_);
    if (accused_ && (phase_ == phase::defense || phase_ == phase::verdict)) o["accused"] = accused_;
    if (phase_ == phase::vote) o["tally"] = tally_json();
    if (phase_ == phase::verdict) o["verdict"] = verdict_counts();

    const seat* me = find(viewer);
    bool ghost = me && !me->alive;  // the dead see everything
    if (me) {
      o["me"] = role_json(viewer);
      o["me"].as_object()["alive"] = me->alive;
    }
    if (ghost) o["roles"] = all_roles();
    if (phase_ == phase::night) {
      if (ghost || (me && me->r == role::mafia)) o["mafia_picks"] = picks_json();
      if (heal_ && (ghost || (me && me->r == role::doctor))) o["patient"] = heal_;
    }
    if (ghost || (me && me->r == role::police)) {
      json::array inv;
      for (const auto& i : investigations_)
        inv.push_back(i);
      o["investigations"] = std::move(inv);
    }
    json::array chat;
    for (const auto& c : chat_) {
      if (may_read(viewer, c.channel)) chat.push_back(c.line);
    }
    o["chat"] = std::move(chat);
    // A spectator who came in since the phase began is one already, for their own policy.
    auto specs = spectators_;
    if (!find(viewer) && !is_spectator(viewer, specs)) specs.push_back(viewer);
    o["media"] = media_json(viewer, specs);
    return o;
  }

  // State v1 (README, "Restoring a game"): everything but the rules, which come from the settings.
  json::object serialize() const override {
    json::array seats, specs, votes, verdicts, picks, invs, chat;
    for (const auto& st : seats_)
      seats.push_back(json::object{
          {"player", st.id}, {"nickname", st.nickname}, {"role", name(st.r)}, {"alive", st.alive}});
    for (player_id p : spectators_)
      specs.push_back(p);
    for (const auto& [v, t] : votes_)
      votes.push_back(json::array{v, t});
    for (const auto& [v, y] : verdicts_)
      verdicts.push_back(json::array{v, y});
    for (const auto& [m, t] : kill_picks_)
      picks.push_back(json::array{m, t});
    for (const auto& i : investigations_)
      invs.push_back(i);
    for (const auto& c : chat_)
      chat.push_back(c.line);  // the line carries its channel
    json::object o{{"v", 1},
                   {"seats", std::move(seats)},
                   {"spectators", std::move(specs)},
                   {"phase", name(phase_)},
                   {"day", day_},
                   {"round", round_},
                   {"ends_at", ends_at_},
                   {"timer", timer_ != 0},
                   {"phase_serial", phase_serial_},
                   {"accused", accused_},
                   {"votes", std::move(votes)},
                   {"verdicts", std::move(verdicts)},
                   {"kill_picks", std::move(picks)},
                   {"heal", heal_},
                   {"investigated", investigated_},
                   {"investigations", std::move(invs)},
                   {"chat", std::move(chat)},
                   {"history", history_}};
    // The SFU's rooms and tokens, so that the node restoring the game keeps them (and every
    // browser's grant): absent for a mesh game.
    if (sfu_) o["sfu"] = media_->sfu_server->save(game_id_);
    return o;
  }

  // Reads serialize()'s output; throws on anything malformed (the factory turns it into an error).
  void restore_from(const json::object& s) {
    if (s.at("v").as_int64() != 1) throw std::invalid_argument("unknown state version");
    auto role_named = [](std::string_view n) {
      for (role r : {role::citizen, role::mafia, role::doctor, role::police}) {
        if (name(r) == n) return r;
      }
      throw std::invalid_argument("unknown role");
    };
    for (const auto& v : s.at("seats").as_array()) {
      const auto& o = v.as_object();
      seats_.push_back({o.at("player").as_int64(), std::string(o.at("nickname").as_string()),
                        role_named(o.at("role").as_string()), o.at("alive").as_bool()});
    }
    for (const auto& v : s.at("spectators").as_array())
      spectators_.push_back(v.as_int64());
    bool known = false;
    const std::string_view ph = s.at("phase").as_string();
    for (phase p :
         {phase::day, phase::vote, phase::defense, phase::verdict, phase::night, phase::over}) {
      if (name(p) == ph) {
        phase_ = p;
        known = true;
      }
    }
    if (!known) throw std::invalid_argument("unknown phase");
    day_ = static_cast<int>(s.at("day").as_int64());
    round_ = s.at("round").as_int64();
    ends_at_ = s.at("ends_at").as_int64();
    timer_ = s.at("timer").as_bool() ? 1 : 0;  // re-armed by on_restore
    phase_serial_ = s.at("phase_serial").to_number<std::uint64_t>();
    accused_ = s.at("accused").as_int64();
    for (const auto& v : s.at("votes").as_array())
      votes_[v.as_array().at(0).as_int64()] = v.as_array().at(1).as_int64();
    for (const auto& v : s.at("verdicts").as_array())
      verdicts_[v.as_array().at(0).as_int64()] = v.as_array().at(1).as_bool();
    for (const auto& v : s.at("kill_picks").as_array())
      kill_picks_[v.as_array().at(0).as_int64()] = v.as_array().at(1).as_int64();
    heal_ = s.at("heal").as_int64();
    investigated_ = s.at("investigated").as_bool();
    for (const auto& v : s.at("investigations").as_array())
      investigations_.push_back(v.as_object());
    for (const auto& v : s.at("chat").as_array()) {
      const auto& line = v.as_object();
      std::string_view ch = line.at("channel").as_string();
      std::string_view channel = ch == "mafia" ? "mafia" : ch == "dead" ? "dead" : "day";
      chat_.push_back({channel, line});
    }
    history_ = s.at("history").as_array();
    if (const auto* m = s.if_contains("sfu"); m && m->is_object()) saved_sfu_ = m->as_object();
  }

  void on_restore(room_api& room) override {
    if (timer_ && phase_ != phase::over) timer_ = room.set_timer(ends_at_, phase_serial_);
    // The SFU's rooms and tokens, from the snapshot: adopted (made again where Janus lost them),
    // then brought in line with the policy (nothing changes when it is the same). A snapshot
    // without them (a mesh game, or media.mode changed): new ones. Members read their grants in
    // the snapshot they get on reconnecting.
    choose_media(room);
    if (sfu_ && phase_ != phase::over) {
      if (!saved_sfu_.empty()) media_->sfu_server->adopt(game_id_, saved_sfu_);
      apply_sfu();
    }
    saved_sfu_ = {};
  }

  void on_abandon() override {
    if (sfu_) media_->sfu_server->end(game_id_);
  }

  // A game that ended or was abandoned has told the SFU already (end() forgets it); one handed
  // to another node goes on there with the same rooms: only forgotten here.
  ~mafia_game() override {
    if (sfu_) media_->sfu_server->release(game_id_);
  }

 private:
  seat* find(player_id p) {
    for (auto& s : seats_) {
      if (s.id == p) return &s;
    }
    return nullptr;
  }
  const seat* find(player_id p) const { return const_cast<mafia_game*>(this)->find(p); }

  json::object role_json(player_id p) const {
    const seat* s = find(p);
    json::object o{{"player", p}, {"role", name(s->r)}};
    if (s->r == role::mafia) {
      json::array team;
      for (const auto& t : seats_) {
        if (t.r == role::mafia) team.push_back(json::object{{"player", t.id}, {"role", "mafia"}});
      }
      o["team"] = std::move(team);
    }
    return o;
  }

  json::array all_roles() const {
    json::array a;
    for (const auto& s : seats_)
      a.push_back(json::object{{"player", s.id}, {"role", name(s.r)}});
    return a;
  }

  // Who may read a channel: the day channel is public; the mafia channel is for the mafia and
  // the dead; the dead channel for the dead and spectators.
  bool may_read(player_id viewer, std::string_view channel) const {
    if (channel == "day") return true;
    const seat* s = find(viewer);
    if (channel == "mafia") return s && (!s->alive || s->r == role::mafia);
    return !s || !s->alive;
  }

  void deliver_chat(room_api& room, std::string_view channel, const json::object& line) {
    if (channel == "day") return room.send_all("mafia.chat", line);
    for (const auto& s : seats_) {
      if (may_read(s.id, channel)) room.send_to(s.id, "mafia.chat", line);
    }
    if (channel == "dead") room.send_spectators("mafia.chat", line);
  }

  // Sends to the seats with role `r` (alive or dead) and to every dead seat.
  void send_role(room_api& room, role r, std::string_view type, const json::object& data) {
    for (const auto& s : seats_) {
      if (s.r == r || !s.alive) room.send_to(s.id, type, data);
    }
  }

  void record(room_api& room, json::object entry) {
    entry["day"] = day_;
    entry["ts"] = room.now_ms();
    history_.push_back(std::move(entry));
  }

  int alive_count() const {
    return static_cast<int>(
        std::count_if(seats_.begin(), seats_.end(), [](const seat& s) { return s.alive; }));
  }

  // --- Phases ---

  void enter(room_api& room, phase p) {
    if (timer_) room.cancel_timer(timer_);
    phase_ = p;
    std::int64_t ms = 0;
    switch (p) {
      case phase::day:
        ms = rules_.day_ms;
        break;
      case phase::vote:
        ms = rules_.vote_ms;
        votes_.clear();
        break;
      case phase::defense:
        ms = rules_.defense_ms;
        break;
      case phase::verdict:
        ms = rules_.verdict_ms;
        verdicts_.clear();
        break;
      case phase::night:
        ms = rules_.night_ms;
        kill_picks_.clear();
        heal_ = 0;
        investigated_ = false;
        break;
      case phase::over:
        return;
    }
    if (p != phase::defense && p != phase::verdict) accused_ = 0;
    ends_at_ = room.now_ms() + ms;
    timer_ = room.set_timer(ends_at_, ++phase_serial_);
    json::object ev{{"phase", name(p)}, {"day", day_}, {"round", round_}, {"ends_at", ends_at_}};
    if (accused_) ev["accused"] = accused_;
    room.log("phase", 0, ev);
    room.send_all("mafia.phase", ev);
    room.checkpoint();
    spectators_.clear();
    for (const auto& m : room.members()) {
      if (m.spectator) spectators_.push_back(m.id);
    }
    send_media(room);
  }

  // Ends the current phase, at its deadline or early (then its timer is cancelled on entering
  // the next phase).
  void end_phase(room_api& room) {
    switch (phase_) {
      case phase::day:
        return enter(room, phase::vote);
      case phase::vote:
        return resolve_vote(room);
      case phase::defense:
        return enter(room, phase::verdict);
      case phase::verdict:
        return resolve_verdict(room);
      case phase::night:
        return resolve_night(room);
      case phase::over:
        return;
    }
  }

  // Seed 002 "투표 완료": a vote ends as soon as everyone eligible has voted.
  void maybe_end_early(room_api& room) {
    bool done = false;
    if (phase_ == phase::vote) {
      done = static_cast<int>(votes_.size()) >= alive_count();
    } else if (phase_ == phase::verdict) {
      done = static_cast<int>(verdicts_.size()) >= alive_count() - 1;
    } else if (phase_ == phase::night && rules_.night_early_end) {
      done = true;
      for (const auto& s : seats_) {
        if (!s.alive) continue;
        if (s.r == role::mafia && !kill_picks_.count(s.id)) done = false;
        if (s.r == role::doctor && !heal_) done = false;
        if (s.r == role::police && !investigated_) done = false;
      }
    }
    if (done) end_phase(room);
  }

  void resolve_vote(room_api& room) {
    std::map<player_id, int> count;
    for (const auto& [voter, target] : votes_) {
      if (target) ++count[target];
    }
    int top = 0;
    player_id accused = 0;
    bool tie = false;
    for (const auto& [target, n] : count) {
      if (n > top) {
        top = n;
        accused = target;
        tie = false;
      } else if (n == top) {
        tie = true;
      }
    }
    if (tie) accused = 0;
    json::object votes;
    for (const auto& s : seats_) {
      if (!s.alive) continue;
      auto it = votes_.find(s.id);
      votes[std::to_string(s.id)] = id_or_null(it == votes_.end() ? 0 : it->second);
    }
    record(
        room,
        {{"kind", "vote"}, {"round", round_}, {"votes", votes}, {"accused", id_or_null(accused)}});
    room.send_all("mafia.vote_result", {{"accused", id_or_null(accused)}, {"tie", tie}});
    if (accused) {
      accused_ = accused;
      return enter(room, phase::defense);
    }
    // Seed 002: a tied (or empty) vote executes nobody and the day starts again, as its next
    // round; the `tie` rule can send the town to night instead. After `max_tied_votes` such
    // votes in one day night falls anyway, so a deadlocked town cannot replay one day forever.
    bool again = !rules_.tie_to_night && round_ < rules_.max_tied_votes;
    if (again) ++round_;
    enter(room, again ? phase::day : phase::night);
  }

  void resolve_verdict(room_api& room) {
    json::array yes, no;
    for (const auto& [voter, y] : verdicts_)
      (y ? yes : no).push_back(voter);
    bool executed = yes.size() > no.size();
    player_id accused = accused_;
    record(room, {{"kind", "verdict"},
                  {"player", accused},
                  {"yes", yes},
                  {"no", no},
                  {"executed", executed}});
    room.send_all("mafia.verdict_result", {{"player", accused},
                                           {"executed", executed},
                                           {"yes", static_cast<std::int64_t>(yes.size())},
                                           {"no", static_cast<std::int64_t>(no.size())}});
    if (executed) {
      if (die(room, *find(accused), "executed")) return;
    }
    enter(room, phase::night);
  }

  void resolve_night(room_api& room) {
    // Seed 002 "마피아 동률 시": the mafia's pick is the player most of the mafiosi who chose
    // named; a tie for the most kills nobody. With the `mafia_kill: "unanimous"` rule every
    // mafioso who chose must name the same player. Either way the doctor's patient survives.
    std::map<player_id, int> count;
    for (const auto& [m, target] : kill_picks_)
      ++count[target];
    player_id victim = 0;
    int top = 0;
    bool tie = false;
    for (const auto& [target, n] : count) {
      if (n > top) {
        top = n;
        victim = target;
        tie = false;
      } else if (n == top) {
        tie = true;
      }
    }
    bool split = count.size() > 1;
    if (tie || (rules_.unanimous_kill && split)) victim = 0;
    bool saved = victim && victim == heal_;
    player_id killed = saved ? 0 : victim;
    json::object picks;
    for (const auto& [m, target] : kill_picks_)
      picks[std::to_string(m)] = target;
    record(room, {{"kind", "night"},
                  {"mafia_picks", picks},
                  {"patient", id_or_null(heal_)},
                  {"split", split},
                  {"tie", tie},
                  {"victim", id_or_null(victim)},
                  {"saved", saved},
                  {"killed", id_or_null(killed)}});
    // The last night allowed (`max_days`) ends the game at dawn: a draw, unless its death
    // decides the game.
    bool last = day_ >= rules_.max_days;
    if (!last) {
      ++day_;
      round_ = 1;
    }
    room.send_all("mafia.night_result", {{"killed", id_or_null(killed)}});
    if (killed) {
      if (die(room, *find(killed), "killed")) return;
    }
    if (last) return finish(room, "draw", "max_days");
    enter(room, phase::day);
  }

  // Kills a player; returns true when that ended the game.
  bool die(room_api& room, seat& s, std::string_view cause) {
    s.alive = false;
    json::object ev{{"player", s.id}, {"cause", cause}};
    if (rules_.reveal_on_death) ev["role"] = name(s.r);
    record(room, {{"kind", "death"}, {"player", s.id}, {"cause", cause}, {"role", name(s.r)}});
    room.log("death", s.id, ev);
    room.send_all("mafia.death", ev);
    // Seed 002 QnA: the dead see every event from now on, roles included.
    room.send_to(s.id, "mafia.roles", {{"roles", all_roles()}});
    int mafia = 0, town = 0;
    for (const auto& t : seats_) {
      if (t.alive) ++(t.r == role::mafia ? mafia : town);
    }
    if (mafia == 0) return finish(room, "town"), true;
    if (mafia >= town) return finish(room, "mafia"), true;
    return false;
  }

  // Ends the game: winner "mafia", "town", or "draw" (nobody wins; `reason` says why).
  void finish(room_api& room, std::string_view winner, std::string_view reason = {}) {
    if (timer_) room.cancel_timer(timer_);
    timer_ = 0;
    phase_ = phase::over;
    json::array players;
    for (const auto& s : seats_) {
      players.push_back(
          json::object{{"player", s.id},
                       {"nickname", s.nickname},
                       {"role", name(s.r)},
                       {"alive", s.alive},
                       {"won", winner != "draw" && (s.r == role::mafia) == (winner == "mafia")}});
    }
    json::object end{{"kind", "end"}, {"winner", winner}};
    if (!reason.empty()) end["reason"] = reason;
    record(room, std::move(end));
    if (sfu_) media_->sfu_server->end(game_id_);
    room.end_game({{"winner", winner}, {"days", day_}, {"players", players}},
                  {{"winner", winner},
                   {"days", day_},
                   {"players", players},
                   {"rules", rules_json(rules_)},
                   {"history", history_}});
  }

  // --- Actions ---

  result<json::object> vote(room_api& room, seat& me, const proto::fields& data) {
    if (phase_ != phase::vote) return error{errc::wrong_phase, "It is not time for the vote."};
    player_id target = 0;
    if (auto t = data.opt_integer("target")) {
      target = *t;
      const seat* s = find(target);
      if (!s) return error{errc::bad_target, "No such player in this game."};
      if (!s->alive) return error{errc::bad_target, "That player is dead."};
      if (target == me.id) return error{errc::bad_target, "You cannot vote for yourself."};
    }
    votes_[me.id] = target;
    room.log("vote", me.id, {{"target", id_or_null(target)}});
    room.checkpoint();  // a play is kept at once (README: a crash loses only chat)
    send_tally(room);
    maybe_end_early(room);
    return json::object{{"target", id_or_null(target)}};
  }

  result<json::object> verdict(room_api& room, seat& me, bool yes) {
    if (phase_ != phase::verdict)
      return error{errc::wrong_phase, "It is not time for the verdict."};
    if (me.id == accused_)
      return error{errc::not_eligible, "The accused does not vote on their own verdict."};
    verdicts_[me.id] = yes;
    room.log("verdict", me.id, {{"yes", yes}});
    room.checkpoint();  // a play is kept at once (README: a crash loses only chat)
    send_verdict_tally(room);
    maybe_end_early(room);
    return json::object{{"yes", yes}};
  }

  result<const seat*> night_target(const seat& me, role r, player_id target) {
    if (me.r != r) return error{errc::wrong_role, "Your role has no such action."};
    if (phase_ != phase::night) return error{errc::wrong_phase, "That is a night action."};
    const seat* s = find(target);
    if (!s) return error{errc::bad_target, "No such player in this game."};
    if (!s->alive) return error{errc::bad_target, "That player is dead."};
    return s;
  }

  result<json::object> kill_pick(room_api& room, seat& me, player_id target) {
    auto s = night_target(me, role::mafia, target);
    if (!s) return s.error();
    if ((*s)->r == role::mafia)
      return error{errc::bad_target, "Choose someone outside the family."};
    kill_picks_[me.id] = target;
    room.log("kill_pick", me.id, {{"target", target}});
    room.checkpoint();  // a play is kept at once (README: a crash loses only chat)
    send_role(room, role::mafia, "mafia.kill_pick", {{"player", me.id}, {"target", target}});
    maybe_end_early(room);
    return json::object{{"target", target}};
  }

  result<json::object> heal_pick(room_api& room, seat& me, player_id target) {
    auto s = night_target(me, role::doctor, target);
    if (!s) return s.error();
    if (target == me.id && !rules_.doctor_self_heal)
      return error{errc::bad_target, "This room does not let the doctor heal themselves."};
    heal_ = target;
    room.log("heal_pick", me.id, {{"target", target}});
    room.checkpoint();  // a play is kept at once (README: a crash loses only chat)
    send_role(room, role::doctor, "mafia.heal_pick", {{"player", me.id}, {"target", target}});
    maybe_end_early(room);
    return json::object{{"target", target}};
  }

  result<json::object> investigate(room_api& room, seat& me, player_id target) {
    auto s = night_target(me, role::police, target);
    if (!s) return s.error();
    if (target == me.id) return error{errc::bad_target, "You know yourself already."};
    if (investigated_) return error{errc::out_of_order, "One investigation a night."};
    investigated_ = true;
    bool is_mafia = (*s)->r == role::mafia;
    json::object found{{"by", me.id}, {"player", target}, {"is_mafia", is_mafia}};
    investigations_.push_back(found);
    room.log("investigation", me.id, found);
    room.checkpoint();  // a play is kept at once (README: a crash loses only chat)
    record(room,
           {{"kind", "investigation"}, {"by", me.id}, {"player", target}, {"is_mafia", is_mafia}});
    send_role(room, role::police, "mafia.investigation", found);
    maybe_end_early(room);
    return json::object{{"player", target}, {"is_mafia", is_mafia}};
  }

  void send_tally(room_api& room) { room.send_all("mafia.vote_tally", tally_json()); }
  void send_verdict_tally(room_api& room) {
    room.send_all("mafia.verdict_tally", verdict_counts());
  }

  json::object tally_json() const {
    std::map<player_id, json::array> by_target;
    json::array abstained;
    for (const auto& [voter, target] : votes_) {
      if (target) {
        by_target[target].push_back(voter);
      } else {
        abstained.push_back(voter);
      }
    }
    json::array tally;
    for (auto& [target, voters] : by_target)
      tally.push_back(json::object{{"target", target}, {"voters", std::move(voters)}});
    return {{"tally", std::move(tally)}, {"abstained", std::move(abstained)}};
  }

  json::object verdict_counts() const {
    std::int64_t yes = 0;
    for (const auto& [voter, y] : verdicts_)
      yes += y;
    return {{"yes", yes}, {"no", static_cast<std::int64_t>(verdicts_.size()) - yes}};
  }

  json::array picks_json() const {
    json::array a;
    for (const auto& [m, target] : kill_picks_)
      a.push_back(json::object{{"player", m}, {"target", target}});
    return a;
  }

  // --- Media (seed 002's video call): who may publish to whom, per phase and per death ---

  bool is_spectator(player_id p, const std::vector<player_id>& spectators) const {
    return std::find(spectators.begin(), spectators.end(), p) != spectators.end();
  }

  // Whether `listener` may hear and see `speaker` now.
  bool may_hear(player_id listener, player_id speaker,
                const std::vector<player_id>& spectators) const {
    if (listener == speaker) return false;
    const seat* sp = find(speaker);
    if (!sp) return false;  // spectators never publish
    const seat* li = find(listener);
    bool ghost = !li || !li->alive;  // dead players and spectators
    if (!sp->alive) return ghost;    // the dead talk only among the dead and spectators
    switch (phase_) {
      case phase::night:
        // The mafia talk among themselves; the dead (not spectators) overhear.
        return sp->r == role::mafia && li && (!li->alive || li->r == role::mafia);
      case phase::defense:
        return speaker == accused_;
      default:
        return li || is_spectator(listener, spectators);
    }
  }

  json::object media_json(player_id viewer, const std::vector<player_id>& spectators) const {
    json::array publish_to, hear;
    for (const auto& s : seats_) {
      if (may_hear(s.id, viewer, spectators)) publish_to.push_back(s.id);
      if (may_hear(viewer, s.id, spectators)) hear.push_back(s.id);
    }
    for (player_id sp : spectators) {
      if (may_hear(sp, viewer, spectators)) publish_to.push_back(sp);
    }
    json::object o{{"phase", name(phase_)},
                   {"publish_to", publish_to},
                   {"hear", hear},
                   {"transport", sfu_ ? "sfu" : "mesh"}};
    if (media_) {
      o["ice_servers"] =
          media::ice_servers(media_->ice, viewer, media_->now_s ? media_->now_s() : 0);
      o["ice_transport_policy"] = media_->ice.transport_policy;
    }
    if (sfu_) o["sfu"] = media_->sfu_server->grant(game_id_, viewer);
    return o;
  }

  // Mesh or SFU for this game (media.mode, and media.sfu_min_players for "auto").
  void choose_media(room_api& room) {
    game_id_ = std::string(room.game_id());
    const auto n = static_cast<int>(seats_.size());
    sfu_ = media_ && media_->sfu_server &&
           (media_->mode == "sfu" || (media_->mode == "auto" && n >= media_->sfu_min_players));
  }

  // Tells the SFU who may hear whom now.
  void apply_sfu() {
    std::vector<media::speaker> speakers;
    for (const auto& s : seats_) {
      media::speaker sp{s.id, {}};
      for (const auto& l : seats_) {
        if (may_hear(l.id, s.id, spectators_)) sp.audience.push_back(l.id);
      }
      for (player_id v : spectators_) {
        if (may_hear(v, s.id, spectators_)) sp.audience.push_back(v);
      }
      speakers.push_back(std::move(sp));
    }
    media_->sfu_server->apply(game_id_, speakers);
  }

  void send_media(room_api& room) {
    // The SFU first, so that a grant sent below names the rooms as they will be.
    if (sfu_) apply_sfu();
    for (const auto& s : seats_)
      room.send_to(s.id, "mafia.media", media_json(s.id, spectators_));
    for (player_id sp : spectators_)
      room.send_to(sp, "mafia.media", media_json(sp, spectators_));
  }

  result<json::object> signal(room_api& room, player_id from, const proto::fields& data) {
    auto to = data.integer("to");
    auto kind = data.string("kind");
    if (kind != "offer" && kind != "answer" && kind != "ice" && kind != "bye")
      return error{errc::bad_field, "kind must be offer, answer, ice or bye."};
    std::vector<player_id> spectators;
    bool present = false;
    for (const auto& m : room.members()) {
      if (m.spectator) spectators.push_back(m.id);
      if (m.id == to && to != from) present = true;
    }
    if (!present) return error{errc::unknown_player, "That player is not in this room."};
    if (!may_hear(to, from, spectators) && !may_hear(from, to, spectators))
      return error{errc::forbidden, "The media policy does not connect you two now."};
    // Spectators who came in since the phase began join the call now: everyone's policy again.
    std::sort(spectators.begin(), spectators.end());
    auto known = spectators_;
    std::sort(known.begin(), known.end());
    if (known != spectators) {
      spectators_ = spectators;
      send_media(room);
    }
    json::object ev{{"from", from}, {"kind", kind}};
    if (const auto* d = data.object("data")) ev["data"] = *d;
    room.send_to(to, "mafia.signal", ev);
    return json::object{};
  }

  rules rules_;
  std::shared_ptr<const media::media_options> media_;  // null: no voice/video settings
  std::string game_id_;
  bool sfu_ = false;        // this game's media go through media_->sfu
  json::object saved_sfu_;  // restore_from's "sfu", until on_restore adopts it
  std::vector<seat> seats_;
  std::vector<player_id> spectators_;  // as of the current phase
  phase phase_ = phase::day;
  int day_ = 0;
  std::int64_t round_ = 1;  // the vote round within the day
  epoch_ms ends_at_ = 0;
  lobby::timer_id timer_ = 0;
  std::uint64_t phase_serial_ = 0;
  player_id accused_ = 0;
  std::map<player_id, player_id> votes_;  // voter -> suspect (0: abstained)
  std::map<player_id, bool> verdicts_;
  std::map<player_id, player_id> kill_picks_;  // mafioso -> victim
  player_id heal_ = 0;
  bool investigated_ = false;
  std::vector<json::object> investigations_;
  std::deque<chat_line> chat_;
  json::array history_;
};

// --- The factory --------------------------------------------------------------------------------

result<std::int64_t> count_field(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v) return error{errc::missing_field, fmt::format("settings.roles.{} is missing.", key)};
  if (!v->is_int64() || v->get_int64() < 0 || v->get_int64() > max_players)
    return error{errc::bad_field, fmt::format("settings.roles.{} must be an integer from 0 to {}.",
                                              key, max_players)};
  return v->get_int64();
}

class mafia_factory final : public lobby::mode_factory {
 public:
  mafia_factory(int min, int max, std::shared_ptr<const media::media_options> media)
      : min_players_(min), max_players_(max), media_(std::move(media)) {}
  std::string_view name() const override { return "mafia"; }
  int min_players() const override { return min_players_; }
  int max_players() const override { return max_players_; }
  std::span<const proto::message_spec> messages() const override {
    return ::maratang::modes::messages;
  }

  result<json::object> validate_settings(const json::object& s) const override {
    rules defaults;
    json::object out = rules_json(defaults);
    for (const auto& [k, v] : s) {
      std::string key(k);
      bool known = false;
      for (const auto& d : durations) {
        if (d.key != key) continue;
        known = true;
        if (!v.is_int64() || v.get_int64() < min_phase_ms || v.get_int64() > max_phase_ms)
          return error{errc::bad_field,
                       fmt::format("settings.{} must be an integer from {} to {} (ms).", key,
                                   min_phase_ms, max_phase_ms)};
        out[key] = v;
      }
      for (const auto& f : flags) {
        if (f.key != key) continue;
        known = true;
        if (!v.is_bool())
          return error{errc::bad_field, fmt::format("settings.{} must be true or false.", key)};
        out[key] = v;
      }
      for (const auto& c : limits) {
        if (c.key != key) continue;
        known = true;
        if (!v.is_int64() || v.get_int64() < c.min || v.get_int64() > c.max)
          return error{errc::bad_field, fmt::format("settings.{} must be an integer from {} to {}.",
                                                    key, c.min, c.max)};
        out[key] = v;
      }
      if (key == "mafia_kill") {
        known = true;
        if (!v.is_string() || (v.get_string() != "plurality" && v.get_string() != "unanimous"))
          return error{errc::bad_field,
                       "settings.mafia_kill must be \"plurality\" or \"unanimous\"."};
        out[key] = v;
      } else if (key == "tie") {
        known = true;
        if (!v.is_string() || (v.get_string() != "day" && v.get_string() != "night"))
          return error{errc::bad_field, "settings.tie must be \"day\" or \"night\"."};
        out[key] = v;
      } else if (key == "roles") {
        known = true;
        if (!v.is_object()) return error{errc::bad_field, "settings.roles must be an object."};
        json::object roles;
        for (std::string_view r : {"mafia", "doctor", "police"}) {
          auto n = count_field(v.get_object(), r);
          if (!n) return n.error();
          roles[r] = *n;
        }
        if (v.get_object().size() != 3)
          return error{errc::bad_field, "settings.roles has only mafia, doctor and police."};
        if (roles["mafia"].as_int64() < 1)
          return error{errc::bad_field, "settings.roles.mafia must be at least 1."};
        out[key] = std::move(roles);
      } else if (key == "seed") {
        known = true;  // the room's random source: the same seed deals the same roles
        if (!v.is_int64() || v.get_int64() < 0)
          return error{errc::bad_field, "settings.seed must be a non-negative integer."};
        out[key] = v;
      }
      if (!known) return error{errc::bad_field, fmt::format("Unknown setting \"{}\".", key)};
    }
    return out;
  }

  result<> check_start(const json::object& settings, int players) const override {
    auto c = counts_for(rules_from(settings), players);
    if (c.mafia * 2 >= players)
      return error{errc::too_few_players,
                   fmt::format("{} mafia need more than {} players.", c.mafia, c.mafia * 2)};
    if (c.mafia + c.doctor + c.police > players)
      return error{errc::too_few_players,
                   fmt::format("The roles need {} players.", c.mafia + c.doctor + c.police)};
    return {};
  }

  std::unique_ptr<lobby::mode> create(const json::object& settings) const override {
    return std::make_unique<mafia_game>(rules_from(settings), media_);
  }

  result<std::unique_ptr<lobby::mode>> restore(const json::object& settings,
                                               const json::object& state) const override {
    try {
      auto g = std::make_unique<mafia_game>(rules_from(settings), media_);
      g->restore_from(state);
      return std::unique_ptr<lobby::mode>(std::move(g));
    } catch (const std::exception& e) {
      return error{errc::bad_field, fmt::format("mafia state: {}", e.what())};
    }
  }

  // Statistics: a player won when their side won (alive or dead at the end), lost when the other
  // side did; a draw (max_days) is drawn. wins_by_role counts the role of each win.
  void score(const json::object& record, std::span<store::player_outcome> stayed) const override {
    const auto* winner = record.if_contains("winner");
    const auto* players = record.if_contains("players");
    if (!winner || !winner->is_string() || winner->get_string() == "draw") return;
    if (!players || !players->is_array()) return;
    for (const auto& v : players->get_array()) {
      const auto* p = v.if_object();
      if (!p) continue;
      const auto* id = p->if_contains("player");
      const auto* r = p->if_contains("role");
      const auto* won = p->if_contains("won");
      if (!id || !id->is_int64() || !r || !r->is_string() || !won || !won->is_bool()) continue;
      for (auto& o : stayed) {
        if (o.account_id != id->get_int64()) continue;
        o.result = won->get_bool() ? store::game_result::won : store::game_result::lost;
        if (won->get_bool()) o.tallies.emplace_back("wins_by_role", std::string(r->get_string()));
      }
    }
  }
  std::span<const std::string_view> tallies() const override { return stat_tallies; }

  // Competition: rated with Weng-Lin as two teams, town and mafia (by role), the winning side
  // first; a draw ties them. A player who left the game is rated apart, as a team placed below
  // both sides (leaving never saves a rating). No leaderboard scores but the rating.
  void compete(const json::object& record, std::span<const store::player_outcome> outcomes,
               store::competition_input& in) const override {
    const auto* winner = record.if_contains("winner");
    const auto* players = record.if_contains("players");
    if (!winner || !winner->is_string() || !players || !players->is_array()) return;
    const std::string_view w = winner->get_string();
    store::rated_team town{{}, w == "mafia" ? 2 : 1};
    store::rated_team mafia{{}, w == "town" ? 2 : 1};
    store::rated_team left{{}, 3};
    for (const auto& v : players->get_array()) {
      const auto* p = v.if_object();
      if (!p) continue;
      const auto* id = p->if_contains("player");
      const auto* r = p->if_contains("role");
      if (!id || !id->is_int64() || !r || !r->is_string()) continue;
      bool abandoned = false;
      for (const auto& o : outcomes)
        if (o.account_id == id->get_int64()) abandoned = o.result == store::game_result::abandoned;
      (abandoned                    ? left
       : r->get_string() == "mafia" ? mafia
                                    : town)
          .players.push_back(id->get_int64());
    }
    in.rating_key = "mafia";
    in.model = store::rating_model::weng_lin;
    in.teams = {std::move(town), std::move(mafia), std::move(left)};
  }
  std::vector<board> leaderboards() const override {
    return {{"rating.mafia", false, "Mafia rating (Weng-Lin, town against mafia): mu - 3 sigma."}};
  }

 private:
  static constexpr std::string_view stat_tallies[] = {"wins_by_role"};
  int min_players_;
  int max_players_;
  std::shared_ptr<const media::media_options> media_;
};

}  // namespace

std::unique_ptr<lobby::mode_factory> make_mafia_mode_factory(
    int min_players, int max_players, std::shared_ptr<const media::media_options> media) {
  return std::make_unique<mafia_factory>(min_players, max_players, std::move(media));
}

}  // namespace maratang::modes
