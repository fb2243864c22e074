// Fuzzes the traces codec (src/traces/trace_codec.hpp): parse_add on a GameDB `POST /add-object`
// body, with the error body it produces; a valid request's parts are stored and listed again, so
// trace_json/listing_json run on whatever parse_add accepted. Also parse_position, valid_area and
// kind_from_plural on raw text.
#include <boost/json.hpp>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "check.hpp"
#include "traces/trace_codec.hpp"

namespace json = boost::json;
namespace traces = maratang::traces;
namespace store = maratang::store;

namespace {

using maratang::fuzz::check;

bool is_json_object(std::string_view s) {
  json::error_code ec;
  auto v = json::parse(s, ec);
  return !ec && v.is_object();
}

void check_part(const traces::trace_part& p, const traces::body_limits& lim) {
  check(static_cast<int>(p.u_uuid.size()) <= 4 * lim.uuid_max);
  check(is_json_object(p.payload_json));
  if (p.has_pos) check(std::isfinite(p.x) && std::isfinite(p.y) && std::isfinite(p.z));
}

store::trace_record record_of(const traces::trace_part& p, store::trace_kind k) {
  store::trace_record r;
  r.id = 1;
  r.area = "default";
  r.kind = k;
  r.u_uuid = p.u_uuid;
  r.payload_json = p.payload_json;
  r.has_pos = p.has_pos;
  r.x = p.x;
  r.y = p.y;
  r.z = p.z;
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  traces::body_limits lim;
  lim.phantom_points_max = 50;  // small bounds so that the fuzzer reaches them
  lim.uuid_max = 16;
  lim.text_max = 32;
  lim.message_part_max = 40;
  auto p = traces::parse_add("application/json", text, lim);
  if (!p.errors.empty()) {
    check(p.errors.size() <= 64);
    for (const auto& e : p.errors)
      check(!e.field.empty() && !e.code.empty());
    auto body = traces::errors_json(p.errors);
    check(is_json_object(body));
  } else {
    const auto& r = p.request;
    check(r.obj || r.message);
    std::vector<store::trace_record> objects, messages, phantoms;
    if (r.obj) {
      check_part(*r.obj, lim);
      objects.push_back(record_of(*r.obj, store::trace_kind::object));
    }
    if (r.message) {
      check_part(*r.message, lim);
      messages.push_back(record_of(*r.message, store::trace_kind::message));
    }
    check_part(r.phantom, lim);
    phantoms.push_back(record_of(r.phantom, store::trace_kind::phantom));
    for (auto f : {traces::listing_format::compat, traces::listing_format::extended}) {
      check(is_json_object(traces::listing_json(objects, messages, phantoms, f)));
      check(is_json_object(traces::trace_json(phantoms.front(), f)));
    }
  }
  double x, y, z;
  if (traces::parse_position(text, x, y, z))
    check(std::isfinite(x) && std::isfinite(y) && std::isfinite(z));
  if (traces::valid_area(text)) check(!text.empty() && text.size() <= 64);
  if (auto k = traces::kind_from_plural(text)) check(traces::kind_plural(*k) == text);
  return 0;
}
