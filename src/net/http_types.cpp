#include "net/http_types.hpp"

#include <algorithm>
#include <boost/url/parse_query.hpp>
#include <cctype>

namespace maratang::net {

std::string http_request::query_param(std::string_view name) const {
  auto params = boost::urls::parse_query(query);
  if (!params) return {};
  // Keys and values are compared and returned percent-decoded, with '+' as a space (the
  // application/x-www-form-urlencoded rule browsers use for query strings).
  boost::urls::encoding_opts opt;
  opt.space_as_plus = true;
  for (auto p : *params) {
    if (p.key.decode(opt) == name) return p.has_value ? p.value.decode(opt) : std::string();
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
