#!/usr/bin/env bash
# Issue 16's traces benchmark: GET /get-objects and POST /add-object through nginx, Maratang on
# two nodes beside the seed's own stack (bench/peers/traces_fastapi: FastAPI + asyncpg + Redis,
# two uvicorn instances behind the same nginx configuration), in one run on this machine.
#
# Starts a throw-away PostgreSQL 15 (scripts/pg_temp.sh; shared_buffers 512MB, as the seed's
# compose file has it) and Redis (scripts/redis_temp.sh), shared by both sides: Maratang in the
# database `maratang` and Redis db 0, the peer in the database `gamedb` and Redis db 1. Two
# Maratang nodes (one network thread each; shared auth.secret, node.id per node, anonymous write
# limit off) behind one nginx, two uvicorn instances behind another, both nginx made by
# scripts/nginx_temp.sh from deploy/nginx/maratang.conf.in. Fills both with 220 traces (200
# objects, 200 messages, 20 phantoms listed), checks that a POST through nginx is then listed by
# a GET through nginx, and drives both with wrk (bench/traces_wrk.lua, the same requests, the same
# connections): per endpoint, Maratang then the peer, each after a CHECKPOINT and a warm-up.
# Then the floor: the same nginx configuration in front of an upstream that costs next to nothing
# (a second nginx answering Maratang's gzip'd listing and an add's reply from memory), which is
# the most any server behind this nginx could do on this machine.
# Prints requests/s, p50/p99 and the CPU seconds of every process involved, the ratios, and the
# largest ratios the floor leaves room for.
#
# Usage: bench/traces_side_by_side.sh [--duration 10] [--warmup 2] [--connections 64]
#                                     [--threads 1] [--maratang PATH] [--direct]
# --direct also drives one Maratang node and one uvicorn instance without nginx (what nginx
# costs; one process each, so these rates are per process, not per side).
# Needs build/release/maratang (or --maratang) and scripts/setup.sh --test (postgresql-15,
# redis-server, nginx-light, wrk, python3-fastapi, python3-uvicorn, python3-asyncpg,
# python3-redis, python3-uvloop, python3-httptools). Takes about 6 x (duration + warm-up) + 20 s.
# Loopback only; every wait is bounded; everything it started is stopped on exit, also on
# failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd -P)

duration=10 warmup=2 connections=64 threads=1 direct=0
maratang=$root/build/release/maratang
while [ $# -gt 0 ]; do
  case $1 in
    --duration) duration=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --maratang) maratang=$2; shift 2 ;;
    --direct) direct=1; shift ;;
    *) echo "usage: $0 [--duration S] [--warmup S] [--connections N] [--threads N] [--maratang PATH] [--direct]" >&2
       exit 2 ;;
  esac
done
die() { echo "traces_side_by_side.sh: $*" >&2; exit 1; }
[[ $duration =~ ^[0-9]+$ && $duration -ge 1 && $duration -le 300 ]] || die "--duration takes 1..300 s"
[[ $warmup =~ ^[0-9]+$ && $warmup -le 60 ]] || die "--warmup takes 0..60 s"
[[ $connections =~ ^[0-9]+$ && $connections -ge 1 && $connections -le 1000 ]] || die "--connections takes 1..1000"
[[ $threads =~ ^[0-9]+$ && $threads -ge 1 && $threads -le $connections ]] || die "--threads takes 1..connections"
[ -x "$maratang" ] || die "no $maratang (cmake --build --preset release, or --maratang PATH)"
py=/usr/bin/python3  # Debian's, with python3-fastapi & co. (never a pyenv or venv python)
command -v wrk >/dev/null || die "no wrk (scripts/setup.sh --test)"
$py -c 'import fastapi, uvicorn, asyncpg, redis, uvloop, httptools' 2>/dev/null ||
  die "Debian's python3-fastapi, -uvicorn, -asyncpg, -redis, -uvloop, -httptools are needed (scripts/setup.sh --test)"
pgbin=${MARATANG_PG_BIN:-/usr/lib/postgresql/15/bin}

dir=$(mktemp -d /tmp/maratang-traces-sbs.XXXXXX)
chmod 755 "$dir"  # PostgreSQL runs as another user when this runs as root
node_pids=() app_pids=()

stop_pid() {  # TERM, then KILL after 10 s
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
  local pid
  set +e
  for pid in "${app_pids[@]}" "${node_pids[@]}"; do stop_pid "$pid"; done
  scripts/nginx_temp.sh stop "$dir/nginx-maratang" >/dev/null 2>&1
  scripts/nginx_temp.sh stop "$dir/nginx-fastapi" >/dev/null 2>&1
  scripts/nginx_temp.sh stop "$dir/nginx-floor" >/dev/null 2>&1
  [ ! -f "$dir/static/nginx.pid" ] || stop_pid "$(cat "$dir/static/nginx.pid")"
  scripts/redis_temp.sh stop "$dir/redis" >/dev/null 2>&1
  scripts/pg_temp.sh stop "$dir/pg" >/dev/null 2>&1
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the shared services -------------------------------------------------------------------
pg_url=$(MARATANG_PG_SHARED_BUFFERS=${MARATANG_PG_SHARED_BUFFERS:-512MB} scripts/pg_temp.sh start "$dir/pg")
redis_url=$(scripts/redis_temp.sh start "$dir/redis")
pg_port=$(cat "$dir/pg/port")
pg_user=${pg_url#postgresql://}; pg_user=${pg_user%%@*}
timeout 30 "$pgbin/createdb" -h 127.0.0.1 -p "$pg_port" -U "$pg_user" gamedb
gamedb_url="postgresql://$pg_user@127.0.0.1:$pg_port/gamedb"
psql_cmd() { timeout 60 "$pgbin/psql" -X -q -h 127.0.0.1 -p "$pg_port" -U "$pg_user" -d maratang "$@"; }
echo "PostgreSQL 15 at $pg_url (the peer: database gamedb); Redis at $redis_url (the peer: db 1)"

# --- Maratang: two nodes behind nginx --------------------------------------------------------
secret=$($py -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("="))')
upstreams=()
for n in 1 2; do
  "$maratang" serve --port 0 --host 127.0.0.1 --data-dir "$dir/node-$n" --port-file "$dir/node-$n.port" \
    --set "storage.database_url=$pg_url" --set "redis.url=$redis_url" --set "auth.secret=$secret" \
    --set "node.id=node-$n" --set "node.route=/node/$n" --set "server.trusted_proxies=127.0.0.1" \
    --set "server.threads=1" --set "log.level=warn" --set "traces.anon_writes_per_minute=0" \
    --set "limits.max_connections=10000" >"$dir/node-$n.log" 2>&1 &
  node_pids+=($!)
  for _ in $(seq 1 200); do [ -s "$dir/node-$n.port" ] && break; sleep 0.1; done
  [ -s "$dir/node-$n.port" ] || { tail -n 20 "$dir/node-$n.log" >&2; die "Maratang node $n did not start within 20 s"; }
  upstreams+=("127.0.0.1:$(cat "$dir/node-$n.port")")
done
m_url=$(scripts/nginx_temp.sh start "$dir/nginx-maratang" "${upstreams[@]}")
echo "Maratang: nodes ${upstreams[*]} (one network thread each) behind nginx at $m_url"

# --- the seed's stack: two uvicorn instances behind nginx -------------------------------------
app_ups=()
for n in 1 2; do
  port=""
  for _ in 1 2 3 4 5; do  # a free port, then uvicorn; again if another process took it meanwhile
    port=$($py -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    (cd bench/peers/traces_fastapi &&
     DATABASE_URL=$gamedb_url REDIS_URL=$redis_url/1 exec $py -m uvicorn main:app \
       --host 127.0.0.1 --port "$port" --loop uvloop --http httptools --no-access-log \
       --log-level warning) >"$dir/app-$n.log" 2>&1 &
    pid=$!
    up=0
    for _ in $(seq 1 200); do
      kill -0 "$pid" 2>/dev/null || break
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then up=1; break; fi
      sleep 0.1
    done
    if [ $up = 1 ]; then app_pids+=("$pid"); break; fi
    stop_pid "$pid"
    grep -q "address already in use" "$dir/app-$n.log" || { tail -n 20 "$dir/app-$n.log" >&2; die "uvicorn instance $n did not start within 20 s"; }
  done
  [ ${#app_pids[@]} = "$n" ] || die "no free port for uvicorn instance $n"
  app_ups+=("127.0.0.1:$port")
done
f_url=$(scripts/nginx_temp.sh start "$dir/nginx-fastapi" "${app_ups[@]}")
echo "FastAPI: uvicorn instances ${app_ups[*]} (uvloop, httptools) behind nginx at $f_url"

# --- fill and check, through nginx --------------------------------------------------------------
for side in m f; do
  url=${side}_url; url=${!url}
  timeout 120 $py bench/traces_check.py fill "$url" 220 || die "filling $url failed"
  marker=$(timeout 30 $py bench/traces_check.py post "$url")
  if [ $side = f ]; then
    # The peer's listing is cached in Redis for 30 s, as the seed says, and a write does not
    # clear it: the check deletes the key rather than wait.
    timeout 10 redis-cli -u "$redis_url/1" DEL get-objects:gzip >/dev/null
  fi
  echo -n "$([ $side = m ] && echo Maratang || echo FastAPI) through nginx: "
  timeout 30 $py bench/traces_check.py find "$url" "$marker" || die "a trace POSTed through $url is not listed there"
done

# --- the floor: the same nginx in front of an upstream that answers from memory -------------------
# A second nginx plays two nodes (two ports): GET /get-objects answers the bytes Maratang's
# listing had through nginx (gzip'd), POST /add-object a fixed success, whatever the body.
mkdir -p "$dir/static/tmp"
$py - "$m_url/get-objects" "$dir/static/listing.gz" <<'PY' || die "could not read Maratang's listing"
import sys, urllib.request
req = urllib.request.Request(sys.argv[1], headers={"Accept-Encoding": "gzip"})
with urllib.request.urlopen(req, timeout=30) as r:
    assert r.headers.get("Content-Encoding") == "gzip", r.headers
    open(sys.argv[2], "wb").write(r.read())
PY
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
nginx=${MARATANG_NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
static_ups=()
for _ in 1 2 3 4 5; do
  p1=$(free_port) p2=$(free_port)
  [ "$p1" != "$p2" ] || continue
  cat >"$dir/static/nginx.conf" <<CONF
$([ "$(id -u)" != 0 ] || echo "user root root;")
worker_processes 1;
pid $dir/static/nginx.pid;
error_log $dir/static/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path $dir/static/tmp/body;
  proxy_temp_path $dir/static/tmp/proxy;
  fastcgi_temp_path $dir/static/tmp/fastcgi;
  uwsgi_temp_path $dir/static/tmp/uwsgi;
  scgi_temp_path $dir/static/tmp/scgi;
  keepalive_requests 1000000;
  open_file_cache max=16 inactive=1h;  # the listing's file opened once, read from the page cache
  open_file_cache_valid 1h;
  server {
    listen 127.0.0.1:$p1;
    listen 127.0.0.1:$p2;
    location = /get-objects {
      default_type application/json;
      add_header Content-Encoding gzip;
      alias $dir/static/listing.gz;
    }
    location = /add-object {
      default_type application/json;
      return 200 '{"status":"success","ids":{"obj":1,"message":2,"phantom":3}}';
    }
  }
}
CONF
  if "$nginx" -c "$dir/static/nginx.conf" -p "$dir/static" -e "$dir/static/error.log" 2>>"$dir/static/error.log"; then
    for _ in $(seq 1 100); do port_open "$p2" && break; sleep 0.1; done
    port_open "$p1" && port_open "$p2" && static_ups=("127.0.0.1:$p1" "127.0.0.1:$p2") && break
  fi
  grep -q "Address already in use" "$dir/static/error.log" 2>/dev/null || { tail -n 20 "$dir/static/error.log" >&2; die "the floor's static nginx did not start"; }
done
[ ${#static_ups[@]} = 2 ] || die "no free ports for the floor's static nginx"
z_url=$(scripts/nginx_temp.sh start "$dir/nginx-floor" "${static_ups[@]}")
echo "Floor: nginx at $z_url in front of a static nginx (${static_ups[*]}) answering from memory"

# --- CPU accounting ------------------------------------------------------------------------------
hz=$(getconf CLK_TCK)
# utime + stime (+ reaped children's) of the given processes, in seconds.
cpu_of() {
  local p
  for p in "$@"; do cat "/proc/$p/stat" 2>/dev/null || true; done |
    awk -v hz="$hz" '{ sub(/^.*\) /, ""); s += $12 + $13 + $14 + $15 } END { printf "%.2f", s / hz }'
}
children() { ps -o pid= --ppid "$1" 2>/dev/null | tr -d ' ' || true; }
tree() { echo "$1"; children "$1"; }  # a process and its children (nginx master + workers, PG)
pg_pm=$(head -n 1 "$dir/pg/data/postmaster.pid")
redis_pid=$(cat "$dir/redis/redis.pid")
m_ngx=$(cat "$dir/nginx-maratang/nginx.pid")
f_ngx=$(cat "$dir/nginx-fastapi/nginx.pid")
z_ngx=$(cat "$dir/nginx-floor/nginx.pid")
z_app=$(cat "$dir/static/nginx.pid")
# One line of CPU seconds: app nginx PostgreSQL Redis, for side $1; then kernel threads' and every
# process's (with reaped children's, so that processes that came and went are counted through
# their parents). Interrupts and softirqs (where loopback's network stack does much of its work)
# are charged to the process they interrupted on this kernel (tick accounting, no
# CONFIG_IRQ_TIME_ACCOUNTING), so they are in the processes' figures already.
cpu_line() {
  local app ngx
  case $1 in
    m) app=$(cpu_of "${node_pids[@]}") ngx=$m_ngx ;;
    f) app=$(cpu_of "${app_pids[@]}") ngx=$f_ngx ;;
    # shellcheck disable=SC2046
    z) app=$(cpu_of $(tree "$z_app")) ngx=$z_ngx ;;  # the floor: "app" is the static nginx
  esac
  # shellcheck disable=SC2046
  echo "$app $(cpu_of $(tree "$ngx")) $(cpu_of $(tree "$pg_pm")) $(cpu_of "$redis_pid")" \
    "$(cat /proc/[0-9]*/stat 2>/dev/null | awk -v hz="$hz" '{ sub(/^.*\) /, "")
         if (int($7 / 2097152) % 2) k += $12 + $13; else u += $12 + $13 + $14 + $15 }  # PF_KTHREAD
       END { printf "%.2f %.2f", k / hz, u / hz }')"
}

# --- the load --------------------------------------------------------------------------------
# run_wrk SIDE MODE SECONDS [URL]: prints "ok non2xx errors seconds p50 p99 client_cpu app ngx pg
# redis kernel other" (CPU seconds during the run: side m's or f's processes; kernel threads;
# every other process, other builds and tests included)
run_wrk() {
  local side=$1 mode=$2 secs=$3 url=${4:-} out before after client
  [ -n "$url" ] || { url=${side}_url; url=${!url}; }
  before=$(cpu_line "$side")
  out=$(
    TIMEFORMAT='CLIENT %U %S'
    { time TRACES_MODE=$mode timeout $((secs + 30)) wrk -t "$threads" -c "$connections" \
        -d "${secs}s" --timeout 10s -s bench/traces_wrk.lua "$url" >"$dir/wrk.out" 2>&1; } 2>&1
    cat "$dir/wrk.out")
  after=$(cpu_line "$side")
  grep -q '^RESULT' <<<"$out" || { echo "$out" >&2; die "wrk failed against $url"; }
  client=$(awk '/^CLIENT/ { printf "%.2f", $2 + $3 }' <<<"$out")
  awk -v b="$before" -v a="$after" -v c="$client" '/^RESULT/ {
      for (i = 2; i <= NF; i++) { split($i, kv, "="); r[kv[1]] = kv[2] }
      split(b, x, " "); split(a, y, " ")
      ours = c + y[1] - x[1] + y[2] - x[2] + y[3] - x[3] + y[4] - x[4]
      irq = y[5] - x[5]; other = y[6] - x[6] - ours
      printf "%d %d %d %.3f %.3f %.3f %s %.2f %.2f %.2f %.2f %.2f %.2f\n", r["requests"] - r["non2xx"],
        r["non2xx"], r["errors"], r["seconds"], r["p50_ms"], r["p99_ms"], c,
        y[1] - x[1], y[2] - x[2], y[3] - x[3], y[4] - x[4], irq, (other > 0 ? other : 0) }' <<<"$out"
}

declare -A res
for mode in get post; do
  for side in m f z; do
    psql_cmd -c CHECKPOINT
    [ "$warmup" = 0 ] || run_wrk "$side" "$mode" "$warmup" >/dev/null
    res[$side.$mode]=$(run_wrk "$side" "$mode" "$duration")
    echo "  $mode $side: ${res[$side.$mode]}" >&2
  done
done
if [ $direct = 1 ]; then
  for mode in get post; do
    for side in m f; do
      url=http://$([ $side = m ] && echo "${upstreams[0]}" || echo "${app_ups[0]}")
      psql_cmd -c CHECKPOINT
      [ "$warmup" = 0 ] || run_wrk "$side" "$mode" "$warmup" "$url" >/dev/null
      res[$side.$mode.direct]=$(run_wrk "$side" "$mode" "$duration" "$url")
      echo "  $mode $side direct: ${res[$side.$mode.direct]}" >&2
    done
  done
fi

# --- the table -------------------------------------------------------------------------------------
echo
echo "wrk -t $threads -c $connections, ${duration} s per phase (after ${warmup} s of warm-up), through nginx; CPU seconds in the phase"
printf '%-22s %-9s %9s %8s %8s %6s %6s %7s %6s %6s %6s %6s %6s %6s %9s\n' \
  request server "req/s" "p50 ms" "p99 ms" non2xx errors "app" nginx PG Redis client kernel other "req/srvCPU"
keys=(get post)
[ $direct = 0 ] || keys+=(get.direct post.direct)
for key in "${keys[@]}"; do
  label=$([ "${key%%.*}" = get ] && echo "GET /get-objects (gz)" || echo "POST /add-object")
  [ "$key" = "${key%.direct}" ] || label="${label%% *} direct, 1 process"
  sides=(m f)
  [ "$key" != "${key%.direct}" ] || sides+=(z)
  for side in "${sides[@]}"; do
    read -r ok bad err secs p50 p99 client app ngx pg redis irq other <<<"${res[$side.$key]}"
    case $side in m) name=Maratang ;; f) name=FastAPI ;; z) name=floor ;; esac
    awk -v l="$label" -v s="$name" -v ok="$ok" \
        -v bad="$bad" -v err="$err" -v secs="$secs" -v p50="$p50" -v p99="$p99" -v c="$client" \
        -v app="$app" -v ngx="$ngx" -v pg="$pg" -v rd="$redis" -v irq="$irq" -v o="$other" 'BEGIN {
      srv = app + ngx + pg + rd
      printf "%-22s %-9s %9.0f %8.2f %8.2f %6d %6d %7.2f %6.2f %6.2f %6.2f %6.2f %6.2f %6.2f %9.0f\n",
        l, s, ok / secs, p50, p99, bad, err, app, ngx, pg, rd, c, irq, o, (srv > 0 ? ok / srv : 0) }'
  done
done
echo "(app: the two Maratang nodes / the two uvicorn instances; client: wrk; kernel: kernel threads (interrupts and"
echo " softirqs, loopback's network stack among them, are in the figures of the processes they interrupted); other: every"
echo " other process, so near 0 when nothing else ran; req/srvCPU: requests per CPU-second of app + nginx + PG + Redis;"
echo " floor: the same nginx in front of a static nginx answering from memory, whose CPU is in app)"
[ $direct = 0 ] || echo "(1 process, no nginx: wrk straight to node 1 / uvicorn instance 1; the other one idles)"
echo
for mode in get post; do
  read -r mok _ _ msecs _ _ _ mapp mngx mpg mrd <<<"${res[m.$mode]}"
  read -r fok _ _ fsecs _ _ _ fapp fngx fpg frd <<<"${res[f.$mode]}"
  awk -v mode="$mode" -v mok="$mok" -v ms="$msecs" -v fok="$fok" -v fs="$fsecs" \
      -v mc="$mapp $mngx $mpg $mrd" -v fc="$fapp $fngx $fpg $frd" 'BEGIN {
    split(mc, a, " "); split(fc, b, " ")
    mr = mok / ms; fr = fok / fs
    msrv = a[1] + a[2] + a[3] + a[4]; fsrv = b[1] + b[2] + b[3] + b[4]
    printf "Maratang / FastAPI, %s: %.1fx requests/s; %.1fx requests per server CPU-second; %.1fx per app CPU-second\n",
      (mode == "get" ? "GET /get-objects" : "POST /add-object"), (fr > 0 ? mr / fr : 0),
      ((fsrv > 0 && msrv > 0) ? (mok / msrv) / (fok / fsrv) : 0),
      ((a[1] > 0 && b[1] > 0) ? (mok / a[1]) / (fok / b[1]) : 0) }'
done
# The floor: an upstream costing nothing still leaves nginx's CPU per request (and wrk's, and the
# static upstream's) on these cores; the peer's whole server CPU per request over nginx's alone
# is the most any server behind this nginx can beat the peer by, per server CPU-second.
for mode in get post; do
  read -r zok _ _ zsecs _ _ zc zapp zngx _ _ <<<"${res[z.$mode]}"
  read -r fok _ _ fsecs _ _ _ fapp fngx fpg frd <<<"${res[f.$mode]}"
  awk -v mode="$mode" -v zok="$zok" -v zs="$zsecs" -v zc="$zc" -v zapp="$zapp" -v zngx="$zngx" \
      -v fok="$fok" -v fs="$fsecs" -v fc="$fapp $fngx $fpg $frd" 'BEGIN {
    split(fc, b, " "); fsrv = b[1] + b[2] + b[3] + b[4]
    zr = zok / zs; fr = fok / fs
    printf "Floor, %s: %.0f requests/s (%.1fx the peer); nginx %.1f us, wrk %.1f us, the static upstream %.1f us per request; at most %.1fx the peer per server CPU-second behind this nginx\n",
      (mode == "get" ? "GET /get-objects" : "POST /add-object"), zr, (fr > 0 ? zr / fr : 0),
      zngx / zok * 1e6, zc / zok * 1e6, zapp / zok * 1e6,
      ((zngx > 0 && fok > 0) ? (fsrv / fok) / (zngx / zok) : 0) }'
done
