#include "traces/http_cache.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace maratang::traces {
namespace {

using namespace std::chrono_literals;

TEST(http_cache, gzip_round_trips_and_shrinks_repetitive_json) {
  std::string json = "{\"objects\":[";
  for (int i = 0; i < 500; ++i)
    json += "{\"id\":" + std::to_string(i) + ",\"u_uuid\":\"user\"},";
  json += "{}]}";
  auto z = gzip(json);
  EXPECT_LT(z.size(), json.size() / 4);
  EXPECT_EQ(static_cast<unsigned char>(z[0]), 0x1f);  // gzip magic
  EXPECT_EQ(static_cast<unsigned char>(z[1]), 0x8b);
  std::string back;
  ASSERT_TRUE(gunzip(z, back));
  EXPECT_EQ(back, json);
  EXPECT_FALSE(gunzip("not gzip", back));
  EXPECT_FALSE(gunzip(z.substr(0, z.size() / 2), back));
}

TEST(http_cache, accept_encoding_negotiation) {
  EXPECT_TRUE(accepts_gzip("gzip"));
  EXPECT_TRUE(accepts_gzip("gzip, deflate, br"));
  EXPECT_TRUE(accepts_gzip("deflate, GZIP;q=0.5"));
  EXPECT_TRUE(accepts_gzip("*"));
  EXPECT_TRUE(accepts_gzip("x-gzip"));
  EXPECT_FALSE(accepts_gzip(""));
  EXPECT_FALSE(accepts_gzip("identity"));
  EXPECT_FALSE(accepts_gzip("br, deflate"));
  EXPECT_FALSE(accepts_gzip("gzip;q=0"));
  EXPECT_FALSE(accepts_gzip("*, gzip;q=0"));
  EXPECT_FALSE(accepts_gzip("*;q=0"));
  EXPECT_FALSE(accepts_gzip("gzipper"));
}

TEST(http_cache, etags_and_if_none_match) {
  auto a = etag_of("{\"a\":1}");
  auto b = etag_of("{\"a\":2}");
  EXPECT_NE(a, b);
  EXPECT_EQ(a, etag_of("{\"a\":1}"));
  EXPECT_EQ(a.front(), '"');
  EXPECT_EQ(a.back(), '"');
  EXPECT_TRUE(etag_matches(a, a));
  EXPECT_TRUE(etag_matches("\"x\", " + a, a));
  EXPECT_TRUE(etag_matches("W/" + a, a));
  EXPECT_TRUE(etag_matches("*", a));
  EXPECT_FALSE(etag_matches(b, a));
  EXPECT_FALSE(etag_matches("", a));
  auto s = make_snapshot("{\"a\":1}");
  EXPECT_EQ(s->etag, a);
  EXPECT_NE(s->etag_gzip, s->etag);
  std::string back;
  ASSERT_TRUE(gunzip(*s->gzip, back));
  EXPECT_EQ(back, *s->json);
}

// A filler that records its callbacks, to complete them when the test says so.
struct pending_fills {
  std::vector<snapshot_cache::ready> calls;
  snapshot_cache::filler filler() {
    return [this](snapshot_cache::ready r) { calls.push_back(std::move(r)); };
  }
};

TEST(snapshot_cache, concurrent_misses_fill_once_and_all_get_the_result) {
  manual_clock clk;
  snapshot_cache cache(clk, 30s, 100);
  pending_fills fills;
  std::vector<std::string> got;
  for (int i = 0; i < 5; ++i) {
    cache.get(
        "a", "compat", [&](std::shared_ptr<const snapshot> s) { got.push_back(*s->json); },
        fills.filler());
  }
  ASSERT_EQ(fills.calls.size(), 1u);
  EXPECT_TRUE(got.empty());
  fills.calls[0](make_snapshot("{\"n\":1}"));
  EXPECT_EQ(got, std::vector<std::string>(5, "{\"n\":1}"));
  // Now a hit, without filling.
  cache.get(
      "a", "compat", [&](std::shared_ptr<const snapshot> s) { got.push_back(*s->json); },
      fills.filler());
  EXPECT_EQ(fills.calls.size(), 1u);
  EXPECT_EQ(got.size(), 6u);
  auto st = cache.stats();
  EXPECT_EQ(st.fills, 1u);
  EXPECT_EQ(st.hits, 1u);
  EXPECT_EQ(st.waits, 4u);
}

TEST(snapshot_cache, find_returns_only_fresh_snapshots_and_never_fills) {
  manual_clock clk;
  snapshot_cache cache(clk, 30s, 100);
  pending_fills fills;
  EXPECT_EQ(cache.find("a", "v"), nullptr);
  cache.get(
      "a", "v", [](std::shared_ptr<const snapshot>) {}, fills.filler());
  EXPECT_EQ(cache.find("a", "v"), nullptr);  // still filling
  fills.calls[0](make_snapshot("x"));
  auto hit = cache.find("a", "v");
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(*hit->json, "x");
  EXPECT_EQ(cache.find("a", "other"), nullptr);
  cache.invalidate("a");
  EXPECT_EQ(cache.find("a", "v"), nullptr);
  cache.get(
      "a", "v", [](std::shared_ptr<const snapshot>) {}, fills.filler());
  fills.calls[1](make_snapshot("y"));
  ASSERT_NE(cache.find("a", "v"), nullptr);
  clk.advance(30s);
  EXPECT_EQ(cache.find("a", "v"), nullptr);
  EXPECT_EQ(fills.calls.size(), 2u);
  EXPECT_EQ(cache.stats().hits, 2u);
}

TEST(snapshot_cache, expires_after_max_age) {
  manual_clock clk;
  snapshot_cache cache(clk, 30s, 100);
  pending_fills fills;
  int served = 0;
  auto use = [&](std::shared_ptr<const snapshot> s) { served += s != nullptr; };
  cache.get("a", "v", use, fills.filler());
  fills.calls.back()(make_snapshot("1"));
  clk.advance(29999ms);
  cache.get("a", "v", use, fills.filler());
  EXPECT_EQ(fills.calls.size(), 1u);
  clk.advance(1ms);
  cache.get("a", "v", use, fills.filler());
  EXPECT_EQ(fills.calls.size(), 2u);
  fills.calls.back()(make_snapshot("2"));
  EXPECT_EQ(served, 3);
}

TEST(snapshot_cache, invalidation_is_per_area_and_covers_fills_in_flight) {
  manual_clock clk;
  snapshot_cache cache(clk, 30s, 100);
  pending_fills fills;
  auto use = [](std::shared_ptr<const snapshot>) {};
  cache.get("a", "v", use, fills.filler());
  cache.get("b", "v", use, fills.filler());
  fills.calls[0](make_snapshot("a1"));
  fills.calls[1](make_snapshot("b1"));
  cache.invalidate("a");
  cache.get("b", "v", use, fills.filler());  // still fresh
  EXPECT_EQ(fills.calls.size(), 2u);
  cache.get("a", "v", use, fills.filler());  // stale: refills
  ASSERT_EQ(fills.calls.size(), 3u);
  // A trace arrives while the fill runs: what it read may predate it, so it is stale at once.
  cache.invalidate("a");
  fills.calls[2](make_snapshot("a2"));
  cache.get("a", "v", use, fills.filler());
  EXPECT_EQ(fills.calls.size(), 4u);
  fills.calls[3](make_snapshot("a3"));
  cache.invalidate_all();
  cache.get("b", "v", use, fills.filler());
  EXPECT_EQ(fills.calls.size(), 5u);
}

TEST(snapshot_cache, a_failed_fill_reaches_every_waiter_and_the_next_call_retries) {
  manual_clock clk;
  snapshot_cache cache(clk, 30s, 100);
  pending_fills fills;
  int nulls = 0;
  auto use = [&](std::shared_ptr<const snapshot> s) { nulls += s == nullptr; };
  cache.get("a", "v", use, fills.filler());
  cache.get("a", "v", use, fills.filler());
  fills.calls[0](nullptr);
  EXPECT_EQ(nulls, 2);
  cache.get("a", "v", use, fills.filler());
  EXPECT_EQ(fills.calls.size(), 2u);
}

TEST(snapshot_cache, fills_once_under_threads) {
  manual_clock clk;
  snapshot_cache cache(clk, 30s, 100);
  std::atomic<int> fills{0}, served{0};
  std::mutex mu;
  std::vector<snapshot_cache::ready> pending;
  auto filler = [&](snapshot_cache::ready r) {
    fills++;
    std::lock_guard lk(mu);
    pending.push_back(std::move(r));
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i)
        cache.get(
            "a", "v", [&](std::shared_ptr<const snapshot>) { served++; }, filler);
    });
  }
  for (auto& t : threads)
    t.join();
  ASSERT_EQ(fills.load(), 1);
  pending[0](make_snapshot("x"));
  EXPECT_EQ(served.load(), 800);
}

TEST(snapshot_cache, area_generations_are_bounded_without_reviving_old_snapshots) {
  manual_clock clk;
  snapshot_cache cache(clk, 30s, 2);
  pending_fills fills;
  auto use = [](std::shared_ptr<const snapshot>) {};
  cache.invalidate("a");
  cache.get("a", "v", use, fills.filler());
  fills.calls.back()(make_snapshot("a1"));  // stamped with a's generation, 1
  ASSERT_NE(cache.find("a", "v"), nullptr);
  cache.invalidate("b");
  cache.invalidate("c");  // a third area: the counts are reset
  // a's count restarts, but its old snapshot must not match any later generation.
  EXPECT_EQ(cache.find("a", "v"), nullptr);
  cache.invalidate("a");
  EXPECT_EQ(cache.find("a", "v"), nullptr);
}

TEST(snapshot_cache, entries_are_bounded) {
  manual_clock clk;
  snapshot_cache cache(clk, 30s, 3);
  pending_fills fills;
  auto use = [](std::shared_ptr<const snapshot>) {};
  for (int i = 0; i < 3; ++i) {
    cache.get("a" + std::to_string(i), "v", use, fills.filler());
    fills.calls.back()(make_snapshot("x"));
  }
  cache.get("a3", "v", use, fills.filler());  // drops the idle ones
  fills.calls.back()(make_snapshot("x"));
  cache.get("a0", "v", use, fills.filler());
  EXPECT_EQ(fills.calls.size(), 5u);  // a0 was dropped and refilled
}

}  // namespace
}  // namespace maratang::traces
