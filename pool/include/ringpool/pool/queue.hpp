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
//    slot goes through a one-off payload segment handed over by reference (the slot
//    carries the reference; docs/codec.md, "Any size"). Above QueueOptions::max_payload
//    it throws PayloadTooLarge before anything is enqueued.
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
//    maxsize is given back as well.
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
#include <sys/types.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "ringpool/ipc/byte_ring.hpp"
#include "ringpool/ipc/errors.hpp"
#include "ringpool/ipc/ring_options.hpp"
#include "ringpool/pool/codec.hpp"
#include "ringpool/pool/detail/payload.hpp"
#include "ringpool/pool/errors.hpp"

namespace ringpool::pool {

// Slot size used for types without a fixed encoded size when none is given.
inline constexpr std::size_t kDefaultQueueSlotSize = 1024;
// The bound of a queue created with maxsize 0 (Python's unbounded Queue()).
inline constexpr std::size_t kUnboundedQueueMaxsize = std::size_t{1} << 14;

// Every member has an initialiser, so designated initialisers may name any subset.
struct QueueOptions {
  // Largest encoded item in bytes. 0: Codec<T>::fixed_size for fixed-size T, else
  // kDefaultQueueSlotSize. On open: 0 accepts the creator's, anything else must match.
  std::size_t slot_size = 0;
  // Largest encoded item in bytes; larger items (of types without a fixed size) than
  // slot_size travel by reference up to this limit. Per handle: a put above it throws
  // PayloadTooLarge, a get above it DecodeError.
  std::size_t max_payload = std::size_t{1} << 30;
  // How blocked puts and gets wait: futex (default: sleep, cores stay idle), spin, yield.
  ipc::WaitStrategy wait = ipc::WaitStrategy::futex;
  // Named queues: the creating handle (and its copies) remove the name from /dev/shm
  // when the last of them goes away; processes that opened it keep their mapping.
  bool unlink_on_destroy = true;
  // Named queues: permission bits of the segment.
  mode_t mode = 0600;
  // Named queues, open: accept a segment owned by another uid or open to group/other
  // (a mode other than 0600). Only for queues deliberately shared with other users, all
  // of whom are trusted: any of them can write garbage into the queue or read its items.
  bool allow_untrusted = false;
};

// Per-call claim records in a queue's header: at most this many gets at once are tracked
// for crash recovery (further concurrent gets run untracked).
inline constexpr std::size_t kQueueClaimRecords = 64;
// Per-put records in a queue's header: at most this many puts at once are tracked for
// crash recovery (further concurrent puts run untracked, see the header comment).
inline constexpr std::size_t kQueuePutRecords = 32;
// How often a blocked get looks for dead consumers' claims and dead producers' tickets.
inline constexpr std::chrono::milliseconds kQueueRecoveryPeriod{100};

namespace detail {

// The type-independent part of a queue, in queue.cpp: the segment with its header
// and ring, the exact-maxsize counter and the wait for space (an ipc::EventCount).
class QueueCore {
 public:
  struct Spec {
    std::size_t maxsize = 0;
    std::size_t slot_size = 0;      // resolved (never 0)
    std::size_t min_slot_size = 0;  // fixed size of T, 0 when variable
    std::uint64_t type_tag = 0;
    std::string type_name;  // for error messages
  };

  static std::shared_ptr<QueueCore> create_anonymous(const Spec& spec, const QueueOptions& opts);
  static std::shared_ptr<QueueCore> create_named(std::string_view name, const Spec& spec,
                                                 const QueueOptions& opts);
  // spec.maxsize is ignored; spec.slot_size 0 accepts the stored one.
  static std::shared_ptr<QueueCore> open_named(std::string_view name, const Spec& spec,
                                               const QueueOptions& opts);

  using Deadline = std::optional<std::chrono::steady_clock::time_point>;

  // Takes one unit of maxsize for a put; ok, timeout (still full at the deadline) or
  // closed.
  ipc::OpStatus reserve(Deadline deadline);
  // Non-blocking reserve: true when a unit was taken; false when full. Throws Closed.
  bool try_reserve();
  // Returns a unit taken by reserve() whose item was never enqueued.
  void cancel_reservation() noexcept;
  // After a get removed an item (its slot released): frees its unit, wakes producers.
  void item_taken() noexcept;

  // A claim record of this process for one get; empty when all are taken.
  class Claim {
   public:
    Claim() noexcept = default;
    Claim(Claim&& other) noexcept
        : core_(std::exchange(other.core_, nullptr)), index_(other.index_) {}
    Claim& operator=(Claim&&) = delete;
    ~Claim();
    [[nodiscard]] explicit operator bool() const noexcept { return core_ != nullptr; }
    // The record's claim word, for MpmcByteConsumer::pop_tracked.
    [[nodiscard]] ipc::ClaimWord& word() const noexcept;
    // Called while the item is decoded, before its slot is released: from here on a
    // death means the unit must be given back by whoever recovers this record.
    void mark_taken() const noexcept;
    // The item is out of the ring and its unit given back: the record is idle again.
    void done() const noexcept;

   private:
    friend class QueueCore;
    Claim(QueueCore* core, std::size_t index) noexcept : core_(core), index_(index) {}
    QueueCore* core_ = nullptr;
    std::size_t index_ = 0;
  };
  [[nodiscard]] Claim acquire_claim() noexcept;

  // A put's record of this process (see the header comment), taken right after its unit is
  // reserved; untracked when all are taken (then the queue's count of untracked puts holds
  // it). Frees the record when destroyed.
  class PutRecord {
   public:
    PutRecord(PutRecord&& other) noexcept
        : core_(std::exchange(other.core_, nullptr)), index_(other.index_) {}
    PutRecord& operator=(PutRecord&&) = delete;
    ~PutRecord();
    // The record's claim word, for MpmcByteProducer::claim_tracked / commit_tracked.
    [[nodiscard]] ipc::ClaimWord& word() noexcept;
    // After reserve(): the put holds a unit of maxsize.
    void hold_unit() noexcept;
    // Before the unit is given back or travels with the committed item.
    void drop_unit() noexcept;

   private:
    friend class QueueCore;
    PutRecord(QueueCore* core, std::size_t index) noexcept : core_(core), index_(index) {}
    static constexpr std::size_t kUntracked = ~std::size_t{0};
    QueueCore* core_ = nullptr;
    std::size_t index_ = kUntracked;
    ipc::ClaimWord scratch_{0};  // the word of an untracked put (nobody reads it)
  };
  [[nodiscard]] PutRecord acquire_put_record() noexcept;

  // Recovers at most one dead consumer's claimed item: f(bytes) gets its payload (the
  // slot is released after f, also if f throws) and true is returned; the dead
  // consumer's unit is given back either way. False when there was none to recover.
  // Throws Corrupted for `operation` when the held slot's length is impossible (the slot
  // is released, never followed).
  bool recover_dead(const char* operation,
                    const std::function<void(std::span<const std::byte>)>& f);
  // Settles the records of dead producers: a ticket claimed and never committed is published
  // as a tombstone, a unit held without a slot is given back. True when a tombstone was
  // published (items behind it may be ready now). One process at a time does this (a lock
  // word with a dead-owner takeover); false at once when another one is at it.
  bool recover_dead_puts() noexcept;

  // With a unit reserved (record.hold_unit() done): claims a ring slot of n bytes through
  // `producer`, tracked in `record`. Blocking (`blocking`): waits until `deadline` for a
  // slot (one is normally free at once; a slow consumer may still hold the one this ticket
  // needs). Non-blocking: one attempt. On failure the reservation is returned and the span
  // is empty, `status` says why (timeout / closed). Throws Corrupted (reservation returned)
  // on impossible ring state. Publish with commit_put().
  std::span<std::byte> claim_reserved(ipc::MpmcByteProducer& producer, PutRecord& record,
                                      std::size_t n, bool blocking, Deadline deadline,
                                      ipc::OpStatus& status, const char* operation);
  // Publishes the slot of claim_reserved() with an n-byte item; its unit travels with it.
  static void commit_put(ipc::MpmcByteProducer& producer, PutRecord& record, std::size_t n);
  // Gives back the units of the tombstones `consumer` skipped.
  void give_back_skipped(ipc::MpmcByteConsumer& consumer) noexcept;

  // Ends of the ring for one call: handles are cheap views (the core keeps the mapping),
  // so every call has its own and threads share none.
  [[nodiscard]] ipc::MpmcByteProducer producer() const noexcept { return producer_.clone(); }
  [[nodiscard]] ipc::MpmcByteConsumer consumer() const noexcept { return consumer_.clone(); }
  // Throws Corrupted for `operation` ("get", "try_get", ...).
  [[noreturn]] void throw_corrupted(const char* operation) const;
  [[nodiscard]] std::size_t maxsize() const noexcept { return maxsize_; }
  [[nodiscard]] std::size_t slot_size() const noexcept { return slot_size_; }
  // Large items: the length of a ring message that holds a PayloadRef (longer than any
  // item in a slot; 0 when items never go by reference: types of a fixed size), the
  // queue's payload segment names and this handle's limit.
  [[nodiscard]] std::size_t ref_length() const noexcept { return ref_length_; }
  [[nodiscard]] const PayloadNames& payloads() const noexcept { return payloads_; }
  [[nodiscard]] std::size_t max_payload() const noexcept { return max_payload_; }
  [[nodiscard]] std::size_t items_approx() const noexcept;
  [[nodiscard]] const std::string& name() const noexcept;
  void close() noexcept;
  [[nodiscard]] bool is_closed() const noexcept { return producer_.is_closed(); }

  struct Shared;  // the header at the start of the segment (queue.cpp)

  // The creating handle's last copy in the creating process removes the payload segments
  // left behind (an anonymous queue's, or a named one's when it unlinks the name).
  ~QueueCore();
  QueueCore(const QueueCore&) = delete;
  QueueCore& operator=(const QueueCore&) = delete;

 private:
  QueueCore() = default;
  static std::shared_ptr<QueueCore> init(std::shared_ptr<ipc::Segment> segment, const Spec& spec,
                                         const QueueOptions& opts);

  std::shared_ptr<ipc::Segment> segment_;
  Shared* shared_ = nullptr;
  ipc::MpmcByteProducer producer_;  // templates for the per-call ends
  ipc::MpmcByteConsumer consumer_;
  std::size_t maxsize_ = 0;
  std::size_t slot_size_ = 0;
  ipc::WaitStrategy wait_ = ipc::WaitStrategy::futex;
  std::size_t ref_length_ = 0;
  PayloadNames payloads_;
  std::size_t max_payload_ = 0;
  bool removes_payloads_ = false;  // the creator's handle (see ~QueueCore)
};

// The shared unfinished-task count of a JoinableQueue (queue.cpp): an anonymous segment
// with the count and the EventCount join() sleeps on.
class JoinCounter {
 public:
  static std::shared_ptr<JoinCounter> create_anonymous();

  // One more unfinished task; called before its item is enqueued.
  void add() noexcept;
  // The item of the last add() was not enqueued after all.
  void cancel_add() noexcept;
  // One task finished. Throws InvalidState when no task is unfinished.
  void task_done();
  // True once no task is unfinished; false at `deadline` (nullopt: waits without limit).
  bool wait_all_done(std::optional<std::chrono::steady_clock::time_point> deadline);
  [[nodiscard]] std::size_t unfinished_approx() const noexcept;

  struct Shared;  // the segment's contents (queue.cpp)

 private:
  JoinCounter() = default;
  // Decrements unless the count is 0; returns the value before (0: nothing changed).
  std::uint64_t decrement() noexcept;

  std::shared_ptr<ipc::Segment> segment_;
  Shared* shared_ = nullptr;
};

template <class T>
QueueCore::Spec queue_spec(std::size_t maxsize, const QueueOptions& opts, bool opening) {
  QueueCore::Spec spec;
  spec.maxsize = maxsize == 0 ? kUnboundedQueueMaxsize : maxsize;
  if constexpr (FixedSize<T>) spec.min_slot_size = Codec<T>::fixed_size;
  spec.slot_size = opts.slot_size;
  if (spec.slot_size == 0 && !opening) {
    spec.slot_size = spec.min_slot_size != 0 ? spec.min_slot_size : kDefaultQueueSlotSize;
  }
  spec.type_tag = type_tag<T>();
  spec.type_name = demangle(typeid(T).name());
  return spec;
}

}  // namespace detail

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

  // Wakes every blocked put and get; see the header comment. Idempotent.
  void close() noexcept { core_->close(); }
  [[nodiscard]] bool is_closed() const noexcept { return core_->is_closed(); }

 private:
  explicit Queue(std::shared_ptr<detail::QueueCore> core) : core_(std::move(core)) {}

  std::size_t checked_size(const T& value) const {
    const std::size_t n = Codec<T>::size(value);
    if (n > core_->slot_size()) {
      if (core_->ref_length() == 0) throw PayloadTooLarge(n, core_->slot_size(), "queue item");
      if (n > core_->max_payload()) {
        throw PayloadTooLarge(n, core_->max_payload(), "queue item",
                              PayloadTooLarge::OverLimit{"QueueOptions::max_payload"});
      }
    }
    if (core_->is_closed()) throw_closed("put");
    return n;
  }

  // An item larger than the slot, encoded straight into a new payload segment (before a
  // unit is reserved: a long encode holds no capacity); empty for an item that fits.
  detail::OutgoingPayload encode_large(const T& value, std::size_t n) const {
    if (n <= core_->slot_size()) return {};
    detail::OutgoingPayload large = detail::OutgoingPayload::create(core_->payloads(), n);
    Codec<T>::encode(value, large.bytes());  // throws: the segment is unlinked
    return large;
  }

  // An item as it came out of the ring: its bytes, or a reference to a payload segment
  // (taken, and its name unlinked, here).
  T decode_item(std::span<const std::byte> bytes) const {
    if (core_->ref_length() != 0 && bytes.size() == core_->ref_length()) {
      const detail::IncomingPayload payload = detail::IncomingPayload::take(
          core_->payloads(), bytes.first(sizeof(detail::PayloadRef)), core_->max_payload());
      return Codec<T>::decode(payload.bytes());
    }
    return Codec<T>::decode(bytes);
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
  // With `large` (the item is in a payload segment) the slot carries its reference.
  bool enqueue_reserved(const T& value, std::size_t n, detail::QueueCore::PutRecord& record,
                        detail::OutgoingPayload& large, bool blocking,
                        detail::QueueCore::Deadline deadline,
                        std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    // An encoder that may throw writes into a buffer first: a claimed ring slot must
    // always be committed.
    constexpr bool kNoexceptEncode = noexcept(Codec<T>::encode(value, std::span<std::byte>()));
    std::vector<std::byte> bytes;
    if constexpr (!kNoexceptEncode) {
      if (!large) {
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
    ipc::MpmcByteProducer producer = core_->producer();
    ipc::OpStatus status = ipc::OpStatus::ok;
    const char* operation = blocking ? "put" : "try_put";
    if (large) n = core_->ref_length();
    const std::span<std::byte> room =
        core_->claim_reserved(producer, record, n, blocking, deadline, status, operation);
    if (room.data() == nullptr) {
      if (!blocking) return false;
      if (status == ipc::OpStatus::closed) throw_closed("put");
      throw_full(timeout);
    }
    if (large) {
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
    auto visit = [&](std::span<const std::byte> bytes) {
      taken = true;
      if (claim) claim.mark_taken();
      out.emplace(decode_item(bytes));
    };
    try {
      if (claim) {
        static_cast<void>(consumer.try_pop_tracked(claim.word(), visit));
      } else {
        static_cast<void>(consumer.try_pop_with(visit));
      }
    } catch (...) {
      core_->give_back_skipped(consumer);
      if (taken) finish_get(claim);
      throw;
    }
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
    core_->recover_dead(operation,
                        [&](std::span<const std::byte> bytes) { out.emplace(decode_item(bytes)); });
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
      bool taken = false;
      auto visit = [&](std::span<const std::byte> bytes) {
        taken = true;
        if (claim) claim.mark_taken();
        out.emplace(decode_item(bytes));
      };
      try {
        status = claim ? consumer.pop_tracked(claim.word(), visit, slice)
                       : consumer.pop_with(visit, slice);
      } catch (const ipc::IpcError& e) {
        core_->give_back_skipped(consumer);
        if (taken) finish_get(claim);
        if (e.code() == ipc::IpcErrc::corrupt_indices) core_->throw_corrupted("get");
        throw;
      } catch (...) {
        core_->give_back_skipped(consumer);
        if (taken) finish_get(claim);
        throw;
      }
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

// Python's multiprocessing.JoinableQueue(maxsize): a Queue<T> that also counts unfinished
// tasks. Every successful put adds one; a consumer calls task_done() once per item it has
// finished with; join() blocks until the count is back to 0. Copies (also in forked
// children) share the queue and the count. Anonymous only (create it before fork).
// Not crash-safe for join(): a consumer that dies between get and task_done leaves its task
// unfinished, so join() without a timeout would wait for ever (as Python's); use
// join(timeout).
template <class T>
class JoinableQueue {
 public:
  using value_type = T;

  // maxsize 0: kUnboundedQueueMaxsize, as Queue.
  explicit JoinableQueue(std::size_t maxsize = 0, QueueOptions options = {})
      : queue_(maxsize, options), counter_(detail::JoinCounter::create_anonymous()) {}

  // As Queue::put / try_put; a put that fails (throws or returns false) adds no task.
  void put(const T& value) {
    put_counted([&] { queue_.put(value); });
  }
  void put(const T& value, std::chrono::nanoseconds timeout) {
    put_counted([&] { queue_.put(value, timeout); });
  }
  [[nodiscard]] bool try_put(const T& value) {
    counter_->add();
    bool put = false;
    try {
      put = queue_.try_put(value);
    } catch (...) {
      counter_->cancel_add();
      throw;
    }
    if (!put) counter_->cancel_add();
    return put;
  }
  // As Queue::get / try_get (a get does not finish a task: call task_done()).
  [[nodiscard]] T get() { return queue_.get(); }
  [[nodiscard]] T get(std::chrono::nanoseconds timeout) { return queue_.get(timeout); }
  [[nodiscard]] std::optional<T> try_get() { return queue_.try_get(); }

  // One task is finished. Throws InvalidState when called more often than items were put
  // (Python's ValueError "task_done() called too many times"). Any process, any thread.
  void task_done() { counter_->task_done(); }
  // Blocks until every item put so far has been task_done()'d.
  void join() { static_cast<void>(counter_->wait_all_done(std::nullopt)); }
  // Same, at most `timeout`: false when tasks were still unfinished.
  [[nodiscard]] bool join(std::chrono::nanoseconds timeout) {
    return counter_->wait_all_done(std::chrono::steady_clock::now() + timeout);
  }
  // Tasks put and not yet task_done()'d (racy by nature).
  [[nodiscard]] std::size_t unfinished_tasks_approx() const noexcept {
    return counter_->unfinished_approx();
  }

  [[nodiscard]] std::size_t size_approx() const noexcept { return queue_.size_approx(); }
  [[nodiscard]] bool empty() const noexcept { return queue_.empty(); }
  [[nodiscard]] bool full() const noexcept { return queue_.full(); }
  [[nodiscard]] std::size_t maxsize() const noexcept { return queue_.maxsize(); }
  [[nodiscard]] std::size_t slot_size() const noexcept { return queue_.slot_size(); }
  void close() noexcept { queue_.close(); }
  [[nodiscard]] bool is_closed() const noexcept { return queue_.is_closed(); }

 private:
  template <class Put>
  void put_counted(Put&& put) {
    // Counted before the item can be seen: its task_done() never finds the count at 0.
    counter_->add();
    try {
      put();
    } catch (...) {
      counter_->cancel_add();
      throw;
    }
  }

  Queue<T> queue_;
  std::shared_ptr<detail::JoinCounter> counter_;
};

// Python's multiprocessing.SimpleQueue: put, get, empty, close and nothing else, over a
// Queue<T> of maxsize 0 (kUnboundedQueueMaxsize items; put blocks only beyond that).
template <class T>
class SimpleQueue {
 public:
  using value_type = T;

  explicit SimpleQueue(QueueOptions options = {}) : queue_(0, options) {}

  // Throws PayloadTooLarge, Closed.
  void put(const T& value) { queue_.put(value); }
  // Blocks while empty; throws Closed once closed and drained.
  [[nodiscard]] T get() { return queue_.get(); }
  // Racy by nature, as Python's.
  [[nodiscard]] bool empty() const noexcept { return queue_.empty(); }
  // As Queue::close(): puts fail at once, gets drain then throw Closed.
  void close() noexcept { queue_.close(); }

 private:
  Queue<T> queue_;
};

}  // namespace ringpool::pool
