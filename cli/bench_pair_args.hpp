#pragma once
// The options `ringpool bench pool` and `ringpool bench payload` share: --rounds, --quick,
// --no-python, --cpus (a caller and a worker CPU) and the JSON output.
#include <CLI/CLI.hpp>
#include <cstddef>
#include <string>
#include <utility>

#include "json_output.hpp"

namespace ringpool::cli {

// Help texts that differ between the commands.
struct BenchPairHelp {
  std::string rounds;  // --rounds
  std::string quick;   // --quick
  std::string cpus;    // --cpus
};

class BenchPairArgs {
 public:
  JsonOutput json;
  bool quick = false;
  bool no_python = false;

  // Registers --rounds, --quick, --no-python and --cpus on `cmd` (not --json: its text
  // differs per command; call json.add_options).
  void add_options(CLI::App& cmd, const BenchPairHelp& help);
  // Rounds to run: --quick means one unless --rounds says otherwise.
  [[nodiscard]] std::size_t rounds() const;
  // Caller and worker CPUs: --cpus, else the first two this process may use. Throws
  // bench::BenchError naming `command` and `why` ("for its round trips") when fewer are
  // allowed, or when the pair is not allowed. Also checks the JSON target.
  [[nodiscard]] std::pair<int, int> cpu_pair(const std::string& command,
                                             const std::string& why) const;

 private:
  std::size_t rounds_ = 5;
  std::string cpus_;
  CLI::Option* rounds_option_ = nullptr;
  CLI::Option* cpus_option_ = nullptr;
};

}  // namespace ringpool::cli
