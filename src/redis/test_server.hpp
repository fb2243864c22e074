// Test-only (included by tests alone): a throw-away redis-server run by scripts/redis_temp.sh
// (which see) in a fresh directory under the system temp dir, on a free loopback port, stopped
// and removed with its directory when the object dies. Needs Debian's redis-server
// (scripts/setup.sh --test). Each call waits for the script, whose own waits are bounded.
//
//   maratang::redis::testing::test_server redis{MARATANG_SOURCE_DIR};
//   options o; parse_url(redis.url(), o);
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace maratang::redis::testing {

class test_server {
 public:
  // Starts a server; throws std::runtime_error if the script cannot.
  explicit test_server(const std::filesystem::path& source_dir)
      : script_(source_dir / "scripts" / "redis_temp.sh"), dir_(fresh_dir()) {
    url_ = run("start");
  }
  // Stops the server and removes its directory; never throws.
  ~test_server() {
    try {
      run("stop");
    } catch (...) {
    }
  }
  test_server(const test_server&) = delete;
  test_server& operator=(const test_server&) = delete;

  // redis://127.0.0.1:PORT (the same after kill/up).
  const std::string& url() const { return url_; }
  // SIGKILL, as a crash: clients are cut off.
  void kill() { run("kill"); }
  // Starts the server again after kill(), on the same port (empty: no persistence).
  void up() { run("up"); }

 private:
  // A new directory of its own (mkdtemp): a name made of the process id could be one a test
  // killed earlier left behind, holding a server the script refuses to replace.
  static std::filesystem::path fresh_dir() {
    std::string t = (std::filesystem::temp_directory_path() / "maratang_redis_XXXXXX").string();
    if (!::mkdtemp(t.data())) throw std::runtime_error("mkdtemp " + t);
    return t;
  }

  // Runs the script with `command` and the directory; returns its stdout without the newline.
  std::string run(const char* command) const {
    const std::string cmd = "'" + script_.string() + "' " + command + " '" + dir_.string() + "'";
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) throw std::runtime_error("popen " + cmd);
    std::string out;
    char buf[256];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p))
      out.append(buf, n);
    if (::pclose(p) != 0) throw std::runtime_error(cmd + " failed");
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r'))
      out.pop_back();
    return out;
  }

  std::filesystem::path script_;
  std::filesystem::path dir_;
  std::string url_;
};

}  // namespace maratang::redis::testing
