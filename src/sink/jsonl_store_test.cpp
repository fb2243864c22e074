// The sink's file writer on its own: hourly runs, high-water marks read back from object names,
// skipped replays, partial objects removed.
#include "sink/jsonl_store.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "store/test_temp_dir.hpp"

namespace maratang::sink {
namespace {

namespace fs = std::filesystem;
constexpr std::int64_t kHour = 3'600'000;
constexpr std::int64_t kBase = 1'767'225'600'000;  // 2026-01-01T00:00:00Z

consumed at(std::int32_t partition, std::int64_t offset, std::int64_t ts_ms) {
  const std::string id = "e" + std::to_string(partition) + "-" + std::to_string(offset);
  return consumed{"actions",
                  partition,
                  offset,
                  ts_ms,
                  id,
                  "k",
                  R"({"v":1,"id":")" + id + R"(","topic":"actions","key":"k","ts_ms":)" +
                      std::to_string(ts_ms) + R"(,"data":{}})",
                  "{}"};
}

std::size_t count_lines(const fs::path& dir) {
  std::size_t n = 0;
  for (const auto& f : fs::recursive_directory_iterator(dir)) {
    if (!f.is_regular_file()) continue;
    std::ifstream in(f.path());
    std::string line;
    while (std::getline(in, line))
      ++n;
  }
  return n;
}

TEST(JsonlStore, SplitsRunsByHourAndNamesObjectsByPartitionAndOffsets) {
  store::testing::temp_dir dir;
  auto s = jsonl_store::open(dir.path());
  ASSERT_TRUE(s);
  // Partition 0 crosses from hour 0 into hour 1; partition 1 stays in hour 0.
  std::vector<consumed> batch{at(0, 0, kBase + 10), at(0, 1, kBase + kHour - 1),
                              at(1, 0, kBase + 5), at(0, 2, kBase + kHour)};
  auto n = s->write(batch);
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 4u);
  EXPECT_TRUE(fs::exists(dir.path() / "actions/dt=2026-01-01/hour=00" /
                         "part-00000-00000000000000000000-00000000000000000001.jsonl"));
  EXPECT_TRUE(fs::exists(dir.path() / "actions/dt=2026-01-01/hour=01" /
                         "part-00000-00000000000000000002-00000000000000000002.jsonl"));
  EXPECT_TRUE(fs::exists(dir.path() / "actions/dt=2026-01-01/hour=00" /
                         "part-00001-00000000000000000000-00000000000000000000.jsonl"));
  EXPECT_EQ(s->high_water("actions", 0), 2);
  EXPECT_EQ(s->high_water("actions", 1), 0);
  EXPECT_EQ(s->high_water("games", 0), -1);
}

TEST(JsonlStore, AReopenedStoreSkipsWhatItHoldsAndRemovesPartialObjects) {
  store::testing::temp_dir dir;
  {
    auto s = jsonl_store::open(dir.path());
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->write({at(0, 0, kBase), at(0, 1, kBase), at(0, 2, kBase)}));
  }
  const auto tmp =
      jsonl_store::object_path(dir.path(), "actions", kBase, 0, 3, 4).string() + ".tmp";
  std::ofstream(tmp) << R"({"v":1,"id":"e0-3")";
  auto s = jsonl_store::open(dir.path());
  ASSERT_TRUE(s);
  EXPECT_EQ(s->removed_partials(), 1u);
  EXPECT_FALSE(fs::exists(tmp));
  EXPECT_EQ(s->high_water("actions", 0), 2);
  // A replay from offset 1: only 3 and 4 are new.
  auto n = s->write({at(0, 1, kBase), at(0, 2, kBase), at(0, 3, kBase), at(0, 4, kBase)});
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 2u);
  EXPECT_EQ(count_lines(dir.path()), 5u);
  // The same batch once more adds nothing.
  n = s->write({at(0, 3, kBase), at(0, 4, kBase)});
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0u);
  EXPECT_EQ(count_lines(dir.path()), 5u);
}

TEST(JsonlStore, AnUnwritableFolderIsAnError) {
  store::testing::temp_dir dir;
  auto s = jsonl_store::open(dir.path());
  ASSERT_TRUE(s);
  // A file where the topic's folder must go.
  std::ofstream(dir.path() / "actions") << "x";
  auto n = s->write({at(0, 0, kBase)});
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error().code, errc::unavailable);
  EXPECT_EQ(s->high_water("actions", 0), -1);
}

}  // namespace
}  // namespace maratang::sink
