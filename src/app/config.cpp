#include "app/config.hpp"

#include "competition/season.hpp"
#include "llm/openai_client.hpp"
#include "redis/client.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>

namespace maratang::app {

namespace json = boost::json;

namespace {

// One setting: its key, its environment names and how to parse and show it.
struct setting {
  std::string key;
  std::vector<std::string> env;  // MARATANG_<KEY> first, then seed-compatible aliases
  std::string doc;
  bool secret = false;
  // Parses text into the config; returns an error message or "".
  std::function<std::string(config&, const std::string&)> parse;
  std::function<json::value(const config&)> show;
};

std::string env_name(const std::string& key) {
  std::string s = "MARATANG_";
  for (char c : key)
    s += (c == '.') ? '_' : static_cast<char>(std::toupper(c));
  return s;
}

setting int_setting(std::string key, int config::*field, int lo, int hi, std::string doc,
                    std::vector<std::string> aliases = {}) {
  setting s;
  s.env = {env_name(key)};
  s.env.insert(s.env.end(), aliases.begin(), aliases.end());
  s.key = std::move(key);
  s.doc = std::move(doc);
  s.parse = [field, lo, hi](config& c, const std::string& text) -> std::string {
    long long v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || p != text.data() + text.size() || v < lo || v > hi) {
      return fmt::format("must be an integer from {} to {}, got \"{}\"", lo, hi, text);
    }
    c.*field = static_cast<int>(v);
    return {};
  };
  s.show = [field](const config& c) { return json::value(c.*field); };
  return s;
}

setting str_setting(std::string key, std::string config::*field, std::string doc,
                    std::vector<std::string> choices = {}, bool secret = false,
                    std::vector<std::string> aliases = {}) {
  setting s;
  s.env = {env_name(key)};
  s.env.insert(s.env.end(), aliases.begin(), aliases.end());
  s.key = std::move(key);
  s.doc = std::move(doc);
  s.secret = secret;
  s.parse = [field, choices](config& c, const std::string& text) -> std::string {
    if (!choices.empty() && std::find(choices.begin(), choices.end(), text) == choices.end()) {
      return fmt::format("must be one of {}, got \"{}\"", fmt::join(choices, ", "), text);
    }
    c.*field = text;
    return {};
  };
  s.show = [field](const config& c) { return json::value(c.*field); };
  return s;
}

setting bool_setting(std::string key, bool config::*field, std::string doc) {
  setting s;
  s.env = {env_name(key)};
  s.key = std::move(key);
  s.doc = std::move(doc);
  s.parse = [field](config& c, const std::string& text) -> std::string {
    if (text == "true" || text == "1" || text == "yes" || text == "on") {
      c.*field = true;
    } else if (text == "false" || text == "0" || text == "no" || text == "off") {
      c.*field = false;
    } else {
      return fmt::format("must be true or false, got \"{}\"", text);
    }
    return {};
  };
  s.show = [field](const config& c) { return json::value(c.*field); };
  return s;
}

const std::vector<setting>& settings() {
  static const std::vector<setting> table = [] {
    std::vector<setting> t;
    t.push_back(str_setting("server.host", &config::host, "Address to listen on."));
    t.push_back(int_setting("server.port", &config::port, 0, 65535,
                            "Port for HTTP and WebSocket (0: any free port).", {"PORT"}));
    t.push_back(int_setting("server.threads", &config::threads, 0, 256,
                            "Network and room threads (0: one per core)."));
    t.push_back(str_setting(
        "server.trusted_proxies", &config::trusted_proxies,
        "Addresses of reverse proxies (nginx), comma-separated: a request from one of them counts "
        "as from the client its X-Forwarded-For names (the nearest address that is not itself a "
        "trusted proxy), for every per-address limit and log. Empty: every peer is the client."));
    t.push_back(str_setting("server.data_dir", &config::data_dir,
                            "Directory for the embedded database and the signing key."));
    t.push_back(str_setting("server.port_file", &config::port_file,
                            "If set, the bound port is written to this file once listening."));
    t.push_back(int_setting("server.shutdown_grace_ms", &config::shutdown_grace_ms, 0, 600000,
                            "On SIGTERM, how long in-flight work may take before exit."));
    t.push_back(str_setting("log.level", &config::log_level, "Log level.",
                            {"trace", "debug", "info", "warn", "error", "off"}));
    t.push_back(
        str_setting("log.format", &config::log_format, "Log line format.", {"text", "json"}));
    t.push_back(
        str_setting("storage.backend", &config::storage_backend,
                    "Where data is kept: sqlite (embedded), postgres (storage.database_url; "
                    "chosen by setting DATABASE_URL) or memory (lost at exit).",
                    {"sqlite", "postgres", "memory"}));
    t.push_back(str_setting("storage.sqlite_path", &config::sqlite_path,
                            "SQLite database file (default <data_dir>/maratang.db)."));
    t.push_back(bool_setting("storage.full_sync", &config::storage_full_sync,
                             "fsync every commit (survives power loss), not only process death."));
    t.push_back(int_setting("storage.batch_max", &config::storage_batch_max, 1, 100000,
                            "Writes per storage transaction at most."));
    t.push_back(int_setting("storage.log_delay_ms", &config::storage_log_delay_ms, 0, 10000,
                            "How long an action-log entry may wait to share a bulk write with "
                            "others (0: written as soon as storage is free). A crash loses at "
                            "most this much of the log, plus the storage queue."));
    t.push_back(int_setting("storage.log_writers", &config::storage_log_writers, 1, 16,
                            "PostgreSQL only: connections that write the action log's bulk "
                            "writes side by side, each on a thread of its own (one database "
                            "backend runs one COPY at a time). SQLite has one writer: 1 there."));
    t.push_back(int_setting("storage.max_size_mb", &config::storage_max_size_mb, 0, 1 << 30,
                            "The SQLite database's size at most, in MiB (0: no limit). At the "
                            "limit writes fail as on a full disk: clients are told unavailable, "
                            "and records nobody waits for are retried until there is room."));
    t.push_back(str_setting("storage.database_url", &config::database_url,
                            "PostgreSQL URL, postgresql://user:password@host:port/db; setting it "
                            "selects storage.backend=postgres.",
                            {}, true, {"DATABASE_URL"}));
    t.push_back(int_setting("storage.connect_timeout_s", &config::storage_connect_timeout_s, 1, 600,
                            "PostgreSQL: a connection attempt gives up after this long."));
    t.push_back(int_setting("storage.statement_timeout_ms", &config::storage_statement_timeout_ms,
                            100, 3'600'000,
                            "PostgreSQL: the server cancels a statement after this long."));
    t.push_back(str_setting("auth.secret", &config::auth_secret,
                            "Token signing key, base64url of 32 bytes (default: generated once "
                            "into <data_dir>/secret.key).",
                            {}, true));
    t.push_back(int_setting("auth.token_ttl_s", &config::token_ttl_s, 10, 30 * 24 * 3600,
                            "Lifetime of a session token."));
    t.push_back(int_setting("auth.refresh_ttl_s", &config::refresh_ttl_s, 60, 365 * 24 * 3600,
                            "Lifetime of a refresh token."));
    t.push_back(str_setting("auth.password_hash", &config::password_hash,
                            "Argon2id cost: interactive (production) or minimal (tests).",
                            {"interactive", "minimal"}));
    t.push_back(int_setting("auth.hash_threads", &config::auth_hash_threads, 1, 64,
                            "Threads that hash passwords (their own, apart from the traces cache's "
                            "compression); each hash takes 64 MiB while it runs."));
    t.push_back(int_setting("auth.hash_queue_max", &config::auth_hash_queue_max, 0, 100000,
                            "Password hashes waiting or running at most, a quarter of them (at "
                            "least 1) per client address; a login or registration beyond is "
                            "refused at once with 429 rate_limited (0: no bound)."));
    t.push_back(int_setting("auth.login_free_failures", &config::auth_login_free_failures, 0,
                            100000,
                            "Failed logins to one email within auth.failure_window_s before each "
                            "further attempt waits (auth.backoff_ms, doubling); 0: no limit."));
    t.push_back(int_setting("auth.address_free_failures", &config::auth_address_free_failures, 0,
                            100000,
                            "The same per client address (IPv6: per /64), over all emails; 0: no "
                            "limit."));
    t.push_back(int_setting("auth.backoff_ms", &config::auth_backoff_ms, 1, 86400000,
                            "First wait after the free failed logins; it doubles with each further "
                            "failure."));
    t.push_back(int_setting("auth.backoff_max_ms", &config::auth_backoff_max_ms, 1, 86400000,
                            "Longest wait between failed logins (the right password waits too)."));
    t.push_back(int_setting("auth.failure_window_s", &config::auth_failure_window_s, 1, 30 * 86400,
                            "Failed logins older than this are forgotten."));
    t.push_back(int_setting("auth.signups_per_hour", &config::auth_signups_per_hour, 0, 100000000,
                            "New accounts (device or email) and registration attempts per hour per "
                            "client address (0: no limit)."));
    t.push_back(int_setting("auth.signup_burst", &config::auth_signup_burst, 1, 1000000,
                            "New accounts and registration attempts a client address may make at "
                            "once."));
    t.push_back(str_setting("auth.password_lists", &config::auth_password_lists,
                            "Comma-separated files of common passwords (one a line) that new "
                            "passwords may not be; a missing file is logged at start-up and "
                            "skipped. Empty: no list."));
    t.push_back(int_setting("limits.http_body_max", &config::http_body_max, 1024, 64 << 20,
                            "Largest HTTP request body, bytes."));
    t.push_back(int_setting("limits.ws_message_max", &config::ws_message_max, 256, 16 << 20,
                            "Largest WebSocket message, bytes."));
    t.push_back(int_setting("limits.json_depth_max", &config::json_depth_max, 2, 1000,
                            "Deepest JSON nesting accepted."));
    t.push_back(int_setting("limits.ws_rate", &config::ws_rate, 1, 100000,
                            "Messages per second a connection may send, sustained."));
    t.push_back(int_setting("limits.ws_burst", &config::ws_burst, 1, 100000,
                            "Messages a connection may send at once (token bucket size)."));
    t.push_back(int_setting("limits.ws_input_rate", &config::ws_input_rate, 1, 100000,
                            "Realtime inputs (arena.input, arena.ack) per second a connection "
                            "may send, sustained: a budget apart from limits.ws_rate."));
    t.push_back(int_setting("limits.ws_input_burst", &config::ws_input_burst, 1, 100000,
                            "Realtime inputs a connection may send at once; twice this in debt "
                            "closes it."));
    t.push_back(int_setting("limits.send_queue_max", &config::send_queue_max, 1, 1000000,
                            "Outgoing messages queued per connection past which it must be "
                            "draining (limits.slow_consumer_ms); 4 times this drops it at once."));
    t.push_back(int_setting("limits.send_queue_max_bytes", &config::send_queue_max_bytes, 1024,
                            1 << 30,
                            "Outgoing bytes queued per connection past which it must be "
                            "draining; 4 times this drops it at once."));
    t.push_back(int_setting("limits.slow_consumer_ms", &config::slow_consumer_ms, 100, 600000,
                            "A connection whose queue is past its bound and has not drained a "
                            "byte for this long is dropped as a slow consumer."));
    t.push_back(int_setting("limits.handshake_timeout_ms", &config::handshake_timeout_ms, 100,
                            600000, "WebSocket opening/closing handshake and hello timeout."));
    t.push_back(int_setting("limits.ws_idle_timeout_ms", &config::ws_idle_timeout_ms, 1000, 3600000,
                            "A silent WebSocket is pinged at half this and closed at this."));
    t.push_back(int_setting("limits.http_idle_timeout_ms", &config::http_idle_timeout_ms, 100,
                            3600000, "Idle keep-alive HTTP connections close after this."));
    t.push_back(int_setting("limits.max_connections", &config::max_connections, 1, 10000000,
                            "Open connections at most; more are refused."));
    t.push_back(int_setting("rooms.reconnect_grace_ms", &config::reconnect_grace_ms, 0, 3600000,
                            "How long a dropped player keeps their seat."));
    t.push_back(int_setting(
        "rooms.snapshot_interval_ms", &config::snapshot_interval_ms, 0, 60000,
        "A running game's snapshots (crash recovery) at most this often: a play or phase change "
        "sooner is saved when the interval ends, so a crash loses at most this long of a game "
        "(0: every checkpoint at once, which costs the room thread much more at scale)."));
    t.push_back(str_setting("competition.season_schedule", &config::season_schedule,
                            "When leaderboard seasons start, as a five-field cron expression in "
                            "UTC (minute hour day-of-month month day-of-week); earlier seasons "
                            "stay readable. Empty or \"never\": one season forever."));
    t.push_back(int_setting("competition.rating_period_s", &config::rating_period_s, 0, 365 * 86400,
                            "A rating period: for each whole period a player has not played a "
                            "rated game, their rating's uncertainty grows (0: never)."));
    t.push_back(str_setting("node.id", &config::node_id,
                            "This node's name: running games are snapshotted under it, and at "
                            "start-up the node restores the games it finds under it."));
    t.push_back(str_setting(
        "node.route", &config::node_route,
        "With several nodes: the path prefix through which clients reach this node only (nginx's "
        "/node/N of deploy/nginx/maratang.conf.in, e.g. /node/1). A player joining a room of this "
        "node through another is sent to <route>/ws; empty: rooms here are joined only here."));
    t.push_back(int_setting("cluster.heartbeat_ms", &config::cluster_heartbeat_ms, 100, 60000,
                            "With redis.url: how often this node says it is alive."));
    t.push_back(int_setting(
        "cluster.node_ttl_ms", &config::cluster_node_ttl_ms, 300, 600000,
        "With redis.url: a node silent this long is dead (its rooms leave every listing)."));
    t.push_back(bool_setting(
        "cluster.drain", &config::cluster_drain,
        "With redis.url: on SIGTERM, hand every room over to another node (its game goes on in "
        "the same phase and deadline there; players are told to reconnect) instead of ending "
        "the games."));
    t.push_back(int_setting("cluster.drain_timeout_ms", &config::cluster_drain_timeout_ms, 100,
                            600000,
                            "How long a draining node waits for another to take its rooms; "
                            "past it they stay stored for this node's next start."));
    t.push_back(int_setting("rooms.reservation_ms", &config::reservation_ms, 1000, 600000,
                            "A seat reserved here for a player who joined through another node "
                            "waits this long for them to connect."));
    t.push_back(int_setting("rooms.invites_per_minute", &config::invites_per_minute, 1, 1000000,
                            "Invitations (room.invite) each member of a room may send a minute; "
                            "past it rate_limited."));
    t.push_back(
        bool_setting("rooms.allow_seeds", &config::allow_seeds,
                     "Lets a room's creator fix its random seed (settings.seed) to replay a "
                     "game; the creator then knows the deal, so keep it off for real play."));
    t.push_back(int_setting("parties.max_size", &config::party_max_size, 2, 100,
                            "Members a party holds at most."));
    t.push_back(int_setting("parties.invite_ttl_ms", &config::party_invite_ttl_ms, 1000, 86400000,
                            "An invitation to a party by account is good this long."));
    t.push_back(int_setting("matchmaker.interval_ms", &config::match_interval_ms, 10, 60000,
                            "One matching pass per interval: every ticket that has a match is "
                            "matched within it."));
    t.push_back(int_setting("matchmaker.join_timeout_ms", &config::match_join_timeout_ms, 1000,
                            600000,
                            "A matched player must take the seat (match.join) within this; "
                            "otherwise the seat is freed, their ticket ends and the others "
                            "are queued again at the front."));
    t.push_back(int_setting("matchmaker.ticket_ttl_ms", &config::match_ticket_ttl_ms, 1000,
                            86400000, "A ticket not matched within this expires."));
    t.push_back(int_setting("matchmaker.accept_min_after_ms", &config::match_accept_min_after_ms, 0,
                            3600000,
                            "A match smaller than the most players its tickets allow (but at "
                            "least their minimum) is formed only once its oldest ticket has "
                            "waited this long."));
    t.push_back(int_setting("matchmaker.window_start_pct", &config::match_window_start_pct, 0,
                            100000,
                            "Rated tickets: the rating window at first, in hundredths of the "
                            "ticket's rating deviation (sigma): two tickets meet when their "
                            "ratings differ by at most the wider of their windows."));
    t.push_back(int_setting("matchmaker.widen_pct_per_s", &config::match_widen_pct_per_s, 0, 100000,
                            "How much the rating window widens per second waited, in "
                            "hundredths of sigma."));
    t.push_back(int_setting("matchmaker.window_max_pct", &config::match_window_max_pct, 0, 1000000,
                            "The widest rating window, in hundredths of sigma."));
    t.push_back(int_setting("rooms.max_rooms", &config::max_rooms, 1, 10000000,
                            "Rooms at most on this node."));
    t.push_back(int_setting("mafia.min_players", &config::mafia_min_players, 4, 20,
                            "Fewest players a Mafia game starts with."));
    t.push_back(int_setting("mafia.max_players", &config::mafia_max_players, 4, 20,
                            "Most players a Mafia room seats."));
    t.push_back(str_setting("media.mode", &config::media_mode,
                            "Mafia's voice and video: mesh (browsers connect to each other), sfu "
                            "(through Janus, media.janus_url), or auto (Janus from "
                            "media.sfu_min_players players on).",
                            {"mesh", "sfu", "auto"}));
    t.push_back(int_setting("media.sfu_min_players", &config::media_sfu_min_players, 2, 100,
                            "With media.mode auto: games of this many players or more use the "
                            "SFU."));
    t.push_back(str_setting("media.janus_url", &config::janus_url,
                            "Janus API (HTTP transport) as Maratang reaches it, e.g. "
                            "http://127.0.0.1:8088/janus; empty: no SFU."));
    t.push_back(str_setting("media.janus_public_url", &config::janus_public_url,
                            "Janus API as browsers reach it (allowed in the page's "
                            "Content-Security-Policy); empty: media.janus_url."));
    t.push_back(str_setting("media.janus_admin_url", &config::janus_admin_url,
                            "Janus admin API, e.g. http://127.0.0.1:7088/admin (tokens are added "
                            "and removed there)."));
    t.push_back(str_setting("media.janus_admin_secret", &config::janus_admin_secret,
                            "Janus's admin_secret (janus.jcfg).", {}, true));
    t.push_back(str_setting("media.janus_admin_key", &config::janus_admin_key,
                            "The videoroom plugin's admin_key: only Maratang creates rooms.", {},
                            true));
    t.push_back(int_setting("media.janus_check_ms", &config::janus_check_ms, 0, 3600000,
                            "How often Janus's health is checked (its admin API lists its "
                            "tokens); a Janus found to have restarted is told every live game's "
                            "rooms and tokens again. 0: never."));
    t.push_back(str_setting("media.stun_urls", &config::stun_urls,
                            "STUN servers for browsers, comma-separated (stun:host:port)."));
    t.push_back(str_setting("media.turn_urls", &config::turn_urls,
                            "TURN servers for browsers, comma-separated "
                            "(turn:host:port?transport=udp); needs media.turn_secret."));
    t.push_back(str_setting("media.turn_secret", &config::turn_secret,
                            "coturn's static-auth-secret (use-auth-secret): TURN credentials are "
                            "made from it per member and expire after media.turn_ttl_s.",
                            {}, true));
    t.push_back(int_setting("media.turn_ttl_s", &config::turn_ttl_s, 60, 7 * 24 * 3600,
                            "How long a TURN credential handed to a browser stays valid."));
    t.push_back(str_setting("media.ice_transport_policy", &config::ice_transport_policy,
                            "all, or relay: browsers connect only through TURN (media.turn_urls), "
                            "so that players never learn each other's network addresses.",
                            {"all", "relay"}));
    t.push_back(int_setting("nickname.min_chars", &config::nickname_min, 1, 64,
                            "Shortest nickname, in characters."));
    t.push_back(int_setting("nickname.max_chars", &config::nickname_max, 1, 64,
                            "Longest nickname, in characters."));
    t.push_back(str_setting("llm.base_url", &config::vllm_base_url,
                            "OpenAI-compatible base model endpoint (vLLM).", {}, false,
                            {"VLLM_BASE_URL"}));
    t.push_back(str_setting("llm.lora_base_url", &config::lora_vllm_base_url,
                            "OpenAI-compatible endpoint serving LoRA adapters.", {}, false,
                            {"LORA_VLLM_BASE_URL"}));
    t.push_back(str_setting("llm.api_key", &config::llm_api_key, "API key for the LLM endpoints.",
                            {}, true, {"VLLM_API_KEY"}));
    t.push_back(str_setting("llm.model", &config::llm_model,
                            "Model name sent to the base endpoint (NPCs with a LoRA adapter send "
                            "the adapter's name to the LoRA endpoint instead)."));
    t.push_back(str_setting("llm.ca_file", &config::llm_ca_file,
                            "https endpoints: PEM file of the certificate authorities to trust "
                            "(empty: the system's). Certificates are always verified."));
    t.push_back(int_setting("llm.first_token_timeout_ms", &config::llm_first_token_timeout_ms, 50,
                            600000, "An LLM call fails if no token arrives within this."));
    t.push_back(int_setting("llm.first_token_wait_ms", &config::llm_first_token_wait_ms, 50, 600000,
                            "The longest a player waits for the first words of an LLM line, "
                            "across retries; then the scenario's own line is told."));
    t.push_back(int_setting("llm.total_timeout_ms", &config::llm_total_timeout_ms, 100, 3600000,
                            "An LLM call fails if it takes longer than this in all."));
    t.push_back(int_setting("llm.max_concurrency", &config::llm_max_concurrency, 1, 10000,
                            "LLM calls in flight per endpoint at most; more wait in a queue."));
    t.push_back(int_setting("llm.retries", &config::llm_retries, 0, 10,
                            "Retries of a failed LLM call before any token was received."));
    t.push_back(int_setting("llm.breaker_failures", &config::llm_breaker_failures, 1, 1000,
                            "Consecutive failed LLM calls that open the circuit breaker (calls "
                            "then fail at once and the offline narrator speaks)."));
    t.push_back(
        int_setting("llm.breaker_open_ms", &config::llm_breaker_open_ms, 10, 3600000,
                    "How long the breaker stays open before one probe call is let through."));
    t.push_back(str_setting("mystery.scenarios_dir", &config::mystery_scenarios_dir,
                            "Folder of Mystery scenario folders, validated and loaded at start."));
    t.push_back(int_setting("mystery.turn_ms", &config::mystery_turn_ms, 0, 3600000,
                            "A group player's turn passes after this long (0: never)."));
    t.push_back(str_setting("traces.default_area", &config::traces_default_area,
                            "Area served by the GameDB-compatible /get-objects and /add-object."));
    t.push_back(int_setting("traces.cache_max_age_ms", &config::traces_cache_max_age_ms, 0, 3600000,
                            "Trace listings are served from cache for at most this long (and "
                            "refreshed sooner when traces arrive)."));
    t.push_back(int_setting("traces.anon_writes_per_minute", &config::traces_anon_writes_per_minute,
                            0, 100000000,
                            "POST /add-object per minute per client address (0: no limit)."));
    t.push_back(int_setting("traces.anon_write_burst", &config::traces_anon_write_burst, 1, 1000000,
                            "POST /add-object a client address may send at once."));
    t.push_back(int_setting("traces.account_writes_per_minute",
                            &config::traces_account_writes_per_minute, 0, 100000000,
                            "Trace writes per minute per account (0: no limit)."));
    t.push_back(int_setting("traces.account_write_burst", &config::traces_account_write_burst, 1,
                            1000000, "Trace writes an account may send at once."));
    t.push_back(int_setting("traces.phantom_points_max", &config::traces_phantom_points_max, 1,
                            1000000, "Entries in a phantom's data at most."));
    t.push_back(int_setting("traces.message_part_max", &config::traces_message_part_max, 1, 100000,
                            "Characters in each part of a message at most."));
    t.push_back(int_setting(
        "traces.hide_after_reports", &config::traces_hide_after_reports, 1, 1000000,
        "Reports that hide a trace: from accounts old enough (below), one per source address."));
    t.push_back(int_setting("traces.report_min_account_age_s",
                            &config::traces_report_min_account_age_s, 0, 365 * 86400,
                            "A report helps hide a trace only from an account at least this old "
                            "(seconds); younger accounts' reports are kept and shown but hide "
                            "nothing."));
    t.push_back(int_setting("traces.max_age_s", &config::traces_max_age_s, 0, 10 * 365 * 86400,
                            "Traces older than this are no longer listed and are trimmed (0: "
                            "kept forever)."));
    t.push_back(int_setting("traces.max_per_kind", &config::traces_max_per_kind, 0, 100000000,
                            "Per area and kind, only the newest this many are kept (0: all)."));
    t.push_back(int_setting("traces.trim_interval_ms", &config::traces_trim_interval_ms, 0,
                            86400000, "Trimming runs at most this often, triggered by writes."));
    t.push_back(str_setting("events.kafka_brokers", &config::kafka_brokers,
                            "Kafka bootstrap servers (host:port,...). Set: every event is also "
                            "published to Kafka by an idempotent producer (docs/EVENTS.md); "
                            "empty: events stay in the embedded store.",
                            {}, false, {"KAFKA_BROKERS"}));
    t.push_back(str_setting("redis.url", &config::redis_url,
                            "redis://[:password@]host[:port][/db]. Set: this node joins the "
                            "others that use the same Redis (a logout anywhere ends the session "
                            "on every node; GET /ready fails while Redis does not answer); empty: "
                            "one node alone.",
                            {}, true, {"REDIS_URL"}));
    t.push_back(int_setting("events.queue_max_messages", &config::events_queue_max_messages, 1,
                            10'000'000,
                            "Events waiting for Kafka at most (librdkafka's local queue); past it "
                            "new events are dropped and counted, never waited for."));
    t.push_back(int_setting("events.queue_max_kbytes", &config::events_queue_max_kbytes, 1,
                            2'097'151, "The same bound in KiB of queued events."));
    t.push_back(int_setting("events.message_timeout_ms", &config::events_message_timeout_ms, 1000,
                            86'400'000,
                            "An event Kafka has not acknowledged after this long is given up "
                            "(counted as failed)."));
    t.push_back(int_setting("events.linger_ms", &config::events_linger_ms, 0, 60'000,
                            "How long an event waits for others to share its Kafka batch."));
    t.push_back(str_setting("sink.dir", &config::sink_dir,
                            "maratang sink: root folder of the hourly JSON Lines files."));
    t.push_back(str_setting("sink.group_id", &config::sink_group_id,
                            "maratang sink: Kafka consumer group (whose offsets it commits)."));
    t.push_back(int_setting("sink.batch_max", &config::sink_batch_max, 1, 1'000'000,
                            "maratang sink: events per bulk write at most."));
    t.push_back(int_setting("sink.batch_ms", &config::sink_batch_ms, 1, 600'000,
                            "maratang sink: how long a batch collects events at most."));
    t.push_back(str_setting("docs.assets_dir", &config::docs_assets_dir,
                            "Directory of the Swagger UI assets served at /docs (the npm package "
                            "swagger-ui-dist, installed by scripts/setup.sh); a relative path is "
                            "looked up as web.public_dir is."));
    t.push_back(str_setting("web.public_dir", &config::web_public_dir,
                            "Directory of the player's web client served at / (web/public in the "
                            "source tree). A relative path not found from the working directory "
                            "is looked up beside the executable: ../share/maratang/ (installed) "
                            "and ../../ (build/<preset>/ in the source tree)."));
    t.push_back(bool_setting("testing.test_modes", &config::test_modes,
                             "Registers the test-only game mode used by the integration tests."));
    return t;
  }();
  return table;
}

const setting* find_setting(const std::string& key) {
  for (const auto& s : settings()) {
    if (s.key == key) return &s;
  }
  return nullptr;
}

// Flattens {"a": {"b": 1}} into {"a.b": "1"}.
std::string flatten(const json::object& obj, const std::string& prefix,
                    std::vector<std::pair<std::string, std::string>>& out) {
  for (const auto& [k, v] : obj) {
    std::string key = prefix.empty() ? std::string(k) : prefix + "." + std::string(k);
    if (v.is_object()) {
      if (auto err = flatten(v.get_object(), key, out); !err.empty()) return err;
    } else if (v.is_string()) {
      out.emplace_back(key, std::string(v.get_string()));
    } else if (v.is_bool()) {
      out.emplace_back(key, v.get_bool() ? "true" : "false");
    } else if (v.is_int64() || v.is_uint64()) {
      out.emplace_back(key, json::serialize(v));
    } else {
      return fmt::format("\"{}\" must be a string, an integer or a boolean", key);
    }
  }
  return {};
}

std::string getenv_from(char** env, const std::string& name, bool& found) {
  found = false;
  if (!env) return {};
  for (char** e = env; *e; ++e) {
    std::string_view kv(*e);
    if (kv.size() > name.size() && kv.substr(0, name.size()) == name && kv[name.size()] == '=') {
      found = true;
      return std::string(kv.substr(name.size() + 1));
    }
  }
  return {};
}

std::string_view source_name(source s) {
  switch (s) {
    case source::defaults:
      return "default";
    case source::file:
      return "file";
    case source::env:
      return "env";
    case source::flag:
      return "flag";
  }
  return "default";
}

}  // namespace

std::string redact_userinfo(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto scheme_end = text.find("://", pos);
    if (scheme_end == std::string_view::npos) break;
    const std::size_t start = scheme_end + 3;
    const std::size_t end = std::min(text.find_first_of(" \t\r\n\"'<>`", start), text.size());
    const std::string_view rest = text.substr(start, end - start);
    out.append(text.substr(pos, start - pos));
    const auto at = rest.rfind('@');
    if (at == std::string_view::npos) {
      pos = start;
      continue;
    }
    const std::string_view info = rest.substr(0, at);
    const auto colon = info.find(':');
    const auto slash = info.find_first_of("/?#");
    if (colon != std::string_view::npos && colon > 0 &&
        (slash == std::string_view::npos || colon < slash)) {
      out.append(info.substr(0, colon));
      out.append(":***@");
    } else {
      out.append("***@");
    }
    pos = start + at + 1;
  }
  out.append(text.substr(std::min(pos, text.size())));
  return out;
}

namespace {

result<loaded_config> load_config_unredacted(const std::string& file_arg, const overrides& flags,
                                             char** env) {
  loaded_config lc;
  for (const auto& s : settings())
    lc.sources[s.key] = source::defaults;

  auto apply = [&](const std::string& key, const std::string& value, source src,
                   const std::string& origin) -> result<> {
    const setting* s = find_setting(key);
    if (!s) return error{errc::bad_field, fmt::format("unknown setting \"{}\" ({})", key, origin)};
    if (auto msg = s->parse(lc.cfg, value); !msg.empty()) {
      return error{errc::bad_field, fmt::format("setting {} ({}): {}", key, origin, msg)};
    }
    lc.sources[key] = src;
    return {};
  };

  // 1. The config file: JSON, comments and trailing commas allowed.
  bool found = false;
  std::string file = file_arg.empty() ? getenv_from(env, "MARATANG_CONFIG", found) : file_arg;
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) return error{errc::bad_field, fmt::format("cannot read config file \"{}\"", file)};
    std::stringstream ss;
    ss << in.rdbuf();
    json::parse_options po;
    po.allow_comments = true;
    po.allow_trailing_commas = true;
    boost::system::error_code ec;
    json::value v = json::parse(ss.str(), ec, {}, po);
    if (ec || !v.is_object()) {
      return error{errc::bad_field, fmt::format("config file \"{}\" is not a JSON object: {}", file,
                                                ec ? ec.message() : "top level is not an object")};
    }
    std::vector<std::pair<std::string, std::string>> kvs;
    if (auto err = flatten(v.get_object(), "", kvs); !err.empty()) {
      return error{errc::bad_field, fmt::format("config file \"{}\": {}", file, err)};
    }
    for (const auto& [k, val] : kvs) {
      if (auto r = apply(k, val, source::file, "config file " + file); !r) return r.error();
    }
  }

  // 2. The environment: MARATANG_<KEY> wins over a seed-compatible alias.
  for (const auto& s : settings()) {
    for (const auto& name : s.env) {
      std::string val = getenv_from(env, name, found);
      if (!found) continue;
      if (auto r = apply(s.key, val, source::env, "environment " + name); !r) return r.error();
      break;
    }
  }

  // 3. Flags.
  for (const auto& [k, v] : flags) {
    if (auto r = apply(k, v, source::flag, "flag"); !r) return r.error();
  }

  // Cross-setting checks.
  config& c = lc.cfg;
  if (c.mafia_min_players > c.mafia_max_players) {
    return error{errc::bad_field, "setting mafia.min_players: must not exceed mafia.max_players"};
  }
  if (c.media_mode != "mesh" && c.janus_url.empty()) {
    return error{errc::bad_field,
                 fmt::format("setting media.mode: {} needs media.janus_url", c.media_mode)};
  }
  if (!c.janus_url.empty() && (c.janus_admin_url.empty() || c.janus_admin_secret.empty())) {
    return error{errc::bad_field,
                 "setting media.janus_url: needs media.janus_admin_url and "
                 "media.janus_admin_secret as well"};
  }
  for (auto [key, url] : {std::pair{"media.janus_url", &c.janus_url},
                          std::pair{"media.janus_admin_url", &c.janus_admin_url}}) {
    if (!url->empty() && url->rfind("http://", 0) != 0) {
      return error{errc::bad_field, fmt::format("setting {}: must start with http://", key)};
    }
  }
  if (c.ice_transport_policy == "relay" && c.turn_urls.empty()) {
    return error{errc::bad_field,
                 "setting media.ice_transport_policy: relay needs media.turn_urls"};
  }
  if (!c.turn_urls.empty() && c.turn_secret.empty()) {
    return error{errc::bad_field, "setting media.turn_urls: needs media.turn_secret as well"};
  }
  if (c.nickname_min > c.nickname_max) {
    return error{errc::bad_field, "setting nickname.min_chars: must not exceed nickname.max_chars"};
  }
  for (const auto& a : trusted_proxy_list(c)) {
    unsigned char buf[16];
    if (inet_pton(AF_INET, a.c_str(), buf) != 1 && inet_pton(AF_INET6, a.c_str(), buf) != 1) {
      return error{errc::bad_field, fmt::format("setting server.trusted_proxies: \"{}\" is not an "
                                                "IP address",
                                                a)};
    }
  }
  if (!c.node_route.empty() && (c.node_route.front() != '/' || c.node_route.back() == '/' ||
                                c.node_route.find_first_of("?#\" \t") != std::string::npos)) {
    return error{errc::bad_field,
                 "setting node.route: a path that starts with / and does not end with / (e.g. "
                 "/node/1)"};
  }
  if (c.cluster_node_ttl_ms < 2 * c.cluster_heartbeat_ms) {
    return error{errc::bad_field,
                 "setting cluster.node_ttl_ms: must be at least twice cluster.heartbeat_ms"};
  }
  if (!c.redis_url.empty()) {
    redis::options ro;
    if (auto ok = redis::parse_url(c.redis_url, ro); !ok) {
      return error{errc::bad_field, "setting redis.url: " + ok.error().message};
    }
  }
  if (!c.database_url.empty()) {
    if (c.database_url.rfind("postgresql://", 0) != 0 &&
        c.database_url.rfind("postgres://", 0) != 0) {
      return error{errc::bad_field,
                   "setting storage.database_url: must start with postgresql:// (or postgres://)"};
    }
    if (c.storage_backend == "memory") {
      return error{errc::bad_field,
                   "setting storage.database_url: set, but storage.backend is memory; unset one"};
    }
    c.storage_backend = "postgres";
  } else if (c.storage_backend == "postgres") {
    return error{errc::bad_field,
                 "setting storage.backend: postgres needs storage.database_url (DATABASE_URL)"};
  }
  if (c.data_dir.empty()) {
    return error{errc::bad_field, "setting server.data_dir: must not be empty"};
  }
  for (auto [key, url] : {std::pair{"llm.base_url", &c.vllm_base_url},
                          std::pair{"llm.lora_base_url", &c.lora_vllm_base_url}}) {
    if (url->empty()) continue;
    if (auto ok = llm::check_base_url(*url); !ok) {
      return error{errc::bad_field, fmt::format("setting {}: {}", key, ok.error().message)};
    }
  }
  if (auto ok = llm::check_ca_file(c.llm_ca_file); !ok) {
    return error{errc::bad_field, fmt::format("setting llm.ca_file: {}", ok.error().message)};
  }
  if (!c.lora_vllm_base_url.empty() && c.vllm_base_url.empty()) {
    return error{errc::bad_field,
                 "setting llm.lora_base_url: needs llm.base_url (VLLM_BASE_URL) as well"};
  }
  if (c.traces_default_area.empty() || c.traces_default_area.size() > 64 ||
      c.traces_default_area.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                              "0123456789_.-") != std::string::npos) {
    return error{errc::bad_field,
                 "setting traces.default_area: must be 1 to 64 of A-Z a-z 0-9 _ . -"};
  }
  if (auto ok = competition::season_schedule::parse(c.season_schedule); !ok) {
    return error{errc::bad_field,
                 fmt::format("setting competition.season_schedule: {}", ok.error().message)};
  }
  if (c.sqlite_path.empty()) c.sqlite_path = c.data_dir + "/maratang.db";
  return lc;
}

}  // namespace

result<loaded_config> load_config(const std::string& file_arg, const overrides& flags, char** env) {
  auto r = load_config_unredacted(file_arg, flags, env);
  // Errors quote the values they refuse: a URL's user info (a password) is masked.
  if (!r) return error{r.error().code, redact_userinfo(r.error().message)};
  return r;
}

std::string describe(const loaded_config& lc) {
  json::object out;
  for (const auto& s : settings()) {
    json::value v = s.show(lc.cfg);
    if (s.secret && !(v.is_string() && v.get_string().empty())) v = "<redacted>";
    if (v.is_string()) v = json::string(redact_userinfo(v.get_string()));
    out[s.key] = json::object{{"value", v}, {"source", source_name(lc.sources.at(s.key))}};
  }
  return json::serialize(out);
}

std::vector<std::string> trusted_proxy_list(const config& c) {
  std::vector<std::string> out;
  for (std::string_view rest = c.trusted_proxies; !rest.empty();) {
    const auto comma = rest.find(',');
    std::string a(rest.substr(0, comma));
    std::erase(a, ' ');
    if (!a.empty()) out.push_back(std::move(a));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  return out;
}

std::string settings_markdown() {
  std::string md = "| setting | environment | default | meaning |\n| --- | --- | --- | --- |\n";
  config defaults;
  for (const auto& s : settings()) {
    md += fmt::format("| `{}` | `{}` | `{}` | {} |\n", s.key, fmt::join(s.env, "`, `"),
                      json::serialize(s.show(defaults)), s.doc);
  }
  return md;
}

}  // namespace maratang::app
