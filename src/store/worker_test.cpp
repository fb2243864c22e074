// The storage worker: ordering, batching, per-operation failure, durability of completions,
// flush/stop and back-pressure. No test depends on timing: a gate operation holds the worker
// still while the test queues work behind it.
#include "store/worker.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "store/memory/memory_backend.hpp"
#include "store/postgres/pg_backend.hpp"
#include "store/postgres/pg_test_cluster.hpp"
#include "store/sqlite/sqlite_backend.hpp"
#include "store/test_temp_dir.hpp"

namespace maratang::store {
namespace {

// An operation that blocks the worker thread until open() (or the gate's destruction). Declare a
// gate after the worker it blocks, so that it opens before the worker drains at scope exit.
class gate {
 public:
  gate() : released_(release_.get_future().share()), started_f_(started_->get_future()) {}
  ~gate() { open(); }
  gate(const gate&) = delete;
  gate& operator=(const gate&) = delete;

  worker::operation op() {
    return [started = started_, released = released_](backend&) {
      started->set_value();
      released.wait();
    };
  }
  // Returns once the worker is inside op(): everything submitted from now on queues behind it.
  void wait_started() { started_f_.wait(); }
  void open() {
    if (opened_) return;
    opened_ = true;
    release_.set_value();
  }

 private:
  std::promise<void> release_;
  std::shared_future<void> released_;
  std::shared_ptr<std::promise<void>> started_ = std::make_shared<std::promise<void>>();
  std::future<void> started_f_;
  bool opened_ = false;
};

account device_account(const std::string& device) {
  account a;
  a.device_id = device;
  a.created_ms = 1;
  return a;
}

// Creates an account; a conflict fails the operation.
worker::operation create(const std::string& device) {
  return [device](backend& b) {
    account a = device_account(device);
    if (b.create_account(a) != status::ok) throw store_error("conflict on " + device);
  };
}

// A memory backend whose commit can be made to fail.
class failing_commit_backend : public memory_backend {
 public:
  explicit failing_commit_backend(std::shared_ptr<std::atomic<bool>> fail)
      : fail_(std::move(fail)) {}
  void commit() override {
    if (fail_->load()) throw store_error("injected commit failure");
    memory_backend::commit();
  }

 private:
  std::shared_ptr<std::atomic<bool>> fail_;
};

enum class kind { memory, sqlite, postgres };

std::string param_name(kind k) {
  return k == kind::memory ? "memory" : k == kind::sqlite ? "sqlite" : "postgres";
}

class store_worker : public ::testing::TestWithParam<kind> {
 protected:
  std::unique_ptr<backend> make_backend() {
    if (GetParam() == kind::memory) {
      auto b = std::make_unique<memory_backend>();
      b->migrate();
      return b;
    }
    if (GetParam() == kind::postgres) {
      // A fresh schema on the server the tests share. Its batches run without savepoints first.
      pg_options o;
      o.schema = testing::fresh_schema_name();
      auto b = pg_backend::open(testing::shared_test_url(MARATANG_SOURCE_DIR), o);
      b->migrate();
      return b;
    }
    auto b = sqlite_backend::open(dir_.file("store.db"), {.full_sync = false});
    b->migrate();
    return b;
  }

  testing::temp_dir dir_;
};

TEST_P(store_worker, runs_operations_and_completions_in_submit_order) {
  std::vector<int> ran;   // touched on the worker thread only, read after flush()
  std::vector<int> done;  // likewise
  worker w(make_backend(), {.max_batch = 7, .max_queue = 10'000});
  EXPECT_EQ(w.backend_name(), param_name(GetParam()));
  for (int i = 0; i < 500; ++i) {
    ASSERT_TRUE(w.submit([&ran, i](backend&) { ran.push_back(i); },
                         [&done, i](bool ok) {
                           EXPECT_TRUE(ok);
                           done.push_back(i);
                         }));
  }
  w.flush();
  std::vector<int> want(500);
  for (int i = 0; i < 500; ++i)
    want[static_cast<std::size_t>(i)] = i;
  EXPECT_EQ(ran, want);
  EXPECT_EQ(done, want);
  EXPECT_EQ(w.stats().ops.load(), 500u);
  EXPECT_GE(w.stats().batches.load(), 500u / 7);
  EXPECT_EQ(w.stats().failures.load(), 0u);
  EXPECT_GT(w.stats().latency_ns_total.load(), 0u);
}

TEST_P(store_worker, a_throwing_operation_fails_alone) {
  worker w(make_backend());
  gate g;
  std::vector<bool> oks;  // worker thread only
  auto record = [&oks](bool ok) { oks.push_back(ok); };

  ASSERT_TRUE(w.submit(g.op(), record));
  g.wait_started();
  // All of these queue behind the gate and run as one batch.
  ASSERT_TRUE(w.submit(create("dev-a"), record));
  ASSERT_TRUE(w.submit(
      [](backend& b) {
        create("dev-b")(b);
        throw store_error("boom");
      },
      record));
  ASSERT_TRUE(w.submit(
      [](backend& b) {
        create("dev-c")(b);
        throw std::runtime_error("not a store error");
      },
      record));
  ASSERT_TRUE(w.submit(create("dev-d"), record));
  ASSERT_TRUE(w.submit([](backend&) { throw 42; }, record));
  ASSERT_TRUE(w.submit(create("dev-a"), record));  // conflicts with the first: fails alone too
  g.open();
  w.flush();

  EXPECT_EQ(oks, (std::vector<bool>{true, true, false, false, true, false, false}));
  EXPECT_EQ(w.stats().failures.load(), 4u);
  EXPECT_EQ(w.stats().batches.load(), 2u);
  EXPECT_EQ(w.stats().ops.load(), 7u);

  // What is left committed: the successful operations only.
  std::vector<bool> found;
  ASSERT_TRUE(w.submit([&found](backend& b) {
    for (const char* d : {"dev-a", "dev-b", "dev-c", "dev-d"}) {
      found.push_back(b.find_account_by_device(d).has_value());
    }
  }));
  w.flush();
  EXPECT_EQ(found, (std::vector<bool>{true, false, false, true}));
}

TEST_P(store_worker, batches_consecutive_operations) {
  worker w(make_backend(), {.max_batch = 256, .max_queue = 10'000});
  gate g;
  std::atomic<int> ok_count{0};
  ASSERT_TRUE(w.submit(g.op()));
  g.wait_started();
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(w.submit(create("dev-" + std::to_string(i)), [&ok_count](bool ok) {
      if (ok) ++ok_count;
    }));
  }
  EXPECT_EQ(w.queue_depth(), 1000u);
  g.open();
  w.flush();
  EXPECT_EQ(w.queue_depth(), 0u);
  EXPECT_EQ(ok_count.load(), 1000);
  EXPECT_EQ(w.stats().ops.load(), 1001u);
  // The gate alone, then 1000 in batches of at most 256.
  EXPECT_EQ(w.stats().batches.load(), 1u + 4u);
}

TEST_P(store_worker, completions_may_submit_more_work) {
  worker w(make_backend());
  bool second_done = false;  // worker thread only
  ASSERT_TRUE(w.submit([](backend&) {},
                       [&w, &second_done](bool) {
                         EXPECT_TRUE(w.submit([](backend&) {},
                                              [&second_done](bool) { second_done = true; }));
                       }));
  w.flush();  // the first; the second was submitted before the first counted as finished
  w.flush();
  EXPECT_TRUE(second_done);
}

TEST_P(store_worker, concurrent_submitters_keep_their_own_order) {
  worker w(make_backend(), {.max_batch = 16, .max_queue = 100'000});
  constexpr int threads = 4;
  constexpr int per_thread = 250;
  std::vector<std::vector<int>> seen(threads);  // worker thread only
  std::vector<std::thread> submitters;
  for (int t = 0; t < threads; ++t) {
    submitters.emplace_back([&w, &seen, t] {
      for (int i = 0; i < per_thread; ++i) {
        EXPECT_TRUE(
            w.submit([&seen, t, i](backend&) { seen[static_cast<std::size_t>(t)].push_back(i); }));
      }
    });
  }
  for (auto& s : submitters)
    s.join();
  w.flush();
  for (const auto& v : seen) {
    ASSERT_EQ(v.size(), static_cast<std::size_t>(per_thread));
    for (int i = 0; i < per_thread; ++i)
      EXPECT_EQ(v[static_cast<std::size_t>(i)], i);
  }
  EXPECT_EQ(w.stats().ops.load(), static_cast<std::uint64_t>(threads * per_thread));
}

std::string test_name(const ::testing::TestParamInfo<kind>& p) {
  return param_name(p.param);
}

INSTANTIATE_TEST_SUITE_P(backends, store_worker,
                         ::testing::Values(kind::memory, kind::sqlite, kind::postgres), test_name);

// A memory backend that counts savepoints and says they cost a round trip, as PostgreSQL's do.
class counting_backend : public memory_backend {
 public:
  bool savepoints_cost_round_trips() const override { return true; }
  void savepoint() override {
    ++savepoints;
    memory_backend::savepoint();
  }
  std::atomic<int> savepoints{0};
};

// A batch whose operations all succeed takes no savepoint; one that holds a failure is rolled
// back and run again with a savepoint per operation, and ends as it would have with them: the
// failing operation alone lost, the others committed once (a rerun operation's first writes
// were rolled back, so nothing is doubled).
TEST(store_worker_basic, batches_run_without_savepoints_until_one_operation_fails) {
  auto owned = std::make_unique<counting_backend>();
  owned->migrate();
  counting_backend& b = *owned;
  worker w(std::move(owned));
  std::vector<bool> oks;  // worker thread only
  auto record = [&oks](bool ok) { oks.push_back(ok); };
  {
    gate g;
    ASSERT_TRUE(w.submit(g.op(), record));
    g.wait_started();
    for (const char* d : {"dev-1", "dev-2", "dev-3"})
      ASSERT_TRUE(w.submit(create(d), record));
    g.open();
    w.flush();
  }
  EXPECT_EQ(b.savepoints.load(), 0);
  EXPECT_EQ(w.stats().reruns.load(), 0u);
  EXPECT_EQ(w.stats().batches.load(), 2u);  // the gate alone, then the three

  {
    gate g;
    ASSERT_TRUE(w.submit(g.op(), record));
    g.wait_started();
    ASSERT_TRUE(w.submit(
        [](backend& be) {
          create("dev-4")(be);
          audit_entry e;  // no key: a write run twice would show twice
          e.action = "once";
          be.append_audit(e);
        },
        record));
    ASSERT_TRUE(w.submit(create("dev-1"), record));  // taken: fails
    ASSERT_TRUE(w.submit(create("dev-5"), record));
    g.open();
    w.flush();
  }
  EXPECT_EQ(oks, (std::vector<bool>{true, true, true, true, true, true, false, true}));
  EXPECT_EQ(w.stats().reruns.load(), 1u);
  EXPECT_EQ(b.savepoints.load(), 3);  // the rerun batch's three operations
  EXPECT_EQ(w.stats().failures.load(), 1u);
  std::vector<bool> found;
  std::size_t audits = 0;
  ASSERT_TRUE(w.submit([&](backend& be) {
    for (const char* d : {"dev-1", "dev-4", "dev-5"})
      found.push_back(be.find_account_by_device(d).has_value());
    audits = be.read_audit(0, 10).size();
  }));
  w.flush();
  EXPECT_EQ(found, (std::vector<bool>{true, true, true}));
  EXPECT_EQ(audits, 1u);
}

TEST(store_worker_sqlite, completion_comes_after_commit) {
  testing::temp_dir dir;
  const std::string path = dir.file("store.db");
  auto writer = sqlite_backend::open(path);
  writer->migrate();
  // A second connection on the same file, used only on the worker thread (inside operations and
  // completions) while the worker runs. Declared before the worker so it outlives it.
  auto reader = sqlite_backend::open(path);

  constexpr int n = 50;
  int seen_before_commit = 0;  // worker thread only
  int seen_in_completion = 0;
  int ok_count = 0;
  {
    worker w(std::move(writer), {.max_batch = 8, .max_queue = 1000});
    for (int i = 0; i < n; ++i) {
      const std::string device = "dev-" + std::to_string(i);
      ASSERT_TRUE(w.submit(
          [&, device](backend& b) {
            account a = device_account(device);
            ASSERT_EQ(b.create_account(a), status::ok);
            // Written but not committed: another connection cannot see it yet.
            if (reader->find_account_by_device(device)) ++seen_before_commit;
          },
          [&, device](bool ok) {
            if (ok) ++ok_count;
            if (reader->find_account_by_device(device)) ++seen_in_completion;
          }));
    }
    w.flush();
  }
  EXPECT_EQ(ok_count, n);
  EXPECT_EQ(seen_before_commit, 0);
  EXPECT_EQ(seen_in_completion, n);
}

TEST(store_worker_basic, a_failed_commit_fails_the_whole_batch) {
  auto fail = std::make_shared<std::atomic<bool>>(false);
  worker w(std::make_unique<failing_commit_backend>(fail));
  gate g;
  std::vector<bool> oks;  // worker thread only
  auto record = [&oks](bool ok) { oks.push_back(ok); };

  ASSERT_TRUE(w.submit(g.op(), record));
  g.wait_started();
  fail->store(true);  // the gate's batch commits after this, and fails too
  ASSERT_TRUE(w.submit(create("dev-a"), record));
  ASSERT_TRUE(w.submit(create("dev-b"), record));
  g.open();
  w.flush();
  EXPECT_EQ(oks, (std::vector<bool>{false, false, false}));
  EXPECT_EQ(w.stats().failures.load(), 3u);

  // Nothing of the failed batches stayed, and the worker goes on.
  fail->store(false);
  std::vector<bool> found;
  ASSERT_TRUE(w.submit(
      [&found](backend& b) {
        found.push_back(b.find_account_by_device("dev-a").has_value());
        found.push_back(b.find_account_by_device("dev-b").has_value());
      },
      record));
  ASSERT_TRUE(w.submit(create("dev-a"), record));
  w.flush();
  EXPECT_EQ(found, (std::vector<bool>{false, false}));
  EXPECT_EQ(oks, (std::vector<bool>{false, false, false, true, true}));
}

TEST(store_worker_basic, flush_waits_for_everything_submitted_before_it) {
  worker w(std::make_unique<memory_backend>());
  w.flush();  // nothing pending: returns at once
  gate g;
  std::atomic<int> done{0};
  ASSERT_TRUE(w.submit(g.op(), [&done](bool) { ++done; }));
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(w.submit([](backend&) {}, [&done](bool) { ++done; }));
  // flush() must not return while the gate holds the worker.
  auto flushed = std::async(std::launch::async, [&w] { w.flush(); });
  g.wait_started();
  EXPECT_EQ(flushed.wait_for(std::chrono::milliseconds(20)), std::future_status::timeout);
  EXPECT_EQ(done.load(), 0);
  g.open();
  flushed.get();
  EXPECT_EQ(done.load(), 21);
}

TEST(store_worker_basic, stop_drains_then_refuses) {
  worker w(std::make_unique<memory_backend>(), {.max_batch = 10, .max_queue = 1000});
  std::atomic<int> ran{0};
  std::atomic<int> done{0};
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(w.submit([&ran](backend&) { ++ran; }, [&done](bool ok) { done += ok ? 1 : 0; }));
  }
  w.stop();
  EXPECT_EQ(ran.load(), 200);
  EXPECT_EQ(done.load(), 200);
  EXPECT_FALSE(w.submit([&ran](backend&) { ++ran; }));
  w.stop();   // idempotent
  w.flush();  // nothing pending
  EXPECT_EQ(ran.load(), 200);
  EXPECT_EQ(w.queue_depth(), 0u);
}

TEST(store_worker_basic, stop_from_two_threads_waits_for_the_drain) {
  worker w(std::make_unique<memory_backend>());
  gate g;
  std::atomic<int> done{0};
  ASSERT_TRUE(w.submit(g.op(), [&done](bool) { ++done; }));
  g.wait_started();
  for (int i = 0; i < 50; ++i)
    ASSERT_TRUE(w.submit([](backend&) {}, [&done](bool) { ++done; }));
  auto first = std::async(std::launch::async, [&w, &done] {
    w.stop();
    return done.load();
  });
  auto second = std::async(std::launch::async, [&w, &done] {
    w.stop();
    return done.load();
  });
  g.open();
  EXPECT_EQ(first.get(), 51);
  EXPECT_EQ(second.get(), 51);
}

TEST(store_worker_basic, stop_from_a_completion_drains_without_deadlock) {
  std::atomic<int> done{0};
  {
    worker w(std::make_unique<memory_backend>(), {.max_batch = 1, .max_queue = 100});
    gate g;
    ASSERT_TRUE(w.submit(g.op(), [&w](bool) { w.stop(); }));
    g.wait_started();
    for (int i = 0; i < 10; ++i)
      ASSERT_TRUE(w.submit([](backend&) {}, [&done](bool) { ++done; }));
    g.open();
    w.stop();  // the completion asked first; this one waits for the drain
    EXPECT_EQ(done.load(), 10);
    EXPECT_FALSE(w.submit([](backend&) {}));
  }
  EXPECT_EQ(done.load(), 10);
}

TEST(store_worker_basic, flush_on_the_worker_thread_fails_the_operation) {
  worker w(std::make_unique<memory_backend>());
  bool result = true;  // worker thread only
  ASSERT_TRUE(w.submit([&w](backend&) { w.flush(); }, [&result](bool ok) { result = ok; }));
  w.flush();
  EXPECT_FALSE(result);
}

TEST(store_worker_basic, destructor_runs_what_was_submitted) {
  std::atomic<int> done{0};
  {
    worker w(std::make_unique<memory_backend>());
    for (int i = 0; i < 100; ++i) {
      ASSERT_TRUE(w.submit([](backend&) {}, [&done](bool ok) { done += ok ? 1 : 0; }));
    }
  }
  EXPECT_EQ(done.load(), 100);
}

TEST(store_worker_basic, a_full_queue_refuses_submits) {
  worker w(std::make_unique<memory_backend>(), {.max_batch = 256, .max_queue = 3});
  gate g;
  std::atomic<int> ran{0};
  ASSERT_TRUE(w.submit(g.op()));
  g.wait_started();  // the gate left the queue: it is empty again
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(w.submit([&ran](backend&) { ++ran; }));
  EXPECT_EQ(w.queue_depth(), 3u);
  bool refused_ran = false;
  EXPECT_FALSE(w.submit([&refused_ran](backend&) { refused_ran = true; }));
  g.open();
  w.flush();
  EXPECT_EQ(ran.load(), 3);
  EXPECT_FALSE(refused_ran);
  EXPECT_TRUE(w.submit([&ran](backend&) { ++ran; }));  // room again
  w.flush();
  EXPECT_EQ(ran.load(), 4);
}

TEST(store_worker_basic, rejects_a_null_backend) {
  EXPECT_THROW(worker(nullptr), std::invalid_argument);
}

// --- Faults: a full or unwritable disk -------------------------------------------------------

TEST(store_worker_faults, until_committed_writes_wait_out_a_failing_disk) {
  auto fail = std::make_shared<std::atomic<bool>>(true);
  worker_options o;
  o.retry_first_ms = 1;
  o.retry_max_ms = 4;
  worker w(std::make_unique<failing_commit_backend>(fail), o);
  std::atomic<int> once_failed{0};
  std::promise<bool> kept_done;
  ASSERT_TRUE(w.submit(create("plain"), [&](bool ok) { once_failed += !ok; }));
  ASSERT_TRUE(w.submit(
      create("kept"), [&](bool ok) { kept_done.set_value(ok); }, retry::until_committed));
  // The plain write fails at once; the kept one is retried while the disk fails.
  auto kept = kept_done.get_future();
  while (w.stats().retries.load() < 5)
    std::this_thread::yield();
  EXPECT_EQ(once_failed.load(), 1);
  EXPECT_EQ(kept.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  EXPECT_EQ(w.queue_depth(), 1u);
  // The disk recovers: the kept write commits and is acknowledged once.
  fail->store(false);
  EXPECT_TRUE(kept.get());
  bool there = false;
  ASSERT_TRUE(w.submit([&](backend& b) { there = b.find_account_by_device("kept").has_value(); }));
  w.flush();
  EXPECT_TRUE(there);
  EXPECT_EQ(w.stats().lost.load(), 0u);
}

TEST(store_worker_faults, a_write_still_failing_at_stop_is_given_up_and_counted) {
  auto fail = std::make_shared<std::atomic<bool>>(true);
  worker_options o;
  o.retry_first_ms = 60'000;  // no retry comes before the stop
  worker w(std::make_unique<failing_commit_backend>(fail), o);
  std::promise<bool> done;
  ASSERT_TRUE(w.submit(
      create("doomed"), [&](bool ok) { done.set_value(ok); }, retry::until_committed));
  while (w.stats().retries.load() < 1)
    std::this_thread::yield();
  w.stop();  // one last try, then it is given up: stop never hangs on a broken disk
  EXPECT_FALSE(done.get_future().get());
  EXPECT_EQ(w.stats().lost.load(), 1u);
}

// A real SQLITE_FULL: the database is capped, filled, and given room again.
TEST(store_worker_faults, a_full_sqlite_database_keeps_every_acknowledged_write_and_recovers) {
  testing::temp_dir dir;
  auto b = sqlite_backend::open(dir.file("full.db"), {.full_sync = false});
  b->migrate();
  auto* sqlite = b.get();
  worker_options o;
  o.retry_first_ms = 1;
  o.retry_max_ms = 10;
  worker w(std::move(b), o);
  // Cap the file at its size now plus a little: writes soon fail as on a full disk.
  ASSERT_TRUE(
      w.submit([sqlite](backend&) { sqlite->set_max_size(sqlite->size_bytes() + 64 * 1024); }));
  w.flush();
  std::mutex mu;
  std::vector<std::string> acknowledged;
  int refused = 0;
  std::string big(2000, 'x');
  for (int i = 0; i < 2000 && refused < 20; ++i) {
    std::string device = "device-" + std::to_string(i) + big;
    ASSERT_TRUE(w.submit(create(device), [&, device](bool ok) {
      std::lock_guard lk(mu);
      if (ok) {
        acknowledged.push_back(device);
      } else {
        ++refused;
      }
    }));
    w.flush();
  }
  ASSERT_GT(refused, 0) << "the cap never filled the database";
  ASSERT_GT(acknowledged.size(), 0u);
  // A game record that must not be lost waits for room.
  std::promise<bool> record_done;
  ASSERT_TRUE(w.submit(
      [](backend& bb) {
        game_record g;
        g.id = "game-on-a-full-disk";
        g.mode = "mafia";
        g.record_json = std::string(4000, 'r');
        bb.insert_game(g);
      },
      [&](bool ok) { record_done.set_value(ok); }, retry::until_committed));
  auto record = record_done.get_future();
  EXPECT_EQ(record.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  // Every acknowledged write is there. (Not flush(): it would wait for the record too.)
  std::size_t found = 0;
  std::promise<void> read;
  ASSERT_TRUE(w.submit(
      [&](backend& bb) {
        for (const auto& d : acknowledged)
          found += bb.find_account_by_device(d).has_value();
      },
      [&](bool) { read.set_value(); }));
  read.get_future().get();
  EXPECT_EQ(found, acknowledged.size());
  // Room returns: the waiting record commits, and new writes work.
  ASSERT_TRUE(w.submit([sqlite](backend&) { sqlite->set_max_size(0); }));
  EXPECT_TRUE(record.get());
  bool ok_after = false;
  ASSERT_TRUE(w.submit(create("after"), [&](bool ok) { ok_after = ok; }));
  w.flush();
  EXPECT_TRUE(ok_after);
  bool stored = false;
  ASSERT_TRUE(
      w.submit([&](backend& bb) { stored = bb.find_game("game-on-a-full-disk").has_value(); }));
  w.flush();
  EXPECT_TRUE(stored);
}

}  // namespace
}  // namespace maratang::store
