#include "modes/mystery/narrator.hpp"

#include <map>
#include <string>

namespace maratang::mystery {

namespace {

// The last code point of UTF-8 text (0 if none or malformed).
char32_t last_code_point(std::string_view s) {
  if (s.empty()) return 0;
  std::size_t i = s.size() - 1;
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80)
    --i;
  auto c0 = static_cast<unsigned char>(s[i]);
  std::size_t len = s.size() - i;
  if (c0 < 0x80) return c0;
  if ((c0 & 0xE0) == 0xC0 && len == 2)
    return ((c0 & 0x1Fu) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu);
  if ((c0 & 0xF0) == 0xE0 && len == 3)
    return ((c0 & 0x0Fu) << 12) | ((static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 6) |
           (static_cast<unsigned char>(s[i + 2]) & 0x3Fu);
  return 0;
}

std::string item_name(const scenario& s, const std::string& id) {
  auto it = s.items.find(id);
  return it != s.items.end() ? it->second.name : id;
}
std::string location_name(const scenario& s, const std::string& id) {
  auto it = s.locations.find(id);
  return it != s.locations.end() ? it->second.name : id;
}
std::string npc_name(const scenario& s, const std::string& id) {
  auto it = s.npcs.find(id);
  return it != s.npcs.end() ? it->second.name : id;
}
std::string puzzle_name(const scenario& s, const std::string& id) {
  auto it = s.puzzles.find(id);
  return it != s.puzzles.end() ? it->second.name : id;
}
// An item, NPC or "self" target.
std::string target_name(const scenario& s, const std::string& id) {
  if (s.items.count(id)) return item_name(s, id);
  if (s.npcs.count(id)) return npc_name(s, id);
  return id;
}

// Korean: word + particle.
std::string w_j(std::string_view word, std::string_view with, std::string_view without) {
  return std::string(word) + josa(word, with, without);
}

std::string or_text(const std::string& text, std::string fallback) {
  return text.empty() ? std::move(fallback) : text;
}

std::string join_names(const std::vector<std::string>& names, std::string_view sep) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += sep;
    out += n;
  }
  return out;
}

std::string narrate_en(const scenario& s, const event& e, bool you, const std::string& name) {
  const std::string subj = you ? "You" : name;
  auto verb = [&](std::string_view v) {  // "You take" / "Mina takes"
    return subj + " " + std::string(v) + (you ? "" : "s");
  };
  const auto& k = e.kind;
  if (k == "look") return location_name(s, e.a) + "\n" + e.text;
  // The actor reads "you"; anyone else (the casebook's story) reads the name.
  if (k == "moved")
    return (you ? "You go" : name + " goes") + " to the " + location_name(s, e.b) + ".";
  if (k == "left") return name + " leaves (" + e.b + ").";
  if (k == "arrived") return name + " arrives.";
  if (k == "locked") return or_text(e.text, "The way " + e.b + " is locked.");
  if (k == "inspected") {
    if (s.npcs.count(e.a)) return npc_name(s, e.a) + " is here.";
    return or_text(e.text, (you ? "You see" : name + " sees") + " nothing special about the " +
                               item_name(s, e.a) + ".");
  }
  if (k == "took") return verb("take") + " the " + item_name(s, e.a) + ".";
  if (k == "dropped") return verb("drop") + " the " + item_name(s, e.a) + ".";
  if (k == "used") {
    if (!e.text.empty())
      return you ? e.text : name + " uses the " + item_name(s, e.a) + ". " + e.text;
    if (e.b == "self") return verb("use") + " the " + item_name(s, e.a) + ".";
    return verb("use") + " the " + item_name(s, e.a) + " on the " + target_name(s, e.b) + ".";
  }
  if (k == "use_failed") return or_text(e.text, "Nothing happens.");
  if (k == "combined")
    return or_text(e.text, verb("combine") + " the " + item_name(s, e.a) + " and the " +
                               item_name(s, e.b) + ".");
  if (k == "received")
    return (you ? "You receive" : name + " receives") + std::string(" the ") + item_name(s, e.a) +
           ".";
  if (k == "code_right")
    return or_text(e.text, "The code is right: the " + puzzle_name(s, e.a) + " opens.");
  if (k == "code_wrong" || k == "sequence_reset") {
    std::string t = or_text(e.text, k == "code_wrong" ? "Wrong code." : "Something clicks back.");
    if (e.n >= 0) t += " (" + std::to_string(e.n) + (e.n == 1 ? " try" : " tries") + " left)";
    return t;
  }
  if (k == "code_exhausted") return "The " + puzzle_name(s, e.a) + " takes no more tries.";
  if (k == "solved") return or_text(e.text, "Solved: " + puzzle_name(s, e.a) + ".");
  if (k == "sequence_step") return "The " + item_name(s, e.b) + " moves into place.";
  if (k == "revealed") return verb("notice") + " the " + item_name(s, e.a) + ".";
  if (k == "removed") return "The " + item_name(s, e.a) + " is gone.";
  if (k == "unlocked")
    return "The way " + e.b + " from the " + location_name(s, e.a) + " is open now.";
  if (k == "teleported")
    return (you ? "You find yourself" : name + " is suddenly") + " in the " +
           location_name(s, e.a) + ".";
  if (k == "clue") return "New clue — " + e.b + ": " + e.text;
  if (k == "say") return e.text;
  if (k == "damaged")
    return (you ? "You lose " : name + " loses ") + std::to_string(e.n) + " health.";
  if (k == "healed")
    return (you ? "You recover " : name + " recovers ") + std::to_string(e.n) + " health.";
  if (k == "died") return you ? "You have died." : name + " has died.";
  if (k == "hazard") return or_text(e.text, "The " + location_name(s, e.a) + " hurts you.");
  if (k == "npc_talk") return subj + " to " + npc_name(s, e.a) + ": \u201c" + e.text + "\u201d";
  if (k == "accused_right" || k == "accused_wrong")
    return verb("accuse") + ": " + e.text + "." +
           (k == "accused_wrong" ? " That is not the answer." : " That is the truth.");
  if (k == "ending") {
    auto it = s.endings.find(e.a);
    std::string title = it != s.endings.end() ? it->second.title : "The End";
    return "— " + title + " —\n" + e.text;
  }
  if (k == "round") return "Round " + std::to_string(e.n) + " begins.";
  if (k == "turn") return you ? "Your turn." : "It is " + name + "'s turn.";
  if (k == "inventory") {
    if (e.list.empty()) return (you ? "You carry" : name + " carries") + std::string(" nothing.");
    std::vector<std::string> names;
    for (const auto& id : e.list)
      names.push_back(item_name(s, id));
    return (you ? "You carry" : name + " carries") + (": " + join_names(names, ", ")) + ".";
  }
  if (k == "journal") {
    if (e.list.empty()) return "The journal is empty.";
    std::string t = "Journal:";
    for (const auto& id : e.list) {
      auto it = s.clues.find(id);
      if (it != s.clues.end()) t += "\n- " + it->second.title + ": " + it->second.text;
    }
    return t;
  }
  if (k == "help") return help_text("en");
  if (k == "passed") {
    if (e.n == 1) return you ? "Your time runs out." : name + "'s time runs out.";
    return you ? std::string("You pass.") : name + " passes.";
  }
  if (k == "left_game") return name + " has left the game.";
  return e.text;
}

// The way an exit of `from` leads, in Korean: "북쪽", or the place it leads to ("부엌 쪽") for a
// direction with no Korean name, never the scenario's direction id (issue 14, item 9).
std::string way_ko(const scenario& s, const std::string& from, const std::string& direction) {
  static const std::map<std::string_view, std::string_view> named{
      {"north", "북쪽"},       {"south", "남쪽"},       {"east", "동쪽"},
      {"west", "서쪽"},        {"northeast", "북동쪽"}, {"northwest", "북서쪽"},
      {"southeast", "남동쪽"}, {"southwest", "남서쪽"}, {"up", "위쪽"},
      {"down", "아래쪽"},      {"in", "안쪽"},          {"out", "바깥쪽"}};
  if (auto it = named.find(direction); it != named.end()) return std::string(it->second);
  if (auto loc = s.locations.find(from); loc != s.locations.end()) {
    for (const auto& x : loc->second.exits) {
      if (x.direction == direction) return location_name(s, x.to) + " 쪽";
    }
  }
  return "어느 쪽";
}

std::string narrate_ko(const scenario& s, const event& e, bool you, const std::string& name) {
  // The actor as the subject: "당신은" / "미나가".
  const std::string subj = you ? std::string("당신은") : w_j(name, "이", "가");
  const auto& k = e.kind;
  if (k == "look") return location_name(s, e.a) + "\n" + e.text;
  if (k == "moved")
    return (you ? std::string() : subj + " ") + w_j(location_name(s, e.b), "으로", "로") +
           " 이동했다.";
  if (k == "left") return subj + " " + way_ko(s, e.a, e.b) + "으로 떠났다.";
  if (k == "arrived") return subj + " 들어왔다.";
  if (k == "locked") return or_text(e.text, way_ko(s, e.a, e.b) + "은 잠겨 있다.");
  if (k == "inspected") {
    if (s.npcs.count(e.a)) return w_j(npc_name(s, e.a), "이", "가") + " 여기 있다.";
    return or_text(e.text, w_j(item_name(s, e.a), "은", "는") + " 별다른 점이 없다.");
  }
  if (k == "took") return subj + " " + w_j(item_name(s, e.a), "을", "를") + " 집었다.";
  if (k == "dropped") return subj + " " + w_j(item_name(s, e.a), "을", "를") + " 내려놓았다.";
  if (k == "used") {
    if (!e.text.empty())
      return you ? e.text
                 : subj + " " + w_j(item_name(s, e.a), "을", "를") + " 사용했다. " + e.text;
    if (e.b == "self") return subj + " " + w_j(item_name(s, e.a), "을", "를") + " 사용했다.";
    return subj + " " + w_j(item_name(s, e.a), "을", "를") + " " + target_name(s, e.b) +
           "에 사용했다.";
  }
  if (k == "use_failed") return or_text(e.text, "아무 일도 일어나지 않았다.");
  if (k == "combined")
    return or_text(e.text, subj + " " + w_j(item_name(s, e.a), "과", "와") + " " +
                               w_j(item_name(s, e.b), "을", "를") + " 조합했다.");
  if (k == "received") return subj + " " + w_j(item_name(s, e.a), "을", "를") + " 얻었다.";
  if (k == "code_right")
    return or_text(e.text, "코드가 맞았다. " + w_j(puzzle_name(s, e.a), "이", "가") + " 열렸다.");
  if (k == "code_wrong" || k == "sequence_reset") {
    std::string t =
        or_text(e.text, k == "code_wrong" ? "코드가 틀렸다." : "무언가 원래대로 돌아갔다.");
    if (e.n >= 0) t += " (남은 시도 " + std::to_string(e.n) + "회)";
    return t;
  }
  if (k == "code_exhausted")
    return w_j(puzzle_name(s, e.a), "은", "는") + " 더 이상 시도할 수 없다.";
  if (k == "solved") return or_text(e.text, w_j(puzzle_name(s, e.a), "을", "를") + " 풀었다.");
  if (k == "sequence_step") return w_j(item_name(s, e.b), "이", "가") + " 제자리에 맞물렸다.";
  if (k == "revealed") return w_j(item_name(s, e.a), "이", "가") + " 눈에 들어왔다.";
  if (k == "removed") return w_j(item_name(s, e.a), "이", "가") + " 사라졌다.";
  if (k == "unlocked") return location_name(s, e.a) + "의 " + way_ko(s, e.a, e.b) + " 길이 열렸다.";
  if (k == "teleported") return "정신을 차려 보니 " + location_name(s, e.a) + "에 있다.";
  if (k == "clue") return "새 단서 — " + e.b + ": " + e.text;
  if (k == "say") return e.text;
  if (k == "damaged") return subj + " 체력을 " + std::to_string(e.n) + " 잃었다.";
  if (k == "healed") return subj + " 체력을 " + std::to_string(e.n) + " 회복했다.";
  if (k == "died") return you ? std::string("당신은 죽었다.") : subj + " 죽었다.";
  if (k == "hazard") return or_text(e.text, location_name(s, e.a) + "에서 다쳤다.");
  if (k == "npc_talk")
    return subj + " " + npc_name(s, e.a) + "에게 말했다: \u201c" + e.text + "\u201d";
  if (k == "accused_right" || k == "accused_wrong")
    return subj + " " + w_j(e.text, "을", "를") + " 지목했다." +
           (k == "accused_wrong" ? " 틀렸다." : " 진실이다.");
  if (k == "ending") {
    auto it = s.endings.find(e.a);
    std::string title = it != s.endings.end() ? it->second.title : "끝";
    return "— " + title + " —\n" + e.text;
  }
  if (k == "round") return std::to_string(e.n) + "라운드가 시작된다.";
  if (k == "turn") return you ? std::string("당신의 차례다.") : name + "의 차례다.";
  if (k == "inventory") {
    if (e.list.empty()) return "가진 것이 없다.";
    std::vector<std::string> names;
    for (const auto& id : e.list)
      names.push_back(item_name(s, id));
    return "소지품: " + join_names(names, ", ");
  }
  if (k == "journal") {
    if (e.list.empty()) return "일지가 비어 있다.";
    std::string t = "일지:";
    for (const auto& id : e.list) {
      auto it = s.clues.find(id);
      if (it != s.clues.end()) t += "\n- " + it->second.title + ": " + it->second.text;
    }
    return t;
  }
  if (k == "help") return help_text("ko");
  if (k == "passed") {
    if (e.n == 1) return you ? std::string("시간이 다 되었다.") : name + "의 시간이 다 되었다.";
    return subj + " 차례를 넘겼다.";
  }
  if (k == "left_game") return w_j(name, "이", "가") + " 게임을 떠났다.";
  return e.text;
}

}  // namespace

std::string josa(std::string_view word, std::string_view with, std::string_view without) {
  char32_t c = last_code_point(word);
  if (c >= 0xAC00 && c <= 0xD7A3) {
    unsigned jong = (c - 0xAC00) % 28;
    bool batchim = jong != 0;
    if (with == "으로" && jong == 8) batchim = false;  // ㄹ: "길로"
    return std::string(batchim ? with : without);
  }
  if (c >= '0' &&
      c <= '9') {  // digits read in Korean: 0 영, 1 일, 3 삼, 6 육, 7 칠, 8 팔 end in a consonant
    bool batchim = c == '0' || c == '1' || c == '3' || c == '6' || c == '7' || c == '8';
    if (with == "으로" && (c == '1' || c == '7' || c == '8')) batchim = false;
    return std::string(batchim ? with : without);
  }
  return std::string(with) + "(" + std::string(without) + ")";
}

std::string narrate(const scenario& s, const event& e, player_id viewer, const names_fn& nick) {
  const bool you = e.actor != 0 && e.actor == viewer;
  const std::string name = e.actor != 0 && nick ? nick(e.actor) : std::string();
  return s.language == "ko" ? narrate_ko(s, e, you, name) : narrate_en(s, e, you, name);
}

std::string narrate(const scenario& s, const event& e, const names_fn& nick) {
  return narrate(s, e, e.audience == audience_kind::one ? e.actor : 0, nick);
}

std::string offline_npc_reply(const npc_def& npc, std::span<const knowledge_def* const> revealed,
                              bool first_time) {
  std::string out;
  if (first_time && !npc.greeting.empty()) out = npc.greeting;
  for (const auto* k : revealed) {
    if (!k || k->text.empty()) continue;
    if (!out.empty()) out += ' ';
    out += k->text;
  }
  if (out.empty()) out = npc.default_reply;
  return out;
}

std::string offline_npc_reply(const scenario& s, const event& npc_talk) {
  auto it = s.npcs.find(npc_talk.a);
  if (it == s.npcs.end()) return {};
  std::vector<const knowledge_def*> revealed;
  for (const auto& id : npc_talk.revealed)
    for (const auto& k : it->second.knowledge)
      if (k.id == id) revealed.push_back(&k);
  return offline_npc_reply(it->second, revealed, npc_talk.n == 1);
}

std::string help_text(std::string_view language) {
  if (language == "ko")
    return "명령어: 보기 · (방향/장소)으로 가 · X 조사 · X 줍기 · X 버리기 · X를 Y에 사용 · "
           "X와 Y 조합 · 코드 대상 1234 · (인물)에게 말하기 … · 고발 X · 인벤토리 · 일지 · "
           "도움말 · 힌트 · 넘기기 · 그만. 보기·인벤토리·일지·도움말·힌트는 차례를 쓰지 않는다.";
  return "Commands: look · go DIR (or a place) · inspect X · take X · drop X · use X [on Y] · "
         "combine X with Y · code TARGET 1234 · talk NPC words… · accuse ANSWER · inventory · "
         "journal · help · hint · pass · quit. look, inventory, journal, help and hint do not use "
         "your turn.";
}

}  // namespace maratang::mystery
