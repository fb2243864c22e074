#include "store/batched_store.hpp"

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <utility>

#include "store/worker.hpp"

namespace maratang::store {

namespace {

error failed() {
  return error{errc::unavailable, "Storage failed; nothing was written."};
}

error busy() {
  return error{errc::unavailable, "Storage is busy; try again."};
}

// Runs `op` (backend& -> T) as one worker operation and hands its value to `done` after the
// commit; unavailable when the worker refuses it or its transaction fails.
template <class T, class Op>
void run(worker& w, Op op, reply<T> done) {
  auto box = std::make_shared<T>();
  const bool queued = w.submit([op = std::move(op), box](backend& b) mutable { *box = op(b); },
                               [box, done](bool ok) {
                                 if (!ok) return done(failed());
                                 done(std::move(*box));
                               });
  if (!queued) done(busy());
}

std::int64_t write_logs(backend& b, const std::vector<log_entry>& es) {
  return b.append_logs(es);
}

std::int64_t write_events(backend& b, const std::vector<event_record>& es) {
  b.append_events(es);
  return static_cast<std::int64_t>(es.size());
}

}  // namespace

batched_store::batched_store(worker& w, write_behind_options wb, std::vector<worker*> log_writers)
    : worker_(w),
      log_(std::make_shared<write_behind<log_entry>>(
          log_writers.empty() ? std::vector<worker*>{&w} : std::move(log_writers), wb,
          &write_logs)),
      events_(std::make_shared<write_behind<event_record>>(std::vector<worker*>{&w}, wb,
                                                           &write_events)),
      snapshots_(std::make_shared<snapshot_buffer>()) {}

// --- core::account_store ------------------------------------------------------------------------

void batched_store::create_account(account a, reply<std::optional<account>> done) {
  run<std::optional<account>>(
      worker_,
      [a = std::move(a)](backend& b) mutable -> std::optional<account> {
        a.is_admin = false;
        if (b.create_account(a) != status::ok) return std::nullopt;
        return a;
      },
      std::move(done));
}

void batched_store::find_account(std::int64_t id, reply<std::optional<account>> done) {
  run<std::optional<account>>(
      worker_, [id](backend& b) { return b.find_account(id); }, std::move(done));
}

void batched_store::find_account_by_device(std::string device_id,
                                           reply<std::optional<account>> done) {
  run<std::optional<account>>(
      worker_, [k = std::move(device_id)](backend& b) { return b.find_account_by_device(k); },
      std::move(done));
}

void batched_store::find_account_by_email(std::string email, reply<std::optional<account>> done) {
  run<std::optional<account>>(
      worker_, [k = std::move(email)](backend& b) { return b.find_account_by_email(k); },
      std::move(done));
}

void batched_store::find_account_by_nickname_key(std::string key,
                                                 reply<std::optional<account>> done) {
  run<std::optional<account>>(
      worker_, [k = std::move(key)](backend& b) { return b.find_account_by_nickname_key(k); },
      std::move(done));
}

void batched_store::nicknames_of(std::vector<std::int64_t> ids, reply<nickname_list> done) {
  // One worker operation, each id read by its primary key (a page of a board: 100 at most).
  run<nickname_list>(
      worker_,
      [ids = std::move(ids)](backend& b) {
        nickname_list out;
        for (std::int64_t id : ids) {
          auto a = b.find_account(id);
          if (a && !a->nickname.empty()) out.emplace_back(id, a->nickname);
        }
        return out;
      },
      std::move(done));
}

void batched_store::set_nickname(std::int64_t account_id, std::string nickname, std::string key,
                                 reply<status> done) {
  run<status>(
      worker_,
      [account_id, n = std::move(nickname), k = std::move(key)](backend& b) {
        return b.set_nickname(account_id, n, k);
      },
      std::move(done));
}

void batched_store::create_session(session_record s, reply<status> done) {
  run<status>(
      worker_, [s = std::move(s)](backend& b) { return b.create_session(s); }, std::move(done));
}

void batched_store::find_session(std::string id, reply<std::optional<session_record>> done) {
  run<std::optional<session_record>>(
      worker_, [id = std::move(id)](backend& b) { return b.find_session(id); }, std::move(done));
}

void batched_store::rotate_refresh(std::string id, std::string old_hash, std::string new_hash,
                                   std::int64_t new_expires_ms, reply<status> done) {
  run<status>(
      worker_,
      [id = std::move(id), o = std::move(old_hash), n = std::move(new_hash),
       new_expires_ms](backend& b) { return b.rotate_refresh(id, o, n, new_expires_ms); },
      std::move(done));
}

void batched_store::revoke_session(std::string id, reply<status> done) {
  run<status>(
      worker_, [id = std::move(id)](backend& b) { return b.revoke_session(id); }, std::move(done));
}

void batched_store::revoked_sessions(std::int64_t now_ms, reply<std::vector<std::string>> done) {
  run<std::vector<std::string>>(
      worker_, [now_ms](backend& b) { return b.revoked_sessions(now_ms); }, std::move(done));
}

void batched_store::set_ban(std::int64_t account_id, std::int64_t until_ms, std::string reason,
                            audit_entry audit, reply<status> done) {
  run<status>(
      worker_,
      [account_id, until_ms, reason = std::move(reason),
       audit = std::move(audit)](backend& b) mutable {
        const status st = b.set_ban(account_id, until_ms, reason);
        if (st == status::ok) b.append_audit(audit);
        return st;
      },
      std::move(done));
}

void batched_store::bans(std::int64_t now_ms, reply<std::vector<ban_record>> done) {
  run<std::vector<ban_record>>(
      worker_, [now_ms](backend& b) { return b.bans(now_ms); }, std::move(done));
}

// --- core::audit_log ----------------------------------------------------------------------------

void batched_store::append_audit(audit_entry e, reply<std::int64_t> done) {
  run<std::int64_t>(
      worker_,
      [e = std::move(e)](backend& b) mutable {
        b.append_audit(e);
        return e.id;
      },
      std::move(done));
}

void batched_store::read_audit(std::int64_t before_id, int limit,
                               reply<std::vector<audit_entry>> done) {
  run<std::vector<audit_entry>>(
      worker_, [before_id, limit](backend& b) { return b.read_audit(before_id, limit); },
      std::move(done));
}

// --- lobby::game_store, lobby::action_log -------------------------------------------------------

void batched_store::insert_game(game_record g) {
  // A conflict (the record is stored already, e.g. by an earlier try) is not a failure, and adds
  // nothing to the statistics: the backend writes the outcomes only with a new record.
  worker_.submit([g = std::move(g)](backend& b) { b.insert_game(g); }, {}, retry::until_committed);
}

void batched_store::find_game(std::string id, reply<std::optional<game_record>> done) {
  run<std::optional<game_record>>(
      worker_, [id = std::move(id)](backend& b) { return b.find_game(id); }, std::move(done));
}

void batched_store::games_of(std::int64_t account_id, int limit, std::int64_t before_ms,
                             bool include_private, reply<std::vector<game_record>> done) {
  run<std::vector<game_record>>(
      worker_,
      [account_id, limit, before_ms, include_private](backend& b) {
        return b.games_of(account_id, limit, before_ms, include_private);
      },
      std::move(done));
}

void batched_store::stats_of(std::int64_t account_id, reply<std::vector<mode_stats>> done) {
  run<std::vector<mode_stats>>(
      worker_, [account_id](backend& b) { return b.stats_of(account_id); }, std::move(done));
}

void batched_store::ratings_of(std::int64_t account_id, reply<std::vector<rating_record>> done) {
  run<std::vector<rating_record>>(
      worker_, [account_id](backend& b) { return b.ratings_of(account_id); }, std::move(done));
}

void batched_store::rating_history(std::int64_t account_id, std::string key, std::int64_t before_ms,
                                   int limit, reply<std::vector<rating_change>> done) {
  run<std::vector<rating_change>>(
      worker_,
      [account_id, key = std::move(key), before_ms, limit](backend& b) {
        return b.rating_history(account_id, key, before_ms, limit);
      },
      std::move(done));
}

void batched_store::leaderboard_top(std::string board, std::int64_t season, std::int64_t offset,
                                    int limit, reply<leaderboard_page> done) {
  run<leaderboard_page>(
      worker_,
      [board = std::move(board), season, offset, limit](backend& b) {
        return b.leaderboard_top(board, season, offset, limit);
      },
      std::move(done));
}

void batched_store::leaderboard_rank(std::string board, std::int64_t season,
                                     std::int64_t account_id,
                                     reply<std::optional<leaderboard_entry>> done) {
  run<std::optional<leaderboard_entry>>(
      worker_,
      [board = std::move(board), season, account_id](backend& b) {
        return b.leaderboard_rank(board, season, account_id);
      },
      std::move(done));
}

void batched_store::leaderboard_around(std::string board, std::int64_t season,
                                       std::int64_t account_id, int radius,
                                       reply<leaderboard_page> done) {
  run<leaderboard_page>(
      worker_,
      [board = std::move(board), season, account_id, radius](backend& b) {
        return b.leaderboard_around(board, season, account_id, radius);
      },
      std::move(done));
}

void batched_store::leaderboard_seasons(std::string board, reply<std::vector<std::int64_t>> done) {
  run<std::vector<std::int64_t>>(
      worker_, [board = std::move(board)](backend& b) { return b.leaderboard_seasons(board); },
      std::move(done));
}

void batched_store::board_rows(std::string board, std::int64_t season,
                               reply<std::vector<board_row>> done) {
  run<std::vector<board_row>>(
      worker_,
      [board = std::move(board), season](backend& b) { return b.board_rows(board, season); },
      std::move(done));
}

void batched_store::watch_boards(board_listener fn) {
  // Retried: a listener lost to a failed transaction would leave the cache unfed for good.
  worker_.submit([fn = std::move(fn)](backend& b) { b.watch_boards(fn); }, {},
                 retry::until_committed);
}

void batched_store::append_log(log_entry e) {
  buffer(log_, &e, 1);
}

std::size_t batched_store::log_buffered() const {
  std::lock_guard lk(log_->mu);
  return log_->buf.size();
}

template <class Entry>
bool batched_store::buffer(const std::shared_ptr<write_behind<Entry>>& wb_ptr, Entry* first,
                           std::size_t n) {
  write_behind<Entry>& wb = *wb_ptr;
  std::lock_guard lk(wb.mu);
  if (wb.buf.size() + n > wb.opts.max_buffered) {
    wb.stats.dropped += n;
    wb.w.count_lost(n);
    return false;
  }
  if (wb.buf.empty()) wb.first_at = std::chrono::steady_clock::now();
  const std::size_t before = wb.buf.size();
  for (std::size_t i = 0; i < n; ++i)
    wb.buf.push_back(std::move(first[i]));
  if (!wb.scheduled) return schedule_write(wb_ptr, wb.opts.delay);
  if (before < wb.opts.max_per_write && wb.buf.size() >= wb.opts.max_per_write &&
      wb.opts.delay.count() > 0) {
    return schedule_write(wb_ptr, std::chrono::milliseconds{0});  // a full write's worth: no wait
  }
  return true;
}

template <class Entry>
bool batched_store::schedule_write(const std::shared_ptr<write_behind<Entry>>& wb_ptr,
                                   std::chrono::milliseconds delay) {
  // The batch is taken when the operation first runs, and kept for its retries (a retry must
  // write the same entries; append_logs skips those already there). Several operations may be
  // queued at once (a delayed one, and one queued at once for a full buffer or a read): each
  // takes what is buffered when it runs, possibly nothing.
  auto taken = std::make_shared<std::vector<Entry>>();
  auto op = [wb_ptr, taken](backend& b) {
    write_behind<Entry>& wb = *wb_ptr;
    if (taken->empty()) {
      std::lock_guard lk(wb.mu);
      if (wb.buf.empty()) return;
      const auto now = std::chrono::steady_clock::now();
      const auto waited = static_cast<std::uint64_t>(std::max<std::int64_t>(
          0, std::chrono::duration_cast<std::chrono::nanoseconds>(now - wb.first_at).count()));
      wb.stats.wait_ns_total += waited;
      if (waited > wb.stats.wait_ns_max) wb.stats.wait_ns_max = waited;
      if (wb.buf.size() <= wb.opts.max_per_write) {
        taken->swap(wb.buf);
      } else {
        const auto cut = wb.buf.begin() + static_cast<std::ptrdiff_t>(wb.opts.max_per_write);
        taken->assign(std::make_move_iterator(wb.buf.begin()), std::make_move_iterator(cut));
        wb.buf.erase(wb.buf.begin(), cut);
      }
      // What is left, or arrives from now on, needs an operation of its own: what is left at once
      // (there is a backlog), what arrives after the delay. (The time of the oldest one left is
      // not known; "now" is counted for it.)
      wb.scheduled = false;
      if (!wb.buf.empty()) {
        wb.first_at = now;
        schedule_write(wb_ptr, std::chrono::milliseconds{0});
      }
    }
    wb.stats.entries += static_cast<std::uint64_t>(wb.write(b, *taken));
    wb.stats.writes += 1;
  };
  write_behind<Entry>& wb = *wb_ptr;
  wb.scheduled = true;
  worker& to = *wb.ws[wb.turn[delay.count() > 0 ? 1 : 0]++ % wb.ws.size()];
  if (to.submit_after(delay, std::move(op), {}, retry::until_committed)) return true;
  // The worker refused (queue full, or stopping) and counted one write lost: the buffered
  // entries go with it, counted.
  wb.stats.dropped += wb.buf.size();
  if (wb.buf.size() > 1) wb.w.count_lost(wb.buf.size() - 1);
  wb.buf.clear();
  wb.scheduled = false;
  return false;
}

void batched_store::read_log(std::string stream, std::int64_t after_seq, int limit,
                             reply<std::vector<log_entry>> done) {
  // Entries appended before this read are written first: a write queued now runs before the
  // read (a worker's queue is in order), whatever the delayed one does later.
  {
    std::lock_guard lk(log_->mu);
    // One write takes max_per_write at most: a backlog needs as many as that makes.
    for (std::size_t n = 0; n < log_->buf.size(); n += log_->opts.max_per_write)
      schedule_write(log_, std::chrono::milliseconds{0});
  }
  worker* main = &worker_;
  auto read = [main, s = std::move(stream), after_seq, limit, done = std::move(done)]() mutable {
    run<std::vector<log_entry>>(
        *main,
        [s = std::move(s), after_seq, limit](backend& b) {
          return b.read_log(s, after_seq, limit);
        },
        std::move(done));
  };
  const auto& writers = log_->ws;
  if (writers.size() == 1 && writers.front() == main) return read();
  // Other workers write the log: the read waits until each has committed what it had queued (an
  // empty operation's completion comes after the commit of everything queued before it).
  struct barrier {
    std::atomic<std::size_t> left;
    std::function<void()> then;
  };
  auto bar = std::make_shared<barrier>();
  bar->left = writers.size();
  bar->then = std::move(read);
  for (worker* w : writers) {
    auto arrived = [bar](bool) {
      if (--bar->left == 0) bar->then();
    };
    if (!w->submit([](backend&) {}, arrived)) arrived(false);
  }
}

// --- traces::trace_store ------------------------------------------------------------------------

// Adds that arrive while the worker is busy go in together: one operation takes the adds
// waiting when it runs (at most kTraceGroupMost) and inserts all their traces in one
// backend::insert_traces (on PostgreSQL one pipeline, one round trip, rather than one per add).
// Should that fail, a group of several adds is not failed whole: each add is tried again as an
// operation of its own, so that an add the database refuses fails alone. At most kTraceInboxMost
// adds wait; more are answered busy at once, as a full worker queue answers.
void batched_store::insert_traces(std::vector<trace_record> ts,
                                  reply<std::vector<trace_record>> done) {
  std::unique_lock lk(traces_->mu);
  if (traces_->waiting.size() >= kTraceInboxMost) {
    lk.unlock();
    return done(busy());
  }
  traces_->waiting.push_back({std::move(ts), std::move(done)});
  if (traces_->scheduled || submit_group(worker_, traces_)) return;
  // Refused: nothing else was waiting (adds wait only while a group is scheduled).
  auto refused = std::move(traces_->waiting.back());
  traces_->waiting.clear();
  lk.unlock();
  refused.done(busy());
}

namespace {

// A reply must not throw; one that does must not keep the rest of its group unanswered.
template <class T>
void answer(reply<T>& done, result<T> r) {
  try {
    done(std::move(r));
  } catch (...) {
  }
}

}  // namespace

bool batched_store::submit_group(worker& w, const std::shared_ptr<trace_inbox>& inbox) {
  struct group {
    std::vector<trace_inbox::entry> entries;
    bool taken = false;
    bool more = false;              // adds were left waiting: the completion submits the next group
    std::vector<trace_record> out;  // every entry's traces, in order, as inserted
  };
  auto g = std::make_shared<group>();
  auto take = [inbox, g] {
    if (g->taken) return;
    std::lock_guard lk(inbox->mu);
    auto& q = inbox->waiting;
    const auto n = std::min(q.size(), kTraceGroupMost);
    g->entries.assign(std::make_move_iterator(q.begin()),
                      std::make_move_iterator(q.begin() + static_cast<std::ptrdiff_t>(n)));
    q.erase(q.begin(), q.begin() + static_cast<std::ptrdiff_t>(n));
    g->more = !q.empty();
    inbox->scheduled = g->more;
    g->taken = true;
  };
  const bool queued = w.submit(
      [take, g](backend& b) {
        take();
        // The operation may run again after a failed batch: each run starts from the input.
        g->out.clear();
        for (const auto& e : g->entries)
          g->out.insert(g->out.end(), e.ts.begin(), e.ts.end());
        b.insert_traces(g->out);
      },
      [&w, inbox, take, g](bool ok) {
        take();  // a worker that gave the operation up without running it: answer them still
        if (g->more) {
          std::vector<trace_inbox::entry> refused;
          {
            std::lock_guard lk(inbox->mu);
            if (!submit_group(w, inbox)) {
              refused = std::move(inbox->waiting);
              inbox->waiting.clear();
              inbox->scheduled = false;
            }
          }
          for (auto& e : refused)
            answer<std::vector<trace_record>>(e.done, busy());
        }
        if (!ok && g->entries.size() > 1) {
          for (auto& e : g->entries) {
            run<std::vector<trace_record>>(
                w,
                [ts = std::move(e.ts)](backend& b) {
                  auto out = ts;
                  b.insert_traces(out);
                  return out;
                },
                std::move(e.done));
          }
          return;
        }
        auto at = g->out.begin();
        for (auto& e : g->entries) {
          if (!ok) {
            answer<std::vector<trace_record>>(e.done, failed());
            continue;
          }
          const auto n = static_cast<std::ptrdiff_t>(e.ts.size());
          answer<std::vector<trace_record>>(e.done, std::vector<trace_record>(at, at + n));
          at += n;
        }
      });
  if (queued) inbox->scheduled = true;
  return queued;
}

void batched_store::list_traces(std::vector<trace_query> qs,
                                reply<std::vector<std::vector<trace_record>>> done) {
  run<std::vector<std::vector<trace_record>>>(
      worker_,
      [qs = std::move(qs)](backend& b) {
        std::vector<std::vector<trace_record>> out;
        out.reserve(qs.size());
        for (const auto& q : qs)
          out.push_back(b.list_traces(q));
        return out;
      },
      std::move(done));
}

void batched_store::find_trace(std::int64_t id, reply<std::optional<trace_record>> done) {
  run<std::optional<trace_record>>(
      worker_, [id](backend& b) { return b.find_trace(id); }, std::move(done));
}

void batched_store::appraise_trace(std::int64_t id, std::int64_t account_id, int value,
                                   reply<std::optional<trace_record>> done) {
  run<std::optional<trace_record>>(
      worker_,
      [id, account_id, value](backend& b) -> std::optional<trace_record> {
        auto t = b.find_trace(id);
        if (!t || t->hidden || t->kind != trace_kind::message) return std::nullopt;
        if (b.appraise_trace(id, account_id, value) != status::ok) return std::nullopt;
        return b.find_trace(id);
      },
      std::move(done));
}

void batched_store::report_trace(trace_report r, std::int64_t hide_after,
                                 std::int64_t trusted_before_ms,
                                 reply<std::optional<traces::report_outcome>> done) {
  run<std::optional<traces::report_outcome>>(
      worker_,
      [r, hide_after, trusted_before_ms](backend& b) -> std::optional<traces::report_outcome> {
        auto t = b.find_trace(r.trace_id);
        if (!t || t->hidden) return std::nullopt;
        const auto acc = b.find_account(r.account_id);
        trace_report weighed = r;
        weighed.weighty = acc.has_value() && acc->created_ms <= trusted_before_ms;
        const auto st = b.report_trace(weighed, hide_after);
        if (st == status::not_found) return std::nullopt;
        return traces::report_outcome{*b.find_trace(r.trace_id), st == status::conflict};
      },
      std::move(done));
}

void batched_store::trim_traces(std::int64_t created_before_ms, std::int64_t keep_per_kind,
                                reply<std::int64_t> done) {
  run<std::int64_t>(
      worker_,
      [created_before_ms, keep_per_kind](backend& b) {
        return b.trim_traces(created_before_ms, keep_per_kind);
      },
      std::move(done));
}

void batched_store::reported_traces(moderation_query q,
                                    reply<std::vector<traces::reported_trace>> done) {
  run<std::vector<traces::reported_trace>>(
      worker_,
      [q](backend& b) {
        std::vector<traces::reported_trace> out;
        for (auto& t : b.reported_traces(q)) {
          auto reports = b.reports_of(t.id);
          out.push_back(traces::reported_trace{std::move(t), std::move(reports)});
        }
        return out;
      },
      std::move(done));
}

void batched_store::restore_trace(std::int64_t id, audit_fn audit,
                                  reply<std::optional<trace_record>> done) {
  run<std::optional<trace_record>>(
      worker_,
      [id, audit = std::move(audit)](backend& b) -> std::optional<trace_record> {
        auto t = b.find_trace(id);
        if (!t) return std::nullopt;
        auto line = audit(*t);
        if (b.restore_trace(id) != status::ok) return std::nullopt;
        b.append_audit(line);
        return b.find_trace(id);
      },
      std::move(done));
}

void batched_store::delete_trace(std::int64_t id, audit_fn audit,
                                 reply<std::optional<trace_record>> done) {
  run<std::optional<trace_record>>(
      worker_,
      [id, audit = std::move(audit)](backend& b) -> std::optional<trace_record> {
        auto t = b.find_trace(id);
        if (!t) return std::nullopt;
        auto line = audit(*t);
        if (b.delete_trace(id) != status::ok) return std::nullopt;
        b.append_audit(line);
        return t;
      },
      std::move(done));
}

// --- mystery::casebook_store --------------------------------------------------------------------

void batched_store::put_casebook(casebook_record c, reply<bool> done) {
  run<bool>(
      worker_,
      [c = std::move(c)](backend& b) {
        b.put_casebook(c);
        return true;
      },
      std::move(done));
}

void batched_store::find_casebook(std::string game_id, reply<std::optional<casebook_record>> done) {
  run<std::optional<casebook_record>>(
      worker_, [id = std::move(game_id)](backend& b) { return b.find_casebook(id); },
      std::move(done));
}

// --- lobby::room_snapshot_store ----------------------------------------------------------------

void batched_store::put_snapshot(room_snapshot_record s) {
  auto sb = snapshots_;
  std::lock_guard lk(sb->mu);
  auto it = sb->pending.find(s.room_id);
  if (it == sb->pending.end()) {
    std::string id = s.room_id;
    sb->pending.emplace(std::move(id), std::move(s));
  } else if (s.seq > it->second.seq) {
    it->second = std::move(s);
  }
  if (sb->scheduled) return;
  sb->scheduled = true;
  // Not retried: the rooms' next snapshots replace these anyway. A refused write (queue full) is
  // lost the same way. The batch is taken when the operation first runs and kept for a second run
  // (the worker runs a batch again, with savepoints, when another operation in it failed).
  auto taken = std::make_shared<std::map<std::string, room_snapshot_record>>();
  bool queued = worker_.submit([sb, taken](backend& b) {
    if (taken->empty()) {
      std::lock_guard lk2(sb->mu);
      taken->swap(sb->pending);
      sb->scheduled = false;
    }
    for (const auto& [id, r] : *taken)
      b.put_room_snapshot(r);
  });
  if (!queued) {
    sb->pending.clear();
    sb->scheduled = false;
  }
}

void batched_store::delete_snapshot(std::string room_id, std::string node, std::int64_t upto_seq) {
  {
    // A buffered snapshot it supersedes is not written at all.
    std::lock_guard lk(snapshots_->mu);
    auto it = snapshots_->pending.find(room_id);
    if (it != snapshots_->pending.end() && it->second.seq <= upto_seq)
      snapshots_->pending.erase(it);
  }
  worker_.submit([id = std::move(room_id), node = std::move(node),
                  upto_seq](backend& b) { b.delete_room_snapshot(id, node, upto_seq); },
                 {}, retry::until_committed);
}

void batched_store::claim_snapshots(std::string from, std::string to,
                                    reply<std::vector<room_snapshot_record>> done) {
  run<std::vector<room_snapshot_record>>(
      worker_,
      [from = std::move(from), to = std::move(to)](backend& b) {
        return b.claim_room_snapshots(from, to);
      },
      std::move(done));
}

void batched_store::flush_snapshots(reply<bool> done) {
  // The worker runs operations in order: this one commits after every snapshot write queued
  // before it, and writes what is still buffered itself.
  auto sb = snapshots_;
  run<bool>(
      worker_,
      [sb](backend& b) {
        std::map<std::string, room_snapshot_record> now;
        {
          std::lock_guard lk(sb->mu);
          now.swap(sb->pending);
        }
        for (const auto& [id, r] : now)
          b.put_room_snapshot(r);
        return true;
      },
      std::move(done));
}

void batched_store::snapshots_of(std::string node, reply<std::vector<room_snapshot_record>> done) {
  run<std::vector<room_snapshot_record>>(
      worker_, [node = std::move(node)](backend& b) { return b.room_snapshots(node); },
      std::move(done));
}

// --- events::outbox ----------------------------------------------------------------------------

bool batched_store::append_events(std::vector<event_record> es) {
  return buffer(events_, es.data(), es.size());
}

std::size_t batched_store::outbox_buffered() const {
  std::lock_guard lk(events_->mu);
  return events_->buf.size();
}

// --- health -------------------------------------------------------------------------------------

std::string batched_store::backend_name() const {
  return worker_.backend_name();
}

void batched_store::ping(reply<bool> done) {
  run<bool>(
      worker_, [](backend& b) { return b.ping(); }, std::move(done));
}

}  // namespace maratang::store
