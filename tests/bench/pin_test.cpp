#include "ringpool/bench/pin.hpp"

#include <gtest/gtest.h>
#include <sched.h>

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "ringpool/bench/child.hpp"
#include "ringpool/bench/errors.hpp"

namespace rb = ringpool::bench;

namespace {

// The affinity a child pinned to `cpu` reads back with sched_getaffinity, as a bitmask.
struct MaskBits {
  unsigned long long bits;
  int cpus;
};

MaskBits child_mask(int cpu) {
  return rb::run_in_child(cpu, [] {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) throw std::runtime_error("getaffinity");
    MaskBits m{0, CPU_COUNT(&set)};
    for (int c = 0; c < 64; ++c)
      if (CPU_ISSET(c, &set)) m.bits |= 1ULL << c;
    return m;
  });
}

int first_disallowed_cpu() {
  const auto allowed = rb::thread_affinity();
  int cpu = 0;
  while (std::find(allowed.begin(), allowed.end(), cpu) != allowed.end()) ++cpu;
  return cpu;
}

}  // namespace

TEST(BenchPin, ChildPinnedToEachAllowedCpuReadsBackThatCpuOnly) {
  for (int cpu : rb::thread_affinity()) {
    if (cpu >= 64) break;
    const MaskBits m = child_mask(cpu);
    EXPECT_EQ(m.cpus, 1) << "cpu " << cpu;
    EXPECT_EQ(m.bits, 1ULL << cpu) << "cpu " << cpu;
  }
}

TEST(BenchPin, AffinityGuardRestoresTheCallersMask) {
  const auto before = rb::thread_affinity();
  {
    rb::AffinityGuard guard;
    rb::pin_to_cpu(before.front());
    EXPECT_EQ(rb::thread_affinity(), std::vector<int>{before.front()});
    EXPECT_EQ(rb::current_cpu(), before.front());
  }
  EXPECT_EQ(rb::thread_affinity(), before);
}

TEST(BenchPin, PinningToADisallowedCpuIsATypedError) {
  const int cpu = first_disallowed_cpu();
  rb::AffinityGuard guard;
  try {
    rb::pin_to_cpu(cpu);
    FAIL() << "pinned to CPU " << cpu;
  } catch (const rb::BenchError& e) {
    EXPECT_EQ(e.code(), rb::BenchErrc::cpu_not_allowed);
    EXPECT_NE(std::string(e.what()).find(std::to_string(cpu)), std::string::npos);
  }
  EXPECT_THROW(rb::pin_to_cpu(-1), rb::BenchError);
}

TEST(BenchPin, ChildFailuresComeBackAsChildFailed) {
  const int cpu = first_disallowed_cpu();
  try {
    (void)rb::run_in_child(cpu, [] { return 1; });
    FAIL() << "child pinned to a disallowed CPU";
  } catch (const rb::BenchError& e) {
    EXPECT_EQ(e.code(), rb::BenchErrc::child_failed);
    EXPECT_NE(std::string(e.what()).find("cannot pin"), std::string::npos) << e.what();
  }
  try {
    (void)rb::run_in_child(-1, []() -> int { throw std::runtime_error("boom in child"); });
    FAIL() << "exception lost";
  } catch (const rb::BenchError& e) {
    EXPECT_EQ(e.code(), rb::BenchErrc::child_failed);
    EXPECT_NE(std::string(e.what()).find("boom in child"), std::string::npos);
  }
}

TEST(BenchPin, ChildResultComesBackThroughSharedMemory) {
  EXPECT_EQ(rb::run_in_child(-1, [] { return 41 + 1; }), 42);
}

TEST(BenchPin, ParseCpuList) {
  EXPECT_EQ(rb::parse_cpu_list("0,1"), (std::vector<int>{0, 1}));
  EXPECT_EQ(rb::parse_cpu_list("3"), (std::vector<int>{3}));
  EXPECT_EQ(rb::parse_cpu_list("1,4-6"), (std::vector<int>{1, 4, 5, 6}));
  EXPECT_EQ(rb::format_cpu_list({6, 0, 1, 2, 4}), "0-2,4,6");
  for (const char* bad : {"", "a", "0,", ",1", "1-", "3-1", "-2", "0,,1", "1.5", "99999"}) {
    try {
      (void)rb::parse_cpu_list(bad);
      ADD_FAILURE() << "accepted \"" << bad << "\"";
    } catch (const rb::BenchError& e) {
      EXPECT_EQ(e.code(), rb::BenchErrc::invalid_argument) << bad;
      EXPECT_NE(std::string(e.what()).find("invalid CPU list"), std::string::npos);
    }
  }
}

TEST(BenchPin, CheckCpuPair) {
  const std::vector<int> allowed{0, 1};
  EXPECT_NO_THROW(rb::check_cpu_pair({0, 1}, allowed));
  EXPECT_NO_THROW(rb::check_cpu_pair({1, 0}, allowed));
  auto code_of = [&](std::vector<int> cpus) {
    try {
      rb::check_cpu_pair(cpus, allowed);
    } catch (const rb::BenchError& e) {
      return e.code();
    }
    ADD_FAILURE() << "accepted";
    return rb::BenchErrc::system_error;
  };
  EXPECT_EQ(code_of({0}), rb::BenchErrc::invalid_argument);
  EXPECT_EQ(code_of({0, 1, 1}), rb::BenchErrc::invalid_argument);
  EXPECT_EQ(code_of({1, 1}), rb::BenchErrc::same_cpu);
  EXPECT_EQ(code_of({0, 7}), rb::BenchErrc::cpu_not_allowed);
}
