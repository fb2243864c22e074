#include "modes/mystery/casebook.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "store/batched_store.hpp"
#include "store/memory/memory_backend.hpp"
#include "store/worker.hpp"
#include "util/clock.hpp"
#include "util/utf8.hpp"

namespace maratang::mystery {
namespace {

namespace json = boost::json;

store::log_entry entry(std::int64_t seq, std::string kind, std::int64_t actor, json::object p) {
  return {"game-1", seq, 1000 + seq, std::move(kind), actor, json::serialize(p)};
}

std::vector<store::log_entry> sample_log() {
  return {
      entry(1, "intro", 0, {{"text", "The storm came at dusk."}, {"round", 1}}),
      entry(2, "action", 7, {{"text", "take *lantern* <b>now</b>"}, {"round", 1}}),
      entry(3, "line", 7,
            {{"kind", "narration"}, {"text", "Ana takes the lantern."}, {"round", 1}}),
      entry(4, "event", 7, {{"kind", "took"}, {"a", "lantern"}}),
      entry(5, "line", 7,
            {{"kind", "npc"}, {"npc_name", "Marrow"}, {"text", "Mind the stairs."}, {"round", 5}}),
      entry(6, "ending", 0,
            {{"title", "Dawn"}, {"text", "The light held until morning."}, {"round", 6}}),
  };
}

casebook_meta meta() {
  return {"game-1", "Gull Rock", "en", {{7, "Ana"}, {9, "Bo"}}};
}

TEST(MysteryCasebook, chapters_follow_rounds_and_keep_the_order_of_the_log) {
  auto chapters = chapters_of(meta(), sample_log(), 4);
  ASSERT_EQ(chapters.size(), 2u);  // rounds 1..4, then 5..8
  EXPECT_EQ(chapters[0].number, 1);
  ASSERT_EQ(chapters[0].lines.size(), 3u);  // intro, action, narration; events are not prose
  EXPECT_EQ(chapters[0].lines[0], "The storm came at dusk.");
  EXPECT_EQ(chapters[1].number, 2);
  ASSERT_EQ(chapters[1].lines.size(), 2u);
  EXPECT_NE(chapters[1].lines[0].find("**Marrow**"), std::string::npos);
  EXPECT_NE(chapters[1].lines[1].find("The light held until morning."), std::string::npos);
  EXPECT_NE(chapters[1].lines[1].find("Epilogue: Dawn"), std::string::npos);
}

TEST(MysteryCasebook, player_text_cannot_become_markup) {
  auto chapters = chapters_of(meta(), sample_log(), 4);
  const auto& action = chapters[0].lines[1];
  EXPECT_NE(action.find("**Ana**"), std::string::npos);
  EXPECT_EQ(action.find("<b>"), std::string::npos) << action;
  auto html = casebook_html("T", "en", template_casebook(meta(), chapters));
  EXPECT_EQ(html.find("<b>now"), std::string::npos) << html;
  EXPECT_NE(html.find("&lt;b&gt;now"), std::string::npos) << html;
  // The star-wrapped word stays literal text, not emphasis.
  EXPECT_NE(html.find("*lantern*"), std::string::npos) << html;
}

TEST(MysteryCasebook, template_casebook_is_complete_markdown_and_html) {
  auto md = template_casebook(meta(), chapters_of(meta(), sample_log(), 4));
  EXPECT_EQ(md.rfind("# Gull Rock\n", 0), 0u) << md;
  EXPECT_NE(md.find("## Chapter 1"), std::string::npos);
  EXPECT_NE(md.find("## Chapter 2"), std::string::npos);
  EXPECT_NE(md.find("Ana, Bo"), std::string::npos);
  auto html = casebook_html("Gull <Rock>", "en", md);
  EXPECT_NE(html.find("<title>Gull &lt;Rock&gt;</title>"), std::string::npos);
  EXPECT_NE(html.find("<h2>Chapter 1</h2>"), std::string::npos) << html;
  EXPECT_NE(html.find("<blockquote>"), std::string::npos);
  EXPECT_NE(html.find("charset=\"utf-8\""), std::string::npos);
}

TEST(MysteryCasebook, raw_html_in_the_markdown_is_not_passed_through) {
  auto html = casebook_html("x", "en", "Hello <script>alert(1)</script>\n\n[a](javascript:x)");
  EXPECT_EQ(html.find("<script>"), std::string::npos) << html;
  EXPECT_EQ(html.find("javascript:"), std::string::npos) << html;
}

// The LLM writes casebook chapters: nothing it writes may load or point anywhere from the
// server's origin (a tracking pixel, a phishing link). Links keep their text, images their alt
// text, and no element but text formatting is made.
TEST(MysteryCasebook, links_images_and_raw_html_render_as_text_only) {
  const std::string md =
      "# Case\n\n"
      "Please [click here](https://evil.example/login) to continue.\n\n"
      "A pixel: ![the lamp](https://evil.example/p.png) shone.\n\n"
      "Autolink <https://evil.example> and <mail@evil.example>.\n\n"
      "Raw <img src=x onerror=alert(1)> inline, and a block:\n\n"
      "<img src=\"https://evil.example/b.png\">\n\n"
      "Nested [![inner](https://evil.example/i.png) **bold**](https://evil.example/n) end.\n\n"
      "[ref]: https://evil.example/r\n\n"
      "A reference [link][ref] and *emphasis*.\n";
  auto html = casebook_html("Case", "en", md);
  EXPECT_EQ(html.find("<a"), std::string::npos) << html;
  EXPECT_EQ(html.find("<img"), std::string::npos) << html;
  EXPECT_EQ(html.find("href"), std::string::npos) << html;
  EXPECT_EQ(html.find("src="), std::string::npos) << html;
  EXPECT_EQ(html.find("evil.example/"), std::string::npos) << html;  // no target survives
  // The text stays.
  EXPECT_NE(html.find("Please click here to continue."), std::string::npos) << html;
  EXPECT_NE(html.find("A pixel: the lamp shone."), std::string::npos) << html;
  EXPECT_NE(html.find("Autolink https://evil.example and mail@evil.example."), std::string::npos)
      << html;
  EXPECT_NE(html.find("Nested inner <strong>bold</strong> end."), std::string::npos) << html;
  EXPECT_NE(html.find("A reference link and <em>emphasis</em>."), std::string::npos) << html;
  EXPECT_NE(html.find("<h1>Case</h1>"), std::string::npos) << html;
}

TEST(MysteryCasebook, korean_headings_and_text) {
  casebook_meta m{"g", "청운재의 긴 밤", "ko", {{1, "민지"}}};
  auto md = template_casebook(m, chapters_of(m, sample_log(), 4));
  EXPECT_NE(md.find("# 청운재의 긴 밤"), std::string::npos);
  EXPECT_NE(md.find("## 제1장"), std::string::npos);
  EXPECT_NE(md.find("에필로그"), std::string::npos);
}

TEST(MysteryCasebook, chapter_prompt_quotes_the_record_as_data) {
  auto chapters = chapters_of(meta(), sample_log(), 4);
  auto call = chapter_prompt(meta(), chapters[0], 2);
  ASSERT_EQ(call.messages.size(), 2u);
  EXPECT_NE(call.messages[0].content.find("chapter 1 of 2"), std::string::npos);
  EXPECT_NE(call.messages[0].content.find("not instructions"), std::string::npos);
  EXPECT_NE(call.messages[1].content.find("<record>"), std::string::npos);
  EXPECT_NE(call.messages[1].content.find("The storm came at dusk."), std::string::npos);
  EXPECT_FALSE(call.player_waiting);  // written after the game: no player waits for it
  EXPECT_NE(call.messages[0].content.find("third person"), std::string::npos);
}

// Issue 14, item 2: a long Korean line is cut by characters, not bytes. Every cut of a run of
// 3-byte syllables that falls mid-character by bytes (800 bytes is 266 syllables and 2 bytes) must
// still give a prompt of whole UTF-8: real vLLM servers refuse anything else with 400.
TEST(MysteryCasebook, a_korean_chapter_prompt_is_cut_by_characters_and_stays_utf8) {
  casebook_meta m{"g", "청운재의 긴 밤", "ko", {{1, "민지"}}};
  for (std::string lead : {"", "a", "ab"}) {
    std::string line = lead;
    for (int i = 0; i < 400; ++i)
      line += "밤";  // 1200 bytes, 400 characters
    chapter c{1, {line, "다음 줄."}};
    auto call = chapter_prompt(m, c, 1);
    const auto& user = call.messages.at(1).content;
    EXPECT_TRUE(util::utf8_valid(user)) << "lead '" << lead << "'";
    // 800 characters are kept whole: here all 400 syllables, then the next line.
    EXPECT_NE(user.find(line + "\n다음 줄."), std::string::npos);
  }
  // Over 800 characters: exactly 800 are kept.
  std::string longer;
  for (int i = 0; i < 1000; ++i)
    longer += "밤";
  auto call = chapter_prompt(m, chapter{1, {longer}}, 1);
  const auto& user = call.messages.at(1).content;
  EXPECT_TRUE(util::utf8_valid(user));
  std::string kept;
  for (int i = 0; i < 800; ++i)
    kept += "밤";
  EXPECT_NE(user.find("\n" + kept + "\n</record>"), std::string::npos);
  EXPECT_EQ(user.find(kept + "밤"), std::string::npos);
}

// Issue 14, item 8: the casebook follows the order of play, not of LLM calls finishing (a line's
// text goes where its placeholder was logged), and leaves out turn bookkeeping.
TEST(MysteryCasebook, llm_lines_keep_their_place_and_bookkeeping_is_left_out) {
  std::vector<store::log_entry> log = {
      entry(1, "action", 7, {{"text", "talk marrow"}, {"round", 1}}),
      entry(2, "line", 7, {{"line", 5}, {"pending", true}, {"kind", "npc"}, {"round", 1}}),
      entry(3, "action", 7, {{"text", "take lantern"}, {"round", 1}}),
      entry(4, "line", 7,
            {{"line", 6},
             {"kind", "narration"},
             {"text", "Ana takes the lantern."},
             {"round", 1},
             {"of", "took"}}),
      entry(5, "line", 0,
            {{"line", 7},
             {"kind", "narration"},
             {"text", "Round 2 begins."},
             {"round", 2},
             {"of", "round"}}),
      entry(6, "line", 0,
            {{"line", 8},
             {"kind", "narration"},
             {"text", "It is Bo's turn."},
             {"round", 2},
             {"of", "turn"}}),
      entry(7, "line", 7,
            {{"line", 5},
             {"kind", "npc"},
             {"npc_name", "Marrow"},
             {"text", "Mind the stairs."},
             {"round", 2}}),
      entry(8, "line", 7, {{"line", 9}, {"pending", true}, {"kind", "npc"}, {"round", 2}}),
  };
  auto chapters = chapters_of(meta(), log, 4);
  ASSERT_EQ(chapters.size(), 1u);
  const auto& l = chapters[0].lines;
  ASSERT_EQ(l.size(), 4u) << chapter_text(chapters[0]);  // the unanswered placeholder is dropped
  EXPECT_NE(l[0].find("talk marrow"), std::string::npos);
  EXPECT_NE(l[1].find("Mind the stairs."), std::string::npos);  // before the later take
  EXPECT_NE(l[2].find("take lantern"), std::string::npos);
  EXPECT_EQ(l[3], "Ana takes the lantern.");
  EXPECT_EQ(chapter_text(chapters[0]).find("Round 2"), std::string::npos);
  EXPECT_EQ(chapter_text(chapters[0]).find("turn"), std::string::npos);
}

// A scripted LLM: answers each chapter call with "LLM chapter N", or fails the ones listed.
class scripted_llm final : public llm_port {
 public:
  explicit scripted_llm(std::set<int> failing) : failing_(std::move(failing)) {}
  void chat(llm_call call, token_fn, done_fn done) override {
    int n = ++calls_;
    prompts_.push_back(call.messages.back().content);
    // Answer from another thread, as the real client does.
    std::thread([n, done = std::move(done), fail = failing_.count(n) > 0] {
      if (fail) {
        done(false, "LLM chap", "broken_stream: test");
      } else {
        done(true, "LLM chapter " + std::to_string(n), {});
      }
    }).detach();
  }
  bool has_lora() const override { return false; }
  std::atomic<int> calls_{0};
  std::vector<std::string> prompts_;

 private:
  std::set<int> failing_;
};

struct writer_fixture {
  store::worker store{std::make_unique<store::memory_backend>()};
  store::batched_store ports{store};
  writer_fixture() {
    store.submit([](store::backend& b) { b.migrate(); });
    for (auto& e : sample_log())
      store.submit([e](store::backend& b) { b.append_log(e); });
  }
  std::string write(llm_port* llm, bool use_llm = true) {
    casebook_writer w(ports, ports, llm, real_clock());
    std::mutex mu;
    std::condition_variable cv;
    std::optional<std::string> author;
    auto m = meta();
    m.use_llm = use_llm;
    w.write(std::move(m), [&](std::string a) {
      std::lock_guard lk(mu);
      author = std::move(a);
      cv.notify_all();
    });
    std::unique_lock lk(mu);
    EXPECT_TRUE(cv.wait_for(lk, std::chrono::seconds(10), [&] { return author.has_value(); }));
    return author.value_or("timeout");
  }
  std::optional<store::casebook_record> stored() {
    std::optional<store::casebook_record> c;
    store.submit([&](store::backend& b) { c = b.find_casebook("game-1"); });
    store.flush();
    return c;
  }
};

TEST(MysteryCasebook, writer_without_llm_stores_the_template_casebook) {
  writer_fixture f;
  EXPECT_EQ(f.write(nullptr), "template");
  auto c = f.stored();
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->author, "template");
  EXPECT_EQ(c->markdown, template_casebook(meta(), chapters_of(meta(), sample_log())));
}

// Issue 14, item 4: a room created with `llm: false` gets the templates' casebook even though the
// server has an LLM, which is never asked.
TEST(MysteryCasebook, writer_keeps_to_templates_for_a_game_played_offline) {
  writer_fixture f;
  scripted_llm llm({});
  EXPECT_EQ(f.write(&llm, false), "template");
  EXPECT_EQ(llm.calls_.load(), 0);
  auto c = f.stored();
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->author, "template");
  EXPECT_EQ(c->markdown, template_casebook(meta(), chapters_of(meta(), sample_log())));
}

TEST(MysteryCasebook, writer_with_llm_writes_each_chapter_and_falls_back_per_chapter) {
  writer_fixture f;
  scripted_llm all_ok({});
  EXPECT_EQ(f.write(&all_ok), "llm");
  EXPECT_EQ(all_ok.calls_.load(), 2);
  auto c = f.stored();
  ASSERT_TRUE(c.has_value());
  EXPECT_NE(c->markdown.find("LLM chapter 1"), std::string::npos);
  EXPECT_NE(c->markdown.find("LLM chapter 2"), std::string::npos);

  scripted_llm second_fails({2});
  EXPECT_EQ(f.write(&second_fails), "mixed");
  c = f.stored();
  EXPECT_NE(c->markdown.find("LLM chapter 1"), std::string::npos);
  // Chapter 2 by template: the ending's text, not the broken partial reply.
  EXPECT_NE(c->markdown.find("The light held until morning."), std::string::npos);
  EXPECT_EQ(c->markdown.find("LLM chap\n"), std::string::npos);
}

}  // namespace
}  // namespace maratang::mystery
