#pragma once
// ringpool::topology — the machine tree from hwloc, the CPUs this process may use,
// placement policies, the parallel/concurrent plan, and pinning. No hwloc header is
// needed by users of this module.
#include "ringpool/topology/binding.hpp"    // IWYU pragma: export
#include "ringpool/topology/cpu_set.hpp"    // IWYU pragma: export
#include "ringpool/topology/errors.hpp"     // IWYU pragma: export
#include "ringpool/topology/machine.hpp"    // IWYU pragma: export
#include "ringpool/topology/placement.hpp"  // IWYU pragma: export
