// Callables whose state travels (fork start method): capturing lambdas, function objects
// (trivially copyable, or with a Codec), generic lambdas (parameter types from the
// arguments), member functions with their object; through submit, map, starmap,
// map_outcomes, imap and imap_unordered. Also the checks on a task's state read from shared
// memory. (Spawn: spawn_pool_test.cpp; refused forms: tests/compile_fail.)
#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "ringpool/pool/codec.hpp"
#include "ringpool/pool/detail/task_traits.hpp"
#include "ringpool/pool/detail/task_wire.hpp"
#include "ringpool/pool/pool.hpp"
#include "test_support.hpp"

namespace {
using ::ringpool::test::workers;

using ringpool::pool::DecodeError;
using ringpool::pool::PayloadTooLarge;
using ringpool::pool::Pool;
using ringpool::pool::PoolOptions;
namespace wire = ringpool::pool::detail;

struct Model {
  double weight = 0;
  double bias = 0;
  [[nodiscard]] double score(double x) const { return weight * x + bias; }
  [[nodiscard]] double scaled(double x, int times) const { return score(x) * times; }
};

// Not trivially copyable: travels through its Codec.
struct Greeter {
  std::string greeting;
  std::string operator()(const std::string& name) const { return greeting + ", " + name; }
};

}  // namespace

template <>
struct ringpool::pool::Codec<Greeter> {
  static std::size_t size(const Greeter& g) { return g.greeting.size(); }
  static void encode(const Greeter& g, std::span<std::byte> out) {
    if (!out.empty()) std::memcpy(out.data(), g.greeting.data(), out.size());
  }
  static Greeter decode(std::span<const std::byte> in) {
    return Greeter{std::string(reinterpret_cast<const char*>(in.data()), in.size())};
  }
};

namespace {

TEST(Callables, CapturingLambdaCarriesItsCapturesToTheWorker) {
  Pool pool(workers(2));
  const int k = 7;
  const double offset = 0.5;
  const auto scale = [k, offset](int x) { return x * k + offset; };
  EXPECT_EQ(pool.submit(scale, 6).get(), 42.5);
  EXPECT_EQ(pool.apply(scale, 1), 7.5);
  const std::vector<int> in{1, 2, 3, 4, 5, 6, 7, 8, 9};
  std::vector<double> want;
  for (int x : in) want.push_back(x * k + offset);
  EXPECT_EQ(pool.map(scale, in, 2), want);
  std::vector<double> got;
  for (double v : pool.imap(scale, in, 2)) got.push_back(v);
  EXPECT_EQ(got, want);
  std::multiset<double> unordered;
  for (double v : pool.imap_unordered(scale, in)) unordered.insert(v);
  EXPECT_EQ(unordered, std::multiset<double>(want.begin(), want.end()));
  const auto outcomes = pool.map_outcomes(scale, in);
  ASSERT_EQ(outcomes.size(), in.size());
  EXPECT_EQ(outcomes[3].value(), want[3]);
}

TEST(Callables, StateIsTheSubmittersCopyNotTheForkTimeGlobal) {
  Pool pool(workers(1));
  // The workers were forked before these values existed: only travelling state has them.
  for (int k = 100; k < 105; ++k) {
    std::array<int, 4> table{k, k + 1, k + 2, k + 3};
    EXPECT_EQ(pool.apply([table](std::size_t i) { return table.at(i); }, std::size_t{2}), k + 2);
  }
}

TEST(Callables, MutableLambdaStartsFromTheSentStateEveryMessage) {
  Pool pool(workers(1));
  const auto counter = [n = 10](int x) mutable { return ++n + x; };
  EXPECT_EQ(pool.apply(counter, 1), 12);
  EXPECT_EQ(pool.apply(counter, 1), 12);  // the worker's copy is not kept between tasks
  // Within one message (chunksize 3), items share the decoded copy.
  EXPECT_EQ(pool.map(counter, std::vector<int>{0, 0, 0}, 3), (std::vector<int>{11, 12, 13}));
}

TEST(Callables, FunctionObjectWithACodecTravelsThroughIt) {
  Pool pool(workers(2));
  const Greeter hello{"hello"};
  EXPECT_EQ(pool.apply(hello, std::string("ada")), "hello, ada");
  const std::vector<std::string> names{"a", "b", "c"};
  EXPECT_EQ(pool.map(Greeter{"hi"}, names), (std::vector<std::string>{"hi, a", "hi, b", "hi, c"}));
  std::vector<std::string> got;
  for (const auto& s : pool.imap(Greeter{std::string(3000, 'g')}, names)) got.push_back(s);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2], std::string(3000, 'g') + ", c");
}

TEST(Callables, GenericLambdaTakesItsParameterTypesFromTheArguments) {
  Pool pool(workers(2));
  const auto twice = [](auto x) { return x + x; };
  EXPECT_EQ(pool.submit(twice, 3).get(), 6);
  EXPECT_EQ(pool.submit(twice, 2.25).get(), 4.5);
  EXPECT_EQ(pool.submit(twice, std::string("ab")).get(), "abab");
  EXPECT_EQ(pool.map(twice, std::vector<long>{1, 2, 3}), (std::vector<long>{2, 4, 6}));
  const int base = 100;
  const auto add = [base](auto a, auto b) { return base + a + b; };
  EXPECT_EQ(pool.starmap(add, std::vector<std::tuple<int, int>>{{1, 2}, {3, 4}}),
            (std::vector<int>{103, 107}));
  std::vector<double> got;
  for (double v : pool.imap(twice, std::vector<double>{0.5, 1.5})) got.push_back(v);
  EXPECT_EQ(got, (std::vector<double>{1.0, 3.0}));
}

TEST(Callables, MemberFunctionTakesItsObjectFirst) {
  Pool pool(workers(2));
  const Model model{2.0, 1.0};
  EXPECT_EQ(pool.submit(&Model::score, model, 3.0).get(), 7.0);
  EXPECT_EQ(pool.apply(&Model::scaled, model, 3.0, 2), 14.0);
  const std::vector<std::tuple<Model, double>> jobs{{{1.0, 0.0}, 5.0}, {{3.0, 1.0}, 2.0}};
  EXPECT_EQ(pool.starmap(&Model::score, jobs), (std::vector<double>{5.0, 7.0}));
}

TEST(Callables, CapturelessLambdasStayPlainFunctions) {
  using Plain = decltype([](int x) { return x; });
  using Task = wire::TaskOf<Plain, std::tuple<int>>;
  static_assert(!Task::kStateful);
  Pool pool(workers(1));
  EXPECT_EQ(pool.apply([](int x) { return x * 3; }, 5), 15);
}

TEST(Callables, StateAboveMaxPayloadIsRefusedAtSubmit) {
  PoolOptions o = workers(1);
  o.slot_size = 1024;
  o.max_payload = 1024;
  Pool pool(o);
  std::array<char, 4096> big{};
  big[7] = 'x';
  const auto f = [big](int i) { return big.at(static_cast<std::size_t>(i)); };
  EXPECT_THROW((void)pool.submit(f, 7), PayloadTooLarge);
  EXPECT_THROW((void)pool.map(f, std::vector<int>{7}), PayloadTooLarge);
  EXPECT_EQ(pool.stats().tasks_sent, 0u);
}

// ---- the state read from shared memory ----------------------------------------------

struct Captured {
  std::vector<std::vector<std::byte>> messages;
  static void push(void* self, std::span<const std::byte> m) {
    static_cast<Captured*>(self)->messages.emplace_back(m.begin(), m.end());
  }
};

struct Scale {
  int k;
  int operator()(int x) const { return k * x; }
};

// Runs a message payload through Scale's invoker; returns the items' errors ("" for values).
std::vector<std::string> run_scale(const std::vector<std::byte>& payload, std::uint32_t count) {
  using Task = wire::TaskOf<Scale, std::tuple<>>;
  std::vector<std::byte> buffer(4096);
  Captured sent;
  wire::ResultWriter writer(buffer, &Captured::push, &sent);
  wire::TaskHeader h{1, 0, 0, 0, count, 0, sizeof(int)};
  writer.begin(1, 0);
  Task::kInvoker(0, h, payload, writer);
  writer.flush();
  std::vector<std::string> out;
  for (const auto& m : sent.messages) {
    wire::ResultReader r;
    EXPECT_TRUE(r.open(m));
    wire::ResultReader::Item item;
    while (r.next(item) == wire::ResultReader::Next::item) {
      if (item.kind == wire::ResultReader::ItemKind::value) {
        out.emplace_back();
        continue;
      }
      try {
        std::rethrow_exception(wire::ResultReader::error_of(item.bytes));
      } catch (const std::exception& e) {
        out.emplace_back(e.what());
      }
    }
  }
  return out;
}

TEST(CallableState, ALengthOrSizeThatDoesNotMatchFailsEveryItem) {
  std::vector<std::byte> good(4 + sizeof(Scale) + 2 * sizeof(int));
  wire::put_u32(good.data(), sizeof(Scale));
  const Scale s{3};
  std::memcpy(good.data() + 4, &s, sizeof s);
  const int xs[2] = {1, 2};
  std::memcpy(good.data() + 4 + sizeof(Scale), xs, sizeof xs);
  EXPECT_EQ(run_scale(good, 2), (std::vector<std::string>{"", ""}));

  auto overrun = good;
  wire::put_u32(overrun.data(), 0xfffffff0U);
  auto errors = run_scale(overrun, 2);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_NE(errors[0].find("state length is out of bounds"), std::string::npos) << errors[0];

  auto wrong_size = good;
  wire::put_u32(wrong_size.data(), sizeof(Scale) - 1);
  errors = run_scale(wrong_size, 2);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_NE(errors[1].find("cannot decode"), std::string::npos) << errors[1];

  errors = run_scale(std::vector<std::byte>(2), 2);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_NE(errors[0].find("no room for the task's state"), std::string::npos) << errors[0];
}

}  // namespace
