// Server configuration: one table of settings, filled from defaults < config file < environment
// < command-line flags. Loaded once at start-up on the main thread; read-only afterwards.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/error.hpp"

namespace maratang::app {

struct config {
  // server
  std::string host = "0.0.0.0";
  int port = 8080;
  int threads = 0;  // 0: one per core
  std::string data_dir = "./data";
  // Proxies (nginx) whose X-Forwarded-For is believed: comma-separated addresses; empty: none.
  std::string trusted_proxies;
  std::string port_file;  // when set, the bound port is written here (for tests and scripts)
  std::string log_level = "info";
  std::string log_format = "text";
  int shutdown_grace_ms = 5000;
  // storage
  std::string storage_backend = "sqlite";
  std::string sqlite_path;  // default: <data_dir>/maratang.db
  bool storage_full_sync = true;
  int storage_batch_max = 256;
  int storage_log_delay_ms = 100;
  int storage_log_writers = 2;  // PostgreSQL connections writing the action log side by side
  int storage_max_size_mb = 0;  // the SQLite file's size at most (0: no limit)
  std::string database_url;
  int storage_connect_timeout_s = 3;
  int storage_statement_timeout_ms = 10000;
  // auth
  std::string auth_secret;  // base64url 32-byte key; default: kept in <data_dir>/secret.key
  int token_ttl_s = 3600;
  int refresh_ttl_s = 30 * 24 * 3600;
  std::string password_hash = "interactive";  // or "minimal" (tests only)
  int auth_hash_threads = 1;
  int auth_hash_queue_max = 8;
  int auth_login_free_failures = 5;
  int auth_address_free_failures = 20;
  int auth_backoff_ms = 1000;
  int auth_backoff_max_ms = 300000;
  int auth_failure_window_s = 900;
  int auth_signups_per_hour = 60;
  int auth_signup_burst = 10;
  std::string auth_password_lists = "/usr/share/john/password.lst,/usr/share/dict/cracklib-small";
  // transport limits
  int http_body_max = 1 << 20;
  int ws_message_max = 64 << 10;
  int json_depth_max = 32;
  int ws_rate = 30;         // messages per second, sustained
  int ws_burst = 60;        // messages allowed at once
  int ws_input_rate = 90;   // realtime inputs (arena.input, arena.ack) per second, sustained
  int ws_input_burst = 45;  // realtime inputs allowed at once
  int send_queue_max = 1024;
  int send_queue_max_bytes = 4 << 20;
  int slow_consumer_ms = 10000;  // a queue past send_queue_max* not draining this long: dropped
  int handshake_timeout_ms = 10000;
  int ws_idle_timeout_ms = 60000;
  int http_idle_timeout_ms = 30000;
  int max_connections = 100000;
  // rooms
  int reconnect_grace_ms = 30000;
  // This node's name: the owner of its rooms' snapshots, and whose snapshots it restores at
  // start-up (lobby/room_snapshot.hpp).
  std::string node_id = "node-1";
  int snapshot_interval_ms = 1000;  // a room's snapshots at most this often
  // Several nodes (app/cluster.hpp): the path prefix reaching this node only through nginx
  // ("/node/1"), the heartbeat and when a silent node counts as dead, and how long a seat
  // reserved here for a player joining through another node waits for them.
  std::string node_route;
  int cluster_heartbeat_ms = 500;
  int cluster_node_ttl_ms = 2000;
  int reservation_ms = 15000;
  int invites_per_minute = 10;  // room.invite per member and minute
  bool cluster_drain = true;
  int cluster_drain_timeout_ms = 10000;
  // competition (README "Competition")
  std::string season_schedule = "0 0 1 * *";  // cron, UTC: a new season each month
  int rating_period_s = 86400;                // an idle player's uncertainty grows per period
  // parties and the matchmaker (README "Parties and the matchmaker")
  int party_max_size = 8;
  int party_invite_ttl_ms = 300000;
  int match_interval_ms = 1000;
  int match_join_timeout_ms = 20000;
  int match_ticket_ttl_ms = 300000;
  int match_accept_min_after_ms = 10000;
  int match_window_start_pct = 50;  // rating window at first, in hundredths of a sigma
  int match_widen_pct_per_s = 10;   // added per second waited
  int match_window_max_pct = 600;   // the widest
  int max_rooms = 100000;
  bool allow_seeds = false;
  // Mafia's voice and video (src/media, docs/DEPLOY.md "Voice and video").
  std::string media_mode = "mesh";  // mesh | sfu | auto
  int media_sfu_min_players = 7;
  std::string janus_url;  // "" = no SFU
  std::string janus_public_url;
  std::string janus_admin_url;
  std::string janus_admin_secret;
  std::string janus_admin_key;
  int janus_check_ms = 5000;  // Janus's health check; 0: never
  std::string stun_urls;      // comma-separated
  std::string turn_urls;      // comma-separated
  std::string turn_secret;
  int turn_ttl_s = 3600;
  std::string ice_transport_policy = "all";  // all | relay
  int mafia_min_players = 4;
  int mafia_max_players = 12;
  // nicknames
  int nickname_min = 2;
  int nickname_max = 16;
  // LLM (used by the mystery mode)
  std::string vllm_base_url;
  std::string lora_vllm_base_url;
  std::string llm_api_key;
  std::string llm_model = "kanana-8b";
  std::string llm_ca_file;  // https: CA file to trust ("" = the system's)
  int llm_first_token_timeout_ms = 8000;
  int llm_first_token_wait_ms = 4000;  // a player's whole wait for an LLM line's first words
  int llm_total_timeout_ms = 30000;
  int llm_max_concurrency = 8;
  int llm_retries = 2;
  int llm_breaker_failures = 5;
  int llm_breaker_open_ms = 15000;

  std::string mystery_scenarios_dir = "scenarios";
  int mystery_turn_ms = 90000;
  // traces (seed 003's GameDB; see src/traces/trace_service.hpp)
  std::string traces_default_area = "default";
  int traces_cache_max_age_ms = 30000;
  int traces_anon_writes_per_minute = 300;
  int traces_anon_write_burst = 20;
  int traces_account_writes_per_minute = 120;
  int traces_account_write_burst = 10;
  int traces_phantom_points_max = 2000;
  int traces_message_part_max = 256;
  int traces_hide_after_reports = 3;
  int traces_report_min_account_age_s = 86400;
  int traces_max_age_s = 30 * 24 * 3600;
  int traces_max_per_kind = 10000;
  int traces_trim_interval_ms = 60000;
  // event stream (docs/EVENTS.md)
  std::string kafka_brokers;  // empty: no Kafka, events go to the embedded store
  std::string redis_url;      // empty: one node alone; set: nodes share state through Redis
  int events_queue_max_messages = 100000;
  int events_queue_max_kbytes = 65536;
  int events_message_timeout_ms = 300000;
  int events_linger_ms = 5;
  // maratang sink
  std::string sink_dir = "./sink";
  std::string sink_group_id = "maratang-sink";
  int sink_batch_max = 5000;
  int sink_batch_ms = 1000;
  // API docs
  std::string docs_assets_dir = "web/node_modules/swagger-ui-dist";
  // the player's web client
  std::string web_public_dir = "web/public";
  // testing
  bool test_modes = false;
};

// Where a setting's value came from.
enum class source { defaults, file, env, flag };

struct loaded_config {
  config cfg;
  std::map<std::string, source> sources;  // key -> where its value came from
};

// Flag overrides in order, as "key=value" (from --set) or from dedicated flags.
using overrides = std::vector<std::pair<std::string, std::string>>;

// Loads the configuration. `file` is the config file path (empty: $MARATANG_CONFIG, or none).
// `env` is the environment (usually environ). Errors name the setting, its source and the problem.
result<loaded_config> load_config(const std::string& file, const overrides& flags, char** env);

// server.trusted_proxies as a list (split at commas, spaces dropped, empty entries skipped).
std::vector<std::string> trusted_proxy_list(const config& c);

// The effective configuration as JSON text, secrets redacted, each value with its source.
std::string describe(const loaded_config& lc);

// `text` with the user info of every URL in it masked, for printing setting values (start-up
// errors, `maratang config`, logs): "https://user:pw@host/x" becomes "https://user:***@host/x",
// "https://token@host" becomes "https://***@host". Errs towards masking: everything from "://"
// to the last "@" before the next space or quote counts as user info.
std::string redact_userinfo(std::string_view text);

// The documentation of every setting (key, environment variable, default, meaning), as Markdown.
std::string settings_markdown();

}  // namespace maratang::app
