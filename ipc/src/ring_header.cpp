// Ring header initialisation and validation, and the error helpers of the ring headers.
#include "ringpool/ipc/detail/ring_header.hpp"

#include <unistd.h>

#include <bit>
#include <cstring>
#include <new>
#include <string>

#include "ringpool/ipc/byte_ring.hpp"
#include "ringpool/ipc/errors.hpp"

namespace ringpool::ipc {
namespace detail {

namespace {

bool is_boost(std::uint32_t kind) noexcept {
  return kind == static_cast<std::uint32_t>(RingKind::boost_spsc) ||
         kind == static_cast<std::uint32_t>(RingKind::boost_queue);
}
bool is_mpmc(std::uint32_t kind) noexcept {
  return kind == static_cast<std::uint32_t>(RingKind::mpmc) ||
         kind == static_cast<std::uint32_t>(RingKind::mpmc_bytes);
}
bool is_bytes(std::uint32_t kind) noexcept {
  return kind == static_cast<std::uint32_t>(RingKind::spsc_bytes) ||
         kind == static_cast<std::uint32_t>(RingKind::mpmc_bytes);
}

// Bytes the region needs; boost kinds store the Boost object's size as the "stride".
std::uint64_t total_for(std::uint32_t kind, std::uint64_t capacity, std::uint64_t stride) {
  if (is_boost(kind)) return sizeof(RingControl) + stride;
  return sizeof(RingControl) + capacity * stride;
}

std::string num(std::uint64_t v) {
  return std::to_string(v);
}

[[noreturn]] void fail(IpcErrc code, std::string message) {
  throw IpcError(code, std::move(message));
}

void check_alignment(std::span<std::byte> region) {
  if (reinterpret_cast<std::uintptr_t>(region.data()) % kLineSpacing != 0) {
    fail(IpcErrc::invalid_argument,
         "ring region must start on a 128-byte boundary (segment mappings do); offset "
         "sub-regions by multiples of 128");
  }
}

}  // namespace

const char* kind_name(std::uint32_t kind) noexcept {
  switch (static_cast<RingKind>(kind)) {
    case RingKind::spsc:
      return "SpscRing";
    case RingKind::mpmc:
      return "MpmcRing";
    case RingKind::spsc_bytes:
      return "SpscByteRing";
    case RingKind::mpmc_bytes:
      return "MpmcByteRing";
    case RingKind::boost_spsc:
      return "BoostSpscRing";
    case RingKind::boost_queue:
      return "BoostMpmcQueue";
  }
  return "unknown ring kind";
}

std::uint64_t checked_capacity(std::uint64_t requested) {
  if (requested == 0) {
    fail(IpcErrc::invalid_capacity,
         "ring capacity 0 requested; pass at least 1 (it is rounded "
         "up to a power of two)");
  }
  if (requested > kMaxCapacity) {
    fail(IpcErrc::invalid_capacity, "ring capacity " + num(requested) + " is above the maximum " +
                                        num(kMaxCapacity) + "; use a smaller ring");
  }
  return std::bit_ceil(requested);
}

std::uint64_t layout_fingerprint(RingKind kind, std::uint64_t elem_size, std::uint64_t elem_align,
                                 std::uint64_t slot_stride_rule) noexcept {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  auto mix = [&](std::uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      hash ^= (v >> (i * 8)) & 0xffU;
      hash *= 0x100000001b3ULL;
    }
  };
  mix(static_cast<std::uint64_t>(kind));
  mix(elem_size);
  mix(elem_align);
  mix(slot_stride_rule);
  mix(kAbiVersion);
  mix(sizeof(RingControl));
  mix(kByteLenOffset);
  mix(kBytePayloadOffset);
  return hash;
}

std::size_t region_bytes(std::uint64_t capacity, std::uint64_t slot_stride) {
  return static_cast<std::size_t>(sizeof(RingControl) + capacity * slot_stride);
}

RingControl* init_region(std::span<std::byte> region, const RingLayout& layout,
                         const RingOptions& options) {
  const auto kind = static_cast<std::uint32_t>(layout.kind);
  const std::uint64_t total = total_for(kind, layout.capacity, layout.slot_stride);
  if (region.size() < total) {
    fail(IpcErrc::truncated, "region of " + num(region.size()) + " bytes is too small for a " +
                                 kind_name(kind) + " needing " + num(total) +
                                 " bytes; size it with required_bytes()");
  }
  check_alignment(region);
  if (static_cast<std::uint32_t>(options.wait) > 2) {
    fail(IpcErrc::invalid_argument, "unknown WaitStrategy value");
  }
  std::memset(region.data(), 0, sizeof(RingControl));
  auto* control = ::new (static_cast<void*>(region.data())) RingControl();
  RingHeader& h = control->header;
  h.abi_version = kAbiVersion;
  h.kind = kind;
  h.fingerprint =
      layout_fingerprint(layout.kind, layout.elem_size, layout.elem_align, layout.slot_stride);
  h.elem_size = layout.elem_size;
  h.elem_align = layout.elem_align;
  h.slot_size = layout.slot_size;
  h.slot_stride = layout.slot_stride;
  h.capacity = layout.capacity;
  h.total_bytes = total;
  h.creator_pid = static_cast<std::int64_t>(::getpid());
  h.wait_strategy = static_cast<std::uint32_t>(options.wait);
  h.spin_iterations = options.spin_iterations;
  // may_carry: only SpscRing<T> of items up to 8 bytes asks (validate_region checks it).
  h.flags = layout.may_carry && options.wait == WaitStrategy::spin && carry_supported()
                ? kRingCarries
                : 0;
  if (is_mpmc(kind)) {
    std::byte* slots = slots_of(control);
    for (std::uint64_t i = 0; i < layout.capacity; ++i) {
      // Slot i is free for the producer of ticket i.
      ::new (static_cast<void*>(slots + i * layout.slot_stride)) std::atomic<std::uint64_t>(i);
    }
  }
  // release: pairs with the acquire load of magic in validate_region(); every header and
  // slot initialisation above is visible to whoever sees the magic.
  h.magic.store(kRingMagic, std::memory_order_release);
  return control;
}

RingControl* validate_region(std::span<std::byte> region, const RingLayout& expected,
                             RingGeometry& geometry) {
  const auto want_kind = static_cast<std::uint32_t>(expected.kind);
  if (region.size() < sizeof(RingControl)) {
    fail(IpcErrc::truncated, "region of " + num(region.size()) +
                                 " bytes is smaller than the 512-byte ring header; the segment "
                                 "was truncated or does not hold a ring");
  }
  check_alignment(region);
  auto* control = std::launder(reinterpret_cast<RingControl*>(region.data()));
  const RingHeader& h = control->header;
  // acquire: pairs with the release store of magic in init_region().
  if (h.magic.load(std::memory_order_acquire) != kRingMagic) {
    fail(IpcErrc::bad_magic,
         "region does not start with a ringpool ring header; it is not a ringpool ring (or its "
         "creator has not finished initialising it): check the segment name");
  }
  if (h.abi_version != kAbiVersion) {
    fail(IpcErrc::abi_mismatch, "ring was created by ringpool ABI version " + num(h.abi_version) +
                                    ", this build speaks version " + num(kAbiVersion) +
                                    "; rebuild both sides with one ringpool");
  }
  if (h.kind != want_kind) {
    fail(IpcErrc::layout_mismatch, std::string("region holds a ") + kind_name(h.kind) + ", not a " +
                                       kind_name(want_kind) +
                                       "; attach with the ring type that created it");
  }
  if (h.elem_size != expected.elem_size || h.elem_align != expected.elem_align) {
    fail(IpcErrc::size_mismatch,
         "ring elements are " + num(h.elem_size) + " bytes (alignment " + num(h.elem_align) +
             "), the attaching type has " + num(expected.elem_size) + " (alignment " +
             num(expected.elem_align) + "); attach with the element type that created it");
  }
  if (h.capacity == 0 || h.capacity > kMaxCapacity ||
      (!is_boost(h.kind) && !std::has_single_bit(h.capacity)) ||
      (is_mpmc(h.kind) && h.capacity < 2)) {
    fail(IpcErrc::invalid_capacity, "ring header declares capacity " + num(h.capacity) +
                                        ", which no ringpool ring has; the header is corrupted");
  }
  if (expected.capacity != 0 && h.capacity != expected.capacity) {
    fail(IpcErrc::capacity_mismatch, "ring capacity is " + num(h.capacity) + ", expected " +
                                         num(expected.capacity) +
                                         "; attach with the capacity it was created with");
  }
  if (expected.slot_size != 0 && h.slot_size != expected.slot_size) {
    fail(IpcErrc::size_mismatch,
         "ring slots hold " + num(h.slot_size) + " bytes, expected " + num(expected.slot_size));
  }
  if (is_bytes(h.kind)) {
    if (h.slot_size == 0 || h.slot_size > kMaxSlotSize ||
        h.slot_stride != byte_slot_stride(h.slot_size)) {
      fail(IpcErrc::layout_mismatch, "byte ring header declares slot size " + num(h.slot_size) +
                                         " with stride " + num(h.slot_stride) +
                                         ", which is impossible; the header is corrupted");
    }
  }
  if (expected.slot_stride != 0 && h.slot_stride != expected.slot_stride) {
    fail(IpcErrc::layout_mismatch, "ring slot stride is " + num(h.slot_stride) + ", expected " +
                                       num(expected.slot_stride) +
                                       "; both sides must use the same element type and build");
  }
  if (h.fingerprint !=
      layout_fingerprint(static_cast<RingKind>(h.kind), h.elem_size, h.elem_align, h.slot_stride)) {
    fail(IpcErrc::layout_mismatch,
         "ring layout fingerprint differs: the creator was built with another layout");
  }
  const std::uint64_t total = total_for(h.kind, h.capacity, h.slot_stride);
  if (h.total_bytes != total) {
    fail(IpcErrc::layout_mismatch, "ring header declares " + num(h.total_bytes) +
                                       " bytes but its geometry needs " + num(total) +
                                       "; the header is corrupted");
  }
  if (region.size() < total) {
    fail(IpcErrc::truncated, "region of " + num(region.size()) + " bytes is smaller than the " +
                                 num(total) +
                                 " bytes the ring header declares; the segment was "
                                 "truncated");
  }
  if (h.wait_strategy > 2) {
    fail(IpcErrc::layout_mismatch, "ring header has an unknown wait strategy; it is corrupted");
  }
  const std::uint64_t flags = h.flags;  // read once: the header is shared memory
  if ((flags & ~kRingCarries) != 0) {
    fail(IpcErrc::layout_mismatch,
         "ring header has unknown flags " + num(flags) + "; it is corrupted or from a newer build");
  }
  const bool carries = flags == kRingCarries;
  if (carries && (h.kind != static_cast<std::uint32_t>(RingKind::spsc) || h.elem_size > 8 ||
                  h.wait_strategy != static_cast<std::uint32_t>(WaitStrategy::spin))) {
    fail(IpcErrc::layout_mismatch,
         "ring header says items travel with the tail, which only a spinning SPSC ring of "
         "items up to 8 bytes does; it is corrupted");
  }
  if (carries && !carry_supported()) {
    fail(IpcErrc::layout_mismatch,
         "the ring's items travel with its tail in 16-byte stores (x86-64 with AVX), which this "
         "build cannot read (no AVX, another architecture, or ThreadSanitizer); create the ring "
         "with WaitStrategy::futex or in this build");
  }
  if (!is_boost(h.kind)) {
    // acquire (both): pair with the stores in publish()/release_to(); only a sanity check.
    const std::uint64_t tail = control->producer.pos.load(std::memory_order_acquire);
    const std::uint64_t head = control->consumer.pos.load(std::memory_order_acquire);
    if (tail - head > h.capacity) {
      fail(IpcErrc::corrupt_indices, "ring indices are impossible (producer " + num(tail) +
                                         ", consumer " + num(head) + ", capacity " +
                                         num(h.capacity) +
                                         "); the shared state is corrupted, recreate the ring");
    }
  }
  geometry.capacity = h.capacity;
  geometry.slot_size = h.slot_size;
  geometry.slot_stride = h.slot_stride;
  geometry.wait = static_cast<WaitStrategy>(h.wait_strategy);
  geometry.spin_iterations = h.spin_iterations;
  geometry.carries = carries;
  return control;
}

void throw_corrupt(const char* what) {
  throw IpcError(IpcErrc::corrupt_indices,
                 std::string(what) +
                     "; the shared state is corrupted (peer bug or hostile "
                     "peer): stop using this ring and recreate it");
}

void throw_bad_wait(WaitStrategy requested, WaitStrategy ring) {
  throw IpcError(IpcErrc::invalid_argument,
                 std::string("wait strategy ") + std::string(to_string(requested)) +
                     " needs a ring created with futex (this ring uses " +
                     std::string(to_string(ring)) +
                     ", whose producers never wake sleepers); "
                     "use spin or yield");
}

void throw_payload_too_large(std::size_t size, std::size_t max) {
  throw IpcError(IpcErrc::payload_too_large,
                 "message of " + num(size) + " bytes exceeds the ring's slot of " + num(max) +
                     " bytes; create the ring with a larger slot_size or split the message");
}

void throw_bad_commit(std::size_t size, std::size_t claimed) {
  if (claimed == kNoClaim) {
    throw IpcError(IpcErrc::invalid_argument,
                   "commit(" + num(size) + ") without a successful claim(); call claim() first");
  }
  throw IpcError(IpcErrc::invalid_argument, "commit(" + num(size) + ") exceeds the " +
                                                num(claimed) +
                                                " bytes reserved by claim(); claim more first");
}

void throw_double_claim() {
  throw IpcError(IpcErrc::invalid_argument,
                 "claim() while this handle's previous claim is not committed; commit() it "
                 "first (an uncommitted MPMC ticket holds back every consumer)");
}

std::uint64_t checked_byte_stride(std::size_t slot_size) {
  if (slot_size == 0 || slot_size > kMaxSlotSize) {
    fail(IpcErrc::invalid_argument, "byte ring slot size " + num(slot_size) +
                                        " is out of range; pass 1 .. " + num(kMaxSlotSize));
  }
  return byte_slot_stride(slot_size);
}

}  // namespace detail
}  // namespace ringpool::ipc
