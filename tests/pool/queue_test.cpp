// Queue<T> across processes: FIFO, exact maxsize, timeouts, try forms, close, payload
// limits, many producers and consumers with exactly-once delivery, named queues.
#include "ringpool/pool/queue.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "ringpool/ipc/errors.hpp"
#include "ringpool/ipc/segment.hpp"
#include "ringpool/pool/process.hpp"
#include "ringpool/pool/this_process.hpp"
#include "test_support.hpp"

namespace {
using ::ringpool::test::in_dev_shm;
using ::ringpool::test::stress_scale;
using ::ringpool::test::unique_name;

using namespace std::chrono_literals;
using ringpool::pool::Closed;
using ringpool::pool::Empty;
using ringpool::pool::Full;
using ringpool::pool::InvalidArgument;
using ringpool::pool::PayloadTooLarge;
using ringpool::pool::Process;
using ringpool::pool::Queue;
using ringpool::pool::QueueMismatch;
using ringpool::pool::QueueOptions;

// The files under /dev/shm this process has mapped (from /proc/self/maps).
std::set<std::string> own_dev_shm_mappings() {
  std::set<std::string> files;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    const auto at = line.find(" /dev/shm/");
    if (at != std::string::npos) files.insert(line.substr(at + 1));
  }
  return files;
}

TEST(Queue, FifoAcrossAProcess) {
  Queue<int> q(16);
  Process producer([q]() mutable {
    for (int i = 0; i < 200; ++i) q.put(i);
  });
  producer.start();
  for (int i = 0; i < 200; ++i) ASSERT_EQ(q.get(10s), i);
  producer.join();
  EXPECT_EQ(producer.exitcode(), 0);
  EXPECT_TRUE(q.empty());
}

TEST(Queue, StringsAndTuplesTravel) {
  Queue<std::tuple<std::string, int>> q(4);
  Process producer([q]() mutable { q.put({"猪肉", 1}); });
  producer.start();
  EXPECT_EQ(q.get(10s), (std::tuple<std::string, int>{"猪肉", 1}));
  producer.join();
}

TEST(Queue, MaxsizeIsExactEvenWhenTheRingRoundsUp) {
  Queue<int> one(1);
  EXPECT_TRUE(one.try_put(1));
  EXPECT_TRUE(one.full());
  EXPECT_FALSE(one.try_put(2));
  EXPECT_EQ(one.size_approx(), 1U);

  Queue<int> three(3);  // the ring has 4 slots
  EXPECT_EQ(three.maxsize(), 3U);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(three.try_put(i));
  EXPECT_FALSE(three.try_put(3));
  EXPECT_THROW(three.put(3, 1ms), Full);
  EXPECT_EQ(three.get(), 0);
  EXPECT_TRUE(three.try_put(3));
  EXPECT_FALSE(three.try_put(4));
  for (int i = 1; i <= 3; ++i) EXPECT_EQ(three.get(), i);
}

TEST(Queue, BlockedPutCompletesWhenTheConsumerGets) {
  Queue<int> q(1);
  q.put(1);
  Process producer([q]() mutable { q.put(2); });  // blocks: the queue is full
  producer.start();
  EXPECT_EQ(q.get(10s), 1);
  EXPECT_EQ(q.get(10s), 2);
  producer.join();
  EXPECT_EQ(producer.exitcode(), 0);
}

TEST(Queue, TimeoutsThrowFullAndEmpty) {
  Queue<int> q(1);
  EXPECT_THROW(static_cast<void>(q.get(1ms)), Empty);
  q.put(1);
  try {
    q.put(2, 1ms);
    FAIL() << "no Full";
  } catch (const Full& e) {
    EXPECT_NE(std::string(e.what()).find("maxsize 1"), std::string::npos) << e.what();
  }
  EXPECT_EQ(q.get(1ms), 1);  // the failed put left nothing behind
  EXPECT_THROW(static_cast<void>(q.get(1ms)), Empty);
}

TEST(Queue, TryForms) {
  Queue<std::string> q(2);
  EXPECT_EQ(q.try_get(), std::nullopt);
  EXPECT_TRUE(q.try_put("a"));
  EXPECT_TRUE(q.try_put("b"));
  EXPECT_FALSE(q.try_put("c"));
  EXPECT_EQ(q.try_get(), "a");
  EXPECT_EQ(q.try_get(), "b");
  EXPECT_EQ(q.try_get(), std::nullopt);
}

TEST(Queue, CloseDrainsThenThrowsClosed) {
  Queue<int> q(4);
  q.put(1);
  q.put(2);
  q.close();
  EXPECT_TRUE(q.is_closed());
  EXPECT_THROW(q.put(3), Closed);
  EXPECT_THROW(static_cast<void>(q.try_put(3)), Closed);
  EXPECT_EQ(q.get(), 1);
  EXPECT_EQ(q.try_get(), 2);
  EXPECT_THROW(static_cast<void>(q.get()), Closed);
  EXPECT_THROW(static_cast<void>(q.get(1ms)), Closed);
  EXPECT_EQ(q.try_get(), std::nullopt);
  q.close();  // idempotent
}

TEST(Queue, CloseWakesABlockedConsumerInAnotherProcess) {
  Queue<int> q(1);
  Process consumer([q]() mutable {
    try {
      static_cast<void>(q.get());
      ringpool::this_process::exit(2);
    } catch (const Closed&) {
      ringpool::this_process::exit(0);
    }
  });
  consumer.start();
  q.close();
  consumer.join();
  EXPECT_EQ(consumer.exitcode(), 0);
}

TEST(Queue, PayloadTooLargeLeavesTheQueueUnchanged) {
  // Items larger than the slot travel by reference, up to max_payload.
  Queue<std::string> q(4, QueueOptions{.slot_size = 8, .max_payload = 8});
  q.put("short");
  try {
    q.put(std::string(100, 'x'));
    FAIL() << "no PayloadTooLarge";
  } catch (const PayloadTooLarge& e) {
    EXPECT_EQ(e.size(), 100U);
    EXPECT_EQ(e.limit(), 8U);
    EXPECT_NE(std::string(e.what()).find("max_payload"), std::string::npos) << e.what();
  }
  EXPECT_THROW(static_cast<void>(q.try_put(std::string(9, 'y'))), PayloadTooLarge);
  EXPECT_EQ(q.size_approx(), 1U);
  EXPECT_EQ(q.get(), "short");
  EXPECT_EQ(q.try_get(), std::nullopt);
}

// Python's Queue() / Queue(0): no practical bound instead of an error.
TEST(Queue, MaxsizeZeroMeansTheLargeDefaultBound) {
  Queue<int> q(0);
  EXPECT_EQ(q.maxsize(), ringpool::pool::kUnboundedQueueMaxsize);
  Process producer([q]() mutable {
    for (int i = 0; i < 10000; ++i) q.put(i);  // returns with no consumer running
  });
  producer.start();
  producer.join();
  EXPECT_EQ(producer.exitcode(), 0);
  EXPECT_EQ(q.size_approx(), 10000U);
  EXPECT_FALSE(q.full());
  for (int i = 0; i < 10000; ++i) ASSERT_EQ(q.get(), i);
  const std::string name = unique_name("unbounded");
  auto named = Queue<int>::create(name, 0);
  EXPECT_EQ(Queue<int>::open(name).maxsize(), ringpool::pool::kUnboundedQueueMaxsize);
}

TEST(Queue, BadConstructionIsATypedError) {
  EXPECT_THROW(Queue<double>(4, QueueOptions{.slot_size = 4}), InvalidArgument);
}

// P producers and C consumers, all separate processes. Consumers relay what they get
// to the parent, which checks that every item arrives exactly once and that each
// consumer saw each producer's items in order.
TEST(Queue, ManyProducersManyConsumersExactlyOnce) {
  constexpr int kProducers = 3;
  constexpr int kConsumers = 2;
  const int per_producer = static_cast<int>(1000 * stress_scale());
  Queue<std::pair<int, int>> work(8);
  Queue<int> relay(64);

  std::vector<Process> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([work, p, per_producer]() mutable {
      for (int i = 0; i < per_producer; ++i) work.put({p, i});
    });
  }
  std::vector<Process> consumers;
  for (int c = 0; c < kConsumers; ++c) {
    consumers.emplace_back([work, relay, per_producer]() mutable {
      std::vector<int> last(kProducers, -1);
      bool in_order = true;
      for (;;) {
        std::pair<int, int> item;
        try {
          item = work.get();
        } catch (const Closed&) {
          break;
        }
        if (item.second <= last[static_cast<std::size_t>(item.first)]) in_order = false;
        last[static_cast<std::size_t>(item.first)] = item.second;
        relay.put(item.first * per_producer + item.second);
      }
      ringpool::this_process::exit(in_order ? 0 : 3);
    });
  }
  for (auto& c : consumers) c.start();
  for (auto& p : producers) p.start();

  const int total = kProducers * per_producer;
  std::vector<bool> seen(static_cast<std::size_t>(total), false);
  int duplicates = 0;
  for (int n = 0; n < total; ++n) {
    int id = -1;
    try {
      id = relay.get(30s);
    } catch (const Empty&) {
      ADD_FAILURE() << "only " << n << " of " << total << " items arrived";
      break;
    }
    ASSERT_GE(id, 0);
    ASSERT_LT(id, total);
    if (seen[static_cast<std::size_t>(id)]) ++duplicates;
    seen[static_cast<std::size_t>(id)] = true;
  }
  for (auto& p : producers) {
    p.join();
    EXPECT_EQ(p.exitcode(), 0);
  }
  work.close();
  for (auto& c : consumers) {
    if (!c.join(30s)) c.kill();
    c.join();
    EXPECT_EQ(c.exitcode(), 0) << "3: a consumer saw a producer's items out of order";
  }
  EXPECT_EQ(duplicates, 0);
  EXPECT_EQ(std::count(seen.begin(), seen.end(), false), 0);
  EXPECT_EQ(relay.try_get(), std::nullopt);
}

TEST(Queue, NamedCreateOpenAcrossProcessesAndNoLeftovers) {
  const std::string name = unique_name("named");
  ASSERT_FALSE(in_dev_shm(name));
  {
    auto q = Queue<std::string>::create(name, 4);
    EXPECT_TRUE(in_dev_shm(name));
    Process producer([name] {
      auto mine = Queue<std::string>::open(name);
      mine.put("from an unrelated handle");
    });
    producer.start();
    EXPECT_EQ(q.get(10s), "from an unrelated handle");
    producer.join();
    EXPECT_EQ(producer.exitcode(), 0);
  }
  // The creator's handle removed the name.
  EXPECT_FALSE(in_dev_shm(name));
}

TEST(Queue, NamedOpenChecksTypeAndSlotSize) {
  const std::string name = unique_name("mismatch");
  auto q = Queue<int>::create(name, 4);
  try {
    static_cast<void>(Queue<double>::open(name));
    FAIL() << "opened a Queue<int> as Queue<double>";
  } catch (const QueueMismatch& e) {
    EXPECT_NE(std::string(e.what()).find("int"), std::string::npos) << e.what();
  }
  EXPECT_THROW(static_cast<void>(Queue<int>::open(name, QueueOptions{.slot_size = 64})),
               QueueMismatch);
  auto same = Queue<int>::open(name, QueueOptions{.slot_size = sizeof(int)});
  same.put(5);
  EXPECT_EQ(q.get(), 5);
}

TEST(Queue, NamedOpenOfSomethingElseIsRefused) {
  const std::string missing = unique_name("missing");
  EXPECT_THROW(static_cast<void>(Queue<int>::open(missing)), ringpool::ipc::IpcError);

  const std::string raw = unique_name("raw");
  {
    ringpool::ipc::SegmentOptions options;
    options.unlink_on_destroy = true;
    auto segment = ringpool::ipc::Segment::create(raw, 4096, options);
    try {
      static_cast<void>(Queue<int>::open(raw));
      FAIL() << "opened a zero-filled segment as a queue";
    } catch (const InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find("not a usable ringpool queue"), std::string::npos)
          << e.what();
    }
  }
  EXPECT_FALSE(in_dev_shm(raw));
}

// An anonymous queue has no name to leak: its mapping is not a file under /dev/shm (this
// process's own mappings are checked, so segments other processes create do not matter).
TEST(Queue, AnonymousQueuesLeaveNothingInDevShm) {
  const auto before = own_dev_shm_mappings();
  {
    Queue<int> q(8);
    Process p([q]() mutable { q.put(1); });
    p.start();
    EXPECT_EQ(q.get(10s), 1);
    p.join();
    EXPECT_EQ(own_dev_shm_mappings(), before);
  }
  EXPECT_EQ(own_dev_shm_mappings(), before);
}

}  // namespace
