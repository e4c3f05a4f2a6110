// SharedLayout: sizes, maps and initialises the pool's mapping (parent), and finds the
// parts of a spawn-started worker after checking every field of its start record.
#include "shared_layout.hpp"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <string>

#include "ringpool/pool/detail/task_wire.hpp"
#include "ringpool/pool/errors.hpp"

namespace ringpool::pool::detail {

namespace {

std::size_t round_up(std::size_t n, std::size_t to) {
  return (n + to - 1) / to * to;
}

[[noreturn]] void bad_start(const std::string& what) {
  throw DecodeError("ringpool: spawned pool worker: " + what +
                    "; the start data was not written by this program's Pool");
}

// A region of the mapping: aligned, non-empty, inside it.
bool region_ok(std::uint64_t offset, std::uint64_t size, std::uint64_t total) noexcept {
  return offset % kLine == 0 && offset <= total && size > 0 && size <= total - offset;
}

}  // namespace

SharedLayout SharedLayout::create(std::size_t workers, std::size_t depth, std::size_t slot_size,
                                  std::size_t task_words, bool need_fd) {
  SharedLayout l;
  l.workers_ = workers;
  const std::size_t header = round_up(sizeof(PoolShared), kLine);
  const std::size_t per_worker = round_up(sizeof(WorkerShared), kLine);
  l.words_offset_ = header + per_worker * workers;
  l.words_count_ = std::max<std::size_t>(task_words, 1);
  l.shared_offset_ = l.words_offset_ + round_up(l.words_count_ * sizeof(TaskWord), kLine);
  l.shared_bytes_ = round_up(ipc::MpmcByteRing::required_bytes(depth * workers, slot_size), kLine);
  l.rings_offset_ = l.shared_offset_ + l.shared_bytes_;
  l.ring_bytes_ = round_up(ipc::SpscByteRing::required_bytes(depth, slot_size), kLine);
  // Every page mapped now (MAP_POPULATE), not by faults in the first batch; each worker
  // populates its own view when it starts (run_worker).
  ipc::SegmentOptions mapping;
  mapping.prefault = true;
  l.segment_ = ipc::Segment::anonymous(l.rings_offset_ + 2 * l.ring_bytes_ * workers, mapping);
  if (need_fd && l.segment_.fd() < 0) {
    throw PoolError(
        "ringpool: a Pool with StartMethod::spawn hands its rings to the workers as a memfd, and "
        "memfd_create is not available here; use StartMethod::fork");
  }
  std::byte* base = l.segment_.data();
  l.pool_ = ::new (base) PoolShared{};
  l.pool_->magic = kPoolMagic;
  l.pool_->workers = workers;
  l.worker_records_ = reinterpret_cast<WorkerShared*>(base + header);
  for (std::size_t i = 0; i < workers; ++i) ::new (&l.worker_records_[i]) WorkerShared{};
  auto* words = reinterpret_cast<TaskWord*>(base + l.words_offset_);
  for (std::size_t i = 0; i < l.words_count_; ++i) ::new (&words[i]) TaskWord{};
  // The rings poll (the pool core wakes sleepers itself); handles are attached by their users.
  const ipc::RingOptions spin{ipc::WaitStrategy::spin, 0};
  (void)ipc::MpmcByteRing::create({base + l.shared_offset_, l.shared_bytes_}, depth * workers,
                                  slot_size, spin);
  for (std::size_t i = 0; i < workers; ++i) {
    const WorkerRegions r = l.regions(i);
    (void)ipc::SpscByteRing::create(r.tasks, depth, slot_size, spin);
    (void)ipc::SpscByteRing::create(r.results, depth, slot_size, spin);
  }
  return l;
}

WorkerRegions SharedLayout::regions(std::size_t i) const noexcept {
  std::byte* base = segment_.data();
  std::byte* rings = base + rings_offset_ + 2 * ring_bytes_ * i;
  return WorkerRegions{pool_,
                       &worker_records_[i],
                       {rings, ring_bytes_},
                       {rings + ring_bytes_, ring_bytes_},
                       {base + shared_offset_, shared_bytes_},
                       task_words()};
}

std::span<TaskWord> SharedLayout::task_words() const noexcept {
  return {reinterpret_cast<TaskWord*>(segment_.data() + words_offset_), words_count_};
}

SpawnLayout SharedLayout::spawn_layout(std::size_t i) const noexcept {
  const std::byte* base = segment_.data();
  const auto offset = [base](const void* p) {
    return static_cast<std::uint64_t>(static_cast<const std::byte*>(p) - base);
  };
  const WorkerRegions r = regions(i);
  SpawnLayout l{};
  l.magic = kSpawnLayoutMagic;
  l.index = i;
  l.fd = segment_.fd();
  l.bytes = segment_.size();
  l.self_offset = offset(r.self);
  l.task_offset = offset(r.tasks.data());
  l.task_bytes = r.tasks.size();
  l.result_offset = offset(r.results.data());
  l.result_bytes = r.results.size();
  l.shared_offset = offset(r.shared.data());
  l.shared_bytes = r.shared.size();
  l.words_offset = offset(r.task_words.data());
  l.words_count = r.task_words.size();
  return l;
}

WorkerRegions SharedLayout::adopt_spawned(const SpawnLayout& l) {
  if (l.magic != kSpawnLayoutMagic) bad_start("the layout magic is wrong");
  if (l.fd < 0) bad_start("the mapping's fd " + std::to_string(l.fd) + " is invalid");
  if (l.bytes < sizeof(PoolShared) || l.bytes > (std::uint64_t{1} << 46)) {
    bad_start("mapping size " + std::to_string(l.bytes) + " is out of range");
  }
  if (!region_ok(l.self_offset, sizeof(WorkerShared), l.bytes) ||
      !region_ok(l.task_offset, l.task_bytes, l.bytes) ||
      !region_ok(l.result_offset, l.result_bytes, l.bytes) ||
      !region_ok(l.shared_offset, l.shared_bytes, l.bytes) ||
      l.words_count > (l.bytes / sizeof(TaskWord)) ||
      !region_ok(l.words_offset, l.words_count * sizeof(TaskWord), l.bytes) ||
      l.self_offset < sizeof(PoolShared)) {
    bad_start("a region lies outside the mapping or is misaligned");
  }
  struct stat st {};
  if (::fstat(l.fd, &st) != 0) {
    bad_start("the inherited fd " + std::to_string(l.fd) + " is not the pool's mapping (" +
              std::strerror(errno) + ")");
  }
  if (st.st_size < 0 || static_cast<std::uint64_t>(st.st_size) < l.bytes) {
    bad_start("the inherited fd " + std::to_string(l.fd) + " is not the pool's mapping (" +
              std::to_string(st.st_size) + " bytes, the layout needs " + std::to_string(l.bytes) +
              ")");
  }
  void* mapped = ::mmap(nullptr, l.bytes, PROT_READ | PROT_WRITE, MAP_SHARED, l.fd, 0);
  if (mapped == MAP_FAILED) {
    bad_start(std::string("cannot map the pool's memfd: ") + std::strerror(errno));
  }
  ::close(l.fd);
  auto* bytes = static_cast<std::byte*>(mapped);
  auto* pool = reinterpret_cast<PoolShared*>(bytes);
  // Read once: the header is shared memory.
  const std::uint64_t magic = pool->magic;
  const std::uint64_t workers = pool->workers;
  if (magic != kPoolMagic || l.index >= workers) {
    bad_start("the mapping is not a pool's, or worker index " + std::to_string(l.index) +
              " is out of range");
  }
  const auto span_at = [bytes](std::uint64_t offset, std::uint64_t size) {
    return std::span<std::byte>{bytes + offset, static_cast<std::size_t>(size)};
  };
  return WorkerRegions{pool,
                       reinterpret_cast<WorkerShared*>(bytes + l.self_offset),
                       span_at(l.task_offset, l.task_bytes),
                       span_at(l.result_offset, l.result_bytes),
                       span_at(l.shared_offset, l.shared_bytes),
                       {reinterpret_cast<TaskWord*>(bytes + l.words_offset),
                        static_cast<std::size_t>(l.words_count)}};
}

}  // namespace ringpool::pool::detail
