#include "match/matchmaker.hpp"

#include <algorithm>
#include <cmath>

namespace maratang::match {

std::size_t match::players() const noexcept {
  std::size_t n = 0;
  for (const auto& t : tickets)
    n += t.size();
  return n;
}

bool satisfies(const query& q, const properties& props) {
  for (const auto& [key, want] : q.must) {
    auto it = props.find(key);
    if (it == props.end() || it->second != want) return false;
  }
  for (const auto& [key, r] : q.ranges) {
    auto it = props.find(key);
    if (it == props.end()) return false;
    const double* v = std::get_if<double>(&it->second);
    if (!v || *v < r.min || *v > r.max) return false;
  }
  return true;
}

int should_score(const query& q, const properties& props) {
  int n = 0;
  for (const auto& [key, want] : q.should) {
    auto it = props.find(key);
    if (it != props.end() && it->second == want) ++n;
  }
  return n;
}

matchmaker::matchmaker(matchmaker_options opts) : opts_(opts), rng_(opts.seed) {}

result<ticket_id> matchmaker::add(ticket t, epoch_ms now) {
  if (t.players.empty()) return error{errc::bad_field, "A ticket needs a player."};
  if (t.min_players < 1 || t.max_players < t.min_players ||
      static_cast<int>(t.size()) > t.max_players) {
    return error{errc::bad_field, "min_players and max_players do not fit the party."};
  }
  for (player_id p : t.players) {
    if (by_player_.count(p))
      return error{errc::out_of_order, "You are matchmaking already; match.cancel first."};
  }
  t.id = next_id_++;
  t.order = next_order_++;
  t.enqueued_at = now;
  t.expires_at = now + opts_.ticket_ttl_ms;
  for (player_id p : t.players)
    by_player_[p] = t.id;
  const ticket_id id = t.id;
  tickets_.emplace(id, std::move(t));
  return id;
}

void matchmaker::requeue_front(ticket t, epoch_ms now) {
  t.order = next_front_--;
  t.expires_at = now + opts_.ticket_ttl_ms;
  for (player_id p : t.players)
    by_player_[p] = t.id;
  const ticket_id id = t.id;
  tickets_[id] = std::move(t);
}

void matchmaker::remove(ticket_id id) {
  auto it = tickets_.find(id);
  if (it == tickets_.end()) return;
  for (player_id p : it->second.players) {
    auto b = by_player_.find(p);
    if (b != by_player_.end() && b->second == id) by_player_.erase(b);
  }
  tickets_.erase(it);
}

bool matchmaker::cancel(ticket_id id) {
  if (!tickets_.count(id)) return false;
  remove(id);
  return true;
}

const ticket* matchmaker::ticket_of(player_id p) const {
  auto b = by_player_.find(p);
  return b == by_player_.end() ? nullptr : find(b->second);
}

const ticket* matchmaker::find(ticket_id id) const {
  auto it = tickets_.find(id);
  return it == tickets_.end() ? nullptr : &it->second;
}

double matchmaker::window(const ticket& t, epoch_ms now) const {
  const double waited_s = static_cast<double>(std::max<epoch_ms>(0, now - t.enqueued_at)) / 1000.0;
  return t.sigma * std::min(opts_.window_max, opts_.window_start + opts_.widen_per_s * waited_s);
}

bool matchmaker::compatible(const ticket& a, const ticket& b, epoch_ms now) const {
  if (a.settings != b.settings) return false;
  if (!satisfies(a.q, b.props) || !satisfies(b.q, a.props)) return false;
  if (a.rated && b.rated) {
    const double w = std::max(window(a, now), window(b, now));
    if (std::abs(a.mu - b.mu) > w) return false;
  }
  return true;
}

std::vector<match> matchmaker::run(epoch_ms now, std::vector<ticket>* expired) {
  // 1. Expiry.
  std::vector<ticket_id> gone;
  for (const auto& [id, t] : tickets_)
    if (t.expires_at <= now) gone.push_back(id);
  std::sort(gone.begin(), gone.end());
  for (ticket_id id : gone) {
    if (expired) expired->push_back(tickets_.at(id));
    remove(id);
  }

  // 2. The pool by mode, each in queue order (re-queued tickets first, then the oldest).
  std::map<std::string, std::vector<const ticket*>> pools;
  for (const auto& [id, t] : tickets_)
    pools[t.mode].push_back(&t);
  std::vector<match> out;
  std::vector<ticket_id> matched;
  for (auto& [mode, pool] : pools) {
    std::sort(pool.begin(), pool.end(),
              [](const ticket* a, const ticket* b) { return a->order < b->order; });
    std::vector<bool> used(pool.size(), false);
    // Each unmatched ticket in turn anchors a match: the candidates it may share one with, best
    // first, join while they fit.
    for (std::size_t ai = 0; ai < pool.size(); ++ai) {
      if (used[ai]) continue;
      const ticket& a = *pool[ai];
      struct cand {
        std::size_t index;
        bool front;  // re-queued
        int should;  // should clauses met, both ways
        double key;  // rating distance, or a random draw
      };
      std::vector<cand> cands;
      for (std::size_t bi = 0; bi < pool.size(); ++bi) {
        if (bi == ai || used[bi]) continue;
        const ticket& b = *pool[bi];
        if (!compatible(a, b, now)) continue;
        const double key = a.rated && b.rated ? std::abs(a.mu - b.mu)
                                              : static_cast<double>(rng_() >> 11) /
                                                    static_cast<double>(1ULL << 53);
        cands.push_back(
            {bi, b.order < 0, should_score(a.q, b.props) + should_score(b.q, a.props), key});
      }
      std::stable_sort(cands.begin(), cands.end(), [](const cand& x, const cand& y) {
        if (x.front != y.front) return x.front;
        if (x.should != y.should) return x.should > y.should;
        return x.key < y.key;
      });
      int lo = a.min_players;
      int hi = a.max_players;
      int count = static_cast<int>(a.size());
      std::vector<std::size_t> group{ai};
      for (const cand& c : cands) {
        if (count == hi) break;
        const ticket& b = *pool[c.index];
        const int nlo = std::max(lo, b.min_players);
        const int nhi = std::min(hi, b.max_players);
        const int n = count + static_cast<int>(b.size());
        if (nlo > nhi || n > nhi) continue;
        // Every pair in a match satisfies each other: b against each member but the anchor.
        bool fits = true;
        for (std::size_t gi = 1; gi < group.size() && fits; ++gi)
          fits = compatible(*pool[group[gi]], b, now);
        if (!fits) continue;
        group.push_back(c.index);
        lo = nlo;
        hi = nhi;
        count = n;
      }
      const bool full = count == hi;
      // Fewer than the most: only once the anchor (the oldest) has waited long enough.
      const bool enough = count >= lo && now - a.enqueued_at >= opts_.accept_min_after_ms;
      if (!full && !enough) continue;
      match m;
      m.mode = mode;
      for (std::size_t gi : group) {
        used[gi] = true;
        m.tickets.push_back(*pool[gi]);
        matched.push_back(pool[gi]->id);
      }
      out.push_back(std::move(m));
    }
  }
  for (ticket_id id : matched)
    remove(id);
  return out;
}

}  // namespace maratang::match
