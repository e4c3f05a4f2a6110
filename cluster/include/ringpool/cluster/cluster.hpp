#pragma once
// The cluster's processes: init() as the first line of main in every MPI rank, and what
// each rank reported about itself at init.
//
//   int main(int argc, char** argv) {
//     ringpool::cluster::init(argc, argv);   // ranks 1..n-1 serve tasks here and exit
//     ringpool::cluster::Pool pool;           // only rank 0 gets here
//     ...
//   }
//
// Tasks are named across ranks by the spawn registry (RINGPOOL_TASK / RINGPOOL_FUNCTOR,
// see ringpool/pool/spawn.hpp): mpirun starts every rank from the same binary, but at
// other addresses, so a function pointer means nothing on another rank.
#include <sys/types.h>

#include <cstddef>
#include <string>
#include <vector>

#include "ringpool/cluster/errors.hpp"

namespace ringpool::cluster {

// First line of main() in every rank (it also does pool::serve_if_worker's job: in a
// process started by the spawn start method it runs that task and exits). Starts MPI
// (MPI_THREAD_SERIALIZED) and gathers every rank's RankInfo on rank 0. On rank 0 it
// returns and the program runs; when rank 0's program ends (return from main or exit()),
// the other ranks are told to stop and MPI is finalised. On every other rank it serves
// tasks for rank 0's cluster::Pool objects and exits the process with status 0 when rank 0
// finishes; it never returns there. Outside mpirun the program is a cluster of one rank.
// Calling it twice is allowed (the second call does nothing). Throws ClusterError when
// MPI cannot start.
void init(int argc, char** argv);

// True after init() (on rank 0).
[[nodiscard]] bool initialized() noexcept;

// What a rank reported at init: where it runs and what its local pool may use.
struct RankInfo {
  int rank = 0;
  pid_t pid = 0;
  std::string host;
  std::size_t usable_cores = 0;  // topology::usable_cores() in that rank (affinity aware)
  std::string cpus;              // the rank's allowed CPUs, as a list ("0-3")
  std::string machine;           // one line: packages, cores, PUs of its host (hwloc)
};

// Every rank's info, in rank order (size() == world size). Throws ClusterError before init.
[[nodiscard]] const std::vector<RankInfo>& ranks();
// The number of ranks in MPI_COMM_WORLD (1 outside mpirun). Throws ClusterError before init.
[[nodiscard]] std::size_t world_size();

}  // namespace ringpool::cluster
