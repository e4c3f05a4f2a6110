// The worker loop of a Pool: pulls task messages from the worker's own SPSC ring and the
// shared MPMC ring, runs them in place, and pushes results to its SPSC result ring. The
// same loop serves forked, spawn-started and thread workers (see worker_loop.hpp).
#include "worker_loop.hpp"

#include <sched.h>
#include <signal.h>
#include <stdio_ext.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "ringpool/pool/detail/task_wire.hpp"
#include "ringpool/pool/spawn.hpp"
#include "ringpool/topology/binding.hpp"

namespace ringpool::pool::detail {

namespace {

struct WorkerState {
  const WorkerConfig* config;
  ipc::SpscByteConsumer tasks;
  ipc::SpscByteProducer results;
  ipc::MpmcByteConsumer shared;
  bool stop = false;
  LaneView lane{};  // the pool's lane, mapped once (payload.hpp)
  // Spawn-started workers: the last registry key resolved, and its function.
  std::uint64_t last_key = 0;
  std::uint64_t last_fn = 0;
  Invoker last_invoker = nullptr;
};

// Finds the function and invoker of a task named by registry key (spawn start method).
bool resolve_registered(WorkerState& st, std::uint64_t key, std::uint64_t& fn, Invoker& invoker) {
  if (key != st.last_key || st.last_invoker == nullptr) {
    const auto task = ringpool::detail::find_registered_task(key);
    if (!task || task->pool_invoker == nullptr) return false;
    st.last_key = key;
    st.last_fn = reinterpret_cast<std::uintptr_t>(task->fn);
    st.last_invoker = reinterpret_cast<Invoker>(task->pool_invoker);
  }
  fn = st.last_fn;
  invoker = st.last_invoker;
  return true;
}

// A process worker whose parent is gone has nobody to serve. (Thread workers: parent 0.)
bool orphaned(const WorkerConfig& c) noexcept {
  return c.parent != 0 && getppid() != c.parent;
}

// True when a thread worker is asked to end.
bool quit_requested(const WorkerConfig& c) noexcept {
  // relaxed: a request flag; nothing is read through it.
  return c.regions.self->quit.load(std::memory_order_relaxed) != 0;
}

// InboundStream::sender_gone for a task's streamed arguments: the parent stopped writing.
bool parent_gone(const void* config) noexcept {
  const auto& c = *static_cast<const WorkerConfig*>(config);
  return orphaned(c) || quit_requested(c);
}

// The result ring is full (the parent is behind): sleeps until the parent drains it, at
// most kRoomSlice, so that the results of the tasks run meanwhile go to the parent in one
// drain instead of the worker napping and polling. Block mode only. Returns the claimed
// room, or an empty span (not there yet: the caller checks for a gone parent and calls
// again).
std::span<std::byte> wait_for_room(WorkerState& st, std::size_t bytes) {
  constexpr auto kRoomSlice = std::chrono::milliseconds(2);
  WorkerShared& self = *st.config->regions.self;
  // relaxed: ordered before the re-check below by prepare_wait()'s fence; with the parent's
  // drain (the pop's release store of head), fence, load of `results_full` in
  // PoolCore::Impl::collect it forms a Dekker pair: either the parent sees us waiting and
  // notifies, or our re-check sees the room it made.
  self.results_full.store(1, std::memory_order_relaxed);
  const auto key = self.room.prepare_wait();
  std::span<std::byte> room = st.results.claim(bytes);
  if (room.data() != nullptr || st.results.corrupted() || quit_requested(*st.config)) {
    self.room.cancel_wait();
  } else {
    (void)self.room.wait(key, kRoomSlice);
    room = st.results.claim(bytes);
  }
  // relaxed: only a hint for the parent's notify.
  self.results_full.store(0, std::memory_order_relaxed);
  return room;
}

// Pushes one result message, waiting while the result ring is full.
void push_result(void* context, std::span<const std::byte> message) {
  auto& st = *static_cast<WorkerState*>(context);
  const WorkerConfig& c = *st.config;
  for (unsigned attempt = 0;; ++attempt) {
    std::span<std::byte> room = st.results.claim(message.size());
    if (room.data() == nullptr && attempt >= 256 && c.wait == WaitMode::block) {
      room = wait_for_room(st, message.size());
    }
    if (room.data() != nullptr) {
      std::memcpy(room.data(), message.data(), message.size());
      st.results.commit(message.size());
      break;
    }
    if (st.results.corrupted()) return;  // the parent will see a lost worker's task
    if (attempt < 256) {
      ipc::detail::cpu_relax();
    } else if (c.wait == WaitMode::block) {
      // Each wait above lasts at most a slice: look for a gone parent between them.
      if (orphaned(c) || quit_requested(c)) return;
    } else {
      if ((attempt & 255) == 0 && (orphaned(c) || quit_requested(c))) return;
      timespec ts{0, 50'000};
      nanosleep(&ts, nullptr);
    }
  }
  if (c.wait == WaitMode::block) {
    // The commit was a release store: the fence makes it the publish of the EventCount
    // argument (event_count.hpp) and orders it before the load of `results_sleeping` (the
    // Dekker pair with the parent's store of 1 + prepare_wait() + re-check in
    // PoolCore::Impl::wait_until). relaxed (load and exchange): the exchange only elects the
    // one notifier per sleep; nobody sleeping, the common case under load, costs one load.
    // notify_all: parent threads wait for different futures.
    ipc::detail::store_load_fence();
    PoolShared& pool = *c.regions.pool;
    if (pool.results_sleeping.load(std::memory_order_relaxed) != 0 &&
        pool.results_sleeping.exchange(0, std::memory_order_relaxed) != 0) {
      pool.results.notify_all();
    }
  }
}

// Claims the task of message `task_id` before running it: moves its task word to running
// when the word leaves the message pending (see TaskWord in shared_layout.hpp). False when
// the parent cancelled it first, or when the word belongs to a later use of the record (a
// stale message): the message is then skipped and nothing is settled for it. A word the
// parent holds (it is deciding whether to cancel the message's batch, for one locked pass)
// is waited for; the wait ends with false when the pool's process is gone or a thread worker
// is asked to quit. A task with no word (its record index is past the array) runs.
bool claim_task(const WorkerState& st, std::uint64_t task_id) noexcept {
  const std::span<TaskWord> words = st.config->regions.task_words;
  const std::uint64_t low = task_id & 0xffffffffULL;  // record index + 1, checked before use
  if (low == 0 || low > words.size()) return true;
  std::atomic<std::uint64_t>& word = words[static_cast<std::size_t>(low - 1)].word;
  const std::uint64_t held = task_word(task_id, kTaskHeld);
  // relaxed: a first guess for the CAS, which decides.
  std::uint64_t expected = word.load(std::memory_order_relaxed);
  for (unsigned attempt = 0;; ++attempt) {
    if (expected != held) {
      if (!leaves_pending(expected, task_id)) return false;  // cancelled, or stale
      // relaxed: the CAS is the whole agreement; pairs with the parent's CASes in
      // TaskTable::try_cancel() and try_cancel_batch(): exactly one side moves the word away
      // from pending. After a failed CAS (the parent held or cancelled the word meanwhile)
      // the word is read again below and the decision made again.
      if (word.compare_exchange_strong(expected, task_word(task_id, kTaskRunning),
                                       std::memory_order_relaxed, std::memory_order_relaxed)) {
        return true;
      }
    }
    // Held: wait for the parent's pass to end (pending or cancelled).
    if (attempt < 64) {
      ipc::detail::cpu_relax();
    } else {
      if ((attempt & 63) == 0 && (orphaned(*st.config) || quit_requested(*st.config))) {
        return false;
      }
      sched_yield();
    }
    // relaxed: the parent's store that ends its pass; nothing is published with it.
    expected = word.load(std::memory_order_relaxed);
  }
}

// Runs one task message in place (the slot stays held until it returns).
void run_message(WorkerState& st, ResultWriter& writer, std::span<const std::byte> msg) {
  if (msg.size() < sizeof(TaskHeader)) return;  // an abandoned send (commit(0))
  TaskHeader h;
  std::memcpy(&h, msg.data(), sizeof h);
  if (h.kind == static_cast<std::uint32_t>(MessageKind::stop)) {
    st.stop = true;
    return;
  }
  const bool by_ref = h.kind == static_cast<std::uint32_t>(MessageKind::task_by_ref);
  if ((h.kind != static_cast<std::uint32_t>(MessageKind::task) && !by_ref) || h.task_id == 0 ||
      h.invoker == 0 || h.fn == 0) {
    return;
  }
  if (!claim_task(st, h.task_id)) return;  // cancelled (or stale): settle nothing
  WorkerShared& self = *st.config->regions.self;
  // relaxed: the parent reads it only after reaping this worker.
  self.current_task.store(h.task_id, std::memory_order_relaxed);
  writer.begin(h.task_id, h.skip);
  std::uint64_t fn = h.fn;
  auto invoker = reinterpret_cast<Invoker>(static_cast<std::uintptr_t>(h.invoker));
  if (h.invoker == kRegisteredInvoker && !resolve_registered(st, h.fn, fn, invoker)) {
    // The parent checked the registration; a worker built differently does not have it.
    for (std::uint32_t i = h.skip; i < h.count; ++i) {
      writer.error("ringpool::pool::InvalidArgument",
                   "ringpool: this spawned worker has no registered task with the key the "
                   "pool sent (is it running the same program?)");
    }
  } else if (!by_ref) {
    invoker(fn, h, msg.subspan(sizeof h), writer);
  } else {
    // The items are in a payload segment: taken (and its name unlinked) before the call.
    IncomingPayload payload;
    bool taken = false;
    try {
      payload = IncomingPayload::take(st.config->payloads, msg.subspan(sizeof h),
                                      st.config->max_payload, &st.lane);
      taken = true;
    } catch (...) {
      for (std::uint32_t i = h.skip; i < h.count; ++i) writer.current_exception_as_error();
    }
    if (taken) {
      // A lane's value may still be streaming in: the decoders read behind the parent.
      const InboundStream stream{payload.bytes().data(),
                                 payload.bytes().data() + payload.bytes().size(), payload.written(),
                                 &parent_gone, st.config};
      const InboundScope scope(payload.written() != nullptr ? &stream : nullptr);
      invoker(fn, h, payload.bytes(), writer);
    }
  }
  writer.flush();
  // relaxed: as above; the results are already committed.
  self.current_task.store(0, std::memory_order_relaxed);
}

// Sleeps until the parent pushes (or 100 ms pass): block mode, or a worker that shares the
// parent's CPU. True when it was woken (the parent is alive: no need to look for a gone
// parent, which costs a system call).
bool sleep_until_work(WorkerState& st) {
  WorkerShared& self = *st.config->regions.self;
  // relaxed: ordered before the re-check below by prepare_wait()'s fence; with the parent's
  // push, fence, load of `sleeping` it forms a Dekker pair (Dispatcher::wake_worker): either
  // the parent sees us about to sleep and notifies, or our re-check sees its message.
  self.sleeping.store(1, std::memory_order_relaxed);
  const auto key = self.wake.prepare_wait();
  bool woken = true;
  if (st.tasks.size_approx() == 0 && st.shared.size_approx() == 0 && !quit_requested(*st.config)) {
    woken = self.wake.wait(key, std::chrono::milliseconds(100));
  } else {
    self.wake.cancel_wait();
  }
  // relaxed: only a hint for the parent's wake-up.
  self.sleeping.store(0, std::memory_order_relaxed);
  return woken;
}

// Maps every page of `r` into this process now (MADV_POPULATE_WRITE: no data changes).
// Without it the first lap through the rings takes a page fault per 4 KiB in each process
// (a forked worker inherits the mapping, not its page tables), in the middle of the first
// batch: on a KVM guest a fault costs ~1 µs. A kernel before 5.14 refuses the advice; the
// pages then fault in as they are reached.
void populate(std::span<std::byte> r) noexcept {
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<std::uintptr_t>(r.data()) / page * page;
  const auto end = reinterpret_cast<std::uintptr_t>(r.data()) + r.size();
  (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_WRITE);
}

}  // namespace

int run_worker(const WorkerConfig& c) noexcept {
  WorkerState st{&c, {}, {}, {}};
  populate(c.regions.tasks);
  populate(c.regions.results);
  populate(c.regions.shared);
  try {
    st.tasks = ipc::SpscByteConsumer::attach(c.regions.tasks);
    st.results = ipc::SpscByteProducer::attach(c.regions.results);
    st.shared = ipc::MpmcByteConsumer::attach(c.regions.shared);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ringpool: worker %zu cannot attach its rings: %s\n", c.index, e.what());
    return kAttachFailed;
  }
  WorkerShared& self = *c.regions.self;
  // relaxed: a flag only; the parent polls it while it waits for spawned workers.
  self.started.store(1, std::memory_order_relaxed);
  if (c.initializer != nullptr && *c.initializer) {
    try {
      (*c.initializer)();
    } catch (...) {
      const auto d = describe_exception(std::current_exception());
      std::fprintf(stderr, "ringpool: the pool initializer raised %s: %s (worker %zu exits)\n",
                   d.type_name.c_str(), d.what.c_str(), c.index);
      std::fflush(stderr);
      return kInitializerFailed;
    }
  }
  // relaxed: read by the parent after reaping (see WorkerShared).
  self.initialized.store(1, std::memory_order_relaxed);

  std::vector<std::byte> buffer(c.slot_size);
  ResultWriter writer(buffer, &push_result, &st);
  PayloadLanes lanes(&c.payloads);  // its name is removed by the pool when it reaps us
  writer.enable_large(&c.payloads, c.max_payload, &lanes);
  std::uint64_t done = 0;
  std::uint64_t idle = 0;
  std::chrono::steady_clock::time_point idle_since{};
  constexpr auto kSpinFor = std::chrono::microseconds(50);
  const auto handle = [&](std::span<const std::byte> msg) { run_message(st, writer, msg); };
  while (!st.stop) {
    bool did = st.tasks.try_pop_with(handle);
    if (!did && !st.stop) did = st.shared.try_pop_tracked(self.claim, handle);
    if (did) {
      idle = 0;
      ++done;
      // relaxed: statistics only.
      self.messages_done.store(done, std::memory_order_relaxed);
      if (c.max_tasks != 0 && done >= c.max_tasks) break;
      continue;
    }
    if (c.shares_parent_cpu) {
      // The parent can run only on this worker's CPU: every turn spent polling here delays
      // the next task and the collection of this result. Sleep at once; the parent wakes
      // such a worker in either wait mode (Dispatcher::wake_worker).
      if (quit_requested(c)) break;
      if (!sleep_until_work(st) && orphaned(c)) break;
      continue;
    }
    // Spin ~50 us before giving up the CPU (time-based: PAUSE costs 10 ns on bare metal
    // but can cost 300 ns under a hypervisor's pause-loop exiting). Block mode yields every
    // 64th turn of the spin: with as many workers as cores the pool's parent shares a CPU
    // with one of them, and while that worker spins the parent (which sends the tasks and
    // takes the results) waited for the end of the spin or of the time slice.
    if (idle++ == 0) idle_since = std::chrono::steady_clock::now();
    if ((idle & 7) != 0 || std::chrono::steady_clock::now() - idle_since < kSpinFor) {
      if (c.wait == WaitMode::block && (idle & 63) == 0) {
        sched_yield();
      } else {
        ipc::detail::cpu_relax();
      }
      continue;
    }
    if (quit_requested(c)) break;
    if (c.wait == WaitMode::spin) {
      // Keep polling, but let another thread that shares this CPU run now and then
      // (an oversubscribed core would otherwise wait for the scheduler tick).
      if ((idle & 15) == 0) {
        sched_yield();
      } else {
        ipc::detail::cpu_relax();
      }
      if ((idle & 0xffff) == 0 && orphaned(c)) break;
      continue;
    }
    if (!sleep_until_work(st) && orphaned(c)) break;
    idle = 1;
    idle_since = std::chrono::steady_clock::now();
  }
  return 0;
}

void worker_main(const WorkerConfig& c) noexcept {
  // Die with the parent, also when it is SIGKILLed; the getppid check closes the race
  // of a parent that died before prctl ran.
  (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (orphaned(c)) _exit(0);
  // Output the parent buffered before fork is the parent's to write, not ours.
  __fpurge(stdout);
  __fpurge(stderr);
  if (c.pin && c.cpus.count() > 0) {
    try {
      topology::pin_process(0, c.cpus);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ringpool: worker %zu could not be pinned to CPUs %s: %s\n", c.index,
                   c.cpus.to_list().c_str(), e.what());
    }
  }
  const int code = run_worker(c);
  std::fflush(stdout);
  std::fflush(stderr);
  _exit(code);
}

namespace {

[[noreturn]] void bad_start(const std::string& what) {
  throw DecodeError("ringpool: spawned pool worker: " + what +
                    "; the start data was not written by this program's Pool");
}

// Entry of a spawn-started worker (kind kSpawnWorkerKind), run by serve_if_worker in the
// re-executed program. Everything in the payload and the mapping is checked before it is
// used (SharedLayout::adopt_spawned); then the same worker loop as a forked worker runs.
int spawned_worker_entry(std::span<const std::byte> payload) {
  auto [layout, init_args] = from_bytes<SpawnPayload>(payload);
  const SpawnLayout& l = layout;
  if (l.wait > static_cast<std::uint32_t>(WaitMode::block)) bad_start("unknown wait mode");
  if (l.shares_parent_cpu > 1) bad_start("shares_parent_cpu is not 0 or 1");
  if (l.slot_size < sizeof(TaskHeader) + 64 || l.slot_size > (std::uint64_t{1} << 30)) {
    bad_start("slot size " + std::to_string(l.slot_size) + " is out of range");
  }
  if (l.parent <= 0) bad_start("the parent pid " + std::to_string(l.parent) + " is invalid");
  if (l.max_payload < l.slot_size || l.max_payload > (std::uint64_t{1} << 46)) {
    bad_start("max_payload " + std::to_string(l.max_payload) + " is out of range");
  }
  const WorkerRegions regions = SharedLayout::adopt_spawned(l);

  static std::function<void()> initializer;  // worker_main never returns
  if (l.init_key != 0) {
    const auto task = ringpool::detail::find_registered_task(l.init_key);
    if (!task) {
      throw InvalidArgument(
          "ringpool: spawned pool worker: the pool's initializer is not registered in this "
          "program (RINGPOOL_TASK)");
    }
    initializer = [task = *task, args = std::move(init_args)] { task.thunk(task.fn, args); };
  }
  static WorkerConfig config;
  config.index = static_cast<std::size_t>(l.index);
  config.parent = static_cast<pid_t>(l.parent);
  config.pin = false;  // spawn_worker pinned this process before it executed anything
  config.wait = static_cast<WaitMode>(l.wait);
  config.shares_parent_cpu = l.shares_parent_cpu != 0;
  config.slot_size = static_cast<std::size_t>(l.slot_size);
  config.max_payload = static_cast<std::size_t>(l.max_payload);
  config.payloads = PayloadNames(l.parent, l.payload_serial);
  config.max_tasks = static_cast<std::size_t>(l.max_tasks);
  config.initializer = &initializer;
  config.regions = regions;
  worker_main(config);
}

[[maybe_unused]] const bool kSpawnedWorkerRegistered =
    (ringpool::detail::register_worker_entry(kSpawnWorkerKind, &spawned_worker_entry), true);

}  // namespace

}  // namespace ringpool::pool::detail
