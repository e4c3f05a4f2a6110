#pragma once
// The one error header of the cluster module. Cluster errors are pool errors
// (`catch (const ringpool::pool::PoolError&)` still catches everything a cluster::Pool
// reports); a task's own exception comes back exactly as on one node (pool/errors.hpp).
#include <string>

#include "ringpool/pool/errors.hpp"

namespace ringpool::cluster {

// MPI could not be started or used, or the cluster module was used before init().
class ClusterError : public pool::PoolError {
 public:
  using pool::PoolError::PoolError;
};

// An MPI rank died (or fell silent past PoolOptions::rank_timeout) while it held tasks:
// each task it held fails with RankLost; the pool goes on with the remaining ranks.
class RankLost : public pool::PoolError {
 public:
  RankLost(int rank, const std::string& why)
      : pool::PoolError("ringpool: MPI rank " + std::to_string(rank) + " was lost (" + why +
                        ") while it held this task; the pool goes on without it"),
        rank_(rank) {}
  [[nodiscard]] int rank() const noexcept { return rank_; }

 private:
  int rank_;
};

}  // namespace ringpool::cluster
