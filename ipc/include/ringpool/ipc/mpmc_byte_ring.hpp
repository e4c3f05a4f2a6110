#pragma once
// MpmcByteRing: variable-size messages between any number of MpmcByteProducer and
// MpmcByteConsumer ends (lock-free), plus tracked pops for consumers that may die
// (try_pop_tracked on the consumer, recover_claim on the producer, see docs/ipc.md).
// Slot layout: byte_ring.hpp.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "ringpool/ipc/detail/byte_slot.hpp"
#include "ringpool/ipc/detail/mpmc_core.hpp"
#include "ringpool/ipc/detail/ring_header.hpp"
#include "ringpool/ipc/errors.hpp"
#include "ringpool/ipc/ring_end.hpp"
#include "ringpool/ipc/ring_options.hpp"
#include "ringpool/ipc/segment.hpp"

namespace ringpool::ipc {

namespace detail {
// What both ends of an MpmcByteRing share.
class MpmcByteEnd : public RingEnd {
 public:
  static constexpr RingKind kKind = RingKind::mpmc_bytes;

  MpmcByteEnd(MpmcByteEnd&& other) noexcept
      : RingEnd(std::move(other)),
        core_(std::exchange(other.core_, MpmcCore{})),
        slot_size_(std::exchange(other.slot_size_, 0)) {}
  MpmcByteEnd& operator=(MpmcByteEnd&& other) noexcept {
    RingEnd::operator=(std::move(other));
    core_ = std::exchange(other.core_, MpmcCore{});
    slot_size_ = std::exchange(other.slot_size_, 0);
    return *this;
  }

  [[nodiscard]] std::size_t max_message_size() const noexcept {
    return static_cast<std::size_t>(slot_size_);
  }
  // Sticky for this handle: impossible slot sequence, ticket or message length.
  [[nodiscard]] bool corrupted() const noexcept { return core_.corrupted(); }

 protected:
  MpmcByteEnd() noexcept = default;
  MpmcByteEnd(RingControl* control, const RingGeometry& geometry) noexcept
      : RingEnd(control, geometry), core_(control, geometry), slot_size_(geometry.slot_size) {}
  MpmcByteEnd(const MpmcByteEnd& from, CloneTag tag) noexcept
      : RingEnd(from, tag), core_(from.core_.fresh()), slot_size_(from.slot_size_) {}
  ~MpmcByteEnd() = default;

  static RingControl* validate(std::span<std::byte> region, RingGeometry& geometry) {
    return validate_region(region, any_byte_layout(kKind), geometry);
  }
  bool check_corrupt() const {
    if (core_.corrupted()) {
      throw_corrupt("MpmcByteRing: impossible slot sequence, ticket or message length");
    }
    return false;
  }

  MpmcCore core_;
  std::uint64_t slot_size_ = 0;
};
}  // namespace detail

class MpmcByteRing;

// ---------------------------------------------------------------------------------------
// A consumer's claim word for tracked pops: lives in shared memory (one per consumer,
// zero-initialised), written only by that consumer, read by the supervisor.
// Value 0: no claim; value t + 1: the consumer is claiming or holds ticket t.
using ClaimWord = std::atomic<std::uint64_t>;
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(sizeof(ClaimWord) == sizeof(std::uint64_t));

// Outcome of MpmcByteProducer::recover_claim().
enum class ClaimRecovery : std::uint8_t {
  none,       // the dead consumer held no claimed-but-unreleased slot
  recovered,  // it did: the payload was handed to f and the slot released
  undecided,  // a live consumer is mid-claim on the same ticket; call again shortly
  skipped,    // it held a tombstone (see recover_put_claim): released, f not called
};

// Outcome of MpmcByteProducer::recover_put_claim().
enum class PutRecovery : std::uint8_t {
  unclaimed,   // the dead producer held no ticket (no intent, or its claim never took one)
  published,   // the slot of the ticket it named was published (by it, or by the producer
               // that won that ticket)
  tombstoned,  // it held a ticket it never published: now published as a tombstone
  undecided,   // a producer that may still run may hold that ticket; call again later
};

// A producer end of an MpmcByteRing. Lock-free try_* calls; one thread at a time per
// handle (claim/commit state lives in the handle: give each thread its own clone()).
class MpmcByteProducer : public detail::MpmcByteEnd, public AttachableEnd<MpmcByteProducer> {
 public:
  MpmcByteProducer() noexcept = default;
  MpmcByteProducer(MpmcByteProducer&& other) noexcept
      : MpmcByteEnd(std::move(other)),
        claimed_pos_(other.claimed_pos_),
        claimed_(std::exchange(other.claimed_, detail::kNoClaim)) {}
  MpmcByteProducer& operator=(MpmcByteProducer&& other) noexcept {
    MpmcByteEnd::operator=(std::move(other));
    claimed_pos_ = other.claimed_pos_;
    claimed_ = std::exchange(other.claimed_, detail::kNoClaim);
    return *this;
  }

  // Another producer end of the same ring (no claim, corrupted() cleared).
  [[nodiscard]] MpmcByteProducer clone() const noexcept {
    return MpmcByteProducer(*this, CloneTag{});
  }

  // Lock-free. False when full. Throws IpcError(payload_too_large); ring untouched.
  [[nodiscard]] bool try_push(std::span<const std::byte> message) {
    std::span<std::byte> room = claim(message.size());
    if (room.data() == nullptr) return false;
    if (!message.empty()) std::memcpy(room.data(), message.data(), message.size());
    commit(message.size());
    return true;
  }
  // Zero-copy: takes the next ticket and returns room for n bytes (data() == nullptr when
  // full). The slot is this producer's until commit(): consumers wait at that ticket, so
  // commit promptly (commit(0) publishes an empty message). Throws payload_too_large, and
  // invalid_argument when this handle's previous claim is not committed yet.
  [[nodiscard]] std::span<std::byte> claim(std::size_t n) {
    if (n > slot_size_) detail::throw_payload_too_large(n, slot_size_);
    if (claimed_ != detail::kNoClaim) detail::throw_double_claim();
    std::uint64_t pos = 0;
    if (!core_.claim_enqueue(pos)) return {};
    claimed_pos_ = pos;
    claimed_ = n;
    return {core_.slot(pos) + detail::kBytePayloadOffset, n};
  }
  // Publishes the claimed slot with an n-byte message (n <= the claimed size, else
  // IpcError(invalid_argument)).
  void commit(std::size_t n) {
    if (claimed_ == detail::kNoClaim || n > claimed_) detail::throw_bad_commit(n, claimed_);
    detail::write_len(core_.slot(claimed_pos_), n);
    claimed_ = detail::kNoClaim;
    core_.publish(claimed_pos_);
  }

  // Tracked claim for producers that may die between claim and commit: as claim(n), and
  // records the ticket in `word` (ticket + 1) before taking it, clears it when the claim
  // fails. Commit with commit_tracked(), which clears it after publishing. `word` lives in
  // shared memory and belongs to this producer alone; recover_put_claim() reads it once the
  // producer is dead.
  [[nodiscard]] std::span<std::byte> claim_tracked(std::size_t n, ClaimWord& word) {
    if (n > slot_size_) detail::throw_payload_too_large(n, slot_size_);
    if (claimed_ != detail::kNoClaim) detail::throw_double_claim();
    std::uint64_t pos = 0;
    const bool claimed = core_.claim_enqueue(
        pos,
        // relaxed: sequenced before the claim CAS (release), which recover_put_claim()
        // acquires; so a recoverer that sees the ticket taken sees this intent too.
        [&](std::uint64_t p) { word.store(p + 1, std::memory_order_relaxed); },
        // relaxed: a stale intent of a live producer only leaves a recovery undecided.
        [&] { word.store(0, std::memory_order_relaxed); });
    if (!claimed) return {};
    claimed_pos_ = pos;
    claimed_ = n;
    return {core_.slot(pos) + detail::kBytePayloadOffset, n};
  }
  // Blocking tracked claim: ok with `out` set, timeout, or closed. Throws
  // payload_too_large, corrupt_indices.
  OpStatus claim_tracked(std::size_t n, ClaimWord& word, std::span<std::byte>& out,
                         std::optional<std::chrono::nanoseconds> timeout) {
    if (n > slot_size_) detail::throw_payload_too_large(n, slot_size_);
    return block(detail::Side::producer, timeout, [&] {
      out = claim_tracked(n, word);
      return out.data() != nullptr || check_corrupt();
    });
  }
  // commit(n) of a claim_tracked() slot, then clears `word`.
  void commit_tracked(std::size_t n, ClaimWord& word) {
    commit(n);
    // release: pairs with the acquire load of the word in recover_put_claim(); a recoverer
    // that sees it cleared sees the slot published.
    word.store(0, std::memory_order_release);
  }

  // Recovery of a dead producer's tracked claim (claim_tracked). Preconditions: the process
  // that owned `dead` is gone, and calls for one ring are serialised (one recoverer at a
  // time: a second one could tombstone the same ticket after a consumer freed its slot).
  // `live` are the claim words of every other producer that may still run (leave out those
  // of other dead producers, or two dead producers that named the same ticket stay
  // undecided); `untracked` counts producers claiming without a word (nullptr: none), and
  // any of them makes the call undecided. If the dead producer's ticket was taken and never
  // published, publishes its slot as a tombstone (length kTombstoneLen) that consumers
  // release and skip, so they no longer wait at that ticket. Idempotent. Lock-free; never
  // blocks.
  PutRecovery recover_put_claim(const ClaimWord& dead, std::span<const ClaimWord* const> live,
                                const std::atomic<std::uint64_t>* untracked) noexcept {
    // acquire (every load below): pairs with the release CAS of producer.pos in
    // claim_enqueue() (a live producer's intent and its count in `untracked` are stored
    // before its claim, so seeing the ticket taken shows them) and with the release clear in
    // commit_tracked() (a cleared word comes with its published slot).
    const std::uint64_t word = dead.load(std::memory_order_acquire);
    if (word == 0) return PutRecovery::unclaimed;
    const std::uint64_t pos = word - 1;
    const std::uint64_t next = core_.control()->producer.pos.load(std::memory_order_acquire);
    if (next <= pos) return PutRecovery::unclaimed;  // its claim CAS never happened
    // An unpublished ticket keeps every ticket a lap later unclaimed; beyond that (or a
    // garbage word) the ticket cannot be held any more.
    if (next - pos > core_.capacity()) return PutRecovery::published;
    if (core_.seq(pos).load(std::memory_order_acquire) != pos) return PutRecovery::published;
    if (untracked != nullptr && untracked->load(std::memory_order_acquire) != 0) {
      return PutRecovery::undecided;
    }
    for (const ClaimWord* other : live) {
      if (other != nullptr && other != &dead && other->load(std::memory_order_acquire) == word) {
        return PutRecovery::undecided;
      }
    }
    // Checked again: a live winner of the ticket may have published and cleared its word
    // after the first check.
    if (core_.seq(pos).load(std::memory_order_acquire) != pos) return PutRecovery::published;
    // Only dead producers held this ticket: the slot is ours to publish.
    detail::write_len(core_.slot(pos), detail::kTombstoneLen);
    core_.publish(pos);
    return PutRecovery::tombstoned;
  }
  // Blocking claim: ok with `out` set, timeout, or closed. Throws payload_too_large,
  // corrupt_indices.
  OpStatus claim(std::size_t n, std::span<std::byte>& out,
                 std::optional<std::chrono::nanoseconds> timeout) {
    if (n > slot_size_) detail::throw_payload_too_large(n, slot_size_);
    return block(detail::Side::producer, timeout, [&] {
      out = claim(n);
      return out.data() != nullptr || check_corrupt();
    });
  }
  OpStatus push(std::span<const std::byte> message,
                std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    if (message.size() > slot_size_) detail::throw_payload_too_large(message.size(), slot_size_);
    return block(detail::Side::producer, timeout,
                 [&] { return try_push(message) || check_corrupt(); });
  }

  // Recovery of a dead consumer's tracked pop (see MpmcByteConsumer::try_pop_tracked). Call
  // it once the process that owned `dead` is gone (reaped: precondition). `live` are the
  // claim words of every other consumer that may still run. If the dead consumer held a
  // claimed-but-unreleased slot, calls f(std::span<const std::byte>) on its payload and
  // releases the slot so producers are not wedged. Idempotent: calling it again on the
  // same word returns none. It lives on the producer end because the supervisor that
  // feeds the consumers is the one that recovers them; the argument is in docs/ipc.md.
  // Throws IpcError(corrupt_indices) if the held slot's length is impossible (the slot
  // is released first).
  template <class F>
  ClaimRecovery recover_claim(const ClaimWord& dead, std::span<const ClaimWord* const> live,
                              F&& f) {
    // seq_cst (all loads below): they must be ordered against the consumers' seq_cst
    // intent stores, claim CAS and slot release, see docs/ipc.md.
    const std::uint64_t word = dead.load(std::memory_order_seq_cst);
    if (word == 0) return ClaimRecovery::none;
    const std::uint64_t pos = word - 1;
    const std::uint64_t next = core_.control()->consumer.pos.load(std::memory_order_seq_cst);
    if (next <= pos || next - pos > (std::uint64_t{1} << 62)) return ClaimRecovery::none;
    if (core_.seq(pos).load(std::memory_order_seq_cst) != pos + 1) return ClaimRecovery::none;
    for (const ClaimWord* other : live) {
      if (other != nullptr && other != &dead && other->load(std::memory_order_seq_cst) == word) {
        return ClaimRecovery::undecided;
      }
    }
    if (core_.seq(pos).load(std::memory_order_seq_cst) != pos + 1) return ClaimRecovery::none;
    const std::byte* s = core_.slot(pos);
    const std::uint32_t len = detail::read_len(s);
    if (len == detail::kTombstoneLen) {
      core_.release(pos);
      return ClaimRecovery::skipped;
    }
    if (len > slot_size_) {
      core_.release(pos);
      core_.mark_corrupted();
      detail::throw_corrupt("MpmcByteRing::recover_claim: held slot has an impossible length");
    }
    detail::ReleaseGuard guard{[&] { core_.release(pos); }};
    f(std::span<const std::byte>(s + detail::kBytePayloadOffset, len));
    return ClaimRecovery::recovered;
  }

 private:
  MpmcByteProducer(detail::RingControl* control, const detail::RingGeometry& geometry) noexcept
      : MpmcByteEnd(control, geometry) {}
  MpmcByteProducer(const MpmcByteProducer& from, CloneTag tag) noexcept : MpmcByteEnd(from, tag) {}
  friend class MpmcByteRing;
  friend class AttachableEnd<MpmcByteProducer>;

  std::uint64_t claimed_pos_ = 0;
  std::size_t claimed_ = detail::kNoClaim;
};

// A consumer end of an MpmcByteRing. Lock-free try_* calls; one thread at a time per
// handle (give each thread its own clone()).
class MpmcByteConsumer : public detail::MpmcByteEnd, public AttachableEnd<MpmcByteConsumer> {
 public:
  MpmcByteConsumer() noexcept = default;
  MpmcByteConsumer(MpmcByteConsumer&&) noexcept = default;
  MpmcByteConsumer& operator=(MpmcByteConsumer&&) noexcept = default;

  // Another consumer end of the same ring (corrupted() cleared).
  [[nodiscard]] MpmcByteConsumer clone() const noexcept {
    return MpmcByteConsumer(*this, CloneTag{});
  }

  // Lock-free apart from f. Calls f(std::span<const std::byte>) on the next message in
  // place, then frees the slot (also if f throws). False when empty or corrupted().
  // Tombstones (recover_put_claim) on the way are released and counted (take_skipped()).
  template <class F>
  bool try_pop_with(F&& f) {
    for (;;) {
      std::uint64_t pos = 0;
      if (!core_.claim_dequeue(pos)) return false;
      const Visit v = visit_and_release(pos, f);
      if (v != Visit::skipped) return v == Visit::message;
    }
  }
  bool try_pop(std::vector<std::byte>& out) {
    return try_pop_with([&](std::span<const std::byte> m) { out.assign(m.begin(), m.end()); });
  }
  // Blocking forms. ok / timeout / closed (once closed and empty). Throw
  // IpcError(corrupt_indices).
  template <class F>
  OpStatus pop_with(F&& f, std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    return block(detail::Side::consumer, timeout,
                 [&] { return try_pop_with(f) || check_corrupt(); });
  }
  OpStatus pop(std::vector<std::byte>& out,
               std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    return pop_with([&](std::span<const std::byte> m) { out.assign(m.begin(), m.end()); }, timeout);
  }

  // Tracked pop for consumers that may die: records the ticket in `word` before claiming
  // it and clears `word` after the slot is released, so recover_claim() can tell whether a
  // dead consumer held a slot. `word` belongs to this consumer alone.
  template <class F>
  bool try_pop_tracked(ClaimWord& word, F&& f) {
    for (;;) {
      std::uint64_t pos = 0;
      if (!claim_tracked(word, pos)) return false;
      const Visit v = visit_and_release(pos, f);
      // seq_cst: after the release above; recover_claim() reads the word then the slot.
      word.store(0, std::memory_order_seq_cst);
      if (v != Visit::skipped) return true;
    }
  }
  template <class F>
  OpStatus pop_tracked(ClaimWord& word, F&& f,
                       std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    return block(detail::Side::consumer, timeout,
                 [&] { return try_pop_tracked(word, f) || check_corrupt(); });
  }

  // Tombstones this handle released and skipped since the last call (and resets the count).
  // Each stood for a put whose producer died holding a slot: a caller that counts capacity
  // per message (Queue's maxsize) gives that much back.
  [[nodiscard]] std::size_t take_skipped() noexcept { return std::exchange(skipped_, 0); }

 private:
  MpmcByteConsumer(detail::RingControl* control, const detail::RingGeometry& geometry) noexcept
      : MpmcByteEnd(control, geometry) {}
  MpmcByteConsumer(const MpmcByteConsumer& from, CloneTag tag) noexcept : MpmcByteEnd(from, tag) {}
  friend class MpmcByteRing;
  friend class AttachableEnd<MpmcByteConsumer>;
  friend struct detail::TrackedPopTestHook;

  enum class Visit : std::uint8_t { message, skipped, corrupt };

  bool claim_tracked(ClaimWord& word, std::uint64_t& pos) noexcept {
    return core_.claim_dequeue(
        pos,
        // seq_cst: the intent is ordered before the claim CAS (seq_cst); recover_claim()
        // reads the counter, the slot, then the words.
        [&](std::uint64_t p) { word.store(p + 1, std::memory_order_seq_cst); },
        // seq_cst: a lost claim clears the intent at once so a supervisor is not left
        // undecided by a consumer that is merely waiting.
        [&] { word.store(0, std::memory_order_seq_cst); });
  }
  template <class F>
  Visit visit_and_release(std::uint64_t pos, F& f) {
    const std::byte* s = core_.slot(pos);
    const std::uint32_t len = detail::read_len(s);
    detail::ReleaseGuard guard{[&] { core_.release(pos); }};
    if (len > slot_size_) {
      if (len == detail::kTombstoneLen) {
        ++skipped_;
        return Visit::skipped;
      }
      core_.mark_corrupted();
      return Visit::corrupt;
    }
    f(std::span<const std::byte>(s + detail::kBytePayloadOffset, len));
    return Visit::message;
  }

  std::size_t skipped_ = 0;
};

// The factories of an MPMC byte ring; not instantiable.
class MpmcByteRing {
 public:
  using Producer = MpmcByteProducer;
  using Consumer = MpmcByteConsumer;
  using Ends = RingEnds<Producer, Consumer>;
  static constexpr detail::RingKind kKind = detail::RingKind::mpmc_bytes;

  MpmcByteRing() = delete;

  [[nodiscard]] static std::size_t required_bytes(std::size_t capacity, std::size_t slot_size) {
    return detail::region_bytes(detail::checked_mpmc_capacity(capacity),
                                detail::checked_byte_stride(slot_size));
  }
  // Initialises a ring in `region` and returns one end of each role (clone or attach for
  // more). Throws IpcError: invalid_capacity, invalid_argument, truncated.
  [[nodiscard]] static Ends create(std::span<std::byte> region, std::size_t capacity,
                                   std::size_t slot_size, RingOptions options = {}) {
    (void)detail::init_region(
        region, detail::byte_layout(kKind, detail::checked_mpmc_capacity(capacity), slot_size),
        options);
    return {Producer::attach(region), Consumer::attach(region)};
  }
  [[nodiscard]] static Ends create(std::shared_ptr<Segment> segment, std::size_t capacity,
                                   std::size_t slot_size, RingOptions options = {}) {
    Ends ends = create(segment->bytes(), capacity, slot_size, options);
    ends.producer.keep(segment);
    ends.consumer.keep(std::move(segment));
    return ends;
  }
  [[nodiscard]] static Ends create_anonymous(std::size_t capacity, std::size_t slot_size,
                                             RingOptions options = {},
                                             SegmentOptions segment_options = {}) {
    auto segment = std::make_shared<Segment>(
        Segment::anonymous(required_bytes(capacity, slot_size), segment_options));
    return create(std::move(segment), capacity, slot_size, options);
  }
};

}  // namespace ringpool::ipc
