#pragma once
// Dispatcher: the parent's producer side of the task rings (internal to ringpool::pool).
// Writes task messages (TaskHeader + items, see task_wire.hpp) into the SPSC ring of one
// worker (parallel path, single submits) or the shared MPMC ring (concurrent path), keeps
// the messages recovered from dead workers in backlogs until there is room again, and
// wakes sleeping workers (block mode).
//
// Not thread-safe: the pool core's mutex guards every call.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <vector>

#include "core_config.hpp"
#include "ringpool/ipc/byte_ring.hpp"
#include "ringpool/pool/detail/pool_core.hpp"
#include "shared_layout.hpp"
#include "task_table.hpp"
#include "worker_supervisor.hpp"

namespace ringpool::pool::detail {

class Dispatcher {
 public:
  Dispatcher(const CoreConfig& config, const SharedLayout& layout, TaskTable& table,
             const WorkerSupervisor& workers);

  // What the header names as the task: the invoker and function addresses (fork and
  // thread workers share them), or kRegisteredInvoker and the registry key (spawn).
  // Throws InvalidArgument for an unregistered task with the spawn start method.
  struct WireFn {
    std::uint64_t invoker = 0;
    std::uint64_t fn = 0;
  };
  [[nodiscard]] WireFn wire_fn(const SendRequest& req) const;

  // Writes one task message and records it in the table. Returns false when the target
  // ring is full or has a backlog (nothing sent); rethrows what req.encode throws
  // (nothing sent).
  [[nodiscard]] bool try_send(const SendRequest& req, WireFn fn);

  // Pushes backlogged messages into their rings while there is room. Inline early-out:
  // the submit path and every collect call it.
  void flush_backlogs() {
    if (backlogged_ != 0) flush_all_backlogs();
  }
  [[nodiscard]] bool has_backlog() const noexcept { return backlogged_ != 0; }
  // A recovered message goes back to worker `route`'s ring, or the shared ring (route < 0).
  void requeue(std::vector<std::byte>&& message, int route);
  // Worker i was retired: its backlog is handed to `f` (each message) and dropped.
  template <class F>
  void drop_backlog(std::size_t i, F&& f) {
    for (auto& m : backlogs_[i]) f(std::span<const std::byte>(m));
    backlogged_ -= backlogs_[i].size();
    backlogs_[i].clear();
  }
  void drop_all_backlogs() noexcept;

  // Dead worker i's shared-ring claim: a message it had claimed is handed to `f` and the
  // claim released. Gives up after many undecided tries (another claim in flight).
  template <class F>
  void recover_shared_claim(std::size_t i, F&& f);
  // Dead worker i's task ring: every message it had not finished (including the one it
  // was running) is handed to `f`; then the ring is reset for the replacement.
  template <class F>
  void reclaim_tasks(std::size_t i, F&& f) {
    tasks_[i].reclaim_unconsumed(f);
    tasks_[i].reset();
    tasks_[i] = ipc::SpscByteProducer::attach(layout_.regions(i).tasks);
  }

  // Sends worker i a stop message (join); false when its ring stays full.
  bool push_stop(std::size_t i);

  [[nodiscard]] std::size_t max_payload() const noexcept;

 private:
  void flush_all_backlogs();
  int pick_worker();
  std::span<std::byte> claim(int target, std::size_t bytes) {
    if (target >= 0) return tasks_[static_cast<std::size_t>(target)].claim(bytes);
    return shared_.claim(bytes);
  }
  void commit(int target, std::size_t bytes) {
    if (target >= 0) {
      tasks_[static_cast<std::size_t>(target)].commit(bytes);
    } else {
      shared_.commit(bytes);
    }
  }
  // Wakes worker i if it sleeps; true when this call woke it.
  bool wake_worker(std::size_t i);
  // After a push to worker `target`'s ring (or the shared ring, target < 0).
  void wake_after_push(int target, bool all = false);

  const CoreConfig& config_;
  const SharedLayout& layout_;
  TaskTable& table_;
  const WorkerSupervisor& workers_;
  std::vector<ipc::SpscByteProducer> tasks_;
  ipc::MpmcByteProducer shared_;  // and recoverer of dead workers' claims
  std::vector<std::deque<std::vector<std::byte>>> backlogs_;
  std::deque<std::vector<std::byte>> shared_backlog_;
  std::size_t backlogged_ = 0;  // messages in all backlogs together
  std::size_t round_robin_ = 0;
};

template <class F>
void Dispatcher::recover_shared_claim(std::size_t i, F&& f) {
  std::vector<const ipc::ClaimWord*> live;
  for (std::size_t k = 0; k < config_.workers; ++k) {
    if (k != i) live.push_back(&layout_.worker(k).claim);
  }
  for (int tries = 0; tries < 1000; ++tries) {
    if (shared_.recover_claim(layout_.worker(i).claim, live, f) != ipc::ClaimRecovery::undecided) {
      return;
    }
    std::this_thread::yield();
  }
}

}  // namespace ringpool::pool::detail
