// The numbers in payload segment names (detail/payload.hpp): a name holds its sender's pid
// and sequence number, and a queue's or pool's holds its owner's pid and serial. Pids are
// reused, so a forked child must not go on from its parent's numbers: two children of one
// parent that get the same pid at different times (a worker dies, its replacement gets its
// pid) would otherwise create the same names (EEXIST, or a recoverer unlinking the dead
// one's name removes the live one's). And every sequence must fit the payload mark of a
// Queue's claim record (QueueCore::payload_mark), or a dead get's segment is never unlinked.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "ringpool/pool/detail/payload.hpp"
#include "ringpool/pool/detail/queue_core.hpp"
#include "ringpool/pool/queue_options.hpp"
#include "test_support.hpp"

namespace ringpool::pool {
namespace {

namespace d = detail;

// What a forked child reports: the numbers it drew.
struct Drawn {
  std::uint64_t sequence = 0;  // of a one-off segment under the parent's names
  std::uint64_t serial = 0;    // of a new owner (PayloadNames::fresh)
  std::uint64_t ok = 0;        // 1: no exception
};

// Forks a child that creates one one-off segment under `names` (and discards it, so its
// name goes) and one owner's names, reports the numbers through a pipe and _exits. The
// child draws first thing: nothing else advances its counters.
Drawn draw_in_child(const d::PayloadNames& names) {
  test::Pipe pipe;
  const pid_t child = ::fork();
  if (child == 0) {
    Drawn drawn;
    try {
      {
        const d::OutgoingPayload payload = d::OutgoingPayload::create(names, 4096);
        drawn.sequence = payload.ref().sequence;
      }  // never handed over: unlinked here
      drawn.serial = d::PayloadNames::fresh().owner_serial();
      drawn.ok = 1;
    } catch (...) {
    }
    const ssize_t n = ::write(pipe.write_fd(), &drawn, sizeof drawn);
    ::_exit(n == static_cast<ssize_t>(sizeof drawn) ? 0 : 1);
  }
  Drawn drawn;
  if (child <= 0) {
    ADD_FAILURE() << "fork failed";
    return drawn;
  }
  pipe.close_write();
  const ssize_t n = ::read(pipe.read_fd(), &drawn, sizeof drawn);
  int status = 0;
  EXPECT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(n, static_cast<ssize_t>(sizeof drawn));
  EXPECT_EQ(drawn.ok, 1u);
  return drawn;
}

// A sequence number as every sender makes them: in [1, kPayloadSequenceLimit).
void expect_in_range(std::uint64_t sequence) {
  EXPECT_GT(sequence, 0u);
  EXPECT_LT(sequence, d::kPayloadSequenceLimit);
}

TEST(PayloadNames, AForkedChildDoesNotGoOnFromItsParentsNumbers) {
  const d::PayloadNames names = d::PayloadNames::fresh();
  {
    // The parent has drawn a number before the fork; the child would go on from it.
    const d::OutgoingPayload before = d::OutgoingPayload::create(names, 4096);
    expect_in_range(before.ref().sequence);
    const Drawn child = draw_in_child(names);
    // What the parent draws next is what the child drew with counters copied by fork().
    const d::OutgoingPayload next = d::OutgoingPayload::create(names, 4096);
    const std::uint64_t next_serial = d::PayloadNames::fresh().owner_serial();
    EXPECT_NE(child.sequence, next.ref().sequence);
    EXPECT_NE(child.serial, next_serial);
    expect_in_range(child.sequence);
    expect_in_range(next.ref().sequence);
  }
  EXPECT_EQ(names.count(), 0u);
}

// Two children forked from the same state of their parent stand for two processes that get
// one pid at different times: their names must differ.
TEST(PayloadNames, ChildrenForkedFromOneStateDrawDifferentNumbers) {
  const d::PayloadNames names = d::PayloadNames::fresh();
  const Drawn first = draw_in_child(names);
  const Drawn second = draw_in_child(names);
  EXPECT_NE(first.sequence, second.sequence);
  EXPECT_NE(first.serial, second.serial);
  expect_in_range(first.sequence);
  expect_in_range(second.sequence);
  EXPECT_EQ(names.count(), 0u);
}

// Whatever number a sender starts from, a queue's get can name the segment in its claim
// record: the mark of a real reference is not 0 and gives back its sender and sequence.
TEST(PayloadNames, EverySequenceFitsAQueuesPayloadMark) {
  QueueOptions options;
  options.slot_size = 64;
  options.arena_bytes = 0;
  const auto core =
      d::QueueCore::create_anonymous(d::queue_spec<std::vector<char>>(4, options, false), options);
  ASSERT_NE(core->ref_length(), 0u);
  ASSERT_GE(core->ref_length(), sizeof(d::PayloadRef));
  const auto mark_of = [&](const d::PayloadRef& ref) {
    std::vector<std::byte> message(core->ref_length());
    std::memcpy(message.data(), &ref, sizeof ref);
    return core->payload_mark(std::span<const std::byte>(message));
  };
  // This process's numbers, then a forked child's (reseeded at fork).
  std::vector<d::PayloadRef> refs;
  for (int i = 0; i < 3; ++i) {
    const d::OutgoingPayload payload = d::OutgoingPayload::create(core->payloads(), 4096);
    refs.push_back(payload.ref());
  }
  d::PayloadRef from_child = refs.back();
  from_child.sequence = draw_in_child(core->payloads()).sequence;
  refs.push_back(from_child);
  for (const d::PayloadRef& ref : refs) {
    expect_in_range(ref.sequence);
    const std::uint64_t mark = mark_of(ref);
    ASSERT_TRUE(d::QueueCore::is_payload_mark(mark)) << "sequence " << ref.sequence;
    EXPECT_EQ((mark & ~d::QueueCore::kPayloadMark) >> 40, static_cast<std::uint64_t>(ref.sender));
    EXPECT_EQ(mark & (d::kPayloadSequenceLimit - 1), ref.sequence);
  }
  EXPECT_EQ(core->payloads().count(), 0u);
}

}  // namespace
}  // namespace ringpool::pool
