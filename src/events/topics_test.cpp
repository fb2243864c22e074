// The envelope and the payload of each topic: what consumers (the sink, docs/EVENTS.md) rely on.
#include "events/topics.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace maratang::events {
namespace {

namespace json = boost::json;

json::object data_of(const event& e) {
  auto env = json::parse(encode_envelope(e)).as_object();
  EXPECT_EQ(env.at("v").as_int64(), 1);
  EXPECT_EQ(env.at("id").as_string(), e.id);
  EXPECT_EQ(env.at("topic").as_string(), e.topic);
  EXPECT_EQ(env.at("key").as_string(), e.key);
  EXPECT_EQ(env.at("ts_ms").as_int64(), e.ts_ms);
  return env.at("data").as_object();
}

TEST(EventTopics, EveryTopicIncludingArenasIsListed) {
  EXPECT_EQ(all_topics(), (std::vector<std::string>{"actions", "games", "traces", "accounts",
                                                    "logs_move", "logs_attack", "logs_heal"}));
}

TEST(EventTopics, EnvelopeRoundTrips) {
  event e{"games", "g\"1", "game/g\"1", 42, R"({"a":[1,2]})"};
  auto back = decode_envelope(encode_envelope(e));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->topic, e.topic);
  EXPECT_EQ(back->key, e.key);
  EXPECT_EQ(back->id, e.id);
  EXPECT_EQ(back->ts_ms, 42);
  EXPECT_EQ(json::parse(back->data_json), json::parse(e.data_json));
}

TEST(EventTopics, DecodeRefusesWhatIsNotAnEnvelope) {
  for (const char* bad :
       {"", "nope", "[]", R"({"v":2,"id":"a","topic":"t","key":"","ts_ms":1,"data":{}})",
        R"({"v":1,"id":"","topic":"t","key":"","ts_ms":1,"data":{}})",
        R"({"v":1,"id":"a","topic":"t","key":"","ts_ms":"1","data":{}})",
        R"({"v":1,"id":"a","topic":"t","key":"","ts_ms":1,"data":[]})",
        R"({"v":1,"id":"a","topic":"t","ts_ms":1,"data":{}})"}) {
    auto r = decode_envelope(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error().code, errc::bad_field);
    }
  }
}

TEST(EventTopics, ActionEntryIsKeyedByItsStreamAndNamedByStreamAndSeq) {
  store::log_entry le{"game-7", 12, 1000, "vote", 5, R"({"target":3})"};
  auto e = action_event(le);
  EXPECT_EQ(e.topic, "actions");
  EXPECT_EQ(e.key, "game-7");
  EXPECT_EQ(e.id, "game-7/12");
  auto d = data_of(e);
  EXPECT_EQ(d.at("seq").as_int64(), 12);
  EXPECT_EQ(d.at("kind").as_string(), "vote");
  EXPECT_EQ(d.at("actor").as_int64(), 5);
  EXPECT_EQ(d.at("payload").at("target").as_int64(), 3);
  // A payload that is not JSON still makes a valid envelope (as a string).
  le.payload_json = "{oops";
  EXPECT_EQ(data_of(action_event(le)).at("payload").as_string(), "{oops");
}

TEST(EventTopics, GameRecordCarriesPlayersRecordAndOutcomes) {
  store::game_record g;
  g.id = "g1";
  g.mode = "mafia";
  g.room_id = "r1";
  g.started_ms = 10;
  g.ended_ms = 20;
  g.players = {1, 2};
  g.record_json = R"({"winner":"town"})";
  g.outcomes = {{1, store::game_result::won, 10, {{"wins_by_role", "doctor"}}},
                {2, store::game_result::abandoned, 5, {}}};
  auto e = game_event(g);
  EXPECT_EQ(e.topic, "games");
  EXPECT_EQ(e.key, "g1");
  EXPECT_EQ(e.ts_ms, 20);
  auto d = data_of(e);
  EXPECT_EQ(d.at("players").as_array().size(), 2u);
  EXPECT_EQ(d.at("record").at("winner").as_string(), "town");
  EXPECT_EQ(d.at("outcomes").as_array()[0].at("result").as_string(), "won");
  EXPECT_EQ(d.at("outcomes").as_array()[1].at("result").as_string(), "abandoned");
}

TEST(EventTopics, ArenaSamplesHaveTheirSeedTopicsAndGameKey) {
  auto m = move_event({"g2", 7, 100, 3, 1.5, -2});
  EXPECT_EQ(m.topic, "logs_move");
  EXPECT_EQ(m.key, "g2");
  EXPECT_EQ(data_of(m).at("x").as_double(), 1.5);
  auto a = attack_event({"g2", 7, 100, 3, 4, 12, "slash"});
  EXPECT_EQ(a.topic, "logs_attack");
  EXPECT_EQ(data_of(a).at("damage").as_int64(), 12);
  auto h = heal_event({"g2", 8, 100, 3, 3, 5});
  EXPECT_EQ(h.topic, "logs_heal");
  EXPECT_EQ(data_of(h).at("amount").as_int64(), 5);
  EXPECT_NE(a.id, h.id);
}

}  // namespace
}  // namespace maratang::events
