#!/usr/bin/env bash
# Sets up, builds the release preset and runs ringpool's main job: the benchmark
# report. Extra arguments go to `ringpool bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
cmake --preset release >/dev/null
cmake --build --preset release --target ringpool_cli
exec ./build/release/cli/ringpool bench "$@"
