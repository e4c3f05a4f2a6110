#pragma once
// The report model: everything `ringpool bench`, `ringpool c2c` and `ringpool tune`
// measured, as plain values. Writers (JSON, HTML, text) read it; measurements fill it.
// A section whose measurement is not available is left empty (std::nullopt) and named
// in Report::omitted with the reason; it is never filled with made-up numbers.
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace ringpool::report {

// Where and with what the figures were measured.
struct MachineInfo {
  std::string hostname;
  std::string cpu_model;     // /proc/cpuinfo "model name"
  std::string kernel;        // uname -sr
  unsigned online_cpus = 0;  // sysconf(_SC_NPROCESSORS_ONLN)
  std::string hypervisor;    // "KVM", ... or empty on bare metal (from /proc/cpuinfo flags +
                             // lscpu-like probe)
  std::string compiler;      // e.g. "GCC 12.2.0"
  std::string build_type;    // CMAKE_BUILD_TYPE the report library was built with
  std::string ringpool_version;
  std::string date_utc;  // ISO 8601, when the run started
};

// The worker plan `topology::plan` gives for one task count.
struct PlanSummary {
  std::size_t tasks = 0;
  std::string mode;  // "parallel" | "concurrent"
  std::size_t workers = 0;
  std::string policy;
  std::vector<std::string> worker_cpus;  // one CPU list per worker, e.g. "0"
  std::string explain;
};

// This machine's usable topology and the plans for N and 4 x N tasks.
struct TopologySummary {
  std::string usable_cpus;  // e.g. "0-1"
  std::size_t usable_cores = 0;
  std::optional<double> quota_cores;
  std::vector<std::string> reasons;  // why CPUs are (not) usable
  std::size_t packages = 0;
  std::size_t numa_nodes = 0;
  std::size_t l3_groups = 0;
  std::size_t cores = 0;
  std::size_t pus = 0;
  std::vector<PlanSummary> plans;
};

// Two CPUs a figure was measured on, with the topology relation between them.
struct CorePair {
  unsigned a = 0;
  unsigned b = 0;
  std::string relation;  // topology::Relation name, e.g. "same_l3"
  std::string why;       // why this pair was chosen
};

// One measured figure: a median over interleaved rounds.
struct Figure {
  std::string system;  // e.g. "ringpool-spsc", "boost-spsc_queue", "pipe", "python-multiprocessing"
  double value = 0.0;
  std::string unit;  // "items/s", "ns", "tasks/s", ...
  std::string cpus;  // where it ran, e.g. "0,1"
};

// A ringpool figure next to its peer from the same run. ratio = ours.value / peer.value
// exactly; speedup = ratio when higher is better, 1 / ratio when lower is better.
struct Comparison {
  std::string section;  // "rings", "mpmc", "pool"
  std::string what;     // e.g. "SPSC throughput, 8-byte items, one at a time"
  Figure ours;
  Figure peer;
  bool higher_is_better = true;
  double ratio = 0.0;
  double speedup = 0.0;
};
[[nodiscard]] Comparison compare(std::string section, std::string what, Figure ours, Figure peer,
                                 bool higher_is_better);

// One transport row of the ring benchmark (the kit's RingResult, copied).
struct RingRow {
  std::string transport;
  unsigned item_bytes = 0;
  unsigned batch = 1;
  double items_per_s = 0.0;
  std::optional<double> rtt_ns_p50;
  std::optional<double> rtt_ns_p99;
};

struct RingSection {
  CorePair pair;
  unsigned rounds = 0;
  std::vector<RingRow> rows;
};

// MPMC throughput with P producer and C consumer processes, each pinned to its own core.
struct MpmcRow {
  unsigned producers = 0;
  unsigned consumers = 0;
  std::string cpus;  // the CPUs used, producers first
  double ringpool_items_per_s = 0.0;
  double boost_items_per_s = 0.0;  // boost::lockfree::queue in shared memory, same P and C
  [[nodiscard]] unsigned cores() const { return producers + consumers; }
  [[nodiscard]] double ringpool_per_core() const { return ringpool_items_per_s / cores(); }
  [[nodiscard]] double boost_per_core() const { return boost_items_per_s / cores(); }
};

struct MpmcSection {
  unsigned rounds = 0;
  std::size_t item_bytes = 8;
  std::vector<MpmcRow> rows;
};

// Pool dispatch figures (from the pool benchmark) and Python's where present.
struct PoolRow {
  std::string system;  // "ringpool" | "python-multiprocessing"
  std::string name;    // the benchmark's case name
  double value = 0.0;
  std::string unit;
};

struct PoolSection {
  unsigned rounds = 0;
  std::vector<PoolRow> rows;
};

// Core-to-core latency: a cache line bounced between every pair of the given CPUs.
struct C2cPair {
  unsigned a = 0;
  unsigned b = 0;
  std::string relation;
  double one_way_ns_p50 = 0.0;  // median over rounds of each round's median
  double one_way_ns_p99 = 0.0;  // median over rounds of each round's p99
  double round_min_ns = 0.0;    // spread of the per-round medians: a vCPU migration shows here
  double round_max_ns = 0.0;
};

struct C2cMatrix {
  std::vector<unsigned> cpus;  // rows and columns, in the requested order
  unsigned rounds = 0;
  std::size_t round_trips_per_trial = 0;
  std::vector<C2cPair> pairs;  // one per unordered pair of distinct CPUs
  // The pair measured between cpus[i] and cpus[j] (either order); nullptr on the diagonal.
  [[nodiscard]] const C2cPair* find(unsigned a, unsigned b) const;
  [[nodiscard]] const C2cPair* fastest() const;
  [[nodiscard]] const C2cPair* slowest() const;
};

// `ringpool tune`: one candidate placement and what it measured.
struct TuneCandidate {
  std::string kind;      // "pair" (producer -> consumer) or "pool"
  std::string relation;  // topology relation of the pair, or the pool's policy
  std::string cpus;
  std::optional<double> rtt_ns_p50;
  std::optional<double> rtt_ns_p99;
  std::optional<double> items_per_s;  // pair throughput, or pool tasks/s
  std::string note;
};

struct TuneResult {
  unsigned rounds = 0;
  std::size_t workers = 0;
  std::vector<TuneCandidate> candidates;
  std::vector<std::string> notes;  // e.g. "only one relation exists here: same_l3"
  std::string recommended_policy;
  std::string recommended_cpus;  // for the list policy, else empty
  std::string recommendation;    // one sentence with the numbers behind it
};

struct Omitted {
  std::string section;
  std::string reason;
};

struct Report {
  MachineInfo machine;
  std::string command;  // the command line that produced it
  unsigned rounds = 0;
  bool quick = false;
  double elapsed_s = 0.0;
  std::optional<TopologySummary> topology;
  std::optional<RingSection> rings;
  std::optional<MpmcSection> mpmc;
  std::optional<PoolSection> pool;
  std::optional<C2cMatrix> c2c;
  std::vector<Comparison> comparisons;  // the headline: each ringpool figure vs its peer
  std::vector<Omitted> omitted;
};

}  // namespace ringpool::report
