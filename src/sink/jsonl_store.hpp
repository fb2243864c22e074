// The sink's raw-log writer: events as JSON Lines files laid out as an object store wants them,
// one immutable object per run of consecutive offsets of one partition in one hour:
//   <dir>/<topic>/dt=YYYY-MM-DD/hour=HH/part-<partition>-<first offset>-<last offset>.jsonl
// (numbers zero-padded so names sort; the hour is the event's ts_ms, UTC). Each object is written
// to a temporary name, fsync'd and renamed, so it is whole or absent. Replays add nothing: at open
// the highest last offset of each (topic, partition) is read from the object names, and offsets
// at or below it are skipped; leftover temporary files (a crash mid-write) are deleted. One
// writer per directory. Not thread-safe: the sink's thread only.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "util/error.hpp"

namespace maratang::sink {

// One consumed event, as the sink keeps it until it is written.
struct consumed {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::int64_t ts_ms = 0;
  std::string event_id;
  std::string key;
  std::string envelope;   // the Kafka message value: the event's envelope (events/topics.hpp)
  std::string data_json;  // its data
};

class jsonl_store {
 public:
  // Scans `dir` (created when missing) for what is already written. unavailable when it cannot.
  static result<jsonl_store> open(const std::filesystem::path& dir);

  // Writes the events above the high-water mark of their partition, each partition's in offset
  // order (the input must list each partition's events in offset order). Returns how many lines
  // were written; unavailable (and the marks of what was fully written kept) on an I/O error.
  result<std::size_t> write(const std::vector<consumed>& batch);

  // The highest offset written for (topic, partition), or -1.
  std::int64_t high_water(const std::string& topic, std::int32_t partition) const;
  // Temporary files found and deleted at open.
  std::size_t removed_partials() const { return removed_partials_; }

  // The object path for a run (tests, docs).
  static std::filesystem::path object_path(const std::filesystem::path& dir,
                                           const std::string& topic, std::int64_t ts_ms,
                                           std::int32_t partition, std::int64_t first,
                                           std::int64_t last);

 private:
  explicit jsonl_store(std::filesystem::path dir) : dir_(std::move(dir)) {}
  result<> write_object(const std::filesystem::path& path, const std::vector<const consumed*>& run);

  std::filesystem::path dir_;
  std::map<std::pair<std::string, std::int32_t>, std::int64_t> marks_;
  std::size_t removed_partials_ = 0;
};

}  // namespace maratang::sink
