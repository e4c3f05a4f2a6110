// The worker process of a Pool: pulls task messages from its own SPSC ring and the
// shared MPMC ring, runs them in place, and pushes results to its SPSC result ring.
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdio_ext.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "pool_internal.hpp"
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
  ipc::SpscByteRing tasks;
  ipc::SpscByteRing results;
  ipc::MpmcByteRing shared;
  bool stop = false;
};

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
    // seq_cst: the result's commit (release) is ordered before this bump; a parent that
    // read the event before bumping event_waiters either sees the result when it
    // collects or fails its futex compare (see PoolCore::wait_until).
    c.shared->event.fetch_add(1, std::memory_order_seq_cst);
    // seq_cst: pairs with the seq_cst fetch_add of event_waiters by a sleeping parent.
    if (c.shared->event_waiters.load(std::memory_order_seq_cst) != 0) {
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
  auto invoker = reinterpret_cast<Invoker>(static_cast<std::uintptr_t>(h.invoker));
  invoker(h.fn, h, msg.subspan(sizeof h), writer);
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
    st.tasks = ipc::SpscByteRing::attach(c.task_region);
    st.results = ipc::SpscByteRing::attach(c.result_region);
    st.shared = ipc::MpmcByteRing::attach(c.shared_region);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ringpool: worker %zu cannot attach its rings: %s\n", c.index, e.what());
    _exit(120);
  }
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

}  // namespace ringpool::pool::detail
