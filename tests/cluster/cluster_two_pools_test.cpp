// Two cluster::Pools alive at once in one program (under mpirun -np 3): each pool's results
// come back to it whichever pool's thread takes them off MPI (rank 0's mailboxes), used in
// turn and from two threads at once, with the echo diagnostic running beside them, and a
// pool opened and closed while another has work out.
#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "ringpool/cluster/cluster.hpp"
#include "ringpool/cluster/detail/diagnostics.hpp"
#include "ringpool/cluster/pool.hpp"
#include "test_helpers.hpp"

namespace {
using ::ringpool::test::iota;

using ringpool::cluster::Pool;
using ringpool::cluster::PoolOptions;

int cube(int x) {
  return x * x * x;
}
int offset_by(int x, int k) {
  return x + k;
}
int nap_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
struct Shift {
  int k = 0;
  int operator()(int x) const { return x + k; }
};

}  // namespace

RINGPOOL_TASK(cube);
RINGPOOL_TASK(offset_by);
RINGPOOL_TASK(nap_ms);
RINGPOOL_FUNCTOR(Shift);

namespace {

// Remote ranks only (every result crosses MPI), one worker per rank: two pools fit.
PoolOptions remote_pool() {
  PoolOptions o;
  o.local = false;
  o.workers_per_rank = 1;
  return o;
}

// One pool's share of the work: maps and single submits whose results name the pool
// (x + k), so a result that reached the wrong pool would show.
void work(Pool& pool, int k, int rounds) {
  const auto in = iota(2000);
  for (int round = 0; round < rounds; ++round) {
    const std::vector<int> out = pool.map(Shift{k}, in, std::size_t{round % 2 == 0 ? 1U : 50U});
    ASSERT_EQ(out.size(), in.size());
    for (std::size_t i = 0; i < in.size(); ++i) ASSERT_EQ(out[i], in[i] + k) << i;
    for (int i = 0; i < 20; ++i) ASSERT_EQ(pool.submit(offset_by, i, k).get(), i + k);
  }
}

TEST(ClusterTwoPools, UsedInTurnEachGetsItsOwnResults) {
  ASSERT_EQ(ringpool::cluster::world_size(), 3U) << "run under mpirun -np 3";
  Pool a(remote_pool());
  Pool b(remote_pool());
  for (int round = 0; round < 30; ++round) {
    // a's results are out while b waits (and takes them off MPI), and the other way round.
    auto fa = a.submit(offset_by, round, 1000);
    auto fb = b.submit(offset_by, round, 2000);
    if (round % 2 == 0) {
      EXPECT_EQ(fb.get(), round + 2000);
      EXPECT_EQ(fa.get(), round + 1000);
    } else {
      EXPECT_EQ(fa.get(), round + 1000);
      EXPECT_EQ(fb.get(), round + 2000);
    }
  }
  const auto in = iota(5000);
  auto ia = a.imap(Shift{1}, in, 7);
  const std::vector<int> cubes = b.map(cube, iota(500), std::size_t{3});
  for (std::size_t i = 0; i < cubes.size(); ++i) {
    ASSERT_EQ(cubes[i], static_cast<int>(i * i * i)) << i;
  }
  std::size_t n = 0;
  for (const int v : ia) {
    ASSERT_EQ(v, static_cast<int>(n) + 1) << n;
    ++n;
  }
  EXPECT_EQ(n, in.size());
  work(a, 1, 2);
  work(b, 2, 2);
}

TEST(ClusterTwoPools, TwoThreadsTwoPoolsAndTheEcho) {
  Pool a(remote_pool());
  Pool b(remote_pool());
  std::exception_ptr echo_error;
  std::vector<double> echoes;
  std::thread other([&] { work(b, 7, 6); });
  std::thread echo([&] {
    try {
      echoes = ringpool::cluster::detail::echo_round_trips_us(2, 300);
    } catch (...) {
      echo_error = std::current_exception();
    }
  });
  work(a, 3, 6);
  other.join();
  echo.join();
  if (echo_error) std::rethrow_exception(echo_error);
  EXPECT_EQ(echoes.size(), 300U);
  // Both pools still work after the threads' traffic, and each counted its own items.
  EXPECT_EQ(a.apply(offset_by, 1, 1), 2);
  EXPECT_EQ(b.apply(offset_by, 1, 2), 3);
  const std::uint64_t each = 6 * (2000 + 20) + 1;
  for (Pool* pool : {&a, &b}) {
    const auto per_rank = pool->stats().items_per_rank;
    EXPECT_EQ(std::accumulate(per_rank.begin(), per_rank.end(), std::uint64_t{0}), each);
  }
}

TEST(ClusterTwoPools, APoolOpenedAndClosedWhileAnotherHasWorkOut) {
  Pool a(remote_pool());
  const auto in = iota(1000);  // 999^3 fits an int
  auto it = a.imap_unordered(cube, in, 10);
  for (int k = 0; k < 3; ++k) {
    auto napping = a.submit(nap_ms, 20 + k);  // its result likely comes while b's thread polls
    Pool b(remote_pool());
    EXPECT_EQ(b.map(Shift{k}, std::vector<int>{1, 2}), (std::vector<int>{1 + k, 2 + k}));
    EXPECT_EQ(b.apply(nap_ms, 30), 30);
    if (k == 2) {
      b.terminate();
    } else {
      b.close();
      b.join();
    }
    EXPECT_EQ(napping.get(), 20 + k);
  }
  long long sum = 0;
  std::size_t n = 0;
  for (const int v : it) {
    sum += v;
    ++n;
  }
  EXPECT_EQ(n, in.size());
  long long want = 0;
  for (const int x : in) want += static_cast<long long>(x) * x * x;
  EXPECT_EQ(sum, want);
  EXPECT_EQ(a.apply(cube, 3), 27);
}

}  // namespace
