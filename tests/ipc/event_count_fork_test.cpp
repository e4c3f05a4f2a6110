// EventCount across processes: a shared-scope event count in an anonymous shared mapping
// wakes a waiter in another process (fork). Waits have no timeout, so a lost wake-up hangs
// the test (CTest's timeout then fails it).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>

#include "ringpool/ipc/event_count.hpp"
#include "ringpool/ipc/segment.hpp"
#include "test_helpers.hpp"

namespace ringpool::ipc {
namespace {
using ::ringpool::test::stress_scale;

struct Shared {
  EventCount event;
  std::atomic<std::uint64_t> turn{0};
};
static_assert(std::is_standard_layout_v<Shared>);

void play(Shared& s, std::uint64_t parity, std::uint64_t rounds) {
  for (std::uint64_t r = 0; r < rounds; ++r) {
    // acquire: pairs with the other process's seq_cst increment.
    s.event.await([&] { return s.turn.load(std::memory_order_acquire) % 2 == parity; });
    // seq_cst: the publish of the EventCount argument.
    s.turn.fetch_add(1, std::memory_order_seq_cst);
    s.event.notify_one();
  }
}

TEST(EventCountAcrossFork, PingPongBetweenProcessesNeverLosesAWakeup) {
  Segment segment = Segment::anonymous(4096);
  auto* shared = ::new (segment.data()) Shared{};
  const std::uint64_t rounds = 5'000 * stress_scale();
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    play(*shared, 1, rounds);
    ::_exit(0);
  }
  play(*shared, 0, rounds);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(shared->turn.load(), 2 * rounds);
}

TEST(EventCountAcrossFork, SleepingChildIsWokenByTheParent) {
  Segment segment = Segment::anonymous(4096);
  auto* shared = ::new (segment.data()) Shared{};
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    shared->event.await([&] { return shared->turn.load(std::memory_order_acquire) == 1; });
    ::_exit(0);
  }
  // Publish only once the child is registered (or about to sleep), so the wake-up path
  // (not the re-check) is what ends its wait.
  while (shared->event.waiters_approx() == 0) ::usleep(100);
  shared->turn.store(1, std::memory_order_seq_cst);
  shared->event.notify_all();
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(shared->event.waiters_approx(), 0u);
}

}  // namespace
}  // namespace ringpool::ipc
