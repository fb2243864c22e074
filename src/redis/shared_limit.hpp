// Token buckets shared by every node (issue 16: "one budget per account or address across
// nodes"), kept in Redis: one hash per key ({tokens, at}), read, refilled and taken from by one
// Lua script, so two nodes taking from one bucket at once cannot both spend its last token. The
// script reads Redis's own clock (TIME), so the nodes' clocks do not matter. The bucket expires
// once it would be full again, so idle keys cost nothing.
//
// The failed-login back-off is shared the same way (backoff_*): one hash per key ({count, last,
// until}), counted and checked by one Lua script on Redis's clock, with exactly the rules of
// core::backoff_limiter (src/core/backoff_limiter.hpp), expiring once it is idle and unblocked
// for the window.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace maratang::redis {

class client;

// Takes one token from `key`'s bucket (`rate` tokens per second up to `burst`). done(true): there
// was one; done(false): there was none; done(nullopt): Redis did not answer (the caller decides:
// Maratang falls back to the node's own bucket). `done` runs on the client's strand.
void take_token(const std::shared_ptr<client>& c, const std::string& key, double rate, double burst,
                std::function<void(std::optional<bool>)> done);

struct backoff_rules {
  int free_attempts = 5;
  std::chrono::milliseconds base_delay{1000};
  std::chrono::milliseconds max_delay{300'000};
  std::chrono::milliseconds window{900'000};
};

// Counts an attempt for `key`: done(0) when it may go ahead, done(wait) when the key is blocked
// for that long (the attempt is then not counted), done(nullopt) when Redis did not answer.
void backoff_acquire(const std::shared_ptr<client>& c, const std::string& key,
                     const backoff_rules& rules,
                     std::function<void(std::optional<std::chrono::milliseconds>)> done);
// The attempt acquired for `key` did not fail: it no longer counts. Best effort.
void backoff_forgive(const std::shared_ptr<client>& c, const std::string& key);
// Forgets `key`'s failures and block (a successful login). Best effort.
void backoff_reset(const std::shared_ptr<client>& c, const std::string& key);

}  // namespace maratang::redis
