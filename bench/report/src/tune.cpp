#include "ringpool/report/tune.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "ringpool/bench/errors.hpp"
#include "ringpool/bench/ring_bench.hpp"
#include "ringpool/bench/rounds.hpp"
#include "ringpool/report/errors.hpp"
#include "ringpool/report/format.hpp"
#include "ringpool/report/machine_info.hpp"
#include "ringpool/report/pool_section.hpp"
#include "ringpool/topology/topology.hpp"

namespace ringpool::report {
namespace {

using topology::Relation;

struct Trial {
  double rtt_p50 = 0.0;
  double rtt_p99 = 0.0;
  double items_per_s = 0.0;
};

std::string join_cpus(const std::vector<topology::CpuSet>& sets) {
  std::string out;
  for (const auto& s : sets) {
    if (!out.empty()) out += ' ';
    out += s.to_list();
  }
  return out;
}

// One representative pair (lowest OS indexes) per relation that exists among `cpus`.
std::vector<std::pair<Relation, std::pair<unsigned, unsigned>>> pair_candidates(
    const topology::Machine& machine, const std::vector<unsigned>& cpus) {
  constexpr Relation kOrder[] = {Relation::smt_siblings, Relation::same_l2, Relation::same_l3,
                                 Relation::same_package, Relation::cross_package};
  std::vector<std::pair<Relation, std::pair<unsigned, unsigned>>> out;
  for (Relation wanted : kOrder) {
    bool found = false;
    for (std::size_t i = 0; i < cpus.size() && !found; ++i) {
      for (std::size_t j = i + 1; j < cpus.size() && !found; ++j) {
        if (machine.relation(cpus[i], cpus[j]) == wanted) {
          out.push_back({wanted, {cpus[i], cpus[j]}});
          found = true;
        }
      }
    }
  }
  return out;
}

bool close_relation(const std::string& relation) {
  return relation == "smt_siblings" || relation == "same_l2" || relation == "same_l3";
}

}  // namespace

TuneResult run_tune(const TuneOptions& options) {
  const topology::Machine& machine = topology::Machine::live();
  const topology::Usable usable = machine.usable();
  const bool restricted = !options.cpus.empty();
  const std::vector<unsigned> cpus = restricted ? options.cpus : usable.cpus.to_vector();
  const std::size_t capacity = restricted ? cpus.size() : usable.cores;
  const std::size_t workers = options.workers != 0 ? options.workers : capacity;
  if (workers > capacity) {
    throw ReportError(
        ReportErrc::invalid_argument,
        fmt::format(
            "--workers {}: only {} {} available ({}), and tune measures placements "
            "where no two workers share a CPU; use --workers {} or fewer",
            workers, capacity, restricted ? "CPUs are" : "cores are",
            restricted
                ? topology::CpuSet::from_list(fmt::format("{}", fmt::join(cpus, ","))).to_list()
                : usable.cpus.to_list(),
            capacity));
  }

  TuneResult result;
  result.rounds =
      static_cast<unsigned>(options.rounds != 0 ? options.rounds : (options.quick ? 3 : 5));
  result.workers = workers;
  const MachineInfo info = describe_machine();
  if (!info.hypervisor.empty()) {
    result.notes.push_back(
        fmt::format("this is a {} guest: the hypervisor moves vCPUs between physical cores, so the "
                    "relations hwloc reports describe the virtual machine, not where the vCPUs run",
                    info.hypervisor));
  }

  // Producer -> consumer pair candidates.
  const auto pairs = cpus.size() >= 2
                         ? pair_candidates(machine, cpus)
                         : std::vector<std::pair<Relation, std::pair<unsigned, unsigned>>>{};
  if (cpus.size() < 2) {
    result.notes.push_back("one CPU given: there is no producer -> consumer pair to measure");
  } else if (pairs.size() == 1) {
    result.notes.push_back(fmt::format(
        "only one relation exists between the CPUs here ({}): every pair is alike, so the pair "
        "measurement has nothing to choose between",
        topology::to_string(pairs.front().first)));
  }
  for (const auto& [relation, pair] : pairs) {
    TuneCandidate c;
    c.kind = "pair";
    c.relation = std::string(topology::to_string(relation));
    c.cpus = fmt::format("{},{}", pair.first, pair.second);
    result.candidates.push_back(c);
  }

  // Pool candidates: the distinct worker placements the policies give.
  struct PoolCandidate {
    std::string policy;  // first policy with this placement (the one to save)
    std::vector<std::string> policies;
    std::string cpus_list;  // for the list policy
    std::vector<topology::CpuSet> worker_cpus;
  };
  std::vector<PoolCandidate> pools;
  if (restricted) {
    topology::Placement list{topology::Policy::list, {}};
    for (unsigned c : cpus) list.cpus.insert(c);
    pools.push_back(
        {"list", {"list"}, list.cpus.to_list(), topology::place(machine, workers, list)});
  } else {
    bool smt = false;
    for (unsigned c : cpus) smt = smt || !machine.siblings(c).empty();
    std::vector<topology::Policy> policies = {topology::Policy::compact, topology::Policy::scatter,
                                              topology::Policy::cores};
    if (smt) policies.push_back(topology::Policy::pus);
    for (auto policy : policies) {
      auto placed = topology::place(machine, workers, topology::Placement{policy, {}});
      const std::string name(topology::to_string(policy));
      auto same = std::find_if(pools.begin(), pools.end(),
                               [&](const PoolCandidate& p) { return p.worker_cpus == placed; });
      if (same != pools.end()) {
        same->policies.push_back(name);
      } else {
        pools.push_back({name, {name}, "", std::move(placed)});
      }
    }
  }
  for (const auto& p : pools) {
    if (p.policies.size() > 1) {
      result.notes.push_back(
          fmt::format("policies {} place {} workers on the same CPUs here ({}): "
                      "one pool candidate",
                      fmt::join(p.policies, ", "), workers, join_cpus(p.worker_cpus)));
    }
  }
  const bool pool_measured = pool_section_available();
  if (!pool_measured) {
    result.notes.push_back("pool placements not measured: " + pool_section_unavailable_reason());
  }
  const std::size_t first_pool = result.candidates.size();
  for (const auto& p : pools) {
    TuneCandidate c;
    c.kind = "pool";
    c.relation = fmt::format("{}", fmt::join(p.policies, " = "));
    c.cpus = join_cpus(p.worker_cpus);
    if (!pool_measured) c.note = "not measured";
    result.candidates.push_back(c);
  }

  // Interleaved rounds over every candidate that can be measured.
  std::vector<bench::Contender<Trial>> contenders;
  std::vector<std::size_t> index_of;  // contender -> candidate
  const double phase_ms = options.quick ? 2.0 : 20.0;
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    const auto pair = pairs[i].second;
    contenders.push_back({result.candidates[i].cpus, [pair, phase_ms, quick = options.quick] {
                            bench::RingBenchOptions o;
                            o.cpu_a = static_cast<int>(pair.first);
                            o.cpu_b = static_cast<int>(pair.second);
                            o.rounds = 1;
                            o.quick = quick;
                            o.phase_ms = phase_ms;
                            o.transports = {std::string(bench::kRingpoolSpsc)};
                            for (const auto& row : bench::run_ring_bench(o)) {
                              if (row.item_bytes == 8 && row.batch == 1) {
                                return Trial{row.rtt_ns_p50.value_or(0.0),
                                             row.rtt_ns_p99.value_or(0.0), row.items_per_s};
                              }
                            }
                            throw ReportError(ReportErrc::measurement,
                                              "the ring benchmark returned no 8-byte row");
                          }});
    index_of.push_back(i);
  }
  if (pool_measured) {
    for (std::size_t k = 0; k < pools.size(); ++k) {
      const auto& p = pools[k];
      contenders.push_back(
          {"pool " + p.policy, [p, workers, quick = options.quick] {
             const PoolProbe probe = probe_pool_placement(workers, p.policy, p.cpus_list, quick);
             return Trial{probe.rtt_ns_p50, probe.rtt_ns_p99, probe.map_tasks_per_s};
           }});
      index_of.push_back(first_pool + k);
    }
  }
  if (!contenders.empty()) {
    bench::RoundsOptions rounds;
    rounds.rounds = result.rounds;
    const std::size_t total = contenders.size() * result.rounds;
    std::size_t done = 0;
    rounds.on_trial = [&](std::size_t, std::size_t i) {
      if (options.progress) {
        options.progress(static_cast<double>(++done) / static_cast<double>(total),
                         contenders[i].name);
      }
    };
    bench::RoundsResult<Trial> measured;
    try {
      measured = bench::run_rounds(contenders, rounds);
    } catch (const bench::BenchError& e) {
      throw ReportError(ReportErrc::measurement, std::string("tune trial failed: ") + e.what());
    }
    for (std::size_t i = 0; i < contenders.size(); ++i) {
      auto& c = result.candidates[index_of[i]];
      c.rtt_ns_p50 = measured.median(i, &Trial::rtt_p50);
      c.rtt_ns_p99 = measured.median(i, &Trial::rtt_p99);
      c.items_per_s = measured.median(i, &Trial::items_per_s);
    }
  }

  // The advice.
  const TuneCandidate* best_pair = nullptr;
  for (const auto& c : result.candidates) {
    if (c.kind == "pair" && c.rtt_ns_p50 &&
        (!best_pair || *c.rtt_ns_p50 < *best_pair->rtt_ns_p50)) {
      best_pair = &c;
    }
  }
  const TuneCandidate* best_pool = nullptr;
  std::size_t best_pool_index = 0;
  for (std::size_t k = 0; k < pools.size(); ++k) {
    const auto& c = result.candidates[first_pool + k];
    if (c.items_per_s && (!best_pool || *c.items_per_s > *best_pool->items_per_s)) {
      best_pool = &c;
      best_pool_index = k;
    }
  }
  if (restricted) {
    result.recommended_policy = "list";
    result.recommended_cpus = pools.front().cpus_list;
    result.recommendation = fmt::format(
        "pin the pool's {} workers to the CPUs you named ({}){}", workers, result.recommended_cpus,
        best_pool ? fmt::format(": {} map throughput, {} submit→get round trip",
                                format_rate(*best_pool->items_per_s, "tasks/s"),
                                format_ns(*best_pool->rtt_ns_p50))
                  : std::string());
  } else if (best_pool) {
    result.recommended_policy = pools[best_pool_index].policy;
    result.recommendation = fmt::format(
        "policy {}: the best pool of {} workers measured here ({} map throughput, {} submit→get "
        "round trip on CPUs {})",
        result.recommended_policy, workers, format_rate(*best_pool->items_per_s, "tasks/s"),
        format_ns(*best_pool->rtt_ns_p50), best_pool->cpus);
  } else if (best_pair) {
    result.recommended_policy =
        close_relation(best_pair->relation) || pairs.size() == 1 ? "compact" : "scatter";
    result.recommendation = fmt::format(
        "policy {}: the fastest producer -> consumer pair here is {} (CPUs {}: {} round trip, "
        "{}); {}",
        result.recommended_policy, best_pair->relation, best_pair->cpus,
        format_ns(*best_pair->rtt_ns_p50), format_rate(*best_pair->items_per_s, "items/s"),
        result.recommended_policy == "compact"
            ? "compact keeps communicating workers on CPUs that share a cache"
            : "pairs farther apart measured faster, so scatter spreads the workers");
  } else {
    result.recommended_policy = "cores";
    result.recommendation =
        "policy cores (the default): nothing could be measured to prefer another placement";
  }
  return result;
}

topology::Placement recommended_placement(const TuneResult& result) {
  topology::Placement p;
  p.policy = topology::parse_policy(result.recommended_policy);
  if (p.policy == topology::Policy::list)
    p.cpus = topology::CpuSet::from_list(result.recommended_cpus);
  return p;
}

std::string format_tune_text(const TuneResult& r) {
  std::string out = fmt::format("ringpool tune: {} workers, medians over {} interleaved rounds\n\n",
                                r.workers, r.rounds);
  out += fmt::format("  {:<5} {:<28} {:<16} {:>12} {:>12} {:>20}\n", "kind", "relation / policy",
                     "CPUs", "rtt p50", "rtt p99", "throughput");
  for (const auto& c : r.candidates) {
    const char* unit = c.kind == "pool" ? "tasks/s" : "items/s";
    out += fmt::format("  {:<5} {:<28} {:<16} {:>12} {:>12} {:>20}{}\n", c.kind, c.relation, c.cpus,
                       c.rtt_ns_p50 ? format_ns(*c.rtt_ns_p50) : "-",
                       c.rtt_ns_p99 ? format_ns(*c.rtt_ns_p99) : "-",
                       c.items_per_s ? format_rate(*c.items_per_s, unit) : "-",
                       c.note.empty() ? "" : "  (" + c.note + ")");
  }
  out += "\n";
  for (const auto& n : r.notes) out += "note: " + n + "\n";
  out += "\nrecommended: " + r.recommendation + "\n";
  return out;
}

}  // namespace ringpool::report
