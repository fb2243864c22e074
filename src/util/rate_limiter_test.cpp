#include "util/rate_limiter.hpp"

#include <gtest/gtest.h>

namespace maratang::util {
namespace {

using namespace std::chrono_literals;

TEST(rate_limiter, allows_a_burst_then_the_rate) {
  manual_clock clk;
  rate_limiter rl(clk, 2, 3);
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(rl.allow("a")) << i;
  EXPECT_FALSE(rl.allow("a"));
  EXPECT_TRUE(rl.allow("b"));  // keys are independent
  clk.advance(499ms);
  EXPECT_FALSE(rl.allow("a"));
  clk.advance(1ms);
  EXPECT_TRUE(rl.allow("a"));
  EXPECT_FALSE(rl.allow("a"));
  clk.advance(10s);  // refills up to the burst only
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(rl.allow("a")) << i;
  EXPECT_FALSE(rl.allow("a"));
}

TEST(rate_limiter, zero_rate_means_unlimited) {
  manual_clock clk;
  rate_limiter rl(clk, 0, 1);
  EXPECT_FALSE(rl.enabled());
  for (int i = 0; i < 1000; ++i)
    ASSERT_TRUE(rl.allow("a"));
}

TEST(rate_limiter, key_table_is_bounded_and_forgets_refilled_buckets) {
  manual_clock clk;
  rate_limiter rl(clk, 1, 1, 2);
  EXPECT_TRUE(rl.allow("a"));
  EXPECT_TRUE(rl.allow("b"));
  EXPECT_FALSE(rl.allow("c"));  // full of busy buckets: newcomers wait
  clk.advance(1s);              // a and b refilled: forgettable
  EXPECT_TRUE(rl.allow("c"));
}

}  // namespace
}  // namespace maratang::util
