// storage_write: how many action-log entries (the events of every game: votes, picks, phases,
// chat lines) one node writes per second, sustained, through the action log's write-behind
// (store::batched_store over the storage worker) into SQLite or PostgreSQL.
//
// One producer thread appends entries of `--streams` games (seq increasing per game, a payload of
// a vote's size) as fast as the store takes them, keeping at most `--max-buffered` waiting (it
// yields when more wait: that is the sustained rate, not how fast a buffer fills). Measured
// between the first and the last second of the run from the entries the store reports written
// (duplicates are not counted); the storage thread's CPU is read from the process minus the
// producer. At the end every buffered entry is written, and a sample of streams is read back and
// checked: each must hold exactly the entries appended to it, in order.
//
// Usage: storage_write [--duration 10] [--streams 10000] [--database-url URL]
//                      [--max-per-write 5000] [--log-delay-ms 100] [--log-writers 1]
// Without --database-url the entries go to a SQLite file (synchronous=NORMAL, as the server's
// default) in a temporary directory, removed at the end. Bounded in time; stops by itself.
#include <pthread.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <iostream>
#include <thread>
#include <vector>

#include "cpu_time.hpp"
#include "store/batched_store.hpp"
#include "store/postgres/pg_backend.hpp"
#include "store/sqlite/sqlite_backend.hpp"
#include "store/worker.hpp"

namespace {

using namespace maratang;
using steady = std::chrono::steady_clock;

using bench::process_cpu_seconds;
using bench::thread_cpu_seconds;

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"Sustained action-log writes through the write-behind"};
  double duration = 10;
  int streams = 10000;
  std::size_t max_buffered = 100'000;
  std::string database_url;
  int log_writers = 1;
  cli.add_option("--log-writers", log_writers,
                 "PostgreSQL connections writing side by side (storage.log_writers)")
      ->check(CLI::Range(1, 16));
  std::size_t max_per_write = store::write_behind_options{}.max_per_write;
  cli.add_option("--max-per-write", max_per_write, "Entries per bulk write at most")
      ->check(CLI::Range(1, 100'000));
  int log_delay_ms = 100;
  cli.add_option("--log-delay-ms", log_delay_ms,
                 "The action log's write-behind delay (storage.log_delay_ms; the server's default)")
      ->check(CLI::Range(0, 10000));
  cli.add_option("--duration", duration, "Seconds of writing")->check(CLI::Range(3.0, 300.0));
  cli.add_option("--streams", streams, "Games the entries belong to")
      ->check(CLI::Range(1, 1'000'000));
  cli.add_option("--max-buffered", max_buffered, "Entries the producer lets wait at most")
      ->check(CLI::Range(1000, 150'000));
  cli.add_option("--database-url", database_url,
                 "PostgreSQL instead of SQLite (postgresql://...; its schema is migrated)");
  CLI11_PARSE(cli, argc, argv);

  auto dir = std::filesystem::temp_directory_path() / fmt::format("maratang_swrite_{}", getpid());
  std::filesystem::create_directories(dir);
  std::unique_ptr<store::backend> backend;
  try {
    if (database_url.empty()) {
      store::sqlite_options so;
      so.full_sync = false;
      backend = store::sqlite_backend::open((dir / "maratang.db").string(), so);
    } else {
      backend = store::pg_backend::open(database_url);
    }
    backend->migrate();
  } catch (const std::exception& e) {
    std::cerr << "storage_write: " << e.what() << "\n";
    return 1;
  }
  store::worker worker(std::move(backend), {});
  // The other writers, each with a connection of its own, as the server makes them.
  std::vector<std::unique_ptr<store::worker>> more;
  std::vector<store::worker*> writers;
  if (!database_url.empty() && log_writers > 1) {
    writers.push_back(&worker);
    for (int i = 1; i < log_writers; ++i) {
      more.push_back(std::make_unique<store::worker>(store::pg_backend::open(database_url)));
      writers.push_back(more.back().get());
    }
  }
  store::write_behind_options wbo;
  wbo.delay = std::chrono::milliseconds(log_delay_ms);
  wbo.max_per_write = max_per_write;
  store::batched_store ports(worker, wbo, writers);
  auto queued = [&] {
    std::size_t n = worker.queue_depth();
    for (const auto& w : more)
      n += w->queue_depth();
    return n;
  };

  // A run id keeps streams apart from an earlier run's in the same database.
  const auto run = fmt::format("{:x}", steady::now().time_since_epoch().count());
  std::vector<std::int64_t> seqs(static_cast<std::size_t>(streams), 0);
  std::atomic<bool> stop{false};
  std::uint64_t appended = 0;
  std::thread producer([&] {
    std::size_t s = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      if (ports.log_buffered() >= max_buffered) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        continue;
      }
      for (int i = 0; i < 256; ++i) {
        store::log_entry e;
        e.stream = fmt::format("g{}-{}", run, s);
        e.seq = ++seqs[s];
        e.ts_ms = 1'700'000'000'000 + static_cast<std::int64_t>(appended);
        e.kind = "action";
        e.actor = static_cast<std::int64_t>(s) * 8 + e.seq % 8;
        e.payload_json = fmt::format(R"({{"type":"mafia.vote","target":{},"phase":"vote"}})",
                                     static_cast<std::int64_t>(s) * 8 + (e.seq + 3) % 8);
        ports.append_log(std::move(e));
        ++appended;
        s = (s + 1) % seqs.size();
      }
    }
  });

  const auto start = steady::now();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const auto written0 = ports.log_stats().entries.load();
  const auto writes0 = ports.log_stats().writes.load();
  const double prod0 = thread_cpu_seconds(producer.native_handle());
  const double proc0 = process_cpu_seconds();
  const auto t0 = steady::now();
  std::this_thread::sleep_until(start + std::chrono::duration<double>(duration - 1));
  const double wall = std::chrono::duration<double>(steady::now() - t0).count();
  const auto written = ports.log_stats().entries.load() - written0;
  const auto writes = ports.log_stats().writes.load() - writes0;
  const double prod_cpu = thread_cpu_seconds(producer.native_handle()) - prod0;
  const double storage_cpu = process_cpu_seconds() - proc0 - prod_cpu;
  stop = true;
  producer.join();

  // Everything appended is written before the check: a read queued after the appends sees them.
  const auto drain_start = steady::now();
  while (ports.log_buffered() > 0 || queued() > 0) {
    if (steady::now() - drain_start > std::chrono::seconds(60)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  int checked = 0, wrong = 0;
  for (std::size_t s = 0; s < seqs.size(); s += std::max<std::size_t>(1, seqs.size() / 50)) {
    std::promise<result<std::vector<store::log_entry>>> p;
    auto f = p.get_future();
    ports.read_log(fmt::format("g{}-{}", run, s), 0, 1'000'000,
                   [&p](result<std::vector<store::log_entry>> r) { p.set_value(std::move(r)); });
    if (f.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
      ++wrong;
      continue;
    }
    auto r = f.get();
    bool ok = r.has_value() && r->size() == static_cast<std::size_t>(seqs[s]);
    for (std::size_t i = 0; ok && i < r->size(); ++i)
      ok = (*r)[i].seq == static_cast<std::int64_t>(i) + 1;
    ++checked;
    if (!ok) ++wrong;
  }
  for (auto& w : more)
    w->stop();
  worker.stop();
  std::filesystem::remove_all(dir);

  fmt::print("storage_write: {} into {} streams, measured {:.1f} s\n",
             database_url.empty() ? std::string("SQLite (synchronous=NORMAL)")
                                  : fmt::format("PostgreSQL ({} writer connection{})",
                                                writers.size() + (writers.empty() ? 1 : 0),
                                                writers.size() > 1 ? "s" : ""),
             streams, wall);
  fmt::print("  {:.0f} entries/s written, sustained ({} in {} bulk writes, {:.0f} per write)\n",
             static_cast<double>(written) / wall, written, writes,
             writes ? static_cast<double>(written) / static_cast<double>(writes) : 0.0);
  fmt::print("  CPU: storage thread(s) {:.0f}% of a core, producer {:.0f}%\n",
             100 * storage_cpu / wall, 100 * prod_cpu / wall);
  fmt::print(
      "  dropped {}, lost {}; read back {} streams: {}\n", ports.log_stats().dropped.load(),
      [&] {
        std::uint64_t n = worker.stats().lost.load();
        for (const auto& w : more)
          n += w->stats().lost.load();
        return n;
      }(),
      checked, wrong ? fmt::format("{} WRONG", wrong) : std::string("all complete and in order"));
  return wrong || ports.log_stats().dropped.load() ? 1 : 0;
}
