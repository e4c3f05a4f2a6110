// JoinableQueue<T>: task_done / join across processes, task_done called too often, failed
// puts add no task. Suite JoinableQueueThreads runs over one mapping with threads only and
// is registered apart with the tsan label.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "ringpool/pool/process.hpp"
#include "ringpool/pool/queue.hpp"

namespace {

using namespace std::chrono_literals;
using ringpool::pool::Closed;
using ringpool::pool::Full;
using ringpool::pool::InvalidState;
using ringpool::pool::JoinableQueue;
using ringpool::pool::PayloadTooLarge;
using ringpool::pool::Process;
using ringpool::pool::Queue;
using ringpool::pool::QueueOptions;

TEST(JoinableQueue, JoinWaitsForEveryTaskDoneInOtherProcesses) {
  JoinableQueue<int> tasks(8);
  Queue<int> results(256);
  constexpr int kTasks = 200;
  std::vector<Process> workers;
  for (int w = 0; w < 2; ++w) {
    workers.emplace_back([tasks, results]() mutable {
      for (;;) {
        int n = 0;
        try {
          n = tasks.get();
        } catch (const Closed&) {
          return;
        }
        results.put(n * n);  // the result is out before the task is marked done
        tasks.task_done();
      }
    });
    workers.back().start();
  }
  for (int i = 0; i < kTasks; ++i) tasks.put(i);
  ASSERT_TRUE(tasks.join(30s));
  // join returned: every task's result was put before its task_done.
  EXPECT_EQ(results.size_approx(), static_cast<std::size_t>(kTasks));
  EXPECT_EQ(tasks.unfinished_tasks_approx(), 0U);
  long long sum = 0;
  for (int i = 0; i < kTasks; ++i) sum += results.get(10s);
  long long expected = 0;
  for (int i = 0; i < kTasks; ++i) expected += static_cast<long long>(i) * i;
  EXPECT_EQ(sum, expected);
  tasks.close();
  for (Process& w : workers) {
    w.join();
    EXPECT_EQ(w.exitcode(), 0);
  }
}

TEST(JoinableQueue, JoinTimesOutWhileATaskIsUnfinished) {
  JoinableQueue<std::string> q;
  EXPECT_TRUE(q.join(0ns));  // nothing put yet
  q.put("job");
  EXPECT_EQ(q.unfinished_tasks_approx(), 1U);
  EXPECT_FALSE(q.join(20ms));
  EXPECT_EQ(q.get(), "job");
  EXPECT_FALSE(q.join(20ms));  // taken, but not done
  Process finisher([q]() mutable { q.task_done(); });
  finisher.start();
  q.join();
  finisher.join();
  EXPECT_EQ(finisher.exitcode(), 0);
}

TEST(JoinableQueue, TaskDoneMoreOftenThanPutIsATypedError) {
  JoinableQueue<int> q(4);
  EXPECT_THROW(q.task_done(), InvalidState);
  q.put(1);
  static_cast<void>(q.get());
  q.task_done();
  try {
    q.task_done();
    FAIL() << "expected InvalidState";
  } catch (const InvalidState& e) {
    EXPECT_NE(std::string(e.what()).find("task_done"), std::string::npos) << e.what();
  }
  EXPECT_EQ(q.unfinished_tasks_approx(), 0U);
  EXPECT_TRUE(q.join(0ns));
}

TEST(JoinableQueue, FailedPutsAddNoTask) {
  JoinableQueue<std::string> q(1, QueueOptions{.slot_size = 8, .max_payload = 8});
  EXPECT_THROW(q.put(std::string(100, 'x')), PayloadTooLarge);
  EXPECT_TRUE(q.try_put("a"));
  EXPECT_FALSE(q.try_put("b"));                // full
  EXPECT_THROW(q.put("c", 10ms), Full);        // full
  EXPECT_EQ(q.unfinished_tasks_approx(), 1U);  // only "a"
  q.close();
  EXPECT_THROW(q.put("d"), Closed);
  EXPECT_EQ(q.unfinished_tasks_approx(), 1U);
  EXPECT_EQ(q.get(), "a");
  q.task_done();
  EXPECT_TRUE(q.join(0ns));
}

// ---- threads over one mapping ------------------------------------------------------------

TEST(JoinableQueueThreads, JoinReturnsOnlyAfterTheLastTaskDone) {
  JoinableQueue<int> q(16);
  constexpr int kTasks = 2000;
  std::atomic<int> done{0};
  std::vector<std::thread> consumers;
  for (int c = 0; c < 3; ++c) {
    consumers.emplace_back([q, &done]() mutable {
      for (;;) {
        try {
          static_cast<void>(q.get());
        } catch (const Closed&) {
          return;
        }
        done.fetch_add(1, std::memory_order_relaxed);
        q.task_done();
      }
    });
  }
  for (int i = 0; i < kTasks; ++i) q.put(i);
  q.join();
  EXPECT_EQ(done.load(std::memory_order_relaxed), kTasks);
  q.close();
  for (std::thread& t : consumers) t.join();
}

}  // namespace
