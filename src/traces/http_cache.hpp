// HTTP caching pieces for trace listings: gzip (zlib), Accept-Encoding negotiation, ETags, and
// snapshot_cache, which keeps each listing's serialized and gzip'd bytes so that every request
// shares them. Thread-safe where noted.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "util/clock.hpp"

namespace maratang::traces {

// Whether an Accept-Encoding header value allows gzip (gzip or *, with a q-value above 0).
bool accepts_gzip(std::string_view accept_encoding);
// gzip-compresses `data` (RFC 1952). Throws std::runtime_error when zlib fails.
std::string gzip(std::string_view data);
// Decompresses gzip data; "" and false when it is not valid gzip. (Tests and tools.)
bool gunzip(std::string_view data, std::string& out);
// A strong entity tag for `data`, quoted: "\"<16 hex digits>\"".
std::string etag_of(std::string_view data);
// Whether an If-None-Match value matches `etag` ("*", or a list holding it, weak or not).
bool etag_matches(std::string_view if_none_match, std::string_view etag);

// One listing as sent: both encodings, made once and shared read-only by every response.
struct snapshot {
  std::shared_ptr<const std::string> json;
  std::shared_ptr<const std::string> gzip;
  std::string etag;       // of `json`; the gzip'd form's is etag_gzip
  std::string etag_gzip;  // a different tag, as the representations differ
  std::chrono::steady_clock::time_point made;
  std::uint64_t generation = 0;  // of the area, when the fill started
};

// Makes a snapshot from serialized JSON (compresses it).
std::shared_ptr<snapshot> make_snapshot(std::string json);

// Cached listings keyed by (area, variant). A snapshot is served while it is younger than
// max_age and no trace arrived in its area since its fill started. On a miss the first caller's
// `fill` runs; callers that miss while that fill is in flight wait for its result, so concurrent
// misses fill once. Thread-safe; callbacks run on the thread that completes the fill (or the
// caller's, on a hit).
class snapshot_cache {
 public:
  using ready = std::function<void(std::shared_ptr<const snapshot>)>;  // null: the fill failed
  // Must eventually call its argument exactly once, from any thread.
  using filler = std::function<void(ready)>;

  snapshot_cache(const clock& clk, std::chrono::milliseconds max_age, std::size_t max_entries);

  void get(const std::string& area, const std::string& variant, ready use, const filler& fill);
  // The fresh snapshot of (area, variant), or null (then call get). Counts a hit when found.
  std::shared_ptr<const snapshot> find(const std::string& area, const std::string& variant);
  // New traces arrived in `area`: its snapshots are stale from now on. At most max_entries areas
  // are counted; beyond that every snapshot goes stale once.
  void invalidate(const std::string& area);
  // Every snapshot is stale from now on (after trimming).
  void invalidate_all();

  struct counters {
    std::uint64_t hits = 0, misses = 0, fills = 0, waits = 0;
  };
  counters stats() const;

 private:
  struct entry {
    std::shared_ptr<const snapshot> snap;
    bool filling = false;
    std::vector<ready> waiters;
  };
  void on_filled(const std::string& key, std::uint64_t generation,
                 std::chrono::steady_clock::time_point started,
                 std::shared_ptr<const snapshot> snap);

  const clock& clock_;
  std::chrono::milliseconds max_age_;
  std::size_t max_entries_;
  mutable std::mutex mu_;
  std::map<std::string, entry, std::less<>> entries_;       // GUARDED_BY(mu_)
  std::map<std::string, std::uint64_t, std::less<>> gens_;  // GUARDED_BY(mu_) area -> gen
  std::uint64_t all_gen_ = 0;                               // GUARDED_BY(mu_)
  counters stats_;                                          // GUARDED_BY(mu_)
};

}  // namespace maratang::traces
