// The `maratang serve` child a benchmark drives: started on a free loopback port with the
// benchmark's settings, measured through /proc, stopped with SIGTERM (then SIGKILL).
#pragma once

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace maratang::bench {

struct server_process {
  pid_t pid = -1;
  int port = 0;
  std::filesystem::path dir;

  // Starts `binary serve` with its data under `base`/`name`_<pid> and each of `sets` as a
  // `--set key=value`; waits (up to 20 s) for the port file.
  void start(const std::string& binary, std::string_view name, const std::vector<std::string>& sets,
             const std::filesystem::path& base = std::filesystem::temp_directory_path()) {
    dir = base / fmt::format("{}_{}", name, ::getpid());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    std::vector<std::string> args = {binary,        "serve",
                                     "--port",      "0",
                                     "--host",      "127.0.0.1",
                                     "--port-file", (dir / "port").string(),
                                     "--data-dir",  (dir / "data").string()};
    for (const auto& s : sets) {
      args.push_back("--set");
      args.push_back(s);
    }
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid, binary.c_str(), nullptr, nullptr, argv.data(), environ) != 0) {
      throw std::runtime_error("cannot start " + binary);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      std::ifstream in(dir / "port");
      if (in >> port && port > 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    throw std::runtime_error("server did not start");
  }

  long rss_kb() const {
    std::ifstream in(fmt::format("/proc/{}/status", pid));
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    }
    return -1;
  }

  // utime + stime of the whole process, in seconds.
  double cpu_seconds() const { return stat_cpu_seconds(fmt::format("/proc/{}/stat", pid)); }

  // utime + stime of each of its threads, by thread id.
  std::map<int, double> thread_cpu_seconds() const {
    std::map<int, double> out;
    std::error_code ec;
    for (const auto& e :
         std::filesystem::directory_iterator(fmt::format("/proc/{}/task", pid), ec)) {
      try {
        out[std::stoi(e.path().filename().string())] =
            stat_cpu_seconds((e.path() / "stat").string());
      } catch (const std::exception&) {
        // A thread that ended between the listing and the read.
      }
    }
    return out;
  }

  static double stat_cpu_seconds(const std::string& path) {
    std::ifstream in(path);
    std::string s((std::istreambuf_iterator<char>(in)), {});
    auto close = s.rfind(')');
    std::istringstream rest(s.substr(close + 2));
    std::string field;
    std::vector<std::string> f;
    while (rest >> field)
      f.push_back(field);
    // Fields after the command: state is f[0]; utime is field 14 overall -> f[11], stime f[12].
    if (f.size() < 13) return 0;
    double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    return (std::stod(f[11]) + std::stod(f[12])) / ticks;
  }

  void stop() {
    if (pid <= 0) return;
    ::kill(pid, SIGTERM);
    int status = 0;
    for (int i = 0; i < 500 && pid > 0; ++i) {
      if (waitpid(pid, &status, WNOHANG) == pid) pid = -1;
      if (pid > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      pid = -1;
    }
    std::filesystem::remove_all(dir);
  }
};

}  // namespace maratang::bench
