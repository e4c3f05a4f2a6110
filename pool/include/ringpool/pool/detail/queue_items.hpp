#pragma once
// The items of a Queue<T> as bytes: an item's encoded size checked against the slot and the
// handle's limit, the encoding of an item larger than the slot into a payload segment of
// its own, and the decoding of a ring message (the item's bytes, or a reference to a run in
// the queue's arena or to such a segment). docs/codec.md, "Any size"; docs/ipc.md, "Queue
// payload arena".
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <utility>

#include "ringpool/pool/codec.hpp"
#include "ringpool/pool/detail/payload.hpp"
#include "ringpool/pool/detail/queue_core.hpp"
#include "ringpool/pool/errors.hpp"

namespace ringpool::pool::detail {

// The encoded size of `value`. Throws PayloadTooLarge when it exceeds the slot of a queue
// whose items never go by reference, or the handle's max_payload.
template <class T>
std::size_t queue_item_size(const QueueCore& core, const T& value) {
  const std::size_t n = Codec<T>::size(value);
  if (n > core.slot_size()) {
    if (core.ref_length() == 0) throw PayloadTooLarge(n, core.slot_size(), "queue item");
    if (n > core.max_payload()) {
      throw PayloadTooLarge(n, core.max_payload(), "queue item",
                            PayloadTooLarge::OverLimit{"QueueOptions::max_payload"});
    }
  }
  return n;
}

// An item larger than the slot, encoded straight into a new payload segment (before a
// unit is reserved: a long encode holds no capacity); empty for an item that fits.
template <class T>
OutgoingPayload encode_large_item(const QueueCore& core, const T& value, std::size_t n) {
  if (n <= core.slot_size()) return {};
  OutgoingPayload large = OutgoingPayload::create(core.payloads(), n);
  Codec<T>::encode(value, large.bytes());  // throws: the segment is unlinked
  return large;
}

// What a get holds of its item outside the ring until the item's slot is released: its arena
// run (named in the get's claim record, when it has one, while the item is decoded), or its
// payload segment (mapped, its name left in /dev/shm). Released once the slot is released
// (release(), or the destructor on every path): the record forgets the run, then it is freed;
// the segment is unmapped, then its name unlinked. A get that dies before that leaves both to
// the get that recovers its slot (QueueCore::recover_dead).
class ItemHold {
 public:
  ItemHold(const QueueCore& core, const QueueCore::Claim* claim) noexcept
      : core_(&core), claim_(claim) {}
  ItemHold(const ItemHold&) = delete;
  ItemHold& operator=(const ItemHold&) = delete;
  ~ItemHold() { release(); }

  // Precondition: the item's slot is still held.
  void set(std::uint64_t handle) noexcept {
    handle_ = handle;
    if (claim_ != nullptr && *claim_) claim_->hold_arena(handle);
  }
  // Precondition: the item's slot is still held, before its reference is taken: the get's
  // claim record names the payload segment (`mark`, QueueCore::payload_mark; 0: nothing).
  void name_payload(std::uint64_t mark) noexcept {
    if (mark == 0 || claim_ == nullptr || !*claim_) return;
    claim_->hold_arena(mark);
    named_ = true;
  }
  // Precondition: the item's slot is still held; `payload` was taken with
  // UnlinkName::on_release. Returns its bytes.
  std::span<const std::byte> keep(IncomingPayload&& payload) noexcept {
    payload_ = std::move(payload);
    return payload_.bytes();
  }
  // After the slot is released.
  void release() noexcept {
    // Unmapped and unlinked first, then the record forgets the name: a death between the
    // two leaves the record to a recoverer, whose unlink then finds no name.
    payload_ = IncomingPayload();
    if (std::exchange(named_, false)) claim_->drop_arena();
    if (handle_ == 0) return;
    if (claim_ != nullptr && *claim_) claim_->drop_arena();
    core_->arena_free(std::exchange(handle_, 0));
  }

 private:
  const QueueCore* core_;
  const QueueCore::Claim* claim_;
  std::uint64_t handle_ = 0;
  bool named_ = false;  // the claim record names the payload segment
  IncomingPayload payload_;
};

// An item as it came out of the ring: its bytes, a reference to its run in the queue's
// arena, or a reference to a payload segment; `hold` keeps the run or the segment until the
// caller has released the slot.
template <class T>
T decode_queue_item(const QueueCore& core, std::span<const std::byte> bytes, ItemHold& hold) {
  if (core.ref_length() != 0 && bytes.size() == core.ref_length()) {
    std::uint64_t magic = 0;
    std::memcpy(&magic, bytes.data(), sizeof magic);
    if (magic == kArenaRefMagic) {
      const QueueCore::ArenaItem item = core.arena_read(bytes);
      hold.set(item.handle);
      return Codec<T>::decode(item.bytes);
    }
    hold.name_payload(core.payload_mark(bytes));
    return Codec<T>::decode(
        hold.keep(IncomingPayload::take(core.payloads(), bytes.first(sizeof(PayloadRef)),
                                        core.max_payload(), nullptr, UnlinkName::on_release)));
  }
  return Codec<T>::decode(bytes);
}

}  // namespace ringpool::pool::detail
