#pragma once
// Bench and test support, not part of ringpool::ipc (target ringpool::boost_backends):
// Boost.Lockfree as alternative ring backends behind the ringpool ring interface, placed
// in shared memory: a validated ringpool header (kind boost_spsc / boost_queue, element
// size, capacity, sizeof the Boost object) followed at offset 512 by the Boost object
// constructed with placement new. Both use compile-time capacity<N>, so their storage is
// inline (no pointers to the heap) and fixed-size, which is what makes them work from
// any process that maps the region.
//
// Boost publishes with plain atomics and never wakes anyone, so these rings support the
// spin and yield wait strategies only (a futex request is stored as yield).
//
// Unlike ringpool's role-typed ends, a handle here serves both roles and may be copied:
// Boost's queues keep their indices in the shared object, so a copy is never stale.
#include <boost/lockfree/policies.hpp>
#include <boost/lockfree/queue.hpp>
#include <boost/lockfree/spsc_queue.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>

#include "ringpool/ipc/detail/ring_header.hpp"
#include "ringpool/ipc/detail/wait.hpp"
#include "ringpool/ipc/errors.hpp"
#include "ringpool/ipc/ring_options.hpp"
#include "ringpool/ipc/segment.hpp"

namespace ringpool::bench {

using ipc::OpStatus;
using ipc::RingOptions;
using ipc::Segment;
using ipc::SegmentOptions;

namespace detail {
using ipc::IpcErrc;
using ipc::IpcError;
using ipc::RingOptions;
using ipc::WaitStrategy;
using ipc::detail::block_until;
using ipc::detail::close_ring;
using ipc::detail::init_region;
using ipc::detail::kLineSpacing;
using ipc::detail::ring_closed;
using ipc::detail::RingControl;
using ipc::detail::RingGeometry;
using ipc::detail::RingKind;
using ipc::detail::RingLayout;
using ipc::detail::Side;
using ipc::detail::slots_of;
using ipc::detail::validate_region;

[[noreturn]] inline void throw_capacity_mismatch(std::size_t requested, std::size_t fixed) {
  throw IpcError(IpcErrc::capacity_mismatch,
                 "capacity " + std::to_string(requested) +
                     " requested from a Boost backend whose capacity is fixed at compile time "
                     "to " +
                     std::to_string(fixed) + "; pass " + std::to_string(fixed) +
                     " or change the template argument");
}
[[noreturn]] inline void throw_not_lock_free(const char* what) {
  throw IpcError(IpcErrc::system_error, std::string(what) +
                                            " is not lock-free on this platform, so it cannot "
                                            "live in shared memory; use a ringpool ring");
}

// Shared plumbing of the two Boost backends: header, placement, waiting.
template <class Queue, RingKind Kind, class T, std::size_t N>
class BoostRingBase {
 public:
  static constexpr RingKind kKind = Kind;
  using value_type = T;

  [[nodiscard]] static std::size_t required_bytes(std::size_t capacity = N) {
    if (capacity != N) throw_capacity_mismatch(capacity, N);
    return sizeof(RingControl) + sizeof(Queue);
  }

 protected:
  static RingLayout layout() noexcept {
    return {Kind, sizeof(T), alignof(T), sizeof(T), sizeof(Queue), N};
  }
  static RingOptions boost_options(RingOptions options) noexcept {
    if (options.wait == WaitStrategy::futex) options.wait = WaitStrategy::yield;
    return options;
  }
  static Queue* place(std::span<std::byte> region, std::size_t capacity, RingOptions options) {
    (void)required_bytes(capacity);
    RingControl* control = init_region(region, layout(), boost_options(options));
    return ::new (static_cast<void*>(slots_of(control))) Queue();
  }
  static Queue* find(std::span<std::byte> region, RingControl*& control, RingGeometry& geometry) {
    control = validate_region(region, layout(), geometry);
    return std::launder(reinterpret_cast<Queue*>(slots_of(control)));
  }
  static_assert(alignof(Queue) <= kLineSpacing);
};
}  // namespace detail

// boost::lockfree::spsc_queue<T, capacity<N>> in shared memory. One producer, one consumer.
template <class T, std::size_t N>
class BoostSpscRing
    : public detail::BoostRingBase<boost::lockfree::spsc_queue<T, boost::lockfree::capacity<N>>,
                                   detail::RingKind::boost_spsc, T, N> {
  using Queue = boost::lockfree::spsc_queue<T, boost::lockfree::capacity<N>>;
  using Base = detail::BoostRingBase<Queue, detail::RingKind::boost_spsc, T, N>;

 public:
  // `capacity` must equal N (IpcError capacity_mismatch otherwise).
  [[nodiscard]] static BoostSpscRing create(std::span<std::byte> region, std::size_t capacity = N,
                                            RingOptions options = {}) {
    (void)Base::place(region, capacity, options);
    return attach(region);
  }
  [[nodiscard]] static BoostSpscRing attach(std::span<std::byte> region) {
    BoostSpscRing ring;
    ring.queue_ = Base::find(region, ring.control_, ring.geometry_);
    return ring;
  }
  [[nodiscard]] static BoostSpscRing create_anonymous(std::size_t capacity = N,
                                                      RingOptions options = {},
                                                      SegmentOptions segment_options = {}) {
    auto segment = std::make_shared<Segment>(
        Segment::anonymous(Base::required_bytes(capacity), segment_options));
    BoostSpscRing ring = create(segment->bytes(), capacity, options);
    ring.segment_ = std::move(segment);
    return ring;
  }

  [[nodiscard]] bool try_push(const T& value) noexcept { return queue_->push(value); }
  [[nodiscard]] std::optional<T> try_pop() noexcept {
    T value;
    if (!queue_->pop(value)) return std::nullopt;
    return value;
  }
  [[nodiscard]] bool try_pop(T& out) noexcept { return queue_->pop(out); }
  [[nodiscard]] std::size_t try_push_n(std::span<const T> values) noexcept {
    return queue_->push(values.data(), values.size());
  }
  [[nodiscard]] std::size_t try_pop_n(std::span<T> out) noexcept {
    return queue_->pop(out.data(), out.size());
  }
  OpStatus push(const T& value, std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    return detail::block_until(*control_, detail::Side::producer, geometry_.wait,
                               geometry_.spin_iterations, timeout, [&] { return try_push(value); });
  }
  OpStatus pop(T& out, std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    return detail::block_until(*control_, detail::Side::consumer, geometry_.wait,
                               geometry_.spin_iterations, timeout, [&] { return try_pop(out); });
  }
  void close() noexcept { detail::close_ring(*control_); }
  [[nodiscard]] bool is_closed() const noexcept { return detail::ring_closed(*control_); }
  [[nodiscard]] static constexpr std::size_t capacity() noexcept { return N; }
  [[nodiscard]] bool corrupted() const noexcept { return false; }
  [[nodiscard]] bool valid() const noexcept { return queue_ != nullptr; }

 private:
  Queue* queue_ = nullptr;
  detail::RingControl* control_ = nullptr;
  detail::RingGeometry geometry_{};
  std::shared_ptr<Segment> segment_;
};

// boost::lockfree::queue<T, capacity<N>> (fixed-size freelist, array indices instead of
// pointers) in shared memory. Any number of producers and consumers. Boost keeps one node
// as a dummy, so the node pool is sized N + 1 internally by Boost; capacity() is N.
template <class T, std::size_t N>
class BoostMpmcQueue
    : public detail::BoostRingBase<boost::lockfree::queue<T, boost::lockfree::capacity<N>>,
                                   detail::RingKind::boost_queue, T, N> {
  using Queue = boost::lockfree::queue<T, boost::lockfree::capacity<N>>;
  using Base = detail::BoostRingBase<Queue, detail::RingKind::boost_queue, T, N>;

 public:
  [[nodiscard]] static BoostMpmcQueue create(std::span<std::byte> region, std::size_t capacity = N,
                                             RingOptions options = {}) {
    Queue* queue = Base::place(region, capacity, options);
    if (!queue->is_lock_free()) detail::throw_not_lock_free("boost::lockfree::queue");
    return attach(region);
  }
  [[nodiscard]] static BoostMpmcQueue attach(std::span<std::byte> region) {
    BoostMpmcQueue ring;
    ring.queue_ = Base::find(region, ring.control_, ring.geometry_);
    return ring;
  }
  [[nodiscard]] static BoostMpmcQueue create_anonymous(std::size_t capacity = N,
                                                       RingOptions options = {},
                                                       SegmentOptions segment_options = {}) {
    auto segment = std::make_shared<Segment>(
        Segment::anonymous(Base::required_bytes(capacity), segment_options));
    BoostMpmcQueue ring = create(segment->bytes(), capacity, options);
    ring.segment_ = std::move(segment);
    return ring;
  }

  // bounded_push: never allocates; false when the fixed node pool is exhausted.
  [[nodiscard]] bool try_push(const T& value) noexcept { return queue_->bounded_push(value); }
  [[nodiscard]] std::optional<T> try_pop() noexcept {
    T value;
    if (!queue_->pop(value)) return std::nullopt;
    return value;
  }
  [[nodiscard]] bool try_pop(T& out) noexcept { return queue_->pop(out); }
  // Boost's queue has no batch operations: these loop.
  [[nodiscard]] std::size_t try_push_n(std::span<const T> values) noexcept {
    std::size_t n = 0;
    while (n < values.size() && try_push(values[n])) ++n;
    return n;
  }
  [[nodiscard]] std::size_t try_pop_n(std::span<T> out) noexcept {
    std::size_t n = 0;
    while (n < out.size() && try_pop(out[n])) ++n;
    return n;
  }
  OpStatus push(const T& value, std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    return detail::block_until(*control_, detail::Side::producer, geometry_.wait,
                               geometry_.spin_iterations, timeout, [&] { return try_push(value); });
  }
  OpStatus pop(T& out, std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    return detail::block_until(*control_, detail::Side::consumer, geometry_.wait,
                               geometry_.spin_iterations, timeout, [&] { return try_pop(out); });
  }
  void close() noexcept { detail::close_ring(*control_); }
  [[nodiscard]] bool is_closed() const noexcept { return detail::ring_closed(*control_); }
  [[nodiscard]] static constexpr std::size_t capacity() noexcept { return N; }
  [[nodiscard]] bool corrupted() const noexcept { return false; }
  [[nodiscard]] bool valid() const noexcept { return queue_ != nullptr; }

 private:
  Queue* queue_ = nullptr;
  detail::RingControl* control_ = nullptr;
  detail::RingGeometry geometry_{};
  std::shared_ptr<Segment> segment_;
};

}  // namespace ringpool::bench
