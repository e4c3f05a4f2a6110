// JoinCounter: the shared unfinished-task count of a JoinableQueue (queue_variants.hpp).
// join() waits on `all_done` for `unfinished` == 0 with the EventCount protocol: the
// publish is the seq_cst decrement to 0 in task_done() or cancel_add(), followed by
// notify_all() (every joiner waits for the same state).
#include "ringpool/pool/queue_variants.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <type_traits>

#include "ringpool/ipc/event_count.hpp"
#include "ringpool/ipc/segment.hpp"
#include "ringpool/pool/errors.hpp"

namespace ringpool::pool::detail {

struct JoinCounter::Shared {
  // Items put and not yet task_done()'d.
  alignas(128) std::atomic<std::uint64_t> unfinished;
  alignas(128) ipc::EventCount all_done;
};

static_assert(std::is_standard_layout_v<JoinCounter::Shared>);
static_assert(sizeof(JoinCounter::Shared) <= 4096);

std::shared_ptr<JoinCounter> JoinCounter::create_anonymous() {
  std::shared_ptr<JoinCounter> counter(new JoinCounter);
  counter->segment_ = std::make_shared<ipc::Segment>(ipc::Segment::anonymous(sizeof(Shared)));
  // The mapping is fresh and zero-filled: no unfinished task, no waiter.
  counter->shared_ = ::new (counter->segment_->data()) Shared();
  return counter;
}

void JoinCounter::add() noexcept {
  // relaxed: sequenced before the put that publishes the item (release in the ring, paired
  // with the get's acquire), so the task_done() of that item comes later in this counter's
  // modification order and never sees this increment missing.
  shared_->unfinished.fetch_add(1, std::memory_order_relaxed);
}

std::uint64_t JoinCounter::decrement() noexcept {
  // relaxed: a first guess; the CAS decides.
  std::uint64_t n = shared_->unfinished.load(std::memory_order_relaxed);
  // Lock-free: each failed CAS means another process changed the count.
  while (n != 0) {
    // seq_cst: the publish of the EventCount argument (event_count.hpp) for join(); pairs
    // with the seq_cst load in wait_all_done().
    if (shared_->unfinished.compare_exchange_weak(n, n - 1, std::memory_order_seq_cst,
                                                  std::memory_order_relaxed)) {
      if (n == 1) shared_->all_done.notify_all();
      return n;
    }
  }
  return 0;
}

void JoinCounter::cancel_add() noexcept {
  static_cast<void>(decrement());
}

void JoinCounter::task_done() {
  if (decrement() == 0) {
    throw InvalidState(
        "ringpool: JoinableQueue::task_done: called more times than items were put (no task "
        "is unfinished); call it once per item taken with get()");
  }
}

bool JoinCounter::wait_all_done(std::optional<std::chrono::steady_clock::time_point> deadline) {
  // seq_cst: the re-check of the EventCount argument; pairs with the CAS in decrement().
  return shared_->all_done.await(
      [&] { return shared_->unfinished.load(std::memory_order_seq_cst) == 0; }, deadline);
}

std::size_t JoinCounter::unfinished_approx() const noexcept {
  // relaxed: an observation; racy by contract.
  return static_cast<std::size_t>(shared_->unfinished.load(std::memory_order_relaxed));
}

}  // namespace ringpool::pool::detail
