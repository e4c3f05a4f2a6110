#pragma once
// Clocks for per-operation timing: the TSC (rdtsc/rdtscp fenced with lfence, calibrated
// against CLOCK_MONOTONIC) where it is invariant, std::chrono::steady_clock otherwise.
// BENCHMARKING.md: the TSC ticks in ~10 ns steps on these VMs and a start/stop pair costs
// ~30 ns, so time batches (or consecutive stamps) where single operations are shorter.
#include <chrono>
#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define RINGPOOL_BENCH_HAVE_TSC 1
#else
#define RINGPOOL_BENCH_HAVE_TSC 0
#endif

namespace ringpool::bench {

// True when the CPU reports an invariant TSC (CPUID 0x80000007 EDX bit 8): constant rate,
// synchronised across cores, safe to compare stamps taken on different CPUs.
[[nodiscard]] bool tsc_invariant() noexcept;

#if RINGPOOL_BENCH_HAVE_TSC
// Start of a timed region: lfence keeps rdtsc from running before earlier instructions
// finish, the second lfence keeps later instructions from starting before the read.
inline std::uint64_t tsc_start() noexcept {
  _mm_lfence();
  const std::uint64_t t = __rdtsc();
  _mm_lfence();
  return t;
}
// End of a timed region: rdtscp waits for earlier instructions; lfence holds later ones.
inline std::uint64_t tsc_stop() noexcept {
  unsigned aux = 0;
  const std::uint64_t t = __rdtscp(&aux);
  _mm_lfence();
  return t;
}
#endif

// A tick source chosen once per process. Cheap to copy; the same object may be used from
// any thread. start()/stop() return ticks; to_ns() converts a tick difference.
class Clock {
 public:
  enum class Kind { tsc, steady };

  // The TSC clock when the TSC is invariant (calibrated once per process over ~20 ms against
  // CLOCK_MONOTONIC; later calls return the cached calibration, also in forked children),
  // the steady clock otherwise.
  [[nodiscard]] static Clock best();
  // std::chrono::steady_clock in nanosecond ticks; always available.
  [[nodiscard]] static Clock steady() noexcept { return Clock{Kind::steady, 1.0}; }

  [[nodiscard]] Kind kind() const noexcept { return kind_; }
  [[nodiscard]] double ns_per_tick() const noexcept { return ns_per_tick_; }
  [[nodiscard]] double to_ns(std::uint64_t ticks) const noexcept {
    return static_cast<double>(ticks) * ns_per_tick_;
  }

  [[nodiscard]] std::uint64_t start() const noexcept {
#if RINGPOOL_BENCH_HAVE_TSC
    if (kind_ == Kind::tsc) return tsc_start();
#endif
    return steady_ns();
  }
  [[nodiscard]] std::uint64_t stop() const noexcept {
#if RINGPOOL_BENCH_HAVE_TSC
    if (kind_ == Kind::tsc) return tsc_stop();
#endif
    return steady_ns();
  }

 private:
  Clock(Kind kind, double ns_per_tick) noexcept : kind_(kind), ns_per_tick_(ns_per_tick) {}
  static std::uint64_t steady_ns() noexcept {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
  }

  Kind kind_;
  double ns_per_tick_;
};

// Wall time of a whole trial (throughput): steady_clock seconds between two points.
class Stopwatch {
 public:
  Stopwatch() noexcept : start_(std::chrono::steady_clock::now()) {}
  void restart() noexcept { start_ = std::chrono::steady_clock::now(); }
  [[nodiscard]] double seconds() const noexcept {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

}  // namespace ringpool::bench
