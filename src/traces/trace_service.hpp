// The traces service (seed 003's GameDB, grown): stores objects, messages and phantoms per area
// through the storage worker (acknowledging after commit), serves listings from snapshot_cache,
// pages, near queries, appraisals, reports, moderation, per-writer rate limits and trimming, all
// through the trace_store port. Thread-safe: any thread may call it; completions run on the
// store's thread (store/reply.hpp) or the offload executor.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "store/records.hpp"
#include "traces/http_cache.hpp"
#include "traces/trace_codec.hpp"
#include "traces/trace_store.hpp"
#include "util/clock.hpp"
#include "util/error.hpp"
#include "util/rate_limiter.hpp"

namespace maratang::traces {

struct trace_options {
  std::string default_area = "default";  // what the GameDB-compatible endpoints serve
  int latest_objects = 200;              // seed 003: the latest 200 objects,
  int latest_messages = 200;             // 200 messages
  int latest_phantoms = 20;              // and 20 phantoms
  int cache_max_age_ms = 30000;          // seed 003: cached for 30 s
  body_limits limits;
  double anon_write_rate = 5;  // POST /add-object per second per client address (0: no limit)
  double anon_write_burst = 20;
  double account_write_rate = 2;  // POST /v1/traces/... per second per account (0: no limit)
  double account_write_burst = 10;
  std::int64_t hide_after_reports = 3;  // from this many sources (addresses), each counted once
  // A report counts towards hiding only from an account at least this old (ms): fresh or
  // throwaway accounts are heard (their reports are kept and shown) but cannot hide a trace.
  std::int64_t report_min_account_age_ms = 86'400'000;
  std::int64_t max_age_s = 30 * 24 * 3600;  // older traces are not listed and get trimmed (0: keep)
  std::int64_t max_per_kind = 10000;        // per area and kind, the newest kept (0: all)
  int trim_interval_ms = 60000;             // trimming runs at most this often, on writes
  int page_max = 100;
};

// What an add stored: the id of each part (0 when absent).
struct added_ids {
  std::int64_t obj = 0;
  std::int64_t message = 0;
  std::int64_t phantom = 0;
};

// The outcome of an appraisal or a report.
struct trace_state {
  store::trace_record trace;
  bool already_reported = false;
};

class trace_service {
 public:
  // Runs `fn` later on some other thread (serialization and compression of listings).
  using post_fn = std::function<void(std::function<void()>)>;

  trace_service(trace_store& store, const clock& clk, trace_options opts, post_fn offload);

  const trace_options& options() const noexcept { return opts_; }

  // Several nodes (docs/ARCHITECTURE.md, "Redis"): `fn` hears every change that made this node's
  // cached listings of an area stale ("" : every area, after trimming), to tell the others, who
  // call note_stale. Set once, before serving.
  void set_on_stale(std::function<void(const std::string& area)> fn) { on_stale_ = std::move(fn); }
  void note_stale(const std::string& area);

  // Several nodes: `fn` takes a token from a bucket shared by every node (redis::take_token:
  // key, rate per second, burst), answering nullopt when it cannot tell; then the node's own
  // bucket decides. Set once, before serving.
  using shared_bucket_fn = std::function<void(std::string key, double rate, double burst,
                                              std::function<void(std::optional<bool>)> done)>;
  void set_shared_buckets(shared_bucket_fn fn) { shared_ = std::move(fn); }
  // The write limit as the endpoints apply it: by account when account_id > 0, else by client
  // address; the shared bucket when set, else this node's. `done` may run on another thread.
  void allow_write(std::int64_t account_id, const std::string& address,
                   std::function<void(bool)> done);

  // This node's write limits: true when the writer may write now (takes a token).
  bool allow_anonymous_write(const std::string& address);
  bool allow_account_write(std::int64_t account_id);

  // Stores every part of `req` in `area` in one transaction; `done` runs after the commit, or
  // with `unavailable` when storage refused or failed (then nothing is stored).
  void add(const std::string& area, add_request req, std::int64_t account_id,
           std::function<void(result<added_ids>)> done);

  // The latest objects, messages and phantoms of an area, as a shared snapshot (null when
  // storage failed).
  void latest(const std::string& area, listing_format f, snapshot_cache::ready done);
  // The cached listing when it is fresh, else null (then call latest). Cheap: the hot path.
  std::shared_ptr<const snapshot> cached(const std::string& area, listing_format f) {
    return cache_.find(area, f == listing_format::compat ? kCompat : kExtended);
  }

  // One kind, newest first, ids below `before` (0: from the newest):
  // {"items":[...], "next_before": id|null}.
  void page(const std::string& area, store::trace_kind kind, std::int64_t before, int limit,
            std::function<void(result<std::string>)> done);

  // Each kind's traces within `radius` of (x, y, z), newest first, at most `limit` of each:
  // {"objects":[...],"messages":[...],"phantoms":[...]}.
  void near(const std::string& area, double x, double y, double z, double radius, int limit,
            std::function<void(result<std::string>)> done);

  // Appraises a visible message (+1 / -1); not_found for anything else.
  void appraise(std::int64_t id, std::int64_t account_id, int value,
                std::function<void(result<trace_state>)> done);
  // Reports a visible trace (once per account; a repeat changes nothing); not_found otherwise.
  // `source` is the reporter's address key: reports from one source hide nothing alone.
  void report(std::int64_t id, std::int64_t account_id, std::string source,
              std::function<void(result<trace_state>)> done);

  // Moderation, for admins (the caller has checked that `admin` is one). Each action and its line
  // in the audit log are written in one transaction.
  // The queue: reported traces of every area and kind, hidden ones included (only hidden ones
  // when `hidden_only`), newest first, ids below `before` (0: from the newest), each with its
  // reports: {"items":[{id, area, kind, account_id, reports, hidden, trace:{...},
  // reported_by:[{account_id, weighty}]}], "next_before": id|null}.
  void moderation_queue(bool hidden_only, std::int64_t before, int limit,
                        std::function<void(result<std::string>)> done);
  // Unhides a trace and forgets its reports (new reports may hide it again); not_found when no
  // such trace. Audited as trace.restore.
  void restore(std::int64_t id, std::int64_t admin, std::function<void(result<trace_state>)> done);
  // Deletes a trace with its appraisals and reports; not_found when no such trace. Audited as
  // trace.delete, with what the trace held.
  void remove(std::int64_t id, std::int64_t admin,
              std::function<void(result<store::trace_record>)> done);

  snapshot_cache& cache() noexcept { return cache_; }
  std::uint64_t trims() const noexcept { return trims_.load(); }

 private:
  static inline const std::string kCompat = "compat";
  static inline const std::string kExtended = "extended";
  std::int64_t created_after() const;
  void maybe_trim();

  trace_store& store_;
  const clock& clock_;
  trace_options opts_;
  post_fn offload_;
  snapshot_cache cache_;
  std::function<void(const std::string&)> on_stale_;
  shared_bucket_fn shared_;
  // This node's listings of `area` are stale (note_stale), and the other nodes are told.
  void stale(const std::string& area);
  util::rate_limiter anon_limit_;
  util::rate_limiter account_limit_;
  std::atomic<std::int64_t> last_trim_ms_{0};
  std::atomic<std::uint64_t> trims_{0};
};

}  // namespace maratang::traces
