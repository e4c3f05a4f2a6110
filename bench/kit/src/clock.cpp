#include "ringpool/bench/clock.hpp"

#include <time.h>

#if RINGPOOL_BENCH_HAVE_TSC
#include <cpuid.h>
#endif

#include <mutex>

namespace ringpool::bench {

bool tsc_invariant() noexcept {
#if RINGPOOL_BENCH_HAVE_TSC
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(0x80000000U, &eax, &ebx, &ecx, &edx) == 0 || eax < 0x80000007U) return false;
  if (__get_cpuid(0x80000007U, &eax, &ebx, &ecx, &edx) == 0) return false;
  return (edx & (1U << 8)) != 0;
#else
  return false;
#endif
}

namespace {

std::uint64_t monotonic_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

#if RINGPOOL_BENCH_HAVE_TSC
// TSC ticks per ns: spin ~20 ms between two (monotonic, tsc) pairs; each pair is read
// back-to-back and kept only if the monotonic read bracketing it was quick.
double calibrate_ns_per_tick() noexcept {
  auto pair = [](std::uint64_t& ns, std::uint64_t& tsc) {
    std::uint64_t best_width = ~0ULL;
    for (int i = 0; i < 5; ++i) {
      const std::uint64_t a = monotonic_ns();
      const std::uint64_t t = tsc_start();
      const std::uint64_t b = monotonic_ns();
      if (b - a < best_width) {
        best_width = b - a;
        ns = a + (b - a) / 2;
        tsc = t;
      }
    }
  };
  std::uint64_t ns0 = 0, tsc0 = 0, ns1 = 0, tsc1 = 0;
  pair(ns0, tsc0);
  while (monotonic_ns() - ns0 < 20'000'000ULL) {
  }
  pair(ns1, tsc1);
  if (tsc1 <= tsc0) return 0.0;
  return static_cast<double>(ns1 - ns0) / static_cast<double>(tsc1 - tsc0);
}
#endif

}  // namespace

Clock Clock::best() {
#if RINGPOOL_BENCH_HAVE_TSC
  static const double ns_per_tick = tsc_invariant() ? calibrate_ns_per_tick() : 0.0;
  if (ns_per_tick > 0.0) return Clock{Kind::tsc, ns_per_tick};
#endif
  return steady();
}

}  // namespace ringpool::bench
