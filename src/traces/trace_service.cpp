#include "traces/trace_service.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/json.hpp>

#include <utility>
#include <vector>

namespace maratang::traces {

namespace {

store::trace_query query_of(const std::string& area, store::trace_kind kind, int limit,
                            std::int64_t created_after) {
  store::trace_query q;
  q.area = area;
  q.kind = kind;
  q.limit = limit;
  q.created_after = created_after;
  return q;
}

}  // namespace

trace_service::trace_service(trace_store& store, const clock& clk, trace_options opts,
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

void trace_service::allow_write(std::int64_t account_id, const std::string& address,
                                std::function<void(bool)> done) {
  const bool by_account = account_id > 0;
  const double rate = by_account ? opts_.account_write_rate : opts_.anon_write_rate;
  const double burst = by_account ? opts_.account_write_burst : opts_.anon_write_burst;
  auto local = [this, by_account, account_id, address] {
    return by_account ? allow_account_write(account_id) : allow_anonymous_write(address);
  };
  if (!shared_ || rate <= 0) return done(local());
  std::string key = by_account ? fmt::format("maratang:limit:traces:account:{}", account_id)
                               : "maratang:limit:traces:address:" + address;
  shared_(std::move(key), rate, burst,
          [local, done = std::move(done)](std::optional<bool> ok) { done(ok ? *ok : local()); });
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

  store_.insert_traces(std::move(*records),
                       [this, area, done](result<std::vector<store::trace_record>> r) {
                         if (!r) return done(r.error());
                         // Before answering, so that the writer's next read sees its own trace.
                         stale(area);
                         added_ids ids;
                         for (const auto& t : *r) {
                           (t.kind == store::trace_kind::object    ? ids.obj
                            : t.kind == store::trace_kind::message ? ids.message
                                                                   : ids.phantom) = t.id;
                         }
                         done(ids);
                       });
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
  store_.trim_traces(before, keep, [this](result<std::int64_t> removed) {
    trims_.fetch_add(1);
    if (!removed) return spdlog::warn("traces: trimming failed: {}", removed.error().message);
    if (*removed > 0) {
      spdlog::info("traces: trimmed {} old traces", *removed);
      stale({});
    }
  });
}

void trace_service::latest(const std::string& area, listing_format f, snapshot_cache::ready done) {
  const int counts[3] = {opts_.latest_objects, opts_.latest_messages, opts_.latest_phantoms};
  auto fill = [this, area, f, counts](snapshot_cache::ready ready) {
    const auto after = created_after();
    std::vector<store::trace_query> qs{
        query_of(area, store::trace_kind::object, counts[0], after),
        query_of(area, store::trace_kind::message, counts[1], after),
        query_of(area, store::trace_kind::phantom, counts[2], after)};
    // Serializing and compressing happen off the storage thread.
    store_.list_traces(
        std::move(qs), [this, f, ready](result<std::vector<std::vector<store::trace_record>>> r) {
          if (!r) return ready(nullptr);
          auto rows =
              std::make_shared<std::vector<std::vector<store::trace_record>>>(std::move(*r));
          offload_([rows, f, ready] {
            std::shared_ptr<snapshot> snap;
            try {
              snap = make_snapshot(listing_json((*rows)[0], (*rows)[1], (*rows)[2], f));
            } catch (const std::exception& e) {
              spdlog::error("traces: cannot build a listing: {}", e.what());
            }
            ready(std::move(snap));
          });
        });
  };
  cache_.get(area, f == listing_format::compat ? kCompat : kExtended, std::move(done), fill);
}

void trace_service::page(const std::string& area, store::trace_kind kind, std::int64_t before,
                         int limit, std::function<void(result<std::string>)> done) {
  auto q = query_of(area, kind, limit, created_after());
  q.before_id = before;
  store_.list_traces({q}, [limit, done](result<std::vector<std::vector<store::trace_record>>> r) {
    if (!r) return done(r.error());
    const auto& rows = r->at(0);
    std::string out = "{\"items\":[";
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (i) out += ',';
      out += trace_json(rows[i], listing_format::extended);
    }
    out += "],\"next_before\":";
    out += static_cast<int>(rows.size()) == limit && limit > 0 ? std::to_string(rows.back().id)
                                                               : std::string("null");
    out += '}';
    done(std::move(out));
  });
}

void trace_service::near(const std::string& area, double x, double y, double z, double radius,
                         int limit, std::function<void(result<std::string>)> done) {
  auto base = query_of(area, store::trace_kind::object, limit, created_after());
  base.near = true;
  base.x = x;
  base.y = y;
  base.z = z;
  base.radius = radius;
  std::vector<store::trace_query> qs(3, base);
  qs[1].kind = store::trace_kind::message;
  qs[2].kind = store::trace_kind::phantom;
  store_.list_traces(std::move(qs),
                     [done](result<std::vector<std::vector<store::trace_record>>> r) {
                       if (!r) return done(r.error());
                       done(listing_json((*r)[0], (*r)[1], (*r)[2], listing_format::extended));
                     });
}

void trace_service::appraise(std::int64_t id, std::int64_t account_id, int value,
                             std::function<void(result<trace_state>)> done) {
  store_.appraise_trace(id, account_id, value,
                        [this, done](result<std::optional<store::trace_record>> r) {
                          if (!r) return done(r.error());
                          if (!*r) return done(error{errc::not_found, "No message with that id."});
                          stale((*r)->area);  // ratings show in extended listings
                          done(trace_state{std::move(**r), false});
                        });
}

void trace_service::report(std::int64_t id, std::int64_t account_id, std::string source,
                           std::function<void(result<trace_state>)> done) {
  const epoch_ms trusted_before = clock_.now_ms() - opts_.report_min_account_age_ms;
  store_.report_trace(store::trace_report{id, account_id, std::move(source), true},
                      opts_.hide_after_reports, trusted_before,
                      [this, done](result<std::optional<report_outcome>> r) {
                        if (!r) return done(r.error());
                        if (!*r) return done(error{errc::not_found, "No trace with that id."});
                        if ((*r)->trace.hidden) stale((*r)->trace.area);
                        done(trace_state{std::move((*r)->trace), (*r)->already_reported});
                      });
}

namespace {

namespace json = boost::json;

// The audit-line maker for a moderation action by `admin` at `now`.
trace_store::audit_fn trace_audit(std::int64_t admin, epoch_ms now, std::string action) {
  return [admin, now, action = std::move(action)](const store::trace_record& t) {
    json::object detail{
        {"area", t.area},         {"kind", kind_plural(t.kind)},
        {"author", t.account_id}, {"reports", t.reports},
        {"hidden", t.hidden},     {"trace", json::parse(trace_json(t, listing_format::extended))}};
    return store::audit_entry{
        0, now, admin, action, fmt::format("trace:{}", t.id), json::serialize(detail)};
  };
}

}  // namespace

void trace_service::moderation_queue(bool hidden_only, std::int64_t before, int limit,
                                     std::function<void(result<std::string>)> done) {
  store::moderation_query q;
  q.hidden_only = hidden_only;
  q.before_id = before;
  q.limit = limit;
  store_.reported_traces(q, [limit, done](result<std::vector<reported_trace>> rows) {
    if (!rows) return done(rows.error());
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
}

void trace_service::restore(std::int64_t id, std::int64_t admin,
                            std::function<void(result<trace_state>)> done) {
  store_.restore_trace(id, trace_audit(admin, clock_.now_ms(), "trace.restore"),
                       [this, done](result<std::optional<store::trace_record>> r) {
                         if (!r) return done(r.error());
                         if (!*r) return done(error{errc::not_found, "No trace with that id."});
                         stale((*r)->area);
                         done(trace_state{std::move(**r), false});
                       });
}

void trace_service::remove(std::int64_t id, std::int64_t admin,
                           std::function<void(result<store::trace_record>)> done) {
  store_.delete_trace(id, trace_audit(admin, clock_.now_ms(), "trace.delete"),
                      [this, done](result<std::optional<store::trace_record>> r) {
                        if (!r) return done(r.error());
                        if (!*r) return done(error{errc::not_found, "No trace with that id."});
                        stale((*r)->area);
                        done(std::move(**r));
                      });
}

void trace_service::stale(const std::string& area) {
  note_stale(area);
  if (on_stale_) on_stale_(area);
}

void trace_service::note_stale(const std::string& area) {
  if (area.empty()) {
    cache_.invalidate_all();
  } else {
    cache_.invalidate(area);
  }
}

}  // namespace maratang::traces
