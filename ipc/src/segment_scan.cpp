// Listing and removing stale ringpool segments (see ringpool/ipc/segment_scan.hpp).
#include "ringpool/ipc/segment_scan.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "ringpool/ipc/detail/ring_header.hpp"
#include "ringpool/ipc/errors.hpp"
#include "ringpool/ipc/segment.hpp"

namespace ringpool::ipc {

namespace {

// Ring headers are looked for at 128-byte boundaries in the first 4 KiB.
constexpr std::size_t kScanWindow = 4096;
constexpr std::size_t kReadBytes = kScanWindow + sizeof(detail::RingControl);
constexpr std::int64_t kPidMaxLimit = std::int64_t{1} << 22;  // Linux PID_MAX_LIMIT

struct Probe {
  std::uint64_t offset = 0;
  std::uint32_t kind = 0;
  std::uint64_t capacity = 0;
  std::int64_t creator_pid = 0;
  std::string outer_magic;
};

// A field of the header copy at `header` (a plain byte copy read with pread).
template <class T>
T field(const std::byte* header, std::size_t offset) noexcept {
  T value{};
  std::memcpy(&value, header + offset, sizeof(T));
  return value;
}

// The first valid ring header in data[0, got), for a file of `file_size` bytes.
std::optional<Probe> probe(const std::byte* data, std::size_t got, std::uint64_t file_size) {
  using detail::RingHeader;
  for (std::size_t off = 0; off < kScanWindow && off + sizeof(detail::RingControl) <= got;
       off += detail::kLineSpacing) {
    const std::byte* h = data + off;
    if (field<std::uint64_t>(h, offsetof(RingHeader, magic)) != detail::kRingMagic) continue;
    if (field<std::uint32_t>(h, offsetof(RingHeader, abi_version)) != detail::kAbiVersion) continue;
    const auto kind = field<std::uint32_t>(h, offsetof(RingHeader, kind));
    if (kind < static_cast<std::uint32_t>(detail::RingKind::spsc) ||
        kind > static_cast<std::uint32_t>(detail::RingKind::boost_queue)) {
      continue;
    }
    const auto capacity = field<std::uint64_t>(h, offsetof(RingHeader, capacity));
    if (capacity == 0 || capacity > detail::kMaxCapacity) continue;
    const auto elem_size = field<std::uint64_t>(h, offsetof(RingHeader, elem_size));
    const auto elem_align = field<std::uint64_t>(h, offsetof(RingHeader, elem_align));
    const auto stride = field<std::uint64_t>(h, offsetof(RingHeader, slot_stride));
    if (field<std::uint64_t>(h, offsetof(RingHeader, fingerprint)) !=
        detail::layout_fingerprint(static_cast<detail::RingKind>(kind), elem_size, elem_align,
                                   stride)) {
      continue;
    }
    const auto total = field<std::uint64_t>(h, offsetof(RingHeader, total_bytes));
    if (total < sizeof(detail::RingControl) || total > file_size - off) continue;
    Probe p;
    p.offset = off;
    p.kind = kind;
    p.capacity = capacity;
    const auto pid = field<std::int64_t>(h, offsetof(RingHeader, creator_pid));
    p.creator_pid = pid > 0 && pid <= kPidMaxLimit ? pid : 0;
    if (off >= 8) {
      const auto printable = [](std::byte b) {
        return static_cast<unsigned char>(b) > 0x20 && static_cast<unsigned char>(b) < 0x7f;
      };
      if (std::all_of(data, data + 8, printable)) {
        p.outer_magic.assign(reinterpret_cast<const char*>(data), 8);
      }
    }
    return p;
  }
  return std::nullopt;
}

// Reads the start of an open regular file and probes it.
std::optional<Probe> probe_fd(int fd, std::uint64_t file_size) {
  std::array<std::byte, kReadBytes> buffer{};
  const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(file_size, kReadBytes));
  std::size_t got = 0;
  while (got < want) {
    const ssize_t n = ::pread(fd, buffer.data() + got, want - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  return probe(buffer.data(), got, file_size);
}

CreatorState creator_state(std::int64_t pid) {
  if (pid <= 0 || pid > kPidMaxLimit) return CreatorState::unknown;
  struct stat self {};
  if (::stat("/proc/self", &self) != 0) return CreatorState::unknown;
  const std::string path = "/proc/" + std::to_string(pid) + "/stat";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? CreatorState::dead : CreatorState::unknown;
  char text[512];
  ssize_t n = 0;
  do {
    n = ::read(fd, text, sizeof(text) - 1);
  } while (n < 0 && errno == EINTR);
  ::close(fd);
  if (n <= 0) return CreatorState::dead;  // the process went away while we looked
  text[n] = '\0';
  // "pid (comm) S ...": the state follows the last ')'; comm may itself hold ')'.
  const char* paren = std::strrchr(text, ')');
  if (paren == nullptr || paren[1] != ' ' || paren[2] == '\0') return CreatorState::unknown;
  return paren[2] == 'Z' || paren[2] == 'X' ? CreatorState::dead : CreatorState::alive;
}

// A large-payload segment of ringpool::pool has no ring header; it is known by its name,
// "/ringpool-blob-<owner pid>-<owner serial>-<sender pid>-<sequence>" (all decimal), and
// belongs to its owner (a Pool or a Queue), which removes it. Returns the owner pid, or 0
// when `name` is not such a name.
std::int64_t payload_owner(std::string_view name) {
  constexpr std::string_view kPayloadPrefix = "/ringpool-blob-";
  if (name.substr(0, kPayloadPrefix.size()) != kPayloadPrefix) return 0;
  name.remove_prefix(kPayloadPrefix.size());
  std::uint64_t owner = 0;
  for (int field = 0; field < 4; ++field) {
    std::size_t digits = 0;
    std::uint64_t value = 0;  // at most 19 digits: below 10^19, within 64 unsigned bits
    while (digits < name.size() && digits < 19 && name[digits] >= '0' && name[digits] <= '9') {
      value = value * 10 + static_cast<std::uint64_t>(name[digits] - '0');
      ++digits;
    }
    if (digits == 0) return 0;
    if (field == 0) owner = value;
    name.remove_prefix(digits);
    if (field < 3) {
      if (name.empty() || name.front() != '-') return 0;
      name.remove_prefix(1);
    }
  }
  return name.empty() && owner > 0 && owner <= static_cast<std::uint64_t>(kPidMaxLimit)
             ? static_cast<std::int64_t>(owner)
             : 0;
}

// A payload segment as a Probe: no ring, the owner as the creator.
std::optional<Probe> payload_probe(std::string_view name) {
  const std::int64_t owner = payload_owner(name);
  if (owner == 0) return std::nullopt;
  Probe p;
  p.creator_pid = owner;
  return p;
}

std::string normalized_prefix(std::string_view prefix) {
  if (prefix.empty() || prefix.front() == '/') return std::string(prefix);
  std::string out;
  out.reserve(prefix.size() + 1);
  out += '/';
  out += prefix;
  return out;
}

struct DirCloser {
  void operator()(DIR* d) const noexcept { ::closedir(d); }
};

// Opens an entry of a directory that anyone may write: no links, no FIFO blocking, no tty.
int open_untrusted(int dir_fd, const char* name) {
  return ::openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
}

}  // namespace

std::string_view to_string(CreatorState state) noexcept {
  switch (state) {
    case CreatorState::alive:
      return "alive";
    case CreatorState::dead:
      return "dead";
    case CreatorState::unknown:
      return "unknown";
  }
  return "unknown";
}

std::string_view to_string(RemoveOutcome outcome) noexcept {
  switch (outcome) {
    case RemoveOutcome::removed:
      return "removed";
    case RemoveOutcome::not_owner:
      return "not_owner";
    case RemoveOutcome::not_stale:
      return "not_stale";
    case RemoveOutcome::changed:
      return "changed";
    case RemoveOutcome::gone:
      return "gone";
  }
  return "unknown";
}

std::vector<SegmentEntry> scan_segments(std::string_view prefix, const std::string& dir) {
  const std::string wanted = normalized_prefix(prefix);
  std::unique_ptr<DIR, DirCloser> d(::opendir(dir.c_str()));
  if (!d) {
    const int err = errno;
    throw IpcError(IpcErrc::system_error,
                   "cannot list " + dir + ": " + std::strerror(err) +
                       "; is POSIX shared memory mounted there?",
                   {}, err);
  }
  std::vector<SegmentEntry> entries;
  const int dir_fd = ::dirfd(d.get());
  while (const dirent* e = ::readdir(d.get())) {
    const std::string name = std::string("/") + e->d_name;
    if (name == "/." || name == "/..") continue;
    if (name.size() > Segment::kMaxNameLength || name.compare(0, wanted.size(), wanted) != 0) {
      continue;
    }
    const int fd = open_untrusted(dir_fd, e->d_name);
    if (fd < 0) continue;  // unreadable (another user's), or a symlink: not ours to judge
    struct stat st {};
    std::optional<Probe> found;
    const bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    if (regular && st.st_size > 0) found = probe_fd(fd, static_cast<std::uint64_t>(st.st_size));
    if (regular && !found) found = payload_probe(name);
    ::close(fd);
    if (!found) continue;
    SegmentEntry entry;
    entry.name = name;
    entry.bytes = static_cast<std::uint64_t>(st.st_size);
    entry.owner_uid = st.st_uid;
    entry.mode = st.st_mode & 07777;
    entry.inode = static_cast<std::uint64_t>(st.st_ino);
    entry.device = static_cast<std::uint64_t>(st.st_dev);
    entry.ring_kind = found->kind == 0 ? "payload" : detail::kind_name(found->kind);
    entry.ring_offset = found->offset;
    entry.outer_magic = found->outer_magic;
    entry.capacity = found->capacity;
    entry.creator_pid = found->creator_pid;
    entry.creator = creator_state(found->creator_pid);
    entries.push_back(std::move(entry));
  }
  std::sort(entries.begin(), entries.end(),
            [](const SegmentEntry& a, const SegmentEntry& b) { return a.name < b.name; });
  return entries;
}

RemoveOutcome remove_if_stale(const SegmentEntry& entry, const std::string& dir) {
  if (entry.owner_uid != ::geteuid()) return RemoveOutcome::not_owner;
  if (entry.name.size() < 2 || entry.name.front() != '/' ||
      entry.name.find('/', 1) != std::string::npos) {
    return RemoveOutcome::changed;
  }
  const std::string path = dir + entry.name;
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? RemoveOutcome::gone : RemoveOutcome::changed;
  struct stat st {};
  std::optional<Probe> found;
  const bool same = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
                    static_cast<std::uint64_t>(st.st_ino) == entry.inode &&
                    static_cast<std::uint64_t>(st.st_dev) == entry.device;
  if (same && st.st_size > 0) found = probe_fd(fd, static_cast<std::uint64_t>(st.st_size));
  if (same && !found) found = payload_probe(entry.name);
  ::close(fd);
  if (!same || !found) return RemoveOutcome::changed;
  if (st.st_uid != ::geteuid()) return RemoveOutcome::not_owner;
  if (creator_state(found->creator_pid) != CreatorState::dead) return RemoveOutcome::not_stale;
  // Between the checks above and this unlink only the owner (us) can replace the name in
  // a sticky directory such as /dev/shm.
  if (::unlink(path.c_str()) == 0) return RemoveOutcome::removed;
  const int err = errno;
  if (err == ENOENT) return RemoveOutcome::gone;
  throw IpcError(err == EACCES || err == EPERM ? IpcErrc::permission_denied : IpcErrc::system_error,
                 std::string("unlink failed: ") + std::strerror(err), entry.name, err);
}

}  // namespace ringpool::ipc
