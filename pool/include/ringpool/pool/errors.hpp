#pragma once
// The one error header of the pool module. Every error the Python-like pool API
// reports is a PoolError, so `catch (const ringpool::pool::PoolError&)` catches
// them all; each concrete class can be caught on its own, as Python's
// queue.Full / queue.Empty / TimeoutError can.
#include <sys/types.h>

#include <cstddef>
#include <exception>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "ringpool/error.hpp"

namespace ringpool::pool {

// Base of every error thrown by the pool module.
class PoolError : public ringpool::Error {
 public:
  using ringpool::Error::Error;
};

// A blocking call with a timeout ran out of time (e.g. Future::get(timeout)).
class Timeout : public PoolError {
 public:
  using PoolError::PoolError;
};

// Queue::put(v, timeout) found the queue full for the whole timeout (Python's queue.Full).
class Full : public PoolError {
 public:
  using PoolError::PoolError;
};

// Queue::get(timeout) found the queue empty for the whole timeout (Python's queue.Empty).
class Empty : public PoolError {
 public:
  using PoolError::PoolError;
};

// The queue or pool was closed: producers are refused at once, consumers once drained.
class Closed : public PoolError {
 public:
  using PoolError::PoolError;
};

// An encoded value is larger than what may travel: a Pool's or Queue's max_payload (larger
// values than a slot travel through a payload segment up to that limit), or a Pipe's slot.
// Nothing was sent.
class PayloadTooLarge : public PoolError {
 public:
  // For a slot-bound channel (Pipe): the advice is a larger slot_size.
  PayloadTooLarge(std::size_t size, std::size_t limit, const std::string& what_travels = "value")
      : PayloadTooLarge(size, limit, what_travels, " bytes but a slot holds at most ",
                        "Create the queue or pool with a larger slot_size, or send a smaller "
                        "value") {}
  // For a limit set by max_payload: `option` names the option to raise.
  struct OverLimit {
    const char* option;  // e.g. "PoolOptions::max_payload"
  };
  PayloadTooLarge(std::size_t size, std::size_t limit, const std::string& what_travels,
                  OverLimit over)
      : PayloadTooLarge(size, limit, what_travels, " bytes, above the limit of ",
                        std::string("Raise ") + over.option + " or send a smaller value") {}

  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::size_t limit() const noexcept { return limit_; }

 private:
  PayloadTooLarge(std::size_t size, std::size_t limit, const std::string& what_travels,
                  const char* relation, const std::string& advice)
      : PoolError("ringpool: the encoded " + what_travels + " is " + std::to_string(size) +
                  relation + std::to_string(limit) + " bytes; nothing was sent. " + advice),
        size_(size),
        limit_(limit) {}

  std::size_t size_;
  std::size_t limit_;
};

// A task threw an exception whose type does not travel: carries the original exception's
// (demangled) type name and message across the process boundary. Exceptions of the standard
// types (the logic_error and runtime_error families, bad_alloc, system_error of the
// generic, system, iostream and future categories) and of types registered with
// RINGPOOL_EXCEPTION come back as themselves instead (see docs/pool.md, "Errors").
class TaskFailed : public PoolError {
 public:
  TaskFailed(std::string type_name, std::string original_what)
      : PoolError("ringpool: the task raised " + type_name + ": " + original_what),
        type_name_(std::move(type_name)),
        original_what_(std::move(original_what)) {}

  [[nodiscard]] const std::string& type_name() const noexcept { return type_name_; }
  [[nodiscard]] const std::string& original_what() const noexcept { return original_what_; }

 private:
  std::string type_name_;
  std::string original_what_;
};

// A worker process died (killed by a signal or exited) while it held work.
// exitcode follows Process::exitcode(): negative signal number when killed.
class WorkerLost : public PoolError {
 public:
  WorkerLost(pid_t pid, int exitcode, const std::string& context = "while it held a task")
      : PoolError((pid > 0 ? "ringpool: worker process " + std::to_string(pid)
                           : std::string("ringpool: a worker thread")) +
                  " " +
                  (exitcode < 0 ? "was killed by signal " + std::to_string(-exitcode)
                                : "exited with code " + std::to_string(exitcode)) +
                  " " + context),
        pid_(pid),
        exitcode_(exitcode) {}

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  // Negative signal number when killed, exit status otherwise.
  [[nodiscard]] int exitcode() const noexcept { return exitcode_; }
  // The signal that killed the worker, 0 if it exited.
  [[nodiscard]] int signal() const noexcept { return exitcode_ < 0 ? -exitcode_ : 0; }

 private:
  pid_t pid_;
  int exitcode_;
};

// No worker of the pool can run any more: each one kept dying before its initializer
// finished (Python's BrokenProcessPool). Pending tasks fail with it and new submissions
// throw it at once; close(), join() and terminate() still return. The message says why
// (the last worker's exit code or signal).
class PoolBroken : public PoolError {
 public:
  using PoolError::PoolError;
};

// The task was cancelled before any worker started it (Future::cancel(), or
// Pool::shutdown(..., cancel_futures = true)): get() and exception() of its future throw it
// (Python's concurrent.futures.CancelledError).
class CancelledError : public PoolError {
 public:
  using PoolError::PoolError;
};

// The call is not allowed in the object's current state (join before close,
// start twice, a daemon starting children, ...).
class InvalidState : public PoolError {
 public:
  using PoolError::PoolError;
};

// The kernel or the system lacks a facility the call needs (e.g. pidfd_open before Linux
// 5.3, or refused by a seccomp policy); the message names the call and its errno.
class Unsupported : public PoolError {
 public:
  using PoolError::PoolError;
};

// An argument is out of range or malformed (zero workers, unregistered task, ...).
class InvalidArgument : public PoolError {
 public:
  using PoolError::PoolError;
};

// Queue<T>::open found a queue made for another element type or slot size.
class QueueMismatch : public InvalidArgument {
 public:
  using InvalidArgument::InvalidArgument;
};

// A process created by the spawn start method is running `main` again and tried to
// create processes: `main` did not begin with ringpool::serve_if_worker(argc, argv).
class GuardViolation : public PoolError {
 public:
  explicit GuardViolation(const std::string& attempted)
      : PoolError(
            "ringpool: " + attempted +
            " refused: this process was started by the spawn start method to run a "
            "task, but main() did not call ringpool::serve_if_worker(argc, argv) first, so it "
            "is running the program's start-up code again. Without this guard every child "
            "would start children of its own without end (a fork bomb). Make "
            "`ringpool::serve_if_worker(argc, argv);` the first line of main(): it is "
            "ringpool's `if __name__ == '__main__':`.") {}
};

// Bytes read from shared memory (or an inherited fd) do not decode as the expected
// type: wrong length, bad tag, truncated. Shared memory is treated as hostile.
class DecodeError : public PoolError {
 public:
  using PoolError::PoolError;
};

// A queue's shared state (ring indices, slot sequences, length prefixes) was found
// impossible: a buggy or hostile process wrote into its shared memory. Blocking calls throw
// it instead of waiting; the try forms throw it at once. The queue cannot be used any more.
class Corrupted : public PoolError {
 public:
  using PoolError::PoolError;
};

// Barrier::wait found the barrier broken (abort(), reset() while waiting, a timeout, an
// action that threw, or a party that died while waiting): Python's BrokenBarrierError.
class BrokenBarrier : public PoolError {
 public:
  using PoolError::PoolError;
};

// BoundedSemaphore::release would raise the value above its initial value (Python's
// ValueError "Semaphore released too many times").
class SemaphoreOverflow : public InvalidArgument {
 public:
  using InvalidArgument::InvalidArgument;
};

namespace detail {

// Demangled name of a type as reported by typeid(...).name(); the input on failure.
[[nodiscard]] std::string demangle(const char* mangled_name);

// The demangled dynamic type name and what() of an in-flight exception; for
// non-std::exception objects, the thrown type and "unknown exception".
struct ExceptionDescription {
  std::string type_name;
  std::string what;
};
[[nodiscard]] ExceptionDescription describe_exception(const std::exception_ptr& error);

// Builds the exception a registered type is rethrown as, from the original what().
using ExceptionFactory = std::exception_ptr (*)(std::string what);
// Registers `make` for exceptions whose dynamic type is `type`. Throws InvalidArgument when
// another factory is registered for a type with the same key. Thread-safe.
void register_exception_erased(const std::type_info& type, ExceptionFactory make);

}  // namespace detail

// Registers exception type E so that a task throwing E (exactly E, not a type derived from
// it) rethrows from Future::get(), map(), imap iteration and Outcome::value() as E, built
// from the original what(): E must derive from std::exception and be constructible from a
// std::string. Registration must happen in the workers too: RINGPOOL_EXCEPTION(E) at
// namespace scope does it at load time, in every process of the program (fork and spawn
// workers alike). Returns true so that it can initialise a static.
template <class E>
bool register_exception() {
  static_assert(std::is_base_of_v<std::exception, E>,
                "ringpool: RINGPOOL_EXCEPTION(E): E must derive from std::exception (so that "
                "`catch (const std::exception&)` still catches it)");
  static_assert(std::is_constructible_v<E, std::string>,
                "ringpool: RINGPOOL_EXCEPTION(E): E must be constructible from a std::string "
                "(the parent rebuilds it from the original what()); add a constructor "
                "E(std::string message)");
  detail::register_exception_erased(
      typeid(E), [](std::string what) { return std::make_exception_ptr(E(std::move(what))); });
  return true;
}

}  // namespace ringpool::pool

#define RINGPOOL_DETAIL_EXCEPTION_CONCAT2(a, b) a##b
#define RINGPOOL_DETAIL_EXCEPTION_CONCAT(a, b) RINGPOOL_DETAIL_EXCEPTION_CONCAT2(a, b)

// Registers an exception type so that a task's exception of that type comes back as itself
// (see register_exception). Use at namespace scope, once per type, in a file linked into
// the program: RINGPOOL_EXCEPTION(app::BadInput);
#define RINGPOOL_EXCEPTION(...)                                        \
  [[maybe_unused]] static const bool RINGPOOL_DETAIL_EXCEPTION_CONCAT( \
      ringpool_exception_registered_, __COUNTER__) =                   \
      ::ringpool::pool::register_exception<__VA_ARGS__>()
