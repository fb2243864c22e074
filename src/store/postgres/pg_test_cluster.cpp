#include "store/postgres/pg_test_cluster.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

extern char** environ;

namespace maratang::store::testing {
namespace {

// The script bounds its own waits (about two minutes at worst); this is a backstop.
constexpr auto script_timeout = std::chrono::seconds(300);

struct fd_pair {
  int fd[2] = {-1, -1};
  fd_pair() {
    if (::pipe2(fd, O_CLOEXEC) != 0)
      throw std::system_error(errno, std::generic_category(), "pipe2");
  }
  ~fd_pair() { close_all(); }
  fd_pair(const fd_pair&) = delete;
  fd_pair& operator=(const fd_pair&) = delete;
  void close_end(int i) {
    if (fd[i] >= 0) ::close(fd[i]);
    fd[i] = -1;
  }
  void close_all() {
    close_end(0);
    close_end(1);
  }
};

struct spawn_actions {
  posix_spawn_file_actions_t a;
  spawn_actions() { ::posix_spawn_file_actions_init(&a); }
  ~spawn_actions() { ::posix_spawn_file_actions_destroy(&a); }
  spawn_actions(const spawn_actions&) = delete;
  spawn_actions& operator=(const spawn_actions&) = delete;
};

struct spawn_attr {
  posix_spawnattr_t a;
  spawn_attr() { ::posix_spawnattr_init(&a); }
  ~spawn_attr() { ::posix_spawnattr_destroy(&a); }
  spawn_attr(const spawn_attr&) = delete;
  spawn_attr& operator=(const spawn_attr&) = delete;
};

struct result {
  int status = 0;  // as from waitpid
  std::string out, err;
};

// Runs argv[0] (looked up on PATH) with stdin from /dev/null, collecting stdout and stderr. The
// child gets no descriptor of ours beyond 0-2 (the server it starts outlives it), and runs in a
// process group of its own, killed whole if it overruns script_timeout.
result run_process(const std::vector<std::string>& args) {
  fd_pair out, err;
  spawn_actions actions;
  ::posix_spawn_file_actions_addopen(&actions.a, 0, "/dev/null", O_RDONLY, 0);
  ::posix_spawn_file_actions_adddup2(&actions.a, out.fd[1], 1);
  ::posix_spawn_file_actions_adddup2(&actions.a, err.fd[1], 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  ::posix_spawn_file_actions_addclosefrom_np(&actions.a, 3);
#endif
  spawn_attr attr;
  ::posix_spawnattr_setflags(
      &attr.a, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  ::posix_spawnattr_setpgroup(&attr.a, 0);
  sigset_t none, dfl;
  sigemptyset(&none);
  sigemptyset(&dfl);  // signals a test harness may ignore, such as SIGPIPE
  for (int sig : {SIGPIPE, SIGCHLD, SIGHUP, SIGINT, SIGQUIT, SIGTERM})
    sigaddset(&dfl, sig);
  ::posix_spawnattr_setsigmask(&attr.a, &none);
  ::posix_spawnattr_setsigdefault(&attr.a, &dfl);

  std::vector<char*> argv;
  for (const auto& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (int e = ::posix_spawnp(&pid, argv[0], &actions.a, &attr.a, argv.data(), environ); e != 0)
    throw std::system_error(e, std::generic_category(), "posix_spawnp " + args[0]);
  out.close_end(1);
  err.close_end(1);

  result r;
  const auto deadline = std::chrono::steady_clock::now() + script_timeout;
  bool timed_out = false;
  while (out.fd[0] >= 0 || err.fd[0] >= 0) {
    pollfd fds[2] = {{out.fd[0], POLLIN, 0}, {err.fd[0], POLLIN, 0}};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    int n = left.count() > 0 ? ::poll(fds, 2, static_cast<int>(left.count())) : 0;
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {  // out of time (or poll failed): kill the script and whatever it runs
      timed_out = true;
      ::kill(-pid, SIGKILL);
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        (i == 0 ? out : err).close_end(0);
        continue;
      }
      (i == 0 ? r.out : r.err).append(buf, static_cast<std::size_t>(got));
    }
  }
  while (::waitpid(pid, &r.status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) r.err += "\n(killed after " + std::to_string(script_timeout.count()) + " s)";
  return r;
}

}  // namespace

pg_test_cluster::pg_test_cluster(const std::filesystem::path& source_dir)
    : script_(source_dir / "scripts" / "pg_temp.sh") {
  std::string pattern = (std::filesystem::temp_directory_path() / "maratang_pg_XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr)
    throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
  dir_ = pattern;
  try {
    url_ = run("start");
    while (!url_.empty() && (url_.back() == '\n' || url_.back() == '\r'))
      url_.pop_back();
    if (url_.rfind("postgresql://", 0) != 0 || url_.find('\n') != std::string::npos)
      throw std::runtime_error("pg_temp.sh start printed no URL but: " + url_);
  } catch (...) {
    try {
      run("stop");
    } catch (...) {
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    throw;
  }
}

pg_test_cluster::~pg_test_cluster() {
  try {
    run("stop");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pg_test_cluster: %s\n", e.what());
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void pg_test_cluster::kill() {
  run("kill");
}
void pg_test_cluster::up() {
  run("up");
}
void pg_test_cluster::restart() {
  run("restart");
}

std::string pg_test_cluster::run(const char* command) const {
  result r = run_process({"bash", script_.string(), command, dir_.string()});
  if (WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) return r.out;
  std::string how =
      WIFEXITED(r.status)
          ? "exit status " + std::to_string(WEXITSTATUS(r.status))
          : "signal " + std::to_string(WIFSIGNALED(r.status) ? WTERMSIG(r.status) : 0);
  throw std::runtime_error(script_.string() + " " + command + " " + dir_.string() + " failed (" +
                           how + "): " + r.err);
}

const std::string& shared_test_url(const std::filesystem::path& source_dir) {
  static std::mutex mu;
  static std::string url;
  static std::unique_ptr<pg_test_cluster> own;
  std::lock_guard lk(mu);
  if (!url.empty()) return url;
  if (const char* dir = std::getenv("MARATANG_TEST_PG_DIR"); dir && *dir) {
    std::ifstream in(std::filesystem::path(dir) / "url");
    std::getline(in, url);
    if (url.empty()) {
      throw std::runtime_error(std::string("MARATANG_TEST_PG_DIR=") + dir +
                               " holds no url file: did the pg fixture start?");
    }
    return url;
  }
  own = std::make_unique<pg_test_cluster>(source_dir);
  url = own->url();
  return url;
}

std::string fresh_schema_name() {
  static std::atomic<int> n{0};
  return "t" + std::to_string(::getpid()) + "_" + std::to_string(++n);
}

}  // namespace maratang::store::testing
