// Pool::shutdown(wait, cancel_futures) as concurrent.futures.Executor.shutdown: no more
// submissions; wait = false returns at once while tasks go on; cancel_futures cancels
// every task no worker has started, batches included.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "ringpool/pool/pool.hpp"
#include "ringpool/pool/sync.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using ringpool::pool::CancelledError;
using ringpool::pool::Closed;
using ringpool::pool::Event;
using ringpool::pool::Future;
using ringpool::pool::Pool;
using ringpool::pool::PoolOptions;
using ringpool::test::eventually;

Event* g_shutdown_gate = nullptr;  // set before the pool forks

// True when the gate opened within 20 s.
bool shutdown_gated(int) {
  return g_shutdown_gate->wait(20s);
}
int shutdown_quick(int x) {
  return x;
}

PoolOptions one_worker() {
  PoolOptions o;
  o.workers = 1;
  o.pin = false;
  return o;
}

TEST(Shutdown, WithoutWaitReturnsWhileTasksRun) {
  Event gate;
  g_shutdown_gate = &gate;
  Pool pool(one_worker());
  auto f = pool.submit(shutdown_gated, 0);
  auto g = pool.submit(shutdown_quick, 7);
  pool.shutdown(false);  // must not wait for the gate: the gate opens only after it
  EXPECT_THROW((void)pool.submit(shutdown_quick, 1), Closed);
  gate.set();
  EXPECT_TRUE(f.get());  // the gate opened while the task waited
  EXPECT_EQ(g.get(), 7);
  pool.shutdown();  // waits (join); again is harmless
  pool.shutdown(true, true);
}

TEST(Shutdown, CancelFuturesCancelsWhatNoWorkerStarted) {
  Event gate;
  g_shutdown_gate = &gate;
  Pool pool(one_worker());
  auto running = pool.submit(shutdown_gated, 0);
  ASSERT_TRUE(eventually([&] { return running.running(); }));
  std::vector<Future<int>> queued;
  for (int i = 0; i < 5; ++i) queued.push_back(pool.submit(shutdown_quick, i));
  auto batch = pool.map_async(shutdown_quick, std::vector<int>{1, 2, 3}, 1);
  // Open the gate once shutdown has cancelled the queued tasks and the batch (it waits for
  // the running one). Not before the batch: shutdown cancels one record after another, and
  // a worker freed between the two would start a chunk of the batch.
  std::thread opener([&] {
    (void)eventually([&] { return queued.back().cancelled() && batch.cancelled(); });
    gate.set();
  });
  pool.shutdown(true, true);
  opener.join();
  EXPECT_TRUE(running.get());
  EXPECT_FALSE(running.cancelled());
  for (auto& f : queued) {
    EXPECT_TRUE(f.cancelled());
    EXPECT_THROW((void)f.get(), CancelledError);
  }
  // No chunk of it had started: cancelled whole, as a single task's future.
  EXPECT_TRUE(batch.cancelled());
  EXPECT_THROW((void)batch.get(), CancelledError);
}

std::atomic<int>* g_shutdown_ran = nullptr;  // in a MAP_SHARED mapping made before the pool forks
Event* g_shutdown_started = nullptr;

// Item 0 says it started, then holds the worker until the gate opens; each item marks
// that it ran.
int shutdown_first_waits(int x) {
  if (x == 0) {
    g_shutdown_started->set();
    (void)g_shutdown_gate->wait(20s);
  }
  g_shutdown_ran[x].fetch_add(1);
  return x;
}

// A map_async batch one of whose chunks had started: its other chunks are cancelled and
// its future fails with CancelledError (its results are incomplete); it is not cancelled().
TEST(Shutdown, CancelFuturesFailsABatchThatHadStarted) {
  Event gate;
  Event started;
  g_shutdown_gate = &gate;
  g_shutdown_started = &started;
  void* shared = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(shared, MAP_FAILED);
  g_shutdown_ran = static_cast<std::atomic<int>*>(shared);
  for (int i = 0; i < 4; ++i) new (&g_shutdown_ran[i]) std::atomic<int>(0);
  {
    Pool pool(one_worker());
    auto batch = pool.map_async(shutdown_first_waits, std::vector<int>{0, 1, 2, 3}, 1);
    ASSERT_TRUE(started.wait(20s));
    pool.shutdown(false, true);  // cancels chunks 1 to 3, returns at once
    gate.set();
    pool.join();
    EXPECT_FALSE(batch.cancelled());
    EXPECT_THROW((void)batch.get(), CancelledError);
  }
  EXPECT_EQ(g_shutdown_ran[0].load(), 1);
  for (int i = 1; i < 4; ++i) EXPECT_EQ(g_shutdown_ran[i].load(), 0) << i;
  ::munmap(shared, 4096);
}

}  // namespace
