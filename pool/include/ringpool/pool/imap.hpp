#pragma once
// Imap: the lazy range imap()/imap_unordered() return (include <ringpool/pool/pool.hpp>).
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <exception>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <utility>
#include <vector>

#include "ringpool/pool/detail/result_sinks.hpp"
#include "ringpool/pool/detail/task_traits.hpp"
#include "ringpool/pool/outcome.hpp"
#include "ringpool/pool/pool.hpp"

namespace ringpool::pool {

// The range returned by imap()/imap_unordered(). Move-only; iterate it once, either as a
// range or with next() / next(timeout) (Python's IMapIterator.next), not both. Its
// destructor waits for the items already in flight (they write into it).
template <class R, class Task, class View, bool Star>
class Imap {
  using Fn = typename Task::Fn;
  using Args = typename Task::Args;
  using Items = detail::ItemCodec<Args>;

 public:
  Imap(Pool& pool, Fn fn, View inputs, std::size_t chunksize, bool ordered)
      : pool_(&pool),
        fn_(fn),
        inputs_(std::move(inputs)),
        it_(std::ranges::begin(inputs_)),
        chunk_(chunksize),
        sink_(std::make_unique<detail::ImapSink<R>>(ordered)) {
    if (chunk_ == 0) throw InvalidArgument("ringpool: chunksize must be at least 1");
    if (pool.core().closed()) {
      throw Closed(
          "ringpool: the pool is closed; begin imap before close() (or create a new "
          "Pool)");
    }
    if constexpr (std::ranges::sized_range<View>) {
      const std::size_t n = std::ranges::size(inputs_);
      parallel_ = n > 0 && pool.core().plan_batch(n);
    } else {
      pool.core().plan_unsized_batch();
    }
    max_in_flight_ = std::max<std::size_t>(pool.core().ring_messages(), 2) * chunk_;
    pack_budget_ = pool.core().imap_pack_budget();
  }
  Imap(Imap&&) noexcept = default;
  Imap& operator=(Imap&&) = delete;
  Imap(const Imap&) = delete;
  ~Imap() {
    if (sink_ && sent_ > taken_) {
      // Results still in flight write into sink_: wait for them.
      while (sent_ > taken_) {
        pool_->core().wait_until(&detail::ImapSink<R>::has_next, sink_.get(), std::nullopt);
        while (sink_->take()) ++taken_;
      }
    }
  }

  class iterator {
   public:
    using value_type = R;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(Imap* parent) : parent_(parent) {
      current_ = parent_->next_outcome(std::nullopt);
    }
    // The item's result; throws its error (TaskFailed, WorkerLost, ...).
    const R& operator*() const { return current_->value(); }
    iterator& operator++() {
      current_ = parent_->next_outcome(std::nullopt);
      return *this;
    }
    void operator++(int) { ++*this; }
    // The current item's outcome, without throwing.
    const Outcome<R>& outcome() const { return *current_; }
    friend bool operator==(const iterator& a, std::default_sentinel_t) { return !a.current_; }

   private:
    Imap* parent_ = nullptr;
    std::optional<Outcome<R>> current_;
  };

  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() { return {}; }

  // The next result (nullopt once every result was handed out); rethrows a failed item's
  // error (that item is consumed: the next call goes on after it). Blocks until a result
  // is there.
  std::optional<R> next() { return value_of(next_outcome(std::nullopt)); }
  // As next(), but throws Timeout when no result is ready within `timeout` (Python's
  // next(timeout) raises TimeoutError); nothing is lost: a later call returns it. (Sending
  // more inputs may block past the timeout while the task rings are full.)
  template <class Rep, class Period>
  std::optional<R> next(std::chrono::duration<Rep, Period> timeout) {
    return value_of(next_outcome(detail::Clock::now() +
                                 std::chrono::duration_cast<detail::Clock::duration>(timeout)));
  }

 private:
  static std::optional<R> value_of(std::optional<Outcome<R>>&& out) {
    if (!out) return std::nullopt;
    return std::move(*out).value();
  }

  // The next outcome, or nullopt at the end. Throws Timeout when `deadline` passes first.
  std::optional<Outcome<R>> next_outcome(std::optional<detail::Clock::time_point> deadline) {
    for (;;) {
      if (auto out = sink_->take()) {
        if (++taken_ - window_taken_ >= kPackWindow + window_in_flight_) adapt_pack();
        return out;
      }
      if (!input_done_ && it_ != std::ranges::end(inputs_) &&
          sent_ - taken_ < max_in_flight_ * pack_) {
        send_some();
        continue;
      }
      if (sent_ == taken_) {
        // The input itself failed: its error comes at its position, then the range ends
        // (Python's imap raises it there).
        if (input_error_) return Outcome<R>(std::exchange(input_error_, nullptr));
        return std::nullopt;
      }
      if (!pool_->core().wait_until(&detail::ImapSink<R>::has_next, sink_.get(), deadline)) {
        throw Timeout(
            "ringpool: imap next(timeout): no result within the timeout; the iterator stays "
            "usable (call next again)");
      }
    }
  }

  // Packing (PoolOptions::imap_pack_budget). A window ends once kPackWindow results more
  // than were in flight at its start have been taken: at least kPackWindow of them were
  // finished within the window (the others may have waited, finished, before it began).
  // Workers * window / those gives an upper bound of the mean time an item takes (no
  // worker finishes items faster than one per item's time; the caller's own time between
  // results only adds to it). A message then carries as many times chunksize items as fit
  // the budget, at most kMaxPack.
  static constexpr std::size_t kPackWindow = 256;
  static constexpr std::size_t kMaxPack = 16;
  void adapt_pack() {
    const auto now = detail::Clock::now();
    if (pack_budget_.count() > 0 && window_start_ != detail::Clock::time_point{}) {
      const auto window_ns =
          std::chrono::duration_cast<std::chrono::nanoseconds>(now - window_start_).count();
      const double finished = static_cast<double>(taken_ - window_taken_ - window_in_flight_);
      const double item_ns =
          static_cast<double>(window_ns) * static_cast<double>(pool_->workers()) / finished;
      const double fits = static_cast<double>(pack_budget_.count()) /
                          (std::max(item_ns, 1.0) * static_cast<double>(chunk_));
      pack_ = static_cast<std::size_t>(std::clamp(fits, 1.0, static_cast<double>(kMaxPack)));
    }
    window_start_ = now;
    window_taken_ = taken_;
    window_in_flight_ = sent_ - taken_;
  }

  void send_some() {
    // A message of several items fits a slot; one larger item goes alone, by reference.
    const std::size_t limit = pool_->core().max_payload();
    const std::size_t most = pool_->core().payload_limit();
    const PayloadTooLarge::OverLimit over{"PoolOptions::max_payload"};
    std::vector<std::byte>& buf = buffer_;
    buf.clear();
    if constexpr (Task::kStateful) {
      // The task's state goes ahead of the items of every message.
      const std::size_t state = Task::state_bytes(fn_);
      if (state > most) throw PayloadTooLarge(state, most, "task's state", over);
      buf.resize(state);
      Task::write_state(buf.data(), fn_);
    }
    const std::size_t base = buf.size();
    std::size_t count = 0;
    try {
      while (!input_done_ && it_ != std::ranges::end(inputs_) && count < chunk_ * pack_) {
        const auto& item = *it_;
        const auto& args = detail::to_args<Args, Star>(item);
        const std::size_t b = Items::bytes(args);
        if (b > most - base) {
          if (count > 0) break;  // send what we have; the oversize item throws next time
          ++it_;
          throw PayloadTooLarge(b, most - base, "arguments of one imap item", over);
        }
        if (count > 0 && buf.size() + b > limit) break;
        const std::size_t at = buf.size();
        buf.resize(at + b);
        Items::write(buf.data() + at, args);
        ++count;
        ++it_;
      }
    } catch (const PayloadTooLarge&) {
      throw;
    } catch (...) {
      // Reading the input threw: results before it still come, then its error.
      input_error_ = std::current_exception();
      input_done_ = true;
      if (count == 0) return;
    }
    for (std::size_t k = 0; k < count; ++k) sink_->expect(sent_ + k);
    detail::SendRequest req;
    req.invoker = Task::kInvoker;
    req.fn = Task::fn_word(fn_);
    req.count = static_cast<std::uint32_t>(count);
    req.item_size = Items::item_size();
    req.payload_bytes = buf.size();
    req.encode = [](const void* ctx, std::byte* out) {
      const auto& b = *static_cast<const std::vector<std::byte>*>(ctx);
      if (!b.empty()) std::memcpy(out, b.data(), b.size());
    };
    req.context = &buf;
    req.sink = sink_.get();
    req.base_index = sent_;
    req.route = parallel_ ? static_cast<int>(messages_ % pool_->workers()) : detail::kRouteShared;
    req.continues_batch = true;
    pool_->core().send(req);
    sent_ += count;
    ++messages_;
  }

  Pool* pool_;
  Fn fn_;
  View inputs_;
  std::ranges::iterator_t<View> it_;
  std::size_t chunk_;
  std::unique_ptr<detail::ImapSink<R>> sink_;
  bool parallel_ = false;
  std::size_t max_in_flight_ = 0;
  std::size_t sent_ = 0;
  std::size_t taken_ = 0;
  std::size_t messages_ = 0;
  std::size_t pack_ = 1;  // chunksizes per message (adapt_pack)
  std::chrono::nanoseconds pack_budget_{};
  detail::Clock::time_point window_start_{};  // of the current window (adapt_pack)
  std::size_t window_taken_ = 0;              // taken_ at its start
  std::size_t window_in_flight_ = 0;          // sent_ - taken_ at its start
  std::vector<std::byte> buffer_;
  bool input_done_ = false;         // the input threw: send nothing more
  std::exception_ptr input_error_;  // handed out after every result sent before it
};

}  // namespace ringpool::pool
