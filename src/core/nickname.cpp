#include "core/nickname.hpp"

#include <unicode/brkiter.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/ustring.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

namespace maratang::core {

namespace {

// No real grapheme cluster needs more than this many UTF-8 bytes (the longest emoji sequences
// take about 40); longer input is refused before any ICU work so a huge request costs little.
constexpr std::size_t max_bytes_per_char = 64;

constexpr UChar32 braille_blank = 0x2800;  // renders as nothing, like a run of spaces

error invalid(std::string msg) {
  return error{errc::nickname_invalid, std::move(msg)};
}

std::string characters(int n) {
  return std::to_string(n) + (n == 1 ? " character" : " characters");
}

error too_long(int max_chars) {
  return invalid("Nicknames may be at most " + characters(max_chars) + " long.");
}

// Strict UTF-8 to UTF-16: ill-formed input (overlong forms, surrogates, truncated or stray bytes)
// is refused rather than replaced.
std::optional<icu::UnicodeString> from_utf8(std::string_view text) {
  icu::UnicodeString out;
  if (text.empty()) return out;
  // UTF-16 never needs more code units than UTF-8 has bytes.
  const auto capacity = static_cast<int32_t>(text.size());
  char16_t* buffer = out.getBuffer(capacity);
  if (buffer == nullptr) return std::nullopt;
  int32_t length = 0;
  UErrorCode status = U_ZERO_ERROR;
  u_strFromUTF8(buffer, capacity, &length, text.data(), capacity, &status);
  out.releaseBuffer(U_SUCCESS(status) ? length : 0);
  if (U_FAILURE(status)) return std::nullopt;
  return out;
}

// The reason a code point may not appear in a nickname, or nullptr if it may.
const char* refusal_of(UChar32 c) {
  switch (u_charType(c)) {
    case U_SURROGATE:
      return "Nicknames may not contain surrogate code points.";
    case U_CONTROL_CHAR:
      return "Nicknames may not contain invisible or control characters.";
    case U_LINE_SEPARATOR:
    case U_PARAGRAPH_SEPARATOR:
      return "Nicknames may not contain line breaks.";
    case U_PRIVATE_USE_CHAR:
      return "Nicknames may not contain private-use characters.";
    case U_UNASSIGNED:
      return "Nicknames may not contain characters that are not assigned in Unicode.";
    default:
      break;
  }
  if (c != U' ' && u_isUWhiteSpace(c)) {
    return "The only space allowed in a nickname is the ordinary space.";
  }
  // Format characters (zero-width, bidi controls, BOM) and the other default-ignorable code
  // points, such as the Hangul fillers (U+3164 and friends) that make "blank" Korean names.
  // Variation selectors stay allowed: emoji need them, and the key drops them anyway.
  const bool ignorable = u_hasBinaryProperty(c, UCHAR_DEFAULT_IGNORABLE_CODE_POINT) &&
                         !u_hasBinaryProperty(c, UCHAR_VARIATION_SELECTOR);
  if (u_charType(c) == U_FORMAT_CHAR || ignorable || c == braille_blank) {
    return "Nicknames may not contain invisible characters such as zero-width spaces, joiners or "
           "text-direction marks.";
  }
  return nullptr;
}

// The number of grapheme clusters (user-perceived characters) in `text`, counting no further
// than `limit + 1`; nullopt if ICU fails.
std::optional<int> count_graphemes(const icu::UnicodeString& text, int limit) {
  UErrorCode status = U_ZERO_ERROR;
  std::unique_ptr<icu::BreakIterator> it(
      icu::BreakIterator::createCharacterInstance(icu::Locale::getRoot(), status));
  if (U_FAILURE(status) || !it) return std::nullopt;
  it->setText(text);
  int count = 0;
  it->first();
  while (it->next() != icu::BreakIterator::DONE) {
    if (++count > limit) break;
  }
  return count;
}

}  // namespace

result<nickname> make_nickname(std::string_view requested, const nickname_rules& rules) {
  const int max_chars = std::max(rules.max_chars, 0);
  if (requested.size() > static_cast<std::size_t>(max_chars) * max_bytes_per_char ||
      requested.size() > static_cast<std::size_t>(INT32_MAX)) {
    return too_long(max_chars);
  }

  // Decode, then normalise to NFC: composed and decomposed spellings display the same.
  auto decoded = from_utf8(requested);
  if (!decoded) return invalid("The nickname is not valid UTF-8 text.");
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(status);
  if (U_FAILURE(status)) return error{errc::internal};
  const icu::UnicodeString display = nfc->normalize(*decoded, status);
  if (U_FAILURE(status)) return error{errc::internal};

  // Character classes, in the order they appear.
  for (int32_t i = 0; i < display.length(); i = display.moveIndex32(i, 1)) {
    if (const char* why = refusal_of(display.char32At(i))) return invalid(why);
  }

  // Spaces: only U+0020 remains possible here.
  std::string display_utf8;
  display.toUTF8String(display_utf8);
  if (!display_utf8.empty() && (display_utf8.front() == ' ' || display_utf8.back() == ' ')) {
    return invalid("Nicknames may not begin or end with a space.");
  }
  if (display_utf8.find("  ") != std::string::npos) {
    return invalid("Nicknames may not contain two spaces in a row.");
  }

  // Length in user-perceived characters: a Hangul syllable or an emoji with a skin tone is one.
  const auto chars = count_graphemes(display, max_chars);
  if (!chars) return error{errc::internal};
  if (*chars < rules.min_chars) {
    return invalid("Nicknames must be at least " + characters(rules.min_chars) + " long.");
  }
  if (*chars > max_chars) return too_long(max_chars);

  // The key folds case, width and compatibility forms: "Alice", "ALICE" and "ＡＬＩＣＥ" collide.
  const icu::Normalizer2* fold = icu::Normalizer2::getNFKCCasefoldInstance(status);
  if (U_FAILURE(status)) return error{errc::internal};
  const icu::UnicodeString key = fold->normalize(display, status);
  if (U_FAILURE(status)) return error{errc::internal};

  nickname out;
  out.display = std::move(display_utf8);
  key.toUTF8String(out.key);
  return out;
}

}  // namespace maratang::core
