#include "sink/pg_sink.hpp"

#include <fmt/format.h>
#include <libpq-fe.h>

namespace maratang::sink {

namespace {

constexpr std::size_t kRowsPerStatement = 1000;  // 8 parameters a row: well under libpq's 65535
constexpr int kParams = 8;

}  // namespace

struct pg_sink::impl {
  std::string url;
  std::string schema;
  PGconn* conn = nullptr;

  ~impl() {
    if (conn) PQfinish(conn);
  }

  error fail(const std::string& what) {
    auto e = error{errc::unavailable,
                   fmt::format("PostgreSQL sink, {}: {}", what, conn ? PQerrorMessage(conn) : "")};
    // A broken connection is dropped and made again by the next write.
    if (conn && PQstatus(conn) != CONNECTION_OK) {
      PQfinish(conn);
      conn = nullptr;
    }
    return e;
  }

  result<> exec(const std::string& sql, const char* what) {
    PGresult* r = PQexec(conn, sql.c_str());
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    if (!ok) return fail(what);
    return {};
  }

  result<> connect() {
    if (conn && PQstatus(conn) == CONNECTION_OK) return {};
    if (conn) PQfinish(conn);
    conn = PQconnectdb(url.c_str());
    if (PQstatus(conn) != CONNECTION_OK) return fail("connect");
    if (!schema.empty()) {
      char* quoted = PQescapeIdentifier(conn, schema.c_str(), schema.size());
      if (!quoted) return fail("schema name");
      const std::string q(quoted);
      PQfreemem(quoted);
      if (auto r = exec("CREATE SCHEMA IF NOT EXISTS " + q, "create schema"); !r) return r;
      if (auto r = exec("SET search_path TO " + q, "set search_path"); !r) return r;
    }
    return exec(
        "SET client_min_messages = warning;"
        "CREATE TABLE IF NOT EXISTS sink_events ("
        "  topic TEXT NOT NULL,"
        "  event_id TEXT NOT NULL,"
        "  event_key TEXT NOT NULL,"
        "  ts TIMESTAMPTZ NOT NULL,"
        "  kafka_partition INTEGER NOT NULL,"
        "  kafka_offset BIGINT NOT NULL,"
        "  data JSONB NOT NULL,"
        "  ts_ms BIGINT NOT NULL,"
        "  PRIMARY KEY (topic, event_id));"
        "CREATE INDEX IF NOT EXISTS sink_events_topic_ts ON sink_events (topic, ts);",
        "create table");
  }
};

pg_sink::pg_sink(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
pg_sink::~pg_sink() = default;

result<std::unique_ptr<pg_sink>> pg_sink::open(const std::string& url, const std::string& schema) {
  auto p = std::make_unique<impl>();
  p->url = url;
  p->schema = schema;
  if (auto r = p->connect(); !r) return r.error();
  return std::unique_ptr<pg_sink>(new pg_sink(std::move(p)));
}

result<std::size_t> pg_sink::write(const std::vector<consumed>& batch) {
  auto& s = *impl_;
  if (auto r = s.connect(); !r) return r.error();
  if (batch.empty()) return std::size_t{0};
  if (auto r = s.exec("BEGIN", "begin"); !r) return r.error();
  std::size_t added = 0;
  for (std::size_t at = 0; at < batch.size(); at += kRowsPerStatement) {
    const std::size_t n = std::min(kRowsPerStatement, batch.size() - at);
    // INSERT ... VALUES ($1,...,$8), ($9,...) ON CONFLICT DO NOTHING: one round trip per 1000.
    std::string sql =
        "INSERT INTO sink_events (topic, event_id, event_key, ts, kafka_partition, kafka_offset, "
        "data, ts_ms) VALUES ";
    std::vector<std::string> text;
    text.reserve(n * kParams);
    for (std::size_t i = 0; i < n; ++i) {
      const auto& c = batch[at + i];
      const std::size_t b = i * kParams;
      sql += fmt::format(
          "{}(${},${},${},to_timestamp(${}::bigint / 1000.0),${}::integer,${}::bigint,${}::jsonb,"
          "${}::bigint)",
          i ? "," : "", b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7, b + 8);
      text.push_back(c.topic);
      text.push_back(c.event_id);
      text.push_back(c.key);
      text.push_back(std::to_string(c.ts_ms));
      text.push_back(std::to_string(c.partition));
      text.push_back(std::to_string(c.offset));
      text.push_back(c.data_json);
      text.push_back(std::to_string(c.ts_ms));
    }
    sql += " ON CONFLICT (topic, event_id) DO NOTHING";
    std::vector<const char*> values;
    values.reserve(text.size());
    for (const auto& t : text)
      values.push_back(t.c_str());
    PGresult* r = PQexecParams(s.conn, sql.c_str(), static_cast<int>(values.size()), nullptr,
                               values.data(), nullptr, nullptr, 0);
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (ok) added += static_cast<std::size_t>(std::strtoull(PQcmdTuples(r), nullptr, 10));
    PQclear(r);
    if (!ok) {
      auto e = s.fail("insert");
      if (s.conn) PQclear(PQexec(s.conn, "ROLLBACK"));
      return e;
    }
  }
  if (auto r = s.exec("COMMIT", "commit"); !r) return r.error();
  return added;
}

}  // namespace maratang::sink
