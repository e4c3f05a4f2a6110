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
#include "ringpool/report/payload_section.hpp"
#include "ringpool/report/pool_section.hpp"
#include "ringpool/report/progress.hpp"
#include "ringpool/topology/topology.hpp"

namespace ringpool::report {
namespace {

std::size_t default_rounds(const ReportOptions& o) {
  return o.rounds != 0 ? o.rounds : (o.quick ? kQuickReportRounds : kDefaultReportRounds);
}

// The payload section in the report: 8 B to 16 MiB (the size of issue #9's targets) at no more
// than 3 rounds; 256 MiB stays in `ringpool bench payload` (Python's 256 MiB round trips took
// about three of the report's five minutes). With --quick, 1 KiB and 16 MiB with short trials.
PayloadSectionOptions payload_options(const ReportOptions& o) {
  constexpr std::size_t kOneMiB = std::size_t{1} << 20;
  PayloadSectionOptions p;
  p.rounds = std::min<std::size_t>(default_rounds(o), 3);
  p.quick = o.quick;
  if (o.quick) {
    p.sizes = {1024, 16 * kOneMiB};
  } else {
    p.sizes = {8, 1024, 64 * 1024, kOneMiB, 16 * kOneMiB};
  }
  return p;
}

std::vector<unsigned> c2c_cpus(const topology::Machine& machine) {
  std::vector<unsigned> cpus = machine.usable().cpus.to_vector();
  if (cpus.size() > kReportC2cCpus) cpus.resize(kReportC2cCpus);
  return cpus;
}

// One PU per physical core, closest first (the compact policy's order).
std::vector<unsigned> compact_cpus(const topology::Machine& machine) {
  return topology::policy_order(machine, topology::Placement{topology::Policy::compact, {}});
}

// The ring transports the report runs: every ringpool ring and its peers.
std::vector<std::string> report_transports() {
  return {std::string(bench::kRingpoolSpsc), std::string(bench::kRingpoolMpmc),
          std::string(bench::kBoostSpsc),    std::string(bench::kBoostQueue),
          std::string(bench::kPipe),         std::string(bench::kCachelinePingpong)};
}

const RingRow* find_row(const RingSection& s, std::string_view transport, unsigned bytes,
                        unsigned batch) {
  for (const auto& r : s.rows) {
    if (r.transport == transport && r.item_bytes == bytes && r.batch == batch) return &r;
  }
  return nullptr;
}

const PoolRow* find_pool_row(const PoolSection& s, std::string_view system, std::string_view name) {
  for (const auto& r : s.rows) {
    if (r.system == system && r.name == name) return &r;
  }
  return nullptr;
}

std::string pair_cpus(const CorePair& p) {
  return fmt::format("{},{}", p.a, p.b);
}

// ringpool's ring row against a peer's at the same size and batch: throughput, or the
// round trip p50 (8-byte items, one at a time).
std::optional<Comparison> ring_compare(const RingSection& s, std::string_view ours,
                                       std::string_view peer, unsigned bytes, unsigned batch,
                                       bool rtt, const std::string& what) {
  const RingRow* a = find_row(s, ours, bytes, batch);
  const RingRow* b = find_row(s, peer, bytes, batch);
  if (!a || !b) return std::nullopt;
  const std::string cpus = pair_cpus(s.pair);
  if (rtt) {
    if (!a->rtt_ns_p50 || !b->rtt_ns_p50) return std::nullopt;
    return compare("rings", what,
                   {std::string(ours), *a->rtt_ns_p50, "ns", cpus, a->rtt_ns_p50_spread},
                   {std::string(peer), *b->rtt_ns_p50, "ns", cpus, b->rtt_ns_p50_spread}, false);
  }
  if (a->items_per_s <= 0.0 || b->items_per_s <= 0.0) return std::nullopt;
  return compare("rings", what,
                 {std::string(ours), a->items_per_s, "items/s", cpus, a->items_per_s_spread},
                 {std::string(peer), b->items_per_s, "items/s", cpus, b->items_per_s_spread}, true);
}

// A ringpool pool case against a peer's case (Python's, or ringpool's own pipe yardstick).
std::optional<Comparison> pool_compare(const PoolSection& s, std::string_view our_case,
                                       std::string_view peer_system, std::string_view peer_case,
                                       bool higher_is_better, const std::string& what) {
  const PoolRow* a = find_pool_row(s, "ringpool", our_case);
  const PoolRow* b = find_pool_row(s, peer_system, peer_case);
  if (!a || !b || a->value <= 0.0 || b->value <= 0.0) return std::nullopt;
  // The OS yardsticks are ringpool rows: name them as the peers they are.
  const std::string peer_name = peer_case == "pipe_rtt_p50" ? std::string("pipe (same CPUs)")
                                : peer_case == "pthread_mutex_contended"
                                    ? std::string("pthread mutex (process-shared)")
                                    : std::string(peer_system);
  return compare("pool", what, {"ringpool", a->value, a->unit, "", a->spread},
                 {peer_name, b->value, b->unit, "", b->spread}, higher_is_better);
}

std::optional<Comparison> mpmc_compare(const MpmcRow& row) {
  if (row.ringpool_items_per_s <= 0.0 || row.boost_items_per_s <= 0.0) return std::nullopt;
  return compare(
      "mpmc",
      fmt::format("MPMC {} producer(s) + {} consumer(s), 8-byte items", row.producers,
                  row.consumers),
      {"ringpool-mpmc", row.ringpool_items_per_s, "items/s", row.cpus, row.ringpool_spread},
      {"boost-queue", row.boost_items_per_s, "items/s", row.cpus, row.boost_spread}, true);
}

void push(std::vector<Comparison>& out, std::optional<Comparison> c) {
  if (c) out.push_back(std::move(*c));
}

void ring_comparisons(Report& r) {
  const RingSection& s = *r.rings;
  using namespace bench;
  auto& out = r.comparisons;
  push(out, ring_compare(s, kRingpoolSpsc, kBoostSpsc, 8, 1, false,
                         "SPSC throughput, 8-byte items, one at a time"));
  push(out, ring_compare(s, kRingpoolSpsc, kBoostSpsc, 8, 32, false,
                         "SPSC throughput, 8-byte items, batches of 32"));
  push(out, ring_compare(s, kRingpoolSpsc, kBoostSpsc, 64, 1, false,
                         "SPSC throughput, 64-byte items, one at a time"));
  push(out,
       ring_compare(s, kRingpoolSpsc, kBoostSpsc, 8, 1, true, "SPSC round trip p50, 8-byte items"));
  push(out, ring_compare(s, kRingpoolSpsc, kPipe, 8, 1, true, "SPSC round trip p50 vs a pipe"));
  push(out, ring_compare(s, kRingpoolSpsc, kCachelinePingpong, 8, 1, true,
                         "SPSC round trip p50 vs the cache-line floor"));
  push(out, ring_compare(s, kRingpoolMpmc, kBoostQueue, 8, 1, false,
                         "MPMC ring used as SPSC, 8-byte items"));
  push(out, ring_compare(s, kRingpoolMpmc, kBoostQueue, 8, 1, true,
                         "MPMC round trip p50, 8-byte items"));
}

void mpmc_comparisons(Report& r) {
  for (const auto& row : r.mpmc->rows) push(r.comparisons, mpmc_compare(row));
}

void pool_comparisons(Report& r) {
  const PoolSection& s = *r.pool;
  const std::string python = "python-multiprocessing";
  auto& out = r.comparisons;
  push(out, pool_compare(s, "submit_get_rtt_spin_p50", python, "apply_async_get_rtt_p50", false,
                         "Pool submit→get round trip p50, spin mode"));
  push(out, pool_compare(s, "submit_get_rtt_block_p50", python, "apply_async_get_rtt_p50", false,
                         "Pool submit→get round trip p50, block mode"));
  push(out, pool_compare(s, "submit_get_rtt_block_p50", "ringpool", "pipe_rtt_p50", false,
                         "Pool submit→get p50 (block) vs a pipe round trip"));
  push(out, pool_compare(s, "map_default_chunksize", python, "map_default_chunksize", true,
                         "Pool map of no-op tasks, default chunksize"));
  push(out, pool_compare(s, "imap_unordered_chunksize_1", python, "imap_unordered_chunksize_1",
                         true, "Pool imap_unordered, chunksize 1"));
  push(out, pool_compare(s, "process_start_join", python, "process_start_join_fork", false,
                         "Process start + join (fork)"));
  push(out, pool_compare(s, "pipe_connection_rtt_p50", python, "pipe_connection_rtt_p50", false,
                         "Pipe send→recv round trip p50"));
  push(out, pool_compare(s, "pipe_connection_rtt_p50", "ringpool", "pipe_rtt_p50", false,
                         "Pipe send→recv round trip p50 vs a pipe(2) ping-pong"));
  push(out, pool_compare(s, "lock_contended", python, "lock_contended", false,
                         "Lock acquire/release, 2 processes contending"));
  push(out, pool_compare(s, "lock_contended", "ringpool", "pthread_mutex_contended", false,
                         "Lock acquire/release, 2 processes contending, vs a pthread mutex"));
}

// A target on the ratio ours / peer of a comparison (nullopt: not measured).
Target ratio_target(std::string name, std::string section, const char* relation, double threshold,
                    const std::optional<Comparison>& c) {
  Target t;
  t.name = std::move(name);
  t.section = std::move(section);
  t.relation = relation;
  t.threshold = threshold;
  t.unit = "x";
  if (c) {
    t.value = c->ratio;
    t.spread = c->ratio_spread;
  }
  evaluate(t);
  return t;
}

void compute_targets(Report& r) {
  using namespace bench;
  auto ring = [&](std::string_view ours, std::string_view peer, unsigned batch, bool rtt) {
    return r.rings ? ring_compare(*r.rings, ours, peer, 8, batch, rtt, "") : std::nullopt;
  };
  auto pool = [&](std::string_view our_case, std::string_view peer_system,
                  std::string_view peer_case, bool higher) {
    return r.pool ? pool_compare(*r.pool, our_case, peer_system, peer_case, higher, "")
                  : std::nullopt;
  };
  std::optional<Comparison> mpmc_1p1c;
  if (r.mpmc) {
    for (const auto& row : r.mpmc->rows) {
      if (row.producers == 1 && row.consumers == 1) mpmc_1p1c = mpmc_compare(row);
    }
  }
  const std::string python = "python-multiprocessing";
  auto& t = r.targets;
  t.push_back(
      ratio_target("SPSC throughput, 8-byte items one at a time ≥ 1.5× Boost.Lockfree "
                   "spsc_queue",
                   "rings", ">=", 1.5, ring(kRingpoolSpsc, kBoostSpsc, 1, false)));
  t.push_back(
      ratio_target("SPSC throughput, 8-byte items in batches of 32 ≥ 1.2× spsc_queue "
                   "in batches of 32",
                   "rings", ">=", 1.2, ring(kRingpoolSpsc, kBoostSpsc, 32, false)));
  t.push_back(ratio_target("SPSC round trip p50 ≤ 1.5× the cache-line ping-pong", "rings",
                           "<=", 1.5, ring(kRingpoolSpsc, kCachelinePingpong, 1, true)));
  t.push_back(ratio_target("MPMC 1 producer + 1 consumer throughput ≥ 2× Boost.Lockfree queue",
                           "mpmc", ">=", 2.0, mpmc_1p1c));
  t.push_back(ratio_target("Pool map (default chunksize) ≥ 10× Python's map", "pool", ">=", 10.0,
                           pool("map_default_chunksize", python, "map_default_chunksize", true)));
  t.push_back(
      ratio_target("Pool imap_unordered (chunksize 1) ≥ 100× Python's", "pool", ">=", 100.0,
                   pool("imap_unordered_chunksize_1", python, "imap_unordered_chunksize_1", true)));
  {
    Target spin;
    spin.name = "Pool submit().get() round trip p50, spin mode ≤ 1 µs";
    spin.section = "pool";
    spin.relation = "<=";
    spin.threshold = 1000.0;
    spin.unit = "ns";
    if (const PoolRow* row =
            r.pool ? find_pool_row(*r.pool, "ringpool", "submit_get_rtt_spin_p50") : nullptr) {
      spin.value = row->value;
      spin.spread = row->spread;
    }
    evaluate(spin);
    t.push_back(std::move(spin));
  }
  t.push_back(ratio_target(
      "Pool submit().get() round trip p50, block mode ≤ 1.5× a pipe round "
      "trip",
      "pool", "<=", 1.5, pool("submit_get_rtt_block_p50", "ringpool", "pipe_rtt_p50", false)));
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

std::string unstable_mark(bool unstable, double relative) {
  return unstable ? fmt::format("UNSTABLE ({})", format_percent(relative)) : std::string();
}

std::string opt_ns(const std::optional<double>& v) {
  return v ? format_ns(*v) : std::string("-");
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

std::vector<Progress::Section> report_plan(const ReportOptions& o,
                                           const topology::Machine& machine) {
  const auto rounds = static_cast<double>(default_rounds(o));
  const auto n = static_cast<double>(c2c_cpus(machine).size());
  const auto splits = static_cast<double>(default_splits(compact_cpus(machine).size()).size());
  // Seconds per trial or per round on the project's 2-vCPU development machine when it is
  // quiet (a full run took 49 s there); a busy machine takes longer, and the progress
  // display corrects the plan by how the finished sections went.
  const double c2c_trial = o.quick ? 0.004 : 0.010;  // a fork and the ping-pong of one pair
  const double ring_round = o.quick ? 0.25 : 1.5;    // every ring case once, one round
  const double mpmc_trial = o.quick ? 0.1 : 0.5;     // one split of one system
  const double pool_round = o.quick ? 1.0 : 5.0;     // ringpool's cases and the Python peer
  std::vector<Progress::Section> plan;
  plan.push_back({"core-to-core latency", n * (n - 1) / 2 * rounds * c2c_trial});
  plan.push_back({"rings and their peers", ring_round * (rounds + 1)});  // + 1 warm-up round
  plan.push_back({"MPMC scaling", splits * 2 * (rounds + 1) * mpmc_trial});
  plan.push_back({"pool dispatch", pool_section_available() ? pool_round * rounds : 0.0});
  double payload_seconds = 0.0;
  for (double s : payload_expected_seconds(payload_options(o))) payload_seconds += s;
  plan.push_back({"payload sizes", payload_section_available() ? payload_seconds : 0.0});
  return plan;
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

  // Core-to-core latency between the usable CPUs (the first kReportC2cCpus of them).
  progress.begin(kSectionC2c);
  run_section(r, "c2c", [&] {
    C2cOptions o;
    o.cpus = c2c_cpus(machine);
    o.rounds = r.rounds;
    o.round_trips = options.quick ? 2'000 : 10'000;
    o.warmup = options.quick ? 200 : 1'000;
    o.on_trial = [&](std::size_t done, std::size_t n, const std::string& what) {
      progress.update(static_cast<double>(done) / static_cast<double>(n), "c2c " + what);
    };
    r.c2c = measure_c2c(o);
  });

  // Rings and their peers on the recommended pair (the bench kit's ring benchmark).
  progress.begin(kSectionRings);
  run_section(r, "rings", [&] {
    bench::RingBenchOptions o;
    o.cpu_a = static_cast<int>(pair.a);
    o.cpu_b = static_cast<int>(pair.b);
    o.rounds = r.rounds;
    o.quick = options.quick;
    o.phase_ms = options.quick ? 0.0 : 25.0;
    o.transports = report_transports();
    o.progress = [&](std::string_view what, std::size_t done, std::size_t n) {
      progress.update(static_cast<double>(done) / static_cast<double>(n),
                      fmt::format("rings {}", what));
    };
    const auto rows = bench::run_ring_bench(o);
    RingSection s;
    s.pair = pair;
    s.rounds = r.rounds;
    for (const auto& row : rows) {
      RingRow out;
      out.transport = row.transport;
      out.item_bytes = static_cast<unsigned>(row.item_bytes);
      out.batch = static_cast<unsigned>(row.batch);
      out.items_per_s = row.items_per_s;
      out.rtt_ns_p50 = row.rtt_ns_p50;
      out.rtt_ns_p99 = row.rtt_ns_p99;
      out.items_per_s_spread = spread_over_rounds(row.items_per_s_rounds);
      out.rtt_ns_p50_spread = spread_over_rounds(row.rtt_ns_p50_rounds);
      s.rows.push_back(std::move(out));
    }
    r.rings = std::move(s);
    ring_comparisons(r);
  });

  // MPMC with P producers and C consumers, one process per core.
  progress.begin(kSectionMpmc);
  run_section(r, "mpmc", [&] {
    MpmcScalingOptions o;
    o.cpus = compact_cpus(machine);
    o.rounds = r.rounds;
    o.warmup_rounds = 1;
    o.items_per_trial = options.quick ? 200'000 : 4'000'000;
    const std::size_t trials = default_splits(o.cpus.size()).size() * 2 * (o.rounds + 1);
    std::size_t started_trials = 0;
    o.on_trial = [&](const std::string& what) {
      progress.update(static_cast<double>(started_trials++) / static_cast<double>(trials), what);
    };
    r.mpmc = measure_mpmc_scaling(o);
    mpmc_comparisons(r);
  });

  // Pool dispatch next to Python multiprocessing.
  if (!pool_section_available()) {
    r.omitted.push_back({"pool", pool_section_unavailable_reason()});
  } else {
    progress.begin(kSectionPool);
    run_section(r, "pool", [&] {
      progress.update(0.0, "pool dispatch and Python multiprocessing");
      r.pool = measure_pool_section(r.rounds, options.quick, pair.a, pair.b);
      pool_comparisons(r);
    });
  }
  // Payloads of 8 B to 16 MiB next to Python and memcpy (1 KiB and 16 MiB with --quick).
  if (!payload_section_available()) {
    r.omitted.push_back({"payload", payload_section_unavailable_reason()});
  } else {
    progress.begin(kSectionPayload);
    run_section(r, "payload", [&] {
      PayloadSectionOptions o = payload_options(options);
      o.parent_cpu = pair.a;
      o.worker_cpu = pair.b;
      const std::size_t sizes = payload_sizes(o).size();
      o.progress = [&](std::size_t size, std::size_t trial, std::size_t trials,
                       std::string_view what) {
        const double done =
            static_cast<double>(size) +
            static_cast<double>(trial) / static_cast<double>(std::max<std::size_t>(trials, 1));
        progress.update(done / static_cast<double>(sizes), fmt::format("payload {}", what));
      };
      r.payload = measure_payload_section(o);
    });
  }
  compute_targets(r);
  for (Target& t : payload_targets(r.payload ? &*r.payload : nullptr))
    r.targets.push_back(std::move(t));

  progress.finish();
  r.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return r;
}

std::string format_machine_text(const MachineInfo& m) {
  std::string cpu = m.cpu_model.empty() ? std::string("unknown CPU") : m.cpu_model;
  if (!m.cpu_vendor.empty()) cpu += ", vendor " + m.cpu_vendor;
  if (!m.cpu_family_model.empty()) cpu += ", " + m.cpu_family_model;
  if (!m.cpu_brand.empty() && m.cpu_brand != m.cpu_model)
    cpu += ", CPUID brand \"" + m.cpu_brand + "\"";
  const std::string hypervisor = m.hypervisor.empty()
                                     ? std::string("none seen (bare metal?)")
                                     : m.hypervisor + " (from " + m.hypervisor_source + ")";
  return fmt::format(
      "ringpool {} bench report, {} UTC\ncpu: {}\nhypervisor: {}\nmachine: {} online CPUs, {}\n"
      "built with {} ({})\n",
      m.ringpool_version, m.date_utc, cpu, hypervisor, m.online_cpus, m.kernel, m.compiler,
      m.build_type);
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
  std::size_t unstable = 0;
  if (!r.comparisons.empty()) {
    out += fmt::format(
        "\nheadline: ringpool next to its peer in the same {} interleaved rounds; medians, and "
        "p25-p75 of the per-round ratios\n",
        r.rounds);
    std::vector<std::vector<std::string>> rows;
    for (const auto& c : r.comparisons) {
      unstable += c.unstable() ? 1 : 0;
      rows.push_back({c.what, c.ours.cpus, format_value(c.ours.value, c.ours.unit),
                      display_name(c.peer.system) + " " + format_value(c.peer.value, c.peer.unit),
                      verdict(c), verdict_spread(c),
                      unstable_mark(c.unstable(), c.ratio_spread.relative(c.ratio))});
    }
    out += render_text_table({{"what"},
                              {"CPUs"},
                              {"ringpool", true},
                              {"peer"},
                              {"ringpool is", true},
                              {"p25-p75", true},
                              {""}},
                             rows);
  }
  if (!r.targets.empty()) {
    out +=
        "\ntargets: met only when the median and the whole p25-p75 range of the per-round "
        "ratios meet them\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& t : r.targets) {
      std::string status;
      switch (t.status) {
        case Target::Status::met:
          status = "[met]";
          break;
        case Target::Status::spread_crosses:
          status = "[NOT MET: the p25-p75 range crosses it]";
          break;
        case Target::Status::missed:
          status = "[MISSED]";
          break;
        case Target::Status::not_measured:
          status = "[not measured]";
          break;
      }
      rows.push_back({status, t.name, t.value ? format_value(*t.value, t.unit) : "-",
                      format_spread(t.spread, t.unit)});
    }
    out += render_text_table({{"status"}, {"target"}, {"measured", true}, {"p25-p75", true}}, rows);
  }
  if (r.rings) {
    const RingSection& s = *r.rings;
    out += fmt::format("\nrings, CPU {} -> CPU {} ({}): medians and p25-p75 over {} rounds\n",
                       s.pair.a, s.pair.b, s.pair.relation, s.rounds);
    std::vector<std::vector<std::string>> rows;
    for (const auto& row : s.rows) {
      unstable += row.unstable() ? 1 : 0;
      const double rel =
          std::max(row.items_per_s_spread.relative(row.items_per_s),
                   row.rtt_ns_p50 ? row.rtt_ns_p50_spread.relative(*row.rtt_ns_p50) : 0.0);
      rows.push_back({display_name(row.transport), fmt::format("{} B", row.item_bytes),
                      std::to_string(row.batch), format_rate(row.items_per_s, "items/s"),
                      format_spread(row.items_per_s_spread, "items/s"), opt_ns(row.rtt_ns_p50),
                      format_spread(row.rtt_ns_p50_spread, "ns"), opt_ns(row.rtt_ns_p99),
                      unstable_mark(row.unstable(), rel)});
    }
    out += render_text_table({{"transport"},
                              {"item", true},
                              {"batch", true},
                              {"throughput", true},
                              {"p25-p75", true},
                              {"round trip p50", true},
                              {"p25-p75", true},
                              {"p99", true},
                              {""}},
                             rows);
  }
  if (r.mpmc) {
    out += fmt::format(
        "\nMPMC throughput by producers (P) and consumers (C), one process per core; medians and "
        "p25-p75 over {} rounds:\n",
        r.mpmc->rounds);
    std::vector<std::vector<std::string>> rows;
    for (const auto& row : r.mpmc->rows) {
      unstable += row.unstable() ? 1 : 0;
      const double rel = std::max(row.ringpool_spread.relative(row.ringpool_items_per_s),
                                  row.boost_spread.relative(row.boost_items_per_s));
      rows.push_back({std::to_string(row.producers), std::to_string(row.consumers), row.cpus,
                      format_rate(row.ringpool_items_per_s, "items/s"),
                      format_spread(row.ringpool_spread, "items/s"),
                      format_rate(row.ringpool_per_core(), "items/s"),
                      format_rate(row.boost_items_per_s, "items/s"),
                      format_spread(row.boost_spread, "items/s"),
                      format_rate(row.boost_per_core(), "items/s"),
                      unstable_mark(row.unstable(), rel)});
    }
    out += render_text_table({{"P", true},
                              {"C", true},
                              {"CPUs"},
                              {"ringpool MPMC ring", true},
                              {"p25-p75", true},
                              {"per core", true},
                              {"Boost.Lockfree queue", true},
                              {"p25-p75", true},
                              {"per core", true},
                              {""}},
                             rows);
  }
  if (r.pool) {
    out += fmt::format("\npool dispatch: medians and p25-p75 over {} rounds\n", r.pool->rounds);
    std::vector<std::vector<std::string>> rows;
    for (const auto& row : r.pool->rows) {
      unstable += row.unstable() ? 1 : 0;
      rows.push_back({display_name(row.system), row.label, format_value(row.value, row.unit),
                      format_spread(row.spread, row.unit),
                      unstable_mark(row.unstable(), row.spread.relative(row.value))});
    }
    out +=
        render_text_table({{"system"}, {"case"}, {"value", true}, {"p25-p75", true}, {""}}, rows);
  }
  if (r.payload) {
    for (const auto& row : r.payload->rows) unstable += row.unstable() ? 1 : 0;
    out += format_payload_text(*r.payload, false);
  }
  if (r.c2c) {
    const C2cPair* fast = r.c2c->fastest();
    const C2cPair* slow = r.c2c->slowest();
    for (const auto& p : r.c2c->pairs) unstable += p.unstable() ? 1 : 0;
    if (fast && slow) {
      auto pair_text = [](const C2cPair& p) {
        return fmt::format("CPU {} <-> {} ({}) {} [p25-p75 {}]{}", p.a, p.b, p.relation,
                           format_ns(p.one_way_ns_p50),
                           format_spread(p.one_way_ns_p50_spread, "ns"),
                           p.unstable() ? " UNSTABLE" : "");
      };
      out += fmt::format(
          "\ncore-to-core one-way latency: fastest {}, slowest {} (ringpool c2c for the full "
          "matrix)\n",
          pair_text(*fast), pair_text(*slow));
    }
  }
  if (unstable != 0) {
    out += fmt::format(
        "\n{} row(s) marked UNSTABLE: their rounds spread (p25-p75) over more than {} of the "
        "median, so the median alone is not to be trusted; re-run on a quieter machine or with "
        "more --rounds\n",
        unstable, format_percent(kUnstableSpread));
  }
  for (const auto& o : r.omitted)
    out += fmt::format("\nnot measured: {}: {}\n", o.section, o.reason);
  out += fmt::format("\n(total {:.1f} s)\n", r.elapsed_s);
  return out;
}

}  // namespace ringpool::report
