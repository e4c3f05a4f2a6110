#pragma once
// Test helpers: run the built `ringpool` binary and capture its output; a scratch
// directory removed at the end of the test.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "ringpool/topology/topology.hpp"

namespace ringpool::report::testing {

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A fresh directory under the system temp dir, removed with everything in it.
class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ringpool-report-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  [[nodiscard]] std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Runs `command` through /bin/sh with stdout and stderr captured into files of `dir`.
inline RunResult run_shell(const std::string& command, const ScratchDir& dir) {
  const std::string out = dir.file("stdout.txt");
  const std::string err = dir.file("stderr.txt");
  const int status = std::system((command + " >" + out + " 2>" + err).c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

// Runs the ringpool binary with `args` (already shell-quoted where needed).
inline RunResult run_ringpool(const std::string& args, const ScratchDir& dir) {
  return run_shell(std::string("'") + RINGPOOL_CLI + "' " + args, dir);
}

// The CPUs this process may run on, from the live topology.
inline std::vector<unsigned> usable_cpus() {
  return ringpool::topology::Machine::live().usable().cpus.to_vector();
}

}  // namespace ringpool::report::testing
