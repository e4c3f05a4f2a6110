#pragma once
// Pinning processes and threads to PUs and binding memory to NUMA nodes on the
// live machine (hwloc cpubind/membind). Each call is a syscall or two; thread-safe.
#include <sys/types.h>

#include <cstddef>
#include <string>

#include "ringpool/topology/cpu_set.hpp"

namespace ringpool::topology {

// Binds every thread of process `pid` (0 = this process) to `cpus`, then reads the
// binding back and throws TopologyError(cannot_enforce) if it differs.
// Errors: cpus empty or not on this machine → cpu_not_usable / invalid_argument;
// no such process → invalid_argument; EPERM → cannot_enforce; cpus outside the
// cgroup cpuset → cpu_not_usable; ENOSYS → unsupported.
void pin_process(pid_t pid, const CpuSet& cpus);
// Binds the calling thread only; same errors and verification as pin_process.
void pin_thread(const CpuSet& cpus);
// The PUs process `pid` (0 = self) may run on (union over its threads).
[[nodiscard]] CpuSet process_binding(pid_t pid);
// The PUs the calling thread may run on.
[[nodiscard]] CpuSet thread_binding();

// What bind_memory did.
struct MemBind {
  bool applied = false;  // true when the pages are now bound to the node
  unsigned numa_node = 0;
  std::string reason;  // why it was (not) applied, e.g. "machine has one NUMA node"
};
// Binds [addr, addr+len) to NUMA node `numa_node` (OS index), migrating pages already
// touched. On a one-node machine it is a no-op reported as such; when the kernel
// refuses (EPERM in containers, ENOSYS) it returns applied = false with the reason.
// Throws TopologyError(invalid_argument) for a node that does not exist, a null
// addr or len 0.
[[nodiscard]] MemBind bind_memory(void* addr, std::size_t len, unsigned numa_node);

}  // namespace ringpool::topology
