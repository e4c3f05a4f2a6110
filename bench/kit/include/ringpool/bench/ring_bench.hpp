#pragma once
// The measurement behind `ringpool bench rings`: ringpool's rings against Boost.Lockfree,
// Boost.Interprocess, pipes, Unix sockets and the cache-line floor, producer and consumer
// in two processes pinned to CPUs A and B, interleaved over rounds, medians reported.
#include <cstddef>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ringpool::bench {

// Transport names, in table order. The last one is the physical floor.
inline constexpr std::string_view kRingpoolSpsc = "ringpool-spsc";
inline constexpr std::string_view kRingpoolMpmc = "ringpool-mpmc";
inline constexpr std::string_view kBoostSpsc = "boost-spsc_queue";
inline constexpr std::string_view kBoostQueue = "boost-queue";
inline constexpr std::string_view kBoostMessageQueue = "boost-message_queue";
inline constexpr std::string_view kPipe = "pipe";
inline constexpr std::string_view kSocketpair = "socketpair";
inline constexpr std::string_view kCachelinePingpong = "cacheline-pingpong";
[[nodiscard]] const std::vector<std::string_view>& ring_transports();

struct RingBenchOptions {
  int cpu_a = 0;  // producer / ping side (this process, pinned for the run; mask restored)
  int cpu_b = 1;  // consumer / pong side (a forked child per trial)
  // Recorded rounds; 0 = default (12, or 3 when quick). One extra warm-up round sizes
  // every trial and is not recorded.
  std::size_t rounds = 0;
  // A few seconds in total (tests, smoke runs): short trials, 3 rounds. Also turned on by
  // the environment variable RINGPOOL_BENCH_QUICK=1.
  bool quick = false;
  // Target duration of one timed phase (throughput or round trips) of one trial, after
  // warm-up; 0 = default (50 ms, 2 ms when quick).
  double phase_ms = 0;
  // Subset of ring_transports() to run; empty = all. Unknown names are an invalid_argument.
  std::vector<std::string> transports;
  // Called after every recorded trial: what ran, trials done, trials in total. May be empty.
  std::function<void(std::string_view what, std::size_t done, std::size_t total)> progress;
};

// One row: a transport at one item size and batch size. Figures are medians over rounds.
struct RingResult {
  std::string transport;
  std::size_t item_bytes = 8;  // 8 or 64
  std::size_t batch = 1;       // 1 (one item per call) or 32 (one call per 32 items)
  // Items per second, producer to consumer, streaming. For cacheline-pingpong: one-way
  // hand-offs per second during the ping-pong (two per round trip), not a streaming rate.
  double items_per_s = 0;
  // Round trip A -> B -> A of one item over two channels (one each way): medians over rounds
  // of each trial's p50 / p99. Present for batch 1 rows, nullopt for batch 32.
  std::optional<double> rtt_ns_p50;
  std::optional<double> rtt_ns_p99;
  int cpu_a = 0;
  int cpu_b = 0;
  // Per-round figures (same round order for every row; for ratios within one run).
  std::vector<double> items_per_s_rounds;
  std::vector<double> rtt_ns_p50_rounds;
  // Trials whose placement probes (ping-pong p50 before / after) differ by more than 1.5x.
  std::size_t disturbed_trials = 0;
  std::vector<double> probe_ns_rounds;  // the before-probe of each recorded trial
};

// Runs the whole comparison. Validates the CPUs first (check_cpu_pair: BenchError
// cpu_not_allowed / same_cpu) and the options (invalid_argument). Throws BenchError
// (child_failed, child_timeout, system_error) if a trial fails. Leaves nothing in /dev/shm.
[[nodiscard]] std::vector<RingResult> run_ring_bench(const RingBenchOptions& options);

// The performance targets ringpool's rings are held to, checked on one run's rows. A target
// is met only when the median and the whole interquartile range of the per-round ratios
// meet it (BENCHMARKING.md): a median that meets it while p25 (">=") or p75 ("<=") does not
// is not met.
struct TargetCheck {
  std::string name;      // e.g. "ringpool-spsc 8 B single-item throughput vs boost-spsc_queue"
  std::string relation;  // ">=" (ours / peer must be at least) or "<=" (at most)
  double threshold = 0;  // 1.5, 1.2, 1.5, 2.0
  std::optional<double> ratio;      // median of per-round ratios; nullopt when a row is missing
  std::optional<double> ratio_p25;  // quartiles of the per-round ratios (with ratio)
  std::optional<double> ratio_p75;
  [[nodiscard]] bool meets(double v) const noexcept {
    return relation == ">=" ? v >= threshold : v <= threshold;
  }
  [[nodiscard]] bool met() const noexcept {
    if (!ratio || !meets(*ratio)) return false;
    const std::optional<double>& worst = relation == ">=" ? ratio_p25 : ratio_p75;
    return !worst || meets(*worst);
  }
};
[[nodiscard]] std::vector<TargetCheck> check_ring_targets(const std::vector<RingResult>& rows);

// Median over rounds of rows[i] / rows[j] for a per-round figure (items_per_s_rounds or
// rtt_ns_p50_rounds); nullopt when either row lacks it.
[[nodiscard]] std::optional<double> round_ratio(const RingResult& ours, const RingResult& peer,
                                                bool rtt);

// The rows as the JSON array `ringpool bench rings --json` prints:
// [{"transport", "item_bytes", "batch", "items_per_s", "rtt_ns_p50", "rtt_ns_p99", "cpus"}]
// with null round-trip fields where they do not apply.
[[nodiscard]] nlohmann::json ring_results_json(const std::vector<RingResult>& rows);

// The human-readable table plus the ratio summary and target checks.
[[nodiscard]] std::string format_ring_report(const std::vector<RingResult>& rows,
                                             std::size_t rounds);

}  // namespace ringpool::bench
