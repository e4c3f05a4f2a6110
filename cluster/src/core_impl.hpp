#pragma once
// ClusterCore::Impl: the state of rank 0's cluster engine and the parts that act on it, one
// file each (internal to cluster/src/):
//   core_ranks.cpp     rank bookkeeping: opening the remote pools, the plan, close/join/terminate
//   core_dispatch.cpp  chunks to the participant expected to finish them first (local or remote)
//   core_results.cpp   results and errors streaming back into the batches' sinks; the wait loop
//   core_liveness.cpp  noticing lost ranks (pid, silence past rank_timeout) and failing their items
//
// Locks: mu_ guards this pool's traffic (its outbox and mailbox) and the remote chunk
// table. Every MPI call is also made under the process's MPI lock (comm.hpp's mpi_mutex(),
// a leaf held only inside comm.cpp's calls), which keeps two pools used from two threads
// within MPI_THREAD_SERIALIZED; their messages are told apart by the pool's Mailbox.
// sink_mu_ is a leaf too: it is held around the calls
// into a batch's sink that touch its shared parts (fail, settled; all of them for remote
// results), from these files and from the local PoolCore's collector (through LocalChunk), so
// two threads never change one sink's shared state at once. Order: mu_, then the local
// pool's lock, then sink_mu_; mpi_mutex() never with sink_mu_.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "comm.hpp"
#include "ringpool/cluster/detail/cluster_core.hpp"
#include "ringpool/cluster/pool.hpp"
#include "ringpool/pool/detail/pool_core.hpp"
#include "wire.hpp"

namespace ringpool::cluster::detail {

struct ClusterCore::Impl {
  using ResultSink = pool::detail::ResultSink;
  using StateBase = pool::detail::StateBase;

  // A rank taking part (rank 0's local pool is participant 0 when options.local).
  struct Participant {
    int rank = 0;
    bool local = false;
    std::size_t workers = 0;
    std::size_t ring_messages = 0;
    std::size_t max_payload = 0;
    std::string host;
    pid_t pid = 0;
    bool same_host = false;
    std::atomic<std::size_t> in_flight{0};        // chunks handed to it, not settled
    std::atomic<std::size_t> items_in_flight{0};  // the items of those chunks
    // Its pace (note_done): items done and seconds of work, both decaying sums, so
    // items / seconds is its recent items per second while it had work (0 items: not
    // measured); and when it last finished a chunk (steady-clock nanoseconds). Written under
    // sink_mu_ (rank 0's own pool) or mu_ (a remote rank), read by choose() under mu_:
    // estimates only.
    std::atomic<double> paced_items{0};
    std::atomic<double> paced_seconds{0};
    std::atomic<std::int64_t> last_done_ns{0};
    std::atomic<bool> alive{true};
    // Remote only, under mu_:
    std::vector<std::byte> out;  // the tasks message being filled
    std::uint32_t frames = 0;
    std::vector<std::uint64_t> unsent;  // ids of the chunks in `out`, in order
    Clock::time_point last_heard{};
    bool open_answered = false;
    bool close_answered = false;
    std::string open_error;
  };

  // A chunk held by a remote rank.
  struct Chunk {
    ResultSink* sink = nullptr;
    StateBase* owned_state = nullptr;
    std::uint64_t base_index = 0;
    std::uint32_t count = 0;
    std::size_t participant = 0;
    Clock::time_point sent{};  // when it was handed out (its pace, note_done)
    // While the chunk waits in its participant's `out` (not sent yet): where its frame and
    // payload are there.
    std::size_t out_offset = 0;
    std::size_t out_bytes = 0;
  };

  // Rank 0's chunks in the local pool go through one of these: it forwards to the batch's
  // sink under sink_mu_ and gives the chunk's room back when it settles.
  struct LocalChunk final : ResultSink {
    Impl* impl = nullptr;
    ResultSink* target = nullptr;
    std::size_t cancelled = 0;  // items cancelled (never run), under sink_mu_
    std::size_t count = 0;      // its items
    Clock::time_point sent{};   // when it was handed out (its pace, note_done)
    // Without sink_mu_: a batch's sinks take deliveries of distinct items from several
    // threads (MapSink writes its own slot, ImapSink locks, a future has one item); fail()
    // and settled() change shared parts and take it.
    void deliver(std::uint64_t index, std::span<const std::byte> value) override;
    void fail(std::uint64_t index, std::exception_ptr error) noexcept override;
    void cancel_item(std::uint64_t index) noexcept override;
    void settled(std::size_t items) noexcept override;
  };

  // Runs the callbacks of futures completed while a lock was held (install() before taking
  // the lock, run() after releasing it).
  struct DeferredCallbacks {
    std::vector<std::function<void()>> callbacks;
    bool installed = false;
    void install() noexcept;
    void uninstall() noexcept;
    void run() noexcept;
  };

  struct RoomQuery {
    Impl* impl;
    std::size_t count;
  };

  // ---- rank bookkeeping (core_ranks.cpp) ---------------------------------------------
  explicit Impl(const PoolOptions& options);
  void open_remote(std::size_t n);
  std::size_t index_of(const Participant& p) const noexcept;
  Participant* participant_of(int rank) noexcept;
  bool plan_batch(std::size_t tasks);
  void close();
  void end_remote(Kind kind);
  void join();
  void terminate();

  // ---- dispatch (core_dispatch.cpp) --------------------------------------------------
  std::size_t limit_for(const Participant& p, std::size_t count) const noexcept;
  Participant* choose(std::size_t count) noexcept;
  // A chunk of `items` that `p` was handed at `sent` is done: updates p's pace.
  static void note_done(Participant& p, std::size_t items, Clock::time_point sent) noexcept;
  static bool has_room(const void* ctx) noexcept;
  static bool idle(const void* ctx) noexcept;
  void send(const ChunkRequest& req);
  LocalChunk* take_local_chunk();
  void send_local(Participant& p, const ChunkRequest& req);
  void send_remote(Participant& p, const ChunkRequest& req);
  void flush(Participant& p);
  // Future::cancel() / running() of a single submit (see ClusterCore).
  bool cancel(StateBase& state);
  bool running(const StateBase& state);
  // Under mu_: cancels `state`'s remote chunk while it is unsent; nullopt when `state` has no
  // remote chunk.
  std::optional<bool> cancel_remote(StateBase& state);

  // ---- results and progress (core_results.cpp) ---------------------------------------
  std::size_t receive_some();
  // Forgets a chunk that is done (`ran`: its items count for its rank in stats()).
  void settle_chunk(Participant& p, std::unordered_map<std::uint64_t, Chunk>::iterator it,
                    bool ran = true);
  void results(Participant& p, const Message& m);
  bool progress_locked();
  bool wait(bool (*ready)(const void*), const void* context,
            std::optional<Clock::time_point> deadline);
  bool outbox_pending_hint() noexcept;

  // ---- liveness (core_liveness.cpp) --------------------------------------------------
  void lose(Participant& p, const std::string& why);
  void check_liveness();

  PoolOptions options_;
  Mailbox mailbox_;  // this pool's id and its messages; closed (later ones dropped) last
  std::uint32_t pool_id_ = mailbox_.id();
  std::vector<std::unique_ptr<Participant>> participants_;
  std::unique_ptr<pool::detail::PoolCore> local_;
  std::size_t max_payload_ = 0;
  std::size_t workers_ = 0;

  std::mutex mu_;
  Outbox outbox_;
  std::unordered_map<std::uint64_t, Chunk> chunks_;
  // The remote chunk of each single submit's future (for cancel/running).
  std::unordered_map<const StateBase*, std::uint64_t> owned_chunks_;
  std::uint64_t next_chunk_ = 0;
  std::atomic<std::size_t> remote_in_flight_{0};
  Clock::time_point last_liveness_check_{};
  std::size_t malformed_ = 0;
  bool closed_ = false;
  bool joined_ = false;
  std::uint64_t chunks_sent_ = 0;
  std::uint64_t ranks_lost_ = 0;
  std::uint64_t failed_lost_ = 0;

  std::mutex sink_mu_;
  std::deque<LocalChunk> local_chunks_;        // stable addresses
  std::vector<LocalChunk*> free_local_;        // under sink_mu_
  std::vector<std::uint64_t> items_per_rank_;  // under sink_mu_
  std::atomic<std::uint64_t> local_settled_{0};

  mutable std::mutex plan_mu_;
  LastPlan plan_;
};

}  // namespace ringpool::cluster::detail
