#pragma once
// The MPI side of the cluster module: the communicator, non-blocking sends that own their
// buffers, receiving whole messages, and the back-off of polling loops. Internal; every
// MPI call of ringpool::cluster is behind these (and in init.cpp). Not thread-safe: the
// caller serialises (MPI_THREAD_SERIALIZED).
#include <mpi.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "wire.hpp"

namespace ringpool::cluster::detail {

using Clock = std::chrono::steady_clock;

// ringpool's own duplicate of MPI_COMM_WORLD (the program's own MPI traffic cannot mix
// with ours). Valid after init().
[[nodiscard]] MPI_Comm comm() noexcept;
[[nodiscard]] int this_rank() noexcept;
// Records that a cluster pool lost `rank` (rank 0): the end of the job does not wait for it.
void note_rank_lost(int rank) noexcept;

// Throws ClusterError naming `what` and MPI's error string when rc != MPI_SUCCESS.
void check_mpi(int rc, const char* what);

// Starts a message: Header {kind, pool_id, frames = 0} at the front of a new buffer.
[[nodiscard]] std::vector<std::byte> begin_message(Kind kind, std::uint32_t pool_id);
// Sets the frame count of a message begun by begin_message().
void set_frames(std::vector<std::byte>& message, std::uint32_t frames) noexcept;

// Non-blocking sends whose buffers live until MPI is done with them.
class Outbox {
 public:
  // MPI_Isend of `message` (tag = its kind) to `dest`; the outbox keeps the buffer.
  void send(int dest, std::vector<std::byte> message);
  // Frees the buffers of completed sends. Returns how many completed.
  std::size_t poll();
  // Sends not completed yet.
  [[nodiscard]] std::size_t pending() const noexcept { return sends_.size(); }
  // Waits (polling) until every send completed or `deadline`; true when all completed.
  bool drain(Clock::time_point deadline);
  // Gives up on the sends to `dest` (a lost rank): cancels them and drops their buffers.
  void abandon(int dest) noexcept;

 private:
  struct Pending {
    int dest = 0;
    MPI_Request request = MPI_REQUEST_NULL;
    std::vector<std::byte> buffer;
  };
  std::deque<Pending> sends_;
};

struct Message {
  int source = 0;
  Header header;
  std::vector<std::byte> body;  // after the header
};

// The next message for ringpool from any rank, if one has arrived (MPI_Iprobe + MPI_Recv).
// A message without a valid header is dropped (nullopt is not returned for it: the caller
// loops), its source counted in `malformed`.
[[nodiscard]] std::optional<Message> try_receive(std::size_t& malformed);

// Polling back-off for a loop that polls MPI (which has no wake-up to sleep on): spins for
// its first 4 calls, then yields on every call (a rank, its workers and other ranks may
// share a core: on this project's 2-vCPU host a yield per empty poll gave the shortest round
// trips, see docs/cluster.md) until `yield_for` has passed since the loop went idle, then
// sleeps 10 us, doubling up to `max_sleep`. Spin mode never sleeps. A loop waiting for work
// it knows is outstanding passes a long `yield_for`, so that no sleep sits on the hot path
// of a round trip.
class Backoff {
 public:
  Backoff(bool spin, std::chrono::microseconds max_sleep,
          std::chrono::microseconds yield_for = std::chrono::microseconds(50)) noexcept
      : spin_(spin), max_sleep_(max_sleep), yield_for_(yield_for) {}
  void reset() noexcept { idle_ = 0; }
  void pause() noexcept;
  // How long the loop has been idle (pausing without a reset); zero before the first pause.
  [[nodiscard]] Clock::duration idle_for() const noexcept {
    return idle_ == 0 ? Clock::duration::zero() : Clock::now() - idle_since_;
  }

 private:
  bool spin_;
  std::chrono::microseconds max_sleep_;
  std::chrono::microseconds yield_for_;
  unsigned idle_ = 0;
  Clock::time_point idle_since_{};
  std::chrono::microseconds sleep_{10};
};

// Is process `pid` on this host gone (dead or a zombie)? False when unsure.
[[nodiscard]] bool pid_gone(std::int64_t pid) noexcept;

}  // namespace ringpool::cluster::detail
