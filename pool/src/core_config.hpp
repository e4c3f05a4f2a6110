#pragma once
// CoreConfig: a Pool's options, checked and resolved once (worker count, CPUs, the
// initializer in the form the start method needs). Immutable while the pool runs.
// Internal to ringpool::pool.
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "ringpool/pool/detail/payload.hpp"
#include "ringpool/pool/pool.hpp"
#include "ringpool/topology/cpu_set.hpp"
#include "ringpool/topology/placement.hpp"

namespace ringpool::pool::detail {

struct CoreConfig {
  std::size_t workers = 0;
  WaitMode wait = WaitMode::block;
  std::size_t slot_size = 0;
  std::size_t max_payload = 0;  // PoolOptions::max_payload
  PayloadNames payloads;        // this pool's payload segments (payload.hpp)
  std::size_t depth = 0;
  std::chrono::nanoseconds imap_pack_budget{};  // PoolOptions::imap_pack_budget
  std::uint32_t retries = 0;
  std::size_t max_tasks = 0;
  bool pin = true;
  StartMethod start = StartMethod::fork;
  std::function<void()> initializer;  // fork and thread workers
  std::uint64_t initializer_key = 0;  // spawn: registry key of initialize_with()'s function
  std::vector<std::byte> initializer_args;
  topology::Placement placement;
  std::vector<topology::CpuSet> cpus;  // worker i's CPUs
  // Worker i may run on the one CPU this process is confined to (taskset, mpirun's
  // binding): while idle it sleeps instead of spinning, whatever `wait` says, and the
  // dispatcher wakes it in either mode; the parent yields while it waits for results.
  std::vector<bool> shares_parent_cpu;
  bool any_shares_parent_cpu = false;
  topology::Plan single_plan;  // what last_plan() says for a single submit()
  pid_t self_pid = 0;

  // Checks `o` and resolves it against the live machine. Throws InvalidArgument naming the
  // option that is wrong, topology errors from the placement.
  static CoreConfig from(const PoolOptions& o);
};

}  // namespace ringpool::pool::detail
