#pragma once
// Shared helpers of the ipc tests: a checksummed element, the backend list for typed
// tests (ringpool's rings and the Boost.Lockfree backends of the bench kit), the stress
// scale, and fork helpers.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "ringpool/bench/boost_backends.hpp"
#include "ringpool/ipc/ipc.hpp"
#include "test_helpers.hpp"

namespace ringpool::ipc::test {

// Element whose second word is derived from the first: a torn or misplaced copy shows.
struct Item {
  std::uint64_t seq;
  std::uint64_t check;
};
static_assert(std::is_trivially_copyable_v<Item>);

constexpr std::uint64_t checksum(std::uint64_t seq) noexcept {
  return (seq * 0x9E3779B97F4A7C15ULL) ^ 0xD1B54A32D192ED03ULL;
}
constexpr Item make_item(std::uint64_t seq) noexcept {
  return {seq, checksum(seq)};
}
inline bool valid_item(const Item& item) noexcept {
  return item.check == checksum(item.seq);
}

// RINGPOOL_STRESS_SCALE multiplies stress sizes (default 1: short runs).
inline std::uint64_t stress_scale() {
  return ::ringpool::test::stress_scale<std::uint64_t>();
}

inline constexpr std::size_t kCap = 64;

// boost::lockfree::queue's freelist writes a node's tag non-atomically while another thread
// may read it atomically (a race Boost accepts by design); ThreadSanitizer reports it, so
// threaded tests of that backend are skipped under TSan.
#if defined(__SANITIZE_THREAD__)
inline constexpr bool kThreadSanitizer = true;
#else
inline constexpr bool kThreadSanitizer = false;
#endif
inline constexpr const char* kBoostQueueTsanReason =
    "boost::lockfree::queue has a by-design race in its freelist that TSan reports";

// How each backend is made, and what it is. make() returns both ends of a fresh ring
// (`producer`, `consumer`); the Boost backends serve both roles with one copyable handle.
template <class R>
struct Backend;
template <>
struct Backend<SpscRing<Item>> {
  static SpscRing<Item>::Ends make(RingOptions o = {}) {
    return SpscRing<Item>::create_anonymous(kCap, o);
  }
  static constexpr bool kSpsc = true;
};
template <>
struct Backend<MpmcRing<Item>> {
  static MpmcRing<Item>::Ends make(RingOptions o = {}) {
    return MpmcRing<Item>::create_anonymous(kCap, o);
  }
  static constexpr bool kSpsc = false;
};
template <class R>
struct BoostBackend {
  static RingEnds<R, R> make(RingOptions o = {}) {
    R ring = R::create_anonymous(kCap, o);
    return {ring, ring};
  }
};
template <>
struct Backend<bench::BoostSpscRing<Item, kCap>> : BoostBackend<bench::BoostSpscRing<Item, kCap>> {
  static constexpr bool kSpsc = true;
};
template <>
struct Backend<bench::BoostMpmcQueue<Item, kCap>>
    : BoostBackend<bench::BoostMpmcQueue<Item, kCap>> {
  static constexpr bool kSpsc = false;
};

using AllBackends =
    ::testing::Types<SpscRing<Item>, MpmcRing<Item>, bench::BoostSpscRing<Item, kCap>,
                     bench::BoostMpmcQueue<Item, kCap>>;

struct BackendNames {
  template <class R>
  static std::string GetName(int) {
    if constexpr (std::is_same_v<R, SpscRing<Item>>) return "SpscRing";
    if constexpr (std::is_same_v<R, MpmcRing<Item>>) return "MpmcRing";
    if constexpr (std::is_same_v<R, bench::BoostSpscRing<Item, kCap>>) return "BoostSpsc";
    if constexpr (std::is_same_v<R, bench::BoostMpmcQueue<Item, kCap>>) return "BoostQueue";
    return "unknown";
  }
};

// Runs `child` in a forked process; returns its exit status (0 = success). The child
// exits with _exit so no test-framework state runs twice.
template <class F>
pid_t fork_child(F&& child) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    int code = 1;
    try {
      code = child();
    } catch (...) {
      code = 99;
    }
    ::_exit(code);
  }
  return pid;
}
inline int wait_child(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -2;
}

// The IpcError code `f` throws (a test failure when it throws none).
template <class F>
IpcErrc error_code_of(F&& f) {
  try {
    f();
  } catch (const IpcError& e) {
    EXPECT_FALSE(std::string(e.what()).empty());
    return e.code();
  }
  ADD_FAILURE() << "no IpcError thrown";
  return IpcErrc::system_error;
}

inline std::vector<std::byte> bytes_of(std::string_view s) {
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  return {p, p + s.size()};
}

}  // namespace ringpool::ipc::test
