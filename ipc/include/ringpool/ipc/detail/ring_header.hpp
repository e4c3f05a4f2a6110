#pragma once
// Plain-data layout shared by every ringpool ring (see docs/ipc.md for the drawing):
//
//   offset   0  RingHeader    (128 B)  written once by create(), validated by attach()
//   offset 128  WaitBlock     (128 B)  closed flag, the two EventCounts (data, space)
//   offset 256  producer line (128 B)  tail / enqueue position, written by producers only
//   offset 384  consumer line (128 B)  head / dequeue position, written by consumers only
//   offset 512  slots         capacity * slot_stride bytes
//
// Nothing here holds a pointer: every process maps the region at its own address.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>

#include "ringpool/ipc/event_count.hpp"
#include "ringpool/ipc/ring_options.hpp"

namespace ringpool::ipc::detail {

inline constexpr std::size_t kCacheLine = 64;
// Producer and consumer words are 128 bytes apart: the adjacent-line prefetcher pulls
// pairs of 64-byte lines, so 64-byte spacing still false-shares.
inline constexpr std::size_t kLineSpacing = 128;
inline constexpr std::uint64_t kRingMagic = 0x4C4F4F50474E4952ULL;  // "RINGPOOL" (LE)
inline constexpr std::uint32_t kAbiVersion = 1;
// Largest capacity accepted (slots); keeps every size computation far from overflow.
inline constexpr std::uint64_t kMaxCapacity = std::uint64_t{1} << 32;
// Largest slot payload for byte rings.
inline constexpr std::uint64_t kMaxSlotSize = std::uint64_t{1} << 30;

enum class RingKind : std::uint32_t {
  spsc = 1,
  mpmc = 2,
  spsc_bytes = 3,
  mpmc_bytes = 4,
  boost_spsc = 5,
  boost_queue = 6,
};

[[nodiscard]] const char* kind_name(std::uint32_t kind) noexcept;

struct RingHeader {
  std::atomic<std::uint64_t> magic;  // release-stored last by create; acquire-loaded by attach
  std::uint32_t abi_version;
  std::uint32_t kind;         // RingKind
  std::uint64_t fingerprint;  // layout_fingerprint(kind, elem size/align, slot layout)
  std::uint64_t elem_size;    // sizeof(T); 1 for byte rings
  std::uint64_t elem_align;   // alignof(T); 1 for byte rings
  std::uint64_t slot_size;    // payload bytes per slot (sizeof(T) or max message size)
  std::uint64_t slot_stride;  // bytes between consecutive slots
  std::uint64_t capacity;     // slots, a power of two
  std::uint64_t total_bytes;  // required_bytes() at creation
  std::int64_t creator_pid;
  std::uint32_t wait_strategy;  // WaitStrategy
  std::uint32_t spin_iterations;
  std::uint64_t flags;  // kRingCarries; other bits are refused at attach
  std::uint64_t reserved[3];
};

// RingHeader::flags: an SPSC ring of items up to 8 bytes whose single-item pushes publish
// the tail and the item together (spsc_core.hpp, "Carried items"). Set by the creator when
// the ring spins and this process can carry (carry_supported()); an attacher that cannot
// carry refuses the ring.
inline constexpr std::uint64_t kRingCarries = 1;

// Whether this process can carry items: x86-64 with AVX (aligned 16-byte loads and stores
// are atomic there), and not under ThreadSanitizer (which cannot see them as atomic).
[[nodiscard]] inline bool carry_supported() noexcept {
#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
  static const bool avx = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx") != 0;
  }();
  return avx;
#else
  return false;
#endif
}

// Consumers sleep on `data` (notified by each publish), producers on `space` (notified by
// each release); close() notifies both. Byte for byte the layout of ABI version 1 (closed,
// then epoch and waiter count of each side), so the ABI version did not change.
struct alignas(kLineSpacing) WaitBlock {
  std::atomic<std::uint32_t> closed;  // 0/1; seq_cst store in close_ring(), acquire loads
  EventCount data;                    // consumers wait for data here
  EventCount space;                   // producers wait for space here
};

struct alignas(kLineSpacing) IndexLine {
  std::atomic<std::uint64_t> pos;
  // SPSC rings of items up to 8 bytes (spsc_core.hpp, "Carried items"): the item at pos - 1,
  // stored with pos in one 16-byte store by a single-item push. Padding otherwise.
  std::uint64_t carried;
};

struct RingControl {
  alignas(kLineSpacing) RingHeader header;
  WaitBlock wait;
  IndexLine producer;  // SPSC: tail (next slot to write). MPMC: enqueue ticket counter.
  IndexLine consumer;  // SPSC: head (next slot to read).  MPMC: dequeue ticket counter.
};

static_assert(std::is_standard_layout_v<RingHeader>);
static_assert(std::is_standard_layout_v<WaitBlock>);
static_assert(std::is_standard_layout_v<RingControl>);
static_assert(offsetof(WaitBlock, data) == 4 && offsetof(WaitBlock, space) == 12,
              "the WaitBlock layout of ABI version 1");
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(sizeof(RingHeader) <= kLineSpacing);
static_assert(offsetof(RingControl, wait) == 128);
static_assert(offsetof(RingControl, producer) == 256);
static_assert(offsetof(RingControl, consumer) == 384);
static_assert(sizeof(RingControl) == 512);
static_assert(offsetof(IndexLine, carried) == 8, "pos and carried form one aligned 16-byte pair");

// What a ring type expects to find in a header.
struct RingLayout {
  RingKind kind;
  std::uint64_t elem_size;
  std::uint64_t elem_align;
  std::uint64_t slot_size;    // 0 when attach accepts any (byte rings)
  std::uint64_t slot_stride;  // 0 when derived from slot_size (byte rings)
  std::uint64_t capacity;     // 0 when attach accepts any
  bool may_carry = false;     // SPSC items up to 8 bytes: the creator sets kRingCarries if it can
};

// Values read from a validated header.
struct RingGeometry {
  std::uint64_t capacity;
  std::uint64_t slot_size;
  std::uint64_t slot_stride;
  WaitStrategy wait;
  std::uint32_t spin_iterations;
  bool carries = false;  // kRingCarries
};

[[nodiscard]] constexpr std::uint64_t round_up(std::uint64_t v, std::uint64_t to) noexcept {
  return (v + to - 1) / to * to;
}

// Capacity rule for every ringpool ring: 0 and values above kMaxCapacity throw
// IpcError(invalid_capacity); others round up to the next power of two.
[[nodiscard]] std::uint64_t checked_capacity(std::uint64_t requested);
// Same for MPMC rings, whose minimum is 2: with one slot, Vyukov's "filled for ticket t"
// sequence (t + 1) equals "free for ticket t + 1".
[[nodiscard]] inline std::uint64_t checked_mpmc_capacity(std::uint64_t requested) {
  const std::uint64_t capacity = checked_capacity(requested);
  return capacity < 2 ? 2 : capacity;
}

// FNV-1a over the layout description and the ABI constants.
[[nodiscard]] std::uint64_t layout_fingerprint(RingKind kind, std::uint64_t elem_size,
                                               std::uint64_t elem_align,
                                               std::uint64_t slot_stride_rule) noexcept;

// Byte ring slot stride for a given maximum message size.
[[nodiscard]] constexpr std::uint64_t byte_slot_stride(std::uint64_t slot_size) noexcept {
  return round_up(16 + slot_size, 16);
}

// Bytes a region needs: control block plus slots.
[[nodiscard]] std::size_t region_bytes(std::uint64_t capacity, std::uint64_t slot_stride);

// Initialises the control block in `region` (checks size and alignment, zeroes the index
// lines, writes the header, publishes the magic last). `layout.capacity` must already be
// a power of two. Throws IpcError(truncated / invalid_argument).
RingControl* init_region(std::span<std::byte> region, const RingLayout& layout,
                         const RingOptions& options);

// Validates every header field and the indices against `expected`; throws IpcError with
// the matching code. Returns the control block and what the header says.
RingControl* validate_region(std::span<std::byte> region, const RingLayout& expected,
                             RingGeometry& geometry);

// Error helpers shared by the ring headers (defined in src/ring_header.cpp).
[[noreturn]] void throw_corrupt(const char* what);
[[noreturn]] void throw_bad_wait(WaitStrategy requested, WaitStrategy ring);

[[nodiscard]] inline std::byte* slots_of(RingControl* control) noexcept {
  return reinterpret_cast<std::byte*>(control) + sizeof(RingControl);
}

}  // namespace ringpool::ipc::detail
