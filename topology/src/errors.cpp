#include "ringpool/topology/errors.hpp"

namespace ringpool::topology {

std::string_view to_string(TopologyErrc code) noexcept {
  switch (code) {
    case TopologyErrc::unsupported:
      return "unsupported";
    case TopologyErrc::cannot_enforce:
      return "cannot_enforce";
    case TopologyErrc::invalid_topology:
      return "invalid_topology";
    case TopologyErrc::invalid_argument:
      return "invalid_argument";
    case TopologyErrc::unknown_policy:
      return "unknown_policy";
    case TopologyErrc::cpu_not_usable:
      return "cpu_not_usable";
  }
  return "unknown";
}

TopologyError::TopologyError(TopologyErrc code, const std::string& message, int sys_errno)
    : ringpool::Error(message), code_(code), sys_errno_(sys_errno) {}

}  // namespace ringpool::topology
