// ipc::detail::process_gone / process_gone_cached / current_pid: the liveness probe every
// owner check uses (Queue records, Pipe ends, Lock holders). A reaped process is gone at
// once, a zombie is gone (through /proc), a running one never is, and no pid <= 0 is ever
// signalled.
#include "ringpool/ipc/detail/process_probe.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <csignal>

namespace ringpool::ipc::detail {
namespace {

using namespace std::chrono_literals;

// A child that blocks until killed; killed and reaped by the destructor.
class Child {
 public:
  Child() : pid_(::fork()) {
    if (pid_ == 0) {
      for (;;) ::pause();
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      static_cast<void>(::kill(pid_, SIGKILL));
      reap();
    }
  }
  [[nodiscard]] pid_t pid() const { return pid_; }
  // SIGKILL, then wait until it has exited without reaping it (a zombie).
  void kill_leaving_zombie() const {
    ASSERT_EQ(::kill(pid_, SIGKILL), 0);
    siginfo_t info{};
    ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOWAIT), 0);
  }
  void reap() {
    int status = 0;
    ASSERT_EQ(::waitpid(pid_, &status, 0), pid_);
    reaped_ = true;
  }

 private:
  pid_t pid_;
  bool reaped_ = false;
};

TEST(ProcessProbe, PidsThatAreNotProcessesAreNeverGoneAndNeverSignalled) {
  for (const std::int64_t pid :
       {std::int64_t{0}, std::int64_t{-1}, std::int64_t{INT_MIN}, std::int64_t{INT_MAX} + 1}) {
    EXPECT_FALSE(process_gone(pid)) << pid;
    EXPECT_FALSE(process_gone_cached(pid, 100ms)) << pid;
  }
  EXPECT_FALSE(process_gone(::getpid()));
  EXPECT_FALSE(process_gone_cached(::getpid(), 100ms));
}

TEST(ProcessProbe, AZombieIsGoneOnTheFirstLook) {
  Child child;
  ASSERT_GT(child.pid(), 0);
  child.kill_leaving_zombie();
  EXPECT_FALSE(::kill(child.pid(), 0) == -1) << "a zombie still answers kill(pid, 0)";
  EXPECT_TRUE(process_gone(child.pid()));
  EXPECT_TRUE(process_gone_cached(child.pid(), 1h));
  child.reap();
  EXPECT_TRUE(process_gone(child.pid()));
  EXPECT_TRUE(process_gone_cached(child.pid(), 1h));
}

// The memo: once /proc showed a pid running, it is not read again for that pid within the
// recheck time (a zombie waits that long to be seen), but a reaped process is gone at once,
// and a recheck of 0 reads /proc every time.
TEST(ProcessProbe, CachedProbeReadsProcOncePerRecheckAndSeesReapedProcessesAtOnce) {
  Child child;
  ASSERT_GT(child.pid(), 0);
  EXPECT_FALSE(process_gone_cached(child.pid(), 1h));  // running: remembered
  child.kill_leaving_zombie();
  EXPECT_FALSE(process_gone_cached(child.pid(), 1h)) << "/proc was read again within the hour";
  EXPECT_TRUE(process_gone_cached(child.pid(), 0ms));
  EXPECT_TRUE(process_gone(child.pid()));
  child.reap();
  EXPECT_TRUE(process_gone_cached(child.pid(), 1h));
}

TEST(ProcessProbe, CurrentPidIsRefreshedInAForkedChild) {
  EXPECT_EQ(current_pid(), ::getpid());
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) ::_exit(current_pid() == ::getpid() ? 0 : 1);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(current_pid(), ::getpid());
}

}  // namespace
}  // namespace ringpool::ipc::detail
