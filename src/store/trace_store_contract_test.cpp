// The contract of traces::trace_store (traces/trace_store.hpp), and of core::audit_log
// (core/account_store.hpp) whose lines the moderation actions write, checked through the ports,
// as traces::trace_service and the admin API use them, against every implementation
// (store/port_contract.hpp).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/account_store.hpp"
#include "store/port_contract.hpp"
#include "store/records.hpp"
#include "traces/trace_store.hpp"

namespace maratang::store {
namespace {

using testing::call;
using testing::implementation_name;
using testing::implementations;
using traces::report_outcome;
using traces::reported_trace;
using traces::trace_store;

trace_record trace(const std::string& area, trace_kind kind, std::int64_t created_ms = 1'000) {
  trace_record t;
  t.area = area;
  t.kind = kind;
  t.account_id = 11;
  t.u_uuid = "uuid-" + area;
  t.payload_json = R"({"o_type":1,"text":"hello"})";
  t.created_ms = created_ms;
  return t;
}

trace_record at(trace_record t, double x, double y, double z) {
  t.has_pos = true;
  t.x = x;
  t.y = y;
  t.z = z;
  return t;
}

trace_query query(const std::string& area, trace_kind kind, int limit = 100) {
  trace_query q;
  q.area = area;
  q.kind = kind;
  q.limit = limit;
  return q;
}

std::vector<std::int64_t> ids_of(const std::vector<trace_record>& ts) {
  std::vector<std::int64_t> ids;
  for (const auto& t : ts)
    ids.push_back(t.id);
  return ids;
}

std::vector<std::int64_t> ids_of(const std::vector<reported_trace>& ts) {
  std::vector<std::int64_t> ids;
  for (const auto& t : ts)
    ids.push_back(t.trace.id);
  return ids;
}

// What trace_service's audit maker does, in small: a line naming the trace, recording what it was.
trace_store::audit_fn audit_line(std::int64_t admin, std::string action) {
  return [admin, action = std::move(action)](const trace_record& t) {
    return audit_entry{0,
                       5'000 + t.id,
                       admin,
                       action,
                       "trace:" + std::to_string(t.id),
                       R"({"reports":)" + std::to_string(t.reports) + R"(,"hidden":)" +
                           (t.hidden ? "true" : "false") + "}"};
  };
}

constexpr std::int64_t kOld = 1'000;      // created_ms of trusted accounts
constexpr std::int64_t kTrusted = 2'000;  // trusted_before_ms: created at or before it
constexpr std::int64_t kNew = 3'000;      // created_ms of untrusted accounts

class trace_store_contract : public testing::port_contract {
 protected:
  // Inserts traces that must be stored; returns them with their ids.
  std::vector<trace_record> insert(std::vector<trace_record> ts) {
    return call(traces(), &trace_store::insert_traces, std::move(ts));
  }
  std::int64_t insert_one(trace_record t) {
    auto out = insert({std::move(t)});
    return out.empty() ? 0 : out[0].id;
  }
  std::vector<trace_record> list(const trace_query& q) {
    auto r = call(traces(), &trace_store::list_traces, std::vector<trace_query>{q});
    EXPECT_EQ(r.size(), 1u);
    return r.empty() ? std::vector<trace_record>{} : r[0];
  }
  std::optional<trace_record> find(std::int64_t id) {
    return call(traces(), &trace_store::find_trace, id);
  }
  std::optional<trace_record> appraise(std::int64_t id, std::int64_t account, int value) {
    return call(traces(), &trace_store::appraise_trace, id, account, value);
  }
  // An account that exists, created at `created_ms`: its id (reports weigh by its age).
  std::int64_t account_created_at(std::int64_t created_ms) {
    account a;
    a.device_id = "dev-" + std::to_string(++accounts_made_);
    a.created_ms = created_ms;
    auto made = call(accounts(), &core::account_store::create_account, a);
    EXPECT_TRUE(made.has_value());
    return made ? made->id : 0;
  }
  std::optional<report_outcome> report(std::int64_t id, std::int64_t account,
                                       const std::string& source, std::int64_t hide_after = 3) {
    return call(traces(), &trace_store::report_trace, trace_report{id, account, source, true},
                hide_after, kTrusted);
  }
  std::vector<reported_trace> queue(bool hidden_only, int limit = 100, std::int64_t before = 0) {
    moderation_query q;
    q.hidden_only = hidden_only;
    q.limit = limit;
    q.before_id = before;
    return call(traces(), &trace_store::reported_traces, q);
  }
  std::vector<audit_entry> read_audit(std::int64_t before = 0, int limit = 100) {
    return call(audit(), &core::audit_log::read_audit, before, limit);
  }

 private:
  int accounts_made_ = 0;
};

// --- Inserting and finding --------------------------------------------------------------------

TEST_P(trace_store_contract, insert_traces_assigns_increasing_ids_and_fresh_counters) {
  trace_record a = at(trace("area-1", trace_kind::message), 1.5, -2.25, 3.0);
  a.rating = 5;  // whatever the caller says, they start at zero
  a.votes = 6;
  a.reports = 7;
  a.hidden = true;
  a.id = 999;
  auto first =
      insert({a, trace("area-1", trace_kind::object), trace("area-2", trace_kind::phantom)});
  ASSERT_EQ(first.size(), 3u);
  EXPECT_GT(first[0].id, 0);
  EXPECT_LT(first[0].id, first[1].id);
  EXPECT_LT(first[1].id, first[2].id);
  for (const auto& t : first) {
    EXPECT_EQ(t.rating, 0);
    EXPECT_EQ(t.votes, 0);
    EXPECT_EQ(t.reports, 0);
    EXPECT_FALSE(t.hidden);
  }
  // Later inserts get higher ids still.
  auto second = insert({trace("area-1", trace_kind::message)});
  ASSERT_EQ(second.size(), 1u);
  EXPECT_GT(second[0].id, first[2].id);

  // Every field reads back.
  auto found = find(first[0].id);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->id, first[0].id);
  EXPECT_EQ(found->area, "area-1");
  EXPECT_EQ(found->kind, trace_kind::message);
  EXPECT_EQ(found->account_id, 11);
  EXPECT_EQ(found->u_uuid, "uuid-area-1");
  EXPECT_EQ(found->payload_json, a.payload_json);
  EXPECT_TRUE(found->has_pos);
  EXPECT_DOUBLE_EQ(found->x, 1.5);
  EXPECT_DOUBLE_EQ(found->y, -2.25);
  EXPECT_DOUBLE_EQ(found->z, 3.0);
  EXPECT_EQ(found->created_ms, 1'000);
  EXPECT_EQ(found->rating, 0);
  EXPECT_EQ(found->votes, 0);
  EXPECT_EQ(found->reports, 0);
  EXPECT_FALSE(found->hidden);
  auto unplaced = find(first[1].id);
  ASSERT_TRUE(unplaced.has_value());
  EXPECT_FALSE(unplaced->has_pos);
  EXPECT_EQ(unplaced->kind, trace_kind::object);
  EXPECT_EQ(find(first[2].id)->kind, trace_kind::phantom);
  EXPECT_FALSE(find(second[0].id + 1).has_value());
}

TEST_P(trace_store_contract, insert_traces_of_nothing_stores_nothing) {
  EXPECT_TRUE(insert({}).empty());
  EXPECT_TRUE(list(query("area-1", trace_kind::object)).empty());
}

// --- Listing ----------------------------------------------------------------------------------

TEST_P(trace_store_contract, list_traces_answers_each_query_in_order_newest_first) {
  auto ts = insert({trace("a", trace_kind::object), trace("a", trace_kind::message),
                    trace("b", trace_kind::object), trace("a", trace_kind::object),
                    trace("a", trace_kind::phantom), trace("a", trace_kind::object)});
  ASSERT_EQ(ts.size(), 6u);
  auto r = call(
      traces(), &trace_store::list_traces,
      std::vector<trace_query>{query("a", trace_kind::object), query("b", trace_kind::object),
                               query("a", trace_kind::message), query("c", trace_kind::object),
                               query("a", trace_kind::phantom), query("a", trace_kind::object, 2)});
  ASSERT_EQ(r.size(), 6u);
  EXPECT_EQ(ids_of(r[0]), (std::vector<std::int64_t>{ts[5].id, ts[3].id, ts[0].id}));
  EXPECT_EQ(ids_of(r[1]), (std::vector<std::int64_t>{ts[2].id}));
  EXPECT_EQ(ids_of(r[2]), (std::vector<std::int64_t>{ts[1].id}));
  EXPECT_TRUE(r[3].empty());
  EXPECT_EQ(ids_of(r[4]), (std::vector<std::int64_t>{ts[4].id}));
  EXPECT_EQ(ids_of(r[5]), (std::vector<std::int64_t>{ts[5].id, ts[3].id}));  // the limit
  EXPECT_TRUE(call(traces(), &trace_store::list_traces, std::vector<trace_query>{}).empty());
}

TEST_P(trace_store_contract, list_traces_pages_by_id_and_filters_by_creation_time) {
  std::vector<trace_record> in;
  for (int i = 0; i < 5; ++i)
    in.push_back(trace("a", trace_kind::object, 1'000 * (i + 1)));  // 1000 .. 5000
  auto ts = insert(in);
  ASSERT_EQ(ts.size(), 5u);
  trace_query q = query("a", trace_kind::object, 2);
  EXPECT_EQ(ids_of(list(q)), (std::vector<std::int64_t>{ts[4].id, ts[3].id}));
  q.before_id = ts[3].id;  // the next page: ids below it
  EXPECT_EQ(ids_of(list(q)), (std::vector<std::int64_t>{ts[2].id, ts[1].id}));
  q.before_id = ts[1].id;
  EXPECT_EQ(ids_of(list(q)), (std::vector<std::int64_t>{ts[0].id}));
  q.before_id = ts[0].id;
  EXPECT_TRUE(list(q).empty());

  trace_query recent = query("a", trace_kind::object);
  recent.created_after = 3'000;  // created_ms >= 3000
  EXPECT_EQ(ids_of(list(recent)), (std::vector<std::int64_t>{ts[4].id, ts[3].id, ts[2].id}));
  EXPECT_TRUE(list(query("a", trace_kind::object, 0)).empty());  // nothing when limit <= 0
  EXPECT_TRUE(list(query("a", trace_kind::object, -1)).empty());
}

TEST_P(trace_store_contract, list_traces_near_keeps_placed_traces_within_the_radius) {
  auto ts = insert({at(trace("a", trace_kind::object), 0, 0, 0),       // at the centre
                    at(trace("a", trace_kind::object), 3, 4, 0),       // distance 5: on the edge
                    at(trace("a", trace_kind::object), 3, 4, 1),       // just beyond (z counts)
                    at(trace("a", trace_kind::object), 100, 0, 0),     // far
                    trace("a", trace_kind::object),                    // no position
                    at(trace("a", trace_kind::object), -1, -2, -2)});  // distance 3
  ASSERT_EQ(ts.size(), 6u);
  trace_query q = query("a", trace_kind::object);
  q.near = true;
  q.radius = 5;
  EXPECT_EQ(ids_of(list(q)), (std::vector<std::int64_t>{ts[5].id, ts[1].id, ts[0].id}));
  q.x = 100;
  q.radius = 1;
  EXPECT_EQ(ids_of(list(q)), (std::vector<std::int64_t>{ts[3].id}));
  // Without `near`, position does not matter.
  EXPECT_EQ(list(query("a", trace_kind::object)).size(), 6u);
  // near, as trace_service asks it: three kinds at once, each near.
  q = query("a", trace_kind::message);
  q.near = true;
  q.radius = 1'000;
  EXPECT_TRUE(list(q).empty());
}

TEST_P(trace_store_contract, hidden_traces_are_never_listed_but_can_be_found) {
  auto ts = insert(
      {at(trace("a", trace_kind::object), 1, 1, 1), at(trace("a", trace_kind::object), 1, 1, 1)});
  ASSERT_EQ(ts.size(), 2u);
  const std::int64_t reporter = account_created_at(kOld);
  auto out = report(ts[1].id, reporter, "src-1", 1);
  ASSERT_TRUE(out.has_value());
  ASSERT_TRUE(out->trace.hidden);
  EXPECT_EQ(ids_of(list(query("a", trace_kind::object))), (std::vector<std::int64_t>{ts[0].id}));
  trace_query near = query("a", trace_kind::object);
  near.near = true;
  near.radius = 10;
  EXPECT_EQ(ids_of(list(near)), (std::vector<std::int64_t>{ts[0].id}));
  trace_query page = query("a", trace_kind::object);
  page.before_id = ts[1].id + 1;
  EXPECT_EQ(ids_of(list(page)), (std::vector<std::int64_t>{ts[0].id}));
  auto found = find(ts[1].id);
  ASSERT_TRUE(found.has_value());
  EXPECT_TRUE(found->hidden);
}

// --- Appraisals -------------------------------------------------------------------------------

TEST_P(trace_store_contract, appraise_sets_one_vote_per_account_replacing_an_earlier_one) {
  const std::int64_t id = insert_one(trace("a", trace_kind::message));
  auto t = appraise(id, 1, +1);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->id, id);
  EXPECT_EQ(t->rating, 1);
  EXPECT_EQ(t->votes, 1);
  t = appraise(id, 2, +1);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->rating, 2);
  EXPECT_EQ(t->votes, 2);
  t = appraise(id, 1, -1);  // account 1 changes its mind
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->rating, 0);
  EXPECT_EQ(t->votes, 2);
  t = appraise(id, 1, -1);  // the same again changes nothing
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->rating, 0);
  EXPECT_EQ(t->votes, 2);
  auto found = find(id);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->rating, 0);
  EXPECT_EQ(found->votes, 2);
}

TEST_P(trace_store_contract, appraise_is_empty_unless_a_visible_message_has_the_id) {
  auto ts = insert({trace("a", trace_kind::object), trace("a", trace_kind::phantom),
                    trace("a", trace_kind::message)});
  ASSERT_EQ(ts.size(), 3u);
  EXPECT_FALSE(appraise(ts[0].id, 1, +1).has_value());        // an object
  EXPECT_FALSE(appraise(ts[1].id, 1, +1).has_value());        // a phantom
  EXPECT_FALSE(appraise(ts[2].id + 100, 1, +1).has_value());  // no such trace
  // A hidden message.
  ASSERT_TRUE(report(ts[2].id, account_created_at(kOld), "src", 1)->trace.hidden);
  EXPECT_FALSE(appraise(ts[2].id, 1, +1).has_value());
  // None of them was changed.
  for (const auto& t : ts) {
    auto found = find(t.id);
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->votes, 0) << "trace " << t.id;
    EXPECT_EQ(found->rating, 0) << "trace " << t.id;
  }
}

// --- Reports ----------------------------------------------------------------------------------

TEST_P(trace_store_contract, every_report_counts_and_a_repeat_is_already_reported) {
  const std::int64_t id = insert_one(trace("a", trace_kind::object));
  const std::int64_t alice = account_created_at(kOld);
  const std::int64_t bob = account_created_at(kOld);
  auto r = report(id, alice, "src-a");
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->already_reported);
  EXPECT_EQ(r->trace.id, id);
  EXPECT_EQ(r->trace.reports, 1);
  EXPECT_FALSE(r->trace.hidden);
  // Alice again, even from elsewhere: nothing changes.
  r = report(id, alice, "src-other");
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->already_reported);
  EXPECT_EQ(r->trace.reports, 1);
  r = report(id, bob, "src-b");
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->already_reported);
  EXPECT_EQ(r->trace.reports, 2);
  EXPECT_EQ(find(id)->reports, 2);
}

TEST_P(trace_store_contract, report_is_empty_unless_a_visible_trace_has_the_id) {
  const std::int64_t id = insert_one(trace("a", trace_kind::object));
  const std::int64_t alice = account_created_at(kOld);
  const std::int64_t bob = account_created_at(kOld);
  EXPECT_FALSE(report(id + 100, alice, "src").has_value());
  ASSERT_TRUE(report(id, alice, "src-a", 1)->trace.hidden);
  // Hidden now: not reportable, and nothing changes.
  EXPECT_FALSE(report(id, bob, "src-b", 1).has_value());
  EXPECT_EQ(find(id)->reports, 1);
}

// A trace is hidden once weighty reports come from hide_after different sources; a report is
// weighty when its account was created at or before trusted_before_ms. Every report counts.
TEST_P(trace_store_contract, weighty_reports_from_enough_sources_hide_a_trace) {
  const std::int64_t id = insert_one(trace("a", trace_kind::message));
  const std::int64_t newcomer = account_created_at(kNew);
  const std::int64_t newcomer2 = account_created_at(kNew);
  const std::int64_t old1 = account_created_at(kOld);
  const std::int64_t old2 = account_created_at(kOld);
  const std::int64_t just_trusted = account_created_at(kTrusted);  // "at or before"

  // Two new accounts from two sources: counted, but they cannot hide it.
  auto r = report(id, newcomer, "src-1", 2);
  ASSERT_TRUE(r.has_value());
  r = report(id, newcomer2, "src-2", 2);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->trace.reports, 2);
  EXPECT_FALSE(r->trace.hidden);
  // Two trusted accounts behind one source count as one source.
  r = report(id, old1, "src-3", 2);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->trace.hidden);
  r = report(id, old2, "src-3", 2);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->trace.reports, 4);
  EXPECT_FALSE(r->trace.hidden);
  EXPECT_FALSE(find(id)->hidden);
  // A second source, from an account created exactly at trusted_before_ms: hidden.
  r = report(id, just_trusted, "src-1", 2);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->already_reported);
  EXPECT_EQ(r->trace.reports, 5);
  EXPECT_TRUE(r->trace.hidden);
  EXPECT_TRUE(find(id)->hidden);

  // The queue shows who reported and which reports weighed, by reporter account id.
  auto q = queue(false);
  ASSERT_EQ(q.size(), 1u);
  ASSERT_EQ(q[0].reports.size(), 5u);
  const std::vector<std::pair<std::int64_t, bool>> want = {
      {newcomer, false}, {newcomer2, false}, {old1, true}, {old2, true}, {just_trusted, true}};
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(q[0].reports[i].trace_id, id);
    EXPECT_EQ(q[0].reports[i].account_id, want[i].first) << i;
    EXPECT_EQ(q[0].reports[i].weighty, want[i].second) << i;
  }
  EXPECT_EQ(q[0].reports[2].source, "src-3");
}

// --- Trimming ---------------------------------------------------------------------------------

TEST_P(trace_store_contract, trim_deletes_traces_created_before_the_cutoff) {
  auto ts = insert({trace("a", trace_kind::object, 1'000), trace("a", trace_kind::object, 2'000),
                    trace("b", trace_kind::message, 1'500), trace("a", trace_kind::object, 3'000)});
  ASSERT_EQ(ts.size(), 4u);
  EXPECT_EQ(call(traces(), &trace_store::trim_traces, std::int64_t{2'000}, std::int64_t{0}), 2);
  EXPECT_FALSE(find(ts[0].id).has_value());
  EXPECT_FALSE(find(ts[2].id).has_value());
  EXPECT_TRUE(find(ts[1].id).has_value());  // created at the cutoff: kept
  EXPECT_TRUE(find(ts[3].id).has_value());
  EXPECT_EQ(ids_of(list(query("a", trace_kind::object))),
            (std::vector<std::int64_t>{ts[3].id, ts[1].id}));
  // Nothing to do: none deleted.
  EXPECT_EQ(call(traces(), &trace_store::trim_traces, std::int64_t{0}, std::int64_t{0}), 0);
  EXPECT_EQ(call(traces(), &trace_store::trim_traces, std::int64_t{2'000}, std::int64_t{0}), 0);
}

TEST_P(trace_store_contract, trim_keeps_the_newest_per_area_and_kind) {
  std::vector<trace_record> in;
  for (int i = 0; i < 4; ++i) {
    in.push_back(trace("a", trace_kind::object));
    in.push_back(trace("a", trace_kind::message));
    in.push_back(trace("b", trace_kind::object));
  }
  in.push_back(trace("c", trace_kind::phantom));
  auto ts = insert(in);
  ASSERT_EQ(ts.size(), 13u);
  // Per (area, kind) 4, 4, 4 and 1: keeping 2 deletes 2 + 2 + 2.
  EXPECT_EQ(call(traces(), &trace_store::trim_traces, std::int64_t{0}, std::int64_t{2}), 6);
  EXPECT_EQ(ids_of(list(query("a", trace_kind::object))),
            (std::vector<std::int64_t>{ts[9].id, ts[6].id}));
  EXPECT_EQ(ids_of(list(query("a", trace_kind::message))),
            (std::vector<std::int64_t>{ts[10].id, ts[7].id}));
  EXPECT_EQ(ids_of(list(query("b", trace_kind::object))),
            (std::vector<std::int64_t>{ts[11].id, ts[8].id}));
  EXPECT_EQ(ids_of(list(query("c", trace_kind::phantom))), (std::vector<std::int64_t>{ts[12].id}));
  EXPECT_FALSE(find(ts[0].id).has_value());
}

// Both rules apply together: what is too old goes, and of the rest all but the newest per kind.
TEST_P(trace_store_contract, trim_by_age_and_count_together) {
  auto ts = insert({trace("a", trace_kind::object, 1'000), trace("a", trace_kind::object, 5'000),
                    trace("a", trace_kind::object, 6'000), trace("a", trace_kind::object, 7'000),
                    trace("b", trace_kind::object, 500)});
  ASSERT_EQ(ts.size(), 5u);
  // ts[0] and ts[4] are too old; of the rest of (a, object), the newest 2 stay.
  EXPECT_EQ(call(traces(), &trace_store::trim_traces, std::int64_t{2'000}, std::int64_t{2}), 3);
  EXPECT_EQ(ids_of(list(query("a", trace_kind::object))),
            (std::vector<std::int64_t>{ts[3].id, ts[2].id}));
  EXPECT_TRUE(list(query("b", trace_kind::object)).empty());
}

// Trimmed traces take their reports with them: they leave the moderation queue.
TEST_P(trace_store_contract, trimmed_traces_leave_the_moderation_queue) {
  auto ts = insert({trace("a", trace_kind::object, 1'000), trace("a", trace_kind::object, 9'000)});
  ASSERT_EQ(ts.size(), 2u);
  const std::int64_t alice = account_created_at(kOld);
  ASSERT_TRUE(report(ts[0].id, alice, "src").has_value());
  ASSERT_TRUE(report(ts[1].id, alice, "src").has_value());
  EXPECT_EQ(call(traces(), &trace_store::trim_traces, std::int64_t{5'000}, std::int64_t{0}), 1);
  EXPECT_EQ(ids_of(queue(false)), (std::vector<std::int64_t>{ts[1].id}));
}

// --- Moderation -------------------------------------------------------------------------------

TEST_P(trace_store_contract, the_queue_lists_reported_traces_of_every_kind_and_area) {
  auto ts = insert({trace("a", trace_kind::object), trace("b", trace_kind::message),
                    trace("c", trace_kind::phantom), trace("a", trace_kind::object),
                    trace("d", trace_kind::message)});
  ASSERT_EQ(ts.size(), 5u);
  const std::int64_t alice = account_created_at(kOld);
  const std::int64_t bob = account_created_at(kOld);
  ASSERT_TRUE(report(ts[0].id, alice, "src-a").has_value());
  ASSERT_TRUE(report(ts[1].id, alice, "src-a", 1).has_value());  // hidden
  ASSERT_TRUE(report(ts[2].id, bob, "src-b").has_value());
  ASSERT_TRUE(report(ts[2].id, alice, "src-a").has_value());
  ASSERT_TRUE(report(ts[4].id, bob, "src-b", 1).has_value());  // hidden
  // ts[3] was never reported.

  auto all = queue(false);
  EXPECT_EQ(ids_of(all), (std::vector<std::int64_t>{ts[4].id, ts[2].id, ts[1].id, ts[0].id}));
  ASSERT_EQ(all.size(), 4u);
  EXPECT_TRUE(all[0].trace.hidden);
  EXPECT_EQ(all[1].trace.reports, 2);
  ASSERT_EQ(all[1].reports.size(), 2u);  // by reporter account id
  EXPECT_EQ(all[1].reports[0].account_id, std::min(alice, bob));
  EXPECT_EQ(all[1].reports[1].account_id, std::max(alice, bob));
  EXPECT_EQ(all[1].trace.area, "c");
  EXPECT_EQ(all[1].trace.kind, trace_kind::phantom);

  EXPECT_EQ(ids_of(queue(true)), (std::vector<std::int64_t>{ts[4].id, ts[1].id}));
  // Paging.
  EXPECT_EQ(ids_of(queue(false, 2)), (std::vector<std::int64_t>{ts[4].id, ts[2].id}));
  EXPECT_EQ(ids_of(queue(false, 2, ts[2].id)), (std::vector<std::int64_t>{ts[1].id, ts[0].id}));
  EXPECT_EQ(ids_of(queue(true, 100, ts[4].id)), (std::vector<std::int64_t>{ts[1].id}));
  EXPECT_TRUE(queue(false, 0).empty());
}

TEST_P(trace_store_contract, restore_unhides_forgets_the_reports_and_writes_its_audit_line) {
  const std::int64_t id = insert_one(trace("a", trace_kind::message));
  const std::int64_t alice = account_created_at(kOld);
  const std::int64_t bob = account_created_at(kOld);
  ASSERT_TRUE(report(id, alice, "src-a", 2).has_value());
  ASSERT_TRUE(report(id, bob, "src-b", 2)->trace.hidden);

  auto seen = std::make_shared<std::vector<trace_record>>();  // what the audit maker was given
  auto caller = std::this_thread::get_id();
  auto on_store_thread = std::make_shared<std::atomic<bool>>(true);
  auto maker = [seen, caller, on_store_thread,
                line = audit_line(77, "trace.restore")](const trace_record& before) {
    seen->push_back(before);
    if (std::this_thread::get_id() == caller) *on_store_thread = false;
    return line(before);
  };
  auto restored = call(traces(), &trace_store::restore_trace, id, trace_store::audit_fn(maker));
  ASSERT_TRUE(restored.has_value());
  EXPECT_EQ(restored->id, id);
  EXPECT_FALSE(restored->hidden);
  EXPECT_EQ(restored->reports, 0);
  // The audit maker saw the trace as it was, on the store's thread.
  ASSERT_EQ(seen->size(), 1u);
  EXPECT_EQ((*seen)[0].id, id);
  EXPECT_TRUE((*seen)[0].hidden);
  EXPECT_EQ((*seen)[0].reports, 2);
  EXPECT_TRUE(on_store_thread->load());

  // Its line is in the audit log, as made.
  auto lines = read_audit();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_GT(lines[0].id, 0);
  EXPECT_EQ(lines[0].ts_ms, 5'000 + id);
  EXPECT_EQ(lines[0].actor, 77);
  EXPECT_EQ(lines[0].action, "trace.restore");
  EXPECT_EQ(lines[0].target, "trace:" + std::to_string(id));
  EXPECT_EQ(lines[0].detail_json, R"({"reports":2,"hidden":true})");

  // Listed again, out of the queue, reports forgotten.
  auto found = find(id);
  ASSERT_TRUE(found.has_value());
  EXPECT_FALSE(found->hidden);
  EXPECT_EQ(found->reports, 0);
  EXPECT_EQ(ids_of(list(query("a", trace_kind::message))), (std::vector<std::int64_t>{id}));
  EXPECT_TRUE(queue(false).empty());
  EXPECT_TRUE(queue(true).empty());

  // The same accounts may report it again, and only new reports can hide it again.
  auto again = report(id, alice, "src-a", 2);
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(again->already_reported);
  EXPECT_EQ(again->trace.reports, 1);
  EXPECT_FALSE(again->trace.hidden);
  again = report(id, bob, "src-b", 2);
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(again->already_reported);
  EXPECT_TRUE(again->trace.hidden);
}

TEST_P(trace_store_contract, delete_removes_the_trace_and_writes_its_audit_line) {
  auto ts = insert({trace("a", trace_kind::message), trace("a", trace_kind::message)});
  ASSERT_EQ(ts.size(), 2u);
  const std::int64_t id = ts[0].id;
  const std::int64_t alice = account_created_at(kOld);
  ASSERT_TRUE(appraise(id, alice, +1).has_value());
  ASSERT_TRUE(report(id, alice, "src-a").has_value());

  auto seen = std::make_shared<std::vector<trace_record>>();
  auto maker = [seen, line = audit_line(78, "trace.delete")](const trace_record& before) {
    seen->push_back(before);
    return line(before);
  };
  auto deleted = call(traces(), &trace_store::delete_trace, id, trace_store::audit_fn(maker));
  ASSERT_TRUE(deleted.has_value());
  // The trace as it was.
  EXPECT_EQ(deleted->id, id);
  EXPECT_EQ(deleted->reports, 1);
  EXPECT_EQ(deleted->rating, 1);
  ASSERT_EQ(seen->size(), 1u);
  EXPECT_EQ((*seen)[0].id, id);
  EXPECT_EQ((*seen)[0].reports, 1);
  EXPECT_FALSE((*seen)[0].hidden);

  EXPECT_FALSE(find(id).has_value());
  EXPECT_EQ(ids_of(list(query("a", trace_kind::message))), (std::vector<std::int64_t>{ts[1].id}));
  EXPECT_TRUE(queue(false).empty());
  EXPECT_FALSE(appraise(id, alice, +1).has_value());
  EXPECT_FALSE(report(id, alice, "src-a").has_value());

  auto lines = read_audit();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].actor, 78);
  EXPECT_EQ(lines[0].action, "trace.delete");
  EXPECT_EQ(lines[0].target, "trace:" + std::to_string(id));
  EXPECT_EQ(lines[0].detail_json, R"({"reports":1,"hidden":false})");

  // A deleted trace cannot be deleted or restored again; nothing more is written.
  EXPECT_FALSE(call(traces(), &trace_store::delete_trace, id, trace_store::audit_fn(maker)));
  EXPECT_FALSE(call(traces(), &trace_store::restore_trace, id, trace_store::audit_fn(maker)));
  EXPECT_EQ(read_audit().size(), 1u);
}

TEST_P(trace_store_contract, restore_and_delete_without_the_trace_write_nothing) {
  const std::int64_t id = insert_one(trace("a", trace_kind::object));
  EXPECT_FALSE(call(traces(), &trace_store::restore_trace, id + 1, audit_line(1, "trace.restore")));
  EXPECT_FALSE(call(traces(), &trace_store::delete_trace, id + 1, audit_line(1, "trace.delete")));
  EXPECT_TRUE(read_audit().empty());
  EXPECT_TRUE(find(id).has_value());
}

// --- The audit log ----------------------------------------------------------------------------

TEST_P(trace_store_contract, the_audit_log_reads_newest_first_with_paging) {
  EXPECT_TRUE(read_audit().empty());
  auto ts = insert({trace("a", trace_kind::object), trace("a", trace_kind::object),
                    trace("a", trace_kind::object), trace("a", trace_kind::object)});
  ASSERT_EQ(ts.size(), 4u);
  // Four lines, in this order: restore 0, delete 1, restore 2, delete 3.
  for (std::size_t i = 0; i < ts.size(); ++i) {
    if (i % 2 == 0) {
      ASSERT_TRUE(call(traces(), &trace_store::restore_trace, ts[i].id,
                       audit_line(static_cast<std::int64_t>(i), "trace.restore")));
    } else {
      ASSERT_TRUE(call(traces(), &trace_store::delete_trace, ts[i].id,
                       audit_line(static_cast<std::int64_t>(i), "trace.delete")));
    }
  }
  auto all = read_audit();
  ASSERT_EQ(all.size(), 4u);
  for (std::size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].actor, static_cast<std::int64_t>(3 - i));  // newest first
    if (i > 0) {
      EXPECT_LT(all[i].id, all[i - 1].id);
    }
  }
  EXPECT_EQ(all[0].action, "trace.delete");
  EXPECT_EQ(all[3].action, "trace.restore");
  // Pages: at most `limit`, ids below before_id.
  auto page = read_audit(0, 3);
  ASSERT_EQ(page.size(), 3u);
  EXPECT_EQ(page[2].id, all[2].id);
  page = read_audit(all[2].id, 3);
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].id, all[3].id);
  EXPECT_TRUE(read_audit(all[3].id, 3).empty());
  EXPECT_EQ(read_audit(all[0].id, 100).size(), 3u);
  EXPECT_TRUE(read_audit(0, 0).empty());
}

INSTANTIATE_TEST_SUITE_P(impls, trace_store_contract, ::testing::ValuesIn(implementations()),
                         implementation_name);

}  // namespace
}  // namespace maratang::store
