#pragma once
// The ring benchmark's transports (ring_bench.cpp): one-way links of one item type over
// ringpool's SPSC and MPMC rings, Boost.Lockfree's spsc_queue and queue, Boost.Interprocess's
// message_queue, a pipe and a socket pair; the items they move and the trial control line
// the two processes share. Hot calls are templates: no virtual call in a timed loop.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/date_time/posix_time/posix_time_types.hpp>
#include <boost/interprocess/ipc/message_queue.hpp>
#include <boost/lockfree/queue.hpp>
#include <boost/lockfree/spsc_queue.hpp>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <type_traits>

#include "ringpool/bench/child.hpp"
#include "ringpool/bench/errors.hpp"
#include "ringpool/bench/pingpong.hpp"
#include "ringpool/bench/spin.hpp"
#include "ringpool/ipc/mpmc_ring.hpp"
#include "ringpool/ipc/spsc_ring.hpp"

namespace ringpool::bench::ring_links {

constexpr std::size_t kCapacity = 4096;  // slots of every ring / queue (power of two)
constexpr std::size_t kBatch = 32;
constexpr std::chrono::seconds kWaitTimeout{60};  // a peer silent this long has failed

// The items moved: a sequence number (checked by the receiver) plus padding.
struct Item8 {
  std::uint64_t seq;
};
struct Item64 {
  std::uint64_t seq;
  std::uint64_t pad[7];
};
static_assert(sizeof(Item8) == 8 && sizeof(Item64) == 64);
static_assert(std::is_trivially_copyable_v<Item64> && std::is_trivially_destructible_v<Item64>);

// Which end of a one-way link this process holds (fd transports close the other end).
enum class Role { producer, consumer };

// Trial progress, child -> parent, on its own line next to the probe line.
constexpr std::uint32_t kStageWarm = 1;     // warm-up items consumed
constexpr std::uint32_t kStageDone = 2;     // timed items consumed
constexpr std::uint32_t kStageFailed = 99;  // the child threw; join() has its message
struct TrialControl {
  PingPongLine probe;
  alignas(128) std::atomic<std::uint32_t> stage{0};
  char pad[128 - sizeof(std::atomic<std::uint32_t>)] = {};
};
static_assert(std::is_standard_layout_v<TrialControl>);

// Thrown in the parent when the child reported failure; the trial then joins for the reason.
struct PeerFailed {};

// Failed-attempt bookkeeping in busy loops: PAUSE, and every 4096 failures a yield and a look
// at the deadline and at the peer's failure flag.
class Backoff {
 public:
  explicit Backoff(const TrialControl& control)
      : control_(control), deadline_(std::chrono::steady_clock::now() + kWaitTimeout) {}
  void fail() {
    cpu_relax();
    if ((++fails_ & 4095U) == 0) check();
  }

 private:
  void check() const {
    detail::yield_cpu();  // a long wait: let the peer run if the CPUs are oversubscribed
    // acquire: pairs with the child's release store of kStageFailed in its failure path.
    if (control_.stage.load(std::memory_order_acquire) == kStageFailed) throw PeerFailed{};
    if (std::chrono::steady_clock::now() > deadline_)
      throw BenchError(BenchErrc::child_timeout,
                       "ring benchmark: the peer process made no progress for 60 s");
  }
  const TrialControl& control_;
  std::chrono::steady_clock::time_point deadline_;
  std::uint32_t fails_ = 0;
};

// A non-standard-layout object (a Boost queue) in an anonymous shared mapping. Boost's
// compile-time-sized queues keep their storage inline and are process-shared by design;
// fork maps it at the same address in both processes.
template <class Q>
class SharedRaw {
 public:
  SharedRaw() : q_(new (detail::map_shared(sizeof(Q))) Q()) {}
  ~SharedRaw() {
    q_->~Q();
    detail::unmap_shared(q_, sizeof(Q));
  }
  SharedRaw(const SharedRaw&) = delete;
  SharedRaw& operator=(const SharedRaw&) = delete;
  Q* operator->() const noexcept { return q_; }

 private:
  Q* q_;
};

// ---- links: one direction, one item type; hot calls are templates, no virtual calls -----

// The non-blocking hot path only: a spin ring publishes with a plain release store (futex
// rings add a waiter check for their blocking calls, which the bench does not use).
inline ipc::RingOptions spin_ring() {
  ipc::RingOptions o;
  o.wait = ipc::WaitStrategy::spin;
  return o;
}

// ringpool's SpscRing<T> or MpmcRing<T>: the producer process uses one end, the consumer
// the other.
template <class Ring, class T>
class RingpoolLink {
 public:
  explicit RingpoolLink(std::size_t /*batch*/)
      : ring_(Ring::create_anonymous(kCapacity, spin_ring())) {}
  void become(Role /*role*/) {}
  bool try_push(const T& v) noexcept { return ring_.producer.try_push(v); }
  std::size_t push_some(const T* p, std::size_t n) noexcept {
    return ring_.producer.try_push_n(std::span<const T>(p, n));
  }
  bool try_pop(T& v) noexcept { return ring_.consumer.try_pop(v); }
  std::size_t pop_some(T* p, std::size_t n) noexcept {
    return ring_.consumer.try_pop_n(std::span<T>(p, n));
  }

 private:
  typename Ring::Ends ring_;
};

template <class T>
using RingpoolSpscLink = RingpoolLink<ipc::SpscRing<T>, T>;
template <class T>
using RingpoolMpmcLink = RingpoolLink<ipc::MpmcRing<T>, T>;

template <class T>
class BoostSpscLink {
  using Queue = boost::lockfree::spsc_queue<T, boost::lockfree::capacity<kCapacity>>;

 public:
  explicit BoostSpscLink(std::size_t /*batch*/) {}
  void become(Role /*role*/) {}
  bool try_push(const T& v) noexcept { return q_->push(v); }
  std::size_t push_some(const T* p, std::size_t n) noexcept { return q_->push(p, n); }
  bool try_pop(T& v) noexcept { return q_->pop(v); }
  std::size_t pop_some(T* p, std::size_t n) noexcept { return q_->pop(p, n); }

 private:
  SharedRaw<Queue> q_;
};

// boost::lockfree::queue has no batch calls: a batch is a loop of single calls.
template <class T>
class BoostQueueLink {
  using Queue = boost::lockfree::queue<T, boost::lockfree::capacity<kCapacity>>;

 public:
  explicit BoostQueueLink(std::size_t /*batch*/) {}
  void become(Role /*role*/) {}
  bool try_push(const T& v) noexcept { return q_->bounded_push(v); }
  std::size_t push_some(const T* p, std::size_t n) noexcept {
    std::size_t k = 0;
    while (k < n && q_->bounded_push(p[k])) ++k;
    return k;
  }
  bool try_pop(T& v) noexcept { return q_->pop(v); }
  std::size_t pop_some(T* p, std::size_t n) noexcept {
    std::size_t k = 0;
    while (k < n && q_->pop(p[k])) ++k;
    return k;
  }

 private:
  SharedRaw<Queue> q_;
};

// Boost.Interprocess message_queue: a batch is one message carrying `batch` items. The name
// is removed right after creation (the mapping lives on), so nothing stays in /dev/shm.
namespace bip = boost::interprocess;

template <class T>
class MessageQueueLink {
 public:
  explicit MessageQueueLink(std::size_t batch) : batch_(batch) {
    static std::atomic<unsigned> counter{0};
    const std::string name = "ringpool-bench-mq-" + std::to_string(getpid()) + "-" +
                             std::to_string(counter.fetch_add(1, std::memory_order_relaxed));
    try {
      bip::message_queue::remove(name.c_str());
      mq_ = std::make_unique<bip::message_queue>(bip::create_only, name.c_str(), kCapacity / batch,
                                                 batch * sizeof(T));
      bip::message_queue::remove(name.c_str());
    } catch (const bip::interprocess_exception& e) {
      bip::message_queue::remove(name.c_str());
      throw BenchError(BenchErrc::system_error,
                       std::string("cannot create a Boost message_queue: ") + e.what());
    }
  }
  void become(Role /*role*/) {
    deadline_ = boost::posix_time::microsec_clock::universal_time() +
                boost::posix_time::seconds(kWaitTimeout.count());
  }
  bool try_push(const T& v) { return send(&v, 1); }
  std::size_t push_some(const T* p, std::size_t n) { return send(p, n) ? n : 0; }
  bool try_pop(T& v) { return receive(&v, 1) == 1; }
  std::size_t pop_some(T* p, std::size_t n) { return receive(p, n); }

 private:
  bool send(const T* p, std::size_t n) {
    if (!mq_->timed_send(p, n * sizeof(T), 0, deadline_)) timeout();
    return true;
  }
  std::size_t receive(T* p, std::size_t n) {
    if (n != batch_)
      throw BenchError(BenchErrc::invalid_argument, "message_queue: receive of a partial batch");
    bip::message_queue::size_type got = 0;
    unsigned priority = 0;
    if (!mq_->timed_receive(p, n * sizeof(T), got, priority, deadline_)) timeout();
    return static_cast<std::size_t>(got) / sizeof(T);
  }
  [[noreturn]] static void timeout() {
    throw BenchError(BenchErrc::child_timeout, "message_queue: the peer stopped for 60 s");
  }
  std::size_t batch_;
  std::unique_ptr<bip::message_queue> mq_;
  boost::posix_time::ptime deadline_;
};

// pipe / Unix socketpair: fds[0] is written, fds[1] is read; each process closes the end
// it does not use, so a dead peer shows as EOF / EPIPE instead of a hang.
template <class T, bool kSocket>
class FdLink {
 public:
  explicit FdLink(std::size_t /*batch*/) {
    int fds[2] = {-1, -1};
    if constexpr (kSocket) {
      if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
        throw BenchError(BenchErrc::system_error, "socketpair(AF_UNIX, SOCK_STREAM)", errno);
      write_fd_ = fds[0];
      read_fd_ = fds[1];
    } else {
      if (pipe2(fds, O_CLOEXEC) != 0) throw BenchError(BenchErrc::system_error, "pipe2", errno);
      read_fd_ = fds[0];
      write_fd_ = fds[1];
    }
  }
  ~FdLink() {
    if (read_fd_ >= 0) close(read_fd_);
    if (write_fd_ >= 0) close(write_fd_);
  }
  FdLink(const FdLink&) = delete;
  FdLink& operator=(const FdLink&) = delete;

  void become(Role role) {
    int& unused = role == Role::producer ? read_fd_ : write_fd_;
    close(unused);
    unused = -1;
  }
  bool try_push(const T& v) {
    write_all(&v, sizeof(T));
    return true;
  }
  std::size_t push_some(const T* p, std::size_t n) {
    write_all(p, n * sizeof(T));
    return n;
  }
  bool try_pop(T& v) {
    read_exact(reinterpret_cast<char*>(&v), sizeof(T));
    return true;
  }
  // Blocks for at least one item; returns the whole items read.
  std::size_t pop_some(T* p, std::size_t n) {
    auto* bytes = reinterpret_cast<char*>(p);
    const std::size_t got = read_some(bytes, n * sizeof(T));
    const std::size_t partial = got % sizeof(T);
    if (partial != 0) read_exact(bytes + got, sizeof(T) - partial);
    return (got + sizeof(T) - 1) / sizeof(T);
  }

 private:
  void write_all(const void* p, std::size_t n) const {
    const auto* bytes = static_cast<const char*>(p);
    while (n > 0) {
      ssize_t w = 0;
      if constexpr (kSocket) {
        w = ::send(write_fd_, bytes, n, MSG_NOSIGNAL);
      } else {
        w = ::write(write_fd_, bytes, n);
      }
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) throw BenchError(BenchErrc::child_failed, "write to the peer failed", errno);
      bytes += w;
      n -= static_cast<std::size_t>(w);
    }
  }
  std::size_t read_some(char* p, std::size_t n) const {
    for (;;) {
      const ssize_t r = ::read(read_fd_, p, n);
      if (r > 0) return static_cast<std::size_t>(r);
      if (r < 0 && errno == EINTR) continue;
      throw BenchError(BenchErrc::child_failed,
                       r == 0 ? "the peer closed its end (it failed or exited early)"
                              : "read from the peer failed",
                       r == 0 ? 0 : errno);
    }
  }
  void read_exact(char* p, std::size_t n) const {
    while (n > 0) {
      const std::size_t r = read_some(p, n);
      p += r;
      n -= r;
    }
  }
  int read_fd_ = -1;
  int write_fd_ = -1;
};

template <class T>
using PipeLink = FdLink<T, false>;
template <class T>
using SocketLink = FdLink<T, true>;

}  // namespace ringpool::bench::ring_links
