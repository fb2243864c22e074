// Parties: a few accounts that play together. Create, invite (by account, or by the party's
// code), accept, leave, kick, transfer leadership, chat; one party per account; each member sees
// the others' presence (online, and the room they sit in). An actor: every public method posts to
// its strand and returns at once; its state is touched only there. The matchmaker
// (match_service) runs on the same strand and reads parties through the strand-only accessors.
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
#include "util/clock.hpp"
#include "util/error.hpp"

namespace maratang::match {

using player_id = std::int64_t;

struct party_options {
  int max_size = 8;             // members at most
  int invite_ttl_ms = 300'000;  // an invitation by account is good this long
  int chat_history = 20;        // chat lines kept for party.get
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

  boost::asio::io_context& ioc_;
  lobby::lobby& lobby_;
  const clock& clock_;
  party_options opts_;
  strand_type strand_;
  std::int64_t next_id_ = 1;
  std::map<std::int64_t, party> parties_;
  std::unordered_map<player_id, std::int64_t> party_of_;
  std::unordered_map<std::string, std::int64_t> codes_;
  std::function<void(std::int64_t)> on_changed_;
};

}  // namespace maratang::match
