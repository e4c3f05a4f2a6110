// The futex syscall, shared (no FUTEX_PRIVATE_FLAG) so waiters in other processes that map
// the same word are woken.
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <ctime>

#include "ringpool/ipc/detail/wait.hpp"

namespace ringpool::ipc::detail {

static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t),
              "futex words must be plain 32-bit integers");

void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                std::optional<std::chrono::nanoseconds> timeout) noexcept {
  timespec ts{};
  timespec* tsp = nullptr;
  if (timeout) {
    const auto ns = timeout->count() < 0 ? 0 : timeout->count();
    ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    tsp = &ts;
  }
  // EAGAIN (value changed), ETIMEDOUT, EINTR: the caller re-checks the ring either way.
  (void)syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT, expected, tsp,
                nullptr, 0);
}

void futex_wake_all(std::atomic<std::uint32_t>& word) noexcept {
  (void)syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE, INT_MAX, nullptr,
                nullptr, 0);
}

}  // namespace ringpool::ipc::detail
