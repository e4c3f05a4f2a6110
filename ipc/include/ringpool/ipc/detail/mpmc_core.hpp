#pragma once
// Index logic of the multi-producer multi-consumer rings (typed and byte): Vyukov's bounded
// queue. Every slot starts with a 64-bit sequence word; for ticket `pos`:
//   seq == pos            slot free for the producer of ticket pos
//   seq == pos + 1        slot filled, ready for the consumer of ticket pos
//   seq == pos + capacity slot released, free for the producer of ticket pos + capacity
// Producers take tickets with a CAS on the enqueue counter, consumers on the dequeue
// counter; the per-slot sequence hands each slot over with release/acquire.
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "ringpool/ipc/detail/ring_header.hpp"
#include "ringpool/ipc/detail/wait.hpp"

namespace ringpool::ipc::detail {

class MpmcCore {
 public:
  MpmcCore() noexcept = default;
  MpmcCore(RingControl* control, const RingGeometry& geometry) noexcept
      : control_(control),
        slots_(slots_of(control)),
        capacity_(geometry.capacity),
        mask_(geometry.capacity - 1),
        stride_(geometry.slot_stride),
        notify_(geometry.wait == WaitStrategy::futex) {}

  [[nodiscard]] RingControl* control() const noexcept { return control_; }
  [[nodiscard]] std::uint64_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] bool notifies() const noexcept { return notify_; }
  [[nodiscard]] bool corrupted() const noexcept { return corrupted_; }
  void mark_corrupted() noexcept { corrupted_ = true; }
  // The same ring view with corrupted() cleared (for another handle of the ring).
  [[nodiscard]] MpmcCore fresh() const noexcept {
    MpmcCore copy = *this;
    copy.corrupted_ = false;
    return copy;
  }

  [[nodiscard]] std::byte* slot(std::uint64_t pos) const noexcept {
    return slots_ + (pos & mask_) * stride_;
  }
  [[nodiscard]] std::atomic<std::uint64_t>& seq(std::uint64_t pos) const noexcept {
    return *reinterpret_cast<std::atomic<std::uint64_t>*>(slot(pos));
  }

  // Producer: takes the next ticket if its slot is free. False when full or corrupted.
  // `before_cas(pos)` runs right before each claim attempt; `after_fail()` after a lost CAS
  // and before returning false (used by tracked claims to record and clear their intent).
  template <class BeforeCas, class AfterFail>
  [[nodiscard]] bool claim_enqueue(std::uint64_t& out_pos, BeforeCas&& before_cas,
                                   AfterFail&& after_fail) noexcept {
    // relaxed: a hint; the CAS below validates it.
    std::uint64_t pos = control_->producer.pos.load(std::memory_order_relaxed);
    for (;;) {
      // acquire: pairs with the release / seq_cst store in release(); the previous lap's
      // consumer finished reading the slot before it.
      const std::uint64_t s = seq(pos).load(std::memory_order_acquire);
      const auto diff = static_cast<std::int64_t>(s - pos);
      if (diff == 0) {
        before_cas(pos);
        // release on success: a tracked claim's intent store (sequenced before) is visible
        // to whoever acquires this counter value (the acquire load of producer.pos in
        // MpmcByteProducer::recover_put_claim()); slot contents order only through the
        // slot's sequence word. relaxed on failure: we retry.
        if (control_->producer.pos.compare_exchange_weak(pos, pos + 1, std::memory_order_release,
                                                         std::memory_order_relaxed)) {
          out_pos = pos;
          return true;
        }
        after_fail();
      } else if (diff < 0) {
        if (diff < -static_cast<std::int64_t>(capacity_)) {
          corrupted_ = true;
        }
        after_fail();
        return false;  // full: the slot still holds the previous lap
      } else {
        // relaxed: another producer took `pos`; by coherence (we acquired its or a later
        // sequence store) the counter must have moved past it.
        const std::uint64_t next = control_->producer.pos.load(std::memory_order_relaxed);
        if (next == pos) {
          corrupted_ = true;
          after_fail();
          return false;
        }
        pos = next;
      }
    }
  }
  [[nodiscard]] bool claim_enqueue(std::uint64_t& out_pos) noexcept {
    return claim_enqueue(
        out_pos, [](std::uint64_t) {}, [] {});
  }
  // Producer: hands the slot of ticket `pos` to consumers.
  void publish(std::uint64_t pos) noexcept {
    if (notify_) {
      // seq_cst: pairs with the acquire load in claim_dequeue() (slot contents), and is the
      // publish of the EventCount argument (event_count.hpp) for a sleeping consumer.
      seq(pos).store(pos + 1, std::memory_order_seq_cst);
      control_->wait.data.notify_one();
    } else {
      // release: pairs with the acquire load in claim_dequeue().
      seq(pos).store(pos + 1, std::memory_order_release);
    }
  }

  // Consumer: takes the next ticket if its slot is filled. False when empty or corrupted.
  // `before_cas(pos)` runs right before each claim attempt; `after_fail()` after a lost CAS
  // and before returning false (used by tracked pops to record and clear their intent).
  template <class BeforeCas, class AfterFail>
  [[nodiscard]] bool claim_dequeue(std::uint64_t& out_pos, BeforeCas&& before_cas,
                                   AfterFail&& after_fail) noexcept {
    // relaxed: a hint; the CAS below validates it.
    std::uint64_t pos = control_->consumer.pos.load(std::memory_order_relaxed);
    for (;;) {
      // acquire: pairs with the release / seq_cst store in publish(); the slot's payload
      // written before it is visible.
      const std::uint64_t s = seq(pos).load(std::memory_order_acquire);
      const auto diff = static_cast<std::int64_t>(s - (pos + 1));
      if (diff == 0) {
        before_cas(pos);
        // seq_cst on success: a tracked pop's intent store (seq_cst) is ordered before the
        // claim, which recover_claim() relies on; relaxed on failure: we retry.
        if (control_->consumer.pos.compare_exchange_weak(pos, pos + 1, std::memory_order_seq_cst,
                                                         std::memory_order_relaxed)) {
          out_pos = pos;
          return true;
        }
        after_fail();
      } else if (diff < 0) {
        if (diff < -static_cast<std::int64_t>(capacity_)) {
          corrupted_ = true;
        }
        after_fail();
        return false;  // empty
      } else {
        // relaxed: another consumer took `pos`; the counter must have moved past it.
        const std::uint64_t next = control_->consumer.pos.load(std::memory_order_relaxed);
        if (next == pos) {
          corrupted_ = true;
          after_fail();
          return false;
        }
        pos = next;
      }
    }
  }
  [[nodiscard]] bool claim_dequeue(std::uint64_t& out_pos) noexcept {
    return claim_dequeue(
        out_pos, [](std::uint64_t) {}, [] {});
  }
  // Consumer: frees the slot of ticket `pos` for the producer of ticket pos + capacity.
  void release(std::uint64_t pos) noexcept {
    if (notify_) {
      // seq_cst: pairs with the acquire load in claim_enqueue(), and is the publish of the
      // EventCount argument (event_count.hpp) for a sleeping producer.
      seq(pos).store(pos + capacity_, std::memory_order_seq_cst);
      control_->wait.space.notify_one();
    } else {
      // release: pairs with the acquire load in claim_enqueue(); our reads of the slot
      // are done before a producer overwrites it.
      seq(pos).store(pos + capacity_, std::memory_order_release);
    }
  }

  [[nodiscard]] std::uint64_t size_approx() const noexcept {
    // relaxed (both): an estimate only.
    const std::uint64_t head = control_->consumer.pos.load(std::memory_order_relaxed);
    const std::uint64_t tail = control_->producer.pos.load(std::memory_order_relaxed);
    const std::uint64_t used = tail - head;
    return used > capacity_ ? 0 : used;
  }

 private:
  RingControl* control_ = nullptr;
  std::byte* slots_ = nullptr;
  std::uint64_t capacity_ = 0;
  std::uint64_t mask_ = 0;
  std::uint64_t stride_ = 0;
  bool notify_ = false;
  bool corrupted_ = false;
};

}  // namespace ringpool::ipc::detail
