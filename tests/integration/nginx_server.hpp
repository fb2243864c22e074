// nginx in front of Maratang nodes for a test (scripts/nginx_temp.sh, which fills in
// deploy/nginx/maratang.conf.in): node N of the list at /node/N/, all of them at /.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness.hpp"

namespace maratang::it {

// nginx in front of `nodes`, stopped with its directory when the object dies.
class nginx_server {
 public:
  explicit nginx_server(const std::vector<int>& nodes)
      : script_(std::filesystem::path(MARATANG_SOURCE_DIR) / "scripts" / "nginx_temp.sh"),
        dir_(fresh_temp_dir("maratang_nginx_")) {
    std::string args = "start '" + dir_.string() + "'";
    for (int p : nodes)
      args += " 127.0.0.1:" + std::to_string(p);
    const std::string url = run(args);
    const auto colon = url.rfind(':');
    if (url.rfind("http://127.0.0.1:", 0) != 0 || colon == std::string::npos) {
      throw std::runtime_error("nginx_temp.sh start printed: " + url);
    }
    port_ = std::stoi(url.substr(colon + 1));
  }
  ~nginx_server() {
    try {
      run("stop '" + dir_.string() + "'");
    } catch (...) {
    }
  }
  int port() const { return port_; }

 private:
  std::string run(const std::string& args) const {
    const std::string cmd = "'" + script_.string() + "' " + args;
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
  std::filesystem::path script_;
  std::filesystem::path dir_;
  int port_ = 0;
};

}  // namespace maratang::it
