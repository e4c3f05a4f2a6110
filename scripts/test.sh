#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite: the dev build, then the
# ASan/UBSan build (every test) and the TSan build (tests labelled "tsan":
# ring and pool code driven by threads over one mapping).
# RINGPOOL_PRESETS="dev" limits the run to the named workflow presets.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
for preset in ${RINGPOOL_PRESETS:-dev asan-ubsan tsan}; do
  echo "== ringpool: workflow preset ${preset}"
  cmake --workflow --preset "${preset}"
done
