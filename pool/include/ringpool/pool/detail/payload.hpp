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
// owner's prefix. Pids are reused, so serials and sequences start at a random value in
// every process (also in a forked child): a process that gets a dead one's pid does not
// repeat its names.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <type_traits>
#include <utility>

#include "ringpool/ipc/segment.hpp"

namespace ringpool::pool::detail {

inline constexpr std::uint64_t kPayloadRefMagic = 0x3146455259415052ULL;  // "RPAYREF1"
// A one-off segment its sender keeps: the receiver reads it but does not unlink the name,
// which the sender removes itself (a Pool with retries: a task's arguments must survive a
// worker that dies while it runs the task, for the rerun).
inline constexpr std::uint64_t kPayloadKeptRefMagic = 0x3150454b59415052ULL;  // "RPAYKEP1"

// Sequence numbers are in [1, kPayloadSequenceLimit): a Queue's claim record holds one with
// its sender's pid in a single word (QueueCore::payload_mark), and 0 means none
// (OutgoingPayload::keep_name, a task's kept segment).
inline constexpr std::uint64_t kPayloadSequenceLimit = std::uint64_t{1} << 40;

// What travels through the ring in place of a large value. Plain data, read from shared
// memory as raw bytes and checked (IncomingPayload::take) before use.
struct PayloadRef {
  std::uint64_t magic = 0;     // kPayloadRefMagic
  std::uint64_t bytes = 0;     // exact size of the segment and of the encoded value
  std::int64_t sender = 0;     // pid of the process that created the segment (in its name)
  std::uint64_t sequence = 0;  // the sender's sequence number (in its name), see above
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
  // Unlinks the one segment (sender, sequence), if it is still there.
  void remove(std::int64_t sender, std::uint64_t sequence) const noexcept;
  // Registers the prefix with this process's resource tracker (ipc/detail/tracker.hpp):
  // if the process dies without removing them (SIGKILL), the tracker unlinks every segment
  // of this owner, whichever process created it. For the owner's own process; "" or why
  // not (the names still work; only that cleanup is missing).
  [[nodiscard]] std::string track() const noexcept;
  // Withdraws the registration (the owner removed its segments itself).
  void untrack() const noexcept;
  // Payload segments of this owner in /dev/shm now (diagnostics and tests).
  [[nodiscard]] std::size_t count() const noexcept;

 private:
  std::int64_t owner_pid_ = 0;
  std::uint64_t owner_serial_ = 0;
  std::string prefix_;
};

// A sender's reused payload segment (a lane), for values up to kLaneMax bytes. A page
// fault costs far more than copying the page's 4 KiB (about 40 us against 0.3 us on the
// virtual machine this was measured on), so a value written into fresh pages and read
// through a fresh mapping pays mostly for faults. A lane stays mapped in its sender and in
// its receivers: the next value of at most its capacity lands in pages already faulted in.
// Layout: LaneHeader, then the capacity. The lane's `busy` word holds two bits: the sender
// claims the lane by setting both (0 -> writing | reading), clears `writing` once the whole
// value is in place and the receiver clears `reading` once it has decoded the value; the
// lane is free when both are clear. A busy lane is never replaced or reused; the sender then
// uses a one-off segment. At most kLaneMax bytes per sender stay mapped while it lives;
// larger values always go through one-off segments, whose memory goes back as soon as they
// are read. A lane's value may be streamed (detail/stream_in.hpp, kStreamMin): the sender sends
// the reference before it has copied the value's large runs and advances `written` as it
// copies them, and the receiver decodes behind it.
inline constexpr std::uint64_t kPayloadLaneRefMagic = 0x31454e414c595052ULL;  // "RPYLANE1"
inline constexpr std::size_t kLaneMax = std::size_t{32} << 20;
inline constexpr std::uint64_t kLaneWriting = 1;  // LaneHeader::busy: the sender still writes
inline constexpr std::uint64_t kLaneReading = 2;  // LaneHeader::busy: the value is still to read

struct LaneHeader {
  std::atomic<std::uint64_t> busy;  // kLaneWriting | kLaneReading from the sender's claim
  // Bytes of the value (from its first) in place: the whole value unless it is streamed.
  std::atomic<std::uint64_t> written;
  std::uint64_t reserved[6];
};
static_assert(std::is_standard_layout_v<LaneHeader> && sizeof(LaneHeader) == 64);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

class OutgoingPayload;

// Sender side: this process's lane for one owner's names. Thread-safe. The destructor
// unmaps the lane; its name is the owner's to remove (PayloadNames::remove_all, or
// remove_of when the sender, a worker, is reaped): a worker that exits right after
// sending a value in its lane must not take it away before its pool has read it.
class PayloadLanes {
 public:
  explicit PayloadLanes(const PayloadNames* names) noexcept : names_(names) {}
  PayloadLanes(const PayloadLanes&) = delete;
  PayloadLanes& operator=(const PayloadLanes&) = delete;

  // A value of `bytes` (<= kLaneMax) in the lane: claims it (reused when large enough,
  // else replaced by a larger one) and fills `out`. False when the lane is busy (a value
  // in it is still to be read). Throws PoolError when no segment can be created.
  bool claim(std::size_t bytes, OutgoingPayload& out);
  // A reference to the lane whose value will never be read (its receiver died): frees it.
  void release(const PayloadRef& ref) noexcept;

 private:
  const PayloadNames* names_;
  std::mutex mu_;  // guards the fields below (the claim itself is the busy word's CAS)
  std::shared_ptr<ipc::Segment> lane_;
  std::uint64_t sequence_ = 0;
  std::int64_t creator_ = 0;  // the process that created lane_ (a forked copy leaves it)
};

// Sender side: one value's payload segment being written (a one-off segment, or the
// lane). Move-only. Unless handed over, the destructor takes it back (a one-off segment
// is unmapped and unlinked, the lane freed): the encoder threw, or the send was refused.
// An empty one (the small-message path) is null pointers: free to make and destroy.
class OutgoingPayload {
 public:
  OutgoingPayload() noexcept = default;
  // Where a value of `bytes` (> 0) bytes goes: `lanes`' lane when given, the value is at
  // most kLaneMax and the lane is free; else a new segment of exactly `bytes` bytes under
  // `names` (not empty), mode 0600, its pages populated. Throws PoolError saying why
  // (shared memory exhausted: /dev/shm full, or the process's limits).
  [[nodiscard]] static OutgoingPayload create(const PayloadNames& names, std::size_t bytes,
                                              PayloadLanes* lanes = nullptr);

  OutgoingPayload(OutgoingPayload&& other) noexcept = default;
  OutgoingPayload& operator=(OutgoingPayload&& other) noexcept;
  OutgoingPayload(const OutgoingPayload&) = delete;
  OutgoingPayload& operator=(const OutgoingPayload&) = delete;
  ~OutgoingPayload();

  [[nodiscard]] explicit operator bool() const noexcept { return segment_ != nullptr; }
  // Where the encoded value goes (exactly ref().bytes bytes). Precondition: not empty.
  [[nodiscard]] std::span<std::byte> bytes() const noexcept {
    return segment_->bytes().subspan(offset_, static_cast<std::size_t>(ref_.bytes));
  }
  [[nodiscard]] const PayloadRef& ref() const noexcept { return ref_; }
  // The value is in its sender's lane: it can be streamed (stream_from, publish).
  [[nodiscard]] bool in_lane() const noexcept { return busy_ != nullptr; }
  // Before the reference is sent: only the first `bytes` of the value are in place; the
  // rest follows, announced by publish(). Precondition: in_lane().
  void stream_from(std::size_t bytes) noexcept;
  // After it is sent: the first `bytes` of the value are in place. Precondition: in_lane().
  void publish(std::size_t bytes) noexcept;
  // A one-off segment stays named after its receiver has read it (kPayloadKeptRefMagic):
  // the sender removes it (PayloadNames::remove) once nobody can read it again. Returns
  // its sequence number, or 0 for a lane (never consumed by reading anyway).
  std::uint64_t keep_name() noexcept;
  // The reference is in the ring and the whole value written: the value is the receiver's
  // now (a one-off segment is unmapped here, its name left to the receiver; a lane's
  // writing bit is cleared).
  void hand_over() noexcept;

 private:
  friend class PayloadLanes;
  void discard() noexcept;

  std::shared_ptr<ipc::Segment> segment_;
  std::size_t offset_ = 0;                         // of the value in the segment
  std::atomic<std::uint64_t>* busy_ = nullptr;     // the lane's busy word; null: one-off
  std::atomic<std::uint64_t>* written_ = nullptr;  // the lane's written word; null: one-off
  PayloadRef ref_{};
};

// Receiver side: the lane of one sender, mapped for as long as its references keep
// naming it. Not thread-safe: one per receiving thread and sender (a worker's from its
// pool, the pool's from each worker).
class LaneView {
 public:
  // Unmaps (a worker that died: its lane goes with it).
  void reset() noexcept {
    name_.clear();
    segment_.reset();
  }

 private:
  friend class IncomingPayload;
  std::string name_;
  std::shared_ptr<ipc::Segment> segment_;
};

// When a receiver unlinks a one-off segment's name (IncomingPayload::take): as soon as it has
// opened it (a Pool's tasks and results), or only when it releases the value (a Queue's
// items: the get keeps it until its ring slot is released, so that a get that dies while it
// decodes leaves the name to the get that recovers its slot).
enum class UnlinkName : std::uint8_t { on_take, on_release };

// Receiver side: a value taken from its sender. Move-only. The destructor unmaps a one-off
// segment (and unlinks its name if take() left it: UnlinkName::on_release) or frees the lane
// for its sender's next value.
class IncomingPayload {
 public:
  IncomingPayload() noexcept = default;
  // Reads the PayloadRef in `record` (bytes from shared memory: copied once, then checked)
  // and takes its value. A one-off segment is opened under `names` (O_NOFOLLOW, owner and
  // mode checked), must be exactly the announced size and at most `limit`, and its name is
  // unlinked (unless the reference says its sender keeps it). A lane (only with `view`) is mapped
  // once and kept in `view`; the value must lie inside it and be at most `limit`. Throws
  // DecodeError saying what is wrong (a malformed, forged or stale reference, a missing segment); a
  // one-off segment's name is unlinked whenever it was opened (at once, or on release as
  // `unlink` says).
  [[nodiscard]] static IncomingPayload take(const PayloadNames& names,
                                            std::span<const std::byte> record, std::size_t limit,
                                            LaneView* view = nullptr,
                                            UnlinkName unlink = UnlinkName::on_take);

  IncomingPayload(IncomingPayload&& other) noexcept
      : segment_(std::move(other.segment_)),
        bytes_(other.bytes_),
        busy_(std::exchange(other.busy_, nullptr)),
        written_(std::exchange(other.written_, nullptr)),
        unlink_(std::exchange(other.unlink_, std::string())) {}
  IncomingPayload& operator=(IncomingPayload&& other) noexcept;
  IncomingPayload(const IncomingPayload&) = delete;
  IncomingPayload& operator=(const IncomingPayload&) = delete;
  ~IncomingPayload() { release(); }

  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return bytes_; }
  // A lane's word saying how many bytes of the value are in place (it may be streamed:
  // decode it with an InboundStream installed, stream_in.hpp); null for a one-off segment.
  [[nodiscard]] const std::atomic<std::uint64_t>* written() const noexcept { return written_; }

 private:
  void release() noexcept;

  std::shared_ptr<ipc::Segment> segment_;
  std::span<const std::byte> bytes_;
  std::atomic<std::uint64_t>* busy_ = nullptr;     // the lane's busy word; null: one-off
  std::atomic<std::uint64_t>* written_ = nullptr;  // the lane's written word; null: one-off
  std::string unlink_;  // a one-off segment's name to unlink on release; empty: none
};

}  // namespace ringpool::pool::detail
