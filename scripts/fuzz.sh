#!/usr/bin/env bash
# Builds the libFuzzer targets (preset fuzz: clang, ASan + UBSan) and runs each for a while on its
# seed corpus. New inputs go to build/fuzz/runs/<target>/corpus (the repository's fuzz/corpus is
# only read); crash, leak, timeout and out-of-memory inputs are saved in
# build/fuzz/runs/<target>/crashes. Prints per target: executions, exec/s, final cov/ft, crashes.
# Exits non-zero if any target crashed.
#
# Usage: scripts/fuzz.sh [seconds] [target...]   (default 60 s each; default every target)
#        scripts/fuzz.sh --smoke [target...]      (each seed once, no mutation: -runs=0;
#                                                  logs in build/fuzz/smoke)
#        scripts/fuzz.sh --report [target...]     (the table of the last runs again, no build)
# Environment: FUZZ_PARALLEL=2 runs two targets at once (at most 2); FUZZ_BUILD_JOBS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."

secs=60
smoke=0
report=0
if [ "${1:-}" = "--smoke" ]; then
  smoke=1
  shift
elif [ "${1:-}" = "--report" ]; then
  report=1
  shift
elif [[ "${1:-}" =~ ^[0-9]+$ ]]; then
  secs=$1
  shift
fi
runs=build/fuzz/runs
[ "$smoke" = 0 ] || runs=build/fuzz/smoke  # a smoke run leaves the last real run's logs alone
parallel=${FUZZ_PARALLEL:-1}
[ "$parallel" -ge 1 ] && [ "$parallel" -le 2 ] || { echo "FUZZ_PARALLEL must be 1 or 2" >&2; exit 2; }

all=(ws_frame_fuzz http_request_fuzz envelope_fuzz trace_codec_fuzz sse_stream_fuzz scenario_fuzz
     config_fuzz mystery_text_fuzz arena_binary_fuzz)
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=("${all[@]}")

summary() {
  local status=0 t dir execs rate last cov ft crashes rc
  printf '%-20s %12s %9s %7s %8s %8s\n' target executions exec/s cov ft crashes
  for t in "${targets[@]}"; do
    dir=$runs/$t
    [ -f "$dir/log" ] || { printf '%-20s (not run)\n' "$t"; continue; }
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log" | tail -1)
    last=$(grep -E '^#[0-9]+.*cov: ' "$dir/log" | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    crashes=$(find "$dir/crashes" -type f | wc -l)
    rc=$(cat "$dir/rc" 2>/dev/null || echo "?")
    printf '%-20s %12s %9s %7s %8s %8s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$crashes"
    if [ "$rc" != 0 ] || [ "$crashes" != 0 ]; then
      status=1
      echo "   $t failed (exit $rc); log: $dir/log; inputs: $dir/crashes/"
      grep -m3 -E 'ERROR: |runtime error:|SUMMARY:' "$dir/log" | sed 's/^/   /' || true
    fi
  done
  return "$status"
}
if [ "$report" = 1 ]; then summary; exit; fi

command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ not found (scripts/setup.sh --test)" >&2; exit 2; }
start=$(date +%s)
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "${FUZZ_BUILD_JOBS:-2}"
echo "== fuzz build took $(( $(date +%s) - start )) s"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_one() {
  local t=$1 dir=$runs/$1
  mkdir -p "$dir/corpus" "$dir/crashes" "$dir/old-crashes"
  find "$dir/crashes" -type f -exec mv -t "$dir/old-crashes" {} +  # this run's count starts at 0
  local args=(-print_final_stats=1 -timeout=10 -rss_limit_mb=2048 "-artifact_prefix=$dir/crashes/")
  if [ "$smoke" = 1 ]; then
    args+=(-runs=0 "fuzz/corpus/$t")
  else
    args+=("-max_total_time=$secs" "$dir/corpus" "fuzz/corpus/$t")
  fi
  set +e
  "build/fuzz/fuzz/$t" "${args[@]}" >"$dir/log" 2>&1
  echo $? >"$dir/rc"
  set -e
}

pids=()
for t in "${targets[@]}"; do
  [ -x "build/fuzz/fuzz/$t" ] || { echo "fuzz.sh: no target $t" >&2; exit 2; }
  if [ "$parallel" = 2 ]; then
    run_one "$t" &
    pids+=($!)
    if [ "${#pids[@]}" = 2 ]; then wait "${pids[0]}"; pids=("${pids[1]}"); fi
  else
    echo "== $t"
    run_one "$t"
  fi
done
for p in "${pids[@]}"; do wait "$p"; done

summary
