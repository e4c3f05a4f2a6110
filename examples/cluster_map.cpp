// cluster_map: one Pool across MPI ranks. A map of 100,000 tasks, an imap_unordered and a
// task that throws, every result checked, with how many items each rank ran.
//
//   mpirun --oversubscribe -np 3 ./ringpool_example_cluster_map
//
// Every rank runs this same program; cluster::init keeps ranks 1.. serving tasks, so only
// rank 0 gets past it. Tasks are named by RINGPOOL_TASK (addresses differ between ranks).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "ringpool/cluster/cluster.hpp"
#include "ringpool/cluster/pool.hpp"

namespace {

std::int64_t square_plus_one(std::int64_t x) {
  return x * x + 1;
}

std::string checked_label(std::int64_t x) {
  if (x < 0) throw std::out_of_range("negative input " + std::to_string(x));
  return "item-" + std::to_string(x);
}

void print_counts(const char* what, const std::vector<std::uint64_t>& before,
                  const std::vector<std::uint64_t>& after) {
  std::printf("%s per rank:", what);
  for (std::size_t r = 0; r < after.size(); ++r) {
    std::printf(" rank %zu: %llu", r,
                static_cast<unsigned long long>(after[r] - (r < before.size() ? before[r] : 0)));
  }
  std::printf("\n");
}

}  // namespace

RINGPOOL_TASK(square_plus_one);
RINGPOOL_TASK(checked_label);

int main(int argc, char** argv) {
  ringpool::cluster::init(argc, argv);  // ranks 1.. serve here and never return

  for (const auto& r : ringpool::cluster::ranks()) {
    std::printf("rank %d: pid %d on %s, %zu usable cores (cpus %s; %s)\n", r.rank,
                static_cast<int>(r.pid), r.host.c_str(), r.usable_cores, r.cpus.c_str(),
                r.machine.c_str());
  }
  ringpool::cluster::Pool pool;
  std::printf("cluster pool: %zu workers on %zu ranks\n", pool.workers(),
              ringpool::cluster::world_size());

  constexpr std::int64_t kMapItems = 100000;
  std::vector<std::int64_t> inputs(kMapItems);
  for (std::int64_t i = 0; i < kMapItems; ++i) inputs[static_cast<std::size_t>(i)] = i;
  const std::vector<std::int64_t> out = pool.map(square_plus_one, inputs, 1000);
  std::size_t wrong = 0;
  for (std::int64_t i = 0; i < kMapItems; ++i) {
    if (out[static_cast<std::size_t>(i)] != i * i + 1) ++wrong;
  }
  const auto after_map = pool.stats().items_per_rank;
  print_counts("map", {}, after_map);
  std::printf("map: %zu results, %zu wrong; plan: %s\n", out.size(), wrong,
              pool.last_plan().reason.c_str());

  constexpr std::int64_t kImapItems = 20000;
  std::vector<std::int64_t> more(kImapItems);
  for (std::int64_t i = 0; i < kImapItems; ++i) more[static_cast<std::size_t>(i)] = i;
  std::vector<bool> seen(kImapItems, false);
  std::size_t imap_wrong = 0;
  std::size_t imap_count = 0;
  for (const std::int64_t v : pool.imap_unordered(square_plus_one, more, 10)) {
    ++imap_count;
    // v = x * x + 1: find x and check it came exactly once.
    std::int64_t x = 0;
    while ((x + 1) * (x + 1) + 1 <= v) ++x;
    if (x >= kImapItems || x * x + 1 != v || seen[static_cast<std::size_t>(x)]) {
      ++imap_wrong;
    } else {
      seen[static_cast<std::size_t>(x)] = true;
    }
  }
  print_counts("imap_unordered", after_map, pool.stats().items_per_rank);
  std::printf("imap_unordered: %zu results, %zu wrong\n", imap_count, imap_wrong);

  bool typed = false;
  try {
    (void)pool.submit(checked_label, std::int64_t{-5}).get();
  } catch (const std::out_of_range& e) {
    typed = std::string(e.what()) == "negative input -5";
  }
  const std::string label = pool.apply(checked_label, std::int64_t{42});
  std::printf("a task's exception came back as std::out_of_range: %s; apply gave %s\n",
              typed ? "yes" : "no", label.c_str());

  pool.close();
  pool.join();
  const bool ok =
      wrong == 0 && imap_wrong == 0 && imap_count == kImapItems && typed && label == "item-42";
  std::printf("cluster_map: %s\n", ok ? "every result correct" : "WRONG RESULTS");
  return ok ? 0 : 1;
}
