// ringpool_bench_queue: Queue<int> put/get throughput, a small driver for before/after
// comparisons of the Queue's put and get paths (not a Google Benchmark suite).
//
//   ringpool_bench_queue [items] [repeats]
//
// Prints, for each case, the median and the best of `repeats` runs:
//  - "one thread": try_put then try_get of one item, in one thread (the uncontended path);
//  - "two processes, <wait>": a forked producer puts `items` ints, the parent gets them,
//    maxsize 1024, producer on CPU 0 and consumer on CPU 1 (when the machine has both);
//  - "empty try_get, 4 blocked gets": try_get on an empty queue while four forked
//    consumers wait in get (each holds a claim record the empty path looks at).
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "ringpool/pool/queue.hpp"

namespace {

using Clock = std::chrono::steady_clock;
namespace rp = ringpool::pool;

void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  (void)sched_setaffinity(0, sizeof set, &set);  // best effort: a driver, not a test
}

double one_thread_ns(long items) {
  rp::Queue<int> q(1024);
  const auto start = Clock::now();
  long sum = 0;
  for (long i = 0; i < items; ++i) {
    if (!q.try_put(static_cast<int>(i))) std::abort();
    sum += *q.try_get();
  }
  const double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
  if (sum != items * (items - 1) / 2) std::abort();
  return ns / static_cast<double>(items);
}

// Items per second from a forked producer to this process.
double two_process_rate(long items, ringpool::ipc::WaitStrategy wait) {
  rp::QueueOptions options;
  options.wait = wait;
  rp::Queue<int> q(1024, options);
  const pid_t child = ::fork();
  if (child < 0) std::abort();
  if (child == 0) {
    pin(0);
    for (long i = 0; i < items; ++i) q.put(static_cast<int>(i));
    ::_exit(0);
  }
  pin(1);
  const auto start = Clock::now();
  long sum = 0;
  for (long i = 0; i < items; ++i) sum += q.get();
  const double s = std::chrono::duration<double>(Clock::now() - start).count();
  int status = 0;
  (void)::waitpid(child, &status, 0);  // child > 0 here
  if (sum != items * (items - 1) / 2) std::abort();
  return static_cast<double>(items) / s;
}

// Nanoseconds per try_get on an empty queue while `getters` forked consumers wait in get.
double empty_try_get_ns(long calls, int getters) {
  rp::Queue<int> q(1024);
  std::vector<pid_t> children;
  for (int i = 0; i < getters; ++i) {
    const pid_t child = ::fork();
    if (child < 0) std::abort();
    if (child == 0) {
      try {
        static_cast<void>(q.get());
      } catch (const rp::Closed&) {
        ::_exit(0);
      }
      ::_exit(1);
    }
    children.push_back(child);
  }
  // Let them reach their get (a driver: a generous pause, not a synchronisation).
  ::usleep(200'000);
  const auto start = Clock::now();
  for (long i = 0; i < calls; ++i) {
    if (q.try_get()) std::abort();
  }
  const double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
  q.close();
  for (const pid_t child : children) {
    int status = 0;
    (void)::waitpid(child, &status, 0);  // child > 0 here
  }
  return ns / static_cast<double>(calls);
}

template <class F>
void report(const char* what, const char* unit, int repeats, F&& run) {
  std::vector<double> v;
  for (int r = 0; r < repeats; ++r) v.push_back(run());
  std::sort(v.begin(), v.end());
  const bool lower_is_better = std::string(unit) != "items/s";
  std::printf("%-34s median %10.1f  best %10.1f  %s\n", what, v[v.size() / 2],
              lower_is_better ? v.front() : v.back(), unit);
}

}  // namespace

int main(int argc, char** argv) {
  const long items = argc > 1 ? std::max(1L, std::atol(argv[1])) : 2'000'000;
  const int repeats = argc > 2 ? std::max(1, std::atoi(argv[2])) : 7;
  pin(1);
  report("one thread try_put+try_get", "ns/pair", repeats, [&] { return one_thread_ns(items); });
  report("two processes, spin", "items/s", repeats,
         [&] { return two_process_rate(items, ringpool::ipc::WaitStrategy::spin); });
  report("two processes, futex", "items/s", repeats,
         [&] { return two_process_rate(items, ringpool::ipc::WaitStrategy::futex); });
  report("empty try_get, 4 blocked gets", "ns/call", repeats,
         [&] { return empty_try_get_ns(std::max(1L, items / 100), 4); });
  return 0;
}
