// Weng-Lin Bayesian rating for teams and free-for-all ("A Bayesian Approximation Method for
// Online Ranking", Weng & Lin, JMLR 12, 2011), the Plackett-Luce model as the reference OpenSkill
// implementation computes it (openskill.js src/models/plackett-luce.ts and src/rate.ts, which
// follow openskill.py): default constants mu 25, sigma 25/3, beta 25/6, tau 25/300, kappa 0.0001.
// Pure functions: callable from any thread.
#pragma once

#include <span>
#include <vector>

namespace maratang::competition::weng_lin {

struct rating {
  double mu = 25;
  double sigma = 25.0 / 3;
};

struct options {
  double mu = 25;
  double sigma = 25.0 / 3;  // a new player's uncertainty, and the most inactivity can reach
  double beta = 25.0 / 6;
  double tau = 25.0 / 300;  // additive dynamics: added (in quadrature) to sigma before each game
  double kappa = 0.0001;
  double z = 3;              // display = mu - z * sigma
  bool limit_sigma = false;  // never let a game raise sigma (openskill's limitSigma)
};

// The teams' ratings after one game. `teams[i]` are the players of team i; `ranks[i]` its place
// (lower is better, equal ranks tie); empty `ranks` means the teams' order (first won).
// Teams are sorted by rank (stably) for the model and the result is in the input's order, as
// openskill's rate() does. A single team changes nothing but the tau dynamics, as in openskill.
std::vector<std::vector<rating>> rate(const std::vector<std::vector<rating>>& teams,
                                      std::span<const double> ranks, const options& o = {});

// The uncertainty after `periods` rating periods without a game: sigma^2 grows by tau^2 per
// period (the same dynamics a game adds), capped at a new player's sigma. mu stays.
rating idle(const rating& p, long long periods, const options& o = {});

// The conservative rating shown to players: mu - z sigma (openskill's ordinal; 0 for a new
// player with the defaults).
inline double display(const rating& p, const options& o = {}) {
  return p.mu - o.z * p.sigma;
}

}  // namespace maratang::competition::weng_lin
