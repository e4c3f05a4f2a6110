// Aggregates travel with no user code through Pool (fork start: submit, map, imap) and
// through Queue between processes; a named queue refuses to open as another aggregate.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "codec_aggregate_fixtures.hpp"
#include "ringpool/pool/pool.hpp"
#include "ringpool/pool/process.hpp"
#include "ringpool/pool/queue.hpp"

namespace {

using namespace std::chrono_literals;
using ringpool::pool::Pool;
using ringpool::pool::Process;
using ringpool::pool::Queue;
using ringpool::pool::QueueMismatch;

using namespace ringpool_test::aggregates;

struct Summary {
  std::string symbol;
  std::int64_t total_qty;
  std::vector<std::string> venues;
  std::map<std::string, std::int32_t> limits;
  friend bool operator==(const Summary&, const Summary&) = default;
};

// What the worker computes; the parent checks it against the same function run locally.
Summary summarise(Order o) {
  Summary s{o.symbol, 0, {}, o.limits};
  for (const Leg& leg : o.legs) {
    s.venues.push_back(leg.venue);
    for (const double size : leg.sizes) s.total_qty += static_cast<std::int64_t>(size);
  }
  if (o.last) s.total_qty += o.last->time_ns;
  if (o.flags.active) s.venues.emplace_back("urgent");
  return s;
}

Order echo_order(Order o) {
  return o;
}

Tick later(Tick t, std::int64_t ns) {
  t.time_ns += ns;
  return t;
}

TEST(CodecAggregatePool, SubmitCarriesAggregatesBothWays) {
  Pool pool(2);
  for (int i = 0; i < 20; ++i) {
    const Order o = make_order(i);
    EXPECT_EQ(pool.submit(echo_order, o).get(), o) << i;
    EXPECT_EQ(pool.submit(summarise, o).get(), summarise(o)) << i;
  }
  EXPECT_EQ(pool.submit(later, sample_tick(3), std::int64_t{4}).get(), sample_tick(7));
}

TEST(CodecAggregatePool, MapAndImapCarryAggregates) {
  Pool pool(2);
  std::vector<Order> orders;
  for (int i = 0; i < 200; ++i) orders.push_back(make_order(i));
  const std::vector<Summary> got = pool.map(summarise, orders, 7);
  ASSERT_EQ(got.size(), orders.size());
  for (std::size_t i = 0; i < orders.size(); ++i) EXPECT_EQ(got[i], summarise(orders[i])) << i;
  std::size_t i = 0;
  for (const Order& back : pool.imap(echo_order, orders, 3)) {
    ASSERT_LT(i, orders.size());
    EXPECT_EQ(back, orders[i]) << i;
    ++i;
  }
  EXPECT_EQ(i, orders.size());
}

TEST(CodecAggregatePool, QueueCarriesAggregatesBetweenProcesses) {
  Queue<Order> to_child(4, {.slot_size = 4096});
  Queue<Summary> to_parent(4, {.slot_size = 4096});
  Process child([to_child, to_parent]() mutable {
    for (int i = 0; i < 50; ++i) to_parent.put(summarise(to_child.get(10s)));
  });
  child.start();
  for (int i = 0; i < 50; ++i) {
    to_child.put(make_order(i), 10s);
    EXPECT_EQ(to_parent.get(10s), summarise(make_order(i))) << i;
  }
  ASSERT_TRUE(child.join(30s));
  EXPECT_EQ(child.exitcode(), 0);
}

// Same field types as Summary, another struct.
struct SummaryTwin {
  std::string symbol;
  std::int64_t total_qty;
  std::vector<std::string> venues;
  std::map<std::string, std::int32_t> limits;
};

TEST(CodecAggregatePool, NamedQueueOpensOnlyAsTheSameAggregate) {
  const std::string name = "ringpool-test-aggregate-" + std::to_string(::getpid());
  auto q = Queue<Summary>::create(name, 4);
  EXPECT_THROW(static_cast<void>(Queue<SummaryTwin>::open(name)), QueueMismatch);
  EXPECT_THROW(static_cast<void>(Queue<Order>::open(name)), QueueMismatch);
  Process child([name] {
    auto mine = Queue<Summary>::open(name);
    mine.put(summarise(make_order(4)));
  });
  child.start();
  EXPECT_EQ(q.get(10s), summarise(make_order(4)));
  ASSERT_TRUE(child.join(30s));
  EXPECT_EQ(child.exitcode(), 0);
}

}  // namespace
