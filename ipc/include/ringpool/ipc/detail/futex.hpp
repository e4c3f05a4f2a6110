#pragma once
// The one futex wrapper of the project (defined in ipc/src/futex.cpp). Callers normally use
// EventCount (event_count.hpp), which adds the waiter count and the ordering argument; these
// are the raw calls under it.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>

namespace ringpool::ipc {

// Who may wait on and wake a futex word.
//  - shared:          any process that maps the word (no FUTEX_PRIVATE_FLAG); the kernel
//                     keys the wait queue by the page's inode / physical page. Needed for
//                     words in shared memory.
//  - process_private: threads of this process only (FUTEX_PRIVATE_FLAG); the kernel keys by
//                     address and takes no page reference, so wait and wake are cheaper.
//                     Wrong for words in memory shared with another process: its waiters
//                     would never be woken.
enum class FutexScope : unsigned char { shared, process_private };

namespace detail {

// FUTEX_WAIT on `word` while it equals `expected`, at most `timeout` (nullopt: no limit; a
// negative timeout counts as 0). Returns on a wake, a value change, the timeout, a signal or
// spuriously; the caller re-checks its condition either way.
void futex_wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected,
                std::optional<std::chrono::nanoseconds> timeout, FutexScope scope) noexcept;

// FUTEX_WAKE at most `count` (>= 1) waiters of `word`.
void futex_wake(const std::atomic<std::uint32_t>& word, int count, FutexScope scope) noexcept;

inline void futex_wake_one(const std::atomic<std::uint32_t>& word, FutexScope scope) noexcept {
  futex_wake(word, 1, scope);
}
void futex_wake_all(const std::atomic<std::uint32_t>& word, FutexScope scope) noexcept;

}  // namespace detail
}  // namespace ringpool::ipc
