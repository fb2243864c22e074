// Admin endpoints (/v1/admin/...): the live state of this node (rooms, players, metrics, the
// effective configuration), what an operator does to it (close a room, kick or ban an account),
// the trace moderation queue, any game's record, and the audit log. Every request is checked
// here, on the server: a valid token, then the account's admin flag read from storage at that
// moment (so `maratang admin revoke` takes effect at the next request, without a restart).
// Anyone else gets 403 forbidden. Every action is written to the audit log: in the same
// transaction when it writes to storage (trace moderation, bans), else once it took effect
// (closing a room, a kick), and the reply waits for that line. See proto::core_endpoints.
#include <fmt/format.h>
#include <boost/json.hpp>

#include "api/gateway.hpp"
#include "api/http_replies.hpp"
#include "core/account_store.hpp"
#include "core/auth_service.hpp"
#include "lobby/game_store.hpp"
#include "lobby/lobby.hpp"
#include "lobby/room.hpp"
#include "modes/mystery/casebook_store.hpp"
#include "obs/history.hpp"
#include "obs/metrics.hpp"
#include "traces/trace_service.hpp"

namespace maratang::api {

namespace json = boost::json;
using net::http_request;
using net::http_responder;

namespace {

constexpr std::string_view kAdmin = "/v1/admin/";
constexpr int kPageMax = 100;
constexpr int kPlayersMax = 1000;

json::object audit_json(const store::audit_entry& e) {
  json::object o{{"id", e.id},
                 {"at", e.ts_ms},
                 {"actor", e.actor},
                 {"action", e.action},
                 {"target", e.target}};
  boost::system::error_code ec;
  auto detail = json::parse(e.detail_json, ec);
  o["detail"] = ec ? json::value(e.detail_json) : std::move(detail);
  return o;
}

// The path after /v1/admin/, split at '/'.
std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  path.remove_prefix(kAdmin.size());
  while (!path.empty()) {
    const auto slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

}  // namespace

// What an admin asked for, decided (and its arguments checked) before anything is read from
// storage.
struct gateway::admin_call {
  enum class action {
    traces,
    restore_trace,
    delete_trace,
    audit,
    overview,
    rooms,
    room,
    close_room,
    players,
    kick,
    ban,
    unban,
    game,
    casebook,
    mystery,
    config,
    metrics,
  };
  action act{};
  std::int64_t id = 0;  // a trace's or an account's
  std::string key;      // a room's or a game's id
  std::int64_t limit = 0, before = 0, after = 0, until = 0, minutes = 60;
  bool hidden_only = false;
  std::string message;
};

bool gateway::route_admin(http_request& req, const http_responder& respond) {
  const std::string& path = req.path;
  if (path.rfind(kAdmin, 0) != 0) return false;
  const std::string& m = req.method;
  auto fail = [this, respond](const error& e) {
    metrics_.count_error(e.code);
    respond(error_response(e));
    return true;
  };
  using action = admin_call::action;
  admin_call call;
  const auto seg = segments(path);
  // The route: its method, its action, and the endpoint pattern that declares its body.
  std::string_view want;
  std::string_view pattern;
  auto is = [&](std::initializer_list<std::string_view> parts) {
    if (parts.size() != seg.size()) return false;
    std::size_t i = 0;
    for (auto p : parts) {
      if (p != "*" && p != seg[i]) return false;
      ++i;
    }
    return true;
  };
  auto account_id = [&](std::string_view s) { return parse_i64(s, call.id) && call.id >= 1; };
  if (is({"traces"})) {
    want = "GET", call.act = action::traces;
  } else if (is({"traces", "*"})) {
    want = "DELETE", call.act = action::delete_trace;
  } else if (is({"traces", "*", "restore"})) {
    want = "POST", call.act = action::restore_trace;
  } else if (is({"audit"})) {
    want = "GET", call.act = action::audit;
  } else if (is({"overview"})) {
    want = "GET", call.act = action::overview;
  } else if (is({"rooms"})) {
    want = "GET", call.act = action::rooms;
  } else if (is({"rooms", "*"})) {
    want = "GET", call.act = action::room;
  } else if (is({"rooms", "*", "close"})) {
    want = "POST", call.act = action::close_room, pattern = "/v1/admin/rooms/{id}/close";
  } else if (is({"players"})) {
    want = "GET", call.act = action::players;
  } else if (is({"accounts", "*", "kick"})) {
    want = "POST", call.act = action::kick, pattern = "/v1/admin/accounts/{id}/kick";
  } else if (is({"accounts", "*", "ban"})) {
    want = "POST", call.act = action::ban, pattern = "/v1/admin/accounts/{id}/ban";
  } else if (is({"accounts", "*", "unban"})) {
    want = "POST", call.act = action::unban;
  } else if (is({"games", "*"})) {
    want = "GET", call.act = action::game;
  } else if (is({"games", "*", "casebook"})) {
    want = "GET", call.act = action::casebook;
  } else if (is({"mystery"})) {
    want = "GET", call.act = action::mystery;
  } else if (is({"config"})) {
    want = "GET", call.act = action::config;
  } else if (is({"metrics"})) {
    want = "GET", call.act = action::metrics;
  } else {
    return fail(errc::not_found);
  }
  if (m != want) return fail(errc::method_not_allowed);

  switch (call.act) {
    case action::delete_trace:
    case action::restore_trace:
      if (!parse_i64(seg[1], call.id) || call.id < 1)
        return fail(error{errc::bad_field, "A trace id is a positive integer."});
      break;
    case action::kick:
    case action::ban:
    case action::unban:
      if (!account_id(seg[1]))
        return fail(error{errc::bad_field, "An account id is a positive integer."});
      break;
    case action::room:
    case action::close_room:
    case action::game:
    case action::casebook:
      call.key = std::string(seg[1]);
      break;
    default:
      break;
  }
  const bool trace_action = call.act == action::traces || call.act == action::delete_trace ||
                            call.act == action::restore_trace;
  if (trace_action && !traces_) {
    return fail(error{errc::not_found, "Traces are not enabled on this server."});
  }

  // Query parameters.
  const std::int64_t page_max = call.act == action::players ? kPlayersMax : kPageMax;
  call.limit = call.act == action::players ? 100 : 50;
  if (auto l = req.query_param("limit");
      !l.empty() && (!parse_i64(l, call.limit) || call.limit < 1 || call.limit > page_max)) {
    return fail(error{errc::bad_field, fmt::format("limit must be 1 to {}.", page_max)});
  }
  if (auto b = req.query_param("before");
      !b.empty() && (!parse_i64(b, call.before) || call.before < 1)) {
    return fail(error{errc::bad_field, "before must be an id."});
  }
  if (auto a = req.query_param("after");
      !a.empty() && (!parse_i64(a, call.after) || call.after < 1)) {
    return fail(error{errc::bad_field, "after must be an account id."});
  }
  if (auto h = req.query_param("hidden"); !h.empty()) {
    if (h != "true" && h != "false")
      return fail(error{errc::bad_field, "hidden is true or false."});
    call.hidden_only = h == "true";
  }
  if (auto mi = req.query_param("minutes");
      !mi.empty() && (!parse_i64(mi, call.minutes) || call.minutes < 1 || call.minutes > 60)) {
    return fail(error{errc::bad_field, "minutes must be 1 to 60."});
  }
  // The body, for the actions that take one.
  if (!pattern.empty() && !req.body.empty()) {
    auto body = parse_body(req, body_of(m, pattern), opts_.json_depth_max);
    if (!body) return fail(body.error());
    if (auto* v = body->if_contains("message")) call.message = std::string(v->get_string());
    if (auto* v = body->if_contains("until")) call.until = v->get_int64();
  }
  const bool writes = call.act == action::restore_trace || call.act == action::delete_trace ||
                      call.act == action::close_room || call.act == action::kick ||
                      call.act == action::ban || call.act == action::unban;
  if (writes && draining_) return fail(error{errc::unavailable, "The server is shutting down."});

  auto claims = auth_.authenticate(req.bearer_token());
  if (!claims) return fail(claims.error());
  auth_.get_account(
      claims->account_id, [this, call = std::move(call), respond](result<store::account> acc) {
        if (!acc) {
          metrics_.count_error(acc.error().code);
          return respond(error_response(acc.error()));
        }
        if (!acc->is_admin) {
          metrics_.count_error(errc::forbidden);
          return respond(error_response(error{errc::forbidden, "This needs an admin account."}));
        }
        run_admin(call, acc->id, respond);
      });
  return true;
}

void gateway::run_admin(const admin_call& call, std::int64_t admin, const http_responder& respond) {
  using action = admin_call::action;
  auto fail = [this, respond](const error& e) {
    metrics_.count_error(e.code);
    respond(error_response(e));
  };
  auto text = [respond](result<std::string> r) {
    if (!r) return respond(error_response(r.error()));
    net::http_response out;
    out.body = std::move(*r);
    respond(std::move(out));
  };
  // Writes an action that took effect to the audit log, then answers `reply`.
  auto audited = [this, admin, respond](std::string act, std::string target, json::object detail,
                                        json::object reply) {
    store::audit_entry line;
    line.ts_ms = clock_.now_ms();
    line.actor = admin;
    line.action = std::move(act);
    line.target = std::move(target);
    line.detail_json = json::serialize(detail);
    stores_.audit.append_audit(std::move(line),
                               [respond, reply = std::move(reply)](result<std::int64_t> id) {
                                 if (!id) return respond(error_response(id.error()));
                                 respond(json_response(200, reply));
                               });
  };

  switch (call.act) {
    case action::traces:
      return traces_->moderation_queue(call.hidden_only, call.before, static_cast<int>(call.limit),
                                       text);
    case action::restore_trace:
      return traces_->restore(call.id, admin, [respond](result<traces::trace_state> r) {
        if (!r) return respond(error_response(r.error()));
        const auto& t = r->trace;
        respond(json_response(200, json::object{{"id", t.id},
                                                {"kind", traces::kind_plural(t.kind)},
                                                {"reports", t.reports},
                                                {"hidden", t.hidden}}));
      });
    case action::delete_trace:
      return traces_->remove(call.id, admin, [respond](result<store::trace_record> r) {
        if (!r) return respond(error_response(r.error()));
        respond(json_response(200, json::object{{"deleted", r->id}}));
      });
    case action::audit: {
      const int n = static_cast<int>(call.limit);
      stores_.audit.read_audit(
          call.before, n, [n, respond](result<std::vector<store::audit_entry>> rows) {
            if (!rows) return respond(error_response(rows.error()));
            json::array entries;
            for (const auto& e : *rows)
              entries.push_back(audit_json(e));
            json::value next = nullptr;
            if (static_cast<int>(rows->size()) == n) next = rows->back().id;
            respond(json_response(
                200, json::object{{"entries", std::move(entries)}, {"next_before", next}}));
          });
      return;
    }
    case action::overview: {
      json::object by_mode;
      std::size_t total = 0;
      for (const auto& f : lobby_.modes().all())
        by_mode[f->name()] = json::object{{"waiting", 0}, {"playing", 0}};
      for (const auto& r : lobby_.rooms()) {
        json::value& slot = by_mode[r.mode];
        if (!slot.is_object()) slot = json::object{{"waiting", 0}, {"playing", 0}};
        json::value& n = slot.as_object()[r.state];
        n = (n.is_int64() ? n.get_int64() : 0) + 1;
        ++total;
      }
      // Mafia's voice and video: the mode, and the SFU's health when there is one.
      json::value media = nullptr;
      if (admin_.media_status) {
        boost::system::error_code ec;
        media = json::parse(admin_.media_status(), ec);
        if (ec) media = nullptr;
      }
      // With several nodes, every node and its route: the console reads each node's rooms
      // through its route (nginx's /node/N/).
      json::value nodes = nullptr;
      if (admin_.nodes_status) {
        boost::system::error_code ec;
        nodes = json::parse(admin_.nodes_status(), ec);
        if (ec) nodes = nullptr;
      }
      return respond(json_response(
          200, json::object{{"node", admin_.node},
                            {"nodes", std::move(nodes)},
                            {"address", admin_.address},
                            {"started_at", admin_.started_at},
                            {"server_time", clock_.now_ms()},
                            {"connections", metrics_.connections_open.load()},
                            {"online", lobby_.online()},
                            {"rooms", {{"total", total}, {"by_mode", std::move(by_mode)}}},
                            {"draining", draining_.load()},
                            {"storage", admin_.storage},
                            {"redis", admin_.redis},
                            {"kafka", admin_.kafka},
                            {"media", media}}));
    }
    case action::rooms: {
      json::array rooms;
      for (const auto& s : lobby_.rooms()) {
        auto o = lobby::summary_json(s);
        o["private"] = s.is_private;
        rooms.push_back(std::move(o));
      }
      return respond(json_response(200, json::object{{"rooms", std::move(rooms)}}));
    }
    case action::room: {
      auto r = lobby_.find_room(call.key);
      if (!r) return fail(errc::unknown_room);
      return r->inspect([this, respond](json::value v) {
        if (v.is_null()) {
          metrics_.count_error(errc::unknown_room);
          return respond(error_response(errc::unknown_room));
        }
        respond(json_response(200, json::object{{"room", std::move(v)}}));
      });
    }
    case action::close_room: {
      auto r = lobby_.find_room(call.key);
      if (!r) return fail(errc::unknown_room);
      // The members, for the audit line, then the close itself, on the room's strand.
      return r->inspect([this, r, call, respond, audited](json::value v) {
        if (v.is_null()) {
          metrics_.count_error(errc::unknown_room);
          return respond(error_response(errc::unknown_room));
        }
        json::array members;
        for (const auto& mem : v.at("members").as_array())
          members.push_back(mem.at("id"));
        json::object detail{{"mode", v.at("mode")},
                            {"state", v.at("state")},
                            {"members", std::move(members)},
                            {"message", call.message}};
        if (auto* g = v.as_object().if_contains("game_id")) detail["game_id"] = *g;
        r->admin_close(call.message, [this, call, respond, audited,
                                      detail = std::move(detail)](bool closed) mutable {
          if (!closed) {
            metrics_.count_error(errc::unknown_room);
            return respond(error_response(errc::unknown_room));
          }
          audited("room.close", "room:" + call.key, std::move(detail),
                  json::object{{"closed", call.key}});
        });
      });
    }
    case action::players: {
      const auto page = lobby_.online_players(call.after, static_cast<std::size_t>(call.limit));
      json::array players;
      for (const auto& p : page) {
        players.push_back(
            {{"id", p.id},
             {"nickname", p.nickname},
             {"room_id", p.room_id.empty() ? json::value(nullptr) : json::value(p.room_id)}});
      }
      json::value next = nullptr;
      if (static_cast<std::int64_t>(page.size()) == call.limit) next = page.back().id;
      return respond(
          json_response(200, json::object{{"players", std::move(players)}, {"next_after", next}}));
    }
    case action::kick:
      return auth_.get_account(call.id, [this, call, respond, audited](result<store::account> a) {
        if (!a) {
          metrics_.count_error(a.error().code);
          return respond(error_response(a.error()));
        }
        auto room = lobby_.room_of(call.id);
        const std::string room_id = room ? room->id() : std::string();
        auto finish = [this, call, room_id, audited, respond](bool) {
          const bool connected = lobby_.disconnect(
              call.id, "disconnected_by_admin",
              call.message.empty() ? std::string_view("An admin disconnected you.")
                                   : std::string_view(call.message));
          auto done = [call, audited](json::value seat, bool was_connected) {
            json::object detail{
                {"room_id", seat}, {"connected", was_connected}, {"message", call.message}};
            json::object reply{
                {"kicked", call.id}, {"room_id", seat}, {"connected", was_connected}};
            audited("account.kick", fmt::format("account:{}", call.id), std::move(detail),
                    std::move(reply));
          };
          json::value seat = room_id.empty() ? json::value(nullptr) : json::value(room_id);
          // Not connected here: with several nodes, its socket (or seat) may be on another.
          if (connected || !cluster_.kick_elsewhere) return done(std::move(seat), connected);
          cluster_.kick_elsewhere(
              call.id, call.message,
              [this, seat = std::move(seat), done, respond](result<json::object> r) mutable {
                if (!r) {
                  metrics_.count_error(r.error().code);
                  return respond(error_response(r.error()));
                }
                if (seat.is_null()) seat = r->at("room_id");
                done(std::move(seat), r->at("connected").as_bool());
              });
        };
        if (!room) return finish(false);
        room->admin_remove(call.id, call.message, finish);
      });
    case action::ban:
    case action::unban: {
      if (call.act == action::ban && call.id == admin) {
        return fail(error{errc::forbidden, "An admin cannot ban their own account."});
      }
      if (call.act == action::ban && call.until && call.until <= clock_.now_ms()) {
        return fail(error{errc::bad_field, "until must be in the future."});
      }
      const epoch_ms until = call.act == action::unban ? 0
                             : call.until              ? call.until
                                                       : core::auth_service::kBanForever;
      return auth_.ban(
          admin, call.id, until, call.message,
          [this, call, until, respond](result<store::status> st) {
            if (!st) {
              metrics_.count_error(st.error().code);
              return respond(error_response(st.error()));
            }
            if (*st != store::status::ok) {
              metrics_.count_error(errc::not_found);
              return respond(error_response(error{errc::not_found, "No such account."}));
            }
            if (call.act == action::unban) {
              if (cluster_.account_banned) cluster_.account_banned(call.id, 0, {});
              return respond(json_response(200, json::object{{"unbanned", call.id}}));
            }
            if (cluster_.account_banned) cluster_.account_banned(call.id, until, call.message);
            // Its seat, then its connection (on this node; the others are told above).
            // (A ban so short that it ended before its commit answered has nothing to close.)
            const auto banned = auth_.check_banned(call.id);
            const std::string why = banned ? std::string() : banned.error().message;
            if (why.empty()) {
              return respond(
                  json_response(200, json::object{{"banned", call.id}, {"until", until}}));
            }
            auto drop = [this, id = call.id, why](bool) { lobby_.disconnect(id, "banned", why); };
            if (auto room = lobby_.room_of(call.id)) {
              room->admin_remove(call.id, why, drop);
            } else {
              drop(false);
            }
            respond(
                json_response(200, json::object{{"banned", call.id},
                                                {"until", until == core::auth_service::kBanForever
                                                              ? json::value(nullptr)
                                                              : json::value(until)}}));
          });
    }
    case action::game:
      return stores_.games.find_game(
          call.key, [this, respond](result<std::optional<store::game_record>> found) {
            if (!found) return respond(error_response(found.error()));
            if (!*found) {
              metrics_.count_error(errc::not_found);
              return respond(error_response(error{errc::not_found, "No such game."}));
            }
            respond(json_response(200, game_json(**found)));
          });
    case action::casebook:
      return stores_.casebooks.find_casebook(
          call.key, [this, respond](result<std::optional<store::casebook_record>> found) {
            if (!found) return respond(error_response(found.error()));
            if (!*found) {
              metrics_.count_error(errc::not_found);
              return respond(error_response(error{errc::not_found, "No casebook for this game."}));
            }
            const auto& c = **found;
            respond(json_response(200, json::object{{"game_id", c.game_id},
                                                    {"title", c.title},
                                                    {"language", c.language},
                                                    {"author", c.author},
                                                    {"created_at", c.created_ms},
                                                    {"markdown", c.markdown}}));
          });
    case action::mystery: {
      net::http_response out;
      out.body = admin_.mystery_status ? admin_.mystery_status() : R"({"scenarios":[],"llm":[]})";
      return respond(std::move(out));
    }
    case action::config: {
      boost::system::error_code ec;
      json::value settings = json::parse(admin_.config_json, ec);
      if (ec || !settings.is_object()) settings = json::object{};
      return respond(json_response(200, json::object{{"settings", std::move(settings)}}));
    }
    case action::metrics: {
      if (!admin_.history) {
        return respond(
            json_response(200, json::object{{"interval_s", 0}, {"series", json::object{}}}));
      }
      net::http_response out;
      out.body = admin_.history->json(clock_.now_ms(), static_cast<int>(call.minutes));
      return respond(std::move(out));
    }
  }
}

}  // namespace maratang::api
