// Dispatcher: routing and writing task messages, backlogs, waking workers (see
// dispatcher.hpp).
#include "dispatcher.hpp"

#include <cstring>
#include <optional>

#include "ringpool/ipc/event_count.hpp"
#include "ringpool/pool/detail/task_wire.hpp"
#include "ringpool/pool/spawn.hpp"

namespace ringpool::pool::detail {

Dispatcher::Dispatcher(const CoreConfig& config, const SharedLayout& layout, TaskTable& table,
                       const WorkerSupervisor& workers)
    : config_(config),
      layout_(layout),
      table_(table),
      workers_(workers),
      shared_(ipc::MpmcByteProducer::attach(layout.regions(0).shared)),
      backlogs_(config.workers) {
  tasks_.reserve(config.workers);
  for (std::size_t i = 0; i < config.workers; ++i) {
    tasks_.push_back(ipc::SpscByteProducer::attach(layout.regions(i).tasks));
  }
}

std::size_t Dispatcher::max_payload() const noexcept {
  return config_.slot_size - sizeof(TaskHeader);
}

Dispatcher::WireFn Dispatcher::wire_fn(const SendRequest& req) const {
  if (config_.start != StartMethod::spawn) {
    return {static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(req.invoker)), req.fn};
  }
  // A re-executed worker has other addresses: name the task by its registry key.
  // Registrations never change, so the last lookup of this thread stays valid (a batch
  // sends many messages for one function without taking the registry's lock).
  thread_local std::uint64_t cached_fn = 0;
  thread_local std::optional<ringpool::detail::RegisteredTask> cached_task;
  if (cached_fn != req.fn || !cached_task) {
    cached_task = ringpool::detail::find_registered_task(
        reinterpret_cast<void (*)()>(static_cast<std::uintptr_t>(req.fn)));
    cached_fn = req.fn;
  }
  if (!cached_task || cached_task->pool_invoker == nullptr) {
    throw InvalidArgument(
        "ringpool: a Pool with StartMethod::spawn runs registered tasks only (its workers "
        "are re-executed copies of the program and find tasks by name): register a function "
        "with RINGPOOL_TASK(name) or a function object type with RINGPOOL_FUNCTOR(Type) at "
        "namespace scope (a member function pointer or a generic lambda cannot be "
        "registered: wrap the call in a registered function or struct functor), or use "
        "StartMethod::fork");
  }
  return {kRegisteredInvoker, cached_task->key};
}

int Dispatcher::pick_worker() {
  const std::size_t n = config_.workers;
  std::size_t best = n;
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t i = (round_robin_ + k) % n;
    const auto state = workers_.state(i);
    if (state != WorkerSupervisor::State::running && state != WorkerSupervisor::State::starting) {
      continue;
    }
    if (best == n || table_.queued(i) < table_.queued(best)) best = i;
  }
  if (best == n) return -1;  // no worker can take it: the shared ring (a broken pool fails it)
  // Sticky on ties: back-to-back single tasks go to the worker that just ran one (it is
  // still spinning, not asleep); a burst spreads because `queued` grows.
  round_robin_ = best;
  return static_cast<int>(best);
}

bool Dispatcher::try_send(const SendRequest& req, WireFn fn) {
  flush_backlogs();
  int target = req.route;
  if (target >= static_cast<int>(config_.workers) ||
      (target >= 0 &&
       workers_.state(static_cast<std::size_t>(target)) == WorkerSupervisor::State::retired)) {
    target = kRouteLeastLoaded;  // that worker is gone for good
  }
  if (target == kRouteLeastLoaded) target = pick_worker();
  if (target == kRouteShared) target = -1;
  const bool backlog_first =
      target >= 0 ? !backlogs_[static_cast<std::size_t>(target)].empty() : !shared_backlog_.empty();
  if (backlog_first) return false;
  const std::size_t total = sizeof(TaskHeader) + req.payload_bytes;
  const std::span<std::byte> room = claim(target, total);
  if (room.data() == nullptr) return false;
  const std::uint32_t index = table_.reserve();
  TaskHeader h{};
  h.task_id = table_.id_of(index);
  h.invoker = fn.invoker;
  h.fn = fn.fn;
  h.kind =
      static_cast<std::uint32_t>(req.by_reference ? MessageKind::task_by_ref : MessageKind::task);
  h.count = req.count;
  h.skip = 0;
  h.item_size = req.item_size;
  std::memcpy(room.data(), &h, sizeof h);
  try {
    if (req.payload_bytes > 0) req.encode(req.context, room.data() + sizeof h);
  } catch (...) {
    table_.unreserve(index);
    if (target < 0) shared_.commit(0);  // an MPMC ticket must be published (empty message)
    throw;
  }
  commit(target, total);
  table_.start(index, req.sink, req.owned_state, req.base_index, req.count, target);
  if (req.kept_payload != 0) table_.keep_payload(index, req.kept_payload);
  wake_after_push(target);
  return true;
}

void Dispatcher::requeue(std::vector<std::byte>&& message, int route) {
  if (route >= 0) {
    backlogs_[static_cast<std::size_t>(route)].push_back(std::move(message));
  } else {
    shared_backlog_.push_back(std::move(message));
  }
  ++backlogged_;
}

void Dispatcher::drop_all_backlogs() noexcept {
  for (auto& q : backlogs_) q.clear();
  shared_backlog_.clear();
  backlogged_ = 0;
}

void Dispatcher::flush_all_backlogs() {
  const auto flush = [this](std::deque<std::vector<std::byte>>& q, int target) {
    bool pushed = false;
    while (!q.empty()) {
      const std::span<std::byte> room = claim(target, q.front().size());
      if (room.data() == nullptr) break;
      std::memcpy(room.data(), q.front().data(), q.front().size());
      commit(target, q.front().size());
      q.pop_front();
      --backlogged_;
      pushed = true;
    }
    if (pushed) wake_after_push(target, target < 0);
  };
  for (std::size_t i = 0; i < backlogs_.size(); ++i) flush(backlogs_[i], static_cast<int>(i));
  flush(shared_backlog_, -1);
}

bool Dispatcher::push_stop(std::size_t i) {
  TaskHeader h{};
  h.kind = static_cast<std::uint32_t>(MessageKind::stop);
  for (int tries = 0; tries < 100000; ++tries) {
    const std::span<std::byte> room = tasks_[i].claim(sizeof h);
    if (room.data() != nullptr) {
      std::memcpy(room.data(), &h, sizeof h);
      tasks_[i].commit(sizeof h);
      wake_after_push(static_cast<int>(i));
      return true;
    }
    if (tasks_[i].corrupted()) return false;
    std::this_thread::yield();
  }
  return false;
}

// One wake per sleep: the exchange makes later senders (before the worker runs again)
// skip the syscall.
bool Dispatcher::wake_worker(std::size_t i) {
  if (config_.wait != WaitMode::block && !config_.shares_parent_cpu[i]) return false;
  WorkerShared& w = layout_.worker(i);
  // relaxed (both): after the caller's seq_cst fence (Dekker pair with the worker's
  // sleeping store + fence + re-check in sleep_until_work); the exchange only elects the
  // one waker.
  if (w.sleeping.load(std::memory_order_relaxed) == 0 ||
      w.sleeping.exchange(0, std::memory_order_relaxed) == 0) {
    return false;
  }
  w.wake.notify_all();  // the caller's fence made its push the publish (event_count.hpp)
  return true;
}

// For the shared ring: one sleeping worker per message (a burst wakes one more per
// message), or every sleeping worker (`all`, after a backlog flush).
void Dispatcher::wake_after_push(int target, bool all) {
  if (config_.wait != WaitMode::block && !config_.any_shares_parent_cpu) return;
  // seq_cst fence: orders the ring publish before the loads of `sleeping` (see
  // wake_worker and the worker's idle path).
  ipc::detail::store_load_fence();
  if (target >= 0) {
    (void)wake_worker(static_cast<std::size_t>(target));
    return;
  }
  const std::size_t n = config_.workers;
  for (std::size_t k = 0; k < n; ++k) {
    if (wake_worker((round_robin_ + k) % n) && !all) return;
  }
}

}  // namespace ringpool::pool::detail
