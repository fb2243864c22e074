#include "competition/glicko2.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace maratang::competition::glicko2 {
namespace {

// Step 2: the Glicko-2 scale.
constexpr double scale = 173.7178;

double g(double phi) {
  return 1 / std::sqrt(1 + 3 * phi * phi / (std::numbers::pi * std::numbers::pi));
}

double expected(double mu, double mu_j, double phi_j) {
  return 1 / (1 + std::exp(-g(phi_j) * (mu - mu_j)));
}

}  // namespace

rating update(const rating& player, std::span<const result> results, const options& o) {
  const double mu = (player.r - 1500) / scale;
  const double phi = player.rd / scale;
  const double max_phi = o.max_rd / scale;
  if (results.empty()) {
    // Step 6 alone: a period without games.
    return {player.r, std::min(std::sqrt(phi * phi + player.sigma * player.sigma), max_phi) * scale,
            player.sigma};
  }
  // Step 3 and 4: the estimated variance v and improvement delta.
  double v_inv = 0;
  double sum = 0;
  for (const result& res : results) {
    const double mu_j = (res.opponent.r - 1500) / scale;
    const double phi_j = res.opponent.rd / scale;
    const double e = expected(mu, mu_j, phi_j);
    const double gj = g(phi_j);
    v_inv += gj * gj * e * (1 - e);
    sum += gj * (res.score - e);
  }
  const double v = 1 / v_inv;
  const double delta = v * sum;

  // Step 5: the new volatility, by the Illinois algorithm.
  const double a = std::log(player.sigma * player.sigma);
  const double tau2 = o.tau * o.tau;
  const auto f = [&](double x) {
    const double ex = std::exp(x);
    const double d = phi * phi + v + ex;
    return ex * (delta * delta - phi * phi - v - ex) / (2 * d * d) - (x - a) / tau2;
  };
  double big_a = a;
  double big_b;
  if (delta * delta > phi * phi + v) {
    big_b = std::log(delta * delta - phi * phi - v);
  } else {
    double k = 1;
    while (f(a - k * o.tau) < 0)
      k += 1;
    big_b = a - k * o.tau;
  }
  double f_a = f(big_a);
  double f_b = f(big_b);
  while (std::abs(big_b - big_a) > o.epsilon) {
    const double big_c = big_a + (big_a - big_b) * f_a / (f_b - f_a);
    const double f_c = f(big_c);
    if (f_c * f_b <= 0) {
      big_a = big_b;
      f_a = f_b;
    } else {
      f_a /= 2;
    }
    big_b = big_c;
    f_b = f_c;
  }
  const double sigma = std::exp(big_a / 2);

  // Step 6 and 7: the pre-period deviation, then the new deviation and rating.
  const double phi_star = std::sqrt(phi * phi + sigma * sigma);
  const double phi_new = 1 / std::sqrt(1 / (phi_star * phi_star) + 1 / v);
  const double mu_new = mu + phi_new * phi_new * sum;
  // Step 8: back to the Glicko scale.
  return {mu_new * scale + 1500, std::min(phi_new, max_phi) * scale, sigma};
}

rating idle(const rating& player, long long periods, const options& o) {
  rating p = player;
  for (long long i = 0; i < periods && p.rd < o.max_rd; ++i)
    p = update(p, {}, o);
  return p;
}

}  // namespace maratang::competition::glicko2
