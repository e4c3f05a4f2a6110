#pragma once
// Byte rings: variable-size messages of 0..max_message_size() bytes in fixed-size,
// length-prefixed slots (the maximum, `slot_size`, is chosen at creation).
//
// Slot layout (stride = round_up(16 + slot_size, 16)):
//   [0, 8)    MPMC: 64-bit sequence word (Vyukov); SPSC: unused
//   [8, 12)   message length (uint32), written by the producer before publishing
//   [16, ...) payload
// A length read from shared memory is checked against slot_size before use: a larger
// one marks the handle corrupted() and is never followed.
//
// SpscByteRing: one SpscByteProducer, one SpscByteConsumer (wait-free, move-only; each
// holds its own side's position, see spsc_ring.hpp).
// MpmcByteRing: any number of MpmcByteProducer and MpmcByteConsumer ends (lock-free), plus
// tracked pops for consumers that may die (try_pop_tracked on the consumer,
// recover_claim on the producer, see docs/ipc.md).
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

#include "ringpool/ipc/detail/mpmc_core.hpp"
#include "ringpool/ipc/detail/ring_header.hpp"
#include "ringpool/ipc/detail/spsc_core.hpp"
#include "ringpool/ipc/errors.hpp"
#include "ringpool/ipc/ring_end.hpp"
#include "ringpool/ipc/ring_options.hpp"
#include "ringpool/ipc/segment.hpp"

namespace ringpool::ipc {

namespace detail {
inline constexpr std::size_t kByteLenOffset = 8;
inline constexpr std::size_t kBytePayloadOffset = 16;
inline constexpr std::size_t kNoClaim = ~std::size_t{0};
[[noreturn]] void throw_payload_too_large(std::size_t size, std::size_t max);
[[noreturn]] void throw_bad_commit(std::size_t size, std::size_t claimed);
[[noreturn]] void throw_double_claim();
// Slot stride for a byte ring of `slot_size`; throws IpcError(invalid_argument) for 0 or
// above 1 GiB.
[[nodiscard]] std::uint64_t checked_byte_stride(std::size_t slot_size);

inline void write_len(std::byte* slot, std::size_t n) noexcept {
  const auto len = static_cast<std::uint32_t>(n);
  std::memcpy(slot + kByteLenOffset, &len, sizeof(len));
}
inline std::uint32_t read_len(const std::byte* slot) noexcept {
  std::uint32_t len = 0;
  std::memcpy(&len, slot + kByteLenOffset, sizeof(len));
  return len;
}
// Releases a slot when a visitor returns or throws.
template <class Release>
struct ReleaseGuard {
  Release release;
  ~ReleaseGuard() { release(); }
};
template <class Release>
ReleaseGuard(Release) -> ReleaseGuard<Release>;

inline RingLayout byte_layout(RingKind kind, std::uint64_t capacity, std::size_t slot_size) {
  return {kind, 1, 1, slot_size, checked_byte_stride(slot_size), capacity};
}
inline constexpr RingLayout any_byte_layout(RingKind kind) noexcept {
  return {kind, 1, 1, 0, 0, 0};
}

struct TrackedPopTestHook;  // tests only: ringpool/ipc/detail/tracked_pop_test_hook.hpp

// What both ends of an SpscByteRing share.
class SpscByteEnd : public RingEnd {
 public:
  static constexpr RingKind kKind = RingKind::spsc_bytes;

  SpscByteEnd(SpscByteEnd&& other) noexcept
      : RingEnd(std::move(other)),
        core_(std::exchange(other.core_, SpscCore{})),
        stride_(std::exchange(other.stride_, 0)),
        slot_size_(std::exchange(other.slot_size_, 0)) {}
  SpscByteEnd& operator=(SpscByteEnd&& other) noexcept {
    RingEnd::operator=(std::move(other));
    core_ = std::exchange(other.core_, SpscCore{});
    stride_ = std::exchange(other.stride_, 0);
    slot_size_ = std::exchange(other.slot_size_, 0);
    return *this;
  }

  [[nodiscard]] std::size_t max_message_size() const noexcept {
    return static_cast<std::size_t>(slot_size_);
  }
  // Sticky: impossible indices or message length; try_* fail, blocking calls throw
  // IpcError(corrupt_indices). reset() clears it.
  [[nodiscard]] bool corrupted() const noexcept { return core_.corrupted(); }
  // Both positions to 0, closed and waiter counts cleared; this handle starts over.
  // Precondition: no other handle uses the ring now (the peer died and has not been
  // respawned yet); every other handle must attach() anew afterwards.
  void reset() noexcept { core_.reset(); }

 protected:
  SpscByteEnd() noexcept = default;
  SpscByteEnd(RingControl* control, const RingGeometry& geometry) noexcept
      : RingEnd(control, geometry),
        core_(control, geometry),
        stride_(geometry.slot_stride),
        slot_size_(geometry.slot_size) {}
  ~SpscByteEnd() = default;

  static RingControl* validate(std::span<std::byte> region, RingGeometry& geometry) {
    return validate_region(region, any_byte_layout(kKind), geometry);
  }
  // Stride and slot size come from the validated header, never from a later read.
  std::byte* slot(std::uint64_t pos) const noexcept {
    return core_.slots() + (pos & core_.mask()) * stride_;
  }
  bool check_corrupt() const {
    if (core_.corrupted()) throw_corrupt("SpscByteRing: impossible indices or message length");
    return false;
  }

  SpscCore core_;  // first of this class: one cache line with both positions and caches
  std::uint64_t stride_ = 0;
  std::uint64_t slot_size_ = 0;
};

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

class SpscByteRing;
class MpmcByteRing;

// ---------------------------------------------------------------------------------------
// The producer end of an SpscByteRing. Wait-free try_* calls; one thread at a time.
class SpscByteProducer : public detail::SpscByteEnd {
 public:
  SpscByteProducer() noexcept = default;
  SpscByteProducer(SpscByteProducer&& other) noexcept
      : SpscByteEnd(std::move(other)), claimed_(std::exchange(other.claimed_, detail::kNoClaim)) {}
  SpscByteProducer& operator=(SpscByteProducer&& other) noexcept {
    SpscByteEnd::operator=(std::move(other));
    claimed_ = std::exchange(other.claimed_, detail::kNoClaim);
    return *this;
  }

  // Validates the header and indices in `region` and takes the producer's position from
  // it. Throws IpcError (bad_magic, abi_mismatch, layout_mismatch, size_mismatch,
  // truncated, invalid_capacity, corrupt_indices). Precondition: no other producer end of
  // this ring is in use.
  [[nodiscard]] static SpscByteProducer attach(std::span<std::byte> region) {
    detail::RingGeometry geometry{};
    detail::RingControl* control = validate(region, geometry);
    return SpscByteProducer(control, geometry);
  }
  [[nodiscard]] static SpscByteProducer attach(std::shared_ptr<Segment> segment) {
    SpscByteProducer end = attach(segment->bytes());
    end.keep(std::move(segment));
    return end;
  }

  // Wait-free. False when full. Throws IpcError(payload_too_large) when
  // message.size() > max_message_size(); the ring is untouched.
  [[nodiscard]] bool try_push(std::span<const std::byte> message) {
    if (message.size() > slot_size_) [[unlikely]] {
      detail::throw_payload_too_large(message.size(), max_message_size());
    }
    if (!core_.has_room()) [[unlikely]] {
      return false;
    }
    const std::uint64_t tail = core_.tail();
    std::byte* s = slot(tail);
    if (!message.empty()) {
      std::memcpy(s + detail::kBytePayloadOffset, message.data(), message.size());
    }
    detail::write_len(s, message.size());
    core_.publish_to(tail + 1);
    return true;
  }
  // Zero-copy: room for `n` bytes in the next slot; data() == nullptr when full. Write at
  // most n bytes, then commit(written). Throws IpcError(payload_too_large).
  [[nodiscard]] std::span<std::byte> claim(std::size_t n) {
    if (n > slot_size_) [[unlikely]] {
      detail::throw_payload_too_large(n, max_message_size());
    }
    if (!core_.has_room()) [[unlikely]] {
      return {};
    }
    claimed_ = n;
    return {slot(core_.tail()) + detail::kBytePayloadOffset, n};
  }
  // Publishes the claimed slot with an n-byte message. Throws IpcError(invalid_argument)
  // when nothing is claimed or n exceeds what claim() reserved.
  void commit(std::size_t n) {
    if (claimed_ == detail::kNoClaim || n > claimed_) [[unlikely]] {
      detail::throw_bad_commit(n, claimed_);
    }
    const std::uint64_t tail = core_.tail();
    detail::write_len(slot(tail), n);
    claimed_ = detail::kNoClaim;
    core_.publish_to(tail + 1);
  }
  // Blocking claim: ok with `out` set, timeout, or closed. Throws payload_too_large,
  // corrupt_indices.
  OpStatus claim(std::size_t n, std::span<std::byte>& out,
                 std::optional<std::chrono::nanoseconds> timeout) {
    if (n > slot_size_) detail::throw_payload_too_large(n, max_message_size());
    return block(detail::Side::producer, timeout, [&] {
      out = claim(n);
      return out.data() != nullptr || check_corrupt();
    });
  }
  OpStatus push(std::span<const std::byte> message,
                std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    if (message.size() > slot_size_) {
      detail::throw_payload_too_large(message.size(), max_message_size());
    }
    return block(detail::Side::producer, timeout,
                 [&] { return try_push(message) || check_corrupt(); });
  }

  // Recovery, after the consumer died (precondition: it is dead, e.g. reaped): visits
  // every unconsumed message (at-least-once: one the consumer was reading when it died is
  // included), then empties the ring. The tail is this handle's, the dead consumer's head
  // is read from the mapping and validated. A length above the slot size stops the visit
  // and marks the handle corrupted().
  template <class F>
  std::size_t reclaim_unconsumed(F&& f) {
    std::uint64_t head = 0;
    std::uint64_t tail = 0;
    if (!core_.unconsumed(head, tail)) return 0;
    std::size_t count = 0;
    bool bad_length = false;
    for (std::uint64_t pos = head; pos != tail; ++pos) {
      const std::byte* s = slot(pos);
      const std::uint32_t len = detail::read_len(s);
      if (len > slot_size_) {
        bad_length = true;
        break;
      }
      f(std::span<const std::byte>(s + detail::kBytePayloadOffset, len));
      ++count;
    }
    core_.consume_all();
    if (bad_length) core_.mark_corrupted();
    return count;
  }

 private:
  SpscByteProducer(detail::RingControl* control, const detail::RingGeometry& geometry) noexcept
      : SpscByteEnd(control, geometry) {}
  friend class SpscByteRing;

  std::size_t claimed_ = detail::kNoClaim;
};

// The consumer end of an SpscByteRing. Wait-free try_* calls; one thread at a time.
class SpscByteConsumer : public detail::SpscByteEnd {
 public:
  SpscByteConsumer() noexcept = default;
  SpscByteConsumer(SpscByteConsumer&&) noexcept = default;
  SpscByteConsumer& operator=(SpscByteConsumer&&) noexcept = default;

  // As SpscByteProducer::attach; takes the consumer's position from the mapping.
  // Precondition: no other consumer end of this ring is in use.
  [[nodiscard]] static SpscByteConsumer attach(std::span<std::byte> region) {
    detail::RingGeometry geometry{};
    detail::RingControl* control = validate(region, geometry);
    return SpscByteConsumer(control, geometry);
  }
  [[nodiscard]] static SpscByteConsumer attach(std::shared_ptr<Segment> segment) {
    SpscByteConsumer end = attach(segment->bytes());
    end.keep(std::move(segment));
    return end;
  }

  // Wait-free apart from f. Calls f(std::span<const std::byte>) on the oldest message in
  // place, then frees the slot (also if f throws). False when empty or corrupted().
  template <class F>
  bool try_pop_with(F&& f) {
    if (!core_.has_data(stride_)) return false;
    const std::uint64_t head = core_.head();
    const std::byte* s = slot(head);
    const std::uint32_t len = detail::read_len(s);
    if (len > slot_size_) [[unlikely]] {
      core_.mark_corrupted();
      return false;
    }
    detail::ReleaseGuard guard{[&] { core_.release_to(head + 1); }};
    f(std::span<const std::byte>(s + detail::kBytePayloadOffset, len));
    return true;
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
  // Waits, popping nothing, until a message is readable (ok), the ring is closed and
  // drained (closed), or `timeout` expired. Throws IpcError(corrupt_indices).
  OpStatus wait_readable(std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    return block(detail::Side::consumer, timeout,
                 [&] { return core_.has_data(stride_) || check_corrupt(); });
  }
  // Pops everything available now, calling f on each message in place.
  template <class F>
  std::size_t drain(F&& f) {
    std::size_t count = 0;
    while (try_pop_with(f)) ++count;
    return count;
  }

 private:
  SpscByteConsumer(detail::RingControl* control, const detail::RingGeometry& geometry) noexcept
      : SpscByteEnd(control, geometry) {}
  friend class SpscByteRing;
};

// The factories of an SPSC byte ring; not instantiable.
class SpscByteRing {
 public:
  using Producer = SpscByteProducer;
  using Consumer = SpscByteConsumer;
  using Ends = RingEnds<Producer, Consumer>;
  static constexpr detail::RingKind kKind = detail::RingKind::spsc_bytes;

  SpscByteRing() = delete;

  // Throws IpcError: invalid_capacity (0 or too large), invalid_argument (slot_size 0 or
  // above 1 GiB).
  [[nodiscard]] static std::size_t required_bytes(std::size_t capacity, std::size_t slot_size) {
    return detail::region_bytes(detail::checked_capacity(capacity),
                                detail::checked_byte_stride(slot_size));
  }
  // Initialises a ring in `region` (128-byte aligned, at least required_bytes()) and
  // returns both ends. Throws IpcError: invalid_capacity, invalid_argument, truncated.
  [[nodiscard]] static Ends create(std::span<std::byte> region, std::size_t capacity,
                                   std::size_t slot_size, RingOptions options = {}) {
    (void)detail::init_region(
        region, detail::byte_layout(kKind, detail::checked_capacity(capacity), slot_size), options);
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
};

// A producer end of an MpmcByteRing. Lock-free try_* calls; one thread at a time per
// handle (claim/commit state lives in the handle: give each thread its own clone()).
class MpmcByteProducer : public detail::MpmcByteEnd {
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

  // Validates the header in `region`. Throws IpcError (see SpscByteProducer::attach).
  [[nodiscard]] static MpmcByteProducer attach(std::span<std::byte> region) {
    detail::RingGeometry geometry{};
    detail::RingControl* control = validate(region, geometry);
    return MpmcByteProducer(control, geometry);
  }
  [[nodiscard]] static MpmcByteProducer attach(std::shared_ptr<Segment> segment) {
    MpmcByteProducer end = attach(segment->bytes());
    end.keep(std::move(segment));
    return end;
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

  std::uint64_t claimed_pos_ = 0;
  std::size_t claimed_ = detail::kNoClaim;
};

// A consumer end of an MpmcByteRing. Lock-free try_* calls; one thread at a time per
// handle (give each thread its own clone()).
class MpmcByteConsumer : public detail::MpmcByteEnd {
 public:
  MpmcByteConsumer() noexcept = default;
  MpmcByteConsumer(MpmcByteConsumer&&) noexcept = default;
  MpmcByteConsumer& operator=(MpmcByteConsumer&&) noexcept = default;

  [[nodiscard]] static MpmcByteConsumer attach(std::span<std::byte> region) {
    detail::RingGeometry geometry{};
    detail::RingControl* control = validate(region, geometry);
    return MpmcByteConsumer(control, geometry);
  }
  [[nodiscard]] static MpmcByteConsumer attach(std::shared_ptr<Segment> segment) {
    MpmcByteConsumer end = attach(segment->bytes());
    end.keep(std::move(segment));
    return end;
  }
  // Another consumer end of the same ring (corrupted() cleared).
  [[nodiscard]] MpmcByteConsumer clone() const noexcept {
    return MpmcByteConsumer(*this, CloneTag{});
  }

  // Lock-free apart from f. Calls f(std::span<const std::byte>) on the next message in
  // place, then frees the slot (also if f throws). False when empty or corrupted().
  template <class F>
  bool try_pop_with(F&& f) {
    std::uint64_t pos = 0;
    if (!core_.claim_dequeue(pos)) return false;
    return visit_and_release(pos, f);
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
    std::uint64_t pos = 0;
    if (!claim_tracked(word, pos)) return false;
    visit_and_release(pos, f);
    // seq_cst: after the release above; recover_claim() reads the word then the slot.
    word.store(0, std::memory_order_seq_cst);
    return true;
  }
  template <class F>
  OpStatus pop_tracked(ClaimWord& word, F&& f,
                       std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    return block(detail::Side::consumer, timeout,
                 [&] { return try_pop_tracked(word, f) || check_corrupt(); });
  }

 private:
  MpmcByteConsumer(detail::RingControl* control, const detail::RingGeometry& geometry) noexcept
      : MpmcByteEnd(control, geometry) {}
  MpmcByteConsumer(const MpmcByteConsumer& from, CloneTag tag) noexcept : MpmcByteEnd(from, tag) {}
  friend class MpmcByteRing;
  friend struct detail::TrackedPopTestHook;

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
  bool visit_and_release(std::uint64_t pos, F& f) {
    const std::byte* s = core_.slot(pos);
    const std::uint32_t len = detail::read_len(s);
    detail::ReleaseGuard guard{[&] { core_.release(pos); }};
    if (len > slot_size_) {
      core_.mark_corrupted();
      return false;
    }
    f(std::span<const std::byte>(s + detail::kBytePayloadOffset, len));
    return true;
  }
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
