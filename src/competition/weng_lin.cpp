#include "competition/weng_lin.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace maratang::competition::weng_lin {
namespace {

struct team_rating {
  double mu = 0;
  double sigma_sq = 0;
  int rank = 0;  // index of the first team of its tie group (openskill's rankings())
};

// The Plackett-Luce model (openskill.js models/plackett-luce.ts) over teams sorted by rank.
std::vector<std::vector<rating>> plackett_luce(const std::vector<std::vector<rating>>& game,
                                               std::span<const double> sorted_ranks,
                                               const options& o) {
  const std::size_t n = game.size();
  std::vector<team_rating> tr(n);
  for (std::size_t i = 0; i < n; ++i) {
    for (const rating& p : game[i]) {
      tr[i].mu += p.mu;
      tr[i].sigma_sq += p.sigma * p.sigma;
    }
    // rankings(): equal ranks share the index of the first of them.
    tr[i].rank =
        (i > 0 && !(sorted_ranks[i - 1] < sorted_ranks[i])) ? tr[i - 1].rank : static_cast<int>(i);
  }
  const double beta_sq = o.beta * o.beta;
  double c_sq = 0;
  for (const team_rating& t : tr)
    c_sq += t.sigma_sq + beta_sq;
  const double c = std::sqrt(c_sq);
  std::vector<double> sum_q(n, 0);
  std::vector<double> a(n, 0);
  for (std::size_t q = 0; q < n; ++q) {
    for (std::size_t i = 0; i < n; ++i) {
      if (tr[i].rank >= tr[q].rank) sum_q[q] += std::exp(tr[i].mu / c);
      if (tr[i].rank == tr[q].rank) a[q] += 1;
    }
  }
  std::vector<std::vector<rating>> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double i_mu_over_ce = std::exp(tr[i].mu / c);
    double omega_sum = 0;
    double delta_sum = 0;
    for (std::size_t q = 0; q < n; ++q) {
      if (tr[q].rank > tr[i].rank) continue;
      const double quotient = i_mu_over_ce / sum_q[q];
      omega_sum += (i == q ? 1 - quotient : -quotient) / a[q];
      delta_sum += quotient * (1 - quotient) / a[q];
    }
    const double gamma = std::sqrt(tr[i].sigma_sq) / c;
    const double i_omega = omega_sum * (tr[i].sigma_sq / c);
    const double i_delta = delta_sum * (tr[i].sigma_sq / (c * c)) * gamma;
    for (const rating& p : game[i]) {
      const double s_sq = p.sigma * p.sigma;
      out[i].push_back(
          {p.mu + (s_sq / tr[i].sigma_sq) * i_omega,
           p.sigma * std::sqrt(std::max(1 - (s_sq / tr[i].sigma_sq) * i_delta, o.kappa))});
    }
  }
  return out;
}

}  // namespace

std::vector<std::vector<rating>> rate(const std::vector<std::vector<rating>>& teams,
                                      std::span<const double> ranks, const options& o) {
  const std::size_t n = teams.size();
  std::vector<double> rank(n);
  for (std::size_t i = 0; i < n; ++i)
    rank[i] = i < ranks.size() ? ranks[i] : static_cast<double>(i + 1);
  // tau: sigma' = sqrt(sigma^2 + tau^2) before the game.
  std::vector<std::vector<rating>> processed = teams;
  for (auto& team : processed)
    for (rating& p : team)
      p.sigma = std::sqrt(p.sigma * p.sigma + o.tau * o.tau);
  // Sort by rank (stable), rate, and put the teams back in their order.
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t x, std::size_t y) { return rank[x] < rank[y]; });
  std::vector<std::vector<rating>> sorted(n);
  std::vector<double> sorted_ranks(n);
  for (std::size_t k = 0; k < n; ++k) {
    sorted[k] = processed[order[k]];
    sorted_ranks[k] = rank[order[k]];
  }
  const auto rated = plackett_luce(sorted, sorted_ranks, o);
  std::vector<std::vector<rating>> out(n);
  for (std::size_t k = 0; k < n; ++k)
    out[order[k]] = rated[k];
  if (o.limit_sigma && o.tau > 0) {
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < out[i].size(); ++j)
        out[i][j].sigma = std::min(out[i][j].sigma, teams[i][j].sigma);
  }
  return out;
}

rating idle(const rating& p, long long periods, const options& o) {
  if (periods <= 0) return p;
  const double grown = p.sigma * p.sigma + static_cast<double>(periods) * o.tau * o.tau;
  return {p.mu, std::min(std::sqrt(grown), std::max(p.sigma, o.sigma))};
}

}  // namespace maratang::competition::weng_lin
