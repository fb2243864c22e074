// Ratings and leaderboards over real sockets and a real database: games of test.counter (rated
// free-for-all, own counts on a score board) are rated once each, also when the server is killed
// in the middle of a game and restores it, and when it restarts afterwards; the boards are read
// back over REST and realtime messages, with their bad input refused by stable codes.
#include <gtest/gtest.h>

#include <csignal>
#include <thread>

#include "harness.hpp"

namespace maratang::it {
namespace {

class competition_test : public ::testing::Test {
 protected:
  static json::object get(int port, const std::string& target, const player& reader) {
    auto r = http_call(port, "GET", target, {}, bearer(reader.token));
    EXPECT_EQ(r.status, 200) << target << ": " << r.body;
    return r.json().as_object();
  }
  // The account's test.counter rating: {model, mu, sigma, display, games, last_played_at}.
  static json::object rating(int port, const player& p) {
    auto v = get(port, "/v1/accounts/" + std::to_string(p.id) + "/ratings", p);
    const auto& rs = at(v, "ratings").as_object();
    auto it = rs.find("test.counter");
    if (it == rs.end()) throw std::runtime_error("no test.counter rating: " + json::serialize(v));
    return it->value().as_object();
  }
  static std::vector<std::int64_t> board_ids(const json::object& page) {
    std::vector<std::int64_t> out;
    for (const auto& e : at(page, "entries").as_array())
      out.push_back(num(at(e, "account_id")));
    return out;
  }
  // Readies the others and starts a game in seats[0]'s room.
  static void start(std::vector<seat>& seats) {
    for (std::size_t i = 1; i < seats.size(); ++i)
      seats[i].ws->call("room.ready", {{"ready", true}});
    seats[0].ws->call("room.start");
  }
};

TEST_F(competition_test, each_game_is_rated_once_across_a_crash_and_a_restart) {
  temp_dir dir;
  const std::vector<std::string> sets{"rooms.snapshot_interval_ms=0",
                                      "rooms.reconnect_grace_ms=60000"};
  std::vector<seat> seats;
  {
    server_process srv(sets, dir.path());
    seats = seat_players(srv.port(), {"Ace", "Bea", "Cid"});
    const auto room = str(at(snapshot_of_reply(seats[0].ws->call(
                                 "room.create", {{"mode", "test.counter"}, {"name", "Rated"}})),
                             "id"));
    for (int i : {1, 2})
      seats[i].ws->call("room.join", {{"room_id", room}});

    // Game 1: Ace 5, Bea 3, Cid 1.
    start(seats);
    seats[0].ws->call("test.counter.add", {{"n", 5}});
    seats[1].ws->call("test.counter.add", {{"n", 3}});
    seats[2].ws->call("test.counter.add", {{"n", 1}});
    seats[0].ws->call("test.counter.finish");
    seats[1].ws->expect("room.game_ended");
    seats[2].ws->expect("room.game_ended");
    // The record is written behind the game's end: wait for it to be rated.
    for (int tries = 0; tries < 200; ++tries) {
      auto r = http_call(srv.port(), "GET",
                         "/v1/accounts/" + std::to_string(seats[2].acc.id) + "/ratings", {},
                         bearer(seats[2].acc.token));
      if (r.body.find("test.counter") != std::string::npos) break;
      std::this_thread::sleep_for(20ms);
    }
    const auto ace = rating(srv.port(), seats[0].acc);
    const auto cid = rating(srv.port(), seats[2].acc);
    EXPECT_EQ(num(at(ace, "games")), 1);
    EXPECT_EQ(str(at(ace, "model")), "weng_lin");
    EXPECT_GT(at(ace, "mu").to_number<double>(), 25);
    EXPECT_LT(at(cid, "mu").to_number<double>(), 25);

    // Game 2 starts; Ace adds 2 and Cid 9; then the server is killed.
    start(seats);
    seats[0].ws->call("test.counter.add", {{"n", 2}});
    seats[2].ws->call("test.counter.add", {{"n", 9}});
    std::this_thread::sleep_for(200ms);  // the snapshot is written behind the play
    ASSERT_EQ(::kill(srv.pid(), SIGKILL), 0);
    EXPECT_EQ(srv.stop().signal, SIGKILL);
    for (auto& s : seats)
      s.ws->drop();
  }
  {
    // The node restores game 2; everyone reconnects to it, and it ends: rated once.
    server_process srv(sets, dir.path());
    for (auto& s : seats) {
      s.ws = std::make_unique<ws_client>(srv.port(), s.acc.token);
      s.ws->hello();
    }
    seats[1].ws->call("test.counter.add", {{"n", 1}});
    seats[0].ws->call("test.counter.finish");
    seats[1].ws->expect("room.game_ended");
    for (int tries = 0; tries < 200; ++tries) {
      if (num(at(rating(srv.port(), seats[1].acc), "games")) == 2) break;
      std::this_thread::sleep_for(20ms);
    }
    EXPECT_EQ(num(at(rating(srv.port(), seats[1].acc), "games")), 2);
    for (auto& s : seats)
      s.ws->close();
  }
  // A clean restart: the same ratings, two games each, two history entries each.
  server_process srv(sets, dir.path());
  const int port = srv.port();
  for (const auto& s : seats) {
    const auto r = rating(port, s.acc);
    EXPECT_EQ(num(at(r, "games")), 2) << s.acc.nickname;
    auto h = get(port, "/v1/accounts/" + std::to_string(s.acc.id) + "/ratings/test.counter", s.acc);
    const auto& hist = at(h, "history").as_array();
    ASSERT_EQ(hist.size(), 2u) << json::serialize(h);
    EXPECT_NE(str(at(hist[0], "game_id")), str(at(hist[1], "game_id")));
    // Each game starts from where the one before it left the rating.
    EXPECT_DOUBLE_EQ(at(hist[0], "before.mu").to_number<double>(),
                     at(hist[1], "after.mu").to_number<double>());
    EXPECT_DOUBLE_EQ(at(hist[0], "after.mu").to_number<double>(), at(r, "mu").to_number<double>());
  }
  // Game 2 placed Cid (9) first: Cid's second change is up, Bea's (1) down.
  auto cid_h =
      get(port, "/v1/accounts/" + std::to_string(seats[2].acc.id) + "/ratings/test.counter?limit=1",
          seats[2].acc);
  ASSERT_EQ(at(cid_h, "history").as_array().size(), 1u);
  EXPECT_GT(at(cid_h, "history.0.after.mu").to_number<double>(),
            at(cid_h, "history.0.before.mu").to_number<double>());

  // The season's boards, read after the restart (rebuilt from the database).
  auto totals = get(port, "/v1/leaderboards/test.counter.total", seats[0].acc);
  EXPECT_EQ(num(at(totals, "total")), 3);
  // Cid 1 + 9 = 10, Ace 5 + 2 = 7, Bea 3 + 1 = 4.
  EXPECT_EQ(board_ids(totals),
            (std::vector<std::int64_t>{seats[2].acc.id, seats[0].acc.id, seats[1].acc.id}));
  EXPECT_EQ(num(at(totals, "entries.0.value")), 10);
  EXPECT_EQ(num(at(totals, "entries.0.rank")), 1);
  auto page = get(port, "/v1/leaderboards/test.counter.total?offset=1&limit=1", seats[0].acc);
  EXPECT_EQ(board_ids(page), (std::vector<std::int64_t>{seats[0].acc.id}));
  EXPECT_EQ(num(at(page, "entries.0.rank")), 2);
  // Entries name their players.
  EXPECT_EQ(str(at(page, "entries.0.nickname")), seats[0].acc.nickname);
  auto me = get(port, "/v1/leaderboards/test.counter.total/around?radius=1", seats[1].acc);
  EXPECT_EQ(num(at(me, "me.rank")), 3);
  EXPECT_EQ(str(at(me, "me.nickname")), seats[1].acc.nickname);
  EXPECT_EQ(str(at(me, "entries.0.nickname")), seats[0].acc.nickname);
  EXPECT_EQ(board_ids(me), (std::vector<std::int64_t>{seats[0].acc.id, seats[1].acc.id}));
  auto rated = get(port, "/v1/leaderboards/rating.test.counter", seats[0].acc);
  EXPECT_EQ(num(at(rated, "total")), 3);
  const auto season = num(at(rated, "season"));
  auto seasons = get(port, "/v1/leaderboards/test.counter.total/seasons", seats[0].acc);
  EXPECT_EQ(num(at(seasons, "seasons.0.id")), season);
  EXPECT_TRUE(at(seasons, "seasons.0.current").as_bool());
  auto list = get(port, "/v1/leaderboards", seats[0].acc);
  EXPECT_EQ(num(at(list, "season.id")), season);
  EXPECT_NE(json::serialize(at(list, "boards")).find("rating.test.counter"), std::string::npos);

  // The same over realtime messages.
  auto ws = std::make_unique<ws_client>(port, seats[1].acc.token);
  ws->hello();
  auto top = ws->call("leaderboard.get", {{"board", "test.counter.total"}, {"limit", 2}});
  EXPECT_EQ(board_ids(top), (std::vector<std::int64_t>{seats[2].acc.id, seats[0].acc.id}));
  EXPECT_EQ(str(at(top, "entries.0.nickname")), seats[2].acc.nickname);
  EXPECT_EQ(str(at(top, "entries.1.nickname")), seats[0].acc.nickname);
  auto around = ws->call("leaderboard.around", {{"board", "test.counter.total"}, {"radius", 0}});
  EXPECT_EQ(num(at(around, "me.rank")), 3);
  EXPECT_EQ(num(at(around, "total")), 3);
  auto mine = ws->call("rating.get");
  EXPECT_EQ(num(at(mine, "account_id")), seats[1].acc.id);
  auto theirs = ws->call("rating.get", {{"player", seats[2].acc.id}});
  EXPECT_EQ(num(at(theirs, "account_id")), seats[2].acc.id);

  // Bad input: stable codes, readable messages.
  EXPECT_EQ(error_code(ws->request("leaderboard.get", {{"board", "no.such.board"}})),
            "unknown_leaderboard");
  EXPECT_EQ(error_code(
                ws->request("leaderboard.get", {{"board", "test.counter.total"}, {"limit", 1000}})),
            "bad_field");
  auto r = http_call(port, "GET", "/v1/leaderboards/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.error_code(), "unknown_leaderboard");
  r = http_call(port, "GET", "/v1/leaderboards/test.counter.total?limit=0");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.error_code(), "bad_field");
  r = http_call(port, "GET", "/v1/leaderboards/test.counter.total?season=x");
  EXPECT_EQ(r.error_code(), "bad_field");
  r = http_call(port, "GET", "/v1/leaderboards/test.counter.total/around");
  EXPECT_EQ(r.status, 401);
  r = http_call(port, "GET", "/v1/accounts/" + std::to_string(seats[0].acc.id) + "/ratings");
  EXPECT_EQ(r.status, 401);
  r = http_call(port, "POST", "/v1/leaderboards/test.counter.total", "{}");
  EXPECT_EQ(r.error_code(), "method_not_allowed");
  // An earlier season has nothing; its header still says when it ran.
  auto old = get(port, "/v1/leaderboards/test.counter.total?season=1", seats[0].acc);
  EXPECT_EQ(num(at(old, "total")), 0);
}

TEST_F(competition_test, private_and_aborted_games_are_not_rated) {
  server_process srv;
  auto seats = seat_players(srv.port(), {"Pia", "Quin"});
  auto snap = snapshot_of_reply(seats[0].ws->call(
      "room.create", {{"mode", "test.counter"}, {"name", "Friends"}, {"private", true}}));
  seats[1].ws->call("room.join", {{"invite_code", at(snap, "invite_code")}});
  start(seats);
  seats[0].ws->call("test.counter.add", {{"n", 5}});
  seats[0].ws->call("test.counter.finish");
  seats[1].ws->expect("room.game_ended");
  // An aborted game in the same room.
  start(seats);
  EXPECT_EQ(error_code(seats[0].ws->request("test.counter.crash")), "internal");
  seats[1].ws->expect("room.game_ended");
  // Statistics count both games; ratings and boards neither.
  for (int tries = 0; tries < 200; ++tries) {
    auto st =
        get(srv.port(), "/v1/accounts/" + std::to_string(seats[0].acc.id) + "/stats", seats[0].acc);
    if (st.contains("modes") && at(st, "modes").as_object().contains("test.counter") &&
        num(at(at(st, "modes").as_object().at("test.counter"), "played")) == 2)
      break;
    std::this_thread::sleep_for(20ms);
  }
  auto v =
      get(srv.port(), "/v1/accounts/" + std::to_string(seats[0].acc.id) + "/ratings", seats[0].acc);
  EXPECT_TRUE(at(v, "ratings").as_object().empty()) << json::serialize(v);
  EXPECT_EQ(num(at(get(srv.port(), "/v1/leaderboards/test.counter.total", seats[0].acc), "total")),
            0);
}

TEST_F(competition_test, a_matchmade_game_is_rated_though_its_room_is_unlisted) {
  // The matchmaker's rooms are private (nobody finds them in room.list), but their players did
  // not choose each other: unlike a private room's, their games are rated and go on the boards.
  server_process srv({"matchmaker.interval_ms=50"});
  auto seats = seat_players(srv.port(), {"Rue", "Sol"});
  const json::object quick{{"mode", "test.counter"}, {"min_players", 2}, {"max_players", 2}};
  for (auto& s : seats)
    s.ws->call("match.start", quick);
  for (auto& s : seats)
    s.ws->expect("match.found");
  for (auto& s : seats)
    s.ws->call("match.join");
  for (auto& s : seats)
    s.ws->expect("room.game_started");
  EXPECT_TRUE(at(seats[0].ws->call("room.list"), "rooms").as_array().empty());
  seats[0].ws->call("test.counter.add", {{"n", 4}});
  seats[0].ws->call("test.counter.finish");
  seats[1].ws->expect("room.game_ended");
  // The record (and its rating) is written behind the game's end.
  for (int tries = 0; tries < 200; ++tries) {
    auto v = get(srv.port(), "/v1/accounts/" + std::to_string(seats[0].acc.id) + "/ratings",
                 seats[0].acc);
    if (!at(v, "ratings").as_object().empty()) break;
    std::this_thread::sleep_for(20ms);
  }
  for (auto& s : seats)
    EXPECT_EQ(num(at(rating(srv.port(), s.acc), "games")), 1);
  // The winner rates above the loser, and the score board has the winner's count.
  EXPECT_GT(at(rating(srv.port(), seats[0].acc), "mu").to_number<double>(),
            at(rating(srv.port(), seats[1].acc), "mu").to_number<double>());
  auto totals = get(srv.port(), "/v1/leaderboards/test.counter.total", seats[0].acc);
  EXPECT_EQ(board_ids(totals), std::vector<std::int64_t>{seats[0].acc.id});
}

}  // namespace
}  // namespace maratang::it
