// Results of ClusterCore (rank 0): rank 0's local chunks settle through LocalChunk, remote
// results and errors arrive in results messages and go into the batches' sinks; wait() is
// the one progress loop (MPI and the local pool) every waiting thread runs.
#include <algorithm>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core_impl.hpp"
#include "ringpool/pool/errors.hpp"

namespace ringpool::cluster::detail {

void ClusterCore::Impl::DeferredCallbacks::install() noexcept {
  if (pool::detail::t_deferred_callbacks == nullptr) {
    pool::detail::t_deferred_callbacks = &callbacks;
    installed = true;
  }
}

void ClusterCore::Impl::DeferredCallbacks::uninstall() noexcept {
  if (installed) pool::detail::t_deferred_callbacks = nullptr;
  installed = false;
}

void ClusterCore::Impl::DeferredCallbacks::run() noexcept {
  for (auto& cb : callbacks) {
    if (!cb) continue;
    try {
      cb();
    } catch (...) {
    }
  }
  callbacks.clear();
}

void ClusterCore::Impl::LocalChunk::deliver(std::uint64_t index, std::span<const std::byte> value) {
  target->deliver(index, value);
}

void ClusterCore::Impl::LocalChunk::fail(std::uint64_t index, std::exception_ptr error) noexcept {
  std::lock_guard lock(impl->sink_mu_);
  target->fail(index, std::move(error));
}

void ClusterCore::Impl::LocalChunk::cancel_item(std::uint64_t index) noexcept {
  std::lock_guard lock(impl->sink_mu_);
  ++cancelled;
  target->cancel_item(index);
}

void ClusterCore::Impl::LocalChunk::settled(std::size_t items) noexcept {
  std::lock_guard lock(impl->sink_mu_);
  target->settled(items);
  Participant& p = *impl->participants_[0];
  const std::size_t ran = items - std::min(cancelled, items);
  note_done(p, ran, sent);
  // relaxed: read as an estimate by choose().
  p.items_in_flight.fetch_sub(count, std::memory_order_relaxed);
  // release: pairs with the acquire loads in has_room()/idle().
  p.in_flight.fetch_sub(1, std::memory_order_release);
  impl->items_per_rank_[0] += ran;
  cancelled = 0;
  // relaxed: a progress hint for wait_until() only.
  impl->local_settled_.fetch_add(1, std::memory_order_relaxed);
  try {
    impl->free_local_.push_back(this);
  } catch (...) {
  }
}

// Under mu_. Returns the number of messages handled.
std::size_t ClusterCore::Impl::receive_some() {
  std::size_t handled = 0;
  for (int k = 0; k < 256; ++k) {
    auto m = mailbox_.receive(malformed_);  // this pool's messages only
    if (!m) break;
    ++handled;
    Participant* p = participant_of(m->source);
    if (p == nullptr) continue;
    p->last_heard = Clock::now();
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

void ClusterCore::Impl::settle_chunk(Participant& p,
                                     std::unordered_map<std::uint64_t, Chunk>::iterator it,
                                     bool ran) {
  const Chunk c = it->second;
  chunks_.erase(it);
  if (c.owned_state != nullptr) owned_chunks_.erase(c.owned_state);
  {
    std::lock_guard lock(sink_mu_);
    c.sink->settled(c.count);
    if (ran) items_per_rank_[static_cast<std::size_t>(p.rank)] += c.count;
  }
  if (c.owned_state != nullptr) c.owned_state->release_ref();
  // relaxed: read as an estimate by choose().
  p.items_in_flight.fetch_sub(c.count, std::memory_order_relaxed);
  // release (both): pair with the acquire loads in has_room()/idle()/wait().
  p.in_flight.fetch_sub(1, std::memory_order_release);
  remote_in_flight_.fetch_sub(1, std::memory_order_release);
}

void ClusterCore::Impl::results(Participant& p, const Message& m) {
  std::span<const std::byte> in(m.body);
  for (std::uint32_t k = 0; k < m.header.frames; ++k) {
    const auto f = take<ResultFrame>(in);
    if (!f || f->bytes > in.size()) {
      std::fprintf(stderr, "ringpool: rank %d sent a malformed results message; dropped\n", p.rank);
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
    note_done(p, c.count, c.sent);
    settle_chunk(p, it);
  }
}

// One step of MPI progress. Under mu_. True when something happened.
bool ClusterCore::Impl::progress_locked() {
  for (const auto& p : participants_) {
    if (!p->local && p->alive.load(std::memory_order_relaxed)) flush(*p);
  }
  const std::size_t handled = receive_some();
  outbox_.poll();
  check_liveness();
  return handled > 0;
}

// Waits until ready(context) or the deadline, making progress on MPI and the local pool.
// While a remote rank holds work this thread never sleeps for the first kHotWait of a wait
// (MPI has no wake-up to sleep on: it spins, then yields), so a result that comes back
// within that time meets no sleep on its way; after it, block mode sleeps in short slices
// (on the local pool's wake-up when rank 0's own pool holds work too).
bool ClusterCore::Impl::wait(bool (*ready)(const void*), const void* context,
                             std::optional<Clock::time_point> deadline) {
  constexpr auto kHotWait = std::chrono::milliseconds(2);
  const bool spin = options_.wait == pool::WaitMode::spin;
  Backoff backoff(spin, std::chrono::microseconds(100), kHotWait);
  for (;;) {
    if (ready(context)) return true;
    bool did = false;
    const bool remote = remote_in_flight_.load(std::memory_order_acquire) > 0;
    if (remote || !local_ || outbox_pending_hint()) {
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
    const bool local_work =
        local_ && participants_[0]->in_flight.load(std::memory_order_acquire) > 0;
    if (!spin && local_work && (!remote || backoff.idle_for() >= kHotWait)) {
      // Sleep on the local pool's wake-up (a local result ends it at once); look at MPI
      // again after a short slice when remote ranks hold work too.
      auto until =
          Clock::now() + (remote ? std::chrono::microseconds(50) : std::chrono::microseconds(2000));
      if (deadline) until = std::min(until, *deadline);
      local_->wait_until(ready, context, until);
      continue;
    }
    backoff.pause();
  }
}

bool ClusterCore::Impl::outbox_pending_hint() noexcept {
  // Chunks gathered for a remote rank wait for a progress step to be sent.
  for (const auto& p : participants_) {
    if (!p->local && p->in_flight.load(std::memory_order_relaxed) > 0) return true;
  }
  return false;
}

}  // namespace ringpool::cluster::detail
