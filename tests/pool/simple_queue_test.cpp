// SimpleQueue<T>: put, get, empty and close across processes, over an unbounded Queue.
#include <gtest/gtest.h>

#include <string>

#include "ringpool/pool/process.hpp"
#include "ringpool/pool/queue.hpp"

namespace {

using ringpool::pool::Closed;
using ringpool::pool::Process;
using ringpool::pool::SimpleQueue;

TEST(SimpleQueue, PutGetEmptyCloseAcrossAProcess) {
  SimpleQueue<std::string> q;
  EXPECT_TRUE(q.empty());
  constexpr int kItems = 3000;  // more than a bounded queue's usual maxsize; no consumer yet
  Process producer([q]() mutable {
    for (int i = 0; i < kItems; ++i) q.put("item " + std::to_string(i));
    q.close();
  });
  producer.start();
  producer.join();  // every put returned without a consumer running
  EXPECT_EQ(producer.exitcode(), 0);
  EXPECT_FALSE(q.empty());
  for (int i = 0; i < kItems; ++i) ASSERT_EQ(q.get(), "item " + std::to_string(i));
  EXPECT_TRUE(q.empty());
  EXPECT_THROW(static_cast<void>(q.get()), Closed);
  EXPECT_THROW(q.put("late"), Closed);
}

}  // namespace
