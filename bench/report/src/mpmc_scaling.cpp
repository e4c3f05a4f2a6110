#include "ringpool/report/mpmc_scaling.hpp"

#include <fmt/format.h>

#include <atomic>
#include <boost/lockfree/queue.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <new>
#include <thread>
#include <type_traits>

#include "ringpool/bench/child.hpp"
#include "ringpool/bench/errors.hpp"
#include "ringpool/bench/rounds.hpp"
#include "ringpool/bench/spin.hpp"
#include "ringpool/ipc/mpmc_ring.hpp"
#include "ringpool/ipc/segment.hpp"
#include "ringpool/report/errors.hpp"

namespace ringpool::report {
namespace {

constexpr std::uint64_t kPoison = 0;  // end-of-stream marker; real items are 1..N
constexpr std::size_t kMaxProcs = 1024;
constexpr std::size_t kBoostCapacity = 1024;
using BoostQueue = boost::lockfree::queue<std::uint64_t, boost::lockfree::capacity<kBoostCapacity>>;

// Plain data in a shared mapping: the start gate, the end-of-stream hand-off and each
// consumer's result.
struct TrialControl {
  alignas(128) std::atomic<std::uint32_t> ready{0};
  alignas(128) std::atomic<std::uint32_t> go{0};
  alignas(128) std::atomic<std::uint32_t> producers_done{0};
  alignas(128) std::atomic<std::int64_t> start_ns{0};
  struct alignas(64) ConsumerResult {
    std::uint64_t count = 0;
    std::uint64_t sum = 0;
    std::int64_t end_ns = 0;
  };
  ConsumerResult consumers[kMaxProcs];
};
static_assert(std::is_standard_layout_v<TrialControl>);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(std::atomic<std::int64_t>::is_always_lock_free);

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Adapters giving both systems the same two calls.
struct RingpoolQueue {
  ipc::MpmcRing<std::uint64_t>::Ends ring;  // every forked child uses its copy of one end
  bool push(std::uint64_t v) noexcept { return ring.producer.try_push(v); }
  bool pop(std::uint64_t& v) noexcept { return ring.consumer.try_pop(v); }
};
struct BoostInShm {
  BoostQueue* queue;
  bool push(std::uint64_t v) noexcept { return queue->bounded_push(v); }
  bool pop(std::uint64_t& v) noexcept { return queue->pop(v); }
};

template <class Queue>
double run_trial(Queue queue, TrialControl* ctl, const std::vector<unsigned>& cpus, unsigned p,
                 unsigned c, std::size_t items) {
  new (ctl) TrialControl{};
  const std::uint64_t per_producer = items / p;
  const std::uint64_t total = per_producer * p;
  const auto pushes = [&queue](std::uint64_t v) {
    while (!queue.push(v)) bench::cpu_relax();
  };
  std::vector<bench::ChildProcess> children;
  children.reserve(p + c);
  for (unsigned i = 0; i < p; ++i) {
    children.push_back(bench::ChildProcess::spawn(
        static_cast<int>(cpus[i]), [&queue, ctl, i, p, c, per_producer, pushes] {
          // relaxed RMW: the count only gates the start; go's acquire below orders the rest.
          ctl->ready.fetch_add(1, std::memory_order_relaxed);
          // acquire: pairs with the parent's release store of go.
          while (ctl->go.load(std::memory_order_acquire) == 0) bench::cpu_relax();
          const std::uint64_t first = 1 + i * per_producer;
          for (std::uint64_t v = first; v < first + per_producer; ++v) pushes(v);
          // acq_rel: the last producer sees every other producer's pushes as done before
          // it appends the poison pills behind them.
          if (ctl->producers_done.fetch_add(1, std::memory_order_acq_rel) + 1 == p) {
            for (unsigned k = 0; k < c; ++k) pushes(kPoison);
          }
        }));
  }
  for (unsigned j = 0; j < c; ++j) {
    children.push_back(bench::ChildProcess::spawn(static_cast<int>(cpus[p + j]), [&queue, ctl, j] {
      // relaxed RMW: see the producers' ready count.
      ctl->ready.fetch_add(1, std::memory_order_relaxed);
      // acquire: pairs with the parent's release store of go.
      while (ctl->go.load(std::memory_order_acquire) == 0) bench::cpu_relax();
      std::uint64_t count = 0;
      std::uint64_t sum = 0;
      std::uint64_t v = 0;
      while (true) {
        if (!queue.pop(v)) {
          bench::cpu_relax();
          continue;
        }
        if (v == kPoison) break;
        ++count;
        sum += v;
      }
      // Plain stores: the parent reads them after join(), which waits for this
      // process to exit (waitpid orders them).
      ctl->consumers[j].count = count;
      ctl->consumers[j].sum = sum;
      ctl->consumers[j].end_ns = now_ns();
    }));
  }
  // relaxed: only a gate; the children's own stores are read after join(). A child that
  // failed to start (e.g. could not pin) never counts itself: give up after a deadline.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (ctl->ready.load(std::memory_order_relaxed) < p + c) {
    if (std::chrono::steady_clock::now() > deadline) {
      // The children's destructors kill and reap them.
      throw ReportError(ReportErrc::measurement,
                        fmt::format("MPMC trial {}P{}C: not every child started within 20 s "
                                    "(could one not pin itself to its CPU?)",
                                    p, c));
    }
    std::this_thread::yield();
  }
  ctl->start_ns.store(now_ns(), std::memory_order_relaxed);  // relaxed: read after join()
  // release: pairs with the children's acquire loads of go.
  ctl->go.store(1, std::memory_order_release);
  for (auto& child : children) child.join(std::chrono::seconds(60));

  std::uint64_t count = 0;
  std::uint64_t sum = 0;
  std::int64_t end = 0;
  for (unsigned j = 0; j < c; ++j) {
    count += ctl->consumers[j].count;
    sum += ctl->consumers[j].sum;
    end = std::max(end, ctl->consumers[j].end_ns);
  }
  const std::uint64_t expected_sum = total * (total + 1) / 2;
  if (count != total || sum != expected_sum) {
    throw ReportError(ReportErrc::measurement,
                      fmt::format("MPMC trial {}P{}C lost or duplicated items: {} of {} received "
                                  "(checksum {} vs {})",
                                  p, c, count, total, sum, expected_sum));
  }
  // relaxed: written before go's release, read after join().
  const double seconds =
      static_cast<double>(end - ctl->start_ns.load(std::memory_order_relaxed)) / 1e9;
  return seconds > 0.0 ? static_cast<double>(total) / seconds : 0.0;
}

}  // namespace

std::vector<std::pair<unsigned, unsigned>> default_splits(std::size_t cores) {
  std::vector<std::pair<unsigned, unsigned>> out;
  auto add = [&](std::size_t k) {
    const auto p = static_cast<unsigned>(k / 2);
    out.emplace_back(p, static_cast<unsigned>(k) - p);
  };
  if (cores <= 8) {
    for (std::size_t k = 2; k <= cores; ++k) add(k);
  } else {
    std::size_t k = 2;
    for (; k < cores; k *= 2) add(k);
    add(cores);
  }
  return out;
}

MpmcSection measure_mpmc_scaling(const MpmcScalingOptions& options) {
  if (options.cpus.size() < 2) {
    throw ReportError(ReportErrc::invalid_argument,
                      "MPMC scaling needs at least two CPUs (one producer, one consumer)");
  }
  const auto splits = options.splits.empty() ? default_splits(options.cpus.size()) : options.splits;
  for (const auto& [p, c] : splits) {
    if (p == 0 || c == 0 || p + c > options.cpus.size() || p + c > kMaxProcs) {
      throw ReportError(ReportErrc::invalid_argument,
                        fmt::format("MPMC split {}P{}C needs 1..{} producers plus consumers "
                                    "on {} CPUs",
                                    p, c, options.cpus.size(), options.cpus.size()));
    }
  }
  // Shared state lives in anonymous mappings made before any fork.
  ipc::Segment control_segment = ipc::Segment::anonymous(sizeof(TrialControl));
  auto* ctl = reinterpret_cast<TrialControl*>(control_segment.data());
  ipc::Segment boost_segment = ipc::Segment::anonymous(sizeof(BoostQueue));
  BoostQueue* boost_queue = new (boost_segment.data()) BoostQueue();
  if (!boost_queue->is_lock_free()) {
    throw ReportError(ReportErrc::measurement,
                      "boost::lockfree::queue is not lock-free on this machine; cannot compare");
  }

  ipc::RingOptions ring_options;
  ring_options.wait = ipc::WaitStrategy::spin;  // both sides busy-poll; no futex bookkeeping

  std::vector<bench::Contender<double>> contenders;
  for (const auto& [p, c] : splits) {
    const std::string label = fmt::format("{}P{}C", p, c);
    contenders.push_back({"ringpool-mpmc " + label, [&, p = p, c = c, label] {
                            if (options.on_trial) options.on_trial("MPMC ringpool " + label);
                            auto ring = ipc::MpmcRing<std::uint64_t>::create_anonymous(
                                options.capacity, ring_options);
                            return run_trial(RingpoolQueue{std::move(ring)}, ctl, options.cpus, p,
                                             c, options.items_per_trial);
                          }});
    contenders.push_back({"boost-queue " + label, [&, p = p, c = c, label] {
                            if (options.on_trial) options.on_trial("MPMC boost " + label);
                            boost_queue->~BoostQueue();
                            boost_queue = new (boost_segment.data()) BoostQueue();
                            return run_trial(BoostInShm{boost_queue}, ctl, options.cpus, p, c,
                                             options.items_per_trial);
                          }});
  }
  bench::RoundsOptions rounds;
  rounds.rounds = options.rounds;
  rounds.warmup_rounds = options.warmup_rounds;
  bench::RoundsResult<double> result;
  try {
    result = bench::run_rounds(contenders, rounds);
  } catch (const bench::BenchError& e) {
    boost_queue->~BoostQueue();
    throw ReportError(ReportErrc::measurement, std::string("MPMC trial failed: ") + e.what());
  } catch (...) {
    boost_queue->~BoostQueue();
    throw;
  }
  boost_queue->~BoostQueue();

  MpmcSection section;
  section.rounds = static_cast<unsigned>(options.rounds);
  section.item_bytes = sizeof(std::uint64_t);
  for (std::size_t i = 0; i < splits.size(); ++i) {
    MpmcRow row;
    row.producers = splits[i].first;
    row.consumers = splits[i].second;
    for (unsigned k = 0; k < row.cores(); ++k) {
      if (k != 0) row.cpus += ',';
      row.cpus += std::to_string(options.cpus[k]);
    }
    row.ringpool_items_per_s = result.median(2 * i);
    row.boost_items_per_s = result.median(2 * i + 1);
    row.ringpool_spread = spread_over_rounds(result.values(2 * i));
    row.boost_spread = spread_over_rounds(result.values(2 * i + 1));
    section.rows.push_back(row);
  }
  return section;
}

}  // namespace ringpool::report
