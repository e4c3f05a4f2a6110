#include "ringpool/report/report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <optional>

#include "ringpool/bench/errors.hpp"
#include "ringpool/bench/ring_bench.hpp"
#include "ringpool/report/c2c.hpp"
#include "ringpool/report/errors.hpp"
#include "ringpool/report/format.hpp"
#include "ringpool/report/machine_info.hpp"
#include "ringpool/report/mpmc_scaling.hpp"
#include "ringpool/report/pool_section.hpp"
#include "ringpool/report/progress.hpp"
#include "ringpool/topology/topology.hpp"

namespace ringpool::report {
namespace {

constexpr std::size_t kProgressUnits = 1000;

std::size_t default_rounds(const ReportOptions& o) {
  return o.rounds != 0 ? o.rounds : (o.quick ? 3 : 7);
}

// How long each section takes, roughly, in seconds: the shares of the progress bar.
struct Budget {
  double c2c = 0.0;
  double rings = 0.0;
  double mpmc = 0.0;
  double pool = 0.0;
  [[nodiscard]] double total() const { return c2c + rings + mpmc + pool; }
};

std::vector<unsigned> c2c_cpus(const topology::Machine& machine) {
  std::vector<unsigned> cpus = machine.usable().cpus.to_vector();
  if (cpus.size() > kReportC2cCpus) cpus.resize(kReportC2cCpus);
  return cpus;
}

// One PU per physical core, closest first (the compact policy's order).
std::vector<unsigned> compact_cpus(const topology::Machine& machine) {
  return topology::policy_order(machine, topology::Placement{topology::Policy::compact, {}});
}

Budget budget(const ReportOptions& o, const topology::Machine& machine) {
  const double rounds = static_cast<double>(default_rounds(o));
  const double n = static_cast<double>(c2c_cpus(machine).size());
  const double cores = static_cast<double>(compact_cpus(machine).size());
  Budget b;
  b.c2c = n * (n - 1) / 2 * rounds * (o.quick ? 0.004 : 0.008);
  b.rings = (o.quick ? 1.5 : 4.0) * (rounds + 1);
  b.mpmc = static_cast<double>(default_splits(static_cast<std::size_t>(cores)).size()) * 2 *
           (rounds + 1) * (o.quick ? 0.03 : 0.25);
  b.pool = pool_section_available() ? (o.quick ? 3.0 : 15.0) : 0.0;
  return b;
}

// A slice of the progress bar for one section.
class Phase {
 public:
  Phase(Progress& progress, double begin, double share)
      : progress_(progress), begin_(begin), share_(share) {}
  void at(double fraction, std::string_view what) {
    progress_.running(what);
    progress_.set_done(static_cast<std::size_t>((begin_ + share_ * std::clamp(fraction, 0.0, 1.0)) *
                                                kProgressUnits));
  }
  void done() { at(1.0, ""); }

 private:
  Progress& progress_;
  double begin_;
  double share_;
};

const RingRow* find_row(const RingSection& s, std::string_view transport, unsigned bytes,
                        unsigned batch) {
  for (const auto& r : s.rows) {
    if (r.transport == transport && r.item_bytes == bytes && r.batch == batch) return &r;
  }
  return nullptr;
}

std::string pair_cpus(const CorePair& p) {
  return fmt::format("{},{}", p.a, p.b);
}

void ring_comparisons(Report& r) {
  const RingSection& s = *r.rings;
  const std::string cpus = pair_cpus(s.pair);
  auto thr = [&](std::string_view ours, std::string_view peer, unsigned bytes, unsigned batch,
                 const std::string& what) {
    const RingRow* a = find_row(s, ours, bytes, batch);
    const RingRow* b = find_row(s, peer, bytes, batch);
    if (!a || !b || a->items_per_s <= 0.0 || b->items_per_s <= 0.0) return;
    r.comparisons.push_back(compare("rings", what,
                                    {std::string(ours), a->items_per_s, "items/s", cpus},
                                    {std::string(peer), b->items_per_s, "items/s", cpus}, true));
  };
  auto rtt = [&](std::string_view ours, std::string_view peer, const std::string& what) {
    const RingRow* a = find_row(s, ours, 8, 1);
    const RingRow* b = find_row(s, peer, 8, 1);
    if (!a || !b || !a->rtt_ns_p50 || !b->rtt_ns_p50) return;
    r.comparisons.push_back(compare("rings", what, {std::string(ours), *a->rtt_ns_p50, "ns", cpus},
                                    {std::string(peer), *b->rtt_ns_p50, "ns", cpus}, false));
  };
  thr(bench::kRingpoolSpsc, bench::kBoostSpsc, 8, 1,
      "SPSC throughput, 8-byte items, one at a time");
  thr(bench::kRingpoolSpsc, bench::kBoostSpsc, 8, 32,
      "SPSC throughput, 8-byte items, batches of 32");
  thr(bench::kRingpoolSpsc, bench::kBoostSpsc, 64, 1,
      "SPSC throughput, 64-byte items, one at a time");
  rtt(bench::kRingpoolSpsc, bench::kBoostSpsc, "SPSC round trip p50, 8-byte items");
  rtt(bench::kRingpoolSpsc, bench::kPipe, "SPSC round trip p50 vs a pipe");
  rtt(bench::kRingpoolSpsc, bench::kCachelinePingpong,
      "SPSC round trip p50 vs the cache-line floor");
  thr(bench::kRingpoolMpmc, bench::kBoostQueue, 8, 1, "MPMC ring used as SPSC, 8-byte items");
  rtt(bench::kRingpoolMpmc, bench::kBoostQueue, "MPMC round trip p50, 8-byte items");
}

void mpmc_comparisons(Report& r) {
  for (const auto& row : r.mpmc->rows) {
    r.comparisons.push_back(
        compare("mpmc",
                fmt::format("MPMC {} producer(s) + {} consumer(s), 8-byte items", row.producers,
                            row.consumers),
                {"ringpool-mpmc", row.ringpool_items_per_s, "items/s", row.cpus},
                {"boost-queue", row.boost_items_per_s, "items/s", row.cpus}, true));
  }
}

template <class Fn>
void run_section(Report& r, const char* name, Fn&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    r.omitted.push_back({name, std::string("the measurement failed: ") + e.what()});
  }
}

std::string plans_text(const TopologySummary& t) {
  std::string out;
  for (const auto& p : t.plans) {
    std::string cpus;
    for (const auto& c : p.worker_cpus) cpus += (cpus.empty() ? "" : " ") + c;
    out += fmt::format("  plan for {:>4} tasks: {:<10} {} workers ({}) on CPUs [{}]\n    {}\n",
                       p.tasks, p.mode, p.workers, p.policy, cpus, p.explain);
  }
  return out;
}

}  // namespace

TopologySummary summarize_topology(const topology::Machine& machine) {
  TopologySummary t;
  const topology::Usable usable = machine.usable();
  t.usable_cpus = usable.cpus.to_list();
  t.usable_cores = usable.cores;
  t.quota_cores = usable.quota_cores;
  t.reasons = usable.reasons;
  t.packages = machine.packages().size();
  t.numa_nodes = machine.numa_nodes().size();
  t.l3_groups = machine.l3_groups().size();
  t.cores = machine.cores().size();
  t.pus = machine.pus().size();
  const std::size_t n = std::max<std::size_t>(1, usable.cores);
  for (std::size_t tasks : {n, 4 * n}) {
    const topology::Plan plan = topology::plan(machine, tasks);
    PlanSummary p;
    p.tasks = plan.tasks;
    p.mode = std::string(topology::to_string(plan.mode));
    p.workers = plan.workers;
    p.policy = std::string(topology::to_string(plan.policy));
    for (const auto& cpus : plan.worker_cpus) p.worker_cpus.push_back(cpus.to_list());
    p.explain = plan.explain;
    t.plans.push_back(std::move(p));
  }
  return t;
}

CorePair recommended_pair(const topology::Machine& machine) {
  const std::vector<unsigned> cpus = machine.usable().cpus.to_vector();
  if (cpus.size() < 2) {
    throw ReportError(ReportErrc::invalid_argument,
                      fmt::format("the report needs two usable CPUs for its producer/consumer "
                                  "figures; this process may use only '{}'. Run it without a "
                                  "taskset/cpuset restriction",
                                  machine.usable().cpus.to_list()));
  }
  // Relations from closest to farthest, SMT siblings last (they share one core's pipeline).
  using topology::Relation;
  constexpr Relation kPreference[] = {Relation::same_l2, Relation::same_l3, Relation::same_package,
                                      Relation::cross_package, Relation::smt_siblings};
  for (Relation wanted : kPreference) {
    for (std::size_t i = 0; i < cpus.size(); ++i) {
      for (std::size_t j = i + 1; j < cpus.size(); ++j) {
        if (machine.relation(cpus[i], cpus[j]) != wanted) continue;
        CorePair p;
        p.a = cpus[i];
        p.b = cpus[j];
        p.relation = std::string(topology::to_string(wanted));
        p.why = wanted == Relation::smt_siblings
                    ? "only SMT siblings are usable: they share one physical core"
                    : "the closest usable pair on two different physical cores";
        return p;
      }
    }
  }
  throw ReportError(ReportErrc::invalid_argument, "no two distinct usable CPUs found");
}

ReportEstimate estimate_report(const ReportOptions& options) {
  return {kProgressUnits, budget(options, topology::Machine::live()).total()};
}

Report run_report(const ReportOptions& options, Progress& progress) {
  const auto started = std::chrono::steady_clock::now();
  const topology::Machine& machine = topology::Machine::live();
  Report r;
  r.machine = describe_machine();
  r.command = options.command;
  r.quick = options.quick;
  r.rounds = static_cast<unsigned>(default_rounds(options));
  r.topology = summarize_topology(machine);
  const CorePair pair = recommended_pair(machine);
  const Budget b = budget(options, machine);
  const double total = std::max(b.total(), 1e-9);
  double begin = 0.0;

  // Core-to-core latency between the usable CPUs (the first kReportC2cCpus of them).
  {
    Phase phase(progress, begin, b.c2c / total);
    run_section(r, "c2c", [&] {
      C2cOptions o;
      o.cpus = c2c_cpus(machine);
      o.rounds = r.rounds;
      o.round_trips = options.quick ? 2'000 : 10'000;
      o.warmup = options.quick ? 200 : 1'000;
      o.on_trial = [&](std::size_t done, std::size_t n, const std::string& what) {
        phase.at(static_cast<double>(done) / static_cast<double>(n), "c2c " + what);
      };
      r.c2c = measure_c2c(o);
    });
    phase.done();
    begin += b.c2c / total;
  }

  // Rings and their peers on the recommended pair (the bench kit's ring benchmark).
  {
    Phase phase(progress, begin, b.rings / total);
    run_section(r, "rings", [&] {
      bench::RingBenchOptions o;
      o.cpu_a = static_cast<int>(pair.a);
      o.cpu_b = static_cast<int>(pair.b);
      o.rounds = r.rounds;
      o.quick = options.quick;
      o.phase_ms = options.quick ? 0.0 : 25.0;
      o.transports = {std::string(bench::kRingpoolSpsc), std::string(bench::kRingpoolMpmc),
                      std::string(bench::kBoostSpsc),    std::string(bench::kBoostQueue),
                      std::string(bench::kPipe),         std::string(bench::kCachelinePingpong)};
      o.progress = [&](std::string_view what, std::size_t done, std::size_t n) {
        phase.at(static_cast<double>(done) / static_cast<double>(n), fmt::format("rings {}", what));
      };
      const auto rows = bench::run_ring_bench(o);
      RingSection s;
      s.pair = pair;
      s.rounds = r.rounds;
      for (const auto& row : rows) {
        s.rows.push_back({row.transport, static_cast<unsigned>(row.item_bytes),
                          static_cast<unsigned>(row.batch), row.items_per_s, row.rtt_ns_p50,
                          row.rtt_ns_p99});
      }
      r.rings = std::move(s);
      ring_comparisons(r);
    });
    phase.done();
    begin += b.rings / total;
  }

  // MPMC with P producers and C consumers, one process per core.
  {
    Phase phase(progress, begin, b.mpmc / total);
    run_section(r, "mpmc", [&] {
      MpmcScalingOptions o;
      o.cpus = compact_cpus(machine);
      o.rounds = r.rounds;
      o.warmup_rounds = 1;
      o.items_per_trial = options.quick ? 200'000 : 4'000'000;
      const std::size_t trials = default_splits(o.cpus.size()).size() * 2 * (o.rounds + 1);
      std::size_t started_trials = 0;
      o.on_trial = [&](const std::string& what) {
        phase.at(static_cast<double>(started_trials++) / static_cast<double>(trials), what);
      };
      r.mpmc = measure_mpmc_scaling(o);
      mpmc_comparisons(r);
    });
    phase.done();
    begin += b.mpmc / total;
  }

  // Pool dispatch next to Python multiprocessing.
  {
    Phase phase(progress, begin, b.pool / total);
    if (!pool_section_available()) {
      r.omitted.push_back({"pool", pool_section_unavailable_reason()});
    } else {
      run_section(r, "pool", [&] {
        phase.at(0.0, "pool dispatch and Python multiprocessing");
        r.pool = measure_pool_section(r.rounds, options.quick, pair.a, pair.b);
        add_pool_comparisons(r);
      });
    }
    phase.done();
  }

  progress.finish();
  r.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return r;
}

std::string format_machine_text(const MachineInfo& m) {
  return fmt::format(
      "ringpool {} bench report, {} UTC\nmachine: {}{}, {} online CPUs, {}\nbuilt with {} ({})\n",
      m.ringpool_version, m.date_utc, m.cpu_model,
      m.hypervisor.empty() ? "" : " (" + m.hypervisor + " guest)", m.online_cpus, m.kernel,
      m.compiler, m.build_type);
}

std::string format_topology_text(const TopologySummary& t, const CorePair& pair) {
  std::string out = fmt::format(
      "usable: CPUs {} = {} cores{} (machine: {} package(s), {} NUMA node(s), {} L3 group(s), "
      "{} cores, {} PUs)\n",
      t.usable_cpus, t.usable_cores,
      t.quota_cores ? fmt::format(", CPU quota {:.2f} cores", *t.quota_cores) : std::string(),
      t.packages, t.numa_nodes, t.l3_groups, t.cores, t.pus);
  for (const auto& reason : t.reasons) out += "  " + reason + "\n";
  out += plans_text(t);
  out += fmt::format("core pair for the headline figures: CPU {} -> CPU {} ({}: {})\n", pair.a,
                     pair.b, pair.relation, pair.why);
  return out;
}

std::string format_results_text(const Report& r) {
  std::string out;
  if (!r.comparisons.empty()) {
    out += fmt::format(
        "\nheadline: medians over {} interleaved rounds; ratio = ringpool / peer from the same "
        "run, 'better' > 1x means ringpool wins\n",
        r.rounds);
    out += fmt::format("  {:<46} {:>16}  {:<34} {:>8} {:>8}\n", "what (CPUs)", "ringpool", "peer",
                       "ratio", "better");
    for (const auto& c : r.comparisons) {
      out += fmt::format("  {:<46} {:>16}  {:<34} {:>8} {:>8}\n", c.what.substr(0, 46),
                         format_value(c.ours.value, c.ours.unit),
                         c.peer.system + " " + format_value(c.peer.value, c.peer.unit),
                         format_ratio(c.ratio), format_ratio(c.speedup));
    }
  }
  if (r.mpmc) {
    out += "\nMPMC throughput by producers (P) and consumers (C), one process per core:\n";
    out += fmt::format("  {:>3} {:>3} {:<12} {:>18} {:>18} {:>18} {:>18}\n", "P", "C", "CPUs",
                       "ringpool-mpmc", "per core", "boost-queue", "per core");
    for (const auto& row : r.mpmc->rows) {
      out += fmt::format("  {:>3} {:>3} {:<12} {:>18} {:>18} {:>18} {:>18}\n", row.producers,
                         row.consumers, row.cpus, format_rate(row.ringpool_items_per_s, "items/s"),
                         format_rate(row.ringpool_per_core(), "items/s"),
                         format_rate(row.boost_items_per_s, "items/s"),
                         format_rate(row.boost_per_core(), "items/s"));
    }
  }
  if (r.pool) {
    out += "\npool dispatch:\n";
    for (const auto& row : r.pool->rows) {
      out += fmt::format("  {:<24} {:<40} {:>16}\n", row.system, row.name,
                         format_value(row.value, row.unit));
    }
  }
  if (r.c2c) {
    const C2cPair* fast = r.c2c->fastest();
    const C2cPair* slow = r.c2c->slowest();
    if (fast && slow) {
      out += fmt::format(
          "\ncore-to-core one-way latency: fastest CPU {} <-> {} ({}) {}, slowest CPU {} <-> {} "
          "({}) {} (ringpool c2c for the full matrix)\n",
          fast->a, fast->b, fast->relation, format_ns(fast->one_way_ns_p50), slow->a, slow->b,
          slow->relation, format_ns(slow->one_way_ns_p50));
    }
  }
  for (const auto& o : r.omitted)
    out += fmt::format("\nnot measured: {}: {}\n", o.section, o.reason);
  out += fmt::format("\n(total {:.1f} s)\n", r.elapsed_s);
  return out;
}

}  // namespace ringpool::report
