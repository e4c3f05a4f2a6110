#pragma once
// Blocking on top of the non-blocking ring operations: spin, spin-then-yield or
// spin-then-futex, with waiter counters so a publish makes no syscall when nobody sleeps.
//
// Lost-wakeup argument (futex rings): a sleeper increments its waiter counter (seq_cst
// RMW), issues a seq_cst fence, re-checks the ring, and only then sleeps on the event word
// it read *before* incrementing. A publisher stores its index with seq_cst and then loads
// the counter with seq_cst. In the single total order S either the publisher's store
// precedes the sleeper's fence (the re-check sees the new index and does not sleep), or
// the fence, and so the increment, precede the store and hence the publisher's counter
// load, which then sees a waiter: it bumps the event word and wakes. If the bump happens
// between the sleeper's event read and its futex_wait, the kernel's compare fails and the
// wait returns at once.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <thread>

#include "ringpool/ipc/detail/ring_header.hpp"
#include "ringpool/ipc/ring_options.hpp"

namespace ringpool::ipc::detail {

// FUTEX_WAIT (shared) on `word` while it equals `expected`, at most `timeout` (nullopt:
// forever). Returns on wake, value change, timeout or signal; the caller re-checks.
void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                std::optional<std::chrono::nanoseconds> timeout) noexcept;
// FUTEX_WAKE (shared) every waiter on `word`.
void futex_wake_all(std::atomic<std::uint32_t>& word) noexcept;

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// Full fence between the waiter-counter increment and the re-check of the ring. GCC
// refuses atomic_thread_fence under ThreadSanitizer (-Werror=tsan); there the seq_cst RMW
// just before it (a locked instruction on x86, a full barrier in practice on ARMv8 too)
// keeps the re-check after the increment, and TSan needs no fence to see the data races it
// looks for (slot contents are ordered by release/acquire on the indices).
inline void store_load_fence() noexcept {
#if defined(__SANITIZE_THREAD__)
  std::atomic_signal_fence(std::memory_order_seq_cst);
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

// Publisher side, called right after a seq_cst store of an index or slot sequence.
inline void notify(std::atomic<std::uint32_t>& event,
                   std::atomic<std::uint32_t>& waiters) noexcept {
  // seq_cst: pairs with the seq_cst fetch_add + fence in block_until(); see the argument
  // at the top of this file.
  if (waiters.load(std::memory_order_seq_cst) != 0) {
    // release: pairs with the acquire load of the event word in block_until(); the kernel
    // compares the value again under its lock.
    event.fetch_add(1, std::memory_order_release);
    futex_wake_all(event);
  }
}

enum class Side { producer, consumer };

// Runs `try_op` until it returns true (ok), the ring is closed, or `timeout` expires.
// Producers return `closed` as soon as the ring is closed; consumers keep draining and
// return `closed` only when `try_op` fails on a closed ring. `try_op` may throw (blocking
// calls throw IpcError(corrupt_indices) on corrupted state).
template <class TryOp>
OpStatus block_until(RingControl& control, Side side, WaitStrategy strategy,
                     std::uint32_t spin_iterations, std::optional<std::chrono::nanoseconds> timeout,
                     TryOp&& try_op) {
  WaitBlock& wb = control.wait;
  // acquire: pairs with the release store in close(); pushes made before close() are seen.
  if (side == Side::producer && wb.closed.load(std::memory_order_acquire) != 0) {
    return OpStatus::closed;
  }
  if (try_op()) return OpStatus::ok;
  using Clock = std::chrono::steady_clock;
  const bool has_deadline = timeout.has_value();
  const Clock::time_point deadline =
      has_deadline ? Clock::now() + *timeout : Clock::time_point::max();
  auto& event = side == Side::consumer ? wb.data_event : wb.space_event;
  auto& waiters = side == Side::consumer ? wb.data_waiters : wb.space_waiters;
  for (std::uint64_t iteration = 0;; ++iteration) {
    // acquire: pairs with the release store in close().
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
      // acquire: pairs with the release fetch_add in notify().
      const std::uint32_t seen = event.load(std::memory_order_acquire);
      // seq_cst: pairs with the seq_cst load of the counter in notify().
      waiters.fetch_add(1, std::memory_order_seq_cst);
      store_load_fence();  // orders the re-check below after the increment
      bool done = false;
      bool closed_now = false;
      try {
        done = try_op();
        // acquire: pairs with the release store in close_ring().
        closed_now = !done && wb.closed.load(std::memory_order_acquire) != 0;
      } catch (...) {
        // relaxed: only a counter; the throw ends this wait.
        waiters.fetch_sub(1, std::memory_order_relaxed);
        throw;
      }
      if (!done && !closed_now) {
        std::optional<std::chrono::nanoseconds> left;
        if (has_deadline) {
          const auto now = Clock::now();
          left = now >= deadline ? std::chrono::nanoseconds(0) : deadline - now;
        }
        if (!left || left->count() > 0) futex_wait(event, seen, left);
      }
      // relaxed: only a counter; a stale non-zero value costs one spurious wake.
      waiters.fetch_sub(1, std::memory_order_relaxed);
      if (done) return OpStatus::ok;
      continue;  // the loop head handles closed and the deadline
    }
    if (try_op()) return OpStatus::ok;
  }
}

// Marks the ring closed and wakes every sleeper on both sides.
inline void close_ring(RingControl& control) noexcept {
  // seq_cst: pairs with the acquire loads in block_until(); seq_cst so the waiter-counter
  // checks below cannot be ordered before it.
  control.wait.closed.store(1, std::memory_order_seq_cst);
  // release: pairs with the acquire event loads in block_until().
  control.wait.data_event.fetch_add(1, std::memory_order_release);
  control.wait.space_event.fetch_add(1, std::memory_order_release);
  futex_wake_all(control.wait.data_event);
  futex_wake_all(control.wait.space_event);
}

[[nodiscard]] inline bool ring_closed(const RingControl& control) noexcept {
  // acquire: pairs with the release store in close_ring().
  return control.wait.closed.load(std::memory_order_acquire) != 0;
}

}  // namespace ringpool::ipc::detail
