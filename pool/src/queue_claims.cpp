// QueueCore's claim records: crash safety of gets (the rest of the core is in queue.cpp).
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
// Payload segments (items larger than a slot outside the arena): a get names the segment
// of the reference it read in its record's `arena` word (a payload mark) before it takes
// it, and clears the mark only after it has unlinked the name (which it does after the
// slot's release, so that a get dying while it decodes leaves the name to its recoverer).
// A recoverer that finds a dead get's mark unlinks that name: the dead get's item had left
// the ring (lost with it) or is the recovered one (read here, its slot now released). Only
// a get that popped a reference ever names it, so no live transfer is unlinked.
#include <array>
#include <atomic>
#include <cstddef>
#include <cstring>
#include <functional>

#include "queue_shared.hpp"
#include "ringpool/ipc/byte_ring.hpp"
#include "ringpool/ipc/errors.hpp"

namespace ringpool::pool::detail {

QueueCore::Claim QueueCore::acquire_claim() noexcept {
  const std::int64_t me = queue_self_pid();
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
  // seq_cst: as the word; normally 0 already (ItemHold::release clears it).
  record.arena.store(0, std::memory_order_seq_cst);
  // seq_cst: pairs with the CAS in acquire_claim().
  record.owner.store(0, std::memory_order_seq_cst);
}

std::uint64_t QueueCore::payload_mark(std::span<const std::byte> message) const noexcept {
  if (ref_length_ == 0 || message.size() != ref_length_ || message.size() < sizeof(PayloadRef)) {
    return 0;
  }
  PayloadRef ref;
  std::memcpy(&ref, message.data(), sizeof ref);  // read once (IncomingPayload::take checks)
  // Lane and kept references never reach a queue; only a one-off name is unlinked by its get.
  // Every sequence a sender makes fits (kPayloadSequenceLimit); a forged one may not.
  constexpr std::int64_t kSenderLimit = std::int64_t{1} << 23;
  static_assert(kPayloadSequenceLimit == std::uint64_t{1} << 40);  // the mark's 40 low bits
  if (ref.magic != kPayloadRefMagic || ref.sender <= 0 || ref.sender >= kSenderLimit ||
      ref.sequence >= kPayloadSequenceLimit) {
    return 0;
  }
  return kPayloadMark | static_cast<std::uint64_t>(ref.sender) << 40 | ref.sequence;
}

void QueueCore::remove_marked_payload(std::uint64_t mark) const noexcept {
  if (!is_payload_mark(mark)) return;
  const auto sender = static_cast<std::int64_t>((mark & ~kPayloadMark) >> 40);
  const std::uint64_t sequence = mark & ((std::uint64_t{1} << 40) - 1);
  payloads_.remove(sender, sequence);  // refuses sender <= 0; the queue's own prefix only
}

bool QueueCore::recover_dead(const char* operation,
                             const std::function<void(std::span<const std::byte>)>& f) {
  const std::int64_t me = queue_self_pid();
  for (std::size_t i = 0; i < kQueueClaimRecords; ++i) {
    Shared::ClaimRecord& record = shared_->claims[i];
    // seq_cst: pairs with the CAS in acquire_claim().
    std::int64_t owner = record.owner.load(std::memory_order_seq_cst);
    if (!queue_owner_is_gone(owner)) continue;
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
      if (j == i || queue_owner_is_gone(shared_->claims[j].owner.load(std::memory_order_seq_cst))) {
        continue;
      }
      words[j] = &shared_->claims[j].word;
    }
    bool recovered = false;
    // On the error paths below the slot is released: a named payload segment goes.
    const auto remove_named_payload = [&]() noexcept {
      // seq_cst: as Claim::hold_arena().
      const std::uint64_t held = record.arena.load(std::memory_order_seq_cst);
      if (is_payload_mark(held)) {
        remove_marked_payload(held);
        // seq_cst: as the load above.
        record.arena.store(0, std::memory_order_seq_cst);
      }
    };
    ipc::MpmcByteProducer producer = this->producer();
    ipc::ClaimRecovery outcome = ipc::ClaimRecovery::none;
    try {
      outcome = producer.recover_claim(record.word, words, [&](std::span<const std::byte> bytes) {
        recovered = true;
        // seq_cst: as Claim::hold_arena(). The record names the recovered item's payload
        // segment (if the dead get had not yet) until its name is unlinked below.
        if (const std::uint64_t mark = payload_mark(bytes)) {
          record.arena.store(mark, std::memory_order_seq_cst);
        }
        f(bytes);
      });
    } catch (const ipc::IpcError& e) {
      // The held slot had an impossible length: released, never followed. Its unit is
      // given back and the record freed; the caller sees the queue's own error. A run the
      // record names is left claimed (which item owned it is unknown).
      remove_named_payload();
      takeover.done();
      item_taken();
      if (e.code() == ipc::IpcErrc::corrupt_indices) throw_corrupted(operation);
      throw;
    } catch (...) {
      // f threw (the item did not decode); the slot is released, its unit is given back
      // and the record freed. The item's run is the caller's to free (its ItemHold).
      remove_named_payload();
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
    // seq_cst: pairs with Claim::hold_arena(). A run: with the slot recovered, its reference
    // names the same run and the caller frees it after decoding; otherwise the dead get's
    // item had left the ring and the run it still names is freed here (the record forgets
    // it first: a run is never freed twice). A payload mark: the slot is released either
    // way, so its name goes now, before the record forgets it (the caller's own unlink of a
    // recovered item then finds no name).
    if (is_payload_mark(record.arena.load(std::memory_order_seq_cst))) {
      remove_named_payload();
    } else {
      // seq_cst: as the load above.
      const std::uint64_t arena = record.arena.exchange(0, std::memory_order_seq_cst);
      if (arena != 0 && outcome != ipc::ClaimRecovery::recovered) arena_free(arena);
    }
    takeover.done();
    if (had_unit) item_taken();
    if (recovered) return true;
  }
  return false;
}

}  // namespace ringpool::pool::detail
