#pragma once
// ResultCollector: the parent's consumer side of the workers' result rings (internal to
// ringpool::pool). Reads result messages in place (ResultReader, task_wire.hpp) and
// settles the items in the TaskTable, which completes futures and batch sinks.
//
// Not thread-safe: the pool core's mutex guards every call.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ringpool/ipc/byte_ring.hpp"
#include "ringpool/pool/detail/payload.hpp"
#include "ringpool/pool/detail/task_wire.hpp"
#include "shared_layout.hpp"
#include "task_table.hpp"
#include "worker_supervisor.hpp"

namespace ringpool::pool::detail {

class ResultCollector {
 public:
  // Results by reference are taken from payload segments of `payloads` (which must outlive
  // the collector), up to `max_payload` bytes.
  // A value a worker streams (detail/stream_in.hpp) is decoded behind it, until
  // `workers` says that worker has exited.
  ResultCollector(const SharedLayout& layout, TaskTable& table, const WorkerSupervisor& workers,
                  const PayloadNames& payloads, std::size_t max_payload);

  // Settles up to `budget` messages from worker i's ring (all when budget is 0); returns
  // how many were read.
  std::size_t drain(std::size_t i, std::size_t budget = 0);
  // Some result ring holds a message nobody has collected yet.
  [[nodiscard]] bool pending() const noexcept;
  // Worker i is dead and drained: a fresh ring for its replacement.
  void reset(std::size_t i);

 private:
  // The leading parts of an error body too large for one message, gathered until the
  // error item that ends it (task_wire.hpp). One per worker: a worker's messages arrive in
  // order on its own ring.
  struct ErrorParts {
    std::uint64_t task_id = 0;
    std::uint64_t item = 0;  // the record's `next` when the parts arrived
    std::string bytes;       // at most kMaxErrorBody
  };

  void settle(std::size_t worker, std::span<const std::byte> message) noexcept;
  // Fails the record's next item with the error of `body`, joined to the gathered parts.
  void fail_with_error(std::size_t worker, std::uint64_t task_id, TaskTable::Record& r,
                       std::span<const std::byte> body) noexcept;
  // Takes and drops the values a late message holds by reference.
  void drop_references(std::size_t worker, ResultReader& reader) noexcept;
  // Settles the record's next item with the value in the payload segment `ref` names (or
  // fails it with the DecodeError of a refused reference). False when the worker died while
  // streaming the value: the item is left to the recovery of its task.
  bool deliver_by_reference(std::size_t worker, TaskTable::Record& r,
                            std::span<const std::byte> ref) noexcept;

  const SharedLayout& layout_;
  TaskTable& table_;
  const WorkerSupervisor& workers_;
  const PayloadNames& payloads_;
  std::size_t max_payload_;
  std::vector<ipc::SpscByteConsumer> results_;
  std::vector<ErrorParts> parts_;
  std::vector<LaneView> lanes_;  // each worker's lane, mapped once (payload.hpp)
};

}  // namespace ringpool::pool::detail
