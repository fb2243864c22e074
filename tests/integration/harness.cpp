#include "harness.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "store/sqlite/sqlite_backend.hpp"

#ifndef MARATANG_BINARY
#error "MARATANG_BINARY must name the server binary"
#endif

namespace maratang::it {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;

namespace {

std::string unique_suffix() {
  static std::atomic<std::uint64_t> counter{0};
  static const std::uint64_t salt = std::random_device{}();
  std::ostringstream s;
  s << ::getpid() << "-" << std::hex << salt << "-" << counter.fetch_add(1);
  return s.str();
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs `ioc` until `done()` or the deadline; returns done().
bool run_until(asio::io_context& ioc, const std::function<bool()>& done, steady::time_point until) {
  while (!done()) {
    if (ioc.stopped()) ioc.restart();
    if (steady::now() >= until) return done();
    if (ioc.run_one_until(until) == 0 && !done()) {
      if (steady::now() >= until) return false;
      // No work left at all: nothing will ever complete.
      if (ioc.stopped()) return false;
    }
  }
  return true;
}

}  // namespace

// --- temp_dir ------------------------------------------------------------------------------------

temp_dir::temp_dir() {
  path_ = std::filesystem::temp_directory_path() / ("maratang-it-" + unique_suffix());
  std::filesystem::create_directories(path_);
}

temp_dir::~temp_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

// --- server_process ------------------------------------------------------------------------------

server_process::server_process(std::vector<std::string> sets, std::filesystem::path data_dir,
                               std::vector<std::string> env, long nofile)
    : run_dir_(std::make_unique<temp_dir>()) {
  if (data_dir.empty()) {
    own_data_ = std::make_unique<temp_dir>();
    data_dir_ = own_data_->path() / "data";
  } else {
    data_dir_ = std::move(data_dir);
  }
  log_path_ = run_dir_->path() / "server.log";
  const auto port_file = run_dir_->path() / "port";

  std::vector<std::string> args = {MARATANG_BINARY, "serve",
                                   "--port",        "0",
                                   "--host",        "127.0.0.1",
                                   "--port-file",   port_file.string(),
                                   "--data-dir",    data_dir_.string(),
                                   "--set",         "auth.password_hash=minimal",
                                   "--set",         "testing.test_modes=true",
                                   "--set",         "rooms.allow_seeds=true",
                                   "--set",         "log.level=warn"};
  args.push_back("--set");
  args.push_back("mystery.scenarios_dir=" + std::string(MARATANG_SOURCE_DIR) + "/scenarios");
  for (const auto& s : sets) {
    args.push_back("--set");
    args.push_back(s);
  }
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  // The first entry of a name wins (the server reads the first match).
  env.push_back("MARATANG_AUTH_SIGNUPS_PER_HOUR=0");
  std::vector<char*> envp;
  for (auto& e : env)
    envp.push_back(e.data());
  for (char** e = environ; e && *e; ++e)
    envp.push_back(*e);
  envp.push_back(nullptr);

  // Prepared before fork: the child only calls async-signal-safe functions.
  int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) throw std::runtime_error("cannot create " + log_path_.string());
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    // The test process holds sockets of other clients; the server must not inherit them, or a
    // test's "dropped" connection would stay open in the child.
    if (::syscall(SYS_close_range, 3U, ~0U, 0U) != 0) {
      for (int fd = 3; fd < 65536; ++fd)
        ::close(fd);
    }
    if (nofile > 0) {
      rlimit rl{static_cast<rlim_t>(nofile), static_cast<rlim_t>(nofile)};
      if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) ::_exit(126);
    }
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(log_fd);
  ::close(null_fd);

  // Wait for the port file (written atomically by rename once the server listens).
  auto deadline = steady::now() + 15s;
  while (true) {
    if (std::filesystem::exists(port_file)) {
      std::string text = read_file(port_file);
      port_ = std::atoi(text.c_str());
      if (port_ > 0) break;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_info e;
      e.exited = WIFEXITED(status);
      e.code = e.exited ? WEXITSTATUS(status) : -1;
      e.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
      exit_ = e;
      throw std::runtime_error("the server exited before listening (status " +
                               std::to_string(e.code) + "):\n" + log_text());
    }
    if (steady::now() > deadline) {
      stop(2s);
      throw std::runtime_error("the server did not write its port file within 15 s:\n" +
                               log_text());
    }
    std::this_thread::sleep_for(5ms);  // polling interval, not a wait for luck
  }
}

server_process::~server_process() {
  const bool stopped_by_test = exit_.has_value();
  auto e = stop(10s);
  std::string text = log_text();
  // A sanitizer report in the server fails the test that ran it, whatever the test saw.
  for (const char* marker : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                             "runtime error:", "WARNING: ThreadSanitizer"}) {
    if (text.find(marker) != std::string::npos) {
      ADD_FAILURE() << "the server's log has a sanitizer report (" << marker << ")";
      break;
    }
  }
  // Every server this harness stops must exit cleanly on SIGTERM.
  if (!stopped_by_test && (e.killed || !e.exited || e.code != 0)) {
    ADD_FAILURE() << "the server did not exit cleanly on SIGTERM: "
                  << (e.killed   ? "had to SIGKILL it"
                      : e.exited ? "exit code " + std::to_string(e.code)
                                 : "signal " + std::to_string(e.signal));
  }
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  bool failed = info && info->result() && info->result()->Failed();
  if (failed || e.killed) {
    if (text.size() > 20000) text = "...\n" + text.substr(text.size() - 20000);
    std::cerr << "---- server log (pid " << pid_ << ", port " << port_ << ")"
              << (e.killed ? " [had to SIGKILL it]" : "") << " ----\n"
              << text << "---- end of server log ----\n";
  }
}

bool server_process::running() {
  if (exit_ || pid_ <= 0) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_info e;
    e.exited = WIFEXITED(status);
    e.code = e.exited ? WEXITSTATUS(status) : -1;
    e.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    exit_ = e;
    return false;
  }
  return true;
}

exit_info server_process::stop(ms timeout) {
  if (exit_) return *exit_;
  if (pid_ <= 0) return {};
  auto start = steady::now();
  ::kill(pid_, SIGTERM);
  exit_info e;
  int status = 0;
  while (true) {
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) break;
    if (steady::now() - start > timeout) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      e.killed = true;
      break;
    }
    std::this_thread::sleep_for(2ms);  // polling interval
  }
  e.took = std::chrono::duration_cast<ms>(steady::now() - start);
  e.exited = WIFEXITED(status);
  e.code = e.exited ? WEXITSTATUS(status) : -1;
  e.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  exit_ = e;
  return e;
}

std::string server_process::log_text() const {
  return read_file(log_path_);
}

std::int64_t server_process::rss_bytes() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atoll(line.c_str() + 6) * 1024;  // kB
  }
  return -1;
}

double server_process::cpu_seconds() const {
  std::string text = read_file("/proc/" + std::to_string(pid_) + "/stat");
  // Fields 14 and 15 (utime, stime, in clock ticks) follow the command name's closing ')'.
  auto close = text.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::atoll(field.c_str());
    if (i == 15) stime = std::atoll(field.c_str());
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// --- HTTP ----------------------------------------------------------------------------------------

json::value http_result::json() const {
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  return ec ? json::value(nullptr) : v;
}

std::string http_result::error_code() const {
  auto v = json();
  if (!v.is_object()) return {};
  auto* e = v.get_object().if_contains("error");
  if (!e || !e->is_object()) return {};
  auto* c = e->get_object().if_contains("code");
  return c && c->is_string() ? std::string(c->get_string()) : std::string();
}

std::string http_result::header(std::string_view name) const {
  std::string key(name);
  for (auto& ch : key)
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  auto it = headers.find(key);
  return it == headers.end() ? std::string() : it->second;
}

http_result http_call(int port, std::string_view method, std::string_view target, std::string body,
                      const header_list& headers, ms timeout) {
  return http_call_from({}, port, method, target, std::move(body), headers, timeout);
}

http_result http_call_from(std::string_view source, int port, std::string_view method,
                           std::string_view target, std::string body, const header_list& headers,
                           ms timeout) {
  http_result out;
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  if (!source.empty()) {
    boost::system::error_code bec;
    stream.socket().open(tcp::v4(), bec);
    if (!bec) stream.socket().bind(tcp::endpoint(asio::ip::make_address(source), 0), bec);
    if (bec) {
      out.error = "bind " + std::string(source) + ": " + bec.message();
      return out;
    }
  }
  http::request<http::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  req.set(http::field::user_agent, "maratang-integration-tests");
  bool has_type = false;
  for (const auto& [k, v] : headers) {
    req.set(k, v);
    if (beast::iequals(k, "content-type")) has_type = true;
  }
  if (!body.empty() && !has_type) req.set(http::field::content_type, "application/json");
  req.body() = std::move(body);
  req.keep_alive(false);
  req.prepare_payload();

  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  parser.skip(method == "HEAD");
  bool done = false;
  beast::error_code result;
  stream.expires_after(timeout);
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port));
  stream.async_connect(ep, [&](beast::error_code ec) {
    if (ec) {
      result = ec;
      done = true;
      return;
    }
    http::async_write(stream, req, [&](beast::error_code wec, std::size_t) {
      // A server that answers early (e.g. 413) may reset the write; still try to read.
      (void)wec;
      http::async_read(stream, buf, parser, [&](beast::error_code rec, std::size_t) {
        result = rec;
        done = true;
      });
    });
  });
  ioc.run();
  if (!done || (result && !parser.is_header_done())) {
    out.error = done ? result.message() : "no completion";
    return out;
  }
  auto& res = parser.get();
  out.status = static_cast<int>(res.result_int());
  for (const auto& f : res) {
    std::string name(f.name_string());
    for (auto& ch : name)
      ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    out.headers[name] = std::string(f.value());
  }
  out.body = res.body();
  if (result && result != http::error::end_of_stream) out.error = result.message();
  return out;
}

header_list bearer(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

double metric_value(int port, std::string_view name) {
  const auto body = http_call(port, "GET", "/metrics").body;
  const auto line = "\n" + std::string(name) + " ";
  const auto at = body.find(line);
  return at == std::string::npos ? -1 : std::stod(body.substr(at + line.size()));
}

std::string url_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

player login_device(int port, const std::string& device_id) {
  auto r = http_call(port, "POST", "/v1/auth/device",
                     json::serialize(json::object{{"device_id", device_id}}));
  if (r.status != 200 && r.status != 201) {
    throw std::runtime_error("device login failed: " + std::to_string(r.status) + " " + r.body +
                             r.error);
  }
  auto v = r.json();
  player p;
  p.id = num(at(v, "account_id"));
  p.token = str(at(v, "token"));
  p.refresh_token = str(at(v, "refresh_token"));
  return p;
}

void set_nickname(int port, player& p, const std::string& nickname) {
  auto r = http_call(port, "PUT", "/v1/account/nickname",
                     json::serialize(json::object{{"nickname", nickname}}), bearer(p.token));
  if (r.status != 200) {
    throw std::runtime_error("setting nickname \"" + nickname +
                             "\" failed: " + std::to_string(r.status) + " " + r.body + r.error);
  }
  p.nickname = str(at(r.json(), "nickname"));
}

player make_player(int port, const std::string& nickname) {
  player p = login_device(port, "device-" + unique_suffix());
  set_nickname(port, p, nickname);
  return p;
}

player make_admin(const server_process& srv, const std::vector<std::string>& sets) {
  auto r = http_call(
      srv.port(), "POST", "/v1/auth/register",
      json::serialize(json::object{{"email", "ops@example.com"}, {"password", kAdminPassword}}));
  if (r.status != 201) throw std::runtime_error("admin registration failed: " + r.body);
  player p;
  p.id = num(at(r.json(), "account_id"));
  p.token = str(at(r.json(), "token"));
  p.refresh_token = str(at(r.json(), "refresh_token"));
  std::string cmd = std::string(MARATANG_BINARY) + " admin grant ops@example.com --data-dir " +
                    srv.data_dir().string();
  for (const auto& s : sets)
    cmd += " --set " + s;
  cmd += " > /dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("admin grant failed: " + cmd);
  return p;
}

http_result ws_upgrade_probe(int port, const std::string& token, token_via via) {
  header_list h = {{"Connection", "Upgrade"},
                   {"Upgrade", "websocket"},
                   {"Sec-WebSocket-Version", "13"},
                   {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}};
  std::string target = "/ws";
  if (via == token_via::header) {
    h.emplace_back("Authorization", "Bearer " + token);
  } else {
    target += "?token=" + url_encode(token);
  }
  // An accepted upgrade never sends a body or closes: bound the wait short, we only need headers.
  return http_call(port, "GET", target, {}, h, 2s);
}

// --- ws_client -----------------------------------------------------------------------------------

struct ws_client::impl {
  asio::io_context ioc;
  websocket::stream<beast::tcp_stream> ws{ioc};
  beast::flat_buffer rbuf;
  bool reading = false;
  bool read_done = false;
  beast::error_code read_ec;
};

ws_client::ws_client(int port, const std::string& token, connect_options opts)
    : impl_(std::make_unique<impl>()) {
  auto& s = *impl_;
  auto& sock = beast::get_lowest_layer(s.ws).socket();
  sock.open(tcp::v4());
  if (opts.receive_buffer > 0)
    sock.set_option(asio::socket_base::receive_buffer_size(opts.receive_buffer));
  std::string target = opts.path;
  if (opts.via == token_via::query) {
    target += "?token=" + url_encode(token);
  } else {
    s.ws.set_option(websocket::stream_base::decorator([token](websocket::request_type& req) {
      req.set(http::field::authorization, "Bearer " + token);
    }));
  }
  websocket::response_type res;
  bool done = false;
  beast::error_code result;
  beast::get_lowest_layer(s.ws).expires_after(kWait);
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port));
  beast::get_lowest_layer(s.ws).async_connect(ep, [&](beast::error_code ec) {
    if (ec) {
      result = ec;
      done = true;
      return;
    }
    s.ws.async_handshake(res, "127.0.0.1:" + std::to_string(port), target,
                         [&](beast::error_code hec) {
                           result = hec;
                           done = true;
                         });
  });
  run_until(
      s.ioc, [&] { return done; }, steady::now() + kWait + 1s);
  if (!done || result) {
    throw std::runtime_error(
        "WebSocket connect failed: " + (done ? result.message() : std::string("timed out")) +
        " (HTTP " + std::to_string(res.result_int()) + " " + res.body() + ")");
  }
  beast::get_lowest_layer(s.ws).expires_never();
  s.ws.read_message_max(64 << 20);
}

ws_client::~ws_client() {
  drop();
}

bool ws_client::write(std::string_view bytes, bool text) {
  if (closed_) return false;
  auto& s = *impl_;
  auto data = std::make_shared<std::string>(bytes);
  bool done = false;
  beast::error_code result;
  s.ws.text(text);
  s.ws.async_write(asio::buffer(*data), [&done, &result, data](beast::error_code ec, std::size_t) {
    result = ec;
    done = true;
  });
  if (!run_until(
          s.ioc, [&] { return done; }, steady::now() + kWait)) {
    // A write that cannot finish in 5 s leaves the stream unusable: treat it as closed.
    drop();
    run_until(
        s.ioc, [&] { return done; }, steady::now() + 1s);
    if (!done) throw std::runtime_error("WebSocket write did not complete");
    return false;
  }
  return !result;
}

bool ws_client::send_json(const json::value& v) {
  return write(json::serialize(v), true);
}

bool ws_client::send_raw_text(std::string_view text) {
  return write(text, true);
}

bool ws_client::send_raw_binary(std::string_view bytes) {
  return write(bytes, false);
}

std::int64_t ws_client::send_request(std::string_view type, const json::object& data) {
  std::int64_t id = next_id_++;
  send_json(json::object{{"type", type}, {"id", id}, {"data", data}});
  return id;
}

bool ws_client::read_one(steady::time_point deadline) {
  if (closed_) return false;
  auto& s = *impl_;
  // A read that completed while we were busy elsewhere (say, running a write after a receive
  // timed out) still holds its message: take it before starting another read into the buffer.
  if (!s.reading && !s.read_done) {
    s.reading = true;
    s.read_done = false;
    s.ws.async_read(s.rbuf, [this](beast::error_code ec, std::size_t) {
      auto& st = *impl_;
      st.reading = false;
      st.read_done = true;
      st.read_ec = ec;
    });
  }
  if (!run_until(
          s.ioc, [&] { return s.read_done; }, deadline))
    return false;
  s.read_done = false;
  if (s.read_ec) {
    closed_ = true;
    read_error_ = s.read_ec.message();
    if (s.read_ec == websocket::error::closed) {
      close_code_ = s.ws.reason().code;
      close_reason_ = std::string(s.ws.reason().reason.c_str());
    }
    return false;
  }
  std::string text = beast::buffers_to_string(s.rbuf.data());
  s.rbuf.consume(s.rbuf.size());
  ++messages_;
  if (s.ws.got_binary()) {
    // A binary message (a mode's own encoding) is kept whole, as {"type": "(binary)", "bytes"}.
    json::object b{{"type", "(binary)"}, {"bytes", json::string(text)}};
    history_.push_back(b);
    pending_.push_back(std::move(b));
    return true;
  }
  // Envelopes never contain a raw newline; a batching client's message holds several.
  std::vector<std::string_view> parts;
  for (std::size_t begin = 0;;) {
    auto nl = text.find('\n', begin);
    parts.push_back(std::string_view(text).substr(begin, nl - begin));
    if (nl == std::string::npos) break;
    begin = nl + 1;
  }
  if (parts.size() > 1 && !batch_) {
    ADD_FAILURE() << "a client that did not ask for batching received " << parts.size()
                  << " envelopes in one message: " << text.substr(0, 300);
  }
  for (auto part : parts) {
    boost::system::error_code ec;
    json::value v = json::parse(part, ec);
    if (ec || !v.is_object()) {
      ADD_FAILURE() << "the server sent an envelope that is not a JSON object: "
                    << std::string(part.substr(0, 300));
      continue;
    }
    history_.push_back(v.get_object());
    pending_.push_back(std::move(v.get_object()));
  }
  return true;
}

std::optional<json::object> ws_client::recv(ms timeout) {
  auto deadline = steady::now() + timeout;
  if (pending_.empty() && !read_one(deadline)) return std::nullopt;
  if (pending_.empty()) return std::nullopt;
  auto f = std::move(pending_.front());
  pending_.pop_front();
  return f;
}

std::optional<json::object> ws_client::recv_until(
    const std::function<bool(const json::object&)>& match, ms timeout) {
  auto deadline = steady::now() + timeout;
  std::size_t scanned = 0;
  while (true) {
    for (; scanned < pending_.size(); ++scanned) {
      if (match(pending_[scanned])) {
        auto f = std::move(pending_[scanned]);
        pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(scanned));
        return f;
      }
    }
    if (!read_one(deadline)) return std::nullopt;
  }
}

std::optional<json::object> ws_client::recv_until(std::string_view type, ms timeout) {
  return recv_until(
      [type](const json::object& f) {
        auto* t = f.if_contains("type");
        return t && t->is_string() && t->get_string() == type && !f.contains("id");
      },
      timeout);
}

json::object ws_client::expect(std::string_view type, ms timeout) {
  auto f = recv_until(type, timeout);
  if (!f) {
    std::string seen;
    for (const auto& p : pending_)
      seen += "\n  " + json::serialize(p);
    throw std::runtime_error(
        "no \"" + std::string(type) + "\" event within " + std::to_string(timeout.count()) + " ms" +
        (closed_ ? " (connection closed: " + read_error_ + ")" : "") + "; pending frames:" + seen);
  }
  return *f;
}

json::object ws_client::request(std::string_view type, const json::object& data, ms timeout) {
  std::int64_t id = send_request(type, data);
  auto f = recv_until(
      [id](const json::object& fr) {
        auto* i = fr.if_contains("id");
        return i && i->is_int64() && i->get_int64() == id;
      },
      timeout);
  if (!f) {
    throw std::runtime_error("no reply to " + std::string(type) + " (id " + std::to_string(id) +
                             ") within " + std::to_string(timeout.count()) + " ms" +
                             (closed_ ? " (connection closed: " + read_error_ + ")" : ""));
  }
  return *f;
}

json::object ws_client::call(std::string_view type, const json::object& data, ms timeout) {
  auto f = request(type, data, timeout);
  auto* ok = f.if_contains("ok");
  if (!ok || !ok->is_bool() || !ok->get_bool()) {
    throw std::runtime_error(std::string(type) + " failed: " + json::serialize(f));
  }
  auto* d = f.if_contains("data");
  if (!d || !d->is_object()) return {};
  return d->get_object();
}

json::object ws_client::hello(bool batch) {
  json::object data{{"version", 1}, {"client", "integration-tests"}};
  if (batch) {
    data["batch"] = true;
    batch_ = true;  // the reply itself may already share a message with room events
  }
  return call("hello", data);
}

bool ws_client::ping_ok(ms timeout) {
  if (closed_) return false;
  std::int64_t t = now_ms();
  std::int64_t id = send_request("time.sync", {{"client_send", t}});
  auto f = recv_until(
      [id](const json::object& fr) {
        auto* i = fr.if_contains("id");
        return i && i->is_int64() && i->get_int64() == id;
      },
      timeout);
  return f && error_code(*f).empty() && num(at(*f, "data.client_send")) == t;
}

bool ws_client::wait_closed(ms timeout) {
  auto deadline = steady::now() + timeout;
  while (!closed_) {
    if (!read_one(deadline) && !closed_) return false;
  }
  return true;
}

void ws_client::close() {
  if (closed_) return;
  auto& s = *impl_;
  bool done = false;
  s.ws.async_close(websocket::close_code::normal, [&](beast::error_code) { done = true; });
  run_until(
      s.ioc, [&] { return done; }, steady::now() + 2s);
  drop();
}

void ws_client::drop() {
  auto& s = *impl_;
  beast::error_code ignored;
  auto& sock = beast::get_lowest_layer(s.ws).socket();
  if (sock.is_open()) {
    sock.shutdown(tcp::socket::shutdown_both, ignored);
    sock.close(ignored);
  }
  closed_ = true;
  // Let cancelled operations complete so that nothing refers to this object afterwards.
  s.ioc.restart();
  s.ioc.poll();
}

std::size_t ws_client::count_received(std::string_view type) const {
  std::size_t n = 0;
  for (const auto& f : history_) {
    auto* t = f.if_contains("type");
    n += t && t->is_string() && t->get_string() == type;
  }
  return n;
}

// --- Lobby helpers -------------------------------------------------------------------------------

std::vector<seat> seat_players(int port, const std::vector<std::string>& nicknames) {
  std::vector<seat> out;
  for (const auto& n : nicknames) {
    seat s;
    s.acc = make_player(port, n);
    s.ws = std::make_unique<ws_client>(port, s.acc.token);
    s.hello = s.ws->hello();
    out.push_back(std::move(s));
  }
  return out;
}

json::object snapshot_of_reply(const json::object& data) {
  if (auto* r = data.if_contains("room"); r && r->is_object()) return r->get_object();
  return data;
}

std::vector<std::int64_t> member_ids(const json::object& snapshot) {
  std::vector<std::int64_t> ids;
  for (const auto& m : at(snapshot, "members").as_array())
    ids.push_back(num(at(m, "id")));
  return ids;
}

json::object member_of(const json::object& snapshot, std::int64_t id) {
  for (const auto& m : at(snapshot, "members").as_array()) {
    if (num(at(m, "id")) == id) return m.as_object();
  }
  throw std::runtime_error("member " + std::to_string(id) + " not in " + json::serialize(snapshot));
}

std::filesystem::path fresh_temp_dir(const std::string& prefix) {
  std::string t = (std::filesystem::temp_directory_path() / (prefix + "XXXXXX")).string();
  if (!::mkdtemp(t.data())) throw std::runtime_error("mkdtemp " + t);
  return t;
}

json::object wait_snapshot(const std::filesystem::path& db_file,
                           const std::function<bool(const json::object&)>& ready) {
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (std::chrono::steady_clock::now() < deadline) {
    {
      auto db = store::sqlite_backend::open(db_file.string());
      for (const auto& s : db->room_snapshots("node-1")) {
        auto doc = json::parse(s.data_json).as_object();
        if (ready(doc)) return doc;
      }
    }
    std::this_thread::sleep_for(ms(20));  // polling interval
  }
  throw std::runtime_error("the expected snapshot was never stored");
}

// --- Threads
// --------------------------------------------------------------------------------------

std::thread spawn(std::function<void()> fn) {
  return std::thread([fn = std::move(fn)] {
    try {
      fn();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "a test thread threw: " << e.what();
    }
  });
}

// --- JSON helpers --------------------------------------------------------------------------------

const json::value& at(const json::value& v, std::string_view path) {
  const json::value* cur = &v;
  std::string_view rest = path;
  while (!rest.empty()) {
    auto dot = rest.find('.');
    std::string_view key = rest.substr(0, dot);
    rest = dot == std::string_view::npos ? std::string_view() : rest.substr(dot + 1);
    const json::value* next = nullptr;
    if (cur->is_object()) {
      next = cur->get_object().if_contains(key);
    } else if (cur->is_array() && !key.empty() &&
               std::isdigit(static_cast<unsigned char>(key[0]))) {
      auto i = static_cast<std::size_t>(std::stoul(std::string(key)));
      if (i < cur->get_array().size()) next = &cur->get_array()[i];
    }
    if (!next) {
      throw std::runtime_error("no \"" + std::string(path) + "\" (missing \"" + std::string(key) +
                               "\") in " + json::serialize(v));
    }
    cur = next;
  }
  return *cur;
}

const json::value& at(const json::object& o, std::string_view path) {
  auto dot = path.find('.');
  std::string_view key = path.substr(0, dot);
  const json::value* first = o.if_contains(key);
  if (!first) {
    throw std::runtime_error("no \"" + std::string(path) + "\" (missing \"" + std::string(key) +
                             "\") in " + json::serialize(o));
  }
  if (dot == std::string_view::npos) return *first;
  return at(*first, path.substr(dot + 1));
}

bool has(const json::object& o, std::string_view path) {
  try {
    return !at(o, path).is_null();
  } catch (const std::runtime_error&) {
    return false;
  }
}

std::string error_code(const json::object& frame) {
  auto* ok = frame.if_contains("ok");
  if (ok && ok->is_bool() && ok->get_bool()) return {};
  if (!has(frame, "error.code")) return "<no error.code>";
  return str(at(frame, "error.code"));
}

std::string str(const json::value& v) {
  if (!v.is_string()) throw std::runtime_error("not a string: " + json::serialize(v));
  return std::string(v.get_string());
}

std::int64_t num(const json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64()) return static_cast<std::int64_t>(v.get_uint64());
  throw std::runtime_error("not an integer: " + json::serialize(v));
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<ms>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace maratang::it
