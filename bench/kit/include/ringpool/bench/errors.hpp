#pragma once
// Errors of the bench kit: pinning, child processes, bad options.
#include <stdexcept>
#include <string>
#include <string_view>

namespace ringpool::bench {

enum class BenchErrc {
  invalid_argument,  // a malformed or out-of-range option (CPU list, rounds, sizes, empty samples)
  cpu_not_allowed,   // the CPU does not exist or is outside this process's affinity mask / cpuset
  same_cpu,          // a two-CPU measurement was given the same CPU twice
  fork_failed,       // fork() or mmap() for the child refused (errno in sys_errno())
  child_failed,      // the child threw, crashed or exited non-zero; message carries its reason
  child_timeout,     // the child did not finish in time and was killed
  unsupported,       // a transport or clock is not available on this machine
  system_error,      // any other OS call failed (errno in sys_errno())
};

[[nodiscard]] std::string_view to_string(BenchErrc code) noexcept;

// Thrown by every kit call that acquires resources or validates options. what() says what
// was wrong and what to do; code() lets callers branch; sys_errno() is 0 unless an OS call failed.
class BenchError : public std::runtime_error {
 public:
  BenchError(BenchErrc code, const std::string& message, int sys_errno = 0);

  [[nodiscard]] BenchErrc code() const noexcept { return code_; }
  [[nodiscard]] int sys_errno() const noexcept { return sys_errno_; }

 private:
  BenchErrc code_;
  int sys_errno_;
};

}  // namespace ringpool::bench
