// process_gone / read_proc_stat (see process_probe.hpp).
#include "ringpool/ipc/detail/process_probe.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>
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

namespace {
// process_gone_cached's memo: per slot (pid % size), the pid whose /proc/<pid>/stat last
// showed it running (high 32 bits) and when, in steady-clock milliseconds modulo 2^32 (low
// 32 bits). 0: empty. A collision only costs an extra /proc read.
constexpr std::size_t kMemoSlots = 64;
std::array<std::atomic<std::uint64_t>, kMemoSlots> g_running_memo{};

std::uint32_t now_ms32() noexcept {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now().time_since_epoch());
  return static_cast<std::uint32_t>(ms.count());
}

std::atomic<pid_t> g_pid{0};
void forget_pid() noexcept {
  // relaxed: runs in the child before fork() returns there, before any of its threads.
  g_pid.store(0, std::memory_order_relaxed);
}
}  // namespace

bool process_gone_cached(std::int64_t pid, std::chrono::milliseconds recheck) noexcept {
  if (!valid_pid(pid)) return false;  // never passed to kill()
  const auto p = static_cast<pid_t>(pid);
  if (::kill(p, 0) == -1 && errno == ESRCH) return true;
  std::atomic<std::uint64_t>& memo = g_running_memo[static_cast<std::size_t>(pid) % kMemoSlots];
  const std::uint32_t now = now_ms32();
  // relaxed: the memo is a hint about another process; any value it holds was true once.
  const std::uint64_t seen = memo.load(std::memory_order_relaxed);
  if ((seen >> 32) == static_cast<std::uint64_t>(pid) &&
      static_cast<std::uint32_t>(now - static_cast<std::uint32_t>(seen)) <
          static_cast<std::uint64_t>(recheck.count())) {
    return false;  // /proc showed it running less than `recheck` ago, and kill still finds it
  }
  ProcStat stat;
  if (!read_proc_stat(pid, stat)) return ::kill(p, 0) == -1 && errno == ESRCH;
  if (stat.state == 'Z' || stat.state == 'X') return true;
  // relaxed: as the load above.
  memo.store((static_cast<std::uint64_t>(pid) << 32) | now, std::memory_order_relaxed);
  return false;
}

pid_t current_pid() noexcept {
  // relaxed: a process-local cache; forget_pid() clears it in a forked child.
  pid_t pid = g_pid.load(std::memory_order_relaxed);
  if (pid != 0) return pid;
  // Registered once, before the first value is cached, so no fork can copy a stale one.
  static const bool registered = ::pthread_atfork(nullptr, nullptr, forget_pid) == 0;
  pid = ::getpid();
  if (registered) g_pid.store(pid, std::memory_order_relaxed);  // relaxed: as above
  return pid;
}

}  // namespace ringpool::ipc::detail
