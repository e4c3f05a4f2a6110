#pragma once
// The non-template engine behind cluster::Pool (rank 0 only): hands task chunks to the
// ranks expected to finish them first, runs rank 0's share in a local pool::PoolCore, moves
// results back into the batch's sink and notices lost ranks. MPI-free header; the MPI
// calls are in cluster/src/. Internal to ringpool::cluster (see pool.hpp for the contract).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ringpool/pool/detail/task_wire.hpp"
#include "ringpool/pool/future.hpp"

namespace ringpool::cluster {
struct PoolOptions;
struct LastPlan;
struct PoolStats;
}  // namespace ringpool::cluster

namespace ringpool::cluster::detail {

// One task message for some rank: `count` items of the task named by registry `key`.
struct ChunkRequest {
  std::uint64_t key = 0;                    // the task's spawn-registry key (all ranks)
  pool::detail::Invoker invoker = nullptr;  // this process's invoker (local runs)
  std::uint64_t fn = 0;                     // this process's fn word (local runs)
  std::uint32_t count = 1;
  std::uint32_t item_size = pool::detail::kVariableItems;
  std::span<const std::byte> payload;  // the task's state (if any), then the items
  pool::detail::ResultSink* sink = nullptr;
  // When set, the chunk owns this reference and releases it once the chunk is settled.
  pool::detail::StateBase* owned_state = nullptr;
  std::uint64_t base_index = 0;  // sink index of the chunk's first item
  // Part of a lazy batch (imap) begun before close(): still accepted after close().
  bool continues_batch = false;
};

class ClusterCore final : public pool::detail::Progress {
 public:
  // Opens a local pool on every taking-part rank (rank 0 too when options.local). Throws
  // ClusterError before init() or when no rank can take work, InvalidArgument for bad
  // options, what pool::Pool's constructor throws for a bad local pool.
  explicit ClusterCore(const PoolOptions& options);
  ~ClusterCore();
  ClusterCore(const ClusterCore&) = delete;
  ClusterCore& operator=(const ClusterCore&) = delete;

  // Hands one chunk to the rank (or the local pool) expected to finish it first (the items
  // it holds over its measured pace); blocks, making progress, while that one is at its
  // bound. Throws Closed after close(),
  // PayloadTooLarge when the payload exceeds max_payload(), ClusterError when every rank
  // is lost. Thread-safe.
  void send(const ChunkRequest& request);

  bool wait_until(bool (*ready)(const void*), const void* context,
                  std::optional<pool::detail::Clock::time_point> deadline) override;
  // Cancels a single submit's task that no rank has yet: its chunk still gathered on rank 0
  // for a remote rank (not sent), or queued in rank 0's own pool and not started by a worker
  // there. True then (it never runs; the future completes as cancelled). False once the
  // chunk was sent to a remote rank (rank 0 cannot take it back) or a worker started it.
  // Any thread.
  bool cancel(pool::detail::StateBase& state) override;
  // True once the task's chunk was sent to a remote rank (it can no longer be cancelled;
  // rank 0 does not learn when a remote worker starts it, as Python's ProcessPoolExecutor
  // marks a future running when it enters the call queue), or while a worker of rank 0's
  // own pool runs it. Any thread.
  bool running(const pool::detail::StateBase& state) override;

  // Records the plan of a batch of `tasks` tasks (0: unknown length) for last_plan();
  // returns true for the parallel mode (no more tasks than cores in all ranks).
  bool plan_batch(std::size_t tasks);
  void note_single_submit();

  // Workers of every taking-part rank together (the cores the plan counts).
  [[nodiscard]] std::size_t workers() const noexcept;
  // Bytes of a chunk's payload that fit one task message on every rank.
  [[nodiscard]] std::size_t max_payload() const noexcept;
  // Chunks all ranks together may hold at once (bounds a lazy imap).
  [[nodiscard]] std::size_t chunks_in_flight() const noexcept;
  [[nodiscard]] bool closed() const noexcept;

  void close();
  void join();
  void terminate();

  [[nodiscard]] LastPlan last_plan() const;
  [[nodiscard]] PoolStats stats() const;

  // What the cluster pool's futures hold (State::make): it outlives the core while they
  // live; ~ClusterCore detaches it after join.
  [[nodiscard]] pool::detail::PoolLink* link() const noexcept { return link_.get(); }

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  pool::detail::PoolLinkOwner link_;
};

// The registry key of the task a fn word names; throws InvalidArgument (saying to use
// RINGPOOL_TASK / RINGPOOL_FUNCTOR) when it is not registered.
[[nodiscard]] std::uint64_t registered_key(std::uint64_t fn_word);

}  // namespace ringpool::cluster::detail
