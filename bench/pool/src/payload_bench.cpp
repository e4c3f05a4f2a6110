// `ringpool bench payload`: round trips and one-way streams of 8 B to 256 MiB payloads through
// the Pool and a Queue, next to Python's multiprocessing and a memcpy of the same size.
#include "ringpool/bench/payload_bench.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <utility>

#include "ringpool/bench/child.hpp"
#include "ringpool/bench/clock.hpp"
#include "ringpool/bench/errors.hpp"
#include "ringpool/bench/pin.hpp"
#include "ringpool/bench/rounds.hpp"
#include "ringpool/bench/spin.hpp"
#include "ringpool/bench/stats.hpp"
#include "ringpool/pool/errors.hpp"
#include "ringpool/pool/pool.hpp"
#include "ringpool/pool/queue.hpp"

#ifndef RINGPOOL_PAYLOAD_BENCH_SCRIPT
#define RINGPOOL_PAYLOAD_BENCH_SCRIPT "python_payload_bench.py"
#endif

namespace ringpool::bench {

namespace {

using Bytes = std::vector<char>;

// The task of the round trip: the bytes go to the worker and come back.
Bytes echo(Bytes payload) {
  return payload;
}

// How long a stream's consumer or producer waits for the other side before giving up.
constexpr std::chrono::seconds kStreamTimeout{120};

// A case that did not run: PayloadTooLarge (the build refuses the size) or another failure.
struct CaseMissing : std::runtime_error {
  CaseMissing(const std::string& what, bool refused)
      : std::runtime_error(what), unsupported(refused) {}
  bool unsupported;
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

std::size_t clamp_count(std::size_t budget_bytes, std::size_t bytes, std::size_t lo,
                        std::size_t hi) {
  return std::clamp(budget_bytes / std::max<std::size_t>(bytes, 1), lo, hi);
}

// The item's sequence number in its first 8 bytes (the consumer checks the order).
void stamp(Bytes& payload, std::uint64_t seq) {
  if (payload.size() >= sizeof seq) std::memcpy(payload.data(), &seq, sizeof seq);
}

bool stamped(const Bytes& payload, std::uint64_t seq) {
  if (payload.size() < sizeof seq) return true;
  std::uint64_t got = 0;
  std::memcpy(&got, payload.data(), sizeof got);
  return got == seq;
}

// A new Pool with one worker on worker_cpu (spin or block as the options say), the caller
// pinned to parent_cpu, and the payload the round trips send.
struct EchoPool {
  explicit EchoPool(std::size_t n, const PayloadBenchOptions& o)
      : pool(options(o)), pin(o.parent_cpu), payload(n, 'p') {}

  static pool::PoolOptions options(const PayloadBenchOptions& o) {
    pool::PoolOptions po;
    po.workers = 1;
    po.wait = o.spin ? pool::WaitMode::spin : pool::WaitMode::block;
    po.placement = topology::Placement{topology::Policy::list,
                                       topology::CpuSet{static_cast<unsigned>(o.worker_cpu)}};
    return po;
  }

  // One submit(echo, payload).get(), checked; ns.
  double round_trip(const Clock& clock) {
    const std::uint64_t t0 = clock.start();
    Bytes back = pool.submit(echo, payload).get();
    const std::uint64_t t1 = clock.stop();
    const std::size_t n = payload.size();
    if (back.size() != n || back.front() != 'p' || back.back() != 'p') {
      throw CaseMissing(
          fmt::format("the echo of {} bytes came back as {} bytes or altered", n, back.size()),
          false);
    }
    return clock.to_ns(t1 - t0);
  }

  pool::Pool pool;
  // Pinned after the pool exists: the pool reads the usable CPUs from the caller's mask.
  MaybePinned pin;
  Bytes payload;
};

// ringpool: median ns of submit(echo, payload).get() with one worker on worker_cpu, after
// plan.warm_up untimed round trips; with `first`, the first round trip of the new pool.
double ringpool_round_trip(std::size_t n, const PayloadTrialPlan& plan,
                           const PayloadBenchOptions& o, bool first) {
  try {
    EchoPool echo_pool(n, o);
    const Clock clock = Clock::best();
    if (first) return echo_pool.round_trip(clock);
    for (std::size_t i = 0; i < plan.warm_up; ++i) (void)echo_pool.round_trip(clock);
    std::vector<double> ns;
    ns.reserve(plan.round_trips);
    for (std::size_t i = 0; i < plan.round_trips; ++i) ns.push_back(echo_pool.round_trip(clock));
    return median(ns);
  } catch (const pool::PayloadTooLarge& e) {
    throw CaseMissing(e.what(), true);
  }
}

// ringpool: bytes/s of plan.stream_items items put on a Queue here and got by a child process
// on worker_cpu, from the first put until the consumer reports the last item.
double ringpool_stream(std::size_t n, const PayloadTrialPlan& plan, const PayloadBenchOptions& o) {
  pool::Queue<Bytes> items(plan.maxsize);
  pool::Queue<std::uint64_t> ready(1);
  pool::Queue<std::uint64_t> done(1);
  MaybePinned pin(o.parent_cpu);
  const std::size_t count = plan.stream_items;
  ChildProcess consumer =
      ChildProcess::spawn(o.worker_cpu, [items, ready, done, n, count]() mutable {
        ready.put(1);
        std::uint64_t intact = 0;
        for (std::size_t i = 0; i < count; ++i) {
          const Bytes item = items.get(kStreamTimeout);
          if (item.size() == n && stamped(item, i)) ++intact;
        }
        done.put(intact);
      });
  Bytes payload(n, 's');
  double seconds = 0.0;
  std::uint64_t intact = 0;
  try {
    (void)ready.get(kStreamTimeout);
    Stopwatch sw;
    for (std::size_t i = 0; i < count; ++i) {
      stamp(payload, i);
      items.put(payload, kStreamTimeout);
    }
    intact = done.get(kStreamTimeout);
    seconds = sw.seconds();
  } catch (...) {
    // The consumer waits for items that will not come: close its queue and reap it.
    items.close();
    try {
      consumer.join();
    } catch (const BenchError&) {
      // It failed on the closed queue, as it must; the cause is the exception in flight.
    }
    try {
      throw;
    } catch (const pool::PayloadTooLarge& e) {
      throw CaseMissing(e.what(), true);
    }
  }
  consumer.join();
  if (intact != count) {
    throw CaseMissing(
        fmt::format("the Queue stream delivered {} of {} items intact", intact, count), false);
  }
  return static_cast<double>(n) * static_cast<double>(count) / seconds;
}

// memcpy: median ns of one memcpy of n bytes on parent_cpu, both buffers touched first. Small
// copies are timed in batches (one clock stamp costs more than the copy).
double memcpy_floor(std::size_t n, const PayloadTrialPlan& plan, const PayloadBenchOptions& o) {
  MaybePinned pin(o.parent_cpu);
  Bytes src(n, 'm');
  Bytes dst(n, 0);
  const std::size_t batch = clamp_count(64 * kKiB, n, 1, 1000);
  const Clock clock = Clock::best();
  std::memcpy(dst.data(), src.data(), n);  // warm-up
  do_not_optimize(dst.data());
  std::vector<double> ns;
  const std::size_t samples = std::max<std::size_t>(3, plan.round_trips);
  ns.reserve(samples);
  for (std::size_t i = 0; i < samples; ++i) {
    const std::uint64_t t0 = clock.start();
    for (std::size_t j = 0; j < batch; ++j) {
      std::memcpy(dst.data(), src.data(), n);
      do_not_optimize(dst.data());
    }
    const std::uint64_t t1 = clock.stop();
    ns.push_back(clock.to_ns(t1 - t0) / static_cast<double>(batch));
  }
  return median(ns);
}

std::string python_script(const PayloadBenchOptions& o) {
  return o.python_script.empty() ? std::string(RINGPOOL_PAYLOAD_BENCH_SCRIPT) : o.python_script;
}

// One trial of one Python case; its JSON row's value, or CaseMissing with the error it gave.
double python_trial(std::string_view case_name, std::size_t n, const PayloadTrialPlan& plan,
                    const PayloadBenchOptions& o) {
  const std::string cmd = fmt::format(
      "{} '{}' --case {} --size {} --reps {} --warmup {} --items {} --maxsize {} --cpus {},{}",
      o.python_exe, python_script(o), case_name, n, plan.python_round_trips, plan.python_warm_up,
      plan.python_items, plan.maxsize, o.parent_cpu, o.worker_cpu);
  std::FILE* f = popen(cmd.c_str(), "r");
  if (f == nullptr) throw BenchError(BenchErrc::system_error, "cannot run " + cmd);
  std::string text;
  char buf[4096];
  while (std::size_t got = std::fread(buf, 1, sizeof buf, f)) text.append(buf, got);
  const int status = pclose(f);
  if (status != 0) {
    throw CaseMissing(fmt::format("the Python peer exited with status {} ({})", status, cmd),
                      false);
  }
  try {
    const auto rows = nlohmann::json::parse(text);
    const auto& row = rows.at(0);
    if (row.at("value").is_null()) throw CaseMissing(row.value("error", "no value"), false);
    return row.at("value").get<double>();
  } catch (const nlohmann::json::exception& e) {
    throw CaseMissing(fmt::format("the Python peer printed no usable row ({}): {}", e.what(), text),
                      false);
  }
}

struct Case {
  std::string_view system;
  std::string_view name;
  std::string_view unit;
  std::function<double()> run;
  std::vector<double> rounds;
  std::string error;
  bool unsupported = false;
};

void check_options(const PayloadBenchOptions& o) {
  if (o.rounds == 0) {
    throw BenchError(BenchErrc::invalid_argument, "bench payload: --rounds must be at least 1");
  }
  for (std::size_t n : o.sizes) {
    if (n == 0 || n > kMaxPayloadSize) {
      throw BenchError(BenchErrc::invalid_argument,
                       fmt::format("bench payload: a size of {} bytes is outside 1 B..{}", n,
                                   format_bytes(kMaxPayloadSize)));
    }
  }
  if (o.parent_cpu == o.worker_cpu) {
    throw BenchError(BenchErrc::same_cpu,
                     fmt::format("bench payload: the caller and the worker need two different "
                                 "CPUs, got {} twice",
                                 o.parent_cpu));
  }
}

}  // namespace

std::vector<std::size_t> parse_payload_sizes(std::string_view text) {
  std::vector<std::size_t> out;
  const auto bad = [&](std::string_view entry, const char* why) {
    return BenchError(BenchErrc::invalid_argument,
                      fmt::format("bench payload: --sizes '{}': '{}' {} (use e.g. "
                                  "8,1K,64KiB,1M,16MiB,256M)",
                                  text, entry, why));
  };
  std::size_t pos = 0;
  while (true) {
    const std::size_t comma = text.find(',', pos);
    std::string_view entry =
        text.substr(pos, comma == std::string_view::npos ? text.npos : comma - pos);
    if (entry.empty()) throw bad(entry, "is empty");
    std::uint64_t number = 0;
    const auto [end, ec] = std::from_chars(entry.data(), entry.data() + entry.size(), number);
    if (ec == std::errc::result_out_of_range) {
      throw bad(entry, fmt::format("is larger than {}", format_bytes(kMaxPayloadSize)).c_str());
    }
    if (ec != std::errc() || end == entry.data()) throw bad(entry, "does not start with a number");
    std::string suffix(end, entry.data() + entry.size());
    for (char& c : suffix) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::uint64_t scale = 0;
    if (suffix.empty() || suffix == "b") scale = 1;
    if (suffix == "k" || suffix == "kib") scale = kKiB;
    if (suffix == "m" || suffix == "mib") scale = kMiB;
    if (suffix == "g" || suffix == "gib") scale = kKiB * kMiB;
    if (scale == 0) throw bad(entry, "has an unknown unit (B, K/KiB, M/MiB or G/GiB)");
    if (number == 0) throw bad(entry, "is zero");
    if (number > kMaxPayloadSize / scale) {
      throw bad(entry, fmt::format("is larger than {}", format_bytes(kMaxPayloadSize)).c_str());
    }
    const std::size_t bytes = number * scale;
    if (std::find(out.begin(), out.end(), bytes) != out.end()) throw bad(entry, "is given twice");
    out.push_back(bytes);
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return out;
}

std::string format_bytes(std::size_t bytes) {
  static constexpr std::pair<std::size_t, const char*> kUnits[] = {
      {std::size_t{1} << 30, "GiB"}, {kMiB, "MiB"}, {kKiB, "KiB"}};
  for (const auto& [scale, unit] : kUnits) {
    if (bytes >= scale) {
      const double v = static_cast<double>(bytes) / static_cast<double>(scale);
      return bytes % scale == 0 ? fmt::format("{} {}", bytes / scale, unit)
                                : fmt::format("{:.3g} {}", v, unit);
    }
  }
  return fmt::format("{} B", bytes);
}

PayloadTrialPlan payload_trial_plan(std::size_t n, const PayloadBenchOptions& o) {
  PayloadTrialPlan p;
  p.rounds = n >= kLargePayload ? std::min(o.rounds, kLargePayloadRounds) : o.rounds;
  if (o.quick) {
    p.round_trips = clamp_count(4 * kMiB, n, 1, 200);
    p.stream_items = clamp_count(4 * kMiB, n, 2, 2000);
    p.python_round_trips = clamp_count(kMiB, n, 1, 20);
    p.python_items = clamp_count(4 * kMiB, n, 2, 20);
  } else {
    p.round_trips = clamp_count(64 * kMiB, n, 2, 2000);
    p.stream_items = clamp_count(64 * kMiB, n, 2, 20000);
    p.python_round_trips = clamp_count(16 * kMiB, n, 1, 200);
    p.python_items = clamp_count(64 * kMiB, n, 2, 200);
  }
  p.warm_up = n < kLargePayload   ? std::max<std::size_t>(1, p.round_trips / 10)
              : n <= kWarmUpLimit ? kWarmUpRoundTrips
                                  : 0;
  // --quick skips Python's large warm-ups: two 16 MiB round trips take over a second.
  p.python_warm_up = n < kLargePayload ? 1 : o.quick ? 0 : p.warm_up;
  p.maxsize = clamp_count(64 * kMiB, n, 2, 64);
  return p;
}

double expected_payload_seconds(std::size_t n, const PayloadBenchOptions& o) {
  const PayloadTrialPlan p = payload_trial_plan(n, o);
  const auto bytes = static_cast<double>(n);
  // Rough costs on the 2-vCPU development machine (2026-11-30): ringpool ~4 copies at
  // ~2 GB/s plus ~5 µs per message, and a new pool's first round trip writes fresh pages
  // (168-243 ms for 16 MiB); Python ~40 ns per byte per round trip (0.66-0.69 s for 16 MiB),
  // ~15 ns per byte per streamed item, ~0.5 ms per call and ~0.5 s to start each of its three
  // cases (interpreter, imports, a Pool or a process).
  const double ours =
      static_cast<double>(p.round_trips + p.warm_up + p.stream_items) * (bytes * 2e-9 + 5e-6) +
      bytes * 1e-8 + 0.04;
  const double python =
      o.python
          ? static_cast<double>(p.python_round_trips + p.python_warm_up) * (bytes * 40e-9 + 5e-4) +
                static_cast<double>(2 * p.python_items) * (bytes * 15e-9 + 5e-4) + 1.5
          : 0.0;
  return static_cast<double>(p.rounds) * (ours + python);
}

bool payload_python_available(const PayloadBenchOptions& o) {
  if (!o.python) return false;
  const std::string cmd =
      o.python_exe + " -c 'import multiprocessing.shared_memory' >/dev/null 2>&1";
  return std::filesystem::exists(python_script(o)) && std::system(cmd.c_str()) == 0;
}

std::vector<PayloadResult> run_payload_bench(const PayloadBenchOptions& options) {
  check_options(options);
  const std::vector<std::size_t> sizes =
      options.sizes.empty() ? std::vector<std::size_t>(kPayloadSizes.begin(), kPayloadSizes.end())
                            : options.sizes;
  const bool python = payload_python_available(options);
  std::vector<PayloadResult> out;
  for (std::size_t s = 0; s < sizes.size(); ++s) {
    const std::size_t n = sizes[s];
    const PayloadTrialPlan plan = payload_trial_plan(n, options);
    std::vector<Case> cases;
    cases.push_back({kSystemRingpool,
                     kCaseSubmitGetEcho,
                     "ns",
                     [&] { return ringpool_round_trip(n, plan, options, false); },
                     {},
                     {},
                     false});
    cases.push_back({kSystemRingpool,
                     kCaseSubmitGetEchoFirst,
                     "ns",
                     [&] { return ringpool_round_trip(n, plan, options, true); },
                     {},
                     {},
                     false});
    cases.push_back({kSystemRingpool,
                     kCaseQueueStream,
                     "bytes/s",
                     [&] { return ringpool_stream(n, plan, options); },
                     {},
                     {},
                     false});
    cases.push_back({kSystemMemcpy,
                     kCaseMemcpy,
                     "ns",
                     [&] { return memcpy_floor(n, plan, options); },
                     {},
                     {},
                     false});
    if (python) {
      for (std::string_view c : {kCaseApplyAsyncEcho, kCaseQueueStream, kCaseSharedMemoryStream}) {
        const std::string_view unit = c == kCaseApplyAsyncEcho ? "ns" : "bytes/s";
        cases.push_back({kSystemPython,
                         c,
                         unit,
                         [&, c] { return python_trial(c, n, plan, options); },
                         {},
                         {},
                         false});
      }
    }
    const std::size_t trials = plan.rounds * cases.size();
    std::size_t trial = 0;
    for (std::size_t r = 0; r < plan.rounds; ++r) {
      for (std::size_t i : round_order(cases.size(), r)) {
        Case& c = cases[i];
        if (options.progress) {
          options.progress(s, trial, trials,
                           fmt::format("{} {} {}, round {}/{}", format_bytes(n), c.system, c.name,
                                       r + 1, plan.rounds));
        }
        ++trial;
        if (!c.error.empty()) continue;  // it failed in an earlier round: not retried
        try {
          c.rounds.push_back(c.run());
        } catch (const CaseMissing& e) {
          c.error = e.what();
          c.unsupported = e.unsupported;
        } catch (const std::exception& e) {
          c.error = e.what();
        }
        if (!c.error.empty() && r > 0) {
          c.error = fmt::format("round {} of {}: {}", r + 1, plan.rounds, c.error);
        }
      }
    }
    for (Case& c : cases) {
      PayloadResult res;
      res.system = c.system;
      res.case_name = c.name;
      res.bytes = n;
      res.unit = c.unit;
      if (c.error.empty()) {
        res.value = median(c.rounds);
        res.rounds = std::move(c.rounds);
      } else {
        res.error = std::move(c.error);
        res.unsupported = c.unsupported;
      }
      out.push_back(std::move(res));
    }
  }
  return out;
}

}  // namespace ringpool::bench
