#pragma once
// KillStorm: SIGKILLs a random live worker of a pool every `period`, from a thread of its
// own, until stop() or `max_kills`. Only pids the pool reports alive (worker_pid(i)), and
// never a pid <= 0.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <optional>
#include <random>
#include <thread>

#include "ringpool/pool/pool.hpp"

namespace ringpool::test {

// Under ASan/TSan a worker starts (fork: copying the sanitizer's page tables; spawn:
// re-executing the instrumented binary) tens to hundreds of times slower, so a storm that
// kills every few milliseconds leaves the pool almost no time to work: campaigns run
// kStormScale times fewer items and kills there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr int kStormScale = 10;
#else
inline constexpr int kStormScale = 1;
#endif

class KillStorm {
 public:
  KillStorm(const ringpool::pool::Pool& pool, std::chrono::microseconds period, unsigned seed,
            int max_kills = INT_MAX)
      : thread_([this, &pool, period, seed, max_kills] {
          std::mt19937 rng(seed);
          while (!stop_.load() && kills_.load() < max_kills) {
            std::this_thread::sleep_for(period);
            const std::optional<pid_t> pid = pool.worker_pid(rng() % pool.workers());
            if (pid && *pid > 0 && ::kill(*pid, SIGKILL) == 0) ++kills_;
          }
        }) {}
  KillStorm(const KillStorm&) = delete;
  KillStorm& operator=(const KillStorm&) = delete;
  ~KillStorm() { (void)stop(); }

  // Stops killing; returns how many workers were killed.
  int stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return kills_.load();
  }
  [[nodiscard]] int kills() const { return kills_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> kills_{0};
  std::thread thread_;
};

}  // namespace ringpool::test
