#pragma once
// RingEnd: what every ring handle has, whatever its ring and role. The handles themselves
// are role-typed and move-only (docs/ipc.md, "Role handles"):
//
//   ring                  producer end            consumer end
//   SpscRing<T>           SpscProducer<T>         SpscConsumer<T>        spsc_ring.hpp
//   MpmcRing<T>           MpmcProducer<T>         MpmcConsumer<T>        mpmc_ring.hpp
//   SpscByteRing          SpscByteProducer        SpscByteConsumer       spsc_byte_ring.hpp
//   MpmcByteRing          MpmcByteProducer        MpmcByteConsumer       mpmc_byte_ring.hpp
//
// The ring classes only hold the factories: `create(...)` initialises a ring in a region
// or segment and returns both ends (RingEnds: `auto [tx, rx] = SpscRing<int>::
// create_anonymous(64);`); each end type has `attach(...)` for a process or thread that
// joins an existing ring. A handle cannot be copied (a copy of an SPSC end would carry a
// stale position); MPMC ends hold no position and offer an explicit clone() for another
// thread. A moved-from handle is !valid(): only assign to it or destroy it.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>

#include "ringpool/ipc/detail/ring_header.hpp"
#include "ringpool/ipc/detail/wait.hpp"
#include "ringpool/ipc/ring_options.hpp"
#include "ringpool/ipc/segment.hpp"

namespace ringpool::ipc {

// The two attach() factories of every ring end, written once. End derives from
// AttachableEnd<End> beside its RingEnd base, befriends it, and has a static
// validate(region, geometry) and a (control, geometry) constructor.
template <class End>
class AttachableEnd {
 public:
  // Validates the header and indices in `region` and takes this end's position from it.
  // Throws IpcError (bad_magic, abi_mismatch, layout_mismatch, size_mismatch, truncated,
  // invalid_capacity, corrupt_indices). Precondition for an SPSC end: no other end of the
  // same role is in use.
  [[nodiscard]] static End attach(std::span<std::byte> region) {
    detail::RingGeometry geometry{};
    detail::RingControl* control = End::validate(region, geometry);
    return End(control, geometry);
  }
  // Same, keeping `segment` mapped as long as the handle lives.
  [[nodiscard]] static End attach(std::shared_ptr<Segment> segment) {
    End end = attach(segment->bytes());
    end.keep(std::move(segment));
    return end;
  }
};

// Both ends of a newly created ring.
template <class Producer, class Consumer>
struct RingEnds {
  Producer producer;
  Consumer consumer;
};

class RingEnd {
 public:
  RingEnd(const RingEnd&) = delete;
  RingEnd& operator=(const RingEnd&) = delete;
  RingEnd(RingEnd&& other) noexcept
      : control_(std::exchange(other.control_, nullptr)),
        segment_(std::move(other.segment_)),
        capacity_(std::exchange(other.capacity_, 0)),
        wait_(other.wait_),
        ring_wait_(other.ring_wait_),
        spins_(other.spins_) {}
  RingEnd& operator=(RingEnd&& other) noexcept {
    if (this != &other) {
      control_ = std::exchange(other.control_, nullptr);
      segment_ = std::move(other.segment_);
      capacity_ = std::exchange(other.capacity_, 0);
      wait_ = other.wait_;
      ring_wait_ = other.ring_wait_;
      spins_ = other.spins_;
    }
    return *this;
  }

  // Either end, any thread. Wakes every waiter of both sides; producers then get `closed`
  // at once, consumers drain what is left, then get `closed`. Precondition: valid().
  void close() noexcept { detail::close_ring(*control_); }
  // Precondition: valid().
  [[nodiscard]] bool is_closed() const noexcept { return detail::ring_closed(*control_); }
  // Occupied slots as seen now (racy by nature; 0 when the indices look impossible).
  // Precondition: valid().
  [[nodiscard]] std::size_t size_approx() const noexcept {
    // acquire (both): only an estimate; acquire keeps it from running ahead of contents.
    // Head first: it never passes the tail, so the tail read after it is not behind it.
    const std::uint64_t head = control_->consumer.pos.load(std::memory_order_acquire);
    const std::uint64_t tail = control_->producer.pos.load(std::memory_order_acquire);
    const std::uint64_t used = tail - head;
    return used > capacity_ ? 0 : static_cast<std::size_t>(used);
  }
  // Slots, a power of two (from the validated header); 0 for an invalid handle.
  [[nodiscard]] std::size_t capacity() const noexcept {
    return static_cast<std::size_t>(capacity_);
  }
  // How this handle's blocking calls wait (the ring's strategy unless changed).
  [[nodiscard]] WaitStrategy wait_strategy() const noexcept { return wait_; }
  // spin / yield work on any ring; futex only on a ring created with futex (otherwise
  // nobody would wake the sleeper): throws IpcError(invalid_argument).
  void set_wait_strategy(WaitStrategy strategy) {
    if (strategy == WaitStrategy::futex && ring_wait_ != WaitStrategy::futex) {
      detail::throw_bad_wait(strategy, ring_wait_);
    }
    wait_ = strategy;
  }
  [[nodiscard]] bool valid() const noexcept { return control_ != nullptr; }
  // The segment this handle keeps mapped (null when attached to a bare region).
  [[nodiscard]] const std::shared_ptr<Segment>& segment() const noexcept { return segment_; }

 protected:
  RingEnd() noexcept = default;
  RingEnd(detail::RingControl* control, const detail::RingGeometry& geometry) noexcept
      : control_(control),
        capacity_(geometry.capacity),
        wait_(geometry.wait),
        ring_wait_(geometry.wait),
        spins_(geometry.spin_iterations) {}
  ~RingEnd() = default;

  // For the factories: keeps `segment` mapped as long as this handle lives.
  void keep(std::shared_ptr<Segment> segment) noexcept { segment_ = std::move(segment); }
  // For clone(): the same ring, the same segment reference, this handle's wait settings.
  struct CloneTag {};
  RingEnd(const RingEnd& from, CloneTag /*unused*/) noexcept
      : control_(from.control_),
        segment_(from.segment_),
        capacity_(from.capacity_),
        wait_(from.wait_),
        ring_wait_(from.ring_wait_),
        spins_(from.spins_) {}

  // Runs a blocking operation with this handle's wait settings.
  template <class TryOp>
  OpStatus block(detail::Side side, std::optional<std::chrono::nanoseconds> timeout,
                 TryOp&& try_op) {
    return detail::block_until(*control_, side, wait_, spins_, timeout,
                               std::forward<TryOp>(try_op));
  }

  detail::RingControl* control_ = nullptr;

 private:
  std::shared_ptr<Segment> segment_;
  std::uint64_t capacity_ = 0;
  WaitStrategy wait_ = WaitStrategy::futex;
  WaitStrategy ring_wait_ = WaitStrategy::futex;
  std::uint32_t spins_ = 0;
};

}  // namespace ringpool::ipc
