#pragma once
// Pool: Python's multiprocessing.Pool / ProcessPoolExecutor over shared-memory rings,
// with worker processes pinned to the cores the topology plan picks.
//
//   int square(int x) { return x * x; }
//   ringpool::pool::Pool pool;                        // one worker per usable core
//   auto f = pool.submit(square, 7);                  // apply_async
//   int r = pool.apply(square, 8);                    // apply (blocking)
//   std::vector<int> v = pool.map(square, inputs);    // chunksize as Python's map
//   for (int x : pool.imap(square, inputs)) ...       // lazy, in input order
//   for (int x : pool.imap_unordered(square, inputs)) // lazy, as completed
//   pool.close(); pool.join();                        // or let the destructor do it
//
// Tasks are plain functions or captureless lambdas (function pointers: with the fork
// start method they are valid in the workers; with spawn, tasks are registered with
// RINGPOOL_TASK and found by name in the re-executed workers). Arguments and results
// travel through Codec<T> (trivially copyable types, std::string, vectors, optionals,
// pairs, tuples; see codec.hpp). Per-worker state comes from PoolOptions::initializer or
// initialize_with(fn, args...), as Python's initializer and initargs.
//
// Parallel or concurrent: a batch of no more tasks than workers goes one task per pinned
// worker through that worker's own SPSC ring (parallel); a larger batch goes through one
// shared MPMC ring all workers pull from (concurrent). last_plan() tells which and why.
//
// Failure model: a worker that dies (SIGKILL, crash, exit) at any instant fails the task
// it held with WorkerLost, or reruns it when PoolOptions::retries allows; it is respawned
// on the same CPUs and the pool goes on. If the parent dies, workers die with it.
//
// Thread safety: every member may be called from several threads at once, except that
// the destructor, join() and terminate() must not race with other calls.
#include <sys/types.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "ringpool/pool/codec.hpp"
#include "ringpool/pool/detail/pool_core.hpp"
#include "ringpool/pool/detail/task_wire.hpp"
#include "ringpool/pool/errors.hpp"
#include "ringpool/pool/future.hpp"
#include "ringpool/pool/process.hpp"
#include "ringpool/pool/spawn.hpp"
#include "ringpool/topology/placement.hpp"

namespace ringpool::pool {

// How idle workers and waiting callers wait.
//  - spin:  busy-poll with PAUSE: lowest latency, every worker keeps its core at 100%.
//  - block: poll briefly, then sleep on a futex: cores go idle; each wake-up costs a
//           syscall and a scheduler hop.
enum class WaitMode { spin, block };

struct PoolOptions {
  // Worker processes; nullopt = topology::usable_cores() (affinity, cpuset and CPU quota
  // aware). 0 is refused with InvalidArgument.
  std::optional<std::size_t> workers;
  // Where workers are pinned; nullopt = the file named by RINGPOOL_PLACEMENT if set,
  // else topology::Policy::cores.
  std::optional<topology::Placement> placement;
  // Pin workers to their CPUs (false: leave them wherever the scheduler puts them).
  bool pin = true;
  WaitMode wait = WaitMode::block;
  // Runs once in every worker process before its first task (also in respawned ones).
  // Fork start method only: any callable works, it is copied into the worker with the
  // process. For arguments that must also reach spawn-started workers, use
  // initialize_with().
  std::function<void()> initializer;

  // Python's initializer + initargs: fn(args...) runs once in every worker before its
  // first task (also in respawned ones). The arguments are encoded now (Codec), so the
  // same options work with both start methods; with spawn, fn must be registered
  // (RINGPOOL_TASK). Do not combine with `initializer` (the Pool refuses both).
  template <class R, class... P, class... A>
  requires(std::is_constructible_v<ringpool::detail::TaskArgs<P...>, A&&...> &&
           (Encodable<std::remove_cvref_t<P>> && ...)) PoolOptions& initialize_with(R (*fn)(P...),
                                                                                    A&&... args) {
    initializer_call =
        InitializerCall{reinterpret_cast<void (*)()>(fn), &ringpool::detail::task_thunk<R, P...>,
                        to_bytes(ringpool::detail::TaskArgs<P...>(std::forward<A>(args)...))};
    return *this;
  }
  // What initialize_with() stored: the function, its thunk and the encoded arguments.
  struct InitializerCall {
    void (*fn)() = nullptr;
    ringpool::detail::TaskThunk thunk = nullptr;
    std::vector<std::byte> args;
  };
  std::optional<InitializerCall> initializer_call;

  // A worker exits after this many task messages and is replaced (0 = never), as
  // Python's maxtasksperchild.
  std::size_t max_tasks_per_child = 0;
  // How workers start. fork: workers are copies of this process; any plain function or
  // captureless lambda can be a task. spawn: workers re-execute this program
  // (/proc/self/exe), so main() must begin with ringpool::serve_if_worker(argc, argv);
  // they start from a clean state (no inherited locks, threads or globals) and run only
  // functions registered with RINGPOOL_TASK (anything else is refused at submit with
  // InvalidArgument). The rings reach them through an inherited memfd.
  StartMethod start_method = StartMethod::fork;
  // How many times a task whose worker died is run again before its future fails with
  // WorkerLost (0 = never rerun: the task may have had side effects).
  std::uint32_t retries = 0;
  // Largest task or result message in bytes (arguments of one call or of one chunk of
  // map items; one result). A larger argument throws PayloadTooLarge at submit.
  std::size_t slot_size = 16384;
  // Messages per worker ring (task and result rings); the shared ring holds
  // ring_depth * workers. Rounded up to a power of two.
  std::size_t ring_depth = 64;
};

// Which ring a batch went through.
enum class Path { parallel_spsc, concurrent_mpmc };
[[nodiscard]] constexpr const char* to_string(Path p) noexcept {
  return p == Path::parallel_spsc ? "parallel (one pinned worker per task, per-worker SPSC rings)"
                                  : "concurrent (tasks multiplexed over the workers, shared "
                                    "MPMC ring)";
}

// The decision for the most recent batch (map/imap/starmap call, or a single submit).
struct LastPlan {
  topology::Plan plan;  // what topology::plan() said for the batch's task count
  Path path = Path::parallel_spsc;
  std::size_t tasks = 0;  // the batch's task count; 0 for an input of unknown length
  std::string reason;     // one sentence: the numbers behind the path
};

struct PoolStats {
  std::uint64_t tasks_sent = 0;    // task messages sent
  std::uint64_t workers_lost = 0;  // worker deaths noticed (signal or unexpected exit)
  std::uint64_t respawns = 0;      // workers started after the initial ones
  std::uint64_t retried = 0;       // task messages rerun after a death
  std::uint64_t failed_lost = 0;   // items failed with WorkerLost
};

// A task's result or its error, for map_outcomes() (per-item results, no throw).
template <class R>
class Outcome {
 public:
  Outcome() = default;
  explicit Outcome(R value) : value_(std::move(value)) {}
  explicit Outcome(std::exception_ptr error) : error_(std::move(error)) {}

  [[nodiscard]] bool ok() const noexcept { return !error_; }
  // The value, or rethrows the item's error.
  [[nodiscard]] const R& value() const& {
    if (error_) std::rethrow_exception(error_);
    return *value_;
  }
  [[nodiscard]] R&& value() && {
    if (error_) std::rethrow_exception(error_);
    return std::move(*value_);
  }
  [[nodiscard]] const std::exception_ptr& error() const noexcept { return error_; }

 private:
  std::optional<R> value_;
  std::exception_ptr error_;
};

namespace detail {

template <class F>
concept FunctionPointer = std::is_pointer_v<F> && std::is_function_v<std::remove_pointer_t<F>>;

// Captureless lambdas and function pointers to a function pointer.
template <class F>
auto as_function_pointer(F f) {
  if constexpr (FunctionPointer<F>) {
    return f;
  } else {
    static_assert(std::is_convertible_v<F, decltype(+f)>,
                  "ringpool: a task must be a plain function or a captureless lambda (it must "
                  "convert to a function pointer so the worker can call it)");
    return +f;
  }
}

template <class T>
struct FnTraits;
template <class R, class... P>
struct FnTraits<R (*)(P...)> {
  using Result = R;
  using Args = std::tuple<std::decay_t<P>...>;
  static constexpr Invoker kInvoker = &invoke_items<R, P...>;
};
template <class R, class... P>
struct FnTraits<R (*)(P...) noexcept> {
  using Result = R;
  using Args = std::tuple<std::decay_t<P>...>;
  static constexpr Invoker kInvoker = &invoke_items<R, P...>;
};

// Converts one input of map() (a single argument) or starmap() (a tuple) to the
// function's argument tuple, without copying when the types already match.
template <class Args, bool Star, class T>
decltype(auto) to_args(const T& item) {
  if constexpr (Star) {
    if constexpr (std::is_same_v<std::remove_cvref_t<T>, Args>) {
      return (item);
    } else {
      return std::make_from_tuple<Args>(item);
    }
  } else {
    static_assert(std::tuple_size_v<Args> == 1,
                  "ringpool: map/imap call a one-parameter function; use starmap for several");
    if constexpr (std::is_same_v<std::remove_cvref_t<T>, std::tuple_element_t<0, Args>>) {
      return std::tuple<const T&>(item);
    } else {
      return Args(item);
    }
  }
}

template <class Args>
struct ItemCodec;
template <class... P>
struct ItemCodec<std::tuple<P...>> {
  static constexpr bool kPacked = ArgsCodec<P...>::kPacked;
  static constexpr std::uint32_t item_size() {
    return kPacked ? static_cast<std::uint32_t>(ArgsCodec<P...>::kPackedSize) : kVariableItems;
  }
  template <class Tuple>
  static std::size_t bytes(const Tuple& t) {
    return std::apply([](const auto&... a) { return item_bytes<P...>(a...); }, t);
  }
  template <class Tuple>
  static void write(std::byte* out, const Tuple& t) {
    std::apply([out](const auto&... a) { write_item<P...>(out, a...); }, t);
  }
};

// Results of a map(): one slot per input, written by the collector.
template <class R>
class MapSink final : public ResultSink {
 public:
  using Slot = std::conditional_t<std::is_default_constructible_v<R>, R, std::optional<R>>;

  explicit MapSink(std::size_t n) : values_(n) {}

  void deliver(std::uint64_t index, std::span<const std::byte> value) override {
    values_[index] = Codec<R>::decode(value);
    settle_one();
  }
  void fail(std::uint64_t index, std::exception_ptr error) noexcept override {
    try {
      errors_.emplace_back(index, std::move(error));
    } catch (...) {
    }
    settle_one();
  }
  // All expected items settled (read without the pool lock).
  static bool complete(const void* self) noexcept {
    // acquire: pairs with the release store in mark_complete(); the values are visible.
    return static_cast<const MapSink*>(self)->complete_.load(std::memory_order_acquire);
  }
  // Every item the batch will send has been sent (`sent` of them). Runs without the pool's
  // lock, while the collector may settle items under it.
  void finish_sending(std::size_t sent) noexcept {
    // seq_cst (this store and the load below): the Dekker pair with settle_one(), which
    // increments settled_ and then loads expected_: at least one of the two sees the
    // other's write, so the last settlement is never missed.
    expected_.store(sent, std::memory_order_seq_cst);
    if (settled_.load(std::memory_order_seq_cst) == sent) mark_complete();
  }

  std::vector<Slot>& values() noexcept { return values_; }
  std::vector<std::pair<std::uint64_t, std::exception_ptr>>& errors() noexcept { return errors_; }

 private:
  void settle_one() noexcept {
    // seq_cst (both): see finish_sending().
    const std::size_t settled = settled_.fetch_add(1, std::memory_order_seq_cst) + 1;
    if (settled == expected_.load(std::memory_order_seq_cst)) mark_complete();
  }
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

// Results of an imap()/imap_unordered(): a bounded window, handed out one at a time.
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
  // Reserves a place for item `index` (called in send order).
  void expect(std::uint64_t index) {
    std::lock_guard lock(mu_);
    if (ordered_) window_.emplace_back();
    (void)index;
  }
  // The next outcome in delivery order (ordered: input order), if it is there.
  std::optional<Outcome<R>> take() {
    std::lock_guard lock(mu_);
    if (ordered_) {
      if (window_.empty() || !window_.front()) return std::nullopt;
      std::optional<Outcome<R>> out = std::move(window_.front());
      window_.pop_front();
      ++window_base_;
      return out;
    }
    if (done_.empty()) return std::nullopt;
    std::optional<Outcome<R>> out = std::move(done_.front());
    done_.pop_front();
    return out;
  }
  static bool has_next(const void* self) noexcept {
    auto* s = static_cast<ImapSink*>(const_cast<void*>(self));
    std::lock_guard lock(s->mu_);
    return s->ordered_ ? (!s->window_.empty() && s->window_.front().has_value())
                       : !s->done_.empty();
  }

 private:
  void put(std::uint64_t index, Outcome<R>&& outcome) {
    if (ordered_) {
      const std::uint64_t at = index - window_base_;
      if (at < window_.size()) window_[at] = std::move(outcome);
    } else {
      done_.push_back(std::move(outcome));
    }
  }

  const bool ordered_;
  mutable std::mutex mu_;
  std::deque<std::optional<Outcome<R>>> window_;
  std::uint64_t window_base_ = 0;
  std::deque<Outcome<R>> done_;
};

}  // namespace detail

template <class R, class Fn, class View, bool Star>
class Imap;

class Pool {
 public:
  // Starts the workers. Throws InvalidArgument (workers == 0, slot_size or ring_depth too
  // small), GuardViolation (inside a spawned child that skipped serve_if_worker),
  // topology::TopologyError (a bad RINGPOOL_PLACEMENT file or list policy), PoolError when
  // a worker cannot be started.
  explicit Pool(PoolOptions options = {});
  // Pool(n): n workers, other options default (Python's Pool(processes=n)).
  explicit Pool(std::size_t workers);
  // close() and join(): waits for every submitted task.
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // ---- single tasks ----------------------------------------------------------------
  // apply_async: runs fn(args...) in a worker; the future holds its result or error.
  // Throws (nothing sent): Closed after close(), PayloadTooLarge when the encoded
  // arguments exceed the slot.
  template <class F, class... A>
  auto submit(F fn, A&&... args) {
    auto* f = detail::as_function_pointer(fn);
    using Traits = detail::FnTraits<decltype(f)>;
    using R = typename Traits::Result;
    using Args = typename Traits::Args;
    static_assert(std::tuple_size_v<Args> == sizeof...(A),
                  "ringpool: submit() got a different number of arguments than the function "
                  "takes");
    const Args packed(std::forward<A>(args)...);
    auto* state = detail::State<R>::make();
    state->set_progress(core_.get());
    Future<R> future = Future<R>::adopt(state);
    state->add_ref();  // the record's reference
    detail::SendRequest req;
    req.invoker = Traits::kInvoker;
    req.fn = reinterpret_cast<std::uintptr_t>(f);
    req.count = 1;
    req.item_size = detail::ItemCodec<Args>::item_size();
    req.payload_bytes = detail::ItemCodec<Args>::bytes(packed);
    req.encode = [](const void* ctx, std::byte* out) {
      detail::ItemCodec<Args>::write(out, *static_cast<const Args*>(ctx));
    };
    req.context = &packed;
    req.sink = state;
    req.owned_state = state;
    req.route = detail::kRouteLeastLoaded;
    try {
      core_->send(req);
    } catch (...) {
      state->release_ref();  // never sent: drop the record's reference
      throw;
    }
    core_->note_single_submit();
    return future;
  }

  // apply: submit(fn, args...).get().
  template <class F, class... A>
  auto apply(F fn, A&&... args) {
    return submit(fn, std::forward<A>(args)...).get();
  }

  // ---- batches ---------------------------------------------------------------------
  // map: fn over every input, results in input order. chunksize: inputs per task
  // message (a chunk larger than a slot travels as several messages); default as
  // Python's map, ceil(n / (4 * workers)). Throws the first failed item's error (after
  // every item has finished); map_outcomes() returns every item's outcome instead.
  template <class F, std::ranges::input_range Range>
  auto map(F fn, const Range& inputs, std::optional<std::size_t> chunksize = std::nullopt) {
    return map_impl<false>(fn, inputs, chunksize);
  }
  // starmap: each input is a tuple (or pair) of arguments.
  template <class F, std::ranges::input_range Range>
  auto starmap(F fn, const Range& inputs, std::optional<std::size_t> chunksize = std::nullopt) {
    return map_impl<true>(fn, inputs, chunksize);
  }
  // Every item's result or error, in input order; never throws a task's error.
  template <class F, std::ranges::input_range Range>
  auto map_outcomes(F fn, const Range& inputs,
                    std::optional<std::size_t> chunksize = std::nullopt) {
    return map_outcomes_impl<false>(fn, inputs, chunksize);
  }

  // imap: a lazy range of results in input order. Inputs are read as results are
  // consumed: at most about ring_messages() * chunksize items are in flight, so a huge
  // or unbounded input is never materialised. A failed item throws from operator* at
  // its position; iteration can continue past it. Pass inputs by reference to keep
  // them alive, or by value (an rvalue container is owned by the range).
  template <class F, std::ranges::viewable_range Range>
  auto imap(F fn, Range&& inputs, std::size_t chunksize = 1) {
    auto* f = detail::as_function_pointer(fn);
    using R = typename detail::FnTraits<decltype(f)>::Result;
    return Imap<R, decltype(f), std::views::all_t<Range>, false>(
        *this, f, std::views::all(std::forward<Range>(inputs)), chunksize, true);
  }
  // imap_unordered: as imap, results in completion order.
  template <class F, std::ranges::viewable_range Range>
  auto imap_unordered(F fn, Range&& inputs, std::size_t chunksize = 1) {
    auto* f = detail::as_function_pointer(fn);
    using R = typename detail::FnTraits<decltype(f)>::Result;
    return Imap<R, decltype(f), std::views::all_t<Range>, false>(
        *this, f, std::views::all(std::forward<Range>(inputs)), chunksize, false);
  }

  // ---- lifetime --------------------------------------------------------------------
  // No more submissions (they throw Closed); queued tasks still run.
  void close();
  // Waits for every task, then stops the workers. Throws InvalidState unless close()
  // or terminate() was called first (as Python's Pool.join()).
  void join();
  // Kills the workers now (SIGKILL); unfinished futures fail with Closed.
  void terminate();

  // ---- introspection ---------------------------------------------------------------
  [[nodiscard]] LastPlan last_plan() const;
  [[nodiscard]] std::size_t workers() const noexcept { return core_->workers(); }
  // The pids of the workers alive now, in worker order; a worker that is dead and not yet
  // respawned (or stopped) is left out, so every pid here is > 0 and safe to signal.
  [[nodiscard]] std::vector<pid_t> worker_pids() const { return core_->worker_pids(); }
  // Worker `index`'s pid while it is alive; nullopt while it is dead, being respawned or
  // stopped, and for an index >= workers().
  [[nodiscard]] std::optional<pid_t> worker_pid(std::size_t index) const {
    return core_->worker_pid(index);
  }
  [[nodiscard]] std::vector<topology::CpuSet> worker_cpus() const { return core_->worker_cpus(); }
  [[nodiscard]] PoolStats stats() const;

 private:
  template <class, class, class, bool>
  friend class Imap;
  [[nodiscard]] detail::PoolCore& core() noexcept { return *core_; }

  template <bool Star, class F, class Range>
  auto map_outcomes_impl(F fn, const Range& inputs, std::optional<std::size_t> chunksize) {
    auto* f = detail::as_function_pointer(fn);
    using R = typename detail::FnTraits<decltype(f)>::Result;
    detail::MapSink<R> sink(std::ranges::distance(inputs));
    run_batch<Star>(f, inputs, chunksize, sink);
    std::vector<Outcome<R>> out;
    out.reserve(sink.values().size());
    std::sort(sink.errors().begin(), sink.errors().end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    auto err = sink.errors().begin();
    for (std::size_t i = 0; i < sink.values().size(); ++i) {
      if (err != sink.errors().end() && err->first == i) {
        out.emplace_back(err->second);
        ++err;
      } else {
        out.emplace_back(detail::unwrap_slot<R>(std::move(sink.values()[i])));
      }
    }
    return out;
  }

  template <bool Star, class F, class Range>
  auto map_impl(F fn, const Range& inputs, std::optional<std::size_t> chunksize) {
    auto* f = detail::as_function_pointer(fn);
    using R = typename detail::FnTraits<decltype(f)>::Result;
    static_assert(!std::is_void_v<R>, "ringpool: map needs a function that returns a value");
    detail::MapSink<R> sink(static_cast<std::size_t>(std::ranges::distance(inputs)));
    run_batch<Star>(f, inputs, chunksize, sink);
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

  // Sends every input in messages of up to chunksize items and waits for all results.
  template <bool Star, class Fp, class Range, class R>
  void run_batch(Fp f, const Range& inputs, std::optional<std::size_t> chunksize,
                 detail::MapSink<R>& sink) {
    using Traits = detail::FnTraits<Fp>;
    using Args = typename Traits::Args;
    using Items = detail::ItemCodec<Args>;
    const std::size_t n = sink.values().size();
    if (n == 0) return;
    const std::size_t workers = core_->workers();
    std::size_t chunk = chunksize.value_or((n + 4 * workers - 1) / (4 * workers));
    if (chunk == 0) {
      throw InvalidArgument("ringpool: chunksize must be at least 1");
    }
    const std::size_t limit = core_->max_payload();
    // Every input must fit a message on its own: check before sending anything.
    if constexpr (Items::kPacked) {
      if (Items::item_size() > limit) throw PayloadTooLarge(Items::item_size(), limit, "arguments");
    } else {
      for (const auto& item : inputs) {
        const std::size_t b = Items::bytes(detail::to_args<Args, Star>(item));
        if (b > limit) throw PayloadTooLarge(b, limit, "arguments of one map item");
      }
    }
    const bool parallel = core_->plan_batch(n);
    struct Cursor {
      std::ranges::iterator_t<const Range> it;
      std::size_t count;
    };
    auto first = std::ranges::begin(inputs);
    std::size_t index = 0;
    std::size_t sent = 0;
    std::size_t message = 0;
    try {
      while (index < n) {
        // Take up to `chunk` items that fit one message.
        std::size_t count = 0;
        std::size_t bytes = 0;
        auto it = first;
        while (index + count < n && count < chunk) {
          const std::size_t b = [&] {
            if constexpr (Items::kPacked) {
              return static_cast<std::size_t>(Items::item_size());
            } else {
              return Items::bytes(detail::to_args<Args, Star>(*it));
            }
          }();
          if (bytes + b > limit) break;
          bytes += b;
          ++count;
          ++it;
        }
        Cursor cursor{first, count};
        detail::SendRequest req;
        req.invoker = Traits::kInvoker;
        req.fn = reinterpret_cast<std::uintptr_t>(f);
        req.count = static_cast<std::uint32_t>(count);
        req.item_size = Items::item_size();
        req.payload_bytes = bytes;
        req.encode = [](const void* ctx, std::byte* out) {
          auto c = *static_cast<const Cursor*>(ctx);
          for (std::size_t k = 0; k < c.count; ++k, ++c.it) {
            const auto& args = detail::to_args<Args, Star>(*c.it);
            Items::write(out, args);
            out += Items::bytes(args);
          }
        };
        req.context = &cursor;
        req.sink = &sink;
        req.base_index = index;
        req.route = parallel ? static_cast<int>(message % workers) : detail::kRouteShared;
        core_->send(req);
        first = it;
        index += count;
        sent += count;
        ++message;
      }
    } catch (...) {
      // Items already sent still settle into `sink`: wait for them before unwinding.
      sink.finish_sending(sent);
      core_->wait_until(&detail::MapSink<R>::complete, &sink, std::nullopt);
      throw;
    }
    sink.finish_sending(sent);
    core_->wait_until(&detail::MapSink<R>::complete, &sink, std::nullopt);
  }

  std::unique_ptr<detail::PoolCore> core_;
};

// The range returned by imap()/imap_unordered(). Move-only; iterate it once. Its
// destructor waits for the items already in flight (they write into it).
template <class R, class Fn, class View, bool Star>
class Imap {
  using Traits = detail::FnTraits<Fn>;
  using Args = typename Traits::Args;
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
    explicit iterator(Imap* parent) : parent_(parent) { current_ = parent_->next(); }
    // The item's result; throws its error (TaskFailed, WorkerLost, ...).
    const R& operator*() const { return current_->value(); }
    iterator& operator++() {
      current_ = parent_->next();
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

 private:
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
        // The input itself failed: its error comes at its position, then the range ends
        // (Python's imap raises it there).
        if (input_error_) return Outcome<R>(std::exchange(input_error_, nullptr));
        return std::nullopt;
      }
      pool_->core().wait_until(&detail::ImapSink<R>::has_next, sink_.get(), std::nullopt);
    }
  }

  void send_some() {
    const std::size_t limit = pool_->core().max_payload();
    std::vector<std::byte>& buf = buffer_;
    buf.clear();
    std::size_t count = 0;
    try {
      while (!input_done_ && it_ != std::ranges::end(inputs_) && count < chunk_) {
        const auto& item = *it_;
        const auto& args = detail::to_args<Args, Star>(item);
        const std::size_t b = Items::bytes(args);
        if (b > limit) {
          if (count > 0) break;  // send what we have; the oversize item throws next time
          ++it_;
          throw PayloadTooLarge(b, limit, "arguments of one imap item");
        }
        if (buf.size() + b > limit) break;
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
    req.invoker = Traits::kInvoker;
    req.fn = reinterpret_cast<std::uintptr_t>(fn_);
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
  std::vector<std::byte> buffer_;
  bool input_done_ = false;         // the input threw: send nothing more
  std::exception_ptr input_error_;  // handed out after every result sent before it
};

}  // namespace ringpool::pool
