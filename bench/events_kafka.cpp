// events_kafka: how many events per second the server's Kafka producer (events::kafka_stream, the
// one a server with KAFKA_BROKERS uses) hands to Kafka and has acknowledged, and how many per
// second `maratang sink` (sink::sink) then writes into PostgreSQL rows and JSON Lines files.
//
// Kafka cannot run here: the brokers are librdkafka's mock cluster (in-process, loopback; three
// brokers, the topic `actions` with --partitions partitions and three replicas), so the figures
// are the clients' own cost plus the mock's, on this machine. The producer publishes --events
// action-log events of a vote's size over --keys games as fast as its bounded queue takes them
// (a refused publish waits 1 ms and tries again: the rate is the sustained one, not a burst into
// an empty queue), and is timed from the first publish to the last delivery report. Then, with
// --database-url, the sink consumes the topic from the beginning into a fresh schema and a
// temporary folder until every event is a row and a line, or 120 s pass. Bounded; stops by
// itself. Exit status 1 when an event is missing.
//
// Usage: events_kafka [--events 500000] [--keys 10000] [--partitions 4] [--database-url URL]
#include <sys/resource.h>
#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <optional>
#include <thread>

#include "cpu_time.hpp"
#include "events/kafka/kafka_stream.hpp"
#include "events/kafka/mock_cluster.hpp"
#include "sink/sink.hpp"

namespace {

using namespace maratang;
using steady = std::chrono::steady_clock;

double seconds_since(steady::time_point t) {
  return std::chrono::duration<double>(steady::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"The Kafka producer's and the sink's throughput, against librdkafka's mock cluster"};
  int events = 500'000;
  int keys = 10'000;
  int partitions = 4;
  std::string database_url;
  cli.add_option("--events", events, "Events to publish")->check(CLI::Range(1000, 5'000'000));
  cli.add_option("--keys", keys, "Games the events belong to (message keys)")
      ->check(CLI::Range(1, 1'000'000));
  cli.add_option("--partitions", partitions, "Partitions of the topic")->check(CLI::Range(1, 64));
  cli.add_option("--database-url", database_url,
                 "PostgreSQL for the sink's rows (without it only the producer runs)");
  CLI11_PARSE(cli, argc, argv);

  events::testing::mock_cluster mc;
  mc.create_topic("actions", partitions);

  events::kafka_options ko;
  ko.brokers = mc.bootstraps();
  ko.extra = events::testing::fast_client_props();
  auto ks = events::kafka_stream::open(ko);
  if (!ks) {
    std::cerr << "events_kafka: " << ks.error().message << "\n";
    return 1;
  }
  auto& producer = **ks;

  const double cpu0 = bench::process_cpu_seconds();
  const auto t0 = steady::now();
  std::uint64_t refused = 0;
  for (int i = 0; i < events; ++i) {
    const int game = i % keys;
    const int seq = i / keys + 1;
    events::event e{"actions", fmt::format("g{}", game), fmt::format("g{}/{}", game, seq),
                    1'700'000'000'000 + i,
                    fmt::format(R"({{"game":"g{}","seq":{},"kind":"action","actor":{},)"
                                R"("data":{{"type":"mafia.vote","target":{}}}}})",
                                game, seq, game * 8 + seq % 8, game * 8 + (seq + 3) % 8)};
    while (!producer.publish(e)) {
      ++refused;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      if (seconds_since(t0) > 300) break;
    }
  }
  const double published_s = seconds_since(t0);
  while (producer.stats().delivered + producer.stats().failed <
             static_cast<std::uint64_t>(events) &&
         seconds_since(t0) < 300) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const double delivered_s = seconds_since(t0);
  const double producer_cpu = bench::process_cpu_seconds() - cpu0;
  const auto ps = producer.stats();
  producer.stop(5000);

  fmt::print("events_kafka: {} events over {} keys, topic of {} partitions (mock cluster)\n",
             events, keys, partitions);
  fmt::print(
      "  producer: {:.0f} events/s published, {:.0f} events/s acknowledged; {} delivered, "
      "{} failed, {} publishes refused (queue full) and retried\n",
      events / published_s, static_cast<double>(ps.delivered) / delivered_s, ps.delivered,
      ps.failed, refused);
  fmt::print(
      "  process CPU while producing: {:.2f} s ({:.1f} µs per event, the mock brokers "
      "included)\n",
      producer_cpu, 1e6 * producer_cpu / events);
  bool ok = ps.delivered == static_cast<std::uint64_t>(events);
  if (database_url.empty()) return ok ? 0 : 1;

  const auto dir =
      std::filesystem::temp_directory_path() / fmt::format("maratang_events_kafka_{}", getpid());
  sink::sink_options so;
  so.brokers = mc.bootstraps();
  so.group_id = fmt::format("bench-{}", getpid());
  so.topics = {"actions"};
  so.database_url = database_url;
  so.pg_schema = fmt::format("bench_sink_{}", getpid());
  so.dir = dir.string();
  so.extra = events::testing::fast_client_props();
  auto sk = sink::sink::open(so);
  if (!sk) {
    std::cerr << "events_kafka: sink: " << sk.error().message << "\n";
    return 1;
  }
  auto& s = **sk;
  // Timed from the end of the first batch (joining the consumer group takes the first seconds)
  // to the last; the first batch's events are not counted.
  const auto start = steady::now();
  double scpu0 = 0;
  std::uint64_t rows0 = 0;
  std::optional<steady::time_point> s0;
  double slowest_step = 0;
  while (s.stats().rows < static_cast<std::uint64_t>(events) && seconds_since(start) < 120) {
    const auto st0 = steady::now();
    auto r = s.step();
    if (!r) {
      std::cerr << "events_kafka: sink step: " << r.error().message << "\n";
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    } else if (*r > 0 && !s0) {
      s0 = steady::now();
      scpu0 = bench::process_cpu_seconds();
      rows0 = s.stats().rows;
    } else if (s0) {
      slowest_step = std::max(slowest_step, seconds_since(st0));
    }
  }
  const double sink_s = s0 ? seconds_since(*s0) : 0;
  const double sink_cpu = bench::process_cpu_seconds() - scpu0;
  const auto st = s.stats();
  fmt::print(
      "  sink: {:.0f} events/s into PostgreSQL rows and JSON Lines after its first batch "
      "({} rows, {} lines in {} batches of at most {}, {} failures; slowest batch "
      "{:.0f} ms); its CPU {:.0f}% of a core (PostgreSQL's own not counted)\n",
      sink_s > 0 ? static_cast<double>(st.rows - rows0) / sink_s : 0.0, st.rows, st.lines,
      st.batches, so.batch_max, st.failures, 1000 * slowest_step,
      sink_s > 0 ? 100 * sink_cpu / sink_s : 0.0);
  std::filesystem::remove_all(dir);
  ok = ok && st.rows == static_cast<std::uint64_t>(events) &&
       st.lines == static_cast<std::uint64_t>(events);
  if (!ok) fmt::print("  MISSING events\n");
  return ok ? 0 : 1;
}
