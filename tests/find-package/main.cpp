// A consumer that knows ringpool only through find_package(ringpool): it uses one
// piece of every module and exits non-zero if any of them misbehaves.
#include <cstdint>
#include <cstdio>
#include <ringpool/ipc/ipc.hpp>
#include <ringpool/pool/pool.hpp>
#include <ringpool/topology/topology.hpp>

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
  std::printf("ringpool consumer: ring, topology (%zu usable cores) and pool work\n", cores);
  return 0;
}
