#pragma once
// MpmcRing<T>: bounded lock-free multi-producer multi-consumer ring of trivially copyable T
// (Vyukov's per-slot sequence numbers) over plain-data shared memory; any number of
// producer and consumer threads or processes, each with its own handle copy.
// Capacity: 0 is refused, other values round up to a power of two, at least 2.
#include <algorithm>
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
#include "ringpool/ipc/detail/wait.hpp"
#include "ringpool/ipc/errors.hpp"
#include "ringpool/ipc/ring_options.hpp"
#include "ringpool/ipc/segment.hpp"
#include "ringpool/ipc/spsc_ring.hpp"

namespace ringpool::ipc {

template <class T>
class MpmcRing {
  static_assert(std::is_trivially_copyable_v<T>, "ring elements are copied as bytes");
  static_assert(alignof(T) <= detail::kLineSpacing, "element alignment above 128 bytes");
  // One slot: the 64-bit sequence word, then the element at kValueOffset.
  static constexpr std::size_t kSeqAlign = alignof(std::atomic<std::uint64_t>);
  static constexpr std::size_t kValueOffset =
      (sizeof(std::uint64_t) + alignof(T) - 1) / alignof(T) * alignof(T);
  static constexpr std::size_t kSlotAlign = alignof(T) > kSeqAlign ? alignof(T) : kSeqAlign;
  static constexpr std::size_t kStride =
      (kValueOffset + sizeof(T) + kSlotAlign - 1) / kSlotAlign * kSlotAlign;

 public:
  using value_type = T;
  static constexpr detail::RingKind kKind = detail::RingKind::mpmc;

  [[nodiscard]] static std::size_t required_bytes(std::size_t capacity) {
    return detail::region_bytes(detail::checked_mpmc_capacity(capacity), kStride);
  }
  [[nodiscard]] static MpmcRing create(std::span<std::byte> region, std::size_t capacity,
                                       RingOptions options = {}) {
    (void)detail::init_region(region, layout(detail::checked_mpmc_capacity(capacity)), options);
    return attach(region);
  }
  [[nodiscard]] static MpmcRing attach(std::span<std::byte> region) {
    detail::RingGeometry geometry{};
    detail::RingControl* control = detail::validate_region(region, layout(0), geometry);
    return MpmcRing(control, geometry);
  }
  [[nodiscard]] static MpmcRing create(std::shared_ptr<Segment> segment, std::size_t capacity,
                                       RingOptions options = {}) {
    MpmcRing ring = create(segment->bytes(), capacity, options);
    ring.segment_ = std::move(segment);
    return ring;
  }
  [[nodiscard]] static MpmcRing attach(std::shared_ptr<Segment> segment) {
    MpmcRing ring = attach(segment->bytes());
    ring.segment_ = std::move(segment);
    return ring;
  }
  [[nodiscard]] static MpmcRing create_anonymous(std::size_t capacity, RingOptions options = {},
                                                 SegmentOptions segment_options = {}) {
    auto segment =
        std::make_shared<Segment>(Segment::anonymous(required_bytes(capacity), segment_options));
    return create(std::move(segment), capacity, options);
  }

  MpmcRing() noexcept = default;

  // Lock-free. False when full (or corrupted()).
  [[nodiscard]] bool try_push(const T& value) noexcept {
    std::uint64_t pos = 0;
    if (!core_.claim_enqueue(pos)) return false;
    std::memcpy(value_ptr(pos), &value, sizeof(T));
    core_.publish(pos);
    return true;
  }
  // Pushes a prefix of `values`; returns how many (stops at the first full).
  [[nodiscard]] std::size_t try_push_n(std::span<const T> values) noexcept {
    std::size_t n = 0;
    while (n < values.size() && try_push(values[n])) ++n;
    return n;
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
    std::memcpy(&out, value_ptr(pos), sizeof(T));
    core_.release(pos);
    return true;
  }
  [[nodiscard]] std::size_t try_pop_n(std::span<T> out) noexcept {
    std::size_t n = 0;
    while (n < out.size() && try_pop(out[n])) ++n;
    return n;
  }

  OpStatus push(const T& value, std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    return detail::block_until(*core_.control(), detail::Side::producer, wait_, spins_, timeout,
                               [&] { return try_push(value) || check_corrupt(); });
  }
  OpStatus pop(T& out, std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    return detail::block_until(*core_.control(), detail::Side::consumer, wait_, spins_, timeout,
                               [&] { return try_pop(out) || check_corrupt(); });
  }

  void close() noexcept { detail::close_ring(*core_.control()); }
  [[nodiscard]] bool is_closed() const noexcept { return detail::ring_closed(*core_.control()); }
  [[nodiscard]] std::size_t size_approx() const noexcept {
    return static_cast<std::size_t>(core_.size_approx());
  }
  [[nodiscard]] std::size_t capacity() const noexcept {
    return static_cast<std::size_t>(core_.capacity());
  }
  [[nodiscard]] bool corrupted() const noexcept { return core_.corrupted(); }
  [[nodiscard]] WaitStrategy wait_strategy() const noexcept { return wait_; }
  void set_wait_strategy(WaitStrategy strategy) {
    if (strategy == WaitStrategy::futex && !core_.notifies()) {
      detail::throw_bad_wait(strategy, ring_wait_);
    }
    wait_ = strategy;
  }
  [[nodiscard]] bool valid() const noexcept { return core_.control() != nullptr; }
  [[nodiscard]] const std::shared_ptr<Segment>& segment() const noexcept { return segment_; }

 private:
  static detail::RingLayout layout(std::uint64_t capacity) noexcept {
    return {kKind, sizeof(T), alignof(T), sizeof(T), kStride, capacity};
  }
  MpmcRing(detail::RingControl* control, const detail::RingGeometry& geometry) noexcept
      : core_(control, geometry),
        wait_(geometry.wait),
        ring_wait_(geometry.wait),
        spins_(geometry.spin_iterations) {}
  std::byte* value_ptr(std::uint64_t pos) const noexcept { return core_.slot(pos) + kValueOffset; }
  bool check_corrupt() const {
    if (core_.corrupted()) detail::throw_corrupt("MpmcRing: slot sequence or ticket impossible");
    return false;
  }

  detail::MpmcCore core_;
  WaitStrategy wait_ = WaitStrategy::futex;
  WaitStrategy ring_wait_ = WaitStrategy::futex;
  std::uint32_t spins_ = 0;
  std::shared_ptr<Segment> segment_;
};

}  // namespace ringpool::ipc
