// Future support: the recycled shared-state slab, and the link from a state to its pool.

#include <algorithm>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "ringpool/pool/future.hpp"

namespace ringpool::pool::detail {

namespace {

constexpr std::size_t kGranule = 64;
constexpr std::size_t kClasses = kMaxPooledState / kGranule;

struct Slab {
  std::mutex mu;
  std::vector<void*> free[kClasses];
  std::size_t allocated[kClasses] = {};
};

Slab& slab() {
  // Never destroyed: futures may be released during static destruction.
  static Slab* s = new Slab();
  return *s;
}

std::size_t class_of(std::size_t bytes) noexcept {
  return (bytes + kGranule - 1) / kGranule - 1;
}

}  // namespace

void* state_allocate(std::size_t bytes, PoolLink* link) {
  const bool pooled = bytes <= kMaxPooledState;
  if (!pooled && link == nullptr) return ::operator new (bytes, std::align_val_t{kGranule});
  void* block = nullptr;
  {
    Slab& s = slab();
    std::lock_guard lock(s.mu);
    if (pooled) {
      const std::size_t c = class_of(bytes);
      if (!s.free[c].empty()) {
        block = s.free[c].back();
        s.free[c].pop_back();
      } else {
        // Make room in the free list now, so that deallocate never allocates.
        if (s.free[c].capacity() < s.allocated[c] + 1) {
          s.free[c].reserve(2 * s.allocated[c] + 16);
        }
        ++s.allocated[c];
      }
    }
    // Counted before the block exists: a failed new below gives the count back.
    if (link != nullptr) ++link->states_;
  }
  if (block != nullptr) return block;
  try {
    return ::operator new (pooled ? (class_of(bytes) + 1) * kGranule : bytes,
                           std::align_val_t{kGranule});
  } catch (...) {
    if (link != nullptr) link->release_state();
    throw;
  }
}

void state_deallocate(void* block, std::size_t bytes, PoolLink* link) noexcept {
  const bool pooled = bytes <= kMaxPooledState;
  if (!pooled) {
    ::operator delete (block, std::align_val_t{kGranule});
    if (link != nullptr) link->release_state();
    return;
  }
  bool last_link_ref = false;
  {
    Slab& s = slab();
    std::lock_guard lock(s.mu);
    s.free[class_of(bytes)].push_back(block);  // capacity reserved in state_allocate
    // The same lock as the link's count: no second lock per task.
    if (link != nullptr) last_link_ref = --link->states_ == 0 && link->released_;
  }
  if (last_link_ref) delete link;
}

// ---- PoolLink ----------------------------------------------------------------------------

PoolLink* PoolLink::create(Progress& core) {
  return new PoolLink(core);
}

void PoolLink::release_state() noexcept {
  bool last = false;
  {
    Slab& s = slab();
    std::lock_guard lock(s.mu);
    last = --states_ == 0 && released_;
  }
  if (last) delete this;
}

void PoolLink::detach(void (*wake)(void*), void* context) noexcept {
  // seq_cst: with the seq_cst increment in enter(), either that thread sees detached_ and
  // stays out of the core, or the load below sees its increment and waits for it.
  detached_.store(true, std::memory_order_seq_cst);
  // seq_cst: see above; also an acquire that pairs with the release decrement in leave()
  // (the thread's last access to the core happens before the core is freed).
  while (inside_.load(std::memory_order_seq_cst) != 0) {
    wake(context);
    std::this_thread::yield();
  }
}

void PoolLink::release() noexcept {
  detach([](void*) {}, nullptr);
  bool last = false;
  {
    Slab& s = slab();
    std::lock_guard lock(s.mu);
    released_ = true;
    last = states_ == 0;
  }
  if (last) delete this;
}

bool PoolLink::enter() noexcept {
  // seq_cst: pairs with the seq_cst store and load in detach_and_release() (see there).
  inside_.fetch_add(1, std::memory_order_seq_cst);
  // seq_cst: see above.
  return !detached_.load(std::memory_order_seq_cst);
}

void PoolLink::leave() noexcept {
  // release: this thread's last access to the core; pairs with the load in
  // detach_and_release().
  inside_.fetch_sub(1, std::memory_order_release);
}

class PoolLink::Entry {
 public:
  explicit Entry(PoolLink& link) noexcept : link_(link), entered_(link.enter()) {}
  ~Entry() { link_.leave(); }
  Entry(const Entry&) = delete;
  Entry& operator=(const Entry&) = delete;
  // False: the pool is gone; do not touch its core.
  explicit operator bool() const noexcept { return entered_; }

 private:
  PoolLink& link_;
  const bool entered_;
};

bool PoolLink::wait_until(bool (*ready)(const void*), const void* context,
                          std::optional<Clock::time_point> deadline) {
  const Entry entry(*this);
  if (entry) return core_->wait_until(ready, context, deadline);
  // The pool is gone: its task futures are settled; a continuation of one may still be
  // completing in another thread. Poll.
  constexpr auto kPoll = std::chrono::milliseconds(1);
  for (;;) {
    if (ready(context)) return true;
    const auto now = Clock::now();
    if (deadline && now >= *deadline) return false;
    std::this_thread::sleep_until(deadline ? std::min(now + kPoll, *deadline) : now + kPoll);
  }
}

bool PoolLink::cancel(StateBase& state) {
  const Entry entry(*this);
  return static_cast<bool>(entry) && core_->cancel(state);
}

bool PoolLink::running(const StateBase& state) {
  const Entry entry(*this);
  return static_cast<bool>(entry) && core_->running(state);
}

}  // namespace ringpool::pool::detail
