#pragma once
// Index logic of the single-producer single-consumer rings (typed and byte), held in the
// process-local handle.
//
// Positions are free-running 64-bit counters; a slot is `pos & mask`. Each side keeps its
// own position in the handle (it is that position's only writer, so it never reads it back
// from shared memory) and caches how far the peer lets it go: the producer's `limit_` is the
// last head it saw plus the capacity, the consumer's `tail_cache_` the last tail it saw.
// The shared words are read only when the cache says "full" / "empty". Every value read
// from shared memory is checked against the capacity before use; values the handle wrote
// itself are not re-checked.
//
// Invariants, kept whatever a peer writes into the mapping:
//   0 <= limit_ - tail_ <= capacity        (room the producer may fill)
//   0 <= tail_cache_ - head_ <= capacity   (items the consumer may read)
// A reloaded position passes one unsigned compare against `bound_` (the capacity) that
// both validates it and answers full / empty. mark_corrupted() sets both spans and
// `bound_` to 0: the fast paths fail, and no value read afterwards passes the compare, so
// corrupted() is sticky without a flag test on any path.
//
// Consumer pacing (measured in docs/bench.md, "Why the 8-byte SPSC path lost to Boost"):
// with items smaller than a cache line, several slots share a line, and a consumer that
// keeps pace with a streaming producer reads the line the producer is still filling, so
// every item costs the producer an ownership round trip for that line and for the tail's.
// Two rules keep the consumer off that line:
//  - the slot is prefetched on a reload only once the consumer has found the ring empty
//    kIdlePolls times in a row (it is idle, waiting for the next item: the prefetch then
//    overlaps the slot's transfer with the tail's); a consumer that is keeping up with a
//    streaming producer never prefetches the slot being filled;
//  - when a reload finds new items but the producer's next slot is in the same cache line
//    as the consumer's next one, and the producer is streaming (the consumer's previous
//    reload found more than one new item), the consumer pauses for about a microsecond
//    at most and reloads the tail once before it takes the items, so that it stays about
//    a line behind the producer ("temporal slipping", Giacomoni et al., FastForward, PPoPP
//    2008). A consumer that finds one item per reload (a ping-pong, occasional items) never
//    waits. Slots of 64 bytes or more never share a line, so only small items are paced.
// Both rules apply to the single-item reads (pop_one, has_data). Batch reads (available)
// never prefetch and have their own slip rule:
//  - when a reload finds fewer than kBatchSlipBytes of new items (less than a 4 KiB page
//    behind the producer, and less than half the ring) and the previous reload found a
//    whole batch (the producer is streaming), the consumer pauses and reloads the tail
//    once before it takes the items (docs/bench.md, "Batch-32: the batch reader at the
//    producer's heels").
//    A batch reader at the producer's heels reads the lines just written and its hardware
//    prefetcher (which works within a 4 KiB page) pulls the lines the producer is filling;
//    both cost the producer ownership round trips, which keeps the consumer at its heels.
//    A consumer a page behind reads settled lines. A reload that finds the ring empty ends
//    the streaming state, so a batch after a quiet spell is taken at once.
//
// Carried items (typed rings of items up to 8 bytes, spin wait, x86-64 with AVX): a
// single-item push stores {tail, item} into the producer's index line with one 16-byte
// store after the slot write, and a consumer whose cache is empty loads that pair with one
// 16-byte load. When the pair's tail is exactly one past its head, it takes the item from
// the pair and never reads the slot: in a ping-pong one cache line moves per hand-off (the
// tail's), not two (the tail's and the slot's), and the slot's line stays in the producer's
// cache, so its next write needs no ownership transfer either; such a consumer also skips
// the idle prefetch of the slot for that reason. A streaming consumer reads slots as before
// (its cache is not empty, or the pair's tail is further ahead). The pair is coherent
// because x86 processors with AVX make aligned 16-byte loads and stores atomic (Intel SDM
// vol. 3A 9.1.1, AMD APM vol. 2 7.3.2); elsewhere, and under ThreadSanitizer, which cannot
// see them as atomic, rings do not carry. Batch publishes store the tail alone: a
// consumer never takes the word then (the tail jumped by more than one past anything it
// has seen), and claim()/commit() carry the committed slot's bytes.
//
// Handle contract: the producer's handle holds the current tail and the consumer's handle
// the current head. A copy of a handle carries them; once one copy has pushed (popped), an
// older copy is stale for that side and must not push (pop) again: attach() anew instead.
// All hot fields sit on the handle's one cache line.
#include <atomic>
#include <cstddef>
#include <cstdint>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "ringpool/ipc/detail/cpu_relax.hpp"
#include "ringpool/ipc/detail/ring_header.hpp"
#include "ringpool/ipc/detail/wait.hpp"

namespace ringpool::ipc::detail {

class alignas(kCacheLine) SpscCore {
 public:
  SpscCore() noexcept = default;
  // Starts from the positions in the mapping as they are now. Impossible ones (possible
  // only if a peer rewrote them after validate_region()) make the handle corrupted().
  SpscCore(RingControl* control, const RingGeometry& geometry) noexcept
      : control_(control),
        mask_(geometry.capacity - 1),
        bound_(geometry.capacity),
        notify_(geometry.wait == WaitStrategy::futex),
        carries_(geometry.carries) {
    // acquire (both): pair with the release / seq_cst stores in store_head() / store_tail().
    // Head first: only the consumer moves it and never past the tail, so the tail read
    // after it is not behind it.
    head_ = control_->consumer.pos.load(std::memory_order_acquire);
    tail_ = control_->producer.pos.load(std::memory_order_acquire);
    if (tail_ - head_ > capacity()) {
      mark_corrupted();
      return;
    }
    tail_cache_ = tail_;
    limit_ = head_ + bound_;
  }

  [[nodiscard]] RingControl* control() const noexcept { return control_; }
  [[nodiscard]] bool carries() const noexcept { return carries_; }
  // Slot 0 (the slots start right after the control block, see ring_header.hpp).
  [[nodiscard]] std::byte* slots() const noexcept {
    return reinterpret_cast<std::byte*>(control_) + sizeof(RingControl);
  }
  [[nodiscard]] std::uint64_t capacity() const noexcept { return mask_ + 1; }
  [[nodiscard]] std::uint64_t mask() const noexcept { return mask_; }
  [[nodiscard]] bool notifies() const noexcept { return notify_; }
  [[nodiscard]] bool corrupted() const noexcept { return corrupted_; }
  void mark_corrupted() noexcept {
    corrupted_ = true;
    bound_ = 0;
    limit_ = tail_;
    tail_cache_ = head_;
  }

  // --- producer side -------------------------------------------------------------------
  [[nodiscard]] std::uint64_t tail() const noexcept { return tail_; }
  // Is there room for one more item? Reads the consumer's head only when the cache says
  // full.
  [[nodiscard]] bool has_room() noexcept {
    if (tail_ != limit_) [[likely]] {
      return true;
    }
    return refill_room(tail_);
  }
  // One item: when there is room, write(index) fills slot `index` (< capacity), then it is
  // published. False when full (or corrupted). Everything the publish needs is read before
  // write() runs: a slot write may alias this handle as far as the compiler knows.
  template <class Write>
  bool push_one(Write&& write) noexcept {
    const std::uint64_t tail = tail_;
    if (tail == limit_ && !refill_room(tail)) [[unlikely]] {
      return false;
    }
    RingControl* const control = control_;
    const bool notify = notify_;
    write(tail & mask_);
    tail_ = tail + 1;
    store_tail(*control, notify, tail + 1);
    return true;
  }
  // As push_one; a carrying ring publishes the tail together with `word`, the item's bytes.
  template <class Write>
  bool push_one_carried(Write&& write, std::uint64_t word) noexcept {
    const std::uint64_t tail = tail_;
    if (tail == limit_ && !refill_room(tail)) [[unlikely]] {
      return false;
    }
    RingControl* const control = control_;
    const bool carries = carries_;
    const bool notify = notify_;
    write(tail & mask_);
    tail_ = tail + 1;
    if (carries) {
      store_pair(control->producer, tail + 1, word);
    } else {
      store_tail(*control, notify, tail + 1);
    }
    return true;
  }
  // claim()/commit(): publishes one slot; a carrying ring carries `word`, its bytes.
  void publish_one_carried(std::uint64_t word) noexcept {
    tail_ += 1;
    if (carries_) {
      store_pair(control_->producer, tail_, word);
    } else {
      store_tail(*control_, notify_, tail_);
    }
  }
  // A carrying ring's consumer with an empty cache loads the pair once: `taken` when its
  // tail is exactly head + 1 (the item at head is in `word`, its slot is freed), `empty`
  // when the tail is the head (the one load of the poll), `other` otherwise: the caller
  // goes on with pop_one (several new items, no carrying, or a value pop_one's reload
  // validates).
  enum class Carried { taken, empty, other };
  Carried pop_carried(std::uint64_t& word) noexcept {
    const std::uint64_t head = head_;
    // bound_ == 0: corrupted, which stays sticky here too (pop_one reports it).
    if (!carries_ || head != tail_cache_ || bound_ == 0) return Carried::other;
    std::uint64_t pos = 0;
    load_pair(control_->producer, pos, word);
    if (pos == head) return Carried::empty;
    if (pos != head + 1) return Carried::other;
    head_ = head + 1;
    tail_cache_ = head + 1;
    empty_polls_ = 0;
    streaming_ = false;
    store_head(*control_, notify_, head + 1);
    return Carried::taken;
  }
  // Free slots (at least `want` unless the ring is fuller than that; 0 when corrupted).
  [[nodiscard]] std::uint64_t room(std::uint64_t want) noexcept {
    if (limit_ - tail_ < want) (void)refill_room(tail_);
    return limit_ - tail_;
  }
  // Publishes the slots up to `new_tail` (passed in, not re-read: a slot write may alias
  // this handle as far as the compiler knows). Precondition: new_tail - tail() <= room().
  void publish_to(std::uint64_t new_tail) noexcept {
    tail_ = new_tail;
    store_tail(*control_, notify_, new_tail);
  }

  // --- consumer side -------------------------------------------------------------------
  [[nodiscard]] std::uint64_t head() const noexcept { return head_; }
  // Is there an item to read? Reads the producer's tail only when the cache says empty
  // (always, in a ping-pong: that path is kept short too). `stride`: bytes per slot.
  [[nodiscard]] bool has_data(std::uint64_t stride) noexcept {
    const std::uint64_t head = head_;
    if (head != tail_cache_) return true;
    return refill_paced(head, stride);
  }
  // One item: when there is one, read(index) copies out slot `index` (< capacity), then
  // the slot is freed. False when empty (or corrupted).
  template <class Read>
  bool pop_one(std::uint64_t stride, Read&& read) noexcept {
    const std::uint64_t head = head_;
    if (head == tail_cache_ && !refill_paced(head, stride)) return false;
    RingControl* const control = control_;
    const bool notify = notify_;
    read(head & mask_);
    head_ = head + 1;
    store_head(*control, notify, head + 1);
    return true;
  }
  // Items readable now (at least `want` unless fewer were published; 0 when corrupted).
  // Reads the producer's tail only when the cache holds fewer than `want`, with the batch
  // slip (see the top of this file) and no prefetch: a batch reader that prefetched while
  // it polls an empty ring would take the line the producer is filling with its next
  // batch. `stride`: bytes per slot.
  [[nodiscard]] std::uint64_t available(std::uint64_t want, std::uint64_t stride) noexcept {
    if (tail_cache_ - head_ < want) (void)refill_batch(head_, want, stride);
    return tail_cache_ - head_;
  }
  // Items readable as the cache says now; never reads shared memory.
  [[nodiscard]] std::uint64_t cached_available() const noexcept { return tail_cache_ - head_; }
  // Frees the slots up to `new_head`. Precondition: new_head - head() <= available().
  void release_to(std::uint64_t new_head) noexcept {
    head_ = new_head;
    store_head(*control_, notify_, new_head);
  }

  // Occupied slots as seen now (racy by nature).
  [[nodiscard]] std::uint64_t size_approx() const noexcept {
    // acquire (both): only an estimate; acquire keeps it from running ahead of contents.
    const std::uint64_t head = control_->consumer.pos.load(std::memory_order_acquire);
    const std::uint64_t tail = control_->producer.pos.load(std::memory_order_acquire);
    const std::uint64_t used = tail - head;
    return used > capacity() ? 0 : used;
  }

  // --- recovery (producer side, the consumer is gone) -----------------------------------
  // [head, tail) still unconsumed: head from the mapping (validated against this handle's
  // tail), tail from this handle. False, and corrupted(), if the head is impossible.
  [[nodiscard]] bool unconsumed(std::uint64_t& head, std::uint64_t& tail) noexcept {
    // acquire: pairs with the dead consumer's last release of head; its reads are done.
    head = control_->consumer.pos.load(std::memory_order_acquire);
    tail = tail_;
    if (tail - head > capacity()) {
      mark_corrupted();
      return false;
    }
    return true;
  }
  // Marks everything published as consumed (head = tail) after unconsumed() was visited;
  // this handle's consumer fields follow, so the handle stays usable in both roles.
  void consume_all() noexcept {
    head_ = tail_;
    tail_cache_ = tail_;
    limit_ = tail_ + capacity();
    store_head(*control_, notify_, tail_);
  }
  // Both positions back to 0, closed and waiter counters cleared. Only when no other
  // handle is in use; other handles must attach anew afterwards.
  void reset() noexcept {
    // relaxed (all): precondition is that no other process or thread uses the ring; the
    // next hand-off of the ring to a peer (fork, a start signal) publishes these stores.
    control_->producer.pos.store(0, std::memory_order_relaxed);
    control_->consumer.pos.store(0, std::memory_order_relaxed);
    control_->wait.closed.store(0, std::memory_order_relaxed);
    control_->wait.data.reset();
    control_->wait.space.reset();
    tail_ = 0;
    head_ = 0;
    tail_cache_ = 0;
    limit_ = capacity();
    bound_ = capacity();
    empty_polls_ = 0;
    streaming_ = false;
    corrupted_ = false;
  }

 private:
  // Reloads in a row that found the ring empty before the consumer counts as idle.
  static constexpr std::uint8_t kIdlePolls = 4;
  // The slip: PAUSEs before the one extra reload of the tail (about 0.3 to 1.5 us,
  // depending on the CPU's PAUSE latency; 32 and 64 measured in docs/bench.md).
  static constexpr int kSlipPauses = 64;
  // Batch reads: a reload that finds less than this much new data (and less than half the
  // ring) slips when the producer is streaming. One page: hardware prefetchers stay within
  // 4 KiB, so a consumer a page behind never pulls the producer's lines (docs/bench.md).
  static constexpr std::uint64_t kBatchSlipBytes = 4096;

  // A hint only: the slot is read (and its contents are ordered) after the acquire load of
  // the tail, as always.
  void prefetch_slot(std::uint64_t head, std::uint64_t stride) const noexcept {
    __builtin_prefetch(slots() + (head & mask_) * stride);
  }
  // Is the producer still filling the consumer's next line: is its next slot (`tail`, less
  // than a line ahead of `head`) in the same cache line as `head`? The slots start on a line
  // boundary (ring_header.hpp), so equal line numbers of the two offsets mean one line.
  // Never for strides of a line or more, nor for a full ring.
  [[nodiscard]] bool same_line(std::uint64_t head, std::uint64_t tail,
                               std::uint64_t stride) const noexcept {
    return stride < kCacheLine && (tail - head) * stride < kCacheLine &&
           ((head & mask_) * stride) / kCacheLine == ((tail & mask_) * stride) / kCacheLine;
  }
  // Slow paths: reload the peer's position; one unsigned compare against bound_ both
  // validates it and answers. True when the cache now shows room / data.
  // `tail` / `head` is this handle's own position, passed in so that it is not re-read
  // after the acquire load.
  bool refill_room(std::uint64_t tail) noexcept {
    const std::uint64_t bound = bound_;
    // acquire: pairs with the release (or seq_cst) store of head in store_head(); the
    // consumer's reads of the slots we are about to overwrite happened before it.
    const std::uint64_t head = control_->consumer.pos.load(std::memory_order_acquire);
    const std::uint64_t used = tail - head;
    if (used < bound) [[likely]] {
      limit_ = head + bound;
      return true;
    }
    // used == capacity: full. Above: head ahead of tail or more than a lap behind it.
    if (used > bound) mark_corrupted();
    return false;
  }
  // The batch reads' reload, with the batch slip (top of this file).
  bool refill_batch(std::uint64_t head, std::uint64_t want, std::uint64_t stride) noexcept {
    const std::uint64_t bound = bound_;
    std::uint64_t tail = load_tail();
    const std::uint64_t avail = tail - head;
    if (avail - 1 >= bound) [[unlikely]] {
      // avail == 0: empty. Otherwise the tail is behind the head or more than a lap ahead.
      if (avail != 0) mark_corrupted();
      streaming_ = false;
      return false;
    }
    if (streaming_ && avail * stride < kBatchSlipBytes && avail < bound / 2 && !slip(head, tail)) {
      return false;
    }
    streaming_ = avail >= want;
    tail_cache_ = tail;
    return true;
  }
  // The single-item reads' reload, with the pacing rules at the top of this file.
  bool refill_paced(std::uint64_t head, std::uint64_t stride) noexcept {
    const std::uint64_t bound = bound_;
    const bool idle = empty_polls_ >= kIdlePolls;
    if (idle && !carries_) prefetch_slot(head, stride);
    std::uint64_t tail = load_tail();
    const std::uint64_t avail = tail - head;
    if (avail - 1 >= bound) [[unlikely]] {
      // avail == 0: empty. Otherwise the tail is behind the head or more than a lap ahead.
      if (avail != 0) {
        mark_corrupted();
      } else if (!idle) {
        ++empty_polls_;
      }
      return false;
    }
    empty_polls_ = 0;
    if (streaming_ && same_line(head, tail, stride) && !slip(head, tail)) return false;
    streaming_ = tail - head > 1;
    tail_cache_ = tail;
    return true;
  }
  // The slip: give a streaming producer time to move on, then reload the tail once; the
  // items the first reload found (up to `tail`) are there in any case. The new tail must
  // lie in [tail, head + capacity]; otherwise the handle is marked corrupted (false).
  bool slip(std::uint64_t head, std::uint64_t& tail) noexcept {
    for (int pause = 0; pause < kSlipPauses; ++pause) cpu_relax();
    const std::uint64_t later = load_tail();
    const std::uint64_t bound = bound_;
    if (later - head - 1 >= bound || later - tail > bound) {
      mark_corrupted();
      return false;
    }
    tail = later;
    return true;
  }
  // The pair {pos, carried} of a carrying ring, in one 16-byte store / load (release /
  // acquire on x86: stores and loads keep their order; the compiler barriers keep the
  // slot's bytes before the store and the item's uses after the load).
  static void store_pair(IndexLine& line, std::uint64_t pos, std::uint64_t word) noexcept {
#if defined(__x86_64__)
    const __m128i v = _mm_set_epi64x(static_cast<long long>(word), static_cast<long long>(pos));
    asm volatile("" ::: "memory");
    _mm_store_si128(reinterpret_cast<__m128i*>(&line), v);
    asm volatile("" ::: "memory");
#else
    (void)word;
    line.pos.store(pos, std::memory_order_release);
#endif
  }
  static void load_pair(const IndexLine& line, std::uint64_t& pos, std::uint64_t& word) noexcept {
#if defined(__x86_64__)
    asm volatile("" ::: "memory");
    const __m128i v = _mm_load_si128(reinterpret_cast<const __m128i*>(&line));
    asm volatile("" ::: "memory");
    pos = static_cast<std::uint64_t>(_mm_cvtsi128_si64(v));
    word = static_cast<std::uint64_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(v, v)));
#else
    // Not reached: no ring carries here (carry_supported()); the tail alone, as load_tail.
    pos = line.pos.load(std::memory_order_acquire);
    word = 0;
#endif
  }
  [[nodiscard]] std::uint64_t load_tail() const noexcept {
    // acquire: pairs with the release / seq_cst store of tail in store_tail(); the slot
    // contents written before it are visible.
    return control_->producer.pos.load(std::memory_order_acquire);
  }
  static void store_tail(RingControl& control, bool notify_sleepers,
                         std::uint64_t new_tail) noexcept {
    if (notify_sleepers) {
      // seq_cst: pairs with the acquire load of tail in load_tail() (slot contents), and
      // is the publish of the EventCount argument (event_count.hpp) for a sleeping consumer.
      control.producer.pos.store(new_tail, std::memory_order_seq_cst);
      control.wait.data.notify_one();
    } else {
      // release: pairs with the acquire load of tail in load_tail(); the slot writes
      // before it become visible to the consumer.
      control.producer.pos.store(new_tail, std::memory_order_release);
    }
  }
  static void store_head(RingControl& control, bool notify_sleepers,
                         std::uint64_t new_head) noexcept {
    if (notify_sleepers) {
      // seq_cst: pairs with the acquire load of head in refill_room(), and is the publish of
      // the EventCount argument (event_count.hpp) for a sleeping producer.
      control.consumer.pos.store(new_head, std::memory_order_seq_cst);
      control.wait.space.notify_one();
    } else {
      // release: pairs with the acquire load of head in refill_room(); our slot reads are
      // done before the producer may overwrite them.
      control.consumer.pos.store(new_head, std::memory_order_release);
    }
  }

  RingControl* control_ = nullptr;
  std::uint64_t mask_ = 0;        // capacity - 1
  std::uint64_t bound_ = 0;       // capacity; 0 once corrupted (no reloaded value passes)
  std::uint64_t tail_ = 0;        // producer: own position, the next slot to write
  std::uint64_t limit_ = 0;       // producer: last head seen + capacity
  std::uint64_t head_ = 0;        // consumer: own position, the next slot to read
  std::uint64_t tail_cache_ = 0;  // consumer: last tail seen
  bool notify_ = false;           // futex ring: publishes notify the EventCounts
  bool corrupted_ = false;        // what corrupted() reports (the paths test bound_)
  std::uint8_t empty_polls_ = 0;  // consumer: reloads in a row that found the ring empty
  bool streaming_ = false;        // consumer: the last reload found > 1 item (single-item
                                  // reads) or a whole batch (batch reads)
  bool carries_ = false;          // carried items (top of this file)
};

static_assert(sizeof(SpscCore) == kCacheLine, "the hot fields share one cache line");

}  // namespace ringpool::ipc::detail
