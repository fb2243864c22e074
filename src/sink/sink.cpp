#include "sink/sink.hpp"

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>
#include <chrono>
#include <map>
#include <thread>

#include "events/topics.hpp"
#include "sink/jsonl_store.hpp"
#include "sink/pg_sink.hpp"
#include "util/log_limit.hpp"

namespace maratang::sink {

struct sink::impl {
  sink_options opts;
  rd_kafka_t* rk = nullptr;
  std::unique_ptr<pg_sink> pg;
  std::unique_ptr<jsonl_store> files;
  std::vector<consumed> pending;  // taken from Kafka, not yet committed
  // Offsets to commit for the pending batch: the next offset of each partition (bad messages
  // included, so that they are not read again).
  std::map<std::pair<std::string, std::int32_t>, std::int64_t> next_offsets;
  sink_stats stats;
  util::log_limiter limit{5, std::chrono::seconds(10)};

  void warn(std::string_view kind, const std::string& line) {
    std::uint64_t held = 0;
    if (!limit.allow(kind, held)) return;
    if (held) {
      spdlog::warn("sink: {} ({} similar lines held back)", line, held);
    } else {
      spdlog::warn("sink: {}", line);
    }
  }

  // Partitions assigned or taken away. What is pending may belong to a partition another member
  // now owns: it is dropped (that member reads it again from the committed offset; the writers
  // skip what is already there).
  static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* parts, void* opaque) {
    auto* self = static_cast<impl*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      rd_kafka_assign(rk, parts);
    } else {
      self->pending.clear();
      self->next_offsets.clear();
      rd_kafka_assign(rk, nullptr);
    }
  }

  ~impl() {
    if (rk) {
      rd_kafka_consumer_close(rk);
      rd_kafka_destroy(rk);
    }
  }

  // Takes messages until batch_max or batch_ms.
  void fill() {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(opts.batch_ms);
    while (pending.size() < static_cast<std::size_t>(opts.batch_max)) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
      if (left <= 0) break;
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, static_cast<int>(left));
      if (!m) continue;
      take(m);
      rd_kafka_message_destroy(m);
    }
  }

  void take(const rd_kafka_message_t* m) {
    if (m->err) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
        warn("consume", fmt::format("consumer: {}", rd_kafka_message_errstr(m)));
      return;
    }
    stats.consumed += 1;
    const std::string topic = rd_kafka_topic_name(m->rkt);
    next_offsets[{topic, m->partition}] = m->offset + 1;
    std::string_view value(static_cast<const char*>(m->payload), m->len);
    auto ev = events::decode_envelope(value);
    if (!ev) {
      stats.bad += 1;
      warn("bad", fmt::format("{} [{}] offset {} is not an event ({}); skipped", topic,
                              m->partition, m->offset, ev.error().message));
      return;
    }
    pending.push_back(consumed{topic, m->partition, m->offset, ev->ts_ms, std::move(ev->id),
                               std::move(ev->key), std::string(value), std::move(ev->data_json)});
  }

  result<> commit() {
    rd_kafka_topic_partition_list_t* list =
        rd_kafka_topic_partition_list_new(static_cast<int>(next_offsets.size()));
    for (const auto& [tp, next] : next_offsets)
      rd_kafka_topic_partition_list_add(list, tp.first.c_str(), tp.second)->offset = next;
    const rd_kafka_resp_err_t rc = rd_kafka_commit(rk, list, 0 /* synchronous */);
    rd_kafka_resp_err_t part_err = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int i = 0; i < list->cnt; ++i)
      if (list->elems[i].err) part_err = list->elems[i].err;
    rd_kafka_topic_partition_list_destroy(list);
    if (rc || part_err) {
      return error{errc::unavailable,
                   fmt::format("offset commit failed: {}", rd_kafka_err2str(rc ? rc : part_err))};
    }
    return {};
  }
};

sink::sink(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
sink::~sink() = default;

result<std::unique_ptr<sink>> sink::open(sink_options o) {
  if (o.brokers.empty()) return error{errc::bad_field, "sink: no Kafka brokers (KAFKA_BROKERS)"};
  if (o.database_url.empty())
    return error{errc::bad_field, "sink: no PostgreSQL URL (DATABASE_URL)"};
  if (o.dir.empty()) return error{errc::bad_field, "sink: no directory for the files (sink.dir)"};
  if (o.topics.empty()) o.topics = events::all_topics();
  auto p = std::make_unique<impl>();
  p->opts = o;

  auto files = jsonl_store::open(o.dir);
  if (!files) return files.error();
  p->files = std::make_unique<jsonl_store>(std::move(*files));
  if (p->files->removed_partials())
    spdlog::info("sink: removed {} partly written files", p->files->removed_partials());
  auto pg = pg_sink::open(o.database_url, o.pg_schema);
  if (!pg) return pg.error();
  p->pg = std::move(*pg);

  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::vector<std::pair<std::string, std::string>> props{
      {"bootstrap.servers", o.brokers},      {"group.id", o.group_id},
      {"enable.auto.commit", "false"},  // offsets only after both writes: commit() below
      {"enable.auto.offset.store", "false"}, {"auto.offset.reset", "earliest"},
      {"client.id", "maratang-sink"},
  };
  props.insert(props.end(), o.extra.begin(), o.extra.end());
  char err[512];
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return error{errc::bad_field, fmt::format("Kafka property {}={}: {}", k, v, err)};
    }
  }
  rd_kafka_conf_set_opaque(conf, p.get());
  rd_kafka_conf_set_rebalance_cb(conf, &impl::on_rebalance);
  p->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!p->rk) {
    rd_kafka_conf_destroy(conf);
    return error{errc::bad_field, fmt::format("Kafka consumer: {}", err)};
  }
  rd_kafka_poll_set_consumer(p->rk);
  rd_kafka_topic_partition_list_t* topics =
      rd_kafka_topic_partition_list_new(static_cast<int>(o.topics.size()));
  for (const auto& t : o.topics)
    rd_kafka_topic_partition_list_add(topics, t.c_str(), RD_KAFKA_PARTITION_UA);
  const auto rc = rd_kafka_subscribe(p->rk, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (rc) return error{errc::unavailable, fmt::format("subscribe: {}", rd_kafka_err2str(rc))};
  return std::unique_ptr<sink>(new sink(std::move(p)));
}

result<std::size_t> sink::step() {
  auto& s = *impl_;
  // A batch that failed is tried again as it is before anything new is taken.
  if (s.pending.empty() && s.next_offsets.empty()) s.fill();
  if (s.next_offsets.empty()) return std::size_t{0};
  const std::size_t n = s.pending.size();
  auto lines = s.files->write(s.pending);
  if (!lines) {
    s.stats.failures += 1;
    return lines.error();
  }
  s.stats.lines += *lines;
  if (s.opts.crash == sink_options::crash_point::after_files)
    return error{errc::internal, "crash after the files (test)"};
  auto rows = s.pg->write(s.pending);
  if (!rows) {
    s.stats.failures += 1;
    return rows.error();
  }
  s.stats.rows += *rows;
  if (s.opts.crash == sink_options::crash_point::after_rows)
    return error{errc::internal, "crash after the rows (test)"};
  if (auto c = s.commit(); !c) {
    s.stats.failures += 1;
    return c.error();
  }
  s.stats.batches += 1;
  s.pending.clear();
  s.next_offsets.clear();
  return n;
}

int sink::run(const std::atomic<bool>& stop) {
  auto wait = std::chrono::milliseconds(250);
  while (!stop.load()) {
    auto r = step();
    if (r) {
      wait = std::chrono::milliseconds(250);
      continue;
    }
    impl_->warn("write", fmt::format("{}; trying again in {} ms", r.error().message, wait.count()));
    // Waits in short steps so that a stop is seen soon.
    const auto until = std::chrono::steady_clock::now() + wait;
    while (!stop.load() && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    wait = std::min(wait * 2, std::chrono::milliseconds(10'000));
  }
  return 0;
}

const sink_stats& sink::stats() const {
  return impl_->stats;
}

}  // namespace maratang::sink
