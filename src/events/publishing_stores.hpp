// Decorators that publish an event for every write a storage port accepts: the action log, game
// records, traces and accounts. Wired at the composition root around the real store, so that rooms
// and services do not know events exist. Each forwards every call to the store it wraps and, once
// that store has accepted the write (the call returned, for the fire-and-forget action log and
// game records; the completion reported success, for traces and accounts), publishes the event on
// the thread that saw it; event_stream::publish never blocks, so that is any thread. Reads pass
// through untouched. Thread-safe as the wrapped store is.
#pragma once

#include "core/account_store.hpp"
#include "events/event_stream.hpp"
#include "lobby/game_store.hpp"
#include "traces/trace_store.hpp"
#include "util/clock.hpp"

namespace maratang::events {

class publishing_action_log final : public lobby::action_log {
 public:
  publishing_action_log(lobby::action_log& inner, event_stream& out) : inner_(inner), out_(out) {}
  void append_log(store::log_entry e) override;
  void read_log(std::string stream, std::int64_t after_seq, int limit,
                store::reply<std::vector<store::log_entry>> done) override;

 private:
  lobby::action_log& inner_;
  event_stream& out_;
};

class publishing_game_store final : public lobby::game_store {
 public:
  publishing_game_store(lobby::game_store& inner, event_stream& out) : inner_(inner), out_(out) {}
  void insert_game(store::game_record g) override;
  void find_game(std::string id, store::reply<std::optional<store::game_record>> done) override;
  void games_of(std::int64_t account_id, int limit, std::int64_t before_ms, bool include_private,
                store::reply<std::vector<store::game_record>> done) override;
  void stats_of(std::int64_t account_id,
                store::reply<std::vector<store::mode_stats>> done) override;

 private:
  lobby::game_store& inner_;
  event_stream& out_;
};

// Publishes each stored trace (with its id) when insert_traces succeeds. Moderation, appraisals
// and trimming are not events (yet).
class publishing_trace_store final : public traces::trace_store {
 public:
  publishing_trace_store(traces::trace_store& inner, event_stream& out)
      : inner_(inner), out_(out) {}
  void insert_traces(std::vector<store::trace_record> ts,
                     store::reply<std::vector<store::trace_record>> done) override;
  void list_traces(std::vector<store::trace_query> qs,
                   store::reply<std::vector<std::vector<store::trace_record>>> done) override;
  void find_trace(std::int64_t id, store::reply<std::optional<store::trace_record>> done) override;
  void appraise_trace(std::int64_t id, std::int64_t account_id, int value,
                      store::reply<std::optional<store::trace_record>> done) override;
  void report_trace(store::trace_report r, std::int64_t hide_after, std::int64_t trusted_before_ms,
                    store::reply<std::optional<traces::report_outcome>> done) override;
  void trim_traces(std::int64_t created_before_ms, std::int64_t keep_per_kind,
                   store::reply<std::int64_t> done) override;
  void reported_traces(store::moderation_query q,
                       store::reply<std::vector<traces::reported_trace>> done) override;
  void restore_trace(std::int64_t id, audit_fn audit,
                     store::reply<std::optional<store::trace_record>> done) override;
  void delete_trace(std::int64_t id, audit_fn audit,
                    store::reply<std::optional<store::trace_record>> done) override;

 private:
  traces::trace_store& inner_;
  event_stream& out_;
};

// Publishes "created" when create_account stores an account, "nickname_set" when set_nickname
// answers ok, and "banned" / "unbanned" when set_ban does (timed by `clk`). Sessions are not
// events: they are credentials, not history.
class publishing_account_store final : public core::account_store {
 public:
  publishing_account_store(core::account_store& inner, event_stream& out, const clock& clk)
      : inner_(inner), out_(out), clk_(clk) {}
  void create_account(store::account a, store::reply<std::optional<store::account>> done) override;
  void find_account(std::int64_t id, store::reply<std::optional<store::account>> done) override;
  void find_account_by_device(std::string device_id,
                              store::reply<std::optional<store::account>> done) override;
  void find_account_by_email(std::string email,
                             store::reply<std::optional<store::account>> done) override;
  void find_account_by_nickname_key(std::string key,
                                    store::reply<std::optional<store::account>> done) override;
  void nicknames_of(std::vector<std::int64_t> ids, store::reply<nickname_list> done) override;
  void set_nickname(std::int64_t account_id, std::string nickname, std::string key,
                    store::reply<store::status> done) override;
  void create_session(store::session_record s, store::reply<store::status> done) override;
  void find_session(std::string id,
                    store::reply<std::optional<store::session_record>> done) override;
  void rotate_refresh(std::string id, std::string old_hash, std::string new_hash,
                      std::int64_t new_expires_ms, store::reply<store::status> done) override;
  void revoke_session(std::string id, store::reply<store::status> done) override;
  void revoked_sessions(std::int64_t now_ms, store::reply<std::vector<std::string>> done) override;
  void set_ban(std::int64_t account_id, std::int64_t until_ms, std::string reason,
               store::audit_entry audit, store::reply<store::status> done) override;
  void bans(std::int64_t now_ms, store::reply<std::vector<store::ban_record>> done) override;

 private:
  core::account_store& inner_;
  event_stream& out_;
  const clock& clk_;
};

}  // namespace maratang::events
