// echo_round_trips_us(): rank 0's side of the echo diagnostic (the serving loop answers in
// init.cpp).
#include <chrono>
#include <string>

#include "comm.hpp"
#include "ringpool/cluster/cluster.hpp"
#include "ringpool/cluster/detail/diagnostics.hpp"
#include "ringpool/cluster/errors.hpp"

namespace ringpool::cluster::detail {

std::vector<double> echo_round_trips_us(int rank, std::size_t samples) {
  const std::size_t world = world_size();  // throws before init()
  if (rank <= 0 || static_cast<std::size_t>(rank) >= world) {
    throw ClusterError("ringpool: echo to rank " + std::to_string(rank) + " in a job of " +
                       std::to_string(world) + " rank(s)");
  }
  constexpr std::size_t kWarmUp = 200;
  std::vector<double> us;
  us.reserve(samples);
  Outbox outbox;
  Mailbox mailbox;  // its own id: the answers do not mix with a live pool's messages
  std::size_t malformed = 0;
  for (std::size_t i = 0; i < kWarmUp + samples; ++i) {
    const auto start = Clock::now();
    outbox.send(rank, begin_message(Kind::echo, mailbox.id()));
    Backoff backoff(true, std::chrono::microseconds(0));
    for (;;) {
      auto m = mailbox.receive(malformed);
      if (m && m->source == rank && m->header.kind == static_cast<std::uint32_t>(Kind::echo)) {
        break;
      }
      if (m) continue;  // nothing else is sent to this id
      if (Clock::now() - start > std::chrono::seconds(5)) {
        throw ClusterError("ringpool: rank " + std::to_string(rank) +
                           " did not answer an echo within 5 s");
      }
      backoff.pause();
    }
    if (i >= kWarmUp) {
      us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    }
    outbox.poll();
  }
  (void)outbox.drain(Clock::now() + std::chrono::seconds(1));
  return us;
}

}  // namespace ringpool::cluster::detail
