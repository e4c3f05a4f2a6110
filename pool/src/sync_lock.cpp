// The robust lock word algorithm (who is calling, take / take over / release) shared by
// Lock, RLock and the locks embedded in Condition, Barrier and Value/Array; Lock and RLock.
//
// The lock: LockState::owner is 0 (free) or pid << 32 | tid of the holder. Taking it is a
// CAS 0 -> me; releasing is a seq_cst store of 0 and a notify_one of `released`. A waiter
// sleeps in slices of kSyncLivenessPeriod; between slices it reads the holder's pid and,
// when that process is gone, CASes the owner word from the dead holder to itself, so
// exactly one waiter takes a dead holder's lock over and no state exists in which the lock
// is held by nobody identifiable (the owner is the only word). Waiters all wait for the
// same unit (a free lock) and try to take it whenever they wake, so notify_one suffices.
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdio>
#include <string>

#include "ringpool/ipc/detail/cpu_relax.hpp"
#include "ringpool/ipc/segment.hpp"
#include "sync_detail.hpp"

namespace ringpool::pool {

namespace detail {

namespace {

constexpr std::uint32_t kSpinBeforeSleep = 100;

// ---- Who is calling: pid << 32 | tid, cached per thread, renewed in a forked child -----

std::atomic<std::uint64_t> g_fork_generation{0};

void on_fork_child() noexcept {
  // relaxed: read by this (the only) thread of the new child right after fork returns.
  g_fork_generation.fetch_add(1, std::memory_order_relaxed);
}

struct IdentityCache {
  std::uint64_t generation = ~std::uint64_t{0};
  std::uint64_t id = 0;
};
thread_local IdentityCache t_identity;

std::uint64_t self_id() noexcept {
  static const int registered = ::pthread_atfork(nullptr, nullptr, on_fork_child);
  (void)registered;
  // relaxed: only on_fork_child() writes it, in the thread that reads it next.
  const std::uint64_t generation = g_fork_generation.load(std::memory_order_relaxed);
  if (t_identity.generation != generation || t_identity.id == 0) {
    t_identity.id = (static_cast<std::uint64_t>(::getpid()) << 32) |
                    static_cast<std::uint64_t>(static_cast<std::uint32_t>(::gettid()));
    t_identity.generation = generation;
  }
  return t_identity.id;
}

std::int64_t pid_of(std::uint64_t id) noexcept {
  return static_cast<std::int64_t>(id >> 32);
}

bool valid_owner(std::uint64_t owner) noexcept {
  const std::uint64_t tid = owner & 0xffffffffULL;
  return valid_pid(pid_of(owner)) && tid >= 1 && tid <= static_cast<std::uint64_t>(INT_MAX);
}

std::string hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

// ---- The lock ------------------------------------------------------------------------

void became_holder(LockState& s) noexcept {
  // relaxed: the depth is read and written by the holding thread only; the next holder
  // reads it after the seq_cst release and its acquire CAS.
  s.depth.store(1, std::memory_order_relaxed);
}

// One CAS 0 -> me.
bool take_free(LockState& s, std::uint64_t me) noexcept {
  std::uint64_t expected = 0;
  // acquire: pairs with the seq_cst store of 0 in lock_release(): the previous holder's
  // writes to what the lock guards are visible to us.
  if (s.owner.compare_exchange_strong(expected, me, std::memory_order_acquire,
                                      std::memory_order_relaxed)) {
    became_holder(s);
    return true;
  }
  return false;
}

// Takes a free lock, or the lock of a holder whose process is gone.
bool take(LockState& s, std::uint64_t me, const char* what) {
  std::uint64_t current = 0;
  // acquire: as in take_free().
  if (s.owner.compare_exchange_strong(current, me, std::memory_order_acquire,
                                      std::memory_order_relaxed)) {
    became_holder(s);
    return true;
  }
  if (!valid_owner(current)) throw_corrupted(what, "an impossible owner word " + hex(current));
  if (pid_of(current) == pid_of(me) || !process_gone(pid_of(current))) return false;
  // acquire: the dead holder's writes (what it managed to do) become visible. Exactly one
  // waiter wins this CAS; the others see `me` and keep waiting.
  if (!s.owner.compare_exchange_strong(current, me, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
    return false;
  }
  became_holder(s);
  // relaxed: read by the new holder (this thread) through holder_died(); cleared before
  // the seq_cst release.
  s.holder_died.store(1, std::memory_order_relaxed);
  return true;
}

bool reenter(LockState& s, std::uint64_t me, const char* what) {
  // relaxed: only this thread can have stored `me`, and it stores 0 before letting go.
  if (s.owner.load(std::memory_order_relaxed) != me) return false;
  // relaxed: written by the holder (this thread) only.
  const std::uint32_t depth = s.depth.load(std::memory_order_relaxed);
  if (depth == 0) throw_corrupted(what, "a recursion depth of 0 while held");
  if (depth == UINT32_MAX) {
    throw InvalidState(std::string("ringpool: ") + what + "::acquire: recursion depth " +
                       std::to_string(depth) + " reached; release it first");
  }
  s.depth.store(depth + 1, std::memory_order_relaxed);
  return true;
}

}  // namespace

bool lock_try_acquire(LockState& state, bool recursive, const char* what) {
  const std::uint64_t me = self_id();
  if (recursive && reenter(state, me, what)) return true;
  return take(state, me, what);
}

bool lock_acquire(LockState& state, SyncDeadline deadline, bool recursive, const char* what) {
  const std::uint64_t me = self_id();
  if (recursive && reenter(state, me, what)) return true;
  for (std::uint32_t spin = 0; spin < kSpinBeforeSleep; ++spin) {
    if (take_free(state, me)) return true;
    ipc::detail::cpu_relax();
  }
  for (;;) {
    if (take(state, me, what)) return true;
    const auto now = Clock::now();
    if (deadline && now >= *deadline) return false;
    auto slice_end = now + kSyncLivenessPeriod;
    if (deadline) slice_end = std::min(slice_end, *deadline);
    const ipc::EventCount::Key key = state.released.prepare_wait();
    // seq_cst: the re-check of the EventCount argument; pairs with the seq_cst store of 0
    // in lock_release() (the publish).
    if (state.owner.load(std::memory_order_seq_cst) == 0) {
      state.released.cancel_wait();
      continue;
    }
    (void)state.released.wait_until(key, slice_end);
  }
}

void lock_release(LockState& state, bool recursive, const char* what) {
  const std::uint64_t me = self_id();
  if (recursive) {
    // relaxed: as in reenter().
    if (state.owner.load(std::memory_order_relaxed) != me) {
      throw InvalidState(std::string("ringpool: ") + what +
                         "::release: the calling thread does not hold it (cannot release an "
                         "un-acquired lock)");
    }
    // relaxed: written by the holder (this thread) only.
    const std::uint32_t depth = state.depth.load(std::memory_order_relaxed);
    if (depth == 0) throw_corrupted(what, "a recursion depth of 0 while held");
    if (depth > 1) {
      state.depth.store(depth - 1, std::memory_order_relaxed);
      return;
    }
  }
  // relaxed (both): ordered before the seq_cst release below, which the next holder's
  // acquire CAS reads.
  state.depth.store(0, std::memory_order_relaxed);
  state.holder_died.store(0, std::memory_order_relaxed);
  // seq_cst: the publish of the EventCount argument for waiters in lock_acquire(); its
  // release half pairs with the acquire CAS of the next holder.
  const std::uint64_t previous = state.owner.exchange(0, std::memory_order_seq_cst);
  if (previous == 0) {
    throw InvalidState(std::string("ringpool: ") + what +
                       "::release: the lock is not locked (release without acquire)");
  }
  state.released.notify_one();
}

bool lock_held_by_caller(const LockState& state) noexcept {
  // relaxed: only this thread can have stored its own id (see reenter()).
  return state.owner.load(std::memory_order_relaxed) == self_id();
}

namespace {
LockRef lock_ref(std::shared_ptr<SyncSegment> segment) {
  LockState* state = state_of<LockState>(*segment);
  return LockRef{std::move(segment), state};
}
}  // namespace

}  // namespace detail

// ---- Lock ----------------------------------------------------------------------------------

Lock::Lock()
    : ref_(detail::lock_ref(detail::make_segment<detail::LockState>(
          {}, {.kind = detail::SyncKind::lock}, SyncOptions{}))) {}

Lock Lock::create(std::string_view name, SyncOptions options) {
  if (name.empty()) throw InvalidArgument("ringpool: Lock::create: the name is empty");
  return Lock(detail::lock_ref(
      detail::make_segment<detail::LockState>(name, {.kind = detail::SyncKind::lock}, options)));
}

Lock Lock::open(std::string_view name, SyncOptions options) {
  return Lock(
      detail::lock_ref(detail::SyncSegment::open(name, detail::SyncKind::lock, "Lock", options)));
}

bool Lock::unlink(std::string_view name) {
  return ipc::Segment::unlink(name);
}

bool Lock::acquire() {
  return detail::lock_acquire(*ref_.state, std::nullopt, false, "Lock");
}

bool Lock::acquire(std::chrono::nanoseconds timeout) {
  if (timeout <= std::chrono::nanoseconds::zero()) return try_acquire();
  return detail::lock_acquire(*ref_.state, detail::deadline_after(timeout), false, "Lock");
}

bool Lock::try_acquire() {
  return detail::lock_try_acquire(*ref_.state, false, "Lock");
}

void Lock::release() {
  detail::lock_release(*ref_.state, false, "Lock");
}

bool Lock::holder_died() const noexcept {
  // relaxed: meant for the holder, which wrote it (or its reset) itself; see take().
  return ref_.state->holder_died.load(std::memory_order_relaxed) != 0;
}

bool Lock::locked() const noexcept {
  // relaxed: an observation only.
  return ref_.state->owner.load(std::memory_order_relaxed) != 0;
}

const std::string& Lock::name() const noexcept {
  return ref_.segment->name();
}

// ---- RLock ---------------------------------------------------------------------------------

RLock::RLock()
    : ref_(detail::lock_ref(detail::make_segment<detail::LockState>(
          {}, {.kind = detail::SyncKind::rlock}, SyncOptions{}))) {}

RLock RLock::create(std::string_view name, SyncOptions options) {
  if (name.empty()) throw InvalidArgument("ringpool: RLock::create: the name is empty");
  return RLock(detail::lock_ref(
      detail::make_segment<detail::LockState>(name, {.kind = detail::SyncKind::rlock}, options)));
}

RLock RLock::open(std::string_view name, SyncOptions options) {
  return RLock(
      detail::lock_ref(detail::SyncSegment::open(name, detail::SyncKind::rlock, "RLock", options)));
}

bool RLock::unlink(std::string_view name) {
  return ipc::Segment::unlink(name);
}

bool RLock::acquire() {
  return detail::lock_acquire(*ref_.state, std::nullopt, true, "RLock");
}

bool RLock::acquire(std::chrono::nanoseconds timeout) {
  if (timeout <= std::chrono::nanoseconds::zero()) return try_acquire();
  return detail::lock_acquire(*ref_.state, detail::deadline_after(timeout), true, "RLock");
}

bool RLock::try_acquire() {
  return detail::lock_try_acquire(*ref_.state, true, "RLock");
}

void RLock::release() {
  detail::lock_release(*ref_.state, true, "RLock");
}

bool RLock::holder_died() const noexcept {
  // relaxed: as Lock::holder_died().
  return ref_.state->holder_died.load(std::memory_order_relaxed) != 0;
}

bool RLock::is_owned() const noexcept {
  return detail::lock_held_by_caller(*ref_.state);
}

const std::string& RLock::name() const noexcept {
  return ref_.segment->name();
}
}  // namespace ringpool::pool
