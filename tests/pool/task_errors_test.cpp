// A task's exception comes back as itself: the standard types, system_error with its code
// and category, registered user types, through submit/get, map, starmap, map_outcomes and
// imap, with messages of any length up to kMaxErrorBody; anything else is TaskFailed with
// the type name. Also the checks on an error record read from shared memory.
// (Spawn-started workers: spawn_pool_test.cpp.)
#include <gtest/gtest.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <future>
#include <ios>
#include <new>
#include <stdexcept>
#include <string>
#include <system_error>
#include <tuple>
#include <typeinfo>
#include <vector>

#include "ringpool/pool/detail/task_wire.hpp"
#include "ringpool/pool/errors.hpp"
#include "ringpool/pool/pool.hpp"
#include "test_support.hpp"

namespace {
using ::ringpool::test::workers;

using ringpool::pool::DecodeError;
using ringpool::pool::Pool;
using ringpool::pool::PoolOptions;
using ringpool::pool::TaskFailed;
namespace wire = ringpool::pool::detail;

// A user exception registered to travel, and two that are not.
struct BadInput : std::runtime_error {
  explicit BadInput(const std::string& m) : std::runtime_error(m) {}
};
RINGPOOL_EXCEPTION(BadInput);
struct NotRegistered : std::runtime_error {
  explicit NotRegistered(const std::string& m) : std::runtime_error(m) {}
};

enum Kind : int {
  kException,
  kLogic,
  kInvalidArgument,
  kDomain,
  kLength,
  kOutOfRange,
  kRuntime,
  kRange,
  kOverflow,
  kUnderflow,
  kBadAlloc,
  kSystemGeneric,
  kSystemSystem,
  kIostream,
  kFuture,
  kRegistered,
  // The rest do not travel as themselves.
  kUnregistered,
  kForeignCategory,
  kNotStd,
  kKinds
};
constexpr int kFirstTaskFailed = kUnregistered;

struct ForeignCategory : std::error_category {
  const char* name() const noexcept override { return "test.foreign"; }
  std::string message(int v) const override { return "foreign " + std::to_string(v); }
};
const ForeignCategory kForeign;

[[noreturn]] void throw_kind(int kind, const std::string& m) {
  switch (kind) {
    case kException:
      throw std::exception();
    case kLogic:
      throw std::logic_error(m);
    case kInvalidArgument:
      throw std::invalid_argument(m);
    case kDomain:
      throw std::domain_error(m);
    case kLength:
      throw std::length_error(m);
    case kOutOfRange:
      throw std::out_of_range(m);
    case kRuntime:
      throw std::runtime_error(m);
    case kRange:
      throw std::range_error(m);
    case kOverflow:
      throw std::overflow_error(m);
    case kUnderflow:
      throw std::underflow_error(m);
    case kBadAlloc:
      throw std::bad_alloc();
    case kSystemGeneric:
      throw std::system_error(std::make_error_code(std::errc::invalid_argument), m);
    case kSystemSystem:
      throw std::system_error(EACCES, std::system_category(), m);
    case kIostream:
      throw std::system_error(std::make_error_code(std::io_errc::stream), m);
    case kFuture:
      throw std::system_error(std::make_error_code(std::future_errc::broken_promise));
    case kRegistered:
      throw BadInput(m);
    case kUnregistered:
      throw NotRegistered(m);
    case kForeignCategory:
      throw std::system_error(7, kForeign, m);
    default:
      throw 42;
  }
}

std::string message_for(int kind) {
  return "task of kind " + std::to_string(kind) + " failed";
}
int raise_kind(int kind) {
  throw_kind(kind, message_for(kind));
}
int raise_with(int kind, std::string message) {
  throw_kind(kind, message);
}
std::string long_message(std::size_t n) {
  std::string m(n, ' ');
  for (std::size_t i = 0; i < n; ++i) m[i] = static_cast<char>('a' + i % 26);
  return m;
}
int raise_long(std::size_t n) {
  throw std::invalid_argument(long_message(n));
}
int identity_or_raise(int x) {
  if (x % 4 == 1) throw std::invalid_argument(std::string(std::size_t{1} << 20, 'm'));
  return x;
}

// Expects `got` to be what throw_kind(kind, message) throws in this process: the same
// dynamic type and what() (and code for a system_error), or, for the kinds that do not
// travel, TaskFailed with that type's name and message.
void expect_same(const std::exception_ptr& got, int kind, const std::string& message) {
  ASSERT_TRUE(got != nullptr) << "kind " << kind;
  std::string want_type;
  std::string want_what;
  std::error_code want_code;
  try {
    throw_kind(kind, message);
  } catch (const std::system_error& e) {
    want_type = wire::demangle(typeid(e).name());
    want_what = e.what();
    want_code = e.code();
  } catch (const std::exception& e) {
    want_type = wire::demangle(typeid(e).name());
    want_what = e.what();
  } catch (...) {
    want_type = "int";
    want_what = "exception not derived from std::exception";
  }
  try {
    std::rethrow_exception(got);
  } catch (const TaskFailed& e) {
    EXPECT_GE(kind, kFirstTaskFailed)
        << "kind " << kind << " came back as TaskFailed: " << e.what();
    EXPECT_EQ(e.type_name(), want_type);
    EXPECT_EQ(e.original_what(), want_what);
  } catch (const std::exception& e) {
    EXPECT_LT(kind, kFirstTaskFailed) << "kind " << kind;
    EXPECT_EQ(wire::demangle(typeid(e).name()), want_type) << "kind " << kind;
    EXPECT_EQ(std::string(e.what()), want_what) << "kind " << kind;
    if (const auto* se = dynamic_cast<const std::system_error*>(&e)) {
      EXPECT_EQ(se->code(), want_code) << "kind " << kind;
    }
  }
}

std::exception_ptr error_of_get(ringpool::pool::Future<int>& f) {
  try {
    (void)f.get();
  } catch (...) {
    return std::current_exception();
  }
  return nullptr;
}

TEST(TaskErrors, EveryKindThroughSubmitComesBackAsItselfOrTaskFailed) {
  Pool pool(workers(2));
  for (int kind = 0; kind < kKinds; ++kind) {
    auto f = pool.submit(raise_kind, kind);
    expect_same(error_of_get(f), kind, message_for(kind));
  }
}

TEST(TaskErrors, MapAndStarmapThrowTheFirstFailedItemsOwnType) {
  Pool pool(workers(2));
  for (int kind = 0; kind < kKinds; ++kind) {
    try {
      (void)pool.map(raise_kind, std::vector<int>{kind, kind});
      ADD_FAILURE() << "map did not throw for kind " << kind;
    } catch (...) {
      expect_same(std::current_exception(), kind, message_for(kind));
    }
    try {
      (void)pool.starmap(raise_with, std::vector<std::tuple<int, std::string>>{{kind, "star"}});
      ADD_FAILURE() << "starmap did not throw for kind " << kind;
    } catch (...) {
      expect_same(std::current_exception(), kind, "star");
    }
  }
}

TEST(TaskErrors, OutcomeValueAndImapIterationRethrowTheOwnType) {
  Pool pool(workers(2));
  std::vector<int> kinds;
  for (int kind = 0; kind < kKinds; ++kind) kinds.push_back(kind);
  const auto outcomes = pool.map_outcomes(raise_kind, kinds, 3);
  ASSERT_EQ(outcomes.size(), kinds.size());
  for (int kind = 0; kind < kKinds; ++kind) {
    const auto& o = outcomes[static_cast<std::size_t>(kind)];
    ASSERT_FALSE(o.ok());
    try {
      (void)o.value();
      ADD_FAILURE() << "value() did not throw for kind " << kind;
    } catch (...) {
      expect_same(std::current_exception(), kind, message_for(kind));
    }
  }
  for (const bool ordered : {true, false}) {
    int seen = 0;
    auto run = [&](auto&& range) {
      for (auto it = range.begin(); it != range.end(); ++it) {
        ++seen;
        try {
          (void)*it;
          ADD_FAILURE() << "imap item did not throw";
        } catch (...) {
          // In order: item k is kind k. Unordered: every item throws; which one is which
          // the ordered run has checked.
          if (ordered) expect_same(std::current_exception(), seen - 1, message_for(seen - 1));
        }
      }
    };
    if (ordered) {
      run(pool.imap(raise_kind, kinds, 2));
    } else {
      run(pool.imap_unordered(raise_kind, kinds, 2));
    }
    EXPECT_EQ(seen, kKinds);
  }
}

TEST(TaskErrors, SystemErrorKeepsItsCodeAndCategory) {
  Pool pool(workers(1));
  auto f = pool.submit(raise_with, static_cast<int>(kSystemSystem), std::string("opening /x"));
  try {
    (void)f.get();
    FAIL() << "expected std::system_error";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), EACCES);
    EXPECT_EQ(&e.code().category(), &std::system_category());
    EXPECT_EQ(std::string(e.what()), "opening /x: " + std::system_category().message(EACCES));
  }
  auto g = pool.submit(raise_with, static_cast<int>(kSystemGeneric), std::string("parse"));
  try {
    (void)g.get();
    FAIL() << "expected std::system_error";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::invalid_argument);
    EXPECT_EQ(&e.code().category(), &std::generic_category());
  }
}

TEST(TaskErrors, RegisteredUserTypeIsCaughtByItsOwnType) {
  Pool pool(workers(1));
  auto f = pool.submit(raise_with, static_cast<int>(kRegistered), std::string("row 7 is empty"));
  try {
    (void)f.get();
    FAIL() << "expected BadInput";
  } catch (const BadInput& e) {
    EXPECT_STREQ(e.what(), "row 7 is empty");
  }
}

TEST(TaskErrors, OtherTypesAreTaskFailedWithTheirNameAndStillStdExceptions) {
  Pool pool(workers(1));
  auto f = pool.submit(raise_with, static_cast<int>(kUnregistered), std::string("nope"));
  try {
    (void)f.get();
    FAIL() << "expected TaskFailed";
  } catch (const std::exception& e) {
    const auto* failed = dynamic_cast<const TaskFailed*>(&e);
    ASSERT_NE(failed, nullptr) << e.what();
    EXPECT_EQ(failed->type_name(), "(anonymous namespace)::NotRegistered");
    EXPECT_EQ(failed->original_what(), "nope");
    EXPECT_NE(std::string(e.what()).find("NotRegistered: nope"), std::string::npos);
  }
  auto g = pool.submit(raise_with, static_cast<int>(kNotStd), std::string());
  try {
    (void)g.get();
    FAIL() << "expected TaskFailed";
  } catch (const TaskFailed& e) {
    EXPECT_EQ(e.type_name(), "int");
  }
}

TEST(TaskErrors, AMebibyteMessageArrivesWhole) {
  Pool pool(workers(1));
  const std::string big = long_message(std::size_t{1} << 20);
  auto f = pool.submit(raise_long, big.size());
  try {
    (void)f.get();
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::strlen(e.what()), big.size());
    EXPECT_TRUE(std::string(e.what()) == big);
  }
  EXPECT_EQ(pool.apply(identity_or_raise, 4), 4);  // the pool goes on
}

TEST(TaskErrors, LargeErrorsAmongValuesInOneBatchKeepTheirPlaces) {
  // Small slots: each 1 MiB error is spread over many messages, between other results.
  PoolOptions o = workers(2);
  o.slot_size = 1024;
  Pool pool(o);
  std::vector<int> in(24);
  for (int i = 0; i < 24; ++i) in[static_cast<std::size_t>(i)] = i;
  const auto outcomes = pool.map_outcomes(identity_or_raise, in, 4);
  ASSERT_EQ(outcomes.size(), in.size());
  for (int i = 0; i < 24; ++i) {
    const auto& out = outcomes[static_cast<std::size_t>(i)];
    if (i % 4 == 1) {
      ASSERT_FALSE(out.ok()) << i;
      try {
        (void)out.value();
      } catch (const std::invalid_argument& e) {
        EXPECT_EQ(std::strlen(e.what()), std::size_t{1} << 20) << i;
      }
    } else {
      ASSERT_TRUE(out.ok()) << i;
      EXPECT_EQ(out.value(), i);
    }
  }
}

// ---- the error record as read from shared memory -----------------------------------

std::vector<std::byte> body(std::uint8_t kind, std::uint8_t category, std::uint32_t type_len,
                            const std::string& rest) {
  std::vector<std::byte> b(wire::kErrorBodyPrefix + rest.size());
  b[0] = std::byte{kind};
  b[1] = std::byte{category};
  wire::put_u32(b.data() + 16, type_len);
  std::memcpy(b.data() + wire::kErrorBodyPrefix, rest.data(), rest.size());
  return b;
}

template <class E>
void expect_error_of(const std::vector<std::byte>& b, const char* needle) {
  const std::exception_ptr e = wire::ResultReader::error_of(b);
  try {
    std::rethrow_exception(e);
  } catch (const E& x) {
    EXPECT_NE(std::string(x.what()).find(needle), std::string::npos) << x.what();
  } catch (const std::exception& x) {
    ADD_FAILURE() << "wrong type " << wire::demangle(typeid(x).name()) << ": " << x.what();
  }
}

TEST(TaskErrorRecord, HostileHeadsAreDecodeErrors) {
  expect_error_of<DecodeError>(body(wire::kErrorKindCount, 0, 0, "x"), "unknown kind");
  expect_error_of<DecodeError>(body(255, 0, 0, "x"), "unknown kind");
  expect_error_of<DecodeError>(body(static_cast<std::uint8_t>(wire::ErrorKind::system_error),
                                    wire::kErrorCategoryCount, 0, "x"),
                               "unknown category");
  expect_error_of<DecodeError>(body(0, 0, 2, "x"), "overruns");
  expect_error_of<DecodeError>(body(0, 0, 0xffffffffU, ""), "overruns");
  expect_error_of<DecodeError>(std::vector<std::byte>(wire::kErrorBodyPrefix - 1),
                               "shorter than its header");
  // A registered key nobody registered: TaskFailed with the type name it came with.
  auto b = body(static_cast<std::uint8_t>(wire::ErrorKind::registered), 0, 3, "Foohello");
  std::uint64_t key = 12345;
  std::memcpy(b.data() + 8, &key, sizeof key);
  expect_error_of<TaskFailed>(b, "Foo: hello");
}

TEST(TaskErrorRecord, ReaderRefusesUnknownStatusesAndUnannouncedItems) {
  std::vector<std::byte> m(sizeof(wire::ResultHeader) + 2 * wire::kResultItemHeader);
  const wire::ResultHeader h{9, 0, 1};
  std::memcpy(m.data(), &h, sizeof h);
  m[sizeof h] = std::byte{7};  // no such status
  wire::ResultReader r;
  ASSERT_TRUE(r.open(m));
  wire::ResultReader::Item item;
  EXPECT_EQ(r.next(item), wire::ResultReader::Next::truncated);

  m[sizeof h] = std::byte{wire::kResultOk};
  m[sizeof h + wire::kResultItemHeader] = std::byte{wire::kResultOk};  // a second, unannounced
  ASSERT_TRUE(r.open(m));
  EXPECT_EQ(r.next(item), wire::ResultReader::Next::item);
  EXPECT_EQ(r.next(item), wire::ResultReader::Next::truncated);

  // Parts do not count as items; a message that ends before `count` items is truncated.
  m[sizeof h] = std::byte{wire::kResultErrorPart};
  ASSERT_TRUE(r.open(m));
  EXPECT_EQ(r.next(item), wire::ResultReader::Next::item);
  EXPECT_EQ(item.kind, wire::ResultReader::ItemKind::error_part);
  EXPECT_EQ(r.next(item), wire::ResultReader::Next::item);
  EXPECT_EQ(r.next(item), wire::ResultReader::Next::end);
  ASSERT_TRUE(r.open(std::span(m).first(sizeof h + wire::kResultItemHeader)));
  EXPECT_EQ(r.next(item), wire::ResultReader::Next::item);
  EXPECT_EQ(r.next(item), wire::ResultReader::Next::truncated);
}

// take_run (the collector's path for map()'s results): after a value of n bytes, the values
// of n bytes right behind it, never past another kind or length, the announced count, the
// caller's bound or the message's end.
TEST(TaskErrorRecord, ReaderTakesARunOfValuesOfOneLengthAndStopsAtAnythingElse) {
  const auto item = [](std::vector<std::byte>& m, std::uint8_t status, std::uint32_t len) {
    const std::size_t at = m.size();
    m.resize(at + wire::kResultItemHeader + len, std::byte{0x5a});
    m[at] = std::byte{status};
    std::memcpy(m.data() + at + 1, &len, sizeof len);
  };
  std::vector<std::byte> m(sizeof(wire::ResultHeader));
  const wire::ResultHeader h{9, 0, 6};
  std::memcpy(m.data(), &h, sizeof h);
  for (int k = 0; k < 3; ++k) item(m, wire::kResultOk, 4);
  item(m, wire::kResultOk, 8);
  item(m, wire::kResultOk, 4);
  item(m, wire::kResultError, 4);
  wire::ResultReader r;
  ASSERT_TRUE(r.open(m));
  wire::ResultReader::Item it;
  ASSERT_EQ(r.next(it), wire::ResultReader::Next::item);
  EXPECT_EQ(r.take_run(4, 1), 1U);    // the caller's bound
  EXPECT_EQ(r.take_run(4, 100), 1U);  // then the 8-byte value stops it
  ASSERT_EQ(r.next(it), wire::ResultReader::Next::item);
  EXPECT_EQ(it.bytes.size(), 8U);
  ASSERT_EQ(r.next(it), wire::ResultReader::Next::item);
  EXPECT_EQ(r.take_run(4, 100), 0U);  // an error is not a value
  ASSERT_EQ(r.next(it), wire::ResultReader::Next::item);
  EXPECT_EQ(it.kind, wire::ResultReader::ItemKind::error);
  EXPECT_EQ(r.next(it), wire::ResultReader::Next::end);

  // The announced count bounds it (the rest cannot be framed: truncated), and so does a
  // message that ends inside a value.
  std::vector<std::byte> two(sizeof(wire::ResultHeader));
  const wire::ResultHeader h2{9, 0, 2};
  std::memcpy(two.data(), &h2, sizeof h2);
  for (int k = 0; k < 3; ++k) item(two, wire::kResultOk, 4);
  ASSERT_TRUE(r.open(two));
  ASSERT_EQ(r.next(it), wire::ResultReader::Next::item);
  EXPECT_EQ(r.take_run(4, 100), 1U);
  EXPECT_EQ(r.next(it), wire::ResultReader::Next::truncated);
  two.resize(two.size() - 1);
  const wire::ResultHeader h3{9, 0, 3};
  std::memcpy(two.data(), &h3, sizeof h3);
  ASSERT_TRUE(r.open(two));
  ASSERT_EQ(r.next(it), wire::ResultReader::Next::item);
  EXPECT_EQ(r.take_run(4, 100), 1U);
  EXPECT_EQ(r.next(it), wire::ResultReader::Next::truncated);
}

}  // namespace
