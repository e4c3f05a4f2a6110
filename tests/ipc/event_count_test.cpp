// EventCount between threads (both futex scopes): the protocol's edge cases, and hand-offs
// hammered from several threads whose waits have no timeout, so a lost wake-up hangs the
// test (CTest's timeout then fails it). The cross-process case is event_count_fork_test.cpp.
#include "ringpool/ipc/event_count.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <thread>
#include <vector>

#include "test_helpers.hpp"

namespace ringpool::ipc {
namespace {
using ::ringpool::test::stress_scale;

using namespace std::chrono_literals;

template <class E>
class EventCounts : public ::testing::Test {};
using Scopes = ::testing::Types<EventCount, LocalEventCount>;
struct ScopeNames {
  template <class E>
  static std::string GetName(int) {
    return E::kScope == FutexScope::shared ? "Shared" : "ProcessPrivate";
  }
};
TYPED_TEST_SUITE(EventCounts, Scopes, ScopeNames);

TYPED_TEST(EventCounts, NotifyWithoutWaitersLeavesTheEpochAlone) {
  TypeParam ec;
  const auto before = ec.prepare_wait();
  ec.cancel_wait();
  EXPECT_EQ(ec.waiters_approx(), 0u);
  ec.notify_one();
  ec.notify_all();
  const auto after = ec.prepare_wait();
  ec.cancel_wait();
  EXPECT_EQ(before.epoch(), after.epoch());  // no shared write when nobody waits
}

TYPED_TEST(EventCounts, NotifyBetweenPrepareAndWaitIsNotLost) {
  TypeParam ec;
  const auto key = ec.prepare_wait();
  EXPECT_EQ(ec.waiters_approx(), 1u);
  ec.notify_one();
  EXPECT_TRUE(ec.wait(key));  // no timeout: returns only because the epoch moved
  EXPECT_EQ(ec.waiters_approx(), 0u);
  const auto next = ec.prepare_wait();
  EXPECT_NE(next.epoch(), key.epoch());
  ec.notify_all();
  EXPECT_TRUE(ec.wait(next, 10s));
}

TYPED_TEST(EventCounts, WaitWithoutNotifyTimesOutAndDeregisters) {
  TypeParam ec;
  const auto key = ec.prepare_wait();
  EXPECT_FALSE(ec.wait(key, 1ms));
  EXPECT_EQ(ec.waiters_approx(), 0u);
  const auto again = ec.prepare_wait();
  EXPECT_FALSE(ec.wait_until(again, std::chrono::steady_clock::now() - 1s));  // past deadline
  EXPECT_EQ(ec.waiters_approx(), 0u);
  const auto zero = ec.prepare_wait();
  EXPECT_FALSE(ec.wait(zero, 0ns));
  EXPECT_EQ(ec.waiters_approx(), 0u);
}

TYPED_TEST(EventCounts, AwaitHonoursItsDeadlineAndDeregistersOnAThrow) {
  TypeParam ec;
  EXPECT_FALSE(ec.await([] { return false; }, std::chrono::steady_clock::now() + 2ms));
  EXPECT_EQ(ec.waiters_approx(), 0u);
  int calls = 0;
  EXPECT_THROW(ec.await([&]() -> bool {
    if (++calls == 2) throw std::runtime_error("condition failed");  // inside the wait
    return false;
  }),
               std::runtime_error);
  EXPECT_EQ(ec.waiters_approx(), 0u);
  EXPECT_TRUE(ec.await([] { return true; }));
}

TYPED_TEST(EventCounts, ResetForgetsADeadWaiter) {
  TypeParam ec;
  (void)ec.prepare_wait();  // registered, then "died"
  EXPECT_EQ(ec.waiters_approx(), 1u);
  ec.reset();
  EXPECT_EQ(ec.waiters_approx(), 0u);
}

// Two threads hand a turn back and forth; each waits (no timeout) for its own parity.
TYPED_TEST(EventCounts, PingPongNeverLosesAWakeup) {
  TypeParam ec;
  std::atomic<std::uint64_t> turn{0};
  const std::uint64_t rounds = 20'000 * stress_scale();
  auto player = [&](std::uint64_t parity) {
    for (std::uint64_t r = 0; r < rounds; ++r) {
      // acquire: pairs with the other player's seq_cst store.
      ec.await([&] { return turn.load(std::memory_order_acquire) % 2 == parity; });
      // seq_cst: the publish of the EventCount argument.
      turn.fetch_add(1, std::memory_order_seq_cst);
      ec.notify_one();
    }
  };
  std::thread other(player, 1);
  player(0);
  other.join();
  EXPECT_EQ(turn.load(), 2 * rounds);
}

// Producers add tokens one at a time (notify_one per token), consumers each take a fixed
// number with waits that have no timeout: every wait must be woken.
template <class E>
void run_token_handoff(bool notify_all) {
  E ec;
  std::atomic<std::uint64_t> tokens{0};
  constexpr int kProducers = 3;
  constexpr int kConsumers = 3;
  const std::uint64_t per_thread = 5'000 * stress_scale();
  std::atomic<std::uint64_t> taken{0};
  auto take = [&] {
    // acquire / relaxed: the token count is the only shared state; seq_cst for the
    // decrement is not needed, the wait is on the producers' publish.
    std::uint64_t n = tokens.load(std::memory_order_acquire);
    while (n != 0) {
      if (tokens.compare_exchange_weak(n, n - 1, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        return true;
      }
    }
    return false;
  };
  std::vector<std::thread> threads;
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&] {
      for (std::uint64_t i = 0; i < per_thread; ++i) {
        ec.await(take);
        taken.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&] {
      for (std::uint64_t i = 0; i < per_thread; ++i) {
        tokens.fetch_add(1, std::memory_order_seq_cst);  // the publish
        if (notify_all) {
          ec.notify_all();
        } else {
          ec.notify_one();
        }
        if (i % 64 == 0) std::this_thread::yield();  // let consumers fall asleep often
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(taken.load(), kConsumers * per_thread);
  EXPECT_EQ(tokens.load(), 0u);
  EXPECT_EQ(ec.waiters_approx(), 0u);
}

TYPED_TEST(EventCounts, ManyProducersManyConsumersNotifyOne) {
  run_token_handoff<TypeParam>(false);
}

TYPED_TEST(EventCounts, ManyProducersManyConsumersNotifyAll) {
  run_token_handoff<TypeParam>(true);
}

// Waiters of another condition (here: one that only naps with a short timeout) next to a
// waiter of the published condition: notify_all reaches the latter whatever the former do.
// (notify_one could be absorbed by the napper: see "notify_one" in event_count.hpp.)
TYPED_TEST(EventCounts, NotifyAllReachesEveryWaiterBesideUnrelatedNappers) {
  TypeParam ec;
  std::atomic<std::uint64_t> published{0};
  const std::uint64_t total = 5'000 * stress_scale();
  std::atomic<bool> done{false};
  std::thread timed([&] {
    while (!done.load(std::memory_order_acquire)) {
      const auto key = ec.prepare_wait();
      (void)ec.wait(key, 50us);
    }
  });
  std::thread untimed([&] {
    for (std::uint64_t seen = 1; seen <= total; ++seen) {
      ec.await([&] { return published.load(std::memory_order_acquire) >= seen; });
    }
  });
  for (std::uint64_t i = 0; i < total; ++i) {
    published.fetch_add(1, std::memory_order_seq_cst);
    ec.notify_all();
    if (i % 16 == 0) std::this_thread::yield();
  }
  untimed.join();
  done.store(true, std::memory_order_release);
  timed.join();
  EXPECT_EQ(published.load(), total);
}

}  // namespace
}  // namespace ringpool::ipc
