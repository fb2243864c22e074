#include "obs/history.hpp"

#include <unistd.h>

#include <boost/json.hpp>
#include <charconv>
#include <fstream>

namespace maratang::obs {

namespace json = boost::json;

const std::vector<metrics_history::series_spec>& metrics_history::series() {
  static const std::vector<series_spec> s{
      {"ws_connections", "maratang_ws_connections", false},
      {"rooms", "maratang_rooms", false},
      {"messages_in_per_s", "maratang_messages_in_total", true},
      {"http_requests_per_s", "maratang_http_requests_total", true},
      {"errors_per_s", "maratang_errors_total", true},
      {"bytes_out_per_s", "maratang_bytes_out_total", true},
      {"storage_queue", "maratang_storage_queue_depth", false},
      {"rss_bytes", "", false},
  };
  return s;
}

metrics_history::metrics_history(int interval_s, std::size_t keep)
    : interval_s_(interval_s), keep_(keep) {}

namespace {

// The sum of every sample of `family` in the exposition (its lines "family{...} v" or
// "family v"); histograms' _bucket/_sum/_count lines belong to other names and are not counted.
std::vector<double> read_families(std::string_view text,
                                  const std::vector<metrics_history::series_spec>& specs) {
  std::vector<double> sums(specs.size(), 0.0);
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.empty() || line.front() == '#') continue;
    const auto name_end = line.find_first_of("{ ");
    if (name_end == std::string_view::npos) continue;
    const std::string_view name = line.substr(0, name_end);
    const auto sp = line.rfind(' ');
    if (sp == std::string_view::npos || sp + 1 >= line.size()) continue;
    const std::string_view num = line.substr(sp + 1);
    double v = 0;
    auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
    if (ec != std::errc()) continue;
    for (std::size_t i = 0; i < specs.size(); ++i) {
      if (!specs[i].family.empty() && specs[i].family == name) sums[i] += v;
    }
  }
  return sums;
}

}  // namespace

void metrics_history::sample(std::int64_t now_ms, std::string_view exposition,
                             std::int64_t rss_bytes) {
  const auto& specs = series();
  std::vector<double> now = read_families(exposition, specs);
  for (std::size_t i = 0; i < specs.size(); ++i) {
    if (specs[i].family.empty()) now[i] = static_cast<double>(rss_bytes);
  }
  std::lock_guard lock(mu_);
  point pt{now_ms, now};
  const double dt = last_at_ ? static_cast<double>(now_ms - last_at_) / 1000.0 : 0.0;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    if (!specs[i].rate) continue;
    // The first sample, or a counter that went back (a restart of what it counts): no rate.
    const bool usable = dt > 0 && !last_totals_.empty() && now[i] >= last_totals_[i];
    pt.values[i] = usable ? (now[i] - last_totals_[i]) / dt : 0.0;
  }
  last_totals_ = std::move(now);
  last_at_ = now_ms;
  points_.push_back(std::move(pt));
  while (points_.size() > keep_)
    points_.pop_front();
}

std::string metrics_history::json(std::int64_t now_ms, int minutes) const {
  const auto& specs = series();
  const std::int64_t since = now_ms - std::int64_t{minutes} * 60'000;
  json::object series;
  std::vector<json::array> cols(specs.size());
  {
    std::lock_guard lock(mu_);
    for (const auto& pt : points_) {
      if (pt.at < since) continue;
      for (std::size_t i = 0; i < specs.size(); ++i)
        cols[i].push_back(json::array{pt.at, pt.values[i]});
    }
  }
  for (std::size_t i = 0; i < specs.size(); ++i)
    series[specs[i].name] = std::move(cols[i]);
  return json::serialize(json::object{{"interval_s", interval_s_}, {"series", std::move(series)}});
}

std::int64_t resident_bytes() {
  std::ifstream f("/proc/self/statm");
  std::int64_t size = 0, resident = 0;
  if (!(f >> size >> resident)) return 0;
  return resident * static_cast<std::int64_t>(::sysconf(_SC_PAGESIZE));
}

}  // namespace maratang::obs
