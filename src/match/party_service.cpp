#include "match/party_service.hpp"

#include <fmt/format.h>

#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <random>
#include <utility>

#include "core/crypto.hpp"
#include "lobby/room.hpp"
#include "proto/codec.hpp"

namespace maratang::match {

namespace json = boost::json;

party_service::party_service(boost::asio::io_context& ioc, lobby::lobby& lob, const clock& clk,
                             party_options opts)
    : ioc_(ioc), lobby_(lob), clock_(clk), opts_(opts), strand_(boost::asio::make_strand(ioc)) {}

template <class F>
void party_service::on_strand(F&& f) {
  boost::asio::post(strand_, std::forward<F>(f));
}

std::string party_service::new_code() {
  // Six characters without look-alikes (as room invite codes), easy to read aloud.
  static constexpr std::string_view alphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";
  std::string code;
  do {
    const std::string raw = core::random_token(8);
    code.clear();
    for (std::size_t i = 0; i < 6; ++i)
      code += alphabet[static_cast<unsigned char>(raw[i]) % alphabet.size()];
  } while (codes_.count(code));
  return code;
}

std::int64_t party_service::new_id() {
  // Random, so that the parties of several nodes never share an id (and below 2^53: exact in
  // JavaScript).
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  std::int64_t id = 0;
  do {
    id = static_cast<std::int64_t>(rng() >> 11);
  } while (id == 0 || parties_.count(id));
  return id;
}

void party_service::deliver(player_id p, proto::frame f) {
  lobby_.deliver_anywhere(p, std::move(f), [](result<bool>) {});
}

void party_service::publish(const party& pt, std::vector<player_id> members, bool present) {
  if (!peers_.publish) return;
  std::vector<std::string> keys;
  // The party's own keys go with its last member, and come with its first.
  if (present ? members.size() == pt.members.size() : pt.members.empty()) {
    keys.push_back("id:" + std::to_string(pt.id));
    keys.push_back("code:" + pt.code);
  }
  peers_.publish(std::move(keys), std::move(members), present);
}

void party_service::republish() {
  on_strand([this] {
    for (const auto& [id, pt] : parties_)
      publish(pt, pt.members, true);
  });
}

void party_service::join_elsewhere(player_id p, std::string key, json::object msg,
                                   lobby::reply_fn reply) {
  if (party_of(p))
    return reply(error{errc::already_in_party, "You are in a party already; leave it first."});
  peers_.locate(std::move(key), [this, p, msg = std::move(msg),
                                 reply = std::move(reply)](result<std::string> node) mutable {
    on_strand([this, p, msg = std::move(msg), reply = std::move(reply),
               node = std::move(node)]() mutable {
      if (!node) return reply(node.error());
      if (node->empty() || *node == peers_.self) return reply(error{errc::unknown_party});
      json::value moved = peers_.route_of(*node);
      if (moved.is_null()) {
        return reply(error{errc::unavailable, "The party's node cannot be reached; try again."});
      }
      msg["player"] = p;
      msg["nickname"] = lobby_.nickname_of(p);
      peers_.ask(*node, std::move(msg),
                 [moved = std::move(moved), reply = std::move(reply)](result<json::object> r) {
                   if (!r) return reply(r.error());
                   // The party is there: the client reconnects to its node.
                   (*r)["moved"] = moved;
                   reply(std::move(*r));
                 });
    });
  });
}

void party_service::on_request(json::object msg, std::function<void(result<json::object>)> answer) {
  on_strand([this, msg = std::move(msg), answer = std::move(answer)]() mutable {
    const auto* op = msg.if_contains("op");
    const std::string_view name = op && op->is_string() ? std::string_view(op->get_string()) : "";
    player_id p = 0;
    try {
      p = msg.at("player").to_number<player_id>();
      if (name == "party.presence") {
        // A member's presence on the node it is connected to.
        const bool online = msg.at("online").as_bool();
        const json::value& room = msg.at("room_id");
        if (!room.is_null() && !room.is_string())
          return answer(error{errc::bad_field, "room_id must be a string or null"});
        const party* pt = party_of(p);
        if (!pt) return answer(error{errc::not_in_party});
        if (online)
          far_[p] = far_presence{true, room};
        else
          far_.erase(p);
        answer(json::object{});
        json::object m = member_json(p);
        send_party(*pt, "party.presence",
                   {{"player", p}, {"online", m["online"]}, {"room_id", m["room_id"]}}, p);
        return;
      }
      // The member is shown by this name in the party's events until their hello here.
      if (name == "party.accept" || name == "party.join")
        lobby_.remember_nickname(p, std::string(msg.at("nickname").as_string()));
      if (name == "party.accept")
        return accept(p, msg.at("party_id").to_number<std::int64_t>(), std::move(answer));
      if (name == "party.join")
        return join_by_code(p, std::string(msg.at("code").as_string()), std::move(answer));
    } catch (const std::exception&) {
      return answer(error{errc::bad_field, fmt::format("a malformed {} request", name)});
    }
    answer(error{errc::unknown_type, fmt::format("no request \"{}\"", name)});
  });
}

const party_service::party* party_service::party_of(player_id p) const {
  auto it = party_of_.find(p);
  if (it == party_of_.end()) return nullptr;
  auto pt = parties_.find(it->second);
  return pt == parties_.end() ? nullptr : &pt->second;
}

const party_service::party* party_service::party_of_id(std::int64_t id) const {
  auto pt = parties_.find(id);
  return pt == parties_.end() ? nullptr : &pt->second;
}

party_service::party* party_service::find_party_of(player_id p) {
  return const_cast<party*>(std::as_const(*this).party_of(p));
}

json::object party_service::member_json(player_id p) const {
  json::value room = nullptr;
  if (auto r = lobby_.room_of(p)) room = r->id();
  bool online = lobby_.attached_at(p) != 0;
  // Not connected here: as the node it is connected to last said (several nodes).
  if (auto it = far_.find(p); !online && it != far_.end() && it->second.online) {
    online = true;
    room = it->second.room_id;
  }
  return {{"id", p},
          {"nickname", lobby_.nickname_of(p)},
          {"online", online},
          {"room_id", std::move(room)}};
}

void party_service::report_presence(player_id p) {
  peers_.party_node(p, [this, p](std::string node) {
    if (node.empty() || node == peers_.self) return;
    on_strand([this, p, node = std::move(node)] {
      if (party_of(p)) return;  // it joined a party here meanwhile
      json::value room = nullptr;
      if (auto r = lobby_.room_of(p)) room = r->id();
      peers_.ask(node,
                 {{"op", "party.presence"},
                  {"player", p},
                  {"online", lobby_.attached_at(p) != 0},
                  {"room_id", std::move(room)}},
                 [](result<json::object>) {});
    });
  });
}

json::object party_service::party_json(const party& pt) const {
  json::array members;
  for (player_id m : pt.members)
    members.push_back(member_json(m));
  return {{"id", pt.id},
          {"code", pt.code},
          {"leader", pt.leader},
          {"max_size", opts_.max_size},
          {"members", std::move(members)}};
}

void party_service::send_party(const party& pt, std::string_view type, const json::object& data,
                               player_id except) {
  const auto f = proto::encode_event(type, data);
  for (player_id m : pt.members)
    if (m != except) deliver(m, f);
}

void party_service::create(player_id p, lobby::reply_fn reply) {
  on_strand([this, p, reply = std::move(reply)] {
    if (party_of(p))
      return reply(error{errc::already_in_party, "You are in a party already; leave it first."});
    party pt;
    pt.id = new_id();
    pt.code = new_code();
    pt.leader = p;
    pt.members.push_back(p);
    codes_.emplace(pt.code, pt.id);
    party_of_[p] = pt.id;
    auto& stored = parties_.emplace(pt.id, std::move(pt)).first->second;
    publish(stored, {p}, true);
    reply(json::object{{"party", party_json(stored)}});
  });
}

void party_service::invite(player_id p, player_id target, lobby::reply_fn reply) {
  on_strand([this, p, target, reply = std::move(reply)] {
    party* pt = find_party_of(p);
    if (!pt) return reply(error{errc::not_in_party});
    if (target == p || party_of(target) == pt)
      return reply(error{errc::already_in_party, "That player is in your party already."});
    if (static_cast<int>(pt->members.size()) >= opts_.max_size)
      return reply(error{errc::party_full});
    const epoch_ms now = clock_.now_ms();
    // Expired invitations go; the table stays as small as the live ones.
    std::erase_if(pt->invited, [now](const auto& kv) { return kv.second <= now; });
    const json::object data{{"party_id", pt->id},
                            {"code", pt->code},
                            {"from", {{"id", p}, {"nickname", lobby_.nickname_of(p)}}},
                            {"expires_at", now + opts_.invite_ttl_ms}};
    // Recorded first: the answer may come back before the delivery is confirmed.
    const epoch_ms expiry = now + opts_.invite_ttl_ms;
    pt->invited[target] = expiry;
    const std::int64_t party_id = pt->id;
    lobby_.deliver_anywhere(
        target, proto::encode_event("party.invitation", data),
        [this, party_id, target, expiry, reply = std::move(reply)](result<bool> sent) {
          // Not the result itself: a copy of a result<bool> may be made from its truth (Boost's
          // converting constructor), which is whether it holds a value.
          const bool delivered = sent && *sent;
          error why =
              sent ? error{errc::unknown_player, "That player is not online."} : sent.error();
          on_strand([this, party_id, target, expiry, reply = std::move(reply), delivered,
                     why = std::move(why)] {
            if (delivered) return reply(json::object{{"player", target}});
            if (auto it = parties_.find(party_id); it != parties_.end()) {
              auto inv = it->second.invited.find(target);
              if (inv != it->second.invited.end() && inv->second == expiry)
                it->second.invited.erase(inv);
            }
            reply(why);
          });
        });
  });
}

void party_service::accept(player_id p, std::int64_t party_id, lobby::reply_fn reply) {
  on_strand([this, p, party_id, reply = std::move(reply)] {
    auto it = parties_.find(party_id);
    if (it == parties_.end()) {
      // Several nodes: perhaps a party of another node.
      if (peers_.locate) {
        return join_elsewhere(p, "id:" + std::to_string(party_id),
                              {{"op", "party.accept"}, {"party_id", party_id}}, std::move(reply));
      }
      return reply(error{errc::unknown_party});
    }
    auto inv = it->second.invited.find(p);
    if (inv == it->second.invited.end() || inv->second <= clock_.now_ms())
      return reply(error{errc::no_invitation});
    join_by_code(p, it->second.code, std::move(reply));
  });
}

void party_service::join_by_code(player_id p, std::string code, lobby::reply_fn reply) {
  on_strand([this, p, code = std::move(code), reply = std::move(reply)] {
    auto c = codes_.find(code);
    if (c == codes_.end()) {
      if (peers_.locate) {
        return join_elsewhere(p, "code:" + code, {{"op", "party.join"}, {"code", code}},
                              std::move(reply));
      }
      return reply(error{errc::unknown_party, "No party has that code."});
    }
    party& pt = parties_.at(c->second);
    if (party_of(p) == &pt)
      return reply(error{errc::already_in_party, "You are in a party already; leave it first."});
    if (party_of(p))
      return reply(error{errc::already_in_party, "You are in a party already; leave it first."});
    if (static_cast<int>(pt.members.size()) >= opts_.max_size)
      return reply(error{errc::party_full});
    pt.invited.erase(p);
    pt.members.push_back(p);
    party_of_[p] = pt.id;
    publish(pt, {p}, true);
    reply(json::object{{"party", party_json(pt)}});
    send_party(pt, "party.member_joined", {{"member", member_json(p)}}, p);
    if (on_changed_) on_changed_(pt.id);
  });
}

void party_service::remove_member(party& pt, player_id p, std::string_view reason) {
  std::erase(pt.members, p);
  party_of_.erase(p);
  far_.erase(p);
  publish(pt, {p}, false);
  const std::int64_t id = pt.id;
  if (pt.members.empty()) {
    codes_.erase(pt.code);
    parties_.erase(id);
    if (on_changed_) on_changed_(id);
    return;
  }
  send_party(pt, "party.member_left", {{"player", p}, {"reason", reason}});
  if (pt.leader == p) {
    pt.leader = pt.members.front();
    send_party(pt, "party.leader_changed", {{"player", pt.leader}});
  }
  if (on_changed_) on_changed_(id);
}

void party_service::leave(player_id p, lobby::reply_fn reply) {
  on_strand([this, p, reply = std::move(reply)] {
    party* pt = find_party_of(p);
    if (!pt) return reply(error{errc::not_in_party});
    reply(json::object{});
    remove_member(*pt, p, "left");
  });
}

void party_service::kick(player_id p, player_id target, lobby::reply_fn reply) {
  on_strand([this, p, target, reply = std::move(reply)] {
    party* pt = find_party_of(p);
    if (!pt) return reply(error{errc::not_in_party});
    if (pt->leader != p) return reply(error{errc::not_leader});
    if (target == p) return reply(error{errc::bad_target, "Leave the party instead."});
    if (party_of(target) != pt)
      return reply(error{errc::bad_target, "That player is not in your party."});
    reply(json::object{});
    deliver(target,
            proto::encode_event("party.removed", {{"party_id", pt->id}, {"reason", "kicked"}}));
    remove_member(*pt, target, "kicked");
  });
}

void party_service::transfer(player_id p, player_id target, lobby::reply_fn reply) {
  on_strand([this, p, target, reply = std::move(reply)] {
    party* pt = find_party_of(p);
    if (!pt) return reply(error{errc::not_in_party});
    if (pt->leader != p) return reply(error{errc::not_leader});
    if (party_of(target) != pt)
      return reply(error{errc::bad_target, "That player is not in your party."});
    reply(json::object{});
    if (target == p) return;
    pt->leader = target;
    send_party(*pt, "party.leader_changed", {{"player", target}});
  });
}

void party_service::chat(player_id p, std::string text, lobby::reply_fn reply) {
  on_strand([this, p, text = std::move(text), reply = std::move(reply)] {
    party* pt = find_party_of(p);
    if (!pt) return reply(error{errc::not_in_party});
    json::object line{
        {"from", p}, {"nickname", lobby_.nickname_of(p)}, {"text", text}, {"ts", clock_.now_ms()}};
    reply(json::object{});
    send_party(*pt, "party.chat", line);
    pt->chat.push_back(std::move(line));
    while (pt->chat.size() > static_cast<std::size_t>(opts_.chat_history))
      pt->chat.pop_front();
  });
}

void party_service::get(player_id p, lobby::reply_fn reply) {
  on_strand([this, p, reply = std::move(reply)] {
    const party* pt = party_of(p);
    if (!pt) return reply(json::object{{"party", nullptr}});
    json::object o = party_json(*pt);
    json::array chat;
    for (const auto& l : pt->chat)
      chat.push_back(l);
    o["chat"] = std::move(chat);
    reply(json::object{{"party", std::move(o)}});
  });
}

void party_service::presence_changed(player_id p) {
  on_strand([this, p] {
    const party* pt = party_of(p);
    if (!pt) {
      // Several nodes: perhaps a member of a party kept by another node.
      if (peers_.party_node) report_presence(p);
      return;
    }
    if (pt->members.size() < 2) return;
    json::object m = member_json(p);
    send_party(*pt, "party.presence",
               {{"player", p}, {"online", m["online"]}, {"room_id", m["room_id"]}}, p);
  });
}

}  // namespace maratang::match
