// cluster::Pool's non-template members: forwarded to ClusterCore.
#include "ringpool/cluster/pool.hpp"

namespace ringpool::cluster {

Pool::Pool(PoolOptions options) : core_(std::make_unique<detail::ClusterCore>(options)) {}

Pool::~Pool() = default;

void Pool::close() {
  core_->close();
}
void Pool::join() {
  core_->join();
}
void Pool::terminate() {
  core_->terminate();
}
LastPlan Pool::last_plan() const {
  return core_->last_plan();
}
PoolStats Pool::stats() const {
  return core_->stats();
}

}  // namespace ringpool::cluster
