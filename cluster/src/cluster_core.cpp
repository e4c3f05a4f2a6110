// ClusterCore (rank 0): the façade over ClusterCore::Impl (core_impl.hpp, whose parts are
// in core_ranks.cpp, core_dispatch.cpp, core_results.cpp and core_liveness.cpp), and the
// registry lookup that names a task on every rank.
#include "ringpool/cluster/detail/cluster_core.hpp"

#include <mutex>

#include "core_impl.hpp"
#include "ringpool/pool/errors.hpp"
#include "ringpool/pool/spawn.hpp"

namespace ringpool::cluster::detail {

ClusterCore::ClusterCore(const PoolOptions& options)
    : impl_(std::make_unique<Impl>(options)), link_(pool::detail::PoolLink::create(*this)) {}

ClusterCore::~ClusterCore() {
  try {
    impl_->close();
    impl_->join();
  } catch (...) {
  }
  // Every chunk is settled: a thread inside wait_until() leaves; none enters after this.
  link_.reset();
}

void ClusterCore::send(const ChunkRequest& request) {
  impl_->send(request);
}

bool ClusterCore::wait_until(bool (*ready)(const void*), const void* context,
                             std::optional<pool::detail::Clock::time_point> deadline) {
  return impl_->wait(ready, context, deadline);
}

bool ClusterCore::cancel(pool::detail::StateBase& state) {
  return impl_->cancel(state);
}

bool ClusterCore::running(const pool::detail::StateBase& state) {
  return impl_->running(state);
}

bool ClusterCore::plan_batch(std::size_t tasks) {
  return impl_->plan_batch(tasks);
}

void ClusterCore::note_single_submit() {
  (void)impl_->plan_batch(1);
}

std::size_t ClusterCore::workers() const noexcept {
  return impl_->workers_;
}

std::size_t ClusterCore::max_payload() const noexcept {
  return impl_->max_payload_;
}

std::size_t ClusterCore::chunks_in_flight() const noexcept {
  std::size_t total = 0;
  for (const auto& p : impl_->participants_) total += impl_->limit_for(*p, 1);
  return total;
}

bool ClusterCore::closed() const noexcept {
  std::lock_guard lock(impl_->mu_);
  return impl_->closed_;
}

void ClusterCore::close() {
  impl_->close();
}
void ClusterCore::join() {
  impl_->join();
}
void ClusterCore::terminate() {
  impl_->terminate();
}

LastPlan ClusterCore::last_plan() const {
  std::lock_guard lock(impl_->plan_mu_);
  return impl_->plan_;
}

PoolStats ClusterCore::stats() const {
  PoolStats s;
  {
    std::lock_guard lock(impl_->mu_);
    s.chunks_sent = impl_->chunks_sent_;
    s.ranks_lost = impl_->ranks_lost_;
    s.failed_lost = impl_->failed_lost_;
  }
  std::lock_guard lock(impl_->sink_mu_);
  s.items_per_rank = impl_->items_per_rank_;
  return s;
}

std::uint64_t registered_key(std::uint64_t fn_word) {
  const auto task = ringpool::detail::find_registered_task(
      reinterpret_cast<void (*)()>(static_cast<std::uintptr_t>(fn_word)));
  if (!task || task->pool_invoker == nullptr) {
    throw pool::InvalidArgument(
        "ringpool: a cluster::Pool runs registered tasks only (the other ranks are separate "
        "programs started by mpirun, where this function's address means nothing): register "
        "the function with RINGPOOL_TASK(name), or the function object type with "
        "RINGPOOL_FUNCTOR(Type), at namespace scope");
  }
  return task->key;
}

}  // namespace ringpool::cluster::detail
