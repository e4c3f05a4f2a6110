// Queue<T>'s payload arena (docs/ipc.md, "Queue payload arena"): items larger than a slot
// and at most kQueueArenaMaxItem travel through runs of blocks in the queue's own segment,
// with no payload segment per item; a full arena falls back to one-off payload segments;
// forged arena references are refused; a producer or consumer killed mid-item leaves no run
// claimed and nothing in /dev/shm, and loses no other item.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "ringpool/ipc/byte_ring.hpp"
#include "ringpool/ipc/detail/ring_header.hpp"
#include "ringpool/ipc/segment.hpp"
#include "ringpool/pool/codec.hpp"
#include "ringpool/pool/errors.hpp"
#include "ringpool/pool/queue.hpp"
#include "test_support.hpp"

namespace {

using ::ringpool::test::kill_and_reap;
using ::ringpool::test::Watchdog;

// Set in a forked consumer: decoding a Bulk reports on this pipe, then blocks until killed.
int g_arena_block_fd = -1;
// Set in a forked producer: encoding a Bulk reports on this pipe, then stops (SIGSTOP).
int g_arena_stop_fd = -1;

// `size` bytes, each `fill`: an item of any size whose codec can stop the process.
struct Bulk {
  std::uint64_t size = 0;
  std::uint8_t fill = 0;
};

}  // namespace

template <>
struct ringpool::pool::Codec<Bulk> {
  static std::size_t size(const Bulk& b) { return static_cast<std::size_t>(b.size); }
  static void encode(const Bulk& b, std::span<std::byte> out) noexcept {
    if (g_arena_stop_fd >= 0) {
      const char c = 'e';
      if (::write(g_arena_stop_fd, &c, 1) != 1) ::_exit(3);
      ::raise(SIGSTOP);
    }
    std::memset(out.data(), b.fill, out.size());
  }
  static Bulk decode(std::span<const std::byte> in) {
    if (in.empty()) throw DecodeError("Bulk: empty");
    Bulk b{in.size(), static_cast<std::uint8_t>(in[0])};
    for (const std::byte x : in) {
      if (static_cast<std::uint8_t>(x) != b.fill) throw DecodeError("Bulk: torn item");
    }
    if (g_arena_block_fd >= 0) {
      const char c = 'd';
      if (::write(g_arena_block_fd, &c, 1) != 1) ::_exit(3);
      for (;;) ::pause();
    }
    return b;
  }
};

namespace ringpool::pool {
namespace {

using namespace std::chrono_literals;

std::vector<char> item_of(std::size_t size, std::size_t index) {
  std::vector<char> v(size, static_cast<char>('a' + index % 26));
  std::memcpy(v.data(), &index, sizeof index);
  return v;
}

bool is_item(const std::vector<char>& v, std::size_t size, std::size_t index) {
  return v == item_of(size, index);
}

void reap(pid_t pid, int expected_exit) {
  ASSERT_GT(pid, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), expected_exit);
}

constexpr std::size_t kSizes[] = {4096, 65536, std::size_t{1} << 20};

TEST(QueueArena, MediumItemsTravelThroughTheArenaBetweenProcesses) {
  Watchdog watchdog(120);
  Queue<std::vector<char>> q(4);
  EXPECT_EQ(q.arena_bytes(), kDefaultQueueArenaBytes);
  constexpr std::size_t kItems = 60;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    for (std::size_t i = 0; i < kItems; ++i) {
      if (!is_item(q.get(20s), kSizes[i % 3], i)) ::_exit(2);
    }
    ::_exit(0);
  }
  for (std::size_t i = 0; i < kItems; ++i) {
    q.put(item_of(kSizes[i % 3], i));
    // Four items of at most 1 MiB fit the 8 MiB arena: none takes a payload segment.
    EXPECT_EQ(test::payload_segments_of_this_process(), 0u) << "item " << i;
  }
  reap(child, 0);
  EXPECT_EQ(q.arena_used_approx(), 0u);
}

TEST(QueueArena, NamedQueuesCarryMediumItemsAndOpenersUseTheCreatorsArena) {
  Watchdog watchdog(120);
  const std::string name = "rp-arena-named-" + std::to_string(::getpid());
  auto q = Queue<std::string>::create(name, 4, QueueOptions{.arena_bytes = std::size_t{4} << 20});
  EXPECT_EQ(q.arena_bytes(), std::size_t{4} << 20);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto peer = Queue<std::string>::open(name, QueueOptions{.arena_bytes = 0});
    if (peer.arena_bytes() != (std::size_t{4} << 20)) ::_exit(3);
    for (std::size_t i = 0; i < 20; ++i) {
      if (peer.get(20s) != std::string(5000 + i * 3000, static_cast<char>('A' + i))) ::_exit(2);
    }
    peer.put(std::string(100000, 'z'));
    ::_exit(0);
  }
  for (std::size_t i = 0; i < 20; ++i) {
    q.put(std::string(5000 + i * 3000, static_cast<char>('A' + i)));
  }
  reap(child, 0);  // it got all 20 before its reply: this get cannot take an item of ours
  EXPECT_TRUE(q.get(20s) == std::string(100000, 'z'));
  EXPECT_EQ(q.arena_used_approx(), 0u);
  EXPECT_EQ(test::payload_segments_of_this_process(), 0u);

  // No arena: the same items go through payload segments, and still arrive.
  const std::string bare = name + "-bare";
  auto none = Queue<std::string>::create(bare, 2, QueueOptions{.arena_bytes = 0});
  EXPECT_EQ(none.arena_bytes(), 0u);
  auto opened = Queue<std::string>::open(bare);
  EXPECT_EQ(opened.arena_bytes(), 0u);
  none.put(std::string(70000, 'n'));
  EXPECT_EQ(test::payload_segments_of_this_process(), 1u);
  EXPECT_TRUE(opened.get(1s) == std::string(70000, 'n'));
  EXPECT_EQ(test::payload_segments_of_this_process(), 0u);
}

TEST(QueueArena, AFullArenaFallsBackToPayloadSegmentsInOrder) {
  // One word: 64 blocks of 32 KiB. An item of 200,008 encoded bytes takes 7 blocks, so 9
  // fit; the other 7 go through payload segments.
  Queue<std::string> q(16, QueueOptions{.arena_bytes = kQueueArenaStep});
  EXPECT_EQ(q.arena_bytes(), kQueueArenaStep);
  for (std::size_t i = 0; i < 16; ++i) q.put(std::string(200000, static_cast<char>('a' + i)));
  EXPECT_EQ(q.arena_used_approx(), 9 * 7 * kQueueArenaBlock);
  EXPECT_EQ(test::payload_segments_of_this_process(), 7u);
  for (std::size_t i = 0; i < 16; ++i) {
    EXPECT_TRUE(q.get(1s) == std::string(200000, static_cast<char>('a' + i))) << "item " << i;
  }
  EXPECT_EQ(q.arena_used_approx(), 0u);
  EXPECT_EQ(test::payload_segments_of_this_process(), 0u);
  // Items larger than the arena never use it.
  Queue<std::string> big(2, QueueOptions{.arena_bytes = kQueueArenaStep});
  big.put(std::string(kQueueArenaMaxItem + 1, 'b'));
  EXPECT_EQ(big.arena_used_approx(), 0u);
  EXPECT_EQ(test::payload_segments_of_this_process(), 1u);
  EXPECT_EQ(big.get(1s).size(), kQueueArenaMaxItem + 1);
}

TEST(QueueArena, ItemsAboveTwoMiBTakeWholeWordsOfTheArenaUntilItIsFull) {
  constexpr std::size_t kMiB = std::size_t{1} << 20;
  // Four words (8 MiB). A std::string encodes to its characters.
  Queue<std::string> q(4, QueueOptions{.arena_bytes = 4 * kQueueArenaStep});
  q.put(std::string(5 * kMiB, 'f'));  // three words
  EXPECT_EQ(q.arena_used_approx(), 3 * kQueueArenaStep);
  q.put(std::string(3 * kMiB, 't'));  // two words: one is free, so a payload segment
  EXPECT_EQ(q.arena_used_approx(), 3 * kQueueArenaStep);
  EXPECT_EQ(test::payload_segments_of_this_process(), 1u);
  EXPECT_TRUE(q.get(1s) == std::string(5 * kMiB, 'f'));
  EXPECT_TRUE(q.get(1s) == std::string(3 * kMiB, 't'));
  EXPECT_EQ(q.arena_used_approx(), 0u);
  EXPECT_EQ(test::payload_segments_of_this_process(), 0u);
  // The same memory again: two items of two words each, then one small item in a run.
  q.put(std::string(3 * kMiB, 'a'));
  q.put(std::string(3 * kMiB, 'b'));
  EXPECT_EQ(q.arena_used_approx(), 4 * kQueueArenaStep);
  q.put(std::string(100000, 's'));  // no block free: a payload segment
  EXPECT_EQ(test::payload_segments_of_this_process(), 1u);
  EXPECT_TRUE(q.get(1s) == std::string(3 * kMiB, 'a'));
  EXPECT_TRUE(q.get(1s) == std::string(3 * kMiB, 'b'));
  EXPECT_TRUE(q.get(1s) == std::string(100000, 's'));
  EXPECT_EQ(q.arena_used_approx(), 0u);
  // An item of exactly the arena's size takes all of it; one byte more never uses it.
  q.put(std::string(4 * kQueueArenaStep, 'w'));
  EXPECT_EQ(q.arena_used_approx(), 4 * kQueueArenaStep);
  EXPECT_EQ(test::payload_segments_of_this_process(), 0u);
  EXPECT_TRUE(q.get(1s) == std::string(4 * kQueueArenaStep, 'w'));
  q.put(std::string(4 * kQueueArenaStep + 1, 'x'));
  EXPECT_EQ(q.arena_used_approx(), 0u);
  EXPECT_EQ(test::payload_segments_of_this_process(), 1u);
  EXPECT_TRUE(q.get(1s) == std::string(4 * kQueueArenaStep + 1, 'x'));
  EXPECT_EQ(test::payload_segments_of_this_process(), 0u);
}

TEST(QueueArena, WholeWordItemsTravelBetweenProcesses) {
  Watchdog watchdog(120);
  constexpr std::size_t kItem = std::size_t{5} << 20;
  Queue<std::vector<char>> q(2);  // the default arena
  const pid_t consumer = ::fork();
  ASSERT_GE(consumer, 0);
  if (consumer == 0) {
    for (std::size_t i = 0; i < 8; ++i) {
      if (!is_item(q.get(30s), kItem, i)) ::_exit(3);
    }
    ::_exit(0);
  }
  for (std::size_t i = 0; i < 8; ++i) {
    q.put(item_of(kItem, i));
    EXPECT_EQ(test::payload_segments_of_this_process(), 0u);
  }
  reap(consumer, 0);
  EXPECT_EQ(q.arena_used_approx(), 0u);
}

TEST(QueueArena, ForgedArenaReferencesAreDecodeErrors) {
  const std::string name = "rp-arena-forged-" + std::to_string(::getpid());
  // maxsize 16: room in the ring for the item and every forged reference.
  auto q = Queue<std::string>::create(name, 16, QueueOptions{.slot_size = 64});
  test::RingForger evil(name);
  const auto push = [&](const detail::ArenaRef& r) { evil.push(r, 65); };
  // A real item first: its run (word 0, block 0, 1 block) is claimed while it is queued.
  q.put(std::string(100, 'r'));
  const std::uint64_t first_run = 1;  // word 0, block 0, one block
  const std::uint64_t words = q.arena_bytes() / kQueueArenaStep;
  const std::uint64_t two_words = (std::uint64_t{1} << 32) | 64;  // words 0 and 1, whole
  const std::size_t two_words_item = kQueueArenaStep + 1;
  const detail::ArenaRef forged[] = {
      {detail::kArenaRefMagic, 100, (words << 16) | 1, 0},  // word past the arena
      {detail::kArenaRefMagic, two_words_item, ((words - 1) << 16) | two_words, 0},  // past it
      {detail::kArenaRefMagic, two_words_item, (std::uint64_t{1} << 32) | 5, 0},     // not whole
      {detail::kArenaRefMagic, 100, two_words, 0},  // a small item in whole words
      {detail::kArenaRefMagic, two_words_item, (std::uint64_t{2} << 16) | two_words, 0},  // free
      {detail::kArenaRefMagic, 100, (std::uint64_t{1} << 63) | 1, 0},  // a payload mark
      {detail::kArenaRefMagic, 100, 0, 0},                             // no blocks
      {detail::kArenaRefMagic, 100, (std::uint64_t{60} << 8) | 5, 0},  // run past the word
      {detail::kArenaRefMagic, kQueueArenaBlock + 1, first_run, 0},    // more than the run
      {detail::kArenaRefMagic, 0, first_run, 0},                       // empty
      {detail::kArenaRefMagic, 100, (std::uint64_t{1} << 16) | 1, 0},  // blocks not claimed
  };
  for (const auto& r : forged) push(r);
  EXPECT_EQ(q.get(1s), std::string(100, 'r'));
  for (std::size_t i = 0; i < std::size(forged); ++i) {
    EXPECT_THROW((void)q.get(1s), DecodeError) << "forged reference " << i;
  }
  // Nothing was claimed or freed on a forged reference (the forged items took no unit of
  // maxsize, so the queue's count is off from here: no more puts).
  EXPECT_EQ(q.arena_used_approx(), 0u);
}

// A forked consumer blocks inside the decode of its get (g_arena_block_fd), the item's slot
// still held, and is SIGKILLed there.
void kill_a_consumer_inside_get(Queue<Bulk>& q) {
  test::Pipe ready;
  const pid_t consumer = ::fork();
  ASSERT_GE(consumer, 0);
  if (consumer == 0) {
    ready.close_read();
    g_arena_block_fd = ready.write_fd();
    static_cast<void>(q.get(30s));
    ::_exit(2);  // not reached: decode blocks
  }
  ready.close_write();
  char c = 0;
  ASSERT_EQ(::read(ready.read_fd(), &c, 1), 1);
  kill_and_reap(consumer);
}

// The queue (maxsize 4) is empty, no arena block is claimed, no payload segment is left, and
// all maxsize units came back.
void expect_drained_and_whole(Queue<Bulk>& q) {
  EXPECT_THROW((void)q.get(200ms), Empty);
  EXPECT_EQ(q.arena_used_approx(), 0u);
  EXPECT_EQ(test::payload_segments_of_this_process(), 0u);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(q.try_put(Bulk{5000, 1}));
  EXPECT_FALSE(q.try_put(Bulk{5000, 1}));
}

TEST(QueueArena, AConsumerKilledInsideGetLosesNoItemAndLeaksNoRun) {
  Watchdog watchdog(120);
  Queue<Bulk> q(4);
  q.put(Bulk{70000, 7});
  q.put(Bulk{90000, 9});
  ASSERT_NO_FATAL_FAILURE(kill_a_consumer_inside_get(q));
  // The next item first (recovery runs on an empty queue), then the dead consumer's (still
  // in its claimed slot), each once.
  const Bulk first = q.get(5s);
  const Bulk second = q.get(5s);
  EXPECT_EQ(first.size, 90000u);
  EXPECT_EQ(first.fill, 9);
  EXPECT_EQ(second.size, 70000u);
  EXPECT_EQ(second.fill, 7);
  expect_drained_and_whole(q);
}

// The same for an item above kQueueArenaMaxItem, which travels through a one-off payload
// segment: the consumer dies while it decodes, its slot still held, so the segment's name
// must still be there for the recovering get (it is unlinked only once the slot is released).
TEST(QueueArena, AConsumerKilledInsideGetOfAWholeWordItemLosesNoItemAndLeaksNoRun) {
  Watchdog watchdog(120);
  Queue<Bulk> q(4);
  constexpr std::size_t kLarge = kQueueArenaMaxItem + 100000;  // two words
  q.put(Bulk{kLarge, 4});
  q.put(Bulk{60000, 6});
  EXPECT_EQ(test::payload_segments_of_this_process(), 0u);
  ASSERT_NO_FATAL_FAILURE(kill_a_consumer_inside_get(q));
  const Bulk first = q.get(5s);
  const Bulk second = q.get(5s);
  EXPECT_EQ(first.size, 60000u);
  EXPECT_EQ(first.fill, 6);
  EXPECT_EQ(second.size, kLarge);
  EXPECT_EQ(second.fill, 4);
  expect_drained_and_whole(q);
}

// An item larger than the arena (one word here) travels through a one-off payload segment.
TEST(QueueArena, AConsumerKilledInsideGetOfASegmentItemLosesNoItem) {
  Watchdog watchdog(120);
  Queue<Bulk> q(4, QueueOptions{.arena_bytes = kQueueArenaStep});
  constexpr std::size_t kLarge = kQueueArenaMaxItem + 100000;
  q.put(Bulk{kLarge, 4});
  q.put(Bulk{60000, 6});
  EXPECT_EQ(test::payload_segments_of_this_process(), 1u);
  ASSERT_NO_FATAL_FAILURE(kill_a_consumer_inside_get(q));
  const Bulk first = q.get(5s);
  const Bulk second = q.get(5s);
  EXPECT_EQ(first.size, 60000u);
  EXPECT_EQ(first.fill, 6);
  EXPECT_EQ(second.size, kLarge);
  EXPECT_EQ(second.fill, 4);
  expect_drained_and_whole(q);
}

// A forked producer stops inside the encode of a `size`-byte item (holding its run and a
// unit of maxsize 2) and is SIGKILLed there; `held` is the arena it held meanwhile.
void kill_a_producer_inside_its_encode(Queue<Bulk>& q, std::size_t size, std::size_t held) {
  test::Pipe ready;
  const pid_t producer = ::fork();
  ASSERT_GE(producer, 0);
  if (producer == 0) {
    ready.close_read();
    g_arena_stop_fd = ready.write_fd();
    try {
      q.put(Bulk{size, 3}, 30s);
    } catch (...) {
      ::_exit(4);
    }
    ::_exit(0);
  }
  ready.close_write();
  char c = 0;
  ASSERT_EQ(::read(ready.read_fd(), &c, 1), 1);
  int status = 0;
  ASSERT_EQ(::waitpid(producer, &status, WUNTRACED), producer);
  ASSERT_TRUE(WIFSTOPPED(status));
  EXPECT_EQ(q.arena_used_approx(), held);
  kill_and_reap(producer);
}

TEST(QueueArena, AProducerKilledInsideTheEncodeOfAWholeWordItemLeaksNoRun) {
  Watchdog watchdog(120);
  Queue<Bulk> q(2);
  // Three words: the stopped put holds them and a unit.
  ASSERT_NO_FATAL_FAILURE(
      kill_a_producer_inside_its_encode(q, 2 * kQueueArenaStep + 1, 3 * kQueueArenaStep));
  q.put(Bulk{50000, 5});
  const Bulk got = q.get(5s);
  EXPECT_EQ(got.size, 50000u);
  EXPECT_THROW((void)q.get(200ms), Empty);
  EXPECT_EQ(q.arena_used_approx(), 0u);
  EXPECT_EQ(test::payload_segments_of_this_process(), 0u);
  EXPECT_TRUE(q.try_put(Bulk{5000, 1}));
  EXPECT_TRUE(q.try_put(Bulk{5000, 1}));
  EXPECT_FALSE(q.try_put(Bulk{5000, 1}));
}

TEST(QueueArena, AProducerKilledInsideItsEncodeLeaksNoRun) {
  Watchdog watchdog(120);
  Queue<Bulk> q(2);
  test::Pipe ready;
  const pid_t producer = ::fork();
  ASSERT_GE(producer, 0);
  if (producer == 0) {
    ready.close_read();
    g_arena_stop_fd = ready.write_fd();
    try {
      q.put(Bulk{300000, 3}, 30s);
    } catch (...) {
      ::_exit(4);
    }
    ::_exit(0);
  }
  ready.close_write();
  char c = 0;
  ASSERT_EQ(::read(ready.read_fd(), &c, 1), 1);
  int status = 0;
  ASSERT_EQ(::waitpid(producer, &status, WUNTRACED), producer);
  ASSERT_TRUE(WIFSTOPPED(status));
  // The stopped put holds its run (10 blocks) and a unit.
  EXPECT_EQ(q.arena_used_approx(), 10 * kQueueArenaBlock);
  kill_and_reap(producer);
  q.put(Bulk{50000, 5});
  // The next get finds the dead put's record: its run and unit come back; no item is lost.
  const Bulk got = q.get(5s);
  EXPECT_EQ(got.size, 50000u);
  EXPECT_EQ(got.fill, 5);
  EXPECT_THROW((void)q.get(200ms), Empty);
  EXPECT_EQ(q.arena_used_approx(), 0u);
  EXPECT_EQ(test::payload_segments_of_this_process(), 0u);
  EXPECT_TRUE(q.try_put(Bulk{5000, 1}));
  EXPECT_TRUE(q.try_put(Bulk{5000, 1}));
  EXPECT_FALSE(q.try_put(Bulk{5000, 1}));
}

// Two producer threads put `per_producer` items each, of the four sizes in turn, and two
// consumer threads get them: every item arrives once and whole, and the arena is empty after.
void two_producers_two_consumers(Queue<std::vector<char>>& q, std::size_t per_producer,
                                 const std::array<std::size_t, 4>& sizes,
                                 std::chrono::seconds wait) {
  std::atomic<std::size_t> bad{0};
  std::vector<std::atomic<int>> seen(2 * per_producer);
  std::vector<std::thread> threads;
  for (std::size_t p = 0; p < 2; ++p) {
    threads.emplace_back([&, p] {
      for (std::size_t i = 0; i < per_producer; ++i) {
        const std::size_t index = p * per_producer + i;
        q.put(item_of(sizes[index % 4], index));
      }
    });
  }
  for (std::size_t c = 0; c < 2; ++c) {
    threads.emplace_back([&] {
      for (std::size_t i = 0; i < per_producer; ++i) {
        const std::vector<char> v = q.get(wait);
        std::size_t index = 0;
        std::memcpy(&index, v.data(), sizeof index);
        if (index >= seen.size() || !is_item(v, sizes[index % 4], index)) {
          bad.fetch_add(1);
          continue;
        }
        seen[index].fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0u);
  for (std::size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i].load(), 1) << "item " << i;
  EXPECT_EQ(q.arena_used_approx(), 0u);
}

// Threads over one mapping (also run under ThreadSanitizer): two producers and two
// consumers through a one-word arena, so items go through runs and payload segments at once.
TEST(QueueArenaThreads, ConcurrentPutsAndGetsShareTheArena) {
  Queue<std::vector<char>> q(8, QueueOptions{.arena_bytes = kQueueArenaStep});
  two_producers_two_consumers(q, 40, {3000, 40000, 150000, 600000}, 30s);
}

// The same through a four-word arena with items of whole words (above kQueueArenaMaxItem)
// among runs inside one word: claims of whole words race with claims and frees of runs.
TEST(QueueArenaThreads, WholeWordItemsAndRunsShareTheArena) {
  Queue<std::vector<char>> q(4, QueueOptions{.arena_bytes = 4 * kQueueArenaStep});
  two_producers_two_consumers(q, 12, {40000, kQueueArenaStep + 1000, 600000, 3 * kQueueArenaStep},
                              60s);
}

}  // namespace
}  // namespace ringpool::pool
