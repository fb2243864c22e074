// Token buckets keyed by a string (an account or a client address): `rate` tokens per second up
// to `burst`. A rate of 0 disables the limit. Thread-safe; time comes from the injected clock.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

#include "util/clock.hpp"

namespace maratang::util {

class rate_limiter {
 public:
  rate_limiter(const clock& clk, double rate, double burst, std::size_t max_keys = 100'000);

  // Takes one token from `key`'s bucket: true when there was one.
  bool allow(const std::string& key);
  bool enabled() const noexcept { return rate_ > 0; }

 private:
  struct bucket {
    double tokens;
    std::chrono::steady_clock::time_point at;
  };
  const clock& clock_;
  double rate_;
  double burst_;
  std::size_t max_keys_;
  std::mutex mu_;
  std::unordered_map<std::string, bucket> buckets_;  // GUARDED_BY(mu_)
};

}  // namespace maratang::util
