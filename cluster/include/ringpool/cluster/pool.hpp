#pragma once
// cluster::Pool: pool::Pool's surface over several MPI ranks, one local pool::Pool per rank.
//
//   int square(int x) { return x * x; }
//   RINGPOOL_TASK(square);                               // tasks travel by registry name
//   int main(int argc, char** argv) {
//     ringpool::cluster::init(argc, argv);                // first line, in every rank
//     ringpool::cluster::Pool pool;                       // every rank, rank 0 included
//     auto f = pool.submit(square, 7);                    // Future<int>, as pool::Pool's
//     std::vector<int> v = pool.map(square, inputs, 1000);
//     for (int x : pool.imap_unordered(square, inputs)) ...
//   }
//
// Tasks: functions registered with RINGPOOL_TASK, function objects registered with
// RINGPOOL_FUNCTOR (their state travels with each chunk). Anything else is refused at
// submit/map with InvalidArgument: ranks are separate programs started by mpirun, where a
// function's address means nothing. Arguments and results travel through the same
// Codec<T> as on one node, a task's exception comes back as on one node.
//
// Work distribution: rank 0 cuts a batch into chunks (chunksize items each, as
// pool::Pool) and hands each chunk to the rank expected to finish it first, by the items
// it holds and the pace measured on the chunks it finished: every rank holds at most a
// bounded number of chunks (PoolOptions::items_in_flight), and a finished chunk's results
// are what frees room for the next one (a work request). A chunk whose best rank is full
// waits for it rather than become a slower rank's tail (docs/cluster.md). Each rank feeds
// its chunks to its own local pool, pinned by that rank's topology plan. Results stream
// back as chunks finish. Rank 0 also runs chunks in a local pool (PoolOptions::local).
//
// Futures: Future::cancel() is true for a task no rank has yet (still gathered on rank 0
// for a remote rank, or queued in rank 0's own pool before a worker starts it): it never
// runs. Once sent to a remote rank it cannot be taken back: running() is true from then on
// (rank 0 does not learn when a remote worker starts it).
//
// Failure: a rank that dies or falls silent for PoolOptions::rank_timeout while it holds
// chunks fails their items with RankLost; the pool goes on with the other ranks. (Whether
// the job survives a dead rank at all is mpirun's choice: see docs/cluster.md.)
//
// Thread safety: as pool::Pool (any member from several threads, except that the
// destructor, join() and terminate() must not race with other calls). Rank 0 only.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "ringpool/cluster/cluster.hpp"
#include "ringpool/cluster/detail/cluster_core.hpp"
#include "ringpool/cluster/errors.hpp"
#include "ringpool/pool/codec.hpp"
#include "ringpool/pool/detail/result_sinks.hpp"
#include "ringpool/pool/detail/task_traits.hpp"
#include "ringpool/pool/future.hpp"
#include "ringpool/pool/outcome.hpp"
#include "ringpool/pool/pool.hpp"
#include "ringpool/topology/placement.hpp"

namespace ringpool::cluster {

using pool::Future;
using pool::Outcome;

struct PoolOptions {
  // Ranks taking part, counted from rank 0 (rank 0 counts even when it only coordinates);
  // nullopt = every rank of MPI_COMM_WORLD. More than the world has: InvalidArgument.
  std::optional<std::size_t> ranks;
  // Rank 0 runs chunks in a local pool of its own too (false: it only hands out work and
  // collects results, and needs at least one other rank).
  bool local = true;
  // Workers of each rank's local pool; nullopt = that rank's usable cores (affinity,
  // cpuset and quota aware: a rank bound by mpirun to one core gets one worker).
  std::optional<std::size_t> workers_per_rank;
  // How local workers and every rank's serving loop wait (pool::WaitMode). block: poll,
  // then sleep with a growing back-off (right when ranks share cores); spin: never sleep.
  pool::WaitMode wait = pool::WaitMode::block;
  // Bound on the work a remote rank holds: at most max(2 * its workers, ceil(items_in_flight
  // / chunksize)) chunks, never more than its local rings hold (rank 0's own pool takes up to
  // its ring capacity). Smaller: a batch's end waits less for a slow rank; larger: fewer
  // round trips for small chunks.
  std::size_t items_in_flight = 4096;
  // A rank that sends nothing (results or its heartbeat, every rank_timeout / 4) for this
  // long while it holds chunks is taken as lost: its items fail with RankLost.
  std::chrono::milliseconds rank_timeout{2000};
  // Local pools' largest task or result message, and ring depth (pool::PoolOptions).
  std::size_t slot_size = 16384;
  std::size_t ring_depth = 64;
};

// One taking-part rank in a plan.
struct RankPlan {
  int rank = 0;
  std::size_t workers = 0;  // its local pool's workers (0: rank 0 coordinating only)
  std::string host;
};

// The decision for the most recent batch, made on the cores of every taking-part rank.
struct LastPlan {
  topology::Mode mode = topology::Mode::parallel;
  std::size_t tasks = 0;  // 0 for an input of unknown length
  std::size_t ranks = 0;  // ranks taking part (rank 0 included)
  std::size_t cores = 0;  // workers of all taking-part ranks together
  std::vector<RankPlan> per_rank;
  std::string reason;  // one sentence: the numbers behind the mode
};

struct PoolStats {
  std::vector<std::uint64_t> items_per_rank;  // items settled by each rank (index = rank)
  std::uint64_t chunks_sent = 0;              // chunks handed to any rank, rank 0 included
  std::uint64_t ranks_lost = 0;
  std::uint64_t failed_lost = 0;  // items failed with RankLost
};

template <class R, class Task, class View>
class Imap;

class Pool {
 public:
  // Opens a local pool on each taking-part rank. Throws ClusterError before init() or when
  // no rank could take work, InvalidArgument for bad options.
  explicit Pool(PoolOptions options = {});
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // ---- single tasks (as pool::Pool) ------------------------------------------------
  template <class F, class... A>
  auto submit(F fn, A&&... args) {
    static_assert(pool::detail::check_task<F, pool::detail::SubmitHint<A...>>());
    using Task = pool::detail::TaskOf<F, pool::detail::SubmitHint<A...>>;
    using R = typename Task::Result;
    using Args = typename Task::Args;
    using Items = pool::detail::ItemCodec<Args>;
    static_assert(std::tuple_size_v<Args> == sizeof...(A),
                  "ringpool: submit() got a different number of arguments than the function "
                  "takes (a member function takes the object first)");
    const Args packed(std::forward<A>(args)...);
    const auto& callable = Task::prepare(fn);
    std::vector<std::byte> payload;
    std::size_t state = 0;
    if constexpr (Task::kStateful) state = Task::state_bytes(callable);
    payload.resize(state + Items::bytes(packed));
    if constexpr (Task::kStateful) Task::write_state(payload.data(), callable);
    Items::write(payload.data() + state, packed);
    detail::ChunkRequest req = request_for<Task>(callable);
    req.count = 1;
    req.payload = payload;
    auto* st = pool::detail::State<R>::make(core_->link());
    Future<R> future = Future<R>::adopt(st);
    st->add_ref();  // the chunk's reference
    req.sink = st;
    req.owned_state = st;
    try {
      core_->send(req);
    } catch (...) {
      st->release_ref();  // never sent
      throw;
    }
    core_->note_single_submit();
    return future;
  }
  template <class F, class... A>
  auto apply(F fn, A&&... args) {
    return submit(fn, std::forward<A>(args)...).get();
  }

  // ---- batches (as pool::Pool; chunksize default ceil(n / (4 * all workers))) -------
  template <class F, std::ranges::input_range Range>
  auto map(F fn, const Range& inputs, std::optional<std::size_t> chunksize = std::nullopt) {
    return map_impl<false>(fn, inputs, chunksize);
  }
  template <class F, std::ranges::input_range Range>
  auto starmap(F fn, const Range& inputs, std::optional<std::size_t> chunksize = std::nullopt) {
    return map_impl<true>(fn, inputs, chunksize);
  }
  // Lazy, in input order / as completed; at most about chunks_in_flight() chunks out.
  template <class F, std::ranges::viewable_range Range>
  auto imap(F fn, Range&& inputs, std::size_t chunksize = 1) {
    return imap_impl(fn, std::forward<Range>(inputs), chunksize, true);
  }
  template <class F, std::ranges::viewable_range Range>
  auto imap_unordered(F fn, Range&& inputs, std::size_t chunksize = 1) {
    return imap_impl(fn, std::forward<Range>(inputs), chunksize, false);
  }

  // ---- lifetime (as pool::Pool) ----------------------------------------------------
  void close();
  void join();
  void terminate();

  // ---- introspection ---------------------------------------------------------------
  [[nodiscard]] LastPlan last_plan() const;
  [[nodiscard]] PoolStats stats() const;
  // Workers of every taking-part rank together.
  [[nodiscard]] std::size_t workers() const noexcept { return core_->workers(); }

 private:
  template <class, class, class>
  friend class Imap;

  template <class Task>
  static detail::ChunkRequest request_for(const typename Task::Fn& f) {
    detail::ChunkRequest req;
    req.fn = Task::fn_word(f);
    req.key = detail::registered_key(req.fn);
    req.invoker = Task::kInvoker;
    req.item_size = pool::detail::ItemCodec<typename Task::Args>::item_size();
    return req;
  }

  template <class F, class Range>
  auto imap_impl(F fn, Range&& inputs, std::size_t chunksize, bool ordered) {
    using Hint = pool::detail::MapHint<std::views::all_t<Range>, false>;
    static_assert(pool::detail::check_task<F, Hint>());
    using Task = pool::detail::TaskOf<F, Hint>;
    using R = typename Task::Result;
    return Imap<R, Task, std::views::all_t<Range>>(
        *this, Task::prepare(fn), std::views::all(std::forward<Range>(inputs)), chunksize, ordered);
  }

  template <bool Star, class F, class Range>
  auto map_impl(F fn, const Range& inputs, std::optional<std::size_t> chunksize) {
    static_assert(pool::detail::check_task<F, pool::detail::MapHint<const Range&, Star>>());
    using Task = pool::detail::TaskOf<F, pool::detail::MapHint<const Range&, Star>>;
    using R = typename Task::Result;
    static_assert(!std::is_void_v<R>, "ringpool: map needs a function that returns a value");
    pool::detail::MapSink<R> sink(static_cast<std::size_t>(std::ranges::distance(inputs)));
    run_batch<Star, Task>(Task::prepare(fn), inputs, chunksize, sink);
    if (!sink.errors().empty()) {
      auto first = std::min_element(sink.errors().begin(), sink.errors().end(),
                                    [](const auto& a, const auto& b) { return a.first < b.first; });
      std::rethrow_exception(first->second);
    }
    if constexpr (std::is_default_constructible_v<R>) {
      return std::move(sink.values());
    } else {
      std::vector<R> out;
      out.reserve(sink.values().size());
      for (auto& v : sink.values()) out.push_back(std::move(*v));
      return out;
    }
  }

  // Cuts the inputs into chunks of up to chunksize items that fit one message, hands each
  // to the core, then waits for every result.
  template <bool Star, class Task, class Range, class R>
  void run_batch(const typename Task::Fn& f, const Range& inputs,
                 std::optional<std::size_t> chunksize, pool::detail::MapSink<R>& sink) {
    using Args = typename Task::Args;
    using Items = pool::detail::ItemCodec<Args>;
    const std::size_t n = sink.values().size();
    if (n == 0) return;
    const std::size_t workers = core_->workers();
    const bool parallel = core_->plan_batch(n);
    const std::size_t chunk =
        chunksize.value_or(parallel ? 1 : (n + 4 * workers - 1) / (4 * workers));
    if (chunk == 0) throw pool::InvalidArgument("ringpool: chunksize must be at least 1");
    detail::ChunkRequest req = request_for<Task>(f);
    std::size_t state = 0;
    if constexpr (Task::kStateful) state = Task::state_bytes(f);
    if (state > core_->max_payload()) {
      throw pool::PayloadTooLarge(state, core_->max_payload(), "task's state");
    }
    const std::size_t limit = core_->max_payload() - state;
    if constexpr (Items::kPacked) {
      if (Items::item_size() > limit) {
        throw pool::PayloadTooLarge(Items::item_size(), limit, "arguments");
      }
    } else {
      for (const auto& item : inputs) {
        const std::size_t b = Items::bytes(pool::detail::to_args<Args, Star>(item));
        if (b > limit) throw pool::PayloadTooLarge(b, limit, "arguments of one map item");
      }
    }
    std::vector<std::byte> buf;
    auto it = std::ranges::begin(inputs);
    std::size_t index = 0;
    try {
      while (index < n) {
        buf.resize(state);
        if constexpr (Task::kStateful) Task::write_state(buf.data(), f);
        std::uint32_t count = 0;
        if constexpr (Items::kPacked) {
          // Fixed-size items: one resize, then each item at its place.
          const std::size_t size = Items::item_size();
          count = static_cast<std::uint32_t>(std::min({chunk, n - index, limit / size}));
          buf.resize(state + count * size);
          std::byte* out = buf.data() + state;
          for (std::uint32_t k = 0; k < count; ++k, ++it, out += size) {
            Items::write(out, pool::detail::to_args<Args, Star>(*it));
          }
        } else {
          while (index + count < n && count < chunk) {
            const auto& args = pool::detail::to_args<Args, Star>(*it);
            const std::size_t b = Items::bytes(args);
            if (buf.size() - state + b > limit) break;
            const std::size_t at = buf.size();
            buf.resize(at + b);
            Items::write(buf.data() + at, args);
            ++count;
            ++it;
          }
        }
        req.count = count;
        req.payload = buf;
        req.sink = &sink;
        req.base_index = index;
        core_->send(req);
        index += count;
      }
    } catch (...) {
      // Items already handed out still settle into `sink`: wait for them first.
      sink.finish_sending(index);
      core_->wait_until(&pool::detail::MapSink<R>::complete, &sink, std::nullopt);
      throw;
    }
    sink.finish_sending(index);
    core_->wait_until(&pool::detail::MapSink<R>::complete, &sink, std::nullopt);
  }

  std::unique_ptr<detail::ClusterCore> core_;
};

// The range imap()/imap_unordered() return. Move-only; iterate it once. Its destructor
// waits for the chunks already out (they write into it).
template <class R, class Task, class View>
class Imap {
  using Fn = typename Task::Fn;
  using Args = typename Task::Args;
  using Items = pool::detail::ItemCodec<Args>;

 public:
  Imap(Pool& owner, Fn fn, View inputs, std::size_t chunksize, bool ordered)
      : pool_(&owner),
        fn_(fn),
        inputs_(std::move(inputs)),
        it_(std::ranges::begin(inputs_)),
        chunk_(chunksize),
        sink_(std::make_unique<pool::detail::ImapSink<R>>(ordered)),
        request_(Pool::request_for<Task>(fn_)) {
    if (chunk_ == 0) throw pool::InvalidArgument("ringpool: chunksize must be at least 1");
    if (core().closed()) {
      throw pool::Closed("ringpool: the cluster pool is closed; begin imap before close()");
    }
    if constexpr (std::ranges::sized_range<View>) {
      (void)core().plan_batch(static_cast<std::size_t>(std::ranges::size(inputs_)));
    } else {
      (void)core().plan_batch(0);
    }
    max_in_flight_ = std::max<std::size_t>(core().chunks_in_flight(), 2) * chunk_;
  }
  Imap(Imap&&) noexcept = default;
  Imap& operator=(Imap&&) = delete;
  Imap(const Imap&) = delete;
  ~Imap() {
    if (sink_ && sent_ > taken_) {
      while (sent_ > taken_) {
        core().wait_until(&pool::detail::ImapSink<R>::has_next, sink_.get(), std::nullopt);
        while (sink_->take()) ++taken_;
      }
    }
  }

  class iterator {
   public:
    using value_type = R;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(Imap* parent) : parent_(parent) { current_ = parent_->next(); }
    // The item's result; throws its error (a task's exception, RankLost, ...).
    const R& operator*() const { return current_->value(); }
    iterator& operator++() {
      current_ = parent_->next();
      return *this;
    }
    void operator++(int) { ++*this; }
    const Outcome<R>& outcome() const { return *current_; }
    friend bool operator==(const iterator& a, std::default_sentinel_t) { return !a.current_; }

   private:
    Imap* parent_ = nullptr;
    std::optional<Outcome<R>> current_;
  };

  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() { return {}; }

 private:
  detail::ClusterCore& core() const { return *pool_->core_; }

  std::optional<Outcome<R>> next() {
    for (;;) {
      if (auto out = sink_->take()) {
        ++taken_;
        return out;
      }
      if (!input_done_ && it_ != std::ranges::end(inputs_) && sent_ - taken_ < max_in_flight_) {
        send_some();
        continue;
      }
      if (sent_ == taken_) {
        if (input_error_) return Outcome<R>(std::exchange(input_error_, nullptr));
        return std::nullopt;
      }
      core().wait_until(&pool::detail::ImapSink<R>::has_next, sink_.get(), std::nullopt);
    }
  }

  void send_some() {
    const std::size_t limit = core().max_payload();
    buffer_.clear();
    if constexpr (Task::kStateful) {
      const std::size_t state = Task::state_bytes(fn_);
      if (state > limit) throw pool::PayloadTooLarge(state, limit, "task's state");
      buffer_.resize(state);
      Task::write_state(buffer_.data(), fn_);
    }
    const std::size_t base = buffer_.size();
    std::uint32_t count = 0;
    try {
      while (!input_done_ && it_ != std::ranges::end(inputs_) && count < chunk_) {
        const auto& item = *it_;
        const auto& args = pool::detail::to_args<Args, false>(item);
        const std::size_t b = Items::bytes(args);
        if (b > limit - base) {
          if (count > 0) break;  // send what we have; the oversize item throws next time
          ++it_;
          throw pool::PayloadTooLarge(b, limit - base, "arguments of one imap item");
        }
        if (buffer_.size() + b > limit) break;
        const std::size_t at = buffer_.size();
        buffer_.resize(at + b);
        Items::write(buffer_.data() + at, args);
        ++count;
        ++it_;
      }
    } catch (const pool::PayloadTooLarge&) {
      throw;
    } catch (...) {
      input_error_ = std::current_exception();
      input_done_ = true;
      if (count == 0) return;
    }
    for (std::uint32_t k = 0; k < count; ++k) sink_->expect(sent_ + k);
    detail::ChunkRequest req = request_;
    req.count = count;
    req.payload = buffer_;
    req.sink = sink_.get();
    req.base_index = sent_;
    req.continues_batch = true;
    core().send(req);
    sent_ += count;
  }

  Pool* pool_;
  Fn fn_;
  View inputs_;
  std::ranges::iterator_t<View> it_;
  std::size_t chunk_;
  std::unique_ptr<pool::detail::ImapSink<R>> sink_;
  detail::ChunkRequest request_;
  std::size_t max_in_flight_ = 0;
  std::size_t sent_ = 0;
  std::size_t taken_ = 0;
  std::vector<std::byte> buffer_;
  bool input_done_ = false;
  std::exception_ptr input_error_;
};

}  // namespace ringpool::cluster
