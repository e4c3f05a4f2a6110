#pragma once
// QueueCore: the type-independent part of a Queue<T> (pool/src/queue*.cpp), and the spec
// a Queue<T> hands it.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "ringpool/ipc/byte_ring.hpp"
#include "ringpool/ipc/ring_options.hpp"
#include "ringpool/pool/codec.hpp"
#include "ringpool/pool/detail/payload.hpp"
#include "ringpool/pool/queue_options.hpp"

namespace ringpool::pool::detail {

// What travels through the ring in place of an item in the queue's payload arena (the
// message is ref_length() bytes, like a PayloadRef's, told apart by the magic). Plain data,
// read from shared memory as raw bytes and checked (QueueCore::arena_read) before use.
inline constexpr std::uint64_t kArenaRefMagic = 0x31414e5241515052ULL;  // "RPQARNA1"
struct ArenaRef {
  std::uint64_t magic = 0;   // kArenaRefMagic
  std::uint64_t bytes = 0;   // the encoded item's size
  std::uint64_t handle = 0;  // its blocks (QueueCore::ArenaBlocks)
  std::uint64_t reserved = 0;
};
static_assert(std::is_standard_layout_v<ArenaRef> && std::is_trivially_copyable_v<ArenaRef>);
static_assert(sizeof(ArenaRef) == sizeof(PayloadRef));

// The type-independent part of a queue, in queue.cpp, queue_claims.cpp and queue_puts.cpp: the
// segment with its header and ring, the exact-maxsize counter and the wait for space (an
// ipc::EventCount).
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
    // While decoding an item in the arena (before its slot is released): the record names
    // its blocks, so that a recoverer frees them if this process dies after the release.
    void hold_arena(std::uint64_t handle) const noexcept;
    // Before the blocks are freed (a death between the two costs them, never frees twice).
    // Also names a payload segment (a payload mark, payload_mark()) from reading its
    // reference until after its name is unlinked.
    void drop_arena() const noexcept;

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
    // The put's arena run (an arena handle): named from its claim until just before the
    // commit (or the free of an abandoned run), so that a recoverer frees it if this process
    // dies in between. No-ops when untracked.
    void hold_arena(std::uint64_t handle) noexcept;
    void drop_arena() noexcept;
    [[nodiscard]] bool tracked() const noexcept { return index_ != kUntracked; }

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
  // The payload arena (queue_arena.cpp): kQueueArenaBlock-byte blocks, 64 to a bitmap word;
  // an item of up to kQueueArenaMaxItem takes a run of blocks inside one word, a larger one
  // whole consecutive words. A handle names the run: (words - 1) << 32 | word << 16 |
  // first block << 8 | block count (1..64; 64 from block 0 for whole words); 0 names none.
  struct ArenaBlocks {
    std::uint64_t handle = 0;
    std::span<std::byte> bytes;
    [[nodiscard]] explicit operator bool() const noexcept { return handle != 0; }
  };
  // True when an n-byte item goes to the arena first: larger than the slot, and at most
  // kQueueArenaMaxItem or at most the arena's size.
  [[nodiscard]] bool arena_fits(std::size_t n) const noexcept;
  // Lock-free: claims a run for an n-byte item (arena_fits(n)) and names it in `record`;
  // empty when the arena has no such run or the put is untracked (the caller falls back to
  // a one-off payload segment).
  [[nodiscard]] ArenaBlocks arena_claim(PutRecord& record, std::size_t n) noexcept;
  // A claimed run that will not travel (the encoder threw, no slot): the record forgets it,
  // then it is freed.
  void arena_abandon(PutRecord& record, std::uint64_t handle) noexcept;
  // The item an ArenaRef message names (ref_length() bytes from the ring), checked: a run
  // inside the arena, claimed, and its size within the run and max_payload(). Throws
  // DecodeError for `operation` otherwise (nothing is freed: the reference is not trusted).
  struct ArenaItem {
    std::uint64_t handle = 0;
    std::span<const std::byte> bytes;
  };
  [[nodiscard]] ArenaItem arena_read(std::span<const std::byte> message) const;
  // Frees a run (after the item's slot is released). A handle that names no run inside the
  // arena is ignored.
  void arena_free(std::uint64_t handle) const noexcept;
  // A claim record's `arena` word names either a run (a handle) or the one-off payload
  // segment whose reference the get read (a payload mark: kPayloadMark | sender << 40 |
  // sequence), so that a recoverer unlinks the name of a get that died between the release
  // of the item's slot and the unlink. The mark of a ring message holding a PayloadRef
  // (its bytes as read, unchecked), or 0: not such a reference, or its numbers do not fit.
  [[nodiscard]] std::uint64_t payload_mark(std::span<const std::byte> message) const noexcept;
  [[nodiscard]] static bool is_payload_mark(std::uint64_t word) noexcept {
    return (word & kPayloadMark) != 0;
  }
  // Unlinks the payload segment a mark names (under this queue's names only).
  void remove_marked_payload(std::uint64_t mark) const noexcept;
  static constexpr std::uint64_t kPayloadMark = std::uint64_t{1} << 63;
  // Blocks claimed now (diagnostics and tests; racy).
  [[nodiscard]] std::size_t arena_blocks_used() const noexcept;
  [[nodiscard]] std::size_t arena_bytes() const noexcept;

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

  struct Shared;  // the header at the start of the segment (pool/src/queue_shared.hpp)

  // The creating handle's last copy in the creating process removes the payload segments
  // left behind (an anonymous queue's, or a named one's when it unlinks the name).
  ~QueueCore();
  QueueCore(const QueueCore&) = delete;
  QueueCore& operator=(const QueueCore&) = delete;

 private:
  QueueCore() = default;
  static std::shared_ptr<QueueCore> init(std::shared_ptr<ipc::Segment> segment, const Spec& spec,
                                         const QueueOptions& opts);
  [[nodiscard]] ArenaBlocks arena_claim_words(PutRecord& record, std::size_t n) noexcept;

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
  std::size_t arena_offset_ = 0;   // of the arena in the segment
  std::size_t arena_words_ = 0;    // 0: no arena
  bool removes_payloads_ = false;  // the creator's handle (see ~QueueCore)
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

}  // namespace ringpool::pool::detail
