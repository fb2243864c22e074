#include "core/backoff_limiter.hpp"

#include <gtest/gtest.h>

#include <string>

namespace maratang::core {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

backoff_options opts(int free = 5) {
  backoff_options o;
  o.free_attempts = free;
  o.base_delay = 1s;
  o.max_delay = 8s;
  o.window = 60s;
  o.max_keys = 100;
  return o;
}

TEST(backoff_limiter, free_attempts_then_doubling_waits_up_to_the_cap) {
  manual_clock clk;
  backoff_limiter l(clk, opts());
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(l.acquire("a"), 0ms) << i;
  // The fifth attempt blocks for 1 s; refused attempts are not counted and wait no longer.
  EXPECT_EQ(l.acquire("a"), 1000ms);
  clk.advance(400ms);
  EXPECT_EQ(l.acquire("a"), 600ms);
  EXPECT_EQ(l.acquire("b"), 0ms) << "keys are independent";
  clk.advance(600ms);
  EXPECT_EQ(l.acquire("a"), 0ms);  // the sixth: blocks 2 s
  EXPECT_EQ(l.acquire("a"), 2000ms);
  clk.advance(2s);
  EXPECT_EQ(l.acquire("a"), 0ms);  // 4 s
  clk.advance(4s);
  EXPECT_EQ(l.acquire("a"), 0ms);  // 8 s, the cap
  clk.advance(8s);
  EXPECT_EQ(l.acquire("a"), 0ms);  // still 8 s
  EXPECT_EQ(l.acquire("a"), 8000ms);
}

TEST(backoff_limiter, reset_clears_and_forgive_uncounts) {
  manual_clock clk;
  backoff_limiter l(clk, opts(3));
  EXPECT_EQ(l.acquire("a"), 0ms);
  EXPECT_EQ(l.acquire("a"), 0ms);
  l.forgive("a");  // the second attempt succeeded: one counted failure left
  EXPECT_EQ(l.acquire("a"), 0ms);
  EXPECT_EQ(l.acquire("a"), 0ms);  // third counted: blocked
  EXPECT_GT(l.acquire("a"), 0ms);
  l.reset("a");  // a successful login to the account
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(l.acquire("a"), 0ms) << i;
  EXPECT_GT(l.acquire("a"), 0ms);
}

TEST(backoff_limiter, failures_are_forgotten_after_the_window) {
  manual_clock clk;
  backoff_limiter l(clk, opts(3));
  EXPECT_EQ(l.acquire("a"), 0ms);
  EXPECT_EQ(l.acquire("a"), 0ms);
  clk.advance(60s);
  EXPECT_EQ(l.acquire("a"), 0ms);  // counts as the first again
  EXPECT_EQ(l.acquire("a"), 0ms);
  EXPECT_EQ(l.acquire("a"), 0ms);  // the third: now blocked
  EXPECT_EQ(l.acquire("a"), 1000ms);
}

TEST(backoff_limiter, zero_free_attempts_means_off) {
  manual_clock clk;
  backoff_limiter l(clk, opts(0));
  EXPECT_FALSE(l.enabled());
  for (int i = 0; i < 1000; ++i)
    ASSERT_EQ(l.acquire("a"), 0ms);
  EXPECT_EQ(l.size(), 0u);
}

TEST(backoff_limiter, memory_is_bounded_and_old_keys_expire) {
  manual_clock clk;
  backoff_limiter l(clk, opts(2));
  for (int i = 0; i < 1000; ++i)
    l.acquire("k" + std::to_string(i));
  EXPECT_EQ(l.size(), 100u) << "at most max_keys, the least recently used evicted";
  // A key in use stays while newer ones push the cold ones out.
  l.acquire("hot");
  l.acquire("hot");  // blocked now
  for (int i = 0; i < 99; ++i) {
    l.acquire("n" + std::to_string(i));
    EXPECT_GT(l.acquire("hot"), 0ms) << i;
  }
  EXPECT_EQ(l.size(), 100u);
  // After the window every idle entry is stale and goes as soon as a new key comes.
  clk.advance(61s);
  l.acquire("fresh");
  EXPECT_EQ(l.size(), 1u);
}

TEST(backoff_limiter, address_keys) {
  EXPECT_EQ(address_key("203.0.113.7"), "203.0.113.7");
  EXPECT_EQ(address_key("::ffff:203.0.113.7"), "203.0.113.7");
  EXPECT_EQ(address_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64");
  EXPECT_EQ(address_key("2001:db8:1:2::1"), address_key("2001:db8:1:2:ffff::9"));
  EXPECT_NE(address_key("2001:db8:1:2::1"), address_key("2001:db8:1:3::1"));
  EXPECT_EQ(address_key(""), "");
}

}  // namespace
}  // namespace maratang::core
