// Rings across fork(): every backend moves items from a child producer to the parent, a
// named segment is attached by another process, and a consumer SIGKILLed in the middle of
// a tracked pop is recovered by its supervisor.
#include <gtest/gtest.h>
#include <signal.h>

#include <vector>

#include "ring_test_support.hpp"

namespace ringpool::ipc::test {
namespace {

template <class R>
class RingsAcrossFork : public ::testing::Test {};
TYPED_TEST_SUITE(RingsAcrossFork, AllBackends, BackendNames);

TYPED_TEST(RingsAcrossFork, ChildProducerParentConsumerKeepOrder) {
  auto [tx, ring] = Backend<TypeParam>::make(RingOptions{WaitStrategy::yield, 64});
  const std::uint64_t total = 50'000 * stress_scale();
  const pid_t pid = fork_child([&] {
    for (std::uint64_t i = 0; i < total; ++i) {
      if (tx.push(make_item(i)) != OpStatus::ok) return 3;
    }
    return 0;
  });
  ASSERT_GT(pid, 0);
  std::uint64_t bad = 0;
  for (std::uint64_t i = 0; i < total; ++i) {
    Item item{};
    ASSERT_EQ(ring.pop(item), OpStatus::ok);
    if (item.seq != i || !valid_item(item)) ++bad;
  }
  EXPECT_EQ(wait_child(pid), 0);
  EXPECT_EQ(bad, 0u);
}

TEST(ByteRingAcrossFork, FutexWakeupsCrossProcesses) {
  auto [tx, ring] = MpmcByteRing::create_anonymous(4, 64, RingOptions{WaitStrategy::futex, 0});
  const std::uint64_t total = 5'000 * stress_scale();
  const pid_t pid = fork_child([&] {
    for (std::uint64_t i = 0; i < total; ++i) {
      if (tx.push(std::as_bytes(std::span(&i, 1))) != OpStatus::ok) return 3;
    }
    tx.close();
    return 0;
  });
  ASSERT_GT(pid, 0);
  std::uint64_t next = 0;
  std::uint64_t bad = 0;
  std::vector<std::byte> out;
  while (ring.pop(out) == OpStatus::ok) {
    std::uint64_t v = 0;
    std::memcpy(&v, out.data(), sizeof(v));
    if (v != next++) ++bad;
  }
  EXPECT_EQ(next, total);
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(wait_child(pid), 0);
}

TEST(NamedRingAcrossProcesses, ChildOpensByNameAndAttaches) {
  const std::string name = "/ringpool-test-named-" + std::to_string(::getpid());
  auto segment = std::make_shared<Segment>(Segment::create(
      name, SpscRing<Item>::required_bytes(16), SegmentOptions{.unlink_on_destroy = true}));
  auto consumer = SpscRing<Item>::create(segment, 16).consumer;
  const pid_t pid = fork_child([&] {
    // A fresh mapping, as an unrelated process would get.
    auto producer = SpscProducer<Item>::attach(std::make_shared<Segment>(Segment::open(name)));
    for (std::uint64_t i = 0; i < 100; ++i) {
      if (producer.push(make_item(i)) != OpStatus::ok) return 3;
    }
    return 0;
  });
  ASSERT_GT(pid, 0);
  for (std::uint64_t i = 0; i < 100; ++i) {
    Item item{};
    ASSERT_EQ(consumer.pop(item), OpStatus::ok);
    EXPECT_EQ(item.seq, i);
  }
  EXPECT_EQ(wait_child(pid), 0);
}

TEST(TrackedRecoveryAcrossFork, ConsumerKilledMidVisitIsRecovered) {
  auto [ring, consumer] = MpmcByteRing::create_anonymous(2, 32);
  Segment words = Segment::anonymous(4096);
  auto* dead = ::new (words.data()) ClaimWord(0);
  const std::string task = "task-7";
  ASSERT_TRUE(ring.try_push(std::as_bytes(std::span(task.data(), task.size()))));
  ASSERT_TRUE(ring.try_push(std::as_bytes(std::span(task.data(), 1))));
  const pid_t pid = fork_child([&] {
    (void)consumer.try_pop_tracked(*dead, [](std::span<const std::byte>) { ::raise(SIGKILL); });
    return 0;
  });
  ASSERT_GT(pid, 0);
  EXPECT_EQ(wait_child(pid), 128 + SIGKILL);
  std::string recovered;
  EXPECT_EQ(ring.recover_claim(*dead, {},
                               [&](std::span<const std::byte> m) {
                                 recovered.assign(reinterpret_cast<const char*>(m.data()),
                                                  m.size());
                               }),
            ClaimRecovery::recovered);
  EXPECT_EQ(recovered, task);
  // The ring is not wedged: the second message pops and the ring fills to capacity.
  std::vector<std::byte> out;
  ASSERT_TRUE(consumer.try_pop(out));
  EXPECT_EQ(out.size(), 1u);
  EXPECT_TRUE(ring.try_push(out));
  EXPECT_TRUE(ring.try_push(out));
  EXPECT_FALSE(ring.try_push(out));
}

TEST(SpscRecoveryAcrossFork, ParentReclaimsWhatAKilledConsumerLeft) {
  auto [ring, consumer] = SpscRing<std::uint64_t>::create_anonymous(8);
  for (std::uint64_t i = 0; i < 6; ++i) ASSERT_TRUE(ring.try_push(i));
  const pid_t pid = fork_child([&] {
    (void)consumer.try_pop();
    (void)consumer.front();  // killed while reading item 1
    ::raise(SIGKILL);
    return 0;
  });
  ASSERT_GT(pid, 0);
  EXPECT_EQ(wait_child(pid), 128 + SIGKILL);
  std::vector<std::uint64_t> left;
  EXPECT_EQ(ring.reclaim_unconsumed([&](const std::uint64_t& v) { left.push_back(v); }), 5u);
  EXPECT_EQ(left, (std::vector<std::uint64_t>{1, 2, 3, 4, 5}));
}

}  // namespace
}  // namespace ringpool::ipc::test
