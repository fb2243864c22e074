// Parties and the matchmaker over the realtime protocol: party.* and match.* requests
// (proto/messages.cpp) handed to match::party_service and match::match_service, which reply on
// their strand. A ticket's properties and query are checked here, whole, before anything
// changes.
#include <fmt/format.h>
#include <boost/json.hpp>
#include <cmath>

#include "api/gateway.hpp"
#include "core/auth_service.hpp"
#include "lobby/lobby.hpp"
#include "match/match_service.hpp"
#include "match/party_service.hpp"

namespace maratang::api {

namespace json = boost::json;

namespace {

constexpr std::size_t kMaxProperties = 16;
constexpr std::size_t kMaxClauses = 16;
constexpr std::size_t kMaxName = 32;
constexpr std::size_t kMaxText = 64;

// One property or clause value: a string of at most kMaxText characters or a finite number.
result<match::value> value_of(std::string_view where, const json::value& v) {
  if (v.is_string()) {
    if (v.get_string().size() > kMaxText)
      return error{errc::bad_field, fmt::format("{} is longer than {} bytes.", where, kMaxText)};
    return match::value(std::string(v.get_string()));
  }
  if (v.is_number()) {
    const double d = v.to_number<double>();
    if (std::isfinite(d)) return match::value(d);
  }
  return error{errc::bad_field, fmt::format("{} must be a string or a number.", where)};
}

result<match::properties> properties_of(std::string_view where, const json::object& o,
                                        std::size_t& count) {
  match::properties out;
  for (const auto& [key, v] : o) {
    if (key.empty() || key.size() > kMaxName) {
      return error{errc::bad_field,
                   fmt::format("{}: names have 1 to {} characters.", where, kMaxName)};
    }
    auto val = value_of(fmt::format("{}.{}", where, std::string_view(key)), v);
    if (!val) return val.error();
    out.emplace(std::string(key), std::move(*val));
    ++count;
  }
  return out;
}

result<match::query> query_of(const json::object& o) {
  match::query q;
  std::size_t clauses = 0;
  for (const auto& [key, v] : o) {
    if (key != "must" && key != "should" && key != "ranges") {
      return error{errc::bad_field, fmt::format("query.{} is not a clause (must, should, ranges).",
                                                std::string_view(key))};
    }
    if (!v.is_object())
      return error{errc::bad_field,
                   fmt::format("query.{} must be an object.", std::string_view(key))};
  }
  for (std::string_view clause : {"must", "should"}) {
    if (const auto* v = o.if_contains(clause)) {
      auto props = properties_of(fmt::format("query.{}", clause), v->get_object(), clauses);
      if (!props) return props.error();
      (clause == "must" ? q.must : q.should) = std::move(*props);
    }
  }
  if (const auto* v = o.if_contains("ranges")) {
    for (const auto& [key, r] : v->get_object()) {
      const std::string where = fmt::format("query.ranges.{}", std::string_view(key));
      if (key.empty() || key.size() > kMaxName)
        return error{errc::bad_field,
                     fmt::format("{}: names have 1 to {} characters.", where, kMaxName)};
      const auto* ro = r.if_object();
      const auto* lo = ro ? ro->if_contains("min") : nullptr;
      const auto* hi = ro ? ro->if_contains("max") : nullptr;
      if (!lo || !hi || !lo->is_number() || !hi->is_number() || ro->size() != 2)
        return error{errc::bad_field, fmt::format("{} must be {{min, max}}, two numbers.", where)};
      match::query::range rg{lo->to_number<double>(), hi->to_number<double>()};
      if (!std::isfinite(rg.min) || !std::isfinite(rg.max) || rg.min > rg.max)
        return error{errc::bad_field, fmt::format("{}: min must not be above max.", where)};
      q.ranges.emplace(std::string(key), rg);
      ++clauses;
    }
  }
  if (clauses > kMaxClauses)
    return error{errc::bad_field, fmt::format("A query has at most {} clauses.", kMaxClauses)};
  return q;
}

}  // namespace

// Hands the request to `svc` (or answers unavailable) with `done` replying to it.
#define MARATANG_SOCIAL(r, svc, call)                                                              \
  do {                                                                                             \
    if (!(svc))                                                                                    \
      return send_error((r).conn, (r).type, (r).id,                                                \
                        error{errc::unavailable, "Parties and matchmaking are not served here."}); \
    auto shared = std::make_shared<request>(std::move(r));                                         \
    auto done = [this, shared](result<json::object> res) { reply(*shared, std::move(res)); };      \
    auto acc = shared->conn->context().account_id;                                                 \
    const auto& args = *shared->args;                                                              \
    (void)args;                                                                                    \
    call;                                                                                          \
  } while (0)

void gateway::on_party_create(request& r) {
  MARATANG_SOCIAL(r, parties_, parties_->create(acc, done));
}

void gateway::on_party_invite(request& r) {
  // With several nodes, a nickname nobody connected here has may be that of an account connected
  // to another node: found in storage, then invited like an id (on whichever node it is).
  if (const auto nickname = r.args->opt_string("nickname");
      parties_ && nickname && !r.args->opt_integer("player") && cluster_.join_elsewhere &&
      !lobby_.online_by_nickname(*nickname)) {
    auto shared = std::make_shared<request>(std::move(r));
    return auth_.find_by_nickname(std::string(*nickname), [this, shared](
                                                              result<std::optional<std::int64_t>>
                                                                  found) {
      if (!found) return reply(*shared, found.error());
      if (!*found) {
        return reply(*shared, error{errc::unknown_player, "Nobody by that nickname is online."});
      }
      parties_->invite(
          shared->conn->context().account_id, **found,
          [this, shared](result<json::object> res) { reply(*shared, std::move(res)); });
    });
  }
  const auto target = invite_target(r);
  if (!target) return;
  MARATANG_SOCIAL(r, parties_, parties_->invite(acc, *target, done));
}

void gateway::on_party_accept(request& r) {
  MARATANG_SOCIAL(r, parties_, parties_->accept(acc, args.integer("party_id"), done));
}
void gateway::on_party_join(request& r) {
  MARATANG_SOCIAL(r, parties_, parties_->join_by_code(acc, std::string(args.string("code")), done));
}
void gateway::on_party_leave(request& r) {
  MARATANG_SOCIAL(r, parties_, parties_->leave(acc, done));
}
void gateway::on_party_kick(request& r) {
  MARATANG_SOCIAL(r, parties_, parties_->kick(acc, args.integer("player"), done));
}
void gateway::on_party_transfer(request& r) {
  MARATANG_SOCIAL(r, parties_, parties_->transfer(acc, args.integer("player"), done));
}
void gateway::on_party_chat(request& r) {
  MARATANG_SOCIAL(r, parties_, parties_->chat(acc, std::string(args.string("text")), done));
}
void gateway::on_party_get(request& r) {
  MARATANG_SOCIAL(r, parties_, parties_->get(acc, done));
}

void gateway::on_match_start(request& r) {
  match::ticket_request t;
  t.mode = std::string(r.args->string("mode"));
  if (!lobby_.modes().find(t.mode)) {
    return send_error(
        r.conn, r.type, r.id,
        error{errc::unknown_mode, fmt::format("There is no game mode \"{}\".", t.mode)});
  }
  if (const auto* props = r.args->object("properties")) {
    std::size_t count = 0;
    auto p = properties_of("properties", *props, count);
    if (!p) return send_error(r.conn, r.type, r.id, p.error());
    if (count > kMaxProperties) {
      return send_error(
          r.conn, r.type, r.id,
          error{errc::bad_field, fmt::format("At most {} properties.", kMaxProperties)});
    }
    t.props = std::move(*p);
  }
  if (const auto* q = r.args->object("query")) {
    auto parsed = query_of(*q);
    if (!parsed) return send_error(r.conn, r.type, r.id, parsed.error());
    t.q = std::move(*parsed);
  }
  if (const auto* st = r.args->object("settings")) t.settings = *st;
  t.min_players = static_cast<int>(r.args->opt_integer("min_players").value_or(0));
  t.max_players = static_cast<int>(r.args->opt_integer("max_players").value_or(0));
  if (t.min_players && t.max_players && t.min_players > t.max_players) {
    return send_error(r.conn, r.type, r.id,
                      error{errc::bad_field, "min_players must not be above max_players."});
  }
  MARATANG_SOCIAL(r, matches_, matches_->enqueue(acc, std::move(t), done));
}

void gateway::on_match_cancel(request& r) {
  MARATANG_SOCIAL(r, matches_, matches_->cancel(acc, done));
}

void gateway::on_match_join(request& r) {
  // Several nodes: a match made by the cluster's matchmaker on another node holds the seat there;
  // the seat directory sends the client to that node (`moved`), whose hello takes the seat.
  MARATANG_SOCIAL(
      r, matches_,
      matches_->join(acc, shared->conn, [this, acc, done](result<json::object> res) mutable {
        if (res || res.error().code != errc::no_match || !cluster_.seat_elsewhere)
          return done(std::move(res));
        cluster_.seat_elsewhere(acc, [res = std::move(res), done](json::value moved) mutable {
          if (moved.is_null()) return done(std::move(res));
          done(json::object{{"moved", std::move(moved)}});
        });
      }));
}

#undef MARATANG_SOCIAL

}  // namespace maratang::api
