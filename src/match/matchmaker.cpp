#include "match/matchmaker.hpp"

#include <algorithm>
#include <cmath>
#include <string_view>
#include <utility>

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
      return error{errc::already_matchmaking, "You are matchmaking already; match.cancel first."};
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

std::vector<ticket> matchmaker::take_all() {
  std::vector<ticket> out;
  out.reserve(tickets_.size());
  for (auto& [id, t] : tickets_)
    out.push_back(std::move(t));
  tickets_.clear();
  by_player_.clear();
  std::sort(out.begin(), out.end(),
            [](const ticket& a, const ticket& b) { return a.order < b.order; });
  return out;
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

namespace {

// One pass's list of tickets (indices into the pool) with "the next one not yet matched" in both
// directions: skip pointers compressed as tickets leave (union-find style), so a scan never walks
// over the same matched run twice.
class skip_list {
 public:
  std::vector<std::uint32_t> items;

  void init() {
    const auto n = static_cast<std::int32_t>(items.size());
    right_.resize(items.size());
    left_.resize(items.size());
    for (std::int32_t i = 0; i < n; ++i)
      right_[static_cast<std::size_t>(i)] = left_[static_cast<std::size_t>(i)] = i;
  }
  std::int32_t size() const noexcept { return static_cast<std::int32_t>(items.size()); }
  // The first position at or after i whose ticket is unmatched; size() when none.
  std::int32_t next(std::int32_t i, const std::vector<char>& used) {
    const std::int32_t n = size();
    std::int32_t r = i;
    while (r < n && used[items[at(r)]])
      r = right_[at(r)] == r ? r + 1 : right_[at(r)];
    while (i < r && i < n) {
      const std::int32_t nx = right_[at(i)] == i ? i + 1 : right_[at(i)];
      right_[at(i)] = r;
      i = nx;
    }
    return r;
  }
  // The last position at or before i whose ticket is unmatched; -1 when none.
  std::int32_t prev(std::int32_t i, const std::vector<char>& used) {
    std::int32_t r = i;
    while (r >= 0 && used[items[at(r)]])
      r = left_[at(r)] == r ? r - 1 : left_[at(r)];
    while (i > r && i >= 0) {
      const std::int32_t nx = left_[at(i)] == i ? i - 1 : left_[at(i)];
      left_[at(i)] = r;
      i = nx;
    }
    return r;
  }

 private:
  static std::size_t at(std::int32_t i) { return static_cast<std::size_t>(i); }
  std::vector<std::int32_t> right_, left_;
};

// Rated tickets whose window at this pass is at most `reach` (a power of two), sorted by mean: a
// ticket at distance d from them can meet them only if d <= max(its own window, reach).
struct band {
  double reach = 0;
  skip_list by_mu;
  std::vector<double> mu;
};

// Some tickets of a pool an anchor may look at: those without must clauses, those having one
// property value, or those whose first must clause asks for one.
struct slice {
  // While the index is built: each band's (mean, ticket) by the band's window exponent.
  std::map<int, std::vector<std::pair<double, std::uint32_t>>> building;
  std::vector<band> bands;
  skip_list unrated;  // shuffled once a pass: the random pick
};

// Some tickets split by what they ask of others: those asking nothing (no must clause), and by
// the key and value of their first must clause. An anchor looks at `open` and at the `needs`
// slices of the values it has: a ticket asking what the anchor lacks is never looked at.
struct index {
  slice open;
  std::map<std::string_view, std::map<value, slice>, std::less<>> needs;
};

// One mode-and-settings pool for one pass: tickets of different settings never share a match.
struct pool {
  std::string_view mode;
  std::vector<const ticket*> tickets;  // queue order
  std::vector<char> used;
  std::vector<std::uint32_t> front;  // re-queued tickets: every anchor's first candidates
  index all;                         // every ticket: for anchors without must clauses
  // By a key some ticket's first must clause names, then a value some ticket asks for: the
  // tickets having that value, for the anchors whose first must clause asks for it.
  std::map<std::string_view, std::map<value, index>, std::less<>> has;
  std::vector<std::string_view> must_keys;
};

// The entry under key `k` and value `v`, or null.
template <class T>
T* find_in(std::map<std::string_view, std::map<value, T>, std::less<>>& by, std::string_view k,
           const value& v) {
  auto byk = by.find(k);
  if (byk == by.end()) return nullptr;
  auto it = byk->second.find(v);
  return it == byk->second.end() ? nullptr : &it->second;
}

// An anchor whose greedy pick fails searches its candidates' subsets for at most this many steps.
constexpr int kSearchBudget = 20'000;

}  // namespace

// A pass, in queue order, each unmatched ticket anchoring a match: its candidates are taken best
// first from the pass's index rather than from the whole pool, so a pass costs about the
// candidates the anchors look at, not the square of the pool:
//  - re-queued tickets first (few: every anchor looks at all of them);
//  - then, from the anchor's slices (of the tickets having the value its first must clause asks
//    for, or of every ticket when it asks nothing: those asking nothing, and those whose first
//    must clause asks for a value the anchor has, so tickets waiting for others cost nothing to
//    the rest, whichever index they sit in), rated
//    tickets nearest in mean first (a range scan outwards over bands of equal
//    window size, each bounded by the wider of the two windows), then unrated ones in random
//    order (a shuffled list walked from a random point); an unrated anchor takes unrated ones
//    first, then rated ones in list order.
// Candidates are ranked in batches of at least 16 in that order, each batch by should clauses met
// then rating distance, and join while the match stays valid, until it is full. So should clauses
// reorder the nearest candidates (a batch), not the whole pool. An anchor whose greedy pick forms
// no match looks at every candidate it may meet, then searches their subsets (bounded): a match
// that exists among them is found even where the greedy order missed it.
bool matchmaker::could_form(const ticket& a, const std::vector<const ticket*>& pool,
                            epoch_ms now) const {
  std::vector<const ticket*> cands;
  for (const ticket* b : pool)
    if (b->id != a.id && b->mode == a.mode && compatible(a, *b, now)) cands.push_back(b);
  const bool waited = now - a.enqueued_at >= opts_.accept_min_after_ms;
  std::vector<const ticket*> group;
  auto search = [&](auto& self, std::size_t from, int lo, int hi, int n) -> bool {
    if (n == hi || (n >= lo && waited)) return true;
    for (std::size_t i = from; i < cands.size(); ++i) {
      const ticket& b = *cands[i];
      const int nlo = std::max(lo, b.min_players);
      const int nhi = std::min(hi, b.max_players);
      const int nn = n + static_cast<int>(b.size());
      if (nlo > nhi || nn > nhi) continue;
      if (!std::all_of(group.begin(), group.end(),
                       [&](const ticket* g) { return compatible(*g, b, now); }))
        continue;
      group.push_back(&b);
      if (self(self, i + 1, nlo, nhi, nn)) return true;
      group.pop_back();
    }
    return false;
  };
  return search(search, 0, a.min_players, a.max_players, static_cast<int>(a.size()));
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

  // 2. The pools by mode and settings, each in queue order (re-queued tickets first, then the
  // oldest), and their index.
  std::map<std::pair<std::string_view, std::string_view>, pool> pools;
  for (const auto& [id, t] : tickets_) {
    pool& p = pools[{t.mode, t.settings}];
    p.mode = t.mode;
    p.tickets.push_back(&t);
  }
  for (auto& [pool_key, p] : pools) {
    std::sort(p.tickets.begin(), p.tickets.end(),
              [](const ticket* a, const ticket* b) { return a->order < b->order; });
    p.used.assign(p.tickets.size(), 0);
    // Only the values some anchor asks for (its first must clause) get a `has` slice.
    std::vector<std::string_view>& must_keys = p.must_keys;
    for (const ticket* t : p.tickets) {
      if (t->q.must.empty()) continue;
      must_keys.push_back(t->q.must.begin()->first);
      p.has[t->q.must.begin()->first].try_emplace(t->q.must.begin()->second);
    }
    std::sort(must_keys.begin(), must_keys.end());
    must_keys.erase(std::unique(must_keys.begin(), must_keys.end()), must_keys.end());
    for (std::uint32_t i = 0; i < p.tickets.size(); ++i) {
      const ticket& t = *p.tickets[i];
      if (t.order < 0) {
        p.front.push_back(i);
        continue;
      }
      auto put = [&](slice& s) {
        if (!t.rated) return s.unrated.items.push_back(i);
        int e = -1100;  // a window of 0 (sigma 0): the narrowest band
        const double w = window(t, now);
        if (w > 0) std::frexp(w, &e);
        s.building[e].emplace_back(t.mu, i);
      };
      auto put_in = [&](index& x) {
        if (t.q.must.empty())
          put(x.open);
        else
          put(x.needs[t.q.must.begin()->first][t.q.must.begin()->second]);
      };
      put_in(p.all);
      for (std::string_view k : must_keys) {
        auto it = t.props.find(k);
        if (it == t.props.end()) continue;
        auto& values = p.has.find(k)->second;
        if (auto x = values.find(it->second); x != values.end()) put_in(x->second);
      }
    }
    auto finish = [&](slice& s) {
      for (auto& [e, entries] : s.building) {
        std::sort(entries.begin(), entries.end());
        band& b = s.bands.emplace_back();
        b.reach = e == -1100 ? 0.0 : std::ldexp(1.0, e);
        for (const auto& [mu, i] : entries) {
          b.mu.push_back(mu);
          b.by_mu.items.push_back(i);
        }
        b.by_mu.init();
      }
      s.building.clear();
      std::shuffle(s.unrated.items.begin(), s.unrated.items.end(), rng_);
      s.unrated.init();
    };
    auto finish_index = [&](index& x) {
      finish(x.open);
      for (auto& [k, values] : x.needs)
        for (auto& [v, s] : values)
          finish(s);
    };
    finish_index(p.all);
    for (auto& [k, values] : p.has)
      for (auto& [v, x] : values)
        finish_index(x);
  }

  // 3. Each unmatched ticket in turn anchors a match.
  std::vector<match> out;
  std::vector<ticket_id> matched;
  for (auto& [pool_key, p] : pools) {
    for (std::uint32_t ai = 0; ai < p.tickets.size(); ++ai) {
      if (p.used[ai]) continue;
      const ticket& a = *p.tickets[ai];
      int lo = a.min_players;
      int hi = a.max_players;
      int count = static_cast<int>(a.size());
      std::vector<std::uint32_t> group{ai};
      struct cand {
        std::uint32_t index;
        int should;  // should clauses met, both ways
        double key;  // rating distance, or the order found in (random)
      };
      std::vector<cand> batch;
      std::vector<std::uint32_t> seen;  // every compatible candidate, in the order offered
      const std::size_t batch_size =
          std::max<std::size_t>(16, 2 * static_cast<std::size_t>(hi - count));
      double found = 0;
      // Ranks and joins the batch; true once the match is full.
      auto flush = [&] {
        std::stable_sort(batch.begin(), batch.end(), [](const cand& x, const cand& y) {
          if (x.should != y.should) return x.should > y.should;
          return x.key < y.key;
        });
        for (const cand& c : batch) {
          if (count == hi) break;
          const ticket& b = *p.tickets[c.index];
          const int nlo = std::max(lo, b.min_players);
          const int nhi = std::min(hi, b.max_players);
          const int n = count + static_cast<int>(b.size());
          if (nlo > nhi || n > nhi) continue;
          // Every pair in a match satisfies each other: b against each member but the anchor.
          bool fits = true;
          for (std::size_t gi = 1; gi < group.size() && fits; ++gi)
            fits = compatible(*p.tickets[group[gi]], b, now);
          if (!fits) continue;
          group.push_back(c.index);
          lo = nlo;
          hi = nhi;
          count = n;
        }
        batch.clear();
        return count == hi;
      };
      // Offers one candidate; true once the match is full.
      auto offer = [&](std::uint32_t bi, double key) {
        if (bi == ai || p.used[bi]) return false;
        const ticket& b = *p.tickets[bi];
        if (!compatible(a, b, now)) return false;
        batch.push_back({bi, should_score(a.q, b.props) + should_score(b.q, a.props), key});
        seen.push_back(bi);
        return batch.size() >= batch_size && flush();
      };
      // Walks a list from a random point, round; true once the match is full.
      auto walk = [&](skip_list& l) {
        const std::int32_t n = l.size();
        if (n == 0) return false;
        const auto start = static_cast<std::int32_t>(rng_() % static_cast<std::uint64_t>(n));
        for (std::int32_t i = l.next(start, p.used); i < n; i = l.next(i + 1, p.used))
          if (offer(l.items[static_cast<std::size_t>(i)], ++found)) return true;
        for (std::int32_t i = l.next(0, p.used); i < start; i = l.next(i + 1, p.used))
          if (offer(l.items[static_cast<std::size_t>(i)], ++found)) return true;
        return false;
      };
      // Rated tickets nearest to the anchor's mean first, merged across the slices' bands.
      auto nearest = [&](const std::vector<slice*>& ss) {
        struct cursor {
          band* b;
          double reach;
          std::int32_t left, right;
        };
        std::vector<cursor> cs;
        const double wa = window(a, now);
        for (slice* s : ss)
          for (band& b : s->bands) {
            const auto pos = static_cast<std::int32_t>(
                std::lower_bound(b.mu.begin(), b.mu.end(), a.mu) - b.mu.begin());
            cs.push_back({&b, std::max(wa, b.reach), pos - 1, pos});
          }
        for (;;) {
          cursor* best = nullptr;
          bool best_right = false;
          std::int32_t best_pos = 0;
          double best_d = 0;
          for (cursor& c : cs) {
            const std::int32_t r = c.right = c.b->by_mu.next(c.right, p.used);
            if (r < c.b->by_mu.size()) {
              const double d = c.b->mu[static_cast<std::size_t>(r)] - a.mu;
              if (d <= c.reach && (!best || d < best_d)) {
                best = &c, best_right = true, best_pos = r, best_d = d;
              }
            }
            const std::int32_t l = c.left = c.b->by_mu.prev(c.left, p.used);
            if (l >= 0) {
              const double d = a.mu - c.b->mu[static_cast<std::size_t>(l)];
              if (d <= c.reach && (!best || d < best_d)) {
                best = &c, best_right = false, best_pos = l, best_d = d;
              }
            }
          }
          if (!best) return false;
          if (best_right)
            best->right = best_pos + 1;
          else
            best->left = best_pos - 1;
          if (offer(best->b->by_mu.items[static_cast<std::size_t>(best_pos)], best_d)) return true;
        }
      };

      bool full = count == hi;
      if (!full && !p.front.empty()) {
        for (std::uint32_t fi : p.front) {
          const ticket& b = *p.tickets[fi];
          if (fi == ai || p.used[fi] || !compatible(a, b, now)) continue;
          batch.push_back({fi, should_score(a.q, b.props) + should_score(b.q, a.props),
                           a.rated && b.rated ? std::abs(a.mu - b.mu) : ++found});
          seen.push_back(fi);
        }
        full = flush();
      }
      // The anchor's candidates: the index of the tickets having what its first must clause
      // asks for (every ticket when it asks nothing), of them those asking nothing or asking a
      // value the anchor has.
      std::vector<slice*> ss;
      index* x = a.q.must.empty()
                     ? &p.all
                     : find_in(p.has, a.q.must.begin()->first, a.q.must.begin()->second);
      if (x) {
        ss.push_back(&x->open);
        for (std::string_view k : p.must_keys)
          if (auto it = a.props.find(k); it != a.props.end())
            if (slice* s = find_in(x->needs, k, it->second)) ss.push_back(s);
      }
      if (!full && !ss.empty()) {
        if (a.rated) {
          full = nearest(ss);
          for (std::size_t si = 0; !full && si < ss.size(); ++si)
            full = walk(ss[si]->unrated);
        } else {
          for (std::size_t si = 0; !full && si < ss.size(); ++si)
            full = walk(ss[si]->unrated);
          for (std::size_t si = 0; !full && si < ss.size(); ++si)
            for (std::size_t bi = 0; !full && bi < ss[si]->bands.size(); ++bi)
              full = walk(ss[si]->bands[bi].by_mu);
        }
        if (!full) full = flush();
      }
      // Fewer than the most: only once the anchor (the oldest) has waited long enough.
      const bool waited = now - a.enqueued_at >= opts_.accept_min_after_ms;
      if (!full && !(count >= lo && waited)) {
        // The greedy pick failed (a candidate taken early can shut out a group that fits):
        // search the candidates' subsets, best first, within a budget.
        group.resize(1);
        int steps = 0;
        auto search = [&](auto& self, std::size_t from, int glo, int ghi, int n) -> bool {
          if (n == ghi || (n >= glo && waited)) return true;
          for (std::size_t i = from; i < seen.size(); ++i) {
            if (++steps > kSearchBudget) return false;
            const ticket& b = *p.tickets[seen[i]];
            const int nlo = std::max(glo, b.min_players);
            const int nhi = std::min(ghi, b.max_players);
            const int nn = n + static_cast<int>(b.size());
            if (nlo > nhi || nn > nhi) continue;
            bool fits = true;
            for (std::size_t gi = 1; gi < group.size() && fits; ++gi)
              fits = compatible(*p.tickets[group[gi]], b, now);
            if (!fits) continue;
            group.push_back(seen[i]);
            if (self(self, i + 1, nlo, nhi, nn)) return true;
            group.pop_back();
          }
          return false;
        };
        if (!search(search, 0, a.min_players, a.max_players, static_cast<int>(a.size()))) continue;
      }
      match m;
      m.mode = std::string(p.mode);
      for (std::uint32_t gi : group) {
        p.used[gi] = 1;
        m.tickets.push_back(*p.tickets[gi]);
        matched.push_back(p.tickets[gi]->id);
      }
      out.push_back(std::move(m));
    }
  }
  for (ticket_id id : matched)
    remove(id);
  return out;
}

}  // namespace maratang::match
