// Event across processes: set() wakes waiters in other processes and publishes what the
// setter wrote before it; wait(timeout) reports the flag; clear; named create/open.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "ringpool/pool/errors.hpp"
#include "ringpool/pool/process.hpp"
#include "ringpool/pool/shared_value.hpp"
#include "ringpool/pool/sync.hpp"
#include "ringpool/pool/this_process.hpp"

namespace {

using namespace std::chrono_literals;
using ringpool::pool::Event;
using ringpool::pool::InvalidArgument;
using ringpool::pool::Lock;
using ringpool::pool::Process;
using ringpool::pool::Value;

TEST(Event, SetWakesWaitersInOtherProcesses) {
  Event go;
  Value<int> payload(0, {.lock = false});
  Value<int> waiting(0);
  std::vector<Process> waiters;
  for (int i = 0; i < 3; ++i) {
    waiters.emplace_back([go, payload, waiting]() mutable {
      {
        std::scoped_lock hold(waiting.get_lock());
        waiting.get_obj() += 1;
      }
      if (!go.wait(20s)) ringpool::this_process::exit(3);
      // Written before set(): visible after wait() returns.
      if (payload.get_obj() != 42) ringpool::this_process::exit(4);
    });
  }
  for (auto& w : waiters) w.start();
  // Not a timing assertion: waiters that have not reached wait() yet still must see the set.
  for (int spins = 0; waiting.value() < 3 && spins < 20000; ++spins) ::usleep(1000);
  for (auto& w : waiters) EXPECT_FALSE(w.join(10ms));  // nobody passes before set()
  payload.get_obj() = 42;
  go.set();
  for (auto& w : waiters) {
    w.join();
    EXPECT_EQ(w.exitcode(), 0);
  }
}

TEST(Event, WaitWithTimeoutReportsTheFlag) {
  Event event;
  EXPECT_FALSE(event.is_set());
  EXPECT_FALSE(event.wait(20ms));
  EXPECT_FALSE(event.wait(0ns));
  event.set();
  EXPECT_TRUE(event.is_set());
  EXPECT_TRUE(event.wait(0ns));
  EXPECT_TRUE(event.wait());
  event.set();  // idempotent
  event.clear();
  EXPECT_FALSE(event.is_set());
  EXPECT_FALSE(event.wait(10ms));
}

TEST(Event, SetInAChildWakesTheParent) {
  Event event;
  Process setter([event]() mutable { event.set(); });
  setter.start();
  EXPECT_TRUE(event.wait(20s));
  setter.join();
  EXPECT_EQ(setter.exitcode(), 0);
}

TEST(Event, NamedCreateAndOpen) {
  const std::string name = "ringpool-test-event-" + std::to_string(::getpid());
  Event created = Event::create(name);
  Event opened = Event::open(name);
  opened.set();
  EXPECT_TRUE(created.is_set());
  EXPECT_THROW((void)Lock::open(name), InvalidArgument);     // an Event, not a Lock
  EXPECT_THROW((void)Event::create(name), ringpool::Error);  // O_EXCL
}

}  // namespace
