#!/usr/bin/env bash
# A throw-away Redis server for tests and local clusters, in a directory of its own, on a free
# loopback port. Usage: scripts/redis_temp.sh start|stop|restart|kill|up|url DIR
#   start DIR    creates DIR if absent, starts redis-server there and prints one line on stdout:
#                redis://127.0.0.1:PORT
#   stop DIR     shuts the server down (SHUTDOWN NOSAVE) and removes DIR; quiet if DIR is gone
#   restart DIR  stops the server and starts it again on the same port (its data is not kept:
#                the server runs without persistence, as a cache Maratang can rebuild)
#   kill DIR     SIGKILL, DIR kept;   up DIR: starts it again on the same port after kill
#   url DIR      prints the URL again
# Everything but the URL goes to stderr; a failure exits non-zero with the reason and the tail of
# the log. Every wait is bounded. redis-server comes from Debian's redis-server package
# (scripts/setup.sh --test), or $MARATANG_REDIS_SERVER. The server listens on 127.0.0.1 only,
# without persistence (no RDB, no AOF) and runs as the calling user.
set -euo pipefail

die() { echo "redis_temp.sh: $*" >&2; exit 1; }

[ $# = 2 ] || die "usage: redis_temp.sh start|stop|restart|kill|up|url DIR"
cmd=$1
dir=$2
server=${MARATANG_REDIS_SERVER:-$(command -v redis-server || true)}
[ -n "$server" ] && [ -x "$server" ] || die "no redis-server (install redis-server: scripts/setup.sh --test)"

# free_port (scripts/lib.sh)
. "$(cd "$(dirname "$0")" && pwd -P)/lib.sh"

log_tail() {
  if [ -f "$dir/log" ]; then
    echo "--- last lines of $dir/log:" >&2
    tail -n 20 "$dir/log" >&2
  fi
}

# Answers PING on $port?
answers() {
  exec 3<>"/dev/tcp/127.0.0.1/$port" 2>/dev/null || return 1
  printf 'PING\r\n' >&3
  local line=""
  read -r -t 2 line <&3 || true
  exec 3>&- 3<&-
  [ "${line%$'\r'}" = "+PONG" ]
}

# Starts the server on $port and waits (at most 10 s) until it answers. Returns 2, quietly, if
# the port is taken; 1 on any other failure.
start_server() {
  local before=0
  [ -f "$dir/log" ] && before=$(wc -l <"$dir/log")
  "$server" --bind 127.0.0.1 --port "$port" --dir "$dir" --save "" --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/log" --protected-mode no \
    >&2 || return 1
  for _ in $(seq 1 100); do
    answers && return 0
    if tail -n +"$((before + 1))" "$dir/log" 2>/dev/null | grep -q "Address already in use"; then
      return 2
    fi
    sleep 0.1
  done
  echo "redis_temp.sh: the server in $dir does not answer on 127.0.0.1:$port after 10 s" >&2
  log_tail
  kill_server
  return 1
}

kill_server() {
  local pid
  pid=$(cat "$dir/redis.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$dir/redis.pid"
}

# SHUTDOWN NOSAVE, then SIGKILL if the process is still there after 5 s.
stop_server() {
  local pid
  pid=$(cat "$dir/redis.pid" 2>/dev/null || true)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || { rm -f "$dir/redis.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || { rm -f "$dir/redis.pid"; return 0; }; sleep 0.1; done
  kill_server
}

locate() {
  [ -d "$dir" ] || die "$dir: no such directory"
  dir=$(cd "$dir" && pwd -P)
  [ -f "$dir/.redis_temp" ] && [ -f "$dir/port" ] || die "$dir: not a server made by redis_temp.sh start"
  port=$(cat "$dir/port")
}

case "$cmd" in
  start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd -P)
    [ ! -f "$dir/.redis_temp" ] || die "$dir already holds a server (stop it first)"
    touch "$dir/.redis_temp"
    status=2
    for _ in 1 2 3 4 5; do
      port=$(free_port)
      set +e
      start_server
      status=$?
      set -e
      [ "$status" = 2 ] || break
    done
    [ "$status" != 2 ] || { log_tail; die "no free port found for the server in $dir"; }
    [ "$status" = 0 ] || die "could not start redis-server in $dir"
    echo "$port" >"$dir/port"
    echo "redis://127.0.0.1:$port"
    ;;
  stop)
    [ -d "$dir" ] || exit 0
    locate
    stop_server
    rm -rf "$dir"
    ;;
  restart | up)
    locate
    [ "$cmd" = up ] || stop_server
    set +e
    start_server
    status=$?
    set -e
    [ "$status" != 2 ] || die "port $port has been taken by another process; cannot start $dir again"
    [ "$status" = 0 ] || die "could not start redis-server in $dir again on port $port"
    echo "redis://127.0.0.1:$port"
    ;;
  kill)
    locate
    kill_server
    ;;
  url)
    locate
    echo "redis://127.0.0.1:$port"
    ;;
  *) die "unknown command $cmd" ;;
esac
