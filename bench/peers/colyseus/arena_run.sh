#!/usr/bin/env bash
# Arena peer comparison: Maratang's Arena vs the same game as a Colyseus room (arena_server.js),
# driven by the same bots (arena_driver.js), on this machine, over loopback only.
#
#   bench/peers/colyseus/arena_run.sh [--rooms 50] [--players 8] [--duration 10] [--warmup 3]
#
# Installs the pinned npm packages (npm ci), needs build/release/maratang, then for each server in
# turn: starts it (alone: Maratang with one network thread, Colyseus as one Node process),
# runs the bots against it, stops it, and prints both lines. Every phase has a deadline.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
ROOMS=50 PLAYERS=8 DURATION=10 WARMUP=3
MARATANG="$ROOT/build/release/maratang"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rooms) ROOMS="$2"; shift 2 ;;
    --players) PLAYERS="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[[ -x "$MARATANG" ]] || { echo "build $MARATANG first (cmake --build --preset release)" >&2; exit 1; }

WORK="$(mktemp -d /tmp/maratang-peer-arena.XXXXXX)"
SERVER_PID=""
stop_server() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
trap 'stop_server; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

drive() {  # NAME: waits for $WORK/NAME.port, runs the bots, stops the server
  local port=""
  for _ in $(seq 200); do
    [[ -s "$WORK/$1.port" ]] && { port="$(cat "$WORK/$1.port")"; break; }
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "$1 exited during start-up" >&2; tail "$WORK/$1.log" >&2; exit 1; }
    sleep 0.1
  done
  [[ -n "$port" ]] || { echo "$1 did not start" >&2; exit 1; }
  timeout 300 node --no-warnings "$HERE/arena_driver.js" --target "$1" --port "$port" --pid "$SERVER_PID" \
    --rooms "$ROOMS" --players "$PLAYERS" --duration "$DURATION" --warmup "$WARMUP" ||
    { echo "bots failed against $1; its log:" >&2; tail -20 "$WORK/$1.log" >&2; exit 1; }
  stop_server
}

(cd "$HERE" && timeout 300 npm ci --no-audit --no-fund --loglevel=error >/dev/null)
echo "machine: $(nproc) cores; node $(node --version); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

"$MARATANG" serve --port 0 --host 127.0.0.1 --port-file "$WORK/maratang.port" \
  --data-dir "$WORK/maratang-data" --set server.threads=1 --set auth.password_hash=minimal \
  --set log.level=warn --set auth.signups_per_hour=0 \
  --set limits.send_queue_max=100000 --set limits.send_queue_max_bytes=67108864 \
  --set limits.max_connections=10000 >"$WORK/maratang.log" 2>&1 &
SERVER_PID=$!
drive maratang

(cd "$HERE" && exec env NODE_ENV=production node --no-warnings arena_server.js 0 "$WORK/colyseus.port") \
  >"$WORK/colyseus.log" 2>&1 &
SERVER_PID=$!
drive colyseus
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
