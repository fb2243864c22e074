#!/usr/bin/env bash
# Cross-node delivery (issue 16) on throw-away servers: starts a PostgreSQL 15
# (scripts/pg_temp.sh) and a Redis (scripts/redis_temp.sh) on free loopback ports, runs
# bench/cross_node against them (two nodes, A and B; see bench/cross_node.cpp), and stops both
# servers (also on failure or Ctrl-C). Arguments go to cross_node, e.g. --senders 50 --duration 5;
# MARATANG_SERVER names another maratang binary to drive (an A/B of two builds). Then, on the
# same Redis, bench/cross_node_floor measures the same two paths through bare relays (the least
# the process hops add on this machine, whatever the server; see bench/cross_node_floor.cpp).
# Needs a release build (cmake --build --preset release --target cross_node cross_node_floor
# maratang) and
# postgresql-15 and redis-server (scripts/setup.sh --test). About 40 s; bounded, loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
b=build/release/bench/cross_node
floor=build/release/bench/cross_node_floor
[ -x "$b" ] && [ -x "$floor" ] && [ -x build/release/maratang ] || {
  echo "build first: cmake --build --preset release --target cross_node cross_node_floor maratang" >&2
  exit 1
}
pgdir=$(mktemp -d /tmp/maratang-xnode-pg.XXXXXX)
redisdir=$(mktemp -d /tmp/maratang-xnode-redis.XXXXXX)
trap 'scripts/redis_temp.sh stop "$redisdir" >/dev/null 2>&1 || true
      scripts/pg_temp.sh stop "$pgdir" >/dev/null 2>&1 || true' EXIT
db=$(scripts/pg_temp.sh start "$pgdir" 2>/dev/null)
redis=$(scripts/redis_temp.sh start "$redisdir" 2>/dev/null)
echo "PostgreSQL 15 at $db, Redis at $redis"
"$b" --server "${MARATANG_SERVER:-build/release/maratang}" --database-url "$db" --redis-url "$redis" "$@"
"$floor" --redis-url "$redis"
