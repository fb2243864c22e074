#!/usr/bin/env bash
# The storage benchmarks on SQLite and on PostgreSQL, side by side: starts a throw-away
# PostgreSQL 15 (scripts/pg_temp.sh, on a free loopback port), runs storage_write, traces_load and
# mafia_rooms against each store, and stops the server (also on failure or Ctrl-C).
# Usage: bench/storage_side_by_side.sh [--rooms 10000] [--phase-ms 3000] [--duration 30]
# Needs a release build (cmake --build --preset release) and postgresql-15 (scripts/setup.sh --test).
# Takes about (3 x duration + 1 minute) x 2; bounded, loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
rooms=10000 phase_ms=3000 duration=30
while [ $# -gt 0 ]; do
  case $1 in
    --rooms) rooms=$2; shift 2 ;;
    --phase-ms) phase_ms=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    *) echo "usage: $0 [--rooms N] [--phase-ms MS] [--duration S]" >&2; exit 2 ;;
  esac
done
b=build/release/bench
[ -x "$b/storage_write" ] || { echo "build first: cmake --build --preset release" >&2; exit 1; }
pgdir=$(mktemp -d /tmp/maratang-bench-pg.XXXXXX)
trap 'scripts/pg_temp.sh stop "$pgdir" >/dev/null 2>&1 || true' EXIT
# Sized as a production server would be (docs/DEPLOY.md), not as the tests' small ones.
url=$(MARATANG_PG_SHARED_BUFFERS=${MARATANG_PG_SHARED_BUFFERS:-512MB} \
      scripts/pg_temp.sh start "$pgdir" 2>/dev/null)
echo "PostgreSQL 15 at $url"
short=$(( duration < 10 ? duration : 10 ))
# The PostgreSQL server's CPU seconds: its processes' own and, once they exit, their children's
# (a benchmark's connection ends with it, and its backend's time goes to the postmaster).
pg_cpu() {
  local pm; pm=$(head -1 "$pgdir/data/postmaster.pid")
  awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15 + $16 + $17) / hz }' "/proc/$pm/stat"
}
for store in sqlite postgres; do
  args=()
  [ $store = postgres ] && args=(--database-url "$url")
  echo; echo "=== $store"
  for run in "storage_write --duration $short" \
             "traces_load --server build/release/maratang --connections 64 --duration 5" \
             "mafia_rooms --rooms $rooms --duration $duration --phase-ms $phase_ms"; do
    c0=$(pg_cpu)
    # shellcheck disable=SC2086
    "$b"/$run "${args[@]}"
    [ $store = postgres ] && echo "  the PostgreSQL server's CPU during the whole run: $(awk -v a="$c0" -v b="$(pg_cpu)" 'BEGIN { printf "%.1f", b - a }') s"
  done
done
