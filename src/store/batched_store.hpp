// The batched store: every storage port (accounts, the audit log, game records, the action log,
// traces, casebooks, the event outbox, health) implemented over one store::worker, which owns a
// synchronous backend (memory, SQLite or PostgreSQL) and runs operations on its own thread in
// batched transactions (group commit). Each port operation is one worker operation, so it is
// atomic; completions run on the worker thread after the commit (store/reply.hpp). Group commit and
// the backend are this class's own business: nothing outside the composition root (src/app/) sees
// the worker.
#pragma once

#include <atomic>
#include <cstddef>
#include <mutex>
#include <vector>

#include "core/account_store.hpp"
#include "events/outbox.hpp"
#include "lobby/game_store.hpp"
#include "modes/mystery/casebook_store.hpp"
#include "store/health.hpp"
#include "traces/trace_store.hpp"

namespace maratang::store {

class worker;

// The write-behind of the action log: entries wait here, and one worker operation writes all that
// arrived meanwhile in one statement (or a few).
struct write_behind_options {
  std::size_t max_buffered = 200'000;  // entries waiting at most; beyond, new ones are dropped
  std::size_t max_per_write = 5000;    // entries per write at most
};

// What the write-behind did, for /metrics. Updated under the store's lock or on the worker.
struct write_behind_stats {
  std::atomic<std::uint64_t> entries{0};  // entries written (new ones; duplicates skipped)
  std::atomic<std::uint64_t> writes{0};   // bulk writes committed
  std::atomic<std::uint64_t> dropped{0};  // entries dropped (buffer full or queue full)
};

class batched_store final : public core::account_store,
                            public core::audit_log,
                            public lobby::game_store,
                            public lobby::action_log,
                            public traces::trace_store,
                            public mystery::casebook_store,
                            public events::outbox,
                            public health {
 public:
  // `w` must outlive this object.
  explicit batched_store(worker& w, write_behind_options wb = {}) : worker_(w), wb_(wb) {}

  // core::account_store
  void create_account(account a, reply<std::optional<account>> done) override;
  void find_account(std::int64_t id, reply<std::optional<account>> done) override;
  void find_account_by_device(std::string device_id, reply<std::optional<account>> done) override;
  void find_account_by_email(std::string email, reply<std::optional<account>> done) override;
  void find_account_by_nickname_key(std::string key, reply<std::optional<account>> done) override;
  void set_nickname(std::int64_t account_id, std::string nickname, std::string key,
                    reply<status> done) override;
  void create_session(session_record s, reply<status> done) override;
  void find_session(std::string id, reply<std::optional<session_record>> done) override;
  void rotate_refresh(std::string id, std::string old_hash, std::string new_hash,
                      std::int64_t new_expires_ms, reply<status> done) override;
  void revoke_session(std::string id, reply<status> done) override;
  void revoked_sessions(std::int64_t now_ms, reply<std::vector<std::string>> done) override;

  // core::audit_log
  void read_audit(std::int64_t before_id, int limit, reply<std::vector<audit_entry>> done) override;

  // lobby::game_store, lobby::action_log
  void insert_game(game_record g) override;
  void find_game(std::string id, reply<std::optional<game_record>> done) override;
  void games_of(std::int64_t account_id, int limit, std::int64_t before_ms, bool include_private,
                reply<std::vector<game_record>> done) override;
  void stats_of(std::int64_t account_id, reply<std::vector<mode_stats>> done) override;

  // Write-behind: the entry joins a buffer; the first entry of an empty buffer queues one worker
  // operation that, when it runs, takes everything buffered by then (up to max_per_write) and
  // writes it with backend::append_logs, retried until it commits. So entries that arrive while
  // the worker is busy share one write, and an idle server writes at once: the delay is the
  // worker's queue, nothing more. Kept in order: a read submitted after an append sees it.
  void append_log(log_entry e) override;
  const write_behind_stats& log_stats() const noexcept { return log_stats_; }
  std::size_t log_buffered() const;
  void read_log(std::string stream, std::int64_t after_seq, int limit,
                reply<std::vector<log_entry>> done) override;

  // traces::trace_store
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

  // events::outbox: one worker operation, retried until it commits.
  bool append_events(std::vector<event_record> es) override;

  // health
  std::string backend_name() const override;
  void ping(reply<bool> done) override;

 private:
  // Queues the operation that drains the buffer. Called with log_mu_ held.
  void schedule_log_write();

  worker& worker_;
  write_behind_options wb_;
  mutable std::mutex log_mu_;
  std::vector<log_entry> log_buf_;  // GUARDED_BY(log_mu_)
  bool log_scheduled_ = false;      // GUARDED_BY(log_mu_): a drain operation is queued
  write_behind_stats log_stats_;
};

}  // namespace maratang::store
