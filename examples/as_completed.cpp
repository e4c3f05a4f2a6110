// The seed's process pool through concurrent.futures' eyes (ProcessPoolExecutor): submit
// returns futures; as_completed yields them as they finish, whichever was submitted first;
// a task no worker has started can still be cancelled.
//
// Python:
//   with ProcessPoolExecutor(3) as executor:
//       futures = [executor.submit(get_html, n) for n in [4, 3, 2]]
//       extra = executor.submit(get_html, 1)
//       print(extra.cancel())                   # True: it waited behind the others
//       for f in as_completed(futures, timeout=10):
//           print(f"{f.result()} slept and succeeded")
//       done, not_done = wait(futures, return_when=FIRST_COMPLETED)
// Sleeps are scaled down: one unit is 100 ms instead of a second. Three workers, so the
// three tasks run at once on any machine.
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
  using namespace std::chrono_literals;
  namespace rp = ringpool::pool;
  rp::Pool pool(3);
  std::vector<rp::Future<int>> futures;
  for (int n : {4, 3, 2}) futures.push_back(pool.submit(get_html, n));
  // Every worker is busy: this one waits in a worker's ring, so it can still be cancelled.
  rp::Future<int> extra = pool.submit(get_html, 1);
  const bool cancelled = extra.cancel();
  std::printf("extra task cancelled: %s (cancelled() = %s)\n", cancelled ? "true" : "false",
              extra.cancelled() ? "true" : "false");
  std::fflush(stdout);

  std::string order;
  for (const rp::Future<int>& f : rp::as_completed(futures, 10s)) {
    std::printf("  %d slept and succeeded\n", f.get());
    std::fflush(stdout);
    order += " " + std::to_string(f.get());
  }
  std::printf("as_completed order:%s\n", order.c_str());

  auto [done, not_done] = rp::wait(futures, 10s, rp::ReturnWhen::first_completed);
  std::printf("wait(first_completed): %zu done, %zu not done\n", done.size(), not_done.size());
  pool.shutdown();  // Executor.shutdown(wait=True)
  return 0;
}
