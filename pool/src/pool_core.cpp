// PoolCore: the parent side of a Pool. Owns the shared mapping (rings + per-worker
// records), forks and respawns workers from a supervisor thread, routes task messages,
// collects results in whichever thread waits, and recovers from dead workers.
//
// Locking: `mu` guards every parent-side structure (records, ring handles, worker
// table, backlogs). It is held for short bursts only, never while sleeping; result
// callbacks run after it is released. Workers are forked only by the supervisor thread,
// which lives as long as the pool: PR_SET_PDEATHSIG fires when the *thread* that forked
// a child exits, so forking from a short-lived user thread would kill its workers.
#include <sched.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pool_internal.hpp"
#include "ringpool/ipc/segment.hpp"
#include "ringpool/pool/spawn.hpp"
#include "ringpool/topology/machine.hpp"
#include "ringpool/topology/placement.hpp"

namespace ringpool::pool::detail {

namespace {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

std::size_t round_up(std::size_t n, std::size_t to) {
  return (n + to - 1) / to * to;
}

int exitcode_of(int status) {
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 0;
}

constexpr auto kDeathCheckPeriod = std::chrono::milliseconds(2);
constexpr auto kSleepSlice = std::chrono::milliseconds(2);
// How long a spawn-started Pool waits for its workers to reach the worker loop.
constexpr auto kSpawnStartLimit = std::chrono::seconds(30);

}  // namespace

struct PoolCore::Impl {
  enum class WorkerState { starting, running, dead, stopped };

  struct Worker {
    pid_t pid = -1;
    WorkerState state = WorkerState::starting;
    ipc::SpscByteProducer tasks;    // parent = producer
    ipc::SpscByteConsumer results;  // parent = consumer
    std::span<std::byte> task_region;
    std::span<std::byte> result_region;
    std::size_t queued = 0;  // task messages routed to this worker and not yet settled
    std::deque<std::vector<std::byte>> backlog;  // recovered messages waiting for room
    int init_failures = 0;                       // consecutive deaths before initializing
    bool spawned_once = false;
  };

  struct Record {
    std::uint32_t generation = 1;
    bool live = false;
    ResultSink* sink = nullptr;
    StateBase* owned = nullptr;
    std::uint64_t base = 0;
    std::uint32_t count = 0;
    std::uint32_t next = 0;  // items settled so far (results arrive in order)
    std::uint32_t attempts = 0;
    int worker = -1;  // SPSC route, -1 for the shared ring
  };

  // ---- configuration (immutable after construction) ----
  std::size_t n = 0;
  WaitMode wait = WaitMode::block;
  std::size_t slot_size = 0;
  std::size_t depth = 0;
  std::uint32_t retries = 0;
  std::size_t max_tasks = 0;
  bool pin = true;
  bool spawn_start = false;  // StartMethod::spawn: workers are re-executed copies
  std::function<void()> initializer;
  std::uint64_t initializer_key = 0;  // spawn: registry key of initialize_with()'s function
  std::vector<std::byte> initializer_args;
  topology::Placement placement;
  std::vector<topology::CpuSet> cpus;
  topology::Plan single_plan;
  pid_t self_pid = 0;

  // ---- shared memory ----
  ipc::Segment segment;
  PoolShared* shared = nullptr;
  WorkerShared* ws = nullptr;
  std::span<std::byte> shared_region;
  ipc::MpmcByteProducer shared_ring;  // parent = producer (and recoverer)

  // ---- guarded by mu ----
  mutable std::mutex mu;
  std::vector<Worker> workers;
  std::vector<Record> records;
  std::vector<std::uint32_t> free_records;
  std::deque<std::vector<std::byte>> shared_backlog;
  std::size_t round_robin = 0;
  Clock::time_point last_death_check{};
  std::uint64_t collects = 0;
  PoolStats stats{};
  std::size_t died_unstarted = 0;  // workers that died before entering the worker loop
  std::string unstarted_death;     // how the first of them ended
  std::vector<std::function<void()>> deferred;

  std::atomic<std::size_t> live_records{0};
  std::atomic<bool> closed{false};
  std::atomic<bool> terminated{false};
  bool joined = false;

  // ---- last plan ----
  mutable std::mutex plan_mu;
  std::atomic<bool> last_was_single{false};
  LastPlan last_batch;
  bool have_batch = false;

  // ---- supervisor ----
  std::mutex sup_mu;
  std::condition_variable sup_cv;
  std::condition_variable spawned_cv;
  std::vector<std::size_t> spawn_queue;
  std::size_t spawned = 0;
  std::string spawn_error;
  bool sup_stop = false;
  std::atomic<int> active_waiters{0};
  std::thread supervisor;

  // ------------------------------------------------------------------------------------
  Impl(const PoolOptions& o) {
    ringpool::detail::check_spawn_guard("creating a ringpool::pool::Pool");
    if (o.workers && *o.workers == 0) {
      throw InvalidArgument(
          "ringpool: a Pool needs at least one worker; leave PoolOptions::workers unset to "
          "get one per usable core");
    }
    spawn_start = o.start_method == StartMethod::spawn;
    if (o.initializer && o.initializer_call) {
      throw InvalidArgument(
          "ringpool: PoolOptions has both `initializer` and initialize_with(); set one of "
          "them");
    }
    if (o.initializer_call) {
      const auto& call = *o.initializer_call;
      if (spawn_start) {
        const auto task = ringpool::detail::find_registered_task(call.fn);
        if (!task) {
          throw InvalidArgument(
              "ringpool: a Pool with StartMethod::spawn runs its initializer in re-executed "
              "workers, which find functions by name: register the function passed to "
              "initialize_with() with RINGPOOL_TASK(name) at namespace scope");
        }
        initializer_key = task->key;
        initializer_args = call.args;
      } else {
        initializer = [call] { call.thunk(call.fn, call.args); };
      }
    } else if (o.initializer) {
      if (spawn_start) {
        throw InvalidArgument(
            "ringpool: PoolOptions::initializer (a std::function) cannot reach a re-executed "
            "worker; with StartMethod::spawn use initialize_with(fn, args...) with a function "
            "registered by RINGPOOL_TASK");
      }
      initializer = o.initializer;
    }
    if (o.slot_size < sizeof(TaskHeader) + 64 || o.slot_size > (std::size_t{1} << 30)) {
      throw InvalidArgument("ringpool: PoolOptions::slot_size must be between " +
                            std::to_string(sizeof(TaskHeader) + 64) + " bytes and 1 GiB; got " +
                            std::to_string(o.slot_size));
    }
    if (o.ring_depth < 2 || o.ring_depth > (std::size_t{1} << 20)) {
      throw InvalidArgument("ringpool: PoolOptions::ring_depth must be between 2 and 2^20; got " +
                            std::to_string(o.ring_depth));
    }
    n = o.workers ? *o.workers : std::max<std::size_t>(1, topology::usable_cores());
    wait = o.wait;
    slot_size = o.slot_size;
    depth = o.ring_depth;
    retries = o.retries;
    max_tasks = o.max_tasks_per_child;
    pin = o.pin;
    self_pid = getpid();
    if (o.placement) {
      placement = *o.placement;
    } else if (auto from_env = topology::placement_from_env()) {
      placement = *from_env;
    }
    const topology::Machine& machine = topology::Machine::live();
    cpus = topology::place(machine, n, placement);
    single_plan = topology::plan(machine, 1, placement);

    map_memory();
    records.reserve(n * (2 * depth + 2) + depth * n);
    supervisor = std::thread([this] { supervise(); });
    {
      std::unique_lock lock(sup_mu);
      for (std::size_t i = 0; i < n; ++i) spawn_queue.push_back(i);
      sup_cv.notify_all();
      spawned_cv.wait(lock, [&] { return spawned == n || !spawn_error.empty(); });
      if (!spawn_error.empty()) {
        const std::string error = spawn_error;
        lock.unlock();
        kill_all_and_stop();
        throw PoolError(error);
      }
    }
    if (spawn_start) await_spawned_workers();
  }

  // A re-executed worker serves only if main() hands it to serve_if_worker; otherwise it
  // runs the program again. Fail here, with the reason, rather than leave tasks waiting
  // for workers that never come (Python's Pool hangs in this case).
  void await_spawned_workers() {
    const auto deadline = Clock::now() + kSpawnStartLimit;
    std::string error;
    for (;;) {
      {
        std::lock_guard lock(mu);
        (void)check_deaths();
        if (died_unstarted > 0) {
          error = "ringpool: a spawned pool worker stopped before it started serving: " +
                  unstarted_death;
          break;
        }
        // relaxed: a flag; nothing is read through it.
        if (std::all_of(ws, ws + n, [](const WorkerShared& w) {
              return w.started.load(std::memory_order_relaxed) != 0;
            })) {
          return;
        }
      }
      if (Clock::now() >= deadline) {
        error = "ringpool: spawned pool workers did not start serving within " +
                std::to_string(kSpawnStartLimit.count()) + " s";
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    kill_all_and_stop();
    throw PoolError(error +
                    ". A spawn-started worker re-executes this program: main() must begin with "
                    "ringpool::serve_if_worker(argc, argv), and every task and initializer must "
                    "be registered with RINGPOOL_TASK (see the worker's stderr above)");
  }

  ~Impl() {
    if (!joined) kill_all_and_stop();
  }

  void map_memory() {
    const std::size_t header = round_up(sizeof(PoolShared), kLine);
    const std::size_t per_worker = round_up(sizeof(WorkerShared), kLine);
    const std::size_t shared_bytes =
        round_up(ipc::MpmcByteRing::required_bytes(depth * n, slot_size), kLine);
    const std::size_t task_bytes =
        round_up(ipc::SpscByteRing::required_bytes(depth, slot_size), kLine);
    const std::size_t result_bytes = task_bytes;
    const std::size_t total =
        header + per_worker * n + shared_bytes + n * (task_bytes + result_bytes);
    segment = ipc::Segment::anonymous(total);
    if (spawn_start && segment.fd() < 0) {
      throw PoolError(
          "ringpool: a Pool with StartMethod::spawn hands its rings to the workers as a memfd, "
          "and memfd_create is not available here; use StartMethod::fork");
    }
    std::byte* base = segment.data();
    shared = ::new (base) PoolShared{};
    shared->magic = kPoolMagic;
    shared->workers = n;
    ws = reinterpret_cast<WorkerShared*>(base + header);
    for (std::size_t i = 0; i < n; ++i) ::new (&ws[i]) WorkerShared{};
    std::byte* p = base + header + per_worker * n;
    const ipc::RingOptions ring_options{ipc::WaitStrategy::spin, 0};
    shared_region = {p, shared_bytes};
    shared_ring =
        ipc::MpmcByteRing::create(shared_region, depth * n, slot_size, ring_options).producer;
    p += shared_bytes;
    workers.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      Worker& w = workers[i];
      w.task_region = {p, task_bytes};
      p += task_bytes;
      w.result_region = {p, result_bytes};
      p += result_bytes;
      w.tasks = ipc::SpscByteRing::create(w.task_region, depth, slot_size, ring_options).producer;
      w.results =
          ipc::SpscByteRing::create(w.result_region, depth, slot_size, ring_options).consumer;
    }
  }

  // ---- supervisor thread ----------------------------------------------------------------
  void supervise() {
    std::unique_lock lock(sup_mu);
    for (;;) {
      // relaxed: only chooses the poll period.
      const bool busy = live_records.load(std::memory_order_relaxed) != 0;
      sup_cv.wait_for(lock, busy ? std::chrono::milliseconds(5) : std::chrono::milliseconds(50),
                      [&] { return sup_stop || !spawn_queue.empty(); });
      std::vector<std::size_t> todo;
      todo.swap(spawn_queue);
      const bool stop = sup_stop;
      lock.unlock();
      for (std::size_t i : todo) spawn(i);
      if (stop) return;
      // Progress for futures nobody waits on (callbacks) and deaths of idle workers.
      // relaxed (both): hints; collect() takes mu and re-checks everything.
      if (active_waiters.load(std::memory_order_relaxed) == 0 &&
          !terminated.load(std::memory_order_relaxed)) {
        collect(true);
      }
      lock.lock();
    }
  }

  void spawn(std::size_t i) {
    WorkerConfig config;
    // mu is held across fork: the new worker may answer a task before this thread runs
    // again, and whoever sees that answer must also see its pid, state and respawn count.
    // The child never touches mu.
    std::unique_lock lock(mu);
    {
      // relaxed: written under mu, which we hold.
      if (terminated.load(std::memory_order_relaxed)) return;
      config.index = i;
      config.parent = self_pid;
      config.pin = pin;
      config.cpus = cpus[i];
      config.wait = wait;
      config.slot_size = slot_size;
      config.max_tasks = max_tasks;
      config.initializer = &initializer;
      config.shared = shared;
      config.self = &ws[i];
      config.task_region = workers[i].task_region;
      config.result_region = workers[i].result_region;
      config.shared_region = shared_region;
    }
    pid_t pid = -1;
    std::string error;
    if (spawn_start) {
      try {
        pid = ringpool::detail::spawn_worker(spawn_request(config));
      } catch (const std::exception& e) {
        error = std::string("ringpool: cannot start a spawned worker process: ") + e.what();
      }
    } else {
      std::fflush(stdout);
      std::fflush(stderr);
      pid = fork();
      if (pid == 0) worker_main(config);
      if (pid < 0) {
        error =
            std::string("ringpool: cannot start a worker process: fork: ") + std::strerror(errno);
      }
    }
    Worker& w = workers[i];
    if (pid < 0) {
      std::lock_guard sl(sup_mu);
      if (spawned < n) {
        spawn_error = error;
        spawned_cv.notify_all();
      } else {
        std::fprintf(stderr, "%s (will retry)\n", error.c_str());
        spawn_queue.push_back(i);
      }
      return;
    }
    w.pid = pid;
    w.state = WorkerState::running;
    if (w.spawned_once) ++stats.respawns;
    w.spawned_once = true;
    wake_worker(i);  // it may have messages queued from before its predecessor died
    std::lock_guard sl(sup_mu);
    if (spawned < n) {
      ++spawned;
      spawned_cv.notify_all();
    }
  }

  // What a spawn-started worker needs: the layout of the mapping it inherits as a memfd
  // (offsets, not the parent's addresses) and the initializer's registry key and args.
  ringpool::detail::SpawnRequest spawn_request(const WorkerConfig& c) const {
    const std::byte* base = segment.data();
    auto offset = [base](const void* p) {
      return static_cast<std::uint64_t>(static_cast<const std::byte*>(p) - base);
    };
    SpawnLayout layout{};
    layout.magic = kSpawnLayoutMagic;
    layout.index = c.index;
    layout.parent = c.parent;
    layout.wait = static_cast<std::uint32_t>(c.wait);
    layout.fd = segment.fd();
    layout.slot_size = c.slot_size;
    layout.max_tasks = c.max_tasks;
    layout.bytes = segment.size();
    layout.self_offset = offset(c.self);
    layout.task_offset = offset(c.task_region.data());
    layout.task_bytes = c.task_region.size();
    layout.result_offset = offset(c.result_region.data());
    layout.result_bytes = c.result_region.size();
    layout.shared_offset = offset(c.shared_region.data());
    layout.shared_bytes = c.shared_region.size();
    layout.init_key = initializer_key;
    ringpool::detail::SpawnRequest request;
    request.kind = std::string(kSpawnWorkerKind);
    request.payload = to_bytes(SpawnPayload{layout, initializer_args});
    request.inherit_fds = {segment.fd()};
    request.name = "SpawnPoolWorker-" + std::to_string(c.index + 1);
    request.daemon = true;  // pool workers die with the pool's process, as Python's
    if (c.pin && c.cpus.count() > 0) request.cpus = c.cpus;
    return request;
  }

  void kill_all_and_stop() {
    {
      std::lock_guard lock(mu);
      // relaxed (both): readers that matter hold mu; others only stop sooner.
      terminated.store(true, std::memory_order_relaxed);
      closed.store(true, std::memory_order_relaxed);
      for (Worker& w : workers) {
        if (w.pid > 0) kill(w.pid, SIGKILL);
      }
    }
    stop_supervisor();
    std::lock_guard lock(mu);
    for (Worker& w : workers) {
      if (w.pid > 0) {
        int status = 0;
        while (waitpid(w.pid, &status, 0) < 0 && errno == EINTR) {
        }
        w.pid = -1;
        w.state = WorkerState::stopped;
      }
    }
  }

  void stop_supervisor() {
    {
      std::lock_guard sl(sup_mu);
      sup_stop = true;
      sup_cv.notify_all();
    }
    if (supervisor.joinable()) supervisor.join();
  }

  // ---- records --------------------------------------------------------------------------
  static std::uint64_t id_of(std::uint32_t index, std::uint32_t generation) {
    return (static_cast<std::uint64_t>(generation) << 32) | (index + 1);
  }
  Record* lookup(std::uint64_t id) {
    const std::uint64_t low = id & 0xffffffffULL;
    if (low == 0 || low > records.size()) return nullptr;
    Record& r = records[low - 1];
    if (!r.live || r.generation != static_cast<std::uint32_t>(id >> 32)) return nullptr;
    return &r;
  }
  std::uint32_t allocate_record() {
    if (!free_records.empty()) {
      const std::uint32_t i = free_records.back();
      free_records.pop_back();
      return i;
    }
    records.emplace_back();
    free_records.reserve(records.capacity());
    return static_cast<std::uint32_t>(records.size() - 1);
  }
  void retire(Record& r) {
    r.live = false;
    ++r.generation;
    if (r.generation == 0) r.generation = 1;
    if (r.worker >= 0) --workers[static_cast<std::size_t>(r.worker)].queued;
    StateBase* owned = std::exchange(r.owned, nullptr);
    r.sink = nullptr;
    free_records.push_back(static_cast<std::uint32_t>(&r - records.data()));
    // release: pairs with the acquire load in no_live_records().
    live_records.fetch_sub(1, std::memory_order_release);
    if (owned != nullptr) owned->release_ref();
  }
  // Fails every item of `r` not yet settled, then retires it.
  void fail_rest(Record& r, const std::exception_ptr& error) {
    for (std::uint32_t k = r.next; k < r.count; ++k) r.sink->fail(r.base + k, error);
    r.next = r.count;
    retire(r);
  }

  // ---- sending --------------------------------------------------------------------------
  // Wakes worker i if it sleeps; true when this call woke it. One wake per sleep: the
  // exchange makes later senders (before the worker runs again) skip the syscall.
  bool wake_worker(std::size_t i) {
    if (wait != WaitMode::block) return false;
    // relaxed (both): after the caller's seq_cst fence (Dekker pair with the worker's
    // sleeping store + fence + re-check in worker_main); the exchange only elects the
    // one waker.
    if (ws[i].sleeping.load(std::memory_order_relaxed) == 0 ||
        ws[i].sleeping.exchange(0, std::memory_order_relaxed) == 0) {
      return false;
    }
    // release: pairs with the acquire load of `wake` before the worker sleeps.
    ws[i].wake.fetch_add(1, std::memory_order_release);
    shm_futex_wake_all(ws[i].wake);
    return true;
  }
  // After a push to worker `target`'s ring (or the shared ring, target < 0): wakes that
  // worker, or for the shared ring one sleeping worker per message (a burst wakes one
  // more per message) or every sleeping worker after several messages (`all`).
  void wake_after_push(int target, bool all = false) {
    if (wait != WaitMode::block) return;
    // seq_cst fence: orders the ring publish before the loads of `sleeping` (see
    // wake_worker and the worker's idle path). ipc's store_load_fence is a real fence
    // except under TSan, which refuses fences (see ipc/detail/wait.hpp).
    ipc::detail::store_load_fence();
    if (target >= 0) {
      (void)wake_worker(static_cast<std::size_t>(target));
      return;
    }
    for (std::size_t k = 0; k < n; ++k) {
      if (wake_worker((round_robin + k) % n) && !all) return;
    }
  }

  int pick_worker() {
    std::size_t best = n;
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t i = (round_robin + k) % n;
      const Worker& w = workers[i];
      if (w.state != WorkerState::running && w.state != WorkerState::starting) continue;
      if (best == n || w.queued < workers[best].queued) best = i;
    }
    if (best == n) best = round_robin % n;
    // Sticky on ties: back-to-back single tasks go to the worker that just ran one (it is
    // still spinning, not asleep); a burst spreads because `queued` grows.
    round_robin = best;
    return static_cast<int>(best);
  }

  // Claims room in the target ring; empty when full. Caller holds mu.
  std::span<std::byte> claim(int target, std::size_t bytes) {
    if (target >= 0) return workers[static_cast<std::size_t>(target)].tasks.claim(bytes);
    return shared_ring.claim(bytes);
  }
  void commit(int target, std::size_t bytes) {
    if (target >= 0) {
      workers[static_cast<std::size_t>(target)].tasks.commit(bytes);
    } else {
      shared_ring.commit(bytes);
    }
  }

  void send(const SendRequest& req) {
    const std::size_t limit = slot_size - sizeof(TaskHeader);
    if (req.payload_bytes > limit) {
      throw PayloadTooLarge(req.payload_bytes, limit, "task arguments");
    }
    const std::size_t total = sizeof(TaskHeader) + req.payload_bytes;
    auto invoker_bits = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(req.invoker));
    std::uint64_t fn_bits = req.fn;
    if (spawn_start) {
      // A re-executed worker has other addresses: name the task by its registry key.
      // Registrations never change, so the last lookup of this thread stays valid (a
      // batch sends many messages for one function without taking the registry's lock).
      thread_local std::uint64_t cached_fn = 0;
      thread_local std::optional<ringpool::detail::RegisteredTask> cached_task;
      if (cached_fn != req.fn || !cached_task) {
        cached_task = ringpool::detail::find_registered_task(
            reinterpret_cast<void (*)()>(static_cast<std::uintptr_t>(req.fn)));
        cached_fn = req.fn;
      }
      const auto& task = cached_task;
      if (!task || task->pool_invoker == nullptr) {
        throw InvalidArgument(
            "ringpool: a Pool with StartMethod::spawn runs registered functions only (its "
            "workers are re-executed copies of the program and find tasks by name): register "
            "the task with RINGPOOL_TASK(name) at namespace scope, or use StartMethod::fork");
      }
      invoker_bits = kRegisteredInvoker;
      fn_bits = task->key;
    }
    for (unsigned attempt = 0;; ++attempt) {
      {
        std::unique_lock lock(mu);
        // relaxed (both): written under mu by close()/terminate(), and we hold mu.
        if (closed.load(std::memory_order_relaxed)) {
          throw Closed(terminated.load(std::memory_order_relaxed)
                           ? "ringpool: the pool was terminated; no more tasks"
                           : "ringpool: the pool is closed; submit tasks before "
                             "close() (or create a new Pool)");
        }
        flush_backlogs();
        int target = req.route;
        if (target >= static_cast<int>(n) ||
            (target >= 0 &&
             workers[static_cast<std::size_t>(target)].state == WorkerState::stopped)) {
          target = kRouteLeastLoaded;  // that worker is gone for good
        }
        if (target == kRouteLeastLoaded) target = pick_worker();
        if (target == kRouteShared) target = -1;
        const bool backlog_first = target >= 0
                                       ? !workers[static_cast<std::size_t>(target)].backlog.empty()
                                       : !shared_backlog.empty();
        std::span<std::byte> room;
        if (!backlog_first) room = claim(target, total);
        if (room.data() != nullptr) {
          const std::uint32_t index = allocate_record();
          Record& r = records[index];
          TaskHeader h{};
          h.task_id = id_of(index, r.generation);
          h.invoker = invoker_bits;
          h.fn = fn_bits;
          h.kind = static_cast<std::uint32_t>(MessageKind::task);
          h.count = req.count;
          h.skip = 0;
          h.item_size = req.item_size;
          std::memcpy(room.data(), &h, sizeof h);
          try {
            if (req.payload_bytes > 0) req.encode(req.context, room.data() + sizeof h);
          } catch (...) {
            free_records.push_back(index);
            if (target < 0) shared_ring.commit(0);  // the ticket must be published
            throw;
          }
          commit(target, total);
          r.live = true;
          r.sink = req.sink;
          r.owned = req.owned_state;
          r.base = req.base_index;
          r.count = req.count;
          r.next = 0;
          r.attempts = 0;
          r.worker = target;
          if (target >= 0) ++workers[static_cast<std::size_t>(target)].queued;
          ++stats.tasks_sent;
          // relaxed: a hint for waiters; the record itself is guarded by mu.
          live_records.fetch_add(1, std::memory_order_relaxed);
          wake_after_push(target);
          return;
        }
      }
      // Full: collect results so workers can go on, then try again.
      if (!collect(false)) backoff(attempt);
    }
  }

  void backoff(unsigned attempt) {
    if (attempt < 64 || (wait == WaitMode::spin && (attempt & 15) != 0)) {
      cpu_relax();
    } else if (wait == WaitMode::spin) {
      std::this_thread::yield();
    } else if (attempt < 256) {
      std::this_thread::yield();
    } else {
      timespec ts{0, 50'000};
      nanosleep(&ts, nullptr);
    }
  }

  // Pushes recovered messages back into their rings while there is room. Caller holds mu.
  void flush_backlogs() {
    for (std::size_t i = 0; i < n; ++i) {
      auto& q = workers[i].backlog;
      bool pushed = false;
      while (!q.empty()) {
        std::span<std::byte> room = workers[i].tasks.claim(q.front().size());
        if (room.data() == nullptr) break;
        std::memcpy(room.data(), q.front().data(), q.front().size());
        workers[i].tasks.commit(q.front().size());
        q.pop_front();
        pushed = true;
      }
      if (pushed) wake_after_push(static_cast<int>(i));
    }
    bool pushed = false;
    while (!shared_backlog.empty()) {
      std::span<std::byte> room = shared_ring.claim(shared_backlog.front().size());
      if (room.data() == nullptr) break;
      std::memcpy(room.data(), shared_backlog.front().data(), shared_backlog.front().size());
      shared_ring.commit(shared_backlog.front().size());
      shared_backlog.pop_front();
      pushed = true;
    }
    if (pushed) wake_after_push(-1, true);
  }

  // ---- collecting -----------------------------------------------------------------------
  // One result message, decoded in place. Caller holds mu.
  void handle_result(std::span<const std::byte> msg) {
    if (msg.size() < sizeof(ResultHeader)) return;
    ResultHeader h;
    std::memcpy(&h, msg.data(), sizeof h);
    Record* r = lookup(h.task_id);
    if (r == nullptr) return;  // settled already (e.g. before a retry)
    if (h.first != r->next || h.count > r->count - r->next) {
      fail_rest(*r, std::make_exception_ptr(
                        DecodeError("ringpool: a worker sent a result message out of sequence")));
      return;
    }
    std::span<const std::byte> rest = msg.subspan(sizeof h);
    for (std::uint32_t k = 0; k < h.count; ++k) {
      if (rest.size() < kResultItemHeader ||
          rest.size() - kResultItemHeader < get_u32(rest.data() + 1)) {
        fail_rest(*r, std::make_exception_ptr(
                          DecodeError("ringpool: a worker sent a truncated result message")));
        return;
      }
      const auto status = std::to_integer<std::uint8_t>(rest[0]);
      const std::uint32_t len = get_u32(rest.data() + 1);
      const std::span<const std::byte> body = rest.subspan(kResultItemHeader, len);
      rest = rest.subspan(kResultItemHeader + len);
      const std::uint64_t index = r->base + r->next;
      if (status == kResultOk) {
        try {
          r->sink->deliver(index, body);
        } catch (...) {
          r->sink->fail(index, std::current_exception());
        }
      } else {
        std::string type = "unknown";
        std::string what;
        if (body.size() >= 4 && body.size() - 4 >= get_u32(body.data())) {
          const std::uint32_t tl = get_u32(body.data());
          type.assign(reinterpret_cast<const char*>(body.data() + 4), tl);
          what.assign(reinterpret_cast<const char*>(body.data() + 4 + tl), body.size() - 4 - tl);
        }
        r->sink->fail(index, std::make_exception_ptr(TaskFailed(std::move(type), std::move(what))));
      }
      ++r->next;
    }
    if (r->next == r->count) retire(*r);
  }

  // Drains every result ring once and checks for dead workers now and then. Returns
  // true when anything was settled. Any thread may call it.
  bool collect(bool force_death_check) {
    std::vector<std::function<void()>> callbacks;
    bool progressed = false;
    {
      std::lock_guard lock(mu);
      t_deferred_callbacks = &deferred;
      const auto handle = [this](std::span<const std::byte> m) { handle_result(m); };
      for (std::size_t i = 0; i < n; ++i) {
        Worker& w = workers[i];
        if (w.state == WorkerState::dead) continue;
        for (int budget = 0; budget < 64 && w.results.try_pop_with(handle); ++budget) {
          progressed = true;
        }
      }
      if (force_death_check || (++collects & 63) == 0) {
        const auto now = Clock::now();
        if (force_death_check || now - last_death_check >= kDeathCheckPeriod) {
          last_death_check = now;
          progressed |= check_deaths();
        }
      }
      if (!shared_backlog.empty() ||
          std::any_of(workers.begin(), workers.end(), [](auto& w) { return !w.backlog.empty(); })) {
        flush_backlogs();
      }
      t_deferred_callbacks = nullptr;
      if (!deferred.empty()) callbacks.swap(deferred);
    }
    for (auto& cb : callbacks) {
      try {
        if (cb) cb();
      } catch (...) {
      }
    }
    if (progressed && wait == WaitMode::block) {
      // Other threads may sleep waiting for what we just settled.
      // seq_cst: pairs with the seq_cst fetch_add of event_waiters in wait_until.
      shared->event.fetch_add(1, std::memory_order_seq_cst);
      if (shared->event_waiters.load(std::memory_order_seq_cst) != 0) {
        shm_futex_wake_all(shared->event);
      }
    }
    return progressed;
  }

  // ---- worker death ---------------------------------------------------------------------
  // Reaps dead workers and recovers their work. Caller holds mu.
  bool check_deaths() {
    bool any = false;
    for (std::size_t i = 0; i < n; ++i) {
      Worker& w = workers[i];
      if (w.state != WorkerState::running || w.pid <= 0) continue;
      int status = 0;
      const pid_t r = waitpid(w.pid, &status, WNOHANG);
      if (r == 0) continue;
      if (r < 0 && errno != ECHILD) continue;
      // ECHILD: someone else reaped it (SIGCHLD ignored?): treat it as killed.
      const int code = r < 0 ? -SIGKILL : exitcode_of(status);
      on_worker_exit(i, code);
      any = true;
    }
    return any;
  }

  void on_worker_exit(std::size_t i, int exitcode) {
    Worker& w = workers[i];
    const pid_t pid = w.pid;
    w.state = WorkerState::dead;
    w.pid = -1;
    const bool planned = exitcode == 0 && max_tasks != 0;
    // relaxed: the worker is reaped; its stores are complete.
    const bool initialized = ws[i].initialized.load(std::memory_order_relaxed) != 0;
    if (!planned) ++stats.workers_lost;

    // (1) Results it published before dying still count.
    const auto handle = [this](std::span<const std::byte> m) { handle_result(m); };
    while (w.results.try_pop_with(handle)) {
    }
    // relaxed: as above.
    const std::uint64_t current = ws[i].current_task.load(std::memory_order_relaxed);
    std::vector<std::vector<std::byte>> reclaimed;
    std::vector<std::byte> held_shared;
    // (2) A message it claimed from the shared ring mid-pop or mid-task.
    std::vector<const ipc::ClaimWord*> live;
    for (std::size_t k = 0; k < n; ++k) {
      if (k != i) live.push_back(&ws[k].claim);
    }
    for (int tries = 0; tries < 1000; ++tries) {
      try {
        const ipc::ClaimRecovery rec = shared_ring.recover_claim(
            ws[i].claim, live,
            [&](std::span<const std::byte> m) { held_shared.assign(m.begin(), m.end()); });
        if (rec != ipc::ClaimRecovery::undecided) break;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "ringpool: recovering worker %d's shared-ring claim: %s\n",
                     static_cast<int>(pid), e.what());
        break;
      }
      std::this_thread::yield();
    }
    // (3) Messages still in its own task ring (including the one it was running).
    w.tasks.reclaim_unconsumed(
        [&](std::span<const std::byte> m) { reclaimed.emplace_back(m.begin(), m.end()); });
    // Fresh rings for the replacement.
    w.tasks.reset();
    w.results.reset();
    w.tasks = ipc::SpscByteProducer::attach(w.task_region);
    w.results = ipc::SpscByteConsumer::attach(w.result_region);
    // relaxed (all): the worker is dead and the replacement not yet forked.
    ws[i].current_task.store(0, std::memory_order_relaxed);
    ws[i].claim.store(0, std::memory_order_relaxed);
    ws[i].sleeping.store(0, std::memory_order_relaxed);
    ws[i].initialized.store(0, std::memory_order_relaxed);
    // relaxed: as above.
    if (ws[i].started.exchange(0, std::memory_order_relaxed) == 0 && ++died_unstarted == 1) {
      unstarted_death = "worker " + std::to_string(i) + " (pid " + std::to_string(pid) + ") " +
                        (exitcode < 0 ? "was killed by signal " + std::to_string(-exitcode)
                                      : "exited with code " + std::to_string(exitcode));
    }

    // (4) Fail or rerun the task it held; requeue the ones it never started.
    const auto requeue = [&](std::vector<std::byte>&& m, bool to_shared) {
      if (m.size() < sizeof(TaskHeader)) return;
      TaskHeader h;
      std::memcpy(&h, m.data(), sizeof h);
      Record* r = lookup(h.task_id);
      if (r == nullptr) return;  // already settled
      if (h.task_id == current) {
        ++r->attempts;
        if (r->attempts > retries) {
          stats.failed_lost += r->count - r->next;
          fail_rest(*r, std::make_exception_ptr(WorkerLost(
                            pid, exitcode,
                            "while it ran this task" +
                                std::string(retries > 0 ? " (retries exhausted)" : ""))));
          return;
        }
        ++stats.retried;
        h.skip = r->next;
        std::memcpy(m.data(), &h, sizeof h);
      }
      if (to_shared) {
        shared_backlog.push_back(std::move(m));
      } else {
        w.backlog.push_back(std::move(m));
      }
    };
    if (!held_shared.empty()) requeue(std::move(held_shared), true);
    for (auto& m : reclaimed) requeue(std::move(m), false);
    // A worker that keeps dying before its initializer returns is not restarted forever.
    w.init_failures = initialized ? 0 : w.init_failures + 1;
    if (w.init_failures >= 3) {
      std::fprintf(stderr,
                   "ringpool: worker %zu died %d times before its initializer finished; it is "
                   "not restarted (its queued tasks fail with WorkerLost)\n",
                   i, w.init_failures);
      w.state = WorkerState::stopped;
      for (auto& m : w.backlog) {
        TaskHeader h;
        std::memcpy(&h, m.data(), sizeof h);
        if (Record* r = lookup(h.task_id)) {
          fail_rest(*r, std::make_exception_ptr(WorkerLost(
                            pid, exitcode, "before its initializer finished (3 times)")));
        }
      }
      w.backlog.clear();
      return;
    }
    flush_backlogs();
    // relaxed: written under mu, which the caller holds.
    if (!terminated.load(std::memory_order_relaxed)) {
      w.state = WorkerState::starting;
      std::lock_guard sl(sup_mu);
      spawn_queue.push_back(i);
      sup_cv.notify_all();
    }
  }

  // ---- waiting --------------------------------------------------------------------------
  bool wait_until(bool (*ready)(const void*), const void* context,
                  std::optional<Clock::time_point> deadline) {
    struct Active {
      std::atomic<int>& count;
      explicit Active(std::atomic<int>& c) : count(c) {
        // relaxed: a hint for the supervisor only.
        count.fetch_add(1, std::memory_order_relaxed);
      }
      ~Active() { count.fetch_sub(1, std::memory_order_relaxed); }
    } active(active_waiters);
    unsigned idle = 0;
    Clock::time_point idle_since{};
    for (;;) {
      if (ready(context)) return true;
      // acquire: pairs with the fetch_add of `event` by a worker (push_result, release) or
      // by a collecting parent thread (collect, seq_cst).
      const std::uint32_t seen = shared->event.load(std::memory_order_acquire);
      if (collect(false)) {
        idle = 0;
        continue;
      }
      if (ready(context)) return true;
      if (deadline && Clock::now() >= *deadline) return ready(context);
      // Spin ~50 us first (time-based, see worker_main); spin mode never sleeps.
      if (idle++ == 0) idle_since = Clock::now();
      const bool spinning =
          (idle & 7) != 0 || Clock::now() - idle_since < std::chrono::microseconds(50);
      if (wait == WaitMode::spin || spinning) {
        if (!spinning && (idle & 15) == 0) {
          std::this_thread::yield();  // spin mode: let a worker sharing this CPU run
        } else {
          cpu_relax();
        }
        continue;
      }
      // seq_cst + fence: the Dekker pair with push_result in the worker (commit, fence,
      // load event_waiters): after this, either we see its result in a ring below, or it
      // sees us waiting and bumps `event` (our futex compare then fails or we are woken).
      shared->event_waiters.fetch_add(1, std::memory_order_seq_cst);
      ipc::detail::store_load_fence();
      auto slice = std::chrono::duration_cast<std::chrono::nanoseconds>(kSleepSlice);
      if (deadline) {
        const auto left = *deadline - Clock::now();
        slice = std::min(slice, std::chrono::duration_cast<std::chrono::nanoseconds>(left));
      }
      if (slice.count() > 0 && !ready(context) && !results_pending()) {
        shm_futex_wait(shared->event, seen, slice);
      }
      // relaxed: a counter; a stale non-zero costs one spurious wake.
      shared->event_waiters.fetch_sub(1, std::memory_order_relaxed);
      // Nothing arrived for a whole slice: look for dead workers now.
      // relaxed: compared with `seen` only to choose whether to check.
      const bool quiet = shared->event.load(std::memory_order_relaxed) == seen;
      if (collect(quiet)) idle = 0;
    }
  }

  // True when a result ring holds a message nobody has collected yet.
  bool results_pending() {
    std::lock_guard lock(mu);
    return std::any_of(workers.begin(), workers.end(), [](const Worker& w) {
      return w.state != WorkerState::dead && w.results.size_approx() != 0;
    });
  }

  static bool no_live_records(const void* self) noexcept {
    // acquire: pairs with the release decrement in retire().
    return static_cast<const Impl*>(self)->live_records.load(std::memory_order_acquire) == 0;
  }

  void join() {
    if (joined) return;
    // relaxed (here and below): join() runs on the thread that called close() or
    // terminate(), or after it (the documented contract: join does not race them).
    if (!closed.load(std::memory_order_relaxed)) {
      throw InvalidState(
          "ringpool: Pool::join() called before close() or terminate(); call close() first "
          "(as Python's Pool.join requires)");
    }
    if (!terminated.load(std::memory_order_relaxed)) {
      wait_until(&Impl::no_live_records, this, std::nullopt);
      // Let pending respawns finish so that every worker gets its stop message.
      for (;;) {
        {
          std::lock_guard lock(mu);
          const bool starting = std::any_of(workers.begin(), workers.end(), [](const Worker& w) {
            return w.state == WorkerState::starting || w.state == WorkerState::dead;
          });
          if (!starting) break;
        }
        collect(true);
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
      stop_supervisor();
      std::lock_guard lock(mu);
      for (std::size_t i = 0; i < n; ++i) {
        Worker& w = workers[i];
        if (w.pid <= 0) continue;
        TaskHeader h{};
        h.kind = static_cast<std::uint32_t>(MessageKind::stop);
        for (int tries = 0; tries < 100000; ++tries) {
          std::span<std::byte> room = w.tasks.claim(sizeof h);
          if (room.data() != nullptr) {
            std::memcpy(room.data(), &h, sizeof h);
            w.tasks.commit(sizeof h);
            break;
          }
          std::this_thread::yield();
        }
        wake_after_push(static_cast<int>(i));
      }
      const auto give_up = Clock::now() + std::chrono::seconds(10);
      for (Worker& w : workers) {
        if (w.pid <= 0) continue;
        int status = 0;
        for (;;) {
          const pid_t r = waitpid(w.pid, &status, WNOHANG);
          if (r != 0) break;
          if (Clock::now() > give_up) {
            kill(w.pid, SIGKILL);
            (void)waitpid(w.pid, &status, 0);
            break;
          }
          std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
        w.pid = -1;
        w.state = WorkerState::stopped;
      }
    } else {
      kill_all_and_stop();
    }
    joined = true;
  }

  void terminate() {
    if (joined) return;
    kill_all_and_stop();
    std::vector<std::function<void()>> callbacks;
    {
      std::lock_guard lock(mu);
      t_deferred_callbacks = &deferred;
      const auto error = std::make_exception_ptr(
          Closed("ringpool: the pool was terminated before this task finished"));
      for (Record& r : records) {
        if (r.live) fail_rest(r, error);
      }
      for (Worker& w : workers) w.backlog.clear();
      shared_backlog.clear();
      t_deferred_callbacks = nullptr;
      callbacks.swap(deferred);
    }
    for (auto& cb : callbacks) {
      try {
        if (cb) cb();
      } catch (...) {
      }
    }
    joined = true;
  }
};

// ---- PoolCore ---------------------------------------------------------------------------

PoolCore::PoolCore(const PoolOptions& options) : impl_(std::make_unique<Impl>(options)) {}
PoolCore::~PoolCore() = default;

void PoolCore::send(const SendRequest& request) {
  impl_->send(request);
}

bool PoolCore::wait_until(bool (*ready)(const void*), const void* context,
                          std::optional<Clock::time_point> deadline) {
  return impl_->wait_until(ready, context, deadline);
}

bool PoolCore::plan_batch(std::size_t tasks) {
  const topology::Plan p = topology::plan(topology::Machine::live(), tasks, impl_->placement);
  const bool parallel = p.mode == topology::Mode::parallel && tasks <= impl_->n;
  LastPlan last;
  last.plan = p;
  last.tasks = tasks;
  last.path = parallel ? Path::parallel_spsc : Path::concurrent_mpmc;
  if (parallel) {
    last.reason = std::to_string(tasks) + " task(s) <= " + std::to_string(impl_->n) +
                  " worker(s): each task goes to its own pinned worker through that worker's "
                  "SPSC ring";
  } else if (tasks > impl_->n) {
    last.reason = std::to_string(tasks) + " tasks > " + std::to_string(impl_->n) +
                  " workers: tasks are multiplexed over the workers through the shared MPMC "
                  "ring";
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

void PoolCore::note_single_submit() noexcept {
  // relaxed: a flag read under plan_mu by last_plan(); a racing batch may win.
  impl_->last_was_single.store(true, std::memory_order_relaxed);
}

std::size_t PoolCore::workers() const noexcept {
  return impl_->n;
}
std::size_t PoolCore::max_payload() const noexcept {
  return impl_->slot_size - sizeof(TaskHeader);
}
std::size_t PoolCore::ring_messages() const noexcept {
  return impl_->depth * impl_->n;
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
  if (impl_->last_was_single.load(std::memory_order_relaxed) || !impl_->have_batch) {
    LastPlan last;
    last.plan = impl_->single_plan;
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
  return impl_->stats;
}

std::vector<pid_t> PoolCore::worker_pids() const {
  std::lock_guard lock(impl_->mu);
  std::vector<pid_t> pids;
  for (const auto& w : impl_->workers) pids.push_back(w.pid);
  return pids;
}

std::vector<topology::CpuSet> PoolCore::worker_cpus() const {
  return impl_->cpus;
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
LastPlan Pool::last_plan() const {
  return core_->last_plan();
}
PoolStats Pool::stats() const {
  return core_->stats();
}

}  // namespace ringpool::pool
