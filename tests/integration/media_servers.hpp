// Janus and coturn for the tests, each started by the project's script in a directory of its
// own (scripts/janus_temp.sh, scripts/coturn_temp.sh) and stopped with it when the object dies.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness.hpp"

namespace maratang::it {

// Runs `script args`; its stdout without the trailing newline. Throws when it fails.
inline std::string run_script(const std::string& script, const std::string& args) {
  const std::string cmd =
      "'" + (std::filesystem::path(MARATANG_SOURCE_DIR) / "scripts" / script).string() + "' " +
      args;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("popen " + cmd);
  std::string out;
  char buf[256];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p))
    out.append(buf, n);
  if (::pclose(p) != 0) throw std::runtime_error(cmd + " failed: " + out);
  while (!out.empty() && out.back() == '\n')
    out.pop_back();
  return out;
}

// Janus in a directory of its own, stopped with it when the object dies.
class janus_server {
 public:
  janus_server() : dir_(fresh_temp_dir("maratang_janus_")) {
    std::istringstream line(run_script("janus_temp.sh", "start '" + dir_.string() + "'"));
    line >> url_ >> admin_url_ >> admin_secret_ >> admin_key_;
    const auto colon = url_.rfind(':');
    if (url_.rfind("http://127.0.0.1:", 0) != 0 || admin_key_.empty()) {
      throw std::runtime_error("janus_temp.sh start printed: " + url_);
    }
    port_ = std::stoi(url_.substr(colon + 1));
  }
  ~janus_server() {
    try {
      run_script("janus_temp.sh", "stop '" + dir_.string() + "'");
    } catch (...) {
    }
  }
  int port() const { return port_; }
  const std::string& url() const { return url_; }
  // Its admin API's port and secret (a test may add a token of its own there).
  int admin_port() const {
    return std::stoi(admin_url_.substr(admin_url_.rfind(':') + 1, std::string::npos));
  }
  const std::string& admin_secret() const { return admin_secret_; }
  // Stops Janus and starts it again on the same ports: it forgets every token and room.
  void restart() { run_script("janus_temp.sh", "restart '" + dir_.string() + "'"); }
  // The server's settings that point it at this Janus.
  std::vector<std::string> settings() const {
    return {"llm.base_url=",
            "media.mode=sfu",
            "media.janus_url=" + url_,
            "media.janus_admin_url=" + admin_url_,
            "media.janus_admin_secret=" + admin_secret_,
            "media.janus_admin_key=" + admin_key_};
  }

 private:
  std::filesystem::path dir_;
  std::string url_, admin_url_, admin_secret_, admin_key_;
  int port_ = 0;
};

// coturn on loopback with a shared secret (TURN REST API credentials).
class coturn_server {
 public:
  coturn_server() : dir_(fresh_temp_dir("maratang_coturn_")) {
    std::istringstream line(run_script("coturn_temp.sh", "start '" + dir_.string() + "'"));
    line >> turn_url_ >> stun_url_ >> secret_;
    if (turn_url_.rfind("turn:127.0.0.1:", 0) != 0 || secret_.empty()) {
      throw std::runtime_error("coturn_temp.sh start printed: " + turn_url_);
    }
    port_ = std::stoi(stun_url_.substr(stun_url_.rfind(':') + 1));
  }
  ~coturn_server() {
    try {
      run_script("coturn_temp.sh", "stop '" + dir_.string() + "'");
    } catch (...) {
    }
  }
  int port() const { return port_; }
  // The server's settings that hand browsers this TURN server.
  std::vector<std::string> settings() const {
    return {"media.stun_urls=" + stun_url_, "media.turn_urls=" + turn_url_,
            "media.turn_secret=" + secret_};
  }

 private:
  std::filesystem::path dir_;
  std::string turn_url_, stun_url_, secret_;
  int port_ = 0;
};

}  // namespace maratang::it
