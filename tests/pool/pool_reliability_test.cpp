// A pool never hangs without a deadline the user chose (issue #10 items 1 and 2):
// - when no worker can run (every one keeps failing in its initializer) the pool is broken:
//   pending and new tasks fail with PoolBroken, close()/join() and the destructor return;
// - join() lets every worker finish its initializer and exit by message (it used to
//   SIGKILL them when the supervisor thread, which forked them, stopped first);
// - a kill every ~2 ms during imap_unordered does not retire the workers for good.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <new>
#include <numeric>
#include <optional>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "kill_storm.hpp"
#include "ringpool/pool/pool.hpp"
#include "test_support.hpp"

namespace {
using ::ringpool::test::square;

using namespace std::chrono_literals;
using ringpool::pool::Outcome;
using ringpool::pool::Pool;
using ringpool::pool::PoolBroken;
using ringpool::pool::PoolOptions;
using ringpool::pool::WorkerLost;

// A few microseconds of work, so that kills land mid-task, mid-pop and mid-push.
std::int64_t busy_square(int x) {
  volatile std::uint64_t acc = static_cast<std::uint64_t>(x);
  for (int i = 0; i < 3000; ++i) acc = acc * 6364136223846793005ULL + 1442695040888963407ULL;
  (void)acc;
  return std::int64_t{x} * x;  // 199999 squared does not fit an int
}

// Counts initializer runs across the forked workers.
std::atomic<int>* init_runs() {
  static std::atomic<int>* runs = [] {
    void* p = mmap(nullptr, sizeof(std::atomic<int>), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) std::abort();
    return new (p) std::atomic<int>(0);
  }();
  return runs;
}

TEST(PoolBroken, EveryWorkerFailingItsInitializerFailsTasksInsteadOfHanging) {
  PoolOptions o;
  o.workers = 3;
  o.initializer = [] { throw std::runtime_error("cannot open the model file"); };
  Pool pool(o);
  auto f = pool.submit(square, 7);
  try {
    (void)f.get(60s);  // a deadline only so that a regression fails instead of hanging
    FAIL() << "expected PoolBroken";
  } catch (const PoolBroken& e) {
    EXPECT_NE(std::string(e.what()).find("initializer"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)pool.submit(square, 8), PoolBroken);
  EXPECT_THROW((void)pool.map(square, std::vector<int>(100, 2)), PoolBroken);
  EXPECT_TRUE(pool.worker_pids().empty());
  pool.close();
  pool.join();
}

TEST(PoolBroken, TheDestructorOfABrokenPoolReturns) {
  PoolOptions o;
  o.workers = 2;
  o.initializer = [] { std::exit(3); };
  auto done = std::async(std::launch::async, [&] {
    Pool pool(o);
    auto f = pool.submit(square, 2);
    EXPECT_THROW((void)f.get(), PoolBroken);
  });
  ASSERT_EQ(done.wait_for(120s), std::future_status::ready) << "~Pool of a broken pool hangs";
}

TEST(PoolJoin, WorkersFinishTheirInitializerBeforeJoinReturns) {
  init_runs()->store(0);
  PoolOptions o;
  o.workers = 2;
  o.initializer = [] {
    std::this_thread::sleep_for(100ms);
    init_runs()->fetch_add(1);
  };
  for (int round = 0; round < 3; ++round) {
    init_runs()->store(0);
    {
      Pool pool(o);
      pool.close();
      pool.join();
      EXPECT_EQ(pool.stats().workers_lost, 0u) << "join killed a worker";
    }
    EXPECT_EQ(init_runs()->load(), 2) << "round " << round;
  }
}

TEST(PoolKills, KillsEvery20msDuringMapWithRetriesLoseNothing) {
  PoolOptions o;
  o.workers = 2;
  o.retries = 1000;
  Pool pool(o);
  ringpool::test::KillStorm storm(pool, 20ms, 20);
  std::vector<int> in(200000 / ringpool::test::kStormScale);
  std::iota(in.begin(), in.end(), 0);
  const auto out = pool.map(busy_square, in, 16);
  const int kills = storm.stop();
  std::size_t right = 0;
  for (std::size_t i = 0; i < in.size(); ++i)
    right += out[i] == std::int64_t{in[i]} * in[i] ? 1 : 0;
  EXPECT_EQ(right, in.size());
  std::printf(
      "[ campaign ] fork pool map %zu items, kill every 20 ms: %d kills, %zu of %zu "
      "results correct\n",
      in.size(), kills, right, in.size());
}

TEST(PoolKills, KillsEveryTwoMillisecondsDuringImapUnorderedDoNotStopThePool) {
  PoolOptions o;
  o.workers = 2;
  o.retries = 1000;  // every item must come back
  Pool pool(o);
  ringpool::test::KillStorm storm(pool, 2ms, 2026);
  std::vector<int> in(30000 / ringpool::test::kStormScale);
  std::iota(in.begin(), in.end(), 0);
  auto run = std::async(std::launch::async, [&] {
    long long sum = 0;
    std::size_t n = 0;
    for (int r : pool.imap_unordered(square, in)) {
      sum += r;
      ++n;
    }
    return std::make_pair(n, sum);
  });
  const bool finished = run.wait_for(300s) == std::future_status::ready;
  const int kills = storm.stop();
  ASSERT_TRUE(finished) << "imap_unordered stuck after " << kills << " kills";
  const auto [n, sum] = run.get();
  long long want = 0;
  for (int x : in) want += static_cast<long long>(x) * x;
  EXPECT_EQ(n, in.size());
  EXPECT_EQ(sum, want);
  std::printf(
      "[ campaign ] imap_unordered %zu items, kill every 2 ms: %d kills, %zu of %zu "
      "results, %s\n",
      in.size(), kills, n, in.size(), sum == want ? "all correct" : "WRONG");
}

}  // namespace
