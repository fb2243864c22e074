// Parties over real WebSockets: a party's whole life (invite by account and by code, accept,
// chat, presence, kick, leadership, leave), and bad requests that change nothing.
#include <gtest/gtest.h>

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

TEST(party_test, a_party_lives_and_its_members_see_each_other) {
  server_process srv;
  auto seats = seat_players(srv.port(), {"Ana", "Bo", "Cy"});
  auto& a = seats[0];
  auto& b = seats[1];
  auto& c = seats[2];

  // Nothing to leave, kick or chat in before there is a party; bad input changes nothing.
  // Each failure has its own stable code.
  EXPECT_EQ(error_code(a.ws->request("party.leave")), "not_in_party");
  EXPECT_EQ(error_code(a.ws->request("party.chat", {{"text", "hi"}})), "not_in_party");
  EXPECT_EQ(error_code(a.ws->request("party.invite", {{"nickname", "Bo"}})), "not_in_party");
  EXPECT_EQ(error_code(a.ws->request("party.accept", {{"party_id", 99}})), "unknown_party");
  EXPECT_EQ(error_code(a.ws->request("party.join", {{"code", "NOPE"}})), "unknown_party");
  EXPECT_TRUE(at(a.ws->call("party.get"), "party").is_null());

  auto party = at(a.ws->call("party.create"), "party").as_object();
  const auto party_id = num(at(party, "id"));
  const auto code = str(at(party, "code"));
  EXPECT_EQ(num(at(party, "leader")), a.acc.id);
  EXPECT_EQ(error_code(a.ws->request("party.create")), "already_in_party");  // one per account
  // A party exists, but Cy has no invitation to it.
  EXPECT_EQ(error_code(c.ws->request("party.accept", {{"party_id", party_id}})), "no_invitation");

  // An invitation by account, accepted.
  EXPECT_EQ(error_code(a.ws->request("party.invite", {{"player", 999999}})), "unknown_player");
  a.ws->call("party.invite", {{"nickname", "Bo"}});
  auto inv = event(*b.ws, "party.invitation");
  EXPECT_EQ(num(at(inv, "party_id")), party_id);
  EXPECT_EQ(num(at(inv, "from.id")), a.acc.id);
  auto joined = at(b.ws->call("party.accept", {{"party_id", party_id}}), "party").as_object();
  EXPECT_EQ(at(joined, "members").as_array().size(), 2u);
  EXPECT_EQ(num(at(event(*a.ws, "party.member_joined"), "member.id")), b.acc.id);
  // An accepted invitation is used up; a member is not invited again.
  EXPECT_EQ(error_code(c.ws->request("party.accept", {{"party_id", party_id}})), "no_invitation");
  EXPECT_EQ(error_code(a.ws->request("party.invite", {{"nickname", "Bo"}})), "already_in_party");
  EXPECT_EQ(error_code(b.ws->request("party.join", {{"code", code}})), "already_in_party");

  // By code, without an invitation.
  c.ws->call("party.join", {{"code", code}});
  event(*a.ws, "party.member_joined");
  event(*b.ws, "party.member_joined");

  // Chat reaches every member.
  a.ws->call("party.chat", {{"text", "quick play?"}});
  for (auto* s : {&a, &b, &c})
    EXPECT_EQ(str(at(event(*s->ws, "party.chat"), "text")), "quick play?");

  // Presence: everyone online, in no room; then Cy sits in a room and Bo sees it.
  auto got = at(b.ws->call("party.get"), "party").as_object();
  for (const auto& m : at(got, "members").as_array()) {
    EXPECT_TRUE(at(m, "online").as_bool());
    EXPECT_TRUE(at(m, "room_id").is_null());
  }
  EXPECT_EQ(at(got, "chat").as_array().size(), 1u);
  auto room = snapshot_of_reply(
      c.ws->call("room.create", {{"mode", "test.counter"}, {"name", "Cy's table"}}));
  auto pres = event(*b.ws, "party.presence");
  EXPECT_EQ(num(at(pres, "player")), c.acc.id);
  EXPECT_EQ(str(at(pres, "room_id")), str(at(room, "id")));

  // Only the leader kicks and transfers; the kicked member is told.
  EXPECT_EQ(error_code(b.ws->request("party.kick", {{"player", c.acc.id}})), "not_leader");
  a.ws->call("party.kick", {{"player", c.acc.id}});
  EXPECT_EQ(str(at(event(*c.ws, "party.removed"), "reason")), "kicked");
  auto left = event(*b.ws, "party.member_left");
  EXPECT_EQ(num(at(left, "player")), c.acc.id);
  EXPECT_EQ(str(at(left, "reason")), "kicked");
  EXPECT_TRUE(at(c.ws->call("party.get"), "party").is_null());

  a.ws->call("party.transfer", {{"player", b.acc.id}});
  EXPECT_EQ(num(at(event(*b.ws, "party.leader_changed"), "player")), b.acc.id);

  // Ana drops: Bo sees her offline.
  a.ws->drop();
  pres = event(*b.ws, "party.presence");
  EXPECT_EQ(num(at(pres, "player")), a.acc.id);
  EXPECT_FALSE(at(pres, "online").as_bool());

  // The leader leaves: the other member leads.
  ws_client again(srv.port(), a.acc.token);
  again.hello();
  b.ws->call("party.leave");
  EXPECT_EQ(num(at(event(again, "party.leader_changed"), "player")), a.acc.id);
}

}  // namespace
}  // namespace maratang::it
