// The injected source of randomness for game logic: a seeded generator, so that a seed replays a
// game. Not for secrets (tokens and ids use libsodium). Not thread-safe: one per room.
#pragma once

#include <cstdint>
#include <random>

namespace maratang {

class rng {
 public:
  // mt19937_64 that counts the numbers it hands out, so that its whole state is the seed and a
  // count (a room snapshot holds two numbers, not the generator's 312 words): restore() seeds a
  // new one and discards as many. A UniformRandomBitGenerator, for <random> and <algorithm>.
  class engine_type {
   public:
    using result_type = std::mt19937_64::result_type;
    explicit engine_type(std::uint64_t seed) : e_(seed) {}
    static constexpr result_type min() { return std::mt19937_64::min(); }
    static constexpr result_type max() { return std::mt19937_64::max(); }
    result_type operator()() {
      ++draws_;
      return e_();
    }
    void discard(std::uint64_t n) {
      e_.discard(n);
      draws_ += n;
    }
    std::uint64_t draws() const noexcept { return draws_; }

   private:
    std::mt19937_64 e_;
    std::uint64_t draws_ = 0;
  };

  explicit rng(std::uint64_t seed) : seed_(seed), engine_(seed) {}

  std::uint64_t seed() const noexcept { return seed_; }
  // A uniform integer in [lo, hi].
  std::int64_t uniform(std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(engine_);
  }
  engine_type& engine() noexcept { return engine_; }

  // How many numbers the generator has handed out since it was seeded: with the seed, its whole
  // state. restore() makes this generator the one of that seed after that many (a restored room
  // draws exactly what the original would have drawn next); it takes time linear in `draws`
  // (about a nanosecond each).
  std::uint64_t draws() const noexcept { return engine_.draws(); }
  void restore(std::uint64_t seed, std::uint64_t draws) {
    seed_ = seed;
    engine_ = engine_type(seed);
    engine_.discard(draws);
  }

 private:
  std::uint64_t seed_;
  engine_type engine_;
};

}  // namespace maratang
