// Admin endpoints (/v1/admin/...): the trace moderation queue and the audit log. Every request is
// checked here, on the server: a valid token, then the account's admin flag read from storage at
// that moment (so `maratang admin revoke` takes effect at the next request, without a restart).
// Anyone else gets 403 forbidden. See proto::core_endpoints for the list.
#include <fmt/format.h>
#include <boost/json.hpp>

#include "api/gateway.hpp"
#include "api/http_replies.hpp"
#include "core/account_store.hpp"
#include "core/auth_service.hpp"
#include "obs/metrics.hpp"
#include "traces/trace_service.hpp"

namespace maratang::api {

namespace json = boost::json;
using net::http_request;
using net::http_responder;

namespace {

constexpr std::string_view kAdmin = "/v1/admin/";
constexpr std::string_view kTraces = "/v1/admin/traces";
constexpr int kPageMax = 100;

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

}  // namespace

bool gateway::route_admin(http_request& req, const http_responder& respond) {
  const std::string& path = req.path;
  if (path.rfind(kAdmin, 0) != 0) return false;
  const std::string& m = req.method;
  auto fail = [this, respond](const error& e) {
    metrics_.count_error(e.code);
    respond(error_response(e));
    return true;
  };

  // Which action, with its arguments, decided before anything is read from storage.
  enum class action { queue, restore, remove, audit };
  action act{};
  std::int64_t id = 0;
  if (path == kTraces) {
    if (m != "GET") return fail(errc::method_not_allowed);
    act = action::queue;
  } else if (path == "/v1/admin/audit") {
    if (m != "GET") return fail(errc::method_not_allowed);
    act = action::audit;
  } else if (path.rfind(std::string(kTraces) + "/", 0) == 0) {
    std::string_view rest = std::string_view(path).substr(kTraces.size() + 1);
    const auto slash = rest.find('/');
    const std::string_view sub =
        slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (!parse_i64(rest.substr(0, slash), id) || id < 1) {
      return fail(error{errc::bad_field, "A trace id is a positive integer."});
    }
    if (sub.empty()) {
      if (m != "DELETE") return fail(errc::method_not_allowed);
      act = action::remove;
    } else if (sub == "restore") {
      if (m != "POST") return fail(errc::method_not_allowed);
      act = action::restore;
    } else {
      return fail(errc::not_found);
    }
  } else {
    return fail(errc::not_found);
  }
  if (act != action::audit && !traces_) {
    return fail(error{errc::not_found, "Traces are not enabled on this server."});
  }
  std::int64_t limit = 50, before = 0;
  if (auto l = req.query_param("limit");
      !l.empty() && (!parse_i64(l, limit) || limit < 1 || limit > kPageMax)) {
    return fail(error{errc::bad_field, fmt::format("limit must be 1 to {}.", kPageMax)});
  }
  if (auto b = req.query_param("before"); !b.empty() && (!parse_i64(b, before) || before < 1)) {
    return fail(error{errc::bad_field, "before must be an id."});
  }
  bool hidden_only = false;
  if (auto h = req.query_param("hidden"); !h.empty()) {
    if (h != "true" && h != "false")
      return fail(error{errc::bad_field, "hidden is true or false."});
    hidden_only = h == "true";
  }
  if (act != action::queue && act != action::audit && draining_) {
    return fail(error{errc::unavailable, "The server is shutting down."});
  }

  auto claims = auth_.authenticate(req.bearer_token());
  if (!claims) return fail(claims.error());

  // Runs once the caller is known to be an admin.
  auto run = [this, act, id, limit, before, hidden_only, respond](std::int64_t admin) {
    auto text = [respond](result<std::string> r) {
      if (!r) return respond(error_response(r.error()));
      net::http_response out;
      out.body = std::move(*r);
      respond(std::move(out));
    };
    switch (act) {
      case action::queue:
        return traces_->moderation_queue(hidden_only, before, static_cast<int>(limit), text);
      case action::restore:
        return traces_->restore(id, admin, [respond](result<traces::trace_state> r) {
          if (!r) return respond(error_response(r.error()));
          const auto& t = r->trace;
          respond(json_response(200, json::object{{"id", t.id},
                                                  {"kind", traces::kind_plural(t.kind)},
                                                  {"reports", t.reports},
                                                  {"hidden", t.hidden}}));
        });
      case action::remove:
        return traces_->remove(id, admin, [respond](result<store::trace_record> r) {
          if (!r) return respond(error_response(r.error()));
          respond(json_response(200, json::object{{"deleted", r->id}}));
        });
      case action::audit: {
        const int n = static_cast<int>(limit);
        stores_.audit.read_audit(
            before, n, [n, respond](result<std::vector<store::audit_entry>> rows) {
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
    }
  };
  auth_.get_account(claims->account_id, [this, respond, run](result<store::account> acc) {
    if (!acc) {
      metrics_.count_error(acc.error().code);
      return respond(error_response(acc.error()));
    }
    if (!acc->is_admin) {
      metrics_.count_error(errc::forbidden);
      return respond(error_response(error{errc::forbidden, "This needs an admin account."}));
    }
    run(acc->id);
  });
  return true;
}

}  // namespace maratang::api
