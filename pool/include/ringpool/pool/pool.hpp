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
//   auto all = pool.map_async(square, inputs);        // Future<std::vector<int>>
//   pool.close(); pool.join();                        // or let the destructor do it
//   pool.shutdown(/*wait=*/true, /*cancel_futures=*/false);  // Executor.shutdown
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
#include <chrono>
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
#include "ringpool/pool/detail/result_sinks.hpp"
#include "ringpool/pool/detail/task_traits.hpp"
#include "ringpool/pool/detail/task_wire.hpp"
#include "ringpool/pool/errors.hpp"
#include "ringpool/pool/future.hpp"
#include "ringpool/pool/outcome.hpp"
#include "ringpool/pool/process.hpp"
#include "ringpool/pool/spawn.hpp"
#include "ringpool/pool/wait.hpp"
#include "ringpool/topology/placement.hpp"

namespace ringpool::pool {

// How idle workers and waiting callers wait.
//  - spin:  busy-poll with PAUSE: lowest latency, every worker keeps its core at 100%.
//  - block: poll briefly, then sleep on a futex: cores go idle; each wake-up costs a
//           syscall and a scheduler hop.
// Either way, when the pool's process may run on one CPU only (taskset, mpirun's binding of
// a rank to a core), a worker that may run there sleeps as soon as it is idle and is woken
// for each task, and the parent yields while it waits: polling would only keep the other
// one off the CPU it needs (docs/pool.md, "Waiting").
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
  // Ring slot in bytes: task messages (arguments of one call or of one chunk of map items)
  // and results up to this size travel in the rings (the fast path); larger ones travel
  // through a one-off shared-memory segment handed over by reference (docs/codec.md).
  std::size_t slot_size = 16384;
  // Largest encoded arguments of one task message (or one result) in bytes; a larger one
  // throws PayloadTooLarge at submit (a result: its future fails with it). At least
  // slot_size.
  std::size_t max_payload = std::size_t{1} << 30;
  // Messages per worker ring (task and result rings); the shared ring holds
  // ring_depth * workers. Rounded up to a power of two.
  std::size_t ring_depth = 64;
  // imap()/imap_unordered(): once the results show that the tasks are short, a message
  // carries up to 16 times chunksize items, so that its expected work stays within this
  // budget (per-item results, errors and order are unchanged; docs/pool.md, "Packing").
  // Measured over windows of at least 256 results finished within them, as workers ×
  // window / those results, an upper bound of the mean time one item takes: tasks that take
  // longer than the budget are never packed. Zero: every message holds chunksize items, as
  // Python's.
  std::chrono::nanoseconds imap_pack_budget = std::chrono::microseconds(4);
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

template <class R, class Task, class View, bool Star>
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
  // arguments exceed PoolOptions::max_payload.
  //
  // fn is a function, a lambda (capturing or generic), a function object or a member
  // function pointer (then the first argument is the object): see task_traits.hpp and
  // docs/pool.md, "Callables". A generic lambda's parameter types are the arguments'.
  template <class F, class... A>
  auto submit(F fn, A&&... args) {
    static_assert(detail::check_task<F, detail::SubmitHint<A...>>());
    using Task = detail::TaskOf<F, detail::SubmitHint<A...>>;
    using R = typename Task::Result;
    using Args = typename Task::Args;
    static_assert(std::tuple_size_v<Args> == sizeof...(A),
                  "ringpool: submit() got a different number of arguments than the function "
                  "takes (a member function takes the object first)");
    using Views = typename detail::ArgViews<Args, A...>::type;
    const Views packed(std::forward<A>(args)...);
    const auto& callable = Task::prepare(fn);
    auto* state = detail::State<R>::make(core_->link());
    Future<R> future = Future<R>::adopt(state);
    state->add_ref();  // the record's reference
    detail::SendRequest req;
    req.invoker = Task::kInvoker;
    req.fn = Task::fn_word(callable);
    req.count = 1;
    req.item_size = detail::ItemCodec<Args>::item_size();
    struct StatefulCall {
      const typename Task::Fn* state;
      const Views* args;
    };
    StatefulCall call{nullptr, &packed};
    if constexpr (Task::kStateful) {
      call.state = &callable;
      req.payload_bytes = Task::state_bytes(callable) + detail::ItemCodec<Args>::bytes(packed);
      req.encode = [](const void* ctx, std::byte* out) {
        const auto& c = *static_cast<const StatefulCall*>(ctx);
        Task::write_state(out, *c.state);
        detail::ItemCodec<Args>::write(out + Task::state_bytes(*c.state), *c.args);
      };
      req.encode_later = [](const void* ctx, std::byte* out, detail::BulkCopies& later) {
        const auto& c = *static_cast<const StatefulCall*>(ctx);
        Task::write_state(out, *c.state);
        detail::ItemCodec<Args>::write_later(out + Task::state_bytes(*c.state), *c.args, later);
      };
      req.context = &call;
    } else {
      req.payload_bytes = detail::ItemCodec<Args>::bytes(packed);
      req.encode = [](const void* ctx, std::byte* out) {
        detail::ItemCodec<Args>::write(out, *static_cast<const Views*>(ctx));
      };
      req.encode_later = [](const void* ctx, std::byte* out, detail::BulkCopies& later) {
        detail::ItemCodec<Args>::write_later(out, *static_cast<const Views*>(ctx), later);
      };
      req.context = &packed;
    }
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

  // map_async: map() without waiting: a future of every result in input order, or of the
  // first failed item's error (as map() throws it). Every input is read and sent before
  // this returns: when the rings cannot hold them all, it collects results while it waits
  // for room (most of the work may be done by then; Python's map_async hands the sending
  // to a thread). `callback(const std::vector<R>&)` runs on success and
  // `error_callback(std::exception_ptr)` on failure, as Python's (in the thread that
  // completes the future; pass nullptr for none). Throws as map() does before anything is
  // sent (Closed, PayloadTooLarge, InvalidArgument). The future's cancel() cancels the
  // whole batch while no worker has started any of its chunks (then none runs, the future
  // is cancelled and error_callback gets CancelledError), and returns false once one has.
  template <class F, std::ranges::input_range Range, class Callback = std::nullptr_t,
            class ErrorCallback = std::nullptr_t>
  auto map_async(F fn, const Range& inputs, std::optional<std::size_t> chunksize = std::nullopt,
                 Callback callback = nullptr, ErrorCallback error_callback = nullptr) {
    return map_async_impl<false>(fn, inputs, chunksize, std::move(callback),
                                 std::move(error_callback));
  }
  // starmap_async: map_async over tuples (or pairs) of arguments.
  template <class F, std::ranges::input_range Range, class Callback = std::nullptr_t,
            class ErrorCallback = std::nullptr_t>
  auto starmap_async(F fn, const Range& inputs, std::optional<std::size_t> chunksize = std::nullopt,
                     Callback callback = nullptr, ErrorCallback error_callback = nullptr) {
    return map_async_impl<true>(fn, inputs, chunksize, std::move(callback),
                                std::move(error_callback));
  }

  // imap: a lazy range of results in input order. Inputs are read as results are
  // consumed: at most about ring_messages() * chunksize items are in flight, so a huge
  // or unbounded input is never materialised. A failed item throws from operator* at
  // its position; iteration can continue past it. Pass inputs by reference to keep
  // them alive, or by value (an rvalue container is owned by the range).
  template <class F, std::ranges::viewable_range Range>
  auto imap(F fn, Range&& inputs, std::size_t chunksize = 1) {
    return imap_impl(fn, std::forward<Range>(inputs), chunksize, true);
  }
  // imap_unordered: as imap, results in completion order.
  template <class F, std::ranges::viewable_range Range>
  auto imap_unordered(F fn, Range&& inputs, std::size_t chunksize = 1) {
    return imap_impl(fn, std::forward<Range>(inputs), chunksize, false);
  }

  // ---- lifetime --------------------------------------------------------------------
  // No more submissions (they throw Closed); queued tasks still run.
  void close();
  // Waits for every task, then stops the workers. Throws InvalidState unless close()
  // or terminate() was called first (as Python's Pool.join()).
  void join();
  // Kills the workers now (SIGKILL); unfinished futures fail with Closed.
  void terminate();
  // concurrent.futures.Executor.shutdown: close(); with cancel_futures, every task no worker
  // has started is cancelled (its future completes as cancelled; a map_async future none
  // of whose chunks had started too, one whose other chunks ran fails with CancelledError;
  // map()'s and imap's cancelled items fail with CancelledError); with wait, join() (waits
  // for the rest). With wait = false
  // it returns at once and the tasks go on; join() or the destructor waits for them.
  // Calling it again is harmless.
  void shutdown(bool wait = true, bool cancel_futures = false);

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

  template <class F, class Range>
  auto imap_impl(F fn, Range&& inputs, std::size_t chunksize, bool ordered) {
    using Hint = detail::MapHint<std::views::all_t<Range>, false>;
    static_assert(detail::check_task<F, Hint>());
    using Task = detail::TaskOf<F, Hint>;
    using R = typename Task::Result;
    return Imap<R, Task, std::views::all_t<Range>, false>(
        *this, Task::prepare(fn), std::views::all(std::forward<Range>(inputs)), chunksize, ordered);
  }

  template <bool Star, class F, class Range>
  auto map_outcomes_impl(F fn, const Range& inputs, std::optional<std::size_t> chunksize) {
    static_assert(detail::check_task<F, detail::MapHint<const Range&, Star>>());
    using Task = detail::TaskOf<F, detail::MapHint<const Range&, Star>>;
    using R = typename Task::Result;
    detail::MapSink<R> sink(std::ranges::distance(inputs));
    run_batch<Star, Task>(Task::prepare(fn), inputs, chunksize, sink);
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

  template <bool Star, class F, class Range, class Callback, class ErrorCallback>
  auto map_async_impl(F fn, const Range& inputs, std::optional<std::size_t> chunksize,
                      Callback callback, ErrorCallback error_callback) {
    static_assert(detail::check_task<F, detail::MapHint<const Range&, Star>>());
    using Task = detail::TaskOf<F, detail::MapHint<const Range&, Star>>;
    using R = typename Task::Result;
    static_assert(!std::is_void_v<R>, "ringpool: map_async needs a function that returns a value");
    using State = detail::State<std::vector<R>>;
    State* state = State::make(core_->link());
    auto future = Future<std::vector<R>>::adopt(state);
    state->add_ref();  // the sink's reference
    auto* sink =
        new detail::MapAsyncSink<R>(state, static_cast<std::size_t>(std::ranges::distance(inputs)));
    run_batch<Star, Task>(Task::prepare(fn), inputs, chunksize, *sink);
    if constexpr (!std::is_null_pointer_v<Callback> || !std::is_null_pointer_v<ErrorCallback>) {
      // Only once every item was sent (a call that throws runs no callback, as Python's);
      // at once when the future is complete already. The state holds its callbacks, so it
      // outlives their call.
      state->on_done([state, cb = std::move(callback), ecb = std::move(error_callback)]() mutable {
        if (state->has_error()) {
          if constexpr (!std::is_null_pointer_v<ErrorCallback>) ecb(state->error());
        } else if constexpr (!std::is_null_pointer_v<Callback>) {
          cb(state->value());
        }
      });
    }
    return future;
  }

  template <bool Star, class F, class Range>
  auto map_impl(F fn, const Range& inputs, std::optional<std::size_t> chunksize) {
    static_assert(detail::check_task<F, detail::MapHint<const Range&, Star>>());
    using Task = detail::TaskOf<F, detail::MapHint<const Range&, Star>>;
    using R = typename Task::Result;
    static_assert(!std::is_void_v<R>, "ringpool: map needs a function that returns a value");
    detail::MapSink<R> sink(static_cast<std::size_t>(std::ranges::distance(inputs)));
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

  // Every item of a batch was sent (`sent` of them): a map() waits for their results, a
  // map_async() hands its sink over to the collector (it may be gone when this returns).
  // `error`: what stopped the sending (nullptr: nothing did).
  template <class R>
  void finish_batch(detail::MapSink<R>& sink, std::size_t sent, std::exception_ptr error) {
    (void)error;  // map() rethrows it itself
    sink.finish_sending(sent);
    core_->wait_until(&detail::MapSink<R>::complete, &sink, std::nullopt);
  }
  template <class R>
  void finish_batch(detail::MapAsyncSink<R>& sink, std::size_t sent, std::exception_ptr error) {
    sink.finish_sending(sent, std::move(error));
  }

  // Sends every input in messages of up to chunksize items, then finish_batch(): also when
  // it throws (after what was sent). A stateful task's state goes ahead of the items in
  // every message.
  template <bool Star, class Task, class Range, class Sink>
  void run_batch(const typename Task::Fn& f, const Range& inputs,
                 std::optional<std::size_t> chunksize, Sink& sink) {
    using Args = typename Task::Args;
    using Items = detail::ItemCodec<Args>;
    const std::size_t n = sink.values().size();
    if (n == 0) {
      finish_batch(sink, 0, nullptr);
      return;
    }
    const std::size_t workers = core_->workers();
    std::size_t chunk = 0;
    std::size_t state = 0;
    std::size_t limit = 0;
    try {
      chunk = chunksize.value_or((n + 4 * workers - 1) / (4 * workers));
      if (chunk == 0) {
        throw InvalidArgument("ringpool: chunksize must be at least 1");
      }
      const PayloadTooLarge::OverLimit over{"PoolOptions::max_payload"};
      const std::size_t most = core_->payload_limit();
      if constexpr (Task::kStateful) {
        state = Task::state_bytes(f);
        if (state > most) throw PayloadTooLarge(state, most, "task's state", over);
      }
      // Items of a message that fits a slot; a larger item goes alone, by reference.
      limit = core_->max_payload() > state ? core_->max_payload() - state : 0;
      // Every input must be within the limit on its own: check before sending anything.
      if constexpr (Items::kPacked) {
        if (Items::item_size() > most - state) {
          throw PayloadTooLarge(Items::item_size(), most - state, "arguments", over);
        }
      } else {
        for (const auto& item : inputs) {
          const std::size_t b = Items::bytes(detail::to_args<Args, Star>(item));
          if (b > most - state) {
            throw PayloadTooLarge(b, most - state, "arguments of one map item", over);
          }
        }
      }
    } catch (...) {
      finish_batch(sink, 0, std::current_exception());  // nothing was sent
      throw;
    }
    const bool parallel = core_->plan_batch(n);
    struct Cursor {
      std::ranges::iterator_t<const Range> it;
      std::size_t count;
      const typename Task::Fn* state;
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
          if (count > 0 && bytes + b > limit) break;
          bytes += b;
          ++count;
          ++it;
        }
        Cursor cursor{first, count, &f};
        detail::SendRequest req;
        req.invoker = Task::kInvoker;
        req.fn = Task::fn_word(f);
        req.count = static_cast<std::uint32_t>(count);
        req.item_size = Items::item_size();
        req.payload_bytes = state + bytes;
        req.encode = [](const void* ctx, std::byte* out) {
          auto c = *static_cast<const Cursor*>(ctx);
          if constexpr (Task::kStateful) {
            Task::write_state(out, *c.state);
            out += Task::state_bytes(*c.state);
          }
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
      // Items already sent still settle into `sink`: map() waits for them before unwinding.
      finish_batch(sink, sent, std::current_exception());
      throw;
    }
    finish_batch(sink, sent, nullptr);
  }

  std::unique_ptr<detail::PoolCore> core_;
};

}  // namespace ringpool::pool

// Imap's definition needs the complete Pool.
#include "ringpool/pool/imap.hpp"
