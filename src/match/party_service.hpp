// Parties: a few accounts that play together. Create, invite (by account, or by the party's
// code), accept, leave, kick, transfer leadership, chat; one party per account; each member sees
// the others' presence (online, and the room they sit in). An actor: every public method posts to
// its strand and returns at once; its state is touched only there. The matchmaker
// (match_service) runs on the same strand and reads parties through the strand-only accessors.
//
// Several nodes (set_peers): a party lives on the node where it was made, and its members play
// from there. Its id and code, and each member, are in a directory in Redis (app/cluster.cpp).
// party.accept or party.join through another node asks the party's node (party.accept,
// party.join requests); the reply carries `moved`, and the client reconnects there. Invitations,
// kicks and party events reach members on any node (lobby::deliver_anywhere). A member connected
// to another node (sitting in a room there) is shown as that node reports it: its presence
// changes are sent to the party's node (party.presence requests).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/json/object.hpp>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "lobby/lobby.hpp"
#include "proto/codec.hpp"
#include "util/clock.hpp"
#include "util/error.hpp"

namespace maratang::match {

using player_id = std::int64_t;

struct party_options {
  int max_size = 8;             // members at most
  int invite_ttl_ms = 300'000;  // an invitation by account is good this long
  int chat_history = 20;        // chat lines kept for party.get
};

// How party_service reaches the other nodes (null members: one node).
struct party_peers {
  std::string self;  // this node's id
  // The node holding the party of a directory key ("id:<id>" or "code:<code>"): done(node), ""
  // when no live node holds it, or unavailable when Redis does not answer. Any thread.
  std::function<void(std::string key, std::function<void(result<std::string>)> done)> locate;
  // Writes (present) or removes this node's directory entries: party keys and member accounts.
  std::function<void(std::vector<std::string> keys, std::vector<std::int64_t> members,
                     bool present)>
      publish;
  // A request to `node`'s party_service (its on_request), answered once.
  std::function<void(const std::string& node, boost::json::object msg,
                     std::function<void(result<boost::json::object>)> answer)>
      ask;
  // Where clients reach `node`: {node, ws}, or null when it is not alive or has no route.
  std::function<boost::json::value(const std::string& node)> route_of;
  // The node of the party `p` is in, per the directory: done(node), or "" when none (or Redis
  // does not answer). Any thread.
  std::function<void(std::int64_t p, std::function<void(std::string)> done)> party_node;
};

class party_service {
 public:
  struct party {
    std::int64_t id = 0;
    std::string code;  // joins without an invitation (party.join)
    player_id leader = 0;
    std::vector<player_id> members;                   // in the order they joined
    std::unordered_map<player_id, epoch_ms> invited;  // account -> invitation expiry
    std::deque<boost::json::object> chat;
  };
  using strand_type = boost::asio::strand<boost::asio::io_context::executor_type>;

  party_service(boost::asio::io_context& ioc, lobby::lobby& lob, const clock& clk,
                party_options opts);

  // Requests. Each replies exactly once, on the strand. Replies with a party carry
  // {party: party_json}.
  void create(player_id p, lobby::reply_fn reply);
  void invite(player_id p, player_id target, lobby::reply_fn reply);
  void accept(player_id p, std::int64_t party_id, lobby::reply_fn reply);
  void join_by_code(player_id p, std::string code, lobby::reply_fn reply);
  void leave(player_id p, lobby::reply_fn reply);
  void kick(player_id p, player_id target, lobby::reply_fn reply);
  void transfer(player_id p, player_id target, lobby::reply_fn reply);
  void chat(player_id p, std::string text, lobby::reply_fn reply);
  void get(player_id p, lobby::reply_fn reply);
  // Presence: `p` came online, went offline, or took or gave up a seat (any thread). Members of
  // p's party get party.presence.
  void presence_changed(player_id p);

  // Several nodes: how to reach the others (before serving).
  void set_peers(party_peers peers) { peers_ = std::move(peers); }
  // A request from another node (party.accept, party.join for a player connected there);
  // `answer` exactly once.
  void on_request(boost::json::object msg, std::function<void(result<boost::json::object>)> answer);
  // Writes every party's directory entries again (Redis came back and may have lost them).
  void republish();

  // Strand only (match_service).
  strand_type& strand() noexcept { return strand_; }
  const party* party_of(player_id p) const;
  const party* party_of_id(std::int64_t id) const;
  // Called on the strand after a party's membership changed or it was disbanded, so that a
  // matchmaking ticket of it can end.
  void set_on_changed(std::function<void(std::int64_t party_id)> fn) {
    on_changed_ = std::move(fn);
  }
  // A party as clients see it: {id, code, leader, max_size, members:[{id, nickname, online,
  // room_id}]}.
  boost::json::object party_json(const party& pt) const;
  // Sends an event to every member of the party (but `except`).
  void send_party(const party& pt, std::string_view type, const boost::json::object& data,
                  player_id except = 0);

 private:
  template <class F>
  void on_strand(F&& f);
  party* find_party_of(player_id p);
  boost::json::object member_json(player_id p) const;
  // Takes p out of their party (the leader's role passes on; an empty party is gone).
  void remove_member(party& pt, player_id p, std::string_view reason);
  std::string new_code();
  std::int64_t new_id();
  // party.accept / party.join of a party this node does not hold: asked of its node, found by
  // the directory `key`; the reply gains `moved`.
  void join_elsewhere(player_id p, std::string key, boost::json::object msg, lobby::reply_fn reply);
  void publish(const party& pt, std::vector<player_id> members, bool present);
  void deliver(player_id p, proto::frame f);
  // Sends p's presence here to the node of p's party (p is in no party of this node).
  void report_presence(player_id p);

  boost::asio::io_context& ioc_;
  lobby::lobby& lobby_;
  const clock& clock_;
  party_options opts_;
  strand_type strand_;
  party_peers peers_;
  std::map<std::int64_t, party> parties_;
  std::unordered_map<player_id, std::int64_t> party_of_;
  std::unordered_map<std::string, std::int64_t> codes_;
  std::function<void(std::int64_t)> on_changed_;
  // Members connected to another node, as it last reported them: {online, room_id}.
  struct far_presence {
    bool online = false;
    boost::json::value room_id;
  };
  std::unordered_map<player_id, far_presence> far_;
};

}  // namespace maratang::match
