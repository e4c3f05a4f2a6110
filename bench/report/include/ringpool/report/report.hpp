#pragma once
// `ringpool bench` with no sub-command: the one-minute report. Describes the machine and
// its usable topology, then measures, section by section and interleaved over rounds
// within each section, the headline figures next to their peers:
//   c2c    core-to-core latency between the usable CPUs (at most kReportC2cCpus of them)
//   rings  SPSC and MPMC throughput and round trip on the recommended core pair, with
//          Boost.Lockfree, pipe and the cache-line floor (the bench kit's ring benchmark)
//   mpmc   MPMC throughput for P producers + C consumers up to the usable cores
//   pool   pool dispatch (submit→get, map tasks/s) next to Python multiprocessing
// A section whose measurement is unavailable (not built here, or it failed) is listed in
// Report::omitted with the reason; nothing is ever filled in without measuring it.
#include <cstddef>
#include <functional>
#include <string>

#include "ringpool/report/model.hpp"

namespace ringpool::topology {
class Machine;
}

namespace ringpool::report {

class Progress;

inline constexpr std::size_t kReportC2cCpus = 16;

struct ReportOptions {
  bool quick = false;      // a few seconds: fewer rounds, shorter trials (figures indicative)
  std::size_t rounds = 0;  // 0: 7 by default, 3 with quick
  std::string command;     // recorded in the report
};

// The usable topology and the plans for N = usable cores and 4 × N tasks.
[[nodiscard]] TopologySummary summarize_topology(const topology::Machine& machine);

// The pair the headline figures run on: two PUs on different physical cores sharing as
// much as possible (L2, then L3, then package), lowest OS indexes first; SMT siblings only
// when nothing else is usable. Throws ReportError(invalid_argument) with fewer than two
// usable PUs.
[[nodiscard]] CorePair recommended_pair(const topology::Machine& machine);

// Runs every section. `progress` is advanced as trials finish (may be a disabled bar).
// Call from a single-threaded process.
[[nodiscard]] Report run_report(const ReportOptions& options, Progress& progress);

// Rough number of progress units and seconds run_report will take with these options.
struct ReportEstimate {
  std::size_t units = 0;
  double seconds = 0.0;
};
[[nodiscard]] ReportEstimate estimate_report(const ReportOptions& options);

// Human text for the terminal.
[[nodiscard]] std::string format_machine_text(const MachineInfo& machine);
[[nodiscard]] std::string format_topology_text(const TopologySummary& topology,
                                               const CorePair& pair);
[[nodiscard]] std::string format_results_text(const Report& report);

}  // namespace ringpool::report
