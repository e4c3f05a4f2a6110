// SpscByteRing and MpmcByteRing through the same cases: every size 0..slot_size, oversize
// refused with the ring untouched, zero-copy claim/commit and visit-in-place, threads.
#include <gtest/gtest.h>

#include <numeric>
#include <thread>
#include <type_traits>
#include <vector>

#include "ring_test_support.hpp"

namespace ringpool::ipc::test {
namespace {

constexpr std::size_t kByteSlot = 200;

template <class R>
class ByteRings : public ::testing::Test {};
using ByteRingTypes = ::testing::Types<SpscByteRing, MpmcByteRing>;
struct ByteRingNames {
  template <class R>
  static std::string GetName(int) {
    return std::is_same_v<R, SpscByteRing> ? "Spsc" : "Mpmc";
  }
};
TYPED_TEST_SUITE(ByteRings, ByteRingTypes, ByteRingNames);

std::vector<std::byte> pattern(std::size_t n, std::uint64_t seed) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>((seed * 31 + i * 7) & 0xff);
  return v;
}

TYPED_TEST(ByteRings, EverySizeFromZeroToSlotSizeRoundTrips) {
  auto [tx, rx] = TypeParam::create_anonymous(8, kByteSlot);
  EXPECT_EQ(tx.max_message_size(), kByteSlot);
  EXPECT_EQ(rx.max_message_size(), kByteSlot);
  std::vector<std::byte> out;
  for (std::size_t n = 0; n <= kByteSlot; ++n) {
    const auto msg = pattern(n, n);
    ASSERT_TRUE(tx.try_push(msg)) << n;
    ASSERT_TRUE(rx.try_pop(out)) << n;
    ASSERT_EQ(out, msg) << n;
  }
  EXPECT_FALSE(rx.try_pop(out));
}

TYPED_TEST(ByteRings, OversizeMessageIsRefusedAndRingUntouched) {
  auto [ring, rx] = TypeParam::create_anonymous(4, kByteSlot);
  const auto first = pattern(10, 1);
  ASSERT_TRUE(ring.try_push(first));
  const auto big = pattern(kByteSlot + 1, 2);
  try {
    (void)ring.try_push(big);
    FAIL() << "oversize message accepted";
  } catch (const IpcError& e) {
    EXPECT_EQ(e.code(), IpcErrc::payload_too_large);
    EXPECT_NE(std::string(e.what()).find(std::to_string(kByteSlot)), std::string::npos);
  }
  EXPECT_THROW((void)ring.push(big, std::chrono::milliseconds(1)), IpcError);
  EXPECT_THROW((void)ring.claim(kByteSlot + 1), IpcError);
  EXPECT_EQ(ring.size_approx(), 1u);
  std::vector<std::byte> out;
  ASSERT_TRUE(rx.try_pop(out));
  EXPECT_EQ(out, first);
  EXPECT_FALSE(rx.try_pop(out));
}

TYPED_TEST(ByteRings, FullRingRefusesUntilAConsumerFreesASlot) {
  auto [ring, rx] = TypeParam::create_anonymous(4, kByteSlot);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(ring.try_push(pattern(5, static_cast<std::uint64_t>(i))));
  EXPECT_FALSE(ring.try_push(pattern(5, 9)));
  EXPECT_EQ(ring.claim(3).data(), nullptr);
  std::vector<std::byte> out;
  ASSERT_TRUE(rx.try_pop(out));
  EXPECT_EQ(out, pattern(5, 0));
  EXPECT_TRUE(ring.try_push(pattern(5, 9)));
}

TYPED_TEST(ByteRings, ZeroCopyClaimCommitAndVisitInPlace) {
  auto [ring, rx] = TypeParam::create_anonymous(4, kByteSlot);
  std::span<std::byte> room = ring.claim(kByteSlot);
  ASSERT_NE(room.data(), nullptr);
  ASSERT_EQ(room.size(), kByteSlot);
  const auto msg = pattern(17, 3);
  std::copy(msg.begin(), msg.end(), room.begin());
  ring.commit(msg.size());  // fewer bytes than claimed
  EXPECT_THROW(
      {
        (void)ring.claim(4);
        ring.commit(5);
      },
      IpcError);
  ring.commit(0);  // publish the claim above as an empty message
  try {
    ring.commit(0);  // nothing claimed
    FAIL() << "commit without claim accepted";
  } catch (const IpcError& e) {
    EXPECT_EQ(e.code(), IpcErrc::invalid_argument);
  }
  std::size_t seen = 0;
  EXPECT_TRUE(rx.try_pop_with([&](std::span<const std::byte> m) {
    EXPECT_TRUE(std::equal(m.begin(), m.end(), msg.begin(), msg.end()));
    seen = m.size();
  }));
  EXPECT_EQ(seen, 17u);
  EXPECT_TRUE(rx.try_pop_with([&](std::span<const std::byte> m) { seen = m.size(); }));
  EXPECT_EQ(seen, 0u);
}

TEST(MpmcByteRingClaim, SecondClaimBeforeCommitIsRefused) {
  auto ring = MpmcByteRing::create_anonymous(4, 16).producer;
  ASSERT_NE(ring.claim(4).data(), nullptr);
  try {
    (void)ring.claim(4);
    FAIL() << "double claim accepted";
  } catch (const IpcError& e) {
    EXPECT_EQ(e.code(), IpcErrc::invalid_argument);
  }
  ring.commit(4);
  EXPECT_NE(ring.claim(4).data(), nullptr);
  ring.commit(0);
  EXPECT_EQ(ring.size_approx(), 2u);
  // A clone is another producer with no claim of its own.
  MpmcByteProducer other = ring.clone();
  ASSERT_NE(other.claim(4).data(), nullptr);
  ASSERT_NE(ring.claim(4).data(), nullptr);
  other.commit(1);
  ring.commit(2);
  EXPECT_EQ(ring.size_approx(), 4u);
}

static_assert(!std::is_copy_constructible_v<MpmcByteProducer>);
static_assert(!std::is_copy_constructible_v<MpmcByteConsumer>);
static_assert(!std::is_copy_assignable_v<MpmcByteConsumer>);

TYPED_TEST(ByteRings, VisitorThatThrowsStillReleasesTheSlot) {
  auto [ring, rx] = TypeParam::create_anonymous(2, kByteSlot);
  ASSERT_TRUE(ring.try_push(pattern(3, 1)));
  EXPECT_THROW(rx.try_pop_with([](std::span<const std::byte>) { throw std::runtime_error("x"); }),
               std::runtime_error);
  std::vector<std::byte> out;
  EXPECT_FALSE(rx.try_pop(out));
  EXPECT_TRUE(ring.try_push(pattern(3, 2)));
  EXPECT_TRUE(ring.try_push(pattern(3, 3)));
}

TYPED_TEST(ByteRings, ThreadsMoveVariableSizeMessagesInOrder) {
  auto [producer, consumer] =
      TypeParam::create_anonymous(16, kByteSlot, RingOptions{WaitStrategy::futex, 64});
  const std::uint64_t total = 20'000 * stress_scale();
  std::thread t([&] {
    for (std::uint64_t i = 0; i < total; ++i) {
      auto msg = pattern(static_cast<std::size_t>(i % (kByteSlot + 1)), i);
      ASSERT_EQ(producer.push(msg), OpStatus::ok);
    }
    producer.close();
  });
  std::uint64_t i = 0;
  std::uint64_t bad = 0;
  std::vector<std::byte> out;
  while (consumer.pop(out) == OpStatus::ok) {
    if (out != pattern(static_cast<std::size_t>(i % (kByteSlot + 1)), i)) ++bad;
    ++i;
  }
  t.join();
  EXPECT_EQ(i, total);
  EXPECT_EQ(bad, 0u);
}

TEST(ByteRingAttach, AttachSeesTheCreatorsSlotSizeAndMessages) {
  Segment s = Segment::anonymous(MpmcByteRing::required_bytes(8, 48));
  auto created = MpmcByteRing::create(s.bytes(), 8, 48).producer;
  ASSERT_TRUE(created.try_push(pattern(48, 5)));
  auto attached = MpmcByteConsumer::attach(s.bytes());
  EXPECT_EQ(attached.max_message_size(), 48u);
  EXPECT_EQ(attached.capacity(), 8u);
  std::vector<std::byte> out;
  ASSERT_TRUE(attached.try_pop(out));
  EXPECT_EQ(out, pattern(48, 5));
}

}  // namespace
}  // namespace ringpool::ipc::test
