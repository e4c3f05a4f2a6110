#pragma once
// Test support, not for users: runs a tracked pop of an MpmcByteConsumer only part of the
// way, as if the consumer died at that instruction, so tests can check recover_claim() at
// every death point (tests/ipc/recovery_test.cpp).
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <span>

#include "ringpool/ipc/byte_ring.hpp"

namespace ringpool::ipc::detail {

// Where a tracked pop stops.
enum class TrackedPopStop : std::uint8_t {
  after_intent,   // intent recorded in the claim word, claim CAS not yet attempted
  after_claim,    // claim CAS succeeded, payload not yet visited
  after_visit,    // payload visited, slot not released
  after_release,  // slot released, claim word not yet cleared
};

struct TrackedPopTestHook {
  // Runs a tracked pop on `consumer` up to `stop` and abandons it there. Returns false if
  // nothing could be claimed.
  template <class F>
  static bool pop_until(MpmcByteConsumer& consumer, ClaimWord& word, F&& f, TrackedPopStop stop) {
    MpmcCore& core = consumer.core_;
    if (stop == TrackedPopStop::after_intent) {
      // relaxed: a hint; same as claim_dequeue().
      const std::uint64_t pos = core.control()->consumer.pos.load(std::memory_order_relaxed);
      // seq_cst: as in MpmcByteConsumer::claim_tracked().
      word.store(pos + 1, std::memory_order_seq_cst);
      return true;
    }
    std::uint64_t pos = 0;
    if (!consumer.claim_tracked(word, pos)) return false;
    if (stop == TrackedPopStop::after_claim) return true;
    const std::byte* s = core.slot(pos);
    f(std::span<const std::byte>(s + kBytePayloadOffset,
                                 std::min<std::uint64_t>(read_len(s), consumer.slot_size_)));
    if (stop == TrackedPopStop::after_visit) return true;
    core.release(pos);
    return true;  // after_release: the word still names the ticket
  }
};

}  // namespace ringpool::ipc::detail
