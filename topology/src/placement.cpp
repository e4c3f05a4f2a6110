// Placement policies and the parallel/concurrent plan: pure computations over the
// flattened tree in Machine::Impl.
#include "ringpool/topology/placement.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "machine_impl.hpp"
#include "ringpool/topology/errors.hpp"

namespace ringpool::topology {
namespace {

constexpr Policy kPolicies[] = {Policy::scatter, Policy::compact, Policy::cores, Policy::pus,
                                Policy::list};

std::string valid_policies() {
  std::string out;
  for (Policy p : kPolicies) {
    if (!out.empty()) out += ", ";
    out += to_string(p);
  }
  return out;
}

using Impl = Machine::Impl;

// The first usable PU of core `core`, nullopt when none of its PUs is usable.
std::optional<unsigned> first_usable_pu(const Impl& m, std::size_t core, const CpuSet& usable) {
  return (m.levels[static_cast<std::size_t>(Level::core)][core].cpus & usable).first();
}

// compact: depth-first, children with more usable cores first (stable, so the
// machine's order breaks ties). Returns the PUs (one per core) under `node`.
std::vector<unsigned> compact_order(const Impl& m, std::size_t node, const CpuSet& usable) {
  const Impl::Node& n = m.tree[node];
  if (n.core) {
    if (auto pu = first_usable_pu(m, *n.core, usable)) return {*pu};
    return {};
  }
  std::vector<std::vector<unsigned>> parts;
  for (std::size_t child : n.children) parts.push_back(compact_order(m, child, usable));
  std::stable_sort(parts.begin(), parts.end(),
                   [](const auto& a, const auto& b) { return a.size() > b.size(); });
  std::vector<unsigned> out;
  for (const auto& part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

// scatter: each child's own order, interleaved in proportion to its size: element j
// of a child with n elements sits at (j + 1/2) / n. Equal children alternate
// (round robin); a child twice as large gets two turns per turn of the other.
std::vector<unsigned> scatter_order(const Impl& m, std::size_t node, const CpuSet& usable) {
  const Impl::Node& n = m.tree[node];
  if (n.core) {
    if (auto pu = first_usable_pu(m, *n.core, usable)) return {*pu};
    return {};
  }
  std::vector<std::vector<unsigned>> parts;
  for (std::size_t child : n.children) {
    auto part = scatter_order(m, child, usable);
    if (!part.empty()) parts.push_back(std::move(part));
  }
  if (parts.size() == 1) return parts.front();
  struct Slot {
    std::size_t part, j;
  };
  std::vector<Slot> slots;
  for (std::size_t p = 0; p < parts.size(); ++p) {
    for (std::size_t j = 0; j < parts[p].size(); ++j) slots.push_back({p, j});
  }
  // (2j+1)/(2n_p) < (2k+1)/(2n_q)  <=>  (2j+1) n_q < (2k+1) n_p; ties keep part order.
  std::stable_sort(slots.begin(), slots.end(), [&parts](const Slot& a, const Slot& b) {
    return (2 * a.j + 1) * parts[b.part].size() < (2 * b.j + 1) * parts[a.part].size();
  });
  std::vector<unsigned> out;
  out.reserve(slots.size());
  for (const Slot& s : slots) out.push_back(parts[s.part][s.j]);
  return out;
}

std::vector<unsigned> cores_order(const Impl& m, const CpuSet& usable) {
  std::vector<unsigned> out;
  const auto& cores = m.levels[static_cast<std::size_t>(Level::core)];
  for (std::size_t c = 0; c < cores.size(); ++c) {
    if (auto pu = first_usable_pu(m, c, usable)) out.push_back(*pu);
  }
  return out;
}

// pus: the first usable PU of every core, then the second of every core, ...
std::vector<unsigned> pus_order(const Impl& m, const CpuSet& usable) {
  std::vector<std::vector<unsigned>> per_core;
  for (const auto& core : m.levels[static_cast<std::size_t>(Level::core)]) {
    per_core.push_back((core.cpus & usable).to_vector());
  }
  std::vector<unsigned> out;
  for (std::size_t round = 0;; ++round) {
    const std::size_t before = out.size();
    for (const auto& pus : per_core) {
      if (round < pus.size()) out.push_back(pus[round]);
    }
    if (out.size() == before) return out;
  }
}

std::vector<unsigned> list_order(const Machine& machine, const Usable& usable, const CpuSet& cpus) {
  if (cpus.empty()) {
    throw TopologyError(TopologyErrc::invalid_argument,
                        "the list policy needs a non-empty CPU list (e.g. --cpus 0-3)");
  }
  if (const CpuSet missing = cpus - machine.all_cpus(); !missing.empty()) {
    throw TopologyError(TopologyErrc::cpu_not_usable,
                        "CPU(s) " + missing.to_list() + " do not exist on this machine (" +
                            machine.source() + " has PUs " + machine.all_cpus().to_list() + ")");
  }
  if (const CpuSet outside = cpus - usable.cpus; !outside.empty()) {
    std::string why;
    for (const auto& r : usable.reasons) why += "; " + r;
    throw TopologyError(TopologyErrc::cpu_not_usable,
                        "CPU(s) " + outside.to_list() +
                            " are not usable by this process: usable CPUs are " +
                            usable.cpus.to_list() + why + ". Pick CPUs from the usable set.");
  }
  return cpus.to_vector();
}

std::vector<unsigned> order_for(const Machine& machine, const Usable& usable,
                                const Placement& placement) {
  const Impl& m = MachineAccess::impl(machine);
  std::vector<unsigned> order;
  switch (placement.policy) {
    case Policy::scatter:
      order = scatter_order(m, 0, usable.cpus);
      break;
    case Policy::compact:
      order = compact_order(m, 0, usable.cpus);
      break;
    case Policy::cores:
      order = cores_order(m, usable.cpus);
      break;
    case Policy::pus:
      order = pus_order(m, usable.cpus);
      break;
    case Policy::list:
      order = list_order(machine, usable, placement.cpus);
      break;
  }
  if (usable.quota_cores) {
    const auto cap =
        std::max<std::size_t>(1, static_cast<std::size_t>(std::ceil(*usable.quota_cores - 1e-9)));
    if (order.size() > cap) order.resize(cap);
  }
  if (order.empty()) {
    throw TopologyError(TopologyErrc::cpu_not_usable, "no usable CPU on " + machine.source() +
                                                          " for policy " +
                                                          std::string(to_string(placement.policy)));
  }
  return order;
}

std::string unit_name(Policy policy, std::size_t n) {
  const bool one = n == 1;
  switch (policy) {
    case Policy::pus:
      return one ? "usable PU" : "usable PUs";
    case Policy::list:
      return one ? "listed CPU" : "listed CPUs";
    default:
      return one ? "usable core" : "usable cores";
  }
}

}  // namespace

std::string_view to_string(Policy policy) noexcept {
  switch (policy) {
    case Policy::scatter:
      return "scatter";
    case Policy::compact:
      return "compact";
    case Policy::cores:
      return "cores";
    case Policy::pus:
      return "pus";
    case Policy::list:
      return "list";
  }
  return "unknown";
}

Policy parse_policy(std::string_view name) {
  for (Policy p : kPolicies) {
    if (to_string(p) == name) return p;
  }
  throw TopologyError(TopologyErrc::unknown_policy, "unknown placement policy \"" +
                                                        std::string(name) +
                                                        "\"; valid policies: " + valid_policies());
}

std::string_view to_string(Mode mode) noexcept {
  return mode == Mode::parallel ? "parallel" : "concurrent";
}

std::vector<unsigned> policy_order(const Machine& machine, const Placement& placement) {
  return order_for(machine, machine.usable(), placement);
}

Plan plan(const Machine& machine, std::size_t task_count, const Placement& placement) {
  if (task_count == 0) {
    throw TopologyError(TopologyErrc::invalid_argument,
                        "task count must be at least 1 (got 0): a plan places tasks on workers");
  }
  const Usable usable = machine.usable();
  const std::vector<unsigned> order = order_for(machine, usable, placement);
  Plan p;
  p.tasks = task_count;
  p.usable_cores = usable.cores;
  p.policy = placement.policy;
  p.capacity = order.size();
  const std::string units = std::to_string(p.capacity) + " " + unit_name(p.policy, p.capacity);
  const std::string policy = "policy " + std::string(to_string(p.policy));
  if (task_count <= p.capacity) {
    p.mode = Mode::parallel;
    p.workers = task_count;
    p.explain = "parallel: " + std::to_string(task_count) + " task" + (task_count == 1 ? "" : "s") +
                " <= " + units + ", so " + std::to_string(p.workers) + " worker" +
                (p.workers == 1 ? "" : "s") + ", each pinned to its own PU (" + policy + ")";
  } else {
    p.mode = Mode::concurrent;
    p.workers = p.capacity;
    const std::size_t per = (task_count + p.workers - 1) / p.workers;
    const char* unit = p.policy == Policy::pus    ? "PU"
                       : p.policy == Policy::list ? "listed CPU"
                                                  : "core";
    p.explain = "concurrent: " + std::to_string(task_count) + " tasks > " + units + ", so " +
                std::to_string(p.workers) + " worker" + (p.workers == 1 ? "" : "s") + " (one per " +
                unit + ", " + policy + ") " +
                (p.workers == 1 ? std::string("runs them all")
                                : "share them, up to " + std::to_string(per) + " each");
  }
  if (usable.quota_cores) {
    std::ostringstream quota;
    quota << "; CPU quota " << *usable.quota_cores << " cores";
    p.explain += quota.str();
  }
  for (std::size_t i = 0; i < p.workers; ++i) p.worker_cpus.push_back(CpuSet{order[i]});
  return p;
}

std::vector<CpuSet> place(const Machine& machine, std::size_t workers, const Placement& placement) {
  if (workers == 0) {
    throw TopologyError(TopologyErrc::invalid_argument, "worker count must be at least 1 (got 0)");
  }
  const std::vector<unsigned> order = policy_order(machine, placement);
  std::vector<CpuSet> out;
  out.reserve(workers);
  for (std::size_t i = 0; i < workers; ++i) out.push_back(CpuSet{order[i % order.size()]});
  return out;
}

}  // namespace ringpool::topology
