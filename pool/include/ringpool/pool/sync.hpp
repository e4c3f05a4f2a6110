#pragma once
// Cross-process synchronisation: Python's multiprocessing.Lock, RLock, Semaphore,
// BoundedSemaphore, Event, Condition and Barrier, in shared memory.
//
//   ringpool::pool::Lock lock;                       // before fork: children inherit it
//   Process p([lock]() mutable { std::scoped_lock hold(lock); ... });
//   p.start();
//   { std::scoped_lock hold(lock); ... }
//
// Handing objects to other processes, as a Queue: create the object before the Process or
// Pool that uses it and capture the handle (copies of a handle all refer to the same
// object; the anonymous mapping is inherited across fork). Unrelated or spawn-started
// processes use the named form: X::create("name", ...) in one, X::open("name") in the
// others (the segment is created O_EXCL, mode 0600, and validated on open: another kind of
// object, another format version or a wrong size is refused with InvalidArgument).
//
// Robustness, where Python's objects hang:
//  - A Lock (RLock, the lock of a Condition, Value or Array) whose holder process died is
//    handed to the next acquirer, and holder_died() then returns true until release(): the
//    data it guards may be half-updated. (Python: every later acquire blocks forever.)
//  - A Barrier with a party that died inside wait() breaks (BrokenBarrier) instead of
//    hanging the other parties.
//  - Every blocking call takes a timeout and honours it; shared state that cannot be valid
//    (a peer wrote garbage into the mapping) throws Corrupted instead of crashing or
//    spinning.
// How a dead process is recognised: the holder's pid is stored with the lock; a waiter
// checks it every kSyncLivenessPeriod with kill(pid, 0) (ESRCH: gone) and /proc/<pid>/stat
// (state Z or X: a zombie not yet reaped counts as dead). The futex robust-list protocol
// (FUTEX_OWNER_DIED) was not used: a thread has one robust list, owned by glibc for its
// pthread mutexes, and the kernel hands ownership over only for the futex-word format
// that list describes. Limits: processes must share a pid namespace, and a recycled pid
// makes a dead holder look alive (its waiters then wait until their timeout).
//
// Not covered: a Semaphore does not know who took its units (Python's neither): a process
// that dies holding units does not give them back.
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "ringpool/pool/detail/sync_layout.hpp"
#include "ringpool/pool/errors.hpp"

namespace ringpool::pool {

// Every member has an initialiser, so designated initialisers may name any subset.
struct SyncOptions {
  // Named objects: the creating handle (and its copies in the creating process) remove
  // the name from /dev/shm when the last of them goes away; openers keep their mapping.
  // The resource tracker removes it if the creator dies by a signal.
  bool unlink_on_destroy = true;
  // Named objects: permission bits of the segment.
  mode_t mode = 0600;
  // Named objects, open: accept a segment owned by another uid or open to group/other.
  bool allow_untrusted = false;
};

// How often a blocked waiter checks that the holder of a lock (or a barrier's parties)
// still exist.
inline constexpr std::chrono::milliseconds kSyncLivenessPeriod{50};

namespace detail {

using SyncDeadline = std::optional<std::chrono::steady_clock::time_point>;

// The segment of one object (sync_segment.cpp): created or opened, header validated.
class SyncSegment {
 public:
  struct Spec {
    SyncKind kind = SyncKind::lock;
    std::size_t tail_bytes = 0;  // bytes after kSyncTailOffset
    std::uint64_t count = 0;
    std::uint64_t bound = 0;
    std::uint64_t type_tag = 0;
    std::uint32_t flags = 0;
  };
  // An empty name makes an anonymous segment (inherited across fork). The state is
  // zero-filled, the idle state of every object; `init` may write initial values before
  // the header is published.
  static std::shared_ptr<SyncSegment> create(std::string_view name, const Spec& spec,
                                             const SyncOptions& options,
                                             const std::function<void(SyncSegment&)>& init = {});
  // Opens and validates a named segment of `kind`. Throws InvalidArgument when it is not
  // such an object (the message names `what`, e.g. "Lock"), ipc::IpcError when the name
  // cannot be opened.
  static std::shared_ptr<SyncSegment> open(std::string_view name, SyncKind kind, const char* what,
                                           const SyncOptions& options);

  SyncSegment(const SyncSegment&) = delete;
  SyncSegment& operator=(const SyncSegment&) = delete;
  ~SyncSegment();

  [[nodiscard]] const SyncHeader& header() const noexcept;
  [[nodiscard]] std::byte* state() const noexcept;
  [[nodiscard]] std::byte* tail() const noexcept;
  [[nodiscard]] std::size_t tail_bytes() const noexcept;
  [[nodiscard]] const std::string& name() const noexcept;

 private:
  struct Impl;
  explicit SyncSegment(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

// The lock algorithm shared by Lock, RLock and the embedded locks (sync_lock.cpp).
// acquire: true when taken (then depth is 1, or one more for a recursive re-acquire),
// false when the deadline passed first. Throws Corrupted on an impossible owner word.
bool lock_acquire(LockState& state, SyncDeadline deadline, bool recursive, const char* what);
bool lock_try_acquire(LockState& state, bool recursive, const char* what);
// release: InvalidState when not held (recursive: not held by the calling thread).
void lock_release(LockState& state, bool recursive, const char* what);
// True when the calling thread holds the lock.
bool lock_held_by_caller(const LockState& state) noexcept;

template <class T>
class SharedValues;  // shared_value.hpp

// A handle's view of a lock in some segment.
struct LockRef {
  std::shared_ptr<SyncSegment> segment;
  LockState* state = nullptr;
};

}  // namespace detail

// multiprocessing.Lock: a non-recursive lock any thread of any process may release.
// Thread-safe; handles are cheap to copy.
class Lock {
 public:
  // An anonymous lock, for this process and the children it starts after.
  Lock();
  // Named lock (O_EXCL: ipc::IpcError already_exists when the name is taken).
  [[nodiscard]] static Lock create(std::string_view name, SyncOptions options = {});
  // Opens a named lock; InvalidArgument when the segment is not a ringpool Lock.
  [[nodiscard]] static Lock open(std::string_view name, SyncOptions options = {});
  // Removes a name (its users keep their mappings); false if it did not exist.
  static bool unlink(std::string_view name);

  // Blocks until the lock is taken; returns true (Python's acquire()).
  bool acquire();
  // Waits at most `timeout` (<= 0: one attempt); false when still held by another.
  [[nodiscard]] bool acquire(std::chrono::nanoseconds timeout);
  // Never waits (Python's acquire(block=False)).
  [[nodiscard]] bool try_acquire();
  // Frees the lock; InvalidState when it is not locked. Any thread or process may call it.
  void release();

  // std::Lockable, for std::scoped_lock / std::unique_lock.
  void lock() { (void)acquire(); }
  [[nodiscard]] bool try_lock() { return try_acquire(); }
  void unlock() { release(); }

  // True while the lock is held by an acquirer that took it over from a holder process
  // that died holding it: what the lock guards may be inconsistent. Meant for the holder
  // (right after acquire/lock); release() clears it.
  [[nodiscard]] bool holder_died() const noexcept;
  // Racy observation: is the lock held now?
  [[nodiscard]] bool locked() const noexcept;
  // "/name" for a named lock, empty for an anonymous one.
  [[nodiscard]] const std::string& name() const noexcept;

 private:
  friend class Condition;
  explicit Lock(detail::LockRef ref) noexcept : ref_(std::move(ref)) {}
  detail::LockRef ref_;
};

// multiprocessing.RLock: recursive; only the thread that holds it may release it, once per
// acquire. Robust as Lock (a taker-over gets depth 1 and holder_died()).
class RLock {
 public:
  RLock();
  [[nodiscard]] static RLock create(std::string_view name, SyncOptions options = {});
  [[nodiscard]] static RLock open(std::string_view name, SyncOptions options = {});
  static bool unlink(std::string_view name);

  bool acquire();
  [[nodiscard]] bool acquire(std::chrono::nanoseconds timeout);
  [[nodiscard]] bool try_acquire();
  // InvalidState when the calling thread does not hold it.
  void release();

  void lock() { (void)acquire(); }
  [[nodiscard]] bool try_lock() { return try_acquire(); }
  void unlock() { release(); }

  [[nodiscard]] bool holder_died() const noexcept;
  // True when the calling thread holds it.
  [[nodiscard]] bool is_owned() const noexcept;
  [[nodiscard]] const std::string& name() const noexcept;

 private:
  template <class T>
  friend class detail::SharedValues;
  explicit RLock(detail::LockRef ref) noexcept : ref_(std::move(ref)) {}
  detail::LockRef ref_;
};

// multiprocessing.Semaphore(value): a counter; acquire takes a unit, waiting while there
// is none; release adds units.
class Semaphore {
 public:
  explicit Semaphore(std::uint64_t value = 1);
  [[nodiscard]] static Semaphore create(std::string_view name, std::uint64_t value = 1,
                                        SyncOptions options = {});
  [[nodiscard]] static Semaphore open(std::string_view name, SyncOptions options = {});
  static bool unlink(std::string_view name);

  bool acquire();
  [[nodiscard]] bool acquire(std::chrono::nanoseconds timeout);
  [[nodiscard]] bool try_acquire();
  // Adds n units (n >= 1) and wakes waiters. Corrupted if the value would overflow.
  void release(std::uint64_t n = 1);
  // Racy observation (Python's get_value()).
  [[nodiscard]] std::uint64_t value_approx() const noexcept;

  void lock() { (void)acquire(); }
  [[nodiscard]] bool try_lock() { return try_acquire(); }
  void unlock() { release(); }

 protected:
  Semaphore(std::shared_ptr<detail::SyncSegment> segment, bool bounded) noexcept;
  std::shared_ptr<detail::SyncSegment> segment_;
  detail::SemaphoreState* state_ = nullptr;
  bool bounded_ = false;
  std::uint64_t bound_ = 0;  // BoundedSemaphore: the initial value
};

// multiprocessing.BoundedSemaphore(value): release() past the initial value throws
// SemaphoreOverflow (Python's ValueError) and changes nothing.
class BoundedSemaphore : public Semaphore {
 public:
  explicit BoundedSemaphore(std::uint64_t value = 1);
  [[nodiscard]] static BoundedSemaphore create(std::string_view name, std::uint64_t value = 1,
                                               SyncOptions options = {});
  [[nodiscard]] static BoundedSemaphore open(std::string_view name, SyncOptions options = {});
  [[nodiscard]] std::uint64_t bound() const noexcept { return bound_; }

 private:
  using Semaphore::Semaphore;
};

// multiprocessing.Event: a flag; wait() blocks until it is set.
class Event {
 public:
  Event();
  [[nodiscard]] static Event create(std::string_view name, SyncOptions options = {});
  [[nodiscard]] static Event open(std::string_view name, SyncOptions options = {});
  static bool unlink(std::string_view name);

  // Sets the flag and wakes every waiter.
  void set();
  void clear();
  // Corrupted when the flag holds neither 0 nor 1.
  [[nodiscard]] bool is_set() const;
  // Blocks until set; returns true.
  bool wait();
  // Waits at most `timeout`; returns the flag (false: timed out).
  [[nodiscard]] bool wait(std::chrono::nanoseconds timeout);

 private:
  explicit Event(std::shared_ptr<detail::SyncSegment> segment) noexcept;
  bool wait_until(detail::SyncDeadline deadline);
  std::shared_ptr<detail::SyncSegment> segment_;
  detail::EventState* state_ = nullptr;
};

// multiprocessing.Condition over a Lock (Python's default is an RLock; here a Lock, whose
// owner is known exactly, so wait() on an unheld lock is refused as Python refuses it).
// wait() may return without a notify (a spurious wake-up, as std::condition_variable):
// re-check the predicate, or use wait_for(pred).
class Condition {
 public:
  // With its own Lock in the condition's segment.
  Condition();
  // Over `lock` (anonymous condition): any number of conditions may share one Lock.
  explicit Condition(Lock lock);
  // Named: the condition and its own lock in one segment.
  [[nodiscard]] static Condition create(std::string_view name, SyncOptions options = {});
  [[nodiscard]] static Condition open(std::string_view name, SyncOptions options = {});
  static bool unlink(std::string_view name);

  // The underlying lock (the same object: acquire/release through either).
  [[nodiscard]] Lock& get_lock() noexcept { return lock_; }
  bool acquire() { return lock_.acquire(); }
  [[nodiscard]] bool acquire(std::chrono::nanoseconds timeout) { return lock_.acquire(timeout); }
  void release() { lock_.release(); }
  void lock() { lock_.lock(); }
  [[nodiscard]] bool try_lock() { return lock_.try_lock(); }
  void unlock() { lock_.unlock(); }

  // Precondition: the calling thread holds the lock (InvalidState otherwise). Releases
  // it, sleeps until notified (or the timeout), re-acquires it (without a time limit, as
  // Python). Returns false when the timeout expired without a notify.
  bool wait();
  [[nodiscard]] bool wait(std::chrono::nanoseconds timeout);
  // Python's wait_for(predicate, timeout): waits until pred() (called with the lock held)
  // is true; returns the last value of pred().
  template <class Pred>
  bool wait_for(Pred pred) {
    while (!pred()) (void)wait();
    return true;
  }
  template <class Pred>
  bool wait_for(Pred pred, std::chrono::nanoseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    bool result = pred();
    while (!result) {
      const auto left = deadline - std::chrono::steady_clock::now();
      if (left <= std::chrono::nanoseconds::zero()) break;
      (void)wait(std::chrono::duration_cast<std::chrono::nanoseconds>(left));
      result = pred();
    }
    return result;
  }
  // Precondition: the calling thread holds the lock. Wakes at least min(n, waiting)
  // waiters (n > 1 may wake all of them).
  void notify(std::size_t n = 1);
  void notify_all();

 private:
  Condition(std::shared_ptr<detail::SyncSegment> segment, Lock lock) noexcept;
  explicit Condition(std::shared_ptr<detail::SyncSegment> segment);  // with its own lock
  bool wait_impl(detail::SyncDeadline deadline);
  void check_owned(const char* operation) const;
  std::shared_ptr<detail::SyncSegment> segment_;
  detail::ConditionState* state_ = nullptr;
  Lock lock_;
};

// multiprocessing.Barrier(parties, action): wait() returns once `parties` parties called
// it, each with a distinct index in [0, parties); the last to arrive runs `action` first.
// Broken (BrokenBarrier from wait) by abort(), by reset() while parties wait, by a wait()
// timeout, by an action that throws (in the party that ran it, the action's exception
// instead), and -- unlike Python -- by a party that dies inside wait().
// The action runs under the barrier's internal lock, as in Python: other parties' calls
// wait for it to return (beyond their timeouts), so keep it short.
class Barrier {
 public:
  // Each handle runs its own copy of `action` (a forked child inherits the parent's).
  explicit Barrier(std::size_t parties, std::function<void()> action = {});
  [[nodiscard]] static Barrier create(std::string_view name, std::size_t parties,
                                      std::function<void()> action = {}, SyncOptions options = {});
  [[nodiscard]] static Barrier open(std::string_view name, std::function<void()> action = {},
                                    SyncOptions options = {});
  static bool unlink(std::string_view name);

  // Returns this party's arrival index. Throws BrokenBarrier.
  std::size_t wait();
  // As wait(); a timeout breaks the barrier (as Python) and throws BrokenBarrier.
  std::size_t wait(std::chrono::nanoseconds timeout);
  // Back to the empty state; parties waiting now get BrokenBarrier.
  void reset();
  // Breaks the barrier: waiting and future wait() calls throw BrokenBarrier until reset().
  void abort();

  [[nodiscard]] std::size_t parties() const noexcept { return parties_; }
  // Parties waiting in the current cycle (racy observation).
  [[nodiscard]] std::size_t n_waiting() const;
  [[nodiscard]] bool broken() const;

 private:
  Barrier(std::shared_ptr<detail::SyncSegment> segment, std::function<void()> action);
  std::size_t wait_impl(detail::SyncDeadline deadline);
  std::shared_ptr<detail::SyncSegment> segment_;
  detail::BarrierState* state_ = nullptr;
  std::size_t parties_ = 0;
  std::function<void()> action_;
};

}  // namespace ringpool::pool
