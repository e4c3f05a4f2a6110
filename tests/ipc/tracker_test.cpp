// The resource tracker: a named segment created with unlink_on_destroy disappears when
// its creator dies by SIGKILL, SIGTERM or SIGINT; nothing else is unlinked; a forked
// child neither inherits the tracker nor unregisters the parent's names.
#include "ringpool/ipc/detail/tracker.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include "ring_test_support.hpp"
#include "ringpool/ipc/segment.hpp"

namespace ringpool::ipc::test {
namespace {
using ::ringpool::test::in_dev_shm;

using namespace std::chrono_literals;

// Generous: the tracker runs as soon as it is scheduled; a loaded machine may be slow.
constexpr auto kPatience = 60s;

template <class Pred>
bool eventually(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + kPatience;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// True when `pid` has exited (no /proc entry, or a zombie nobody reaped yet).
bool process_gone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(stat, text)) return true;
  const auto paren = text.rfind(')');
  if (paren == std::string::npos || paren + 2 >= text.size()) return true;
  const char state = text[paren + 2];
  return state == 'Z' || state == 'X';
}

std::string comm_of(pid_t pid) {
  std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(comm, name);
  return name;
}

// A pipe a child reports its tracker's pid on.
class Report {
 public:
  Report() { EXPECT_EQ(::pipe(fds_), 0); }
  ~Report() {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  Report(const Report&) = delete;
  Report& operator=(const Report&) = delete;
  void send(std::int64_t value) const {
    EXPECT_EQ(::write(fds_[1], &value, sizeof(value)), static_cast<ssize_t>(sizeof(value)));
  }
  // The value, or -1 when the child closed the pipe (died) first.
  [[nodiscard]] std::int64_t receive() const {
    ::close(fds_[1]);
    std::int64_t value = -1;
    return ::read(fds_[0], &value, sizeof(value)) == static_cast<ssize_t>(sizeof(value)) ? value
                                                                                         : -1;
  }

 private:
  int fds_[2] = {-1, -1};
};

[[noreturn]] void wait_to_be_killed() {
  for (;;) ::pause();
}

std::string shm_name(const std::string& what) {
  return "/ringpool-test-" + std::to_string(::getpid()) + "-" + what;
}

class TrackerSignal : public ::testing::TestWithParam<int> {};

TEST_P(TrackerSignal, NameIsUnlinkedWhenTheCreatorDies) {
  const int sig = GetParam();
  const std::string tracked = shm_name("tracked-" + std::to_string(sig));
  const std::string kept = shm_name("kept-" + std::to_string(sig));
  Report report;
  const pid_t pid = fork_child([&]() -> int {
    Segment a = Segment::create(tracked, 4096, SegmentOptions{.unlink_on_destroy = true});
    Segment b = Segment::create(kept, 4096);  // not unlink_on_destroy: must survive
    if (!a.grants().tracked || b.grants().tracked) return 2;
    report.send(detail::tracker_pid());
    wait_to_be_killed();
  });
  ASSERT_GT(pid, 0);
  const std::int64_t tracker = report.receive();
  ASSERT_GT(tracker, 0) << "child exited with " << wait_child(pid);
  EXPECT_EQ(comm_of(static_cast<pid_t>(tracker)), "ringpool-track");
  EXPECT_TRUE(in_dev_shm(tracked));
  ASSERT_EQ(::kill(pid, sig), 0);
  EXPECT_EQ(wait_child(pid), 128 + sig);
  EXPECT_TRUE(eventually([&] { return !in_dev_shm(tracked); }))
      << tracked << " outlived its creator";
  EXPECT_TRUE(eventually([&] { return process_gone(static_cast<pid_t>(tracker)); }));
  EXPECT_TRUE(in_dev_shm(kept)) << "the tracker removed a name it was never given";
  EXPECT_TRUE(Segment::unlink(kept));
}

INSTANTIATE_TEST_SUITE_P(Signals, TrackerSignal, ::testing::Values(SIGKILL, SIGTERM, SIGINT),
                         [](const ::testing::TestParamInfo<int>& signal) {
                           return std::string(signal.param == SIGKILL   ? "SIGKILL"
                                              : signal.param == SIGTERM ? "SIGTERM"
                                                                        : "SIGINT");
                         });

TEST(Tracker, GrantsSayWhetherANameIsTrackedAndTheTrackerIsNotOurChild) {
  const std::string name = shm_name("grants");
  {
    Segment s = Segment::create(name, 64, SegmentOptions{.unlink_on_destroy = true});
    EXPECT_TRUE(s.grants().tracked) << s.grants().tracker_note;
    const pid_t tracker = detail::tracker_pid();
    ASSERT_GT(tracker, 0);
    EXPECT_NE(s.grants().tracker_note.find(std::to_string(tracker)), std::string::npos);
    int status = 0;
    EXPECT_EQ(::waitpid(tracker, &status, WNOHANG), -1);  // reparented: nobody's to reap
    EXPECT_EQ(errno, ECHILD);
    s.unlink_on_destroy(false);
    EXPECT_FALSE(s.grants().tracked);
    s.unlink_on_destroy(true);
    EXPECT_TRUE(s.grants().tracked);
  }
  EXPECT_FALSE(in_dev_shm(name));
  Segment plain = Segment::create(name, 64);
  EXPECT_FALSE(plain.grants().tracked);
  EXPECT_FALSE(plain.grants().tracker_note.empty());
  EXPECT_TRUE(Segment::unlink(name));
}

TEST(Tracker, AWithdrawnNameIsKept) {
  const std::string name = shm_name("withdrawn");
  Report report;
  const pid_t pid = fork_child([&]() -> int {
    Segment s = Segment::create(name, 64, SegmentOptions{.unlink_on_destroy = true});
    s.unlink_on_destroy(false);  // the program now wants the name to outlive it
    report.send(detail::tracker_pid());
    wait_to_be_killed();
  });
  ASSERT_GT(pid, 0);
  const std::int64_t tracker = report.receive();
  ASSERT_GT(tracker, 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  EXPECT_EQ(wait_child(pid), 128 + SIGKILL);
  ASSERT_TRUE(eventually([&] { return process_gone(static_cast<pid_t>(tracker)); }));
  EXPECT_TRUE(in_dev_shm(name));
  EXPECT_TRUE(Segment::unlink(name));
}

TEST(Tracker, ANameReusedByAnotherObjectIsNotUnlinked) {
  const std::string name = shm_name("reused");
  Report report;
  const pid_t pid = fork_child([&]() -> int {
    Segment s = Segment::create(name, 64, SegmentOptions{.unlink_on_destroy = true});
    report.send(detail::tracker_pid());
    wait_to_be_killed();
  });
  ASSERT_GT(pid, 0);
  const std::int64_t tracker = report.receive();
  ASSERT_GT(tracker, 0);
  // Someone unlinks the name and another object takes it.
  ASSERT_EQ(::unlink(("/dev/shm" + name).c_str()), 0);
  Segment other = Segment::create(name, 64);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  EXPECT_EQ(wait_child(pid), 128 + SIGKILL);
  ASSERT_TRUE(eventually([&] { return process_gone(static_cast<pid_t>(tracker)); }));
  EXPECT_TRUE(in_dev_shm(name)) << "the tracker unlinked an object it never registered";
  EXPECT_TRUE(Segment::unlink(name));
}

TEST(Tracker, AForkedChildNeitherInheritsTheTrackerNorUnregistersTheParentsNames) {
  const std::string parents = shm_name("parents");
  const std::string childs = shm_name("childs");
  Report report;
  // The middle process stands for a program; its child for a worker it forks.
  const pid_t middle = fork_child([&]() -> int {
    std::optional<Segment> mine =
        Segment::create(parents, 64, SegmentOptions{.unlink_on_destroy = true});
    const pid_t tracker = detail::tracker_pid();
    if (tracker <= 0) return 2;
    const pid_t worker = fork_child([&]() -> int {
      if (detail::tracker_pid() != 0) return 3;  // the parent's tracker is not ours
      mine.reset();                              // our copy: no unlink, no unregister
      Segment own = Segment::create(childs, 64, SegmentOptions{.unlink_on_destroy = true});
      if (!own.grants().tracked) return 4;
      if (detail::tracker_pid() <= 0 || detail::tracker_pid() == tracker) return 5;
      return 0;  // _exit: `own` is left for the worker's tracker to remove
    });
    if (worker <= 0) return 6;
    if (const int code = wait_child(worker); code != 0) return 10 + code;
    if (!in_dev_shm(parents)) return 7;  // the worker's copy must not have unlinked it
    report.send(tracker);
    wait_to_be_killed();
  });
  ASSERT_GT(middle, 0);
  const std::int64_t tracker = report.receive();
  ASSERT_GT(tracker, 0) << "middle process exited with " << wait_child(middle);
  EXPECT_TRUE(eventually([&] { return !in_dev_shm(childs); })) << "the worker's own tracker";
  EXPECT_TRUE(in_dev_shm(parents));
  ASSERT_EQ(::kill(middle, SIGKILL), 0);
  EXPECT_EQ(wait_child(middle), 128 + SIGKILL);
  // Still registered with the parent's tracker: the worker did not unregister it.
  EXPECT_TRUE(eventually([&] { return !in_dev_shm(parents); }));
}

}  // namespace
}  // namespace ringpool::ipc::test
