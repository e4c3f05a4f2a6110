// Future::cancel(), cancelled(), running(), done(), exception(timeout): a task no worker has
// started is cancelled (never runs, its future completes as cancelled); a running or
// finished one is not; cancel racing a worker decides each task exactly one way. Suite
// CancelThreads (thread workers, one process) also runs under ThreadSanitizer.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "ringpool/pool/pool.hpp"
#include "ringpool/pool/sync.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using ringpool::pool::CancelledError;
using ringpool::pool::Event;
using ringpool::pool::Future;
using ringpool::pool::Pool;
using ringpool::pool::PoolOptions;
using ringpool::pool::StartMethod;
using ringpool::pool::Timeout;
using ringpool::pool::WaitMode;
using ringpool::test::eventually;

// Flags in a MAP_SHARED mapping made before the pool forks: a task marks that it ran.
class RanFlags {
 public:
  explicit RanFlags(std::size_t n) : n_(n) {
    void* p = ::mmap(nullptr, n * sizeof(std::atomic<int>), PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::runtime_error("mmap failed");
    flags_ = static_cast<std::atomic<int>*>(p);
    for (std::size_t i = 0; i < n; ++i) new (&flags_[i]) std::atomic<int>(0);
  }
  RanFlags(const RanFlags&) = delete;
  RanFlags& operator=(const RanFlags&) = delete;
  ~RanFlags() { ::munmap(flags_, n_ * sizeof(std::atomic<int>)); }
  std::atomic<int>& operator[](std::size_t i) { return flags_[i]; }

 private:
  std::size_t n_;
  std::atomic<int>* flags_ = nullptr;
};

// Set before each pool starts (fork copies them; thread workers share them).
Event* g_cancel_gate = nullptr;
RanFlags* g_cancel_ran = nullptr;

int cancel_gated(int x) {
  (void)g_cancel_gate->wait(20s);
  (*g_cancel_ran)[static_cast<std::size_t>(x)].fetch_add(1);
  return x;
}
int mark(int x) {
  (*g_cancel_ran)[static_cast<std::size_t>(x)].fetch_add(1);
  return x;
}
int cancel_fails(int x) {
  throw std::invalid_argument("bad " + std::to_string(x));
}

PoolOptions options(std::size_t workers, StartMethod start, WaitMode wait) {
  PoolOptions o;
  o.workers = workers;
  o.start_method = start;
  o.wait = wait;
  o.pin = false;
  return o;
}

struct Fixture {
  Event gate;
  RanFlags ran{4096};
  Fixture() {
    g_cancel_gate = &gate;
    g_cancel_ran = &ran;
  }
};

TEST(Cancel, QueuedTaskNeverRunsAndItsFutureIsCancelled) {
  Fixture fx;
  Pool pool(options(1, StartMethod::fork, WaitMode::block));
  auto first = pool.submit(cancel_gated, 0);  // holds the only worker
  ASSERT_TRUE(eventually([&] { return first.running(); }));
  auto queued = pool.submit(mark, 1);
  auto after = pool.submit(mark, 2);
  EXPECT_FALSE(queued.running());
  EXPECT_FALSE(queued.done());

  std::atomic<int> callbacks{0};
  std::atomic<bool> saw_cancelled{false};
  queued.add_done_callback([&](const Future<int>& f) {
    saw_cancelled = f.cancelled();
    ++callbacks;
  });
  EXPECT_TRUE(queued.cancel());
  EXPECT_TRUE(queued.cancel());  // again: still cancelled (as Python)
  EXPECT_TRUE(queued.cancelled());
  EXPECT_TRUE(queued.done());
  EXPECT_FALSE(queued.running());
  EXPECT_EQ(callbacks.load(), 1);
  EXPECT_TRUE(saw_cancelled.load());
  EXPECT_THROW((void)queued.get(), CancelledError);
  EXPECT_THROW((void)queued.exception(), CancelledError);
  EXPECT_THROW((void)queued.exception(1s), CancelledError);

  fx.gate.set();
  EXPECT_EQ(first.get(), 0);
  EXPECT_EQ(after.get(), 2);
  pool.close();
  pool.join();  // the worker has passed the cancelled message
  EXPECT_EQ(fx.ran[1].load(), 0);
  EXPECT_EQ(fx.ran[2].load(), 1);
}

TEST(Cancel, RunningOrFinishedTaskIsNotCancelled) {
  Fixture fx;
  Pool pool(options(1, StartMethod::fork, WaitMode::block));
  auto running = pool.submit(cancel_gated, 0);
  ASSERT_TRUE(eventually([&] { return running.running(); }));
  EXPECT_FALSE(running.cancel());
  EXPECT_FALSE(running.cancelled());
  EXPECT_THROW((void)running.exception(20ms), Timeout);  // still usable after
  fx.gate.set();
  EXPECT_EQ(running.get(), 0);
  EXPECT_FALSE(running.running());
  EXPECT_FALSE(running.cancel());
  EXPECT_FALSE(running.cancelled());
  EXPECT_EQ(running.exception(), nullptr);

  auto failed = pool.submit(cancel_fails, 3);
  failed.wait();
  EXPECT_FALSE(failed.cancel());
  EXPECT_NE(failed.exception(1s), nullptr);
  EXPECT_THROW((void)failed.get(), std::invalid_argument);
}

TEST(Cancel, ContinuationsAndEmptyFutures) {
  Fixture fx;
  Pool pool(options(1, StartMethod::fork, WaitMode::block));
  auto first = pool.submit(cancel_gated, 0);
  auto queued = pool.submit(mark, 1);
  auto next = queued.then([](int v) { return v + 1; });
  EXPECT_FALSE(next.cancel());  // stands for no task of its own
  EXPECT_TRUE(queued.cancel());
  EXPECT_THROW((void)next.get(), CancelledError);  // the error travels on
  EXPECT_FALSE(next.cancelled());
  fx.gate.set();
  EXPECT_EQ(first.get(), 0);
  EXPECT_THROW((void)Future<int>().cancel(), ringpool::pool::InvalidState);
}

// Many submits each raced by an immediate cancel(): exactly one of "ran" and
// "cancel() == true" per task, never both, never neither.
void race(StartMethod start, WaitMode wait, int rounds) {
  Fixture fx;
  std::vector<int> won(static_cast<std::size_t>(rounds), 0);
  {
    Pool pool(options(2, start, wait));
    std::vector<Future<int>> futures;
    std::mt19937 rng(12345);
    for (int i = 0; i < rounds; ++i) {
      // 0 to 40 us between submit and cancel: around a worker's pop latency here, so that both
      // outcomes occur (the counts are printed; only exclusivity is asserted).
      const auto delay = std::chrono::nanoseconds(rng() % 40000);
      futures.push_back(pool.submit(mark, i));
      const auto t0 = std::chrono::steady_clock::now();
      while (std::chrono::steady_clock::now() - t0 < delay) {
      }
      won[static_cast<std::size_t>(i)] = futures.back().cancel() ? 1 : 0;
    }
    int cancelled = 0;
    for (int i = 0; i < rounds; ++i) {
      const auto& f = futures[static_cast<std::size_t>(i)];
      if (won[static_cast<std::size_t>(i)] != 0) {
        ++cancelled;
        EXPECT_TRUE(f.cancelled());
        EXPECT_THROW((void)f.get(), CancelledError);
      } else {
        EXPECT_EQ(f.get(), i);
        EXPECT_FALSE(f.cancelled());
      }
    }
    pool.close();
    pool.join();  // every message was popped: skipped or run
    std::printf("cancel race: %d of %d cancelled before a worker started them\n", cancelled,
                rounds);
  }
  for (int i = 0; i < rounds; ++i) {
    const int ran = fx.ran[static_cast<std::size_t>(i)].load();
    ASSERT_EQ(ran + won[static_cast<std::size_t>(i)], 1)
        << "task " << i << ": ran " << ran << " time(s), cancel() returned "
        << (won[static_cast<std::size_t>(i)] != 0);
  }
}

TEST(Cancel, RacingAWorkerDecidesEachTaskOnceSpin) {
  race(StartMethod::fork, WaitMode::spin, 4000);
}
TEST(Cancel, RacingAWorkerDecidesEachTaskOnceBlock) {
  race(StartMethod::fork, WaitMode::block, 4000);
}

TEST(CancelThreads, RacingAWorkerDecidesEachTaskOnce) {
  race(StartMethod::thread, WaitMode::spin, 2000);
}

// map_async batches each raced by cancel(): the whole batch or nothing. cancel() == true:
// the future is cancelled and none of its items ran; false: every result arrives and every
// item ran once.
void race_batches(StartMethod start, WaitMode wait, int rounds) {
  constexpr int kItems = 4;
  Fixture fx;
  std::vector<int> won(static_cast<std::size_t>(rounds), 0);
  {
    Pool pool(options(2, start, wait));
    std::vector<Future<std::vector<int>>> futures;
    std::mt19937 rng(54321);
    for (int i = 0; i < rounds; ++i) {
      std::vector<int> in;
      for (int k = 0; k < kItems; ++k) in.push_back(i * kItems + k);
      const auto delay = std::chrono::nanoseconds(rng() % 40000);
      // Chunks of 1 or 2 items: to the shared ring or to the workers' own rings.
      futures.push_back(pool.map_async(mark, in, 1 + rng() % 2));
      const auto t0 = std::chrono::steady_clock::now();
      while (std::chrono::steady_clock::now() - t0 < delay) {
      }
      won[static_cast<std::size_t>(i)] = futures.back().cancel() ? 1 : 0;
    }
    int cancelled = 0;
    for (int i = 0; i < rounds; ++i) {
      const auto& f = futures[static_cast<std::size_t>(i)];
      if (won[static_cast<std::size_t>(i)] != 0) {
        ++cancelled;
        EXPECT_TRUE(f.cancelled());
        EXPECT_THROW((void)f.get(), CancelledError);
      } else {
        std::vector<int> want;
        for (int k = 0; k < kItems; ++k) want.push_back(i * kItems + k);
        EXPECT_EQ(f.get(20s), want);  // a lost chunk fails here instead of hanging
      }
    }
    pool.close();
    pool.join();
    std::printf("batch cancel race: %d of %d batches cancelled whole\n", cancelled, rounds);
  }
  for (int i = 0; i < rounds; ++i) {
    for (int k = 0; k < kItems; ++k) {
      const int ran = fx.ran[static_cast<std::size_t>(i * kItems + k)].load();
      ASSERT_EQ(ran, 1 - won[static_cast<std::size_t>(i)])
          << "batch " << i << " item " << k << ": ran " << ran << " time(s), cancel() returned "
          << (won[static_cast<std::size_t>(i)] != 0);
    }
  }
}

TEST(Cancel, MapAsyncRacingWorkersIsCancelledWholeOrNotAtAllSpin) {
  race_batches(StartMethod::fork, WaitMode::spin, 1000);
}
TEST(Cancel, MapAsyncRacingWorkersIsCancelledWholeOrNotAtAllBlock) {
  race_batches(StartMethod::fork, WaitMode::block, 1000);
}
TEST(CancelThreads, MapAsyncRacingWorkersIsCancelledWholeOrNotAtAll) {
  race_batches(StartMethod::thread, WaitMode::spin, 500);
}

// The other new calls with thread workers, so that ThreadSanitizer sees them race with the
// collector: map_async's sink completed by whichever side comes last, wait/as_completed
// over futures settled by other threads, imap next(timeout), shutdown(cancel_futures).
TEST(CancelThreads, MapAsyncWaitAsCompletedImapNextAndShutdown) {
  Fixture fx;
  Pool pool(options(2, StartMethod::thread, WaitMode::block));
  std::vector<int> in(300);
  for (int i = 0; i < 300; ++i) in[static_cast<std::size_t>(i)] = i;
  std::atomic<int> callback_sum{0};
  auto batch = pool.map_async(mark, in, 7, [&](const std::vector<int>& v) {
    int sum = 0;
    for (int x : v) sum += x;
    callback_sum = sum;
  });
  std::vector<Future<int>> fs;
  for (int i = 300; i < 340; ++i) fs.push_back(pool.submit(mark, i));
  auto [done, not_done] = ringpool::pool::wait(fs, 20s);
  EXPECT_EQ(done.size(), fs.size());
  int seen = 0;
  for (const auto& f : ringpool::pool::as_completed(fs, 20s)) seen += f.get() >= 300 ? 1 : 0;
  EXPECT_EQ(seen, 40);
  EXPECT_EQ(batch.get().size(), 300U);
  EXPECT_TRUE(eventually([&] { return callback_sum.load() == 299 * 300 / 2; }));
  auto it = pool.imap(mark, std::vector<int>{340, 341});
  EXPECT_EQ(it.next(20s), std::optional<int>(340));
  EXPECT_EQ(it.next(20s), std::optional<int>(341));
  EXPECT_EQ(it.next(20s), std::nullopt);

  auto held = pool.submit(cancel_gated, 342);
  auto held2 = pool.submit(cancel_gated, 343);
  ASSERT_TRUE(eventually([&] { return held.running() && held2.running(); }));
  std::vector<Future<int>> queued;
  for (int i = 344; i < 360; ++i) queued.push_back(pool.submit(mark, i));
  std::thread opener([&] {
    (void)eventually([&] { return queued.back().done(); });
    fx.gate.set();
  });
  pool.shutdown(true, true);
  opener.join();
  EXPECT_EQ(held.get(), 342);
  EXPECT_EQ(held2.get(), 343);
  // Each either ran or was cancelled, never both (both workers were held: all cancelled).
  for (int i = 344; i < 360; ++i) {
    const auto& f = queued[static_cast<std::size_t>(i - 344)];
    EXPECT_EQ(fx.ran[static_cast<std::size_t>(i)].load() + (f.cancelled() ? 1 : 0), 1) << i;
  }
}

TEST(Cancel, TaskRerunAfterItsWorkerDiedIsNotCancelled) {
  // A task whose worker died while running it started once: cancel() refuses it even
  // while it waits for the replacement worker.
  Fixture fx;
  PoolOptions o = options(1, StartMethod::fork, WaitMode::block);
  o.retries = 1;
  Pool pool(o);
  auto f = pool.submit(cancel_gated, 0);
  ASSERT_TRUE(eventually([&] { return f.running(); }));
  const auto pid = pool.worker_pid(0);
  ASSERT_TRUE(pid.has_value());
  ASSERT_GT(*pid, 0);
  ASSERT_EQ(::kill(*pid, SIGKILL), 0);
  ASSERT_TRUE(eventually([&] { return pool.stats().retried == 1; }));
  EXPECT_FALSE(f.cancel());
  fx.gate.set();
  EXPECT_EQ(f.get(), 0);
}

TEST(Cancel, QueuedTasksOfADeadWorkerAreRequeuedAndStayCancellable) {
  // The worker dies while tasks wait in its ring: the parent takes them back (a backlog
  // until the replacement runs). One cancelled before the death never runs; one cancelled
  // after it is decided by the same agreement; the others run on the replacement.
  Fixture fx;
  Pool pool(options(1, StartMethod::fork, WaitMode::block));
  auto held = pool.submit(cancel_gated, 0);
  ASSERT_TRUE(eventually([&] { return held.running(); }));
  auto runs = pool.submit(mark, 1);
  auto cancelled_before = pool.submit(mark, 2);
  auto cancelled_after = pool.submit(mark, 3);
  ASSERT_TRUE(cancelled_before.cancel());
  const auto pid = pool.worker_pid(0);
  ASSERT_TRUE(pid.has_value());
  ASSERT_GT(*pid, 0);
  ASSERT_EQ(::kill(*pid, SIGKILL), 0);
  EXPECT_THROW((void)held.get(), ringpool::pool::WorkerLost);  // collected with the death
  const bool won = cancelled_after.cancel();
  EXPECT_EQ(runs.get(), 1);
  if (won) {
    EXPECT_THROW((void)cancelled_after.get(), CancelledError);
  } else {
    EXPECT_EQ(cancelled_after.get(), 3);
  }
  pool.close();
  pool.join();
  EXPECT_EQ(fx.ran[1].load(), 1);
  EXPECT_EQ(fx.ran[2].load(), 0);
  EXPECT_EQ(fx.ran[3].load(), won ? 0 : 1);
}

}  // namespace
