#pragma once
// SpscByteRing: variable-size messages between one SpscByteProducer and one
// SpscByteConsumer (wait-free, move-only; each holds its own side's position, see
// spsc_ring.hpp). Slot layout: byte_ring.hpp.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "ringpool/ipc/detail/byte_slot.hpp"
#include "ringpool/ipc/detail/ring_header.hpp"
#include "ringpool/ipc/detail/spsc_core.hpp"
#include "ringpool/ipc/errors.hpp"
#include "ringpool/ipc/ring_end.hpp"
#include "ringpool/ipc/ring_options.hpp"
#include "ringpool/ipc/segment.hpp"

namespace ringpool::ipc {

namespace detail {
// What both ends of an SpscByteRing share.
class SpscByteEnd : public RingEnd {
 public:
  static constexpr RingKind kKind = RingKind::spsc_bytes;

  SpscByteEnd(SpscByteEnd&& other) noexcept
      : RingEnd(std::move(other)),
        core_(std::exchange(other.core_, SpscCore{})),
        stride_(std::exchange(other.stride_, 0)),
        slot_size_(std::exchange(other.slot_size_, 0)) {}
  SpscByteEnd& operator=(SpscByteEnd&& other) noexcept {
    RingEnd::operator=(std::move(other));
    core_ = std::exchange(other.core_, SpscCore{});
    stride_ = std::exchange(other.stride_, 0);
    slot_size_ = std::exchange(other.slot_size_, 0);
    return *this;
  }

  [[nodiscard]] std::size_t max_message_size() const noexcept {
    return static_cast<std::size_t>(slot_size_);
  }
  // Sticky: impossible indices or message length; try_* fail, blocking calls throw
  // IpcError(corrupt_indices). reset() clears it.
  [[nodiscard]] bool corrupted() const noexcept { return core_.corrupted(); }
  // Both positions to 0, closed and waiter counts cleared; this handle starts over.
  // Precondition: no other handle uses the ring now (the peer died and has not been
  // respawned yet); every other handle must attach() anew afterwards.
  void reset() noexcept { core_.reset(); }

 protected:
  SpscByteEnd() noexcept = default;
  SpscByteEnd(RingControl* control, const RingGeometry& geometry) noexcept
      : RingEnd(control, geometry),
        core_(control, geometry),
        stride_(geometry.slot_stride),
        slot_size_(geometry.slot_size) {}
  ~SpscByteEnd() = default;

  static RingControl* validate(std::span<std::byte> region, RingGeometry& geometry) {
    return validate_region(region, any_byte_layout(kKind), geometry);
  }
  // Stride and slot size come from the validated header, never from a later read.
  std::byte* slot(std::uint64_t pos) const noexcept {
    return core_.slots() + (pos & core_.mask()) * stride_;
  }
  bool check_corrupt() const {
    if (core_.corrupted()) throw_corrupt("SpscByteRing: impossible indices or message length");
    return false;
  }

  SpscCore core_;  // first of this class: one cache line with both positions and caches
  std::uint64_t stride_ = 0;
  std::uint64_t slot_size_ = 0;
};
}  // namespace detail

class SpscByteRing;

// ---------------------------------------------------------------------------------------
class SpscByteProducer : public detail::SpscByteEnd, public AttachableEnd<SpscByteProducer> {
 public:
  SpscByteProducer() noexcept = default;
  SpscByteProducer(SpscByteProducer&& other) noexcept
      : SpscByteEnd(std::move(other)), claimed_(std::exchange(other.claimed_, detail::kNoClaim)) {}
  SpscByteProducer& operator=(SpscByteProducer&& other) noexcept {
    SpscByteEnd::operator=(std::move(other));
    claimed_ = std::exchange(other.claimed_, detail::kNoClaim);
    return *this;
  }

  // Wait-free. False when full. Throws IpcError(payload_too_large) when
  // message.size() > max_message_size(); the ring is untouched.
  [[nodiscard]] bool try_push(std::span<const std::byte> message) {
    if (message.size() > slot_size_) [[unlikely]] {
      detail::throw_payload_too_large(message.size(), max_message_size());
    }
    if (!core_.has_room()) [[unlikely]] {
      return false;
    }
    const std::uint64_t tail = core_.tail();
    std::byte* s = slot(tail);
    if (!message.empty()) {
      std::memcpy(s + detail::kBytePayloadOffset, message.data(), message.size());
    }
    detail::write_len(s, message.size());
    core_.publish_to(tail + 1);
    return true;
  }
  // Zero-copy: room for `n` bytes in the next slot; data() == nullptr when full. Write at
  // most n bytes, then commit(written). Throws IpcError(payload_too_large).
  [[nodiscard]] std::span<std::byte> claim(std::size_t n) {
    if (n > slot_size_) [[unlikely]] {
      detail::throw_payload_too_large(n, max_message_size());
    }
    if (!core_.has_room()) [[unlikely]] {
      return {};
    }
    claimed_ = n;
    return {slot(core_.tail()) + detail::kBytePayloadOffset, n};
  }
  // Publishes the claimed slot with an n-byte message. Throws IpcError(invalid_argument)
  // when nothing is claimed or n exceeds what claim() reserved.
  void commit(std::size_t n) {
    if (claimed_ == detail::kNoClaim || n > claimed_) [[unlikely]] {
      detail::throw_bad_commit(n, claimed_);
    }
    const std::uint64_t tail = core_.tail();
    detail::write_len(slot(tail), n);
    claimed_ = detail::kNoClaim;
    core_.publish_to(tail + 1);
  }
  // Blocking claim: ok with `out` set, timeout, or closed. Throws payload_too_large,
  // corrupt_indices.
  OpStatus claim(std::size_t n, std::span<std::byte>& out,
                 std::optional<std::chrono::nanoseconds> timeout) {
    if (n > slot_size_) detail::throw_payload_too_large(n, max_message_size());
    return block(detail::Side::producer, timeout, [&] {
      out = claim(n);
      return out.data() != nullptr || check_corrupt();
    });
  }
  OpStatus push(std::span<const std::byte> message,
                std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    if (message.size() > slot_size_) {
      detail::throw_payload_too_large(message.size(), max_message_size());
    }
    return block(detail::Side::producer, timeout,
                 [&] { return try_push(message) || check_corrupt(); });
  }

  // Recovery, after the consumer died (precondition: it is dead, e.g. reaped): visits
  // every unconsumed message (at-least-once: one the consumer was reading when it died is
  // included), then empties the ring. The tail is this handle's, the dead consumer's head
  // is read from the mapping and validated. A length above the slot size stops the visit
  // and marks the handle corrupted().
  template <class F>
  std::size_t reclaim_unconsumed(F&& f) {
    std::uint64_t head = 0;
    std::uint64_t tail = 0;
    if (!core_.unconsumed(head, tail)) return 0;
    std::size_t count = 0;
    bool bad_length = false;
    for (std::uint64_t pos = head; pos != tail; ++pos) {
      const std::byte* s = slot(pos);
      const std::uint32_t len = detail::read_len(s);
      if (len > slot_size_) {
        bad_length = true;
        break;
      }
      f(std::span<const std::byte>(s + detail::kBytePayloadOffset, len));
      ++count;
    }
    core_.consume_all();
    if (bad_length) core_.mark_corrupted();
    return count;
  }

 private:
  SpscByteProducer(detail::RingControl* control, const detail::RingGeometry& geometry) noexcept
      : SpscByteEnd(control, geometry) {}
  friend class SpscByteRing;
  friend class AttachableEnd<SpscByteProducer>;

  std::size_t claimed_ = detail::kNoClaim;
};

// The consumer end of an SpscByteRing. Wait-free try_* calls; one thread at a time.
class SpscByteConsumer : public detail::SpscByteEnd, public AttachableEnd<SpscByteConsumer> {
 public:
  SpscByteConsumer() noexcept = default;
  SpscByteConsumer(SpscByteConsumer&&) noexcept = default;
  SpscByteConsumer& operator=(SpscByteConsumer&&) noexcept = default;

  // Wait-free apart from f. Calls f(std::span<const std::byte>) on the oldest message in
  // place, then frees the slot (also if f throws). False when empty or corrupted().
  template <class F>
  bool try_pop_with(F&& f) {
    if (!core_.has_data(stride_)) return false;
    const std::uint64_t head = core_.head();
    const std::byte* s = slot(head);
    const std::uint32_t len = detail::read_len(s);
    if (len > slot_size_) [[unlikely]] {
      core_.mark_corrupted();
      return false;
    }
    detail::ReleaseGuard guard{[&] { core_.release_to(head + 1); }};
    f(std::span<const std::byte>(s + detail::kBytePayloadOffset, len));
    return true;
  }
  bool try_pop(std::vector<std::byte>& out) {
    return try_pop_with([&](std::span<const std::byte> m) { out.assign(m.begin(), m.end()); });
  }
  // Blocking forms. ok / timeout / closed (once closed and empty). Throw
  // IpcError(corrupt_indices).
  template <class F>
  OpStatus pop_with(F&& f, std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    return block(detail::Side::consumer, timeout,
                 [&] { return try_pop_with(f) || check_corrupt(); });
  }
  OpStatus pop(std::vector<std::byte>& out,
               std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    return pop_with([&](std::span<const std::byte> m) { out.assign(m.begin(), m.end()); }, timeout);
  }
  // Waits, popping nothing, until a message is readable (ok), the ring is closed and
  // drained (closed), or `timeout` expired. Throws IpcError(corrupt_indices).
  OpStatus wait_readable(std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    return block(detail::Side::consumer, timeout,
                 [&] { return core_.has_data(stride_) || check_corrupt(); });
  }
  // Pops everything available now, calling f on each message in place.
  template <class F>
  std::size_t drain(F&& f) {
    std::size_t count = 0;
    while (try_pop_with(f)) ++count;
    return count;
  }

 private:
  SpscByteConsumer(detail::RingControl* control, const detail::RingGeometry& geometry) noexcept
      : SpscByteEnd(control, geometry) {}
  friend class SpscByteRing;
  friend class AttachableEnd<SpscByteConsumer>;
};

// The factories of an SPSC byte ring; not instantiable.
class SpscByteRing {
 public:
  using Producer = SpscByteProducer;
  using Consumer = SpscByteConsumer;
  using Ends = RingEnds<Producer, Consumer>;
  static constexpr detail::RingKind kKind = detail::RingKind::spsc_bytes;

  SpscByteRing() = delete;

  // Throws IpcError: invalid_capacity (0 or too large), invalid_argument (slot_size 0 or
  // above 1 GiB).
  [[nodiscard]] static std::size_t required_bytes(std::size_t capacity, std::size_t slot_size) {
    return detail::region_bytes(detail::checked_capacity(capacity),
                                detail::checked_byte_stride(slot_size));
  }
  // Initialises a ring in `region` (128-byte aligned, at least required_bytes()) and
  // returns both ends. Throws IpcError: invalid_capacity, invalid_argument, truncated.
  [[nodiscard]] static Ends create(std::span<std::byte> region, std::size_t capacity,
                                   std::size_t slot_size, RingOptions options = {}) {
    (void)detail::init_region(
        region, detail::byte_layout(kKind, detail::checked_capacity(capacity), slot_size), options);
    return {Producer::attach(region), Consumer::attach(region)};
  }
  [[nodiscard]] static Ends create(std::shared_ptr<Segment> segment, std::size_t capacity,
                                   std::size_t slot_size, RingOptions options = {}) {
    Ends ends = create(segment->bytes(), capacity, slot_size, options);
    ends.producer.keep(segment);
    ends.consumer.keep(std::move(segment));
    return ends;
  }
  [[nodiscard]] static Ends create_anonymous(std::size_t capacity, std::size_t slot_size,
                                             RingOptions options = {},
                                             SegmentOptions segment_options = {}) {
    auto segment = std::make_shared<Segment>(
        Segment::anonymous(required_bytes(capacity, slot_size), segment_options));
    return create(std::move(segment), capacity, slot_size, options);
  }
};

}  // namespace ringpool::ipc
