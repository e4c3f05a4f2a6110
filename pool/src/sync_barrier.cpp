// Barrier: Python's threading.Barrier across processes, robust against a party that dies
// inside wait().
//
// The Barrier is Python's threading.Barrier algorithm (phases filling / draining /
// resetting / broken, a count of parties inside wait()) under an embedded robust lock,
// plus one slot per party holding the pid of each party inside wait(): waiters wake every
// kSyncLivenessPeriod and drop the slots of processes that are gone, which breaks a
// filling barrier.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <new>
#include <span>
#include <string>

#include "ringpool/ipc/segment.hpp"
#include "sync_detail.hpp"

namespace ringpool::pool {

using detail::Clock;

// ---- Barrier -------------------------------------------------------------------------------

namespace {

constexpr std::size_t kMaxBarrierParties = 65536;

using detail::BarrierPhase;

// The barrier's embedded lock, held for the guard's lifetime (except inside wait_change),
// with the shared state validated and dead parties dropped on every (re)acquire.
class BarrierGuard {
 public:
  BarrierGuard(detail::BarrierState& state, std::span<detail::BarrierSlot> slots)
      : state_(state), slots_(slots), me_(static_cast<std::int64_t>(::getpid())) {
    relock();
  }
  BarrierGuard(const BarrierGuard&) = delete;
  BarrierGuard& operator=(const BarrierGuard&) = delete;
  ~BarrierGuard() {
    if (!held_) return;
    try {
      detail::lock_release(state_.lock, false, "Barrier");
    } catch (...) {  // only when a peer scribbled over the owner word; nothing to undo
    }
  }

  [[nodiscard]] BarrierPhase phase() const {
    // relaxed (all fields below): written under the lock only; the lock's acquire CAS and
    // seq_cst release order them between holders.
    const std::int32_t p = state_.phase.load(std::memory_order_relaxed);
    if (p < -2 || p > 1) detail::throw_corrupted("Barrier", "a phase of " + std::to_string(p));
    return static_cast<BarrierPhase>(p);
  }
  void set_phase(BarrierPhase p) noexcept {
    state_.phase.store(static_cast<std::int32_t>(p), std::memory_order_relaxed);
    state_.changed.notify_all();
  }
  [[nodiscard]] std::size_t inside() const noexcept {
    return state_.inside.load(std::memory_order_relaxed);
  }

  // Registers this party (its pid in a free slot); returns its arrival index.
  std::size_t enter() {
    const std::size_t index = inside();
    for (detail::BarrierSlot& slot : slots_) {
      if (slot.load(std::memory_order_relaxed) == 0) {
        slot.store(me_, std::memory_order_relaxed);
        state_.inside.store(static_cast<std::uint32_t>(index + 1), std::memory_order_relaxed);
        return index;
      }
    }
    detail::throw_corrupted("Barrier", "no free party slot while filling");
  }

  // Python's _exit: the last party out of a draining or resetting barrier refills it.
  void leave() noexcept {
    for (detail::BarrierSlot& slot : slots_) {
      if (slot.load(std::memory_order_relaxed) == me_) {
        slot.store(0, std::memory_order_relaxed);
        break;
      }
    }
    const std::size_t n = inside();
    state_.inside.store(n > 0 ? static_cast<std::uint32_t>(n - 1) : 0, std::memory_order_relaxed);
    state_.changed.notify_all();
    refill_if_empty();
  }

  // Releases the lock, sleeps until a change is notified or kSyncLivenessPeriod (or the
  // deadline) passed, takes the lock again.
  // No lost wake-up: the caller checked its condition under the lock and registers before
  // releasing it; whoever changes the state takes the lock after that release, so its
  // notify sees this registration (happens-before through the lock) and moves the epoch
  // past this key.
  void wait_change(const detail::SyncDeadline& deadline) {
    const ipc::EventCount::Key key = state_.changed.prepare_wait();
    held_ = false;
    detail::lock_release(state_.lock, false, "Barrier");
    auto slice_end = Clock::now() + kSyncLivenessPeriod;
    if (deadline) slice_end = std::min(slice_end, *deadline);
    (void)state_.changed.wait_until(key, slice_end);
    relock();
  }

 private:
  // Takes the lock and checks the state; on Corrupted the lock is released again (the
  // constructor's throw runs no destructor).
  void relock() {
    (void)detail::lock_acquire(state_.lock, std::nullopt, false, "Barrier");
    held_ = true;
    try {
      check_and_repair();
    } catch (...) {
      held_ = false;
      try {
        detail::lock_release(state_.lock, false, "Barrier");
      } catch (...) {  // as in the destructor
      }
      throw;
    }
  }

  void check_and_repair() {
    // relaxed: read by this thread, the holder (see take() in the lock).
    const bool died = state_.lock.holder_died.load(std::memory_order_relaxed) != 0;
    if (died) {
      // A party died inside the barrier's critical section: recount from the slots and
      // break the barrier (its state may be half-updated).
      state_.lock.holder_died.store(0, std::memory_order_relaxed);
      std::uint32_t n = 0;
      for (const detail::BarrierSlot& slot : slots_) {
        if (slot.load(std::memory_order_relaxed) != 0) ++n;
      }
      state_.inside.store(n, std::memory_order_relaxed);
      set_phase(BarrierPhase::broken);
    }
    (void)phase();  // validates
    if (inside() > slots_.size()) {
      detail::throw_corrupted("Barrier", std::to_string(inside()) +
                                             " parties inside a barrier of " +
                                             std::to_string(slots_.size()));
    }
    drop_dead_parties();
  }

  void drop_dead_parties() {
    bool dropped = false;
    for (detail::BarrierSlot& slot : slots_) {
      const std::int64_t pid = slot.load(std::memory_order_relaxed);
      if (pid == 0 || pid == me_) continue;
      if (!detail::valid_pid(pid)) {
        detail::throw_corrupted("Barrier", "a party slot holding pid " + std::to_string(pid));
      }
      if (!detail::process_gone(pid)) continue;
      slot.store(0, std::memory_order_relaxed);
      const std::size_t n = inside();
      state_.inside.store(n > 0 ? static_cast<std::uint32_t>(n - 1) : 0, std::memory_order_relaxed);
      dropped = true;
    }
    if (!dropped) return;
    if (phase() == BarrierPhase::filling) set_phase(BarrierPhase::broken);
    refill_if_empty();
    state_.changed.notify_all();
  }

  void refill_if_empty() noexcept {
    const std::int32_t p = state_.phase.load(std::memory_order_relaxed);
    if (inside() == 0 && (p == static_cast<std::int32_t>(BarrierPhase::draining) ||
                          p == static_cast<std::int32_t>(BarrierPhase::resetting))) {
      set_phase(BarrierPhase::filling);
    }
  }

  detail::BarrierState& state_;
  std::span<detail::BarrierSlot> slots_;
  std::int64_t me_;
  bool held_ = false;
};

std::span<detail::BarrierSlot> barrier_slots(const detail::SyncSegment& segment,
                                             std::size_t parties) {
  return {std::launder(reinterpret_cast<detail::BarrierSlot*>(segment.tail())), parties};
}

std::shared_ptr<detail::SyncSegment> barrier_segment(std::string_view name, std::size_t parties,
                                                     const SyncOptions& options) {
  if (parties == 0 || parties > kMaxBarrierParties) {
    throw InvalidArgument("ringpool: Barrier: parties must be in [1, " +
                          std::to_string(kMaxBarrierParties) + "], not " + std::to_string(parties));
  }
  return detail::SyncSegment::create(name,
                                     {.kind = detail::SyncKind::barrier,
                                      .tail_bytes = parties * sizeof(detail::BarrierSlot),
                                      .count = parties},
                                     options, [parties](detail::SyncSegment& segment) {
                                       ::new (segment.state()) detail::BarrierState();
                                       auto* slots = segment.tail();
                                       for (std::size_t i = 0; i < parties; ++i) {
                                         ::new (slots + i * sizeof(detail::BarrierSlot))
                                             detail::BarrierSlot(0);
                                       }
                                     });
}

}  // namespace

Barrier::Barrier(std::shared_ptr<detail::SyncSegment> segment, std::function<void()> action)
    : segment_(std::move(segment)),
      state_(detail::state_of<detail::BarrierState>(*segment_)),
      action_(std::move(action)) {
  const std::uint64_t parties = segment_->header().count;
  if (parties == 0 || parties > kMaxBarrierParties ||
      parties * sizeof(detail::BarrierSlot) > segment_->tail_bytes()) {
    throw InvalidArgument("ringpool: Barrier::open(\"" + segment_->name() +
                          "\"): the segment's header is inconsistent (" + std::to_string(parties) +
                          " parties in " + std::to_string(segment_->tail_bytes()) +
                          " bytes of slots)");
  }
  parties_ = static_cast<std::size_t>(parties);
}

Barrier::Barrier(std::size_t parties, std::function<void()> action)
    : Barrier(barrier_segment({}, parties, {}), std::move(action)) {}

Barrier Barrier::create(std::string_view name, std::size_t parties, std::function<void()> action,
                        SyncOptions options) {
  if (name.empty()) throw InvalidArgument("ringpool: Barrier::create: the name is empty");
  return Barrier(barrier_segment(name, parties, options), std::move(action));
}

Barrier Barrier::open(std::string_view name, std::function<void()> action, SyncOptions options) {
  return Barrier(detail::SyncSegment::open(name, detail::SyncKind::barrier, "Barrier", options),
                 std::move(action));
}

bool Barrier::unlink(std::string_view name) {
  return ipc::Segment::unlink(name);
}

std::size_t Barrier::wait_impl(detail::SyncDeadline deadline) {
  BarrierGuard guard(*state_, barrier_slots(*segment_, parties_));
  const auto timed_out = [&] { return deadline && Clock::now() >= *deadline; };
  const auto broken_error = [](const char* why) {
    return BrokenBarrier(std::string("ringpool: Barrier::wait: the barrier is broken (") + why +
                         "); reset() it to use it again");
  };
  // Python's _enter: wait until the previous cycle has drained or a reset has finished.
  while (guard.phase() == BarrierPhase::draining || guard.phase() == BarrierPhase::resetting) {
    if (timed_out()) {
      guard.set_phase(BarrierPhase::broken);
      throw broken_error("the timeout expired");
    }
    guard.wait_change(deadline);
  }
  if (guard.phase() == BarrierPhase::broken) {
    throw broken_error("aborted, reset, timed out, failed action or dead party");
  }
  const std::size_t index = guard.enter();
  try {
    if (index + 1 == parties_) {
      if (action_) {
        try {
          action_();
        } catch (...) {
          guard.set_phase(BarrierPhase::broken);
          throw;
        }
      }
      // relaxed: under the lock, as the other fields.
      state_->generation.fetch_add(1, std::memory_order_relaxed);
      guard.set_phase(BarrierPhase::draining);
    } else {
      while (guard.phase() == BarrierPhase::filling) {
        if (timed_out()) {
          guard.set_phase(BarrierPhase::broken);
          throw broken_error("the timeout expired");
        }
        guard.wait_change(deadline);
      }
      if (guard.phase() == BarrierPhase::resetting) throw broken_error("reset while waiting");
      if (guard.phase() == BarrierPhase::broken) {
        throw broken_error("aborted, timed out, failed action or dead party");
      }
    }
  } catch (...) {
    guard.leave();
    throw;
  }
  guard.leave();
  return index;
}

std::size_t Barrier::wait() {
  return wait_impl(std::nullopt);
}

std::size_t Barrier::wait(std::chrono::nanoseconds timeout) {
  return wait_impl(detail::deadline_after(std::max(timeout, std::chrono::nanoseconds::zero())));
}

void Barrier::reset() {
  BarrierGuard guard(*state_, barrier_slots(*segment_, parties_));
  if (guard.inside() > 0) {
    const BarrierPhase p = guard.phase();
    if (p == BarrierPhase::filling || p == BarrierPhase::broken) {
      guard.set_phase(BarrierPhase::resetting);
    }
  } else {
    guard.set_phase(BarrierPhase::filling);
  }
}

void Barrier::abort() {
  BarrierGuard guard(*state_, barrier_slots(*segment_, parties_));
  guard.set_phase(BarrierPhase::broken);
}

std::size_t Barrier::n_waiting() const {
  // relaxed (both): a racy observation, as Python's.
  if (state_->phase.load(std::memory_order_relaxed) !=
      static_cast<std::int32_t>(BarrierPhase::filling)) {
    return 0;
  }
  return std::min<std::size_t>(state_->inside.load(std::memory_order_relaxed), parties_);
}

bool Barrier::broken() const {
  // relaxed: a racy observation, as Python's.
  return state_->phase.load(std::memory_order_relaxed) ==
         static_cast<std::int32_t>(BarrierPhase::broken);
}

}  // namespace ringpool::pool
