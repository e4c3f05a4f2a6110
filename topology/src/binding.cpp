// Pinning (hwloc cpubind) and memory binding (hwloc membind) on the live machine.
#include "ringpool/topology/binding.hpp"

#include <hwloc.h>
#include <signal.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "machine_impl.hpp"
#include "ringpool/topology/errors.hpp"
#include "ringpool/topology/machine.hpp"

namespace ringpool::topology {
namespace {

hwloc_topology_t live_topology() {
  return MachineAccess::impl(Machine::live()).topology;
}

std::string who(pid_t pid) {
  return pid == 0 ? "this process" : "process " + std::to_string(pid);
}

void check_cpus(const CpuSet& cpus) {
  if (cpus.empty()) {
    throw TopologyError(TopologyErrc::invalid_argument,
                        "cannot pin to an empty CPU set: give at least one CPU");
  }
  const CpuSet& all = Machine::live().all_cpus();
  if (const CpuSet missing = cpus - all; !missing.empty()) {
    throw TopologyError(TopologyErrc::cpu_not_usable, "CPU(s) " + missing.to_list() +
                                                          " do not exist on this machine (PUs " +
                                                          all.to_list() + ")");
  }
}

[[noreturn]] void bind_failed(int err, const std::string& target, const CpuSet& cpus) {
  const std::string what = "cannot pin " + target + " to CPUs " + cpus.to_list() + ": ";
  switch (err) {
    case ENOSYS:
    case EXDEV:
      throw TopologyError(TopologyErrc::unsupported,
                          what + "CPU binding is not supported here (" + std::strerror(err) + ")",
                          err);
    case ESRCH:
      throw TopologyError(TopologyErrc::invalid_argument, what + "no such process", err);
    case EPERM:
      throw TopologyError(TopologyErrc::cannot_enforce,
                          what + "permission denied (pin only your own processes)", err);
    case EINVAL:
      throw TopologyError(TopologyErrc::cpu_not_usable,
                          what + "the kernel refused them (outside this cgroup's cpuset?)", err);
    default:
      throw TopologyError(TopologyErrc::cannot_enforce, what + std::strerror(err), err);
  }
}

void verify(const CpuSet& wanted, const CpuSet& got, const std::string& target) {
  if (wanted != got) {
    throw TopologyError(TopologyErrc::cannot_enforce,
                        "pinned " + target + " to CPUs " + wanted.to_list() +
                            " but its binding reads back as " + got.to_list());
  }
}

}  // namespace

void pin_process(pid_t pid, const CpuSet& cpus) {
  if (pid < 0) {
    throw TopologyError(TopologyErrc::invalid_argument,
                        "invalid pid " + std::to_string(pid) + " (0 means this process)");
  }
  check_cpus(cpus);
  hwloc_topology_t topo = live_topology();
  const Bitmap set(to_hwloc_bitmap(cpus));
  const int rc = pid == 0 ? hwloc_set_cpubind(topo, set.get(), HWLOC_CPUBIND_PROCESS)
                          : hwloc_set_proc_cpubind(topo, pid, set.get(), HWLOC_CPUBIND_PROCESS);
  if (rc != 0) {
    int err = errno;
    // hwloc walks /proc/PID/task and reports a vanished process as EINVAL.
    if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH) err = ESRCH;
    bind_failed(err, who(pid), cpus);
  }
  verify(cpus, process_binding(pid), who(pid));
}

void pin_thread(const CpuSet& cpus) {
  check_cpus(cpus);
  const Bitmap set(to_hwloc_bitmap(cpus));
  if (hwloc_set_cpubind(live_topology(), set.get(), HWLOC_CPUBIND_THREAD) != 0) {
    bind_failed(errno, "the calling thread", cpus);
  }
  verify(cpus, thread_binding(), "the calling thread");
}

CpuSet process_binding(pid_t pid) {
  if (pid < 0) {
    throw TopologyError(TopologyErrc::invalid_argument,
                        "invalid pid " + std::to_string(pid) + " (0 means this process)");
  }
  hwloc_topology_t topo = live_topology();
  const Bitmap set(hwloc_bitmap_alloc());
  const int rc = pid == 0 ? hwloc_get_cpubind(topo, set.get(), HWLOC_CPUBIND_PROCESS)
                          : hwloc_get_proc_cpubind(topo, pid, set.get(), HWLOC_CPUBIND_PROCESS);
  if (rc != 0) {
    int err = errno;
    if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH) err = ESRCH;
    throw TopologyError(err == ESRCH ? TopologyErrc::invalid_argument : TopologyErrc::unsupported,
                        "cannot read the CPU binding of " + who(pid) + ": " + std::strerror(err),
                        err);
  }
  return to_cpu_set(set.get());
}

CpuSet thread_binding() {
  const Bitmap set(hwloc_bitmap_alloc());
  if (hwloc_get_cpubind(live_topology(), set.get(), HWLOC_CPUBIND_THREAD) != 0) {
    const int err = errno;
    throw TopologyError(
        TopologyErrc::unsupported,
        std::string("cannot read the calling thread's CPU binding: ") + std::strerror(err), err);
  }
  return to_cpu_set(set.get());
}

MemBind bind_memory(void* addr, std::size_t len, unsigned numa_node) {
  if (addr == nullptr || len == 0) {
    throw TopologyError(TopologyErrc::invalid_argument,
                        "bind_memory needs a mapped range (got " +
                            std::string(addr == nullptr ? "a null address" : "length 0") + ")");
  }
  const Machine& machine = Machine::live();
  bool found = false;
  std::string nodes;
  for (const Domain& node : machine.numa_nodes()) {
    if (node.os_index == numa_node) found = true;
    if (node.os_index) {
      if (!nodes.empty()) nodes.push_back(',');
      nodes.append(std::to_string(*node.os_index));
    }
  }
  if (!found) {
    throw TopologyError(TopologyErrc::invalid_argument,
                        "NUMA node " + std::to_string(numa_node) +
                            " does not exist on this machine (nodes: " + nodes + ")");
  }
  MemBind result;
  result.numa_node = numa_node;
  if (machine.numa_nodes().size() <= 1) {
    result.reason = "machine has one NUMA node: memory is already local to every CPU";
    return result;
  }
  const Bitmap nodeset(hwloc_bitmap_alloc());
  hwloc_bitmap_only(nodeset.get(), numa_node);
  if (hwloc_set_area_membind(live_topology(), addr, len, nodeset.get(), HWLOC_MEMBIND_BIND,
                             HWLOC_MEMBIND_BYNODESET | HWLOC_MEMBIND_MIGRATE) != 0) {
    const int err = errno;
    result.reason = "the kernel refused to bind memory to node " + std::to_string(numa_node) +
                    ": " + std::strerror(err);
    return result;
  }
  result.applied = true;
  result.reason = "bound to NUMA node " + std::to_string(numa_node);
  return result;
}

}  // namespace ringpool::topology
