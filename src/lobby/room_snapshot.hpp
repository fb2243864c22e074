// Rooms outlive their process (issue 16), on one node: the port where a room keeps the latest
// snapshot of its running game, and what a snapshot holds.
//
// A room writes a snapshot whenever its mode calls room_api::checkpoint() (mode.hpp: at phase and
// turn changes and plays; a ticking mode once a second), and deletes it when the game ends. The
// snapshot is one JSON document (room.cpp, room::snapshot_text): the room's settings (name, mode,
// capacity, privacy, password, invite code, spectators, the mode's settings, the seed), its
// leader, its members with their seats, and the game: its id, start time, players, those who left,
// the action log's sequence, the groups, the room's rng state and the mode's serialize(). At
// start-up a node reads the snapshots it owns (`node.id`) and restores each room (lobby::restore):
// members hold their seats for the reconnect grace, and reconnect with their existing tokens.
//
// Writes never block the room's strand: put_snapshot and delete_snapshot queue a storage
// operation and return. A snapshot that fails to write is not retried (the next one replaces it
// anyway); a delete is retried until it commits, so that a finished game is never restored. Each
// snapshot carries a sequence number that grows with every write of the room, and the store keeps
// the newest: a late write never replaces a newer one, and a delete removes only what it
// supersedes; and only the owner's writes count (claim_snapshots). Implemented by
// store::batched_store (memory, SQLite, PostgreSQL); one contract suite.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store/records.hpp"
#include "store/reply.hpp"

namespace maratang::lobby {

class room_snapshot_store {
 public:
  virtual ~room_snapshot_store() = default;
  // Inserts or replaces the room's snapshot (when s.seq is newer than the stored one). Nobody
  // waits for it.
  virtual void put_snapshot(store::room_snapshot_record s) = 0;
  // Removes the room's snapshot if `node` owns it and its seq is at most upto_seq. Retried until
  // it commits.
  virtual void delete_snapshot(std::string room_id, std::string node, std::int64_t upto_seq) = 0;
  // The snapshots owned by `node`, by room id.
  virtual void snapshots_of(std::string node,
                            store::reply<std::vector<store::room_snapshot_record>> done) = 0;
  // Several nodes: every snapshot owned by `from` (a dead or draining node) becomes `to`'s, at
  // once; `done` gets them, by room id. From then on `from` can neither replace nor delete them
  // (a put or delete names its node, and only the owner's count): a node that lost its rooms
  // while cut off cannot write them back.
  virtual void claim_snapshots(std::string from, std::string to,
                               store::reply<std::vector<store::room_snapshot_record>> done) = 0;
  // Writes every snapshot put so far; `done` once they are committed (a draining node hands its
  // rooms over after it).
  virtual void flush_snapshots(store::reply<bool> done) = 0;
};

}  // namespace maratang::lobby
