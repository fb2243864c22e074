// The matchmaker over real WebSockets: a party queueing for Mafia quick play with solo players
// until everyone has joined the match's room and the game has started, and a player who does not
// join: the others are queued again at the front and matched first.
#include <gtest/gtest.h>

#include <set>

#include "harness.hpp"

namespace maratang::it {
namespace {

// The next pushed event (no id) of `type`; throws when none arrives in time.
json::object event(ws_client& ws, std::string_view type, ms timeout = kWait) {
  auto f = ws.recv_until(
      [&](const json::object& fr) { return str(at(fr, "type")) == type && !fr.contains("id"); },
      timeout);
  if (!f) throw std::runtime_error("no " + std::string(type) + " event arrived");
  return at(*f, "data").as_object();
}

std::vector<std::string> settings() {
  return {"matchmaker.interval_ms=50", "matchmaker.join_timeout_ms=1500"};
}

TEST(matchmaking_test, a_party_and_solo_players_are_matched_into_a_mafia_game) {
  server_process srv(settings());
  auto seats = seat_players(srv.port(), {"Ari", "Ben", "Cat", "Dan"});
  auto& leader = seats[0];
  auto& member = seats[1];
  auto party = at(leader.ws->call("party.create"), "party").as_object();
  member.ws->call("party.join", {{"code", at(party, "code")}});
  event(*leader.ws, "party.member_joined");

  const json::object quick{{"mode", "mafia"}, {"max_players", 4}};
  // Only the leader queues the party; bad input changes nothing.
  EXPECT_EQ(error_code(member.ws->request("match.start", quick)), "not_leader");
  EXPECT_EQ(error_code(leader.ws->request(
                "match.start", {{"mode", "mafia"}, {"query", {{"must", {{"x", json::array{}}}}}}})),
            "bad_field");
  EXPECT_EQ(error_code(leader.ws->request("match.start", {{"mode", "nope"}})), "unknown_mode");
  EXPECT_EQ(error_code(leader.ws->request("match.cancel")), "not_matchmaking");
  EXPECT_EQ(error_code(leader.ws->request("match.join")), "no_match");

  auto ticket = leader.ws->call("match.start", quick);
  EXPECT_EQ(at(ticket, "players").as_array().size(), 2u);
  event(*member.ws, "match.searching");
  EXPECT_EQ(error_code(leader.ws->request("match.start", quick)), "already_matchmaking");
  seats[2].ws->call("match.start", quick);
  seats[3].ws->call("match.start", quick);

  std::string room_id;
  std::set<std::int64_t> players;
  for (auto& s : seats) {
    auto found = event(*s.ws, "match.found");
    if (room_id.empty()) room_id = str(at(found, "room_id"));
    EXPECT_EQ(str(at(found, "room_id")), room_id);
    EXPECT_EQ(str(at(found, "mode")), "mafia");
    for (const auto& p : at(found, "players").as_array())
      players.insert(p.as_int64());
  }
  EXPECT_EQ(players.size(), 4u);
  // Formed: a ticket is no longer there to cancel, the seat waits to be taken.
  EXPECT_EQ(error_code(seats[2].ws->request("match.cancel")), "match_formed");
  EXPECT_EQ(error_code(seats[2].ws->request("match.start", quick)), "already_matchmaking");
  for (auto& s : seats) {
    auto snap = snapshot_of_reply(s.ws->call("match.join"));
    EXPECT_EQ(str(at(snap, "id")), room_id);
  }
  for (auto& s : seats)
    EXPECT_EQ(str(at(event(*s.ws, "room.game_started"), "mode")), "mafia");
  // Nobody is matchmaking any more.
  EXPECT_EQ(error_code(seats[2].ws->request("match.cancel")), "not_matchmaking");
  EXPECT_EQ(error_code(seats[2].ws->request("match.join")), "no_match");
}

TEST(matchmaking_test, a_no_show_frees_the_seat_and_the_others_go_first) {
  server_process srv(settings());
  auto seats = seat_players(srv.port(), {"Eve", "Fay", "Gus", "Hal", "Ivy"});
  const json::object quick{{"mode", "mafia"}, {"max_players", 4}};
  for (int i = 0; i < 4; ++i)
    seats[i].ws->call("match.start", quick);
  for (int i = 0; i < 4; ++i)
    event(*seats[i].ws, "match.found");
  // Hal never joins.
  for (int i = 0; i < 3; ++i)
    seats[i].ws->call("match.join");
  EXPECT_EQ(str(at(event(*seats[3].ws, "match.cancelled", ms(5000)), "reason")), "no_show");
  for (int i = 0; i < 3; ++i)
    event(*seats[i].ws, "match.requeued", ms(5000));
  // Hal's seat is free: he may sit elsewhere; the three are back in the queue (match.start
  // refused) and Ivy completes their match.
  EXPECT_EQ(error_code(seats[0].ws->request("match.start", quick)), "already_matchmaking");
  seats[4].ws->call("match.start", quick);
  std::string room_id;
  for (int i : {0, 1, 2, 4}) {
    auto found = event(*seats[i].ws, "match.found");
    if (room_id.empty()) room_id = str(at(found, "room_id"));
    EXPECT_EQ(str(at(found, "room_id")), room_id);
  }
  for (int i : {0, 1, 2, 4})
    seats[i].ws->call("match.join");
  for (int i : {0, 1, 2, 4})
    event(*seats[i].ws, "room.game_started");
  // Hal may queue again.
  seats[3].ws->call("match.start", quick);
  seats[3].ws->call("match.cancel");
}

}  // namespace
}  // namespace maratang::it
