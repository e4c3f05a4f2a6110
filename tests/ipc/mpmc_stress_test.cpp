// Multi-producer multi-consumer stress: every item delivered exactly once, per-producer
// order preserved. Sizes scale with RINGPOOL_STRESS_SCALE.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "ring_test_support.hpp"

namespace ringpool::ipc::test {
namespace {

constexpr std::uint64_t kProducers = 3;
constexpr std::uint64_t kConsumers = 3;

// Another end of the same ring for another thread: clone() for ringpool's move-only ends,
// a copy for the Boost backends' copyable handles.
template <class End>
End another(const End& end) {
  if constexpr (requires { end.clone(); }) {
    return end.clone();
  } else {
    return end;
  }
}

// Item.seq = producer << 40 | index.
template <class Ends, class Push, class Pop>
void run_mpmc(const Ends& ring, std::uint64_t per_producer, Push push, Pop pop) {
  std::vector<std::vector<std::uint64_t>> seen(kConsumers);
  std::vector<std::thread> threads;
  std::atomic<std::uint64_t> consumed{0};
  const std::uint64_t total = kProducers * per_producer;
  for (std::uint64_t p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p, r = another(ring.producer)]() mutable {
      for (std::uint64_t i = 0; i < per_producer; ++i) push(r, make_item((p << 40) | i));
    });
  }
  std::atomic<std::uint64_t> order_errors{0};
  for (std::uint64_t c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&, c, r = another(ring.consumer)]() mutable {
      std::vector<std::uint64_t> last(kProducers, ~std::uint64_t{0});
      Item item{};
      while (consumed.load(std::memory_order_relaxed) < total) {
        if (!pop(r, item)) {
          std::this_thread::yield();
          continue;
        }
        consumed.fetch_add(1, std::memory_order_relaxed);
        if (!valid_item(item)) ++order_errors;
        const std::uint64_t p = item.seq >> 40;
        const std::uint64_t i = item.seq & ((std::uint64_t{1} << 40) - 1);
        // One consumer sees each producer's items in increasing order.
        if (p >= kProducers || (last[p] != ~std::uint64_t{0} && i <= last[p])) ++order_errors;
        if (p < kProducers) last[p] = i;
        seen[c].push_back(item.seq);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(order_errors.load(), 0u);
  std::vector<std::uint8_t> hits(total, 0);
  for (const auto& v : seen) {
    for (std::uint64_t s : v) {
      const std::uint64_t idx = (s >> 40) * per_producer + (s & ((std::uint64_t{1} << 40) - 1));
      ASSERT_LT(idx, total);
      ++hits[idx];
    }
  }
  std::uint64_t wrong = 0;
  for (auto h : hits) wrong += h != 1;
  EXPECT_EQ(wrong, 0u) << "items lost or duplicated";
}

TEST(MpmcStress, TypedRingDeliversEveryItemExactlyOnce) {
  run_mpmc(
      MpmcRing<Item>::create_anonymous(64, RingOptions{WaitStrategy::yield, 64}),
      20'000 * stress_scale(),
      [](MpmcProducer<Item>& r, const Item& it) {
        while (!r.try_push(it)) std::this_thread::yield();
      },
      [](MpmcConsumer<Item>& r, Item& out) { return r.try_pop(out); });
}

TEST(MpmcStress, ByteRingDeliversEveryItemExactlyOnce) {
  run_mpmc(
      MpmcByteRing::create_anonymous(32, sizeof(Item) + 8, RingOptions{WaitStrategy::futex, 64}),
      5'000 * stress_scale(),
      [](MpmcByteProducer& r, const Item& it) {
        ASSERT_EQ(r.push(std::as_bytes(std::span(&it, 1))), OpStatus::ok);
      },
      [](MpmcByteConsumer& r, Item& out) {
        return r.try_pop_with([&](std::span<const std::byte> m) {
          ASSERT_EQ(m.size(), sizeof(Item));
          std::memcpy(&out, m.data(), sizeof(Item));
        });
      });
}

TEST(MpmcStress, BoostQueueDeliversEveryItemExactlyOnce) {
  if (kThreadSanitizer) GTEST_SKIP() << kBoostQueueTsanReason;
  using Queue = bench::BoostMpmcQueue<Item, 64>;
  const Queue queue = Queue::create_anonymous();
  run_mpmc(
      RingEnds<Queue, Queue>{queue, queue}, 5'000 * stress_scale(),
      [](Queue& r, const Item& it) {
        while (!r.try_push(it)) std::this_thread::yield();
      },
      [](Queue& r, Item& out) { return r.try_pop(out); });
}

}  // namespace
}  // namespace ringpool::ipc::test
