#pragma once
// The non-template engine behind Pool: shared memory, workers, dispatch, collection and
// worker-death recovery. Internal to ringpool::pool (see pool.hpp for the contract).
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "ringpool/pool/detail/task_wire.hpp"
#include "ringpool/pool/future.hpp"
#include "ringpool/topology/cpu_set.hpp"

namespace ringpool::pool {
struct PoolOptions;
struct LastPlan;
struct PoolStats;
}  // namespace ringpool::pool

namespace ringpool::pool::detail {

// Where a task message goes.
inline constexpr int kRouteLeastLoaded = -1;  // the SPSC ring of the least-loaded worker
inline constexpr int kRouteShared = -2;       // the shared MPMC ring
// (values >= 0: the SPSC ring of that worker)

struct SendRequest {
  Invoker invoker = nullptr;
  std::uint64_t fn = 0;
  std::uint32_t count = 1;
  std::uint32_t item_size = kVariableItems;
  std::size_t payload_bytes = 0;  // bytes after the TaskHeader
  // Writes exactly payload_bytes at out. May throw: nothing is then sent.
  void (*encode)(const void* context, std::byte* out) = nullptr;
  // Optional, for a payload sent by reference: as encode, except that it lists the bytes of
  // large contiguous arguments in `later` instead of copying them; the core copies them
  // after sending the reference, while the worker decodes (detail/stream_in.hpp).
  void (*encode_later)(const void* context, std::byte* out, BulkCopies& later) = nullptr;
  const void* context = nullptr;
  ResultSink* sink = nullptr;
  // When set, the record owns this reference and releases it once the task is settled.
  StateBase* owned_state = nullptr;
  std::uint64_t base_index = 0;  // sink index of the message's first item
  int route = kRouteLeastLoaded;
  // Set by the core when the payload travels in a payload segment: the message carries
  // a PayloadRef (MessageKind::task_by_ref).
  bool by_reference = false;
  // With by_reference: the sequence number of a one-off segment the pool keeps until the
  // task settles (retries on: a rerun reads it again), else 0.
  std::uint64_t kept_payload = 0;
  // Part of a lazy batch (imap) begun before close(): still accepted after close(), as
  // Python's imap, whose tasks were all queued when it began; refused after join/terminate.
  bool continues_batch = false;
};

class PoolCore final : public Progress {
 public:
  explicit PoolCore(const PoolOptions& options);
  ~PoolCore();
  PoolCore(const PoolCore&) = delete;
  PoolCore& operator=(const PoolCore&) = delete;

  // Encodes and enqueues one task message; blocks (collecting results meanwhile) while
  // the target ring is full. A payload larger than max_payload() is encoded into a payload
  // segment first (outside the lock) and sent by reference. Throws Closed after
  // close()/terminate(), PayloadTooLarge when payload_bytes exceeds payload_limit(),
  // PoolError when no payload segment can be created (nothing sent).
  void send(const SendRequest& request);

  bool wait_until(bool (*ready)(const void*), const void* context,
                  std::optional<Clock::time_point> deadline) override;
  bool cancel(StateBase& state) override;
  bool running(const StateBase& state) override;
  // Cancels every task no worker has started (Pool::shutdown(..., cancel_futures = true));
  // returns how many task messages.
  std::size_t cancel_pending();

  // Decides the path of a batch of `tasks` tasks and records it for last_plan().
  // Returns true for the parallel path (message i goes to worker i's SPSC ring).
  bool plan_batch(std::size_t tasks);
  // Records a batch of unknown length (imap over an unsized range): the concurrent path.
  void plan_unsized_batch();
  // Records a single submit() (parallel path, least-loaded worker) for last_plan().
  void note_single_submit() noexcept;

  [[nodiscard]] std::size_t workers() const noexcept;
  // Bytes of items that fit one task message in a ring slot (larger ones go by reference).
  [[nodiscard]] std::size_t max_payload() const noexcept;
  // PoolOptions::max_payload: the most bytes of items one task message may carry.
  [[nodiscard]] std::size_t payload_limit() const noexcept;
  // Task messages the rings can hold at once (bounds lazy imap).
  [[nodiscard]] std::size_t ring_messages() const noexcept;
  // PoolOptions::imap_pack_budget.
  [[nodiscard]] std::chrono::nanoseconds imap_pack_budget() const noexcept;
  [[nodiscard]] bool closed() const noexcept;
  // What the pool's futures hold (State::make): it outlives the core while they live.
  [[nodiscard]] PoolLink* link() const noexcept;

  void close();
  void join();
  void terminate();

  [[nodiscard]] LastPlan last_plan() const;
  [[nodiscard]] PoolStats stats() const;
  [[nodiscard]] std::vector<pid_t> worker_pids() const;
  [[nodiscard]] std::optional<pid_t> worker_pid(std::size_t index) const;
  [[nodiscard]] std::vector<topology::CpuSet> worker_cpus() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace ringpool::pool::detail
