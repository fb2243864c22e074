// Fuzzes the HTTP request path the server adds to Beast: Beast's request parser with the server's
// limits, then the conversion of src/net/http_session.cpp (`convert` is file-local there, so its
// target handling is repeated here line for line: split at '?', boost::urls::parse_origin_form,
// decoded path), then http_request::query_param and bearer_token (src/net/http_types.hpp).
// The first input byte picks the mode: a whole request on the wire, or a bare request target.
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/parse_query.hpp>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "check.hpp"
#include "net/http_types.hpp"

namespace http = boost::beast::http;
using maratang::net::http_request;

namespace {

using maratang::fuzz::check;

// As http_session.cpp's convert(), minus the headers.
void set_target(http_request& r, std::string_view target) {
  auto q = target.find('?');
  std::string_view raw_path = target.substr(0, q);
  if (q != std::string_view::npos) r.query = std::string(target.substr(q + 1));
  if (auto p = boost::urls::parse_origin_form(raw_path)) {
    r.path = std::string(p->path());  // decoded
  } else {
    r.path = std::string(raw_path);
  }
  check(r.query.find('?') == std::string::npos || q != std::string_view::npos);
}

void use(const http_request& r) {
  for (std::string_view name : {"token", "area", "limit", "cursor", "format", ""}) {
    std::string v = r.query_param(name);
    check(v.size() <= r.query.size());
  }
  // The Authorization header's bearer token wins; otherwise the query's token parameter.
  std::string t = r.bearer_token();
  std::string_view a = r.authorization;
  bool bearer = a.size() > 7;
  for (std::size_t i = 0; bearer && i < 7; ++i)
    bearer = std::tolower(static_cast<unsigned char>(a[i])) == "bearer "[i];
  check(bearer ? t == a.substr(7) : t == r.query_param("token"));
}

void wire(const std::uint8_t* data, std::size_t size) {
  http::request_parser<http::string_body> parser;
  parser.body_limit(1 << 20);
  parser.header_limit(16 * 1024);
  parser.eager(true);
  boost::beast::error_code ec;
  std::size_t used = parser.put(boost::asio::buffer(data, size), ec);
  check(used <= size);
  if (!ec && !parser.is_done()) {
    parser.put_eof(ec);
  }
  if (ec || !parser.is_done()) return;
  const auto& req = parser.get();
  http_request r;
  r.method = std::string(req.method_string());
  set_target(r, req.target());
  r.authorization = std::string(req[http::field::authorization]);
  r.content_type = std::string(req[http::field::content_type]);
  r.body = req.body();
  check(r.body.size() <= (1u << 20));
  use(r);
}

void bare(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto nl = in.find('\n');
  http_request r;
  set_target(r, in.substr(0, nl));
  if (nl != std::string_view::npos) r.authorization = std::string(in.substr(nl + 1));
  use(r);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  if (data[0] & 1) {
    bare(data + 1, size - 1);
  } else {
    wire(data + 1, size - 1);
  }
  return 0;
}
