// A rank SIGKILLed in the middle of an imap_unordered, run by CTest under mpirun -np 3
// (tests/cluster/CMakeLists.txt) in two ways:
//   mpirun --enable-recovery ... rank_death recover
//     the job survives the death: every item ends as a result or RankLost naming rank 2,
//     within 10 s, and the pool goes on with ranks 0 and 1. Exit 0 when all of that holds.
//   mpirun ... rank_death abort      (Open MPI's default)
//     mpirun ends the whole job at once with a message naming rank 2; CTest checks that.
#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "ringpool/cluster/cluster.hpp"
#include "ringpool/cluster/pool.hpp"

namespace {

int slow_double(int x) {
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  return 2 * x;
}

}  // namespace

RINGPOOL_TASK(slow_double);

int main(int argc, char** argv) {
  ringpool::cluster::init(argc, argv);
  const bool recover = argc > 1 && std::strcmp(argv[1], "recover") == 0;
  if (ringpool::cluster::world_size() != 3) {
    std::printf("run under mpirun -np 3\n");
    return 2;
  }
  ringpool::cluster::Pool pool;
  constexpr int kItems = 3000;
  std::vector<int> inputs(kItems);
  for (int i = 0; i < kItems; ++i) inputs[static_cast<std::size_t>(i)] = i;

  const pid_t victim = ringpool::cluster::ranks()[2].pid;
  std::thread killer([victim] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    if (victim <= 0) return;  // never signal a pid <= 0
    std::printf("killing rank 2 (pid %d) with SIGKILL\n", static_cast<int>(victim));
    std::fflush(stdout);
    ::kill(victim, SIGKILL);
  });
  const auto start = std::chrono::steady_clock::now();
  std::size_t ok = 0;
  std::size_t lost = 0;
  std::size_t other = 0;
  std::vector<bool> seen(kItems, false);
  auto results = pool.imap_unordered(slow_double, inputs, 5);
  for (auto it = results.begin(); it != std::default_sentinel; ++it) {
    try {
      const int v = *it;
      if (v % 2 == 0 && v / 2 < kItems && !seen[static_cast<std::size_t>(v / 2)]) {
        seen[static_cast<std::size_t>(v / 2)] = true;
        ++ok;
      } else {
        ++other;
      }
    } catch (const ringpool::cluster::RankLost& e) {
      if (e.rank() == 2) {
        ++lost;
      } else {
        ++other;
      }
    } catch (const std::exception& e) {
      std::printf("unexpected error: %s\n", e.what());
      ++other;
    }
  }
  killer.join();
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
  std::printf("items: %zu results, %zu RankLost (rank 2), %zu other; %lld ms (mode %s)\n", ok, lost,
              other, static_cast<long long>(took), recover ? "recover" : "abort");

  const std::vector<int> after = pool.map(slow_double, std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8}, 1);
  bool after_ok = after.size() == 8;
  for (std::size_t i = 0; i < after.size(); ++i) {
    after_ok = after_ok && after[i] == 2 * static_cast<int>(i + 1);
  }
  const auto stats = pool.stats();
  std::printf("after the loss: map %s; ranks lost %llu, items failed %llu\n",
              after_ok ? "correct" : "WRONG", static_cast<unsigned long long>(stats.ranks_lost),
              static_cast<unsigned long long>(stats.failed_lost));
  const bool pass = ok + lost == kItems && lost > 0 && other == 0 && took < 10000 && after_ok &&
                    stats.ranks_lost == 1 && stats.failed_lost == lost;
  std::printf("rank_death: %s\n", pass ? "every item settled, the pool went on" : "FAILED");
  return pass ? 0 : 1;
}
