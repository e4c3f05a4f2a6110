// The `ringpool` command: topology, plans, benchmarks and tuning.
#include <exception>
#include <iostream>

#include "commands.hpp"

#ifndef RINGPOOL_VERSION_STRING
#error "RINGPOOL_VERSION_STRING must be defined by the build (PROJECT_VERSION)"
#endif

int main(int argc, char** argv) {
  CLI::App app{"ringpool: pinned worker processes over lock-free shared-memory rings"};
  app.set_version_flag("--version", "ringpool " RINGPOOL_VERSION_STRING,
                       "Print ringpool's version and exit");
  app.require_subcommand(1);
  ringpool::cli::add_topology_commands(app);
  auto* bench = app.add_subcommand("bench", "Benchmarks: rings, pool, and the full report");
  ringpool::cli::add_bench_rings_command(*bench);
  ringpool::cli::add_bench_pool_command(*bench);
  ringpool::cli::add_bench_payload_command(*bench);
#ifdef RINGPOOL_HAVE_CLUSTER
  ringpool::cli::add_bench_cluster_command(*bench);
#endif
  ringpool::cli::add_report_command(*bench);
  ringpool::cli::add_c2c_command(app);
  ringpool::cli::add_tune_command(app);
  ringpool::cli::add_shm_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::cerr << "ringpool: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
