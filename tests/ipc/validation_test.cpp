// Attach-time validation and corrupted shared state: every bad input gets its typed error,
// and impossible indices are detected before any slot is touched (ASan proves no
// out-of-bounds access in the sanitizer build).
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "ring_test_support.hpp"
#include "ringpool/ipc/detail/ring_header.hpp"

namespace ringpool::ipc::test {
namespace {

detail::RingControl& control_of(Segment& s) {
  return *reinterpret_cast<detail::RingControl*>(s.data());
}

TEST(RingValidation, NonRingpoolSegmentIsBadMagic) {
  Segment s = Segment::anonymous(4096);
  std::memset(s.data(), 0x5a, s.size());
  EXPECT_EQ(error_code_of([&] { (void)SpscConsumer<std::uint64_t>::attach(s.bytes()); }),
            IpcErrc::bad_magic);
  EXPECT_EQ(error_code_of([&] { (void)MpmcByteConsumer::attach(s.bytes()); }), IpcErrc::bad_magic);
}

TEST(RingValidation, OtherRingTypeIsLayoutMismatch) {
  Segment s = Segment::anonymous(MpmcRing<std::uint64_t>::required_bytes(16));
  (void)MpmcRing<std::uint64_t>::create(s.bytes(), 16);
  EXPECT_EQ(error_code_of([&] { (void)SpscConsumer<std::uint64_t>::attach(s.bytes()); }),
            IpcErrc::layout_mismatch);
  EXPECT_EQ(error_code_of([&] { (void)SpscByteConsumer::attach(s.bytes()); }),
            IpcErrc::layout_mismatch);
}

TEST(RingValidation, OtherElementSizeIsSizeMismatch) {
  Segment s = Segment::anonymous(SpscRing<std::uint64_t>::required_bytes(16));
  (void)SpscRing<std::uint64_t>::create(s.bytes(), 16);
  EXPECT_EQ(error_code_of([&] { (void)SpscConsumer<std::uint32_t>::attach(s.bytes()); }),
            IpcErrc::size_mismatch);
  EXPECT_EQ(error_code_of([&] { (void)SpscConsumer<Item>::attach(s.bytes()); }),
            IpcErrc::size_mismatch);
}

TEST(RingValidation, OtherCapacityIsCapacityMismatchForFixedBackends) {
  using Small = bench::BoostSpscRing<std::uint64_t, 16>;
  using Large = bench::BoostSpscRing<std::uint64_t, 32>;
  EXPECT_EQ(error_code_of([] { (void)Small::required_bytes(32); }), IpcErrc::capacity_mismatch);
  Segment s = Segment::anonymous(Large::required_bytes());
  (void)Small::create(s.bytes());
  EXPECT_EQ(error_code_of([&] { (void)Large::attach(s.bytes()); }), IpcErrc::capacity_mismatch);
}

TEST(RingValidation, AttachReportsTheCapacityTheCreatorChose) {
  Segment s = Segment::anonymous(SpscRing<std::uint64_t>::required_bytes(100));
  (void)SpscRing<std::uint64_t>::create(s.bytes(), 100);
  EXPECT_EQ(SpscConsumer<std::uint64_t>::attach(s.bytes()).capacity(), 128u);
}

TEST(RingValidation, OtherAbiVersionIsAbiMismatch) {
  Segment s = Segment::anonymous(SpscRing<std::uint64_t>::required_bytes(16));
  (void)SpscRing<std::uint64_t>::create(s.bytes(), 16);
  control_of(s).header.abi_version = detail::kAbiVersion + 1;
  EXPECT_EQ(error_code_of([&] { (void)SpscConsumer<std::uint64_t>::attach(s.bytes()); }),
            IpcErrc::abi_mismatch);
}

TEST(RingValidation, TamperedFingerprintIsLayoutMismatch) {
  Segment s = Segment::anonymous(SpscRing<std::uint64_t>::required_bytes(16));
  (void)SpscRing<std::uint64_t>::create(s.bytes(), 16);
  control_of(s).header.fingerprint ^= 1;
  EXPECT_EQ(error_code_of([&] { (void)SpscConsumer<std::uint64_t>::attach(s.bytes()); }),
            IpcErrc::layout_mismatch);
}

TEST(RingValidation, CorruptedHeaderCapacityIsInvalidCapacity) {
  Segment s = Segment::anonymous(SpscRing<std::uint64_t>::required_bytes(16));
  (void)SpscRing<std::uint64_t>::create(s.bytes(), 16);
  control_of(s).header.capacity = 12;
  EXPECT_EQ(error_code_of([&] { (void)SpscConsumer<std::uint64_t>::attach(s.bytes()); }),
            IpcErrc::invalid_capacity);
}

TEST(RingValidation, RegionBelowHeaderIsTruncated) {
  Segment s = Segment::anonymous(4096);
  EXPECT_EQ(error_code_of([&] { (void)SpscConsumer<std::uint64_t>::attach(s.bytes().first(100)); }),
            IpcErrc::truncated);
}

TEST(RingValidation, RegionBelowDeclaredSizeIsTruncated) {
  const std::size_t need = SpscRing<std::uint64_t>::required_bytes(64);
  Segment s = Segment::anonymous(need);
  (void)SpscRing<std::uint64_t>::create(s.bytes(), 64);
  EXPECT_EQ(
      error_code_of([&] { (void)SpscConsumer<std::uint64_t>::attach(s.bytes().first(need - 8)); }),
      IpcErrc::truncated);
  EXPECT_EQ(
      error_code_of([&] { (void)SpscRing<std::uint64_t>::create(s.bytes().first(need - 8), 64); }),
      IpcErrc::truncated);
}

TEST(RingValidation, NamedSegmentTruncatedByAnotherProcessIsDetected) {
  const std::string name = "/ringpool-test-trunc-" + std::to_string(::getpid());
  const std::size_t need = SpscByteRing::required_bytes(8, 64);
  {
    Segment s = Segment::create(name, need, SegmentOptions{.unlink_on_destroy = true});
    (void)SpscByteRing::create(s.bytes(), 8, 64);
    ASSERT_EQ(::ftruncate(s.fd(), 256), 0);  // what a buggy peer could do
    Segment reopened = Segment::open(name);
    EXPECT_EQ(reopened.size(), 256u);
    EXPECT_EQ(error_code_of([&] { (void)SpscByteConsumer::attach(reopened.bytes()); }),
              IpcErrc::truncated);
  }
  EXPECT_FALSE(Segment::unlink(name));
}

TEST(RingValidation, MisalignedRegionIsRefused) {
  Segment s = Segment::anonymous(8192);
  EXPECT_EQ(error_code_of([&] { (void)SpscRing<std::uint64_t>::create(s.bytes().subspan(64), 8); }),
            IpcErrc::invalid_argument);
}

TEST(RingCapacity, ZeroIsRefused) {
  EXPECT_EQ(error_code_of([] { (void)SpscRing<std::uint64_t>::required_bytes(0); }),
            IpcErrc::invalid_capacity);
  EXPECT_EQ(error_code_of([] { (void)MpmcRing<std::uint64_t>::create_anonymous(0); }),
            IpcErrc::invalid_capacity);
  EXPECT_EQ(error_code_of([] { (void)SpscByteRing::create_anonymous(0, 64); }),
            IpcErrc::invalid_capacity);
}

TEST(RingCapacity, NonPowerOfTwoRoundsUp) {
  EXPECT_EQ(SpscRing<std::uint64_t>::create_anonymous(1).producer.capacity(), 1u);
  EXPECT_EQ(MpmcRing<std::uint64_t>::create_anonymous(1).consumer.capacity(), 2u);  // minimum
  EXPECT_EQ(SpscRing<std::uint64_t>::create_anonymous(3).consumer.capacity(), 4u);
  EXPECT_EQ(MpmcRing<std::uint64_t>::create_anonymous(1000).producer.capacity(), 1024u);
  EXPECT_EQ(MpmcByteRing::create_anonymous(5, 16).producer.capacity(), 8u);
  auto ring = SpscRing<std::uint64_t>::create_anonymous(3).producer;
  for (std::uint64_t i = 0; i < 4; ++i) EXPECT_TRUE(ring.try_push(i));
  EXPECT_FALSE(ring.try_push(4));
}

TEST(RingCapacity, HugeCapacityIsRefused) {
  EXPECT_EQ(error_code_of(
                [] { (void)SpscRing<std::uint64_t>::required_bytes((std::size_t{1} << 32) + 1); }),
            IpcErrc::invalid_capacity);
}

TEST(ByteRingSlots, ZeroOrHugeSlotSizeIsRefused) {
  EXPECT_EQ(error_code_of([] { (void)SpscByteRing::required_bytes(8, 0); }),
            IpcErrc::invalid_argument);
  EXPECT_EQ(error_code_of([] { (void)MpmcByteRing::required_bytes(8, std::size_t{1} << 31); }),
            IpcErrc::invalid_argument);
}

TEST(WaitStrategies, FutexWaitOnANonFutexRingIsRefused) {
  auto ring =
      SpscRing<std::uint64_t>::create_anonymous(8, RingOptions{WaitStrategy::spin}).consumer;
  EXPECT_EQ(error_code_of([&] { ring.set_wait_strategy(WaitStrategy::futex); }),
            IpcErrc::invalid_argument);
  ring.set_wait_strategy(WaitStrategy::yield);
  EXPECT_EQ(ring.wait_strategy(), WaitStrategy::yield);
}

// ---- corrupted indices: detected, never followed -------------------------------------

TEST(CorruptIndices, AttachRefusesImpossibleSpscIndices) {
  Segment s = Segment::anonymous(SpscRing<std::uint64_t>::required_bytes(16));
  (void)SpscRing<std::uint64_t>::create(s.bytes(), 16);
  control_of(s).producer.pos.store(1000);
  EXPECT_EQ(error_code_of([&] { (void)SpscConsumer<std::uint64_t>::attach(s.bytes()); }),
            IpcErrc::corrupt_indices);
}

TEST(CorruptIndices, SpscConsumerDetectsGarbageTail) {
  auto [producer, ring] = SpscRing<std::uint64_t>::create_anonymous(16);
  auto& control = *reinterpret_cast<detail::RingControl*>(ring.segment()->data());
  ASSERT_TRUE(producer.try_push(7));
  control.producer.pos.store(0xdeadbeefcafeULL);  // a hostile producer
  EXPECT_FALSE(ring.try_pop().has_value());
  EXPECT_TRUE(ring.corrupted());
  std::uint64_t out = 0;
  EXPECT_EQ(error_code_of([&] { (void)ring.pop(out, std::chrono::milliseconds(1)); }),
            IpcErrc::corrupt_indices);
}

TEST(CorruptIndices, SpscProducerDetectsGarbageHead) {
  auto ring = SpscRing<std::uint64_t>::create_anonymous(4).producer;
  auto& control = *reinterpret_cast<detail::RingControl*>(ring.segment()->data());
  for (std::uint64_t i = 0; i < 4; ++i) ASSERT_TRUE(ring.try_push(i));
  control.consumer.pos.store(~std::uint64_t{0} - 5);  // head "ahead" of tail
  EXPECT_FALSE(ring.try_push(9));
  EXPECT_TRUE(ring.corrupted());
  EXPECT_EQ(error_code_of([&] { (void)ring.push(9, std::chrono::milliseconds(1)); }),
            IpcErrc::corrupt_indices);
}

TEST(CorruptIndices, ByteRingLengthLargerThanSlotIsNotFollowed) {
  auto [producer, ring] = SpscByteRing::create_anonymous(4, 32);
  const std::byte msg[8]{};
  ASSERT_TRUE(producer.try_push(msg));
  std::byte* slot0 = ring.segment()->data() + sizeof(detail::RingControl);
  const std::uint32_t evil = 1u << 30;
  std::memcpy(slot0 + detail::kByteLenOffset, &evil, sizeof(evil));
  bool visited = false;
  EXPECT_FALSE(ring.try_pop_with([&](std::span<const std::byte>) { visited = true; }));
  EXPECT_FALSE(visited);
  EXPECT_TRUE(ring.corrupted());
}

TEST(CorruptIndices, MpmcDetectsGarbageSequenceAndTickets) {
  auto [producer, ring] = MpmcByteRing::create_anonymous(4, 32);
  const std::byte msg[8]{};
  ASSERT_TRUE(producer.try_push(msg));
  auto& control = *reinterpret_cast<detail::RingControl*>(ring.segment()->data());
  control.consumer.pos.store(0);
  // A sequence word far in the future for ticket 0 with the counter not moved: impossible.
  auto* seq0 = reinterpret_cast<std::atomic<std::uint64_t>*>(ring.segment()->data() +
                                                             sizeof(detail::RingControl));
  seq0->store(1'000'000);
  std::vector<std::byte> out;
  EXPECT_FALSE(ring.try_pop(out));
  EXPECT_TRUE(ring.corrupted());
  EXPECT_EQ(error_code_of([&] { (void)ring.pop(out, std::chrono::milliseconds(1)); }),
            IpcErrc::corrupt_indices);

  auto typed = MpmcRing<std::uint64_t>::create_anonymous(4).producer;
  auto& tcontrol = *reinterpret_cast<detail::RingControl*>(typed.segment()->data());
  tcontrol.producer.pos.store(123456789);  // ticket far ahead of every slot's sequence
  EXPECT_FALSE(typed.try_push(1));
  EXPECT_TRUE(typed.corrupted());
}

}  // namespace
}  // namespace ringpool::ipc::test
