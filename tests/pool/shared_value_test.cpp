// Value<T> and Array<T> across processes: values written in one process are read in
// another, get_lock() (an RLock) makes read-modify-writes exact, lock = false has no lock,
// bounds checks, named create/open with type checks.
#include "ringpool/pool/shared_value.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <mutex>
#include <string>
#include <vector>

#include "ringpool/pool/errors.hpp"
#include "ringpool/pool/process.hpp"
#include "ringpool/pool/sync.hpp"

namespace {

using ringpool::pool::Array;
using ringpool::pool::InvalidArgument;
using ringpool::pool::InvalidState;
using ringpool::pool::Process;
using ringpool::pool::Value;

struct SharedPoint {
  double x;
  double y;
};

TEST(Value, StoredInAChildIsSeenByTheParent) {
  Value<SharedPoint> point(SharedPoint{1.0, 2.0});
  EXPECT_EQ(point.value().x, 1.0);
  Process child([point]() mutable { point.store(SharedPoint{3.0, 4.0}); });
  child.start();
  child.join();
  EXPECT_EQ(point.value().x, 3.0);
  EXPECT_EQ(point.value().y, 4.0);
}

TEST(Value, LockedIncrementsFromManyProcessesAreExact) {
  Value<long> counter(0);
  std::vector<Process> children;
  for (int p = 0; p < 4; ++p) {
    children.emplace_back([counter]() mutable {
      for (int i = 0; i < 1000; ++i) {
        std::scoped_lock hold(counter.get_lock());
        counter.store(counter.value() + 1);  // value()/store() re-enter the RLock
      }
    });
  }
  for (auto& c : children) c.start();
  for (auto& c : children) {
    c.join();
    EXPECT_EQ(c.exitcode(), 0);
  }
  EXPECT_EQ(counter.value(), 4000);
}

TEST(Value, WithoutALock) {
  Value<int> v(7, {.lock = false});
  EXPECT_FALSE(v.has_lock());
  EXPECT_THROW((void)v.get_lock(), InvalidState);
  v.get_obj() = 8;
  EXPECT_EQ(v.value(), 8);
  Value<int> locked(0);
  EXPECT_TRUE(locked.has_lock());
  EXPECT_TRUE(locked.get_lock().try_acquire());
  locked.get_lock().release();
}

TEST(Array, ZeroFilledInitialisedAndChecked) {
  Array<double> zeros(4);
  EXPECT_EQ(zeros.size(), 4U);
  for (double d : zeros.span()) EXPECT_EQ(d, 0.0);
  Array<int> a{1, 2, 3};
  EXPECT_EQ(a.get(2), 3);
  a.set(0, 10);
  EXPECT_EQ(a[0], 10);
  EXPECT_THROW((void)a.get(3), InvalidArgument);
  EXPECT_THROW(a.set(3, 0), InvalidArgument);
  Array<int> empty(0);
  EXPECT_EQ(empty.size(), 0U);
}

TEST(Array, ElementsUpdatedByManyProcessesUnderTheLock) {
  Array<long> cells(8);
  std::vector<Process> children;
  for (int p = 0; p < 4; ++p) {
    children.emplace_back([cells]() mutable {
      for (int i = 0; i < 500; ++i) {
        std::scoped_lock hold(cells.get_lock());
        for (long& c : cells.span()) c += 1;
      }
    });
  }
  for (auto& c : children) c.start();
  for (auto& c : children) {
    c.join();
    EXPECT_EQ(c.exitcode(), 0);
  }
  for (std::size_t i = 0; i < cells.size(); ++i) EXPECT_EQ(cells.get(i), 2000);
}

TEST(SharedValue, NamedCreateAndOpenCheckTheType) {
  const std::string name = "ringpool-test-value-" + std::to_string(::getpid());
  const std::string array_name = name + "-array";
  Value<int> created = Value<int>::create(name, 5);
  EXPECT_EQ(Value<int>::open(name).value(), 5);
  EXPECT_THROW((void)Value<long>::open(name), InvalidArgument);
  EXPECT_THROW((void)Value<unsigned>::open(name), InvalidArgument);
  Array<int> array = Array<int>::create(array_name, 3);
  Array<int> opened = Array<int>::open(array_name);
  EXPECT_EQ(opened.size(), 3U);
  opened.set(1, 9);
  EXPECT_EQ(array.get(1), 9);
  EXPECT_THROW((void)Value<int>::open(array_name), InvalidArgument);  // an Array of 3
  EXPECT_THROW((void)ringpool::pool::Lock::open(name), InvalidArgument);
}

}  // namespace
