#!/usr/bin/env bash
# Chat fan-out peer comparison: Maratang vs Colyseus, on this machine, over loopback only.
#
#   bench/peers/colyseus/run.sh [--duration S] [--warmup S] [--shapes 100x8,10x100]
#                               [--window 4] [--workers 1] [--decode full|header] [--maratang PATH]
#
# Defaults: 100 rooms of 8 and 10 rooms of 100, 5 s measured after 1.5 s of warm-up, 4 chats in
# flight per sender, one client process, clients that read only a frame's header (see driver.js).
# Installs the pinned npm packages (npm ci), builds build/release/maratang if it is missing,
# then for each server in turn: starts it (alone, one network thread / one Node process), runs
# driver.js against it, stops it. Prints each server's figures and the side-by-side table.
# Every phase has a deadline; the trap stops whatever is still running.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"

DURATION=5
WARMUP=1.5
SHAPES=100x8,10x100
WINDOW=4
WORKERS=1
DECODE=header
MARATANG="$ROOT/build/release/maratang"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --shapes) SHAPES="$2"; shift 2 ;;
    --window) WINDOW="$2"; shift 2 ;;
    --workers) WORKERS="$2"; shift 2 ;;
    --decode) DECODE="$2"; shift 2 ;;
    --maratang) MARATANG="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

WORK="$(mktemp -d /tmp/maratang-peer-colyseus.XXXXXX)"
SERVER_PID=""
stop_server() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
cleanup() {
  stop_server
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port_file() {  # FILE: waits up to 20 s for a port number in FILE, prints it
  for _ in $(seq 200); do
    if [[ -s "$1" ]] && grep -qE '^[0-9]+$' "$1"; then cat "$1"; return 0; fi
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "server exited during start-up" >&2; return 1; }
    sleep 0.1
  done
  echo "server did not start within 20 s" >&2
  return 1
}

# Waits for the server just started ($SERVER_PID, $WORK/NAME.port), drives it, and stops it.
# Usage: drive NAME DESCRIPTION
drive() {
  local port
  port="$(wait_port_file "$WORK/$1.port")"
  echo "$1 pid $SERVER_PID on port $port ($2)"
  "${DRIVER[@]}" --target "$1" --port "$port" --pid "$SERVER_PID" --json "$WORK/$1.json" ||
    { echo "driver failed against $1; its log:" >&2; tail -20 "$WORK/$1.log" >&2; exit 1; }
  stop_server
}

# --- Install and build -------------------------------------------------------------------------
command -v node >/dev/null || { echo "node is required (Debian: apt-get install nodejs)" >&2; exit 1; }
(cd "$HERE" && timeout 300 npm ci --no-audit --no-fund --loglevel=error >/dev/null)
if [[ ! -x "$MARATANG" ]]; then
  echo "building $MARATANG (cmake --preset release) ..."
  (cd "$ROOT" && timeout 3000 cmake --preset release >/dev/null &&
    timeout 3000 cmake --build --preset release --target maratang)
fi

DRIVER=(timeout 600 node "$HERE/driver.js" --shapes "$SHAPES" --duration "$DURATION"
        --warmup "$WARMUP" --window "$WINDOW" --workers "$WORKERS" --decode "$DECODE")

echo "machine: $(nproc) cores, $(uname -r); node $(node --version)"
echo "colyseus: @colyseus/core $(node -p "require('$HERE/node_modules/@colyseus/core/package.json').version")," \
  "@colyseus/ws-transport $(node -p "require('$HERE/node_modules/@colyseus/ws-transport/package.json').version")," \
  "@colyseus/sdk $(node -p "require('$HERE/node_modules/@colyseus/sdk/package.json').version")," \
  "ws $(node -p "require('$HERE/node_modules/ws/package.json').version")"
echo "maratang: $("$MARATANG" version 2>/dev/null | head -1) ($(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?'))"
echo "shape: rooms x members $SHAPES; min(S,10) senders per room, $WINDOW chats in flight each;" \
  "${WARMUP} s warm-up, ${DURATION} s measured; $WORKERS client process(es), --decode $DECODE"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the figures)"

# --- Maratang ----------------------------------------------------------------------------------
"$MARATANG" serve --port 0 --host 127.0.0.1 --port-file "$WORK/maratang.port" \
  --data-dir "$WORK/maratang-data" \
  --set server.threads=1 --set testing.test_modes=true --set auth.password_hash=minimal \
  --set log.level=warn --set auth.signups_per_hour=0 \
  --set limits.ws_rate=100000 --set limits.ws_burst=100000 \
  --set limits.send_queue_max=100000 --set limits.send_queue_max_bytes=67108864 \
  --set limits.max_connections=10000 >"$WORK/maratang.log" 2>&1 &
SERVER_PID=$!
drive maratang "server.threads=1"

# --- Colyseus ----------------------------------------------------------------------------------
(cd "$HERE" && exec env NODE_ENV=production node server.js 0 "$WORK/colyseus.port") \
  >"$WORK/colyseus.log" 2>&1 &
SERVER_PID=$!
drive colyseus "one Node process, NODE_ENV=production"

node "$HERE/report.js" "$WORK/maratang.json" "$WORK/colyseus.json"
