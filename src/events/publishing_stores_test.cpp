// The publishing decorators and the embedded (no-Kafka) path: writes go through to the store
// unchanged and each accepted write publishes its event; without Kafka, account events land in
// the store's `events` outbox and the action log is not written there a second time.
#include "events/publishing_stores.hpp"

#include <gtest/gtest.h>

#include <future>
#include <mutex>

#include "events/outbox_stream.hpp"
#include "events/topics.hpp"
#include "store/batched_store.hpp"
#include "store/memory/memory_backend.hpp"
#include "store/port_contract.hpp"
#include "store/worker.hpp"

namespace maratang::events {
namespace {

using store::testing::call;

class recording_stream final : public event_stream {
 public:
  bool publish(event e) override {
    std::lock_guard lk(mu_);
    got_.push_back(std::move(e));
    return true;
  }
  std::vector<event> got() const {
    std::lock_guard lk(mu_);
    return got_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<event> got_;
};

struct PublishingStores : ::testing::Test {
  store::worker w{std::make_unique<store::memory_backend>()};
  store::batched_store ports{w};
  manual_clock clk;

  // Every event in the outbox, read through the worker.
  std::vector<store::event_record> outbox_rows() {
    std::promise<std::vector<store::event_record>> p;
    auto box = std::make_shared<std::vector<store::event_record>>();
    w.submit([box](store::backend& b) { *box = b.read_events(0, 1000); },
             [&p, box](bool) { p.set_value(*box); });
    return p.get_future().get();
  }
};

TEST_F(PublishingStores, ActionLogWritesThroughAndPublishesEachEntry) {
  recording_stream out;
  publishing_action_log log(ports, out);
  log.append_log({"g1", 1, 10, "vote", 3, R"({"t":1})"});
  log.append_log({"g1", 2, 11, "chat", 4, R"({"text":"hi"})"});
  auto stored = call(log, &lobby::action_log::read_log, std::string("g1"), 0, 10);
  ASSERT_EQ(stored.size(), 2u);
  auto got = out.got();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].id, "g1/1");
  EXPECT_EQ(got[1].id, "g1/2");
  EXPECT_EQ(got[1].key, "g1");
}

TEST_F(PublishingStores, GameRecordWritesThroughAndPublishes) {
  recording_stream out;
  publishing_game_store games(ports, out);
  store::game_record g;
  g.id = "g9";
  g.mode = "mafia";
  g.ended_ms = 5;
  g.players = {1};
  games.insert_game(g);
  auto found = call(games, &lobby::game_store::find_game, std::string("g9"));
  ASSERT_TRUE(found.has_value());
  ASSERT_EQ(out.got().size(), 1u);
  EXPECT_EQ(out.got()[0].topic, "games");
}

TEST_F(PublishingStores, TracesArePublishedWithTheirIdsOnlyWhenStored) {
  recording_stream out;
  publishing_trace_store traces(ports, out);
  store::trace_record t;
  t.area = "a1";
  t.payload_json = R"({"o_type":1})";
  auto stored = call(traces, &traces::trace_store::insert_traces, std::vector{t, t});
  ASSERT_EQ(stored.size(), 2u);
  auto got = out.got();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].id, "trace/" + std::to_string(stored[0].id));
  EXPECT_EQ(got[1].id, "trace/" + std::to_string(stored[1].id));
  EXPECT_EQ(got[0].key, "a1");
  // A refused write publishes nothing.
  w.stop();
  auto refused =
      store::testing::call_result(traces, &traces::trace_store::insert_traces, std::vector{t});
  EXPECT_FALSE(refused);
  EXPECT_EQ(out.got().size(), 2u);
}

TEST_F(PublishingStores, AccountEventsOnCreateAndRenameButNotOnConflicts) {
  recording_stream out;
  publishing_account_store accounts(ports, out, clk);
  store::account a;
  a.device_id = "dev-1";
  a.created_ms = 77;
  auto made = call(accounts, &core::account_store::create_account, a);
  ASSERT_TRUE(made.has_value());
  auto dup = call(accounts, &core::account_store::create_account, a);  // device taken
  EXPECT_FALSE(dup.has_value());
  EXPECT_EQ(call(accounts, &core::account_store::set_nickname, made->id, std::string("Bo"),
                 std::string("bo")),
            store::status::ok);
  EXPECT_EQ(call(accounts, &core::account_store::set_nickname, made->id + 100, std::string("X"),
                 std::string("x")),
            store::status::not_found);
  auto got = out.got();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].id, "account/" + std::to_string(made->id) + "/created");
  EXPECT_EQ(got[1].topic, "accounts");
  EXPECT_EQ(got[1].ts_ms, clk.now_ms());
}

// The embedded path as the server wires it without Kafka: account events in the outbox (the
// accounts table keeps no history), the action log in its own table only.
TEST_F(PublishingStores, WithoutKafkaAccountEventsGoToTheOutboxAndTheLogIsNotWrittenTwice) {
  outbox_stream stream(ports);
  publishing_account_store accounts(ports, stream, clk);
  store::account a;
  a.device_id = "dev-2";
  auto made = call(accounts, &core::account_store::create_account, a);
  ASSERT_TRUE(made.has_value());
  ports.append_log({"g1", 1, 10, "vote", 3, "{}"});
  auto log = call(ports, &lobby::action_log::read_log, std::string("g1"), 0, 10);
  ASSERT_EQ(log.size(), 1u);
  auto rows = outbox_rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].topic, "accounts");
  EXPECT_EQ(rows[0].key, std::to_string(made->id));
  auto env = decode_envelope(rows[0].payload_json);
  ASSERT_TRUE(env) << env.error().message;
  EXPECT_EQ(env->id, "account/" + std::to_string(made->id) + "/created");
  EXPECT_EQ(stream.published(), 1u);
  // A store that refuses (stopped) drops the event and counts it.
  w.stop();
  EXPECT_FALSE(stream.publish(move_event({"g", 1, 1, 1, 0, 0})));
  EXPECT_EQ(stream.dropped(), 1u);
}

}  // namespace
}  // namespace maratang::events
