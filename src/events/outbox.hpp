// The outbox port: the embedded store's `events` table, where events::outbox_stream keeps the
// events of topics that have no table of their own when no Kafka is configured. Owned here, by
// events; implemented by store::batched_store (memory, SQLite or PostgreSQL backend).
#pragma once

#include <vector>

#include "store/records.hpp"

namespace maratang::events {

class outbox {
 public:
  virtual ~outbox() = default;
  // Appends the events (ids assigned by the store) in one transaction, kept and tried again until
  // it commits, like an action-log entry. Any thread; never blocks: false when the store refuses
  // at once (its queue is full, or it is stopping), then nothing is written and the loss is
  // counted.
  virtual bool append_events(std::vector<store::event_record> es) = 0;
};

}  // namespace maratang::events
