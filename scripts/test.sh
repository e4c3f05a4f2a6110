#!/usr/bin/env bash
# Sets up, builds the dev preset and runs every test: the README's test command.
# RINGPOOL_PRESETS="dev asan-ubsan tsan" runs these workflow presets instead (default: dev);
# scripts/sanitize.sh runs the two sanitizer presets.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
# Reuse earlier compilations when ccache is installed (CCACHE_DISABLE=1 turns it off).
if [ -z "${CMAKE_CXX_COMPILER_LAUNCHER:-}" ] && command -v ccache >/dev/null 2>&1; then
  export CMAKE_CXX_COMPILER_LAUNCHER=ccache
fi
for preset in ${RINGPOOL_PRESETS:-dev}; do
  echo "== ringpool: workflow preset ${preset}"
  cmake --workflow --preset "${preset}"
done
