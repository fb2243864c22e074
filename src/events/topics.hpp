// The topics Maratang publishes, the envelope every event travels in, and the builders that turn
// a stored record into its event. docs/EVENTS.md is the reference for consumers; keep them in step.
// Pure functions, any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "events/event_stream.hpp"
#include "store/records.hpp"
#include "util/error.hpp"

namespace maratang::events {

// Topic names. The first four mirror tables of the embedded store; the last three are seed 004's
// Arena topics (sampled moves, attacks and heals), defined before Arena exists so that its
// producer and every consumer agree on them.
inline constexpr std::string_view topic_actions = "actions";    // action/chat log entries
inline constexpr std::string_view topic_games = "games";        // finished games' records
inline constexpr std::string_view topic_traces = "traces";      // traces left in an area
inline constexpr std::string_view topic_accounts = "accounts";  // account created, renamed
inline constexpr std::string_view topic_move = "logs_move";
inline constexpr std::string_view topic_attack = "logs_attack";
inline constexpr std::string_view topic_heal = "logs_heal";

// Every topic above, in that order (what `maratang sink` consumes by default).
const std::vector<std::string>& all_topics();

// The envelope: one JSON object per Kafka message value (and per sink line),
//   {"v":1,"id":"...","topic":"...","key":"...","ts_ms":123,"data":{...}}
// `data` is e.data_json as is (not re-encoded).
std::string encode_envelope(const event& e);
// Parses an envelope: bad_field (with what is wrong) unless it is an object with v == 1, string
// id, topic and key (id and topic not empty), integer ts_ms and object data.
result<event> decode_envelope(std::string_view text);

// The event of each record (docs/EVENTS.md gives each payload's fields). A JSON field the record
// holds as text (payload_json, record_json) is embedded as JSON when it parses, else as a string.
event action_event(const store::log_entry& e);         // key: the stream (game or room id)
event game_event(const store::game_record& g);         // key: the game id
event trace_event(const store::trace_record& t);       // key: the area
event account_created_event(const store::account& a);  // key: the account id
event nickname_set_event(std::int64_t account_id, const std::string& nickname,
                         std::int64_t ts_ms);  // key: the account id
// An admin banned the account until `until_ms`, or lifted its ban (until_ms 0). Key: the account.
event ban_event(std::int64_t account_id, std::int64_t until_ms, std::int64_t by,
                std::int64_t ts_ms);

// Arena's sampled events (seed 004), keyed by the game id; `tick` orders a game's samples and,
// with the game id and actor, names the event.
struct arena_move {
  std::string game_id;
  std::int64_t tick = 0;
  std::int64_t ts_ms = 0;
  std::int64_t actor = 0;
  double x = 0, y = 0;
};
struct arena_attack {
  std::string game_id;
  std::int64_t tick = 0;
  std::int64_t ts_ms = 0;
  std::int64_t actor = 0;
  std::int64_t target = 0;
  std::int64_t damage = 0;
  std::string skill;
};
struct arena_heal {
  std::string game_id;
  std::int64_t tick = 0;
  std::int64_t ts_ms = 0;
  std::int64_t actor = 0;
  std::int64_t target = 0;
  std::int64_t amount = 0;
};
event move_event(const arena_move& m);
event attack_event(const arena_attack& a);
event heal_event(const arena_heal& h);

}  // namespace maratang::events
