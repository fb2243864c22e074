// The event stream port: where Maratang publishes what happened (action-log entries, game records,
// traces, account changes, Arena's sampled moves, attacks and heals) for consumers outside the
// server (an analytics warehouse, raw logs). Owned here, by its users: the publishing decorators
// (events/publishing_stores.hpp), wired at the composition root, and modes that publish events of
// their own. Implemented by events::outbox_stream (one node, no Kafka: the embedded store's
// `events` table) and events::kafka_stream (librdkafka). Topics and payloads: events/topics.hpp
// and docs/EVENTS.md. Light on purpose: no Kafka, Boost or storage header comes with it.
#pragma once

#include <cstdint>
#include <string>

namespace maratang::events {

// One event. `id` is unique per event and stable across retries and replays (a natural key where
// the data has one, e.g. "<stream>/<seq>" for an action-log entry), so that a consumer can drop
// what it has seen. `key` decides the partition: every event of one game (or room, account, area)
// carries the same key, so they stay in order.
struct event {
  std::string topic;
  std::string key;
  std::string id;
  std::int64_t ts_ms = 0;  // when it happened (server clock, ms since the epoch)
  std::string data_json;   // the payload: one JSON object, as topics.hpp defines it per topic
};

class event_stream {
 public:
  virtual ~event_stream() = default;
  // Hands one event to the stream. Any thread; never blocks and never waits for I/O: the event is
  // queued (true) or, when the stream's bounded queue is full or it is stopping, dropped and
  // counted (false). Nothing completes later on the caller's executor: delivery (or its failure)
  // happens on the stream's own thread and is only counted (see each implementation's stats).
  virtual bool publish(event e) = 0;
};

}  // namespace maratang::events
