// REST endpoints (see proto::core_endpoints for the list and docs/PROTOCOL.md for the contract).
#include <fmt/format.h>
#include <boost/json.hpp>
#include <map>
#include <string>
#include <vector>

#include "api/game_access.hpp"
#include "api/gateway.hpp"
#include "api/http_replies.hpp"
#include "core/auth_service.hpp"
#include "lobby/game_store.hpp"
#include "lobby/lobby.hpp"
#include "obs/metrics.hpp"
#include "store/health.hpp"

namespace maratang::api {

namespace json = boost::json;
using net::http_request;
using net::http_responder;
using net::http_response;

// Parses and validates a JSON body against a field list.
result<json::object> parse_body(const http_request& req, std::span<const proto::field_spec> fields,
                                unsigned depth) {
  if (!proto::is_json_media_type(req.content_type)) {
    return error{errc::bad_message, "The body must be JSON (Content-Type: application/json)."};
  }
  json::parse_options po;
  po.max_depth = depth;
  boost::system::error_code ec;
  json::value v = json::parse(req.body, ec, {}, po);
  if (ec == json::error::too_deep) return error{errc::too_deep};
  if (ec) return error{errc::bad_json, fmt::format("Not valid JSON: {}.", ec.message())};
  if (!v.is_object()) return error{errc::bad_message, "The body must be a JSON object."};
  if (auto ok = proto::validate_fields(v.get_object(), fields); !ok) return ok.error();
  return std::move(v.get_object());
}

std::span<const proto::field_spec> body_of(std::string_view method, std::string_view path) {
  for (const auto& e : proto::core_endpoints()) {
    if (e.method == method && e.path == path) return e.body;
  }
  return {};
}

json::object game_json(const store::game_record& g) {
  json::array players;
  for (auto p : g.players)
    players.push_back(p);
  boost::system::error_code ec;
  json::value record = json::parse(g.record_json, ec);
  return {{"id", g.id},
          {"mode", g.mode},
          {"room_id", g.room_id},
          {"started_at", g.started_ms},
          {"ended_at", g.ended_ms},
          {"players", std::move(players)},
          {"record", ec ? json::value(nullptr) : std::move(record)}};
}

namespace {

json::object tokens_json(const core::session_tokens& t) {
  return {{"account_id", t.account_id},
          {"token", t.token},
          {"refresh_token", t.refresh_token},
          {"expires_at", t.expires_at},
          {"created", t.created}};
}

// The tallies each registered mode declares (mode_factory::tallies), by mode.
std::map<std::string, std::vector<std::string>, std::less<>> declared_tallies(
    const lobby::mode_registry& modes) {
  std::map<std::string, std::vector<std::string>, std::less<>> out;
  for (const auto& f : modes.all()) {
    auto& names = out[std::string(f->name())];
    for (std::string_view t : f->tallies())
      names.emplace_back(t);
  }
  return out;
}

// An account's statistics: {account_id, modes: {mode: {played, won, lost, drawn, abandoned,
// time_played_ms, <tally>: {key: n}}}}. Every tally a registered mode declares is there, empty or
// not, so that clients see one shape per mode.
json::object stats_json(
    std::int64_t account_id, const std::vector<store::mode_stats>& stats,
    const std::map<std::string, std::vector<std::string>, std::less<>>& declared) {
  json::object per_mode;
  for (const auto& s : stats) {
    json::object o{{"played", s.played},       {"won", s.won},
                   {"lost", s.lost},           {"drawn", s.drawn},
                   {"abandoned", s.abandoned}, {"time_played_ms", s.time_played_ms}};
    if (auto it = declared.find(s.mode); it != declared.end()) {
      for (const auto& t : it->second)
        o[t] = json::object{};
    }
    for (const auto& [tally, counts] : s.tallies) {
      json::object c;
      for (const auto& [key, n] : counts)
        c[key] = n;
      o[tally] = std::move(c);
    }
    per_mode[s.mode] = std::move(o);
  }
  return {{"account_id", account_id}, {"modes", std::move(per_mode)}};
}

}  // namespace

void gateway::on_http(http_request req, http_responder respond) {
  // A token in the URL ends up in proxy logs and browser history: REST takes it only from the
  // Authorization header (the query parameter is for the WebSocket upgrade, see on_ws_upgrade).
  if (!req.query.empty() && !req.query_param("token").empty()) {
    metrics_.count_error(errc::unauthorized);
    return respond(error_response(
        error{errc::unauthorized,
              "Send the token in the Authorization header (Authorization: Bearer <token>), not "
              "in the URL; ?token= is accepted only by the WebSocket upgrade at /ws."}));
  }
  route_http(req, respond);
}

void gateway::route_http(http_request& req, const http_responder& respond) {
  const std::string& path = req.path;
  const std::string& m = req.method;
  auto fail = [&](const error& e, int status = 0) {
    metrics_.count_error(e.code);
    respond(error_response(e, status));
  };
  // Completes with tokens or an error, from whichever thread the service calls back on.
  auto with_tokens = [this, respond](result<core::session_tokens> r) {
    if (!r) {
      metrics_.count_error(r.error().code);
      return respond(error_response(r.error()));
    }
    respond(json_response(r->created ? 201 : 200, tokens_json(*r)));
  };
  auto body = [&](json::object& out) -> bool {
    auto r = parse_body(req, body_of(m, path), opts_.json_depth_max);
    if (!r) {
      fail(r.error(), r.error().code == errc::bad_message && !req.body.empty() &&
                              !proto::is_json_media_type(req.content_type)
                          ? 415
                          : 0);
      return false;
    }
    out = std::move(*r);
    return true;
  };
  auto authed = [&](core::token_claims& out) -> bool {
    auto c = auth_.authenticate(req.bearer_token());
    if (!c) {
      fail(c.error());
      return false;
    }
    out = *c;
    return true;
  };

  // Operations.
  if (path == "/health") {
    if (m != "GET") return fail(errc::method_not_allowed);
    return respond(json_response(200, {{"status", "healthy"}}));
  }
  if (path == "/ready") {
    if (m != "GET") return fail(errc::method_not_allowed);
    if (draining_) return fail(error{errc::unavailable, "Shutting down."});
    if (cluster_.ready && !cluster_.ready()) {
      return fail(error{errc::unavailable,
                        "Redis does not answer: this node is cut off from "
                        "the others."});
    }
    stores_.health.ping([respond](result<bool> up) {
      if (up && *up) return respond(json_response(200, {{"status", "ready"}}));
      respond(error_response(error{errc::unavailable, "Storage does not answer."}));
    });
    return;
  }
  if (path == "/metrics") {
    if (m != "GET") return fail(errc::method_not_allowed);
    http_response r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = metrics_.render();
    return respond(std::move(r));
  }
  if (path == "/v1/time") {
    auto recv = clock_.now_ms();
    json::object o{{"server_recv", recv}};
    std::int64_t cs = 0;
    if (parse_i64(req.query_param("client_send"), cs)) o["client_send"] = cs;
    o["server_send"] = clock_.now_ms();
    return respond(json_response(200, o));
  }
  if (route_docs(req, respond) || route_traces(req, respond) || route_mystery(req, respond) ||
      route_admin(req, respond) || route_competition(req, respond)) {
    return;
  }
  if (path == "/v1/modes") {
    json::array modes;
    for (const auto& f : lobby_.modes().all()) {
      modes.push_back({{"name", f->name()},
                       {"min_players", f->min_players()},
                       {"max_players", f->max_players()}});
    }
    return respond(json_response(200, {{"modes", std::move(modes)}}));
  }

  if (draining_) return fail(error{errc::unavailable, "The server is shutting down."});

  // Authentication.
  if (path.rfind("/v1/auth/", 0) == 0) {
    if (m != "POST") return fail(errc::method_not_allowed);
    json::object b;
    if (path == "/v1/auth/logout") {
      core::token_claims c;
      if (!authed(c)) return;
      std::string sid = c.session_id;
      return auth_.logout(sid, [this, respond, sid](result<bool> r) {
        if (!r) return respond(error_response(r.error()));
        lobby_.close_session(sid);
        if (cluster_.session_revoked) cluster_.session_revoked(sid);
        respond(json_response(200, json::object{}));
      });
    }
    if (path == "/v1/auth/device") {
      if (!body(b)) return;
      return auth_.login_device(std::string(b.at("device_id").as_string()), req.remote,
                                with_tokens);
    }
    if (path == "/v1/auth/register") {
      if (!body(b)) return;
      return auth_.register_email(std::string(b.at("email").as_string()),
                                  std::string(b.at("password").as_string()), req.remote,
                                  with_tokens);
    }
    if (path == "/v1/auth/login") {
      if (!body(b)) return;
      return auth_.login_email(std::string(b.at("email").as_string()),
                               std::string(b.at("password").as_string()), req.remote, with_tokens);
    }
    if (path == "/v1/auth/refresh") {
      if (!body(b)) return;
      return auth_.refresh(std::string(b.at("refresh_token").as_string()), with_tokens);
    }
    return fail(errc::not_found);
  }

  // Account and nicknames.
  if (path == "/v1/account") {
    if (m != "GET") return fail(errc::method_not_allowed);
    core::token_claims c;
    if (!authed(c)) return;
    return auth_.get_account(c.account_id, [respond](result<store::account> r) {
      if (!r) return respond(error_response(r.error()));
      json::object o{{"id", r->id}, {"nickname", r->nickname}, {"created_at", r->created_ms}};
      if (!r->email.empty()) o["email"] = r->email;
      o["device"] = !r->device_id.empty();
      if (r->is_admin) o["admin"] = true;
      respond(json_response(200, o));
    });
  }
  if (path == "/v1/account/nickname") {
    if (m != "PUT") return fail(errc::method_not_allowed);
    core::token_claims c;
    if (!authed(c)) return;
    json::object b;
    if (!body(b)) return;
    auto acc = c.account_id;
    return auth_.set_nickname(acc, std::string(b.at("nickname").as_string()),
                              [this, respond, acc](result<core::nickname> r) {
                                if (!r) {
                                  metrics_.count_error(r.error().code);
                                  return respond(error_response(r.error()));
                                }
                                lobby_.set_nickname(acc, r->display);
                                respond(json_response(200, {{"nickname", r->display}}));
                              });
  }
  if (path.rfind("/v1/nicknames/", 0) == 0) {
    if (m != "GET") return fail(errc::method_not_allowed);
    return auth_.check_nickname(
        path.substr(14), [respond](result<std::pair<core::nickname, bool>> r) {
          if (!r) return respond(error_response(r.error()));
          respond(json_response(200, {{"nickname", r->first.display}, {"available", r->second}}));
        });
  }

  // Rooms and games.
  if (path == "/v1/rooms") {
    if (m != "GET") return fail(errc::method_not_allowed);
    return respond(json_response(200, {{"rooms", room_list(req.query_param("mode"))}}));
  }
  // Game records: who may read which is decided by may_read_game (game_access.hpp). A private
  // game the caller may not read is "No such game.", as one that does not exist.
  if (path.rfind("/v1/games/", 0) == 0 && m == "GET") {
    core::token_claims c;
    if (!authed(c)) return;
    std::string id = path.substr(10);
    stores_.games.find_game(id, [respond, c](result<std::optional<store::game_record>> found) {
      if (!found) return respond(error_response(found.error()));
      if (!*found || !may_read_game(c, **found))
        return respond(error_response(error{errc::not_found, "No such game."}));
      respond(json_response(200, game_json(**found)));
    });
    return;
  }
  if (path.rfind("/v1/accounts/", 0) == 0 && m == "GET") {
    std::string_view rest = std::string_view(path).substr(13);
    auto slash = rest.find('/');
    std::int64_t acc = 0;
    if (slash == std::string_view::npos || !parse_i64(rest.substr(0, slash), acc)) {
      return fail(errc::not_found);
    }
    const std::string_view what = rest.substr(slash);
    if (what == "/stats") {
      core::token_claims c;
      if (!authed(c)) return;
      // Any signed-in account may read anyone's statistics: they count private-room games too,
      // but name no game and no other player (docs/PROTOCOL.md).
      stores_.games.stats_of(acc, [respond, acc, declared = declared_tallies(lobby_.modes())](
                                      result<std::vector<store::mode_stats>> stats) {
        if (!stats) return respond(error_response(stats.error()));
        respond(json_response(200, stats_json(acc, *stats, declared)));
      });
      return;
    }
    if (what != "/games") return fail(errc::not_found);
    core::token_claims c;
    if (!authed(c)) return;
    std::int64_t limit = 20, before = 0;
    if (auto l = req.query_param("limit");
        !l.empty() && (!parse_i64(l, limit) || limit < 1 || limit > 100)) {
      return fail(error{errc::bad_field, "limit must be 1 to 100."});
    }
    if (auto b = req.query_param("before"); !b.empty() && !parse_i64(b, before)) {
      return fail(error{errc::bad_field, "before must be a time in ms."});
    }
    // Others see only the account's public-room games (game_access.hpp).
    bool with_private = may_list_private_games(c, acc);
    stores_.games.games_of(acc, static_cast<int>(limit), before, with_private,
                           [respond](result<std::vector<store::game_record>> games) {
                             if (!games) return respond(error_response(games.error()));
                             json::array out;
                             for (const auto& g : *games)
                               out.push_back(game_json(g));
                             respond(json_response(200, {{"games", std::move(out)}}));
                           });
    return;
  }
  if (route_static(req, respond)) return;
  fail(errc::not_found);
}

}  // namespace maratang::api
