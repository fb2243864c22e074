#include "modes/mystery/engine.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <boost/json.hpp>
#include <stdexcept>

namespace maratang::mystery {

namespace json = boost::json;

// --- Text ---------------------------------------------------------------------------------------

namespace {

// Appends the folded form of s; keep_spaces keeps single spaces between words.
void fold_into(std::string& out, std::string_view s, bool keep_spaces) {
  bool space = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    // Full-width ASCII U+FF01..U+FF5E (EF BC 81..EF BD 9E) and the ideographic space U+3000.
    if (c == 0xEF && i + 2 < s.size()) {
      auto c1 = static_cast<unsigned char>(s[i + 1]);
      auto c2 = static_cast<unsigned char>(s[i + 2]);
      unsigned cp = 0xF000u | ((c1 & 0x3Fu) << 6) | (c2 & 0x3Fu);
      if (cp >= 0xFF01 && cp <= 0xFF5E) {
        c = static_cast<unsigned char>(cp - 0xFF01 + 0x21);
        i += 2;
      }
    } else if (c == 0xE3 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
               static_cast<unsigned char>(s[i + 2]) == 0x80) {
      c = ' ';
      i += 2;
    }
    bool sep = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '_' || c == '-';
    if (sep) {
      space = true;
      continue;
    }
    if (space && keep_spaces && !out.empty()) out += ' ';
    space = false;
    if (c >= 'A' && c <= 'Z') c = static_cast<unsigned char>(c - 'A' + 'a');
    out += static_cast<char>(c);
  }
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Korean particles a player may leave on a name ("열쇠를", "문에", "북쪽으로"); longest first.
constexpr std::string_view particles[] = {"에게서", "으로", "에게", "한테", "에서", "이랑", "을",
                                          "를",     "이",   "가",   "은",   "는",   "에",   "로",
                                          "와",     "과",   "랑",   "도",   "의"};

// Direction words that mean the same way (typed or as exit keys), folded.
constexpr std::string_view direction_groups[][6] = {
    {"north", "n", "북", "북쪽", "", ""},
    {"south", "s", "남", "남쪽", "", ""},
    {"east", "e", "동", "동쪽", "", ""},
    {"west", "w", "서", "서쪽", "", ""},
    {"up", "u", "위", "위쪽", "위층", "upstairs"},
    {"down", "d", "아래", "아래쪽", "아래층", "downstairs"},
    {"in", "inside", "안", "안쪽", "", ""},
    {"out", "outside", "밖", "바깥", "", ""},
};

int direction_group(std::string_view folded) {
  for (std::size_t g = 0; g < std::size(direction_groups); ++g)
    for (auto w : direction_groups[g])
      if (!w.empty() && w == folded) return static_cast<int>(g);
  return -1;
}

// The typed name as folded, then without a trailing Korean particle (if it had one).
std::vector<std::string> name_forms(std::string_view typed) {
  std::vector<std::string> forms{fold(typed)};
  for (auto p : particles)
    if (ends_with(forms[0], p) && forms[0].size() > p.size()) {
      forms.push_back(forms[0].substr(0, forms[0].size() - p.size()));
      break;
    }
  return forms;
}

// Keyword match inside folded words: the keyword starts a word (ASCII) or appears anywhere (other
// scripts, which glue particles to words).
bool mentions(const std::string& words, const std::string& keyword) {
  if (keyword.empty()) return false;
  for (std::size_t pos = words.find(keyword); pos != std::string::npos;
       pos = words.find(keyword, pos + 1)) {
    auto first = static_cast<unsigned char>(keyword[0]);
    if (first >= 0x80 || pos == 0) return true;
    auto prev = static_cast<unsigned char>(words[pos - 1]);
    bool alnum = (prev >= 'a' && prev <= 'z') || (prev >= '0' && prev <= '9');
    if (!alnum) return true;
  }
  return false;
}

// A code guess as compared: spaces dropped, full-width made ASCII (case kept for the pattern).
std::string code_form(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == 0xEF && i + 2 < s.size()) {
      auto c1 = static_cast<unsigned char>(s[i + 1]);
      auto c2 = static_cast<unsigned char>(s[i + 2]);
      unsigned cp = 0xF000u | ((c1 & 0x3Fu) << 6) | (c2 & 0x3Fu);
      if (cp >= 0xFF01 && cp <= 0xFF5E) {
        out += static_cast<char>(cp - 0xFF01 + 0x21);
        i += 2;
        continue;
      }
    }
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
    out += static_cast<char>(c);
  }
  return out;
}

bool iequal_ascii(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (x >= 'A' && x <= 'Z') x = static_cast<unsigned char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<unsigned char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

event mk(std::string kind, player_id actor, std::string a = {}, std::string b = {}, int n = 0,
         std::string text = {}) {
  event e;
  e.kind = std::move(kind);
  e.actor = actor;
  e.a = std::move(a);
  e.b = std::move(b);
  e.n = n;
  e.text = std::move(text);
  return e;
}

event with_list(event e, std::vector<std::string> list) {
  e.list = std::move(list);
  return e;
}

error refuse(errc code, std::string message) {
  return error(code, std::move(message));
}

// The engine's refusals in Korean, by their English pattern ({} = a name, as typed or the
// scenario's own): a Korean game refuses in Korean (issue 14, item 9).
const std::map<std::string_view, std::string_view>& korean_refusals() {
  static const std::map<std::string_view, std::string_view> table{
      {"You are not in this game.", "이 게임의 참가자가 아닙니다."},
      {"Keep it under {} bytes.", "{}바이트 이내로 입력하세요."},
      {"It is not your turn; wait for yours.", "아직 당신의 차례가 아닙니다. 차례를 기다리세요."},
      {"The game is over.", "게임이 끝났습니다."},
      {"You can no longer act in this game.", "이 게임에서는 더 이상 행동할 수 없습니다."},
      {"Go where?", "어디로 갈까요?"},
      {"There is no way '{}' from here.", "여기서는 '{}' 쪽으로 갈 수 없습니다."},
      {"There is no '{}' here.", "여기에는 '{}'(이)가 없습니다."},
      {"Take what?", "무엇을 주울까요?"},
      {"You already hold that.", "이미 가지고 있습니다."},
      {"The {} cannot be taken.", "{}(은)는 가져갈 수 없습니다."},
      {"Drop what?", "무엇을 내려놓을까요?"},
      {"You are not holding '{}'.", "'{}'(을)를 가지고 있지 않습니다."},
      {"Use what?", "무엇을 사용할까요?"},
      {"The {} cannot be worked yet.", "{}(은)는 아직 다룰 수 없습니다."},
      {"Nothing happens when you use the {}.", "{}(을)를 사용해도 아무 일도 일어나지 않습니다."},
      {"The {} does nothing there.", "{}(은)는 거기에 써도 소용이 없습니다."},
      {"Combine what with what?", "무엇과 무엇을 조합할까요?"},
      {"Combine it with something else.", "다른 것과 조합해 보세요."},
      {"The {} and the {} do not go together.", "{}와(과) {}(은)는 서로 맞지 않습니다."},
      {"Which code?", "어떤 암호를 입력할까요?"},
      {"There is nothing here to enter a code on.", "여기에는 암호를 입력할 곳이 없습니다."},
      {"There is no '{}' here to enter a code on.", "여기에는 암호를 입력할 '{}'(이)가 없습니다."},
      {"Say what to enter the code on, e.g. `code safe 1234`.",
       "어디에 입력할지 말해 주세요. 예: `금고에 1234 입력`."},
      {"The {} is already open.", "{}(은)는 이미 열려 있습니다."},
      {"The {} takes no more tries.", "{}에는 더 이상 시도할 수 없습니다."},
      {"The {} cannot be tried yet.", "{}(은)는 아직 시도할 수 없습니다."},
      {"That code has the wrong shape for the {}.", "{}에 맞지 않는 형식의 암호입니다."},
      {"The {} takes {}.", "{}에 맞는 형식: {}."},
      {"There is no one here to talk to.", "여기에는 말을 걸 사람이 없습니다."},
      {"There is no '{}' here to talk to.", "여기에는 '{}'(이)라는 사람이 없습니다."},
      {"There is no one to accuse here.", "이 이야기에는 지목할 사람이 없습니다."},
      {"Accuse whom?", "누구를 지목할까요?"},
      {"{} may know something about \"{}\".", "{}에게 '{}'에 대해 물어보세요."},
      {"The {} is still to be solved.", "{}(은)는 아직 풀리지 않았습니다."},
      {"Look around and inspect what you find.", "주위를 살펴보고 눈에 띄는 것을 조사해 보세요."},
      {"You cannot make an accusation yet.", "아직은 범인을 지목할 수 없습니다."},
  };
  return table;
}

// A refusal's text in the scenario's language.
template <class... A>
std::string say(const scenario& s, std::string_view english, const A&... args) {
  std::string_view pattern = english;
  if (s.language == "ko") {
    auto it = korean_refusals().find(english);
    if (it != korean_refusals().end()) pattern = it->second;
  }
  return fmt::format(fmt::runtime(pattern), args...);
}

}  // namespace

std::string fold(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  fold_into(out, s, false);
  return out;
}

std::string fold_words(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  fold_into(out, s, true);
  return out;
}

std::string_view to_string(audience_kind a) noexcept {
  switch (a) {
    case audience_kind::everyone:
      return "everyone";
    case audience_kind::place:
      return "place";
    case audience_kind::one:
      return "one";
    case audience_kind::nobody:
      return "nobody";
  }
  return "nobody";
}

std::string_view to_string(verb v) noexcept {
  switch (v) {
    case verb::look:
      return "look";
    case verb::go:
      return "go";
    case verb::inspect:
      return "inspect";
    case verb::take:
      return "take";
    case verb::drop:
      return "drop";
    case verb::use:
      return "use";
    case verb::combine:
      return "combine";
    case verb::code:
      return "code";
    case verb::talk:
      return "talk";
    case verb::accuse:
      return "accuse";
    case verb::inventory:
      return "inventory";
    case verb::journal:
      return "journal";
    case verb::help:
      return "help";
    case verb::pass:
      return "pass";
    case verb::hint:
      return "hint";
    case verb::quit:
      return "quit";
  }
  return "look";
}

std::optional<verb> verb_named(std::string_view name) noexcept {
  static constexpr verb all[] = {verb::look, verb::go,     verb::inspect,   verb::take,
                                 verb::drop, verb::use,    verb::combine,   verb::code,
                                 verb::talk, verb::accuse, verb::inventory, verb::journal,
                                 verb::help, verb::pass,   verb::hint,      verb::quit};
  for (verb v : all) {
    if (to_string(v) == name) return v;
  }
  return std::nullopt;
}

// --- Construction and queries -------------------------------------------------------------------

struct engine::ctx {
  player_state* actor = nullptr;
  outcome out;
};

engine::engine(std::shared_ptr<const scenario> s, std::vector<player_id> seats)
    : scn_(std::move(s)) {
  for (auto id : seats)
    players_.push_back({id, scn_->start, scn_->health, true, true});
  visited_.insert(scn_->start);
  for (const auto& [id, it] : scn_->items) {
    auto& st = items_[id];
    if (!it.at.empty()) {
      st.where = place::floor;
      st.loc = it.at;
    }
    st.hidden = it.hidden;
    item_keys_.emplace_back(fold(id), id);
    item_keys_.emplace_back(fold(it.name), id);
    for (const auto& al : it.aliases)
      item_keys_.emplace_back(fold(al), id);
  }
  for (const auto& [id, n] : scn_->npcs) {
    npc_keys_.emplace_back(fold(id), id);
    npc_keys_.emplace_back(fold(n.name), id);
    for (const auto& al : n.aliases)
      npc_keys_.emplace_back(fold(al), id);
  }
  for (const auto& [id, pz] : scn_->puzzles) {
    puzzles_[id];
    if (pz.k == puzzle_def::kind::code && !pz.code_pattern.empty()) {
      try {
        patterns_.emplace(id, std::regex(pz.code_pattern, std::regex::ECMAScript));
      } catch (const std::regex_error&) {
        // The loader refuses bad patterns; should one slip through, any shape is accepted.
      }
    }
  }
}

engine::player_state* engine::find(player_id p) {
  for (auto& ps : players_)
    if (ps.id == p) return &ps;
  return nullptr;
}
const engine::player_state* engine::find(player_id p) const {
  for (const auto& ps : players_)
    if (ps.id == p) return &ps;
  return nullptr;
}

player_id engine::current_turn() const {
  if (ended_ || players_.empty()) return 0;
  const auto& ps = players_[current_];
  return ps.alive && ps.present ? ps.id : 0;
}

std::string engine::location_of(player_id p) const {
  const auto* ps = find(p);
  return ps ? ps->loc : std::string();
}
int engine::health_of(player_id p) const {
  const auto* ps = find(p);
  return ps ? ps->health : 0;
}
bool engine::alive(player_id p) const {
  const auto* ps = find(p);
  return ps && ps->alive;
}

std::vector<std::string> engine::inventory_of(player_id p) const {
  std::vector<std::pair<std::uint64_t, std::string>> held;
  for (const auto& [id, st] : items_)
    if (st.where == place::held && st.holder == p) held.emplace_back(st.order, id);
  std::sort(held.begin(), held.end());
  std::vector<std::string> out;
  out.reserve(held.size());
  for (auto& h : held)
    out.push_back(std::move(h.second));
  return out;
}

bool engine::held_by(const std::string& item, player_id p) const {
  auto it = items_.find(item);
  return it != items_.end() && it->second.where == place::held && it->second.holder == p;
}

bool engine::visible_here(const std::string& item, const std::string& loc) const {
  auto it = items_.find(item);
  return it != items_.end() && it->second.where == place::floor && it->second.loc == loc &&
         !it->second.hidden;
}

std::vector<player_id> engine::players_in(const std::string& loc, player_id except) const {
  std::vector<player_id> out;
  for (const auto& ps : players_)
    if (ps.present && ps.loc == loc && ps.id != except) out.push_back(ps.id);
  return out;
}

bool engine::holds(const condition& c, const player_state* actor) const {
  using k = condition::kind;
  switch (c.k) {
    case k::always:
      return true;
    case k::flag:
      return flags_.count(c.arg) > 0;
    case k::not_:
      return c.kids.empty() || !holds(c.kids[0], actor);
    case k::all:
      return std::all_of(c.kids.begin(), c.kids.end(),
                         [&](const condition& d) { return holds(d, actor); });
    case k::any:
      return std::any_of(c.kids.begin(), c.kids.end(),
                         [&](const condition& d) { return holds(d, actor); });
    case k::has:
      return actor && held_by(c.arg, actor->id);
    case k::team_has: {
      auto it = items_.find(c.arg);
      return it != items_.end() && it->second.where == place::held;
    }
    case k::at:
      return actor && actor->loc == c.arg;
    case k::visited:
      return visited_.count(c.arg) > 0;
    case k::solved: {
      auto it = puzzles_.find(c.arg);
      return it != puzzles_.end() && it->second.solved;
    }
    case k::turn_at_least:
      return round_ >= c.n;
    case k::health_below:
      return actor && actor->health < c.n;
    case k::item_at:
      return visible_here(c.arg, c.arg2);
  }
  return false;
}

bool engine::exit_open(const std::string& loc, const exit_def& e) const {
  return unlocked_exits_.count({loc, e.direction}) > 0 || holds(e.open_when, nullptr);
}

std::vector<const knowledge_def*> engine::unlocked_knowledge(player_id p,
                                                             std::string_view npc) const {
  std::vector<const knowledge_def*> out;
  auto it = scn_->npcs.find(std::string(npc));
  if (it == scn_->npcs.end()) return out;
  const auto* ps = find(p);
  for (const auto& k : it->second.knowledge)
    if (holds(k.when, ps)) out.push_back(&k);
  return out;
}

// --- Name resolution ----------------------------------------------------------------------------

std::string engine::item_named(std::string_view typed, const player_state& p, bool held,
                               bool here) const {
  for (const auto& form : name_forms(typed)) {
    if (form.empty()) continue;
    for (const auto& [key, id] : item_keys_) {
      if (key != form) continue;
      if ((held && held_by(id, p.id)) || (here && visible_here(id, p.loc))) return id;
    }
  }
  return {};
}

std::string engine::npc_here(std::string_view typed, const player_state& p) const {
  if (typed.empty()) {  // the only NPC here, if there is exactly one
    std::string only;
    for (const auto& [id, n] : scn_->npcs)
      if (n.at == p.loc) {
        if (!only.empty()) return {};
        only = id;
      }
    return only;
  }
  for (const auto& form : name_forms(typed))
    for (const auto& [key, id] : npc_keys_)
      if (key == form && scn_->npcs.at(id).at == p.loc) return id;
  return {};
}

bool engine::names_portable_item(std::string_view typed) const {
  for (const auto& form : name_forms(typed))
    for (const auto& [key, id] : item_keys_)
      if (!form.empty() && key == form && scn_->items.at(id).portable) return true;
  return false;
}

const exit_def* engine::exit_named(std::string_view typed, const std::string& loc) const {
  auto lit = scn_->locations.find(loc);
  if (lit == scn_->locations.end()) return nullptr;
  const auto& exits = lit->second.exits;
  for (const auto& form : name_forms(typed)) {
    if (form.empty()) continue;
    int group = direction_group(form);
    for (const auto& e : exits) {
      if (fold(e.direction) == form || fold(e.to) == form) return &e;
      if (group >= 0 && direction_group(fold(e.direction)) == group) return &e;
      for (const auto& al : e.aliases)
        if (fold(al) == form) return &e;
      auto to = scn_->locations.find(e.to);
      if (to != scn_->locations.end() && fold(to->second.name) == form) return &e;
    }
  }
  return nullptr;
}

// --- Events and effects -------------------------------------------------------------------------

void engine::emit(ctx& c, event e, const std::string& audience, const std::string& where,
                  player_id except) {
  // `audience`: "all", "here" (the players in `where` but `except`) or "actor".
  if (audience == "here") {
    e.where = where;
    e.to = players_in(where, except);
    e.audience = e.to.empty() ? audience_kind::nobody : audience_kind::place;
  } else if (audience == "actor") {
    e.where = where;
    e.to = {e.actor};
    e.audience = audience_kind::one;
  } else {
    e.audience = audience_kind::everyone;
  }
  c.out.events.push_back(std::move(e));
}

void engine::give_to(const std::string& item, player_id p) {
  auto& st = items_[item];
  st.where = place::held;
  st.holder = p;
  st.loc.clear();
  st.hidden = false;
  st.order = next_order_++;
}

void engine::drop_all(player_state& p) {
  for (auto& [id, st] : items_)
    if (st.where == place::held && st.holder == p.id) {
      st.where = place::floor;
      st.loc = p.loc;
      st.holder = 0;
    }
}

void engine::hurt(ctx& c, player_state& p, int n, const char* cause) {
  if (!p.alive || n <= 0) return;
  p.health = std::max(0, p.health - n);
  event e = mk("damaged", p.id, cause, {}, n);
  emit(c, std::move(e), "actor", p.loc);
  if (p.health == 0) {
    p.alive = false;
    drop_all(p);  // what the dead carried lies where they fell
    emit(c, mk("died", p.id), "all", {});
  }
}

void engine::end_game(ctx& c, const std::string& ending) {
  if (ended_) return;
  ended_ = true;
  ending_ = ending;
  event e = mk("ending", c.actor ? c.actor->id : 0, ending);
  auto it = scn_->endings.find(ending);
  if (it != scn_->endings.end()) {
    e.b = it->second.kind;
    e.text = it->second.text;
  }
  emit(c, std::move(e), "all", {});
}

void engine::apply(ctx& c, const std::vector<effect>& effects) {
  for (const auto& e : effects) {
    if (ended_) return;
    apply_one(c, e);
  }
}

void engine::apply_one(ctx& c, const effect& e) {
  using k = effect::kind;
  player_state* actor = c.actor;
  const std::string here = actor ? actor->loc : std::string();
  player_id who = actor ? actor->id : 0;
  if (!e.text.empty() && e.k != k::say) emit(c, mk("say", who, {}, {}, 0, e.text), "here", here);
  switch (e.k) {
    case k::set:
      flags_.insert(e.arg);
      break;
    case k::clear:
      flags_.erase(e.arg);
      break;
    case k::unlock:
      if (unlocked_exits_.insert({e.arg, e.arg2}).second)
        emit(c, mk("unlocked", who, e.arg, e.arg2), "here", here);
      break;
    case k::reveal: {
      auto it = items_.find(e.arg);
      if (it != items_.end() && it->second.hidden) {
        it->second.hidden = false;
        const std::string where = it->second.where == place::floor ? it->second.loc : here;
        emit(c, mk("revealed", who, e.arg), "here", where);
      }
      break;
    }
    case k::give:
      if (actor && items_.count(e.arg)) {
        give_to(e.arg, actor->id);
        emit(c, mk("received", who, e.arg), "here", here);
      }
      break;
    case k::remove: {
      auto it = items_.find(e.arg);
      if (it != items_.end() && it->second.where != place::gone) {
        it->second = gone_state();
        emit(c, mk("removed", who, e.arg), "here", here);
      }
      break;
    }
    case k::move_item: {
      auto it = items_.find(e.arg);
      if (it != items_.end()) {
        it->second.where = place::floor;
        it->second.loc = e.arg2;
        it->second.holder = 0;
      }
      break;
    }
    case k::damage:
      if (actor) hurt(c, *actor, e.n, "effect");
      break;
    case k::heal:
      if (actor && actor->alive && e.n > 0) {
        int before = actor->health;
        actor->health = std::min(scn_->health, actor->health + e.n);
        emit(c, mk("healed", who, "effect", {}, actor->health - before), "actor", here);
      }
      break;
    case k::damage_all:
      for (auto& ps : players_)
        if (ps.present) hurt(c, ps, e.n, "effect");
      break;
    case k::clue:
      if (std::find(journal_.begin(), journal_.end(), e.arg) == journal_.end()) {
        journal_.push_back(e.arg);
        event ev = mk("clue", who, e.arg);
        auto it = scn_->clues.find(e.arg);
        if (it != scn_->clues.end()) {
          ev.b = it->second.title;
          ev.text = it->second.text;
        }
        emit(c, std::move(ev), "all", {});
      }
      break;
    case k::teleport:
      if (actor && scn_->locations.count(e.arg)) {
        actor->loc = e.arg;
        visited_.insert(e.arg);
        emit(c, mk("teleported", who, e.arg), "actor", e.arg);
        emit(c, mk("look", who, e.arg, {}, 0, scn_->locations.at(e.arg).description), "actor",
             e.arg);
      }
      break;
    case k::say:
      emit(c, mk("say", who, {}, {}, 0, e.text), "here", here);
      break;
    case k::end:
      end_game(c, e.arg);
      break;
  }
}

void engine::check_endings(ctx& c) {
  if (ended_) return;
  for (const auto& [id, en] : scn_->endings) {
    if (en.when.k == condition::kind::always) continue;
    if (holds(en.when, c.actor)) {
      end_game(c, id);
      return;
    }
  }
}

namespace {
template <class Map>
std::string first_with(const Map& endings, bool ending_def::*flag) {
  for (const auto& [id, en] : endings)
    if (en.*flag) return id;
  return {};
}
}  // namespace

void engine::finish(ctx& c, bool turn_used) {
  c.out.turn_used = turn_used;
  check_endings(c);
  if (!ended_ && std::none_of(players_.begin(), players_.end(),
                              [](const player_state& ps) { return ps.alive; }))
    end_game(c, first_with(scn_->endings, &ending_def::on_all_dead));
  if (!ended_ && turn_used) advance_turn(c);
}

void engine::advance_turn(ctx& c) {
  const std::size_t n = players_.size();
  std::size_t i = current_;
  bool wrapped = false;
  for (std::size_t step = 0; step < n; ++step) {
    i = (i + 1) % n;
    if (i == 0) wrapped = true;
    if (players_[i].alive && players_[i].present) break;
  }
  // With nobody able to act, the round still ends (hazards cannot strike the absent).
  if (i <= current_) wrapped = true;
  current_ = i;
  if (wrapped) end_round(c);
  if (ended_) return;
  if (!players_[current_].alive || !players_[current_].present) {
    // The round's hazards killed the next player: find the next one who can act.
    for (std::size_t step = 0; step < n; ++step) {
      current_ = (current_ + 1) % n;
      if (players_[current_].alive && players_[current_].present) break;
    }
  }
  if (!solo() && current_turn() != 0)
    emit(c, mk("turn", players_[current_].id, {}, {}, round_), "all", {});
}

void engine::end_round(ctx& c) {
  for (auto& ps : players_) {
    if (!ps.alive || !ps.present) continue;
    const auto& loc = scn_->locations.at(ps.loc);
    if (!loc.hazard || loc.hazard->damage <= 0 || holds(loc.hazard->unless, &ps)) continue;
    emit(c, mk("hazard", ps.id, ps.loc, {}, loc.hazard->damage, loc.hazard->text), "actor", ps.loc);
    hurt(c, ps, loc.hazard->damage, "hazard");
  }
  if (std::none_of(players_.begin(), players_.end(),
                   [](const player_state& ps) { return ps.alive; })) {
    end_game(c, first_with(scn_->endings, &ending_def::on_all_dead));
    return;
  }
  ++round_;
  if (scn_->turn_limit > 0 && round_ > scn_->turn_limit) {
    end_game(c, first_with(scn_->endings, &ending_def::on_turn_limit));
    return;
  }
  emit(c, mk("round", 0, {}, {}, round_), "all", {});
  check_endings(c);  // turn_at_least may hold now
}

// --- Commands -----------------------------------------------------------------------------------

result<outcome> engine::act(player_id p, const action& a) {
  auto* ps = find(p);
  if (!ps) return refuse(errc::unknown_player, say(*scn_, "You are not in this game."));
  if (a.object.size() > max_text_bytes || a.target.size() > max_text_bytes ||
      a.text.size() > max_text_bytes)
    return refuse(errc::too_large, say(*scn_, "Keep it under {} bytes.", max_text_bytes));
  // Quitting is always allowed, turn or not: the player leaves the game.
  if (a.v == verb::quit) return remove_player(p);
  const bool free = a.v == verb::look || a.v == verb::inventory || a.v == verb::journal ||
                    a.v == verb::help || a.v == verb::hint;
  if (!free) {
    if (ended_) return refuse(errc::game_over, say(*scn_, "The game is over."));
    if (!ps->present || !ps->alive)
      return refuse(errc::not_alive, say(*scn_, "You can no longer act in this game."));
    if (!solo() && players_[current_].id != p)
      return refuse(errc::not_your_turn, say(*scn_, "It is not your turn; wait for yours."));
  }
  ctx c;
  c.actor = ps;
  result<void> r;
  switch (a.v) {
    case verb::look:
      r = do_look(c);
      break;
    case verb::inventory:
      emit(c, with_list(mk("inventory", p), inventory_of(p)), "actor", ps->loc);
      break;
    case verb::journal:
      emit(c, with_list(mk("journal", p), journal_), "actor", ps->loc);
      break;
    case verb::help:
      emit(c, mk("help", p), "actor", ps->loc);
      break;
    case verb::hint:
      emit(c, mk("hint", p, {}, {}, 0, hint_for(p)), "actor", ps->loc);
      break;
    case verb::quit:
      break;  // handled above
    case verb::pass:
      emit(c, mk("passed", p), "all", {});
      break;
    case verb::go:
      r = do_go(c, a);
      break;
    case verb::inspect:
      r = do_inspect(c, a);
      break;
    case verb::take:
      r = do_take(c, a);
      break;
    case verb::drop:
      r = do_drop(c, a);
      break;
    case verb::use:
      r = do_use(c, a);
      break;
    case verb::combine:
      r = do_combine(c, a);
      break;
    case verb::code:
      r = do_code(c, a);
      break;
    case verb::talk:
      r = do_talk(c, a);
      break;
    case verb::accuse:
      r = do_accuse(c, a);
      break;
  }
  if (!r) return r.error();
  if (free) return std::move(c.out);
  // A refusal told as prose (a locked exit, a use whose condition fails) changes nothing and
  // keeps the turn; it is the only event then.
  const bool refused = c.out.events.size() == 1 &&
                       (c.out.events[0].kind == "locked" || c.out.events[0].kind == "use_failed");
  if (!refused) finish(c, true);
  return std::move(c.out);
}

outcome engine::pass_turn() {
  ctx c;
  if (ended_ || players_.empty()) return std::move(c.out);
  auto& ps = players_[current_];
  c.actor = &ps;
  if (ps.alive && ps.present) emit(c, mk("passed", ps.id, {}, {}, 1), "all", {});
  finish(c, true);
  return std::move(c.out);
}

outcome engine::remove_player(player_id p) {
  ctx c;
  auto* ps = find(p);
  if (!ps || !ps->present) return std::move(c.out);
  c.actor = ps;
  const bool was_current = !ended_ && players_[current_].id == p;
  ps->present = false;
  emit(c, mk("left_game", p), "all", {});
  if (ended_) return std::move(c.out);
  drop_all(*ps);
  if (std::none_of(players_.begin(), players_.end(),
                   [](const player_state& s) { return s.alive && s.present; })) {
    end_game(c, first_with(scn_->endings, &ending_def::on_all_dead));
    return std::move(c.out);
  }
  if (was_current) advance_turn(c);
  return std::move(c.out);
}

std::string engine::hint_for(player_id p) const {
  const auto* ps = find(p);
  if (!ps) return {};
  for (const auto& [nid, npc] : scn_->npcs) {
    for (const auto& k : npc.knowledge) {
      if (k.about.empty() || revealed_knowledge_.count({nid, k.id}) || !holds(k.when, ps)) continue;
      return say(*scn_, "{} may know something about \"{}\".", npc.name, k.about.front());
    }
  }
  for (const auto& [pid, pz] : scn_->puzzles) {
    const auto& st = puzzles_.at(pid);
    if (st.solved || st.exhausted || !holds(pz.when, ps)) continue;
    return say(*scn_, "The {} is still to be solved.", pz.name);
  }
  return say(*scn_, "Look around and inspect what you find.");
}

result<void> engine::do_look(ctx& c) {
  const auto& loc = scn_->locations.at(c.actor->loc);
  emit(c, mk("look", c.actor->id, loc.id, {}, 0, loc.description), "actor", loc.id);
  return {};
}

result<void> engine::do_go(ctx& c, const action& a) {
  auto& ps = *c.actor;
  if (a.object.empty()) return refuse(errc::bad_field, say(*scn_, "Go where?"));
  const auto* ex = exit_named(a.object, ps.loc);
  if (!ex) return refuse(errc::not_here, say(*scn_, "There is no way '{}' from here.", a.object));
  if (!exit_open(ps.loc, *ex)) {
    emit(c, mk("locked", ps.id, ps.loc, ex->direction, 0, ex->locked_text), "actor", ps.loc);
    return {};
  }
  const std::string from = ps.loc;
  emit(c, mk("left", ps.id, from, ex->direction), "here", from, ps.id);
  ps.loc = ex->to;
  visited_.insert(ex->to);
  emit(c, mk("moved", ps.id, from, ex->to), "actor", ex->to);
  emit(c, mk("arrived", ps.id, ex->to, ex->direction), "here", ex->to, ps.id);
  return do_look(c);
}

result<void> engine::do_inspect(ctx& c, const action& a) {
  auto& ps = *c.actor;
  if (a.object.empty()) return do_look(c);
  auto id = item_named(a.object, ps, true, true);
  if (id.empty()) {
    auto npc = npc_here(a.object, ps);
    if (!npc.empty()) {
      emit(c, mk("inspected", ps.id, npc), "actor", ps.loc);
      return {};
    }
    return refuse(errc::not_here, say(*scn_, "There is no '{}' here.", a.object));
  }
  const auto& def = scn_->items.at(id);
  emit(c, mk("inspected", ps.id, id, {}, 0, def.description), "actor", ps.loc);
  auto& st = items_[id];
  if (!st.inspected) {
    st.inspected = true;
    apply(c, def.on_inspect);
  }
  return {};
}

result<void> engine::do_take(ctx& c, const action& a) {
  auto& ps = *c.actor;
  if (a.object.empty()) return refuse(errc::bad_field, say(*scn_, "Take what?"));
  auto id = item_named(a.object, ps, false, true);
  if (id.empty()) {
    if (!item_named(a.object, ps, true, false).empty())
      return refuse(errc::out_of_order, say(*scn_, "You already hold that."));
    return refuse(errc::not_here, say(*scn_, "There is no '{}' here.", a.object));
  }
  const auto& def = scn_->items.at(id);
  if (!def.portable)
    return refuse(errc::bad_target, say(*scn_, "The {} cannot be taken.", def.name));
  give_to(id, ps.id);
  emit(c, mk("took", ps.id, id), "here", ps.loc);
  return {};
}

result<void> engine::do_drop(ctx& c, const action& a) {
  auto& ps = *c.actor;
  if (a.object.empty()) return refuse(errc::bad_field, say(*scn_, "Drop what?"));
  auto id = item_named(a.object, ps, true, false);
  if (id.empty()) return refuse(errc::not_held, say(*scn_, "You are not holding '{}'.", a.object));
  auto& st = items_[id];
  st.where = place::floor;
  st.loc = ps.loc;
  st.holder = 0;
  emit(c, mk("dropped", ps.id, id), "here", ps.loc);
  return {};
}

void engine::puzzle_solved(ctx& c, const puzzle_def& pz, puzzle_state& st, const std::string& kind,
                           const std::string& b) {
  st.solved = true;
  st.progress = pz.steps.size();
  emit(c, mk(kind, c.actor->id, pz.id, b, 0, pz.solve_text), "here", c.actor->loc);
  if (kind != "solved") emit(c, mk("solved", c.actor->id, pz.id), "all", {});
  apply(c, pz.on_solve);
}

void engine::puzzle_failed(ctx& c, const puzzle_def& pz, puzzle_state& st, const std::string& kind,
                           const std::string& b) {
  ++st.failures;
  st.progress = 0;
  const int left = pz.attempts > 0 ? std::max(0, pz.attempts - st.failures) : -1;
  emit(c, mk(kind, c.actor->id, pz.id, b, left, pz.fail_text), "here", c.actor->loc);
  apply(c, pz.on_fail);
  if (!ended_ && pz.attempts > 0 && st.failures >= pz.attempts) {
    st.exhausted = true;
    emit(c, mk("code_exhausted", c.actor->id, pz.id), "here", c.actor->loc);
    apply(c, pz.on_exhausted);
  }
}

result<void> engine::do_use(ctx& c, const action& a) {
  auto& ps = *c.actor;
  if (a.object.empty()) return refuse(errc::bad_field, say(*scn_, "Use what?"));
  // X: held, or lying visible here (levers, buttons and other fixtures are used in place).
  auto x = item_named(a.object, ps, true, true);
  if (x.empty()) {
    // A portable thing is used from the hand: say so (whether or not it lies somewhere else).
    if (names_portable_item(a.object))
      return refuse(errc::not_held, say(*scn_, "You are not holding '{}'.", a.object));
    return refuse(errc::not_here, say(*scn_, "There is no '{}' here.", a.object));
  }
  // Y: held, visible here, or an NPC here; none means "self".
  std::string y = "self";
  if (!a.target.empty()) {
    y = item_named(a.target, ps, true, true);
    if (y.empty()) y = npc_here(a.target, ps);
    if (y.empty()) return refuse(errc::not_here, say(*scn_, "There is no '{}' here.", a.target));
  }
  // A sequence puzzle that takes x as a step on y comes first.
  for (const auto& [pid, pz] : scn_->puzzles) {
    if (pz.k != puzzle_def::kind::sequence) continue;
    const std::string on = pz.target.empty() ? "self" : pz.target;
    if (on != y || std::find(pz.steps.begin(), pz.steps.end(), x) == pz.steps.end()) continue;
    if (!pz.at.empty() && pz.at != ps.loc) continue;
    auto& st = puzzles_[pid];
    if (st.solved || st.exhausted) continue;
    if (!holds(pz.when, &ps))
      return refuse(errc::out_of_order, say(*scn_, "The {} cannot be worked yet.", pz.name));
    if (pz.steps[st.progress] == x) {
      ++st.progress;
      emit(c, mk("sequence_step", ps.id, pid, x, static_cast<int>(st.progress)), "here", ps.loc);
      if (st.progress == pz.steps.size()) puzzle_solved(c, pz, st, "solved", x);
    } else {
      puzzle_failed(c, pz, st, "sequence_reset", x);
    }
    return {};
  }
  const auto* xd = &scn_->items.at(x);
  const use_def* use = nullptr;
  for (const auto& u : xd->uses)
    if (u.on == y) use = &u;
  if (!use && y != "self" && scn_->items.count(y)) {  // "use gate on key" means the same
    for (const auto& u : scn_->items.at(y).uses)
      if (u.on == x && held_by(y, ps.id)) use = &u;
    if (use) {
      std::swap(x, y);
      xd = &scn_->items.at(x);
    }
  }
  if (!use) {
    if (y == "self")
      return refuse(errc::bad_target, say(*scn_, "Nothing happens when you use the {}.", xd->name));
    return refuse(errc::bad_target, say(*scn_, "The {} does nothing there.", xd->name));
  }
  if (!holds(use->when, &ps)) {
    emit(c, mk("use_failed", ps.id, x, y, 0, use->fail_text), "actor", ps.loc);
    return {};
  }
  emit(c, mk("used", ps.id, x, y, 0, use->text), "here", ps.loc);
  apply(c, use->effects);
  if (use->consume) {
    auto& st = items_[x];
    if (st.where != place::gone) st = gone_state();
  }
  return {};
}

result<void> engine::do_combine(ctx& c, const action& a) {
  auto& ps = *c.actor;
  if (a.object.empty() || a.target.empty())
    return refuse(errc::bad_field, say(*scn_, "Combine what with what?"));
  auto x = item_named(a.object, ps, true, false);
  if (x.empty()) return refuse(errc::not_held, say(*scn_, "You are not holding '{}'.", a.object));
  auto y = item_named(a.target, ps, true, false);
  if (y.empty()) return refuse(errc::not_held, say(*scn_, "You are not holding '{}'.", a.target));
  if (x == y) return refuse(errc::bad_target, say(*scn_, "Combine it with something else."));
  const combine_def* cd = nullptr;
  for (const auto& k : scn_->items.at(x).combines)
    if (k.with == y) cd = &k;
  if (!cd)
    for (const auto& k : scn_->items.at(y).combines)
      if (k.with == x) cd = &k;
  if (!cd)
    return refuse(errc::bad_target, say(*scn_, "The {} and the {} do not go together.",
                                        scn_->items.at(x).name, scn_->items.at(y).name));
  items_[x] = gone_state();
  items_[y] = gone_state();
  emit(c, mk("combined", ps.id, x, y, 0, cd->text), "here", ps.loc);
  if (items_.count(cd->makes)) {
    give_to(cd->makes, ps.id);
    emit(c, mk("received", ps.id, cd->makes), "here", ps.loc);
  }
  return {};
}

result<void> engine::do_code(ctx& c, const action& a) {
  auto& ps = *c.actor;
  const std::string guess = code_form(a.text);
  if (guess.empty()) return refuse(errc::bad_field, say(*scn_, "Which code?"));
  // The code puzzles that can be reached here, matched by the typed target (puzzle or item).
  const auto forms = name_forms(a.object);
  const puzzle_def* found = nullptr;
  int candidates = 0;
  for (const auto& [pid, pz] : scn_->puzzles) {
    if (pz.k != puzzle_def::kind::code) continue;
    if (!pz.at.empty() && pz.at != ps.loc) continue;
    const bool on_self = pz.target.empty() || pz.target == "self";
    if (!on_self && !visible_here(pz.target, ps.loc) && !held_by(pz.target, ps.id)) continue;
    bool named = a.object.empty();
    for (const auto& f : forms) {
      if (f.empty()) continue;
      if (fold(pid) == f || fold(pz.name) == f) named = true;
      if (!on_self)
        for (const auto& [key, id] : item_keys_)
          if (id == pz.target && key == f) named = true;
    }
    if (!named) continue;
    ++candidates;
    if (!found || (puzzles_.at(found->id).solved && !puzzles_.at(pid).solved)) found = &pz;
  }
  if (!found) {
    if (a.object.empty())
      return refuse(errc::not_here, say(*scn_, "There is nothing here to enter a code on."));
    return refuse(errc::not_here,
                  say(*scn_, "There is no '{}' here to enter a code on.", a.object));
  }
  if (a.object.empty() && candidates > 1)
    return refuse(errc::bad_field,
                  say(*scn_, "Say what to enter the code on, e.g. `code safe 1234`."));
  const auto& pz = *found;
  auto& st = puzzles_.at(pz.id);
  if (st.solved) return refuse(errc::out_of_order, say(*scn_, "The {} is already open.", pz.name));
  if (st.exhausted)
    return refuse(errc::out_of_order, say(*scn_, "The {} takes no more tries.", pz.name));
  if (!holds(pz.when, &ps))
    return refuse(errc::out_of_order, say(*scn_, "The {} cannot be tried yet.", pz.name));
  auto re = patterns_.find(pz.id);
  if (re != patterns_.end() && !std::regex_match(guess, re->second))
    return refuse(errc::bad_field,
                  pz.code_hint.empty()
                      ? say(*scn_, "That code has the wrong shape for the {}.", pz.name)
                      : say(*scn_, "The {} takes {}.", pz.name, pz.code_hint));
  if (iequal_ascii(guess, code_form(pz.code)))
    puzzle_solved(c, pz, st, "code_right", guess);
  else
    puzzle_failed(c, pz, st, "code_wrong", guess);
  return {};
}

result<void> engine::do_talk(ctx& c, const action& a) {
  auto& ps = *c.actor;
  auto npc = npc_here(a.object, ps);
  if (npc.empty()) {
    if (a.object.empty())
      return refuse(errc::not_here, say(*scn_, "There is no one here to talk to."));
    return refuse(errc::not_here, say(*scn_, "There is no '{}' here to talk to.", a.object));
  }
  const auto& def = scn_->npcs.at(npc);
  event e = mk("npc_talk", ps.id, npc, {}, 0, a.text);
  e.n = talked_.insert({ps.id, npc}).second ? 1 : 0;
  const std::string words = fold_words(a.text);
  std::vector<const knowledge_def*> fresh;
  for (const auto& k : def.knowledge) {
    if (!holds(k.when, &ps)) continue;
    e.unlocked.push_back(k.id);
    bool asked = std::any_of(k.about.begin(), k.about.end(), [&](const std::string& kw) {
      return mentions(words, fold_words(kw));
    });
    if (!asked) continue;
    e.revealed.push_back(k.id);
    if (revealed_knowledge_.insert({npc, k.id}).second) fresh.push_back(&k);
  }
  emit(c, std::move(e), "here", ps.loc);
  for (const auto* k : fresh)
    apply(c, k->on_reveal);
  return {};
}

result<void> engine::do_accuse(ctx& c, const action& a) {
  auto& ps = *c.actor;
  if (!scn_->accusation)
    return refuse(errc::out_of_order, say(*scn_, "There is no one to accuse here."));
  const auto& acc = *scn_->accusation;
  const std::string answer = fold(a.text.empty() ? a.object : a.text);
  if (answer.empty()) return refuse(errc::bad_field, say(*scn_, "Accuse whom?"));
  if (!holds(acc.when, &ps))
    return refuse(errc::out_of_order, say(*scn_, "You cannot make an accusation yet."));
  const bool right = std::any_of(acc.answers.begin(), acc.answers.end(),
                                 [&](const std::string& s) { return fold(s) == answer; });
  emit(c,
       mk(right ? "accused_right" : "accused_wrong", ps.id, {}, {}, 0,
          a.text.empty() ? a.object : a.text),
       "all", {});
  apply(c, right ? acc.on_correct : acc.on_wrong);
  return {};
}

// --- JSON ---------------------------------------------------------------------------------------

json::object engine::view(player_id viewer) const {
  json::object v;
  const auto* me = find(viewer);
  if (me) {
    const auto& loc = scn_->locations.at(me->loc);
    v["location"] = {{"id", loc.id}, {"name", loc.name}, {"description", loc.description}};
    json::array exits;
    for (const auto& e : loc.exits) {
      auto to = scn_->locations.find(e.to);
      exits.push_back({{"direction", e.direction},
                       {"to", to != scn_->locations.end() ? to->second.name : e.to},
                       {"locked", !exit_open(loc.id, e)}});
    }
    v["exits"] = std::move(exits);
    json::array here, inv;
    for (const auto& [id, st] : items_) {
      if (st.where == place::floor && st.loc == me->loc && !st.hidden)
        here.push_back({{"id", id}, {"name", scn_->items.at(id).name}});
    }
    for (const auto& id : inventory_of(viewer))
      inv.push_back({{"id", id}, {"name", scn_->items.at(id).name}});
    v["items"] = std::move(here);
    v["inventory"] = std::move(inv);
    json::array npcs;
    for (const auto& [id, n] : scn_->npcs)
      if (n.at == me->loc) npcs.push_back({{"id", id}, {"name", n.name}});
    v["npcs"] = std::move(npcs);
    v["health"] = me->health;
    v["alive"] = me->alive;
  }
  v["max_health"] = scn_->health;
  json::array journal;
  for (const auto& id : journal_) {
    auto it = scn_->clues.find(id);
    if (it != scn_->clues.end())
      journal.push_back({{"id", id}, {"title", it->second.title}, {"text", it->second.text}});
  }
  v["journal"] = std::move(journal);
  v["round"] = round_;
  v["turn"] = current_turn();
  v["turn_limit"] = scn_->turn_limit;
  json::array players;
  for (const auto& ps : players_) {
    auto lit = scn_->locations.find(ps.loc);
    players.push_back({{"player", ps.id},
                       {"location", ps.loc},
                       {"location_name", lit != scn_->locations.end() ? lit->second.name : ""},
                       {"health", ps.health},
                       {"alive", ps.alive},
                       {"present", ps.present}});
  }
  v["players"] = std::move(players);
  v["ended"] = ended_;
  v["ending"] = ending_;
  return v;
}

json::object engine::state_json() const {
  json::object s;
  s["scenario"] = scn_->id;
  s["round"] = round_;
  s["current"] = static_cast<std::int64_t>(current_);
  s["ended"] = ended_;
  s["ending"] = ending_;
  json::array players;
  for (const auto& ps : players_)
    players.push_back({{"player", ps.id},
                       {"location", ps.loc},
                       {"health", ps.health},
                       {"alive", ps.alive},
                       {"present", ps.present}});
  s["players"] = std::move(players);
  json::object items;
  for (const auto& [id, st] : items_) {
    const char* where = st.where == place::floor  ? "floor"
                        : st.where == place::held ? "held"
                        : st.where == place::gone ? "gone"
                                                  : "nowhere";
    items[id] = {{"where", where},      {"location", st.loc},        {"holder", st.holder},
                 {"hidden", st.hidden}, {"inspected", st.inspected}, {"order", st.order}};
  }
  s["items"] = std::move(items);
  json::object puzzles;
  for (const auto& [id, st] : puzzles_)
    puzzles[id] = {{"solved", st.solved},
                   {"exhausted", st.exhausted},
                   {"failures", st.failures},
                   {"progress", st.progress}};
  s["puzzles"] = std::move(puzzles);
  auto strings = [](const auto& set) {
    json::array a;
    for (const auto& x : set)
      a.push_back(json::value(x));
    return a;
  };
  s["flags"] = strings(flags_);
  s["visited"] = strings(visited_);
  s["journal"] = strings(journal_);
  json::array pairs;
  for (const auto& [l, d] : unlocked_exits_)
    pairs.push_back({l, d});
  s["unlocked_exits"] = std::move(pairs);
  json::array rk;
  for (const auto& [n, k] : revealed_knowledge_)
    rk.push_back({n, k});
  s["revealed_knowledge"] = std::move(rk);
  json::array talked;
  for (const auto& [p, n] : talked_)
    talked.push_back({p, n});
  s["talked"] = std::move(talked);
  s["next_order"] = next_order_;
  return s;
}

void engine::load_state(const json::object& s) {
  if (std::string_view(s.at("scenario").as_string()) != scn_->id)
    throw std::invalid_argument("the state is of another scenario");
  round_ = s.at("round").to_number<int>();
  current_ = s.at("current").to_number<std::size_t>();
  ended_ = s.at("ended").as_bool();
  ending_ = s.at("ending").as_string();
  const auto& ps = s.at("players").as_array();
  if (ps.size() != players_.size()) throw std::invalid_argument("the seats differ");
  for (std::size_t i = 0; i < ps.size(); ++i) {
    const auto& o = ps[i].as_object();
    auto& p = players_[i];
    if (o.at("player").as_int64() != p.id) throw std::invalid_argument("the seats differ");
    p.loc = o.at("location").as_string();
    p.health = o.at("health").to_number<int>();
    p.alive = o.at("alive").as_bool();
    p.present = o.at("present").as_bool();
  }
  if (current_ >= players_.size()) throw std::invalid_argument("no such seat");
  for (const auto& [id, v] : s.at("items").as_object()) {
    auto it = items_.find(std::string(id));
    if (it == items_.end()) throw std::invalid_argument("an item the scenario does not have");
    const auto& o = v.as_object();
    auto& st = it->second;
    std::string_view where = o.at("where").as_string();
    st.where = where == "floor"  ? place::floor
               : where == "held" ? place::held
               : where == "gone" ? place::gone
                                 : place::nowhere;
    st.loc = o.at("location").as_string();
    st.holder = o.at("holder").as_int64();
    st.hidden = o.at("hidden").as_bool();
    st.inspected = o.at("inspected").as_bool();
    st.order = o.at("order").to_number<std::uint64_t>();
  }
  puzzles_.clear();
  for (const auto& [id, v] : s.at("puzzles").as_object()) {
    if (!scn_->puzzles.count(std::string(id)))
      throw std::invalid_argument("a puzzle the scenario does not have");
    const auto& o = v.as_object();
    auto& st = puzzles_[std::string(id)];
    st.solved = o.at("solved").as_bool();
    st.exhausted = o.at("exhausted").as_bool();
    st.failures = o.at("failures").to_number<int>();
    st.progress = o.at("progress").to_number<std::size_t>();
  }
  auto strings = [](const json::value& v) {
    std::vector<std::string> out;
    for (const auto& x : v.as_array())
      out.emplace_back(x.as_string());
    return out;
  };
  auto pairs = [](const json::value& v) {
    std::set<std::pair<std::string, std::string>> out;
    for (const auto& x : v.as_array())
      out.emplace(x.as_array().at(0).as_string(), x.as_array().at(1).as_string());
    return out;
  };
  auto f = strings(s.at("flags"));
  flags_ = std::set<std::string>(f.begin(), f.end());
  auto vis = strings(s.at("visited"));
  visited_ = std::set<std::string>(vis.begin(), vis.end());
  journal_ = strings(s.at("journal"));
  unlocked_exits_ = pairs(s.at("unlocked_exits"));
  revealed_knowledge_ = pairs(s.at("revealed_knowledge"));
  talked_.clear();
  for (const auto& x : s.at("talked").as_array())
    talked_.emplace(x.as_array().at(0).as_int64(), x.as_array().at(1).as_string());
  next_order_ = s.at("next_order").to_number<std::uint64_t>();
}

}  // namespace maratang::mystery
