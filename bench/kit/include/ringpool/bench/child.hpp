#pragma once
// Pinned child processes and the anonymous shared memory they talk over.
//
// A benchmark trial forks a child pinned to CPU B while the parent pins itself to CPU A;
// both see objects placed in an anonymous MAP_SHARED mapping made before the fork (nothing
// in /dev/shm, nothing to leak). The child dies with its parent (PR_SET_PDEATHSIG).
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <new>
#include <type_traits>
#include <utility>

#include "ringpool/bench/errors.hpp"

namespace ringpool::bench {

namespace detail {
// mmap(MAP_SHARED | MAP_ANONYMOUS) of at least `bytes`, zero-filled; throws system_error.
void* map_shared(std::size_t bytes);
void unmap_shared(void* p, std::size_t bytes) noexcept;
}  // namespace detail

// A T constructed in its own anonymous shared mapping: shared with every child forked after
// construction. T must be standard layout (it is plain data read by two processes); its
// destructor runs in the process that owns this handle only.
template <class T>
class SharedObject {
  static_assert(std::is_standard_layout_v<T>, "objects shared across fork must be plain data");

 public:
  template <class... Args>
  explicit SharedObject(Args&&... args)
      : ptr_(new (detail::map_shared(sizeof(T))) T(std::forward<Args>(args)...)) {}
  ~SharedObject() { reset(); }
  SharedObject(SharedObject&& other) noexcept : ptr_(std::exchange(other.ptr_, nullptr)) {}
  SharedObject& operator=(SharedObject&& other) noexcept {
    if (this != &other) {
      reset();
      ptr_ = std::exchange(other.ptr_, nullptr);
    }
    return *this;
  }
  SharedObject(const SharedObject&) = delete;
  SharedObject& operator=(const SharedObject&) = delete;

  [[nodiscard]] T& operator*() const noexcept { return *ptr_; }
  [[nodiscard]] T* operator->() const noexcept { return ptr_; }
  [[nodiscard]] T* get() const noexcept { return ptr_; }

 private:
  void reset() noexcept {
    if (ptr_ == nullptr) return;
    ptr_->~T();
    detail::unmap_shared(ptr_, sizeof(T));
    ptr_ = nullptr;
  }
  T* ptr_;
};

// A forked child that pinned itself to a CPU and runs one function.
// Move-only; a child never joined is SIGKILLed and reaped by the destructor.
class ChildProcess {
 public:
  // Forks. The child pins itself to `cpu` (no pinning when cpu < 0), runs fn() and _exits 0;
  // if pinning fails or fn throws, the message is passed back and join() throws it.
  // Throws BenchError(fork_failed) when fork/mmap fail. Call from a single-threaded
  // process (or accept fork's rules for threads): the child runs only fn.
  [[nodiscard]] static ChildProcess spawn(int cpu, std::function<void()> fn);

  // Waits for the child to finish. Throws BenchError(child_failed) with the child's message
  // (exception text, signal or exit code), child_timeout after SIGKILLing a child that ran
  // longer than `timeout`. Joining twice is an invalid_argument.
  void join(std::chrono::milliseconds timeout = std::chrono::seconds(120));

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  struct Report;  // shared-memory message block, defined in child.cpp

 private:
  ChildProcess(pid_t pid, Report* report) noexcept : pid_(pid), report_(report) {}
  void kill_and_reap() noexcept;

  pid_t pid_ = -1;
  Report* report_ = nullptr;
};

// Runs fn() in a child pinned to `cpu` and returns its result (a trivially copyable value
// carried back through shared memory). Exceptions in the child become BenchError(child_failed).
template <class Fn>
[[nodiscard]] auto run_in_child(int cpu, Fn&& fn) -> std::invoke_result_t<Fn&> {
  using R = std::invoke_result_t<Fn&>;
  static_assert(std::is_trivially_copyable_v<R> && std::is_default_constructible_v<R>,
                "run_in_child returns its result through shared memory: use a plain type");
  struct Box {
    R value;
  };
  SharedObject<Box> box{};
  Box* out = box.get();
  auto child = ChildProcess::spawn(cpu, [&fn, out] { out->value = fn(); });
  child.join();
  return box->value;
}

}  // namespace ringpool::bench
