#pragma once
// The shared state behind Future<R> (future.hpp): ResultSink (what a pool delivers results
// into), Progress (how a waiter drives its pool), PoolLink (what futures hold instead of the
// pool core: it outlives the pool while they live), StateBase and State<R> (the recycled
// slab-allocated state a Future is a handle on). Internal: include future.hpp.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "ringpool/ipc/event_count.hpp"
#include "ringpool/pool/codec.hpp"
#include "ringpool/pool/errors.hpp"

namespace ringpool::pool {

template <class R>
class Future;

namespace detail {

using Clock = std::chrono::steady_clock;

class PoolLink;

// Fixed-size blocks recycled through per-size free lists (never returned to the OS).
// Thread-safe. Blocks up to kMaxPooledState bytes are pooled; larger ones use new. A block
// for a state bound to `link` (nullptr: none) keeps the link alive until it is freed: the
// count is kept under the slab's lock, which each call takes anyway.
inline constexpr std::size_t kMaxPooledState = 512;
[[nodiscard]] void* state_allocate(std::size_t bytes, PoolLink* link);
void state_deallocate(void* block, std::size_t bytes, PoolLink* link) noexcept;

class StateBase;

// Receives results decoded in place from a worker's result ring. Lives in the parent
// only; called with the pool's lock held, from whichever thread collects.
class ResultSink {
 public:
  // A sink that completes one future for a whole batch (map_async) names it and the
  // batch's item count, so that cancelling that future can find the batch's messages.
  struct Batch {
    const StateBase* future = nullptr;  // nullptr: not such a sink
    std::size_t items = 0;
  };
  [[nodiscard]] virtual Batch batch() const noexcept { return {}; }

  // Item `index` of this sink succeeded with encoded `value` (decode may throw
  // DecodeError: the caller turns it into fail()).
  virtual void deliver(std::uint64_t index, std::span<const std::byte> value) = 0;
  // Items index .. index + n - 1 succeeded; value k is the `size` bytes at
  // first + k * stride (a run of values of one length in one result message, as map()'s
  // results come). Default: deliver() each, one whose decode throws fails. A sink
  // overrides it to decode a run without a virtual call per item.
  virtual void deliver_run(std::uint64_t index, const std::byte* first, std::size_t stride,
                           std::size_t size, std::size_t n) noexcept {
    for (std::size_t k = 0; k < n; ++k) {
      try {
        deliver(index + k, {first + k * stride, size});
      } catch (...) {
        fail(index + k, std::current_exception());
      }
    }
  }
  // Item `index` failed.
  virtual void fail(std::uint64_t index, std::exception_ptr error) noexcept = 0;
  // Item `index` was cancelled before any worker started it (Future::cancel(),
  // Pool::shutdown(..., cancel_futures = true)). Default: fail() with CancelledError.
  virtual void cancel_item(std::uint64_t index) noexcept;
  // The `items` items of one task message have all been delivered or failed (called once
  // per message, after its last deliver()/fail(), and never again for them).
  virtual void settled(std::size_t items) noexcept { (void)items; }

 protected:
  ~ResultSink() = default;
};

// Implemented by the pool: makes progress (collects results) while a thread waits.
class Progress {
 public:
  // Blocks until `ready()` returns true or `deadline` passes; returns ready().
  // `ready` is evaluated with no pool lock held.
  virtual bool wait_until(bool (*ready)(const void*), const void* context,
                          std::optional<Clock::time_point> deadline) = 0;
  // Cancels the task `state` is the future of, if no worker has started it: true when it
  // is cancelled now (its state then completes as cancelled). For a batch's future
  // (ResultSink::batch()), all of the batch or nothing: true only when no worker had
  // started any of its messages. False when it (or one of the batch's messages) runs, has
  // finished, was rerun after its worker died, or `state` is a then() future. Any thread;
  // takes the pool's lock.
  virtual bool cancel(StateBase& state) = 0;
  // True while a worker runs the task `state` is the future of. Any thread.
  virtual bool running(const StateBase& state) = 0;

 protected:
  ~Progress() = default;
};

// What a future's state holds of the pool that settles it: a small record that outlives
// the pool as long as a state bound to it lives (state_allocate counts them), so a Future
// answers on valid memory after its Pool is destroyed. Calls pass through to the pool's
// core until the pool detaches it; after that no thread is inside the core, none enters
// it, and every task future of the pool is settled (the core settles them first): waits
// poll the state, cancel() and running() answer false.
class PoolLink final : public Progress {
 public:
  // Allocates a link to `core` (one per pool), owned by the pool until release().
  [[nodiscard]] static PoolLink* create(Progress& core);
  // The pool's end, after it settled every task: no thread enters `core` from now on, and
  // this returns once none is inside it; wake(context) is called meanwhile (a waiter may
  // sleep on the core's event count).
  void detach(void (*wake)(void*), void* context) noexcept;
  // Detaches (if not yet) and drops the pool's reference: the link is freed now, or with
  // the last state bound to it.
  void release() noexcept;
  // Threads inside a call to the core now (a hint: the pool's supervisor collects results
  // itself only while nobody waits).
  [[nodiscard]] std::uint32_t inside() const noexcept {
    // relaxed: a hint; see above.
    return inside_.load(std::memory_order_relaxed);
  }

  bool wait_until(bool (*ready)(const void*), const void* context,
                  std::optional<Clock::time_point> deadline) override;
  bool cancel(StateBase& state) override;
  bool running(const StateBase& state) override;

 private:
  friend void* state_allocate(std::size_t, PoolLink*);
  friend void state_deallocate(void*, std::size_t, PoolLink*) noexcept;
  explicit PoolLink(Progress& core) noexcept : core_(&core) {}
  ~PoolLink() = default;
  class Entry;  // enter() .. leave(), around each call to the core
  // Enters the core: true unless detached (then the caller must not touch the core).
  // Always pair with leave().
  bool enter() noexcept;
  void leave() noexcept;
  // A state bound to this link was freed (or never made).
  void release_state() noexcept;

  Progress* const core_;
  std::atomic<std::uint32_t> inside_{0};  // threads between enter() and leave()
  std::atomic<bool> detached_{false};
  std::size_t states_ = 0;  // states bound to this link (under the slab's lock)
  bool released_ = false;   // the pool dropped its reference (under the slab's lock)
};

// A pool's reference to its link: release() when dropped (the pool detaches it first).
struct PoolLinkRelease {
  void operator()(PoolLink* link) const noexcept { link->release(); }
};
using PoolLinkOwner = std::unique_ptr<PoolLink, PoolLinkRelease>;

// While set (by the pool's collector, which holds the pool's lock), completed futures
// queue their callbacks here instead of running them; the collector runs them after
// unlocking so that a callback may submit more work.
inline thread_local std::vector<std::function<void()>>* t_deferred_callbacks = nullptr;

// The part of a future's shared state that does not depend on R.
class StateBase : public ResultSink {
 public:
  enum Status : std::uint32_t { kPending = 0, kValue = 1, kError = 2, kCancelled = 3 };

  [[nodiscard]] bool ready() const noexcept {
    // acquire: pairs with the release store in finish(); the value or error written
    // before it is visible.
    return status_.load(std::memory_order_acquire) != kPending;
  }
  // Failed or cancelled: error() holds the exception get() rethrows.
  [[nodiscard]] bool has_error() const noexcept {
    // acquire: pairs with the release store in finish().
    const std::uint32_t s = status_.load(std::memory_order_acquire);
    return s == kError || s == kCancelled;
  }
  // Failed (not cancelled): what wait(..., ReturnWhen::first_exception) looks for.
  [[nodiscard]] bool failed() const noexcept {
    // acquire: pairs with the release store in finish().
    return status_.load(std::memory_order_acquire) == kError;
  }
  [[nodiscard]] bool cancelled() const noexcept {
    // acquire: pairs with the release store in finish().
    return status_.load(std::memory_order_acquire) == kCancelled;
  }
  [[nodiscard]] const std::exception_ptr& error() const noexcept { return error_; }

  // Waits until ready or the deadline; true when ready.
  bool wait_until(std::optional<Clock::time_point> deadline) {
    if (ready()) return true;
    if (PoolLink* p = progress_) {
      return p->wait_until(&StateBase::ready_thunk, this, deadline);
    }
    // No pool (a continuation settled in this process): sleep on the state's event count.
    return done_.await([this] { return ready(); }, deadline);
  }

  void fail(std::uint64_t, std::exception_ptr error) noexcept override {
    error_ = std::move(error);
    finish(kError);
  }
  void cancel_item(std::uint64_t) noexcept override {
    error_ = cancelled_error();
    finish(kCancelled);
  }
  static std::exception_ptr cancelled_error() noexcept {
    return std::make_exception_ptr(
        CancelledError("ringpool: the task was cancelled before a worker started it"));
  }

  // Registers `cb` to run once complete (at once if complete already). A callback that
  // throws is ignored either way, as Python does (it must not take the caller down).
  void on_done(std::function<void()> cb) {
    {
      std::lock_guard lock(callbacks_mu_);
      if (!ready()) {
        callbacks_.push_back(std::move(cb));
        return;
      }
    }
    try {
      cb();
    } catch (...) {
    }
  }

  // The pool that settles this state (set by make(), before the state is shared).
  [[nodiscard]] PoolLink* progress() const noexcept { return progress_; }
  // The id of the task record this state is the future of (0: none). Read and written only
  // under the lock of the pool that settles it.
  [[nodiscard]] std::uint64_t task_id() const noexcept { return task_id_; }
  void set_task_id(std::uint64_t id) noexcept { task_id_ = id; }

  void add_ref() noexcept {
    // relaxed: the caller already holds a reference, so the count cannot reach zero.
    refs_.fetch_add(1, std::memory_order_relaxed);
  }
  void release_ref() noexcept {
    // acq_rel: the last owner must see every other owner's writes before destroying.
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy();
  }
  // Future handles on this state (each also holds a reference); the pool's record and a
  // continuation's target hold references but no handle.
  void add_handle() noexcept {
    // relaxed: the caller already holds a handle (or is the first), as add_ref().
    handles_.fetch_add(1, std::memory_order_relaxed);
  }
  void drop_handle() noexcept {
    // release: pairs with the acquire load in sole_handle(): this handle's reads of the
    // value happen before a sole remaining handle moves it out.
    handles_.fetch_sub(1, std::memory_order_release);
  }
  // True when the caller's handle is the only one: nobody else can read the value.
  [[nodiscard]] bool sole_handle() const noexcept {
    // acquire: pairs with the release in drop_handle().
    return handles_.load(std::memory_order_acquire) == 1;
  }

 protected:
  explicit StateBase(PoolLink* link) noexcept : progress_(link) {}
  ~StateBase() = default;
  // Destroys the complete object and frees its block (the last reference is gone). A
  // virtual rather than a stored function pointer: the state stays within its slab class.
  virtual void destroy() noexcept = 0;

  // Publishes the outcome, wakes sleepers and runs callbacks. Called once.
  void finish(Status s) noexcept {
    std::vector<std::function<void()>> callbacks;
    {
      std::lock_guard lock(callbacks_mu_);
      // seq_cst: the publish (N1) of the EventCount argument (ipc/event_count.hpp), ordered
      // before notify_all()'s load of the waiter count; also a release that pairs with the
      // acquire loads in ready() (the value or error is visible).
      status_.store(s, std::memory_order_seq_cst);
      callbacks.swap(callbacks_);
    }
    done_.notify_all();  // every waiter waits for this one state
    if (callbacks.empty()) return;
    if (t_deferred_callbacks != nullptr) {
      try {
        for (auto& cb : callbacks) t_deferred_callbacks->push_back(std::move(cb));
        return;
      } catch (...) {
        // Out of memory: run them here instead.
      }
    }
    for (auto& cb : callbacks) {
      if (!cb) continue;
      try {
        cb();
      } catch (...) {
        // A throwing callback must not take the collector down (Python logs and goes on).
      }
    }
  }

 private:
  static bool ready_thunk(const void* self) noexcept {
    return static_cast<const StateBase*>(self)->ready();
  }

  std::atomic<std::uint32_t> status_{kPending};
  ipc::LocalEventCount done_;  // threads waiting for status_ without a pool
  std::atomic<std::uint32_t> refs_{1};
  std::atomic<std::uint32_t> handles_{0};
  // The pool that settles this state, or nullptr (a continuation settled in-process). The
  // link outlives this state (see PoolLink), the pool's core maybe not: calls go through
  // the link.
  PoolLink* const progress_;
  std::uint64_t task_id_ = 0;  // under the pool's lock (see task_id())
  std::exception_ptr error_;
  std::mutex callbacks_mu_;
  std::vector<std::function<void()>> callbacks_;
};

template <class R>
class State final : public StateBase {
 public:
  // A state settled by the pool behind `link` (nullptr: completed in this process).
  static State* make(PoolLink* link = nullptr) {
    static_assert(alignof(State) <= 64, "over-aligned future results are not supported");
    void* block = state_allocate(sizeof(State), link);
    return ::new (block) State(link);
  }

  void deliver(std::uint64_t, std::span<const std::byte> value) override {
    if constexpr (std::is_void_v<R>) {
      if (!value.empty()) throw DecodeError("ringpool: a void task returned bytes");
    } else {
      ::new (static_cast<void*>(storage_)) R(Codec<R>::decode(value));
      has_value_ = true;
    }
    finish(kValue);
  }
  // Completes with a value computed in this process (continuations).
  template <class... A>
  void set_value(A&&... a) {
    if constexpr (!std::is_void_v<R>) {
      ::new (static_cast<void*>(storage_)) R(std::forward<A>(a)...);
      has_value_ = true;
    }
    finish(kValue);
  }

  // Precondition: ready() && !has_error() && the caller holds the only handle; leaves the
  // value moved from.
  R move_value() noexcept(std::is_nothrow_move_constructible_v<R>) requires(!std::is_void_v<R>) {
    return std::move(*std::launder(reinterpret_cast<R*>(storage_)));
  }
  // Precondition: ready() && !has_error().
  const auto& value() const noexcept {
    if constexpr (std::is_void_v<R>) {
      return has_value_;
    } else {
      return *std::launder(reinterpret_cast<const R*>(storage_));
    }
  }

 private:
  explicit State(PoolLink* link) noexcept : StateBase(link) {}
  ~State() {
    if constexpr (!std::is_void_v<R>) {
      if (has_value_) std::launder(reinterpret_cast<R*>(storage_))->~R();
    }
  }
  void destroy() noexcept override {
    PoolLink* const link = progress();
    this->~State();
    state_deallocate(this, sizeof(State), link);
  }

  struct Empty {};
  using Storage = std::conditional_t<std::is_void_v<R>, Empty, R>;
  alignas(Storage) unsigned char storage_[sizeof(Storage)];
  bool has_value_ = false;
};

// The result type of a continuation f applied to a Future<R>'s value.
template <class F, class R>
struct ThenResult : std::invoke_result<F&, const R&> {};
template <class F>
struct ThenResult<F, void> : std::invoke_result<F&> {};

template <class T>
struct IsFuture : std::false_type {};
template <class T>
struct IsFuture<Future<T>> : std::true_type {};

inline void ResultSink::cancel_item(std::uint64_t index) noexcept {
  fail(index, StateBase::cancelled_error());
}

}  // namespace detail

}  // namespace ringpool::pool
