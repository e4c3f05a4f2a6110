#include "run_tests.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace ringpool::test {
namespace {

constexpr std::string_view kFileFlag = "--ringpool_test_file=";
constexpr std::string_view kExpectFlag = "--ringpool_expect_files=";

// GoogleTest's wildcard match: '*' any run of characters, '?' one character.
bool glob_match(std::string_view pattern, std::string_view name) {
  std::size_t p = 0;
  std::size_t n = 0;
  std::size_t star = std::string_view::npos;
  std::size_t resume = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
      ++p;
      ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = n;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool any_pattern_matches(std::string_view patterns, std::string_view name) {
  while (true) {
    const std::size_t colon = patterns.find(':');
    if (glob_match(patterns.substr(0, colon), name)) return true;
    if (colon == std::string_view::npos) return false;
    patterns.remove_prefix(colon + 1);
  }
}

// GoogleTest's --gtest_filter grammar: "POSITIVE[-NEGATIVE]", each a ':'-separated list
// of patterns; an empty POSITIVE means every test.
bool filter_matches(std::string_view filter, std::string_view name) {
  const std::size_t dash = filter.find('-');
  const std::string_view positive = filter.substr(0, dash);
  const bool included = positive.empty() || any_pattern_matches(positive, name);
  if (dash == std::string_view::npos) return included;
  return included && !any_pattern_matches(filter.substr(dash + 1), name);
}

std::string_view base_name(std::string_view path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

template <typename Fn>
void for_each_test(Fn&& fn) {
  const ::testing::UnitTest& unit = *::testing::UnitTest::GetInstance();
  for (int s = 0; s < unit.total_test_suite_count(); ++s) {
    const ::testing::TestSuite& suite = *unit.GetTestSuite(s);
    for (int t = 0; t < suite.total_test_count(); ++t) fn(*suite.GetTestInfo(t));
  }
}

// Every test must be defined in one of `files` (':'-separated file names); prints the
// others. Returns the exit code.
int expect_files(std::string_view files) {
  int strays = 0;
  for_each_test([&](const ::testing::TestInfo& info) {
    const std::string_view file = base_name(info.file());
    std::string_view rest = files;
    bool listed = false;
    while (!listed) {
      const std::size_t colon = rest.find(':');
      listed = rest.substr(0, colon) == file;
      if (colon == std::string_view::npos) break;
      rest.remove_prefix(colon + 1);
    }
    if (listed) return;
    ++strays;
    std::fprintf(stderr,
                 "ringpool tests: %s.%s is defined in %s, which no ringpool_test_file line "
                 "registers: it would never run. Register the file, or move the test into one.\n",
                 info.test_suite_name(), info.name(), info.file());
  });
  return strays == 0 ? 0 : 1;
}

}  // namespace

int run_tests(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  std::string file;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.starts_with(kFileFlag)) file = arg.substr(kFileFlag.size());
    if (arg.starts_with(kExpectFlag)) return expect_files(arg.substr(kExpectFlag.size()));
  }
  if (file.empty()) return RUN_ALL_TESTS();

  const std::string user_filter = GTEST_FLAG_GET(filter);
  std::string selected;
  std::size_t in_file = 0;
  for_each_test([&](const ::testing::TestInfo& info) {
    if (base_name(info.file()) != file) return;
    ++in_file;
    const std::string name = std::string(info.test_suite_name()) + "." + info.name();
    if (!filter_matches(user_filter, name)) return;
    if (!selected.empty()) selected += ':';
    selected += name;
  });
  if (selected.empty()) {
    std::fprintf(stderr,
                 "ringpool tests: --ringpool_test_file=%s selects no test (%zu test(s) defined "
                 "in that file, --gtest_filter=%s). Check the file name in the module's "
                 "tests/<module>/CMakeLists.txt and that the file is compiled into this "
                 "binary.\n",
                 file.c_str(), in_file, user_filter.c_str());
    return 1;
  }
  GTEST_FLAG_SET(filter, selected);
  return RUN_ALL_TESTS();
}

}  // namespace ringpool::test
