// Queue<T> and consumers killed inside get (ringpool issue #10, item 6): an item a
// consumer had claimed but not yet taken out of the ring is recovered by the next get of
// another process, exactly once, and the dead consumer's unit of maxsize comes back.
// Deterministic: the consumer is killed while it decodes its item (the codec blocks).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <set>
#include <span>
#include <string>

#include "ringpool/ipc/byte_ring.hpp"
#include "ringpool/ipc/detail/ring_header.hpp"
#include "ringpool/ipc/segment.hpp"
#include "ringpool/pool/codec.hpp"
#include "ringpool/pool/errors.hpp"
#include "ringpool/pool/queue.hpp"
#include "test_support.hpp"

namespace {

// Set in a forked consumer: decoding a Parcel reports on this pipe and then blocks until
// the test kills the process.
int g_block_fd = -1;

struct Parcel {
  std::uint64_t value = 0;
};

}  // namespace

template <>
struct ringpool::pool::Codec<Parcel> {
  static constexpr std::size_t fixed_size = sizeof(std::uint64_t);
  static std::size_t size(const Parcel&) { return fixed_size; }
  static void encode(const Parcel& p, std::span<std::byte> out) noexcept {
    std::memcpy(out.data(), &p.value, fixed_size);
  }
  static Parcel decode(std::span<const std::byte> in) {
    if (in.size() != fixed_size) throw DecodeError("Parcel: wrong size");
    Parcel p;
    std::memcpy(&p.value, in.data(), fixed_size);
    if (g_block_fd >= 0) {
      const char c = 'd';
      if (::write(g_block_fd, &c, 1) != 1) ::_exit(3);
      for (;;) ::pause();
    }
    return p;
  }
};

namespace ringpool::pool {
namespace {

using namespace std::chrono_literals;

class Watchdog {
 public:
  Watchdog() { ::alarm(120); }
  ~Watchdog() { ::alarm(0); }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
};

constexpr int kRuns = 40;
constexpr std::size_t kMaxsize = 4;

// Forks a consumer that gets one Parcel (get or try_get) and blocks inside its decode;
// returns its pid once it is there (0 when it never got there).
pid_t consumer_stuck_in_get(Queue<Parcel>& q, bool use_try_get) {
  test::Pipe ready;
  const pid_t pid = ::fork();
  if (pid < 0) return 0;
  if (pid == 0) {
    ready.close_read();
    g_block_fd = ready.write_fd();
    if (use_try_get) {
      static_cast<void>(q.try_get());
    } else {
      static_cast<void>(q.get(30s));
    }
    ::_exit(2);  // not reached: decode blocks
  }
  ready.close_write();
  char c = 0;
  if (::read(ready.read_fd(), &c, 1) != 1) {
    int status = 0;
    static_cast<void>(::waitpid(pid, &status, 0));
    return 0;
  }
  return pid;
}

void kill_and_reap(pid_t pid) {
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status));
}

TEST(QueueCrash, AConsumerKilledInsideGetLosesNoItem) {
  Watchdog watchdog;
  int tried = 0;
  int held = 0;
  int lost = 0;
  for (int run = 0; run < kRuns; ++run) {
    Queue<Parcel> q(kMaxsize);
    const std::uint64_t base = static_cast<std::uint64_t>(run) * 10;
    for (std::uint64_t i = 1; i <= 3; ++i) q.put(Parcel{base + i});
    const pid_t pid = consumer_stuck_in_get(q, run % 2 == 1);
    ASSERT_GT(pid, 0) << "the consumer never reached its decode";
    ++tried;
    kill_and_reap(pid);

    std::multiset<std::uint64_t> got;
    while (std::optional<Parcel> p = q.try_get()) got.insert(p->value);
    const std::multiset<std::uint64_t> want{base + 1, base + 2, base + 3};
    if (got == want) {
      ++held;
    } else {
      ++lost;
    }
    EXPECT_EQ(got, want) << "run " << run;
    // Every unit of maxsize is back: the queue takes maxsize items again, no more.
    for (std::size_t i = 0; i < kMaxsize; ++i) EXPECT_TRUE(q.try_put(Parcel{i})) << "run " << run;
    EXPECT_FALSE(q.try_put(Parcel{99}));
  }
  std::printf("[ campaign ] queue consumer kills: tried %d, held %d, lost %d\n", tried, held, lost);
  EXPECT_EQ(lost, 0);
}

// A parent that has not reaped its dead consumer yet (a zombie: kill(pid, 0) still succeeds)
// must recover the item all the same, or a get() before join() would wait for ever.
TEST(QueueCrash, AnUnreapedDeadConsumersItemIsRecovered) {
  Watchdog watchdog;
  Queue<Parcel> q(kMaxsize);
  for (std::uint64_t i = 1; i <= 3; ++i) q.put(Parcel{i});
  const pid_t pid = consumer_stuck_in_get(q, false);
  ASSERT_GT(pid, 0) << "the consumer never reached its decode";
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  siginfo_t info{};
  // WNOWAIT: wait until it has exited, and leave it a zombie.
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT), 0);
  ASSERT_EQ(::kill(pid, 0), 0) << "the zombie must still answer kill(pid, 0)";

  std::multiset<std::uint64_t> got;
  while (std::optional<Parcel> p = q.try_get()) got.insert(p->value);
  EXPECT_EQ(got, (std::multiset<std::uint64_t>{1, 2, 3}));

  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
}

TEST(QueueCrash, ABlockedGetRecoversTheItemOfAConsumerKilledLater) {
  Watchdog watchdog;
  Queue<Parcel> q(kMaxsize);
  q.put(Parcel{7});
  const pid_t stuck = consumer_stuck_in_get(q, false);
  ASSERT_GT(stuck, 0);
  // A second consumer waits in get while the only item is held by the first.
  test::Pipe result;
  const pid_t waiter = ::fork();
  ASSERT_GE(waiter, 0);
  if (waiter == 0) {
    result.close_read();
    std::uint64_t value = 0;
    try {
      value = q.get(60s).value;
    } catch (...) {
      ::_exit(4);
    }
    const bool ok = ::write(result.write_fd(), &value, sizeof value) == sizeof value;
    ::_exit(ok ? 0 : 5);
  }
  result.close_write();
  kill_and_reap(stuck);
  std::uint64_t value = 0;
  EXPECT_EQ(::read(result.read_fd(), &value, sizeof value), static_cast<ssize_t>(sizeof value));
  EXPECT_EQ(value, 7U);
  int status = 0;
  ASSERT_EQ(::waitpid(waiter, &status, 0), waiter);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_FALSE(q.try_get().has_value());  // recovered once, not twice
}

TEST(QueueCrash, ARecordOfALiveConsumerIsLeftAlone) {
  Watchdog watchdog;
  Queue<Parcel> q(kMaxsize);
  q.put(Parcel{1});
  const pid_t stuck = consumer_stuck_in_get(q, false);
  ASSERT_GT(stuck, 0);
  // The holder is alive: its item is not taken from it.
  EXPECT_FALSE(q.try_get().has_value());
  EXPECT_THROW(static_cast<void>(q.get(150ms)), Empty);
  kill_and_reap(stuck);
  const std::optional<Parcel> p = q.try_get();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->value, 1U);
}

// A recovered item whose length a peer made impossible escaped get/try_get as
// ipc::IpcError instead of the documented Corrupted (seen while writing queue_open_fuzz,
// which finds it within seconds from its dead-consumer seed).
TEST(QueueCrash, ARecoveredItemWithAnImpossibleLengthThrowsCorrupted) {
  Watchdog watchdog;
  for (const bool use_try_get : {true, false}) {
    SCOPED_TRACE(use_try_get ? "try_get" : "get");
    const std::string name = "ringpool-test-crash-length-" + std::to_string(::getpid());
    auto q = Queue<Parcel>::create(name, kMaxsize);
    q.put(Parcel{1});
    const pid_t stuck = consumer_stuck_in_get(q, use_try_get);
    ASSERT_GT(stuck, 0);
    kill_and_reap(stuck);
    {
      // Another process writes an impossible length into the slot the dead consumer held
      // (slot 0, the first item): found through a second mapping of the segment, by the
      // ring magic at a 128-byte boundary.
      const ipc::Segment evil = ipc::Segment::open(name);
      std::byte* slot0 = nullptr;
      for (std::size_t off = 0; off + sizeof(ipc::detail::RingControl) <= evil.size(); off += 128) {
        std::uint64_t magic = 0;
        std::memcpy(&magic, evil.data() + off, sizeof magic);
        if (magic == ipc::detail::kRingMagic) {
          slot0 = evil.data() + off + sizeof(ipc::detail::RingControl);
          break;
        }
      }
      ASSERT_NE(slot0, nullptr);
      const std::uint32_t huge = 1U << 30;
      std::memcpy(slot0 + ipc::detail::kByteLenOffset, &huge, sizeof huge);
    }
    if (use_try_get) {
      EXPECT_THROW(static_cast<void>(q.try_get()), Corrupted);
    } else {
      EXPECT_THROW(static_cast<void>(q.get(10s)), Corrupted);
    }
    // The held slot was released, never followed, and its unit given back: the queue
    // takes maxsize items again, and they come out.
    for (std::size_t i = 0; i < kMaxsize; ++i) EXPECT_TRUE(q.try_put(Parcel{10 + i}));
    EXPECT_FALSE(q.try_put(Parcel{99}));
    EXPECT_EQ(q.get(10s).value, 10U);
  }
}

}  // namespace
}  // namespace ringpool::pool
