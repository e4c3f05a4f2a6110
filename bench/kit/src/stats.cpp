#include "ringpool/bench/stats.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "ringpool/bench/errors.hpp"

namespace ringpool::bench {

namespace {

void require_samples(std::span<const double> samples, const char* what) {
  if (samples.empty())
    throw BenchError(BenchErrc::invalid_argument,
                     std::string(what) + ": no samples (run at least one trial)");
}

// Linear interpolation between closest ranks over sorted data.
double percentile_sorted(const std::vector<double>& sorted, double p) {
  const double rank = p / 100.0 * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(rank));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  const double frac = rank - static_cast<double>(lo);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
}

void require_percent(double p) {
  if (!(p >= 0.0 && p <= 100.0))
    throw BenchError(BenchErrc::invalid_argument,
                     "percentile: p must be within [0, 100], got " + std::to_string(p));
}

}  // namespace

double percentile(std::span<const double> samples, double p) {
  require_samples(samples, "percentile");
  require_percent(p);
  std::vector<double> sorted(samples.begin(), samples.end());
  std::sort(sorted.begin(), sorted.end());
  return percentile_sorted(sorted, p);
}

double median(std::span<const double> samples) {
  require_samples(samples, "median");
  return percentile(samples, 50.0);
}

Summary summarize(std::span<const double> samples) {
  require_samples(samples, "summarize");
  std::vector<double> sorted(samples.begin(), samples.end());
  std::sort(sorted.begin(), sorted.end());
  Summary s;
  s.count = sorted.size();
  s.min = sorted.front();
  s.max = sorted.back();
  s.mean = std::accumulate(sorted.begin(), sorted.end(), 0.0) / static_cast<double>(s.count);
  s.p50 = percentile_sorted(sorted, 50.0);
  s.p99 = percentile_sorted(sorted, 99.0);
  return s;
}

double median_of_ratios(std::span<const double> numerator, std::span<const double> denominator) {
  require_samples(numerator, "median_of_ratios");
  if (numerator.size() != denominator.size())
    throw BenchError(BenchErrc::invalid_argument,
                     "median_of_ratios: the two contenders have " +
                         std::to_string(numerator.size()) + " and " +
                         std::to_string(denominator.size()) +
                         " samples; ratios need figures from the same rounds");
  std::vector<double> ratios;
  ratios.reserve(numerator.size());
  for (std::size_t i = 0; i < numerator.size(); ++i) {
    if (denominator[i] == 0.0)
      throw BenchError(BenchErrc::invalid_argument,
                       "median_of_ratios: denominator is zero in round " + std::to_string(i));
    ratios.push_back(numerator[i] / denominator[i]);
  }
  return median(ratios);
}

}  // namespace ringpool::bench
