#include "ringpool/bench/errors.hpp"

#include <cstring>

namespace ringpool::bench {

std::string_view to_string(BenchErrc code) noexcept {
  switch (code) {
    case BenchErrc::invalid_argument:
      return "invalid_argument";
    case BenchErrc::cpu_not_allowed:
      return "cpu_not_allowed";
    case BenchErrc::same_cpu:
      return "same_cpu";
    case BenchErrc::fork_failed:
      return "fork_failed";
    case BenchErrc::child_failed:
      return "child_failed";
    case BenchErrc::child_timeout:
      return "child_timeout";
    case BenchErrc::unsupported:
      return "unsupported";
    case BenchErrc::system_error:
      return "system_error";
  }
  return "unknown";
}

namespace {
std::string with_errno(const std::string& message, int sys_errno) {
  if (sys_errno == 0) return message;
  return message + " (" + std::strerror(sys_errno) + ")";
}
}  // namespace

BenchError::BenchError(BenchErrc code, const std::string& message, int sys_errno)
    : std::runtime_error(with_errno(message, sys_errno)), code_(code), sys_errno_(sys_errno) {}

}  // namespace ringpool::bench
