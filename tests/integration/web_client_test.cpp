// The player's web client (web/public) in headless Chromium, driven through its UI by
// tests/integration/web_client.cjs (playwright-core from web/node_modules, Debian's Chromium):
// a whole Mafia game by five pages (tokens refreshed on the way), a solo Mystery game to an ending
// and its casebook (with a dropped network), the Korean one typed in Korean, two players in Mystery
// turns, an LLM line streamed from the fake OpenAI server, Traces, the language switch with
// errors in place on a phone-sized screen, two pages moving and shooting in Arena (with keys and
// a mouse, and on phones with the thumb stick and a finger), a party seated in a room by its
// leader and then, with a solo player, matched into Arena by quick play, the leaderboards after a
// Mafia game, and Mafia's voice and video with fake cameras and microphones (over the browser mesh,
// through a real Janus, and relayed by a real coturn), and the admin console of two nodes behind
// nginx. Screenshots of each screen go to <build dir>/web_client_screens/.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "harness.hpp"
#include "llm/fake_openai_server.hpp"
#include "media_servers.hpp"
#include "nginx_server.hpp"
#include "redis/test_server.hpp"
#include "store/postgres/pg_test_cluster.hpp"

namespace maratang::it {
namespace {

std::string browser_path() {
  for (const char* b : {"/usr/bin/chromium", "/usr/bin/chromium-browser"}) {
    if (std::filesystem::exists(b)) return b;
  }
  return {};
}

// Runs one scenario of web_client.cjs against the server at `port`; returns what it printed, and
// its exit code. `env`: variables put before the command ("NAME=value "). `limit_s`: the node
// process's bound, below ctest's limit for the test (180 s; web_call_test's 600 s).
std::pair<int, std::string> run_scenario(int port, std::string_view scenario,
                                         const std::string& env = {}, int limit_s = 160) {
  const auto source = std::filesystem::path(MARATANG_SOURCE_DIR);
  const auto shots = std::filesystem::current_path() / "web_client_screens";
  // Bounded below ctest's limit: a hung browser fails the test instead of timing it out.
  const auto cmd =
      fmt::format("{}timeout {} node {} {} http://127.0.0.1:{} {} {} {} 2>&1", env, limit_s,
                  (source / "tests" / "integration" / "web_client.cjs").string(), browser_path(),
                  port, (source / "web").string(), scenario, shots.string());
  std::string out;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return {-1, "popen failed: " + cmd};
  char buf[4096];
  for (std::size_t n; (n = fread(buf, 1, sizeof buf, pipe)) > 0;)
    out.append(buf, n);
  return {pclose(pipe), out};
}
std::pair<int, std::string> run_scenario(const server_process& srv, std::string_view scenario,
                                         const std::string& env = {}, int limit_s = 160) {
  return run_scenario(srv.port(), scenario, env, limit_s);
}

class web_client_test : public ::testing::Test {
 protected:
  void SetUp() override {
    if (browser_path().empty()) GTEST_FAIL() << "no Chromium: run scripts/setup.sh --test";
  }
  void play(std::string_view scenario, std::vector<std::string> sets = {"llm.base_url="},
            const std::string& env = {}) {
    // The default web.public_dir: the source tree's web/public, found beside the executable.
    server_process srv(std::move(sets));
    auto [code, out] = run_scenario(srv, scenario, env, limit_s_);
    // What each step checked and measured (the first page's budget, say): `ctest -V` shows it.
    std::fputs(out.c_str(), stdout);
    EXPECT_EQ(code, 0) << out;
    EXPECT_NE(out.find("\nPASS\n"), std::string::npos) << out;
  }
  int limit_s_ = 160;  // the scenario's bound (run_scenario)
};

// Mafia's video calls, each with fake cameras and microphones on four to six pages: ctest gives
// them 600 s (CMakeLists.txt), since they measure the streams in every phase.
class web_call_test : public web_client_test {
 protected:
  web_call_test() { limit_s_ = 560; }
};

TEST_F(web_client_test, five_pages_play_mafia_to_the_end_and_a_reload_keeps_the_seat) {
  // Tokens live 10 s (the least allowed), so the game outlasts them and the SDK must refresh.
  play("mafia", {"llm.base_url=", "auth.token_ttl_s=10"});
}

TEST_F(web_call_test, five_pages_play_mafia_over_the_mesh_exactly_as_the_media_policy_says) {
  // Their streams are measured (getStats) at each phase: day, night (and a spectator's), day 2
  // with a dead player, after a reload, and the end.
  play("mafia_media");
}

TEST_F(web_call_test, a_player_who_refuses_the_camera_is_told_so_and_still_hears) {
  play("media_refused");
}

TEST_F(web_call_test,
       five_pages_play_mafia_through_a_real_janus_which_refuses_what_the_policy_forbids) {
  janus_server janus;
  const auto origin = janus.url().substr(0, janus.url().find('/', 7));
  play("mafia_sfu", janus.settings(), "MARATANG_TEST_JANUS_ORIGIN=" + origin + " ");
}

TEST_F(web_call_test, with_relay_only_every_connection_goes_through_coturn) {
  coturn_server turn;
  auto sets = turn.settings();
  sets.push_back("llm.base_url=");
  sets.push_back("media.ice_transport_policy=relay");
  play("mafia_turn", sets);
}

TEST_F(web_client_test, a_solo_mystery_reaches_an_ending_and_its_casebook) {
  play("mystery");
}

TEST_F(web_client_test, the_korean_scenario_played_in_korean_reaches_its_ending) {
  play("mystery_ko");
}

TEST_F(web_client_test, two_players_take_mystery_turns_with_a_deadline) {
  play("mystery_group");
}

TEST_F(web_client_test, an_llm_line_shows_a_thinking_mark_then_streams_in) {
  // Slow on purpose, so that the page can be seen waiting and then reading a line in pieces.
  llm::fake_openai_server fake;
  fake.set_behaviour([](std::size_t, const llm::fake_request&) {
    return llm::fake_script::reply({"The lamp ", "flickers ", "in the dark."}, ms(1200), ms(700));
  });
  play("mystery_llm",
       {fmt::format("llm.base_url={}", fake.base_url()), "llm.first_token_timeout_ms=5000",
        "llm.first_token_wait_ms=5000", "llm.total_timeout_ms=10000"});
}

TEST_F(web_client_test, traces_leave_find_appraise_and_report_a_message) {
  play("traces");
}

TEST_F(web_client_test, two_pages_move_and_shoot_in_arena_and_see_the_same_outcome) {
  // The scenario's fixed seed (the harness allows seeds) puts the players in known places.
  play("arena");
}

TEST_F(web_client_test, a_mafia_page_keeps_drawing_while_twelve_players_chat_and_vote) {
  play("mafia_fps");
}

TEST_F(web_client_test, two_phones_move_and_shoot_in_arena_with_the_stick_and_a_finger) {
  play("arena_touch");
}

TEST_F(web_client_test, a_party_and_a_solo_player_quick_play_arena_into_one_room) {
  play("quick_play",
       {"llm.base_url=", "matchmaker.interval_ms=100", "matchmaker.accept_min_after_ms=1500"});
}

TEST_F(web_client_test, every_screen_outside_a_game_in_both_languages) {
  play("screens");
}

TEST_F(web_client_test, korean_from_the_browser_the_switch_and_errors_in_place_on_a_phone) {
  play("language");
}

TEST_F(web_client_test, an_admin_closes_a_room_from_the_console_and_its_player_reads_why) {
  server_process srv({"llm.base_url=", "auth.secret=d2ViLWFkbWluLXRlc3Qtc2VjcmV0LTMyLWJ5dGVzISE"});
  make_admin(srv);  // ops@example.com, whom the scenario logs in as
  auto [code, out] = run_scenario(srv, "admin");
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("\nPASS\n"), std::string::npos) << out;
}

// Two nodes (ids a and b, routes /node/1 and /node/2) on one PostgreSQL and one Redis, behind
// nginx; the admin secret the console scenarios expect, no LLM.
struct behind_nginx {
  store::testing::pg_test_cluster pg{MARATANG_SOURCE_DIR};
  redis::testing::test_server redis{MARATANG_SOURCE_DIR};
  temp_dir data;
  server_process a{node("a", "/node/1"), data.path() / "a"};
  server_process b{node("b", "/node/2"), data.path() / "b"};
  nginx_server nginx{{a.port(), b.port()}};

  std::vector<std::string> node(const char* id, const char* route) const {
    return {"storage.database_url=" + pg.url(),
            "redis.url=" + redis.url(),
            "auth.secret=d2ViLWFkbWluLXRlc3Qtc2VjcmV0LTMyLWJ5dGVzISE",
            "llm.base_url=",
            std::string("node.id=") + id,
            std::string("node.route=") + route};
  }
};

// The console of two nodes behind nginx (on one PostgreSQL and one Redis): the overview lists
// both nodes, the rooms tab every node's rooms (each read through its node's route), and a room
// of either node is closed from the console, whichever node nginx sent the page to; the room's
// players, on that node, hear why.
TEST_F(web_client_test, the_console_of_two_nodes_shows_and_closes_the_rooms_of_both) {
  behind_nginx c;
  make_admin(c.a, {"storage.database_url=" + c.pg.url()});  // ops@example.com
  // One room on each node, its leader connected to that node.
  player pa = make_player(c.a.port(), "OnNodeA"), pb = make_player(c.b.port(), "OnNodeB");
  ws_client wa(c.a.port(), pa.token), wb(c.b.port(), pb.token);
  wa.hello();
  wb.hello();
  wa.call("room.create", {{"mode", "mafia"}, {"name", "On A"}});
  wb.call("room.create", {{"mode", "mafia"}, {"name", "On B"}});
  auto [code, out] = run_scenario(c.nginx.port(), "admin_cluster");
  std::fputs(out.c_str(), stdout);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("\nPASS\n"), std::string::npos) << out;
  // The console closed the room of node B: its leader, on B, was told why; A's room stays.
  auto removed = wb.expect("room.removed");
  EXPECT_EQ(str(at(removed, "data.reason")), "closed_by_admin");
  EXPECT_TRUE(wa.ping_ok());
  EXPECT_FALSE(wa.count_received("room.removed")) << "A's room was not closed";
}

// A party across two nodes behind nginx, as the SDK plays it in Chromium: the member's client
// follows party.room's `moved` to the room's node by itself (the scenario says how).
TEST_F(web_client_test, a_partys_clients_follow_their_leader_into_a_room_of_the_other_node) {
  behind_nginx c;
  auto [code, out] = run_scenario(c.nginx.port(), "party_cluster");
  std::fputs(out.c_str(), stdout);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("\nPASS\n"), std::string::npos) << out;
}

}  // namespace
}  // namespace maratang::it
