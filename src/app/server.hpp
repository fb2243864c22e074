// The whole server: storage, accounts, lobby, modes and the network, wired together from a
// config. Constructed and driven from the main thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "app/config.hpp"
#include "util/error.hpp"

namespace maratang::app {

class server {
 public:
  // `described_config`: describe() of the loaded configuration, shown to admins.
  explicit server(config cfg, std::string described_config = {});
  ~server();

  // Opens storage (migrating it), loads keys and revocations, binds the port. Returns the port.
  result<int> start();
  // Serves until SIGTERM/SIGINT (or request_shutdown), then shuts down cleanly: stop accepting,
  // tell clients, abandon running games (stored as aborted), flush storage. Returns the exit code.
  int run();
  // Thread-safe.
  void request_shutdown();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// Opens the configured store and applies every pending migration. Returns the schema version.
result<int> migrate(const config& cfg);

// `maratang admin grant|revoke EMAIL`: sets or clears the admin flag of the account with that
// email (migrating first) and writes it to the audit log (actor 0: the operator), in one
// transaction. A running server sees it at the account's next admin request. Returns what was
// done, as a sentence; not_found when no account has the email.
result<std::string> set_admin(const config& cfg, const std::string& email, bool grant,
                              std::int64_t now_ms);

// `maratang sink`: consumes the event topics from Kafka (events.kafka_brokers) into PostgreSQL
// (storage.database_url) and JSON Lines files (sink.dir) until SIGTERM or SIGINT (sink/sink.hpp).
// Returns the exit code.
int run_sink(const config& cfg);

}  // namespace maratang::app
