// A Future outliving its Pool (ringpool issue #10, item 7: futures must own what they wait
// on). After terminate() and the pool's destruction, a future of an unfinished task is
// finished with Closed: get(), get(timeout), wait(), done(), cancel() and error() answer
// at once, with no crash, no hang and no read of freed memory (run under ASan too). A
// future whose task finished before the pool went away keeps its value. Calls that begin
// while another thread destroys the pool, and wait() over futures of a destroyed pool and
// a live one, touch only the pool's link (PoolLink), which the futures keep alive. Suite
// FutureOutlivesPoolThreads (thread workers) also runs under ThreadSanitizer.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "ringpool/pool/errors.hpp"
#include "ringpool/pool/future.hpp"
#include "ringpool/pool/pool.hpp"
#include "ringpool/pool/wait.hpp"
#include "test_support.hpp"

namespace {
using ::ringpool::test::square;
using ::ringpool::test::unpinned_workers;

using namespace std::chrono_literals;
using ringpool::pool::Closed;
using ringpool::pool::Future;
using ringpool::pool::Pool;
using ringpool::pool::PoolOptions;
using ringpool::pool::StartMethod;

// Long enough that only terminate() ends it.
int slow(int x) {
  std::this_thread::sleep_for(30s);
  return x;
}

// Every call on a future whose pool was terminated and destroyed before its task ended.
void expect_closed_after_pool(const Future<int>& f) {
  EXPECT_TRUE(f.done());
  f.wait();  // returns at once
  EXPECT_THROW((void)f.get(), Closed);
  EXPECT_THROW((void)f.get(10ms), Closed);
  EXPECT_FALSE(f.cancel()) << "a finished future cannot be cancelled";
  EXPECT_FALSE(f.cancelled());
  EXPECT_THROW((void)f.get(), Closed) << "get() again gives the same error";
}

TEST(FutureOutlivesPool, RunningTaskFailsWithClosedAfterTerminateAndDestruction) {
  std::optional<Future<int>> f;
  {
    Pool pool(unpinned_workers(1));
    f.emplace(pool.submit(slow, 1));
    std::this_thread::sleep_for(50ms);  // usually running by now; queued is as good
    pool.terminate();
  }
  expect_closed_after_pool(*f);
}

TEST(FutureOutlivesPool, QueuedTasksFailWithClosedAfterTerminateAndDestruction) {
  std::vector<Future<int>> futures;
  {
    Pool pool(unpinned_workers(1));
    for (int i = 0; i < 8; ++i) futures.push_back(pool.submit(slow, i));  // 7 stay queued
    pool.terminate();
  }
  for (const Future<int>& f : futures) expect_closed_after_pool(f);
}

TEST(FutureOutlivesPool, BatchFutureFailsWithClosedAfterTerminateAndDestruction) {
  std::optional<Future<std::vector<int>>> all;
  {
    Pool pool(unpinned_workers(2));
    all.emplace(pool.map_async(slow, std::vector<int>{1, 2, 3, 4}));
    pool.terminate();
  }
  EXPECT_TRUE(all->done());
  EXPECT_THROW((void)all->get(), Closed);
  EXPECT_FALSE(all->cancel());
}

// A thread blocked in get() while another terminates and destroys the pool wakes with
// Closed: the future's state is not freed under it.
TEST(FutureOutlivesPool, AGetBlockedWhileThePoolIsDestroyedWakesWithClosed) {
  std::optional<Future<int>> f;
  auto pool = std::make_unique<Pool>(unpinned_workers(1));
  f.emplace(pool->submit(slow, 1));
  bool closed = false;
  std::thread waiter([&] {
    try {
      (void)f->get();
    } catch (const Closed&) {
      closed = true;
    }
  });
  std::this_thread::sleep_for(50ms);
  pool->terminate();
  pool.reset();
  waiter.join();
  EXPECT_TRUE(closed);
  expect_closed_after_pool(*f);
}

// Without terminate, destruction waits for the task (close + join): the value stays.
TEST(FutureOutlivesPool, AFinishedTasksValueOutlivesThePool) {
  std::optional<Future<int>> f;
  {
    Pool pool(unpinned_workers(1));
    f.emplace(pool.submit(square, 7));
  }
  EXPECT_TRUE(f->done());
  EXPECT_EQ(f->get(), 49);
  EXPECT_EQ(f->get(10ms), 49);
  EXPECT_FALSE(f->cancel());
}

// wait() over a finished future of a destroyed pool and a future of a live pool: the wait
// takes turns between the pools, and the destroyed one's turn must not enter its core.
TEST(FutureOutlivesPool, WaitOverADestroyedPoolsFutureAndALiveOnesReturns) {
  std::optional<Future<int>> dead;
  {
    Pool pool(unpinned_workers(1));
    dead.emplace(pool.submit(square, 3));
  }
  Pool live(unpinned_workers(1));
  std::vector<Future<int>> both{*dead, live.submit(square, 4)};
  auto [done, not_done] = ringpool::pool::wait(both);
  EXPECT_EQ(done.size(), 2u);
  EXPECT_TRUE(not_done.empty());
  EXPECT_EQ(both[0].get(), 9);
  EXPECT_EQ(both[1].get(), 16);
}

// Another thread calls done()/running()/cancel()/get() on a future while this one
// terminates and destroys its pool: each call lands before the pool's end (and may wait),
// or after it (and answers Closed), never on freed memory. Loops so that the calls start at
// every instant of the destruction; the ASan/UBSan and TSan runs are what can fail.
void race_destruction(const PoolOptions& options, int rounds) {
  int closed_seen = 0;
  for (int round = 0; round < rounds; ++round) {
    auto pool = std::make_unique<Pool>(options);
    Future<int> f = pool->submit(slow, round);
    Future<int> g = pool->submit(slow, round);  // queued behind f with one worker
    std::atomic<bool> go{false};
    std::atomic<int> outcome{0};  // 1: Closed; 2: something else
    std::thread caller([&, f, g] {
      // acquire: pairs with the release store below (start together).
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      for (;;) {
        (void)f.running();
        (void)g.cancel();  // may cancel g before the end; either answer is right
        if (f.done()) break;
        std::this_thread::yield();
      }
      try {
        (void)f.get();
        outcome.store(2);
      } catch (const Closed&) {
        outcome.store(1);
      } catch (...) {
        outcome.store(2);
      }
    });
    // release: pairs with the acquire load in the caller.
    go.store(true, std::memory_order_release);
    if (round % 2 == 0) std::this_thread::yield();
    pool->terminate();
    pool.reset();
    caller.join();
    EXPECT_EQ(outcome.load(), 1) << "round " << round;
    closed_seen += outcome.load() == 1;
    EXPECT_TRUE(g.done());
  }
  EXPECT_EQ(closed_seen, rounds);
}

TEST(FutureOutlivesPool, CallsRacingThePoolsDestructionAnswerClosed) {
  race_destruction(unpinned_workers(1), 200);
}

// A future copied into another thread and released there after the pool is gone: the last
// reference frees the state and with it the pool's link.
TEST(FutureOutlivesPool, TheLastFutureReleasedInAnotherThreadAfterThePool) {
  for (int round = 0; round < 50; ++round) {
    auto pool = std::make_unique<Pool>(unpinned_workers(1));
    Future<int> f = pool->submit(square, round);
    std::thread holder([f = std::move(f), round]() mutable {
      EXPECT_EQ(f.get(), round * round);
      std::this_thread::yield();
    });
    pool.reset();
    holder.join();
  }
}

PoolOptions thread_workers(std::size_t n) {
  PoolOptions o = unpinned_workers(n);
  o.start_method = StartMethod::thread;
  return o;
}

// Thread workers: the pool's end joins them; the same race, also under ThreadSanitizer.
// slow() would hold a worker thread for 30 s: terminate() cannot kill a thread, so the
// tasks here are short and the race is against join.
void race_destruction_threads(int rounds) {
  for (int round = 0; round < rounds; ++round) {
    auto pool = std::make_unique<Pool>(thread_workers(2));
    std::vector<Future<int>> futures;
    for (int i = 0; i < 4; ++i) futures.push_back(pool->submit(square, i));
    std::atomic<bool> go{false};
    std::atomic<int> bad{0};
    std::thread caller([&go, &bad, futures] {
      // acquire: pairs with the release store below.
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      for (std::size_t i = 0; i < futures.size(); ++i) {
        const Future<int>& f = futures[i];
        (void)f.running();
        if (f.cancel()) continue;  // cancelled before a worker took it
        try {
          if (f.get() != static_cast<int>(i * i)) bad.fetch_add(1);
        } catch (const Closed&) {
          // The pool ended first: also right.
        }
      }
    });
    // release: pairs with the acquire load in the caller.
    go.store(true, std::memory_order_release);
    pool.reset();
    caller.join();
    EXPECT_EQ(bad.load(), 0) << "round " << round;
    for (const Future<int>& f : futures) EXPECT_TRUE(f.done());
  }
}

TEST(FutureOutlivesPoolThreads, CallsRacingThePoolsDestructionAreSafe) {
  race_destruction_threads(100);
}

}  // namespace
