#pragma once
// The options and limits of a Queue<T> (queue.hpp), JoinableQueue<T> and SimpleQueue<T>
// (queue_variants.hpp).
#include <sys/types.h>

#include <chrono>
#include <cstddef>

#include "ringpool/ipc/ring_options.hpp"

namespace ringpool::pool {

// Slot size used for types without a fixed encoded size when none is given.
inline constexpr std::size_t kDefaultQueueSlotSize = 1024;
// The bound of a queue created with maxsize 0 (Python's unbounded Queue()).
inline constexpr std::size_t kUnboundedQueueMaxsize = std::size_t{1} << 14;
// The payload arena of a queue whose items may exceed the slot (QueueOptions::arena_bytes):
// 32 MiB by default, at most 64 MiB, in steps of kQueueArenaStep. Items of up to
// kQueueArenaMaxItem encoded bytes take a run of kQueueArenaBlock blocks inside one step;
// larger items take whole consecutive steps (up to the whole arena); each goes through it
// while it has room.
inline constexpr std::size_t kDefaultQueueArenaBytes = std::size_t{32} << 20;
inline constexpr std::size_t kQueueArenaMaxBytes = std::size_t{64} << 20;
inline constexpr std::size_t kQueueArenaBlock = std::size_t{32} << 10;
inline constexpr std::size_t kQueueArenaStep = 64 * kQueueArenaBlock;  // 2 MiB
inline constexpr std::size_t kQueueArenaMaxItem = kQueueArenaStep;

// Every member has an initialiser, so designated initialisers may name any subset.
struct QueueOptions {
  // Largest encoded item in bytes. 0: Codec<T>::fixed_size for fixed-size T, else
  // kDefaultQueueSlotSize. On open: 0 accepts the creator's, anything else must match.
  std::size_t slot_size = 0;
  // Largest encoded item in bytes; larger items (of types without a fixed size) than
  // slot_size travel by reference up to this limit. Per handle: a put above it throws
  // PayloadTooLarge, a get above it DecodeError.
  std::size_t max_payload = std::size_t{1} << 30;
  // Create: bytes of shared memory in the queue's segment for items larger than the slot
  // (types without a fixed size), rounded up to kQueueArenaStep, at most kQueueArenaMaxBytes;
  // 0: none (every such item goes through a one-off payload segment). Mapped with the queue,
  // its pages touched only as items use them and kept (reused by later items) until the
  // queue's segment goes: the memory a queue keeps for large items is at most this. Items
  // larger than it, or arriving while it is full, go through one-off payload segments. On
  // open: ignored (the creator's arena).
  std::size_t arena_bytes = kDefaultQueueArenaBytes;
  // How blocked puts and gets wait: futex (default: sleep, cores stay idle), spin, yield.
  ipc::WaitStrategy wait = ipc::WaitStrategy::futex;
  // Named queues: the creating handle (and its copies) remove the name from /dev/shm
  // when the last of them goes away; processes that opened it keep their mapping.
  bool unlink_on_destroy = true;
  // Named queues: permission bits of the segment.
  mode_t mode = 0600;
  // Named queues, open: accept a segment owned by another uid or open to group/other
  // (a mode other than 0600). Only for queues deliberately shared with other users, all
  // of whom are trusted: any of them can write garbage into the queue or read its items.
  bool allow_untrusted = false;
};

// Per-call claim records in a queue's header: at most this many gets at once are tracked
// for crash recovery (further concurrent gets run untracked).
inline constexpr std::size_t kQueueClaimRecords = 64;
// Per-put records in a queue's header: at most this many puts at once are tracked for
// crash recovery (further concurrent puts run untracked, see the header comment).
inline constexpr std::size_t kQueuePutRecords = 32;
// How often a blocked get looks for dead consumers' claims and dead producers' tickets.
inline constexpr std::chrono::milliseconds kQueueRecoveryPeriod{100};
}  // namespace ringpool::pool
