#pragma once
// Diagnostics of ringpool::cluster for `ringpool bench cluster`. Internal; rank 0 only.
#include <cstddef>
#include <vector>

namespace ringpool::cluster::detail {

// Round trips, in microseconds, of an `echo` message (16 bytes) from rank 0 to `rank`'s
// serving loop and back: Open MPI's transport plus both progress loops, without a local
// pool (what cluster::Pool's submit().get() adds to it is the hop into the rank's pool and
// back). `samples` values after 200 unmeasured ones. Rank 0 spins (then yields) while it
// waits. The echoes carry an id of their own, so cluster pools may be in use meanwhile (in
// other threads too; the figures then include their traffic). Throws
// ClusterError before init(), for a rank outside the job or when an echo does not come
// back within 5 s.
[[nodiscard]] std::vector<double> echo_round_trips_us(int rank, std::size_t samples);

}  // namespace ringpool::cluster::detail
