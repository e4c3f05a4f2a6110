#pragma once
// Errors of the topology module. Every hwloc or POSIX failure is mapped to one of
// these codes; the message says what was wrong and what to do about it.
#include <string>
#include <string_view>

#include "ringpool/error.hpp"

namespace ringpool::topology {

enum class TopologyErrc {
  unsupported,       // the OS or hwloc cannot do this here (ENOSYS, EXDEV, no cgroup support)
  cannot_enforce,    // the request is valid but the kernel refused it (EPERM, binding not applied)
  invalid_topology,  // an XML file or synthetic description hwloc cannot load
  invalid_argument,  // malformed CPU list, task count 0, bad placement file, unknown PU
  unknown_policy,    // a placement policy name that does not exist
  cpu_not_usable,    // a CPU outside the set this process may run on
};

// "unsupported", "cannot_enforce", ...
[[nodiscard]] std::string_view to_string(TopologyErrc code) noexcept;

class TopologyError : public ringpool::Error {
 public:
  // sys_errno: the errno of the failing OS/hwloc call, 0 when none.
  TopologyError(TopologyErrc code, const std::string& message, int sys_errno = 0);

  [[nodiscard]] TopologyErrc code() const noexcept { return code_; }
  [[nodiscard]] int sys_errno() const noexcept { return sys_errno_; }

 private:
  TopologyErrc code_;
  int sys_errno_;
};

}  // namespace ringpool::topology
