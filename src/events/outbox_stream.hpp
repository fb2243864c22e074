// The event stream of one node without Kafka: each event, in its envelope, becomes a row of the
// embedded store's `events` table (events::outbox). Used only for topics with no table of their
// own (accounts, Arena's samples): the action log, games and traces are their own tables, and are
// not written twice (docs/EVENTS.md, "Without Kafka"). Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>

#include "events/event_stream.hpp"
#include "events/outbox.hpp"

namespace maratang::events {

class outbox_stream final : public event_stream {
 public:
  // `box` must outlive this object.
  explicit outbox_stream(outbox& box) : box_(box) {}

  bool publish(event e) override;

  std::uint64_t published() const noexcept { return published_.load(); }
  std::uint64_t dropped() const noexcept { return dropped_.load(); }

 private:
  outbox& box_;
  std::atomic<std::uint64_t> published_{0};
  std::atomic<std::uint64_t> dropped_{0};
};

}  // namespace maratang::events
