#include "competition/season.hpp"

#include <fmt/format.h>
#include <charconv>
#include <vector>

namespace maratang::competition {
namespace {

constexpr std::int64_t minute_ms = 60'000;
constexpr std::int64_t day_ms = 86'400'000;
constexpr std::int64_t search_days = 366 * 8 + 2;  // Feb 29 on a Monday fits within this

// Howard Hinnant's civil_from_days: days since 1970-01-01 to (year, month, day).
void civil_from_days(std::int64_t z, int& m, int& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);
}

bool parse_int(std::string_view s, int& out) {
  if (s.empty()) return false;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

// One field into `bits` (indices lo..hi); `star` says it was `*` (or `*/1`).
template <std::size_t N>
result<> parse_field(std::string_view field, int lo, int hi, std::string_view name,
                     std::bitset<N>& bits, bool& star, bool dow = false) {
  const auto bad = [&](std::string_view why) -> result<> {
    return error{errc::bad_field,
                 fmt::format("season schedule: the {} field \"{}\" {}", name, field, why)};
  };
  if (field.empty()) return bad("is empty");
  star = field == "*";
  std::size_t start = 0;
  while (start <= field.size()) {
    const std::size_t comma = field.find(',', start);
    const std::string_view part = field.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    std::string_view range = part;
    int step = 1;
    if (const auto slash = part.find('/'); slash != std::string_view::npos) {
      if (!parse_int(part.substr(slash + 1), step) || step < 1) return bad("has a bad step");
      range = part.substr(0, slash);
    }
    int a = lo;
    int b = hi;
    if (range != "*") {
      if (const auto dash = range.find('-'); dash != std::string_view::npos) {
        if (!parse_int(range.substr(0, dash), a) || !parse_int(range.substr(dash + 1), b))
          return bad("has a bad range");
      } else {
        if (!parse_int(range, a)) return bad("is not a number, range, step or *");
        b = step > 1 ? hi : a;
      }
    }
    const int top = dow ? 7 : hi;
    if (a < lo || b > top || a > b) return bad(fmt::format("is out of range ({}-{})", lo, top));
    for (int v = a; v <= b; v += step)
      bits.set(static_cast<std::size_t>(dow && v == 7 ? 0 : v));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return {};
}

}  // namespace

result<season_schedule> season_schedule::parse(std::string_view expr) {
  season_schedule s;
  s.expr_ = std::string(expr);
  if (expr.empty() || expr == "never") return s;
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < expr.size()) {
    while (i < expr.size() && expr[i] == ' ')
      ++i;
    std::size_t j = i;
    while (j < expr.size() && expr[j] != ' ')
      ++j;
    if (j > i) fields.push_back(expr.substr(i, j - i));
    i = j;
  }
  if (fields.size() != 5)
    return error{errc::bad_field,
                 fmt::format("season schedule \"{}\": 5 fields expected (minute hour "
                             "day-of-month month day-of-week), {} found",
                             expr, fields.size())};
  bool star = false;
  if (auto r = parse_field(fields[0], 0, 59, "minute", s.minutes_, star); !r) return r.error();
  if (auto r = parse_field(fields[1], 0, 23, "hour", s.hours_, star); !r) return r.error();
  if (auto r = parse_field(fields[2], 1, 31, "day-of-month", s.doms_, s.dom_star_); !r)
    return r.error();
  if (auto r = parse_field(fields[3], 1, 12, "month", s.months_, star); !r) return r.error();
  if (auto r = parse_field(fields[4], 0, 6, "day-of-week", s.dows_, s.dow_star_, true); !r)
    return r.error();
  s.never_ = false;
  return s;
}

bool season_schedule::day_matches(std::int64_t day) const {
  int m = 0;
  int d = 0;
  civil_from_days(day, m, d);
  if (!months_.test(static_cast<std::size_t>(m))) return false;
  // 1970-01-01 (day 0) was a Thursday (4).
  const auto dow = static_cast<std::size_t>(((day + 4) % 7 + 7) % 7);
  const bool dom_ok = doms_.test(static_cast<std::size_t>(d));
  const bool dow_ok = dows_.test(dow);
  if (dom_star_ || dow_star_) return dom_ok && dow_ok;
  return dom_ok || dow_ok;
}

std::int64_t season_schedule::season_of(std::int64_t at_ms) const {
  if (never_) return 0;
  const std::int64_t t = floor_div(at_ms, minute_ms);  // minutes since the epoch
  const std::int64_t today = floor_div(t, 1440);
  for (std::int64_t day = today; day > today - search_days; --day) {
    if (!day_matches(day)) continue;
    const int limit = day == today ? static_cast<int>(t - today * 1440) : 1439;
    for (int mod = limit; mod >= 0; --mod) {
      if (hours_.test(static_cast<std::size_t>(mod / 60)) &&
          minutes_.test(static_cast<std::size_t>(mod % 60)))
        return day * day_ms + mod * minute_ms;
    }
  }
  return 0;
}

std::int64_t season_schedule::next_after(std::int64_t at_ms) const {
  if (never_) return 0;
  const std::int64_t t = floor_div(at_ms, minute_ms) + 1;  // the first whole minute after at_ms
  const std::int64_t today = floor_div(t, 1440);
  for (std::int64_t day = today; day < today + search_days; ++day) {
    if (!day_matches(day)) continue;
    for (int mod = day == today ? static_cast<int>(t - today * 1440) : 0; mod < 1440; ++mod) {
      if (hours_.test(static_cast<std::size_t>(mod / 60)) &&
          minutes_.test(static_cast<std::size_t>(mod % 60)))
        return day * day_ms + mod * minute_ms;
    }
  }
  return 0;
}

}  // namespace maratang::competition
