#include "events/outbox_stream.hpp"

#include <utility>
#include <vector>

#include "events/topics.hpp"

namespace maratang::events {

bool outbox_stream::publish(event e) {
  // The whole envelope is the row's payload, so that the event id travels with it.
  std::vector<store::event_record> rows;
  rows.push_back(store::event_record{0, e.topic, e.key, encode_envelope(e), e.ts_ms});
  if (!box_.append_events(std::move(rows))) {
    dropped_ += 1;
    return false;
  }
  published_ += 1;
  return true;
}

}  // namespace maratang::events
