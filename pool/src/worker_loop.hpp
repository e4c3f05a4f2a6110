#pragma once
// The worker side of a Pool (internal to ringpool::pool): what a worker is given and the
// loop it runs. The same loop serves forked, spawn-started and thread workers.
#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <string_view>
#include <tuple>
#include <vector>

#include "ringpool/pool/pool.hpp"
#include "ringpool/topology/cpu_set.hpp"
#include "shared_layout.hpp"

namespace ringpool::pool::detail {

// What a worker needs; immutable while it runs. For a forked worker it lives in the
// parent's (copied) memory, for a thread worker in the supervisor's slot.
struct WorkerConfig {
  std::size_t index = 0;
  // The pool's pid: a process worker exits when its parent changes (the pool died).
  // 0 for a thread worker (it is in the pool's process).
  pid_t parent = 0;
  bool pin = true;
  topology::CpuSet cpus;
  WaitMode wait = WaitMode::block;
  bool shares_parent_cpu = false;  // CoreConfig::shares_parent_cpu: never spin when idle
  std::size_t slot_size = 0;
  std::size_t max_payload = 0;  // the pool's limit on a task's payload and a result
  PayloadNames payloads;        // the pool's payload segments (payload.hpp)
  std::size_t max_tasks = 0;
  const std::function<void()>* initializer = nullptr;
  WorkerRegions regions;
};

// Exit codes of a worker that could not serve.
inline constexpr int kAttachFailed = 120;
inline constexpr int kInitializerFailed = 121;

// The worker loop: attaches the rings, runs the initializer, then serves task messages
// until a stop message, max_tasks, or (thread workers) WorkerShared::quit. Returns the
// exit code. Never throws.
int run_worker(const WorkerConfig& config) noexcept;

// A worker process: dies with its parent, pins itself, runs run_worker and _exits.
[[noreturn]] void worker_main(const WorkerConfig& config) noexcept;

// ---- spawn start method ------------------------------------------------------------
// A spawn-started worker is a re-executed copy of the program (worker kind
// kSpawnWorkerKind, see spawn.hpp); the parent passes a SpawnLayout (shared_layout.hpp),
// the worker settings and the initializer's encoded arguments.
inline constexpr std::string_view kSpawnWorkerKind = "ringpool.pool_worker";
using SpawnPayload = std::tuple<SpawnLayout, std::vector<std::byte>>;

}  // namespace ringpool::pool::detail
