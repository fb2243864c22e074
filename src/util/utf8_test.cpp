#include "util/utf8.hpp"

#include <gtest/gtest.h>

#include <string>

namespace maratang::util {
namespace {

// Every byte limit over a mix of 1-, 2-, 3- and 4-byte characters (Korean is 3) gives whole UTF-8,
// as long as it can, and never more than the limit.
TEST(Utf8, a_cut_by_bytes_never_splits_a_character) {
  const std::string s = "a밤é😀 마당으로 이동했다.";
  ASSERT_TRUE(utf8_valid(s));
  std::size_t last = 0;
  for (std::size_t max = 0; max <= s.size() + 2; ++max) {
    auto p = utf8_prefix_bytes(s, max);
    EXPECT_LE(p.size(), max);
    EXPECT_TRUE(utf8_valid(p)) << max;
    EXPECT_GE(p.size(), last);
    if (max < s.size()) {
      EXPECT_LT(max - p.size(), 4u) << max;  // at most one character short
    } else {
      EXPECT_EQ(p, s);
    }
    last = p.size();
  }
  EXPECT_EQ(utf8_prefix_bytes("마당", 5), "마");
  EXPECT_EQ(utf8_prefix_bytes("마당", 6), "마당");
  EXPECT_EQ(utf8_prefix_bytes("마당", 2), "");
}

TEST(Utf8, a_cut_by_characters_counts_code_points) {
  EXPECT_EQ(utf8_prefix_chars("마당으로 이동", 3), "마당으");
  EXPECT_EQ(utf8_prefix_chars("a밤é😀b", 4), "a밤é😀");
  EXPECT_EQ(utf8_prefix_chars("마당", 10), "마당");
  EXPECT_EQ(utf8_prefix_chars("마당", 0), "");
  // A malformed byte counts as one character and is never merged with what follows.
  const std::string bad = std::string("\xEB\xB0") + "x밤";
  EXPECT_EQ(utf8_prefix_chars(bad, 1), "\xEB");
  EXPECT_EQ(utf8_prefix_chars(bad, 3), std::string("\xEB\xB0") + "x");
}

TEST(Utf8, validity) {
  EXPECT_TRUE(utf8_valid(""));
  EXPECT_TRUE(utf8_valid("청운재의 긴 밤"));
  EXPECT_FALSE(utf8_valid(std::string("청운재", 8)));  // the last syllable cut
  EXPECT_FALSE(utf8_valid("\xC0\xBC"));                // overlong '<'
  EXPECT_FALSE(utf8_valid("\xED\xA0\x80"));            // a surrogate
  EXPECT_FALSE(utf8_valid("\xF4\x90\x80\x80"));        // past U+10FFFF
}

}  // namespace
}  // namespace maratang::util
