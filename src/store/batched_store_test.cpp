// What only the batched store can be asked to show: its completion contract (store/reply.hpp)
// under a full queue, a stopped worker and failing transactions, which the port contract suites
// cannot bring about through the ports alone. The ports' behaviour itself is checked by the
// *_contract_test.cpp suites (store/port_contract.hpp) for every implementation.
#include "store/batched_store.hpp"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "store/memory/memory_backend.hpp"
#include "store/port_contract.hpp"
#include "store/postgres/pg_backend.hpp"
#include "store/postgres/pg_test_cluster.hpp"
#include "store/worker.hpp"

namespace maratang::store {
namespace {

using testing::call;
using testing::call_result;

// An operation that holds the worker thread until open() (or the gate's destruction). Declare a
// gate after the worker it holds, so that it opens before the worker drains at scope exit.
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

// Faults to inject into the memory backend, switched from the test thread.
struct faults {
  std::atomic<bool> commit{false};          // every commit fails
  std::atomic<int> insert_trace_ok{-1};     // >= 0: that many more insert_trace succeed, then fail
  std::atomic<bool> append_audit{false};    // append_audit fails
  std::atomic<int> insert_traces_calls{0};  // backend::insert_traces calls, counted
};

class faulty_backend : public memory_backend {
 public:
  explicit faulty_backend(std::shared_ptr<faults> f) : f_(std::move(f)) {}
  void commit() override {
    if (f_->commit) throw store_error("injected: commit");
    memory_backend::commit();
  }
  void insert_traces(std::vector<trace_record>& ts) override {
    ++f_->insert_traces_calls;
    memory_backend::insert_traces(ts);
  }
  void insert_trace(trace_record& t) override {
    if (t.area == "refused") throw store_error("injected: a trace of the area 'refused'");
    if (f_->insert_trace_ok.load() == 0) throw store_error("injected: insert_trace");
    if (f_->insert_trace_ok.load() > 0) --f_->insert_trace_ok;
    memory_backend::insert_trace(t);
  }
  void append_audit(audit_entry& e) override {
    if (f_->append_audit) throw store_error("injected: append_audit");
    memory_backend::append_audit(e);
  }

 private:
  std::shared_ptr<faults> f_;
};

account device_account(const std::string& device) {
  account a;
  a.device_id = device;
  a.created_ms = 1;
  return a;
}

trace_record message(const std::string& area) {
  trace_record t;
  t.area = area;
  t.kind = trace_kind::message;
  t.payload_json = "{}";
  t.created_ms = 1;
  return t;
}

// Records one completion: its result, and whether it ran before the call returned.
template <class T>
struct completion_probe {
  std::promise<result<T>> promise;
  std::atomic<bool> returned{false};
  std::atomic<bool> ran_inline{false};
  std::thread::id thread;

  reply<T> done() {
    return [this](result<T> r) {
      ran_inline = !returned.load();
      thread = std::this_thread::get_id();
      promise.set_value(std::move(r));
    };
  }
  result<T> get() {
    auto f = promise.get_future();
    if (f.wait_for(testing::call_timeout) != std::future_status::ready) {
      ADD_FAILURE() << "no completion";
      return error{errc::internal, "no completion"};
    }
    return f.get();
  }
};

TEST(batched_store_completion_contract, a_completion_may_call_the_store_again) {
  worker w(std::make_unique<memory_backend>());
  batched_store s(w);
  auto out = std::make_shared<std::promise<result<std::optional<account>>>>();
  // Each step runs on the worker thread, from the previous step's completion; fire-and-forget
  // writes may be made from there too.
  s.create_account(device_account("dev-1"), [&s, out](result<std::optional<account>> made) {
    if (!made || !*made) return out->set_value(error{errc::internal, "create failed"});
    const std::int64_t id = (*made)->id;
    s.insert_game(game_record{"g1", "mafia", "r1", 1, 2, {id}, "{}", false, {}, {}});
    s.set_nickname(id, "Ada", "ada", [&s, out, id](result<status> st) {
      if (!st || *st != status::ok) return out->set_value(error{errc::internal, "nickname"});
      s.ping([&s, out, id](result<bool> up) {
        if (!up || !*up) return out->set_value(error{errc::internal, "ping"});
        s.find_account(
            id, [out](result<std::optional<account>> found) { out->set_value(std::move(found)); });
      });
    });
  });
  auto f = out->get_future();
  ASSERT_EQ(f.wait_for(testing::call_timeout), std::future_status::ready) << "deadlock?";
  auto found = f.get();
  ASSERT_TRUE(found.has_value()) << found.error().message;
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->nickname, "Ada");
  w.flush();
  auto g = call(static_cast<lobby::game_store&>(s), &lobby::game_store::find_game, "g1");
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->players, (std::vector<std::int64_t>{(*found)->id}));
}

TEST(batched_store_completion_contract,
     a_full_queue_answers_unavailable_at_once_and_writes_nothing) {
  worker w(std::make_unique<memory_backend>(), {.max_batch = 256, .max_queue = 2});
  batched_store s(w);
  gate g;
  ASSERT_TRUE(w.submit(g.op()));
  g.wait_started();  // the gate left the queue: two places are free
  completion_probe<std::optional<account>> first, second, refused;
  s.create_account(device_account("dev-1"), first.done());
  first.returned = true;
  s.create_account(device_account("dev-2"), second.done());
  second.returned = true;
  ASSERT_EQ(w.queue_depth(), 2u);

  s.create_account(device_account("dev-3"), refused.done());
  refused.returned = true;
  auto r = refused.get();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::unavailable);
  EXPECT_TRUE(refused.ran_inline.load()) << "a refusal comes before the call returns";
  EXPECT_EQ(refused.thread, std::this_thread::get_id());

  // The queued ones complete later, on the worker thread, with values.
  g.open();
  auto a = first.get();
  auto b = second.get();
  ASSERT_TRUE(a.has_value());
  ASSERT_TRUE(b.has_value());
  EXPECT_TRUE(a->has_value());
  EXPECT_TRUE(b->has_value());
  EXPECT_FALSE(first.ran_inline.load());
  EXPECT_NE(first.thread, std::this_thread::get_id());

  // Nothing of the refused one was written; there is room again.
  w.flush();
  EXPECT_FALSE(call(s, &batched_store::find_account_by_device, "dev-3").has_value());
  EXPECT_TRUE(call(s, &batched_store::create_account, device_account("dev-3")).has_value());
}

TEST(batched_store_completion_contract, a_stopped_store_answers_unavailable) {
  worker w(std::make_unique<memory_backend>());
  batched_store s(w);
  w.stop();
  auto unavailable = [](const auto& r) {
    return !r.has_value() && r.error().code == errc::unavailable;
  };
  EXPECT_TRUE(unavailable(call_result(s, &batched_store::find_account, std::int64_t{1})));
  EXPECT_TRUE(unavailable(call_result(s, &batched_store::create_account, device_account("d"))));
  EXPECT_TRUE(unavailable(call_result(s, &batched_store::ping)));
  EXPECT_TRUE(unavailable(call_result(s, &batched_store::read_log, "s", std::int64_t{0}, 10)));
  EXPECT_TRUE(unavailable(
      call_result(s, &batched_store::insert_traces, std::vector<trace_record>{message("a")})));
  EXPECT_TRUE(unavailable(
      call_result(s, &batched_store::put_casebook, casebook_record{"g", "t", "en", "llm", "", 1})));
}

// A write that must not be lost but that the stopped store can no longer take is given up,
// logged and counted, as one still failing at the stop is (lobby/game_store.hpp).
TEST(batched_store_completion_contract, fire_and_forget_writes_refused_at_the_stop_are_counted) {
  worker w(std::make_unique<memory_backend>());
  batched_store s(w);
  w.stop();
  s.insert_game(game_record{"g1", "mafia", "r1", 1, 2, {1}, "{}", false, {}, {}});
  s.append_log(log_entry{"g1", 1, 1, "chat", 1, "{}"});
  EXPECT_EQ(w.stats().lost.load(), 2u);
}

TEST(batched_store_completion_contract,
     fire_and_forget_writes_refused_by_a_full_queue_are_counted) {
  worker w(std::make_unique<memory_backend>(), {.max_batch = 256, .max_queue = 1});
  batched_store s(w);
  gate g;
  ASSERT_TRUE(w.submit(g.op()));
  g.wait_started();
  s.insert_game(game_record{"g1", "mafia", "r1", 1, 2, {1}, "{}", false, {}, {}});  // queued
  s.insert_game(game_record{"g2", "mafia", "r1", 1, 2, {1}, "{}", false, {}, {}});  // refused
  EXPECT_EQ(w.stats().lost.load(), 1u);
  g.open();
  w.flush();
  EXPECT_TRUE(call(s, &batched_store::find_game, "g1").has_value());
  EXPECT_FALSE(call(s, &batched_store::find_game, "g2").has_value());
}

TEST(batched_store_completion_contract,
     a_failed_transaction_answers_unavailable_and_writes_nothing) {
  auto f = std::make_shared<faults>();
  worker w(std::make_unique<faulty_backend>(f));
  batched_store s(w);
  f->commit = true;
  auto r = call_result(s, &batched_store::create_account, device_account("dev-1"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::unavailable);
  f->commit = false;
  EXPECT_FALSE(call(s, &batched_store::find_account_by_device, "dev-1").has_value());
}

TEST(batched_store_completion_contract, insert_traces_is_all_or_none) {
  auto f = std::make_shared<faults>();
  worker w(std::make_unique<faulty_backend>(f));
  batched_store s(w);
  f->insert_trace_ok = 2;  // the third of three fails
  auto r = call_result(s, &batched_store::insert_traces,
                       std::vector<trace_record>{message("a"), message("a"), message("a")});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::unavailable);
  f->insert_trace_ok = -1;
  trace_query q;
  q.area = "a";
  q.kind = trace_kind::message;
  q.limit = 10;
  auto listed = call(s, &batched_store::list_traces, std::vector<trace_query>{q});
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_TRUE(listed[0].empty());
  auto ok = call(s, &batched_store::insert_traces, std::vector<trace_record>{message("a")});
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(call(s, &batched_store::list_traces, std::vector<trace_query>{q})[0].size(), 1u);
}

// Adds that wait while the worker is busy are inserted by one operation, in one insert_traces
// call, and each gets back its own traces with their ids.
TEST(batched_store_completion_contract, adds_waiting_together_go_in_one_insert_each_answered) {
  auto f = std::make_shared<faults>();
  worker w(std::make_unique<faulty_backend>(f));
  batched_store s(w);
  gate g;
  ASSERT_TRUE(w.submit(g.op()));
  g.wait_started();
  std::vector<std::unique_ptr<completion_probe<std::vector<trace_record>>>> probes;
  for (int i = 0; i < 5; ++i) {
    std::vector<trace_record> ts;
    for (int k = 0; k <= i % 3; ++k)
      ts.push_back(message("area-" + std::to_string(i)));
    probes.push_back(std::make_unique<completion_probe<std::vector<trace_record>>>());
    s.insert_traces(std::move(ts), probes.back()->done());
    probes.back()->returned = true;
  }
  EXPECT_EQ(w.queue_depth(), 1u) << "one operation for every add waiting";
  g.open();
  std::int64_t last = 0;
  for (int i = 0; i < 5; ++i) {
    SCOPED_TRACE(i);
    auto r = probes[static_cast<std::size_t>(i)]->get();
    ASSERT_TRUE(r.has_value());
    ASSERT_EQ(r->size(), static_cast<std::size_t>(i % 3 + 1));
    for (const auto& t : *r) {
      EXPECT_EQ(t.area, "area-" + std::to_string(i));
      EXPECT_GT(t.id, last);
      last = t.id;
      auto found = call(s, &batched_store::find_trace, t.id);
      ASSERT_TRUE(found.has_value());
      EXPECT_EQ(found->area, t.area);
    }
  }
  EXPECT_EQ(f->insert_traces_calls.load(), 1);
}

// When the group's insert fails, each add is tried again alone: one the database refuses fails
// by itself, and the others are stored and answered.
TEST(batched_store_completion_contract, an_add_refused_in_a_group_fails_alone) {
  auto f = std::make_shared<faults>();
  worker w(std::make_unique<faulty_backend>(f));
  batched_store s(w);
  gate g;
  ASSERT_TRUE(w.submit(g.op()));
  g.wait_started();
  completion_probe<std::vector<trace_record>> before, refused, after;
  s.insert_traces({message("kept"), message("kept")}, before.done());
  s.insert_traces({message("refused"), message("kept")}, refused.done());
  s.insert_traces({message("kept")}, after.done());
  g.open();
  auto a = before.get();
  auto r = refused.get();
  auto b = after.get();
  ASSERT_TRUE(a.has_value());
  ASSERT_TRUE(b.has_value());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::unavailable);
  EXPECT_EQ(a->size(), 2u);
  EXPECT_EQ(b->size(), 1u);
  trace_query q;
  q.kind = trace_kind::message;
  q.limit = 10;
  q.area = "kept";
  auto kept = call(s, &batched_store::list_traces, std::vector<trace_query>{q});
  EXPECT_EQ(kept[0].size(), 3u) << "the refused add's other trace is not stored either";
  q.area = "refused";
  EXPECT_TRUE(call(s, &batched_store::list_traces, std::vector<trace_query>{q})[0].empty());
  // The group, then each of its three adds alone.
  EXPECT_EQ(f->insert_traces_calls.load(), 4);
}

// A worker that refuses the group's operation: the add is answered at once, on the caller's
// thread, and nothing is left waiting.
TEST(batched_store_completion_contract, an_add_refused_by_a_full_queue_is_answered_at_once) {
  worker w(std::make_unique<memory_backend>(), {.max_batch = 256, .max_queue = 1});
  batched_store s(w);
  gate g;
  ASSERT_TRUE(w.submit(g.op()));
  g.wait_started();
  ASSERT_TRUE(w.submit([](backend&) {}));  // the queue's one place
  completion_probe<std::vector<trace_record>> refused;
  s.insert_traces({message("a")}, refused.done());
  refused.returned = true;
  auto r = refused.get();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::unavailable);
  EXPECT_TRUE(refused.ran_inline.load());
  EXPECT_EQ(refused.thread, std::this_thread::get_id());
  g.open();
  w.flush();
  // Nothing is left waiting: the next add is scheduled and stored.
  auto ok = call(s, &batched_store::insert_traces, std::vector<trace_record>{message("a")});
  EXPECT_EQ(ok.size(), 1u);
}

// Counts replies of many adds; wait() returns once `n` have come.
struct reply_counter {
  std::mutex mu;
  std::condition_variable cv;
  std::size_t ok = 0, failed = 0;
  std::vector<std::string> areas;  // of the traces answered, in the order answered

  reply<std::vector<trace_record>> done() {
    return [this](result<std::vector<trace_record>> r) {
      std::lock_guard lk(mu);
      if (r) {
        ++ok;
        for (const auto& t : *r)
          areas.push_back(t.area);
      } else {
        ++failed;
      }
      cv.notify_all();
    };
  }
  bool wait(std::size_t n) {
    std::unique_lock lk(mu);
    return cv.wait_for(lk, testing::call_timeout, [&] { return ok + failed >= n; });
  }
};

// More adds than one operation takes: the rest go in the next one, and every add is answered.
TEST(batched_store_completion_contract, adds_beyond_a_group_go_in_the_next_one) {
  auto f = std::make_shared<faults>();
  worker w(std::make_unique<faulty_backend>(f));
  batched_store s(w);
  gate g;
  ASSERT_TRUE(w.submit(g.op()));
  g.wait_started();
  const std::size_t n = batched_store::kTraceGroupMost + 10;
  reply_counter c;
  for (std::size_t i = 0; i < n; ++i)
    s.insert_traces({message("area-" + std::to_string(i))}, c.done());
  g.open();
  ASSERT_TRUE(c.wait(n));
  w.flush();
  std::lock_guard lk(c.mu);
  EXPECT_EQ(c.ok, n);
  ASSERT_EQ(c.areas.size(), n);
  for (std::size_t i = 0; i < n; ++i)
    EXPECT_EQ(c.areas[i], "area-" + std::to_string(i));
  EXPECT_EQ(f->insert_traces_calls.load(), 2);
}

// At most kTraceInboxMost adds wait: one more is answered unavailable at once; the waiting ones
// are all stored.
TEST(batched_store_completion_contract, adds_beyond_the_inbox_are_answered_busy_at_once) {
  worker w(std::make_unique<memory_backend>());
  batched_store s(w);
  gate g;
  ASSERT_TRUE(w.submit(g.op()));
  g.wait_started();
  reply_counter c;
  for (std::size_t i = 0; i < batched_store::kTraceInboxMost; ++i)
    s.insert_traces({message("a")}, c.done());
  completion_probe<std::vector<trace_record>> refused;
  s.insert_traces({message("a")}, refused.done());
  refused.returned = true;
  auto r = refused.get();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::unavailable);
  EXPECT_TRUE(refused.ran_inline.load());
  g.open();
  ASSERT_TRUE(c.wait(batched_store::kTraceInboxMost));
  std::lock_guard lk(c.mu);
  EXPECT_EQ(c.ok, batched_store::kTraceInboxMost);
}

// A reply that throws does not keep the rest of its group unanswered.
TEST(batched_store_completion_contract, a_throwing_reply_leaves_its_group_answered) {
  worker w(std::make_unique<memory_backend>());
  batched_store s(w);
  gate g;
  ASSERT_TRUE(w.submit(g.op()));
  g.wait_started();
  s.insert_traces({message("a")}, [](result<std::vector<trace_record>>) {
    throw std::runtime_error("a reply that throws");
  });
  reply_counter c;
  s.insert_traces({message("b")}, c.done());
  s.insert_traces({message("c")}, c.done());
  g.open();
  ASSERT_TRUE(c.wait(2));
  std::lock_guard lk(c.mu);
  EXPECT_EQ(c.ok, 2u);
}

// Restore and delete write their audit line in the same transaction: when the line cannot be
// written, the action is not done either.
TEST(batched_store_completion_contract, moderation_and_its_audit_line_commit_together) {
  auto f = std::make_shared<faults>();
  worker w(std::make_unique<faulty_backend>(f));
  batched_store s(w);
  auto made = call(s, &batched_store::insert_traces, std::vector<trace_record>{message("a")});
  ASSERT_EQ(made.size(), 1u);
  const std::int64_t id = made[0].id;
  auto reporter = call(s, &batched_store::create_account, device_account("dev-1"));
  ASSERT_TRUE(reporter.has_value());
  ASSERT_TRUE(call(s, &batched_store::report_trace, trace_report{id, reporter->id, "src", true},
                   std::int64_t{1}, std::int64_t{1})
                  .has_value());
  ASSERT_TRUE(call(s, &batched_store::find_trace, id)->hidden);

  auto line = [](const trace_record& t) {
    return audit_entry{0, 1, 9, "trace.x", "trace:" + std::to_string(t.id), "{}"};
  };
  f->append_audit = true;
  auto restored =
      call_result(s, &batched_store::restore_trace, id, traces::trace_store::audit_fn(line));
  ASSERT_FALSE(restored.has_value());
  EXPECT_EQ(restored.error().code, errc::unavailable);
  auto deleted =
      call_result(s, &batched_store::delete_trace, id, traces::trace_store::audit_fn(line));
  ASSERT_FALSE(deleted.has_value());
  EXPECT_EQ(deleted.error().code, errc::unavailable);
  f->append_audit = false;

  auto t = call(s, &batched_store::find_trace, id);
  ASSERT_TRUE(t.has_value());
  EXPECT_TRUE(t->hidden);
  EXPECT_EQ(t->reports, 1);
  EXPECT_TRUE(call(s, &batched_store::read_audit, std::int64_t{0}, 10).empty());
}

// --- The fixture's own checks (store/port_contract.hpp) ----------------------------------------

// A health port that breaks the completion contract in the ways wait() must notice.
class rogue_health final : public health {
 public:
  enum class how { inline_value, twice };
  explicit rogue_health(how h) : how_(h) {}
  std::string backend_name() const override { return "rogue"; }
  void ping(reply<bool> done) override {
    if (how_ == how::inline_value) return done(true);  // on the caller's thread
    std::thread([done] {
      done(true);
      done(true);
    }).join();
  }

 private:
  how how_;
};

TEST(port_contract_helpers, wait_fails_a_value_delivered_on_the_callers_thread) {
  static rogue_health h(rogue_health::how::inline_value);
  EXPECT_NONFATAL_FAILURE((void)call_result(h, &health::ping), "on the caller's thread");
}

TEST(port_contract_helpers, wait_fails_a_completion_called_twice) {
  static rogue_health h(rogue_health::how::twice);
  EXPECT_NONFATAL_FAILURE_ON_ALL_THREADS((void)call_result(h, &health::ping), "more than once");
}

TEST(port_contract_helpers, call_throws_on_an_error) {
  worker w(std::make_unique<memory_backend>());
  batched_store s(w);
  w.stop();
  EXPECT_THROW(call(s, &batched_store::ping), std::runtime_error);
}

// --- The action log's write-behind with a delay (storage.log_delay_ms) --------------------------

log_entry line(std::int64_t seq) {
  return log_entry{"g1", seq, seq, "chat", 1, "{\"n\":" + std::to_string(seq) + "}"};
}

// The delay holds entries back, but a read queued after them still sees every one: read_log
// queues the write ahead of itself.
TEST(write_behind, a_read_after_appends_sees_them_although_their_write_is_delayed) {
  worker w(std::make_unique<memory_backend>());
  batched_store s(w, {.max_buffered = 1000, .max_per_write = 2, .delay = std::chrono::hours(1)});
  for (std::int64_t seq = 1; seq <= 5; ++seq)  // more than one write's worth: three writes
    s.append_log(line(seq));
  auto got = call(s, &batched_store::read_log, "g1", 0, 100);
  ASSERT_EQ(got.size(), 5u);
  for (std::size_t i = 0; i < got.size(); ++i)
    EXPECT_EQ(got[i].seq, static_cast<std::int64_t>(i) + 1);
  EXPECT_EQ(s.log_buffered(), 0u);
  EXPECT_EQ(s.log_stats().entries.load(), 5u);
}

// Nothing is written before the delay passes: the buffer holds them, and the backend has none.
// flush() (and stop) write them without waiting for it.
TEST(write_behind, entries_wait_for_the_delay_and_a_flush_writes_them_at_once) {
  auto b = std::make_unique<memory_backend>();
  memory_backend* db = b.get();
  worker w(std::move(b));
  batched_store s(w, {.max_buffered = 1000, .max_per_write = 100, .delay = std::chrono::hours(1)});
  s.append_log(line(1));
  s.append_log(line(2));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(s.log_buffered(), 2u);
  EXPECT_EQ(s.log_stats().writes.load(), 0u);
  EXPECT_EQ(w.queue_depth(), 1u);  // one delayed write for both
  const auto t0 = std::chrono::steady_clock::now();
  w.flush();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(30));
  EXPECT_EQ(s.log_buffered(), 0u);
  EXPECT_EQ(s.log_stats().writes.load(), 1u);  // one bulk write
  EXPECT_EQ(db->read_log("g1", 0, 10).size(), 2u);
}

// The outbox has a write-behind of its own: events published one by one wait for the delay and go
// in one bulk write, in the order they came; a full buffer refuses and counts.
TEST(write_behind, outbox_events_go_in_one_bulk_write_in_order) {
  auto b = std::make_unique<memory_backend>();
  memory_backend* db = b.get();
  worker w(std::move(b));
  batched_store s(w, {.max_buffered = 10, .max_per_write = 100, .delay = std::chrono::hours(1)});
  for (int i = 0; i < 8; ++i) {
    event_record e;
    e.topic = "accounts";
    e.key = "k" + std::to_string(i);
    e.payload_json = "{}";
    EXPECT_TRUE(s.append_events({e}));
  }
  std::vector<event_record> three(3);
  EXPECT_FALSE(s.append_events(three));  // 8 + 3 > 10: none of them is taken
  EXPECT_EQ(s.outbox_buffered(), 8u);
  EXPECT_EQ(s.outbox_stats().dropped.load(), 3u);
  EXPECT_TRUE(db->read_events(0, 100).empty());
  EXPECT_EQ(w.queue_depth(), 1u);  // one delayed write for all
  w.flush();
  EXPECT_EQ(s.outbox_buffered(), 0u);
  EXPECT_EQ(s.outbox_stats().writes.load(), 1u);
  EXPECT_EQ(s.outbox_stats().entries.load(), 8u);
  const auto got = db->read_events(0, 100);
  ASSERT_EQ(got.size(), 8u);
  for (std::size_t i = 0; i < got.size(); ++i)
    EXPECT_EQ(got[i].key, "k" + std::to_string(i));
}

// With two log writers (storage.log_writers on PostgreSQL: two connections), bulk writes take
// turns over both, and a read still sees every line appended before it: it waits for each
// writer's queued writes (the delay is an hour: what is not a full write's worth waits for it).
TEST(write_behind, two_postgres_writers_share_the_writes_and_a_read_waits_for_both) {
  pg_options o;
  o.schema = testing::fresh_schema_name();
  const auto& url = testing::shared_test_url(MARATANG_SOURCE_DIR);
  auto first = pg_backend::open(url, o);
  first->migrate();
  worker w(std::move(first));
  worker w2(pg_backend::open(url, o));
  batched_store s(w, {.max_buffered = 10'000, .max_per_write = 100, .delay = std::chrono::hours(1)},
                  {&w, &w2});
  constexpr int kStreams = 20, kPerStream = 100;
  for (int seq = 1; seq <= kPerStream; ++seq) {
    for (int g = 0; g < kStreams; ++g)
      s.append_log(log_entry{"g" + std::to_string(g), seq, seq, "action", g, "{}"});
  }
  for (int g = 0; g < kStreams; ++g) {
    auto got = call(s, &batched_store::read_log, "g" + std::to_string(g), 0, 1000);
    ASSERT_EQ(got.size(), static_cast<std::size_t>(kPerStream)) << "stream g" << g;
    for (std::size_t i = 0; i < got.size(); ++i)
      ASSERT_EQ(got[i].seq, static_cast<std::int64_t>(i) + 1);
  }
  EXPECT_EQ(s.log_buffered(), 0u);
  EXPECT_EQ(s.log_stats().entries.load(), static_cast<std::uint64_t>(kStreams * kPerStream));
  EXPECT_GE(s.log_stats().writes.load(), 20u);  // 100 lines a write at most
  // Each read queued exactly one empty operation on the second connection; the rest of what it
  // ran were writes, about half of them (they take turns).
  EXPECT_GE(w2.stats().ops.load(), static_cast<std::uint64_t>(kStreams) + 5);
  w2.stop();
  w.stop();
}

// A full write's worth does not wait for the delay; what comes after it does.
TEST(write_behind, a_full_write_is_queued_at_once_whatever_the_delay) {
  worker w(std::make_unique<memory_backend>());
  batched_store s(w, {.max_buffered = 1000, .max_per_write = 50, .delay = std::chrono::hours(1)});
  for (std::int64_t seq = 1; seq <= 50; ++seq)
    s.append_log(line(seq));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (s.log_stats().entries.load() < 50 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(s.log_stats().entries.load(), 50u);  // written without a flush
  EXPECT_EQ(s.log_buffered(), 0u);
  s.append_log(line(51));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(s.log_buffered(), 1u);  // waits for the delay
  EXPECT_EQ(s.log_stats().entries.load(), 50u);
}

// With a short delay the entries are written by themselves, after it and not before, and the
// wait is measured.
TEST(write_behind, a_short_delay_writes_by_itself_and_measures_the_wait) {
  worker w(std::make_unique<memory_backend>());
  batched_store s(
      w, {.max_buffered = 1000, .max_per_write = 100, .delay = std::chrono::milliseconds(150)});
  const auto t0 = std::chrono::steady_clock::now();
  s.append_log(line(1));
  s.append_log(line(2));
  const auto deadline = t0 + std::chrono::seconds(10);
  while (s.log_stats().entries.load() < 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(s.log_stats().entries.load(), 2u);
  EXPECT_GE(took, std::chrono::milliseconds(150));
  EXPECT_EQ(s.log_stats().writes.load(), 1u);
  EXPECT_GE(s.log_stats().wait_ns_max.load(), 150'000'000u);
  EXPECT_EQ(s.log_stats().wait_ns_total.load(), s.log_stats().wait_ns_max.load());
}

// Entries still waiting when the store goes are written at the worker's stop (the delayed write
// holds the buffer, not the store).
TEST(write_behind, entries_waiting_when_the_store_goes_are_written_at_the_stop) {
  auto b = std::make_unique<memory_backend>();
  memory_backend* db = b.get();
  worker w(std::move(b));
  {
    batched_store s(w,
                    {.max_buffered = 1000, .max_per_write = 100, .delay = std::chrono::hours(1)});
    s.append_log(line(1));
    s.append_log(line(2));
  }
  w.stop();
  EXPECT_EQ(db->read_log("g1", 0, 10).size(), 2u);
  EXPECT_EQ(w.stats().lost.load(), 0u);
}

// The worker's own delayed submission: not run before its time, run at once by stop().
TEST(write_behind, a_delayed_operation_runs_at_the_stop_without_waiting) {
  auto ran = std::make_shared<std::atomic<bool>>(false);
  worker w(std::make_unique<memory_backend>());
  ASSERT_TRUE(w.submit_after(std::chrono::hours(1), [ran](backend&) { *ran = true; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_FALSE(*ran);
  EXPECT_EQ(w.queue_depth(), 1u);
  const auto t0 = std::chrono::steady_clock::now();
  w.stop();
  EXPECT_TRUE(*ran);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(30));
}

}  // namespace
}  // namespace maratang::store
