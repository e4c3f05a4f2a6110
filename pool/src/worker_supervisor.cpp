// WorkerSupervisor: starting, reaping, restarting and stopping a Pool's workers (see
// worker_supervisor.hpp).
#include "worker_supervisor.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "ringpool/ipc/event_count.hpp"
#include "ringpool/pool/detail/process_state.hpp"
#include "ringpool/pool/errors.hpp"
#include "ringpool/pool/spawn.hpp"
#include "ringpool/pool/this_process.hpp"

namespace ringpool::pool::detail {

namespace {

int exitcode_of(int status) {
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 0;
}

// Waits for process `pid` (> 0) to end, retrying on EINTR.
void reap_blocking(pid_t pid) noexcept {
  int status = 0;
  while (pid > 0 && ::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

WorkerSupervisor::WorkerSupervisor(const CoreConfig& config, const SharedLayout& layout,
                                   std::mutex& mu, std::function<bool()> tick)
    : config_(config),
      layout_(layout),
      mu_(mu),
      tick_(std::move(tick)),
      slots_(config.workers),
      configs_(config.workers) {}

WorkerSupervisor::~WorkerSupervisor() {
  kill_all();
}

WorkerConfig WorkerSupervisor::worker_config(std::size_t i) const {
  WorkerConfig c;
  c.index = i;
  c.parent = config_.start == StartMethod::thread ? 0 : config_.self_pid;
  c.pin = config_.pin;
  c.cpus = config_.cpus[i];
  c.wait = config_.wait;
  c.shares_parent_cpu = config_.shares_parent_cpu[i];
  c.slot_size = config_.slot_size;
  c.max_payload = config_.max_payload;
  c.payloads = config_.payloads;
  c.max_tasks = config_.max_tasks;
  c.initializer = &config_.initializer;
  c.regions = layout_.regions(i);
  return c;
}

void WorkerSupervisor::start_all() {
  thread_ = std::thread([this] { supervise(); });
  std::unique_lock lock(sup_mu_);
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    queue_.push_back({i, std::chrono::steady_clock::now()});
  }
  sup_cv_.notify_all();
  launched_cv_.wait(lock, [&] { return launched_ == slots_.size() || !launch_error_.empty(); });
  if (!launch_error_.empty()) {
    const std::string error = launch_error_;
    lock.unlock();
    kill_all();
    throw PoolError(error);
  }
}

void WorkerSupervisor::supervise() {
  using std::chrono::steady_clock;
  std::unique_lock lock(sup_mu_);
  bool busy = false;
  for (;;) {
    auto wake_at =
        steady_clock::now() + (busy ? std::chrono::milliseconds(5) : std::chrono::milliseconds(50));
    for (const Queued& q : queue_) wake_at = std::min(wake_at, q.due);
    sup_cv_.wait_until(lock, wake_at, [&] {
      if (stop_) return true;
      const auto now = steady_clock::now();
      return std::any_of(queue_.begin(), queue_.end(),
                         [&](const Queued& q) { return q.due <= now; });
    });
    const auto now = steady_clock::now();
    std::vector<std::size_t> due;
    std::erase_if(queue_, [&](const Queued& q) {
      if (q.due > now) return false;
      due.push_back(q.index);
      return true;
    });
    const bool stop = stop_;
    lock.unlock();
    for (std::size_t i : due) launch(i);
    if (stop) return;
    busy = tick_();
    lock.lock();
  }
}

void WorkerSupervisor::launch(std::size_t i) {
  WorkerConfig config = worker_config(i);
  // mu is held across fork: the new worker may answer a task before this thread runs
  // again, and whoever sees that answer must also see its pid, state and respawn count.
  // The child never touches mu.
  std::unique_lock lock(mu_);
  Slot& s = slots_[i];
  if (s.state != State::starting || draining_) return;  // killed or joining meanwhile
  pid_t pid = 0;
  std::string error;
  switch (config_.start) {
    case StartMethod::thread:
      try {
        configs_[i] = std::make_unique<WorkerConfig>(config);
        // relaxed: the thread starts after this store (thread creation synchronises).
        s.exited.store(false, std::memory_order_relaxed);
        s.thread = std::thread([&s, c = configs_[i].get()] {
          // relaxed: published by the release store of `exited` below.
          s.exit_code.store(run_worker(*c), std::memory_order_relaxed);
          // release: pairs with the acquire load in reap_one(); exit_code is visible.
          s.exited.store(true, std::memory_order_release);
        });
      } catch (const std::exception& e) {
        error = std::string("ringpool: cannot start a worker thread: ") + e.what();
      }
      break;
    case StartMethod::spawn:
      try {
        pid = ringpool::detail::spawn_worker(spawn_request(i));
      } catch (const std::exception& e) {
        error = std::string("ringpool: cannot start a spawned worker process: ") + e.what();
      }
      break;
    case StartMethod::fork: {
      // Read before fork: the worker's this_process::parent() names the pool's process.
      std::string owner_name = this_process::name();
      std::fflush(stdout);
      std::fflush(stderr);
      pid = ::fork();
      if (pid == 0) {
        become_fork_worker(i, std::move(owner_name));
        worker_main(config);
      }
      if (pid < 0) {
        error =
            std::string("ringpool: cannot start a worker process: fork: ") + std::strerror(errno);
      }
      break;
    }
  }
  if (!error.empty()) {
    std::lock_guard sl(sup_mu_);
    if (launched_ < slots_.size()) {
      launch_error_ = error;
      launched_cv_.notify_all();
    } else {
      std::fprintf(stderr, "%s (will retry)\n", error.c_str());
      queue_.push_back({i, std::chrono::steady_clock::now() + std::chrono::milliseconds(100)});
    }
    return;
  }
  s.pid = pid;
  s.state = State::running;
  if (s.launched_once) ++respawns_;
  s.launched_once = true;
  std::lock_guard sl(sup_mu_);
  if (launched_ < slots_.size()) {
    ++launched_;
    launched_cv_.notify_all();
  }
}

// In a forked worker, first thing: who it is, as Python's ForkPoolWorker-<n> (a daemonic
// child of the pool's process, whose this_process::parent() is that process). The
// registry of children copied from the parent is dropped (another parent thread may have
// held its lock at the fork). A spawn-started worker learns the same from its start data.
void WorkerSupervisor::become_fork_worker(std::size_t i, std::string owner_name) const {
  ringpool::detail::reset_children_after_fork();
  const std::string n = std::to_string(i + 1);
  const std::string& owner_identity = ringpool::detail::current_process().identity;
  ringpool::detail::become_child(
      "ForkPoolWorker-" + n, owner_identity.empty() ? "w" + n : owner_identity + ":w" + n,
      /*daemon=*/true, /*forked=*/true, config_.self_pid, std::move(owner_name));
}

// What a spawn-started worker needs: the layout of the mapping it inherits as a memfd
// (offsets, not the parent's addresses), its settings and the initializer's key and args.
ringpool::detail::SpawnRequest WorkerSupervisor::spawn_request(std::size_t i) const {
  SpawnLayout l = layout_.spawn_layout(i);
  l.parent = config_.self_pid;
  l.wait = static_cast<std::uint32_t>(config_.wait);
  l.shares_parent_cpu = config_.shares_parent_cpu[i] ? 1 : 0;
  l.slot_size = config_.slot_size;
  l.max_payload = config_.max_payload;
  l.payload_serial = config_.payloads.owner_serial();
  l.max_tasks = config_.max_tasks;
  l.init_key = config_.initializer_key;
  ringpool::detail::SpawnRequest request;
  request.kind = std::string(kSpawnWorkerKind);
  request.payload = to_bytes(SpawnPayload{l, config_.initializer_args});
  request.inherit_fds = {layout_.fd()};
  request.name = "SpawnPoolWorker-" + std::to_string(i + 1);
  request.daemon = true;  // pool workers die with the pool's process, as Python's
  if (config_.pin && config_.cpus[i].count() > 0) request.cpus = config_.cpus[i];
  return request;
}

bool WorkerSupervisor::reap_one(std::size_t i, Death& out) {
  Slot& s = slots_[i];
  if (s.state != State::running) return false;
  int code = 0;
  if (config_.start == StartMethod::thread) {
    // acquire: pairs with the release store at the end of the worker thread.
    if (!s.exited.load(std::memory_order_acquire)) return false;
    s.thread.join();
    // relaxed: ordered by the acquire load of `exited` above.
    code = s.exit_code.load(std::memory_order_relaxed);
  } else {
    if (s.pid <= 0) return false;
    int status = 0;
    const pid_t r = ::waitpid(s.pid, &status, WNOHANG);
    if (r == 0) return false;
    if (r < 0 && errno != ECHILD) return false;  // EINTR: next time
    // ECHILD: someone else reaped it (SIGCHLD ignored?): treat it as killed.
    code = r < 0 ? -SIGKILL : exitcode_of(status);
  }
  const WorkerShared& w = layout_.worker(i);
  out.index = i;
  out.pid = s.pid;
  out.exitcode = code;
  // relaxed (both): the worker has ended; its stores are complete (waitpid / join).
  out.started = w.started.load(std::memory_order_relaxed) != 0;
  out.initialized = w.initialized.load(std::memory_order_relaxed) != 0;
  s.pid = 0;
  s.state = draining_ ? State::stopped : State::dead;
  return !draining_;
}

void WorkerSupervisor::respawn(std::size_t i, std::chrono::milliseconds delay) {
  slots_[i].state = State::starting;
  std::lock_guard sl(sup_mu_);
  queue_.push_back({i, std::chrono::steady_clock::now() + delay});
  sup_cv_.notify_all();
}

void WorkerSupervisor::retire(std::size_t i) {
  slots_[i].state = State::retired;
}

bool WorkerSupervisor::has_exited(std::size_t i) const noexcept {
  const Slot& s = slots_[i];
  if (s.state != State::running) return true;
  if (config_.start == StartMethod::thread) {
    // acquire: pairs with the release store at the end of the worker thread.
    return s.exited.load(std::memory_order_acquire);
  }
  if (s.pid <= 0) return true;
  siginfo_t info{};
  // WNOWAIT: only looks; reap_one() collects it and reports the death.
  if (::waitid(P_PID, static_cast<id_t>(s.pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    return errno == ECHILD;  // reaped by someone else: gone (EINTR: not known yet)
  }
  return info.si_pid == s.pid;
}

bool WorkerSupervisor::any_in_transition() const noexcept {
  for (const Slot& s : slots_) {
    if (s.state == State::starting || s.state == State::dead) return true;
  }
  return false;
}

bool WorkerSupervisor::all_retired() const noexcept {
  for (const Slot& s : slots_) {
    if (s.state != State::retired) return false;
  }
  return true;
}

void WorkerSupervisor::ask_thread_to_quit(std::size_t i) noexcept {
  WorkerShared& w = layout_.worker(i);
  // relaxed + fence: the publish of the EventCount argument; the worker re-checks `quit`
  // after prepare_wait() (sleep_until_work, wait_for_room).
  w.quit.store(1, std::memory_order_relaxed);
  ipc::detail::store_load_fence();
  w.wake.notify_all();
  w.room.notify_all();
}

void WorkerSupervisor::begin_drain() noexcept {
  draining_ = true;
}

void WorkerSupervisor::kill_all() {
  {
    std::lock_guard lock(mu_);
    draining_ = true;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].pid > 0) ::kill(slots_[i].pid, SIGKILL);
      if (slots_[i].thread.joinable()) ask_thread_to_quit(i);
    }
  }
  stop_thread();
  std::lock_guard lock(mu_);
  for (Slot& s : slots_) {
    reap_blocking(s.pid);
    if (s.thread.joinable()) s.thread.join();
    s.pid = 0;
    if (s.state != State::retired) s.state = State::stopped;
  }
}

void WorkerSupervisor::wait_all_exit(std::chrono::steady_clock::time_point give_up) {
  for (;;) {
    {
      std::lock_guard lock(mu_);
      bool running = false;
      for (std::size_t i = 0; i < slots_.size(); ++i) {
        Death ignored;
        (void)reap_one(i, ignored);  // draining: an exit marks the worker stopped
        running |= slots_[i].state == State::running;
      }
      if (!running) return;
      if (std::chrono::steady_clock::now() > give_up) break;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  kill_all();
}

void WorkerSupervisor::stop_thread() {
  {
    std::lock_guard sl(sup_mu_);
    stop_ = true;
    sup_cv_.notify_all();
  }
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

}  // namespace ringpool::pool::detail
