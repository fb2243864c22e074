#include "events/topics.hpp"

#include <fmt/format.h>
#include <boost/json.hpp>

namespace maratang::events {

namespace json = boost::json;

namespace {

// A field the store holds as JSON text: embedded as JSON when it parses, else as a string (the
// envelope must stay valid whatever a record holds).
json::value embedded(const std::string& text) {
  if (text.empty()) return json::object{};
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return json::string(text);
  return v;
}

std::string str(std::int64_t v) {
  return std::to_string(v);
}

}  // namespace

const std::vector<std::string>& all_topics() {
  static const std::vector<std::string> t{std::string(topic_actions), std::string(topic_games),
                                          std::string(topic_traces),  std::string(topic_accounts),
                                          std::string(topic_move),    std::string(topic_attack),
                                          std::string(topic_heal)};
  return t;
}

std::string encode_envelope(const event& e) {
  // Built by hand so that data_json goes in as it is, without a parse and a re-serialization.
  std::string out = R"({"v":1,"id":)";
  out += json::serialize(json::string(e.id));
  out += R"(,"topic":)";
  out += json::serialize(json::string(e.topic));
  out += R"(,"key":)";
  out += json::serialize(json::string(e.key));
  out += R"(,"ts_ms":)";
  out += str(e.ts_ms);
  out += R"(,"data":)";
  out += e.data_json.empty() ? std::string("{}") : e.data_json;
  out += '}';
  return out;
}

result<event> decode_envelope(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return error{errc::bad_field, fmt::format("not JSON: {}", ec.message())};
  const auto* o = v.if_object();
  if (!o) return error{errc::bad_field, "not a JSON object"};
  auto string_of = [&](const char* k) -> const json::string* {
    const auto* f = o->if_contains(k);
    return f ? f->if_string() : nullptr;
  };
  const auto* ver = o->if_contains("v");
  if (!ver || !ver->is_int64() || ver->get_int64() != 1)
    return error{errc::bad_field, "\"v\" must be 1"};
  const auto* id = string_of("id");
  const auto* topic = string_of("topic");
  const auto* key = string_of("key");
  if (!id || id->empty()) return error{errc::bad_field, "\"id\" must be a non-empty string"};
  if (!topic || topic->empty())
    return error{errc::bad_field, "\"topic\" must be a non-empty string"};
  if (!key) return error{errc::bad_field, "\"key\" must be a string"};
  const auto* ts = o->if_contains("ts_ms");
  if (!ts || !ts->is_int64()) return error{errc::bad_field, "\"ts_ms\" must be an integer"};
  const auto* data = o->if_contains("data");
  if (!data || !data->is_object()) return error{errc::bad_field, "\"data\" must be an object"};
  return event{std::string(*topic), std::string(*key), std::string(*id), ts->get_int64(),
               json::serialize(*data)};
}

event action_event(const store::log_entry& e) {
  json::object d{{"stream", e.stream},
                 {"seq", e.seq},
                 {"kind", e.kind},
                 {"actor", e.actor},
                 {"payload", embedded(e.payload_json)}};
  return event{std::string(topic_actions), e.stream, fmt::format("{}/{}", e.stream, e.seq), e.ts_ms,
               json::serialize(d)};
}

event game_event(const store::game_record& g) {
  json::array players;
  for (auto p : g.players)
    players.push_back(p);
  json::array outcomes;
  static constexpr const char* results[] = {"won", "lost", "drawn", "abandoned"};
  for (const auto& o : g.outcomes) {
    json::array tallies;
    for (const auto& [tally, k] : o.tallies)
      tallies.push_back(json::array{json::string(tally), json::string(k)});
    outcomes.push_back(json::object{{"account_id", o.account_id},
                                    {"result", results[static_cast<int>(o.result)]},
                                    {"time_played_ms", o.time_played_ms},
                                    {"tallies", std::move(tallies)}});
  }
  json::object d{{"game_id", g.id},
                 {"mode", g.mode},
                 {"room_id", g.room_id},
                 {"started_ms", g.started_ms},
                 {"ended_ms", g.ended_ms},
                 {"players", std::move(players)},
                 {"is_private", g.is_private},
                 {"record", embedded(g.record_json)},
                 {"outcomes", std::move(outcomes)}};
  return event{std::string(topic_games), g.id, "game/" + g.id, g.ended_ms, json::serialize(d)};
}

event trace_event(const store::trace_record& t) {
  static constexpr const char* kinds[] = {"object", "message", "phantom"};
  json::object d{
      {"trace_id", t.id},           {"area", t.area},     {"kind", kinds[static_cast<int>(t.kind)]},
      {"account_id", t.account_id}, {"u_uuid", t.u_uuid}, {"payload", embedded(t.payload_json)},
      {"created_ms", t.created_ms}};
  if (t.has_pos) d["pos"] = json::array{t.x, t.y, t.z};
  return event{std::string(topic_traces), t.area, fmt::format("trace/{}", t.id), t.created_ms,
               json::serialize(d)};
}

event account_created_event(const store::account& a) {
  json::object d{{"event", "created"},
                 {"account_id", a.id},
                 {"device", !a.device_id.empty()},
                 {"email", !a.email.empty()},
                 {"created_ms", a.created_ms}};
  return event{std::string(topic_accounts), str(a.id), fmt::format("account/{}/created", a.id),
               a.created_ms, json::serialize(d)};
}

event nickname_set_event(std::int64_t account_id, const std::string& nickname, std::int64_t ts_ms) {
  json::object d{{"event", "nickname_set"}, {"account_id", account_id}, {"nickname", nickname}};
  return event{std::string(topic_accounts), str(account_id),
               fmt::format("account/{}/nickname/{}", account_id, ts_ms), ts_ms, json::serialize(d)};
}

event ban_event(std::int64_t account_id, std::int64_t until_ms, std::int64_t by,
                std::int64_t ts_ms) {
  json::object d{
      {"event", until_ms ? "banned" : "unbanned"}, {"account_id", account_id}, {"by", by}};
  if (until_ms) d["until_ms"] = until_ms;
  return event{std::string(topic_accounts), str(account_id),
               fmt::format("account/{}/ban/{}", account_id, ts_ms), ts_ms, json::serialize(d)};
}

event move_event(const arena_move& m) {
  json::object d{
      {"game_id", m.game_id}, {"tick", m.tick}, {"actor", m.actor}, {"x", m.x}, {"y", m.y}};
  return event{std::string(topic_move), m.game_id,
               fmt::format("{}/move/{}/{}", m.game_id, m.tick, m.actor), m.ts_ms,
               json::serialize(d)};
}

event attack_event(const arena_attack& a) {
  json::object d{{"game_id", a.game_id}, {"tick", a.tick},     {"actor", a.actor},
                 {"target", a.target},   {"damage", a.damage}, {"skill", a.skill}};
  return event{std::string(topic_attack), a.game_id,
               fmt::format("{}/attack/{}/{}/{}", a.game_id, a.tick, a.actor, a.target), a.ts_ms,
               json::serialize(d)};
}

event heal_event(const arena_heal& h) {
  json::object d{{"game_id", h.game_id},
                 {"tick", h.tick},
                 {"actor", h.actor},
                 {"target", h.target},
                 {"amount", h.amount}};
  return event{std::string(topic_heal), h.game_id,
               fmt::format("{}/heal/{}/{}/{}", h.game_id, h.tick, h.actor, h.target), h.ts_ms,
               json::serialize(d)};
}

}  // namespace maratang::events
