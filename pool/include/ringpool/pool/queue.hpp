#pragma once
// Queue<T>: Python's multiprocessing.Queue(maxsize) over a bounded lock-free MPMC byte
// ring in shared memory.
//
//   ringpool::pool::Queue<std::string> q(1);       // maxsize = 1, as the baozi example
//   Process producer([q]() mutable { q.put("pork"); });
//   producer.start();
//   std::string baozi = q.get();                   // blocks until an item arrives
//
// Create the queue before the processes that use it: the anonymous mapping is inherited
// across fork, and copies of the handle (captured by a Process's callable) all refer to
// the same queue. Unrelated processes (or spawned ones) use the named form:
// Queue<T>::create("name", maxsize) in one, Queue<T>::open("name") in the others.
//
// Semantics, as Python's Queue where it has them:
//  - maxsize is exact: at most maxsize items are in the queue, whatever capacity the
//    ring rounds up to. maxsize 0 (Python's "infinite") means "no practical bound":
//    kUnboundedQueueMaxsize (16384) items, and maxsize() reports that number. The ring's
//    memory is mapped and touched at creation: 16384 * round_up(16 + slot_size, 16) bytes,
//    17 MB with the default 1 KiB slots, 512 KiB for an int queue.
//  - put blocks while full (Full after the timeout), get blocks while empty (Empty after
//    the timeout). try_put / try_get never block.
//  - close(): every blocked put/get wakes; puts fail with Closed at once; gets drain what
//    is left, then fail with Closed.
//  - Any size travels: an item of a type without a fixed size whose encoding exceeds the
//    slot goes by reference (the slot carries it): up to the arena's size into the queue's
//    payload arena (QueueOptions::arena_bytes, in the queue's own segment, memory reused
//    item after item; docs/ipc.md, "Queue payload arena"), else, or while the arena is
//    full, through a one-off payload segment (docs/codec.md, "Any size"). Above
//    QueueOptions::max_payload it throws PayloadTooLarge before anything is enqueued.
//  - Shared memory is hostile: impossible shared state (a peer wrote garbage into the
//    mapping) makes put/get throw Corrupted instead of waiting, and try_put/try_get throw
//    it at once; state that merely looks full or empty forever ends in Full/Empty at the
//    timeout (a call without a timeout waits, as for a slow peer).
// Thread-safe: any thread of any process holding a handle may put and get.
//
// Crash safety (docs/ipc.md, "Queue crash safety"), exactly:
//  - Guaranteed: a consumer killed inside get/try_get while its item is still in the ring
//    (claimed, not yet decoded and released) loses nothing: the queue header holds a
//    table of kQueueClaimRecords per-call claim records (owner pid + ticket), and a later
//    get/try_get of any process that finds the queue empty (a blocked get also every
//    kQueueRecoveryPeriod) takes over the record of an owner that no longer exists
//    (kill(pid, 0) fails with ESRCH: reaped, so not a zombie) and returns that item, as
//    the pool's shared ring does through its claim words. A dead consumer's unit of
//    maxsize is given back as well. Such a consumer also leaves no payload segment (of an
//    item outside the arena) behind once a get has found the queue empty: its record names
//    the segment until the name is unlinked, and the recovering get unlinks it.
//  - Not guaranteed: an item whose slot the dead consumer had already released (it was
//    decoded in the dying process) is lost with it, as if the get had returned; a kill in
//    the few instructions between clearing its record and giving back its unit costs one
//    unit of capacity; gets beyond kQueueClaimRecords concurrent ones run untracked; a
//    recycled pid makes a dead owner look alive (its record waits until that pid exits).
//  - Guaranteed: a producer killed inside put/try_put does not wedge the queue. Each put
//    holds one of kQueuePutRecords put records (owner pid, the ticket it claims, whether it
//    holds a unit of maxsize). A get/try_get that finds the queue empty (a blocked get also
//    every kQueueRecoveryPeriod) takes over the record of a dead producer: a ticket it had
//    claimed and not committed is published as a tombstone that gets skip (so every later
//    item is delivered, in order, once), and its unit of maxsize is given back (when the
//    tombstone is skipped, or at once when it died before claiming a slot).
//  - Not guaranteed for producers: the dead put's item is lost (it was never in the queue:
//    the put did not return); a kill in the few instructions between reserving a unit and
//    taking a record, between a failed claim and clearing its intent, or between clearing
//    the record and giving back a unit, costs one unit of capacity; while a put runs untracked
//    (more than kQueuePutRecords at once) or died untracked, no dead producer's ticket is decided
//    (consumers wait at it, as before: a get with a timeout ends in Empty); a stopped (not killed)
//    producer holds its ticket.
//
// Parts: the options (queue_options.hpp), the type-independent core
// (detail/queue_core.hpp), items as bytes and large items by reference
// (detail/queue_items.hpp), JoinableQueue and SimpleQueue (queue_variants.hpp).
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ringpool/ipc/byte_ring.hpp"
#include "ringpool/ipc/errors.hpp"
#include "ringpool/ipc/segment.hpp"
#include "ringpool/pool/codec.hpp"
#include "ringpool/pool/detail/payload.hpp"
#include "ringpool/pool/detail/queue_core.hpp"
#include "ringpool/pool/detail/queue_items.hpp"
#include "ringpool/pool/errors.hpp"
#include "ringpool/pool/queue_options.hpp"

namespace ringpool::pool {

template <class T>
class Queue {
  static_assert(detail::kMustTravel<T>);  // a T without a Codec stops the build there

 public:
  using value_type = T;

  // An anonymous queue holding at most `maxsize` items (0: kUnboundedQueueMaxsize).
  // Throws InvalidArgument for a slot size smaller than T's fixed size.
  explicit Queue(std::size_t maxsize, QueueOptions options = {})
      : core_(detail::QueueCore::create_anonymous(detail::queue_spec<T>(maxsize, options, false),
                                                  options)) {}

  // Named queue for unrelated processes (maxsize 0: kUnboundedQueueMaxsize); O_EXCL
  // (ipc::IpcError already_exists when the name is taken).
  [[nodiscard]] static Queue create(std::string_view name, std::size_t maxsize,
                                    QueueOptions options = {}) {
    return Queue(detail::QueueCore::create_named(
        name, detail::queue_spec<T>(maxsize, options, false), options));
  }
  // Opens a named queue; QueueMismatch when it holds another type or slot size,
  // InvalidArgument when the segment is not a ringpool queue, ipc::IpcError not_found.
  [[nodiscard]] static Queue open(std::string_view name, QueueOptions options = {}) {
    return Queue(
        detail::QueueCore::open_named(name, detail::queue_spec<T>(0, options, true), options));
  }
  // Removes a queue's name (its users keep their mappings); false if it did not exist.
  static bool unlink(std::string_view name) { return ipc::Segment::unlink(name); }

  // Blocks while full. Throws PayloadTooLarge (nothing enqueued), Closed.
  void put(const T& value) { put_impl(value, std::nullopt); }
  // Waits at most `timeout` for room; Full when the queue stayed full.
  void put(const T& value, std::chrono::nanoseconds timeout) { put_impl(value, timeout); }
  // False when full. Throws PayloadTooLarge, Closed.
  // Never waits. Throws PayloadTooLarge, Closed, Corrupted.
  [[nodiscard]] bool try_put(const T& value) {
    const std::size_t n = checked_size(value);
    detail::OutgoingPayload large = encode_large(value, n);
    if (!core_->try_reserve()) return false;
    // Taken once the unit is held (a put waiting for room holds no record).
    detail::QueueCore::PutRecord record = core_->acquire_put_record();
    record.hold_unit();
    return enqueue_reserved(value, n, record, large, false, std::nullopt);
  }

  // Blocks while empty. Throws Closed once the queue is closed and drained,
  // DecodeError when the item's bytes do not decode as T (the item is dropped).
  [[nodiscard]] T get() { return get_impl(std::nullopt); }
  // Waits at most `timeout`; Empty when nothing arrived.
  [[nodiscard]] T get(std::chrono::nanoseconds timeout) { return get_impl(timeout); }
  // nullopt when empty (closed or not: see is_closed()). Never waits. Throws DecodeError,
  // Corrupted.
  [[nodiscard]] std::optional<T> try_get() {
    ipc::MpmcByteConsumer consumer = core_->consumer();
    std::optional<T> out = try_get_once(consumer);
    if (!out && !consumer.corrupted()) out = recover(consumer, "try_get");
    if (!out && consumer.corrupted()) core_->throw_corrupted("try_get");
    return out;
  }

  // Items in the queue, counting puts in progress; racy by nature (Python's qsize()).
  [[nodiscard]] std::size_t size_approx() const noexcept { return core_->items_approx(); }
  [[nodiscard]] bool empty() const noexcept { return size_approx() == 0; }
  [[nodiscard]] bool full() const noexcept { return size_approx() >= core_->maxsize(); }
  [[nodiscard]] std::size_t maxsize() const noexcept { return core_->maxsize(); }
  [[nodiscard]] std::size_t slot_size() const noexcept { return core_->slot_size(); }
  // The payload arena's size in bytes (0: none; see QueueOptions::arena_bytes), and the
  // bytes of its blocks claimed now by items in flight (racy by nature).
  [[nodiscard]] std::size_t arena_bytes() const noexcept { return core_->arena_bytes(); }
  [[nodiscard]] std::size_t arena_used_approx() const noexcept {
    return core_->arena_blocks_used() * kQueueArenaBlock;
  }

  // Wakes every blocked put and get; see the header comment. Idempotent.
  void close() noexcept { core_->close(); }
  [[nodiscard]] bool is_closed() const noexcept { return core_->is_closed(); }

 private:
  explicit Queue(std::shared_ptr<detail::QueueCore> core) : core_(std::move(core)) {}

  // The item's encoded size (detail/queue_items.hpp); Closed once the queue is closed.
  std::size_t checked_size(const T& value) const {
    const std::size_t n = detail::queue_item_size(*core_, value);
    if (core_->is_closed()) throw_closed("put");
    return n;
  }

  // Before the unit is reserved: an item larger than the slot that does not go to the arena
  // (too large for it, or no arena) is encoded into its payload segment here.
  detail::OutgoingPayload encode_large(const T& value, std::size_t n) const {
    if (core_->arena_fits(n)) return {};
    return detail::encode_large_item(*core_, value, n);
  }

  T decode_item(std::span<const std::byte> bytes, detail::ItemHold& hold) const {
    return detail::decode_queue_item<T>(*core_, bytes, hold);
  }

  [[noreturn]] void throw_closed(const char* operation) const {
    throw Closed(std::string("ringpool: Queue::") + operation +
                 (std::string_view(operation) == "put"
                      ? ": the queue is closed; nothing more can be put"
                      : ": the queue is closed and drained; no more items will arrive"));
  }

  [[noreturn]] void throw_full(std::optional<std::chrono::nanoseconds> timeout) const {
    throw Full("ringpool: Queue::put: the queue stayed full (maxsize " +
               std::to_string(core_->maxsize()) + ") for the whole timeout of " +
               std::to_string(timeout ? timeout->count() : 0) +
               " ns; get items, wait longer or use try_put");
  }

  void put_impl(const T& value, std::optional<std::chrono::nanoseconds> timeout) {
    const std::size_t n = checked_size(value);
    detail::OutgoingPayload large = encode_large(value, n);
    detail::QueueCore::Deadline deadline;
    if (timeout) deadline = std::chrono::steady_clock::now() + *timeout;
    switch (core_->reserve(deadline)) {
      case ipc::OpStatus::ok:
        break;
      case ipc::OpStatus::timeout:
        throw_full(timeout);
      case ipc::OpStatus::closed:
        throw_closed("put");
    }
    // Taken once the unit is held (a put waiting for room holds no record).
    detail::QueueCore::PutRecord record = core_->acquire_put_record();
    record.hold_unit();
    (void)enqueue_reserved(value, n, record, large, true, deadline, timeout);
  }

  // A unit is reserved (held in `record`), so the ring normally has a free slot for this
  // item (maxsize <= capacity); a consumer still copying out the slot of this ticket may
  // make it wait. Returns false (the unit given back) when a non-blocking call found no slot.
  // With `large` (the item is in a payload segment) the slot carries its reference; an item
  // larger than the slot without `large` goes to a run of the arena (encoded here, with the
  // unit held), or, when the arena has no room, to a payload segment after all.
  bool enqueue_reserved(const T& value, std::size_t n, detail::QueueCore::PutRecord& record,
                        detail::OutgoingPayload& large, bool blocking,
                        detail::QueueCore::Deadline deadline,
                        std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    // An encoder that may throw writes into a buffer first: a claimed ring slot must
    // always be committed.
    constexpr bool kNoexceptEncode = noexcept(Codec<T>::encode(value, std::span<std::byte>()));
    std::vector<std::byte> bytes;
    if constexpr (!kNoexceptEncode) {
      if (n <= core_->slot_size()) {
        bytes.resize(n);
        try {
          Codec<T>::encode(value, bytes);
        } catch (...) {
          record.drop_unit();
          core_->cancel_reservation();
          throw;
        }
      }
    }
    detail::QueueCore::ArenaBlocks blocks;
    if (n > core_->slot_size() && !large) {
      blocks = core_->arena_claim(record, n);
      try {
        if (blocks) {
          Codec<T>::encode(value, blocks.bytes);
        } else {
          large = detail::encode_large_item(*core_, value, n);
        }
      } catch (...) {
        if (blocks) core_->arena_abandon(record, blocks.handle);
        record.drop_unit();
        core_->cancel_reservation();
        throw;
      }
    }
    ipc::MpmcByteProducer producer = core_->producer();
    ipc::OpStatus status = ipc::OpStatus::ok;
    const char* operation = blocking ? "put" : "try_put";
    const std::size_t item_bytes = n;
    if (large || blocks) n = core_->ref_length();
    std::span<std::byte> room;
    try {
      room = core_->claim_reserved(producer, record, n, blocking, deadline, status, operation);
    } catch (...) {
      if (blocks) core_->arena_abandon(record, blocks.handle);
      throw;
    }
    if (room.data() == nullptr) {
      if (blocks) core_->arena_abandon(record, blocks.handle);
      if (!blocking) return false;
      if (status == ipc::OpStatus::closed) throw_closed("put");
      throw_full(timeout);
    }
    if (blocks) {
      const detail::ArenaRef ref{detail::kArenaRefMagic, item_bytes, blocks.handle, 0};
      std::memcpy(room.data(), &ref, sizeof ref);
      std::fill(room.begin() + sizeof ref, room.end(), std::byte{0});
    } else if (large) {
      std::memcpy(room.data(), &large.ref(), sizeof(detail::PayloadRef));
      std::fill(room.begin() + sizeof(detail::PayloadRef), room.end(), std::byte{0});
    } else if constexpr (kNoexceptEncode) {
      Codec<T>::encode(value, room);
    } else {
      std::copy(bytes.begin(), bytes.end(), room.begin());
    }
    detail::QueueCore::commit_put(producer, record, n);
    if (large) large.hand_over();  // the name is the consumer's now
    return true;
  }

  // One non-blocking get through a claim record (untracked when none is free).
  std::optional<T> try_get_once(ipc::MpmcByteConsumer& consumer) {
    std::optional<T> out;
    bool taken = false;
    detail::QueueCore::Claim claim = core_->acquire_claim();
    detail::ItemHold hold(*core_, &claim);
    auto visit = [&](std::span<const std::byte> bytes) {
      taken = true;
      if (claim) claim.mark_taken();
      out.emplace(decode_item(bytes, hold));
    };
    try {
      if (claim) {
        static_cast<void>(consumer.try_pop_tracked(claim.word(), visit));
      } else {
        static_cast<void>(consumer.try_pop_with(visit));
      }
    } catch (...) {
      hold.release();
      core_->give_back_skipped(consumer);
      if (taken) finish_get(claim);
      throw;
    }
    hold.release();  // the slot is released
    core_->give_back_skipped(consumer);
    if (taken) finish_get(claim);
    return out;
  }

  void finish_get(const detail::QueueCore::Claim& claim) noexcept {
    // The record is cleared first: a kill between the two costs a unit, never two.
    if (claim) claim.done();
    core_->item_taken();
  }

  // On an empty queue: the next item behind a dead producer's ticket (now a tombstone), or
  // an item a dead consumer had claimed, if any.
  std::optional<T> recover(ipc::MpmcByteConsumer& consumer, const char* operation) {
    std::optional<T> out;
    if (core_->recover_dead_puts()) {
      out = try_get_once(consumer);
      if (out || consumer.corrupted()) return out;
    }
    // The recovered item's run or segment (if any) is let go once recover_dead has released
    // its slot.
    detail::ItemHold hold(*core_, nullptr);
    core_->recover_dead(operation, [&](std::span<const std::byte> bytes) {
      out.emplace(decode_item(bytes, hold));
    });
    return out;
  }

  T get_impl(std::optional<std::chrono::nanoseconds> timeout) {
    using Clock = std::chrono::steady_clock;
    std::optional<Clock::time_point> deadline;
    if (timeout) deadline = Clock::now() + *timeout;
    ipc::MpmcByteConsumer consumer = core_->consumer();
    ipc::OpStatus status = ipc::OpStatus::ok;
    std::optional<T> out;
    for (;;) {
      out = try_get_once(consumer);
      if (!out && !consumer.corrupted()) out = recover(consumer, "get");
      if (out) break;
      if (consumer.corrupted()) core_->throw_corrupted("get");
      // Wait for an item in slices, looking for dead consumers' claims between them.
      std::chrono::nanoseconds slice = kQueueRecoveryPeriod;
      if (deadline) {
        const auto left =
            std::chrono::duration_cast<std::chrono::nanoseconds>(*deadline - Clock::now());
        slice = std::max(std::chrono::nanoseconds(0), std::min(slice, left));
      }
      detail::QueueCore::Claim claim = core_->acquire_claim();
      detail::ItemHold hold(*core_, &claim);
      bool taken = false;
      auto visit = [&](std::span<const std::byte> bytes) {
        taken = true;
        if (claim) claim.mark_taken();
        out.emplace(decode_item(bytes, hold));
      };
      try {
        status = claim ? consumer.pop_tracked(claim.word(), visit, slice)
                       : consumer.pop_with(visit, slice);
      } catch (const ipc::IpcError& e) {
        hold.release();
        core_->give_back_skipped(consumer);
        if (taken) finish_get(claim);
        if (e.code() == ipc::IpcErrc::corrupt_indices) core_->throw_corrupted("get");
        throw;
      } catch (...) {
        hold.release();
        core_->give_back_skipped(consumer);
        if (taken) finish_get(claim);
        throw;
      }
      hold.release();  // the slot is released
      core_->give_back_skipped(consumer);
      if (taken) finish_get(claim);
      if (status == ipc::OpStatus::closed) break;
      if (status == ipc::OpStatus::ok) break;
      if (deadline && Clock::now() >= *deadline) break;
    }
    if (out) status = ipc::OpStatus::ok;
    switch (status) {
      case ipc::OpStatus::ok:
        break;
      case ipc::OpStatus::timeout:
        throw Empty("ringpool: Queue::get: nothing arrived within the timeout of " +
                    std::to_string(timeout ? timeout->count() : 0) +
                    " ns; wait longer or use try_get");
      case ipc::OpStatus::closed:
        throw_closed("get");
    }
    return std::move(*out);
  }

  std::shared_ptr<detail::QueueCore> core_;
};

}  // namespace ringpool::pool

// JoinableQueue<T> and SimpleQueue<T>, so that this header keeps declaring every queue.
#include "ringpool/pool/queue_variants.hpp"
