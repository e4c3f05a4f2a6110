// The worker process of a Pool: pulls task messages from its own SPSC ring and the
// shared MPMC ring, runs them in place, and pushes results to its SPSC result ring.
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdio_ext.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "pool_internal.hpp"
#include "ringpool/pool/spawn.hpp"
#include "ringpool/topology/binding.hpp"

namespace ringpool::pool::detail {

void shm_futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                    std::optional<std::chrono::nanoseconds> timeout) noexcept {
  timespec ts{};
  timespec* tsp = nullptr;
  if (timeout) {
    const auto ns = std::max<std::int64_t>(timeout->count(), 0);
    ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    tsp = &ts;
  }
  (void)syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT, expected, tsp,
                nullptr, 0);
}

void shm_futex_wake_all(std::atomic<std::uint32_t>& word) noexcept {
  (void)syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE, INT_MAX, nullptr,
                nullptr, 0);
}

// ---- ResultWriter (declared in task_wire.hpp) --------------------------------------

void ResultWriter::error(std::string_view type_name, std::string_view what) {
  // Keep the error within one message: truncate the text if it is huge.
  const std::size_t room = max_value_size() - sizeof(std::uint32_t);
  if (type_name.size() > room / 2) type_name = type_name.substr(0, room / 2);
  if (what.size() > room - type_name.size()) what = what.substr(0, room - type_name.size());
  const std::size_t n = sizeof(std::uint32_t) + type_name.size() + what.size();
  if (used_ + kResultItemHeader + n > buf_.size()) flush();
  std::byte* p = buf_.data() + used_;
  p[0] = std::byte{kResultError};
  put_u32(p + 1, static_cast<std::uint32_t>(n));
  put_u32(p + kResultItemHeader, static_cast<std::uint32_t>(type_name.size()));
  std::memcpy(p + kResultItemHeader + 4, type_name.data(), type_name.size());
  std::memcpy(p + kResultItemHeader + 4 + type_name.size(), what.data(), what.size());
  used_ += kResultItemHeader + n;
  ++count_;
}

void ResultWriter::current_exception_as_error() {
  try {
    const ExceptionDescription d = describe_exception(std::current_exception());
    error(d.type_name, d.what);
  } catch (...) {
    error("unknown", "ringpool: could not describe the task's exception");
  }
}

void ResultWriter::flush() {
  if (count_ == 0) return;
  const ResultHeader h{task_id_, first_, count_};
  std::memcpy(buf_.data(), &h, sizeof h);
  push_(context_, buf_.first(used_));
  first_ += count_;
  count_ = 0;
  used_ = sizeof(ResultHeader);
}

namespace {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

struct WorkerState {
  const WorkerConfig* config;
  ipc::SpscByteConsumer tasks;
  ipc::SpscByteProducer results;
  ipc::MpmcByteConsumer shared;
  bool stop = false;
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

[[noreturn]] void die_with_parent() noexcept {
  _exit(0);
}

void check_parent(const WorkerConfig& c) noexcept {
  if (getppid() != c.parent) die_with_parent();
}

// Pushes one result message, waiting while the result ring is full.
void push_result(void* context, std::span<const std::byte> message) {
  auto& st = *static_cast<WorkerState*>(context);
  const WorkerConfig& c = *st.config;
  for (unsigned attempt = 0;; ++attempt) {
    std::span<std::byte> room = st.results.claim(message.size());
    if (room.data() != nullptr) {
      std::memcpy(room.data(), message.data(), message.size());
      st.results.commit(message.size());
      break;
    }
    if (attempt < 256) {
      cpu_relax();
    } else {
      if ((attempt & 255) == 0) check_parent(c);
      timespec ts{0, 50'000};
      nanosleep(&ts, nullptr);
    }
  }
  if (c.wait == WaitMode::block) {
    // Dekker pair with PoolCore::wait_until: it bumps event_waiters, fences, then looks
    // at the result rings before it sleeps. The fence orders our commit before the load
    // of event_waiters: either it sees the result, or we see it waiting and wake it.
    // Nobody waiting (the common case under load) costs no shared write.
    ipc::detail::store_load_fence();
    // relaxed: ordered by the fence above.
    if (c.shared->event_waiters.load(std::memory_order_relaxed) != 0) {
      // release: pairs with the parent's acquire load of `event` (its futex compare).
      c.shared->event.fetch_add(1, std::memory_order_release);
      shm_futex_wake_all(c.shared->event);
    }
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
  if (h.kind != static_cast<std::uint32_t>(MessageKind::task) || h.task_id == 0 || h.invoker == 0 ||
      h.fn == 0) {
    return;
  }
  WorkerShared& self = *st.config->self;
  // relaxed: the parent reads it only after reaping this process.
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
  } else {
    invoker(fn, h, msg.subspan(sizeof h), writer);
  }
  writer.flush();
  // relaxed: as above; the results are already committed.
  self.current_task.store(0, std::memory_order_relaxed);
}

}  // namespace

void worker_main(const WorkerConfig& c) noexcept {
  // Die with the parent, also when it is SIGKILLed; the getppid check closes the race
  // of a parent that died before prctl ran.
  (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
  check_parent(c);
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
  WorkerState st{&c, {}, {}, {}};
  try {
    st.tasks = ipc::SpscByteConsumer::attach(c.task_region);
    st.results = ipc::SpscByteProducer::attach(c.result_region);
    st.shared = ipc::MpmcByteConsumer::attach(c.shared_region);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ringpool: worker %zu cannot attach its rings: %s\n", c.index, e.what());
    _exit(120);
  }
  // relaxed: a flag only; the parent polls it while it waits for spawned workers.
  c.self->started.store(1, std::memory_order_relaxed);
  if (c.initializer != nullptr && *c.initializer) {
    try {
      (*c.initializer)();
    } catch (...) {
      const auto d = describe_exception(std::current_exception());
      std::fprintf(stderr, "ringpool: the pool initializer raised %s: %s (worker %zu exits)\n",
                   d.type_name.c_str(), d.what.c_str(), c.index);
      std::fflush(stderr);
      _exit(kInitializerFailed);
    }
  }
  WorkerShared& self = *c.self;
  // relaxed: read by the parent after reaping (see WorkerShared).
  self.initialized.store(1, std::memory_order_relaxed);

  std::vector<std::byte> buffer(c.slot_size);
  ResultWriter writer(buffer, &push_result, &st);
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
    // Spin ~50 us before giving up the CPU (time-based: PAUSE costs 10 ns on bare metal
    // but can cost 300 ns under a hypervisor's pause-loop exiting).
    if (idle++ == 0) idle_since = std::chrono::steady_clock::now();
    if ((idle & 7) != 0 || std::chrono::steady_clock::now() - idle_since < kSpinFor) {
      cpu_relax();
      continue;
    }
    if (c.wait == WaitMode::spin) {
      // Keep polling, but let another thread that shares this CPU run now and then
      // (an oversubscribed core would otherwise wait for the scheduler tick).
      if ((idle & 15) == 0) {
        sched_yield();
      } else {
        cpu_relax();
      }
      if ((idle & 0xffff) == 0) check_parent(c);
      continue;
    }
    // acquire: pairs with the release fetch_add of `wake` by the parent.
    const std::uint32_t seen = self.wake.load(std::memory_order_acquire);
    // relaxed + the fence below: a Dekker pair with the parent's push, seq_cst fence,
    // then relaxed load of `sleeping` in PoolCore (either it sees us asleep or we see its
    // message in the re-check).
    self.sleeping.store(1, std::memory_order_relaxed);
    ipc::detail::store_load_fence();
    if (st.tasks.size_approx() == 0 && st.shared.size_approx() == 0) {
      shm_futex_wait(self.wake, seen, std::chrono::milliseconds(100));
    }
    // relaxed: only a hint for the parent's wake-up.
    self.sleeping.store(0, std::memory_order_relaxed);
    check_parent(c);
    idle = 1;
    idle_since = std::chrono::steady_clock::now();
  }
  std::fflush(stdout);
  std::fflush(stderr);
  _exit(0);
}

namespace {

[[noreturn]] void bad_start(const std::string& what) {
  throw DecodeError("ringpool: spawned pool worker: " + what +
                    "; the start data was not written by this program's Pool");
}

// A region of the mapping: aligned, non-empty, inside it.
bool region_ok(std::uint64_t offset, std::uint64_t size, std::uint64_t total) noexcept {
  return offset % kLine == 0 && offset <= total && size > 0 && size <= total - offset;
}

// Entry of a spawn-started worker (kind kSpawnWorkerKind), run by serve_if_worker in
// the re-executed program. Everything in the payload and the mapping is checked before
// it is used; then the same worker loop as a forked worker runs.
int spawned_worker_entry(std::span<const std::byte> payload) {
  auto [layout, init_args] = from_bytes<SpawnPayload>(payload);
  const SpawnLayout& l = layout;
  if (l.magic != kSpawnLayoutMagic) bad_start("the layout magic is wrong");
  if (l.fd < 0) bad_start("the mapping's fd " + std::to_string(l.fd) + " is invalid");
  if (l.wait > static_cast<std::uint32_t>(WaitMode::block)) bad_start("unknown wait mode");
  if (l.slot_size < sizeof(TaskHeader) + 64 || l.slot_size > (std::uint64_t{1} << 30)) {
    bad_start("slot size " + std::to_string(l.slot_size) + " is out of range");
  }
  if (l.bytes < sizeof(PoolShared) || l.bytes > (std::uint64_t{1} << 46)) {
    bad_start("mapping size " + std::to_string(l.bytes) + " is out of range");
  }
  if (!region_ok(l.self_offset, sizeof(WorkerShared), l.bytes) ||
      !region_ok(l.task_offset, l.task_bytes, l.bytes) ||
      !region_ok(l.result_offset, l.result_bytes, l.bytes) ||
      !region_ok(l.shared_offset, l.shared_bytes, l.bytes) || l.self_offset < sizeof(PoolShared)) {
    bad_start("a region lies outside the mapping or is misaligned");
  }
  struct stat st {};
  if (::fstat(l.fd, &st) != 0) {
    bad_start("the inherited fd " + std::to_string(l.fd) + " is not the pool's mapping (" +
              std::strerror(errno) + ")");
  }
  if (st.st_size < 0 || static_cast<std::uint64_t>(st.st_size) < l.bytes) {
    bad_start("the inherited fd " + std::to_string(l.fd) + " is not the pool's mapping (" +
              std::to_string(st.st_size) + " bytes, the layout needs " + std::to_string(l.bytes) +
              ")");
  }
  void* base = ::mmap(nullptr, l.bytes, PROT_READ | PROT_WRITE, MAP_SHARED, l.fd, 0);
  if (base == MAP_FAILED) {
    bad_start(std::string("cannot map the pool's memfd: ") + std::strerror(errno));
  }
  ::close(l.fd);
  auto* bytes = static_cast<std::byte*>(base);
  auto* shared = reinterpret_cast<PoolShared*>(bytes);
  if (shared->magic != kPoolMagic || l.index >= shared->workers) {
    bad_start("the mapping is not a pool's, or worker index " + std::to_string(l.index) +
              " is out of range");
  }

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
  config.slot_size = static_cast<std::size_t>(l.slot_size);
  config.max_tasks = static_cast<std::size_t>(l.max_tasks);
  config.initializer = &initializer;
  config.shared = shared;
  config.self = reinterpret_cast<WorkerShared*>(bytes + l.self_offset);
  config.task_region = {bytes + l.task_offset, static_cast<std::size_t>(l.task_bytes)};
  config.result_region = {bytes + l.result_offset, static_cast<std::size_t>(l.result_bytes)};
  config.shared_region = {bytes + l.shared_offset, static_cast<std::size_t>(l.shared_bytes)};
  worker_main(config);
}

[[maybe_unused]] const bool kSpawnedWorkerRegistered =
    (ringpool::detail::register_worker_entry(kSpawnWorkerKind, &spawned_worker_entry), true);

}  // namespace

}  // namespace ringpool::pool::detail
