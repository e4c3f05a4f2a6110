#pragma once
// Helpers several test files use. A module's test files are compiled together in unity
// batches (tests/CMakeLists.txt), so a helper two files need lives here once rather than
// in each file's anonymous namespace, where the two copies would collide.
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <numeric>
#include <string>
#include <string_view>
#include <vector>

namespace ringpool::test {

// RINGPOOL_STRESS_SCALE as a multiplier for stress loops: 1 when unset, not a number or
// not positive.
template <class Int = std::size_t>
[[nodiscard]] Int stress_scale() {
  const char* env = std::getenv("RINGPOOL_STRESS_SCALE");
  const long long v = env != nullptr ? std::atoll(env) : 1;
  return v > 0 ? static_cast<Int>(v) : Int{1};
}

// A name no other process uses: "ringpool-test-<what>-<pid>".
[[nodiscard]] inline std::string unique_name(std::string_view what) {
  return "ringpool-test-" + std::string(what) + "-" + std::to_string(::getpid());
}

// Whether /dev/shm holds the POSIX shared-memory object `name` (with or without its
// leading '/'). Tests look only at their own names: other processes on the machine create
// and remove segments at any time.
[[nodiscard]] inline bool in_dev_shm(std::string_view name) {
  if (!name.empty() && name.front() == '/') name.remove_prefix(1);
  struct stat st {};
  return ::lstat(("/dev/shm/" + std::string(name)).c_str(), &st) == 0;
}

// How many times `needle` occurs in `text` (overlapping occurrences count).
[[nodiscard]] inline std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

// Ends a test that hangs: SIGALRM after `seconds` kills the test process, so a lost
// wake-up fails the test instead of stalling the suite.
class Watchdog {
 public:
  explicit Watchdog(unsigned seconds = 60) { ::alarm(seconds); }
  ~Watchdog() { ::alarm(0); }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
};

// 0, 1, ..., n - 1.
[[nodiscard]] inline std::vector<int> iota(int n) {
  std::vector<int> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

}  // namespace ringpool::test
