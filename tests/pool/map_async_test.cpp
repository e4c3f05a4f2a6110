// map_async / starmap_async: a future of every result in input order (or of the first
// failed item's error), callback and error_callback as Python's, the empty input, a closed
// pool; cancel() of the whole batch before any chunk starts, and not after.
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
#include "ringpool/pool/shared_value.hpp"
#include "ringpool/pool/sync.hpp"
#include "test_support.hpp"

namespace {
using ::ringpool::test::square;
using ::ringpool::test::unpinned_workers;

using namespace std::chrono_literals;
using ringpool::pool::CancelledError;
using ringpool::pool::Closed;
using ringpool::pool::Event;
using ringpool::pool::Future;
using ringpool::pool::Pool;
using ringpool::pool::PoolOptions;
using ringpool::pool::Value;
using ringpool::test::eventually;

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
  EXPECT_FALSE(f.cancel());  // finished: nothing to cancel
  EXPECT_FALSE(f.cancelled());
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

// Set before each pool forks: the workers' copies point at the same shared objects.
Value<int>* g_runs = nullptr;    // items run, across every worker
Event* g_map_gate = nullptr;     // holds the tasks that wait for it
Event* g_map_started = nullptr;  // set by a task that has started

// Counts itself, then returns x * x.
int counted_square(int x) {
  std::scoped_lock hold(g_runs->get_lock());
  g_runs->get_obj() += 1;
  return x * x;
}
// Holds a worker until the gate opens (at most 20 s); true when it opened.
bool hold_worker(int) {
  g_map_started->set();
  return g_map_gate->wait(20s);
}
// Item 0 tells the test it started and waits for the gate; every item counts itself.
int map_first_waits(int x) {
  if (x == 0) {
    g_map_started->set();
    (void)g_map_gate->wait(20s);
  }
  return counted_square(x);
}

struct Gates {
  Value<int> runs{0};
  Event gate;
  Event started;
  Gates() {
    g_runs = &runs;
    g_map_gate = &gate;
    g_map_started = &started;
  }
};

// Both workers are held by a task each, so no chunk of the batch has started: cancel()
// cancels it whole (callbacks see it cancelled, get() throws CancelledError) and none of
// its items runs. Through the shared ring (many chunks) and the workers' own rings (one
// chunk per worker).
TEST(MapAsyncCancel, BeforeAnyChunkStartsNothingRuns) {
  struct Case {
    int items;
    std::size_t chunksize;
  };
  for (const Case c : {Case{100, 5}, Case{2, 1}}) {
    SCOPED_TRACE(std::to_string(c.items) + " items, chunksize " + std::to_string(c.chunksize));
    Gates g;
    Pool pool(unpinned_workers(2));
    auto a = pool.submit(hold_worker, 0);
    auto b = pool.submit(hold_worker, 1);
    ASSERT_TRUE(eventually([&] { return a.running() && b.running(); }));
    std::vector<int> in(static_cast<std::size_t>(c.items));
    std::iota(in.begin(), in.end(), 0);
    std::atomic<int> callbacks{0};
    std::atomic<int> cancelled_errors{0};
    auto batch = pool.map_async(
        counted_square, in, c.chunksize, [&](const std::vector<int>&) { ++callbacks; },
        [&](std::exception_ptr e) {
          try {
            std::rethrow_exception(e);
          } catch (const CancelledError&) {
            ++cancelled_errors;
          } catch (...) {
          }
        });
    std::atomic<int> saw_cancelled{0};
    batch.add_done_callback(
        [&](const Future<std::vector<int>>& f) { saw_cancelled += f.cancelled() ? 1 : 0; });
    EXPECT_FALSE(batch.done());
    EXPECT_TRUE(batch.cancel());
    EXPECT_TRUE(batch.cancel());  // again: still cancelled
    EXPECT_TRUE(batch.cancelled());
    EXPECT_TRUE(batch.done());
    EXPECT_THROW((void)batch.get(), CancelledError);
    EXPECT_EQ(saw_cancelled.load(), 1);
    EXPECT_EQ(cancelled_errors.load(), 1);
    EXPECT_EQ(callbacks.load(), 0);

    g.gate.set();
    EXPECT_TRUE(a.get());
    EXPECT_TRUE(b.get());
    EXPECT_EQ(pool.map(counted_square, std::vector<int>{3}), std::vector<int>{9});
    pool.close();
    pool.join();  // every message was popped: run or skipped
    EXPECT_EQ(g.runs.value(), 1) << "only the map() after the cancel ran";
  }
}

// A chunk has started (item 0 waits in a worker): cancel() is refused and the batch
// runs to the end, every result arriving.
TEST(MapAsyncCancel, AfterAChunkStartedReturnsFalseAndEveryResultArrives) {
  Gates g;
  Pool pool(unpinned_workers(1));
  std::vector<int> in(10);
  std::iota(in.begin(), in.end(), 0);
  auto batch = pool.map_async(map_first_waits, in, 1);
  ASSERT_TRUE(g.started.wait(20s));
  EXPECT_FALSE(batch.cancel());
  EXPECT_FALSE(batch.cancelled());
  EXPECT_FALSE(batch.done());
  g.gate.set();
  std::vector<int> want;
  for (int x : in) want.push_back(x * x);
  EXPECT_EQ(batch.get(), want);
  EXPECT_FALSE(batch.cancelled());
  EXPECT_EQ(g.runs.value(), 10);
}

// starmap_async's future is cancelled the same way.
TEST(MapAsyncCancel, StarmapAsyncToo) {
  Gates g;
  Pool pool(unpinned_workers(1));
  auto held = pool.submit(hold_worker, 0);
  ASSERT_TRUE(eventually([&] { return held.running(); }));
  std::vector<std::tuple<std::string, int>> in{{"a", 1}, {"b", 2}};
  auto batch = pool.starmap_async(join, in, 1);
  EXPECT_TRUE(batch.cancel());
  EXPECT_THROW((void)batch.get(), CancelledError);
  g.gate.set();
  EXPECT_TRUE(held.get());
}

}  // namespace
