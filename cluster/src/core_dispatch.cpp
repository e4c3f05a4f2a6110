// Dispatch of ClusterCore (rank 0): each chunk goes to the participant with the lowest share
// of its bound in use (rank 0's local pool, or a remote rank, whose chunks gather into one
// tasks message per progress step unless it is starving).
#include <algorithm>
#include <cstring>
#include <iterator>
#include <mutex>
#include <optional>

#include "core_impl.hpp"
#include "ringpool/cluster/errors.hpp"
#include "ringpool/pool/errors.hpp"

namespace ringpool::cluster::detail {

// ---- capacity ----------------------------------------------------------------------
// Chunks `p` may hold. Rank 0's own pool: as many as its rings hold (no network in the
// way; what it cannot take waits for room). A remote rank: enough to keep its workers busy
// through a round trip, and no more, so that the end of a batch is not left to a slow rank.
std::size_t ClusterCore::Impl::limit_for(const Participant& p, std::size_t count) const noexcept {
  if (p.local) return std::max<std::size_t>(p.ring_messages, 1);
  const std::size_t per_items = (options_.items_in_flight + std::max<std::size_t>(count, 1) - 1) /
                                std::max<std::size_t>(count, 1);
  return std::max<std::size_t>(1, std::min(p.ring_messages, std::max(2 * p.workers, per_items)));
}

// The participant with the most free room for a chunk of `count` items, or nullptr.
ClusterCore::Impl::Participant* ClusterCore::Impl::choose(std::size_t count) noexcept {
  Participant* best = nullptr;
  double best_load = 2.0;
  for (const auto& p : participants_) {
    if (!p->alive.load(std::memory_order_acquire)) continue;
    const std::size_t limit = limit_for(*p, count);
    // acquire: pairs with the release decrements when chunks settle.
    const std::size_t held = p->in_flight.load(std::memory_order_acquire);
    if (held >= limit) continue;
    const double load = static_cast<double>(held) / static_cast<double>(limit);
    if (load < best_load) {
      best = p.get();
      best_load = load;
    }
  }
  return best;
}

bool ClusterCore::Impl::has_room(const void* ctx) noexcept {
  const auto* q = static_cast<const RoomQuery*>(ctx);
  bool any_alive = false;
  for (const auto& p : q->impl->participants_) {
    if (!p->alive.load(std::memory_order_acquire)) continue;
    any_alive = true;
    if (p->in_flight.load(std::memory_order_acquire) < q->impl->limit_for(*p, q->count)) {
      return true;
    }
  }
  return !any_alive;  // nobody left: send() reports it
}

bool ClusterCore::Impl::idle(const void* ctx) noexcept {
  const auto* self = static_cast<const Impl*>(ctx);
  for (const auto& p : self->participants_) {
    if (p->in_flight.load(std::memory_order_acquire) != 0) return false;
  }
  return true;
}

void ClusterCore::Impl::send(const ChunkRequest& req) {
  if (req.payload.size() > max_payload_) {
    throw pool::PayloadTooLarge(req.payload.size(), max_payload_, "chunk of arguments");
  }
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (joined_ || (closed_ && !req.continues_batch)) {
        throw pool::Closed("ringpool: the cluster pool is closed; no more tasks");
      }
      if (Participant* p = choose(req.count)) {
        if (p->local) {
          send_local(*p, req);
        } else {
          send_remote(*p, req);
        }
        ++chunks_sent_;
        return;
      }
      bool any_alive = false;
      for (const auto& p : participants_) any_alive = any_alive || p->alive.load();
      if (!any_alive) {
        throw ClusterError(
            "ringpool: every MPI rank of this cluster pool was lost; nothing can run");
      }
    }
    RoomQuery q{this, req.count};
    wait(&has_room, &q, std::nullopt);
  }
}

ClusterCore::Impl::LocalChunk* ClusterCore::Impl::take_local_chunk() {
  std::lock_guard lock(sink_mu_);
  if (free_local_.empty()) {
    local_chunks_.emplace_back();
    local_chunks_.back().impl = this;
    return &local_chunks_.back();
  }
  LocalChunk* c = free_local_.back();
  free_local_.pop_back();
  return c;
}

void ClusterCore::Impl::send_local(Participant& p, const ChunkRequest& req) {
  LocalChunk* c = take_local_chunk();
  c->target = req.sink;
  pool::detail::SendRequest s;
  s.invoker = req.invoker;
  s.fn = req.fn;
  s.count = req.count;
  s.item_size = req.item_size;
  s.payload_bytes = req.payload.size();
  s.encode = [](const void* ctx, std::byte* out) {
    const auto& bytes = *static_cast<const std::span<const std::byte>*>(ctx);
    if (!bytes.empty()) std::memcpy(out, bytes.data(), bytes.size());
  };
  s.context = &req.payload;
  s.sink = c;
  s.owned_state = req.owned_state;
  s.base_index = req.base_index;
  s.route = pool::detail::kRouteShared;
  s.continues_batch = req.continues_batch;
  // relaxed: under mu_; the release decrement in LocalChunk::settled pairs with readers.
  p.in_flight.fetch_add(1, std::memory_order_relaxed);
  try {
    local_->send(s);
  } catch (...) {
    p.in_flight.fetch_sub(1, std::memory_order_release);
    std::lock_guard lock(sink_mu_);
    free_local_.push_back(c);
    throw;
  }
}

void ClusterCore::Impl::send_remote(Participant& p, const ChunkRequest& req) {
  const std::uint64_t id = ++next_chunk_;
  TaskFrame f;
  f.chunk_id = id;
  f.key = req.key;
  f.count = req.count;
  f.item_size = req.item_size;
  f.payload_bytes = req.payload.size();
  const std::size_t offset = p.out.size();
  put(p.out, f);
  p.out.insert(p.out.end(), req.payload.begin(), req.payload.end());
  ++p.frames;
  p.unsent.push_back(id);
  Chunk c;
  c.out_offset = offset;
  c.out_bytes = p.out.size() - offset;
  c.sink = req.sink;
  c.owned_state = req.owned_state;
  c.base_index = req.base_index;
  c.count = req.count;
  c.participant = index_of(p);
  chunks_.emplace(id, c);
  if (c.owned_state != nullptr) owned_chunks_.emplace(c.owned_state, id);
  // relaxed: under mu_ (readers outside it only need an eventually-current hint).
  if (p.in_flight.fetch_add(1, std::memory_order_relaxed) == 0) p.last_heard = Clock::now();
  remote_in_flight_.fetch_add(1, std::memory_order_relaxed);
  // Send at once while the rank has fewer chunks than workers (it is starving, and a
  // single submit must not wait); otherwise let chunks gather into one message, sent at
  // the next progress step.
  const std::size_t sent = p.in_flight.load(std::memory_order_relaxed) - p.unsent.size();
  if (sent < p.workers || p.out.size() >= 64 * 1024 ||
      p.frames >= std::max<std::size_t>(limit_for(p, req.count) / 4, 1)) {
    flush(p);
  }
}

void ClusterCore::Impl::flush(Participant& p) {
  if (p.frames == 0) return;
  set_frames(p.out, p.frames);
  std::vector<std::byte> message = std::move(p.out);
  p.out = begin_message(Kind::tasks, pool_id_);
  p.frames = 0;
  p.unsent.clear();
  outbox_.send(p.rank, std::move(message));
}

// A remote chunk can be cancelled while its frame still waits in `out` (it is cut out: the
// rank never sees it); once sent, rank 0 cannot take it back, and it counts as running (as
// Python's ProcessPoolExecutor marks a future running once it is in the call queue). A
// chunk in rank 0's own pool: as pool::Pool (cancellable until a worker starts it).
bool ClusterCore::Impl::cancel(StateBase& state) {
  DeferredCallbacks deferred;
  std::optional<bool> remote;
  {
    std::lock_guard lock(mu_);
    deferred.install();
    remote = cancel_remote(state);
    deferred.uninstall();
  }
  deferred.run();
  if (remote) return *remote;
  // Not a remote chunk: rank 0's own pool, without mu_ (it runs callbacks, which may submit).
  return local_ ? local_->cancel(state) : state.cancelled();
}

std::optional<bool> ClusterCore::Impl::cancel_remote(StateBase& state) {
  const auto owned = owned_chunks_.find(&state);
  if (owned == owned_chunks_.end()) return std::nullopt;
  const auto it = chunks_.find(owned->second);
  if (it == chunks_.end()) return state.cancelled();
  Participant& p = *participants_[it->second.participant];
  const auto at = std::find(p.unsent.begin(), p.unsent.end(), it->first);
  if (at == p.unsent.end()) return false;  // sent: the rank has it
  const Chunk& c = it->second;
  p.out.erase(p.out.begin() + static_cast<std::ptrdiff_t>(c.out_offset),
              p.out.begin() + static_cast<std::ptrdiff_t>(c.out_offset + c.out_bytes));
  for (auto later = std::next(at); later != p.unsent.end(); ++later) {
    chunks_.at(*later).out_offset -= c.out_bytes;
  }
  p.unsent.erase(at);
  --p.frames;
  {
    std::lock_guard sinks(sink_mu_);
    for (std::uint32_t i = 0; i < c.count; ++i) c.sink->cancel_item(c.base_index + i);
  }
  settle_chunk(p, it, false);
  return true;
}

bool ClusterCore::Impl::running(const StateBase& state) {
  {
    std::lock_guard lock(mu_);
    const auto owned = owned_chunks_.find(&state);
    if (owned != owned_chunks_.end()) {
      const auto it = chunks_.find(owned->second);
      if (it == chunks_.end()) return false;
      const auto& unsent = participants_[it->second.participant]->unsent;
      return std::find(unsent.begin(), unsent.end(), it->first) == unsent.end();
    }
  }
  return local_ && local_->running(state);
}

}  // namespace ringpool::cluster::detail
