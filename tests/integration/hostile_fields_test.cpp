// Hostile fields over real sockets: every core request and every Mafia request, with each field
// missing, null, of every wrong JSON type, empty, huge and negative, sent by players in a waiting
// room, in a running game, and during a Mafia vote. No answer may be `internal`, no room may close
// and no game may end because of it; the connection keeps working. (The modes' own phases are
// covered exhaustively in src/modes/hostile_input_test.cpp; this proves the real pipeline.)
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "harness.hpp"
#include "modes/mafia/mafia_mode.hpp"
#include "proto/messages.hpp"

namespace maratang::it {
namespace {

std::vector<json::value> hostile_values() {
  std::vector<json::value> v;
  v.emplace_back(nullptr);
  v.emplace_back("");
  v.emplace_back(std::string(3000, 'x'));
  for (std::int64_t n : {std::int64_t{0}, std::int64_t{-1}, INT64_MIN, INT64_MAX})
    v.emplace_back(n);
  v.emplace_back(UINT64_MAX);
  v.emplace_back(1.5);
  v.emplace_back(true);
  v.emplace_back(json::object{});
  v.emplace_back(json::object{{"a", nullptr}});
  v.emplace_back(json::array{});
  v.emplace_back(json::array{1, "x"});
  return v;
}

// The field's absence, then each hostile value in it, beside otherwise plausible fields.
std::vector<json::object> mutations(std::span<const proto::field_spec> fields) {
  json::object base;
  for (const auto& f : fields) {
    switch (f.type) {
      case proto::field_type::string:
        base[f.name] = "x";
        break;
      case proto::field_type::integer:
        base[f.name] = 999'999'999;
        break;
      case proto::field_type::boolean:
        base[f.name] = false;
        break;
      default:
        base[f.name] = json::object{};
    }
  }
  std::vector<json::object> out{json::object{}};
  for (const auto& f : fields) {
    auto without = base;
    without.erase(f.name);
    out.push_back(std::move(without));
    for (const auto& v : hostile_values()) {
      auto o = base;
      o[f.name] = v;
      out.push_back(std::move(o));
    }
  }
  return out;
}

// Sends every mutation of `type` and checks every answer.
void attack(ws_client& ws, std::string_view type, std::span<const proto::field_spec> fields) {
  for (const auto& data : mutations(fields)) {
    SCOPED_TRACE(fmt::format("{} {}", type, json::serialize(data).substr(0, 200)));
    auto answer = ws.request(type, data);
    EXPECT_NE(error_code(answer), "internal") << json::serialize(answer).substr(0, 300);
    if (error_code(answer) != "") {
      EXPECT_TRUE(at(answer, "error.message").is_string());
    }
  }
}

const std::vector<std::string> kFast = {"limits.ws_rate=100000", "limits.ws_burst=100000",
                                        "testing.test_modes=true"};

TEST(hostile_fields_test, core_requests_in_a_waiting_room_and_a_running_game) {
  server_process srv(kFast);
  auto seats = seat_players(srv.port(), {"Lead", "Other"});
  auto snap = snapshot_of_reply(
      seats[0].ws->call("room.create", {{"mode", "test.counter"}, {"name", "Hostile"}}));
  seats[1].ws->call("room.join", {{"room_id", at(snap, "id")}});
  auto game_running = [&] { return seats[0].ws->count_received("room.game_started") > 0; };
  for (int round = 0; round < 2; ++round) {
    for (const auto& m : proto::core_messages()) {
      // room.leave and room.start have no fields: their only form is the valid one.
      if (m.dir != proto::direction::request || m.fields.empty()) continue;
      for (auto& s : seats)
        attack(*s.ws, m.type, m.fields);
    }
    // Both are still seated, and the connection works.
    for (auto& s : seats) {
      EXPECT_TRUE(s.ws->ping_ok());
      EXPECT_EQ(s.ws->count_received("room.removed"), 0u);
    }
    auto chat = seats[1].ws->request("room.chat", {{"text", "still here"}});
    EXPECT_EQ(error_code(chat), "") << json::serialize(chat);
    if (round == 0) {
      // Round two runs with a game in progress.
      ASSERT_FALSE(game_running());
      seats[1].ws->call("room.ready", {{"ready", true}});
      seats[0].ws->call("room.start");
      seats[0].ws->expect("room.game_started");
    }
  }
  EXPECT_EQ(seats[0].ws->count_received("room.game_ended"), 0u) << "the game ended";
  auto m = http_call(srv.port(), "GET", "/metrics");
  EXPECT_EQ(m.body.find("maratang_errors_total{code=\"internal\"}"), std::string::npos);
  EXPECT_NE(m.body.find("\nmaratang_mode_crashes_total 0\n"), std::string::npos);
}

// The report: a null target during the vote answered `internal` and ended the game for
// everyone. Now it is an abstention, and every other hostile vote is refused without harm.
TEST(hostile_fields_test, mafia_requests_during_the_vote_never_end_the_game) {
  server_process srv(kFast);
  auto seats = seat_players(srv.port(), {"M1", "M2", "M3", "M4", "M5"});
  json::object settings{{"day_ms", 100},
                        {"vote_ms", 60000},
                        {"defense_ms", 60000},
                        {"verdict_ms", 60000},
                        {"night_ms", 60000}};
  auto snap = snapshot_of_reply(seats[0].ws->call(
      "room.create", {{"mode", "mafia"}, {"name", "Vote"}, {"settings", settings}}));
  for (std::size_t i = 1; i < seats.size(); ++i) {
    seats[i].ws->call("room.join", {{"room_id", at(snap, "id")}});
    seats[i].ws->call("room.ready", {{"ready", true}});
  }
  seats[0].ws->call("room.start");
  auto in_vote = [](const json::object& f) {
    return str(at(f, "type")) == "mafia.phase" && str(at(f, "data.phase")) == "vote";
  };
  for (auto& s : seats)
    ASSERT_TRUE(s.ws->recv_until(in_vote, 5s));

  auto abstain = seats[1].ws->request("mafia.vote", {{"target", nullptr}});
  EXPECT_EQ(error_code(abstain), "") << json::serialize(abstain);
  EXPECT_TRUE(at(abstain, "data.target").is_null()) << json::serialize(abstain);

  // Every Mafia request, every hostile form, from every player (the fields from the mode's own
  // message table, which PROTOCOL.md is generated from).
  auto mafia = modes::make_mafia_mode_factory(4, 12);
  for (const auto& m : mafia->messages()) {
    if (m.dir != proto::direction::request) continue;
    for (auto& s : seats)
      attack(*s.ws, m.type, m.fields);
  }

  // Nobody was removed, no game ended, and the game still moves: the vote still counts.
  for (auto& s : seats) {
    EXPECT_EQ(s.ws->count_received("room.removed"), 0u);
    EXPECT_EQ(s.ws->count_received("room.game_ended"), 0u);
    EXPECT_TRUE(s.ws->ping_ok());
  }
  // The barrage's abstentions ended that vote (a tie: a new day); the game goes on to the next.
  for (auto& s : seats)
    EXPECT_TRUE(s.ws->recv_until(in_vote, 5s)) << "the game did not reach another vote";
  auto again = seats[3].ws->request("mafia.vote", {{"target", nullptr}});
  EXPECT_EQ(error_code(again), "") << json::serialize(again);
  auto m = http_call(srv.port(), "GET", "/metrics");
  EXPECT_EQ(m.body.find("maratang_errors_total{code=\"internal\"}"), std::string::npos);
  EXPECT_NE(m.body.find("\nmaratang_mode_crashes_total 0\n"), std::string::npos);
}

TEST(hostile_fields_test, room_password_guesses_are_limited_per_account) {
  server_process srv(kFast);
  auto seats = seat_players(srv.port(), {"Owner", "Guesser", "Friend"});
  auto snap = snapshot_of_reply(seats[0].ws->call(
      "room.create", {{"mode", "test.counter"}, {"name", "Locked"}, {"password", "open sesame"}}));
  auto id = at(snap, "id");
  for (int i = 0; i < 5; ++i) {
    auto f =
        seats[1].ws->request("room.join", {{"room_id", id}, {"password", fmt::format("g{}", i)}});
    EXPECT_EQ(error_code(f), "wrong_password") << json::serialize(f);
  }
  // The sixth try is refused before the password is compared, even the right one.
  auto blocked = seats[1].ws->request("room.join", {{"room_id", id}, {"password", "open sesame"}});
  EXPECT_EQ(error_code(blocked), "rate_limited") << json::serialize(blocked);
  EXPECT_NE(str(at(blocked, "error.message")).find("try again in"), std::string::npos);
  // Another account is not affected.
  seats[2].ws->call("room.join", {{"room_id", id}, {"password", "open sesame"}});
  EXPECT_EQ(num(at(seats[0].ws->expect("room.member_joined"), "data.member.id")), seats[2].acc.id);
}

}  // namespace
}  // namespace maratang::it
