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

// A figure is unstable when the spread of its per-round values (p75 - p25) exceeds this
// share of its median: the rounds disagree too much for the median to be trusted alone.
inline constexpr double kUnstableSpread = 0.25;

// How a figure measured once per round varied: its per-round values (in round order, so two
// figures of the same rounds can be divided round by round) and their quartiles.
struct Spread {
  std::vector<double> rounds;
  double p25 = 0.0;
  double p75 = 0.0;
  [[nodiscard]] bool empty() const noexcept { return rounds.empty(); }
  // (p75 - p25) / |median|; 0 without rounds or with a zero median.
  [[nodiscard]] double relative(double median) const noexcept;
  [[nodiscard]] bool unstable(double median) const noexcept {
    return relative(median) > kUnstableSpread;
  }
};
// The quartiles of `per_round` (linear interpolation, as bench::percentile); empty in, empty out.
[[nodiscard]] Spread spread_over_rounds(std::vector<double> per_round);

// Where and with what the figures were measured.
struct MachineInfo {
  std::string hostname;
  std::string cpu_model;         // /proc/cpuinfo "model name" (else the CPUID brand string)
  std::string cpu_vendor;        // "AMD", "Intel", ... (/proc/cpuinfo vendor_id or CPUID leaf 0)
  std::string cpu_brand;         // the CPUID brand string (leaf 0x80000002..4), x86 only; a
                                 // hypervisor may set it apart from the model name the kernel shows
  std::string cpu_family_model;  // "family 26 model 2 stepping 1" (x86) or ARM implementer/part
  std::string kernel;            // uname -sr
  unsigned online_cpus = 0;      // sysconf(_SC_NPROCESSORS_ONLN)
  // "KVM", "bhyve", "Hyper-V", ... from the CPUID hypervisor leaf, /sys/hypervisor/type or
  // the "hypervisor" flag of /proc/cpuinfo; empty when none is seen (bare metal).
  std::string hypervisor;
  std::string hypervisor_source;  // where `hypervisor` was read: "cpuid", "/sys/hypervisor", ...
  std::string compiler;           // e.g. "GCC 12.2.0"
  std::string build_type;         // CMAKE_BUILD_TYPE the report library was built with
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

// One measured figure: a median over interleaved rounds, and its spread over them.
struct Figure {
  std::string system;  // e.g. "ringpool-spsc", "boost-spsc_queue", "pipe", "python-multiprocessing"
  double value = 0.0;
  std::string unit;  // "items/s", "ns", "tasks/s", ...
  std::string cpus;  // where it ran, e.g. "0,1"
  Spread spread;     // the per-round values behind `value`
};

// A ringpool figure next to its peer from the same run. ratio = ours.value / peer.value
// exactly; speedup = ratio when higher is better, 1 / ratio when lower is better. The
// spreads are those of the per-round ratios (ours / peer in the same round), present when
// both figures carry the same number of rounds.
struct Comparison {
  std::string section;  // "rings", "mpmc", "pool"
  std::string what;     // e.g. "SPSC throughput, 8-byte items, one at a time"
  Figure ours;
  Figure peer;
  bool higher_is_better = true;
  double ratio = 0.0;
  double speedup = 0.0;
  Spread ratio_spread;
  Spread speedup_spread;
  [[nodiscard]] bool unstable() const noexcept { return ratio_spread.unstable(ratio); }
};
[[nodiscard]] Comparison compare(std::string section, std::string what, Figure ours, Figure peer,
                                 bool higher_is_better);

// A performance target the project holds itself to, checked on one run. It is met only when
// the median and the whole interquartile range (p25-p75 of the per-round ratios, or of the
// per-round values for an absolute target) are on the right side of the threshold.
struct Target {
  std::string name;      // e.g. "SPSC 8-byte single-item throughput >= 1.5x Boost spsc_queue"
  std::string section;   // "rings", "mpmc", "pool"
  std::string relation;  // ">=" or "<="
  double threshold = 0.0;
  std::string unit;             // "x" for a ratio ours / peer, else the figure's unit ("ns")
  std::optional<double> value;  // the median ratio (or figure); nullopt when not measured
  Spread spread;
  enum class Status { met, spread_crosses, missed, not_measured };
  Status status = Status::not_measured;
  [[nodiscard]] bool met() const noexcept { return status == Status::met; }
};
// Fills status from value, spread, relation and threshold (see Target).
void evaluate(Target& target);
[[nodiscard]] const char* to_string(Target::Status status) noexcept;

// One transport row of the ring benchmark (the kit's RingResult, copied).
struct RingRow {
  std::string transport;
  unsigned item_bytes = 0;
  unsigned batch = 1;
  double items_per_s = 0.0;
  std::optional<double> rtt_ns_p50;
  std::optional<double> rtt_ns_p99;
  Spread items_per_s_spread;
  Spread rtt_ns_p50_spread;  // empty when there is no round trip (batch rows)
  [[nodiscard]] bool unstable() const noexcept {
    return items_per_s_spread.unstable(items_per_s) ||
           (rtt_ns_p50 && rtt_ns_p50_spread.unstable(*rtt_ns_p50));
  }
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
  Spread ringpool_spread;
  Spread boost_spread;
  [[nodiscard]] bool unstable() const noexcept {
    return ringpool_spread.unstable(ringpool_items_per_s) ||
           boost_spread.unstable(boost_items_per_s);
  }
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
  std::string name;    // the benchmark's case name, e.g. "submit_get_rtt_spin_p50"
  std::string label;   // the same for readers, e.g. "submit().get() round trip p50, spin mode"
  double value = 0.0;
  std::string unit;
  Spread spread;
  [[nodiscard]] bool unstable() const noexcept { return spread.unstable(value); }
};

struct PoolSection {
  unsigned rounds = 0;
  std::vector<PoolRow> rows;
};

// One case of the payload benchmark at one size (`ringpool bench payload`): ringpool's round
// trip or stream, Python's, or the memcpy floor. A case that could not run has no value and
// says why; it is never filled in.
struct PayloadRow {
  std::string system;  // "ringpool" | "python-multiprocessing" | "memcpy"
  std::string name;    // the benchmark's case name, e.g. "submit_get_echo"
  std::string label;   // the same for readers
  std::size_t bytes = 0;
  std::optional<double> value;  // median over rounds
  std::string unit;             // "ns" | "bytes/s"
  Spread spread;
  std::string missing;       // without a value: the error it gave
  bool unsupported = false;  // without a value: the build refused the size (PayloadTooLarge)
  [[nodiscard]] bool unstable() const noexcept { return value && spread.unstable(*value); }
};

struct PayloadSection {
  unsigned rounds = 0;  // per size; sizes from 16 MiB up run fewer (see large_rounds)
  unsigned large_rounds = 0;
  std::string cpus;  // "A,B": caller and memcpy on A, worker and consumer on B
  std::string wait;  // the pool's wait mode, "spin" | "block"
  bool python = false;
  std::string python_note;  // why Python did not run (empty when it did)
  std::vector<std::size_t> sizes;
  std::vector<PayloadRow> rows;
  // ringpool against Python and the memcpy floor, size by size (section "payload"; `what`
  // starts with the size).
  std::vector<Comparison> comparisons;
};

// Core-to-core latency: a cache line bounced between every pair of the given CPUs.
struct C2cPair {
  unsigned a = 0;
  unsigned b = 0;
  std::string relation;
  double one_way_ns_p50 = 0.0;  // median over rounds of each round's median
  double one_way_ns_p99 = 0.0;  // median over rounds of each round's p99
  double round_min_ns = 0.0;    // range of the per-round medians: a vCPU migration shows here
  double round_max_ns = 0.0;
  Spread one_way_ns_p50_spread;  // quartiles of the per-round medians
  [[nodiscard]] bool unstable() const noexcept {
    return one_way_ns_p50_spread.unstable(one_way_ns_p50);
  }
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
  std::optional<PayloadSection> payload;
  std::optional<C2cMatrix> c2c;
  std::vector<Comparison> comparisons;  // the headline: each ringpool figure vs its peer
  std::vector<Target> targets;          // the project's targets, checked on this run
  std::vector<Omitted> omitted;
};

}  // namespace ringpool::report
