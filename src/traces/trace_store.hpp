// The traces port: what traces::trace_service needs from storage. Owned here, by its user;
// implemented by store::batched_store (over the memory, SQLite or PostgreSQL backend). One contract
// suite checks every implementation. Completions: see store/reply.hpp.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "store/records.hpp"
#include "store/reply.hpp"

namespace maratang::traces {

// A trace with its reports, as the moderation queue shows it.
struct reported_trace {
  store::trace_record trace;
  std::vector<store::trace_report> reports;  // by reporter account id
};

// The outcome of a report that found its trace.
struct report_outcome {
  store::trace_record trace;      // after the report
  bool already_reported = false;  // this account had reported it before: nothing changed
};

class trace_store {
 public:
  virtual ~trace_store() = default;

  // Stores every trace in one transaction (all or none): the traces with their ids (> 0,
  // increasing; rating, votes, reports and hidden start at zero/false).
  virtual void insert_traces(std::vector<store::trace_record> ts,
                             store::reply<std::vector<store::trace_record>> done) = 0;
  // Several listings read together (one per query, in order; see store::trace_query: never
  // hidden traces, newest first).
  virtual void list_traces(std::vector<store::trace_query> qs,
                           store::reply<std::vector<std::vector<store::trace_record>>> done) = 0;
  // Any trace by id, hidden ones included.
  virtual void find_trace(std::int64_t id,
                          store::reply<std::optional<store::trace_record>> done) = 0;
  // Sets the account's appraisal (+1 or -1) of a visible message, replacing an earlier one: the
  // message after it, or an empty optional when no visible message has that id.
  virtual void appraise_trace(std::int64_t id, std::int64_t account_id, int value,
                              store::reply<std::optional<store::trace_record>> done) = 0;
  // Reports a visible trace, once per account (a repeat changes nothing: already_reported).
  // Every report counts in `reports`; the report carries weight (whatever r.weighty says) when the
  // reporting account exists and was created at or before `trusted_before_ms`, and the trace is
  // hidden once weighty reports come from at least `hide_after` different sources. Empty when no
  // visible trace has that id.
  virtual void report_trace(store::trace_report r, std::int64_t hide_after,
                            std::int64_t trusted_before_ms,
                            store::reply<std::optional<report_outcome>> done) = 0;
  // Deletes traces created before created_before_ms (when > 0) and, per (area, kind), all but the
  // newest keep_per_kind (when > 0), with their appraisals and reports: how many went.
  virtual void trim_traces(std::int64_t created_before_ms, std::int64_t keep_per_kind,
                           store::reply<std::int64_t> done) = 0;

  // Moderation. The queue: see store::moderation_query.
  virtual void reported_traces(store::moderation_query q,
                               store::reply<std::vector<reported_trace>> done) = 0;
  // Restore: unhides the trace and forgets its reports (so only new reports can hide it again).
  // Delete: removes it with its appraisals and reports. Each writes the audit line that `audit`
  // makes from the trace as it was, in the same transaction (called on the store's thread; it
  // must not block). Restore answers the trace after it, delete the trace as it was. Empty when no
  // trace has that id (then nothing is written).
  using audit_fn = std::function<store::audit_entry(const store::trace_record& before)>;
  virtual void restore_trace(std::int64_t id, audit_fn audit,
                             store::reply<std::optional<store::trace_record>> done) = 0;
  virtual void delete_trace(std::int64_t id, audit_fn audit,
                            store::reply<std::optional<store::trace_record>> done) = 0;
};

}  // namespace maratang::traces
