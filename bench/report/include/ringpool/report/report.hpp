#pragma once
// `ringpool bench` with no sub-command: the report. Describes the machine and
// its usable topology, then measures, section by section and interleaved over rounds
// within each section, the headline figures next to their peers:
//   c2c    core-to-core latency between the usable CPUs (at most kReportC2cCpus of them)
//   rings  SPSC and MPMC throughput and round trip on the recommended core pair, with
//          Boost.Lockfree, pipe and the cache-line floor (the bench kit's ring benchmark)
//   mpmc   MPMC throughput for P producers + C consumers up to the usable cores
//   pool   pool dispatch (submit→get, map tasks/s) next to Python multiprocessing
//   payload  8 B .. 256 MiB through submit→get and a Queue, next to Python and memcpy
// A section whose measurement is unavailable (not built here, or it failed) is listed in
// Report::omitted with the reason; nothing is ever filled in without measuring it. Every
// figure carries its spread over the rounds (p25-p75), and Report::targets checks the
// project's targets on the whole interquartile range of the per-round ratios.
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "ringpool/report/model.hpp"
#include "ringpool/report/progress.hpp"

namespace ringpool::topology {
class Machine;
}

namespace ringpool::report {

inline constexpr std::size_t kReportC2cCpus = 16;
inline constexpr std::size_t kDefaultReportRounds = 7;
inline constexpr std::size_t kQuickReportRounds = 3;

struct ReportOptions {
  bool quick = false;      // a few seconds: fewer rounds, shorter trials (figures indicative)
  std::size_t rounds = 0;  // 0: kDefaultReportRounds, or kQuickReportRounds with quick
  std::string command;     // recorded in the report
};

// The usable topology and the plans for N = usable cores and 4 × N tasks.
[[nodiscard]] TopologySummary summarize_topology(const topology::Machine& machine);

// The pair the headline figures run on: two PUs on different physical cores sharing as
// much as possible (L2, then L3, then package), lowest OS indexes first; SMT siblings only
// when nothing else is usable. Throws ReportError(invalid_argument) with fewer than two
// usable PUs.
[[nodiscard]] CorePair recommended_pair(const topology::Machine& machine);

// The sections run_report runs, in order, with the seconds each should take on `machine`
// (Machine::live() for a real run) with these options: the plan to build the Progress from.
// The indexes below name them.
inline constexpr std::size_t kSectionC2c = 0;
inline constexpr std::size_t kSectionRings = 1;
inline constexpr std::size_t kSectionMpmc = 2;
inline constexpr std::size_t kSectionPool = 3;
inline constexpr std::size_t kSectionPayload = 4;
[[nodiscard]] std::vector<Progress::Section> report_plan(const ReportOptions& options,
                                                         const topology::Machine& machine);

// Runs every section, telling `progress` (built from report_plan) as sections begin and
// trials finish, then checks the targets. Call from a single-threaded process.
[[nodiscard]] Report run_report(const ReportOptions& options, Progress& progress);

// Human text for the terminal. Tables are as wide as their cells: nothing is cut.
[[nodiscard]] std::string format_machine_text(const MachineInfo& machine);
[[nodiscard]] std::string format_topology_text(const TopologySummary& topology,
                                               const CorePair& pair);
[[nodiscard]] std::string format_results_text(const Report& report);

}  // namespace ringpool::report
