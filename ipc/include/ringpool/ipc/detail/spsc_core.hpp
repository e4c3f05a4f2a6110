#pragma once
// Index logic of the single-producer single-consumer rings (typed and byte). Positions are
// free-running 64-bit counters; a slot is `pos & mask`. Each side caches the peer's
// position in the handle and reloads it only when the cache says "full" / "empty".
#include <atomic>
#include <cstdint>

#include "ringpool/ipc/detail/ring_header.hpp"
#include "ringpool/ipc/detail/wait.hpp"

namespace ringpool::ipc::detail {

class SpscCore {
 public:
  SpscCore() noexcept = default;
  SpscCore(RingControl* control, const RingGeometry& geometry) noexcept
      : control_(control),
        capacity_(geometry.capacity),
        mask_(geometry.capacity - 1),
        notify_(geometry.wait == WaitStrategy::futex) {}

  [[nodiscard]] RingControl* control() const noexcept { return control_; }
  [[nodiscard]] std::uint64_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] std::uint64_t mask() const noexcept { return mask_; }
  [[nodiscard]] bool notifies() const noexcept { return notify_; }
  [[nodiscard]] bool corrupted() const noexcept { return corrupted_; }
  void mark_corrupted() noexcept { corrupted_ = true; }

  // --- producer side -------------------------------------------------------------------
  [[nodiscard]] std::uint64_t tail() const noexcept {
    // relaxed: only the producer writes tail, and this handle is the producer.
    return control_->producer.pos.load(std::memory_order_relaxed);
  }
  // Free slots seen from `tail`; reloads the consumer's head only when the cache shows
  // fewer than `want`. Impossible indices set corrupted() and report 0.
  [[nodiscard]] std::uint64_t free_slots(std::uint64_t tail, std::uint64_t want) noexcept {
    std::uint64_t used = tail - head_cache_;
    if (used <= capacity_ && capacity_ - used >= want) return capacity_ - used;
    // acquire: pairs with the release (or seq_cst) store of head in release_to(); the
    // consumer's reads of the slots we are about to overwrite happened before it.
    head_cache_ = control_->consumer.pos.load(std::memory_order_acquire);
    used = tail - head_cache_;
    if (used > capacity_) {
      corrupted_ = true;
      return 0;
    }
    return capacity_ - used;
  }
  void publish(std::uint64_t new_tail) noexcept {
    if (notify_) {
      // seq_cst: pairs with the acquire load of tail in available() (slot contents), and
      // with the seq_cst fetch_add + fence of a sleeping consumer (see wait.hpp).
      control_->producer.pos.store(new_tail, std::memory_order_seq_cst);
      notify(control_->wait.data_event, control_->wait.data_waiters);
    } else {
      // release: pairs with the acquire load of tail in available(); the slot writes
      // before it become visible to the consumer.
      control_->producer.pos.store(new_tail, std::memory_order_release);
    }
  }

  // --- consumer side -------------------------------------------------------------------
  [[nodiscard]] std::uint64_t head() const noexcept {
    // relaxed: only the consumer writes head, and this handle is the consumer.
    return control_->consumer.pos.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t available(std::uint64_t head, std::uint64_t want) noexcept {
    std::uint64_t avail = tail_cache_ - head;
    if (avail <= capacity_ && avail >= want) return avail;
    // acquire: pairs with the release / seq_cst store of tail in publish().
    tail_cache_ = control_->producer.pos.load(std::memory_order_acquire);
    avail = tail_cache_ - head;
    if (avail > capacity_) {
      corrupted_ = true;
      return 0;
    }
    return avail;
  }
  void release_to(std::uint64_t new_head) noexcept {
    if (notify_) {
      // seq_cst: pairs with the acquire load of head in free_slots() and with the seq_cst
      // fetch_add + fence of a sleeping producer (see wait.hpp).
      control_->consumer.pos.store(new_head, std::memory_order_seq_cst);
      notify(control_->wait.space_event, control_->wait.space_waiters);
    } else {
      // release: pairs with the acquire load of head in free_slots(); our slot reads are
      // done before the producer may overwrite them.
      control_->consumer.pos.store(new_head, std::memory_order_release);
    }
  }

  // Occupied slots as seen now (racy by nature).
  [[nodiscard]] std::uint64_t size_approx() const noexcept {
    // acquire (both): only an estimate; acquire keeps it from running ahead of contents.
    const std::uint64_t head = control_->consumer.pos.load(std::memory_order_acquire);
    const std::uint64_t tail = control_->producer.pos.load(std::memory_order_acquire);
    const std::uint64_t used = tail - head;
    return used > capacity_ ? 0 : used;
  }

  // Recovery after the peer is gone: sets head = tail after visiting nothing (the caller
  // visits [head, tail) first). Returns the (head, tail) pair validated.
  [[nodiscard]] bool unconsumed(std::uint64_t& head, std::uint64_t& tail) noexcept {
    // acquire (both): the peer is dead; acquire makes its last published slots visible.
    head = control_->consumer.pos.load(std::memory_order_acquire);
    tail = control_->producer.pos.load(std::memory_order_acquire);
    if (tail - head > capacity_) {
      corrupted_ = true;
      return false;
    }
    return true;
  }
  // Both positions back to 0, closed cleared. Only when no other handle is in use.
  void reset() noexcept {
    // relaxed (all): precondition is that no other process or thread uses the ring; the
    // next hand-off of the ring to a peer (fork, a start signal) publishes these stores.
    control_->producer.pos.store(0, std::memory_order_relaxed);
    control_->consumer.pos.store(0, std::memory_order_relaxed);
    control_->wait.closed.store(0, std::memory_order_relaxed);
    control_->wait.data_waiters.store(0, std::memory_order_relaxed);
    control_->wait.space_waiters.store(0, std::memory_order_relaxed);
    head_cache_ = 0;
    tail_cache_ = 0;
    corrupted_ = false;
  }
  void resync_caches() noexcept {
    head_cache_ = 0;
    tail_cache_ = 0;
  }

 private:
  RingControl* control_ = nullptr;
  std::uint64_t capacity_ = 0;
  std::uint64_t mask_ = 0;
  std::uint64_t head_cache_ = 0;  // producer's view of the consumer's head
  std::uint64_t tail_cache_ = 0;  // consumer's view of the producer's tail
  bool notify_ = false;
  bool corrupted_ = false;
};

}  // namespace ringpool::ipc::detail
