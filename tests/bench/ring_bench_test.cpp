#include "ringpool/bench/ring_bench.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <tuple>

#include "ringpool/bench/errors.hpp"
#include "ringpool/bench/pin.hpp"

namespace rb = ringpool::bench;

namespace {

rb::RingBenchOptions tiny() {
  const auto cpus = rb::thread_affinity();
  rb::RingBenchOptions o;
  o.cpu_a = cpus.at(0);
  o.cpu_b = cpus.at(1);
  o.quick = true;
  o.rounds = 1;
  o.phase_ms = 0.5;
  return o;
}

std::size_t shm_entries() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/dev/shm")) ++n;
  return n;
}

}  // namespace

// The full set of rows is checked through the CLI (bench_rings_cli_test); here the rings,
// their Boost peers, message_queue (for /dev/shm) and the floor.
TEST(BenchRingBench, EveryRowOfTheSelectedTransportsIsConsistent) {
  if (rb::thread_affinity().size() < 2) GTEST_SKIP() << "needs two CPUs";
  const std::size_t shm_before = shm_entries();
  auto opt = tiny();
  opt.transports = {"ringpool-spsc", "ringpool-mpmc",       "boost-spsc_queue",
                    "boost-queue",   "boost-message_queue", "cacheline-pingpong"};
  std::size_t progress_calls = 0;
  opt.progress = [&](std::string_view, std::size_t done, std::size_t total) {
    ++progress_calls;
    EXPECT_LE(done, total);
  };
  const auto rows = rb::run_ring_bench(opt);
  EXPECT_EQ(progress_calls, rows.size());

  std::set<std::tuple<std::string, std::size_t, std::size_t>> seen;
  for (const auto& r : rows) {
    SCOPED_TRACE(r.transport + " " + std::to_string(r.item_bytes) + "/" + std::to_string(r.batch));
    EXPECT_TRUE(seen.emplace(r.transport, r.item_bytes, r.batch).second) << "duplicate row";
    EXPECT_GT(r.items_per_s, 0.0);
    EXPECT_TRUE(std::isfinite(r.items_per_s));
    EXPECT_EQ(r.cpu_a, opt.cpu_a);
    EXPECT_EQ(r.cpu_b, opt.cpu_b);
    EXPECT_EQ(r.items_per_s_rounds.size(), 1U);
    EXPECT_EQ(r.rtt_ns_p50.has_value(), r.batch == 1);
    EXPECT_EQ(r.rtt_ns_p99.has_value(), r.batch == 1);
    if (r.rtt_ns_p50) {
      EXPECT_GT(*r.rtt_ns_p50, 0.0);
      EXPECT_GE(*r.rtt_ns_p99, *r.rtt_ns_p50);
    }
  }
  for (const std::string& t : opt.transports) {
    if (t == rb::kCachelinePingpong) {
      EXPECT_TRUE(seen.count({t, 8, 1}));
      continue;
    }
    for (std::size_t bytes : {8, 64})
      for (std::size_t batch : {1, 32})
        EXPECT_TRUE(seen.count({t, bytes, batch})) << t << " " << bytes << "/" << batch;
  }
  EXPECT_EQ(rows.size(), 5U * 4U + 1U);

  // Every target can be evaluated from one full run, and the report names each of them.
  const auto checks = rb::check_ring_targets(rows);
  ASSERT_EQ(checks.size(), 4U);
  for (const auto& c : checks) EXPECT_TRUE(c.ratio.has_value()) << c.name;
  const std::string report = rb::format_ring_report(rows, 1);
  for (const auto& c : checks) EXPECT_NE(report.find(c.name), std::string::npos) << c.name;

  // Nothing left behind (message_queue names are removed at creation).
  EXPECT_EQ(shm_entries(), shm_before);
}

TEST(BenchRingBench, JsonRowsHaveTheDocumentedShape) {
  if (rb::thread_affinity().size() < 2) GTEST_SKIP() << "needs two CPUs";
  auto opt = tiny();
  opt.transports = {"ringpool-spsc", "cacheline-pingpong"};
  const auto rows = rb::run_ring_bench(opt);
  ASSERT_EQ(rows.size(), 5U);
  const auto json = rb::ring_results_json(rows);
  ASSERT_TRUE(json.is_array());
  for (const auto& row : json) {
    EXPECT_EQ(row.size(), 7U);
    EXPECT_TRUE(row["transport"].is_string());
    EXPECT_TRUE(row["item_bytes"].is_number_unsigned());
    EXPECT_TRUE(row["batch"].is_number_unsigned());
    EXPECT_GT(row["items_per_s"].get<double>(), 0.0);
    const bool single = row["batch"].get<int>() == 1;
    EXPECT_EQ(row["rtt_ns_p50"].is_null(), !single);
    EXPECT_EQ(row["rtt_ns_p99"].is_null(), !single);
    EXPECT_EQ(row["cpus"], nlohmann::json({opt.cpu_a, opt.cpu_b}));
  }
  // Targets whose rows were not run are reported as such, not as met.
  for (const auto& c : rb::check_ring_targets(rows))
    if (c.name.find("boost") != std::string::npos) {
      EXPECT_FALSE(c.ratio.has_value());
      EXPECT_FALSE(c.met());
    }
}

TEST(BenchRingBench, BadOptionsAreTypedErrors) {
  auto code_of = [](const rb::RingBenchOptions& o) {
    try {
      (void)rb::run_ring_bench(o);
    } catch (const rb::BenchError& e) {
      EXPECT_GT(std::string(e.what()).size(), 10U);
      return e.code();
    }
    ADD_FAILURE() << "accepted";
    return rb::BenchErrc::system_error;
  };
  auto o = tiny();
  o.cpu_b = o.cpu_a;
  EXPECT_EQ(code_of(o), rb::BenchErrc::same_cpu);
  o = tiny();
  o.cpu_b = 4096;
  EXPECT_EQ(code_of(o), rb::BenchErrc::cpu_not_allowed);
  o = tiny();
  o.transports = {"carrier-pigeon"};
  EXPECT_EQ(code_of(o), rb::BenchErrc::invalid_argument);
  o = tiny();
  o.phase_ms = -1;
  EXPECT_EQ(code_of(o), rb::BenchErrc::invalid_argument);
}

TEST(BenchRingBench, RatiosComeFromTheSameRounds) {
  rb::RingResult ours;
  ours.items_per_s_rounds = {10, 40, 90};
  ours.rtt_ns_p50_rounds = {100, 100, 100};
  rb::RingResult peer;
  peer.items_per_s_rounds = {5, 10, 30};  // ratios 2, 4, 3
  peer.rtt_ns_p50_rounds = {50, 200, 100};
  EXPECT_DOUBLE_EQ(*rb::round_ratio(ours, peer, false), 3.0);
  EXPECT_DOUBLE_EQ(*rb::round_ratio(ours, peer, true), 1.0);
  rb::RingResult empty;
  EXPECT_FALSE(rb::round_ratio(ours, empty, true).has_value());
}
