// Token buckets shared by every node (issue 16: "one budget per account or address across
// nodes"), kept in Redis: one hash per key ({tokens, at}), read, refilled and taken from by one
// Lua script, so two nodes taking from one bucket at once cannot both spend its last token. The
// script reads Redis's own clock (TIME), so the nodes' clocks do not matter. The bucket expires
// once it would be full again, so idle keys cost nothing.
#pragma once

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

}  // namespace maratang::redis
