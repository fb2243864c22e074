#include "redis/redis_boards.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <utility>

#include "redis/client.hpp"

namespace maratang::redis {

namespace {

// KEYS[1]: Z, KEYS[2]: H; ARGV: (account, score, member) per entry. An entry replaces the
// account's stored one unless that one was reached later (the member's first 16 hex digits are
// reached_ms, fixed-width: byte order is time order). Returns how many it wrote.
constexpr const char* kWrite = R"lua(
local n = 0
for i = 1, #ARGV, 3 do
  local old = redis.call('HGET', KEYS[2], ARGV[i])
  if not old or string.sub(ARGV[i + 2], 1, 16) >= string.sub(old, 1, 16) then
    if old then redis.call('ZREM', KEYS[1], old) end
    redis.call('ZADD', KEYS[1], ARGV[i + 1], ARGV[i + 2])
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 2])
    n = n + 1
  end
end
return n
)lua";

// KEYS[1]: OK, KEYS[2]: RB; ARGV: the rebuild's token, the marker's life (ms, 0: none). Sets the
// marker only while the lock is still this rebuild's (a FLUSHALL meanwhile took it, and the
// entries merged before it).
constexpr const char* kComplete = R"lua(
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
if tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])
else
  redis.call('SET', KEYS[1], '1')
end
return 1
)lua";

// KEYS[1]: RB; ARGV[1]: the token. Gives the lock up if it is still ours.
constexpr const char* kUnlock = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
)lua";

// The reads answer -1 when the marker is missing, else {total, first rank - 1, members...}.
// KEYS[1]: Z, KEYS[2]: OK; ARGV: offset, limit.
constexpr const char* kTop = R"lua(
if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
local n = redis.call('ZCARD', KEYS[1])
local off = tonumber(ARGV[1])
local lim = tonumber(ARGV[2])
local out = {n, off}
if lim > 0 and off < n then
  local ms = redis.call('ZRANGE', KEYS[1], off, off + lim - 1)
  for i = 1, #ms do out[#out + 1] = ms[i] end
end
return out
)lua";

// KEYS[1]: Z, KEYS[2]: H, KEYS[3]: OK; ARGV: account, radius (-1: the account's entry alone).
constexpr const char* kAround = R"lua(
if redis.call('EXISTS', KEYS[3]) == 0 then return -1 end
local n = redis.call('ZCARD', KEYS[1])
local m = redis.call('HGET', KEYS[2], ARGV[1])
if not m then return {n} end
local r = redis.call('ZRANK', KEYS[1], m)
if not r then return {n} end
local radius = tonumber(ARGV[2])
if radius < 0 then return {n, r, m} end
local first = math.max(0, r - radius)
local out = {n, first}
local ms = redis.call('ZRANGE', KEYS[1], first, r + radius)
for i = 1, #ms do out[#out + 1] = ms[i] end
return out
)lua";

constexpr std::uint64_t kSign = std::uint64_t{1} << 63;

// Fixed-width, order-preserving: the sign bit flipped makes negative numbers sort first.
std::string hex_of(std::int64_t v) {
  return fmt::format("{:016x}", static_cast<std::uint64_t>(v) ^ kSign);
}

std::optional<std::int64_t> from_hex(std::string_view s) {
  std::uint64_t u = 0;
  for (char ch : s) {
    int d;
    if (ch >= '0' && ch <= '9')
      d = ch - '0';
    else if (ch >= 'a' && ch <= 'f')
      d = ch - 'a' + 10;
    else
      return std::nullopt;
    u = (u << 4) | static_cast<std::uint64_t>(d);
  }
  return static_cast<std::int64_t>(u ^ kSign);
}

// %.17g: a double printed so that strtod gives it back exactly.
std::string exact(double v) {
  return fmt::format("{:.17g}", v);
}

struct board_keys {
  std::string z, h, ok, rb;
};

board_keys keys_of(const boards_options& o, const std::string& board, std::int64_t season) {
  // One hash tag per board and season: the four keys stay in one slot of a Redis Cluster.
  const std::string base = fmt::format("{}:{{{}|{}}}", o.prefix, board, season);
  return {base + ":z", base + ":h", base + ":ok", base + ":rb"};
}

// A read's answer: the board's size and the entries from rank first+1 on.
struct slice {
  std::int64_t total = 0;
  std::vector<store::leaderboard_entry> entries;
};

std::optional<store::leaderboard_entry> entry_of(const std::string& m) {
  if (m.size() <= 32) return std::nullopt;
  auto reached = from_hex(std::string_view(m).substr(0, 16));
  auto account = from_hex(std::string_view(m).substr(16, 16));
  if (!reached || !account) return std::nullopt;
  const std::string v = m.substr(32);
  char* end = nullptr;
  const double value = std::strtod(v.c_str(), &end);
  if (end != v.c_str() + v.size()) return std::nullopt;
  return store::leaderboard_entry{0, *account, value, *reached};
}

std::optional<slice> slice_of(const reply& r) {
  if (r.type != reply::kind::array || r.elements.empty()) return std::nullopt;
  if (r.elements[0].type != reply::kind::integer) return std::nullopt;
  slice s;
  s.total = r.elements[0].integer;
  if (r.elements.size() == 1) return s;
  if (r.elements[1].type != reply::kind::integer) return std::nullopt;
  const std::int64_t first = r.elements[1].integer;
  for (std::size_t i = 2; i < r.elements.size(); ++i) {
    if (r.elements[i].type != reply::kind::string) return std::nullopt;
    auto e = entry_of(r.elements[i].str);
    if (!e) return std::nullopt;
    e->rank = first + static_cast<std::int64_t>(i) - 1;
    s.entries.push_back(*e);
  }
  return s;
}

std::string token() {
  static std::atomic<std::uint64_t> n{0};
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:016x}{:x}", rng(), n++);
}

}  // namespace

struct redis_boards::state {
  std::shared_ptr<client> c;
  competition::competition_store* db;
  board_loader load;
  boards_options o;
  boards_stats stats;
  std::mutex mu;
  // Boards whose marker must be deleted (a write to them failed), sent before the next command.
  std::set<std::pair<std::string, std::int64_t>> lost;  // GUARDED_BY(mu)
};

namespace {

using state_ptr = std::shared_ptr<redis_boards::state>;

void mark_lost(const state_ptr& st, const std::string& board, std::int64_t season) {
  std::lock_guard lk(st->mu);
  st->lost.emplace(board, season);
}

// Deletes the markers of the boards whose writes failed. Commands on the client are sent and
// answered in order, so the deletions precede whatever the caller sends next.
void flush_lost(const state_ptr& st) {
  std::set<std::pair<std::string, std::int64_t>> lost;
  {
    std::lock_guard lk(st->mu);
    if (st->lost.empty()) return;
    lost.swap(st->lost);
  }
  for (const auto& [board, season] : lost) {
    st->c->command({"DEL", keys_of(st->o, board, season).ok}, [st, board, season](result<reply> r) {
      if (!r || r->is_error()) mark_lost(st, board, season);
    });
  }
}

// Merges rows[first..] into Redis one chunk at a time (the next sent when the last is answered:
// other nodes' commands pass in between, and no chunk waits behind the others long enough to
// reach the client's command timeout), then sets the marker if the lock is still `tok`'s.
void merge_chunks(const state_ptr& st, std::shared_ptr<std::vector<store::board_row>> rows,
                  std::size_t first, const board_keys& k, const std::string& tok,
                  std::function<void(bool)> done) {
  const std::size_t chunk = std::max<std::size_t>(1, st->o.rebuild_chunk);
  if (first < rows->size()) {
    auto cmd = redis_boards::write_command(st->o, *rows, first, chunk);
    return st->c->command(std::move(cmd), [st, rows, first, chunk, k, tok,
                                           done = std::move(done)](result<reply> w) mutable {
      if (!w || w->is_error()) {
        st->c->command({"EVAL", kUnlock, "1", k.rb, tok}, [](result<reply>) {});
        return done(false);
      }
      merge_chunks(st, std::move(rows), first + chunk, k, tok, std::move(done));
    });
  }
  const std::size_t n = rows->size();
  st->c->command({"EVAL", kComplete, "2", k.ok, k.rb, tok, std::to_string(st->o.complete_ttl_ms)},
                 [st, k, n, done = std::move(done)](result<reply> c) {
                   const bool set = c && c->type == reply::kind::integer && c->integer == 1;
                   if (set) {
                     st->stats.rebuilds.fetch_add(1, std::memory_order_relaxed);
                     spdlog::info("redis boards: {} rebuilt from the database ({} entries)", k.z,
                                  n);
                   }
                   done(set);
                 });
}

// Merges every row of the board from the database into Redis under the rebuild lock, then sets
// the marker; `done(true)` when the marker was set.
void rebuild(const state_ptr& st, const std::string& board, std::int64_t season,
             std::function<void(bool)> done) {
  const board_keys k = keys_of(st->o, board, season);
  const std::string tok = token();
  st->c->command(
      {"SET", k.rb, tok, "NX", "PX", std::to_string(st->o.rebuild_lock_ms)},
      [st, board, season, k, tok, done = std::move(done)](result<reply> r) mutable {
        // nil: another node is rebuilding it.
        if (!r || r->type != reply::kind::status) return done(false);
        st->load(board, season,
                 [st, board, season, k, tok,
                  done = std::move(done)](result<std::vector<store::board_row>> rows) mutable {
                   if (!rows) {
                     spdlog::warn("redis boards: {} season {} was not rebuilt: {}", board, season,
                                  rows.error().message);
                     st->c->command({"EVAL", kUnlock, "1", k.rb, tok}, [](result<reply>) {});
                     return done(false);
                   }
                   merge_chunks(st,
                                std::make_shared<std::vector<store::board_row>>(std::move(*rows)),
                                0, k, tok, std::move(done));
                 });
      });
}

// Runs a read script; `ok` with its answer, or `fallback` when Redis cannot answer. A missing
// marker rebuilds the board first (once).
void query(const state_ptr& st, const std::string& board, std::int64_t season,
           std::vector<std::string> cmd, std::function<void(slice)> ok,
           std::function<void()> fallback, bool may_rebuild) {
  flush_lost(st);
  std::vector<std::string> again;
  if (may_rebuild) again = cmd;
  st->c->command(
      std::move(cmd), [st, board, season, again = std::move(again), ok = std::move(ok),
                       fallback = std::move(fallback), may_rebuild](result<reply> r) mutable {
        if (!r || r->is_error()) return fallback();
        if (r->type == reply::kind::integer && r->integer == -1) {
          if (!may_rebuild) return fallback();
          return rebuild(st, board, season,
                         [st, board, season, again = std::move(again), ok = std::move(ok),
                          fallback = std::move(fallback)](bool built) mutable {
                           if (!built) return fallback();
                           query(st, board, season, std::move(again), std::move(ok),
                                 std::move(fallback), false);
                         });
        }
        auto s = slice_of(*r);
        if (!s) return fallback();
        st->stats.redis_reads.fetch_add(1, std::memory_order_relaxed);
        ok(std::move(*s));
      });
}

}  // namespace

redis_boards::redis_boards(std::shared_ptr<client> c, competition::competition_store& db,
                           board_loader load, boards_options o)
    : st_(std::make_shared<state>()) {
  st_->c = std::move(c);
  st_->db = &db;
  st_->load = std::move(load);
  st_->o = std::move(o);
}

redis_boards::~redis_boards() = default;

const boards_stats& redis_boards::stats() const noexcept {
  return st_->stats;
}

std::string redis_boards::member_of(const store::board_row& r) {
  return hex_of(r.reached_ms) + hex_of(r.account_id) + exact(r.value);
}

std::vector<std::string> redis_boards::write_command(const boards_options& o,
                                                     const std::vector<store::board_row>& rows,
                                                     std::size_t first, std::size_t count) {
  std::vector<std::string> cmd;
  if (first >= rows.size()) return cmd;
  const std::size_t last = std::min(rows.size(), first + count);
  const board_keys k = keys_of(o, rows[first].board, rows[first].season);
  cmd.reserve(5 + 3 * (last - first));
  cmd.insert(cmd.end(), {"EVAL", kWrite, "2", k.z, k.h});
  for (std::size_t i = first; i < last; ++i) {
    cmd.push_back(std::to_string(rows[i].account_id));
    cmd.push_back(exact(rows[i].sort_key));
    cmd.push_back(member_of(rows[i]));
  }
  return cmd;
}

std::vector<std::string> redis_boards::complete_command(const boards_options& o,
                                                        const std::string& board,
                                                        std::int64_t season) {
  return {"SET", keys_of(o, board, season).ok, "1"};
}

void redis_boards::apply(store::board_changes c) {
  apply(std::move(c), {});
}

void redis_boards::apply(store::board_changes c, std::function<void(bool)> done) {
  const state_ptr st = st_;
  flush_lost(st);
  // One script per board: its rows in commit order.
  std::map<std::pair<std::string, std::int64_t>, std::vector<store::board_row>> by_board;
  for (store::board_row& r : c.rows) {
    auto key = std::make_pair(r.board, r.season);
    by_board[key].push_back(std::move(r));
  }
  struct tally {
    std::size_t left;
    bool ok = true;
    std::function<void(bool)> done;
  };
  auto t = std::make_shared<tally>(tally{by_board.size() + c.stale.size(), true, std::move(done)});
  const auto finish = [t](bool ok) {
    if (!ok) t->ok = false;
    if (--t->left == 0 && t->done) t->done(t->ok);
  };
  if (t->left == 0) {
    if (t->done) t->done(true);
    return;
  }
  for (auto& [key, rows] : by_board) {
    const std::size_t n = rows.size();
    st->c->command(write_command(st->o, rows, 0, n), [st, key, n, finish](result<reply> r) {
      const bool ok = r && !r->is_error();
      if (ok) {
        st->stats.writes.fetch_add(n, std::memory_order_relaxed);
      } else {
        st->stats.failed_writes.fetch_add(n, std::memory_order_relaxed);
        mark_lost(st, key.first, key.second);
      }
      finish(ok);
    });
  }
  for (auto& [board, season] : c.stale) {
    st->c->command({"DEL", keys_of(st->o, board, season).ok},
                   [st, board, season, finish](result<reply> r) {
                     const bool ok = r && !r->is_error();
                     if (!ok) mark_lost(st, board, season);
                     finish(ok);
                   });
  }
}

void redis_boards::ratings_of(std::int64_t account_id,
                              store::reply<std::vector<store::rating_record>> done) {
  st_->db->ratings_of(account_id, std::move(done));
}

void redis_boards::rating_history(std::int64_t account_id, std::string key, std::int64_t before_ms,
                                  int limit, store::reply<std::vector<store::rating_change>> done) {
  st_->db->rating_history(account_id, std::move(key), before_ms, limit, std::move(done));
}

void redis_boards::leaderboard_seasons(std::string board,
                                       store::reply<std::vector<std::int64_t>> done) {
  st_->db->leaderboard_seasons(std::move(board), std::move(done));
}

void redis_boards::leaderboard_top(std::string board, std::int64_t season, std::int64_t offset,
                                   int limit, store::reply<store::leaderboard_page> done) {
  if (offset < 0) offset = 0;
  if (limit < 0) limit = 0;
  const board_keys k = keys_of(st_->o, board, season);
  auto shared_done = std::make_shared<store::reply<store::leaderboard_page>>(std::move(done));
  const state_ptr st = st_;
  query(
      st, board, season,
      {"EVAL", kTop, "2", k.z, k.ok, std::to_string(offset), std::to_string(limit)},
      [shared_done](slice s) {
        (*shared_done)(store::leaderboard_page{s.total, std::move(s.entries)});
      },
      [st, board, season, offset, limit, shared_done] {
        st->stats.fallback_reads.fetch_add(1, std::memory_order_relaxed);
        st->db->leaderboard_top(board, season, offset, limit, std::move(*shared_done));
      },
      true);
}

void redis_boards::leaderboard_rank(std::string board, std::int64_t season, std::int64_t account_id,
                                    store::reply<std::optional<store::leaderboard_entry>> done) {
  const board_keys k = keys_of(st_->o, board, season);
  auto shared_done =
      std::make_shared<store::reply<std::optional<store::leaderboard_entry>>>(std::move(done));
  const state_ptr st = st_;
  query(
      st, board, season, {"EVAL", kAround, "3", k.z, k.h, k.ok, std::to_string(account_id), "-1"},
      [shared_done](slice s) {
        std::optional<store::leaderboard_entry> e;
        if (!s.entries.empty()) e = s.entries.front();
        (*shared_done)(std::move(e));
      },
      [st, board, season, account_id, shared_done] {
        st->stats.fallback_reads.fetch_add(1, std::memory_order_relaxed);
        st->db->leaderboard_rank(board, season, account_id, std::move(*shared_done));
      },
      true);
}

void redis_boards::leaderboard_around(std::string board, std::int64_t season,
                                      std::int64_t account_id, int radius,
                                      store::reply<store::leaderboard_page> done) {
  if (radius < 0) radius = 0;
  const board_keys k = keys_of(st_->o, board, season);
  auto shared_done = std::make_shared<store::reply<store::leaderboard_page>>(std::move(done));
  const state_ptr st = st_;
  query(
      st, board, season,
      {"EVAL", kAround, "3", k.z, k.h, k.ok, std::to_string(account_id), std::to_string(radius)},
      [shared_done](slice s) {
        (*shared_done)(store::leaderboard_page{s.total, std::move(s.entries)});
      },
      [st, board, season, account_id, radius, shared_done] {
        st->stats.fallback_reads.fetch_add(1, std::memory_order_relaxed);
        st->db->leaderboard_around(board, season, account_id, radius, std::move(*shared_done));
      },
      true);
}

}  // namespace maratang::redis
