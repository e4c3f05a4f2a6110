// Process: fork/spawn start, reaping through pidfds, the children registry that
// joins non-daemon children at exit, and the multithreaded-fork warning.
#include "ringpool/pool/process.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <mutex>
#include <thread>

#include "ringpool/pool/detail/process_state.hpp"
#include "ringpool/pool/this_process.hpp"
#include "ringpool/topology/binding.hpp"

namespace ringpool::pool {

namespace detail {

// One started child. Lives as long as its Process object or the registry holds it.
struct ChildRecord {
  pid_t pid = -1;
  pid_t creator = -1;
  bool daemon = false;
  std::string name;     // the Process's name (ChildProcess::name())
  int pidfd = -1;       // readable once the child has exited; -1 when pidfd_open failed
  int pidfd_error = 0;  // pidfd_open's errno when pidfd is -1
  std::mutex mutex;
  bool reaped = false;          // guarded by mutex
  std::optional<int> exitcode;  // guarded by mutex

  ChildRecord() = default;
  ChildRecord(const ChildRecord&) = delete;
  ChildRecord& operator=(const ChildRecord&) = delete;
  // The pidfd is closed only here, so a thread polling it never sees it reused.
  ~ChildRecord() {
    if (pidfd >= 0) ::close(pidfd);
  }
};

}  // namespace detail

namespace {

using detail::ChildRecord;
using Clock = std::chrono::steady_clock;

[[noreturn]] void throw_os_error(const std::string& call, int err) {
  throw PoolError("ringpool: " + call + " failed: " + std::strerror(err) + " (errno " +
                  std::to_string(err) + "); check the process and fd limits (ulimit -u, -n)");
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return status;
}

// Reaps the child if it has exited; true when it is known to have ended.
bool reap_if_exited(ChildRecord& r) {
  std::lock_guard lock(r.mutex);
  if (r.reaped) return true;
  int status = 0;
  pid_t got = 0;
  do {
    got = ::waitpid(r.pid, &status, WNOHANG);
  } while (got < 0 && errno == EINTR);
  if (got == 0) return false;
  if (got == r.pid) r.exitcode = decode_status(status);
  // got < 0 (ECHILD): someone else reaped it (waitpid(-1), SIGCHLD ignored); the
  // status is lost and exitcode stays empty, but the child has ended.
  r.reaped = true;
  return true;
}

// Waits until the child has ended or the timeout passed; true when ended.
bool wait_exit(ChildRecord& r, std::optional<std::chrono::nanoseconds> timeout) {
  const auto deadline = timeout ? Clock::now() + *timeout : Clock::time_point::max();
  auto backoff = std::chrono::microseconds(50);
  for (;;) {
    if (reap_if_exited(r)) return true;
    const auto now = Clock::now();
    if (timeout && now >= deadline) return false;
    const auto remaining = deadline - now;
    if (r.pidfd >= 0) {
      pollfd p{r.pidfd, POLLIN, 0};
      if (timeout) {
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(remaining).count();
        timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
        static_cast<void>(::ppoll(&p, 1, &ts, nullptr));
      } else {
        static_cast<void>(::ppoll(&p, 1, nullptr, nullptr));
      }
    } else if (!timeout) {
      siginfo_t info{};
      // Blocks until the child is a zombie without reaping it (reap_if_exited does).
      if (::waitid(P_PID, static_cast<id_t>(r.pid), &info, WEXITED | WNOWAIT) < 0 &&
          errno == ECHILD) {
        std::lock_guard lock(r.mutex);
        r.reaped = true;
        return true;
      }
    } else {
      std::this_thread::sleep_for(std::min<Clock::duration>(backoff, remaining));
      backoff = std::min(backoff * 2, std::chrono::microseconds(10'000));
    }
  }
}

void signal_child(ChildRecord& r, int signal) {
  std::lock_guard lock(r.mutex);
  // Unreaped, the pid cannot have been reused: the signal reaches our child.
  // r.pid > 0 always holds for a started child; checked anyway: kill(-1, ...) would signal
  // every process we may signal.
  if (!r.reaped && r.pid > 0) static_cast<void>(::kill(r.pid, signal));
}

struct Registry {
  std::mutex mutex;
  std::vector<std::shared_ptr<ChildRecord>> children;  // started, maybe not yet reaped
  Registry* abandoned = nullptr;  // the parent's registry, kept reachable in a fork child
};

// Never destroyed (atexit handlers use it); replaced, not reset, in a forked child
// because another thread of the parent may have held its mutex at the fork.
Registry*& registry_slot() {
  static Registry* registry = new Registry;
  return registry;
}
Registry& registry() {
  return *registry_slot();
}

void at_exit_join_children() {
  ringpool::detail::join_children_at_exit();
}

void register_child(const std::shared_ptr<ChildRecord>& record) {
  static std::once_flag at_exit_once;
  std::call_once(at_exit_once, [] { std::atexit(at_exit_join_children); });
  auto& reg = registry();
  std::lock_guard lock(reg.mutex);
  // Python's _cleanup(): reap finished children (their Process objects, if any,
  // read the status from the shared record).
  std::erase_if(reg.children,
                [](const std::shared_ptr<ChildRecord>& c) { return reap_if_exited(*c); });
  reg.children.push_back(record);
}

std::shared_ptr<ChildRecord> make_record(pid_t pid, const ProcessOptions& options) {
  auto record = std::make_shared<ChildRecord>();
  record->pid = pid;
  record->creator = ::getpid();
  record->daemon = options.daemon;
  record->name = options.name;
  // The child is unreaped, so the pid names it; O_CLOEXEC is implied.
  record->pidfd = ringpool::detail::open_pidfd(pid, record->pidfd_error);
  register_child(record);
  return record;
}

// Drops an ended child from the registry, so the record (and its pidfd) goes away with
// the last Process handle instead of at the next start(), active_children() or exit.
void forget_child(const std::shared_ptr<ChildRecord>& record) {
  auto& reg = registry();
  std::lock_guard lock(reg.mutex);
  std::erase(reg.children, record);
}

std::size_t thread_count() {
  DIR* dir = ::opendir("/proc/self/task");
  if (dir == nullptr) return 1;
  std::size_t n = 0;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') ++n;
  }
  ::closedir(dir);
  return n;
}

void warn_if_multithreaded() {
  // relaxed: the flag only makes the message appear once; nothing is published with it.
  static std::atomic<bool> warned{false};
  const std::size_t threads = thread_count();
  if (threads <= 1 || warned.exchange(true, std::memory_order_relaxed)) return;
  std::fprintf(stderr,
               "ringpool: warning: Process::start() with StartMethod::fork in a process that has "
               "%zu threads. Only the calling thread is copied into the child; a lock another "
               "thread held at that moment (malloc, iostreams, your own mutexes) stays locked "
               "there forever. Use ProcessOptions{.start_method = StartMethod::spawn} in "
               "multithreaded programs. (This warning is shown once.)\n",
               threads);
  std::fflush(stderr);
}

bool write_byte(int fd) {
  const char go = 'g';
  ssize_t n = 0;
  do {
    n = ::write(fd, &go, 1);
  } while (n < 0 && errno == EINTR);
  return n == 1;
}

// The pidfd of `r`, or Unsupported naming `who` when pidfd_open failed.
int sentinel_of(const ChildRecord& r, const std::string& who) {
  if (r.pidfd < 0) {
    throw Unsupported(who + ": pidfd_open(2) failed: " + std::strerror(r.pidfd_error) + " (errno " +
                      std::to_string(r.pidfd_error) +
                      "); a sentinel needs Linux 5.3 or later and a seccomp policy that allows "
                      "pidfd_open. Wait with join(timeout) or poll is_alive() instead");
  }
  return r.pidfd;
}

void check_signal(int signal, const char* who) {
  if (signal < 0 || signal >= NSIG) {
    throw InvalidArgument(std::string("ringpool: ") + who + "::send_signal(" +
                          std::to_string(signal) + "): not a signal number; use 1.." +
                          std::to_string(NSIG - 1) + " (e.g. SIGTERM = 15, SIGKILL = 9)");
  }
}

}  // namespace

std::vector<ChildProcess> active_children() {
  auto& reg = registry();
  std::lock_guard lock(reg.mutex);
  std::erase_if(reg.children, [](const std::shared_ptr<ChildRecord>& c) {
    return c->creator != ::getpid() || reap_if_exited(*c);
  });
  std::vector<ChildProcess> children;
  children.reserve(reg.children.size());
  // Every record here was made by start() for a forked or spawned child: pid > 0.
  for (const auto& c : reg.children) children.push_back(ChildProcess(c));
  return children;
}

// ---- ChildProcess --------------------------------------------------------------------

ChildRecord& ChildProcess::own(const char* operation) const {
  if (record_->creator != ::getpid()) {
    throw InvalidState(std::string("ringpool: ChildProcess::") + operation + " on " +
                       record_->name +
                       ": it is not a child of this process (only its "
                       "creator, pid " +
                       std::to_string(record_->creator) + ", can wait for or signal it)");
  }
  return *record_;
}

pid_t ChildProcess::pid() const noexcept {
  return record_->pid;
}
const std::string& ChildProcess::name() const noexcept {
  return record_->name;
}
bool ChildProcess::daemon() const noexcept {
  return record_->daemon;
}
bool ChildProcess::is_alive() {
  return !reap_if_exited(own("is_alive()"));
}
std::optional<int> ChildProcess::exitcode() {
  auto& r = own("exitcode()");
  if (!reap_if_exited(r)) return std::nullopt;
  std::lock_guard lock(r.mutex);
  return r.exitcode;
}
void ChildProcess::join() {
  static_cast<void>(wait_exit(own("join()"), std::nullopt));
}
bool ChildProcess::join(std::chrono::nanoseconds timeout) {
  return wait_exit(own("join(timeout)"), std::max(timeout, std::chrono::nanoseconds(0)));
}
int ChildProcess::sentinel() const {
  return sentinel_of(own("sentinel()"), "ringpool: ChildProcess::sentinel() on " + record_->name);
}
void ChildProcess::terminate() {
  signal_child(own("terminate()"), SIGTERM);
}
void ChildProcess::kill() {
  signal_child(own("kill()"), SIGKILL);
}
void ChildProcess::send_signal(int signal) {
  check_signal(signal, "ChildProcess");
  signal_child(own("send_signal()"), signal);
}

// ---- Process -------------------------------------------------------------------------

Process::Process(Process&&) noexcept = default;

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    release_record();
    options_ = std::move(other.options_);
    creator_ = other.creator_;
    identity_ = std::move(other.identity_);
    body_ = std::move(other.body_);
    spawn_ = std::move(other.spawn_);
    record_ = std::move(other.record_);
    closed_ = other.closed_;
  }
  return *this;
}

Process::~Process() {
  release_record();
}

void Process::release_record() noexcept {
  if (!record_) return;
  try {
    // An ended child's record (and its pidfd, the sentinel) goes now; a running one's stays
    // in the registry, which reaps it later (active_children(), the next start(), exit).
    if (record_->creator == ::getpid() && reap_if_exited(*record_)) forget_child(record_);
  } catch (...) {
    // A mutex failure: the registry drops the record at its next sweep instead.
  }
  record_.reset();
}

void Process::throw_spawn_needs_function() {
  throw InvalidArgument(
      "ringpool: Process with StartMethod::spawn needs a plain function registered with "
      "RINGPOOL_TASK(fn) (the child is a fresh program and finds it by name); lambdas and "
      "function objects only work with StartMethod::fork");
}

void Process::set_spawn_target(void (*fn)(), std::vector<std::byte> encoded_args) {
  auto name = ringpool::detail::registered_task_name(fn);
  if (!name) {
    throw InvalidArgument(
        "ringpool: Process with StartMethod::spawn: the target function is not registered; add "
        "RINGPOOL_TASK(fn) at namespace scope after its definition so the re-executed child "
        "can find it by name");
  }
  spawn_.kind = std::string(ringpool::detail::kTaskStartKind);
  spawn_.payload = ringpool::detail::encode_task_start({std::move(*name), std::move(encoded_args)});
}

void Process::assign_identity() {
  creator_ = ::getpid();
  auto id = ringpool::detail::next_child_identity();
  identity_ = std::move(id.identity);
  if (options_.name.empty()) options_.name = std::move(id.default_name);
}

Process Process::for_worker_entry(std::string kind, std::vector<std::byte> payload,
                                  std::vector<int> inherit_fds, ProcessOptions options) {
  Process p;
  p.options_ = std::move(options);
  p.options_.start_method = StartMethod::spawn;
  p.spawn_.kind = std::move(kind);
  p.spawn_.payload = std::move(payload);
  p.spawn_.inherit_fds = std::move(inherit_fds);
  p.assign_identity();
  return p;
}

void Process::start() {
  ringpool::detail::check_spawn_guard("Process::start()");
  throw_if_closed("start()");
  if (record_) {
    throw InvalidState("ringpool: Process::start(): " + options_.name +
                       " was already started; a process can only be started once -- create a "
                       "new Process to run the target again");
  }
  if (creator_ != ::getpid()) {
    throw InvalidState("ringpool: Process::start(): " + options_.name +
                       " was created by another process (pid " + std::to_string(creator_) +
                       "); only the creating process may start it");
  }
  if (this_process::is_daemon()) {
    throw InvalidState(
        "ringpool: Process::start(): daemonic processes are not allowed to have "
        "children (" +
        this_process::name() +
        " is a daemon and is killed with its parent, which would orphan them); "
        "start it with ProcessOptions::daemon = false to let it create processes");
  }
  if (options_.start_method == StartMethod::thread) {
    throw InvalidArgument("ringpool: Process::start(): " + options_.name +
                          " has StartMethod::thread, which only a Pool takes (its workers can be "
                          "threads); a Process is a process: use fork or spawn");
  }
  if (options_.start_method == StartMethod::spawn) {
    start_spawn();
  } else {
    start_fork();
  }
}

void Process::start_spawn() {
  ringpool::detail::SpawnRequest request = spawn_;
  request.name = options_.name;
  request.identity = identity_;
  request.daemon = options_.daemon;
  request.cpus = options_.cpus;
  const pid_t pid = ringpool::detail::spawn_worker(request);
  record_ = make_record(pid, options_);
}

void Process::start_fork() {
  warn_if_multithreaded();
  int hold[2] = {-1, -1};
  if (options_.cpus && ::pipe2(hold, O_CLOEXEC) != 0) throw_os_error("pipe2", errno);
  const pid_t parent = ::getpid();
  std::string parent_name = this_process::name();
  // Buffered output would otherwise be written twice, once by each process.
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);

  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    if (hold[0] >= 0) {
      ::close(hold[0]);
      ::close(hold[1]);
    }
    throw_os_error("fork", err);
  }
  if (pid == 0) {
    if (options_.daemon) {
      static_cast<void>(::prctl(PR_SET_PDEATHSIG, SIGKILL));
      // The parent may have died before prctl: then nobody will send the signal.
      // Die as PR_SET_PDEATHSIG would have made us (async-signal-safe).
      if (::getppid() != parent) static_cast<void>(::kill(::getpid(), SIGKILL));
    }
    if (hold[0] >= 0) {
      ::close(hold[1]);
      char go = 0;
      ssize_t n = 0;
      do {
        n = ::read(hold[0], &go, 1);
      } while (n < 0 && errno == EINTR);
      if (n != 1) _exit(1);  // the parent could not pin us and gave up
      ::close(hold[0]);
    }
    ringpool::detail::reset_children_after_fork();
    ringpool::detail::become_child(options_.name, identity_, options_.daemon, true, parent,
                                   std::move(parent_name));
    int code = 0;
    try {
      body_();
    } catch (...) {
      ringpool::detail::report_child_exception(std::current_exception());
      code = 1;
    }
    ringpool::detail::finish_child(code);
  }

  record_ = make_record(pid, options_);
  if (hold[0] >= 0) {
    ::close(hold[0]);
    try {
      topology::pin_process(pid, *options_.cpus);
    } catch (...) {
      ::close(hold[1]);  // the child reads EOF and exits
      static_cast<void>(wait_exit(*record_, std::nullopt));
      record_.reset();
      throw;
    }
    const bool released = write_byte(hold[1]);
    ::close(hold[1]);
    if (!released) throw_os_error("write to the child's start pipe", errno);
  }
}

void Process::throw_if_closed(const char* operation) const {
  if (closed_) {
    throw InvalidState(std::string("ringpool: Process::") + operation + " on " + options_.name +
                       ", which was closed; a closed Process only keeps its name() and daemon()");
  }
}

detail::ChildRecord& Process::started_record(const char* operation) const {
  throw_if_closed(operation);
  if (!record_) {
    throw InvalidState(std::string("ringpool: Process::") + operation + " on " + options_.name +
                       ", which has not been started; call start() first");
  }
  if (record_->creator != ::getpid()) {
    throw InvalidState(std::string("ringpool: Process::") + operation + " on " + options_.name +
                       ": it is not a child of this process (only its creator, pid " +
                       std::to_string(record_->creator) + ", can wait for or signal it)");
  }
  return *record_;
}

void Process::join() {
  static_cast<void>(wait_exit(started_record("join()"), std::nullopt));
}

bool Process::join(std::chrono::nanoseconds timeout) {
  return wait_exit(started_record("join(timeout)"), std::max(timeout, std::chrono::nanoseconds(0)));
}

bool Process::is_alive() {
  throw_if_closed("is_alive()");
  if (!record_) return false;
  return !reap_if_exited(started_record("is_alive()"));
}

std::optional<int> Process::exitcode() {
  throw_if_closed("exitcode()");
  if (!record_) return std::nullopt;
  auto& r = started_record("exitcode()");
  if (!reap_if_exited(r)) return std::nullopt;
  std::lock_guard lock(r.mutex);
  return r.exitcode;
}

pid_t Process::pid() const {
  return started_record("pid()").pid;
}

int Process::sentinel() const {
  return sentinel_of(started_record("sentinel()"),
                     "ringpool: Process::sentinel() on " + options_.name);
}

void Process::close() {
  if (closed_) return;
  if (record_) {
    auto& r = started_record("close()");
    if (!reap_if_exited(r)) {
      throw InvalidState("ringpool: Process::close() on " + options_.name + " (pid " +
                         std::to_string(r.pid) +
                         "), which is still running; join() it, or terminate()/kill() and "
                         "join() it, before close() (Python raises ValueError here)");
    }
    release_record();
  }
  body_ = nullptr;
  spawn_ = {};
  closed_ = true;
}

void Process::set_daemon(bool daemon) {
  throw_if_closed("set_daemon()");
  if (record_) {
    throw InvalidState("ringpool: Process::set_daemon() on " + options_.name +
                       " after start(); set it before starting, as Python's p.daemon");
  }
  options_.daemon = daemon;
}

void Process::terminate() {
  signal_child(started_record("terminate()"), SIGTERM);
}
void Process::kill() {
  signal_child(started_record("kill()"), SIGKILL);
}
void Process::send_signal(int signal) {
  check_signal(signal, "Process");
  signal_child(started_record("send_signal()"), signal);
}

}  // namespace ringpool::pool

namespace ringpool::detail {

void reset_children_after_fork() {
  auto* fresh = new pool::Registry;
  fresh->abandoned = pool::registry_slot();
  pool::registry_slot() = fresh;
}

void join_children_at_exit() noexcept {
  try {
    std::vector<std::shared_ptr<pool::detail::ChildRecord>> children;
    {
      auto& reg = pool::registry();
      std::lock_guard lock(reg.mutex);
      children = reg.children;
    }
    const pid_t self = ::getpid();
    for (const auto& c : children) {
      if (c->creator == self && c->daemon) pool::signal_child(*c, SIGTERM);
    }
    for (const auto& c : children) {
      if (c->creator == self) static_cast<void>(pool::wait_exit(*c, std::nullopt));
    }
    auto& reg = pool::registry();
    std::lock_guard lock(reg.mutex);
    std::erase_if(reg.children, [](const auto& c) { return pool::reap_if_exited(*c); });
  } catch (...) {
    // At exit there is nobody to report to; the children are reaped by init.
  }
}

}  // namespace ringpool::detail
