// Test helper: a throw-away PostgreSQL 15 server for the storage tests, run by scripts/pg_temp.sh
// (which see) in a fresh directory under the system temp dir, on a free loopback port, and
// stopped and removed with its directory when the object dies. Needs Debian's postgresql-15
// (scripts/setup.sh --test). Uses only the standard library and POSIX, so that it can sit in the
// main library. Any one thread; each call waits for the script (whose own waits are bounded).
//
//   maratang::store::testing::pg_test_cluster pg{MARATANG_SOURCE_DIR};
//   PGconn* c = PQconnectdb(pg.url().c_str());
#pragma once

#include <filesystem>
#include <string>

namespace maratang::store::testing {

class pg_test_cluster {
 public:
  // Starts a server: runs `<source_dir>/scripts/pg_temp.sh start <new temp dir>`. Throws
  // std::runtime_error, with the script's stderr, if it cannot.
  explicit pg_test_cluster(const std::filesystem::path& source_dir);
  // Stops the server and removes its directory; never throws.
  ~pg_test_cluster();
  pg_test_cluster(const pg_test_cluster&) = delete;
  pg_test_cluster& operator=(const pg_test_cluster&) = delete;

  // postgresql://USER@127.0.0.1:PORT/maratang (trust auth; the same after kill/up and restart).
  const std::string& url() const { return url_; }
  // The cluster's directory: data/ (PGDATA), log (the server's log), the Unix socket.
  const std::filesystem::path& dir() const { return dir_; }

  // Immediate shutdown, as a crash: clients are cut off, no checkpoint, data kept.
  void kill();
  // Starts the server again after kill() (crash recovery), on the same port.
  void up();
  // Fast shutdown (clients cut off, checkpoint) and start again on the same port.
  void restart();

 private:
  // Runs the script with `command` and the directory; returns its stdout or throws.
  std::string run(const char* command) const;

  std::filesystem::path script_;
  std::filesystem::path dir_;
  std::string url_;
};

// The URL of the PostgreSQL server that tests share: the one ctest started for the whole run (the
// `pg` fixture in CMakeLists.txt, which sets MARATANG_TEST_PG_DIR to its directory), or else one
// started for this process on first use and stopped at exit. Thread-safe.
const std::string& shared_test_url(const std::filesystem::path& source_dir);

// A schema name that no other test, in this process or another, uses: "t<pid>_<n>".
std::string fresh_schema_name();

}  // namespace maratang::store::testing
