// The matchmaker's logic: a pool of tickets per mode and the rule that groups them into matches.
// Pure and deterministic: no threads, no I/O, time passed in by the caller and randomness from a
// seeded generator, so a test steps it exactly. Not thread-safe: its owner (match_service) calls
// it from one strand only.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "util/clock.hpp"
#include "util/error.hpp"

namespace maratang::match {

using player_id = std::int64_t;
using ticket_id = std::uint64_t;

// A property's value: a string or a number.
using value = std::variant<std::string, double>;
using properties = std::map<std::string, value, std::less<>>;

// What a ticket asks of every other ticket in its match. must: the other has each property with
// exactly this value. should: preferred, not required (candidates matching more come first).
// ranges: the other has each property as a number within [min, max].
struct query {
  struct range {
    double min = 0;
    double max = 0;
  };
  properties must;
  properties should;
  std::map<std::string, range, std::less<>> ranges;
};

// One ticket: a solo player or a whole party, indivisible.
struct ticket {
  ticket_id id = 0;
  std::string mode;
  std::vector<player_id> players;  // the party's members (leader first), or the player alone
  std::int64_t party = 0;          // the party's id; 0: a solo player
  properties props;
  query q;
  // The room's mode settings this ticket asks for, as validated JSON text ("" the mode's
  // defaults): only tickets asking for the same settings share a match.
  std::string settings;
  int min_players = 0;  // the match's size bounds, as this ticket accepts them
  int max_players = 0;
  // The rating under the mode's rating key (competition store): mu and sigma of the model
  // (a party: the mean of its members'). Unrated tickets are matched by random pick.
  bool rated = false;
  double mu = 0;
  double sigma = 0;
  epoch_ms enqueued_at = 0;  // first queued (kept when re-queued: the window stays wide)
  epoch_ms expires_at = 0;
  std::int64_t order = 0;  // queue position: lower goes first (re-queued tickets are negative)
  // Several nodes: the node the ticket was sent from, where its players are connected ("" this
  // one). Not used by the matching itself; the service makes the room where most players are.
  std::string node;

  std::size_t size() const noexcept { return players.size(); }
};

struct matchmaker_options {
  // A ticket not matched this long after it was queued (or re-queued) expires.
  int ticket_ttl_ms = 300'000;
  // Below the largest size the tickets allow, a match of at least their minimum is formed only
  // once its oldest ticket has waited this long.
  int accept_min_after_ms = 10'000;
  // Rated tickets: two may meet when their means differ by at most a window, in units of the
  // ticket's sigma: window_start, plus widen_per_s for each second waited, up to window_max. Of
  // the two tickets' windows the wider (the longer waiter's) decides.
  double window_start = 0.5;
  double widen_per_s = 0.1;
  double window_max = 6.0;
  std::uint64_t seed = 0;  // the random pick's generator
};

// A match: tickets whose players fill one room, oldest ticket first.
struct match {
  std::string mode;
  std::vector<ticket> tickets;
  std::size_t players() const noexcept;
};

class matchmaker {
 public:
  explicit matchmaker(matchmaker_options opts);

  // Queues `t` (its id, order and times are set here) and returns its id. already_matchmaking
  // when one of its players has a live ticket; bad_field when its bounds are inconsistent.
  result<ticket_id> add(ticket t, epoch_ms now);
  // Removes a live ticket; false when there is none.
  bool cancel(ticket_id id);
  // The live ticket holding `p`, or null.
  const ticket* ticket_of(player_id p) const;
  const ticket* find(ticket_id id) const;
  // Empties the pool: every ticket, in queue order.
  std::vector<ticket> take_all();
  // Puts a ticket of a failed match back, ahead of every ticket queued normally (in the order of
  // the calls), keeping its enqueued_at, with a fresh expiry. Its players must hold no live ticket.
  void requeue_front(ticket t, epoch_ms now);

  // One matching pass at `now`: removes expired tickets (into `expired`) and forms as many
  // matches as the pool allows; every ticket is in at most one, each leaves the pool. Each
  // unmatched ticket in queue order anchors a match, taking its candidates best first (re-queued
  // ones, then should clauses met, then the nearest rating or a random pick) from an index built
  // for the pass, so its cost follows the candidates looked at, not the pool's square (the .cpp
  // says how, and where should clauses are only weighed among the nearest candidates).
  std::vector<match> run(epoch_ms now, std::vector<ticket>* expired = nullptr);

  std::size_t size() const noexcept { return tickets_.size(); }
  // The window (in the model's units) a ticket accepts at `now`.
  double window(const ticket& t, epoch_ms now) const;
  // Whether `a` and `b` may share a match at `now`: the same settings, each satisfies the
  // other's query and, both rated, their means lie within the wider window.
  bool compatible(const ticket& a, const ticket& b, epoch_ms now) const;
  // Whether some tickets of `pool` (of a's mode, a excluded) would form a valid match with `a` at
  // `now`: an exhaustive search of every subset, exponential; for tests and benchmarks checking
  // that a pass left no match unformed.
  bool could_form(const ticket& a, const std::vector<const ticket*>& pool, epoch_ms now) const;

 private:
  void remove(ticket_id id);

  matchmaker_options opts_;
  std::mt19937_64 rng_;
  ticket_id next_id_ = 1;
  std::int64_t next_order_ = 1;
  std::int64_t next_front_ = -1;
  std::unordered_map<ticket_id, ticket> tickets_;
  std::unordered_map<player_id, ticket_id> by_player_;
};

// Whether `props` satisfies `q`'s must and range clauses.
bool satisfies(const query& q, const properties& props);
// How many of `q`'s should clauses `props` meets.
int should_score(const query& q, const properties& props);

}  // namespace maratang::match
