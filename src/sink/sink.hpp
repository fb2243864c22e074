// `maratang sink`: consumes the event topics from Kafka and writes every event twice, in bulk —
// as a row of PostgreSQL's `sink_events` (sink::pg_sink, the warehouse) and as a line of an
// hourly JSON Lines object per topic (sink::jsonl_store, the raw logs) — and only after both
// writes succeeded commits the consumer offsets (synchronously). Delivery is at least once; both
// writers skip what they already hold, so a replay (a crash between the writes and the commit, a
// rebalance) adds no row and no line. One thread: the caller's. librdkafka stays out of this
// header. docs/EVENTS.md, "The sink".
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "util/error.hpp"

namespace maratang::sink {

struct sink_options {
  std::string brokers;                     // bootstrap.servers
  std::string group_id = "maratang-sink";  // the consumer group: its committed offsets
  std::vector<std::string> topics;         // empty: events::all_topics()
  std::string database_url;                // postgresql://...
  std::string pg_schema;                   // empty: the connection's default (public)
  std::string dir;                         // root of the JSON Lines objects
  int batch_max = 5000;                    // events per write at most
  int batch_ms = 1000;                     // how long a batch collects at most
  // Further librdkafka properties, set last (tests: reconnect.backoff.max.ms, ...).
  std::vector<std::pair<std::string, std::string>> extra;
  // Tests: stop as if the process died at this point of a write (nothing after it happens).
  enum class crash_point { none, after_files, after_rows };
  crash_point crash = crash_point::none;
};

struct sink_stats {
  std::uint64_t consumed = 0;  // messages taken from Kafka (a retried batch counts once)
  std::uint64_t rows = 0;      // new rows in PostgreSQL
  std::uint64_t lines = 0;     // new lines in the files
  std::uint64_t bad = 0;       // messages that are not an event envelope: skipped, committed
  std::uint64_t batches = 0;   // batches written and committed
  std::uint64_t failures = 0;  // write or commit failures (the batch is tried again)
};

class sink {
 public:
  // Opens the files' directory, connects to PostgreSQL (creating the table) and subscribes.
  // unavailable or bad_field with the reason.
  static result<std::unique_ptr<sink>> open(sink_options o);
  // Leaves the group without committing anything more.
  ~sink();

  // One round: takes up to batch_max messages (waiting at most batch_ms), writes the files, then
  // the rows, then commits the offsets. Returns how many messages the round handled (0: none
  // came). On a failure nothing is committed, the batch is kept and the next step tries it again.
  result<std::size_t> step();
  // Steps until `stop` is set, waiting after a failure (250 ms doubling to 10 s). Returns the
  // exit code.
  int run(const std::atomic<bool>& stop);

  const sink_stats& stats() const;

  struct impl;

 private:
  explicit sink(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace maratang::sink
