#!/usr/bin/env bash
# Builds the fuzz preset (clang-16, libFuzzer, ASan + UBSan) and runs every fuzz target in
# tests/fuzz for a bounded time, starting from its seed corpus in tests/fuzz/corpus/.
# Fails (non-zero exit) on the first crash, sanitizer report, leak, hang or out-of-memory;
# the input that did it is left in build/fuzz/artifacts/.
#
#   scripts/fuzz.sh                 # 45 s per target, 3 min in all (what .ci/run does, last)
#   RINGPOOL_FUZZ_SECONDS=600 scripts/fuzz.sh
#   RINGPOOL_FUZZ_TARGETS=codec_fuzz scripts/fuzz.sh
#
# Installs clang-16 and libclang-rt-16-dev (Debian 12) when they are missing; the rest of
# the build needs what scripts/setup.sh installs.
set -euo pipefail
cd "$(dirname "$0")/.."
# Four targets at 45 s: the 3 minutes three targets at 60 s took.
seconds=${RINGPOOL_FUZZ_SECONDS:-45}
targets=${RINGPOOL_FUZZ_TARGETS:-ring_attach_fuzz queue_open_fuzz codec_fuzz spawn_start_fuzz}

bash scripts/setup.sh
fuzz_packages=(clang-16 libclang-rt-16-dev)
missing=()
for p in "${fuzz_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq >/dev/null
    sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "ringpool fuzz: missing packages: ${missing[*]}" >&2
    echo "run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

cmake --preset fuzz >/dev/null
# The seed writer is built too, so a format change that breaks it fails here; run it by hand
# (build/fuzz/tests/fuzz/ringpool_fuzz_seeds tests/fuzz/corpus) when a wire format changes.
# shellcheck disable=SC2086
cmake --build --preset fuzz -j "${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" \
  --target $targets ringpool_fuzz_seeds

build=build/fuzz
mkdir -p "$build/artifacts"
# Readable stacks when a target fails (llvm-symbolizer-16 comes with llvm-16, -14 with clang-14).
for symbolizer in llvm-symbolizer-16 llvm-symbolizer llvm-symbolizer-14; do
  if command -v "$symbolizer" >/dev/null 2>&1; then
    export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$(command -v "$symbolizer")}
    break
  fi
done
for target in $targets; do
  seeds=tests/fuzz/corpus/$target
  work=$build/corpus/$target  # grows across runs; the seeds in the repo stay small
  mkdir -p "$work"
  echo "== ringpool fuzz: $target for ${seconds} s"
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb: a runaway allocation is a bug.
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    "$build/tests/fuzz/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$build/artifacts/$target-" "$work" "$seeds"
done
echo "== ringpool fuzz: no crash in ${targets}"
