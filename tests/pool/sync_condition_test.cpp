// Condition across processes: notify/notify_all wake waiters in other processes,
// wait_for(pred), the lock is re-held after wait, and waiting or notifying without the
// lock is refused.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ringpool/pool/errors.hpp"
#include "ringpool/pool/process.hpp"
#include "ringpool/pool/shared_value.hpp"
#include "ringpool/pool/sync.hpp"
#include "ringpool/pool/this_process.hpp"

namespace {

using namespace std::chrono_literals;
using ringpool::pool::Condition;
using ringpool::pool::InvalidState;
using ringpool::pool::Lock;
using ringpool::pool::Process;
using ringpool::pool::Value;

TEST(Condition, NotifyWakesAWaiterInAnotherProcess) {
  Condition cond;
  Value<int> stage(0, {.lock = false});  // guarded by cond's lock
  Process child([cond, stage]() mutable {
    std::unique_lock hold(cond);
    if (!cond.wait_for([&] { return stage.get_obj() == 1; }, 20s)) {
      ringpool::this_process::exit(3);
    }
    stage.get_obj() = 2;
    cond.notify();
  });
  child.start();
  {
    std::scoped_lock hold(cond);
    stage.get_obj() = 1;
    cond.notify();
  }
  {
    std::unique_lock hold(cond);
    EXPECT_TRUE(cond.wait_for([&] { return stage.get_obj() == 2; }, 20s));
  }
  child.join();
  EXPECT_EQ(child.exitcode(), 0);
}

TEST(Condition, NotifyAllWakesEveryWaiter) {
  Condition cond;
  Value<int> go(0, {.lock = false});
  Value<int> waiting(0, {.lock = false});
  std::vector<Process> waiters;
  for (int i = 0; i < 3; ++i) {
    waiters.emplace_back([cond, go, waiting]() mutable {
      std::unique_lock hold(cond);
      waiting.get_obj() += 1;
      cond.notify_all();  // tells the parent one more is waiting
      if (!cond.wait_for([&] { return go.get_obj() == 1; }, 20s)) ringpool::this_process::exit(3);
    });
  }
  for (auto& w : waiters) w.start();
  {
    std::unique_lock hold(cond);
    ASSERT_TRUE(cond.wait_for([&] { return waiting.get_obj() == 3; }, 20s));
    go.get_obj() = 1;
    cond.notify_all();
  }
  for (auto& w : waiters) {
    w.join();
    EXPECT_EQ(w.exitcode(), 0);
  }
}

TEST(Condition, WaitTimesOutAndHoldsTheLockAgain) {
  Condition cond;
  std::unique_lock hold(cond);
  EXPECT_FALSE(cond.wait(20ms));
  EXPECT_TRUE(cond.get_lock().locked());
  EXPECT_FALSE(cond.wait_for([] { return false; }, 20ms));
  EXPECT_TRUE(cond.wait_for([] { return true; }, 0ns));
  cond.notify(0);  // nothing to do
}

TEST(Condition, WaitOrNotifyWithoutTheLockIsRefused) {
  Condition cond;
  EXPECT_THROW((void)cond.wait(10ms), InvalidState);
  EXPECT_THROW(cond.notify(), InvalidState);
  EXPECT_THROW(cond.notify_all(), InvalidState);
  // Held by another thread is not held by this one.
  cond.acquire();
  std::thread other([&] { EXPECT_THROW(cond.notify(), InvalidState); });
  other.join();
  cond.release();
}

TEST(Condition, OverAGivenLock) {
  Lock lock;
  Condition a(lock);
  Condition b(lock);
  lock.acquire();
  EXPECT_FALSE(a.wait(10ms));  // the shared lock counts as held
  b.notify_all();
  EXPECT_FALSE(b.try_lock());  // the same lock
  lock.release();
  EXPECT_FALSE(a.get_lock().locked());
}

TEST(Condition, NamedCreateAndOpen) {
  const std::string name = "ringpool-test-cond-" + std::to_string(::getpid());
  Condition created = Condition::create(name);
  Condition opened = Condition::open(name);
  created.acquire();
  EXPECT_TRUE(opened.get_lock().locked());
  Process child([name]() {
    Condition cond = Condition::open(name);
    cond.acquire();
    cond.notify();
    cond.release();
  });
  child.start();
  EXPECT_TRUE(created.wait(20s));  // the child can take the lock only once we wait
  created.release();
  child.join();
  EXPECT_EQ(child.exitcode(), 0);
}

}  // namespace
