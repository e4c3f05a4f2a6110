#pragma once
// Spinning helpers: PAUSE-based busy waits (BENCHMARKING.md: PAUSE measured faster than a
// bare spin on these VMs) with an optional deadline checked rarely, off the fast path.
#include <chrono>
#include <cstdint>

#include "ringpool/ipc/detail/cpu_relax.hpp"

namespace ringpool::bench {

namespace detail {
// sched_yield(): lets the peer run when CPUs are oversubscribed (a long wait means it is
// not running). Called once per 4096 failed polls, so it costs nothing on a quiet machine.
void yield_cpu() noexcept;
}  // namespace detail

// The project's one spin-wait hint (PAUSE on x86, YIELD on AArch64). Wait-free, any thread.
using ipc::detail::cpu_relax;

// Spins (with PAUSE) until pred() is true or `timeout` elapsed; returns pred()'s final value.
// The clock is read (and the CPU yielded) once every 4096 failed polls so the wait itself
// stays a tight loop.
template <class Pred>
[[nodiscard]] bool spin_until(Pred&& pred, std::chrono::nanoseconds timeout) {
  if (pred()) return true;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (std::uint32_t polls = 1;; ++polls) {
    if (pred()) return true;
    cpu_relax();
    if ((polls & 4095U) == 0) {
      detail::yield_cpu();
      if (std::chrono::steady_clock::now() >= deadline) return pred();
    }
  }
}

// Keeps `value` alive for the optimiser (the result of a benchmarked computation).
template <class T>
inline void do_not_optimize(const T& value) noexcept {
  asm volatile("" : : "r,m"(value) : "memory");
}

}  // namespace ringpool::bench
