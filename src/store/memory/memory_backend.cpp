#include "store/memory/memory_backend.hpp"

#include <algorithm>
#include <cstdint>
#include <functional>

namespace maratang::store {

namespace {

// Unique-index helpers: an empty value is "none" and never collides (NULL in SQLite).
bool taken_by_other(const std::map<std::string, std::int64_t>& index, const std::string& key,
                    std::int64_t self) {
  if (key.empty()) return false;
  const auto it = index.find(key);
  return it != index.end() && it->second != self;
}

void index_put(std::map<std::string, std::int64_t>& index, const std::string& key,
               std::int64_t id) {
  if (!key.empty()) index[key] = id;
}

// Clamps a caller's limit like the sqlite backend does: nothing for limit <= 0.
std::size_t clamp_limit(int limit) {
  return limit > 0 ? static_cast<std::size_t>(limit) : 0;
}

}  // namespace

// --- Transactions -----------------------------------------------------------------------------

void memory_backend::begin() {
  if (tx_start_) throw store_error("memory begin: cannot start a transaction within a transaction");
  tx_start_ = state_;
  tx_from_savepoint_ = false;
}

void memory_backend::commit() {
  if (!tx_start_) throw store_error("memory commit: cannot commit - no transaction is active");
  tx_start_.reset();
  savepoints_.clear();
  book_.committed();
}

void memory_backend::rollback() {
  book_.rolled_back();
  if (!tx_start_) return;
  state_ = std::move(*tx_start_);
  tx_start_.reset();
  savepoints_.clear();
}

void memory_backend::savepoint() {
  if (!tx_start_) {
    tx_start_ = state_;
    tx_from_savepoint_ = true;
  }
  savepoints_.push_back(state_);
}

void memory_backend::release() {
  if (savepoints_.empty()) throw store_error("memory release: no such savepoint: op");
  savepoints_.pop_back();
  // Releasing the savepoint that opened the transaction commits it.
  if (savepoints_.empty() && tx_from_savepoint_) {
    tx_start_.reset();
    book_.committed();
  }
}

void memory_backend::rollback_to() {
  if (savepoints_.empty()) throw store_error("memory rollback_to: no such savepoint: op");
  // The savepoint stays open, as after SQL's ROLLBACK TO.
  state_ = savepoints_.back();
  book_.rolled_back();
}

// --- Accounts ---------------------------------------------------------------------------------

status memory_backend::create_account(account& a) {
  if (taken_by_other(state_.by_device, a.device_id, 0) ||
      taken_by_other(state_.by_email, a.email, 0) ||
      taken_by_other(state_.by_nickname_key, a.nickname_key, 0)) {
    return status::conflict;
  }
  account stored = a;
  stored.id = ++state_.last_account_id;
  stored.is_admin = false;
  index_put(state_.by_device, stored.device_id, stored.id);
  index_put(state_.by_email, stored.email, stored.id);
  index_put(state_.by_nickname_key, stored.nickname_key, stored.id);
  state_.accounts.emplace(stored.id, stored);
  a.id = stored.id;
  return status::ok;
}

std::optional<account> memory_backend::find_account(std::int64_t id) {
  const auto it = state_.accounts.find(id);
  if (it == state_.accounts.end()) return std::nullopt;
  return it->second;
}

std::optional<account> memory_backend::find_by_key(const std::map<std::string, std::int64_t>& index,
                                                   const std::string& key) const {
  if (key.empty()) return std::nullopt;
  const auto it = index.find(key);
  if (it == index.end()) return std::nullopt;
  return state_.accounts.at(it->second);
}

std::optional<account> memory_backend::find_account_by_device(const std::string& device_id) {
  return find_by_key(state_.by_device, device_id);
}

std::optional<account> memory_backend::find_account_by_email(const std::string& email) {
  return find_by_key(state_.by_email, email);
}

std::optional<account> memory_backend::find_account_by_nickname_key(const std::string& key) {
  return find_by_key(state_.by_nickname_key, key);
}

status memory_backend::set_nickname(std::int64_t account_id, const std::string& nickname,
                                    const std::string& key) {
  const auto it = state_.accounts.find(account_id);
  if (it == state_.accounts.end()) return status::not_found;
  if (taken_by_other(state_.by_nickname_key, key, account_id)) return status::conflict;
  account& a = it->second;
  if (!a.nickname_key.empty()) state_.by_nickname_key.erase(a.nickname_key);
  a.nickname = nickname;
  a.nickname_key = key;
  index_put(state_.by_nickname_key, key, account_id);
  return status::ok;
}

status memory_backend::set_admin(std::int64_t account_id, bool is_admin) {
  const auto it = state_.accounts.find(account_id);
  if (it == state_.accounts.end()) return status::not_found;
  it->second.is_admin = is_admin;
  return status::ok;
}

status memory_backend::set_ban(std::int64_t account_id, std::int64_t until_ms,
                               const std::string& reason) {
  if (!state_.accounts.count(account_id)) return status::not_found;
  if (until_ms == 0) {
    state_.bans.erase(account_id);
  } else {
    state_.bans[account_id] = ban_record{account_id, until_ms, reason};
  }
  return status::ok;
}

std::vector<ban_record> memory_backend::bans(std::int64_t now_ms) {
  std::vector<ban_record> out;
  for (const auto& [id, b] : state_.bans) {
    if (b.until_ms > now_ms) out.push_back(b);
  }
  return out;
}

void memory_backend::append_audit(audit_entry& e) {
  e.id = state_.audit.empty() ? 1 : state_.audit.rbegin()->first + 1;
  state_.audit.emplace(e.id, e);
}

std::vector<audit_entry> memory_backend::read_audit(std::int64_t before_id, int limit) {
  std::vector<audit_entry> out;
  for (auto it = state_.audit.rbegin();
       it != state_.audit.rend() && static_cast<int>(out.size()) < limit; ++it) {
    if (before_id <= 0 || it->first < before_id) out.push_back(it->second);
  }
  return out;
}

// --- Sessions ---------------------------------------------------------------------------------

status memory_backend::create_session(const session_record& s) {
  return state_.sessions.emplace(s.id, s).second ? status::ok : status::conflict;
}

std::optional<session_record> memory_backend::find_session(const std::string& id) {
  const auto it = state_.sessions.find(id);
  if (it == state_.sessions.end()) return std::nullopt;
  return it->second;
}

status memory_backend::rotate_refresh(const std::string& id, const std::string& old_hash,
                                      const std::string& new_hash, std::int64_t new_expires_ms) {
  const auto it = state_.sessions.find(id);
  if (it == state_.sessions.end()) return status::not_found;
  session_record& s = it->second;
  if (s.revoked || s.refresh_hash != old_hash) return status::conflict;
  s.refresh_hash = new_hash;
  s.expires_ms = new_expires_ms;
  return status::ok;
}

status memory_backend::revoke_session(const std::string& id) {
  const auto it = state_.sessions.find(id);
  if (it == state_.sessions.end()) return status::not_found;
  it->second.revoked = true;
  return status::ok;
}

std::vector<std::string> memory_backend::revoked_sessions(std::int64_t now_ms) {
  std::vector<std::string> ids;  // in id order, as the sqlite backend returns them
  for (const auto& [id, s] : state_.sessions) {
    if (s.revoked && s.expires_ms > now_ms) ids.push_back(id);
  }
  return ids;
}

// --- Games ------------------------------------------------------------------------------------

status memory_backend::insert_game(const game_record& g) {
  if (state_.games.count(g.id)) return status::conflict;
  game_record stored = g;
  stored.outcomes.clear();  // not kept with the record: they go into the statistics
  state_.games.emplace(g.id, std::move(stored));
  for (const player_outcome& o : g.outcomes) {
    mode_stats& s = state_.stats[{o.account_id, g.mode}];
    s.mode = g.mode;
    ++s.played;
    switch (o.result) {
      case game_result::won:
        ++s.won;
        break;
      case game_result::lost:
        ++s.lost;
        break;
      case game_result::drawn:
        ++s.drawn;
        break;
      case game_result::abandoned:
        ++s.abandoned;
        break;
    }
    s.time_played_ms += o.time_played_ms;
    for (const auto& [tally, key] : o.tallies)
      ++s.tallies[tally][key];
  }
  book_.apply(g);
  return status::ok;
}

// --- Competition ------------------------------------------------------------------------------

std::optional<rating_record> memory_backend::load_rating(std::int64_t account_id,
                                                         const std::string& key) {
  const auto it = state_.ratings.find({account_id, key});
  if (it == state_.ratings.end()) return std::nullopt;
  return it->second;
}

void memory_backend::save_rating(const rating_record& r) {
  state_.ratings[{r.account_id, r.key}] = r;
}

void memory_backend::save_rating_change(const rating_change& ch) {
  state_.rating_changes[{ch.account_id, ch.key, ch.ended_ms, ch.game_id}] = ch;
}

std::optional<board_row> memory_backend::load_entry(const std::string& board, std::int64_t season,
                                                    std::int64_t account_id) {
  const auto it = state_.board.find({board, season, account_id});
  if (it == state_.board.end()) return std::nullopt;
  return it->second;
}

void memory_backend::save_entry(const board_row& e) {
  state_.board[{e.board, e.season, e.account_id}] = e;
}

void memory_backend::load_board(const std::string& board, std::int64_t season,
                                const std::function<void(const board_row&)>& each) {
  for (auto it = state_.board.lower_bound({board, season, INT64_MIN});
       it != state_.board.end() && std::get<0>(it->first) == board &&
       std::get<1>(it->first) == season;
       ++it)
    each(it->second);
}

std::vector<rating_record> memory_backend::ratings_of(std::int64_t account_id) {
  std::vector<rating_record> out;
  for (auto it = state_.ratings.lower_bound({account_id, std::string()});
       it != state_.ratings.end() && it->first.first == account_id; ++it)
    out.push_back(it->second);
  return out;
}

std::vector<rating_change> memory_backend::rating_history(std::int64_t account_id,
                                                          const std::string& key,
                                                          std::int64_t before_ms, int limit) {
  std::vector<rating_change> out;
  if (limit <= 0) return out;
  const std::int64_t below = before_ms > 0 ? before_ms : INT64_MAX;
  auto it = state_.rating_changes.lower_bound({account_id, key, below, std::string()});
  while (it != state_.rating_changes.begin() && out.size() < static_cast<std::size_t>(limit)) {
    --it;
    if (std::get<0>(it->first) != account_id || std::get<1>(it->first) != key) break;
    out.push_back(it->second);
  }
  return out;
}

leaderboard_page memory_backend::leaderboard_top(const std::string& board, std::int64_t season,
                                                 std::int64_t offset, int limit) {
  return book_.top(board, season, offset, limit);
}

std::optional<leaderboard_entry> memory_backend::leaderboard_rank(const std::string& board,
                                                                  std::int64_t season,
                                                                  std::int64_t account_id) {
  return book_.rank(board, season, account_id);
}

leaderboard_page memory_backend::leaderboard_around(const std::string& board, std::int64_t season,
                                                    std::int64_t account_id, int radius) {
  return book_.around(board, season, account_id, radius);
}

std::vector<std::int64_t> memory_backend::leaderboard_seasons(const std::string& board) {
  std::set<std::int64_t, std::greater<>> seasons;
  for (auto it = state_.board.lower_bound({board, INT64_MIN, INT64_MIN});
       it != state_.board.end() && std::get<0>(it->first) == board; ++it)
    seasons.insert(std::get<1>(it->first));
  return {seasons.begin(), seasons.end()};
}

std::vector<mode_stats> memory_backend::stats_of(std::int64_t account_id) {
  std::vector<mode_stats> out;
  for (auto it = state_.stats.lower_bound({account_id, std::string()});
       it != state_.stats.end() && it->first.first == account_id; ++it)
    out.push_back(it->second);
  return out;
}

std::optional<game_record> memory_backend::find_game(const std::string& id) {
  const auto it = state_.games.find(id);
  if (it == state_.games.end()) return std::nullopt;
  return it->second;
}

void memory_backend::put_casebook(const casebook_record& c) {
  state_.casebooks[c.game_id] = c;
}

void memory_backend::put_room_snapshot(const room_snapshot_record& s) {
  auto [it, fresh] = state_.room_snapshots.try_emplace(s.room_id, s);
  if (!fresh && s.seq > it->second.seq && s.node == it->second.node) it->second = s;
}

void memory_backend::delete_room_snapshot(const std::string& room_id, const std::string& node,
                                          std::int64_t upto_seq) {
  auto it = state_.room_snapshots.find(room_id);
  if (it != state_.room_snapshots.end() && it->second.node == node && it->second.seq <= upto_seq)
    state_.room_snapshots.erase(it);
}

std::vector<room_snapshot_record> memory_backend::claim_room_snapshots(const std::string& from,
                                                                       const std::string& to) {
  std::vector<room_snapshot_record> out;
  for (auto& [id, s] : state_.room_snapshots) {
    if (s.node != from) continue;
    s.node = to;
    out.push_back(s);
  }
  return out;
}

std::vector<room_snapshot_record> memory_backend::room_snapshots(const std::string& node) {
  std::vector<room_snapshot_record> out;
  for (const auto& [id, s] : state_.room_snapshots) {
    if (s.node == node) out.push_back(s);
  }
  return out;
}

std::optional<casebook_record> memory_backend::find_casebook(const std::string& game_id) {
  const auto it = state_.casebooks.find(game_id);
  if (it == state_.casebooks.end()) return std::nullopt;
  return it->second;
}

std::vector<game_record> memory_backend::games_of(std::int64_t account_id, int limit,
                                                  std::int64_t before_ms, bool include_private) {
  std::vector<const game_record*> found;
  for (const auto& [id, g] : state_.games) {
    if (before_ms > 0 && g.ended_ms >= before_ms) continue;
    if (g.is_private && !include_private) continue;
    if (std::find(g.players.begin(), g.players.end(), account_id) == g.players.end()) continue;
    found.push_back(&g);
  }
  // Newest first; ties by id, descending (the sqlite backend's index order).
  std::sort(found.begin(), found.end(), [](const game_record* x, const game_record* y) {
    if (x->ended_ms != y->ended_ms) return x->ended_ms > y->ended_ms;
    return x->id > y->id;
  });
  std::vector<game_record> out;
  const std::size_t n = std::min(found.size(), clamp_limit(limit));
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    out.push_back(*found[i]);
  return out;
}

// --- Action log -------------------------------------------------------------------------------

status memory_backend::append_log(const log_entry& e) {
  return state_.log.emplace(std::pair(e.stream, e.seq), e).second ? status::ok : status::conflict;
}

std::int64_t memory_backend::append_logs(const std::vector<log_entry>& es) {
  std::int64_t added = 0;
  for (const auto& e : es)
    added += append_log(e) == status::ok ? 1 : 0;
  return added;
}

std::vector<log_entry> memory_backend::read_log(const std::string& stream, std::int64_t after_seq,
                                                int limit) {
  std::vector<log_entry> out;
  const std::size_t max = clamp_limit(limit);
  for (auto it = state_.log.upper_bound(std::pair(stream, after_seq));
       it != state_.log.end() && it->first.first == stream && out.size() < max; ++it) {
    out.push_back(it->second);
  }
  return out;
}

// --- Event outbox -----------------------------------------------------------------------------

void memory_backend::append_event(event_record& e) {
  event_record stored = e;
  stored.id = ++state_.last_event_id;
  state_.events.emplace(stored.id, stored);
  e.id = stored.id;
}

void memory_backend::append_events(const std::vector<event_record>& es) {
  for (const auto& e : es) {
    event_record row = e;
    append_event(row);
  }
}

std::vector<event_record> memory_backend::read_events(std::int64_t after_id, int limit) {
  std::vector<event_record> out;
  const std::size_t max = clamp_limit(limit);
  for (auto it = state_.events.upper_bound(after_id); it != state_.events.end() && out.size() < max;
       ++it) {
    out.push_back(it->second);
  }
  return out;
}

// --- Traces -----------------------------------------------------------------------------------

void memory_backend::insert_trace(trace_record& t) {
  t.id = ++state_.last_trace_id;
  t.rating = t.votes = t.reports = 0;
  t.hidden = false;
  state_.traces[t.id] = t;
}

std::vector<trace_record> memory_backend::list_traces(const trace_query& q) {
  std::vector<trace_record> out;
  const std::size_t limit = clamp_limit(q.limit);
  if (limit == 0) return out;
  // Newest first: walk the id-ordered map backwards from before_id.
  auto it = q.before_id > 0 ? state_.traces.lower_bound(q.before_id) : state_.traces.end();
  while (it != state_.traces.begin() && out.size() < limit) {
    --it;
    const trace_record& t = it->second;
    if (t.area != q.area || t.kind != q.kind || t.hidden || t.created_ms < q.created_after) {
      continue;
    }
    if (q.near) {
      if (!t.has_pos) continue;
      const double dx = t.x - q.x, dy = t.y - q.y, dz = t.z - q.z;
      if (dx * dx + dy * dy + dz * dz > q.radius * q.radius) continue;
    }
    out.push_back(t);
  }
  return out;
}

std::optional<trace_record> memory_backend::find_trace(std::int64_t id) {
  auto it = state_.traces.find(id);
  if (it == state_.traces.end()) return std::nullopt;
  return it->second;
}

status memory_backend::appraise_trace(std::int64_t id, std::int64_t account_id, int value) {
  auto it = state_.traces.find(id);
  if (it == state_.traces.end()) return status::not_found;
  state_.trace_votes[{id, account_id}] = value;
  std::int64_t rating = 0, votes = 0;
  for (auto v = state_.trace_votes.lower_bound({id, INT64_MIN});
       v != state_.trace_votes.end() && v->first.first == id; ++v) {
    rating += v->second;
    ++votes;
  }
  it->second.rating = rating;
  it->second.votes = votes;
  return status::ok;
}

status memory_backend::report_trace(const trace_report& r, std::int64_t hide_after) {
  auto it = state_.traces.find(r.trace_id);
  if (it == state_.traces.end()) return status::not_found;
  if (!state_.trace_reports.emplace(std::pair{r.trace_id, r.account_id}, r).second)
    return status::conflict;
  it->second.reports += 1;
  std::set<std::string> sources;
  for (auto x = state_.trace_reports.lower_bound({r.trace_id, INT64_MIN});
       x != state_.trace_reports.end() && x->first.first == r.trace_id; ++x) {
    if (x->second.weighty) sources.insert(x->second.source);
  }
  it->second.hidden = static_cast<std::int64_t>(sources.size()) >= hide_after;
  return status::ok;
}

std::int64_t memory_backend::trim_traces(std::int64_t created_before_ms,
                                         std::int64_t keep_per_kind) {
  std::vector<std::int64_t> doomed;
  std::map<std::pair<std::string, trace_kind>, std::int64_t> kept;  // newest first
  for (auto it = state_.traces.rbegin(); it != state_.traces.rend(); ++it) {
    const trace_record& t = it->second;
    if (created_before_ms > 0 && t.created_ms < created_before_ms) {
      doomed.push_back(t.id);
      continue;
    }
    if (keep_per_kind > 0 && ++kept[{t.area, t.kind}] > keep_per_kind) doomed.push_back(t.id);
  }
  for (std::int64_t id : doomed) {
    state_.traces.erase(id);
    auto v = state_.trace_votes.lower_bound({id, INT64_MIN});
    while (v != state_.trace_votes.end() && v->first.first == id)
      v = state_.trace_votes.erase(v);
    auto r = state_.trace_reports.lower_bound({id, INT64_MIN});
    while (r != state_.trace_reports.end() && r->first.first == id)
      r = state_.trace_reports.erase(r);
  }
  return static_cast<std::int64_t>(doomed.size());
}

std::vector<trace_record> memory_backend::reported_traces(const moderation_query& q) {
  std::vector<trace_record> out;
  for (auto it = state_.traces.rbegin();
       it != state_.traces.rend() && static_cast<int>(out.size()) < q.limit; ++it) {
    const trace_record& t = it->second;
    if (q.before_id > 0 && t.id >= q.before_id) continue;
    if (q.hidden_only ? t.hidden : t.reports > 0) out.push_back(t);
  }
  return out;
}

std::vector<trace_report> memory_backend::reports_of(std::int64_t trace_id) {
  std::vector<trace_report> out;
  for (auto r = state_.trace_reports.lower_bound({trace_id, INT64_MIN});
       r != state_.trace_reports.end() && r->first.first == trace_id; ++r) {
    out.push_back(r->second);
  }
  return out;
}

status memory_backend::restore_trace(std::int64_t id) {
  auto it = state_.traces.find(id);
  if (it == state_.traces.end()) return status::not_found;
  it->second.hidden = false;
  it->second.reports = 0;
  auto r = state_.trace_reports.lower_bound({id, INT64_MIN});
  while (r != state_.trace_reports.end() && r->first.first == id)
    r = state_.trace_reports.erase(r);
  return status::ok;
}

status memory_backend::delete_trace(std::int64_t id) {
  if (state_.traces.erase(id) == 0) return status::not_found;
  auto v = state_.trace_votes.lower_bound({id, INT64_MIN});
  while (v != state_.trace_votes.end() && v->first.first == id)
    v = state_.trace_votes.erase(v);
  auto r = state_.trace_reports.lower_bound({id, INT64_MIN});
  while (r != state_.trace_reports.end() && r->first.first == id)
    r = state_.trace_reports.erase(r);
  return status::ok;
}

}  // namespace maratang::store
