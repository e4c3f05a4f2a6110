// Crash-recovery hooks: SPSC reclaim/reset after the peer is gone, and tracked MPMC pops
// recovered after a consumer died at each point of the pop (simulated with the test hook;
// the real SIGKILL case is in ring_fork_test.cpp).
#include <gtest/gtest.h>

#include <vector>

#include "ring_test_support.hpp"
#include "ringpool/ipc/detail/ring_header.hpp"
#include "ringpool/ipc/detail/tracked_pop_test_hook.hpp"

namespace ringpool::ipc::test {
namespace {

std::vector<std::byte> bytes_of(std::string_view s) {
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  return {p, p + s.size()};
}

TEST(SpscRecovery, ProducerReclaimsWhatADeadConsumerLeftIncludingItsInFlightItem) {
  auto [producer, consumer] = SpscRing<std::uint64_t>::create_anonymous(8);
  for (std::uint64_t i = 0; i < 5; ++i) ASSERT_TRUE(producer.try_push(i));
  EXPECT_EQ(consumer.try_pop(), std::optional<std::uint64_t>(0));
  ASSERT_NE(consumer.front(), nullptr);  // reading item 1 when it "dies": no release()
  std::vector<std::uint64_t> reclaimed;
  EXPECT_EQ(producer.reclaim_unconsumed([&](const std::uint64_t& v) { reclaimed.push_back(v); }),
            4u);
  EXPECT_EQ(reclaimed, (std::vector<std::uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(producer.size_approx(), 0u);
  // A replacement consumer attaches and the ring keeps working.
  auto replacement = SpscConsumer<std::uint64_t>::attach(producer.segment());
  for (std::uint64_t i = 10; i < 18; ++i) ASSERT_TRUE(producer.try_push(i));
  EXPECT_FALSE(producer.try_push(99));
  EXPECT_EQ(replacement.try_pop(), std::optional<std::uint64_t>(10));
}

TEST(SpscRecovery, ByteRingReclaimAndReset) {
  auto producer = SpscByteRing::create_anonymous(4, 32).producer;
  ASSERT_TRUE(producer.try_push(bytes_of("a")));
  ASSERT_TRUE(producer.try_push(bytes_of("bc")));
  std::vector<std::size_t> sizes;
  EXPECT_EQ(
      producer.reclaim_unconsumed([&](std::span<const std::byte> m) { sizes.push_back(m.size()); }),
      2u);
  EXPECT_EQ(sizes, (std::vector<std::size_t>{1, 2}));
  ASSERT_TRUE(producer.try_push(bytes_of("d")));
  producer.close();
  producer.reset();
  EXPECT_FALSE(producer.is_closed());
  EXPECT_EQ(producer.size_approx(), 0u);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(producer.try_push(bytes_of("x")));
  EXPECT_FALSE(producer.try_push(bytes_of("x")));
}

TEST(SpscRecovery, ConsumerDrainsWhatADeadProducerPublished) {
  auto [producer, consumer] = SpscRing<std::uint64_t>::create_anonymous(8);
  ASSERT_TRUE(producer.try_push(1));
  std::uint64_t* half = producer.claim();  // "dies" between claim and commit
  ASSERT_NE(half, nullptr);
  *half = 2;
  std::vector<std::uint64_t> got;
  EXPECT_EQ(consumer.drain([&](const std::uint64_t& v) { got.push_back(v); }), 1u);
  EXPECT_EQ(got, (std::vector<std::uint64_t>{1}));  // the uncommitted slot is invisible
}

// The sequence pool::Pool runs when a worker dies: drain its results, reclaim its task
// ring (including the task it was reading), reset both rings, attach fresh parent handles;
// the replacement attaches its own. Positions live in the handles, so every handle used
// after the reset is a fresh attach.
TEST(SpscRecovery, ParentRecoversAndRespawnsWithFreshHandles) {
  auto [tasks, worker_tasks] = SpscByteRing::create_anonymous(4, 32);      // parent produces
  auto [worker_results, results] = SpscByteRing::create_anonymous(4, 32);  // parent consumes
  for (const char* t : {"t1", "t2", "t3", "t4"}) ASSERT_TRUE(tasks.try_push(bytes_of(t)));
  ASSERT_TRUE(worker_tasks.try_pop_with([](std::span<const std::byte>) {}));
  ASSERT_TRUE(worker_results.try_push(bytes_of("r1")));
  // The worker dies while visiting t2 in place: its visitor never returns.
  struct Killed {};
  EXPECT_THROW((void)worker_tasks.try_pop_with([](std::span<const std::byte>) { throw Killed{}; }),
               Killed);
  // (A thrown visitor releases the slot; a SIGKILL would not. Rewind the head to model it.)
  auto& task_control = *reinterpret_cast<detail::RingControl*>(tasks.segment()->data());
  task_control.consumer.pos.store(1);

  std::vector<std::vector<std::byte>> got;
  while (results.try_pop(got.emplace_back())) {
  }
  got.pop_back();
  EXPECT_EQ(got, (std::vector<std::vector<std::byte>>{bytes_of("r1")}));
  std::vector<std::vector<std::byte>> reclaimed;
  EXPECT_EQ(tasks.reclaim_unconsumed(
                [&](std::span<const std::byte> m) { reclaimed.emplace_back(m.begin(), m.end()); }),
            3u);
  EXPECT_EQ(reclaimed,
            (std::vector<std::vector<std::byte>>{bytes_of("t2"), bytes_of("t3"), bytes_of("t4")}));
  tasks.reset();
  results.reset();
  tasks = SpscByteProducer::attach(tasks.segment());
  results = SpscByteConsumer::attach(results.segment());

  auto new_worker_tasks = SpscByteConsumer::attach(tasks.segment());
  auto new_worker_results = SpscByteProducer::attach(results.segment());
  for (const auto& m : reclaimed) ASSERT_TRUE(tasks.try_push(m));
  std::vector<std::byte> out;
  for (const auto& m : reclaimed) {
    ASSERT_TRUE(new_worker_tasks.try_pop(out));
    EXPECT_EQ(out, m);
    ASSERT_TRUE(new_worker_results.try_push(out));
  }
  for (const auto& m : reclaimed) {
    ASSERT_TRUE(results.try_pop(out));
    EXPECT_EQ(out, m);
  }
  EXPECT_FALSE(results.try_pop(out));
  EXPECT_FALSE(tasks.corrupted());
  EXPECT_FALSE(results.corrupted());
}

class TrackedRecovery : public ::testing::Test {
 protected:
  MpmcByteRing::Ends ends_ = MpmcByteRing::create_anonymous(4, 32);
  MpmcByteProducer& ring_ = ends_.producer;  // the supervisor
  MpmcByteConsumer& consumer_ = ends_.consumer;
  Segment words_ = Segment::anonymous(4096);  // claim words live in shared memory
  ClaimWord& word(int i) { return *::new (words_.data() + 64 * i) ClaimWord(0); }
  std::vector<std::string> recovered_;
  ClaimRecovery recover(const ClaimWord& dead, std::vector<const ClaimWord*> live) {
    return ring_.recover_claim(dead, live, [&](std::span<const std::byte> m) {
      recovered_.emplace_back(reinterpret_cast<const char*>(m.data()), m.size());
    });
  }
  bool pop_until(ClaimWord& w, detail::TrackedPopStop stop, int* visits = nullptr) {
    return detail::TrackedPopTestHook::pop_until(
        consumer_, w,
        [&](std::span<const std::byte>) {
          if (visits != nullptr) ++*visits;
        },
        stop);
  }
  void fill_and_check_not_wedged() {
    std::vector<std::byte> out;
    while (consumer_.try_pop(out)) {
    }
    for (std::size_t i = 0; i < ring_.capacity(); ++i) ASSERT_TRUE(ring_.try_push(bytes_of("f")));
    EXPECT_FALSE(ring_.try_push(bytes_of("f")));
  }
};

TEST_F(TrackedRecovery, DeathAfterIntentHoldsNothingAndLosesNothing) {
  ClaimWord& dead = word(0);
  ASSERT_TRUE(ring_.try_push(bytes_of("task-1")));
  ASSERT_TRUE(pop_until(dead, detail::TrackedPopStop::after_intent));
  EXPECT_NE(dead.load(), 0u);
  EXPECT_EQ(recover(dead, {}), ClaimRecovery::none);
  std::vector<std::byte> out;
  ASSERT_TRUE(consumer_.try_pop(out));  // still there for the living
  EXPECT_EQ(out, bytes_of("task-1"));
}

TEST_F(TrackedRecovery, DeathAfterClaimIsRecoveredAndUnwedged) {
  ClaimWord& dead = word(0);
  ClaimWord& alive = word(1);
  ASSERT_TRUE(ring_.try_push(bytes_of("task-1")));
  ASSERT_TRUE(ring_.try_push(bytes_of("task-2")));
  ASSERT_TRUE(pop_until(dead, detail::TrackedPopStop::after_claim));
  EXPECT_EQ(recover(dead, {&alive}), ClaimRecovery::recovered);
  EXPECT_EQ(recovered_, (std::vector<std::string>{"task-1"}));
  EXPECT_EQ(recover(dead, {&alive}), ClaimRecovery::none);  // idempotent
  std::string second;
  EXPECT_TRUE(consumer_.try_pop_tracked(alive, [&](std::span<const std::byte> m) {
    second.assign(reinterpret_cast<const char*>(m.data()), m.size());
  }));
  EXPECT_EQ(second, "task-2");
  EXPECT_EQ(alive.load(), 0u);
  fill_and_check_not_wedged();
}

TEST_F(TrackedRecovery, DeathAfterVisitIsRecoveredAtLeastOnce) {
  ClaimWord& dead = word(0);
  ASSERT_TRUE(ring_.try_push(bytes_of("task-1")));
  int visits = 0;
  ASSERT_TRUE(pop_until(dead, detail::TrackedPopStop::after_visit, &visits));
  EXPECT_EQ(visits, 1);
  EXPECT_EQ(recover(dead, {}), ClaimRecovery::recovered);
  EXPECT_EQ(recovered_, (std::vector<std::string>{"task-1"}));
  fill_and_check_not_wedged();
}

TEST_F(TrackedRecovery, DeathAfterReleaseHoldsNothing) {
  ClaimWord& dead = word(0);
  ASSERT_TRUE(ring_.try_push(bytes_of("task-1")));
  ASSERT_TRUE(pop_until(dead, detail::TrackedPopStop::after_release));
  EXPECT_NE(dead.load(), 0u);
  EXPECT_EQ(recover(dead, {}), ClaimRecovery::none);
  EXPECT_TRUE(recovered_.empty());
  fill_and_check_not_wedged();
}

TEST_F(TrackedRecovery, LiveConsumerOnTheSameTicketMakesItUndecidedUntilItMovesOn) {
  ClaimWord& dead = word(0);
  ClaimWord& alive = word(1);
  ASSERT_TRUE(ring_.try_push(bytes_of("task-1")));
  // The live consumer won ticket 0 and is still copying it; the dead one had recorded the
  // same ticket as its intent (it lost the CAS and died before clearing its word).
  ASSERT_TRUE(pop_until(alive, detail::TrackedPopStop::after_claim));
  dead.store(alive.load());
  EXPECT_EQ(recover(dead, {&alive}), ClaimRecovery::undecided);
  // The live consumer then dies too and is recovered; the dead one held nothing.
  EXPECT_EQ(recover(alive, {&dead}), ClaimRecovery::undecided);  // symmetric while both name it
  EXPECT_EQ(recover(alive, {}), ClaimRecovery::recovered);
  EXPECT_EQ(recover(dead, {}), ClaimRecovery::none);
  EXPECT_EQ(recovered_, (std::vector<std::string>{"task-1"}));
}

TEST_F(TrackedRecovery, IdleWordRecoversNothing) {
  ClaimWord& dead = word(0);
  ASSERT_TRUE(ring_.try_push(bytes_of("task-1")));
  EXPECT_EQ(recover(dead, {}), ClaimRecovery::none);
  std::vector<std::byte> out;
  EXPECT_TRUE(consumer_.try_pop(out));
  EXPECT_FALSE(consumer_.try_pop_tracked(dead, [](auto) {}));  // empty: word cleared again
  EXPECT_EQ(dead.load(), 0u);
}

}  // namespace
}  // namespace ringpool::ipc::test
