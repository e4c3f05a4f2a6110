// Semaphore, BoundedSemaphore, Event and Condition: the objects whose waiters sleep on an
// ipc::EventCount until a state word changes (Condition: until a notify, under its Lock).
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>

#include "ringpool/ipc/segment.hpp"
#include "sync_detail.hpp"

namespace ringpool::pool {

using detail::Clock;

// ---- Semaphore, BoundedSemaphore -----------------------------------------------------------

namespace {
std::shared_ptr<detail::SyncSegment> semaphore_segment(std::string_view name, std::uint64_t value,
                                                       bool bounded, const SyncOptions& options) {
  detail::SyncSegment::Spec spec{
      .kind = bounded ? detail::SyncKind::bounded_semaphore : detail::SyncKind::semaphore,
      .bound = bounded ? value : 0};
  return detail::make_segment<detail::SemaphoreState>(
      name, spec, options, [value](detail::SemaphoreState& s) {
        // relaxed: published with the header by the release store of its magic (named) or
        // by the fork that hands the mapping over (anonymous).
        s.value.store(value, std::memory_order_relaxed);
      });
}
}  // namespace

Semaphore::Semaphore(std::shared_ptr<detail::SyncSegment> segment, bool bounded) noexcept
    : segment_(std::move(segment)),
      state_(detail::state_of<detail::SemaphoreState>(*segment_)),
      bounded_(bounded),
      bound_(segment_->header().bound) {}

Semaphore::Semaphore(std::uint64_t value)
    : Semaphore(semaphore_segment({}, value, false, {}), false) {}

Semaphore Semaphore::create(std::string_view name, std::uint64_t value, SyncOptions options) {
  if (name.empty()) throw InvalidArgument("ringpool: Semaphore::create: the name is empty");
  return Semaphore(semaphore_segment(name, value, false, options), false);
}

Semaphore Semaphore::open(std::string_view name, SyncOptions options) {
  return Semaphore(
      detail::SyncSegment::open(name, detail::SyncKind::semaphore, "Semaphore", options), false);
}

bool Semaphore::unlink(std::string_view name) {
  return ipc::Segment::unlink(name);
}

bool Semaphore::try_acquire() {
  // relaxed: a first guess; the CAS decides.
  std::uint64_t v = state_->value.load(std::memory_order_relaxed);
  while (v > 0) {
    // acquire: pairs with the seq_cst CAS in release(): what the releaser did before is
    // visible to the taker of its unit.
    if (state_->value.compare_exchange_weak(v, v - 1, std::memory_order_acquire,
                                            std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}

bool Semaphore::acquire() {
  // An empty ready() loop on the EventCount: try_acquire takes a unit when it can.
  return state_->posted.await([this] { return try_acquire(); });
}

bool Semaphore::acquire(std::chrono::nanoseconds timeout) {
  if (timeout <= std::chrono::nanoseconds::zero()) return try_acquire();
  return state_->posted.await([this] { return try_acquire(); }, detail::deadline_after(timeout));
}

void Semaphore::release(std::uint64_t n) {
  const char* what = bounded_ ? "BoundedSemaphore" : "Semaphore";
  if (n == 0) throw InvalidArgument(std::string("ringpool: ") + what + "::release(0)");
  // relaxed: a first guess; the CAS decides.
  std::uint64_t v = state_->value.load(std::memory_order_relaxed);
  for (;;) {
    if (bounded_ && v > bound_) {
      detail::throw_corrupted(
          what, "a value of " + std::to_string(v) + " above its bound " + std::to_string(bound_));
    }
    if (bounded_ && n > bound_ - v) {
      throw SemaphoreOverflow(
          "ringpool: BoundedSemaphore::release: released too many times "
          "(value " +
          std::to_string(v) + " + " + std::to_string(n) + " would exceed its initial value " +
          std::to_string(bound_) + ")");
    }
    if (n > UINT64_MAX - v) detail::throw_corrupted(what, "a value about to overflow");
    // seq_cst: the publish of the EventCount argument for waiters in acquire(); its release
    // half pairs with the acquire CAS in try_acquire().
    if (state_->value.compare_exchange_weak(v, v + n, std::memory_order_seq_cst,
                                            std::memory_order_relaxed)) {
      break;
    }
  }
  // Each unit can be taken by one waiter, and every waiter tries to take one when woken.
  if (n == 1) {
    state_->posted.notify_one();
  } else {
    state_->posted.notify_all();
  }
}

std::uint64_t Semaphore::value_approx() const noexcept {
  // relaxed: an observation only.
  return state_->value.load(std::memory_order_relaxed);
}

BoundedSemaphore::BoundedSemaphore(std::uint64_t value)
    : Semaphore(semaphore_segment({}, value, true, {}), true) {}

BoundedSemaphore BoundedSemaphore::create(std::string_view name, std::uint64_t value,
                                          SyncOptions options) {
  if (name.empty()) throw InvalidArgument("ringpool: BoundedSemaphore::create: the name is empty");
  return BoundedSemaphore(semaphore_segment(name, value, true, options), true);
}

BoundedSemaphore BoundedSemaphore::open(std::string_view name, SyncOptions options) {
  return BoundedSemaphore(detail::SyncSegment::open(name, detail::SyncKind::bounded_semaphore,
                                                    "BoundedSemaphore", options),
                          true);
}

// ---- Event ---------------------------------------------------------------------------------

Event::Event(std::shared_ptr<detail::SyncSegment> segment) noexcept
    : segment_(std::move(segment)), state_(detail::state_of<detail::EventState>(*segment_)) {}

Event::Event()
    : Event(detail::make_segment<detail::EventState>({}, {.kind = detail::SyncKind::event}, {})) {}

Event Event::create(std::string_view name, SyncOptions options) {
  if (name.empty()) throw InvalidArgument("ringpool: Event::create: the name is empty");
  return Event(
      detail::make_segment<detail::EventState>(name, {.kind = detail::SyncKind::event}, options));
}

Event Event::open(std::string_view name, SyncOptions options) {
  return Event(detail::SyncSegment::open(name, detail::SyncKind::event, "Event", options));
}

bool Event::unlink(std::string_view name) {
  return ipc::Segment::unlink(name);
}

void Event::set() {
  // seq_cst: the publish of the EventCount argument for waiters in wait(); its release
  // half pairs with the acquire load in is_set().
  state_->flag.store(1, std::memory_order_seq_cst);
  state_->changed.notify_all();
}

void Event::clear() {
  // relaxed: clearing publishes nothing; a waiter that reads 0 waits for the next set().
  state_->flag.store(0, std::memory_order_relaxed);
}

bool Event::is_set() const {
  // acquire: pairs with the seq_cst store in set(): what the setter did before set() is
  // visible to a caller that sees the flag.
  const std::uint32_t flag = state_->flag.load(std::memory_order_acquire);
  if (flag > 1) detail::throw_corrupted("Event", "a flag of " + std::to_string(flag));
  return flag == 1;
}

bool Event::wait_until(detail::SyncDeadline deadline) {
  return state_->changed.await([this] { return is_set(); }, deadline);
}

bool Event::wait() {
  return wait_until(std::nullopt);
}

bool Event::wait(std::chrono::nanoseconds timeout) {
  if (timeout <= std::chrono::nanoseconds::zero()) return is_set();
  return wait_until(detail::deadline_after(timeout));
}

// ---- Condition -----------------------------------------------------------------------------

Condition::Condition(std::shared_ptr<detail::SyncSegment> segment, Lock lock) noexcept
    : segment_(std::move(segment)),
      state_(detail::state_of<detail::ConditionState>(*segment_)),
      lock_(std::move(lock)) {}

Condition::Condition(std::shared_ptr<detail::SyncSegment> segment)
    : segment_(std::move(segment)),
      state_(detail::state_of<detail::ConditionState>(*segment_)),
      lock_(detail::LockRef{segment_, &state_->lock}) {}

Condition::Condition()
    : Condition(detail::make_segment<detail::ConditionState>(
          {}, {.kind = detail::SyncKind::condition}, {})) {}

Condition::Condition(Lock lock)
    : Condition(detail::make_segment<detail::ConditionState>(
                    {}, {.kind = detail::SyncKind::condition}, {}),
                std::move(lock)) {}

Condition Condition::create(std::string_view name, SyncOptions options) {
  if (name.empty()) throw InvalidArgument("ringpool: Condition::create: the name is empty");
  return Condition(detail::make_segment<detail::ConditionState>(
      name, {.kind = detail::SyncKind::condition}, options));
}

Condition Condition::open(std::string_view name, SyncOptions options) {
  return Condition(
      detail::SyncSegment::open(name, detail::SyncKind::condition, "Condition", options));
}

bool Condition::unlink(std::string_view name) {
  return ipc::Segment::unlink(name);
}

void Condition::check_owned(const char* operation) const {
  if (!detail::lock_held_by_caller(*lock_.ref_.state)) {
    throw InvalidState(std::string("ringpool: Condition::") + operation +
                       ": the calling thread does not hold the condition's lock (cannot " +
                       operation + " on an un-acquired lock); acquire it first");
  }
}

bool Condition::wait_impl(detail::SyncDeadline deadline) {
  check_owned("wait");
  // Registered before the lock is released: a notify by whoever takes the lock next
  // moves the epoch past this key (the lock's release/acquire orders the registration
  // before that notifier's load of the waiter count).
  ipc::EventCount::Key key = state_->notified.prepare_wait();
  try {
    lock_.release();
  } catch (...) {
    state_->notified.cancel_wait();
    throw;
  }
  bool notified = false;
  for (;;) {
    notified = deadline ? state_->notified.wait_until(key, *deadline) : state_->notified.wait(key);
    if (notified || (deadline && Clock::now() >= *deadline)) break;
    // A signal or a spurious wake-up: register again. A notify since the first key moved
    // the epoch, which the new key shows.
    const ipc::EventCount::Key again = state_->notified.prepare_wait();
    if (again.epoch() != key.epoch()) {
      state_->notified.cancel_wait();
      notified = true;
      break;
    }
    key = again;
  }
  lock_.acquire();
  return notified;
}

bool Condition::wait() {
  return wait_impl(std::nullopt);
}

bool Condition::wait(std::chrono::nanoseconds timeout) {
  return wait_impl(detail::deadline_after(std::max(timeout, std::chrono::nanoseconds::zero())));
}

void Condition::notify(std::size_t n) {
  check_owned("notify");
  if (n == 0) return;
  if (n == 1) {
    state_->notified.notify_one();
  } else {
    state_->notified.notify_all();
  }
}

void Condition::notify_all() {
  check_owned("notify_all");
  state_->notified.notify_all();
}

}  // namespace ringpool::pool
