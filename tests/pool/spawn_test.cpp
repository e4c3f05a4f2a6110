// The spawn start method: registered tasks run in a re-executed copy of this test
// binary (whose main() begins with serve_if_worker), worker entries with inherited
// fds, and the guard that stops a main() without serve_if_worker from recursing.
#include "ringpool/pool/spawn.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "ringpool/pool/process.hpp"
#include "ringpool/pool/this_process.hpp"
#include "ringpool/topology/binding.hpp"
#include "test_support.hpp"

namespace {

using ringpool::pool::GuardViolation;
using ringpool::pool::InvalidArgument;
using ringpool::pool::Process;
using ringpool::pool::ProcessOptions;
using ringpool::pool::StartMethod;
using ringpool::test::Pipe;
using ringpool::test::write_text;

constexpr const char* kForgetGuardEnv = "RINGPOOL_TEST_FORGET_GUARD";

// Writes its arguments and who it is to `fd` (inherited across exec).
void report_args(int fd, std::string site, std::vector<int> numbers) {
  std::string text = site + ":";
  for (const int n : numbers) text += std::to_string(n) + ",";
  text += " name=" + ringpool::this_process::name();
  text += " ppid=" + std::to_string(ringpool::this_process::ppid());
  text += " daemon=" + std::to_string(ringpool::this_process::is_daemon());
  write_text(fd, text);
}
RINGPOOL_TASK(report_args);

void exit_with(int code) {
  ringpool::this_process::exit(code);
}
RINGPOOL_TASK(exit_with);

void throw_runtime_error(std::string message) {
  throw std::runtime_error(message);
}
RINGPOOL_TASK(throw_runtime_error);

void sleep_forever() {
  for (;;) ::pause();
}
RINGPOOL_TASK(sleep_forever);

void report_affinity(int fd) {
  cpu_set_t set;
  CPU_ZERO(&set);
  sched_getaffinity(0, sizeof set, &set);
  std::string cpus;
  for (int i = 0; i < CPU_SETSIZE; ++i) {
    if (CPU_ISSET(i, &set)) cpus += std::to_string(i) + ",";
  }
  write_text(fd, cpus);
}
RINGPOOL_TASK(report_affinity);

// "pid name alive" of this_process::parent(), or "none".
std::string describe_parent() {
  const auto parent = ringpool::this_process::parent();
  if (!parent) return "none";
  return std::to_string(parent->pid()) + " " + parent->name() + " " +
         (parent->is_alive() ? "alive" : "gone");
}

void report_parent(int fd) {
  write_text(fd, describe_parent());
}
RINGPOOL_TASK(report_parent);

// Reports its parent, waits (at most 30 s) for a byte or EOF on `in`, reports again.
void report_parent_twice(int out, int in, int keep) {
  ::close(keep);  // our copy of the gate's write end: else it never reads EOF
  write_text(out, describe_parent() + "\n");
  pollfd p{in, POLLIN, 0};
  static_cast<void>(::poll(&p, 1, 30'000));
  write_text(out, describe_parent() + "\n");
}
RINGPOOL_TASK(report_parent_twice);

// Spawns report_parent_twice as its own child, then waits to be killed.
void start_reporting_grandchild(int out, int in, int keep) {
  Process grandchild(ProcessOptions{.start_method = StartMethod::spawn}, report_parent_twice, out,
                     in, keep);
  grandchild.start();
  for (;;) ::pause();
}
RINGPOOL_TASK(start_reporting_grandchild);

void not_registered() {}

// Starts a spawned child; used by the child whose main() "forgot" serve_if_worker.
void start_a_child() {
  Process p(ProcessOptions{.start_method = StartMethod::spawn}, exit_with, 0);
  p.start();
  p.join();
}

// A worker kind as the pool registers one: payload = fd to write to + text.
int echo_entry(std::span<const std::byte> payload) {
  const auto [fd, text] = ringpool::pool::from_bytes<std::tuple<int, std::string>>(payload);
  write_text(fd, text + " from " + ringpool::this_process::name());
  return 5;
}
[[maybe_unused]] const bool echo_registered = [] {
  ringpool::detail::register_worker_entry("test.echo", echo_entry);
  return true;
}();

TEST(Spawn, RegisteredTaskRunsWithArguments) {
  Pipe pipe(/*inheritable=*/true);
  Process p(ProcessOptions{.start_method = StartMethod::spawn}, report_args, pipe.write_fd(),
            std::string("baidu"), std::vector<int>{1, 2, 3});
  p.start();
  pipe.close_write();
  const std::string seen = pipe.read_all();
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_EQ(seen,
            "baidu:1,2,3, name=" + p.name() + " ppid=" + std::to_string(::getpid()) + " daemon=0");
}

TEST(Spawn, DaemonFlagAndGivenNameTravel) {
  Pipe pipe(true);
  Process p(ProcessOptions{.name = "tengxun", .daemon = true, .start_method = StartMethod::spawn},
            report_args, pipe.write_fd(), std::string("t"), std::vector<int>{});
  p.start();
  pipe.close_write();
  const std::string seen = pipe.read_all();
  p.join();
  EXPECT_NE(seen.find("name=tengxun"), std::string::npos) << seen;
  EXPECT_NE(seen.find("daemon=1"), std::string::npos) << seen;
}

TEST(Spawn, ExitCodeAndSignalsAsWithFork) {
  Process p(ProcessOptions{.start_method = StartMethod::spawn}, exit_with, 9);
  p.start();
  p.join();
  EXPECT_EQ(p.exitcode(), 9);

  Process q(ProcessOptions{.start_method = StartMethod::spawn}, sleep_forever);
  q.start();
  q.kill();
  q.join();
  EXPECT_EQ(q.exitcode(), -9);
}

TEST(Spawn, ExceptionInTaskExitsOneAndReportsIt) {
  ringpool::test::StderrCapture capture;
  Process p(ProcessOptions{.name = "boom", .start_method = StartMethod::spawn}, throw_runtime_error,
            std::string("out of baozi"));
  p.start();
  p.join();
  const std::string err = capture.text();
  EXPECT_EQ(p.exitcode(), 1);
  EXPECT_NE(err.find("Process boom:"), std::string::npos) << err;
  EXPECT_NE(err.find("std::runtime_error: out of baozi"), std::string::npos) << err;
}

TEST(Spawn, PinnedBeforeItRuns) {
  const auto allowed = ringpool::topology::process_binding(0);
  const unsigned cpu = *allowed.first();
  Pipe pipe(true);
  Process p(
      ProcessOptions{.start_method = StartMethod::spawn, .cpus = ringpool::topology::CpuSet{cpu}},
      report_affinity, pipe.write_fd());
  p.start();
  pipe.close_write();
  EXPECT_EQ(pipe.read_all(), std::to_string(cpu) + ",");
  p.join();
}

TEST(Spawn, ParentIsTheSpawningProcess) {
  Pipe pipe(true);
  Process p(ProcessOptions{.start_method = StartMethod::spawn}, report_parent, pipe.write_fd());
  p.start();
  pipe.close_write();
  EXPECT_EQ(pipe.read_all(), std::to_string(::getpid()) + " MainProcess alive");
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
}

// test -> "middle" -> grandchild, both spawned: the grandchild sees "middle" alive, then,
// once the test killed it, gone (same pid and name).
TEST(Spawn, GrandchildSeesItsParentDie) {
  Pipe report(true);
  Pipe gate(true);
  Process middle(ProcessOptions{.name = "middle", .start_method = StartMethod::spawn},
                 start_reporting_grandchild, report.write_fd(), gate.read_fd(), gate.write_fd());
  middle.start();
  EXPECT_EQ(report.read_line(), std::to_string(middle.pid()) + " middle alive");
  middle.kill();  // Process::kill signals its own unreaped child only
  middle.join();
  write_text(gate.write_fd(), "x");
  EXPECT_EQ(report.read_line(), std::to_string(middle.pid()) + " middle gone");
}

TEST(Spawn, SentinelCloseAndActiveChildren) {
  Process p(ProcessOptions{.start_method = StartMethod::spawn}, sleep_forever);
  p.start();
  {
    // The handles share the child's record (and its sentinel) while they live.
    const auto running = ringpool::pool::active_children();
    ASSERT_EQ(running.size(), 1U);
    EXPECT_EQ(running[0].pid(), p.pid());
    EXPECT_EQ(running[0].name(), p.name());
  }
  const int sentinel = p.sentinel();
  pollfd before{sentinel, POLLIN, 0};
  EXPECT_EQ(::poll(&before, 1, 0), 0);
  EXPECT_THROW(p.close(), ringpool::pool::InvalidState);
  p.kill();
  pollfd after{sentinel, POLLIN, 0};
  EXPECT_EQ(::poll(&after, 1, 30'000), 1);
  p.join();
  EXPECT_EQ(p.exitcode(), -9);
  EXPECT_TRUE(ringpool::pool::active_children().empty());
  p.close();
  EXPECT_EQ(::fcntl(sentinel, F_GETFD), -1);
}

TEST(Spawn, UnregisteredFunctionIsRejected) {
  try {
    Process p(ProcessOptions{.start_method = StartMethod::spawn}, not_registered);
    FAIL() << "no error for an unregistered function";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("RINGPOOL_TASK"), std::string::npos) << e.what();
  }
}

TEST(Spawn, LambdaIsRejected) {
  EXPECT_THROW(Process(ProcessOptions{.start_method = StartMethod::spawn}, [] {}), InvalidArgument);
}

TEST(Spawn, DuplicateTaskNameIsRejected) {
  EXPECT_NO_THROW(ringpool::register_task("exit_with", exit_with));  // same function: fine
  EXPECT_THROW(ringpool::register_task("exit_with", sleep_forever), InvalidArgument);
  EXPECT_THROW(ringpool::register_task("", sleep_forever), InvalidArgument);
}

TEST(Spawn, WorkerEntryWithInheritedFd) {
  Pipe pipe;  // O_CLOEXEC: kept only because it is listed in inherit_fds
  auto p = Process::for_worker_entry(
      "test.echo", ringpool::pool::to_bytes(std::make_tuple(pipe.write_fd(), std::string("hello"))),
      {pipe.write_fd()}, ProcessOptions{.name = "echo-worker"});
  p.start();
  pipe.close_write();
  EXPECT_EQ(pipe.read_all(), "hello from echo-worker");
  p.join();
  EXPECT_EQ(p.exitcode(), 5);
}

TEST(Spawn, UnknownWorkerKindIsRejected) {
  auto p = Process::for_worker_entry("test.nobody", {}, {});
  EXPECT_THROW(p.start(), InvalidArgument);
}

// The guard inside this process: with the spawn marker present and serve_if_worker not
// reached, creating a process is refused with an explanation.
TEST(SpawnGuard, RefusesWhenMarkerPresentWithoutServe) {
  ASSERT_EQ(::setenv("RINGPOOL_SPAWN_FD", "999", 1), 0);
  try {
    Process p([] {});
    p.start();
    ::unsetenv("RINGPOOL_SPAWN_FD");
    FAIL() << "no GuardViolation";
  } catch (const GuardViolation& e) {
    ::unsetenv("RINGPOOL_SPAWN_FD");
    const std::string what = e.what();
    EXPECT_NE(what.find("serve_if_worker"), std::string::npos) << what;
    EXPECT_NE(what.find("__name__"), std::string::npos) << what;
  }
}

// End to end: the child's main() skips serve_if_worker (as a program that forgot it
// would) and tries to start a process: it gets GuardViolation instead of recursing.
TEST(SpawnGuard, ChildWithoutServeGetsGuardViolation) {
  ASSERT_EQ(::setenv(kForgetGuardEnv, "1", 1), 0);
  Process p(ProcessOptions{.start_method = StartMethod::spawn}, exit_with, 0);
  p.start();
  ::unsetenv(kForgetGuardEnv);
  p.join();
  EXPECT_EQ(p.exitcode(), 42) << "43: started a child anyway; 44: other error";
}

}  // namespace

int main(int argc, char** argv) {
  if (std::getenv(kForgetGuardEnv) == nullptr) {
    ringpool::serve_if_worker(argc, argv);
  } else if (ringpool::detail::is_spawned_child()) {
    // A spawned child of SpawnGuard.ChildWithoutServeGetsGuardViolation: main() "forgot"
    // serve_if_worker and runs start-up code that creates a process.
    try {
      start_a_child();
      return 43;
    } catch (const GuardViolation& e) {
      return std::strstr(e.what(), "serve_if_worker") != nullptr ? 42 : 44;
    } catch (...) {
      return 44;
    }
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
