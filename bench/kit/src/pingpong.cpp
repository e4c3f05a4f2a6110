#include "ringpool/bench/pingpong.hpp"

#include <algorithm>
#include <string>

#include "ringpool/bench/child.hpp"
#include "ringpool/bench/errors.hpp"
#include "ringpool/bench/pin.hpp"
#include "ringpool/bench/spin.hpp"

namespace ringpool::bench {

namespace {

[[noreturn]] void peer_gone(const char* side) {
  throw BenchError(BenchErrc::child_timeout,
                   std::string("cache-line ping-pong: the ") + side +
                       " stopped answering (is the other process running on its CPU?)");
}

}  // namespace

std::vector<double> pingpong_initiate(PingPongLine& line, std::size_t warmup,
                                      std::size_t round_trips, const Clock& clock,
                                      std::chrono::nanoseconds timeout) {
  std::vector<double> samples;
  samples.reserve(round_trips);
  // acquire: pairs with the responder's last release store of the previous session (the
  // line is idle and even between sessions).
  std::uint64_t turn = line.turn.load(std::memory_order_acquire);
  turn += turn & 1U;  // a session starts on an even value
  std::uint64_t last = clock.start();
  for (std::size_t i = 0; i < warmup + round_trips; ++i) {
    // release: pairs with the responder's acquire load in pingpong_respond().
    line.turn.store(turn + 1, std::memory_order_release);
    // acquire: pairs with the responder's release store of turn + 2.
    if (!spin_until([&] { return line.turn.load(std::memory_order_acquire) == turn + 2; }, timeout))
      peer_gone("responder");
    turn += 2;
    const std::uint64_t now = clock.stop();
    if (i >= warmup) samples.push_back(clock.to_ns(now - last));
    last = now;
  }
  return samples;
}

void pingpong_respond(PingPongLine& line, std::size_t warmup, std::size_t round_trips,
                      std::chrono::nanoseconds timeout) {
  // acquire: pairs with the initiator's release store; an odd value means the first ping is
  // already there, so the session base is one below it.
  std::uint64_t turn = line.turn.load(std::memory_order_acquire);
  turn -= turn & 1U;
  for (std::size_t i = 0; i < warmup + round_trips; ++i) {
    // acquire: pairs with the initiator's release store of turn + 1.
    if (!spin_until([&] { return line.turn.load(std::memory_order_acquire) == turn + 1; }, timeout))
      peer_gone("initiator");
    // release: pairs with the initiator's acquire load waiting for turn + 2.
    line.turn.store(turn + 2, std::memory_order_release);
    turn += 2;
  }
}

PingPongResult cacheline_pingpong(const PingPongOptions& options) {
  if (options.round_trips == 0)
    throw BenchError(BenchErrc::invalid_argument, "cacheline_pingpong: round_trips must be > 0");
  check_cpu_pair({options.cpu_a, options.cpu_b});
  const Clock clock = Clock::best();
  SharedObject<PingPongLine> line;
  AffinityGuard guard;
  pin_to_cpu(options.cpu_a);
  PingPongLine* shared = line.get();
  auto child = ChildProcess::spawn(options.cpu_b, [shared, &options] {
    pingpong_respond(*shared, options.warmup, options.round_trips);
  });
  const Stopwatch wall;
  auto samples = pingpong_initiate(*shared, options.warmup, options.round_trips, clock);
  const double seconds = wall.seconds();
  child.join();
  PingPongResult result;
  result.cpu_a = options.cpu_a;
  result.cpu_b = options.cpu_b;
  result.rtt_ns = summarize(samples);
  result.one_way_ns = result.rtt_ns.p50 / 2.0;
  result.handoffs_per_s = 2.0 * static_cast<double>(options.warmup + options.round_trips) / seconds;
  return result;
}

double probe_initiate(PingPongLine& line, const Clock& clock, std::size_t round_trips) {
  const auto samples =
      pingpong_initiate(line, std::min(kProbeWarmup, round_trips / 2), round_trips, clock);
  return median(samples);
}

void probe_respond(PingPongLine& line, std::size_t round_trips) {
  pingpong_respond(line, std::min(kProbeWarmup, round_trips / 2), round_trips);
}

}  // namespace ringpool::bench
