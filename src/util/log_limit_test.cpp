#include "util/log_limit.hpp"

#include <gtest/gtest.h>

namespace maratang::util {
namespace {

using namespace std::chrono_literals;

TEST(log_limit, lets_burst_lines_through_per_interval_then_reports_what_it_held_back) {
  log_limiter lim(3, 10s);
  const auto t0 = log_limiter::clock_type::time_point{} + 1h;
  std::uint64_t sup = 99;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(lim.allow("accept", sup, t0 + std::chrono::seconds(i)));
    EXPECT_EQ(sup, 0u);
  }
  for (int i = 0; i < 1000; ++i)
    EXPECT_FALSE(lim.allow("accept", sup, t0 + 5s));
  // Another key has its own budget.
  EXPECT_TRUE(lim.allow("other", sup, t0 + 5s));
  EXPECT_EQ(sup, 0u);
  // The next interval lets a line through, which carries the count.
  ASSERT_TRUE(lim.allow("accept", sup, t0 + 10s));
  EXPECT_EQ(sup, 1000u);
  ASSERT_TRUE(lim.allow("accept", sup, t0 + 11s));
  EXPECT_EQ(sup, 0u);
}

TEST(log_limit, suppressed_note_names_the_count) {
  EXPECT_EQ(suppressed_note(0), "");
  EXPECT_EQ(suppressed_note(1), " (1 similar line suppressed)");
  EXPECT_EQ(suppressed_note(42), " (42 similar lines suppressed)");
}

}  // namespace
}  // namespace maratang::util
