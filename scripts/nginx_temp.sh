#!/usr/bin/env bash
# A throw-away nginx in front of Maratang nodes, in a directory of its own, on a free loopback
# port, from deploy/nginx/maratang.conf.in. Usage:
#   scripts/nginx_temp.sh start DIR HOST:PORT [HOST:PORT...]
#                creates DIR, starts nginx there with one upstream server per node (node N also at
#                /node/N/, counting from 1) and prints one line on stdout: http://127.0.0.1:PORT
#   scripts/nginx_temp.sh stop DIR
#                stops it (QUIT, then KILL after 5 s) and removes DIR; quiet if DIR is gone
# Everything but the URL goes to stderr; a failure exits non-zero with the reason and the tail of
# the error log. Every wait is bounded. nginx comes from Debian's nginx-light package
# (scripts/setup.sh --test), or $MARATANG_NGINX. It runs as the calling user (as root, its worker
# runs as root too, so it can use DIR).
set -euo pipefail

die() { echo "nginx_temp.sh: $*" >&2; exit 1; }
[ $# -ge 2 ] || die "usage: nginx_temp.sh start DIR HOST:PORT... | stop DIR"
cmd=$1
dir=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd -P)
template="$here/../deploy/nginx/maratang.conf.in"
nginx=${MARATANG_NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
[ -x "$nginx" ] || die "no nginx (install nginx-light: scripts/setup.sh --test)"
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

error_tail() {
  [ -f "$dir/error.log" ] || return 0
  echo "--- last lines of $dir/error.log:" >&2
  tail -n 20 "$dir/error.log" >&2
}

stop_nginx() {
  local pid
  pid=$(cat "$dir/nginx.pid" 2>/dev/null || true)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -QUIT "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

case "$cmd" in
  start)
    [ $# -ge 1 ] || die "start needs at least one node (HOST:PORT)"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd -P)
    [ ! -f "$dir/.nginx_temp" ] || die "$dir already holds an nginx (stop it first)"
    touch "$dir/.nginx_temp"
    mkdir -p "$dir/tmp"
    upstreams="" routes="" n=0
    for node in "$@"; do
      n=$((n + 1))
      upstreams+="    server $node max_fails=0;"$'\n'
      routes+="    location /node/$n/ {"$'\n'"      proxy_pass http://$node/;"$'\n'"    }"$'\n'
    done
    main=""
    [ "$(id -u)" != 0 ] || main="user root root;"
    for _ in 1 2 3 4 5; do
      port=$(free_port)
      # Placeholders filled by awk (node lists span lines; sed's replacement would need escaping).
      awk -v dir="$dir" -v listen="127.0.0.1:$port" -v main="$main" -v up="$upstreams" -v routes="$routes" '
        /@UPSTREAMS@/ { printf "%s", up; next }
        /@NODE_ROUTES@/ { printf "%s", routes; next }
        { gsub(/@DIR@/, dir); gsub(/@LISTEN@/, listen); gsub(/@MAIN@/, main); print }
      ' "$template" >"$dir/nginx.conf"
      if "$nginx" -c "$dir/nginx.conf" -p "$dir" -e "$dir/error.log" 2>>"$dir/error.log"; then
        for _ in $(seq 1 100); do
          if port_open "$port"; then
            echo "$port" >"$dir/port"
            echo "http://127.0.0.1:$port"
            exit 0
          fi
          sleep 0.1
        done
        stop_nginx
        error_tail
        die "nginx in $dir does not listen on 127.0.0.1:$port after 10 s"
      fi
      grep -q "Address already in use" "$dir/error.log" || { error_tail; die "could not start nginx in $dir"; }
    done
    error_tail
    die "no free port found for nginx in $dir"
    ;;
  stop)
    [ -d "$dir" ] || exit 0
    [ -f "$dir/.nginx_temp" ] || die "$dir: not an nginx made by nginx_temp.sh start"
    stop_nginx
    rm -rf "$dir"
    ;;
  *) die "unknown command $cmd" ;;
esac
