#pragma once
// Placement policies and the plan: how many workers, pinned where, and whether a
// batch of tasks runs in parallel (one core per task) or concurrently (tasks
// multiplexed over one worker per usable core). Pure computations over a Machine.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ringpool/topology/cpu_set.hpp"
#include "ringpool/topology/machine.hpp"

namespace ringpool::topology {

// Every policy places one worker per PU; they differ in which PUs and in which order.
//   scatter  one PU per physical core, spread over packages, NUMA nodes and L3 groups
//            before doubling up in any of them (independent workers: most cache and
//            memory bandwidth each).
//   compact  one PU per physical core, filling one L3 group (then package) before
//            the next, fullest group first (communicating workers: shared L3).
//   cores    one PU per physical core in the machine's order, never two SMT
//            siblings (the default).
//   pus      every usable PU: first one per core, then the SMT siblings.
//   list     exactly the PUs in Placement::cpus (must be usable).
enum class Policy { scatter, compact, cores, pus, list };
[[nodiscard]] std::string_view to_string(Policy policy) noexcept;
// Throws TopologyError(unknown_policy) whose message lists the valid names.
[[nodiscard]] Policy parse_policy(std::string_view name);

struct Placement {
  Policy policy = Policy::cores;
  CpuSet cpus;  // for Policy::list only
  friend bool operator==(const Placement&, const Placement&) = default;
};

enum class Mode { parallel, concurrent };
[[nodiscard]] std::string_view to_string(Mode mode) noexcept;

struct Plan {
  Mode mode = Mode::parallel;
  std::size_t tasks = 0;
  std::size_t workers = 0;
  std::size_t usable_cores = 0;  // Usable::cores of the machine
  Policy policy = Policy::cores;
  std::vector<CpuSet> worker_cpus;  // worker i is pinned to worker_cpus[i] (one PU each)
  std::string explain;              // one sentence with the numbers behind the decision
  // Workers the policy can place without two sharing a PU: usable cores for
  // scatter/compact/cores, usable PUs for pus, the list size for list (all capped by
  // a CPU quota). parallel iff tasks <= capacity.
  std::size_t capacity = 0;
};

// The PUs, in policy order, that the policy may give workers (capacity() of them).
// Throws TopologyError(cpu_not_usable) when a list CPU is outside machine.usable(),
// TopologyError(invalid_argument) for an empty list.
[[nodiscard]] std::vector<unsigned> policy_order(const Machine& machine,
                                                 const Placement& placement);

// parallel when task_count <= capacity: task_count workers, each on its own PU;
// otherwise concurrent: `capacity` workers, tasks multiplexed over them.
// Throws TopologyError(invalid_argument) for task_count 0, plus policy_order's errors.
[[nodiscard]] Plan plan(const Machine& machine, std::size_t task_count,
                        const Placement& placement = {});

// CPUs for `workers` workers under the policy: worker i gets the i-th PU of
// policy_order(); beyond capacity, workers wrap around (oversubscription, i % capacity).
// Throws TopologyError(invalid_argument) for workers 0, plus policy_order's errors.
[[nodiscard]] std::vector<CpuSet> place(const Machine& machine, std::size_t workers,
                                        const Placement& placement);

// Saved placements (written by `ringpool tune`, read by Pool): key=value lines
//   format=ringpool-placement-1
//   policy=<name>
//   cpus=<list>        (list policy only, required there)
//   note=<free text>   (optional, one line)
// Blank lines and lines starting with '#' are ignored. Throws
// TopologyError(invalid_argument) naming the file (and line) on any error,
// TopologyError(unknown_policy) for a bad policy name.
void save_placement(const std::string& path, const Placement& placement,
                    std::string_view note = {});
[[nodiscard]] Placement load_placement(const std::string& path);
// RINGPOOL_PLACEMENT=FILE: nullopt when unset or empty; load_placement(FILE) otherwise
// (throws when the file is bad).
[[nodiscard]] std::optional<Placement> placement_from_env();

}  // namespace ringpool::topology
