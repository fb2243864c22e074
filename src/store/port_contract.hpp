// Test-only (included by *_contract_test.cpp files alone): the fixture of the port contract
// suites. Each storage port (core::account_store and core::audit_log, lobby::game_store and
// lobby::action_log, traces::trace_store, mystery::casebook_store, store::health) has one suite,
// and every suite runs against every implementation listed by implementations() below: memory
// (the reference), SQLite and PostgreSQL. The suites speak to the ports only,
// asynchronously, as services do; port_contract's wait()/call() turn a completion into a value so
// that tests read linearly, and fail (instead of hanging) when a completion never comes.
//
//   class account_store_contract : public store::testing::port_contract {};
//   TEST_P(account_store_contract, ...) {
//     auto made = call(accounts(), &core::account_store::create_account, some_account);
//     ...
//   }
//   INSTANTIATE_TEST_SUITE_P(impls, account_store_contract,
//                            ::testing::ValuesIn(store::testing::implementations()),
//                            store::testing::implementation_name);
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "competition/competition_store.hpp"
#include "core/account_store.hpp"
#include "lobby/game_store.hpp"
#include "lobby/room_snapshot.hpp"
#include "modes/mystery/casebook_store.hpp"
#include "store/batched_store.hpp"
#include "store/health.hpp"
#include "store/memory/memory_backend.hpp"
#include "store/postgres/pg_backend.hpp"
#include "store/postgres/pg_test_cluster.hpp"
#include "store/reply.hpp"
#include "store/sqlite/sqlite_backend.hpp"
#include "store/test_temp_dir.hpp"
#include "store/worker.hpp"
#include "traces/trace_store.hpp"
#include "util/error.hpp"

namespace maratang::store::testing {

// One implementation's ports over one fresh, migrated, empty database. It owns whatever that
// takes (for the batched store: backend -> worker -> batched_store; a temporary directory).
class store_set {
 public:
  virtual ~store_set() = default;

  virtual core::account_store& accounts() = 0;
  virtual core::audit_log& audit() = 0;
  virtual lobby::game_store& games() = 0;
  virtual lobby::action_log& log() = 0;
  virtual traces::trace_store& traces() = 0;
  virtual mystery::casebook_store& casebooks() = 0;
  virtual lobby::room_snapshot_store& snapshots() = 0;
  virtual competition::competition_store& competition() = 0;
  virtual store::health& health() = 0;

  // Returns once every fire-and-forget write made before the call (insert_game, append_log) has
  // committed or been dropped as a duplicate: the ports have no completion for those.
  virtual void flush() = 0;
};

// The batched store over one backend; `keep` holds what the backend needs to outlive it (e.g.
// the temporary directory of its database file).
class batched_store_set final : public store_set {
 public:
  explicit batched_store_set(std::unique_ptr<backend> b, std::shared_ptr<void> keep = {},
                             worker_options opts = {})
      : keep_(std::move(keep)), worker_(std::move(b), opts), store_(worker_) {}

  core::account_store& accounts() override { return store_; }
  core::audit_log& audit() override { return store_; }
  lobby::game_store& games() override { return store_; }
  lobby::action_log& log() override { return store_; }
  traces::trace_store& traces() override { return store_; }
  mystery::casebook_store& casebooks() override { return store_; }
  lobby::room_snapshot_store& snapshots() override { return store_; }
  competition::competition_store& competition() override { return store_; }
  store::health& health() override { return store_; }
  void flush() override { worker_.flush(); }

  store::worker& the_worker() { return worker_; }
  store::batched_store& the_store() { return store_; }

 private:
  // Destroyed in reverse: the store, then the worker (which drains and closes the backend),
  // then what the backend needed.
  std::shared_ptr<void> keep_;
  store::worker worker_;
  store::batched_store store_;
};

// An implementation of the ports, as the suites see it.
struct implementation {
  // Names the tests (".../memory") and is what health::backend_name() answers.
  std::string name;
  // Optional: starts what every test of one suite shares (e.g. a database server). Called on the
  // first test of a suite that uses this implementation; what it returns is dropped after the
  // suite's last test (port_contract::TearDownTestSuite).
  std::function<std::shared_ptr<void>()> start_suite;
  // Makes a fresh, migrated, empty store set. `suite` is what start_suite returned (null
  // without one).
  std::function<std::unique_ptr<store_set>(const std::shared_ptr<void>& suite)> make;
};

inline void PrintTo(const implementation& impl, std::ostream* os) {
  *os << impl.name;
}

inline std::string implementation_name(const ::testing::TestParamInfo<implementation>& info) {
  return info.param.name;
}

// Every implementation the suites run against.
inline std::vector<implementation> implementations() {
  std::vector<implementation> out;

  // The reference: the batched store over the in-memory backend.
  out.push_back({"memory", {}, [](const std::shared_ptr<void>&) -> std::unique_ptr<store_set> {
                   auto b = std::make_unique<memory_backend>();
                   b->migrate();
                   return std::make_unique<batched_store_set>(std::move(b));
                 }});

  // The batched store over SQLite, one database file in a fresh temporary directory per test.
  // (full_sync off: durability across power loss is not what these suites check.)
  out.push_back({"sqlite", {}, [](const std::shared_ptr<void>&) -> std::unique_ptr<store_set> {
                   auto dir = std::make_shared<temp_dir>();
                   auto b = sqlite_backend::open(dir->file("store.db"), {.full_sync = false});
                   b->migrate();
                   return std::make_unique<batched_store_set>(std::move(b), dir);
                 }});

  // The batched store over PostgreSQL: one server for the whole test run (shared_test_url: the
  // ctest fixture's, or one this process starts), a fresh schema per test.
  out.push_back({"postgres", {}, [](const std::shared_ptr<void>&) -> std::unique_ptr<store_set> {
                   pg_options o;
                   o.schema = fresh_schema_name();
                   auto b = pg_backend::open(shared_test_url(MARATANG_SOURCE_DIR), o);
                   b->migrate();
                   return std::make_unique<batched_store_set>(std::move(b));
                 }});

  return out;
}

// How long one storage call may take before the test fails (generous: two cores shared with
// other builds, and fsyncs).
inline constexpr std::chrono::seconds call_timeout{20};

// Set when a completion never came: the store set may be stuck, so the fixture leaves it alive
// (leaks it) rather than hang in its destructor.
inline std::atomic<bool>& store_abandoned() {
  static std::atomic<bool> flag{false};
  return flag;
}

// Starts an operation through `start` (which hands the given completion to a port) and waits
// for its completion, for at most call_timeout. Checks the completion contract on the way
// (store/reply.hpp): called exactly once, and a value never on the caller's thread (only a
// refusal, unavailable, may come before the call returns).
template <class T>
result<T> wait(const std::function<void(reply<T>)>& start) {
  struct state {
    std::promise<result<T>> promise;
    std::atomic<int> calls{0};
    std::thread::id caller = std::this_thread::get_id();
    std::atomic<bool> value_on_caller{false};
  };
  auto st = std::make_shared<state>();
  auto future = st->promise.get_future();
  start([st](result<T> r) {
    if (st->calls.fetch_add(1) > 0) {
      ADD_FAILURE() << "a completion was called more than once";
      return;
    }
    if (r.has_value() && std::this_thread::get_id() == st->caller) st->value_on_caller = true;
    st->promise.set_value(std::move(r));
  });
  if (future.wait_for(call_timeout) != std::future_status::ready) {
    store_abandoned() = true;
    ADD_FAILURE() << "no completion within " << call_timeout.count() << " s";
    return error{errc::internal, "no completion (timed out)"};
  }
  EXPECT_FALSE(st->value_on_caller.load())
      << "a value was delivered on the caller's thread (it must come from the store's thread)";
  return future.get();
}

namespace detail {

template <class Method>
struct port_method;
template <class Port, class... Args>
struct port_method<void (Port::*)(Args...)> {
  using completion = std::tuple_element_t<sizeof...(Args) - 1, std::tuple<Args...>>;
};

template <class Completion>
struct reply_value;
template <class T>
struct reply_value<reply<T>> {
  using type = T;
};

}  // namespace detail

// The T of a port method's last parameter, store::reply<T>.
template <class Method>
using reply_value_t =
    typename detail::reply_value<typename detail::port_method<Method>::completion>::type;

// Calls a port method with `args` and its completion, and waits: the result.
//   auto r = call_result(accounts(), &core::account_store::find_account, 7);
template <class Port, class Method, class... Args>
result<reply_value_t<Method>> call_result(Port& port, Method method, Args&&... args) {
  using T = reply_value_t<Method>;
  return wait<T>(
      [&](reply<T> done) { (port.*method)(std::forward<Args>(args)..., std::move(done)); });
}

// The same, for calls that must succeed: the value. An error (unavailable, a timeout) throws,
// which fails the test with its message.
template <class Port, class Method, class... Args>
reply_value_t<Method> call(Port& port, Method method, Args&&... args) {
  auto r = call_result(port, method, std::forward<Args>(args)...);
  if (!r) {
    throw std::runtime_error("storage answered " + std::string(to_string(r.error().code)) + ": " +
                             r.error().message);
  }
  return std::move(*r);
}

// The fixture: a fresh store set of the implementation under test for every test.
class port_contract : public ::testing::TestWithParam<implementation> {
 protected:
  void SetUp() override {
    const implementation& impl = GetParam();
    std::shared_ptr<void>& suite = suite_states()[impl.name];
    if (!suite && impl.start_suite) suite = impl.start_suite();
    set_ = impl.make(suite);
    ASSERT_NE(set_, nullptr);
  }

  void TearDown() override {
    if (store_abandoned().exchange(false)) {
      (void)set_.release();  // stuck: leak it rather than hang the whole run
    }
    set_.reset();
  }

  static void TearDownTestSuite() { suite_states().clear(); }

  store_set& ports() { return *set_; }
  core::account_store& accounts() { return set_->accounts(); }
  core::audit_log& audit() { return set_->audit(); }
  lobby::game_store& games() { return set_->games(); }
  lobby::action_log& log() { return set_->log(); }
  traces::trace_store& traces() { return set_->traces(); }
  mystery::casebook_store& casebooks() { return set_->casebooks(); }
  lobby::room_snapshot_store& snapshots() { return set_->snapshots(); }
  competition::competition_store& competition() { return set_->competition(); }
  store::health& health() { return set_->health(); }
  void flush() { set_->flush(); }

 private:
  // What start_suite made, by implementation name, for the suite running now.
  static std::map<std::string, std::shared_ptr<void>>& suite_states() {
    static std::map<std::string, std::shared_ptr<void>> states;
    return states;
  }

  std::unique_ptr<store_set> set_;
};

}  // namespace maratang::store::testing
