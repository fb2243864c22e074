// Several nodes as one server (issue 16): node membership, the room directory, the seat directory,
// seat reservations and delivery across nodes, on Redis (docs/ARCHITECTURE.md, "Redis").
//
// - Membership: every node keeps `maratang:node:<id>` alive (SET ... PX node_ttl_ms, renewed
//   every heartbeat_ms) with its route, and its id in the set `maratang:nodes`. A node whose key
//   has expired is dead: its rooms leave every listing and joins to them are refused.
// - Room directory: each node keeps the hash `maratang:rooms:<id>` (room id -> summary and invite
//   code) of its own rooms, and announces every change on the channel `maratang:rooms`. Every
//   node mirrors the others' hashes in memory (listings and lookups never wait on Redis), and
//   reads them all again when either of its connections to Redis comes back (a notice published
//   while the subscriber was away is lost) and every resync_ms, so a missed notice is corrected
//   within that time.
// - Seat directory: the hash `maratang:seats` (account -> room id). A hello on a node where the
//   account holds no seat asks it, and a seat in another node's room sends the client there.
// - Reservations: a room.join through node B for a room of node A is a request on A's channel
//   `maratang:node:<A>`; A seats the player without a connection (lobby::reserve) and answers on
//   B's channel; B answers the client with `moved` {node, ws}: the path through which nginx
//   reaches A (node.route). The client connects there with the same token and its hello resumes
//   the seat. A reservation not taken in rooms.reservation_ms frees the seat.
// - Presence and delivery: the hash `maratang:presence` (account -> node of its socket). A
//   message for a player connected elsewhere (an invitation, a kick) is a `deliver` or `kick`
//   request on that node's channel, answered like a reservation (at most once: pub/sub).
// - Matchmaker: one node runs the matchmaker of the cluster, holding the lease
//   `maratang:matchmaker` (SET NX PX node_ttl_ms, renewed every heartbeat; given up when the node
//   stops or drains). The others send it their tickets as mm.* requests on its channel
//   (match/match_service.hpp).
//
// Redis never holds the only copy of anything: the directory is rebuilt from the nodes' memory
// whenever Redis comes back (each node writes its own part again).
//
// Thread-safety: every public method may be called from any thread; callbacks run on the Redis
// client's strand or the caller's thread, never under this object's lock.
#pragma once

#include <boost/json/fwd.hpp>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.hpp"

namespace boost::asio {
class io_context;
}
namespace maratang::redis {
class client;
}
namespace maratang::lobby {
class lobby;
struct lobby_listener;
struct join_params;
}  // namespace maratang::lobby

namespace maratang::app {

struct cluster_options {
  std::string node_id;
  // The path prefix through which clients reach this node only (nginx's /node/N), e.g. "/node/1";
  // empty: other nodes cannot send players here.
  std::string route;
  int heartbeat_ms = 500;
  int node_ttl_ms = 2000;
  int resync_ms = 10000;
  int request_timeout_ms = 3000;
};

class cluster_node {
 public:
  // `cmd` sends commands; `sub` is the subscribed client, whose messages the caller hands to
  // on_message (the caller subscribes to channels(): one client carries every channel).
  cluster_node(boost::asio::io_context& io, std::shared_ptr<redis::client> cmd,
               std::shared_ptr<redis::client> sub, lobby::lobby& lob, cluster_options o);
  ~cluster_node();
  cluster_node(const cluster_node&) = delete;
  cluster_node& operator=(const cluster_node&) = delete;

  // The channels this node listens on.
  std::vector<std::string> channels() const;
  // A pub/sub message on one of channels(); false when the channel is not one of them.
  bool on_message(std::string_view channel, std::string_view payload);
  // The commands connection came up (true) or went down.
  void on_state(bool up);
  // The subscriber's connection came up again: notices published while it was down are lost
  // (pub/sub), so the others' directories are read again now rather than at the next resync.
  void on_subscriber_up();
  // Starts the heartbeat; call once, after the lobby is ready and before serving.
  void start();
  void stop();

  // What the lobby tells this node (lobby::set_listener).
  lobby::lobby_listener listener();

  // room.join for a room this node does not hold. `reply` gets {moved: {node, ws}} once the room's
  // node reserved the seat (with `p.party`: the seats of the leader and the whole party, all or
  // none), or the error it gave (unknown_room when no live node has the room;
  // unavailable when its node does not answer in time or has no route).
  void join_elsewhere(std::int64_t account, std::string nickname, const lobby::join_params& p,
                      std::function<void(result<boost::json::object>)> reply);
  // An admin's kick of an account that is not connected here: the nodes where its socket is
  // (the presence directory) and where its seat is (the seat directory) give up the seat and
  // close the socket. reply: {room_id, connected} as they saw it; unavailable when Redis or one
  // of them does not answer (and nothing says the socket was closed).
  void kick_elsewhere(std::int64_t account, std::string message,
                      std::function<void(result<boost::json::object>)> reply);
  // Deploy (SIGTERM): every room of this node leaves it (room::hand_over with a final snapshot),
  // the snapshots are committed, and the live node with the fewest rooms claims and restores
  // them. done(rooms, taken) — taken false when no other node took them (they stay stored under
  // this node's id: its next start restores them). Then tell the clients to reconnect.
  void drain(int timeout_ms, std::function<void(int rooms, bool taken)> done);
  // The account's seat, when it is in a room of another live node: {node, ws, room_id}; when its
  // node died and its rooms are being taken over, {node: null, ws: "/ws", room_id,
  // retry_after_ms}; else null.
  void seat_elsewhere(std::int64_t account, std::function<void(boost::json::value moved)> done);
  // The public rooms of the other live nodes (filtered by mode when not empty), as room.list
  // shows them.
  void list_elsewhere(std::string_view mode, boost::json::array& out) const;
  // Every node known, this one first, for the admin console: [{id, route, alive, rooms, self,
  // matchmaker}] (rooms: this node's from its lobby, the others' from the mirror; a dead node's are
  // 0).
  boost::json::array nodes_json() const;
  // The node holding the matchmaker's lease (this node's own id when it does); empty while Redis is
  // away or before the first heartbeat.
  std::string matchmaker() const;
  // Before start(): mm.* requests from other nodes go to `on_request`; `lead_moved(old)` runs
  // when the lease passed from `old` to another node (on the Redis client's strand).
  void set_matchmaking(
      std::function<void(boost::json::object, std::function<void(result<boost::json::object>)>)>
          on_request,
      std::function<void(std::string old_lead)> lead_moved);
  // A request (msg with its op) to `node`, answered once: its reply or error, unavailable when it
  // does not answer in request_timeout_ms.
  void ask(const std::string& node, boost::json::object msg,
           std::function<void(result<boost::json::object>)> reply);
  // Parties (match/party_service.hpp, "Several nodes"). Before start(): party.* requests from
  // other nodes go to `on_request`; `republish` writes every party's directory entries again
  // (called when the connection to Redis comes back).
  void set_parties(
      std::function<void(boost::json::object, std::function<void(result<boost::json::object>)>)>
          on_request,
      std::function<void()> republish);
  // The node of a party by its directory key ("id:<id>", "code:<code>"): "" when no live node
  // holds it; unavailable when Redis does not answer.
  void party_locate(std::string key, std::function<void(result<std::string>)> done);
  // Writes (present) or removes, if they still name this node, directory entries of this node's
  // parties: party keys and member accounts.
  void party_publish(std::vector<std::string> keys, std::vector<std::int64_t> members,
                     bool present);
  // The node of the party the account is in, per the directory ("" none, or Redis away).
  void party_home(std::int64_t account, std::function<void(std::string node)> done);
  // {node, ws, room_id: null} for a live routed node, or null.
  boost::json::value route_of(const std::string& node) const;
  // At hello: the account is in a party of another live node: {node, ws, room_id: null}; else null.
  void party_elsewhere(std::int64_t account, std::function<void(boost::json::value moved)> done);
  // Gives the matchmaker's lease up for good (drain, stop): another node takes it.
  void give_up_lead();
  // Live nodes known (this one included) and rooms mirrored from the others.
  std::size_t live_nodes() const;
  std::size_t mirrored_rooms() const;

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace maratang::app
