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

}  // namespace

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
