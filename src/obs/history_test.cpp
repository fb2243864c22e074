// metrics_history: reads its series from the Prometheus text /metrics renders, keeps counters as
// rates, and keeps only the last `keep` samples.
#include "obs/history.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace maratang::obs {
namespace {

namespace json = boost::json;

std::string exposition(double conns, double msgs, double errs_a, double errs_b) {
  return "# HELP maratang_ws_connections Open.\n# TYPE maratang_ws_connections gauge\n"
         "maratang_ws_connections " +
         std::to_string(conns) +
         "\n"
         "maratang_messages_in_total " +
         std::to_string(msgs) +
         "\n"
         "maratang_errors_total{code=\"bad_json\"} " +
         std::to_string(errs_a) + "\nmaratang_errors_total{code=\"rate_limited\"} " +
         std::to_string(errs_b) +
         "\n"
         "maratang_rooms{mode=\"mafia\",state=\"waiting\"} 2\n"
         "maratang_rooms{mode=\"mafia\",state=\"playing\"} 3\n"
         // A family whose name starts like a kept one is not counted in it.
         "maratang_ws_connections_total 999\n"
         "maratang_messages_in_total_bogus 5\n";
}

json::array series(const metrics_history& h, std::int64_t now, const char* name, int minutes = 60) {
  return json::parse(h.json(now, minutes)).at("series").at(name).as_array();
}

TEST(metrics_history, gauges_are_summed_over_labels_and_counters_become_rates) {
  metrics_history h(10, 360);
  h.sample(10'000, exposition(4, 100, 1, 2), 5'000'000);
  h.sample(20'000, exposition(6, 300, 3, 10), 6'000'000);
  auto conns = series(h, 20'000, "ws_connections");
  ASSERT_EQ(conns.size(), 2u);
  EXPECT_EQ(conns[0].as_array()[0].as_int64(), 10'000);
  EXPECT_EQ(conns[0].as_array()[1].as_double(), 4.0);
  EXPECT_EQ(conns[1].as_array()[1].as_double(), 6.0);
  EXPECT_EQ(series(h, 20'000, "rooms")[1].as_array()[1].as_double(), 5.0);
  auto msgs = series(h, 20'000, "messages_in_per_s");
  EXPECT_EQ(msgs[0].as_array()[1].as_double(), 0.0) << "no rate from one sample";
  EXPECT_EQ(msgs[1].as_array()[1].as_double(), 20.0) << "200 messages over 10 s";
  EXPECT_EQ(series(h, 20'000, "errors_per_s")[1].as_array()[1].as_double(), 1.0);
  EXPECT_EQ(series(h, 20'000, "rss_bytes")[1].as_array()[1].as_double(), 6'000'000.0);
}

TEST(metrics_history, a_counter_that_goes_back_gives_no_negative_rate) {
  metrics_history h(10, 360);
  h.sample(10'000, exposition(0, 500, 0, 0), 0);
  h.sample(20'000, exposition(0, 100, 0, 0), 0);
  EXPECT_EQ(series(h, 20'000, "messages_in_per_s")[1].as_array()[1].as_double(), 0.0);
}

TEST(metrics_history, keeps_the_last_samples_and_answers_the_minutes_asked) {
  metrics_history h(10, 5);
  for (int i = 1; i <= 8; ++i)
    h.sample(i * 60'000, exposition(i, 0, 0, 0), 0);
  auto all = series(h, 8 * 60'000, "ws_connections");
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all.front().as_array()[1].as_double(), 4.0);
  EXPECT_EQ(all.back().as_array()[1].as_double(), 8.0);
  EXPECT_EQ(series(h, 8 * 60'000, "ws_connections", 2).size(), 3u) << "minutes 6, 7 and 8";
}

TEST(metrics_history, malformed_lines_are_skipped) {
  metrics_history h(10, 5);
  h.sample(
      1000,
      "maratang_ws_connections\nmaratang_ws_connections abc\n\n#x\nmaratang_ws_connections 3\n", 0);
  EXPECT_EQ(series(h, 1000, "ws_connections")[0].as_array()[1].as_double(), 3.0);
}

TEST(metrics_history, resident_bytes_reads_this_process) {
  EXPECT_GT(resident_bytes(), 1 << 20);
}

}  // namespace
}  // namespace maratang::obs
