// ClusterCore (rank 0): chunks to ranks by free capacity, rank 0's share in a local
// PoolCore, results back into the batch's sinks, lost ranks (see cluster_core.hpp).
//
// Locks: mu_ guards the MPI traffic and the remote chunk table (every MPI call is made
// with it held: MPI_THREAD_SERIALIZED). sink_mu_ is a leaf: it is held around the calls
// into a batch's sink that touch its shared parts (fail, settled; all of them for remote
// results), from this file and from the local PoolCore's collector (through LocalChunk), so
// two threads never change one sink's shared state at once. Order: mu_, then the local
// pool's lock, then sink_mu_.
#include "ringpool/cluster/detail/cluster_core.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "comm.hpp"
#include "ringpool/cluster/cluster.hpp"
#include "ringpool/cluster/errors.hpp"
#include "ringpool/cluster/pool.hpp"
#include "ringpool/pool/detail/pool_core.hpp"
#include "ringpool/pool/errors.hpp"
#include "ringpool/pool/pool.hpp"
#include "ringpool/pool/spawn.hpp"
#include "wire.hpp"

namespace ringpool::cluster::detail {

namespace {

using pool::detail::ResultSink;
using pool::detail::StateBase;

std::atomic<std::uint32_t> g_next_pool_id{1};

// Runs the callbacks of futures completed while a lock was held.
struct DeferredCallbacks {
  std::vector<std::function<void()>> callbacks;
  bool installed = false;
  void install() noexcept {
    if (pool::detail::t_deferred_callbacks == nullptr) {
      pool::detail::t_deferred_callbacks = &callbacks;
      installed = true;
    }
  }
  void uninstall() noexcept {
    if (installed) pool::detail::t_deferred_callbacks = nullptr;
    installed = false;
  }
  void run() noexcept {
    for (auto& cb : callbacks) {
      if (!cb) continue;
      try {
        cb();
      } catch (...) {
      }
    }
    callbacks.clear();
  }
};

}  // namespace

struct ClusterCore::Impl {
  // A rank taking part (rank 0's local pool is participant 0 when options.local).
  struct Participant {
    int rank = 0;
    bool local = false;
    std::size_t workers = 0;
    std::size_t ring_messages = 0;
    std::size_t max_payload = 0;
    std::string host;
    pid_t pid = 0;
    bool same_host = false;
    std::atomic<std::size_t> in_flight{0};  // chunks handed to it, not settled
    std::atomic<bool> alive{true};
    // Remote only, under mu_:
    std::vector<std::byte> out;  // the tasks message being filled
    std::uint32_t frames = 0;
    std::size_t unsent = 0;  // chunks in `out`
    Clock::time_point last_heard{};
    bool open_answered = false;
    bool close_answered = false;
    std::string open_error;
  };

  // A chunk held by a remote rank.
  struct Chunk {
    ResultSink* sink = nullptr;
    StateBase* owned_state = nullptr;
    std::uint64_t base_index = 0;
    std::uint32_t count = 0;
    std::size_t participant = 0;
  };

  // Rank 0's chunks in the local pool go through one of these: it forwards to the batch's
  // sink under sink_mu_ and gives the chunk's room back when it settles.
  struct LocalChunk final : ResultSink {
    Impl* impl = nullptr;
    ResultSink* target = nullptr;
    // Without sink_mu_: a batch's sinks take deliveries of distinct items from several
    // threads (MapSink writes its own slot, ImapSink locks, a future has one item); fail()
    // and settled() change shared parts and take it.
    void deliver(std::uint64_t index, std::span<const std::byte> value) override {
      target->deliver(index, value);
    }
    void fail(std::uint64_t index, std::exception_ptr error) noexcept override {
      std::lock_guard lock(impl->sink_mu_);
      target->fail(index, std::move(error));
    }
    void settled(std::size_t items) noexcept override {
      std::lock_guard lock(impl->sink_mu_);
      target->settled(items);
      Participant& p = *impl->participants_[0];
      // release: pairs with the acquire loads in has_room()/idle().
      p.in_flight.fetch_sub(1, std::memory_order_release);
      impl->items_per_rank_[0] += items;
      // relaxed: a progress hint for wait_until() only.
      impl->local_settled_.fetch_add(1, std::memory_order_relaxed);
      try {
        impl->free_local_.push_back(this);
      } catch (...) {
      }
    }
  };

  PoolOptions options_;
  std::uint32_t pool_id_ = 0;
  std::vector<std::unique_ptr<Participant>> participants_;
  std::unique_ptr<pool::detail::PoolCore> local_;
  std::size_t max_payload_ = 0;
  std::size_t workers_ = 0;

  std::mutex mu_;
  Outbox outbox_;
  std::unordered_map<std::uint64_t, Chunk> chunks_;
  std::uint64_t next_chunk_ = 0;
  std::atomic<std::size_t> remote_in_flight_{0};
  Clock::time_point last_liveness_check_{};
  std::size_t malformed_ = 0;
  bool closed_ = false;
  bool joined_ = false;
  std::uint64_t chunks_sent_ = 0;
  std::uint64_t ranks_lost_ = 0;
  std::uint64_t failed_lost_ = 0;

  std::mutex sink_mu_;
  std::deque<LocalChunk> local_chunks_;        // stable addresses
  std::vector<LocalChunk*> free_local_;        // under sink_mu_
  std::vector<std::uint64_t> items_per_rank_;  // under sink_mu_
  std::atomic<std::uint64_t> local_settled_{0};

  mutable std::mutex plan_mu_;
  LastPlan plan_;

  // ---- set-up ------------------------------------------------------------------------
  explicit Impl(const PoolOptions& options) : options_(options) {
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
    pool_id_ = g_next_pool_id.fetch_add(1, std::memory_order_relaxed);
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

  void open_remote(std::size_t n) {
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
    const auto deadline = Clock::now() + std::max<Clock::duration>(options_.rank_timeout * 4,
                                                                   std::chrono::seconds(10));
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

  // ---- capacity ----------------------------------------------------------------------
  // Chunks `p` may hold. Rank 0's own pool: as many as its rings hold (no network in the
  // way; what it cannot take waits for room). A remote rank: enough to keep its workers busy
  // through a round trip, and no more, so that the end of a batch is not left to a slow rank.
  std::size_t limit_for(const Participant& p, std::size_t count) const noexcept {
    if (p.local) return std::max<std::size_t>(p.ring_messages, 1);
    const std::size_t per_items = (options_.items_in_flight + std::max<std::size_t>(count, 1) - 1) /
                                  std::max<std::size_t>(count, 1);
    return std::max<std::size_t>(1, std::min(p.ring_messages, std::max(2 * p.workers, per_items)));
  }

  // The participant with the most free room for a chunk of `count` items, or nullptr.
  Participant* choose(std::size_t count) noexcept {
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

  struct RoomQuery {
    Impl* impl;
    std::size_t count;
  };
  static bool has_room(const void* ctx) noexcept {
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
  static bool idle(const void* ctx) noexcept {
    const auto* self = static_cast<const Impl*>(ctx);
    for (const auto& p : self->participants_) {
      if (p->in_flight.load(std::memory_order_acquire) != 0) return false;
    }
    return true;
  }

  // ---- sending -----------------------------------------------------------------------
  void send(const ChunkRequest& req) {
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

  LocalChunk* take_local_chunk() {
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

  void send_local(Participant& p, const ChunkRequest& req) {
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

  void send_remote(Participant& p, const ChunkRequest& req) {
    const std::uint64_t id = ++next_chunk_;
    TaskFrame f;
    f.chunk_id = id;
    f.key = req.key;
    f.count = req.count;
    f.item_size = req.item_size;
    f.payload_bytes = req.payload.size();
    put(p.out, f);
    p.out.insert(p.out.end(), req.payload.begin(), req.payload.end());
    ++p.frames;
    ++p.unsent;
    Chunk c;
    c.sink = req.sink;
    c.owned_state = req.owned_state;
    c.base_index = req.base_index;
    c.count = req.count;
    c.participant = index_of(p);
    chunks_.emplace(id, c);
    // relaxed: under mu_ (readers outside it only need an eventually-current hint).
    if (p.in_flight.fetch_add(1, std::memory_order_relaxed) == 0) p.last_heard = Clock::now();
    remote_in_flight_.fetch_add(1, std::memory_order_relaxed);
    // Send at once while the rank has fewer chunks than workers (it is starving, and a
    // single submit must not wait); otherwise let chunks gather into one message, sent at
    // the next progress step.
    const std::size_t sent = p.in_flight.load(std::memory_order_relaxed) - p.unsent;
    if (sent < p.workers || p.out.size() >= 64 * 1024 ||
        p.frames >= std::max<std::size_t>(limit_for(p, req.count) / 4, 1)) {
      flush(p);
    }
  }

  std::size_t index_of(const Participant& p) const noexcept {
    for (std::size_t i = 0; i < participants_.size(); ++i) {
      if (participants_[i].get() == &p) return i;
    }
    return 0;
  }

  void flush(Participant& p) {
    if (p.frames == 0) return;
    set_frames(p.out, p.frames);
    std::vector<std::byte> message = std::move(p.out);
    p.out = begin_message(Kind::tasks, pool_id_);
    p.frames = 0;
    p.unsent = 0;
    outbox_.send(p.rank, std::move(message));
  }

  // ---- progress ----------------------------------------------------------------------
  // Under mu_. Returns the number of messages handled.
  std::size_t receive_some() {
    std::size_t handled = 0;
    for (int k = 0; k < 256; ++k) {
      auto m = try_receive(malformed_);
      if (!m) break;
      ++handled;
      if (m->header.kind == 0) continue;
      Participant* p = participant_of(m->source);
      if (p == nullptr) continue;
      p->last_heard = Clock::now();
      if (m->header.pool_id != pool_id_ && static_cast<Kind>(m->header.kind) != Kind::heartbeat) {
        continue;  // a message for an earlier pool (its late answer)
      }
      switch (static_cast<Kind>(m->header.kind)) {
        case Kind::opened: {
          std::span<const std::byte> in(m->body);
          const auto body = take<OpenedBody>(in);
          p->open_answered = true;
          if (!body) {
            p->open_error = "malformed answer";
          } else if (body->ok == 0) {
            p->open_error.assign(reinterpret_cast<const char*>(in.data()), in.size());
            if (p->open_error.empty()) p->open_error = "no reason given";
          } else {
            p->workers = static_cast<std::size_t>(body->workers);
            p->max_payload = static_cast<std::size_t>(body->max_payload);
            p->ring_messages = static_cast<std::size_t>(body->ring_messages);
          }
          break;
        }
        case Kind::results:
          results(*p, *m);
          break;
        case Kind::closed:
          p->close_answered = true;
          break;
        default:
          break;
      }
    }
    return handled;
  }

  Participant* participant_of(int rank) noexcept {
    for (const auto& p : participants_) {
      if (!p->local && p->rank == rank) return p.get();
    }
    return nullptr;
  }

  void settle_chunk(Participant& p, std::unordered_map<std::uint64_t, Chunk>::iterator it) {
    const Chunk c = it->second;
    chunks_.erase(it);
    {
      std::lock_guard lock(sink_mu_);
      c.sink->settled(c.count);
      items_per_rank_[static_cast<std::size_t>(p.rank)] += c.count;
    }
    if (c.owned_state != nullptr) c.owned_state->release_ref();
    p.in_flight.fetch_sub(1, std::memory_order_release);
    remote_in_flight_.fetch_sub(1, std::memory_order_release);
  }

  void results(Participant& p, const Message& m) {
    std::span<const std::byte> in(m.body);
    for (std::uint32_t k = 0; k < m.header.frames; ++k) {
      const auto f = take<ResultFrame>(in);
      if (!f || f->bytes > in.size()) {
        std::fprintf(stderr, "ringpool: rank %d sent a malformed results message; dropped\n",
                     p.rank);
        return;
      }
      std::span<const std::byte> items = in.first(static_cast<std::size_t>(f->bytes));
      in = in.subspan(items.size());
      auto it = chunks_.find(f->chunk_id);
      if (it == chunks_.end() || participants_[it->second.participant].get() != &p) continue;
      const Chunk& c = it->second;
      std::vector<bool> seen(c.count, false);
      {
        std::lock_guard lock(sink_mu_);
        while (!items.empty()) {
          const auto h = take<ItemHead>(items);
          if (!h || h->bytes > items.size() || h->index >= c.count || seen[h->index]) break;
          const auto bytes = items.first(static_cast<std::size_t>(h->bytes));
          items = items.subspan(bytes.size());
          seen[h->index] = true;
          const std::uint64_t index = c.base_index + h->index;
          if (h->status == kOk) {
            try {
              c.sink->deliver(index, bytes);
            } catch (...) {
              c.sink->fail(index, std::current_exception());
            }
          } else {
            c.sink->fail(index, error_of(bytes));
          }
        }
        for (std::uint32_t i = 0; i < c.count; ++i) {
          if (seen[i]) continue;
          c.sink->fail(c.base_index + i, std::make_exception_ptr(pool::DecodeError(
                                             "ringpool: rank " + std::to_string(p.rank) +
                                             " sent no (or a malformed) result for this item")));
        }
      }
      settle_chunk(p, it);
    }
  }

  // Fails every chunk `p` holds with RankLost and stops using it. Under mu_.
  void lose(Participant& p, const std::string& why) {
    if (!p.alive.exchange(false)) return;
    std::fprintf(stderr,
                 "ringpool: MPI rank %d (pid %d on %s) lost: %s; its tasks fail with RankLost\n",
                 p.rank, static_cast<int>(p.pid), p.host.c_str(), why.c_str());
    ++ranks_lost_;
    note_rank_lost(p.rank);
    outbox_.abandon(p.rank);
    p.frames = 0;
    p.unsent = 0;
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

  void check_liveness() {
    const auto now = Clock::now();
    if (now - last_liveness_check_ < std::chrono::milliseconds(20)) return;
    last_liveness_check_ = now;
    for (const auto& p : participants_) {
      if (p->local || !p->alive.load()) continue;
      if (p->same_host && pid_gone(p->pid)) {
        lose(*p, "its process " + std::to_string(p->pid) + " is gone");
      } else if (p->in_flight.load() > 0 && now - p->last_heard > options_.rank_timeout) {
        lose(*p, "silent for more than " + std::to_string(options_.rank_timeout.count()) +
                     " ms while it held tasks");
      }
    }
  }

  // One step of MPI progress. Under mu_. True when something happened.
  bool progress_locked() {
    for (const auto& p : participants_) {
      if (!p->local && p->alive.load(std::memory_order_relaxed)) flush(*p);
    }
    const std::size_t handled = receive_some();
    outbox_.poll();
    check_liveness();
    return handled > 0;
  }

  // Waits until ready(context) or the deadline, making progress on MPI and the local pool.
  bool wait(bool (*ready)(const void*), const void* context,
            std::optional<Clock::time_point> deadline) {
    const bool spin = options_.wait == pool::WaitMode::spin;
    Backoff backoff(spin, std::chrono::microseconds(100));
    for (;;) {
      if (ready(context)) return true;
      bool did = false;
      if (remote_in_flight_.load(std::memory_order_acquire) > 0 || !local_ ||
          outbox_pending_hint()) {
        DeferredCallbacks deferred;
        {
          std::unique_lock lock(mu_, std::try_to_lock);
          if (lock.owns_lock()) {
            deferred.install();
            try {
              did = progress_locked();
            } catch (...) {
              deferred.uninstall();
              throw;
            }
            deferred.uninstall();
          }
        }
        deferred.run();
      }
      if (local_) {
        // relaxed: a hint that local results came in.
        const std::uint64_t before = local_settled_.load(std::memory_order_relaxed);
        local_->wait_until(ready, context, Clock::now());
        did = did || local_settled_.load(std::memory_order_relaxed) != before;
      }
      if (ready(context)) return true;
      if (deadline && Clock::now() >= *deadline) return ready(context);
      if (did) {
        backoff.reset();
        continue;
      }
      if (local_ && !spin && participants_[0]->in_flight.load(std::memory_order_acquire) > 0) {
        // Sleep on the local pool's wake-up (a local result ends it at once); look at MPI
        // again after a short slice when remote ranks hold work too.
        const auto slice = remote_in_flight_.load(std::memory_order_acquire) > 0
                               ? std::chrono::microseconds(50)
                               : std::chrono::microseconds(2000);
        auto until = Clock::now() + slice;
        if (deadline) until = std::min(until, *deadline);
        local_->wait_until(ready, context, until);
        continue;
      }
      backoff.pause();
    }
  }

  bool outbox_pending_hint() noexcept {
    // Chunks gathered for a remote rank wait for a progress step to be sent.
    for (const auto& p : participants_) {
      if (!p->local && p->in_flight.load(std::memory_order_relaxed) > 0) return true;
    }
    return false;
  }

  // ---- plan --------------------------------------------------------------------------
  bool plan_batch(std::size_t tasks) {
    LastPlan plan;
    plan.tasks = tasks;
    plan.cores = 0;
    for (const auto& p : participants_) {
      if (!p->alive.load()) continue;
      plan.per_rank.push_back(RankPlan{p->rank, p->workers, p->host});
      plan.cores += p->workers;
    }
    plan.ranks = options_.ranks.value_or(ranks().size());
    if (!options_.local)
      plan.per_rank.insert(plan.per_rank.begin(), RankPlan{0, 0, ranks()[0].host});
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

  // ---- lifetime ----------------------------------------------------------------------
  void close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    if (local_) local_->close();
  }

  void end_remote(Kind kind) {
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

  void join() {
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

  void terminate() {
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
};

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
