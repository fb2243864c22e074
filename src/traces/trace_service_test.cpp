#include "traces/trace_service.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <optional>

#include "store/batched_store.hpp"
#include "store/memory/memory_backend.hpp"
#include "store/worker.hpp"

namespace maratang::traces {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

class trace_service_test : public ::testing::Test {
 protected:
  void make(trace_options o = {}) {
    auto b = std::make_unique<store::memory_backend>();
    b->migrate();
    worker_ = std::make_unique<store::worker>(std::move(b));
    ports_ = std::make_unique<store::batched_store>(*worker_);
    // Listings are built inline: the test thread sees them once the worker is flushed.
    svc_ = std::make_unique<trace_service>(*ports_, clk_, std::move(o),
                                           [](std::function<void()> fn) { fn(); });
  }

  add_request request(std::string_view body) {
    auto p = parse_add("application/json", body, {});
    EXPECT_TRUE(p.errors.empty()) << body;
    return std::move(p.request);
  }

  added_ids add(const std::string& area, std::string_view body, std::int64_t account = 0) {
    std::optional<result<added_ids>> out;
    svc_->add(area, request(body), account, [&](result<added_ids> r) { out = std::move(r); });
    worker_->flush();
    EXPECT_TRUE(out && *out);
    return out && *out ? **out : added_ids{};
  }

  json::value latest(const std::string& area, listing_format f = listing_format::compat) {
    std::shared_ptr<const snapshot> snap;
    bool called = false;
    svc_->latest(area, f, [&](std::shared_ptr<const snapshot> s) {
      snap = std::move(s);
      called = true;
    });
    worker_->flush();
    EXPECT_TRUE(called && snap);
    return snap ? json::parse(*snap->json) : json::value();
  }

  std::vector<std::int64_t> ids(const json::value& listing, std::string_view kind) {
    std::vector<std::int64_t> out;
    for (const auto& t : listing.at(kind).as_array())
      out.push_back(t.at("id").as_int64());
    return out;
  }

  manual_clock clk_;
  std::unique_ptr<store::worker> worker_;
  std::unique_ptr<store::batched_store> ports_;
  std::unique_ptr<trace_service> svc_;
};

constexpr std::string_view kObj = R"({"obj":{"u_uuid":"u","o_type":1,"o_pos":"0,0,0","o_rot":""},
                                      "phantom":{"u_uuid":"u","data":[]}})";
constexpr std::string_view kMsg = R"({"message":{"u_uuid":"u","part1":"a","part2":"b","part3":"c"},
                                      "phantom":{"u_uuid":"u","data":[]}})";

TEST_F(trace_service_test, add_then_latest_shows_it_and_the_cache_refreshes_on_writes) {
  make();
  auto first = add("default", kObj);
  EXPECT_GT(first.obj, 0);
  EXPECT_EQ(first.message, 0);
  EXPECT_GT(first.phantom, first.obj);
  auto l = latest("default");
  EXPECT_EQ(ids(l, "objects"), std::vector<std::int64_t>{first.obj});
  EXPECT_EQ(ids(l, "phantoms"), std::vector<std::int64_t>{first.phantom});
  latest("default");
  EXPECT_EQ(svc_->cache().stats().hits, 1u);
  auto second = add("default", kMsg);
  l = latest("default");  // refreshed at once, not after 30 s
  EXPECT_EQ(ids(l, "messages"), std::vector<std::int64_t>{second.message});
  EXPECT_EQ(ids(l, "phantoms"), (std::vector<std::int64_t>{second.phantom, first.phantom}));
  EXPECT_EQ(svc_->cache().stats().fills, 2u);
  EXPECT_TRUE(latest("elsewhere").at("objects").as_array().empty());
}

TEST_F(trace_service_test, latest_is_capped_per_kind) {
  trace_options o;
  o.latest_objects = 3;
  o.latest_phantoms = 2;
  make(o);
  std::vector<std::int64_t> objs;
  for (int i = 0; i < 5; ++i)
    objs.push_back(add("a", kObj).obj);
  auto l = latest("a");
  EXPECT_EQ(ids(l, "objects"), (std::vector<std::int64_t>{objs[4], objs[3], objs[2]}));
  EXPECT_EQ(l.at("phantoms").as_array().size(), 2u);
}

TEST_F(trace_service_test, old_traces_are_not_listed_and_get_trimmed) {
  trace_options o;
  o.max_age_s = 60;
  o.max_per_kind = 2;
  o.trim_interval_ms = 1000;
  make(o);
  auto old = add("a", kObj);
  clk_.advance(61s);
  auto l = latest("a");
  EXPECT_TRUE(l.at("objects").as_array().empty());  // too old to list, not yet trimmed
  std::vector<std::int64_t> objs;
  for (int i = 0; i < 3; ++i)
    objs.push_back(add("a", kObj).obj);  // the first of these writes trims (interval passed)
  worker_->flush();
  EXPECT_EQ(svc_->trims(), 1u);
  clk_.advance(1s);
  add("b", kMsg);  // triggers a second trim: a keeps its 2 newest objects
  worker_->flush();
  EXPECT_EQ(svc_->trims(), 2u);
  std::optional<result<std::string>> page;
  svc_->page("a", store::trace_kind::object, 0, 10, [&](result<std::string> r) { page = r; });
  worker_->flush();
  ASSERT_TRUE(page && *page);
  auto v = json::parse(**page);
  ASSERT_EQ(v.at("items").as_array().size(), 2u);
  EXPECT_EQ(v.at("items").at(0).at("id"), objs[2]);
  EXPECT_EQ(v.at("items").at(1).at("id"), objs[1]);
  (void)old;
}

TEST_F(trace_service_test, paging_walks_back_with_next_before) {
  make();
  std::vector<std::int64_t> objs;
  for (int i = 0; i < 5; ++i)
    objs.push_back(add("a", kObj).obj);
  std::vector<std::int64_t> seen;
  std::int64_t before = 0;
  for (int round = 0; round < 4; ++round) {
    std::optional<result<std::string>> page;
    svc_->page("a", store::trace_kind::object, before, 2, [&](result<std::string> r) { page = r; });
    worker_->flush();
    ASSERT_TRUE(page && *page);
    auto v = json::parse(**page);
    for (const auto& t : v.at("items").as_array())
      seen.push_back(t.at("id").as_int64());
    if (v.at("next_before").is_null()) break;
    before = v.at("next_before").as_int64();
  }
  EXPECT_EQ(seen, (std::vector<std::int64_t>{objs[4], objs[3], objs[2], objs[1], objs[0]}));
}

TEST_F(trace_service_test, appraise_only_messages_and_reports_hide) {
  trace_options o;
  o.hide_after_reports = 2;
  make(o);
  auto m = add("a", kMsg);
  auto ob = add("a", kObj);
  std::optional<result<trace_state>> st;
  auto keep = [&](result<trace_state> r) { st = std::move(r); };
  svc_->appraise(m.message, 10, 1, keep);
  worker_->flush();
  ASSERT_TRUE(st && *st);
  EXPECT_EQ((*st)->trace.rating, 1);
  svc_->appraise(m.message, 11, -1, keep);
  svc_->appraise(m.message, 12, -1, keep);
  worker_->flush();
  EXPECT_EQ((*st)->trace.rating, -1);
  EXPECT_EQ((*st)->trace.votes, 3);
  EXPECT_EQ(latest("a", listing_format::extended).at("messages").at(0).at("rating"), -1);
  svc_->appraise(ob.obj, 10, 1, keep);
  worker_->flush();
  ASSERT_FALSE(*st);
  EXPECT_EQ(st->error().code, errc::not_found);

  // Accounts 10..13 are old enough to be heard; 20 and 21 were made a moment ago.
  for (std::int64_t id : {10, 11, 12, 13, 20, 21}) {
    const epoch_ms created = id < 20 ? clk_.now_ms() - 2 * 86'400'000 : clk_.now_ms();
    worker_->submit([id, created](store::backend& b) {
      store::account acc;
      acc.device_id = "dev-" + std::to_string(id);
      acc.created_ms = created;
      EXPECT_EQ(b.create_account(acc), store::status::ok);
      EXPECT_EQ(acc.id, id - (id < 20 ? 9 : 15));
    });
  }
  worker_->flush();
  // Account ids as created: 1..4 old, 5..6 fresh.
  svc_->report(ob.obj, 1, "10.0.0.1", keep);
  worker_->flush();
  EXPECT_FALSE((*st)->trace.hidden);
  svc_->report(ob.obj, 1, "10.0.0.1", keep);  // the same account again: counted once
  worker_->flush();
  EXPECT_TRUE((*st)->already_reported);
  EXPECT_EQ((*st)->trace.reports, 1);
  // Fresh accounts, and another account from the same address, hide nothing.
  svc_->report(ob.obj, 5, "10.0.0.5", keep);
  svc_->report(ob.obj, 6, "10.0.0.6", keep);
  svc_->report(ob.obj, 2, "10.0.0.1", keep);
  worker_->flush();
  EXPECT_EQ((*st)->trace.reports, 4);
  EXPECT_FALSE((*st)->trace.hidden);
  EXPECT_EQ(ids(latest("a"), "objects"), std::vector<std::int64_t>{ob.obj});
  // An old account from another address does.
  svc_->report(ob.obj, 3, "10.0.0.3", keep);
  worker_->flush();
  EXPECT_TRUE((*st)->trace.hidden);
  EXPECT_TRUE(latest("a").at("objects").as_array().empty());  // hidden at once (cache refreshed)
  svc_->report(ob.obj, 4, "10.0.0.4", keep);
  worker_->flush();
  ASSERT_FALSE(*st);
  EXPECT_EQ(st->error().code, errc::not_found);
}

TEST_F(trace_service_test, near_finds_traces_within_the_radius) {
  make();
  auto a = add("a", R"({"obj":{"u_uuid":"u","o_type":1,"o_pos":"10,0,0","o_rot":""},
                       "message":{"u_uuid":"u","part1":"","part2":"","part3":""},
                       "phantom":{"u_uuid":"u","data":[["100,0,0"]]}})");
  std::optional<result<std::string>> out;
  svc_->near("a", 12, 0, 0, 3, 10, [&](result<std::string> r) { out = r; });
  worker_->flush();
  ASSERT_TRUE(out && *out);
  auto v = json::parse(**out);
  EXPECT_EQ(ids(v, "objects"), std::vector<std::int64_t>{a.obj});
  EXPECT_EQ(ids(v, "messages"), std::vector<std::int64_t>{a.message});  // placed with its obj
  EXPECT_TRUE(v.at("phantoms").as_array().empty());
}

TEST_F(trace_service_test, write_limits_per_writer) {
  trace_options o;
  o.anon_write_rate = 1;
  o.anon_write_burst = 2;
  o.account_write_rate = 1;
  o.account_write_burst = 1;
  make(o);
  EXPECT_TRUE(svc_->allow_anonymous_write("10.0.0.1"));
  EXPECT_TRUE(svc_->allow_anonymous_write("10.0.0.1"));
  EXPECT_FALSE(svc_->allow_anonymous_write("10.0.0.1"));
  EXPECT_TRUE(svc_->allow_anonymous_write("10.0.0.2"));
  EXPECT_TRUE(svc_->allow_account_write(5));
  EXPECT_FALSE(svc_->allow_account_write(5));
  clk_.advance(1s);
  EXPECT_TRUE(svc_->allow_account_write(5));
}

}  // namespace
}  // namespace maratang::traces
