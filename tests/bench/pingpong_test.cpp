#include "ringpool/bench/pingpong.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "ringpool/bench/child.hpp"
#include "ringpool/bench/errors.hpp"
#include "ringpool/bench/pin.hpp"

namespace rb = ringpool::bench;

namespace {
// Two CPUs to run on; the ping-pong also works on one CPU (slowly) when only one is allowed.
std::pair<int, int> cpu_pair() {
  const auto cpus = rb::thread_affinity();
  return {cpus.front(), cpus.size() > 1 ? cpus[1] : -1};
}
}  // namespace

TEST(BenchPingPong, CompletesAndReportsSaneFigures) {
  const auto [a, b] = cpu_pair();
  if (b < 0) GTEST_SKIP() << "needs two CPUs";
  const auto before = rb::thread_affinity();
  rb::PingPongOptions opt;
  opt.cpu_a = a;
  opt.cpu_b = b;
  opt.warmup = 100;
  opt.round_trips = 2000;
  const auto r = rb::cacheline_pingpong(opt);
  EXPECT_EQ(r.cpu_a, a);
  EXPECT_EQ(r.cpu_b, b);
  EXPECT_EQ(r.rtt_ns.count, 2000U);
  EXPECT_GT(r.rtt_ns.p50, 0.0);
  EXPECT_TRUE(std::isfinite(r.rtt_ns.p99));
  EXPECT_LE(r.rtt_ns.min, r.rtt_ns.p50);
  EXPECT_LE(r.rtt_ns.p50, r.rtt_ns.p99);
  EXPECT_LE(r.rtt_ns.p99, r.rtt_ns.max);
  EXPECT_DOUBLE_EQ(r.one_way_ns, r.rtt_ns.p50 / 2);
  EXPECT_GT(r.handoffs_per_s, 0.0);
  EXPECT_EQ(rb::thread_affinity(), before) << "caller's affinity not restored";
}

TEST(BenchPingPong, ConsecutiveSessionsOnOneLine) {
  // Probe, something else, probe: the way a trial brackets itself.
  rb::SharedObject<rb::PingPongLine> line;
  rb::PingPongLine* shared = line.get();
  const auto clock = rb::Clock::best();
  auto child = rb::ChildProcess::spawn(-1, [shared] {
    rb::probe_respond(*shared);
    rb::pingpong_respond(*shared, 0, 10);
    rb::probe_respond(*shared);
  });
  rb::Probe probe;
  probe.before_ns = rb::probe_initiate(*shared, clock);
  EXPECT_EQ(rb::pingpong_initiate(*shared, 0, 10, clock).size(), 10U);
  probe.after_ns = rb::probe_initiate(*shared, clock);
  child.join();
  EXPECT_GT(probe.before_ns, 0.0);
  EXPECT_GT(probe.after_ns, 0.0);
}

TEST(BenchPingPong, ProbeDisturbedWhenProbesDisagree) {
  EXPECT_FALSE((rb::Probe{100, 120}.disturbed()));
  EXPECT_TRUE((rb::Probe{100, 200}.disturbed()));
  EXPECT_TRUE((rb::Probe{300, 100}.disturbed()));
  EXPECT_FALSE((rb::Probe{300, 100}.disturbed(4.0)));
}

TEST(BenchPingPong, BadOptionsAreTypedErrors) {
  rb::PingPongOptions opt;
  opt.cpu_a = opt.cpu_b = rb::thread_affinity().front();
  try {
    (void)rb::cacheline_pingpong(opt);
    FAIL() << "same CPU accepted";
  } catch (const rb::BenchError& e) {
    EXPECT_EQ(e.code(), rb::BenchErrc::same_cpu);
  }
  opt.round_trips = 0;
  EXPECT_THROW((void)rb::cacheline_pingpong(opt), rb::BenchError);
}

TEST(BenchPingPong, ClockIsMonotonicAndCalibrated) {
  const auto clock = rb::Clock::best();
  EXPECT_GT(clock.ns_per_tick(), 0.0);
  const auto t0 = clock.start();
  const auto t1 = clock.stop();
  EXPECT_GE(t1, t0);
  if (rb::tsc_invariant()) {
    EXPECT_EQ(clock.kind(), rb::Clock::Kind::tsc);
  }
}
