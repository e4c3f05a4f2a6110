// Writes the seed corpora of the fuzz targets: valid inputs that reach deep into each
// parser, for the fuzzer to mutate. Usage: ringpool_fuzz_seeds <tests/fuzz/corpus>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "ringpool/ipc/byte_ring.hpp"
#include "ringpool/ipc/mpmc_ring.hpp"
#include "ringpool/ipc/segment.hpp"
#include "ringpool/ipc/spsc_ring.hpp"
#include "ringpool/pool/codec.hpp"
#include "ringpool/pool/queue.hpp"

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
  auto q = ringpool::pool::Queue<T>::create(name, maxsize,
                                            ringpool::pool::QueueOptions{.slot_size = slot_size});
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

void queue_seeds(const fs::path& dir) {
  // try_get, get, try_put, put, put the largest item
  queue_seed<std::string>(dir / "string", 0, script({4, 5, 1, 2, 3}), 2, 16, {"item"});
  // put, get(0), close, get, size
  queue_seed<std::uint64_t>(dir / "u64", 1, script({2, 6, 7, 5, 0}), 3, 0, {7, 8});
  // a spinning opener: get, get, get (the third finds the queue empty), try_put, size
  queue_seed<std::string>(dir / "string_spin", 2, script({5, 5, 5, 1, 0}), 4, 32, {"a", "bc"});
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
  ring_seeds(root / "ring_attach_fuzz");
  codec_seeds(root / "codec_fuzz");
  queue_seeds(root / "queue_open_fuzz");
  return 0;
}
