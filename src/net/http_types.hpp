// HTTP requests and responses as the application sees them, free of Beast types, so that handlers
// and modes compile without the networking headers.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace maratang::net {

struct http_request {
  std::string method;  // "GET", "POST", ...
  std::string path;    // decoded path, without the query
  std::string query;   // raw query string, without '?'
  std::string body;
  std::string authorization;
  std::string content_type;
  std::string accept_encoding;
  std::string if_none_match;
  std::string remote;  // peer address

  // The percent-decoded value of query parameter `name`, or "" when absent.
  std::string query_param(std::string_view name) const;
  // The bearer token of the Authorization header, or the `token` query parameter, or "".
  std::string bearer_token() const;
};

struct http_response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // When set, sent instead of `body` (lets a cache share one buffer between responses).
  std::shared_ptr<const std::string> shared_body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Completes a request. Callable from any thread, exactly once.
using http_responder = std::function<void(http_response)>;

}  // namespace maratang::net
