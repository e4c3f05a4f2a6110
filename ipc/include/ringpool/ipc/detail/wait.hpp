#pragma once
// Blocking on top of the non-blocking ring operations: spin, spin-then-yield, or
// spin-then-sleep on the ring's EventCounts (futex rings). The memory-ordering argument is
// the one at the top of ringpool/ipc/event_count.hpp: on a futex ring every publish is a
// seq_cst store of an index or slot sequence followed by notify_one(), and a sleeper
// re-checks the ring between prepare_wait() and wait().
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <thread>

#include "ringpool/ipc/detail/cpu_relax.hpp"
#include "ringpool/ipc/detail/ring_header.hpp"
#include "ringpool/ipc/event_count.hpp"
#include "ringpool/ipc/ring_options.hpp"

namespace ringpool::ipc::detail {

enum class Side { producer, consumer };

// Runs `try_op` until it returns true (ok), the ring is closed, or `timeout` expires.
// Producers return `closed` as soon as the ring is closed; consumers keep draining and
// return `closed` only when `try_op` fails on a closed ring. `try_op` may throw (blocking
// calls throw IpcError(corrupt_indices) on corrupted state); a sleeper is deregistered first.
template <class TryOp>
OpStatus block_until(RingControl& control, Side side, WaitStrategy strategy,
                     std::uint32_t spin_iterations, std::optional<std::chrono::nanoseconds> timeout,
                     TryOp&& try_op) {
  WaitBlock& wb = control.wait;
  // acquire: pairs with the seq_cst store in close_ring(); pushes made before close() are
  // seen.
  if (side == Side::producer && wb.closed.load(std::memory_order_acquire) != 0) {
    return OpStatus::closed;
  }
  if (try_op()) return OpStatus::ok;
  using Clock = std::chrono::steady_clock;
  const bool has_deadline = timeout.has_value();
  const Clock::time_point deadline =
      has_deadline ? Clock::now() + *timeout : Clock::time_point::max();
  EventCount& event = side == Side::consumer ? wb.data : wb.space;
  for (std::uint64_t iteration = 0;; ++iteration) {
    // acquire: pairs with the seq_cst store in close_ring().
    if (wb.closed.load(std::memory_order_acquire) != 0) {
      if (side == Side::producer) return OpStatus::closed;
      return try_op() ? OpStatus::ok : OpStatus::closed;
    }
    if (has_deadline && ((iteration & 63) == 0 || iteration >= spin_iterations) &&
        Clock::now() >= deadline) {
      return try_op() ? OpStatus::ok : OpStatus::timeout;
    }
    if (iteration < spin_iterations || strategy == WaitStrategy::spin) {
      cpu_relax();
    } else if (strategy == WaitStrategy::yield) {
      std::this_thread::yield();
    } else {
      const EventCount::Key key = event.prepare_wait();
      bool done = false;
      bool closed_now = false;
      try {
        done = try_op();
        // acquire: pairs with the seq_cst store in close_ring() (which then notifies).
        closed_now = !done && wb.closed.load(std::memory_order_acquire) != 0;
      } catch (...) {
        event.cancel_wait();
        throw;
      }
      if (done || closed_now) {
        event.cancel_wait();
        if (done) return OpStatus::ok;
        continue;  // the loop head reports closed
      }
      if (has_deadline) {
        (void)event.wait_until(key, deadline);
      } else {
        (void)event.wait(key);
      }
      continue;  // the loop head handles closed and the deadline
    }
    if (try_op()) return OpStatus::ok;
  }
}

// Marks the ring closed and wakes every sleeper on both sides.
inline void close_ring(RingControl& control) noexcept {
  // seq_cst: the publish of the event-count argument (event_count.hpp): a sleeper either
  // sees it in its re-check or is seen by the notifies below. Pairs with the acquire loads
  // in block_until() and ring_closed().
  control.wait.closed.store(1, std::memory_order_seq_cst);
  control.wait.data.notify_all();
  control.wait.space.notify_all();
}

[[nodiscard]] inline bool ring_closed(const RingControl& control) noexcept {
  // acquire: pairs with the seq_cst store in close_ring().
  return control.wait.closed.load(std::memory_order_acquire) != 0;
}

}  // namespace ringpool::ipc::detail
