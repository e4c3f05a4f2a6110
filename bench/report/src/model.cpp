#include "ringpool/report/model.hpp"

#include <utility>

namespace ringpool::report {

Comparison compare(std::string section, std::string what, Figure ours, Figure peer,
                   bool higher_is_better) {
  Comparison c;
  c.section = std::move(section);
  c.what = std::move(what);
  c.ratio = peer.value != 0.0 ? ours.value / peer.value : 0.0;
  c.speedup = higher_is_better ? c.ratio : (c.ratio != 0.0 ? 1.0 / c.ratio : 0.0);
  c.ours = std::move(ours);
  c.peer = std::move(peer);
  c.higher_is_better = higher_is_better;
  return c;
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
