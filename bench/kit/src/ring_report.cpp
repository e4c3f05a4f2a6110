// Human-readable rendering of `ringpool bench rings` results.
#include <fmt/format.h>

#include <string>

#include "ringpool/bench/ring_bench.hpp"

namespace ringpool::bench {

namespace {

std::string format_ns(double ns) {
  if (ns >= 10'000) return fmt::format("{:.1f} us", ns / 1e3);
  return fmt::format("{:.0f} ns", ns);
}

std::string format_rate(double per_s) {
  if (per_s >= 1e6) return fmt::format("{:.1f} M", per_s / 1e6);
  if (per_s >= 1e3) return fmt::format("{:.1f} k", per_s / 1e3);
  return fmt::format("{:.0f}", per_s);
}

const RingResult* find(const std::vector<RingResult>& rows, std::string_view transport,
                       std::size_t item_bytes, std::size_t batch) {
  for (const auto& r : rows)
    if (r.transport == transport && r.item_bytes == item_bytes && r.batch == batch) return &r;
  return nullptr;
}

std::string ratio_text(const std::optional<double>& ratio, std::string_view of) {
  if (!ratio) return {};
  return fmt::format("{:.2f}x {}", *ratio, of);
}

}  // namespace

std::string format_ring_report(const std::vector<RingResult>& rows, std::size_t rounds) {
  std::string out;
  if (rows.empty()) return "no results\n";
  const int a = rows.front().cpu_a;
  const int b = rows.front().cpu_b;
  out += fmt::format(
      "ringpool bench rings: producer/ping on CPU {}, consumer/pong on CPU {}; medians over {} "
      "interleaved rounds\n\n",
      a, b, rounds);
  out += fmt::format("{:<20} {:>5} {:>5} {:>12} {:>10} {:>10} {:>10}\n", "transport", "item",
                     "batch", "items/s", "rtt p50", "rtt p99", "disturbed");
  bool floor_row = false;
  for (const auto& r : rows) {
    const bool is_floor = r.transport == kCachelinePingpong;
    floor_row = floor_row || is_floor;
    out += fmt::format("{:<20} {:>3} B {:>5} {:>12} {:>10} {:>10} {:>10}\n", r.transport,
                       r.item_bytes, r.batch, format_rate(r.items_per_s) + (is_floor ? "*" : ""),
                       r.rtt_ns_p50 ? format_ns(*r.rtt_ns_p50) : "-",
                       r.rtt_ns_p99 ? format_ns(*r.rtt_ns_p99) : "-",
                       fmt::format("{}/{}", r.disturbed_trials, r.items_per_s_rounds.size()));
  }
  if (floor_row)
    out +=
        "  * cacheline-pingpong: one-way hand-offs per second while bouncing one cache line "
        "(2 per round trip), not a streaming rate\n";
  out += "  disturbed: trials whose placement probes (ping-pong before/after) differ by > 1.5x\n";

  out +=
      "\nringpool against its peers (medians of per-round ratios, same run; items/s: higher "
      "is better, rtt: lower is better)\n";
  const RingResult* floor = find(rows, kCachelinePingpong, 8, 1);
  for (const auto& r : rows) {
    std::string_view peer_name;
    if (r.transport == kRingpoolSpsc) peer_name = kBoostSpsc;
    if (r.transport == kRingpoolMpmc) peer_name = kBoostQueue;
    if (peer_name.empty()) continue;
    const RingResult* peer = find(rows, peer_name, r.item_bytes, r.batch);
    std::string line =
        fmt::format("  {:<14} {:>2} B x{:<2}  items/s:", r.transport, r.item_bytes, r.batch);
    if (peer) line += fmt::format(" {}", ratio_text(round_ratio(r, *peer, false), peer_name));
    if (floor)
      line += fmt::format(", {}", ratio_text(round_ratio(r, *floor, false), "floor hand-off rate"));
    if (r.rtt_ns_p50) {
      line += ";  rtt p50:";
      if (peer) line += fmt::format(" {}", ratio_text(round_ratio(r, *peer, true), peer_name));
      if (floor)
        line += fmt::format(", {}", ratio_text(round_ratio(r, *floor, true), "cacheline-pingpong"));
    }
    out += line;
    out += '\n';
  }

  out +=
      "\ntargets (met only when the median and the whole p25-p75 range of the per-round ratios "
      "meet them)\n";
  for (const auto& t : check_ring_targets(rows)) {
    if (!t.ratio) {
      out += fmt::format("  [not run] {} (target {} {})\n", t.name, t.relation, t.threshold);
      continue;
    }
    const char* status = t.met()             ? "met"
                         : t.meets(*t.ratio) ? "NOT MET: p25-p75 crosses it"
                                             : "MISSED";
    out += fmt::format("  [{}] {}: {:.2f}{} (target {} {})\n", status, t.name, *t.ratio,
                       t.ratio_p25 && t.ratio_p75
                           ? fmt::format(", p25-p75 {:.2f}-{:.2f}", *t.ratio_p25, *t.ratio_p75)
                           : std::string(),
                       t.relation, t.threshold);
  }
  return out;
}

}  // namespace ringpool::bench
