#include "obs/metrics.hpp"

#include <fmt/format.h>

namespace maratang::obs {

namespace {

std::vector<double> latency_bounds() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
}

void line(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

}  // namespace

histogram::histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {}

void histogram::observe(double seconds) noexcept {
  std::size_t i = 0;
  while (i < bounds_.size() && seconds > bounds_[i])
    ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<std::uint64_t>(seconds * 1e9), std::memory_order_relaxed);
}

void histogram::render(std::string& out, const std::string& name) const {
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, bounds_[i], cumulative);
  }
  cumulative += buckets_[bounds_.size()].load(std::memory_order_relaxed);
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n", name, cumulative);
  out += fmt::format("{}_sum {}\n", name, static_cast<double>(sum_ns_.load()) / 1e9);
  out += fmt::format("{}_count {}\n", name, count_.load());
}

metrics::metrics()
    : handshake_seconds(latency_bounds()),
      request_seconds(latency_bounds()),
      frame_seconds(latency_bounds()),
      timer_lateness_seconds(latency_bounds()) {}

void metrics::count_error(errc code) noexcept {
  errors_[static_cast<std::size_t>(code)].fetch_add(1, std::memory_order_relaxed);
}

void metrics::add_collector(std::function<void(std::string&)> fn) {
  std::lock_guard lock(mu_);
  collectors_.push_back(std::move(fn));
}

std::string metrics::render() const {
  std::string out;
  out.reserve(8192);
  auto gauge = [&](std::string_view name, std::string_view help, std::int64_t v) {
    line(out, name, "gauge", help);
    out += fmt::format("{} {}\n", name, v);
  };
  auto counter = [&](std::string_view name, std::string_view help, std::uint64_t v) {
    line(out, name, "counter", help);
    out += fmt::format("{} {}\n", name, v);
  };
  gauge("maratang_ws_connections", "Open WebSocket connections.", connections_open.load());
  gauge("maratang_http_connections", "Open HTTP connections (not upgraded).",
        http_connections_open.load());
  counter("maratang_ws_connections_total", "WebSocket connections accepted.",
          connections_total.load());
  counter("maratang_messages_in_total", "WebSocket messages received.", messages_in.load());
  counter("maratang_messages_out_total", "Envelopes sent over WebSocket.", messages_out.load());
  counter("maratang_bytes_out_total", "WebSocket payload bytes sent.", bytes_out.load());
  counter("maratang_ws_writes_total",
          "WebSocket messages written; below messages_out when clients take batches.",
          writes_out.load());
  counter("maratang_http_requests_total", "HTTP requests served.", http_requests.load());
  counter("maratang_slow_consumer_drops_total",
          "Connections closed because their send queue was full.", slow_consumer_drops.load());
  counter("maratang_sessions_replaced_total",
          "Connections closed because the account connected again.", sessions_replaced.load());
  counter("maratang_mode_crashes_total", "Rooms ended because their game mode threw.",
          mode_crashes.load());
  counter("maratang_room_snapshots_total",
          "Running games' snapshots handed to storage (crash recovery).", room_snapshots.load());
  counter("maratang_rooms_restored_total", "Rooms whose game was restored from a snapshot.",
          rooms_restored.load());
  line(out, "maratang_errors_total", "counter", "Error replies sent, by code.");
  for (std::size_t i = 0; i < kCodes; ++i) {
    if (auto n = errors_[i].load(std::memory_order_relaxed)) {
      out += fmt::format("maratang_errors_total{{code=\"{}\"}} {}\n",
                         to_string(static_cast<errc>(i)), n);
    }
  }
  line(out, "maratang_ws_handshake_seconds", "histogram", "TCP accept to WebSocket open.");
  handshake_seconds.render(out, "maratang_ws_handshake_seconds");
  line(out, "maratang_http_request_seconds", "histogram", "HTTP request handling time.");
  request_seconds.render(out, "maratang_http_request_seconds");
  line(out, "maratang_ws_frame_seconds", "histogram", "WebSocket frame handling time.");
  frame_seconds.render(out, "maratang_ws_frame_seconds");
  line(out, "maratang_room_timer_lateness_seconds", "histogram",
       "How late game timers (phase deadlines) fire after their due time.");
  timer_lateness_seconds.render(out, "maratang_room_timer_lateness_seconds");
  std::lock_guard lock(mu_);
  for (const auto& fn : collectors_)
    fn(out);
  return out;
}

}  // namespace maratang::obs
