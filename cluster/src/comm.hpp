#pragma once
// The MPI side of the cluster module: the communicator, the process's MPI lock,
// non-blocking sends that own their buffers, receiving whole messages (and rank 0's
// mailboxes, one per live cluster pool), and the back-off of polling loops. Internal; every
// MPI call of ringpool::cluster is behind these (and in init.cpp), each made with
// mpi_mutex() held, so that any number of pools used from any threads keep to
// MPI_THREAD_SERIALIZED. An Outbox itself is not thread-safe (its owner serialises).
#include <mpi.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
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

// The process's MPI lock: every MPI call of ringpool::cluster is made with it held. A leaf
// (nothing else is locked, and no pool or sink is called, while it is held).
[[nodiscard]] std::mutex& mpi_mutex() noexcept;

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
// loops), its source counted in `malformed`. For the serving ranks, whose one loop takes
// every message; rank 0's pools receive through their Mailbox.
[[nodiscard]] std::optional<Message> try_receive(std::size_t& malformed);

// Rank 0's receiving point, shared by every cluster pool alive in the process (and the echo
// diagnostic): a Mailbox takes a fresh pool id and, while it lives, keeps the messages for
// that id that another pool's receive took off MPI, in arrival order. receive() hands out
// the mailbox's own kept messages first, then reads MPI: a message for this id is returned,
// one for another live id goes to that id's mailbox, one for an id no mailbox holds (a
// late answer to a pool that is gone) is dropped. Heartbeats (pool id 0) are only noted
// (heard_from). Thread-safe (under mpi_mutex()).
class Mailbox {
 public:
  Mailbox();
  ~Mailbox();
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;

  [[nodiscard]] std::uint32_t id() const noexcept { return id_; }
  // The next message for this id, or nullopt when none has come (having read at most a
  // bounded number of messages for others). Malformed messages are dropped and counted.
  [[nodiscard]] std::optional<Message> receive(std::size_t& malformed);

 private:
  std::uint32_t id_;
};

// When this process last received any message (for any pool, heartbeats included) from
// `rank`; the epoch when never.
[[nodiscard]] Clock::time_point heard_from(int rank);

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
