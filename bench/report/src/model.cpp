#include "ringpool/report/model.hpp"

#include <cmath>
#include <utility>

#include "ringpool/bench/stats.hpp"

namespace ringpool::report {

double Spread::relative(double median) const noexcept {
  if (rounds.empty() || median == 0.0) return 0.0;
  return (p75 - p25) / std::fabs(median);
}

Spread spread_over_rounds(std::vector<double> per_round) {
  Spread s;
  if (!per_round.empty()) {
    s.p25 = bench::percentile(per_round, 25.0);
    s.p75 = bench::percentile(per_round, 75.0);
  }
  s.rounds = std::move(per_round);
  return s;
}

Comparison compare(std::string section, std::string what, Figure ours, Figure peer,
                   bool higher_is_better) {
  Comparison c;
  c.section = std::move(section);
  c.what = std::move(what);
  c.ratio = peer.value != 0.0 ? ours.value / peer.value : 0.0;
  c.speedup = higher_is_better ? c.ratio : (c.ratio != 0.0 ? 1.0 / c.ratio : 0.0);
  // Per-round ratios: only rounds where both figures were measured the same way line up.
  const auto& a = ours.spread.rounds;
  const auto& b = peer.spread.rounds;
  if (!a.empty() && a.size() == b.size()) {
    std::vector<double> ratios;
    std::vector<double> speedups;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (a[i] <= 0.0 || b[i] <= 0.0) continue;  // a failed or empty round says nothing
      ratios.push_back(a[i] / b[i]);
      speedups.push_back(higher_is_better ? a[i] / b[i] : b[i] / a[i]);
    }
    c.ratio_spread = spread_over_rounds(std::move(ratios));
    c.speedup_spread = spread_over_rounds(std::move(speedups));
  }
  c.ours = std::move(ours);
  c.peer = std::move(peer);
  c.higher_is_better = higher_is_better;
  return c;
}

void evaluate(Target& t) {
  if (!t.value || !std::isfinite(*t.value)) {
    t.status = Target::Status::not_measured;
    return;
  }
  const bool at_least = t.relation == ">=";
  auto meets = [&](double v) { return at_least ? v >= t.threshold : v <= t.threshold; };
  if (!meets(*t.value)) {
    t.status = Target::Status::missed;
    return;
  }
  // The end of the interquartile range nearest the threshold must meet it too. Without
  // per-round values the median is all there is.
  const double worst = t.spread.empty() ? *t.value : (at_least ? t.spread.p25 : t.spread.p75);
  t.status = meets(worst) ? Target::Status::met : Target::Status::spread_crosses;
}

const char* to_string(Target::Status status) noexcept {
  switch (status) {
    case Target::Status::met:
      return "met";
    case Target::Status::spread_crosses:
      return "spread_crosses";
    case Target::Status::missed:
      return "missed";
    case Target::Status::not_measured:
      return "not_measured";
  }
  return "not_measured";
}

const C2cPair* C2cMatrix::find(unsigned a, unsigned b) const {
  if (a == b) return nullptr;
  for (const auto& p : pairs) {
    if ((p.a == a && p.b == b) || (p.a == b && p.b == a)) return &p;
  }
  return nullptr;
}

const C2cPair* C2cMatrix::fastest() const {
  const C2cPair* best = nullptr;
  for (const auto& p : pairs) {
    if (!best || p.one_way_ns_p50 < best->one_way_ns_p50) best = &p;
  }
  return best;
}

const C2cPair* C2cMatrix::slowest() const {
  const C2cPair* worst = nullptr;
  for (const auto& p : pairs) {
    if (!worst || p.one_way_ns_p50 > worst->one_way_ns_p50) worst = &p;
  }
  return worst;
}

}  // namespace ringpool::report
