#pragma once
// Large payloads (internal to ringpool::pool; docs/codec.md, "Any size"): a value whose
// encoding does not fit a ring slot travels by reference. The sender creates a one-off
// POSIX shared-memory segment of exactly the encoded size (O_CREAT|O_EXCL, mode 0600),
// encodes the value straight into its mapping, unmaps it and sends a PayloadRef through
// the ring. The receiver opens the segment the reference names (O_NOFOLLOW; owner, mode
// and size checked), unlinks its name at once, decodes and unmaps: the memory goes back
// as soon as the value has been read, and a receiver that dies while decoding leaks
// nothing (its mapping dies with it).
//
// Names: "/ringpool-blob-<owner pid>-<owner serial>-<sender pid>-<sequence>". The owner
// (a Pool, a Queue) knows its own part and can remove every leftover of it (a sender that
// died after creating a segment, a reference that was never read); a reference carries
// only the numbers (sender, sequence), so a forged one can name nothing outside its
// owner's prefix.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <type_traits>

#include "ringpool/ipc/segment.hpp"

namespace ringpool::pool::detail {

inline constexpr std::uint64_t kPayloadRefMagic = 0x3146455259415052ULL;  // "RPAYREF1"

// What travels through the ring in place of a large value. Plain data, read from shared
// memory as raw bytes and checked (IncomingPayload::take) before use.
struct PayloadRef {
  std::uint64_t magic = 0;     // kPayloadRefMagic
  std::uint64_t bytes = 0;     // exact size of the segment and of the encoded value
  std::int64_t sender = 0;     // pid of the process that created the segment (in its name)
  std::uint64_t sequence = 0;  // the sender's sequence number (in its name)
};
static_assert(std::is_standard_layout_v<PayloadRef> && std::is_trivially_copyable_v<PayloadRef>);
static_assert(sizeof(PayloadRef) == 32);

// The names of one owner's payload segments.
class PayloadNames {
 public:
  PayloadNames() = default;  // no owner: nothing can be sent or received by reference
  // The names of owner (owner_pid, owner_serial); owner_pid > 0.
  PayloadNames(std::int64_t owner_pid, std::uint64_t owner_serial);
  // A new owner in this process: this pid and a serial no other owner of it has had.
  [[nodiscard]] static PayloadNames fresh();

  [[nodiscard]] bool empty() const noexcept { return prefix_.empty(); }
  [[nodiscard]] std::int64_t owner_pid() const noexcept { return owner_pid_; }
  [[nodiscard]] std::uint64_t owner_serial() const noexcept { return owner_serial_; }
  // "/ringpool-blob-<owner>-<serial>-": every payload segment of this owner starts so.
  [[nodiscard]] const std::string& prefix() const noexcept { return prefix_; }
  [[nodiscard]] std::string name_of(std::int64_t sender, std::uint64_t sequence) const;

  // Unlinks every segment of this owner still in /dev/shm (owned by this effective uid);
  // returns how many. For the owner's shutdown, when no transfer can be in flight.
  std::size_t remove_all() const noexcept;
  // Unlinks the segments created by `sender` (> 0; a dead worker's); returns how many.
  std::size_t remove_of(std::int64_t sender) const noexcept;
  // Payload segments of this owner in /dev/shm now (diagnostics and tests).
  [[nodiscard]] std::size_t count() const noexcept;

 private:
  std::int64_t owner_pid_ = 0;
  std::uint64_t owner_serial_ = 0;
  std::string prefix_;
};

// Sender side: one payload segment being written. Move-only. Unless handed over, the
// destructor unmaps and unlinks it (an encoder threw, the send was refused). An empty one
// (the small-message path) is one null pointer: free to make and destroy.
class OutgoingPayload {
 public:
  OutgoingPayload() noexcept = default;
  // Creates a new segment of exactly `bytes` (> 0) bytes under `names` (not empty), mode
  // 0600, and maps it with its pages populated. Throws PoolError saying why (shared memory
  // exhausted: /dev/shm full, or the process's limits).
  [[nodiscard]] static OutgoingPayload create(const PayloadNames& names, std::size_t bytes);

  OutgoingPayload(OutgoingPayload&& other) noexcept = default;
  OutgoingPayload& operator=(OutgoingPayload&& other) noexcept;
  OutgoingPayload(const OutgoingPayload&) = delete;
  OutgoingPayload& operator=(const OutgoingPayload&) = delete;
  ~OutgoingPayload();

  [[nodiscard]] explicit operator bool() const noexcept { return segment_ != nullptr; }
  // Where the encoded value goes (exactly ref().bytes bytes). Precondition: not empty.
  [[nodiscard]] std::span<std::byte> bytes() const noexcept { return segment_->bytes(); }
  [[nodiscard]] const PayloadRef& ref() const noexcept { return ref_; }
  // The reference is in the ring: unmaps and leaves the name to the receiver.
  void hand_over() noexcept;

 private:
  void discard() noexcept;

  std::unique_ptr<ipc::Segment> segment_;
  PayloadRef ref_{};
};

// Receiver side: a payload segment taken from its sender. Move-only; the destructor
// unmaps (the name is already gone).
class IncomingPayload {
 public:
  IncomingPayload() noexcept = default;
  // Reads the PayloadRef in `record` (bytes from shared memory: copied once, then checked)
  // and takes its segment: opens it under `names` (O_NOFOLLOW, owner and mode checked),
  // checks that its size is the announced one and at most `limit`, maps it and unlinks
  // its name. Throws DecodeError saying what is wrong (a malformed, forged or stale
  // reference, a missing segment); the name is unlinked whenever it was opened.
  [[nodiscard]] static IncomingPayload take(const PayloadNames& names,
                                            std::span<const std::byte> record, std::size_t limit);

  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return segment_.bytes(); }

 private:
  ipc::Segment segment_;
};

}  // namespace ringpool::pool::detail
