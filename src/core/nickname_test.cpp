#include "core/nickname.hpp"

#include <gtest/gtest.h>

#include <string>

namespace maratang::core {
namespace {

// The error a failed result holds; a test failure (and errc::internal) if it holds a value.
template <class T>
error error_in(const result<T>& r) {
  if (r.has_error()) return r.error();
  ADD_FAILURE() << "expected an error, got a value";
  return error{errc::internal};
}

// The refusal message for `name`, or "<accepted>"; fails the test if the code is not
// nickname_invalid.
std::string refusal(std::string_view name, const nickname_rules& rules = {}) {
  const auto r = make_nickname(name, rules);
  if (r.has_value()) return "<accepted>";
  const error e = error_in(r);
  EXPECT_EQ(e.code, errc::nickname_invalid) << name;
  return e.message;
}

nickname accept(std::string_view name, const nickname_rules& rules = {}) {
  const auto r = make_nickname(name, rules);
  EXPECT_TRUE(r.has_value()) << name << ": " << (r.has_error() ? error_in(r).message : "");
  return r.has_value() ? r.value() : nickname{};
}

std::string repeat(std::string_view s, int n, std::string_view prefix = {}) {
  std::string out(prefix);
  for (int i = 0; i < n; ++i)
    out += s;
  return out;
}

#define EXPECT_REFUSED(name, words) EXPECT_NE(refusal(name).find(words), std::string::npos) << name

TEST(NicknameTest, KoreanAccepted) {
  const nickname n = accept("마라탕");
  EXPECT_EQ(n.display, "마라탕");
  EXPECT_EQ(n.key, "마라탕");

  const nickname mixed = accept("김철수 Kim");
  EXPECT_EQ(mixed.display, "김철수 Kim");
  EXPECT_EQ(mixed.key, "김철수 kim");
}

TEST(NicknameTest, ComposedAndDecomposedHangulAreTheSameName) {
  const std::string composed = "\uD55C\uAE00";  // 한글
  const std::string decomposed = "\u1112\u1161\u11AB\u1100\u1173\u11AF";
  ASSERT_NE(composed, decomposed);
  const nickname a = accept(composed);
  const nickname b = accept(decomposed);
  EXPECT_EQ(a.display, composed);
  EXPECT_EQ(b.display, composed);
  EXPECT_EQ(a.key, b.key);
}

TEST(NicknameTest, ComposedAndDecomposedLatinAreTheSameName) {
  const nickname a = accept("Zo\u00EB");
  const nickname b = accept("Zoe\u0308");
  EXPECT_EQ(b.display, "Zo\u00EB");
  EXPECT_EQ(a.key, b.key);
}

TEST(NicknameTest, KeysIgnoreCaseDisplayKeepsIt) {
  const nickname a = accept("Alice");
  const nickname b = accept("ALICE");
  EXPECT_EQ(a.display, "Alice");
  EXPECT_EQ(b.display, "ALICE");
  EXPECT_EQ(a.key, "alice");
  EXPECT_EQ(b.key, "alice");
  EXPECT_EQ(accept("Straße").key, accept("STRASSE").key);
}

TEST(NicknameTest, FullwidthFoldsToAscii) {
  const nickname wide = accept("\uFF21\uFF22");  // ＡＢ
  EXPECT_EQ(wide.display, "\uFF21\uFF22");
  EXPECT_EQ(wide.key, accept("AB").key);
  EXPECT_EQ(wide.key, "ab");
}

TEST(NicknameTest, InvalidUtf8Refused) {
  EXPECT_REFUSED(
      "\xFF"
      "ab",
      "not valid UTF-8");
  EXPECT_REFUSED("ab\xED\x95", "not valid UTF-8");  // truncated 한
  EXPECT_REFUSED(
      "\xC0\xAF"
      "ab",
      "not valid UTF-8");  // overlong '/'
  EXPECT_REFUSED(
      "\xED\xA0\x80"
      "ab",
      "not valid UTF-8");  // encoded surrogate U+D800
  EXPECT_REFUSED(
      "\xF4\x90\x80\x80"
      "ab",
      "not valid UTF-8");  // above U+10FFFF
  EXPECT_REFUSED(
      "a\x80"
      "b",
      "not valid UTF-8");  // stray continuation byte
}

TEST(NicknameTest, ControlCharactersRefused) {
  EXPECT_REFUSED(
      "ab\x07"
      "cd",
      "control");
  EXPECT_REFUSED("a\tb", "control");
  EXPECT_REFUSED("a\nb", "control");
  EXPECT_REFUSED("ab\x7F", "control");
  EXPECT_REFUSED("a\u0085b", "control");
  EXPECT_REFUSED(std::string("ab\0cd", 5), "control");
}

TEST(NicknameTest, InvisibleFormatCharactersRefused) {
  for (const char* name : {
           "a\u200Bb",    // zero-width space
           "a\u200Cb",    // zero-width non-joiner
           "a\u200Db",    // zero-width joiner
           "ab\u202Ecd",  // right-to-left override
           "ab\u202Dcd",  // left-to-right override
           "ab\u2066cd",  // left-to-right isolate
           "ab\u2067cd",  // right-to-left isolate
           "ab\u2068cd",  // first strong isolate
           "ab\u2069cd",  // pop directional isolate
           "ab\u200Fcd",  // right-to-left mark
           "\uFEFFab",    // byte order mark
           "a\u00ADb",    // soft hyphen
           "a\u2060b",    // word joiner
       }) {
    EXPECT_REFUSED(name, "invisible characters");
  }
}

TEST(NicknameTest, HangulFillersAndBlanksRefused) {
  // The usual ways to make a "blank" or look-alike name in Korean games.
  for (const char* name : {
           "\u3164\u3164",  // Hangul filler
           "철수\u3164",
           "\u115F\u1160ab",  // Hangul choseong and jungseong fillers
           "ab\uFFA0",        // halfwidth Hangul filler
           "\u2800\u2800",    // braille blank
           "a\u034Fb",        // combining grapheme joiner
       }) {
    EXPECT_REFUSED(name, "invisible characters");
  }
}

TEST(NicknameTest, UnassignedRefused) {
  EXPECT_REFUSED("ab\u0378", "not assigned");
  EXPECT_REFUSED("ab\uFFFF", "not assigned");  // noncharacter
  EXPECT_REFUSED("ab\U0002FFFD", "not assigned");
}

TEST(NicknameTest, PrivateUseRefused) {
  EXPECT_REFUSED("\uE000ab", "private-use");
  EXPECT_REFUSED("ab\U000F0000", "private-use");
  EXPECT_REFUSED("ab\U0010FFFD", "private-use");
}

TEST(NicknameTest, LineAndParagraphSeparatorsRefused) {
  EXPECT_REFUSED("a\u2028b", "line breaks");
  EXPECT_REFUSED("a\u2029b", "line breaks");
}

TEST(NicknameTest, OnlyOrdinarySpaceAllowed) {
  EXPECT_EQ(accept("a b").display, "a b");
  EXPECT_REFUSED("a\u00A0b", "ordinary space");    // no-break space
  EXPECT_REFUSED("철\u3000수", "ordinary space");  // ideographic space
  EXPECT_REFUSED("a\u2002b", "ordinary space");    // en space
  EXPECT_REFUSED("a\u2009b", "ordinary space");    // thin space
  EXPECT_REFUSED("a\u1680b", "ordinary space");    // ogham space mark
}

TEST(NicknameTest, LeadingTrailingAndDoubleSpacesRefused) {
  EXPECT_REFUSED(" ab", "begin or end with a space");
  EXPECT_REFUSED("ab ", "begin or end with a space");
  EXPECT_REFUSED("  ", "begin or end with a space");
  EXPECT_REFUSED("a  b", "two spaces in a row");
  EXPECT_EQ(accept("a b c").display, "a b c");
}

TEST(NicknameTest, LengthCountsHangulSyllables) {
  EXPECT_EQ(accept(repeat("가", 16)).display, repeat("가", 16));
  EXPECT_REFUSED(repeat("가", 17), "at most 16 characters");
  // The same 16 syllables spelled as 48 conjoining jamo are still 16 characters.
  const nickname jamo = accept(repeat("\u1100\u1161\u11A8", 16));
  EXPECT_EQ(jamo.display, repeat("\uAC01", 16));
  EXPECT_REFUSED(repeat("\u1100\u1161\u11A8", 17), "at most 16 characters");
}

TEST(NicknameTest, TooShortRefused) {
  EXPECT_REFUSED("", "at least 2 characters");
  EXPECT_REFUSED("a", "at least 2 characters");
  EXPECT_REFUSED("김", "at least 2 characters");
  EXPECT_REFUSED("e\u0301", "at least 2 characters");  // one grapheme, two code points
  EXPECT_EQ(accept("김밥").display, "김밥");
}

TEST(NicknameTest, EmojiCountAsOneCharacter) {
  const nickname_rules one{1, 1};
  EXPECT_EQ(accept("\U0001F44D\U0001F3FD", one).display, "\U0001F44D\U0001F3FD");  // 👍🏽
  EXPECT_NE(refusal("\U0001F44D\U0001F3FD\U0001F44D", one).find("at most 1 character long"),
            std::string::npos);
  EXPECT_EQ(accept("\U0001F1F0\U0001F1F7", one).display, "\U0001F1F0\U0001F1F7");  // 🇰🇷
}

TEST(NicknameTest, VariationSelectorAllowedButNotPartOfKey) {
  const nickname heart = accept("\u2764\uFE0F\u2764\uFE0F");  // ❤️❤️
  EXPECT_EQ(heart.display, "\u2764\uFE0F\u2764\uFE0F");
  EXPECT_EQ(heart.key, accept("\u2764\u2764").key);
}

TEST(NicknameTest, ZwjEmojiSequencesRefused) {
  // A consequence of refusing every zero-width joiner: family and profession emoji are out.
  EXPECT_REFUSED("\U0001F468\u200D\U0001F469\u200D\U0001F467ab", "invisible characters");
}

TEST(NicknameTest, HugeGraphemesRefusedAsTooLong) {
  // One "character" carrying 40 combining marks: 81 bytes, over the 64-byte budget per char.
  const nickname_rules one{1, 1};
  EXPECT_NE(refusal(repeat("\u0301", 40, "a"), one).find("at most 1 character long"),
            std::string::npos);
  EXPECT_EQ(accept(repeat("\u0301", 3, "a"), one).display, "\u00E1\u0301\u0301");
}

TEST(NicknameTest, CustomRules) {
  const nickname_rules rules{3, 5};
  EXPECT_NE(refusal("ab", rules).find("at least 3 characters"), std::string::npos);
  EXPECT_EQ(accept("abc", rules).key, "abc");
  EXPECT_EQ(accept("마라탕면a", rules).key, "마라탕면a");
  EXPECT_NE(refusal("abcdef", rules).find("at most 5 characters"), std::string::npos);
  EXPECT_NE(refusal("마라탕마라탕", rules).find("at most 5 characters"), std::string::npos);
}

TEST(NicknameTest, KeysDistinguishDifferentNames) {
  EXPECT_NE(accept("김철수").key, accept("김철호").key);
  EXPECT_NE(accept("Zoe").key, accept("Zo\u00EB").key);
}

}  // namespace
}  // namespace maratang::core
