#include "ringpool/bench/child.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <string>

#include "ringpool/bench/pin.hpp"

namespace ringpool::bench {

namespace detail {

void* map_shared(std::size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    throw BenchError(BenchErrc::system_error,
                     "mmap of " + std::to_string(bytes) + " shared anonymous bytes failed", errno);
  return p;
}

void unmap_shared(void* p, std::size_t bytes) noexcept {
  munmap(p, bytes);
}

}  // namespace detail

// Written by the child only before it exits; read by the parent only after waitpid()
// returned, which orders the two (no atomics needed).
struct ChildProcess::Report {
  char message[512];
};

namespace {

void write_message(ChildProcess::Report* report, const char* text) noexcept {
  std::strncpy(report->message, text, sizeof(report->message) - 1);
  report->message[sizeof(report->message) - 1] = '\0';
}

// Waits up to `timeout` for `pid` to become reapable. True when it is.
bool wait_exit(pid_t pid, std::chrono::milliseconds timeout) {
  const long fd = syscall(SYS_pidfd_open, pid, 0);
  if (fd >= 0) {
    pollfd pfd{static_cast<int>(fd), POLLIN, 0};
    int rc = 0;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    do {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      rc = poll(&pfd, 1, static_cast<int>(std::max<long long>(0, left.count())));
    } while (rc < 0 && errno == EINTR);
    close(static_cast<int>(fd));
    return rc > 0;
  }
  // No pidfd (old kernel): poll waitid without reaping, 1 ms apart.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    siginfo_t info{};
    if (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
        info.si_pid == pid)
      return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    timespec ts{0, 1'000'000};
    nanosleep(&ts, nullptr);
  }
}

}  // namespace

ChildProcess ChildProcess::spawn(int cpu, std::function<void()> fn) {
  auto* report = new (detail::map_shared(sizeof(Report))) Report{};
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    const int err = errno;
    detail::unmap_shared(report, sizeof(Report));
    throw BenchError(BenchErrc::fork_failed, "fork of a benchmark child failed", err);
  }
  if (pid == 0) {
    // The child: die with the parent, pin, run, and leave without running the parent's
    // atexit handlers or static destructors (they belong to the parent).
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(3);
    int code = 0;
    try {
      if (cpu >= 0) pin_to_cpu(cpu);
      fn();
    } catch (const std::exception& e) {
      write_message(report, e.what());
      code = 1;
    } catch (...) {
      write_message(report, "the child threw a non-standard exception");
      code = 1;
    }
    _exit(code);
  }
  return ChildProcess(pid, report);
}

void ChildProcess::join(std::chrono::milliseconds timeout) {
  if (pid_ <= 0)
    throw BenchError(BenchErrc::invalid_argument, "ChildProcess::join: child already joined");
  const pid_t pid = std::exchange(pid_, -1);
  if (!wait_exit(pid, timeout)) {
    ::kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    detail::unmap_shared(std::exchange(report_, nullptr), sizeof(Report));
    throw BenchError(BenchErrc::child_timeout,
                     "benchmark child " + std::to_string(pid) + " did not finish within " +
                         std::to_string(timeout.count()) + " ms and was killed");
  }
  int status = 0;
  pid_t rc = 0;
  do {
    rc = waitpid(pid, &status, 0);
  } while (rc < 0 && errno == EINTR);
  std::string message = report_->message;
  detail::unmap_shared(std::exchange(report_, nullptr), sizeof(Report));
  if (rc < 0) throw BenchError(BenchErrc::system_error, "waitpid on a benchmark child", errno);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  if (WIFSIGNALED(status))
    throw BenchError(BenchErrc::child_failed, "benchmark child was killed by signal " +
                                                  std::to_string(WTERMSIG(status)) + " (" +
                                                  strsignal(WTERMSIG(status)) + ")");
  if (message.empty())
    message = "benchmark child exited with code " + std::to_string(WEXITSTATUS(status));
  throw BenchError(BenchErrc::child_failed, message);
}

void ChildProcess::kill_and_reap() noexcept {
  if (pid_ > 0) {  // never kill(0 or -1, ...): those signal a group or everything
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  if (report_ != nullptr) detail::unmap_shared(std::exchange(report_, nullptr), sizeof(Report));
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), report_(std::exchange(other.report_, nullptr)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    kill_and_reap();
    pid_ = std::exchange(other.pid_, -1);
    report_ = std::exchange(other.report_, nullptr);
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  kill_and_reap();
}

}  // namespace ringpool::bench
