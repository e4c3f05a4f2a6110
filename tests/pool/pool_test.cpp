// Pool: apply/submit/map/imap/imap_unordered/starmap, close/join/terminate, the
// parallel/concurrent decision, pinning, initializer, max_tasks_per_child, bad input.
#include "ringpool/pool/pool.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "ringpool/topology/topology.hpp"
#include "test_support.hpp"

namespace {
using ::ringpool::test::square;

using namespace std::chrono_literals;
using ringpool::pool::Closed;
using ringpool::pool::InvalidArgument;
using ringpool::pool::InvalidState;
using ringpool::pool::Path;
using ringpool::pool::PayloadTooLarge;
using ringpool::pool::Pool;
using ringpool::pool::PoolOptions;
using ringpool::pool::TaskFailed;
using ringpool::pool::Timeout;
using ringpool::pool::WaitMode;

long add3(int a, long b, short c) {
  return a + b + c;
}
std::string greet(std::string name) {
  return "hello " + name;
}
int my_pid(int) {
  return static_cast<int>(getpid());
}
void nothing(int) {}
int sleep_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
int throws_runtime(int x) {
  if (x % 3 == 0) throw std::runtime_error("bad input " + std::to_string(x));
  return x;
}
std::size_t length_of(std::vector<char> v) {
  return v.size();
}

PoolOptions pool_opts(std::size_t workers, WaitMode mode = WaitMode::block) {
  PoolOptions o;
  o.workers = workers;
  o.wait = mode;
  return o;
}

class PoolModes : public ::testing::TestWithParam<WaitMode> {};

TEST_P(PoolModes, SubmitGetAndApply) {
  Pool pool(pool_opts(2, GetParam()));
  auto f = pool.submit(square, 7);
  EXPECT_EQ(f.get(), 49);
  EXPECT_EQ(f.get(), 49);  // get() can be called again
  EXPECT_TRUE(f.ready());
  EXPECT_TRUE(f.successful());
  EXPECT_EQ(pool.apply(add3, 1, 2L, short{3}), 6);
  EXPECT_EQ(pool.apply(greet, std::string("pool")), "hello pool");
  EXPECT_EQ(pool.apply([](int a, int b) { return a - b; }, 10, 4), 6);
  auto v = pool.submit(nothing, 1);
  v.get();
  EXPECT_TRUE(v.successful());
}

TEST_P(PoolModes, ManySubmitsComplete) {
  Pool pool(pool_opts(2, GetParam()));
  std::vector<ringpool::pool::Future<int>> futures;
  for (int i = 0; i < 2000; ++i) futures.push_back(pool.submit(square, i));
  for (int i = 0; i < 2000; ++i) ASSERT_EQ(futures[i].get(), i * i);
}

TEST_P(PoolModes, MapKeepsOrderWithDefaultAndExplicitChunks) {
  Pool pool(pool_opts(2, GetParam()));
  std::vector<int> in(10000);
  std::iota(in.begin(), in.end(), 0);
  for (std::optional<std::size_t> chunk :
       {std::optional<std::size_t>{}, std::optional<std::size_t>{1},
        std::optional<std::size_t>{7}}) {
    const std::vector<int> out = pool.map(square, in, chunk);
    ASSERT_EQ(out.size(), in.size());
    for (std::size_t i = 0; i < in.size(); ++i) ASSERT_EQ(out[i], in[i] * in[i]);
  }
}

INSTANTIATE_TEST_SUITE_P(Waits, PoolModes, ::testing::Values(WaitMode::block, WaitMode::spin),
                         [](const ::testing::TestParamInfo<WaitMode>& p) {
                           return p.param == WaitMode::spin ? "spin" : "block";
                         });

TEST(Pool, MapOfStringsAndVectorsSplitsChunksOverSlots) {
  PoolOptions o = pool_opts(2);
  o.slot_size = 1024;
  Pool pool(o);
  std::vector<std::string> names;
  for (int i = 0; i < 500; ++i) names.push_back("name-" + std::to_string(i));
  const auto out = pool.map(greet, names, 100);  // 100 items never fit one 1 KiB slot
  for (int i = 0; i < 500; ++i) ASSERT_EQ(out[i], "hello name-" + std::to_string(i));
  std::vector<std::vector<char>> blobs;
  for (std::size_t i = 0; i < 50; ++i) blobs.emplace_back(i * 10, 'x');
  const auto sizes = pool.map(length_of, blobs);
  for (std::size_t i = 0; i < 50; ++i) ASSERT_EQ(sizes[i], i * 10);
}

TEST(Pool, StarmapSpreadsTuples) {
  Pool pool(pool_opts(2));
  std::vector<std::tuple<int, long, short>> in;
  for (int i = 0; i < 100; ++i) in.emplace_back(i, 2L * i, short{1});
  const auto out = pool.starmap(add3, in);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(out[i], 3L * i + 1);
}

TEST(Pool, EmptyMapReturnsEmpty) {
  Pool pool(pool_opts(1));
  EXPECT_TRUE(pool.map(square, std::vector<int>{}).empty());
}

TEST(Pool, ImapKeepsInputOrderImapUnorderedYieldsAsCompleted) {
  Pool pool(pool_opts(3));
  const std::vector<int> sleeps{300, 150, 10};
  std::vector<int> ordered;
  for (int v : pool.imap(sleep_ms, sleeps)) ordered.push_back(v);
  EXPECT_EQ(ordered, sleeps);
  std::vector<int> unordered;
  for (int v : pool.imap_unordered(sleep_ms, sleeps)) unordered.push_back(v);
  EXPECT_EQ(unordered, (std::vector<int>{10, 150, 300}));
}

TEST(Pool, ImapIsLazyAndBoundedOverAHugeInput) {
  Pool pool(pool_opts(2));
  // An unbounded input: the range would never end if materialised.
  auto naturals = std::views::iota(0);
  int count = 0;
  for (int v : pool.imap(square, naturals, 4)) {
    ASSERT_EQ(v, count * count);
    if (++count == 5000) break;
  }
  EXPECT_EQ(count, 5000);
}

TEST(Pool, ImapOwnsAnRvalueInputAndSurvivesErrors) {
  Pool pool(pool_opts(2));
  auto range = pool.imap(throws_runtime, std::vector<int>{1, 2, 3, 4});
  std::vector<std::string> seen;
  for (auto it = range.begin(); it != range.end(); ++it) {
    try {
      seen.push_back(std::to_string(*it));
    } catch (const std::runtime_error& e) {
      seen.push_back(e.what());
    }
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"1", "2", "bad input 3", "4"}));
}

TEST(Pool, TaskExceptionComesBackAsItselfWithItsMessage) {
  Pool pool(pool_opts(1));
  auto f = pool.submit(throws_runtime, 3);
  try {
    (void)f.get();
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(typeid(e), typeid(std::runtime_error));
    EXPECT_STREQ(e.what(), "bad input 3");
  }
  EXPECT_FALSE(f.successful());
  EXPECT_TRUE(f.exception() != nullptr);
  // map throws the first failed item's error, map_outcomes reports each.
  std::vector<int> in{1, 2, 3, 4, 5, 6};
  try {
    (void)pool.map(throws_runtime, in);
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "bad input 3");  // the first failed item's
  }
  const auto outcomes = pool.map_outcomes(throws_runtime, in);
  ASSERT_EQ(outcomes.size(), 6u);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(outcomes[i].ok(), (i + 1) % 3 != 0) << i;
    if (outcomes[i].ok()) {
      EXPECT_EQ(outcomes[i].value(), i + 1);
    }
  }
}

TEST(Pool, GetWithTimeoutThrowsTimeoutAndStaysUsable) {
  Pool pool(pool_opts(1));
  auto f = pool.submit(sleep_ms, 300);
  EXPECT_THROW((void)f.get(10ms), Timeout);
  EXPECT_FALSE(f.wait_for(1ms));
  EXPECT_EQ(f.get(), 300);
  EXPECT_EQ(f.get(1ms), 300);
}

TEST(Pool, SuccessfulBeforeReadyIsInvalidState) {
  Pool pool(pool_opts(1));
  auto f = pool.submit(sleep_ms, 200);
  EXPECT_THROW((void)f.successful(), InvalidState);
  f.wait();
  EXPECT_TRUE(f.successful());
}

TEST(Pool, CallbacksAndThen) {
  Pool pool(pool_opts(2));
  std::atomic<int> seen{0};
  auto f = pool.submit(square, 9);
  f.add_done_callback([&](const ringpool::pool::Future<int>& g) { seen = g.get(); });
  auto g = f.then([](int v) { return std::to_string(v) + "!"; });
  EXPECT_EQ(g.get(), "81!");
  f.wait();
  // The callback ran in the thread that completed the future, before get() returned.
  EXPECT_EQ(seen.load(), 81);
  // A callback registered after completion runs at once.
  int late = 0;
  f.add_done_callback([&](const ringpool::pool::Future<int>& h) { late = h.get(); });
  EXPECT_EQ(late, 81);
  // Errors travel through then().
  auto bad = pool.submit(throws_runtime, 6).then([](int v) { return v * 2; });
  EXPECT_THROW((void)bad.get(), std::runtime_error);
}

TEST(Pool, CallbackCompletesWithoutAnyWaiter) {
  Pool pool(pool_opts(1));
  std::atomic<int> seen{0};
  pool.submit(square, 5).add_done_callback(
      [&](const ringpool::pool::Future<int>& f) { seen = f.get(); });
  // Nobody waits: the pool's supervisor collects the result.
  for (int i = 0; i < 2000 && seen.load() == 0; ++i) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(seen.load(), 25);
}

TEST(Pool, ZeroWorkersIsInvalidArgument) {
  PoolOptions o;
  o.workers = 0;
  try {
    Pool pool(o);
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("at least one worker"), std::string::npos);
  }
}

TEST(Pool, BadSlotSizeOrDepthIsInvalidArgument) {
  PoolOptions o = pool_opts(1);
  o.slot_size = 8;
  EXPECT_THROW(Pool{o}, InvalidArgument);
  o = pool_opts(1);
  o.ring_depth = 1;
  EXPECT_THROW(Pool{o}, InvalidArgument);
}

TEST(Pool, SubmitAfterCloseIsClosed) {
  Pool pool(pool_opts(1));
  pool.close();
  EXPECT_THROW((void)pool.submit(square, 1), Closed);
  EXPECT_THROW((void)pool.map(square, std::vector<int>{1, 2}), Closed);
  pool.join();
}

TEST(Pool, JoinBeforeCloseIsInvalidState) {
  Pool pool(pool_opts(1));
  EXPECT_THROW(pool.join(), InvalidState);
  pool.close();
  pool.join();
}

TEST(Pool, CloseThenJoinRunsQueuedTasks) {
  Pool pool(pool_opts(2));
  std::vector<ringpool::pool::Future<int>> fs;
  for (int i = 0; i < 20; ++i) fs.push_back(pool.submit(sleep_ms, 5));
  pool.close();
  pool.join();
  for (auto& f : fs) {
    ASSERT_TRUE(f.ready());
    EXPECT_EQ(f.get(), 5);
  }
  // Stopped workers have no pid to hand out (never -1: kill(-1, ...) signals everything).
  EXPECT_TRUE(pool.worker_pids().empty());
  EXPECT_FALSE(pool.worker_pid(0).has_value());
}

TEST(Pool, TerminateFailsUnfinishedFuturesWithClosed) {
  Pool pool(pool_opts(1));
  auto slow = pool.submit(sleep_ms, 5000);
  auto queued = pool.submit(sleep_ms, 5000);
  std::this_thread::sleep_for(20ms);
  const auto pids = pool.worker_pids();
  pool.terminate();
  EXPECT_THROW((void)slow.get(), Closed);
  EXPECT_THROW((void)queued.get(), Closed);
  for (pid_t pid : pids) EXPECT_NE(kill(pid, 0), 0);  // reaped: no such process
  EXPECT_THROW((void)pool.submit(square, 1), Closed);
}

TEST(Pool, ArgumentAboveMaxPayloadIsPayloadTooLargeAndNothingIsSent) {
  PoolOptions o = pool_opts(1);
  o.slot_size = 1024;
  o.max_payload = 1024;  // larger than a slot travels by reference up to max_payload
  Pool pool(o);
  try {
    (void)pool.submit(greet, std::string(5000, 'x'));
    FAIL() << "expected PayloadTooLarge";
  } catch (const PayloadTooLarge& e) {
    EXPECT_GE(e.size(), 5000u);  // the string plus its framing
    EXPECT_EQ(e.limit(), 1024u);
    EXPECT_NE(std::string(e.what()).find("max_payload"), std::string::npos);
  }
  std::vector<std::string> in{"a", std::string(5000, 'y'), "b"};
  EXPECT_THROW((void)pool.map(greet, in), PayloadTooLarge);
  EXPECT_EQ(pool.stats().tasks_sent, 0u);
  EXPECT_EQ(pool.apply(greet, std::string("ok")), "hello ok");
}

TEST(Pool, ResultAboveMaxPayloadFailsThatTask) {
  PoolOptions o = pool_opts(1);
  o.slot_size = 1024;
  o.max_payload = 1024;
  Pool pool(o);
  auto big = pool.submit([](int n) { return std::string(static_cast<std::size_t>(n), 'z'); }, 4000);
  try {
    (void)big.get();
    FAIL() << "expected TaskFailed";
  } catch (const TaskFailed& e) {
    EXPECT_NE(e.type_name().find("PayloadTooLarge"), std::string::npos);
  }
}

TEST(Pool, LastPlanSaysParallelForSmallBatchesAndConcurrentForLarge) {
  const std::size_t cores = ringpool::topology::usable_cores();
  Pool pool(pool_opts(cores));
  (void)pool.map(square, std::vector<int>(cores, 2));
  auto plan = pool.last_plan();
  EXPECT_EQ(plan.path, Path::parallel_spsc);
  EXPECT_EQ(plan.plan.mode, ringpool::topology::Mode::parallel);
  EXPECT_EQ(plan.tasks, cores);
  (void)pool.map(square, std::vector<int>(cores * 10, 2));
  plan = pool.last_plan();
  EXPECT_EQ(plan.path, Path::concurrent_mpmc);
  EXPECT_EQ(plan.plan.mode, ringpool::topology::Mode::concurrent);
  EXPECT_NE(plan.reason.find("MPMC"), std::string::npos);
  (void)pool.submit(square, 1).get();
  EXPECT_EQ(pool.last_plan().path, Path::parallel_spsc);
  EXPECT_EQ(pool.last_plan().tasks, 1u);
}

TEST(Pool, ParallelBatchRunsOneTaskPerWorker) {
  const std::size_t n = std::max<std::size_t>(2, ringpool::topology::usable_cores());
  Pool pool(pool_opts(n));
  const auto pids = pool.map(my_pid, std::vector<int>(n, 0));
  EXPECT_EQ(pool.last_plan().path, Path::parallel_spsc);
  EXPECT_EQ(std::set<int>(pids.begin(), pids.end()).size(), n);
}

std::string cpus_allowed_list(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Cpus_allowed_list:", 0) == 0) {
      std::string v = line.substr(line.find(':') + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  }
  return "";
}

TEST(Pool, WorkersArePinnedAsThePlanSays) {
  Pool pool(pool_opts(2));
  (void)pool.apply(square, 1);  // every worker is up (the constructor waits for fork only)
  const auto pids = pool.worker_pids();
  const auto cpus = pool.worker_cpus();
  ASSERT_EQ(pids.size(), 2u);
  const auto expected = ringpool::topology::place(ringpool::topology::Machine::live(), 2, {});
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(cpus[i], expected[i]);
    // The worker pins itself right after fork: poll until it has.
    std::string got;
    for (int t = 0; t < 500; ++t) {
      got = cpus_allowed_list(pids[i]);
      if (got == cpus[i].to_list()) break;
      std::this_thread::sleep_for(2ms);
    }
    EXPECT_EQ(got, cpus[i].to_list()) << "worker " << i;
  }
}

int g_init_runs = 0;
int g_init_arg = 0;
void init_worker(int arg) {
  ++g_init_runs;
  g_init_arg = arg;
}
int init_state(int) {
  return g_init_runs * 1000 + g_init_arg;
}

TEST(Pool, InitializerRunsOncePerWorkerWithItsArguments) {
  PoolOptions o = pool_opts(2);
  o.initializer = [] { init_worker(42); };
  Pool pool(o);
  std::vector<int> in(200, 0);
  for (int v : pool.map(init_state, in, 1)) EXPECT_EQ(v, 1042);
  EXPECT_EQ(g_init_runs, 0);  // the parent's copy is untouched
}

TEST(Pool, MaxTasksPerChildReplacesWorkers) {
  PoolOptions o = pool_opts(1);
  o.max_tasks_per_child = 2;
  Pool pool(o);
  std::set<int> pids;
  for (int i = 0; i < 6; ++i) pids.insert(pool.apply(my_pid, 0));
  EXPECT_EQ(pids.size(), 3u);
  EXPECT_EQ(pool.stats().workers_lost, 0u);
  EXPECT_GE(pool.stats().respawns, 2u);
}

TEST(Pool, SubmitsFromSeveralThreads) {
  Pool pool(pool_opts(2));
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 300; ++i) {
        if (pool.submit(square, t * 1000 + i).get() != (t * 1000 + i) * (t * 1000 + i)) ++bad;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(Pool, DestructorClosesAndJoins) {
  ringpool::pool::Future<int> f;
  std::vector<pid_t> pids;
  {
    Pool pool(pool_opts(1));
    f = pool.submit(sleep_ms, 50);
    pids = pool.worker_pids();
  }
  EXPECT_EQ(f.get(), 50);
  for (pid_t pid : pids) EXPECT_NE(kill(pid, 0), 0);
}

}  // namespace
