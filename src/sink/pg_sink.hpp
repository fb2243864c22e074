// The sink's warehouse writer: events as rows of one wide PostgreSQL table, `sink_events`
// (docs/EVENTS.md, "The sink"), one row per event, its primary key (topic, event_id) so that a
// replay adds nothing (INSERT ... ON CONFLICT DO NOTHING). Writes a batch in one transaction of
// multi-row INSERTs. Owns one libpq connection, reconnected after a failure. Not thread-safe: the
// sink's thread only. libpq stays out of this header.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sink/jsonl_store.hpp"
#include "util/error.hpp"

namespace maratang::sink {

class pg_sink {
 public:
  // Connects and creates the schema (when given and missing) and the table. unavailable with
  // the server's message when it cannot.
  static result<std::unique_ptr<pg_sink>> open(const std::string& url, const std::string& schema);
  ~pg_sink();

  // Inserts the batch in one transaction: how many rows were new (a replayed event is skipped).
  // unavailable (nothing committed) on failure; the next call reconnects first.
  result<std::size_t> write(const std::vector<consumed>& batch);

  struct impl;

 private:
  explicit pg_sink(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace maratang::sink
