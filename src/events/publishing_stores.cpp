#include "events/publishing_stores.hpp"

#include <utility>

#include "events/topics.hpp"

namespace maratang::events {

// --- action log ---------------------------------------------------------------------------------

void publishing_action_log::append_log(store::log_entry e) {
  auto ev = action_event(e);
  inner_.append_log(std::move(e));
  out_.publish(std::move(ev));
}

void publishing_action_log::read_log(std::string stream, std::int64_t after_seq, int limit,
                                     store::reply<std::vector<store::log_entry>> done) {
  inner_.read_log(std::move(stream), after_seq, limit, std::move(done));
}

// --- game records -------------------------------------------------------------------------------

void publishing_game_store::insert_game(store::game_record g) {
  auto ev = game_event(g);
  inner_.insert_game(std::move(g));
  out_.publish(std::move(ev));
}

void publishing_game_store::find_game(std::string id,
                                      store::reply<std::optional<store::game_record>> done) {
  inner_.find_game(std::move(id), std::move(done));
}

void publishing_game_store::games_of(std::int64_t account_id, int limit, std::int64_t before_ms,
                                     bool include_private,
                                     store::reply<std::vector<store::game_record>> done) {
  inner_.games_of(account_id, limit, before_ms, include_private, std::move(done));
}

void publishing_game_store::stats_of(std::int64_t account_id,
                                     store::reply<std::vector<store::mode_stats>> done) {
  inner_.stats_of(account_id, std::move(done));
}

// --- traces -------------------------------------------------------------------------------------

void publishing_trace_store::insert_traces(std::vector<store::trace_record> ts,
                                           store::reply<std::vector<store::trace_record>> done) {
  inner_.insert_traces(std::move(ts),
                       [this, done = std::move(done)](result<std::vector<store::trace_record>> r) {
                         // Committed: each trace now has its id, which names its event.
                         if (r) {
                           for (const auto& t : *r)
                             out_.publish(trace_event(t));
                         }
                         done(std::move(r));
                       });
}

void publishing_trace_store::list_traces(
    std::vector<store::trace_query> qs,
    store::reply<std::vector<std::vector<store::trace_record>>> done) {
  inner_.list_traces(std::move(qs), std::move(done));
}

void publishing_trace_store::find_trace(std::int64_t id,
                                        store::reply<std::optional<store::trace_record>> done) {
  inner_.find_trace(id, std::move(done));
}

void publishing_trace_store::appraise_trace(std::int64_t id, std::int64_t account_id, int value,
                                            store::reply<std::optional<store::trace_record>> done) {
  inner_.appraise_trace(id, account_id, value, std::move(done));
}

void publishing_trace_store::report_trace(
    store::trace_report r, std::int64_t hide_after, std::int64_t trusted_before_ms,
    store::reply<std::optional<traces::report_outcome>> done) {
  inner_.report_trace(std::move(r), hide_after, trusted_before_ms, std::move(done));
}

void publishing_trace_store::trim_traces(std::int64_t created_before_ms, std::int64_t keep_per_kind,
                                         store::reply<std::int64_t> done) {
  inner_.trim_traces(created_before_ms, keep_per_kind, std::move(done));
}

void publishing_trace_store::reported_traces(
    store::moderation_query q, store::reply<std::vector<traces::reported_trace>> done) {
  inner_.reported_traces(q, std::move(done));
}

void publishing_trace_store::restore_trace(std::int64_t id, audit_fn audit,
                                           store::reply<std::optional<store::trace_record>> done) {
  inner_.restore_trace(id, std::move(audit), std::move(done));
}

void publishing_trace_store::delete_trace(std::int64_t id, audit_fn audit,
                                          store::reply<std::optional<store::trace_record>> done) {
  inner_.delete_trace(id, std::move(audit), std::move(done));
}

// --- accounts -----------------------------------------------------------------------------------

void publishing_account_store::create_account(store::account a,
                                              store::reply<std::optional<store::account>> done) {
  inner_.create_account(std::move(a),
                        [this, done = std::move(done)](result<std::optional<store::account>> r) {
                          if (r && *r) out_.publish(account_created_event(**r));
                          done(std::move(r));
                        });
}

void publishing_account_store::set_nickname(std::int64_t account_id, std::string nickname,
                                            std::string key, store::reply<store::status> done) {
  inner_.set_nickname(
      account_id, nickname, std::move(key),
      [this, account_id, nickname, done = std::move(done)](result<store::status> r) {
        if (r && *r == store::status::ok)
          out_.publish(nickname_set_event(account_id, nickname, clk_.now_ms()));
        done(std::move(r));
      });
}

void publishing_account_store::find_account(std::int64_t id,
                                            store::reply<std::optional<store::account>> done) {
  inner_.find_account(id, std::move(done));
}

void publishing_account_store::find_account_by_device(
    std::string device_id, store::reply<std::optional<store::account>> done) {
  inner_.find_account_by_device(std::move(device_id), std::move(done));
}

void publishing_account_store::find_account_by_email(
    std::string email, store::reply<std::optional<store::account>> done) {
  inner_.find_account_by_email(std::move(email), std::move(done));
}

void publishing_account_store::find_account_by_nickname_key(
    std::string key, store::reply<std::optional<store::account>> done) {
  inner_.find_account_by_nickname_key(std::move(key), std::move(done));
}

void publishing_account_store::nicknames_of(std::vector<std::int64_t> ids,
                                            store::reply<nickname_list> done) {
  inner_.nicknames_of(std::move(ids), std::move(done));
}

void publishing_account_store::create_session(store::session_record s,
                                              store::reply<store::status> done) {
  inner_.create_session(std::move(s), std::move(done));
}

void publishing_account_store::find_session(
    std::string id, store::reply<std::optional<store::session_record>> done) {
  inner_.find_session(std::move(id), std::move(done));
}

void publishing_account_store::rotate_refresh(std::string id, std::string old_hash,
                                              std::string new_hash, std::int64_t new_expires_ms,
                                              store::reply<store::status> done) {
  inner_.rotate_refresh(std::move(id), std::move(old_hash), std::move(new_hash), new_expires_ms,
                        std::move(done));
}

void publishing_account_store::revoke_session(std::string id, store::reply<store::status> done) {
  inner_.revoke_session(std::move(id), std::move(done));
}

void publishing_account_store::revoked_sessions(std::int64_t now_ms,
                                                store::reply<std::vector<std::string>> done) {
  inner_.revoked_sessions(now_ms, std::move(done));
}

void publishing_account_store::set_ban(std::int64_t account_id, std::int64_t until_ms,
                                       std::string reason, store::audit_entry audit,
                                       store::reply<store::status> done) {
  const std::int64_t by = audit.actor;
  inner_.set_ban(account_id, until_ms, std::move(reason), std::move(audit),
                 [this, account_id, until_ms, by, done = std::move(done)](result<store::status> r) {
                   if (r && *r == store::status::ok)
                     out_.publish(ban_event(account_id, until_ms, by, clk_.now_ms()));
                   done(std::move(r));
                 });
}

void publishing_account_store::bans(std::int64_t now_ms,
                                    store::reply<std::vector<store::ban_record>> done) {
  inner_.bans(now_ms, std::move(done));
}

}  // namespace maratang::events
