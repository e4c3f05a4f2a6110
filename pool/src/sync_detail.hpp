#pragma once
// What the parts of the synchronisation objects share (internal to ringpool::pool, not
// installed): the clock, holder liveness, the corruption error, segment helpers.
//
// The parts: sync_segment.cpp (SyncSegment, liveness, deadlines), sync_lock.cpp (the robust
// lock, Lock, RLock), sync_wait.cpp (Semaphore, BoundedSemaphore, Event, Condition),
// sync_barrier.cpp (Barrier), shared_value.cpp (Value, Array). Every wait is an
// ipc::EventCount wait (its ordering argument is in ipc/event_count.hpp: each "publish" in
// these files is a seq_cst store or RMW followed by notify_*(), each waiter re-checks its
// condition after prepare_wait()).
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>

#include "ringpool/ipc/detail/process_probe.hpp"
#include "ringpool/pool/sync.hpp"

namespace ringpool::pool::detail {

using Clock = std::chrono::steady_clock;

// A pid that may be passed to kill(): in [1, INT_MAX].
bool valid_pid(std::int64_t pid) noexcept;

// True when no running process has `pid` (gone, or a zombie): see process_probe.hpp.
using ipc::detail::process_gone;

// Throws Corrupted: `what` (e.g. "Barrier") holds `detail` in its shared memory.
[[noreturn]] void throw_corrupted(const char* what, const std::string& detail);

// now + timeout.
std::optional<Clock::time_point> deadline_after(std::chrono::nanoseconds timeout);

// The object state of a segment (placed there by make_segment()).
template <class State>
State* state_of(const SyncSegment& segment) noexcept {
  return std::launder(reinterpret_cast<State*>(segment.state()));
}

// An anonymous (empty name) or named segment with a State constructed in it; `init` may
// set initial values before the header is published.
template <class State>
std::shared_ptr<SyncSegment> make_segment(std::string_view name, SyncSegment::Spec spec,
                                          const SyncOptions& options,
                                          const std::function<void(State&)>& init = {}) {
  return SyncSegment::create(name, spec, options, [&](SyncSegment& segment) {
    State* state = ::new (segment.state()) State();
    if (init) init(*state);
  });
}

}  // namespace ringpool::pool::detail
