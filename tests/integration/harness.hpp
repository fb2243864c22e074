// Integration test harness: runs the real `maratang` binary as a child process on port 0 and talks
// to it over real sockets (a small synchronous HTTP client and a WebSocket client). Every wait is
// bounded; nothing here sleeps for luck. Single-threaded per object: a server_process or ws_client
// is used by one thread at a time (different clients may live on different threads).
#pragma once

#include <sys/types.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace maratang::it {

namespace json = boost::json;
using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;

// The default wait for anything the server should do promptly.
inline constexpr ms kWait = 5s;

// A new directory under the system temp dir, named `prefix` and six random characters (mkdtemp):
// for the servers the tests start with the project's scripts (a name made of the process id could
// be one a killed test left behind, which the scripts refuse to reuse).
std::filesystem::path fresh_temp_dir(const std::string& prefix);

// A fresh directory under the system temp dir, removed (recursively) on destruction.
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
};

// How a child process ended.
struct exit_info {
  bool exited = false;  // normal exit (then `code` is valid)
  int code = -1;
  int signal = 0;       // the signal that killed it, when !exited
  bool killed = false;  // we had to SIGKILL it after the timeout
  ms took{0};           // from SIGTERM to reaped
};

// One `maratang serve` child. The constructor spawns it and waits for its port file (throwing,
// with the server's log, if it exits first). The destructor stops it (SIGTERM, then SIGKILL), fails
// the test if the server did not exit 0 or its log holds a sanitizer report, and prints the log
// when the test failed.
class server_process {
 public:
  // `sets` are extra `--set key=value` overrides, applied after the defaults (so they win).
  // `data_dir` empty: a private temp dir, removed afterwards; else that directory (kept).
  // `env` are extra environment entries ("MARATANG_AUTH_BACKOFF_MS=500"), ahead of the test's
  // own environment. By default the server runs with auth.signups_per_hour=0 (tests make many
  // accounts from 127.0.0.1); an `env` entry or a set overrides it.
  // `nofile` > 0: the child's RLIMIT_NOFILE, soft and hard, set before it starts.
  explicit server_process(std::vector<std::string> sets = {}, std::filesystem::path data_dir = {},
                          std::vector<std::string> env = {}, long nofile = 0);
  ~server_process();
  server_process(const server_process&) = delete;
  server_process& operator=(const server_process&) = delete;

  int port() const noexcept { return port_; }
  pid_t pid() const noexcept { return pid_; }
  const std::filesystem::path& data_dir() const noexcept { return data_dir_; }
  bool running();
  // Sends SIGTERM and waits up to `timeout` for the exit; then SIGKILL. Idempotent: a second call
  // returns the first result.
  exit_info stop(ms timeout = 10s);
  // Everything the server wrote to stdout and stderr so far.
  std::string log_text() const;
  // The server's resident memory (VmRSS), bytes, and the CPU time it used (user + system),
  // seconds, from /proc; -1 when it cannot be read.
  std::int64_t rss_bytes() const;
  double cpu_seconds() const;

 private:
  std::unique_ptr<temp_dir> run_dir_;   // port file, log
  std::unique_ptr<temp_dir> own_data_;  // when no data dir was given
  std::filesystem::path data_dir_;
  std::filesystem::path log_path_;
  pid_t pid_ = -1;
  int port_ = 0;
  std::optional<exit_info> exit_;
};

// --- HTTP ----------------------------------------------------------------------------------------

using header_list = std::vector<std::pair<std::string, std::string>>;

struct http_result {
  int status = 0;     // 0: no response (connection refused, reset, timed out)
  std::string error;  // transport error when status == 0
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;

  // The body parsed as JSON (null when it is not JSON).
  json::value json() const;
  // body.error.code, or "" when there is none.
  std::string error_code() const;
  std::string header(std::string_view name) const;
};

// One HTTP/1.1 request on a fresh connection to 127.0.0.1:port. A non-empty body is sent as
// application/json unless `headers` sets Content-Type. Never throws for transport errors.
http_result http_call(int port, std::string_view method, std::string_view target,
                      std::string body = {}, const header_list& headers = {}, ms timeout = kWait);
header_list bearer(const std::string& token);
// http_call from a chosen local address (e.g. "127.0.0.2": any 127.x address reaches the server
// on loopback), so that tests can be two clients for the per-address limits.
http_result http_call_from(std::string_view source, int port, std::string_view method,
                           std::string_view target, std::string body = {},
                           const header_list& headers = {}, ms timeout = kWait);

// The value of the unlabelled metric `name` in the server's GET /metrics, or -1 when it has none.
double metric_value(int port, std::string_view name);

// Percent-encodes one path segment or query value (UTF-8 bytes).
std::string url_encode(std::string_view s);

// A logged-in account as the tests use it.
struct player {
  std::int64_t id = 0;
  std::string token;
  std::string refresh_token;
  std::string nickname;
};

// POST /v1/auth/device; throws unless 200/201.
player login_device(int port, const std::string& device_id);
// PUT /v1/account/nickname; throws unless 200.
void set_nickname(int port, player& p, const std::string& nickname);
// A new device account with a nickname (unique per call within a process run).
player make_player(int port, const std::string& nickname);
// `sets` with a node's own node.id: nodes sharing a database must not share one.
inline std::vector<std::string> with_node(std::vector<std::string> sets, const std::string& id) {
  sets.push_back("node.id=" + id);
  return sets;
}
// An email account (ops@example.com, password kAdminPassword) registered on `srv` and made an
// admin by the operator's command line (`maratang admin grant`, against srv's data folder and
// `sets`, e.g. the PostgreSQL URL); throws when either step fails.
inline constexpr std::string_view kAdminPassword = "operator-pass-77";
player make_admin(const server_process& srv, const std::vector<std::string>& sets = {});

// --- WebSocket -----------------------------------------------------------------------------------

enum class token_via { query, header };

// Sends a WebSocket upgrade request to /ws as plain HTTP and returns the answer (101 when
// accepted): lets tests read the status and error body of a refused upgrade.
http_result ws_upgrade_probe(int port, const std::string& token, token_via via = token_via::query);

struct connect_options {
  token_via via = token_via::query;
  int receive_buffer = 0;    // SO_RCVBUF before connecting (0: system default)
  std::string path = "/ws";  // e.g. "/node/1/ws" through nginx
};

// A WebSocket client. Frames the server sends are JSON objects (a binary message is kept as
// {"type": "(binary)", "bytes": its bytes}); each one received is appended to
// history() and, until a recv* call consumes it, kept in pending() (recv_until leaves the frames it
// skips there, so later waits and assertions can see them).
class ws_client {
 public:
  // Connects and completes the handshake; throws std::runtime_error on failure.
  ws_client(int port, const std::string& token, connect_options opts = {});
  ~ws_client();
  ws_client(const ws_client&) = delete;
  ws_client& operator=(const ws_client&) = delete;

  // Writes return false when the connection is closed or the write fails.
  bool send_json(const json::value& v);
  bool send_raw_text(std::string_view text);
  bool send_raw_binary(std::string_view bytes);
  // Sends {"type", "id": <fresh>, "data"} and returns the id used.
  std::int64_t send_request(std::string_view type, const json::object& data = {});

  // The oldest pending frame, else the next one to arrive within `timeout`.
  std::optional<json::object> recv(ms timeout = kWait);
  // The first pending or arriving frame that matches; non-matching frames stay pending.
  std::optional<json::object> recv_until(const std::function<bool(const json::object&)>& match,
                                         ms timeout = kWait);
  std::optional<json::object> recv_until(std::string_view type, ms timeout = kWait);
  // Like recv_until(type) but throws when nothing matching arrives in time.
  json::object expect(std::string_view type, ms timeout = kWait);
  // Sends a request and returns the reply (or error) frame carrying its id; throws on timeout.
  json::object request(std::string_view type, const json::object& data = {}, ms timeout = kWait);
  // request() that also checks ok == true and returns its data; throws otherwise.
  json::object call(std::string_view type, const json::object& data = {}, ms timeout = kWait);
  // hello with version 1 (and "batch": true when `batch`); returns the reply data. Throws
  // unless ok. A batching client splits each message on newlines into envelopes; any other
  // client must never receive a message holding more than one envelope (a test failure).
  json::object hello(bool batch = false);
  // WebSocket messages received, and the envelopes they carried (equal unless batching).
  std::size_t messages_received() const noexcept { return messages_; }
  // A time.sync round trip; true when answered ok (proves the connection still works).
  bool ping_ok(ms timeout = kWait);

  // Reads (keeping frames pending) until the server closes the connection or `timeout` passes.
  bool wait_closed(ms timeout = kWait);
  bool closed() const noexcept { return closed_; }
  // The close frame's code (e.g. 1000, 1007, 1008) when the server sent one, else 0.
  int close_code() const noexcept { return close_code_; }
  const std::string& close_reason() const noexcept { return close_reason_; }
  const std::string& read_error() const noexcept { return read_error_; }

  // A clean close handshake (code 1000), bounded; then the socket is closed.
  void close();
  // Closes the TCP socket without a close handshake (a dropped connection).
  void drop();

  const std::vector<json::object>& history() const noexcept { return history_; }
  std::deque<json::object>& pending() noexcept { return pending_; }
  // Frames of `type` among everything received so far.
  std::size_t count_received(std::string_view type) const;

 private:
  struct impl;
  bool write(std::string_view bytes, bool text);
  bool read_one(std::chrono::steady_clock::time_point deadline);

  std::unique_ptr<impl> impl_;
  std::deque<json::object> pending_;
  std::vector<json::object> history_;
  std::int64_t next_id_ = 1;
  bool batch_ = false;
  std::size_t messages_ = 0;
  bool closed_ = false;
  int close_code_ = 0;
  std::string close_reason_;
  std::string read_error_;
};

// --- Lobby helpers -------------------------------------------------------------------------------

// A player with a connected WebSocket that has said hello.
struct seat {
  player acc;
  std::unique_ptr<ws_client> ws;
  json::object hello;  // the hello reply's data
};
// Makes one device account per nickname, connects each and says hello.
std::vector<seat> seat_players(int port, const std::vector<std::string>& nicknames);

// The room snapshot in a room.create / room.join reply's data: data.room as docs/PROTOCOL.md
// documents (`{room}`), or the data itself when the server sends the bare snapshot (the shape is
// checked once, by lobby_flow_test.room_replies_are_shaped_as_documented, not by every test).
json::object snapshot_of_reply(const json::object& data);

// The ids of a snapshot's members, in order.
std::vector<std::int64_t> member_ids(const json::object& snapshot);
// The snapshot's member entry for `id`; throws when absent.
json::object member_of(const json::object& snapshot, std::int64_t id);

// The room snapshot stored by node-1 (one node's default id) in the server's SQLite file `db_file`
// (read while the server runs), once `ready` holds for its document; throws after kWait.
json::object wait_snapshot(const std::filesystem::path& db_file,
                           const std::function<bool(const json::object&)>& ready);

// --- Threads -------------------------------------------------------------------------------------

// A thread running `fn`; an exception escaping it becomes a test failure instead of terminating
// the test binary.
std::thread spawn(std::function<void()> fn);

// --- JSON helpers --------------------------------------------------------------------------------

// The value at a dotted path ("data.room.id"); throws std::runtime_error naming the path when a
// step is missing.
const json::value& at(const json::value& v, std::string_view path);
const json::value& at(const json::object& o, std::string_view path);
// True when the path exists (and is not null).
bool has(const json::object& o, std::string_view path);
// error.code of a reply frame, or "" when the frame is ok.
std::string error_code(const json::object& frame);
std::string str(const json::value& v);
std::int64_t num(const json::value& v);

// Milliseconds since the Unix epoch, now.
std::int64_t now_ms();

}  // namespace maratang::it
