// A consumer that knows ringpool only through find_package(ringpool) and its umbrella
// header <ringpool/ringpool.hpp>: it uses one piece of every module and exits non-zero if
// any of them misbehaves.
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <ringpool/ringpool.hpp>  // the umbrella header reaches every module

namespace {
int twice(int x) {
  return 2 * x;
}
}  // namespace

int main() {
  auto [tx, rx] = ringpool::ipc::SpscRing<std::uint64_t>::create_anonymous(8);
  if (!tx.try_push(42) || rx.try_pop() != std::uint64_t{42}) return 1;

  const std::size_t cores = ringpool::topology::usable_cores();
  if (cores == 0) return 2;

  ringpool::pool::PoolOptions options;
  options.workers = 1;
  ringpool::pool::Pool pool(options);
  if (pool.submit(twice, 21).get() != 42) return 3;

  ringpool::pool::Lock lock;
  {
    std::scoped_lock hold(lock);
    if (!lock.locked()) return 4;
  }
#if __has_include(<ringpool/cluster/pool.hpp>)
  // The cluster module (built with MPI) comes with the umbrella header, target and .pc file:
  // before init() a cluster::Pool refuses to start (this links libringpool_cluster and MPI).
  try {
    ringpool::cluster::Pool cluster;
    return 5;
  } catch (const ringpool::cluster::ClusterError&) {
  }
  if (ringpool::cluster::initialized()) return 6;
  std::printf("ringpool consumer: cluster module present\n");
#endif
  std::printf("ringpool consumer: ring, topology (%zu usable cores) and pool work\n", cores);
  return 0;
}
