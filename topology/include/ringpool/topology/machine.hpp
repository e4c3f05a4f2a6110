#pragma once
// Machine: the hardware tree hwloc discovers (packages, NUMA nodes, L3 and L2
// groups, physical cores, PUs), flattened into plain vectors so callers never need
// an hwloc header. Immutable once loaded: safe to share between threads and to use
// in a forked child.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ringpool/topology/cpu_set.hpp"

namespace ringpool::topology {

// Levels of the tree that placement cares about.
enum class Level { package, numa_node, l3, l2, core, pu };
[[nodiscard]] std::string_view to_string(Level level) noexcept;

// One object of a level: a package, NUMA node, L3 or L2 cache, core or PU.
struct Domain {
  unsigned logical_index = 0;        // hwloc's logical index: position in the tree order
  std::optional<unsigned> os_index;  // packages, NUMA nodes, cores and PUs; caches have none
  CpuSet cpus;                       // the PUs (OS indexes) under it; empty for memory-only NUMA
  std::uint64_t bytes = 0;           // cache size or NUMA local memory; 0 when unknown
};

// How close two PUs are: the smallest thing they share.
enum class Relation { same_pu, smt_siblings, same_l2, same_l3, same_package, cross_package };
[[nodiscard]] std::string_view to_string(Relation relation) noexcept;

// Hybrid machines: PUs of one kind (e.g. performance or efficiency cores).
// Higher efficiency = faster core (hwloc's ranking); -1 when hwloc cannot rank them.
struct CpuKind {
  CpuSet cpus;
  int efficiency = -1;
  std::string core_type;  // "IntelCore", "IntelAtom", ... when the OS says; else empty
};

// What this process may run on, and why.
struct Usable {
  CpuSet cpus;  // affinity mask ∩ cgroup cpuset (live); hwloc's allowed set (XML/synthetic)
  // Physical cores with at least one usable PU, capped at ⌈quota_cores⌉ when a CPU quota
  // is set: the default number of workers.
  std::size_t cores = 0;
  std::optional<double> quota_cores;  // cgroup cpu.max quota / period, when limited
  std::vector<std::string> reasons;   // one human sentence per restriction found
};

class Machine {
 public:
  // The machine this process runs on. Loaded once per process on first call
  // (thread-safe) and reused. Throws TopologyError(unsupported) if hwloc cannot
  // discover it.
  [[nodiscard]] static const Machine& live();
  // An hwloc XML export (lstopo foo.xml). Throws TopologyError(invalid_topology)
  // naming the file when it is missing, unreadable or not a topology.
  [[nodiscard]] static Machine from_xml(const std::string& path);
  // hwloc synthetic description, e.g. "pack:2 l3:4 core:8 pu:2". Throws
  // TopologyError(invalid_topology) quoting the description when hwloc rejects it.
  [[nodiscard]] static Machine from_synthetic(std::string_view description);

  // "live", "xml FILE" or "synthetic DESC".
  [[nodiscard]] const std::string& source() const noexcept;
  [[nodiscard]] bool is_live() const noexcept;

  [[nodiscard]] const std::vector<Domain>& packages() const noexcept;
  [[nodiscard]] const std::vector<Domain>& numa_nodes() const noexcept;
  [[nodiscard]] const std::vector<Domain>& l3_groups() const noexcept;
  [[nodiscard]] const std::vector<Domain>& l2_groups() const noexcept;
  [[nodiscard]] const std::vector<Domain>& cores() const noexcept;
  [[nodiscard]] const std::vector<Domain>& pus() const noexcept;
  [[nodiscard]] const std::vector<Domain>& domains(Level level) const noexcept;
  [[nodiscard]] const std::vector<CpuKind>& cpu_kinds() const noexcept;  // empty unless hybrid

  // Every PU of the tree (including ones this process may not use).
  [[nodiscard]] const CpuSet& all_cpus() const noexcept;
  // Index into domains(level) of the domain holding PU `pu` (OS index); nullopt when
  // that level does not cover it (no L3, memory-less PU). Throws
  // TopologyError(invalid_argument) when the machine has no PU `pu`.
  [[nodiscard]] std::optional<std::size_t> index_of(Level level, unsigned pu) const;
  // The other PUs on the same physical core as `pu` (not `pu` itself); empty without
  // SMT. Never assume a sibling's OS index is pu + 1: on many Intel servers it is
  // pu + cores. Throws TopologyError(invalid_argument) for an unknown PU.
  [[nodiscard]] CpuSet siblings(unsigned pu) const;
  // The smallest thing PUs `a` and `b` share. Throws for an unknown PU.
  [[nodiscard]] Relation relation(unsigned a, unsigned b) const;

  // What this process may use. On the live machine this re-reads the affinity mask,
  // cgroup cpuset and cgroup CPU quota at each call (a few syscalls); on XML and
  // synthetic machines it is the allowed set the file/description gives.
  [[nodiscard]] Usable usable() const;

  struct Impl;  // defined in src/; holds the hwloc topology and the flattened tree

 private:
  friend struct MachineAccess;  // src/ only: reaches Impl for pinning and loading
  explicit Machine(std::shared_ptr<const Impl> impl) noexcept : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;  // immutable, so copies share it
};

// Machine::live().usable().cores: the default worker count, what Python's
// os.process_cpu_count() should have been (affinity, cpuset and quota aware). >= 1.
[[nodiscard]] std::size_t usable_cores();

}  // namespace ringpool::topology
