// Queue<T> over hostile shared memory (ringpool issue #10, item 3): whatever a peer writes
// into the queue's ring, try_put/try_get return at once and put/get throw Corrupted or end
// in Full/Empty at their timeout; none of them spins forever. The queue is named so the
// test can map its segment a second time and scribble on it, as another process could.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>

#include "ringpool/ipc/detail/ring_header.hpp"
#include "ringpool/ipc/segment.hpp"
#include "ringpool/pool/errors.hpp"
#include "ringpool/pool/queue.hpp"
#include "test_helpers.hpp"
#include "test_support.hpp"

namespace {
using ::ringpool::test::unique_name;
using ::ringpool::test::Watchdog;

using namespace std::chrono_literals;
using ringpool::ipc::Segment;
using ringpool::ipc::detail::RingControl;
using ringpool::pool::Corrupted;
using ringpool::pool::Empty;
using ringpool::pool::Full;
using ringpool::pool::Queue;

// The queue's ring control block in a second mapping of its segment: found by the ring
// magic at a 128-byte boundary, so the test does not depend on the queue's header size.
class RingScribbler {
 public:
  explicit RingScribbler(const std::string& name) : segment_(Segment::open(name)) {
    const std::size_t ring = ringpool::test::queue_ring_offset(segment_);
    if (ring != 0) control_ = reinterpret_cast<RingControl*>(segment_.data() + ring);
  }
  RingControl* control() const noexcept { return control_; }
  std::atomic<std::uint64_t>& seq(std::uint64_t slot) const {
    return *reinterpret_cast<std::atomic<std::uint64_t>*>(reinterpret_cast<std::byte*>(control_) +
                                                          sizeof(RingControl) +
                                                          slot * control_->header.slot_stride);
  }

 private:
  Segment segment_;
  RingControl* control_ = nullptr;
};

TEST(QueueCorruption, ImpossibleIndicesMakeEveryCallReturnOrThrow) {
  Watchdog watchdog;
  auto q = Queue<int>::create(unique_name("indices"), 4);
  RingScribbler evil(unique_name("indices"));
  ASSERT_NE(evil.control(), nullptr);
  // Both ticket counters far beyond every slot's sequence: impossible for a real ring.
  evil.control()->producer.pos.store(std::uint64_t{1} << 40);
  evil.control()->consumer.pos.store(std::uint64_t{1} << 40);

  EXPECT_THROW(static_cast<void>(q.try_put(1)), Corrupted);
  EXPECT_THROW(q.put(2), Corrupted);  // no timeout: must not wait for a slot that never frees
  EXPECT_THROW(q.put(3, 10s), Corrupted);
  EXPECT_THROW(static_cast<void>(q.try_get()), Corrupted);
  EXPECT_THROW(static_cast<void>(q.get()), Corrupted);
  EXPECT_EQ(q.size_approx(), 0U);  // every failed put gave its unit back
}

TEST(QueueCorruption, ARingThatLooksFullForeverEndsInFullAndEmpty) {
  Watchdog watchdog;
  auto q = Queue<int>::create(unique_name("full"), 4);
  RingScribbler evil(unique_name("full"));
  ASSERT_NE(evil.control(), nullptr);
  // Every slot still "holds the previous lap": producers see full, consumers empty, while
  // the queue's own counter says it is empty. Possible states, only never released.
  const std::uint64_t capacity = evil.control()->header.capacity;
  for (std::uint64_t i = 0; i < capacity; ++i) evil.seq(i).store(~std::uint64_t{0});

  EXPECT_FALSE(q.try_put(1));  // at once, and the unit it took is given back
  EXPECT_EQ(q.size_approx(), 0U);
  EXPECT_THROW(q.put(2, 20ms), Full);
  EXPECT_EQ(q.size_approx(), 0U);
  EXPECT_FALSE(q.try_get().has_value());
  EXPECT_THROW(static_cast<void>(q.get(20ms)), Empty);
}

TEST(QueueCorruption, AnImpossibleLengthIsNotFollowed) {
  Watchdog watchdog;
  auto q = Queue<int>::create(unique_name("length"), 4);
  RingScribbler evil(unique_name("length"));
  ASSERT_NE(evil.control(), nullptr);
  q.put(7);
  q.put(8);
  // The first item's length prefix (bytes 8..12 of its slot) becomes larger than a slot.
  const std::uint32_t huge = 1U << 30;
  std::memcpy(reinterpret_cast<std::byte*>(&evil.seq(0)) + 8, &huge, sizeof huge);
  EXPECT_THROW(static_cast<void>(q.try_get()), Corrupted);
  // A fresh call reads the next item (the bad slot was released, never followed).
  EXPECT_EQ(q.get(10s), 8);
}

}  // namespace
