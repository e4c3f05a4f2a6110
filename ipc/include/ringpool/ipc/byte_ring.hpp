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
// SpscByteRing: one producer handle, one consumer handle (wait-free). Like SpscRing, each
// handle holds its own side's position: once a copy has pushed (popped), older copies are
// stale for that side (see spsc_ring.hpp).
// MpmcByteRing: any number of producers and consumers (lock-free), plus tracked pops for
// consumers that may die (pop_tracked / recover_claim, see docs/ipc.md).
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
#include "ringpool/ipc/detail/wait.hpp"
#include "ringpool/ipc/errors.hpp"
#include "ringpool/ipc/ring_options.hpp"
#include "ringpool/ipc/segment.hpp"
#include "ringpool/ipc/spsc_ring.hpp"

namespace ringpool::ipc {

namespace detail {
inline constexpr std::size_t kByteLenOffset = 8;
inline constexpr std::size_t kBytePayloadOffset = 16;
inline constexpr std::size_t kNoClaim = ~std::size_t{0};
[[noreturn]] void throw_payload_too_large(std::size_t size, std::size_t max);
[[noreturn]] void throw_bad_commit(std::size_t size, std::size_t claimed);
[[noreturn]] void throw_double_claim();

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
}  // namespace detail

// ---------------------------------------------------------------------------------------
class SpscByteRing {
 public:
  static constexpr detail::RingKind kKind = detail::RingKind::spsc_bytes;

  // Throws IpcError: invalid_capacity (0 or too large), invalid_argument (slot_size 0 or
  // above 1 GiB).
  [[nodiscard]] static std::size_t required_bytes(std::size_t capacity, std::size_t slot_size) {
    return detail::region_bytes(detail::checked_capacity(capacity), stride_for(slot_size));
  }
  [[nodiscard]] static SpscByteRing create(std::span<std::byte> region, std::size_t capacity,
                                           std::size_t slot_size, RingOptions options = {}) {
    (void)detail::init_region(region, layout(detail::checked_capacity(capacity), slot_size),
                              options);
    return attach(region);
  }
  [[nodiscard]] static SpscByteRing attach(std::span<std::byte> region) {
    detail::RingGeometry geometry{};
    detail::RingControl* control =
        detail::validate_region(region, {kKind, 1, 1, 0, 0, 0}, geometry);
    return SpscByteRing(control, geometry);
  }
  [[nodiscard]] static SpscByteRing create(std::shared_ptr<Segment> segment, std::size_t capacity,
                                           std::size_t slot_size, RingOptions options = {}) {
    SpscByteRing ring = create(segment->bytes(), capacity, slot_size, options);
    ring.segment_ = std::move(segment);
    return ring;
  }
  [[nodiscard]] static SpscByteRing attach(std::shared_ptr<Segment> segment) {
    SpscByteRing ring = attach(segment->bytes());
    ring.segment_ = std::move(segment);
    return ring;
  }
  [[nodiscard]] static SpscByteRing create_anonymous(std::size_t capacity, std::size_t slot_size,
                                                     RingOptions options = {},
                                                     SegmentOptions segment_options = {}) {
    auto segment = std::make_shared<Segment>(
        Segment::anonymous(required_bytes(capacity, slot_size), segment_options));
    return create(std::move(segment), capacity, slot_size, options);
  }

  SpscByteRing() noexcept = default;

  // ---- producer ------------------------------------------------------------------------
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
  // Blocking claim: ok with `out` set, timeout, or closed.
  OpStatus claim(std::size_t n, std::span<std::byte>& out,
                 std::optional<std::chrono::nanoseconds> timeout) {
    if (n > slot_size_) detail::throw_payload_too_large(n, max_message_size());
    return detail::block_until(*core_.control(), detail::Side::producer, wait_, spins_, timeout,
                               [&] {
                                 out = claim(n);
                                 return out.data() != nullptr || check_corrupt();
                               });
  }
  OpStatus push(std::span<const std::byte> message,
                std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    if (message.size() > slot_size_) {
      detail::throw_payload_too_large(message.size(), max_message_size());
    }
    return detail::block_until(*core_.control(), detail::Side::producer, wait_, spins_, timeout,
                               [&] { return try_push(message) || check_corrupt(); });
  }

  // ---- consumer ------------------------------------------------------------------------
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
  template <class F>
  OpStatus pop_with(F&& f, std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    return detail::block_until(*core_.control(), detail::Side::consumer, wait_, spins_, timeout,
                               [&] { return try_pop_with(f) || check_corrupt(); });
  }
  OpStatus pop(std::vector<std::byte>& out,
               std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    return pop_with([&](std::span<const std::byte> m) { out.assign(m.begin(), m.end()); }, timeout);
  }
  template <class F>
  std::size_t drain(F&& f) {
    std::size_t count = 0;
    while (try_pop_with(f)) ++count;
    return count;
  }

  // ---- recovery (the peer is known to be gone) ------------------------------------------
  // Producer side after the consumer died: visits every unconsumed message (at-least-once:
  // one the consumer was reading when it died is included), then empties the ring. Call it
  // on the producer's own handle (see SpscRing::reclaim_unconsumed). A length above the
  // slot size stops the visit and marks the handle corrupted().
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
  // Both positions to 0, closed and waiter counters cleared. Precondition: no other handle
  // uses the ring now; every other handle (and copy) must attach() anew afterwards.
  void reset() noexcept { core_.reset(); }

  // ---- both sides -----------------------------------------------------------------------
  void close() noexcept { detail::close_ring(*core_.control()); }
  [[nodiscard]] bool is_closed() const noexcept { return detail::ring_closed(*core_.control()); }
  [[nodiscard]] std::size_t size_approx() const noexcept {
    return static_cast<std::size_t>(core_.size_approx());
  }
  [[nodiscard]] std::size_t capacity() const noexcept {
    return valid() ? static_cast<std::size_t>(core_.capacity()) : 0;
  }
  [[nodiscard]] std::size_t max_message_size() const noexcept {
    return static_cast<std::size_t>(slot_size_);
  }
  [[nodiscard]] bool corrupted() const noexcept { return core_.corrupted(); }
  [[nodiscard]] WaitStrategy wait_strategy() const noexcept { return wait_; }
  void set_wait_strategy(WaitStrategy strategy) {
    if (strategy == WaitStrategy::futex && !core_.notifies()) {
      detail::throw_bad_wait(strategy, ring_wait_);
    }
    wait_ = strategy;
  }
  [[nodiscard]] bool valid() const noexcept { return core_.control() != nullptr; }
  [[nodiscard]] const std::shared_ptr<Segment>& segment() const noexcept { return segment_; }

 private:
  static std::uint64_t stride_for(std::size_t slot_size);
  static detail::RingLayout layout(std::uint64_t capacity, std::size_t slot_size) {
    return {kKind, 1, 1, slot_size, stride_for(slot_size), capacity};
  }
  SpscByteRing(detail::RingControl* control, const detail::RingGeometry& geometry) noexcept
      : core_(control, geometry),
        stride_(geometry.slot_stride),
        slot_size_(geometry.slot_size),
        wait_(geometry.wait),
        ring_wait_(geometry.wait),
        spins_(geometry.spin_iterations) {}
  // Stride and slot size come from the validated header, never from a later read.
  std::byte* slot(std::uint64_t pos) const noexcept {
    return core_.slots() + (pos & core_.mask()) * stride_;
  }
  bool check_corrupt() const {
    if (core_.corrupted()) {
      detail::throw_corrupt("SpscByteRing: impossible indices or message length");
    }
    return false;
  }

  detail::SpscCore core_;  // first: one cache line with both sides' positions and caches
  std::uint64_t stride_ = 0;
  std::uint64_t slot_size_ = 0;
  std::size_t claimed_ = detail::kNoClaim;
  WaitStrategy wait_ = WaitStrategy::futex;
  WaitStrategy ring_wait_ = WaitStrategy::futex;
  std::uint32_t spins_ = 0;
  std::shared_ptr<Segment> segment_;
};

// ---------------------------------------------------------------------------------------
// A consumer's claim word for tracked pops: lives in shared memory (one per consumer,
// zero-initialised), written only by that consumer, read by the supervisor.
// Value 0: no claim; value t + 1: the consumer is claiming or holds ticket t.
using ClaimWord = std::atomic<std::uint64_t>;
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(sizeof(ClaimWord) == sizeof(std::uint64_t));

// Outcome of MpmcByteRing::recover_claim().
enum class ClaimRecovery : std::uint8_t {
  none,       // the dead consumer held no claimed-but-unreleased slot
  recovered,  // it did: the payload was handed to f and the slot released
  undecided,  // a live consumer is mid-claim on the same ticket; call again shortly
};

// Test hook: where a tracked pop stops, simulating the consumer's death at that point.
enum class TrackedPopStop : std::uint8_t {
  after_intent,   // intent recorded in the claim word, claim CAS not yet attempted
  after_claim,    // claim CAS succeeded, payload not yet visited
  after_visit,    // payload visited, slot not released
  after_release,  // slot released, claim word not yet cleared
};

class MpmcByteRing {
 public:
  static constexpr detail::RingKind kKind = detail::RingKind::mpmc_bytes;

  [[nodiscard]] static std::size_t required_bytes(std::size_t capacity, std::size_t slot_size) {
    return detail::region_bytes(detail::checked_mpmc_capacity(capacity), stride_for(slot_size));
  }
  [[nodiscard]] static MpmcByteRing create(std::span<std::byte> region, std::size_t capacity,
                                           std::size_t slot_size, RingOptions options = {}) {
    (void)detail::init_region(region, layout(detail::checked_mpmc_capacity(capacity), slot_size),
                              options);
    return attach(region);
  }
  [[nodiscard]] static MpmcByteRing attach(std::span<std::byte> region) {
    detail::RingGeometry geometry{};
    detail::RingControl* control =
        detail::validate_region(region, {kKind, 1, 1, 0, 0, 0}, geometry);
    return MpmcByteRing(control, geometry);
  }
  [[nodiscard]] static MpmcByteRing create(std::shared_ptr<Segment> segment, std::size_t capacity,
                                           std::size_t slot_size, RingOptions options = {}) {
    MpmcByteRing ring = create(segment->bytes(), capacity, slot_size, options);
    ring.segment_ = std::move(segment);
    return ring;
  }
  [[nodiscard]] static MpmcByteRing attach(std::shared_ptr<Segment> segment) {
    MpmcByteRing ring = attach(segment->bytes());
    ring.segment_ = std::move(segment);
    return ring;
  }
  [[nodiscard]] static MpmcByteRing create_anonymous(std::size_t capacity, std::size_t slot_size,
                                                     RingOptions options = {},
                                                     SegmentOptions segment_options = {}) {
    auto segment = std::make_shared<Segment>(
        Segment::anonymous(required_bytes(capacity, slot_size), segment_options));
    return create(std::move(segment), capacity, slot_size, options);
  }

  MpmcByteRing() noexcept = default;

  // ---- producers -----------------------------------------------------------------------
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
  OpStatus claim(std::size_t n, std::span<std::byte>& out,
                 std::optional<std::chrono::nanoseconds> timeout) {
    if (n > slot_size_) detail::throw_payload_too_large(n, slot_size_);
    return detail::block_until(*core_.control(), detail::Side::producer, wait_, spins_, timeout,
                               [&] {
                                 out = claim(n);
                                 return out.data() != nullptr || check_corrupt();
                               });
  }
  OpStatus push(std::span<const std::byte> message,
                std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    if (message.size() > slot_size_) detail::throw_payload_too_large(message.size(), slot_size_);
    return detail::block_until(*core_.control(), detail::Side::producer, wait_, spins_, timeout,
                               [&] { return try_push(message) || check_corrupt(); });
  }

  // ---- consumers -----------------------------------------------------------------------
  template <class F>
  bool try_pop_with(F&& f) {
    std::uint64_t pos = 0;
    if (!core_.claim_dequeue(pos)) return false;
    return visit_and_release(pos, f);
  }
  bool try_pop(std::vector<std::byte>& out) {
    return try_pop_with([&](std::span<const std::byte> m) { out.assign(m.begin(), m.end()); });
  }
  template <class F>
  OpStatus pop_with(F&& f, std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    return detail::block_until(*core_.control(), detail::Side::consumer, wait_, spins_, timeout,
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
    return detail::block_until(*core_.control(), detail::Side::consumer, wait_, spins_, timeout,
                               [&] { return try_pop_tracked(word, f) || check_corrupt(); });
  }

  // Supervisor side, once the process that owned `dead` is gone (reaped). `live` are the
  // claim words of every other consumer that may still run. If the dead consumer held a
  // claimed-but-unreleased slot, calls f(std::span<const std::byte>) on its payload and
  // releases the slot so producers are not wedged. Idempotent: calling it again on the
  // same word returns none. The argument for correctness is in docs/ipc.md.
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

  // Test hook: runs a tracked pop only up to `stop` and abandons it there, as if the
  // consumer died at that instruction. Returns false if nothing could be claimed.
  template <class F>
  bool debug_pop_tracked_until(ClaimWord& word, F&& f, TrackedPopStop stop) {
    if (stop == TrackedPopStop::after_intent) {
      // relaxed: a hint; same as claim_dequeue().
      const std::uint64_t pos = core_.control()->consumer.pos.load(std::memory_order_relaxed);
      // seq_cst: as in claim_tracked().
      word.store(pos + 1, std::memory_order_seq_cst);
      return true;
    }
    std::uint64_t pos = 0;
    if (!claim_tracked(word, pos)) return false;
    if (stop == TrackedPopStop::after_claim) return true;
    const std::byte* s = core_.slot(pos);
    f(std::span<const std::byte>(s + detail::kBytePayloadOffset,
                                 std::min<std::uint64_t>(detail::read_len(s), slot_size_)));
    if (stop == TrackedPopStop::after_visit) return true;
    core_.release(pos);
    return true;  // after_release: the word still names the ticket
  }

  // ---- both sides -----------------------------------------------------------------------
  void close() noexcept { detail::close_ring(*core_.control()); }
  [[nodiscard]] bool is_closed() const noexcept { return detail::ring_closed(*core_.control()); }
  [[nodiscard]] std::size_t size_approx() const noexcept {
    return static_cast<std::size_t>(core_.size_approx());
  }
  [[nodiscard]] std::size_t capacity() const noexcept {
    return static_cast<std::size_t>(core_.capacity());
  }
  [[nodiscard]] std::size_t max_message_size() const noexcept {
    return static_cast<std::size_t>(slot_size_);
  }
  [[nodiscard]] bool corrupted() const noexcept { return core_.corrupted(); }
  [[nodiscard]] WaitStrategy wait_strategy() const noexcept { return wait_; }
  void set_wait_strategy(WaitStrategy strategy) {
    if (strategy == WaitStrategy::futex && !core_.notifies()) {
      detail::throw_bad_wait(strategy, ring_wait_);
    }
    wait_ = strategy;
  }
  [[nodiscard]] bool valid() const noexcept { return core_.control() != nullptr; }
  [[nodiscard]] const std::shared_ptr<Segment>& segment() const noexcept { return segment_; }

 private:
  static std::uint64_t stride_for(std::size_t slot_size);
  static detail::RingLayout layout(std::uint64_t capacity, std::size_t slot_size) {
    return {kKind, 1, 1, slot_size, stride_for(slot_size), capacity};
  }
  MpmcByteRing(detail::RingControl* control, const detail::RingGeometry& geometry) noexcept
      : core_(control, geometry),
        slot_size_(geometry.slot_size),
        wait_(geometry.wait),
        ring_wait_(geometry.wait),
        spins_(geometry.spin_iterations) {}

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
  bool check_corrupt() const {
    if (core_.corrupted()) {
      detail::throw_corrupt("MpmcByteRing: impossible slot sequence, ticket or message length");
    }
    return false;
  }

  detail::MpmcCore core_;
  std::uint64_t slot_size_ = 0;
  std::uint64_t claimed_pos_ = 0;
  std::size_t claimed_ = detail::kNoClaim;
  WaitStrategy wait_ = WaitStrategy::futex;
  WaitStrategy ring_wait_ = WaitStrategy::futex;
  std::uint32_t spins_ = 0;
  std::shared_ptr<Segment> segment_;
};

}  // namespace ringpool::ipc
