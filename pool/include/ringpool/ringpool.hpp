#pragma once
// Everything public in ringpool, in one include:
//   ringpool::Error                         the one base of every ringpool error
//   ringpool::ipc       segments, SPSC/MPMC rings (typed and byte), EventCount
//   ringpool::topology  hwloc machine model, usable CPUs, placement policies, plan, pinning
//   ringpool::pool      Process, Pool, Future, wait/as_completed, Queue/JoinableQueue/SimpleQueue,
//   Pipe,
//                       Lock/RLock/Semaphore/BoundedSemaphore/Event/Condition/Barrier,
//                       Value/Array, Codec, spawn registration
//   ringpool::cluster   init, cluster::Pool across MPI ranks (when the build has it: MPI found)
// Each module's headers may also be included alone (see README, "Modules").
#include "ringpool/error.hpp"
#include "ringpool/ipc/ipc.hpp"
#include "ringpool/pool/codec.hpp"
#include "ringpool/pool/errors.hpp"
#include "ringpool/pool/future.hpp"
#include "ringpool/pool/outcome.hpp"
#include "ringpool/pool/pipe.hpp"
#include "ringpool/pool/pool.hpp"
#include "ringpool/pool/process.hpp"
#include "ringpool/pool/queue.hpp"
#include "ringpool/pool/queue_variants.hpp"
#include "ringpool/pool/shared_value.hpp"
#include "ringpool/pool/spawn.hpp"
#include "ringpool/pool/sync.hpp"
#include "ringpool/pool/this_process.hpp"
#include "ringpool/pool/wait.hpp"
#include "ringpool/topology/topology.hpp"
#if __has_include("ringpool/cluster/pool.hpp")
#include "ringpool/cluster/cluster.hpp"
#include "ringpool/cluster/pool.hpp"
#endif
