// `ringpool topo` and `ringpool plan --ranks R` under mpirun: every rank runs the command;
// cluster::init keeps ranks 1.. serving (they exit when rank 0 is done) and rank 0 adds what
// each rank reported at init (host, usable cores, CPUs, hwloc summary) and the plan over the
// cores of the first R ranks. Built only with the cluster module.
#include <fmt/format.h>

#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>

#include "commands.hpp"
#include "ringpool/cluster/cluster.hpp"
#include "ringpool/topology/placement.hpp"

namespace ringpool::cli {

bool under_mpirun() noexcept {
  const char* size = std::getenv("OMPI_COMM_WORLD_SIZE");
  return size != nullptr && *size != '\0';
}

void start_cluster() {
  static char name[] = "ringpool";
  char* argv[] = {name, nullptr};
  cluster::init(1, argv);  // ranks 1.. stay here until rank 0 is done
}

nlohmann::json cluster_json() {
  nlohmann::json ranks = nlohmann::json::array();
  for (const auto& r : cluster::ranks()) {
    ranks.push_back({{"rank", r.rank},
                     {"pid", r.pid},
                     {"host", r.host},
                     {"usable_cores", r.usable_cores},
                     {"cpus", r.cpus},
                     {"machine", r.machine}});
  }
  return ranks;
}

void print_cluster() {
  fmt::print("MPI ranks ({}):\n", cluster::world_size());
  for (const auto& r : cluster::ranks()) {
    fmt::print("  rank {:>3}: {} pid {}, {} usable core(s), cpus {} ({})\n", r.rank, r.host,
               static_cast<int>(r.pid), r.usable_cores, r.cpus, r.machine);
  }
}

nlohmann::json cluster_plan(std::size_t tasks, std::size_t ranks, bool print) {
  const auto& all = cluster::ranks();
  if (ranks == 0 || ranks > all.size()) {
    throw std::runtime_error("--ranks " + std::to_string(ranks) + ": the job has " +
                             std::to_string(all.size()) + " rank(s) (mpirun -np N)");
  }
  std::size_t cores = 0;
  nlohmann::json per_rank = nlohmann::json::array();
  for (std::size_t r = 0; r < ranks; ++r) {
    cores += all[r].usable_cores;
    per_rank.push_back({{"rank", all[r].rank},
                        {"host", all[r].host},
                        {"workers", all[r].usable_cores},
                        {"cpus", all[r].cpus}});
  }
  const bool parallel = tasks <= cores;
  const std::string explain = std::to_string(tasks) + " task(s) " + (parallel ? "<= " : "> ") +
                              std::to_string(cores) + " usable cores on " + std::to_string(ranks) +
                              " rank(s): " +
                              (parallel ? "parallel, one task per core (chunks of 1)"
                                        : "concurrent, chunks handed to ranks as they have room");
  if (print) {
    fmt::print("cluster plan: {}\n", explain);
    for (std::size_t r = 0; r < ranks; ++r) {
      fmt::print("  rank {:>3}: {} worker(s) on {} (cpus {})\n", all[r].rank, all[r].usable_cores,
                 all[r].host, all[r].cpus);
    }
  }
  return {{"mode", parallel ? "parallel" : "concurrent"},
          {"tasks", tasks},
          {"ranks", ranks},
          {"cores", cores},
          {"per_rank", per_rank},
          {"explain", explain}};
}

}  // namespace ringpool::cli
