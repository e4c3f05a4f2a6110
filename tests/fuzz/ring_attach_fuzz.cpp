// Fuzz target: attach rings to hostile bytes, then use them.
//
// Input: byte 0 chooses what to attach and how; byte 1 is the operation script; the rest
// is the region (a ring header, its index lines and its slots).
//   byte 0 bits 0-1: 0 SpscByteRing, 1 MpmcByteRing, 2 SpscRing<std::uint64_t>,
//                    3 MpmcRing<std::uint64_t>
//   byte 0 bit 2:    the region is a named segment (create, fill, Segment::open) instead
//                    of a 128-byte aligned heap block of exactly the region's size
// Documented failures (IpcError) are fine; a crash, a sanitizer report, another exception
// type or a hang is a bug. Queue<T>::open has its own target, queue_open_fuzz.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <vector>

#include "named_copy.hpp"
#include "ringpool/ipc/byte_ring.hpp"
#include "ringpool/ipc/errors.hpp"
#include "ringpool/ipc/mpmc_ring.hpp"
#include "ringpool/ipc/segment.hpp"
#include "ringpool/ipc/spsc_ring.hpp"

namespace {

using ringpool::ipc::Segment;

constexpr int kSteps = 8;

// Runs the operation script: bit i of `script` says push (1) or pop (0) at step i.
// Both ends attach to the same hostile bytes, each validating what it reads.
template <class Producer, class Consumer, class Where>
void exercise_bytes(const Where& where, std::uint8_t script) {
  auto tx = Producer::attach(where);
  auto rx = Consumer::attach(where);
  static constexpr char kMessage[] = "fuzzed message";
  std::vector<std::byte> out;
  for (int i = 0; i < kSteps; ++i) {
    if ((script >> i) & 1U) {
      const std::size_t n = std::min<std::size_t>(tx.max_message_size(), 1 + i);
      static_cast<void>(tx.try_push(std::as_bytes(std::span(kMessage, n))));
    } else {
      static_cast<void>(rx.try_pop(out));
    }
  }
  static_cast<void>(rx.size_approx());
}

template <class Producer, class Consumer, class Where>
void exercise_values(const Where& where, std::uint8_t script) {
  auto tx = Producer::attach(where);
  auto rx = Consumer::attach(where);
  for (int i = 0; i < kSteps; ++i) {
    if ((script >> i) & 1U) {
      static_cast<void>(tx.try_push(static_cast<std::uint64_t>(i)));
    } else {
      static_cast<void>(rx.try_pop());
    }
  }
  std::uint64_t batch[4];
  static_cast<void>(rx.try_pop_n(batch));
}

struct AlignedFree {
  void operator()(std::byte* p) const { ::operator delete[](p, std::align_val_t{128}); }
};

void run(std::uint8_t selector, std::uint8_t script, std::span<const std::uint8_t> bytes) {
  const unsigned kind = selector & 3U;
  std::optional<ringpool::fuzz::NamedCopy> copy;
  std::shared_ptr<Segment> segment;
  std::unique_ptr<std::byte[], AlignedFree> heap;
  std::span<std::byte> region;
  if ((selector & 4U) != 0) {
    copy.emplace(bytes);
    segment = std::make_shared<Segment>(Segment::open(copy->name()));
  } else {
    // Exactly the input's size, so AddressSanitizer sees any access past the end.
    heap.reset(new (std::align_val_t{128}) std::byte[bytes.size()]);
    std::memcpy(heap.get(), bytes.data(), bytes.size());
    region = std::span(heap.get(), bytes.size());
  }
  switch (kind) {
    case 0:
      if (segment) {
        exercise_bytes<ringpool::ipc::SpscByteProducer, ringpool::ipc::SpscByteConsumer>(segment,
                                                                                         script);
      } else {
        exercise_bytes<ringpool::ipc::SpscByteProducer, ringpool::ipc::SpscByteConsumer>(region,
                                                                                         script);
      }
      break;
    case 1:
      if (segment) {
        exercise_bytes<ringpool::ipc::MpmcByteProducer, ringpool::ipc::MpmcByteConsumer>(segment,
                                                                                         script);
      } else {
        exercise_bytes<ringpool::ipc::MpmcByteProducer, ringpool::ipc::MpmcByteConsumer>(region,
                                                                                         script);
      }
      break;
    case 2:
      if (segment) {
        exercise_values<ringpool::ipc::SpscProducer<std::uint64_t>,
                        ringpool::ipc::SpscConsumer<std::uint64_t>>(segment, script);
      } else {
        exercise_values<ringpool::ipc::SpscProducer<std::uint64_t>,
                        ringpool::ipc::SpscConsumer<std::uint64_t>>(region, script);
      }
      break;
    default:
      if (segment) {
        exercise_values<ringpool::ipc::MpmcProducer<std::uint64_t>,
                        ringpool::ipc::MpmcConsumer<std::uint64_t>>(segment, script);
      } else {
        exercise_values<ringpool::ipc::MpmcProducer<std::uint64_t>,
                        ringpool::ipc::MpmcConsumer<std::uint64_t>>(region, script);
      }
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  try {
    run(data[0], data[1], std::span(data + 2, size - 2));
  } catch (const ringpool::ipc::IpcError&) {
    // Refused as documented.
  }
  return 0;
}
