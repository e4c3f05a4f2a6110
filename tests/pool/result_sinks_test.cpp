// MapSink: the completion of a map() when its last result is settled (by the collector, under
// the pool's lock) while the caller's finish_sending() runs without the lock (ringpool issue
// #10, item 7). settled_ and expected_ used to be plain counters written by the two threads:
// a data race (ThreadSanitizer reports it in this file's stress case), and with the
// store-to-load reordering every x86 store buffer does, both sides could read the other's old
// value, so the map waited for ever. Threads only, no fork: also run under ThreadSanitizer.
#include "ringpool/pool/detail/result_sinks.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <memory>
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

}  // namespace
}  // namespace ringpool::pool::detail
