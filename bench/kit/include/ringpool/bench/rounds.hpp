#pragma once
// Interleaved rounds (BENCHMARKING.md: "in each round every contender runs once"): the vCPU
// placement changes every few seconds, so contenders are compared within rounds, never as
// all-of-A-then-all-of-B. Round r runs the contenders in rotated order starting at r mod N.
#include <algorithm>
#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "ringpool/bench/errors.hpp"
#include "ringpool/bench/stats.hpp"

namespace ringpool::bench {

// The order contenders run in during `round`: a rotation of 0..contenders-1 starting at
// round % contenders (plain 0..N-1 when rotate is false).
[[nodiscard]] std::vector<std::size_t> round_order(std::size_t contenders, std::size_t round,
                                                   bool rotate = true);

// One contender: `run` performs one trial and returns its figure (R = double for a single
// number, or a struct of several figures).
template <class R = double>
struct Contender {
  std::string name;
  std::function<R()> run;
};

struct RoundsOptions {
  std::size_t rounds = 10;
  std::size_t warmup_rounds = 0;  // run but not recorded
  bool rotate = true;
  // Called after each recorded trial (progress display); may be empty.
  std::function<void(std::size_t round, std::size_t contender)> on_trial;
};

template <class R = double>
struct RoundsResult {
  std::vector<std::string> names;
  std::vector<std::vector<R>> samples;          // samples[contender][round]
  std::vector<std::vector<std::size_t>> order;  // order[round] = contender indices as run

  // Figure `proj` of contender i over all rounds (proj = identity for R = double).
  template <class Proj = std::identity>
  [[nodiscard]] std::vector<double> values(std::size_t i, Proj proj = {}) const {
    std::vector<double> out;
    out.reserve(samples.at(i).size());
    for (const R& s : samples.at(i)) out.push_back(static_cast<double>(std::invoke(proj, s)));
    return out;
  }
  // Median over rounds of contender i's figure.
  template <class Proj = std::identity>
  [[nodiscard]] double median(std::size_t i, Proj proj = {}) const {
    const auto v = values(i, proj);
    return bench::median(v);
  }
  // Median over rounds of (figure of i) / (figure of j) taken in the same round.
  template <class Proj = std::identity>
  [[nodiscard]] double median_ratio(std::size_t i, std::size_t j, Proj proj = {}) const {
    const auto a = values(i, proj);
    const auto b = values(j, proj);
    return bench::median_of_ratios(a, b);
  }
};

// Runs warmup_rounds + rounds rounds; in each, every contender's run() once, in
// round_order(). Exceptions from run() propagate (the run is abandoned). Throws
// BenchError(invalid_argument) for no contenders or rounds == 0.
template <class R>
[[nodiscard]] RoundsResult<R> run_rounds(std::span<const Contender<R>> contenders,
                                         const RoundsOptions& options) {
  if (contenders.empty())
    throw BenchError(BenchErrc::invalid_argument, "run_rounds: no contenders given");
  if (options.rounds == 0)
    throw BenchError(BenchErrc::invalid_argument, "run_rounds: rounds must be at least 1");
  RoundsResult<R> result;
  for (const auto& c : contenders) result.names.push_back(c.name);
  result.samples.resize(contenders.size());
  for (std::size_t r = 0; r < options.warmup_rounds + options.rounds; ++r) {
    const bool recorded = r >= options.warmup_rounds;
    const std::size_t round = recorded ? r - options.warmup_rounds : r;
    auto order = round_order(contenders.size(), round, options.rotate);
    for (std::size_t i : order) {
      R figure = contenders[i].run();
      if (!recorded) continue;
      result.samples[i].push_back(std::move(figure));
      if (options.on_trial) options.on_trial(round, i);
    }
    if (recorded) result.order.push_back(std::move(order));
  }
  return result;
}

template <class R>
[[nodiscard]] RoundsResult<R> run_rounds(const std::vector<Contender<R>>& contenders,
                                         const RoundsOptions& options) {
  return run_rounds(std::span<const Contender<R>>(contenders), options);
}

}  // namespace ringpool::bench
