#pragma once
// Sub-commands of the `ringpool` program. Each add_* function registers its
// sub-command on the given CLI11 app and is defined in its own cmd_*.cpp.
#include <CLI/CLI.hpp>
#include <cstddef>
#include <nlohmann/json.hpp>

namespace ringpool::cli {

// ringpool topo, ringpool plan (cmd_topo.cpp)
void add_topology_commands(CLI::App& app);
// ringpool bench rings (cmd_bench_rings.cpp); `bench` is the parent command.
void add_bench_rings_command(CLI::App& bench);
// ringpool bench with no sub-command: the full report (cmd_report.cpp). Sets
// bench.require_subcommand(0, 1) and registers the report as bench's callback.
void add_report_command(CLI::App& bench);
// ringpool c2c: core-to-core latency matrix (cmd_c2c.cpp)
void add_c2c_command(CLI::App& app);
// ringpool tune: measure placements, recommend and save one (cmd_tune.cpp)
void add_tune_command(CLI::App& app);
// ringpool bench pool (cmd_bench_pool.cpp); `bench` is the parent command.
void add_bench_pool_command(CLI::App& bench);
// ringpool bench payload (cmd_bench_payload.cpp); `bench` is the parent command.
void add_bench_payload_command(CLI::App& bench);
// ringpool bench cluster (cmd_bench_cluster.cpp; only when built with the cluster module,
// RINGPOOL_HAVE_CLUSTER); run under mpirun.
void add_bench_cluster_command(CLI::App& bench);
#ifdef RINGPOOL_HAVE_CLUSTER
// `topo` / `plan --ranks` under mpirun (cmd_cluster_topo.cpp).
[[nodiscard]] bool under_mpirun() noexcept;
void start_cluster();  // cluster::init: ranks 1.. serve there and exit when rank 0 is done
[[nodiscard]] nlohmann::json cluster_json();
void print_cluster();
// The plan of `tasks` over the first `ranks` ranks' usable cores; prints it when `print`.
nlohmann::json cluster_plan(std::size_t tasks, std::size_t ranks, bool print);
#endif
// ringpool shm list / clean: ringpool segments in /dev/shm (cmd_shm.cpp)
void add_shm_command(CLI::App& app);

}  // namespace ringpool::cli
