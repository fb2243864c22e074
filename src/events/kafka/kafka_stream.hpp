// The event stream over Kafka: an idempotent librdkafka producer, each event keyed by its
// event::key (a game, room, account or area) so that one game's events stay in order in one
// partition. A game never waits for Kafka: librdkafka's local queue is bounded
// (kafka_options::queue_max_messages / queue_max_kbytes); while Kafka is down events wait there up
// to message_timeout_ms, and past the bound publish drops them at once, counted — it never blocks
// (no RD_KAFKA_MSG_F_BLOCK). Delivery reports are served on this object's own thread, never a
// network or room thread. A producer that hits a fatal error (its idempotence state broken) is
// replaced by a new one on that thread, and what the old one held is counted as failed.
// docs/EVENTS.md, "Loss window", says what can be lost and when.
// Thread-safe. librdkafka stays out of this header.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "events/event_stream.hpp"
#include "util/error.hpp"

namespace maratang::events {

struct kafka_options {
  std::string brokers;               // bootstrap.servers, "host:port,host:port"
  int queue_max_messages = 100'000;  // queue.buffering.max.messages
  int queue_max_kbytes = 64 * 1024;  // queue.buffering.max.kbytes
  int message_timeout_ms = 300'000;  // an event not delivered by then fails (counted)
  int linger_ms = 5;                 // linger.ms: how long events wait to share a batch
  // Further librdkafka properties, set last (tests: reconnect.backoff.max.ms, test.mock.*).
  std::vector<std::pair<std::string, std::string>> extra;
};

// Counters for /metrics (monotonic, except the queue depth).
struct kafka_stats {
  std::uint64_t produced = 0;    // accepted into the local queue
  std::uint64_t delivered = 0;   // acknowledged by the brokers (acks=all)
  std::uint64_t failed = 0;      // delivery failed (timed out, refused) or left unsent at stop
  std::uint64_t dropped = 0;     // refused at publish: queue full, too large, stopping
  std::int64_t queue_depth = 0;  // produced, not yet delivered or failed
  std::uint64_t restarts = 0;    // producers replaced after a fatal error
};

class kafka_stream final : public event_stream {
 public:
  // Creates the producer and starts its polling thread. bad_field (with librdkafka's message) for
  // a property it refuses. Connecting happens in the background: a broker that is down is not an
  // error here (events wait in the queue).
  static result<std::unique_ptr<kafka_stream>> open(kafka_options o);
  ~kafka_stream() override;  // stop(0) if not stopped

  bool publish(event e) override;

  // Refuses new events, waits up to flush_ms for the queue to be delivered, counts what is left
  // as failed and destroys the producer. Idempotent; not from the polling thread.
  void stop(int flush_ms);

  kafka_stats stats() const;
  // Tests only: makes the current producer fail as a fatal idempotence error would
  // (rd_kafka_test_fatal_error), so that its replacement can be checked.
  void inject_fatal_error_for_test();
  // Appends the maratang_events_kafka_* series in Prometheus text format.
  void render_metrics(std::string& out) const;

  struct impl;

 private:
  explicit kafka_stream(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace maratang::events
