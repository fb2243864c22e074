// The casebook: the story of one Mystery game, written from its action log when play ends — by the
// LLM in chapters when one is available, by templates otherwise (or for any chapter the LLM failed
// to write) — stored as Markdown and served as Markdown or HTML.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "lobby/game_store.hpp"
#include "modes/mystery/casebook_store.hpp"
#include "modes/mystery/llm_port.hpp"
#include "store/records.hpp"
#include "util/clock.hpp"

namespace maratang::mystery {

// What the casebook is about, beyond the log.
struct casebook_meta {
  std::string game_id;
  std::string title;                          // the scenario's title
  std::string language;                       // "en" or "ko"
  std::map<std::int64_t, std::string> names;  // player id -> nickname
  // Whether the LLM may write it: false for a room created with `llm: false`, whose casebook is
  // then the templates' even when the server has an LLM.
  bool use_llm = true;
};

// One chapter: its heading and the lines it is written from.
struct chapter {
  int number = 0;
  std::vector<std::string> lines;  // Markdown, one paragraph each (the template text)
};

// Splits a game's log (the entries the Mystery mode writes, in order) into chapters of
// `rounds_per_chapter` rounds, the last one holding the ending.
std::vector<chapter> chapters_of(const casebook_meta& meta,
                                 const std::vector<store::log_entry>& log,
                                 int rounds_per_chapter = 4);
// A chapter's template text: its lines as paragraphs.
std::string chapter_text(const chapter& c);
// The whole casebook by templates (deterministic).
std::string template_casebook(const casebook_meta& meta, const std::vector<chapter>& chapters);
// The prompt that asks the LLM to write one chapter. The log's player text is quoted data.
llm_call chapter_prompt(const casebook_meta& meta, const chapter& c, int total);
// Assembles a casebook from each chapter's prose (LLM or template), in order.
std::string assemble_casebook(const casebook_meta& meta, const std::vector<std::string>& chapters);

// Markdown to a complete HTML page of text and formatting only. The Markdown is (partly) the
// LLM's, so nothing in it may fetch or point anywhere: raw HTML is dropped (cmark's safe mode),
// links become their text and images their alt text; the page's only style is inline.
std::string casebook_html(const std::string& title, const std::string& language,
                          const std::string& markdown);
// The Content-Security-Policy sent with casebook_html's page: nothing loads, runs, frames it or is
// submitted; only its inline <style> applies.
inline constexpr const char* casebook_csp =
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'";

// Writes casebooks in the background: reads the game's action log, writes the text (LLM or
// templates), stores it through the casebook port, then calls `done`. Thread-safe; never blocks.
class casebook_writer {
 public:
  // llm may be null (templates only). Outlives every write it starts (the server owns both).
  casebook_writer(lobby::action_log& log, casebook_store& store, llm_port* llm, const clock& clk);

  // done(author) runs on some background thread after the casebook is stored; author is "llm",
  // "mixed" (some chapters by templates) or "template"; "" if it could not be stored.
  void write(casebook_meta meta, std::function<void(std::string author)> done);

 private:
  lobby::action_log& log_;
  casebook_store& store_;
  llm_port* llm_;
  const clock& clock_;
};

}  // namespace maratang::mystery
