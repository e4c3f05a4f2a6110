#pragma once
// Byte rings: variable-size messages of 0..max_message_size() bytes in fixed-size,
// length-prefixed slots (the maximum, `slot_size`, is chosen at creation).
//
// Slot layout (stride = round_up(16 + slot_size, 16)):
//   [0, 8)    MPMC: 64-bit sequence word (Vyukov); SPSC: unused
//   [8, 12)   message length (uint32), written by the producer before publishing
//   [16, ...) payload
// A length read from shared memory is checked against slot_size before use: a larger
// one marks the handle corrupted() and is never followed.
//
// SpscByteRing: one SpscByteProducer, one SpscByteConsumer (wait-free, move-only; each
// holds its own side's position, see spsc_ring.hpp).
// MpmcByteRing: any number of MpmcByteProducer and MpmcByteConsumer ends (lock-free), plus
// tracked pops for consumers that may die (try_pop_tracked on the consumer,
// recover_claim on the producer, see docs/ipc.md).
#include "ringpool/ipc/mpmc_byte_ring.hpp"
#include "ringpool/ipc/spsc_byte_ring.hpp"
