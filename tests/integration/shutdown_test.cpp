// Graceful shutdown: SIGTERM while clients play and REST writes are in flight. Clients are told,
// the process exits 0 within a bound, and after a restart on the same data directory every write
// that was acknowledged (2xx) is there, as is the record of the game the shutdown aborted.
#include <signal.h>

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <mutex>
#include <set>
#include <thread>

#include "harness.hpp"

namespace maratang::it {
namespace {

using steady = std::chrono::steady_clock;

// What one WebSocket client saw around the shutdown.
struct ws_outcome {
  int frames = 0;
  int shutdown_at = -1;  // index among received frames
  int closed_at = -1;
  std::string closed_reason;
  std::int64_t reconnect_after_ms = -1;
  bool socket_closed = false;
};

// A REST write the server acknowledged.
struct acked_write {
  std::string device_id;
  std::int64_t account_id = 0;
  std::string token;
  std::string nickname;  // set and acknowledged, or empty
};

TEST(shutdown_test, sigterm_with_writes_in_flight_keeps_every_acknowledged_write) {
  temp_dir data;
  const auto data_dir = data.path() / "data";
  std::string game_id, room_id;
  std::vector<player> players;
  player revoked;
  std::vector<acked_write> acked;
  std::vector<ws_outcome> outcomes(4);

  {
    server_process srv(
        {"server.shutdown_grace_ms=3000", "limits.ws_rate=1000", "limits.ws_burst=1000"}, data_dir);
    const int port = srv.port();
    auto seats = seat_players(port, {"Sun", "Moon", "Star", "Sky"});
    auto snap = snapshot_of_reply(
        seats[0].ws->call("room.create", {{"mode", "test.counter"}, {"name", "Doomed"}}));
    room_id = str(at(snap, "id"));
    for (int i = 1; i < 4; ++i) {
      seats[i].ws->call("room.join", {{"room_id", room_id}});
      seats[i].ws->call("room.ready", {{"ready", true}});
    }
    game_id = str(at(seats[0].ws->call("room.start"), "game_id"));
    for (auto& s : seats)
      players.push_back(s.acc);
    // A logged-out session, to check that revocation survives the restart.
    revoked = login_device(port, "device-revoked-before-restart");
    ASSERT_EQ(http_call(port, "POST", "/v1/auth/logout", {}, bearer(revoked.token)).status, 200);

    std::atomic<bool> stop{false};
    std::atomic<int> ws_frames{0};
    std::atomic<int> rest_ok{0};
    std::mutex mu;
    std::vector<std::thread> threads;

    // Players add and chat continuously until their socket closes.
    for (int i = 0; i < 4; ++i) {
      threads.push_back(spawn([&, i] {
        auto& ws = *seats[i].ws;
        auto& out = outcomes[i];
        auto deadline = steady::now() + 20s;
        for (int k = 0; !ws.closed() && steady::now() < deadline; ++k) {
          if (k % 2 == 0) {
            ws.send_request("test.counter.add", {{"n", 1}});
          } else {
            ws.send_request("room.chat", {{"text", "line " + std::to_string(k)}});
          }
          while (auto f = ws.recv(10ms)) {
            auto type = str(at(*f, "type"));
            if (type == "server.shutdown" && out.shutdown_at < 0) {
              out.shutdown_at = out.frames;
              out.reconnect_after_ms = num(at(*f, "data.reconnect_after_ms"));
            }
            if (type == "session.closed" && out.closed_at < 0) {
              out.closed_at = out.frames;
              out.closed_reason = str(at(*f, "data.reason"));
            }
            ++out.frames;
            ++ws_frames;
          }
        }
        out.socket_closed = ws.wait_closed(5s);
      }));
    }
    // REST writers: device logins and nickname sets, recorded when acknowledged.
    for (int t = 0; t < 3; ++t) {
      threads.push_back(spawn([&, t] {
        for (int n = 0; !stop; ++n) {
          acked_write w;
          w.device_id = "device-sd-" + std::to_string(t) + "-" + std::to_string(n);
          auto r = http_call(port, "POST", "/v1/auth/device",
                             json::serialize(json::object{{"device_id", w.device_id}}));
          if (r.status != 200 && r.status != 201) {
            if (r.status == 0) std::this_thread::sleep_for(5ms);  // refused: don't spin
            continue;
          }
          auto v = r.json();
          w.account_id = num(at(v, "account_id"));
          w.token = str(at(v, "token"));
          std::string nick = "N" + std::to_string(t) + "x" + std::to_string(n);
          auto r2 = http_call(port, "PUT", "/v1/account/nickname",
                              json::serialize(json::object{{"nickname", nick}}), bearer(w.token));
          if (r2.status == 200) w.nickname = nick;
          ++rest_ok;
          std::lock_guard lock(mu);
          acked.push_back(std::move(w));
        }
      }));
    }

    // Let the load build up, then pull the plug.
    auto until = steady::now() + 10s;
    while ((rest_ok < 15 || ws_frames < 100) && steady::now() < until)
      std::this_thread::sleep_for(5ms);  // polling for a condition, bounded
    EXPECT_GE(rest_ok, 15);
    EXPECT_GE(ws_frames, 100);
    auto e = srv.stop(10s);
    stop = true;
    for (auto& t : threads)
      t.join();

    EXPECT_TRUE(e.exited) << "killed by signal " << e.signal;
    EXPECT_EQ(e.code, 0);
    EXPECT_FALSE(e.killed) << "did not exit within 10 s of SIGTERM";
    EXPECT_LT(e.took.count(), 3000 + 2000) << "exit took longer than the shutdown grace";
    for (int i = 0; i < 4; ++i) {
      SCOPED_TRACE(players[i].nickname);
      const auto& o = outcomes[i];
      EXPECT_GE(o.shutdown_at, 0) << "no server.shutdown";
      EXPECT_GE(o.reconnect_after_ms, 0);
      EXPECT_GE(o.closed_at, 0) << "no session.closed";
      EXPECT_LT(o.shutdown_at, o.closed_at) << "server.shutdown comes before session.closed";
      EXPECT_EQ(o.closed_reason, "shutdown");
      EXPECT_TRUE(o.socket_closed);
    }
  }

  // Restart on the same data directory.
  server_process srv({}, data_dir);
  const int port = srv.port();
  ASSERT_FALSE(acked.empty());
  int with_nickname = 0;
  for (const auto& w : acked) {
    SCOPED_TRACE(w.device_id);
    auto r = http_call(port, "POST", "/v1/auth/device",
                       json::serialize(json::object{{"device_id", w.device_id}}));
    EXPECT_EQ(r.status, 200) << "an acknowledged device login was lost: " << r.body;
    if (r.status != 200) continue;
    auto v = r.json();
    EXPECT_EQ(at(v, "created"), json::value(false));
    EXPECT_EQ(num(at(v, "account_id")), w.account_id);
    if (!w.nickname.empty()) {
      ++with_nickname;
      auto a = http_call(port, "GET", "/v1/account", {}, bearer(str(at(v, "token"))));
      EXPECT_EQ(str(at(a.json(), "nickname")), w.nickname) << "an acknowledged nickname was lost";
    }
    // The pre-restart token still works: the signing key persisted too.
    EXPECT_EQ(http_call(port, "GET", "/v1/account", {}, bearer(w.token)).status, 200);
  }
  EXPECT_GT(with_nickname, 0);

  // The aborted game's record.
  auto g = http_call(port, "GET", "/v1/games/" + game_id, {}, bearer(players[0].token));
  ASSERT_EQ(g.status, 200) << "the aborted game has no record: " << g.body;
  auto gv = g.json();
  EXPECT_EQ(str(at(gv, "record.aborted")), "shutdown") << g.body;
  EXPECT_EQ(str(at(gv, "room_id")), room_id);
  std::set<std::int64_t> ids, expected;
  for (const auto& p : at(gv, "players").as_array())
    ids.insert(num(p));
  for (const auto& p : players)
    expected.insert(p.id);
  EXPECT_EQ(ids, expected);
  auto hist = http_call(port, "GET", "/v1/accounts/" + std::to_string(players[0].id) + "/games", {},
                        bearer(players[0].token));
  EXPECT_NE(hist.body.find(game_id), std::string::npos) << hist.body;

  // Players come back to no room (rooms live in memory), with their nicknames.
  ws_client ws(port, players[1].token);
  auto hello = ws.hello();
  EXPECT_TRUE(at(hello, "room").is_null()) << json::serialize(hello);
  EXPECT_EQ(str(at(hello, "account.nickname")), "Moon");

  // The revoked session stays revoked.
  auto rv = http_call(port, "GET", "/v1/account", {}, bearer(revoked.token));
  EXPECT_EQ(rv.status, 401) << rv.body;
  EXPECT_EQ(rv.error_code(), "token_revoked");
  EXPECT_EQ(ws_upgrade_probe(port, revoked.token).error_code(), "token_revoked");
}

TEST(shutdown_test, idle_server_exits_zero_promptly) {
  server_process srv;
  EXPECT_EQ(http_call(srv.port(), "GET", "/health").status, 200);
  auto e = srv.stop(10s);
  EXPECT_TRUE(e.exited);
  EXPECT_EQ(e.code, 0);
  EXPECT_LT(e.took.count(), 2000);
}

TEST(shutdown_test, sigint_also_shuts_down_cleanly) {
  server_process srv;
  auto p = make_player(srv.port(), "Interrupt");
  ws_client ws(srv.port(), p.token);
  ws.hello();
  ::kill(srv.pid(), SIGINT);
  auto closed = ws.recv_until("session.closed");
  ASSERT_TRUE(closed);
  EXPECT_EQ(str(at(*closed, "data.reason")), "shutdown");
  EXPECT_TRUE(ws.wait_closed());
  auto e = srv.stop(10s);
  EXPECT_TRUE(e.exited);
  EXPECT_EQ(e.code, 0);
}

TEST(shutdown_test, a_bad_setting_stops_the_server_before_it_listens) {
  try {
    server_process srv({"no.such.setting=1"});
    ADD_FAILURE() << "the server started with an unknown setting";
  } catch (const std::runtime_error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("status 2"), std::string::npos) << what;
    EXPECT_NE(what.find("no.such.setting"), std::string::npos) << what;
  }
  try {
    server_process srv({"limits.ws_rate=0"});
    ADD_FAILURE() << "the server started with an out-of-range setting";
  } catch (const std::runtime_error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("status 2"), std::string::npos) << what;
    EXPECT_NE(what.find("limits.ws_rate"), std::string::npos) << what;
  }
}

TEST(shutdown_test, silent_client_does_not_hold_the_exit_past_the_grace) {
  server_process srv({"server.shutdown_grace_ms=1000"});
  auto p = make_player(srv.port(), "Mute");
  ws_client ws(srv.port(), p.token);
  ws.hello();
  // The client now neither reads nor answers the close handshake.
  auto e = srv.stop(10s);
  EXPECT_TRUE(e.exited);
  EXPECT_EQ(e.code, 0);
  EXPECT_FALSE(e.killed);
  EXPECT_LT(e.took.count(), 1000 + 2000);
  // What it was sent is there to read.
  EXPECT_TRUE(ws.recv_until("server.shutdown"));
  auto closed = ws.recv_until("session.closed");
  ASSERT_TRUE(closed);
  EXPECT_EQ(str(at(*closed, "data.reason")), "shutdown");
  EXPECT_TRUE(ws.wait_closed());
}

// Sends one HTTP/1.1 request on an already open socket and reads one response (status and body).
std::pair<int, std::string> request_on(boost::asio::ip::tcp::socket& sock, const std::string& req) {
  namespace asio = boost::asio;
  namespace http = boost::beast::http;
  asio::write(sock, asio::buffer(req));
  boost::beast::flat_buffer buf;
  http::response<http::string_body> res;
  boost::system::error_code ec;
  http::read(sock, buf, res, ec);
  if (ec) return {0, ec.message()};
  return {static_cast<int>(res.result_int()), res.body()};
}

TEST(shutdown_test, draining_refuses_new_work) {
  namespace asio = boost::asio;
  // A client that does not answer the close handshake keeps the server draining for the grace
  // (it reads only up to server.shutdown).
  server_process srv({"server.shutdown_grace_ms=1000"});
  auto p = make_player(srv.port(), "Holder");
  ws_client holder(srv.port(), p.token);
  holder.hello();
  // A keep-alive HTTP connection opened before the signal.
  asio::io_context ioc;
  asio::ip::tcp::socket kept(ioc);
  kept.connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(srv.port())});
  ASSERT_EQ(request_on(kept, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n").first, 200);

  ::kill(srv.pid(), SIGTERM);
  ASSERT_TRUE(holder.recv_until("server.shutdown"));
  // On the open connection: not ready, and writes are refused with 503 unavailable.
  auto ready = request_on(kept, "GET /ready HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(ready.first, 503) << ready.second;
  auto body = std::string(R"({"device_id":"device-while-draining"})");
  auto write = request_on(kept,
                          "POST /v1/auth/device HTTP/1.1\r\nHost: x\r\n"
                          "Content-Type: application/json\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\n\r\n" + body);
  EXPECT_EQ(write.first, 503) << write.second;
  EXPECT_NE(write.second.find("unavailable"), std::string::npos) << write.second;
  // A new connection is refused (or, if it raced the listener's close, answered 503).
  auto r = http_call(srv.port(), "POST", "/v1/auth/device",
                     json::serialize(json::object{{"device_id", "device-too-late"}}));
  EXPECT_TRUE(r.status == 0 || r.status == 503) << r.status << " " << r.body;
  auto e = srv.stop(10s);
  EXPECT_EQ(e.code, 0);
}

}  // namespace
}  // namespace maratang::it
