#include "match/party_service.hpp"

#include <boost/asio/post.hpp>
#include <boost/json.hpp>
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
  return {{"id", p},
          {"nickname", lobby_.nickname_of(p)},
          {"online", lobby_.attached_at(p) != 0},
          {"room_id", std::move(room)}};
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
    if (m != except) lobby_.deliver(m, f);
}

void party_service::create(player_id p, lobby::reply_fn reply) {
  on_strand([this, p, reply = std::move(reply)] {
    if (party_of(p))
      return reply(error{errc::already_in_party, "You are in a party already; leave it first."});
    party pt;
    pt.id = next_id_++;
    pt.code = new_code();
    pt.leader = p;
    pt.members.push_back(p);
    codes_.emplace(pt.code, pt.id);
    party_of_[p] = pt.id;
    auto& stored = parties_.emplace(pt.id, std::move(pt)).first->second;
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
    if (!lobby_.deliver(target, proto::encode_event("party.invitation", data))) {
      return reply(error{errc::unknown_player, "That player is not online."});
    }
    pt->invited[target] = now + opts_.invite_ttl_ms;
    reply(json::object{{"player", target}});
  });
}

void party_service::accept(player_id p, std::int64_t party_id, lobby::reply_fn reply) {
  on_strand([this, p, party_id, reply = std::move(reply)] {
    auto it = parties_.find(party_id);
    if (it == parties_.end()) return reply(error{errc::unknown_party});
    auto inv = it->second.invited.find(p);
    if (inv == it->second.invited.end() || inv->second <= clock_.now_ms())
      return reply(error{errc::no_invitation});
    join_by_code(p, it->second.code, std::move(reply));
  });
}

void party_service::join_by_code(player_id p, std::string code, lobby::reply_fn reply) {
  on_strand([this, p, code = std::move(code), reply = std::move(reply)] {
    auto c = codes_.find(code);
    if (c == codes_.end()) return reply(error{errc::unknown_party, "No party has that code."});
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
    reply(json::object{{"party", party_json(pt)}});
    send_party(pt, "party.member_joined", {{"member", member_json(p)}}, p);
    if (on_changed_) on_changed_(pt.id);
  });
}

void party_service::remove_member(party& pt, player_id p, std::string_view reason) {
  std::erase(pt.members, p);
  party_of_.erase(p);
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
    lobby_.deliver(
        target, proto::encode_event("party.removed", {{"party_id", pt->id}, {"reason", "kicked"}}));
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
    if (!pt || pt->members.size() < 2) return;
    json::object m = member_json(p);
    send_party(*pt, "party.presence",
               {{"player", p}, {"online", m["online"]}, {"room_id", m["room_id"]}}, p);
  });
}

}  // namespace maratang::match
