// cluster::Pool under mpirun -np 3 (tests/cluster/CMakeLists.txt): pool::Pool's surface
// across ranks, results and typed errors coming back, work reaching every rank, the plan,
// the lifetime calls, and what is refused.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "ringpool/cluster/cluster.hpp"
#include "ringpool/cluster/pool.hpp"
#include "test_helpers.hpp"

namespace {
using ::ringpool::test::iota;

using ringpool::cluster::Pool;
using ringpool::cluster::PoolOptions;

int square(int x) {
  return x * x;
}
int add(int a, int b) {
  return a + b;
}
std::string repeat(std::string s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}
int throws_invalid(int x) {
  throw std::invalid_argument("bad " + std::to_string(x));
}
struct AppError : std::exception {
  const char* what() const noexcept override { return "app error"; }
};
int throws_app(int) {
  throw AppError();
}
int slow_square(int x) {
  std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return x * x;
}
// `ms` per item on rank 2 (its workers are forked from the rank, whose environment names
// it), at once elsewhere.
struct SlowOnRankTwo {
  int ms = 0;
  int operator()(int x) const {
    const char* rank = std::getenv("OMPI_COMM_WORLD_RANK");
    if (rank != nullptr && std::string(rank) == "2") {
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    }
    return x;
  }
};
int sleep_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
int not_registered(int x) {
  return x;
}

struct AddK {
  int k = 0;
  int operator()(int x) const { return x + k; }
};

}  // namespace

RINGPOOL_TASK(square);
RINGPOOL_TASK(add);
RINGPOOL_TASK(repeat);
RINGPOOL_TASK(throws_invalid);
RINGPOOL_TASK(throws_app);
RINGPOOL_TASK(slow_square);
RINGPOOL_TASK(sleep_ms);
RINGPOOL_FUNCTOR(AddK);
RINGPOOL_FUNCTOR(SlowOnRankTwo);

namespace {

PoolOptions remote_only() {
  PoolOptions o;
  o.local = false;
  return o;
}
PoolOptions with_ranks(std::size_t ranks, bool local = true) {
  PoolOptions o;
  o.ranks = ranks;
  o.local = local;
  return o;
}
PoolOptions with_workers(std::size_t workers) {
  PoolOptions o;
  o.workers_per_rank = workers;
  return o;
}

TEST(ClusterPool, RunsUnderThreeRanks) {
  ASSERT_EQ(ringpool::cluster::world_size(), 3U) << "run under mpirun -np 3";
  const auto& ranks = ringpool::cluster::ranks();
  for (std::size_t r = 0; r < ranks.size(); ++r) {
    EXPECT_EQ(ranks[r].rank, static_cast<int>(r));
    EXPECT_GT(ranks[r].pid, 0);
    EXPECT_GE(ranks[r].usable_cores, 1U);
    EXPECT_FALSE(ranks[r].host.empty());
  }
}

TEST(ClusterPool, SubmitAndApply) {
  Pool pool;
  auto f = pool.submit(square, 7);
  EXPECT_EQ(f.get(), 49);
  EXPECT_EQ(pool.apply(add, 2, 3), 5);
  EXPECT_EQ(pool.apply(repeat, std::string("ab"), 3), "ababab");
}

TEST(ClusterPool, MapGivesEveryResultInOrder) {
  Pool pool;
  const auto in = iota(20000);
  for (const std::optional<std::size_t> chunk :
       {std::optional<std::size_t>{}, std::optional<std::size_t>{1}, std::optional<std::size_t>{7},
        std::optional<std::size_t>{5000}}) {
    const std::vector<int> out = pool.map(square, in, chunk);
    ASSERT_EQ(out.size(), in.size());
    for (std::size_t i = 0; i < in.size(); ++i) ASSERT_EQ(out[i], in[i] * in[i]) << i;
  }
}

TEST(ClusterPool, StarmapAndStrings) {
  Pool pool;
  std::vector<std::tuple<int, int>> pairs;
  for (int i = 0; i < 1000; ++i) pairs.emplace_back(i, 2 * i);
  const auto sums = pool.starmap(add, pairs, 10);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(sums[static_cast<std::size_t>(i)], 3 * i);
  // Results larger than one small message travel too.
  EXPECT_EQ(pool.apply(repeat, std::string(1000, 'x'), 10), std::string(10000, 'x'));
}

TEST(ClusterPool, ImapKeepsInputOrder) {
  Pool pool;
  const auto in = iota(3000);
  std::size_t i = 0;
  for (const int v : pool.imap(square, in, 3)) {
    ASSERT_EQ(v, in[i] * in[i]);
    ++i;
  }
  EXPECT_EQ(i, in.size());
}

TEST(ClusterPool, ImapUnorderedGivesEveryItemOnce) {
  Pool pool;
  const auto in = iota(5000);
  std::multiset<int> got;
  for (const int v : pool.imap_unordered(square, in)) got.insert(v);
  ASSERT_EQ(got.size(), in.size());
  for (const int x : in) EXPECT_EQ(got.count(x * x), 1U) << x;
}

TEST(ClusterPool, FunctorStateTravels) {
  Pool pool(remote_only());
  EXPECT_EQ(pool.apply(AddK{100}, 1), 101);
  const auto out = pool.map(AddK{5}, iota(100), 3);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(out[static_cast<std::size_t>(i)], i + 5);
}

TEST(ClusterPool, TaskErrorsComeBackTypedFromRemoteRanks) {
  Pool pool(remote_only());  // every task runs on rank 1 or 2
  try {
    (void)pool.apply(throws_invalid, 3);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "bad 3");
  }
  try {
    (void)pool.apply(throws_app, 1);
    FAIL() << "no exception";
  } catch (const ringpool::pool::TaskFailed& e) {
    EXPECT_NE(e.type_name().find("AppError"), std::string::npos) << e.type_name();
    EXPECT_EQ(e.original_what(), "app error");
  }
  EXPECT_THROW((void)pool.map(throws_invalid, iota(50), 4), std::invalid_argument);
  std::size_t failed = 0;
  auto failing = pool.imap_unordered(throws_invalid, iota(20));
  for (auto it = failing.begin(); it != std::default_sentinel; ++it) {
    EXPECT_THROW((void)*it, std::invalid_argument);
    ++failed;
  }
  EXPECT_EQ(failed, 20U);
}

TEST(ClusterPool, WorkReachesEveryRank) {
  Pool pool(remote_only());
  const auto out = pool.map(slow_square, iota(400), 2);
  for (int i = 0; i < 400; ++i) ASSERT_EQ(out[static_cast<std::size_t>(i)], i * i);
  const auto stats = pool.stats();
  ASSERT_EQ(stats.items_per_rank.size(), 3U);
  EXPECT_EQ(stats.items_per_rank[0], 0U);  // local = false: rank 0 only coordinates
  EXPECT_GT(stats.items_per_rank[1], 0U);
  EXPECT_GT(stats.items_per_rank[2], 0U);
  EXPECT_EQ(stats.items_per_rank[1] + stats.items_per_rank[2], 400U);
}

// Chunks go where they are expected to finish first, by each rank's measured pace: once
// rank 2 has shown that an item takes it 400 ms, a batch that rank 1 clears in
// milliseconds goes to rank 1 alone, though rank 2 has room (under the old rule, the most
// free room, rank 2 took its share and the batch waited for it). Rank 2 sits idle 100 ms
// first: not long enough to be probed again at that pace (8 × 400 ms).
TEST(ClusterPool, ASlowRankGetsNoChunkThatAFasterOneFinishesFirst) {
  Pool pool(remote_only());  // ranks 1 and 2
  const SlowOnRankTwo slow{400};
  // Knowing nothing, one item each: rank 1 holds one when the second is placed, or has
  // finished it and rank 2, not measured, wins the tie.
  EXPECT_EQ(pool.map(slow, iota(2), 1), iota(2));
  const auto before = pool.stats().items_per_rank;
  ASSERT_EQ(before.size(), 3U);
  EXPECT_EQ(before[1], 1U);
  EXPECT_EQ(before[2], 1U);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(pool.map(slow, iota(20), 1), iota(20));
  const auto after = pool.stats().items_per_rank;
  EXPECT_EQ(after[2] - before[2], 0U);
  EXPECT_EQ(after[1] - before[1], 20U);
}

// A slow rank is measured again once it has sat idle long enough that a chunk's cost at its
// old pace is a small share of that time (8 × 10 ms here): it may have become fast.
TEST(ClusterPool, AnIdleSlowRankIsMeasuredAgain) {
  Pool pool(remote_only());
  const SlowOnRankTwo slow{10};
  EXPECT_EQ(pool.map(slow, iota(2), 1), iota(2));
  const auto before = pool.stats().items_per_rank;
  ASSERT_EQ(before.size(), 3U);
  EXPECT_EQ(before[2], 1U);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(pool.map(slow, iota(20), 1), iota(20));
  const auto after = pool.stats().items_per_rank;
  EXPECT_GT(after[2] - before[2], 0U);
  EXPECT_EQ(after[1] + after[2] - before[1] - before[2], 20U);
}

TEST(ClusterPool, RanksOptionLimitsTheRanksTakingPart) {
  Pool pool(with_ranks(1));
  (void)pool.map(square, iota(1000), 10);
  const auto stats = pool.stats();
  EXPECT_EQ(stats.items_per_rank[0], 1000U);
  EXPECT_EQ(stats.items_per_rank[1] + stats.items_per_rank[2], 0U);
  EXPECT_EQ(pool.last_plan().ranks, 1U);
}

TEST(ClusterPool, PlanCountsTheCoresOfEveryRank) {
  Pool pool(with_workers(1));
  EXPECT_EQ(pool.workers(), 3U);
  (void)pool.map(square, iota(3));
  auto plan = pool.last_plan();
  EXPECT_EQ(plan.mode, ringpool::topology::Mode::parallel);
  EXPECT_EQ(plan.ranks, 3U);
  EXPECT_EQ(plan.cores, 3U);
  ASSERT_EQ(plan.per_rank.size(), 3U);
  EXPECT_NE(plan.reason.find("3 workers on 3 rank(s)"), std::string::npos) << plan.reason;
  (void)pool.map(square, iota(4));
  plan = pool.last_plan();
  EXPECT_EQ(plan.mode, ringpool::topology::Mode::concurrent);
  EXPECT_EQ(plan.tasks, 4U);
}

TEST(ClusterPool, CloseJoinAndTerminate) {
  Pool pool;
  EXPECT_THROW(pool.join(), ringpool::pool::InvalidState);
  auto f = pool.submit(sleep_ms, 20);
  pool.close();
  EXPECT_THROW((void)pool.submit(square, 1), ringpool::pool::Closed);
  pool.join();
  EXPECT_EQ(f.get(), 20);

  Pool other(remote_only());
  std::vector<ringpool::pool::Future<int>> slow;
  for (int i = 0; i < 4; ++i) slow.push_back(other.submit(sleep_ms, 3000));
  const auto start = std::chrono::steady_clock::now();
  other.terminate();
  for (auto& s : slow) EXPECT_THROW((void)s.get(), ringpool::pool::Closed);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  // The ranks serve the next pool.
  Pool again;
  EXPECT_EQ(again.apply(square, 9), 81);
}

// A task no rank has yet can be cancelled: one gathered on rank 0 for a remote rank (not
// sent), and one queued in rank 0's own pool behind a busy worker. It never runs, its future
// completes as cancelled (callbacks run); a task sent to a remote rank is running and cannot
// be cancelled.
TEST(ClusterPool, CancelsATaskNoRankHasYet) {
  PoolOptions o = with_ranks(2, false);
  o.workers_per_rank = 1;
  Pool pool(o);
  auto busy = pool.submit(sleep_ms, 300);  // sent at once: rank 1's one worker is idle
  auto before = pool.submit(add, 1, 2);    // these three are gathered on rank 0 until its
  auto queued = pool.submit(square, 5);    // next progress step (rank 1 has a chunk for each
  auto after = pool.submit(add, 3, 4);     // of its workers already)
  bool called = false;
  queued.add_done_callback([&](const ringpool::pool::Future<int>&) { called = true; });
  EXPECT_TRUE(busy.running());
  EXPECT_FALSE(busy.cancel());
  EXPECT_FALSE(queued.running());
  EXPECT_TRUE(queued.cancel());
  EXPECT_TRUE(called);
  EXPECT_TRUE(queued.cancelled());
  EXPECT_TRUE(queued.done());
  EXPECT_TRUE(queued.cancel());  // again: still cancelled
  EXPECT_THROW((void)queued.get(), ringpool::pool::CancelledError);
  EXPECT_EQ(busy.get(), 300);
  EXPECT_FALSE(busy.running());
  EXPECT_FALSE(busy.cancel());
  EXPECT_EQ(before.get(), 3);  // the chunks around the one cut out travel whole
  EXPECT_EQ(after.get(), 7);
  EXPECT_EQ(pool.stats().items_per_rank.at(1), 3U);  // never the cancelled one

  PoolOptions l = with_ranks(1);
  l.workers_per_rank = 1;
  Pool local(l);
  auto running = local.submit(sleep_ms, 300);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!running.running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(running.running());
  auto waiting = local.submit(square, 7);  // behind the busy worker in rank 0's pool
  EXPECT_FALSE(waiting.running());
  EXPECT_TRUE(waiting.cancel());
  EXPECT_TRUE(waiting.cancelled());
  EXPECT_THROW((void)waiting.get(), ringpool::pool::CancelledError);
  EXPECT_FALSE(running.cancel());
  EXPECT_EQ(running.get(), 300);
  EXPECT_EQ(local.apply(square, 8), 64);
  EXPECT_EQ(local.stats().items_per_rank.at(0), 2U);
}

TEST(ClusterPool, RefusesWhatCannotTravelOrRun) {
  Pool pool;
  EXPECT_THROW((void)pool.submit(not_registered, 1), ringpool::pool::InvalidArgument);
  EXPECT_THROW((void)pool.map(not_registered, iota(3)), ringpool::pool::InvalidArgument);
  EXPECT_THROW(Pool(with_ranks(4)), ringpool::pool::InvalidArgument);
  EXPECT_THROW(Pool(with_ranks(1, false)), ringpool::pool::InvalidArgument);
  EXPECT_THROW(Pool(with_workers(0)), ringpool::pool::InvalidArgument);
}

}  // namespace
