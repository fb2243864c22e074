#include "events/kafka/kafka_stream.hpp"

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>
#include <atomic>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include "events/topics.hpp"
#include "util/log_limit.hpp"

namespace maratang::events {

struct kafka_stream::impl {
  // Written only by the poller thread (a restart, under `swap` held exclusively) and by stop()
  // after the poller ended; publish reads it under `swap` shared.
  rd_kafka_t* rk = nullptr;
  std::shared_mutex swap;
  std::vector<std::pair<std::string, std::string>> props;  // to make the producer again
  std::atomic<bool> fatal{false};  // the current producer hit a fatal error: the poller restarts it
  std::atomic<std::uint64_t> restarts{0};
  std::thread poller;
  std::atomic<bool> stopping{false};  // publish refuses
  std::atomic<bool> polling{true};    // the poller runs
  bool stopped = false;               // stop() ran (only stop's caller touches it)
  std::atomic<std::uint64_t> produced{0}, delivered{0}, failed{0}, dropped{0};
  util::log_limiter limit{5, std::chrono::seconds(10)};

  void warn(std::string_view kind, const std::string& line) {
    std::uint64_t held = 0;
    if (!limit.allow(kind, held)) return;
    if (held) {
      spdlog::warn("events: {} ({} similar lines held back)", line, held);
    } else {
      spdlog::warn("events: {}", line);
    }
  }

  // Delivery report, on the poller thread (or stop's caller, in rd_kafka_flush).
  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<impl*>(opaque);
    if (m->err) {
      self->failed += 1;
      self->warn("delivery",
                 fmt::format("delivery to {} failed: {}",
                             m->rkt ? rd_kafka_topic_name(m->rkt) : "?", rd_kafka_err2str(m->err)));
    } else {
      self->delivered += 1;
    }
  }

  // On the poller thread, which alone swaps `rk`: reading it here needs no lock.
  static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
    auto* self = static_cast<impl*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
      if (rk != self->rk) return;  // the producer being replaced: already handled
      // The idempotent producer cannot go on (e.g. a sequence gap it cannot explain). The poller
      // replaces it; until then publish is refused by librdkafka and counted as dropped.
      char why[512];
      rd_kafka_fatal_error(rk, why, sizeof why);
      spdlog::error("events: Kafka producer fatal error: {}; making a new producer", why);
      self->fatal = true;
      return;
    }
    self->warn("client", fmt::format("Kafka: {}", reason));
  }

  // A producer from `props`, or nullptr with `err` filled.
  rd_kafka_t* make_producer(std::string& err) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char buf[512];
    for (const auto& [k, v] : props) {
      if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), buf, sizeof buf) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        err = fmt::format("Kafka property {}={}: {}", k, v, buf);
        return nullptr;
      }
    }
    rd_kafka_conf_set_opaque(conf, this);
    rd_kafka_conf_set_dr_msg_cb(conf, &impl::on_delivery);
    rd_kafka_conf_set_error_cb(conf, &impl::on_error);
    rd_kafka_t* made = rd_kafka_new(RD_KAFKA_PRODUCER, conf, buf, sizeof buf);
    if (!made) {
      rd_kafka_conf_destroy(conf);
      err = fmt::format("Kafka producer: {}", buf);
    }
    return made;
  }

  // On the poller thread, after a fatal error: a new producer takes over (new publishes go to
  // it), and what the old one still held is purged, counted as failed by its delivery reports
  // (or here, for any it did not report), and the old one destroyed. If a new producer cannot be
  // made, the next poll tries again.
  void restart() {
    std::string err;
    rd_kafka_t* fresh = make_producer(err);
    if (!fresh) {
      warn("restart", "could not make a new Kafka producer: " + err);
      return;
    }
    rd_kafka_t* old = nullptr;
    {
      std::unique_lock lk(swap);
      old = rk;
      rk = fresh;
    }
    fatal = false;
    restarts += 1;
    rd_kafka_purge(old, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    for (int i = 0; i < 50 && rd_kafka_outq_len(old) > 0; ++i)
      rd_kafka_poll(old, 10);
    if (const int left = rd_kafka_outq_len(old); left > 0)
      failed += static_cast<std::uint64_t>(left);
    rd_kafka_destroy(old);
  }

  ~impl() {
    if (rk) rd_kafka_destroy(rk);
  }
};

kafka_stream::kafka_stream(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

kafka_stream::~kafka_stream() {
  stop(0);
}

result<std::unique_ptr<kafka_stream>> kafka_stream::open(kafka_options o) {
  auto p = std::make_unique<impl>();
  p->props = {
      {"bootstrap.servers", o.brokers},
      {"enable.idempotence", "true"},  // acks=all, retries, ordered: no duplicate, no reorder
      {"queue.buffering.max.messages", std::to_string(o.queue_max_messages)},
      {"queue.buffering.max.kbytes", std::to_string(o.queue_max_kbytes)},
      {"message.timeout.ms", std::to_string(o.message_timeout_ms)},
      {"linger.ms", std::to_string(o.linger_ms)},
      {"client.id", "maratang"},
  };
  p->props.insert(p->props.end(), o.extra.begin(), o.extra.end());
  std::string err;
  p->rk = p->make_producer(err);
  if (!p->rk) return error{errc::bad_field, err};
  auto* raw = p.get();
  // Delivery reports are served here, on a thread of our own: never a network or room thread.
  p->poller = std::thread([raw] {
    while (raw->polling.load()) {
      rd_kafka_poll(raw->rk, 100);
      if (raw->fatal.load()) raw->restart();
    }
  });
  return std::unique_ptr<kafka_stream>(new kafka_stream(std::move(p)));
}

bool kafka_stream::publish(event e) {
  auto& s = *impl_;
  if (s.stopping.load()) {
    s.dropped += 1;
    return false;
  }
  const std::string value = encode_envelope(e);
  // No RD_KAFKA_MSG_F_BLOCK: a full queue is answered at once with _QUEUE_FULL. (The RD_KAFKA_V_*
  // macros are C: their casts are theirs.)
  std::shared_lock lk(s.swap);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"
  const rd_kafka_resp_err_t rc = rd_kafka_producev(
      s.rk, RD_KAFKA_V_TOPIC(e.topic.c_str()), RD_KAFKA_V_KEY(e.key.data(), e.key.size()),
      RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_TIMESTAMP(e.ts_ms), RD_KAFKA_V_END);
#pragma GCC diagnostic pop
  if (rc == RD_KAFKA_RESP_ERR_NO_ERROR) {
    s.produced += 1;
    return true;
  }
  lk.unlock();
  s.dropped += 1;
  s.warn(rc == RD_KAFKA_RESP_ERR__QUEUE_FULL ? "queue_full" : "produce",
         fmt::format("event dropped ({} on {}): {}", rd_kafka_err2name(rc), e.topic,
                     rd_kafka_err2str(rc)));
  return false;
}

void kafka_stream::stop(int flush_ms) {
  auto& s = *impl_;
  if (s.stopped) return;
  s.stopped = true;
  s.stopping = true;
  s.polling = false;
  if (s.poller.joinable()) s.poller.join();
  // Serves the last delivery reports on this thread.
  rd_kafka_flush(s.rk, flush_ms);
  const int left = rd_kafka_outq_len(s.rk);
  if (left > 0) {
    s.failed += static_cast<std::uint64_t>(left);
    spdlog::warn("events: {} events not delivered to Kafka at shutdown (counted as failed)", left);
  }
  rd_kafka_destroy(s.rk);
  s.rk = nullptr;
}

void kafka_stream::inject_fatal_error_for_test() {
  auto& s = *impl_;
  std::shared_lock lk(s.swap);
  if (s.rk) rd_kafka_test_fatal_error(s.rk, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, "test");
}

kafka_stats kafka_stream::stats() const {
  const auto& s = *impl_;
  kafka_stats st;
  st.produced = s.produced.load();
  st.delivered = s.delivered.load();
  st.failed = s.failed.load();
  st.dropped = s.dropped.load();
  st.restarts = s.restarts.load();
  const auto done = st.delivered + st.failed;
  st.queue_depth = st.produced > done ? static_cast<std::int64_t>(st.produced - done) : 0;
  return st;
}

void kafka_stream::render_metrics(std::string& out) const {
  const auto st = stats();
  out += fmt::format(
      "# HELP maratang_events_kafka_produced_total Events accepted into the Kafka producer's "
      "local queue.\n"
      "# TYPE maratang_events_kafka_produced_total counter\n"
      "maratang_events_kafka_produced_total {}\n"
      "# HELP maratang_events_kafka_delivered_total Events acknowledged by Kafka.\n"
      "# TYPE maratang_events_kafka_delivered_total counter\n"
      "maratang_events_kafka_delivered_total {}\n"
      "# HELP maratang_events_kafka_failed_total Events whose delivery failed (timed out) or that "
      "were left unsent at shutdown.\n"
      "# TYPE maratang_events_kafka_failed_total counter\n"
      "maratang_events_kafka_failed_total {}\n"
      "# HELP maratang_events_kafka_dropped_total Events refused at once: local queue full, too "
      "large, or stopping.\n"
      "# TYPE maratang_events_kafka_dropped_total counter\n"
      "maratang_events_kafka_dropped_total {}\n"
      "# HELP maratang_events_kafka_queue_depth Events produced and not yet delivered or failed.\n"
      "# TYPE maratang_events_kafka_queue_depth gauge\n"
      "maratang_events_kafka_queue_depth {}\n"
      "# HELP maratang_events_kafka_producer_restarts_total Producers replaced after a fatal "
      "error (what the old one held is counted as failed).\n"
      "# TYPE maratang_events_kafka_producer_restarts_total counter\n"
      "maratang_events_kafka_producer_restarts_total {}\n",
      st.produced, st.delivered, st.failed, st.dropped, st.queue_depth, st.restarts);
}

}  // namespace maratang::events
