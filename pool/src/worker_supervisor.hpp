#pragma once
// WorkerSupervisor: starts, watches, replaces and stops a Pool's workers (internal to
// ringpool::pool).
//
// Workers are processes forked by the supervisor thread (PR_SET_PDEATHSIG fires when the
// *thread* that forked a child exits, so forking from a short-lived user thread would kill
// its workers), processes re-executed through spawn_worker (StartMethod::spawn), or
// threads of this process (StartMethod::thread). The supervisor thread lives as long as
// the pool: it starts the workers queued by respawn() and calls `tick` every few
// milliseconds (progress for futures nobody waits on, deaths of idle workers); `tick`
// returns true while tasks are in flight, which shortens the period.
//
// Locking: worker slots are guarded by the pool core's mutex `mu`, which every public
// member except start_all(), stop_thread() and the destructor expects the caller to hold
// (start_all and the supervisor thread take it themselves). It is held across fork, so
// whoever sees a new worker's first answer also sees its pid and the respawn count.
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core_config.hpp"
#include "ringpool/pool/spawn.hpp"
#include "shared_layout.hpp"
#include "worker_loop.hpp"

namespace ringpool::pool::detail {

class WorkerSupervisor {
 public:
  enum class State {
    starting,  // queued for a (re)start
    running,   // started (its loop may not have begun yet)
    dead,      // ended and reaped; its work not yet recovered
    retired,   // kept dying before its initializer finished: not restarted
    stopped,   // ended by join() or terminate()
  };
  struct Death {
    std::size_t index = 0;
    pid_t pid = 0;             // 0 for a thread worker
    int exitcode = 0;          // -signal when killed
    bool started = false;      // it had entered the worker loop
    bool initialized = false;  // its initializer had returned
  };

  WorkerSupervisor(const CoreConfig& config, const SharedLayout& layout, std::mutex& mu,
                   std::function<bool()> tick);
  ~WorkerSupervisor();
  WorkerSupervisor(const WorkerSupervisor&) = delete;
  WorkerSupervisor& operator=(const WorkerSupervisor&) = delete;

  // Starts the supervisor thread and every worker; returns once each was launched. Throws
  // PoolError when one cannot be (the others are then killed).
  void start_all();

  // Reaps the workers that ended since the last call, without blocking; each is `dead`
  // afterwards and handed to `on_death`, which recovers its work and then calls respawn()
  // or retire(). Returns how many ended.
  template <class F>
  std::size_t reap(F&& on_death) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      Death d;
      if (reap_one(i, d)) {
        ++n;
        on_death(d);
      }
    }
    return n;
  }
  // Queues dead worker i for a restart by the supervisor thread, after `delay`.
  void respawn(std::size_t i, std::chrono::milliseconds delay = {});
  // Dead worker i is not restarted.
  void retire(std::size_t i);

  // join(): from now on a worker that exits is stopped, not dead (no recovery, no restart).
  void begin_drain() noexcept;
  // Ends every worker now (SIGKILL; thread workers are asked to quit and joined) and stops
  // the supervisor thread. Idempotent.
  void kill_all();
  // join(): waits until every started worker has exited by itself (after its stop
  // message) or `give_up` passes, then kills the rest. The supervisor thread must be
  // stopped first. Caller does not hold mu.
  void wait_all_exit(std::chrono::steady_clock::time_point give_up);
  // Stops the supervisor thread (no more starts or ticks). Caller does not hold mu.
  void stop_thread();

  [[nodiscard]] State state(std::size_t i) const noexcept { return slots_[i].state; }
  [[nodiscard]] pid_t pid(std::size_t i) const noexcept { return slots_[i].pid; }
  // Worker i has exited (or none runs in its slot), whether or not reap() has seen it yet.
  // Caller holds mu.
  [[nodiscard]] bool has_exited(std::size_t i) const noexcept;
  // Some worker is being started or awaits recovery (join waits for it).
  [[nodiscard]] bool any_in_transition() const noexcept;
  // Every worker is retired: nothing can run a task.
  [[nodiscard]] bool all_retired() const noexcept;
  [[nodiscard]] std::uint64_t respawns() const noexcept { return respawns_; }

 private:
  struct Slot {
    pid_t pid = 0;  // > 0 only while a process worker is alive
    State state = State::starting;
    bool launched_once = false;
    // Thread workers (StartMethod::thread).
    std::thread thread;
    WorkerConfig* config = nullptr;  // owned by configs_
    std::atomic<bool> exited{false};
    std::atomic<int> exit_code{0};
  };

  void supervise();
  void launch(std::size_t i);
  bool reap_one(std::size_t i, Death& out);
  WorkerConfig worker_config(std::size_t i) const;
  ringpool::detail::SpawnRequest spawn_request(std::size_t i) const;
  void become_fork_worker(std::size_t i, std::string owner_name) const;
  void ask_thread_to_quit(std::size_t i) noexcept;

  const CoreConfig& config_;
  const SharedLayout& layout_;
  std::mutex& mu_;
  std::function<bool()> tick_;
  std::vector<Slot> slots_;
  std::vector<std::unique_ptr<WorkerConfig>> configs_;  // thread workers read theirs
  std::uint64_t respawns_ = 0;
  bool draining_ = false;  // join() or kill_all() began

  // Supervisor thread and its start queue, guarded by sup_mu_.
  std::mutex sup_mu_;
  std::condition_variable sup_cv_;
  std::condition_variable launched_cv_;
  struct Queued {
    std::size_t index;
    std::chrono::steady_clock::time_point due;
  };
  std::vector<Queued> queue_;
  std::size_t launched_ = 0;  // initial launches done
  std::string launch_error_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace ringpool::pool::detail
