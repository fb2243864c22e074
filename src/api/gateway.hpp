// The application's front door: implements the network handler. REST endpoints live in
// rest_api.cpp, the realtime (WebSocket) message table in realtime_api.cpp. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "net/handler.hpp"
#include "proto/codec.hpp"
#include "proto/fields.hpp"
#include "util/clock.hpp"

namespace maratang::obs {
class metrics;
class metrics_history;
}  // namespace maratang::obs
namespace maratang::core {
class auth_service;
class account_store;
class audit_log;
}  // namespace maratang::core
namespace maratang::store {
class health;
}
namespace maratang::lobby {
class lobby;
class game_store;
struct companion;
}  // namespace maratang::lobby
namespace maratang::traces {
class trace_service;
}
namespace maratang::mystery {
struct mystery_services;
class casebook_store;
}  // namespace maratang::mystery

namespace maratang::competition {
class competition_store;
class season_schedule;
}  // namespace maratang::competition
namespace maratang::match {
class party_service;
class match_service;
}  // namespace maratang::match
namespace maratang::api {

class static_files;

struct gateway_options {
  unsigned json_depth_max = 32;
  int ws_message_max = 64 << 10;
  int ws_rate = 30;
  int ws_input_rate = 90;
  std::string docs_dir;  // Swagger UI assets (swagger-ui-dist) served under /docs
  std::string web_dir;   // the player's web client, served at / (web.public_dir)
  // Origins the player's pages may also connect to (Content-Security-Policy connect-src): the
  // SFU's API (media.janus_public_url). Space-separated; "" none.
  std::string web_connect_src;
  bool allow_seeds = false;  // rooms.allow_seeds
};

// The storage ports the gateway reads directly (the services own the rest).
struct gateway_stores {
  core::account_store& accounts;  // the account of a new connection
  core::audit_log& audit;         // GET /v1/admin/audit
  lobby::game_store& games;       // GET /v1/games/..., /v1/accounts/{id}/games|stats
  mystery::casebook_store& casebooks;
  store::health& health;  // GET /ready
};

// What the gateway tells, and asks, the other nodes (set when Redis joins nodes into one
// server; docs/ARCHITECTURE.md, "Redis"). Both may be empty: one node alone.
struct cluster_hooks {
  std::function<void(const std::string& session_id)> session_revoked;  // after a logout here
  std::function<bool()> ready;  // false: GET /ready answers 503 (the nodes cannot reach Redis)
  // After an admin's ban here (until_ms 0: lifted): the other nodes refuse the account too and
  // close its connections.
  std::function<void(std::int64_t account, epoch_ms until_ms, const std::string& reason)>
      account_banned;
  // An account's socket was attached here at `at`: the other nodes close theirs (one live socket
  // per account across the nodes; lobby::replaced_elsewhere).
  std::function<void(std::int64_t account, epoch_ms at)> account_connected;
  // The room directory (app/cluster.hpp). join_elsewhere: room.join for a room this node does
  // not hold; the reply is {moved: {node, ws, room_id}} or the error. seat_elsewhere: at hello,
  // for an account holding no seat here: {node, ws, room_id} when its seat is on another node,
  // else null. list_elsewhere: appends the other nodes' public rooms to room.list.
  struct join_request {
    std::string room_id, invite_code, password;
    bool spectate = false;
    // The sender's party following it (room.join party:true): ids and nicknames.
    std::vector<std::pair<std::int64_t, std::string>> party;
  };
  std::function<void(std::int64_t account, std::string nickname, join_request,
                     std::function<void(result<boost::json::object>)>)>
      join_elsewhere;
  std::function<void(std::int64_t account, std::function<void(boost::json::value)>)> seat_elsewhere;
  // At hello, when the account holds no seat: its party is kept by another node; done({node, ws,
  // room_id: null}) sends the client there, done(null) keeps it here.
  std::function<void(std::int64_t account, std::function<void(boost::json::value)>)>
      party_elsewhere;
  std::function<void(std::string_view mode, boost::json::array& rooms)> list_elsewhere;
  // An admin's kick of an account not connected here: the nodes holding its seat or socket act
  // on it; the reply is {room_id, connected} as they saw it, or the error.
  std::function<void(std::int64_t account, std::string message,
                     std::function<void(result<boost::json::object>)>)>
      kick_elsewhere;
};

// What the admin console shows of this process beside the lobby (admin_api.cpp), set by the
// composition root.
struct admin_info {
  std::string node;     // this node's id (node.id)
  std::string address;  // where it listens: host name and port
  epoch_ms started_at = 0;
  std::string config_json;  // app::describe(): every setting with its source, secrets redacted
  std::string storage;      // the backend's name: "sqlite", "postgresql", "memory"
  bool redis = false;       // redis.url is set
  bool kafka = false;       // kafka.brokers is set
  const obs::metrics_history* history = nullptr;  // null: no charts
  // {scenarios:[{folder, loaded, errors, id?, title?, language?}], llm:[{endpoint, breaker,
  // calls, ok, failed, retries, timeouts, in_flight}]} as JSON text; empty: no Mystery.
  std::function<std::string()> mystery_status;
  // {mode: mesh|sfu|auto, sfu: null | {up, checked_at, games, resyncs, error?}} as JSON text.
  std::function<std::string()> media_status;
  // With several nodes: [{id, route, alive, rooms, self, matchmaker}] as JSON text
  // (app::cluster_node:: nodes_json); empty: one node.
  std::function<std::string()> nodes_status;
};

class gateway final : public net::handler {
 public:
  gateway(core::auth_service& auth, lobby::lobby& lobby, gateway_stores stores, obs::metrics& m,
          const clock& clk, gateway_options opts);

  void on_http(net::http_request req, net::http_responder respond) override;
  result<net::ws_identity> on_ws_upgrade(const net::http_request& req) override;
  void on_ws_open(const std::shared_ptr<net::connection>& c) override;
  bool realtime(std::string_view msg, bool binary) const override;
  void on_ws_message(const std::shared_ptr<net::connection>& c, std::string_view msg, bool realtime,
                     bool binary) override;
  void on_ws_refused(const std::shared_ptr<net::connection>& c, errc why,
                     std::string_view text) override;
  void on_ws_close(const std::shared_ptr<net::connection>& c) override;

  // Serves the traces endpoints through `t` (traces_api.cpp). Call once, before serving.
  void set_traces(traces::trace_service* t) { traces_ = t; }
  // Serves the Mystery endpoints (mystery_api.cpp). Call once, before serving.
  void set_mystery(const mystery::mystery_services* m) { mystery_ = m; }

  // Serves ratings and leaderboards (competition_api.cpp) from `store`, with seasons by
  // `seasons`; both must outlive the gateway. Call once, before serving. Without it, those
  // requests answer unavailable.
  void set_competition(competition::competition_store* store,
                       const competition::season_schedule* seasons) {
    competition_ = store;
    seasons_ = seasons;
  }

  // Serves parties and the matchmaker (party_api.cpp); both must outlive the gateway. Call once,
  // before serving. Without them, those requests answer unavailable.
  void set_matchmaking(match::party_service* parties, match::match_service* matches) {
    parties_ = parties;
    matches_ = matches;
  }

  // Joins this node to the others. Call once, before serving.
  void set_cluster(cluster_hooks h) { cluster_ = std::move(h); }

  // Describes this process to admins. Call once, before serving.
  void set_admin_info(admin_info a) { admin_ = std::move(a); }

  // Refuse new work (503 / unavailable) from now on: the server is shutting down.
  void set_draining() { draining_ = true; }

  // One realtime request in flight.
  struct request {
    std::shared_ptr<net::connection> conn;
    std::string type;
    boost::json::value id;
    boost::json::object data;           // as received (a game message goes to its room so)
    std::optional<proto::fields> args;  // a core message's data, checked against its fields
    epoch_ms received_ms;
  };
  using ws_handler = void (gateway::*)(request&);

 private:
  // Realtime handlers (realtime_api.cpp).
  void on_hello(request& r);
  void on_time_sync(request& r);
  void on_room_list(request& r);
  // room.list and GET /v1/rooms: this node's public rooms and, with several nodes, the others',
  // by id.
  boost::json::array room_list(std::string_view mode) const;
  void on_room_create(request& r);
  void on_room_join(request& r);
  // party:true on room.create and room.join: once the matchmaker confirmed the sender leads a
  // party that is not matchmaking, `go(request, the other members)`; else its error is the reply.
  // room.join party:true of a room of another node (cluster_.join_elsewhere with the party):
  // `members` as lobby::companions_here read them before the join.
  void party_join_elsewhere(std::shared_ptr<request> shared, std::vector<std::int64_t> others,
                            std::string leader_name, result<std::vector<lobby::companion>> members,
                            cluster_hooks::join_request elsewhere);
  void with_party(request& r,
                  std::function<void(std::shared_ptr<request>, std::vector<std::int64_t>)> go);
  void on_room_leave(request& r);
  void on_room_ready(request& r);
  void on_room_kick(request& r);
  void on_room_invite(request& r);
  // The account a room or party invitation names (`player`, or `nickname` of one online here);
  // nullopt after answering the request's error.
  std::optional<std::int64_t> invite_target(request& r);
  // room.invite by a nickname nobody connected to this node has, with several nodes.
  void invite_by_stored_nickname(request& r, std::string nickname);
  void on_room_transfer(request& r);
  void on_room_start(request& r);
  void on_room_chat(request& r);
  // Ratings and leaderboards (competition_api.cpp).
  void on_leaderboard_get(request& r);
  void on_leaderboard_around(request& r);
  void on_rating_get(request& r);
  // Parties and the matchmaker (party_api.cpp).
  void on_party_create(request& r);
  void on_party_invite(request& r);
  void on_party_accept(request& r);
  void on_party_join(request& r);
  void on_party_leave(request& r);
  void on_party_kick(request& r);
  void on_party_transfer(request& r);
  void on_party_chat(request& r);
  void on_party_get(request& r);
  void on_match_start(request& r);
  void on_match_cancel(request& r);
  void on_match_join(request& r);
  void answer_hello(const std::shared_ptr<net::connection>& c, boost::json::value id);
  void reply(const request& r, result<boost::json::object> res);
  void send_error(const std::shared_ptr<net::connection>& c, std::string_view type,
                  const boost::json::value& id, const error& e);

  // REST (rest_api.cpp).
  void route_http(net::http_request& req, const net::http_responder& respond);
  // Traces (traces_api.cpp) and API docs (docs_api.cpp): true when the path was theirs.
  bool route_traces(net::http_request& req, const net::http_responder& respond);
  bool route_docs(net::http_request& req, const net::http_responder& respond);
  bool route_mystery(net::http_request& req, const net::http_responder& respond);
  bool route_admin(net::http_request& req, const net::http_responder& respond);
  bool route_competition(net::http_request& req, const net::http_responder& respond);
  // One admin request, the caller known to be admin `admin` (admin_api.cpp).
  struct admin_call;
  void run_admin(const admin_call& call, std::int64_t admin, const net::http_responder& respond);
  // The web client's files (docs_api.cpp): true when `req` named one.
  void init_static_files();
  bool route_static(net::http_request& req, const net::http_responder& respond);

  core::auth_service& auth_;
  lobby::lobby& lobby_;
  gateway_stores stores_;
  obs::metrics& metrics_;
  const clock& clock_;
  gateway_options opts_;
  std::unordered_map<std::string_view, ws_handler> ws_table_;
  std::atomic<bool> draining_{false};
  traces::trace_service* traces_ = nullptr;
  cluster_hooks cluster_;
  admin_info admin_;
  const mystery::mystery_services* mystery_ = nullptr;
  competition::competition_store* competition_ = nullptr;
  const competition::season_schedule* seasons_ = nullptr;
  match::party_service* parties_ = nullptr;
  match::match_service* matches_ = nullptr;
  std::shared_ptr<static_files> web_files_;   // web_dir
  std::shared_ptr<static_files> docs_files_;  // docs_dir
};

}  // namespace maratang::api
