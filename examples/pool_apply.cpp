// The seed's "one task in a process pool": apply_async on a pool with one worker per
// usable core, close, join, then get the result.
//
// Python:
//   pool = multiprocessing.Pool(multiprocessing.cpu_count())
//   result = pool.apply_async(get_html, args=(3,))
//   pool.close(); pool.join()
//   print(result.get()); print("end")
// Sleeps are scaled down: one unit is 100 ms instead of a second.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "ringpool/pool/pool.hpp"
#include "ringpool/topology/topology.hpp"

namespace {

int get_html(int n) {
  std::this_thread::sleep_for(std::chrono::milliseconds(100 * n));
  std::printf("%d: worker %d got the content\n", n, static_cast<int>(getpid()));
  std::fflush(stdout);
  return n;
}

}  // namespace

int main() {
  const std::size_t cores = ringpool::topology::usable_cores();
  std::printf("main process %d: a pool of %zu workers (one per usable core)\n",
              static_cast<int>(getpid()), cores);
  std::fflush(stdout);
  ringpool::pool::Pool pool(cores);        // Pool(cpu_count())
  auto result = pool.submit(get_html, 3);  // apply_async(get_html, args=(3,))
  pool.close();                            // must come before join()
  pool.join();                             // waits for the task
  std::printf("result: %d\n", result.get());
  std::printf("end\n");
  return 0;
}
