// Nickname rules: validation, the display form and the comparison key. Pure functions, any thread.
#pragma once

#include <string>
#include <string_view>

#include "util/error.hpp"

namespace maratang::core {

struct nickname_rules {
  int min_chars = 2;  // user-perceived characters (grapheme clusters)
  int max_chars = 16;
};

struct nickname {
  std::string display;  // NFC, trimmed: what others see
  std::string key;      // NFKC case-folded: equal keys mean the same name
};

// Validates a requested nickname and returns its display form and key, or errc::nickname_invalid
// with a message that says what is wrong (invalid UTF-8, too short, too long, a control,
// zero-width, bidi-override or other format character, an unassigned code point, leading or
// trailing space, more than one space in a row).
result<nickname> make_nickname(std::string_view requested, const nickname_rules& rules = {});

}  // namespace maratang::core
