#pragma once
// Where the collector writes a batch's results: MapSink (one slot per input of a map(),
// complete when every item is settled), MapAsyncSink (the same for map_async(), completing
// a future) and ImapSink (the bounded window of an imap()/
// imap_unordered(), handed out one at a time).
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "ringpool/pool/codec.hpp"
#include "ringpool/pool/detail/task_wire.hpp"
#include "ringpool/pool/future.hpp"
#include "ringpool/pool/outcome.hpp"

namespace ringpool::pool::detail {

// Decodes a run of values (ResultSink::deliver_run) into slots[index ..]: one virtual call
// per run instead of one per item. A value that does not decode fails its item.
template <class R, class Slots, class Fail>
void decode_run(Slots& slots, std::uint64_t index, const std::byte* first, std::size_t stride,
                std::size_t size, std::size_t n, Fail&& fail) noexcept {
  std::size_t k = 0;
  while (k < n) {
    try {
      for (; k < n; ++k) slots[index + k] = Codec<R>::decode({first + k * stride, size});
    } catch (...) {
      fail(index + k, std::current_exception());
      ++k;
    }
  }
}

// Results of a map(): one slot per input, written by the collector.
template <class R>
class MapSink final : public ResultSink {
 public:
  using Slot = std::conditional_t<std::is_default_constructible_v<R>, R, std::optional<R>>;

  explicit MapSink(std::size_t n) : values_(n) {}

  void deliver(std::uint64_t index, std::span<const std::byte> value) override {
    values_[index] = Codec<R>::decode(value);
  }
  void deliver_run(std::uint64_t index, const std::byte* first, std::size_t stride,
                   std::size_t size, std::size_t n) noexcept override {
    decode_run<R>(values_, index, first, stride, size, n,
                  [this](std::uint64_t i, std::exception_ptr e) { fail(i, std::move(e)); });
  }
  void fail(std::uint64_t index, std::exception_ptr error) noexcept override {
    try {
      errors_.emplace_back(index, std::move(error));
    } catch (...) {
    }
  }
  // One task message settled: counted once per message, not per item (a locked
  // read-modify-write per item cost a quarter of map()'s throughput).
  void settled(std::size_t items) noexcept override {
    // seq_cst (this RMW and the load): see finish_sending().
    const std::size_t total = settled_.fetch_add(items, std::memory_order_seq_cst) + items;
    if (total == expected_.load(std::memory_order_seq_cst)) mark_complete();
  }
  // All expected items settled (read without the pool lock).
  static bool complete(const void* self) noexcept {
    // acquire: pairs with the release store in mark_complete(); the values are visible.
    return static_cast<const MapSink*>(self)->complete_.load(std::memory_order_acquire);
  }
  // Every item the batch will send has been sent (`sent` of them). Runs without the pool's
  // lock, while the collector may settle items under it.
  void finish_sending(std::size_t sent) noexcept {
    // seq_cst (this store and the load below): the Dekker pair with settled(), which
    // adds to settled_ and then loads expected_: at least one of the two sees the other's
    // write, so the last settlement is never missed.
    expected_.store(sent, std::memory_order_seq_cst);
    if (settled_.load(std::memory_order_seq_cst) == sent) mark_complete();
  }

  std::vector<Slot>& values() noexcept { return values_; }
  std::vector<std::pair<std::uint64_t, std::exception_ptr>>& errors() noexcept { return errors_; }

 private:
  void mark_complete() noexcept {
    // release: pairs with the acquire load in complete(); both callers may get here.
    complete_.store(true, std::memory_order_release);
  }

  std::vector<Slot> values_;
  std::vector<std::pair<std::uint64_t, std::exception_ptr>> errors_;  // under the pool's lock
  std::atomic<std::size_t> settled_{0};
  std::atomic<std::size_t> expected_{static_cast<std::size_t>(-1)};
  std::atomic<bool> complete_{false};
};

template <class R>
R unwrap_slot(typename MapSink<R>::Slot&& slot) {
  if constexpr (std::is_default_constructible_v<R>) {
    return std::move(slot);
  } else {
    return std::move(*slot);
  }
}

// Results of a map_async(): one slot per input, like MapSink, but owned by nobody but
// itself. It lives until every item sent has settled and the sender has called
// finish_sending(); whichever comes last completes the future (the values in input order,
// or the first failed item's error, as map() throws; cancelled when every item was
// cancelled) and deletes the sink.
template <class R>
class MapAsyncSink final : public ResultSink {
 public:
  using Slot = typename MapSink<R>::Slot;

  // Takes over one reference to `state`; `n` items will be sent at most.
  MapAsyncSink(State<std::vector<R>>* state, std::size_t n)
      : values_(n), state_(state), remaining_(n + 1) {}

  void deliver(std::uint64_t index, std::span<const std::byte> value) override {
    values_[index] = Codec<R>::decode(value);
  }
  void deliver_run(std::uint64_t index, const std::byte* first, std::size_t stride,
                   std::size_t size, std::size_t n) noexcept override {
    decode_run<R>(values_, index, first, stride, size, n,
                  [this](std::uint64_t i, std::exception_ptr e) { fail(i, std::move(e)); });
  }
  void fail(std::uint64_t index, std::exception_ptr error) noexcept override {
    try {
      errors_.emplace_back(index, std::move(error));
    } catch (...) {
    }
  }
  // Cancelled before any worker started it (Future::cancel() of the whole batch, or
  // Pool::shutdown(..., cancel_futures = true) for some of its messages).
  void cancel_item(std::uint64_t index) noexcept override {
    ++cancelled_;
    fail(index, StateBase::cancelled_error());
  }
  void settled(std::size_t items) noexcept override { release(items); }
  [[nodiscard]] Batch batch() const noexcept override { return {state_, values_.size()}; }
  // The sender sent `sent` of the n items and will not touch the sink again (it may be
  // gone when this returns). `error`: what stopped it early; the future fails with it.
  void finish_sending(std::size_t sent, std::exception_ptr error) noexcept {
    sender_error_ = std::move(error);
    release(values_.size() - sent + 1);
  }

  std::vector<Slot>& values() noexcept { return values_; }

 private:
  void release(std::size_t count) noexcept {
    // acq_rel: the one that brings the count to zero sees every value and error the
    // others wrote (the collector under the pool lock, the sender) before it reads them.
    if (remaining_.fetch_sub(count, std::memory_order_acq_rel) == count) complete();
  }
  void complete() noexcept {
    State<std::vector<R>>* state = state_;
    if (sender_error_) {
      state->fail(0, std::move(sender_error_));
    } else if (cancelled_ != 0 && cancelled_ == values_.size()) {
      state->cancel_item(0);
    } else if (!errors_.empty()) {
      const auto first =
          std::min_element(errors_.begin(), errors_.end(),
                           [](const auto& a, const auto& b) { return a.first < b.first; });
      state->fail(0, first->second);
    } else {
      try {
        if constexpr (std::is_default_constructible_v<R>) {
          state->set_value(std::move(values_));
        } else {
          std::vector<R> out;
          out.reserve(values_.size());
          for (auto& v : values_) out.push_back(std::move(*v));
          state->set_value(std::move(out));
        }
      } catch (...) {
        state->fail(0, std::current_exception());
      }
    }
    delete this;
    state->release_ref();
  }

  std::vector<Slot> values_;
  std::vector<std::pair<std::uint64_t, std::exception_ptr>> errors_;  // under the pool's lock
  std::exception_ptr sender_error_;  // written before the sender's release
  std::size_t cancelled_ = 0;        // items cancelled; under the pool's lock
  State<std::vector<R>>* state_;
  std::atomic<std::size_t> remaining_;  // items not settled + 1 for the sender
};

// Results of an imap()/imap_unordered(): a bounded window, handed out one at a time.
// deliver()/fail() run in the thread that collects (under the pool's lock), the rest in the
// iterator's thread. `ready_` lets the iterator ask "is there one?" without the lock: the
// imap loop asks several times per result (take, has_next in wait_until).
template <class R>
class ImapSink final : public ResultSink {
 public:
  explicit ImapSink(bool ordered) : ordered_(ordered) {}

  void deliver(std::uint64_t index, std::span<const std::byte> value) override {
    Outcome<R> outcome{Codec<R>::decode(value)};
    std::lock_guard lock(mu_);
    put(index, std::move(outcome));
  }
  void fail(std::uint64_t index, std::exception_ptr error) noexcept override {
    std::lock_guard lock(mu_);
    try {
      put(index, Outcome<R>(std::move(error)));
    } catch (...) {
    }
  }
  // Reserves a place for item `index` (called in send order). Unordered: nothing to do.
  void expect(std::uint64_t index) {
    (void)index;
    if (!ordered_) return;
    std::lock_guard lock(mu_);
    window_.emplace_back();
  }
  // The next outcome in delivery order (ordered: input order), if it is there. Unordered:
  // every outcome delivered so far is moved out in one locked swap and handed out from
  // `taken_` without the lock.
  std::optional<Outcome<R>> take() {
    if (!taken_.empty()) return pop_taken();
    // acquire: pairs with the release store in publish_ready(); only this thread makes
    // ready_ fall, so a true stays true until the lock below.
    if (!ready_.load(std::memory_order_acquire)) return std::nullopt;
    std::lock_guard lock(mu_);
    std::optional<Outcome<R>> out;
    if (ordered_) {
      if (window_.empty() || !window_.front()) return std::nullopt;
      out = std::move(window_.front());
      window_.pop_front();
      ++window_base_;
    } else {
      if (done_.empty()) return std::nullopt;
      taken_.swap(done_);
      out = pop_taken();
    }
    publish_ready();
    return out;
  }
  // Called by the thread that calls take().
  static bool has_next(const void* self) noexcept {
    const auto* s = static_cast<const ImapSink*>(self);
    // acquire: as in take().
    return !s->taken_.empty() || s->ready_.load(std::memory_order_acquire);
  }

 private:
  void put(std::uint64_t index, Outcome<R>&& outcome) {
    if (ordered_) {
      const std::uint64_t at = index - window_base_;
      if (at < window_.size()) window_[at] = std::move(outcome);
    } else {
      done_.push_back(std::move(outcome));
    }
    publish_ready();
  }
  std::optional<Outcome<R>> pop_taken() {
    std::optional<Outcome<R>> out(std::move(taken_.front()));
    taken_.pop_front();
    return out;
  }
  // Under mu_.
  void publish_ready() noexcept {
    const bool ready = ordered_ ? !window_.empty() && window_.front().has_value() : !done_.empty();
    // release: pairs with the acquire load in has_next(). The collector's store_load_fence
    // after its settlements makes it the publish of the pool's EventCount argument
    // (PoolCore::Impl::collect).
    ready_.store(ready, std::memory_order_release);
  }

  const bool ordered_;
  mutable std::mutex mu_;
  std::atomic<bool> ready_{false};  // written under mu_
  std::deque<std::optional<Outcome<R>>> window_;
  std::uint64_t window_base_ = 0;
  std::deque<Outcome<R>> done_;
  std::deque<Outcome<R>> taken_;  // unordered: the iterator's thread only
};

}  // namespace ringpool::pool::detail
