#pragma once
// EventCount: the one wait/wake primitive of ringpool. It turns any non-blocking check
// ("is there an item?", "is there room?", "is the result ready?") into a blocking wait without
// a lock, in the spirit of folly's EventCount: a 32-bit futex epoch and a waiter count, eight
// bytes of plain data that may live in shared memory (zero bytes are a valid, idle state).
//
//   Waiter                                       Notifier
//   while (!ready()) {                           make the condition true (see "publish")
//     auto key = ec.prepare_wait();              ec.notify_one();  // or notify_all()
//     if (ready()) { ec.cancel_wait(); break; }
//     ec.wait(key, timeout);   // sleeps unless notified since prepare_wait
//   }                                            (await() is this loop, with a deadline)
//
// After prepare_wait() call exactly one of cancel_wait() or wait(). wait() returns on a
// notify, the timeout, a signal or spuriously: the caller always re-checks its condition.
// notify_*() cost one load of the waiter count, with no syscall and no shared write, when
// nobody waits.
//
// Scope: BasicEventCount<FutexScope::shared> (alias EventCount) works across processes that
// map it; BasicEventCount<FutexScope::process_private> (alias LocalEventCount) only between
// threads of one process, with cheaper futex calls (e.g. futures). The scope is a template
// parameter so that one object is always used with one kind of futex call.
//
// ---- The ordering argument (the only copy; every user of EventCount relies on it) ----------
//
//   Waiter                                       Notifier
//   W1 prepare_wait():                           N1 publish: a seq_cst store or RMW of the
//        waiters.fetch_add(1)          seq_cst        condition's word (or any store followed
//        key = epoch.load()            acquire        by detail::store_load_fence())
//        store_load_fence()                      N2 notify_*():
//   W2 re-check the condition (any order)           waiters.load()              seq_cst
//   W3 wait(key): FUTEX_WAIT(epoch, key)            if non-zero: epoch.fetch_add(1)  release
//                                                                FUTEX_WAKE(epoch)
//
// No lost wake-up. W1's RMW and fence, N1 and N2's load are all in the single total order S
// of seq_cst operations.
//  (a) If N1 precedes W1's fence in S, W2 (sequenced after the fence) reads N1's value or a
//      later one ([atomics.order]: a seq_cst fence orders the loads after it against the
//      seq_cst stores before it in S): the waiter sees the condition and does not sleep.
//  (b) Otherwise the fence precedes N1, so the increment (sequenced before the fence)
//      precedes N1 and N2's load in S, and that load reads the increment or a later value;
//      the count stays non-zero until this waiter's own cancel_wait()/wait() decrement. The
//      notifier bumps the epoch and wakes. If W1's key was read before the bump, the kernel
//      compares the epoch with the key under its futex-bucket lock: either it sees the bump
//      (no sleep) or the waiter is queued before the wake takes that lock and is woken. If
//      the key was read after the bump, the acquire load synchronises with the release
//      bump, so N1 happens before W2 and the re-check sees the condition (no sleep).
// A notifier whose publish is only a release store must call detail::store_load_fence()
// between the store and notify_*(): the release store alone may be ordered after the load
// of the waiter count (store-load reordering), which breaks (a)/(b).
//
// ThreadSanitizer: GCC refuses std::atomic_thread_fence under -fsanitize=thread
// (-Werror=tsan), so store_load_fence() is only a compiler barrier there. On x86 (where the
// TSan presets run) the waiter's seq_cst fetch_add is a locked instruction, itself a full
// barrier, and a seq_cst store is an xchg; TSan checks data races, which are ordered by the
// release/acquire pairs of the structures themselves, not by these fences.
//
// Hostile shared memory: a peer can write anything into these eight bytes. A wrong epoch
// costs a spurious wake-up; a large waiter count costs syscalls on every notify; a waiter
// count forced to 0 can delay a wake-up until the waiter's timeout. Nothing here loops on a
// value read from shared memory, and every wait honours the caller's timeout.
//
// The epoch is 32 bits (the futex word size): a waiter could sleep through exactly 2^32
// notifies that happened between its prepare_wait() and its FUTEX_WAIT (an ABA on the
// epoch). A timeout bounds even that.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <type_traits>

#include "ringpool/ipc/detail/futex.hpp"

namespace ringpool::ipc {

namespace detail {
// Full fence between a store and a following load of another location (the Dekker pair
// above). A compiler barrier under ThreadSanitizer, see the argument above.
inline void store_load_fence() noexcept {
#if defined(__SANITIZE_THREAD__)
  std::atomic_signal_fence(std::memory_order_seq_cst);
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}
}  // namespace detail

template <FutexScope Scope>
class BasicEventCount {
 public:
  // The epoch seen by prepare_wait(); pass it to wait().
  class Key {
   public:
    [[nodiscard]] std::uint32_t epoch() const noexcept { return epoch_; }

   private:
    friend class BasicEventCount;
    explicit Key(std::uint32_t epoch) noexcept : epoch_(epoch) {}
    std::uint32_t epoch_;
  };

  static constexpr FutexScope kScope = Scope;

  constexpr BasicEventCount() noexcept = default;
  BasicEventCount(const BasicEventCount&) = delete;
  BasicEventCount& operator=(const BasicEventCount&) = delete;

  // Registers the caller as a waiter and returns the current epoch. Then re-check the
  // condition and call cancel_wait() (it holds) or wait() (it does not). Any thread.
  [[nodiscard]] Key prepare_wait() noexcept {
    // seq_cst: W1 of the argument above; pairs with the seq_cst load in notify_*().
    waiters_.fetch_add(1, std::memory_order_seq_cst);
    // acquire: pairs with the release bump in notify_*(); a key that already includes a
    // bump makes the publish before it visible to the re-check.
    const std::uint32_t epoch = epoch_.load(std::memory_order_acquire);
    detail::store_load_fence();  // orders the caller's re-check after the increment
    return Key(epoch);
  }

  // Undoes prepare_wait() when the re-check found the condition true (or the caller gives
  // up, e.g. on a throw or an expired deadline).
  void cancel_wait() noexcept {
    // relaxed: the caller is not going to sleep; a stale non-zero count costs one
    // unneeded wake syscall in a notifier, nothing else.
    waiters_.fetch_sub(1, std::memory_order_relaxed);
  }

  // Sleeps unless the epoch moved since prepare_wait(); at most `timeout` (nullopt: no
  // limit). Returns true when a notify happened since prepare_wait() (the epoch moved),
  // false on timeout, signal or a spurious wake-up. Deregisters the waiter either way.
  bool wait(Key key, std::optional<std::chrono::nanoseconds> timeout = std::nullopt) noexcept {
    // acquire (both): pair with the release bump in notify_*().
    bool moved = epoch_.load(std::memory_order_acquire) != key.epoch_;
    if (!moved && (!timeout || timeout->count() > 0)) {
      detail::futex_wait(epoch_, key.epoch_, timeout, Scope);
      moved = epoch_.load(std::memory_order_acquire) != key.epoch_;
    }
    // release: the decrement is not visible before this thread has left the futex queue,
    // so a notifier cannot see "no waiter" while this thread still sleeps.
    waiters_.fetch_sub(1, std::memory_order_release);
    return moved;
  }
  // Same with an absolute deadline.
  bool wait_until(Key key, std::chrono::steady_clock::time_point deadline) noexcept {
    const auto left = deadline - std::chrono::steady_clock::now();
    return wait(key, std::chrono::duration_cast<std::chrono::nanoseconds>(left));
  }

  // The whole waiter loop: returns true once ready() holds, false when `deadline` passed
  // first (ready() is tried once more at the deadline). ready() may throw: the waiter is
  // deregistered and the exception propagates.
  template <class Ready>
  bool await(Ready&& ready,
             std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt) {
    for (;;) {
      if (ready()) return true;
      const Key key = prepare_wait();
      bool now_ready = false;
      try {
        now_ready = ready();
      } catch (...) {
        cancel_wait();
        throw;
      }
      if (now_ready) {
        cancel_wait();
        return true;
      }
      if (deadline && std::chrono::steady_clock::now() >= *deadline) {
        cancel_wait();
        return ready();
      }
      if (deadline) {
        (void)wait_until(key, *deadline);
      } else {
        (void)wait(key);
      }
    }
  }

  // Wakes one sleeping waiter (if any); other registered waiters that have not slept yet
  // see the new epoch and return. Use it only when each notify makes one unit available
  // (one item, one free slot) and every waiter of this EventCount waits for such a unit
  // and, once woken, tries to take one before sleeping again: a waiter for something else
  // (or one that gives up without trying) can absorb the wake-up while a waiter that
  // needed it sleeps on. Otherwise use notify_all().
  void notify_one() noexcept { notify(1); }
  // Wakes every waiter: for state changes that concern all of them (close, shutdown).
  void notify_all() noexcept { notify(0); }

  // Back to the idle state (epoch kept, no waiter). Precondition: no thread or process is
  // between prepare_wait() and cancel_wait()/wait() (e.g. the only other user died while
  // registered, which left its count behind).
  void reset() noexcept {
    // relaxed: by the precondition nobody else uses the object now; the next hand-off to
    // another thread or process (fork, a start flag) publishes the store.
    waiters_.store(0, std::memory_order_relaxed);
  }

  // Registered waiters as seen now (racy; tests and diagnostics).
  [[nodiscard]] std::uint32_t waiters_approx() const noexcept {
    // relaxed: an observation only.
    return waiters_.load(std::memory_order_relaxed);
  }

 private:
  void notify(int count) noexcept {
    // seq_cst: N2 of the argument above; pairs with the seq_cst fetch_add in prepare_wait().
    if (waiters_.load(std::memory_order_seq_cst) == 0) return;
    // release: pairs with the acquire loads of the epoch in prepare_wait() and wait().
    epoch_.fetch_add(1, std::memory_order_release);
    if (count == 1) {
      detail::futex_wake_one(epoch_, Scope);
    } else {
      detail::futex_wake_all(epoch_, Scope);
    }
  }

  std::atomic<std::uint32_t> epoch_{0};    // the futex word
  std::atomic<std::uint32_t> waiters_{0};  // threads between prepare_wait and cancel/wait
};

// Cross-process (shared futex): for event counts placed in shared memory.
using EventCount = BasicEventCount<FutexScope::shared>;
// One process (FUTEX_PRIVATE_FLAG): cheaper, for event counts in process-local memory.
using LocalEventCount = BasicEventCount<FutexScope::process_private>;

static_assert(std::is_standard_layout_v<EventCount>);
static_assert(sizeof(EventCount) == 8 && alignof(EventCount) == 4);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

}  // namespace ringpool::ipc
