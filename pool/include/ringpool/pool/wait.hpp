#pragma once
// wait() and as_completed(): concurrent.futures' free functions over ringpool futures.
//
//   std::vector<Future<int>> fs = ...;
//   auto [done, not_done] = wait(fs, 100ms, ReturnWhen::first_completed);
//   for (const Future<int>& f : as_completed(fs, 10s)) use(f.get());  // Timeout at 10 s
//
// Both take futures of one result type. The waiting thread makes the futures' pool
// progress while it waits (it collects results and sleeps on the pool's result event, as
// Future::get does): no busy polling. Futures of several pools are waited on in turns of
// at most 1 ms per pool.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <iterator>
#include <optional>
#include <ranges>
#include <span>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "ringpool/pool/errors.hpp"
#include "ringpool/pool/future.hpp"

namespace ringpool::pool {

// When wait() returns (Python's FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED).
//  first_completed: as soon as any future is done (finished or cancelled).
//  first_exception: as soon as any future failed (a cancelled one does not count); when
//                   none fails, once all are done.
//  all_completed:   once all are done.
enum class ReturnWhen { first_completed, first_exception, all_completed };

// What wait() returns: the futures that are done and those that are not, each in input
// order (Python returns two sets).
template <class R>
struct WaitResult {
  std::vector<Future<R>> done;
  std::vector<Future<R>> not_done;
};

namespace detail {

// Blocks until ready(context) or the deadline; true when ready. The pools that settle
// `states` make progress meanwhile: one pool through its own wait (it sleeps on the pool's
// result event), several in turns of at most kPoolTurn each.
inline bool wait_states(std::span<StateBase* const> states, bool (*ready)(const void*),
                        const void* context, std::optional<Clock::time_point> deadline) {
  constexpr auto kPoolTurn = std::chrono::milliseconds(1);
  std::vector<Progress*> pools;
  bool without_pool = false;
  for (StateBase* s : states) {
    Progress* p = s->progress();
    if (p == nullptr) {
      without_pool = true;
    } else if (std::find(pools.begin(), pools.end(), p) == pools.end()) {
      pools.push_back(p);
    }
  }
  if (pools.size() == 1 && !without_pool)
    return pools.front()->wait_until(ready, context, deadline);
  for (;;) {
    if (ready(context)) return true;
    if (deadline && Clock::now() >= *deadline) return false;
    const auto turn_end = [&] {
      const auto t = Clock::now() + kPoolTurn;
      return deadline ? std::min(t, *deadline) : t;
    };
    for (Progress* p : pools) {
      if (p->wait_until(ready, context, turn_end())) return true;
    }
    // States completed by other threads only (no pool): they are seen on the next turn.
    if (pools.empty()) std::this_thread::sleep_until(turn_end());
  }
}

template <class Futures>
using FutureValueOf = typename std::ranges::range_value_t<Futures>::value_type;

// The states of `futures` (throws InvalidState for an empty future).
template <class Futures>
std::vector<StateBase*> states_of(const Futures& futures) {
  std::vector<StateBase*> states;
  for (const auto& f : futures) {
    if (!f.valid()) {
      throw InvalidState("ringpool: wait()/as_completed() got an empty Future");
    }
    states.push_back(f.state_base());
  }
  return states;
}

inline std::string timeout_text(std::size_t pending, std::size_t total) {
  return std::to_string(pending) + " of " + std::to_string(total) +
         " futures were not done when the timeout ran out";
}

}  // namespace detail

// concurrent.futures.wait(): waits until `when` is met or `timeout` passes (nullopt: no
// limit), then returns the futures done and not done. A timeout is not an error: check
// not_done. Throws InvalidState for an empty future.
template <std::ranges::input_range Futures>
requires detail::IsFuture<std::ranges::range_value_t<Futures>>::value
    WaitResult<detail::FutureValueOf<Futures>>
    wait(const Futures& futures, std::optional<std::chrono::nanoseconds> timeout = std::nullopt,
         ReturnWhen when = ReturnWhen::all_completed) {
  using R = detail::FutureValueOf<Futures>;
  const std::vector<detail::StateBase*> states = detail::states_of(futures);
  struct Context {
    const std::vector<detail::StateBase*>* states;
    ReturnWhen when;
  } context{&states, when};
  const auto ready = [](const void* c) noexcept {
    const auto& ctx = *static_cast<const Context*>(c);
    std::size_t done = 0;
    for (const detail::StateBase* s : *ctx.states) {
      if (!s->ready()) continue;
      if (ctx.when == ReturnWhen::first_completed) return true;
      if (ctx.when == ReturnWhen::first_exception && s->failed()) return true;
      ++done;
    }
    return done == ctx.states->size();
  };
  std::optional<detail::Clock::time_point> deadline;
  if (timeout) deadline = detail::Clock::now() + *timeout;
  (void)detail::wait_states(states, ready, &context, deadline);
  WaitResult<R> out;
  for (const auto& f : futures) (f.done() ? out.done : out.not_done).push_back(f);
  return out;
}

// The range as_completed() returns: yields each future once, as it completes (those done
// already first, in input order). Iterate it once. operator++ (and begin()) block until
// the next future is done; past the deadline with futures still pending they throw
// Timeout (Python's TimeoutError); the range stays usable and iterating again waits anew
// only if a new deadline is set with extend().
template <class R>
class AsCompleted {
 public:
  AsCompleted(std::vector<Future<R>> futures, std::optional<detail::Clock::time_point> deadline)
      : futures_(std::move(futures)), deadline_(deadline) {
    // Each future once (Python takes a set): copies share a state.
    std::vector<detail::StateBase*> seen;
    for (std::size_t i = 0; i < futures_.size(); ++i) {
      detail::StateBase* s = futures_[i].state_base();
      if (s == nullptr) throw InvalidState("ringpool: as_completed() got an empty Future");
      if (std::find(seen.begin(), seen.end(), s) != seen.end()) continue;
      seen.push_back(s);
      pending_.push_back(i);
    }
    total_ = pending_.size();
  }
  AsCompleted(AsCompleted&&) noexcept = default;
  AsCompleted& operator=(AsCompleted&&) noexcept = default;

  class iterator {
   public:
    using value_type = Future<R>;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(AsCompleted* parent) : parent_(parent) { at_ = parent_->next(); }
    const Future<R>& operator*() const { return parent_->futures_[*at_]; }
    const Future<R>* operator->() const { return &parent_->futures_[*at_]; }
    iterator& operator++() {
      at_ = parent_->next();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& a, std::default_sentinel_t) { return !a.at_; }

   private:
    AsCompleted* parent_ = nullptr;
    std::optional<std::size_t> at_;
  };

  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() { return {}; }

  // Futures not handed out yet.
  [[nodiscard]] std::size_t remaining() const noexcept { return ready_.size() + pending_.size(); }
  // A new deadline for the rest of the iteration (nullopt: none).
  void extend(std::optional<std::chrono::nanoseconds> timeout) {
    deadline_.reset();
    if (timeout) deadline_ = detail::Clock::now() + *timeout;
  }

 private:
  // Index of the next future to hand out; nullopt once all were handed out.
  std::optional<std::size_t> next() {
    for (;;) {
      if (!ready_.empty()) {
        const std::size_t i = ready_.front();
        ready_.erase(ready_.begin());
        return i;
      }
      if (pending_.empty()) return std::nullopt;
      // Move every done future to ready_, in input order.
      const auto done = [this](std::size_t i) { return futures_[i].done(); };
      std::copy_if(pending_.begin(), pending_.end(), std::back_inserter(ready_), done);
      std::erase_if(pending_, done);
      if (!ready_.empty()) continue;
      std::vector<detail::StateBase*> states;
      states.reserve(pending_.size());
      for (std::size_t i : pending_) states.push_back(futures_[i].state_base());
      const auto any_ready = [](const void* c) noexcept {
        const auto& ss = *static_cast<const std::vector<detail::StateBase*>*>(c);
        return std::any_of(ss.begin(), ss.end(), [](const auto* s) { return s->ready(); });
      };
      if (!detail::wait_states(states, any_ready, &states, deadline_)) {
        throw Timeout("ringpool: as_completed: " + detail::timeout_text(pending_.size(), total_) +
                      "; the range stays usable (extend() sets a new deadline)");
      }
    }
  }

  std::vector<Future<R>> futures_;
  std::optional<detail::Clock::time_point> deadline_;
  std::vector<std::size_t> pending_;  // not done when last looked, input order
  std::vector<std::size_t> ready_;    // done, not handed out yet
  std::size_t total_ = 0;
};

// concurrent.futures.as_completed(): a range over `futures` that yields each as it
// completes. `timeout` counts from this call (nullopt: no limit); iteration that reaches
// it with futures still pending throws Timeout. Throws InvalidState for an empty future.
template <std::ranges::input_range Futures>
requires detail::IsFuture<std::ranges::range_value_t<Futures>>::value auto as_completed(
    const Futures& futures, std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
  using R = detail::FutureValueOf<Futures>;
  std::optional<detail::Clock::time_point> deadline;
  if (timeout) deadline = detail::Clock::now() + *timeout;
  std::vector<Future<R>> copies(std::ranges::begin(futures), std::ranges::end(futures));
  return AsCompleted<R>(std::move(copies), deadline);
}

}  // namespace ringpool::pool
