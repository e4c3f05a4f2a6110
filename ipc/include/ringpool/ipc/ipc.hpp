#pragma once
// Everything in the ipc module.
#include "ringpool/ipc/byte_ring.hpp"
#include "ringpool/ipc/errors.hpp"
#include "ringpool/ipc/event_count.hpp"
#include "ringpool/ipc/mpmc_ring.hpp"
#include "ringpool/ipc/ring_end.hpp"
#include "ringpool/ipc/ring_options.hpp"
#include "ringpool/ipc/segment.hpp"
#include "ringpool/ipc/segment_scan.hpp"
#include "ringpool/ipc/spsc_ring.hpp"
