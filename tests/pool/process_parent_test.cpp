// Process (fork start method): Python's parent_process(), Process.sentinel,
// Process.close() and active_children(). The spawn start method's side is in
// spawn_test.cpp (it needs a main() that begins with serve_if_worker).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ringpool/pool/pool.hpp"
#include "ringpool/pool/process.hpp"
#include "ringpool/pool/this_process.hpp"
#include "test_support.hpp"

namespace {
using ::ringpool::test::wait_forever;

using namespace std::chrono_literals;
using ringpool::pool::active_children;
using ringpool::pool::ChildProcess;
using ringpool::pool::InvalidState;
using ringpool::pool::Pool;
using ringpool::pool::PoolOptions;
using ringpool::pool::Process;
using ringpool::pool::ProcessOptions;
using ringpool::pool::StartMethod;
using ringpool::pool::Unsupported;
using ringpool::test::Pipe;
using ringpool::test::write_text;

// Blocks until a byte arrives on `fd` or every writer closed it.
void wait_for_byte(int fd) {
  char c = 0;
  while (::read(fd, &c, 1) < 0 && errno == EINTR) {
  }
}

// Readiness of `fd` for reading after waiting at most `timeout_ms`: 1 ready, 0 not.
int poll_readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  int n = 0;
  do {
    n = ::poll(&p, 1, timeout_ms);
  } while (n < 0 && errno == EINTR);
  return n > 0 && (p.revents & POLLIN) != 0 ? 1 : n;
}

bool fd_is_open(int fd) {
  return ::fcntl(fd, F_GETFD) != -1;
}

bool lists(const std::vector<ChildProcess>& children, pid_t pid) {
  return std::any_of(children.begin(), children.end(),
                     [pid](const ChildProcess& c) { return c.pid() == pid; });
}

// "pid name alive" of this_process::parent(), or "none".
std::string describe_parent() {
  const auto parent = ringpool::this_process::parent();
  if (!parent) return "none";
  return std::to_string(parent->pid()) + " " + parent->name() + " " +
         (parent->is_alive() ? "alive" : "gone");
}

// A Pool task: "<name> daemon=<0|1> <pid name alive of parent()>".
std::string describe_worker(int) {
  return ringpool::this_process::name() +
         " daemon=" + std::to_string(ringpool::this_process::is_daemon()) + " " + describe_parent();
}

PoolOptions pool_of(std::size_t workers, StartMethod start) {
  PoolOptions o;
  o.workers = workers;
  o.start_method = start;
  return o;
}

TEST(ProcessParent, NoneInTheMainProcess) {
  EXPECT_FALSE(ringpool::this_process::parent().has_value());
}

TEST(ProcessParent, ForkChildSeesItsParentAlive) {
  Pipe pipe;
  Process p([fd = pipe.write_fd()] { write_text(fd, describe_parent()); });
  p.start();
  pipe.close_write();
  EXPECT_EQ(pipe.read_all(), std::to_string(::getpid()) + " MainProcess alive");
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
}

// test -> "middle" -> grandchild. The grandchild reports its parent, the test kills
// "middle", then the grandchild reports again: same pid and name, no longer alive.
TEST(ProcessParent, GrandchildSeesItsParentDie) {
  Pipe report;
  Pipe gate;
  Process middle(ProcessOptions{.name = "middle"},
                 [out = report.write_fd(), in = gate.read_fd(), keep = gate.write_fd()] {
                   Process grandchild([out, in, keep] {
                     ::close(keep);  // else the gate never reads EOF should the test die
                     write_text(out, describe_parent() + "\n");
                     pollfd p{in, POLLIN, 0};
                     static_cast<void>(::poll(&p, 1, 30'000));  // bounded: the test may have failed
                     write_text(out, describe_parent() + "\n");
                   });
                   grandchild.start();
                   wait_forever();
                 });
  middle.start();
  const std::string first = report.read_line();
  EXPECT_EQ(first, std::to_string(middle.pid()) + " middle alive");
  middle.kill();  // Process::kill signals its own unreaped child only
  middle.join();
  write_text(gate.write_fd(), "x");
  EXPECT_EQ(report.read_line(), std::to_string(middle.pid()) + " middle gone");
}

// Python's parent_process() in a Pool worker is the pool's process; the workers are
// daemonic ForkPoolWorker-<n>.
TEST(ProcessParent, ForkPoolWorkersSeeThePoolsProcess) {
  Pool pool(pool_of(2, StartMethod::fork));
  const std::string parent = std::to_string(::getpid()) + " MainProcess alive";
  const auto seen = pool.map(describe_worker, std::vector<int>(16, 0), 1);
  ASSERT_EQ(seen.size(), 16U);
  for (const std::string& s : seen) {
    EXPECT_TRUE(s == "ForkPoolWorker-1 daemon=1 " + parent ||
                s == "ForkPoolWorker-2 daemon=1 " + parent)
        << s;
  }
  // A respawned worker is told the same.
  const pid_t first = pool.worker_pids().at(0);
  ASSERT_GT(first, 0);
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  EXPECT_TRUE(ringpool::test::eventually([&] {
    const auto now = pool.worker_pid(0);
    return now && *now != first;
  }));
  for (const std::string& s : pool.map(describe_worker, std::vector<int>(16, 0), 1)) {
    EXPECT_TRUE(s == "ForkPoolWorker-1 daemon=1 " + parent ||
                s == "ForkPoolWorker-2 daemon=1 " + parent)
        << s;
  }
}

// The pool's process is the workers' parent also when it is itself a child.
TEST(ProcessParent, ForkPoolWorkersOfAChildSeeThatChild) {
  Pipe pipe;
  Process owner(ProcessOptions{.name = "owner"}, [fd = pipe.write_fd()] {
    Pool pool(pool_of(1, StartMethod::fork));
    write_text(fd, pool.apply(describe_worker, 0));
  });
  owner.start();
  pipe.close_write();
  EXPECT_EQ(pipe.read_all(),
            "ForkPoolWorker-1 daemon=1 " + std::to_string(owner.pid()) + " owner alive");
  owner.join();
  EXPECT_EQ(owner.exitcode(), 0);
}

// A thread worker runs in the pool's own process: parent() is that process's parent
// (none in the main process), as in Python's ThreadPool.
TEST(ProcessParent, ThreadPoolWorkersSeeTheirOwnProcesssParent) {
  Pool pool(pool_of(2, StartMethod::thread));
  EXPECT_EQ(pool.apply(describe_worker, 0), "MainProcess daemon=0 none");
}

TEST(ProcessParent, IsAliveOfAnotherProcessParentIsRefused) {
  Pipe pipe;
  const auto mine = ringpool::this_process::parent();
  ASSERT_FALSE(mine.has_value());
  // A child gets its own value; carried into a grandchild, it names the wrong parent.
  Process p([fd = pipe.write_fd()] {
    const auto parent = ringpool::this_process::parent();
    Process grandchild([fd, parent] {
      try {
        static_cast<void>(parent->is_alive());
        write_text(fd, "answered");
      } catch (const InvalidState&) {
        write_text(fd, "refused");
      }
    });
    grandchild.start();
    grandchild.join();
  });
  p.start();
  pipe.close_write();
  EXPECT_EQ(pipe.read_all(), "refused");
  p.join();
}

TEST(ProcessSentinel, ReadableOnlyOnceTheChildEnds) {
  Pipe gate;
  Process p([fd = gate.read_fd()] { wait_for_byte(fd); });
  EXPECT_THROW(static_cast<void>(p.sentinel()), InvalidState);
  p.start();
  const int sentinel = p.sentinel();
  EXPECT_GE(sentinel, 0);
  EXPECT_EQ(p.sentinel(), sentinel);
  EXPECT_EQ(poll_readable(sentinel, 0), 0);
  EXPECT_EQ(::fcntl(sentinel, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  write_text(gate.write_fd(), "x");
  EXPECT_EQ(poll_readable(sentinel, 30'000), 1);
  EXPECT_TRUE(p.join(0ns));
  EXPECT_EQ(p.exitcode(), 0);
  // Still readable after the child was reaped.
  EXPECT_EQ(poll_readable(sentinel, 0), 1);
}

TEST(ProcessSentinel, ReadableAfterAKill) {
  Process p(wait_forever);
  p.start();
  const int sentinel = p.sentinel();
  EXPECT_EQ(poll_readable(sentinel, 0), 0);
  p.kill();
  EXPECT_EQ(poll_readable(sentinel, 30'000), 1);
  p.join();
  EXPECT_EQ(p.exitcode(), -9);
}

TEST(ProcessSentinel, ClosedByCloseAndByTheDestructorOfAnEndedChild) {
  int first = -1;
  {
    Process p([] {});
    p.start();
    p.join();
    first = p.sentinel();
    EXPECT_TRUE(fd_is_open(first));
    p.close();
    EXPECT_FALSE(fd_is_open(first));
  }
  int second = -1;
  {
    Process p([] {});
    p.start();
    p.join();
    second = p.sentinel();
    EXPECT_TRUE(fd_is_open(second));
  }
  EXPECT_FALSE(fd_is_open(second));
}

TEST(ProcessSentinel, RunningChildsFdIsClosedOnceTheRegistryReapsIt) {
  Pipe gate;
  pid_t pid = 0;
  int sentinel = -1;
  {
    Process p([fd = gate.read_fd()] { wait_for_byte(fd); });
    p.start();
    pid = p.pid();
    sentinel = p.sentinel();
  }
  EXPECT_TRUE(fd_is_open(sentinel));  // the child runs: the registry keeps it
  EXPECT_TRUE(lists(active_children(), pid));
  write_text(gate.write_fd(), "x");
  EXPECT_TRUE(ringpool::test::eventually([&] { return !lists(active_children(), pid); }));
  EXPECT_FALSE(fd_is_open(sentinel));
}

// Installs a seccomp filter that makes pidfd_open fail with ENOSYS, as on Linux < 5.3.
// Returns false where this test does not know the architecture's audit number.
bool refuse_pidfd_open() {
#if defined(__x86_64__)
  constexpr std::uint32_t kArch = 0xC000003E;  // AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
  constexpr std::uint32_t kArch = 0xC00000B7;  // AUDIT_ARCH_AARCH64
#else
  return false;
#endif
#if defined(__x86_64__) || defined(__aarch64__)
  auto stmt = [](std::uint16_t code, std::uint32_t k) { return sock_filter{code, 0, 0, k}; };
  auto jump = [](std::uint16_t code, std::uint32_t k, std::uint8_t jt, std::uint8_t jf) {
    return sock_filter{code, jt, jf, k};
  };
  sock_filter filter[] = {
      stmt(BPF_LD | BPF_W | BPF_ABS, static_cast<std::uint32_t>(offsetof(seccomp_data, arch))),
      jump(BPF_JMP | BPF_JEQ | BPF_K, kArch, 1, 0),
      stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      stmt(BPF_LD | BPF_W | BPF_ABS, static_cast<std::uint32_t>(offsetof(seccomp_data, nr))),
      jump(BPF_JMP | BPF_JEQ | BPF_K, SYS_pidfd_open, 0, 1),
      stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
      stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog program{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
  return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0;
#endif
}

// Without pidfd_open: sentinel() is a typed error naming the errno; Process still works,
// and parent().is_alive() falls back to getppid().
TEST(ProcessSentinel, KernelWithoutPidfdOpenGivesUnsupported) {
  Pipe pipe;
  // A helper process of our own (not a ringpool Process) takes the filter, so this one keeps
  // pidfd_open.
  const pid_t helper = ::fork();
  ASSERT_GE(helper, 0);
  if (helper == 0) {
    std::string out;
    if (!refuse_pidfd_open()) {
      out = "skip";
    } else {
      Pipe report;
      Process p([fd = report.write_fd()] { write_text(fd, describe_parent()); });
      p.start();
      report.close_write();
      const std::string seen = report.read_all();
      try {
        static_cast<void>(p.sentinel());
        out = "no error";
      } catch (const Unsupported& e) {
        out =
            std::string(e.what()).find("errno 38") != std::string::npos ? "unsupported" : e.what();
      }
      p.join();
      out += " | " + seen + " | " + std::to_string(p.exitcode().value_or(-100));
      out += " | " + std::to_string(::getpid());
    }
    write_text(pipe.write_fd(), out);
    ::_exit(0);
  }
  pipe.close_write();
  const std::string seen = pipe.read_all();
  int status = 0;
  ASSERT_EQ(::waitpid(helper, &status, 0), helper);  // helper > 0: checked above
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  if (seen == "skip") GTEST_SKIP() << "no seccomp architecture number for this CPU";
  EXPECT_EQ(seen, "unsupported | " + std::to_string(helper) + " MainProcess alive | 0 | " +
                      std::to_string(helper));
}

TEST(ProcessClose, RefusedWhileRunningThenAllowed) {
  Process p(wait_forever);
  p.start();
  try {
    p.close();
    ADD_FAILURE() << "close() of a running process did not throw";
  } catch (const InvalidState& e) {
    EXPECT_NE(std::string(e.what()).find("still running"), std::string::npos) << e.what();
  }
  // The refusal changed nothing.
  EXPECT_TRUE(p.is_alive());
  const int sentinel = p.sentinel();
  EXPECT_TRUE(fd_is_open(sentinel));
  p.kill();
  p.join();
  p.close();
  EXPECT_FALSE(fd_is_open(sentinel));
}

TEST(ProcessClose, LaterCallsAreTypedErrors) {
  Process p(ProcessOptions{.name = "closing"}, [] {});
  p.start();
  p.join();
  p.close();
  EXPECT_NO_THROW(p.close());  // idempotent, as Python
  EXPECT_EQ(p.name(), "closing");
  EXPECT_FALSE(p.daemon());
  try {
    static_cast<void>(p.exitcode());
    ADD_FAILURE() << "exitcode() after close() did not throw";
  } catch (const InvalidState& e) {
    EXPECT_NE(std::string(e.what()).find("closed"), std::string::npos) << e.what();
  }
  EXPECT_THROW(static_cast<void>(p.is_alive()), InvalidState);
  EXPECT_THROW(p.join(), InvalidState);
  EXPECT_THROW(static_cast<void>(p.join(1ms)), InvalidState);
  EXPECT_THROW(static_cast<void>(p.pid()), InvalidState);
  EXPECT_THROW(static_cast<void>(p.sentinel()), InvalidState);
  EXPECT_THROW(p.terminate(), InvalidState);
  EXPECT_THROW(p.kill(), InvalidState);
  EXPECT_THROW(p.send_signal(0), InvalidState);
  EXPECT_THROW(p.set_daemon(true), InvalidState);
  EXPECT_THROW(p.start(), InvalidState);
}

TEST(ProcessClose, BeforeStartForbidsStart) {
  Process p([] {});
  p.close();
  EXPECT_THROW(p.start(), InvalidState);
  EXPECT_TRUE(active_children().empty());
}

TEST(ProcessClose, MoveAssignmentReleasesTheOldChild) {
  Process p([] {});
  p.start();
  p.join();
  const int old_sentinel = p.sentinel();
  p = Process([] {});
  EXPECT_FALSE(fd_is_open(old_sentinel));
  EXPECT_THROW(static_cast<void>(p.pid()), InvalidState);  // the new one is not started
}

TEST(ActiveChildren, ListsRunningChildrenAndReapsEndedOnes) {
  Pipe gate;
  Process stays(wait_forever);
  Process ends([fd = gate.read_fd()] {
    wait_for_byte(fd);
    ringpool::this_process::exit(7);
  });
  stays.start();
  ends.start();
  const auto both = active_children();
  EXPECT_EQ(both.size(), 2U);
  EXPECT_TRUE(lists(both, stays.pid()));
  EXPECT_TRUE(lists(both, ends.pid()));

  write_text(gate.write_fd(), "x");
  // Not joined: active_children() itself reaps it, as Python's does.
  EXPECT_TRUE(ringpool::test::eventually([&] { return !lists(active_children(), ends.pid()); }));
  int status = 0;
  EXPECT_EQ(::waitpid(ends.pid(), &status, WNOHANG), -1);  // pid > 0: a started child's
  EXPECT_EQ(errno, ECHILD);
  EXPECT_EQ(ends.exitcode(), 7);  // the status was kept for the Process
  EXPECT_TRUE(lists(active_children(), stays.pid()));

  stays.kill();
  stays.join();
  stays.close();
  EXPECT_TRUE(active_children().empty());
}

TEST(ActiveChildren, AChildDoesNotListItsSiblings) {
  Process sibling(wait_forever);
  sibling.start();
  Pipe pipe;
  Pipe gate;
  Process p([fd = pipe.write_fd(), gate_in = gate.read_fd(), gate_out = gate.write_fd()] {
    Process own([gate_in] { wait_for_byte(gate_in); });  // runs until told to end
    own.start();
    std::string text = std::to_string(active_children().size());
    write_text(gate_out, "x");
    own.join();
    text += " " + std::to_string(active_children().size());
    write_text(fd, text);
  });
  p.start();
  pipe.close_write();
  EXPECT_EQ(pipe.read_all(), "1 0");
  p.join();
  sibling.kill();
  sibling.join();
}

// The handles active_children() returns act on the child as its Process would, also after
// the Process object is gone: name, daemon, is_alive, sentinel, kill, join, exitcode.
TEST(ActiveChildren, HandlesActOnTheChildAfterItsProcessObjectIsGone) {
  pid_t pid = 0;
  {
    Process p(ProcessOptions{.name = "sleeper", .daemon = true}, wait_forever);
    p.start();
    pid = p.pid();
  }
  auto children = active_children();
  ASSERT_EQ(children.size(), 1U);
  ChildProcess child = children[0];
  EXPECT_EQ(child.pid(), pid);
  EXPECT_GT(child.pid(), 0);
  EXPECT_EQ(child.name(), "sleeper");
  EXPECT_TRUE(child.daemon());
  EXPECT_TRUE(child.is_alive());
  EXPECT_EQ(child.exitcode(), std::nullopt);
  EXPECT_FALSE(child.join(1ms));
  const int sentinel = child.sentinel();
  EXPECT_EQ(poll_readable(sentinel, 0), 0);
  EXPECT_THROW(child.send_signal(-1), ringpool::pool::InvalidArgument);
  child.kill();
  EXPECT_EQ(poll_readable(sentinel, 30'000), 1);
  child.join();
  EXPECT_FALSE(child.is_alive());
  EXPECT_EQ(child.exitcode(), -9);
  EXPECT_EQ(children[0].exitcode(), -9);  // copies share the record
  child.kill();                           // reaped: a no-op, never a stray signal
  EXPECT_TRUE(active_children().empty());
}

TEST(ActiveChildren, AHandleCarriedIntoAnotherProcessRefusesToAct) {
  Process sleeper(wait_forever);
  sleeper.start();
  auto children = active_children();
  ASSERT_EQ(children.size(), 1U);
  Pipe pipe;
  Process p([fd = pipe.write_fd(), child = children[0]]() mutable {
    try {
      child.kill();
      write_text(fd, "signalled");
    } catch (const InvalidState&) {
      write_text(fd, "refused " + std::to_string(child.pid() > 0));
    }
  });
  p.start();
  pipe.close_write();
  EXPECT_EQ(pipe.read_all(), "refused 1");
  p.join();
  EXPECT_TRUE(sleeper.is_alive());
  sleeper.kill();
  sleeper.join();
}

}  // namespace
