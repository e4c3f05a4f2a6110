// QueueCore: the shared header of a Queue<T>, the exact-maxsize counter and the wait
// for space.
//
// Segment layout:
//   [0, kRingOffset)          Shared (header, counters; plain data)
//   [kRingOffset, ...)        the MpmcByteRing region (its own validated header)
//
// maxsize is enforced by `items`, a counting semaphore in the header: a put takes a
// unit before it claims a ring slot, a get returns the unit after its slot is
// released. Every occupied or claimed slot therefore holds a unit, so the ring (whose
// capacity is maxsize rounded up to a power of two) always has room for a put that
// holds a unit, and at most maxsize items are ever in the queue.
#include "ringpool/pool/queue.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <type_traits>

#include "ringpool/ipc/detail/wait.hpp"
#include "ringpool/ipc/segment.hpp"

namespace ringpool::pool::detail {

namespace {
constexpr std::uint64_t kQueueMagic = 0x31455545554f5052ULL;  // "RPQUEUE1"
constexpr std::uint32_t kQueueVersion = 1;
constexpr std::size_t kRingOffset = 1024;
constexpr std::size_t kTypeNameBytes = 128;
constexpr std::uint32_t kSpinBeforeSleep = 256;
}  // namespace

struct QueueCore::Shared {
  // Written last by the creator; an opener that sees kQueueMagic sees the fields below.
  std::atomic<std::uint64_t> magic;
  std::uint32_t version;
  std::uint32_t wait_strategy;
  std::uint64_t type_tag;
  std::uint64_t maxsize;
  std::uint64_t slot_size;
  std::uint64_t ring_offset;
  std::uint64_t ring_bytes;
  char type_name[kTypeNameBytes];  // the creator's element type, NUL-terminated

  // Units of maxsize taken: items in the ring + puts in progress + gets in progress.
  alignas(128) std::atomic<std::uint64_t> items;
  // Futex word bumped when a unit is returned while producers sleep; and their count.
  alignas(128) std::atomic<std::uint32_t> space_event;
  std::atomic<std::uint32_t> space_waiters;
};

static_assert(std::is_standard_layout_v<QueueCore::Shared>);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(sizeof(QueueCore::Shared) <= kRingOffset);
static_assert(kRingOffset % 128 == 0);

namespace {

void validate_spec(const QueueCore::Spec& spec) {
  if (spec.maxsize == 0) {
    throw InvalidArgument(
        "ringpool: Queue maxsize 0: ringpool queues are bounded (Python's 0 means "
        "unbounded); pass the largest number of items the queue may hold, at least 1");
  }
  if (spec.slot_size < spec.min_slot_size) {
    throw InvalidArgument("ringpool: Queue slot_size " + std::to_string(spec.slot_size) +
                          " is smaller than the " + std::to_string(spec.min_slot_size) +
                          " bytes every " + spec.type_name +
                          " encodes to; leave slot_size 0 to get the right size");
  }
}

std::size_t segment_bytes(const QueueCore::Spec& spec) {
  return kRingOffset + ipc::MpmcByteRing::required_bytes(spec.maxsize, spec.slot_size);
}

[[noreturn]] void throw_not_a_queue(std::string_view name, const std::string& why) {
  throw InvalidArgument("ringpool: Queue::open(\"" + std::string(name) +
                        "\"): the segment is not a usable ringpool queue: " + why +
                        "; check the name, or create the queue with Queue<T>::create first");
}

}  // namespace

std::shared_ptr<QueueCore> QueueCore::init(std::shared_ptr<ipc::Segment> segment, const Spec& spec,
                                           const QueueOptions& opts) {
  auto* shared = reinterpret_cast<Shared*>(segment->data());
  const std::span<std::byte> ring_region = segment->bytes().subspan(kRingOffset);
  ipc::RingOptions ring_options;
  ring_options.wait = opts.wait;
  auto ring = ipc::MpmcByteRing::create(ring_region, spec.maxsize, spec.slot_size, ring_options);

  // The mapping is fresh (zero-filled); the header is written before the magic.
  shared->version = kQueueVersion;
  shared->wait_strategy = static_cast<std::uint32_t>(opts.wait);
  shared->type_tag = spec.type_tag;
  shared->maxsize = spec.maxsize;
  shared->slot_size = spec.slot_size;
  shared->ring_offset = kRingOffset;
  shared->ring_bytes = ring_region.size();
  const std::size_t n = std::min(spec.type_name.size(), kTypeNameBytes - 1);
  std::memcpy(shared->type_name, spec.type_name.data(), n);
  shared->type_name[n] = '\0';
  // relaxed: nobody else can see the counters before the magic below is published.
  shared->items.store(0, std::memory_order_relaxed);
  shared->space_event.store(0, std::memory_order_relaxed);
  shared->space_waiters.store(0, std::memory_order_relaxed);
  // release: pairs with the acquire load of magic in open_named(); publishes the fields.
  shared->magic.store(kQueueMagic, std::memory_order_release);

  std::shared_ptr<QueueCore> core(new QueueCore);
  core->segment_ = std::move(segment);
  core->shared_ = shared;
  core->ring_ = std::move(ring);
  core->maxsize_ = spec.maxsize;
  core->slot_size_ = spec.slot_size;
  core->wait_ = opts.wait;
  return core;
}

std::shared_ptr<QueueCore> QueueCore::create_anonymous(const Spec& spec, const QueueOptions& opts) {
  validate_spec(spec);
  auto segment = std::make_shared<ipc::Segment>(ipc::Segment::anonymous(segment_bytes(spec)));
  return init(std::move(segment), spec, opts);
}

std::shared_ptr<QueueCore> QueueCore::create_named(std::string_view name, const Spec& spec,
                                                   const QueueOptions& opts) {
  validate_spec(spec);
  ipc::SegmentOptions segment_options;
  segment_options.mode = opts.mode;
  segment_options.unlink_on_destroy = opts.unlink_on_destroy;
  auto segment = std::make_shared<ipc::Segment>(
      ipc::Segment::create(name, segment_bytes(spec), segment_options));
  return init(std::move(segment), spec, opts);
}

std::shared_ptr<QueueCore> QueueCore::open_named(std::string_view name, const Spec& spec,
                                                 const QueueOptions& opts) {
  auto segment = std::make_shared<ipc::Segment>(ipc::Segment::open(name));
  if (segment->size() < kRingOffset) {
    throw_not_a_queue(
        name, "it is " + std::to_string(segment->size()) + " bytes, smaller than a queue header");
  }
  auto* shared = reinterpret_cast<Shared*>(segment->data());
  // acquire: pairs with the release store of magic in init().
  if (shared->magic.load(std::memory_order_acquire) != kQueueMagic) {
    throw_not_a_queue(name,
                      "no queue header (another kind of segment, or its creator has "
                      "not finished creating it)");
  }
  if (shared->version != kQueueVersion) {
    throw_not_a_queue(name, "queue format version " + std::to_string(shared->version) +
                                ", this build reads version " + std::to_string(kQueueVersion));
  }
  // Copy the creator's type name out of shared memory, bounded.
  char stored_name[kTypeNameBytes];
  std::memcpy(stored_name, shared->type_name, kTypeNameBytes);
  stored_name[kTypeNameBytes - 1] = '\0';
  if (shared->type_tag != spec.type_tag) {
    throw QueueMismatch("ringpool: Queue<" + spec.type_name + ">::open(\"" + std::string(name) +
                        "\"): the queue was created for elements of type " + stored_name +
                        "; open it with that type");
  }
  const std::uint64_t slot = shared->slot_size;
  if (spec.slot_size != 0 && slot != spec.slot_size) {
    throw QueueMismatch("ringpool: Queue::open(\"" + std::string(name) + "\"): slot size is " +
                        std::to_string(slot) + " bytes, not the " + std::to_string(spec.slot_size) +
                        " requested; pass slot_size 0 to accept the creator's");
  }
  const std::uint64_t maxsize = shared->maxsize;
  if (maxsize == 0 || slot < spec.min_slot_size || shared->ring_offset != kRingOffset ||
      shared->ring_bytes > segment->size() - kRingOffset) {
    throw_not_a_queue(name, "its header is inconsistent (maxsize " + std::to_string(maxsize) +
                                ", slot size " + std::to_string(slot) + ")");
  }
  auto ring = ipc::MpmcByteRing::attach(
      segment->bytes().subspan(kRingOffset, static_cast<std::size_t>(shared->ring_bytes)));
  if (ring.capacity() < maxsize || ring.max_message_size() != slot) {
    throw_not_a_queue(name, "its ring does not match its header");
  }
  if (opts.wait != ring.wait_strategy()) {
    // A handle may spin or yield on any ring, but may only sleep on a futex ring.
    ring.set_wait_strategy(opts.wait);
  }

  std::shared_ptr<QueueCore> core(new QueueCore);
  core->segment_ = std::move(segment);
  core->shared_ = shared;
  core->ring_ = std::move(ring);
  core->maxsize_ = static_cast<std::size_t>(maxsize);
  core->slot_size_ = static_cast<std::size_t>(slot);
  core->wait_ = core->ring_.wait_strategy();
  return core;
}

namespace {
bool take_unit(std::atomic<std::uint64_t>& items, std::uint64_t maxsize) noexcept {
  // relaxed: a first guess; the CAS below decides.
  std::uint64_t n = items.load(std::memory_order_relaxed);
  while (n < maxsize) {
    // acquire: pairs with the seq_cst fetch_sub in item_taken(), so the slot that get
    // released is seen free by our claim.
    if (items.compare_exchange_weak(n, n + 1, std::memory_order_acquire,
                                    std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}
}  // namespace

bool QueueCore::try_reserve() {
  if (ring_.is_closed()) {
    throw Closed("ringpool: Queue::try_put: the queue is closed; nothing more can be put");
  }
  return take_unit(shared_->items, maxsize_);
}

ipc::OpStatus QueueCore::reserve(std::optional<std::chrono::nanoseconds> timeout) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = timeout ? Clock::now() + *timeout : Clock::time_point::max();
  for (std::uint32_t iteration = 0;; ++iteration) {
    if (ring_.is_closed()) return ipc::OpStatus::closed;
    if (take_unit(shared_->items, maxsize_)) return ipc::OpStatus::ok;
    const auto now = Clock::now();
    if (timeout && now >= deadline) return ipc::OpStatus::timeout;
    if (wait_ == ipc::WaitStrategy::spin ||
        (iteration < kSpinBeforeSleep && wait_ == ipc::WaitStrategy::futex)) {
      ipc::detail::cpu_relax();
    } else if (wait_ == ipc::WaitStrategy::yield) {
      std::this_thread::yield();
    } else {
      // Lost-wakeup argument as in ipc/detail/wait.hpp: we count ourselves as a waiter
      // (seq_cst) and re-check `items` (seq_cst) before sleeping; item_taken() returns a
      // unit (seq_cst) and then reads the waiter count (seq_cst). Either our re-check
      // sees the unit, or item_taken() sees us and bumps the event word we read first.
      // acquire: pairs with the release fetch_add of space_event in item_taken()/close().
      const std::uint32_t seen = shared_->space_event.load(std::memory_order_acquire);
      // seq_cst: pairs with the seq_cst load of space_waiters in item_taken().
      shared_->space_waiters.fetch_add(1, std::memory_order_seq_cst);
      // seq_cst: pairs with the seq_cst fetch_sub of items in item_taken().
      const bool still_full = shared_->items.load(std::memory_order_seq_cst) >= maxsize_;
      if (still_full && !ring_.is_closed()) {
        std::optional<std::chrono::nanoseconds> left;
        if (timeout) left = std::max(deadline - Clock::now(), Clock::duration::zero());
        ipc::detail::futex_wait(shared_->space_event, seen, left);
      }
      // relaxed: only a counter; a stale non-zero value costs one spurious wake.
      shared_->space_waiters.fetch_sub(1, std::memory_order_relaxed);
    }
  }
}

void QueueCore::cancel_reservation() noexcept {
  item_taken();
}

void QueueCore::item_taken() noexcept {
  // seq_cst: releases the consumer's slot release to the next take_unit() (acquire) and
  // takes part in the lost-wakeup argument in reserve().
  shared_->items.fetch_sub(1, std::memory_order_seq_cst);
  // seq_cst: pairs with the seq_cst fetch_add of space_waiters in reserve().
  if (shared_->space_waiters.load(std::memory_order_seq_cst) != 0) {
    // release: pairs with the acquire load of space_event in reserve().
    shared_->space_event.fetch_add(1, std::memory_order_release);
    ipc::detail::futex_wake_all(shared_->space_event);
  }
}

std::size_t QueueCore::items_approx() const noexcept {
  // relaxed: an observation for size_approx(); racy by contract.
  return static_cast<std::size_t>(
      std::min<std::uint64_t>(shared_->items.load(std::memory_order_relaxed), maxsize_));
}

const std::string& QueueCore::name() const noexcept {
  return segment_->name();
}

void QueueCore::close() noexcept {
  ring_.close();
  // release: pairs with the acquire load of space_event in reserve(); the closed flag
  // (set seq_cst by ring_.close()) is visible to the woken producers.
  shared_->space_event.fetch_add(1, std::memory_order_release);
  ipc::detail::futex_wake_all(shared_->space_event);
}

void QueueCore::backoff_after_failed_claim() const {
  if (ring_.corrupted()) {
    throw DecodeError(
        "ringpool: Queue::put: the queue's ring in shared memory is corrupted "
        "(impossible indices); it cannot be used any more");
  }
  std::this_thread::yield();
}

}  // namespace ringpool::pool::detail
