#include "store/worker.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "util/log_limit.hpp"

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

namespace maratang::store {

namespace {

using steady = std::chrono::steady_clock;

// The worker whose thread this is, if any: lets flush() and stop() notice a call from inside an
// operation or a completion, where waiting for the worker would wait forever.
thread_local const worker* current_worker = nullptr;

std::uint64_t ns_between(steady::time_point from, steady::time_point to) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(to - from).count();
  return ns > 0 ? static_cast<std::uint64_t>(ns) : 0;
}

// Runs one operation body; true when it returned normally. Any exception (store_error, another
// std::exception, or anything else thrown) fails this operation only: the caller rolls back its
// savepoint, and the storage thread lives on.
bool run_body(const worker::operation& op, backend& b) {
  // What failed is logged (a few lines a minute at most: a full disk fails every write).
  static util::log_limiter limit(5, std::chrono::minutes(1));
  std::uint64_t suppressed = 0;
  try {
    op(b);
    return true;
  } catch (const std::exception& e) {
    // Keyed by the failing statement's name ("sqlite insert_trace: ..."): a small fixed set.
    const std::string_view what = e.what();
    if (limit.allow(what.substr(0, what.find(':')), suppressed))
      spdlog::warn("storage: an operation failed: {}{}", e.what(),
                   suppressed ? fmt::format(" ({} similar lines suppressed)", suppressed) : "");
    return false;
  } catch (...) {
    return false;
  }
}

}  // namespace

worker::worker(std::unique_ptr<backend> b, worker_options opts)
    : backend_(std::move(b)), opts_(opts) {
  if (!backend_) throw std::invalid_argument("store::worker: null backend");
  opts_.max_batch = std::max<std::size_t>(opts_.max_batch, 1);
  name_ = backend_->name();
  // Last: run() reads every other member.
  thread_ = std::thread([this] { run(); });
}

worker::~worker() {
  stop();
  // stop() leaves the join to us when it was first called from the worker thread itself.
  if (thread_.joinable()) thread_.join();
}

bool worker::submit(operation op, completion done, retry policy) {
  return enqueue({}, std::move(op), std::move(done), policy);
}

bool worker::submit_after(std::chrono::milliseconds delay, operation op, completion done,
                          retry policy) {
  return enqueue(delay.count() > 0 ? steady::now() + delay : steady::time_point{}, std::move(op),
                 std::move(done), policy);
}

bool worker::enqueue(steady::time_point due, operation op, completion done, retry policy) {
  bool stopping = false;
  {
    std::lock_guard lk(mu_);
    stopping = stopping_;
    if (!stopping && queue_.size() + retry_.size() + later_.size() < opts_.max_queue) {
      item it{std::move(op), std::move(done), steady::now(), policy};
      if (due == steady::time_point{}) {
        queue_.push_back(std::move(it));
      } else {
        later_.emplace(due, std::move(it));
      }
      ++submitted_;
      // Under the lock: a submitter still inside submit() must not touch the worker after the
      // owner, woken by this work finishing, has destroyed it (found by ThreadSanitizer).
      cv_.notify_one();
      return true;
    }
    // A write that must not be lost, refused: nobody waits for it, so it counts as lost here.
    if (policy == retry::until_committed) stats_.lost += 1;
  }
  if (policy == retry::until_committed) {
    // A few lines a minute at most: a full queue refuses every write.
    static util::log_limiter limit(5, std::chrono::minutes(1));
    std::uint64_t suppressed = 0;
    if (limit.allow(stopping ? "stopping" : "full", suppressed))
      spdlog::error("storage: a write that must not be lost was refused ({}) and given up{}",
                    stopping ? "stopping" : "queue full",
                    suppressed ? fmt::format(" ({} similar lines suppressed)", suppressed) : "");
  }
  return false;
}

void worker::promote_later(bool all) {
  const auto now = steady::now();
  while (!later_.empty() && (all || later_.begin()->first <= now)) {
    queue_.push_back(std::move(later_.begin()->second));
    later_.erase(later_.begin());
  }
}

void worker::flush() {
  if (current_worker == this) throw std::logic_error("store::worker::flush on the worker thread");
  std::unique_lock lk(mu_);
  const std::uint64_t target = submitted_;
  if (!later_.empty()) {
    promote_later(true);  // delayed operations run now: flush means everything submitted
    cv_.notify_one();
  }
  idle_cv_.wait(lk, [&] { return finished_ >= target; });
}

void worker::stop() {
  bool first = false;
  {
    std::lock_guard lk(mu_);
    first = !stopping_;
    stopping_ = true;
  }
  cv_.notify_all();
  if (current_worker == this) {
    // From an operation or a completion: the loop drains and ends after this batch; the owner's
    // stop() or the destructor joins.
    return;
  }
  if (first) {
    // run() drains the queue before it returns.
    thread_.join();
  } else {
    // Another caller is joining; wait for the drain it is waiting for.
    std::unique_lock lk(mu_);
    idle_cv_.wait(lk, [&] { return finished_ >= submitted_; });
  }
}

std::size_t worker::queue_depth() const {
  std::lock_guard lk(mu_);
  return queue_.size() + retry_.size() + later_.size();
}

void worker::rollback_quietly() {
  try {
    backend_->rollback();
  } catch (...) {
    // The database is already failing; the next begin() will report it again.
  }
}

void worker::run() {
  current_worker = this;
  std::vector<item> batch;
  std::vector<char> ok;  // not vector<bool>: one flag per item, written in place
  batch.reserve(opts_.max_batch);
  for (;;) {
    // Wait for work (new, or retries whose time came); leave only once stopping and drained.
    batch.clear();
    bool stopping = false;
    {
      std::unique_lock lk(mu_);
      for (;;) {
        promote_later(stopping_);
        const bool retries_due = !retry_.empty() && (stopping_ || steady::now() >= retry_at_);
        if (!queue_.empty() || retries_due) break;
        if (stopping_ && retry_.empty()) return;
        // Sleep until work arrives, or the next retry or delayed operation is due.
        std::optional<steady::time_point> wake;
        if (!retry_.empty()) wake = retry_at_;
        if (!later_.empty() && (!wake || later_.begin()->first < *wake))
          wake = later_.begin()->first;
        if (wake) {
          cv_.wait_until(lk, *wake);
        } else {
          cv_.wait(lk);
        }
      }
      stopping = stopping_;
      // Retries first (they are the oldest), then new work, up to one batch.
      if (!retry_.empty() && (stopping_ || steady::now() >= retry_at_)) {
        while (!retry_.empty() && batch.size() < opts_.max_batch) {
          batch.push_back(std::move(retry_.front()));
          retry_.pop_front();
        }
      }
      while (!queue_.empty() && batch.size() < opts_.max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }

    ok.assign(batch.size(), 0);
    std::uint64_t commit_ns = 0;
    // Where a savepoint is a round trip, the batch runs first without them: all its operations
    // succeed (the usual case) and commit together, or the first that fails rolls it all back and
    // the batch runs again below, each operation in its own savepoint (an operation alone has
    // failed by then: nothing else was lost with it).
    bool settled = false;
    if (backend_->savepoints_cost_round_trips()) {
      bool all_ok = false;
      try {
        backend_->begin();
        all_ok = true;
        for (std::size_t i = 0; i < batch.size() && all_ok; ++i)
          all_ok = run_body(batch[i].op, *backend_);
        if (all_ok) {
          const auto t0 = steady::now();
          backend_->commit();
          commit_ns = ns_between(t0, steady::now());
          std::fill(ok.begin(), ok.end(), 1);
        }
      } catch (...) {
        all_ok = false;
      }
      if (!all_ok) rollback_quietly();
      settled = all_ok || batch.size() == 1;
      if (!settled) stats_.reruns += 1;
    }
    // One transaction; each operation in its own savepoint so a failing one loses only itself.
    if (!settled) try {
        backend_->begin();
        for (std::size_t i = 0; i < batch.size(); ++i) {
          backend_->savepoint();
          const bool body_ok = run_body(batch[i].op, *backend_);
          if (!body_ok) backend_->rollback_to();
          backend_->release();
          ok[i] = body_ok ? 1 : 0;
        }
        const auto t0 = steady::now();
        backend_->commit();
        commit_ns = ns_between(t0, steady::now());
      } catch (...) {
        // begin, a savepoint step or commit failed: nothing of this batch is durable. Some errors
        // (a full disk, I/O) make SQLite roll back the whole transaction from inside one
        // operation, so the others would fail with it: each operation runs again in a transaction
        // of its own, and only those that fail alone fail. (Operations may run twice: their
        // effects on the database were rolled back, and what they capture is overwritten.)
        rollback_quietly();
        std::fill(ok.begin(), ok.end(), 0);
        if (batch.size() > 1) {
          for (std::size_t i = 0; i < batch.size(); ++i) {
            try {
              backend_->begin();
              const bool body_ok = run_body(batch[i].op, *backend_);
              if (!body_ok) throw store_error("operation failed");
              backend_->commit();
              ok[i] = 1;
            } catch (...) {
              rollback_quietly();
            }
          }
        }
      }

    // A failed until_committed operation goes back for a later try (unless the worker is
    // stopping: then it had its last one). It is not finished, and its completion waits.
    std::size_t kept = 0;
    {
      std::lock_guard lk(mu_);
      if (std::count(ok.begin(), ok.end(), 0) == 0) retry_delay_ms_ = 0;
      for (std::size_t i = 0; i < batch.size(); ++i) {
        if (ok[i] || batch[i].policy != retry::until_committed || stopping) continue;
        retry_.push_back(std::move(batch[i]));
        batch[i].done = {};
        ok[i] = 2;  // kept
        ++kept;
      }
      if (kept > 0) {
        retry_delay_ms_ = retry_delay_ms_ == 0 ? opts_.retry_first_ms
                                               : std::min(retry_delay_ms_ * 2, opts_.retry_max_ms);
        retry_at_ = steady::now() + std::chrono::milliseconds(retry_delay_ms_);
      }
    }
    stats_.retries += kept;

    // Stats before completions, so a completion (or a flush that returns) sees them current.
    const auto done_at = steady::now();
    std::uint64_t latency_ns = 0;
    for (const item& it : batch)
      latency_ns += ns_between(it.submitted, done_at);
    const auto failed = static_cast<std::uint64_t>(std::count(ok.begin(), ok.end(), 0));
    stats_.ops += batch.size();
    stats_.batches += 1;
    stats_.failures += failed;  // kept ones are not completed
    stats_.commit_ns_total += commit_ns;
    stats_.latency_ns_total += latency_ns;

    // Completions run outside the mutex: they may submit more work.
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (ok[i] == 2) continue;
      if (!ok[i] && batch[i].policy == retry::until_committed) {
        stats_.lost += 1;
        spdlog::error("storage: a write that must not be lost failed at shutdown and was given up");
      }
      if (!batch[i].done) continue;
      try {
        batch[i].done(ok[i] != 0);
      } catch (...) {
        // A completion must not throw; if one does, it must not stop storage for everyone else.
      }
    }
    // Drop the operations (and whatever they captured) before reporting them finished.
    const std::size_t n = batch.size() - kept;
    batch.clear();

    {
      std::lock_guard lk(mu_);
      finished_ += n;
    }
    idle_cv_.notify_all();
  }
}

}  // namespace maratang::store
