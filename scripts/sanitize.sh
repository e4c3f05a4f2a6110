#!/usr/bin/env bash
# Sets up, builds and tests under the sanitizers: the asan-ubsan preset (every test but
# those labelled nosan), then the tsan preset (tests labelled tsan: ring and pool code
# driven by threads over one mapping). RINGPOOL_PRESETS narrows or widens the list.
set -euo pipefail
cd "$(dirname "$0")/.."
RINGPOOL_PRESETS=${RINGPOOL_PRESETS:-asan-ubsan tsan} exec ./scripts/test.sh
