#pragma once
// Wire format between rank 0 and the serving ranks, in one place. Internal to
// ringpool::cluster. Every MPI message is a Header (its kind is also the MPI tag) followed
// by its body; all ranks run the same binary, so layouts agree, but every length read from
// a message is still checked before use (a message may be cut or come from a buggy peer).
//
//   open      0 -> r  OpenBody                      r opens a local pool for pool_id
//   opened    r -> 0  OpenedBody, then an error text when ok == 0
//   tasks     0 -> r  `frames` x (TaskFrame, payload)
//   results   r -> 0  `frames` x (ResultFrame, items); item = ItemHead, then its bytes:
//                     status kOk: Codec<R> bytes of the value; kError: an error body
//   close     0 -> r  r joins and drops pool_id's local pool, then answers `closed`
//   terminate 0 -> r  r terminates pool_id's local pool (SIGKILL), answers `closed`
//   heartbeat r -> 0  nothing else was sent for a while
//   stop      0 -> r  rank 0's program ended: r finalises MPI and exits
//   echo      0 -> r  r sends the same message back at once (a diagnostic: the transport
//                     and both progress loops, without a local pool; pool_id: an id of
//                     its own, as a pool's, from rank 0's Mailbox)
//
// pool_id tells apart the pools alive at once on rank 0 (each a Mailbox, comm.hpp); 0 is
// for heartbeat and stop, which are for every pool.
//
// Error body (a task's exception, as pool::detail::capture_error describes it): ErrorWire,
// the type name (type_length bytes), then what() (the rest).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "ringpool/pool/detail/task_wire.hpp"

namespace ringpool::cluster::detail {

enum class Kind : std::uint32_t {
  open = 1,
  opened = 2,
  tasks = 3,
  results = 4,
  close = 5,
  terminate = 6,
  closed = 7,
  heartbeat = 8,
  stop = 9,
  echo = 10,
};
inline constexpr std::uint32_t kMaxKind = 10;

inline constexpr std::uint32_t kMagic = 0x31435052;  // "RPC1"

struct Header {
  std::uint32_t magic = kMagic;
  std::uint32_t kind = 0;
  std::uint32_t pool_id = 0;
  std::uint32_t frames = 0;
};
static_assert(std::is_standard_layout_v<Header> && std::is_trivially_copyable_v<Header>);
static_assert(sizeof(Header) == 16);

struct OpenBody {
  std::uint64_t workers = 0;  // 0: the rank's usable cores
  std::uint64_t slot_size = 0;
  std::uint64_t ring_depth = 0;
  std::uint32_t spin = 0;          // 1: WaitMode::spin
  std::uint32_t heartbeat_ms = 0;  // send a heartbeat after this long without sending
};
static_assert(std::is_trivially_copyable_v<OpenBody> && sizeof(OpenBody) == 32);

struct OpenedBody {
  std::uint64_t workers = 0;
  std::uint64_t max_payload = 0;
  std::uint64_t ring_messages = 0;
  std::uint32_t ok = 0;
  std::uint32_t reserved = 0;
};
static_assert(std::is_trivially_copyable_v<OpenedBody> && sizeof(OpenedBody) == 32);

struct TaskFrame {
  std::uint64_t chunk_id = 0;
  std::uint64_t key = 0;  // the task's spawn-registry key
  std::uint32_t count = 0;
  std::uint32_t item_size = 0;  // as pool::detail::TaskHeader::item_size
  std::uint64_t payload_bytes = 0;
};
static_assert(std::is_trivially_copyable_v<TaskFrame> && sizeof(TaskFrame) == 32);

struct ResultFrame {
  std::uint64_t chunk_id = 0;
  std::uint32_t count = 0;  // items (each settled exactly once)
  std::uint32_t reserved = 0;
  std::uint64_t bytes = 0;  // of the items that follow
};
static_assert(std::is_trivially_copyable_v<ResultFrame> && sizeof(ResultFrame) == 24);

inline constexpr std::uint32_t kOk = 0;
inline constexpr std::uint32_t kError = 1;

struct ItemHead {
  std::uint32_t index = 0;  // within the chunk
  std::uint32_t status = 0;
  std::uint64_t bytes = 0;
};
static_assert(std::is_trivially_copyable_v<ItemHead> && sizeof(ItemHead) == 16);

struct ErrorWire {
  std::uint8_t kind = 0;
  std::uint8_t category = 0;
  std::uint16_t reserved = 0;
  std::int32_t code = 0;
  std::uint64_t key = 0;
  std::uint64_t type_length = 0;
};
static_assert(std::is_trivially_copyable_v<ErrorWire> && sizeof(ErrorWire) == 24);

// Appends `value`'s bytes to `out`.
template <class T>
void put(std::vector<std::byte>& out, const T& value) {
  static_assert(std::is_trivially_copyable_v<T>);
  const auto* p = reinterpret_cast<const std::byte*>(&value);
  out.insert(out.end(), p, p + sizeof(T));
}

// Reads a T at the front of `in` and drops it; nullopt (and `in` unchanged) when too short.
template <class T>
std::optional<T> take(std::span<const std::byte>& in) noexcept {
  static_assert(std::is_trivially_copyable_v<T>);
  if (in.size() < sizeof(T)) return std::nullopt;
  T value;
  std::memcpy(&value, in.data(), sizeof(T));
  in = in.subspan(sizeof(T));
  return value;
}

// Appends the error body of `error` (a task's exception, as it came back from a local
// worker). TaskFailed travels as the type it stands for, so the original type name survives
// two hops.
void put_error(std::vector<std::byte>& out, const std::exception_ptr& error);
// The exception an error body stands for: as pool::detail::rebuild_error; DecodeError when
// the body is malformed. Never throws.
[[nodiscard]] std::exception_ptr error_of(std::span<const std::byte> body) noexcept;

}  // namespace ringpool::cluster::detail
