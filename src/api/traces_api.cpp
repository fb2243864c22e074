// Traces over REST: seed 003's GameDB endpoints (GET /get-objects, POST /add-object) on the
// default area, and /v1/traces/... for areas, paging, near queries, appraisals and reports.
// See proto::core_endpoints for the list and docs/ARCHITECTURE.md for the life of a request.
#include <fmt/format.h>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>

#include "api/gateway.hpp"
#include "api/http_replies.hpp"
#include "core/auth_service.hpp"
#include "core/backoff_limiter.hpp"
#include "obs/metrics.hpp"
#include "traces/trace_service.hpp"

namespace maratang::api {

namespace json = boost::json;
using net::http_request;
using net::http_responder;
using net::http_response;

namespace {

constexpr std::string_view kAreas = "/v1/traces/areas/";
constexpr std::string_view kItems = "/v1/traces/items/";

http_response json_reply(int status, std::string body) {
  http_response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

// What a listing response needs from its request, copied: the request dies when routing returns.
struct listing_request {
  bool gzip;
  std::string if_none_match;
};

// Sends a cached listing: gzip'd when the client accepts it, 304 when its tag matches.
void send_snapshot(const listing_request& lr, const http_responder& respond,
                   const std::shared_ptr<const traces::snapshot>& s) {
  if (!s) return respond(error_response(error{errc::unavailable, "Storage does not answer."}));
  const std::string& tag = lr.gzip ? s->etag_gzip : s->etag;
  http_response r;
  r.headers = {{"ETag", tag}, {"Vary", "Accept-Encoding"}, {"Cache-Control", "no-cache"}};
  if (!lr.if_none_match.empty() && traces::etag_matches(lr.if_none_match, tag)) {
    r.status = 304;
    return respond(std::move(r));
  }
  if (lr.gzip) {
    r.headers.emplace_back("Content-Encoding", "gzip");
    r.shared_body = s->gzip;
  } else {
    r.shared_body = s->json;
  }
  respond(std::move(r));
}

std::string added_json(const traces::added_ids& ids) {
  json::object o;
  if (ids.obj) o["obj"] = ids.obj;
  if (ids.message) o["message"] = ids.message;
  if (ids.phantom) o["phantom"] = ids.phantom;
  return json::serialize(json::object{{"status", "success"}, {"ids", std::move(o)}});
}

std::string state_json(const traces::trace_state& s) {
  json::object o{{"id", s.trace.id},           {"kind", traces::kind_plural(s.trace.kind)},
                 {"rating", s.trace.rating},   {"votes", s.trace.votes},
                 {"reports", s.trace.reports}, {"hidden", s.trace.hidden}};
  if (s.already_reported) o["already_reported"] = true;
  return json::serialize(o);
}

bool parse_number(std::string_view s, double& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size() && std::isfinite(out);
}

}  // namespace

bool gateway::route_traces(http_request& req, const http_responder& respond) {
  const std::string& path = req.path;
  const std::string& m = req.method;
  const bool compat_get = path == "/get-objects";
  const bool compat_add = path == "/add-object";
  if (!compat_get && !compat_add && path.rfind("/v1/traces/", 0) != 0) return false;

  auto fail = [&](const error& e, int status = 0) {
    metrics_.count_error(e.code);
    respond(error_response(e, status));
    return true;
  };
  if (!traces_) return fail(error{errc::not_found, "Traces are not enabled on this server."});
  traces::trace_service& svc = *traces_;

  auto listing = [&](const std::string& area, traces::listing_format f) {
    listing_request lr{traces::accepts_gzip(req.accept_encoding), req.if_none_match};
    if (auto hit = svc.cached(area, f)) return send_snapshot(lr, respond, hit), true;
    svc.latest(area, f, [lr, respond](std::shared_ptr<const traces::snapshot> s) {
      send_snapshot(lr, respond, s);
    });
    return true;
  };
  // Takes a token from the writer's budget (traces.*_writes_per_minute: by account, else by
  // address; shared by every node with Redis), then validates the body and stores it: 429 when
  // the budget is spent, 422 naming every bad field, and then nothing is stored.
  auto add = [&](const std::string& area, std::int64_t account_id) {
    if (draining_) return fail(error{errc::unavailable, "The server is shutting down."});
    auto* service = &svc;
    svc.allow_write(
        account_id, req.remote,
        [this, service, area, account_id, respond, type = std::move(req.content_type),
         body = std::move(req.body)](bool ok) {
          if (!ok) {
            metrics_.count_error(errc::rate_limited);
            return respond(error_response(error{
                errc::rate_limited, account_id ? "Too many traces from this account; slow down."
                                               : "Too many traces from this address; slow down."}));
          }
          auto parsed = traces::parse_add(type, body, service->options().limits);
          if (!parsed.errors.empty()) {
            metrics_.count_error(errc::bad_field);
            return respond(json_reply(422, traces::errors_json(parsed.errors)));
          }
          service->add(area, std::move(parsed.request), account_id,
                       [respond](result<traces::added_ids> r) {
                         if (!r) return respond(error_response(r.error()));
                         respond(json_reply(200, added_json(*r)));
                       });
        });
    return true;
  };
  auto authed = [&](std::int64_t& account) {
    auto c = auth_.authenticate(req.bearer_token());
    if (!c) {
      fail(c.error());
      return false;
    }
    account = c->account_id;
    return true;
  };

  // --- GameDB-compatible (seed 003) ---
  if (compat_get) {
    if (m != "GET") return fail(errc::method_not_allowed);
    return listing(svc.options().default_area, traces::listing_format::compat);
  }
  if (compat_add) {
    if (m != "POST") return fail(errc::method_not_allowed);
    return add(svc.options().default_area, 0);
  }

  // --- /v1/traces/areas/{area}[/{objects|messages|phantoms|near}] ---
  if (path.rfind(kAreas, 0) == 0) {
    std::string_view rest = std::string_view(path).substr(kAreas.size());
    const auto slash = rest.find('/');
    const std::string area(rest.substr(0, slash));
    const std::string_view sub =
        slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (!traces::valid_area(area)) {
      return fail(error{errc::bad_field, "An area name is 1 to 64 of A-Z a-z 0-9 _ . -"});
    }
    if (sub.empty()) {
      if (m == "GET") return listing(area, traces::listing_format::extended);
      if (m != "POST") return fail(errc::method_not_allowed);
      std::int64_t account = 0;
      if (!authed(account)) return true;
      return add(area, account);
    }
    if (m != "GET") return fail(errc::method_not_allowed);
    std::int64_t limit = 20;
    if (auto l = req.query_param("limit");
        !l.empty() && (!parse_i64(l, limit) || limit < 1 || limit > svc.options().page_max)) {
      return fail(
          error{errc::bad_field, fmt::format("limit must be 1 to {}.", svc.options().page_max)});
    }
    auto text_reply = [respond](result<std::string> r) {
      if (!r) return respond(error_response(r.error()));
      respond(json_reply(200, std::move(*r)));
    };
    if (sub == "near") {
      double x = 0, y = 0, z = 0, radius = 0;
      if (!parse_number(req.query_param("x"), x) || !parse_number(req.query_param("y"), y) ||
          !parse_number(req.query_param("z"), z)) {
        return fail(error{errc::bad_field, "x, y and z must be numbers."});
      }
      if (!parse_number(req.query_param("radius"), radius) || radius <= 0 || radius > 1e9) {
        return fail(error{errc::bad_field, "radius must be a number above 0."});
      }
      svc.near(area, x, y, z, radius, static_cast<int>(limit), text_reply);
      return true;
    }
    auto kind = traces::kind_from_plural(sub);
    if (!kind) return fail(errc::not_found);
    std::int64_t before = 0;
    if (auto b = req.query_param("before"); !b.empty() && (!parse_i64(b, before) || before < 1)) {
      return fail(error{errc::bad_field, "before must be a trace id."});
    }
    svc.page(area, *kind, before, static_cast<int>(limit), text_reply);
    return true;
  }

  // --- /v1/traces/items/{id}/{appraise|report} ---
  if (path.rfind(kItems, 0) == 0) {
    std::string_view rest = std::string_view(path).substr(kItems.size());
    const auto slash = rest.find('/');
    std::int64_t id = 0;
    if (slash == std::string_view::npos || !parse_i64(rest.substr(0, slash), id) || id < 1) {
      return fail(errc::not_found);
    }
    const std::string_view action = rest.substr(slash + 1);
    if (action != "appraise" && action != "report") return fail(errc::not_found);
    if (m != "POST") return fail(errc::method_not_allowed);
    if (draining_) return fail(error{errc::unavailable, "The server is shutting down."});
    std::int64_t account = 0;
    if (!authed(account)) return true;
    auto state_reply = [respond](result<traces::trace_state> r) {
      if (!r) return respond(error_response(r.error()));
      respond(json_reply(200, state_json(*r)));
    };
    if (action == "report") {
      svc.report(id, account, core::address_key(req.remote), state_reply);
      return true;
    }
    if (!proto::is_json_media_type(req.content_type)) {
      return fail(
          error{errc::bad_message, "The body must be JSON (Content-Type: application/json)."}, 415);
    }
    boost::system::error_code ec;
    json::value v = json::parse(req.body, ec);
    const json::value* value =
        (!ec && v.is_object()) ? v.get_object().if_contains("value") : nullptr;
    if (!value || !value->is_int64() || (value->get_int64() != 1 && value->get_int64() != -1)) {
      return fail(error{errc::bad_field, "Field \"value\" must be 1 or -1."});
    }
    svc.appraise(id, account, static_cast<int>(value->get_int64()), state_reply);
    return true;
  }
  return fail(errc::not_found);
}

}  // namespace maratang::api
