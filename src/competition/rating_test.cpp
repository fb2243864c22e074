#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "competition/glicko2.hpp"
#include "competition/weng_lin.hpp"

namespace maratang::competition {
namespace {

// Glickman, "Example of the Glicko-2 system" (2013), section "Example calculation".
TEST(glicko2, reproduces_the_papers_example) {
  const glicko2::rating player{1500, 200, 0.06};
  const std::vector<glicko2::result> games{
      {{1400, 30, 0.06}, 1}, {{1550, 100, 0.06}, 0}, {{1700, 300, 0.06}, 0}};
  const auto r = glicko2::update(player, games, {.tau = 0.5});
  // The paper prints its steps to four decimals and rounds as it goes: mu' = -0.2069 and
  // phi' = 0.8722 on the Glicko-2 scale, sigma' = 0.05999, then r' = 173.7178 * -0.2069 + 1500 =
  // 1464.06 and RD' = 151.52. Unrounded, the same steps give mu' = -0.20694 (r' = 1464.0507)
  // and sigma' = 0.059996: each within the paper's printed precision.
  const double mu = (r.r - 1500) / 173.7178;
  const double phi = r.rd / 173.7178;
  EXPECT_NEAR(mu, -0.2069, 0.00005);
  EXPECT_NEAR(phi, 0.8722, 0.00005);
  EXPECT_NEAR(r.sigma, 0.05999, 0.00001);
  EXPECT_NEAR(173.7178 * std::round(mu * 10000) / 10000 + 1500, 1464.06, 0.005);
  EXPECT_NEAR(r.r, 1464.06, 0.01);
  EXPECT_NEAR(r.rd, 151.52, 0.005);
}

TEST(glicko2, a_period_without_games_only_grows_the_deviation) {
  const glicko2::rating player{1500, 200, 0.06};
  const auto r = glicko2::update(player, {}, {.tau = 0.5});
  EXPECT_DOUBLE_EQ(r.r, 1500);
  EXPECT_DOUBLE_EQ(r.sigma, 0.06);
  // phi' = sqrt(phi^2 + sigma^2) on the Glicko-2 scale.
  const double phi = 200 / 173.7178;
  EXPECT_NEAR(r.rd, std::sqrt(phi * phi + 0.06 * 0.06) * 173.7178, 1e-9);
  EXPECT_GT(r.rd, 200);
  // Many idle periods grow it further, never past a new player's deviation.
  const auto later = glicko2::idle(player, 10);
  EXPECT_GT(later.rd, r.rd);
  EXPECT_LE(glicko2::idle(player, 100000).rd, 350);
  EXPECT_DOUBLE_EQ(glicko2::idle(player, 0).rd, 200);
}

TEST(glicko2, a_win_raises_and_a_loss_lowers_and_display_is_conservative) {
  const glicko2::rating a;
  const glicko2::rating b;
  const std::vector<glicko2::result> win{{b, 1}};
  const std::vector<glicko2::result> loss{{a, 0}};
  EXPECT_GT(glicko2::update(a, win).r, 1500);
  EXPECT_LT(glicko2::update(b, loss).r, 1500);
  EXPECT_DOUBLE_EQ(glicko2::display(a), 1500 - 700);
}

void expect_ratings(const std::vector<std::vector<weng_lin::rating>>& got,
                    const std::vector<std::vector<weng_lin::rating>>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].size(), want[i].size());
    for (std::size_t j = 0; j < got[i].size(); ++j) {
      EXPECT_NEAR(got[i][j].mu, want[i][j].mu, 1e-9) << "team " << i << " player " << j;
      EXPECT_NEAR(got[i][j].sigma, want[i][j].sigma, 1e-9) << "team " << i << " player " << j;
    }
  }
}

// The model alone (no tau), as openskill.js src/models/__tests__/plackett-luce.test.ts calls it
// (github.com/philihp/openskill.js, commit 0bf4361).
TEST(weng_lin, plackett_luce_matches_openskill_js_model_tests) {
  const weng_lin::options no_tau{.tau = 0};
  const weng_lin::rating r;
  expect_ratings(
      weng_lin::rate({{r}, {r}}, {}, no_tau),
      {{{27.63523138347365, 8.065506316323548}}, {{22.36476861652635, 8.065506316323548}}});
  expect_ratings(weng_lin::rate({{r}, {r}, {r}}, {}, no_tau),
                 {{{27.868876552746237, 8.204837030780652}},
                  {{25.717219138186557, 8.057829747583874}},
                  {{21.413904309067206, 8.057829747583874}}});
  expect_ratings(weng_lin::rate({{r}, {r}, {r}, {r}, {r}}, {}, no_tau),
                 {{{27.666666666666668, 8.290556877154474}},
                  {{26.833333333333332, 8.240145629781066}},
                  {{25.72222222222222, 8.179996679645559}},
                  {{24.055555555555557, 8.111796013701358}},
                  {{20.72222222222222, 8.111796013701358}}});
  const weng_lin::rating t3{25.939870821784513, 8.247641552260456};
  const weng_lin::rating t2{21.84646897330287, 8.213058173195341};
  expect_ratings(weng_lin::rate({{r, r, r}, {r}, {r, r}}, {}, no_tau),
                 {{t3, t3, t3}, {{27.21366020491262, 8.274321317985242}}, {t2, t2}});
  // A tie of equal ratings leaves mu where it was.
  const std::vector<double> tie{1, 1};
  const auto tied = weng_lin::rate({{r}, {r}}, tie, no_tau);
  EXPECT_NEAR(tied[0][0].mu, 25, 1e-9);
  EXPECT_NEAR(tied[1][0].mu, 25, 1e-9);
}

// rate() with its default tau (25/300), from openskill.js src/__tests__/rate.test.ts.
TEST(weng_lin, rate_matches_openskill_js_rate_tests) {
  const weng_lin::rating a{29.182, 4.782};
  const weng_lin::rating b{27.174, 4.922};
  const weng_lin::rating c{16.672, 6.217};
  const weng_lin::rating d;
  expect_ratings(weng_lin::rate({{a}, {b}, {c}, {d}}, {}),
                 {{{30.210227447000438, 4.765617924939384}},
                  {{27.644725221915632, 4.883479590134575}},
                  {{17.4036218889969, 6.101259408259549}},
                  {{19.21460876538932, 7.854669920480409}}});
  expect_ratings(
      weng_lin::rate({{a, b}, {c, d}}, {}),
      {{{29.607340941337068, 4.755311788972862}, {27.624602782532037, 4.892807828777459}},
       {{15.953170429143093, 6.125902065139878}, {23.70858117648013, 8.111707446126035}}});
  expect_ratings(
      weng_lin::rate({{a, b}, {c, d}}, {}, {.tau = 0.01}),
      {{{29.60722003260825, 4.754607604502581}, {27.624482251695827, 4.892124276331747}},
       {{15.953286947567106, 6.1253654293947335}, {23.708689129525133, 8.111303923213725}}});
}

TEST(weng_lin, ranks_order_the_teams_whatever_their_place_in_the_list) {
  const weng_lin::rating r;
  const std::vector<double> ranks{2, 1};
  const auto out = weng_lin::rate({{r}, {r}}, ranks, {.tau = 0});
  EXPECT_NEAR(out[1][0].mu, 27.63523138347365, 1e-9);
  EXPECT_NEAR(out[0][0].mu, 22.36476861652635, 1e-9);
}

TEST(weng_lin, inactivity_grows_sigma_up_to_a_new_players) {
  const weng_lin::rating p{30, 2};
  EXPECT_DOUBLE_EQ(weng_lin::idle(p, 0).sigma, 2);
  const auto a = weng_lin::idle(p, 1);
  EXPECT_NEAR(a.sigma, std::sqrt(4 + (25.0 / 300) * (25.0 / 300)), 1e-12);
  EXPECT_DOUBLE_EQ(a.mu, 30);
  EXPECT_GT(weng_lin::idle(p, 100).sigma, a.sigma);
  EXPECT_DOUBLE_EQ(weng_lin::idle(p, 1'000'000).sigma, 25.0 / 3);
  EXPECT_DOUBLE_EQ(weng_lin::display(weng_lin::rating{}), 0);
}

}  // namespace
}  // namespace maratang::competition
