// Barrier across processes: cycles with distinct indices and one action per cycle; a party
// SIGKILLed inside wait() breaks the barrier for the others instead of hanging them;
// timeouts, abort and reset.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "ringpool/pool/errors.hpp"
#include "ringpool/pool/process.hpp"
#include "ringpool/pool/shared_value.hpp"
#include "ringpool/pool/sync.hpp"
#include "ringpool/pool/this_process.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using ringpool::pool::Array;
using ringpool::pool::Barrier;
using ringpool::pool::BrokenBarrier;
using ringpool::pool::InvalidArgument;
using ringpool::pool::Process;
using ringpool::pool::Value;

constexpr int kCycles = 20;

TEST(Barrier, CyclesAcrossProcessesWithDistinctIndicesAndOneActionEach) {
  Value<int> actions(0);
  Array<int> seen(3);  // how often each index was handed out
  Barrier barrier(3, [actions]() mutable {
    std::scoped_lock hold(actions.get_lock());
    actions.get_obj() += 1;
  });
  auto party = [barrier, seen]() mutable {
    for (int c = 0; c < kCycles; ++c) {
      const std::size_t index = barrier.wait(20s);
      std::scoped_lock hold(seen.get_lock());
      seen[index] += 1;
    }
  };
  Process a(party);
  Process b(party);
  a.start();
  b.start();
  party();
  a.join();
  b.join();
  EXPECT_EQ(a.exitcode(), 0);
  EXPECT_EQ(b.exitcode(), 0);
  EXPECT_EQ(actions.value(), kCycles);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(seen.get(i), kCycles) << "index " << i;
  EXPECT_EQ(barrier.parties(), 3U);
  EXPECT_FALSE(barrier.broken());
}

TEST(Barrier, AKilledPartyBreaksItInsteadOfHangingTheOthers) {
  Barrier barrier(3);
  Process doomed([barrier]() mutable { (void)barrier.wait(); });
  Process survivor([barrier]() mutable {
    try {
      (void)barrier.wait();  // no timeout: only the dead party can end this wait
    } catch (const BrokenBarrier&) {
      ringpool::this_process::exit(5);
    }
  });
  doomed.start();
  survivor.start();
  ASSERT_TRUE(ringpool::test::eventually([&] { return barrier.n_waiting() == 2; }));
  doomed.kill();  // not joined yet: a zombie is a dead party too
  survivor.join();
  EXPECT_EQ(survivor.exitcode(), 5);
  EXPECT_TRUE(barrier.broken());
  EXPECT_THROW((void)barrier.wait(), BrokenBarrier);
  doomed.join();
  // reset() makes it usable again.
  barrier.reset();
  EXPECT_FALSE(barrier.broken());
  auto party = [barrier]() mutable {
    if (barrier.wait(20s) >= 3) ringpool::this_process::exit(3);
  };
  Process a(party);
  Process b(party);
  a.start();
  b.start();
  EXPECT_LT(barrier.wait(20s), 3U);
  a.join();
  b.join();
  EXPECT_EQ(a.exitcode(), 0);
  EXPECT_EQ(b.exitcode(), 0);
}

TEST(Barrier, TimeoutBreaksItAndResetRepairsIt) {
  Barrier barrier(2);
  EXPECT_THROW((void)barrier.wait(20ms), BrokenBarrier);
  EXPECT_TRUE(barrier.broken());
  EXPECT_EQ(barrier.n_waiting(), 0U);
  barrier.reset();
  EXPECT_FALSE(barrier.broken());
  Process other([barrier]() mutable { (void)barrier.wait(20s); });
  other.start();
  EXPECT_LT(barrier.wait(20s), 2U);
  other.join();
  EXPECT_EQ(other.exitcode(), 0);
}

TEST(Barrier, AbortWakesAWaiterInAnotherProcess) {
  Barrier barrier(2);
  Process waiter([barrier]() mutable {
    try {
      (void)barrier.wait(20s);
    } catch (const BrokenBarrier&) {
      ringpool::this_process::exit(5);
    }
  });
  waiter.start();
  ASSERT_TRUE(ringpool::test::eventually([&] { return barrier.n_waiting() == 1; }));
  barrier.abort();
  waiter.join();
  EXPECT_EQ(waiter.exitcode(), 5);
  EXPECT_TRUE(barrier.broken());
}

TEST(Barrier, ResetWhileWaitingBreaksTheWaitersOnly) {
  Barrier barrier(2);
  Process waiter([barrier]() mutable {
    try {
      (void)barrier.wait(20s);
    } catch (const BrokenBarrier&) {
      ringpool::this_process::exit(5);
    }
  });
  waiter.start();
  ASSERT_TRUE(ringpool::test::eventually([&] { return barrier.n_waiting() == 1; }));
  barrier.reset();
  waiter.join();
  EXPECT_EQ(waiter.exitcode(), 5);
  EXPECT_FALSE(barrier.broken());
}

TEST(Barrier, InvalidPartiesAndNamedOpen) {
  EXPECT_THROW(Barrier(0), InvalidArgument);
  const std::string name = "ringpool-test-barrier-" + std::to_string(::getpid());
  Barrier created = Barrier::create(name, 2);
  Process child([name]() {
    Barrier opened = Barrier::open(name);
    if (opened.parties() != 2) ringpool::this_process::exit(3);
    (void)opened.wait(20s);
  });
  child.start();
  EXPECT_LT(created.wait(20s), 2U);
  child.join();
  EXPECT_EQ(child.exitcode(), 0);
}

}  // namespace
