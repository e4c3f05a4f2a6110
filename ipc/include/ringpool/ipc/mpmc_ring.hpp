#pragma once
// MpmcRing<T>: bounded lock-free multi-producer multi-consumer ring of trivially copyable T
// (Vyukov's per-slot sequence numbers) over plain-data shared memory; any number of
// producer and consumer threads or processes, each with its own end:
//
//   auto [tx, rx] = MpmcRing<Job>::create_anonymous(1024);
//   MpmcProducer<Job> tx2 = tx.clone();           // another producer thread
//   MpmcConsumer<Job> rx2 = MpmcConsumer<Job>::attach(region);   // or attach anew
//
// Ends are move-only; they hold no position (the tickets live in shared memory), so
// clone() is an honest copy for another thread. Capacity: 0 is refused, other values round
// up to a power of two, at least 2.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <type_traits>
#include <utility>

#include "ringpool/ipc/detail/mpmc_core.hpp"
#include "ringpool/ipc/detail/ring_header.hpp"
#include "ringpool/ipc/errors.hpp"
#include "ringpool/ipc/ring_end.hpp"
#include "ringpool/ipc/ring_options.hpp"
#include "ringpool/ipc/segment.hpp"

namespace ringpool::ipc {

template <class T>
class MpmcRing;

namespace detail {
// What both MPMC ends of MpmcRing<T> share: the core and the slot geometry.
template <class T>
class MpmcEnd : public RingEnd {
  static_assert(std::is_trivially_copyable_v<T>, "ring elements are copied as bytes");
  static_assert(alignof(T) <= kLineSpacing, "element alignment above 128 bytes");

 public:
  using value_type = T;
  static constexpr RingKind kKind = RingKind::mpmc;
  // One slot: the 64-bit sequence word, then the element at kValueOffset.
  static constexpr std::size_t kSeqAlign = alignof(std::atomic<std::uint64_t>);
  static constexpr std::size_t kValueOffset =
      (sizeof(std::uint64_t) + alignof(T) - 1) / alignof(T) * alignof(T);
  static constexpr std::size_t kSlotAlign = alignof(T) > kSeqAlign ? alignof(T) : kSeqAlign;
  static constexpr std::size_t kStride =
      (kValueOffset + sizeof(T) + kSlotAlign - 1) / kSlotAlign * kSlotAlign;

  MpmcEnd(MpmcEnd&& other) noexcept
      : RingEnd(std::move(other)), core_(std::exchange(other.core_, MpmcCore{})) {}
  MpmcEnd& operator=(MpmcEnd&& other) noexcept {
    RingEnd::operator=(std::move(other));
    core_ = std::exchange(other.core_, MpmcCore{});
    return *this;
  }

  // Sticky for this handle: a slot sequence or ticket was found impossible; try_* fail,
  // blocking calls throw IpcError(corrupt_indices).
  [[nodiscard]] bool corrupted() const noexcept { return core_.corrupted(); }

  static RingLayout layout(std::uint64_t capacity) noexcept {
    return {kKind, sizeof(T), alignof(T), sizeof(T), kStride, capacity};
  }

 protected:
  MpmcEnd() noexcept = default;
  MpmcEnd(RingControl* control, const RingGeometry& geometry) noexcept
      : RingEnd(control, geometry), core_(control, geometry) {}
  MpmcEnd(const MpmcEnd& from, CloneTag tag) noexcept
      : RingEnd(from, tag), core_(from.core_.fresh()) {}
  ~MpmcEnd() = default;

  static RingControl* validate(std::span<std::byte> region, RingGeometry& geometry) {
    return validate_region(region, layout(0), geometry);
  }
  std::byte* value_ptr(std::uint64_t pos) const noexcept { return core_.slot(pos) + kValueOffset; }
  bool check_corrupt() const {
    if (core_.corrupted()) throw_corrupt("MpmcRing: slot sequence or ticket impossible");
    return false;
  }

  MpmcCore core_;
};
}  // namespace detail

// A producer end: lock-free try_push; one thread at a time per handle.
template <class T>
class MpmcProducer : public detail::MpmcEnd<T>, public AttachableEnd<MpmcProducer<T>> {
  using Base = detail::MpmcEnd<T>;
  using Base::core_;

 public:
  MpmcProducer() noexcept = default;
  MpmcProducer(MpmcProducer&&) noexcept = default;
  MpmcProducer& operator=(MpmcProducer&&) noexcept = default;

  // Another producer end of the same ring (same segment reference, same wait settings,
  // corrupted() cleared), for another thread.
  [[nodiscard]] MpmcProducer clone() const noexcept {
    return MpmcProducer(*this, typename Base::CloneTag{});
  }

  // Lock-free. False when full (or corrupted()).
  [[nodiscard]] bool try_push(const T& value) noexcept {
    std::uint64_t pos = 0;
    if (!core_.claim_enqueue(pos)) return false;
    std::memcpy(this->value_ptr(pos), &value, sizeof(T));
    core_.publish(pos);
    return true;
  }
  // Pushes a prefix of `values`; returns how many (stops at the first full).
  [[nodiscard]] std::size_t try_push_n(std::span<const T> values) noexcept {
    std::size_t n = 0;
    while (n < values.size() && try_push(values[n])) ++n;
    return n;
  }
  // Blocking push. ok / timeout / closed (at once). Throws IpcError(corrupt_indices).
  OpStatus push(const T& value, std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    return this->block(detail::Side::producer, timeout,
                       [&] { return try_push(value) || this->check_corrupt(); });
  }

 private:
  friend class MpmcRing<T>;
  friend class AttachableEnd<MpmcProducer<T>>;
  MpmcProducer(detail::RingControl* control, const detail::RingGeometry& geometry) noexcept
      : Base(control, geometry) {}
  MpmcProducer(const MpmcProducer& from, typename Base::CloneTag tag) noexcept : Base(from, tag) {}
};

// A consumer end: lock-free try_pop; one thread at a time per handle.
template <class T>
class MpmcConsumer : public detail::MpmcEnd<T>, public AttachableEnd<MpmcConsumer<T>> {
  using Base = detail::MpmcEnd<T>;
  using Base::core_;

 public:
  MpmcConsumer() noexcept = default;
  MpmcConsumer(MpmcConsumer&&) noexcept = default;
  MpmcConsumer& operator=(MpmcConsumer&&) noexcept = default;

  // Another consumer end of the same ring, for another thread.
  [[nodiscard]] MpmcConsumer clone() const noexcept {
    return MpmcConsumer(*this, typename Base::CloneTag{});
  }

  // Lock-free. nullopt when empty (or corrupted()).
  [[nodiscard]] std::optional<T> try_pop() noexcept {
    T value;
    if (!try_pop(value)) return std::nullopt;
    return value;
  }
  [[nodiscard]] bool try_pop(T& out) noexcept {
    std::uint64_t pos = 0;
    if (!core_.claim_dequeue(pos)) return false;
    std::memcpy(&out, this->value_ptr(pos), sizeof(T));
    core_.release(pos);
    return true;
  }
  [[nodiscard]] std::size_t try_pop_n(std::span<T> out) noexcept {
    std::size_t n = 0;
    while (n < out.size() && try_pop(out[n])) ++n;
    return n;
  }
  // Blocking pop. ok / timeout / closed (once closed and empty). Throws
  // IpcError(corrupt_indices).
  OpStatus pop(T& out, std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    return this->block(detail::Side::consumer, timeout,
                       [&] { return try_pop(out) || this->check_corrupt(); });
  }

 private:
  friend class MpmcRing<T>;
  friend class AttachableEnd<MpmcConsumer<T>>;
  MpmcConsumer(detail::RingControl* control, const detail::RingGeometry& geometry) noexcept
      : Base(control, geometry) {}
  MpmcConsumer(const MpmcConsumer& from, typename Base::CloneTag tag) noexcept : Base(from, tag) {}
};

// The factories of an MPMC ring of T; not instantiable.
template <class T>
class MpmcRing {
 public:
  using value_type = T;
  using Producer = MpmcProducer<T>;
  using Consumer = MpmcConsumer<T>;
  using Ends = RingEnds<Producer, Consumer>;
  static constexpr detail::RingKind kKind = detail::RingKind::mpmc;

  MpmcRing() = delete;

  [[nodiscard]] static std::size_t required_bytes(std::size_t capacity) {
    return detail::region_bytes(detail::checked_mpmc_capacity(capacity),
                                detail::MpmcEnd<T>::kStride);
  }
  // Initialises a ring in `region` and returns one end of each role (clone or attach for
  // more). Throws IpcError: invalid_capacity, truncated, invalid_argument.
  [[nodiscard]] static Ends create(std::span<std::byte> region, std::size_t capacity,
                                   RingOptions options = {}) {
    (void)detail::init_region(
        region, detail::MpmcEnd<T>::layout(detail::checked_mpmc_capacity(capacity)), options);
    return {Producer::attach(region), Consumer::attach(region)};
  }
  [[nodiscard]] static Ends create(std::shared_ptr<Segment> segment, std::size_t capacity,
                                   RingOptions options = {}) {
    Ends ends = create(segment->bytes(), capacity, options);
    ends.producer.keep(segment);
    ends.consumer.keep(std::move(segment));
    return ends;
  }
  [[nodiscard]] static Ends create_anonymous(std::size_t capacity, RingOptions options = {},
                                             SegmentOptions segment_options = {}) {
    auto segment =
        std::make_shared<Segment>(Segment::anonymous(required_bytes(capacity), segment_options));
    return create(std::move(segment), capacity, options);
  }
};

}  // namespace ringpool::ipc
