// The matchmaker as a service: takes tickets from players and parties, runs the matchmaker
// (matchmaker.hpp) every interval on the parties' strand, and turns each match into a room: it
// creates the room through the lobby, reserves every seat (lobby::reserve), tells each player
// match.found, and starts the game once everyone has joined (match.join). A player who does not
// join in time frees the seat; the match is dissolved, that player's ticket ends (no_show) and
// the others are queued again at the front. An actor on party_service's strand; public methods
// post to it and return at once.
//
// Several nodes (set_peers): one node runs the matchmaker of the whole cluster (the lead, elected
// in Redis by app/cluster.cpp). Every node checks its own players' match.start as on one node and
// forwards the ticket to the lead (mm.ticket), and its cancels, disconnects and party changes
// after it (mm.cancel, mm.end). The lead matches every ticket of the cluster and has the room made
// on the node most of the match's players are connected to (mm.host: that node makes it and
// reserves the seats; on its own node when that one does not answer); match.found reaches each
// player wherever they are connected, and a match.join through another node is sent to the room's
// node (`moved`), where the hello takes the seat (seated(): mm.joined tells the lead). The lead
// keeps the match until it starts (mm.start) or is dissolved (mm.dissolve). When a ticket of
// another node ends or its game starts, that node is told (mm.gone). When the lead changes, the
// tickets the old one held end (match.cancelled, reason failed) unless it still answers for them.
#pragma once

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "lobby/lobby.hpp"
#include "match/matchmaker.hpp"
#include "match/party_service.hpp"
#include "net/connection.hpp"

namespace maratang::match {

struct match_options {
  int interval_ms = 1000;       // one matching pass per interval
  int join_timeout_ms = 20000;  // a matched player joins within this, or is a no-show
  matchmaker_options mm;
};

// Reads a player's rating under a key: calls back (on any thread) with {mu, sigma} or nothing
// (unrated, or the store failed). Null: every ticket is unrated (random pick).
using rating_reader = std::function<void(
    player_id p, std::string key, std::function<void(std::optional<std::pair<double, double>>)>)>;

// What a client asks for (match.start): checked by the api; bounds 0 take the mode's.
struct ticket_request {
  std::string mode;
  properties props;
  query q;
  int min_players = 0;
  int max_players = 0;
  // The room's settings (validated by the mode; no seed): tickets match only others asking for
  // the same. Empty: the mode's defaults.
  boost::json::object settings;
};

// How match_service reaches the other nodes (null members: one node).
struct match_peers {
  std::string self;  // this node's id
  // The node running the cluster's matchmaker now; empty when nobody knows (Redis is away).
  std::function<std::string()> lead;
  // A request to `node`'s match_service (its on_request), answered once: its reply, its error,
  // or unavailable when it does not answer in time.
  std::function<void(const std::string& node, boost::json::object msg,
                     std::function<void(result<boost::json::object>)> answer)>
      ask;
};

class match_service {
 public:
  match_service(boost::asio::io_context& ioc, lobby::lobby& lob, party_service& parties,
                const clock& clk, rating_reader ratings, match_options opts);
  ~match_service();

  // Starts the matching passes. Call once, after construction.
  void start();
  // Stops the passes (shutdown); pending requests still answer.
  void stop();

  // match.start: a ticket for `p` alone, or for p's party (p must lead it); replies {ticket,
  // mode, players}. Errors: already_matchmaking (p or a member queued or matched already),
  // out_of_order (a member offline or in a room), not_leader, already_in_room, unknown_mode,
  // bad_field, nickname_required.
  void enqueue(player_id p, ticket_request req, lobby::reply_fn reply);
  // match.cancel: ends p's ticket (a party's: its leader or any member); not_matchmaking when
  // none, match_formed when it became a match already.
  void cancel(player_id p, lobby::reply_fn reply);
  // room.create / room.join with party:true: p must lead a party none of whose members is
  // matchmaking; done(the other members), or not_in_party, not_leader, already_matchmaking.
  void party_companions(player_id p, std::function<void(result<std::vector<player_id>>)> done);
  // match.join: takes the seat reserved for p in its match's room; replies {room: snapshot}.
  void join(player_id p, std::shared_ptr<net::connection> c, lobby::reply_fn reply);
  // The account went offline: its ticket (its party's) ends with reason "disconnected".
  void disconnected(player_id p);
  // A party's membership changed: its ticket ends ("party_changed").
  void party_changed(std::int64_t party_id);

  // Several nodes: how to reach the others (before start()).
  void set_peers(match_peers peers) { peers_ = std::move(peers); }
  // A request from another node (mm.ticket, mm.cancel, mm.end); `answer` exactly once.
  void on_request(boost::json::object msg, std::function<void(result<boost::json::object>)> answer);
  // The cluster's matchmaker moved away from `old_lead`: the tickets forwarded to it end there
  // (it is told, when it still answers) and, when it does not answer, here (reason failed). When
  // `old_lead` is this node, every ticket still queued here ends (failed).
  void lead_changed(std::string old_lead);
  // A hello resumed p's seat on this node: when it is the seat of p's match, p has joined it
  // (the match.join that moved p here is answered by that hello).
  void seated(player_id p);

  // Runs one pass now (tests and the timer), on the strand.
  void run_once();

  // Counters for /metrics (any thread).
  struct stats {
    std::atomic<std::int64_t> queued{0}, matched{0}, expired{0}, no_shows{0}, requeued{0},
        started{0};
  };
  const stats& counters() const noexcept { return stats_; }
  std::size_t waiting() const noexcept { return waiting_.load(); }

 private:
  struct pending {
    std::string id;
    std::string mode;
    std::vector<ticket> tickets;
    std::string host;  // the node making the room ("" this one)
    std::string room_id;
    player_id leader = 0;              // the room's creator
    std::map<player_id, bool> joined;  // every player: took the seat
    std::unique_ptr<boost::asio::steady_timer> deadline;
    // match.found sent again to players it did not reach (tell_found).
    std::vector<std::shared_ptr<boost::asio::steady_timer>> retries;
    epoch_ms join_by = 0;
  };

  template <class F>
  void on_strand(F&& f);
  void schedule();
  void form(match m);
  // The node where a match's room is made: the one most of its players are connected to (ties
  // taken in turn); "" this one.
  std::string host_for(const std::vector<ticket>& tickets);
  // Makes a pending match's room on this node.
  void host_here(const std::string& match_id);
  // A match's room on this node: private, ranked, as large as the match, with `settings` (JSON
  // text, "" the mode's defaults); the first player's seat held without a connection, every
  // other's reserved. `done` (on the strand): the room and the players whose seat could not be
  // reserved, or why the room was not made.
  struct made_room {
    std::string room_id;
    std::vector<player_id> failed;
  };
  void make_room(const std::string& match_id, const std::string& mode, const std::string& settings,
                 std::vector<player_id> players, std::function<void(result<made_room>)> done);
  // The match's room is made and its seats reserved (but `failed`): everyone is told, or, when a
  // seat could not be reserved, the match is dissolved.
  void on_reserved(const std::string& match_id, std::string room_id,
                   const std::vector<player_id>& failed);
  void start_game(pending& pm);
  // Ends a pending match: everyone leaves its room; the tickets holding an `absent` player end
  // with `reason` (all of them when reason is "failed"), the others go back to the front.
  void dissolve(const std::string& match_id, std::vector<player_id> absent,
                std::string_view reason);
  // Tells the ticket's players it ended (match.cancelled) and its node it is gone.
  void end_ticket(const ticket& t, std::string_view reason);
  // The node a ticket came from forgets it (mm.gone): it ended, or its game started.
  void tell_gone(const ticket& t);
  // A host: tells `lead` that p took its seat in match `match_id`'s room (mm.joined), again while
  // the lead does not answer and the room is still held here (`tries` left).
  void tell_joined(const std::string& match_id, player_id p, int tries);
  // A host: the room of a match made here for another node's matchmaker; everyone leaves it
  // (an empty room closes) and it is forgotten.
  void drop_hosted(const std::string& match_id, bool leave);
  void send(player_id p, std::string_view type, const boost::json::object& data);
  // Queues a checked ticket here (the lead, or one node); replies {ticket, mode, players}.
  void queue_here(ticket t, lobby::reply_fn reply);
  // Sends a checked ticket to the lead; replies as queue_here.
  void forward(std::string lead, ticket t, lobby::reply_fn reply);
  void cancel_here(player_id p, lobby::reply_fn reply);
  // Ends the live tickets holding any of `players` with `reason` (everyone of them is told).
  void end_tickets_of(const std::vector<player_id>& players, std::string_view reason);
  void mark_joined(const std::string& match_id, player_id p);
  // Strand only: p has a ticket here, one being queued, or a formed match.
  bool queued_or_matched(player_id p) const;
  // Sends match.found to p, again every half second while it is not delivered (join_by).
  void tell_found(const std::string& match_id, player_id p, proto::frame f);
  // The lead to forward to: empty when this node matches (no peers, or it leads); unavailable
  // when nobody knows.
  result<std::string> remote_lead() const;

  boost::asio::io_context& ioc_;
  lobby::lobby& lobby_;
  party_service& parties_;
  const clock& clock_;
  rating_reader ratings_;
  match_options opts_;
  matchmaker mm_;
  boost::asio::steady_timer timer_;
  bool stopped_ = false;
  std::uint64_t next_match_ = 1;
  std::map<std::string, pending> pending_;
  std::unordered_map<player_id, std::string> match_of_;        // players of pending matches
  std::unordered_map<player_id, int> enqueuing_;               // ratings being read for a ticket
  std::unordered_map<std::int64_t, ticket_id> party_tickets_;  // party -> its latest ticket
  // Several nodes: tickets of this node's players held by another node's matchmaker.
  struct forwarded {
    std::string lead;
    std::vector<player_id> players;
    std::int64_t party = 0;
    ticket_id ticket = 0;  // its id at the lead
  };
  // Several nodes: the rooms made here for the lead's matches (mm.host), until the lead starts or
  // dissolves them, or join_timeout_ms and a margin pass (a lead that died).
  struct hosted {
    std::string lead;
    std::string room_id;
    std::vector<player_id> players;  // the room's creator first
    std::unique_ptr<boost::asio::steady_timer> expiry;
  };
  std::map<std::string, hosted> hosted_;                  // match id -> its room here
  std::unordered_map<player_id, std::string> hosted_of_;  // players of those matches
  std::set<std::string> dissolved_early_;  // dissolved before their room was made here
  std::size_t host_turn_ = 0;              // ties between nodes, in turn
  match_peers peers_;
  std::unordered_map<player_id, std::shared_ptr<forwarded>> forwarded_;
  std::unordered_map<std::int64_t, std::shared_ptr<forwarded>> forwarded_parties_;
  void forget(const std::shared_ptr<forwarded>& f);
  // Forgets a forwarded ticket and tells its lead to end it (mm.end, `reason`).
  void end_forwarded(std::shared_ptr<forwarded> f, std::string_view reason);
  stats stats_;
  std::atomic<std::size_t> waiting_{0};
};

}  // namespace maratang::match
