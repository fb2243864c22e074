// Rate limits for repeated log lines, so that a condition that repeats per frame, per connection
// or per failed accept cannot flood the log: at most `burst` lines per key in each `interval`, and
// the first line let through after some were held back says how many. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace maratang::util {

class log_limiter {
 public:
  using clock_type = std::chrono::steady_clock;

  log_limiter(int burst, clock_type::duration interval) : burst_(burst), interval_(interval) {}

  // Whether a line for `key` may be written at `now`. When it may, `suppressed` is set to the
  // number of lines for that key held back since the last one written. Keys are a small fixed
  // set (a kind of event, never a connection or an address): each is kept for good.
  bool allow(std::string_view key, std::uint64_t& suppressed,
             clock_type::time_point now = clock_type::now()) {
    std::lock_guard lock(mu_);
    auto it = keys_.find(key);
    if (it == keys_.end()) it = keys_.emplace(std::string(key), state{}).first;
    auto& s = it->second;
    if (s.lines == 0 || now - s.window_start >= interval_) {
      s.window_start = now;
      s.lines = 0;
    }
    if (s.lines < burst_) {
      ++s.lines;
      suppressed = s.suppressed;
      s.suppressed = 0;
      return true;
    }
    ++s.suppressed;
    return false;
  }

 private:
  struct state {
    clock_type::time_point window_start{};
    int lines = 0;                 // written in the current window
    std::uint64_t suppressed = 0;  // held back since the last line written
  };
  std::mutex mu_;
  const int burst_;
  const clock_type::duration interval_;
  std::map<std::string, state, std::less<>> keys_;  // GUARDED_BY(mu_)
};

// "" or " (N similar lines suppressed)", to append to the line that was let through.
inline std::string suppressed_note(std::uint64_t n) {
  if (n == 0) return {};
  return " (" + std::to_string(n) + (n == 1 ? " similar line" : " similar lines") + " suppressed)";
}

}  // namespace maratang::util
