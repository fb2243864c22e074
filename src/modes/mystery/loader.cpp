// The scenario loader: YAML -> scenario (parse), then structural checks (references, flags), then a
// monotone reachability fixpoint over an over-approximation of the game (see reach below).
#include "modes/mystery/loader.hpp"

#include "modes/mystery/parser.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <initializer_list>
#include <map>
#include <optional>
#include <ostream>
#include <regex>
#include <set>
#include <sstream>
#include <string_view>
#include <tuple>
#include <utility>

namespace maratang::mystery {

std::string to_string(const diagnostic& d) {
  if (d.pos.line > 0) return d.pos.file + ":" + std::to_string(d.pos.line) + ": " + d.message;
  return d.pos.file + ": " + d.message;
}

namespace {

namespace fs = std::filesystem;

constexpr std::uintmax_t max_file_bytes = 4u << 20;  // a scenario file larger than this is refused
constexpr int max_condition_depth = 32;

bool valid_id(const std::string& id) {
  static const std::regex re("^[a-z0-9_-]+$");
  return std::regex_match(id, re);
}

std::string sq(const std::string& s) {
  return "'" + s + "'";
}

// 1-based line of the first byte that is not valid UTF-8; 0 when all of `s` is valid.
int bad_utf8_line(std::string_view s) {
  int line = 1;
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '\n') ++line;
    std::size_t len = c < 0x80           ? 1
                      : (c >> 5) == 0x6  ? 2
                      : (c >> 4) == 0xE  ? 3
                      : (c >> 3) == 0x1E ? 4
                                         : 0;
    if (len == 0 || i + len > s.size()) return line;
    std::uint32_t cp = len == 1 ? c : c & (0x7Fu >> len);
    for (std::size_t k = 1; k < len; ++k) {
      auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return line;
      cp = (cp << 6) | (b & 0x3Fu);
    }
    static constexpr std::uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return line;
    i += len;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Parsing

class parser {
 public:
  parser(scenario& s, std::vector<diagnostic>& errors) : s_(s), errors_(errors) {}

  void err(const source_pos& p, std::string msg) {
    if (errors_.size() < max_diagnostics) errors_.push_back({p, std::move(msg)});
  }

  void parse_file(const fs::path& path);
  // Where field `key` of `what` (e.g. "item 'lantern'") was written; `fallback` when unknown.
  source_pos field_pos(const std::string& what, const char* key, const source_pos& fallback) const {
    auto it = field_pos_.find(what + '\n' + key);
    return it == field_pos_.end() ? fallback : it->second;
  }
  bool had_syntax_error() const { return had_syntax_error_; }
  bool saw_scenario() const { return saw_scenario_; }
  const source_pos& scenario_pos() const { return scenario_pos_; }

 private:
  source_pos pos_of(const YAML::Node& n) const {
    int line = n.IsDefined() ? n.Mark().line : -1;
    return {file_, line >= 0 ? line + 1 : 0};
  }

  // Reports a non-map and every unknown or repeated key. False when `m` is not a map.
  bool check_keys(const YAML::Node& m, const source_pos& p, const std::string& what,
                  std::initializer_list<std::string_view> allowed) {
    if (!m.IsMap()) {
      err(p, what + " must be a map of fields");
      return false;
    }
    std::set<std::string> seen;
    for (auto it = m.begin(); it != m.end(); ++it) {
      if (!it->first.IsScalar()) {
        err(pos_of(it->first), "a field name in " + what + " must be a plain word");
        continue;
      }
      const std::string& key = it->first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string list;
        for (auto a : allowed)
          list += (list.empty() ? "" : ", ") + std::string(a);
        err(pos_of(it->first),
            "unknown field " + sq(key) + " in " + what + " (expected one of " + list + ")");
      } else if (!seen.insert(key).second) {
        err(pos_of(it->first), "field " + sq(key) + " given twice in " + what);
      }
    }
    return true;
  }

  static YAML::Node field(const YAML::Node& m, const char* key) {
    // operator[] on a const node never inserts; a missing key gives an undefined node.
    return m[key];
  }
  static bool present(const YAML::Node& n) { return n.IsDefined() && !n.IsNull(); }

  // Text field: absent/null -> `def`; error when required and absent, or not a scalar.
  std::string text(const YAML::Node& m, const char* key, const source_pos& owner,
                   const std::string& what, bool required = false) {
    YAML::Node n = field(m, key);
    if (!present(n)) {
      if (required) err(owner, what + " needs " + sq(key));
      return {};
    }
    if (!n.IsScalar()) {
      err(pos_of(n), sq(key) + " of " + what + " must be text");
      return {};
    }
    if (required && n.Scalar().empty()) err(pos_of(n), sq(key) + " of " + what + " is empty");
    return n.Scalar();
  }

  std::optional<int> integer(const YAML::Node& n, const std::string& what) {
    if (!n.IsScalar()) {
      err(pos_of(n), what + " must be a whole number");
      return std::nullopt;
    }
    try {
      return n.as<int>();
    } catch (const YAML::Exception&) {
      err(pos_of(n), what + " must be a whole number, not " + sq(n.Scalar()));
      return std::nullopt;
    }
  }

  void int_field(const YAML::Node& m, const char* key, const std::string& what, int& out) {
    YAML::Node n = field(m, key);
    if (!present(n)) return;
    if (auto v = integer(n, sq(key) + " of " + what)) out = *v;
  }

  void bool_field(const YAML::Node& m, const char* key, const std::string& what, bool& out) {
    YAML::Node n = field(m, key);
    if (!present(n)) return;
    try {
      if (!n.IsScalar()) throw YAML::Exception(n.Mark(), "not a scalar");
      out = n.as<bool>();
    } catch (const YAML::Exception&) {
      err(pos_of(n), sq(key) + " of " + what + " must be true or false");
    }
  }

  std::vector<std::string> text_list(const YAML::Node& m, const char* key,
                                     const std::string& what) {
    std::vector<std::string> out;
    YAML::Node n = field(m, key);
    if (!present(n)) return out;
    if (!n.IsSequence()) {
      err(pos_of(n), sq(key) + " of " + what + " must be a list, e.g. [a, b]");
      return out;
    }
    field_pos_[what + '\n' + key] = pos_of(n);
    for (const auto& e : n) {
      if (!e.IsScalar() || e.Scalar().empty())
        err(pos_of(e), "every entry of " + sq(key) + " of " + what + " must be non-empty text");
      else
        out.push_back(e.Scalar());
    }
    return out;
  }

  // An id referenced by a field (checked later for existence); checks the shape only.
  std::string ref(const YAML::Node& m, const char* key, const source_pos& owner,
                  const std::string& what, bool required) {
    std::string v = text(m, key, owner, what, required);
    if (present(field(m, key))) field_pos_[what + '\n' + key] = pos_of(field(m, key));
    if (!v.empty() && !valid_id(v))
      err(pos_of(field(m, key)),
          sq(key) + " of " + what + " must be an id ([a-z0-9_-]), not " + sq(v));
    return v;
  }

  condition parse_condition(const YAML::Node& n, const std::string& what, int depth = 0);
  std::optional<condition> condition_field(const YAML::Node& m, const char* key,
                                           const std::string& what) {
    YAML::Node n = field(m, key);
    if (!n.IsDefined()) return std::nullopt;
    if (n.IsNull()) {
      err(pos_of(n), sq(key) + " of " + what + " is empty (leave it out for no condition)");
      return std::nullopt;
    }
    return parse_condition(n, sq(key) + " of " + what);
  }
  effect parse_effect(const YAML::Node& n, const std::string& what);
  std::vector<effect> effects_field(const YAML::Node& m, const char* key, const std::string& what);

  // Iterates an id-keyed section; calls f(id, key_pos, value) for each well-formed id.
  template <class F>
  void each_def(const YAML::Node& sec, const std::string& section, F&& f) {
    if (sec.IsNull()) return;
    if (!sec.IsMap()) {
      err(pos_of(sec), sq(section) + " must be a map of id: definition");
      return;
    }
    for (auto it = sec.begin(); it != sec.end(); ++it) {
      source_pos p = pos_of(it->first);
      if (!it->first.IsScalar() || !valid_id(it->first.Scalar())) {
        err(p, "bad id in " + sq(section) + ": ids are made of a-z, 0-9, _ and -" +
                   (it->first.IsScalar() ? ", not " + sq(it->first.Scalar()) : ""));
        continue;
      }
      f(it->first.Scalar(), p, it->second);
    }
  }

  template <class Map>
  bool fresh(Map& defs, const std::string& id, const source_pos& p, const std::string& kind) {
    auto it = defs.find(id);
    if (it == defs.end()) return true;
    err(p, kind + " " + sq(id) + " is defined twice (first at " + it->second.pos.file + ":" +
               std::to_string(it->second.pos.line) + ")");
    return false;
  }

  void parse_scenario(const YAML::Node& n, const source_pos& p);
  void parse_location(const std::string& id, const source_pos& p, const YAML::Node& n);
  void parse_item(const std::string& id, const source_pos& p, const YAML::Node& n);
  void parse_clue(const std::string& id, const source_pos& p, const YAML::Node& n);
  void parse_puzzle(const std::string& id, const source_pos& p, const YAML::Node& n);
  void parse_npc(const std::string& id, const source_pos& p, const YAML::Node& n);
  void parse_ending(const std::string& id, const source_pos& p, const YAML::Node& n);
  void parse_accusation(const YAML::Node& n, const source_pos& p);

  scenario& s_;
  std::vector<diagnostic>& errors_;
  std::string file_;
  bool saw_scenario_ = false;
  bool had_syntax_error_ = false;
  source_pos scenario_pos_;
  std::map<std::string, source_pos> field_pos_;
};

void parser::parse_file(const fs::path& path) {
  file_ = path.string();
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  if (ec) {
    err({file_, 0}, "cannot read: " + ec.message());
    return;
  }
  if (size > max_file_bytes) {
    err({file_, 0}, "file too large (" + std::to_string(size) + " bytes; at most " +
                        std::to_string(max_file_bytes) + ")");
    return;
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  if (!in) {
    err({file_, 0}, "cannot read the file");
    return;
  }
  const std::string content = buf.str();
  if (int line = bad_utf8_line(content)) {
    err({file_, line}, "not valid UTF-8 (save the file as UTF-8)");
    had_syntax_error_ = true;
    return;
  }
  YAML::Node root;
  try {
    root = YAML::Load(content);
  } catch (const YAML::ParserException& e) {
    err({file_, e.mark.line >= 0 ? e.mark.line + 1 : 0}, "YAML syntax error: " + e.msg);
    had_syntax_error_ = true;
    return;
  } catch (const YAML::Exception& e) {
    err({file_, 0}, std::string("YAML error: ") + e.what());
    return;
  }
  if (root.IsNull()) return;  // an empty file
  if (!root.IsMap()) {
    err(pos_of(root),
        "a scenario file is a map of sections (scenario, locations, items, clues, "
        "puzzles, npcs, endings, accusation)");
    return;
  }
  for (auto it = root.begin(); it != root.end(); ++it) {
    source_pos p = pos_of(it->first);
    const std::string key = it->first.IsScalar() ? it->first.Scalar() : std::string();
    const YAML::Node v = it->second;  // a copy: `it->` is a proxy that dies at the semicolon
    try {
      if (key == "scenario") {
        parse_scenario(v, p);
      } else if (key == "locations") {
        each_def(v, key, [&](auto& id, auto& q, auto& n) { parse_location(id, q, n); });
      } else if (key == "items") {
        each_def(v, key, [&](auto& id, auto& q, auto& n) { parse_item(id, q, n); });
      } else if (key == "clues") {
        each_def(v, key, [&](auto& id, auto& q, auto& n) { parse_clue(id, q, n); });
      } else if (key == "puzzles") {
        each_def(v, key, [&](auto& id, auto& q, auto& n) { parse_puzzle(id, q, n); });
      } else if (key == "npcs") {
        each_def(v, key, [&](auto& id, auto& q, auto& n) { parse_npc(id, q, n); });
      } else if (key == "endings") {
        each_def(v, key, [&](auto& id, auto& q, auto& n) { parse_ending(id, q, n); });
      } else if (key == "accusation") {
        parse_accusation(v, p);
      } else {
        err(p, "unknown section " + sq(key) +
                   " (expected scenario, locations, items, clues, puzzles, npcs, endings or "
                   "accusation)");
      }
    } catch (const YAML::Exception& e) {  // defensive: a conversion we did not foresee
      err(p, std::string("cannot read section: ") + e.what());
    }
  }
}

condition parser::parse_condition(const YAML::Node& n, const std::string& what, int depth) {
  condition c;
  c.pos = pos_of(n);
  if (depth > max_condition_depth) {
    err(c.pos, what + ": condition nested too deeply");
    return c;
  }
  if (n.IsSequence()) {
    if (n.size() == 0) err(c.pos, what + ": an empty list is not a condition");
    c.k = condition::kind::all;
    for (const auto& kid : n)
      c.kids.push_back(parse_condition(kid, what, depth + 1));
    return c;
  }
  if (!n.IsMap() || n.size() != 1) {
    err(c.pos, what +
                   ": a condition is a map with exactly one key, e.g. {flag: door_open}, or a "
                   "list of conditions");
    return c;
  }
  const std::string key = n.begin()->first.Scalar();
  const YAML::Node v = n.begin()->second;
  using K = condition::kind;
  static const std::pair<const char*, K> id_kinds[] = {
      {"flag", K::flag}, {"has", K::has},         {"team_has", K::team_has},
      {"at", K::at},     {"visited", K::visited}, {"solved", K::solved}};
  for (const auto& [name, k] : id_kinds) {
    if (key != name) continue;
    if (!v.IsScalar() || !valid_id(v.Scalar())) {
      err(c.pos, what + ": condition " + sq(key) + " takes an id ([a-z0-9_-])");
      return c;
    }
    c.k = k;
    c.arg = v.Scalar();
    return c;
  }
  if (key == "not") {
    c.k = K::not_;
    c.kids.push_back(parse_condition(v, what, depth + 1));
  } else if (key == "all" || key == "any") {
    c.k = key == "all" ? K::all : K::any;
    if (!v.IsSequence() || v.size() == 0) {
      err(c.pos, what + ": " + sq(key) + " takes a non-empty list of conditions");
      c.k = K::always;
      return c;
    }
    for (const auto& kid : v)
      c.kids.push_back(parse_condition(kid, what, depth + 1));
  } else if (key == "turn_at_least" || key == "health_below") {
    c.k = key == "turn_at_least" ? K::turn_at_least : K::health_below;
    if (auto i = integer(v, what + ": " + sq(key))) {
      c.n = *i;
      if (c.n < 1) err(c.pos, what + ": " + sq(key) + " must be at least 1");
    }
  } else if (key == "item_at") {
    c.k = K::item_at;
    if (check_keys(v, c.pos, what + ": item_at", {"item", "location"})) {
      c.arg = ref(v, "item", c.pos, what + ": item_at", true);
      c.arg2 = ref(v, "location", c.pos, what + ": item_at", true);
    }
  } else {
    err(c.pos, what + ": unknown condition " + sq(key) +
                   " (expected flag, not, all, any, has, team_has, at, visited, solved, "
                   "turn_at_least, health_below or item_at)");
  }
  return c;
}

effect parser::parse_effect(const YAML::Node& n, const std::string& what) {
  effect e;
  e.pos = pos_of(n);
  if (!n.IsMap()) {
    err(e.pos, what + ": an effect is a map, e.g. {set: door_open}");
    return e;
  }
  using K = effect::kind;
  static const std::pair<const char*, K> kinds[] = {{"set", K::set},
                                                    {"clear", K::clear},
                                                    {"unlock", K::unlock},
                                                    {"reveal", K::reveal},
                                                    {"give", K::give},
                                                    {"remove", K::remove},
                                                    {"move_item", K::move_item},
                                                    {"damage", K::damage},
                                                    {"heal", K::heal},
                                                    {"damage_all", K::damage_all},
                                                    {"clue", K::clue},
                                                    {"teleport", K::teleport},
                                                    {"say", K::say},
                                                    {"end", K::end}};
  std::string action;
  YAML::Node value;
  for (auto it = n.begin(); it != n.end(); ++it) {
    const std::string key = it->first.IsScalar() ? it->first.Scalar() : std::string();
    if (key == "text") {
      if (!it->second.IsScalar())
        err(pos_of(it->second), what + ": the effect's 'text' must be text");
      else
        e.text = it->second.Scalar();
      continue;
    }
    bool known = std::any_of(std::begin(kinds), std::end(kinds),
                             [&](const auto& kv) { return key == kv.first; });
    if (!known) {
      err(pos_of(it->first), what + ": unknown effect " + sq(key) +
                                 " (expected set, clear, unlock, reveal, give, remove, move_item, "
                                 "damage, heal, damage_all, clue, teleport, say, end; plus text)");
      return e;
    }
    if (!action.empty()) {
      err(e.pos, what + ": an effect has one action, this one has " + sq(action) + " and " +
                     sq(key) + " (write two list entries)");
      return e;
    }
    action = key;
    value = it->second;
  }
  if (action.empty()) {
    err(e.pos, what + ": an effect needs an action besides 'text'");
    return e;
  }
  for (const auto& [name, k] : kinds)
    if (action == name) e.k = k;
  auto id_arg = [&](std::string& out) {
    if (!value.IsScalar() || !valid_id(value.Scalar()))
      err(e.pos, what + ": effect " + sq(action) + " takes an id ([a-z0-9_-])");
    else
      out = value.Scalar();
  };
  switch (e.k) {
    case K::set:
    case K::clear:
    case K::reveal:
    case K::give:
    case K::remove:
    case K::clue:
    case K::teleport:
    case K::end:
      id_arg(e.arg);
      break;
    case K::unlock:
      if (check_keys(value, e.pos, what + ": unlock", {"location", "exit"})) {
        e.arg = ref(value, "location", e.pos, what + ": unlock", true);
        e.arg2 = text(value, "exit", e.pos, what + ": unlock", true);
      }
      break;
    case K::move_item:
      if (check_keys(value, e.pos, what + ": move_item", {"item", "to"})) {
        e.arg = ref(value, "item", e.pos, what + ": move_item", true);
        e.arg2 = ref(value, "to", e.pos, what + ": move_item", true);
      }
      break;
    case K::damage:
    case K::heal:
    case K::damage_all:
      if (auto i = integer(value, what + ": " + sq(action))) {
        e.n = *i;
        if (e.n < 1) err(e.pos, what + ": " + sq(action) + " must be at least 1");
      }
      break;
    case K::say:
      if (!e.text.empty()) {
        err(e.pos, what + ": 'say' carries its own text; leave out 'text'");
      } else if (!value.IsScalar() || value.Scalar().empty()) {
        err(e.pos, what + ": 'say' takes the text to tell");
      } else {
        e.text = value.Scalar();
      }
      break;
  }
  return e;
}

std::vector<effect> parser::effects_field(const YAML::Node& m, const char* key,
                                          const std::string& what) {
  std::vector<effect> out;
  YAML::Node n = field(m, key);
  if (!present(n)) return out;
  const std::string w = sq(key) + " of " + what;
  if (n.IsMap()) {
    out.push_back(parse_effect(n, w));
  } else if (n.IsSequence()) {
    for (const auto& e : n)
      out.push_back(parse_effect(e, w));
  } else {
    err(pos_of(n), w + " must be a list of effects, e.g. [{set: door_open}]");
  }
  return out;
}

void parser::parse_scenario(const YAML::Node& n, const source_pos& p) {
  if (saw_scenario_) {
    err(p, "section 'scenario' given twice (first at " + scenario_pos_.file + ":" +
               std::to_string(scenario_pos_.line) + ")");
    return;
  }
  saw_scenario_ = true;
  scenario_pos_ = p;
  s_.pos = p;
  const std::string what = "the scenario";
  if (!check_keys(n, p, what,
                  {"id", "title", "language", "summary", "players", "turn_limit", "minutes",
                   "health", "start", "intro"}))
    return;
  if (auto id = text(n, "id", p, what); !id.empty()) {
    if (!valid_id(id))
      err(pos_of(field(n, "id")), "scenario id " + sq(id) + " must be made of a-z, 0-9, _ and -");
    s_.id = id;
  }
  s_.title = text(n, "title", p, what, true);
  s_.language = text(n, "language", p, what, true);
  if (!s_.language.empty() && s_.language != "en" && s_.language != "ko")
    err(pos_of(field(n, "language")), "language must be en or ko, not " + sq(s_.language));
  s_.summary = text(n, "summary", p, what);
  s_.intro = text(n, "intro", p, what);
  s_.start = ref(n, "start", p, what, true);
  if (YAML::Node pl = field(n, "players"); present(pl)) {
    source_pos pp = pos_of(pl);
    if (check_keys(pl, pp, "players", {"min", "max"})) {
      int mn = 1, mx = -1;
      int_field(pl, "min", "players", mn);
      int_field(pl, "max", "players", mx);
      if (mx < 0) mx = mn;
      if (mn < 1 || mn > 6)
        err(pp, "players: min must be between 1 and 6, not " + std::to_string(mn));
      if (mx < 1 || mx > 6)
        err(pp, "players: max must be between 1 and 6, not " + std::to_string(mx));
      if (mn > mx)
        err(pp,
            "players: min (" + std::to_string(mn) + ") is above max (" + std::to_string(mx) + ")");
      s_.min_players = mn;
      s_.max_players = mx;
    }
  }
  int_field(n, "turn_limit", what, s_.turn_limit);
  if (s_.turn_limit < 0) err(pos_of(field(n, "turn_limit")), "turn_limit must be 0 or more");
  int_field(n, "minutes", what, s_.minutes);
  if (s_.minutes < 0) err(pos_of(field(n, "minutes")), "minutes must be 0 or more");
  int_field(n, "health", what, s_.health);
  if (s_.health < 1) err(pos_of(field(n, "health")), "health must be at least 1");
}

void parser::parse_location(const std::string& id, const source_pos& p, const YAML::Node& n) {
  if (!fresh(s_.locations, id, p, "location")) return;
  const std::string what = "location " + sq(id);
  location_def l;
  l.id = id;
  l.pos = p;
  if (!check_keys(n, p, what, {"name", "description", "exits", "hazard"})) return;
  l.name = text(n, "name", p, what, true);
  l.description = text(n, "description", p, what);
  if (YAML::Node ex = field(n, "exits"); present(ex)) {
    if (!ex.IsMap()) {
      err(pos_of(ex), "exits of " + what + " must be a map of direction: {to: location}");
    } else {
      std::set<std::string> dirs;
      for (auto it = ex.begin(); it != ex.end(); ++it) {
        exit_def x;
        x.pos = pos_of(it->first);
        x.direction = it->first.IsScalar() ? it->first.Scalar() : std::string();
        if (x.direction.empty()) {
          err(x.pos, "an exit of " + what + " needs a direction word");
          continue;
        }
        const std::string xw = "exit " + sq(x.direction) + " of " + what;
        if (!dirs.insert(x.direction).second) {
          err(x.pos, xw + " is defined twice");
          continue;
        }
        if (!check_keys(it->second, x.pos, xw, {"to", "aliases", "locked_unless", "locked_text"}))
          continue;
        x.to = ref(it->second, "to", x.pos, xw, true);
        x.aliases = text_list(it->second, "aliases", xw);
        if (auto c = condition_field(it->second, "locked_unless", xw)) x.open_when = *c;
        x.locked_text = text(it->second, "locked_text", x.pos, xw);
        l.exits.push_back(std::move(x));
      }
    }
  }
  if (YAML::Node hz = field(n, "hazard"); present(hz)) {
    hazard_def h;
    h.pos = pos_of(hz);
    const std::string hw = "the hazard of " + what;
    if (check_keys(hz, h.pos, hw, {"damage", "unless", "text"})) {
      int_field(hz, "damage", hw, h.damage);
      if (h.damage < 1) err(h.pos, hw + " needs 'damage' of at least 1");
      if (auto c = condition_field(hz, "unless", hw)) h.unless = *c;
      h.text = text(hz, "text", h.pos, hw);
      l.hazard = std::move(h);
    }
  }
  s_.locations.emplace(id, std::move(l));
}

void parser::parse_item(const std::string& id, const source_pos& p, const YAML::Node& n) {
  if (!fresh(s_.items, id, p, "item")) return;
  const std::string what = "item " + sq(id);
  item_def it;
  it.id = id;
  it.pos = p;
  if (!check_keys(n, p, what,
                  {"name", "aliases", "description", "at", "hidden", "portable", "on_inspect",
                   "uses", "combine"}))
    return;
  it.name = text(n, "name", p, what, true);
  it.aliases = text_list(n, "aliases", what);
  it.description = text(n, "description", p, what);
  it.at = ref(n, "at", p, what, false);
  bool_field(n, "hidden", what, it.hidden);
  bool_field(n, "portable", what, it.portable);
  it.on_inspect = effects_field(n, "on_inspect", what);
  if (YAML::Node us = field(n, "uses"); present(us)) {
    if (!us.IsSequence()) {
      err(pos_of(us), "'uses' of " + what + " must be a list of {on: ..., effects: ...}");
    } else {
      for (const auto& u : us) {
        use_def d;
        d.pos = pos_of(u);
        const std::string uw = "a use of " + what;
        if (!check_keys(u, d.pos, uw, {"on", "when", "fail_text", "consume", "text", "effects"}))
          continue;
        d.on = ref(u, "on", d.pos, uw, true);
        if (auto c = condition_field(u, "when", uw)) d.when = *c;
        d.fail_text = text(u, "fail_text", d.pos, uw);
        bool_field(u, "consume", uw, d.consume);
        d.text = text(u, "text", d.pos, uw);
        d.effects = effects_field(u, "effects", uw);
        it.uses.push_back(std::move(d));
      }
    }
  }
  if (YAML::Node cs = field(n, "combine"); present(cs)) {
    if (!cs.IsSequence()) {
      err(pos_of(cs), "'combine' of " + what + " must be a list of {with: ..., makes: ...}");
    } else {
      for (const auto& c : cs) {
        combine_def d;
        d.pos = pos_of(c);
        const std::string cw = "a combine of " + what;
        if (!check_keys(c, d.pos, cw, {"with", "makes", "text"})) continue;
        d.with = ref(c, "with", d.pos, cw, true);
        d.makes = ref(c, "makes", d.pos, cw, true);
        d.text = text(c, "text", d.pos, cw);
        it.combines.push_back(std::move(d));
      }
    }
  }
  s_.items.emplace(id, std::move(it));
}

void parser::parse_clue(const std::string& id, const source_pos& p, const YAML::Node& n) {
  if (!fresh(s_.clues, id, p, "clue")) return;
  const std::string what = "clue " + sq(id);
  clue_def c;
  c.id = id;
  c.pos = p;
  if (!check_keys(n, p, what, {"title", "text"})) return;
  c.title = text(n, "title", p, what, true);
  c.text = text(n, "text", p, what, true);
  s_.clues.emplace(id, std::move(c));
}

void parser::parse_puzzle(const std::string& id, const source_pos& p, const YAML::Node& n) {
  if (!fresh(s_.puzzles, id, p, "puzzle")) return;
  const std::string what = "puzzle " + sq(id);
  puzzle_def z;
  z.id = id;
  z.pos = p;
  if (!check_keys(n, p, what,
                  {"name", "kind", "at", "target", "code", "pattern", "hint", "steps", "attempts",
                   "when", "solve_text", "fail_text", "on_solve", "on_fail", "on_exhausted"}))
    return;
  z.name = text(n, "name", p, what, true);
  const std::string kind = text(n, "kind", p, what, true);
  z.at = ref(n, "at", p, what, false);
  z.target = ref(n, "target", p, what, false);
  z.code = text(n, "code", p, what);
  z.code_pattern = text(n, "pattern", p, what);
  z.code_hint = text(n, "hint", p, what);
  z.steps = text_list(n, "steps", what);
  int_field(n, "attempts", what, z.attempts);
  if (z.attempts < 0)
    err(pos_of(field(n, "attempts")), "attempts of " + what + " must be 0 or more");
  if (auto c = condition_field(n, "when", what)) z.when = *c;
  z.solve_text = text(n, "solve_text", p, what);
  z.fail_text = text(n, "fail_text", p, what);
  z.on_solve = effects_field(n, "on_solve", what);
  z.on_fail = effects_field(n, "on_fail", what);
  z.on_exhausted = effects_field(n, "on_exhausted", what);
  if (kind == "code") {
    z.k = puzzle_def::kind::code;
    if (z.code.empty()) err(p, what + " is a code puzzle and needs a non-empty 'code'");
    if (z.target.empty()) err(p, what + " is a code puzzle and needs a 'target' item");
    if (!z.steps.empty())
      err(pos_of(field(n, "steps")), what + ": 'steps' belong to sequence puzzles");
    if (!z.code_pattern.empty()) {
      try {
        std::regex re(z.code_pattern, std::regex::ECMAScript);
        if (!z.code.empty() && !std::regex_match(z.code, re))
          err(pos_of(field(n, "code")), what + ": the code " + sq(z.code) +
                                            " does not match its own pattern " +
                                            sq(z.code_pattern));
      } catch (const std::regex_error& e) {
        err(pos_of(field(n, "pattern")), what + ": pattern " + sq(z.code_pattern) +
                                             " is not a valid regular expression (" + e.what() +
                                             ")");
      }
    }
  } else if (kind == "sequence") {
    z.k = puzzle_def::kind::sequence;
    if (z.target.empty()) z.target = "self";
    if (z.steps.size() < 2) err(p, what + " is a sequence puzzle and needs at least 2 'steps'");
    for (const auto& s : z.steps)
      if (!valid_id(s)) err(pos_of(field(n, "steps")), what + ": step " + sq(s) + " is not an id");
    for (const char* k : {"code", "pattern", "hint"})
      if (present(field(n, k)))
        err(pos_of(field(n, k)), what + ": " + sq(k) + " belongs to code puzzles");
  } else if (!kind.empty()) {
    err(pos_of(field(n, "kind")), what + ": kind must be code or sequence, not " + sq(kind));
  }
  s_.puzzles.emplace(id, std::move(z));
}

void parser::parse_npc(const std::string& id, const source_pos& p, const YAML::Node& n) {
  if (!fresh(s_.npcs, id, p, "npc")) return;
  const std::string what = "npc " + sq(id);
  npc_def c;
  c.id = id;
  c.pos = p;
  if (!check_keys(n, p, what,
                  {"name", "aliases", "at", "persona", "style", "lora", "greeting", "default_reply",
                   "knowledge", "secrets"}))
    return;
  c.name = text(n, "name", p, what, true);
  c.aliases = text_list(n, "aliases", what);
  c.at = ref(n, "at", p, what, true);
  c.persona = text(n, "persona", p, what);
  c.style = text(n, "style", p, what);
  c.lora = text(n, "lora", p, what);
  c.greeting = text(n, "greeting", p, what);
  c.default_reply = text(n, "default_reply", p, what);
  c.secrets = text_list(n, "secrets", what);
  if (YAML::Node ks = field(n, "knowledge"); present(ks)) {
    if (!ks.IsSequence()) {
      err(pos_of(ks), "'knowledge' of " + what + " must be a list of {id, about, text}");
    } else {
      std::set<std::string> ids;
      for (const auto& k : ks) {
        knowledge_def d;
        d.pos = pos_of(k);
        const std::string kw = "knowledge of " + what;
        if (!check_keys(k, d.pos, kw, {"id", "about", "text", "when", "on_reveal"})) continue;
        d.id = ref(k, "id", d.pos, kw, true);
        const std::string kw2 = "knowledge " + sq(d.id) + " of " + what;
        if (!d.id.empty() && !ids.insert(d.id).second) err(d.pos, kw2 + " is defined twice");
        d.about = text_list(k, "about", kw2);
        d.text = text(k, "text", d.pos, kw2, true);
        if (auto c2 = condition_field(k, "when", kw2)) d.when = *c2;
        d.on_reveal = effects_field(k, "on_reveal", kw2);
        c.knowledge.push_back(std::move(d));
      }
    }
  }
  s_.npcs.emplace(id, std::move(c));
}

void parser::parse_ending(const std::string& id, const source_pos& p, const YAML::Node& n) {
  if (!fresh(s_.endings, id, p, "ending")) return;
  const std::string what = "ending " + sq(id);
  ending_def e;
  e.id = id;
  e.pos = p;
  if (!check_keys(n, p, what, {"title", "kind", "when", "on_turn_limit", "on_all_dead", "text"}))
    return;
  e.title = text(n, "title", p, what, true);
  e.kind = text(n, "kind", p, what, true);
  if (!e.kind.empty() && e.kind != "good" && e.kind != "bad" && e.kind != "neutral")
    err(pos_of(field(n, "kind")), what + ": kind must be good, bad or neutral, not " + sq(e.kind));
  if (auto c = condition_field(n, "when", what)) e.when = *c;
  bool_field(n, "on_turn_limit", what, e.on_turn_limit);
  bool_field(n, "on_all_dead", what, e.on_all_dead);
  e.text = text(n, "text", p, what, true);
  s_.endings.emplace(id, std::move(e));
}

void parser::parse_accusation(const YAML::Node& n, const source_pos& p) {
  if (s_.accusation) {
    err(p, "section 'accusation' given twice (first at " + s_.accusation->pos.file + ":" +
               std::to_string(s_.accusation->pos.line) + ")");
    return;
  }
  const std::string what = "the accusation";
  accusation_def a;
  a.pos = p;
  if (!check_keys(n, p, what, {"prompt", "answers", "when", "on_correct", "on_wrong"})) return;
  a.prompt = text(n, "prompt", p, what, true);
  a.answers = text_list(n, "answers", what);
  if (a.answers.empty()) err(p, what + " needs at least one entry in 'answers'");
  if (auto c = condition_field(n, "when", what)) a.when = *c;
  a.on_correct = effects_field(n, "on_correct", what);
  a.on_wrong = effects_field(n, "on_wrong", what);
  s_.accusation = std::move(a);
}

// ---------------------------------------------------------------------------------------------
// Structural checks: every reference resolves, every tested flag is set somewhere.

class checker {
 public:
  checker(const scenario& s, parser& p) : s_(s), p_(p) {}

  void run();

 private:
  template <class Map>
  void need(const Map& defs, const std::string& id, const source_pos& pos, const std::string& kind,
            const std::string& context) {
    if (!id.empty() && defs.find(id) == defs.end())
      p_.err(pos, context + " names unknown " + kind + " " + sq(id));
  }
  void cond(const condition& c, const std::string& ctx);
  void effects(const std::vector<effect>& es, const std::string& ctx);

  const scenario& s_;
  parser& p_;
  std::set<std::string> set_flags_;
  std::vector<std::pair<std::string, source_pos>> tested_flags_;
};

void checker::cond(const condition& c, const std::string& ctx) {
  using K = condition::kind;
  const std::string w = "the condition of " + ctx;
  switch (c.k) {
    case K::flag:
      tested_flags_.emplace_back(c.arg, c.pos);
      break;
    case K::has:
    case K::team_has:
      need(s_.items, c.arg, c.pos, "item", w);
      break;
    case K::at:
    case K::visited:
      need(s_.locations, c.arg, c.pos, "location", w);
      break;
    case K::solved:
      need(s_.puzzles, c.arg, c.pos, "puzzle", w);
      break;
    case K::item_at:
      need(s_.items, c.arg, c.pos, "item", w);
      need(s_.locations, c.arg2, c.pos, "location", w);
      break;
    case K::not_:
    case K::all:
    case K::any:
      for (const auto& k : c.kids)
        cond(k, ctx);
      break;
    case K::always:
    case K::turn_at_least:
    case K::health_below:
      break;
  }
}

void checker::effects(const std::vector<effect>& es, const std::string& ctx) {
  using K = effect::kind;
  for (const auto& e : es) {
    const std::string w = "an effect of " + ctx;
    switch (e.k) {
      case K::set:
        set_flags_.insert(e.arg);
        break;
      case K::unlock: {
        auto l = s_.locations.find(e.arg);
        if (l == s_.locations.end()) {
          need(s_.locations, e.arg, e.pos, "location", w);
        } else if (!e.arg2.empty() &&
                   std::none_of(l->second.exits.begin(), l->second.exits.end(),
                                [&](const exit_def& x) { return x.direction == e.arg2; })) {
          p_.err(e.pos, w + " unlocks exit " + sq(e.arg2) + " of location " + sq(e.arg) +
                            ", which has no such exit");
        }
        break;
      }
      case K::reveal: {
        need(s_.items, e.arg, e.pos, "item", w);
        auto it = s_.items.find(e.arg);
        if (it != s_.items.end() && !it->second.hidden)
          p_.err(e.pos, w + " reveals item " + sq(e.arg) + ", which is not hidden");
        break;
      }
      case K::give:
      case K::remove:
        need(s_.items, e.arg, e.pos, "item", w);
        break;
      case K::move_item:
        need(s_.items, e.arg, e.pos, "item", w);
        need(s_.locations, e.arg2, e.pos, "location", w);
        break;
      case K::clue:
        need(s_.clues, e.arg, e.pos, "clue", w);
        break;
      case K::teleport:
        need(s_.locations, e.arg, e.pos, "location", w);
        break;
      case K::end:
        need(s_.endings, e.arg, e.pos, "ending", w);
        break;
      case K::clear:
      case K::damage:
      case K::heal:
      case K::damage_all:
      case K::say:
        break;
    }
  }
}

void checker::run() {
  if (!s_.start.empty())
    need(s_.locations, s_.start, p_.field_pos("the scenario", "start", s_.pos), "location",
         "the scenario's 'start'");
  if (s_.locations.empty()) p_.err(s_.pos, "the scenario needs at least one location");
  if (s_.endings.empty()) p_.err(s_.pos, "the scenario needs at least one ending");
  for (const auto& [id, l] : s_.locations) {
    for (const auto& x : l.exits) {
      const std::string xw = "exit " + sq(x.direction) + " of location " + sq(id);
      if (!x.to.empty() && !s_.locations.count(x.to))
        p_.err(x.pos, xw + " leads to unknown location " + sq(x.to));
      cond(x.open_when, xw);
    }
    if (l.hazard) cond(l.hazard->unless, "the hazard of location " + sq(id));
  }
  for (const auto& [id, it] : s_.items) {
    const std::string w = "item " + sq(id);
    if (!it.at.empty())
      need(s_.locations, it.at, p_.field_pos(w, "at", it.pos), "location", w + ": 'at'");
    if (s_.npcs.count(id))
      p_.err(it.pos, "id " + sq(id) + " names both an item and an npc (at " +
                         s_.npcs.at(id).pos.file + ":" + std::to_string(s_.npcs.at(id).pos.line) +
                         "); 'use ... on' could not tell them apart");
    effects(it.on_inspect, "inspecting " + w);
    for (const auto& u : it.uses) {
      const std::string uw = "the use of " + w + " on " + sq(u.on);
      if (u.on != "self" && !u.on.empty() && !s_.items.count(u.on) && !s_.npcs.count(u.on))
        p_.err(u.pos, w + " is used on " + sq(u.on) + ", which is no item, npc or 'self'");
      cond(u.when, uw);
      effects(u.effects, uw);
    }
    for (const auto& c : it.combines) {
      const std::string cw = "combining " + w;
      need(s_.items, c.with, c.pos, "item", cw + ": 'with'");
      need(s_.items, c.makes, c.pos, "item", cw + ": 'makes'");
      if (c.with == id) p_.err(c.pos, w + " is combined with itself");
    }
  }
  for (const auto& [id, z] : s_.puzzles) {
    const std::string w = "puzzle " + sq(id);
    need(s_.locations, z.at, p_.field_pos(w, "at", z.pos), "location", w + ": 'at'");
    if (z.target != "self")
      need(s_.items, z.target, p_.field_pos(w, "target", z.pos), "item", w + ": 'target'");
    for (const auto& st : z.steps)
      need(s_.items, st, p_.field_pos(w, "steps", z.pos), "item", w + ": 'steps'");
    cond(z.when, w);
    effects(z.on_solve, w + " (on_solve)");
    effects(z.on_fail, w + " (on_fail)");
    effects(z.on_exhausted, w + " (on_exhausted)");
    if (!z.on_exhausted.empty() && z.attempts == 0)
      p_.err(z.pos, w + " has 'on_exhausted' but no 'attempts' limit, so it never applies");
  }
  for (const auto& [id, c] : s_.npcs) {
    const std::string w = "npc " + sq(id);
    need(s_.locations, c.at, p_.field_pos(w, "at", c.pos), "location", w + ": 'at'");
    for (const auto& k : c.knowledge) {
      const std::string kw = "knowledge " + sq(k.id) + " of " + w;
      cond(k.when, kw);
      effects(k.on_reveal, kw);
    }
  }
  for (const auto& [id, e] : s_.endings)
    cond(e.when, "ending " + sq(id));
  if (s_.accusation) {
    cond(s_.accusation->when, "the accusation");
    effects(s_.accusation->on_correct, "the accusation (on_correct)");
    effects(s_.accusation->on_wrong, "the accusation (on_wrong)");
  }
  for (const auto& [flag, pos] : tested_flags_)
    if (!set_flags_.count(flag))
      p_.err(pos, "flag " + sq(flag) + " is tested but never set (no effect {set: " + flag + "})");
}

// ---------------------------------------------------------------------------------------------
// Reachability: a monotone fixpoint over an over-approximation of every game from the start.
// Nothing is ever taken away (clear, remove, consume are ignored; any `not` may hold), so what is
// not reached here can never happen in a real game. Sound for "never", not for "always".

std::string squash(std::string_view s) {  // the code-search normal form: no spaces/dashes, lower
  std::string out;
  for (char ch : s) {
    auto u = static_cast<unsigned char>(ch);
    if (ch == '-' || std::isspace(u)) continue;
    out.push_back(static_cast<char>(std::tolower(u)));
  }
  return out;
}

// Calls f on every effect list of the scenario.
template <class F>
void for_each_effects(const scenario& s, F&& f) {
  for (const auto& [id, it] : s.items) {
    f(it.on_inspect);
    for (const auto& u : it.uses)
      f(u.effects);
  }
  for (const auto& [id, z] : s.puzzles) {
    f(z.on_solve);
    f(z.on_fail);
    f(z.on_exhausted);
  }
  for (const auto& [id, n] : s.npcs)
    for (const auto& k : n.knowledge)
      f(k.on_reveal);
  if (s.accusation) {
    f(s.accusation->on_correct);
    f(s.accusation->on_wrong);
  }
}

class reach {
 public:
  explicit reach(const scenario& s) : s_(s) {}

  void run();
  void report(parser& p) const;

 private:
  bool add(std::set<std::string>& set, const std::string& v) {
    if (!set.insert(v).second) return false;
    changed_ = true;
    return true;
  }
  bool sat(const condition& c) const;
  std::string why_not(const condition& c) const;  // for a condition that is not sat
  void apply(const std::vector<effect>& es);
  bool present(const std::string& item) const { return present_.count(item) > 0; }
  bool target_ok(const std::string& on) const {
    if (on == "self") return true;
    if (present(on)) return true;
    auto n = s_.npcs.find(on);
    return n != s_.npcs.end() && locs_.count(n->second.at);
  }
  bool attemptable(const puzzle_def& z) const {
    return (z.at.empty() || locs_.count(z.at)) && sat(z.when) &&
           (z.target == "self" || present(z.target));
  }
  bool code_found(const std::string& code) const;
  bool solvable(const puzzle_def& z) const {
    if (!attemptable(z)) return false;
    if (z.k == puzzle_def::kind::code) return code_found(z.code);
    return std::all_of(z.steps.begin(), z.steps.end(), [&](auto& st) { return present(st); });
  }
  void give(const std::string& item) {
    add(present_, item);
    add(held_, item);
  }

  const scenario& s_;
  bool changed_ = false;
  bool damage_possible_ = false;
  bool accusation_ = false;
  std::set<std::string> locs_, present_, held_, flags_, revealed_, solved_, clues_, knowledge_,
      endings_, unlocked_, led_to_;
};

bool reach::sat(const condition& c) const {
  using K = condition::kind;
  switch (c.k) {
    case K::always:
    case K::not_:
      return true;
    case K::flag:
      return flags_.count(c.arg) > 0;
    case K::all:
      return std::all_of(c.kids.begin(), c.kids.end(), [&](auto& k) { return sat(k); });
    case K::any:
      return std::any_of(c.kids.begin(), c.kids.end(), [&](auto& k) { return sat(k); });
    case K::has:
    case K::team_has:
      return held_.count(c.arg) > 0;
    case K::at:
    case K::visited:
      return locs_.count(c.arg) > 0;
    case K::solved:
      return solved_.count(c.arg) > 0;
    case K::turn_at_least:
      return s_.turn_limit == 0 || c.n <= s_.turn_limit;
    case K::health_below:
      return c.n > s_.health || (damage_possible_ && c.n >= 2);
    case K::item_at:
      return present(c.arg) && locs_.count(c.arg2) > 0;
  }
  return true;
}

std::string reach::why_not(const condition& c) const {
  using K = condition::kind;
  switch (c.k) {
    case K::flag:
      return "flag " + sq(c.arg) + ", which is never set in a reachable way";
    case K::has:
    case K::team_has:
      return "item " + sq(c.arg) + ", which can never be obtained";
    case K::at:
    case K::visited:
      return "location " + sq(c.arg) + ", which can never be reached";
    case K::solved:
      return "puzzle " + sq(c.arg) + " solved, which can never happen";
    case K::turn_at_least:
      return "round " + std::to_string(c.n) + ", but the turn limit is " +
             std::to_string(s_.turn_limit);
    case K::health_below:
      return "health below " + std::to_string(c.n) + ", but nothing ever does damage";
    case K::item_at:
      return "item " + sq(c.arg) + " in location " + sq(c.arg2) + ", which never happens";
    case K::all:
      for (const auto& k : c.kids)
        if (!sat(k)) return why_not(k);
      break;
    case K::any:
      if (!c.kids.empty()) return why_not(c.kids.front()) + " (and no alternative can hold)";
      break;
    case K::always:
    case K::not_:
      break;
  }
  return "something that never holds";
}

void reach::apply(const std::vector<effect>& es) {
  using K = effect::kind;
  for (const auto& e : es) {
    switch (e.k) {
      case K::set:
        add(flags_, e.arg);
        break;
      case K::unlock:
        add(unlocked_, e.arg + '\n' + e.arg2);
        break;
      case K::reveal:
        add(revealed_, e.arg);
        break;
      case K::give:
        give(e.arg);
        break;
      case K::move_item:
        if (locs_.count(e.arg2)) {
          add(present_, e.arg);
          auto it = s_.items.find(e.arg);
          if (it != s_.items.end() && it->second.portable) add(held_, e.arg);
        }
        break;
      case K::damage:
      case K::damage_all:
        if (!damage_possible_) changed_ = true;
        damage_possible_ = true;
        break;
      case K::clue:
        add(clues_, e.arg);
        break;
      case K::teleport:
        add(locs_, e.arg);
        break;
      case K::end:
        add(endings_, e.arg);
        break;
      case K::clear:
      case K::remove:
      case K::heal:
      case K::say:
        break;
    }
  }
}

bool reach::code_found(const std::string& code) const {
  const std::string want = squash(code);
  if (want.empty()) return false;
  auto in = [&](const std::string& text) { return squash(text).find(want) != std::string::npos; };
  if (in(s_.intro)) return true;
  for (const auto& c : clues_) {
    auto it = s_.clues.find(c);
    if (it != s_.clues.end() && (in(it->second.text) || in(it->second.title))) return true;
  }
  for (const auto& i : present_) {
    auto it = s_.items.find(i);
    if (it != s_.items.end() && in(it->second.description)) return true;
  }
  for (const auto& l : locs_) {
    auto it = s_.locations.find(l);
    if (it != s_.locations.end() && in(it->second.description)) return true;
  }
  for (const auto& [id, n] : s_.npcs)
    for (const auto& k : n.knowledge)
      if (knowledge_.count(id + '\n' + k.id) && in(k.text)) return true;
  return false;
}

void reach::run() {
  if (s_.locations.count(s_.start)) locs_.insert(s_.start);
  for (const auto& [id, l] : s_.locations)
    for (const auto& x : l.exits)
      led_to_.insert(x.to);
  for_each_effects(s_, [&](const std::vector<effect>& es) {
    for (const auto& e : es)
      if (e.k == effect::kind::teleport) led_to_.insert(e.arg);
  });
  do {
    changed_ = false;
    for (const auto& [id, l] : s_.locations) {
      if (!locs_.count(id)) continue;
      for (const auto& x : l.exits)
        if (sat(x.open_when) || unlocked_.count(id + '\n' + x.direction)) add(locs_, x.to);
      if (l.hazard && !damage_possible_) {
        damage_possible_ = true;
        changed_ = true;
      }
    }
    for (const auto& [id, it] : s_.items) {
      if (!it.at.empty() && locs_.count(it.at) && (!it.hidden || revealed_.count(id))) {
        add(present_, id);
        if (it.portable) add(held_, id);
      }
      if (!present(id)) continue;
      apply(it.on_inspect);
      for (const auto& u : it.uses)
        if (target_ok(u.on) && sat(u.when)) apply(u.effects);
      for (const auto& c : it.combines)
        if (present(c.with)) give(c.makes);
    }
    for (const auto& [id, z] : s_.puzzles) {
      if (!attemptable(z)) continue;
      apply(z.on_fail);
      if (z.attempts > 0) apply(z.on_exhausted);
      if (solvable(z)) {
        add(solved_, id);
        apply(z.on_solve);
      }
    }
    for (const auto& [id, n] : s_.npcs) {
      if (!locs_.count(n.at)) continue;
      for (const auto& k : n.knowledge) {
        if (!sat(k.when)) continue;
        add(knowledge_, id + '\n' + k.id);
        apply(k.on_reveal);
      }
    }
    for (const auto& [id, e] : s_.endings) {
      if ((e.when.k != condition::kind::always && sat(e.when)) ||
          (e.on_turn_limit && s_.turn_limit > 0) || (e.on_all_dead && damage_possible_))
        add(endings_, id);
    }
    if (s_.accusation && sat(s_.accusation->when)) {
      if (!accusation_) changed_ = true;
      accusation_ = true;
      apply(s_.accusation->on_correct);
      apply(s_.accusation->on_wrong);
    }
  } while (changed_);
}

void reach::report(parser& p) const {
  for (const auto& [id, l] : s_.locations) {
    if (locs_.count(id)) continue;
    if (!led_to_.count(id))
      p.err(l.pos, "location " + sq(id) + " can never be reached: no exit or teleport leads to it");
    else
      p.err(l.pos, "location " + sq(id) + " can never be reached from the start " + sq(s_.start) +
                       " (every way in stays locked)");
  }
  for (const auto& [id, it] : s_.items) {
    if (!present(id)) continue;
    for (const auto& u : it.uses)
      if (!target_ok(u.on))
        p.err(u.pos,
              "item " + sq(id) + " is used on " + sq(u.on) + ", which the players can never reach");
  }
  for (const auto& [id, z] : s_.puzzles) {
    if (solved_.count(id)) continue;
    std::string why;
    if (!z.at.empty() && !locs_.count(z.at))
      why = "its location " + sq(z.at) + " can never be reached";
    else if (!sat(z.when))
      why = "its condition needs " + why_not(z.when);
    else if (z.target != "self" && !present(z.target))
      why = "its target item " + sq(z.target) + " is never within reach";
    else if (z.k == puzzle_def::kind::code)
      why = "its code " + sq(z.code) +
            " appears in no clue, item description, location description or NPC knowledge the "
            "players can reach";
    else
      for (const auto& st : z.steps)
        if (!present(st)) {
          why = "its step item " + sq(st) + " is never within reach";
          break;
        }
    p.err(z.pos, "puzzle " + sq(id) + " can never be solved: " + why);
  }
  for (const auto& [id, e] : s_.endings) {
    if (endings_.count(id)) continue;
    std::vector<std::string> why;
    if (e.when.k != condition::kind::always)
      why.push_back("its condition needs " + why_not(e.when));
    if (e.on_turn_limit) why.push_back("it is for the turn limit, but the scenario has none");
    if (e.on_all_dead) why.push_back("it is for when all die, but nothing ever does damage");
    why.push_back("no reachable effect ends the game with it");
    std::string msg = "ending " + sq(id) + " can never be reached: ";
    for (std::size_t i = 0; i < why.size(); ++i)
      msg += (i ? "; " : "") + why[i];
    p.err(e.pos, msg);
  }
  if (s_.accusation && !accusation_)
    p.err(s_.accusation->pos,
          "the accusation can never be made: its condition needs " + why_not(s_.accusation->when));
}

std::vector<fs::path> yaml_files(const fs::path& folder, std::error_code& ec) {
  std::vector<fs::path> files;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code ec2;
    if (it->path().extension() == ".yaml" && it->is_regular_file(ec2)) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

void finish(load_result& r) {
  std::stable_sort(r.errors.begin(), r.errors.end(), [](const diagnostic& a, const diagnostic& b) {
    return std::tie(a.pos.file, a.pos.line) < std::tie(b.pos.file, b.pos.line);
  });
  if (r.errors.size() >= max_diagnostics)
    r.errors.push_back(
        {{r.folder.string(), 0},
         "too many errors; only the first " + std::to_string(max_diagnostics) + " are shown"});
  if (!r.errors.empty()) r.scn.reset();
}

}  // namespace

std::vector<std::string> read_walkthrough(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) {
    if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back())))
      line.pop_back();
    auto start = line.find_first_not_of(" \t");
    if (start != std::string::npos) out.push_back(line.substr(start));
  }
  return out;
}

bool is_scenario_folder(const fs::path& folder) {
  std::error_code ec;
  return !yaml_files(folder, ec).empty() && !ec;
}

load_result load_scenario(const fs::path& folder) {
  load_result r;
  r.folder = folder;
  auto s = std::make_shared<scenario>();
  s->folder = folder.string();
  parser p(*s, r.errors);
  std::error_code ec;
  auto files = yaml_files(folder, ec);
  if (ec) {
    p.err({folder.string(), 0}, "cannot read the folder: " + ec.message());
  } else if (files.empty()) {
    p.err({folder.string(), 0}, "no *.yaml files: not a scenario folder");
  }
  for (const auto& f : files)
    p.parse_file(f);
  if (!files.empty() && !p.saw_scenario() && !p.had_syntax_error()) {
    p.err({files.front().string(), 0}, "no 'scenario' section in any file");
  }
  if (s->id.empty()) {
    s->id = folder.filename().string();
    if (s->id.empty()) s->id = folder.parent_path().filename().string();  // "dir/" given
    if (p.saw_scenario() && !valid_id(s->id))
      p.err(p.scenario_pos(), "the folder name " + sq(s->id) +
                                  " is not a valid scenario id; set 'id' in the scenario section");
  }
  if (p.saw_scenario()) {
    checker(*s, p).run();
    // Reachability only on a structurally sound scenario: dangling references would only echo.
    if (r.errors.empty()) {
      reach rc(*s);
      rc.run();
      rc.report(p);
    }
  }
  s->names = build_name_index(*s);
  r.scn = std::move(s);
  finish(r);
  return r;
}

std::vector<load_result> load_scenarios(const fs::path& dir) {
  std::vector<load_result> out;
  std::vector<fs::path> folders;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code ec2;
    if (it->is_directory(ec2) && is_scenario_folder(it->path())) folders.push_back(it->path());
  }
  if (ec) {
    load_result r;
    r.folder = dir;
    r.errors.push_back({{dir.string(), 0}, "cannot read the folder: " + ec.message()});
    out.push_back(std::move(r));
    return out;
  }
  std::sort(folders.begin(), folders.end());
  std::map<std::string, fs::path> ids;
  for (const auto& f : folders) {
    load_result r = load_scenario(f);
    if (r.scn) {
      auto [it, fresh] = ids.emplace(r.scn->id, f);
      if (!fresh) {
        r.errors.push_back({r.scn->pos, "scenario id " + sq(r.scn->id) + " is already used by " +
                                            it->second.string()});
        r.scn.reset();
      }
    }
    out.push_back(std::move(r));
  }
  return out;
}

bool validate_paths(const std::vector<fs::path>& paths, std::ostream& out, std::ostream& err) {
  bool all_ok = true;
  for (const auto& path : paths) {
    std::error_code ec;
    if (!fs::is_directory(path, ec)) {
      err << path.string() << ": not a folder\n";
      all_ok = false;
      continue;
    }
    std::vector<load_result> results;
    if (is_scenario_folder(path))
      results.push_back(load_scenario(path));
    else
      results = load_scenarios(path);
    if (results.empty()) {
      err << path.string() << ": no scenario folders (folders with *.yaml files) found\n";
      all_ok = false;
    }
    for (const auto& r : results) {
      if (r.scn) out << "ok: " << r.scn->id << " (" << r.scn->title << ")\n";
      for (const auto& d : r.errors)
        err << to_string(d) << "\n";
      if (!r.scn) {
        err << "invalid: " << r.folder.string() << " (" << r.errors.size() << " error"
            << (r.errors.size() == 1 ? "" : "s") << ")\n";
        all_ok = false;
      }
    }
  }
  return all_ok;
}

}  // namespace maratang::mystery
