#!/usr/bin/env bash
# Several Maratang nodes on one machine, as one server (issue 16): PostgreSQL, Redis, N nodes
# (default 2) and nginx in front, all from Debian packages (scripts/setup.sh --test installs
# them), run as the calling user under one state directory. Prints the URL players use.
#   scripts/cluster.sh [--nodes N] [--dir DIR]   start (DIR: ./cluster, or $MARATANG_CLUSTER_DIR)
#   scripts/cluster.sh --stop [--dir DIR]         stop everything it started and remove DIR
# The nodes share a signing key made at start (auth.secret), the database and Redis; each logs to
# DIR/node-N.log. Builds build/release/maratang first if it is missing. Every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd -P)

nodes=2
dir=${MARATANG_CLUSTER_DIR:-$root/cluster}
stop=0
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) nodes=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --stop) stop=1; shift ;;
    *) echo "cluster.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
die() { echo "cluster.sh: $*" >&2; exit 1; }
[[ "$nodes" =~ ^[1-9]$ ]] || die "--nodes takes 1 to 9"

stop_all() {
  [ -d "$dir" ] || return 0
  for pidfile in "$dir"/node-*.pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
  done
  scripts/nginx_temp.sh stop "$dir/nginx" || true
  scripts/redis_temp.sh stop "$dir/redis" || true
  scripts/pg_temp.sh stop "$dir/pg" || true
  rm -rf "$dir"
}

if [ "$stop" = 1 ]; then
  stop_all
  echo "cluster.sh: stopped" >&2
  exit 0
fi

[ ! -e "$dir" ] || die "$dir exists: a cluster is running there (scripts/cluster.sh --stop)"
binary=$root/build/release/maratang
if [ ! -x "$binary" ]; then
  cmake --preset release >/dev/null
  cmake --build --preset release --target maratang
fi
mkdir -p "$dir"
chmod 755 "$dir"  # PostgreSQL runs as another user when this runs as root
trap 'echo "cluster.sh: start failed; stopping what started" >&2; stop_all' ERR

pg_url=$(scripts/pg_temp.sh start "$dir/pg")
redis_url=$(scripts/redis_temp.sh start "$dir/redis")
secret=$(python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("="))')
upstreams=()
for n in $(seq 1 "$nodes"); do
  "$binary" serve --port 0 --host 127.0.0.1 --data-dir "$dir/node-$n" --port-file "$dir/node-$n.port" \
    --set "storage.database_url=$pg_url" --set "redis.url=$redis_url" --set "auth.secret=$secret" \
    --set "server.trusted_proxies=127.0.0.1" --set "node.id=node-$n" --set "node.route=/node/$n" \
    >"$dir/node-$n.log" 2>&1 &
  echo $! >"$dir/node-$n.pid"
  for _ in $(seq 1 100); do [ -s "$dir/node-$n.port" ] && break; sleep 0.1; done
  [ -s "$dir/node-$n.port" ] || { tail -n 20 "$dir/node-$n.log" >&2; die "node $n did not start"; }
  upstreams+=("127.0.0.1:$(cat "$dir/node-$n.port")")
done
url=$(scripts/nginx_temp.sh start "$dir/nginx" "${upstreams[@]}")
trap - ERR
echo "cluster.sh: $nodes nodes (${upstreams[*]}) on $pg_url and $redis_url; stop with scripts/cluster.sh --stop" >&2
echo "$url"
