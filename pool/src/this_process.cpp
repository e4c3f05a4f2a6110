// ringpool::this_process and the process-local identity of ringpool children.
#include "ringpool/pool/this_process.hpp"

#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <string>
#include <utility>

#include "ringpool/pool/detail/process_state.hpp"
#include "ringpool/pool/errors.hpp"

namespace ringpool::detail {

namespace {
std::mutex& identity_mutex() {
  static std::mutex mutex;
  return mutex;
}
}  // namespace

CurrentProcess& current_process() {
  // Never destroyed: read by atexit handlers and children ending with _exit.
  static auto* current = new CurrentProcess;
  return *current;
}

int open_pidfd(pid_t pid, int& error) noexcept {
  if (pid <= 0) {
    error = ESRCH;
    return -1;
  }
#ifdef SYS_pidfd_open
  const long fd = ::syscall(SYS_pidfd_open, pid, 0);
  if (fd >= 0) return static_cast<int>(fd);
  error = errno;
#else
  error = ENOSYS;
#endif
  return -1;
}

void become_child(std::string name, std::string identity, bool daemon, bool forked,
                  pid_t parent_pid, std::string parent_name) {
  auto& self = current_process();
  self.name = std::move(name);
  self.identity = std::move(identity);
  self.daemon = daemon;
  self.forked_child = forked;
  self.next_child = 1;
  self.parent_pid = parent_pid;
  self.parent_name = std::move(parent_name);
  // A forked child holds its parent's pidfd of the grandparent: not ours to keep.
  if (self.parent_pidfd >= 0) ::close(self.parent_pidfd);
  self.parent_pidfd = -1;
  self.parent_gone_at_start = false;
  int error = 0;
  self.parent_pidfd = open_pidfd(parent_pid, error);
  // The pid names our parent only while we are its child: the kernel reparents us when it
  // exits, before it can be reaped and its pid reused. So a pidfd opened before this check
  // passes names the parent; after a failed check it may name a stranger.
  if (::getppid() != parent_pid) {
    if (self.parent_pidfd >= 0) ::close(self.parent_pidfd);
    self.parent_pidfd = -1;
    self.parent_gone_at_start = true;
  }
}

ChildIdentity next_child_identity() {
  std::lock_guard lock(identity_mutex());
  auto& self = current_process();
  const unsigned n = self.next_child++;
  std::string identity =
      self.identity.empty() ? std::to_string(n) : self.identity + ":" + std::to_string(n);
  return {identity, "Process-" + identity};
}

void report_child_exception(const std::exception_ptr& error) noexcept {
  try {
    const auto d = pool::detail::describe_exception(error);
    const std::string text =
        "Process " + current_process().name + ":\n" + d.type_name + ": " + d.what + "\n";
    std::fflush(stdout);
    std::fputs(text.c_str(), stderr);
    std::fflush(stderr);
  } catch (...) {
    std::fputs("ringpool: a child's target raised an exception (describing it failed)\n", stderr);
  }
}

void finish_child(int code) noexcept {
  join_children_at_exit();
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  if (current_process().forked_child) _exit(code);
  std::exit(code);
}

}  // namespace ringpool::detail

namespace ringpool::this_process {

pid_t pid() noexcept {
  return ::getpid();
}
pid_t ppid() noexcept {
  return ::getppid();
}
std::string name() {
  return detail::current_process().name;
}
bool is_daemon() noexcept {
  return detail::current_process().daemon;
}

std::optional<ParentProcess> parent() {
  const auto& self = detail::current_process();
  if (self.parent_pid <= 0) return std::nullopt;
  return ParentProcess(self.parent_pid, self.parent_name);
}

bool ParentProcess::is_alive() const {
  const auto& self = detail::current_process();
  if (self.parent_pid != pid_) {
    throw pool::InvalidState("ringpool: ParentProcess::is_alive(): this object describes process " +
                             std::to_string(pid_) + ", the parent of another ringpool process; " +
                             "call this_process::parent() in this process (pid " +
                             std::to_string(::getpid()) + ")");
  }
  // The pidfd and the flag are written once, at start-up, before user code runs.
  if (self.parent_gone_at_start) return false;
  if (self.parent_pidfd >= 0) {
    pollfd p{self.parent_pidfd, POLLIN, 0};
    int ready = 0;
    do {
      ready = ::poll(&p, 1, 0);
    } while (ready < 0 && errno == EINTR);
    // POLLNVAL: the program closed our fd (as a daemonising child closing every fd does).
    if (ready >= 0 && (p.revents & POLLNVAL) == 0) return ready == 0;
  }
  // No usable pidfd (kernel before 5.3, or closed): we are reparented exactly when the parent
  // ends.
  return ::getppid() == pid_;
}

void exit(int code) {
  if (detail::current_process().identity.empty()) std::exit(code);
  detail::finish_child(code);
}

}  // namespace ringpool::this_process
