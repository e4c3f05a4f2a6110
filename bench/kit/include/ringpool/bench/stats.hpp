#pragma once
// Order statistics over benchmark samples. All functions take samples by span, copy what
// they sort, and throw BenchError(invalid_argument) on an empty input or a bad percentile.
#include <cstddef>
#include <span>

namespace ringpool::bench {

struct Summary {
  std::size_t count = 0;
  double min = 0;
  double max = 0;
  double mean = 0;
  double p50 = 0;
  double p99 = 0;
};

// The p-th percentile, p in [0, 100], by linear interpolation between the closest ranks
// (NumPy's default): percentile({1,2,3,4}, 50) == 2.5, percentile(x, 0) == min, 100 == max.
[[nodiscard]] double percentile(std::span<const double> samples, double p);
// percentile(samples, 50).
[[nodiscard]] double median(std::span<const double> samples);
// count, min, max, mean, p50, p99 in one sort.
[[nodiscard]] Summary summarize(std::span<const double> samples);
// Median over i of numerator[i] / denominator[i] (per-round ratios of two contenders that
// ran in the same rounds). Sizes must match; a zero denominator is an invalid_argument.
[[nodiscard]] double median_of_ratios(std::span<const double> numerator,
                                      std::span<const double> denominator);

}  // namespace ringpool::bench
