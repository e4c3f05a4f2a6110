// Every ring backend (ringpool SPSC and MPMC, Boost spsc_queue and queue) through the same
// cases: FIFO order, full/empty, batch forms, wraparound, a producer/consumer thread pair.
#include <gtest/gtest.h>

#include <array>
#include <thread>
#include <vector>

#include "ring_test_support.hpp"

namespace ringpool::ipc::test {
namespace {

template <class R>
class RingBackends : public ::testing::Test {};
TYPED_TEST_SUITE(RingBackends, AllBackends, BackendNames);

TYPED_TEST(RingBackends, EmptyRingPopsNothing) {
  auto [tx, rx] = Backend<TypeParam>::make();
  EXPECT_FALSE(rx.try_pop().has_value());
  std::array<Item, 4> out{};
  EXPECT_EQ(rx.try_pop_n(out), 0u);
}

TYPED_TEST(RingBackends, FillsToCapacityThenRefusesInFifoOrder) {
  auto [tx, rx] = Backend<TypeParam>::make();
  ASSERT_EQ(tx.capacity(), kCap);
  ASSERT_EQ(rx.capacity(), kCap);
  for (std::uint64_t i = 0; i < kCap; ++i) ASSERT_TRUE(tx.try_push(make_item(i))) << i;
  EXPECT_FALSE(tx.try_push(make_item(kCap)));
  for (std::uint64_t i = 0; i < kCap; ++i) {
    auto item = rx.try_pop();
    ASSERT_TRUE(item.has_value()) << i;
    EXPECT_EQ(item->seq, i);
    EXPECT_TRUE(valid_item(*item));
  }
  EXPECT_FALSE(rx.try_pop().has_value());
}

TYPED_TEST(RingBackends, BatchFormsMoveAPrefixAndStopWhenFullOrEmpty) {
  auto [tx, rx] = Backend<TypeParam>::make();
  std::vector<Item> in;
  for (std::uint64_t i = 0; i < kCap + 10; ++i) in.push_back(make_item(i));
  EXPECT_EQ(tx.try_push_n(std::span<const Item>(in)), kCap);
  EXPECT_EQ(tx.try_push_n(std::span<const Item>(in).subspan(kCap)), 0u);
  std::vector<Item> out(kCap + 10);
  EXPECT_EQ(rx.try_pop_n(std::span<Item>(out).first(10)), 10u);
  EXPECT_EQ(rx.try_pop_n(std::span<Item>(out).subspan(10)), kCap - 10);
  for (std::uint64_t i = 0; i < kCap; ++i) {
    EXPECT_EQ(out[i].seq, i);
    EXPECT_TRUE(valid_item(out[i]));
  }
  EXPECT_EQ(rx.try_pop_n(std::span<Item>(out)), 0u);
}

TYPED_TEST(RingBackends, WrapsAroundManyTimesWithMixedBatchSizes) {
  auto [tx, rx] = Backend<TypeParam>::make();
  std::uint64_t next_in = 0;
  std::uint64_t next_out = 0;
  std::vector<Item> buf(kCap);
  for (int round = 0; round < 200; ++round) {
    const std::size_t want = static_cast<std::size_t>(round % 37) + 1;
    std::vector<Item> in;
    for (std::size_t i = 0; i < want; ++i) in.push_back(make_item(next_in + i));
    next_in += tx.try_push_n(std::span<const Item>(in));
    const std::size_t take = static_cast<std::size_t>(round % 23) + 1;
    const std::size_t got = rx.try_pop_n(std::span<Item>(buf).first(take));
    for (std::size_t i = 0; i < got; ++i) {
      ASSERT_EQ(buf[i].seq, next_out);
      ASSERT_TRUE(valid_item(buf[i]));
      ++next_out;
    }
  }
  while (auto item = rx.try_pop()) {
    ASSERT_EQ(item->seq, next_out++);
  }
  EXPECT_EQ(next_out, next_in);
  EXPECT_GT(next_in, 10 * kCap);  // the indices wrapped many times
}

TYPED_TEST(RingBackends, ProducerConsumerThreadsKeepOrder) {
  if (kThreadSanitizer && std::is_same_v<TypeParam, bench::BoostMpmcQueue<Item, kCap>>) {
    GTEST_SKIP() << kBoostQueueTsanReason;
  }
  auto [producer, consumer] = Backend<TypeParam>::make(RingOptions{WaitStrategy::yield, 64});
  const std::uint64_t total = 50'000 * stress_scale();
  std::thread t([&] {
    for (std::uint64_t i = 0; i < total;) {
      if (i % 3 == 0) {
        std::array<Item, 8> batch{};
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(8, total - i));
        for (std::size_t k = 0; k < n; ++k) batch[k] = make_item(i + k);
        const std::size_t pushed = producer.try_push_n(std::span<const Item>(batch).first(n));
        i += pushed;
        if (pushed == 0) std::this_thread::yield();  // full: the consumer may share our CPU
      } else if (producer.try_push(make_item(i))) {
        ++i;
      } else {
        std::this_thread::yield();
      }
    }
  });
  std::uint64_t expected = 0;
  std::uint64_t bad = 0;
  std::array<Item, 16> buf{};
  while (expected < total) {
    const std::size_t n = consumer.try_pop_n(buf);
    for (std::size_t k = 0; k < n; ++k) {
      if (buf[k].seq != expected || !valid_item(buf[k])) ++bad;
      ++expected;
    }
    if (n == 0) std::this_thread::yield();  // empty: the producer may share our CPU
  }
  t.join();
  EXPECT_EQ(bad, 0u);
  EXPECT_FALSE(consumer.try_pop().has_value());
}

TYPED_TEST(RingBackends, BlockingPopTimesOutOnEmptyAndPushOnFull) {
  auto [tx, rx] = Backend<TypeParam>::make(RingOptions{WaitStrategy::yield, 16});
  Item out{};
  EXPECT_EQ(rx.pop(out, std::chrono::milliseconds(5)), OpStatus::timeout);
  for (std::uint64_t i = 0; i < kCap; ++i) ASSERT_EQ(tx.push(make_item(i)), OpStatus::ok);
  EXPECT_EQ(tx.push(make_item(kCap), std::chrono::milliseconds(5)), OpStatus::timeout);
  EXPECT_EQ(rx.pop(out, std::chrono::milliseconds(5)), OpStatus::ok);
  EXPECT_EQ(out.seq, 0u);
}

TYPED_TEST(RingBackends, CloseLetsConsumersDrainThenReportsClosed) {
  auto [tx, rx] = Backend<TypeParam>::make(RingOptions{WaitStrategy::yield, 16});
  ASSERT_TRUE(tx.try_push(make_item(1)));
  ASSERT_TRUE(tx.try_push(make_item(2)));
  tx.close();
  EXPECT_TRUE(tx.is_closed());
  EXPECT_TRUE(rx.is_closed());
  EXPECT_EQ(tx.push(make_item(3)), OpStatus::closed);  // producers: at once
  Item out{};
  EXPECT_EQ(rx.pop(out), OpStatus::ok);
  EXPECT_EQ(out.seq, 1u);
  EXPECT_EQ(rx.pop(out), OpStatus::ok);
  EXPECT_EQ(out.seq, 2u);
  EXPECT_EQ(rx.pop(out), OpStatus::closed);
}

}  // namespace
}  // namespace ringpool::ipc::test
