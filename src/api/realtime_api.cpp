// The realtime pipeline: one WebSocket frame from parse to reply. The table built in the
// constructor maps every core message type (proto/messages.cpp) to its handler; any other type
// that a game mode declares goes to the sender's room.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/json.hpp>

#include "api/gateway.hpp"
#include "core/account_store.hpp"
#include "core/auth_service.hpp"
#include "lobby/lobby.hpp"
#include "lobby/room.hpp"
#include "match/match_service.hpp"
#include "match/party_service.hpp"
#include "obs/metrics.hpp"

namespace maratang::api {

namespace json = boost::json;

gateway::gateway(core::auth_service& auth, lobby::lobby& lobby, gateway_stores stores,
                 obs::metrics& m, const clock& clk, gateway_options opts)
    : auth_(auth), lobby_(lobby), stores_(stores), metrics_(m), clock_(clk), opts_(opts) {
  init_static_files();
  ws_table_ = {
      {"hello", &gateway::on_hello},
      {"time.sync", &gateway::on_time_sync},
      {"room.list", &gateway::on_room_list},
      {"room.create", &gateway::on_room_create},
      {"room.join", &gateway::on_room_join},
      {"room.leave", &gateway::on_room_leave},
      {"room.ready", &gateway::on_room_ready},
      {"room.kick", &gateway::on_room_kick},
      {"room.invite", &gateway::on_room_invite},
      {"room.transfer", &gateway::on_room_transfer},
      {"room.start", &gateway::on_room_start},
      {"room.chat", &gateway::on_room_chat},
      {"leaderboard.get", &gateway::on_leaderboard_get},
      {"leaderboard.around", &gateway::on_leaderboard_around},
      {"rating.get", &gateway::on_rating_get},
      {"party.create", &gateway::on_party_create},
      {"party.invite", &gateway::on_party_invite},
      {"party.accept", &gateway::on_party_accept},
      {"party.join", &gateway::on_party_join},
      {"party.leave", &gateway::on_party_leave},
      {"party.kick", &gateway::on_party_kick},
      {"party.transfer", &gateway::on_party_transfer},
      {"party.chat", &gateway::on_party_chat},
      {"party.get", &gateway::on_party_get},
      {"match.start", &gateway::on_match_start},
      {"match.cancel", &gateway::on_match_cancel},
      {"match.join", &gateway::on_match_join},
  };
  // Every request in the protocol table has a handler, and nothing else does.
  for (const auto& msg : proto::core_messages()) {
    if (msg.dir == proto::direction::request && !ws_table_.count(msg.type)) {
      throw std::logic_error(fmt::format("no handler for message {}", msg.type));
    }
  }
}

// --- Connection lifecycle ---------------------------------------------------------------------

result<net::ws_identity> gateway::on_ws_upgrade(const net::http_request& req) {
  if (draining_) return error{errc::unavailable, "The server is shutting down."};
  auto claims = auth_.authenticate(req.bearer_token());
  if (!claims) return claims.error();
  return net::ws_identity{claims->account_id, claims->session_id};
}

void gateway::on_ws_open(const std::shared_ptr<net::connection>& c) {
  auto acc = c->context().account_id;
  // One live socket per account: the newest wins.
  auto old = lobby_.attach(acc, c);
  if (old) {
    metrics_.sessions_replaced.fetch_add(1);
    old->close("replaced", "This account connected from somewhere else.");
  }
  if (old != c && cluster_.account_connected) {
    cluster_.account_connected(acc, lobby_.attached_at(acc));
  }
  if (parties_ && !old) parties_->presence_changed(acc);
  // Read the account while the client sends hello; hello is answered once both are in.
  stores_.accounts.find_account(acc, [this, c](result<std::optional<store::account>> r) {
    auto found = std::make_shared<result<std::optional<store::account>>>(std::move(r));
    c->run_on_strand([this, c, found] {
      auto& ctx = c->context();
      if (!*found) {
        c->close("unavailable", "The server cannot read accounts now; try again.");
        return;
      }
      if (!**found) {
        c->close("unauthorized", "The account no longer exists.");
        return;
      }
      ctx.nickname = (**found)->nickname;
      ctx.loaded = true;
      if (!ctx.nickname.empty()) lobby_.remember_nickname(ctx.account_id, ctx.nickname);
      if (ctx.hello_waiting) {
        ctx.hello_waiting = false;
        answer_hello(c, json::parse(ctx.hello_id_json));
      }
    });
  });
}

void gateway::on_ws_close(const std::shared_ptr<net::connection>& c) {
  const auto acc = c->context().account_id;
  lobby_.detach(acc, c);
  // Gone, not replaced by a newer connection: the party sees it, and its ticket ends.
  if (lobby_.attached_at(acc) == 0) {
    if (parties_) parties_->presence_changed(acc);
    if (matches_) matches_->disconnected(acc);
  }
}

// --- Frames -----------------------------------------------------------------------------------

void gateway::send_error(const std::shared_ptr<net::connection>& c, std::string_view type,
                         const json::value& id, const error& e) {
  metrics_.count_error(e.code);
  c->send(proto::encode_error(type, id, e));
}

void gateway::reply(const request& r, result<json::object> res) {
  if (res) {
    r.conn->send(proto::encode_reply(r.type, r.id, *res));
  } else {
    send_error(r.conn, r.type, r.id, res.error());
  }
}

void gateway::on_ws_refused(const std::shared_ptr<net::connection>& c, errc why,
                            std::string_view text) {
  json::value id;
  std::string type;
  if (!text.empty()) {
    // Echo the id when the frame is readable, so the client knows which request was dropped.
    (void)proto::parse_envelope(text, {opts_.json_depth_max}, id, type);
  }
  error e = why == errc::too_large
                ? error{why, fmt::format("Messages are limited to {} bytes.", opts_.ws_message_max)}
            : realtime(text, false)
                ? error{why, fmt::format("At most {} inputs a second; this one was dropped.",
                                         opts_.ws_input_rate)}
                : error{why, fmt::format("At most {} messages a second; this one was dropped.",
                                         opts_.ws_rate)};
  send_error(c, type, id, e);
}

// A binary message holds JSON when its first byte is `{` (served as text, as it always was), and
// is otherwise a mode's binary encoding.
static bool mode_binary(std::string_view msg, bool binary) {
  return binary && (msg.empty() || msg.front() != '{');
}

// A realtime input is a mode's silent message (arena.input, arena.ack): a mode's binary message,
// or JSON with its type first, exactly `{"type":"T"`. Recognised without parsing, checked again
// once parsed or decoded.
bool gateway::realtime(std::string_view text, bool binary) const {
  if (mode_binary(text, binary)) return true;
  constexpr std::string_view head = "{\"type\":\"";
  if (!text.starts_with(head)) return false;
  std::string_view rest = text.substr(head.size());
  std::size_t end = rest.find('"');
  if (end == std::string_view::npos || end > 64) return false;
  const proto::message_spec* spec = lobby_.modes().find_message(rest.substr(0, end));
  return spec && spec->silent;
}

void gateway::on_ws_message(const std::shared_ptr<net::connection>& c, std::string_view text,
                            bool realtime, bool binary) {
  request r;
  r.conn = c;
  r.received_ms = clock_.now_ms();
  if (mode_binary(text, binary)) {
    // A mode's binary message (e.g. Arena's input): decoded into the request it encodes, then
    // checked and handled exactly as its JSON form. Errors are answered in JSON, without an id.
    if (!c->context().hello_done) return send_error(c, "", r.id, errc::hello_required);
    // The fast path: a whole, valid realtime input goes to its room as bytes (no JSON object,
    // request or reply), when the sender's room plays that mode. Anything else, the general path.
    const lobby::mode_factory* owner = nullptr;
    if (auto type = lobby_.modes().binary_input_type(text, owner); !type.empty()) {
      const lobby::player_id p = c->context().account_id;
      auto room = lobby_.room_of(p);
      if (!room) return send_error(c, type, r.id, errc::not_in_room);
      if (room->binary_input(p, *owner, type, text, c)) return;
    }
    auto d = lobby_.modes().decode_binary(text);
    if (!d) {
      return send_error(c, "", r.id,
                        d.error().code == errc::unknown_type
                            ? error{errc::bad_message, "No message is encoded so in binary."}
                            : d.error());
    }
    r.type = std::string(d->type);
    r.data = std::move(d->data);
  } else {
    auto in = proto::parse_envelope(text, {opts_.json_depth_max}, r.id, r.type);
    if (!in) return send_error(c, r.type, r.id, in.error());
    r.data = std::move(in->data);
  }
  if (realtime) {
    // Charged to the input budget: it must be a realtime input once parsed too (duplicate keys).
    const proto::message_spec* spec = lobby_.modes().find_message(r.type);
    if (!spec || !spec->silent) {
      return send_error(c, r.type, r.id,
                        error{errc::bad_message, "The message's first \"type\" is not its type."});
    }
  }
  auto& ctx = c->context();
  if (!ctx.hello_done && r.type != "hello")
    return send_error(c, r.type, r.id, errc::hello_required);

  if (auto it = ws_table_.find(r.type); it != ws_table_.end()) {
    const proto::message_spec* spec = proto::find_core_message(r.type);
    auto checked = proto::fields::check(std::move(r.data), spec->fields);
    if (!checked) return send_error(c, r.type, r.id, checked.error());
    r.args.emplace(std::move(*checked));
    if (draining_ && r.type != "hello" && r.type != "time.sync") {
      return send_error(c, r.type, r.id, error{errc::unavailable, "The server is shutting down."});
    }
    return (this->*(it->second))(r);
  }
  // A game message: the sender's room validates it against its mode's table.
  const proto::message_spec* spec = lobby_.modes().find_message(r.type);
  if (!spec) {
    return send_error(
        c, r.type, r.id,
        error{errc::unknown_type, fmt::format("There is no message \"{}\".", r.type)});
  }
  auto room = lobby_.room_of(ctx.account_id);
  if (!room) return send_error(c, r.type, r.id, errc::not_in_room);
  auto shared = std::make_shared<request>(std::move(r));
  const bool silent = spec->silent;
  room->game_message(ctx.account_id, shared->type, std::move(shared->data),
                     [this, shared, silent](result<json::object> res) {
                       if (silent && res) return;  // e.g. arena.input: the next state answers
                       reply(*shared, std::move(res));
                     });
}

// --- Handlers ---------------------------------------------------------------------------------

void gateway::on_hello(request& r) {
  auto& ctx = r.conn->context();
  if (ctx.hello_done || ctx.hello_waiting) {
    return send_error(r.conn, r.type, r.id, error{errc::out_of_order, "hello was already sent."});
  }
  if (r.args->integer("version") != proto::protocol_version) {
    return send_error(
        r.conn, r.type, r.id,
        error{errc::unsupported_version,
              fmt::format("This server speaks protocol version {}.", proto::protocol_version)});
  }
  const auto encoding = r.args->opt_string("encoding").value_or("json");
  if (encoding != "json" && encoding != "binary") {
    return send_error(r.conn, r.type, r.id,
                      error{errc::bad_field, "encoding must be \"json\" or \"binary\"."});
  }
  ctx.hello_done = true;
  ctx.batch = r.args->opt_boolean("batch").value_or(false);
  ctx.binary = encoding == "binary";
  if (!ctx.loaded) {
    ctx.hello_waiting = true;
    ctx.hello_id_json = json::serialize(r.id);
    return;
  }
  answer_hello(r.conn, r.id);
}

void gateway::answer_hello(const std::shared_ptr<net::connection>& c, json::value id) {
  auto& ctx = c->context();
  // The lobby knows renames committed since the account was read at open.
  if (auto fresh = lobby_.nickname_of(ctx.account_id); !fresh.empty()) ctx.nickname = fresh;
  json::object data{{"version", proto::protocol_version},
                    {"account", {{"id", ctx.account_id}, {"nickname", ctx.nickname}}},
                    {"limits",
                     {{"max_message_bytes", opts_.ws_message_max},
                      {"messages_per_second", opts_.ws_rate},
                      {"inputs_per_second", opts_.ws_input_rate}}}};
  // The room (if the player still has a seat) answers with their snapshot; the reply is sent from
  // the room's strand so that it precedes every room event the new connection will receive.
  lobby_.resume(ctx.account_id, c, [this, c, id, data = std::move(data)](json::value room) mutable {
    // No seat here: with several nodes, the seat may be in another node's room; the client is
    // sent there (`moved`).
    if (room.is_null() && cluster_.seat_elsewhere) {
      return cluster_.seat_elsewhere(
          c->context().account_id,
          [this, c, id = std::move(id), data = std::move(data)](json::value moved) mutable {
            auto answer = [this, c, id = std::move(id),
                           data = std::move(data)](json::value to) mutable {
              data["server_time"] = clock_.now_ms();
              data["room"] = nullptr;
              if (!to.is_null()) data["moved"] = std::move(to);
              c->send(proto::encode_reply("hello", id, data));
            };
            // No seat anywhere: the player's party may be kept by another node.
            if (moved.is_null() && cluster_.party_elsewhere) {
              return cluster_.party_elsewhere(c->context().account_id, std::move(answer));
            }
            answer(std::move(moved));
          });
    }
    data["server_time"] = clock_.now_ms();
    data["room"] = std::move(room);
    c->send(proto::encode_reply("hello", id, data));
    // The seat may be one a match reserved (the player was sent here by match.join).
    if (matches_) matches_->seated(c->context().account_id);
  });
}

void gateway::on_time_sync(request& r) {
  json::object data{{"client_send", r.args->integer("client_send")},
                    {"server_recv", r.received_ms},
                    {"server_send", clock_.now_ms()}};
  reply(r, std::move(data));
}

json::array gateway::room_list(std::string_view mode) const {
  auto rooms = lobby_.list_json(mode);
  if (cluster_.list_elsewhere) {
    cluster_.list_elsewhere(mode, rooms);
    std::sort(rooms.begin(), rooms.end(), [](const json::value& a, const json::value& b) {
      return a.at("id").as_string() < b.at("id").as_string();
    });
  }
  return rooms;
}

void gateway::on_room_list(request& r) {
  reply(r, json::object{{"rooms", room_list(r.args->opt_string("mode").value_or(""))}});
}

namespace {

bool flag(const proto::fields& f, std::string_view key) {
  return f.opt_boolean(key).value_or(false);
}

std::string text(const proto::fields& f, std::string_view key) {
  return std::string(f.opt_string(key).value_or(std::string_view()));
}

}  // namespace

void gateway::on_room_create(request& r) {
  lobby::create_params p;
  p.mode = text(*r.args, "mode");
  p.name = text(*r.args, "name");
  p.capacity = static_cast<int>(r.args->opt_integer("capacity").value_or(0));
  p.is_private = flag(*r.args, "private");
  p.password = text(*r.args, "password");
  p.allow_spectators = flag(*r.args, "allow_spectators");
  const lobby::mode_factory* f = lobby_.modes().find(p.mode);
  if (!f) {
    return send_error(
        r.conn, r.type, r.id,
        error{errc::unknown_mode, fmt::format("There is no game mode \"{}\".", p.mode)});
  }
  json::object settings;
  if (const auto* s = r.args->object("settings")) settings = *s;
  auto valid = f->validate_settings(settings);
  if (!valid) return send_error(r.conn, r.type, r.id, valid.error());
  if (auto* seed = valid->if_contains("seed")) {
    // A fixed seed fixes the deal: its creator would know everyone's role. Only for replays and
    // tests, on servers that allow it; never shown to members (the room leaves it out of
    // snapshots).
    if (!opts_.allow_seeds) {
      return send_error(r.conn, r.type, r.id,
                        error{errc::bad_field,
                              "settings.seed is accepted only on servers with rooms.allow_seeds."});
    }
    if (seed->is_int64()) p.seed = static_cast<std::uint64_t>(seed->get_int64());
    valid->erase("seed");
  }
  p.settings = std::make_shared<const json::object>(std::move(*valid));
  if (flag(*r.args, "party")) {
    return with_party(r, [this, p = std::move(p)](std::shared_ptr<request> shared,
                                                  std::vector<std::int64_t> others) mutable {
      lobby_.create(
          shared->conn->context().account_id, std::move(p), shared->conn,
          [this, shared](result<json::object> res) { reply(*shared, std::move(res)); },
          std::move(others));
    });
  }
  auto shared = std::make_shared<request>(std::move(r));
  lobby_.create(shared->conn->context().account_id, std::move(p), shared->conn,
                [this, shared](result<json::object> res) { reply(*shared, std::move(res)); });
}

void gateway::with_party(
    request& r, std::function<void(std::shared_ptr<request>, std::vector<std::int64_t>)> go) {
  if (!matches_) {
    return send_error(r.conn, r.type, r.id,
                      error{errc::unavailable, "Parties are not served here."});
  }
  auto shared = std::make_shared<request>(std::move(r));
  matches_->party_companions(
      shared->conn->context().account_id,
      [this, shared, go = std::move(go)](result<std::vector<std::int64_t>> others) {
        if (!others) return reply(*shared, others.error());
        go(shared, std::move(*others));
      });
}

void gateway::on_room_join(request& r) {
  lobby::join_params p;
  p.room_id = text(*r.args, "room_id");
  p.invite_code = text(*r.args, "invite_code");
  p.password = text(*r.args, "password");
  p.spectate = flag(*r.args, "spectate");
  if (p.room_id.empty() == p.invite_code.empty()) {
    return send_error(
        r.conn, r.type, r.id,
        error{errc::missing_field, "Give exactly one of \"room_id\" and \"invite_code\"."});
  }
  if (flag(*r.args, "party")) {
    if (p.spectate) {
      return send_error(r.conn, r.type, r.id,
                        error{errc::bad_field, "A party takes seats as players, not spectators."});
    }
    return with_party(r, [this, p = std::move(p)](std::shared_ptr<request> shared,
                                                  std::vector<std::int64_t> others) mutable {
      cluster_hooks::join_request elsewhere{p.room_id, p.invite_code, p.password, false, {}};
      const auto leader = shared->conn->context().account_id;
      // For a room of another node, read now: the lobby answers unknown_room under its lock.
      result<std::vector<lobby::companion>> members = error{errc::unknown_room};
      std::string name;
      if (cluster_.join_elsewhere) {
        members = lobby_.companions_here(others);
        name = lobby_.nickname_of(leader);
      }
      p.party = others;
      lobby_.join(
          leader, std::move(p), shared->conn,
          [this, shared, others, elsewhere = std::move(elsewhere), members = std::move(members),
           name = std::move(name)](result<json::object> res) mutable {
            if (!res && res.error().code == errc::unknown_room && cluster_.join_elsewhere) {
              return party_join_elsewhere(shared, std::move(others), std::move(name),
                                          std::move(members), std::move(elsewhere));
            }
            reply(*shared, std::move(res));
          });
    });
  }
  cluster_hooks::join_request elsewhere{p.room_id, p.invite_code, p.password, p.spectate, {}};
  const auto account = r.conn->context().account_id;
  // Read now: the lobby may answer under its lock, where asking it again would deadlock.
  std::string nickname = cluster_.join_elsewhere ? lobby_.nickname_of(account) : std::string();
  auto shared = std::make_shared<request>(std::move(r));
  lobby_.join(account, std::move(p), shared->conn,
              [this, shared, account, nickname = std::move(nickname),
               elsewhere = std::move(elsewhere)](result<json::object> res) mutable {
                // Not a room of this node: perhaps another node's (the client is moved there).
                if (!res && res.error().code == errc::unknown_room && cluster_.join_elsewhere) {
                  return cluster_.join_elsewhere(account, std::move(nickname), std::move(elsewhere),
                                                 [this, shared](result<json::object> moved) {
                                                   reply(*shared, std::move(moved));
                                                 });
                }
                reply(*shared, std::move(res));
              });
}

void gateway::party_join_elsewhere(std::shared_ptr<request> shared,
                                   std::vector<std::int64_t> others, std::string leader_name,
                                   result<std::vector<lobby::companion>> members,
                                   cluster_hooks::join_request elsewhere) {
  // The party follows its leader to the room's node: each member connected here and seated
  // nowhere; the room's node holds every seat or none (capacity, password); the leader is moved
  // there by the reply, each member by party.room. Called under the lobby's lock: asks it nothing.
  const auto leader = shared->conn->context().account_id;
  if (!members) return reply(*shared, members.error());
  for (const auto& m : *members)
    elsewhere.party.emplace_back(m.id, m.nickname);
  cluster_.join_elsewhere(
      leader, std::move(leader_name), std::move(elsewhere),
      [this, shared, leader, others = std::move(others)](result<json::object> moved) {
        if (moved) {
          const auto frame = proto::encode_event(
              "party.room", {{"room", nullptr}, {"by", leader}, {"moved", moved->at("moved")}});
          for (std::int64_t m : others)
            lobby_.deliver_anywhere(m, frame, [](result<bool>) {});
        }
        reply(*shared, std::move(moved));
      });
}

// Runs `fn(room, account, reply)` on the sender's room, or answers not_in_room.
#define MARATANG_IN_ROOM(r, call)                                                             \
  do {                                                                                        \
    auto room = lobby_.room_of((r).conn->context().account_id);                               \
    if (!room) return send_error((r).conn, (r).type, (r).id, errc::not_in_room);              \
    auto shared = std::make_shared<request>(std::move(r));                                    \
    auto done = [this, shared](result<json::object> res) { reply(*shared, std::move(res)); }; \
    auto acc = shared->conn->context().account_id;                                            \
    const auto& args = *shared->args;                                                         \
    (void)args;                                                                               \
    call;                                                                                     \
  } while (0)

void gateway::on_room_leave(request& r) {
  MARATANG_IN_ROOM(r, room->leave(acc, done));
}
void gateway::on_room_ready(request& r) {
  MARATANG_IN_ROOM(r, room->ready(acc, args.boolean("ready"), done));
}
void gateway::on_room_kick(request& r) {
  MARATANG_IN_ROOM(r, room->kick(acc, args.integer("player"), done));
}
std::optional<std::int64_t> gateway::invite_target(request& r) {
  // Exactly one of player and nickname; a nickname names an account online here.
  const auto player = r.args->opt_integer("player");
  const auto nickname = r.args->opt_string("nickname");
  if (player.has_value() == nickname.has_value()) {
    send_error(r.conn, r.type, r.id,
               error{errc::missing_field, "Give exactly one of \"player\" and \"nickname\"."});
    return std::nullopt;
  }
  if (!nickname) return *player;
  const lobby::player_id target = lobby_.online_by_nickname(*nickname);
  if (!target) {
    send_error(r.conn, r.type, r.id,
               error{errc::unknown_player, "Nobody by that nickname is online."});
    return std::nullopt;
  }
  return target;
}
void gateway::on_room_invite(request& r) {
  // With several nodes, a nickname nobody connected here has may be that of an account connected
  // to another node.
  if (const auto nickname = r.args->opt_string("nickname");
      nickname && !r.args->opt_integer("player") && cluster_.join_elsewhere &&
      !lobby_.online_by_nickname(*nickname)) {
    return invite_by_stored_nickname(r, std::string(*nickname));
  }
  const auto target = invite_target(r);
  if (!target) return;
  MARATANG_IN_ROOM(r, room->invite(acc, *target, done));
}

void gateway::invite_by_stored_nickname(request& r, std::string nickname) {
  if (!lobby_.room_of(r.conn->context().account_id)) {
    return send_error(r.conn, r.type, r.id, errc::not_in_room);
  }
  // The account of that name, from storage (the name's key: Unicode rules), then invited like
  // an id: the room's invitation reaches it on whichever node it is, or answers unknown_player.
  auto shared = std::make_shared<request>(std::move(r));
  auth_.find_by_nickname(
      std::move(nickname), [this, shared](result<std::optional<std::int64_t>> found) {
        if (!found) return reply(*shared, found.error());
        if (!*found) {
          return reply(*shared, error{errc::unknown_player, "Nobody by that nickname is online."});
        }
        const auto acc = shared->conn->context().account_id;
        auto room = lobby_.room_of(acc);
        if (!room) return reply(*shared, error{errc::not_in_room});
        room->invite(acc, **found,
                     [this, shared](result<json::object> res) { reply(*shared, std::move(res)); });
      });
}
void gateway::on_room_transfer(request& r) {
  MARATANG_IN_ROOM(r, room->transfer(acc, args.integer("player"), done));
}
void gateway::on_room_start(request& r) {
  MARATANG_IN_ROOM(r, room->start(acc, done));
}
void gateway::on_room_chat(request& r) {
  MARATANG_IN_ROOM(r, room->chat(acc, std::string(args.string("text")), done));
}

#undef MARATANG_IN_ROOM

}  // namespace maratang::api
