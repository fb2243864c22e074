#include "match/matchmaker.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

namespace maratang::match {
namespace {

constexpr epoch_ms kT0 = 1'700'000'000'000;

matchmaker_options opts() {
  matchmaker_options o;
  o.ticket_ttl_ms = 60'000;
  o.accept_min_after_ms = 10'000;
  o.window_start = 0.5;
  o.widen_per_s = 0.1;
  o.window_max = 6.0;
  o.seed = 42;
  return o;
}

ticket solo(player_id p, int lo = 2, int hi = 2, std::string mode = "duel") {
  ticket t;
  t.mode = std::move(mode);
  t.players = {p};
  t.min_players = lo;
  t.max_players = hi;
  return t;
}

ticket rated(player_id p, double mu, double sigma = 10) {
  ticket t = solo(p);
  t.rated = true;
  t.mu = mu;
  t.sigma = sigma;
  return t;
}

std::set<player_id> players_of(const match& m) {
  std::set<player_id> out;
  for (const auto& t : m.tickets)
    out.insert(t.players.begin(), t.players.end());
  return out;
}

TEST(matchmaker, pairs_two_compatible_tickets) {
  matchmaker mm(opts());
  ASSERT_TRUE(mm.add(solo(1), kT0));
  ASSERT_TRUE(mm.add(solo(2), kT0));
  auto ms = mm.run(kT0);
  ASSERT_EQ(ms.size(), 1u);
  EXPECT_EQ(players_of(ms[0]), (std::set<player_id>{1, 2}));
  EXPECT_EQ(mm.size(), 0u);
  EXPECT_EQ(mm.ticket_of(1), nullptr);
}

TEST(matchmaker, one_live_ticket_per_account) {
  matchmaker mm(opts());
  ASSERT_TRUE(mm.add(solo(1), kT0));
  auto again = mm.add(solo(1), kT0);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, errc::already_matchmaking);
  // A party holding that account is refused too, and changes nothing.
  ticket party = solo(5, 2, 4);
  party.players = {5, 1};
  party.party = 9;
  EXPECT_FALSE(mm.add(party, kT0));
  EXPECT_EQ(mm.size(), 1u);
  EXPECT_EQ(mm.ticket_of(5), nullptr);
}

TEST(matchmaker, take_all_empties_the_pool_in_queue_order) {
  matchmaker mm(opts());
  ASSERT_TRUE(mm.add(solo(1, 3, 3), kT0));
  ASSERT_TRUE(mm.add(solo(2, 3, 3), kT0));
  ticket back = solo(3, 3, 3);
  back.id = 77;
  mm.requeue_front(back, kT0);
  auto all = mm.take_all();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].players.front(), 3);  // re-queued first
  EXPECT_EQ(all[1].players.front(), 1);
  EXPECT_EQ(all[2].players.front(), 2);
  EXPECT_EQ(mm.size(), 0u);
  EXPECT_EQ(mm.ticket_of(1), nullptr);
  // The accounts are free to queue again.
  EXPECT_TRUE(mm.add(solo(1), kT0));
}

TEST(matchmaker, rating_window_widens_with_waiting_time) {
  matchmaker mm(opts());
  // 20 apart, sigma 10: the window is 5 at first and reaches 20 after 15 s.
  ASSERT_TRUE(mm.add(rated(1, 100), kT0));
  ASSERT_TRUE(mm.add(rated(2, 120), kT0));
  EXPECT_TRUE(mm.run(kT0).empty());
  EXPECT_TRUE(mm.run(kT0 + 14'000).empty());
  auto ms = mm.run(kT0 + 15'000);
  ASSERT_EQ(ms.size(), 1u);
  EXPECT_EQ(players_of(ms[0]), (std::set<player_id>{1, 2}));
}

TEST(matchmaker, the_closest_rating_is_picked) {
  matchmaker mm(opts());
  ASSERT_TRUE(mm.add(rated(1, 100), kT0));
  ASSERT_TRUE(mm.add(rated(2, 104), kT0));
  ASSERT_TRUE(mm.add(rated(3, 101), kT0));
  auto ms = mm.run(kT0);
  ASSERT_EQ(ms.size(), 1u);
  EXPECT_EQ(players_of(ms[0]), (std::set<player_id>{1, 3}));
  EXPECT_NE(mm.ticket_of(2), nullptr);
}

TEST(matchmaker, the_longer_waiter_widens_for_both) {
  matchmaker mm(opts());
  ASSERT_TRUE(mm.add(rated(1, 100), kT0));
  // A newcomer 20 away: its own window is 5, the old ticket's 20 after 15 s.
  ASSERT_TRUE(mm.add(rated(2, 120), kT0 + 15'000));
  EXPECT_EQ(mm.run(kT0 + 15'000).size(), 1u);
}

TEST(matchmaker, both_sides_satisfy_each_others_query) {
  matchmaker mm(opts());
  ticket a = solo(1);
  a.props = {{"region", std::string("eu")}, {"level", 10.0}};
  a.q.must = {{"region", std::string("eu")}};
  ticket b = solo(2);
  b.props = {{"region", std::string("eu")}, {"level", 30.0}};
  // b satisfies a's query, but a does not satisfy b's range.
  b.q.ranges = {{"level", {20, 40}}};
  ASSERT_TRUE(mm.add(a, kT0));
  ASSERT_TRUE(mm.add(b, kT0));
  EXPECT_TRUE(mm.run(kT0).empty());
  ticket c = solo(3);
  c.props = {{"region", std::string("eu")}, {"level", 12.0}};
  c.q.ranges = {{"level", {5, 15}}};
  ASSERT_TRUE(mm.add(c, kT0));
  auto ms = mm.run(kT0);
  ASSERT_EQ(ms.size(), 1u);
  EXPECT_EQ(players_of(ms[0]), (std::set<player_id>{1, 3}));
  // A property of the wrong type does not satisfy a range; a missing one fails a must.
  query q;
  q.ranges = {{"level", {0, 100}}};
  EXPECT_FALSE(satisfies(q, {{"level", std::string("12")}}));
  q = {};
  q.must = {{"lang", std::string("ko")}};
  EXPECT_FALSE(satisfies(q, {}));
}

TEST(matchmaker, should_clauses_are_preferred) {
  matchmaker mm(opts());
  ticket a = solo(1);
  a.q.should = {{"lang", std::string("ko")}};
  ASSERT_TRUE(mm.add(a, kT0));
  ticket b = solo(2);
  b.props = {{"lang", std::string("en")}};
  ASSERT_TRUE(mm.add(b, kT0));
  ticket c = solo(3);
  c.props = {{"lang", std::string("ko")}};
  ASSERT_TRUE(mm.add(c, kT0));
  auto ms = mm.run(kT0);
  ASSERT_EQ(ms.size(), 1u);
  EXPECT_EQ(players_of(ms[0]), (std::set<player_id>{1, 3}));
}

TEST(matchmaker, prefers_max_and_accepts_min_after_the_wait) {
  matchmaker mm(opts());
  // Mafia-like: 4 to 6 players; 4 waiting.
  for (player_id p = 1; p <= 4; ++p)
    ASSERT_TRUE(mm.add(solo(p, 4, 6, "mafia"), kT0));
  EXPECT_TRUE(mm.run(kT0 + 9'999).empty());
  auto ms = mm.run(kT0 + 10'000);
  ASSERT_EQ(ms.size(), 1u);
  EXPECT_EQ(ms[0].players(), 4u);
  // Six at once: a full match without waiting.
  for (player_id p = 11; p <= 16; ++p)
    ASSERT_TRUE(mm.add(solo(p, 4, 6, "mafia"), kT0 + 20'000));
  ms = mm.run(kT0 + 20'000);
  ASSERT_EQ(ms.size(), 1u);
  EXPECT_EQ(ms[0].players(), 6u);
}

TEST(matchmaker, parties_are_never_split) {
  matchmaker mm(opts());
  // 4 players exactly: a party of 3 and two solos cannot make 4 with the party whole and both
  // solos; the party and one solo do.
  ticket party = solo(1, 4, 4, "mafia");
  party.players = {1, 2, 3};
  party.party = 7;
  ASSERT_TRUE(mm.add(party, kT0));
  ASSERT_TRUE(mm.add(solo(10, 4, 4, "mafia"), kT0 + 1));
  ASSERT_TRUE(mm.add(solo(11, 4, 4, "mafia"), kT0 + 2));
  auto ms = mm.run(kT0 + 3);
  ASSERT_EQ(ms.size(), 1u);
  auto ps = players_of(ms[0]);
  EXPECT_EQ(ps.size(), 4u);
  EXPECT_TRUE(ps.count(1) && ps.count(2) && ps.count(3));
  // Two parties of 3 never fill 4 (in a pool of their own: a solo is left above).
  ticket p2 = party;
  p2.mode = "four";
  p2.players = {21, 22, 23};
  p2.party = 8;
  ticket p3 = p2;
  p3.players = {31, 32, 33};
  p3.party = 9;
  ASSERT_TRUE(mm.add(p2, kT0));
  ASSERT_TRUE(mm.add(p3, kT0));
  EXPECT_TRUE(mm.run(kT0 + 60'000 - 1).empty());
}

TEST(matchmaker, no_account_is_in_two_matches) {
  matchmaker mm(opts());
  for (player_id p = 1; p <= 101; ++p)
    ASSERT_TRUE(mm.add(solo(p), kT0 + p));
  auto ms = mm.run(kT0 + 200);
  EXPECT_EQ(ms.size(), 50u);
  std::set<player_id> seen;
  for (const auto& m : ms) {
    EXPECT_EQ(m.players(), 2u);
    for (player_id p : players_of(m))
      EXPECT_TRUE(seen.insert(p).second) << p << " is in two matches";
  }
  EXPECT_EQ(mm.size(), 1u);
  // The one left over is still queued; a matched account may queue again.
  for (player_id p = 1; p <= 101; ++p)
    EXPECT_EQ(mm.ticket_of(p) != nullptr, !seen.count(p)) << p;
  EXPECT_TRUE(mm.add(solo(*seen.begin()), kT0 + 300));
}

TEST(matchmaker, a_requeued_ticket_goes_first) {
  matchmaker mm(opts());
  ASSERT_TRUE(mm.add(rated(1, 100.3), kT0 - 20'000));
  ASSERT_TRUE(mm.add(rated(2, 100.3), kT0 - 20'000));
  auto ms = mm.run(kT0 - 20'000);
  ASSERT_EQ(ms.size(), 1u);
  // Player 2 did not join: player 1's ticket comes back at the front, ahead of tickets queued
  // before its return: it anchors the next match and takes the closest rating (4), where 3,
  // the oldest, would have taken 4 for itself.
  ASSERT_TRUE(mm.add(rated(3, 100.0), kT0 - 5000));
  ASSERT_TRUE(mm.add(rated(4, 100.1), kT0 - 4000));
  ticket back = ms[0].tickets[0].players[0] == 1 ? ms[0].tickets[0] : ms[0].tickets[1];
  mm.requeue_front(back, kT0);
  ASSERT_NE(mm.ticket_of(1), nullptr);
  EXPECT_EQ(mm.ticket_of(1)->enqueued_at, kT0 - 20'000);  // its wait is kept
  EXPECT_EQ(mm.ticket_of(1)->expires_at, kT0 + 60'000);   // with a fresh expiry
  ms = mm.run(kT0);
  ASSERT_EQ(ms.size(), 1u);
  EXPECT_EQ(players_of(ms[0]), (std::set<player_id>{1, 4}));
  EXPECT_NE(mm.ticket_of(3), nullptr);
}

TEST(matchmaker, tickets_expire_and_cancel) {
  matchmaker mm(opts());
  auto a = mm.add(solo(1, 2, 2, "a"), kT0);
  auto b = mm.add(solo(2, 2, 2, "b"), kT0 + 1000);
  ASSERT_TRUE(a && b);
  std::vector<ticket> expired;
  EXPECT_TRUE(mm.run(kT0 + 59'999, &expired).empty());
  EXPECT_TRUE(expired.empty());
  EXPECT_TRUE(mm.run(kT0 + 60'000, &expired).empty());
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].players, std::vector<player_id>{1});
  EXPECT_EQ(mm.ticket_of(1), nullptr);
  EXPECT_TRUE(mm.cancel(*b));
  EXPECT_FALSE(mm.cancel(*b));
  EXPECT_EQ(mm.size(), 0u);
  // A cancelled ticket is never matched.
  ASSERT_TRUE(mm.add(solo(3, 2, 2, "b"), kT0 + 2000));
  EXPECT_TRUE(mm.run(kT0 + 2000).empty());
}

TEST(matchmaker, modes_do_not_mix_and_bad_bounds_change_nothing) {
  matchmaker mm(opts());
  ASSERT_TRUE(mm.add(solo(1, 2, 2, "a"), kT0));
  ASSERT_TRUE(mm.add(solo(2, 2, 2, "b"), kT0));
  EXPECT_TRUE(mm.run(kT0).empty());
  ticket bad = solo(3, 3, 2);
  EXPECT_FALSE(mm.add(bad, kT0));
  ticket big = solo(4, 2, 2);
  big.players = {4, 5, 6};
  EXPECT_FALSE(mm.add(big, kT0));
  EXPECT_EQ(mm.size(), 2u);
  EXPECT_EQ(mm.ticket_of(4), nullptr);
}

TEST(matchmaker, the_same_seed_makes_the_same_matches) {
  auto play = [] {
    matchmaker mm(opts());
    for (player_id p = 1; p <= 20; ++p)
      (void)mm.add(solo(p), kT0);
    std::vector<std::set<player_id>> out;
    for (const auto& m : mm.run(kT0))
      out.push_back(players_of(m));
    return out;
  };
  EXPECT_EQ(play(), play());
}

// The pass's index: bands of window sizes, must slices and the random walk must find exactly the
// candidates the rule allows.

TEST(matchmaker, a_narrow_anchor_meets_a_wide_window_in_another_band) {
  matchmaker mm(opts());
  // The anchor (first in queue) has a window of 0.5 (sigma 1); the other's is 20 (sigma 40,
  // 0.5 * 40), in a wider band: 15 apart, they meet by the wider window, not by the anchor's.
  ticket a = rated(1, 100, 1);
  ASSERT_TRUE(mm.add(a, kT0));
  ASSERT_TRUE(mm.add(rated(2, 115, 40), kT0));
  // One ticket in the anchor's own band but farther than both windows is not taken.
  ASSERT_TRUE(mm.add(rated(3, 101, 1), kT0));
  auto ms = mm.run(kT0);
  ASSERT_EQ(ms.size(), 1u);
  EXPECT_EQ(players_of(ms[0]), (std::set<player_id>{1, 2}));
  // Exactly at the edge of a window (distance == window) still meets; just past it does not.
  matchmaker edge(opts());
  ASSERT_TRUE(edge.add(rated(10, 100, 16), kT0));  // window 8: a band edge (2^3)
  ASSERT_TRUE(edge.add(rated(11, 108, 1), kT0));
  ASSERT_TRUE(edge.add(rated(12, 91.99, 1), kT0));
  ms = edge.run(kT0);
  ASSERT_EQ(ms.size(), 1u);
  EXPECT_EQ(players_of(ms[0]), (std::set<player_id>{10, 11}));
  EXPECT_NE(edge.ticket_of(12), nullptr);
}

TEST(matchmaker, a_must_clause_needs_the_value_present_on_the_other) {
  matchmaker mm(opts());
  ticket a = solo(1);
  a.props = {{"region", std::string("eu")}};
  a.q.must = {{"region", std::string("eu")}};
  ASSERT_TRUE(mm.add(a, kT0));
  ticket lacks = solo(2);  // no region at all
  ASSERT_TRUE(mm.add(lacks, kT0));
  ticket other = solo(3);
  other.props = {{"region", std::string("na")}};
  ASSERT_TRUE(mm.add(other, kT0));
  ticket number = solo(4);  // the same key, a number: not the string "eu"
  number.props = {{"region", 1.0}};
  ASSERT_TRUE(mm.add(number, kT0));
  ticket picky = solo(5);  // has eu, but asks for a language the anchor lacks
  picky.props = {{"region", std::string("eu")}};
  picky.q.must = {{"lang", std::string("ko")}};
  ASSERT_TRUE(mm.add(picky, kT0));
  auto ms = mm.run(kT0);
  // Two of 2, 3, 4 pair (none asks anything); 1 and 5 stay (and the third).
  ASSERT_EQ(ms.size(), 1u);
  EXPECT_FALSE(players_of(ms[0]).count(1));
  EXPECT_FALSE(players_of(ms[0]).count(5));
  EXPECT_NE(mm.ticket_of(1), nullptr);
  EXPECT_NE(mm.ticket_of(5), nullptr);
  // A ticket with eu and no query of its own is met.
  ticket fits = solo(6);
  fits.props = {{"region", std::string("eu")}, {"lang", std::string("en")}};
  ASSERT_TRUE(mm.add(fits, kT0 + 1));
  ms = mm.run(kT0 + 1);
  ASSERT_EQ(ms.size(), 1u);
  EXPECT_EQ(players_of(ms[0]), (std::set<player_id>{1, 6}));
}

TEST(matchmaker, an_anchor_asking_nothing_finds_tickets_that_ask_for_what_it_has) {
  matchmaker mm(opts());
  ticket a = rated(1, 100);  // first in queue, no query: it anchors
  a.props = {{"region", std::string("eu")}};
  ASSERT_TRUE(mm.add(a, kT0));
  ticket na = rated(2, 100);  // the nearest, but asks for another region
  na.q.must = {{"region", std::string("na")}};
  ASSERT_TRUE(mm.add(na, kT0));
  ticket eu = rated(3, 101);
  eu.q.must = {{"region", std::string("eu")}};
  ASSERT_TRUE(mm.add(eu, kT0));
  auto ms = mm.run(kT0);
  ASSERT_EQ(ms.size(), 1u);
  EXPECT_EQ(players_of(ms[0]), (std::set<player_id>{1, 3}));
  EXPECT_NE(mm.ticket_of(2), nullptr);
}

TEST(matchmaker, rated_and_unrated_tickets_meet_both_ways) {
  matchmaker mm(opts());
  ASSERT_TRUE(mm.add(rated(1, 100), kT0));
  ASSERT_TRUE(mm.add(solo(2), kT0));
  ASSERT_TRUE(mm.add(solo(3), kT0));
  ASSERT_TRUE(mm.add(rated(4, 500), kT0));
  auto ms = mm.run(kT0);
  // 1 (rated, nobody rated near) takes an unrated ticket; the other unrated takes 4.
  ASSERT_EQ(ms.size(), 2u);
  EXPECT_EQ(mm.size(), 0u);
}

TEST(matchmaker, after_a_pass_no_match_is_left_unformed) {
  // Random pools mixing everything the index splits on (must clauses on either of two keys,
  // or both); after each pass every match is valid
  // and mutually compatible, and no ticket left could form one with those left (an exhaustive
  // search of their subsets).
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(0, 1);
  for (int round = 0; round < 20; ++round) {
    matchmaker mm(opts());
    std::vector<ticket_id> ids;
    player_id next = 1;
    for (int i = 0; i < 300; ++i) {
      ticket t = u(rng) < 0.5 ? solo(0, 2, 2, "duel") : solo(0, 3, 5, "group");
      if (t.mode == "group" && u(rng) < 0.3) t.players.resize(2);
      for (auto& p : t.players)
        p = next++;
      // Two keys, so that a ticket asking one thing is a candidate of anchors asking another.
      const char* regions[] = {"eu", "na", "kr"};
      const char* langs[] = {"en", "ko"};
      t.props = {{"region", std::string(regions[rng() % 3])},
                 {"lang", std::string(langs[rng() % 2])}};
      if (u(rng) < 0.3) t.props.erase("region");
      if (u(rng) < 0.2) t.props.erase("lang");
      if (u(rng) < 0.4) t.q.must["region"] = std::string(regions[rng() % 3]);
      if (u(rng) < 0.3) t.q.must["lang"] = std::string(langs[rng() % 2]);
      if (u(rng) < 0.3) t.q.should = {{"region", std::string(regions[rng() % 3])}};
      if (u(rng) < 0.7) {
        t.rated = true;
        t.mu = 100 + 30 * (u(rng) - 0.5);
        t.sigma = 0.5 + u(rng) * 10;
      }
      if (u(rng) < 0.1) t.settings = "{\"x\":1}";
      auto id = mm.add(t, kT0 - static_cast<epoch_ms>(rng() % 30'000));
      ASSERT_TRUE(id);
      ids.push_back(*id);
    }
    for (epoch_ms now = kT0; now <= kT0 + 3000; now += 1000) {
      auto ms = mm.run(now);
      std::set<player_id> seen;
      for (const auto& m : ms) {
        const int n = static_cast<int>(m.players());
        for (std::size_t i = 0; i < m.tickets.size(); ++i) {
          EXPECT_GE(n, m.tickets[i].min_players);
          EXPECT_LE(n, m.tickets[i].max_players);
          EXPECT_EQ(m.tickets[i].mode, m.mode);
          for (std::size_t j = i + 1; j < m.tickets.size(); ++j)
            EXPECT_TRUE(mm.compatible(m.tickets[i], m.tickets[j], now));
          for (player_id p : m.tickets[i].players)
            EXPECT_TRUE(seen.insert(p).second);
        }
      }
      std::vector<const ticket*> left;
      for (ticket_id id : ids)
        if (const ticket* t = mm.find(id)) left.push_back(t);
      EXPECT_EQ(left.size(), mm.size());
      for (const ticket* t : left)
        EXPECT_FALSE(mm.could_form(*t, left, now))
            << "round " << round << ": ticket " << t->id << " (" << t->mode << ", " << t->size()
            << (t->rated ? " rated" : "") << ") could form a match at +" << (now - kT0);
    }
  }
}

}  // namespace
}  // namespace maratang::match
