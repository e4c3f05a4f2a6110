// Every name issue #11 lists is reachable through the umbrella header alone, with the
// signature the issue gives (checked at compile time), and the one runtime behaviour of
// the header itself: a program using only <ringpool/ringpool.hpp> runs a Pool task.
#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <concepts>
#include <exception>
#include <mutex>
#include <optional>
#include <ringpool/ringpool.hpp>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

namespace rp = ringpool::pool;
using std::chrono::nanoseconds;

// Pipe / Connection.
static_assert(std::same_as<decltype(rp::Pipe<int>(true)),
                           std::pair<rp::Connection<int>, rp::Connection<int>>>);
static_assert(requires(rp::Connection<int> & c, nanoseconds t) {
  c.send(1);
  { c.recv() } -> std::same_as<int>;
  { c.recv(t) } -> std::same_as<int>;
  { c.poll(t) } -> std::same_as<bool>;
  c.close();
});
static_assert(std::derived_from<rp::Closed, ringpool::Error>);

// Locks and the rest of the synchronisation primitives; std::scoped_lock works.
template <class L>
constexpr bool kPythonLock = requires(L& l, nanoseconds t) {
  { l.acquire(t) } -> std::same_as<bool>;
  l.release();
  l.lock();
  { l.try_lock() } -> std::same_as<bool>;
  l.unlock();
  { l.holder_died() } -> std::same_as<bool>;
};
static_assert(kPythonLock<rp::Lock> && kPythonLock<rp::RLock>);
static_assert(requires(rp::Semaphore & s, nanoseconds t) {
  { s.acquire(t) } -> std::same_as<bool>;
  s.release();
});
static_assert(std::derived_from<rp::BoundedSemaphore, rp::Semaphore>);
static_assert(requires(rp::Event & e, nanoseconds t) {
  e.set();
  e.clear();
  { e.is_set() } -> std::same_as<bool>;
  { e.wait(t) } -> std::same_as<bool>;
});
static_assert(requires(rp::Condition & c, nanoseconds t) {
  c.wait();
  c.wait_for([] { return true; }, t);
  c.notify();
  c.notify_all();
});
static_assert(std::is_constructible_v<std::scoped_lock<rp::Lock>, rp::Lock&> &&
              std::is_constructible_v<std::scoped_lock<rp::RLock>, rp::RLock&> &&
              std::is_constructible_v<std::scoped_lock<rp::Condition>, rp::Condition&>);
static_assert(requires(rp::Barrier & b, nanoseconds t) {
  b.wait();
  b.wait(t);
  b.abort();
  b.reset();
});
static_assert(std::derived_from<rp::BrokenBarrier, ringpool::Error>);

// Shared state.
static_assert(requires(rp::Value<int> & v, rp::Array<double>& a) {
  { v.value() } -> std::same_as<int>;
  v.store(1);
  { v.get_lock() } -> std::same_as<rp::RLock&>;
  { a[0] } -> std::same_as<double&>;
  { a.span() } -> std::same_as<std::span<double>>;
  { a.get_lock() } -> std::same_as<rp::RLock&>;
});

// Queues.
static_assert(requires(rp::JoinableQueue<int> & q, rp::SimpleQueue<int>& s) {
  q.task_done();
  q.join();
  s.put(1);
  { s.get() } -> std::same_as<int>;
  { s.empty() } -> std::same_as<bool>;
});

int twice(int x) {
  return 2 * x;
}
int add(int a, int b) {
  return a + b;
}

// Pool, futures, wait / as_completed.
static_assert(requires(rp::Pool & p, std::vector<int> xs, std::vector<std::tuple<int, int>> ts) {
  { p.map_async(twice, xs) } -> std::same_as<rp::Future<std::vector<int>>>;
  { p.starmap_async(add, ts) } -> std::same_as<rp::Future<std::vector<int>>>;
  { p.imap(twice, xs).next(std::chrono::seconds(1)) } -> std::same_as<std::optional<int>>;
  p.shutdown(true, false);
});
static_assert(requires(const rp::Future<int>& f, std::vector<rp::Future<int>> fs) {
  { f.cancel() } -> std::same_as<bool>;
  { f.cancelled() } -> std::same_as<bool>;
  { f.running() } -> std::same_as<bool>;
  { f.done() } -> std::same_as<bool>;
  { f.exception(std::chrono::seconds(1)) } -> std::same_as<std::exception_ptr>;
  rp::wait(fs, std::chrono::seconds(1), rp::ReturnWhen::first_completed);
  rp::wait(fs, std::chrono::seconds(1), rp::ReturnWhen::first_exception);
  rp::wait(fs, std::chrono::seconds(1), rp::ReturnWhen::all_completed);
  rp::as_completed(fs, std::chrono::seconds(1));
});

// Process.
static_assert(std::same_as<decltype(ringpool::this_process::parent()),
                           std::optional<ringpool::this_process::ParentProcess>>);
static_assert(requires(const ringpool::this_process::ParentProcess& p) {
  { p.pid() } -> std::same_as<pid_t>;
  { p.name() } -> std::same_as<const std::string&>;
  { p.is_alive() } -> std::same_as<bool>;
});
static_assert(requires(rp::Process & p) {
  { p.sentinel() } -> std::same_as<int>;
  p.close();
});
static_assert(std::same_as<decltype(rp::active_children()), std::vector<rp::ChildProcess>>);
static_assert(requires(rp::ChildProcess & c) {
  { c.pid() } -> std::same_as<pid_t>;
  { c.name() } -> std::same_as<const std::string&>;
  { c.is_alive() } -> std::same_as<bool>;
  { c.sentinel() } -> std::same_as<int>;
});

TEST(UmbrellaHeader, ReachesAPoolThroughOneInclude) {
  rp::Pool pool(1);
  EXPECT_EQ(pool.map_async(twice, std::vector<int>{1, 2}).get(), (std::vector<int>{2, 4}));
}

}  // namespace
