// Small helpers shared by the REST handlers of the gateway (rest_api.cpp, traces_api.cpp).
#pragma once

#include <boost/json.hpp>
#include <charconv>
#include <string>
#include <string_view>

#include "net/http_types.hpp"
#include "proto/messages.hpp"
#include "util/error.hpp"

namespace maratang::store {
struct game_record;
}

namespace maratang::api {

inline net::http_response json_response(int status, const boost::json::value& v) {
  net::http_response r;
  r.status = status;
  r.body = boost::json::serialize(v);
  return r;
}

// The error body every endpoint answers with: {"error": {"code", "message"}}, with
// retry_after_s and a Retry-After header when the error says when to retry.
inline net::http_response error_response(const error& e, int status = 0) {
  boost::json::object body{{"code", to_string(e.code)}, {"message", e.message}};
  if (e.retry_after_s > 0) body.emplace("retry_after_s", e.retry_after_s);
  auto r = json_response(status ? status : http_status(e.code),
                         boost::json::object{{"error", std::move(body)}});
  if (e.retry_after_s > 0) r.headers.emplace_back("Retry-After", std::to_string(e.retry_after_s));
  return r;
}

// A whole decimal integer (a path segment or query value), nothing else.
inline bool parse_i64(std::string_view s, std::int64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

// Parses a JSON body and checks it against a field list (rest_api.cpp).
result<boost::json::object> parse_body(const net::http_request& req,
                                       std::span<const proto::field_spec> fields, unsigned depth);
// The body fields proto::core_endpoints declares for an endpoint, by method and path pattern.
std::span<const proto::field_spec> body_of(std::string_view method, std::string_view path);
// A game record as GET /v1/games/{id} answers it.
boost::json::object game_json(const store::game_record& g);

}  // namespace maratang::api
