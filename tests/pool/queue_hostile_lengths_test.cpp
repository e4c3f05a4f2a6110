// Lengths in shared memory are read once, checked, then used (ringpool issue #10, item 7):
// a hostile thread keeps flipping a length field of the item in a Queue's ring between its
// valid value and an out-of-range one while the test puts and gets. Every get must yield the
// item as it was put, or the typed DecodeError (a codec length) or Corrupted (the ring slot's
// length): never a wrong item, a huge allocation or an out-of-bounds read. A length read
// twice (checked as valid, used as flipped) makes the decode run off the slot; under the
// asan-ubsan preset that is a report, without it usually a crash.
//
// The hostile thread writes through its own mapping of the named queue's segment, as
// another process would; the races are the point, so this file is not run under TSan.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "ringpool/ipc/segment.hpp"
#include "ringpool/pool/errors.hpp"
#include "ringpool/pool/queue.hpp"

namespace ringpool::pool {
namespace {

using namespace std::chrono_literals;
using Item = std::vector<std::string>;

// Every item: kPrefix one-character strings (decoding them keeps the reader busy while the
// flips go on), then the marker, by which the hostile thread finds the item's bytes.
constexpr std::string_view kMarker = "hostile-lengths-marker-0123456789abcdef";
constexpr std::size_t kPrefix = 200;
// Encoding (codec.hpp): u64 count, then per string a u64 length and its characters; in a
// ring slot the payload follows the u32 slot length by 8 bytes (ipc byte_slot.hpp).
constexpr std::size_t kLengthBeforeMarker = 8;
constexpr std::size_t kCountBeforeMarker = kLengthBeforeMarker + kPrefix * 9 + 8;
constexpr std::size_t kSlotLengthBeforeMarker = kCountBeforeMarker + 8;
constexpr std::uint64_t kEncodedSize = 8 + kPrefix * 9 + 8 + kMarker.size();

Item make_item() {
  Item item(kPrefix, std::string("x"));
  item.emplace_back(kMarker);
  return item;
}

enum class Field { codec_count, codec_length, slot_length };

// Flips `field` of every copy of the item in `segment` between its valid value and an
// out-of-range one until `stop`; counts the flips.
class Flipper {
 public:
  Flipper(const ipc::Segment& segment, Field field, std::size_t slot_size)
      : thread_([this, &segment, field, slot_size] {
          const std::span<std::byte> bytes = segment.bytes();
          std::vector<std::byte*> markers;
          std::uint64_t n = 0;
          while (!stop_.load(std::memory_order_relaxed)) {
            // Where the items are (the ring's slots hold them; stale copies too), looked up
            // again now and then; flipped in a tight loop in between.
            markers.clear();
            for (std::byte* at = bytes.data();;) {
              at = find_marker(at, bytes.data() + bytes.size());
              if (at == nullptr) break;
              markers.push_back(at);
              at += kMarker.size();
            }
            for (int i = 0; i < 4096 && !markers.empty(); ++i) {
              ++n;
              for (std::byte* at : markers) flip(at, field, slot_size, n);
              flips_.store(n, std::memory_order_relaxed);
            }
            if (markers.empty()) std::this_thread::yield();
          }
          flips_.store(n, std::memory_order_relaxed);
        }) {}
  Flipper(const Flipper&) = delete;
  Flipper& operator=(const Flipper&) = delete;
  ~Flipper() { (void)stop(); }

  // Flips so far (a progress count while it runs).
  [[nodiscard]] std::uint64_t flips() const noexcept {
    return flips_.load(std::memory_order_relaxed);
  }

  std::uint64_t stop() {
    stop_.store(true, std::memory_order_relaxed);
    if (thread_.joinable()) thread_.join();
    return flips_.load(std::memory_order_relaxed);
  }

 private:
  static std::byte* find_marker(std::byte* from, std::byte* end) {
    const auto* m = reinterpret_cast<const std::byte*>(kMarker.data());
    std::byte* at = std::search(from, end, m, m + kMarker.size());
    return at == end ? nullptr : at;
  }

  // Odd n: out of range; even n: valid. Through atomic_ref where aligned (a peer's store),
  // else a plain copy.
  static void flip(std::byte* marker, Field field, std::size_t slot_size, std::uint64_t n) {
    const bool bad = (n & 1) != 0;
    switch (field) {
      case Field::codec_count:
        store(marker - kCountBeforeMarker, bad ? std::uint64_t{1} << 40 : kPrefix + 1);
        break;
      case Field::codec_length:
        store(marker - kLengthBeforeMarker,
              bad ? (std::uint64_t{1} << 40) + kMarker.size() : kMarker.size());
        break;
      case Field::slot_length: {
        // Not ~0u: that is a tombstone, a valid state.
        const auto valid = static_cast<std::uint32_t>(kEncodedSize);
        const std::uint32_t value =
            bad ? static_cast<std::uint32_t>(slot_size + 1 + n % 4096) : valid;
        std::memcpy(marker - kSlotLengthBeforeMarker, &value, sizeof value);
        break;
      }
    }
  }

  static void store(std::byte* at, std::uint64_t value) {
    if (reinterpret_cast<std::uintptr_t>(at) % alignof(std::uint64_t) == 0) {
      std::atomic_ref<std::uint64_t>(*reinterpret_cast<std::uint64_t*>(at))
          .store(value, std::memory_order_relaxed);
    } else {
      std::memcpy(at, &value, sizeof value);
    }
  }

  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> flips_{0};
  std::thread thread_;
};

std::string queue_name(const char* what) {
  return "/rp-hostile-" + std::string(what) + "-" + std::to_string(::getpid());
}

struct Tally {
  int rounds = 0;
  int intact = 0;
  int decode_errors = 0;
  int corrupted = 0;
  int wrong = 0;
};

// Puts and gets the item `rounds` times (at most 5 s) while `field` flips (or until the queue
// is full of units lost to Corrupted slots, for the slot length).
Tally run(Field field, const char* what, int rounds, std::size_t maxsize) {
  const std::string name = queue_name(what);
  static_cast<void>(Queue<Item>::unlink(name));
  QueueOptions options;
  options.slot_size = 4096;
  Queue<Item> q = Queue<Item>::create(name, maxsize, options);
  const ipc::Segment peer = ipc::Segment::open(name);
  const Item item = make_item();
  Tally t;
  Flipper flipper(peer, field, options.slot_size);
  // Bounded in time too: a loaded machine may run the two threads in turns only.
  const auto end = std::chrono::steady_clock::now() + 5s;
  for (int i = 0; i < rounds && std::chrono::steady_clock::now() < end; ++i) {
    // A Corrupted slot is released without giving its unit back (the queue is unusable by
    // contract): the run ends when no unit is left.
    if (!q.try_put(item)) break;
    ++t.rounds;
    // On a busy machine the two threads may rarely run at once: the get starts only after
    // the item has been flipped at least once since it was put (to valid or out of range),
    // and the flips go on while it decodes whenever both threads have a CPU.
    const std::uint64_t seen = flipper.flips();
    for (int spins = 0; flipper.flips() < seen + 2; ++spins) {
      if (spins > 1000) std::this_thread::yield();
    }
    try {
      const Item got = q.get(5s);
      if (got == item) {
        ++t.intact;
      } else {
        ++t.wrong;
      }
    } catch (const DecodeError&) {
      ++t.decode_errors;
    } catch (const Corrupted&) {
      ++t.corrupted;
    }
  }
  const std::uint64_t flips = flipper.stop();
  std::printf("[ hostile  ] %s: %d rounds, %d intact, %d DecodeError, %d Corrupted, %llu flips\n",
              what, t.rounds, t.intact, t.decode_errors, t.corrupted,
              static_cast<unsigned long long>(flips));
  EXPECT_GT(flips, 0U) << "the hostile thread never found the item";
  static_cast<void>(Queue<Item>::unlink(name));
  return t;
}

TEST(QueueHostileLengths, ACodecElementCountFlippedWhileDecodingGivesTheItemOrDecodeError) {
  const Tally t = run(Field::codec_count, "count", 5000, 1);
  EXPECT_EQ(t.wrong, 0);
  EXPECT_EQ(t.corrupted, 0);
  EXPECT_EQ(t.intact + t.decode_errors, t.rounds);
}

TEST(QueueHostileLengths, ACodecStringLengthFlippedWhileDecodingGivesTheItemOrDecodeError) {
  const Tally t = run(Field::codec_length, "length", 5000, 1);
  EXPECT_EQ(t.wrong, 0);
  EXPECT_EQ(t.corrupted, 0);
  EXPECT_EQ(t.intact + t.decode_errors, t.rounds);
}

TEST(QueueHostileLengths, ARingSlotLengthFlippedWhileReadingGivesTheItemOrCorrupted) {
  const Tally t = run(Field::slot_length, "slot", 5000, 64);
  EXPECT_EQ(t.wrong, 0);
  EXPECT_EQ(t.decode_errors, 0) << "a valid slot length always frames the whole item";
  EXPECT_EQ(t.intact + t.corrupted, t.rounds);
}

}  // namespace
}  // namespace ringpool::pool
