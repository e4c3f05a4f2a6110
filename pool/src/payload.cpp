// Large payloads through one-off shared-memory segments (see detail/payload.hpp).
#include "ringpool/pool/detail/payload.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "ringpool/ipc/detail/cpu_relax.hpp"
#include "ringpool/ipc/detail/process_probe.hpp"
#include "ringpool/ipc/detail/tracker.hpp"
#include "ringpool/ipc/errors.hpp"
#include "ringpool/pool/codec.hpp"
#include "ringpool/pool/errors.hpp"

namespace ringpool::pool::detail {

namespace {

constexpr std::string_view kPrefix = "/ringpool-blob-";
constexpr std::int64_t kPidMaxLimit = std::int64_t{1} << 22;  // Linux PID_MAX_LIMIT
constexpr char kShmDir[] = "/dev/shm";

// Owner serials stay below this: at most 19 decimal digits, the most a scanner of /dev/shm
// reads per field of a payload name (ipc/src/segment_scan.cpp).
constexpr std::uint64_t kSerialLimit = std::uint64_t{1} << 62;

// The counters of this process's names: sequence numbers of its segments and serials of
// the owners (pools, queues) it creates. A name also holds its creator's pid, but pids are
// reused (pid_max is often 32768): a process that gets the pid of one that has died must
// not repeat that one's names, or its O_EXCL create fails (EEXIST) and a recoverer that
// unlinks the dead one's names by number removes the new one's. So every process starts
// both at a random value: at static initialisation, and again in a forked child (which
// would otherwise go on from its parent's values). Two processes with one pid then collide
// only if their ranges of numbers overlap in 2^40 (sequences) or 2^62 (serials).
std::atomic<std::uint64_t> g_sequence{0};
std::atomic<std::uint64_t> g_serial{0};

// 64 random bits from getrandom(2); without it (no entropy yet early in boot, or a kernel
// without the call) the clock and the pid mixed, which still differ between two processes
// that had the same pid. Async-signal-safe: it runs in a forked child.
std::uint64_t random_bits() noexcept {
  std::uint64_t bits = 0;
  if (::getrandom(&bits, sizeof bits, GRND_NONBLOCK) == static_cast<ssize_t>(sizeof bits)) {
    return bits;
  }
  timespec now{};
  (void)::clock_gettime(CLOCK_MONOTONIC, &now);
  std::uint64_t z = static_cast<std::uint64_t>(now.tv_sec) * 1'000'000'000U +
                    static_cast<std::uint64_t>(now.tv_nsec) +
                    (static_cast<std::uint64_t>(::getpid()) << 42) + bits;
  // splitmix64's finaliser: nearby inputs give unrelated outputs.
  z += 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Both counters from random values. For static initialisation and the pthread_atfork child
// handler: the child's only thread, before it returns from fork().
void seed_counters() noexcept {
  // relaxed (both): process-local counters, written before any thread of this process
  // takes a number (static initialisation, or the child's only thread in fork()).
  g_sequence.store(random_bits(), std::memory_order_relaxed);
  g_serial.store(random_bits(), std::memory_order_relaxed);
}

// Seeds the counters of a fresh (or re-executed) process and registers the reseeding of
// every forked child, once, before main() and so before any fork() ringpool makes. (If
// registering fails, ENOMEM, a forked child keeps its parent's values: the old behaviour.)
[[maybe_unused]] const bool g_counters_seeded = [] {
  seed_counters();
  return ::pthread_atfork(nullptr, nullptr, seed_counters) == 0;
}();

// The next number of `counter` in [1, limit) (limit a power of two): it wraps, skipping 0.
// Wait-free but for the skip; no system call (the hot path of every payload segment).
std::uint64_t next_of(std::atomic<std::uint64_t>& counter, std::uint64_t limit) noexcept {
  for (;;) {
    // relaxed: a counter; only the uniqueness of the numbers matters.
    const std::uint64_t n = counter.fetch_add(1, std::memory_order_relaxed) & (limit - 1);
    if (n != 0) return n;
  }
}

// Unlinks the entries of /dev/shm whose names start with `prefix` (with its '/') and that
// are regular files of this effective uid; returns how many (or, counting only, would be).
std::size_t sweep(const std::string& prefix, bool remove) noexcept {
  if (prefix.size() < 2) return 0;
  const std::string_view stem = std::string_view(prefix).substr(1);  // without the '/'
  DIR* dir = ::opendir(kShmDir);
  if (dir == nullptr) return 0;
  std::size_t n = 0;
  const uid_t self = ::geteuid();
  std::string full;  // "/" + an entry's name
  try {
    full.reserve(NAME_MAX + 2);
  } catch (...) {
    ::closedir(dir);
    return 0;  // out of memory: the owner's next sweep removes them
  }
  while (const dirent* e = ::readdir(dir)) {
    const std::string_view name(e->d_name);
    if (name.substr(0, stem.size()) != stem) continue;
    struct stat st {};
    if (::fstatat(::dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
        st.st_uid != self) {
      continue;
    }
    if (!remove) {
      ++n;
      continue;
    }
    full.assign(1, '/');
    full.append(name);  // within the reserved NAME_MAX + 2: no allocation
    if (::shm_unlink(full.c_str()) == 0) ++n;
  }
  ::closedir(dir);
  return n;
}

[[noreturn]] void refuse(const std::string& why) {
  throw DecodeError("ringpool: a large-payload reference was refused: " + why +
                    " (the ring holds a forged or stale reference, or the sender's segment was "
                    "removed)");
}

}  // namespace

// ---- the receiver's allocation ------------------------------------------------------------

void prepare_large_fill(void* dest, std::size_t bytes) noexcept {
  constexpr std::uintptr_t kHugePage = std::uintptr_t{2} << 20;
  const auto first = reinterpret_cast<std::uintptr_t>(dest);
  if (first == 0 || bytes > UINTPTR_MAX - first) return;
  const std::uintptr_t begin = (first + kHugePage - 1) & ~(kHugePage - 1);
  const std::uintptr_t end = (first + bytes) & ~(kHugePage - 1);
  if (end <= begin) return;
  // A hint only: EINVAL (no THP in this kernel) or anything else leaves the pages as they
  // are, and the decoder fills them either way.
  (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

// ---- the receiver's side of a streamed value ---------------------------------------------

std::size_t readable_from(const std::byte* from, const std::byte* last, std::size_t want) {
  const auto left = static_cast<std::size_t>(last - from);
  const InboundStream* s = t_inbound;
  const auto at = reinterpret_cast<std::uintptr_t>(from);
  if (s == nullptr || at < reinterpret_cast<std::uintptr_t>(s->begin) ||
      reinterpret_cast<std::uintptr_t>(last) > reinterpret_cast<std::uintptr_t>(s->end)) {
    return left;  // not a streamed value's bytes: all in place
  }
  const auto offset = static_cast<std::uint64_t>(from - s->begin);
  const auto total = static_cast<std::uint64_t>(s->end - s->begin);
  const std::uint64_t need = offset + std::min(want, left);
  std::uint64_t seen = 0;
  auto seen_at = std::chrono::steady_clock::time_point{};
  for (unsigned attempt = 1;; ++attempt) {
    // acquire: pairs with the sender's release in OutgoingPayload::publish(): the bytes it
    // counts are in place. Shared memory: a count beyond the value is the whole value.
    const std::uint64_t written = std::min(s->written->load(std::memory_order_acquire), total);
    if (written >= need) return std::min(left, static_cast<std::size_t>(written - offset));
    if ((attempt & 1023) == 0) {
      if (s->sender_gone != nullptr && s->sender_gone(s->context)) {
        throw SenderGone(
            "ringpool: the sender of a streamed value stopped before writing all of it (it "
            "died, or the pool is being terminated)");
      }
      if (s->stall_limit.count() > 0) {
        const auto now = std::chrono::steady_clock::now();
        if (attempt == 1024 || written != seen) {
          seen = written;
          seen_at = now;
        } else if (now - seen_at >= s->stall_limit) {
          throw DecodeError("ringpool: the sender of a streamed value wrote nothing more for " +
                            std::to_string(s->stall_limit.count()) +
                            " ms (it is stopped or starved); the value is lost");
        }
      }
    }
    if ((attempt & 63) == 0) {
      std::this_thread::yield();  // the sender may be waiting for this CPU
    } else {
      ipc::detail::cpu_relax();
    }
  }
}

// ---- PayloadNames -------------------------------------------------------------------------

PayloadNames::PayloadNames(std::int64_t owner_pid, std::uint64_t owner_serial)
    : owner_pid_(owner_pid),
      owner_serial_(owner_serial),
      prefix_(std::string(kPrefix) + std::to_string(owner_pid) + "-" +
              std::to_string(owner_serial) + "-") {}

PayloadNames PayloadNames::fresh() {
  return PayloadNames(static_cast<std::int64_t>(ipc::detail::current_pid()),
                      next_of(g_serial, kSerialLimit));
}

std::string PayloadNames::name_of(std::int64_t sender, std::uint64_t sequence) const {
  return prefix_ + std::to_string(sender) + "-" + std::to_string(sequence);
}

std::size_t PayloadNames::remove_all() const noexcept {
  return sweep(prefix_, true);
}

std::size_t PayloadNames::remove_of(std::int64_t sender) const noexcept {
  if (sender <= 0 || prefix_.empty()) return 0;
  try {
    return sweep(prefix_ + std::to_string(sender) + "-", true);
  } catch (...) {
    return 0;  // out of memory building the prefix: the owner's shutdown removes them
  }
}

std::string PayloadNames::track() const noexcept {
  if (prefix_.empty()) return "no owner";
  return ipc::detail::track_prefix(prefix_);
}

void PayloadNames::untrack() const noexcept {
  if (!prefix_.empty()) ipc::detail::untrack_prefix(prefix_);
}

void PayloadNames::remove(std::int64_t sender, std::uint64_t sequence) const noexcept {
  if (sender <= 0 || prefix_.empty()) return;
  try {
    ::shm_unlink(name_of(sender, sequence).c_str());
  } catch (...) {
    // Out of memory building the name: the owner's shutdown removes it.
  }
}

std::size_t PayloadNames::count() const noexcept {
  return sweep(prefix_, false);
}

// ---- PayloadLanes ---------------------------------------------------------------------------

namespace {

// Lane capacities grow in steps of 1 MiB (a value slightly larger than the last reuses it).
std::size_t lane_capacity(std::size_t bytes) {
  constexpr std::size_t kStep = std::size_t{1} << 20;
  return std::min(kLaneMax, (bytes + kStep - 1) / kStep * kStep);
}

LaneHeader& header_of(const ipc::Segment& segment) noexcept {
  return *reinterpret_cast<LaneHeader*>(segment.data());
}

std::shared_ptr<ipc::Segment> create_segment(const std::string& name, std::size_t bytes) {
  ipc::SegmentOptions options;
  options.mode = 0600;
  // The encoder writes every byte: populating the pages in one call is cheaper than one
  // page fault per 4 KiB.
  options.prefault = true;
  try {
    return std::make_shared<ipc::Segment>(ipc::Segment::create(name, bytes, options));
  } catch (const ipc::IpcError& e) {
    throw PoolError("ringpool: cannot create a shared-memory segment of " + std::to_string(bytes) +
                    " bytes for a large payload: " + e.what());
  }
}

}  // namespace

bool PayloadLanes::claim(std::size_t bytes, OutgoingPayload& out) {
  std::lock_guard lock(mu_);
  // current_pid(): no system call per value (a forked child refreshes it).
  const auto self = static_cast<std::int64_t>(ipc::detail::current_pid());
  if (lane_ != nullptr && creator_ == self) {
    std::uint64_t expected = 0;
    // acquire: pairs with the receiver's release in IncomingPayload::release() (its reads of
    // the last value happen before our writes of the next) and with the release in
    // OutgoingPayload::hand_over() of another thread of ours that streamed the last value.
    if (!header_of(*lane_).busy.compare_exchange_strong(expected, kLaneWriting | kLaneReading,
                                                        std::memory_order_acquire,
                                                        std::memory_order_relaxed)) {
      return false;
    }
    if (lane_->size() - sizeof(LaneHeader) < bytes) {
      // Too small and free: replaced (receivers drop their mapping at the next reference).
      ::shm_unlink(lane_->name().c_str());
      lane_.reset();
    }
  }
  if (lane_ == nullptr || creator_ != self) {
    const std::uint64_t sequence = next_of(g_sequence, kPayloadSequenceLimit);
    lane_ =
        create_segment(names_->name_of(self, sequence), sizeof(LaneHeader) + lane_capacity(bytes));
    sequence_ = sequence;
    creator_ = self;
    // relaxed: nobody else maps the new lane before its first reference is published.
    ::new (lane_->data()) LaneHeader{};
    header_of(*lane_).busy.store(kLaneWriting | kLaneReading, std::memory_order_relaxed);
  }
  // relaxed: the whole value unless the sender says otherwise (stream_from); the reference's
  // push through the ring (release) publishes it with the value.
  header_of(*lane_).written.store(bytes, std::memory_order_relaxed);
  out.discard();
  out.segment_ = lane_;
  out.offset_ = sizeof(LaneHeader);
  out.busy_ = &header_of(*lane_).busy;
  out.written_ = &header_of(*lane_).written;
  out.ref_ = PayloadRef{kPayloadLaneRefMagic, bytes, self, sequence_};
  return true;
}

void PayloadLanes::release(const PayloadRef& ref) noexcept {
  std::lock_guard lock(mu_);
  if (lane_ == nullptr || ref.magic != kPayloadLaneRefMagic || ref.sender != creator_ ||
      ref.sequence != sequence_) {
    return;
  }
  // release: as a receiver's release after reading (nobody will read this value); the
  // writing bit stays with a sender still streaming it.
  header_of(*lane_).busy.fetch_and(~kLaneReading, std::memory_order_release);
}

// ---- OutgoingPayload ----------------------------------------------------------------------

OutgoingPayload OutgoingPayload::create(const PayloadNames& names, std::size_t bytes,
                                        PayloadLanes* lanes) {
  OutgoingPayload out;
  if (lanes != nullptr && bytes <= kLaneMax && lanes->claim(bytes, out)) return out;
  out.ref_.magic = kPayloadRefMagic;
  out.ref_.bytes = bytes;
  out.ref_.sender = static_cast<std::int64_t>(ipc::detail::current_pid());
  out.ref_.sequence = next_of(g_sequence, kPayloadSequenceLimit);
  out.segment_ = create_segment(names.name_of(out.ref_.sender, out.ref_.sequence), bytes);
  return out;
}

OutgoingPayload& OutgoingPayload::operator=(OutgoingPayload&& other) noexcept {
  if (this != &other) {
    discard();
    segment_ = std::move(other.segment_);
    offset_ = other.offset_;
    busy_ = std::exchange(other.busy_, nullptr);
    written_ = std::exchange(other.written_, nullptr);
    ref_ = other.ref_;
  }
  return *this;
}

OutgoingPayload::~OutgoingPayload() {
  discard();
}

void OutgoingPayload::discard() noexcept {
  if (segment_ == nullptr) return;
  if (busy_ != nullptr) {
    // release: the lane is free again; nothing was sent.
    busy_->store(0, std::memory_order_release);
  } else {
    ::shm_unlink(segment_->name().c_str());  // never sent: nobody else knows the name
  }
  segment_.reset();
  busy_ = nullptr;
  written_ = nullptr;
}

void OutgoingPayload::stream_from(std::size_t bytes) noexcept {
  // relaxed: published with the value's other bytes by the reference's push (release).
  written_->store(bytes, std::memory_order_relaxed);
}

void OutgoingPayload::publish(std::size_t bytes) noexcept {
  // release: pairs with the receiver's acquire load in readable_from(): the bytes copied
  // before it are visible to the receiver that sees the new count.
  written_->store(bytes, std::memory_order_release);
}

std::uint64_t OutgoingPayload::keep_name() noexcept {
  if (segment_ == nullptr || busy_ != nullptr) return 0;
  ref_.magic = kPayloadKeptRefMagic;
  return ref_.sequence;
}

void OutgoingPayload::hand_over() noexcept {
  if (busy_ != nullptr) {
    publish(static_cast<std::size_t>(ref_.bytes));
    // release: pairs with the acquire CAS of our next claim (made by any thread of ours):
    // our writes of this value happen before the writes of the next. The lane stays busy
    // until the receiver has read the value too.
    busy_->fetch_and(~kLaneWriting, std::memory_order_release);
  }
  segment_.reset();  // a one-off segment is unmapped; its name stays for the receiver
  busy_ = nullptr;
  written_ = nullptr;
}

// ---- IncomingPayload ----------------------------------------------------------------------

IncomingPayload IncomingPayload::take(const PayloadNames& names, std::span<const std::byte> record,
                                      std::size_t limit, LaneView* view, UnlinkName unlink) {
  if (names.empty()) refuse("this end has no payload names");
  if (record.size() != sizeof(PayloadRef)) {
    refuse("the record is " + std::to_string(record.size()) + " bytes, not " +
           std::to_string(sizeof(PayloadRef)));
  }
  PayloadRef ref;
  std::memcpy(&ref, record.data(), sizeof ref);  // read once, then checked
  const bool lane = ref.magic == kPayloadLaneRefMagic;
  const bool kept = ref.magic == kPayloadKeptRefMagic;
  if (ref.magic != kPayloadRefMagic && !lane && !kept) refuse("its magic is wrong");
  if (lane && view == nullptr) refuse("a lane reference where none can arrive");
  if (ref.sender <= 0 || ref.sender > kPidMaxLimit) {
    refuse("its sender pid " + std::to_string(ref.sender) + " is out of range");
  }
  if (ref.bytes == 0 || ref.bytes > limit) {
    refuse("it announces " + std::to_string(ref.bytes) + " bytes, outside 1 .. " +
           std::to_string(limit) + " (max_payload)");
  }
  const std::string name = names.name_of(ref.sender, ref.sequence);
  IncomingPayload in;
  if (lane) {
    if (view->name_ != name) {
      view->reset();  // the sender replaced its lane: the old mapping goes
      try {
        view->segment_ = std::make_shared<ipc::Segment>(ipc::Segment::open(name));
      } catch (const ipc::IpcError& e) {
        refuse(std::string("its lane cannot be opened: ") + e.what());
      }
      view->name_ = name;
    }
    const ipc::Segment& segment = *view->segment_;
    if (segment.size() < sizeof(LaneHeader) || segment.size() - sizeof(LaneHeader) < ref.bytes) {
      refuse("its lane is " + std::to_string(segment.size()) + " bytes, too small for the " +
             std::to_string(ref.bytes) + " announced");
    }
    in.segment_ = view->segment_;
    in.bytes_ = segment.bytes().subspan(sizeof(LaneHeader), static_cast<std::size_t>(ref.bytes));
    in.busy_ = &header_of(segment).busy;
    in.written_ = &header_of(segment).written;
    return in;
  }
  try {
    // O_NOFOLLOW, a regular file of this uid with mode 0600.
    in.segment_ = std::make_shared<ipc::Segment>(ipc::Segment::open(name));
  } catch (const ipc::IpcError& e) {
    if (e.code() != ipc::IpcErrc::not_found && !kept) ::shm_unlink(name.c_str());
    refuse(std::string("its segment cannot be opened: ") + e.what());
  }
  // The value has been taken: nobody else may open the name, and its memory goes back
  // once this mapping is gone. A kept segment stays for a rerun; its sender removes it.
  // UnlinkName::on_release: the name stays until release() (also when refused below).
  if (!kept && unlink == UnlinkName::on_take) ::shm_unlink(name.c_str());
  if (!kept && unlink == UnlinkName::on_release) in.unlink_ = name;
  if (in.segment_->size() != ref.bytes) {
    refuse("its segment is " + std::to_string(in.segment_->size()) + " bytes, not the " +
           std::to_string(ref.bytes) + " announced");
  }
  in.bytes_ = in.segment_->bytes();
  return in;
}

IncomingPayload& IncomingPayload::operator=(IncomingPayload&& other) noexcept {
  if (this != &other) {
    release();
    segment_ = std::move(other.segment_);
    bytes_ = other.bytes_;
    busy_ = std::exchange(other.busy_, nullptr);
    written_ = std::exchange(other.written_, nullptr);
    unlink_ = std::exchange(other.unlink_, std::string());
  }
  return *this;
}

void IncomingPayload::release() noexcept {
  // release: pairs with the sender's acquire CAS in PayloadLanes::claim(): our reads of the
  // value happen before its writes of the next one. The writing bit stays with a sender
  // still streaming it (we may have stopped reading early: a decode error).
  if (busy_ != nullptr) busy_->fetch_and(~kLaneReading, std::memory_order_release);
  busy_ = nullptr;
  written_ = nullptr;
  segment_.reset();
  bytes_ = {};
  // After the unmap: the name goes last (UnlinkName::on_release: the caller releases the
  // value once a receiver that dies can no longer need it again).
  if (!unlink_.empty()) ::shm_unlink(unlink_.c_str());
  unlink_.clear();
}

}  // namespace ringpool::pool::detail
