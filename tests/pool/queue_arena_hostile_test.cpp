// A Queue's payload arena under a hostile peer (ringpool issue #9): while items go through
// the arena, a thread writes into the arena's bitmap, the put and get records and the
// arena references in the ring through its own mapping of the named queue's segment, as
// another process could. What the queue promises (queue.hpp; docs/ipc.md, "Queue payload
// arena"): everything read from shared memory is checked before use, so every call returns
// or throws a typed error (DecodeError for a refused reference, Corrupted, Full and Empty at
// the caller's deadline), nothing is read or written outside the segment (the point of the
// asan-ubsan run), and no call outlives its deadline. Which item a get returns:
//  - a reference or a bitmap word changed under one item in flight: that item, or
//    DecodeError; a forged reference may also name another run that is still claimed (a run
//    left behind by an earlier refusal), so an earlier item may come back;
//  - forged records of dead owners whose `arena` names any run: the item, or DecodeError;
//  - anything at once with several producers and consumers: no promise on which item, only
//    the typed outcome (wrong items are counted, not asserted).
// Once the writes stop, the queue works again: every later put and get is exact (a run lost
// to the writes only shrinks the arena), and no payload segment is left once it is gone.
//
// The writes race with the queue on purpose: this file is not run under TSan. It includes
// the queue's header layout (pool/src/queue_shared.hpp) to know where to write.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <typeinfo>
#include <vector>

#include "queue_shared.hpp"
#include "ringpool/ipc/segment.hpp"
#include "ringpool/pool/codec.hpp"
#include "ringpool/pool/detail/payload.hpp"
#include "ringpool/pool/detail/queue_core.hpp"
#include "ringpool/pool/errors.hpp"
#include "ringpool/pool/queue.hpp"
#include "test_support.hpp"

namespace {

// An item of `size` encoded bytes that knows itself: a header (index, size, a checksum of
// both) and a body of one byte value derived from the index. Its codec refuses anything
// else with DecodeError, so a get returns either an item some put encoded, whole, or throws.
struct Parcel {
  std::uint64_t index = 0;
  std::uint64_t size = 0;
  bool operator==(const Parcel&) const = default;
};

constexpr std::size_t kParcelHeader = 24;

std::uint64_t parcel_check(std::uint64_t index, std::uint64_t size) {
  std::uint64_t z = index * 0x9E3779B97F4A7C15ULL ^ (size + 0x632BE59BD9B4E019ULL);
  z = (z ^ (z >> 31)) * 0xBF58476D1CE4E5B9ULL;
  return z ^ (z >> 29);
}

std::byte parcel_fill(std::uint64_t index) {
  return static_cast<std::byte>(index * 7 + 1);
}

}  // namespace

template <>
struct ringpool::pool::Codec<Parcel> {
  static std::size_t size(const Parcel& p) { return static_cast<std::size_t>(p.size); }
  static void encode(const Parcel& p, std::span<std::byte> out) noexcept {
    const std::uint64_t check = parcel_check(p.index, p.size);
    std::memcpy(out.data(), &p.index, 8);
    std::memcpy(out.data() + 8, &p.size, 8);
    std::memcpy(out.data() + 16, &check, 8);
    std::fill(out.begin() + kParcelHeader, out.end(), parcel_fill(p.index));
  }
  static Parcel decode(std::span<const std::byte> in) {
    if (in.size() < kParcelHeader) throw DecodeError("Parcel: shorter than its header");
    Parcel p;
    std::uint64_t check = 0;
    std::memcpy(&p.index, in.data(), 8);
    std::memcpy(&p.size, in.data() + 8, 8);
    std::memcpy(&check, in.data() + 16, 8);
    if (p.size != in.size() || check != parcel_check(p.index, p.size)) {
      throw DecodeError("Parcel: header does not match the bytes");
    }
    const std::byte fill = parcel_fill(p.index);
    std::size_t bad = 0;
    for (const std::byte b : in.subspan(kParcelHeader)) bad += b != fill ? 1 : 0;
    if (bad != 0) throw DecodeError("Parcel: torn body");
    return p;
  }
};

namespace ringpool::pool {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Shared = detail::QueueCore::Shared;
using ::ringpool::test::unique_name;
using ::ringpool::test::Watchdog;

// The pid of a child that has exited and been reaped: an owner that no longer runs.
pid_t dead_pid() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  if (child <= 0) return 0;
  int status = 0;
  ::waitpid(child, &status, 0);
  return child;
}

// A peer's mapping of a named queue's segment and the places it writes to.
class Peer {
 public:
  explicit Peer(const std::string& name) : segment_(ipc::Segment::open(name)) {}
  [[nodiscard]] Shared& shared() const { return *reinterpret_cast<Shared*>(segment_.data()); }
  [[nodiscard]] std::size_t arena_words() const {
    return static_cast<std::size_t>(shared().arena_words);
  }
  // The ring's region (between the header and the arena).
  [[nodiscard]] std::span<std::byte> ring() const {
    return segment_.bytes().subspan(detail::kQueueRingOffset,
                                    static_cast<std::size_t>(shared().ring_bytes));
  }
  // Where arena references are in the ring now (their magic, 8-byte aligned).
  [[nodiscard]] std::vector<std::byte*> references() const {
    std::vector<std::byte*> found;
    const std::span<std::byte> r = ring();
    for (std::size_t off = 0; off + sizeof(detail::ArenaRef) <= r.size(); off += 8) {
      if (load(r.data() + off) == detail::kArenaRefMagic) found.push_back(r.data() + off);
    }
    return found;
  }
  // A peer's 8-byte access to shared memory (atomic: the queue's own words are atomics).
  static std::uint64_t load(std::byte* at) {
    return std::atomic_ref<std::uint64_t>(*reinterpret_cast<std::uint64_t*>(at))
        .load(std::memory_order_relaxed);
  }
  static void store(std::byte* at, std::uint64_t value) {
    std::atomic_ref<std::uint64_t>(*reinterpret_cast<std::uint64_t*>(at))
        .store(value, std::memory_order_relaxed);
  }

 private:
  ipc::Segment segment_;
};

// Runs `step` in a loop on a thread of its own until stopped; counts the steps.
class Hostile {
 public:
  explicit Hostile(std::function<void(std::uint64_t)> step)
      : thread_([this, step = std::move(step)] {
          std::uint64_t n = 0;
          while (!stop_.load(std::memory_order_relaxed)) {
            step(n);
            steps_.store(++n, std::memory_order_relaxed);
          }
        }) {}
  Hostile(const Hostile&) = delete;
  Hostile& operator=(const Hostile&) = delete;
  ~Hostile() { (void)stop(); }
  [[nodiscard]] std::uint64_t steps() const noexcept {
    return steps_.load(std::memory_order_relaxed);
  }
  // Waits (bounded) until the writer has made `n` more steps: on a busy machine the two
  // threads may run in turns only.
  void let_run(std::uint64_t n) const {
    const std::uint64_t target = steps() + n;
    const auto end = Clock::now() + 1s;
    while (steps() < target && Clock::now() < end) std::this_thread::yield();
  }
  std::uint64_t stop() {
    stop_.store(true, std::memory_order_relaxed);
    if (thread_.joinable()) thread_.join();
    return steps();
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> steps_{0};
  std::thread thread_;
};

struct Tally {
  int rounds = 0;
  int intact = 0;
  int earlier = 0;  // an item put before the one in flight
  int wrong = 0;    // any other item
  int decode_errors = 0;
  int corrupted = 0;
  int full = 0;
  int empty = 0;
  void print(const char* what, std::uint64_t writes) const {
    std::printf(
        "[ hostile  ] %s: %d rounds, %d intact, %d earlier items, %d wrong, %d DecodeError, "
        "%d Corrupted, %d Full, %d Empty, %llu hostile writes\n",
        what, rounds, intact, earlier, wrong, decode_errors, corrupted, full, empty,
        static_cast<unsigned long long>(writes));
  }
};

constexpr std::uint64_t kSize = 100000;  // 4 blocks of the arena

// One item at a time (put, then get) while `hostile` writes, for at most `rounds` items or
// 3 s; every outcome counted.
Tally one_in_flight(Queue<Parcel>& q, Hostile& hostile, int rounds) {
  Tally t;
  const auto end = Clock::now() + 3s;
  for (int i = 1; i <= rounds && Clock::now() < end; ++i) {
    const Parcel item{static_cast<std::uint64_t>(i), kSize};
    try {
      q.put(item, 5s);
    } catch (const Full&) {
      ++t.full;
      continue;
    } catch (const Corrupted&) {
      ++t.corrupted;
      continue;
    }
    ++t.rounds;
    hostile.let_run(2);
    try {
      const Parcel got = q.get(5s);
      if (got == item) {
        ++t.intact;
      } else if (got.index < item.index && got.size == kSize) {
        ++t.earlier;
      } else {
        ++t.wrong;
      }
    } catch (const DecodeError&) {
      ++t.decode_errors;
    } catch (const Corrupted&) {
      ++t.corrupted;
    } catch (const Empty&) {
      ++t.empty;
    }
  }
  return t;
}

// After the writes: the queue still carries items exactly (through the arena where runs
// are left, else through payload segments), and leaves no new segment behind.
void works_again(Queue<Parcel>& q) {
  // Segments of items whose references the writes destroyed stay until the queue goes.
  const std::size_t segments = test::payload_segments_of_this_process();
  for (std::uint64_t i = 0; i < 6; ++i) {
    const Parcel item{1000000 + i, kSize + i * 300000};
    q.put(item, 5s);
    EXPECT_EQ(q.get(5s), item) << "after the hostile writes stopped, item " << i;
  }
  EXPECT_EQ(test::payload_segments_of_this_process(), segments);
}

TEST(QueueArenaHostile, ReferencesChangedUnderAnItemGiveItOrAnEarlierItemOrDecodeError) {
  Watchdog watchdog(120);
  const std::string name = unique_name("arena-hostile-refs");
  static_cast<void>(Queue<Parcel>::unlink(name));
  {
    auto q = Queue<Parcel>::create(name, 2, QueueOptions{.slot_size = 64});
    const Peer peer(name);
    const std::uint64_t words = peer.arena_words();
    // Odd steps set one field of every reference found to a hostile value; even steps put
    // back the values they had when found, and every 64 steps the references are looked up
    // again (a value put back may be stale by then: a forged reference to an earlier run).
    std::vector<std::byte*> refs;
    std::vector<detail::ArenaRef> found;
    Hostile hostile([&](std::uint64_t n) {
      const std::uint64_t kind = (n / 2) % 9;
      for (std::size_t i = 0; i < refs.size(); ++i) {
        const detail::ArenaRef& r = found[i];
        const std::uint64_t count = r.handle & 0xff;
        const std::uint64_t first = (r.handle >> 8) & 0xff;
        std::uint64_t magic = r.magic;
        std::uint64_t bytes = r.bytes;
        std::uint64_t handle = r.handle;
        if (n % 2 == 1) {
          switch (kind) {
            case 0:  // read as a segment's reference
              magic = detail::kPayloadRefMagic;
              break;
            case 1:  // neither kind
              magic = ~r.magic;
              break;
            case 2:  // empty
              bytes = 0;
              break;
            case 3:  // one byte short
              bytes = r.bytes - 1;
              break;
            case 4:  // more than its run
              bytes = count * kQueueArenaBlock + 1;
              break;
            case 5:  // beyond max_payload
              bytes = std::uint64_t{1} << 40;
              break;
            case 6:  // a word past the arena
              handle = (words << 16) | (first << 8) | count;
              break;
            case 7:  // a run past the end of its word
              handle = (first << 8) | (64 - first + 1);
              break;
            default:  // another run of the same length
              handle = ((first + count) % 60) << 8 | count;
              break;
          }
        }
        Peer::store(refs[i], magic);
        Peer::store(refs[i] + 8, bytes);
        Peer::store(refs[i] + 16, handle);
      }
      if (n % 64 == 0) {
        refs = peer.references();
        found.clear();
        for (std::byte* at : refs) {
          found.push_back(
              detail::ArenaRef{Peer::load(at), Peer::load(at + 8), Peer::load(at + 16), 0});
        }
        if (refs.empty()) std::this_thread::yield();
      }
    });
    const Tally t = one_in_flight(q, hostile, 3000);
    t.print("arena references", hostile.stop());
    EXPECT_GT(t.rounds, 0);
    EXPECT_EQ(t.wrong, 0);
    EXPECT_EQ(t.corrupted + t.full + t.empty, 0);
    EXPECT_EQ(t.intact + t.earlier + t.decode_errors, t.rounds);
    works_again(q);
  }
  EXPECT_EQ(test::payload_segments_of_this_process(), 0u);
}

TEST(QueueArenaHostile, BitmapWordsChangedUnderAnItemGiveItOrDecodeError) {
  Watchdog watchdog(120);
  const std::string name = unique_name("arena-hostile-bitmap");
  static_cast<void>(Queue<Parcel>::unlink(name));
  {
    auto q = Queue<Parcel>::create(
        name, 2, QueueOptions{.slot_size = 64, .arena_bytes = 2 * kQueueArenaStep});
    const Peer peer(name);
    std::mt19937_64 rng(20261130);
    // Flips a few random bits of a word and, after a moment, flips them back (an atomic
    // xor, so claims and frees in between are kept; a claim of a flipped-clear block is not:
    // its bit ends up clear under its item).
    Hostile hostile([&](std::uint64_t) {
      std::atomic<std::uint64_t>& word = peer.shared().arena_used[rng() % peer.arena_words()];
      const std::uint64_t mask = (std::uint64_t{1} << (rng() % 64)) |
                                 (std::uint64_t{1} << (rng() % 64)) | (rng() % 4 == 0 ? rng() : 0);
      word.fetch_xor(mask, std::memory_order_relaxed);
      for (int i = 0; i < 200; ++i) std::this_thread::yield();
      word.fetch_xor(mask, std::memory_order_relaxed);
    });
    const Tally t = one_in_flight(q, hostile, 3000);
    t.print("arena bitmap", hostile.stop());
    EXPECT_GT(t.rounds, 0);
    // Only this item's put writes into its blocks: whatever the bitmap says, no other item
    // can be read.
    EXPECT_EQ(t.wrong + t.earlier, 0);
    EXPECT_EQ(t.corrupted + t.full + t.empty, 0);
    EXPECT_EQ(t.intact + t.decode_errors, t.rounds);
    works_again(q);
  }
  EXPECT_EQ(test::payload_segments_of_this_process(), 0u);
}

TEST(QueueArenaHostile, ForgedRecordsOfDeadOwnersFreeRunsButNeverGiveAWrongItem) {
  Watchdog watchdog(120);
  const std::string name = unique_name("arena-hostile-records");
  static_cast<void>(Queue<Parcel>::unlink(name));
  const pid_t dead = dead_pid();
  ASSERT_GT(dead, 0);
  {
    // maxsize 1: one run is in use at a time (a put claims its run once the last get has
    // freed the previous one and given back the unit).
    auto q = Queue<Parcel>::create(name, 1, QueueOptions{.slot_size = 64});
    const Peer peer(name);
    const std::uint64_t words = peer.arena_words();
    std::mt19937_64 rng(4242);
    // Takes a free put or get record for a dead owner, naming a run: one in the arena (any,
    // the one in use included), one outside it, or garbage. A get that finds the queue
    // empty takes it over and frees that run.
    Hostile hostile([&](std::uint64_t) {
      const bool put = rng() % 2 == 0;
      Shared::ClaimRecord& record = put ? peer.shared().puts[rng() % kQueuePutRecords]
                                        : peer.shared().claims[rng() % kQueueClaimRecords];
      std::int64_t expected = 0;
      if (record.owner.compare_exchange_strong(expected, dead, std::memory_order_seq_cst)) {
        const std::uint64_t count = 1 + rng() % 8;
        const std::uint64_t first = rng() % (65 - count);
        std::uint64_t handle = ((rng() % words) << 16) | (first << 8) | count;
        if (rng() % 4 == 0) handle = ((words + rng() % 100) << 16) | (first << 8) | count;
        if (rng() % 8 == 0) handle = rng();
        record.arena.store(handle, std::memory_order_seq_cst);
      }
      std::this_thread::sleep_for(50us);
    });
    constexpr std::uint64_t kItems = 5000;
    std::atomic<int> put_failures{0};
    std::thread producer([&] {
      for (std::uint64_t i = 1; i <= kItems; ++i) {
        try {
          q.put(Parcel{i, kSize}, 20s);
        } catch (const std::exception& e) {
          std::printf("put %llu: %s\n", static_cast<unsigned long long>(i), e.what());
          put_failures.fetch_add(1);
        }
      }
    });
    Tally t;
    std::uint64_t last = 0;
    const auto end = Clock::now() + 20s;
    while (last < kItems && Clock::now() < end) {
      try {
        const Parcel got = q.get(1s);
        ++t.rounds;
        // One producer: items arrive in order, each once (a refused one is skipped).
        if (got.size == kSize && got.index > last) {
          ++t.intact;
          last = got.index;
        } else {
          ++t.wrong;
        }
      } catch (const DecodeError&) {
        ++t.rounds;
        ++t.decode_errors;
      } catch (const Empty&) {
        ++t.empty;  // the last item was refused
      }
    }
    producer.join();
    t.print("forged records", hostile.stop());
    EXPECT_EQ(put_failures.load(), 0);
    EXPECT_GT(t.intact, 0);
    EXPECT_EQ(t.wrong, 0);
    EXPECT_EQ(t.corrupted, 0);
    // The records forged last are settled by the next get that finds the queue empty.
    EXPECT_FALSE(q.try_get().has_value());
    works_again(q);
  }
  EXPECT_EQ(test::payload_segments_of_this_process(), 0u);
}

// A get that dies between the release of its item's slot and the unlink of the item's
// payload segment leaves its claim record naming the segment (a payload mark). Written here
// as that get leaves it (the owner a reaped pid, the slot long released): the next get that
// finds the queue empty unlinks that name, and only it; an item still in the ring keeps its
// segment until its own get.
TEST(QueueArenaHostile, ADeadGetsRecordNamingAPayloadSegmentHasItUnlinked) {
  Watchdog watchdog(120);
  const std::string name = unique_name("arena-hostile-mark");
  static_cast<void>(Queue<std::string>::unlink(name));
  const pid_t dead = dead_pid();
  ASSERT_GT(dead, 0);
  {
    // No arena: every item above the slot travels through a payload segment.
    auto q = Queue<std::string>::create(name, 4, QueueOptions{.slot_size = 64, .arena_bytes = 0});
    const Peer peer(name);
    const detail::PayloadNames names(peer.shared().payload_owner, peer.shared().payload_serial);
    // The dead get's item: a segment of the queue's names whose reference left the ring.
    detail::OutgoingPayload orphan = detail::OutgoingPayload::create(names, 5000);
    const detail::PayloadRef ref = orphan.ref();
    orphan.hand_over();
    q.put(std::string(70000, 'a'));  // a live item, in its own segment
    EXPECT_EQ(test::payload_segments_of_this_process(), 2u);
    Shared::ClaimRecord& record = peer.shared().claims[kQueueClaimRecords - 1];
    std::int64_t expected = 0;
    ASSERT_TRUE(record.owner.compare_exchange_strong(expected, dead));
    record.arena.store(detail::QueueCore::kPayloadMark |
                       static_cast<std::uint64_t>(ref.sender) << 40 | ref.sequence);
    // The queue is not empty: no recovery; the live item's segment is read and unlinked.
    EXPECT_EQ(q.get(1s), std::string(70000, 'a'));
    EXPECT_EQ(test::payload_segments_of_this_process(), 1u);
    // Empty: the dead get's record is settled and its segment unlinked.
    EXPECT_FALSE(q.try_get().has_value());
    EXPECT_EQ(test::payload_segments_of_this_process(), 0u);
    EXPECT_EQ(record.owner.load(), 0);
    EXPECT_EQ(record.arena.load(), 0u);
    q.put(std::string(90000, 'b'));
    EXPECT_EQ(q.get(1s), std::string(90000, 'b'));
  }
  EXPECT_EQ(test::payload_segments_of_this_process(), 0u);
}

// Outcomes of the calls of one thread in the free-for-all below.
struct Calls {
  std::uint64_t items = 0;  // puts that returned, or gets that returned an item
  std::uint64_t decode_errors = 0;
  std::uint64_t corrupted = 0;
  std::uint64_t timeouts = 0;  // Full or Empty
  std::uint64_t other = 0;     // anything else: not in the queue's failure model
  std::string other_what;
  Clock::duration longest{};  // the longest call
  template <class F>
  void call(F&& f) {
    const auto start = Clock::now();
    try {
      f();
      ++items;
    } catch (const DecodeError&) {
      ++decode_errors;
    } catch (const Corrupted&) {
      ++corrupted;
    } catch (const Full&) {
      ++timeouts;
    } catch (const Empty&) {
      ++timeouts;
    } catch (const std::exception& e) {
      ++other;
      other_what = typeid(e).name() + std::string(": ") + e.what();
    }
    longest = std::max(longest, Clock::now() - start);
  }
};

TEST(QueueArenaHostile, AnyWritesWithManyProducersAndConsumersEndInItemsOrTypedErrors) {
  Watchdog watchdog(180);
  const std::string name = unique_name("arena-hostile-all");
  static_cast<void>(Queue<Parcel>::unlink(name));
  const pid_t dead = dead_pid();
  ASSERT_GT(dead, 0);
  constexpr auto kTimeout = 200ms;
  {
    // One bitmap word: items also fall back to payload segments.
    auto q = Queue<Parcel>::create(name, 8,
                                   QueueOptions{.slot_size = 64, .arena_bytes = kQueueArenaStep});
    const Peer peer(name);
    std::mt19937_64 rng(77);
    // Random values into every field the arena reads: bitmap words (xor: bits flipped for
    // good), the hint, the records' runs, the references. For the last second also the
    // records' owners, claim words and unit flags, which the queue's recovery acts on (a
    // live call's record taken over, units given back twice): the queue may end up looking
    // full or empty for good, or corrupted.
    const auto start = Clock::now();
    const auto wild = start + 2s;
    const auto end = start + 3s;
    Hostile hostile([&](std::uint64_t) {
      Shared& shared = peer.shared();
      switch (rng() % 8) {
        case 0:
          shared.arena_used[rng() % peer.arena_words()].fetch_xor(std::uint64_t{1} << (rng() % 64),
                                                                  std::memory_order_relaxed);
          break;
        case 1:
          shared.arena_next.store(rng(), std::memory_order_relaxed);
          break;
        case 2:
        case 3: {
          Shared::ClaimRecord& record = rng() % 2 == 0 ? shared.puts[rng() % kQueuePutRecords]
                                                       : shared.claims[rng() % kQueueClaimRecords];
          record.arena.store(rng() % 2 == 0 ? rng() : rng() % 0x3f3f, std::memory_order_relaxed);
          if (Clock::now() < wild) break;
          switch (rng() % 3) {
            case 0:
              record.owner.store(rng() % 2 == 0 ? dead : 0, std::memory_order_relaxed);
              break;
            case 1:
              record.word.store(rng() % 1000, std::memory_order_relaxed);
              break;
            default:
              record.taken.store(rng() % 2, std::memory_order_relaxed);
              break;
          }
          break;
        }
        default:
          for (std::byte* at : peer.references()) {
            Peer::store(at + 8 * (1 + rng() % 2), rng() % 2 == 0 ? rng() : rng() % 0x3f3f);
          }
          break;
      }
      std::this_thread::sleep_for(200us);
    });
    constexpr std::uint64_t kSizes[] = {3000, 40000, 150000, 600000, kQueueArenaMaxItem + 5000};
    std::vector<Calls> calls(4);
    std::vector<std::thread> threads;
    for (std::size_t who = 0; who < calls.size(); ++who) {
      threads.emplace_back([&, who] {
        for (std::uint64_t i = 0; Clock::now() < end; ++i) {
          if (who < 2) {
            const Parcel item{i * 2 + who, kSizes[i % 5]};
            calls[who].call([&] { q.put(item, kTimeout); });
          } else {
            calls[who].call([&] { static_cast<void>(q.get(kTimeout)); });
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    const std::uint64_t writes = hostile.stop();
    Calls all;
    for (const Calls& c : calls) {
      all.items += c.items;
      all.decode_errors += c.decode_errors;
      all.corrupted += c.corrupted;
      all.timeouts += c.timeouts;
      all.other += c.other;
      if (!c.other_what.empty()) all.other_what = c.other_what;
      all.longest = std::max(all.longest, c.longest);
    }
    std::printf(
        "[ hostile  ] free-for-all: %llu calls returned, %llu DecodeError, %llu Corrupted, %llu "
        "Full or Empty, %llu other; longest call %lld ms; %llu hostile writes\n",
        static_cast<unsigned long long>(all.items),
        static_cast<unsigned long long>(all.decode_errors),
        static_cast<unsigned long long>(all.corrupted),
        static_cast<unsigned long long>(all.timeouts), static_cast<unsigned long long>(all.other),
        static_cast<long long>(
            std::chrono::duration_cast<std::chrono::milliseconds>(all.longest).count()),
        static_cast<unsigned long long>(writes));
    EXPECT_GT(all.items, 0u);
    EXPECT_EQ(all.other, 0u) << all.other_what;
    // A bound only a hang breaks (each call waits at most kTimeout for room or an item).
    EXPECT_LT(all.longest, kTimeout + 10s);
  }
  // The creator's last handle removes every payload segment left (items never taken,
  // references destroyed by the writes).
  EXPECT_EQ(test::payload_segments_of_this_process(), 0u);
}

}  // namespace
}  // namespace ringpool::pool
