// A pool whose process is confined to one CPU (taskset, mpirun's default binding of a
// rank to a core): its workers run on that CPU too, so an idle worker sleeps instead of
// spinning (the parent needs the CPU to send the next task and take the result), in spin
// mode as in block mode, and the parent wakes it for each task. Checked from outside (the
// worker's process state) and by tasks that flow after idle spells; the unconfined spin
// pool beside it shows that the state check tells the two apart.
#include <gtest/gtest.h>
#include <sched.h>

#include <chrono>
#include <cstddef>
#include <numeric>
#include <set>
#include <thread>
#include <vector>

#include "ringpool/pool/pool.hpp"
#include "ringpool/topology/machine.hpp"
#include "test_support.hpp"

namespace {

using ringpool::pool::Pool;
using ringpool::pool::PoolOptions;
using ringpool::pool::StartMethod;
using ringpool::pool::WaitMode;
using ringpool::test::ConfinedToOneCpu;
using ringpool::test::sleeping_samples;
using ringpool::test::square;

constexpr int kSamples = 20;

PoolOptions options(std::size_t workers, WaitMode wait, StartMethod start = StartMethod::fork) {
  PoolOptions o;
  o.workers = workers;
  o.wait = wait;
  o.start_method = start;
  return o;
}

// Submits, maps and iterates, with idle spells long enough for the workers to sleep (and
// for their 100 ms sleeps to time out once): every result must come back.
void tasks_flow_after_idle_spells(Pool& pool) {
  EXPECT_EQ(pool.submit(square, 3).get(), 9);
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  EXPECT_EQ(pool.submit(square, 4).get(), 16);
  for (int i = 0; i < 200; ++i) {
    if (i % 50 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    ASSERT_EQ(pool.apply(square, i), i * i);
  }
  std::vector<int> in(5000);
  std::iota(in.begin(), in.end(), 0);
  for (std::size_t chunk : {std::size_t{1}, std::size_t{100}}) {
    const std::vector<int> out = pool.map(square, in, chunk);
    ASSERT_EQ(out.size(), in.size());
    for (std::size_t i = 0; i < in.size(); ++i) ASSERT_EQ(out[i], in[i] * in[i]);
  }
  std::set<int> unordered;
  for (int v : pool.imap_unordered(square, in, 7)) unordered.insert(v);
  EXPECT_EQ(unordered.size(), in.size());
  EXPECT_EQ(unordered.count(4999 * 4999), 1u);
}

TEST(SharedParentCpu, IdleWorkersOfAConfinedSpinPoolSleep) {
  ConfinedToOneCpu confined;
  Pool pool(options(2, WaitMode::spin));
  for (const auto& cpus : pool.worker_cpus()) EXPECT_TRUE(cpus.contains(confined.cpu()));
  EXPECT_EQ(pool.submit(square, 5).get(), 25);
  const auto pids = pool.worker_pids();
  ASSERT_EQ(pids.size(), 2u);
  for (const pid_t pid : pids) {
    ASSERT_GT(pid, 0);
    EXPECT_GE(sleeping_samples(pid, kSamples), kSamples - 2) << "worker " << pid;
  }
  tasks_flow_after_idle_spells(pool);
  pool.close();
  pool.join();
}

// The other side of the check above: where the parent has other CPUs, a spin-mode
// worker keeps polling (it is never seen asleep).
TEST(SharedParentCpu, IdleWorkersOfAnUnconfinedSpinPoolPoll) {
  if (ringpool::topology::Machine::live().usable().cpus.count() < 2) {
    GTEST_SKIP() << "needs two usable CPUs";
  }
  Pool pool(options(1, WaitMode::spin));
  EXPECT_EQ(pool.submit(square, 5).get(), 25);
  const auto pid = pool.worker_pid(0);
  ASSERT_TRUE(pid.has_value());
  ASSERT_GT(*pid, 0);
  EXPECT_LE(sleeping_samples(*pid, kSamples), 2);
  pool.close();
  pool.join();
}

TEST(SharedParentCpu, TasksFlowInAConfinedPool) {
  ConfinedToOneCpu confined;
  for (const WaitMode wait : {WaitMode::spin, WaitMode::block}) {
    for (const std::size_t workers : {std::size_t{1}, std::size_t{2}}) {
      SCOPED_TRACE(testing::Message() << "wait " << (wait == WaitMode::spin ? "spin" : "block")
                                      << ", workers " << workers);
      Pool pool(options(workers, wait));
      tasks_flow_after_idle_spells(pool);
      pool.close();
      pool.join();
    }
  }
}

// Thread workers share the process, so they share its one CPU: they sleep too, and
// close() still ends them (the quit request wakes a sleeper).
TEST(SharedParentCpu, TasksFlowInAConfinedThreadPool) {
  ConfinedToOneCpu confined;
  Pool pool(options(2, WaitMode::spin, StartMethod::thread));
  tasks_flow_after_idle_spells(pool);
  pool.close();
  pool.join();
}

}  // namespace
