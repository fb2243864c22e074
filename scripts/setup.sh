#!/usr/bin/env bash
# Installs everything Maratang needs to build, run and test, from Debian bookworm packages.
# Idempotent and non-interactive; safe to run again. Usage: scripts/setup.sh [--test]
#   --test  also installs what the test suite needs beyond the build (tools, Chromium for the
#           headless test of /docs, and PostgreSQL 15, Redis, Janus and coturn servers that the
#           tests start themselves), and what the benchmarks against peers run (wrk, Debian's
#           FastAPI stack).
set -euo pipefail

want_test=0
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

build_pkgs=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libsqlite3-dev libsodium-dev libicu-dev libssl-dev zlib1g-dev
  libspdlog-dev libfmt-dev libcli11-dev libcmark-dev libyaml-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libpq-dev librdkafka-dev  # PostgreSQL client (libpq) and Kafka client (librdkafka, its mock cluster)
  libhiredis-dev  # the Redis protocol (src/redis/)
  libjemalloc-dev  # the server binary's allocator (CMakeLists.txt: MARATANG_JEMALLOC)
  liburing-dev  # io_uring, beside plain system calls in bench/arena_floor
  john-data cracklib-runtime  # common-password lists (auth.password_lists), read at start-up
  ca-certificates  # the system's authorities, which an https:// LLM endpoint is verified against
)
test_pkgs=(clang-format procps chromium clang libclang-rt-14-dev
  fonts-nanum  # Korean glyphs, so the web client's screenshots in Korean are legible
  iproute2  # ss -K: the web client's test drops its connections to check it reconnects
  openssl  # the CLI makes the LLM TLS tests' certificates
  postgresql-15  # server binaries in /usr/lib/postgresql/15/bin, started by scripts/pg_temp.sh
  redis-server  # started by scripts/redis_temp.sh
  nginx-light  # in front of several nodes: scripts/nginx_temp.sh, scripts/cluster.sh
  janus  # Mafia's SFU (videoroom plugin), started by scripts/janus_temp.sh
  coturn  # TURN for browsers (and turnutils_uclient), started by scripts/coturn_temp.sh
  wrk  # the load generator of bench/traces_side_by_side.sh
  # seed 003's own stack, the peer in bench/traces_side_by_side.sh (bench/peers/traces_fastapi),
  # run by /usr/bin/python3; uvloop and httptools are what uvicorn[standard] would add
  python3-fastapi python3-uvicorn python3-asyncpg python3-redis python3-uvloop python3-httptools)

pkgs=("${build_pkgs[@]}")
if [ "$want_test" = 1 ]; then pkgs+=("${test_pkgs[@]}"); fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

# npm installs Swagger UI (below); Debian's package only when no npm is on the PATH already.
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Swagger UI for /docs: the npm package swagger-ui-dist, pinned by web/package-lock.json, into
# web/node_modules (gitignored; the server's docs.assets_dir). Install scripts are not run.
cd "$(dirname "$0")/.."
if [ ! -f web/node_modules/swagger-ui-dist/swagger-ui-bundle.js ] ||
   [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
  npm ci --prefix web --ignore-scripts --no-audit --no-fund --loglevel=error
fi
echo "setup: all packages present"
