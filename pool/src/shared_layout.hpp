#pragma once
// The Pool's shared mapping and the plain-data records in it (internal to ringpool::pool).
//
//   | PoolShared | WorkerShared x n | task words | shared MPMC ring | (task ring, result ring) x n
//   |
//
// One anonymous mapping (a memfd where the kernel has it, so that spawn-started workers can
// inherit it); every part starts on a 128-byte line. The parent creates and initialises it
// before any worker starts. A forked or thread worker gets its parts as WorkerRegions; a
// spawn-started worker gets a SpawnLayout of offsets and checks every field against the
// mapping before it follows one (adopt_spawned). Writer and reader of the SpawnLayout are
// both in shared_layout.cpp.
#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>

#include "ringpool/ipc/byte_ring.hpp"
#include "ringpool/ipc/event_count.hpp"
#include "ringpool/ipc/segment.hpp"

namespace ringpool::pool::detail {

inline constexpr std::size_t kLine = 128;
inline constexpr std::uint64_t kPoolMagic = 0x52504f4f4c534852ULL;  // "RPOOLSHR"

// Start of the pool's shared mapping.
struct alignas(kLine) PoolShared {
  std::uint64_t magic;
  std::uint64_t workers;
  // Parent threads with nothing to collect sleep here (block mode); a worker that publishes
  // a result notifies it, which costs nothing while no parent thread sleeps (push_result in
  // worker_loop.cpp, PoolCore::Impl::wait_until).
  alignas(kLine) ipc::EventCount results;
  // 1 while a parent thread is about to sleep or sleeps on `results`: set by the parent
  // before each sleep, cleared by the one worker that notifies, so that the results a worker
  // pushes before the parent runs again cost one FUTEX_WAKE per sleep, not one per result
  // (the waiter count stays up until the woken parent leaves wait()). A Dekker pair with the
  // result rings, as `WorkerShared::sleeping` is with the task rings.
  std::atomic<std::uint32_t> results_sleeping;
};
static_assert(std::is_standard_layout_v<PoolShared>);

// One per worker, after PoolShared.
struct alignas(kLine) WorkerShared {
  // Written by the worker --------------------------------------------------------
  // Task id of the message being run (0: none). Read by the parent once the worker is
  // reaped, to tell a task the worker held from one it never started.
  std::atomic<std::uint64_t> current_task;
  // MPMC claim word for tracked pops of the shared ring (see ipc::MpmcByteRing).
  ipc::ClaimWord claim;
  std::atomic<std::uint64_t> messages_done;
  // Set once the initializer has returned (a worker that keeps dying before is retired:
  // see WorkerSupervisor).
  std::atomic<std::uint32_t> initialized;
  // Set when the worker loop is entered, before the initializer (a spawn-started Pool
  // waits for it: a re-executed program that never reaches serve_if_worker never sets it).
  std::atomic<std::uint32_t> started;
  // Written by either side around a sleep, read by the parent after every push (a line of
  // its own: the worker writes the line above on every task, and a load of `sleeping` there
  // cost the parent a cache-line transfer per push and the worker another for its next
  // store) -------------------------------------------------------------------------
  // The worker sleeps here when idle (block mode); the parent notifies it after a push.
  alignas(kLine) ipc::EventCount wake;
  // 1 while the worker is about to sleep or sleeps on `wake` (block mode): elects one waker
  // per sleep, so a burst of pushes costs one notify, not one per message (see
  // Dispatcher::wake_worker for the Dekker pair it forms with the rings).
  std::atomic<std::uint32_t> sleeping;
  // Set by the parent to end a thread worker (StartMethod::thread), which cannot be killed:
  // it leaves its loop after the message it runs (read by the worker only when idle).
  std::atomic<std::uint32_t> quit;
  // Written by either side, rarely (a line of its own: the parent loads `results_full`
  // after every drain) ----------------------------------------------------------------
  // The worker waits on `room` while its result ring is full (block mode, the parent
  // behind); `results_full` is 1 while it is about to wait or waits (set by the worker,
  // cleared by the parent that notifies, once per wait): a Dekker pair with the result
  // ring, see wait_for_room in worker_loop.cpp and PoolCore::Impl::collect.
  alignas(kLine) ipc::EventCount room;
  std::atomic<std::uint32_t> results_full;
};
static_assert(std::is_standard_layout_v<WorkerShared>);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

// Task words: one per task record index (TaskTable), the agreement between the parent and
// the workers on whether a sent task may still be cancelled. A word is
// `generation << 32 | TaskState`, the generation being the record's (the high half of the
// task id; the low half is index + 1), and records the last decision about the record: a
// worker moves it to running with one CAS before it runs the task, the parent to cancelled
// with one CAS in Future::cancel(): whoever wins decides. A word is pending for a message
// when it says pending for the message's generation, or when its generation is an earlier
// one (the record was retired and reused since: every use of a record that reached a worker
// ends with running or cancelled in the word, so the parent does not re-arm it for the next
// use, which saved a store into a line a worker writes, per task; see leaves_pending()). A
// worker whose CAS fails, or that finds a decided word of its message's generation or of a
// later one, skips the message and settles nothing (the parent settled it as cancelled, or
// the message is stale). Cancelling a map_async batch is all or nothing: the parent first
// moves every message's word from pending to held with one CAS each, then either all to
// cancelled or (when a worker won one of them) the held ones to pending, all in one pass
// under the pool's lock. A worker whose CAS finds its word held waits for that pass to end,
// then tries again. Records with an index past the array are not tracked: workers run them
// unconditionally and they cannot be cancelled once sent. Words start at 0 (generation 0
// precedes every record's first generation, 1). Each word has a line of its own: records
// are reused last-freed first, so neighbouring words belong to the tasks in flight at the
// same time, which the workers claim concurrently (packed, each claim took the line from
// the other worker).
struct alignas(kLine) TaskWord {
  std::atomic<std::uint64_t> word;
};
static_assert(std::is_standard_layout_v<TaskWord> && sizeof(TaskWord) == kLine);
enum TaskState : std::uint32_t {
  kTaskPending = 1,
  kTaskRunning = 2,
  kTaskCancelled = 3,
  kTaskHeld = 4,  // the parent is deciding whether to cancel the message's whole batch
};
[[nodiscard]] constexpr std::uint64_t task_word(std::uint64_t task_id, TaskState s) noexcept {
  return (task_id & ~std::uint64_t{0xffffffff}) | s;
}
// Does word value `w` leave the message of `task_id` pending (free to run or cancel)? Yes
// when it says pending for that generation or was last written for an earlier one.
// Generations compare modulo 2^32 (a record's generation wraps, skipping 0): a word lags
// its record by at most one use (see above), so "earlier" is never ambiguous.
[[nodiscard]] constexpr bool leaves_pending(std::uint64_t w, std::uint64_t task_id) noexcept {
  const auto ahead = static_cast<std::int32_t>(static_cast<std::uint32_t>(task_id >> 32) -
                                               static_cast<std::uint32_t>(w >> 32));
  return ahead > 0 || w == task_word(task_id, kTaskPending);
}

// What one worker finds in the mapping.
struct WorkerRegions {
  PoolShared* pool = nullptr;
  WorkerShared* self = nullptr;
  std::span<std::byte> tasks;      // its SPSC task ring (worker = consumer)
  std::span<std::byte> results;    // its SPSC result ring (worker = producer)
  std::span<std::byte> shared;     // the shared MPMC ring (worker = consumer, tracked pops)
  std::span<TaskWord> task_words;  // see TaskWord (worker: pending -> running)
};

// The start record of a spawn-started worker: where its parts lie in the inherited memfd.
inline constexpr std::uint64_t kSpawnLayoutMagic = 0x5250535041574e34ULL;  // "RPSPAWN4"
struct SpawnLayout {
  std::uint64_t magic;
  std::uint64_t index;        // this worker's index
  std::int64_t parent;        // the pool's pid
  std::uint32_t wait;         // WaitMode
  std::int32_t fd;            // the inherited memfd of the pool's mapping
  std::uint64_t slot_size;    // ring slot size
  std::uint64_t max_tasks;    // max_tasks_per_child
  std::uint64_t bytes;        // size of the mapping
  std::uint64_t self_offset;  // this worker's WorkerShared
  std::uint64_t task_offset;
  std::uint64_t task_bytes;
  std::uint64_t result_offset;
  std::uint64_t result_bytes;
  std::uint64_t shared_offset;
  std::uint64_t shared_bytes;
  std::uint64_t words_offset;  // the task words
  std::uint64_t words_count;
  std::uint64_t init_key;           // registry key of the initializer; 0 = none
  std::uint64_t max_payload;        // PoolOptions::max_payload
  std::uint64_t payload_serial;     // with `parent`, names the pool's payload segments
  std::uint64_t shares_parent_cpu;  // 0 or 1: CoreConfig::shares_parent_cpu
};
static_assert(std::is_trivially_copyable_v<SpawnLayout>);

class SharedLayout {
 public:
  SharedLayout() = default;
  SharedLayout(SharedLayout&&) noexcept = default;
  SharedLayout& operator=(SharedLayout&&) noexcept = default;

  // Parent: maps and initialises a layout for `workers` workers whose rings hold `depth`
  // messages (the shared ring depth * workers) of up to `slot_size` bytes, and `task_words`
  // task words (at least 1). `need_fd`: the mapping must be a memfd (spawn start method);
  // throws PoolError when it cannot be.
  static SharedLayout create(std::size_t workers, std::size_t depth, std::size_t slot_size,
                             std::size_t task_words, bool need_fd);

  // Spawn-started worker: checks every field of `l` (alignment, each region inside the
  // mapping, the fd's size, the pool header) and maps the inherited memfd. Throws
  // DecodeError saying what is wrong. The mapping stays for the life of the process.
  static WorkerRegions adopt_spawned(const SpawnLayout& l);

  [[nodiscard]] std::size_t workers() const noexcept { return workers_; }
  [[nodiscard]] PoolShared& pool() const noexcept { return *pool_; }
  [[nodiscard]] WorkerShared& worker(std::size_t i) const noexcept { return worker_records_[i]; }
  [[nodiscard]] WorkerRegions regions(std::size_t i) const noexcept;
  [[nodiscard]] std::span<TaskWord> task_words() const noexcept;
  // Worker i's parts as offsets into the memfd (fields other than the layout's are zero).
  [[nodiscard]] SpawnLayout spawn_layout(std::size_t i) const noexcept;
  [[nodiscard]] int fd() const noexcept { return segment_.fd(); }

 private:
  ipc::Segment segment_;
  std::size_t workers_ = 0;
  std::size_t words_offset_ = 0;
  std::size_t words_count_ = 0;
  std::size_t shared_offset_ = 0;
  std::size_t shared_bytes_ = 0;
  std::size_t rings_offset_ = 0;
  std::size_t ring_bytes_ = 0;  // one SPSC ring (task and result rings are the same size)
  PoolShared* pool_ = nullptr;
  WorkerShared* worker_records_ = nullptr;
};

}  // namespace ringpool::pool::detail
