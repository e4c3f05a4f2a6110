// Process with the fork start method: lifecycle, exit codes, signals, names and pids,
// daemon semantics, joining at exit, exceptions, the multithreaded-fork warning.
#include "ringpool/pool/process.hpp"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "ringpool/pool/this_process.hpp"
#include "ringpool/topology/binding.hpp"
#include "ringpool/topology/errors.hpp"
#include "test_support.hpp"

namespace {
using ::ringpool::test::wait_forever;

using namespace std::chrono_literals;
using ringpool::pool::InvalidArgument;
using ringpool::pool::InvalidState;
using ringpool::pool::Process;
using ringpool::pool::ProcessOptions;
using ringpool::test::Pipe;
using ringpool::test::write_text;

TEST(Process, StartJoinExitCodeZero) {
  Process p([] {});
  EXPECT_FALSE(p.is_alive());
  EXPECT_EQ(p.exitcode(), std::nullopt);
  p.start();
  p.join();
  EXPECT_FALSE(p.is_alive());
  EXPECT_EQ(p.exitcode(), 0);
}

TEST(Process, ArgumentsAreCopiedIntoTheChild) {
  Pipe pipe;
  Process p([fd = pipe.write_fd()](const std::string& site,
                                   int n) { write_text(fd, site + ":" + std::to_string(n)); },
            std::string("baidu"), 3);
  p.start();
  pipe.close_write();
  EXPECT_EQ(pipe.read_all(), "baidu:3");
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
}

struct CodingArgs {
  int count = 1;
  std::string language = "C++";
};

TEST(Process, KwargsStyleStructWithDesignatedInitialisers) {
  Pipe pipe;
  Process p(
      [fd = pipe.write_fd()](const CodingArgs& a) {
        write_text(fd, a.language + " x" + std::to_string(a.count));
      },
      CodingArgs{.count = 3});
  p.start();
  pipe.close_write();
  EXPECT_EQ(pipe.read_all(), "C++ x3");
  p.join();
}

TEST(Process, ExitCodeFromThisProcessExit) {
  Process p([] { ringpool::this_process::exit(7); });
  p.start();
  p.join();
  EXPECT_EQ(p.exitcode(), 7);
}

TEST(Process, KillGivesMinusNine) {
  Process p(wait_forever);
  p.start();
  EXPECT_TRUE(p.is_alive());
  p.kill();
  p.join();
  EXPECT_EQ(p.exitcode(), -SIGKILL);
  EXPECT_FALSE(p.is_alive());
}

TEST(Process, TerminateGivesMinusFifteen) {
  Process p(wait_forever);
  p.start();
  p.terminate();
  p.join();
  EXPECT_EQ(p.exitcode(), -SIGTERM);
}

TEST(Process, SendSignalAndOsKill) {
  Process p(wait_forever);
  p.start();
  p.send_signal(SIGUSR1);
  p.join();
  EXPECT_EQ(p.exitcode(), -SIGUSR1);

  // os.kill(pid, 9) works on the pid as well.
  Process q(wait_forever);
  q.start();
  ASSERT_EQ(::kill(q.pid(), SIGKILL), 0);
  q.join();
  EXPECT_EQ(q.exitcode(), -9);
  // Signalling a reaped child is a no-op, not an error.
  EXPECT_NO_THROW(q.terminate());
}

TEST(Process, JoinWithTimeoutFalseThenTrue) {
  Pipe gate;
  Process p([fd = gate.read_fd()] {
    char c = 0;
    static_cast<void>(::read(fd, &c, 1));
  });
  p.start();
  EXPECT_FALSE(p.join(20ms));
  EXPECT_TRUE(p.is_alive());
  EXPECT_EQ(p.exitcode(), std::nullopt);
  write_text(gate.write_fd(), "x");
  EXPECT_TRUE(p.join(30s));
  EXPECT_FALSE(p.is_alive());
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_TRUE(p.join(0ns));
}

TEST(Process, NameAndPidsSeenInTheChild) {
  Pipe pipe;
  auto report = [fd = pipe.write_fd()] {
    std::ostringstream out;
    out << ringpool::this_process::pid() << ' ' << ringpool::this_process::ppid() << ' '
        << ringpool::this_process::name();
    write_text(fd, out.str());
  };
  Process p(report);
  p.start();
  pipe.close_write();
  const std::string seen = pipe.read_all();
  p.join();
  std::ostringstream expected;
  expected << p.pid() << ' ' << ::getpid() << ' ' << p.name();
  EXPECT_EQ(seen, expected.str());
  EXPECT_EQ(p.name().rfind("Process-", 0), 0U) << p.name();
  EXPECT_EQ(ringpool::this_process::name(), "MainProcess");
}

TEST(Process, GivenNameAndGrandchildNames) {
  Pipe pipe;
  Process p(ProcessOptions{.name = "getter"}, [fd = pipe.write_fd()] {
    Process child([fd] { write_text(fd, ringpool::this_process::name() + "\n"); });
    child.start();
    child.join();
    write_text(fd, ringpool::this_process::name() + "\n");
  });
  EXPECT_EQ(p.name(), "getter");
  p.start();
  pipe.close_write();
  const std::string seen = pipe.read_all();
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
  // Python names a child's children after the child's identity: Process-<n>:1.
  const auto newline = seen.find('\n');
  ASSERT_NE(newline, std::string::npos) << seen;
  const std::string grandchild = seen.substr(0, newline);
  EXPECT_EQ(grandchild.rfind("Process-", 0), 0U) << grandchild;
  EXPECT_EQ(grandchild.substr(grandchild.size() - 2), ":1") << grandchild;
  EXPECT_EQ(seen.substr(newline + 1), "getter\n");
}

TEST(Process, DefaultNamesCountUp) {
  Process a([] {});
  Process b([] {});
  const auto number = [](const std::string& name) { return std::stoi(name.substr(8)); };
  EXPECT_EQ(number(b.name()), number(a.name()) + 1);
}

TEST(Process, ExceptionInChildExitsOneAndReportsIt) {
  ringpool::test::StderrCapture capture;
  Process p(ProcessOptions{.name = "thrower"},
            [] { throw std::invalid_argument("bad site name"); });
  p.start();
  p.join();
  const std::string err = capture.text();
  EXPECT_EQ(p.exitcode(), 1);
  EXPECT_NE(err.find("Process thrower:"), std::string::npos) << err;
  EXPECT_NE(err.find("std::invalid_argument: bad site name"), std::string::npos) << err;
}

TEST(Process, DaemonMayNotStartChildren) {
  Pipe pipe;
  Process p(ProcessOptions{.daemon = true}, [fd = pipe.write_fd()] {
    try {
      Process child([] {});
      child.start();
      write_text(fd, "started");
    } catch (const InvalidState& e) {
      write_text(fd, e.what());
    }
  });
  p.start();
  pipe.close_write();
  const std::string seen = pipe.read_all();
  p.join();
  EXPECT_NE(seen.find("daemonic processes are not allowed to have children"), std::string::npos)
      << seen;
}

TEST(Process, SetDaemonBeforeStartOnly) {
  Process p(wait_forever);
  p.set_daemon(true);
  EXPECT_TRUE(p.daemon());
  p.start();
  EXPECT_THROW(p.set_daemon(false), InvalidState);
  p.kill();
  p.join();
}

// A forked intermediate parent starts a daemon, reports its pid and is SIGKILLed; the
// daemon must go too (PR_SET_PDEATHSIG). This test process is a child subreaper for the
// duration, so the orphaned daemon is reparented to it and can be reaped here.
TEST(Process, DaemonDiesWhenParentIsSigkilled) {
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  Pipe pipe;
  Process parent([fd = pipe.write_fd()] {
    Process daemon(ProcessOptions{.daemon = true}, wait_forever);
    daemon.start();
    write_text(fd, std::to_string(daemon.pid()) + "\n");
    wait_forever();
  });
  parent.start();
  pipe.close_write();
  const pid_t daemon_pid = std::stoi(pipe.read_line());
  ASSERT_GT(daemon_pid, 0);
  parent.kill();
  parent.join();
  EXPECT_EQ(parent.exitcode(), -SIGKILL);

  int status = 0;
  const bool gone = ringpool::test::eventually(
      [&] { return ::waitpid(daemon_pid, &status, WNOHANG) == daemon_pid; });
  if (!gone) ::kill(daemon_pid, SIGKILL);
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
  ASSERT_TRUE(gone) << "the daemon outlived its SIGKILLed parent";
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
}

// A child that returns without joining its own non-daemon child still waits for it
// before it ends, as Python's processes do.
TEST(Process, NonDaemonChildrenAreJoinedAtExit) {
  Pipe pipe;
  Process parent([fd = pipe.write_fd()] {
    Process child([fd] {
      std::this_thread::sleep_for(50ms);
      write_text(fd, "grandchild done");
    });
    child.start();
    // No join: ending the process must wait for the child.
  });
  parent.start();
  parent.join();
  EXPECT_EQ(parent.exitcode(), 0);
  pipe.close_write();
  // The grandchild has finished (and closed its end) by the time its parent ended.
  ASSERT_TRUE(::fcntl(pipe.read_fd(), F_SETFL, O_NONBLOCK) == 0);
  EXPECT_EQ(pipe.read_all(), "grandchild done");
}

// The same through std::exit: the atexit handler ringpool registers joins the children.
TEST(Process, NonDaemonChildrenAreJoinedByTheAtExitHandler) {
  Pipe pipe;
  Process parent([fd = pipe.write_fd()] {
    Process child([fd] {
      std::this_thread::sleep_for(50ms);
      write_text(fd, "joined at exit");
    });
    child.start();
    std::exit(0);  // runs atexit handlers, as a main process ending normally does
  });
  parent.start();
  parent.join();
  EXPECT_EQ(parent.exitcode(), 0);
  pipe.close_write();
  ASSERT_TRUE(::fcntl(pipe.read_fd(), F_SETFL, O_NONBLOCK) == 0);
  EXPECT_EQ(pipe.read_all(), "joined at exit");
}

// A daemon child is terminated when its parent ends normally (Python's _exit_function).
TEST(Process, DaemonChildrenAreTerminatedAtNormalExit) {
  Pipe pipe;
  Process parent([fd = pipe.write_fd()] {
    Process daemon(ProcessOptions{.daemon = true}, wait_forever);
    daemon.start();
    write_text(fd, std::to_string(daemon.pid()) + "\n");
  });
  parent.start();
  pipe.close_write();
  const pid_t daemon_pid = std::stoi(pipe.read_line());
  ASSERT_GT(daemon_pid, 0);
  parent.join();
  EXPECT_EQ(parent.exitcode(), 0);
  // The parent reaped it before ending, so the pid no longer names our daemon.
  EXPECT_TRUE(ringpool::test::eventually([&] { return ::kill(daemon_pid, 0) != 0; }));
}

TEST(Process, MultithreadedForkWarnsOnce) {
  Process probe([] {
    std::mutex m;
    std::condition_variable cv;
    bool stop = false;
    std::thread helper([&] {
      std::unique_lock lock(m);
      cv.wait(lock, [&] { return stop; });
    });
    std::string err;
    {
      ringpool::test::StderrCapture capture;
      Process a([] {});
      Process b([] {});
      a.start();
      b.start();
      a.join();
      b.join();
      err = capture.text();
    }
    {
      std::lock_guard lock(m);
      stop = true;
    }
    cv.notify_all();
    helper.join();
    const auto warnings = ringpool::test::count_of(err, "ringpool: warning");
    const bool names_spawn = err.find("StartMethod::spawn") != std::string::npos;
    ringpool::this_process::exit(static_cast<int>(warnings) + (names_spawn ? 10 : 0));
  });
  probe.start();
  probe.join();
  EXPECT_EQ(probe.exitcode(), 11) << "expected exactly one warning that names spawn";
}

TEST(Process, SingleThreadedForkDoesNotWarn) {
  ringpool::test::StderrCapture capture;
  Process p([] {});
  p.start();
  p.join();
  EXPECT_EQ(capture.text().find("ringpool: warning"), std::string::npos);
}

TEST(Process, PinnedToRequestedCpus) {
  const auto allowed = ringpool::topology::process_binding(0);
  ASSERT_FALSE(allowed.empty());
  const unsigned cpu = *allowed.last();
  Pipe pipe;
  Process p(ProcessOptions{.cpus = ringpool::topology::CpuSet{cpu}}, [fd = pipe.write_fd()] {
    cpu_set_t set;
    CPU_ZERO(&set);
    sched_getaffinity(0, sizeof set, &set);
    std::string cpus;
    for (int i = 0; i < CPU_SETSIZE; ++i) {
      if (CPU_ISSET(i, &set)) cpus += std::to_string(i) + ",";
    }
    write_text(fd, cpus);
  });
  p.start();
  pipe.close_write();
  EXPECT_EQ(pipe.read_all(), std::to_string(cpu) + ",");
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
}

TEST(Process, PinningToAMissingCpuThrowsAndLeavesNoChild) {
  Process p(ProcessOptions{.cpus = ringpool::topology::CpuSet{4000}}, [] {});
  EXPECT_THROW(p.start(), ringpool::topology::TopologyError);
  EXPECT_TRUE(ringpool::pool::active_children().empty());
}

TEST(Process, MisuseIsATypedError) {
  Process p(wait_forever);
  EXPECT_THROW(p.join(), InvalidState);
  EXPECT_THROW(static_cast<void>(p.join(1ms)), InvalidState);
  EXPECT_THROW(static_cast<void>(p.pid()), InvalidState);
  EXPECT_THROW(p.terminate(), InvalidState);
  p.start();
  try {
    p.start();
    ADD_FAILURE() << "second start() did not throw";
  } catch (const InvalidState& e) {
    EXPECT_NE(std::string(e.what()).find("only be started once"), std::string::npos);
  }
  EXPECT_THROW(p.send_signal(-1), InvalidArgument);
  EXPECT_THROW(p.send_signal(100000), InvalidArgument);
  p.kill();
  p.join();
}

// True when active_children() lists a child with this pid.
bool active(pid_t pid) {
  const auto running = ringpool::pool::active_children();
  return std::any_of(running.begin(), running.end(),
                     [pid](const ringpool::pool::ChildProcess& c) { return c.pid() == pid; });
}

TEST(Process, ActiveChildrenListsRunningOnes) {
  Process p(wait_forever);
  p.start();
  EXPECT_TRUE(active(p.pid()));
  p.kill();
  p.join();
  EXPECT_FALSE(active(p.pid()));
}

TEST(Process, DestroyedUnjoinedChildKeepsRunningAndIsReaped) {
  pid_t pid = 0;
  Pipe gate;
  {
    Process p([fd = gate.read_fd()] {
      char c = 0;
      static_cast<void>(::read(fd, &c, 1));
    });
    p.start();
    pid = p.pid();
  }
  // Python semantics: dropping the handle neither kills nor joins.
  EXPECT_EQ(::kill(pid, 0), 0);
  write_text(gate.write_fd(), "x");
  // active_children() reaps it once it has ended.
  EXPECT_TRUE(ringpool::test::eventually([&] { return !active(pid); }));
}

}  // namespace
