// Semaphore and BoundedSemaphore across processes: at most `value` holders at once,
// try/timeout forms, release(n) wakes waiters elsewhere, a BoundedSemaphore refuses to be
// released past its initial value.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
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
using ringpool::pool::BoundedSemaphore;
using ringpool::pool::InvalidArgument;
using ringpool::pool::Process;
using ringpool::pool::Semaphore;
using ringpool::pool::SemaphoreOverflow;
using ringpool::pool::Value;

TEST(Semaphore, AtMostValueHoldersAtOnceAcrossProcesses) {
  Semaphore slots(2);
  Value<int> inside(0);
  Value<int> most(0);
  std::vector<Process> workers;
  for (int p = 0; p < 4; ++p) {
    workers.emplace_back([slots, inside, most]() mutable {
      for (int i = 0; i < 200; ++i) {
        slots.acquire();
        {
          std::scoped_lock hold(inside.get_lock());
          const int now = ++inside.get_obj();
          most.store(std::max(most.value(), now));
        }
        std::this_thread::yield();
        {
          std::scoped_lock hold(inside.get_lock());
          --inside.get_obj();
        }
        slots.release();
      }
    });
  }
  for (auto& w : workers) w.start();
  for (auto& w : workers) {
    w.join();
    EXPECT_EQ(w.exitcode(), 0);
  }
  EXPECT_LE(most.value(), 2);
  EXPECT_GE(most.value(), 1);
  EXPECT_EQ(inside.value(), 0);
  EXPECT_EQ(slots.value_approx(), 2U);
}

TEST(Semaphore, CountsUnits) {
  Semaphore s(3);
  EXPECT_TRUE(s.try_acquire());
  EXPECT_TRUE(s.acquire(0ns));
  EXPECT_TRUE(s.acquire(1s));
  EXPECT_FALSE(s.try_acquire());
  EXPECT_FALSE(s.acquire(20ms));
  s.release(2);
  EXPECT_EQ(s.value_approx(), 2U);
  EXPECT_TRUE(s.try_acquire());
  EXPECT_TRUE(s.try_acquire());
  EXPECT_FALSE(s.try_acquire());
  EXPECT_THROW(s.release(0), InvalidArgument);
  s.release(100);  // unbounded
  EXPECT_EQ(s.value_approx(), 100U);
}

TEST(Semaphore, ReleaseWakesWaitersInOtherProcesses) {
  Semaphore s(0);
  std::vector<Process> waiters;
  for (int i = 0; i < 3; ++i) {
    waiters.emplace_back([s]() mutable {
      if (!s.acquire(20s)) ringpool::this_process::exit(3);
    });
  }
  for (auto& w : waiters) w.start();
  for (auto& w : waiters) EXPECT_FALSE(w.join(10ms));  // no unit yet
  s.release(3);
  for (auto& w : waiters) {
    w.join();
    EXPECT_EQ(w.exitcode(), 0);
  }
  EXPECT_EQ(s.value_approx(), 0U);
}

TEST(BoundedSemaphore, ReleasePastTheInitialValueThrows) {
  BoundedSemaphore s(2);
  EXPECT_EQ(s.bound(), 2U);
  EXPECT_THROW(s.release(), SemaphoreOverflow);
  EXPECT_EQ(s.value_approx(), 2U);  // unchanged
  ASSERT_TRUE(s.try_acquire());
  EXPECT_THROW(s.release(2), SemaphoreOverflow);
  s.release();
  EXPECT_EQ(s.value_approx(), 2U);
  // A child's over-release is refused too.
  Process child([s]() mutable {
    try {
      s.release();
    } catch (const SemaphoreOverflow&) {
      ringpool::this_process::exit(7);
    }
  });
  child.start();
  child.join();
  EXPECT_EQ(child.exitcode(), 7);
}

TEST(Semaphore, NamedCreateAndOpenKeepTheirKinds) {
  const std::string name = "ringpool-test-sem-" + std::to_string(::getpid());
  const std::string bounded_name = name + "-bounded";
  Semaphore created = Semaphore::create(name, 1);
  Semaphore opened = Semaphore::open(name);
  ASSERT_TRUE(opened.try_acquire());
  EXPECT_FALSE(created.try_acquire());
  BoundedSemaphore bounded = BoundedSemaphore::create(bounded_name, 1);
  EXPECT_EQ(BoundedSemaphore::open(bounded_name).bound(), 1U);
  EXPECT_THROW((void)BoundedSemaphore::open(name), InvalidArgument);
  EXPECT_THROW((void)Semaphore::open(bounded_name), InvalidArgument);
}

}  // namespace
