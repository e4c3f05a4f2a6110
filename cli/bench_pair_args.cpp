#include "bench_pair_args.hpp"

#include <vector>

#include "numbers.hpp"
#include "ringpool/bench/errors.hpp"
#include "ringpool/bench/pin.hpp"

namespace ringpool::cli {

void BenchPairArgs::add_options(CLI::App& cmd, const BenchPairHelp& help) {
  rounds_option_ = cmd.add_option("--rounds", rounds_, help.rounds)
                       ->check(integer_in(1, 1000))
                       ->capture_default_str();
  cmd.add_flag("--quick", quick, help.quick);
  cmd.add_flag("--no-python", no_python, "Skip the Python multiprocessing peer");
  cpus_option_ = cmd.add_option("--cpus", cpus_, help.cpus);
}

std::size_t BenchPairArgs::rounds() const {
  const bool given = rounds_option_ != nullptr && rounds_option_->count() > 0;
  return quick && !given ? 1 : rounds_;
}

std::pair<int, int> BenchPairArgs::cpu_pair(const std::string& command,
                                            const std::string& why) const {
  std::vector<int> cpus;
  if (cpus_option_ != nullptr && cpus_option_->count() > 0) {
    cpus = bench::parse_cpu_list(cpus_);
  } else {
    cpus = bench::thread_affinity();
    if (cpus.size() < 2) {
      throw bench::BenchError(bench::BenchErrc::cpu_not_allowed,
                              "ringpool bench " + command + " needs two CPUs " + why +
                                  ", but this process may only use CPU " +
                                  bench::format_cpu_list(cpus));
    }
    cpus.resize(2);
  }
  bench::check_cpu_pair(cpus);
  json.check();
  return {cpus[0], cpus[1]};
}

}  // namespace ringpool::cli
