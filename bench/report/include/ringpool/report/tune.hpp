#pragma once
// `ringpool tune`: measures the placements this machine's topology offers and recommends a
// placement policy that a Pool then loads from a saved file (RINGPOOL_PLACEMENT=FILE).
//  - producer → consumer pair: one representative CPU pair per topology relation that
//    exists among the usable CPUs (SMT siblings, same L2, same L3, same package, across
//    packages), ringpool SPSC round trip and throughput, interleaved over rounds;
//  - a pool of W workers: each distinct worker placement the policies give (policies that
//    place the workers on the same CPUs are one candidate), submit→get round trip and
//    map throughput, when the pool benchmark is built in.
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "ringpool/report/model.hpp"
#include "ringpool/topology/placement.hpp"

namespace ringpool::report {

struct TuneOptions {
  std::size_t workers = 0;  // pool size; 0 = usable cores
  std::vector<unsigned>
      cpus;  // restrict to these CPUs (then the advice is a list policy); empty = all usable
  std::size_t rounds = 0;  // 0: 5, or 3 with quick
  bool quick = false;
  std::function<void(double fraction, std::string_view what)> progress;
};

// Runs the measurements. Call from a single-threaded process. Throws ReportError
// (invalid_argument) for workers beyond what the CPUs can hold without sharing a PU.
[[nodiscard]] TuneResult run_tune(const TuneOptions& options);

// The placement to save: the recommended policy (list with recommended_cpus for --cpus runs).
[[nodiscard]] topology::Placement recommended_placement(const TuneResult& result);

[[nodiscard]] std::string format_tune_text(const TuneResult& result);

}  // namespace ringpool::report
