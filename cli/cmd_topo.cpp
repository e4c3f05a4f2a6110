// ringpool topo, ringpool plan: the machine tree, what this process may use, and
// the parallel/concurrent plan for a number of tasks.
#include <fmt/format.h>

#include <cstdint>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "commands.hpp"
#include "json_output.hpp"
#include "numbers.hpp"
#include "ringpool/topology/topology.hpp"

namespace ringpool::cli {
namespace {

namespace topo = ringpool::topology;
using nlohmann::json;

constexpr std::uint64_t kMaxTasks = std::uint64_t{1} << 32;

struct Source {
  std::string synthetic;
  std::string xml;
};

void add_source_options(CLI::App& cmd, Source& source) {
  auto* synthetic = cmd.add_option("--synthetic", source.synthetic,
                                   "Use an hwloc synthetic topology instead of this machine, "
                                   "e.g. \"pack:2 l3:4 core:8 pu:2\"");
  auto* xml = cmd.add_option("--xml", source.xml,
                             "Use an hwloc XML export (lstopo FILE.xml) instead of this machine");
  synthetic->excludes(xml);
}

topo::Machine load_machine(const Source& source) {
  if (!source.synthetic.empty()) return topo::Machine::from_synthetic(source.synthetic);
  if (!source.xml.empty()) return topo::Machine::from_xml(source.xml);
  return topo::Machine::live();
}

std::string os_or_dash(const std::optional<unsigned>& os) {
  return os ? fmt::format("P#{}", *os) : std::string("-");
}

std::string human_bytes(std::uint64_t bytes) {
  if (bytes == 0) return "";
  if (bytes >= (std::uint64_t{1} << 30) && bytes % (std::uint64_t{1} << 20) == 0) {
    return fmt::format(" {}MB", bytes >> 20);
  }
  if (bytes >= (std::uint64_t{1} << 20)) return fmt::format(" {}MB", bytes >> 20);
  return fmt::format(" {}KB", bytes >> 10);
}

json domains_json(const std::vector<topo::Domain>& domains) {
  json out = json::array();
  for (const auto& d : domains) {
    json j = {{"logical_index", d.logical_index}, {"cpus", d.cpus.to_vector()}};
    j["os_index"] = d.os_index ? json(*d.os_index) : json(nullptr);
    if (d.bytes != 0) j["bytes"] = d.bytes;
    out.push_back(std::move(j));
  }
  return out;
}

json usable_json(const topo::Usable& usable) {
  json j = {{"cpus", usable.cpus.to_vector()},
            {"cpu_list", usable.cpus.to_list()},
            {"cores", usable.cores},
            {"reasons", usable.reasons}};
  j["quota_cores"] = usable.quota_cores ? json(*usable.quota_cores) : json(nullptr);
  return j;
}

json topo_json(const topo::Machine& m, const topo::Usable& usable) {
  json pus = json::array();
  for (const auto& pu : m.pus()) {
    const unsigned os = *pu.os_index;
    const auto index = [&](topo::Level level) {
      const auto i = m.index_of(level, os);
      return i ? json(*i) : json(nullptr);
    };
    pus.push_back({{"os_index", os},
                   {"logical_index", pu.logical_index},
                   {"core", index(topo::Level::core)},
                   {"l2", index(topo::Level::l2)},
                   {"l3", index(topo::Level::l3)},
                   {"numa_node", index(topo::Level::numa_node)},
                   {"package", index(topo::Level::package)},
                   {"siblings", m.siblings(os).to_vector()},
                   {"usable", usable.cpus.contains(os)}});
  }
  json kinds = json::array();
  for (const auto& k : m.cpu_kinds()) {
    kinds.push_back(
        {{"cpus", k.cpus.to_vector()}, {"efficiency", k.efficiency}, {"core_type", k.core_type}});
  }
  return {{"source", m.source()},
          {"packages", domains_json(m.packages())},
          {"numa_nodes", domains_json(m.numa_nodes())},
          {"l3_groups", domains_json(m.l3_groups())},
          {"l2_groups", domains_json(m.l2_groups())},
          {"cores", domains_json(m.cores())},
          {"pus", std::move(pus)},
          {"cpu_kinds", std::move(kinds)},
          {"usable", usable_json(usable)}};
}

void print_core(const topo::Domain& core, const topo::CpuSet& usable, const std::string& indent) {
  std::string pus;
  for (unsigned pu : core.cpus) {
    if (!pus.empty()) pus += ' ';
    pus += fmt::format("P#{}{}", pu, usable.contains(pu) ? "" : "(not usable)");
  }
  fmt::print("{}Core L#{} {}: PU {}{}\n", indent, core.logical_index, os_or_dash(core.os_index),
             pus, core.cpus.count() > 1 ? "  (SMT siblings)" : "");
}

void print_topo(const topo::Machine& m, const topo::Usable& usable) {
  fmt::print("Machine ({}): {} package(s), {} NUMA node(s), {} L3 group(s), {} core(s), {} PU(s)\n",
             m.source(), m.packages().size(), m.numa_nodes().size(), m.l3_groups().size(),
             m.cores().size(), m.pus().size());
  // Packages (or the whole machine when hwloc reports none), their NUMA nodes and L3
  // groups, and the cores under each L3 group (or directly under the package).
  std::vector<topo::Domain> packages = m.packages();
  if (packages.empty()) packages.push_back(topo::Domain{0, std::nullopt, m.all_cpus(), 0});
  for (const auto& pkg : packages) {
    fmt::print("  Package L#{} {}: PUs {}\n", pkg.logical_index, os_or_dash(pkg.os_index),
               pkg.cpus.to_list());
    for (const auto& numa : m.numa_nodes()) {
      if (!numa.cpus.empty() && numa.cpus.is_subset_of(pkg.cpus)) {
        fmt::print("    NUMA node L#{} {}{}: PUs {}\n", numa.logical_index,
                   os_or_dash(numa.os_index), human_bytes(numa.bytes), numa.cpus.to_list());
      }
    }
    topo::CpuSet shown;
    for (const auto& l3 : m.l3_groups()) {
      if (l3.cpus.empty() || !l3.cpus.is_subset_of(pkg.cpus)) continue;
      fmt::print("    L3 L#{}{}: PUs {}\n", l3.logical_index, human_bytes(l3.bytes),
                 l3.cpus.to_list());
      for (const auto& core : m.cores()) {
        if (core.cpus.is_subset_of(l3.cpus)) print_core(core, usable.cpus, "      ");
      }
      shown |= l3.cpus;
    }
    for (const auto& core : m.cores()) {
      if (core.cpus.is_subset_of(pkg.cpus) && !core.cpus.intersects(shown)) {
        print_core(core, usable.cpus, "    ");
      }
    }
  }
  for (const auto& numa : m.numa_nodes()) {
    if (numa.cpus.empty()) {
      fmt::print("  NUMA node L#{} {}{}: memory only, no PUs\n", numa.logical_index,
                 os_or_dash(numa.os_index), human_bytes(numa.bytes));
    }
  }
  for (const auto& k : m.cpu_kinds()) {
    fmt::print("  CPU kind efficiency {}{}: PUs {}\n", k.efficiency,
               k.core_type.empty() ? "" : " (" + k.core_type + ")", k.cpus.to_list());
  }
  fmt::print("Usable: PUs {} = {} core(s)", usable.cpus.to_list(), usable.cores);
  if (usable.quota_cores) fmt::print(", CPU quota {:.2f} cores", *usable.quota_cores);
  fmt::print("\n");
  for (const auto& reason : usable.reasons) fmt::print("  - {}\n", reason);
}

json plan_json(const topo::Plan& p) {
  json cpus = json::array();
  for (const auto& set : p.worker_cpus) cpus.push_back(set.to_vector());
  return {{"mode", std::string(topo::to_string(p.mode))},
          {"tasks", p.tasks},
          {"workers", p.workers},
          {"usable_cores", p.usable_cores},
          {"capacity", p.capacity},
          {"policy", std::string(topo::to_string(p.policy))},
          {"cpus", std::move(cpus)},
          {"explain", p.explain}};
}

void print_plan(const topo::Machine& m, const topo::Plan& p) {
  fmt::print("{}\n", p.explain);
  for (std::size_t i = 0; i < p.worker_cpus.size(); ++i) {
    const unsigned pu = *p.worker_cpus[i].first();
    const auto core = m.index_of(topo::Level::core, pu);
    const auto l3 = m.index_of(topo::Level::l3, pu);
    const auto pkg = m.index_of(topo::Level::package, pu);
    fmt::print("  worker {:>3}: PU P#{:<4} core L#{}{}{}\n", i, pu, core ? *core : 0,
               l3 ? fmt::format("  L3 L#{}", *l3) : std::string(),
               pkg ? fmt::format("  package L#{}", *pkg) : std::string());
  }
}

}  // namespace

void add_topology_commands(CLI::App& app) {
  struct TopoOptions {
    Source source;
    JsonOutput json;
  };
  auto topo_opts = std::make_shared<TopoOptions>();
  auto* topo_cmd = app.add_subcommand(
      "topo", "Show the machine tree (packages, NUMA, L3, cores, PUs) and the usable CPUs");
  add_source_options(*topo_cmd, topo_opts->source);
  topo_opts->json.add_options(*topo_cmd, "the tree and the usable CPUs");
  topo_cmd->callback([topo_opts] {
    topo_opts->json.check();
#ifdef RINGPOOL_HAVE_CLUSTER
    const bool cluster = under_mpirun();
    if (cluster) start_cluster();  // under mpirun: rank 0 describes every rank
#endif
    const topo::Machine m = load_machine(topo_opts->source);
    const topo::Usable usable = m.usable();
    if (!topo_opts->json.on_stdout()) print_topo(m, usable);
    auto doc = topo_json(m, usable);
#ifdef RINGPOOL_HAVE_CLUSTER
    if (cluster) {
      if (!topo_opts->json.on_stdout()) print_cluster();
      doc["mpi_ranks"] = cluster_json();
    }
#endif
    topo_opts->json.write(doc);
  });

  struct PlanOptions {
    Source source;
    std::size_t tasks = 0;
    std::string policy;
    std::string cpus;
    std::size_t ranks = 0;
    JsonOutput json;
  };
  auto plan_opts = std::make_shared<PlanOptions>();
  auto* plan_cmd = app.add_subcommand(
      "plan", "Decide parallel vs concurrent for N tasks and where each worker is pinned");
  plan_cmd->add_option("--tasks", plan_opts->tasks, "Number of tasks, 1 to 4294967296")
      ->required()
      ->check(integer_in(1, kMaxTasks));
  plan_cmd->add_option("--policy", plan_opts->policy,
                       "Placement policy: scatter, compact, cores (default), pus, list");
  auto* cpus_opt = plan_cmd->add_option("--cpus", plan_opts->cpus,
                                        "Explicit CPU list for the list policy, e.g. 0-3,8");
  add_source_options(*plan_cmd, plan_opts->source);
  plan_opts->json.add_options(*plan_cmd, "the plan");
  auto* ranks_opt = plan_cmd->add_option(
      "--ranks", plan_opts->ranks,
      "Under mpirun: plan over the usable cores of the first R MPI ranks (cluster::Pool)");
  plan_cmd->callback([plan_opts, cpus_opt, ranks_opt] {
    if (ranks_opt->count() > 0) {
#ifdef RINGPOOL_HAVE_CLUSTER
      if (!under_mpirun()) {
        throw std::runtime_error("plan --ranks describes an MPI job: run it under mpirun -np N");
      }
      plan_opts->json.check();
      start_cluster();
      plan_opts->json.write(
          cluster_plan(plan_opts->tasks, plan_opts->ranks, !plan_opts->json.on_stdout()));
      return;
#else
      throw std::runtime_error("plan --ranks needs ringpool built with MPI (the cluster module)");
#endif
    }
    topo::Placement placement;
    if (!plan_opts->policy.empty()) placement.policy = topo::parse_policy(plan_opts->policy);
    if (cpus_opt->count() > 0) {
      if (!plan_opts->policy.empty() && placement.policy != topo::Policy::list) {
        throw topo::TopologyError(
            topo::TopologyErrc::invalid_argument,
            "--cpus goes with --policy list (got --policy " + plan_opts->policy + ")");
      }
      placement.policy = topo::Policy::list;
      placement.cpus = topo::CpuSet::from_list(plan_opts->cpus);
    } else if (placement.policy == topo::Policy::list) {
      throw topo::TopologyError(topo::TopologyErrc::invalid_argument,
                                "--policy list needs --cpus LIST (e.g. --cpus 0-3)");
    }
    const topo::Machine m = load_machine(plan_opts->source);
    const topo::Plan p = topo::plan(m, plan_opts->tasks, placement);
    if (!plan_opts->json.on_stdout()) print_plan(m, p);
    plan_opts->json.write(plan_json(p));
  });
}

}  // namespace ringpool::cli
