#pragma once
// Pipe<T>: Python's multiprocessing.Pipe(duplex) over SPSC byte rings in one shared-memory
// segment.
//
//   auto [a, b] = ringpool::pool::Pipe<std::string>();   // duplex: both ends send and recv
//   Process child([b]() mutable { b.send(b.recv() + " pong"); });
//   child.start();
//   a.send("ping");
//   std::string reply = a.recv();                        // "ping pong"
//
// Create the pipe before the processes that use it (fork start method): the anonymous
// mapping is inherited across fork. One process (one thread at a time) uses each end, as
// in Python; the two ends may be in one process (threads) or two.
//
// Semantics, as Python's Connection where it has them:
//  - send(x) blocks while the direction holds `capacity` unread messages (Python blocks
//    when the OS pipe buffer is full); recv() blocks until a message arrives.
//  - Pipe(false): one-way; the first end only receives, the second only sends (Python's
//    r, w = Pipe(False)). The wrong call throws InvalidState.
//  - close() on either end closes the whole pipe: both ends' sends throw Closed at once,
//    recvs return what is still buffered and then throw Closed (Python's EOFError). Unlike
//    Python, closing one copy of an end closes it for every process, and a closed end may
//    still drain its own buffered messages.
//  - Any T with a Codec<T> travels. One message is one ring slot: an encoding larger than
//    slot_size() throws PayloadTooLarge before anything is sent (PipeOptions::slot_size
//    raises the limit; there is no fragmentation of larger messages).
//  - Peer death (process liveness, not a flag set by destructors): each end records the
//    process that last used it (pid and start time, on its first send/recv/poll in that
//    process). A blocked recv, poll or send looks every kPipePeerCheckPeriod at the other
//    end's process; once it has exited (also as an unreaped zombie, or when its pid now
//    belongs to a younger process) the pipe is closed as by close(): recv drains, then
//    throws Closed; send throws Closed. Limits: an end never used is not watched (a child
//    that dies before its first call on its end leaves the other side's recv() waiting; use
//    recv(timeout) or poll(timeout) when that can happen); a send that finds room succeeds
//    even if the reader died, as writing into an OS pipe's buffer does.
//  - Hostile shared memory: impossible ring indices or lengths, or an impossible owner
//    record, throw Corrupted; a recv with a timeout always returns by its deadline.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "ringpool/ipc/byte_ring.hpp"
#include "ringpool/ipc/errors.hpp"
#include "ringpool/ipc/ring_options.hpp"
#include "ringpool/pool/codec.hpp"
#include "ringpool/pool/errors.hpp"
#include "ringpool/pool/queue.hpp"

namespace ringpool::pool {

// Messages buffered per direction by default (send blocks beyond it).
inline constexpr std::size_t kDefaultPipeCapacity = 64;
// How often a blocked recv, poll or send checks whether the other end's process exited.
inline constexpr std::chrono::milliseconds kPipePeerCheckPeriod{100};

// Every member has an initialiser, so designated initialisers may name any subset.
struct PipeOptions {
  // Largest encoded message in bytes. 0: Codec<T>::fixed_size for fixed-size T, else
  // kDefaultQueueSlotSize (1024).
  std::size_t slot_size = 0;
  // Messages buffered per direction, rounded up to a power of two. The segment maps about
  // capacity * round_up(slot_size + 16, 16) bytes per direction.
  std::size_t capacity = kDefaultPipeCapacity;
  // How blocked calls wait: futex (default: sleep, cores stay idle), spin, yield.
  ipc::WaitStrategy wait = ipc::WaitStrategy::futex;
};

namespace detail {

// One end of a pipe, type-independent (pipe.cpp): the ring ends it sends and receives
// on, the shared segment, and the owner records for peer-death detection.
class ConnectionCore {
 public:
  struct Spec {
    bool duplex = true;
    std::size_t capacity = 0;
    std::size_t slot_size = 0;      // resolved (never 0)
    std::size_t min_slot_size = 0;  // fixed size of T, 0 when variable
    ipc::WaitStrategy wait = ipc::WaitStrategy::futex;
  };
  using Pair = std::pair<std::shared_ptr<ConnectionCore>, std::shared_ptr<ConnectionCore>>;

  // Maps the segment and creates both rings (one when !duplex). Throws InvalidArgument.
  static Pair create_pair(const Spec& spec);

  // The send ring for `operation`, after recording this process as the end's user.
  // Throws InvalidState on the receive-only end of a one-way pipe.
  ipc::SpscByteProducer& sender(const char* operation) {
    if (!tx_.valid()) throw_wrong_direction(operation, "only receives");
    enter();
    return tx_;
  }
  // The receive ring, likewise; InvalidState on the send-only end.
  ipc::SpscByteConsumer& receiver(const char* operation) {
    if (!rx_.valid()) throw_wrong_direction(operation, "only sends");
    enter();
    return rx_;
  }

  // Slow path of a blocked call: true when the other end's recorded process has exited;
  // the pipe is then closed (as by close()), so the caller's next ring call reports
  // `closed` (a recv after draining). Looks at most once per half kPipePeerCheckPeriod per
  // handle (false in between), so poll(0) in a loop costs no system call each time.
  // Throws Corrupted on an impossible owner record.
  bool peer_gone(const char* operation);

  void close() noexcept;
  [[nodiscard]] bool is_closed() const noexcept;
  [[nodiscard]] bool can_send() const noexcept { return tx_.valid(); }
  [[nodiscard]] bool can_recv() const noexcept { return rx_.valid(); }
  [[nodiscard]] std::size_t slot_size() const noexcept { return slot_size_; }

  [[noreturn]] void throw_closed(const char* operation) const;
  [[noreturn]] void throw_corrupted(const char* operation) const;
  [[noreturn]] static void throw_timeout(const char* operation, std::chrono::nanoseconds timeout);

  struct Shared;  // the header at the start of the segment (pipe.cpp)

 private:
  ConnectionCore() = default;
  // Records this process as the user of this end, unless it already is (one load and
  // compare after the first call in a process).
  void enter();
  [[noreturn]] static void throw_wrong_direction(const char* operation, const char* what);

  std::shared_ptr<ipc::Segment> segment_;
  Shared* shared_ = nullptr;
  ipc::SpscByteProducer tx_;  // invalid on the receive-only end
  ipc::SpscByteConsumer rx_;  // invalid on the send-only end
  std::size_t end_ = 0;       // 0: the first end returned by Pipe, 1: the second
  std::size_t slot_size_ = 0;
  std::uint64_t registered_ = 0;  // the owner word this handle last recorded
  std::chrono::steady_clock::time_point last_peer_check_{};
};

}  // namespace detail

template <class T>
class Connection;

// Python's Pipe(duplex): two connected ends. duplex false: the first end only receives,
// the second only sends. Throws InvalidArgument (capacity 0, slot_size smaller than T's
// fixed size, sizes too large to map).
template <class T>
[[nodiscard]] std::pair<Connection<T>, Connection<T>> Pipe(bool duplex = true,
                                                           PipeOptions options = {});

// One end of a Pipe<T>. Copies share the end (and its position in each ring): use an end
// from one thread at a time, in one process. Any process that inherited it by fork may be
// that process.
template <class T>
class Connection {
  static_assert(Encodable<T>, "Connection<T> needs a Codec<T> (see ringpool/pool/codec.hpp)");

 public:
  using value_type = T;

  // Blocks while the direction is full. Throws PayloadTooLarge (nothing sent), Closed
  // (closed, or the receiving end's process exited), InvalidState (receive-only end),
  // Corrupted.
  void send(const T& value) { send_impl(value, std::nullopt); }
  // Waits at most `timeout` for room; Timeout when the direction stayed full.
  void send(const T& value, std::chrono::nanoseconds timeout) { send_impl(value, timeout); }

  // Blocks until a message arrives. Throws Closed once the pipe is closed (or the sending
  // end's process exited) and drained, DecodeError (the message is dropped), InvalidState
  // (send-only end), Corrupted.
  [[nodiscard]] T recv() { return recv_impl(std::nullopt); }
  // Waits at most `timeout`; Timeout when nothing arrived (the pipe stays usable).
  [[nodiscard]] T recv(std::chrono::nanoseconds timeout) { return recv_impl(timeout); }
  // Never waits: nullopt when nothing is buffered (closed or not, see is_closed()).
  [[nodiscard]] std::optional<T> try_recv() {
    std::optional<T> out;
    ipc::SpscByteConsumer& rx = core_->receiver("try_recv");
    static_cast<void>(rx.try_pop_with(
        [&](std::span<const std::byte> bytes) { out.emplace(Codec<T>::decode(bytes)); }));
    if (rx.corrupted()) core_->throw_corrupted("try_recv");
    return out;
  }

  // Python's poll(timeout): true when recv() would not block, i.e. a message is buffered or
  // the pipe is closed and drained (recv then throws Closed); false when nothing arrived
  // within `timeout` (0: look without waiting). Throws InvalidState (send-only end),
  // Corrupted.
  [[nodiscard]] bool poll(std::chrono::nanoseconds timeout = std::chrono::nanoseconds(0)) {
    ipc::SpscByteConsumer& rx = core_->receiver("poll");
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      ipc::OpStatus status = ipc::OpStatus::ok;
      try {
        status = rx.wait_readable(slice(deadline));
      } catch (const ipc::IpcError& e) {
        if (e.code() == ipc::IpcErrc::corrupt_indices) core_->throw_corrupted("poll");
        throw;
      }
      if (status != ipc::OpStatus::timeout) return true;
      if (core_->peer_gone("poll")) continue;  // closed now: the next wait says so
      if (std::chrono::steady_clock::now() >= deadline) return false;
    }
  }

  // Closes the pipe for both ends and every process (see the header comment). Idempotent.
  void close() noexcept { core_->close(); }
  [[nodiscard]] bool is_closed() const noexcept { return core_->is_closed(); }
  // Python's readable / writable: false for the send-only / receive-only end.
  [[nodiscard]] bool readable() const noexcept { return core_->can_recv(); }
  [[nodiscard]] bool writable() const noexcept { return core_->can_send(); }
  // Largest encoded message in bytes.
  [[nodiscard]] std::size_t slot_size() const noexcept { return core_->slot_size(); }

 private:
  template <class U>
  friend std::pair<Connection<U>, Connection<U>> Pipe(bool duplex, PipeOptions options);
  explicit Connection(std::shared_ptr<detail::ConnectionCore> core) : core_(std::move(core)) {}

  using Clock = std::chrono::steady_clock;

  // The next wait: up to the peer check period, never past `deadline`.
  static std::chrono::nanoseconds slice(std::optional<Clock::time_point> deadline) {
    std::chrono::nanoseconds s = kPipePeerCheckPeriod;
    if (deadline) {
      const auto left =
          std::chrono::duration_cast<std::chrono::nanoseconds>(*deadline - Clock::now());
      s = std::max(std::chrono::nanoseconds(0), std::min(s, left));
    }
    return s;
  }

  void send_impl(const T& value, std::optional<std::chrono::nanoseconds> timeout) {
    ipc::SpscByteProducer& tx = core_->sender("send");
    const std::size_t n = Codec<T>::size(value);
    if (n > core_->slot_size()) throw PayloadTooLarge(n, core_->slot_size(), "pipe message");
    if (tx.is_closed()) core_->throw_closed("send");
    // An encoder that may throw writes into a buffer first: a claimed slot is committed.
    constexpr bool kNoexceptEncode = noexcept(Codec<T>::encode(value, std::span<std::byte>()));
    std::vector<std::byte> bytes;
    if constexpr (!kNoexceptEncode) {
      bytes.resize(n);
      Codec<T>::encode(value, bytes);
    }
    std::optional<Clock::time_point> deadline;
    if (timeout) deadline = Clock::now() + *timeout;
    std::span<std::byte> room = tx.claim(n);
    while (room.data() == nullptr) {
      ipc::OpStatus status = ipc::OpStatus::ok;
      try {
        status = tx.claim(n, room, slice(deadline));
      } catch (const ipc::IpcError& e) {
        if (e.code() == ipc::IpcErrc::corrupt_indices) core_->throw_corrupted("send");
        throw;
      }
      if (status == ipc::OpStatus::ok) break;
      if (status == ipc::OpStatus::closed) core_->throw_closed("send");
      if (core_->peer_gone("send")) core_->throw_closed("send");
      if (deadline && Clock::now() >= *deadline) {
        detail::ConnectionCore::throw_timeout("send", *timeout);
      }
    }
    if constexpr (kNoexceptEncode) {
      Codec<T>::encode(value, room);
    } else {
      std::copy(bytes.begin(), bytes.end(), room.begin());
    }
    tx.commit(n);
  }

  T recv_impl(std::optional<std::chrono::nanoseconds> timeout) {
    ipc::SpscByteConsumer& rx = core_->receiver("recv");
    std::optional<T> out;
    auto visit = [&](std::span<const std::byte> bytes) { out.emplace(Codec<T>::decode(bytes)); };
    if (rx.try_pop_with(visit)) return std::move(*out);
    std::optional<Clock::time_point> deadline;
    if (timeout) deadline = Clock::now() + *timeout;
    for (;;) {
      ipc::OpStatus status = ipc::OpStatus::ok;
      try {
        status = rx.pop_with(visit, slice(deadline));
      } catch (const ipc::IpcError& e) {
        if (e.code() == ipc::IpcErrc::corrupt_indices) core_->throw_corrupted("recv");
        throw;
      }
      if (status == ipc::OpStatus::ok) return std::move(*out);
      if (status == ipc::OpStatus::closed) core_->throw_closed("recv");
      if (core_->peer_gone("recv")) continue;  // closed now: drain, then Closed
      if (deadline && Clock::now() >= *deadline) {
        detail::ConnectionCore::throw_timeout("recv", *timeout);
      }
    }
  }

  std::shared_ptr<detail::ConnectionCore> core_;
};

template <class T>
std::pair<Connection<T>, Connection<T>> Pipe(bool duplex, PipeOptions options) {
  static_assert(Encodable<T>, "Pipe<T> needs a Codec<T> (see ringpool/pool/codec.hpp)");
  detail::ConnectionCore::Spec spec;
  spec.duplex = duplex;
  spec.capacity = options.capacity;
  if constexpr (detail::FixedSize<T>) spec.min_slot_size = Codec<T>::fixed_size;
  spec.slot_size = options.slot_size;
  if (spec.slot_size == 0) {
    spec.slot_size = spec.min_slot_size != 0 ? spec.min_slot_size : kDefaultQueueSlotSize;
  }
  spec.wait = options.wait;
  auto [first, second] = detail::ConnectionCore::create_pair(spec);
  return {Connection<T>(std::move(first)), Connection<T>(std::move(second))};
}

}  // namespace ringpool::pool
