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
  // Only its owner replaces it: another node's write, however new, changes nothing.
  snapshots().put_snapshot(snap("r1", "node-2", 8));
  EXPECT_TRUE(of("node-2").empty());
  ASSERT_EQ(of("node-1").size(), 1u);
  EXPECT_EQ(of("node-1")[0].seq, 7);
}

TEST_P(room_snapshot_contract, a_claim_moves_a_nodes_snapshots_and_fences_their_old_owner) {
  snapshots().put_snapshot(snap("r1", "dead", 4));
  snapshots().put_snapshot(snap("r2", "dead", 9));
  snapshots().put_snapshot(snap("r3", "alive", 2));
  auto claimed = call(snapshots(), &room_snapshot_store::claim_snapshots, std::string("dead"),
                      std::string("heir"));
  ASSERT_EQ(claimed.size(), 2u);
  auto expected = snap("r1", "dead", 4);
  expected.node = "heir";  // the same snapshot, now the heir's
  EXPECT_EQ(claimed[0], expected);
  EXPECT_EQ(claimed[1].room_id, "r2");
  EXPECT_EQ(claimed[1].node, "heir");
  EXPECT_EQ(claimed[1].seq, 9);
  EXPECT_TRUE(of("dead").empty());
  EXPECT_EQ(of("heir").size(), 2u);
  ASSERT_EQ(of("alive").size(), 1u) << "another node's rooms are not claimed";
  // A second claim (another node racing) finds nothing.
  EXPECT_TRUE(call(snapshots(), &room_snapshot_store::claim_snapshots, std::string("dead"),
                   std::string("other-heir"))
                  .empty());
  // The old owner, still running somewhere, can neither write nor delete them any more.
  snapshots().put_snapshot(snap("r1", "dead", 50));
  snapshots().delete_snapshot("r2", "dead", 100);
  auto now = of("heir");
  ASSERT_EQ(now.size(), 2u);
  EXPECT_EQ(now[0].seq, 4);
  EXPECT_EQ(now[1].seq, 9);
  // The new owner goes on from the claimed seq.
  snapshots().put_snapshot(snap("r1", "heir", 5));
  snapshots().delete_snapshot("r2", "heir", 9);
  now = of("heir");
  ASSERT_EQ(now.size(), 1u);
  EXPECT_EQ(now[0].seq, 5);
}

TEST_P(room_snapshot_contract, flush_answers_once_every_earlier_snapshot_is_stored) {
  for (int i = 0; i < 50; ++i)
    snapshots().put_snapshot(snap("room" + std::to_string(i), "draining", 1));
  EXPECT_TRUE(call(snapshots(), &room_snapshot_store::flush_snapshots));
  // Read without the fixture's own flush: the flush's answer alone promised them.
  auto got = call(snapshots(), &room_snapshot_store::snapshots_of, std::string("draining"));
  EXPECT_EQ(got.size(), 50u);
}

TEST_P(room_snapshot_contract, delete_removes_only_what_it_supersedes) {
  snapshots().put_snapshot(snap("r1", "node-1", 3));
  snapshots().put_snapshot(snap("r2", "node-1", 3));
  snapshots().delete_snapshot("r1", "node-1", 2);  // older than the stored one: stays
  EXPECT_EQ(of("node-1").size(), 2u);
  snapshots().delete_snapshot("r1", "node-1", 3);
  auto got = of("node-1");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].room_id, "r2");
  snapshots().delete_snapshot("nope", "node-1", 100);  // nothing to delete: fine
  snapshots().delete_snapshot("r1", "node-1", 3);      // twice (a retry): fine
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
