#pragma once
// SpscRing<T>: bounded wait-free single-producer single-consumer ring of trivially copyable
// T over plain-data shared memory (see docs/ipc.md for the layout and the memory orders).
//
//   auto [tx, rx] = SpscRing<Tick>::create_anonymous(4096);   // before fork()
//   tx.try_push(tick);                 // SpscProducer<Tick>: the one producer
//   if (auto t = rx.try_pop()) ...     // SpscConsumer<Tick>: the one consumer
//
// Each end is a process-local, move-only handle used by one thread at a time. It holds its
// own side's position (the producer's tail, the consumer's head: only that side writes it)
// and a cache of the peer's, so it never reads its own position back from shared memory;
// because a handle cannot be copied, no stale copy of a position can exist. A process that
// joins an existing ring attaches the end it plays: SpscConsumer<T>::attach(region).
// Capacity: 0 is refused, other values round up to a power of two; capacity() reports it.
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
#include "ringpool/ipc/errors.hpp"
#include "ringpool/ipc/ring_end.hpp"
#include "ringpool/ipc/ring_options.hpp"
#include "ringpool/ipc/segment.hpp"

namespace ringpool::ipc {

template <class T>
class SpscProducer;
template <class T>
class SpscConsumer;

namespace detail {
// What the two SPSC ends of SpscRing<T> share: the core and the slot addressing.
template <class T>
class SpscEnd : public RingEnd {
  static_assert(std::is_trivially_copyable_v<T>, "ring elements are copied as bytes");
  static_assert(alignof(T) <= kLineSpacing, "element alignment above 128 bytes");

 public:
  using value_type = T;
  static constexpr RingKind kKind = RingKind::spsc;

  SpscEnd(SpscEnd&& other) noexcept
      : RingEnd(std::move(other)), core_(std::exchange(other.core_, SpscCore{})) {}
  SpscEnd& operator=(SpscEnd&& other) noexcept {
    RingEnd::operator=(std::move(other));
    core_ = std::exchange(other.core_, SpscCore{});
    return *this;
  }

  // Sticky: shared indices were found impossible; every try_* fails from then on, blocking
  // calls throw IpcError(corrupt_indices). reset() clears it.
  [[nodiscard]] bool corrupted() const noexcept { return core_.corrupted(); }

  // Both positions to 0, closed cleared, waiter counts cleared; this handle starts over.
  // Precondition: no other handle uses the ring now (the peer died and has not been
  // respawned yet); every other handle must attach() anew afterwards.
  void reset() noexcept { core_.reset(); }

  // Items up to 8 bytes travel with the tail (spsc_core.hpp, "Carried items"), as a word.
  static constexpr bool kCarried = sizeof(T) <= sizeof(std::uint64_t);
  static std::uint64_t word_of(const T& item) noexcept {
    std::uint64_t word = 0;
    std::memcpy(&word, &item, sizeof(T));
    return word;
  }

  static RingLayout layout(std::uint64_t capacity) noexcept {
    return {kKind, sizeof(T), alignof(T), sizeof(T), sizeof(T), capacity, kCarried};
  }

 protected:
  SpscEnd() noexcept = default;
  SpscEnd(RingControl* control, const RingGeometry& geometry) noexcept
      : RingEnd(control, geometry), core_(control, geometry) {}
  ~SpscEnd() = default;

  static RingControl* validate(std::span<std::byte> region, RingGeometry& geometry) {
    return validate_region(region, layout(0), geometry);
  }

  T* slot(std::uint64_t pos) const noexcept { return slots() + (pos & core_.mask()); }
  T* slots() const noexcept { return reinterpret_cast<T*>(core_.slots()); }
  bool check_corrupt() const {
    if (core_.corrupted()) throw_corrupt("SpscRing: tail - head exceeds the capacity");
    return false;
  }

  SpscCore core_;  // its own cache line holds every hot field
};
}  // namespace detail

// The producer end. Wait-free try_* calls; one thread at a time.
template <class T>
class SpscProducer : public detail::SpscEnd<T>, public AttachableEnd<SpscProducer<T>> {
  using Base = detail::SpscEnd<T>;
  using Base::core_;

 public:
  SpscProducer() noexcept = default;
  SpscProducer(SpscProducer&&) noexcept = default;
  SpscProducer& operator=(SpscProducer&&) noexcept = default;

  // Wait-free. False when full (or corrupted()).
  [[nodiscard]] bool try_push(const T& value) noexcept {
    if constexpr (Base::kCarried) {
      return core_.push_one_carried(
          [&](std::uint64_t index) { std::memcpy(this->slots() + index, &value, sizeof(T)); },
          Base::word_of(value));
    } else {
      return core_.push_one(
          [&](std::uint64_t index) { std::memcpy(this->slots() + index, &value, sizeof(T)); });
    }
  }
  // Wait-free. Pushes a prefix of `values`; returns how many. One publish for the batch.
  [[nodiscard]] std::size_t try_push_n(std::span<const T> values) noexcept {
    if (values.empty()) return 0;
    const std::uint64_t room = core_.room(values.size());
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(room, values.size()));
    if (n == 0) return 0;
    const std::uint64_t tail = core_.tail();
    copy_in(tail, values.data(), n);
    if constexpr (Base::kCarried) {
      if (n == 1) {  // one item: it travels with the tail (a batch's tail never says "one")
        core_.publish_one_carried(Base::word_of(values[0]));
        return 1;
      }
    }
    core_.publish_to(tail + n);
    return n;
  }
  // Zero-copy: the next free slot, or nullptr when full. Fill it, then commit().
  [[nodiscard]] T* claim() noexcept {
    if (!core_.has_room()) return nullptr;
    return this->slot(core_.tail());
  }
  // Publishes the slot returned by the last successful claim(). Precondition: claim()
  // returned non-null and nothing was pushed since. On a full ring it does nothing.
  void commit() noexcept {
    if (core_.room(0) != 0) [[likely]] {
      if constexpr (Base::kCarried) {
        core_.publish_one_carried(Base::word_of(*this->slot(core_.tail())));
      } else {
        core_.publish_to(core_.tail() + 1);
      }
    }
  }

  // Blocking push with the handle's wait strategy. ok / timeout / closed (at once, even if
  // there is room). Throws IpcError(corrupt_indices).
  OpStatus push(const T& value, std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    return this->block(detail::Side::producer, timeout,
                       [&] { return try_push(value) || this->check_corrupt(); });
  }

  // Recovery, after the consumer died (precondition: it is dead, e.g. reaped): visits
  // every unconsumed item (including one the consumer was reading when it died: delivery
  // is at-least-once), then empties the ring. The tail is this handle's, the dead
  // consumer's head is read from the mapping and validated. Returns the count; 0 and
  // corrupted() if the head is impossible.
  template <class F>
  std::size_t reclaim_unconsumed(F&& f) {
    std::uint64_t head = 0;
    std::uint64_t tail = 0;
    if (!core_.unconsumed(head, tail)) return 0;
    for (std::uint64_t pos = head; pos != tail; ++pos) f(std::as_const(*this->slot(pos)));
    core_.consume_all();
    return static_cast<std::size_t>(tail - head);
  }

 private:
  template <class>
  friend class SpscRing;
  friend class AttachableEnd<SpscProducer<T>>;
  SpscProducer(detail::RingControl* control, const detail::RingGeometry& geometry) noexcept
      : Base(control, geometry) {}

  void copy_in(std::uint64_t pos, const T* src, std::size_t n) noexcept {
    const std::size_t first = static_cast<std::size_t>(
        std::min<std::uint64_t>(n, core_.capacity() - (pos & core_.mask())));
    std::memcpy(this->slot(pos), src, first * sizeof(T));
    if (first < n) std::memcpy(this->slots(), src + first, (n - first) * sizeof(T));
  }
};

// The consumer end. Wait-free try_* calls; one thread at a time.
template <class T>
class SpscConsumer : public detail::SpscEnd<T>, public AttachableEnd<SpscConsumer<T>> {
  using Base = detail::SpscEnd<T>;
  using Base::core_;

 public:
  SpscConsumer() noexcept = default;
  SpscConsumer(SpscConsumer&&) noexcept = default;
  SpscConsumer& operator=(SpscConsumer&&) noexcept = default;

  // Wait-free. nullopt when empty (or corrupted()).
  [[nodiscard]] std::optional<T> try_pop() noexcept {
    T value;
    if (!try_pop(value)) return std::nullopt;
    return value;
  }
  [[nodiscard]] bool try_pop(T& out) noexcept {
    if constexpr (Base::kCarried) {
      std::uint64_t word = 0;
      switch (core_.pop_carried(word)) {
        case detail::SpscCore::Carried::taken:
          std::memcpy(&out, &word, sizeof(T));
          return true;
        case detail::SpscCore::Carried::empty:
          return false;
        case detail::SpscCore::Carried::other:
          break;
      }
    }
    return core_.pop_one(sizeof(T), [&](std::uint64_t index) {
      std::memcpy(&out, this->slots() + index, sizeof(T));
    });
  }
  // Wait-free. Pops up to out.size() items; returns how many. One release for the batch.
  [[nodiscard]] std::size_t try_pop_n(std::span<T> out) noexcept {
    if (out.empty()) return 0;
    const std::uint64_t avail = core_.available(out.size(), sizeof(T));
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
    return this->slot(core_.head());
  }
  // Frees the slot returned by the last successful front(). On an empty ring (as this
  // handle last saw it) it does nothing.
  void release() noexcept {
    if (core_.cached_available() != 0) [[likely]] {
      core_.release_to(core_.head() + 1);
    }
  }

  // Blocking pop. ok / timeout / closed (only once closed and empty). Throws
  // IpcError(corrupt_indices).
  OpStatus pop(T& out, std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    return this->block(detail::Side::consumer, timeout,
                       [&] { return try_pop(out) || this->check_corrupt(); });
  }

  // Pops everything available now, calling f(const T&) on each in place.
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

 private:
  template <class>
  friend class SpscRing;
  friend class AttachableEnd<SpscConsumer<T>>;
  SpscConsumer(detail::RingControl* control, const detail::RingGeometry& geometry) noexcept
      : Base(control, geometry) {}

  void copy_out(std::uint64_t pos, T* dst, std::size_t n) const noexcept {
    const std::size_t first = static_cast<std::size_t>(
        std::min<std::uint64_t>(n, core_.capacity() - (pos & core_.mask())));
    std::memcpy(dst, this->slot(pos), first * sizeof(T));
    if (first < n) std::memcpy(dst + first, this->slots(), (n - first) * sizeof(T));
  }
};

// The factories of an SPSC ring of T; not instantiable.
template <class T>
class SpscRing {
 public:
  using value_type = T;
  using Producer = SpscProducer<T>;
  using Consumer = SpscConsumer<T>;
  using Ends = RingEnds<Producer, Consumer>;
  static constexpr detail::RingKind kKind = detail::RingKind::spsc;

  SpscRing() = delete;

  // Bytes a region needs for `capacity` (after rounding up). Throws invalid_capacity.
  [[nodiscard]] static std::size_t required_bytes(std::size_t capacity) {
    return detail::region_bytes(detail::checked_capacity(capacity), sizeof(T));
  }
  // Initialises a ring in `region` (128-byte aligned, at least required_bytes()) and
  // returns both ends. Throws IpcError: invalid_capacity, truncated, invalid_argument.
  [[nodiscard]] static Ends create(std::span<std::byte> region, std::size_t capacity,
                                   RingOptions options = {}) {
    (void)detail::init_region(
        region, detail::SpscEnd<T>::layout(detail::checked_capacity(capacity)), options);
    return {Producer::attach(region), Consumer::attach(region)};
  }
  // Same in a whole segment; both ends keep it mapped.
  [[nodiscard]] static Ends create(std::shared_ptr<Segment> segment, std::size_t capacity,
                                   RingOptions options = {}) {
    Ends ends = create(segment->bytes(), capacity, options);
    ends.producer.keep(segment);
    ends.consumer.keep(std::move(segment));
    return ends;
  }
  // A ring in its own anonymous segment: create before fork(), keep one end in each process.
  [[nodiscard]] static Ends create_anonymous(std::size_t capacity, RingOptions options = {},
                                             SegmentOptions segment_options = {}) {
    auto segment =
        std::make_shared<Segment>(Segment::anonymous(required_bytes(capacity), segment_options));
    return create(std::move(segment), capacity, options);
  }
};

}  // namespace ringpool::ipc
