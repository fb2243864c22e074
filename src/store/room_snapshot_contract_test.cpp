// The contract of lobby::room_snapshot_store (lobby/room_snapshot.hpp), checked through the port,
// as rooms and the lobby's start-up use it, against every implementation (store/port_contract.hpp):
// the memory reference, SQLite and PostgreSQL.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "lobby/room_snapshot.hpp"
#include "store/port_contract.hpp"
#include "store/records.hpp"

namespace maratang::store {
namespace {

using lobby::room_snapshot_store;
using testing::call;
using testing::implementation_name;
using testing::implementations;

room_snapshot_record snap(const std::string& room, const std::string& node, std::int64_t seq,
                          const std::string& data = "") {
  return {room, node, seq, 1'700'000'000'000 + seq,
          data.empty() ? R"({"v":1,"room":")" + room + R"(","seq":)" + std::to_string(seq) + "}"
                       : data};
}

class room_snapshot_contract : public testing::port_contract {
 protected:
  std::vector<room_snapshot_record> of(const std::string& node) {
    flush();  // puts and deletes have no completion
    return call(snapshots(), &room_snapshot_store::snapshots_of, node);
  }
};

TEST_P(room_snapshot_contract, a_put_snapshot_is_read_back_by_its_node_only) {
  EXPECT_TRUE(of("node-1").empty());
  // Text as games write it: quotes, backslashes, Korean, newlines.
  auto a = snap("RoomA", "node-1", 1, R"({"v":1,"chat":"\"안녕\"\\n","n":[1,2]})");
  snapshots().put_snapshot(a);
  snapshots().put_snapshot(snap("roomB", "node-2", 1));
  auto mine = of("node-1");
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_EQ(mine[0], a);
  ASSERT_EQ(of("node-2").size(), 1u);
  EXPECT_EQ(of("node-2")[0].room_id, "roomB");
  EXPECT_TRUE(of("node-3").empty());
}

TEST_P(room_snapshot_contract, a_newer_snapshot_replaces_an_older_one_never_the_reverse) {
  snapshots().put_snapshot(snap("r1", "node-1", 5));
  snapshots().put_snapshot(snap("r1", "node-1", 7));
  snapshots().put_snapshot(snap("r1", "node-1", 6));                       // late: changes nothing
  snapshots().put_snapshot(snap("r1", "node-1", 7, R"({"same":"seq"})"));  // equal: nothing
  auto got = of("node-1");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], snap("r1", "node-1", 7));
  // A newer snapshot may name another owner (a room taken over): it moves to that node's list.
  snapshots().put_snapshot(snap("r1", "node-2", 8));
  EXPECT_TRUE(of("node-1").empty());
  ASSERT_EQ(of("node-2").size(), 1u);
  EXPECT_EQ(of("node-2")[0].seq, 8);
}

TEST_P(room_snapshot_contract, delete_removes_only_what_it_supersedes) {
  snapshots().put_snapshot(snap("r1", "node-1", 3));
  snapshots().put_snapshot(snap("r2", "node-1", 3));
  snapshots().delete_snapshot("r1", 2);  // older than the stored one: stays
  EXPECT_EQ(of("node-1").size(), 2u);
  snapshots().delete_snapshot("r1", 3);
  auto got = of("node-1");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].room_id, "r2");
  snapshots().delete_snapshot("nope", 100);  // nothing to delete: fine
  snapshots().delete_snapshot("r1", 3);      // twice (a retry): fine
  // The room's next game writes again after the delete.
  snapshots().put_snapshot(snap("r1", "node-1", 4));
  EXPECT_EQ(of("node-1").size(), 2u);
}

TEST_P(room_snapshot_contract, many_rooms_of_one_node_come_back_sorted_by_room_id) {
  std::vector<std::string> ids{"b", "A", "a", "Z9", "_x", "-y", "0"};
  for (const auto& id : ids)
    snapshots().put_snapshot(snap(id, "node-1", 1));
  snapshots().put_snapshot(snap("other", "node-9", 1));
  auto got = of("node-1");
  std::vector<std::string> read;
  for (const auto& s : got)
    read.push_back(s.room_id);
  std::sort(ids.begin(), ids.end());  // byte order
  EXPECT_EQ(read, ids);
}

INSTANTIATE_TEST_SUITE_P(impls, room_snapshot_contract, ::testing::ValuesIn(implementations()),
                         implementation_name);

}  // namespace
}  // namespace maratang::store
