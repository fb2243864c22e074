#!/usr/bin/env bash
# Sets up, builds and starts Maratang with its embedded defaults on http://localhost:8080.
# Extra arguments go to `maratang serve` (e.g. --port 9000, --set log.level=debug).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target maratang
exec build/release/maratang serve "$@"
