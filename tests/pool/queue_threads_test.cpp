// Queue<T> driven by threads over one mapping (meaningful under ThreadSanitizer):
// exactly-once delivery with many producers and consumers for every wait strategy,
// close waking blocked threads, exact maxsize under contention.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "ringpool/pool/queue.hpp"
#include "test_helpers.hpp"

namespace {
using ::ringpool::test::stress_scale;

using namespace std::chrono_literals;
using ringpool::ipc::WaitStrategy;
using ringpool::pool::Closed;
using ringpool::pool::Queue;
using ringpool::pool::QueueOptions;

class QueueThreads : public ::testing::TestWithParam<WaitStrategy> {};

TEST_P(QueueThreads, ManyProducersManyConsumersExactlyOnce) {
  constexpr int kProducers = 3;
  constexpr int kConsumers = 3;
  // Spinning threads outnumber the 2 cores of CI machines: keep that case short.
  const int base = GetParam() == WaitStrategy::spin ? 100 : 2000;
  const int per_producer = static_cast<int>(static_cast<std::size_t>(base) * stress_scale());
  Queue<int> q(5, QueueOptions{.wait = GetParam()});
  std::vector<std::vector<int>> received(kConsumers);
  std::atomic<int> over_maxsize{0};

  std::vector<std::thread> consumers;
  for (int c = 0; c < kConsumers; ++c) {
    consumers.emplace_back([&, c] {
      std::vector<int> last(kProducers, -1);
      for (;;) {
        int v = 0;
        try {
          v = q.get();
        } catch (const Closed&) {
          return;
        }
        // relaxed: a test counter read after join().
        if (q.size_approx() > q.maxsize()) over_maxsize.fetch_add(1, std::memory_order_relaxed);
        const int producer = v / per_producer;
        const int seq = v % per_producer;
        EXPECT_GT(seq, last[static_cast<std::size_t>(producer)]) << "FIFO per producer broken";
        last[static_cast<std::size_t>(producer)] = seq;
        received[static_cast<std::size_t>(c)].push_back(v);
      }
    });
  }
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < per_producer; ++i) q.put(p * per_producer + i);
    });
  }
  for (auto& t : producers) t.join();
  q.close();
  for (auto& t : consumers) t.join();

  std::vector<int> all;
  for (const auto& r : received) all.insert(all.end(), r.begin(), r.end());
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), static_cast<std::size_t>(kProducers * per_producer));
  for (std::size_t i = 0; i < all.size(); ++i) ASSERT_EQ(all[i], static_cast<int>(i));
  EXPECT_EQ(over_maxsize.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(WaitStrategies, QueueThreads,
                         ::testing::Values(WaitStrategy::futex, WaitStrategy::yield,
                                           WaitStrategy::spin),
                         [](const auto& param_info) {
                           return std::string(ringpool::ipc::to_string(param_info.param));
                         });

TEST(QueueThreadsClose, WakesBlockedGetAndPut) {
  Queue<int> empty(1);
  Queue<int> full(1);
  full.put(0);
  std::atomic<int> closed_seen{0};
  std::thread getter([&] {
    try {
      static_cast<void>(empty.get());
    } catch (const Closed&) {
      closed_seen.fetch_add(1);
    }
  });
  std::thread putter([&] {
    try {
      full.put(1);
    } catch (const Closed&) {
      closed_seen.fetch_add(1);
    }
  });
  empty.close();
  full.close();
  getter.join();
  putter.join();
  EXPECT_EQ(closed_seen.load(), 2);
  EXPECT_EQ(full.get(), 0);  // what was in it before close() still drains
}

TEST(QueueThreadsClose, BlockedPutResumesAfterGet) {
  Queue<int> q(1);
  q.put(1);
  std::thread putter([&] { q.put(2); });
  EXPECT_EQ(q.get(), 1);
  EXPECT_EQ(q.get(), 2);
  putter.join();
}

}  // namespace
