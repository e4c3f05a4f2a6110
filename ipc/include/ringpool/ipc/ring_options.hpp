#pragma once
// Options and status codes shared by every ring type.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ringpool::ipc {

// Alignment every ring region needs (Segment mappings are page-aligned; when packing
// several rings into one segment, start each at a multiple of this).
inline constexpr std::size_t kRegionAlignment = 128;

// How a blocking call waits once the ring is full (producer) or empty (consumer).
//  - spin:  busy-spin with the CPU's pause instruction; lowest latency, burns a core.
//  - yield: spin a little, then sched_yield() between checks.
//  - futex: spin a little, then sleep on a 32-bit futex word in the mapping (shared, not
//           FUTEX_PRIVATE_FLAG, so it works across processes). Default.
// The strategy is a property of the ring (stored in its header): on a futex ring every
// publish checks a waiter counter (one full fence, no syscall unless someone sleeps); on
// spin/yield rings publishes are a plain release store. A handle may wait with spin or
// yield on any ring, but may only sleep on the futex of a futex ring.
enum class WaitStrategy : std::uint32_t { spin = 0, yield = 1, futex = 2 };

// Result of a blocking operation.
//  - ok:      done.
//  - timeout: the timeout expired first (nothing was pushed / popped).
//  - closed:  the ring is closed. Producers get it at once; consumers get it only once the
//             ring is closed *and* drained.
enum class OpStatus : std::uint8_t { ok, timeout, closed };

struct RingOptions {
  WaitStrategy wait = WaitStrategy::futex;
  // Busy-spin iterations (with pause) before a yield or futex waiter gives up the CPU.
  std::uint32_t spin_iterations = 2048;
};

[[nodiscard]] constexpr std::string_view to_string(WaitStrategy w) noexcept {
  switch (w) {
    case WaitStrategy::spin:
      return "spin";
    case WaitStrategy::yield:
      return "yield";
    case WaitStrategy::futex:
      return "futex";
  }
  return "unknown";
}

[[nodiscard]] constexpr std::string_view to_string(OpStatus s) noexcept {
  switch (s) {
    case OpStatus::ok:
      return "ok";
    case OpStatus::timeout:
      return "timeout";
    case OpStatus::closed:
      return "closed";
  }
  return "unknown";
}

}  // namespace ringpool::ipc
