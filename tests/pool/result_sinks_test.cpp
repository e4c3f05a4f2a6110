// MapSink: the completion of a map() when its last result is settled (by the collector, under
// the pool's lock) while the caller's finish_sending() runs without the lock (ringpool issue
// #10, item 7). settled_ and expected_ used to be plain counters written by the two threads:
// a data race (ThreadSanitizer reports it in this file's stress case), and with the
// store-to-load reordering every x86 store buffer does, both sides could read the other's old
// value, so the map waited for ever. ImapSink: handed out without the sink's lock when
// nothing is there (ready flag) and, unordered, several outcomes per locked swap (issue #12).
// Threads only, no fork: also run under ThreadSanitizer.
#include "ringpool/pool/detail/result_sinks.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <span>
#include <stdexcept>
#include <thread>
#include <vector>

namespace ringpool::pool::detail {
namespace {

bool complete(const MapSink<int>& sink) {
  return MapSink<int>::complete(&sink);
}

TEST(MapSink, CompleteOnceEveryItemIsSettledWhicheverSideComesLast) {
  {
    MapSink<int> sink(3);
    sink.settled(2);
    sink.settled(1);
    EXPECT_FALSE(complete(sink)) << "complete before the caller said how many it sent";
    sink.finish_sending(3);
    EXPECT_TRUE(complete(sink));
  }
  {
    MapSink<int> sink(3);
    sink.settled(1);
    sink.finish_sending(3);
    EXPECT_FALSE(complete(sink));
    sink.settled(2);
    EXPECT_TRUE(complete(sink));
  }
  {
    MapSink<int> sink(4);  // the caller stopped early (an error while sending): 2 sent
    sink.settled(2);
    sink.finish_sending(2);
    EXPECT_TRUE(complete(sink));
  }
  {
    MapSink<int> sink(0);
    sink.finish_sending(0);
    EXPECT_TRUE(complete(sink));
  }
}

// The race itself: in each round one thread settles the last items while another calls
// finish_sending, released together. No round may end incomplete.
TEST(MapSink, ALastSettlementRacingFinishSendingIsNeverMissed) {
  constexpr int kRounds = 3000;
  std::vector<std::unique_ptr<MapSink<int>>> sinks;
  sinks.reserve(kRounds);
  for (int r = 0; r < kRounds; ++r) sinks.push_back(std::make_unique<MapSink<int>>(4));
  std::atomic<int> go{-1};
  std::atomic<int> settled_round{-1};
  std::atomic<int> sent_round{-1};
  auto wait_for = [](const std::atomic<int>& flag, int round) {
    // acquire: pairs with the release stores below; a round starts after the last one ended.
    while (flag.load(std::memory_order_acquire) < round) std::this_thread::yield();
  };
  std::thread collector([&] {
    for (int r = 0; r < kRounds; ++r) {
      wait_for(go, r);
      sinks[static_cast<std::size_t>(r)]->settled(1);  // the last of four
      settled_round.store(r, std::memory_order_release);
    }
  });
  std::thread caller([&] {
    for (int r = 0; r < kRounds; ++r) {
      wait_for(go, r);
      sinks[static_cast<std::size_t>(r)]->finish_sending(4);
      sent_round.store(r, std::memory_order_release);
    }
  });
  for (int r = 0; r < kRounds; ++r) {
    sinks[static_cast<std::size_t>(r)]->settled(3);  // the first three, before the race
    go.store(r, std::memory_order_release);
    wait_for(settled_round, r);
    wait_for(sent_round, r);
  }
  collector.join();
  caller.join();
  int missed = 0;
  for (const auto& sink : sinks) missed += complete(*sink) ? 0 : 1;
  EXPECT_EQ(missed, 0) << "rounds whose last settlement was missed (map() would hang)";
}

// What the collector does for item `index` (under the pool's lock in a pool).
void deliver_int(ImapSink<int>& sink, std::uint64_t index, int value) {
  std::byte bytes[sizeof(int)];
  Codec<int>::encode(value, std::span<std::byte>(bytes));
  sink.deliver(index, std::span<const std::byte>(bytes));
}

TEST(ImapSink, UnorderedHandsOutEveryOutcomeOnceInDeliveryOrder) {
  ImapSink<int> sink(false);
  for (std::uint64_t i = 0; i < 4; ++i) sink.expect(i);
  EXPECT_FALSE(ImapSink<int>::has_next(&sink));
  EXPECT_FALSE(sink.take().has_value());
  deliver_int(sink, 2, 20);
  deliver_int(sink, 0, 0);
  EXPECT_TRUE(ImapSink<int>::has_next(&sink));
  ASSERT_EQ(sink.take()->value(), 20);  // both move out in one swap; 0 stays for later
  deliver_int(sink, 3, 30);
  sink.fail(1, std::make_exception_ptr(std::runtime_error("item 1")));
  ASSERT_EQ(sink.take()->value(), 0);
  ASSERT_EQ(sink.take()->value(), 30);
  const auto failed = sink.take();
  ASSERT_TRUE(failed.has_value());
  EXPECT_FALSE(failed->ok());
  EXPECT_FALSE(ImapSink<int>::has_next(&sink));
  EXPECT_FALSE(sink.take().has_value());
}

TEST(ImapSink, OrderedWaitsForTheNextIndex) {
  ImapSink<int> sink(true);
  for (std::uint64_t i = 0; i < 3; ++i) sink.expect(i);
  deliver_int(sink, 1, 10);
  EXPECT_FALSE(ImapSink<int>::has_next(&sink)) << "item 0 is not there yet";
  EXPECT_FALSE(sink.take().has_value());
  deliver_int(sink, 0, 0);
  ASSERT_TRUE(ImapSink<int>::has_next(&sink));
  EXPECT_EQ(sink.take()->value(), 0);
  ASSERT_TRUE(ImapSink<int>::has_next(&sink));
  EXPECT_EQ(sink.take()->value(), 10);
  EXPECT_FALSE(ImapSink<int>::has_next(&sink));
  deliver_int(sink, 2, 20);
  EXPECT_EQ(sink.take()->value(), 20);
}

// A collector thread delivers while the iterator's thread takes: every outcome arrives
// once; has_next() never says yes without take() finding one.
TEST(ImapSink, ConcurrentDeliveriesAreEachTakenOnce) {
  for (const bool ordered : {false, true}) {
    constexpr int kItems = 20000;
    ImapSink<int> sink(ordered);
    for (int i = 0; i < kItems; ++i) sink.expect(static_cast<std::uint64_t>(i));
    std::thread collector([&] {
      for (int i = 0; i < kItems; ++i) deliver_int(sink, static_cast<std::uint64_t>(i), i);
    });
    std::vector<int> seen(kItems, 0);
    int taken = 0;
    int broken_promises = 0;
    while (taken < kItems) {
      const bool said = ImapSink<int>::has_next(&sink);
      auto out = sink.take();
      if (said && !out) ++broken_promises;
      if (!out) {
        std::this_thread::yield();
        continue;
      }
      const int v = out->value();
      ASSERT_GE(v, 0);
      ASSERT_LT(v, kItems);
      if (ordered) {
        EXPECT_EQ(v, taken);
      }
      ++seen[static_cast<std::size_t>(v)];
      ++taken;
    }
    collector.join();
    EXPECT_EQ(broken_promises, 0);
    EXPECT_FALSE(sink.take().has_value());
    int wrong = 0;
    for (const int n : seen) wrong += n == 1 ? 0 : 1;
    EXPECT_EQ(wrong, 0) << (ordered ? "ordered" : "unordered");
  }
}

}  // namespace
}  // namespace ringpool::pool::detail
