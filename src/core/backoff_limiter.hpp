// Attempt limiter with exponential backoff, keyed by a string (an account's email, a client
// address). Each attempt counts as a failure until it is forgiven or the key is reset. The first
// `free_attempts` within a window go ahead at once; after the n-th attempt (n >= free_attempts)
// the key is blocked for base_delay * 2^(n - free_attempts), capped at max_delay, and attempts
// while blocked are refused without being counted. A key idle (and unblocked) for `window` is
// forgotten. Memory is bounded: at most `max_keys` keys, the least recently used evicted first.
// Thread-safe; time comes from the injected clock.
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

#include "util/clock.hpp"

namespace maratang::core {

struct backoff_options {
  int free_attempts = 5;  // 0: the limiter lets everything through
  std::chrono::milliseconds base_delay{1000};
  std::chrono::milliseconds max_delay{300'000};
  std::chrono::milliseconds window{900'000};
  std::size_t max_keys = 100'000;
};

class backoff_limiter {
 public:
  backoff_limiter(const clock& clk, backoff_options opts);

  // Counts an attempt for `key`. Returns 0 when it may go ahead, else how long until the key
  // may try again (the attempt is then not counted).
  std::chrono::milliseconds acquire(const std::string& key);
  // The attempt acquired for `key` did not fail: it no longer counts (a block it caused stays).
  void forgive(const std::string& key);
  // Forgets `key` (its failures and any block): a successful login to an account.
  void reset(const std::string& key);

  bool enabled() const noexcept { return opts_.free_attempts > 0; }
  std::size_t size() const;

 private:
  using time_point = std::chrono::steady_clock::time_point;
  struct entry {
    int count = 0;
    time_point last{};
    time_point blocked_until{};
    std::list<std::string>::iterator lru;
  };
  bool stale(const entry& e, time_point now) const;

  const clock& clock_;
  backoff_options opts_;
  mutable std::mutex mu_;
  std::list<std::string> lru_;                      // GUARDED_BY(mu_): most recent first
  std::unordered_map<std::string, entry> entries_;  // GUARDED_BY(mu_)
};

// The key a client address is limited under: IPv4 as is, IPv6 by its /64 prefix (one host
// usually owns a whole /64), IPv4-mapped IPv6 as the IPv4 address.
std::string address_key(const std::string& remote);

}  // namespace maratang::core
