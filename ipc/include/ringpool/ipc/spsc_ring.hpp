#pragma once
// SpscRing<T>: bounded wait-free single-producer single-consumer ring of trivially copyable
// T over plain-data shared memory (see docs/ipc.md for the layout and the memory orders).
//
// A handle is process-local and cheap to copy. It holds its own side's position (the
// producer's tail, the consumer's head: only that side writes it) and a cache of the
// peer's. One handle (or copy) is used by the producer and another by the consumer; each is
// used by one thread at a time. Because the position lives in the handle, once a copy has
// pushed (popped), older copies are stale for that side: keep using the newest copy, or
// attach() again. Producer calls: try_push*, claim/commit, push, close,
// reclaim_unconsumed. Consumer calls: try_pop*, front/release, pop, drain. Capacity: 0 is
// refused, other values round up to a power of two; capacity() reports the real one.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <type_traits>
#include <utility>

#include "ringpool/ipc/detail/ring_header.hpp"
#include "ringpool/ipc/detail/spsc_core.hpp"
#include "ringpool/ipc/detail/wait.hpp"
#include "ringpool/ipc/errors.hpp"
#include "ringpool/ipc/ring_options.hpp"
#include "ringpool/ipc/segment.hpp"

namespace ringpool::ipc {

template <class T>
class SpscRing {
  static_assert(std::is_trivially_copyable_v<T>, "ring elements are copied as bytes");
  static_assert(alignof(T) <= detail::kLineSpacing, "element alignment above 128 bytes");

 public:
  using value_type = T;
  static constexpr detail::RingKind kKind = detail::RingKind::spsc;

  // Bytes a region needs for `capacity` (after rounding up). Throws invalid_capacity.
  [[nodiscard]] static std::size_t required_bytes(std::size_t capacity) {
    return detail::region_bytes(detail::checked_capacity(capacity), sizeof(T));
  }
  // Initialises a ring in `region` (128-byte aligned, at least required_bytes()).
  // Throws IpcError: invalid_capacity, truncated, invalid_argument (alignment).
  [[nodiscard]] static SpscRing create(std::span<std::byte> region, std::size_t capacity,
                                       RingOptions options = {}) {
    const std::uint64_t cap = detail::checked_capacity(capacity);
    (void)detail::init_region(region, layout(cap), options);
    return attach(region);
  }
  // Validates the header and indices in `region`. Throws IpcError (bad_magic,
  // abi_mismatch, layout_mismatch, size_mismatch, truncated, invalid_capacity,
  // corrupt_indices).
  [[nodiscard]] static SpscRing attach(std::span<std::byte> region) {
    detail::RingGeometry geometry{};
    detail::RingControl* control = detail::validate_region(region, layout(0), geometry);
    return SpscRing(control, geometry);
  }
  // Same, keeping `segment` alive as long as any copy of the handle.
  [[nodiscard]] static SpscRing create(std::shared_ptr<Segment> segment, std::size_t capacity,
                                       RingOptions options = {}) {
    SpscRing ring = create(segment->bytes(), capacity, options);
    ring.segment_ = std::move(segment);
    return ring;
  }
  [[nodiscard]] static SpscRing attach(std::shared_ptr<Segment> segment) {
    SpscRing ring = attach(segment->bytes());
    ring.segment_ = std::move(segment);
    return ring;
  }
  // A ring in its own anonymous segment: create before fork() and use in both processes.
  [[nodiscard]] static SpscRing create_anonymous(std::size_t capacity, RingOptions options = {},
                                                 SegmentOptions segment_options = {}) {
    auto segment =
        std::make_shared<Segment>(Segment::anonymous(required_bytes(capacity), segment_options));
    return create(std::move(segment), capacity, options);
  }

  SpscRing() noexcept = default;

  // ---- producer ------------------------------------------------------------------------
  // Wait-free. False when full (or corrupted()).
  [[nodiscard]] bool try_push(const T& value) noexcept {
    return core_.push_one(
        [&](std::uint64_t index) { std::memcpy(slots() + index, &value, sizeof(T)); });
  }
  // Wait-free. Pushes a prefix of `values`; returns how many. One publish for the batch.
  [[nodiscard]] std::size_t try_push_n(std::span<const T> values) noexcept {
    if (values.empty()) return 0;
    const std::uint64_t room = core_.room(values.size());
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(room, values.size()));
    if (n == 0) return 0;
    const std::uint64_t tail = core_.tail();
    copy_in(tail, values.data(), n);
    core_.publish_to(tail + n);
    return n;
  }
  // Zero-copy: the next free slot, or nullptr when full. Fill it, then commit().
  [[nodiscard]] T* claim() noexcept {
    if (!core_.has_room()) return nullptr;
    return slot(core_.tail());
  }
  // Publishes the slot returned by the last successful claim(). Precondition: claim()
  // returned non-null and nothing was pushed since. On a full ring it does nothing.
  void commit() noexcept {
    if (core_.room(0) != 0) [[likely]] {
      core_.publish_to(core_.tail() + 1);
    }
  }

  // Blocking push with the ring's (or this handle's) wait strategy. ok / timeout /
  // closed (at once, even if there is room). Throws IpcError(corrupt_indices).
  OpStatus push(const T& value, std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    return detail::block_until(*core_.control(), detail::Side::producer, wait_, spins_, timeout,
                               [&] { return try_push(value) || check_corrupt(); });
  }

  // ---- consumer ------------------------------------------------------------------------
  // Wait-free. nullopt when empty (or corrupted()).
  [[nodiscard]] std::optional<T> try_pop() noexcept {
    T value;
    if (!core_.pop_one(sizeof(T), [&](std::uint64_t index) {
          std::memcpy(&value, slots() + index, sizeof(T));
        })) {
      return std::nullopt;
    }
    return value;
  }
  [[nodiscard]] bool try_pop(T& out) noexcept {
    return core_.pop_one(
        sizeof(T), [&](std::uint64_t index) { std::memcpy(&out, slots() + index, sizeof(T)); });
  }
  // Wait-free. Pops up to out.size() items; returns how many. One release for the batch.
  [[nodiscard]] std::size_t try_pop_n(std::span<T> out) noexcept {
    if (out.empty()) return 0;
    const std::uint64_t avail = core_.available(out.size());
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(avail, out.size()));
    if (n == 0) return 0;
    const std::uint64_t head = core_.head();
    copy_out(head, out.data(), n);
    core_.release_to(head + n);
    return n;
  }
  // Zero-copy: the oldest item in place, or nullptr when empty. Read it, then release().
  [[nodiscard]] const T* front() noexcept {
    if (!core_.has_data(sizeof(T))) return nullptr;
    return slot(core_.head());
  }
  // Frees the slot returned by the last successful front(). On an empty ring (as this
  // handle last saw it) it does nothing.
  void release() noexcept {
    if (core_.available(0) != 0) [[likely]] {
      core_.release_to(core_.head() + 1);
    }
  }

  // Blocking pop. ok / timeout / closed (only once closed and empty). Throws
  // IpcError(corrupt_indices).
  OpStatus pop(T& out, std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    return detail::block_until(*core_.control(), detail::Side::consumer, wait_, spins_, timeout,
                               [&] { return try_pop(out) || check_corrupt(); });
  }

  // Consumer: pops everything currently available, calling f(const T&) on each in place.
  template <class F>
  std::size_t drain(F&& f) {
    std::size_t count = 0;
    while (const T* item = front()) {
      f(*item);
      release();
      ++count;
    }
    return count;
  }

  // ---- recovery (the peer is known to be gone) ------------------------------------------
  // Producer side, after the consumer died: visits every unconsumed item (including one
  // the consumer was reading when it died: delivery is at-least-once), then empties the
  // ring. Call it on the producer's own handle (its tail is the truth; the dead consumer's
  // head is read from the mapping and validated). Returns the count; 0 and corrupted() if
  // the head is impossible.
  template <class F>
  std::size_t reclaim_unconsumed(F&& f) {
    std::uint64_t head = 0;
    std::uint64_t tail = 0;
    if (!core_.unconsumed(head, tail)) return 0;
    for (std::uint64_t pos = head; pos != tail; ++pos) f(std::as_const(*slot(pos)));
    core_.consume_all();
    return static_cast<std::size_t>(tail - head);
  }
  // Both positions to 0, closed cleared, waiter counters cleared. Precondition: no other
  // handle uses the ring now (e.g. the peer died and has not been respawned yet); every
  // other handle (and copy) must attach() anew afterwards.
  void reset() noexcept { core_.reset(); }

  // ---- both sides -----------------------------------------------------------------------
  // Wakes every waiter; producers then get `closed`, consumers drain then get `closed`.
  void close() noexcept { detail::close_ring(*core_.control()); }
  [[nodiscard]] bool is_closed() const noexcept { return detail::ring_closed(*core_.control()); }
  [[nodiscard]] std::size_t size_approx() const noexcept {
    return static_cast<std::size_t>(core_.size_approx());
  }
  [[nodiscard]] std::size_t capacity() const noexcept {
    return valid() ? static_cast<std::size_t>(core_.capacity()) : 0;
  }
  // Sticky: shared indices were found impossible; every try_* fails from then on.
  [[nodiscard]] bool corrupted() const noexcept { return core_.corrupted(); }
  [[nodiscard]] WaitStrategy wait_strategy() const noexcept { return wait_; }
  // spin / yield work on any ring; futex only on a ring created with futex (otherwise
  // nobody would wake the sleeper): throws IpcError(invalid_argument).
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
    return {kKind, sizeof(T), alignof(T), sizeof(T), sizeof(T), capacity};
  }
  SpscRing(detail::RingControl* control, const detail::RingGeometry& geometry) noexcept
      : core_(control, geometry),
        wait_(geometry.wait),
        ring_wait_(geometry.wait),
        spins_(geometry.spin_iterations) {}

  T* slot(std::uint64_t pos) const noexcept { return slots() + (pos & core_.mask()); }
  T* slots() const noexcept { return reinterpret_cast<T*>(core_.slots()); }
  void copy_in(std::uint64_t pos, const T* src, std::size_t n) noexcept {
    const std::size_t first = static_cast<std::size_t>(
        std::min<std::uint64_t>(n, core_.capacity() - (pos & core_.mask())));
    std::memcpy(slot(pos), src, first * sizeof(T));
    if (first < n) std::memcpy(slots(), src + first, (n - first) * sizeof(T));
  }
  void copy_out(std::uint64_t pos, T* dst, std::size_t n) const noexcept {
    const std::size_t first = static_cast<std::size_t>(
        std::min<std::uint64_t>(n, core_.capacity() - (pos & core_.mask())));
    std::memcpy(dst, slot(pos), first * sizeof(T));
    if (first < n) std::memcpy(dst + first, slots(), (n - first) * sizeof(T));
  }
  bool check_corrupt() const {
    if (core_.corrupted()) detail::throw_corrupt("SpscRing: tail - head exceeds the capacity");
    return false;
  }

  detail::SpscCore core_;  // first: its cache line holds every hot field
  WaitStrategy wait_ = WaitStrategy::futex;
  WaitStrategy ring_wait_ = WaitStrategy::futex;
  std::uint32_t spins_ = 0;
  std::shared_ptr<Segment> segment_;
};

}  // namespace ringpool::ipc
