#pragma once
// Cache-line ping-pong: one 64-byte line bounced between two pinned processes. Its round
// trip is the physical floor of any shared-memory round trip between those CPUs; a short
// run before and after a trial tells which vCPU placement the trial ran in (BENCHMARKING.md).
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "ringpool/bench/clock.hpp"
#include "ringpool/bench/stats.hpp"

namespace ringpool::bench {

// Plain data in shared memory: the bounced word, alone on its 128-byte-spaced line.
// turn_ is even when the initiator may go, odd when the responder may.
struct PingPongLine {
  alignas(128) std::atomic<std::uint64_t> turn{0};
  char pad[128 - sizeof(std::atomic<std::uint64_t>)] = {};
};
static_assert(std::is_standard_layout_v<PingPongLine>);
static_assert(sizeof(PingPongLine) == 128);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

// Initiator side of a ping-pong session over `line`: `warmup` untimed round trips, then
// `round_trips` timed ones. Returns one sample per timed round trip in ns (consecutive
// clock stamps: one stamp per round trip, so the stamp cost is counted once, not twice).
// The responder must run pingpong_respond with the same counts at the same time.
// Throws BenchError(child_timeout) if the responder stops answering for `timeout`.
[[nodiscard]] std::vector<double> pingpong_initiate(
    PingPongLine& line, std::size_t warmup, std::size_t round_trips, const Clock& clock,
    std::chrono::nanoseconds timeout = std::chrono::seconds(10));
// Responder side: answers warmup + round_trips pings. Throws BenchError(child_timeout) if
// the initiator stops for `timeout`. Sessions on one line may follow each other.
void pingpong_respond(PingPongLine& line, std::size_t warmup, std::size_t round_trips,
                      std::chrono::nanoseconds timeout = std::chrono::seconds(10));

struct PingPongOptions {
  int cpu_a = 0;  // the initiator (this process, pinned for the run; its mask is restored)
  int cpu_b = 1;  // the responder (a forked child)
  std::size_t warmup = 2'000;
  std::size_t round_trips = 20'000;
};

struct PingPongResult {
  int cpu_a = 0;
  int cpu_b = 0;
  Summary rtt_ns;             // per round trip
  double one_way_ns = 0;      // rtt_ns.p50 / 2
  double handoffs_per_s = 0;  // one-way hand-offs per second over the run (2 per round trip)
};

// A whole ping-pong between CPUs A and B (validated with check_cpu_pair). Throws BenchError.
[[nodiscard]] PingPongResult cacheline_pingpong(const PingPongOptions& options);

// Placement probes taken before and after a trial (round-trip p50 in ns of a short
// ping-pong between the trial's two processes).
struct Probe {
  double before_ns = 0;
  double after_ns = 0;
  // True when the two probes differ by more than `tolerance` times (the vCPUs moved
  // during the trial; its figure mixes two placements).
  [[nodiscard]] bool disturbed(double tolerance = 1.5) const noexcept {
    if (before_ns <= 0 || after_ns <= 0) return false;
    const double hi = before_ns > after_ns ? before_ns : after_ns;
    const double lo = before_ns > after_ns ? after_ns : before_ns;
    return hi > lo * tolerance;
  }
};

// Round trips in one probe; short enough to cost well under a millisecond.
inline constexpr std::size_t kProbeRoundTrips = 1'000;
inline constexpr std::size_t kProbeWarmup = 100;

// Initiator / responder halves of one probe over `line` (p50 in ns for the initiator);
// both sides must pass the same round_trips.
[[nodiscard]] double probe_initiate(PingPongLine& line, const Clock& clock,
                                    std::size_t round_trips = kProbeRoundTrips);
void probe_respond(PingPongLine& line, std::size_t round_trips = kProbeRoundTrips);

}  // namespace ringpool::bench
