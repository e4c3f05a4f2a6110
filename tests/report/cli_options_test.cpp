// The `ringpool` command's conventions: --version, one JSON convention for every
// sub-command (--json prints, --json-file FILE writes, --json FILE kept as its alias),
// output paths checked before any measurement starts, and one progress line per section on
// stderr when it is not a terminal.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "run_cli.hpp"

namespace rt = ringpool::report::testing;

namespace {

bool parses_as_json(const std::string& text) {
  return nlohmann::json::accept(text);
}

}  // namespace

TEST(CliVersion, PrintsTheProjectVersion) {
  rt::ScratchDir dir;
  const auto r = rt::run_ringpool("--version", dir);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, std::string("ringpool ") + RINGPOOL_VERSION + "\n");
}

TEST(CliJson, JsonAloneGoesToStdoutInsteadOfTheText) {
  rt::ScratchDir dir;
  for (const char* cmd : {"topo --json", "plan --tasks 2 --json"}) {
    const auto r = rt::run_ringpool(cmd, dir);
    ASSERT_EQ(r.exit_code, 0) << cmd << ": " << r.err;
    EXPECT_TRUE(parses_as_json(r.out)) << cmd << ": " << r.out;
  }
}

TEST(CliJson, JsonFileWritesTheFileAndKeepsTheText) {
  rt::ScratchDir dir;
  const auto r = rt::run_ringpool("topo --json-file " + dir.file("topo.json"), dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Usable: PUs"), std::string::npos) << r.out;
  EXPECT_TRUE(parses_as_json(rt::slurp(dir.file("topo.json"))));
}

TEST(CliJson, JsonWithAFileIsTheOlderSpellingOfJsonFile) {
  rt::ScratchDir dir;
  const auto r = rt::run_ringpool("plan --tasks 2 --json " + dir.file("plan.json"), dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(parses_as_json(r.out)) << "the text, not JSON, on stdout: " << r.out;
  const auto j = nlohmann::json::parse(rt::slurp(dir.file("plan.json")));
  EXPECT_EQ(j.at("tasks"), 2);
}

TEST(CliJson, BothSpellingsAtOnceAreRefused) {
  rt::ScratchDir dir;
  const auto r = rt::run_ringpool("topo --json --json-file " + dir.file("t.json"), dir);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("excludes"), std::string::npos) << r.err;
}

TEST(CliJson, C2cPrintsJsonAloneAndWritesProgressLinesToAFile) {
  rt::ScratchDir dir;
  const auto r = rt::run_ringpool("c2c --quick --rounds 1 --json", dir);
  if (r.exit_code != 0 && r.err.find("need at least 2") != std::string::npos) {
    GTEST_SKIP() << "needs two usable CPUs";
  }
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(parses_as_json(r.out)) << r.out;
  // stderr is a file here: one line as the section starts, one at the end.
  EXPECT_NE(r.err.find("ringpool c2c: [1/1] core-to-core latency"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("ringpool c2c: done in"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\r'), std::string::npos) << "no bar drawing into a file";
}

// A bad output path fails at once: nothing measured, nothing on stdout, no progress line.
struct BadOutput {
  std::string args;     // {dir} is replaced by the scratch directory
  std::string message;  // expected in stderr, {dir} replaced too
};

class CliBadOutput : public ::testing::TestWithParam<BadOutput> {};

TEST_P(CliBadOutput, FailsBeforeMeasuring) {
  rt::ScratchDir dir;
  auto expand = [&](std::string s) {
    for (auto pos = s.find("{dir}"); pos != std::string::npos; pos = s.find("{dir}")) {
      s.replace(pos, 5, dir.path().string());
    }
    return s;
  };
  std::ofstream(dir.file("afile")) << "a file, not a directory\n";
  const auto r = rt::run_ringpool(expand(GetParam().args), dir);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(expand(GetParam().message)), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_EQ(r.err.find("[1/"), std::string::npos) << "a measurement started: " << r.err;
}

INSTANTIATE_TEST_SUITE_P(
    Paths, CliBadOutput,
    ::testing::Values(
        BadOutput{"tune --save {dir}/no/such/dir/p.txt",
                  "--save {dir}/no/such/dir/p.txt: the directory '{dir}/no/such/dir' does not "
                  "exist"},
        BadOutput{"tune --save {dir}", "--save {dir}: is a directory"},
        BadOutput{"tune --save {dir}/afile/p.txt",
                  "--save {dir}/afile/p.txt: '{dir}/afile' is "
                  "not a directory"},
        BadOutput{"tune --json-file {dir}/missing/t.json", "--json-file {dir}/missing/t.json"},
        BadOutput{"bench --html {dir}/missing/r.html", "--html {dir}/missing/r.html"},
        BadOutput{"bench --json {dir}/missing/r.json", "--json {dir}/missing/r.json"},
        BadOutput{"c2c --svg {dir}/missing/c.svg", "--svg {dir}/missing/c.svg"},
        BadOutput{"bench rings --json-file {dir}/missing/r.json", "--json-file"},
        BadOutput{"bench pool --json-file {dir}/missing/p.json", "--json-file"}));
