// The injected source of randomness for game logic: a seeded generator, so that a seed replays a
// game. Not for secrets (tokens and ids use libsodium). Not thread-safe: one per room.
#pragma once

#include <cstdint>
#include <random>

namespace maratang {

class rng {
 public:
  explicit rng(std::uint64_t seed) : seed_(seed), engine_(seed) {}

  std::uint64_t seed() const noexcept { return seed_; }
  // A uniform integer in [lo, hi].
  std::int64_t uniform(std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(engine_);
  }
  std::mt19937_64& engine() noexcept { return engine_; }

 private:
  std::uint64_t seed_;
  std::mt19937_64 engine_;
};

}  // namespace maratang
