#include "app/server.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/host_name.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <thread>
#include <vector>

#include "api/gateway.hpp"
#include "api/http_replies.hpp"
#include "app/cluster.hpp"
#include "competition/season.hpp"
#include "core/auth_service.hpp"
#include "core/crypto.hpp"
#include "events/kafka/kafka_stream.hpp"
#include "events/outbox_stream.hpp"
#include "events/publishing_stores.hpp"
#include "lobby/lobby.hpp"
#include "match/match_service.hpp"
#include "match/party_service.hpp"
#include "media/janus_sfu.hpp"
#include "modes/arena/arena_mode.hpp"
#include "modes/mafia/mafia_mode.hpp"
#include "modes/mystery/casebook.hpp"
#include "modes/mystery/loader.hpp"
#include "modes/mystery/mystery_mode.hpp"
#include "modes/mystery/openai_port.hpp"
#include "modes/testing/counter_mode.hpp"
#include "net/listener.hpp"
#include "obs/history.hpp"
#include "obs/metrics.hpp"
#include "redis/client.hpp"
#include "redis/redis_boards.hpp"
#include "redis/shared_limit.hpp"
#include "store/batched_store.hpp"
#include "store/memory/memory_backend.hpp"
#include "store/postgres/pg_backend.hpp"
#include "store/sqlite/sqlite_backend.hpp"
#include "store/worker.hpp"
#include "traces/trace_service.hpp"

namespace maratang::app {

namespace asio = boost::asio;

namespace {

result<std::unique_ptr<store::backend>> open_backend(const config& cfg) {
  try {
    if (cfg.storage_backend == "memory") {
      return std::unique_ptr<store::backend>(std::make_unique<store::memory_backend>());
    }
    if (cfg.storage_backend == "postgres") {
      store::pg_options o;
      o.connect_timeout_s = cfg.storage_connect_timeout_s;
      o.statement_timeout_ms = cfg.storage_statement_timeout_ms;
      return std::unique_ptr<store::backend>(store::pg_backend::open(cfg.database_url, o));
    }
    std::filesystem::path p(cfg.sqlite_path);
    if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
    store::sqlite_options o;
    o.full_sync = cfg.storage_full_sync;
    o.max_size_bytes = std::int64_t{cfg.storage_max_size_mb} << 20;
    return std::unique_ptr<store::backend>(store::sqlite_backend::open(cfg.sqlite_path, o));
  } catch (const std::exception& e) {
    return error{errc::unavailable, fmt::format("storage ({}): {}", cfg.storage_backend, e.what())};
  }
}

// The signing key: from the config, else from <data_dir>/secret.key, made on first start.
result<core::signing_key> load_key(const config& cfg) {
  core::signing_key key{};
  if (!cfg.auth_secret.empty()) {
    if (!core::decode_key(cfg.auth_secret, key)) {
      return error{errc::bad_field, "setting auth.secret: must be base64url of exactly 32 bytes"};
    }
    return key;
  }
  if (cfg.storage_backend == "memory") return core::random_signing_key();
  std::filesystem::path path = std::filesystem::path(cfg.data_dir) / "secret.key";
  std::error_code ec;
  std::filesystem::create_directories(cfg.data_dir, ec);
  if (std::ifstream in(path); in) {
    std::string text;
    std::getline(in, text);
    if (!core::decode_key(text, key)) {
      return error{errc::bad_field,
                   fmt::format("{} is not a valid key; delete it to make a new one "
                               "(every session token will stop working)",
                               path.string())};
    }
    return key;
  }
  key = core::random_signing_key();
  std::string tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return error{errc::unavailable, fmt::format("cannot write {}", tmp)};
    out << core::encode_key(key) << "\n";
  }
  ::chmod(tmp.c_str(), 0600);
  std::filesystem::rename(tmp, path, ec);
  if (ec)
    return error{errc::unavailable,
                 fmt::format("cannot write {}: {}", path.string(), ec.message())};
  return key;
}

// The data folder and its files are the server's alone: the folder 0700, the files (database,
// -wal, -shm, secret.key) 0600. Sets the process umask to 077 first, so that whatever the server
// creates from here on (folders, the database and its journals, the key) is private; then
// tightens what an earlier run (or an older version) left more open, saying so in the log.
void protect_data(const config& cfg) {
  ::umask(077);
  namespace fs = std::filesystem;
  auto tighten = [](const fs::path& p, fs::perms want, const char* what) {
    std::error_code ec;
    auto st = fs::status(p, ec);
    if (ec || !fs::exists(st)) return;
    const auto open = st.permissions() & (fs::perms::group_all | fs::perms::others_all);
    if (open == fs::perms::none) return;
    fs::permissions(p, want, fs::perm_options::replace, ec);
    if (ec) {
      spdlog::warn("cannot make {} {} private: {}", what, p.string(), ec.message());
    } else {
      spdlog::warn("{} {} was readable by others (mode {:o}); now {:o}", what, p.string(),
                   static_cast<unsigned>(st.permissions()), static_cast<unsigned>(want));
    }
  };
  if (cfg.storage_backend == "memory") return;  // nothing is written to the data folder
  std::error_code ec;
  fs::create_directories(cfg.data_dir, ec);  // 0700 under the umask
  tighten(cfg.data_dir, fs::perms::owner_all, "data folder");
  std::vector<fs::path> files{fs::path(cfg.data_dir) / "secret.key"};
  for (const char* suffix : {"", "-wal", "-shm", "-journal"})
    files.emplace_back(cfg.sqlite_path + suffix);
  for (const auto& f : files)
    tighten(f, fs::perms::owner_read | fs::perms::owner_write, "file");
}

traces::trace_options trace_options_of(const config& c) {
  traces::trace_options o;
  o.default_area = c.traces_default_area;
  o.cache_max_age_ms = c.traces_cache_max_age_ms;
  o.limits.json_depth_max = static_cast<unsigned>(c.json_depth_max);
  o.limits.phantom_points_max = c.traces_phantom_points_max;
  o.limits.message_part_max = c.traces_message_part_max;
  o.anon_write_rate = c.traces_anon_writes_per_minute / 60.0;
  o.anon_write_burst = c.traces_anon_write_burst;
  o.account_write_rate = c.traces_account_writes_per_minute / 60.0;
  o.account_write_burst = c.traces_account_write_burst;
  o.hide_after_reports = c.traces_hide_after_reports;
  o.report_min_account_age_ms = std::int64_t{c.traces_report_min_account_age_s} * 1000;
  o.max_age_s = c.traces_max_age_s;
  o.max_per_kind = c.traces_max_per_kind;
  o.trim_interval_ms = c.traces_trim_interval_ms;
  return o;
}

core::auth_limits auth_limits_of(const config& c) {
  core::auth_limits l;
  for (auto [b, free] : {std::pair{&l.account, c.auth_login_free_failures},
                         std::pair{&l.address, c.auth_address_free_failures}}) {
    b->free_attempts = free;
    b->base_delay = std::chrono::milliseconds(c.auth_backoff_ms);
    b->max_delay = std::chrono::milliseconds(c.auth_backoff_max_ms);
    b->window = std::chrono::seconds(c.auth_failure_window_s);
  }
  l.signups_per_hour = c.auth_signups_per_hour;
  l.signup_burst = c.auth_signup_burst;
  l.hash_queue_max = c.auth_hash_queue_max;
  return l;
}

// The common-password lists: a missing one is logged, not fatal.
std::shared_ptr<const core::password_policy> load_password_policy(const config& c) {
  auto p = std::make_shared<core::password_policy>();
  std::string_view rest = c.auth_password_lists;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    std::string path(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (path.empty()) continue;
    if (auto n = p->load_list(path)) {
      spdlog::info("auth: {} common passwords read from {}", *n, path);
    } else {
      spdlog::warn(
          "auth: common-password list {} is missing ({}); new passwords are not checked against "
          "it (install the Debian package john-data or cracklib-runtime, or set "
          "auth.password_lists)",
          path, n.error().message);
    }
  }
  return p;
}

// Where a directory of files to serve is: `configured` when it is absolute or exists from the
// working directory; else beside the executable, installed (<prefix>/bin/maratang with
// <prefix>/share/maratang/<dir>) or in a build tree (build/<preset>/maratang in the sources).
std::string served_dir(const std::string& configured) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path p(configured);
  if (p.is_absolute() || fs::is_directory(p, ec)) return configured;
  const auto exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return configured;
  for (const auto& base :
       {exe.parent_path() / ".." / "share" / "maratang", exe.parent_path() / ".." / ".."}) {
    if (fs::is_directory(base / p, ec)) return fs::weakly_canonical(base / p, ec).string();
  }
  spdlog::warn("directory \"{}\" not found (from {} nor beside {})", configured,
               fs::current_path(ec).string(), exe.string());
  return configured;
}

}  // namespace

result<int> migrate(const config& cfg) {
  protect_data(cfg);
  auto b = open_backend(cfg);
  if (!b) return b.error();
  try {
    (*b)->migrate();
    return (*b)->schema_version();
  } catch (const std::exception& e) {
    return error{errc::unavailable, fmt::format("migration failed: {}", e.what())};
  }
}

result<std::string> set_admin(const config& cfg, const std::string& email, bool grant,
                              std::int64_t now_ms) {
  if (cfg.storage_backend == "memory") {
    return error{errc::bad_field,
                 "storage.backend is memory: nothing is kept between processes, so there is no "
                 "account to change. Use the sqlite backend."};
  }
  protect_data(cfg);
  auto b = open_backend(cfg);
  if (!b) return b.error();
  try {
    store::backend& db = **b;
    db.migrate();
    const std::string key = core::normalize_email(email);
    db.begin();
    auto acc = db.find_account_by_email(key);
    if (!acc) {
      db.rollback();
      return error{errc::not_found, fmt::format("no account has the email {}", key)};
    }
    db.set_admin(acc->id, grant);
    store::audit_entry e{0,
                         now_ms,
                         0,
                         grant ? "admin.grant" : "admin.revoke",
                         fmt::format("account:{}", acc->id),
                         boost::json::serialize(boost::json::object{
                             {"email", key}, {"was_admin", acc->is_admin}, {"by", "cli"}})};
    db.append_audit(e);
    db.commit();
    return fmt::format("account {} ({}) {} admin", acc->id, key,
                       grant ? "is now an" : "is no longer an");
  } catch (const std::exception& e) {
    return error{errc::unavailable, fmt::format("storage failed: {}", e.what())};
  }
}

// Parties and the matchmaker (src/match/), with ratings read from the competition store.
template <class Impl>
void start_matchmaking(Impl& s) {
  match::party_options po;
  po.max_size = s.cfg.party_max_size;
  po.invite_ttl_ms = s.cfg.party_invite_ttl_ms;
  s.parties = std::make_unique<match::party_service>(s.ioc, *s.lob, real_clock(), po);
  match::match_options mo;
  mo.interval_ms = s.cfg.match_interval_ms;
  // A matched seat is held by the room for rooms.reservation_ms: the deadline is never later.
  mo.join_timeout_ms = std::min(s.cfg.match_join_timeout_ms, s.cfg.reservation_ms);
  mo.mm.ticket_ttl_ms = s.cfg.match_ticket_ttl_ms;
  mo.mm.accept_min_after_ms = s.cfg.match_accept_min_after_ms;
  mo.mm.window_start = s.cfg.match_window_start_pct / 100.0;
  mo.mm.widen_per_s = s.cfg.match_widen_pct_per_s / 100.0;
  mo.mm.window_max = s.cfg.match_window_max_pct / 100.0;
  mo.mm.seed = std::random_device{}();
  competition::competition_store* ratings = s.ports.get();
  auto reader = [ratings](match::player_id p, std::string key,
                          std::function<void(std::optional<std::pair<double, double>>)> done) {
    ratings->ratings_of(p, [key = std::move(key),
                            done = std::move(done)](result<std::vector<store::rating_record>> rs) {
      if (rs) {
        for (const auto& r : *rs)
          if (r.key == key) return done(std::pair{r.mu, r.sigma});
      }
      done(std::nullopt);
    });
  };
  s.matches = std::make_unique<match::match_service>(s.ioc, *s.lob, *s.parties, real_clock(),
                                                     std::move(reader), mo);
  s.gate->set_matchmaking(s.parties.get(), s.matches.get());
  s.matches->start();
  s.m.add_collector([&s](std::string& out) {
    const auto& st = s.matches->counters();
    out += fmt::format(
        "# HELP maratang_matchmaker_waiting Matchmaking tickets waiting.\n"
        "# TYPE maratang_matchmaker_waiting gauge\nmaratang_matchmaker_waiting {}\n"
        "# HELP maratang_matchmaker_tickets_total Tickets queued.\n"
        "# TYPE maratang_matchmaker_tickets_total counter\nmaratang_matchmaker_tickets_total {}\n"
        "# HELP maratang_matchmaker_matches_total Matches formed.\n"
        "# TYPE maratang_matchmaker_matches_total counter\nmaratang_matchmaker_matches_total {}\n"
        "# HELP maratang_matchmaker_games_total Matches whose game started.\n"
        "# TYPE maratang_matchmaker_games_total counter\nmaratang_matchmaker_games_total {}\n"
        "# HELP maratang_matchmaker_expired_total Tickets that expired unmatched.\n"
        "# TYPE maratang_matchmaker_expired_total counter\nmaratang_matchmaker_expired_total {}\n"
        "# HELP maratang_matchmaker_no_shows_total Tickets ended because a player did not join.\n"
        "# TYPE maratang_matchmaker_no_shows_total counter\nmaratang_matchmaker_no_shows_total "
        "{}\n"
        "# HELP maratang_matchmaker_requeued_total Tickets queued again after a no-show.\n"
        "# TYPE maratang_matchmaker_requeued_total counter\nmaratang_matchmaker_requeued_total "
        "{}\n",
        s.matches->waiting(), st.queued.load(), st.matched.load(), st.started.load(),
        st.expired.load(), st.no_shows.load(), st.requeued.load());
  });
}

// Joins this node to the others through Redis (docs/ARCHITECTURE.md, "Redis"): a logout here is
// published on `maratang:revoked`, and every node (this one too) ends that session's sockets and
// refuses its tokens when it hears it. A revocation published while a node is cut off from Redis
// reaches that node only at its next start (it reads the revocations from the database then).
template <class Impl>
void start_redis(Impl& s) {
  redis::options ro;
  (void)redis::parse_url(s.cfg.redis_url, ro);  // checked with the configuration
  s.redis = redis::client::start(s.ioc, ro);
  s.redis_sub = redis::client::start(s.ioc, ro);
  // What the nodes tell each other, one channel each (docs/ARCHITECTURE.md, "Redis"). Pub/sub:
  // these are notices about state that is stored elsewhere (the database, each node's memory),
  // so a node that misses one while cut off loses nothing stored; see the note on gaps there.
  //   revoked  "<session id>"                      a logout: the session's tokens and sockets end
  //   banned   "<account> <until ms> <reason>"     an admin's ban (until 0: lifted)
  //   online   "<node> <account> <at ms>"          a socket attached: older ones elsewhere close
  //   traces   "<node> <area>"                     an area's listings are stale ("": every area)
  static constexpr const char* revoked = "maratang:revoked";
  static constexpr const char* banned = "maratang:banned";
  static constexpr const char* online = "maratang:online";
  static constexpr const char* traces = "maratang:traces";
  // This process among the nodes: its own notices come back to it and are skipped.
  s.node_tag = core::random_token(8);
  // The first space-separated field of `msg`, and the rest.
  auto split = [](std::string_view msg) {
    const auto sp = msg.find(' ');
    if (sp == std::string_view::npos) return std::pair{msg, std::string_view()};
    return std::pair{msg.substr(0, sp), msg.substr(sp + 1)};
  };
  // Membership, the room and seat directories, reservations (app/cluster.hpp).
  cluster_options co;
  co.node_id = s.cfg.node_id;
  co.route = s.cfg.node_route;
  co.heartbeat_ms = s.cfg.cluster_heartbeat_ms;
  co.node_ttl_ms = s.cfg.cluster_node_ttl_ms;
  s.cluster = std::make_unique<cluster_node>(s.ioc, s.redis, s.redis_sub, *s.lob, co);
  s.lob->set_listener(s.cluster->listener());
  s.redis->on_state([&s](bool up) { s.cluster->on_state(up); });
  s.redis_sub->on_state([&s](bool up) {
    if (up) s.cluster->on_subscriber_up();
  });
  // One matchmaker for the cluster (match_service.hpp, "Several nodes").
  match::match_peers mp;
  mp.self = co.node_id;
  mp.lead = [&s] { return s.cluster->matchmaker(); };
  mp.ask = [&s](const std::string& node, boost::json::object msg,
                std::function<void(result<boost::json::object>)> answer) {
    s.cluster->ask(node, std::move(msg), std::move(answer));
  };
  s.matches->set_peers(std::move(mp));
  s.cluster->set_matchmaking(
      [&s](boost::json::object msg, std::function<void(result<boost::json::object>)> answer) {
        s.matches->on_request(std::move(msg), std::move(answer));
      },
      [&s](std::string old_lead) { s.matches->lead_changed(std::move(old_lead)); });
  // Parties live on the node where they were made (party_service.hpp, "Several nodes").
  match::party_peers pp;
  pp.self = co.node_id;
  pp.locate = [&s](std::string key, std::function<void(result<std::string>)> done) {
    s.cluster->party_locate(std::move(key), std::move(done));
  };
  pp.publish = [&s](std::vector<std::string> keys, std::vector<std::int64_t> members,
                    bool present) {
    s.cluster->party_publish(std::move(keys), std::move(members), present);
  };
  pp.ask = [&s](const std::string& node, boost::json::object msg,
                std::function<void(result<boost::json::object>)> answer) {
    s.cluster->ask(node, std::move(msg), std::move(answer));
  };
  pp.route_of = [&s](const std::string& node) { return s.cluster->route_of(node); };
  pp.party_node = [&s](std::int64_t p, std::function<void(std::string)> done) {
    s.cluster->party_home(p, std::move(done));
  };
  s.parties->set_peers(std::move(pp));
  s.cluster->set_parties(
      [&s](boost::json::object msg, std::function<void(result<boost::json::object>)> answer) {
        s.parties->on_request(std::move(msg), std::move(answer));
      },
      [&s] { s.parties->republish(); });
  // Leaderboards: read from Redis sorted sets that every node feeds with the entries its commits
  // changed (redis/redis_boards.hpp); ratings stay with the database. The listener holds the
  // decorator, which the worker thread may call until the store stops.
  s.boards = std::make_shared<redis::redis_boards>(
      s.redis, *s.ports,
      [&s](std::string board, std::int64_t season,
           store::reply<std::vector<store::board_row>> done) {
        s.ports->board_rows(std::move(board), season, std::move(done));
      });
  s.ports->watch_boards(
      [boards = s.boards](store::board_changes c) { boards->apply(std::move(c)); });
  s.gate->set_competition(s.boards.get(), &s.seasons);
  s.m.add_collector([boards = s.boards](std::string& out) {
    const auto& b = boards->stats();
    out += fmt::format(
        "# HELP maratang_board_reads_total Leaderboard reads, by who answered them.\n"
        "# TYPE maratang_board_reads_total counter\n"
        "maratang_board_reads_total{{from=\"redis\"}} {}\n"
        "maratang_board_reads_total{{from=\"database\"}} {}\n"
        "# HELP maratang_board_rebuilds_total Boards rebuilt in Redis from the database.\n"
        "# TYPE maratang_board_rebuilds_total counter\nmaratang_board_rebuilds_total {}\n"
        "# HELP maratang_board_write_failures_total Board entries not written to Redis (the "
        "board is rebuilt).\n"
        "# TYPE maratang_board_write_failures_total counter\n"
        "maratang_board_write_failures_total {}\n",
        b.redis_reads.load(), b.fallback_reads.load(), b.rebuilds.load(), b.failed_writes.load());
  });
  s.redis_sub->on_message([&s, split](std::string_view channel, std::string_view msg) {
    if (s.cluster->on_message(channel, msg)) return;
    if (channel == revoked) {
      const std::string id(msg);
      s.auth->note_revoked(id);
      s.lob->close_session(id);
    } else if (channel == banned) {
      auto [acc, rest] = split(msg);
      auto [until_text, reason] = split(rest);
      std::int64_t account = 0, until = 0;
      if (!api::parse_i64(acc, account) || !api::parse_i64(until_text, until)) {
        return spdlog::warn("redis: a malformed ban message was ignored");
      }
      s.auth->note_ban(account, until, std::string(reason));
      if (until) {
        if (auto why = s.auth->check_banned(account); !why)
          s.lob->disconnect(account, "banned", why.error().message);
      }
    } else if (channel == online) {
      auto [node, rest] = split(msg);
      auto [acc, at_text] = split(rest);
      std::int64_t account = 0, at = 0;
      if (node == s.node_tag) return;
      if (!api::parse_i64(acc, account) || !api::parse_i64(at_text, at)) {
        return spdlog::warn("redis: a malformed online message was ignored");
      }
      // Two sockets attached in the same millisecond: the node with the smaller tag keeps its.
      s.lob->replaced_elsewhere(account, at, s.node_tag > node);
    } else if (channel == traces) {
      auto [node, area] = split(msg);
      if (node != s.node_tag) s.traces->note_stale(std::string(area));
    }
  });
  for (const char* c : {revoked, banned, online, traces})
    s.redis_sub->subscribe(c);
  for (auto& c : s.cluster->channels())
    s.redis_sub->subscribe(std::move(c));
  // Publishes a notice; a failure is logged (the node goes on; see the gaps above).
  auto publish = [&s](const char* channel, std::string msg, const char* what) {
    s.redis->command({"PUBLISH", channel, std::move(msg)}, [what](result<redis::reply> r) {
      if (!r)
        spdlog::warn("redis: {} was not told to the other nodes: {}", what, r.error().message);
    });
  };
  api::cluster_hooks h;
  h.session_revoked = [publish](const std::string& sid) { publish(revoked, sid, "a logout"); };
  h.account_banned = [publish](std::int64_t account, epoch_ms until, const std::string& reason) {
    publish(banned, fmt::format("{} {} {}", account, until, reason), "a ban");
  };
  h.account_connected = [&s, publish](std::int64_t account, epoch_ms at) {
    publish(online, fmt::format("{} {} {}", s.node_tag, account, at), "a new socket");
  };
  // The budgets that are one per account or address across the nodes (docs/ARCHITECTURE.md,
  // "Shared budgets"): trace writes, sign-ups and the failed-login back-off.
  auto shared_bucket = [&s](std::string key, double rate, double burst,
                            std::function<void(std::optional<bool>)> done) {
    redis::take_token(s.redis, key, rate, burst, std::move(done));
  };
  s.traces->set_shared_buckets(shared_bucket);
  s.auth->set_shared_buckets(shared_bucket);
  core::auth_service::shared_backoff backoff;
  backoff.acquire = [&s](std::string key, const core::backoff_options& o,
                         std::function<void(std::optional<std::chrono::milliseconds>)> done) {
    redis::backoff_acquire(s.redis, key, {o.free_attempts, o.base_delay, o.max_delay, o.window},
                           std::move(done));
  };
  backoff.forgive = [&s](std::string key) { redis::backoff_forgive(s.redis, key); };
  backoff.reset = [&s](std::string key) { redis::backoff_reset(s.redis, key); };
  s.auth->set_shared_backoff(std::move(backoff));
  s.traces->set_on_stale([&s, publish](const std::string& area) {
    publish(traces, fmt::format("{} {}", s.node_tag, area), "a trace write");
  });
  h.join_elsewhere = [&s](std::int64_t account, std::string nickname,
                          api::cluster_hooks::join_request j,
                          std::function<void(result<boost::json::object>)> reply) {
    lobby::join_params p;
    p.room_id = std::move(j.room_id);
    p.invite_code = std::move(j.invite_code);
    p.password = std::move(j.password);
    p.spectate = j.spectate;
    for (auto& [member, name] : j.party) {
      p.party.push_back(member);
      p.party_nicknames.push_back(std::move(name));
    }
    s.cluster->join_elsewhere(account, std::move(nickname), p, std::move(reply));
  };
  h.seat_elsewhere = [&s](std::int64_t account, std::function<void(boost::json::value)> done) {
    s.cluster->seat_elsewhere(account, std::move(done));
  };
  h.party_elsewhere = [&s](std::int64_t account, std::function<void(boost::json::value)> done) {
    s.cluster->party_elsewhere(account, std::move(done));
  };
  h.list_elsewhere = [&s](std::string_view mode, boost::json::array& rooms) {
    s.cluster->list_elsewhere(mode, rooms);
  };
  h.kick_elsewhere = [&s](std::int64_t account, std::string message,
                          std::function<void(result<boost::json::object>)> reply) {
    s.cluster->kick_elsewhere(account, std::move(message), std::move(reply));
  };
  h.ready = [&s] { return s.redis->connected() && s.redis_sub->connected(); };
  s.gate->set_cluster(std::move(h));
  s.m.add_collector([&s](std::string& out) {
    const auto a = s.redis->stats();
    const auto b = s.redis_sub->stats();
    out += fmt::format(
        "# HELP maratang_redis_connected 1 while both connections to Redis are up.\n"
        "# TYPE maratang_redis_connected gauge\nmaratang_redis_connected {}\n"
        "# HELP maratang_redis_commands_total Redis replies received.\n"
        "# TYPE maratang_redis_commands_total counter\nmaratang_redis_commands_total {}\n"
        "# HELP maratang_redis_failed_total Redis commands failed without a reply (down, "
        "timeout).\n"
        "# TYPE maratang_redis_failed_total counter\nmaratang_redis_failed_total {}\n"
        "# HELP maratang_redis_disconnects_total Connections to Redis lost.\n"
        "# TYPE maratang_redis_disconnects_total counter\nmaratang_redis_disconnects_total {}\n"
        "# HELP maratang_redis_messages_total Messages heard from the other nodes.\n"
        "# TYPE maratang_redis_messages_total counter\nmaratang_redis_messages_total {}\n"
        "# HELP maratang_cluster_nodes Live nodes this node knows of (itself included).\n"
        "# TYPE maratang_cluster_nodes gauge\nmaratang_cluster_nodes {}\n"
        "# HELP maratang_cluster_rooms_elsewhere Rooms of the other live nodes in the directory.\n"
        "# TYPE maratang_cluster_rooms_elsewhere gauge\nmaratang_cluster_rooms_elsewhere {}\n",
        s.redis->connected() && s.redis_sub->connected() ? 1 : 0, a.commands + b.commands,
        a.failed + b.failed, a.disconnects + b.disconnects, b.messages, s.cluster->live_nodes(),
        s.cluster->mirrored_rooms());
  });
}

// "a, b,c" -> {"a", "b", "c"} (empty parts dropped).
std::vector<std::string> comma_list(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    auto part = text.substr(start, end - start);
    while (!part.empty() && part.front() == ' ')
      part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ')
      part.remove_suffix(1);
    if (!part.empty()) out.emplace_back(part);
    start = end + 1;
  }
  return out;
}

// "http://host:port/path" -> "http://host:port" (a CSP source); "" stays "".
std::string web_origin(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return {};
  auto path = url.find('/', scheme + 3);
  return path == std::string::npos ? url : url.substr(0, path);
}

// Mafia's voice and video: mesh or Janus, and the ICE servers browsers get.
template <typename Impl>
std::shared_ptr<const media::media_options> media_options_of(Impl& s) {
  auto o = std::make_shared<media::media_options>();
  o->mode = s.cfg.media_mode;
  o->sfu_min_players = s.cfg.media_sfu_min_players;
  if (!s.cfg.janus_url.empty()) {
    media::janus_options j;
    j.url = s.cfg.janus_url;
    j.public_url = s.cfg.janus_public_url;
    j.admin_url = s.cfg.janus_admin_url;
    j.admin_secret = s.cfg.janus_admin_secret;
    j.admin_key = s.cfg.janus_admin_key;
    j.check_ms = s.cfg.janus_check_ms;
    j.node_id = s.cfg.node_id;
    o->sfu_server = media::make_janus_sfu(s.ioc, std::move(j));
  }
  o->ice.stun_urls = comma_list(s.cfg.stun_urls);
  o->ice.turn_urls = comma_list(s.cfg.turn_urls);
  o->ice.turn_secret = s.cfg.turn_secret;
  o->ice.turn_ttl_s = s.cfg.turn_ttl_s;
  o->ice.transport_policy = s.cfg.ice_transport_policy;
  o->now_s = [] { return real_clock().now_ms() / 1000; };
  return o;
}

// Loads the Mystery scenarios (a broken one is reported and left out; the others load), connects
// the LLM endpoints when configured, and registers the mode.
template <class Impl>
void start_mystery(Impl& s) {
  auto svc = std::make_shared<mystery::mystery_services>();
  svc->turn_ms = s.cfg.mystery_turn_ms;
  std::filesystem::path dir(s.cfg.mystery_scenarios_dir);
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) {
    for (auto& r : mystery::load_scenarios(dir)) {
      // What the admin console shows of each folder (GET /v1/admin/mystery).
      boost::json::array errors;
      for (const auto& d : r.errors)
        errors.push_back(boost::json::string(mystery::to_string(d)));
      boost::json::object st{{"folder", r.folder.filename().string()},
                             {"loaded", r.scn != nullptr},
                             {"errors", std::move(errors)}};
      if (r.scn) {
        st["id"] = r.scn->id;
        st["title"] = r.scn->title;
        st["language"] = r.scn->language;
      }
      s.scenario_status.push_back(std::move(st));
      if (!r.scn) {
        spdlog::error("mystery: scenario {} not loaded ({} errors):", r.folder.string(),
                      r.errors.size());
        for (const auto& d : r.errors)
          spdlog::error("  {}", mystery::to_string(d));
        continue;
      }
      spdlog::info("mystery: scenario {} loaded ({}, {})", r.scn->id, r.scn->title,
                   r.scn->language);
      svc->scenarios.emplace(r.scn->id, r.scn);
    }
  } else {
    spdlog::warn("mystery: no scenarios folder at {}; Mystery rooms cannot start", dir.string());
  }
  if (!s.cfg.vllm_base_url.empty()) {
    llm::client_options o;
    o.first_token_timeout_ms = s.cfg.llm_first_token_timeout_ms;
    o.ca_file = s.cfg.llm_ca_file;
    o.total_timeout_ms = s.cfg.llm_total_timeout_ms;
    o.max_concurrency = s.cfg.llm_max_concurrency;
    o.max_retries = s.cfg.llm_retries;
    o.breaker_failures = s.cfg.llm_breaker_failures;
    o.breaker_open_ms = s.cfg.llm_breaker_open_ms;
    s.llm = std::make_unique<mystery::openai_port>(
        s.ioc, llm::endpoint{s.cfg.vllm_base_url, s.cfg.llm_api_key},
        llm::endpoint{s.cfg.lora_vllm_base_url, s.cfg.llm_api_key}, s.cfg.llm_model, o,
        s.cfg.llm_first_token_wait_ms);
    svc->llm = s.llm.get();
    spdlog::info("mystery: LLM at {}{}", redact_userinfo(s.cfg.vllm_base_url),
                 s.cfg.lora_vllm_base_url.empty()
                     ? ""
                     : ", LoRA at " + redact_userinfo(s.cfg.lora_vllm_base_url));
  } else {
    spdlog::info("mystery: no LLM configured; the offline narrator speaks");
  }
  s.casebooks =
      std::make_unique<mystery::casebook_writer>(*s.ports, *s.ports, s.llm.get(), real_clock());
  svc->casebooks = s.casebooks.get();
  s.mystery = svc;
  s.modes.add(mystery::make_mystery_mode_factory(svc));
}

// The event stream and the ports the services use. With Kafka, every write of the action log,
// game records, traces and accounts is published (the decorators), and the embedded store keeps
// its tables as before. Without Kafka, those tables are the event store: only account events,
// which no table keeps as history, go to the outbox (docs/EVENTS.md, "Without Kafka").
template <class Impl>
result<> start_events(Impl& s) {
  s.accounts = s.ports.get();
  s.games = s.ports.get();
  s.action_log = s.ports.get();
  s.trace_store = s.ports.get();
  events::event_stream* stream = nullptr;
  if (!s.cfg.kafka_brokers.empty()) {
    events::kafka_options ko;
    ko.brokers = s.cfg.kafka_brokers;
    ko.queue_max_messages = s.cfg.events_queue_max_messages;
    ko.queue_max_kbytes = s.cfg.events_queue_max_kbytes;
    ko.message_timeout_ms = s.cfg.events_message_timeout_ms;
    ko.linger_ms = s.cfg.events_linger_ms;
    auto k = events::kafka_stream::open(ko);
    if (!k) return k.error();
    s.kafka = std::move(*k);
    stream = s.kafka.get();
    s.pub_games = std::make_unique<events::publishing_game_store>(*s.ports, *stream);
    s.pub_log = std::make_unique<events::publishing_action_log>(*s.ports, *stream);
    s.pub_traces = std::make_unique<events::publishing_trace_store>(*s.ports, *stream);
    s.games = s.pub_games.get();
    s.action_log = s.pub_log.get();
    s.trace_store = s.pub_traces.get();
    spdlog::info("events: publishing to Kafka at {} (local queue at most {} events)",
                 s.cfg.kafka_brokers, s.cfg.events_queue_max_messages);
  } else {
    s.outbox = std::make_unique<events::outbox_stream>(*s.ports);
    stream = s.outbox.get();
  }
  s.pub_accounts =
      std::make_unique<events::publishing_account_store>(*s.ports, *stream, real_clock());
  s.accounts = s.pub_accounts.get();
  s.m.add_collector([&s](std::string& out) {
    if (s.kafka) {
      s.kafka->render_metrics(out);
      return;
    }
    out += fmt::format(
        "# HELP maratang_events_outbox_published_total Events taken into the embedded outbox's "
        "write-behind.\n"
        "# TYPE maratang_events_outbox_published_total counter\n"
        "maratang_events_outbox_published_total {}\n"
        "# HELP maratang_events_outbox_written_total Events of the outbox committed in bulk.\n"
        "# TYPE maratang_events_outbox_written_total counter\n"
        "maratang_events_outbox_written_total {}\n"
        "# HELP maratang_events_outbox_buffered Outbox events waiting for their bulk write.\n"
        "# TYPE maratang_events_outbox_buffered gauge\nmaratang_events_outbox_buffered {}\n"
        "# HELP maratang_events_outbox_dropped_total Events the embedded store refused (buffer "
        "or storage queue full, stopping).\n"
        "# TYPE maratang_events_outbox_dropped_total counter\n"
        "maratang_events_outbox_dropped_total {}\n",
        s.outbox->published(), s.ports->outbox_stats().entries.load(), s.ports->outbox_buffered(),
        s.ports->outbox_stats().dropped.load());
  });
  return {};
}

struct server::impl {
  impl(config c, std::string described)
      : cfg(std::move(c)), config_json(std::move(described)), signals(ioc, SIGINT, SIGTERM) {}

  // Crash recovery (lobby/room_snapshot.hpp): the games this node was running when it stopped
  // without a shutdown. Read before serving (waiting here blocks nobody); the rooms restore on
  // their strands once the network threads run, before any connection is accepted.
  result<> restore_rooms();

  config cfg;
  std::string config_json;             // describe(): shown to admins
  boost::json::array scenario_status;  // each Mystery scenario folder as loaded: shown to admins
  asio::io_context ioc;
  asio::signal_set signals;
  obs::metrics m;
  asio::thread_pool offload{1};  // the traces cache's compression
  // Password hashing, apart from `offload`: a login flood must not delay trace listings.
  asio::thread_pool hashing{static_cast<std::size_t>(cfg.auth_hash_threads)};
  std::unique_ptr<store::worker> store;
  // The action log's other writers (storage.log_writers, PostgreSQL only), each with a
  // connection of its own.
  std::vector<std::unique_ptr<store::worker>> log_writers;
  std::unique_ptr<store::batched_store> ports;  // every storage port, over `store`
  competition::season_schedule seasons;         // competition.season_schedule, parsed
  // The event stream (docs/EVENTS.md): Kafka when configured, else the embedded outbox.
  std::unique_ptr<events::kafka_stream> kafka;
  std::unique_ptr<events::outbox_stream> outbox;
  // The ports as the services see them: `ports` itself, or the decorators publishing its writes.
  std::unique_ptr<events::publishing_account_store> pub_accounts;
  std::unique_ptr<events::publishing_game_store> pub_games;
  std::unique_ptr<events::publishing_action_log> pub_log;
  std::unique_ptr<events::publishing_trace_store> pub_traces;
  core::account_store* accounts = nullptr;
  lobby::game_store* games = nullptr;
  lobby::action_log* action_log = nullptr;
  traces::trace_store* trace_store = nullptr;
  std::unique_ptr<core::auth_service> auth;
  std::shared_ptr<const media::media_options> media;  // Mafia's voice and video (its SFU's health)
  lobby::mode_registry modes;
  std::unique_ptr<mystery::openai_port> llm;  // null: no LLM configured
  std::unique_ptr<mystery::casebook_writer> casebooks;
  std::shared_ptr<mystery::mystery_services> mystery;
  std::unique_ptr<lobby::lobby> lob;
  std::unique_ptr<traces::trace_service> traces;
  std::unique_ptr<api::gateway> gate;
  // Parties and the matchmaker, on one strand (docs/ARCHITECTURE.md).
  std::unique_ptr<match::party_service> parties;
  std::unique_ptr<match::match_service> matches;
  // With redis.url: one client for commands, one subscribed to the nodes' channels.
  std::shared_ptr<redis::client> redis;
  std::shared_ptr<redis::client> redis_sub;
  std::string node_tag;                         // this process among the nodes (random at start)
  std::unique_ptr<cluster_node> cluster;        // with redis.url
  std::shared_ptr<redis::redis_boards> boards;  // with redis.url: the board reads
  std::unique_ptr<net::listener> listen;
  std::atomic<bool> stopping{false};

  void shutdown() {
    if (stopping.exchange(true)) return;
    gate->set_draining();
    if (matches) matches->stop();
    listen->stop();
    if (cluster && cfg.cluster_drain) {
      // Deploy: the games go on on another node (cluster_node::drain); then the clients are told
      // to reconnect, soon (the balancer sends them to a live node, whose hello sends each to
      // their room).
      spdlog::info("draining: handing {} room(s) over to another node", lob->room_count());
      const auto began = std::chrono::steady_clock::now();
      cluster->drain(cfg.cluster_drain_timeout_ms, [this, began](int rooms, bool taken) {
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - began)
                            .count();
        spdlog::info("drained {} room(s) in {} ms ({})", rooms, ms,
                     taken ? "another node runs them" : "stored for this node's next start");
        asio::post(ioc, [this, taken] {
          cluster->stop();
          spdlog::info("shutting down: telling {} clients", lob->online());
          lob->shutdown([this] { asio::post(ioc, [this] { wait_for_clients(); }); },
                        taken ? 250 : 5000);
        });
      });
      return;
    }
    spdlog::info("shutting down: no new connections; telling {} clients", lob->online());
    if (cluster) cluster->stop();
    lob->shutdown([this] { asio::post(ioc, [this] { wait_for_clients(); }); });
  }

  // Gives connections the grace period to receive their last frames and close.
  void wait_for_clients() {
    drain_deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(cfg.shutdown_grace_ms);
    poll_clients();
  }

  void poll_clients() {
    if (m.connections_open.load() == 0 || std::chrono::steady_clock::now() >= drain_deadline) {
      ioc.stop();
      return;
    }
    drain_timer.expires_after(std::chrono::milliseconds(20));
    drain_timer.async_wait([this](boost::system::error_code ec) {
      if (!ec) poll_clients();
    });
  }

  asio::steady_timer drain_timer{ioc};
  std::chrono::steady_clock::time_point drain_deadline;
  obs::metrics_history history;
  asio::steady_timer history_timer{ioc};

  // Samples the main metrics for the admin console's charts, every history.interval_s().
  void sample_metrics() {
    history.sample(real_clock().now_ms(), m.render(), obs::resident_bytes());
    history_timer.expires_after(std::chrono::seconds(history.interval_s()));
    history_timer.async_wait([this](boost::system::error_code ec) {
      if (!ec && !stopping.load()) sample_metrics();
    });
  }
};

result<> server::impl::restore_rooms() {
  auto& s = *this;
  const auto began = std::chrono::steady_clock::now();
  std::promise<result<std::vector<store::room_snapshot_record>>> got;
  s.ports->snapshots_of(s.cfg.node_id, [&got](result<std::vector<store::room_snapshot_record>> r) {
    got.set_value(std::move(r));
  });
  auto snaps = got.get_future().get();
  if (!snaps) {
    return error{errc::unavailable,
                 fmt::format("cannot read the room snapshots: {}", snaps.error().message)};
  }
  if (snaps->empty()) return {};
  const std::size_t n = snaps->size();
  spdlog::info("node {}: restoring {} room(s) from their snapshots", s.cfg.node_id, n);
  s.lob->restore(std::move(*snaps), [began, n](int restored, int failed) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - began)
                  .count();
    spdlog::info("restored {} of {} room(s) in {} ms ({} could not be restored)", restored, n, ms,
                 failed);
  });
  return {};
}

server::server(config cfg, std::string described_config)
    : impl_(std::make_unique<impl>(std::move(cfg), std::move(described_config))) {}

server::~server() = default;

result<int> server::start() {
  auto& s = *impl_;
  core::crypto_init();
  protect_data(s.cfg);
  auto b = open_backend(s.cfg);
  if (!b) return b.error();
  try {
    (*b)->migrate();
  } catch (const std::exception& e) {
    return error{errc::unavailable, fmt::format("storage migration failed: {}", e.what())};
  }
  auto key = load_key(s.cfg);
  if (!key) return key.error();

  store::worker_options wo;
  wo.max_batch = static_cast<std::size_t>(s.cfg.storage_batch_max);
  s.store = std::make_unique<store::worker>(std::move(*b), wo);
  store::write_behind_options wbo;
  wbo.delay = std::chrono::milliseconds(s.cfg.storage_log_delay_ms);
  // PostgreSQL runs one statement at a time per connection: more connections write the action
  // log side by side (docs/ARCHITECTURE.md, Storage). The main worker is the first of them.
  std::vector<store::worker*> log_writers;
  if (s.cfg.storage_backend == "postgres" && s.cfg.storage_log_writers > 1) {
    log_writers.push_back(s.store.get());
    for (int i = 1; i < s.cfg.storage_log_writers; ++i) {
      auto lb = open_backend(s.cfg);
      if (!lb) return lb.error();
      s.log_writers.push_back(std::make_unique<store::worker>(std::move(*lb), wo));
      log_writers.push_back(s.log_writers.back().get());
    }
  }
  s.ports = std::make_unique<store::batched_store>(*s.store, wbo, std::move(log_writers));
  if (auto ok = start_events(s); !ok) return ok.error();

  core::auth_options ao;
  ao.token_ttl_s = s.cfg.token_ttl_s;
  ao.refresh_ttl_s = s.cfg.refresh_ttl_s;
  ao.pwhash = s.cfg.password_hash == "minimal" ? core::pwhash_params::minimal()
                                               : core::pwhash_params::interactive();
  ao.nicknames = {s.cfg.nickname_min, s.cfg.nickname_max};
  ao.limits = auth_limits_of(s.cfg);
  ao.passwords = load_password_policy(s.cfg);
  s.auth = std::make_unique<core::auth_service>(
      *s.accounts, real_clock(), *key, ao,
      [&s](std::function<void()> fn) { asio::post(s.hashing, std::move(fn)); });
  s.auth->load_revocations();

  s.media = media_options_of(s);
  s.modes.add(
      modes::make_mafia_mode_factory(s.cfg.mafia_min_players, s.cfg.mafia_max_players, s.media));
  if (s.cfg.test_modes) s.modes.add(modes::make_counter_mode_factory());
  start_mystery(s);
  {
    modes::arena_deps ad;
    ad.events = s.kafka ? static_cast<events::event_stream*>(s.kafka.get()) : s.outbox.get();
    ad.metrics = &s.m;
    s.modes.add(modes::make_arena_mode_factory(std::move(ad)));
  }

  lobby::lobby_options lo;
  lo.reconnect_grace_ms = s.cfg.reconnect_grace_ms;
  lo.max_rooms = s.cfg.max_rooms;
  lo.node_id = s.cfg.node_id;
  lo.snapshot_interval_ms = s.cfg.snapshot_interval_ms;
  lo.reservation_ms = s.cfg.reservation_ms;
  lo.invites_per_minute = s.cfg.invites_per_minute;
  // Checked by load_config already.
  s.seasons = competition::season_schedule::parse(s.cfg.season_schedule).value();
  lo.season_of = [&s](std::int64_t at_ms) { return s.seasons.season_of(at_ms); };
  lo.rating_period_ms = std::int64_t{s.cfg.rating_period_s} * 1000;
  s.lob = std::make_unique<lobby::lobby>(s.ioc, s.modes, *s.games, *s.action_log, real_clock(), s.m,
                                         lo);
  s.lob->set_snapshot_store(s.ports.get());
  if (auto ok = s.restore_rooms(); !ok) return ok.error();

  api::gateway_options go;
  go.json_depth_max = static_cast<unsigned>(s.cfg.json_depth_max);
  go.ws_message_max = s.cfg.ws_message_max;
  go.ws_rate = s.cfg.ws_rate;
  go.ws_input_rate = s.cfg.ws_input_rate;
  go.allow_seeds = s.cfg.allow_seeds;
  go.docs_dir = served_dir(s.cfg.docs_assets_dir);
  go.web_dir = served_dir(s.cfg.web_public_dir);
  go.web_connect_src =
      web_origin(!s.cfg.janus_public_url.empty() ? s.cfg.janus_public_url : s.cfg.janus_url);
  s.gate = std::make_unique<api::gateway>(
      *s.auth, *s.lob, api::gateway_stores{*s.accounts, *s.ports, *s.games, *s.ports, *s.ports},
      s.m, real_clock(), go);
  s.traces = std::make_unique<traces::trace_service>(
      *s.trace_store, real_clock(), trace_options_of(s.cfg),
      [&s](std::function<void()> fn) { asio::post(s.offload, std::move(fn)); });
  s.gate->set_traces(s.traces.get());
  s.gate->set_mystery(s.mystery.get());
  s.gate->set_competition(s.ports.get(), &s.seasons);
  start_matchmaking(s);
  if (!s.cfg.redis_url.empty()) start_redis(s);
  {
    // Party members see each other take and give up seats: the lobby's seat notices (which,
    // with several nodes, also feed the seat directory) reach the parties too.
    lobby::lobby_listener l = s.cluster ? s.cluster->listener() : lobby::lobby_listener{};
    l.seat_changed = [inner = std::move(l.seat_changed), parties = s.parties.get()](
                         lobby::player_id p, const std::string& room, bool seated) {
      if (inner) inner(p, room, seated);
      parties->presence_changed(p);
    };
    s.lob->set_listener(std::move(l));
  }
  s.m.add_collector([&s](std::string& out) {
    if (!s.llm) return;
    std::vector<std::pair<const char*, llm::client::stats>> eps{
        {"base", s.llm->base().get_stats()}};
    std::vector<int> open{s.llm->base().breaker() != llm::client::breaker_state::closed};
    if (const auto* l = s.llm->lora()) {
      eps.emplace_back("lora", l->get_stats());
      open.push_back(l->breaker() != llm::client::breaker_state::closed);
    }
    // One family at a time, every endpoint's sample in it (the text format wants them grouped).
    auto family = [&](const char* name, const char* type, const char* help, auto value) {
      out += fmt::format("# HELP {0} {1}\n# TYPE {0} {2}\n", name, help, type);
      for (std::size_t i = 0; i < eps.size(); ++i)
        out += fmt::format("{}{{endpoint=\"{}\"}} {}\n", name, eps[i].first, value(i));
    };
    family("maratang_llm_calls_total", "counter", "LLM calls started.",
           [&](std::size_t i) { return eps[i].second.calls; });
    family("maratang_llm_failures_total", "counter",
           "LLM calls that failed (the offline narrator spoke instead).",
           [&](std::size_t i) { return eps[i].second.failed; });
    family("maratang_llm_retries_total", "counter", "LLM retries.",
           [&](std::size_t i) { return eps[i].second.retries; });
    family("maratang_llm_in_flight", "gauge", "LLM calls in flight.",
           [&](std::size_t i) { return eps[i].second.in_flight; });
    family("maratang_llm_breaker_open", "gauge",
           "1 while the circuit breaker is open or half-open.",
           [&](std::size_t i) { return open[i]; });
  });
  s.m.add_collector([&s](std::string& out) {
    const auto st = s.traces->cache().stats();
    out += fmt::format(
        "# HELP maratang_traces_cache_hits_total Trace listings served from cache.\n"
        "# TYPE maratang_traces_cache_hits_total counter\nmaratang_traces_cache_hits_total {}\n"
        "# HELP maratang_traces_cache_fills_total Trace listings read, serialized and gzip'd.\n"
        "# TYPE maratang_traces_cache_fills_total counter\nmaratang_traces_cache_fills_total {}\n"
        "# HELP maratang_traces_cache_waits_total Requests that waited for a fill in flight.\n"
        "# TYPE maratang_traces_cache_waits_total counter\nmaratang_traces_cache_waits_total {}\n",
        st.hits, st.fills, st.waits);
  });

  s.m.add_collector([&s](std::string& out) {
    s.lob->render_metrics(out);
    // Every storage worker summed: the main one and the action log's other writers.
    std::size_t depth = s.store->queue_depth();
    std::uint64_t ops = 0, batches = 0, failures = 0, retries = 0, lost = 0, reruns = 0,
                  latency_ns = 0;
    auto add = [&](const store::worker& w) {
      const auto& st = w.stats();
      ops += st.ops.load();
      batches += st.batches.load();
      failures += st.failures.load();
      retries += st.retries.load();
      lost += st.lost.load();
      reruns += st.reruns.load();
      latency_ns += st.latency_ns_total.load();
    };
    add(*s.store);
    for (const auto& w : s.log_writers) {
      add(*w);
      depth += w->queue_depth();
    }
    out += fmt::format(
        "# HELP maratang_storage_queue_depth Storage operations waiting.\n"
        "# TYPE maratang_storage_queue_depth gauge\nmaratang_storage_queue_depth {}\n"
        "# HELP maratang_storage_ops_total Storage operations run.\n"
        "# TYPE maratang_storage_ops_total counter\nmaratang_storage_ops_total {}\n"
        "# HELP maratang_storage_batches_total Storage transactions committed.\n"
        "# TYPE maratang_storage_batches_total counter\nmaratang_storage_batches_total {}\n"
        "# HELP maratang_storage_failures_total Storage operations that failed.\n"
        "# TYPE maratang_storage_failures_total counter\nmaratang_storage_failures_total {}\n"
        "# HELP maratang_storage_retries_total Failed runs of writes that are retried until they "
        "commit (game records, action log).\n"
        "# TYPE maratang_storage_retries_total counter\nmaratang_storage_retries_total {}\n"
        "# HELP maratang_storage_lost_total Retried writes given up at shutdown or refused (queue "
        "full, stopping).\n"
        "# TYPE maratang_storage_lost_total counter\nmaratang_storage_lost_total {}\n"
        "# HELP maratang_storage_batch_reruns_total Batches run again with a savepoint per "
        "operation after one failed without (PostgreSQL).\n"
        "# TYPE maratang_storage_batch_reruns_total counter\nmaratang_storage_batch_reruns_total "
        "{}\n"
        "# HELP maratang_storage_latency_seconds_avg Mean submit-to-commit time.\n"
        "# TYPE maratang_storage_latency_seconds_avg gauge\nmaratang_storage_latency_seconds_avg "
        "{}\n",
        depth, ops, batches, failures, retries, lost, reruns,
        ops ? static_cast<double>(latency_ns) / 1e9 / static_cast<double>(ops) : 0.0);
    const auto& wb = s.ports->log_stats();
    out += fmt::format(
        "# HELP maratang_action_log_buffered Action-log entries waiting for their bulk write.\n"
        "# TYPE maratang_action_log_buffered gauge\nmaratang_action_log_buffered {}\n"
        "# HELP maratang_action_log_entries_total Action-log entries written in bulk.\n"
        "# TYPE maratang_action_log_entries_total counter\nmaratang_action_log_entries_total {}\n"
        "# HELP maratang_action_log_writes_total Bulk writes of the action log.\n"
        "# TYPE maratang_action_log_writes_total counter\nmaratang_action_log_writes_total {}\n"
        "# HELP maratang_action_log_dropped_total Action-log entries dropped (buffer or storage "
        "queue full).\n"
        "# TYPE maratang_action_log_dropped_total counter\nmaratang_action_log_dropped_total {}\n"
        "# HELP maratang_action_log_wait_seconds_total Time the oldest entry of each bulk write "
        "waited in the buffer, summed over writes.\n"
        "# TYPE maratang_action_log_wait_seconds_total counter\n"
        "maratang_action_log_wait_seconds_total {}\n"
        "# HELP maratang_action_log_wait_seconds_max The longest such wait since start.\n"
        "# TYPE maratang_action_log_wait_seconds_max gauge\nmaratang_action_log_wait_seconds_max "
        "{}\n",
        s.ports->log_buffered(), wb.entries.load(), wb.writes.load(), wb.dropped.load(),
        static_cast<double>(wb.wait_ns_total.load()) / 1e9,
        static_cast<double>(wb.wait_ns_max.load()) / 1e9);
  });

  net::net_options no;
  no.http_body_max = static_cast<std::size_t>(s.cfg.http_body_max);
  no.ws_message_max = static_cast<std::size_t>(s.cfg.ws_message_max);
  no.ws_rate = s.cfg.ws_rate;
  no.ws_burst = s.cfg.ws_burst;
  no.ws_input_rate = s.cfg.ws_input_rate;
  no.ws_input_burst = s.cfg.ws_input_burst;
  no.send_queue_max = static_cast<std::size_t>(s.cfg.send_queue_max);
  no.send_queue_max_bytes = static_cast<std::size_t>(s.cfg.send_queue_max_bytes);
  no.slow_consumer_ms = s.cfg.slow_consumer_ms;
  no.handshake_timeout_ms = s.cfg.handshake_timeout_ms;
  no.ws_idle_timeout_ms = s.cfg.ws_idle_timeout_ms;
  no.http_idle_timeout_ms = s.cfg.http_idle_timeout_ms;
  no.max_connections = net::fit_connections_to_fd_limit(s.cfg.max_connections);
  no.trusted_proxies = trusted_proxy_list(s.cfg);
  s.listen = std::make_unique<net::listener>(s.ioc, *s.gate, s.m, no);
  auto port = s.listen->open(s.cfg.host, s.cfg.port);
  if (!port) return port.error();
  // What admins see of this process (the port it really listens on, which may have been 0).
  {
    api::admin_info ai;
    ai.node = s.cfg.node_id;
    ai.address = fmt::format("{}:{}", boost::asio::ip::host_name(), *port);
    ai.started_at = real_clock().now_ms();
    ai.config_json = s.config_json;
    ai.storage = s.cfg.storage_backend;
    ai.redis = !s.cfg.redis_url.empty();
    ai.kafka = !s.cfg.kafka_brokers.empty();
    ai.history = &s.history;
    ai.media_status = [&s] {
      boost::json::object o{{"mode", s.cfg.media_mode}, {"sfu", nullptr}};
      if (s.media && s.media->sfu_server) o["sfu"] = s.media->sfu_server->health();
      return boost::json::serialize(o);
    };
    if (s.cluster) {
      ai.nodes_status = [&s] { return boost::json::serialize(s.cluster->nodes_json()); };
    }
    ai.mystery_status = [&s] {
      boost::json::array llm;
      if (s.llm) {
        auto add = [&llm](const char* name, const llm::client& c) {
          const auto st = c.get_stats();
          llm.push_back({{"endpoint", name},
                         {"breaker", llm::to_string(c.breaker())},
                         {"calls", st.calls},
                         {"ok", st.ok},
                         {"failed", st.failed},
                         {"retries", st.retries},
                         {"timeouts", st.timeouts},
                         {"in_flight", st.in_flight}});
        };
        add("base", s.llm->base());
        if (const auto* l = s.llm->lora()) add("lora", *l);
      }
      return boost::json::serialize(
          boost::json::object{{"scenarios", s.scenario_status}, {"llm", std::move(llm)}});
    };
    s.gate->set_admin_info(std::move(ai));
  }

  if (!s.cfg.port_file.empty()) {
    std::string tmp = s.cfg.port_file + ".tmp";
    { std::ofstream(tmp) << *port << "\n"; }
    std::filesystem::rename(tmp, s.cfg.port_file);
  }
  return *port;
}

int server::run() {
  auto& s = *impl_;
  s.signals.async_wait([&s](boost::system::error_code ec, int sig) {
    if (ec) return;
    spdlog::info("signal {} received", sig);
    s.shutdown();
  });
  s.listen->start();
  s.sample_metrics();
  if (s.cluster) s.cluster->start();
  int n = s.cfg.threads > 0 ? s.cfg.threads
                            : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::thread> threads;
  for (int i = 1; i < n; ++i)
    threads.emplace_back([&s] { s.ioc.run(); });
  s.ioc.run();
  for (auto& t : threads)
    t.join();
  s.offload.join();
  s.hashing.join();
  // Everything a client was told is stored is stored; what is still queued is written now.
  for (auto& w : s.log_writers)
    w->stop();
  s.store->stop();
  // Then the events those last writes published get their chance to reach Kafka.
  if (s.kafka) s.kafka->stop(s.cfg.shutdown_grace_ms);
  // Redis commands still unanswered when the threads stopped hold callbacks that own the cluster,
  // which owns the clients: failed and let go here, or the cycle would never be freed.
  if (s.redis) s.redis->abandon();
  if (s.redis_sub) s.redis_sub->abandon();
  spdlog::info("stopped; storage flushed ({} operations in {} transactions)",
               s.store->stats().ops.load(), s.store->stats().batches.load());
  return 0;
}

void server::request_shutdown() {
  asio::post(impl_->ioc, [this] { impl_->shutdown(); });
}

}  // namespace maratang::app
