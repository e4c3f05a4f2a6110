// The spawn start method and ringpool's `if __name__ == '__main__':` guard.
//
// A spawned child is a fresh run of this program, so main() must begin with
// ringpool::serve_if_worker(argc, argv): in the child it runs the task and exits; in
// the main process it returns at once.
//
//   ringpool_example_spawn_guard                  # correct: the child runs task(4),
//                                                 # then a spawn-started Pool squares 1..5
//   ringpool_example_spawn_guard --forget-guard   # main() skips serve_if_worker: the
//       spawned child runs main() again and tries to start a process itself; ringpool
//       refuses with GuardViolation instead of recursing without end (Python on
//       Windows/macOS would re-import the module and recurse).
#include <chrono>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "ringpool/pool/errors.hpp"
#include "ringpool/pool/pool.hpp"
#include "ringpool/pool/process.hpp"
#include "ringpool/pool/spawn.hpp"
#include "ringpool/pool/this_process.hpp"

namespace {

using ringpool::pool::Process;
using ringpool::pool::ProcessOptions;
using ringpool::pool::StartMethod;

void task(int count) {
  for (int i = 0; i < count; ++i) {
    std::cout << std::to_string(i) + "\n" << std::flush;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}
RINGPOOL_TASK(task);  // spawned children find tasks by name

int square(int x) {
  return x * x;
}
RINGPOOL_TASK(square);  // so do the workers of a spawn-started Pool

bool has_flag(int argc, char** argv, const char* flag) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], flag) == 0) return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  const bool forget_guard = has_flag(argc, argv, "--forget-guard");
  if (!forget_guard) ringpool::serve_if_worker(argc, argv);

  try {
    Process p(ProcessOptions{.start_method = StartMethod::spawn}, task, 4);
    p.start();
    p.join();
    std::cout << ringpool::this_process::name() << ": spawned child " << p.name()
              << " exited with code " << *p.exitcode() << '\n';
    if (forget_guard) {
      std::cout << "without the guard that child would have started another child, and that "
                   "one another, without end\n";
    } else {
      // A Pool whose workers are spawned the same way (Python: get_context('spawn').Pool()).
      ringpool::pool::PoolOptions options;
      options.workers = 2;
      options.start_method = StartMethod::spawn;
      ringpool::pool::Pool pool(options);
      std::cout << "spawn pool squares:";
      for (const int v : pool.map(square, std::vector<int>{1, 2, 3, 4, 5})) std::cout << ' ' << v;
      std::cout << '\n';
    }
  } catch (const ringpool::pool::GuardViolation& e) {
    // Only reached in the spawned child of --forget-guard mode.
    std::cout << "spawned child (pid " << ringpool::this_process::pid()
              << ") refused to start a process:\n"
              << e.what() << '\n';
    return 3;
  }
  return 0;
}
