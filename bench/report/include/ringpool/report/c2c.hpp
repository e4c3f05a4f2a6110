#pragma once
// Core-to-core latency: one cache line bounced between two pinned processes, for every
// pair of the given CPUs. Pairs are interleaved within each round and repeated over
// rounds, so a vCPU migration during the run shows as spread between the per-round
// medians rather than as one wrong number.
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "ringpool/report/model.hpp"

namespace ringpool::report {

struct C2cOptions {
  std::vector<unsigned> cpus;        // at least two distinct usable CPUs (see resolve_cpus)
  std::size_t rounds = 7;            // every pair once per round, order rotated
  std::size_t round_trips = 20'000;  // timed round trips per pair per round
  std::size_t warmup = 2'000;        // untimed round trips before them
  // Called after each trial with (trials done, trials in total, "CPU a <-> CPU b").
  std::function<void(std::size_t, std::size_t, const std::string&)> on_trial;
};

// The CPUs a command-line list names, validated against this process's usable set:
// "" → every usable PU; otherwise Linux cpulist syntax ("0-3,8"), order kept.
// Throws ReportError(invalid_argument) for a malformed list, a CPU given twice or fewer
// than `min_count` CPUs, ReportError(cpu_not_usable) naming the usable set for a CPU this
// process may not run on.
[[nodiscard]] std::vector<unsigned> resolve_cpus(std::string_view list, std::size_t min_count = 2);

// Runs the ping-pong for every unordered pair of options.cpus. Call from a single-threaded
// process: it pins itself to each pair's first CPU (restored afterwards) and forks the
// responder pinned to the second. Throws ReportError(invalid_argument) for bad options,
// ReportError(measurement) when a responder fails.
[[nodiscard]] C2cMatrix measure_c2c(const C2cOptions& options);

// The matrix as text: a header row of CPUs, one row per CPU, "-" on the diagonal, then
// the fastest and slowest pairs with their topology relation.
[[nodiscard]] std::string format_c2c_text(const C2cMatrix& matrix);

}  // namespace ringpool::report
