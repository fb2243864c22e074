#!/usr/bin/env bash
# A throw-away coturn TURN/STUN server for tests and local clusters, in a directory of its own, on
# a free loopback port. Usage: scripts/coturn_temp.sh start|stop|url DIR
#   start DIR  creates DIR if absent, writes turnserver.conf there, starts coturn and prints one
#              line on stdout: the settings Maratang needs, as
#              TURN_URL STUN_URL SECRET   (turn:127.0.0.1:P?transport=udp stun:127.0.0.1:P SECRET)
#   stop DIR   stops coturn (SIGTERM, then SIGKILL after 5 s) and removes DIR; quiet if DIR is gone
#   url DIR    prints the line again
# Everything but that line goes to stderr; a failure exits non-zero with the reason and the tail
# of the log. Every wait is bounded. turnserver comes from Debian's coturn package (scripts/setup.sh
# --test), or $MARATANG_TURNSERVER. It runs as the calling user, on 127.0.0.1 only, with coturn's
# TURN REST API scheme (use-auth-secret): a credential is base64(HMAC-SHA1(SECRET, username)) for a
# username "<unix expiry>:<anything>", which Maratang makes per member (media.turn_secret). Relayed
# peers on loopback are allowed, since tests and a one-machine cluster have nothing else; a server
# facing the Internet keeps coturn's default (docs/DEPLOY.md, "Voice and video").
set -euo pipefail

die() { echo "coturn_temp.sh: $*" >&2; exit 1; }

[ $# = 2 ] || die "usage: coturn_temp.sh start|stop|url DIR"
cmd=$1
dir=$2
server=${MARATANG_TURNSERVER:-$(command -v turnserver || true)}

# free_port (scripts/lib.sh)
. "$(cd "$(dirname "$0")" && pwd -P)/lib.sh"

log_tail() {
  if [ -f "$dir/log" ]; then
    echo "--- last lines of $dir/log:" >&2
    tail -n 20 "$dir/log" >&2
  fi
}

# Listening on UDP and TCP $port? (coturn listens on both; TCP is what bash can probe.)
answers() { port_open "$port"; }

start_server() {
  cat >"$dir/turnserver.conf" <<EOF
listening-ip=127.0.0.1
relay-ip=127.0.0.1
listening-port=$port
min-port=$relay_lo
max-port=$relay_hi
use-auth-secret
static-auth-secret=$secret
realm=maratang
fingerprint
no-tls
no-dtls
no-cli
no-multicast-peers
allow-loopback-peers
no-software-attribute
simple-log
log-file=$dir/log
userdb=$dir/turndb
pidfile=$dir/turnserver.pid
EOF
  chmod 0600 "$dir/turnserver.conf"
  : >"$dir/log"
  "$server" -c "$dir/turnserver.conf" --no-stdout-log >"$dir/stdout" 2>&1 &
  echo $! >"$dir/coturn.pid"
  for _ in $(seq 1 100); do
    answers && return 0
    if ! kill -0 "$(cat "$dir/coturn.pid")" 2>/dev/null; then
      grep -qi "address already in use\|cannot bind" "$dir/log" "$dir/stdout" 2>/dev/null && return 2
      echo "coturn_temp.sh: turnserver in $dir exited at start" >&2
      log_tail
      return 1
    fi
    sleep 0.1
  done
  echo "coturn_temp.sh: turnserver in $dir does not listen on 127.0.0.1:$port after 10 s" >&2
  log_tail
  stop_server
  return 1
}

stop_server() {
  local pid
  pid=$(cat "$dir/coturn.pid" 2>/dev/null || true)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || { rm -f "$dir/coturn.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || { rm -f "$dir/coturn.pid"; return 0; }; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$dir/coturn.pid"
}

line() { echo "turn:127.0.0.1:$port?transport=udp stun:127.0.0.1:$port $secret"; }

locate() {
  [ -d "$dir" ] || die "$dir: no such directory"
  dir=$(cd "$dir" && pwd -P)
  [ -f "$dir/.coturn_temp" ] && [ -f "$dir/settings" ] || die "$dir: not a server made by coturn_temp.sh start"
  # shellcheck disable=SC1091
  . "$dir/settings"
}

case "$cmd" in
  start)
    [ -n "$server" ] && [ -x "$server" ] || die "no turnserver (install coturn: scripts/setup.sh --test)"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd -P)
    [ ! -f "$dir/.coturn_temp" ] || die "$dir already holds a server (stop it first)"
    touch "$dir/.coturn_temp"
    secret=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
    status=2
    for _ in 1 2 3 4 5; do
      port=$(free_port)
      relay_lo=$((40000 + (RANDOM % 100) * 200))
      relay_hi=$((relay_lo + 199))
      set +e
      start_server
      status=$?
      set -e
      [ "$status" = 2 ] || break
      stop_server
    done
    [ "$status" != 2 ] || { log_tail; die "no free port found for turnserver in $dir"; }
    [ "$status" = 0 ] || die "could not start turnserver in $dir"
    (umask 077; printf 'port=%s\nsecret=%s\n' "$port" "$secret" >"$dir/settings")
    line
    ;;
  stop)
    [ -d "$dir" ] || exit 0
    locate
    stop_server
    rm -rf "$dir"
    ;;
  url)
    locate
    line
    ;;
  *) die "unknown command $cmd" ;;
esac
