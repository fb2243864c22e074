// `maratang sink` end to end on loopback: librdkafka's mock cluster, the shared test PostgreSQL
// (ctest fixture `pg`) and a temporary folder. Every event becomes exactly one row and one line,
// and stays so across a crash between the writes and the offset commit.
#include "sink/sink.hpp"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <chrono>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "events/kafka/kafka_stream.hpp"
#include "events/kafka/mock_cluster.hpp"
#include "events/topics.hpp"
#include "sink/jsonl_store.hpp"
#include "store/postgres/pg_test_cluster.hpp"
#include "store/test_temp_dir.hpp"

namespace maratang::sink {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using events::testing::eventually;

constexpr std::int64_t kBaseMs = 1'767'225'600'000;  // 2026-01-01T00:00:00Z

struct line_info {
  fs::path file;
  events::event ev;
};

class SinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mc_.create_topic("actions", 2);
    mc_.create_topic("games", 1);
    url_ = store::testing::shared_test_url(MARATANG_SOURCE_DIR);
    schema_ = store::testing::fresh_schema_name();
    group_ = "sink-" + schema_;
  }

  // Publishes `n` action events over 4 games, spread over two hours of event time, 5 game
  // records and one message that is not an envelope; returns how many good events.
  std::size_t publish_events(int n) {
    events::kafka_options o;
    o.brokers = mc_.bootstraps();
    o.extra = events::testing::fast_client_props();
    auto ks = events::kafka_stream::open(o);
    EXPECT_TRUE(ks);
    auto& k = **ks;
    for (int i = 0; i < n; ++i) {
      store::log_entry e{
          "g" + std::to_string(i % 4),        i / 4, kBaseMs + std::int64_t{i} * 60'000, "vote", 1,
          "{\"n\":" + std::to_string(i) + "}"};
      EXPECT_TRUE(k.publish(events::action_event(e)));
    }
    for (int g = 0; g < 5; ++g)
      EXPECT_TRUE(k.publish(events::game_event(game("g" + std::to_string(g)))));
    EXPECT_TRUE(k.publish(events::event{"games", "x", "bad/1", kBaseMs, "{not json"}));
    const auto total = static_cast<std::uint64_t>(n + 5 + 1);
    EXPECT_TRUE(eventually([&] { return k.stats().delivered == total; }, 30s));
    k.stop(1000);
    return static_cast<std::size_t>(n + 5);
  }

  static store::game_record game(const std::string& id) {
    store::game_record rec;
    rec.id = id;
    rec.mode = "mafia";
    rec.ended_ms = kBaseMs + 1000;
    return rec;
  }

  void publish_one(events::event e) {
    events::kafka_options o;
    o.brokers = mc_.bootstraps();
    o.extra = events::testing::fast_client_props();
    auto ks = events::kafka_stream::open(o);
    ASSERT_TRUE(ks);
    ASSERT_TRUE((*ks)->publish(std::move(e)));
    ASSERT_TRUE(eventually([&] { return (*ks)->stats().delivered == 1; }, 30s));
  }

  sink_options options(sink_options::crash_point crash = sink_options::crash_point::none) {
    sink_options o;
    o.brokers = mc_.bootstraps();
    o.group_id = group_;
    o.topics = {"actions", "games"};
    o.database_url = url_;
    o.pg_schema = schema_;
    o.dir = dir_.path().string();
    o.batch_max = 40;
    o.batch_ms = 200;
    o.extra = events::testing::fast_client_props();
    o.extra.emplace_back("session.timeout.ms", "6000");
    o.crash = crash;
    return o;
  }

  std::unique_ptr<sink> open(sink_options o) {
    auto s = sink::open(std::move(o));
    EXPECT_TRUE(s) << s.error().message;
    return s ? std::move(*s) : nullptr;
  }

  // Steps until `done` holds (or fails the test after 30 s).
  void step_until(sink& s, const std::function<bool()>& done) {
    ASSERT_TRUE(eventually(
        [&] {
          (void)s.step();
          return done();
        },
        30s))
        << "rows " << count_rows().first << ", lines " << read_lines().size();
  }

  // {rows, distinct (topic, event_id)} in sink_events.
  std::pair<long, long> count_rows() {
    PGconn* c = PQconnectdb(url_.c_str());
    const std::string sql =
        "SELECT count(*), count(DISTINCT (topic, event_id)) FROM \"" + schema_ + "\".sink_events";
    PGresult* r = PQexec(c, sql.c_str());
    std::pair<long, long> out{-1, -1};
    if (PQresultStatus(r) == PGRES_TUPLES_OK)
      out = {std::atol(PQgetvalue(r, 0, 0)), std::atol(PQgetvalue(r, 0, 1))};
    PQclear(r);
    PQfinish(c);
    return out;
  }

  std::vector<line_info> read_lines() {
    std::vector<line_info> out;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir_.path(), ec); !ec && it != fs::end(it);
         it.increment(ec)) {
      if (!it->is_regular_file() || it->path().extension() != ".jsonl") continue;
      std::ifstream in(it->path());
      std::string line;
      while (std::getline(in, line)) {
        auto e = events::decode_envelope(line);
        EXPECT_TRUE(e) << it->path() << ": " << line;
        if (e) out.push_back({it->path(), *e});
      }
    }
    return out;
  }

  void expect_each_event_once(std::size_t want) {
    auto rows = count_rows();
    EXPECT_EQ(rows.first, static_cast<long>(want));
    EXPECT_EQ(rows.second, static_cast<long>(want));
    auto lines = read_lines();
    EXPECT_EQ(lines.size(), want);
    std::set<std::string> ids;
    for (const auto& l : lines)
      ids.insert(l.ev.topic + " " + l.ev.id);
    EXPECT_EQ(ids.size(), want) << "a line is doubled";
  }

  events::testing::mock_cluster mc_;
  store::testing::temp_dir dir_;
  std::string url_, schema_, group_;
};

TEST_F(SinkTest, EveryEventBecomesOneRowAndOneLineInItsHourlyObject) {
  const auto want = publish_events(120);
  auto s = open(options());
  ASSERT_TRUE(s);
  step_until(*s, [&] { return s->stats().bad == 1 && count_rows().first == long(want); });
  expect_each_event_once(want);
  EXPECT_EQ(s->stats().rows, want);
  EXPECT_EQ(s->stats().lines, want);
  // Laid out as <topic>/dt=YYYY-MM-DD/hour=HH/part-<partition>-<first>-<last>.jsonl, each line
  // in the hour of its event time: 120 minutes of actions make two hours.
  const std::regex layout(
      R"((actions|games)/dt=2026-01-01/hour=0[01]/part-\d{5}-\d{20}-\d{20}\.jsonl)");
  std::set<std::string> hours;
  for (const auto& l : read_lines()) {
    const auto rel = fs::relative(l.file, dir_.path()).string();
    EXPECT_TRUE(std::regex_match(rel, layout)) << rel;
    const auto hour = (l.ev.ts_ms - kBaseMs) / 3'600'000;
    EXPECT_NE(rel.find("hour=0" + std::to_string(hour)), std::string::npos) << rel;
    hours.insert(rel.substr(0, rel.find("/part-")));
  }
  EXPECT_EQ(hours.size(), 3u);  // actions hour 00 and 01, games hour 00
  // The offsets were committed: the group's next member reads only what came after them.
  s.reset();
  auto again = open(options());
  ASSERT_TRUE(again);
  publish_one(events::game_event(game("late")));
  step_until(*again, [&] { return again->stats().consumed >= 1; });
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(again->step());
  EXPECT_EQ(again->stats().consumed, 1u);
  expect_each_event_once(want + 1);
}

TEST_F(SinkTest, ACrashAfterTheFilesAndAPartialObjectLeaveNoDuplicateOnRestart) {
  const auto want = publish_events(120);
  {
    auto s = open(options(sink_options::crash_point::after_files));
    ASSERT_TRUE(s);
    // Steps until a batch has been written to files and the "crash" came before PostgreSQL.
    ASSERT_TRUE(eventually([&] { return !s->step(); }, 30s))
        << "consumed " << s->stats().consumed << ", failures " << s->stats().failures;
    EXPECT_GT(s->stats().lines, 0u);
    EXPECT_EQ(count_rows().first, 0);
  }
  // A crash in the middle of writing an object leaves its temporary file, half a line.
  const auto partial = jsonl_store::object_path(dir_.path(), "actions", kBaseMs, 1, 0, 99);
  fs::create_directories(partial.parent_path());
  std::ofstream(partial.string() + ".tmp") << R"({"v":1,"id":"g1/0","to)";
  auto s = open(options());
  ASSERT_TRUE(s);
  step_until(*s, [&] { return count_rows().first == long(want); });
  expect_each_event_once(want);
  EXPECT_FALSE(fs::exists(partial.string() + ".tmp"));
}

TEST_F(SinkTest, ACrashAfterTheRowsBeforeTheCommitReplaysWithoutDuplicates) {
  const auto want = publish_events(120);
  std::uint64_t first_rows = 0;
  {
    auto o = options(sink_options::crash_point::after_rows);
    if (std::getenv("SINK_DEBUG")) o.extra.emplace_back("debug", "cgrp,consumer,fetch");
    auto s = open(std::move(o));
    ASSERT_TRUE(s);
    ASSERT_TRUE(eventually([&] { return !s->step(); }, 30s))
        << "consumed " << s->stats().consumed << ", failures " << s->stats().failures;
    first_rows = s->stats().rows;
    EXPECT_GT(first_rows, 0u);
    EXPECT_EQ(s->stats().lines, first_rows);
  }
  // Nothing was committed: the restarted sink reads everything again, and adds only what is new.
  auto s = open(options());
  ASSERT_TRUE(s);
  step_until(*s, [&] { return count_rows().first == long(want) && s->stats().bad == 1; });
  EXPECT_GE(s->stats().consumed, want + 1);  // it did read the first batch again
  EXPECT_EQ(s->stats().rows, want - first_rows);
  EXPECT_EQ(s->stats().lines, want - first_rows);
  expect_each_event_once(want);
}

TEST_F(SinkTest, APostgreSQLOutageCommitsNothingAndTheKeptBatchIsWrittenWhenItReturns) {
  // A server of this test's own, to crash.
  store::testing::pg_test_cluster pg{MARATANG_SOURCE_DIR};
  url_ = pg.url();
  const auto want = publish_events(60);
  auto s = open(options());
  ASSERT_TRUE(s);
  pg.kill();
  // The first batch is taken and written to files; PostgreSQL refuses; nothing is committed.
  ASSERT_TRUE(eventually([&] { return !s->step(); }, 30s)) << "consumed " << s->stats().consumed;
  EXPECT_GE(s->stats().failures, 1u);
  EXPECT_EQ(s->stats().rows, 0u);
  EXPECT_EQ(s->stats().batches, 0u);
  const auto taken = s->stats().consumed;
  EXPECT_FALSE(s->step());  // still down: the same batch fails again, nothing new is taken
  EXPECT_EQ(s->stats().consumed, taken);
  pg.up();
  step_until(*s, [&] { return count_rows().first == long(want) && s->stats().bad == 1; });
  // The kept batch was written, not read again: every message was taken from Kafka once.
  EXPECT_EQ(s->stats().consumed, want + 1);
  expect_each_event_once(want);
}

TEST_F(SinkTest, MissingSettingsAreClearErrors) {
  auto o = options();
  o.brokers.clear();
  auto r = sink::open(o);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("KAFKA_BROKERS"), std::string::npos);
  o = options();
  o.database_url = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2";
  r = sink::open(o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::unavailable);
}

}  // namespace
}  // namespace maratang::sink
