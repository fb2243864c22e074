// Players' statistics over real sockets: three test.counter games in a private room (one won, one
// drawn after a player left, one aborted by the mode), then GET /v1/accounts/{id}/stats as a
// stranger, who may read them although the games themselves are hidden from them.
#include <gtest/gtest.h>

#include <thread>

#include "harness.hpp"

namespace maratang::it {
namespace {

class stats_test : public ::testing::Test {
 protected:
  int port() const { return srv_.port(); }

  // GET /v1/accounts/{id}/stats as `reader`; the whole reply.
  json::object stats(std::int64_t account, const player& reader) {
    auto r = http_call(port(), "GET", "/v1/accounts/" + std::to_string(account) + "/stats", {},
                       bearer(reader.token));
    EXPECT_EQ(r.status, 200) << r.body;
    auto v = r.json();
    EXPECT_EQ(num(at(v, "account_id")), account) << r.body;
    return v.as_object();
  }
  // One mode's entry (the mode name has a dot, so not through at()'s dotted path).
  static json::object mode_of(const json::object& stats, const std::string& mode) {
    const auto& modes = at(stats, "modes").as_object();
    auto it = modes.find(mode);
    if (it == modes.end()) throw std::runtime_error("no " + mode + " in " + json::serialize(stats));
    return it->value().as_object();
  }
  static std::int64_t count(const json::object& mode, const char* tally, const char* key) {
    const auto& t = at(mode, tally).as_object();
    auto it = t.find(key);
    return it == t.end() ? 0 : it->value().as_int64();
  }

  server_process srv_;
};

TEST_F(stats_test, three_games_add_up_per_player_and_anyone_signed_in_reads_them) {
  auto seats = seat_players(port(), {"Ace", "Bea", "Cid"});
  auto stranger = make_player(port(), "Dee");
  const auto t0 = now_ms();
  auto snap = snapshot_of_reply(seats[0].ws->call(
      "room.create", {{"mode", "test.counter"}, {"name", "Stats"}, {"private", true}}));
  for (int i : {1, 2})
    seats[i].ws->call("room.join", {{"invite_code", at(snap, "invite_code")}});

  // Game 1: Ace 5, Bea 3, Cid 1; Ace wins, the others lose.
  for (int i : {1, 2})
    seats[i].ws->call("room.ready", {{"ready", true}});
  seats[0].ws->call("room.start");
  seats[0].ws->call("test.counter.add", {{"n", 5}});
  seats[1].ws->call("test.counter.add", {{"n", 3}});
  seats[2].ws->call("test.counter.add", {{"n", 1}});
  seats[0].ws->call("test.counter.finish");
  seats[1].ws->expect("room.game_ended");

  // Game 2: Cid leaves at once (abandoned); Ace and Bea tie at 4 and draw, 300 ms later.
  for (int i : {1, 2})
    seats[i].ws->call("room.ready", {{"ready", true}});
  seats[0].ws->call("room.start");
  seats[2].ws->call("room.leave");
  seats[0].ws->expect("room.member_left");
  std::this_thread::sleep_for(300ms);
  seats[0].ws->call("test.counter.add", {{"n", 4}});
  seats[1].ws->call("test.counter.add", {{"n", 4}});
  seats[1].ws->call("test.counter.finish");
  seats[0].ws->expect("room.game_ended");

  // Game 3: the mode throws; the game is aborted and both abandon it.
  seats[1].ws->call("room.ready", {{"ready", true}});
  seats[0].ws->call("room.start");
  seats[1].ws->call("test.counter.add", {{"n", 9}});
  EXPECT_EQ(error_code(seats[0].ws->request("test.counter.crash")), "internal");
  seats[1].ws->expect("room.game_ended");
  const auto elapsed = now_ms() - t0;

  // Read by someone who played with none of them: the games are private, the sums are not.
  auto ace = mode_of(stats(seats[0].acc.id, stranger), "test.counter");
  EXPECT_EQ(num(at(ace, "played")), 3) << json::serialize(ace);
  EXPECT_EQ(num(at(ace, "won")), 1);
  EXPECT_EQ(num(at(ace, "lost")), 0);
  EXPECT_EQ(num(at(ace, "drawn")), 1);
  EXPECT_EQ(num(at(ace, "abandoned")), 1);
  EXPECT_EQ(count(ace, "totals", "5"), 1);
  EXPECT_EQ(count(ace, "totals", "4"), 1);
  EXPECT_EQ(at(ace, "totals").as_object().size(), 2u) << "an aborted game is not scored";

  auto bea = mode_of(stats(seats[1].acc.id, stranger), "test.counter");
  EXPECT_EQ(num(at(bea, "played")), 3) << json::serialize(bea);
  EXPECT_EQ(num(at(bea, "won")), 0);
  EXPECT_EQ(num(at(bea, "lost")), 1);
  EXPECT_EQ(num(at(bea, "drawn")), 1);
  EXPECT_EQ(num(at(bea, "abandoned")), 1);
  EXPECT_EQ(count(bea, "totals", "3"), 1);

  auto cid = mode_of(stats(seats[2].acc.id, seats[0].acc), "test.counter");
  EXPECT_EQ(num(at(cid, "played")), 2) << json::serialize(cid);
  EXPECT_EQ(num(at(cid, "lost")), 1);
  EXPECT_EQ(num(at(cid, "abandoned")), 1);
  EXPECT_EQ(num(at(cid, "won")) + num(at(cid, "drawn")), 0);
  EXPECT_EQ(at(cid, "totals").as_object().size(), 1u) << "a player who left is not scored";

  // Time played: every game from start to end, Cid's second only until they left.
  const auto ace_ms = num(at(ace, "time_played_ms"));
  const auto cid_ms = num(at(cid, "time_played_ms"));
  EXPECT_GE(ace_ms - cid_ms, 300) << ace_ms << " vs " << cid_ms;
  EXPECT_GE(cid_ms, 0);
  EXPECT_LE(ace_ms, elapsed);
  EXPECT_EQ(num(at(bea, "time_played_ms")), ace_ms) << "they sat through the same games";

  // The stranger may not list those private games, only count them.
  auto games =
      http_call(port(), "GET", "/v1/accounts/" + std::to_string(seats[0].acc.id) + "/games", {},
                bearer(stranger.token));
  ASSERT_EQ(games.status, 200) << games.body;
  EXPECT_TRUE(at(games.json(), "games").as_array().empty()) << games.body;

  // Someone who never played has no modes; a token is needed.
  EXPECT_TRUE(at(stats(stranger.id, seats[0].acc), "modes").as_object().empty());
  auto anon =
      http_call(port(), "GET", "/v1/accounts/" + std::to_string(seats[0].acc.id) + "/stats");
  EXPECT_EQ(anon.status, 401) << anon.body;
  auto bad = http_call(port(), "GET", "/v1/accounts/x/stats", {}, bearer(stranger.token));
  EXPECT_EQ(bad.status, 404) << bad.body;
}

}  // namespace
}  // namespace maratang::it
