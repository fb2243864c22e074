// Who may read stored games (api/game_access.hpp): a token for every read, a private room's
// record and casebook for its players only (404 to anyone else, as for a game that does not
// exist), an account's list shows others only its public-room games.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <set>

#include "harness.hpp"

namespace maratang::it {
namespace {

// Plays one test.counter game in a new room (private or public) with the given seats; the first
// is the leader. Returns the game id.
std::string play_game(std::vector<seat*> who, bool is_private) {
  auto snap =
      snapshot_of_reply(who[0]->ws->call("room.create", {{"mode", "test.counter"},
                                                         {"name", is_private ? "Hidden" : "Open"},
                                                         {"private", is_private}}));
  for (std::size_t i = 1; i < who.size(); ++i) {
    if (is_private) {
      who[i]->ws->call("room.join", {{"invite_code", at(snap, "invite_code")}});
    } else {
      who[i]->ws->call("room.join", {{"room_id", at(snap, "id")}});
    }
    who[i]->ws->call("room.ready", {{"ready", true}});
  }
  auto game = str(at(who[0]->ws->call("room.start"), "game_id"));
  who[0]->ws->call("test.counter.add", {{"n", 3}});
  who[0]->ws->call("test.counter.finish");
  for (auto* s : who)
    s->ws->expect("room.game_ended");
  for (auto* s : who)
    s->ws->call("room.leave");
  return game;
}

std::set<std::string> listed(const http_result& r) {
  std::set<std::string> ids;
  auto v = r.json();
  for (const auto& g : at(v, "games").as_array())
    ids.insert(str(at(g, "id")));
  return ids;
}

class privacy_test : public ::testing::Test {
 protected:
  int port() const { return srv_.port(); }
  http_result get(const std::string& path, const std::string& token) {
    return http_call(port(), "GET", path, {}, bearer(token));
  }
  server_process srv_;
};

TEST_F(privacy_test, reading_games_needs_a_token) {
  auto p = make_player(port(), "Reader");
  for (const std::string path :
       {"/v1/games/g1", "/v1/games/1", "/v1/accounts/1/games", "/v1/accounts/1/games?limit=5",
        "/v1/games/g1/casebook", "/v1/games/g1/casebook.md", "/v1/games/g1/casebook.html"}) {
    auto r = http_call(port(), "GET", path);
    EXPECT_EQ(r.status, 401) << path << ": " << r.body;
    EXPECT_EQ(r.error_code(), "unauthorized") << path << ": " << r.body;
    r = http_call(port(), "GET", path, {}, bearer("not-a-token"));
    EXPECT_EQ(r.status, 401) << path << ": " << r.body;
    // With a token: the read happens (nothing is stored under these ids).
    r = get(path, p.token);
    EXPECT_NE(r.status, 401) << path << ": " << r.body;
  }
}

TEST_F(privacy_test, a_private_rooms_games_are_for_its_players_only) {
  auto seats = seat_players(port(), {"Ann", "Ben", "Out"});
  auto& ann = seats[0];
  auto& ben = seats[1];
  auto& out = seats[2];
  const auto hidden = play_game({&ann, &ben}, true);
  const auto open = play_game({&ann, &ben}, false);

  // The players read the private game; the outsider gets what a missing game gets.
  for (auto* s : {&ann, &ben}) {
    auto r = get("/v1/games/" + hidden, s->acc.token);
    ASSERT_EQ(r.status, 200) << s->acc.nickname << ": " << r.body;
    EXPECT_EQ(str(at(r.json(), "id")), hidden);
  }
  auto missing = get("/v1/games/no-such-game", out.acc.token);
  ASSERT_EQ(missing.status, 404);
  auto denied = get("/v1/games/" + hidden, out.acc.token);
  EXPECT_EQ(denied.status, 404) << denied.body;
  EXPECT_EQ(denied.error_code(), "not_found") << denied.body;
  EXPECT_EQ(denied.body, missing.body) << "a private game's existence must not show";
  EXPECT_EQ(denied.body.find(hidden), std::string::npos);
  // Its casebook paths too (this mode writes none: players hear "no casebook", others "no game").
  for (const char* tail : {"/casebook", "/casebook.md", "/casebook.html"}) {
    auto r = get("/v1/games/" + hidden + tail, out.acc.token);
    auto m = get(std::string("/v1/games/no-such-game") + tail, out.acc.token);
    EXPECT_EQ(r.status, 404) << tail;
    EXPECT_EQ(r.body, m.body) << tail;
    EXPECT_EQ(get("/v1/games/" + hidden + tail, ann.acc.token).status, 404) << tail;
  }

  // A public room's game: any signed-in account.
  for (auto* s : {&ann, &ben, &out}) {
    auto r = get("/v1/games/" + open, s->acc.token);
    EXPECT_EQ(r.status, 200) << s->acc.nickname << ": " << r.body;
  }

  // Lists: an account sees all its games; others see only its public ones.
  const auto ann_games = "/v1/accounts/" + std::to_string(ann.acc.id) + "/games";
  const auto ben_games = "/v1/accounts/" + std::to_string(ben.acc.id) + "/games";
  auto r = get(ann_games, ann.acc.token);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(listed(r), (std::set<std::string>{hidden, open})) << r.body;
  r = get(ben_games, ben.acc.token);
  EXPECT_EQ(listed(r), (std::set<std::string>{hidden, open})) << r.body;
  r = get(ann_games, out.acc.token);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(listed(r), (std::set<std::string>{open})) << r.body;
  // Even a fellow player of the private game sees only the public games in another's list (the
  // private one is in their own list).
  r = get(ann_games, ben.acc.token);
  EXPECT_EQ(listed(r), (std::set<std::string>{open})) << r.body;
  // Paging applies after the filter: limit=1 for the outsider still finds the public game.
  r = get(ann_games + "?limit=1", out.acc.token);
  EXPECT_EQ(listed(r), (std::set<std::string>{open})) << r.body;
  EXPECT_TRUE(
      listed(get("/v1/accounts/" + std::to_string(out.acc.id) + "/games", ann.acc.token)).empty());
}

}  // namespace
}  // namespace maratang::it
