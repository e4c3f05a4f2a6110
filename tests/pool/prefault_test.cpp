// A new pool's rings are mapped into every process before the first task: the parent maps
// them populated, and each worker populates its own view when it starts (a forked worker
// inherits the mapping, not its page tables). Otherwise the first batch pays a page fault
// per 4 KiB of ring in each process, in the middle of the work. Checked from outside: the
// resident size of the rings' mapping in /proc/<pid>/smaps.
#include <gtest/gtest.h>
#include <sys/types.h>

#include <cstddef>
#include <vector>

#include "ringpool/pool/pool.hpp"
#include "test_support.hpp"

namespace {

using ringpool::pool::Pool;
using ringpool::pool::PoolOptions;
using ringpool::test::pool_mapping_kib;
using ringpool::test::square;

TEST(Prefault, TheParentsViewOfTheRingsIsResidentBeforeAnyTask) {
  PoolOptions o;
  o.workers = 2;
  Pool pool(o);
  const auto m = pool_mapping_kib(::getpid());
  ASSERT_GT(m.size, 1024U) << "no ring mapping of at least 1 MiB found";
  EXPECT_EQ(m.rss, m.size);
}

// One worker: its view is the whole mapping (the shared ring and its own two rings).
TEST(Prefault, AWorkersViewOfItsRingsIsResidentAfterOneTask) {
  PoolOptions o;
  o.workers = 1;
  Pool pool(o);
  EXPECT_EQ(pool.submit(square, 3).get(), 9);  // the worker has started
  const std::vector<pid_t> pids = pool.worker_pids();
  ASSERT_EQ(pids.size(), 1U);
  ASSERT_GT(pids[0], 0);
  const auto m = pool_mapping_kib(pids[0]);
  ASSERT_GT(m.size, 1024U);
  // One task touched a page or two of each ring; the rest is resident by the populate. The
  // mapping's head (pool header, worker records, task words: 20 KiB here) is mapped only
  // where it was touched.
  EXPECT_GE(m.rss + 64, m.size);
}

}  // namespace
