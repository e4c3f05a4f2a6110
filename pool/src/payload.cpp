// Large payloads through one-off shared-memory segments (see detail/payload.hpp).
#include "ringpool/pool/detail/payload.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "ringpool/ipc/errors.hpp"
#include "ringpool/pool/errors.hpp"

namespace ringpool::pool::detail {

namespace {

constexpr std::string_view kPrefix = "/ringpool-blob-";
constexpr std::int64_t kPidMaxLimit = std::int64_t{1} << 22;  // Linux PID_MAX_LIMIT
constexpr char kShmDir[] = "/dev/shm";

// Sequence numbers of this process's segments; a forked child starts from its parent's
// value, and its pid (also in the name) tells the two apart.
std::atomic<std::uint64_t> g_sequence{0};
// Serials of the owners (pools, queues) created in this process.
std::atomic<std::uint64_t> g_serial{0};

// Unlinks the entries of /dev/shm whose names start with `prefix` (with its '/') and that
// are regular files of this effective uid; returns how many (or, counting only, would be).
std::size_t sweep(const std::string& prefix, bool remove) noexcept {
  if (prefix.size() < 2) return 0;
  const std::string_view stem = std::string_view(prefix).substr(1);  // without the '/'
  DIR* dir = ::opendir(kShmDir);
  if (dir == nullptr) return 0;
  std::size_t n = 0;
  const uid_t self = ::geteuid();
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
    const std::string full = "/" + std::string(name);
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

// ---- PayloadNames -------------------------------------------------------------------------

PayloadNames::PayloadNames(std::int64_t owner_pid, std::uint64_t owner_serial)
    : owner_pid_(owner_pid),
      owner_serial_(owner_serial),
      prefix_(std::string(kPrefix) + std::to_string(owner_pid) + "-" +
              std::to_string(owner_serial) + "-") {}

PayloadNames PayloadNames::fresh() {
  // relaxed: a counter; only uniqueness matters.
  return PayloadNames(static_cast<std::int64_t>(::getpid()),
                      g_serial.fetch_add(1, std::memory_order_relaxed) + 1);
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

std::size_t PayloadNames::count() const noexcept {
  return sweep(prefix_, false);
}

// ---- OutgoingPayload ----------------------------------------------------------------------

OutgoingPayload OutgoingPayload::create(const PayloadNames& names, std::size_t bytes) {
  OutgoingPayload out;
  out.ref_.magic = kPayloadRefMagic;
  out.ref_.bytes = bytes;
  out.ref_.sender = static_cast<std::int64_t>(::getpid());
  // relaxed: a counter; only uniqueness within this pid matters.
  out.ref_.sequence = g_sequence.fetch_add(1, std::memory_order_relaxed) + 1;
  ipc::SegmentOptions options;
  options.mode = 0600;
  // The encoder writes every byte: populating the pages in one call is much cheaper than
  // one page fault per 4 KiB.
  options.prefault = true;
  try {
    out.segment_ = std::make_unique<ipc::Segment>(
        ipc::Segment::create(names.name_of(out.ref_.sender, out.ref_.sequence), bytes, options));
  } catch (const ipc::IpcError& e) {
    throw PoolError("ringpool: cannot create a shared-memory segment of " + std::to_string(bytes) +
                    " bytes for a large payload: " + e.what());
  }
  return out;
}

OutgoingPayload& OutgoingPayload::operator=(OutgoingPayload&& other) noexcept {
  if (this != &other) {
    discard();
    segment_ = std::move(other.segment_);
    ref_ = other.ref_;
  }
  return *this;
}

OutgoingPayload::~OutgoingPayload() {
  discard();
}

void OutgoingPayload::discard() noexcept {
  if (segment_ == nullptr) return;
  // Never sent: nobody else knows the name.
  ::shm_unlink(segment_->name().c_str());
  segment_.reset();
}

void OutgoingPayload::hand_over() noexcept {
  segment_.reset();  // unmaps; the name stays for the receiver
}

// ---- IncomingPayload ----------------------------------------------------------------------

IncomingPayload IncomingPayload::take(const PayloadNames& names, std::span<const std::byte> record,
                                      std::size_t limit) {
  if (names.empty()) refuse("this end has no payload names");
  if (record.size() != sizeof(PayloadRef)) {
    refuse("the record is " + std::to_string(record.size()) + " bytes, not " +
           std::to_string(sizeof(PayloadRef)));
  }
  PayloadRef ref;
  std::memcpy(&ref, record.data(), sizeof ref);  // read once, then checked
  if (ref.magic != kPayloadRefMagic) refuse("its magic is wrong");
  if (ref.sender <= 0 || ref.sender > kPidMaxLimit) {
    refuse("its sender pid " + std::to_string(ref.sender) + " is out of range");
  }
  if (ref.bytes == 0 || ref.bytes > limit) {
    refuse("it announces " + std::to_string(ref.bytes) + " bytes, outside 1 .. " +
           std::to_string(limit) + " (max_payload)");
  }
  const std::string name = names.name_of(ref.sender, ref.sequence);
  IncomingPayload in;
  try {
    in.segment_ = ipc::Segment::open(name);  // O_NOFOLLOW, regular file, owner, mode 0600
  } catch (const ipc::IpcError& e) {
    if (e.code() != ipc::IpcErrc::not_found) ::shm_unlink(name.c_str());
    refuse(std::string("its segment cannot be opened: ") + e.what());
  }
  // The value has been taken: nobody else may open the name, and its memory goes back
  // once this mapping is gone.
  ::shm_unlink(name.c_str());
  if (in.segment_.size() != ref.bytes) {
    refuse("its segment is " + std::to_string(in.segment_.size()) + " bytes, not the " +
           std::to_string(ref.bytes) + " announced");
  }
  return in;
}

}  // namespace ringpool::pool::detail
