#pragma once
// The shared-memory layout of the synchronisation objects and shared values (sync.hpp,
// shared_value.hpp): plain data, one segment per object. Behaviour lives in the handles
// (pool/src/sync_*.cpp, shared_value.cpp); the algorithms and their ordering arguments are
// described there and in docs/pool.md ("Synchronisation and shared state").
//
//   [0, 128)                 SyncHeader (validated by every open)
//   [128, 256)               the object's state (LockState, SemaphoreState, ...)
//   [256, ...)               Barrier: one party slot per party; Value/Array: the elements
//
// Every field is read as hostile: a peer process may have written anything into it.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "ringpool/ipc/event_count.hpp"

namespace ringpool::pool::detail {

inline constexpr std::uint64_t kSyncMagic = 0x31434e5953505252ULL;  // "RRPSYNC1"
inline constexpr std::uint32_t kSyncVersion = 1;
inline constexpr std::size_t kSyncStateOffset = 128;
inline constexpr std::size_t kSyncTailOffset = 256;

enum class SyncKind : std::uint32_t {
  lock = 1,
  rlock = 2,
  semaphore = 3,
  bounded_semaphore = 4,
  event = 5,
  condition = 6,
  barrier = 7,
  value = 8,  // Value<T> and Array<T>
};

struct SyncHeader {
  // Written last by the creator (release); an opener that sees kSyncMagic (acquire) sees
  // the fields below.
  std::atomic<std::uint64_t> magic;
  std::uint32_t version;
  std::uint32_t kind;           // a SyncKind
  std::uint64_t segment_bytes;  // the whole segment, as created
  std::uint64_t count;          // Barrier: parties; Array: elements; Value: 1
  std::uint64_t bound;          // BoundedSemaphore: the initial value; Value/Array: sizeof(T)
  std::uint64_t type_tag;       // Value/Array: type_tag<T>()
  std::uint32_t flags;          // Value/Array: kSyncHasLock
  std::uint32_t reserved;
};
inline constexpr std::uint32_t kSyncHasLock = 1;

// Lock and RLock (also embedded in Condition, Barrier, Value and Array).
struct LockState {
  // 0 when free, else the holder: pid << 32 | tid (both in [1, INT_MAX]). The pid lets a
  // waiter find a dead holder; the tid makes RLock recursion and ownership checks exact.
  std::atomic<std::uint64_t> owner;
  std::atomic<std::uint32_t> depth;        // RLock: recursion depth; written by the holder
  std::atomic<std::uint32_t> holder_died;  // 1 while held by a taker-over of a dead holder
  ipc::EventCount released;                // waiters for a free lock
};

struct SemaphoreState {
  std::atomic<std::uint64_t> value;
  ipc::EventCount posted;  // waiters for value > 0
};

struct EventState {
  std::atomic<std::uint32_t> flag;  // 0 clear, 1 set; anything else is corruption
  std::uint32_t reserved;
  ipc::EventCount changed;  // waiters for flag == 1
};

struct ConditionState {
  LockState lock;            // the condition's own lock (unused when built over a Lock)
  ipc::EventCount notified;  // wait() sleeps here; notify*() wakes
};

// Barrier phases (Python's threading.Barrier._state).
enum class BarrierPhase : std::int32_t { filling = 0, draining = 1, resetting = -1, broken = -2 };

struct BarrierState {
  LockState lock;                         // guards every field below and the party slots
  std::atomic<std::int32_t> phase;        // a BarrierPhase
  std::atomic<std::uint32_t> inside;      // parties inside wait() (Python's _count)
  std::atomic<std::uint64_t> generation;  // completed cycles
  ipc::EventCount changed;                // phase or generation changed, or a party left
};
// Followed, at kSyncTailOffset, by header.count party slots: the pid of a party inside
// wait() (0: free). A slot whose process is gone is a dead party.
using BarrierSlot = std::atomic<std::int64_t>;

// Value<T> and Array<T>: the lock (used when the header says kSyncHasLock), then the
// elements at kSyncTailOffset.
struct ValueState {
  LockState lock;
};

static_assert(std::is_standard_layout_v<SyncHeader>);
static_assert(std::is_standard_layout_v<LockState>);
static_assert(std::is_standard_layout_v<SemaphoreState>);
static_assert(std::is_standard_layout_v<EventState>);
static_assert(std::is_standard_layout_v<ConditionState>);
static_assert(std::is_standard_layout_v<BarrierState>);
static_assert(std::is_standard_layout_v<ValueState>);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::int64_t>::is_always_lock_free);
static_assert(std::atomic<std::int32_t>::is_always_lock_free);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(sizeof(SyncHeader) <= kSyncStateOffset);
static_assert(sizeof(LockState) == 24);
static_assert(sizeof(ConditionState) <= kSyncTailOffset - kSyncStateOffset);
static_assert(sizeof(BarrierState) <= kSyncTailOffset - kSyncStateOffset);
static_assert(sizeof(ValueState) <= kSyncTailOffset - kSyncStateOffset);
static_assert(sizeof(BarrierSlot) == 8);

}  // namespace ringpool::pool::detail
