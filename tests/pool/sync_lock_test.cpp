// Lock and RLock across processes: mutual exclusion, a holder SIGKILLed (reaped or still a
// zombie) hands the lock to the next acquirer with holder_died(), timeouts, release rules,
// std::scoped_lock, named create/open, Pool tasks (fork inheritance and by name).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ringpool/pool/errors.hpp"
#include "ringpool/pool/pool.hpp"
#include "ringpool/pool/process.hpp"
#include "ringpool/pool/shared_value.hpp"
#include "ringpool/pool/sync.hpp"
#include "ringpool/pool/this_process.hpp"
#include "test_helpers.hpp"

namespace {
using ::ringpool::test::unique_name;

using namespace std::chrono_literals;
using ringpool::pool::Event;
using ringpool::pool::InvalidArgument;
using ringpool::pool::InvalidState;
using ringpool::pool::Lock;
using ringpool::pool::Pool;
using ringpool::pool::Process;
using ringpool::pool::RLock;
using ringpool::pool::Value;

TEST(Lock, MutualExclusionAcrossProcesses) {
  Lock lock;
  // No lock of its own: only `lock` protects the read-modify-write below.
  Value<long> counter(0, {.lock = false});
  constexpr int kProcesses = 4;
  constexpr int kIncrements = 2000;
  std::vector<Process> children;
  for (int p = 0; p < kProcesses; ++p) {
    children.emplace_back([lock, counter]() mutable {
      for (int i = 0; i < kIncrements; ++i) {
        std::scoped_lock hold(lock);
        long& c = counter.get_obj();
        const long seen = c;
        if (i % 64 == 0) std::this_thread::yield();  // widen the window a racy version loses in
        c = seen + 1;
      }
    });
  }
  for (auto& c : children) c.start();
  for (auto& c : children) {
    c.join();
    EXPECT_EQ(c.exitcode(), 0);
  }
  EXPECT_EQ(counter.value(), kProcesses * kIncrements);
  EXPECT_FALSE(lock.locked());
}

// Starts a child that takes `lock`, sets `held`, and sleeps until killed.
Process holder_of(Lock lock, Event held) {
  return Process([lock, held]() mutable {
    lock.acquire();
    held.set();
    for (;;) ::pause();
  });
}

TEST(Lock, KilledHolderHandsTheLockToTheNextAcquirer) {
  Lock lock;
  Event held;
  Process holder = holder_of(lock, held);
  holder.start();
  ASSERT_TRUE(held.wait(20s));
  EXPECT_FALSE(lock.try_acquire());
  EXPECT_FALSE(lock.acquire(20ms));  // a live holder keeps it
  holder.kill();
  holder.join();
  ASSERT_TRUE(lock.acquire(20s));
  EXPECT_TRUE(lock.holder_died());
  lock.release();
  EXPECT_FALSE(lock.holder_died());  // cleared by release
  ASSERT_TRUE(lock.acquire(1s));
  EXPECT_FALSE(lock.holder_died());  // a normal hand-over
  lock.release();
}

TEST(Lock, KilledHolderNotYetReapedStillCountsAsDead) {
  Lock lock;
  Event held;
  Process holder = holder_of(lock, held);
  holder.start();
  ASSERT_TRUE(held.wait(20s));
  holder.kill();
  // Not joined: the holder is a zombie until then, and kill(pid, 0) still succeeds.
  ASSERT_TRUE(lock.acquire(20s));
  EXPECT_TRUE(lock.holder_died());
  lock.release();
  holder.join();
  EXPECT_EQ(holder.exitcode(), -9);
}

TEST(Lock, AWaiterBlockedInAcquireGetsTheLockOfAKilledHolder) {
  Lock lock;
  Event held;
  Event took;
  Process holder = holder_of(lock, held);
  holder.start();
  ASSERT_TRUE(held.wait(20s));
  Process waiter([lock, took]() mutable {
    lock.acquire();  // no timeout: must not hang once the holder is gone
    if (!lock.holder_died()) ringpool::this_process::exit(3);
    took.set();
    lock.release();
  });
  waiter.start();
  EXPECT_FALSE(took.wait(100ms));
  holder.kill();
  ASSERT_TRUE(took.wait(20s));
  waiter.join();
  EXPECT_EQ(waiter.exitcode(), 0);
  holder.join();
}

TEST(Lock, ReleaseRules) {
  Lock lock;
  EXPECT_THROW(lock.release(), InvalidState);
  ASSERT_TRUE(lock.acquire());
  EXPECT_TRUE(lock.locked());
  EXPECT_FALSE(lock.try_lock());  // not recursive
  EXPECT_FALSE(lock.acquire(10ms));
  // As Python's Lock, another thread (or process) may release it.
  std::thread other([&] { lock.release(); });
  other.join();
  EXPECT_FALSE(lock.locked());
  EXPECT_TRUE(lock.acquire(0ns));
  lock.release();
}

TEST(Lock, ReleasedByTheHolderWakesAWaiterInAnotherProcess) {
  Lock lock;
  Event got;
  ASSERT_TRUE(lock.acquire());
  Process waiter([lock, got]() mutable {
    lock.acquire();
    got.set();
    lock.release();
  });
  waiter.start();
  EXPECT_FALSE(got.wait(50ms));
  lock.release();
  EXPECT_TRUE(got.wait(20s));
  waiter.join();
  EXPECT_EQ(waiter.exitcode(), 0);
}

TEST(Lock, NamedCreateAndOpen) {
  const std::string name = unique_name("lock");
  Lock created = Lock::create(name);
  Lock opened = Lock::open(name);
  ASSERT_TRUE(created.acquire());
  EXPECT_TRUE(opened.locked());
  EXPECT_FALSE(opened.try_acquire());
  opened.release();
  EXPECT_FALSE(created.locked());
  EXPECT_THROW((void)RLock::open(name), InvalidArgument);  // a Lock, not an RLock
  EXPECT_EQ(created.name(), "/" + name);
}

TEST(Lock, UnlinkedWhenTheCreatorGoesAway) {
  const std::string name = unique_name("lock-unlink");
  { Lock created = Lock::create(name); }
  EXPECT_FALSE(Lock::unlink(name));
}

// Created before the pool (first use below, in the parent): fork workers inherit both.
struct Inherited {
  Lock lock;
  Value<long> counter{0, {.lock = false}};
};
Inherited& inherited() {
  static Inherited objects;
  return objects;
}

int add_under_inherited_lock(int n) {
  Inherited& objects = inherited();
  for (int i = 0; i < n; ++i) {
    std::scoped_lock hold(objects.lock);
    objects.counter.get_obj() += 1;
  }
  return n;
}

long add_under_named_lock(std::string lock_name, std::string value_name, int n) {
  Lock lock = Lock::open(lock_name);
  Value<long> value = Value<long>::open(value_name);
  for (int i = 0; i < n; ++i) {
    std::scoped_lock hold(lock);
    value.get_obj() += 1;
  }
  return 0;
}

TEST(Lock, PoolTasksUseItByInheritanceAndByName) {
  (void)inherited();
  const std::string lock_name = unique_name("pool-lock");
  const std::string value_name = unique_name("pool-value");
  Lock lock = Lock::create(lock_name);
  Value<long> value = Value<long>::create(value_name, 0, {.lock = false});
  Pool pool(2);
  EXPECT_EQ(pool.map(add_under_inherited_lock, std::vector<int>(8, 250)), std::vector<int>(8, 250));
  EXPECT_EQ(inherited().counter.value(), 8 * 250);
  std::vector<ringpool::pool::Future<long>> futures;
  for (int t = 0; t < 4; ++t) {
    futures.push_back(pool.submit(add_under_named_lock, lock_name, value_name, 500));
  }
  for (auto& f : futures) EXPECT_EQ(f.get(60s), 0);
  EXPECT_EQ(value.value(), 4 * 500);
}

TEST(RLock, RecursionAndOwnership) {
  RLock lock;
  ASSERT_TRUE(lock.acquire());
  ASSERT_TRUE(lock.acquire());  // recursive
  EXPECT_TRUE(lock.try_acquire());
  EXPECT_TRUE(lock.is_owned());
  std::thread other([&] {
    EXPECT_FALSE(lock.is_owned());
    EXPECT_FALSE(lock.try_acquire());
    EXPECT_THROW(lock.release(), InvalidState);  // only the holder may release
  });
  other.join();
  lock.release();
  lock.release();
  EXPECT_TRUE(lock.is_owned());
  lock.release();
  EXPECT_FALSE(lock.is_owned());
  EXPECT_THROW(lock.release(), InvalidState);
}

TEST(RLock, KilledHolderHandsItOverWithDepthOne) {
  RLock lock;
  Event held;
  Process holder([lock, held]() mutable {
    lock.acquire();
    lock.acquire();
    held.set();
    for (;;) ::pause();
  });
  holder.start();
  ASSERT_TRUE(held.wait(20s));
  EXPECT_FALSE(lock.acquire(20ms));
  holder.kill();
  holder.join();
  ASSERT_TRUE(lock.acquire(20s));
  EXPECT_TRUE(lock.holder_died());
  lock.release();  // depth 1: one release frees it
  EXPECT_FALSE(lock.is_owned());
  Process other([lock]() mutable {
    if (!lock.acquire(5s)) ringpool::this_process::exit(3);
    lock.release();
  });
  other.start();
  other.join();
  EXPECT_EQ(other.exitcode(), 0);
}

TEST(RLock, NamedCreateAndOpen) {
  const std::string name = unique_name("rlock");
  RLock created = RLock::create(name);
  RLock opened = RLock::open(name);
  ASSERT_TRUE(created.acquire());
  EXPECT_TRUE(opened.acquire(0ns));  // the same thread: recursive through either handle
  opened.release();
  created.release();
  EXPECT_FALSE(created.is_owned());
}

}  // namespace
