#!/usr/bin/env bash
# A throw-away Janus WebRTC server (videoroom plugin, HTTP transport) for tests and local clusters,
# in a directory of its own, on free loopback ports.
# Usage: scripts/janus_temp.sh start|stop|restart|url DIR
#   start DIR  creates DIR if absent, writes a configuration there, starts Janus and prints one
#              line on stdout: the settings Maratang needs, as
#              JANUS_URL ADMIN_URL ADMIN_SECRET ADMIN_KEY
#              (http://127.0.0.1:P/janus http://127.0.0.1:A/admin SECRET KEY)
#   stop DIR   stops Janus (SIGTERM, then SIGKILL after 5 s) and removes DIR; quiet if DIR is gone
#   restart DIR  stops Janus and starts it again with the same ports and secrets (it forgets
#              every token and room it was given, as a real restart does); prints the line
#   url DIR    prints the line again
# Everything but that line goes to stderr; a failure exits non-zero with the reason and the tail
# of the log. Every wait is bounded. Janus comes from Debian's janus package (scripts/setup.sh
# --test), or $MARATANG_JANUS. It runs as the calling user with:
#   - token_auth: the Janus API answers only requests carrying a token that the admin API added
#     (Maratang adds one per player and game, and removes it when the game ends);
#   - an admin secret for its admin API, and a videoroom admin_key: only Maratang creates rooms;
#   - only the videoroom plugin and the HTTP transport (API and admin API on 127.0.0.1).
# The secret and the key are random, made at start, kept in DIR (mode 0600).
set -euo pipefail

die() { echo "janus_temp.sh: $*" >&2; exit 1; }

[ $# = 2 ] || die "usage: janus_temp.sh start|stop|restart|url DIR"
cmd=$1
dir=$2
janus=${MARATANG_JANUS:-$(command -v janus || true)}

# free_port (scripts/lib.sh)
. "$(cd "$(dirname "$0")" && pwd -P)/lib.sh"

log_tail() {
  if [ -f "$dir/log" ]; then
    echo "--- last lines of $dir/log:" >&2
    tail -n 20 "$dir/log" >&2
  fi
}

# Answers GET /janus/info on $port?
answers() {
  { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 1
  printf 'GET /janus/info HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  local reply=""
  reply=$(timeout 2 cat <&3 || true)
  exec 3>&- 3<&-
  [[ "$reply" == *'"janus"'*'"server_info"'* ]]
}

# The folder of Janus's plugins and transports (Debian puts them under the multiarch lib dir).
lib_dir() {
  local d
  for d in /usr/lib/*/janus /usr/lib/janus /usr/local/lib/janus; do
    [ -f "$d/plugins/libjanus_videoroom.so" ] && { echo "$d"; return 0; }
  done
  return 1
}

random_hex() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }

write_config() {
  local lib=$1 conf="$dir/conf"
  mkdir -p "$conf"
  # Only the videoroom plugin and the HTTP transport: the others are not loaded.
  local skip_plugins skip_transports
  skip_plugins=$(cd "$lib/plugins" && ls libjanus_*.so | grep -v '^libjanus_videoroom.so$' | paste -sd, -)
  skip_transports=$(cd "$lib/transports" && ls libjanus_*.so | grep -v '^libjanus_http.so$' | paste -sd, -)
  cat >"$conf/janus.jcfg" <<EOF
general: {
  configs_folder = "$conf"
  plugins_folder = "$lib/plugins"
  transports_folder = "$lib/transports"
  events_folder = "$lib/events"
  loggers_folder = "$lib/loggers"
  log_to_file = "$dir/log"
  debug_level = 4
  server_name = "maratang-janus"
  admin_secret = "$admin_secret"
  token_auth = true
  session_timeout = 60
}
certificates: {}
media: {
  rtp_port_range = "$rtp_lo-$rtp_hi"
}
nat: {
  nice_debug = false
  ignore_mdns = true
}
plugins: {
  disable = "$skip_plugins"
}
transports: {
  disable = "$skip_transports"
}
events: {
  broadcast = false
}
loggers: {
  disable = "libjanus_jsonlog.so"
}
EOF
  cat >"$conf/janus.transport.http.jcfg" <<EOF
general: {
  json = "compact"
  base_path = "/janus"
  http = true
  port = $port
  ip = "127.0.0.1"
  https = false
}
admin: {
  admin_base_path = "/admin"
  admin_http = true
  admin_port = $admin_port
  admin_ip = "127.0.0.1"
  admin_https = false
}
cors: {
}
EOF
  cat >"$conf/janus.plugin.videoroom.jcfg" <<EOF
general: {
  admin_key = "$admin_key"
  lock_rtp_forward = true
}
EOF
  chmod 0600 "$conf"/*.jcfg
}

# Starts Janus and waits (at most 15 s) until it answers. Returns 2, quietly, if a port is
# taken; 1 on any other failure.
start_server() {
  : >"$dir/log"
  "$janus" -C "$dir/conf/janus.jcfg" -F "$dir/conf" -N >"$dir/stdout" 2>&1 &
  echo $! >"$dir/janus.pid"
  for _ in $(seq 1 150); do
    answers && return 0
    if ! kill -0 "$(cat "$dir/janus.pid")" 2>/dev/null; then
      grep -qi "address already in use\|couldn't start webserver" "$dir/log" "$dir/stdout" 2>/dev/null && return 2
      echo "janus_temp.sh: Janus in $dir exited at start" >&2
      log_tail
      tail -n 5 "$dir/stdout" >&2 || true
      return 1
    fi
    sleep 0.1
  done
  echo "janus_temp.sh: Janus in $dir does not answer on 127.0.0.1:$port after 15 s" >&2
  log_tail
  stop_server
  return 1
}

stop_server() {
  local pid
  pid=$(cat "$dir/janus.pid" 2>/dev/null || true)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || { rm -f "$dir/janus.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || { rm -f "$dir/janus.pid"; return 0; }; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$dir/janus.pid"
}

line() {
  echo "http://127.0.0.1:$port/janus http://127.0.0.1:$admin_port/admin $admin_secret $admin_key"
}

locate() {
  [ -d "$dir" ] || die "$dir: no such directory"
  dir=$(cd "$dir" && pwd -P)
  [ -f "$dir/.janus_temp" ] && [ -f "$dir/settings" ] || die "$dir: not a server made by janus_temp.sh start"
  # shellcheck disable=SC1091
  . "$dir/settings"
}

case "$cmd" in
  start)
    [ -n "$janus" ] && [ -x "$janus" ] || die "no janus (install janus: scripts/setup.sh --test)"
    lib=$(lib_dir) || die "no Janus videoroom plugin found (install janus: scripts/setup.sh --test)"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd -P)
    [ ! -f "$dir/.janus_temp" ] || die "$dir already holds a server (stop it first)"
    touch "$dir/.janus_temp"
    admin_secret=$(random_hex)
    admin_key=$(random_hex)
    status=2
    for _ in 1 2 3 4 5; do
      port=$(free_port)
      admin_port=$(free_port)
      # An RTP range of 200 ports of its own, so that several servers can run side by side.
      rtp_lo=$((20000 + (RANDOM % 200) * 200))
      rtp_hi=$((rtp_lo + 199))
      write_config "$lib"
      set +e
      start_server
      status=$?
      set -e
      [ "$status" = 2 ] || break
      stop_server
    done
    [ "$status" != 2 ] || { log_tail; die "no free port found for Janus in $dir"; }
    [ "$status" = 0 ] || die "could not start Janus in $dir"
    (umask 077; printf 'port=%s\nadmin_port=%s\nadmin_secret=%s\nadmin_key=%s\n' \
      "$port" "$admin_port" "$admin_secret" "$admin_key" >"$dir/settings")
    line
    ;;
  stop)
    [ -d "$dir" ] || exit 0
    locate
    stop_server
    rm -rf "$dir"
    ;;
  restart)
    locate
    stop_server
    set +e
    start_server
    status=$?
    set -e
    [ "$status" = 0 ] || die "could not start Janus in $dir again"
    line
    ;;
  url)
    locate
    line
    ;;
  *) die "unknown command $cmd" ;;
esac
