// Test helper: a librdkafka mock cluster (rdkafka_mock.h, in-process brokers on loopback ports)
// that several clients can share, and a plain reader of a topic. Tests only: the mock API is
// marked experimental and stays out of production code.
#pragma once

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace maratang::events::testing {

class mock_cluster {
 public:
  explicit mock_cluster(int brokers = 3) {
    char err[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof err);
    owner_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!owner_) throw std::runtime_error(err);
    mc_ = rd_kafka_mock_cluster_new(owner_, brokers);
    if (!mc_) throw std::runtime_error("rd_kafka_mock_cluster_new failed");
  }
  ~mock_cluster() {
    rd_kafka_mock_cluster_destroy(mc_);
    rd_kafka_destroy(owner_);
  }
  mock_cluster(const mock_cluster&) = delete;
  mock_cluster& operator=(const mock_cluster&) = delete;

  rd_kafka_mock_cluster_t* get() const { return mc_; }
  std::string bootstraps() const { return rd_kafka_mock_cluster_bootstraps(mc_); }
  void create_topic(const std::string& name, int partitions) {
    if (rd_kafka_mock_topic_create(mc_, name.c_str(), partitions, 3))
      throw std::runtime_error("rd_kafka_mock_topic_create failed");
  }
  void all_down() { rd_kafka_mock_broker_set_down(mc_, -1); }
  void all_up() { rd_kafka_mock_broker_set_up(mc_, -1); }

 private:
  rd_kafka_t* owner_ = nullptr;
  rd_kafka_mock_cluster_t* mc_ = nullptr;
};

// Properties that make clients notice a returning broker quickly (the default reconnect backoff
// grows to 10 s) and keep the log quiet.
inline std::vector<std::pair<std::string, std::string>> fast_client_props() {
  return {{"reconnect.backoff.ms", "20"},
          {"reconnect.backoff.max.ms", "200"},
          {"retry.backoff.ms", "20"},
          {"topic.metadata.refresh.interval.ms", "500"},
          {"log_level", "0"}};
}

// One message as read back.
struct read_message {
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::string key;
  std::string value;
};

// Reads `topic` (all `partitions`, from the beginning, no consumer group) until `want` messages
// came or `timeout` passed.
inline std::vector<read_message> read_topic(const std::string& bootstraps, const std::string& topic,
                                            int partitions, std::size_t want,
                                            std::chrono::milliseconds timeout) {
  char err[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [k, v] : fast_client_props())
    rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err);
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps.c_str(), err, sizeof err);
  rd_kafka_conf_set(conf, "group.id", "reader", err, sizeof err);
  rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!rk) throw std::runtime_error(err);
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p)
    rd_kafka_topic_partition_list_add(parts, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_assign(rk, parts);
  rd_kafka_topic_partition_list_destroy(parts);
  std::vector<read_message> out;
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (out.size() < want && std::chrono::steady_clock::now() < end) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (!m) continue;
    if (!m->err) {
      out.push_back(read_message{m->partition, m->offset,
                                 std::string(static_cast<const char*>(m->key), m->key_len),
                                 std::string(static_cast<const char*>(m->payload), m->len)});
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return out;
}

// Polls `pred` every 10 ms until it holds or `timeout` passes; returns its last value.
inline bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace maratang::events::testing
