#pragma once
// The report's pool section: pool dispatch figures from the pool benchmark (bench/pool,
// helper library ringpool_poolbench) next to Python multiprocessing's where python3 is
// present. Compiled in only when that library is part of the build.
#include <cstddef>
#include <string>
#include <string_view>

#include "ringpool/report/model.hpp"

namespace ringpool::report {

// True when the pool benchmark is built into this binary.
[[nodiscard]] bool pool_section_available() noexcept;
// Why the pool section cannot be measured (empty when it can).
[[nodiscard]] std::string pool_section_unavailable_reason();

// Runs the pool benchmark (rounds interleaved inside it). Throws ReportError(measurement) when it
// fails or when it is not available. The caller is pinned to `parent_cpu`, the round-trip worker to
// `worker_cpu`.
[[nodiscard]] PoolSection measure_pool_section(std::size_t rounds, bool quick, unsigned parent_cpu,
                                               unsigned worker_cpu);

// A pool of `workers` workers placed by `placement`: submit(noop).get() round trip and
// map(noop) throughput, one trial (callers interleave trials over rounds). Throws
// ReportError(measurement) when it fails or when the pool benchmark is not available.
struct PoolProbe {
  double rtt_ns_p50 = 0.0;
  double rtt_ns_p99 = 0.0;
  double map_tasks_per_s = 0.0;
  std::string worker_cpus;  // where the pool's workers were pinned, as read back
};
[[nodiscard]] PoolProbe probe_pool_placement(std::size_t workers, const std::string& policy,
                                             const std::string& cpus, bool quick);

}  // namespace ringpool::report
