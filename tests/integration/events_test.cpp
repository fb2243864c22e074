// The event stream from the real binary: with KAFKA_BROKERS pointing at librdkafka's mock cluster
// (in this process, on loopback), a played game's action-log entries, its record and the players'
// account events reach their topics, keyed by game (in order) and account, and /metrics counts the
// deliveries. Without Kafka, account events land in the embedded store's outbox table.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "events/kafka/mock_cluster.hpp"
#include "events/topics.hpp"
#include "harness.hpp"
#include "store/sqlite/sqlite_backend.hpp"

namespace maratang::it {
namespace {

// Plays one test.counter game to its end; returns its game id.
std::string play_one_game(std::vector<seat>& seats) {
  auto snap = snapshot_of_reply(
      seats[0].ws->call("room.create", {{"mode", "test.counter"}, {"name", "Events"}}));
  seats[1].ws->call("room.join", {{"room_id", at(snap, "id")}});
  seats[1].ws->call("room.ready", {{"ready", true}});
  seats[0].ws->call("room.start");
  seats[0].ws->call("test.counter.add", {{"n", 2}});
  seats[1].ws->call("test.counter.add", {{"n", 1}});
  seats[0].ws->call("test.counter.add", {{"n", 3}});
  seats[0].ws->call("test.counter.finish");
  auto ended = seats[1].ws->expect("room.game_ended");
  return str(at(ended, "data.game_id"));
}

TEST(events, a_played_game_reaches_kafka_keyed_and_in_order) {
  events::testing::mock_cluster mc;
  for (const char* t : {"actions", "games", "accounts", "traces"})
    mc.create_topic(t, 2);
  server_process srv({"events.kafka_brokers=" + mc.bootstraps(), "events.linger_ms=1"});
  auto seats = seat_players(srv.port(), {"Kay", "Lou"});
  const auto game_id = play_one_game(seats);

  // Every event produced is delivered, none dropped or failed.
  double produced = -1;
  ASSERT_TRUE(events::testing::eventually(
      [&] {
        produced = metric_value(srv.port(), "maratang_events_kafka_produced_total");
        return produced > 0 &&
               metric_value(srv.port(), "maratang_events_kafka_delivered_total") == produced;
      },
      10s))
      << http_call(srv.port(), "GET", "/metrics").body;
  EXPECT_EQ(metric_value(srv.port(), "maratang_events_kafka_dropped_total"), 0);
  EXPECT_EQ(metric_value(srv.port(), "maratang_events_kafka_failed_total"), 0);

  auto games = events::testing::read_topic(mc.bootstraps(), "games", 2, 1, 5s);
  ASSERT_EQ(games.size(), 1u);
  EXPECT_EQ(games[0].key, game_id);
  auto g = events::decode_envelope(games[0].value);
  ASSERT_TRUE(g) << games[0].value;
  EXPECT_EQ(g->id, "game/" + game_id);
  EXPECT_EQ(num(at(json::parse(g->data_json), "players").as_array().at(0)), seats[0].acc.id);

  // The game's action log: one partition, in seq order, every add there.
  auto actions = events::testing::read_topic(mc.bootstraps(), "actions", 2, 1000, 3s);
  std::vector<std::int64_t> seqs;
  std::set<std::int32_t> partitions;
  int adds = 0;
  for (const auto& m : actions) {
    if (m.key != game_id) continue;
    auto e = events::decode_envelope(m.value);
    ASSERT_TRUE(e) << m.value;
    auto d = json::parse(e->data_json);
    seqs.push_back(num(at(d, "seq")));
    partitions.insert(m.partition);
    if (str(at(d, "kind")) == "add") ++adds;
  }
  EXPECT_EQ(adds, 3);
  EXPECT_EQ(partitions.size(), 1u);
  ASSERT_FALSE(seqs.empty());
  for (std::size_t i = 1; i < seqs.size(); ++i)
    EXPECT_LT(seqs[i - 1], seqs[i]);

  // Two accounts made and named: two "created" and two "nickname_set".
  auto accounts = events::testing::read_topic(mc.bootstraps(), "accounts", 2, 4, 5s);
  std::map<std::string, int> kinds;
  for (const auto& m : accounts)
    kinds[str(at(json::parse(events::decode_envelope(m.value)->data_json), "event"))]++;
  EXPECT_EQ(kinds["created"], 2);
  EXPECT_EQ(kinds["nickname_set"], 2);
  EXPECT_EQ(srv.stop().code, 0);
}

TEST(events, without_kafka_account_events_go_to_the_outbox_and_actions_only_to_their_table) {
  temp_dir dir;
  std::string game_id;
  {
    server_process srv({}, dir.path());
    auto seats = seat_players(srv.port(), {"Max", "Ned"});
    game_id = play_one_game(seats);
    EXPECT_EQ(srv.stop().code, 0);
  }
  auto db = store::sqlite_backend::open((dir.path() / "maratang.db").string());
  auto rows = db->read_events(0, 100);
  std::map<std::string, int> topics;
  for (const auto& r : rows)
    topics[r.topic]++;
  EXPECT_EQ(topics["accounts"], 4) << "two created, two nickname_set";
  EXPECT_EQ(topics.size(), 1u) << "only accounts: the action log and games have their tables";
  EXPECT_GE(db->read_log(game_id, 0, 100).size(), 3u);
  ASSERT_TRUE(db->find_game(game_id).has_value());
}

}  // namespace
}  // namespace maratang::it
