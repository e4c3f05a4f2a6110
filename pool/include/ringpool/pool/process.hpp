#pragma once
// Process: Python's multiprocessing.Process.
//
//   void get_web(std::string site) { std::cout << "get web according " << site << '\n'; }
//
//   ringpool::pool::Process p1(get_web, std::string("baidu"));
//   p1.set_daemon(true);        // p1.daemon = True
//   p1.start();
//   p1.join();
//   std::optional<int> code = p1.exitcode();   // 0; -9 when SIGKILLed, as Python
//
// Kwargs-style parameters: pass a struct and fill it with designated initialisers,
// `Process(coding, CodingArgs{.count = 3})`.
//
// Start methods. `fork` (default) copies the parent: any copyable callable with
// copyable arguments works. Forking a multithreaded parent is unsafe (locks held by
// other threads stay locked in the child) and prints a one-time warning. `spawn`
// re-executes the program: the target must be a function registered with
// RINGPOOL_TASK, its arguments must be Encodable, and main() must begin with
// ringpool::serve_if_worker(argc, argv) (see spawn.hpp).
//
// Lifetime, as Python: the destructor neither kills nor joins. Non-daemon children
// still running when the parent exits normally are joined then; daemon children
// are terminated at the parent's normal exit and killed by the kernel
// (PR_SET_PDEATHSIG) if the parent dies abruptly, even by SIGKILL. Note that the
// kernel sends that signal when the *thread* that started the daemon ends: start
// daemons from a thread that lives as long as they should.
//
// A Process object is used from the process that created it; its methods may be
// called from several threads of that process.
#include <sys/types.h>

#include <chrono>
#include <concepts>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "ringpool/pool/codec.hpp"
#include "ringpool/pool/errors.hpp"
#include "ringpool/pool/spawn.hpp"
#include "ringpool/topology/cpu_set.hpp"

namespace ringpool::pool {

// How new workers start (Process and Pool):
//  - fork:   a copy of this process (Python's "fork").
//  - spawn:  this program re-executed (Python's "spawn"): main() must begin with
//            ringpool::serve_if_worker(argc, argv); tasks are found by name (RINGPOOL_TASK).
//  - thread: Pool only: workers are threads of this process over the same rings (Python's
//            multiprocessing.pool.ThreadPool): no isolation and no pinning, a crash in a task
//            ends the process. For I/O-bound tasks, debugging, and ThreadSanitizer.
enum class StartMethod { fork, spawn, thread };

// Every member has an initialiser so designated initialisers may name any subset
// (GCC's -Wmissing-field-initializers stays quiet).
struct ProcessOptions {
  std::string name{};  // empty: "Process-<n>" as Python
  bool daemon = false;
  StartMethod start_method = StartMethod::fork;
  std::optional<topology::CpuSet> cpus{};  // pin the child here before it runs anything
};

namespace detail {
struct ChildRecord;  // pid, exit status and pidfd of one started child (child_registry.cpp)

template <class F>
concept SpawnableTarget = std::is_pointer_v<std::decay_t<F>> &&
    std::is_function_v<std::remove_pointer_t<std::decay_t<F>>>;

template <class R, class... Params, class... Args>
std::vector<std::byte> encode_task_args(R (*)(Params...), Args&&... args) {
  if constexpr (std::is_constructible_v<ringpool::detail::TaskArgs<Params...>, Args&&...> &&
                (Encodable<std::remove_cvref_t<Params>> && ...)) {
    return to_bytes(ringpool::detail::TaskArgs<Params...>(std::forward<Args>(args)...));
  } else {
    throw InvalidArgument(
        "ringpool: Process with StartMethod::spawn: the arguments do not match the target's "
        "parameters or a parameter type is not Encodable (specialise ringpool::pool::Codec "
        "for it), so they cannot be sent to a re-executed child");
  }
}
}  // namespace detail

class Process {
 public:
  // A process that will run fn(args...) (copies of both). Not started yet.
  template <class F, class... Args>
  requires std::invocable < std::decay_t<F>
  &, std::decay_t<Args>&... > explicit Process(F&& fn, Args&&... args)
      : Process(ProcessOptions{}, std::forward<F>(fn), std::forward<Args>(args)...) {}

  template <class F, class... Args>
  requires std::invocable < std::decay_t<F>
  &, std::decay_t<Args>&... > Process(ProcessOptions options, F&& fn, Args&&... args)
      : options_(std::move(options)) {
    if (options_.start_method == StartMethod::spawn) {
      if constexpr (detail::SpawnableTarget<F>) {
        auto* target = static_cast<std::decay_t<F>>(fn);
        set_spawn_target(reinterpret_cast<void (*)()>(target),
                         detail::encode_task_args(target, std::forward<Args>(args)...));
      } else {
        throw_spawn_needs_function();
      }
    } else {
      body_ = [f = std::decay_t<F>(std::forward<F>(fn)),
               stored =
                   std::make_tuple(std::decay_t<Args>(std::forward<Args>(args))...)]() mutable {
        std::apply([&f](auto&... a) { static_cast<void>(std::invoke(f, a...)); }, stored);
      };
    }
    assign_identity();
  }

  // A spawn-method child running a worker kind registered with
  // detail::register_worker_entry (the pool's workers). options.start_method is
  // ignored (always spawn).
  static Process for_worker_entry(std::string kind, std::vector<std::byte> payload,
                                  std::vector<int> inherit_fds, ProcessOptions options = {});

  Process(Process&&) noexcept;
  // Releases this object's child as the destructor does, then takes `other`'s.
  Process& operator=(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  // Neither joins nor kills (the child keeps running; see the header comment). An ended
  // child's pidfd (the sentinel) is closed here; a running child's is kept by the children
  // registry until the child is reaped (active_children(), the next start(), or exit).
  ~Process();

  // Starts the child. Throws InvalidState when already started or when called in a
  // daemon process; GuardViolation in a spawned child whose main() skipped
  // serve_if_worker; topology::TopologyError when pinning to options.cpus fails;
  // PoolError when the OS refuses (fork/exec failure, with errno text).
  void start();

  // Waits for the child to end. InvalidState when not started or called from
  // another process than the creator.
  void join();
  // Waits at most `timeout`; true when the child has ended.
  [[nodiscard]] bool join(std::chrono::nanoseconds timeout);

  // Started and not yet ended (reaps the child if it has ended). InvalidState once closed.
  [[nodiscard]] bool is_alive();
  // nullopt while running or before start; the exit status, or minus the signal
  // number that killed it (-9 for SIGKILL, -15 for SIGTERM). InvalidState once closed.
  [[nodiscard]] std::optional<int> exitcode();

  // Python's Process.sentinel: a pidfd (pidfd_open(2)) that becomes readable (POLLIN) when
  // the child ends and stays readable, also after join(); for poll/epoll/select over
  // several children and other fds. Owned by this object: do not close it; valid until
  // close() or destruction. Close-on-exec. InvalidState before start(), once closed, or in
  // another process than the creator; Unsupported when the kernel refused pidfd_open
  // (Linux < 5.3, or a seccomp policy), with its errno.
  [[nodiscard]] int sentinel() const;

  // Python's Process.close(): releases the child's resources (its record and pidfd, the
  // target and its arguments). Throws InvalidState while the child is running (join it
  // first), and leaves the object usable then. Afterwards every call other than name(),
  // daemon(), start_method() and close() (a no-op) throws InvalidState. Allowed before
  // start(), as Python. Not concurrently with other calls on this object.
  void close();

  // The child's pid; InvalidState before start().
  [[nodiscard]] pid_t pid() const;
  [[nodiscard]] const std::string& name() const noexcept { return options_.name; }
  [[nodiscard]] bool daemon() const noexcept { return options_.daemon; }
  // p.daemon = True; InvalidState once started or closed.
  void set_daemon(bool daemon);
  [[nodiscard]] StartMethod start_method() const noexcept { return options_.start_method; }

  // SIGTERM / SIGKILL / any signal. No-op once the child has been reaped;
  // InvalidState before start.
  void terminate();
  void kill();
  void send_signal(int signal);

 private:
  Process() = default;
  void set_spawn_target(void (*fn)(), std::vector<std::byte> encoded_args);
  [[noreturn]] static void throw_spawn_needs_function();
  void assign_identity();
  void start_fork();
  void start_spawn();
  [[nodiscard]] detail::ChildRecord& started_record(const char* operation) const;
  void throw_if_closed(const char* operation) const;
  void release_record() noexcept;

  ProcessOptions options_;
  pid_t creator_ = 0;                            // the process that may start/join it
  std::string identity_;                         // Python's _identity joined with ':'
  std::function<void()> body_;                   // fork: what the child runs
  ringpool::detail::SpawnRequest spawn_;         // spawn: kind + payload
  std::shared_ptr<detail::ChildRecord> record_;  // set by start(); shared with the registry
  bool closed_ = false;                          // close() succeeded
};

// A child as active_children() lists it (Python lists its Process objects): a handle that
// shares the child's record with its Process object, so it stays valid after that object
// is gone, and its pid always names the child (> 0, never reused while the child is
// unreaped, and the record reaps it only when asked whether it ended). The calls behave
// as Process's of the same names, and throw InvalidState in another process than the one
// that started the child. Copyable; the copies share the record.
class ChildProcess {
 public:
  // The child's pid (> 0).
  [[nodiscard]] pid_t pid() const noexcept;
  // Its name (ProcessOptions::name, or "Process-<n>").
  [[nodiscard]] const std::string& name() const noexcept;
  [[nodiscard]] bool daemon() const noexcept;
  // Still running (reaps it if it has ended).
  [[nodiscard]] bool is_alive();
  // nullopt while running; else the exit status, or minus the signal that killed it.
  [[nodiscard]] std::optional<int> exitcode();
  void join();
  // Waits at most `timeout`; true when the child has ended.
  [[nodiscard]] bool join(std::chrono::nanoseconds timeout);
  // The pidfd that becomes readable when the child ends (Process::sentinel()): valid while
  // this handle, a copy of it or the child's Process object lives. Unsupported without
  // pidfd_open.
  [[nodiscard]] int sentinel() const;
  // SIGTERM / SIGKILL / any signal; no-op once the child has been reaped.
  void terminate();
  void kill();
  void send_signal(int signal);

 private:
  friend std::vector<ChildProcess> active_children();
  explicit ChildProcess(std::shared_ptr<detail::ChildRecord> record) : record_(std::move(record)) {}
  [[nodiscard]] detail::ChildRecord& own(const char* operation) const;
  std::shared_ptr<detail::ChildRecord> record_;  // never null
};

// The children this process started through Process (either start method) that are still
// running, as Python's multiprocessing.active_children(): finished ones are reaped first
// (their Process objects still report the exit code). Pool workers are not listed.
// Thread-safe.
[[nodiscard]] std::vector<ChildProcess> active_children();

}  // namespace ringpool::pool
