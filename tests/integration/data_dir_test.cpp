// The data folder on disk is the server's alone: created 0700, its files (database, -wal, -shm,
// secret.key) 0600, and a folder an earlier run left open is tightened, with a warning.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "harness.hpp"

namespace maratang::it {
namespace {

namespace fs = std::filesystem;

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return 0xffff;
  return st.st_mode & 0777;
}

// Writes one record so that the database (and its -wal and -shm) certainly exist.
void write_something(int port, const std::string& nickname) {
  make_player(port, nickname);
}

TEST(data_dir_test, a_fresh_data_folder_and_its_files_are_private) {
  temp_dir root;
  const auto data = root.path() / "fresh" / "data";
  server_process srv({}, data);
  write_something(srv.port(), "Disk");
  EXPECT_EQ(mode_of(data), 0700u) << fmt::format("{:o}", mode_of(data));
  for (const char* f : {"maratang.db", "maratang.db-wal", "maratang.db-shm", "secret.key"}) {
    ASSERT_TRUE(fs::exists(data / f)) << f;
    EXPECT_EQ(mode_of(data / f), 0600u) << f << ": " << fmt::format("{:o}", mode_of(data / f));
  }
}

TEST(data_dir_test, an_open_data_folder_is_tightened_and_logged) {
  temp_dir root;
  const auto data = root.path() / "data";
  {
    // An earlier run under a permissive umask.
    server_process first({}, data);
    write_something(first.port(), "Before");
  }
  fs::permissions(data, fs::perms(0755), fs::perm_options::replace);
  for (const char* f : {"maratang.db", "secret.key"})
    fs::permissions(data / f, fs::perms(0644), fs::perm_options::replace);
  ASSERT_EQ(mode_of(data), 0755u);

  server_process srv({}, data);
  write_something(srv.port(), "After");
  EXPECT_EQ(mode_of(data), 0700u) << fmt::format("{:o}", mode_of(data));
  for (const char* f : {"maratang.db", "maratang.db-wal", "maratang.db-shm", "secret.key"})
    EXPECT_EQ(mode_of(data / f), 0600u) << f << ": " << fmt::format("{:o}", mode_of(data / f));
  const auto log = srv.log_text();
  EXPECT_NE(log.find("data folder " + data.string() + " was readable by others"), std::string::npos)
      << log;
  EXPECT_NE(log.find((data / "maratang.db").string() + " was readable by others"),
            std::string::npos)
      << log;
}

}  // namespace
}  // namespace maratang::it
