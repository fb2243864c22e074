#include "store/competition_book.hpp"

#include <algorithm>
#include <ext/pb_ds/assoc_container.hpp>
#include <ext/pb_ds/tree_policy.hpp>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "competition/glicko2.hpp"
#include "competition/weng_lin.hpp"

namespace maratang::store {
namespace {

struct key {
  double sort_key;
  std::int64_t reached_ms;
  std::int64_t account_id;
  friend bool operator<(const key& a, const key& b) {
    return std::tie(a.sort_key, a.reached_ms, a.account_id) <
           std::tie(b.sort_key, b.reached_ms, b.account_id);
  }
};

// An order-statistics tree: rank and n-th in O(log n) (libstdc++'s policy-based red-black tree).
using ranked_tree =
    __gnu_pbds::tree<key, __gnu_pbds::null_type, std::less<key>, __gnu_pbds::rb_tree_tag,
                     __gnu_pbds::tree_order_statistics_node_update>;

double sort_key_of(double value, bool ascending) {
  return ascending ? value : -value;
}

// The idle rating periods between a player's last rated game and this one.
std::int64_t idle_periods(std::int64_t last_ms, std::int64_t now_ms, std::int64_t period_ms) {
  if (period_ms <= 0 || last_ms <= 0 || now_ms <= last_ms) return 0;
  return (now_ms - last_ms) / period_ms;
}

double display_of(const rating_record& r) {
  if (r.model == rating_model::glicko2)
    return competition::glicko2::display({r.mu, r.sigma, r.volatility});
  return competition::weng_lin::display({r.mu, r.sigma});
}

rating_record fresh(std::int64_t account_id, const std::string& k, rating_model m) {
  rating_record r;
  r.account_id = account_id;
  r.key = k;
  r.model = m;
  if (m == rating_model::glicko2) {
    const competition::glicko2::rating g;
    r.mu = g.r;
    r.sigma = g.rd;
    r.volatility = g.sigma;
  } else {
    const competition::weng_lin::rating w;
    r.mu = w.mu;
    r.sigma = w.sigma;
  }
  r.display = display_of(r);
  return r;
}

}  // namespace

struct competition_book::index {
  ranked_tree tree;
  std::unordered_map<std::int64_t, board_row> by_account;
};

struct competition_book::state {
  std::map<std::pair<std::string, std::int64_t>, index> boards;
  // Boards loaded or written since the last commit: dropped by a rollback.
  std::set<std::pair<std::string, std::int64_t>> touched;
  // With a listener: the rows written since the last commit, and the boards whose rows a
  // rollback dropped since then.
  board_listener listener;
  std::vector<board_row> pending;
  std::set<std::pair<std::string, std::int64_t>> stale;
};

competition_book::competition_book(competition_rows& rows)
    : rows_(rows), st_(std::make_unique<state>()) {}
competition_book::~competition_book() = default;

void competition_book::on_commit(board_listener fn) {
  st_->listener = std::move(fn);
  st_->pending.clear();
  st_->stale.clear();
}

std::vector<board_row> competition_book::rows_of(const std::string& board, std::int64_t season) {
  std::vector<board_row> out;
  rows_.load_board(board, season, [&](const board_row& r) { out.push_back(r); });
  return out;
}

void competition_book::committed() {
  st_->touched.clear();
  if (!st_->listener || (st_->pending.empty() && st_->stale.empty())) return;
  board_changes c;
  c.rows = std::move(st_->pending);
  c.stale.assign(st_->stale.begin(), st_->stale.end());
  st_->pending.clear();
  st_->stale.clear();
  st_->listener(std::move(c));
}

void competition_book::rolled_back() {
  for (const auto& b : st_->touched)
    st_->boards.erase(b);
  st_->touched.clear();
  // A rollback to a savepoint drops one operation's rows and keeps the others of the
  // transaction, and a failed commit may have committed after all: which rows the database kept
  // is not known here, so the boards are reported stale at the next commit (not now: rows of this
  // transaction kept by the savepoint's rollback are not in the database before its commit).
  for (const board_row& r : st_->pending)
    st_->stale.emplace(r.board, r.season);
  st_->pending.clear();
}

std::size_t competition_book::loaded_boards() const {
  return st_->boards.size();
}

namespace {

// The board's index, loaded from the rows on first use.
template <class State, class Index>
Index& board_index(State& st, competition_rows& rows, const std::string& board,
                   std::int64_t season) {
  auto k = std::make_pair(board, season);
  st.touched.insert(k);
  auto it = st.boards.find(k);
  if (it != st.boards.end()) return it->second;
  Index& ix = st.boards[k];
  try {
    rows.load_board(board, season, [&](const board_row& r) {
      ix.tree.insert(key{r.sort_key, r.reached_ms, r.account_id});
      ix.by_account.emplace(r.account_id, r);
    });
  } catch (...) {
    st.boards.erase(k);
    throw;
  }
  return ix;
}

}  // namespace

void competition_book::apply(const game_record& g) {
  const competition_input& in = g.competition;
  // Writes one board row, and the index when loaded.
  const auto put = [&](board_row row) {
    rows_.save_entry(row);
    auto k = std::make_pair(row.board, row.season);
    st_->touched.insert(k);
    if (st_->listener) st_->pending.push_back(row);
    auto it = st_->boards.find(k);
    if (it == st_->boards.end()) return;
    index& ix = it->second;
    if (auto old = ix.by_account.find(row.account_id); old != ix.by_account.end()) {
      ix.tree.erase(key{old->second.sort_key, old->second.reached_ms, row.account_id});
      ix.by_account.erase(old);
    }
    ix.tree.insert(key{row.sort_key, row.reached_ms, row.account_id});
    ix.by_account.emplace(row.account_id, std::move(row));
  };

  // Ratings: at least two sides with players, each player once.
  std::vector<rated_team> teams;
  std::set<std::int64_t> seen;
  for (const rated_team& t : in.teams) {
    rated_team kept{{}, t.rank};
    for (std::int64_t p : t.players)
      if (seen.insert(p).second) kept.players.push_back(p);
    if (!kept.players.empty()) teams.push_back(std::move(kept));
  }
  const bool one_on_one =
      teams.size() == 2 && teams[0].players.size() == 1 && teams[1].players.size() == 1;
  const bool rated = !in.rating_key.empty() && teams.size() >= 2 &&
                     (in.model == rating_model::weng_lin || one_on_one);
  if (rated) {
    // Everyone's rating before the game, grown by their idle periods.
    std::vector<std::vector<rating_record>> before(teams.size());
    for (std::size_t i = 0; i < teams.size(); ++i) {
      for (std::int64_t p : teams[i].players) {
        rating_record r =
            rows_.load_rating(p, in.rating_key).value_or(fresh(p, in.rating_key, in.model));
        r.model = in.model;
        const std::int64_t idle = idle_periods(r.last_ms, g.ended_ms, in.idle_period_ms);
        if (in.model == rating_model::glicko2) {
          const auto grown = competition::glicko2::idle({r.mu, r.sigma, r.volatility}, idle);
          r.sigma = grown.rd;
        } else {
          r.sigma = competition::weng_lin::idle({r.mu, r.sigma}, idle).sigma;
        }
        r.display = display_of(r);
        before[i].push_back(r);
      }
    }
    std::vector<std::vector<rating_record>> after = before;
    if (in.model == rating_model::glicko2) {
      const rating_record& a = before[0][0];
      const rating_record& b = before[1][0];
      const double score_a = teams[0].rank < teams[1].rank   ? 1
                             : teams[0].rank > teams[1].rank ? 0
                                                             : 0.5;
      const competition::glicko2::rating ga{a.mu, a.sigma, a.volatility};
      const competition::glicko2::rating gb{b.mu, b.sigma, b.volatility};
      const competition::glicko2::result ra[] = {{gb, score_a}};
      const competition::glicko2::result rb[] = {{ga, 1 - score_a}};
      const auto na = competition::glicko2::update(ga, ra);
      const auto nb = competition::glicko2::update(gb, rb);
      after[0][0].mu = na.r;
      after[0][0].sigma = na.rd;
      after[0][0].volatility = na.sigma;
      after[1][0].mu = nb.r;
      after[1][0].sigma = nb.rd;
      after[1][0].volatility = nb.sigma;
    } else {
      std::vector<std::vector<competition::weng_lin::rating>> wl(teams.size());
      std::vector<double> ranks;
      for (std::size_t i = 0; i < teams.size(); ++i) {
        ranks.push_back(teams[i].rank);
        for (const rating_record& r : before[i])
          wl[i].push_back({r.mu, r.sigma});
      }
      const auto out = competition::weng_lin::rate(wl, ranks);
      for (std::size_t i = 0; i < teams.size(); ++i)
        for (std::size_t j = 0; j < out[i].size(); ++j) {
          after[i][j].mu = out[i][j].mu;
          after[i][j].sigma = out[i][j].sigma;
        }
    }
    for (std::size_t i = 0; i < teams.size(); ++i) {
      for (std::size_t j = 0; j < after[i].size(); ++j) {
        rating_record& r = after[i][j];
        r.games += 1;
        r.last_ms = std::max(r.last_ms, g.ended_ms);
        r.display = display_of(r);
        rows_.save_rating(r);
        const rating_record& was = before[i][j];
        rows_.save_rating_change({g.id, r.account_id, r.key, was.mu, was.sigma, was.display, r.mu,
                                  r.sigma, r.display, g.ended_ms});
        put({"rating." + in.rating_key, in.season, r.account_id, r.display,
             sort_key_of(r.display, false), g.ended_ms});
      }
    }
  }

  // Scores.
  for (const score_update& s : in.scores) {
    auto old = rows_.load_entry(s.board, in.season, s.account_id);
    double value = s.value;
    if (old) {
      if (s.merge == score_merge::add) {
        value = old->value + s.value;
      } else if (s.merge == score_merge::best) {
        const bool better = s.ascending ? s.value < old->value : s.value > old->value;
        if (!better) continue;
      }
      if (value == old->value) continue;  // unchanged: keeps the moment it was reached
    }
    put({s.board, in.season, s.account_id, value, sort_key_of(value, s.ascending), g.ended_ms});
  }
}

leaderboard_page competition_book::top(const std::string& board, std::int64_t season,
                                       std::int64_t offset, int limit) {
  index& ix = board_index<state, index>(*st_, rows_, board, season);
  leaderboard_page page;
  page.total = static_cast<std::int64_t>(ix.tree.size());
  if (offset < 0) offset = 0;
  if (limit <= 0 || offset >= page.total) return page;
  auto it = ix.tree.find_by_order(static_cast<std::size_t>(offset));
  for (std::int64_t r = offset + 1; it != ix.tree.end() && limit > 0; ++it, ++r, --limit) {
    const board_row& row = ix.by_account.at(it->account_id);
    page.entries.push_back({r, row.account_id, row.value, row.reached_ms});
  }
  return page;
}

std::optional<leaderboard_entry> competition_book::rank(const std::string& board,
                                                        std::int64_t season,
                                                        std::int64_t account_id) {
  index& ix = board_index<state, index>(*st_, rows_, board, season);
  auto it = ix.by_account.find(account_id);
  if (it == ix.by_account.end()) return std::nullopt;
  const board_row& row = it->second;
  const auto before = ix.tree.order_of_key(key{row.sort_key, row.reached_ms, account_id});
  return leaderboard_entry{static_cast<std::int64_t>(before) + 1, account_id, row.value,
                           row.reached_ms};
}

leaderboard_page competition_book::around(const std::string& board, std::int64_t season,
                                          std::int64_t account_id, int radius) {
  auto me = rank(board, season, account_id);
  if (!me) {
    leaderboard_page empty;
    empty.total = static_cast<std::int64_t>(
        board_index<state, index>(*st_, rows_, board, season).tree.size());
    return empty;
  }
  if (radius < 0) radius = 0;
  const std::int64_t first = std::max<std::int64_t>(1, me->rank - radius);
  return top(board, season, first - 1, static_cast<int>(me->rank - first) + radius + 1);
}

}  // namespace maratang::store
