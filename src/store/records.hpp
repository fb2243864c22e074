// What Maratang stores: the records every storage port speaks in (accounts, sessions, game
// records and players' statistics, the action log, events, traces, casebooks, the audit log), and
// the outcomes of a write.
// Plain values, no behaviour: the ports that read and write them are owned by the code that uses
// them (core/account_store.hpp, lobby/game_store.hpp, traces/trace_store.hpp, ...), and the
// implementations live under store/.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace maratang::store {

// Thrown by a backend when the database itself fails (I/O error, corrupt file, lost connection).
// Never thrown for expected outcomes such as "not found" or "taken": those are `status` values.
class store_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class status { ok, not_found, conflict };

struct account {
  std::int64_t id = 0;        // assigned by create_account, > 0
  std::string device_id;      // empty when the account has none
  std::string email;          // normalised (lower-case); empty when none
  std::string password_hash;  // argon2id string; empty when none
  std::string nickname;       // display form; empty until chosen
  std::string nickname_key;   // comparison key; unique among accounts; empty until chosen
  std::int64_t created_ms = 0;
  bool is_admin = false;  // granted by the operator (maratang admin grant EMAIL)
};

// An account an admin banned, until `until_ms` (ms since the epoch).
struct ban_record {
  std::int64_t account_id = 0;
  std::int64_t until_ms = 0;
  std::string reason;  // the admin's words, told to the account when it is refused
};

// One line of the admin audit log: who did what to what, and when. Append-only.
struct audit_entry {
  std::int64_t id = 0;  // assigned by append_audit, > 0 and increasing
  std::int64_t ts_ms = 0;
  std::int64_t actor = 0;   // the admin's account id; 0 for the operator's command line
  std::string action;       // e.g. "admin.grant", "trace.restore", "trace.delete"
  std::string target;       // what it acted on, e.g. "account:12", "trace:7"
  std::string detail_json;  // a JSON object with whatever else the action records
};

// One login session. Tokens name the session; logout revokes it.
struct session_record {
  std::string id;  // opaque, unique
  std::int64_t account_id = 0;
  std::string refresh_hash;  // hash of the current refresh token
  std::int64_t created_ms = 0;
  std::int64_t expires_ms = 0;  // when the refresh token stops working
  bool revoked = false;
};

// How a finished game ended for one of its players (see player_outcome).
enum class game_result { won = 0, lost = 1, drawn = 2, abandoned = 3 };

// What one game adds to one player's statistics in the game's mode. Computed by the lobby from the
// game's record when the game ends (lobby/game_stats.hpp, which says what each result means), and
// written by insert_game with the record (game_record::outcomes).
struct player_outcome {
  std::int64_t account_id = 0;
  game_result result = game_result::drawn;
  std::int64_t time_played_ms = 0;
  // The mode's own counts, each {tally, key} adding one to that key of that tally, e.g.
  // {"wins_by_role", "doctor"} or {"endings", "gull_rock/light_holds"}.
  std::vector<std::pair<std::string, std::string>> tallies;
};

// One account's statistics in one mode: the sums of its outcomes in that mode's games.
struct mode_stats {
  std::string mode;
  std::int64_t played = 0;  // won + lost + drawn + abandoned
  std::int64_t won = 0;
  std::int64_t lost = 0;
  std::int64_t drawn = 0;
  std::int64_t abandoned = 0;
  std::int64_t time_played_ms = 0;
  // tally -> key -> count, e.g. {"wins_by_role": {"doctor": 2, "mafia": 1}}.
  std::map<std::string, std::map<std::string, std::int64_t>> tallies;
};

// Competition (src/competition/, README "Competition"): ratings computed by the server from game
// records, and leaderboards per season.
enum class rating_model { glicko2 = 1, weng_lin = 2 };

// One player's rating under one rating key (a mode, or a mode's variant such as "arena_1v1"): the
// full model, which a matchmaker reads, and the conservative display rating players see.
struct rating_record {
  std::int64_t account_id = 0;
  std::string key;
  rating_model model = rating_model::weng_lin;
  double mu = 0;          // Glicko-2: rating r; Weng-Lin: mu
  double sigma = 0;       // Glicko-2: deviation RD; Weng-Lin: sigma
  double volatility = 0;  // Glicko-2 only (0 for Weng-Lin)
  std::int64_t games = 0;
  std::int64_t last_ms = 0;  // when the last rated game ended
  double display = 0;        // Glicko-2: r - 2 RD; Weng-Lin: mu - 3 sigma
};

// What one game changed in one player's rating (the rating history).
struct rating_change {
  std::string game_id;
  std::int64_t account_id = 0;
  std::string key;
  double mu_before = 0, sigma_before = 0, display_before = 0;
  double mu_after = 0, sigma_after = 0, display_after = 0;
  std::int64_t ended_ms = 0;
};

// One side of a rated game: its players and its place (1 first; equal places tie).
struct rated_team {
  std::vector<std::int64_t> players;
  int rank = 1;
};

// How a score joins a player's leaderboard entry: replaces it, adds to it, or replaces it only
// when better.
enum class score_merge { set = 0, add = 1, best = 2 };

// One score a game adds to a leaderboard (e.g. board "arena.kills", add 7).
struct score_update {
  std::string board;
  std::int64_t account_id = 0;
  double value = 0;
  score_merge merge = score_merge::set;
  bool ascending = false;  // lower is better (fastest escape)
};

// What a game feeds into ratings and leaderboards, decided by the lobby when the game ends and
// applied by the store in the record's own transaction, only when it stores the record.
struct competition_input {
  std::string rating_key;  // empty: the game is not rated
  rating_model model = rating_model::weng_lin;
  std::vector<rated_team> teams;
  std::int64_t season = 0;          // the season of the game's end (competition/season.hpp)
  std::int64_t idle_period_ms = 0;  // a rating period: uncertainty grows per idle one (0: never)
  std::vector<score_update> scores;
};

// One entry of a leaderboard, with its rank (1 first, every entry its own rank: see the tie rule
// in README "Competition").
struct leaderboard_entry {
  std::int64_t rank = 0;
  std::int64_t account_id = 0;
  double value = 0;
  std::int64_t reached_ms = 0;  // when the entry reached its value
  friend bool operator==(const leaderboard_entry&, const leaderboard_entry&) = default;
};

struct leaderboard_page {
  std::int64_t total = 0;  // entries on the board in that season
  std::vector<leaderboard_entry> entries;
};

// A finished (or abandoned) game.
struct game_record {
  std::string id;  // unique
  std::string mode;
  std::string room_id;
  std::int64_t started_ms = 0;
  std::int64_t ended_ms = 0;
  std::vector<std::int64_t> players;  // account ids, in seat order
  std::string record_json;            // the mode's own record: roles, votes, winners...
  // The game was played in a private room (invite code). Who may read a record is decided by
  // api::may_read_game; games stored before schema version 6 read back as private.
  bool is_private = false;
  // What the game adds to its players' statistics, one entry per player. Written, never read
  // back: insert_game adds them to the statistics (stats_of) in the same transaction as the
  // record, and only when it stores the record (a duplicate adds nothing); find_game and games_of
  // leave this empty.
  std::vector<player_outcome> outcomes;
  // What the game feeds into ratings and leaderboards: applied by insert_game in the same
  // transaction as the record, only when it stores the record. Written, never read back.
  competition_input competition;
};

// The casebook of a finished game: the story of the game, written from its action log (by the LLM
// or by templates) as Markdown. A game has at most one; a rewrite replaces it.
struct casebook_record {
  std::string game_id;
  std::string title;
  std::string language;  // "en", "ko"
  std::string author;    // "llm" or "template"
  std::string markdown;
  std::int64_t created_ms = 0;
};

// A running game's latest snapshot (lobby/room_snapshot.hpp), one per room: the room's own JSON
// document (members and seats, settings, the game's serialized state), the node that owns the
// room, and a sequence number that grows with each snapshot of the room so that an older write
// never replaces a newer one.
struct room_snapshot_record {
  std::string room_id;
  std::string node;
  std::int64_t seq = 0;
  std::int64_t updated_ms = 0;
  std::string data_json;
  friend bool operator==(const room_snapshot_record&, const room_snapshot_record&) = default;
};

// One line of the append-only action/chat log of a room or game.
struct log_entry {
  std::string stream;    // the game id (or room id) the entry belongs to
  std::int64_t seq = 0;  // strictly increasing within a stream, assigned by the caller
  std::int64_t ts_ms = 0;
  std::string kind;        // e.g. "chat", "action", "event"
  std::int64_t actor = 0;  // account id, 0 for the system
  std::string payload_json;
};

// An event for the outbox (published to Kafka by a later component).
struct event_record {
  std::int64_t id = 0;  // assigned on append, increasing
  std::string topic;
  std::string key;
  std::string payload_json;
  std::int64_t ts_ms = 0;
};

// Traces (src/traces/): what a player left in an area for others to find, as in seed 003's
// GameDB. One id sequence serves every kind, so an id names one trace.
enum class trace_kind { object = 0, message = 1, phantom = 2 };

struct trace_record {
  std::int64_t id = 0;  // assigned by insert_trace, > 0 and increasing
  std::string area;
  trace_kind kind = trace_kind::object;
  std::int64_t account_id = 0;  // 0: anonymous (the GameDB-compatible endpoint)
  std::string u_uuid;           // the client's own user id (seed 003), stored as given
  std::string payload_json;     // the kind's fields as a JSON object, e.g. {"o_type":1,...}
  bool has_pos = false;         // x, y, z hold a position (for near queries)
  double x = 0, y = 0, z = 0;
  std::int64_t created_ms = 0;
  std::int64_t rating = 0;  // sum of appraisals (+1 / -1 each)
  std::int64_t votes = 0;   // number of appraisals
  std::int64_t reports = 0;
  bool hidden = false;  // reported too often: never listed
};

// One account's report of a trace. `source` groups reports that may not count twice (the
// reporter's address, as the service keys it); `weighty` is false for reports that are kept but
// cannot help hide a trace (accounts too new to be trusted).
struct trace_report {
  std::int64_t trace_id = 0;
  std::int64_t account_id = 0;
  std::string source;
  bool weighty = true;
};

// Which traces list_traces returns: one kind of one area, newest (highest id) first, never
// hidden ones.
struct trace_query {
  std::string area;
  trace_kind kind = trace_kind::object;
  int limit = 0;                   // at most this many (nothing when <= 0)
  std::int64_t before_id = 0;      // when > 0: only ids below it (paging)
  std::int64_t created_after = 0;  // only traces with created_ms >= this
  bool near = false;               // when set: only traces with a position within radius
  double x = 0, y = 0, z = 0, radius = 0;
};

// Which traces reported_traces returns (the moderation queue): every kind and area, hidden ones
// included, newest (highest id) first.
struct moderation_query {
  bool hidden_only = false;    // only hidden traces; else every trace with at least one report
  int limit = 0;               // at most this many (nothing when <= 0)
  std::int64_t before_id = 0;  // when > 0: only ids below it (paging)
};

}  // namespace maratang::store
