// map_async / starmap_async: a future of every result in input order (or of the first
// failed item's error), callback and error_callback as Python's, the empty input, a closed
// pool.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <numeric>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "ringpool/pool/pool.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using ringpool::pool::Closed;
using ringpool::pool::Future;
using ringpool::pool::Pool;
using ringpool::test::eventually;

int square(int x) {
  return x * x;
}
int fails_on_odd(int x) {
  if (x % 2 != 0) throw std::invalid_argument("odd " + std::to_string(x));
  return x;
}
std::string join(std::string a, int b) {
  return a + std::to_string(b);
}

TEST(MapAsync, ResultsInInputOrder) {
  Pool pool(2);
  std::vector<int> in(1000);
  std::iota(in.begin(), in.end(), 0);
  Future<std::vector<int>> f = pool.map_async(square, in, 7);
  const std::vector<int> out = f.get();
  ASSERT_EQ(out.size(), in.size());
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(out[static_cast<std::size_t>(i)], i * i);
  EXPECT_TRUE(f.done());
  EXPECT_FALSE(f.cancel());  // a batch has no cancel()
}

TEST(MapAsync, CallbackGetsTheResults) {
  Pool pool(2);
  std::vector<int> in{1, 2, 3, 4};
  std::atomic<int> sum{0};
  std::atomic<int> errors{0};
  auto f = pool.map_async(
      square, in, std::nullopt,
      [&](const std::vector<int>& v) { sum = std::accumulate(v.begin(), v.end(), 0); },
      [&](std::exception_ptr) { ++errors; });
  EXPECT_EQ(f.get(), (std::vector<int>{1, 4, 9, 16}));
  // The callback runs in the thread that completed the future, possibly just after get().
  ASSERT_TRUE(eventually([&] { return sum.load() == 30; }));
  EXPECT_EQ(errors.load(), 0);
}

TEST(MapAsync, ErrorCallbackGetsTheFirstFailedItemsError) {
  Pool pool(2);
  std::vector<int> in{0, 2, 3, 4, 5};
  std::atomic<int> calls{0};
  std::string message;
  std::atomic<bool> got{false};
  auto f = pool.map_async(
      fails_on_odd, in, 1, [&](const std::vector<int>&) { ++calls; },
      [&](std::exception_ptr e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::invalid_argument& err) {
          message = err.what();
        }
        got = true;
      });
  EXPECT_THROW((void)f.get(), std::invalid_argument);
  ASSERT_TRUE(eventually([&] { return got.load(); }));
  EXPECT_EQ(message, "odd 3");  // the first by input position, as map() throws
  EXPECT_EQ(calls.load(), 0);
  EXPECT_NE(f.exception(), nullptr);
}

TEST(MapAsync, AddDoneCallbackAsOtherFutures) {
  Pool pool(2);
  std::vector<int> in{5, 6};
  auto f = pool.map_async(square, in);
  std::atomic<int> size{-1};
  f.add_done_callback(
      [&](const Future<std::vector<int>>& g) { size = static_cast<int>(g.get().size()); });
  f.wait();
  ASSERT_TRUE(eventually([&] { return size.load() == 2; }));
}

TEST(MapAsync, StarmapAsync) {
  Pool pool(2);
  std::vector<std::tuple<std::string, int>> in{{"a", 1}, {"b", 2}, {"c", 3}};
  EXPECT_EQ(pool.starmap_async(join, in).get(), (std::vector<std::string>{"a1", "b2", "c3"}));
}

TEST(MapAsync, EmptyInputIsReadyAtOnce) {
  Pool pool(1);
  std::atomic<int> calls{0};
  auto f = pool.map_async(square, std::vector<int>{}, std::nullopt, [&](const std::vector<int>& v) {
    calls += 1 + static_cast<int>(v.size());
  });
  EXPECT_TRUE(f.done());
  EXPECT_TRUE(f.get().empty());
  EXPECT_EQ(calls.load(), 1);
}

TEST(MapAsync, ClosedPoolThrowsAndRunsNoCallback) {
  Pool pool(1);
  pool.close();
  std::atomic<int> calls{0};
  EXPECT_THROW((void)pool.map_async(
                   square, std::vector<int>{1, 2}, std::nullopt,
                   [&](const std::vector<int>&) { ++calls; }, [&](std::exception_ptr) { ++calls; }),
               Closed);
  EXPECT_EQ(calls.load(), 0);
}

TEST(MapAsync, ZeroChunksizeIsRefused) {
  Pool pool(1);
  EXPECT_THROW((void)pool.map_async(square, std::vector<int>{1}, 0),
               ringpool::pool::InvalidArgument);
}

}  // namespace
