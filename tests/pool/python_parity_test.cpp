// Behaviours where ringpool used to differ from Python's multiprocessing (found by a
// client written from CPython's own tests, issue #11):
// - imap over an input that throws at item 3 yields results 0, 1, 2 and then the error;
// - a throwing callback added to a finished future is ignored, as one added before;
// - close() while an imap is being consumed lets it finish.
#include <gtest/gtest.h>

#include <numeric>
#include <ranges>
#include <stdexcept>
#include <vector>

#include "ringpool/pool/pool.hpp"
#include "test_support.hpp"

namespace {
using ::ringpool::test::square;

using ringpool::pool::Closed;
using ringpool::pool::Pool;

// An input range whose iterator throws when it reaches item `fail_at`.
struct ThrowingInput {
  int size;
  int fail_at;
  struct iterator {
    using value_type = int;
    using difference_type = std::ptrdiff_t;
    int i = 0;
    int fail_at = 0;
    int operator*() const {
      if (i == fail_at) throw std::out_of_range("input item " + std::to_string(i) + " is bad");
      return i;
    }
    iterator& operator++() {
      ++i;
      return *this;
    }
    iterator operator++(int) {
      auto old = *this;
      ++i;
      return old;
    }
    bool operator==(const iterator& o) const { return i == o.i; }
  };
  iterator begin() const { return {0, fail_at}; }
  iterator end() const { return {size, fail_at}; }
};

TEST(PythonParity, ImapYieldsTheResultsBeforeAFailingInputItemThenItsError) {
  Pool pool(2);
  for (const bool ordered : {true, false}) {
    std::vector<int> got;
    bool threw = false;
    auto run = [&](auto&& range) {
      try {
        for (int r : range) got.push_back(r);
      } catch (const std::out_of_range& e) {
        threw = true;
        EXPECT_NE(std::string(e.what()).find("item 3"), std::string::npos);
      }
    };
    if (ordered) {
      run(pool.imap(square, ThrowingInput{10, 3}));
    } else {
      run(pool.imap_unordered(square, ThrowingInput{10, 3}));
    }
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, (std::vector<int>{0, 1, 4})) << (ordered ? "imap" : "imap_unordered");
    EXPECT_TRUE(threw);
  }
}

TEST(PythonParity, AThrowingCallbackOnAFinishedFutureIsIgnored) {
  Pool pool(1);
  auto f = pool.submit(square, 5);
  EXPECT_EQ(f.get(), 25);
  int calls = 0;
  EXPECT_NO_THROW(f.add_done_callback([&](const auto&) {
    ++calls;
    throw std::runtime_error("callback fails");
  }));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(pool.apply(square, 6), 36);
}

TEST(PythonParity, CloseWhileAnImapIsConsumedLetsItFinish) {
  Pool pool(2);
  std::vector<int> in(2000);
  std::iota(in.begin(), in.end(), 0);
  auto results = pool.imap(square, in);
  std::size_t n = 0;
  for (int r : results) {
    if (n == 10) pool.close();
    ASSERT_EQ(r, static_cast<int>(n * n));
    ++n;
  }
  EXPECT_EQ(n, in.size());
  EXPECT_THROW((void)pool.imap(square, in), Closed);  // a new batch is refused
  EXPECT_THROW((void)pool.submit(square, 1), Closed);
  pool.join();
}

}  // namespace
