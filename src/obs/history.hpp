// The main metrics over the last hour, for the admin console's charts (GET /v1/admin/metrics):
// every interval, the composition root hands a rendering of /metrics to sample(), which keeps a
// few series from it in a ring. Counters are kept as rates (per second since the sample before).
// Reading the exposition text, rather than the counters themselves, keeps this free of every
// collector's internals: whatever /metrics shows, the history can show. Thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace maratang::obs {

class metrics_history {
 public:
  // `keep` samples are kept: keep × interval_s seconds of history.
  explicit metrics_history(int interval_s = 10, std::size_t keep = 360);

  int interval_s() const noexcept { return interval_s_; }
  // One sample taken at `now_ms`: the series below, read from `exposition` (Prometheus text
  // format, every sample of a family summed over its labels), and the process's resident memory.
  void sample(std::int64_t now_ms, std::string_view exposition, std::int64_t rss_bytes);
  // {"interval_s": n, "series": {name: [[at_ms, value], ...]}}, oldest first, the samples of the
  // last `minutes`.
  std::string json(std::int64_t now_ms, int minutes) const;

  // The series, by name, and the metric family each is read from ("" for rss_bytes).
  struct series_spec {
    std::string_view name;
    std::string_view family;
    bool rate;  // a counter, shown per second
  };
  static const std::vector<series_spec>& series();

 private:
  struct point {
    std::int64_t at = 0;
    std::vector<double> values;  // one per series(), in that order
  };
  const int interval_s_;
  const std::size_t keep_;
  mutable std::mutex mu_;
  std::deque<point> points_;         // GUARDED_BY(mu_)
  std::vector<double> last_totals_;  // GUARDED_BY(mu_): counters at the last sample
  std::int64_t last_at_ = 0;         // GUARDED_BY(mu_)
};

// The resident set size of this process in bytes (from /proc/self/statm; 0 when unreadable).
std::int64_t resident_bytes();

}  // namespace maratang::obs
