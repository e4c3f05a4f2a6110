// Liveness of ClusterCore (rank 0): a remote rank is lost when its process on this host is
// gone, or when it held chunks and said nothing (results or its heartbeat, sent every
// rank_timeout / 4; a message for any pool of this process counts) for rank_timeout; its items then
// fail with RankLost.
#include <algorithm>
#include <cstdio>
#include <mutex>
#include <string>

#include "core_impl.hpp"
#include "ringpool/cluster/errors.hpp"

namespace ringpool::cluster::detail {

// Fails every chunk `p` holds with RankLost and stops using it. Under mu_.
void ClusterCore::Impl::lose(Participant& p, const std::string& why) {
  if (!p.alive.exchange(false)) return;
  std::fprintf(stderr,
               "ringpool: MPI rank %d (pid %d on %s) lost: %s; its tasks fail with RankLost\n",
               p.rank, static_cast<int>(p.pid), p.host.c_str(), why.c_str());
  ++ranks_lost_;
  note_rank_lost(p.rank);
  outbox_.abandon(p.rank);
  p.frames = 0;
  p.unsent.clear();
  p.out = begin_message(Kind::tasks, pool_id_);
  const auto error = std::make_exception_ptr(RankLost(p.rank, why));
  const std::size_t me = index_of(p);
  for (auto it = chunks_.begin(); it != chunks_.end();) {
    auto next = std::next(it);
    if (it->second.participant == me) {
      {
        std::lock_guard lock(sink_mu_);
        for (std::uint32_t i = 0; i < it->second.count; ++i) {
          it->second.sink->fail(it->second.base_index + i, error);
        }
      }
      failed_lost_ += it->second.count;
      settle_chunk(p, it);
    }
    it = next;
  }
}

void ClusterCore::Impl::check_liveness() {
  const auto now = Clock::now();
  if (now - last_liveness_check_ < std::chrono::milliseconds(20)) return;
  last_liveness_check_ = now;
  for (const auto& p : participants_) {
    if (p->local || !p->alive.load()) continue;
    if (p->same_host && pid_gone(p->pid)) {
      lose(*p, "its process " + std::to_string(p->pid) + " is gone");
    } else if (p->in_flight.load() > 0 &&
               now - std::max(p->last_heard, heard_from(p->rank)) > options_.rank_timeout) {
      lose(*p, "silent for more than " + std::to_string(options_.rank_timeout.count()) +
                   " ms while it held tasks");
    }
  }
}

}  // namespace ringpool::cluster::detail
