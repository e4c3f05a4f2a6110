// The futex syscall: the only place in the project that issues it.
#include "ringpool/ipc/detail/futex.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <ctime>

namespace ringpool::ipc::detail {

static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t),
              "futex words must be plain 32-bit integers");
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

namespace {

int op(int base, FutexScope scope) noexcept {
  return scope == FutexScope::process_private ? (base | FUTEX_PRIVATE_FLAG) : base;
}

std::uint32_t* address(const std::atomic<std::uint32_t>& word) noexcept {
  // The kernel reads (never writes, for WAIT and WAKE) the 32-bit value at this address.
  return const_cast<std::uint32_t*>(reinterpret_cast<const std::uint32_t*>(&word));
}

}  // namespace

void futex_wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected,
                std::optional<std::chrono::nanoseconds> timeout, FutexScope scope) noexcept {
  timespec ts{};
  timespec* tsp = nullptr;
  if (timeout) {
    const auto ns = timeout->count() < 0 ? 0 : timeout->count();
    ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    tsp = &ts;
  }
  // EAGAIN (value changed), ETIMEDOUT, EINTR: the caller re-checks either way.
  (void)syscall(SYS_futex, address(word), op(FUTEX_WAIT, scope), expected, tsp, nullptr, 0);
}

void futex_wake(const std::atomic<std::uint32_t>& word, int count, FutexScope scope) noexcept {
  (void)syscall(SYS_futex, address(word), op(FUTEX_WAKE, scope), count < 1 ? 1 : count, nullptr,
                nullptr, 0);
}

void futex_wake_all(const std::atomic<std::uint32_t>& word, FutexScope scope) noexcept {
  futex_wake(word, INT_MAX, scope);
}

}  // namespace ringpool::ipc::detail
