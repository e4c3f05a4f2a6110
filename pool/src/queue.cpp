// QueueCore: the shared header of a Queue<T>, the exact-maxsize counter and the wait
// for space (an ipc::EventCount; its ordering argument is in ipc/event_count.hpp).
//
// Segment layout:
//   [0, kRingOffset)          Shared (header, counters; plain data)
//   [kRingOffset, ...)        the MpmcByteRing region (its own validated header)
//
// maxsize is enforced by `items`, a counting semaphore in the header: a put takes a
// unit before it claims a ring slot, a get returns the unit after its slot is
// released. Every occupied or claimed slot therefore holds a unit, so the ring (whose
// capacity is maxsize rounded up to a power of two) always has room for a put that
// holds a unit, and at most maxsize items are ever in the queue. (Room, not necessarily
// the slot of the put's ticket: a consumer still copying out an older lap's item holds it;
// the put then waits on the ring's own space EventCount, with the put's deadline.)
//
// Crash safety of gets: the header holds kQueueClaimRecords claim records. A get takes a
// free record (owner: 0 -> its pid, CAS), pops tracked through the record's claim word
// (ipc::MpmcByteConsumer::pop_tracked: ticket + 1 while claiming or holding a slot),
// sets `taken` while decoding (before the slot is released), then clears `taken`, gives
// back its unit and frees the record. Anyone finding the queue empty looks for records
// whose owner no longer runs (gone, or a zombie: ipc::detail::process_gone), takes the record over
// (owner: dead pid -> own pid, CAS, so exactly one process recovers it) and runs
// ipc::MpmcByteProducer::recover_claim on its word: a slot still held is handed over as
// the recovering get's item. The dead get's unit is given back when it held a slot or
// had set `taken`.
//
// Crash safety of puts: the header also holds kQueuePutRecords put records (the same
// layout). A put takes a free record (owner: 0 -> its pid, CAS) right after it reserved its
// unit (a kill in between costs that unit), sets `taken`, claims its slot tracked through the
// record's word (ipc::MpmcByteProducer::claim_tracked: ticket + 1 from just before the claim CAS
// until the slot is published), clears `taken` just before it commits (from there the
// claimed slot or the item carries the unit) and frees the record. Anyone finding the queue
// empty settles the records of dead producers (recover_dead_puts), one process at a time
// (`put_recovery`: 0 or the recovering pid, taken over from a dead recoverer): a claimed,
// unpublished ticket becomes a tombstone (ipc::MpmcByteProducer::recover_put_claim) that
// carries the dead put's unit until a get skips it and gives it back (give_back_skipped);
// a unit held with no ticket is given back at once. Puts beyond the records run untracked,
// counted in `untracked_puts`; while that count is not 0 no ticket is decided.
//
// Every wait has an exit on corruption: impossible ring state throws Corrupted, and a
// counter a peer forced to "full" ends in the caller's timeout.
#include "ringpool/pool/queue.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstring>
#include <string>
#include <thread>
#include <type_traits>

#include "ringpool/ipc/detail/cpu_relax.hpp"
#include "ringpool/ipc/detail/process_probe.hpp"
#include "ringpool/ipc/errors.hpp"
#include "ringpool/ipc/event_count.hpp"
#include "ringpool/ipc/segment.hpp"

namespace ringpool::pool::detail {

namespace {
constexpr std::uint64_t kQueueMagic =
    0x3145554555515052ULL;  // "RPQUEUE1" (version 2 spelt RPOUEUE1)
// 2: the space wait is an ipc::EventCount; 3: per-get claim records; 4: per-put records,
// and large items by reference (payload_owner, payload_serial, ref_length)
constexpr std::uint32_t kQueueVersion = 4;
constexpr std::size_t kRingOffset = 3968;  // inside the 4 KiB `ringpool shm` scans for rings
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
  // Large items (payload.hpp): the owner part of the payload segment names, and the
  // length of a ring message holding a reference (0: items never go by reference).
  std::int64_t payload_owner;
  std::uint64_t payload_serial;
  std::uint64_t ref_length;
  char type_name[kTypeNameBytes];  // the creator's element type, NUL-terminated

  // Units of maxsize taken: items in the ring + puts in progress + gets in progress.
  alignas(128) std::atomic<std::uint64_t> items;
  // Producers waiting for a unit sleep here; item_taken() and close() notify.
  alignas(128) ipc::EventCount space;

  // One get's claim record (see the top of this file).
  struct ClaimRecord {
    std::atomic<std::int64_t> owner;   // 0 free, else the pid of the get using it
    ipc::ClaimWord word;               // the tracked pop's claim word
    std::atomic<std::uint64_t> taken;  // 1 from decoding until the unit is given back
    std::uint64_t reserved;
  };
  alignas(128) std::array<ClaimRecord, kQueueClaimRecords> claims;

  // 0, or the pid of the process settling dead producers' records (recover_dead_puts).
  alignas(128) std::atomic<std::int64_t> put_recovery;
  // Puts running without a record (all were taken).
  std::atomic<std::uint64_t> untracked_puts;
  // One put's record: owner, the tracked claim's word, `taken` = holds a unit of maxsize.
  alignas(128) std::array<ClaimRecord, kQueuePutRecords> puts;
};

static_assert(std::is_standard_layout_v<QueueCore::Shared>);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(std::atomic<std::int64_t>::is_always_lock_free);
static_assert(sizeof(QueueCore::Shared::ClaimRecord) == 32);
static_assert(sizeof(QueueCore::Shared) <= kRingOffset);
static_assert(offsetof(QueueCore::Shared, puts) % 128 == 0);
static_assert(kRingOffset % 128 == 0);

namespace {

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

std::size_t segment_bytes(const QueueCore::Spec& spec) {
  return kRingOffset + ipc::MpmcByteRing::required_bytes(spec.maxsize, message_bytes(spec));
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
  const std::span<std::byte> ring_region = segment->bytes().subspan(kRingOffset);
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
  shared->ring_offset = kRingOffset;
  shared->ring_bytes = ring_region.size();
  shared->payload_owner = payloads.owner_pid();
  shared->payload_serial = payloads.owner_serial();
  shared->ref_length = ref_length;
  const std::size_t n = std::min(spec.type_name.size(), kTypeNameBytes - 1);
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
  core->removes_payloads_ = core->segment_->is_anonymous() || opts.unlink_on_destroy;
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
  segment_options.allow_untrusted = opts.allow_untrusted;
  segment_options.unlink_on_destroy = opts.unlink_on_destroy;
  auto segment = std::make_shared<ipc::Segment>(
      ipc::Segment::create(name, segment_bytes(spec), segment_options));
  return init(std::move(segment), spec, opts);
}

std::shared_ptr<QueueCore> QueueCore::open_named(std::string_view name, const Spec& spec,
                                                 const QueueOptions& opts) {
  ipc::SegmentOptions segment_options;
  segment_options.allow_untrusted = opts.allow_untrusted;
  auto segment = std::make_shared<ipc::Segment>(ipc::Segment::open(name, segment_options));
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
  const std::span<std::byte> ring_region =
      segment->bytes().subspan(kRingOffset, static_cast<std::size_t>(shared->ring_bytes));
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

namespace {
// This process's pid, as stored in a claim record's owner (cached: no system call).
std::int64_t self_pid() noexcept {
  return static_cast<std::int64_t>(ipc::detail::current_pid());
}

// True only when `owner` (read from shared memory) names no running process: gone, or a
// zombie (a parent waiting on its own unreaped child's claim must not wait for ever). Runs
// on every empty get for every record in use, so /proc is read at most once per recovery
// period per pid (a zombie is seen within one period of the last read; a reaped process
// at once). Free records (owner 0) cost no system call.
bool owner_is_gone(std::int64_t owner) noexcept {
  if (owner == 0 || owner == self_pid()) return false;
  // refuses pids <= 0 before any kill()
  return ipc::detail::process_gone_cached(owner, kQueueRecoveryPeriod);
}
}  // namespace

QueueCore::Claim QueueCore::acquire_claim() noexcept {
  const std::int64_t me = self_pid();
  for (std::size_t i = 0; i < kQueueClaimRecords; ++i) {
    std::int64_t expected = 0;
    // seq_cst: pairs with the CAS in recover_dead(); the owner is set before the word.
    if (shared_->claims[i].owner.compare_exchange_strong(expected, me, std::memory_order_seq_cst,
                                                         std::memory_order_relaxed)) {
      return Claim(this, i);
    }
  }
  return {};
}

ipc::ClaimWord& QueueCore::Claim::word() const noexcept {
  return core_->shared_->claims[index_].word;
}

void QueueCore::Claim::mark_taken() const noexcept {
  // seq_cst: before the slot release (seq_cst) that follows it; recover_dead() reads the
  // word, then `taken`, so a death after the release is seen as taken.
  core_->shared_->claims[index_].taken.store(1, std::memory_order_seq_cst);
}

void QueueCore::Claim::done() const noexcept {
  // seq_cst: pairs with the load in recover_dead(); cleared before item_taken().
  core_->shared_->claims[index_].taken.store(0, std::memory_order_seq_cst);
}

QueueCore::Claim::~Claim() {
  if (core_ == nullptr) return;
  Shared::ClaimRecord& record = core_->shared_->claims[index_];
  // seq_cst: the pop is over; its word is normally 0 already, but not when the visit
  // threw (pop_tracked leaves it set then). Cleared before the record is freed.
  record.word.store(0, std::memory_order_seq_cst);
  // seq_cst: pairs with the CAS in acquire_claim().
  record.owner.store(0, std::memory_order_seq_cst);
}

bool QueueCore::recover_dead(const char* operation,
                             const std::function<void(std::span<const std::byte>)>& f) {
  const std::int64_t me = self_pid();
  for (std::size_t i = 0; i < kQueueClaimRecords; ++i) {
    Shared::ClaimRecord& record = shared_->claims[i];
    // seq_cst: pairs with the CAS in acquire_claim().
    std::int64_t owner = record.owner.load(std::memory_order_seq_cst);
    if (!owner_is_gone(owner)) continue;
    // seq_cst: exactly one process takes the dead owner's record over.
    if (!record.owner.compare_exchange_strong(owner, me, std::memory_order_seq_cst,
                                              std::memory_order_relaxed)) {
      continue;
    }
    Claim takeover(this, i);  // frees the record when done
    // The words of records whose owners may still act (other dead owners' words are left
    // out: two dead consumers that named the same ticket would otherwise stay undecided).
    std::array<const ipc::ClaimWord*, kQueueClaimRecords> words{};
    for (std::size_t j = 0; j < kQueueClaimRecords; ++j) {
      // seq_cst: as the owner load above.
      if (j == i || owner_is_gone(shared_->claims[j].owner.load(std::memory_order_seq_cst))) {
        continue;
      }
      words[j] = &shared_->claims[j].word;
    }
    bool recovered = false;
    ipc::MpmcByteProducer producer = this->producer();
    ipc::ClaimRecovery outcome = ipc::ClaimRecovery::none;
    try {
      outcome = producer.recover_claim(record.word, words, [&](std::span<const std::byte> bytes) {
        recovered = true;
        f(bytes);
      });
    } catch (const ipc::IpcError& e) {
      // The held slot had an impossible length: released, never followed. Its unit is
      // given back and the record freed; the caller sees the queue's own error.
      takeover.done();
      item_taken();
      if (e.code() == ipc::IpcErrc::corrupt_indices) throw_corrupted(operation);
      throw;
    } catch (...) {
      // f threw (the item did not decode); the slot is released, its unit is given back
      // and the record freed.
      takeover.done();
      item_taken();
      throw;
    }
    if (outcome == ipc::ClaimRecovery::undecided) {
      // A live consumer is claiming the same ticket: hand the record back to the dead
      // owner so a later call decides. seq_cst: as the CAS above.
      record.owner.store(owner, std::memory_order_seq_cst);
      takeover.core_ = nullptr;
      continue;
    }
    // seq_cst: pairs with the stores in Claim::mark_taken() and Claim::done().
    const bool had_unit = outcome == ipc::ClaimRecovery::recovered ||
                          record.taken.load(std::memory_order_seq_cst) != 0;
    takeover.done();
    if (had_unit) item_taken();
    if (recovered) return true;
  }
  return false;
}

QueueCore::PutRecord QueueCore::acquire_put_record() noexcept {
  const std::int64_t me = self_pid();
  for (std::size_t i = 0; i < kQueuePutRecords; ++i) {
    std::int64_t expected = 0;
    // acquire: pairs with the release store that freed the record (~PutRecord) and with
    // the release stores of a recoverer that settled it; relaxed on failure: next record.
    if (shared_->puts[i].owner.compare_exchange_strong(expected, me, std::memory_order_acquire,
                                                       std::memory_order_relaxed)) {
      return PutRecord(this, i);
    }
  }
  // relaxed: sequenced before this put's claim CAS (release), which a recoverer acquires
  // before it reads this count (recover_put_claim).
  shared_->untracked_puts.fetch_add(1, std::memory_order_relaxed);
  return PutRecord(this, PutRecord::kUntracked);
}

ipc::ClaimWord& QueueCore::PutRecord::word() noexcept {
  if (index_ == kUntracked) return scratch_;
  return core_->shared_->puts[index_].word;
}

void QueueCore::PutRecord::hold_unit() noexcept {
  if (index_ == kUntracked) return;
  // relaxed: read only by a recoverer once this process is gone (all its stores are
  // visible by then: it has exited).
  core_->shared_->puts[index_].taken.store(1, std::memory_order_relaxed);
}

void QueueCore::PutRecord::drop_unit() noexcept {
  if (index_ == kUntracked) return;
  // relaxed: as in hold_unit(); cleared before the unit is given back, so a death between
  // the two costs a unit, never gives it back twice.
  core_->shared_->puts[index_].taken.store(0, std::memory_order_relaxed);
}

QueueCore::PutRecord::~PutRecord() {
  if (core_ == nullptr) return;
  if (index_ == kUntracked) {
    // release: pairs with the acquire load of the count in recover_put_claim(); a recoverer
    // that sees this put gone sees its slot published.
    core_->shared_->untracked_puts.fetch_sub(1, std::memory_order_release);
    return;
  }
  Shared::ClaimRecord& record = core_->shared_->puts[index_];
  // relaxed: the word is 0 already unless the put threw between claim and commit (it never
  // does: the claimed slot is always committed); the release store below orders it.
  record.word.store(0, std::memory_order_relaxed);
  record.taken.store(0, std::memory_order_relaxed);
  // release: pairs with the acquire CAS in acquire_put_record() and the seq_cst load in
  // recover_dead_puts(); the record is idle before it is free.
  record.owner.store(0, std::memory_order_release);
}

bool QueueCore::recover_dead_puts() noexcept {
  const std::int64_t me = self_pid();
  // A quick look first: nothing to do without a dead owner (the common case: no syscall
  // for free records, owner_is_gone's probe for the others).
  bool any_dead = false;
  for (std::size_t i = 0; i < kQueuePutRecords && !any_dead; ++i) {
    // seq_cst: pairs with the owner CAS of a recoverer (below) and of acquire_put_record().
    any_dead = owner_is_gone(shared_->puts[i].owner.load(std::memory_order_seq_cst));
  }
  if (!any_dead) return false;

  // The recovery lock: exactly one process settles dead producers' records at a time.
  // seq_cst (both CAS): a recoverer's decisions (tombstones) follow the previous one's.
  std::int64_t holder = 0;
  if (!shared_->put_recovery.compare_exchange_strong(holder, me, std::memory_order_seq_cst,
                                                     std::memory_order_seq_cst)) {
    if (!owner_is_gone(holder) ||
        !shared_->put_recovery.compare_exchange_strong(holder, me, std::memory_order_seq_cst,
                                                       std::memory_order_relaxed)) {
      return false;  // another process is at it
    }
  }
  ipc::MpmcByteProducer producer = this->producer();
  bool tombstoned = false;
  for (std::size_t i = 0; i < kQueuePutRecords; ++i) {
    Shared::ClaimRecord& record = shared_->puts[i];
    // seq_cst: as the loads above.
    std::int64_t owner = record.owner.load(std::memory_order_seq_cst);
    if (!owner_is_gone(owner)) continue;
    // seq_cst: the dead owner's record is ours (no other recoverer runs, but a recoverer
    // that died mid-way may have left it taken over by itself: then owner is that one).
    if (!record.owner.compare_exchange_strong(owner, me, std::memory_order_seq_cst,
                                              std::memory_order_relaxed)) {
      continue;
    }
    // The words of records whose owners may still act (other dead owners' words are left
    // out: two dead producers that named the same ticket would otherwise stay undecided).
    std::array<const ipc::ClaimWord*, kQueuePutRecords> words{};
    for (std::size_t j = 0; j < kQueuePutRecords; ++j) {
      // seq_cst: as the owner loads above.
      if (j == i || owner_is_gone(shared_->puts[j].owner.load(std::memory_order_seq_cst))) {
        continue;
      }
      words[j] = &shared_->puts[j].word;
    }
    const ipc::PutRecovery outcome =
        producer.recover_put_claim(record.word, words, &shared_->untracked_puts);
    if (outcome == ipc::PutRecovery::undecided) {
      // A producer that may still run may hold the ticket: hand the record back to the dead
      // owner so a later call decides. seq_cst: as the CAS above.
      record.owner.store(owner, std::memory_order_seq_cst);
      continue;
    }
    // relaxed: the dead owner's last store (it has exited); only we touch the record now.
    const bool held_unit = record.taken.load(std::memory_order_relaxed) != 0;
    // relaxed (both): ordered by the release store of owner below.
    record.word.store(0, std::memory_order_relaxed);
    record.taken.store(0, std::memory_order_relaxed);
    // A unit with no slot comes back now; a tombstone carries its unit to the get that
    // skips it; a published item carries its own.
    if (outcome == ipc::PutRecovery::unclaimed && held_unit) item_taken();
    tombstoned = tombstoned || outcome == ipc::PutRecovery::tombstoned;
    // release: pairs with the acquire CAS in acquire_put_record().
    record.owner.store(0, std::memory_order_release);
  }
  // seq_cst: pairs with the CAS that took the lock (ours or a later recoverer's).
  shared_->put_recovery.store(0, std::memory_order_seq_cst);
  return tombstoned;
}

std::span<std::byte> QueueCore::claim_reserved(ipc::MpmcByteProducer& producer, PutRecord& record,
                                               std::size_t n, bool blocking, Deadline deadline,
                                               ipc::OpStatus& status, const char* operation) {
  std::span<std::byte> room;
  try {
    if (blocking) {
      std::optional<std::chrono::nanoseconds> left;
      if (deadline) {
        left = std::max(std::chrono::nanoseconds(0),
                        std::chrono::duration_cast<std::chrono::nanoseconds>(
                            *deadline - std::chrono::steady_clock::now()));
      }
      status = producer.claim_tracked(n, record.word(), room, left);
    } else {
      room = producer.claim_tracked(n, record.word());
      status = room.data() != nullptr ? ipc::OpStatus::ok : ipc::OpStatus::timeout;
    }
  } catch (const ipc::IpcError& e) {
    record.drop_unit();
    cancel_reservation();
    if (e.code() == ipc::IpcErrc::corrupt_indices) throw_corrupted(operation);
    throw;
  }
  if (status == ipc::OpStatus::ok) return room;
  record.drop_unit();
  cancel_reservation();
  if (producer.corrupted()) throw_corrupted(operation);
  return {};
}

void QueueCore::commit_put(ipc::MpmcByteProducer& producer, PutRecord& record, std::size_t n) {
  // Cleared first: from here a death leaves either the claimed ticket (a tombstone, which
  // carries the unit to the get that skips it) or the published item (which carries it);
  // never a unit a recoverer would give back a second time.
  record.drop_unit();
  producer.commit_tracked(n, record.word());
}

void QueueCore::give_back_skipped(ipc::MpmcByteConsumer& consumer) noexcept {
  for (std::size_t n = consumer.take_skipped(); n > 0; --n) item_taken();
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

// ---- JoinCounter --------------------------------------------------------------------------
// The count of a JoinableQueue. join() waits on `all_done` for `unfinished` == 0 with the
// EventCount protocol: the publish is the seq_cst decrement to 0 in task_done() or
// cancel_add(), followed by notify_all() (every joiner waits for the same state).

struct JoinCounter::Shared {
  // Items put and not yet task_done()'d.
  alignas(128) std::atomic<std::uint64_t> unfinished;
  alignas(128) ipc::EventCount all_done;
};

static_assert(std::is_standard_layout_v<JoinCounter::Shared>);
static_assert(sizeof(JoinCounter::Shared) <= 4096);

std::shared_ptr<JoinCounter> JoinCounter::create_anonymous() {
  std::shared_ptr<JoinCounter> counter(new JoinCounter);
  counter->segment_ = std::make_shared<ipc::Segment>(ipc::Segment::anonymous(sizeof(Shared)));
  // The mapping is fresh and zero-filled: no unfinished task, no waiter.
  counter->shared_ = ::new (counter->segment_->data()) Shared();
  return counter;
}

void JoinCounter::add() noexcept {
  // relaxed: sequenced before the put that publishes the item (release in the ring, paired
  // with the get's acquire), so the task_done() of that item comes later in this counter's
  // modification order and never sees this increment missing.
  shared_->unfinished.fetch_add(1, std::memory_order_relaxed);
}

std::uint64_t JoinCounter::decrement() noexcept {
  // relaxed: a first guess; the CAS decides.
  std::uint64_t n = shared_->unfinished.load(std::memory_order_relaxed);
  // Lock-free: each failed CAS means another process changed the count.
  while (n != 0) {
    // seq_cst: the publish of the EventCount argument (event_count.hpp) for join(); pairs
    // with the seq_cst load in wait_all_done().
    if (shared_->unfinished.compare_exchange_weak(n, n - 1, std::memory_order_seq_cst,
                                                  std::memory_order_relaxed)) {
      if (n == 1) shared_->all_done.notify_all();
      return n;
    }
  }
  return 0;
}

void JoinCounter::cancel_add() noexcept {
  static_cast<void>(decrement());
}

void JoinCounter::task_done() {
  if (decrement() == 0) {
    throw InvalidState(
        "ringpool: JoinableQueue::task_done: called more times than items were put (no task "
        "is unfinished); call it once per item taken with get()");
  }
}

bool JoinCounter::wait_all_done(std::optional<std::chrono::steady_clock::time_point> deadline) {
  // seq_cst: the re-check of the EventCount argument; pairs with the CAS in decrement().
  return shared_->all_done.await(
      [&] { return shared_->unfinished.load(std::memory_order_seq_cst) == 0; }, deadline);
}

std::size_t JoinCounter::unfinished_approx() const noexcept {
  // relaxed: an observation; racy by contract.
  return static_cast<std::size_t>(shared_->unfinished.load(std::memory_order_relaxed));
}

}  // namespace ringpool::pool::detail
