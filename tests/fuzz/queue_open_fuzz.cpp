// Fuzz target: pool::Queue<T>::open over the hostile bytes of a named queue segment, then
// puts, gets and close through the opened handle.
//
// Input: byte 0 chooses the element type and how the opener waits; bytes 1-2 are the
// operation script; the rest is the segment (queue header, claim records, ring).
//   byte 0 bit 0:    0 Queue<std::string>, 1 Queue<std::uint64_t> (fixed-size codec)
//   byte 0 bits 1-2: the opener's wait strategy: 0 and 3 futex, 1 spin, 2 yield
//   bytes 1-2:       kSteps operations of 3 bits each (little-endian), see run_script()
// Queue<T>::open may refuse the segment with ipc::IpcError or a PoolError (not a queue,
// wrong type, inconsistent header); once open, every operation either works or throws a
// PoolError (Full, Empty, Closed, Corrupted, DecodeError). A crash, a sanitizer report,
// any other exception, an item larger than a slot, or a hang (every wait below has a
// short timeout, so a hang is a wait that ignores its deadline) is a bug.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>
#include <type_traits>

#include "named_copy.hpp"
#include "ringpool/ipc/errors.hpp"
#include "ringpool/ipc/ring_options.hpp"
#include "ringpool/pool/codec.hpp"
#include "ringpool/pool/errors.hpp"
#include "ringpool/pool/queue.hpp"

namespace {

using ringpool::pool::Queue;

constexpr int kSteps = 5;
constexpr std::chrono::microseconds kWait{200};

template <class T>
T item(std::size_t bytes) {
  if constexpr (std::is_same_v<T, std::string>) {
    return std::string(bytes, 'q');
  } else {
    return static_cast<T>(bytes);
  }
}

// An item no larger than a slot: a get never hands out more than a slot holds.
template <class T>
void check(const Queue<T>& q, const std::optional<T>& got) {
  if (got && ringpool::pool::Codec<T>::size(*got) > q.slot_size()) std::abort();
}

template <class T>
void run_script(Queue<T>& q, std::uint16_t script) {
  for (int i = 0; i < kSteps; ++i) {
    try {
      switch ((script >> (3 * i)) & 7U) {
        case 0:
          static_cast<void>(q.size_approx());
          static_cast<void>(q.full());
          break;
        case 1:
          static_cast<void>(q.try_put(item<T>(1)));
          break;
        case 2:
          q.put(item<T>(2), kWait);
          break;
        case 3:
          // The largest item that fits (a string fills its slot exactly).
          if constexpr (std::is_same_v<T, std::string>) {
            const std::size_t prefix = ringpool::pool::Codec<T>::size(std::string());
            if (q.slot_size() >= prefix && q.slot_size() - prefix <= 4096) {
              q.put(item<T>(q.slot_size() - prefix), kWait);
            }
          } else {
            q.put(item<T>(3), kWait);
          }
          break;
        case 4:
          check(q, q.try_get());
          break;
        case 5:
          check(q, std::optional<T>(q.get(kWait)));
          break;
        case 6:
          check(q, std::optional<T>(q.get(std::chrono::nanoseconds(0))));
          break;
        default:
          q.close();
          break;
      }
    } catch (const ringpool::pool::PoolError&) {
      // Full, Empty, Closed, Corrupted, DecodeError: documented; the next step goes on.
    }
  }
}

template <class T>
void open_and_run(const std::string& name, ringpool::ipc::WaitStrategy wait, std::uint16_t script) {
  std::optional<Queue<T>> q;
  try {
    q.emplace(Queue<T>::open(name, ringpool::pool::QueueOptions{.wait = wait}));
  } catch (const ringpool::ipc::IpcError&) {
    return;  // the ring region was refused on attach
  } catch (const ringpool::pool::PoolError&) {
    return;  // not a queue, another type, an inconsistent header
  }
  run_script(*q, script);
}

ringpool::ipc::WaitStrategy wait_strategy(std::uint8_t selector) {
  switch ((selector >> 1) & 3U) {
    case 1:
      return ringpool::ipc::WaitStrategy::spin;
    case 2:
      return ringpool::ipc::WaitStrategy::yield;
    default:
      return ringpool::ipc::WaitStrategy::futex;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  const auto script = static_cast<std::uint16_t>(data[1] | (data[2] << 8));
  // Creating the copy is not under test: a failure (/dev/shm full) ends the run.
  const ringpool::fuzz::NamedCopy copy(std::span(data + 3, size - 3));
  if ((data[0] & 1U) == 0) {
    open_and_run<std::string>(copy.name(), wait_strategy(data[0]), script);
  } else {
    open_and_run<std::uint64_t>(copy.name(), wait_strategy(data[0]), script);
  }
  return 0;
}
