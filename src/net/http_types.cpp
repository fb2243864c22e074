#include "net/http_types.hpp"

#include <algorithm>
#include <boost/url/parse_query.hpp>
#include <cctype>

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
  // The scheme is case-insensitive (RFC 7235 2.1).
  constexpr std::string_view prefix = "bearer ";
  if (authorization.size() > prefix.size() &&
      std::equal(prefix.begin(), prefix.end(), authorization.begin(),
                 [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); })) {
    return authorization.substr(prefix.size());
  }
  return query_param("token");
}

}  // namespace maratang::net
