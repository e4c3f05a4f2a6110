// `ringpool bench pool`: Pool round trips (spin / block), map and imap_unordered
// throughput, Process start + join, a pipe round trip as the block-mode yardstick, the
// Pipe<T> round trip and a contended Lock with their OS peers, and Python's multiprocessing
// on the same machine, interleaved over rounds.
#include "ringpool/bench/pool_bench.hpp"

#include <fmt/format.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <numeric>
#include <optional>
#include <ranges>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "ringpool/bench/child.hpp"
#include "ringpool/bench/clock.hpp"
#include "ringpool/bench/errors.hpp"
#include "ringpool/bench/pin.hpp"
#include "ringpool/bench/rounds.hpp"
#include "ringpool/bench/spin.hpp"
#include "ringpool/bench/stats.hpp"
#include "ringpool/pool/pipe.hpp"
#include "ringpool/pool/pool.hpp"
#include "ringpool/pool/process.hpp"
#include "ringpool/pool/sync.hpp"
#include "ringpool/topology/topology.hpp"

#ifndef RINGPOOL_POOL_BENCH_SCRIPT
#define RINGPOOL_POOL_BENCH_SCRIPT "python_mp_bench.py"
#endif

namespace ringpool::bench {

namespace {

int noop(int x) {
  return x;
}
void noop_process() {}

using Figures = std::vector<std::pair<std::string, double>>;

struct Sizes {
  std::size_t rtt = 20000;
  std::size_t map = 1000000;
  std::size_t imap = 200000;
  std::size_t processes = 20;
  std::size_t lock_ops = 100000;  // acquire/release pairs per process
};

// Pins the caller to `cpu` when allowed (restored on scope exit).
class MaybePinned {
 public:
  explicit MaybePinned(int cpu) {
    try {
      pin_to_cpu(cpu);
    } catch (const BenchError&) {
      // Not allowed here (e.g. under taskset): measure unpinned.
    }
  }

 private:
  AffinityGuard guard_;
};

Figures round_trip(pool::WaitMode mode, const PoolBenchOptions& o, const Sizes& s) {
  pool::PoolOptions po;
  po.workers = 1;
  po.wait = mode;
  po.placement = topology::Placement{topology::Policy::list,
                                     topology::CpuSet{static_cast<unsigned>(o.worker_cpu)}};
  pool::Pool p(po);
  // Pinned after the pool exists: the pool reads the usable CPUs from the caller's mask.
  MaybePinned pin(o.parent_cpu);
  const Clock clock = Clock::best();
  for (std::size_t i = 0; i < s.rtt / 10 + 100; ++i) (void)p.submit(noop, 1).get();
  std::vector<double> ns;
  ns.reserve(s.rtt);
  for (std::size_t i = 0; i < s.rtt; ++i) {
    const std::uint64_t t0 = clock.start();
    const int r = p.submit(noop, static_cast<int>(i)).get();
    const std::uint64_t t1 = clock.stop();
    do_not_optimize(r);
    ns.push_back(clock.to_ns(t1 - t0));
  }
  const Summary sum = summarize(ns);
  const std::string name = mode == pool::WaitMode::spin ? "spin" : "block";
  return {{"submit_get_rtt_" + name + "_p50", sum.p50},
          {"submit_get_rtt_" + name + "_p99", sum.p99}};
}

Figures pipe_round_trip(const PoolBenchOptions& o, const Sizes& s) {
  MaybePinned pin(o.parent_cpu);
  int ping[2];
  int pong[2];
  if (pipe(ping) != 0 || pipe(pong) != 0) {
    throw BenchError(BenchErrc::system_error, "pipe() failed for the pipe round trip");
  }
  const std::size_t total = s.rtt / 10 + 100 + s.rtt;
  auto child = ChildProcess::spawn(o.worker_cpu, [&] {
    char c = 0;
    for (std::size_t i = 0; i < total; ++i) {
      if (read(ping[0], &c, 1) != 1 || write(pong[1], &c, 1) != 1) break;
    }
  });
  const Clock clock = Clock::best();
  std::vector<double> ns;
  ns.reserve(s.rtt);
  char c = 'x';
  for (std::size_t i = 0; i < total; ++i) {
    const std::uint64_t t0 = clock.start();
    if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1) break;
    const std::uint64_t t1 = clock.stop();
    if (i >= total - s.rtt) ns.push_back(clock.to_ns(t1 - t0));
  }
  child.join();
  for (int fd : {ping[0], ping[1], pong[0], pong[1]}) close(fd);
  if (ns.empty()) throw BenchError(BenchErrc::child_failed, "the pipe round trip did not run");
  return {{"pipe_rtt_p50", median(ns)}};
}

// Pipe<int> (Python's Pipe()): the caller sends i and receives it back from a child that
// echoes; default PipeOptions (futex waits), as Python's and the OS pipe's blocking reads.
Figures connection_round_trip(const PoolBenchOptions& o, const Sizes& s) {
  MaybePinned pin(o.parent_cpu);
  auto ends = pool::Pipe<int>();
  auto& ours = ends.first;
  auto& theirs = ends.second;
  const std::size_t warm = s.rtt / 10 + 100;
  const std::size_t total = warm + s.rtt;
  auto child = ChildProcess::spawn(o.worker_cpu, [&theirs, total] {
    for (std::size_t i = 0; i < total; ++i) theirs.send(theirs.recv());
  });
  const Clock clock = Clock::best();
  std::vector<double> ns;
  ns.reserve(s.rtt);
  for (std::size_t i = 0; i < total; ++i) {
    const int sent = static_cast<int>(i);
    const std::uint64_t t0 = clock.start();
    ours.send(sent);
    const int back = ours.recv();
    const std::uint64_t t1 = clock.stop();
    if (back != sent) {
      throw BenchError(BenchErrc::child_failed, "the Pipe round trip returned another value");
    }
    if (i >= warm) ns.push_back(clock.to_ns(t1 - t0));
  }
  child.join();
  const Summary sum = summarize(ns);
  return {{"pipe_connection_rtt_p50", sum.p50}, {"pipe_connection_rtt_p99", sum.p99}};
}

// Shared by the two processes of a contended-lock trial: a start line and the counter the
// lock under test guards. Plain data in an anonymous shared mapping.
struct ContendedShared {
  std::atomic<std::uint32_t> ready{0};
  std::atomic<std::uint32_t> go{0};
  std::int64_t counter = 0;  // written only under the lock under test
  pthread_mutex_t mutex;     // the pthread peer's lock (unused by the ringpool trial)
};
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

// Contended: the caller (parent_cpu) and a child (worker_cpu) each take the lock, add one
// to the shared counter and release it, `n` times, started together. Returns ns per
// acquire/release pair: wall time from the start signal until both finished, / (2 n). Who
// gets the lock next is up to the lock (no enforced alternation), as in real contention.
template <class Acquire, class Release>
double contended_ns_per_op(const PoolBenchOptions& o, std::size_t n, ContendedShared& shared,
                           Acquire acquire, Release release) {
  MaybePinned pin(o.parent_cpu);
  constexpr auto kStartLimit = std::chrono::seconds(30);
  auto loop = [&shared, n, &acquire, &release] {
    for (std::size_t i = 0; i < n; ++i) {
      acquire();
      ++shared.counter;
      release();
    }
  };
  auto child = ChildProcess::spawn(o.worker_cpu, [&] {
    // release: pairs with the acquire load of `ready` in the parent below.
    shared.ready.store(1, std::memory_order_release);
    // acquire: pairs with the release store of `go` in the parent.
    if (!spin_until([&] { return shared.go.load(std::memory_order_acquire) == 1; }, kStartLimit)) {
      throw BenchError(BenchErrc::child_timeout, "the contended-lock child never got its start");
    }
    loop();
  });
  // acquire: pairs with the release store of `ready` in the child.
  if (!spin_until([&] { return shared.ready.load(std::memory_order_acquire) == 1; }, kStartLimit)) {
    child.join();  // throws the child's failure, or kills it at its timeout
    throw BenchError(BenchErrc::child_failed, "the contended-lock child did not start");
  }
  Stopwatch sw;
  // release: pairs with the acquire load of `go` in the child.
  shared.go.store(1, std::memory_order_release);
  loop();
  child.join();
  const double secs = sw.seconds();
  // The child's increments are visible: join() waited for it to exit (waitpid).
  if (shared.counter != static_cast<std::int64_t>(2 * n)) {
    throw BenchError(BenchErrc::child_failed,
                     fmt::format("the contended lock let increments race: counter {} after {} "
                                 "locked increments",
                                 shared.counter, 2 * n));
  }
  return secs * 1e9 / static_cast<double>(2 * n);
}

Figures lock_contended(const PoolBenchOptions& o, const Sizes& s) {
  pool::Lock lock;
  SharedObject<ContendedShared> shared;
  return {{"lock_contended",
           contended_ns_per_op(
               o, s.lock_ops, *shared, [&lock] { lock.acquire(); }, [&lock] { lock.release(); })}};
}

// The peer: a PTHREAD_PROCESS_SHARED mutex (glibc: a futex word) in the same shared mapping.
Figures pthread_mutex_contended(const PoolBenchOptions& o, const Sizes& s) {
  SharedObject<ContendedShared> shared;
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  const int shared_ok = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  const int init_ok = shared_ok == 0 ? pthread_mutex_init(&shared->mutex, &attr) : shared_ok;
  pthread_mutexattr_destroy(&attr);
  if (init_ok != 0) {
    throw BenchError(
        BenchErrc::system_error,
        "pthread_mutex_init(PTHREAD_PROCESS_SHARED) failed: errno " + std::to_string(init_ok));
  }
  pthread_mutex_t* m = &shared->mutex;
  double ns = 0;
  try {
    ns = contended_ns_per_op(
        o, s.lock_ops, *shared, [m] { pthread_mutex_lock(m); }, [m] { pthread_mutex_unlock(m); });
  } catch (...) {
    pthread_mutex_destroy(m);
    throw;
  }
  pthread_mutex_destroy(m);
  return {{"pthread_mutex_contended", ns}};
}

Figures map_throughput(const std::vector<int>& input) {
  pool::Pool p;  // defaults, as Python's Pool(): one worker per usable core
  (void)p.map(noop, std::vector<int>(1000, 1));
  Stopwatch sw;
  const std::vector<int> out = p.map(noop, input);
  const double secs = sw.seconds();
  if (out.size() != input.size() || out.back() != input.back()) {
    throw BenchError(BenchErrc::child_failed, "map returned wrong results");
  }
  return {{"map_default_chunksize", static_cast<double>(input.size()) / secs}};
}

Figures imap_unordered_throughput(std::size_t n) {
  pool::Pool p;
  (void)p.map(noop, std::vector<int>(1000, 1));
  Stopwatch sw;
  std::size_t count = 0;
  for (int v : p.imap_unordered(noop, std::views::iota(0, static_cast<int>(n)), 1)) {
    do_not_optimize(v);
    ++count;
  }
  const double secs = sw.seconds();
  if (count != n) throw BenchError(BenchErrc::child_failed, "imap_unordered lost results");
  return {{"imap_unordered_chunksize_1", static_cast<double>(n) / secs}};
}

Figures process_start_join(const Sizes& s) {
  std::vector<double> ms;
  for (std::size_t i = 0; i < s.processes; ++i) {
    Stopwatch sw;
    pool::Process proc(noop_process);
    proc.start();
    proc.join();
    ms.push_back(sw.seconds() * 1e3);
  }
  return {{"process_start_join", median(ms)}};
}

std::string python_script(const PoolBenchOptions& o) {
  if (!o.python_script.empty()) return o.python_script;
  return RINGPOOL_POOL_BENCH_SCRIPT;
}

bool python_available(const PoolBenchOptions& o) {
  if (!o.python) return false;
  const std::string cmd = o.python_exe + " -c 'import multiprocessing' >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0 && std::filesystem::exists(python_script(o));
}

Figures python_trial(const PoolBenchOptions& o) {
  const std::string cmd = o.python_exe + " '" + python_script(o) + "'" +
                          (o.quick ? " --quick" : "") + " --workers " +
                          std::to_string(topology::usable_cores()) + " --cpus " +
                          std::to_string(o.parent_cpu) + "," + std::to_string(o.worker_cpu);
  std::FILE* f = popen(cmd.c_str(), "r");
  if (f == nullptr) throw BenchError(BenchErrc::system_error, "cannot run " + cmd);
  std::string text;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, f)) text.append(buf, n);
  const int status = pclose(f);
  if (status != 0) {
    throw BenchError(BenchErrc::child_failed, "the Python peer failed (" + cmd + ")");
  }
  Figures out;
  for (const auto& row : nlohmann::json::parse(text)) {
    out.emplace_back("py:" + row.at("case").get<std::string>(), row.at("value").get<double>());
  }
  return out;
}

const std::map<std::string, std::string>& units() {
  static const std::map<std::string, std::string> u{{"submit_get_rtt_spin_p50", "ns"},
                                                    {"submit_get_rtt_spin_p99", "ns"},
                                                    {"submit_get_rtt_block_p50", "ns"},
                                                    {"submit_get_rtt_block_p99", "ns"},
                                                    {"pipe_rtt_p50", "ns"},
                                                    {"map_default_chunksize", "tasks/s"},
                                                    {"imap_unordered_chunksize_1", "tasks/s"},
                                                    {"process_start_join", "ms"},
                                                    {"pipe_connection_rtt_p50", "ns"},
                                                    {"pipe_connection_rtt_p99", "ns"},
                                                    {"lock_contended", "ns"},
                                                    {"pthread_mutex_contended", "ns"},
                                                    {"map_chunksize_1", "tasks/s"},
                                                    {"apply_async_get_rtt_p50", "ns"},
                                                    {"apply_async_get_rtt_p99", "ns"},
                                                    {"process_start_join_fork", "ms"}};
  return u;
}

const PoolResult* find(const std::vector<PoolResult>& rs, std::string_view system,
                       std::string_view name) {
  for (const auto& r : rs) {
    if (r.system == system && r.case_name == name) return &r;
  }
  return nullptr;
}

}  // namespace

std::vector<PoolResult> run_pool_bench(const PoolBenchOptions& options) {
  if (options.rounds == 0) {
    throw BenchError(BenchErrc::invalid_argument, "bench pool: --rounds must be at least 1");
  }
  Sizes s;
  if (options.quick) s = Sizes{500, 20000, 2000, 3, 2000};
  const std::size_t rounds = options.rounds;
  std::vector<int> input(s.map);
  std::iota(input.begin(), input.end(), 0);

  std::vector<std::function<Figures()>> contenders{
      [&] { return round_trip(pool::WaitMode::spin, options, s); },
      [&] { return round_trip(pool::WaitMode::block, options, s); },
      [&] { return pipe_round_trip(options, s); },
      [&] { return map_throughput(input); },
      [&] { return imap_unordered_throughput(s.imap); },
      [&] { return process_start_join(s); },
      [&] { return connection_round_trip(options, s); },
      [&] { return lock_contended(options, s); },
      [&] { return pthread_mutex_contended(options, s); },
  };
  if (python_available(options)) contenders.emplace_back([&] { return python_trial(options); });

  std::map<std::string, std::vector<double>> samples;
  std::vector<std::string> order;
  for (std::size_t r = 0; r < rounds; ++r) {
    for (std::size_t i : round_order(contenders.size(), r)) {
      for (auto& [name, value] : contenders[i]()) {
        if (!samples.count(name)) order.push_back(name);
        samples[name].push_back(value);
      }
    }
  }
  std::vector<PoolResult> out;
  for (const auto& name : order) {
    PoolResult res;
    const bool py = name.rfind("py:", 0) == 0;
    res.system = py ? "python-multiprocessing" : "ringpool";
    res.case_name = py ? name.substr(3) : name;
    res.value = median(samples[name]);
    res.rounds = samples[name];
    const auto u = units().find(res.case_name);
    res.unit = u != units().end() ? u->second : "";
    out.push_back(std::move(res));
  }
  return out;
}

nlohmann::json pool_results_json(const std::vector<PoolResult>& results) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& r : results) {
    a.push_back(
        {{"system", r.system}, {"case", r.case_name}, {"value", r.value}, {"unit", r.unit}});
  }
  return a;
}

namespace {

// The median and p25-p75 of values, or of per-round ratios.
struct Spread {
  double median = 0;
  double p25 = 0;
  double p75 = 0;
};

Spread spread_of(const std::vector<double>& v) {
  return {percentile(v, 50), percentile(v, 25), percentile(v, 75)};
}

// "how many times better" ours is than theirs, round by round (times: theirs / ours;
// rates: ours / theirs); empty when a round lacks a figure or one is not positive.
std::optional<Spread> better_by(const PoolResult& ours, const PoolResult& theirs) {
  const bool time = ours.unit == "ns" || ours.unit == "ms";
  if (ours.rounds.empty() || ours.rounds.size() != theirs.rounds.size()) return std::nullopt;
  std::vector<double> x;
  for (std::size_t i = 0; i < ours.rounds.size(); ++i) {
    const double a = ours.rounds[i];
    const double b = theirs.rounds[i];
    if (a <= 0 || b <= 0) return std::nullopt;
    x.push_back(time ? b / a : a / b);
  }
  return spread_of(x);
}

std::string range_of(const Spread& s, int digits) {
  return fmt::format("{:.{}f}-{:.{}f}", s.p25, digits, s.p75, digits);
}

}  // namespace

std::string format_pool_report(const std::vector<PoolResult>& results,
                               const PoolBenchOptions& options) {
  std::ostringstream os;
  os << fmt::format(
      "ringpool bench pool: medians and p25-p75 over {} interleaved round(s); ratios are "
      "medians of the per-round ratios; round trips and the contended locks: caller on CPU {}, "
      "one worker or child on CPU {}; map/imap: {} workers (Pool defaults)\n"
      "locks: two processes each acquire, add 1 to a shared counter and release, contending "
      "(no enforced alternation); ns per acquire/release pair\n\n",
      options.rounds, options.parent_cpu, options.worker_cpu, topology::usable_cores());
  os << fmt::format("{:<24} {:<30} {:>16} {:>27} {}\n", "system", "case", "value", "p25-p75",
                    "unit");
  for (const auto& r : results) {
    std::string range;
    if (r.rounds.size() > 1) {
      const Spread s = spread_of(r.rounds);
      range = fmt::format("{:.6g}-{:.6g}", s.p25, s.p75);
    }
    os << fmt::format("{:<24} {:<30} {:>16.6g} {:>27} {}\n", r.system, r.case_name, r.value, range,
                      r.unit);
  }
  const auto ratio_line = [&](const PoolResult* a, const PoolResult* b, const char* label,
                              const char* better, const char* worse, int digits) {
    if (a == nullptr || b == nullptr) return std::string();
    const std::optional<Spread> x = better_by(*a, *b);
    if (!x) return std::string();
    return fmt::format("  {:<44} {:>10.{}f} x {} (p25-p75 {})\n", label, x->median, digits,
                       x->median >= 1.0 ? better : worse, range_of(*x, digits));
  };
  const auto vs_python = [&](const char* ours, const char* theirs, const char* label) {
    const PoolResult* a = find(results, "ringpool", ours);
    const bool time = a != nullptr && (a->unit == "ns" || a->unit == "ms");
    return ratio_line(a, find(results, "python-multiprocessing", theirs), label,
                      time ? "faster" : "the throughput", time ? "(slower)" : "the throughput", 1);
  };
  os << "\nringpool vs Python multiprocessing (same machine, same rounds):\n";
  os << vs_python("map_default_chunksize", "map_default_chunksize", "map, default chunksize");
  os << vs_python("imap_unordered_chunksize_1", "imap_unordered_chunksize_1",
                  "imap_unordered, chunksize 1");
  os << vs_python("submit_get_rtt_spin_p50", "apply_async_get_rtt_p50",
                  "submit().get() spin vs apply_async().get()");
  os << vs_python("submit_get_rtt_block_p50", "apply_async_get_rtt_p50",
                  "submit().get() block vs apply_async().get()");
  os << vs_python("process_start_join", "process_start_join_fork", "Process start + join (fork)");
  os << vs_python("pipe_connection_rtt_p50", "pipe_connection_rtt_p50",
                  "Pipe send+recv round trip p50");
  os << vs_python("lock_contended", "lock_contended", "Lock, 2 processes contending, per pair");
  const auto vs_os = [&](const char* ours, const char* theirs, const char* label) {
    return ratio_line(find(results, "ringpool", ours), find(results, "ringpool", theirs), label,
                      "faster", "(slower)", 2);
  };
  os << "\nringpool vs the OS (same CPUs, same rounds):\n";
  os << vs_os("pipe_connection_rtt_p50", "pipe_rtt_p50",
              "Pipe round trip p50 vs a pipe(2) ping-pong");
  os << vs_os("lock_contended", "pthread_mutex_contended",
              "Lock vs a process-shared pthread mutex");

  os << "\ntargets: met only when the median and the whole p25-p75 range meet them\n";
  // `x` is how many times better ours is; the target asks for at least `need`.
  const auto target = [&](const std::optional<Spread>& x, double need, const std::string& text,
                          const std::string& shown) {
    const char* status = !x                  ? "n/a      "
                         : x->p25 >= need    ? "met      "
                         : x->median >= need ? "NOT MET (the p25-p75 range crosses it) "
                                             : "MISSED   ";
    os << "  " << status << text << (x ? ": " + shown : std::string()) << '\n';
  };
  const auto both = [&](const char* system_b, const char* ours, const char* theirs) {
    const PoolResult* a = find(results, "ringpool", ours);
    const PoolResult* b = find(results, system_b, theirs);
    return a && b ? better_by(*a, *b) : std::nullopt;
  };
  {
    const auto x = both("python-multiprocessing", "map_default_chunksize", "map_default_chunksize");
    target(x, 10, "map >= 10 x Python's map (default chunksize)",
           x ? fmt::format("{:.1f} x (p25-p75 {})", x->median, range_of(*x, 1)) : "");
  }
  {
    const auto x =
        both("python-multiprocessing", "imap_unordered_chunksize_1", "imap_unordered_chunksize_1");
    target(x, 100, "imap_unordered chunksize 1 >= 100 x Python's",
           x ? fmt::format("{:.1f} x (p25-p75 {})", x->median, range_of(*x, 1)) : "");
  }
  if (const PoolResult* a = find(results, "ringpool", "submit_get_rtt_spin_p50")) {
    // <= 1 us: better than 1 us by 1000 ns / the round trip (the quartiles swap).
    const Spread ns = spread_of(a->rounds);
    target(Spread{1000.0 / ns.median, 1000.0 / ns.p75, 1000.0 / ns.p25}, 1.0,
           "spin-mode submit().get() p50 <= 1 us",
           fmt::format("{:.0f} ns (p25-p75 {:.0f}-{:.0f} ns)", ns.median, ns.p25, ns.p75));
  }
  {
    const auto x = both("ringpool", "submit_get_rtt_block_p50", "pipe_rtt_p50");
    // <= 1.5 x the pipe: better by at least 1 / 1.5.
    target(x, 1.0 / 1.5, "block-mode p50 <= 1.5 x pipe round trip",
           x ? fmt::format("{:.3f} x the pipe (p25-p75 {:.3f}-{:.3f})", 1.0 / x->median,
                           1.0 / x->p75, 1.0 / x->p25)
             : "");
  }
  return os.str();
}

}  // namespace ringpool::bench
