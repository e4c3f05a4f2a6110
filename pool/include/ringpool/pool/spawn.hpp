#pragma once
// The spawn start method and its guard: ringpool's `if __name__ == '__main__':`.
//
// A spawned child is a fresh copy of the program: ringpool re-executes /proc/self/exe
// with a marker and hands it the task name and encoded arguments through an inherited
// fd. Such a child must not run the program's start-up code, so every program that
// uses spawn begins `main` with
//
//   int main(int argc, char** argv) {
//     ringpool::serve_if_worker(argc, argv);   // in a spawned child: runs the task, exits
//     ...                                       // only the main process gets here
//   }
//
// Tasks are plain functions registered by name at load time:
//
//   void get_web(std::string site) { ... }
//   RINGPOOL_TASK(get_web);                     // at namespace scope
//
// If main forgets serve_if_worker, a spawned child runs main again and the first
// attempt to create a Process or Pool there throws GuardViolation instead of
// recursing into a fork bomb.
//
// Pools with StartMethod::spawn start their workers the same way (worker kind
// "ringpool.pool_worker"): tasks sent to them must be registered too, and travel by
// registry key (task_key of the name) rather than by address.
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "ringpool/pool/codec.hpp"
#include "ringpool/pool/detail/task_traits.hpp"
#include "ringpool/pool/detail/task_wire.hpp"
#include "ringpool/pool/errors.hpp"
#include "ringpool/topology/cpu_set.hpp"

namespace ringpool {

namespace detail {

// Type-erased task: decodes its arguments from `args` and calls the function.
using TaskThunk = void (*)(void (*fn)(), std::span<const std::byte> args);
// A pool::detail::Invoker with its type erased (nullptr when the function's result
// cannot be encoded, so it cannot run in a spawn-started Pool).
using ErasedInvoker = void (*)();

// What the registry knows about one task. `key` is a 64-bit hash of its name: the same
// in every process running this program, so a spawn-started Pool worker (a re-executed
// copy, where the function's address differs) finds the function from the key.
struct RegisteredTask {
  std::uint64_t key = 0;
  void (*fn)() = nullptr;
  TaskThunk thunk = nullptr;
  ErasedInvoker pool_invoker = nullptr;
};

// Registers a task; throws pool::InvalidArgument when `name` is empty or already
// taken by a different function (or its key by a different name). Thread-safe;
// normally called during static init.
void register_task_erased(std::string_view name, void (*fn)(), TaskThunk thunk,
                          ErasedInvoker pool_invoker = nullptr);

// The registered name of a function, or nullopt.
[[nodiscard]] std::optional<std::string> registered_task_name(void (*fn)());

// Lookups by function address (parent side) and by key (spawned worker side).
// Thread-safe; no allocation.
[[nodiscard]] std::optional<RegisteredTask> find_registered_task(void (*fn)()) noexcept;
[[nodiscard]] std::optional<RegisteredTask> find_registered_task(std::uint64_t key) noexcept;

// The registry key of a task name (FNV-1a, 64 bits).
[[nodiscard]] constexpr std::uint64_t task_key(std::string_view name) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : name) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

template <class... Params>
using TaskArgs = std::tuple<std::remove_cvref_t<Params>...>;

template <class R, class... Params>
void task_thunk(void (*fn)(), std::span<const std::byte> args) {
  auto typed = reinterpret_cast<R (*)(Params...)>(fn);
  auto decoded = pool::from_bytes<TaskArgs<Params...>>(args);
  std::apply([typed](auto&... a) { static_cast<void>(typed(std::move(a)...)); }, decoded);
}

}  // namespace detail

// Registers `fn` under `name` for the spawn start method. Every parameter type must
// be Encodable (by value or const reference); the return value is ignored, as
// Python ignores a target's return value. Returns true so it can initialise a
// static; RINGPOOL_TASK(fn) does exactly that.
//
// A registered function can also run in a Pool whose workers are spawn-started, when
// its result is void or Encodable.
template <class R, class... Params>
requires(pool::Encodable<std::remove_cvref_t<Params>>&&...) bool register_task(
    std::string_view name, R (*fn)(Params...)) {
  detail::ErasedInvoker invoker = nullptr;
  if constexpr (std::is_void_v<R> || (!std::is_reference_v<R> && pool::Encodable<R>)) {
    invoker = reinterpret_cast<detail::ErasedInvoker>(&pool::detail::invoke_items<R, Params...>);
  }
  detail::register_task_erased(name, reinterpret_cast<void (*)()>(fn),
                               &detail::task_thunk<R, Params...>, invoker);
  return true;
}

namespace detail {
// The thunk of a registered function object: Process cannot run one (its spawn payload
// names plain functions); only spawn-started Pool workers do.
[[noreturn]] void refuse_functor_as_process_target(void (*fn)(), std::span<const std::byte> args);
}  // namespace detail

// Registers function object type F under `name` for spawn-started Pool workers: F must
// have one non-template operator() and travel (trivially copyable, or with a Codec). Its
// state travels with each task message, as with fork; the registration tells a re-executed
// worker which code runs it. A captureless lambda type is registered as its function.
// Returns true so it can initialise a static; RINGPOOL_FUNCTOR(F) does exactly that.
template <class T>
bool register_functor(std::string_view name) {
  using F = std::remove_cv_t<T>;  // decltype of a const lambda: the type submit() sees
  if constexpr (pool::detail::ConvertsToFunctionPointer<F>) {
    return register_task(name, +F{});
  } else {
    static_assert(pool::detail::HasUniqueCall<F>,
                  "ringpool: RINGPOOL_FUNCTOR(T): T must be a function object with one "
                  "non-template operator() (a generic lambda's parameter types are known only "
                  "at submit, so it cannot be registered for spawn; use a struct functor)");
    static_assert(pool::detail::StateCodec<F>::kTravels,
                  "ringpool: RINGPOOL_FUNCTOR(T): T cannot travel: it is not trivially copyable "
                  "and has no Codec");
    using Task = pool::detail::TaskOf<F, std::tuple<>>;
    using R = typename Task::Result;
    static_assert(std::is_void_v<R> || (!std::is_reference_v<R> && pool::Encodable<R>),
                  "ringpool: RINGPOOL_FUNCTOR(T): T's result must be void or have a Codec");
    const auto invoker = reinterpret_cast<detail::ErasedInvoker>(Task::kInvoker);
    detail::register_task_erased(name, reinterpret_cast<void (*)()>(Task::kInvoker),
                                 &detail::refuse_functor_as_process_target, invoker);
    return true;
  }
}

// First line of main(). In a process started by the spawn start method it runs the
// requested task (or pool worker) and exits the process with its exit code; it does
// not return there. In any other process it returns 0 at once. Calling it also tells
// the spawn guard that main() is guarded.
int serve_if_worker(int argc, char** argv);

namespace detail {

// Entry of a worker kind started through spawn_worker(); its return value is the
// child's exit code. `payload` is what the parent passed.
using WorkerEntry = int (*)(std::span<const std::byte> payload);

// Registers a worker kind (e.g. the pool's worker loop). Kinds starting with
// "ringpool." are reserved for ringpool itself. Call during static init or before
// the first spawn; the child looks the kind up after re-exec.
void register_worker_entry(std::string_view kind, WorkerEntry entry);

// What a spawned child should be.
struct SpawnRequest {
  std::string kind;                      // a registered worker kind
  std::vector<std::byte> payload;        // handed to the entry unchanged
  std::vector<int> inherit_fds;          // open fds the child keeps, same numbers
  std::string name;                      // this_process::name() in the child
  std::string identity;                  // Python's _identity ("1", "1:2"); children count from it
  bool daemon = false;                   // dies with the parent (PR_SET_PDEATHSIG)
  std::optional<topology::CpuSet> cpus;  // pinned before it executes anything
};

// Forks and re-executes /proc/self/exe as a spawned child running `request.kind`,
// and returns its pid once the exec succeeded. Only async-signal-safe calls run
// between fork and exec, so this is safe from a multithreaded parent. With `cpus`
// the child waits before exec until the parent has pinned it. The caller owns the
// child: reap it (waitpid) or wrap it. Pool workers are started this way; Process
// with StartMethod::spawn uses it too. Throws pool::GuardViolation (see
// check_spawn_guard), topology::TopologyError when pinning fails (the child is
// killed and reaped), pool::PoolError when fork or exec fails.
[[nodiscard]] pid_t spawn_worker(const SpawnRequest& request);

// The start record a spawned child reads from its start-data fd before it runs anything
// (serve_if_worker): written by spawn_worker(), checked by decode_start_record(). Declared
// here for the spawn_start_fuzz target and tests; not for users.
struct StartRecord {
  std::string kind;      // a registered worker kind, or the built-in task kind
  std::string name;      // this_process::name() in the child
  std::string identity;  // Python's _identity
  bool daemon = false;
  std::vector<std::byte> payload;  // the kind's own start data
  std::int32_t parent_pid = 0;     // the spawning process (this_process::parent()), > 0
  std::string parent_name;         // its this_process::name()
};
// The payload of the built-in task kind ("ringpool.task", Process with StartMethod::spawn):
// a registered task's name and its encoded arguments.
struct TaskStart {
  std::string task;
  std::vector<std::byte> args;
};
inline constexpr std::string_view kTaskStartKind = "ringpool.task";

// The bytes of a start record (ringpool's magic first).
[[nodiscard]] std::vector<std::byte> encode_start_record(const StartRecord& record);
// Decodes start-record bytes. Throws pool::DecodeError when they are not a record ringpool
// wrote (no magic, truncated, trailing bytes, a bool out of range, a length beyond the
// input). Makes no system call and trusts nothing in `bytes`.
[[nodiscard]] StartRecord decode_start_record(std::span<const std::byte> bytes);
[[nodiscard]] std::vector<std::byte> encode_task_start(const TaskStart& start);
// Decodes the payload of the task kind; throws pool::DecodeError.
[[nodiscard]] TaskStart decode_task_start(std::span<const std::byte> payload);

// Throws pool::GuardViolation when this process was spawned by ringpool but main()
// never reached serve_if_worker. Process::start() and Pool's constructor call it;
// `attempted` names the operation for the message ("Process::start()").
void check_spawn_guard(std::string_view attempted);

// True in a process started by the spawn start method (before or after it reached
// serve_if_worker).
[[nodiscard]] bool is_spawned_child() noexcept;

}  // namespace detail

}  // namespace ringpool

#define RINGPOOL_DETAIL_CONCAT2(a, b) a##b
#define RINGPOOL_DETAIL_CONCAT(a, b) RINGPOOL_DETAIL_CONCAT2(a, b)

// Registers a function object type (a struct with operator(), or decltype of a lambda
// defined at namespace scope) for spawn-started Pool workers under its spelled name. Use
// at namespace scope, once per type.
#define RINGPOOL_FUNCTOR(...)                                                             \
  [[maybe_unused]] static const bool RINGPOOL_DETAIL_CONCAT(ringpool_functor_registered_, \
                                                            __COUNTER__) =                \
      ::ringpool::register_functor<__VA_ARGS__>(#__VA_ARGS__)

// Registers a plain function for the spawn start method under its spelled name.
// Use at namespace scope, once per function.
#define RINGPOOL_TASK(fn)                                    \
  [[maybe_unused]] static const bool RINGPOOL_DETAIL_CONCAT( \
      ringpool_task_registered_, __COUNTER__) = ::ringpool::register_task(#fn, &fn)
