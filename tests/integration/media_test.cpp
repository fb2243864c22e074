// Mafia's voice and video through a real Janus (scripts/janus_temp.sh, Debian's janus with its
// videoroom plugin), as a browser would use it: a member's Janus token and the rooms the server
// hands out in mafia.media, and what Janus answers when that member asks for what the media policy
// forbids — a citizen joining the mafioso's room at night — and the same request once the day lets
// them hear the mafioso again. Also: a room the town was in is torn down at nightfall; a Janus
// restarted mid-game gets every live room back; an aborted game leaves none. And coturn
// (scripts/coturn_temp.sh) accepting the TURN credentials mafia.media hands out, and no forged one.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <optional>
#include <sstream>
#include <thread>

#include "harness.hpp"
#include "media_servers.hpp"

namespace maratang::it {
namespace {

// One browser's Janus session, made with a member's token, over Janus's HTTP API.
class janus_session {
 public:
  janus_session(int port, std::string token) : port_(port), token_(std::move(token)) {}

  // Creates the session; Maratang adds the token asynchronously, so a refusal is retried for 5 s.
  // Returns Janus's last answer when it never succeeds.
  json::object open() {
    json::object r;
    for (int i = 0; i < 50; ++i) {
      r = post("/janus", {{"janus", "create"}});
      if (str(at(r, "janus")) == "success") {
        id_ = static_cast<std::uint64_t>(num(at(r, "data.id")));
        return r;
      }
      std::this_thread::sleep_for(ms(100));
    }
    return r;
  }

  // One attempt at creating the session: Janus's answer.
  json::object try_open() {
    auto r = post("/janus", {{"janus", "create"}});
    if (str(at(r, "janus")) == "success") id_ = static_cast<std::uint64_t>(num(at(r, "data.id")));
    return r;
  }

  std::uint64_t attach() {
    auto r = post(path(), {{"janus", "attach"}, {"plugin", "janus.plugin.videoroom"}});
    return static_cast<std::uint64_t>(num(at(r, "data.id")));
  }

  // A videoroom request on `handle`; the plugin's answer (plugindata.data), synchronous or the
  // handle's next event.
  json::object message(std::uint64_t handle, const json::object& body) {
    auto r = post(path() + "/" + std::to_string(handle), {{"janus", "message"}, {"body", body}});
    if (has(r, "plugindata.data")) return at(r, "plugindata.data").as_object();
    if (str(at(r, "janus")) != "ack") return r;
    return event(handle);
  }

  // A join as a publisher-participant, retried for 5 s while the room does not exist yet (426)
  // and, with `until_allowed`, while the token is refused (433): Maratang tells Janus
  // asynchronously, so a grant can be ahead of Janus.
  json::object join(std::uint64_t handle, std::int64_t room, std::int64_t id,
                    bool until_allowed = false) {
    json::object r;
    for (int i = 0; i < 50; ++i) {
      r = message(handle, {{"request", "join"},
                           {"ptype", "publisher"},
                           {"room", room},
                           {"id", id},
                           {"token", token_}});
      if (!has(r, "error_code")) return r;
      const auto code = num(at(r, "error_code"));
      if (code != 426 && !(until_allowed && code == 433)) return r;
      std::this_thread::sleep_for(ms(100));
    }
    return r;
  }

  // The next plugin event for `handle` (long poll), within `timeout`.
  json::object event(std::uint64_t handle, ms timeout = kWait) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      for (auto it = events_.begin(); it != events_.end(); ++it) {
        if (has(*it, "sender") && static_cast<std::uint64_t>(num(at(*it, "sender"))) == handle &&
            has(*it, "plugindata.data")) {
          auto d = at(*it, "plugindata.data").as_object();
          events_.erase(it);
          return d;
        }
      }
      auto r = http_call(port_, "GET", fmt::format("{}?token={}&maxev=1", path(), token_), {}, {},
                         ms(3000));
      if (r.status == 200 && r.json().is_object()) events_.push_back(r.json().as_object());
    }
    return {{"error", "no event"}};
  }

 private:
  std::string path() const { return "/janus/" + std::to_string(id_); }
  json::object post(const std::string& target, json::object body) {
    body["transaction"] = "t" + std::to_string(++tx_);
    body["token"] = token_;
    auto r = http_call(port_, "POST", target, json::serialize(body));
    if (r.status != 200 || !r.json().is_object()) return {{"janus", "http"}, {"status", r.status}};
    return r.json().as_object();
  }
  int port_;
  std::string token_;
  std::uint64_t id_ = 0;
  int tx_ = 0;
  std::deque<json::object> events_;
};

// The latest mafia.media this seat has received so far (reading what is pending).
json::object latest_media(seat& s, ms wait = ms(500)) {
  while (s.ws->recv(wait)) {
  }
  const json::object* last = nullptr;
  for (const auto& f : s.ws->history()) {
    if (has(f, "type") && str(at(f, "type")) == "mafia.media") last = &f;
  }
  if (!last) throw std::runtime_error(s.acc.nickname + " got no mafia.media");
  return at(*last, "data").as_object();
}

// The room of `speaker` in a grant's `hear`, or 0.
std::int64_t room_of(const json::object& media, std::int64_t speaker) {
  for (const auto& h : at(media, "sfu.hear").as_array()) {
    if (num(at(h, "player")) == speaker) return num(at(h, "room"));
  }
  return 0;
}

TEST(MediaTest, janus_refuses_a_citizen_the_mafia_room_at_night_and_lets_them_in_by_day) {
  janus_server janus;
  server_process srv(janus.settings());
  auto seats = seat_players(srv.port(), {"Ga", "Na", "Da", "Ra"});
  // Day 1 long enough to join, an empty vote that sends the town to night, a night with no kill.
  json::object settings{{"day_ms", 5000}, {"vote_ms", 300}, {"tie", "night"}, {"night_ms", 6000}};
  auto snap = snapshot_of_reply(seats[0].ws->call(
      "room.create", {{"mode", "mafia"}, {"name", "Call"}, {"settings", settings}}));
  for (std::size_t i = 1; i < seats.size(); ++i) {
    seats[i].ws->call("room.join", {{"room_id", str(at(snap, "id"))}});
    seats[i].ws->call("room.ready", {{"ready", true}});
  }
  seats[0].ws->call("room.start");
  seat* mafioso = nullptr;
  seat* citizen = nullptr;
  for (auto& s : seats) {
    auto role = str(at(s.ws->expect("mafia.role"), "data.role"));
    if (role == "mafia") mafioso = &s;
    if (role == "citizen" && !citizen) citizen = &s;
  }
  ASSERT_TRUE(mafioso && citizen);
  const auto m_id = mafioso->acc.id;
  const auto c_id = citizen->acc.id;

  // Day: the citizen's grant names the mafioso's room, and Janus lets the citizen in.
  auto day = latest_media(*citizen);
  ASSERT_EQ(str(at(day, "transport")), "sfu") << json::serialize(day);
  const auto token = str(at(day, "sfu.token"));
  EXPECT_EQ(at(day, "sfu.hear").as_array().size(), 3u) << json::serialize(day);
  const auto day_room = room_of(day, m_id);
  ASSERT_NE(day_room, 0) << json::serialize(day);
  EXPECT_NE(num(at(day, "sfu.publish")), day_room);

  janus_session c(janus.port(), token);
  auto opened = c.open();
  ASSERT_EQ(str(at(opened, "janus")), "success") << json::serialize(opened);
  const auto h1 = c.attach();
  auto joined = c.join(h1, day_room, c_id, true);
  EXPECT_EQ(str(at(joined, "videoroom")), "joined") << json::serialize(joined);

  // A token Maratang never gave out opens nothing (Janus's token_auth).
  janus_session stranger(janus.port(), "not-a-token");
  auto refused = stranger.open();
  EXPECT_EQ(str(at(refused, "janus")), "error") << json::serialize(refused);
  EXPECT_EQ(num(at(refused, "error.code")), 403) << json::serialize(refused);

  // Night: the room the citizen was in is destroyed under them; the citizen hears nobody.
  for (auto* s : {citizen, mafioso}) {
    auto f = s->ws->recv_until(
        [](const json::object& fr) {
          return has(fr, "type") && str(at(fr, "type")) == "mafia.phase" &&
                 str(at(fr, "data.phase")) == "night";
        },
        ms(10000));
    ASSERT_TRUE(f) << s->acc.nickname << " saw no night";
  }
  auto gone = c.event(h1);
  EXPECT_EQ(str(at(gone, "videoroom")), "destroyed") << json::serialize(gone);
  auto night = latest_media(*citizen);
  EXPECT_TRUE(at(night, "sfu.hear").as_array().empty()) << json::serialize(night);
  auto m_night = latest_media(*mafioso);
  const auto night_room = num(at(m_night, "sfu.publish"));
  EXPECT_NE(night_room, day_room);

  // The citizen asks Janus directly for the mafioso's night room: refused (not in `allowed`).
  const auto h2 = c.attach();
  auto forbidden = c.join(h2, night_room, c_id);
  EXPECT_EQ(num(at(forbidden, "error_code")), 433) << json::serialize(forbidden);
  // The old day room is gone for good.
  auto old = c.message(
      h2, {{"request", "join"}, {"ptype", "publisher"}, {"room", day_room}, {"token", token}});
  EXPECT_EQ(num(at(old, "error_code")), 426) << json::serialize(old);
  // The mafioso, with their own token, may join it (the room exists, and the refusal was the
  // policy's).
  janus_session m(janus.port(), str(at(m_night, "sfu.token")));
  ASSERT_EQ(str(at(m.open(), "janus")), "success");
  auto m_joined = m.join(m.attach(), night_room, m_id, true);
  EXPECT_EQ(str(at(m_joined, "videoroom")), "joined") << json::serialize(m_joined);

  // Day 2: the mafioso's audience grew back, so the same room now lets the citizen in.
  auto f = citizen->ws->recv_until(
      [](const json::object& fr) {
        return has(fr, "type") && str(at(fr, "type")) == "mafia.phase" &&
               str(at(fr, "data.phase")) == "day";
      },
      ms(10000));
  ASSERT_TRUE(f) << "no day 2";
  auto day2 = latest_media(*citizen);
  EXPECT_EQ(room_of(day2, m_id), night_room) << json::serialize(day2);
  const auto h3 = c.attach();
  auto allowed = c.join(h3, night_room, c_id, true);
  EXPECT_EQ(str(at(allowed, "videoroom")), "joined") << json::serialize(allowed);
}

// A videoroom request through a session of the test's own token (added on Janus's admin API, so
// that it does not depend on the tokens the server hands out): the plugin's answer.
json::object ask_janus(const janus_server& janus, const json::object& body) {
  auto added = http_call(janus.admin_port(), "POST", "/admin",
                         json::serialize(json::object{{"janus", "add_token"},
                                                      {"token", "test-probe"},
                                                      {"transaction", "probe"},
                                                      {"admin_secret", janus.admin_secret()}}));
  if (added.status != 200) throw std::runtime_error("add_token: " + added.body);
  janus_session probe(janus.port(), "test-probe");
  if (str(at(probe.open(), "janus")) != "success") throw std::runtime_error("no probe session");
  return probe.message(probe.attach(), body);
}

// How many tokens Janus's token_auth store holds (its admin API's list_tokens).
std::size_t janus_tokens(const janus_server& janus) {
  auto r = http_call(janus.admin_port(), "POST", "/admin",
                     json::serialize(json::object{{"janus", "list_tokens"},
                                                  {"transaction", "count"},
                                                  {"admin_secret", janus.admin_secret()}}));
  const auto v = r.json();
  if (r.status != 200 || !v.is_object() || !has(v.as_object(), "data.tokens")) {
    throw std::runtime_error("list_tokens: " + r.body);
  }
  return at(v, "data.tokens").as_array().size();
}

// Whether Janus has videoroom `room`.
bool room_exists(const janus_server& janus, std::int64_t room) {
  auto r = ask_janus(janus, {{"request", "exists"}, {"room", room}});
  if (!has(r, "exists")) throw std::runtime_error("exists: " + json::serialize(r));
  return at(r, "exists").as_bool();
}

// Janus restarted mid-game forgets its tokens and rooms: the server's health check finds its own
// token gone and tells Janus every live game again, with the same room numbers and tokens, so a
// member joins again with the grant they already hold. Then an operator closes the room: the
// aborted game's rooms and tokens leave Janus (before, they stayed until Janus restarted).
TEST(MediaTest, a_restarted_janus_gets_the_rooms_back_and_an_aborted_game_leaves_none) {
  janus_server janus;
  auto sets = janus.settings();
  sets.push_back("media.janus_check_ms=200");
  server_process srv(sets);
  auto ops = make_admin(srv, sets);
  auto seats = seat_players(srv.port(), {"Ha", "Ja", "Ka", "Ta"});
  auto snap = snapshot_of_reply(seats[0].ws->call(
      "room.create", {{"mode", "mafia"}, {"name", "Restart"}, {"settings", {{"day_ms", 120000}}}}));
  const auto room_id = str(at(snap, "id"));
  for (std::size_t i = 1; i < seats.size(); ++i) {
    seats[i].ws->call("room.join", {{"room_id", room_id}});
    seats[i].ws->call("room.ready", {{"ready", true}});
  }
  seats[0].ws->call("room.start");
  auto grant = latest_media(seats[1]);
  ASSERT_EQ(str(at(grant, "transport")), "sfu") << json::serialize(grant);
  const auto token = str(at(grant, "sfu.token"));
  const auto mine = num(at(grant, "sfu.publish"));
  janus_session before(janus.port(), token);
  ASSERT_EQ(str(at(before.open(), "janus")), "success");
  auto joined = before.join(before.attach(), mine, seats[1].acc.id, true);
  ASSERT_EQ(str(at(joined, "videoroom")), "joined") << json::serialize(joined);
  auto overview = [&] {
    auto r = http_call(srv.port(), "GET", "/v1/admin/overview", {}, bearer(ops.token));
    EXPECT_EQ(r.status, 200) << r.body;
    return at(r.json(), "media.sfu").as_object();
  };
  EXPECT_TRUE(at(overview(), "up").as_bool());
  EXPECT_EQ(num(at(overview(), "resyncs")), 0);

  janus.restart();
  // The same token opens a session again, and the same room takes the member back, within the
  // janus_session's 5 s of retries (the check runs every 200 ms).
  janus_session after(janus.port(), token);
  auto reopened = after.open();
  ASSERT_EQ(str(at(reopened, "janus")), "success") << json::serialize(reopened);
  auto rejoined = after.join(after.attach(), mine, seats[1].acc.id, true);
  EXPECT_EQ(str(at(rejoined, "videoroom")), "joined") << json::serialize(rejoined);
  auto health = overview();
  EXPECT_TRUE(at(health, "up").as_bool()) << json::serialize(health);
  EXPECT_EQ(num(at(health, "resyncs")), 1) << json::serialize(health);
  EXPECT_EQ(num(at(health, "games")), 1) << json::serialize(health);
  // The grant the server hands out now (a reconnecting member's hello) is the one they hold.
  seats[1].ws = std::make_unique<ws_client>(srv.port(), seats[1].acc.token);
  auto hello = seats[1].ws->hello();
  EXPECT_EQ(str(at(hello, "room.game.media.sfu.token")), token) << json::serialize(hello);
  EXPECT_EQ(num(at(hello, "room.game.media.sfu.publish")), mine) << json::serialize(hello);

  // The operator closes the room: the game is aborted, and Janus loses its rooms and tokens.
  auto closed =
      http_call(srv.port(), "POST", "/v1/admin/rooms/" + room_id + "/close",
                json::serialize(json::object{{"message", "maintenance"}}), bearer(ops.token));
  ASSERT_EQ(closed.status, 200) << closed.body;
  bool gone = false;
  for (int i = 0; i < 50 && !gone; ++i) {
    janus_session late(janus.port(), token);
    gone = str(at(late.try_open(), "janus")) == "error" && !room_exists(janus, mine);
    if (!gone) std::this_thread::sleep_for(ms(100));
  }
  EXPECT_TRUE(gone) << "the aborted game's token or room is still on Janus";
  EXPECT_EQ(num(at(overview(), "games")), 0);
}

// A node killed mid-game restores it from its snapshot, which carries the game's Janus rooms and
// tokens: the restored game adopts them, so every grant stays what it was, a browser already in
// its room stays there undisturbed, and another joins with the token it held (a game moved to
// another node by a drain does the same); and the restarted node leaves no extra token in Janus.
TEST(MediaTest, a_game_restored_after_a_crash_keeps_its_janus_rooms_and_grants) {
  janus_server janus;
  temp_dir dir;
  auto sets = janus.settings();
  sets.push_back("rooms.reconnect_grace_ms=60000");
  std::vector<seat> seats;
  json::object before;
  std::optional<janus_session> in_call;  // a browser in its room while the node dies
  std::size_t tokens_before = 0;         // Maratang's own and the members'
  {
    server_process srv(sets, dir.path());
    seats = seat_players(srv.port(), {"Ma", "Pa", "Sa", "Ya"});
    auto snap = snapshot_of_reply(seats[0].ws->call(
        "room.create", {{"mode", "mafia"}, {"name", "Crash"}, {"settings", {{"day_ms", 120000}}}}));
    for (std::size_t i = 1; i < seats.size(); ++i) {
      seats[i].ws->call("room.join", {{"room_id", str(at(snap, "id"))}});
      seats[i].ws->call("room.ready", {{"ready", true}});
    }
    seats[0].ws->call("room.start");
    before = latest_media(seats[1]);
    ASSERT_EQ(str(at(before, "transport")), "sfu") << json::serialize(before);
    in_call.emplace(janus.port(), str(at(before, "sfu.token")));
    ASSERT_EQ(str(at(in_call->open(), "janus")), "success");
    auto joined =
        in_call->join(in_call->attach(), num(at(before, "sfu.publish")), seats[1].acc.id, true);
    ASSERT_EQ(str(at(joined, "videoroom")), "joined") << json::serialize(joined);
    std::this_thread::sleep_for(ms(300));  // the snapshot is written behind the start
    tokens_before = janus_tokens(janus);
    ASSERT_EQ(::kill(srv.pid(), SIGKILL), 0);
    EXPECT_EQ(srv.stop().signal, SIGKILL);
    for (auto& st : seats)
      st.ws->drop();
  }
  server_process srv(sets, dir.path());
  seats[1].ws = std::make_unique<ws_client>(srv.port(), seats[1].acc.token);
  auto hello = seats[1].ws->hello();
  const auto after = at(hello, "room.game.media.sfu").as_object();
  EXPECT_EQ(json::serialize(after), json::serialize(at(before, "sfu")))
      << "the restored game's grant differs";
  // The restarted node uses the own token it had (derived from its id): a crash leaves no token
  // behind in Janus.
  std::this_thread::sleep_for(ms(1000));
  EXPECT_EQ(janus_tokens(janus), tokens_before) << "a crash left a token in Janus";
  // The browser that was in its room is still there: the room was not made again.
  auto in_room =
      ask_janus(janus, {{"request", "listparticipants"}, {"room", num(at(after, "publish"))}});
  ASSERT_TRUE(has(in_room, "participants")) << json::serialize(in_room);
  ASSERT_EQ(at(in_room, "participants").as_array().size(), 1u) << json::serialize(in_room);
  EXPECT_EQ(num(at(at(in_room, "participants").as_array()[0], "id")), seats[1].acc.id);
  // Another member joins their room with the token they were given before the crash.
  seats[2].ws = std::make_unique<ws_client>(srv.port(), seats[2].acc.token);
  const auto other = at(seats[2].ws->hello(), "room.game.media.sfu").as_object();
  janus_session again(janus.port(), str(at(other, "token")));
  ASSERT_EQ(str(at(again.open(), "janus")), "success");
  auto joined = again.join(again.attach(), num(at(other, "publish")), seats[2].acc.id, true);
  EXPECT_EQ(str(at(joined, "videoroom")), "joined") << json::serialize(joined);
}

// Runs coturn's own client (turnutils_uclient) against 127.0.0.1:`port` with a TURN username and
// credential: true when it allocated a relay and sent data through it.
bool turn_allocates(int port, const std::string& user, const std::string& credential) {
  const auto cmd = fmt::format(
      "timeout 20 turnutils_uclient -y -n 2 -u '{}' -w '{}' -p {} 127.0.0.1 "
      ">/dev/null 2>&1",
      user, credential, port);
  return std::system(cmd.c_str()) == 0;
}

TEST(MediaTest, the_turn_credentials_in_mafia_media_open_coturn_and_a_forged_one_does_not) {
  coturn_server turn;
  auto sets = turn.settings();
  sets.push_back("llm.base_url=");
  sets.push_back("media.turn_ttl_s=600");
  server_process srv(sets);
  auto seats = seat_players(srv.port(), {"Ma", "Ba", "Sa", "Ah"});
  auto snap = snapshot_of_reply(seats[0].ws->call(
      "room.create", {{"mode", "mafia"}, {"name", "Turn"}, {"settings", {{"day_ms", 60000}}}}));
  for (std::size_t i = 1; i < seats.size(); ++i) {
    seats[i].ws->call("room.join", {{"room_id", str(at(snap, "id"))}});
    seats[i].ws->call("room.ready", {{"ready", true}});
  }
  seats[0].ws->call("room.start");
  auto media = at(seats[1].ws->expect("mafia.media"), "data").as_object();
  EXPECT_EQ(str(at(media, "transport")), "mesh");
  const auto& ice = at(media, "ice_servers").as_array();
  ASSERT_EQ(ice.size(), 2u) << json::serialize(media);
  EXPECT_EQ(str(at(ice[0], "urls").as_array()[0]).rfind("stun:127.0.0.1:", 0), 0u);
  const auto user = str(at(ice[1], "username"));
  const auto credential = str(at(ice[1], "credential"));
  // "<expiry>:<member>", the expiry media.turn_ttl_s from now.
  const auto colon = user.find(':');
  ASSERT_NE(colon, std::string::npos) << user;
  EXPECT_EQ(user.substr(colon + 1), std::to_string(seats[1].acc.id));
  const auto expiry = std::stoll(user.substr(0, colon));
  EXPECT_NEAR(static_cast<double>(expiry), static_cast<double>(now_ms() / 1000 + 600), 30.0);

  EXPECT_TRUE(turn_allocates(turn.port(), user, credential)) << "coturn refused " << user;
  // Another member's name with this credential, or a changed credential, is refused.
  EXPECT_FALSE(turn_allocates(turn.port(), user.substr(0, colon) + ":1", credential));
  auto forged = credential;
  forged[0] = forged[0] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(turn_allocates(turn.port(), user, forged));
}

}  // namespace
}  // namespace maratang::it
