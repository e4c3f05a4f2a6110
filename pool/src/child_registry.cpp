// The children registry: records of started children, reaping through pidfds, joining
// non-daemon children at exit, active_children() and the ChildProcess handle.
#include "child_registry.hpp"

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <thread>

#include "ringpool/pool/detail/process_state.hpp"

namespace ringpool::pool {

namespace detail {

namespace {

using Clock = std::chrono::steady_clock;

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return status;
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

}  // namespace

Registry*& registry_slot() {
  static Registry* registry = new Registry;
  return registry;
}
Registry& registry() {
  return *registry_slot();
}

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

void forget_child(const std::shared_ptr<ChildRecord>& record) {
  auto& reg = registry();
  std::lock_guard lock(reg.mutex);
  std::erase(reg.children, record);
}

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

}  // namespace detail

using detail::check_signal;
using detail::ChildRecord;
using detail::reap_if_exited;
using detail::registry;
using detail::sentinel_of;
using detail::signal_child;
using detail::wait_exit;

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

}  // namespace ringpool::pool

namespace ringpool::detail {

void reset_children_after_fork() {
  auto* fresh = new pool::detail::Registry;
  fresh->abandoned = pool::detail::registry_slot();
  pool::detail::registry_slot() = fresh;
}

void join_children_at_exit() noexcept {
  try {
    std::vector<std::shared_ptr<pool::detail::ChildRecord>> children;
    {
      auto& reg = pool::detail::registry();
      std::lock_guard lock(reg.mutex);
      children = reg.children;
    }
    const pid_t self = ::getpid();
    for (const auto& c : children) {
      if (c->creator == self && c->daemon) pool::detail::signal_child(*c, SIGTERM);
    }
    for (const auto& c : children) {
      if (c->creator == self) static_cast<void>(pool::detail::wait_exit(*c, std::nullopt));
    }
    auto& reg = pool::detail::registry();
    std::lock_guard lock(reg.mutex);
    std::erase_if(reg.children, [](const auto& c) { return pool::detail::reap_if_exited(*c); });
  } catch (...) {
    // At exit there is nobody to report to; the children are reaped by init.
  }
}

}  // namespace ringpool::detail
