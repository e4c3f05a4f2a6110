// The seed's "several tasks in a process pool": imap returns results in input order,
// whichever worker finishes first; imap_unordered returns them as they complete.
//
// Python:
//   for result in pool.imap(get_html, [4, 3, 2]): print(f"{result} done")
//   for result in pool.imap_unordered(get_html, [4, 3, 2]): print(f"{result} done")
// Sleeps are scaled down: one unit is 100 ms instead of a second. The pool has three
// workers so that the three tasks run at once on any machine (on a 2-core machine
// Python's Pool(cpu_count()) would run two, and the order would depend on that).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "ringpool/pool/pool.hpp"

namespace {

int get_html(int n) {
  std::this_thread::sleep_for(std::chrono::milliseconds(100 * n));
  std::printf("  worker %d: task %d finished\n", static_cast<int>(getpid()), n);
  std::fflush(stdout);
  return n;
}

}  // namespace

int main() {
  ringpool::pool::Pool pool(3);
  const std::vector<int> sleeps{4, 3, 2};

  std::string ordered;
  std::printf("imap (input order):\n");
  std::fflush(stdout);
  for (int result : pool.imap(get_html, sleeps)) {
    std::printf("  %d slept and succeeded\n", result);
    std::fflush(stdout);
    ordered += " " + std::to_string(result);
  }
  std::printf("path: %s\n", ringpool::pool::to_string(pool.last_plan().path));

  std::string completed;
  std::printf("imap_unordered (as completed):\n");
  std::fflush(stdout);
  for (int result : pool.imap_unordered(get_html, sleeps)) {
    std::printf("  %d slept and succeeded\n", result);
    std::fflush(stdout);
    completed += " " + std::to_string(result);
  }
  std::printf("imap results in input order:%s\n", ordered.c_str());
  std::printf("imap_unordered results as completed:%s\n", completed.c_str());
  return 0;
}
