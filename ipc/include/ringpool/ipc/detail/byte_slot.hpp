#pragma once
// What both byte rings share: the slot layout (see byte_ring.hpp), length helpers, error
// throwers and the RingLayout of a byte ring.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "ringpool/ipc/detail/ring_header.hpp"

namespace ringpool::ipc::detail {

inline constexpr std::size_t kByteLenOffset = 8;
inline constexpr std::size_t kBytePayloadOffset = 16;
inline constexpr std::size_t kNoClaim = ~std::size_t{0};
// The length of a tombstone: a slot whose producer died between claim and commit,
// published by MpmcByteProducer::recover_put_claim() with no message. Never a real length
// (slots are at most 1 GiB); consumers release it and go on to the next ticket.
inline constexpr std::uint32_t kTombstoneLen = ~std::uint32_t{0};
[[noreturn]] void throw_payload_too_large(std::size_t size, std::size_t max);
[[noreturn]] void throw_bad_commit(std::size_t size, std::size_t claimed);
[[noreturn]] void throw_double_claim();
// Slot stride for a byte ring of `slot_size`; throws IpcError(invalid_argument) for 0 or
// above 1 GiB.
[[nodiscard]] std::uint64_t checked_byte_stride(std::size_t slot_size);

inline void write_len(std::byte* slot, std::size_t n) noexcept {
  const auto len = static_cast<std::uint32_t>(n);
  std::memcpy(slot + kByteLenOffset, &len, sizeof(len));
}
inline std::uint32_t read_len(const std::byte* slot) noexcept {
  std::uint32_t len = 0;
  std::memcpy(&len, slot + kByteLenOffset, sizeof(len));
  return len;
}
// Releases a slot when a visitor returns or throws.
template <class Release>
struct ReleaseGuard {
  Release release;
  ~ReleaseGuard() { release(); }
};
template <class Release>
ReleaseGuard(Release) -> ReleaseGuard<Release>;

inline RingLayout byte_layout(RingKind kind, std::uint64_t capacity, std::size_t slot_size) {
  return {kind, 1, 1, slot_size, checked_byte_stride(slot_size), capacity};
}
inline constexpr RingLayout any_byte_layout(RingKind kind) noexcept {
  return {kind, 1, 1, 0, 0, 0};
}

struct TrackedPopTestHook;  // tests only: ringpool/ipc/detail/tracked_pop_test_hook.hpp

}  // namespace ringpool::ipc::detail
