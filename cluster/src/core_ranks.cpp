// Rank bookkeeping of ClusterCore (rank 0): the participants (rank 0's local pool, the
// remote ranks and what each answered at open), the plan over their cores, and the end of
// a pool (close, join, terminate).
#include <algorithm>
#include <atomic>
#include <string>
#include <utility>

#include "core_impl.hpp"
#include "ringpool/cluster/cluster.hpp"
#include "ringpool/cluster/errors.hpp"
#include "ringpool/pool/errors.hpp"

namespace ringpool::cluster::detail {

ClusterCore::Impl::Impl(const PoolOptions& options) : options_(options) {
  if (!initialized()) {
    throw ClusterError(
        "ringpool: cluster::Pool before cluster::init(argc, argv): call it as the first "
        "line of main in every rank");
  }
  const auto& world = ranks();
  const std::size_t n = options.ranks.value_or(world.size());
  if (n == 0 || n > world.size()) {
    throw pool::InvalidArgument("ringpool: cluster::PoolOptions::ranks is " + std::to_string(n) +
                                " but the job has " + std::to_string(world.size()) +
                                " rank(s) (start more with mpirun -np N)");
  }
  if (!options.local && n < 2) {
    throw pool::InvalidArgument(
        "ringpool: cluster::PoolOptions::local = false needs at least one other rank "
        "(ranks >= 2 under mpirun -np 2 or more)");
  }
  if (options.workers_per_rank && *options.workers_per_rank == 0) {
    throw pool::InvalidArgument("ringpool: cluster::PoolOptions::workers_per_rank must be > 0");
  }
  if (options.rank_timeout.count() <= 0) {
    throw pool::InvalidArgument("ringpool: cluster::PoolOptions::rank_timeout must be > 0");
  }
  items_per_rank_.assign(world.size(), 0);
  if (options.local) {
    pool::PoolOptions o;
    o.workers = options.workers_per_rank;
    o.wait = options.wait;
    o.slot_size = options.slot_size;
    o.ring_depth = options.ring_depth;
    local_ = std::make_unique<pool::detail::PoolCore>(o);
    auto p = std::make_unique<Participant>();
    p->rank = 0;
    p->local = true;
    p->workers = local_->workers();
    p->ring_messages = local_->ring_messages();
    p->max_payload = local_->max_payload();
    p->host = world[0].host;
    p->pid = world[0].pid;
    p->same_host = true;
    participants_.push_back(std::move(p));
  }
  open_remote(n);
  max_payload_ = participants_.front()->max_payload;
  for (const auto& p : participants_) {
    max_payload_ = std::min(max_payload_, p->max_payload);
    workers_ += p->workers;
  }
}

void ClusterCore::Impl::open_remote(std::size_t n) {
  const auto& world = ranks();
  if (n < 2) return;
  std::lock_guard lock(mu_);
  OpenBody body;
  body.workers = options_.workers_per_rank.value_or(0);
  body.slot_size = options_.slot_size;
  body.ring_depth = options_.ring_depth;
  body.spin = options_.wait == pool::WaitMode::spin ? 1 : 0;
  body.heartbeat_ms =
      static_cast<std::uint32_t>(std::max<std::int64_t>(options_.rank_timeout.count() / 4, 1));
  const std::size_t first = participants_.size();
  for (std::size_t r = 1; r < n; ++r) {
    auto p = std::make_unique<Participant>();
    p->rank = static_cast<int>(r);
    p->host = world[r].host;
    p->pid = world[r].pid;
    p->same_host = world[r].host == world[0].host;
    p->out = begin_message(Kind::tasks, pool_id_);
    auto message = begin_message(Kind::open, pool_id_);
    put(message, body);
    outbox_.send(p->rank, std::move(message));
    participants_.push_back(std::move(p));
  }
  // Every rank answers with its local pool's size, or why it could not open one.
  const auto deadline =
      Clock::now() + std::max<Clock::duration>(options_.rank_timeout * 4, std::chrono::seconds(10));
  Backoff backoff(false, std::chrono::microseconds(1000));
  for (;;) {
    bool all = true;
    for (std::size_t i = first; i < participants_.size(); ++i) {
      all = all && participants_[i]->open_answered;
    }
    if (all) break;
    if (Clock::now() >= deadline) {
      throw ClusterError(
          "ringpool: an MPI rank did not answer cluster::Pool's open request "
          "within " +
          std::to_string(options_.rank_timeout.count() * 4) + " ms");
    }
    if (receive_some() > 0) {
      backoff.reset();
    } else {
      backoff.pause();
    }
  }
  for (std::size_t i = first; i < participants_.size(); ++i) {
    const auto& p = *participants_[i];
    if (!p.open_error.empty()) {
      throw ClusterError("ringpool: MPI rank " + std::to_string(p.rank) +
                         " could not open its local pool: " + p.open_error);
    }
    participants_[i]->last_heard = Clock::now();
  }
}

std::size_t ClusterCore::Impl::index_of(const Participant& p) const noexcept {
  for (std::size_t i = 0; i < participants_.size(); ++i) {
    if (participants_[i].get() == &p) return i;
  }
  return 0;
}

ClusterCore::Impl::Participant* ClusterCore::Impl::participant_of(int rank) noexcept {
  for (const auto& p : participants_) {
    if (!p->local && p->rank == rank) return p.get();
  }
  return nullptr;
}

bool ClusterCore::Impl::plan_batch(std::size_t tasks) {
  LastPlan plan;
  plan.tasks = tasks;
  plan.cores = 0;
  for (const auto& p : participants_) {
    if (!p->alive.load()) continue;
    plan.per_rank.push_back(RankPlan{p->rank, p->workers, p->host});
    plan.cores += p->workers;
  }
  plan.ranks = options_.ranks.value_or(ranks().size());
  if (!options_.local) plan.per_rank.insert(plan.per_rank.begin(), RankPlan{0, 0, ranks()[0].host});
  const bool parallel = tasks > 0 && tasks <= plan.cores;
  plan.mode = parallel ? topology::Mode::parallel : topology::Mode::concurrent;
  const std::string counts =
      std::to_string(plan.cores) + " workers on " + std::to_string(plan.ranks) + " rank(s)";
  if (tasks == 0) {
    plan.reason = "an input of unknown length runs concurrently over " + counts;
  } else if (parallel) {
    plan.reason = std::to_string(tasks) + " task(s) <= " + counts +
                  ": parallel, one task per core (chunks of 1)";
  } else {
    plan.reason = std::to_string(tasks) + " tasks > " + counts +
                  ": concurrent, chunks handed to ranks as they have room";
  }
  std::lock_guard lock(plan_mu_);
  plan_ = std::move(plan);
  return parallel;
}

void ClusterCore::Impl::close() {
  std::lock_guard lock(mu_);
  closed_ = true;
  if (local_) local_->close();
}

void ClusterCore::Impl::end_remote(Kind kind) {
  std::lock_guard lock(mu_);
  for (const auto& p : participants_) {
    if (p->local || !p->alive.load()) continue;
    flush(*p);
    outbox_.send(p->rank, begin_message(kind, pool_id_));
  }
  const auto deadline = Clock::now() + options_.rank_timeout * 2;
  Backoff backoff(false, std::chrono::microseconds(1000));
  for (;;) {
    bool all = true;
    for (const auto& p : participants_) {
      if (!p->local && p->alive.load() && !p->close_answered) all = false;
    }
    if (all || Clock::now() >= deadline) break;
    if (receive_some() > 0) {
      backoff.reset();
    } else {
      check_liveness();
      backoff.pause();
    }
  }
  outbox_.drain(Clock::now() + std::chrono::seconds(1));
}

void ClusterCore::Impl::join() {
  {
    std::lock_guard lock(mu_);
    if (joined_) return;
    if (!closed_) {
      throw pool::InvalidState(
          "ringpool: cluster::Pool::join() before close() or terminate() (as Python's "
          "Pool.join)");
    }
  }
  wait(&idle, this, std::nullopt);
  end_remote(Kind::close);
  if (local_) local_->join();
  std::lock_guard lock(mu_);
  joined_ = true;
}

void ClusterCore::Impl::terminate() {
  {
    std::lock_guard lock(mu_);
    if (joined_) return;
    closed_ = true;
    const auto error = std::make_exception_ptr(
        pool::Closed("ringpool: the cluster pool was terminated before this task finished"));
    for (auto it = chunks_.begin(); it != chunks_.end();) {
      auto next = std::next(it);
      Participant& p = *participants_[it->second.participant];
      {
        std::lock_guard sinks(sink_mu_);
        for (std::uint32_t i = 0; i < it->second.count; ++i) {
          it->second.sink->fail(it->second.base_index + i, error);
        }
      }
      settle_chunk(p, it);
      it = next;
    }
  }
  end_remote(Kind::terminate);
  if (local_) local_->terminate();
  std::lock_guard lock(mu_);
  joined_ = true;
}

}  // namespace ringpool::cluster::detail
