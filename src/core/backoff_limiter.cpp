#include "core/backoff_limiter.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>

namespace maratang::core {

backoff_limiter::backoff_limiter(const clock& clk, backoff_options opts)
    : clock_(clk), opts_(opts) {
  opts_.max_keys = std::max<std::size_t>(opts_.max_keys, 1);
}

bool backoff_limiter::stale(const entry& e, time_point now) const {
  return now >= e.blocked_until && now - e.last >= opts_.window;
}

std::chrono::milliseconds backoff_limiter::acquire(const std::string& key) {
  using std::chrono::milliseconds;
  if (!enabled()) return milliseconds{0};
  const auto now = clock_.steady_now();
  std::lock_guard lk(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    // Expired entries sit at the cold end; then, if still full, the least recently used goes.
    while (!lru_.empty() &&
           (entries_.size() >= opts_.max_keys || stale(entries_.at(lru_.back()), now))) {
      entries_.erase(lru_.back());
      lru_.pop_back();
    }
    lru_.push_front(key);
    it = entries_.emplace(key, entry{}).first;
    it->second.lru = lru_.begin();
  } else {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
  }
  entry& e = it->second;
  if (now < e.blocked_until) {
    return std::chrono::ceil<milliseconds>(e.blocked_until - now);
  }
  if (now - e.last >= opts_.window) e.count = 0;
  ++e.count;
  e.last = now;
  if (e.count >= opts_.free_attempts) {
    const int doublings = std::min(e.count - opts_.free_attempts, 30);
    const auto delay =
        std::min<milliseconds>(opts_.max_delay, opts_.base_delay * (1LL << doublings));
    e.blocked_until = now + delay;
  }
  return milliseconds{0};
}

void backoff_limiter::forgive(const std::string& key) {
  std::lock_guard lk(mu_);
  if (auto it = entries_.find(key); it != entries_.end() && it->second.count > 0) {
    --it->second.count;
  }
}

void backoff_limiter::reset(const std::string& key) {
  std::lock_guard lk(mu_);
  if (auto it = entries_.find(key); it != entries_.end()) {
    lru_.erase(it->second.lru);
    entries_.erase(it);
  }
}

std::size_t backoff_limiter::size() const {
  std::lock_guard lk(mu_);
  return entries_.size();
}

std::string address_key(const std::string& remote) {
  std::array<unsigned char, 16> a{};
  if (remote.find(':') == std::string::npos || ::inet_pton(AF_INET6, remote.c_str(), a.data()) != 1)
    return remote;
  static constexpr unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(std::begin(mapped), std::end(mapped), a.begin())) {
    char buf[INET_ADDRSTRLEN];
    if (::inet_ntop(AF_INET, a.data() + 12, buf, sizeof buf)) return buf;
    return remote;
  }
  std::fill(a.begin() + 8, a.end(), 0);
  char buf[INET6_ADDRSTRLEN];
  if (!::inet_ntop(AF_INET6, a.data(), buf, sizeof buf)) return remote;
  return std::string(buf) + "/64";
}

}  // namespace maratang::core
