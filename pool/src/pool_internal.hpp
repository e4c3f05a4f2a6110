#pragma once
// Shared between pool_core.cpp and worker_loop.cpp (not installed): the plain-data
// records the parent and its workers share, and the worker process entry point.
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>

#include "ringpool/ipc/byte_ring.hpp"
#include "ringpool/pool/pool.hpp"
#include "ringpool/topology/cpu_set.hpp"

namespace ringpool::pool::detail {

inline constexpr std::size_t kLine = 128;
inline constexpr std::uint64_t kPoolMagic = 0x52504f4f4c534852ULL;  // "RPOOLSHR"

// Start of the pool's shared mapping.
struct alignas(kLine) PoolShared {
  std::uint64_t magic;
  std::uint64_t workers;
  // Parent threads with nothing to collect sleep on `event` (block mode) after counting
  // themselves in `event_waiters`; a worker that publishes a result while the count is
  // non-zero bumps `event` and wakes them (see push_result and PoolCore::wait_until).
  alignas(kLine) std::atomic<std::uint32_t> event;
  std::atomic<std::uint32_t> event_waiters;
};
static_assert(std::is_standard_layout_v<PoolShared>);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

// One per worker, after PoolShared.
struct alignas(kLine) WorkerShared {
  // Written by the worker --------------------------------------------------------
  // Task id of the message being run (0: none). Read by the parent once the worker is
  // reaped, to tell a task the worker held from one it never started.
  std::atomic<std::uint64_t> current_task;
  // MPMC claim word for tracked pops of the shared ring (see ipc::MpmcByteConsumer).
  ipc::ClaimWord claim;
  std::atomic<std::uint64_t> messages_done;
  // 1 while the worker sleeps (block mode) on `wake`.
  std::atomic<std::uint32_t> sleeping;
  // Set once the initializer has returned (a worker that dies before is not retried
  // forever: see PoolCore).
  std::atomic<std::uint32_t> initialized;
  // Set when the worker loop is entered, before the initializer (a spawn-started Pool
  // waits for it: a re-executed program that never reaches serve_if_worker never sets it).
  std::atomic<std::uint32_t> started;
  // Written by the parent ----------------------------------------------------------
  alignas(kLine) std::atomic<std::uint32_t> wake;
};
static_assert(std::is_standard_layout_v<WorkerShared>);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

// Shared-memory futex (no FUTEX_PRIVATE_FLAG: parent and workers share the word).
void shm_futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                    std::optional<std::chrono::nanoseconds> timeout) noexcept;
void shm_futex_wake_all(std::atomic<std::uint32_t>& word) noexcept;

// What a forked worker needs; all of it lives in the parent's (copied) memory or the
// shared mapping and is immutable while workers run.
struct WorkerConfig {
  std::size_t index = 0;
  pid_t parent = 0;
  bool pin = true;
  topology::CpuSet cpus;
  WaitMode wait = WaitMode::block;
  std::size_t slot_size = 0;
  std::size_t max_tasks = 0;
  const std::function<void()>* initializer = nullptr;
  PoolShared* shared = nullptr;
  WorkerShared* self = nullptr;
  std::span<std::byte> task_region;
  std::span<std::byte> result_region;
  std::span<std::byte> shared_region;
};

// ---- spawn start method ------------------------------------------------------------
// A spawn-started worker is a re-executed copy of the program: it gets the pool's
// mapping as an inherited memfd and finds its records and rings by offset. The parent
// writes a SpawnLayout (plus the initializer's encoded arguments) as the payload of the
// worker kind kSpawnWorkerKind; the worker validates every field before it maps or
// follows anything.
inline constexpr std::string_view kSpawnWorkerKind = "ringpool.pool_worker";
inline constexpr std::uint64_t kSpawnLayoutMagic = 0x5250535041574e31ULL;  // "RPSPAWN1"

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
  std::uint64_t init_key;  // registry key of the initializer; 0 = none
};
static_assert(std::is_trivially_copyable_v<SpawnLayout>);
using SpawnPayload = std::tuple<SpawnLayout, std::vector<std::byte>>;

// Exit code of a worker whose initializer threw.
inline constexpr int kInitializerFailed = 121;

// The worker process: never returns (_exit).
[[noreturn]] void worker_main(const WorkerConfig& config) noexcept;

}  // namespace ringpool::pool::detail
