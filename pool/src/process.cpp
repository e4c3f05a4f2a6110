// Process: fork/spawn start and the multithreaded-fork warning. The records of started
// children, their reaping and the registry are in child_registry.cpp.
#include "ringpool/pool/process.hpp"

#include <dirent.h>
#include <fcntl.h>
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
#include <iostream>
#include <mutex>

#include "child_registry.hpp"
#include "ringpool/pool/detail/process_state.hpp"
#include "ringpool/pool/this_process.hpp"
#include "ringpool/topology/binding.hpp"

namespace ringpool::pool {

namespace {

using detail::check_signal;
using detail::ChildRecord;
using detail::forget_child;
using detail::make_record;
using detail::reap_if_exited;
using detail::sentinel_of;
using detail::signal_child;
using detail::wait_exit;

[[noreturn]] void throw_os_error(const std::string& call, int err) {
  throw PoolError("ringpool: " + call + " failed: " + std::strerror(err) + " (errno " +
                  std::to_string(err) + "); check the process and fd limits (ulimit -u, -n)");
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

}  // namespace

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
