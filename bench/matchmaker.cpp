// matchmaker: one matching pass's CPU cost with `--tickets` waiting (100,000 by default) and a
// steady `--rate` new tickets a second (2,000), a pass every `--interval-ms` (1000), for
// `--duration` seconds. The matchmaker is pure (time passed in), so the clock is simulated; the
// CPU time of each pass is real (this thread's CPU clock: one core).
//
// The pool: Arena duels (2..2, rated: mu ~ N(25, 8), sigma 2..8.3), Mafia (6..8, a fifth of the
// tickets parties of 2-4, half of them rated), Mystery co-op (2..4, unrated, two settings).
// Every ticket has a region (5, unevenly spread) and a language; 40% must meet their own region,
// 20% should meet their language. The backlog's tickets were queued over the 20 s before the
// first pass; with --held-pct, that share of them wait for a friend who never comes (a must
// clause on a code nobody else has): they stay queued, so every pass indexes them and the other
// tickets' scans must not pay for them.
//
// Reported: CPU time a pass (p50/p99/max), matches and players matched a second in the steady
// phase, time to match (simulated waiting time) p50/p99 for the steady phase's tickets, and the
// check "every ticket that has a match is matched within one interval", defined as: after each
// pass, no remaining ticket could form a valid match with other remaining tickets (an exhaustive
// search of their subsets: matchmaker::could_form). Checked for `--check` sampled remaining
// tickets after every pass (all of them when fewer remain); any violation is printed and the
// exit status is 1.
//
// Usage: matchmaker [--tickets 100000] [--rate 2000] [--duration 30] [--interval-ms 1000]
//                   [--check 200] [--held-pct 0] [--seed 1]
#include <fmt/format.h>
#include <pthread.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "cpu_time.hpp"
#include "match/matchmaker.hpp"

namespace {

using namespace maratang;
using namespace maratang::match;

constexpr epoch_ms kT0 = 1'800'000'000'000;

struct percentiles {
  std::vector<double> v;
  double at(double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
  }
};

class generator {
 public:
  explicit generator(std::uint64_t seed) : rng_(seed) {}

  // A ticket; `held`: it waits for a friend (must meet a code only that friend has), who never
  // comes in this run: it stays in the pool, and every pass indexes it.
  ticket next(bool held = false) {
    static const char* regions[] = {"eu", "na", "asia", "sa", "oce"};
    static const std::discrete_distribution<int> region_of{40, 30, 20, 6, 4};
    static const char* langs[] = {"en", "ko", "de", "pt"};
    ticket t;
    const double mode = u_(rng_);
    const std::string region = regions[std::discrete_distribution<int>(region_of)(rng_)];
    t.props = {{"region", region}, {"lang", std::string(langs[rng_() % 4])}};
    if (u_(rng_) < 0.4) t.q.must = {{"region", region}};
    if (u_(rng_) < 0.2) t.q.should = {{"lang", std::string(langs[rng_() % 4])}};
    auto rate = [&] {
      t.rated = true;
      t.mu = std::normal_distribution<double>(25, 8)(rng_);
      t.sigma = 2 + u_(rng_) * 6.33;
    };
    if (mode < 0.6) {
      t.mode = "arena";
      t.min_players = t.max_players = 2;
      rate();
    } else if (mode < 0.9) {
      t.mode = "mafia";
      t.min_players = 6;
      t.max_players = 8;
      if (u_(rng_) < 0.5) rate();
      if (u_(rng_) < 0.2) {
        t.party = next_party_++;
        t.players.resize(2 + rng_() % 3);
      }
    } else {
      t.mode = "mystery";
      t.min_players = 2;
      t.max_players = 4;
      t.settings = rng_() % 2 ? R"({"scenario":"manor"})" : "";
    }
    if (held) {
      t.props["friend"] = static_cast<double>(next_party_ + 1'000'000'000);
      t.q.must = {{"friend", static_cast<double>(next_party_++ + 2'000'000'000)}};
    }
    if (t.players.empty()) t.players.resize(1);
    for (auto& p : t.players)
      p = next_player_++;
    return t;
  }

 private:
  std::mt19937_64 rng_;
  std::uniform_real_distribution<double> u_{0, 1};
  player_id next_player_ = 1;
  std::int64_t next_party_ = 1;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"Matchmaker pass cost with a large pool and a steady arrival rate"};
  int tickets = 100'000;
  int rate = 2000;
  int duration = 30;
  int interval_ms = 1000;
  int check = 200;
  int held_pct = 0;
  std::uint64_t seed = 1;
  cli.add_option("--tickets", tickets, "Waiting tickets before the first pass")
      ->check(CLI::Range(0, 1'000'000));
  cli.add_option("--rate", rate, "New tickets a second")->check(CLI::Range(0, 100'000));
  cli.add_option("--duration", duration, "Simulated seconds after the first pass")
      ->check(CLI::Range(1, 3600));
  cli.add_option("--interval-ms", interval_ms, "A pass every")->check(CLI::Range(10, 60'000));
  cli.add_option("--check", check, "Remaining tickets checked after each pass")
      ->check(CLI::Range(0, 1'000'000));
  cli.add_option("--held-pct", held_pct,
                 "Backlog tickets that wait for a friend who never comes (they stay queued)")
      ->check(CLI::Range(0, 100));
  cli.add_option("--seed", seed, "The generator's and the matchmaker's seed");
  CLI11_PARSE(cli, argc, argv);

  matchmaker_options o;
  o.seed = seed;
  matchmaker mm(o);
  generator gen(seed);
  std::mt19937_64 pick(seed + 1);
  std::vector<ticket_id> live;  // the bench's own view of the pool (a superset: lazily pruned)
  std::unordered_set<ticket_id> gone;

  // The backlog, queued over the 20 s before the first pass.
  for (int i = 0; i < tickets; ++i) {
    const epoch_ms at = kT0 - 20'000 + static_cast<epoch_ms>(20'000.0 * i / std::max(1, tickets));
    auto id = mm.add(gen.next(i % 100 < held_pct), at);
    if (!id) return fmt::print(stderr, "add: {}\n", id.error().message), 1;
    live.push_back(*id);
  }

  percentiles cpu_ms, wait_backlog_s, wait_steady_s;
  double worst_cpu_ms = 0;
  std::int64_t steady_matches = 0, steady_players = 0, expired_n = 0, checked = 0, violations = 0;
  std::size_t first_pass_matches = 0, pool_after_first = 0;
  double first_pass_ms = 0;
  const epoch_ms steady_from = kT0;
  const int passes = duration * 1000 / interval_ms;
  double arrivals = 0;
  for (int pass = 0; pass <= passes; ++pass) {
    const epoch_ms now = kT0 + static_cast<epoch_ms>(pass) * interval_ms;
    // This interval's arrivals, each at its own time.
    if (pass > 0) {
      arrivals += static_cast<double>(rate) * interval_ms / 1000.0;
      const int n = static_cast<int>(arrivals);
      arrivals -= n;
      for (int i = 0; i < n; ++i) {
        const epoch_ms at = now - interval_ms + static_cast<epoch_ms>(1.0 * interval_ms * i / n);
        auto id = mm.add(gen.next(), at);
        if (!id) return fmt::print(stderr, "add: {}\n", id.error().message), 1;
        live.push_back(*id);
      }
    }
    std::vector<ticket> expired;
    const double c0 = bench::thread_cpu_seconds(pthread_self());
    auto ms = mm.run(now, &expired);
    const double spent = (bench::thread_cpu_seconds(pthread_self()) - c0) * 1000.0;
    cpu_ms.v.push_back(spent);
    worst_cpu_ms = std::max(worst_cpu_ms, spent);
    expired_n += static_cast<std::int64_t>(expired.size());
    for (const auto& t : expired)
      gone.insert(t.id);
    std::unordered_set<player_id> seen;
    for (const auto& m : ms) {
      const int n = static_cast<int>(m.players());
      if (n < m.tickets.front().min_players || n > m.tickets.front().max_players)
        return fmt::print(stderr, "a match of {} in {}\n", n, m.mode), 1;
      for (const auto& t : m.tickets) {
        gone.insert(t.id);
        for (player_id p : t.players)
          if (!seen.insert(p).second) return fmt::print(stderr, "{} matched twice\n", p), 1;
        const double waited = static_cast<double>(now - t.enqueued_at) / 1000.0;
        (t.enqueued_at < steady_from ? wait_backlog_s : wait_steady_s).v.push_back(waited);
      }
      if (pass > 0) {
        ++steady_matches;
        steady_players += n;
      }
    }
    if (pass == 0) {
      first_pass_ms = spent;
      first_pass_matches = ms.size();
      pool_after_first = mm.size();
    }

    // The check, outside the timed pass.
    std::erase_if(live, [&](ticket_id id) { return gone.count(id) > 0; });
    gone.clear();
    if (live.size() != mm.size())
      return fmt::print(stderr, "pool {} != {} tracked\n", mm.size(), live.size()), 1;
    std::map<std::string, std::vector<const ticket*>> by_mode;
    for (ticket_id id : live) {
      const ticket* t = mm.find(id);
      if (!t) return fmt::print(stderr, "ticket {} lost\n", id), 1;
      by_mode[t->mode].push_back(t);
    }
    std::vector<const ticket*> sample;
    for (const auto& [mode, pool] : by_mode)
      sample.insert(sample.end(), pool.begin(), pool.end());
    if (static_cast<int>(sample.size()) > check) {
      std::shuffle(sample.begin(), sample.end(), pick);
      sample.resize(static_cast<std::size_t>(check));
    }
    for (const ticket* t : sample) {
      ++checked;
      if (mm.could_form(*t, by_mode[t->mode], now)) {
        if (++violations <= 5)
          fmt::print(
              "  VIOLATION after pass {}: ticket {} ({}, {} players) could form a match with those "
              "left\n",
              pass, t->id, t->mode, t->size());
      }
    }
  }

  fmt::print(
      "matchmaker: {} waiting tickets ({}% waiting for a friend), then {} new a second for {} s, "
      "a pass every {} ms (seed {})\n",
      tickets, held_pct, rate, duration, interval_ms, seed);
  fmt::print("  first pass (the backlog): {:.1f} ms CPU, {} matches, {} tickets left waiting\n",
             first_pass_ms, first_pass_matches, pool_after_first);
  fmt::print("  CPU a pass (one core, {} passes): p50 {:.2f} ms   p99 {:.2f} ms   max {:.2f} ms\n",
             cpu_ms.v.size(), cpu_ms.at(0.5), cpu_ms.at(0.99), worst_cpu_ms);
  fmt::print("  steady phase: {:.0f} matches/s, {:.0f} players matched/s; pool at the end {}\n",
             static_cast<double>(steady_matches) / duration,
             static_cast<double>(steady_players) / duration, mm.size());
  fmt::print(
      "  time to match (simulated wait), steady-phase tickets: p50 {:.2f} s   p99 {:.2f} s"
      "   (n={})\n",
      wait_steady_s.at(0.5), wait_steady_s.at(0.99), wait_steady_s.v.size());
  fmt::print("  time to match, backlog tickets: p50 {:.2f} s   p99 {:.2f} s   (n={}); expired {}\n",
             wait_backlog_s.at(0.5), wait_backlog_s.at(0.99), wait_backlog_s.v.size(), expired_n);
  fmt::print(
      "  check: {} remaining tickets examined by the exhaustive rule, {} could have "
      "formed a match\n",
      checked, violations);
  return violations == 0 ? 0 : 1;
}
