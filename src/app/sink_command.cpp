// `maratang sink`: the consumer that fills the warehouse and the raw logs from Kafka
// (sink/sink.hpp). Runs on the main thread until SIGTERM or SIGINT.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <atomic>
#include <csignal>

#include "app/server.hpp"
#include "sink/sink.hpp"

namespace maratang::app {

namespace {

std::atomic<bool> sink_stop{false};

extern "C" void on_sink_signal(int) {
  sink_stop.store(true);
}

}  // namespace

int run_sink(const config& cfg) {
  sink::sink_options o;
  o.brokers = cfg.kafka_brokers;
  o.database_url = cfg.database_url;
  o.dir = cfg.sink_dir;
  o.group_id = cfg.sink_group_id;
  o.batch_max = cfg.sink_batch_max;
  o.batch_ms = cfg.sink_batch_ms;
  auto s = sink::sink::open(o);
  if (!s) {
    spdlog::error("sink: cannot start: {}", redact_userinfo(s.error().message));
    return 1;
  }
  struct sigaction sa {};
  sa.sa_handler = on_sink_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  spdlog::info("sink: consuming from {} (group {}) into PostgreSQL and {}", cfg.kafka_brokers,
               cfg.sink_group_id, cfg.sink_dir);
  const int rc = (*s)->run(sink_stop);
  const auto& st = (*s)->stats();
  spdlog::info(
      "sink: stopped; {} events consumed, {} rows and {} lines written, {} bad, {} batches, {} "
      "failures",
      st.consumed, st.rows, st.lines, st.bad, st.batches, st.failures);
  return rc;
}

}  // namespace maratang::app
