// Writes the seed corpora of the fuzz targets: valid inputs that reach deep into each
// parser, for the fuzzer to mutate. Usage: ringpool_fuzz_seeds <tests/fuzz/corpus>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "ringpool/ipc/byte_ring.hpp"
#include "ringpool/ipc/detail/ring_header.hpp"
#include "ringpool/ipc/mpmc_ring.hpp"
#include "ringpool/ipc/segment.hpp"
#include "ringpool/ipc/spsc_ring.hpp"
#include "ringpool/pool/codec.hpp"
#include "ringpool/pool/errors.hpp"
#include "ringpool/pool/queue.hpp"
#include "ringpool/pool/spawn.hpp"

namespace {

namespace fs = std::filesystem;
using ringpool::pool::to_bytes;

struct Point {
  double x;
  double y;
};

void write(const fs::path& file, std::uint8_t first, std::uint8_t second,
           std::span<const std::byte> body, bool with_second = true) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.put(static_cast<char>(first));
  if (with_second) out.put(static_cast<char>(second));
  out.write(reinterpret_cast<const char*>(body.data()), static_cast<std::streamsize>(body.size()));
}

// A 128-byte aligned scratch region.
struct Region {
  explicit Region(std::size_t n) : bytes(new (std::align_val_t{128}) std::byte[n]()), size(n) {}
  ~Region() { ::operator delete[](bytes, std::align_val_t{128}); }
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;
  [[nodiscard]] std::span<std::byte> span() const { return {bytes, size}; }
  std::byte* bytes;
  std::size_t size;
};

void ring_seeds(const fs::path& dir) {
  using namespace ringpool::ipc;
  const auto hello = std::as_bytes(std::span("hello", 5));
  {
    Region r(SpscByteRing::required_bytes(4, 16));
    auto ring = SpscByteRing::create(r.span(), 4, 16);
    static_cast<void>(ring.producer.try_push(hello));
    write(dir / "spsc_bytes", 0, 0x5A, r.span());
    write(dir / "spsc_bytes_named", 4, 0xA5, r.span());
  }
  {
    Region r(MpmcByteRing::required_bytes(4, 16));
    auto ring = MpmcByteRing::create(r.span(), 4, 16);
    static_cast<void>(ring.producer.try_push(hello));
    static_cast<void>(ring.producer.try_push(hello.first(2)));
    write(dir / "mpmc_bytes", 1, 0x33, r.span());
    write(dir / "mpmc_bytes_named", 5, 0xCC, r.span());
  }
  {
    Region r(SpscRing<std::uint64_t>::required_bytes(8));
    auto ring = SpscRing<std::uint64_t>::create(r.span(), 8);
    static_cast<void>(ring.producer.try_push(7));
    static_cast<void>(ring.producer.try_push(8));
    write(dir / "spsc_u64", 2, 0x0F, r.span());
  }
  {
    Region r(MpmcRing<std::uint64_t>::required_bytes(8));
    auto ring = MpmcRing<std::uint64_t>::create(r.span(), 8);
    static_cast<void>(ring.producer.try_push(7));
    static_cast<void>(ring.producer.try_push(8));
    write(dir / "mpmc_u64", 3, 0x0F, r.span());
    write(dir / "mpmc_u64_named", 7, 0xF0, r.span());
  }
}

// A queue segment as its creator left it, with `items` put: the bytes after the three
// selector and script bytes of queue_open_fuzz.
template <class T>
void queue_seed(const fs::path& file, std::uint8_t selector, std::uint16_t script,
                std::size_t maxsize, std::size_t slot_size, const std::vector<T>& items) {
  const std::string name = "/ringpool-fuzz-seed-" + std::to_string(::getpid());
  auto q = ringpool::pool::Queue<T>::create(
      name, maxsize, ringpool::pool::QueueOptions{.slot_size = slot_size, .arena_bytes = 0});
  for (const T& item : items) q.put(item);
  const ringpool::ipc::Segment view = ringpool::ipc::Segment::open(name);
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.put(static_cast<char>(selector));
  out.put(static_cast<char>(script & 0xFF));
  out.put(static_cast<char>(script >> 8));
  out.write(reinterpret_cast<const char*>(view.bytes().data()),
            static_cast<std::streamsize>(view.size()));
}

// Scripts: 3 bits per step, step 0 lowest (see queue_open_fuzz.cpp).
constexpr std::uint16_t script(std::initializer_list<unsigned> steps) {
  std::uint16_t s = 0;
  int shift = 0;
  for (unsigned step : steps) {
    s = static_cast<std::uint16_t>(s | (step << shift));
    shift += 3;
  }
  return s;
}

std::size_t find_u64(std::span<const std::byte> bytes, std::size_t end, std::uint64_t value) {
  for (std::size_t off = 0; off + sizeof value <= end; off += sizeof value) {
    std::uint64_t v = 0;
    std::memcpy(&v, bytes.data() + off, sizeof v);
    if (v == value) return off;
  }
  return bytes.size();
}

// A queue whose one item is held by a consumer that died inside get (claimed, not
// released): the input that leads a get into the recovery of dead consumers' claims. Made
// from two queues of the same layout: in the first, a thread blocked in get shows where
// its claim record's owner is (this process's pid); the second holds the item, and its
// copy gets an owner that cannot exist (INT_MAX is above every pid_max), a claim word
// naming ticket 0, and a dequeue counter past it.
void dead_consumer_seed(const fs::path& file) {
  using ringpool::pool::Queue;
  const ringpool::pool::QueueOptions options{.slot_size = 16, .arena_bytes = 0};
  const std::string first = "/ringpool-fuzz-seed-a-" + std::to_string(::getpid());
  const std::string second = "/ringpool-fuzz-seed-b-" + std::to_string(::getpid());
  auto blocked = Queue<std::string>::create(first, 2, options);
  auto held = Queue<std::string>::create(second, 2, options);
  std::thread getter([&] {
    try {
      static_cast<void>(blocked.get(std::chrono::seconds(30)));
    } catch (const ringpool::pool::PoolError&) {
      // Closed below.
    }
  });
  const ringpool::ipc::Segment view = ringpool::ipc::Segment::open(first);
  std::size_t ring = view.size();
  for (std::size_t off = 0; off < view.size() && ring == view.size(); off += 128) {
    if (find_u64(view.bytes().subspan(off), 8, ringpool::ipc::detail::kRingMagic) == 0) ring = off;
  }
  std::size_t owner = view.size();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (owner >= ring && std::chrono::steady_clock::now() < deadline) {
    owner = find_u64(view.bytes(), ring, static_cast<std::uint64_t>(::getpid()));
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  blocked.close();
  getter.join();
  if (owner >= ring) throw std::runtime_error("dead_consumer_seed: no claim record found");

  held.put("held");
  const ringpool::ipc::Segment copy = ringpool::ipc::Segment::open(second);
  std::vector<std::byte> bytes(copy.bytes().begin(), copy.bytes().end());
  const auto put_u64 = [&](std::size_t off, std::uint64_t v) {
    std::memcpy(bytes.data() + off, &v, sizeof v);
  };
  put_u64(owner, INT_MAX);  // the owner: a pid no process has
  put_u64(owner + 8, 1);    // its claim word (after the owner): ticket 0 + 1
  put_u64(ring + offsetof(ringpool::ipc::detail::RingControl, consumer), 1);  // ticket 0 taken
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.put(static_cast<char>(0));
  const std::uint16_t steps = script({4, 5, 1, 4, 0});  // try_get, get, try_put, try_get
  out.put(static_cast<char>(steps & 0xFF));
  out.put(static_cast<char>(steps >> 8));
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

void queue_seeds(const fs::path& dir) {
  // try_get, get, try_put, put, put the largest item
  queue_seed<std::string>(dir / "string", 0, script({4, 5, 1, 2, 3}), 2, 16, {"item"});
  // put, get(0), close, get, size
  queue_seed<std::uint64_t>(dir / "u64", 1, script({2, 6, 7, 5, 0}), 3, 0, {7, 8});
  // a spinning opener: get, get, get (the third finds the queue empty), try_put, size
  queue_seed<std::string>(dir / "string_spin", 2, script({5, 5, 5, 1, 0}), 4, 32, {"a", "bc"});
  dead_consumer_seed(dir / "string_dead_consumer");
}

template <class T>
void codec_seed(const fs::path& dir, std::uint8_t type, const T& value) {
  const auto bytes = to_bytes(value);
  write(dir / ("type" + std::to_string(type)), type, 0, bytes, false);
}

void codec_seeds(const fs::path& dir) {
  codec_seed(dir, 0, std::int32_t{-42});
  codec_seed(dir, 1, 2.5);
  codec_seed(dir, 2, std::string("ringpool"));
  codec_seed(dir, 3, std::vector<std::int32_t>{1, 2, 3});
  codec_seed(dir, 4, std::vector<std::string>{"a", "", "bc"});
  codec_seed(dir, 5, std::optional<std::string>("x"));
  codec_seed(dir, 6, std::pair<std::int64_t, std::string>{9, "nine"});
  codec_seed(dir, 7,
             std::tuple<bool, std::vector<std::uint16_t>, std::optional<std::int64_t>>{
                 true, {1, 2}, std::nullopt});
  codec_seed(dir, 8, std::vector<std::vector<std::string>>{{"a"}, {}, {"b", "c"}});
  codec_seed(dir, 9, std::vector<std::optional<bool>>{true, std::nullopt, false});
  codec_seed(dir, 10, std::vector<bool>{true, false, true});
  codec_seed(dir, 11, std::pair<Point, std::vector<Point>>{{1, 2}, {{3, 4}}});
}

void write_bytes(const fs::path& file, std::span<const std::byte> bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

void spawn_start_seeds(const fs::path& dir) {
  namespace rd = ringpool::detail;
  // Process with StartMethod::spawn: the task kind, a task name and its arguments.
  const auto task = rd::encode_task_start(
      {"ringpool_example_square", to_bytes(std::tuple<std::int32_t, std::string>{7, "seven"})});
  write_bytes(dir / "task", rd::encode_start_record({std::string(rd::kTaskStartKind), "Process-1",
                                                     "1", false, task, 4242, "MainProcess"}));
  // A daemon of a nested identity.
  write_bytes(dir / "task_daemon",
              rd::encode_start_record({std::string(rd::kTaskStartKind), "Process-1:2", "1:2", true,
                                       rd::encode_task_start({"f", {}}), 4243, "Process-1"}));
  // A worker kind with an opaque payload (the pool's worker checks its own).
  write_bytes(dir / "worker",
              rd::encode_start_record({"ringpool.pool_worker", "PoolWorker-1", "1", true,
                                       to_bytes(std::string("layout")), 4242, "MainProcess"}));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus directory>\n", argv[0]);
    return 2;
  }
  const fs::path root = argv[1];
  fs::create_directories(root / "ring_attach_fuzz");
  fs::create_directories(root / "codec_fuzz");
  fs::create_directories(root / "queue_open_fuzz");
  fs::create_directories(root / "spawn_start_fuzz");
  ring_seeds(root / "ring_attach_fuzz");
  codec_seeds(root / "codec_fuzz");
  queue_seeds(root / "queue_open_fuzz");
  spawn_start_seeds(root / "spawn_start_fuzz");
  return 0;
}
