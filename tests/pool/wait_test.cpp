// wait(futures, timeout, ReturnWhen) and as_completed(futures, timeout): which futures are
// done when each condition is met, completion order, timeouts, futures of several pools.
#include "ringpool/pool/wait.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <vector>

#include "ringpool/pool/pool.hpp"
#include "ringpool/pool/sync.hpp"

namespace {

using namespace std::chrono_literals;
using ringpool::pool::as_completed;
using ringpool::pool::Event;
using ringpool::pool::Future;
using ringpool::pool::InvalidState;
using ringpool::pool::Pool;
using ringpool::pool::PoolOptions;
using ringpool::pool::ReturnWhen;
using ringpool::pool::Timeout;
using ringpool::pool::wait;

// Set before each pool forks.
Event* g_wait_gate = nullptr;

int wait_gated(int x) {
  (void)g_wait_gate->wait(20s);
  return x;
}
int wait_quick(int x) {
  return x;
}
int wait_fails(int x) {
  throw std::invalid_argument("bad " + std::to_string(x));
}

Pool two_workers() {
  PoolOptions o;
  o.workers = 2;  // a gated task holds one; the other runs the rest
  o.pin = false;
  return Pool(o);
}

std::vector<int> values(const std::vector<Future<int>>& fs) {
  std::vector<int> out;
  for (const auto& f : fs) out.push_back(f.get());
  return out;
}

TEST(Wait, AllCompleted) {
  Pool pool(2);
  std::vector<Future<int>> fs;
  for (int i = 0; i < 20; ++i) fs.push_back(pool.submit(wait_quick, i));
  auto [done, not_done] = wait(fs);
  EXPECT_EQ(done.size(), 20U);
  EXPECT_TRUE(not_done.empty());
  EXPECT_EQ(values(done)[19], 19);  // input order
}

TEST(Wait, FirstCompletedReturnsWhileAnotherRuns) {
  Event gate;
  g_wait_gate = &gate;
  Pool pool = two_workers();
  std::vector<Future<int>> fs{pool.submit(wait_gated, 1), pool.submit(wait_quick, 2)};
  auto [done, not_done] = wait(fs, 20s, ReturnWhen::first_completed);
  ASSERT_EQ(done.size(), 1U);
  EXPECT_EQ(done[0].get(), 2);
  ASSERT_EQ(not_done.size(), 1U);
  EXPECT_FALSE(not_done[0].done());
  gate.set();
  EXPECT_EQ(not_done[0].get(), 1);
}

TEST(Wait, FirstExceptionReturnsOnAFailureAndOtherwiseWaitsForAll) {
  Event gate;
  g_wait_gate = &gate;
  Pool pool = two_workers();
  std::vector<Future<int>> fs{pool.submit(wait_gated, 1), pool.submit(wait_fails, 2)};
  auto [done, not_done] = wait(fs, 20s, ReturnWhen::first_exception);
  ASSERT_EQ(done.size(), 1U);
  EXPECT_THROW((void)done[0].get(), std::invalid_argument);
  ASSERT_EQ(not_done.size(), 1U);
  gate.set();
  EXPECT_EQ(not_done[0].get(), 1);

  std::vector<Future<int>> ok{pool.submit(wait_quick, 3), pool.submit(wait_quick, 4)};
  auto all = wait(ok, 20s, ReturnWhen::first_exception);
  EXPECT_EQ(all.done.size(), 2U);
  EXPECT_TRUE(all.not_done.empty());
}

TEST(Wait, FirstExceptionDoesNotCountACancelledFuture) {
  Event gate;
  g_wait_gate = &gate;
  PoolOptions o;
  o.workers = 1;
  o.pin = false;
  Pool pool(o);
  auto running = pool.submit(wait_gated, 1);
  auto queued = pool.submit(wait_quick, 2);
  ASSERT_TRUE(queued.cancel());
  std::vector<Future<int>> fs{running, queued};
  auto [done, not_done] = wait(fs, 50ms, ReturnWhen::first_exception);
  EXPECT_EQ(done.size(), 1U);  // the cancelled one: done, but not an exception
  EXPECT_TRUE(done[0].cancelled());
  EXPECT_EQ(not_done.size(), 1U);  // so wait ran into its timeout
  gate.set();
  EXPECT_EQ(running.get(), 1);
}

TEST(Wait, TimeoutLeavesTheRestNotDone) {
  Event gate;
  g_wait_gate = &gate;
  Pool pool = two_workers();
  std::vector<Future<int>> fs{pool.submit(wait_gated, 1), pool.submit(wait_quick, 2)};
  auto [done, not_done] = wait(fs, 30ms, ReturnWhen::all_completed);
  EXPECT_EQ(done.size(), 1U);
  ASSERT_EQ(not_done.size(), 1U);
  EXPECT_FALSE(not_done[0].done());
  gate.set();
  EXPECT_EQ(values(fs), (std::vector<int>{1, 2}));
}

TEST(Wait, FuturesOfSeveralPools) {
  Pool a(1);
  Pool b(1);
  std::vector<Future<int>> fs;
  for (int i = 0; i < 10; ++i) fs.push_back((i % 2 == 0 ? a : b).submit(wait_quick, i));
  fs.push_back(fs[0].then([](int v) { return v + 100; }));
  auto [done, not_done] = wait(fs, 20s);
  EXPECT_EQ(done.size(), 11U);
  EXPECT_TRUE(not_done.empty());
  EXPECT_EQ(done.back().get(), 100);
}

TEST(Wait, EmptyFutureIsRefused) {
  std::vector<Future<int>> fs(1);
  EXPECT_THROW((void)wait(fs), InvalidState);
  EXPECT_THROW((void)as_completed(fs), InvalidState);
}

TEST(AsCompleted, YieldsInCompletionOrderEachOnce) {
  Event gate;
  g_wait_gate = &gate;
  Pool pool = two_workers();
  auto slow = pool.submit(wait_gated, 1);
  auto fast = pool.submit(wait_quick, 2);
  std::vector<Future<int>> fs{slow, fast, fast};  // a duplicate is yielded once
  std::vector<int> order;
  for (const Future<int>& f : as_completed(fs, 20s)) {
    order.push_back(f.get());
    if (order.size() == 1) gate.set();  // the slow one may finish only now
  }
  EXPECT_EQ(order, (std::vector<int>{2, 1}));
}

TEST(AsCompleted, DoneFuturesComeFirstInInputOrder) {
  Pool pool(2);
  std::vector<Future<int>> fs;
  for (int i = 0; i < 5; ++i) fs.push_back(pool.submit(wait_quick, i));
  for (auto& f : fs) f.wait();
  std::vector<int> order;
  for (const auto& f : as_completed(fs)) order.push_back(f.get());
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(AsCompleted, TimeoutThrowsWhenIterationReachesIt) {
  Event gate;
  g_wait_gate = &gate;
  Pool pool = two_workers();
  std::vector<Future<int>> fs{pool.submit(wait_quick, 1), pool.submit(wait_gated, 2)};
  auto range = as_completed(fs, 30ms);
  auto it = range.begin();
  ASSERT_NE(it, range.end());
  EXPECT_EQ(it->get(), 1);
  EXPECT_THROW(++it, Timeout);
  EXPECT_EQ(range.remaining(), 1U);
  gate.set();
  range.extend(std::nullopt);
  int last = 0;
  for (const auto& f : range) last = f.get();
  EXPECT_EQ(last, 2);
}

}  // namespace
