#!/usr/bin/env bash
# A throw-away PostgreSQL 15 server for tests, in a directory of its own, on a free loopback port.
# Usage: scripts/pg_temp.sh start|stop|restart|kill|up|url DIR
#   start DIR    creates a cluster in DIR (absent or empty), starts it and creates the database
#                `maratang`; prints one line on stdout: postgresql://USER@127.0.0.1:PORT/maratang
#   stop DIR     stops the server (fast shutdown) and removes DIR; quiet if DIR is already gone
#   restart DIR  stops the server (fast) and starts it again on the same port, data kept
#   kill DIR     immediate shutdown (no checkpoint: the next start runs crash recovery), data kept
#   up DIR       starts the server again after kill, on the same port
#   url DIR      prints the URL again
# Everything but the URL goes to stderr; a failure exits non-zero with the reason and the tail of
# the server's log (a failed start leaves DIR for inspection: `stop DIR` removes it). Every wait
# is bounded. The server binaries come from Debian's postgresql-15
# (scripts/setup.sh --test), or from $MARATANG_PG_BIN.
#
# initdb refuses to run as root, so as root (CI) the cluster belongs to, and runs as, the user
# `postgres` (made by Debian's package; $MARATANG_PG_USER overrides); DIR is chown'ed to it, and
# every directory above DIR must be searchable by it (a directory made by mkdtemp directly under
# /tmp is). As any other user the cluster runs as that user. The server listens on 127.0.0.1 only
# (its Unix socket is in DIR) and trusts every local and loopback connection. fsync stays on and
# synchronous_commit at its default, so that a commit survives `kill`. shared_buffers is small
# (32MB: many test servers run at once) unless $MARATANG_PG_SHARED_BUFFERS says otherwise; a
# benchmark sets it as a production server would be (bench/storage_side_by_side.sh).
set -euo pipefail

die() { echo "pg_temp.sh: $*" >&2; exit 1; }

[ $# = 2 ] || die "usage: pg_temp.sh start|stop|restart|kill|up|url DIR"
cmd=$1
dir=$2

# The caller's PG* variables (PGHOST, PGPORT, PGOPTIONS, PGSERVICE...) must not steer the tools.
while read -r v; do unset "$v"; done < <(compgen -e | grep '^PG' || true)

bin=${MARATANG_PG_BIN:-/usr/lib/postgresql/15/bin}
[[ ${MARATANG_PG_SHARED_BUFFERS:-32MB} =~ ^[0-9]+(kB|MB|GB)$ ]] ||
  die "MARATANG_PG_SHARED_BUFFERS must be a size such as 512MB"
[ -x "$bin/pg_ctl" ] || die "no PostgreSQL server in $bin (install postgresql-15: scripts/setup.sh --test)"

if [ "$(id -u)" = 0 ]; then
  user=${MARATANG_PG_USER:-postgres}
  id -u "$user" >/dev/null 2>&1 || die "user '$user' does not exist (it comes with postgresql-15)"
  # setpriv: no PAM, no login shell; HOME in DIR so that no tool looks into /root.
  as_user() { (cd "$dir" && HOME=$dir setpriv --reuid="$user" --regid="$user" --init-groups -- "$@"); }
else
  user=$(id -un)
  as_user() { (cd "$dir" && "$@"); }
fi

export PGCONNECT_TIMEOUT=10
data=""  # set by locate
port=""

# Resolves DIR to an absolute path and reads the port of an existing cluster.
locate() {
  [ -d "$dir" ] || die "$dir: no such directory"
  dir=$(cd "$dir" && pwd -P)
  data=$dir/data
  { [ -f "$dir/.pg_temp" ] && [ -f "$data/PG_VERSION" ]; } || die "$dir: not a cluster made by pg_temp.sh start"
  port=$(cat "$dir/port")
}

log_tail() {
  if [ -f "$dir/log" ]; then
    echo "--- last lines of $dir/log:" >&2
    tail -n 20 "$dir/log" >&2
  fi
}

running() { as_user "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; }

# Starts the server on $port and waits until it accepts connections (at most about a minute).
# Returns 2, quietly, if the port is taken; 1 on any other failure, with the reason on stderr.
start_server() {
  local before=0 out
  [ -f "$dir/log" ] && before=$(wc -l <"$dir/log")
  if ! out=$(as_user "$bin/pg_ctl" -D "$data" -l "$dir/log" -s -w -t 45 start 2>&1); then
    if tail -n +"$((before + 1))" "$dir/log" 2>/dev/null | grep -q "could not bind IPv4 address.*already in use"; then
      return 2
    fi
    echo "$out" >&2
    echo "pg_temp.sh: the server in $dir did not start (or not within 45 s)" >&2
    log_tail
    as_user "$bin/pg_ctl" -D "$data" -s -m immediate -w -t 10 stop >/dev/null 2>&1 || true
    return 1
  fi
  # pg_ctl -w has seen the server ready; check the TCP listener the URL names too.
  if ! timeout 20 "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U "$user" -d postgres -t 10; then
    echo "pg_temp.sh: the server in $dir started but does not accept connections on 127.0.0.1:$port" >&2
    log_tail
    return 1
  fi
}

stop_server() {  # $1: fast or immediate
  running || return 0
  as_user "$bin/pg_ctl" -D "$data" -s -m "$1" -w -t 30 stop >&2 && return 0
  echo "pg_temp.sh: $1 shutdown of $dir took over 30 s; stopping it immediately" >&2
  as_user "$bin/pg_ctl" -D "$data" -s -m immediate -w -t 10 stop >&2 && return 0
  local pid
  pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)
  if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
  return 1
}

# free_port (scripts/lib.sh)
. "$(cd "$(dirname "$0")" && pwd -P)/lib.sh"

write_conf() {
  as_user tee "$data/maratang.conf" >/dev/null <<EOF
# Written by scripts/pg_temp.sh.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = on
shared_buffers = ${MARATANG_PG_SHARED_BUFFERS:-32MB}
max_connections = 50
logging_collector = off
EOF
}

case "$cmd" in
  start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd -P)
    [ -z "$(ls -A "$dir")" ] || die "$dir is not empty"
    data=$dir/data
    sock="$dir/.s.PGSQL.65535"
    [ "${#sock}" -lt 108 ] || die "$dir is too long a path for the server's Unix socket"
    if [ "$(id -u)" = 0 ]; then
      chown "$user:" "$dir"
      setpriv --reuid="$user" --regid="$user" --init-groups -- test -w "$dir" -a -x "$dir" ||
        die "user $user cannot write to $dir (is a directory above it closed to others?)"
    fi
    chmod 700 "$dir"
    touch "$dir/.pg_temp"
    # --no-sync: initdb's own files need not reach the disk (a test kills processes, not the
    # machine); the server itself runs with fsync on.
    if ! as_user timeout 120 "$bin/initdb" -D "$data" -U "$user" --auth=trust --encoding=UTF8 \
           --locale=C.UTF-8 --no-sync --no-instructions >"$dir/initdb.log" 2>&1; then
      cat "$dir/initdb.log" >&2
      die "initdb failed in $dir"
    fi
    # Trust local and loopback connections only (initdb's file would also admit ::1).
    as_user tee "$data/pg_hba.conf" >/dev/null <<'EOF'
# Written by scripts/pg_temp.sh.
local all         all                trust
host  all         all  127.0.0.1/32  trust
local replication all                trust
host  replication all  127.0.0.1/32  trust
EOF
    echo "include 'maratang.conf'" | as_user tee -a "$data/postgresql.conf" >/dev/null
    status=2
    for _ in 1 2 3 4 5; do
      port=$(free_port)
      write_conf
      status=0
      start_server || status=$?
      [ "$status" = 2 ] || break
    done
    [ "$status" != 2 ] || { log_tail; die "no free port found for the server in $dir"; }
    [ "$status" = 0 ] || die "could not start the server in $dir"
    echo "$port" >"$dir/port"
    if ! timeout 30 "$bin/createdb" -h 127.0.0.1 -p "$port" -U "$user" maratang >&2; then
      stop_server immediate || true
      die "could not create the database maratang"
    fi
    echo "postgresql://$user@127.0.0.1:$port/maratang" >"$dir/url"
    echo "postgresql://$user@127.0.0.1:$port/maratang"
    ;;
  stop)
    [ -e "$dir" ] || exit 0
    if [ ! -f "$dir/.pg_temp" ]; then
      [ -d "$dir" ] && [ -z "$(ls -A "$dir")" ] && rmdir "$dir" && exit 0
      die "$dir was not made by pg_temp.sh start; not removing it"
    fi
    dir=$(cd "$dir" && pwd -P)
    data=$dir/data
    ok=0
    if [ -f "$data/PG_VERSION" ]; then stop_server fast || ok=$?; fi
    rm -rf "$dir"
    [ "$ok" = 0 ] || die "the server in $dir did not stop cleanly (killed; $dir removed)"
    ;;
  restart)
    locate
    stop_server fast || die "could not stop the server in $dir"
    status=0
    start_server || status=$?
    [ "$status" != 2 ] || die "port $port has been taken by another process; cannot start $dir again"
    [ "$status" = 0 ] || die "could not start the server in $dir again on port $port"
    ;;
  kill)
    locate
    running || die "no server is running in $dir"
    stop_server immediate || die "could not stop the server in $dir"
    ;;
  up)
    locate
    running && die "the server in $dir is already running"
    status=0
    start_server || status=$?
    [ "$status" != 2 ] || die "port $port has been taken by another process; cannot start $dir again"
    [ "$status" = 0 ] || die "could not start the server in $dir again on port $port"
    ;;
  url)
    locate
    echo "postgresql://$user@127.0.0.1:$port/maratang"
    ;;
  *) die "unknown command $cmd (start, stop, restart, kill, up, url)" ;;
esac
