// Crash-recovery hooks: SPSC reclaim/reset after the peer is gone, tracked MPMC pops
// recovered after a consumer died at each point of the pop (simulated with the test hook;
// the real SIGKILL case is in ring_fork_test.cpp), and tracked MPMC claims of producers that
// died between claim and commit turned into tombstones consumers skip (the SIGKILL case is
// in tests/pool/queue_crash_test.cpp).
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "ring_test_support.hpp"
#include "ringpool/ipc/detail/ring_header.hpp"
#include "ringpool/ipc/detail/tracked_pop_test_hook.hpp"

namespace ringpool::ipc::test {
namespace {

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

// A producer "dies" by claiming with claim_tracked() and never committing (its handle is
// simply left alone); recover_put_claim() runs with the dead word as a supervisor would.
class TrackedPutRecovery : public TrackedRecovery {
 protected:
  MpmcByteProducer dead_producer_ = ring_.clone();
  std::atomic<std::uint64_t> untracked_{0};
  PutRecovery recover_put(const ClaimWord& dead, std::vector<const ClaimWord*> live) {
    return ring_.recover_put_claim(dead, live, &untracked_);
  }
  std::vector<std::string> drain() {
    std::vector<std::string> got;
    while (consumer_.try_pop_with([&](std::span<const std::byte> m) {
      got.emplace_back(reinterpret_cast<const char*>(m.data()), m.size());
    })) {
    }
    return got;
  }
};

TEST_F(TrackedPutRecovery, AClaimNeverCommittedBecomesATombstoneThatConsumersSkip) {
  ClaimWord& dead = word(0);
  ASSERT_TRUE(ring_.try_push(bytes_of("a")));
  ASSERT_NE(dead_producer_.claim_tracked(1, dead).data(), nullptr);  // ticket 1, then "dies"
  EXPECT_EQ(dead.load(), 2u);
  ASSERT_TRUE(ring_.try_push(bytes_of("c")));
  EXPECT_EQ(drain(), (std::vector<std::string>{"a"}));  // wedged at ticket 1
  EXPECT_EQ(recover_put(dead, {}), PutRecovery::tombstoned);
  EXPECT_EQ(recover_put(dead, {}), PutRecovery::published);  // idempotent
  EXPECT_EQ(drain(), (std::vector<std::string>{"c"}));
  EXPECT_EQ(consumer_.take_skipped(), 1u);
  EXPECT_EQ(consumer_.take_skipped(), 0u);
  EXPECT_FALSE(consumer_.corrupted());
  fill_and_check_not_wedged();
}

TEST_F(TrackedPutRecovery, ATrackedPopSkipsATombstoneToo) {
  ClaimWord& dead = word(0);
  ClaimWord& claim = word(1);
  ASSERT_NE(dead_producer_.claim_tracked(1, dead).data(), nullptr);
  ASSERT_TRUE(ring_.try_push(bytes_of("b")));
  ASSERT_EQ(recover_put(dead, {}), PutRecovery::tombstoned);
  std::string got;
  EXPECT_TRUE(consumer_.try_pop_tracked(claim, [&](std::span<const std::byte> m) {
    got.assign(reinterpret_cast<const char*>(m.data()), m.size());
  }));
  EXPECT_EQ(got, "b");
  EXPECT_EQ(claim.load(), 0u);
  EXPECT_EQ(consumer_.take_skipped(), 1u);
}

TEST_F(TrackedPutRecovery, AConsumerThatDiedHoldingATombstoneIsRecoveredAsSkipped) {
  ClaimWord& dead_put = word(0);
  ClaimWord& dead_get = word(1);
  ASSERT_NE(dead_producer_.claim_tracked(1, dead_put).data(), nullptr);
  ASSERT_EQ(recover_put(dead_put, {}), PutRecovery::tombstoned);
  ASSERT_TRUE(pop_until(dead_get, detail::TrackedPopStop::after_claim));
  EXPECT_EQ(recover(dead_get, {}), ClaimRecovery::skipped);
  EXPECT_TRUE(recovered_.empty());
  EXPECT_FALSE(ring_.corrupted());
  fill_and_check_not_wedged();
}

TEST_F(TrackedPutRecovery, ACommittedOrFailedClaimLeavesNothingToDo) {
  ClaimWord& w = word(0);
  const std::span<std::byte> room = dead_producer_.claim_tracked(1, w);
  ASSERT_NE(room.data(), nullptr);
  room[0] = std::byte{'x'};
  dead_producer_.commit_tracked(1, w);
  EXPECT_EQ(w.load(), 0u);
  EXPECT_EQ(recover_put(w, {}), PutRecovery::unclaimed);
  // An intent whose CAS never happened (the counter is not past it).
  w.store(ring_.capacity() + 5);
  EXPECT_EQ(recover_put(w, {}), PutRecovery::unclaimed);
  // A full ring: the failed claim clears its intent.
  for (std::size_t i = 1; i < ring_.capacity(); ++i) ASSERT_TRUE(ring_.try_push(bytes_of("f")));
  EXPECT_EQ(dead_producer_.claim_tracked(1, w).data(), nullptr);
  EXPECT_EQ(w.load(), 0u);
  EXPECT_EQ(drain().size(), ring_.capacity());
  EXPECT_EQ(consumer_.take_skipped(), 0u);
}

TEST_F(TrackedPutRecovery, AProducerThatMayStillRunKeepsItsTicket) {
  ClaimWord& dead = word(0);
  ClaimWord& alive = word(1);
  // The live producer won ticket 0 and is still writing; the dead one had recorded the same
  // ticket as its intent (it lost the CAS and died before clearing its word).
  MpmcByteProducer live_producer = ring_.clone();
  const std::span<std::byte> room = live_producer.claim_tracked(1, alive);
  ASSERT_NE(room.data(), nullptr);
  dead.store(alive.load());
  EXPECT_EQ(recover_put(dead, {&alive}), PutRecovery::undecided);
  // A put running without a word makes every decision wait.
  untracked_.store(1);
  EXPECT_EQ(recover_put(dead, {}), PutRecovery::undecided);
  untracked_.store(0);
  room[0] = std::byte{'L'};
  live_producer.commit_tracked(1, alive);
  EXPECT_EQ(recover_put(dead, {&alive}), PutRecovery::published);
  EXPECT_EQ(drain(), (std::vector<std::string>{"L"}));
  EXPECT_EQ(consumer_.take_skipped(), 0u);
}

// Two threads over one mapping (also under TSan): a producer thread that "dies" after
// every seventh claim (and carries on with a fresh handle) and a consumer thread that
// settles each dead claim when it finds the ring empty. The consumer sees every committed
// message exactly once, in order, and finishes.
TEST_F(TrackedPutRecovery, ConsumersGetEveryCommittedMessageWhileDeadClaimsAreTombstoned) {
  constexpr int kMessages = 700;
  ClaimWord& live = word(1);
  ClaimWord& dead = word(2);
  std::atomic<bool> dead_announced{false};
  std::atomic<bool> done{false};
  std::thread producer([&] {
    MpmcByteProducer p = ring_.clone();
    for (int i = 0; i < kMessages; ++i) {
      const bool dies = i % 7 == 3;
      // The dead word is reused only once the consumer has settled its last claim.
      while (dies && dead_announced.load()) std::this_thread::yield();
      ClaimWord& w = dies ? dead : live;
      std::span<std::byte> room;
      while ((room = p.claim_tracked(sizeof i, w)).data() == nullptr) std::this_thread::yield();
      if (dies) {
        p = ring_.clone();  // the claim is abandoned with its handle
        dead_announced.store(true);
        continue;
      }
      std::memcpy(room.data(), &i, sizeof i);
      p.commit_tracked(sizeof i, w);
    }
    done.store(true);
  });
  std::vector<int> got;
  std::size_t skipped = 0;
  while (!done.load() || consumer_.size_approx() != 0) {
    const bool popped = consumer_.try_pop_with([&](std::span<const std::byte> m) {
      int v = 0;
      std::memcpy(&v, m.data(), sizeof v);
      got.push_back(v);
    });
    skipped += consumer_.take_skipped();
    if (popped || !dead_announced.load()) continue;
    if (ring_.recover_put_claim(dead, std::vector<const ClaimWord*>{&live}, nullptr) !=
        PutRecovery::undecided) {
      dead.store(0);
      dead_announced.store(false);
    }
  }
  producer.join();
  std::vector<int> want;
  for (int i = 0; i < kMessages; ++i) {
    if (i % 7 != 3) want.push_back(i);
  }
  EXPECT_EQ(got, want);
  EXPECT_EQ(skipped, static_cast<std::size_t>(kMessages) - want.size());
  EXPECT_FALSE(consumer_.corrupted());
}

}  // namespace
}  // namespace ringpool::ipc::test
