#pragma once
// PoolCore::Impl: the parent side of a Pool, assembled from its parts (internal to
// ringpool::pool; the map of the parts is docs/architecture.md):
//
//   CoreConfig        options, checked and resolved            core_config.*
//   SharedLayout      the shared mapping and its records       shared_layout.*
//   TaskTable         task messages in flight                  task_table.*
//   WorkerSupervisor  start / reap / restart / stop workers    worker_supervisor.*
//   Dispatcher        task rings: route, write, backlogs, wake dispatcher.*
//   ResultCollector   result rings: read, settle               result_collector.*
//
// Impl itself (pool_core.cpp, core_progress.cpp) owns the one mutex `mu` that guards every
// part, and does what spans parts: the send loop, collecting in whichever thread waits,
// the wait of a parent thread, recovering a dead worker's work, close/join/terminate.
#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core_config.hpp"
#include "dispatcher.hpp"
#include "result_collector.hpp"
#include "ringpool/pool/detail/pool_core.hpp"
#include "shared_layout.hpp"
#include "task_table.hpp"
#include "worker_supervisor.hpp"

namespace ringpool::pool::detail {

struct PoolCore::Impl final : Progress {
  explicit Impl(const PoolOptions& options);
  ~Impl();

  // ---- core_progress.cpp ----
  void send(const SendRequest& req);
  // send()'s two halves: a payload too large for a slot, and one message into a ring.
  void send_by_reference(const SendRequest& req);
  void send_message(const SendRequest& req);
  // Drains every result ring once, reaps dead workers now and then (always when
  // `force_death_check`), flushes backlogs. True when anything was settled. Any thread.
  bool collect(bool force_death_check);
  // After a drain and a seq_cst fence: notifies the workers that wait for room in their
  // result rings (block mode).
  void wake_workers_waiting_for_room() noexcept;
  // Called through `link` (which counts the threads inside), never directly by a future.
  bool wait_until(bool (*ready)(const void*), const void* context,
                  std::optional<Clock::time_point> deadline) override;
  // Recovers dead worker d.index's work and restarts or retires it. Caller holds mu.
  void recover(const WorkerSupervisor::Death& d);
  // Fails every pending task with `error` when no worker can run (every one retired).
  // Caller holds mu.
  void break_if_no_workers(const WorkerSupervisor::Death& d);

  // ---- pool_core.cpp ----
  void await_spawned_workers();
  void join();
  void terminate();
  void kill_all_and_fail(const std::exception_ptr& error);
  // Future::cancel() / running() of a single task's future; shutdown(cancel_futures).
  bool cancel(StateBase& state) override;
  bool running(const StateBase& state) override;
  std::size_t cancel_pending();
  // Runs the callbacks queued while `mu` was held (see t_deferred_callbacks).
  static void run_callbacks(std::vector<std::function<void()>>& callbacks) noexcept;

  // Declaration order is construction order: the parts refer to the ones above them.
  // What the pool's futures hold: it outlives the pool while one of them lives.
  PoolLinkOwner link{PoolLink::create(*this)};
  const CoreConfig config;
  SharedLayout layout;
  mutable std::mutex mu;  // guards everything below but the atomics
  TaskTable table;
  WorkerSupervisor workers;
  Dispatcher dispatcher;
  ResultCollector collector;
  PayloadLanes lanes{&config.payloads};  // large task payloads (payload.hpp)

  // Per worker: deaths in a row before the initializer returned (all, and all but SIGKILL).
  std::vector<int> early_deaths;
  std::vector<int> init_failures;
  PoolStats stats{};
  Clock::time_point last_death_check{};
  std::uint64_t collects = 0;
  std::size_t died_unstarted = 0;  // workers that died before entering the worker loop
  std::string unstarted_death;     // how the first of them ended
  std::exception_ptr broken;       // set when no worker can run: why (PoolBroken)
  std::vector<std::function<void()>> deferred;
  std::atomic<bool> closed{false};
  std::atomic<bool> terminated{false};
  bool joining = false;  // join() began (under mu): lazy batches may no longer send
  bool joined = false;

  // ---- last plan (its own lock: read by last_plan() without touching the pool) ----
  mutable std::mutex plan_mu;
  std::atomic<bool> last_was_single{false};
  LastPlan last_batch;
  bool have_batch = false;
};

}  // namespace ringpool::pool::detail
