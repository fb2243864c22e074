#include "util/rate_limiter.hpp"

#include <algorithm>

namespace maratang::util {

rate_limiter::rate_limiter(const clock& clk, double rate, double burst, std::size_t max_keys)
    : clock_(clk), rate_(rate), burst_(std::max(burst, 1.0)), max_keys_(max_keys) {}

bool rate_limiter::allow(const std::string& key) {
  if (rate_ <= 0) return true;
  const auto now = clock_.steady_now();
  std::lock_guard lk(mu_);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_keys_) {
      // Forget buckets that have refilled: they are the same as new ones.
      for (auto i = buckets_.begin(); i != buckets_.end();) {
        const double secs = std::chrono::duration<double>(now - i->second.at).count();
        i = i->second.tokens + secs * rate_ >= burst_ ? buckets_.erase(i) : std::next(i);
      }
      if (buckets_.size() >= max_keys_) return false;  // under attack: refuse newcomers
    }
    it = buckets_.emplace(key, bucket{burst_, now}).first;
  }
  bucket& b = it->second;
  const double secs = std::chrono::duration<double>(now - b.at).count();
  b.tokens = std::min(burst_, b.tokens + secs * rate_);
  b.at = now;
  if (b.tokens < 1.0) return false;
  b.tokens -= 1.0;
  return true;
}

}  // namespace maratang::util
