#include "competition/season.hpp"

#include <gtest/gtest.h>

namespace maratang::competition {
namespace {

// 2026-12-03T16:05:00Z and friends, in ms since the epoch.
constexpr std::int64_t dec1 = 1796083200000;  // 2026-12-01T00:00:00Z (a Tuesday)
constexpr std::int64_t day = 86'400'000;
constexpr std::int64_t now = dec1 + 2 * day + 16 * 3'600'000 + 5 * 60'000;

TEST(season_schedule, monthly) {
  auto s = season_schedule::parse("0 0 1 * *").value();
  EXPECT_EQ(s.season_of(now), dec1);
  EXPECT_EQ(s.season_of(dec1), dec1);
  EXPECT_EQ(s.season_of(dec1 - 1), dec1 - 30 * day);  // 2026-11-01
  EXPECT_EQ(s.next_after(now), dec1 + 31 * day);      // 2027-01-01
  EXPECT_EQ(s.next_after(dec1), dec1 + 31 * day);
}

TEST(season_schedule, weekly_on_monday_and_steps) {
  auto s = season_schedule::parse("30 6 * * 1").value();
  // The Monday before Thursday 2026-12-03 is 2026-11-30.
  EXPECT_EQ(s.season_of(now), dec1 - day + 6 * 3'600'000 + 30 * 60'000);
  EXPECT_EQ(s.next_after(now), dec1 + 6 * day + 6 * 3'600'000 + 30 * 60'000);
  auto h = season_schedule::parse("*/15 */6 * * *").value();
  EXPECT_EQ(h.season_of(now), dec1 + 2 * day + 12 * 3'600'000 + 45 * 60'000);
  EXPECT_EQ(h.next_after(now), dec1 + 2 * day + 18 * 3'600'000);
  // Both day fields restricted: either matches (the 15th, or any Sunday).
  auto both = season_schedule::parse("0 0 15 * 0,7").value();
  EXPECT_EQ(both.next_after(now), dec1 + 5 * day);  // Sunday 2026-12-06
}

TEST(season_schedule, never_is_one_season) {
  auto s = season_schedule::parse("").value();
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.season_of(now), 0);
  EXPECT_EQ(s.next_after(now), 0);
  EXPECT_EQ(season_schedule::parse("never").value().season_of(now), 0);
}

TEST(season_schedule, bad_expressions_say_what_is_wrong) {
  for (const char* bad : {"0 0 1 *", "61 0 1 * *", "0 24 * * *", "0 0 0 * *", "0 0 * 13 *",
                          "0 0 * * 8", "a 0 * * *", "0 0 5-2 * *", "*/0 0 * * *", "0 0 1 * * *"}) {
    auto r = season_schedule::parse(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, errc::bad_field) << bad;
    EXPECT_NE(r.error().message.find("season schedule"), std::string::npos) << bad;
  }
}

}  // namespace
}  // namespace maratang::competition
