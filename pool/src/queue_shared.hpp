#pragma once
// The header of a Queue<T>'s segment (QueueCore::Shared), shared by the parts of QueueCore:
//   queue.cpp         segment create/open, header validation, the maxsize counter, close
//   queue_claims.cpp  gets' claim records and the recovery of dead consumers' claims
//   queue_puts.cpp    puts' records, their claim and commit, dead producers' tombstones
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "ringpool/ipc/event_count.hpp"
#include "ringpool/pool/detail/queue_core.hpp"

namespace ringpool::pool::detail {

inline constexpr std::uint64_t kQueueMagic =
    0x3145554555515052ULL;  // "RPQUEUE1" (version 2 spelt RPOUEUE1)
// 2: the space wait is an ipc::EventCount; 3: per-get claim records; 4: per-put records,
// and large items by reference (payload_owner, payload_serial, ref_length); 5: the payload
// arena (arena_offset, arena_words, arena_used, the records' `arena`); 6: runs of whole
// words for items above kQueueArenaMaxItem, 32 bitmap words (arena_next moved), payload
// marks in claim records
inline constexpr std::uint32_t kQueueVersion = 6;
// Words of the arena's block bitmap (64 blocks of kQueueArenaBlock each).
inline constexpr std::size_t kQueueArenaMaxWords = kQueueArenaMaxBytes / kQueueArenaStep;
// Inside the 4 KiB `ringpool shm` scans for rings.
inline constexpr std::size_t kQueueRingOffset = 3968;
inline constexpr std::size_t kQueueTypeNameBytes = 128;

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
  // The payload arena (queue_arena.cpp): at arena_offset, arena_words * kQueueArenaStep
  // bytes (0 words: none).
  std::uint64_t arena_offset;
  std::uint64_t arena_words;
  char type_name[kQueueTypeNameBytes];  // the creator's element type, NUL-terminated

  // Units of maxsize taken: items in the ring + puts in progress + gets in progress.
  alignas(128) std::atomic<std::uint64_t> items;
  // Producers waiting for a unit sleep here; item_taken() and close() notify.
  alignas(128) ipc::EventCount space;

  // One get's claim record (see the top of this file).
  struct ClaimRecord {
    std::atomic<std::int64_t> owner;   // 0 free, else the pid of the get using it
    ipc::ClaimWord word;               // the tracked pop's claim word
    std::atomic<std::uint64_t> taken;  // 1 from decoding until the unit is given back
    // 0, or the arena run (a handle, QueueCore::ArenaBlocks) the call holds: a put from
    // claiming it until just before it commits; a get from reading its reference until it
    // frees it. A get's record may instead name the one-off payload segment whose
    // reference it read (a payload mark, QueueCore::payload_mark), until after the unlink.
    std::atomic<std::uint64_t> arena;
  };
  alignas(128) std::array<ClaimRecord, kQueueClaimRecords> claims;

  // 0, or the pid of the process settling dead producers' records (recover_dead_puts).
  alignas(128) std::atomic<std::int64_t> put_recovery;
  // Puts running without a record (all were taken).
  std::atomic<std::uint64_t> untracked_puts;
  // Where the next claim of a run inside one arena word starts looking (spreads producers
  // over the words); a hint only. (On this rarely written line: the bitmap fills its own.)
  std::atomic<std::uint64_t> arena_next;
  // One put's record: owner, the tracked claim's word, `taken` = holds a unit of maxsize.
  alignas(128) std::array<ClaimRecord, kQueuePutRecords> puts;

  // The arena's blocks: bit b of word w set = block w * 64 + b is claimed.
  alignas(128) std::array<std::atomic<std::uint64_t>, kQueueArenaMaxWords> arena_used;
};

static_assert(std::is_standard_layout_v<QueueCore::Shared>);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(std::atomic<std::int64_t>::is_always_lock_free);
static_assert(sizeof(QueueCore::Shared::ClaimRecord) == 32);
static_assert(sizeof(QueueCore::Shared) <= kQueueRingOffset);
static_assert(offsetof(QueueCore::Shared, puts) % 128 == 0);
static_assert(kQueueRingOffset % 128 == 0);

// This process's pid, as stored in a record's owner (cached: no system call).
std::int64_t queue_self_pid() noexcept;

// True only when `owner` (read from shared memory) names no running process: gone, or a
// zombie (a parent waiting on its own unreaped child's claim must not wait for ever). Runs
// on every empty get for every record in use, so /proc is read at most once per recovery
// period per pid (a zombie is seen within one period of the last read; a reaped process
// at once). Free records (owner 0) cost no system call.
bool queue_owner_is_gone(std::int64_t owner) noexcept;

}  // namespace ringpool::pool::detail
