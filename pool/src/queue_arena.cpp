// QueueCore's payload arena: a region of the queue's own segment, after the ring, for items
// larger than a slot (the rest of the core is in queue.cpp).
//
// The arena is arena_words * 64 blocks of kQueueArenaBlock bytes; bit b of arena_used[w]
// says block w * 64 + b is claimed. A put claims a run of blocks inside one word with one
// CAS (lock-free: a failed CAS means another claim or free succeeded), or, for an item above
// kQueueArenaMaxItem, consecutive whole words with one CAS each (arena_claim_words), names it in
// its put record (`arena`), encodes the item into it and sends an ArenaRef through its slot; it
// clears `arena` just before it commits (from there the item in the ring owns the run). A
// get names the run in its claim record while it decodes, and after the slot is released
// clears the record and frees the run (fetch_and). No segment is created per item, and the
// pages, once touched, stay mapped in every process: the per-item cost is a copy in and out.
//
// Crash safety: a dead producer's record (recover_dead_puts) still naming a run means its
// item was never published: the run is freed. A dead consumer's record naming a run
// (recover_dead): if its slot was still held, the recovering get takes the item and frees
// the run after decoding it; else the item had left the ring and the run is freed. The
// windows that cost a run (never free it twice): between the claim CAS and the record store,
// (for a run of whole words: from its first word's CAS), between clearing a record and
// freeing, and gets or puts beyond the records (untracked
// puts never use the arena; an untracked get that dies mid-item keeps its run). A run lost
// so only shrinks the arena: later items fall back to one-off payload segments.
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "queue_shared.hpp"
#include "ringpool/pool/errors.hpp"

namespace ringpool::pool::detail {

namespace {

constexpr std::size_t kBlocksPerWord = 64;
constexpr std::uint64_t kFullWord = ~std::uint64_t{0};

// A run: `count` blocks from `first` in word `word`, or (span > 1) the whole words
// word .. word + span - 1 (then first is 0 and count 64).
struct Run {
  std::size_t word = 0;
  std::size_t first = 0;
  std::size_t count = 0;
  std::size_t span = 1;
  // The bits of the run in each of its words.
  [[nodiscard]] std::uint64_t mask() const noexcept {
    const std::uint64_t ones =
        count == kBlocksPerWord ? kFullWord : (std::uint64_t{1} << count) - 1;
    return ones << first;
  }
  [[nodiscard]] std::size_t offset_blocks() const noexcept { return word * kBlocksPerWord + first; }
};

// word << 16 | first << 8 | count, and (span - 1) << 32 for a run of whole words.
std::uint64_t handle_of(const Run& run) noexcept {
  return (static_cast<std::uint64_t>(run.span - 1) << 32) |
         (static_cast<std::uint64_t>(run.word) << 16) |
         (static_cast<std::uint64_t>(run.first) << 8) | static_cast<std::uint64_t>(run.count);
}

// False for a handle (from shared memory) that names no run inside `words` words (a payload
// mark, bit 63, never does).
bool run_of(std::uint64_t handle, std::size_t words, Run& run) noexcept {
  if ((handle >> 40) != 0) return false;
  const std::uint64_t span = ((handle >> 32) & 0xff) + 1;
  const std::uint64_t word = (handle >> 16) & 0xffff;
  const std::uint64_t first = (handle >> 8) & 0xff;
  const std::uint64_t count = handle & 0xff;
  if (word >= words || span > words - word || count == 0 || first >= kBlocksPerWord ||
      count > kBlocksPerWord - first) {
    return false;
  }
  if (span > 1 && (first != 0 || count != kBlocksPerWord)) return false;
  run = Run{static_cast<std::size_t>(word), static_cast<std::size_t>(first),
            static_cast<std::size_t>(count), static_cast<std::size_t>(span)};
  return true;
}

std::size_t blocks_for(std::size_t n) noexcept {
  return (n + kQueueArenaBlock - 1) / kQueueArenaBlock;
}

// Whole words for an item above kQueueArenaMaxItem.
std::size_t words_for(std::size_t n) noexcept {
  return (n + kQueueArenaStep - 1) / kQueueArenaStep;
}

// True when `run` is the shape an item of n bytes takes: a run of blocks_for(n) blocks inside
// one word up to kQueueArenaMaxItem, else words_for(n) whole words.
bool run_fits(const Run& run, std::size_t n) noexcept {
  if (n <= kQueueArenaMaxItem) return run.span == 1 && run.count == blocks_for(n);
  return run.span == words_for(n) && run.first == 0 && run.count == kBlocksPerWord;
}

// The lowest run of `count` clear bits in `used`; false when there is none.
bool find_free(std::uint64_t used, std::size_t count, std::size_t& first) noexcept {
  const std::uint64_t ones = count == kBlocksPerWord ? kFullWord : (std::uint64_t{1} << count) - 1;
  for (std::size_t p = 0; p + count <= kBlocksPerWord;) {
    const std::uint64_t clash = used & (ones << p);
    if (clash == 0) {
      first = p;
      return true;
    }
    // Skip past the highest claimed block of the clash.
    p = kBlocksPerWord - static_cast<std::size_t>(std::countl_zero(clash));
  }
  return false;
}

[[noreturn]] void refuse(const std::string& why) {
  throw DecodeError("ringpool: Queue: an arena reference was refused: " + why +
                    " (the ring holds a forged or stale reference; the item is dropped)");
}

}  // namespace

bool QueueCore::arena_fits(std::size_t n) const noexcept {
  return arena_words_ != 0 && n > slot_size_ &&
         (n <= kQueueArenaMaxItem || words_for(n) <= arena_words_);
}

std::size_t QueueCore::arena_bytes() const noexcept {
  return arena_words_ * kQueueArenaStep;
}

QueueCore::ArenaBlocks QueueCore::arena_claim(PutRecord& record, std::size_t n) noexcept {
  if (!arena_fits(n) || !record.tracked()) return {};
  if (n > kQueueArenaMaxItem) return arena_claim_words(record, n);
  const std::size_t count = blocks_for(n);
  // relaxed: a hint spreading puts over the words; any start is correct.
  const std::uint64_t start = shared_->arena_next.fetch_add(1, std::memory_order_relaxed);
  for (std::size_t i = 0; i < arena_words_; ++i) {
    const std::size_t w = static_cast<std::size_t>((start + i) % arena_words_);
    std::atomic<std::uint64_t>& used = shared_->arena_used[w];
    // relaxed: a first guess; the CAS below decides.
    std::uint64_t seen = used.load(std::memory_order_relaxed);
    // A few attempts per word: each failed CAS means another claim or free went through.
    for (int attempt = 0; attempt < 4; ++attempt) {
      std::size_t first = 0;
      if (!find_free(seen, count, first)) break;
      const Run run{w, first, count, 1};
      // acquire: pairs with the release fetch_and in arena_free(): the last reader of these
      // blocks is done with them before this put writes into them.
      if (used.compare_exchange_weak(seen, seen | run.mask(), std::memory_order_acquire,
                                     std::memory_order_relaxed)) {
        const std::uint64_t handle = handle_of(run);
        record.hold_arena(handle);
        const std::size_t offset = arena_offset_ + run.offset_blocks() * kQueueArenaBlock;
        return ArenaBlocks{handle, segment_->bytes().subspan(offset, n)};
      }
    }
  }
  return {};
}

// An item above kQueueArenaMaxItem: words_for(n) consecutive whole words, each claimed with
// one CAS 0 -> all ones in ascending order. A word found in use ends the attempt: the words
// claimed so far are given back (release, as in arena_free: nothing was written into them)
// and the search goes on past it. Each word is tried at most once per start, so the claim
// ends after O(words^2) CAS attempts at most; lock-free like the one-word claim.
QueueCore::ArenaBlocks QueueCore::arena_claim_words(PutRecord& record, std::size_t n) noexcept {
  const std::size_t span = words_for(n);
  for (std::size_t w = 0; w + span <= arena_words_;) {
    std::size_t claimed = 0;
    while (claimed < span) {
      std::uint64_t expected = 0;
      // acquire: pairs with the release fetch_and in arena_free(), as in arena_claim().
      if (!shared_->arena_used[w + claimed].compare_exchange_strong(
              expected, kFullWord, std::memory_order_acquire, std::memory_order_relaxed)) {
        break;
      }
      ++claimed;
    }
    if (claimed == span) {
      const Run run{w, 0, kBlocksPerWord, span};
      const std::uint64_t handle = handle_of(run);
      record.hold_arena(handle);
      const std::size_t offset = arena_offset_ + run.offset_blocks() * kQueueArenaBlock;
      return ArenaBlocks{handle, segment_->bytes().subspan(offset, n)};
    }
    for (std::size_t i = 0; i < claimed; ++i) {
      // release: as in arena_free(). The word was all ones by our CAS and nobody else frees
      // or claims bits of a full word: it goes back to all clear.
      shared_->arena_used[w + i].store(0, std::memory_order_release);
    }
    w += claimed + 1;  // past the word found in use
  }
  return {};
}

void QueueCore::arena_abandon(PutRecord& record, std::uint64_t handle) noexcept {
  record.drop_arena();  // before the free: a death between the two costs the run
  arena_free(handle);
}

QueueCore::ArenaItem QueueCore::arena_read(std::span<const std::byte> message) const {
  if (arena_words_ == 0) refuse("this queue has no arena");
  if (message.size() < sizeof(ArenaRef)) refuse("the message is too short");
  ArenaRef ref;
  std::memcpy(&ref, message.data(), sizeof ref);  // read once, then checked
  Run run;
  if (ref.magic != kArenaRefMagic || !run_of(ref.handle, arena_words_, run)) {
    refuse("it names no run of blocks inside the arena");
  }
  if (ref.bytes == 0 || ref.bytes > max_payload_ ||
      !run_fits(run, static_cast<std::size_t>(ref.bytes))) {
    refuse("it announces " + std::to_string(ref.bytes) + " bytes for a run of " +
           std::to_string(run.count) + " blocks in " + std::to_string(run.span) +
           " words (max_payload " + std::to_string(max_payload_) + ")");
  }
  for (std::size_t w = run.word; w < run.word + run.span; ++w) {
    // relaxed: a consistency check; the item's bytes are ordered by the ring slot's publish.
    const std::uint64_t used = shared_->arena_used[w].load(std::memory_order_relaxed);
    if ((used & run.mask()) != run.mask()) refuse("its blocks are not claimed");
  }
  const std::size_t offset = arena_offset_ + run.offset_blocks() * kQueueArenaBlock;
  return ArenaItem{ref.handle,
                   segment_->bytes().subspan(offset, static_cast<std::size_t>(ref.bytes))};
}

void QueueCore::arena_free(std::uint64_t handle) const noexcept {
  Run run;
  if (!run_of(handle, arena_words_, run)) return;
  for (std::size_t w = run.word; w < run.word + run.span; ++w) {
    // release: pairs with the acquire CAS in arena_claim() and arena_claim_words(); our
    // reads of the item happen before the next writer's writes.
    shared_->arena_used[w].fetch_and(~run.mask(), std::memory_order_release);
  }
}

std::size_t QueueCore::arena_blocks_used() const noexcept {
  std::size_t n = 0;
  for (std::size_t w = 0; w < arena_words_; ++w) {
    // relaxed: an observation; racy by contract.
    n += static_cast<std::size_t>(
        std::popcount(shared_->arena_used[w].load(std::memory_order_relaxed)));
  }
  return n;
}

void QueueCore::Claim::hold_arena(std::uint64_t handle) const noexcept {
  // seq_cst: before the slot release (seq_cst) that follows; recover_dead() reads the word,
  // then `arena`.
  core_->shared_->claims[index_].arena.store(handle, std::memory_order_seq_cst);
}

void QueueCore::Claim::drop_arena() const noexcept {
  // seq_cst: as in hold_arena(); cleared before the run is freed.
  core_->shared_->claims[index_].arena.store(0, std::memory_order_seq_cst);
}

}  // namespace ringpool::pool::detail
