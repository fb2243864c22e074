// The asynchronous storage worker: owns one backend and one thread. Callers on any thread submit
// operations; the worker runs them in order, batching consecutive ones into one transaction, and
// calls each operation's completion after that transaction has committed (so a completion is an
// acknowledgement that the write is durable). No room or network thread ever waits on disk.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "store/backend.hpp"

namespace maratang::store {

struct worker_options {
  std::size_t max_batch = 256;      // operations per transaction at most
  std::size_t max_queue = 100'000;  // submissions beyond this are refused (submit returns false)
  // Retries of an operation submitted with retry::until_committed: the first after this long,
  // each next after twice as long, at most retry_max_ms apart.
  int retry_first_ms = 100;
  int retry_max_ms = 5000;
};

// What the worker does when an operation's transaction fails (disk full, file unwritable, I/O
// error): `once` completes it with ok=false; `until_committed` keeps it and runs it again, with
// backoff, until it commits (writes nobody waits for but that must not be lost, such as a game's
// record). A retried operation must be idempotent or fail cleanly on a repeat (a conflict status).
enum class retry { once, until_committed };

// Counters a metrics endpoint reads. All fields are updated by the worker thread, except `lost`
// for refused submissions (by the submitting thread).
struct worker_stats {
  std::atomic<std::uint64_t> ops{0};
  std::atomic<std::uint64_t> batches{0};
  std::atomic<std::uint64_t> failures{0};  // operations completed with ok=false
  std::atomic<std::uint64_t> retries{0};   // runs of until_committed operations that failed
  std::atomic<std::uint64_t> lost{0};      // until_committed operations given up at stop or refused
  // Batches run again with a savepoint per operation after one of them failed without (see
  // backend::savepoints_cost_round_trips).
  std::atomic<std::uint64_t> reruns{0};
  std::atomic<std::uint64_t> commit_ns_total{0};
  std::atomic<std::uint64_t> latency_ns_total{0};  // submit -> committed, summed over ops
};

class worker {
 public:
  // An operation runs on the worker thread inside a transaction (and its own savepoint). It may
  // read and write through the backend. If it throws store_error, its savepoint is rolled back,
  // `failures` counts it, and its completion receives ok=false; the rest of the batch goes on.
  using operation = std::function<void(backend&)>;
  // Called on the worker thread after the batch holding the operation committed (ok=true), or
  // after it failed (ok=false). Must not block; post to your own executor.
  using completion = std::function<void(bool ok)>;

  worker(std::unique_ptr<backend> b, worker_options opts = {});
  // Stops the worker after running everything already submitted.
  ~worker();
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  // Queues an operation. Returns false (and runs nothing) when the queue is full or the worker is
  // stopping. Thread-safe. With retry::until_committed, `done` runs once, after the commit; an
  // operation still failing when the worker stops is tried once more, then given up (logged,
  // counted in stats().lost, `done(false)`); one refused here is logged and counted in
  // stats().lost too (`done` is not called: the caller has false).
  bool submit(operation op, completion done = {}, retry policy = retry::once);
  // As submit, but the operation runs no earlier than `delay` from now (a write-behind's bounded
  // delay). flush() and stop() run such operations at once. Counted in queue_depth() and in the
  // max_queue bound meanwhile.
  bool submit_after(std::chrono::milliseconds delay, operation op, completion done = {},
                    retry policy = retry::once);
  // Counts `n` writes that must not be lost as lost, for callers that gather such writes before
  // submitting them (batched_store's write-behind) and had to drop some. Thread-safe.
  void count_lost(std::uint64_t n) { stats_.lost += n; }
  // Blocks until everything submitted before the call has run and committed. Thread-safe; not to
  // be called from the worker thread.
  void flush();
  // Runs everything submitted, then stops the thread. Later submits return false. Idempotent.
  void stop();

  std::size_t queue_depth() const;
  const worker_stats& stats() const noexcept { return stats_; }
  const std::string& backend_name() const noexcept { return name_; }

 private:
  struct item {
    operation op;
    completion done;
    std::chrono::steady_clock::time_point submitted;
    retry policy = retry::once;
  };
  bool enqueue(std::chrono::steady_clock::time_point due, operation op, completion done,
               retry policy);
  // Moves delayed operations whose time came (all of them when `all`) to the queue. Under mu_.
  void promote_later(bool all);
  void run();
  void rollback_quietly();

  std::unique_ptr<backend> backend_;
  worker_options opts_;
  std::string name_;
  mutable std::mutex mu_;
  std::condition_variable cv_;       // work arrived or stop requested
  std::condition_variable idle_cv_;  // a batch finished
  std::deque<item> queue_;           // GUARDED_BY(mu_)
  std::deque<item> retry_;           // GUARDED_BY(mu_): failed until_committed operations
  std::multimap<std::chrono::steady_clock::time_point, item> later_;  // GUARDED_BY(mu_): delayed
  std::chrono::steady_clock::time_point retry_at_;  // GUARDED_BY(mu_): when retry_ runs next
  int retry_delay_ms_ = 0;                          // GUARDED_BY(mu_): the current backoff
  std::uint64_t submitted_ = 0;                     // GUARDED_BY(mu_)
  std::uint64_t finished_ = 0;                      // GUARDED_BY(mu_)
  bool stopping_ = false;                           // GUARDED_BY(mu_)
  worker_stats stats_;
  std::thread thread_;
};

}  // namespace maratang::store
