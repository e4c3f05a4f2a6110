#pragma once
// Future<R>: the result of a task submitted to a Pool (Python's AsyncResult and
// concurrent.futures.Future in one type).
//
//   auto f = pool.submit(square, 7);
//   f.get();                         // 49, or rethrows: TaskFailed, WorkerLost, Closed
//   f.get(10ms);                     // throws Timeout when not ready; f stays usable
//   f.add_done_callback([](const Future<int>& g) { ... });
//   auto g = f.then([](int v) { return v + 1; });
//   f.cancel();                      // true when no worker had started it: it never runs
//
// wait(futures, timeout, when) and as_completed(futures, timeout) are in wait.hpp.
//
// A Future is a cheap, copyable handle on a shared state (copies see the same result).
// Any thread may wait on it; a waiting thread also collects results from the pool's
// workers, so no background thread sits between the worker and the waiter. The state
// comes from a process-wide recycled slab: no heap allocation per task in the steady
// state (a failure, a callback or a continuation may allocate).
//
// Callbacks and continuations run in the thread that completes the future (the one that
// collected the result), or at once in the registering thread when already complete.
// They must not block on other futures of the same pool for long.
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
#include "ringpool/pool/detail/future_state.hpp"
#include "ringpool/pool/errors.hpp"

namespace ringpool::pool {

template <class R>
class Future {
 public:
  using value_type = R;

  // An empty future (valid() == false): every other call throws InvalidState.
  Future() noexcept = default;
  Future(const Future& other) noexcept : state_(other.state_) {
    if (state_) {
      state_->add_ref();
      state_->add_handle();
    }
  }
  Future(Future&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
  Future& operator=(Future other) noexcept {
    std::swap(state_, other.state_);
    return *this;
  }
  ~Future() { reset(); }

  [[nodiscard]] bool valid() const noexcept { return state_ != nullptr; }

  // The task's result; blocks until it is ready. Rethrows what the task failed with:
  // TaskFailed (the task threw: original type name and message), WorkerLost (its worker
  // died and retries were exhausted), Closed (the pool was terminated first).
  // May be called many times (returns a copy each time).
  R get() const& {
    wait();
    return take();
  }
  // get() on an rvalue (`pool.submit(f, v).get()`, `std::move(f).get()`) consumes the
  // future: the value is moved out when no other Future shares it (copied otherwise), and
  // the future is empty afterwards (valid() == false), whether it returns or throws.
  R get() && {
    wait();
    return take_and_reset();
  }
  // As get(), but throws Timeout when not ready within `timeout`; the future stays
  // usable and a later get() can still succeed.
  template <class Rep, class Period>
  R get(std::chrono::duration<Rep, Period> timeout) const& {
    throw_unless_ready(timeout);
    return take();
  }
  // As get() && with a timeout; on Timeout the future stays valid and usable.
  template <class Rep, class Period>
  R get(std::chrono::duration<Rep, Period> timeout) && {
    throw_unless_ready(timeout);
    return take_and_reset();
  }

  void wait() const { (void)checked().wait_until(std::nullopt); }
  // True when ready within `timeout`.
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> timeout) const {
    return checked().wait_until(detail::Clock::now() +
                                std::chrono::duration_cast<detail::Clock::duration>(timeout));
  }
  bool wait_until(detail::Clock::time_point deadline) const {
    return checked().wait_until(deadline);
  }

  // Python's AsyncResult.ready(): the task finished (either way). Never blocks.
  [[nodiscard]] bool ready() const { return checked().ready(); }
  // Python's AsyncResult.successful(): finished without error. Throws InvalidState when
  // not ready yet (Python raises ValueError).
  [[nodiscard]] bool successful() const {
    const auto& s = checked();
    if (!s.ready()) {
      throw InvalidState(
          "ringpool: Future::successful() called before the task finished; wait() first or "
          "check ready()");
    }
    return !s.has_error();
  }
  // concurrent.futures.Future.done(): finished with a value, an error, or cancelled.
  // Never blocks. (The same as ready().)
  [[nodiscard]] bool done() const { return checked().ready(); }
  // Cancelled by cancel() or Pool::shutdown(..., cancel_futures = true).
  [[nodiscard]] bool cancelled() const { return checked().cancelled(); }
  // A worker runs the task now (it can no longer be cancelled). False for a map_async or
  // then() future, which stand for no single task.
  [[nodiscard]] bool running() const {
    auto& s = checked();
    if (s.ready()) return false;
    detail::Progress* p = s.progress();
    return p != nullptr && p->running(s);
  }
  // concurrent.futures.Future.cancel(): true when the task had not started: it will never
  // run, its record is reclaimed, the future completes as cancelled (callbacks run) and
  // get() throws CancelledError. True again for a future cancelled before. False when it
  // runs or has finished, and for a then() future. A map_async/starmap_async future is
  // cancelled whole or not at all: true when no worker had started any of its chunks (none
  // will run); false once one has (the batch goes on and every result arrives). Any
  // thread; does not block on the task.
  bool cancel() const {
    auto& s = checked();
    if (s.cancelled()) return true;
    if (s.ready()) return false;
    detail::Progress* p = s.progress();
    return p != nullptr && p->cancel(s);
  }

  // The error the task failed with (nullptr when it succeeded). Blocks until ready.
  // Throws CancelledError when the future was cancelled (as Python's exception()).
  [[nodiscard]] std::exception_ptr exception() const {
    wait();
    return error_or_null();
  }
  // As exception(), but throws Timeout when not finished within `timeout` (the future
  // stays usable).
  template <class Rep, class Period>
  [[nodiscard]] std::exception_ptr exception(std::chrono::duration<Rep, Period> timeout) const {
    if (!wait_for(timeout)) {
      throw Timeout(
          "ringpool: Future::exception timed out after " +
          std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(timeout).count()) +
          " us; the task is still pending or running and the future stays usable");
    }
    return error_or_null();
  }

  // Runs cb(*this) once the future is complete (at once if it is already).
  template <class F>
  requires std::is_invocable_v<F&, const Future&>
  void add_done_callback(F cb) const {
    Future self = *this;
    checked().on_done([self, cb = std::move(cb)]() mutable { cb(self); });
  }

  // A future of f(value): runs f in the completing thread. If this future fails, or
  // f throws, the returned future fails with that error.
  template <class F>
  auto then(F f) const {
    using Out = std::decay_t<typename detail::ThenResult<F, R>::type>;
    auto* next = detail::State<Out>::make(checked().progress());
    Future<Out> result = Future<Out>::adopt(next);
    next->add_ref();  // held by the callback below
    Future self = *this;
    checked().on_done([self, next, f = std::move(f)]() mutable {
      try {
        if (self.state_->has_error()) {
          next->fail(0, self.state_->error());
        } else if constexpr (std::is_void_v<R> && std::is_void_v<Out>) {
          f();
          next->set_value();
        } else if constexpr (std::is_void_v<R>) {
          next->set_value(f());
        } else if constexpr (std::is_void_v<Out>) {
          f(self.state_->value());
          next->set_value();
        } else {
          next->set_value(f(self.state_->value()));
        }
      } catch (...) {
        next->fail(0, std::current_exception());
      }
      next->release_ref();
    });
    return result;
  }

  // ---- for the pool ----
  // Takes ownership of one reference to `state`.
  static Future adopt(detail::State<R>* state) noexcept {
    Future f;
    f.state_ = state;
    state->add_handle();
    return f;
  }
  // The shared state (nullptr when empty): wait() and as_completed() watch it.
  [[nodiscard]] detail::StateBase* state_base() const noexcept { return state_; }

 private:
  template <class>
  friend class Future;

  detail::State<R>& checked() const {
    if (!state_) {
      throw InvalidState("ringpool: this Future is empty (default-constructed or moved from)");
    }
    return *state_;
  }
  std::exception_ptr error_or_null() const {
    if (state_->cancelled()) std::rethrow_exception(state_->error());
    return state_->has_error() ? state_->error() : nullptr;
  }
  R take() const {
    if (state_->has_error()) std::rethrow_exception(state_->error());
    if constexpr (!std::is_void_v<R>) return state_->value();
  }
  // take() for get() &&: the value moves out when this is the only handle; the future is
  // empty afterwards either way.
  R take_and_reset() {
    struct Reset {
      Future* f;
      ~Reset() { f->reset(); }
    } reset_after{this};
    if constexpr (std::is_void_v<R>) {
      take();
    } else {
      if (!state_->has_error() && state_->sole_handle()) return state_->move_value();
      return take();
    }
  }
  template <class Rep, class Period>
  void throw_unless_ready(std::chrono::duration<Rep, Period> timeout) const {
    if (!wait_for(timeout)) {
      throw Timeout(
          "ringpool: Future::get timed out after " +
          std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(timeout).count()) +
          " us; the task is still running and the future stays usable: call get() "
          "again or wait longer");
    }
  }
  void reset() noexcept {
    if (state_ != nullptr) {
      // The last handle need not count itself down: no Future is left to ask sole_handle()
      // (a recycled state starts from 0 again). Saves a locked instruction per task.
      if (!state_->sole_handle()) state_->drop_handle();
      std::exchange(state_, nullptr)->release_ref();
    }
  }

  detail::State<R>* state_ = nullptr;
};

}  // namespace ringpool::pool
