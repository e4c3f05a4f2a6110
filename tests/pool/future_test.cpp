// Future<R> without a pool: shared states completed by other threads (the collector's
// role). Threads only, no fork: meaningful under ThreadSanitizer.
#include "ringpool/pool/future.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using ringpool::pool::Future;
using ringpool::pool::InvalidState;
using ringpool::pool::TaskFailed;
using ringpool::pool::Timeout;
using ringpool::pool::detail::State;

template <class R>
std::pair<Future<R>, State<R>*> make_future() {
  auto* s = State<R>::make();
  s->add_ref();  // the "pool's" reference, released by complete()
  return {Future<R>::adopt(s), s};
}

TEST(Future, GetBlocksUntilAnotherThreadCompletes) {
  auto [f, s] = make_future<int>();
  std::thread t([s = s] {
    std::this_thread::sleep_for(20ms);
    s->set_value(42);
    s->release_ref();
  });
  EXPECT_EQ(f.get(), 42);
  EXPECT_EQ(f.get(), 42);
  EXPECT_TRUE(f.ready());
  EXPECT_TRUE(f.successful());
  t.join();
}

TEST(Future, GetWithTimeoutThrowsTimeoutAndTheFutureStaysUsable) {
  auto [f, s] = make_future<std::string>();
  EXPECT_THROW((void)f.get(5ms), Timeout);
  EXPECT_FALSE(f.ready());
  EXPECT_FALSE(f.wait_for(1ms));
  EXPECT_THROW((void)f.successful(), InvalidState);
  std::thread t([s = s] {
    s->set_value("late");
    s->release_ref();
  });
  EXPECT_EQ(f.get(5s), "late");
  t.join();
}

TEST(Future, ErrorsRethrowFromGetAndThen) {
  auto [f, s] = make_future<int>();
  auto g = f.then([](int v) { return v + 1; });
  std::thread t([s = s] {
    s->fail(0, std::make_exception_ptr(TaskFailed("std::logic_error", "nope")));
    s->release_ref();
  });
  try {
    (void)g.get();
    FAIL() << "expected TaskFailed";
  } catch (const TaskFailed& e) {
    EXPECT_EQ(e.type_name(), "std::logic_error");
    EXPECT_EQ(e.original_what(), "nope");
  }
  EXPECT_FALSE(f.successful());
  EXPECT_NE(f.exception(), nullptr);
  t.join();
}

TEST(Future, ThenChainsAndAContinuationThatThrowsFailsItsFuture) {
  auto [f, s] = make_future<int>();
  auto doubled = f.then([](int v) { return v * 2; });
  auto text = doubled.then([](int v) { return std::to_string(v); });
  auto broken = f.then([](int) -> int { throw std::out_of_range("too far"); });
  auto side = f.then([](int) {});
  std::thread t([s = s] {
    s->set_value(21);
    s->release_ref();
  });
  EXPECT_EQ(text.get(), "42");
  EXPECT_THROW((void)broken.get(), std::out_of_range);
  side.get();
  t.join();
}

TEST(Future, CallbacksRunOnceWhetherRegisteredBeforeOrAfterCompletion) {
  auto [f, s] = make_future<int>();
  std::atomic<int> calls{0};
  for (int i = 0; i < 8; ++i) f.add_done_callback([&](const Future<int>&) { ++calls; });
  std::thread t([s = s] {
    s->set_value(1);
    s->release_ref();
  });
  f.wait();
  t.join();
  EXPECT_EQ(calls.load(), 8);
  f.add_done_callback([&](const Future<int>&) { ++calls; });
  EXPECT_EQ(calls.load(), 9);
}

TEST(Future, ManyWaitersOnOneStateAllWake) {
  auto [f, s] = make_future<int>();
  std::vector<std::thread> waiters;
  std::atomic<int> sum{0};
  for (int i = 0; i < 6; ++i) {
    waiters.emplace_back([&sum, g = f] { sum += g.get(); });
  }
  std::this_thread::sleep_for(10ms);
  s->set_value(7);
  s->release_ref();
  for (auto& w : waiters) w.join();
  EXPECT_EQ(sum.load(), 42);
}

TEST(Future, VoidFutures) {
  auto [f, s] = make_future<void>();
  EXPECT_FALSE(f.ready());
  s->set_value();
  s->release_ref();
  f.get();
  EXPECT_TRUE(f.successful());
  EXPECT_EQ(f.then([] { return 5; }).get(), 5);
}

TEST(Future, EmptyFutureIsInvalidState) {
  Future<int> f;
  EXPECT_FALSE(f.valid());
  EXPECT_THROW((void)f.get(), InvalidState);
  EXPECT_THROW((void)f.ready(), InvalidState);
}

TEST(Future, GetOnAnRvalueMovesTheValueOutWhenNoOtherFutureSharesIt) {
  auto [f, s] = make_future<std::vector<int>>();
  std::vector<int> v(1000, 7);
  const int* buffer = v.data();
  s->set_value(std::move(v));
  s->release_ref();
  Future<std::vector<int>> shared = f;
  const std::vector<int> copied = std::move(f).get();
  EXPECT_NE(copied.data(), buffer) << "another future shares the value: it is copied";
  EXPECT_FALSE(f.valid())
      << "get() on an rvalue consumes the future";  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(shared.get(), copied) << "the other future still has the value";
  const std::vector<int> moved = std::move(shared).get();
  EXPECT_EQ(moved.data(), buffer) << "the only future: the value is moved out, not copied";
  EXPECT_EQ(moved, copied);
  EXPECT_FALSE(shared.valid());  // NOLINT(bugprone-use-after-move)
}

TEST(Future, GetOnAnRvalueTimesOutAndRethrowsLikeGet) {
  auto [f, s] = make_future<std::string>();
  EXPECT_THROW((void)std::move(f).get(1ms), Timeout);
  EXPECT_TRUE(f.valid())
      << "a timeout leaves the future usable";  // NOLINT(bugprone-use-after-move)
  s->fail(0, std::make_exception_ptr(std::runtime_error("boom")));
  s->release_ref();
  EXPECT_THROW((void)std::move(f).get(), std::runtime_error);
  EXPECT_FALSE(f.valid());  // NOLINT(bugprone-use-after-move)
  auto [g, t] = make_future<void>();
  t->set_value();
  t->release_ref();
  std::move(g).get();
  EXPECT_FALSE(g.valid());  // NOLINT(bugprone-use-after-move)
}

// A continuation holds a Future of its own: get() on an rvalue copies rather than moving
// the value from under it (TSan would report the race otherwise).
TEST(Future, GetOnAnRvalueCopiesWhileAContinuationMayStillReadTheValue) {
  for (int round = 0; round < 50; ++round) {
    auto [f, s] = make_future<std::vector<int>>();
    auto g = f.then([](const std::vector<int>& v) { return v.size(); });
    std::thread t([s = s] {
      s->set_value(std::vector<int>(100, 1));
      s->release_ref();
    });
    const std::vector<int> v = std::move(f).get();
    EXPECT_EQ(v.size(), 100U);
    EXPECT_EQ(g.get(), 100U);
    t.join();
  }
}

TEST(Future, StatesAreRecycled) {
  void* first = nullptr;
  {
    auto [f, s] = make_future<int>();
    first = s;
    s->set_value(1);
    s->release_ref();
  }
  auto [g, t] = make_future<int>();
  EXPECT_EQ(static_cast<void*>(t), first);  // the slab handed the same block back
  t->set_value(2);
  t->release_ref();
  EXPECT_EQ(g.get(), 2);
}

}  // namespace
