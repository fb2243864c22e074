// mafia_rooms: many Mafia rooms of 8 bot players playing full games, back to back, on one node.
// The server side is the real thing — lobby, room actors on their strands, the Mafia mode, Asio
// timers, envelope encoding, the SQLite storage worker (action log and game records) — on one
// thread. The bots live in the same process on a second thread and get each frame as the
// connection's send() would hand it to a socket, so no sockets are involved: this machine allows
// 20,000 open files per process, which caps real WebSocket players at about 2,400 rooms of 8
// (bench/ws_load measures the socket path). Bots act after a human-like random delay.
//
// Prints: memory per room and per player (RSS delta, bots included), server CPU per 1,000 rooms,
// and how late phase transitions fire against their announced deadlines (p50/p99/max), both as
// the room's timer sees it and as a bot sees the next phase's event arrive.
// With --database-url the storage is PostgreSQL (a running server; bench/storage_side_by_side.sh
// starts one) instead of a SQLite file. During the measured window the storage queue and RSS are
// sampled every second (first, max, last), and the action log's write-behind says how many
// entries it wrote in how many bulk writes.
// With --restore, rooms snapshot their games (lobby/room_snapshot.hpp) as the server does, and
// after the measured window the node "crashes": its thread stops without a shutdown, and a new
// lobby on the same storage restores every room from its snapshot. Prints how long reading the
// snapshots and restoring the rooms took (rooms restored per second), and how many rooms play on.
// With --drain, after the measured window the node drains as on SIGTERM with several nodes
// (app/cluster.hpp): every room writes its snapshot and leaves (lobby::hand_over_all), the
// snapshots are committed (flush_snapshots), a second node claims them (claim_snapshots) and
// restores every room. Prints each step's time and rooms handed over per second. Not included:
// the one Redis request that asks the other node (a loopback round trip) and the clients'
// reconnections.
// Usage: mafia_rooms [--rooms 10000] [--duration 30] [--phase-ms 3000] [--database-url URL]
//                    [--restore [--snapshot-interval-ms N]] [--drain]
// Bounded in time; stops by itself.
#include <pthread.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "cpu_time.hpp"
#include "lobby/lobby.hpp"
#include "lobby/room.hpp"
#include "modes/mafia/mafia_mode.hpp"
#include "net/connection.hpp"
#include "obs/metrics.hpp"
#include "store/batched_store.hpp"
#include "store/postgres/pg_backend.hpp"
#include "store/sqlite/sqlite_backend.hpp"
#include "store/worker.hpp"
#include "util/clock.hpp"

namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace maratang;
using lobby::player_id;

long rss_kb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

using bench::process_cpu_seconds;
using bench::thread_cpu_seconds;

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct lateness {
  std::mutex mu;
  std::vector<double> ms;
  void add(double v) {
    std::lock_guard lk(mu);
    ms.push_back(v);
  }
  std::string summary() {
    std::lock_guard lk(mu);
    if (ms.empty()) return "no samples";
    std::sort(ms.begin(), ms.end());
    auto at = [&](double p) {
      return ms[std::min(ms.size() - 1,
                         static_cast<std::size_t>(p * static_cast<double>(ms.size())))];
    };
    return fmt::format("p50 {:.2f} ms, p99 {:.2f} ms, max {:.2f} ms ({} transitions)", at(0.5),
                       at(0.99), ms.back(), ms.size());
  }
};

struct shared {
  explicit shared(asio::io_context& b) : bots(b) {}
  asio::io_context& bots;
  lateness seen;
  std::atomic<std::uint64_t> actions{0};
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::uint64_t> games{0};
  std::atomic<std::uint64_t> frames{0};
  std::atomic<bool> stop{false};
  std::int64_t phase_ms = 3000;
};

// One bot player: a connection whose frames go to the bot thread, which decides what to do.
class bot final : public net::connection, public std::enable_shared_from_this<bot> {
 public:
  bot(shared& sh, player_id id, bool leader, bool observer)
      : sh_(sh), id_(id), leader_(leader), observer_(observer), rng_(static_cast<unsigned>(id)) {}

  std::uint64_t id() const noexcept override { return static_cast<std::uint64_t>(id_); }
  void send(net::frame f) override {
    sh_.frames.fetch_add(1, std::memory_order_relaxed);
    auto arrived = now_us();
    asio::post(sh_.bots, [self = shared_from_this(), f = std::move(f), arrived] {
      self->on_frame(*f, arrived);
    });
  }
  void send_binary(net::frame f) override { send(std::move(f)); }
  void close(std::string_view, std::string_view) override {}
  net::conn_context& context() noexcept override { return ctx_; }
  void run_on_strand(std::function<void()> fn) override { fn(); }

  std::shared_ptr<lobby::room> room;

 private:
  void on_frame(const std::string& text, std::int64_t arrived_us) {
    auto v = json::parse(text);
    auto& o = v.as_object();
    if (o.contains("ok")) return;  // replies are counted where they are sent
    auto type = o.at("type").as_string();
    const auto& d = o.at("data").as_object();
    if (type == "mafia.started") {
      alive_.clear();
      mafia_.clear();
      for (const auto& p : d.at("players").as_array())
        alive_.push_back(p.at("player").as_int64());
    } else if (type == "mafia.role") {
      role_ = std::string(d.at("role").as_string());
      if (const auto* t = d.if_contains("team")) {
        for (const auto& m : t->as_array())
          mafia_.push_back(m.at("player").as_int64());
      }
    } else if (type == "mafia.death") {
      std::erase(alive_, d.at("player").as_int64());
    } else if (type == "mafia.phase") {
      on_phase(d, arrived_us);
    } else if (type == "room.game_ended") {
      sh_.games.fetch_add(observer_ ? 1 : 0);
      prev_phase_.clear();
      played_ = true;  // from now on the bots start the next game themselves
      if (!leader_ && !sh_.stop) {
        room->ready(id_, true, [](result<json::object>) {});
      }
    } else if (type == "room.can_start" && leader_ && played_ && d.at("can_start").as_bool() &&
               !sh_.stop) {
      room->start(id_, [](result<json::object>) {});
    }
  }

  void on_phase(const json::object& d, std::int64_t arrived_us) {
    std::string phase(d.at("phase").as_string());
    // A transition out of a phase that only its deadline ends: how late did it come?
    if (observer_ && (prev_phase_ == "day" || prev_phase_ == "defense" || prev_phase_ == "night")) {
      sh_.seen.add(static_cast<double>(arrived_us - prev_ends_at_ * 1000) / 1000.0);
    }
    prev_phase_ = phase;
    prev_ends_at_ = d.at("ends_at").as_int64();
    accused_ = d.contains("accused") ? d.at("accused").as_int64() : 0;
    bool me_alive = std::find(alive_.begin(), alive_.end(), id_) != alive_.end();
    if (!me_alive || sh_.stop) return;
    json::object data;
    std::string type;
    if (phase == "vote") {
      type = "mafia.vote";
      data["target"] = pick_other();
    } else if (phase == "verdict" && id_ != accused_) {
      type = "mafia.verdict";
      data["yes"] = rng_() % 2 == 0;
    } else if (phase == "night" && role_ == "mafia") {
      type = "mafia.kill";
      data["target"] = pick_other(true);
    } else if (phase == "night" && role_ == "doctor") {
      type = "mafia.heal";
      data["target"] = alive_[rng_() % alive_.size()];
    } else if (phase == "night" && role_ == "police") {
      type = "mafia.investigate";
      data["target"] = pick_other();
    }
    if (type.empty()) return;
    // A person takes a moment: act within the first half of the phase.
    auto delay = std::chrono::milliseconds(rng_() % static_cast<unsigned>(sh_.phase_ms / 2 + 1));
    auto t = std::make_shared<asio::steady_timer>(sh_.bots, delay);
    t->async_wait([self = shared_from_this(), t, type = std::move(type),
                   data = std::move(data)](boost::system::error_code) mutable {
      if (self->sh_.stop) return;
      self->sh_.actions.fetch_add(1, std::memory_order_relaxed);
      auto* sh = &self->sh_;
      self->room->game_message(self->id_, std::move(type), std::move(data),
                               [sh](result<json::object> r) {
                                 if (!r) sh->refused.fetch_add(1, std::memory_order_relaxed);
                               });
    });
  }

  player_id pick_other(bool not_mafia = false) {
    std::vector<player_id> c;
    for (auto p : alive_) {
      if (p == id_) continue;
      if (not_mafia && std::find(mafia_.begin(), mafia_.end(), p) != mafia_.end()) continue;
      c.push_back(p);
    }
    return c.empty() ? id_ : c[rng_() % c.size()];
  }

  shared& sh_;
  player_id id_;
  bool leader_;
  bool observer_;
  std::minstd_rand rng_;
  net::conn_context ctx_;
  std::string role_;
  std::vector<player_id> alive_;
  std::vector<player_id> mafia_;
  std::string prev_phase_;
  epoch_ms prev_ends_at_ = 0;
  player_id accused_ = 0;
  bool played_ = false;
};

template <class F>
result<json::object> wait_reply(F&& call) {
  std::promise<result<json::object>> p;
  auto fut = p.get_future();
  call([&p](result<json::object> r) { p.set_value(std::move(r)); });
  return fut.get();
}

// The p-quantile of a Prometheus histogram rendered by metrics::render (bucket upper bound).
std::string histogram_quantiles(const std::string& text, std::string_view name) {
  std::vector<std::pair<double, double>> buckets;  // le, cumulative
  std::string prefix = std::string(name) + "_bucket{le=\"";
  for (std::size_t pos = text.find(prefix); pos != std::string::npos;
       pos = text.find(prefix, pos + 1)) {
    auto q = text.find('"', pos + prefix.size());
    auto le = text.substr(pos + prefix.size(), q - pos - prefix.size());
    auto count = std::stod(text.substr(text.find(' ', q) + 1));
    buckets.emplace_back(le == "+Inf" ? 1e9 : std::stod(le), count);
  }
  if (buckets.empty() || buckets.back().second == 0) return "no samples";
  double total = buckets.back().second;
  auto q = [&](double p) {
    for (const auto& [le, c] : buckets) {
      if (c >= p * total) return le * 1000;
    }
    return 1e12;
  };
  return fmt::format("p50 ≤ {} ms, p99 ≤ {} ms ({} timers)", q(0.5), q(0.99), total);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"Mafia rooms of 8 bots on one node"};
  int rooms = 10000;
  double duration = 30;
  std::int64_t phase_ms = 3000;
  cli.add_option("--rooms", rooms, "Rooms of 8 bot players");
  cli.add_option("--duration", duration, "Seconds measured once every room plays");
  cli.add_option("--phase-ms", phase_ms, "Every phase's duration (the day is twice as long)");
  std::string database_url;
  int log_delay_ms = 100;
  cli.add_option("--log-delay-ms", log_delay_ms,
                 "The action log's write-behind delay (storage.log_delay_ms; the server's default)")
      ->check(CLI::Range(0, 10000));
  cli.add_option("--database-url", database_url,
                 "PostgreSQL instead of SQLite (postgresql://...; its schema is migrated)");
  bool restore = false;
  cli.add_flag("--restore", restore,
               "Snapshot the games, then crash the node and restore every room (rooms/s)");
  bool drain = false;
  cli.add_flag("--drain", drain,
               "After the window, hand every room over to a second node (rooms/s; see above)");
  int snapshot_interval_ms = 1000;
  cli.add_option(
      "--snapshot-interval-ms", snapshot_interval_ms,
      "With --restore: a room's snapshots at most this often (rooms.snapshot_interval_ms; "
      "0: at every checkpoint)");
  CLI11_PARSE(cli, argc, argv);
  rooms = std::clamp(rooms, 1, 20000);
  duration = std::clamp(duration, 1.0, 600.0);

  auto dir = std::filesystem::temp_directory_path() / fmt::format("maratang_mafia_{}", getpid());
  std::filesystem::create_directories(dir);
  std::unique_ptr<store::backend> backend;
  if (database_url.empty()) {
    store::sqlite_options so;
    so.full_sync = false;
    backend = store::sqlite_backend::open((dir / "maratang.db").string(), so);
  } else {
    backend = store::pg_backend::open(database_url);
  }
  backend->migrate();
  store::worker_options wo;
  wo.max_queue = 10'000'000;
  store::worker worker(std::move(backend), wo);
  store::write_behind_options wbo;
  wbo.delay = std::chrono::milliseconds(log_delay_ms);
  store::batched_store ports(worker, wbo);

  obs::metrics m;
  lobby::mode_registry modes;
  modes.add(modes::make_mafia_mode_factory(4, 12));
  asio::io_context server_ioc;
  asio::io_context bot_ioc;
  lobby::lobby_options lo;
  lo.max_rooms = rooms + 10;
  lo.snapshot_interval_ms = snapshot_interval_ms;
  lobby::lobby lob(server_ioc, modes, ports, ports, real_clock(), m, lo);
  if (restore || drain) lob.set_snapshot_store(&ports);
  auto server_work = asio::make_work_guard(server_ioc);
  auto bot_work = asio::make_work_guard(bot_ioc);
  std::thread server_thread([&] { server_ioc.run(); });
  std::thread bot_thread([&] {
    // The bots stand in for clients on other machines: they yield the CPU to the server's
    // threads (nice 10) rather than compete with them on this 2-core machine.
    setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 10);
    bot_ioc.run();
  });

  shared sh(bot_ioc);
  sh.phase_ms = phase_ms;
  json::object raw{{"day_ms", phase_ms * 2}, {"vote_ms", phase_ms},  {"defense_ms", phase_ms},
                   {"verdict_ms", phase_ms}, {"night_ms", phase_ms}, {"police", true}};
  auto settings =
      std::make_shared<const json::object>(modes.find("mafia")->validate_settings(raw).value());

  long rss0 = rss_kb();
  std::vector<std::shared_ptr<bot>> bots;
  bots.reserve(static_cast<std::size_t>(rooms) * 8);
  auto setup_start = std::chrono::steady_clock::now();
  for (int r = 0; r < rooms; ++r) {
    std::vector<std::shared_ptr<bot>> seat;
    for (int i = 0; i < 8; ++i) {
      player_id id = 1'000'000 + r * 8 + i;
      lob.set_nickname(id, fmt::format("bot{}", id));
      seat.push_back(std::make_shared<bot>(sh, id, i == 0, i == 1));
      lob.attach(id, seat.back());
    }
    lobby::create_params cp;
    cp.mode = "mafia";
    cp.name = fmt::format("room {}", r);
    cp.capacity = 8;
    cp.settings = settings;
    cp.seed = static_cast<std::uint64_t>(r + 1);
    auto created =
        wait_reply([&](lobby::reply_fn f) { lob.create(seat[0]->id(), cp, seat[0], f); });
    auto room_id = std::string(created.value().at("room").at("id").as_string());
    auto room = lob.room_of(static_cast<player_id>(seat[0]->id()));
    for (int i = 1; i < 8; ++i) {
      lobby::join_params jp;
      jp.room_id = room_id;
      wait_reply([&](lobby::reply_fn f) {
        lob.join(static_cast<player_id>(seat[i]->id()), jp, seat[i], f);
      }).value();
    }
    for (auto& b : seat)
      b->room = room;
    for (int i = 1; i < 8; ++i) {
      wait_reply([&](lobby::reply_fn f) {
        room->ready(static_cast<player_id>(seat[i]->id()), true, f);
      }).value();
    }
    wait_reply([&](lobby::reply_fn f) {
      room->start(static_cast<player_id>(seat[0]->id()), f);
    }).value();
    for (auto& b : seat)
      bots.push_back(std::move(b));
  }
  double setup_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - setup_start).count();
  // Let the rooms settle into their rhythm, then measure.
  std::this_thread::sleep_for(std::chrono::milliseconds(phase_ms * 2));
  long rss1 = rss_kb();
  {
    std::lock_guard lk(sh.seen.mu);
    sh.seen.ms.clear();
  }
  auto actions0 = sh.actions.load();
  auto frames0 = sh.frames.load();
  auto games0 = sh.games.load();
  // The storage thread is the worker's: an operation tells which it is.
  pthread_t storage_thread{};
  worker.submit([&storage_thread](store::backend&) { storage_thread = pthread_self(); });
  worker.flush();
  double storage_cpu0 = thread_cpu_seconds(storage_thread);
  double server_cpu0 = thread_cpu_seconds(server_thread.native_handle());
  double bot_cpu0 = thread_cpu_seconds(bot_thread.native_handle());
  double proc_cpu0 = process_cpu_seconds();
  std::string metrics0 = m.render();
  auto t0 = std::chrono::steady_clock::now();
  // Sample the storage queue and RSS once a second: flat, or growing?
  struct sample {
    std::size_t queue;
    long rss;
  };
  std::vector<sample> samples;
  while (std::chrono::steady_clock::now() - t0 < std::chrono::duration<double>(duration)) {
    samples.push_back({worker.queue_depth() + ports.log_buffered(), rss_kb()});
    std::this_thread::sleep_for(std::chrono::duration<double>(std::min(
        1.0,
        duration - std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count())));
  }
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double server_cpu = thread_cpu_seconds(server_thread.native_handle()) - server_cpu0;
  double bot_cpu = thread_cpu_seconds(bot_thread.native_handle()) - bot_cpu0;
  double proc_cpu = process_cpu_seconds() - proc_cpu0;
  double storage_cpu = thread_cpu_seconds(storage_thread) - storage_cpu0;
  long rss2 = rss_kb();
  std::string metrics1 = m.render();
  sh.stop = true;

  double k = rooms / 1000.0;
  fmt::print(
      "mafia_rooms: {} rooms x 8 bots, phases {} ms (day {} ms), set up in {:.1f} s, "
      "measured {:.1f} s\n",
      rooms, phase_ms, phase_ms * 2, setup_s, wall);
  fmt::print(
      "  memory: RSS {:.1f} MiB before, {:.1f} MiB playing: {:.1f} KiB per room, {:.2f} KiB "
      "per player (bots included); {:.1f} MiB after the run\n",
      rss0 / 1024.0, rss1 / 1024.0, static_cast<double>(rss1 - rss0) / rooms,
      static_cast<double>(rss1 - rss0) / (rooms * 8.0), rss2 / 1024.0);
  fmt::print("  load: {:.0f} actions/s, {:.0f} frames/s delivered, {} games finished\n",
             static_cast<double>(sh.actions - actions0) / wall,
             static_cast<double>(sh.frames - frames0) / wall, sh.games - games0);
  fmt::print(
      "  CPU: server thread {:.1f}% of a core ({:.2f}% per 1,000 rooms); storage thread "
      "{:.1f}%; other threads {:.1f}%; bots {:.1f}%\n",
      100 * server_cpu / wall, 100 * server_cpu / wall / k, 100 * storage_cpu / wall,
      100 * (proc_cpu - server_cpu - bot_cpu - storage_cpu) / wall, 100 * bot_cpu / wall);
  fmt::print("  phase transitions late against their deadline, as a bot sees the event: {}\n",
             sh.seen.summary());
  fmt::print("  room timers late (server histogram, whole run): {}\n",
             histogram_quantiles(metrics1, "maratang_room_timer_lateness_seconds"));
  fmt::print("  refused actions: {} (e.g. a vote after the phase ended early)\n",
             sh.refused.load());
  fmt::print("  storage: {}; queue now {} operations and {} log entries buffered\n",
             database_url.empty() ? "SQLite (synchronous=NORMAL)" : "PostgreSQL",
             worker.queue_depth(), ports.log_buffered());
  if (!samples.empty()) {
    auto max_q = std::max_element(samples.begin(), samples.end(), [](auto& a, auto& b) {
                   return a.queue < b.queue;
                 })->queue;
    auto max_rss = std::max_element(samples.begin(), samples.end(), [](auto& a, auto& b) {
                     return a.rss < b.rss;
                   })->rss;
    fmt::print(
        "  sampled each second while measured ({} samples): storage queue first {}, max {}, "
        "last {}; RSS first {:.1f}, max {:.1f}, last {:.1f} MiB\n",
        samples.size(), samples.front().queue, max_q, samples.back().queue,
        samples.front().rss / 1024.0, max_rss / 1024.0, samples.back().rss / 1024.0);
  }
  const auto& ls = ports.log_stats();
  fmt::print(
      "  action log write-behind (whole run, delay {} ms): {} entries in {} bulk writes ({:.1f} "
      "per write), {} dropped; the oldest entry of a write waited {:.1f} ms on average, {:.1f} "
      "ms at most\n",
      log_delay_ms, ls.entries.load(), ls.writes.load(),
      ls.writes ? static_cast<double>(ls.entries) / static_cast<double>(ls.writes) : 0.0,
      ls.dropped.load(),
      ls.writes ? static_cast<double>(ls.wait_ns_total) / 1e6 / static_cast<double>(ls.writes)
                : 0.0,
      static_cast<double>(ls.wait_ns_max) / 1e6);
  fmt::print("  storage thread's CPU / room thread's CPU: {:.2f}\n",
             server_cpu > 0 ? storage_cpu / server_cpu : 0.0);

  if (drain) {
    auto secs = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
    const std::size_t before = lob.room_count();
    const auto d0 = std::chrono::steady_clock::now();
    std::promise<int> handed;
    asio::post(server_ioc, [&] { lob.hand_over_all(true, [&](int n) { handed.set_value(n); }); });
    const int n = handed.get_future().get();
    const auto d1 = std::chrono::steady_clock::now();
    std::promise<bool> flushed;
    ports.flush_snapshots([&](result<bool> r) { flushed.set_value(r.has_value()); });
    const bool stored = flushed.get_future().get();
    const auto d2 = std::chrono::steady_clock::now();
    std::promise<result<std::vector<store::room_snapshot_record>>> got;
    ports.claim_snapshots(lo.node_id, "node-2", [&got](auto r) { got.set_value(std::move(r)); });
    auto snaps = got.get_future().get().value();
    const auto d3 = std::chrono::steady_clock::now();
    const std::size_t claimed = snaps.size();
    asio::io_context heir_ioc;
    auto heir_work = asio::make_work_guard(heir_ioc);
    std::thread heir_thread([&] { heir_ioc.run(); });
    obs::metrics m2;
    auto lo2 = lo;
    lo2.node_id = "node-2";
    lobby::lobby heir(heir_ioc, modes, ports, ports, real_clock(), m2, lo2);
    heir.set_snapshot_store(&ports);
    std::promise<std::pair<int, int>> restored;
    heir.restore(std::move(snaps), [&restored](int ok, int failed) {
      restored.set_value({ok, failed});
    });
    auto [ok, failed] = restored.get_future().get();
    const auto d4 = std::chrono::steady_clock::now();
    fmt::print(
        "  drain: {} rooms open; {} handed over (snapshots written, rooms gone) in {:.0f} ms, "
        "committed{} in {:.0f} ms, {} claimed by node-2 in {:.0f} ms, {} restored ({} failed) in "
        "{:.0f} ms: {:.0f} ms in all, {:.0f} rooms/s; rooms lost: {}\n",
        before, n, 1000 * secs(d0, d1), stored ? "" : " (FAILED)", 1000 * secs(d1, d2), claimed,
        1000 * secs(d2, d3), ok, failed, 1000 * secs(d3, d4), 1000 * secs(d0, d4),
        static_cast<double>(ok) / secs(d0, d4), static_cast<long>(before) - ok);
    auto phases0 = m2.room_snapshots.load();
    std::this_thread::sleep_for(std::chrono::milliseconds(phase_ms * 3));
    fmt::print("  after {} ms on node-2: {} rooms, {} snapshots written by their games\n",
               phase_ms * 3, heir.room_count(), m2.room_snapshots.load() - phases0);
    std::promise<void> done2;
    asio::post(heir_ioc, [&] { heir.shutdown([&] { done2.set_value(); }); });
    done2.get_future().wait_for(std::chrono::seconds(30));
    heir_work.reset();
    heir_ioc.stop();
    heir_thread.join();
    server_work.reset();
    server_ioc.stop();
    server_thread.join();
    bot_work.reset();
    bot_ioc.stop();
    bot_thread.join();
    worker.stop();
    bots.clear();
    std::filesystem::remove_all(dir);
    return 0;
  }

  if (restore) {
    fmt::print("  snapshots handed to storage (whole run): {}\n", m.room_snapshots.load());
    // The crash: the room thread stops where it is, without a shutdown; what reached storage stays.
    server_work.reset();
    server_ioc.stop();
    server_thread.join();
    bot_work.reset();
    bot_ioc.stop();
    bot_thread.join();
    worker.flush();
    // A new node on the same storage: read the snapshots, restore the rooms.
    asio::io_context again_ioc;
    auto again_work = asio::make_work_guard(again_ioc);
    std::thread again_thread([&] { again_ioc.run(); });
    obs::metrics m2;
    lobby::lobby again(again_ioc, modes, ports, ports, real_clock(), m2, lo);
    again.set_snapshot_store(&ports);
    auto r0 = std::chrono::steady_clock::now();
    std::promise<result<std::vector<store::room_snapshot_record>>> got;
    ports.snapshots_of(lo.node_id, [&got](auto r) { got.set_value(std::move(r)); });
    auto snaps = got.get_future().get().value();
    auto r1 = std::chrono::steady_clock::now();
    const std::size_t n = snaps.size();
    std::size_t bytes = 0;
    for (const auto& s : snaps)
      bytes += s.data_json.size();
    std::promise<std::pair<int, int>> restored;
    again.restore(std::move(snaps), [&restored](int ok, int failed) {
      restored.set_value({ok, failed});
    });
    auto [ok, failed] = restored.get_future().get();
    auto r2 = std::chrono::steady_clock::now();
    auto secs = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
    fmt::print(
        "  restore: {} snapshots ({:.1f} KiB each on average) read in {:.0f} ms, {} rooms "
        "restored ({} failed) in {:.0f} ms more: {:.0f} rooms/s from the read to every game "
        "playing\n",
        n, n ? static_cast<double>(bytes) / 1024.0 / static_cast<double>(n) : 0.0,
        1000 * secs(r0, r1), ok, failed, 1000 * secs(r1, r2),
        static_cast<double>(ok) / secs(r0, r2));
    // The restored games go on by their timers (nobody reconnects here): phases keep changing.
    auto phases0 = m2.room_snapshots.load();
    std::this_thread::sleep_for(std::chrono::milliseconds(phase_ms * 3));
    fmt::print("  after {} ms: {} rooms, {} snapshots written by the restored games\n",
               phase_ms * 3, again.room_count(), m2.room_snapshots.load() - phases0);
    std::promise<void> done2;
    asio::post(again_ioc, [&] { again.shutdown([&] { done2.set_value(); }); });
    done2.get_future().wait_for(std::chrono::seconds(30));
    again_work.reset();
    again_ioc.stop();
    again_thread.join();
    worker.stop();
    bots.clear();
    std::filesystem::remove_all(dir);
    return 0;
  }

  // Stop: rooms close, storage flushes.
  std::promise<void> done;
  asio::post(server_ioc, [&] { lob.shutdown([&] { done.set_value(); }); });
  done.get_future().wait_for(std::chrono::seconds(30));
  bot_work.reset();
  bot_ioc.stop();
  server_work.reset();
  server_ioc.stop();
  server_thread.join();
  bot_thread.join();
  worker.stop();
  bots.clear();
  std::filesystem::remove_all(dir);
  return 0;
}
