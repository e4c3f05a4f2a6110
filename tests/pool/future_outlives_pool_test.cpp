// A Future outliving its Pool (ringpool issue #10, item 7: futures must own what they wait
// on). After terminate() and the pool's destruction, a future of an unfinished task is
// finished with Closed: get(), get(timeout), wait(), done(), cancel() and error() answer
// at once, with no crash, no hang and no read of freed memory (run under ASan too). A
// future whose task finished before the pool went away keeps its value.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "ringpool/pool/errors.hpp"
#include "ringpool/pool/future.hpp"
#include "ringpool/pool/pool.hpp"

namespace {

using namespace std::chrono_literals;
using ringpool::pool::Closed;
using ringpool::pool::Future;
using ringpool::pool::Pool;
using ringpool::pool::PoolOptions;

// Long enough that only terminate() ends it.
int slow(int x) {
  std::this_thread::sleep_for(30s);
  return x;
}
int square(int x) {
  return x * x;
}

PoolOptions workers(std::size_t n) {
  PoolOptions o;
  o.workers = n;
  o.pin = false;
  return o;
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
    Pool pool(workers(1));
    f.emplace(pool.submit(slow, 1));
    std::this_thread::sleep_for(50ms);  // usually running by now; queued is as good
    pool.terminate();
  }
  expect_closed_after_pool(*f);
}

TEST(FutureOutlivesPool, QueuedTasksFailWithClosedAfterTerminateAndDestruction) {
  std::vector<Future<int>> futures;
  {
    Pool pool(workers(1));
    for (int i = 0; i < 8; ++i) futures.push_back(pool.submit(slow, i));  // 7 stay queued
    pool.terminate();
  }
  for (const Future<int>& f : futures) expect_closed_after_pool(f);
}

TEST(FutureOutlivesPool, BatchFutureFailsWithClosedAfterTerminateAndDestruction) {
  std::optional<Future<std::vector<int>>> all;
  {
    Pool pool(workers(2));
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
  auto pool = std::make_unique<Pool>(workers(1));
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
    Pool pool(workers(1));
    f.emplace(pool.submit(square, 7));
  }
  EXPECT_TRUE(f->done());
  EXPECT_EQ(f->get(), 49);
  EXPECT_EQ(f->get(10ms), 49);
  EXPECT_FALSE(f->cancel());
}

}  // namespace
