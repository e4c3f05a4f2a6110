#!/usr/bin/env bash
# Installs the Debian packages ringpool's build, tests and benchmarks need.
# Idempotent and silent when everything is present. Uses sudo when not root;
# when neither works it prints the exact apt-get line to run.
set -euo pipefail

packages=(
  g++ cmake make pkg-config git
  libboost1.81-dev        # Boost.PFR (aggregate codec), Boost.Core; Boost.Lockfree/Interprocess bench peers
  libhwloc-dev hwloc      # topology; hwloc-calc / hwloc-distrib are the test oracle
  libgtest-dev libgmock-dev googletest
  libbenchmark-dev        # Google Benchmark suites under bench/
  libcli11-dev            # argument parsing for the ringpool command
  nlohmann-json3-dev      # JSON output of the CLI
  libfmt-dev              # formatting of reports
  python3                 # Python multiprocessing peer in the pool benchmark
  chromium                # renders the HTML report in tests
  procps util-linux       # taskset, used by the CLI tests
  libopenmpi-dev openmpi-bin  # the cluster module (Open MPI 4.1) and mpirun for its tests
  python3-mpi4py          # mpi4py.futures MPIPoolExecutor, the peer of `ringpool bench cluster`
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

run_apt() {
  "$@" apt-get update -qq >/dev/null &&
    DEBIAN_FRONTEND=noninteractive "$@" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

if [ "$(id -u)" -eq 0 ]; then
  run_apt env
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  run_apt sudo env
else
  echo "ringpool setup: missing packages: ${missing[*]}" >&2
  echo "run: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
