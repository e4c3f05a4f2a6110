// ConnectionCore: the segment of a Pipe<T> and each end's view of it.
//
// Segment layout (anonymous, MAP_SHARED, mapped before fork):
//   [0, kRingsOffset)                 Shared: one owner record per end (plain data)
//   [kRingsOffset, +ring_bytes)       SPSC byte ring: second end sends, first end receives
//   [.. + ring_bytes, +ring_bytes)    duplex only: first end sends, second end receives
// Each ring region starts at a multiple of ipc::kRegionAlignment and carries its own
// validated header.
//
// Peer death: an end's owner record holds the process that last used it, packed into one
// 64-bit word so it is written and read whole: bits 0..21 the pid (Linux pids are below
// 2^22), bits 22..63 the process start time in clock ticks since boot (field 22 of
// /proc/<pid>/stat; 0 when unknown). A blocked call on the other end reads the word and
// calls the process gone when kill(pid, 0) fails with ESRCH, when /proc says it is a
// zombie (an unreaped child still has its pid: a parent blocked in recv would otherwise
// never see its killed child go), or when the pid now belongs to a process with another
// start time (pid reuse).
#include "ringpool/pool/pipe.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <type_traits>

#include "ringpool/ipc/detail/process_probe.hpp"
#include "ringpool/ipc/segment.hpp"

namespace ringpool::pool::detail {

namespace {
constexpr std::size_t kRingsOffset = 256;
constexpr unsigned kPidBits = 22;
constexpr std::uint64_t kPidMask = (std::uint64_t{1} << kPidBits) - 1;
constexpr std::uint64_t kStartTimeLimit = std::uint64_t{1} << (64 - kPidBits);
}  // namespace

struct ConnectionCore::Shared {
  // One end's owner word (see the top of this file); 0 until the end is first used.
  struct alignas(128) Owner {
    std::atomic<std::uint64_t> word;
  };
  Owner owners[2];
};

static_assert(std::is_standard_layout_v<ConnectionCore::Shared>);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(sizeof(ConnectionCore::Shared) == kRingsOffset);
static_assert(kRingsOffset % ipc::kRegionAlignment == 0);

namespace {

// This process's owner word, computed once per process: forgotten in a forked child.
std::atomic<std::uint64_t> g_self_word{0};

void forget_self_word() noexcept {
  // relaxed: process-local cache; the child recomputes it on its first use.
  g_self_word.store(0, std::memory_order_relaxed);
}

std::uint64_t self_word() {
  // relaxed: every thread computes the same value; a thread that sees 0 recomputes it.
  std::uint64_t word = g_self_word.load(std::memory_order_relaxed);
  if (word != 0) [[likely]] {
    return word;
  }
  static std::once_flag registered;
  std::call_once(registered,
                 [] { static_cast<void>(::pthread_atfork(nullptr, nullptr, forget_self_word)); });
  const pid_t pid = ::getpid();
  ipc::detail::ProcStat stat;
  const std::uint64_t start =
      ipc::detail::read_proc_stat(pid, stat) && stat.start_time < kStartTimeLimit ? stat.start_time
                                                                                  : 0;
  word = (start << kPidBits) | (static_cast<std::uint64_t>(pid) & kPidMask);
  // relaxed: as the load above.
  g_self_word.store(word, std::memory_order_relaxed);
  return word;
}

// True when the process an owner word names has exited (or never was: its pid is free or
// taken by a younger process). `word` is non-zero and its pid non-zero (checked by the
// caller); the pid is then in 1..2^22-1, never <= 0.
bool owner_exited(std::uint64_t word) {
  const auto pid = static_cast<pid_t>(word & kPidMask);
  const std::uint64_t start = word >> kPidBits;
  if (::kill(pid, 0) == -1 && errno == ESRCH) return true;
  ipc::detail::ProcStat stat;
  // Unreadable: gone between the two calls when we could read a start time before.
  if (!ipc::detail::read_proc_stat(pid, stat)) return start != 0;
  if (stat.state == 'Z' || stat.state == 'X') return true;
  return start != 0 && stat.start_time != start;
}

}  // namespace

ConnectionCore::Pair ConnectionCore::create_pair(const Spec& spec) {
  if (spec.capacity == 0) {
    throw InvalidArgument(
        "ringpool: Pipe capacity 0: a pipe buffers at least one message per direction; "
        "leave PipeOptions::capacity at its default (" +
        std::to_string(kDefaultPipeCapacity) + ") or pass at least 1");
  }
  if (spec.slot_size < spec.min_slot_size) {
    throw InvalidArgument("ringpool: Pipe slot_size " + std::to_string(spec.slot_size) +
                          " is smaller than the " + std::to_string(spec.min_slot_size) +
                          " bytes every message encodes to; leave slot_size 0 to get the "
                          "right size");
  }
  std::size_t ring_bytes = 0;
  try {
    ring_bytes = ipc::SpscByteRing::required_bytes(spec.capacity, spec.slot_size);
  } catch (const ipc::IpcError& e) {
    throw InvalidArgument(std::string("ringpool: Pipe: capacity ") + std::to_string(spec.capacity) +
                          " or slot_size " + std::to_string(spec.slot_size) + " is out of range (" +
                          e.what() + "); pass smaller values");
  }
  ring_bytes =
      (ring_bytes + ipc::kRegionAlignment - 1) / ipc::kRegionAlignment * ipc::kRegionAlignment;
  const std::size_t rings = spec.duplex ? 2 : 1;
  auto segment =
      std::make_shared<ipc::Segment>(ipc::Segment::anonymous(kRingsOffset + rings * ring_bytes));
  // The mapping is fresh and zero-filled, which is also the idle state of every owner.
  auto* shared = ::new (segment->data()) Shared();

  std::shared_ptr<ConnectionCore> first(new ConnectionCore);
  std::shared_ptr<ConnectionCore> second(new ConnectionCore);
  for (ConnectionCore* core : {first.get(), second.get()}) {
    core->segment_ = segment;
    core->shared_ = shared;
    core->slot_size_ = spec.slot_size;
  }
  first->end_ = 0;
  second->end_ = 1;
  ipc::RingOptions ring_options;
  ring_options.wait = spec.wait;
  auto back = ipc::SpscByteRing::create(segment->bytes().subspan(kRingsOffset, ring_bytes),
                                        spec.capacity, spec.slot_size, ring_options);
  second->tx_ = std::move(back.producer);
  first->rx_ = std::move(back.consumer);
  if (spec.duplex) {
    auto forth =
        ipc::SpscByteRing::create(segment->bytes().subspan(kRingsOffset + ring_bytes, ring_bytes),
                                  spec.capacity, spec.slot_size, ring_options);
    first->tx_ = std::move(forth.producer);
    second->rx_ = std::move(forth.consumer);
  }
  return {std::move(first), std::move(second)};
}

void ConnectionCore::enter() {
  const std::uint64_t word = self_word();
  if (registered_ == word) [[likely]] {
    return;
  }
  // release: pairs with the acquire load in peer_gone() of the other end; only the word
  // itself is published.
  shared_->owners[end_].word.store(word, std::memory_order_release);
  registered_ = word;
}

bool ConnectionCore::peer_gone(const char* operation) {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_peer_check_ < kPipePeerCheckPeriod / 2) return false;
  last_peer_check_ = now;
  // acquire: pairs with the release store in enter() of the other end.
  const std::uint64_t word = shared_->owners[1 - end_].word.load(std::memory_order_acquire);
  if (word == 0) return false;  // the other end was never used: nothing to watch
  if ((word & kPidMask) == 0) {
    throw Corrupted(std::string("ringpool: Connection::") + operation +
                    ": the other end's owner record in shared memory names pid 0 (a process "
                    "wrote garbage into the pipe's segment); the pipe cannot be used any more");
  }
  if (!owner_exited(word)) return false;
  close();
  return true;
}

void ConnectionCore::close() noexcept {
  // Each close() is a seq_cst store of the ring's closed flag that wakes both sides.
  if (tx_.valid()) tx_.close();
  if (rx_.valid()) rx_.close();
}

bool ConnectionCore::is_closed() const noexcept {
  return (tx_.valid() && tx_.is_closed()) || (rx_.valid() && rx_.is_closed());
}

void ConnectionCore::throw_closed(const char* operation) const {
  const bool sending = std::strcmp(operation, "send") == 0;
  throw Closed(std::string("ringpool: Connection::") + operation +
               (sending ? ": the pipe is closed (an end called close() or the receiving "
                          "end's process exited); nothing was sent"
                        : ": the pipe is closed (an end called close() or the sending end's "
                          "process exited) and every message has been received"));
}

void ConnectionCore::throw_corrupted(const char* operation) const {
  throw Corrupted(std::string("ringpool: Connection::") + operation +
                  ": the pipe's ring in shared memory holds impossible indices or lengths (a "
                  "process wrote garbage into it); it cannot be used any more: create a new "
                  "Pipe");
}

void ConnectionCore::throw_timeout(const char* operation, std::chrono::nanoseconds timeout) {
  const bool sending = std::strcmp(operation, "send") == 0;
  throw Timeout(std::string("ringpool: Connection::") + operation +
                (sending ? ": the pipe stayed full for the whole timeout of "
                         : ": nothing arrived within the timeout of ") +
                std::to_string(timeout.count()) + " ns; the pipe is still usable: " +
                (sending ? "wait longer or let the other end receive" : "wait longer"));
}

void ConnectionCore::throw_wrong_direction(const char* operation, const char* what) {
  throw InvalidState(std::string("ringpool: Connection::") + operation +
                     ": this end of a one-way Pipe " + what +
                     " (Pipe<T>(false) returns {receive-only end, send-only end}, as Python's "
                     "r, w = Pipe(False)); use the other end, or Pipe<T>() for both directions");
}

}  // namespace ringpool::pool::detail
