#include "traces/trace_service.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/json.hpp>

#include <utility>
#include <vector>

#include "store/worker.hpp"

namespace maratang::traces {

namespace {

struct listing_rows {
  std::vector<store::trace_record> objects, messages, phantoms;
};

store::trace_query query_of(const std::string& area, store::trace_kind kind, int limit,
                            std::int64_t created_after) {
  store::trace_query q;
  q.area = area;
  q.kind = kind;
  q.limit = limit;
  q.created_after = created_after;
  return q;
}

error storage_busy() {
  return error{errc::unavailable, "Storage is busy; try again."};
}

}  // namespace

trace_service::trace_service(store::worker& store, const clock& clk, trace_options opts,
                             post_fn offload)
    : store_(store),
      clock_(clk),
      opts_(std::move(opts)),
      offload_(std::move(offload)),
      cache_(clk, std::chrono::milliseconds(opts_.cache_max_age_ms), 4096),
      anon_limit_(clk, opts_.anon_write_rate, opts_.anon_write_burst),
      account_limit_(clk, opts_.account_write_rate, opts_.account_write_burst) {
  last_trim_ms_ = clock_.now_ms();
}

bool trace_service::allow_anonymous_write(const std::string& address) {
  return anon_limit_.allow(address);
}

bool trace_service::allow_account_write(std::int64_t account_id) {
  return account_limit_.allow(std::to_string(account_id));
}

std::int64_t trace_service::created_after() const {
  return opts_.max_age_s > 0 ? clock_.now_ms() - opts_.max_age_s * 1000 : 0;
}

void trace_service::add(const std::string& area, add_request req, std::int64_t account_id,
                        std::function<void(result<added_ids>)> done) {
  // Records are built here, off the storage thread; the operation only inserts them.
  auto records = std::make_shared<std::vector<store::trace_record>>();
  const auto now = clock_.now_ms();
  auto put = [&](const trace_part& p, store::trace_kind kind) {
    store::trace_record t;
    t.area = area;
    t.kind = kind;
    t.account_id = account_id;
    t.u_uuid = p.u_uuid;
    t.payload_json = p.payload_json;
    t.has_pos = p.has_pos;
    t.x = p.x;
    t.y = p.y;
    t.z = p.z;
    t.created_ms = now;
    records->push_back(std::move(t));
  };
  if (req.obj) put(*req.obj, store::trace_kind::object);
  if (req.message) put(*req.message, store::trace_kind::message);
  put(req.phantom, store::trace_kind::phantom);

  auto op = [records](store::backend& b) {
    for (auto& t : *records)
      b.insert_trace(t);
  };
  auto completion = [this, records, area, done](bool ok) {
    if (!ok) return done(error{errc::unavailable, "Storage failed; nothing was stored."});
    // Before answering, so that the writer's next read sees its own trace.
    cache_.invalidate(area);
    added_ids ids;
    for (const auto& t : *records) {
      (t.kind == store::trace_kind::object    ? ids.obj
       : t.kind == store::trace_kind::message ? ids.message
                                              : ids.phantom) = t.id;
    }
    done(ids);
  };
  if (!store_.submit(std::move(op), std::move(completion))) return done(storage_busy());
  maybe_trim();
}

void trace_service::maybe_trim() {
  if (opts_.max_age_s <= 0 && opts_.max_per_kind <= 0) return;
  const auto now = clock_.now_ms();
  auto last = last_trim_ms_.load();
  if (now - last < opts_.trim_interval_ms) return;
  if (!last_trim_ms_.compare_exchange_strong(last, now)) return;  // another writer trims
  const auto before = opts_.max_age_s > 0 ? now - opts_.max_age_s * 1000 : 0;
  const auto keep = opts_.max_per_kind;
  auto removed = std::make_shared<std::int64_t>(0);
  store_.submit(
      [before, keep, removed](store::backend& b) { *removed = b.trim_traces(before, keep); },
      [this, removed](bool ok) {
        trims_.fetch_add(1);
        if (!ok) return spdlog::warn("traces: trimming failed");
        if (*removed > 0) {
          spdlog::info("traces: trimmed {} old traces", *removed);
          cache_.invalidate_all();
        }
      });
}

void trace_service::latest(const std::string& area, listing_format f, snapshot_cache::ready done) {
  const int counts[3] = {opts_.latest_objects, opts_.latest_messages, opts_.latest_phantoms};
  auto fill = [this, area, f, counts](snapshot_cache::ready ready) {
    auto rows = std::make_shared<listing_rows>();
    const auto after = created_after();
    auto op = [rows, area, after, counts](store::backend& b) {
      rows->objects = b.list_traces(query_of(area, store::trace_kind::object, counts[0], after));
      rows->messages = b.list_traces(query_of(area, store::trace_kind::message, counts[1], after));
      rows->phantoms = b.list_traces(query_of(area, store::trace_kind::phantom, counts[2], after));
    };
    // Serializing and compressing happen off the storage thread.
    auto completion = [this, rows, f, ready](bool ok) {
      if (!ok) return ready(nullptr);
      offload_([rows, f, ready] {
        std::shared_ptr<snapshot> snap;
        try {
          snap = make_snapshot(listing_json(rows->objects, rows->messages, rows->phantoms, f));
        } catch (const std::exception& e) {
          spdlog::error("traces: cannot build a listing: {}", e.what());
        }
        ready(std::move(snap));
      });
    };
    if (!store_.submit(std::move(op), std::move(completion))) ready(nullptr);
  };
  cache_.get(area, f == listing_format::compat ? kCompat : kExtended, std::move(done), fill);
}

void trace_service::page(const std::string& area, store::trace_kind kind, std::int64_t before,
                         int limit, std::function<void(result<std::string>)> done) {
  auto rows = std::make_shared<std::vector<store::trace_record>>();
  auto q = query_of(area, kind, limit, created_after());
  q.before_id = before;
  bool queued = store_.submit([rows, q](store::backend& b) { *rows = b.list_traces(q); },
                              [rows, limit, done](bool ok) {
                                if (!ok) return done(error{errc::unavailable});
                                std::string out = "{\"items\":[";
                                for (std::size_t i = 0; i < rows->size(); ++i) {
                                  if (i) out += ',';
                                  out += trace_json((*rows)[i], listing_format::extended);
                                }
                                out += "],\"next_before\":";
                                out += static_cast<int>(rows->size()) == limit && limit > 0
                                           ? std::to_string(rows->back().id)
                                           : std::string("null");
                                out += '}';
                                done(std::move(out));
                              });
  if (!queued) done(storage_busy());
}

void trace_service::near(const std::string& area, double x, double y, double z, double radius,
                         int limit, std::function<void(result<std::string>)> done) {
  auto rows = std::make_shared<listing_rows>();
  auto base = query_of(area, store::trace_kind::object, limit, created_after());
  base.near = true;
  base.x = x;
  base.y = y;
  base.z = z;
  base.radius = radius;
  bool queued = store_.submit(
      [rows, base](store::backend& b) {
        auto q = base;
        rows->objects = b.list_traces(q);
        q.kind = store::trace_kind::message;
        rows->messages = b.list_traces(q);
        q.kind = store::trace_kind::phantom;
        rows->phantoms = b.list_traces(q);
      },
      [rows, done](bool ok) {
        if (!ok) return done(error{errc::unavailable});
        done(listing_json(rows->objects, rows->messages, rows->phantoms, listing_format::extended));
      });
  if (!queued) done(storage_busy());
}

void trace_service::appraise(std::int64_t id, std::int64_t account_id, int value,
                             std::function<void(result<trace_state>)> done) {
  auto out = std::make_shared<std::optional<trace_state>>();
  bool queued = store_.submit(
      [id, account_id, value, out](store::backend& b) {
        auto t = b.find_trace(id);
        if (!t || t->hidden || t->kind != store::trace_kind::message) return;
        if (b.appraise_trace(id, account_id, value) != store::status::ok) return;
        *out = trace_state{*b.find_trace(id), false};
      },
      [this, out, done](bool ok) {
        if (!ok) return done(error{errc::unavailable});
        if (!*out) return done(error{errc::not_found, "No message with that id."});
        cache_.invalidate((*out)->trace.area);  // ratings show in extended listings
        done(**out);
      });
  if (!queued) done(storage_busy());
}

void trace_service::report(std::int64_t id, std::int64_t account_id, std::string source,
                           std::function<void(result<trace_state>)> done) {
  auto out = std::make_shared<std::optional<trace_state>>();
  const auto hide_after = opts_.hide_after_reports;
  const epoch_ms trusted_before = clock_.now_ms() - opts_.report_min_account_age_ms;
  bool queued = store_.submit(
      [id, account_id, source = std::move(source), hide_after, trusted_before,
       out](store::backend& b) {
        auto t = b.find_trace(id);
        if (!t || t->hidden) return;
        const auto acc = b.find_account(account_id);
        store::trace_report r{id, account_id, source,
                              acc.has_value() && acc->created_ms <= trusted_before};
        const auto st = b.report_trace(r, hide_after);
        if (st == store::status::not_found) return;
        *out = trace_state{*b.find_trace(id), st == store::status::conflict};
      },
      [this, out, done](bool ok) {
        if (!ok) return done(error{errc::unavailable});
        if (!*out) return done(error{errc::not_found, "No trace with that id."});
        if ((*out)->trace.hidden) cache_.invalidate((*out)->trace.area);
        done(**out);
      });
  if (!queued) done(storage_busy());
}

namespace {

namespace json = boost::json;

// One line of the audit log for a moderation action on trace `t`.
store::audit_entry trace_audit(std::int64_t admin, epoch_ms now, std::string action,
                               const store::trace_record& t) {
  json::object detail{
      {"area", t.area},         {"kind", kind_plural(t.kind)},
      {"author", t.account_id}, {"reports", t.reports},
      {"hidden", t.hidden},     {"trace", json::parse(trace_json(t, listing_format::extended))}};
  return store::audit_entry{
      0, now, admin, std::move(action), fmt::format("trace:{}", t.id), json::serialize(detail)};
}

}  // namespace

void trace_service::moderation_queue(bool hidden_only, std::int64_t before, int limit,
                                     std::function<void(result<std::string>)> done) {
  struct row {
    store::trace_record trace;
    std::vector<store::trace_report> reports;
  };
  auto rows = std::make_shared<std::vector<row>>();
  store::moderation_query q;
  q.hidden_only = hidden_only;
  q.before_id = before;
  q.limit = limit;
  bool queued = store_.submit(
      [rows, q](store::backend& b) {
        for (auto& t : b.reported_traces(q)) {
          auto reports = b.reports_of(t.id);
          rows->push_back(row{std::move(t), std::move(reports)});
        }
      },
      [rows, limit, done](bool ok) {
        if (!ok) return done(error{errc::unavailable});
        json::array items;
        for (const auto& r : *rows) {
          json::array by;
          for (const auto& rep : r.reports)
            by.push_back(json::object{{"account_id", rep.account_id}, {"weighty", rep.weighty}});
          items.push_back(
              json::object{{"id", r.trace.id},
                           {"area", r.trace.area},
                           {"kind", kind_plural(r.trace.kind)},
                           {"account_id", r.trace.account_id},
                           {"reports", r.trace.reports},
                           {"hidden", r.trace.hidden},
                           {"trace", json::parse(trace_json(r.trace, listing_format::extended))},
                           {"reported_by", std::move(by)}});
        }
        json::value next = nullptr;
        if (static_cast<int>(rows->size()) == limit && limit > 0) next = rows->back().trace.id;
        done(json::serialize(json::object{{"items", std::move(items)}, {"next_before", next}}));
      });
  if (!queued) done(storage_busy());
}

void trace_service::restore(std::int64_t id, std::int64_t admin,
                            std::function<void(result<trace_state>)> done) {
  auto out = std::make_shared<std::optional<trace_state>>();
  const epoch_ms now = clock_.now_ms();
  bool queued = store_.submit(
      [id, admin, now, out](store::backend& b) {
        auto t = b.find_trace(id);
        if (!t) return;
        auto line = trace_audit(admin, now, "trace.restore", *t);
        if (b.restore_trace(id) != store::status::ok) return;
        b.append_audit(line);
        *out = trace_state{*b.find_trace(id), false};
      },
      [this, out, done](bool ok) {
        if (!ok) return done(error{errc::unavailable});
        if (!*out) return done(error{errc::not_found, "No trace with that id."});
        cache_.invalidate((*out)->trace.area);
        done(**out);
      });
  if (!queued) done(storage_busy());
}

void trace_service::remove(std::int64_t id, std::int64_t admin,
                           std::function<void(result<store::trace_record>)> done) {
  auto out = std::make_shared<std::optional<store::trace_record>>();
  const epoch_ms now = clock_.now_ms();
  bool queued = store_.submit(
      [id, admin, now, out](store::backend& b) {
        auto t = b.find_trace(id);
        if (!t) return;
        auto line = trace_audit(admin, now, "trace.delete", *t);
        if (b.delete_trace(id) != store::status::ok) return;
        b.append_audit(line);
        *out = std::move(t);
      },
      [this, out, done](bool ok) {
        if (!ok) return done(error{errc::unavailable});
        if (!*out) return done(error{errc::not_found, "No trace with that id."});
        cache_.invalidate((*out)->area);
        done(**out);
      });
  if (!queued) done(storage_busy());
}

}  // namespace maratang::traces
