#include "ringpool/bench/ring_bench.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/date_time/posix_time/posix_time_types.hpp>
#include <boost/interprocess/ipc/message_queue.hpp>
#include <boost/lockfree/queue.hpp>
#include <boost/lockfree/spsc_queue.hpp>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>

#include "ring_links.hpp"
#include "ringpool/bench/child.hpp"
#include "ringpool/bench/clock.hpp"
#include "ringpool/bench/errors.hpp"
#include "ringpool/bench/pin.hpp"
#include "ringpool/bench/pingpong.hpp"
#include "ringpool/bench/rounds.hpp"
#include "ringpool/bench/spin.hpp"
#include "ringpool/bench/stats.hpp"
#include "ringpool/ipc/mpmc_ring.hpp"
#include "ringpool/ipc/spsc_ring.hpp"

namespace ringpool::bench {

namespace {

using namespace ring_links;  // NOLINT(google-build-using-namespace): this file is their one user

constexpr std::size_t kQuickProbe = 20;  // probe round trips in quick mode

// ---- trial bodies --------------------------------------------------------------------

struct TrialPlan {
  std::size_t probe_round_trips = kProbeRoundTrips;
  std::size_t batch = 1;
  std::size_t warm_items = 0;  // multiples of kBatch
  std::size_t items = 0;
  bool rtt = false;
  std::size_t warm_round_trips = 0;
  std::size_t round_trips = 0;
};

struct TrialOutcome {
  double items_per_s = 0;
  double rtt_p50 = 0;
  double rtt_p99 = 0;
  double rtt_mean = 0;
  Probe probe;
};

template <class T, class Link>
void produce(Link& link, std::uint64_t first, std::size_t count, std::size_t batch,
             Backoff& backoff) {
  if (batch == 1) {
    T item{};
    for (std::uint64_t s = first; s < first + count; ++s) {
      item.seq = s;
      while (!link.try_push(item)) backoff.fail();
    }
    return;
  }
  std::array<T, kBatch> buf{};
  for (std::uint64_t s = first; s < first + count; s += batch) {
    for (std::size_t k = 0; k < batch; ++k) buf[k].seq = s + k;
    std::size_t done = 0;
    while (done < batch) {
      const std::size_t m = link.push_some(buf.data() + done, batch - done);
      if (m == 0) backoff.fail();
      done += m;
    }
  }
}

[[noreturn]] void out_of_order(std::uint64_t expected, std::uint64_t got) {
  throw BenchError(BenchErrc::child_failed, "ring benchmark: expected item " +
                                                std::to_string(expected) + ", received " +
                                                std::to_string(got) + " (lost or reordered)");
}

template <class T, class Link>
void consume(Link& link, std::uint64_t first, std::size_t count, std::size_t batch,
             Backoff& backoff) {
  const std::uint64_t end = first + count;
  if (batch == 1) {
    T item{};
    for (std::uint64_t s = first; s < end; ++s) {
      while (!link.try_pop(item)) backoff.fail();
      if (item.seq != s) out_of_order(s, item.seq);
    }
    return;
  }
  std::array<T, kBatch> buf{};
  std::uint64_t expect = first;
  while (expect < end) {
    const std::size_t m = link.pop_some(
        buf.data(), static_cast<std::size_t>(std::min<std::uint64_t>(batch, end - expect)));
    if (m == 0) backoff.fail();
    for (std::size_t k = 0; k < m; ++k, ++expect)
      if (buf[k].seq != expect) out_of_order(expect, buf[k].seq);
  }
}

template <class T, template <class> class LinkT>
TrialOutcome run_link_trial(int cpu_b, const TrialPlan& plan, const Clock& clock) {
  LinkT<T> fwd(plan.batch);
  LinkT<T> back(1);
  SharedObject<TrialControl> control;
  TrialControl* ctl = control.get();

  auto child = ChildProcess::spawn(cpu_b, [&] {
    try {
      fwd.become(Role::consumer);
      back.become(Role::producer);
      probe_respond(ctl->probe, plan.probe_round_trips);
      Backoff warm(*ctl);
      consume<T>(fwd, 0, plan.warm_items, plan.batch, warm);
      // release: pairs with the parent's acquire load waiting for kStageWarm.
      ctl->stage.store(kStageWarm, std::memory_order_release);
      Backoff timed(*ctl);
      consume<T>(fwd, plan.warm_items, plan.items, plan.batch, timed);
      // release: pairs with the parent's acquire load waiting for kStageDone.
      ctl->stage.store(kStageDone, std::memory_order_release);
      if (plan.rtt) {
        Backoff echo(*ctl);
        T item{};
        for (std::size_t i = 0; i < plan.warm_round_trips + plan.round_trips; ++i) {
          while (!fwd.try_pop(item)) echo.fail();
          while (!back.try_push(item)) echo.fail();
        }
      }
      probe_respond(ctl->probe, plan.probe_round_trips);
    } catch (...) {
      // release: pairs with the acquire load in Backoff::check() in the parent.
      ctl->stage.store(kStageFailed, std::memory_order_release);
      throw;
    }
  });

  TrialOutcome out;
  try {
    fwd.become(Role::producer);
    back.become(Role::consumer);
    out.probe.before_ns = probe_initiate(ctl->probe, clock, plan.probe_round_trips);
    auto wait_stage = [&](std::uint32_t stage) {
      Backoff backoff(*ctl);
      // acquire: pairs with the child's release store of `stage` (its items are consumed).
      while (ctl->stage.load(std::memory_order_acquire) < stage) backoff.fail();
      if (ctl->stage.load(std::memory_order_acquire) == kStageFailed) throw PeerFailed{};
    };
    Backoff warm(*ctl);
    produce<T>(fwd, 0, plan.warm_items, plan.batch, warm);
    wait_stage(kStageWarm);
    const Stopwatch watch;
    Backoff timed(*ctl);
    produce<T>(fwd, plan.warm_items, plan.items, plan.batch, timed);
    wait_stage(kStageDone);
    out.items_per_s = static_cast<double>(plan.items) / watch.seconds();
    if (plan.rtt) {
      std::vector<double> samples;
      samples.reserve(plan.round_trips);
      Backoff ping(*ctl);
      T item{};
      T echo{};
      std::uint64_t last = clock.stop();
      for (std::size_t i = 0; i < plan.warm_round_trips + plan.round_trips; ++i) {
        item.seq = i;
        while (!fwd.try_push(item)) ping.fail();
        while (!back.try_pop(echo)) ping.fail();
        const std::uint64_t now = clock.stop();
        if (echo.seq != i) out_of_order(i, echo.seq);
        if (i >= plan.warm_round_trips) samples.push_back(clock.to_ns(now - last));
        last = now;
      }
      const Summary s = summarize(samples);
      out.rtt_p50 = s.p50;
      out.rtt_p99 = s.p99;
      out.rtt_mean = s.mean;
    }
    out.probe.after_ns = probe_initiate(ctl->probe, clock, plan.probe_round_trips);
  } catch (const PeerFailed&) {
    child.join();  // throws the child's reason
    throw BenchError(BenchErrc::child_failed, "ring benchmark: the child reported a failure");
  } catch (const BenchError& e) {
    if (e.code() == BenchErrc::child_failed) child.join();  // prefer the child's own reason
    throw;
  }
  child.join();
  return out;
}

TrialOutcome run_floor_trial(int cpu_b, const TrialPlan& plan, const Clock& clock) {
  SharedObject<TrialControl> control;
  TrialControl* ctl = control.get();
  auto child = ChildProcess::spawn(cpu_b, [ctl, &plan] {
    probe_respond(ctl->probe, plan.probe_round_trips);
    pingpong_respond(ctl->probe, plan.warm_round_trips, plan.round_trips);
    probe_respond(ctl->probe, plan.probe_round_trips);
  });
  TrialOutcome out;
  out.probe.before_ns = probe_initiate(ctl->probe, clock, plan.probe_round_trips);
  const auto samples =
      pingpong_initiate(ctl->probe, plan.warm_round_trips, plan.round_trips, clock);
  out.probe.after_ns = probe_initiate(ctl->probe, clock, plan.probe_round_trips);
  child.join();
  const Summary s = summarize(samples);
  out.rtt_p50 = s.p50;
  out.rtt_p99 = s.p99;
  out.rtt_mean = s.mean;
  out.items_per_s = 2.0e9 / s.mean;  // two one-way hand-offs per round trip
  return out;
}

// ---- cases ---------------------------------------------------------------------------

using TrialFn = TrialOutcome (*)(int, const TrialPlan&, const Clock&);

template <template <class> class LinkT>
TrialFn link_trial(std::size_t item_bytes) {
  return item_bytes == 8 ? &run_link_trial<Item8, LinkT> : &run_link_trial<Item64, LinkT>;
}

TrialFn trial_for(std::string_view transport, std::size_t item_bytes) {
  if (transport == kRingpoolSpsc) return link_trial<RingpoolSpscLink>(item_bytes);
  if (transport == kRingpoolMpmc) return link_trial<RingpoolMpmcLink>(item_bytes);
  if (transport == kBoostSpsc) return link_trial<BoostSpscLink>(item_bytes);
  if (transport == kBoostQueue) return link_trial<BoostQueueLink>(item_bytes);
  if (transport == kBoostMessageQueue) return link_trial<MessageQueueLink>(item_bytes);
  if (transport == kPipe) return link_trial<PipeLink>(item_bytes);
  if (transport == kSocketpair) return link_trial<SocketLink>(item_bytes);
  return &run_floor_trial;
}

std::size_t round_up(double n, std::size_t multiple, std::size_t lo, std::size_t hi) {
  const double clamped = std::clamp(n, static_cast<double>(lo), static_cast<double>(hi));
  const auto v = static_cast<std::size_t>(std::ceil(clamped / static_cast<double>(multiple)));
  return std::max<std::size_t>(1, v) * multiple;
}

struct Case {
  std::string transport;
  std::size_t item_bytes = 8;
  std::size_t batch = 1;
  TrialFn trial = nullptr;
  TrialPlan plan;
  bool sized = false;
};

// Resizes a case's plan from its warm-up trial so each timed phase takes `phase_s`.
void size_plan(Case& c, const TrialOutcome& warm, double phase_s, bool quick) {
  TrialPlan& p = c.plan;
  if (c.transport != kCachelinePingpong) {
    p.items =
        round_up(warm.items_per_s * phase_s, kBatch, quick ? 256 : 1024, std::size_t{1} << 30);
    p.warm_items = round_up(static_cast<double>(p.items) / 8.0, kBatch, 64, 16384);
  }
  if (p.rtt) {
    p.round_trips =
        round_up(phase_s * 1e9 / std::max(warm.rtt_mean, 1.0), 1, quick ? 20 : 100, 2'000'000);
    p.warm_round_trips = std::clamp<std::size_t>(p.round_trips / 10, 10, 10'000);
  }
}

// Ignores SIGPIPE while alive (a dead peer turns into EPIPE, reported as child_failed).
class IgnoreSigpipe {
 public:
  IgnoreSigpipe() {
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    sigaction(SIGPIPE, &ignore, &saved_);
  }
  ~IgnoreSigpipe() { sigaction(SIGPIPE, &saved_, nullptr); }
  IgnoreSigpipe(const IgnoreSigpipe&) = delete;
  IgnoreSigpipe& operator=(const IgnoreSigpipe&) = delete;

 private:
  struct sigaction saved_ {};
};

bool quick_from_env() {
  const char* v = std::getenv("RINGPOOL_BENCH_QUICK");
  return v != nullptr && *v != '\0' && std::string_view(v) != "0";
}

const RingResult* find_row(const std::vector<RingResult>& rows, std::string_view transport,
                           std::size_t item_bytes, std::size_t batch) {
  for (const auto& r : rows)
    if (r.transport == transport && r.item_bytes == item_bytes && r.batch == batch) return &r;
  return nullptr;
}

}  // namespace

const std::vector<std::string_view>& ring_transports() {
  static const std::vector<std::string_view> names{kRingpoolSpsc, kRingpoolMpmc,      kBoostSpsc,
                                                   kBoostQueue,   kBoostMessageQueue, kPipe,
                                                   kSocketpair,   kCachelinePingpong};
  return names;
}

std::vector<RingResult> run_ring_bench(const RingBenchOptions& options) {
  const bool quick = options.quick || quick_from_env();
  const std::size_t rounds = options.rounds != 0 ? options.rounds : (quick ? 3 : 12);
  const double phase_ms = options.phase_ms > 0 ? options.phase_ms : (quick ? 2.0 : 50.0);
  if (options.phase_ms < 0 || !std::isfinite(options.phase_ms))
    throw BenchError(BenchErrc::invalid_argument, "phase_ms must be a positive duration");
  if (rounds > 10'000)
    throw BenchError(BenchErrc::invalid_argument,
                     "rounds must be at most 10000, got " + std::to_string(rounds));
  check_cpu_pair({options.cpu_a, options.cpu_b});

  std::vector<std::string_view> selected;
  for (const auto& name : options.transports) {
    const auto& all = ring_transports();
    const auto it = std::find(all.begin(), all.end(), name);
    if (it == all.end())
      throw BenchError(BenchErrc::invalid_argument,
                       "unknown transport \"" + name +
                           "\"; known: ringpool-spsc, ringpool-mpmc, "
                           "boost-spsc_queue, boost-queue, boost-message_queue, pipe, socketpair, "
                           "cacheline-pingpong");
    if (std::find(selected.begin(), selected.end(), *it) == selected.end()) selected.push_back(*it);
  }
  if (selected.empty()) selected = ring_transports();

  std::vector<Case> cases;
  for (std::string_view t : ring_transports()) {
    if (std::find(selected.begin(), selected.end(), t) == selected.end()) continue;
    if (t == kCachelinePingpong) {
      Case c{std::string(t), 8, 1, trial_for(t, 8), {}, false};
      c.plan.rtt = true;
      c.plan.round_trips = quick ? 200 : 5'000;
      c.plan.warm_round_trips = quick ? 20 : 100;
      c.plan.probe_round_trips = quick ? kQuickProbe : kProbeRoundTrips;
      cases.push_back(c);
      continue;
    }
    for (std::size_t bytes : {std::size_t{8}, std::size_t{64}}) {
      for (std::size_t batch : {std::size_t{1}, kBatch}) {
        Case c{std::string(t), bytes, batch, trial_for(t, bytes), {}, false};
        c.plan.batch = batch;
        c.plan.items = quick ? 1024 : 32768;
        c.plan.warm_items = quick ? 128 : 4096;
        c.plan.rtt = batch == 1;
        c.plan.round_trips = c.plan.rtt ? (quick ? 50 : 1000) : 0;
        c.plan.warm_round_trips = c.plan.rtt ? 10 : 0;
        c.plan.probe_round_trips = quick ? kQuickProbe : kProbeRoundTrips;
        cases.push_back(c);
      }
    }
  }

  const Clock clock = Clock::best();
  IgnoreSigpipe no_sigpipe;
  AffinityGuard guard;
  pin_to_cpu(options.cpu_a);

  std::vector<Contender<TrialOutcome>> contenders;
  for (auto& c : cases) {
    contenders.push_back({c.transport, [&c, &options, &clock, phase_ms, quick] {
                            TrialOutcome out = c.trial(options.cpu_b, c.plan, clock);
                            if (!c.sized) {
                              size_plan(c, out, phase_ms / 1e3, quick);
                              c.sized = true;
                            }
                            return out;
                          }});
  }
  const std::size_t total = rounds * cases.size();
  std::size_t done = 0;
  RoundsOptions ro;
  ro.rounds = rounds;
  ro.warmup_rounds = 1;
  ro.on_trial = [&](std::size_t, std::size_t i) {
    ++done;
    if (options.progress) options.progress(cases[i].transport, done, total);
  };
  const auto res = run_rounds(contenders, ro);

  std::vector<RingResult> rows;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    RingResult r;
    r.transport = c.transport;
    r.item_bytes = c.item_bytes;
    r.batch = c.batch;
    r.cpu_a = options.cpu_a;
    r.cpu_b = options.cpu_b;
    r.items_per_s_rounds = res.values(i, &TrialOutcome::items_per_s);
    r.items_per_s = median(r.items_per_s_rounds);
    if (c.plan.rtt) {
      r.rtt_ns_p50_rounds = res.values(i, &TrialOutcome::rtt_p50);
      r.rtt_ns_p50 = median(r.rtt_ns_p50_rounds);
      r.rtt_ns_p99 = res.median(i, &TrialOutcome::rtt_p99);
    }
    for (const auto& trial : res.samples[i]) {
      if (trial.probe.disturbed()) ++r.disturbed_trials;
      r.probe_ns_rounds.push_back(trial.probe.before_ns);
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

std::optional<double> round_ratio(const RingResult& ours, const RingResult& peer, bool rtt) {
  const auto& a = rtt ? ours.rtt_ns_p50_rounds : ours.items_per_s_rounds;
  const auto& b = rtt ? peer.rtt_ns_p50_rounds : peer.items_per_s_rounds;
  if (a.empty() || a.size() != b.size()) return std::nullopt;
  return median_of_ratios(a, b);
}

std::vector<TargetCheck> check_ring_targets(const std::vector<RingResult>& rows) {
  // The per-round ratios ours / peer: their median, and their p25 and p75.
  auto check = [&](std::string name, std::string relation, double threshold, std::string_view ours,
                   std::size_t batch, std::string_view peer, std::size_t peer_batch, bool rtt) {
    TargetCheck t;
    t.name = std::move(name);
    t.relation = std::move(relation);
    t.threshold = threshold;
    const RingResult* a = find_row(rows, ours, 8, batch);
    const RingResult* b = find_row(rows, peer, 8, peer_batch);
    if (a == nullptr || b == nullptr) return t;
    t.ratio = round_ratio(*a, *b, rtt);
    if (!t.ratio) return t;
    const auto& num = rtt ? a->rtt_ns_p50_rounds : a->items_per_s_rounds;
    const auto& den = rtt ? b->rtt_ns_p50_rounds : b->items_per_s_rounds;
    std::vector<double> ratios;
    for (std::size_t i = 0; i < num.size(); ++i) ratios.push_back(num[i] / den[i]);
    t.ratio_p25 = percentile(ratios, 25.0);
    t.ratio_p75 = percentile(ratios, 75.0);
    return t;
  };
  std::vector<TargetCheck> checks;
  checks.push_back(check("ringpool-spsc 8 B single-item throughput vs boost-spsc_queue", ">=", 1.5,
                         kRingpoolSpsc, 1, kBoostSpsc, 1, false));
  checks.push_back(check("ringpool-spsc 8 B batch-32 throughput vs boost-spsc_queue batch-32",
                         ">=", 1.2, kRingpoolSpsc, kBatch, kBoostSpsc, kBatch, false));
  checks.push_back(check("ringpool-spsc round trip p50 vs cacheline-pingpong", "<=", 1.5,
                         kRingpoolSpsc, 1, kCachelinePingpong, 1, true));
  checks.push_back(check("ringpool-mpmc 1P1C 8 B single-item throughput vs boost-queue", ">=", 2.0,
                         kRingpoolMpmc, 1, kBoostQueue, 1, false));
  return checks;
}

nlohmann::json ring_results_json(const std::vector<RingResult>& rows) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : rows) {
    nlohmann::json row;
    row["transport"] = r.transport;
    row["item_bytes"] = r.item_bytes;
    row["batch"] = r.batch;
    row["items_per_s"] = r.items_per_s;
    row["rtt_ns_p50"] = r.rtt_ns_p50 ? nlohmann::json(*r.rtt_ns_p50) : nlohmann::json(nullptr);
    row["rtt_ns_p99"] = r.rtt_ns_p99 ? nlohmann::json(*r.rtt_ns_p99) : nlohmann::json(nullptr);
    row["cpus"] = {r.cpu_a, r.cpu_b};
    out.push_back(std::move(row));
  }
  return out;
}

}  // namespace ringpool::bench
