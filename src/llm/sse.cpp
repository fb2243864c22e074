#include "llm/sse.hpp"

#include <fmt/format.h>

#include <boost/json.hpp>

#include "util/utf8.hpp"

namespace maratang::llm {

namespace json = boost::json;

std::string error_message(std::string_view body) {
  json::error_code ec;
  auto v = json::parse(body, ec);
  if (!ec && v.is_object()) {
    const auto& o = v.get_object();
    if (auto e = o.if_contains("error")) {
      if (e->is_object()) {
        if (auto m = e->get_object().if_contains("message"); m && m->is_string())
          return std::string(m->get_string());
      } else if (e->is_string()) {
        return std::string(e->get_string());
      }
    }
    if (auto m = o.if_contains("message"); m && m->is_string()) return std::string(m->get_string());
  }
  return std::string(util::utf8_prefix_chars(body, 200));
}

const json::object* first_choice(const json::value& v) {
  if (!v.is_object()) return nullptr;
  auto c = v.get_object().if_contains("choices");
  if (!c || !c->is_array() || c->get_array().empty()) return nullptr;
  const auto& first = c->get_array()[0];
  return first.is_object() ? &first.get_object() : nullptr;
}

namespace {

sse_state on_event(std::string_view data, std::string& finish_reason, std::string& bad_detail,
                   const std::function<void(std::string_view)>& on_delta) {
  if (data == "[DONE]") return sse_state::done;
  json::error_code ec;
  auto v = json::parse(data, ec);
  if (ec || !v.is_object()) {
    bad_detail = fmt::format("stream event is not JSON: {}", util::utf8_prefix_chars(data, 200));
    return sse_state::bad;
  }
  if (v.get_object().contains("error")) {
    bad_detail = "error in stream: " + error_message(data);
    return sse_state::bad;
  }
  auto choice = first_choice(v);
  if (!choice) return sse_state::more;  // e.g. a usage-only chunk
  if (auto d = choice->if_contains("delta"); d && d->is_object()) {
    if (auto t = d->get_object().if_contains("content"); t && t->is_string()) {
      std::string_view delta = t->get_string();
      if (!delta.empty()) on_delta(delta);
    }
  }
  if (auto f = choice->if_contains("finish_reason"); f && f->is_string())
    finish_reason = f->get_string();
  return sse_state::more;
}

}  // namespace

sse_state consume_sse(std::string& body, std::string& finish_reason, std::string& bad_detail,
                      const std::function<void(std::string_view)>& on_delta) {
  std::size_t pos = 0;
  auto state = sse_state::more;
  while (state == sse_state::more) {
    auto nl = body.find('\n', pos);
    if (nl == std::string::npos) break;
    std::string_view line(body.data() + pos, nl - pos);
    pos = nl + 1;
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (!line.starts_with("data:")) continue;  // blank separators, comments, other fields
    line.remove_prefix(5);
    if (line.starts_with(' ')) line.remove_prefix(1);
    state = on_event(line, finish_reason, bad_detail, on_delta);
  }
  body.erase(0, pos);
  return state;
}

}  // namespace maratang::llm
