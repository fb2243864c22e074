#include "match/match_service.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include "core/crypto.hpp"
#include "lobby/room.hpp"
#include "proto/codec.hpp"

namespace maratang::match {

namespace json = boost::json;

namespace {

// A match.found not delivered is sent again this often, until the match's join_by.
constexpr int kFoundRetryMs = 500;

// The rating key a mode's games are rated under (the modes' competition inputs): Arena rates a
// two-player game apart.
std::string rating_key(const std::string& mode, int max_players) {
  if (mode == "arena" && max_players == 2) return "arena_1v1";
  if (mode == "counter") return "test.counter";
  return mode;
}

json::array ids_json(const std::vector<player_id>& ids) {
  json::array a;
  for (player_id p : ids)
    a.push_back(p);
  return a;
}

// A ticket as one node sends it to the lead (mm.ticket), and back.
json::object props_json(const properties& ps) {
  json::object o;
  for (const auto& [k, v] : ps) {
    if (const auto* s = std::get_if<std::string>(&v))
      o[k] = *s;
    else
      o[k] = std::get<double>(v);
  }
  return o;
}

properties props_of(const json::value& v) {
  properties ps;
  for (const auto& [k, x] : v.as_object()) {
    if (x.is_string())
      ps.emplace(std::string(k), std::string(x.get_string()));
    else
      ps.emplace(std::string(k), x.to_number<double>());
  }
  return ps;
}

json::object ticket_json(const ticket& t) {
  json::object ranges;
  for (const auto& [k, r] : t.q.ranges)
    ranges[k] = json::array{r.min, r.max};
  return {{"mode", t.mode},
          {"players", ids_json(t.players)},
          {"props", props_json(t.props)},
          {"must", props_json(t.q.must)},
          {"should", props_json(t.q.should)},
          {"ranges", std::move(ranges)},
          {"settings", t.settings},
          {"min_players", t.min_players},
          {"max_players", t.max_players},
          {"rated", t.rated},
          {"mu", t.mu},
          {"sigma", t.sigma}};
}

// Throws on a malformed ticket.
ticket ticket_of(const json::object& o) {
  ticket t;
  t.mode = o.at("mode").as_string();
  for (const auto& p : o.at("players").as_array())
    t.players.push_back(p.to_number<player_id>());
  t.props = props_of(o.at("props"));
  t.q.must = props_of(o.at("must"));
  t.q.should = props_of(o.at("should"));
  for (const auto& [k, r] : o.at("ranges").as_object()) {
    const auto& a = r.as_array();
    t.q.ranges.emplace(std::string(k),
                       query::range{a.at(0).to_number<double>(), a.at(1).to_number<double>()});
  }
  t.settings = o.at("settings").as_string();
  t.min_players = o.at("min_players").to_number<int>();
  t.max_players = o.at("max_players").to_number<int>();
  t.rated = o.at("rated").as_bool();
  t.mu = o.at("mu").to_number<double>();
  t.sigma = o.at("sigma").to_number<double>();
  return t;
}

}  // namespace

match_service::match_service(boost::asio::io_context& ioc, lobby::lobby& lob,
                             party_service& parties, const clock& clk, rating_reader ratings,
                             match_options opts)
    : ioc_(ioc),
      lobby_(lob),
      parties_(parties),
      clock_(clk),
      ratings_(std::move(ratings)),
      opts_(opts),
      mm_(opts.mm),
      timer_(parties.strand()) {
  parties_.set_on_changed([this](std::int64_t id) { party_changed(id); });
}

match_service::~match_service() = default;

template <class F>
void match_service::on_strand(F&& f) {
  boost::asio::post(parties_.strand(), std::forward<F>(f));
}

void match_service::start() {
  on_strand([this] { schedule(); });
}

void match_service::stop() {
  on_strand([this] {
    stopped_ = true;
    timer_.cancel();
    for (auto& [id, pm] : pending_) {
      if (pm.deadline) pm.deadline->cancel();
      for (auto& t : pm.retries)
        t->cancel();
    }
    for (auto& [id, h] : hosted_)
      h.expiry->cancel();
  });
}

void match_service::schedule() {
  if (stopped_) return;
  timer_.expires_after(std::chrono::milliseconds(opts_.interval_ms));
  timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopped_) return;
    run_once();
    schedule();
  });
}

void match_service::send(player_id p, std::string_view type, const json::object& data) {
  // Wherever p is connected (several nodes: a player of another node's ticket).
  lobby_.deliver_anywhere(p, proto::encode_event(type, data), [](result<bool>) {});
}

result<std::string> match_service::remote_lead() const {
  if (!peers_.lead) return std::string();
  std::string lead = peers_.lead();
  if (lead.empty()) {
    return error{errc::unavailable,
                 "The matchmaker cannot be reached now (the nodes lost Redis); try again in a "
                 "moment."};
  }
  if (lead == peers_.self) return std::string();
  return lead;
}

void match_service::end_ticket(const ticket& t, std::string_view reason) {
  for (player_id p : t.players)
    send(p, "match.cancelled", {{"reason", reason}});
  tell_gone(t);
}

void match_service::tell_gone(const ticket& t) {
  if (t.node.empty() || t.node == peers_.self || !peers_.ask) return;
  peers_.ask(t.node, {{"op", "mm.gone"}, {"ticket", t.id}, {"players", ids_json(t.players)}},
             [](result<json::object>) {});
}

void match_service::enqueue(player_id p, ticket_request req, lobby::reply_fn reply) {
  on_strand([this, p, req = std::move(req), reply = std::move(reply)]() mutable {
    if (stopped_) return reply(error{errc::unavailable});
    const lobby::mode_factory* f = lobby_.modes().find(req.mode);
    if (!f) return reply(error{errc::unknown_mode});
    ticket t;
    t.mode = req.mode;
    t.props = std::move(req.props);
    t.q = std::move(req.q);
    if (const auto* pt = parties_.party_of(p)) {
      if (pt->leader != p)
        return reply(error{errc::not_leader, "Only the party's leader queues the party."});
      t.party = pt->id;
      t.players.push_back(p);
      for (player_id m : pt->members)
        if (m != p) t.players.push_back(m);
    } else {
      t.players.push_back(p);
    }
    // Every player: free to play now, and nowhere else in the matchmaker.
    for (player_id m : t.players) {
      if (queued_or_matched(m)) {
        return reply(m == p
                         ? error{errc::already_matchmaking,
                                 "You are matchmaking already; match.cancel first."}
                         : error{errc::already_matchmaking,
                                 fmt::format("{} is matchmaking already.", lobby_.nickname_of(m))});
      }
      if (lobby_.room_of(m)) {
        return reply(m == p ? error{errc::already_in_room}
                            : error{errc::out_of_order,
                                    fmt::format("{} is in a room.", lobby_.nickname_of(m))});
      }
      if (lobby_.attached_at(m) == 0) {
        return reply(
            error{errc::out_of_order, fmt::format("{} is offline.", lobby_.nickname_of(m))});
      }
      if (lobby_.nickname_of(m).empty()) return reply(error{errc::nickname_required});
    }
    if (!req.settings.empty()) {
      if (req.settings.contains("seed"))
        return reply(error{errc::bad_field, "settings.seed is not for matchmaking."});
      auto valid = f->validate_settings(req.settings);
      if (!valid) return reply(valid.error());
      t.settings = json::serialize(*valid);
    }
    t.min_players = std::max(req.min_players, f->min_players());
    t.max_players =
        req.max_players ? std::min(req.max_players, f->max_players()) : f->max_players();
    if (t.min_players > t.max_players) {
      return reply(error{errc::bad_field, fmt::format("{} takes {} to {} players.", f->name(),
                                                      f->min_players(), f->max_players())});
    }
    if (static_cast<int>(t.players.size()) > t.max_players) {
      return reply(error{errc::bad_field,
                         fmt::format("The party has more than {} players.", t.max_players)});
    }

    // Queues the ticket once its ratings are known: here, or at the cluster's matchmaker.
    auto queue = [this](ticket tk, lobby::reply_fn done) {
      for (player_id m : tk.players)
        enqueuing_.erase(m);
      auto lead = remote_lead();
      if (!lead) return done(lead.error());
      if (lead->empty()) return queue_here(std::move(tk), std::move(done));
      forward(std::move(*lead), std::move(tk), std::move(done));
    };
    if (!ratings_) return queue(std::move(t), std::move(reply));
    // Each member's rating under the mode's key, read from the store; the party's is the mean.
    struct gather {
      ticket t;
      lobby::reply_fn reply;
      std::size_t left = 0;
      int rated = 0;
      double mu = 0, sigma = 0;
    };
    auto g = std::make_shared<gather>();
    g->left = t.players.size();
    const std::string key = rating_key(t.mode, t.max_players);
    for (player_id m : t.players)
      enqueuing_[m] = 1;
    const std::vector<player_id> players = t.players;
    g->t = std::move(t);
    g->reply = std::move(reply);
    for (player_id m : players) {
      ratings_(m, key, [this, g, queue](std::optional<std::pair<double, double>> r) {
        on_strand([this, g, queue, r] {
          if (r) {
            ++g->rated;
            g->mu += r->first;
            g->sigma += r->second;
          }
          if (--g->left > 0) return;
          if (g->rated > 0) {
            g->t.rated = true;
            g->t.mu = g->mu / g->rated;
            g->t.sigma = g->sigma / g->rated;
          }
          if (stopped_) return g->reply(error{errc::unavailable});
          queue(std::move(g->t), std::move(g->reply));
        });
      });
    }
  });
}

void match_service::queue_here(ticket t, lobby::reply_fn reply) {
  const std::vector<player_id> players = t.players;
  const std::string mode = t.mode;
  const std::int64_t party = t.party;
  auto id = mm_.add(std::move(t), clock_.now_ms());
  if (!id) return reply(id.error());
  if (party) party_tickets_[party] = *id;
  stats_.queued.fetch_add(1);
  waiting_ = mm_.size();
  json::object data{{"ticket", *id}, {"mode", mode}, {"players", ids_json(players)}};
  reply(data);
  for (std::size_t i = 1; i < players.size(); ++i)
    send(players[i], "match.searching", data);
}

void match_service::forward(std::string lead, ticket t, lobby::reply_fn reply) {
  auto f = std::make_shared<forwarded>();
  f->lead = lead;
  f->players = t.players;
  f->party = t.party;
  json::array names;
  for (player_id m : t.players) {
    enqueuing_[m] = 1;
    names.push_back(json::string(lobby_.nickname_of(m)));
  }
  json::object msg{{"op", "mm.ticket"},
                   {"ticket", ticket_json(t)},
                   {"nicknames", std::move(names)},
                   {"node", peers_.self}};
  peers_.ask(
      lead, std::move(msg), [this, f, reply = std::move(reply)](result<json::object> r) mutable {
        on_strand([this, f, r = std::move(r), reply = std::move(reply)]() mutable {
          for (player_id m : f->players)
            enqueuing_.erase(m);
          if (!r) {
            // Unanswered: the lead may have queued it all the same; it is ended there, so
            // that a second match.start is not refused as already_matchmaking.
            if (r.error().code == errc::unavailable) {
              peers_.ask(
                  f->lead,
                  {{"op", "mm.end"}, {"players", ids_json(f->players)}, {"reason", "failed"}},
                  [](result<json::object>) {});
            }
            return reply(r.error());
          }
          if (const auto* id = r->if_contains("ticket"); id && id->is_number())
            f->ticket = id->to_number<ticket_id>();
          for (player_id m : f->players)
            forwarded_[m] = f;
          if (f->party) forwarded_parties_[f->party] = f;
          reply(std::move(*r));
        });
      });
}

void match_service::forget(const std::shared_ptr<forwarded>& f) {
  for (player_id m : f->players)
    if (auto it = forwarded_.find(m); it != forwarded_.end() && it->second == f)
      forwarded_.erase(it);
  if (f->party) {
    if (auto it = forwarded_parties_.find(f->party);
        it != forwarded_parties_.end() && it->second == f) {
      forwarded_parties_.erase(it);
    }
  }
}

void match_service::end_forwarded(std::shared_ptr<forwarded> f, std::string_view reason) {
  forget(f);
  peers_.ask(f->lead, {{"op", "mm.end"}, {"players", ids_json(f->players)}, {"reason", reason}},
             [](result<json::object>) {});
}

void match_service::cancel(player_id p, lobby::reply_fn reply) {
  on_strand([this, p, reply = std::move(reply)]() mutable {
    auto it = forwarded_.find(p);
    if (it == forwarded_.end() || mm_.ticket_of(p) || match_of_.count(p))
      return cancel_here(p, std::move(reply));
    // The ticket is at the cluster's matchmaker.
    auto f = it->second;
    peers_.ask(f->lead, {{"op", "mm.cancel"}, {"player", p}},
               [this, f, reply = std::move(reply)](result<json::object> r) mutable {
                 on_strand([this, f, r = std::move(r), reply = std::move(reply)]() mutable {
                   if (r || r.error().code == errc::not_matchmaking) forget(f);
                   reply(std::move(r));
                 });
               });
  });
}

void match_service::cancel_here(player_id p, lobby::reply_fn reply) {
  const ticket* t = mm_.ticket_of(p);
  if (!t) {
    if (match_of_.count(p))
      return reply(error{errc::match_formed, "Your match is formed: match.join it."});
    return reply(error{errc::not_matchmaking});
  }
  const ticket copy = *t;
  mm_.cancel(copy.id);
  waiting_ = mm_.size();
  reply(json::object{});
  for (player_id m : copy.players)
    if (m != p) send(m, "match.cancelled", {{"reason", "cancelled"}});
}

void match_service::end_tickets_of(const std::vector<player_id>& players, std::string_view reason) {
  std::vector<ticket> ended;
  for (player_id m : players) {
    const ticket* t = mm_.ticket_of(m);
    if (!t) continue;
    if (std::none_of(ended.begin(), ended.end(), [&](const ticket& e) { return e.id == t->id; }))
      ended.push_back(*t);
  }
  for (const auto& t : ended) {
    if (!mm_.cancel(t.id)) continue;
    end_ticket(t, reason);
  }
  waiting_ = mm_.size();
}

void match_service::disconnected(player_id p) {
  on_strand([this, p] {
    if (auto it = forwarded_.find(p); it != forwarded_.end())
      end_forwarded(it->second, "disconnected");
    const ticket* t = mm_.ticket_of(p);
    if (!t) return;
    const ticket copy = *t;
    mm_.cancel(copy.id);
    waiting_ = mm_.size();
    end_ticket(copy, "disconnected");
  });
}

void match_service::party_changed(std::int64_t party_id) {
  on_strand([this, party_id] {
    if (auto it = forwarded_parties_.find(party_id); it != forwarded_parties_.end())
      end_forwarded(it->second, "party_changed");
    // The party's ticket, and any ticket of its members now (one queued alone before joining).
    std::vector<player_id> members;
    if (const auto* pt = parties_.party_of_id(party_id)) members = pt->members;
    std::vector<ticket> ended;
    for (player_id m : members) {
      if (const ticket* t = mm_.ticket_of(m)) ended.push_back(*t);
    }
    if (auto it = party_tickets_.find(party_id); it != party_tickets_.end()) {
      if (const ticket* t = mm_.find(it->second); t && t->party == party_id) ended.push_back(*t);
      party_tickets_.erase(it);
    }
    for (const auto& t : ended) {
      if (!mm_.cancel(t.id)) continue;
      end_ticket(t, "party_changed");
    }
    waiting_ = mm_.size();
  });
}

void match_service::on_request(json::object msg, std::function<void(result<json::object>)> answer) {
  on_strand([this, msg = std::move(msg), answer = std::move(answer)]() mutable {
    if (stopped_) return answer(error{errc::unavailable, "The matchmaker is stopping."});
    const auto* op = msg.if_contains("op");
    const std::string_view name = op && op->is_string() ? std::string_view(op->get_string()) : "";
    try {
      if (name == "mm.ticket") {
        ticket t = ticket_of(msg.at("ticket").as_object());
        const auto& names = msg.at("nicknames").as_array();
        if (names.size() != t.players.size() || t.players.empty())
          return answer(error{errc::bad_field, "a ticket's nicknames do not fit its players"});
        if (!lobby_.modes().find(t.mode)) return answer(error{errc::unknown_mode});
        for (std::size_t i = 0; i < names.size(); ++i) {
          const player_id m = t.players[i];
          if (mm_.ticket_of(m) || match_of_.count(m) || enqueuing_.count(m)) {
            return answer(
                i == 0 ? error{errc::already_matchmaking,
                               "You are matchmaking already; match.cancel first."}
                       : error{errc::already_matchmaking,
                               fmt::format("{} is matchmaking already.", names[i].as_string())});
          }
        }
        // The room made here for a match seats them by these names.
        for (std::size_t i = 0; i < names.size(); ++i)
          lobby_.remember_nickname(t.players[i], std::string(names[i].as_string()));
        t.party = 0;  // its node's party: a unit here, as every ticket
        t.node = msg.at("node").as_string();
        return queue_here(std::move(t), std::move(answer));
      }
      if (name == "mm.gone") {
        // The lead: a ticket forwarded from here ended, or its game started.
        const auto id = msg.at("ticket").to_number<ticket_id>();
        for (const auto& p : msg.at("players").as_array()) {
          auto it = forwarded_.find(p.to_number<player_id>());
          if (it != forwarded_.end() && it->second->ticket == id) {
            forget(std::shared_ptr<forwarded>(it->second));
            break;
          }
        }
        return answer(json::object{});
      }
      if (name == "mm.host") {
        // The lead asks this node to make a match's room, where most of its players are.
        std::string id(msg.at("match").as_string());
        std::string lead(msg.at("lead").as_string());
        std::vector<player_id> players;
        for (const auto& p : msg.at("players").as_array())
          players.push_back(p.to_number<player_id>());
        const auto& names = msg.at("nicknames").as_array();
        if (players.empty() || names.size() != players.size() || hosted_.count(id))
          return answer(error{errc::bad_field, "a match's players do not fit its nicknames"});
        for (std::size_t i = 0; i < players.size(); ++i)
          lobby_.remember_nickname(players[i], std::string(names[i].as_string()));
        return make_room(
            id, std::string(msg.at("mode").as_string()),
            std::string(msg.at("settings").as_string()), players,
            [this, id, lead, players, answer](result<made_room> r) {
              if (!r) return answer(r.error());
              if (dissolved_early_.erase(id)) {
                // The lead gave up on it while it was being made: everyone leaves.
                if (auto room = lobby_.find_room(r->room_id))
                  for (player_id p : players)
                    room->leave(p, [](result<json::object>) {});
                return answer(error{errc::no_match, "the match was dissolved meanwhile"});
              }
              hosted& h = hosted_[id];
              h.lead = lead;
              h.room_id = r->room_id;
              h.players = players;
              for (player_id p : players)
                hosted_of_[p] = id;
              // The lead starts or dissolves it within join_timeout_ms; past that and a margin,
              // the lead is gone and so is the match.
              h.expiry = std::make_unique<boost::asio::steady_timer>(parties_.strand());
              h.expiry->expires_after(std::chrono::milliseconds(opts_.join_timeout_ms + 5000));
              h.expiry->async_wait([this, id](boost::system::error_code ec) {
                if (!ec) drop_hosted(id, true);
              });
              answer(json::object{{"room_id", r->room_id}, {"failed", ids_json(r->failed)}});
            });
      }
      if (name == "mm.joined") {
        // The lead: a player took their seat in a room another node made for a match of ours.
        const std::string id(msg.at("match").as_string());
        const auto p = msg.at("player").to_number<player_id>();
        auto it = pending_.find(id);
        if (it == pending_.end() || !it->second.joined.count(p))
          return answer(error{errc::no_match, "no such match or player"});
        answer(json::object{});
        return mark_joined(id, p);
      }
      if (name == "mm.start" || name == "mm.dissolve") {
        // The lead: everyone joined (the game starts), or the match is dissolved.
        const std::string id(msg.at("match").as_string());
        auto it = hosted_.find(id);
        if (it == hosted_.end()) {
          // A dissolve may overtake the room still being made (mm.host): remembered, so that
          // the room is dropped once made. Bounded: a burst of unknown ids starts it afresh.
          if (name == "mm.dissolve") {
            if (dissolved_early_.size() >= 1024) dissolved_early_.clear();
            dissolved_early_.insert(id);
          }
          return answer(error{errc::no_match, "no such match here"});
        }
        if (name == "mm.start") {
          // The others are ready, and the room's creator starts the game, as a leader would.
          const std::vector<player_id> players = it->second.players;
          if (auto room = lobby_.find_room(it->second.room_id)) {
            for (std::size_t i = 1; i < players.size(); ++i)
              room->ready(players[i], true, [](result<json::object>) {});
            room->start(players.front(), [id](result<json::object> r) {
              if (!r)
                spdlog::warn("matchmaker: match {}: the game did not start: {}", id,
                             r.error().message);
            });
          }
        }
        drop_hosted(id, name == "mm.dissolve");
        return answer(json::object{});
      }
      if (name == "mm.cancel") return cancel_here(msg.at("player").to_number<player_id>(), answer);
      if (name == "mm.end") {
        const std::string_view reason = msg.at("reason").as_string();
        if (reason != "disconnected" && reason != "party_changed" && reason != "failed")
          return answer(error{errc::bad_field, "no such reason"});
        std::vector<player_id> players;
        for (const auto& p : msg.at("players").as_array())
          players.push_back(p.to_number<player_id>());
        end_tickets_of(players, reason);
        return answer(json::object{});
      }
    } catch (const std::exception&) {
      return answer(error{errc::bad_field, fmt::format("a malformed {} request", name)});
    }
    answer(error{errc::unknown_type, fmt::format("no request \"{}\"", name)});
  });
}

void match_service::lead_changed(std::string old_lead) {
  on_strand([this, old_lead = std::move(old_lead)] {
    // This node lost the lease (cut off from Redis longer than the lease): another node matches
    // now, and the tickets queued here would never meet its players. They end.
    if (old_lead == peers_.self) {
      for (const auto& t : mm_.take_all())
        end_ticket(t, "failed");
      party_tickets_.clear();
      waiting_ = 0;
    }
    std::vector<std::shared_ptr<forwarded>> held;
    for (const auto& [p, f] : forwarded_)
      if (f->lead == old_lead && std::find(held.begin(), held.end(), f) == held.end())
        held.push_back(f);
    for (auto& f : held) {
      forget(f);
      // The old lead ends them and tells the players; when it does not answer, this node does.
      peers_.ask(old_lead,
                 {{"op", "mm.end"}, {"players", ids_json(f->players)}, {"reason", "failed"}},
                 [this, f](result<json::object> r) {
                   if (r) return;
                   on_strand([this, f] {
                     for (player_id p : f->players)
                       send(p, "match.cancelled", {{"reason", "failed"}});
                   });
                 });
    }
  });
}

void match_service::seated(player_id p) {
  on_strand([this, p] {
    auto m = match_of_.find(p);
    if (m == match_of_.end()) {
      // A room made here for another node's match: that node counts the seat taken.
      auto h = hosted_of_.find(p);
      if (h == hosted_of_.end()) return;
      auto room = lobby_.room_of(p);
      if (room && room->id() == hosted_.at(h->second).room_id) tell_joined(h->second, p, 5);
      return;
    }
    const std::string id = m->second;
    const pending& pm = pending_.at(id);
    auto room = lobby_.room_of(p);
    if (pm.join_by == 0 || !room || room->id() != pm.room_id) return;
    mark_joined(id, p);
  });
}

void match_service::mark_joined(const std::string& id, player_id p) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  it->second.joined[p] = true;
  for (const auto& [q, joined] : it->second.joined)
    if (!joined) return;
  start_game(it->second);
}

void match_service::run_once() {
  if (stopped_) return;
  const epoch_ms now = clock_.now_ms();
  std::vector<ticket> expired;
  auto matches = mm_.run(now, &expired);
  for (const auto& t : expired) {
    stats_.expired.fetch_add(1);
    end_ticket(t, "expired");
  }
  waiting_ = mm_.size();
  for (auto& m : matches)
    form(std::move(m));
}

void match_service::form(match m) {
  stats_.matched.fetch_add(1);
  pending pm;
  pm.id = fmt::format("{}-{}", core::random_token(6), next_match_++);
  pm.mode = m.mode;
  pm.tickets = std::move(m.tickets);
  pm.leader = pm.tickets.front().players.front();
  pm.host = host_for(pm.tickets);
  std::vector<player_id> players;
  for (const auto& t : pm.tickets)
    for (player_id p : t.players) {
      players.push_back(p);
      pm.joined[p] = false;
      match_of_[p] = pm.id;
    }
  const std::string id = pm.id;
  const std::string host = pm.host;
  const std::string mode = pm.mode;
  const std::string settings = pm.tickets.front().settings;
  pending_.emplace(id, std::move(pm));
  if (host.empty()) return host_here(id);
  // Another node makes it: it seats the players by the names known here.
  json::array names;
  for (player_id p : players)
    names.push_back(json::string(lobby_.nickname_of(p)));
  json::object ask{{"op", "mm.host"},
                   {"match", id},
                   {"lead", peers_.self},
                   {"mode", mode},
                   {"settings", settings},
                   {"players", ids_json(players)},
                   {"nicknames", std::move(names)}};
  peers_.ask(host, std::move(ask), [this, id, host](result<json::object> r) {
    on_strand([this, id, host, r = std::move(r)] {
      std::string room_id;
      std::vector<player_id> failed;
      try {
        if (r) {
          room_id = r->at("room_id").as_string();
          for (const auto& p : r->at("failed").as_array())
            failed.push_back(p.to_number<player_id>());
        }
      } catch (const std::exception&) {
        room_id.clear();
      }
      auto it = pending_.find(id);
      if (it == pending_.end() || room_id.empty()) {
        // Dissolved meanwhile, or the host did not make it (it refused, or did not answer in
        // time: what it makes late is dropped there at once, mm.dissolve arriving first).
        peers_.ask(host, {{"op", "mm.dissolve"}, {"match", id}}, [](result<json::object>) {});
        if (it == pending_.end()) return;
        spdlog::warn("matchmaker: match {}: node {} did not make its room ({}); made here", id,
                     host, r ? "malformed answer" : r.error().message);
        it->second.host.clear();
        return host_here(id);
      }
      on_reserved(id, std::move(room_id), failed);
    });
  });
}

std::string match_service::host_for(const std::vector<ticket>& tickets) {
  if (!peers_.ask) return std::string();
  std::map<std::string, std::size_t> players;
  for (const auto& t : tickets)
    players[t.node.empty() ? peers_.self : t.node] += t.size();
  std::size_t most = 0;
  for (const auto& [node, n] : players)
    most = std::max(most, n);
  std::vector<std::string> tied;
  for (const auto& [node, n] : players)
    if (n == most) tied.push_back(node);
  std::string pick = tied[host_turn_++ % tied.size()];
  return pick == peers_.self ? std::string() : pick;
}

void match_service::host_here(const std::string& id) {
  const pending& pm = pending_.at(id);
  std::vector<player_id> players;
  for (const auto& t : pm.tickets)
    players.insert(players.end(), t.players.begin(), t.players.end());
  make_room(id, pm.mode, pm.tickets.front().settings, std::move(players),
            [this, id](result<made_room> r) {
              auto it = pending_.find(id);
              if (it == pending_.end()) return;
              if (!r) {
                spdlog::warn("matchmaker: match {}: its room could not be made: {}", id,
                             r.error().message);
                return dissolve(id, {it->second.leader}, "failed");
              }
              on_reserved(id, std::move(r->room_id), r->failed);
            });
}

void match_service::make_room(const std::string& id, const std::string& mode,
                              const std::string& asked, std::vector<player_id> players,
                              std::function<void(result<made_room>)> done) {
  // Made as room.create makes one, private (it is joined through the match only) yet ranked
  // (its players did not choose each other: its games are rated), as large as the match, with
  // the settings its tickets asked for (all the same).
  const lobby::mode_factory* f = lobby_.modes().find(mode);
  auto settings = !f              ? result<json::object>(error{errc::unknown_mode})
                  : asked.empty() ? f->validate_settings(json::object{})
                                  : result<json::object>(json::parse(asked).as_object());
  if (!settings) {
    spdlog::error("matchmaker: mode {} has no default settings: {}", mode,
                  settings.error().message);
    return done(settings.error());
  }
  lobby::create_params cp;
  cp.mode = mode;
  cp.name = fmt::format("Quick play {}", id);
  cp.capacity = static_cast<int>(players.size());
  cp.is_private = true;
  cp.ranked = true;
  cp.settings = std::make_shared<const json::object>(std::move(*settings));
  const player_id leader = players.front();
  lobby_.create(leader, std::move(cp), nullptr,
                [this, players = std::move(players),
                 done = std::move(done)](result<json::object> res) mutable {
                  std::string room_id;
                  error why;
                  if (res)
                    room_id = std::string(res->at("room").at("id").as_string());
                  else
                    why = res.error();
                  on_strand([this, room_id, why, players = std::move(players),
                             done = std::move(done)]() mutable {
                    if (room_id.empty()) return done(why);
                    struct reserving {
                      made_room made;
                      std::size_t left = 0;
                      std::function<void(result<made_room>)> done;
                    };
                    auto st = std::make_shared<reserving>();
                    st->made.room_id = room_id;
                    st->left = players.size() - 1;
                    st->done = std::move(done);
                    if (st->left == 0) return st->done(std::move(st->made));
                    auto room = lobby_.find_room(room_id);
                    const std::string invite = room ? room->invite_code() : std::string();
                    for (std::size_t i = 1; i < players.size(); ++i) {
                      const player_id p = players[i];
                      lobby::join_params jp;
                      jp.room_id = room_id;
                      jp.invite_code = invite;
                      lobby_.reserve(p, lobby_.nickname_of(p), std::move(jp),
                                     [this, st, p](result<json::object> r) {
                                       const bool ok = r.has_value();
                                       on_strand([st, p, ok] {
                                         if (!ok) st->made.failed.push_back(p);
                                         if (--st->left == 0) st->done(std::move(st->made));
                                       });
                                     });
                    }
                  });
                });
}

void match_service::on_reserved(const std::string& id, std::string room_id,
                                const std::vector<player_id>& failed) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  pending& pm = it->second;
  pm.room_id = std::move(room_id);
  // A player who could not be seated (they sat down elsewhere meanwhile) fails the match now.
  if (!failed.empty()) return dissolve(id, failed, "no_show");
  pm.join_by = clock_.now_ms() + opts_.join_timeout_ms;
  pm.deadline = std::make_unique<boost::asio::steady_timer>(parties_.strand());
  pm.deadline->expires_after(std::chrono::milliseconds(opts_.join_timeout_ms));
  pm.deadline->async_wait([this, id](boost::system::error_code ec) {
    if (ec) return;
    auto pit = pending_.find(id);
    if (pit == pending_.end()) return;
    std::vector<player_id> absent;
    for (const auto& [p, joined] : pit->second.joined)
      if (!joined) absent.push_back(p);
    dissolve(id, std::move(absent), "no_show");
  });
  std::vector<player_id> players;
  for (const auto& t : pm.tickets)
    players.insert(players.end(), t.players.begin(), t.players.end());
  const json::object data{{"match_id", id},
                          {"room_id", pm.room_id},
                          {"mode", pm.mode},
                          {"players", ids_json(players)},
                          {"join_by", pm.join_by}};
  const auto frame = proto::encode_event("match.found", data);
  for (player_id p : players)
    tell_found(id, p, frame);
}

void match_service::tell_found(const std::string& id, player_id p, proto::frame f) {
  lobby_.deliver_anywhere(p, f, [this, id, p, f](result<bool> r) {
    if (r && *r) return;
    // Not delivered (several nodes: the player's node was not reached, or the player is between
    // two sockets): tried again every half second until the match's join_by.
    on_strand([this, id, p, f] {
      auto it = pending_.find(id);
      if (it == pending_.end() || stopped_) return;
      pending& pm = it->second;
      if (clock_.now_ms() + kFoundRetryMs >= pm.join_by) return;
      auto t = std::make_shared<boost::asio::steady_timer>(parties_.strand());
      pm.retries.push_back(t);
      t->expires_after(std::chrono::milliseconds(kFoundRetryMs));
      t->async_wait([this, id, p, f](boost::system::error_code ec) {
        if (ec || !pending_.count(id)) return;
        tell_found(id, p, f);
      });
    });
  });
}

void match_service::tell_joined(const std::string& id, player_id p, int tries) {
  auto it = hosted_.find(id);
  if (it == hosted_.end()) return;
  peers_.ask(it->second.lead, {{"op", "mm.joined"}, {"match", id}, {"player", p}},
             [this, id, p, tries](result<json::object> r) {
               if (r || r.error().code != errc::unavailable || tries <= 1) return;
               on_strand([this, id, p, tries] {
                 if (!stopped_) tell_joined(id, p, tries - 1);
               });
             });
}

void match_service::drop_hosted(const std::string& id, bool leave) {
  auto it = hosted_.find(id);
  if (it == hosted_.end()) return;
  hosted h = std::move(it->second);
  hosted_.erase(it);
  h.expiry->cancel();
  for (player_id p : h.players)
    if (auto o = hosted_of_.find(p); o != hosted_of_.end() && o->second == id) hosted_of_.erase(o);
  if (!leave) return;
  if (auto room = lobby_.find_room(h.room_id)) {
    for (player_id p : h.players)
      room->leave(p, [](result<json::object>) {});
  }
}

bool match_service::queued_or_matched(player_id p) const {
  return mm_.ticket_of(p) || match_of_.count(p) || enqueuing_.count(p);
}

void match_service::party_companions(player_id p,
                                     std::function<void(result<std::vector<player_id>>)> done) {
  on_strand([this, p, done = std::move(done)] {
    const auto* pt = parties_.party_of(p);
    if (!pt) return done(error{errc::not_in_party});
    if (pt->leader != p)
      return done(error{errc::not_leader, "Only the party's leader brings the party into a room."});
    std::vector<player_id> others;
    for (player_id m : pt->members) {
      // Queued here, being queued, matched, or queued at the cluster's matchmaker (forwarded).
      if (queued_or_matched(m) || forwarded_.count(m)) {
        return done(error{errc::already_matchmaking,
                          m == p ? std::string("You are matchmaking; match.cancel first.")
                                 : fmt::format("{} is matchmaking.", lobby_.nickname_of(m))});
      }
      if (m != p) others.push_back(m);
    }
    done(std::move(others));
  });
}

void match_service::join(player_id p, std::shared_ptr<net::connection> c, lobby::reply_fn reply) {
  on_strand([this, p, c = std::move(c), reply = std::move(reply)]() mutable {
    auto m = match_of_.find(p);
    if (m == match_of_.end()) {
      // A room made here for another node's match: the seat is taken here, that node is told.
      auto h = hosted_of_.find(p);
      if (h == hosted_of_.end()) return reply(error{errc::no_match});
      const std::string id = h->second;
      return lobby_.resume(
          p, std::move(c), [this, p, id, reply = std::move(reply)](json::value room) mutable {
            on_strand([this, p, id, room = std::move(room), reply = std::move(reply)]() mutable {
              if (room.is_null() || !hosted_.count(id))
                return reply(error{errc::no_match, "The seat is not held any more."});
              reply(json::object{{"room", std::move(room)}});
              tell_joined(id, p, 5);
            });
          });
    }
    const std::string id = m->second;
    const pending& pm = pending_.at(id);
    if (pm.join_by == 0) {
      return reply(error{errc::out_of_order,
                         "The match's room is still being made: wait for "
                         "match.found."});
    }
    // The room is on another node: the caller reads the seat directory and answers `moved`.
    if (!pm.host.empty())
      return reply(error{errc::no_match, "The match's room is on another node."});
    lobby_.resume(
        p, std::move(c), [this, p, id, reply = std::move(reply)](json::value room) mutable {
          on_strand([this, p, id, room = std::move(room), reply = std::move(reply)]() mutable {
            auto it = pending_.find(id);
            if (room.is_null() || it == pending_.end()) {
              return reply(error{errc::no_match, "The seat is not held any more."});
            }
            reply(json::object{{"room", std::move(room)}});
            mark_joined(id, p);
          });
        });
  });
}

void match_service::start_game(pending& pm) {
  const std::string id = pm.id;
  if (pm.deadline) pm.deadline->cancel();
  for (auto& t : pm.retries)
    t->cancel();
  for (const auto& [p, joined] : pm.joined)
    match_of_.erase(p);
  for (const auto& t : pm.tickets)
    tell_gone(t);
  if (!pm.host.empty()) {
    peers_.ask(pm.host, {{"op", "mm.start"}, {"match", id}}, [this, id](result<json::object> r) {
      if (r)
        stats_.started.fetch_add(1);
      else
        spdlog::warn("matchmaker: match {}: its node did not start it: {}", id, r.error().message);
    });
  } else if (auto room = lobby_.find_room(pm.room_id)) {
    // Everyone is in: the others are ready, and the room's leader (the match's first player)
    // starts the game, as a room's leader would.
    for (const auto& [p, joined] : pm.joined)
      if (p != pm.leader) room->ready(p, true, [](result<json::object>) {});
    room->start(pm.leader, [id](result<json::object> r) {
      if (!r)
        spdlog::warn("matchmaker: match {}: the game did not start: {}", id, r.error().message);
    });
    stats_.started.fetch_add(1);
  }
  pending_.erase(id);
}

void match_service::dissolve(const std::string& id, std::vector<player_id> absent,
                             std::string_view reason) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  pending pm = std::move(it->second);
  pending_.erase(it);
  if (pm.deadline) pm.deadline->cancel();
  for (auto& t : pm.retries)
    t->cancel();
  for (const auto& [p, joined] : pm.joined)
    match_of_.erase(p);
  // Everyone leaves the room (an empty room closes): the absent free their seats.
  if (!pm.host.empty() && !pm.room_id.empty()) {
    peers_.ask(pm.host, {{"op", "mm.dissolve"}, {"match", id}}, [](result<json::object>) {});
  } else if (auto room = pm.room_id.empty() ? nullptr : lobby_.find_room(pm.room_id)) {
    for (const auto& [p, joined] : pm.joined)
      room->leave(p, [](result<json::object>) {});
  }
  const epoch_ms now = clock_.now_ms();
  for (auto& t : pm.tickets) {
    const bool failed = std::any_of(t.players.begin(), t.players.end(), [&](player_id p) {
      return std::find(absent.begin(), absent.end(), p) != absent.end();
    });
    if (failed || reason == "failed") {
      if (reason == "no_show") stats_.no_shows.fetch_add(1);
      end_ticket(t, reason);
      continue;
    }
    // Not their fault: back at the front, their wait (and rating window) kept.
    stats_.requeued.fetch_add(1);
    const std::vector<player_id> players = t.players;
    if (t.party) party_tickets_[t.party] = t.id;
    mm_.requeue_front(std::move(t), now);
    for (player_id p : players)
      send(p, "match.requeued", {{"match_id", id}});
  }
  waiting_ = mm_.size();
}

}  // namespace maratang::match
