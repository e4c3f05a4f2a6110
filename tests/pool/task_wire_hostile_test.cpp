// The lengths of a task message are read once, checked, then used (ringpool issue #10,
// item 7: the worker read the state length and an item's length twice, between check and
// use): a thread keeps flipping the state length or an item's length prefix of a message
// between its valid value and an out-of-range one while the message's invoker runs over it,
// as a worker runs over its ring slot. Every item must give the right value or a
// DecodeError record, never a wrong value or a read past the message (the message is a heap
// block of its exact size: under the asan-ubsan preset any such read is a report). Not run
// under TSan: the races are the point.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <span>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "ringpool/pool/codec.hpp"
#include "ringpool/pool/detail/task_traits.hpp"
#include "ringpool/pool/detail/task_wire.hpp"

namespace {

namespace wire = ringpool::pool::detail;

// A callable with state: its message is [u32 state length][state][items], each item
// [u32 length][its arguments, framed] (strings have no fixed size).
struct Offset {
  std::uint64_t k;
  std::uint64_t operator()(const std::string& s) const { return k + s.size(); }
};

constexpr std::uint64_t kState = 1000;
constexpr std::size_t kHostileItems = 4;
const std::string kWord = "hostile-task-item";  // every item

struct HostileCaptured {
  std::vector<std::vector<std::byte>> messages;
  static void push(void* self, std::span<const std::byte> m) {
    static_cast<HostileCaptured*>(self)->messages.emplace_back(m.begin(), m.end());
  }
};

std::size_t item_bytes() {
  return wire::item_bytes(kWord);
}

std::vector<std::byte> make_message() {
  std::vector<std::byte> m(4 + sizeof(Offset) + kHostileItems * item_bytes());
  wire::put_u32(m.data(), sizeof(Offset));
  const Offset state{kState};
  std::memcpy(m.data() + 4, &state, sizeof state);
  for (std::size_t i = 0; i < kHostileItems; ++i) {
    wire::write_item(m.data() + 4 + sizeof(Offset) + i * item_bytes(), kWord);
  }
  return m;
}

struct Tally {
  int values = 0;
  int errors = 0;
  int wrong = 0;
};

// Runs the invoker over `message` (shared with the flipping thread) once.
void run_once(const std::byte* message, std::size_t size, Tally& t) {
  using Task = wire::TaskOf<Offset, std::tuple<>>;
  std::vector<std::byte> buffer(4096);
  HostileCaptured sent;
  wire::ResultWriter writer(buffer, &HostileCaptured::push, &sent);
  const wire::TaskHeader h{1, 0, 0, 0, kHostileItems, 0, wire::kVariableItems};
  writer.begin(1, 0);
  Task::kInvoker(0, h, std::span<const std::byte>(message, size), writer);
  writer.flush();
  for (const auto& m : sent.messages) {
    wire::ResultReader r;
    if (!r.open(m)) {
      ++t.wrong;
      continue;
    }
    wire::ResultReader::Item item;
    while (r.next(item) == wire::ResultReader::Next::item) {
      if (item.kind == wire::ResultReader::ItemKind::value) {
        const auto v = ringpool::pool::Codec<std::uint64_t>::decode(item.bytes);
        if (v == kState + kWord.size()) {
          ++t.values;
        } else {
          ++t.wrong;
        }
        continue;
      }
      ++t.errors;
    }
  }
}

// Flips the u32 at `field` between `valid` and `bad` values until `stop`.
Tally run_with_flips(std::size_t field_offset, std::uint32_t valid, std::uint32_t bad) {
  const std::vector<std::byte> pattern = make_message();
  // A heap block of exactly the message's size: ASan sees any read past it.
  std::vector<std::byte> message(pattern);
  std::byte* field = message.data() + field_offset;
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> flips{0};
  std::thread flipper([&] {
    std::uint64_t n = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      ++n;
      const std::uint32_t value = (n & 1) != 0 ? bad : valid;
      if (reinterpret_cast<std::uintptr_t>(field) % alignof(std::uint32_t) == 0) {
        std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(field))
            .store(value, std::memory_order_relaxed);
      } else {
        std::memcpy(field, &value, sizeof value);  // unaligned: a plain store, as a peer's
      }
      flips.store(n, std::memory_order_relaxed);
    }
  });
  Tally t;
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  for (int i = 0; i < 3000 && std::chrono::steady_clock::now() < end; ++i) {
    // As in queue_hostile_lengths_test: start only after the field was flipped since the
    // last run, so both values are met even when the threads rarely run at once.
    const std::uint64_t seen = flips.load(std::memory_order_relaxed);
    for (int spins = 0; flips.load(std::memory_order_relaxed) < seen + 2; ++spins) {
      if (spins > 1000) std::this_thread::yield();
    }
    run_once(message.data(), message.size(), t);
  }
  stop.store(true, std::memory_order_relaxed);
  flipper.join();
  EXPECT_GT(flips.load(std::memory_order_relaxed), 0U);
  std::printf(
      "[ hostile  ] task message: %d values, %d DecodeError records, %d wrong, %llu flips\n",
      t.values, t.errors, t.wrong,
      static_cast<unsigned long long>(flips.load(std::memory_order_relaxed)));
  return t;
}

TEST(TaskWireHostileLengths, TheMessageWithoutFlipsGivesEveryValue) {
  const std::vector<std::byte> message = make_message();
  Tally t;
  run_once(message.data(), message.size(), t);
  EXPECT_EQ(t.values, static_cast<int>(kHostileItems));
  EXPECT_EQ(t.errors + t.wrong, 0);
}

TEST(TaskWireHostileLengths, AStateLengthFlippedWhileItemsRunGivesValuesOrDecodeErrors) {
  const Tally t = run_with_flips(0, sizeof(Offset), 0xfffffff0U);
  EXPECT_EQ(t.wrong, 0);
  EXPECT_GT(t.values + t.errors, 0);
}

TEST(TaskWireHostileLengths, AnItemLengthFlippedWhileItemsRunGivesValuesOrDecodeErrors) {
  // The second item's length prefix.
  const std::size_t second = 4 + sizeof(Offset) + item_bytes();
  const Tally t = run_with_flips(second, static_cast<std::uint32_t>(item_bytes() - 4), 0xfffffff0U);
  EXPECT_EQ(t.wrong, 0);
  EXPECT_GT(t.values + t.errors, 0);
}

}  // namespace
