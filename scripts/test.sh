#!/usr/bin/env bash
# Sets up, builds and runs every test: unit and integration tests in the release build, then the
# same tests under AddressSanitizer + UndefinedBehaviorSanitizer, then the formatting check.
# Usage: scripts/test.sh [--quick]   (--quick: release build only, no sanitizer pass)
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
[ "${1:-}" = "--quick" ] && quick=1

scripts/setup.sh --test

start=$(date +%s)
echo "== release build"
cmake --preset release >/dev/null
cmake --build --preset release
echo "== release build took $(( $(date +%s) - start )) s"
echo "== release tests"
ctest --preset release

if [ "$quick" = 0 ]; then
  start=$(date +%s)
  echo "== asan+ubsan build"
  cmake --preset asan >/dev/null
  cmake --build --preset asan
  echo "== asan+ubsan build took $(( $(date +%s) - start )) s"
  echo "== asan+ubsan tests"
  ctest --preset asan
fi

echo "== clang-format"
bad=$(git ls-files '*.cpp' '*.hpp' | xargs clang-format --dry-run --Werror 2>&1 | grep -c "error:" || true)
if [ "$bad" != 0 ]; then
  git ls-files '*.cpp' '*.hpp' | xargs clang-format --dry-run --Werror 2>&1 | head -20
  echo "clang-format: $bad places differ; run: git ls-files '*.cpp' '*.hpp' | xargs clang-format -i"
  exit 1
fi
echo "all tests passed"
