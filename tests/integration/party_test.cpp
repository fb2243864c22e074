// Parties over real WebSockets: a party's whole life (invite by account and by code, accept,
// chat, presence, kick, leadership, leave), and bad requests that change nothing.
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

// The error's message, for the checks that a refusal names who stands in the way.
std::string message_of(const json::object& frame) {
  return str(at(frame, "error.message"));
}

TEST(party_test, a_party_takes_seats_in_a_room_together_or_not_at_all) {
  server_process srv;
  auto seats = seat_players(srv.port(), {"Ana", "Bo", "Cy", "Dee", "Eve"});
  auto& a = seats[0];
  auto& b = seats[1];
  auto& c = seats[2];
  auto& d = seats[3];
  auto& e = seats[4];
  const json::object counter{{"mode", "test.counter"}, {"name", "Party table"}, {"party", true}};

  // Without a party, or as a member who does not lead it, party:true is refused.
  EXPECT_EQ(error_code(d.ws->request("room.create", counter)), "not_in_party");
  auto party = at(a.ws->call("party.create"), "party").as_object();
  b.ws->call("party.join", {{"code", at(party, "code")}});
  c.ws->call("party.join", {{"code", at(party, "code")}});
  event(*a.ws, "party.member_joined");
  event(*a.ws, "party.member_joined");
  EXPECT_EQ(error_code(b.ws->request("room.create", counter)), "not_leader");

  // A room too small for the party: refused, and no room is made.
  auto small = counter;
  small["capacity"] = 2;
  auto f = a.ws->request("room.create", small);
  EXPECT_EQ(error_code(f), "room_full") << json::serialize(f);
  EXPECT_TRUE(at(d.ws->call("room.list"), "rooms").as_array().empty());

  // Dee's room has two free seats: the party of three does not fit, and nobody sits down.
  auto dees = snapshot_of_reply(
      d.ws->call("room.create", {{"mode", "test.counter"}, {"name", "Dee's"}, {"capacity", 3}}));
  const json::object join{{"room_id", at(dees, "id")}, {"party", true}};
  f = a.ws->request("room.join", join);
  EXPECT_EQ(error_code(f), "room_full") << json::serialize(f);
  auto spectate = join;
  spectate["spectate"] = true;
  EXPECT_EQ(error_code(a.ws->request("room.join", spectate)), "bad_field");
  for (auto* s : {&a, &b, &c})
    EXPECT_EQ(error_code(s->ws->request("room.leave")), "not_in_room") << s->acc.nickname;
  EXPECT_EQ(d.ws->count_received("room.member_joined"), 0u);

  // A member seated elsewhere stops the whole party, and the refusal names them.
  auto elsewhere = snapshot_of_reply(
      c.ws->call("room.create", {{"mode", "test.counter"}, {"name", "Cy's"}, {"capacity", 2}}));
  f = a.ws->request("room.create", counter);
  EXPECT_EQ(error_code(f), "already_in_room") << json::serialize(f);
  EXPECT_NE(message_of(f).find("Cy"), std::string::npos) << json::serialize(f);
  EXPECT_EQ(error_code(a.ws->request("room.leave")), "not_in_room");
  EXPECT_EQ(error_code(b.ws->request("room.leave")), "not_in_room");
  c.ws->call("room.leave");

  // A party in the matchmaker stays there: it is cancelled first.
  a.ws->call("match.start", {{"mode", "mafia"}});
  f = a.ws->request("room.create", counter);
  EXPECT_EQ(error_code(f), "already_matchmaking") << json::serialize(f);
  a.ws->call("match.cancel");

  // An offline member stops the party too.
  c.ws->drop();
  while (at(event(*a.ws, "party.presence"), "online").as_bool()) {
  }  // earlier ones told of Cy's seat
  f = a.ws->request("room.create", counter);
  EXPECT_EQ(error_code(f), "out_of_order") << json::serialize(f);
  EXPECT_NE(message_of(f).find("Cy"), std::string::npos) << json::serialize(f);
  EXPECT_EQ(error_code(a.ws->request("room.leave")), "not_in_room");
  c.ws = std::make_unique<ws_client>(srv.port(), c.acc.token);
  c.ws->hello();

  // Eve sits in a room of five with Dee; the party joins it whole.
  d.ws->call("room.leave");
  auto big = snapshot_of_reply(d.ws->call(
      "room.create", {{"mode", "test.counter"}, {"name", "Big table"}, {"capacity", 5}}));
  e.ws->call("room.join", {{"room_id", at(big, "id")}});
  EXPECT_EQ(num(at(d.ws->expect("room.member_joined"), "data.member.id")), e.acc.id);
  auto in =
      snapshot_of_reply(a.ws->call("room.join", {{"room_id", at(big, "id")}, {"party", true}}));
  EXPECT_EQ(at(in, "members").as_array().size(), 5u) << json::serialize(in);
  EXPECT_EQ(num(at(in, "leader")), d.acc.id);
  for (auto* s : {&b, &c}) {
    auto told = event(*s->ws, "party.room");
    EXPECT_EQ(num(at(told, "by")), a.acc.id) << s->acc.nickname;
    EXPECT_EQ(str(at(told, "room.id")), str(at(big, "id"))) << s->acc.nickname;
    EXPECT_EQ(at(told, "room.members").as_array().size(), 5u) << s->acc.nickname;
  }
  // Those who were there see each newcomer join; the party hears its snapshots only.
  for (auto* s : {&d, &e}) {
    std::set<std::int64_t> newcomers;
    for (int i = 0; i < 3; ++i)
      newcomers.insert(num(at(s->ws->expect("room.member_joined"), "data.member.id")));
    EXPECT_EQ(newcomers, (std::set<std::int64_t>{a.acc.id, b.acc.id, c.acc.id})) << s->acc.nickname;
  }
  for (auto* s : {&a, &b, &c})
    EXPECT_EQ(s->ws->count_received("room.member_joined"), 0u) << s->acc.nickname;
  // The members play from their seats: Bo readies, and the room hears it.
  b.ws->call("room.ready", {{"ready", true}});
  EXPECT_EQ(num(at(d.ws->expect("room.member_ready"), "data.player")), b.acc.id);
  auto shown = at(a.ws->call("party.get"), "party").as_object();
  for (const auto& m : at(shown, "members").as_array())
    EXPECT_EQ(str(at(m, "room_id")), str(at(big, "id")));

  // room.create brings the party too: all three leave, and Ana makes a room for three.
  for (auto* s : {&a, &b, &c})
    s->ws->call("room.leave");
  auto own = snapshot_of_reply(a.ws->call("room.create", [&] {
    auto o = counter;
    o["capacity"] = 3;
    return o;
  }()));
  EXPECT_EQ(at(own, "members").as_array().size(), 3u) << json::serialize(own);
  EXPECT_EQ(num(at(own, "leader")), a.acc.id);
  for (auto* s : {&b, &c})
    EXPECT_EQ(str(at(event(*s->ws, "party.room"), "room.id")), str(at(own, "id")));
}

}  // namespace
}  // namespace maratang::it
