#include "ringpool/bench/stats.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "ringpool/bench/errors.hpp"

namespace rb = ringpool::bench;

TEST(BenchStats, MedianOfOddAndEvenCounts) {
  const std::vector<double> odd{5, 1, 3};
  const std::vector<double> even{4, 1, 3, 2};
  EXPECT_DOUBLE_EQ(rb::median(odd), 3.0);
  EXPECT_DOUBLE_EQ(rb::median(even), 2.5);
}

TEST(BenchStats, PercentileInterpolatesBetweenClosestRanks) {
  std::vector<double> v;
  for (int i = 100; i >= 0; --i) v.push_back(i);  // 0..100, unsorted input
  EXPECT_DOUBLE_EQ(rb::percentile(v, 0), 0.0);
  EXPECT_DOUBLE_EQ(rb::percentile(v, 50), 50.0);
  EXPECT_DOUBLE_EQ(rb::percentile(v, 99), 99.0);
  EXPECT_DOUBLE_EQ(rb::percentile(v, 100), 100.0);
  const std::vector<double> two{10, 20};
  EXPECT_DOUBLE_EQ(rb::percentile(two, 25), 12.5);
}

TEST(BenchStats, SummaryHasMinMaxMeanP50P99) {
  std::vector<double> v;
  for (int i = 1; i <= 200; ++i) v.push_back(i);
  const auto s = rb::summarize(v);
  EXPECT_EQ(s.count, 200U);
  EXPECT_DOUBLE_EQ(s.min, 1.0);
  EXPECT_DOUBLE_EQ(s.max, 200.0);
  EXPECT_DOUBLE_EQ(s.mean, 100.5);
  EXPECT_DOUBLE_EQ(s.p50, 100.5);
  EXPECT_DOUBLE_EQ(s.p99, 1.0 + 0.99 * 199.0);
}

TEST(BenchStats, SingleSample) {
  const std::vector<double> one{7};
  const auto s = rb::summarize(one);
  EXPECT_DOUBLE_EQ(s.min, 7);
  EXPECT_DOUBLE_EQ(s.p50, 7);
  EXPECT_DOUBLE_EQ(s.p99, 7);
}

TEST(BenchStats, MedianOfRatiosPairsRounds) {
  const std::vector<double> a{2, 30, 8};
  const std::vector<double> b{1, 10, 2};  // ratios 2, 3, 4
  EXPECT_DOUBLE_EQ(rb::median_of_ratios(a, b), 3.0);
}

TEST(BenchStats, BadInputIsATypedError) {
  const std::vector<double> empty;
  const std::vector<double> v{1, 2};
  const std::vector<double> three{1, 2, 3};
  const std::vector<double> zero{1, 0};
  auto code_of = [](auto&& f) {
    try {
      f();
    } catch (const rb::BenchError& e) {
      EXPECT_NE(std::string(e.what()).size(), 0U);
      return e.code();
    }
    ADD_FAILURE() << "no BenchError thrown";
    return rb::BenchErrc::system_error;
  };
  EXPECT_EQ(code_of([&] { (void)rb::median(empty); }), rb::BenchErrc::invalid_argument);
  EXPECT_EQ(code_of([&] { (void)rb::summarize(empty); }), rb::BenchErrc::invalid_argument);
  EXPECT_EQ(code_of([&] { (void)rb::percentile(v, 101); }), rb::BenchErrc::invalid_argument);
  EXPECT_EQ(code_of([&] { (void)rb::percentile(v, -1); }), rb::BenchErrc::invalid_argument);
  EXPECT_EQ(code_of([&] { (void)rb::median_of_ratios(v, three); }),
            rb::BenchErrc::invalid_argument);
  EXPECT_EQ(code_of([&] { (void)rb::median_of_ratios(v, zero); }), rb::BenchErrc::invalid_argument);
}
