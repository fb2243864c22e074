// Prometheus metrics: lock-free counters, gauges and histograms, rendered in the text exposition
// format by GET /metrics. No Prometheus client library is packaged in Debian, and the format is
// small, so it is written here. Every method is thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "util/error.hpp"

namespace maratang::obs {

class histogram {
 public:
  // Bucket upper bounds in seconds, ascending.
  explicit histogram(std::vector<double> bounds);
  void observe(double seconds) noexcept;
  // Appends the series `name{labels}` in text format.
  void render(std::string& out, const std::string& name) const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // one per bound, plus +Inf
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_ns_{0};
};

// The server's metrics. One instance, created at start-up, shared by reference.
class metrics {
 public:
  metrics();

  std::atomic<std::int64_t> connections_open{0};  // WebSocket connections
  std::atomic<std::int64_t> http_connections_open{0};
  std::atomic<std::uint64_t> connections_total{0};
  std::atomic<std::uint64_t> messages_in{0};
  std::atomic<std::uint64_t> messages_out{0};
  std::atomic<std::uint64_t> bytes_out{0};
  std::atomic<std::uint64_t> writes_out{0};  // WebSocket messages written (a batch is one)
  std::atomic<std::uint64_t> http_requests{0};
  std::atomic<std::uint64_t> slow_consumer_drops{0};
  std::atomic<std::uint64_t> sessions_replaced{0};
  std::atomic<std::uint64_t> mode_crashes{0};
  std::atomic<std::uint64_t> room_snapshots{0};  // game snapshots handed to storage
  std::atomic<std::uint64_t> rooms_restored{0};  // rooms whose game a start-up restored
  histogram handshake_seconds;                   // TCP accept -> WebSocket open
  histogram request_seconds;                     // HTTP request read -> response written
  histogram frame_seconds;                       // WebSocket frame read -> handled
  histogram timer_lateness_seconds;              // a mode timer's deadline -> its callback running

  void count_error(errc code) noexcept;

  // Adds a function that appends dynamic series (rooms by mode, storage queue) when rendering.
  void add_collector(std::function<void(std::string&)> fn);
  std::string render() const;

 private:
  static constexpr std::size_t kCodes = static_cast<std::size_t>(errc::internal) + 1;
  std::array<std::atomic<std::uint64_t>, kCodes> errors_{};
  mutable std::mutex mu_;
  std::vector<std::function<void(std::string&)>> collectors_;  // GUARDED_BY(mu_)
};

}  // namespace maratang::obs
