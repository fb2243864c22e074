// The batched store: every storage port (accounts, the audit log, game records, the action log,
// traces, casebooks, the event outbox, health) implemented over one store::worker, which owns a
// synchronous backend (memory, SQLite or PostgreSQL) and runs operations on its own thread in
// batched transactions (group commit). Each port operation is one worker operation, so it is
// atomic; completions run on the worker thread after the commit (store/reply.hpp). Group commit and
// the backend are this class's own business: nothing outside the composition root (src/app/) sees
// the worker.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "competition/competition_store.hpp"
#include "core/account_store.hpp"
#include "events/outbox.hpp"
#include "lobby/game_store.hpp"
#include "lobby/room_snapshot.hpp"
#include "modes/mystery/casebook_store.hpp"
#include "store/competition_book.hpp"
#include "store/health.hpp"
#include "traces/trace_store.hpp"

namespace maratang::store {

class backend;
class worker;

// The write-behind of the action log and of the event outbox: entries wait here, and one worker
// operation writes all that arrived meanwhile in one statement (or a few).
struct write_behind_options {
  std::size_t max_buffered = 200'000;  // entries waiting at most; beyond, new ones are dropped
  std::size_t max_per_write = 5000;    // entries per write at most
  // How long the first entry of an empty buffer waits for others before the write is queued
  // (storage.log_delay_ms). 0: queued at once, so only the worker's queue gathers entries. A full
  // write's worth (max_per_write) is queued at once whatever the delay.
  std::chrono::milliseconds delay{0};
};

// What the write-behind did, for /metrics. Updated under the store's lock or on the worker.
struct write_behind_stats {
  std::atomic<std::uint64_t> entries{0};  // entries written (new ones; duplicates skipped)
  std::atomic<std::uint64_t> writes{0};   // bulk writes committed
  std::atomic<std::uint64_t> dropped{0};  // entries dropped (buffer full or queue full)
  // How long the oldest entry of each write waited in the buffer (append to write), summed over
  // writes, and the longest such wait since start.
  std::atomic<std::uint64_t> wait_ns_total{0};
  std::atomic<std::uint64_t> wait_ns_max{0};
};

class batched_store final : public core::account_store,
                            public core::audit_log,
                            public lobby::game_store,
                            public lobby::action_log,
                            public traces::trace_store,
                            public mystery::casebook_store,
                            public lobby::room_snapshot_store,
                            public events::outbox,
                            public competition::competition_store,
                            public health {
 public:
  // `w` must outlive this object, and so must `log_writers`: the workers (each with a connection of
  // its own) that write the action log's bulk writes in turn, so that they run side by side on the
  // database (PostgreSQL, storage.log_writers); empty: `w` writes them. A read of the log waits for
  // every writer's queued writes to commit first.
  explicit batched_store(worker& w, write_behind_options wb = {},
                         std::vector<worker*> log_writers = {});

  // core::account_store
  void create_account(account a, reply<std::optional<account>> done) override;
  void find_account(std::int64_t id, reply<std::optional<account>> done) override;
  void find_account_by_device(std::string device_id, reply<std::optional<account>> done) override;
  void find_account_by_email(std::string email, reply<std::optional<account>> done) override;
  void find_account_by_nickname_key(std::string key, reply<std::optional<account>> done) override;
  void nicknames_of(std::vector<std::int64_t> ids, reply<nickname_list> done) override;
  void set_nickname(std::int64_t account_id, std::string nickname, std::string key,
                    reply<status> done) override;
  void create_session(session_record s, reply<status> done) override;
  void find_session(std::string id, reply<std::optional<session_record>> done) override;
  void rotate_refresh(std::string id, std::string old_hash, std::string new_hash,
                      std::int64_t new_expires_ms, reply<status> done) override;
  void revoke_session(std::string id, reply<status> done) override;
  void revoked_sessions(std::int64_t now_ms, reply<std::vector<std::string>> done) override;
  void set_ban(std::int64_t account_id, std::int64_t until_ms, std::string reason,
               audit_entry audit, reply<status> done) override;
  void bans(std::int64_t now_ms, reply<std::vector<ban_record>> done) override;

  // core::audit_log
  void read_audit(std::int64_t before_id, int limit, reply<std::vector<audit_entry>> done) override;
  void append_audit(audit_entry e, reply<std::int64_t> done) override;

  // competition::competition_store: one worker operation each (board reads are answered by
  // the backend's in-memory index, see store/competition_book.hpp).
  void ratings_of(std::int64_t account_id, reply<std::vector<rating_record>> done) override;
  void rating_history(std::int64_t account_id, std::string key, std::int64_t before_ms, int limit,
                      reply<std::vector<rating_change>> done) override;
  void leaderboard_top(std::string board, std::int64_t season, std::int64_t offset, int limit,
                       reply<leaderboard_page> done) override;
  void leaderboard_rank(std::string board, std::int64_t season, std::int64_t account_id,
                        reply<std::optional<leaderboard_entry>> done) override;
  void leaderboard_around(std::string board, std::int64_t season, std::int64_t account_id,
                          int radius, reply<leaderboard_page> done) override;
  void leaderboard_seasons(std::string board, reply<std::vector<std::int64_t>> done) override;
  // Not ports, for a board cache outside the store (store/redis_boards.hpp): every row of one
  // board's season as the database holds it, and what each commit changed on the boards from
  // the moment the worker runs this call (`fn` runs on the worker thread).
  void board_rows(std::string board, std::int64_t season, reply<std::vector<board_row>> done);
  void watch_boards(board_listener fn);

  // lobby::game_store, lobby::action_log
  void insert_game(game_record g) override;
  void find_game(std::string id, reply<std::optional<game_record>> done) override;
  void games_of(std::int64_t account_id, int limit, std::int64_t before_ms, bool include_private,
                reply<std::vector<game_record>> done) override;
  void stats_of(std::int64_t account_id, reply<std::vector<mode_stats>> done) override;

  // Write-behind: the entry joins a buffer; the first entry of an empty buffer queues one worker
  // operation, to run `delay` later, that takes everything buffered by then (up to
  // max_per_write) and writes it with backend::append_logs, retried until it commits. So an entry
  // waits at most the delay plus the worker's queue, and the entries of that time share one
  // write. A read submitted after an append sees it (read_log queues the write first).
  void append_log(log_entry e) override;
  const write_behind_stats& log_stats() const noexcept { return log_->stats; }
  std::size_t log_buffered() const;
  void read_log(std::string stream, std::int64_t after_seq, int limit,
                reply<std::vector<log_entry>> done) override;

  // traces::trace_store. Adds waiting for the storage thread are inserted together (at most
  // kTraceGroupMost an operation); beyond kTraceInboxMost waiting, an add is answered unavailable
  // at once.
  static constexpr std::size_t kTraceGroupMost = 512;
  static constexpr std::size_t kTraceInboxMost = 20'000;
  void insert_traces(std::vector<trace_record> ts, reply<std::vector<trace_record>> done) override;
  void list_traces(std::vector<trace_query> qs,
                   reply<std::vector<std::vector<trace_record>>> done) override;
  void find_trace(std::int64_t id, reply<std::optional<trace_record>> done) override;
  void appraise_trace(std::int64_t id, std::int64_t account_id, int value,
                      reply<std::optional<trace_record>> done) override;
  void report_trace(trace_report r, std::int64_t hide_after, std::int64_t trusted_before_ms,
                    reply<std::optional<traces::report_outcome>> done) override;
  void trim_traces(std::int64_t created_before_ms, std::int64_t keep_per_kind,
                   reply<std::int64_t> done) override;
  void reported_traces(moderation_query q,
                       reply<std::vector<traces::reported_trace>> done) override;
  void restore_trace(std::int64_t id, audit_fn audit,
                     reply<std::optional<trace_record>> done) override;
  void delete_trace(std::int64_t id, audit_fn audit,
                    reply<std::optional<trace_record>> done) override;

  // mystery::casebook_store
  void put_casebook(casebook_record c, reply<bool> done) override;
  void find_casebook(std::string game_id, reply<std::optional<casebook_record>> done) override;

  // lobby::room_snapshot_store. Snapshots are coalesced: the first of an empty buffer queues one
  // worker operation, and when it runs it writes the newest snapshot of each room buffered by
  // then (a room that checkpointed three times while the queue was busy is written once).
  void put_snapshot(room_snapshot_record s) override;
  void delete_snapshot(std::string room_id, std::string node, std::int64_t upto_seq) override;
  void snapshots_of(std::string node, reply<std::vector<room_snapshot_record>> done) override;
  void claim_snapshots(std::string from, std::string to,
                       reply<std::vector<room_snapshot_record>> done) override;
  void flush_snapshots(reply<bool> done) override;

  // events::outbox: through a write-behind of its own (the action log's options), each bulk write
  // retried until it commits. A retry after a commit whose answer was lost writes the events again
  // (they have no key of their own here; their envelopes' ids let a reader drop the copies).
  bool append_events(std::vector<event_record> es) override;
  const write_behind_stats& outbox_stats() const noexcept { return events_->stats; }
  std::size_t outbox_buffered() const;

  // health
  std::string backend_name() const override;
  void ping(reply<bool> done) override;

 private:
  // A write-behind buffer (the action log's, the outbox's), shared with the operations it queues:
  // a delayed write still queued when the store is destroyed runs later (at the worker's stop at
  // the latest). `write` stores one batch in one transaction and says how many entries it stored.
  template <class Entry>
  struct write_behind {
    using write_fn = std::int64_t (*)(backend&, const std::vector<Entry>&);
    write_behind(std::vector<worker*> wk, write_behind_options o, write_fn f)
        : ws(std::move(wk)), w(*ws.front()), opts(o), write(f) {}
    const std::vector<worker*> ws;  // the workers that write, in turn; at least one
    worker& w;                      // the first, which counts what is lost
    const write_behind_options opts;
    const write_fn write;
    mutable std::mutex mu;
    // GUARDED_BY(mu): the next write's worker, counted apart for delayed writes and those queued
    // at once (a delayed write tends to follow a full one: one count would hand every full write
    // to the same worker).
    std::size_t turn[2] = {0, 0};
    std::vector<Entry> buf;                          // GUARDED_BY(mu)
    bool scheduled = false;                          // GUARDED_BY(mu): a write is queued for buf
    std::chrono::steady_clock::time_point first_at;  // GUARDED_BY(mu): buf's oldest entry came
    write_behind_stats stats;
  };
  // Buffers `n` entries from `first` (moved from), or none when they do not all fit (dropped and
  // counted: false).
  template <class Entry>
  static bool buffer(const std::shared_ptr<write_behind<Entry>>& wb, Entry* first, std::size_t n);
  // Queues an operation that writes what is buffered when it runs. Called with wb->mu held; false
  // when the worker refused it (everything buffered is then dropped and counted).
  template <class Entry>
  static bool schedule_write(const std::shared_ptr<write_behind<Entry>>& wb,
                             std::chrono::milliseconds delay);

  // The snapshots waiting for their write, newest per room.
  struct snapshot_buffer {
    std::mutex mu;
    std::map<std::string, room_snapshot_record> pending;  // GUARDED_BY(mu), by room id
    bool scheduled = false;                               // GUARDED_BY(mu): a write is queued
  };

  // Adds of traces waiting for the operation that inserts them all at once (insert_traces).
  struct trace_inbox {
    struct entry {
      std::vector<trace_record> ts;
      reply<std::vector<trace_record>> done;
    };
    std::mutex mu;
    std::vector<entry> waiting;  // GUARDED_BY(mu)
    bool scheduled = false;      // GUARDED_BY(mu): an operation is queued that will take them
  };
  // Submits the operation that inserts the adds waiting (called with inbox->mu held); false when
  // the worker refused it.
  static bool submit_group(worker& w, const std::shared_ptr<trace_inbox>& inbox);

  worker& worker_;
  std::shared_ptr<trace_inbox> traces_ = std::make_shared<trace_inbox>();
  std::shared_ptr<write_behind<log_entry>> log_;
  std::shared_ptr<write_behind<event_record>> events_;
  std::shared_ptr<snapshot_buffer> snapshots_;
};

}  // namespace maratang::store
