// Blocking operations under every wait strategy: timeouts, close() waking sleepers on both
// sides, drain-then-closed, and hand-offs through tiny rings that force sleeping.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "ring_test_support.hpp"
#include "ringpool/ipc/detail/ring_header.hpp"
#include "ringpool/ipc/event_count.hpp"

namespace ringpool::ipc::test {
namespace {

using namespace std::chrono_literals;

class Blocking : public ::testing::TestWithParam<WaitStrategy> {
 protected:
  // spin_iterations 0: yield/futex waiters give up the CPU at once, so the sleeping paths
  // are exercised on every wait.
  RingOptions options() const { return RingOptions{GetParam(), 0}; }
};

INSTANTIATE_TEST_SUITE_P(AllStrategies, Blocking,
                         ::testing::Values(WaitStrategy::spin, WaitStrategy::yield,
                                           WaitStrategy::futex),
                         [](const auto& param_info) {
                           return std::string(to_string(param_info.param));
                         });

detail::WaitBlock& wait_block(const std::shared_ptr<Segment>& s) {
  return reinterpret_cast<detail::RingControl*>(s->data())->wait;
}

// Returns once a waiter of the given side is registered (futex) or at once (spin/yield,
// which have no sleeping state to observe; their loop sees close() whenever it happens).
void await_sleeper(const std::shared_ptr<Segment>& s, bool consumer, WaitStrategy w) {
  if (w != WaitStrategy::futex) return;
  const EventCount& event = consumer ? wait_block(s).data : wait_block(s).space;
  while (event.waiters_approx() == 0) std::this_thread::yield();
}

TEST_P(Blocking, PopTimesOutOnEmptyRing) {
  auto ring = SpscRing<std::uint64_t>::create_anonymous(4, options());
  std::uint64_t out = 0;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(ring.consumer.pop(out, 20ms), OpStatus::timeout);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms);
  auto mpmc = MpmcRing<std::uint64_t>::create_anonymous(4, options());
  EXPECT_EQ(mpmc.consumer.pop(out, 1ms), OpStatus::timeout);
  auto bytes = MpmcByteRing::create_anonymous(4, 16, options());
  std::vector<std::byte> msg;
  EXPECT_EQ(bytes.consumer.pop(msg, 1ms), OpStatus::timeout);
}

TEST_P(Blocking, PushTimesOutOnFullRing) {
  auto ring = MpmcRing<std::uint64_t>::create_anonymous(2, options()).producer;
  ASSERT_EQ(ring.push(1), OpStatus::ok);
  ASSERT_EQ(ring.push(2), OpStatus::ok);
  EXPECT_EQ(ring.push(3, 5ms), OpStatus::timeout);
  auto bytes = SpscByteRing::create_anonymous(1, 16, options()).producer;
  const std::byte m[4]{};
  ASSERT_EQ(bytes.push(m), OpStatus::ok);
  EXPECT_EQ(bytes.push(m, 5ms), OpStatus::timeout);
  std::span<std::byte> room;
  EXPECT_EQ(bytes.claim(4, room, 1ms), OpStatus::timeout);
}

TEST_P(Blocking, CloseWakesASleepingConsumer) {
  auto [ring, rx] = SpscRing<std::uint64_t>::create_anonymous(4, options());
  std::atomic<int> status{-1};
  std::thread consumer([&, r = std::move(rx)]() mutable {
    std::uint64_t out = 0;
    status = static_cast<int>(r.pop(out));  // no timeout: only close() ends it
  });
  await_sleeper(ring.segment(), true, GetParam());
  ring.close();
  consumer.join();
  EXPECT_EQ(status.load(), static_cast<int>(OpStatus::closed));
}

TEST_P(Blocking, CloseWakesEverySleepingMpmcConsumerAndProducer) {
  auto ring = MpmcByteRing::create_anonymous(2, 8, options()).producer;
  const std::byte m[1]{};
  ASSERT_TRUE(ring.try_push(m));
  ASSERT_TRUE(ring.try_push(m));  // full: producers will wait
  auto empty = MpmcByteRing::create_anonymous(2, 8, options()).consumer;
  std::atomic<int> closed_count{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&, r = empty.clone()]() mutable {
      std::vector<std::byte> out;
      if (r.pop(out) == OpStatus::closed) ++closed_count;
    });
    threads.emplace_back([&, r = ring.clone()]() mutable {
      if (r.push(m) == OpStatus::closed) ++closed_count;
    });
  }
  if (GetParam() == WaitStrategy::futex) {
    while (wait_block(empty.segment()).data.waiters_approx() < 2) std::this_thread::yield();
    while (wait_block(ring.segment()).space.waiters_approx() < 2) std::this_thread::yield();
  }
  empty.close();
  ring.close();
  for (auto& t : threads) t.join();
  EXPECT_EQ(closed_count.load(), 4);
}

TEST_P(Blocking, ConsumersDrainBeforeClosedProducersClosedAtOnce) {
  auto [ring, rx] = MpmcRing<std::uint64_t>::create_anonymous(8, options());
  ASSERT_EQ(ring.push(10), OpStatus::ok);
  ASSERT_EQ(ring.push(11), OpStatus::ok);
  ring.close();
  EXPECT_EQ(ring.push(12), OpStatus::closed);
  EXPECT_EQ(ring.push(12, 1s), OpStatus::closed);
  std::uint64_t out = 0;
  EXPECT_EQ(rx.pop(out), OpStatus::ok);
  EXPECT_EQ(out, 10u);
  EXPECT_EQ(rx.pop(out, 1s), OpStatus::ok);
  EXPECT_EQ(out, 11u);
  EXPECT_EQ(rx.pop(out), OpStatus::closed);
  EXPECT_EQ(rx.pop(out, 1s), OpStatus::closed);
}

template <class Ends>
void hand_off_through_tiny_ring(Ends ends, std::uint64_t total) {
  auto& [producer, consumer] = ends;
  std::thread t([&] {
    for (std::uint64_t i = 0; i < total; ++i) ASSERT_EQ(producer.push(i), OpStatus::ok);
  });
  std::uint64_t bad = 0;
  for (std::uint64_t i = 0; i < total; ++i) {
    std::uint64_t out = ~std::uint64_t{0};
    ASSERT_EQ(consumer.pop(out), OpStatus::ok);
    if (out != i) ++bad;
  }
  t.join();
  EXPECT_EQ(bad, 0u);
}

// Spin waiters never give up the CPU: when both threads share one CPU (a loaded 2-CPU CI
// machine), every hand-off can cost a scheduler time slice, so spin moves fewer items.
// Lost wakeups only exist for futex waiters anyway.
std::uint64_t hand_offs(WaitStrategy w) {
  return (w == WaitStrategy::spin ? 200 : 5'000) * stress_scale();
}

TEST_P(Blocking, HandOffThroughATinySpscRingNeverLosesAWakeup) {
  hand_off_through_tiny_ring(SpscRing<std::uint64_t>::create_anonymous(2, options()),
                             hand_offs(GetParam()));
}

TEST_P(Blocking, HandOffThroughATinyMpmcRingNeverLosesAWakeup) {
  hand_off_through_tiny_ring(MpmcRing<std::uint64_t>::create_anonymous(2, options()),
                             hand_offs(GetParam()));
}

}  // namespace
}  // namespace ringpool::ipc::test
