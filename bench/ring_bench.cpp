// Google Benchmark suite: ringpool's rings against Boost.Lockfree with a producer thread and
// a consumer thread in one process, pinned to two CPUs given on the command line:
//
//   ringpool_bench_ring [--cpus=A,B] [google benchmark flags]
//
// The CPU pair is printed in the context header and in every benchmark's label. The
// two-process comparison (the headline figures) is `ringpool bench rings`.
#include <benchmark/benchmark.h>

#include <atomic>
#include <boost/lockfree/queue.hpp>
#include <boost/lockfree/spsc_queue.hpp>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "ringpool/bench/clock.hpp"
#include "ringpool/bench/errors.hpp"
#include "ringpool/bench/pin.hpp"
#include "ringpool/bench/spin.hpp"
#include "ringpool/bench/stats.hpp"
#include "ringpool/ipc/mpmc_ring.hpp"
#include "ringpool/ipc/spsc_ring.hpp"

namespace {

namespace rb = ringpool::bench;
namespace ipc = ringpool::ipc;

constexpr std::size_t kCapacity = 4096;
constexpr std::size_t kBatch = 32;

int g_cpu_a = 0;
int g_cpu_b = 1;

template <std::size_t N>
struct Item {
  std::uint64_t seq;
  std::uint64_t pad[N / 8 - 1];
};
template <>
struct Item<8> {
  std::uint64_t seq;
};

ipc::RingOptions spin_ring() {
  ipc::RingOptions o;
  o.wait = ipc::WaitStrategy::spin;
  return o;
}

template <class T>
struct RingpoolSpsc {
  // One end per side (each keeps its own index), on lines of their own.
  typename ipc::SpscRing<T>::Ends ends = ipc::SpscRing<T>::create_anonymous(kCapacity, spin_ring());
  alignas(128) ipc::SpscProducer<T> producer = std::move(ends.producer);
  alignas(128) ipc::SpscConsumer<T> consumer = std::move(ends.consumer);
  bool push(const T& v) noexcept { return producer.try_push(v); }
  bool pop(T& v) noexcept { return consumer.try_pop(v); }
  std::size_t push_n(const T* p, std::size_t n) noexcept {
    return producer.try_push_n(std::span<const T>(p, n));
  }
  std::size_t pop_n(T* p, std::size_t n) noexcept { return consumer.try_pop_n(std::span<T>(p, n)); }
};

template <class T>
struct RingpoolMpmc {
  typename ipc::MpmcRing<T>::Ends ends = ipc::MpmcRing<T>::create_anonymous(kCapacity, spin_ring());
  alignas(128) ipc::MpmcProducer<T> producer = std::move(ends.producer);
  alignas(128) ipc::MpmcConsumer<T> consumer = std::move(ends.consumer);
  bool push(const T& v) noexcept { return producer.try_push(v); }
  bool pop(T& v) noexcept { return consumer.try_pop(v); }
  std::size_t push_n(const T* p, std::size_t n) noexcept {
    return producer.try_push_n(std::span<const T>(p, n));
  }
  std::size_t pop_n(T* p, std::size_t n) noexcept { return consumer.try_pop_n(std::span<T>(p, n)); }
};

template <class T>
struct BoostSpsc {
  std::unique_ptr<boost::lockfree::spsc_queue<T, boost::lockfree::capacity<kCapacity>>> q =
      std::make_unique<boost::lockfree::spsc_queue<T, boost::lockfree::capacity<kCapacity>>>();
  bool push(const T& v) noexcept { return q->push(v); }
  bool pop(T& v) noexcept { return q->pop(v); }
  std::size_t push_n(const T* p, std::size_t n) noexcept { return q->push(p, n); }
  std::size_t pop_n(T* p, std::size_t n) noexcept { return q->pop(p, n); }
};

template <class T>
struct BoostQueue {
  std::unique_ptr<boost::lockfree::queue<T, boost::lockfree::capacity<kCapacity>>> q =
      std::make_unique<boost::lockfree::queue<T, boost::lockfree::capacity<kCapacity>>>();
  bool push(const T& v) noexcept { return q->bounded_push(v); }
  bool pop(T& v) noexcept { return q->pop(v); }
  std::size_t push_n(const T* p, std::size_t n) noexcept {
    std::size_t k = 0;
    while (k < n && q->bounded_push(p[k])) ++k;
    return k;
  }
  std::size_t pop_n(T* p, std::size_t n) noexcept {
    std::size_t k = 0;
    while (k < n && q->pop(p[k])) ++k;
    return k;
  }
};

std::string cpu_label() {
  return "cpu " + std::to_string(g_cpu_a) + "->" + std::to_string(g_cpu_b);
}

// Throughput: this thread (CPU A) pushes, a thread on CPU B pops; `batch` items per call.
template <class Q, class T>
void bm_throughput(benchmark::State& state, std::size_t batch) {
  Q q;
  rb::AffinityGuard guard;
  rb::pin_to_cpu(g_cpu_a);
  const std::uint64_t total = static_cast<std::uint64_t>(state.max_iterations) * batch;
  std::atomic<bool> ready{false};
  std::thread consumer([&] {
    rb::pin_to_cpu(g_cpu_b);
    // release: pairs with the acquire load below; the consumer is pinned and spinning.
    ready.store(true, std::memory_order_release);
    std::vector<T> buf(batch);
    std::uint64_t got = 0;
    while (got < total) {
      const std::size_t m = batch == 1 ? (q.pop(buf[0]) ? 1 : 0) : q.pop_n(buf.data(), batch);
      if (m == 0) rb::cpu_relax();
      got += m;
    }
    benchmark::DoNotOptimize(buf.data());
  });
  // acquire: pairs with the consumer's release store of ready.
  while (!ready.load(std::memory_order_acquire)) rb::cpu_relax();
  std::vector<T> items(batch);
  std::uint64_t seq = 0;
  for (auto _ : state) {
    for (auto& it : items) it.seq = seq++;
    std::size_t done = 0;
    while (done < batch) {
      const std::size_t m =
          batch == 1 ? (q.push(items[0]) ? 1 : 0) : q.push_n(items.data() + done, batch - done);
      if (m == 0) rb::cpu_relax();
      done += m;
    }
  }
  consumer.join();
  state.SetItemsProcessed(static_cast<std::int64_t>(total));
  state.SetLabel(cpu_label());
}

// Round trip: ping on one ring to a thread on CPU B, pong back on a second ring.
template <class Q, class T>
void bm_round_trip(benchmark::State& state) {
  Q ping;
  Q pong;
  rb::AffinityGuard guard;
  rb::pin_to_cpu(g_cpu_a);
  const std::uint64_t total = static_cast<std::uint64_t>(state.max_iterations);
  std::thread echo([&] {
    rb::pin_to_cpu(g_cpu_b);
    T item{};
    for (std::uint64_t i = 0; i < total; ++i) {
      while (!ping.pop(item)) rb::cpu_relax();
      while (!pong.push(item)) rb::cpu_relax();
    }
  });
  const rb::Clock clock = rb::Clock::best();
  std::vector<double> samples;
  samples.reserve(total);
  T item{};
  T back{};
  std::uint64_t last = clock.stop();
  for (auto _ : state) {
    ++item.seq;
    while (!ping.push(item)) rb::cpu_relax();
    while (!pong.pop(back)) rb::cpu_relax();
    const std::uint64_t now = clock.stop();
    samples.push_back(clock.to_ns(now - last));
    last = now;
  }
  echo.join();
  if (!samples.empty()) {
    const auto s = rb::summarize(samples);
    state.counters["rtt_p50_ns"] = s.p50;
    state.counters["rtt_p99_ns"] = s.p99;
  }
  state.SetLabel(cpu_label());
}

template <template <class> class Q>
void register_ring(const std::string& name) {
  benchmark::RegisterBenchmark((name + "/throughput/8B/single").c_str(), [](benchmark::State& s) {
    bm_throughput<Q<Item<8>>, Item<8>>(s, 1);
  })->UseRealTime();
  benchmark::RegisterBenchmark((name + "/throughput/8B/batch32").c_str(), [](benchmark::State& s) {
    bm_throughput<Q<Item<8>>, Item<8>>(s, kBatch);
  })->UseRealTime();
  benchmark::RegisterBenchmark((name + "/throughput/64B/single").c_str(), [](benchmark::State& s) {
    bm_throughput<Q<Item<64>>, Item<64>>(s, 1);
  })->UseRealTime();
  benchmark::RegisterBenchmark((name + "/throughput/64B/batch32").c_str(), [](benchmark::State& s) {
    bm_throughput<Q<Item<64>>, Item<64>>(s, kBatch);
  })->UseRealTime();
  benchmark::RegisterBenchmark((name + "/round_trip/8B").c_str(), [](benchmark::State& s) {
    bm_round_trip<Q<Item<8>>, Item<8>>(s);
  })->UseRealTime();
}

}  // namespace

int main(int argc, char** argv) {
  // Take --cpus=A,B out of argv before Google Benchmark parses the rest.
  std::vector<char*> rest;
  std::string cpus_text;
  for (int i = 0; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.rfind("--cpus=", 0) == 0) {
      cpus_text = std::string(arg.substr(7));
    } else {
      rest.push_back(argv[i]);
    }
  }
  try {
    std::vector<int> cpus =
        cpus_text.empty() ? rb::thread_affinity() : rb::parse_cpu_list(cpus_text);
    if (cpus_text.empty() && cpus.size() > 2) cpus.resize(2);
    rb::check_cpu_pair(cpus);
    g_cpu_a = cpus[0];
    g_cpu_b = cpus[1];
  } catch (const rb::BenchError& e) {
    std::cerr << "ringpool_bench_ring: " << e.what() << '\n';
    return 2;
  }
  int rest_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());
  benchmark::AddCustomContext("cpus", std::to_string(g_cpu_a) + "," + std::to_string(g_cpu_b) +
                                          " (producer/ping on the first)");
  register_ring<RingpoolSpsc>("ringpool-spsc");
  register_ring<BoostSpsc>("boost-spsc_queue");
  register_ring<RingpoolMpmc>("ringpool-mpmc");
  register_ring<BoostQueue>("boost-queue");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
