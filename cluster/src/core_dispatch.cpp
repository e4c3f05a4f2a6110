// Dispatch of ClusterCore (rank 0): each chunk goes to the participant expected to finish
// it first, by the items it holds and its measured pace, among those under their bound
// (rank 0's local pool, or a remote rank, whose chunks gather into one tasks message per
// progress step unless it is starving).
#include <algorithm>
#include <chrono>
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

namespace {

// A participant idle this long, and at least kProbeShare times as long as its measured pace
// says the chunk would take it, has its pace measured again (taken as unknown): a rank that
// was slow once (asleep, or its cores busy) gets work again, and the probe costs at most an
// eighth of the time it sat idle. A rank slow by its tasks' cost is probed that rarely.
constexpr double kPaceStaleNs = 50e6;  // 50 ms
constexpr double kProbeShare = 8;

std::int64_t to_ns(Clock::time_point t) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

// The chunk's items, and the time `p` worked on it alone: from when it was handed out, or
// from p's previous finish if that came later (chunks that wait behind each other, or come
// back in one message, add their items but little time). Both sums decay, so the pace
// follows a rank that speeds up or slows down: by three quarters on a chunk slower than the
// pace so far, by a quarter on a faster one. A rank that is sometimes slow (its cores are
// shared) is taken at its slow pace soon, and at a fast one only after several fast chunks:
// a chunk it takes too many is the batch's tail.
void ClusterCore::Impl::note_done(Participant& p, std::size_t items,
                                  Clock::time_point sent) noexcept {
  const std::int64_t now = to_ns(Clock::now());
  // relaxed (all): estimates, written by one thread at a time (see Participant).
  const std::int64_t from = std::max(to_ns(sent), p.last_done_ns.load(std::memory_order_relaxed));
  p.last_done_ns.store(now, std::memory_order_relaxed);
  const double seconds = static_cast<double>(std::max<std::int64_t>(now - from, 0)) * 1e-9;
  const double old_items = p.paced_items.load(std::memory_order_relaxed);
  const double old_seconds = p.paced_seconds.load(std::memory_order_relaxed);
  const bool slower = seconds * old_items > static_cast<double>(items) * old_seconds;
  const double keep = slower ? 0.25 : 0.75;
  p.paced_items.store(old_items * keep + static_cast<double>(items), std::memory_order_relaxed);
  p.paced_seconds.store(old_seconds * keep + seconds, std::memory_order_relaxed);
}

// The participant expected to finish a chunk of `count` items first: (the items it holds +
// count) / its pace. One not measured yet, or idle long enough to be probed (kPaceStaleNs,
// kProbeShare), counts as fast as the fastest measured one and wins a tie, so it gets work and
// is measured; with nothing measured this is the one holding the fewest items. nullptr when that
// participant is at its bound: the chunk waits for its room rather than go where it would finish
// later (a slow rank's chunk would be the batch's tail). On one host a rank whose cores are busy
// with the others' work measures slow and gets little; across hosts each rank's own cores set its
// pace.
ClusterCore::Impl::Participant* ClusterCore::Impl::choose(std::size_t count) noexcept {
  const std::int64_t now = to_ns(Clock::now());
  const auto pace_of = [&](const Participant& p) {
    // relaxed: estimates (see Participant); acquire on in_flight pairs with the release
    // decrements when chunks settle.
    const double items = p.paced_items.load(std::memory_order_relaxed);
    const double seconds = p.paced_seconds.load(std::memory_order_relaxed);
    if (items <= 0 || seconds <= 0) return 0.0;
    const double pace = items / seconds;
    if (p.in_flight.load(std::memory_order_acquire) != 0) return pace;
    const double idle_ns =
        static_cast<double>(now - p.last_done_ns.load(std::memory_order_relaxed));
    const double probe_ns =
        kProbeShare * static_cast<double>(std::max<std::size_t>(count, 1)) / pace * 1e9;
    return idle_ns > std::max(kPaceStaleNs, probe_ns) ? 0.0 : pace;
  };
  double fastest = 0;
  for (const auto& p : participants_) {
    // acquire: pairs with the exchange in lose(); a lost rank's pace counts no more.
    if (p->alive.load(std::memory_order_acquire)) fastest = std::max(fastest, pace_of(*p));
  }
  if (fastest == 0) fastest = 1;
  Participant* best = nullptr;
  double best_finish = 0;
  bool best_probed = false;
  for (const auto& p : participants_) {
    if (!p->alive.load(std::memory_order_acquire)) continue;
    const double pace = pace_of(*p);
    const double items =
        static_cast<double>(p->items_in_flight.load(std::memory_order_relaxed) + count);
    const double finish = items / (pace > 0 ? pace : fastest);
    // On a tie the one to be measured wins: it would otherwise wait for the next tie.
    const bool probed = pace == 0;
    if (best == nullptr || finish < best_finish ||
        (finish == best_finish && probed && !best_probed)) {
      best = p.get();
      best_finish = finish;
      best_probed = probed;
    }
  }
  if (best != nullptr &&
      best->in_flight.load(std::memory_order_acquire) >= limit_for(*best, count)) {
    return nullptr;
  }
  return best;
}

bool ClusterCore::Impl::has_room(const void* ctx) noexcept {
  const auto* q = static_cast<const RoomQuery*>(ctx);
  bool any_alive = false;
  for (const auto& p : q->impl->participants_) {
    // acquire: pairs with the exchange in lose().
    any_alive = any_alive || p->alive.load(std::memory_order_acquire);
  }
  return !any_alive || q->impl->choose(q->count) != nullptr;  // nobody left: send() reports it
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
  c->count = req.count;
  c->sent = Clock::now();
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
  p.items_in_flight.fetch_add(req.count, std::memory_order_relaxed);
  try {
    local_->send(s);
  } catch (...) {
    p.in_flight.fetch_sub(1, std::memory_order_release);
    p.items_in_flight.fetch_sub(req.count, std::memory_order_relaxed);
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
  c.sent = Clock::now();
  chunks_.emplace(id, c);
  if (c.owned_state != nullptr) owned_chunks_.emplace(c.owned_state, id);
  // relaxed: under mu_ (readers outside it only need an eventually-current hint).
  if (p.in_flight.fetch_add(1, std::memory_order_relaxed) == 0) p.last_heard = c.sent;
  p.items_in_flight.fetch_add(req.count, std::memory_order_relaxed);
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
