// Fuzzes what a Mystery player types and what the LLM answers (src/modes/mystery/parser.hpp,
// prompts.hpp): parse_command against the shipped scenarios (English and Korean), the quoting of
// player text into prompts (bounded, valid UTF-8, no tag characters, no control characters), and
// parse_intent on an LLM reply.
#include <boost/beast/websocket/detail/utf8_checker.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "check.hpp"
#include "modes/mystery/loader.hpp"
#include "modes/mystery/parser.hpp"
#include "modes/mystery/prompts.hpp"

namespace mystery = maratang::mystery;

namespace {

using maratang::fuzz::check;

const std::vector<std::shared_ptr<const mystery::scenario>>& scenarios() {
  static const auto all = [] {
    std::vector<std::shared_ptr<const mystery::scenario>> out;
    for (auto& r : mystery::load_scenarios(MARATANG_SOURCE_DIR "/scenarios")) {
      if (r.scn) out.push_back(r.scn);
    }
    check(!out.empty());
    return out;
  }();
  return all;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const auto& s : scenarios())
    (void)mystery::parse_command(text, *s);

  for (std::size_t max : {std::size_t{300}, std::size_t{7}}) {
    std::string q = mystery::quote_player_text(text, max);
    check(q.size() <= max);
    check(boost::beast::websocket::detail::check_utf8(q.data(), q.size()));
    for (unsigned char c : q)
      check(c != '<' && c != '>' && c >= 0x20 && c != 0x7F);
  }
  if (auto a = mystery::parse_intent(text)) check(a->object.size() <= size);
  return 0;
}
