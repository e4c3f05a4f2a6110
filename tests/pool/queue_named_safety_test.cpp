// Named queues and the two ways they used to be unsafe: a queue whose creator dies by a
// default signal left its name in /dev/shm, and Queue::open accepted a segment that
// another user could have written (and returned that user's item).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <string>

#include "ringpool/ipc/errors.hpp"
#include "ringpool/pool/queue.hpp"
#include "test_support.hpp"

namespace ringpool::pool {
namespace {
using ::ringpool::test::in_dev_shm;

std::string shm_name(const std::string& what) {
  return "/ringpool-test-" + std::to_string(::getpid()) + "-queue-" + what;
}

class NamedQueueCreatorDies : public ::testing::TestWithParam<int> {};

TEST_P(NamedQueueCreatorDies, TheNameIsRemoved) {
  const int sig = GetParam();
  const std::string name = shm_name(std::to_string(sig));
  test::Pipe ready;
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int code = 0;
    try {
      auto q = Queue<int>::create(name, 4);  // unlink_on_destroy is the default
      q.put(7);
      test::write_text(ready.write_fd(), "ready\n");
      for (;;) ::pause();
    } catch (...) {
      code = 2;
    }
    ::_exit(code);
  }
  ready.close_write();
  ASSERT_EQ(ready.read_line(), "ready");
  EXPECT_TRUE(in_dev_shm(name));
  ASSERT_EQ(::kill(pid, sig), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), sig);
  // A bound that turns a leak into a failure; no claim about speed.
  EXPECT_TRUE(test::eventually([&] { return !in_dev_shm(name); }, std::chrono::seconds(60)))
      << name << " outlived its creator";
}

INSTANTIATE_TEST_SUITE_P(Signals, NamedQueueCreatorDies,
                         ::testing::Values(SIGKILL, SIGTERM, SIGINT),
                         [](const ::testing::TestParamInfo<int>& signal) {
                           return std::string(signal.param == SIGKILL   ? "SIGKILL"
                                              : signal.param == SIGTERM ? "SIGTERM"
                                                                        : "SIGINT");
                         });

TEST(NamedQueueTrust, AQueueOthersCanWriteIsRefused) {
  const std::string name = shm_name("world-writable");
  auto forged = Queue<int>::create(name, 4, QueueOptions{.mode = 0666});
  forged.put(666);
  try {
    static_cast<void>(Queue<int>::open(name));
    FAIL() << "opened a queue with mode 0666";
  } catch (const ipc::IpcError& e) {
    EXPECT_EQ(e.code(), ipc::IpcErrc::untrusted_segment);
    EXPECT_NE(std::string(e.what()).find("mode 0666"), std::string::npos) << e.what();
  }
}

TEST(NamedQueueTrust, AllowUntrustedOpensAQueueSharedWithTheGroup) {
  const std::string name = shm_name("group-shared");
  auto shared = Queue<int>::create(name, 4, QueueOptions{.mode = 0660});
  shared.put(660);
  EXPECT_THROW(static_cast<void>(Queue<int>::open(name)), ipc::IpcError);
  auto opened = Queue<int>::open(name, QueueOptions{.allow_untrusted = true});
  EXPECT_EQ(opened.get(std::chrono::seconds(5)), 660);
}

}  // namespace
}  // namespace ringpool::pool
