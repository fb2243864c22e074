#include "net/http_types.hpp"

#include <boost/url/parse_query.hpp>

namespace maratang::net {

std::string http_request::query_param(std::string_view name) const {
  auto params = boost::urls::parse_query(query);
  if (!params) return {};
  for (auto p : *params) {
    if (p.key == name) return std::string(p.value);
  }
  return {};
}

std::string http_request::bearer_token() const {
  constexpr std::string_view prefix = "Bearer ";
  if (authorization.size() > prefix.size() &&
      std::string_view(authorization).substr(0, prefix.size()) == prefix) {
    return authorization.substr(prefix.size());
  }
  return query_param("token");
}

}  // namespace maratang::net
