// SpscRing / SpscByteRing ends: each side's position lives in its move-only handle (the
// contract and its recovery paths), batch wrap-around, misuse that must not break the ring, and
// hostile index / length writes that must never lead to an out-of-bounds access. The rings
// here live in heap buffers of exactly required_bytes(), so that ASan/UBSan builds flag any
// access past the last slot (a segment mapping would hide it up to the page end).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>
#include <random>
#include <span>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "ring_test_support.hpp"
#include "ringpool/ipc/detail/ring_header.hpp"

namespace ringpool::ipc::test {
namespace {

// A 128-byte-aligned heap region of exactly `bytes` bytes.
class HeapRegion {
 public:
  explicit HeapRegion(std::size_t bytes)
      : bytes_(bytes),
        data_(static_cast<std::byte*>(::operator new (bytes, std::align_val_t{kRegionAlignment}))) {
    std::memset(data_, 0, bytes_);
  }
  ~HeapRegion() { ::operator delete (data_, std::align_val_t{kRegionAlignment}); }
  HeapRegion(const HeapRegion&) = delete;
  HeapRegion& operator=(const HeapRegion&) = delete;
  std::span<std::byte> bytes() const noexcept { return {data_, bytes_}; }
  detail::RingControl& control() const noexcept {
    return *reinterpret_cast<detail::RingControl*>(data_);
  }

 private:
  std::size_t bytes_;
  std::byte* data_;
};

// ---- the position lives in the handle ------------------------------------------------

// A stale copy of a position cannot exist: ends are move-only, and a moved-from end is
// invalid.
static_assert(!std::is_copy_constructible_v<SpscProducer<std::uint64_t>>);
static_assert(!std::is_copy_assignable_v<SpscProducer<std::uint64_t>>);
static_assert(!std::is_copy_constructible_v<SpscConsumer<std::uint64_t>>);
static_assert(!std::is_copy_constructible_v<SpscByteProducer>);
static_assert(!std::is_copy_constructible_v<SpscByteConsumer>);
static_assert(std::is_nothrow_move_constructible_v<SpscProducer<std::uint64_t>>);
static_assert(std::is_nothrow_move_assignable_v<SpscByteConsumer>);

TEST(SpscHandle, MovedEndsCarryTheirPositionAndTheSourceBecomesInvalid) {
  auto [first_producer, first_consumer] = SpscRing<std::uint64_t>::create_anonymous(4);
  ASSERT_TRUE(first_producer.try_push(1));
  SpscProducer<std::uint64_t> producer = std::move(first_producer);
  EXPECT_FALSE(first_producer.valid());  // NOLINT(bugprone-use-after-move): the contract
  EXPECT_EQ(first_producer.capacity(), 0u);
  ASSERT_TRUE(producer.try_push(2));
  SpscConsumer<std::uint64_t> consumer;
  consumer = std::move(first_consumer);
  EXPECT_FALSE(first_consumer.valid());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(consumer.try_pop(), std::optional<std::uint64_t>(1));
  EXPECT_EQ(consumer.try_pop(), std::optional<std::uint64_t>(2));
  EXPECT_FALSE(consumer.try_pop().has_value());
}

TEST(SpscHandle, OneEndPerSideMovesItemsInOrder) {
  auto [producer, consumer] = SpscRing<std::uint64_t>::create_anonymous(4);
  for (std::uint64_t round = 0; round < 10; ++round) {
    for (std::uint64_t i = 0; i < 4; ++i) ASSERT_TRUE(producer.try_push(round * 4 + i));
    EXPECT_FALSE(producer.try_push(99));
    for (std::uint64_t i = 0; i < 4; ++i) {
      EXPECT_EQ(consumer.try_pop(), std::optional<std::uint64_t>(round * 4 + i));
    }
    EXPECT_FALSE(consumer.try_pop().has_value());
  }
}

TEST(SpscHandle, AttachStartsFromThePositionsInTheMapping) {
  auto [first, first_consumer] = SpscRing<std::uint64_t>::create_anonymous(8);
  for (std::uint64_t i = 0; i < 6; ++i) ASSERT_TRUE(first.try_push(i));
  for (std::uint64_t i = 0; i < 3; ++i) {
    ASSERT_EQ(first_consumer.try_pop(), std::optional<std::uint64_t>(i));
  }
  // Both roles hand over to freshly attached handles (the old ones are not used again).
  auto producer = SpscProducer<std::uint64_t>::attach(first.segment());
  auto consumer = SpscConsumer<std::uint64_t>::attach(first.segment());
  EXPECT_EQ(producer.size_approx(), 3u);
  for (std::uint64_t i = 6; i < 11; ++i) ASSERT_TRUE(producer.try_push(i));
  EXPECT_FALSE(producer.try_push(99));  // 3 left + 5 new = capacity 8
  for (std::uint64_t i = 3; i < 11; ++i) {
    ASSERT_EQ(consumer.try_pop(), std::optional<std::uint64_t>(i));
  }
  EXPECT_FALSE(consumer.try_pop().has_value());
}

TEST(SpscHandle, ByteRingAttachStartsFromThePositionsInTheMapping) {
  auto [producer, first_consumer] = SpscByteRing::create_anonymous(4, 16);
  ASSERT_TRUE(producer.try_push(bytes_of("one")));
  ASSERT_TRUE(producer.try_push(bytes_of("two")));
  auto consumer = SpscByteConsumer::attach(producer.segment());
  std::vector<std::byte> out;
  ASSERT_TRUE(consumer.try_pop(out));
  EXPECT_EQ(out, bytes_of("one"));
  auto next_producer = SpscByteProducer::attach(producer.segment());
  ASSERT_TRUE(next_producer.try_push(bytes_of("three")));
  ASSERT_TRUE(consumer.try_pop(out));
  EXPECT_EQ(out, bytes_of("two"));
  ASSERT_TRUE(consumer.try_pop(out));
  EXPECT_EQ(out, bytes_of("three"));
  EXPECT_FALSE(consumer.try_pop(out));
}

TEST(SpscHandle, DefaultHandleIsInvalidWithCapacityZero) {
  const SpscProducer<std::uint64_t> ring;
  EXPECT_FALSE(ring.valid());
  EXPECT_EQ(ring.capacity(), 0u);
  const SpscByteConsumer bytes;
  EXPECT_FALSE(bytes.valid());
  EXPECT_EQ(bytes.capacity(), 0u);
}

// ---- batches, wrap-around, misuse ------------------------------------------------------

TEST(SpscHandle, BatchesWrapAroundManyLapsOfAnExactlySizedRegion) {
  constexpr std::size_t kCapacity = 8;
  HeapRegion region(SpscRing<std::uint64_t>::required_bytes(kCapacity));
  auto [producer, consumer] = SpscRing<std::uint64_t>::create(region.bytes(), kCapacity);
  std::uint64_t next_in = 0;
  std::uint64_t next_out = 0;
  std::vector<std::uint64_t> buffer(11);
  for (std::size_t step = 0; step < 2000; ++step) {
    const std::size_t push_n = 1 + step % 11;
    for (std::size_t i = 0; i < push_n; ++i) buffer[i] = next_in + i;
    const std::size_t pushed =
        producer.try_push_n(std::span<const std::uint64_t>(buffer.data(), push_n));
    ASSERT_LE(next_in + pushed - next_out, kCapacity);
    next_in += pushed;
    const std::size_t pop_n = 1 + (step * 7) % 11;
    const std::size_t popped = consumer.try_pop_n(std::span<std::uint64_t>(buffer.data(), pop_n));
    ASSERT_LE(popped, pop_n);
    for (std::size_t i = 0; i < popped; ++i) ASSERT_EQ(buffer[i], next_out + i);
    next_out += popped;
    ASSERT_EQ(consumer.size_approx(), next_in - next_out);
  }
  EXPECT_GT(next_out, 100 * kCapacity);  // many laps
}

TEST(SpscHandle, CommitOnAFullRingAndReleaseOnAnEmptyRingDoNothing) {
  auto [tx, rx] = SpscRing<std::uint64_t>::create_anonymous(2);
  rx.release();  // nothing to release
  EXPECT_EQ(rx.size_approx(), 0u);
  ASSERT_TRUE(tx.try_push(1));
  ASSERT_TRUE(tx.try_push(2));
  EXPECT_EQ(tx.claim(), nullptr);
  tx.commit();  // no successful claim: must not publish a third item
  EXPECT_EQ(tx.size_approx(), 2u);
  EXPECT_EQ(rx.try_pop(), std::optional<std::uint64_t>(1));
  EXPECT_EQ(rx.try_pop(), std::optional<std::uint64_t>(2));
  EXPECT_FALSE(rx.try_pop().has_value());
  rx.release();
  EXPECT_EQ(rx.size_approx(), 0u);
  EXPECT_FALSE(tx.corrupted());
  EXPECT_FALSE(rx.corrupted());
}

TEST(SpscHandle, ClaimCommitAndFrontReleaseInterleave) {
  auto [tx, rx] = SpscRing<std::uint64_t>::create_anonymous(4);
  for (std::uint64_t i = 0; i < 40; ++i) {
    std::uint64_t* slot = tx.claim();
    ASSERT_NE(slot, nullptr);
    *slot = i;
    tx.commit();
    const std::uint64_t* item = rx.front();
    ASSERT_NE(item, nullptr);
    EXPECT_EQ(*item, i);
    rx.release();
    EXPECT_EQ(rx.front(), nullptr);
  }
}

// Two threads over one mapping, a tiny ring (every push and pop crosses the cache refill
// path), every producer and consumer form mixed: order and contents survive.
TEST(SpscHandle, MixedOperationsAcrossThreadsKeepOrder) {
  const std::uint64_t total = 20000 * stress_scale();
  auto [producer, consumer] =
      SpscRing<Item>::create_anonymous(2, RingOptions{WaitStrategy::spin, 0});
  std::thread thread([&] {
    std::uint64_t next = 0;
    Item batch[3];
    while (next < total) {
      const std::uint64_t kind = next % 3;
      const std::uint64_t before = next;
      if (kind == 0) {
        if (producer.try_push(make_item(next))) ++next;
      } else if (kind == 1) {
        const std::uint64_t n = std::min<std::uint64_t>(3, total - next);
        for (std::uint64_t i = 0; i < n; ++i) batch[i] = make_item(next + i);
        next += producer.try_push_n(std::span<const Item>(batch, n));
      } else if (Item* slot = producer.claim()) {
        *slot = make_item(next++);
        producer.commit();
      }
      if (next == before) std::this_thread::yield();  // full: let the consumer run
    }
  });
  std::uint64_t expected = 0;
  Item out[3];
  while (expected < total) {
    const std::uint64_t kind = expected % 4;
    std::size_t got = 0;
    if (kind == 0) {
      got = consumer.try_pop(out[0]) ? 1 : 0;
    } else if (kind == 1) {
      got = consumer.try_pop_n(std::span<Item>(out, 3));
    } else if (kind == 2) {
      if (const Item* item = consumer.front()) {
        out[0] = *item;
        consumer.release();
        got = 1;
      }
    } else if (auto item = consumer.try_pop()) {
      out[0] = *item;
      got = 1;
    }
    for (std::size_t i = 0; i < got; ++i) {
      ASSERT_TRUE(valid_item(out[i]));
      ASSERT_EQ(out[i].seq, expected++);
    }
    if (got == 0) std::this_thread::yield();  // empty: let the producer run
  }
  thread.join();
  EXPECT_FALSE(consumer.try_pop().has_value());
}

// ---- hostile peers -----------------------------------------------------------------------

// ---- consumer pacing (spsc_core.hpp: idle prefetch, the slip) -------------------------

// 8-byte items share a line: after a reload that found more than one item, a reload whose
// next item is in the producer's line takes the slip (a pause and one more reload). The
// items still come out complete and in order, through every read path.
TEST(SpscPacing, SmallItemsThroughTheSlipPathArriveInOrder) {
  HeapRegion region(SpscRing<std::uint64_t>::required_bytes(16));
  auto [producer, consumer] = SpscRing<std::uint64_t>::create(region.bytes(), 16);
  std::uint64_t next_in = 0;
  std::uint64_t next_out = 0;
  for (int lap = 0; lap < 40; ++lap) {
    // Two items (the reload finds > 1), then one more into the same line, read singly.
    for (int k = 0; k < 2; ++k) ASSERT_TRUE(producer.try_push(next_in++));
    ASSERT_EQ(consumer.try_pop(), std::optional<std::uint64_t>(next_out++));
    ASSERT_TRUE(producer.try_push(next_in++));
    ASSERT_EQ(consumer.try_pop(), std::optional<std::uint64_t>(next_out++));
    ASSERT_EQ(consumer.try_pop(), std::optional<std::uint64_t>(next_out++));
    ASSERT_TRUE(producer.try_push(next_in++));
    const std::uint64_t* item = consumer.front();
    ASSERT_NE(item, nullptr);
    EXPECT_EQ(*item, next_out++);
    consumer.release();
    ASSERT_TRUE(producer.try_push(next_in++));
    std::uint64_t batch[4] = {};
    ASSERT_EQ(consumer.try_pop_n(std::span<std::uint64_t>(batch)), 1u);
    EXPECT_EQ(batch[0], next_out++);
    EXPECT_FALSE(consumer.try_pop().has_value());
  }
  EXPECT_FALSE(consumer.corrupted());
  EXPECT_EQ(next_in, next_out);
}

// Batch reads slip when the previous reload found a whole batch and this one finds less
// than a page of new items (a pause and one more reload); a reload that finds the ring
// empty ends the streaming state. Whole batches, partial ones and empty polls, over many
// laps of the ring: every item comes out once and in order, with 8- and 64-byte items.
struct Item8 {
  std::uint64_t seq;
};
struct Item64 {
  std::uint64_t seq;
  std::uint64_t pad[7];
};

template <class T>
void batches_through_the_batch_slip() {
  constexpr std::size_t kCapacity = 256;
  constexpr std::size_t kBatch = 32;
  HeapRegion region(SpscRing<T>::required_bytes(kCapacity));
  auto [producer, consumer] = SpscRing<T>::create(region.bytes(), kCapacity);
  std::uint64_t next_in = 0;
  std::uint64_t next_out = 0;
  std::vector<T> in(kBatch * 3);
  std::vector<T> out(kBatch);
  const auto push = [&](std::size_t n) {
    for (std::size_t k = 0; k < n; ++k) {
      in[k] = T{};
      in[k].seq = next_in++;
    }
    ASSERT_EQ(producer.try_push_n(std::span<const T>(in.data(), n)), n);
  };
  const auto pop = [&](std::size_t expect) {
    ASSERT_EQ(consumer.try_pop_n(std::span<T>(out)), expect);
    for (std::size_t k = 0; k < expect; ++k) ASSERT_EQ(out[k].seq, next_out++);
  };
  for (int lap = 0; lap < 60; ++lap) {
    push(kBatch * 2);  // a reload finds two batches: streaming
    pop(kBatch);
    pop(kBatch);   // from the cache
    push(kBatch);  // the reload finds one batch, less than a page: slip
    pop(kBatch);
    push(5);  // a partial batch through the slip; it ends the streaming state
    pop(5);
    push(kBatch);  // not streaming: taken without a slip
    pop(kBatch);
    pop(0);  // empty
    push(kBatch + 3);
    pop(kBatch);
    pop(3);
  }
  EXPECT_FALSE(consumer.corrupted());
  EXPECT_EQ(next_in, next_out);
}

TEST(SpscPacing, BatchesThroughTheBatchSlipArriveInOrder) {
  batches_through_the_batch_slip<Item8>();
  batches_through_the_batch_slip<Item64>();
}

// A consumer that found the ring empty many times (idle: it prefetches before reloading)
// still gets the next item at once, on the typed and on the byte ring.
TEST(SpscPacing, AnIdleConsumerGetsTheNextItemOnItsFirstPoll) {
  HeapRegion region(SpscRing<std::uint64_t>::required_bytes(8));
  auto [producer, consumer] = SpscRing<std::uint64_t>::create(region.bytes(), 8);
  for (std::uint64_t i = 0; i < 20; ++i) {
    for (int poll = 0; poll < 10; ++poll) ASSERT_FALSE(consumer.try_pop().has_value());
    ASSERT_TRUE(producer.try_push(i));
    ASSERT_EQ(consumer.try_pop(), std::optional<std::uint64_t>(i));
  }
  HeapRegion byte_region(SpscByteRing::required_bytes(8, 8));
  auto [tx, rx] = SpscByteRing::create(byte_region.bytes(), 8, 8);
  const auto message = bytes_of("idle");
  for (int i = 0; i < 20; ++i) {
    std::vector<std::byte> out;
    for (int poll = 0; poll < 10; ++poll) ASSERT_FALSE(rx.try_pop(out));
    ASSERT_TRUE(tx.try_push(message));
    ASSERT_TRUE(rx.try_pop(out));
    EXPECT_EQ(out, message);
  }
}

TEST(SpscCorruption, ConsumerStaysCorruptedAfterThePeerRestoresTheTail) {
  HeapRegion region(SpscRing<std::uint64_t>::required_bytes(16));
  auto [producer, ring] = SpscRing<std::uint64_t>::create(region.bytes(), 16);
  ASSERT_TRUE(producer.try_push(7));
  ASSERT_EQ(ring.try_pop(), std::optional<std::uint64_t>(7));
  region.control().producer.pos.store(1000);  // more than a lap ahead of the head
  EXPECT_FALSE(ring.try_pop().has_value());
  EXPECT_TRUE(ring.corrupted());
  region.control().producer.pos.store(2);  // "repaired": one valid item visible again
  std::uint64_t out = 0;
  EXPECT_FALSE(ring.try_pop(out));
  EXPECT_EQ(ring.front(), nullptr);
  EXPECT_EQ(ring.try_pop_n(std::span<std::uint64_t>(&out, 1)), 0u);
  EXPECT_EQ(ring.drain([](const std::uint64_t&) {}), 0u);
  EXPECT_TRUE(ring.corrupted());
}

TEST(SpscCorruption, ProducerStaysCorruptedAfterThePeerRestoresTheHead) {
  HeapRegion region(SpscRing<std::uint64_t>::required_bytes(4));
  auto producer = SpscRing<std::uint64_t>::create(region.bytes(), 4).producer;
  for (std::uint64_t i = 0; i < 4; ++i) ASSERT_TRUE(producer.try_push(i));
  region.control().consumer.pos.store(9);  // head ahead of the tail
  EXPECT_FALSE(producer.try_push(4));
  EXPECT_TRUE(producer.corrupted());
  region.control().consumer.pos.store(4);  // "repaired": the ring looks empty
  EXPECT_FALSE(producer.try_push(4));
  EXPECT_EQ(producer.claim(), nullptr);
  const std::uint64_t batch[2] = {5, 6};
  EXPECT_EQ(producer.try_push_n(batch), 0u);
  EXPECT_EQ(region.control().producer.pos.load(), 4u);  // nothing published
}

TEST(SpscCorruption, ResetClearsCorruption) {
  auto [producer, ring] = SpscByteRing::create_anonymous(4, 16);
  auto& control = *reinterpret_cast<detail::RingControl*>(ring.segment()->data());
  control.producer.pos.store(~std::uint64_t{0});
  std::vector<std::byte> out;
  EXPECT_FALSE(ring.try_pop(out));
  EXPECT_TRUE(ring.corrupted());
  ring.reset();
  EXPECT_FALSE(ring.corrupted());
  producer = SpscByteProducer::attach(ring.segment());  // the contract of reset()
  ASSERT_TRUE(producer.try_push(bytes_of("ok")));
  ASSERT_TRUE(ring.try_pop(out));
  EXPECT_EQ(out, bytes_of("ok"));
}

TEST(SpscCorruption, ReclaimRefusesAnImpossibleHeadWithoutVisitingAnything) {
  HeapRegion region(SpscByteRing::required_bytes(4, 16));
  auto producer = SpscByteRing::create(region.bytes(), 4, 16).producer;
  ASSERT_TRUE(producer.try_push(bytes_of("a")));
  region.control().consumer.pos.store(100);  // a dead consumer left garbage
  std::size_t visited = 0;
  EXPECT_EQ(producer.reclaim_unconsumed([&](std::span<const std::byte>) { ++visited; }), 0u);
  EXPECT_EQ(visited, 0u);
  EXPECT_TRUE(producer.corrupted());
}

TEST(SpscCorruption, ReclaimStopsAtALengthLargerThanTheSlot) {
  HeapRegion region(SpscByteRing::required_bytes(4, 16));
  auto producer = SpscByteRing::create(region.bytes(), 4, 16).producer;
  ASSERT_TRUE(producer.try_push(bytes_of("a")));
  ASSERT_TRUE(producer.try_push(bytes_of("b")));
  const std::uint32_t evil = 17;
  std::byte* slot1 = region.bytes().data() + sizeof(detail::RingControl) +
                     detail::byte_slot_stride(16) + detail::kByteLenOffset;
  std::memcpy(slot1, &evil, sizeof evil);
  std::vector<std::size_t> sizes;
  EXPECT_EQ(
      producer.reclaim_unconsumed([&](std::span<const std::byte> m) { sizes.push_back(m.size()); }),
      1u);
  EXPECT_EQ(sizes, (std::vector<std::size_t>{1}));
  EXPECT_TRUE(producer.corrupted());
}

// Random hostile writes of both positions (and of length prefixes) between random
// operations: every call stays inside the region (ASan), counts never exceed the capacity,
// and once a handle reports corrupted() it never moves an item again.
TEST(SpscCorruption, RandomHostileIndicesNeverLeadOutOfBounds) {
  constexpr std::size_t kCapacity = 8;
  HeapRegion region(SpscRing<std::uint64_t>::required_bytes(kCapacity));
  auto [producer, consumer] = SpscRing<std::uint64_t>::create(region.bytes(), kCapacity);
  auto& control = region.control();
  std::mt19937_64 rng(12345);
  const auto nasty = [&](std::uint64_t near) {
    switch (rng() % 6) {
      case 0:
        return near + kCapacity + 1;
      case 1:
        return near - 1;
      case 2:
        return near + kCapacity;
      case 3:
        return ~std::uint64_t{0} - rng() % 4;
      case 4:
        return near + rng() % 3;
      default:
        return static_cast<std::uint64_t>(rng());
    }
  };
  std::vector<std::uint64_t> buffer(kCapacity * 2);
  std::size_t corrupt_seen = 0;
  for (int step = 0; step < 20000; ++step) {
    const std::uint64_t r = rng() % 100;
    if (r < 3) {
      control.producer.pos.store(nasty(control.consumer.pos.load()));
    } else if (r < 6) {
      control.consumer.pos.store(nasty(control.producer.pos.load()));
    }
    const bool producer_was_corrupt = producer.corrupted();
    const bool consumer_was_corrupt = consumer.corrupted();
    const std::uint64_t op = rng() % 8;
    std::size_t moved = 0;
    switch (op) {
      case 0:
        moved = producer.try_push(static_cast<std::uint64_t>(step)) ? 1 : 0;
        break;
      case 1:
        moved = producer.try_push_n(std::span<const std::uint64_t>(buffer.data(), rng() % 12));
        break;
      case 2:
        if (std::uint64_t* slot = producer.claim()) {
          *slot = 1;
          producer.commit();
          moved = 1;
        }
        break;
      case 3:
        moved = consumer.try_pop().has_value() ? 1 : 0;
        break;
      case 4:
        moved = consumer.try_pop_n(std::span<std::uint64_t>(buffer.data(), rng() % 12));
        break;
      case 5:
        if (const std::uint64_t* item = consumer.front()) {
          buffer[0] = *item;
          consumer.release();
          moved = 1;
        }
        break;
      case 6:
        moved = consumer.drain([&](const std::uint64_t& v) { buffer[0] = v; });
        break;
      default:
        ASSERT_LE(consumer.size_approx(), kCapacity);
        break;
    }
    ASSERT_LE(moved, kCapacity);
    const bool side_was_corrupt = op < 3 ? producer_was_corrupt : consumer_was_corrupt;
    if (side_was_corrupt) {
      ASSERT_EQ(moved, 0u) << "a corrupted handle moved items";
    }
    if ((producer.corrupted() || consumer.corrupted()) && rng() % 4 == 0) {
      ++corrupt_seen;
      producer.reset();  // repair: both positions to 0, then a fresh consumer handle
      consumer = SpscConsumer<std::uint64_t>::attach(region.bytes());
    }
  }
  EXPECT_GT(corrupt_seen, 0u);
}

TEST(SpscCorruption, RandomHostileLengthsAndIndicesOnAByteRing) {
  constexpr std::size_t kCapacity = 4;
  constexpr std::size_t kSlot = 24;
  HeapRegion region(SpscByteRing::required_bytes(kCapacity, kSlot));
  auto [producer, consumer] = SpscByteRing::create(region.bytes(), kCapacity, kSlot);
  auto& control = region.control();
  std::byte* slots = region.bytes().data() + sizeof(detail::RingControl);
  const std::size_t stride = detail::byte_slot_stride(kSlot);
  std::mt19937_64 rng(777);
  std::vector<std::byte> message(kSlot, std::byte{0x5a});
  volatile std::byte sink{0};  // every visited byte is read (ASan checks each)
  const auto visit = [&](std::span<const std::byte> m) {
    ASSERT_LE(m.size(), kSlot);
    for (std::byte b : m) sink = b;
  };
  std::size_t corrupt_seen = 0;
  for (int step = 0; step < 20000; ++step) {
    const std::uint64_t r = rng() % 100;
    if (r < 2) {
      control.producer.pos.store(control.consumer.pos.load() + rng() % (3 * kCapacity));
    } else if (r < 4) {
      control.consumer.pos.store(control.producer.pos.load() - rng() % (3 * kCapacity));
    } else if (r < 8) {
      const auto len = static_cast<std::uint32_t>(rng() % (2 * kSlot));
      std::memcpy(slots + (rng() % kCapacity) * stride + detail::kByteLenOffset, &len, sizeof len);
    }
    switch (rng() % 4) {
      case 0:
        (void)producer.try_push(std::span<const std::byte>(message.data(), rng() % (kSlot + 1)));
        break;
      case 1: {
        std::span<std::byte> room = producer.claim(kSlot);
        if (room.data() != nullptr) {
          std::memset(room.data(), 1, room.size());
          producer.commit(rng() % (kSlot + 1));
        }
        break;
      }
      case 2:
        (void)consumer.try_pop_with(visit);
        break;
      default:
        (void)producer.reclaim_unconsumed(visit);
        break;
    }
    if (producer.corrupted() || consumer.corrupted()) {
      ++corrupt_seen;
      producer.reset();
      consumer = SpscByteConsumer::attach(region.bytes());
    }
  }
  EXPECT_GT(corrupt_seen, 0u);
}

// ---- carried items (spsc_core.hpp, "Carried items") ---------------------------------

constexpr RingOptions kSpin{WaitStrategy::spin, 0};

// The slot of position `pos` in a ring of uint64_t, for tests that scribble over it.
std::uint64_t& slot_of(const HeapRegion& region, std::uint64_t pos, std::uint64_t capacity) {
  auto* slots =
      reinterpret_cast<std::uint64_t*>(region.bytes().data() + sizeof(detail::RingControl));
  return slots[pos % capacity];
}

TEST(SpscCarry, OnlySpinningRingsOfSmallItemsCarryWhereTheProcessCan) {
  const std::uint64_t carries = detail::carry_supported() ? detail::kRingCarries : 0;
  HeapRegion spin(SpscRing<std::uint64_t>::required_bytes(8));
  (void)SpscRing<std::uint64_t>::create(spin.bytes(), 8, kSpin);
  EXPECT_EQ(spin.control().header.flags, carries);
  HeapRegion futex(SpscRing<std::uint64_t>::required_bytes(8));
  (void)SpscRing<std::uint64_t>::create(futex.bytes(), 8);  // futex by default
  EXPECT_EQ(futex.control().header.flags, 0U);
  struct Big {
    std::uint64_t a, b;
  };
  HeapRegion big(SpscRing<Big>::required_bytes(8));
  (void)SpscRing<Big>::create(big.bytes(), 8, kSpin);
  EXPECT_EQ(big.control().header.flags, 0U);
  HeapRegion bytes(SpscByteRing::required_bytes(8, 8));
  (void)SpscByteRing::create(bytes.bytes(), 8, 8, kSpin);
  EXPECT_EQ(bytes.control().header.flags, 0U);
}

// Each single item, whichever call published it, is taken from the tail's line: the slot
// is scribbled over after the push and the item still comes out right. A batch of several
// is read from its slots.
TEST(SpscCarry, EverySingleItemTravelsWithTheTail) {
  if (!detail::carry_supported()) GTEST_SKIP() << "this process cannot carry items";
  constexpr std::uint64_t kCapacity = 8;
  HeapRegion region(SpscRing<std::uint64_t>::required_bytes(kCapacity));
  auto [producer, consumer] = SpscRing<std::uint64_t>::create(region.bytes(), kCapacity, kSpin);
  std::uint64_t pos = 0;
  std::uint64_t out = 0;
  const auto scribble = [&] { slot_of(region, pos, kCapacity) = 0xdeadbeefULL; };
  for (int lap = 0; lap < 5; ++lap) {
    ASSERT_TRUE(producer.try_push(100 + pos));
    scribble();
    ASSERT_TRUE(consumer.try_pop(out));
    EXPECT_EQ(out, 100 + pos);
    ++pos;
    const std::uint64_t one = 200 + pos;
    ASSERT_EQ(producer.try_push_n(std::span<const std::uint64_t>(&one, 1)), 1U);
    scribble();
    ASSERT_TRUE(consumer.try_pop(out));
    EXPECT_EQ(out, one);
    ++pos;
    std::uint64_t* slot = producer.claim();
    ASSERT_NE(slot, nullptr);
    *slot = 300 + pos;
    producer.commit();
    scribble();
    ASSERT_TRUE(consumer.try_pop(out));
    EXPECT_EQ(out, 300 + pos);
    ++pos;
    const std::uint64_t three[3] = {400 + pos, 401 + pos, 402 + pos};
    ASSERT_EQ(producer.try_push_n(std::span<const std::uint64_t>(three, 3)), 3U);
    for (const std::uint64_t v : three) {
      ASSERT_TRUE(consumer.try_pop(out));
      EXPECT_EQ(out, v);
    }
    pos += 3;
    EXPECT_FALSE(consumer.try_pop(out));
  }
}

// A consumer that saw an impossible tail stays corrupted: a well-formed pair afterwards
// does not hand it an item.
TEST(SpscCarry, ACorruptedConsumerTakesNothingFromThePair) {
  if (!detail::carry_supported()) GTEST_SKIP() << "this process cannot carry items";
  constexpr std::uint64_t kCapacity = 8;
  HeapRegion region(SpscRing<std::uint64_t>::required_bytes(kCapacity));
  auto [producer, consumer] = SpscRing<std::uint64_t>::create(region.bytes(), kCapacity, kSpin);
  ASSERT_TRUE(producer.try_push(7));
  std::uint64_t out = 0;
  ASSERT_TRUE(consumer.try_pop(out));
  auto& line = region.control().producer;
  line.pos.store(1 + kCapacity + 5);  // impossible: more than a lap ahead
  EXPECT_FALSE(consumer.try_pop(out));
  ASSERT_TRUE(consumer.corrupted());
  line.carried = 99;
  line.pos.store(2);  // a pair that says "one item"
  EXPECT_FALSE(consumer.try_pop(out));
  EXPECT_TRUE(consumer.corrupted());
}

TEST(SpscCarry, AttachRefusesUnknownFlagsAndCarryingWhereNoRingCanCarry) {
  HeapRegion region(SpscRing<std::uint64_t>::required_bytes(8));
  (void)SpscRing<std::uint64_t>::create(region.bytes(), 8, kSpin);
  region.control().header.flags = 2;
  EXPECT_EQ(error_code_of([&] { (void)SpscConsumer<std::uint64_t>::attach(region.bytes()); }),
            IpcErrc::layout_mismatch);
  HeapRegion futex(SpscRing<std::uint64_t>::required_bytes(8));
  (void)SpscRing<std::uint64_t>::create(futex.bytes(), 8);
  futex.control().header.flags = detail::kRingCarries;
  EXPECT_EQ(error_code_of([&] { (void)SpscConsumer<std::uint64_t>::attach(futex.bytes()); }),
            IpcErrc::layout_mismatch);
  HeapRegion bytes(SpscByteRing::required_bytes(8, 8));
  (void)SpscByteRing::create(bytes.bytes(), 8, 8, kSpin);
  bytes.control().header.flags = detail::kRingCarries;
  EXPECT_EQ(error_code_of([&] { (void)SpscByteConsumer::attach(bytes.bytes()); }),
            IpcErrc::layout_mismatch);
}

// A peer that writes any tail and word into the tail's line: the consumer takes at most
// one item per pop, never moves its head past what it saw published, and a wild tail
// makes it corrupted, as without carrying.
TEST(SpscCarry, HostileTailsAndWordsNeverMoveTheHeadBeyondOneItem) {
  if (!detail::carry_supported()) GTEST_SKIP() << "this process cannot carry items";
  constexpr std::uint64_t kCapacity = 8;
  HeapRegion region(SpscRing<std::uint64_t>::required_bytes(kCapacity));
  auto [producer, consumer] = SpscRing<std::uint64_t>::create(region.bytes(), kCapacity, kSpin);
  auto& line = region.control().producer;
  std::mt19937_64 rng(2026);
  std::uint64_t out = 0;
  for (int step = 0; step < 20000 && !consumer.corrupted(); ++step) {
    const std::uint64_t head = region.control().consumer.pos.load();
    const std::uint64_t pick = rng() % 5;
    const std::uint64_t tail = pick == 0   ? head
                               : pick == 1 ? head + 1
                               : pick == 2 ? head + 2
                               : pick == 3 ? head - 1
                                           : rng();
    line.carried = rng();
    line.pos.store(tail);
    const bool got = consumer.try_pop(out);
    const std::uint64_t after = region.control().consumer.pos.load();
    if (got) {
      EXPECT_EQ(after, head + 1);
      EXPECT_LE(after - head, tail - head);
    } else {
      EXPECT_EQ(after, head);
    }
  }
  (void)producer;
}

}  // namespace
}  // namespace ringpool::ipc::test
