// Type names in pool errors: demangling (Boost.Core) and describing in-flight exceptions.
#include "ringpool/pool/errors.hpp"

#include <gtest/gtest.h>

#include <exception>
#include <map>
#include <stdexcept>
#include <string>
#include <typeinfo>

namespace {

using ringpool::pool::detail::demangle;
using ringpool::pool::detail::describe_exception;

struct LocalError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

TEST(PoolErrors, DemangleGivesTheSourceSpelling) {
  EXPECT_EQ(demangle(typeid(int).name()), "int");
  EXPECT_EQ(demangle(typeid(std::out_of_range).name()), "std::out_of_range");
  EXPECT_EQ(demangle(typeid(std::map<int, long>).name()).rfind("std::map<int, long", 0), 0U)
      << demangle(typeid(std::map<int, long>).name());
  EXPECT_EQ(demangle(typeid(LocalError).name()), "(anonymous namespace)::LocalError");
}

TEST(PoolErrors, DemangleLeavesWhatIsNotAMangledNameAlone) {
  EXPECT_EQ(demangle("not a mangled name"), "not a mangled name");
  EXPECT_EQ(demangle(""), "");
  EXPECT_EQ(demangle(nullptr), "<unknown type>");
}

TEST(PoolErrors, DescribeExceptionNamesTheDynamicType) {
  try {
    throw LocalError("boom");
  } catch (...) {
    const auto d = describe_exception(std::current_exception());
    EXPECT_EQ(d.type_name, "(anonymous namespace)::LocalError");
    EXPECT_EQ(d.what, "boom");
  }
  try {
    throw 42;
  } catch (...) {
    const auto d = describe_exception(std::current_exception());
    EXPECT_EQ(d.type_name, "int");
  }
  EXPECT_EQ(describe_exception(nullptr).type_name, "<no exception>");
}

}  // namespace
