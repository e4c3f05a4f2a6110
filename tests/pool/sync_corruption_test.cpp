// The synchronisation objects over hostile shared memory: a named object is mapped a
// second time and scribbled on, as another process could. Wrong headers are refused with
// InvalidArgument on open; impossible state gives Corrupted (never a crash or an endless
// wait); an owner pid that no process has is a dead holder.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <string>

#include "ringpool/ipc/segment.hpp"
#include "ringpool/pool/detail/sync_layout.hpp"
#include "ringpool/pool/errors.hpp"
#include "ringpool/pool/shared_value.hpp"
#include "ringpool/pool/sync.hpp"
#include "test_helpers.hpp"

namespace {
using ::ringpool::test::unique_name;
using ::ringpool::test::Watchdog;

using namespace std::chrono_literals;
using ringpool::ipc::Segment;
using ringpool::pool::Barrier;
using ringpool::pool::BoundedSemaphore;
using ringpool::pool::Corrupted;
using ringpool::pool::Event;
using ringpool::pool::InvalidArgument;
using ringpool::pool::Lock;
using ringpool::pool::RLock;
using ringpool::pool::Value;
namespace layout = ringpool::pool::detail;

// A second mapping of a named object's segment.
class SyncScribbler {
 public:
  explicit SyncScribbler(const std::string& name) : segment_(Segment::open(name)) {}
  layout::SyncHeader& header() const {
    return *reinterpret_cast<layout::SyncHeader*>(segment_.data());
  }
  template <class State>
  State& state() const {
    return *reinterpret_cast<State*>(segment_.data() + layout::kSyncStateOffset);
  }
  layout::BarrierSlot& slot(std::size_t i) const {
    return reinterpret_cast<layout::BarrierSlot*>(segment_.data() + layout::kSyncTailOffset)[i];
  }

 private:
  Segment segment_;
};

TEST(SyncCorruption, WrongHeadersAreRefusedOnOpen) {
  Watchdog watchdog;
  const std::string name = unique_name("header");
  Lock lock = Lock::create(name);
  SyncScribbler s(name);
  s.header().version = 99;
  EXPECT_THROW((void)Lock::open(name), InvalidArgument);
  s.header().version = layout::kSyncVersion;
  s.header().kind = 77;
  EXPECT_THROW((void)Lock::open(name), InvalidArgument);
  s.header().kind = static_cast<std::uint32_t>(layout::SyncKind::lock);
  s.header().segment_bytes = 1 << 20;
  EXPECT_THROW((void)Lock::open(name), InvalidArgument);
  s.header().segment_bytes = layout::kSyncTailOffset;
  s.header().magic.store(0x1234);
  EXPECT_THROW((void)Lock::open(name), InvalidArgument);
  s.header().magic.store(layout::kSyncMagic);
  EXPECT_NO_THROW((void)Lock::open(name));
}

TEST(SyncCorruption, ASegmentTooSmallOrOfAnotherKindIsRefused) {
  Watchdog watchdog;
  const std::string name = unique_name("small");
  Segment raw = Segment::create(name, 64, {.unlink_on_destroy = true});
  EXPECT_THROW((void)Lock::open(name), InvalidArgument);
  EXPECT_THROW((void)Event::open(name), InvalidArgument);
}

TEST(SyncCorruption, AnImpossibleOwnerWordThrowsCorrupted) {
  Watchdog watchdog;
  const std::string name = unique_name("owner");
  Lock lock = Lock::create(name);
  SyncScribbler s(name);
  s.state<layout::LockState>().owner.store(~std::uint64_t{0});
  EXPECT_THROW((void)lock.try_acquire(), Corrupted);
  EXPECT_THROW((void)lock.acquire(1s), Corrupted);
  EXPECT_THROW((void)lock.acquire(), Corrupted);  // no timeout: must not wait forever either
  s.state<layout::LockState>().owner.store(std::uint64_t{1234} << 32);  // tid 0
  EXPECT_THROW((void)lock.acquire(1s), Corrupted);
}

TEST(SyncCorruption, AnOwnerPidNoProcessHasIsADeadHolder) {
  Watchdog watchdog;
  const std::string name = unique_name("ghost");
  Lock lock = Lock::create(name);
  SyncScribbler s(name);
  // INT_MAX is above any pid_max (at most 2^22), so no process has it.
  s.state<layout::LockState>().owner.store((std::uint64_t{INT_MAX} << 32) | 1);
  ASSERT_TRUE(lock.acquire(20s));
  EXPECT_TRUE(lock.holder_died());
  lock.release();
}

TEST(SyncCorruption, AnRLockDepthOfZeroWhileHeldThrowsCorrupted) {
  Watchdog watchdog;
  const std::string name = unique_name("depth");
  RLock lock = RLock::create(name);
  SyncScribbler s(name);
  ASSERT_TRUE(lock.acquire());
  s.state<layout::LockState>().depth.store(0);
  EXPECT_THROW((void)lock.acquire(), Corrupted);
  EXPECT_THROW(lock.release(), Corrupted);
}

TEST(SyncCorruption, AnEventFlagOtherThanZeroOrOneThrowsCorrupted) {
  Watchdog watchdog;
  const std::string name = unique_name("event");
  Event event = Event::create(name);
  SyncScribbler s(name);
  s.state<layout::EventState>().flag.store(7);
  EXPECT_THROW((void)event.is_set(), Corrupted);
  EXPECT_THROW((void)event.wait(1s), Corrupted);
  EXPECT_THROW((void)event.wait(), Corrupted);
}

TEST(SyncCorruption, ABoundedSemaphoreAboveItsBoundThrowsCorrupted) {
  Watchdog watchdog;
  const std::string name = unique_name("bsem");
  BoundedSemaphore sem = BoundedSemaphore::create(name, 2);
  SyncScribbler s(name);
  s.state<layout::SemaphoreState>().value.store(1000);
  EXPECT_THROW(sem.release(), Corrupted);
}

TEST(SyncCorruption, ImpossibleBarrierStateThrowsCorrupted) {
  Watchdog watchdog;
  const std::string name = unique_name("barrier");
  Barrier barrier = Barrier::create(name, 2);
  SyncScribbler s(name);
  auto& state = s.state<layout::BarrierState>();
  state.phase.store(99);
  EXPECT_THROW((void)barrier.wait(1s), Corrupted);
  EXPECT_THROW(barrier.abort(), Corrupted);
  state.phase.store(0);
  state.inside.store(1000);
  EXPECT_THROW((void)barrier.wait(1s), Corrupted);
  state.inside.store(0);
  s.slot(1).store(-5);
  EXPECT_THROW((void)barrier.wait(1s), Corrupted);
  s.slot(1).store(0);
  s.header().count = 1 << 20;  // more parties than the segment has slots for
  EXPECT_THROW((void)Barrier::open(name), InvalidArgument);
}

TEST(SyncCorruption, ASharedValueWithAnInconsistentHeaderIsRefused) {
  Watchdog watchdog;
  const std::string name = unique_name("value");
  Value<int> value = Value<int>::create(name, 1);
  SyncScribbler s(name);
  s.header().count = 1 << 30;
  EXPECT_THROW((void)Value<int>::open(name), InvalidArgument);
  s.header().count = 1;
  s.header().flags = 0xff;
  EXPECT_THROW((void)Value<int>::open(name), InvalidArgument);
}

}  // namespace
