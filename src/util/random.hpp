// The injected source of randomness for game logic: a seeded generator, so that a seed replays a
// game. Not for secrets (tokens and ids use libsodium). Not thread-safe: one per room.
#pragma once

#include <cstdint>
#include <random>
#include <sstream>
#include <string>

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

  // The generator's whole state as text (the standard's textual form of mt19937_64), so that a
  // restored room draws exactly what the original would have drawn next.
  std::string state() const {
    std::ostringstream out;
    out << engine_;
    return out.str();
  }
  // Restores a state() (and the seed it came from); false, changing nothing, on malformed text.
  bool restore(std::uint64_t seed, const std::string& state) {
    std::istringstream in(state);
    std::mt19937_64 e;
    in >> e;
    if (in.fail()) return false;
    seed_ = seed;
    engine_ = e;
    return true;
  }

 private:
  std::uint64_t seed_;
  std::mt19937_64 engine_;
};

}  // namespace maratang
