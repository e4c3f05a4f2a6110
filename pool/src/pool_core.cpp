// PoolCore: the parent side of a Pool (see core_impl.hpp for its parts). This file builds
// it, ends it (close, join, terminate) and answers the pool's questions (plan, stats,
// pids); core_progress.cpp moves work forward.
#include <unistd.h>

#include <algorithm>
#include <string>
#include <thread>

#include "core_impl.hpp"
#include "ringpool/pool/spawn.hpp"
#include "ringpool/topology/machine.hpp"

namespace ringpool::pool::detail {

namespace {

// How long a spawn-started Pool waits for its workers to reach the worker loop.
constexpr auto kSpawnStartLimit = std::chrono::seconds(30);
// How long join() lets workers finish (their initializer, their stop message) before it
// kills them.
constexpr auto kJoinGrace = std::chrono::seconds(10);

CoreConfig checked_config(const PoolOptions& o) {
  ringpool::detail::check_spawn_guard("creating a ringpool::pool::Pool");
  return CoreConfig::from(o);
}

// Task records reserved up front, and task words: per worker, a full task ring, its share
// of the shared ring, a full result ring, the task it runs and one in a backlog; records
// past it (not expected) work but cannot be cancelled once sent.
std::size_t task_records(const CoreConfig& c) {
  return c.workers * (3 * c.depth + 2);
}

}  // namespace

PoolCore::Impl::Impl(const PoolOptions& options)
    : config(checked_config(options)),
      layout(SharedLayout::create(config.workers, config.depth, config.slot_size,
                                  task_records(config), config.start == StartMethod::spawn)),
      table(config.workers, task_records(config), layout.task_words()),
      workers(config, layout, mu,
              [this] {
                // relaxed (all): hints; collect() takes mu and re-checks everything.
                if (link->inside() == 0 && !terminated.load(std::memory_order_relaxed)) {
                  (void)collect(true);
                }
                return table.live_approx() != 0;
              }),
      dispatcher(config, layout, table, workers),
      collector(layout, table, workers, config.payloads, config.max_payload),
      early_deaths(config.workers, 0),
      init_failures(config.workers, 0) {
  table.set_payloads(&config.payloads);
  // If this process is killed, its resource tracker removes the pool's payload segments
  // (also those its workers created, and the lanes). Without a tracker they stay until
  // `ringpool shm clean`; the pool works the same.
  (void)config.payloads.track();
  workers.start_all();
  if (config.start == StartMethod::spawn) await_spawned_workers();
}

PoolCore::Impl::~Impl() {
  if (!joined) {
    kill_all_and_fail(std::make_exception_ptr(
        Closed("ringpool: the pool was destroyed before this task finished")));
  }
  // Every task is settled now (joined, or failed above or by terminate()), so a thread still
  // inside wait_until() (another thread's Future::get()) sees its future ready and leaves;
  // woken, in case it sleeps on the results event count. None enters the core after this;
  // the link stays with the futures that still hold it.
  link->detach([](void* self) { static_cast<Impl*>(self)->layout.pool().results.notify_all(); },
               this);
  // Payload segments never taken (tasks or results dropped by terminate, late results of
  // settled tasks, a worker killed mid-transfer): every worker is gone, so none is in
  // flight. Only the pool's own process cleans up (not a forked copy of it).
  if (::getpid() == config.self_pid) {
    (void)config.payloads.remove_all();
    config.payloads.untrack();
  }
}

// A re-executed worker serves only if main() hands it to serve_if_worker; otherwise it runs
// the program again. Fail here, with the reason, rather than leave tasks waiting for
// workers that never come (Python's Pool hangs in this case).
void PoolCore::Impl::await_spawned_workers() {
  const auto deadline = Clock::now() + kSpawnStartLimit;
  std::string error;
  for (;;) {
    {
      std::lock_guard lock(mu);
      (void)workers.reap([this](const WorkerSupervisor::Death& d) { recover(d); });
      if (died_unstarted > 0) {
        error =
            "ringpool: a spawned pool worker stopped before it started serving: " + unstarted_death;
        break;
      }
      bool all = true;
      for (std::size_t i = 0; i < config.workers; ++i) {
        // relaxed: a flag; nothing is read through it.
        all &= layout.worker(i).started.load(std::memory_order_relaxed) != 0;
      }
      if (all) return;
    }
    if (Clock::now() >= deadline) {
      error = "ringpool: spawned pool workers did not start serving within " +
              std::to_string(kSpawnStartLimit.count()) + " s";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  kill_all_and_fail(nullptr);
  joined = true;
  throw PoolError(error +
                  ". A spawn-started worker re-executes this program: main() must begin with "
                  "ringpool::serve_if_worker(argc, argv), and every task and initializer must be "
                  "registered with RINGPOOL_TASK (see the worker's stderr above)");
}

void PoolCore::Impl::run_callbacks(std::vector<std::function<void()>>& callbacks) noexcept {
  for (auto& cb : callbacks) {
    try {
      if (cb) cb();
    } catch (...) {
      // A throwing callback must not take the collector down (Python logs and goes on).
    }
  }
  callbacks.clear();
}

static bool no_live_tasks(const void* table) noexcept {
  return static_cast<const TaskTable*>(table)->empty();
}

void PoolCore::Impl::join() {
  if (joined) return;
  // relaxed (here and below): join() runs on the thread that called close() or
  // terminate(), or after it (the documented contract: join does not race them).
  if (!closed.load(std::memory_order_relaxed)) {
    throw InvalidState(
        "ringpool: Pool::join() called before close() or terminate(); call close() first (as "
        "Python's Pool.join requires)");
  }
  if (terminated.load(std::memory_order_relaxed)) {
    joined = true;
    return;
  }
  {
    std::lock_guard lock(mu);
    joining = true;
  }
  link->wait_until(&no_live_tasks, &table, std::nullopt);
  // Let pending restarts finish so that every worker gets its stop message.
  for (;;) {
    {
      std::lock_guard lock(mu);
      if (!workers.any_in_transition()) break;
    }
    (void)collect(true);
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  {
    std::lock_guard lock(mu);
    workers.begin_drain();
    for (std::size_t i = 0; i < config.workers; ++i) {
      if (workers.state(i) == WorkerSupervisor::State::running) (void)dispatcher.push_stop(i);
    }
  }
  // Workers finish what they run (an initializer too) and exit by message; the supervisor
  // thread stops only then (PR_SET_PDEATHSIG would kill the workers it forked).
  workers.wait_all_exit(Clock::now() + kJoinGrace);
  workers.stop_thread();
  joined = true;
}

void PoolCore::Impl::kill_all_and_fail(const std::exception_ptr& error) {
  {
    std::lock_guard lock(mu);
    // relaxed (both): readers that matter hold mu; others only stop sooner.
    terminated.store(true, std::memory_order_relaxed);
    closed.store(true, std::memory_order_relaxed);
  }
  workers.kill_all();
  if (!error) return;
  std::vector<std::function<void()>> callbacks;
  {
    std::lock_guard lock(mu);
    t_deferred_callbacks = &deferred;
    table.fail_all(error);
    dispatcher.drop_all_backlogs();
    t_deferred_callbacks = nullptr;
    callbacks.swap(deferred);
  }
  run_callbacks(callbacks);
}

bool PoolCore::Impl::cancel(StateBase& state) {
  std::vector<std::function<void()>> callbacks;
  bool cancelled = false;
  {
    std::lock_guard lock(mu);
    TaskTable::Record* r = table.lookup(state.task_id());
    const bool single = r != nullptr && r->owned == &state;
    // A batch's future (map_async) or a then() future never gets a task id.
    if (!single && state.task_id() != 0) return state.cancelled();
    t_deferred_callbacks = &deferred;
    cancelled = single ? table.try_cancel(*r) : table.try_cancel_batch(state);
    t_deferred_callbacks = nullptr;
    callbacks.swap(deferred);
  }
  run_callbacks(callbacks);
  return cancelled;
}

bool PoolCore::Impl::running(const StateBase& state) {
  std::lock_guard lock(mu);
  const TaskTable::Record* r = table.lookup(state.task_id());
  return r != nullptr && r->owned == &state && table.running(*r);
}

std::size_t PoolCore::Impl::cancel_pending() {
  std::vector<std::function<void()>> callbacks;
  std::size_t n = 0;
  {
    std::lock_guard lock(mu);
    t_deferred_callbacks = &deferred;
    n = table.cancel_all_pending();
    t_deferred_callbacks = nullptr;
    callbacks.swap(deferred);
  }
  run_callbacks(callbacks);
  return n;
}

void PoolCore::Impl::terminate() {
  if (joined) return;
  kill_all_and_fail(std::make_exception_ptr(
      Closed("ringpool: the pool was terminated before this task finished")));
  joined = true;
}

// ---- PoolCore ---------------------------------------------------------------------------

PoolCore::PoolCore(const PoolOptions& options) : impl_(std::make_unique<Impl>(options)) {}
PoolCore::~PoolCore() = default;

void PoolCore::send(const SendRequest& request) {
  impl_->send(request);
}

bool PoolCore::wait_until(bool (*ready)(const void*), const void* context,
                          std::optional<Clock::time_point> deadline) {
  return impl_->link->wait_until(ready, context, deadline);
}

PoolLink* PoolCore::link() const noexcept {
  return impl_->link.get();
}

bool PoolCore::cancel(StateBase& state) {
  return impl_->cancel(state);
}

bool PoolCore::running(const StateBase& state) {
  return impl_->running(state);
}

std::size_t PoolCore::cancel_pending() {
  return impl_->cancel_pending();
}

bool PoolCore::plan_batch(std::size_t tasks) {
  const std::size_t n = impl_->config.workers;
  const topology::Plan p =
      topology::plan(topology::Machine::live(), tasks, impl_->config.placement);
  const bool parallel = p.mode == topology::Mode::parallel && tasks <= n;
  LastPlan last;
  last.plan = p;
  last.tasks = tasks;
  last.path = parallel ? Path::parallel_spsc : Path::concurrent_mpmc;
  if (parallel) {
    last.reason = std::to_string(tasks) + " task(s) <= " + std::to_string(n) +
                  " worker(s): each task goes to its own pinned worker through that worker's "
                  "SPSC ring";
  } else if (tasks > n) {
    last.reason = std::to_string(tasks) + " tasks > " + std::to_string(n) +
                  " workers: tasks are multiplexed over the workers through the shared MPMC ring";
  } else {
    last.reason = std::to_string(tasks) + " tasks exceed the " + std::to_string(p.capacity) +
                  " usable cores: concurrent through the shared MPMC ring";
  }
  std::lock_guard lock(impl_->plan_mu);
  impl_->last_batch = std::move(last);
  impl_->have_batch = true;
  // relaxed: last_plan() reads it under plan_mu.
  impl_->last_was_single.store(false, std::memory_order_relaxed);
  return parallel;
}

void PoolCore::plan_unsized_batch() {
  const std::size_t n = impl_->config.workers;
  LastPlan last;
  // An input of unknown length is planned as one that outnumbers the workers.
  last.plan = topology::plan(topology::Machine::live(), n + 1, impl_->config.placement);
  last.tasks = 0;
  last.path = Path::concurrent_mpmc;
  last.reason = "an input of unknown length (an unsized range): tasks are multiplexed over the " +
                std::to_string(n) + " worker(s) through the shared MPMC ring";
  std::lock_guard lock(impl_->plan_mu);
  impl_->last_batch = std::move(last);
  impl_->have_batch = true;
  // relaxed: last_plan() reads it under plan_mu.
  impl_->last_was_single.store(false, std::memory_order_relaxed);
}

void PoolCore::note_single_submit() noexcept {
  // relaxed: a flag read under plan_mu by last_plan(); a racing batch may win.
  impl_->last_was_single.store(true, std::memory_order_relaxed);
}

std::size_t PoolCore::workers() const noexcept {
  return impl_->config.workers;
}
std::size_t PoolCore::max_payload() const noexcept {
  return impl_->dispatcher.max_payload();
}
std::size_t PoolCore::payload_limit() const noexcept {
  return impl_->config.max_payload;
}
std::size_t PoolCore::ring_messages() const noexcept {
  return impl_->config.depth * impl_->config.workers;
}
std::chrono::nanoseconds PoolCore::imap_pack_budget() const noexcept {
  return impl_->config.imap_pack_budget;
}
bool PoolCore::closed() const noexcept {
  // relaxed: a snapshot for the caller; send() re-reads it under the lock.
  return impl_->closed.load(std::memory_order_relaxed);
}
void PoolCore::close() {
  std::lock_guard lock(impl_->mu);
  // relaxed: send() reads it under mu, which we hold.
  impl_->closed.store(true, std::memory_order_relaxed);
}
void PoolCore::join() {
  impl_->join();
}
void PoolCore::terminate() {
  impl_->terminate();
}

LastPlan PoolCore::last_plan() const {
  std::lock_guard lock(impl_->plan_mu);
  // relaxed: written before plan_mu was taken by plan_batch, or a racing single submit.
  if (impl_->last_was_single.load(std::memory_order_relaxed) || !impl_->have_batch) {
    LastPlan last;
    last.plan = impl_->config.single_plan;
    last.tasks = 1;
    last.path = Path::parallel_spsc;
    last.reason =
        "a single submit(): one task goes to the least-loaded pinned worker through its SPSC "
        "ring";
    return last;
  }
  return impl_->last_batch;
}

PoolStats PoolCore::stats() const {
  std::lock_guard lock(impl_->mu);
  PoolStats s = impl_->stats;
  s.respawns = impl_->workers.respawns();
  return s;
}

std::vector<pid_t> PoolCore::worker_pids() const {
  std::lock_guard lock(impl_->mu);
  std::vector<pid_t> pids;
  for (std::size_t i = 0; i < impl_->config.workers; ++i) {
    // Only live workers: a dead one has no pid, and a pid <= 0 handed to kill() signals a
    // process group or (-1) every process the caller may signal.
    const pid_t pid = impl_->workers.pid(i);
    if (impl_->workers.state(i) == WorkerSupervisor::State::running && pid > 0) {
      pids.push_back(pid);
    }
  }
  return pids;
}

std::optional<pid_t> PoolCore::worker_pid(std::size_t index) const {
  std::lock_guard lock(impl_->mu);
  if (index >= impl_->config.workers) return std::nullopt;
  const pid_t pid = impl_->workers.pid(index);
  if (impl_->workers.state(index) != WorkerSupervisor::State::running || pid <= 0) {
    return std::nullopt;
  }
  return pid;
}

std::vector<topology::CpuSet> PoolCore::worker_cpus() const {
  return impl_->config.cpus;
}

}  // namespace ringpool::pool::detail

namespace ringpool::pool {

Pool::Pool(PoolOptions options) : core_(std::make_unique<detail::PoolCore>(options)) {}
Pool::Pool(std::size_t workers)
    : Pool([workers] {
        PoolOptions o;
        o.workers = workers;
        return o;
      }()) {}

Pool::~Pool() {
  if (!core_) return;
  try {
    core_->close();
    core_->join();
  } catch (...) {
    // join after close cannot throw InvalidState; anything else is dropped here.
  }
}

void Pool::close() {
  core_->close();
}
void Pool::join() {
  core_->join();
}
void Pool::terminate() {
  core_->terminate();
}
void Pool::shutdown(bool wait, bool cancel_futures) {
  core_->close();
  if (cancel_futures) (void)core_->cancel_pending();
  if (wait) core_->join();
}
LastPlan Pool::last_plan() const {
  return core_->last_plan();
}
PoolStats Pool::stats() const {
  return core_->stats();
}

}  // namespace ringpool::pool
