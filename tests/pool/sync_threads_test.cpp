// The synchronisation objects with threads of one process over one mapping, so that
// ThreadSanitizer can check their memory ordering: a plain (non-atomic) variable guarded
// by each primitive must show no data race.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "ringpool/pool/errors.hpp"
#include "ringpool/pool/shared_value.hpp"
#include "ringpool/pool/sync.hpp"

namespace {

using namespace std::chrono_literals;
using ringpool::pool::Barrier;
using ringpool::pool::BrokenBarrier;
using ringpool::pool::Condition;
using ringpool::pool::Event;
using ringpool::pool::Lock;
using ringpool::pool::RLock;
using ringpool::pool::Semaphore;
using ringpool::pool::Value;

constexpr int kThreads = 4;

template <class F>
void run_threads(int n, F f) {
  std::vector<std::thread> threads;
  for (int t = 0; t < n; ++t) threads.emplace_back(f, t);
  for (auto& t : threads) t.join();
}

TEST(SyncThreads, LockGuardsAPlainCounter) {
  Lock lock;
  long counter = 0;
  run_threads(kThreads, [&](int) {
    for (int i = 0; i < 2000; ++i) {
      std::scoped_lock hold(lock);
      ++counter;
    }
  });
  EXPECT_EQ(counter, kThreads * 2000L);
}

TEST(SyncThreads, RLockGuardsAPlainCounterRecursively) {
  RLock lock;
  long counter = 0;
  run_threads(kThreads, [&](int) {
    for (int i = 0; i < 1000; ++i) {
      std::scoped_lock outer(lock);
      std::scoped_lock inner(lock);
      ++counter;
    }
  });
  EXPECT_EQ(counter, kThreads * 1000L);
}

TEST(SyncThreads, SemaphoreBoundsTheHolders) {
  Semaphore slots(2);
  std::atomic<int> inside{0};
  std::atomic<int> most{0};
  run_threads(kThreads, [&](int) {
    for (int i = 0; i < 500; ++i) {
      slots.acquire();
      const int now = inside.fetch_add(1) + 1;
      int seen = most.load();
      while (now > seen && !most.compare_exchange_weak(seen, now)) {
      }
      inside.fetch_sub(1);
      slots.release();
    }
  });
  EXPECT_LE(most.load(), 2);
  EXPECT_EQ(slots.value_approx(), 2U);
}

TEST(SyncThreads, EventPublishesWhatWasWrittenBeforeSet) {
  Event event;
  int payload = 0;
  std::vector<int> seen(kThreads, 0);
  std::thread setter([&] {
    payload = 42;
    event.set();
  });
  run_threads(kThreads, [&](int t) {
    if (event.wait(20s)) seen[static_cast<std::size_t>(t)] = payload;
  });
  setter.join();
  for (int s : seen) EXPECT_EQ(s, 42);
}

TEST(SyncThreads, ConditionProducerConsumer) {
  Condition cond;
  std::vector<int> items;  // guarded by cond's lock
  bool done = false;
  long sum = 0;
  std::thread consumer([&] {
    std::unique_lock hold(cond);
    for (;;) {
      (void)cond.wait_for([&] { return !items.empty() || done; }, 20s);
      if (items.empty() && done) break;
      if (items.empty()) continue;
      sum += items.back();
      items.pop_back();
    }
  });
  for (int i = 1; i <= 1000; ++i) {
    std::scoped_lock hold(cond);
    items.push_back(i);
    cond.notify();
  }
  {
    std::scoped_lock hold(cond);
    done = true;
    cond.notify_all();
  }
  consumer.join();
  EXPECT_EQ(sum, 1000L * 1001 / 2);
}

TEST(SyncThreads, BarrierCyclesAndAction) {
  int actions = 0;  // written by the action only, between cycles
  Barrier barrier(kThreads, [&] { ++actions; });
  std::vector<int> counts(kThreads, 0);  // one slot per arrival index, written by its holder
  std::mutex counts_mutex;
  run_threads(kThreads, [&](int) {
    for (int c = 0; c < 50; ++c) {
      const std::size_t index = barrier.wait(20s);
      std::scoped_lock hold(counts_mutex);
      counts[index] += 1;
    }
  });
  EXPECT_EQ(actions, 50);
  for (int c : counts) EXPECT_EQ(c, 50);
}

TEST(SyncThreads, BarrierActionThatThrowsBreaksIt) {
  Barrier barrier(2, [] { throw std::runtime_error("action failed"); });
  std::atomic<int> action_errors{0};
  std::atomic<int> broken{0};
  run_threads(2, [&](int) {
    try {
      (void)barrier.wait(20s);
    } catch (const BrokenBarrier&) {
      broken.fetch_add(1);
    } catch (const std::runtime_error&) {
      action_errors.fetch_add(1);
    }
  });
  EXPECT_EQ(action_errors.load(), 1);
  EXPECT_EQ(broken.load(), 1);
  EXPECT_TRUE(barrier.broken());
}

TEST(SyncThreads, ValueIncrementsUnderItsLock) {
  Value<long> counter(0);
  run_threads(kThreads, [&](int) {
    for (int i = 0; i < 1000; ++i) {
      std::scoped_lock hold(counter.get_lock());
      counter.get_obj() += 1;
    }
  });
  EXPECT_EQ(counter.value(), kThreads * 1000L);
}

}  // namespace
