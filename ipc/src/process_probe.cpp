// process_gone / read_proc_stat (see process_probe.hpp).
#include "ringpool/ipc/detail/process_probe.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ringpool::ipc::detail {

namespace {
// What may be passed to kill(): a pid_t above 0. (Above the kernel's pid_max no process
// exists, and kill() says so with ESRCH.)
bool valid_pid(std::int64_t pid) noexcept {
  return pid > 0 && pid <= INT_MAX;
}
}  // namespace

bool read_proc_stat(std::int64_t pid, ProcStat& out) noexcept {
  if (!valid_pid(pid)) return false;
  char path[40];
  std::snprintf(path, sizeof path, "/proc/%lld/stat", static_cast<long long>(pid));
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[1024];
  ssize_t n = 0;
  do {
    n = ::read(fd, buf, sizeof buf - 1);
  } while (n < 0 && errno == EINTR);
  ::close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  // "pid (comm) state ppid ...": comm may hold spaces and ')', so parse after the last ')'.
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr || p[1] != ' ' || p[2] == '\0') return false;
  p += 2;
  out.state = *p;
  for (int field = 3; field < 22; ++field) {  // the state is field 3, the start time 22
    p = std::strchr(p, ' ');
    if (p == nullptr) return false;
    ++p;
  }
  char* end = nullptr;
  const unsigned long long start = std::strtoull(p, &end, 10);
  if (end == p) return false;
  out.start_time = static_cast<std::uint64_t>(start);
  return true;
}

bool process_gone(std::int64_t pid) noexcept {
  if (!valid_pid(pid)) return false;  // never passed to kill()
  const auto p = static_cast<pid_t>(pid);
  if (::kill(p, 0) == -1 && errno == ESRCH) return true;
  ProcStat stat;
  // Unreadable: reaped just now (kill says so now), or no /proc mounted (then a live
  // process must not look gone).
  if (!read_proc_stat(pid, stat)) return ::kill(p, 0) == -1 && errno == ESRCH;
  return stat.state == 'Z' || stat.state == 'X';
}

}  // namespace ringpool::ipc::detail
