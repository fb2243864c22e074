#include "modes/mystery/parser.hpp"

#include <algorithm>
#include <array>
#include <string>
#include <vector>

namespace maratang::mystery {

namespace {

using words = std::vector<std::string>;

bool is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// Whitespace-separated words; a full-width space separates too.
words split(std::string_view s) {
  words out;
  std::string cur;
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    bool ideographic = c == 0xE3 && i + 2 < s.size() &&
                       static_cast<unsigned char>(s[i + 1]) == 0x80 &&
                       static_cast<unsigned char>(s[i + 2]) == 0x80;
    if (is_space(c) || ideographic) {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
      if (ideographic) i += 2;
      continue;
    }
    cur += static_cast<char>(c);
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

std::string join(const words& w, std::size_t from, std::size_t to) {
  std::string s;
  for (std::size_t i = from; i < to && i < w.size(); ++i) {
    if (!s.empty()) s += ' ';
    s += w[i];
  }
  return s;
}

std::string lower_ascii(std::string s) {
  for (auto& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool has_digit(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
         s.find("\xEF\xBC") != std::string_view::npos;  // full-width digits
}

template <std::size_t N>
bool in(std::string_view w, const std::array<std::string_view, N>& set) {
  return std::find(set.begin(), set.end(), w) != set.end();
}

// --- Names from the scenario --------------------------------------------------------------------

// The scenario's index, or one built for this call (hand-made scenarios in tests).
std::shared_ptr<const name_index> index_of(const scenario& s) {
  return s.names ? s.names : build_name_index(s);
}

bool is_known_name(const scenario& s, const std::string& folded) {
  return !folded.empty() && index_of(s)->all.count(folded) > 0;
}

bool is_npc_name(const scenario& s, const std::string& folded) {
  return !folded.empty() && index_of(s)->npcs.count(folded) > 0;
}

// Korean particles that may trail a noun; longest first.
constexpr std::array<std::string_view, 17> ko_particles = {
    "에게서", "으로", "에게", "한테", "에서", "에다", "이랑", "하고", "을",
    "를",     "에",   "와",   "과",   "로",   "랑",   "은",   "는"};

// A Korean word without its trailing particle, unless the whole word is a known name.
std::string strip_particle(const scenario& s, const std::string& w) {
  if (is_known_name(s, fold(w))) return w;
  for (auto p : ko_particles)
    if (ends_with(w, p) && w.size() > p.size()) return w.substr(0, w.size() - p.size());
  return w;
}

std::string strip_all(const scenario& s, const words& w, std::size_t from, std::size_t to) {
  words out;
  for (std::size_t i = from; i < to && i < w.size(); ++i)
    out.push_back(w[i]);
  if (out.empty()) return {};
  out.back() = strip_particle(s, out.back());
  return join(out, 0, out.size());
}

action make(verb v, std::string object = {}, std::string target = {}, std::string text = {}) {
  action a;
  a.v = v;
  a.object = std::move(object);
  a.target = std::move(target);
  a.text = std::move(text);
  return a;
}

// --- English ------------------------------------------------------------------------------------

constexpr std::array<std::string_view, 22> en_directions = {
    "n",         "s",         "e",  "w",    "u",  "d",   "north",     "south",
    "east",      "west",      "up", "down", "in", "out", "northeast", "northwest",
    "southeast", "southwest", "ne", "nw",   "se", "sw"};

// Position of the first separator word (e.g. "on", "with") in w[from..), or npos.
std::size_t find_word(const words& w, std::size_t from,
                      std::initializer_list<std::string_view> seps) {
  for (std::size_t i = from; i < w.size(); ++i)
    for (auto sep : seps)
      if (w[i] == sep) return i;
  return std::string::npos;
}

// Drops leading articles from w[from..).
std::size_t skip_articles(const words& lw, std::size_t i) {
  while (i < lw.size() && (lw[i] == "the" || lw[i] == "a" || lw[i] == "an" || lw[i] == "my"))
    ++i;
  return i;
}

// "X on Y": object and target as typed (original case), articles dropped.
std::pair<std::string, std::string> split_on(const words& w, const words& lw, std::size_t from,
                                             std::initializer_list<std::string_view> seps) {
  auto at = find_word(lw, from, seps);
  if (at == std::string::npos) return {join(w, skip_articles(lw, from), w.size()), {}};
  return {join(w, skip_articles(lw, from), at), join(w, skip_articles(lw, at + 1), w.size())};
}

std::optional<action> talk_en(const scenario& s, const words& w, const words& lw,
                              std::size_t from) {
  std::size_t i = from;
  if (i < lw.size() && (lw[i] == "to" || lw[i] == "with")) ++i;
  i = skip_articles(lw, i);
  // The longest run of words naming an NPC.
  std::size_t npc_end = i;
  for (std::size_t j = w.size(); j > i; --j)
    if (is_npc_name(s, fold(join(w, i, j)))) {
      npc_end = j;
      break;
    }
  std::string npc = join(w, i, npc_end);
  std::size_t t = npc_end == i ? from : npc_end;
  if (t < lw.size() && (lw[t] == "about" || lw[t] == "that" || lw[t] == ":" || lw[t] == ",")) ++t;
  return make(verb::talk, npc, {}, join(w, t, w.size()));
}

std::optional<action> parse_en(const scenario& s, const words& w) {
  words lw;
  for (const auto& x : w)
    lw.push_back(lower_ascii(x));
  const std::string& v = lw[0];
  const std::size_t n = w.size();
  auto rest = [&](std::size_t from) { return join(w, skip_articles(lw, from), n); };

  if (n == 1) {
    if (v == "look" || v == "l") return make(verb::look);
    if (v == "i" || v == "inv" || v == "inventory" || v == "items") return make(verb::inventory);
    if (v == "j" || v == "journal" || v == "notes" || v == "clues") return make(verb::journal);
    if (v == "h" || v == "help" || v == "?" || v == "commands") return make(verb::help);
    if (v == "pass" || v == "wait" || v == "skip" || v == "z") return make(verb::pass);
    if (v == "hint" || v == "hints" || v == "stuck") return make(verb::hint);
    if (v == "quit" || v == "exit" || v == "resign") return make(verb::quit);
    if (in(v, en_directions)) return make(verb::go, w[0]);
    return std::nullopt;
  }
  {
    // Asking the game what to do, or who did it: a hint (never the answer).
    const std::string all = join(lw, 0, n);
    if (all == "what now" || all == "what now ?" || all == "now what" || all == "who did it" ||
        all == "what do i do" || all == "what should i do" || all == "what next" ||
        all == "give me a hint" || all == "a hint" || all == "help me" || all == "i am stuck" ||
        all == "i'm stuck")
      return make(verb::hint);
    if (all == "quit game" || all == "quit the game" || all == "i quit" || all == "give up")
      return make(verb::quit);
  }
  if (v == "look" || v == "l") {
    if (lw[1] == "around") return make(verb::look);
    std::size_t from = (lw[1] == "at" || lw[1] == "in" || lw[1] == "into") ? 2 : 1;
    if (from >= n) return std::nullopt;
    return make(verb::inspect, rest(from));
  }
  if (v == "examine" || v == "x" || v == "inspect" || v == "check" || v == "read" ||
      v == "search" || v == "investigate")
    return make(verb::inspect, rest(1));
  if (v == "go" || v == "move" || v == "walk" || v == "run" || v == "head" || v == "travel" ||
      v == "climb") {
    std::size_t from = (lw[1] == "to" || lw[1] == "into" || lw[1] == "towards") ? 2 : 1;
    if (from >= n) return std::nullopt;
    return make(verb::go, rest(from));
  }
  if (v == "take" || v == "get" || v == "grab" || v == "collect" || v == "pick") {
    words w2 = w, lw2 = lw;
    if (v == "pick") {  // pick up X / pick X up
      auto up = find_word(lw2, 1, {"up"});
      if (up == std::string::npos) return std::nullopt;
      w2.erase(w2.begin() + static_cast<std::ptrdiff_t>(up));
      lw2.erase(lw2.begin() + static_cast<std::ptrdiff_t>(up));
      if (w2.size() < 2) return std::nullopt;
    }
    return make(verb::take, join(w2, skip_articles(lw2, 1), w2.size()));
  }
  if (v == "drop" || v == "discard") return make(verb::drop, rest(1));
  if (v == "put" && lw[1] == "down" && n > 2) return make(verb::drop, rest(2));
  if (v == "put" && lw[1] == "on" && n > 2) return make(verb::use, rest(2));  // put on the coat
  if (v == "use" || v == "apply") {
    auto [x, y] = split_on(w, lw, 1, {"on", "with", "to", "in", "at", "into"});
    return make(verb::use, x, y);
  }
  if (v == "give" || v == "show" || v == "offer") {  // give X to NPC
    auto [x, y] = split_on(w, lw, 1, {"to"});
    return make(verb::use, x, y);
  }
  if (v == "open" || v == "unlock") {  // open X with Y = use Y on X
    auto [x, y] = split_on(w, lw, 1, {"with", "using"});
    if (y.empty()) return make(verb::use, x);
    return make(verb::use, y, x);
  }
  if (v == "pull" || v == "push" || v == "press" || v == "flip" || v == "ring" || v == "drink" ||
      v == "eat" || v == "light" || v == "turn" || v == "climb" || v == "wear") {
    auto [x, y] = split_on(w, lw, 1, {"on", "with", "at"});
    return make(verb::use, x, y);
  }
  if (v == "combine" || v == "mix" || v == "join" || v == "attach") {
    auto [x, y] = split_on(w, lw, 1, {"with", "and", "to"});
    if (y.empty()) return std::nullopt;
    return make(verb::combine, x, y);
  }
  if (v == "code" || v == "enter" || v == "type" || v == "dial" || v == "input" || v == "key") {
    auto sep = find_word(lw, 1, {"on", "into", "in", "for", "at"});
    if (sep != std::string::npos) {
      if (sep == 1) return std::nullopt;
      return make(verb::code, join(w, skip_articles(lw, sep + 1), n), {}, join(w, 1, sep));
    }
    if (n == 2) return make(verb::code, {}, {}, w[1]);
    // "code tackle box k e s t r e l": the longest known name after the verb is what the code
    // goes on; everything after it is the code, spelled out or not (its spaces dropped).
    for (std::size_t end = n - 1; end > 1; --end) {
      if (!is_known_name(s, fold(join(w, 1, end)))) continue;
      std::string guess;
      for (std::size_t i = end; i < n; ++i)
        guess += w[i];
      return make(verb::code, join(w, 1, end), {}, guess);
    }
    if (has_digit(w[n - 1]) || v == "code")
      return make(verb::code, join(w, skip_articles(lw, 1), n - 1), {}, w[n - 1]);
    return make(verb::code, join(w, skip_articles(lw, 2), n), {}, w[1]);
  }
  if (v == "talk" || v == "speak" || v == "ask" || v == "tell" || v == "chat" || v == "greet")
    return talk_en(s, w, lw, 1);
  if (v == "say") return make(verb::talk, {}, {}, join(w, 1, n));
  if (v == "accuse" || v == "blame") return make(verb::accuse, {}, {}, rest(1));
  if (v == "i" && lw[1] == "accuse" && n > 2) return make(verb::accuse, {}, {}, rest(2));
  if (n > 3 && v == "the" && lw[1] == "culprit" && lw[2] == "is")
    return make(verb::accuse, {}, {}, rest(3));
  if (n > 2 && v == "it" && lw[1] == "was") return make(verb::accuse, {}, {}, rest(2));
  return std::nullopt;
}

// --- Korean -------------------------------------------------------------------------------------

constexpr auto ko_go = std::to_array<std::string_view>(
    {"가",     "가기",     "가자",     "가줘",   "간다",     "이동",     "이동하기",
     "이동해", "들어가",   "들어가기", "올라가", "올라가기", "내려가",   "내려가기",
     "지나가", "지나가기", "지나간다", "가요",   "이동한다", "이동해요", "들어간다"});
constexpr auto ko_inspect = std::to_array<std::string_view>(
    {"조사", "조사하기", "조사해", "살펴보기", "살펴봐", "보기", "봐", "확인", "확인하기", "읽기",
     "검사", "자세히보기", "살펴본다", "살펴봐요", "살펴보다", "조사한다", "조사해요", "확인한다",
     "읽는다"});
constexpr auto ko_take = std::to_array<std::string_view>(
    {"줍기", "주워", "줍다", "집어", "집기", "집어들기", "가져가기", "가져", "가져가", "챙기기",
     "챙겨", "획득", "들기", "줍는다", "주워요", "집는다", "챙긴다", "가져간다", "줍자"});
constexpr std::array<std::string_view, 7> ko_drop = {"버리기", "버려",     "내려놓기", "내려놔",
                                                     "놓기",   "놓아두기", "두기"};
constexpr auto ko_use = std::to_array<std::string_view>(
    {"사용",   "사용하기", "사용해", "쓰기",   "써",     "이용",     "당기기",
     "누르기", "마시기",   "돌리기", "열기",   "켜기",   "사용한다", "사용해요",
     "쓴다",   "입기",     "입어",   "입는다", "입어요", "입자",     "연다",
     "당긴다", "누른다",   "마신다", "켠다",   "걸치기", "걸친다"});
constexpr std::array<std::string_view, 6> ko_combine = {"조합", "조합하기", "합치기",
                                                        "합쳐", "섞기",     "결합"};
constexpr auto ko_talk = std::to_array<std::string_view>(
    {"말하기", "말하다", "말해", "묻기", "물어보기", "물어봐", "질문", "대화", "대화하기", "이야기",
     "얘기", "말걸기", "말한다", "물어본다", "묻는다", "말해요", "물어봐요", "여쭤보기"});
constexpr std::array<std::string_view, 4> ko_code_words = {"코드", "암호", "비밀번호", "번호"};
constexpr std::array<std::string_view, 4> ko_enter = {"입력", "입력하기", "입력해", "누르기"};
constexpr std::array<std::string_view, 5> ko_accuse = {"고발", "고발하기", "지목", "지목하기",
                                                       "고발한다"};

std::optional<action> parse_ko(const scenario& s, words w) {
  const std::string all = fold(join(w, 0, w.size()));
  // Looking around, with an object ("주위를 살펴본다") and in the plain or polite style.
  for (std::string_view place : {"", "주위", "주위를", "주변", "주변을", "사방", "사방을"}) {
    for (std::string_view v : {"보기", "둘러보기", "살펴보기", "둘러봐", "둘러본다", "살펴본다",
                               "둘러봐요", "살펴봐요", "살펴봐"}) {
      if (all.size() == place.size() + v.size() && all.starts_with(place) && all.ends_with(v))
        return make(verb::look);
    }
  }
  if (all == "주위보기" || all == "주변보기") return make(verb::look);
  if (all == "인벤토리" || all == "소지품" || all == "가방" || all == "소지품보기" ||
      all == "가방보기" || all == "인벤토리보기" || all == "가방을살펴본다" ||
      all == "가방을살펴보기" || all == "가방살펴보기" || all == "가방을본다" ||
      all == "가방을열어본다" || all == "소지품을확인한다")
    return make(verb::inventory);
  if (all == "일지" || all == "일지보기" || all == "수첩" || all == "단서" || all == "단서보기")
    return make(verb::journal);
  if (all == "도움말" || all == "도움" || all == "명령어") return make(verb::help);
  if (all == "넘기기" || all == "대기" || all == "패스" || all == "넘어가기" || all == "기다리기" ||
      all == "턴넘기기" || all == "통과" || all == "지나가기")
    return make(verb::pass);
  if (all == "힌트" || all == "힌트줘" || all == "힌트좀" || all == "힌트좀줘" ||
      all == "힌트주세요" || all == "이제뭐하지" || all == "뭐하지" || all == "이제뭐해야하지" ||
      all == "뭘해야하지" || all == "누가범인이야" || all == "범인이누구야" || all == "막혔어")
    return make(verb::hint);
  if (all == "그만" || all == "그만하기" || all == "종료" || all == "게임종료" || all == "포기" ||
      all == "포기하기" || all == "게임나가기")
    return make(verb::quit);

  // Addressing someone by name, with an honorific and a comma: "도현 씨, 전화 돼요?".
  if (w.size() >= 2) {
    std::string who = w[0];
    std::size_t from = 1;
    bool addressed = false;
    if (!who.empty() && who.back() == ',') {
      who.pop_back();
      addressed = true;
    }
    if (!addressed && (w[1] == "씨," || w[1] == "님," || w[1] == "씨" || w[1] == "님")) {
      from = 2;
      addressed = true;
    }
    for (std::string_view h : {"씨", "님"}) {
      if (who.size() > h.size() && ends_with(who, h) && !is_npc_name(s, fold(who))) {
        who = who.substr(0, who.size() - h.size());
        addressed = true;
      }
    }
    if (addressed && from < w.size() && is_npc_name(s, fold(who)))
      return make(verb::talk, who, {}, join(w, from, w.size()));
  }

  // A verb glued to the last word ("열쇠줍기"): split it off.
  auto glued = [&](auto const& table) {
    const std::string& last = w.back();
    for (auto v : table)
      if (ends_with(last, v) && last.size() > v.size() && !is_known_name(s, fold(last))) {
        w.back() = last.substr(0, last.size() - v.size());
        w.push_back(std::string(v));
        return true;
      }
    return false;
  };
  const std::size_t n0 = w.size();
  std::string last = w.back();
  bool known_verb = in(last, ko_go) || in(last, ko_inspect) || in(last, ko_take) ||
                    in(last, ko_drop) || in(last, ko_use) || in(last, ko_combine) ||
                    in(last, ko_talk) || in(last, ko_enter) || in(last, ko_accuse);
  if (!known_verb && n0 >= 1 && !has_digit(last))
    known_verb = glued(ko_take) || glued(ko_drop) || glued(ko_combine) || glued(ko_use) ||
                 glued(ko_inspect) || glued(ko_talk) || glued(ko_accuse);
  const std::size_t n = w.size();
  last = w.back();

  // Code: "코드 금고 4172", "암호 4172", "금고에 4172 입력".
  if (in(w[0], ko_code_words) && n >= 2) {
    std::size_t digits = n;
    for (std::size_t i = 1; i < n; ++i)
      if (has_digit(w[i])) digits = i;
    if (digits == n) digits = n - 1;
    words target;
    for (std::size_t i = 1; i < n; ++i)
      if (i != digits && !in(w[i], ko_enter)) target.push_back(w[i]);
    return make(verb::code, strip_all(s, target, 0, target.size()), {}, w[digits]);
  }
  if (in(last, ko_enter) && n >= 2) {
    std::size_t digits = n;
    for (std::size_t i = 0; i + 1 < n; ++i)
      if (has_digit(w[i])) digits = i;
    if (digits == n) return std::nullopt;
    words target;
    for (std::size_t i = 0; i + 1 < n; ++i)
      if (i != digits && !in(w[i], ko_code_words)) target.push_back(w[i]);
    return make(verb::code, strip_all(s, target, 0, target.size()), {}, w[digits]);
  }

  // Accusation: "고발 X", "X 고발", "범인은 X", "X가 범인".
  if (in(w[0], ko_accuse) && n >= 2) return make(verb::accuse, {}, {}, strip_all(s, w, 1, n));
  if (in(last, ko_accuse) && n >= 2) return make(verb::accuse, {}, {}, strip_all(s, w, 0, n - 1));
  if (w[0] == "범인은" && n >= 2) {
    words rest(w.begin() + 1, w.end());
    for (auto end : {"입니다", "이다", "야", "다"})
      if (ends_with(rest.back(), end) && rest.back().size() > std::string_view(end).size()) {
        rest.back() = rest.back().substr(0, rest.back().size() - std::string_view(end).size());
        break;
      }
    return make(verb::accuse, {}, {}, join(rest, 0, rest.size()));
  }
  if (n >= 2 &&
      (last == "범인" || last == "범인이다" || last == "범인이야" || last == "범인입니다"))
    return make(verb::accuse, {}, {}, strip_all(s, w, 0, n - 1));

  // Talk: "관리인에게 말하기 폭풍에 대해", "관리인에게 폭풍에 대해 묻기".
  for (std::size_t i = 0; i < n; ++i) {
    for (auto suffix : {"에게서", "에게", "한테", "께"}) {
      const std::string_view sfx = suffix;
      if (!ends_with(w[i], sfx) || w[i].size() == sfx.size()) continue;
      std::string npc = w[i].substr(0, w[i].size() - sfx.size());
      if (!is_npc_name(s, fold(npc)) && !in(last, ko_talk) && !in(w[0], ko_talk)) continue;
      words text;
      for (std::size_t j = 0; j < n; ++j)
        if (j != i && !(in(w[j], ko_talk) && (j == 0 || j == n - 1 || j == i + 1)))
          text.push_back(w[j]);
      return make(verb::talk, npc, {}, join(text, 0, text.size()));
    }
  }
  if (in(last, ko_talk) || in(w[0], ko_talk)) {
    const bool verb_first = in(w[0], ko_talk);
    std::size_t from = verb_first ? 1 : 0, to = verb_first ? n : n - 1;
    if (from < to && is_npc_name(s, fold(strip_particle(s, w[from]))))
      return make(verb::talk, strip_particle(s, w[from]), {}, join(w, from + 1, to));
    return make(verb::talk, {}, {}, join(w, from, to));
  }

  if (n < 2) {
    // "북쪽으로" alone.
    for (auto p : {"으로", "로"}) {
      const std::string_view sfx = p;
      if (ends_with(w[0], sfx) && w[0].size() > sfx.size())
        return make(verb::go, w[0].substr(0, w[0].size() - sfx.size()));
    }
    if (last == "올라가" || last == "올라가기") return make(verb::go, "up");
    if (last == "내려가" || last == "내려가기") return make(verb::go, "down");
    return std::nullopt;
  }
  if (in(last, ko_go)) return make(verb::go, strip_all(s, w, 0, n - 1));
  if (in(last, ko_combine)) {
    for (std::size_t i = 0; i + 1 < n - 1; ++i)
      for (auto p : {"이랑", "하고", "와", "과", "랑"}) {
        const std::string_view sfx = p;
        if (ends_with(w[i], sfx) && w[i].size() > sfx.size())
          return make(verb::combine,
                      join(w, 0, i) + (i ? " " : "") + w[i].substr(0, w[i].size() - sfx.size()),
                      strip_all(s, w, i + 1, n - 1));
      }
    if (n == 3) return make(verb::combine, strip_particle(s, w[0]), strip_particle(s, w[1]));
    return std::nullopt;
  }
  if (in(last, ko_use)) {
    // "X를 Y에 사용": the word ending in 에/에게/에다 is the target.
    for (std::size_t i = 0; i < n - 1; ++i)
      for (auto p : {"에게", "에다", "에"}) {
        const std::string_view sfx = p;
        if (ends_with(w[i], sfx) && w[i].size() > sfx.size() && !is_known_name(s, fold(w[i]))) {
          words x;
          for (std::size_t j = 0; j < n - 1; ++j)
            if (j != i) x.push_back(w[j]);
          return make(verb::use, strip_all(s, x, 0, x.size()),
                      w[i].substr(0, w[i].size() - sfx.size()));
        }
      }
    return make(verb::use, strip_all(s, w, 0, n - 1));
  }
  if (in(last, ko_take)) return make(verb::take, strip_all(s, w, 0, n - 1));
  if (in(last, ko_drop)) return make(verb::drop, strip_all(s, w, 0, n - 1));
  if (in(last, ko_inspect)) return make(verb::inspect, strip_all(s, w, 0, n - 1));
  return std::nullopt;
}

}  // namespace

std::shared_ptr<const name_index> build_name_index(const scenario& s) {
  auto ix = std::make_shared<name_index>();
  auto add = [&](std::string_view x, bool npc) {
    auto f = fold(x);
    if (f.empty()) return;
    ix->all.insert(f);
    if (npc) ix->npcs.insert(std::move(f));
  };
  for (const auto& [id, it] : s.items) {
    add(id, false);
    add(it.name, false);
    for (const auto& a : it.aliases)
      add(a, false);
  }
  for (const auto& [id, n] : s.npcs) {
    add(id, true);
    add(n.name, true);
    for (const auto& a : n.aliases)
      add(a, true);
  }
  for (const auto& [id, l] : s.locations) {
    add(id, false);
    add(l.name, false);
    for (const auto& e : l.exits) {
      add(e.direction, false);
      for (const auto& a : e.aliases)
        add(a, false);
    }
  }
  for (const auto& [id, p] : s.puzzles) {
    add(id, false);
    add(p.name, false);
  }
  return ix;
}

bool aimed_at_system(std::string_view text) {
  // Folded (ASCII lower case, full-width made half-width), spaces dropped: "System  Prompt",
  // "ｓｙｓｔｅｍ prompt" and "시스템 프롬프트" all match.
  const std::string t = fold(text);
  static constexpr std::string_view markers[] = {"systemprompt",
                                                 "systemmessage",
                                                 "developermessage",
                                                 "promptinjection",
                                                 "ignoreprevious",
                                                 "ignoreallprevious",
                                                 "ignoreyourinstructions",
                                                 "ignoretheinstructions",
                                                 "ignoreabove",
                                                 "yourinstructions",
                                                 "jailbreak",
                                                 "developermode",
                                                 "시스템프롬프트",
                                                 "시스템메시지",
                                                 "시스템메세지",
                                                 "시스템지시",
                                                 "프롬프트",
                                                 "지시를무시",
                                                 "지시사항을무시",
                                                 "이전지시",
                                                 "앞의지시",
                                                 "너의지시",
                                                 "탈옥"};
  for (auto m : markers) {
    if (t.find(m) != std::string::npos) return true;
  }
  return false;
}

std::optional<action> parse_command(std::string_view text, const scenario& s) {
  words w = split(text);
  if (w.empty()) return std::nullopt;
  // Trailing punctuation off the last word (keep a lone "?").
  while (w.size() > 0) {
    auto& last = w.back();
    while (last.size() > 1 &&
           (last.back() == '.' || last.back() == '!' || (last.back() == '?' && w.size() > 1)))
      last.pop_back();
    if (!last.empty()) break;
    w.pop_back();
  }
  if (w.empty()) return std::nullopt;
  const auto first = static_cast<unsigned char>(w[0][0]);
  if (first < 0x80) {
    if (auto a = parse_en(s, w)) return a;
  }
  return parse_ko(s, std::move(w));
}

}  // namespace maratang::mystery
