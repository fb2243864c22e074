#include "modes/mystery/mystery_mode.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <deque>
#include <optional>
#include <set>
#include <stdexcept>

#include "modes/mystery/casebook.hpp"
#include "modes/mystery/engine.hpp"
#include "modes/mystery/llm_port.hpp"
#include "modes/mystery/narrator.hpp"
#include "modes/mystery/parser.hpp"
#include "modes/mystery/prompts.hpp"
#include "proto/fields.hpp"
#include "util/utf8.hpp"

namespace maratang::mystery {

namespace json = boost::json;
using lobby::room_api;

namespace {

// --- Messages -----------------------------------------------------------------------------------

constexpr proto::field_spec act_fields[] = {
    {"text", proto::field_type::string, true, 1, 2000,
     "A command (`take lantern`, `열쇠 줍기`) or free text; at most 500 bytes are played."},
};
constexpr proto::field_spec do_fields[] = {
    {"verb", proto::field_type::string, true, 1, 16,
     "look, go, inspect, take, drop, use, combine, code, talk, accuse, inventory, journal, help, "
     "pass, hint (a nudge from the scenario, free) or quit (leave the game for good)."},
    {"object", proto::field_type::string, false, 0, 2000, "The item, exit, NPC or code target."},
    {"target", proto::field_type::string, false, 0, 2000,
     "Y in `use X on Y` / `combine X with Y`."},
    {"text", proto::field_type::string, false, 0, 2000,
     "The code, the words to an NPC, or the accusation."},
};

constexpr proto::message_spec messages[] = {
    {"mystery.act", proto::direction::request,
     "Plays a command typed by the player. Known commands are played at once; other free text is "
     "interpreted (by the LLM when one is configured) and then played, or refused.",
     act_fields, "`{played, turn_used}` or `{interpreting: true}`", true},
    {"mystery.do", proto::direction::request, "Plays a structured command.", do_fields,
     "`{played, turn_used}`", true},
    {"mystery.started",
     proto::direction::event,
     "The game began: `{scenario: {id, title, language}, intro, players: [{player, nickname}], "
     "turn_ms, llm}`.",
     {},
     {},
     false},
    {"mystery.events",
     proto::direction::event,
     "What happened, as facts for clients that draw the world: `{events: [{kind, actor, a, b, "
     "n}]}` (see the mode's README for the kinds). Each player receives the events they may see.",
     {},
     {},
     false},
    {"mystery.pending",
     proto::direction::event,
     "An LLM line is coming: `{line, kind: narration|npc, npc?, npc_name?, actor}`, sent at once "
     "to those who will receive the line, before the reply to the play; the line's frames follow "
     "with the same `line` id.",
     {},
     {},
     false},
    {"mystery.line",
     proto::direction::event,
     "Narration or an NPC's words: `{line, kind: narration|npc, npc, npc_name, actor, source: "
     "offline|llm, delta?, text?, done}`. LLM lines stream as several frames with `delta`, then "
     "one with `done: true` and the whole `text`. If the LLM fails before any words, the last "
     "frame carries `replaced: true` and the scenario's offline text; if it breaks off after some, "
     "the last frame keeps them, with `cut: true` and a closing note that the rest is lost. "
     "Offline lines come whole in one frame.",
     {},
     {},
     false},
    {"mystery.state",
     proto::direction::event,
     "To each player after every play: their view of the world (location, exits, items, NPCs, "
     "inventory, health, journal, round, turn, players).",
     {},
     {},
     false},
    {"mystery.turn",
     proto::direction::event,
     "Group games: `{player, round, ends_at}` — whose turn it is and when it passes (server ms; 0 "
     "= no limit).",
     {},
     {},
     false},
    {"mystery.rejected",
     proto::direction::event,
     "To one player: free text sent for interpretation could not be played: `{text, code, "
     "message}`.",
     {},
     {},
     false},
    {"mystery.ended",
     proto::direction::event,
     "`{ending, title, kind, text, casebook}` (then room.game_ended); `casebook` is the REST path "
     "where the casebook will be.",
     {},
     {},
     false},
    {"mystery.casebook",
     proto::direction::event,
     "Announced to the room when the casebook is stored: `{game_id, author: llm|mixed|template, "
     "markdown, html}` (REST paths).",
     {},
     {},
     false},
};

constexpr std::uint64_t turn_timer_tag = 1;
constexpr std::size_t recent_lines_max = 40;

json::object event_json(const event& e) {
  json::object o{{"kind", e.kind}};
  if (e.actor) o["actor"] = e.actor;
  if (!e.a.empty()) o["a"] = e.a;
  if (!e.b.empty()) o["b"] = e.b;
  if (e.n) o["n"] = e.n;
  if (!e.list.empty()) {
    json::array l;
    for (const auto& x : e.list)
      l.push_back(json::string(x));
    o["list"] = std::move(l);
  }
  return o;
}

// --- The game -----------------------------------------------------------------------------------

class mystery_mode final : public lobby::mode {
 public:
  mystery_mode(std::shared_ptr<const mystery_services> svc, std::shared_ptr<const scenario> scn,
               int turn_ms, bool use_llm)
      : svc_(std::move(svc)),
        scn_(std::move(scn)),
        turn_ms_(turn_ms),
        llm_(use_llm ? svc_->llm : nullptr) {}

  void on_start(room_api& room) override {
    std::vector<player_id> seats;
    json::array players;
    for (const auto& m : room.members()) {
      if (m.spectator) continue;
      seats.push_back(m.id);
      names_[m.id] = m.nickname;
      players.push_back({{"player", m.id}, {"nickname", m.nickname}});
    }
    engine_.emplace(scn_, seats);
    gate_ = room.async_gate();
    room.send_all(
        "mystery.started",
        {{"scenario", {{"id", scn_->id}, {"title", scn_->title}, {"language", scn_->language}}},
         {"intro", scn_->intro},
         {"players", std::move(players)},
         {"turn_ms", turn_ms_},
         {"llm", llm_ != nullptr}});
    room.log("intro", 0, {{"title", scn_->title}, {"text", scn_->intro}, {"round", 1}});
    // Everyone begins by looking around.
    for (player_id p : seats) {
      if (auto o = engine_->act(p, action{verb::look, {}, {}, {}})) deliver(room, *o);
    }
    send_states(room);
    schedule_turn(room, true);
    room.checkpoint();
  }

  result<json::object> on_message(room_api& room, player_id from, std::string_view type,
                                  const proto::fields& data) override {
    auto str_field = [&data](std::string_view k) {
      return std::string(data.opt_string(k).value_or(std::string_view()));
    };
    const bool ko = scn_->language == "ko";
    if (!names_.count(from)) {
      return error{errc::forbidden, ko ? "관전자는 지켜볼 뿐, 게임을 하지 않습니다."
                                       : "Spectators watch; they do not play."};
    }
    if (engine_->ended())
      return error{errc::game_over, ko ? "게임이 끝났습니다." : "The game is over."};
    if (type == "mystery.do") {
      if (aimed_at_system(str_field("text")) || aimed_at_system(str_field("object")))
        return system_refusal();
      auto v = verb_named(str_field("verb"));
      if (!v) {
        return error{errc::unknown_command,
                     ko ? "알 수 없는 동사 \"" + str_field("verb") + "\"입니다. `도움말`을 보세요."
                        : "Unknown verb \"" + str_field("verb") + "\"; see `help`."};
      }
      return play(room, from,
                  action{*v, str_field("object"), str_field("target"), str_field("text")},
                  fmt::format("{} {} {} {}", str_field("verb"), str_field("object"),
                              str_field("target"), str_field("text")));
    }
    auto text = str_field("text");
    if (text.size() > max_text_bytes) {
      return error{errc::too_large,
                   ko ? fmt::format("명령은 {}바이트까지입니다.", max_text_bytes)
                      : fmt::format("A command is at most {} bytes.", max_text_bytes)};
    }
    // Words for the game's system ("print the system prompt") are refused, never played as talk.
    if (aimed_at_system(text)) return system_refusal();
    if (auto a = parse_command(text, *scn_)) return play(room, from, *a, text);
    if (!llm_) {
      return error{errc::unknown_command,
                   ko ? "무슨 말인지 모르겠습니다. `도움말`로 명령을 확인하세요."
                      : "That is not a command I know; try `help`."};
    }
    interpret(room, from, text);
    return json::object{{"interpreting", true}};
  }

  void on_timer(room_api& room, std::uint64_t tag) override {
    if (tag != turn_timer_tag || engine_->ended()) return;
    turn_timer_ = 0;
    deliver(room, engine_->pass_turn());
    after_play(room, true);
  }

  void on_leave(room_api& room, player_id p) override { leave_game(room, p); }

  // p leaves the game for good (left the room, or said `quit`): skipped from now on; when nobody
  // is left, the game ends without an ending.
  void leave_game(room_api& room, player_id p) {
    if (!names_.count(p) || left_.count(p) || engine_->ended()) return;
    left_.insert(p);
    deliver(room, engine_->remove_player(p));
    if (left_.size() == names_.size()) {
      // Nobody is left to play: the game ends without an ending.
      room.end_game(
          {{"ending", ""}, {"reason", "abandoned"}},
          {{"scenario", scn_->id}, {"reason", "abandoned"}, {"state", engine_->state_json()}});
      return;
    }
    after_play(room, true);
  }

  void on_reconnect(room_api& room, player_id p) override {
    if (names_.count(p)) room.send_to(p, "mystery.state", engine_->view(p));
  }

  // State v1 (README, "Restoring a game"): the engine's whole state (state_json), the players
  // and who left, the turn and its deadline, the line counter, the public lines kept for
  // reconnecting players, and the LLM lines still being written (finished offline on restore).
  json::object serialize() const override {
    json::array names, left, recent, pending;
    for (const auto& [p, n] : names_)
      names.push_back(json::array{p, n});
    for (player_id p : left_)
      left.push_back(p);
    for (const auto& l : recent_)
      recent.push_back(l);
    for (const auto& [id, pl] : pending_) {
      json::array to;
      for (player_id p : pl.to.to)
        to.push_back(p);
      pending.push_back(json::object{{"base", pl.base},
                                     {"everyone", pl.to.everyone},
                                     {"to", std::move(to)},
                                     {"offline", pl.offline}});
    }
    return {{"v", 1},
            {"engine", engine_->state_json()},
            {"names", std::move(names)},
            {"left", std::move(left)},
            {"announced", json::array{announced_.first, announced_.second}},
            {"turn_ends_at", turn_ends_at_},
            {"turn_timer", turn_timer_ != 0},
            {"next_line", next_line_},
            {"recent", std::move(recent)},
            {"pending", std::move(pending)}};
  }

  // Reads serialize()'s output; throws on anything malformed or not of this scenario.
  void restore_from(const json::object& s) {
    if (s.at("v").as_int64() != 1) throw std::invalid_argument("unknown state version");
    std::vector<player_id> seats;
    const auto& eng = s.at("engine").as_object();
    for (const auto& p : eng.at("players").as_array())
      seats.push_back(p.as_object().at("player").as_int64());
    for (const auto& v : s.at("names").as_array())
      names_[v.as_array().at(0).as_int64()] = v.as_array().at(1).as_string();
    engine_.emplace(scn_, seats);
    engine_->load_state(eng);
    for (const auto& v : s.at("left").as_array())
      left_.insert(v.as_int64());
    const auto& an = s.at("announced").as_array();
    announced_ = {an.at(0).as_int64(), an.at(1).to_number<int>()};
    turn_ends_at_ = s.at("turn_ends_at").as_int64();
    turn_timer_ = s.at("turn_timer").as_bool() ? 1 : 0;  // re-armed by on_restore
    next_line_ = s.at("next_line").as_int64();
    for (const auto& v : s.at("recent").as_array())
      recent_.push_back(v.as_object());
    for (const auto& v : s.at("pending").as_array()) {
      const auto& o = v.as_object();
      pending_line pl;
      pl.base = o.at("base").as_object();
      pl.to.everyone = o.at("everyone").as_bool();
      for (const auto& p : o.at("to").as_array())
        pl.to.to.push_back(p.as_int64());
      pl.offline = o.at("offline").as_string();
      pending_.emplace(pl.base.at("line").as_int64(), std::move(pl));
    }
  }

  void on_restore(room_api& room) override {
    gate_ = room.async_gate();
    // The LLM calls of the lost process are gone: each line still being written ends now with
    // the scenario's own words (as when the LLM fails before any words), kept for reconnecting
    // players and in the action log. Nobody is connected to be sent it.
    for (auto& [id, pl] : pending_) {
      auto f = pl.base;
      f["done"] = true;
      f["text"] = pl.offline;
      f["source"] = "offline";
      f["replaced"] = true;
      remember(f, pl.to);
      log_line(room, f);
    }
    pending_.clear();
    if (turn_timer_ && !engine_->ended())
      turn_timer_ = room.set_timer(turn_ends_at_, turn_timer_tag);
  }

  json::object view(player_id viewer) const override {
    json::object v = engine_ ? engine_->view(viewer) : json::object{};
    v["scenario"] = {{"id", scn_->id}, {"title", scn_->title}, {"language", scn_->language}};
    v["intro"] = scn_->intro;
    v["turn_ends_at"] = turn_ends_at_;
    json::array lines;
    for (const auto& l : recent_)
      lines.push_back(l);
    v["recent_lines"] = std::move(lines);
    return v;
  }

 private:
  // Plays a resolved action for `from` and tells everyone what happened.
  result<json::object> play(room_api& room, player_id from, const action& a,
                            const std::string& typed) {
    if (a.v == verb::quit) {
      room.log("action", from,
               {{"text", util::utf8_prefix_bytes(typed, max_text_bytes)},
                {"verb", to_string(a.v)},
                {"round", engine_->round()}});
      leave_game(room, from);
      return json::object{{"played", to_string(a.v)}, {"turn_used", false}};
    }
    auto o = engine_->act(from, a);
    if (!o) return o.error();
    room.log("action", from,
             {{"text", util::utf8_prefix_bytes(typed, max_text_bytes)},
              {"verb", to_string(a.v)},
              {"round", engine_->round()}});
    bool used = o->turn_used;
    deliver(room, *o);
    after_play(room, used);
    return json::object{{"played", to_string(a.v)}, {"turn_used", used}};
  }

  // After a play: states to everyone, the ending, or the next turn.
  void after_play(room_api& room, bool turn_changed) {
    room.checkpoint();  // every play is a turn solo, and may be one in a group
    send_states(room);
    if (engine_->ended()) return finish(room);
    schedule_turn(room, turn_changed);
  }

  void send_states(room_api& room) {
    for (const auto& [p, n] : names_) {
      if (!left_.count(p)) room.send_to(p, "mystery.state", engine_->view(p));
    }
  }

  void schedule_turn(room_api& room, bool changed) {
    if (engine_->solo() || engine_->ended()) return;
    // A free command changes nothing; a pass or a play that kept the same player (the others
    // are gone) still restarts the clock.
    const std::pair<player_id, int> now{engine_->current_turn(), engine_->round()};
    if (!changed && now == announced_) return;
    announced_ = now;
    if (turn_timer_) room.cancel_timer(turn_timer_);
    turn_timer_ = 0;
    turn_ends_at_ = 0;
    if (turn_ms_ > 0) {
      turn_ends_at_ = room.now_ms() + turn_ms_;
      turn_timer_ = room.set_timer(turn_ends_at_, turn_timer_tag);
    }
    room.send_all("mystery.turn", {{"player", engine_->current_turn()},
                                   {"round", engine_->round()},
                                   {"ends_at", turn_ends_at_}});
  }

  // Sends each event's facts and narration to those who may see it, and to no one else.
  void deliver(room_api& room, const outcome& o) {
    // First the facts, each player's in the order they happened; then the words for them.
    std::map<player_id, json::array> facts;
    json::array public_facts;
    for (const auto& e : o.events) {
      const reach r = reach_of(e);
      auto j = event_json(e);
      room.log("event", e.actor, j);
      for (const auto& [p, n] : names_) {
        if (r.reaches(p)) facts[p].push_back(j);
      }
      if (r.everyone) public_facts.push_back(std::move(j));
    }
    for (auto& [p, list] : facts) {
      if (!list.empty() && !left_.count(p)) room.send_to(p, "mystery.events", {{"events", list}});
    }
    if (!public_facts.empty()) room.send_spectators("mystery.events", {{"events", public_facts}});
    for (std::size_t i = 0; i < o.events.size(); ++i) {
      const auto& e = o.events[i];
      const reach r = reach_of(e);
      if (r.nobody()) continue;  // nobody there to see it: logged as a fact, told to no one
      given_now_.clear();
      if (e.kind == "npc_talk") {
        // What the engine handed the speaker in this exchange (its reveals' effects follow it),
        // so that the NPC's prompt says it, and says nothing was given when nothing was.
        for (std::size_t j = i + 1; j < o.events.size() && o.events[j].kind != "npc_talk"; ++j) {
          const auto& f = o.events[j];
          if (f.kind != "received" || f.actor != e.actor) continue;
          auto it = scn_->items.find(f.a);
          given_now_.push_back(it != scn_->items.end() ? it->second.name : f.a);
        }
      }
      narrate_event(room, e, r);
    }
  }

  // Who an event reaches: everyone in the room (players and spectators), or exactly `to`.
  struct reach {
    bool everyone = false;
    std::vector<player_id> to;
    bool reaches(player_id p) const {
      return everyone || std::find(to.begin(), to.end(), p) != to.end();
    }
    bool nobody() const { return !everyone && to.empty(); }
  };

  static reach reach_of(const event& e) {
    switch (e.audience) {
      case audience_kind::everyone:
        return {true, {}};
      case audience_kind::place:
      case audience_kind::one:
        return {false, e.to};
      case audience_kind::nobody:
        break;
    }
    return {};
  }

  std::string nickname(player_id p) const {
    auto it = names_.find(p);
    return it == names_.end() ? std::to_string(p) : it->second;
  }

  // The words for one event: NPC talk and looking around are written by the LLM when there is
  // one (with the offline text as the fallback); everything else by the templates, in each
  // reader's own person ("You take..." / "Mina takes...").
  void narrate_event(room_api& room, const event& e, const reach& to) {
    if (e.kind == "npc_talk") return npc_line(room, e, to);
    auto names = [this](player_id p) { return nickname(p); };
    auto render = [this, &e, names](player_id viewer) { return narrate(*scn_, e, viewer, names); };
    std::string third = render(0);
    if (third.empty()) return;
    if (e.kind == "look" && llm_ && llm_busy_ < svc_->max_llm_lines_per_room) {
      return llm_line(room, "narration", "", e.actor, to, look_prompt(*scn_, e), render(e.actor));
    }
    offline_line(room, "narration", "", e.actor, to, render, std::move(third), e.kind);
  }

  void npc_line(room_api& room, const event& e, const reach& to) {
    auto it = scn_->npcs.find(e.a);
    if (it == scn_->npcs.end()) return;
    const npc_def& npc = it->second;
    std::vector<const knowledge_def*> revealed, unlocked;
    for (const auto& k : npc.knowledge) {
      if (std::find(e.revealed.begin(), e.revealed.end(), k.id) != e.revealed.end())
        revealed.push_back(&k);
      if (std::find(e.unlocked.begin(), e.unlocked.end(), k.id) != e.unlocked.end())
        unlocked.push_back(&k);
    }
    std::string offline = offline_npc_reply(npc, revealed, e.n == 1);
    if (llm_ && llm_busy_ < svc_->max_llm_lines_per_room) {
      auto call = npc_prompt(*scn_, npc, unlocked, revealed, nickname(e.actor), e.text, given_now_);
      if (!npc.lora.empty() && llm_->has_lora()) {
        call.lora = true;
        call.model = npc.lora;
      }
      return llm_line(room, "npc", npc.id, e.actor, to, std::move(call), offline);
    }
    offline_line(
        room, "npc", npc.id, e.actor, to, [&offline](player_id) { return offline; }, offline,
        e.kind);
  }

  json::object line_base(std::int64_t id, const char* kind, const std::string& npc,
                         player_id actor) const {
    json::object o{{"line", id}, {"kind", kind}, {"actor", actor}};
    if (!npc.empty()) {
      o["npc"] = npc;
      o["npc_name"] = scn_->npcs.at(npc).name;
    }
    return o;
  }

  // One text for every reader (LLM lines).
  void send_line(room_api& room, const reach& to, const json::object& line) {
    if (to.everyone) {
      room.send_all("mystery.line", line);
      return;
    }
    for (player_id p : to.to) {
      if (!left_.count(p)) room.send_to(p, "mystery.line", line);
    }
  }

  void remember(const json::object& line, const reach& to) {
    if (!to.everyone) return;  // only public lines are replayed to reconnecting players
    recent_.push_back(line);
    if (recent_.size() > recent_lines_max) recent_.pop_front();
  }

  // The line's final text into the action log. `line` (the id) lets the casebook put an LLM line
  // where its play was (llm_line logs a placeholder then); `of`: the event it tells.
  void log_line(room_api& room, const json::object& line, std::string_view of = {}) {
    json::object l{{"line", line.at("line")},
                   {"kind", line.at("kind")},
                   {"text", line.at("text")},
                   {"source", line.at("source")},
                   {"round", engine_->round()}};
    if (auto* n = line.if_contains("npc_name")) l["npc_name"] = *n;
    if (auto* n = line.if_contains("npc")) l["npc"] = *n;
    if (!of.empty()) l["of"] = of;
    room.log("line", line.at("actor").as_int64(), l);
  }

  // A whole line told by the offline narrator, rendered for each reader; spectators, the log and
  // the replay buffer get `third`, the third-person text (render(0)).
  void offline_line(room_api& room, const char* kind, const std::string& npc, player_id actor,
                    const reach& to, const std::function<std::string(player_id)>& render,
                    std::string third_text, std::string_view of) {
    auto line = line_base(++next_line_, kind, npc, actor);
    line["source"] = "offline";
    line["done"] = true;
    auto for_reader = [&](player_id viewer) {
      auto l = line;
      l["text"] = render(viewer);
      return l;
    };
    auto third = line;
    third["text"] = std::move(third_text);
    if (to.everyone) {
      for (const auto& [p, n] : names_) {
        if (!left_.count(p)) room.send_to(p, "mystery.line", for_reader(p));
      }
      room.send_spectators("mystery.line", third);
    } else {
      for (player_id p : to.to) {
        if (!left_.count(p)) room.send_to(p, "mystery.line", for_reader(p));
      }
    }
    remember(third, to);
    log_line(room, third, of);
  }

  // Streams an LLM line to `to`. They are told at once that it is coming (mystery.pending). If
  // the call fails before any words were shown, the offline line stands in (`replaced`); if it
  // breaks off after some were shown, those are kept, and the line ends saying the rest is lost
  // (`cut`) instead of being replaced by other words.
  void llm_line(room_api& room, const char* kind, const std::string& npc, player_id actor,
                const reach& to, llm_call call, const std::string& offline) {
    const std::int64_t id = ++next_line_;
    ++llm_busy_;
    auto base = line_base(id, kind, npc, actor);
    send_pending(room, to, base);
    // Its place in the story: the casebook puts the final text here, not where it finished.
    room.log("line", actor,
             {{"line", id}, {"pending", true}, {"kind", kind}, {"round", engine_->round()}});
    base["source"] = "llm";
    pending_[id] = {base, to, offline};
    auto gate = gate_;
    // Deltas and the end come back on the room's strand through the gate (dropped if the game
    // ended meanwhile, in which case `this` is gone and never touched).
    llm_->chat(
        std::move(call),
        [gate, this_mode = this, base, to](std::string_view delta) {
          gate([this_mode, base, to, d = std::string(delta)](room_api& r) {
            auto f = base;
            f["delta"] = d;
            f["done"] = false;
            this_mode->send_line(r, to, f);
          });
        },
        [gate, this_mode = this, base, to, offline](bool ok, std::string text, std::string) {
          gate([this_mode, base, to, offline, ok, text = std::move(text)](room_api& r) {
            --this_mode->llm_busy_;
            this_mode->pending_.erase(base.at("line").as_int64());
            r.checkpoint();
            auto f = base;
            f["done"] = true;
            if (ok && !text.empty()) {
              f["text"] = text;
            } else if (!text.empty()) {
              // Words were shown: they stay, and the line says plainly that it broke off.
              f["text"] = text + this_mode->cut_marker();
              f["cut"] = true;
            } else {
              // The LLM failed: the scenario's own words stand in, marked as such.
              f["text"] = offline;
              f["source"] = "offline";
              f["replaced"] = true;
            }
            this_mode->send_line(r, to, f);
            this_mode->remember(f, to);
            this_mode->log_line(r, f);
          });
        });
  }

  error system_refusal() const {
    return error{errc::forbidden,
                 scn_->language == "ko"
                     ? "게임 시스템을 향한 말은 받지 않습니다. 이야기 속 사람이나 물건에게 해 "
                       "보세요."
                     : "That is addressed to the game's system, not to anyone in the story; it "
                       "is not played."};
  }

  // Tells `to` at once that an LLM line is coming (its id, kind, NPC and actor).
  void send_pending(room_api& room, const reach& to, const json::object& base) {
    if (to.everyone) {
      room.send_all("mystery.pending", base);
      return;
    }
    for (player_id p : to.to) {
      if (!left_.count(p)) room.send_to(p, "mystery.pending", base);
    }
  }

  // Ends a line the LLM broke off, in the scenario's language.
  const char* cut_marker() const {
    return scn_->language == "ko" ? "… (말이 끊겼다. 나머지는 전해지지 않았다.)"
                                  : "… (the line breaks off; the rest is lost.)";
  }

  // Free text no rule understood: the LLM proposes a command, which the engine then checks like
  // any other. The turn is not held meanwhile.
  void interpret(room_api& room, player_id from, const std::string& text) {
    auto gate = gate_;
    ++llm_busy_;
    llm_->chat(intent_prompt(*scn_, engine_->view(from), text), {},
               [gate, this_mode = this, from, text](bool ok, std::string reply, std::string) {
                 gate([this_mode, from, text, ok, reply = std::move(reply)](room_api& r) {
                   --this_mode->llm_busy_;
                   this_mode->interpreted(r, from, text, ok ? parse_intent(reply) : std::nullopt);
                 });
               });
    (void)room;
  }

  void interpreted(room_api& room, player_id from, const std::string& text,
                   std::optional<action> a) {
    if (engine_->ended() || left_.count(from)) return;
    if (!a) {
      room.send_to(from, "mystery.rejected",
                   {{"text", text},
                    {"code", to_string(errc::unknown_command)},
                    {"message", scn_->language == "ko" ? "무슨 말인지 모르겠습니다."
                                                       : "That could not be understood as a "
                                                         "command."}});
      return;
    }
    auto r = play(room, from, *a, text);
    if (!r) {
      room.send_to(
          from, "mystery.rejected",
          {{"text", text}, {"code", to_string(r.error().code)}, {"message", r.error().message}});
    }
  }

  void finish(room_api& room) {
    const std::string& id = engine_->ending();
    auto it = scn_->endings.find(id);
    std::string title = it != scn_->endings.end() ? it->second.title : id;
    std::string kind = it != scn_->endings.end() ? it->second.kind : "";
    std::string text = it != scn_->endings.end() ? it->second.text : "";
    std::string game_id(room.game_id());
    std::string casebook = "/v1/games/" + game_id + "/casebook";
    room.log("ending", 0,
             {{"ending", id},
              {"title", title},
              {"kind", kind},
              {"text", text},
              {"round", engine_->round()}});
    room.send_all("mystery.ended", {{"ending", id},
                                    {"title", title},
                                    {"kind", kind},
                                    {"text", text},
                                    {"casebook", svc_->casebooks ? casebook : ""}});
    if (svc_->casebooks) {
      casebook_meta meta{game_id, scn_->title, scn_->language, {}};
      for (const auto& [p, n] : names_)
        meta.names[p] = n;
      meta.use_llm = llm_ != nullptr;  // a room played offline gets the templates' casebook
      svc_->casebooks->write(std::move(meta),
                             [announce = room.announcer(), game_id, casebook](std::string author) {
                               if (author.empty()) return;
                               announce("mystery.casebook", {{"game_id", game_id},
                                                             {"author", author},
                                                             {"markdown", casebook + ".md"},
                                                             {"html", casebook + ".html"}});
                             });
    }
    room.end_game(
        {{"ending", id},
         {"title", title},
         {"kind", kind},
         {"casebook", svc_->casebooks ? casebook : ""}},
        {{"scenario", scn_->id}, {"ending", id}, {"kind", kind}, {"state", engine_->state_json()}});
  }

  std::shared_ptr<const mystery_services> svc_;
  std::shared_ptr<const scenario> scn_;
  int turn_ms_;
  llm_port* llm_;
  std::optional<engine> engine_;
  std::function<void(room_api::async_fn)> gate_;
  std::map<player_id, std::string> names_;  // the players, seat order not implied
  std::set<player_id> left_;
  lobby::timer_id turn_timer_ = 0;
  std::pair<player_id, int> announced_{0, 0};  // the turn last announced
  epoch_ms turn_ends_at_ = 0;
  std::int64_t next_line_ = 0;
  int llm_busy_ = 0;
  std::deque<json::object> recent_;
  std::vector<std::string> given_now_;  // while an npc_talk is narrated: the items it handed over
  struct pending_line {
    json::object base;  // the line's id, kind, npc, actor and source
    reach to;
    std::string offline;  // the words that stand in if it never finishes
  };
  std::map<std::int64_t, pending_line> pending_;  // LLM lines being written, by id
};

// --- The factory --------------------------------------------------------------------------------

class mystery_factory final : public lobby::mode_factory {
 public:
  explicit mystery_factory(std::shared_ptr<const mystery_services> svc) : svc_(std::move(svc)) {}

  std::string_view name() const override { return "mystery"; }
  int min_players() const override { return 1; }
  int max_players() const override { return 6; }
  std::span<const proto::message_spec> messages() const override {
    return ::maratang::mystery::messages;
  }

  result<json::object> validate_settings(const json::object& s) const override {
    json::object out{{"turn_ms", svc_->turn_ms}, {"llm", true}};
    for (const auto& [k, v] : s) {
      if (k == "scenario") {
        if (!v.is_string() || !svc_->scenarios.count(std::string(v.get_string()))) {
          return error{errc::bad_field,
                       "settings.scenario must name a loaded scenario (see GET "
                       "/v1/mystery/scenarios)."};
        }
        out[k] = v;
      } else if (k == "turn_ms") {
        if (!v.is_int64() || v.get_int64() < 0 || v.get_int64() > 3'600'000) {
          return error{errc::bad_field, "settings.turn_ms must be 0 (no limit) to 3600000."};
        }
        out[k] = v;
      } else if (k == "llm") {
        if (!v.is_bool()) return error{errc::bad_field, "settings.llm must be true or false."};
        out[k] = v;
      } else if (k == "seed") {
        out[k] = v;  // the room checks it; the engine itself draws no randomness
      } else {
        return error{errc::bad_field, "Unknown setting \"" + std::string(k) + "\"."};
      }
    }
    if (!out.contains("scenario")) {
      if (svc_->scenarios.empty()) {
        return error{errc::unavailable, "No Mystery scenario is loaded on this server."};
      }
      return error{errc::missing_field,
                   "settings.scenario is required (see GET /v1/mystery/scenarios)."};
    }
    return out;
  }

  result<> check_start(const json::object& settings, int players) const override {
    auto* id = settings.if_contains("scenario");
    if (!id || !id->is_string()) return error{errc::bad_field, "No scenario chosen."};
    auto it = svc_->scenarios.find(std::string(id->get_string()));
    if (it == svc_->scenarios.end()) return error{errc::bad_field, "The scenario is gone."};
    const auto& s = *it->second;
    if (players < s.min_players) {
      return error{errc::too_few_players,
                   fmt::format("{} needs at least {} players.", s.title, s.min_players)};
    }
    if (players > s.max_players) {
      return error{errc::room_full,
                   fmt::format("{} is for at most {} players.", s.title, s.max_players)};
    }
    return {};
  }

  std::unique_ptr<lobby::mode> create(const json::object& settings) const override {
    auto scn = svc_->scenarios.at(std::string(settings.at("scenario").as_string()));
    return std::make_unique<mystery_mode>(svc_, std::move(scn),
                                          static_cast<int>(settings.at("turn_ms").as_int64()),
                                          settings.at("llm").as_bool());
  }

  result<std::unique_ptr<lobby::mode>> restore(const json::object& settings,
                                               const json::object& state) const override {
    try {
      auto it = svc_->scenarios.find(std::string(settings.at("scenario").as_string()));
      if (it == svc_->scenarios.end())
        return error{errc::unavailable, "The game's scenario is no longer loaded."};
      auto m = std::make_unique<mystery_mode>(svc_, it->second,
                                              static_cast<int>(settings.at("turn_ms").as_int64()),
                                              settings.at("llm").as_bool());
      m->restore_from(state);
      return std::unique_ptr<lobby::mode>(std::move(m));
    } catch (const std::exception& e) {
      return error{errc::bad_field, fmt::format("mystery state: {}", e.what())};
    }
  }

  // Statistics: the players play together, so everyone still in the game at its ending shares it,
  // alive or dead: a good ending is won, a bad one lost, a neutral one drawn. `endings` counts
  // "scenario/ending" (ending ids are a scenario's own). A game everyone left has no ending.
  void score(const json::object& record, std::span<store::player_outcome> stayed) const override {
    const auto* scenario = record.if_contains("scenario");
    const auto* ending = record.if_contains("ending");
    const auto* kind = record.if_contains("kind");
    if (!scenario || !scenario->is_string() || !ending || !ending->is_string() ||
        ending->get_string().empty())
      return;
    std::string_view k;
    if (kind && kind->is_string()) k = kind->get_string();
    const auto result = k == "good"  ? store::game_result::won
                        : k == "bad" ? store::game_result::lost
                                     : store::game_result::drawn;
    std::string key = std::string(scenario->get_string()) + "/" + std::string(ending->get_string());
    for (auto& o : stayed) {
      o.result = result;
      o.tallies.emplace_back("endings", key);
    }
  }
  std::span<const std::string_view> tallies() const override { return stat_tallies; }

  // Competition: Mystery is co-operative (everyone wins or loses together), so it is not rated:
  // a rating needs opponents. Its board is the fastest escape per scenario: a good ending's time
  // (start to end) for every player who stayed to it, the best kept ("mystery.escape.<scenario>",
  // lower first).
  void compete(const json::object& record, std::span<const store::player_outcome> outcomes,
               store::competition_input& in) const override {
    const auto* scenario = record.if_contains("scenario");
    const auto* ending = record.if_contains("ending");
    const auto* kind = record.if_contains("kind");
    if (!scenario || !scenario->is_string() || !ending || !ending->is_string() ||
        ending->get_string().empty() || !kind || !kind->is_string() || kind->get_string() != "good")
      return;
    const std::string board_name = "mystery.escape." + std::string(scenario->get_string());
    for (const auto& o : outcomes)
      if (o.result != store::game_result::abandoned)
        in.scores.push_back({board_name, o.account_id, static_cast<double>(o.time_played_ms),
                             store::score_merge::best, true});
  }
  std::vector<board> leaderboards() const override {
    std::vector<board> out;
    for (const auto& [id, scn] : svc_->scenarios)
      out.push_back({"mystery.escape." + id, true,
                     "Fastest escape (a good ending) of this scenario, in ms: lower first."});
    return out;
  }

 private:
  static constexpr std::string_view stat_tallies[] = {"endings"};
  std::shared_ptr<const mystery_services> svc_;
};

}  // namespace

std::unique_ptr<lobby::mode_factory> make_mystery_mode_factory(
    std::shared_ptr<const mystery_services> services) {
  return std::make_unique<mystery_factory>(std::move(services));
}

}  // namespace maratang::mystery
