#include "redis/shared_limit.hpp"

#include <fmt/format.h>

#include "redis/client.hpp"

namespace maratang::redis {

namespace {

// KEYS[1]: the bucket; ARGV[1]: tokens per millisecond; ARGV[2]: burst. Returns 1 or 0.
constexpr const char* kScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1]) or burst
local at = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local ok = 0
if tokens >= 1 then
  tokens = tokens - 1
  ok = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate) + 1000)
return ok
)lua";

// KEYS[1]: the key's hash; ARGV: free attempts, base delay, max delay, window (ms). Returns 0 (go
// ahead) or the milliseconds until the key may try again (the attempt not counted), as
// core::backoff_limiter::acquire.
constexpr const char* kBackoffAcquire = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local free = tonumber(ARGV[1])
local base = tonumber(ARGV[2])
local max = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local h = redis.call('HMGET', KEYS[1], 'count', 'last', 'until')
local count = tonumber(h[1]) or 0
local last = tonumber(h[2])
local blocked = tonumber(h[3]) or 0
if now < blocked then
  return blocked - now
end
if last == nil or now - last >= window then
  count = 0
end
count = count + 1
if count >= free then
  blocked = now + math.min(max, base * 2 ^ math.min(count - free, 30))
end
redis.call('HSET', KEYS[1], 'count', count, 'last', now, 'until', blocked)
redis.call('PEXPIRE', KEYS[1], math.max(blocked, now) - now + window)
return 0
)lua";

// KEYS[1]: the key's hash. One failure fewer (never below 0); a missing key stays missing.
constexpr const char* kBackoffForgive = R"lua(
local c = tonumber(redis.call('HGET', KEYS[1], 'count'))
if c and c > 0 then
  redis.call('HSET', KEYS[1], 'count', c - 1)
end
return 0
)lua";

}  // namespace

void backoff_acquire(const std::shared_ptr<client>& c, const std::string& key,
                     const backoff_rules& rules,
                     std::function<void(std::optional<std::chrono::milliseconds>)> done) {
  c->command({"EVAL", kBackoffAcquire, "1", key, std::to_string(rules.free_attempts),
              std::to_string(rules.base_delay.count()), std::to_string(rules.max_delay.count()),
              std::to_string(rules.window.count())},
             [done = std::move(done)](result<reply> r) {
               if (!r || r->type != reply::kind::integer || r->integer < 0)
                 return done(std::nullopt);
               done(std::chrono::milliseconds{r->integer});
             });
}

void backoff_forgive(const std::shared_ptr<client>& c, const std::string& key) {
  c->command({"EVAL", kBackoffForgive, "1", key}, [](result<reply>) {});
}

void backoff_reset(const std::shared_ptr<client>& c, const std::string& key) {
  c->command({"DEL", key}, [](result<reply>) {});
}

void take_token(const std::shared_ptr<client>& c, const std::string& key, double rate, double burst,
                std::function<void(std::optional<bool>)> done) {
  c->command({"EVAL", kScript, "1", key, fmt::format("{:.9g}", rate / 1000.0),
              fmt::format("{:.9g}", burst)},
             [done = std::move(done)](result<reply> r) {
               if (!r || r->type != reply::kind::integer) return done(std::nullopt);
               done(r->integer == 1);
             });
}

}  // namespace maratang::redis
