// imap()/imap_unordered() pack more items into a message once the results show that the
// tasks are short (PoolOptions::imap_pack_budget): fewer messages, the same results, each
// item's error at its own position, and never for tasks longer than the budget (the
// measure is an upper bound of an item's time, so that holds on any machine).
#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "ringpool/pool/pool.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using ringpool::pool::InvalidArgument;
using ringpool::pool::Pool;
using ringpool::pool::PoolOptions;
using ringpool::test::square;

PoolOptions with_budget(std::chrono::nanoseconds budget) {
  PoolOptions o;
  o.workers = 2;
  o.imap_pack_budget = budget;
  return o;
}

std::vector<int> iota(int n) {
  std::vector<int> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

int fails_on_sevens(int x) {
  if (x % 7 == 0) throw std::invalid_argument("seven " + std::to_string(x));
  return x + 1;
}

int sleeps_200us(int x) {
  std::this_thread::sleep_for(200us);
  return x;
}

// A budget of a second fits 16 chunks of any task shorter than 62 ms: packing is certain
// once the first windows are measured (about 650 results).
TEST(ImapPack, ShortTasksTravelInFewerMessagesWithEveryResultOnce) {
  Pool pool(with_budget(1s));
  constexpr int kItems = 5000;
  std::multiset<int> got;
  for (const int v : pool.imap_unordered(square, iota(kItems), 1)) got.insert(v);
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kItems));
  for (int x = 0; x < kItems; ++x) ASSERT_EQ(got.count(x * x), 1U) << x;
  EXPECT_LT(pool.stats().tasks_sent, static_cast<std::uint64_t>(kItems) / 2);
}

TEST(ImapPack, OrderAndEachItemsErrorSurvivePacking) {
  Pool pool(with_budget(1s));
  constexpr int kItems = 3000;
  auto range = pool.imap(fails_on_sevens, iota(kItems), 1);
  int expected = 0;
  for (auto it = range.begin(); it != std::default_sentinel; ++it, ++expected) {
    if (expected % 7 == 0) {
      EXPECT_THROW((void)*it, std::invalid_argument) << expected;
    } else {
      ASSERT_EQ(*it, expected + 1);
    }
  }
  EXPECT_EQ(expected, kItems);
  EXPECT_LT(pool.stats().tasks_sent, static_cast<std::uint64_t>(kItems) / 2);
}

TEST(ImapPack, ZeroBudgetSendsChunksizeItemsPerMessage) {
  Pool pool(with_budget(0ns));
  constexpr int kItems = 3000;
  std::size_t n = 0;
  for (const int v : pool.imap_unordered(square, iota(kItems), 3)) n += v >= 0 ? 1 : 0;
  EXPECT_EQ(n, static_cast<std::size_t>(kItems));
  EXPECT_EQ(pool.stats().tasks_sent, static_cast<std::uint64_t>(kItems) / 3);
}

// 200 us an item against the default budget (4 us): each measured window says at least
// 200 us an item, so no message ever carries more than its chunksize.
TEST(ImapPack, TasksLongerThanTheBudgetAreNeverPacked) {
  Pool pool(with_budget(PoolOptions{}.imap_pack_budget));
  constexpr int kItems = 1200;
  std::size_t n = 0;
  for (const int v : pool.imap_unordered(sleeps_200us, iota(kItems), 1)) n += v >= 0 ? 1 : 0;
  EXPECT_EQ(n, static_cast<std::size_t>(kItems));
  EXPECT_EQ(pool.stats().tasks_sent, static_cast<std::uint64_t>(kItems));
}

TEST(ImapPack, ANegativeBudgetIsRefused) {
  EXPECT_THROW(Pool pool(with_budget(-1ns)), InvalidArgument);
}

}  // namespace
