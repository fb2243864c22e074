// Fuzzes the LLM client's reading of a streamed reply (src/llm/sse.hpp, the SSE parsing that
// openai_client.cpp runs on each read): the body is consumed in fuzzer-chosen pieces, as reads
// arrive, and must give the same deltas, finish reason and end state as when consumed at once.
// In the other mode the input is a whole HTTP response fed through Beast's response parser (the
// client's, with its body limit; chunked encoding included), consumed after every put.
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "check.hpp"
#include "llm/sse.hpp"

namespace http = boost::beast::http;
namespace llm = maratang::llm;

namespace {

using maratang::fuzz::check;

struct outcome {
  llm::sse_state state = llm::sse_state::more;
  std::string text, finish_reason, bad_detail;
};

// Consumes `in` in pieces of the given sizes (cycled), stopping where the client would.
outcome consume(std::string_view in, std::string_view sizes) {
  outcome o;
  std::string body;
  std::size_t at = 0, k = 0;
  auto on_delta = [&](std::string_view d) {
    check(!d.empty());
    o.text += d;
  };
  while (at < in.size()) {
    std::size_t n =
        sizes.empty() ? in.size() : 1 + static_cast<unsigned char>(sizes[k++ % sizes.size()]);
    n = std::min(n, in.size() - at);
    body.append(in.substr(at, n));
    at += n;
    o.state = llm::consume_sse(body, o.finish_reason, o.bad_detail, on_delta);
    if (o.state != llm::sse_state::more) break;
    check(body.find('\n') == std::string::npos);  // every complete line was consumed
  }
  if (o.state == llm::sse_state::bad) check(!o.bad_detail.empty());
  return o;
}

void body_mode(std::string_view in) {
  // The first line of the input gives the read sizes.
  auto nl = in.find('\n');
  std::string_view sizes = nl == std::string_view::npos ? std::string_view() : in.substr(0, nl);
  std::string_view body = nl == std::string_view::npos ? in : in.substr(nl + 1);
  if (sizes.size() > 16) sizes = sizes.substr(0, 16);
  auto whole = consume(body, {});
  auto pieces = consume(body, sizes);
  check(whole.state == pieces.state);
  check(whole.text == pieces.text);
  check(whole.finish_reason == pieces.finish_reason);
  check(whole.bad_detail == pieces.bad_detail);
  (void)llm::error_message(body);
  boost::json::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (!ec) (void)llm::first_choice(v);
}

void http_mode(std::string_view in) {
  http::response_parser<http::string_body> parser;
  parser.body_limit(64ull << 20);
  outcome o;
  boost::beast::error_code ec;
  std::size_t at = 0;
  while (at < in.size() && !parser.is_done()) {
    std::size_t used = parser.put(
        boost::asio::buffer(in.data() + at, std::min<std::size_t>(in.size() - at, 97)), ec);
    if (ec == http::error::need_more && used == 0) {
      // Beast wants more than 97 bytes at once (a long header line): give it everything.
      used = parser.put(boost::asio::buffer(in.data() + at, in.size() - at), ec);
    }
    if (ec == http::error::need_more) ec = {};
    if (ec || used == 0) return;  // an error, or no progress: the client gives up as well
    at += used;
    if (!parser.is_header_done()) continue;
    if (parser.get().result_int() != 200) {
      (void)llm::error_message(parser.get().body());
      continue;
    }
    o.state = llm::consume_sse(parser.get().body(), o.finish_reason, o.bad_detail,
                               [&](std::string_view d) { o.text += d; });
    if (o.state != llm::sse_state::more) return;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] == 'H') {
    http_mode(in);
  } else {
    body_mode(in);
  }
  return 0;
}
