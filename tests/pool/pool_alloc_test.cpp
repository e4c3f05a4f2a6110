// No heap allocation per task in the steady state (parent side): a counting global
// operator new, so this test is its own binary.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <numeric>
#include <vector>

#include "ringpool/pool/pool.hpp"

// The replacements below pair malloc with free by design; GCC cannot see that.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<std::size_t> g_allocations{0};
}  // namespace

void* operator new(std::size_t n) {
  // relaxed: a test counter read after the measured loop by the same thread.
  if (g_counting.load(std::memory_order_relaxed))
    g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  return operator new(n);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}

namespace {

using ringpool::pool::Pool;
using ringpool::pool::PoolOptions;
using ringpool::pool::WaitMode;

// Stays within int for every input below (UBSan checks the workers too).
int twice(int x) {
  return 2 * x;
}
int square(int x) {
  return x * x;
}
double scale(double x, int k) {
  return x * k;
}

// A trivially copyable aggregate travels by memcpy: no allocation either.
struct Sample {
  std::int64_t id;
  double values[3];
  std::chrono::nanoseconds age;
};
Sample shift(Sample s, std::int32_t k) {
  for (double& v : s.values) v += k;
  s.id += k;
  return s;
}

std::size_t count_allocations(const auto& body) {
  g_allocations = 0;
  g_counting = true;
  body();
  g_counting = false;
  return g_allocations.load();
}

class Alloc : public ::testing::TestWithParam<WaitMode> {};

TEST_P(Alloc, SubmitGetAllocatesNothingPerTaskOnceWarm) {
  PoolOptions o;
  o.workers = 2;
  o.wait = GetParam();
  Pool pool(o);
  for (int i = 0; i < 2000; ++i) ASSERT_EQ(pool.submit(square, i).get(), i * i);
  // Warm for the second call too: its future's state (State<double>) may be of another
  // size class than State<int>'s, whose slab's first block is allocated once.
  for (int i = 0; i < 100; ++i) ASSERT_GT(pool.apply(scale, 1.5, i + 1), 0.0);
  long sum = 0;
  const std::size_t n = count_allocations([&] {
    for (int i = 0; i < 5000; ++i) sum += pool.submit(square, i).get();
    for (int i = 0; i < 1000; ++i) sum += static_cast<long>(pool.apply(scale, 1.5, i));
  });
  EXPECT_EQ(n, 0u);
  EXPECT_GT(sum, 0);
}

TEST_P(Alloc, AggregateArgumentsAndResultsAllocateNothingOnceWarm) {
  PoolOptions o;
  o.workers = 2;
  o.wait = GetParam();
  Pool pool(o);
  const Sample s{1, {0.5, 1.5, 2.5}, std::chrono::nanoseconds(3)};
  for (std::int32_t i = 0; i < 2000; ++i) ASSERT_EQ(pool.submit(shift, s, i).get().id, 1 + i);
  std::int64_t sum = 0;
  const std::size_t n = count_allocations([&] {
    for (std::int32_t i = 0; i < 5000; ++i) sum += pool.submit(shift, s, i).get().id;
  });
  EXPECT_EQ(n, 0u);
  EXPECT_GT(sum, 0);
}

TEST_P(Alloc, MapAllocatesPerBatchNotPerTask) {
  PoolOptions o;
  o.workers = 2;
  o.wait = GetParam();
  Pool pool(o);
  std::vector<int> small(1000);
  std::vector<int> large(100000);
  std::iota(small.begin(), small.end(), 0);
  std::iota(large.begin(), large.end(), 0);
  (void)pool.map(twice, large);  // warm up: records and plans
  const std::size_t a = count_allocations([&] { (void)pool.map(twice, small); });
  const std::size_t b = count_allocations([&] { (void)pool.map(twice, large); });
  // The result vector and the topology plan allocate once per batch; 100x more tasks
  // must not cost more allocations.
  EXPECT_LE(b, a + 2);
  EXPECT_LT(b, large.size() / 100);
}

INSTANTIATE_TEST_SUITE_P(Waits, Alloc, ::testing::Values(WaitMode::block, WaitMode::spin),
                         [](const ::testing::TestParamInfo<WaitMode>& p) {
                           return p.param == WaitMode::spin ? "spin" : "block";
                         });

}  // namespace
