// Aggregates travel with no user code through Pool (fork start: submit, map, imap) and
// through Queue between processes; a named queue refuses to open as another aggregate.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "ringpool/pool/pool.hpp"
#include "ringpool/pool/process.hpp"
#include "ringpool/pool/queue.hpp"

namespace {

using namespace std::chrono_literals;
using ringpool::pool::Pool;
using ringpool::pool::Process;
using ringpool::pool::Queue;
using ringpool::pool::QueueMismatch;

enum class Side : std::uint8_t { buy, sell };

struct Fill {  // trivially copyable: the memcpy path
  std::int64_t qty;
  double price;
  friend bool operator==(const Fill&, const Fill&) = default;
};

struct Leg {
  std::string venue;
  std::vector<Fill> fills;
  friend bool operator==(const Leg&, const Leg&) = default;
};

struct Order {
  std::string symbol;
  Side side;
  std::vector<Leg> legs;
  std::map<std::string, std::int32_t> limits;
  std::unordered_map<std::int32_t, std::string> notes;
  std::optional<Fill> last;
  std::variant<std::int64_t, std::string> tag;
  std::chrono::milliseconds ttl;
  bool urgent;
  friend bool operator==(const Order&, const Order&) = default;
};

struct Summary {
  std::string symbol;
  std::int64_t total_qty;
  std::vector<std::string> venues;
  std::map<std::string, std::int32_t> limits;
  friend bool operator==(const Summary&, const Summary&) = default;
};

Order make_order(int i) {
  Order o{};
  o.symbol = "SYM" + std::to_string(i);
  o.side = i % 2 == 0 ? Side::buy : Side::sell;
  o.legs = {{"XNAS", {{i, 1.5}, {2, 2.5}}}, {"XLON", {}}};
  o.limits = {{"max", i}, {"min", -i}};
  o.notes = {{i, "note"}};
  if (i % 3 == 0) o.last = Fill{i, 9.0};
  if (i % 2 == 0) {
    o.tag = std::int64_t{i};
  } else {
    o.tag = std::string("tag") + std::to_string(i);
  }
  o.ttl = std::chrono::milliseconds(i);
  o.urgent = i % 5 == 0;
  return o;
}

// What the worker computes; the parent checks it against the same function run locally.
Summary summarise(Order o) {
  Summary s{o.symbol, 0, {}, o.limits};
  for (const Leg& leg : o.legs) {
    s.venues.push_back(leg.venue);
    for (const Fill& f : leg.fills) s.total_qty += f.qty;
  }
  if (o.last) s.total_qty += o.last->qty;
  if (o.urgent) s.venues.emplace_back("urgent");
  return s;
}

Order echo(Order o) {
  return o;
}

Fill scale(Fill f, std::int64_t k) {
  return Fill{f.qty * k, f.price};
}

TEST(CodecAggregatePool, SubmitCarriesAggregatesBothWays) {
  Pool pool(2);
  for (int i = 0; i < 20; ++i) {
    const Order o = make_order(i);
    EXPECT_EQ(pool.submit(echo, o).get(), o) << i;
    EXPECT_EQ(pool.submit(summarise, o).get(), summarise(o)) << i;
  }
  EXPECT_EQ(pool.submit(scale, Fill{3, 1.25}, std::int64_t{4}).get(), (Fill{12, 1.25}));
}

TEST(CodecAggregatePool, MapAndImapCarryAggregates) {
  Pool pool(2);
  std::vector<Order> orders;
  for (int i = 0; i < 200; ++i) orders.push_back(make_order(i));
  const std::vector<Summary> got = pool.map(summarise, orders, 7);
  ASSERT_EQ(got.size(), orders.size());
  for (std::size_t i = 0; i < orders.size(); ++i) EXPECT_EQ(got[i], summarise(orders[i])) << i;
  std::size_t i = 0;
  for (const Order& back : pool.imap(echo, orders, 3)) {
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
