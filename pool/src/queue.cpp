// QueueCore: the shared header of a Queue<T>, the exact-maxsize counter and the wait
// for space (an ipc::EventCount; its ordering argument is in ipc/event_count.hpp).
//
// Segment layout:
//   [0, kQueueRingOffset)     Shared (header, counters; plain data)
//   [kQueueRingOffset, ...)   the MpmcByteRing region (its own validated header)
//
// maxsize is enforced by `items`, a counting semaphore in the header: a put takes a
// unit before it claims a ring slot, a get returns the unit after its slot is
// released. Every occupied or claimed slot therefore holds a unit, so the ring (whose
// capacity is maxsize rounded up to a power of two) always has room for a put that
// holds a unit, and at most maxsize items are ever in the queue. (Room, not necessarily
// the slot of the put's ticket: a consumer still copying out an older lap's item holds it;
// the put then waits on the ring's own space EventCount, with the put's deadline.)
//
// The records that make gets and puts crash-safe are in queue_claims.cpp and queue_puts.cpp;
// the header they share with this file is queue_shared.hpp.
//
// Every wait has an exit on corruption: impossible ring state throws Corrupted, and a
// counter a peer forced to "full" ends in the caller's timeout.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstring>
#include <string>
#include <thread>

#include "queue_shared.hpp"
#include "ringpool/ipc/detail/cpu_relax.hpp"
#include "ringpool/ipc/detail/process_probe.hpp"
#include "ringpool/ipc/errors.hpp"
#include "ringpool/ipc/event_count.hpp"
#include "ringpool/ipc/segment.hpp"
#include "ringpool/pool/detail/queue_core.hpp"
#include "ringpool/pool/errors.hpp"

namespace ringpool::pool::detail {

namespace {
constexpr std::uint32_t kSpinBeforeSleep = 256;

// spec.maxsize is never 0 here: queue_spec() turns 0 into kUnboundedQueueMaxsize.
void validate_spec(const QueueCore::Spec& spec) {
  if (spec.slot_size < spec.min_slot_size) {
    throw InvalidArgument("ringpool: Queue slot_size " + std::to_string(spec.slot_size) +
                          " is smaller than the " + std::to_string(spec.min_slot_size) +
                          " bytes every " + spec.type_name +
                          " encodes to; leave slot_size 0 to get the right size");
  }
}

// The ring message that carries a large item's PayloadRef is one byte longer than a slot
// (and at least a PayloadRef): longer than any item that travels in a slot. Types of a
// fixed size always fit their slot and never go by reference.
std::size_t ref_length_of(const QueueCore::Spec& spec) {
  if (spec.min_slot_size != 0) return 0;
  return std::max(spec.slot_size + 1, sizeof(PayloadRef));
}

std::size_t message_bytes(const QueueCore::Spec& spec) {
  return std::max(spec.slot_size, ref_length_of(spec));
}

std::size_t ring_bytes_of(const QueueCore::Spec& spec) {
  return ipc::MpmcByteRing::required_bytes(spec.maxsize, message_bytes(spec));
}

// The payload arena, after the ring on a page boundary: words of kQueueArenaStep bytes
// (none for types of a fixed size, whose items always fit their slot).
constexpr std::size_t kArenaAlign = 4096;

std::size_t arena_words_of(const QueueCore::Spec& spec, const QueueOptions& opts) {
  if (ref_length_of(spec) == 0 || opts.arena_bytes == 0) return 0;
  const std::size_t bytes = std::min(opts.arena_bytes, kQueueArenaMaxBytes);
  return (bytes + kQueueArenaStep - 1) / kQueueArenaStep;
}

std::size_t arena_offset_of(std::size_t ring_bytes) {
  return (kQueueRingOffset + ring_bytes + kArenaAlign - 1) / kArenaAlign * kArenaAlign;
}

std::size_t segment_bytes(const QueueCore::Spec& spec, const QueueOptions& opts) {
  const std::size_t ring = ring_bytes_of(spec);
  const std::size_t words = arena_words_of(spec, opts);
  if (words == 0) return kQueueRingOffset + ring;
  return arena_offset_of(ring) + words * kQueueArenaStep;
}

[[noreturn]] void throw_not_a_queue(std::string_view name, const std::string& why) {
  throw InvalidArgument("ringpool: Queue::open(\"" + std::string(name) +
                        "\"): the segment is not a usable ringpool queue: " + why +
                        "; check the name, or create the queue with Queue<T>::create first");
}

}  // namespace

std::shared_ptr<QueueCore> QueueCore::init(std::shared_ptr<ipc::Segment> segment, const Spec& spec,
                                           const QueueOptions& opts) {
  // The mapping is fresh and zero-filled, which is also the idle state of every field.
  auto* shared = ::new (segment->data()) Shared();
  const std::span<std::byte> ring_region =
      segment->bytes().subspan(kQueueRingOffset, ring_bytes_of(spec));
  const std::size_t arena_words = arena_words_of(spec, opts);
  const std::size_t arena_offset = arena_words == 0 ? 0 : arena_offset_of(ring_region.size());
  ipc::RingOptions ring_options;
  ring_options.wait = opts.wait;
  auto ring =
      ipc::MpmcByteRing::create(ring_region, spec.maxsize, message_bytes(spec), ring_options);
  const std::size_t ref_length = ref_length_of(spec);
  PayloadNames payloads;
  if (ref_length != 0) payloads = PayloadNames::fresh();

  // The mapping is fresh (zero-filled); the header is written before the magic.
  shared->version = kQueueVersion;
  shared->wait_strategy = static_cast<std::uint32_t>(opts.wait);
  shared->type_tag = spec.type_tag;
  shared->maxsize = spec.maxsize;
  shared->slot_size = spec.slot_size;
  shared->ring_offset = kQueueRingOffset;
  shared->ring_bytes = ring_region.size();
  shared->payload_owner = payloads.owner_pid();
  shared->payload_serial = payloads.owner_serial();
  shared->ref_length = ref_length;
  shared->arena_offset = arena_offset;
  shared->arena_words = arena_words;
  const std::size_t n = std::min(spec.type_name.size(), kQueueTypeNameBytes - 1);
  std::memcpy(shared->type_name, spec.type_name.data(), n);
  shared->type_name[n] = '\0';
  // release: pairs with the acquire load of magic in open_named(); publishes the fields.
  shared->magic.store(kQueueMagic, std::memory_order_release);

  std::shared_ptr<QueueCore> core(new QueueCore);
  core->segment_ = std::move(segment);
  core->shared_ = shared;
  core->producer_ = std::move(ring.producer);
  core->consumer_ = std::move(ring.consumer);
  core->maxsize_ = spec.maxsize;
  core->slot_size_ = spec.slot_size;
  core->wait_ = opts.wait;
  core->ref_length_ = ref_length;
  core->payloads_ = std::move(payloads);
  core->max_payload_ = opts.max_payload;
  core->arena_offset_ = arena_offset;
  core->arena_words_ = arena_words;
  core->removes_payloads_ = core->segment_->is_anonymous() || opts.unlink_on_destroy;
  return core;
}

std::shared_ptr<QueueCore> QueueCore::create_anonymous(const Spec& spec, const QueueOptions& opts) {
  validate_spec(spec);
  auto segment = std::make_shared<ipc::Segment>(ipc::Segment::anonymous(segment_bytes(spec, opts)));
  return init(std::move(segment), spec, opts);
}

std::shared_ptr<QueueCore> QueueCore::create_named(std::string_view name, const Spec& spec,
                                                   const QueueOptions& opts) {
  validate_spec(spec);
  ipc::SegmentOptions segment_options;
  segment_options.mode = opts.mode;
  segment_options.allow_untrusted = opts.allow_untrusted;
  segment_options.unlink_on_destroy = opts.unlink_on_destroy;
  auto segment = std::make_shared<ipc::Segment>(
      ipc::Segment::create(name, segment_bytes(spec, opts), segment_options));
  return init(std::move(segment), spec, opts);
}

std::shared_ptr<QueueCore> QueueCore::open_named(std::string_view name, const Spec& spec,
                                                 const QueueOptions& opts) {
  ipc::SegmentOptions segment_options;
  segment_options.allow_untrusted = opts.allow_untrusted;
  auto segment = std::make_shared<ipc::Segment>(ipc::Segment::open(name, segment_options));
  if (segment->size() < kQueueRingOffset) {
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
  char stored_name[kQueueTypeNameBytes];
  std::memcpy(stored_name, shared->type_name, kQueueTypeNameBytes);
  stored_name[kQueueTypeNameBytes - 1] = '\0';
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
  if (maxsize == 0 || slot < spec.min_slot_size || shared->ring_offset != kQueueRingOffset ||
      shared->ring_bytes > segment->size() - kQueueRingOffset) {
    throw_not_a_queue(name, "its header is inconsistent (maxsize " + std::to_string(maxsize) +
                                ", slot size " + std::to_string(slot) + ")");
  }
  // Read once: the names of its large items' segments, checked before use.
  Spec stored = spec;
  stored.slot_size = static_cast<std::size_t>(slot);
  const std::uint64_t ref_length = shared->ref_length;
  const std::int64_t payload_owner = shared->payload_owner;
  const std::uint64_t payload_serial = shared->payload_serial;
  if (ref_length != ref_length_of(stored) ||
      (ref_length != 0 && (payload_owner <= 0 || payload_owner > (std::int64_t{1} << 22)))) {
    throw_not_a_queue(name, "its large-item fields are inconsistent (reference length " +
                                std::to_string(ref_length) + ", owner " +
                                std::to_string(payload_owner) + ")");
  }
  // Read once: the arena's place, checked against the segment before use.
  const std::uint64_t arena_words = shared->arena_words;
  const std::uint64_t arena_offset = shared->arena_offset;
  const std::uint64_t ring_end = kQueueRingOffset + shared->ring_bytes;
  if (arena_words > kQueueArenaMaxWords || (arena_words != 0 && ref_length == 0) ||
      (arena_words != 0 && (arena_offset % kArenaAlign != 0 || arena_offset < ring_end ||
                            arena_offset > segment->size() ||
                            arena_words * kQueueArenaStep > segment->size() - arena_offset))) {
    throw_not_a_queue(name, "its arena fields are inconsistent (" + std::to_string(arena_words) +
                                " words at offset " + std::to_string(arena_offset) + ")");
  }
  const std::span<std::byte> ring_region =
      segment->bytes().subspan(kQueueRingOffset, static_cast<std::size_t>(shared->ring_bytes));
  auto producer = ipc::MpmcByteProducer::attach(ring_region);
  auto consumer = ipc::MpmcByteConsumer::attach(ring_region);
  if (producer.capacity() < maxsize || producer.max_message_size() != message_bytes(stored)) {
    throw_not_a_queue(name, "its ring does not match its header");
  }
  if (opts.wait != producer.wait_strategy()) {
    // A handle may spin or yield on any ring, but may only sleep on a futex ring.
    producer.set_wait_strategy(opts.wait);
    consumer.set_wait_strategy(opts.wait);
  }

  std::shared_ptr<QueueCore> core(new QueueCore);
  core->segment_ = std::move(segment);
  core->shared_ = shared;
  core->wait_ = producer.wait_strategy();
  core->producer_ = std::move(producer);
  core->consumer_ = std::move(consumer);
  core->maxsize_ = static_cast<std::size_t>(maxsize);
  core->slot_size_ = static_cast<std::size_t>(slot);
  core->ref_length_ = static_cast<std::size_t>(ref_length);
  if (ref_length != 0) core->payloads_ = PayloadNames(payload_owner, payload_serial);
  core->max_payload_ = opts.max_payload;
  core->arena_offset_ = static_cast<std::size_t>(arena_offset);
  core->arena_words_ = static_cast<std::size_t>(arena_words);
  return core;
}

QueueCore::~QueueCore() {
  // Large items never taken, or whose producer died between creating and publishing
  // them: the creator's last handle removes them (not a forked copy of it).
  if (removes_payloads_ && !payloads_.empty() && ::getpid() == payloads_.owner_pid()) {
    (void)payloads_.remove_all();
  }
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
  if (is_closed()) {
    throw Closed("ringpool: Queue::try_put: the queue is closed; nothing more can be put");
  }
  return take_unit(shared_->items, maxsize_);
}

ipc::OpStatus QueueCore::reserve(Deadline deadline) {
  using Clock = std::chrono::steady_clock;
  for (std::uint32_t iteration = 0;; ++iteration) {
    if (is_closed()) return ipc::OpStatus::closed;
    if (take_unit(shared_->items, maxsize_)) return ipc::OpStatus::ok;
    if (deadline && Clock::now() >= *deadline) return ipc::OpStatus::timeout;
    if (wait_ == ipc::WaitStrategy::spin ||
        (iteration < kSpinBeforeSleep && wait_ == ipc::WaitStrategy::futex)) {
      ipc::detail::cpu_relax();
    } else if (wait_ == ipc::WaitStrategy::yield) {
      std::this_thread::yield();
    } else {
      const ipc::EventCount::Key key = shared_->space.prepare_wait();
      // seq_cst: the re-check of the EventCount argument; pairs with the seq_cst fetch_sub
      // in item_taken() (the publish). is_closed() pairs with close().
      if (shared_->items.load(std::memory_order_seq_cst) < maxsize_ || is_closed()) {
        shared_->space.cancel_wait();
        continue;
      }
      if (deadline) {
        (void)shared_->space.wait_until(key, *deadline);
      } else {
        (void)shared_->space.wait(key);
      }
    }
  }
}

void QueueCore::cancel_reservation() noexcept {
  item_taken();
}

void QueueCore::item_taken() noexcept {
  // seq_cst: releases the consumer's slot release to the next take_unit() (acquire), and
  // is the publish of the EventCount argument for a producer waiting in reserve().
  shared_->items.fetch_sub(1, std::memory_order_seq_cst);
  // One unit freed: one waiting producer can take it (each waiter takes one unit and
  // tries to take it whenever it wakes, also at its deadline).
  shared_->space.notify_one();
}

std::int64_t queue_self_pid() noexcept {
  return static_cast<std::int64_t>(ipc::detail::current_pid());
}

bool queue_owner_is_gone(std::int64_t owner) noexcept {
  if (owner == 0 || owner == queue_self_pid()) return false;
  // refuses pids <= 0 before any kill()
  return ipc::detail::process_gone_cached(owner, kQueueRecoveryPeriod);
}

void QueueCore::throw_corrupted(const char* operation) const {
  throw Corrupted(std::string("ringpool: Queue::") + operation +
                  ": the queue's ring in shared memory holds impossible indices, slot sequences "
                  "or lengths (a process wrote garbage into it); it cannot be used any more: "
                  "recreate the queue");
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
  producer_.close();  // seq_cst store of the ring's closed flag: the publish for reserve()
  shared_->space.notify_all();
}

}  // namespace ringpool::pool::detail
