#pragma once
// CPU pinning for benchmarks: pin the calling thread, save/restore its mask, parse and
// validate the CPU lists users pass on the command line.
#include <string>
#include <string_view>
#include <vector>

namespace ringpool::bench {

// OS indices of the CPUs the calling thread may run on (sched_getaffinity), ascending.
[[nodiscard]] std::vector<int> thread_affinity();

// Pins the calling thread (the whole process if it has one thread) to `cpu`.
// Throws BenchError(cpu_not_allowed) naming the allowed CPUs when the CPU does not exist or
// is outside this process's cpuset, invalid_argument for a negative or huge index.
void pin_to_cpu(int cpu);

// The CPU the calling thread is running on right now (sched_getcpu), -1 if unknown.
[[nodiscard]] int current_cpu() noexcept;

// Saves the calling thread's affinity mask and restores it on destruction, so a benchmark
// that pins the caller leaves it as it found it. Use on the thread that created it.
class AffinityGuard {
 public:
  AffinityGuard();
  ~AffinityGuard();
  AffinityGuard(const AffinityGuard&) = delete;
  AffinityGuard& operator=(const AffinityGuard&) = delete;

 private:
  std::vector<int> saved_;
};

// Parses "0,1", "2-5", "0,2-3" into CPU indices in the given order (ranges ascending).
// Throws BenchError(invalid_argument) with the offending text for anything else (empty
// items, letters, negative numbers, reversed ranges).
[[nodiscard]] std::vector<int> parse_cpu_list(std::string_view text);

// "0-3,6" style rendering of a CPU set (sorted, ranges collapsed).
[[nodiscard]] std::string format_cpu_list(std::vector<int> cpus);

// Checks that `cpus` are exactly two distinct CPUs this process may use. Throws
// BenchError(invalid_argument) for a count other than two, same_cpu for a repeated CPU,
// cpu_not_allowed naming the allowed set otherwise. `allowed` defaults to thread_affinity().
void check_cpu_pair(const std::vector<int>& cpus, const std::vector<int>& allowed = {});

}  // namespace ringpool::bench
