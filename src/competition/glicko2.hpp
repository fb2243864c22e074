// Glicko-2, exactly as Mark Glickman's "Example of the Glicko-2 system" (2013) describes it: one
// rating period's update from a list of results, the volatility found by the Illinois algorithm
// (step 5.1-5.4), and the rule for a period without games (only the deviation grows). Pure
// functions, no state: callable from any thread.
#pragma once

#include <span>

namespace maratang::competition::glicko2 {

// A player on the Glicko scale (rating 1500 and deviation 350 for a new player).
struct rating {
  double r = 1500;      // rating
  double rd = 350;      // rating deviation
  double sigma = 0.06;  // volatility
};

// One game of the rating period against one opponent: score 1 win, 0.5 draw, 0 loss.
struct result {
  rating opponent;
  double score = 0;
};

struct options {
  double tau = 0.5;           // constrains the change in volatility (the paper: 0.3 to 1.2)
  double epsilon = 0.000001;  // convergence tolerance of step 5
  double max_rd = 350;        // the deviation never grows beyond a new player's
};

// The player's rating after one rating period with these results (step 1-8). With no results
// only the deviation grows (step 6: phi' = sqrt(phi^2 + sigma^2)), capped at max_rd.
rating update(const rating& player, std::span<const result> results, const options& o = {});

// The rating after `periods` rating periods without a game: the deviation grows once per period
// as above (capped at max_rd); rating and volatility stay.
rating idle(const rating& player, long long periods, const options& o = {});

// The conservative rating shown to players: r - 2 RD (95% of the time the true strength is
// above it).
inline double display(const rating& p) {
  return p.r - 2 * p.rd;
}

}  // namespace maratang::competition::glicko2
