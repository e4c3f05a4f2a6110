// QueueCore's put records: crash safety of puts, the tracked claim and commit of a put's
// slot, and the tombstones of dead producers (the rest of the core is in queue.cpp).
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
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <optional>

#include "queue_shared.hpp"
#include "ringpool/ipc/byte_ring.hpp"
#include "ringpool/ipc/errors.hpp"

namespace ringpool::pool::detail {

QueueCore::PutRecord QueueCore::acquire_put_record() noexcept {
  const std::int64_t me = queue_self_pid();
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

void QueueCore::PutRecord::hold_arena(std::uint64_t handle) noexcept {
  if (index_ == kUntracked) return;
  // relaxed: read only by a recoverer once this process is gone, as `taken`.
  core_->shared_->puts[index_].arena.store(handle, std::memory_order_relaxed);
}

void QueueCore::PutRecord::drop_arena() noexcept {
  hold_arena(0);
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
  record.arena.store(0, std::memory_order_relaxed);
  // release: pairs with the acquire CAS in acquire_put_record() and the seq_cst load in
  // recover_dead_puts(); the record is idle before it is free.
  record.owner.store(0, std::memory_order_release);
}

bool QueueCore::recover_dead_puts() noexcept {
  const std::int64_t me = queue_self_pid();
  // A quick look first: nothing to do without a dead owner (the common case: no syscall
  // for free records, owner_is_gone's probe for the others).
  bool any_dead = false;
  for (std::size_t i = 0; i < kQueuePutRecords && !any_dead; ++i) {
    // seq_cst: pairs with the owner CAS of a recoverer (below) and of acquire_put_record().
    any_dead = queue_owner_is_gone(shared_->puts[i].owner.load(std::memory_order_seq_cst));
  }
  if (!any_dead) return false;

  // The recovery lock: exactly one process settles dead producers' records at a time.
  // seq_cst (both CAS): a recoverer's decisions (tombstones) follow the previous one's.
  std::int64_t holder = 0;
  if (!shared_->put_recovery.compare_exchange_strong(holder, me, std::memory_order_seq_cst,
                                                     std::memory_order_seq_cst)) {
    if (!queue_owner_is_gone(holder) ||
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
    if (!queue_owner_is_gone(owner)) continue;
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
      if (j == i || queue_owner_is_gone(shared_->puts[j].owner.load(std::memory_order_seq_cst))) {
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
    // relaxed: as `taken`. A run still named was never published (commit_put() clears it
    // before the commit): free it, whatever became of the ticket.
    const std::uint64_t arena = record.arena.load(std::memory_order_relaxed);
    // relaxed (all three): ordered by the release store of owner below.
    record.word.store(0, std::memory_order_relaxed);
    record.taken.store(0, std::memory_order_relaxed);
    record.arena.store(0, std::memory_order_relaxed);
    if (arena != 0) arena_free(arena);
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
  // never a unit a recoverer would give back a second time. The item's arena run (if any)
  // belongs to the item from here: the record forgets it first (a death between the two
  // costs the run, never frees it under a published item).
  record.drop_arena();
  record.drop_unit();
  producer.commit_tracked(n, record.word());
}

void QueueCore::give_back_skipped(ipc::MpmcByteConsumer& consumer) noexcept {
  for (std::size_t n = consumer.take_skipped(); n > 0; --n) item_taken();
}

}  // namespace ringpool::pool::detail
