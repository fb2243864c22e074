// Seasons: when leaderboards start afresh. A season begins at each firing of a cron-style UTC
// schedule (competition.season_schedule) and lasts until the next; a season is named by the
// moment it began (ms since the epoch, UTC), so a game is in the season of its end time whatever
// the node or the restart. Immutable once parsed: callable from any thread.
#pragma once

#include <array>
#include <bitset>
#include <cstdint>
#include <string>
#include <string_view>

#include "util/error.hpp"

namespace maratang::competition {

// A five-field cron expression in UTC: "minute hour day-of-month month day-of-week", each a `*`,
// a number, a range `a-b`, a step `*/n` or `a-b/n`, or a comma list of those (day-of-week 0-6,
// Sunday 0, 7 also Sunday). As in cron, when both day fields are restricted a day matches either.
// "0 0 1 * *" is monthly, "0 0 * * 1" weekly on Monday 00:00 UTC. The empty schedule ("" or
// "never") has one season forever, which began at 0.
class season_schedule {
 public:
  static result<season_schedule> parse(std::string_view expr);

  // The season `at_ms` belongs to: the latest firing at or before it (0 when none within the
  // eight years before it, or the schedule is empty).
  std::int64_t season_of(std::int64_t at_ms) const;
  // The next firing after `at_ms` (when the season of at_ms ends), or 0 when none within eight
  // years (or the schedule is empty).
  std::int64_t next_after(std::int64_t at_ms) const;

  const std::string& expression() const { return expr_; }
  bool empty() const { return never_; }

 private:
  bool day_matches(std::int64_t day) const;
  std::string expr_;
  bool never_ = true;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> doms_;    // 1-31
  std::bitset<13> months_;  // 1-12
  std::bitset<7> dows_;     // 0-6, Sunday 0
  bool dom_star_ = true;
  bool dow_star_ = true;
};

}  // namespace maratang::competition
