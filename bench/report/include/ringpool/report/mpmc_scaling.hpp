#pragma once
// MPMC throughput with P producer and C consumer processes, each pinned to its own core,
// for ringpool's MpmcRing and, in the same rounds, boost::lockfree::queue placed in
// shared memory (the peer). One contender per (system, P, C); every contender runs once
// per round, order rotated.
#include <cstddef>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "ringpool/report/model.hpp"

namespace ringpool::report {

struct MpmcScalingOptions {
  // CPUs in placement order (one PU per core, closest first); producers take the first P,
  // consumers the next C. At least two.
  std::vector<unsigned> cpus;
  // (P, C) splits to measure; empty = default_splits(cpus.size()).
  std::vector<std::pair<unsigned, unsigned>> splits;
  std::size_t rounds = 5;
  std::size_t warmup_rounds = 1;
  std::size_t items_per_trial = 4'000'000;  // across all producers
  std::size_t capacity = 1024;              // ring slots (both systems)
  // Called before each trial with what is about to run.
  std::function<void(const std::string&)> on_trial;
};

// One balanced split (P = k / 2, C = k - P) for every core count k from 2 to `cores`;
// past 8 cores only k = 2, 4, 8, ... and `cores` itself, to keep the run short.
[[nodiscard]] std::vector<std::pair<unsigned, unsigned>> default_splits(std::size_t cores);

// Runs the rounds. Call from a single-threaded process (it forks the producers and
// consumers). Checks that every item arrived exactly once (by count and checksum) and
// throws ReportError(measurement) otherwise, or when a child fails;
// ReportError(invalid_argument) for fewer than two CPUs or a split needing more CPUs
// than given.
[[nodiscard]] MpmcSection measure_mpmc_scaling(const MpmcScalingOptions& options);

}  // namespace ringpool::report
