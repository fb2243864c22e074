#include "app/cluster.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/json.hpp>
#include <limits>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "lobby/lobby.hpp"
#include "lobby/room.hpp"
#include "redis/client.hpp"

namespace maratang::app {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr const char* kNodes = "maratang:nodes";
constexpr const char* kSeats = "maratang:seats";
constexpr const char* kRoomsChannel = "maratang:rooms";
// The presence directory: account -> the node its socket is connected to.
constexpr const char* kPresence = "maratang:presence";
// The party directory (match/party_service.hpp): "id:<id>" and "code:<code>" -> the party's node,
// and account -> the node of its party.
constexpr const char* kParties = "maratang:parties";
constexpr const char* kPartyMembers = "maratang:party_members";

// Deletes fields of a hash that still name this node. KEYS[1]: the hash; ARGV[1]: the node;
// ARGV[2..]: the fields.
constexpr const char* kReleaseFields = R"lua(
local n = 0
for i = 2, #ARGV do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[1] then
    n = n + redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return n
)lua";

// The node that runs the cluster's matchmaker (match_service): a lease renewed every heartbeat.
constexpr const char* kMatchmaker = "maratang:matchmaker";

// Takes or renews the matchmaker's lease; returns its holder. KEYS[1]: the lease; ARGV[1]: this
// node; ARGV[2]: its time to live (ms).
constexpr const char* kLead = R"lua(
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return cur
end
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ARGV[1]
end
return cur
)lua";

// Gives the lease up when this node holds it (a node stopping or draining).
constexpr const char* kUnlead = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
)lua";

std::string node_key(std::string_view id) {
  return fmt::format("maratang:node:{}", id);
}
std::string rooms_key(std::string_view id) {
  return fmt::format("maratang:rooms:{}", id);
}
std::string node_channel(std::string_view id) {
  return fmt::format("maratang:node:{}", id);
}
// A node whose rooms another node claimed: when it hears of it (cut off, then back), it drops them.
std::string fenced_key(std::string_view id) {
  return fmt::format("maratang:fenced:{}", id);
}
std::string takeover_key(std::string_view id) {
  return fmt::format("maratang:takeover:{}", id);
}
// A seat as the seat directory holds it: "<room> <node>".
std::string seat_value(std::string_view room, std::string_view node) {
  return fmt::format("{} {}", room, node);
}

// Removes a seat only if it still names this room on this node (a seat taken since in another
// room, or in this room restored on another node, stays). KEYS[1]: the seats hash; ARGV[1]: the
// account; ARGV[2]: "<room> <node>".
constexpr const char* kReleaseSeat = R"lua(
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
)lua";

// Rewrites a node's part of the presence directory: every entry naming the node goes, then the
// accounts given are set to it. KEYS[1]: the presence hash; ARGV[1]: the node; ARGV[2..]: the
// accounts connected to it (none: the node is gone).
constexpr const char* kPresenceOfNode = R"lua(
local keep = {}
for i = 2, #ARGV do keep[ARGV[i]] = true end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if all[i + 1] == ARGV[1] and not keep[all[i]] then redis.call('HDEL', KEYS[1], all[i]) end
end
for i = 2, #ARGV do redis.call('HSET', KEYS[1], ARGV[i], ARGV[1]) end
return 0
)lua";

// A room as the directory holds it.
json::object room_json(const lobby::room_summary& s, const std::string& invite) {
  auto o = lobby::summary_json(s);
  o["private"] = s.is_private;
  o["invite"] = invite;
  return o;
}

struct mirrored_room {
  lobby::room_summary s;
  std::string invite;
};

// Throws what json throws on a malformed entry (the caller skips it).
mirrored_room room_of_json(const json::object& o) {
  mirrored_room m;
  m.s.id = o.at("id").as_string();
  m.s.name = o.at("name").as_string();
  m.s.mode = o.at("mode").as_string();
  m.s.state = o.at("state").as_string();
  m.s.players = o.at("players").to_number<int>();
  m.s.capacity = o.at("capacity").to_number<int>();
  m.s.has_password = o.at("has_password").as_bool();
  m.s.is_private = o.at("private").as_bool();
  m.s.allow_spectators = o.at("allow_spectators").as_bool();
  m.invite = o.at("invite").as_string();
  return m;
}

// The code whose wire name is `name` (internal when none is).
errc errc_named(std::string_view name) {
  for (int i = 0; i <= static_cast<int>(errc::internal); ++i) {
    if (to_string(static_cast<errc>(i)) == name) return static_cast<errc>(i);
  }
  return errc::internal;
}

}  // namespace

struct cluster_node::impl : std::enable_shared_from_this<impl> {
  impl(asio::io_context& io, std::shared_ptr<redis::client> c, std::shared_ptr<redis::client> s,
       lobby::lobby& l, cluster_options opts)
      : cmd(std::move(c)),
        sub(std::move(s)),
        lob(l),
        o(std::move(opts)),
        strand(asio::make_strand(io)),
        beat(strand) {}

  struct node_view {
    std::string route;
    bool alive = false;
    std::unordered_map<std::string, mirrored_room> rooms;
  };
  // A request to another node, waiting for its answer (the answer's object, or the error).
  struct pending {
    std::function<void(result<json::object>)> reply;
    std::shared_ptr<asio::steady_timer> timer;
  };

  std::shared_ptr<redis::client> cmd;
  std::shared_ptr<redis::client> sub;
  lobby::lobby& lob;
  cluster_options o;
  asio::strand<asio::io_context::executor_type> strand;
  asio::steady_timer beat;

  mutable std::mutex mu;
  std::unordered_map<std::string, node_view> nodes;    // GUARDED_BY(mu): the other nodes
  std::unordered_map<std::uint64_t, pending> waiting;  // GUARDED_BY(mu): requests asked
  std::uint64_t next_req = 1;                          // GUARDED_BY(mu)
  bool stopped = false;                                // GUARDED_BY(mu)
  bool checking = false;  // GUARDED_BY(mu): an ownership check is running
  std::chrono::steady_clock::time_point last_resync{};  // on the strand
  // When each node was first seen without its key, and when this node's connection came up.
  std::unordered_map<std::string, std::chrono::steady_clock::time_point>
      missing_since;                                      // GUARDED_BY(mu)
  std::chrono::steady_clock::time_point connected_since;  // GUARDED_BY(mu)
  std::string lead;                                       // GUARDED_BY(mu): the matchmaker's node
  bool leading = true;  // GUARDED_BY(mu): false once stopping or draining (the lease is given up)
  // Set before start(): the matchmaker's requests (mm.*), and its lead changing.
  std::function<void(json::object, std::function<void(result<json::object>)>)> on_mm;
  std::function<void(std::string old_lead)> on_lead_moved;
  // Set before start(): parties' requests (party.*), and writing their directory again.
  std::function<void(json::object, std::function<void(result<json::object>)>)> on_party;
  std::function<void()> republish_parties;

  void send(std::vector<std::string> args, const char* what) {
    cmd->command(std::move(args), [what](result<redis::reply> r) {
      if (!r) spdlog::debug("redis: {} failed: {}", what, r.error().message);
    });
  }

  std::string me_json() const {
    return json::serialize(json::object{{"id", o.node_id}, {"route", o.route}});
  }

  // --- Heartbeat and the mirror ------------------------------------------------------------------

  void heartbeat() {
    {
      std::lock_guard lk(mu);
      if (stopped) return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (!cmd->connected()) {
      // Cut off from Redis: the others may think this node dead and claim its rooms; storage
      // says whether they did.
      check_ownership();
    } else {
      send({"SET", node_key(o.node_id), me_json(), "PX", std::to_string(o.node_ttl_ms)},
           "the heartbeat");
      send({"SADD", kNodes, o.node_id}, "the heartbeat");
      check_fenced();
      elect();
    }
    if (!cmd->connected()) {
      // Nothing to read.
    } else if (now - last_resync >= std::chrono::milliseconds(o.resync_ms)) {
      last_resync = now;
      resync(false);
    } else {
      check_alive();
    }
    beat.expires_after(std::chrono::milliseconds(o.heartbeat_ms));
    beat.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->heartbeat();
    });
  }

  // Takes or renews the matchmaker's lease, and learns who holds it.
  void elect() {
    bool leading_now = false;
    {
      std::lock_guard lk(mu);
      leading_now = leading;
    }
    std::vector<std::string> args{"EVAL",      kLead,     "1",
                                  kMatchmaker, o.node_id, std::to_string(o.node_ttl_ms)};
    if (!leading_now) args = {"GET", kMatchmaker};
    cmd->command(std::move(args), [self = shared_from_this()](result<redis::reply> r) {
      if (!r) return;
      const std::string holder = r->type == redis::reply::kind::string ? r->str : std::string();
      std::string old;
      {
        std::lock_guard lk(self->mu);
        old = self->lead;
        self->lead = holder;
      }
      if (old != holder) {
        spdlog::info("cluster: the matchmaker runs on node {}",
                     holder.empty() ? std::string("(none)") : holder);
      }
      if (!old.empty() && old != holder && self->on_lead_moved) self->on_lead_moved(old);
    });
  }

  // Which known nodes are alive (one MGET); a node seen alive again is read whole.
  void check_alive() {
    std::vector<std::string> ids;
    {
      std::lock_guard lk(mu);
      for (const auto& [id, n] : nodes)
        ids.push_back(id);
    }
    if (ids.empty()) return;
    std::vector<std::string> args{"MGET"};
    for (const auto& id : ids)
      args.push_back(node_key(id));
    cmd->command(std::move(args), [self = shared_from_this(), ids](result<redis::reply> r) {
      if (!r || r->type != redis::reply::kind::array || r->elements.size() != ids.size()) return;
      std::vector<std::string> revived, dead;
      {
        std::lock_guard lk(self->mu);
        for (std::size_t i = 0; i < ids.size(); ++i) {
          auto it = self->nodes.find(ids[i]);
          if (it == self->nodes.end()) continue;
          const bool alive = !r->elements[i].is_nil();
          if (alive && !it->second.alive) revived.push_back(ids[i]);
          if (!alive && it->second.alive) {
            spdlog::warn("cluster: node {} stopped its heartbeat; its {} room(s) are not listed",
                         ids[i], it->second.rooms.size());
            it->second.rooms.clear();
          }
          it->second.alive = alive;
          if (!alive)
            dead.push_back(ids[i]);
          else
            self->missing_since.erase(ids[i]);
        }
      }
      for (const auto& id : revived)
        self->read_node(id);
      for (const auto& id : dead)
        self->maybe_take_over(id);
    });
  }

  // Reads every node again: the set of nodes, then each one's key and rooms. `republish`: first
  // write this node's own part again (Redis may have lost it).
  void resync(bool republish) {
    if (republish) publish_own();
    cmd->command({"SMEMBERS", kNodes}, [self = shared_from_this()](result<redis::reply> r) {
      if (!r || r->type != redis::reply::kind::array) return;
      for (const auto& e : r->elements) {
        if (e.str != self->o.node_id) self->read_node(e.str);
      }
    });
  }

  void read_node(const std::string& id) {
    cmd->command({"GET", node_key(id)}, [self = shared_from_this(), id](result<redis::reply> r) {
      if (!r) return;
      if (r->is_nil()) {
        {
          std::lock_guard lk(self->mu);
          auto& n = self->nodes[id];
          if (n.alive) {
            spdlog::warn("cluster: node {} stopped its heartbeat; its {} room(s) are not listed",
                         id, n.rooms.size());
          }
          n.alive = false;
          n.rooms.clear();
        }
        return self->maybe_take_over(id);
      }
      std::string route;
      try {
        route = json::parse(r->str).as_object().at("route").as_string();
      } catch (const std::exception&) {
        return spdlog::warn("cluster: node {} has a malformed entry", id);
      }
      self->cmd->command({"HGETALL", rooms_key(id)}, [self, id, route](result<redis::reply> rr) {
        if (!rr || rr->type != redis::reply::kind::array) return;
        std::unordered_map<std::string, mirrored_room> rooms;
        for (std::size_t i = 0; i + 1 < rr->elements.size(); i += 2) {
          try {
            auto m = room_of_json(json::parse(rr->elements[i + 1].str).as_object());
            rooms.emplace(m.s.id, std::move(m));
          } catch (const std::exception&) {
            spdlog::warn("cluster: a malformed room entry of node {} was skipped", id);
          }
        }
        std::lock_guard lk(self->mu);
        self->missing_since.erase(id);
        auto& n = self->nodes[id];
        n.alive = true;
        n.route = route;
        n.rooms = std::move(rooms);
      });
    });
  }

  // Who is connected here, and the parties kept here, written again: after Redis came back, or
  // after another node took this one over (and removed its entries) while it was cut off.
  void publish_presence() {
    std::vector<std::string> args{"EVAL", kPresenceOfNode, "1", kPresence, o.node_id};
    for (const auto& p : lob.online_players(0, std::numeric_limits<std::size_t>::max()))
      args.push_back(std::to_string(p.id));
    send(std::move(args), "the presence directory");
    if (republish_parties) republish_parties();
  }

  // This node's rooms and seats, written again (after Redis came back: it may have lost them).
  // The rooms go first, the node's key and the notice after them (one connection keeps the
  // order): a node that reads this one on the notice, or finds its key, finds its rooms too.
  void publish_own() {
    auto rooms = lob.rooms_with_invites();
    std::unordered_map<std::string, bool> have;
    if (!rooms.empty()) {
      std::vector<std::string> args{"HSET", rooms_key(o.node_id)};
      for (const auto& [s, invite] : rooms) {
        args.push_back(s.id);
        args.push_back(json::serialize(room_json(s, invite)));
        have[s.id] = true;
      }
      send(std::move(args), "the room directory");
    }
    send({"SET", node_key(o.node_id), me_json(), "PX", std::to_string(o.node_ttl_ms)},
         "the heartbeat");
    send({"SADD", kNodes, o.node_id}, "the heartbeat");
    // The other nodes read this one now rather than at their next resync.
    send({"PUBLISH", kRoomsChannel,
          json::serialize(json::object{{"node", o.node_id}, {"joined", true}})},
         "a joined notice");
    // Rooms that ended while Redis was away.
    cmd->command({"HKEYS", rooms_key(o.node_id)},
                 [self = shared_from_this(), have](result<redis::reply> r) {
                   if (!r || r->type != redis::reply::kind::array) return;
                   std::vector<std::string> args{"HDEL", rooms_key(self->o.node_id)};
                   for (const auto& e : r->elements)
                     if (!have.count(e.str)) args.push_back(e.str);
                   if (args.size() > 2) self->send(std::move(args), "the room directory");
                 });
    publish_presence();
    auto seats = lob.seats();
    if (!seats.empty()) {
      std::vector<std::string> args{"HSET", kSeats};
      for (const auto& [p, room] : seats) {
        args.push_back(std::to_string(p));
        args.push_back(seat_value(room, o.node_id));
      }
      send(std::move(args), "the seat directory");
    }
  }

  // --- Notices and requests
  // ------------------------------------------------------------------------

  void on_rooms_notice(std::string_view payload) {
    json::object msg;
    try {
      msg = json::parse(payload).as_object();
      const std::string node(msg.at("node").as_string());
      if (node == o.node_id) return;
      std::unique_lock lk(mu);
      // A node this one has not read yet (it started since), or one that (re)connected: read it
      // whole.
      if (!nodes.count(node) || msg.contains("joined")) {
        nodes[node];
        lk.unlock();
        read_node(node);
        lk.lock();
      }
      if (msg.contains("joined")) return;
      if (const auto* dead = msg.if_contains("took_over")) {
        nodes.erase(std::string(dead->as_string()));
        return;
      }
      auto& n = nodes[node];
      if (const auto* gone = msg.if_contains("gone")) {
        n.rooms.erase(std::string(gone->as_string()));
      } else {
        auto m = room_of_json(msg.at("room").as_object());
        n.rooms[m.s.id] = std::move(m);
      }
    } catch (const std::exception&) {
      spdlog::warn("cluster: a malformed room notice was ignored");
    }
  }

  void on_node_message(std::string_view payload) {
    json::object msg;
    std::string op;
    try {
      msg = json::parse(payload).as_object();
      op = msg.at("op").as_string();
    } catch (const std::exception&) {
      return spdlog::warn("cluster: a malformed request was ignored");
    }
    if (op == "answer") return on_answer(msg);
    std::string from;
    std::uint64_t req = 0;
    try {
      from = msg.at("from").as_string();
      req = msg.at("req").to_number<std::uint64_t>();
    } catch (const std::exception&) {
      return spdlog::warn("cluster: a request without its sender was ignored");
    }
    // Answers the request on its sender's channel.
    auto answer = [self = shared_from_this(), from, req](result<json::object> r) {
      json::object a{{"op", "answer"}, {"req", req}};
      if (r) {
        a["ok"] = true;
        a["data"] = std::move(*r);
      } else {
        a["ok"] = false;
        a["code"] = to_string(r.error().code);
        a["message"] = r.error().message;
      }
      self->send({"PUBLISH", node_channel(from), json::serialize(a)}, "an answer");
    };
    if (op == "reserve") return on_reserve(msg, std::move(answer));
    if (op == "deliver") return on_deliver(msg, std::move(answer));
    if (op == "kick") return on_kick(msg, std::move(answer));
    if (op.starts_with("party.")) {
      if (!on_party) return answer(error{errc::unavailable, "No parties are kept here."});
      return on_party(std::move(msg), std::move(answer));
    }
    if (op.starts_with("mm.")) {
      if (!on_mm) return answer(error{errc::unavailable, "No matchmaker runs here."});
      return on_mm(std::move(msg), std::move(answer));
    }
    if (op == "take_over") {
      const auto* node = msg.if_contains("node");
      if (!node || !node->is_string()) return answer(error{errc::bad_field, "no node"});
      // A draining node hands its rooms over (they are stored; it has stopped them).
      return take_over(std::string(node->as_string()), false, [answer](int restored) {
        if (restored < 0)
          return answer(error{errc::unavailable, "the snapshots could not be read"});
        answer(json::object{{"restored", restored}});
      });
    }
    answer(error{errc::unknown_type, fmt::format("no request \"{}\"", op)});
  }

  // Another node asks for a seat here for one of its players.
  void on_reserve(const json::object& msg, std::function<void(result<json::object>)> answer) {
    std::int64_t player = 0;
    std::string nickname;
    lobby::join_params p;
    try {
      player = msg.at("player").to_number<std::int64_t>();
      nickname = msg.at("nickname").as_string();
      p.room_id = msg.at("room_id").as_string();
      p.invite_code = msg.at("invite_code").as_string();
      p.password = msg.at("password").as_string();
      p.spectate = msg.at("spectate").as_bool();
      // A party of that node following its leader: their seats are held with the leader's.
      if (const auto* party = msg.if_contains("party")) {
        for (const auto& m : party->as_array()) {
          p.party.push_back(m.at("id").to_number<std::int64_t>());
          p.party_nicknames.emplace_back(m.at("nickname").as_string());
        }
      }
    } catch (const std::exception&) {
      return answer(error{errc::bad_field, "a malformed reservation request"});
    }
    // The room's snapshot stays here: the player gets it from their hello on this node.
    lob.reserve(player, std::move(nickname), std::move(p),
                [answer = std::move(answer)](result<json::object> r) {
                  if (!r) return answer(r.error());
                  answer(json::object{});
                });
  }

  // Another node's message for a socket here (room::invite, a kick's room.removed).
  void on_deliver(const json::object& msg, std::function<void(result<json::object>)> answer) {
    std::int64_t player = 0;
    std::string frame;
    try {
      player = msg.at("player").to_number<std::int64_t>();
      frame = msg.at("frame").as_string();
    } catch (const std::exception&) {
      return answer(error{errc::bad_field, "a malformed delivery"});
    }
    const bool delivered =
        lob.deliver(player, std::make_shared<const std::string>(std::move(frame)));
    answer(json::object{{"delivered", delivered}});
  }

  // An admin's kick made on another node: the account's seat here is given up and its socket
  // here closed, as admin_api does on one node.
  void on_kick(const json::object& msg, std::function<void(result<json::object>)> answer) {
    std::int64_t player = 0;
    std::string message;
    try {
      player = msg.at("player").to_number<std::int64_t>();
      message = msg.at("message").as_string();
    } catch (const std::exception&) {
      return answer(error{errc::bad_field, "a malformed kick"});
    }
    auto room = lob.room_of(player);
    const std::string room_id = room ? room->id() : std::string();
    auto finish = [self = shared_from_this(), player, message, room_id,
                   answer = std::move(answer)](bool) {
      const bool connected =
          self->lob.disconnect(player, "disconnected_by_admin",
                               message.empty() ? std::string_view("An admin disconnected you.")
                                               : std::string_view(message));
      answer(
          json::object{{"room_id", room_id.empty() ? json::value(nullptr) : json::value(room_id)},
                       {"connected", connected}});
    };
    if (!room) return finish(false);
    room->admin_remove(player, message, std::move(finish));
  }

  // {node, ws, room_id: null} for a live node with a route; else null.
  json::value route_of(const std::string& node) const {
    std::lock_guard lk(mu);
    auto it = nodes.find(node);
    if (it == nodes.end() || !it->second.alive || it->second.route.empty()) return nullptr;
    return json::object{{"node", node}, {"ws", it->second.route + "/ws"}, {"room_id", nullptr}};
  }

  // Whether `node` is known dead here (a node not yet read counts as alive: it is asked).
  bool known_dead(const std::string& node) const {
    std::lock_guard lk(mu);
    auto it = nodes.find(node);
    return it != nodes.end() && !it->second.alive;
  }

  void deliver_elsewhere(lobby::player_id p, proto::frame f,
                         std::function<void(result<bool>)> done) {
    cmd->command({"HGET", kPresence, std::to_string(p)}, [self = shared_from_this(), p,
                                                          f = std::move(f), done = std::move(done)](
                                                             result<redis::reply> r) mutable {
      if (!r) {
        return done(
            error{errc::unavailable, "The other nodes cannot be reached; try again in a moment."});
      }
      if (r->type != redis::reply::kind::string) return done(false);
      const std::string node = r->str;
      // This node's own entry: the socket here went meanwhile. A dead node's: nobody hears.
      if (node == self->o.node_id || self->known_dead(node)) return done(false);
      self->ask(node, json::object{{"op", "deliver"}, {"player", p}, {"frame", *f}},
                self->o.request_timeout_ms, [done = std::move(done)](result<json::object> a) {
                  if (!a) return done(a.error());
                  const auto* d = a->if_contains("delivered");
                  done(d && d->is_bool() && d->as_bool());
                });
    });
  }

  void on_answer(const json::object& msg) {
    pending p;
    try {
      const auto req = msg.at("req").to_number<std::uint64_t>();
      std::lock_guard lk(mu);
      auto it = waiting.find(req);
      if (it == waiting.end()) return;  // answered too late: the asker gave up
      p = std::move(it->second);
      waiting.erase(it);
    } catch (const std::exception&) {
      return spdlog::warn("cluster: a malformed answer was ignored");
    }
    p.timer->cancel();
    if (const auto* ok = msg.if_contains("ok"); ok && ok->is_bool() && ok->as_bool()) {
      const auto* data = msg.if_contains("data");
      return p.reply(data && data->is_object() ? data->as_object() : json::object{});
    }
    const auto* code = msg.if_contains("code");
    const auto* text = msg.if_contains("message");
    error e{code && code->is_string() ? errc_named(code->as_string()) : errc::internal};
    if (text && text->is_string()) e.message = text->as_string();
    p.reply(std::move(e));
  }

  void fail_request(std::uint64_t req, error e) {
    pending p;
    {
      std::lock_guard lk(mu);
      auto it = waiting.find(req);
      if (it == waiting.end()) return;
      p = std::move(it->second);
      waiting.erase(it);
    }
    p.reply(std::move(e));
  }

  // Sends `msg` (with op) to `node` and gives `reply` its answer, or unavailable when it does not
  // answer within timeout_ms.
  void ask(const std::string& node, json::object msg, int timeout_ms,
           std::function<void(result<json::object>)> reply) {
    auto timer = std::make_shared<asio::steady_timer>(strand);
    std::uint64_t req = 0;
    {
      std::lock_guard lk(mu);
      if (stopped) return reply(error{errc::unavailable, "The server is shutting down."});
      req = next_req++;
      waiting.emplace(req, pending{std::move(reply), timer});
    }
    timer->expires_after(std::chrono::milliseconds(timeout_ms));
    timer->async_wait([self = shared_from_this(), req, node](boost::system::error_code ec) {
      if (ec) return;
      self->fail_request(
          req, error{errc::unavailable, fmt::format("Node {} did not answer in time.", node)});
    });
    msg["req"] = req;
    msg["from"] = o.node_id;
    cmd->command({"PUBLISH", node_channel(node), json::serialize(msg)},
                 [self = shared_from_this(), req, node](result<redis::reply> r) {
                   if (!r) {
                     return self->fail_request(
                         req, error{errc::unavailable, "The other nodes cannot be reached."});
                   }
                   // Nobody subscribed: the node is gone.
                   if (r->type == redis::reply::kind::integer && r->integer == 0) {
                     self->fail_request(req, error{errc::unavailable,
                                                   fmt::format("Node {} is not running.", node)});
                   }
                 });
  }

  // --- Dead nodes, fencing
  // -------------------------------------------------------------------------

  // `dead` stopped its heartbeat: one live node (the first to set its takeover key) takes its
  // rooms over, after checking that it did not come back meanwhile.
  void maybe_take_over(const std::string& dead) {
    const auto now = std::chrono::steady_clock::now();
    {
      std::lock_guard lk(mu);
      if (stopped) return;
      auto& since = missing_since[dead];
      if (since == std::chrono::steady_clock::time_point{}) since = now;
      // Its key expired node_ttl_ms after its last renewal; seen missing again at the next
      // heartbeat (a key only being written again is back by then), from a connection up for a
      // whole node_ttl_ms plus the longest reconnection pause (after Redis itself restarted,
      // every node needs a moment to write its key again).
      if (now - since < std::chrono::milliseconds(o.heartbeat_ms / 2) ||
          now - connected_since < std::chrono::milliseconds(o.node_ttl_ms + 5000)) {
        return;
      }
    }
    cmd->command({"SET", takeover_key(dead), o.node_id, "NX", "PX", "60000"},
                 [self = shared_from_this(), dead](result<redis::reply> r) {
                   if (!r || r->type != redis::reply::kind::status) return;  // another node has it
                   self->cmd->command(
                       {"EXISTS", node_key(dead)}, [self, dead](result<redis::reply> alive) {
                         if (!alive || alive->type != redis::reply::kind::integer) return;
                         if (alive->integer != 0) {
                           return self->send({"DEL", takeover_key(dead)}, "a takeover");
                         }
                         self->take_over(dead, true, nullptr);
                       });
                 });
  }

  // Claims the snapshots of `dead` in storage and restores its rooms here, then removes the node
  // from the directory and fences it (if it was only cut off, it drops its copies when it hears).
  // after(rooms restored), or after(-1) when storage failed.
  // `fence_wait`: restore two heartbeats after the claim (a node that may still run them; not for
  // a draining node, which stopped them itself).
  void take_over(const std::string& dead, bool fence_wait, std::function<void(int)> after) {
    auto* st = lob.snapshot_store();
    if (!st) {
      finish_take_over(dead);
      if (after) after(0);
      return;
    }
    const auto began = std::chrono::steady_clock::now();
    st->claim_snapshots(
        dead, o.node_id,
        [self = shared_from_this(), dead, after, began,
         fence_wait](result<std::vector<store::room_snapshot_record>> r) mutable {
          if (!r) {
            spdlog::error("cluster: the rooms of node {} could not be claimed: {}", dead,
                          r.error().message);
            self->send({"DEL", takeover_key(dead)}, "a takeover");  // another node may try
            if (after) after(-1);
            return;
          }
          // Off the storage thread, on this node's strand, two heartbeats later: a node that was
          // only cut off checks storage every heartbeat and drops its copies first.
          auto wait = std::make_shared<asio::steady_timer>(self->strand);
          wait->expires_after(
              std::chrono::milliseconds(r->empty() || !fence_wait ? 0 : 2 * self->o.heartbeat_ms));
          wait->async_wait([self, dead, after = std::move(after), began, wait,
                            snaps = std::move(*r)](boost::system::error_code) mutable {
            const std::size_t n = snaps.size();
            spdlog::info("cluster: taking over the {} room(s) of node {}", n, dead);
            self->lob.restore(
                std::move(snaps), [self, dead, after, began, n](int restored, int failed) {
                  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::steady_clock::now() - began)
                                        .count();
                  spdlog::info("cluster: restored {} of {} room(s) of node {} in {} ms ({} failed)",
                               restored, n, dead, took, failed);
                  self->finish_take_over(dead);
                  if (after) after(restored);
                });
          });
        });
  }

  // Cut off from Redis, or told it was fenced: the rooms whose snapshots storage no longer lists
  // as this node's were claimed by another node, which runs them now (or will, two heartbeats
  // after its claim: take_over waits for this check). They go from here.
  void check_ownership() {
    auto* st = lob.snapshot_store();
    if (!st) return;
    {
      std::lock_guard lk(mu);
      if (checking || stopped) return;
      checking = true;
    }
    auto self = shared_from_this();
    auto finish = [self] {
      std::lock_guard lk(self->mu);
      self->checking = false;
    };
    lob.snapshotted_rooms([self, st, finish](std::vector<std::string> ids) {
      if (ids.empty()) return finish();
      // Every snapshot queued before is committed first, so a room's own first snapshot is
      // never taken for a claim.
      st->flush_snapshots([self, st, finish, ids = std::move(ids)](result<bool> flushed) mutable {
        if (!flushed) return finish();
        st->snapshots_of(self->o.node_id, [self, finish, ids = std::move(ids)](
                                              result<std::vector<store::room_snapshot_record>> r) {
          if (!r) return finish();
          std::unordered_map<std::string, bool> mine;
          for (const auto& s : *r)
            mine[s.room_id] = true;
          std::vector<std::string> lost;
          for (const auto& id : ids)
            if (!mine.count(id)) lost.push_back(id);
          if (lost.empty()) return finish();
          spdlog::warn("cluster: another node claimed {} room(s) of this one; dropping them here",
                       lost.size());
          self->lob.hand_over_rooms(lost, false, [finish](int n) {
            spdlog::warn("cluster: {} room(s) dropped; their players reconnect to where they run",
                         n);
            finish();
          });
        });
      });
    });
  }

  void finish_take_over(const std::string& dead) {
    send({"SET", fenced_key(dead), o.node_id, "PX", "86400000"}, "a fence");
    // Its parties ended with it.
    send({"EVAL", kPresenceOfNode, "1", kParties, dead}, "the party directory");
    send({"EVAL", kPresenceOfNode, "1", kPartyMembers, dead}, "the party directory");
    send({"DEL", rooms_key(dead)}, "the room directory");
    send({"EVAL", kPresenceOfNode, "1", kPresence, dead}, "the presence directory");
    send({"SREM", kNodes, dead}, "the node set");
    send({"PUBLISH", kRoomsChannel,
          json::serialize(json::object{{"node", o.node_id}, {"took_over", dead}})},
         "a takeover notice");
    send({"DEL", takeover_key(dead)}, "a takeover");
    std::lock_guard lk(mu);
    nodes.erase(dead);
  }

  // At each heartbeat: did another node take this one's rooms (while it was cut off)? Then the
  // rooms here are stale copies: they go, and their players reconnect to where they run now.
  void check_fenced() {
    cmd->command(
        {"GET", fenced_key(o.node_id)}, [self = shared_from_this()](result<redis::reply> r) {
          if (!r || r->type != redis::reply::kind::string) return;
          self->send({"DEL", fenced_key(self->o.node_id)}, "a fence");
          spdlog::warn("cluster: node {} took this node's rooms over while it was away", r->str);
          self->check_ownership();
          // The node that took over removed this one's presence and parties: its sockets and
          // parties are still here.
          self->publish_presence();
        });
  }
};

cluster_node::cluster_node(asio::io_context& io, std::shared_ptr<redis::client> cmd,
                           std::shared_ptr<redis::client> sub, lobby::lobby& lob, cluster_options o)
    : impl_(std::make_shared<impl>(io, std::move(cmd), std::move(sub), lob, std::move(o))) {}

cluster_node::~cluster_node() {
  stop();
}

std::vector<std::string> cluster_node::channels() const {
  return {kRoomsChannel, node_channel(impl_->o.node_id)};
}

bool cluster_node::on_message(std::string_view channel, std::string_view payload) {
  if (channel == kRoomsChannel) {
    impl_->on_rooms_notice(payload);
    return true;
  }
  if (channel == node_channel(impl_->o.node_id)) {
    impl_->on_node_message(payload);
    return true;
  }
  return false;
}

void cluster_node::on_state(bool up) {
  if (!up) return;
  {
    std::lock_guard lk(impl_->mu);
    impl_->connected_since = std::chrono::steady_clock::now();
    impl_->missing_since.clear();
  }
  asio::post(impl_->strand, [self = impl_] {
    self->last_resync = std::chrono::steady_clock::now();
    self->resync(true);
    self->elect();  // the matchmaker is known at once, not only at the next heartbeat
  });
}

void cluster_node::on_subscriber_up() {
  {
    std::lock_guard lk(impl_->mu);
    if (impl_->stopped) return;
  }
  asio::post(impl_->strand, [self = impl_] {
    self->last_resync = std::chrono::steady_clock::now();
    self->resync(false);
  });
}

std::string cluster_node::matchmaker() const {
  if (!impl_->cmd->connected()) return {};
  std::lock_guard lk(impl_->mu);
  return impl_->lead;
}

void cluster_node::set_matchmaking(
    std::function<void(json::object, std::function<void(result<json::object>)>)> on_request,
    std::function<void(std::string old_lead)> lead_moved) {
  impl_->on_mm = std::move(on_request);
  impl_->on_lead_moved = std::move(lead_moved);
}

void cluster_node::ask(const std::string& node, json::object msg,
                       std::function<void(result<json::object>)> reply) {
  impl_->ask(node, std::move(msg), impl_->o.request_timeout_ms, std::move(reply));
}

void cluster_node::set_parties(
    std::function<void(json::object, std::function<void(result<json::object>)>)> on_request,
    std::function<void()> republish) {
  impl_->on_party = std::move(on_request);
  impl_->republish_parties = std::move(republish);
}

void cluster_node::party_locate(std::string key, std::function<void(result<std::string>)> done) {
  impl_->cmd->command({"HGET", kParties, std::move(key)},
                      [self = impl_, done = std::move(done)](result<redis::reply> r) {
                        if (!r) {
                          return done(error{errc::unavailable,
                                            "The other nodes cannot be reached; try again in a "
                                            "moment."});
                        }
                        if (r->type != redis::reply::kind::string || self->known_dead(r->str))
                          return done(std::string());
                        done(r->str);
                      });
}

void cluster_node::party_publish(std::vector<std::string> keys, std::vector<std::int64_t> members,
                                 bool present) {
  const std::string& me = impl_->o.node_id;
  auto write = [&](const char* hash, std::vector<std::string> fields) {
    if (fields.empty()) return;
    std::vector<std::string> args;
    if (present) {
      args = {"HSET", hash};
      for (auto& f : fields) {
        args.push_back(std::move(f));
        args.push_back(me);
      }
    } else {
      args = {"EVAL", kReleaseFields, "1", hash, me};
      for (auto& f : fields)
        args.push_back(std::move(f));
    }
    impl_->send(std::move(args), "the party directory");
  };
  write(kParties, std::move(keys));
  std::vector<std::string> ids;
  for (auto m : members)
    ids.push_back(std::to_string(m));
  write(kPartyMembers, std::move(ids));
}

void cluster_node::party_home(std::int64_t account, std::function<void(std::string node)> done) {
  impl_->cmd->command({"HGET", kPartyMembers, std::to_string(account)},
                      [done = std::move(done)](result<redis::reply> r) {
                        if (!r || r->type != redis::reply::kind::string) return done(std::string());
                        done(r->str);
                      });
}

json::value cluster_node::route_of(const std::string& node) const {
  return impl_->route_of(node);
}

void cluster_node::party_elsewhere(std::int64_t account,
                                   std::function<void(json::value moved)> done) {
  party_home(account, [self = impl_, done = std::move(done)](std::string node) {
    if (node.empty() || node == self->o.node_id) return done(nullptr);
    done(self->route_of(node));
  });
}

void cluster_node::give_up_lead() {
  {
    std::lock_guard lk(impl_->mu);
    impl_->leading = false;
  }
  impl_->send({"EVAL", kUnlead, "1", kMatchmaker, impl_->o.node_id}, "the matchmaker's lease");
}

void cluster_node::start() {
  asio::post(impl_->strand, [self = impl_] { self->heartbeat(); });
}

void cluster_node::stop() {
  std::unordered_map<std::uint64_t, impl::pending> waiting;
  {
    std::lock_guard lk(impl_->mu);
    if (impl_->stopped) return;
    impl_->stopped = true;
    waiting.swap(impl_->waiting);
  }
  asio::post(impl_->strand, [self = impl_] { self->beat.cancel(); });
  impl_->send({"EVAL", kUnlead, "1", kMatchmaker, impl_->o.node_id}, "the matchmaker's lease");
  // The other nodes stop listing this one's rooms at once rather than when its key expires.
  impl_->send({"DEL", node_key(impl_->o.node_id)}, "the node's entry");
  for (auto& [req, p] : waiting) {
    p.timer->cancel();
    p.reply(error{errc::unavailable, "The server is shutting down."});
  }
}

lobby::lobby_listener cluster_node::listener() {
  lobby::lobby_listener l;
  std::weak_ptr<impl> w = impl_;
  l.room_changed = [w](const lobby::room_summary& s, const std::string& invite) {
    auto self = w.lock();
    if (!self) return;
    auto room = room_json(s, invite);
    self->send({"HSET", rooms_key(self->o.node_id), s.id, json::serialize(room)},
               "the room directory");
    self->send({"PUBLISH", kRoomsChannel,
                json::serialize(json::object{{"node", self->o.node_id}, {"room", room}})},
               "a room notice");
  };
  l.room_removed = [w](const std::string& id) {
    auto self = w.lock();
    if (!self) return;
    self->send({"HDEL", rooms_key(self->o.node_id), id}, "the room directory");
    self->send({"PUBLISH", kRoomsChannel,
                json::serialize(json::object{{"node", self->o.node_id}, {"gone", id}})},
               "a room notice");
  };
  l.seat_changed = [w](lobby::player_id p, const std::string& room, bool seated) {
    auto self = w.lock();
    if (!self) return;
    const auto value = seat_value(room, self->o.node_id);
    if (seated) {
      self->send({"HSET", kSeats, std::to_string(p), value}, "the seat directory");
    } else {
      self->send({"EVAL", kReleaseSeat, "1", kSeats, std::to_string(p), value},
                 "the seat directory");
    }
  };
  l.connection_changed = [w](lobby::player_id p, bool online) {
    auto self = w.lock();
    if (!self) return;
    if (online) {
      self->send({"HSET", kPresence, std::to_string(p), self->o.node_id}, "the presence directory");
    } else {
      self->send({"EVAL", kReleaseSeat, "1", kPresence, std::to_string(p), self->o.node_id},
                 "the presence directory");
    }
  };
  l.deliver_elsewhere = [w](lobby::player_id p, proto::frame f,
                            std::function<void(result<bool>)> done) {
    auto self = w.lock();
    if (!self) return done(false);
    self->deliver_elsewhere(p, std::move(f), std::move(done));
  };
  return l;
}

void cluster_node::kick_elsewhere(std::int64_t account, std::string message,
                                  std::function<void(result<json::object>)> done) {
  auto self = impl_;
  const std::string key = std::to_string(account);
  // Where its socket is, and where its seat is: each other live node of the two is asked.
  self->cmd->command({"HGET", kPresence, key}, [self, key, account, message = std::move(message),
                                                done = std::move(done)](
                                                   result<redis::reply> pr) mutable {
    if (!pr) {
      return done(
          error{errc::unavailable, "The other nodes cannot be reached; try again in a moment."});
    }
    std::string at_node = pr->type == redis::reply::kind::string ? pr->str : std::string();
    self->cmd->command(
        {"HGET", kSeats, key}, [self, account, at_node, message = std::move(message),
                                done = std::move(done)](result<redis::reply> sr) mutable {
          if (!sr) {
            return done(error{errc::unavailable,
                              "The other nodes cannot be reached; try again in a moment."});
          }
          std::vector<std::string> targets;
          auto add = [&](const std::string& n) {
            if (n.empty() || n == self->o.node_id || self->known_dead(n)) return;
            if (std::find(targets.begin(), targets.end(), n) == targets.end()) targets.push_back(n);
          };
          add(at_node);
          if (sr->type == redis::reply::kind::string) {
            const auto sp = sr->str.find(' ');
            if (sp != std::string::npos) add(sr->str.substr(sp + 1));
          }
          json::object merged{{"room_id", nullptr}, {"connected", false}};
          if (targets.empty()) return done(std::move(merged));
          struct gather {
            json::object merged;
            std::size_t left = 0;
            std::optional<error> failed;
            std::function<void(result<json::object>)> done;
            std::mutex mu;
          };
          auto g = std::make_shared<gather>();
          g->merged = std::move(merged);
          g->left = targets.size();
          g->done = std::move(done);
          for (const auto& n : targets) {
            self->ask(n, json::object{{"op", "kick"}, {"player", account}, {"message", message}},
                      self->o.request_timeout_ms, [g](result<json::object> a) {
                        std::unique_lock lk(g->mu);
                        if (!a) {
                          g->failed = a.error();
                        } else {
                          if (const auto* r = a->if_contains("room_id"); r && r->is_string())
                            g->merged["room_id"] = *r;
                          if (const auto* c = a->if_contains("connected");
                              c && c->is_bool() && c->as_bool())
                            g->merged["connected"] = true;
                        }
                        if (--g->left) return;
                        lk.unlock();
                        // A node that did not answer may hold the socket: say so rather than "not
                        // connected".
                        if (g->failed && !g->merged["connected"].as_bool())
                          return g->done(*g->failed);
                        g->done(std::move(g->merged));
                      });
          }
        });
  });
}

void cluster_node::join_elsewhere(std::int64_t account, std::string nickname,
                                  const lobby::join_params& p,
                                  std::function<void(result<json::object>)> reply) {
  auto& s = *impl_;
  std::string node, route, room_id;
  {
    std::lock_guard lk(s.mu);
    for (const auto& [id, n] : s.nodes) {
      if (!n.alive) continue;
      for (const auto& [rid, m] : n.rooms) {
        const bool match = p.room_id.empty() ? m.invite == p.invite_code : rid == p.room_id;
        if (!match) continue;
        // A private room is joined by its invite code only (its node checks that too).
        if (m.s.is_private && p.invite_code.empty()) break;
        node = id;
        route = n.route;
        room_id = rid;
        break;
      }
      if (!node.empty()) break;
    }
  }
  if (node.empty()) {
    return reply(p.room_id.empty() ? error{errc::unknown_room, "No room has that invite code."}
                                   : error{errc::unknown_room});
  }
  if (route.empty()) {
    return reply(error{errc::unavailable,
                       fmt::format("The room is on node {}, which cannot be reached from here "
                                   "(it has no node.route).",
                                   node)});
  }
  json::object ask{{"op", "reserve"},
                   {"player", account},
                   {"nickname", nickname},
                   {"room_id", room_id},
                   {"invite_code", p.invite_code},
                   {"password", p.password},
                   {"spectate", p.spectate}};
  if (!p.party.empty()) {
    json::array party;
    for (std::size_t i = 0; i < p.party.size(); ++i) {
      party.push_back(json::object{
          {"id", p.party[i]},
          {"nickname", i < p.party_nicknames.size() ? p.party_nicknames[i] : std::string()}});
    }
    ask["party"] = std::move(party);
  }
  s.ask(node, std::move(ask), s.o.request_timeout_ms,
        [reply = std::move(reply), node, route, room_id](result<json::object> r) {
          if (!r) return reply(r.error());
          reply(json::object{
              {"moved", {{"node", node}, {"ws", route + "/ws"}, {"room_id", room_id}}}});
        });
}

void cluster_node::drain(int timeout_ms, std::function<void(int rooms, bool taken)> done) {
  give_up_lead();
  auto self = impl_;
  self->lob.hand_over_all(true, [self, timeout_ms, done = std::move(done)](int n) mutable {
    auto* st = self->lob.snapshot_store();
    if (!st || n == 0) return done(n, n == 0);
    st->flush_snapshots([self, n, timeout_ms, done = std::move(done)](result<bool> r) mutable {
      if (!r) {
        spdlog::error("drain: the rooms' snapshots could not be stored: {}", r.error().message);
        return done(n, false);
      }
      // The live node with the fewest rooms takes them.
      std::string target;
      {
        std::lock_guard lk(self->mu);
        std::size_t best = 0;
        for (const auto& [id, v] : self->nodes) {
          if (!v.alive || v.route.empty()) continue;
          if (target.empty() || v.rooms.size() < best) {
            target = id;
            best = v.rooms.size();
          }
        }
      }
      if (target.empty()) {
        spdlog::warn(
            "drain: no other node runs; the {} room(s) stay stored under this node's id "
            "(its next start restores them)",
            n);
        return done(n, false);
      }
      spdlog::info("drain: handing {} room(s) over to node {}", n, target);
      self->ask(target, json::object{{"op", "take_over"}, {"node", self->o.node_id}}, timeout_ms,
                [n, target, done = std::move(done)](result<json::object> a) {
                  if (!a) {
                    spdlog::error("drain: node {} did not take the rooms: {}", target,
                                  a.error().message);
                    return done(n, false);
                  }
                  done(n, true);
                });
    });
  });
}

void cluster_node::seat_elsewhere(std::int64_t account,
                                  std::function<void(json::value moved)> done) {
  impl_->cmd->command({"HGET", kSeats, std::to_string(account)}, [self = impl_,
                                                                  done = std::move(done)](
                                                                     result<redis::reply> r) {
    if (!r || r->type != redis::reply::kind::string) return done(nullptr);
    const auto sp = r->str.find(' ');
    if (sp == std::string::npos) return done(nullptr);
    const std::string room = r->str.substr(0, sp), node = r->str.substr(sp + 1);
    json::value moved = nullptr;
    {
      std::lock_guard lk(self->mu);
      // Where the room runs now (it may have moved since the seat was written).
      for (const auto& [id, n] : self->nodes) {
        if (!n.alive || n.route.empty() || !n.rooms.count(room)) continue;
        moved = json::object{{"node", id}, {"ws", n.route + "/ws"}, {"room_id", room}};
        break;
      }
      if (moved.is_null() && node != self->o.node_id) {
        auto it = self->nodes.find(node);
        if (it != self->nodes.end() && it->second.alive && !it->second.route.empty()) {
          // Its node lives (the room's notice is on its way): go there.
          moved = json::object{{"node", node}, {"ws", it->second.route + "/ws"}, {"room_id", room}};
        } else if (it != self->nodes.end() && !it->second.alive) {
          // Its node died and another has not yet taken its rooms over: try again soon,
          // through the balancer.
          moved = json::object{{"node", nullptr},
                               {"ws", "/ws"},
                               {"room_id", room},
                               {"retry_after_ms", self->o.heartbeat_ms}};
        }
      }
    }
    done(std::move(moved));
  });
}

void cluster_node::list_elsewhere(std::string_view mode, json::array& out) const {
  std::lock_guard lk(impl_->mu);
  for (const auto& [id, n] : impl_->nodes) {
    if (!n.alive) continue;
    for (const auto& [rid, m] : n.rooms) {
      if (m.s.is_private || (!mode.empty() && m.s.mode != mode)) continue;
      out.push_back(lobby::summary_json(m.s));
    }
  }
}

json::array cluster_node::nodes_json() const {
  // The lobby first, outside this object's lock (the lobby calls in under its own).
  const std::size_t mine = impl_->lob.rooms().size();
  json::array out;
  std::lock_guard lk(impl_->mu);
  out.push_back(json::object{{"id", impl_->o.node_id},
                             {"route", impl_->o.route},
                             {"alive", true},
                             {"rooms", mine},
                             {"self", true},
                             {"matchmaker", impl_->lead == impl_->o.node_id}});
  std::vector<std::string> ids;
  for (const auto& [id, v] : impl_->nodes)
    ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  for (const auto& id : ids) {
    const auto& v = impl_->nodes.at(id);
    out.push_back(json::object{{"id", id},
                               {"route", v.route},
                               {"alive", v.alive},
                               {"rooms", v.alive ? v.rooms.size() : 0},
                               {"self", false},
                               {"matchmaker", impl_->lead == id}});
  }
  return out;
}

std::size_t cluster_node::live_nodes() const {
  std::lock_guard lk(impl_->mu);
  std::size_t n = 1;
  for (const auto& [id, v] : impl_->nodes)
    n += v.alive ? 1 : 0;
  return n;
}

std::size_t cluster_node::mirrored_rooms() const {
  std::lock_guard lk(impl_->mu);
  std::size_t n = 0;
  for (const auto& [id, v] : impl_->nodes)
    n += v.alive ? v.rooms.size() : 0;
  return n;
}

}  // namespace maratang::app
