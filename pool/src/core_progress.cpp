// PoolCore::Impl, moving work forward: the send loop, collecting results in whichever
// thread waits, the wait of a parent thread, and recovering a dead worker's work.
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <thread>

#include "core_impl.hpp"
#include "ringpool/ipc/detail/cpu_relax.hpp"
#include "ringpool/ipc/event_count.hpp"
#include "ringpool/pool/detail/task_wire.hpp"

namespace ringpool::pool::detail {

namespace {

constexpr auto kDeathCheckPeriod = std::chrono::milliseconds(2);
constexpr auto kSleepSlice = std::chrono::milliseconds(2);
// A worker that dies this many times in a row before its initializer returns is retired.
constexpr int kInitFailureLimit = 3;

void backoff(unsigned attempt, WaitMode wait) {
  if (attempt < 64 || (wait == WaitMode::spin && (attempt & 15) != 0)) {
    ipc::detail::cpu_relax();
  } else if (wait == WaitMode::spin || attempt < 256) {
    std::this_thread::yield();
  } else {
    timespec ts{0, 50'000};
    nanosleep(&ts, nullptr);
  }
}

std::string describe_exit(const WorkerSupervisor::Death& d) {
  const std::string who =
      d.pid > 0 ? "worker " + std::to_string(d.index) + " (pid " + std::to_string(d.pid) + ")"
                : "worker thread " + std::to_string(d.index);
  return who + (d.exitcode < 0 ? " was killed by signal " + std::to_string(-d.exitcode)
                               : " exited with code " + std::to_string(d.exitcode));
}

}  // namespace

// ---- sending ---------------------------------------------------------------------------

void PoolCore::Impl::send(const SendRequest& req) {
  if (req.payload_bytes > dispatcher.max_payload()) {
    send_by_reference(req);
    return;
  }
  send_message(req);
}

// The payload is encoded straight into a payload segment, without the lock (it may be
// large); the ring carries a PayloadRef. The worker takes (unlinks) the segment, unless
// retries are on (then the pool keeps it until the task settles).
void PoolCore::Impl::send_by_reference(const SendRequest& req) {
  if (req.payload_bytes > config.max_payload) {
    throw PayloadTooLarge(req.payload_bytes, config.max_payload, "task arguments",
                          PayloadTooLarge::OverLimit{"PoolOptions::max_payload"});
  }
  (void)dispatcher.wire_fn(req);  // an unregistered task (spawn) is refused before encoding
  OutgoingPayload payload = OutgoingPayload::create(config.payloads, req.payload_bytes, &lanes);
  std::byte* const base = payload.bytes().data();
  // In the lane, large contiguous arguments stream: everything else is written now, their
  // bytes once the worker has the reference and decodes behind us.
  BulkCopies later;
  if (req.encode_later != nullptr && payload.in_lane()) {
    req.encode_later(req.context, base, later);
  } else {
    req.encode(req.context, base);
  }
  if (later.count > 0) payload.stream_from(static_cast<std::size_t>(later.runs[0].to - base));
  SendRequest by_ref = req;
  by_ref.by_reference = true;
  // With retries a one-off segment must outlive a worker that dies while running the
  // task: the pool keeps it until the task settles (TaskTable::retire removes it).
  if (config.retries > 0) by_ref.kept_payload = payload.keep_name();
  by_ref.payload_bytes = sizeof(PayloadRef);
  by_ref.encode = [](const void* ref, std::byte* out) {
    std::memcpy(out, ref, sizeof(PayloadRef));
  };
  by_ref.context = &payload.ref();
  send_message(by_ref);  // throws: the segment is unlinked with `payload`
  copy_later(later, base, kStreamStep, [&payload](std::size_t n) { payload.publish(n); });
  payload.hand_over();
}

void PoolCore::Impl::send_message(const SendRequest& req) {
  const Dispatcher::WireFn fn = dispatcher.wire_fn(req);
  for (unsigned attempt = 0;; ++attempt) {
    {
      std::lock_guard lock(mu);
      if (broken) std::rethrow_exception(broken);
      // relaxed (all): written under mu by close()/join()/terminate(), and we hold mu.
      if (closed.load(std::memory_order_relaxed) &&
          (!req.continues_batch || joining || terminated.load(std::memory_order_relaxed))) {
        throw Closed(terminated.load(std::memory_order_relaxed)
                         ? "ringpool: the pool was terminated; no more tasks"
                         : "ringpool: the pool is closed; submit tasks before close() (or "
                           "create a new Pool)");
      }
      if (dispatcher.try_send(req, fn)) {
        ++stats.tasks_sent;
        return;
      }
    }
    // Full: collect results so workers can go on, then try again.
    if (!collect(false)) backoff(attempt, config.wait);
  }
}

// ---- collecting ------------------------------------------------------------------------

bool PoolCore::Impl::collect(bool force_death_check) {
  std::vector<std::function<void()>> callbacks;
  bool progressed = false;
  {
    std::lock_guard lock(mu);
    t_deferred_callbacks = &deferred;
    for (std::size_t i = 0; i < config.workers; ++i) {
      if (workers.state(i) == WorkerSupervisor::State::dead) continue;
      progressed |= collector.drain(i, 64) != 0;
    }
    if (force_death_check || (++collects & 63) == 0) {
      const auto now = Clock::now();
      if (force_death_check || now - last_death_check >= kDeathCheckPeriod) {
        last_death_check = now;
        progressed |= workers.reap([this](const WorkerSupervisor::Death& d) { recover(d); }) != 0;
      }
    }
    if (dispatcher.has_backlog()) dispatcher.flush_backlogs();
    t_deferred_callbacks = nullptr;
    if (!deferred.empty()) callbacks.swap(deferred);
  }
  run_callbacks(callbacks);
  if (progressed && config.wait == WaitMode::block) {
    // Other parent threads may sleep waiting for what we just settled: the fence makes the
    // settlements (release stores under mu) the publish of the EventCount argument. It is
    // also the fence of the Dekker pair with a worker waiting for room in its result ring
    // (wait_for_room in worker_loop.cpp): the drains above freed slots with release stores.
    ipc::detail::store_load_fence();
    layout.pool().results.notify_all();
    wake_workers_waiting_for_room();
  }
  return progressed;
}

// One notify per wait: the exchange elects the one notifier. relaxed (load and exchange):
// after the caller's seq_cst fence, which follows the drains. A worker that did not wait
// costs one load of a line nobody writes meanwhile.
void PoolCore::Impl::wake_workers_waiting_for_room() noexcept {
  for (std::size_t i = 0; i < config.workers; ++i) {
    WorkerShared& w = layout.worker(i);
    if (w.results_full.load(std::memory_order_relaxed) != 0 &&
        w.results_full.exchange(0, std::memory_order_relaxed) != 0) {
      w.room.notify_all();
    }
  }
}

// ---- waiting ---------------------------------------------------------------------------

bool PoolCore::Impl::wait_until(bool (*ready)(const void*), const void* context,
                                std::optional<Clock::time_point> deadline) {
  PoolShared& pool = layout.pool();
  unsigned idle = 0;
  Clock::time_point idle_since{};
  for (;;) {
    if (ready(context)) return true;
    if (collect(false)) {
      idle = 0;
      continue;
    }
    if (ready(context)) return true;
    if (deadline && Clock::now() >= *deadline) return ready(context);
    // Spin ~50 us first (time-based, see run_worker); spin mode never sleeps.
    if (idle++ == 0) idle_since = Clock::now();
    const bool spinning =
        (idle & 7) != 0 || Clock::now() - idle_since < std::chrono::microseconds(50);
    if (config.wait == WaitMode::spin || spinning) {
      // Every 16th turn, let a worker that shares this CPU run (it may hold the results we
      // wait for): block mode also during the spin (as run_worker), spin mode after it;
      // every turn when a worker may run only on this process's one CPU.
      if (config.any_shares_parent_cpu ||
          ((idle & 15) == 0 && (config.wait == WaitMode::block || !spinning))) {
        std::this_thread::yield();
      } else {
        ipc::detail::cpu_relax();
      }
      continue;
    }
    // Sleep on the pool's event count: register, re-check (our condition and the result
    // rings), then sleep unless a worker or another parent thread notified meanwhile.
    auto slice = std::chrono::duration_cast<std::chrono::nanoseconds>(kSleepSlice);
    if (deadline) {
      const auto left = *deadline - Clock::now();
      slice = std::min(slice, std::chrono::duration_cast<std::chrono::nanoseconds>(left));
    }
    // relaxed: ordered before the re-check below by prepare_wait()'s fence (the Dekker pair
    // with push_result's commit + fence + load of `results_sleeping`): either a worker sees
    // it and notifies, or the re-check sees the worker's result. Set before every sleep: the
    // worker that notified cleared it.
    pool.results_sleeping.store(1, std::memory_order_relaxed);
    const auto key = pool.results.prepare_wait();
    bool wake_now = slice.count() <= 0 || ready(context);
    if (!wake_now) {
      std::lock_guard lock(mu);
      wake_now = collector.pending();
    }
    // Nothing arrived for a whole slice: look for dead workers now.
    bool quiet = false;
    if (wake_now) {
      pool.results.cancel_wait();
    } else {
      quiet = !pool.results.wait(key, slice);
    }
    if (collect(quiet)) idle = 0;
  }
}

// ---- worker death ----------------------------------------------------------------------

void PoolCore::Impl::recover(const WorkerSupervisor::Death& d) {
  const std::size_t i = d.index;
  WorkerShared& self = layout.worker(i);
  const bool planned = d.exitcode == 0 && config.max_tasks != 0;
  if (!planned) ++stats.workers_lost;

  // (1) Results it published before dying still count.
  (void)collector.drain(i);
  // Payload segments it created and never handed over (or handed over in a message that
  // never left it) are nobody's now. Those the parent created for its tasks stay: the
  // messages naming them are requeued below.
  if (d.pid > 0) (void)config.payloads.remove_of(d.pid);
  // relaxed (all reads of `self` here): the worker is reaped; its stores are complete.
  const std::uint64_t current = self.current_task.load(std::memory_order_relaxed);
  // (2) A message it claimed from the shared ring mid-pop or mid-task, and (3) the
  // messages still in its own task ring (including the one it was running).
  std::vector<std::byte> held_shared;
  std::vector<std::vector<std::byte>> reclaimed;
  try {
    dispatcher.recover_shared_claim(
        i, [&](std::span<const std::byte> m) { held_shared.assign(m.begin(), m.end()); });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ringpool: recovering %s's shared-ring claim: %s\n",
                 describe_exit(d).c_str(), e.what());
  }
  dispatcher.reclaim_tasks(
      i, [&](std::span<const std::byte> m) { reclaimed.emplace_back(m.begin(), m.end()); });
  collector.reset(i);
  self.current_task.store(0, std::memory_order_relaxed);
  self.claim.store(0, std::memory_order_relaxed);
  self.sleeping.store(0, std::memory_order_relaxed);
  self.wake.reset();  // it may have died registered as a waiter
  self.room.reset();
  self.results_full.store(0, std::memory_order_relaxed);
  self.initialized.store(0, std::memory_order_relaxed);
  self.started.store(0, std::memory_order_relaxed);
  if (!d.started && ++died_unstarted == 1) unstarted_death = describe_exit(d);

  // A worker that keeps failing before its initializer returns is not restarted forever:
  // after kInitFailureLimit such deaths in a row it is retired. A SIGKILL (someone else's
  // doing: a user, the OOM killer) does not count towards retirement, but it does towards
  // the restart back-off.
  int& failures = init_failures[i];
  int& early = early_deaths[i];
  early = d.initialized ? 0 : early + 1;
  failures = d.initialized || d.exitcode == -SIGKILL ? 0 : failures + 1;
  const bool retire = failures >= kInitFailureLimit;

  // (4) Fail or rerun the task it held; requeue the ones it never started: to its
  // replacement, or to the shared ring (the other workers) when it is retired.
  const int own_route = retire ? -1 : static_cast<int>(i);
  const auto requeue = [&](std::vector<std::byte>&& m, int route) {
    if (m.size() < sizeof(TaskHeader)) return;
    TaskHeader h;
    std::memcpy(&h, m.data(), sizeof h);
    TaskTable::Record* r = table.lookup(h.task_id);
    if (r == nullptr) return;  // already settled
    if (h.task_id == current) {
      if (++r->attempts > config.retries) {
        // Its payload will never be read: a lane it was in is free again.
        if (h.kind == static_cast<std::uint32_t>(MessageKind::task_by_ref) &&
            m.size() == sizeof(TaskHeader) + sizeof(PayloadRef)) {
          PayloadRef ref;
          std::memcpy(&ref, m.data() + sizeof(TaskHeader), sizeof ref);
          lanes.release(ref);
        }
        stats.failed_lost += r->count - r->next;
        table.fail_rest(
            *r, std::make_exception_ptr(
                    WorkerLost(d.pid, d.exitcode,
                               "while it ran this task" +
                                   std::string(config.retries > 0 ? " (retries exhausted)" : ""))));
        return;
      }
      ++stats.retried;
      h.skip = r->next;
      std::memcpy(m.data(), &h, sizeof h);
    }
    table.reroute(*r, route);
    dispatcher.requeue(std::move(m), route);
  };
  if (!held_shared.empty()) requeue(std::move(held_shared), -1);
  for (auto& m : reclaimed) requeue(std::move(m), own_route);

  if (retire) {
    std::fprintf(stderr,
                 "ringpool: %s %d times in a row before its initializer finished; it is not "
                 "restarted (its queued tasks go to the other workers)\n",
                 describe_exit(d).c_str(), failures);
    workers.retire(i);
    dispatcher.drop_backlog(i, [&](std::span<const std::byte> m) {
      std::vector<std::byte> copy(m.begin(), m.end());
      requeue(std::move(copy), -1);
    });
    break_if_no_workers(d);
    return;
  }
  dispatcher.flush_backlogs();
  // relaxed: written under mu, which the caller holds.
  if (!terminated.load(std::memory_order_relaxed)) {
    // Back-off for a worker that keeps dying early: 0, 10, 20, 40 ms ... up to 1 s.
    const std::chrono::milliseconds delay{
        early <= 1 ? 0 : std::min(10L << std::min(early - 2, 7), 1000L)};
    workers.respawn(i, delay);
  }
}

void PoolCore::Impl::break_if_no_workers(const WorkerSupervisor::Death& d) {
  if (!workers.all_retired() || broken) return;
  broken = std::make_exception_ptr(PoolBroken(
      "ringpool: the pool is broken: every worker died " + std::to_string(kInitFailureLimit) +
      " times before its initializer finished (the last: " + describe_exit(d) +
      "); pending and new tasks fail, close()/join() return"));
  table.fail_all(broken);
  dispatcher.drop_all_backlogs();
}

}  // namespace ringpool::pool::detail
