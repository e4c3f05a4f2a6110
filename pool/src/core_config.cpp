// CoreConfig::from: a Pool's options checked and resolved (see core_config.hpp).
#include "core_config.hpp"

#include <unistd.h>

#include <algorithm>
#include <string>

#include "ringpool/pool/detail/task_wire.hpp"
#include "ringpool/pool/spawn.hpp"
#include "ringpool/topology/machine.hpp"

namespace ringpool::pool::detail {

CoreConfig CoreConfig::from(const PoolOptions& o) {
  CoreConfig c;
  if (o.workers && *o.workers == 0) {
    throw InvalidArgument(
        "ringpool: a Pool needs at least one worker; leave PoolOptions::workers unset to get one "
        "per usable core");
  }
  c.start = o.start_method;
  const bool spawn = c.start == StartMethod::spawn;
  if (o.initializer && o.initializer_call) {
    throw InvalidArgument(
        "ringpool: PoolOptions has both `initializer` and initialize_with(); set one of them");
  }
  if (o.initializer_call) {
    const auto& call = *o.initializer_call;
    if (spawn) {
      const auto task = ringpool::detail::find_registered_task(call.fn);
      if (!task) {
        throw InvalidArgument(
            "ringpool: a Pool with StartMethod::spawn runs its initializer in re-executed "
            "workers, which find functions by name: register the function passed to "
            "initialize_with() with RINGPOOL_TASK(name) at namespace scope");
      }
      c.initializer_key = task->key;
      c.initializer_args = call.args;
    } else {
      c.initializer = [call] { call.thunk(call.fn, call.args); };
    }
  } else if (o.initializer) {
    if (spawn) {
      throw InvalidArgument(
          "ringpool: PoolOptions::initializer (a std::function) cannot reach a re-executed "
          "worker; with StartMethod::spawn use initialize_with(fn, args...) with a function "
          "registered by RINGPOOL_TASK");
    }
    c.initializer = o.initializer;
  }
  if (o.slot_size < sizeof(TaskHeader) + 64 || o.slot_size > (std::size_t{1} << 30)) {
    throw InvalidArgument("ringpool: PoolOptions::slot_size must be between " +
                          std::to_string(sizeof(TaskHeader) + 64) + " bytes and 1 GiB; got " +
                          std::to_string(o.slot_size));
  }
  if (o.max_payload < o.slot_size) {
    throw InvalidArgument("ringpool: PoolOptions::max_payload (" + std::to_string(o.max_payload) +
                          " bytes) must be at least slot_size (" + std::to_string(o.slot_size) +
                          " bytes)");
  }
  if (o.ring_depth < 2 || o.ring_depth > (std::size_t{1} << 20)) {
    throw InvalidArgument("ringpool: PoolOptions::ring_depth must be between 2 and 2^20; got " +
                          std::to_string(o.ring_depth));
  }
  c.workers = o.workers ? *o.workers : std::max<std::size_t>(1, topology::usable_cores());
  c.wait = o.wait;
  c.slot_size = o.slot_size;
  c.max_payload = o.max_payload;
  c.payloads = PayloadNames::fresh();
  c.depth = o.ring_depth;
  if (o.imap_pack_budget.count() < 0) {
    throw InvalidArgument("ringpool: PoolOptions::imap_pack_budget must not be negative; got " +
                          std::to_string(o.imap_pack_budget.count()) + " ns");
  }
  c.imap_pack_budget = o.imap_pack_budget;
  c.retries = o.retries;
  c.max_tasks = o.max_tasks_per_child;
  // Thread workers share this process: pinning one would pin the whole process.
  c.pin = o.pin && c.start != StartMethod::thread;
  c.self_pid = ::getpid();
  if (o.placement) {
    c.placement = *o.placement;
  } else if (auto from_env = topology::placement_from_env()) {
    c.placement = *from_env;
  }
  const topology::Machine& machine = topology::Machine::live();
  c.cpus = topology::place(machine, c.workers, c.placement);
  c.shares_parent_cpu.assign(c.workers, false);
  const topology::CpuSet parent = machine.usable().cpus;
  if (parent.count() == 1) {
    const unsigned cpu = *parent.first();
    for (std::size_t i = 0; i < c.workers; ++i) {
      // An unpinned worker (or a thread) runs where the parent may: on that CPU.
      c.shares_parent_cpu[i] = !c.pin || c.cpus[i].contains(cpu);
      c.any_shares_parent_cpu = c.any_shares_parent_cpu || c.shares_parent_cpu[i];
    }
  }
  c.single_plan = topology::plan(machine, 1, c.placement);
  return c;
}

}  // namespace ringpool::pool::detail
