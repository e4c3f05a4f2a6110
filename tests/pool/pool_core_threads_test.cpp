// The pool core with thread workers (StartMethod::thread): the same dispatcher, rings,
// worker loop, result collector, task table and supervisor as a process pool, in one
// process, so that ThreadSanitizer can race-check them (label tsan). Several submitting
// threads, both wait modes, both paths, batches, callbacks, a broken pool and shutdown.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "ringpool/pool/pool.hpp"
#include "test_support.hpp"

namespace {
using ::ringpool::test::square;

using namespace std::chrono_literals;
using ringpool::pool::Closed;
using ringpool::pool::Path;
using ringpool::pool::Pool;
using ringpool::pool::PoolBroken;
using ringpool::pool::PoolOptions;
using ringpool::pool::StartMethod;
using ringpool::pool::WaitMode;

int fails_on_7(int x) {
  if (x == 7) throw std::invalid_argument("seven");
  return x;
}
std::string echo(std::string s) {
  return s;
}

PoolOptions threads(std::size_t workers, WaitMode wait) {
  PoolOptions o;
  o.workers = workers;
  o.wait = wait;
  o.start_method = StartMethod::thread;
  o.ring_depth = 8;  // small rings: full rings and backlogs get exercised
  return o;
}

class ThreadPoolCore : public ::testing::TestWithParam<WaitMode> {};

TEST_P(ThreadPoolCore, SubmitFromSeveralThreadsEveryResultOnce) {
  Pool pool(threads(2, GetParam()));
  constexpr int kPerThread = 2000;
  std::vector<std::thread> submitters;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 3; ++t) {
    submitters.emplace_back([&, t] {
      std::vector<ringpool::pool::Future<int>> fs;
      for (int i = 0; i < kPerThread; ++i) fs.push_back(pool.submit(square, t * kPerThread + i));
      for (int i = 0; i < kPerThread; ++i) {
        const int x = t * kPerThread + i;
        if (fs[static_cast<std::size_t>(i)].get() != x * x) ++wrong;
      }
    });
  }
  for (auto& s : submitters) s.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(pool.stats().tasks_sent, 3u * kPerThread);
  EXPECT_TRUE(pool.worker_pids().empty());  // threads have no pids of their own
}

TEST_P(ThreadPoolCore, MapTakesBothPathsAndKeepsOrder) {
  Pool pool(threads(2, GetParam()));
  EXPECT_EQ(pool.map(square, std::vector<int>{3, 4}), (std::vector<int>{9, 16}));
  EXPECT_EQ(pool.last_plan().path, Path::parallel_spsc);
  std::vector<int> in(5000);
  std::iota(in.begin(), in.end(), 0);
  const auto out = pool.map(square, in, 3);
  EXPECT_EQ(pool.last_plan().path, Path::concurrent_mpmc);
  ASSERT_EQ(out.size(), in.size());
  for (std::size_t i = 0; i < in.size(); ++i) ASSERT_EQ(out[i], in[i] * in[i]) << i;
}

TEST_P(ThreadPoolCore, ImapUnorderedDeliversEveryItemOnce) {
  Pool pool(threads(2, GetParam()));
  std::vector<int> in(3000);
  std::iota(in.begin(), in.end(), 0);
  std::vector<int> seen;
  for (int r : pool.imap_unordered(square, in)) seen.push_back(r);
  std::sort(seen.begin(), seen.end());
  std::vector<int> want;
  for (int x : in) want.push_back(x * x);
  std::sort(want.begin(), want.end());
  EXPECT_EQ(seen, want);
}

TEST_P(ThreadPoolCore, ErrorsAndLargeValuesTravel) {
  Pool pool(threads(2, GetParam()));
  const auto outcomes = pool.map_outcomes(fails_on_7, std::vector<int>{5, 6, 7, 8});
  ASSERT_EQ(outcomes.size(), 4u);
  EXPECT_TRUE(outcomes[0].ok());
  EXPECT_FALSE(outcomes[2].ok());
  EXPECT_THROW((void)outcomes[2].value(), std::invalid_argument);
  const std::string big(8000, 'x');
  EXPECT_EQ(pool.apply(echo, big), big);
}

TEST_P(ThreadPoolCore, CallbacksRunOnceAndMaySubmit) {
  Pool pool(threads(2, GetParam()));
  std::atomic<int> calls{0};
  std::vector<ringpool::pool::Future<int>> chained(100);
  std::vector<ringpool::pool::Future<int>> fs;
  for (int i = 0; i < 100; ++i) {
    fs.push_back(pool.submit(square, i));
    fs.back().add_done_callback([&calls](const ringpool::pool::Future<int>&) { ++calls; });
  }
  for (auto& f : fs) (void)f.get();
  auto g = fs[3].then([](int v) { return v + 1; });
  EXPECT_EQ(g.get(), 10);
  pool.close();
  pool.join();
  EXPECT_EQ(calls.load(), 100);
}

TEST_P(ThreadPoolCore, TerminateFailsWhatIsQueued) {
  Pool pool(threads(1, GetParam()));
  std::vector<ringpool::pool::Future<int>> fs;
  for (int i = 0; i < 200; ++i) fs.push_back(pool.submit(square, i));
  pool.terminate();
  for (auto& f : fs) {
    ASSERT_TRUE(f.ready());
    if (!f.successful()) {
      EXPECT_THROW((void)f.get(), Closed);
    }
  }
  EXPECT_THROW((void)pool.submit(square, 1), Closed);
}

TEST_P(ThreadPoolCore, InitializerThatAlwaysFailsBreaksThePoolWithoutHanging) {
  PoolOptions o = threads(2, GetParam());
  o.initializer = [] { throw std::runtime_error("no database"); };
  Pool pool(o);
  auto f = pool.submit(square, 3);
  EXPECT_THROW((void)f.get(), PoolBroken);
  EXPECT_THROW((void)pool.submit(square, 4), PoolBroken);
  EXPECT_THROW((void)pool.map(square, std::vector<int>(50, 1)), PoolBroken);
  pool.close();
  pool.join();  // returns: nothing is left to wait for
}

INSTANTIATE_TEST_SUITE_P(WaitModes, ThreadPoolCore,
                         ::testing::Values(WaitMode::block, WaitMode::spin),
                         [](const ::testing::TestParamInfo<WaitMode>& p) {
                           return p.param == WaitMode::block ? std::string("block")
                                                             : std::string("spin");
                         });

}  // namespace
