// The injected source of time. Production uses system_clock(); tests use manual_clock to control
// time exactly. Thread-safe: any thread may call any method.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace maratang {

// Milliseconds since the Unix epoch: the unit of every absolute time on the wire.
using epoch_ms = std::int64_t;

class clock {
 public:
  virtual ~clock() = default;
  // Wall-clock time, ms since the epoch. May jump when the host clock is adjusted.
  virtual epoch_ms now_ms() const = 0;
  // Monotonic time for measuring intervals and arming timers.
  virtual std::chrono::steady_clock::time_point steady_now() const = 0;
};

// The real clocks.
class system_clock final : public clock {
 public:
  epoch_ms now_ms() const override;
  std::chrono::steady_clock::time_point steady_now() const override;
};

// A clock that moves only when told to. Both readings advance together.
class manual_clock final : public clock {
 public:
  explicit manual_clock(epoch_ms start = 1'700'000'000'000) : ms_(start) {}
  epoch_ms now_ms() const override { return ms_.load(); }
  std::chrono::steady_clock::time_point steady_now() const override;
  void advance(std::chrono::milliseconds d) { ms_ += d.count(); }

 private:
  std::atomic<epoch_ms> ms_;
};

// The process-wide real clock.
const clock& real_clock() noexcept;

}  // namespace maratang
